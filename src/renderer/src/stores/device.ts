import { defineStore } from 'pinia'
import { computed, ref, shallowRef } from 'vue'
import { BridgeError, type ConnectionState } from '@shared/contract'
import type { DataFrame, Frame, NotifyFrame, ReplyFrame } from '@shared/protocol'
import type { MessageKey } from '../i18n'
import { useBridge } from '../services/bridge'
import { type CallState, PeerSession } from '../rtc/peer-session'
import { MicrophoneError, openMicrophone, stopStream } from '../rtc/microphone'
import { channelConnection } from './channel-connection'
import { errorMessage, randomId } from './channel-events'
import { useAppStore } from './app'
import { useSettingsStore } from './settings'

export const DEVICE_CONNECTION = 'device'

/**
 * A channel server says nothing when it relays a frame, only when it refuses one. After sending
 * its offer, startAudio waits this long for a refusal, unless the answer (or a refusal) comes
 * first; then the offer counts as taken.
 */
export const OFFER_VERDICT_MS = 1_000

/** What a service app's onChannelEvent receives: (result_cd, result_msg, extra = the frame). */
export type ChannelEventListener = (result_cd: number, result_msg: string, extra: Frame) => void

export interface StoreError {
  key: MessageKey
  detail?: string
}

/**
 * The speaker: creates the channel, keeps it alive (main process timers), waits for a web client,
 * sends the offer, plays what it receives, stops and destroys. The UI and window.gigagenie both
 * drive this one store.
 */
export const useDeviceStore = defineStore('device', () => {
  const bridge = useBridge()
  const settings = useSettingsStore()
  const app = useAppStore()

  const uuid = ref('')
  const sessionid = ref<string | null>(null)
  const webJoined = ref(false)
  const call = ref<CallState>('idle')
  const ice = ref<RTCIceConnectionState>('new')
  const remoteStream = shallowRef<MediaStream | null>(null)
  /** The call while there is one (quality indicators read its figures). */
  const activeSession = shallowRef<PeerSession | null>(null)
  /** ICE restarts in the current call. */
  const iceRestarts = ref(0)
  const lastKeepaliveAt = ref<number | null>(null)
  const error = ref<StoreError | null>(null)
  const busy = ref(false)
  /** Two-way intercom: the device also sends its microphone. */
  const twoWay = ref(false)

  let peer: PeerSession | null = null
  let localStream: MediaStream | null = null
  let channelEventListener: ChannelEventListener | null = null
  /** Waiting for a verdict on this session's offer (see OFFER_VERDICT_MS). */
  const refusalWaiters = new Set<(refusal: ReplyFrame) => void>()

  const connection = computed<ConnectionState>(() => channel.state.value)
  const connectionDetail = computed(() => channel.detail.value)
  const ready = computed(() => connection.value === 'ready')
  /** Strict KT mode: the setting, or the app started with --strict-kt. */
  const strict = computed(() => settings.settings.strictKt || app.info?.strictKt === true)
  const inCall = computed(() => ['offering', 'connecting', 'live'].includes(call.value))

  /** The speaker's channel connection. */
  const channel = channelConnection(DEVICE_CONNECTION, {
    state: (state) => {
      if (state === 'ready') lastKeepaliveAt.value = Date.now()
    },
    any: (e) => {
      if (e.direction === 'out' && e.frame.operation === 'ras_alive') lastKeepaliveAt.value = e.at
      if (e.direction === 'in' && e.frame.msgtype === 'reply') onReply(e.frame)
      if (e.direction === 'in' && (e.frame.msgtype === 'notify' || e.frame.msgtype === 'data')) {
        if (e.frame.operation !== 'iam' && e.frame.operation !== 'ras_alive')
          channelEventListener?.(200, 'Success', e.frame)
      }
    },
    notify: onNotify,
    data: onData
  })
  bridge.on('channel:session', (e) => {
    if (e.connectionId !== DEVICE_CONNECTION || e.kind !== 'lost' || e.sessionid !== sessionid.value) return
    // The channel is gone (released by the server, or not restored after a reconnect).
    endCall({ sendBye: false })
    sessionid.value = null
    webJoined.value = false
    error.value = { key: 'error.channelLost', ...(e.reason ? { detail: e.reason } : {}) }
  })

  function onNotify(f: NotifyFrame): void {
    if (!f.sessionid || f.sessionid !== sessionid.value) return
    switch (f.operation) {
      case 'join_session':
        webJoined.value = true
        if (settings.settings.autoStartAudio) void startAudio()
        break
      case 'leave_session':
        webJoined.value = false
        endCall({ sendBye: false })
        break
      case 'destroy_session':
        webJoined.value = false
        endCall({ sendBye: false })
        sessionid.value = null
        break
    }
  }

  /**
   * A reply to no request of ours is the server refusing a frame we sent without a trxid: a data
   * frame (PROTOCOL.md §5), naming its session when the server read that far (a frame refused for
   * its size or rate is not read, so its refusal names none).
   */
  function onReply(f: ReplyFrame): void {
    if (f.result_cd === 200 || f.operation !== undefined || f.trxid !== undefined) return
    if (f.sessionid !== undefined && f.sessionid !== sessionid.value) return
    for (const waiter of [...refusalWaiters]) waiter(f)
  }

  /** Settles once the offer is answered, refused, or OFFER_VERDICT_MS pass without a refusal. */
  function offerVerdict(session: PeerSession): Promise<void> {
    return new Promise((resolve, reject) => {
      const settle = (error: Error | null): void => {
        clearTimeout(timer)
        refusalWaiters.delete(onRefusal)
        off()
        if (error) reject(error)
        else resolve()
      }
      const onRefusal = (f: ReplyFrame): void =>
        settle(new BridgeError(f.result_cd, `the channel server refused the offer: ${f.result_msg}`))
      const timer = setTimeout(() => settle(null), OFFER_VERDICT_MS)
      const off = session.on('state', (s) => {
        if (s === 'connecting' || s === 'live') settle(null)
        else if (s === 'ended' || s === 'failed') settle(new Error(`the call ${s} before it was answered`))
      })
      refusalWaiters.add(onRefusal)
    })
  }

  function onData(f: DataFrame): void {
    if (f.sessionid !== undefined && f.sessionid !== sessionid.value) return
    void peer?.handle(f.data)
  }

  /** Runs a step, reporting its failure as `key`; `busy` (the default) disables the controls meanwhile. */
  async function run<T>(key: MessageKey, fn: () => Promise<T>, options: { busy?: boolean } = {}): Promise<T> {
    const marksBusy = options.busy ?? true
    if (marksBusy) busy.value = true
    try {
      const value = await fn()
      error.value = null
      return value
    } catch (e) {
      error.value = { key, detail: errorMessage(e) }
      throw e
    } finally {
      if (marksBusy) busy.value = false
    }
  }

  /** Settings and what the host says of itself, which decide the mode (strict or lenient). */
  async function loadConfig(): Promise<void> {
    if (!settings.loaded) await settings.load()
    if (!app.info) await app.load()
  }

  async function connect(): Promise<void> {
    if (channel.state.value === 'ready') return
    await loadConfig()
    uuid.value ||= settings.settings.deviceUuid || randomId('K')
    if (!settings.settings.deviceUuid) void settings.update({ deviceUuid: uuid.value })
    const url = settings.settings.serverUrl || undefined
    // A real speaker sends no keep-alive of its own: the service app calls keepaliveChannel.
    await run('error.connect', () =>
      channel.connect(uuid.value, url, strict.value ? { keepalive: false } : {})
    )
  }

  async function createChannel(
    options: { usecontainerid?: boolean; channeltype?: string } = {}
  ): Promise<string> {
    await connect()
    if (sessionid.value) return sessionid.value
    const { sessionid: id } = await run('error.create', () =>
      bridge.invoke('channel:create', {
        connectionId: DEVICE_CONNECTION,
        ...(options.usecontainerid ? { sessionid: uuid.value } : {}),
        ...(options.channeltype ? { channeltype: options.channeltype } : {})
      })
    )
    sessionid.value = id
    webJoined.value = false
    return id
  }

  async function keepalive(): Promise<NotifyFrame | null> {
    const { reply } = await run('error.keepalive', () =>
      bridge.invoke('channel:keepalive', { connectionId: DEVICE_CONNECTION })
    )
    lastKeepaliveAt.value = Date.now()
    return reply
  }

  async function startAudio(): Promise<void> {
    const id = sessionid.value
    if (!id) {
      error.value = { key: 'error.noChannel' }
      throw new Error('no channel: create one first')
    }
    endCall({ sendBye: false })
    iceRestarts.value = 0
    if (twoWay.value) {
      try {
        localStream = await openMicrophone(settings.microphoneOptions())
      } catch (e) {
        const kind = e instanceof MicrophoneError ? e.kind : 'unknown'
        error.value = { key: `mic.${kind}` as MessageKey }
        throw e
      }
    }
    const session = new PeerSession({
      role: 'device',
      localStream,
      signal: (data) => void channel.send(id, data)
    })
    peer = session
    activeSession.value = session
    session.on('state', (s) => {
      call.value = s
      if (s === 'ended' || s === 'failed') remoteStream.value = null
      if (s === 'ended' && peer === session) {
        peer = null
        activeSession.value = null
        stopStream(localStream)
        localStream = null
      }
    })
    session.on('ice', (s) => (ice.value = s))
    session.on('restart', (n) => (iceRestarts.value = n))
    session.on('remoteStream', (s) => (remoteStream.value = s))
    // Not busy: the offer takes a few ms and a second start simply restarts the call, so the
    // controls stay as they are instead of flickering (a frame each way, mid call setup).
    try {
      await run(
        'error.startAudio',
        async () => {
          await session.start()
          await offerVerdict(session)
        },
        { busy: false }
      )
    } catch (e) {
      if (peer === session) endCall({ sendBye: false })
      throw e
    }
  }

  function endCall(options: { sendBye?: boolean } = {}): void {
    const p = peer
    peer = null
    activeSession.value = null
    p?.close(options)
    stopStream(localStream)
    localStream = null
    remoteStream.value = null
    ice.value = 'new'
    if (p) call.value = 'idle'
  }

  /** Reconnects the audio path (ICE restart through the relay) without ending the call. */
  async function reconnectAudio(): Promise<void> {
    await peer?.restartIce()
  }

  function stopAudio(): void {
    endCall({ sendBye: true })
    call.value = 'idle'
  }

  async function destroyChannel(options: { sessionid?: string } = {}): Promise<void> {
    const id = options.sessionid || sessionid.value
    if (!id) return
    endCall({ sendBye: true })
    await run('error.destroy', () =>
      bridge.invoke('channel:destroy', { connectionId: DEVICE_CONNECTION, sessionid: id })
    )
    if (id === sessionid.value) sessionid.value = null
    webJoined.value = false
  }

  async function disconnect(): Promise<void> {
    endCall({ sendBye: true })
    sessionid.value = null
    webJoined.value = false
    await channel.disconnect()
  }

  function setChannelEventListener(fn: ChannelEventListener | null): void {
    channelEventListener = fn
  }

  return {
    uuid,
    connection,
    connectionDetail,
    sessionid,
    webJoined,
    call,
    ice,
    remoteStream,
    lastKeepaliveAt,
    error,
    busy,
    twoWay,
    ready,
    inCall,
    strict,
    loadConfig,
    connect,
    createChannel,
    keepalive,
    startAudio,
    reconnectAudio,
    stopAudio,
    destroyChannel,
    disconnect,
    setChannelEventListener,
    session: activeSession,
    iceRestarts
  }
})
