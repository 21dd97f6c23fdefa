/**
 * The node-redis client as the channel server uses it against Redis: fail fast rather than queue,
 * bounded waits, and reconnection that never gives up.
 *
 * - No offline queue: a command sent while the connection is down is rejected at once instead of
 *   waiting to be sent after a reconnect, where it could run late, out of order, or twice.
 * - Connect and command timeouts: nothing waits on Redis longer than a bounded time, so a caller
 *   can answer its client (503) rather than hang.
 * - Reconnection with capped exponential backoff and jitter, forever: when Redis comes back, the
 *   server does too, and processes restarted together do not reconnect in lockstep.
 * - Except before the first connection: connect() gives up after startTimeoutMs, and at once when
 *   Redis refuses the credentials. A wrong URL or password is a mistake to report, not an outage
 *   to wait out.
 * - A PING every pingIntervalMs: a connection that went silent is noticed and replaced.
 * - An 'error' listener always: node-redis emits one for every failed connection attempt, and an
 *   unhandled 'error' would end the process.
 *
 * Knows nothing of sessions: the store that uses it lives elsewhere.
 */
import { ErrorReply, type RedisClientOptions, TimeoutError, type RedisClientType, createClient } from 'redis'
import type { Logger } from '../log'
import type { RedisMetrics } from './metrics'
import type { ReadinessCheck } from './server'

export const REDIS_CLIENT_DEFAULTS = {
  /** A TCP connect (and handshake) that takes longer is abandoned and retried. */
  connectTimeoutMs: 2_000,
  /**
   * A command not sent by then is rejected (the store reports it; readiness follows). node-redis 5
   * stops this clock once the command is written: it does not bound the wait for the answer, so
   * the session registry bounds its steps' wait for the answer by it too (RedisRegistry.run).
   */
  commandTimeoutMs: 2_000,
  /** First reconnection delay; doubles per failed attempt up to reconnectMaxDelayMs. */
  reconnectMinDelayMs: 50,
  reconnectMaxDelayMs: 2_000,
  /** Keeps an idle connection known to be alive. */
  pingIntervalMs: 1_000,
  /**
   * connect() rejects when no connection was made within this long (the attempt under way then
   * may add up to connectTimeoutMs). Once connected, reconnection never gives up.
   */
  startTimeoutMs: 5_000,
  /**
   * Commands a connection holds at most, waiting to be sent or answered; one more is refused at
   * once (its step answered 503). A Redis that stalls while connected answers nothing, and a step
   * given up at commandTimeoutMs stays queued until Redis answers it: this bounds that backlog,
   * and the memory it holds, however long the stall.
   */
  commandQueueMax: 10_000
} as const

export type RedisClientLimits = { -readonly [K in keyof typeof REDIS_CLIENT_DEFAULTS]: number }

export interface RedisClientSettings extends Partial<RedisClientLimits> {
  /** `redis://[[user]:password@]host[:port][/db]` (or `rediss://` for TLS). */
  url: string
  /** CLIENT SETNAME, e.g. "genie-bridge:pub:<pid>", to tell connections apart in CLIENT LIST. */
  name?: string
  /** Connection faults are logged here (warn) and counted in `metrics` as kind "connection". */
  logger?: Logger
  metrics?: RedisMetrics
}

export type RedisClient = RedisClientType

/** The delay before reconnection attempt `retries` (0-based): capped doubling, with ±25 % jitter. */
export function reconnectDelay(
  retries: number,
  limits: Pick<RedisClientLimits, 'reconnectMinDelayMs' | 'reconnectMaxDelayMs'>
): number {
  const base = Math.min(limits.reconnectMaxDelayMs, limits.reconnectMinDelayMs * 2 ** Math.min(retries, 20))
  return Math.round(base * (0.75 + Math.random() * 0.5))
}

/**
 * A client configured as above; not connected yet. Its `connect()` resolves once Redis is
 * reached, or rejects (and the client is closed) after startTimeoutMs without a connection, at
 * once on an authentication failure, or when a peer that took the connection does not answer the
 * handshake within connectTimeoutMs; the rejection's message says why.
 */
export function createRedisClient(settings: RedisClientSettings): RedisClient {
  const limits: RedisClientLimits = { ...REDIS_CLIENT_DEFAULTS, ...definedOnly(settings) }
  // Set while connect() waits for a first connection: until then failures count against it.
  let startBy: number | null = null
  // Why connect() was given up from outside node-redis (a handshake that never ended).
  let abandoned: string | null = null
  let handshake: ReturnType<typeof setTimeout> | undefined
  const options: RedisClientOptions = {
    url: settings.url,
    ...(settings.name ? { name: settings.name } : {}),
    disableOfflineQueue: true,
    pingInterval: limits.pingIntervalMs,
    commandOptions: { timeout: limits.commandTimeoutMs },
    commandsQueueMaxLength: limits.commandQueueMax,
    socket: {
      connectTimeout: limits.connectTimeoutMs,
      reconnectStrategy: (retries, cause) => {
        const delay = reconnectDelay(retries, limits)
        // An Error makes node-redis stop and reject connect() with its message.
        if (abandoned !== null) return new Error(abandoned)
        if (startBy === null) return delay
        if (isAuthFailure(cause)) return new Error(faultText(cause))
        const left = startBy - Date.now()
        if (left <= 0)
          return new Error(`${faultText(cause)} (no connection within ${limits.startTimeoutMs} ms)`)
        return Math.min(delay, left)
      }
    }
  }
  const client = createClient(options) as RedisClient
  // node-redis bounds the TCP connect but not the handshake after it: a peer that accepts and
  // never answers (not a Redis server) would hold connect() forever.
  const stopHandshakeTimer = (): void => clearTimeout(handshake)
  client.on('connect', () => {
    if (startBy === null) return
    stopHandshakeTimer()
    handshake = setTimeout(() => {
      abandoned = `connected, but no reply to the handshake within ${limits.connectTimeoutMs} ms (is it a Redis server?)`
      client.destroy()
    }, limits.connectTimeoutMs)
  })
  client.on('ready', stopHandshakeTimer)
  client.on('error', stopHandshakeTimer)
  const connect = client.connect.bind(client)
  client.connect = async () => {
    startBy = Date.now() + limits.startTimeoutMs
    abandoned = null
    try {
      return await connect()
    } finally {
      startBy = null
      stopHandshakeTimer()
    }
  }
  reportFaults(client, settings, () => abandoned !== null)
  return client
}

/**
 * A new connection with `old`'s settings (a reader that went deaf is replaced by one), its faults
 * logged and counted as `old`'s are. Its connect() waits for Redis without end: it replaces a
 * connection that was up, so Redis being away now is an outage, not a failed start.
 */
export function duplicateRedisClient(old: RedisClient, settings: RedisClientSettings): RedisClient {
  const client = old.duplicate() as RedisClient
  reportFaults(client, settings, () => false)
  return client
}

/**
 * Logs (warn, once per outage) and counts each connection fault of `client`, and logs its
 * recovery; `abandoned` says that a fault is node-redis's teardown after an abandoned handshake.
 */
function reportFaults(client: RedisClient, settings: RedisClientSettings, abandoned: () => boolean): void {
  // Passwords live in the URL: only host and port may be logged.
  const where = redisAddress(settings.url)
  const name = settings.name !== undefined ? { connection: settings.name } : {}
  let down = false
  client.on('error', (e: unknown) => {
    settings.metrics?.countError('connection')
    // What node-redis reports after an abandoned handshake is its own teardown, not a fault.
    if (!down && !abandoned())
      settings.logger?.warn(
        { redis: where, ...name, fault: e instanceof Error ? e.message : String(e) },
        'redis connection fault'
      )
    down = true
  })
  client.on('ready', () => {
    if (down) settings.logger?.info({ redis: where, ...name }, 'redis connection restored')
    down = false
  })
}

/** Whether `e` is Redis refusing the connection's credentials (or asking for some). */
export function isAuthFailure(e: unknown): boolean {
  return e instanceof ErrorReply && /^(WRONGPASS|NOAUTH)\b|^ERR (invalid password|AUTH\b)/.test(e.message)
}

/**
 * A command this client refused ("backlog": commandQueueMax reached), or gave up before it was
 * written ("timeout": so Redis never runs it), said as a person can act on it; null for any other
 * fault. node-redis's own errors for these two say nothing (a TimeoutError has no message) or
 * nothing of the limit ("The queue is full").
 */
export function unsentCommand(
  e: unknown,
  limits: Pick<RedisClientLimits, 'commandTimeoutMs' | 'commandQueueMax'>
): { kind: 'timeout' | 'backlog'; text: string } | null {
  if (e instanceof TimeoutError)
    return {
      kind: 'timeout',
      text: `not sent to Redis within ${limits.commandTimeoutMs} ms (Redis is not reading)`
    }
  if (e instanceof Error && e.message === 'The queue is full')
    return {
      kind: 'backlog',
      text: `${limits.commandQueueMax} commands are already waiting for Redis (commandQueueMax)`
    }
  return null
}

/** Without the full stop Redis ends its replies with: the text goes inside a sentence. */
function faultText(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).replace(/\.$/, '')
}

/** A readiness check that is false while `client` has no usable connection. */
export function redisReadiness(client: RedisClient, name = 'redis'): ReadinessCheck {
  return { name, check: () => client.isReady || 'no connection to Redis' }
}

/** `host:port` of a Redis URL, without credentials or database. */
export function redisAddress(url: string): string {
  try {
    const u = new URL(url)
    return `${u.hostname}:${u.port || '6379'}`
  } catch {
    return 'an invalid Redis URL'
  }
}

function definedOnly(settings: RedisClientSettings): Partial<RedisClientLimits> {
  const out: Partial<RedisClientLimits> = {}
  for (const key of Object.keys(REDIS_CLIENT_DEFAULTS) as (keyof RedisClientLimits)[]) {
    const value = settings[key]
    if (value !== undefined) out[key] = value
  }
  return out
}
