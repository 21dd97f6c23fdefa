import { MAX_ID_LENGTH, MAX_NESTING_DEPTH } from '../../shared/input-rules'

/**
 * Every limit of the channel server, named and overridable (ChannelServerOptions.limits,
 * or `npm run serve -- --limit name=value`). PROTOCOL.md fixes some of them; the rest are ours.
 */
export interface ServerLimits {
  /** Close a connection that has not authenticated within this time (PROTOCOL.md §2: 10 s). */
  authTimeoutMs: number
  /** Close a connection from which nothing has arrived for this long (PROTOCOL.md §3: 70 s). */
  idleTimeoutMs: number
  /** How often timeouts and rate windows are checked; timeouts fire up to this much late. */
  sweepIntervalMs: number
  /** Frames larger than this get result_cd 413 and are dropped; the connection stays. */
  maxFrameBytes: number
  /**
   * Frames larger than this close the connection (1009) before they are buffered. ws's own
   * default is 100 MiB: a single message that size would be held in memory before we saw it.
   */
  maxPayloadBytes: number
  /**
   * Frames accepted per connection per sweep window; the excess gets 429 and is dropped, and
   * the connection is not read from until the next window (TCP then slows the sender down,
   * instead of the server spending its time reading frames it would drop).
   */
  framesPerWindow: number
  /**
   * Bytes read from one connection before the server turns to the others (it resumes reading
   * it on the next turn of the event loop): one busy sender cannot hold up every other session.
   */
  maxReadBurstBytes: number
  /**
   * Containers a frame may nest (the frame itself is level 1); deeper frames get 400 and are not
   * relayed, so that nothing downstream serialises them into a stack overflow.
   */
  maxNestingDepth: number
  /** Frames that are not JSON text (or binary) tolerated per connection before it is closed. */
  badFrameAllowance: number
  /** Sessions one uuid may have created and still hold. */
  maxSessionsPerUuid: number
  /** Web clients a session holds besides its device (PROTOCOL.md §4: one by default). */
  maxJoinersPerSession: number
  /** Bytes queued for a client that does not read before it is cut off (4429). */
  maxBufferedBytes: number
  /** Longest accepted session id (a client-chosen one). */
  maxSessionIdLength: number
  /** Longest accepted uuid. */
  maxUuidLength: number
  /** Open sockets the server accepts in all; further upgrades get HTTP 503. */
  maxConnections: number
  /**
   * Open sockets per client address (IPv6: per /64); further upgrades get HTTP 429. Loopback
   * clients are exempt unless ChannelServerOptions.limitLoopback is set (all local processes,
   * and all clients behind a local reverse proxy, share that one address).
   */
  maxConnectionsPerIp: number
  /** WebSocket handshakes per client address per sweep window; the excess gets HTTP 429. */
  handshakesPerIpPerWindow: number
  /** An HTTP upgrade request must be complete within this time (slow-header clients). */
  handshakeTimeoutMs: number
  /** A server-initiated close that the peer does not answer is cut off after this long. */
  closeTimeoutMs: number
  /**
   * A connection lost without a close frame (TCP cut, crash, network change) keeps its session
   * and member slots this long, so the same uuid can come back without anyone being told;
   * 0 ends them at once as PROTOCOL.md §4 describes for a clean close.
   */
  reconnectGraceMs: number
  /** Frames held for one absent member during its grace period; beyond, its grace ends. */
  graceBufferFrames: number
  /** Bytes held for one absent member during its grace period; beyond, its grace ends. */
  graceBufferBytes: number
  /** Bytes held for all absent members together; beyond, the grace of the one adding ends. */
  graceBufferTotalBytes: number
  /**
   * Operator connections following sessions at once (presence); one more gets 409. Each one is
   * written on every session change, so the fan-out is bounded like every other; 0 lets operators
   * list sessions but not follow them.
   */
  maxPresenceSubscribers: number
}

export const DEFAULT_LIMITS: Readonly<ServerLimits> = Object.freeze({
  authTimeoutMs: 10_000,
  idleTimeoutMs: 70_000,
  sweepIntervalMs: 1_000,
  maxFrameBytes: 64 * 1024,
  maxPayloadBytes: 256 * 1024,
  framesPerWindow: 200,
  maxReadBurstBytes: 256 * 1024,
  maxNestingDepth: MAX_NESTING_DEPTH,
  badFrameAllowance: 10,
  maxSessionsPerUuid: 32,
  maxJoinersPerSession: 1,
  maxBufferedBytes: 4 * 1024 * 1024,
  maxSessionIdLength: MAX_ID_LENGTH,
  maxUuidLength: MAX_ID_LENGTH,
  maxConnections: 20_000,
  maxConnectionsPerIp: 512,
  handshakesPerIpPerWindow: 256,
  handshakeTimeoutMs: 10_000,
  closeTimeoutMs: 2_000,
  reconnectGraceMs: 20_000,
  graceBufferFrames: 1_000,
  graceBufferBytes: 1024 * 1024,
  graceBufferTotalBytes: 64 * 1024 * 1024,
  maxPresenceSubscribers: 16
})

/** WebSocket close codes the server uses, so clients and tests can tell why they were closed. */
export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  INVALID_DATA: 1007,
  POLICY: 1008,
  TOO_BIG: 1009,
  TRY_AGAIN_LATER: 1013,
  AUTH_TIMEOUT: 4001,
  IDLE_TIMEOUT: 4008,
  BAD_FRAMES: 4400,
  SLOW_READER: 4429
} as const

/** Limits of at least 1: a zero would refuse everything (framesPerWindow 0: even auth gets 429). */
const AT_LEAST_ONE: ReadonlySet<keyof ServerLimits> = new Set<keyof ServerLimits>([
  'sweepIntervalMs',
  'maxFrameBytes',
  'maxPayloadBytes',
  'framesPerWindow',
  'maxReadBurstBytes',
  'maxNestingDepth',
  'maxConnections',
  'maxConnectionsPerIp',
  'handshakesPerIpPerWindow',
  'handshakeTimeoutMs',
  'closeTimeoutMs'
])

/**
 * The longest delay Node's timers take (2^31 − 1 ms, about 24.8 days): a longer one fires after
 * 1 ms, which would turn a timeout into none and the rate window into 1 ms.
 */
export const MAX_TIMER_MS = 2_147_483_647

/** Whether `name` is a limit (its own name, not one inherited such as "toString"). */
export function isLimitName(name: string): name is keyof ServerLimits {
  return Object.hasOwn(DEFAULT_LIMITS, name)
}

/**
 * What is wrong with `value` for the limit `name`, or null when it can be used: the one rule for
 * options and command lines alike. Every limit counts something (milliseconds, bytes, frames,
 * sockets, levels), so all are whole numbers; the *Ms ones are timer delays. `min` is for limits
 * of other parts (the Redis store, the browser host); a server limit knows its own.
 */
export function limitProblem(name: keyof ServerLimits, value: unknown): string | null
export function limitProblem(name: string, value: unknown, min: number): string | null
export function limitProblem(name: string, value: unknown, min?: number): string | null {
  const timer = name.endsWith('Ms')
  const least = min ?? (AT_LEAST_ONE.has(name as keyof ServerLimits) ? 1 : 0)
  const got = `, got ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`
  if (typeof value !== 'number' || !Number.isInteger(value))
    return `must be a whole number${timer ? ' of milliseconds' : ''}${got}`
  if (value < least) return `must be at least ${least}${got}`
  if (timer && value > MAX_TIMER_MS)
    return `must be at most ${MAX_TIMER_MS} ms (about 24.8 days, the longest delay Node's timers take)${got}`
  if (value > Number.MAX_SAFE_INTEGER) return `must be at most ${Number.MAX_SAFE_INTEGER}${got}`
  return null
}

/**
 * The limits with `overrides` applied, or a RangeError saying what to change: each value by
 * limitProblem, then the pairs that only work together. `label` names them in it (the command
 * lines pass their flag).
 */
export function resolveLimits(overrides: Partial<ServerLimits> = {}, label = 'limit'): ServerLimits {
  const limits = { ...DEFAULT_LIMITS }
  for (const [key, value] of Object.entries(overrides)) {
    if (!isLimitName(key)) {
      throw new RangeError(`unknown ${label} "${key}"; known: ${Object.keys(DEFAULT_LIMITS).join(', ')}`)
    }
    if (value !== undefined) limits[key] = value
  }
  for (const key of Object.keys(limits) as (keyof ServerLimits)[]) {
    const problem = limitProblem(key, limits[key])
    if (problem !== null) throw new RangeError(`${label} ${key} ${problem}`)
  }
  if (limits.maxPayloadBytes < limits.maxFrameBytes) {
    throw new RangeError(
      `${label} maxPayloadBytes (${limits.maxPayloadBytes} bytes) must be at least maxFrameBytes ` +
        `(${limits.maxFrameBytes} bytes): a frame above maxPayloadBytes closes the connection unread, ` +
        'so the 413 for one above maxFrameBytes would never be sent; raise maxPayloadBytes or lower maxFrameBytes'
    )
  }
  if (limits.graceBufferBytes > limits.maxBufferedBytes) {
    throw new RangeError(
      `${label} graceBufferBytes (${limits.graceBufferBytes} bytes) must not exceed maxBufferedBytes ` +
        `(${limits.maxBufferedBytes} bytes): the frames held for an absent member are written at once ` +
        'when it returns, and more than maxBufferedBytes would cut it off as a slow reader; ' +
        'lower graceBufferBytes or raise maxBufferedBytes'
    )
  }
  return limits
}
