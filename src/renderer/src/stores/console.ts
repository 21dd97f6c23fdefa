import { defineStore } from 'pinia'
import { computed, reactive, ref, shallowRef, watch } from 'vue'
import type { ConnectionState } from '@shared/contract'
import type { DataFrame, NotifyFrame } from '@shared/protocol'
import { readSignal } from '@shared/protocol'
import type { MessageKey } from '../i18n'
import { useBridge } from '../services/bridge'
import { type CallState, PeerSession } from '../rtc/peer-session'
import { MicrophoneError } from '../rtc/microphone'
import type { CallFeed } from '../rtc/audio-bus'
import { consoleAudio } from '../rtc/console-audio'
import { type ChannelConnection, channelConnection } from './channel-connection'
import { errorMessage, randomId } from './channel-events'
import type { StoreError } from './device'
import { useSettingsStore } from './settings'

/** The console's own connection (its own uuid), shared by every call that needs no other. */
export const CONSOLE_CONNECTION = 'console'
const SPEAKER_CONNECTION_PREFIX = 'console:'

/** The connection that authenticates as a speaker's ContainerId (KT's flow: one per speaker). */
export function speakerConnectionId(containerId: string): string {
  return SPEAKER_CONNECTION_PREFIX + containerId
}

/**
 * A copy of a record with one entry set, or removed when the value is null; the record itself when
 * that changes nothing (a new object would re-render every view of it, e.g. at each call's start).
 */
function withEntry<T>(record: Record<string, T>, key: string, value: T | null): Record<string, T> {
  if (value ? record[key] === value : !(key in record)) return record
  const next = { ...record }
  if (value) next[key] = value
  else delete next[key]
  return next
}

/** What the operator is told when the microphone could not be opened, by its kind of failure. */
export function microphoneError(e: unknown): StoreError {
  const kind = e instanceof MicrophoneError ? e.kind : 'unknown'
  return { key: `mic.${kind}` as MessageKey, detail: errorMessage(e) }
}

/** One speaker the console has joined. `joined` means: in the session, waiting for its offer. */
export interface SpeakerCall {
  sessionid: string
  /** The channel connection the call is on (the console's own, or one as the speaker's ContainerId). */
  connectionId: string
  state: CallState | 'joined'
  ice: RTCIceConnectionState
  error: StoreError | null
  /** This speaker is among those the operator talks to (when no zone is held, see the talk store). */
  talk: boolean
  /** Playback volume of this speaker's audio (two-way), 0..1. */
  volume: number
}

/**
 * The console's calls: its channel connections, the sessions it joined, and each call's
 * PeerSession, answered with its own feed of the audio bus (see CallFeed). Who hears the operator is
 * the talk store's job; the directory and zones are theirs.
 */
export const useConsoleStore = defineStore('console', () => {
  const bridge = useBridge()
  const settings = useSettingsStore()

  const uuid = ref('')
  const calls = reactive<Record<string, SpeakerCall>>({})
  /** Each speaker's audio (two-way intercom), by session. */
  const remoteStreams = shallowRef<Record<string, MediaStream>>({})
  /** Each call's session, by session id: quality figures and routing read it. */
  const sessions = shallowRef<Record<string, PeerSession>>({})
  const error = ref<StoreError | null>(null)
  const busy = ref(false)
  /** Whether the channel server is the app's embedded one (then one connection carries every call). */
  const embedded = ref(true)

  const peers = new Map<string, PeerSession>()
  /** The calls' feeds of the bus by session: released when the call ends. */
  const callFeeds = new Map<string, CallFeed>()
  const channels = new Map<string, ChannelConnection>()
  /** Connection states, by connection id (reactive: rows and the directory show them). */
  const connectionStates = reactive<Record<string, ConnectionState>>({})

  const shared = openChannel(CONSOLE_CONNECTION)
  const connection = computed(() => shared.state.value)
  const connectionDetail = computed(() => shared.detail.value)
  const ready = computed(() => connection.value === 'ready')
  const callList = computed(() => Object.values(calls))
  const liveCount = computed(() => callList.value.filter((c) => c.state === 'live').length)

  function openChannel(id: string): ChannelConnection {
    let ch = channels.get(id)
    if (ch) return ch
    ch = channelConnection(id, {
      state: (state) => {
        connectionStates[id] = state
        if (state === 'closed')
          for (const c of callsOn(id)) endCall(c.sessionid, { sendBye: false, forget: true })
      },
      notify: onNotify,
      data: (f) => onData(id, f)
    })
    channels.set(id, ch)
    return ch
  }

  function callsOn(connectionId: string): SpeakerCall[] {
    return Object.values(calls).filter((c) => c.connectionId === connectionId)
  }

  bridge.on('channel:session', (e) => {
    if (e.kind === 'lost' && calls[e.sessionid]?.connectionId === e.connectionId)
      endCall(e.sessionid, { sendBye: false, forget: true })
  })

  function onNotify(f: NotifyFrame): void {
    if (f.operation === 'destroy_session' && f.sessionid && calls[f.sessionid]) {
      endCall(f.sessionid, { sendBye: false, forget: true })
    }
  }

  function onData(connectionId: string, f: DataFrame): void {
    const mine = callsOn(connectionId)
    const id = f.sessionid ?? (mine.length === 1 ? mine[0]!.sessionid : undefined)
    if (!id || calls[id]?.connectionId !== connectionId) return
    const signal = readSignal(f.data)
    const peer = peers.get(id)
    // An offer during a call is the speaker restarting ICE: the same call renegotiates.
    // An offer makes the call's session at once (answer), so candidates that follow it while the
    // microphone opens wait in that session until the offer is applied.
    if (signal?.type === 'offer' && !(peer && peer.state !== 'ended' && peer.state !== 'failed'))
      void answer(id, f.data)
    else if (peer) void peer.handle(f.data)
  }

  async function run<T>(key: MessageKey, fn: () => Promise<T>): Promise<T> {
    busy.value = true
    try {
      const v = await fn()
      error.value = null
      return v
    } catch (e) {
      error.value = { key, detail: errorMessage(e) }
      throw e
    } finally {
      busy.value = false
    }
  }

  function serverUrl(): string | undefined {
    return settings.settings.serverUrl || undefined
  }

  /** Whether the configured server is the embedded one (where one connection may carry all calls). */
  async function checkEmbedded(): Promise<boolean> {
    const info = await bridge.invoke('app:info').catch(() => null)
    const url = settings.settings.serverUrl
    embedded.value = !!info?.channelUrl && (!url || url === info.channelUrl)
    return embedded.value
  }

  async function connect(options: { url?: string; uuid?: string } = {}): Promise<void> {
    if (!settings.loaded) await settings.load()
    const wanted = options.uuid || uuid.value || settings.settings.consoleUuid || randomId('WEB')
    if (connection.value === 'ready' && wanted === uuid.value && !options.url) return
    uuid.value = wanted
    if (settings.settings.consoleUuid !== wanted) void settings.update({ consoleUuid: wanted })
    await checkEmbedded()
    await run('error.connect', () => shared.connect(wanted, options.url || serverUrl()))
  }

  /**
   * The connection a speaker is called on: given its ContainerId, one that authenticates as it
   * (KT's flow, and what a server that accepts only the speaker's own ContainerId needs); on the
   * embedded server, or without a ContainerId, the console's own.
   */
  async function connectionFor(containerId: string): Promise<ChannelConnection> {
    if (!containerId || embedded.value) {
      if (shared.state.value !== 'ready') await connect()
      return shared
    }
    const ch = openChannel(speakerConnectionId(containerId))
    if (ch.state.value !== 'ready') await ch.connect(containerId, serverUrl())
    return ch
  }

  /**
   * Joins a speaker's session: by its session id, or by its ContainerId (its session id then
   * being the ContainerId unless given, as `createChannel` with `usecontainerid` makes it).
   */
  async function join(
    sessionid: string,
    options: { containerId?: string; quiet?: boolean } = {}
  ): Promise<void> {
    const containerId = options.containerId?.trim() ?? ''
    const id = sessionid.trim() || containerId
    if (!id) {
      error.value = { key: 'error.sessionRequired' }
      return
    }
    if (calls[id]) return
    // Quiet: the directory's own attempts; a speaker not on line is no error to show.
    const attempt = options.quiet
      ? (fn: () => Promise<void>) => fn()
      : (fn: () => Promise<void>) => run('error.join', fn)
    await attempt(async () => {
      const ch = await connectionFor(containerId)
      try {
        await bridge.invoke('channel:join', { connectionId: ch.id, sessionid: id })
      } catch (e) {
        // A speaker's own connection that carries no call is closed again: a window holds a
        // bounded number of connections, and the speaker may stay away for long.
        if (ch !== shared && callsOn(ch.id).length === 0) void ch.disconnect().catch(() => undefined)
        throw e
      }
      calls[id] ??= {
        sessionid: id,
        connectionId: ch.id,
        state: 'joined',
        ice: 'new',
        error: null,
        talk: true,
        volume: 1
      }
    })
  }

  async function answer(sessionid: string, offer: unknown): Promise<void> {
    const call = calls[sessionid]
    if (!call) return
    endCall(sessionid, { sendBye: false })
    call.state = 'answering'
    call.error = null
    // The connection is made and the offer applied while the microphone opens: opening it runs
    // outside the page, making the connection takes the page's main thread.
    const audio = consoleAudio()
    const microphone = audio.microphone.acquire()
    const feed = audio.bus.callFeed()
    callFeeds.set(sessionid, feed)
    const ch = channels.get(call.connectionId)
    const session = new PeerSession({
      role: 'web',
      // The feed's track when the microphone is open (the feed may have moved to it by then).
      localStream: microphone.then(() => new MediaStream([feed.track])),
      signal: (data) => void ch?.send(sessionid, data)
    })
    feed.onTrack = (track) => session.replaceLocalTrack(track)
    peers.set(sessionid, session)
    setSession(sessionid, session)
    session.on('state', (s) => {
      const c = calls[sessionid]
      const current = peers.get(sessionid) === session
      if (c && current) c.state = s === 'ended' ? 'joined' : s
      if (s === 'ended' && current) {
        // The closed connection reports no more ICE states: the row must not keep the last one.
        if (c) c.ice = 'new'
        peers.delete(sessionid)
        releaseTrack(sessionid)
        setRemote(sessionid, null)
        setSession(sessionid, null)
      }
      releaseMicrophoneIfIdle()
    })
    session.on('ice', (s) => {
      const c = calls[sessionid]
      if (c) c.ice = s
    })
    session.on('remoteStream', (s) => setRemote(sessionid, s))
    // Silent until the talk store routes the operator to it (it watches the sessions).
    session.setSending(false)
    const answered = session.handle(offer)
    try {
      await microphone
    } catch (e) {
      endCall(sessionid, { sendBye: false })
      call.error = microphoneError(e)
      call.state = 'failed'
      // No answer without audio: tell the speaker instead of leaving it waiting.
      void ch?.send(sessionid, { type: 'bye', reason: 'microphone unavailable' })
      return
    }
    await answered
  }

  function setRemote(sessionid: string, stream: MediaStream | null): void {
    remoteStreams.value = withEntry(remoteStreams.value, sessionid, stream)
  }

  function setSession(sessionid: string, session: PeerSession | null): void {
    sessions.value = withEntry(sessions.value, sessionid, session)
  }

  function releaseTrack(sessionid: string): void {
    const feed = callFeeds.get(sessionid)
    callFeeds.delete(sessionid)
    if (feed) consoleAudio().bus.releaseCallFeed(feed)
  }

  function endCall(sessionid: string, options: { sendBye?: boolean; forget?: boolean } = {}): void {
    const p = peers.get(sessionid)
    peers.delete(sessionid)
    p?.close({ sendBye: options.sendBye ?? true })
    releaseTrack(sessionid)
    setRemote(sessionid, null)
    setSession(sessionid, null)
    const c = calls[sessionid]
    if (c) {
      c.ice = 'new'
      if (c.state !== 'failed') c.state = 'joined'
    }
    if (options.forget) delete calls[sessionid]
    releaseMicrophoneIfIdle()
  }

  /** Hang up: ends the call but stays in the session (the speaker may call again). */
  function hangUp(sessionid: string): void {
    endCall(sessionid, { sendBye: true })
  }

  async function destroy(sessionid: string): Promise<void> {
    const connectionId = calls[sessionid]?.connectionId ?? CONSOLE_CONNECTION
    endCall(sessionid, { sendBye: true, forget: true })
    await run('error.destroy', () => bridge.invoke('channel:destroy', { connectionId, sessionid }))
  }

  async function disconnect(): Promise<void> {
    for (const id of Object.keys(calls)) endCall(id, { sendBye: true, forget: true })
    await Promise.all([...channels.values()].map((ch) => ch.disconnect().catch(() => undefined)))
  }

  function setVolume(sessionid: string, volume: number): void {
    const c = calls[sessionid]
    if (c) c.volume = Math.max(0, Math.min(1, volume))
  }

  function releaseMicrophoneIfIdle(): void {
    if (peers.size === 0) consoleAudio().microphone.release()
  }

  // A different microphone, or other processing for it, applies mid-call: the bus moves the
  // calls that carry the microphone to the new one (see AudioBus.setMicrophone).
  watch(
    () => JSON.stringify(settings.microphoneOptions()),
    () => {
      if (peers.size > 0)
        void consoleAudio()
          .microphone.switch()
          .catch((e: unknown) => (error.value = microphoneError(e)))
    }
  )

  return {
    uuid,
    connection,
    connectionDetail,
    connectionStates,
    embedded,
    calls,
    callList,
    liveCount,
    remoteStreams,
    sessions,
    error,
    busy,
    ready,
    connect,
    join,
    hangUp,
    destroy,
    disconnect,
    setVolume,
    peerCount: () => peers.size
  }
})
