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
  /** Frames larger than this close the connection (1009) before they are buffered. */
  maxPayloadBytes: number
  /** Frames accepted per connection per sweep window; the excess gets 429 and is dropped. */
  framesPerWindow: number
  /** Frames that are not JSON text (or binary) tolerated per connection before it is closed. */
  badFrameAllowance: number
  /** Sessions one uuid may have created and still hold. */
  maxSessionsPerUuid: number
  /** Web clients a session holds besides its device (PROTOCOL.md §4: one by default). */
  maxJoinersPerSession: number
  /** Bytes queued for a client that does not read before it is cut off. */
  maxBufferedBytes: number
  /** Longest accepted session id (a client-chosen one). */
  maxSessionIdLength: number
  /** Longest accepted uuid. */
  maxUuidLength: number
  /** Open connections the server accepts in all. */
  maxConnections: number
}

export const DEFAULT_LIMITS: Readonly<ServerLimits> = Object.freeze({
  authTimeoutMs: 10_000,
  idleTimeoutMs: 70_000,
  sweepIntervalMs: 1_000,
  maxFrameBytes: 64 * 1024,
  maxPayloadBytes: 256 * 1024,
  framesPerWindow: 200,
  badFrameAllowance: 10,
  maxSessionsPerUuid: 32,
  maxJoinersPerSession: 1,
  maxBufferedBytes: 4 * 1024 * 1024,
  maxSessionIdLength: 128,
  maxUuidLength: 128,
  maxConnections: 20_000
})

/** WebSocket close codes the server uses, so clients and tests can tell why they were closed. */
export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  POLICY: 1008,
  TOO_BIG: 1009,
  TRY_AGAIN_LATER: 1013,
  AUTH_TIMEOUT: 4001,
  IDLE_TIMEOUT: 4008,
  BAD_FRAMES: 4400,
  SLOW_READER: 4429
} as const

export function resolveLimits(overrides: Partial<ServerLimits> = {}): ServerLimits {
  const limits = { ...DEFAULT_LIMITS, ...overrides }
  for (const [key, value] of Object.entries(limits)) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new RangeError(`limit ${key} must be a non-negative number, got ${String(value)}`)
    }
  }
  if (limits.maxPayloadBytes < limits.maxFrameBytes) {
    throw new RangeError('limit maxPayloadBytes must be at least maxFrameBytes')
  }
  return limits
}
