import { defineStore } from 'pinia'
import { computed, reactive, ref, shallowRef, watch } from 'vue'
import type { ConnectionState } from '@shared/contract'
import type { DataFrame, NotifyFrame } from '@shared/protocol'
import { readSignal } from '@shared/protocol'
import type { MessageKey } from '../i18n'
import { useBridge } from '../services/bridge'
import { type CallState, PeerSession } from '../rtc/peer-session'
import { MicrophoneError, openMicrophone, stopStream } from '../rtc/microphone'
import { errorMessage, randomId, subscribeFrames } from './channel-events'
import type { StoreError } from './device'
import { useSettingsStore } from './settings'

export const CONSOLE_CONNECTION = 'console'

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
function microphoneError(e: unknown): StoreError {
  const kind = e instanceof MicrophoneError ? e.kind : 'unknown'
  return { key: `mic.${kind}` as MessageKey, detail: errorMessage(e) }
}

/** One speaker the console has joined. `joined` means: in the session, waiting for its offer. */
export interface SpeakerCall {
  sessionid: string
  state: CallState | 'joined'
  ice: RTCIceConnectionState
  error: StoreError | null
  /** This speaker is among those the operator talks to. */
  talk: boolean
  /** Playback volume of this speaker's audio (two-way), 0..1. */
  volume: number
}

/**
 * The operator console (web role): one channel connection, any number of joined sessions, each
 * answered with the one shared microphone track. Who hears the operator is chosen per speaker
 * (talk to one, a group or all) and gated by mute and push-to-talk.
 */
export const useConsoleStore = defineStore('console', () => {
  const bridge = useBridge()
  const settings = useSettingsStore()

  const uuid = ref('')
  const connection = ref<ConnectionState>('idle')
  const connectionDetail = ref('')
  const calls = reactive<Record<string, SpeakerCall>>({})
  /** Each speaker's audio (two-way intercom), by session. */
  const remoteStreams = shallowRef<Record<string, MediaStream>>({})
  /** Each call's peer connection, by session (for quality indicators). */
  const pcs = shallowRef<Record<string, RTCPeerConnection>>({})
  const error = ref<StoreError | null>(null)
  /** Something the operator should know that is not an error (e.g. switched microphones). */
  const notice = ref<StoreError | null>(null)
  const busy = ref(false)
  const muted = ref(false)
  /** Push-to-talk: when on, the microphone goes out only while `pttHeld`. */
  const pushToTalk = ref(false)
  const pttHeld = ref(false)
  const microphone = shallowRef<MediaStream | null>(null)

  const peers = new Map<string, PeerSession>()
  let opening: Promise<MediaStream> | null = null
  let unsubscribe: (() => void)[] = []

  const ready = computed(() => connection.value === 'ready')
  const callList = computed(() => Object.values(calls))
  /** The microphone is open to the speakers right now (not muted, push-to-talk held if on). */
  const transmitting = computed(() => !muted.value && (!pushToTalk.value || pttHeld.value))
  /** A live call would carry the operator's voice (whether the microphone is open or not). */
  const talkingToLive = computed(() => Object.values(calls).some((c) => c.talk && c.state === 'live'))
  /** Someone hears the operator right now. */
  const onAir = computed(() => transmitting.value && talkingToLive.value)

  function listen(): void {
    if (unsubscribe.length) return
    unsubscribe = [
      bridge.on('channel:state', (e) => {
        if (e.connectionId !== CONSOLE_CONNECTION) return
        connection.value = e.state
        connectionDetail.value = e.detail ?? ''
        if (e.state === 'closed')
          for (const id of Object.keys(calls)) endCall(id, { sendBye: false, forget: true })
      }),
      bridge.on('channel:session', (e) => {
        if (e.connectionId === CONSOLE_CONNECTION && e.kind === 'lost')
          endCall(e.sessionid, { sendBye: false, forget: true })
      }),
      subscribeFrames(CONSOLE_CONNECTION, { notify: onNotify, data: onData }),
      // The desktop app's global shortcut: a press toggles talking (shortcuts report no release).
      bridge.on('ptt:toggle', () => {
        if (pushToTalk.value) pttHeld.value = !pttHeld.value
      })
    ]
  }

  function onNotify(f: NotifyFrame): void {
    if (f.operation === 'destroy_session' && f.sessionid && calls[f.sessionid]) {
      endCall(f.sessionid, { sendBye: false, forget: true })
    }
  }

  function onData(f: DataFrame): void {
    const id = f.sessionid ?? (Object.keys(calls).length === 1 ? Object.keys(calls)[0] : undefined)
    if (!id || !calls[id]) return
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

  async function connect(options: { url?: string; uuid?: string } = {}): Promise<void> {
    listen()
    if (!settings.loaded) await settings.load()
    const wanted = options.uuid || uuid.value || settings.settings.consoleUuid || randomId('WEB')
    if (connection.value === 'ready' && wanted === uuid.value && !options.url) return
    uuid.value = wanted
    if (settings.settings.consoleUuid !== wanted) void settings.update({ consoleUuid: wanted })
    const url = options.url || settings.settings.serverUrl || undefined
    await run('error.connect', () =>
      bridge.invoke('channel:connect', {
        connectionId: CONSOLE_CONNECTION,
        uuid: wanted,
        ...(url ? { url } : {})
      })
    )
  }

  async function join(sessionid: string): Promise<void> {
    const id = sessionid.trim()
    if (!id) {
      error.value = { key: 'error.sessionRequired' }
      return
    }
    if (connection.value !== 'ready') await connect()
    await run('error.join', () =>
      bridge.invoke('channel:join', { connectionId: CONSOLE_CONNECTION, sessionid: id })
    )
    calls[id] ??= { sessionid: id, state: 'joined', ice: 'new', error: null, talk: true, volume: 1 }
  }

  /** The shared microphone, opened once for every call. */
  async function ensureMicrophone(): Promise<MediaStream> {
    if (microphone.value && microphone.value.getAudioTracks().some((t) => t.readyState === 'live'))
      return microphone.value
    opening ??= openWithFallback().finally(() => (opening = null))
    const stream = await opening
    useMicrophone(stream)
    return stream
  }

  /** The chosen microphone, or the default one when the chosen one is gone (unplugged). */
  async function openWithFallback(): Promise<MediaStream> {
    try {
      return await openMicrophone(settings.microphoneOptions())
    } catch (e) {
      const kind = e instanceof MicrophoneError ? e.kind : 'unknown'
      if (!settings.settings.inputDeviceId || (kind !== 'notFound' && kind !== 'overconstrained')) throw e
      const stream = await openMicrophone(settings.microphoneOptions(true))
      notice.value = { key: 'mic.usingDefault' }
      return stream
    }
  }

  /** Adopts a microphone stream and watches for it ending (unplugged, taken by the system). */
  function useMicrophone(stream: MediaStream): void {
    microphone.value = stream
    for (const t of stream.getAudioTracks())
      t.addEventListener('ended', () => void onMicrophoneEnded(stream), { once: true })
  }

  /** The microphone went away mid-call: switch to another one without renegotiating, and say so. */
  async function onMicrophoneEnded(stream: MediaStream): Promise<void> {
    if (microphone.value !== stream || peers.size === 0) return
    notice.value = { key: 'mic.lost' }
    try {
      const fresh = await openWithFallback()
      useMicrophone(fresh)
      await Promise.all([...peers.values()].map((p) => p.replaceLocalStream(fresh)))
      stopStream(stream)
      notice.value = { key: 'mic.recovered', detail: fresh.getAudioTracks()[0]?.label ?? '' }
    } catch (e) {
      notice.value = { key: 'mic.lostNone', detail: errorMessage(e) }
      error.value = microphoneError(e)
    }
  }

  async function answer(sessionid: string, offer: unknown): Promise<void> {
    const call = calls[sessionid]
    if (!call) return
    endCall(sessionid, { sendBye: false })
    call.state = 'answering'
    call.error = null
    // The connection is made and the offer applied while the microphone opens: opening it runs
    // outside the page, making the connection takes the page's main thread.
    const microphone = ensureMicrophone()
    const session = new PeerSession({
      role: 'web',
      localStream: microphone,
      signal: (data) => void send(sessionid, data)
    })
    peers.set(sessionid, session)
    setPc(sessionid, session.peerConnection)
    session.on('state', (s) => {
      const c = calls[sessionid]
      const current = peers.get(sessionid) === session
      if (c && current) c.state = s === 'ended' ? 'joined' : s
      if (s === 'ended' && current) {
        // The closed connection reports no more ICE states: the row must not keep the last one.
        if (c) c.ice = 'new'
        peers.delete(sessionid)
        setRemote(sessionid, null)
        setPc(sessionid, null)
      }
      releaseMicrophoneIfIdle()
    })
    session.on('ice', (s) => {
      const c = calls[sessionid]
      if (c) c.ice = s
    })
    session.on('remoteStream', (s) => setRemote(sessionid, s))
    await session.setSending(call.talk && transmitting.value)
    const answered = session.handle(offer)
    try {
      await microphone
    } catch (e) {
      endCall(sessionid, { sendBye: false })
      call.error = microphoneError(e)
      call.state = 'failed'
      // No answer without audio: tell the speaker instead of leaving it waiting.
      void send(sessionid, { type: 'bye', reason: 'microphone unavailable' })
      return
    }
    await answered
  }

  function setRemote(sessionid: string, stream: MediaStream | null): void {
    remoteStreams.value = withEntry(remoteStreams.value, sessionid, stream)
  }

  function setPc(sessionid: string, pc: RTCPeerConnection | null): void {
    pcs.value = withEntry(pcs.value, sessionid, pc)
  }

  function send(sessionid: string, data: Record<string, unknown>): Promise<void> {
    return bridge
      .invoke('channel:send', { connectionId: CONSOLE_CONNECTION, sessionid, data })
      .catch(() => undefined)
  }

  function endCall(sessionid: string, options: { sendBye?: boolean; forget?: boolean } = {}): void {
    const p = peers.get(sessionid)
    peers.delete(sessionid)
    p?.close({ sendBye: options.sendBye ?? true })
    setRemote(sessionid, null)
    setPc(sessionid, null)
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
    endCall(sessionid, { sendBye: true, forget: true })
    await run('error.destroy', () =>
      bridge.invoke('channel:destroy', { connectionId: CONSOLE_CONNECTION, sessionid })
    )
  }

  async function disconnect(): Promise<void> {
    for (const id of Object.keys(calls)) endCall(id, { sendBye: true, forget: true })
    await bridge.invoke('channel:disconnect', { connectionId: CONSOLE_CONNECTION })
  }

  /** Applies mute, push-to-talk and the talk selection to every call. */
  function applyTalk(): void {
    for (const [id, p] of peers) void p.setSending((calls[id]?.talk ?? false) && transmitting.value)
  }
  watch(transmitting, applyTalk)

  function setMuted(value: boolean): void {
    muted.value = value
  }

  function setPushToTalk(enabled: boolean): void {
    pushToTalk.value = enabled
    pttHeld.value = false
  }

  function holdToTalk(held: boolean): void {
    pttHeld.value = held
  }

  /** Talk to these speakers only (one, a group), or to every speaker with `null`. */
  function talkTo(sessionids: string[] | null): void {
    for (const c of Object.values(calls)) c.talk = sessionids === null || sessionids.includes(c.sessionid)
    applyTalk()
  }

  function toggleTalk(sessionid: string): void {
    const c = calls[sessionid]
    if (!c) return
    c.talk = !c.talk
    applyTalk()
  }

  function setVolume(sessionid: string, volume: number): void {
    const c = calls[sessionid]
    if (c) c.volume = Math.max(0, Math.min(1, volume))
  }

  /** A different microphone chosen mid-call replaces the track in every call, without renegotiation. */
  async function switchMicrophone(): Promise<void> {
    const old = microphone.value
    if (!old || peers.size === 0) return
    try {
      const fresh = await openWithFallback()
      useMicrophone(fresh)
      await Promise.all([...peers.values()].map((p) => p.replaceLocalStream(fresh)))
      stopStream(old)
    } catch (e) {
      error.value = microphoneError(e)
    }
  }
  // A different microphone, or other processing for it, applies mid-call.
  watch(
    () => JSON.stringify(settings.microphoneOptions()),
    () => void switchMicrophone()
  )

  function releaseMicrophoneIfIdle(): void {
    if (peers.size === 0 && microphone.value) {
      stopStream(microphone.value)
      microphone.value = null
    }
  }

  return {
    uuid,
    connection,
    connectionDetail,
    calls,
    callList,
    remoteStreams,
    error,
    notice,
    busy,
    muted,
    pushToTalk,
    pttHeld,
    transmitting,
    talkingToLive,
    onAir,
    microphone,
    ready,
    connect,
    join,
    hangUp,
    destroy,
    disconnect,
    setMuted,
    setPushToTalk,
    holdToTalk,
    talkTo,
    toggleTalk,
    setVolume,
    pcs
  }
})
