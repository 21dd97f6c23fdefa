/**
 * The channel client: one WebSocket to a channel server, owned by the main process
 * (renderer timers are throttled in hidden windows; a missed keep-alive costs the channel).
 * Answers iam with auth, matches replies to requests by trxid, keeps the connection alive,
 * reconnects with capped exponential backoff and jitter, and afterwards re-authenticates and
 * re-creates / re-joins its sessions. Plain Node: no electron import.
 */
import WebSocket from 'ws'
import { Emitter } from '../../shared/emitter'
import {
  type ChannelType,
  type DataFrame,
  type Frame,
  type NotifyFrame,
  type ReplyFrame,
  type RequestFrame,
  ResultCode,
  SUBPROTOCOL,
  frames,
  parseFrame
} from '../../shared/protocol'

export type ClientState = 'idle' | 'connecting' | 'authenticating' | 'ready' | 'reconnecting' | 'closed'

export interface ReconnectPolicy {
  enabled: boolean
  initialDelayMs: number
  maxDelayMs: number
  factor: number
  /** 0..1: each delay is scaled by a random factor in [1 - jitter, 1 + jitter]. */
  jitter: number
}

export interface ChannelClientOptions {
  url: string
  uuid: string
  channeltype?: ChannelType
  /** Period of ras_alive (PROTOCOL.md §3 recommends 30–60 s; reference clients use 30 s). */
  keepaliveIntervalMs?: number
  requestTimeoutMs?: number
  /** Give up on a connection attempt (TCP + WebSocket handshake + iam) after this long. */
  connectTimeoutMs?: number
  /** If a server sends no iam, authenticate anyway after this long. */
  iamWaitMs?: number
  reconnect?: Partial<ReconnectPolicy>
  /** Data frames sent while disconnected wait at most this long, then expire with a notice. */
  outboxTtlMs?: number
  outboxMaxFrames?: number
  /** Offer the public service's sub-protocol (default true). */
  subprotocol?: string | null
  random?: () => number
}

export const CLIENT_DEFAULTS = {
  keepaliveIntervalMs: 30_000,
  requestTimeoutMs: 10_000,
  connectTimeoutMs: 10_000,
  iamWaitMs: 2_000,
  outboxTtlMs: 30_000,
  outboxMaxFrames: 2_000,
  reconnect: {
    enabled: true,
    initialDelayMs: 500,
    maxDelayMs: 30_000,
    factor: 2,
    jitter: 0.3
  } as ReconnectPolicy
} as const

/** Delay before reconnect attempt `attempt` (1-based): capped exponential, scaled by jitter. */
export function backoffDelay(attempt: number, policy: ReconnectPolicy, random: number): number {
  const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.factor ** (attempt - 1))
  return Math.round(base * (1 - policy.jitter + 2 * policy.jitter * random))
}

/** A request answered with anything but 200, or one that could not be completed. */
export class ChannelError extends Error {
  constructor(
    readonly result_cd: number,
    readonly result_msg: string,
    readonly reply?: ReplyFrame
  ) {
    super(`${result_cd} ${result_msg}`)
    this.name = 'ChannelError'
  }
}

export type ClientEvents = {
  state: [state: ClientState, detail?: string]
  /** Every frame received, parsed. */
  frame: [frame: Frame]
  /** Every frame sent (for the signaling view). */
  sent: [frame: Frame]
  notify: [frame: NotifyFrame]
  data: [frame: DataFrame]
  /** After a reconnect, a session this client had could not be taken back. */
  sessionLost: [sessionid: string, reason: string]
  /** A session was re-created or re-joined after a reconnect. */
  sessionRestored: [sessionid: string]
  /** Data frames that waited in the outbox too long and were not sent. */
  expired: [frames: DataFrame[]]
  error: [error: Error]
}

interface Pending {
  operation: string
  resolve: (reply: ReplyFrame) => void
  reject: (error: Error) => void
  timer: ReturnType<typeof setTimeout>
}

type SessionRole = 'owner' | 'member'

export class ChannelClient extends Emitter<ClientEvents> {
  readonly uuid: string
  readonly url: string
  readonly channeltype: ChannelType
  private readonly opts: Required<
    Omit<ChannelClientOptions, 'reconnect' | 'random' | 'subprotocol' | 'channeltype'>
  >
  private readonly policy: ReconnectPolicy
  private readonly random: () => number
  private readonly subprotocol: string | null
  private ws: WebSocket | null = null
  private _state: ClientState = 'idle'
  private seq = 0
  private attempt = 0
  private readonly pending = new Map<string, Pending>()
  private readonly sessions = new Map<string, SessionRole>()
  private outbox: { frame: DataFrame; at: number }[] = []
  private keepaliveTimer: ReturnType<typeof setInterval> | null = null
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null
  private connectTimer: ReturnType<typeof setTimeout> | null = null
  private iamTimer: ReturnType<typeof setTimeout> | null = null
  private keepaliveWaiters: ((frame: NotifyFrame | null) => void)[] = []
  private readyWaiters: { resolve: () => void; reject: (e: Error) => void }[] = []
  private disposed = false
  private authInFlight = false

  constructor(options: ChannelClientOptions) {
    super()
    this.url = options.url
    this.uuid = options.uuid
    this.channeltype = options.channeltype ?? 'webrtcaudio'
    this.opts = {
      url: options.url,
      uuid: options.uuid,
      keepaliveIntervalMs: options.keepaliveIntervalMs ?? CLIENT_DEFAULTS.keepaliveIntervalMs,
      requestTimeoutMs: options.requestTimeoutMs ?? CLIENT_DEFAULTS.requestTimeoutMs,
      connectTimeoutMs: options.connectTimeoutMs ?? CLIENT_DEFAULTS.connectTimeoutMs,
      iamWaitMs: options.iamWaitMs ?? CLIENT_DEFAULTS.iamWaitMs,
      outboxTtlMs: options.outboxTtlMs ?? CLIENT_DEFAULTS.outboxTtlMs,
      outboxMaxFrames: options.outboxMaxFrames ?? CLIENT_DEFAULTS.outboxMaxFrames
    }
    this.policy = { ...CLIENT_DEFAULTS.reconnect, ...options.reconnect }
    this.random = options.random ?? Math.random
    this.subprotocol = options.subprotocol === undefined ? SUBPROTOCOL : options.subprotocol
  }

  get state(): ClientState {
    return this._state
  }

  /** Sessions this client holds (created or joined), restored after a reconnect. */
  get sessionIds(): string[] {
    return [...this.sessions.keys()]
  }

  /** Connects and authenticates; resolves when ready. Rejects if the first attempt fails. */
  connect(): Promise<void> {
    if (this.disposed) return Promise.reject(new Error('channel client is disposed'))
    if (this._state === 'ready') return Promise.resolve()
    const ready = new Promise<void>((resolve, reject) => this.readyWaiters.push({ resolve, reject }))
    if (this._state === 'idle' || this._state === 'closed') this.open()
    return ready
  }

  /** Sends a request and resolves with its 200 reply; rejects with ChannelError otherwise. */
  request(frame: RequestFrame): Promise<ReplyFrame> {
    if (this._state !== 'ready' && frame.operation !== 'auth') {
      return Promise.reject(new ChannelError(ResultCode.SYSTEM_ERROR, `not connected (${this._state})`))
    }
    const trxid = frame.trxid ?? this.nextTrxid()
    const out = { ...frame, trxid }
    return new Promise<ReplyFrame>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(trxid)
        reject(
          new ChannelError(
            ResultCode.SYSTEM_ERROR,
            `no reply to ${frame.operation} within ${this.opts.requestTimeoutMs} ms`
          )
        )
      }, this.opts.requestTimeoutMs)
      this.pending.set(trxid, { operation: frame.operation, resolve, reject, timer })
      this.transmit(out)
    })
  }

  async createSession(options: { sessionid?: string; channeltype?: ChannelType } = {}): Promise<string> {
    const reply = await this.request(
      frames.createRequest({
        uuid: this.uuid,
        channeltype: options.channeltype ?? this.channeltype,
        ...(options.sessionid ? { sessionid: options.sessionid } : {})
      })
    )
    const id = reply.sessionid ?? options.sessionid
    if (!id)
      throw new ChannelError(ResultCode.SYSTEM_ERROR, 'create_session reply carries no sessionid', reply)
    this.sessions.set(id, 'owner')
    return id
  }

  async joinSession(sessionid: string): Promise<void> {
    await this.request(frames.joinRequest({ uuid: this.uuid, sessionid, channeltype: this.channeltype }))
    this.sessions.set(sessionid, 'member')
  }

  async destroySession(sessionid: string): Promise<void> {
    try {
      await this.request(frames.destroyRequest({ uuid: this.uuid, sessionid, channeltype: this.channeltype }))
    } finally {
      this.sessions.delete(sessionid)
    }
  }

  /** Forgets a session locally (e.g. the server notified its end). */
  forgetSession(sessionid: string): void {
    this.sessions.delete(sessionid)
  }

  /**
   * Relays a payload to the other members. While disconnected it waits in the outbox and is
   * sent once, in order, after the session is restored, or expires with an `expired` event.
   */
  sendData(sessionid: string, data: Record<string, unknown>): void {
    const frame = frames.data({ sessionid, channeltype: this.channeltype, data })
    if (this._state === 'ready' && this.outbox.length === 0) return this.transmit(frame)
    if (this.outbox.length >= this.opts.outboxMaxFrames) {
      this.emit('expired', [this.outbox.shift()!.frame])
    }
    this.outbox.push({ frame, at: Date.now() })
  }

  /** Sends one ras_alive now; resolves with the server's echo, or null if none comes in time. */
  keepalive(): Promise<NotifyFrame | null> {
    if (this._state !== 'ready') {
      return Promise.reject(new ChannelError(ResultCode.SYSTEM_ERROR, `not connected (${this._state})`))
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.keepaliveWaiters = this.keepaliveWaiters.filter((w) => w !== waiter)
        resolve(null)
      }, this.opts.requestTimeoutMs)
      const waiter = (frame: NotifyFrame | null): void => {
        clearTimeout(timer)
        resolve(frame)
      }
      this.keepaliveWaiters.push(waiter)
      this.transmit(frames.rasAlive())
    })
  }

  /** Closes the socket and stops every timer; the client cannot be used afterwards. */
  dispose(): void {
    if (this.disposed) return
    this.disposed = true
    this.clearTimers()
    this.failPending('channel client disposed')
    for (const w of this.keepaliveWaiters) w(null)
    this.keepaliveWaiters = []
    const ws = this.ws
    this.ws = null
    if (ws) {
      ws.removeAllListeners()
      ws.on('error', () => undefined)
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate()
      else ws.close(1000, 'bye')
    }
    this.outbox = []
    this.setState('closed', 'disposed')
    this.removeAllListeners()
  }

  /** Timers and sockets still held (for leak checks). */
  get activeHandles(): number {
    return (
      (this.ws ? 1 : 0) +
      (this.keepaliveTimer ? 1 : 0) +
      (this.reconnectTimer ? 1 : 0) +
      (this.connectTimer ? 1 : 0) +
      (this.iamTimer ? 1 : 0) +
      this.pending.size
    )
  }

  // ------------------------------------------------------------------------------------------

  private nextTrxid(): string {
    this.seq += 1
    return `${this.uuid}:${Date.now()}:${String(this.seq).padStart(5, '0')}`
  }

  private setState(state: ClientState, detail?: string): void {
    if (this._state === state) return
    this._state = state
    this.emit('state', state, detail)
  }

  private open(): void {
    this.setState(this.attempt === 0 ? 'connecting' : 'reconnecting')
    let ws: WebSocket
    try {
      ws = this.subprotocol ? new WebSocket(this.url, this.subprotocol) : new WebSocket(this.url)
    } catch (e) {
      return this.lost(e instanceof Error ? e.message : String(e))
    }
    this.ws = ws
    this.connectTimer = setTimeout(() => {
      this.connectTimer = null
      ws.terminate()
    }, this.opts.connectTimeoutMs)
    ws.on('error', (err) => this.emit('error', err))
    ws.on('open', () => {
      this.setState('authenticating')
      this.iamTimer = setTimeout(() => {
        this.iamTimer = null
        void this.authenticate()
      }, this.opts.iamWaitMs)
    })
    ws.on('message', (data, isBinary) => {
      if (isBinary) return
      this.receive(data.toString())
    })
    ws.on('close', (code, reason) => {
      if (this.ws !== ws) return
      this.ws = null
      this.lost(`connection closed (${code}${reason.length ? ` ${reason.toString()}` : ''})`)
    })
  }

  private async authenticate(): Promise<void> {
    if (this.iamTimer) clearTimeout(this.iamTimer)
    this.iamTimer = null
    if (this._state !== 'authenticating' || this.authInFlight) return
    this.authInFlight = true
    try {
      await this.request(frames.authRequest({ uuid: this.uuid, channeltype: this.channeltype }))
    } catch (e) {
      this.authInFlight = false
      const err = e instanceof Error ? e : new Error(String(e))
      this.emit('error', err)
      // An auth refusal will not change by retrying: stop here and tell whoever waits.
      this.clearTimers()
      const ws = this.ws
      this.ws = null
      ws?.close(1000, 'auth failed')
      this.setState('closed', `authentication failed: ${err.message}`)
      this.settleReady(err)
      return
    }
    this.authInFlight = false
    if (this.connectTimer) clearTimeout(this.connectTimer)
    this.connectTimer = null
    const restoring = this.attempt > 0
    this.attempt = 0
    this.setState('ready')
    this.startKeepalive()
    if (restoring) await this.restoreSessions()
    this.flushOutbox()
    this.settleReady(null)
  }

  private async restoreSessions(): Promise<void> {
    for (const [id, role] of [...this.sessions]) {
      try {
        if (role === 'owner') await this.createSession({ sessionid: id })
        else await this.joinSession(id)
        this.emit('sessionRestored', id)
      } catch (e) {
        this.sessions.delete(id)
        this.emit('sessionLost', id, e instanceof Error ? e.message : String(e))
      }
    }
  }

  private flushOutbox(): void {
    const now = Date.now()
    const fresh = this.outbox.filter((o) => now - o.at <= this.opts.outboxTtlMs)
    const stale = this.outbox.filter((o) => now - o.at > this.opts.outboxTtlMs)
    this.outbox = []
    if (stale.length)
      this.emit(
        'expired',
        stale.map((o) => o.frame)
      )
    for (const o of fresh) {
      if (o.frame.sessionid && !this.sessions.has(o.frame.sessionid)) {
        this.emit('expired', [o.frame])
        continue
      }
      this.transmit(o.frame)
    }
  }

  private receive(text: string): void {
    const parsed = parseFrame(text)
    if (!parsed.ok) {
      this.emit('error', new Error(`unreadable frame from server: ${parsed.error.result_msg}`))
      return
    }
    const frame = parsed.frame
    this.emit('frame', frame)
    switch (frame.msgtype) {
      case 'reply':
        return this.settle(frame)
      case 'data':
        return this.emit('data', frame)
      case 'notify':
        if (frame.operation === 'iam') {
          void this.authenticate()
          return
        }
        if (frame.operation === 'ras_alive') {
          const waiters = this.keepaliveWaiters
          this.keepaliveWaiters = []
          for (const w of waiters) w(frame)
        }
        if (frame.operation === 'destroy_session' && frame.sessionid) this.sessions.delete(frame.sessionid)
        this.emit('notify', frame)
        return
      case 'request':
        return // servers do not send requests
    }
  }

  private settle(reply: ReplyFrame): void {
    let key = reply.trxid
    if (key === undefined || !this.pending.has(key)) {
      // Liberal: a server that drops trxid answers the oldest request of that operation.
      key = undefined
      for (const [k, p] of this.pending) {
        if (reply.operation === undefined || p.operation === reply.operation) {
          key = k
          break
        }
      }
    }
    const pending = key === undefined ? undefined : this.pending.get(key)
    if (!pending || key === undefined) {
      if (reply.result_cd !== ResultCode.OK) {
        this.emit('error', new ChannelError(reply.result_cd, reply.result_msg, reply))
      }
      return
    }
    this.pending.delete(key)
    clearTimeout(pending.timer)
    if (reply.result_cd === ResultCode.OK) pending.resolve(reply)
    else pending.reject(new ChannelError(reply.result_cd, reply.result_msg, reply))
  }

  private transmit(frame: Frame): void {
    const ws = this.ws
    if (!ws || ws.readyState !== WebSocket.OPEN) return
    ws.send(JSON.stringify(frame))
    this.emit('sent', frame)
  }

  private startKeepalive(): void {
    if (this.keepaliveTimer) clearInterval(this.keepaliveTimer)
    this.keepaliveTimer = setInterval(() => this.transmit(frames.rasAlive()), this.opts.keepaliveIntervalMs)
  }

  private lost(reason: string): void {
    this.authInFlight = false
    this.clearTimers()
    this.failPending(reason)
    if (this.disposed) return
    const firstAttemptFailed = this.readyWaiters.length > 0 && this.attempt === 0 && this._state !== 'ready'
    if (firstAttemptFailed || !this.policy.enabled) {
      this.settleReady(new ChannelError(ResultCode.SYSTEM_ERROR, reason))
      this.setState('closed', reason)
      return
    }
    this.attempt += 1
    const delay = backoffDelay(this.attempt, this.policy, this.random())
    this.setState('reconnecting', `${reason}; retrying in ${delay} ms`)
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null
      this.open()
    }, delay)
  }

  private settleReady(error: Error | null): void {
    const waiters = this.readyWaiters
    this.readyWaiters = []
    for (const w of waiters) {
      if (error) w.reject(error)
      else w.resolve()
    }
  }

  private failPending(reason: string): void {
    for (const [key, p] of this.pending) {
      clearTimeout(p.timer)
      p.reject(new ChannelError(ResultCode.SYSTEM_ERROR, reason))
      this.pending.delete(key)
    }
  }

  private clearTimers(): void {
    if (this.keepaliveTimer) clearInterval(this.keepaliveTimer)
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer)
    if (this.connectTimer) clearTimeout(this.connectTimer)
    if (this.iamTimer) clearTimeout(this.iamTimer)
    this.keepaliveTimer = this.reconnectTimer = this.connectTimer = this.iamTimer = null
  }
}
