/**
 * The session registry on Redis: sessions, membership and held frames live in Redis, so that
 * several server processes (on one machine or many) are one channel service. A client may
 * connect to any of them, and a client that reconnects to another one resumes as it would on the
 * same one.
 *
 * - Every step is one Lua script (scripts.ts): atomic across processes, and the frames and
 *   notifies it causes go into the members' inbox streams in the same step, in the session's order.
 * - Each process reads its own inbox stream (the delivery between members) and writes each entry
 *   to its connection. A frame for a connection that is gone meanwhile is held for its place.
 * - Processes heart-beat; one that stops (killed, cut off) has its places handled as lost
 *   connections: they wait out the reconnect grace, then the device's session ends or the web
 *   client leaves, with the notifies of PROTOCOL.md §4.
 * - Fail closed: while Redis is unreachable, creates, joins and resumes are refused with 503 at
 *   once (never queued, never hung: commands time out), frames that cannot be relayed are
 *   answered with 503 naming their session, and readiness is false. It recovers by itself.
 * - Redis losing its data (a restart without persistence) is noticed through the epoch key; each
 *   process then writes back the places its connections hold. What was held for away places is
 *   lost then, and the clients' own delivery numbering (delivery.ts) reports the gap.
 * - Presence and the counters are this process's: it announces the sessions created on it, and
 *   their end wherever that happens (the store tells it through its inbox); it counts the sessions
 *   created and the frames relayed on it.
 */
import { createHash, randomBytes } from 'node:crypto'
import { ErrorReply, ReconnectStrategyError } from 'redis'
import {
  type DataFrame,
  RESUME_TOKEN_KEY,
  type RequestFrame,
  ResultCode,
  frames
} from '../../../shared/protocol'
import type { Logger } from '../../log'
import type { Connection, FrameWriter } from '../connection'
import { EnvelopeMemo, FALL_BACK, readDataEnvelope } from '../data-envelope'
import { type ServerLimits, limitProblem } from '../limits'
import type { RedisMetrics } from '../metrics'
import type { RegistryContext, SessionView } from '../memory-registry'
import {
  REDIS_CLIENT_DEFAULTS,
  type RedisClient,
  type RedisClientLimits,
  type RedisClientSettings,
  createRedisClient,
  duplicateRedisClient,
  isAuthFailure,
  redisAddress,
  unsentCommand
} from '../redis-client'
import type { RegistryStats, SessionInfo, SessionRegistry } from '../registry'
import type { ReadinessCheck } from '../server'
import { checkSessionId, newSessionId, newToken, tokenOf } from '../session-rules'
import * as SCRIPTS from './scripts'

/** The Redis registry's own limits (the protocol's are the server's ServerLimits). */
export const REDIS_REGISTRY_DEFAULTS = {
  /** How often a process writes its heartbeat. */
  heartbeatIntervalMs: 1_000,
  /** A process whose heartbeat is older than this is dead: its places are handled as lost. */
  nodeTimeoutMs: 5_000,
  /** The inbox is probed this often: a reader that does not see its own probe in time is deaf. */
  probeIntervalMs: 2_000,
  /** A probe not read back within this is a deaf reader: readiness goes false, the reader is replaced. */
  probeTimeoutMs: 5_000,
  /**
   * Entries kept per inbox stream (approximate trim): bounds a dead process's inbox until it is
   * reaped. A live process trims what it has read at each probe.
   */
  inboxMaxEntries: 100_000,
  /** Entries read from the inbox at once. */
  inboxReadCount: 512,
  /**
   * An inbox read waits this long for new entries, then asks again. Kept below the clients'
   * commandTimeoutMs (resolveRedisLimits), so that a quiet inbox never looks like a stalled Redis.
   */
  inboxBlockMs: 1_000,
  /** After a failed inbox read, the next one waits this long: a Redis that is down is not spun on. */
  inboxRetryDelayMs: 200,
  /** Session keys live this long after their last refresh (members refresh them while connected). */
  sessionTtlMs: 5 * 60_000,
  /** How often a process refreshes the keys of the sessions its connections are in. */
  refreshIntervalMs: 60_000,
  /** Away places and dead processes looked at per sweep. */
  sweepBatch: 256
} as const

export type RedisRegistryLimits = { -readonly [K in keyof typeof REDIS_REGISTRY_DEFAULTS]: number }

/** The registry's limits and its Redis clients' (REDIS_CLIENT_DEFAULTS), by one set of names. */
export type RedisLimits = RedisRegistryLimits & RedisClientLimits

export const REDIS_LIMITS: Readonly<RedisLimits> = Object.freeze({
  ...REDIS_CLIENT_DEFAULTS,
  ...REDIS_REGISTRY_DEFAULTS
})

/**
 * What is wrong with `value` for the Redis limit `name`, or null: the server limits' rule, and
 * every one at least 1 (a 0 would spin a loop, expire keys at once, or read and reap nothing).
 */
export function redisLimitProblem(name: keyof RedisLimits, value: unknown): string | null {
  return limitProblem(name, value, 1)
}

/**
 * The Redis limits with `overrides` applied, or a RangeError saying what to change; `label` names
 * them in it (the command line passes its flag).
 */
export function resolveRedisLimits(overrides: Partial<RedisLimits> = {}, label = 'Redis limit'): RedisLimits {
  const limits: RedisLimits = { ...REDIS_LIMITS }
  for (const [key, value] of Object.entries(overrides)) {
    if (!isRedisLimitName(key))
      throw new RangeError(`unknown ${label} "${key}"; known: ${Object.keys(REDIS_LIMITS).join(', ')}`)
    if (value !== undefined) limits[key] = value
  }
  for (const key of Object.keys(limits) as (keyof RedisLimits)[]) {
    const problem = redisLimitProblem(key, limits[key])
    if (problem !== null) throw new RangeError(`${label} ${key} ${problem}`)
  }
  if (limits.inboxBlockMs >= limits.commandTimeoutMs) {
    throw new RangeError(
      `${label} inboxBlockMs (${limits.inboxBlockMs} ms) must be below commandTimeoutMs ` +
        `(${limits.commandTimeoutMs} ms): an inbox read answers only when its wait ends, and a ` +
        'command is given commandTimeoutMs to answer; lower inboxBlockMs or raise commandTimeoutMs'
    )
  }
  return limits
}

/** Whether `name` is a Redis limit (its own name, not one inherited such as "toString"). */
export function isRedisLimitName(name: string): name is keyof RedisLimits {
  return Object.hasOwn(REDIS_LIMITS, name)
}

export interface RedisRegistryOptions extends Partial<RedisLimits> {
  url: string
  /** Key prefix, so that several services can share one Redis. */
  prefix?: string
  logger?: Logger
  metrics?: RedisMetrics
}

/** A place one of this process's connections holds, as this process knows it. */
interface LocalPlace {
  token: string
  role: 'd' | 'w'
  channeltype: string
  owner: string
}

/** What every script returns: status, token, channeltype, owner uuid, then held frames. */
type ScriptReply = [status: string, token: string, channeltype: string, owner: string, ...held: string[]]

const UNREACHABLE = 'the shared session store (Redis) is unreachable; try again shortly'

/** A step Redis did not answer within commandTimeoutMs: it may still run there later. */
class NoReply extends Error {}

/** A step never sent to Redis (refused at once, or not written in time): it never runs there. */
class NotSent extends Error {
  constructor(
    text: string,
    readonly kind: 'timeout' | 'backlog'
  ) {
    super(text)
  }
}

export class RedisRegistry implements SessionRegistry {
  readonly node = randomBytes(9).toString('base64url')
  private readonly ctx: RegistryContext
  private readonly limits: ServerLimits
  private readonly writer: FrameWriter
  private readonly own: RedisLimits
  private readonly prefix: string
  private readonly client: RedisClient
  private reader: RedisClient
  private readonly log: Logger | undefined
  private readonly metrics: RedisMetrics | undefined
  private readonly shas = new Map<string, string>()
  /** This process's connections by id (as the inbox names them), and the places they hold. */
  private readonly conns = new Map<number, Connection>()
  private readonly places = new Map<Connection, Map<string, LocalPlace>>()
  /**
   * Sessions created on this process whose start presence announced and whose end it has not
   * yet, with the device's place token: it tells one session of an id from a later one.
   */
  private readonly announced = new Map<string, { token: string; view: SessionView }>()
  /** A membership step under way per connection: its later frames wait for it, in order. */
  private readonly pending = new Map<Connection, Promise<void>>()
  /** Closed connections that ended without a close frame, for steps that finish after them. */
  private readonly cut = new WeakSet<Connection>()
  /** Places Redis could not be told to give up yet (closed connections', late steps'): retried each sweep. */
  private unreleased: {
    sid: string
    token: string
    conn: number
    lost: boolean
    deadline: number
  }[] = []
  private epoch: string | null = null
  /**
   * False from each (re)connection to Redis until the heartbeat has checked the epoch: until then
   * Redis may be a new, empty one, and a step against it would wrongly find nobody a member.
   */
  private verified = false
  /** The inbox is this process's own (a new node id each start): everything in it is for us. */
  private lastId = '0-0'
  private reading = false
  private stopped = false
  private probeSentAt = 0
  private probeSeenAt = 0
  /** Marks this process's probes ("<mark>:<time sent>"); unknown to other processes. */
  private readonly probeMark = randomBytes(9).toString('base64url')
  private deafSince: number | null = null
  private lastRefresh = 0
  private timers: ReturnType<typeof setInterval>[] = []
  private readonly url: string
  private readonly readerSettings: RedisClientSettings

  constructor(ctx: RegistryContext, options: RedisRegistryOptions) {
    this.ctx = ctx
    this.limits = ctx.limits
    this.writer = ctx.writer
    this.own = resolveRedisLimits(definedOnly(options))
    this.prefix = options.prefix ?? 'gb:'
    this.url = options.url
    this.log = options.logger
    this.metrics = options.metrics
    const settings = {
      url: options.url,
      ...clientLimits(this.own),
      ...(options.logger ? { logger: options.logger } : {}),
      ...(options.metrics ? { metrics: options.metrics } : {})
    }
    this.client = createRedisClient({ ...settings, name: `genie-bridge:${this.node}` })
    this.readerSettings = { ...settings, name: `genie-bridge:${this.node}:inbox` }
    this.reader = createRedisClient(this.readerSettings)
  }

  /**
   * Connects both clients and starts the heartbeat, the inbox reader and the probes. Rejects,
   * with both clients closed, when Redis cannot be reached within startTimeoutMs, refuses the
   * credentials, or fails the first heartbeat.
   */
  async start(): Promise<void> {
    // Side by side: both give up at the same time, not one startTimeoutMs after the other.
    const [first, second] = await Promise.allSettled([this.client.connect(), this.reader.connect()])
    const failed = first.status === 'rejected' ? first : second.status === 'rejected' ? second : null
    if (failed !== null) {
      this.abandon()
      const e: unknown = failed.reason
      const refused = e instanceof ReconnectStrategyError && isAuthFailure(e.socketError)
      const where = redisAddress(this.url)
      throw new Error(
        `${refused ? `Redis at ${where} refused authentication` : `cannot reach Redis at ${where}`}: ${message(e)}`
      )
    }
    try {
      await this.heartbeatOnce()
    } catch (e) {
      this.abandon()
      throw new Error(`Redis at ${redisAddress(this.url)} failed the first heartbeat: ${this.describe(e)}`)
    }
    // node-redis says 'ready' again at each reconnection (the first one came with connect()):
    // Redis may have restarted empty, so nothing is trusted until the epoch is checked.
    this.client.on('ready', () => {
      this.verified = false
      void this.heartbeatOnce().catch(() => undefined)
    })
    void this.readLoop().catch((e: unknown) => this.fault('inbox', e))
    this.timers.push(
      setInterval(() => void this.heartbeatOnce().catch(() => undefined), this.own.heartbeatIntervalMs),
      setInterval(() => this.probe(), this.own.probeIntervalMs)
    )
    for (const t of this.timers) t.unref?.()
  }

  get ready(): boolean {
    return this.client.isReady && this.reader.isReady && this.deafSince === null && this.verified
  }

  /** For `GET /readyz`: why new sessions cannot be taken now, or true. */
  readinessCheck(): ReadinessCheck {
    return {
      name: 'redis',
      check: () => {
        if (!this.client.isReady) return `no connection to Redis at ${redisAddress(this.url)}`
        if (!this.reader.isReady || this.deafSince !== null) return 'the inbox reader is not receiving'
        if (!this.verified) return 'the session store is being checked and restored'
        return true
      }
    }
  }

  get sessionCount(): number {
    const ids = new Set<string>()
    for (const places of this.places.values()) for (const id of places.keys()) ids.add(id)
    return ids.size
  }

  stats(): RegistryStats {
    return { sessions: this.sessionCount, awaySlots: 0, heldBytes: 0, heldFrames: 0 }
  }

  listSessions(): SessionInfo[] {
    const out = new Map<string, SessionInfo>()
    for (const [conn, places] of this.places) {
      for (const [sessionid, p] of places) {
        const info = out.get(sessionid) ?? {
          sessionid,
          channeltype: p.channeltype,
          ownerUuid: p.owner,
          memberUuids: [],
          awayUuids: [],
          createdAt: 0
        }
        info.memberUuids.push(conn.uuid ?? '')
        out.set(sessionid, info)
      }
    }
    return [...out.values()]
  }

  // ------------------------------------------------------------------------------------------
  // Session steps

  createSession(conn: Connection, req: RequestFrame): void {
    const requested = req.sessionid
    if (requested !== undefined) {
      const problem = checkSessionId(requested, this.limits.maxSessionIdLength)
      if (problem) return this.writer.sendError(conn, req, ResultCode.BAD_REQUEST, problem)
    }
    this.step(conn, req, async () => {
      const sid = requested ?? newSessionId(() => false)
      const token = newToken()
      const r = await this.run('CREATE', [
        sid,
        conn.uuid as string,
        req.channeltype ?? 'webrtcaudio',
        token,
        this.node,
        String(conn.id),
        tokenOf(req) ?? '',
        String(this.limits.maxSessionsPerUuid),
        String(this.own.sessionTtlMs)
      ]).catch((e: unknown) => this.unanswered(conn, sid, token, e))
      const [status, tok, ch, owner] = r
      if (status === 'limit')
        return this.refuse(
          conn,
          req,
          ResultCode.CONFLICT,
          `session limit reached (${this.limits.maxSessionsPerUuid} per uuid)`
        )
      if (status === 'taken')
        return this.refuse(conn, req, ResultCode.CONFLICT, `session id "${sid}" is taken`)
      if (status === 'live') {
        return this.refuse(
          conn,
          req,
          ResultCode.CONFLICT,
          `session id "${sid}" is taken: its device is connected (a reconnecting device presents its "${RESUME_TOKEN_KEY}")`
        )
      }
      if (this.remember(conn, sid, { token: tok, role: 'd', channeltype: ch, owner })) {
        this.deliverHeld(conn, r)
        const created = frames.createReply({ sessionid: sid, trxid: req.trxid })
        this.writer.send(
          conn,
          status === 'created'
            ? { ...created, [RESUME_TOKEN_KEY]: tok }
            : { ...created, resumed: true, [RESUME_TOKEN_KEY]: tok }
        )
      }
      // After the reply, as the memory registry does. The session exists even if its connection
      // closed meanwhile: its end (the place remember gave up) is then announced like any other.
      // A device taking its session back is no news.
      if (status === 'created') this.started(sid, tok, ch, owner)
    })
  }

  joinSession(conn: Connection, req: RequestFrame): void {
    const sid = req.sessionid
    if (!sid) return this.writer.sendError(conn, req, ResultCode.BAD_REQUEST, 'missing field "sessionid"')
    this.step(conn, req, async () => {
      const token = newToken()
      const r = await this.run('JOIN', [
        sid,
        conn.uuid as string,
        token,
        this.node,
        String(conn.id),
        tokenOf(req) ?? '',
        String(this.limits.maxJoinersPerSession),
        String(this.own.sessionTtlMs)
      ]).catch((e: unknown) => this.unanswered(conn, sid, token, e))
      const [status, tok, ch, owner] = r
      if (status === 'notfound')
        return this.refuse(conn, req, ResultCode.NOT_FOUND, `session "${sid}" not found`)
      if (status === 'full') return this.refuse(conn, req, ResultCode.CONFLICT, `session "${sid}" is full`)
      const role = this.places.get(conn)?.get(sid)?.role ?? 'w'
      if (!this.remember(conn, sid, { token: tok, role, channeltype: ch, owner })) return
      this.deliverHeld(conn, r)
      const joined = frames.successReply('join_session', req.trxid)
      this.writer.send(
        conn,
        status === 'joined'
          ? { ...joined, [RESUME_TOKEN_KEY]: tok }
          : { ...joined, resumed: true, [RESUME_TOKEN_KEY]: tok }
      )
    })
  }

  destroySession(conn: Connection, req: RequestFrame): void {
    const sid = req.sessionid
    if (!sid) return this.writer.sendError(conn, req, ResultCode.BAD_REQUEST, 'missing field "sessionid"')
    this.step(conn, req, async () => {
      const [status] = await this.run('DESTROY', [sid, this.node, String(conn.id)])
      if (status === 'notfound')
        return this.refuse(conn, req, ResultCode.NOT_FOUND, `session "${sid}" not found`)
      if (status === 'forbidden')
        return this.refuse(conn, req, ResultCode.FORBIDDEN, `not a member of session "${sid}"`)
      this.places.get(conn)?.delete(sid)
      this.writer.send(conn, frames.successReply('destroy_session', req.trxid))
    })
  }

  relay(conn: Connection, frame: DataFrame, raw: Buffer): void {
    this.relayTo(conn, frame.sessionid, raw, frame)
  }

  relayFast(conn: Connection, raw: Buffer): boolean {
    const places = this.places.get(conn)
    if (conn.uuid === null || places === undefined || places.size === 0) return false
    const only = places.size === 1 ? places.keys().next().value : undefined
    const memo = (conn.envelope ??= new EnvelopeMemo())
    const sessionid = readDataEnvelope(raw, only, this.limits.maxNestingDepth, memo)
    if (sessionid === FALL_BACK) return false
    if (sessionid !== undefined && !places.has(sessionid)) return false // refused: the parser's path
    this.relayTo(conn, sessionid, raw, null)
    return true
  }

  disconnected(conn: Connection, lost: boolean): void {
    const places = this.places.get(conn)
    this.places.delete(conn)
    this.conns.delete(conn.id)
    this.pending.delete(conn)
    if (lost) this.cut.add(conn)
    if (!places) return
    for (const [sid, p] of places) this.queueRelease(conn, sid, p.token)
    void this.release()
  }

  /**
   * A create or join that Redis did not answer in time may still run there later. The place it
   * would take under `token` (made up by this process for that step, so no client knows it) is
   * given up after it: the LEAVE is sent now, so Redis runs it after the late step (one
   * connection's commands run in order) and before this connection's later steps, and it does
   * nothing when the step took no such place (it resumed one, was refused, or never ran). One that
   * cannot be sent is left to the sweep, as a closed connection's place is. Then `e` fails the step.
   */
  private unanswered(conn: Connection, sid: string, token: string, e: unknown): never {
    if (e instanceof NoReply) {
      void this.run('LEAVE', [sid, token, this.node, String(conn.id), '0', '0']).catch((f: unknown) => {
        this.fault('leave', f)
        if (!(f instanceof NoReply)) this.queueRelease(conn, sid, token)
      })
    }
    throw e
  }

  /** A closed connection's place, to be given up in Redis as its disconnect says (see release). */
  private queueRelease(conn: Connection, sid: string, token: string): void {
    this.unreleased.push({
      sid,
      token,
      conn: conn.id,
      lost: this.cut.has(conn) && this.limits.reconnectGraceMs > 0,
      deadline: Date.now() + this.limits.reconnectGraceMs
    })
  }

  sweep(now: number): void {
    if (!this.client.isReady) return
    void this.release()
    void this.sweepOnce(now)
  }
  private readonly sweepOnce = oneAtATime((now: number) =>
    this.sweepStore(now).catch((e: unknown) => this.fault('sweep', e))
  )

  async shutdown(): Promise<void> {
    // Members on other processes learn that their sessions end; this process's own members too.
    for (const [conn, places] of [...this.places]) {
      for (const sid of places.keys()) {
        const [status] = await this.run('DESTROY', [sid, this.node, String(conn.id)]).catch(() => [''])
        // The inbox is read no longer after this: what this process ends here is announced now.
        const own = this.announced.get(sid)
        if (status === 'destroyed' && own !== undefined) this.ended(sid, own.token)
      }
    }
    await this.stop()
  }

  async stop(): Promise<void> {
    this.stopped = true
    for (const t of this.timers) clearInterval(t)
    this.timers = []
    await Promise.allSettled([this.client.close(), this.reader.close()])
  }

  /** A start that failed: nothing to wait for, so whatever connected is dropped at once. */
  private abandon(): void {
    this.stopped = true
    for (const c of [this.client, this.reader]) if (c.isOpen) c.destroy()
  }

  // ------------------------------------------------------------------------------------------

  /**
   * Runs a membership step of `conn` after its earlier ones; fails closed (503) while Redis is
   * unreachable, at once, rather than queueing or hanging.
   */
  private step(conn: Connection, req: RequestFrame, fn: () => Promise<void>): void {
    this.conns.set(conn.id, conn)
    if (!this.ready) return this.refuse(conn, req, ResultCode.UNAVAILABLE, UNREACHABLE)
    const before = this.pending.get(conn) ?? Promise.resolve()
    const done = before
      .then(fn)
      .catch((e: unknown) => {
        this.fault(req.operation, e)
        this.refuse(conn, req, ResultCode.UNAVAILABLE, storeFault(e))
      })
      .finally(() => {
        if (this.pending.get(conn) === done) this.pending.delete(conn)
      })
    this.pending.set(conn, done)
  }

  private relayTo(
    conn: Connection,
    sessionid: string | undefined,
    raw: Buffer,
    frame: DataFrame | null
  ): void {
    const go = (): void => {
      if (!this.verified) return this.undelivered(conn, sessionid, frame)
      const places = this.places.get(conn)
      const sid = sessionid ?? (places?.size === 1 ? (places.keys().next().value as string) : undefined)
      if (sid === undefined || !places?.has(sid))
        return this.refuseData(conn, sessionid, frame, places?.size ?? 0)
      const text = raw.toString('utf8')
      void this.run('RELAY', [
        sid,
        this.node,
        String(conn.id),
        text,
        String(this.limits.graceBufferFrames),
        String(this.limits.graceBufferBytes),
        String(this.limits.graceBufferTotalBytes)
      ]).then(
        ([status]) => {
          if (status === 'relayed') {
            this.ctx.counters.framesRelayed++
            this.ctx.counters.bytesRelayed += raw.length
          } else if (status === 'notmember') {
            this.log?.info(
              { node: this.node, conn: conn.id, session: sid },
              'relay refused: no longer a member'
            )
            places.delete(sid)
            this.writer.sendError(
              conn,
              frame,
              ResultCode.FORBIDDEN,
              `not a member of session "${sid}"; nothing was forwarded`
            )
          }
        },
        (e: unknown) => {
          this.fault('relay', e)
          this.undelivered(conn, sid, frame, e)
        }
      )
    }
    const before = this.pending.get(conn)
    if (before === undefined) go()
    else void before.then(go)
  }

  /**
   * Never dropped silently: the sender learns that this frame was not delivered, or, when Redis
   * did not answer in time (`fault` a NoReply), that it may be delivered late.
   */
  private undelivered(
    conn: Connection,
    sessionid: string | undefined,
    frame: DataFrame | null,
    fault?: unknown
  ): void {
    this.writer.send(
      conn,
      frames.errorReply({
        result_cd: ResultCode.UNAVAILABLE,
        result_msg:
          fault instanceof NoReply
            ? `not confirmed: ${fault.message} from the shared session store (Redis); the frame may still be delivered`
            : `not delivered: ${fault === undefined ? UNREACHABLE : storeFault(fault)}`,
        sessionid,
        trxid: frame?.trxid
      })
    )
  }

  private refuseData(
    conn: Connection,
    sessionid: string | undefined,
    frame: DataFrame | null,
    memberships: number
  ): void {
    const about = frame ?? {
      msgtype: 'data' as const,
      data: null,
      ...(sessionid !== undefined ? { sessionid } : {})
    }
    if (sessionid !== undefined) {
      return this.writer.sendError(
        conn,
        about,
        ResultCode.FORBIDDEN,
        `not a member of session "${sessionid}"; nothing was forwarded`
      )
    }
    this.writer.sendError(
      conn,
      about,
      memberships === 0 ? ResultCode.FORBIDDEN : ResultCode.BAD_REQUEST,
      memberships === 0
        ? 'not a member of any session; nothing was forwarded'
        : 'missing field "sessionid" (member of several sessions)'
    )
  }

  private refuse(conn: Connection, req: RequestFrame, code: number, msg: string): void {
    this.writer.sendError(conn, req, code, msg)
  }

  /**
   * Keeps a place a step gave `conn`; false when the connection closed while the step ran:
   * its disconnect found nothing to give up then, so the place is given up now.
   */
  private remember(conn: Connection, sid: string, place: LocalPlace): boolean {
    if (conn.closed) {
      this.queueRelease(conn, sid, place.token)
      void this.release()
      return false
    }
    let places = this.places.get(conn)
    if (!places) this.places.set(conn, (places = new Map()))
    places.set(sid, place)
    // A late step's place that could not be given up at once (see unanswered) and that this
    // connection's retry has now taken as its own: it stays, and the sweep must not give it up.
    this.unreleased = this.unreleased.filter(
      (u) => !(u.conn === conn.id && u.sid === sid && u.token === place.token)
    )
    return true
  }

  /** A session created on this process: counted, and announced (presence). */
  private started(sid: string, token: string, channeltype: string, owner: string): void {
    this.ctx.counters.sessionsCreated++
    // The id was free, so an earlier session of it that is still announced has ended unnoticed.
    const earlier = this.announced.get(sid)
    if (earlier !== undefined) this.ended(sid, earlier.token)
    const view: SessionView = { id: sid, ownerUuid: owner, channeltype, members: { size: 1 } }
    this.announced.set(sid, { token, view })
    this.ctx.sessionStarted(view)
  }

  /** A session created on this process ended, wherever that happened: announced once. */
  private ended(sid: string, token: string): void {
    const own = this.announced.get(sid)
    if (own === undefined || own.token !== token) return
    this.announced.delete(sid)
    this.ctx.sessionEnded(own.view)
  }

  /**
   * The ends this process was not told of (its inbox was deleted while it was taken for dead, or
   * Redis lost the session): a session announced here whose device's place is gone has ended.
   */
  private async checkAnnounced(): Promise<void> {
    if (!this.verified || this.announced.size === 0) return
    const own = [...this.announced]
    const p = this.prefix
    const kept = (await Promise.all([
      ...own.map(([sid, a]) => this.client.sendCommand(['HEXISTS', `${p}s:${sid}`, `p:${a.token}`])),
      this.client.sendCommand(['GET', `${p}epoch`])
    ])) as unknown[]
    // The epoch, read after the checks, says that the store kept its data through them: an empty
    // one, not yet written back, would answer "gone" for every session.
    if (!this.verified || kept.pop() !== this.epoch) return
    own.forEach(([sid, a], i) => {
      if (kept[i] === 0) this.ended(sid, a.token)
    })
  }

  private deliverHeld(conn: Connection, reply: ScriptReply): void {
    for (let i = 4; i < reply.length; i++) this.writer.sendRaw(conn, reply[i] as string)
  }

  /** Tells Redis of closed connections' places, oldest first; what fails waits for the next sweep. */
  private releasing = false
  private async release(): Promise<void> {
    if (this.releasing || !this.client.isReady) return
    this.releasing = true
    try {
      while (this.unreleased.length > 0) {
        const u = this.unreleased[0]!
        await this.run('LEAVE', [
          u.sid,
          u.token,
          this.node,
          String(u.conn),
          u.lost ? '1' : '0',
          String(u.deadline)
        ])
        // By identity: remember() may have dropped entries meanwhile.
        const done = this.unreleased.indexOf(u)
        if (done >= 0) this.unreleased.splice(done, 1)
      }
    } catch (e) {
      this.fault('leave', e)
    } finally {
      this.releasing = false
    }
  }

  private async sweepStore(now: number): Promise<void> {
    const p = this.prefix
    const dead = (await this.client.sendCommand([
      'ZRANGEBYSCORE',
      `${p}nodes`,
      '-inf',
      String(now - this.own.nodeTimeoutMs),
      'LIMIT',
      '0',
      String(this.own.sweepBatch)
    ])) as string[]
    for (const node of dead) await this.run('REAP', [node, String(this.limits.reconnectGraceMs)])
    const due = (await this.client.sendCommand([
      'ZRANGEBYSCORE',
      `${p}away`,
      '-inf',
      String(now),
      'LIMIT',
      '0',
      String(this.own.sweepBatch)
    ])) as string[]
    for (const m of due) await this.run('EXPIRE', [m])
    if (now - this.lastRefresh >= this.own.refreshIntervalMs) {
      this.lastRefresh = now
      const ids = new Set<string>()
      for (const places of this.places.values()) for (const id of places.keys()) ids.add(id)
      await Promise.all(
        [...ids].map((id) =>
          this.client.sendCommand(['PEXPIRE', `${p}s:${id}`, String(this.own.sessionTtlMs)])
        )
      )
      await this.checkAnnounced()
    }
  }

  /**
   * Writes the heartbeat, and notices a store that lost its data (a new epoch) or a gap long
   * enough for the other processes to have taken this one for dead: either way its connections'
   * places are written back, since they are still here.
   */
  private lastBeat = 0
  private readonly heartbeatOnce = oneAtATime(() => this.heartbeat())
  private async heartbeat(): Promise<void> {
    const p = this.prefix
    const now = Date.now()
    await this.client.sendCommand(['ZADD', `${p}nodes`, String(now), this.node])
    const gap = this.lastBeat > 0 && now - this.lastBeat >= this.own.nodeTimeoutMs
    this.lastBeat = now
    const mine = randomBytes(9).toString('base64url')
    await this.client.sendCommand(['SET', `${p}epoch`, mine, 'NX'])
    const epoch = (await this.client.sendCommand(['GET', `${p}epoch`])) as string | null
    // Redis knows the scripts before any step runs (first start, or a Redis that restarted): a
    // NOSCRIPT answer would send each step again later, and later steps could overtake it.
    if (!this.verified) await this.loadScripts()
    const lost = this.epoch !== null && epoch !== this.epoch
    if (lost || gap) {
      this.log?.warn(
        { node: this.node },
        lost ? 'the session store lost its data: restoring places' : 'back after a gap: restoring places'
      )
      await this.restorePlaces(lost)
    }
    this.epoch = epoch
    this.verified = true
  }

  private async restorePlaces(rebuilding: boolean): Promise<void> {
    for (const [conn, places] of this.places) {
      for (const [sid, pl] of [...places]) {
        const restored = await this.run('RESTORE', [
          sid,
          pl.token,
          pl.role,
          conn.uuid ?? '',
          pl.owner,
          pl.channeltype,
          this.node,
          String(conn.id),
          String(this.own.sessionTtlMs),
          rebuilding ? '1' : '0',
          // Written back by the process that announced it, a session's end is still told here.
          this.announced.get(sid)?.token === pl.token ? this.node : ''
        ])
        if (restored[0] !== 'gone') {
          this.deliverHeld(conn, restored)
          continue
        }
        // The place ended while this process was cut off: its grace ran out.
        places.delete(sid)
        if (pl.role === 'd')
          this.writer.send(conn, frames.sessionNotify('destroy_session', sid, pl.channeltype))
      }
    }
  }

  /** Reads the inbox stream and writes each entry to its connection, for as long as it runs. */
  private async readLoop(): Promise<void> {
    if (this.reading) return
    this.reading = true
    const key = `${this.prefix}in:${this.node}`
    while (!this.stopped) {
      let reply: unknown
      try {
        // Waits below the clients' command timeout (resolveRedisLimits): a quiet inbox is no fault.
        reply = await this.reader.sendCommand([
          'XREAD',
          'COUNT',
          String(this.own.inboxReadCount),
          'BLOCK',
          String(this.own.inboxBlockMs),
          'STREAMS',
          key,
          this.lastId
        ])
      } catch (e) {
        if (this.stopped) break
        this.fault('inbox', e)
        await new Promise((r) => setTimeout(r, this.own.inboxRetryDelayMs))
        continue
      }
      if (!Array.isArray(reply)) continue
      for (const stream of reply as [string, [string, string[]][]][]) {
        for (const [id, fields] of stream[1]) {
          this.lastId = id
          // One entry that cannot be written costs that entry, never the reader (and the process).
          try {
            this.deliver(fields)
          } catch (e) {
            this.fault('inbox', e)
          }
        }
      }
    }
    this.reading = false
  }

  private deliver(fields: string[]): void {
    const f: Record<string, string> = {}
    for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!
    if (f['probe'] !== undefined) {
      // Only this process's own probes count: anyone who can write to the inbox could otherwise
      // make a reader that reads look deaf (an old time), or a deaf one look fine (a new time).
      const [mark, at] = f['probe'].split(':')
      if (mark !== this.probeMark || at === undefined) return
      this.probeSeenAt = Math.max(this.probeSeenAt, Number(at))
      if (this.deafSince !== null) this.log?.info({ node: this.node }, 'inbox reader receiving again')
      this.deafSince = null
      return
    }
    if (f['ended'] !== undefined) return this.ended(f['ended'], f['t'] ?? '')
    const conn = this.conns.get(Number(f['c']))
    const frame = f['f']
    if (frame === undefined) return
    const sid = f['s']
    const tok = f['t']
    if (conn !== undefined && !conn.closed) {
      // Its session ended (e): the place goes now, or it would be listed until its next frame.
      // By token: a later place of the same id, taken since, stays.
      if (f['e'] !== undefined && sid !== undefined) {
        const places = this.places.get(conn)
        if (places?.get(sid)?.token === tok) places?.delete(sid)
      }
      return this.writer.sendRaw(conn, frame)
    }
    // Its connection closed meanwhile: the place may be waiting for it (grace).
    if (sid !== undefined && tok !== undefined) {
      void this.run('HOLD', [
        sid,
        tok,
        frame,
        String(this.limits.graceBufferFrames),
        String(this.limits.graceBufferBytes),
        String(this.limits.graceBufferTotalBytes)
      ]).catch((e: unknown) => this.fault('hold', e))
    }
  }

  /** A subscriber can go deaf while its connection looks fine: it must read its own probe back. */
  private probe(): void {
    const now = Date.now()
    if (
      this.probeSentAt > this.probeSeenAt &&
      now - this.probeSentAt > this.own.probeTimeoutMs &&
      this.deafSince === null
    ) {
      this.deafSince = now
      this.metrics?.countError('subscriber')
      this.log?.warn({ node: this.node }, 'inbox reader is deaf: replacing it')
      const old = this.reader
      this.reader = duplicateRedisClient(old, this.readerSettings)
      // Destroyed, not closed: close() waits for the read it never answers, and so would the
      // inbox loop, which awaits it, instead of going on with the new reader.
      old.destroy()
      void this.reader.connect().catch((e: unknown) => this.fault('inbox', e))
    }
    if (this.deafSince !== null && this.client.isReady)
      void this.realign().catch((e: unknown) => this.fault('inbox', e))
    if (this.client.isReady) void this.probeOnce(now)
  }

  /** A probe Redis has not answered yet is still the one to read back: none (and no trim) behind it. */
  private readonly probeOnce = oneAtATime(async (now: number) => {
    // A stream keeps what was read from it: what this process has handled goes, or every
    // inbox would grow until its length cap.
    if (this.lastId !== '0-0') {
      void this.client
        .sendCommand(['XTRIM', `${this.prefix}in:${this.node}`, 'MINID', '~', this.lastId])
        .catch(() => undefined)
    }
    this.probeSentAt = this.probeSentAt > this.probeSeenAt ? this.probeSentAt : now
    await this.client
      .sendCommand([
        'XADD',
        `${this.prefix}in:${this.node}`,
        'MAXLEN',
        '~',
        String(this.own.inboxMaxEntries),
        '*',
        'probe',
        `${this.probeMark}:${now}`
      ])
      // Logged: a probe Redis refuses (its inbox key broken) leaves the reader looking deaf.
      .catch((e: unknown) => this.fault('probe', e))
  })

  /**
   * While the reader is deaf: a read position past the inbox's last entry (the stream was deleted
   * and begun again with lower ids, or held an id no later entry can follow) would never read
   * anything, and the trim would delete what arrives. Everything in such a stream came after
   * the last entry read, so it is read from the start.
   */
  private async realign(): Promise<void> {
    const top = (await this.client.sendCommand([
      'XREVRANGE',
      `${this.prefix}in:${this.node}`,
      '+',
      '-',
      'COUNT',
      '1'
    ])) as [string, string[]][] | null
    const last = top?.[0]?.[0] ?? '0-0'
    if (streamIdAfter(this.lastId, last)) {
      this.log?.warn(
        { node: this.node, readFrom: this.lastId, last },
        'inbox read position past its stream: reading it from the start'
      )
      this.lastId = '0-0'
    }
  }

  private async loadScripts(): Promise<void> {
    for (const [name, script] of Object.entries(SCRIPTS)) {
      this.shas.set(name, (await this.client.sendCommand(['SCRIPT', 'LOAD', script])) as string)
    }
  }

  /**
   * Runs a script by its SHA1 (computed here, so nothing is awaited before it is sent: steps go to
   * Redis in the order they were asked for, which keeps a connection's frames in order). A Redis
   * that does not know the script yet (first use, or after a restart) answers NOSCRIPT, and the
   * script itself is sent then, at once, still in order.
   */
  private async run(name: keyof typeof SCRIPTS, args: string[]): Promise<ScriptReply> {
    const started = process.hrtime.bigint()
    const script = SCRIPTS[name]
    const argv = [
      this.prefix,
      String(Date.now()),
      String(this.own.nodeTimeoutMs),
      String(this.own.inboxMaxEntries),
      ...args
    ]
    let sha = this.shas.get(name)
    if (sha === undefined) this.shas.set(name, (sha = createHash('sha1').update(script).digest('hex')))
    const send = async (): Promise<unknown> => {
      try {
        return await this.client.sendCommand(['EVALSHA', sha, '0', ...argv])
      } catch (e) {
        if (!message(e).startsWith('NOSCRIPT')) throw e
        return await this.client.sendCommand(['EVAL', script, '0', ...argv])
      }
    }
    // node-redis stops its command timeout once a command is written: the wait for the answer
    // is bounded here, or a Redis that stalls while connected would hold the step (and every
    // later one of its connection) until it answers. Sent first, so that node-redis's timer runs
    // out before this one: a command still unwritten then fails as not sent (it never runs in
    // Redis), not as unanswered (it may).
    const sent = send()
    const ms = this.own.commandTimeoutMs
    let deadline: ReturnType<typeof setTimeout> | undefined
    const late = new Promise<never>((_, reject) => {
      deadline = setTimeout(() => reject(new NoReply(`no reply within ${ms} ms`)), ms)
    })
    try {
      const reply = await Promise.race([sent, late])
      this.metrics?.observeRoundTrip(name.toLowerCase(), Number(process.hrtime.bigint() - started) / 1e9)
      return (Array.isArray(reply) ? reply.map(String) : [String(reply), '', '', '']) as ScriptReply
    } catch (e) {
      const unsent = unsentCommand(e, this.own)
      const fault = unsent === null ? e : new NotSent(unsent.text, unsent.kind)
      this.metrics?.countError(
        fault instanceof NotSent ? fault.kind : fault instanceof NoReply ? 'timeout' : 'reply'
      )
      throw fault
    } finally {
      clearTimeout(deadline)
    }
  }

  private fault(what: string | undefined, e: unknown): void {
    this.log?.warn({ node: this.node, step: what, fault: this.describe(e) }, 'redis step failed')
  }

  /** What went wrong, also for the commands sent without run() (heartbeat, sweep, probe). */
  private describe(e: unknown): string {
    return unsentCommand(e, this.own)?.text ?? message(e)
  }
}

/**
 * `run` while no earlier call of it is unfinished; otherwise that call, and nothing new: while
 * Redis stalls, the periodic work (heartbeat, probe, sweep) queues no more commands behind what
 * it has not answered.
 */
function oneAtATime<A extends unknown[]>(run: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  let current: Promise<void> | null = null
  return (...args) => (current ??= run(...args).finally(() => (current = null)))
}

/**
 * Why a step or a frame failed, for its 503: Redis answering with an error (a script that failed,
 * a key an operator must look at) is not Redis being away, and is said so, with Redis's words.
 */
function storeFault(e: unknown): string {
  if (e instanceof ErrorReply) return `the shared session store (Redis) refused it: ${e.message}`
  return `${UNREACHABLE} (${message(e)})`
}

/** Whether stream entry id `a` ("ms-seq") comes after `b`. */
function streamIdAfter(a: string, b: string): boolean {
  const [am = '0', as = '0'] = a.split('-')
  const [bm = '0', bs = '0'] = b.split('-')
  const ams = BigInt(am)
  const bms = BigInt(bm)
  return ams !== bms ? ams > bms : BigInt(as) > BigInt(bs)
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}

function definedOnly(options: RedisRegistryOptions): Partial<RedisLimits> {
  const out: Partial<RedisLimits> = {}
  for (const key of Object.keys(REDIS_LIMITS) as (keyof RedisLimits)[]) {
    const v = options[key]
    if (v !== undefined) out[key] = v
  }
  return out
}

function clientLimits(limits: RedisLimits): RedisClientLimits {
  const out = {} as RedisClientLimits
  for (const key of Object.keys(REDIS_CLIENT_DEFAULTS) as (keyof RedisClientLimits)[]) out[key] = limits[key]
  return out
}
