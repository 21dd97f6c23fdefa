/**
 * The in-memory session registry: sessions, their members' places, the slots held for lost
 * connections and what is held for them, and the relay between members, all in this process. The
 * embedded server's (and the headless server's default) registry: every step is synchronous, so
 * the relay path costs what it always did.
 */
import {
  type ChannelType,
  type Frame,
  LEAVE_SESSION,
  RESUME_TOKEN_KEY,
  type RequestFrame,
  ResultCode,
  frames
} from '../../shared/protocol'
import type { Connection, FrameWriter } from './connection'
import { EnvelopeMemo, FALL_BACK, readDataEnvelope } from './data-envelope'
import type { Logger } from '../log'
import type { ServerLimits } from './limits'
import type { RegistryStats, SessionInfo, SessionRegistry } from './registry'
import { checkSessionId, newSessionId, newToken, tokenOf } from './session-rules'

interface Session {
  id: string
  channeltype: ChannelType
  ownerUuid: string
  /** The owner's connection; while the owner is away, its lost connection. */
  owner: Connection
  /** Connected members only: the relay writes to each of them. */
  members: Set<Connection>
  /**
   * The resume token of each connected member's place (see RESUME_TOKEN_KEY): membership belongs
   * to a connection and its role, and only this token moves a live place to another connection.
   */
  tokens: Map<Connection, string>
  /** Slots of members that are away (null when none: the relay checks one field). */
  away: AwaySlot[] | null
  createdAt: number
}

/** A member slot kept for a lost connection, with what was sent to it meanwhile. */
interface AwaySlot {
  uuid: string
  session: Session
  /** The device's place (the creator), or a web client's. */
  owner: boolean
  /** The place's resume token: the same client comes back with it. */
  token: string
  deadline: number
  held: (string | Buffer)[]
  heldBytes: number
}

/** Running totals the registry adds to (read by GET /metrics; see ServerCounters). */
export interface RegistryCounters {
  sessionsCreated: number
  framesRelayed: number
  bytesRelayed: number
}

export interface RegistryContext {
  limits: ServerLimits
  writer: FrameWriter
  log: Logger
  counters: RegistryCounters
  /** The server's coarse clock (advanced by its sweep): the relay path never reads the system clock. */
  now(): number
  /** A session began / ended (presence follows them). */
  sessionStarted(session: SessionView): void
  sessionEnded(session: SessionView): void
}

/** What the server's presence needs to know of a session. */
export interface SessionView {
  id: string
  ownerUuid: string
  channeltype: ChannelType
  members: { size: number }
}

export class MemoryRegistry implements SessionRegistry {
  readonly ready = true
  private readonly limits: ServerLimits
  private readonly writer: FrameWriter
  private readonly sessions = new Map<string, Session>()
  private readonly sessionsByUuid = new Map<string, Set<Session>>()
  private readonly awaySlots = new Set<AwaySlot>()
  private heldBytes = 0
  private readonly log: Logger
  private readonly counters: RegistryCounters

  constructor(private readonly ctx: RegistryContext) {
    this.limits = ctx.limits
    this.writer = ctx.writer
    this.log = ctx.log
    this.counters = ctx.counters
  }

  get sessionCount(): number {
    return this.sessions.size
  }

  stats(): RegistryStats {
    let heldFrames = 0
    for (const slot of this.awaySlots) heldFrames += slot.held.length
    return {
      sessions: this.sessions.size,
      awaySlots: this.awaySlots.size,
      heldBytes: this.heldBytes,
      heldFrames
    }
  }

  listSessions(): SessionInfo[] {
    return [...this.sessions.values()].map((s) => ({
      sessionid: s.id,
      channeltype: s.channeltype,
      ownerUuid: s.ownerUuid,
      memberUuids: [...s.members].map((m) => m.uuid ?? ''),
      awayUuids: (s.away ?? []).map((slot) => slot.uuid),
      createdAt: s.createdAt
    }))
  }

  /** Graceful shutdown: every session ends, and its members are told. */
  shutdown(): void {
    for (const session of [...this.sessions.values()]) this.endSession(session, null)
  }

  sweep(now: number): void {
    for (const slot of this.awaySlots) if (now >= slot.deadline) this.expireSlot(slot)
  }

  createSession(conn: Connection, req: RequestFrame): void {
    const uuid = conn.uuid as string
    const requested = req.sessionid
    if (requested !== undefined) {
      const problem = checkSessionId(requested, this.limits.maxSessionIdLength)
      if (problem) return this.writer.sendError(conn, req, ResultCode.BAD_REQUEST, problem)
      const existing = this.sessions.get(requested)
      if (existing) return this.recreateSession(conn, req, existing)
    }
    const owned = this.sessionsByUuid.get(uuid)
    if (owned && owned.size >= this.limits.maxSessionsPerUuid) {
      return this.writer.sendError(
        conn,
        req,
        ResultCode.CONFLICT,
        `session limit reached (${this.limits.maxSessionsPerUuid} per uuid)`
      )
    }
    const id = requested ?? newSessionId((id) => this.sessions.has(id))
    const session: Session = {
      id,
      channeltype: req.channeltype ?? 'webrtcaudio',
      ownerUuid: uuid,
      owner: conn,
      members: new Set(),
      tokens: new Map(),
      away: null,
      createdAt: this.ctx.now()
    }
    this.sessions.set(id, session)
    if (owned) owned.add(session)
    else this.sessionsByUuid.set(uuid, new Set([session]))
    const token = this.seat(session, conn, newToken())
    this.counters.sessionsCreated++
    this.log.info({ conn: conn.id, uuid, session: id }, 'session created')
    this.writer.send(conn, {
      ...frames.createReply({ sessionid: id, trxid: req.trxid }),
      [RESUME_TOKEN_KEY]: token
    })
    this.ctx.sessionStarted(session)
  }

  /**
   * A create naming a session that exists. Only the device's own place can be taken back: its
   * slot held since its connection was lost (by the same uuid), or its live place by a
   * connection that presents the place's resume token. A create never takes a joiner's place,
   * and a live device is never displaced by a uuid alone. Nobody else is told: nothing changed
   * for them. What was held while away comes first, so that the reply finds the device caught up.
   */
  private recreateSession(conn: Connection, req: RequestFrame, session: Session): void {
    const id = session.id
    if (session.ownerUuid !== conn.uuid) {
      return this.writer.sendError(conn, req, ResultCode.CONFLICT, `session id "${id}" is taken`)
    }
    let token: string | undefined
    if (session.owner === conn) {
      token = session.tokens.get(conn)
    } else {
      const slot = session.away?.find((s) => s.owner)
      if (slot) {
        this.takeSlot(slot)
        session.owner = conn
        token = this.seat(session, conn, slot.token)
        this.deliverHeld(conn, slot)
      } else {
        const presented = tokenOf(req)
        if (presented !== undefined && presented === session.tokens.get(session.owner))
          token = this.moveSeat(session, session.owner, conn)
      }
    }
    if (token === undefined) {
      return this.writer.sendError(
        conn,
        req,
        ResultCode.CONFLICT,
        `session id "${id}" is taken: its device is connected (a reconnecting device presents its "${RESUME_TOKEN_KEY}")`
      )
    }
    this.log.info({ conn: conn.id, uuid: conn.uuid, session: id }, 'session resumed by its device')
    this.writer.send(conn, {
      ...frames.createReply({ sessionid: id, trxid: req.trxid }),
      resumed: true,
      [RESUME_TOKEN_KEY]: token
    })
  }

  joinSession(conn: Connection, req: RequestFrame): void {
    const id = req.sessionid
    if (!id) return this.writer.sendError(conn, req, ResultCode.BAD_REQUEST, 'missing field "sessionid"')
    const session = this.sessions.get(id)
    if (!session) return this.writer.sendError(conn, req, ResultCode.NOT_FOUND, `session "${id}" not found`)
    const resumed = (token: string): Frame => ({
      ...frames.successReply('join_session', req.trxid),
      resumed: true,
      [RESUME_TOKEN_KEY]: token
    })
    const own = session.tokens.get(conn)
    if (own !== undefined) return this.writer.send(conn, resumed(own))
    // A web client's place comes back to the same client: by its token, or, for a slot held
    // since its connection was lost, by the same uuid. The device's place and slot are never
    // a joiner's, even with the device's uuid: in KT's flow both sides present the ContainerId.
    const presented = tokenOf(req)
    const slot =
      session.away?.find((s) => !s.owner && presented !== undefined && s.token === presented) ??
      session.away?.find((s) => !s.owner && s.uuid === conn.uuid)
    if (slot) {
      this.takeSlot(slot)
      this.seat(session, conn, slot.token)
      this.deliverHeld(conn, slot) // first, as for create_session
      this.log.info({ conn: conn.id, uuid: conn.uuid, session: id }, 'session resumed by a member')
      return this.writer.send(conn, resumed(slot.token))
    }
    const twin = presented === undefined ? undefined : this.memberWithToken(session, presented)
    if (twin !== undefined && twin !== session.owner) {
      return this.writer.send(conn, resumed(this.moveSeat(session, twin, conn)))
    }
    if (this.joinerCount(session) >= this.limits.maxJoinersPerSession) {
      return this.writer.sendError(conn, req, ResultCode.CONFLICT, `session "${id}" is full`)
    }
    const token = this.seat(session, conn, newToken())
    this.log.info({ conn: conn.id, uuid: conn.uuid, session: id }, 'session joined')
    this.writer.send(conn, { ...frames.successReply('join_session', req.trxid), [RESUME_TOKEN_KEY]: token })
    this.fanOut(session, conn, JSON.stringify(frames.sessionNotify('join_session', id, session.channeltype)))
  }

  destroySession(conn: Connection, req: RequestFrame): void {
    const id = req.sessionid
    if (!id) return this.writer.sendError(conn, req, ResultCode.BAD_REQUEST, 'missing field "sessionid"')
    const session = this.sessions.get(id)
    if (!session) return this.writer.sendError(conn, req, ResultCode.NOT_FOUND, `session "${id}" not found`)
    if (!session.members.has(conn)) {
      return this.writer.sendError(conn, req, ResultCode.FORBIDDEN, `not a member of session "${id}"`)
    }
    this.writer.send(conn, frames.successReply('destroy_session', req.trxid))
    this.endSession(session, conn)
  }

  /** Forwards the received bytes unchanged to every other member, or says why it cannot. */
  relay(conn: Connection, frame: Frame, raw: Buffer): void {
    const session = this.relayTarget(conn, frame.sessionid)
    if (session !== null) {
      this.counters.framesRelayed++
      this.counters.bytesRelayed += raw.length
      return this.fanOut(session, conn, raw)
    }
    if (frame.sessionid !== undefined) {
      return this.writer.sendError(
        conn,
        frame,
        ResultCode.FORBIDDEN,
        `not a member of session "${frame.sessionid}"; nothing was forwarded`
      )
    }
    const count = membershipCount(conn)
    return this.writer.sendError(
      conn,
      frame,
      count === 0 ? ResultCode.FORBIDDEN : ResultCode.BAD_REQUEST,
      count === 0
        ? 'not a member of any session; nothing was forwarded'
        : 'missing field "sessionid" (member of several sessions)'
    )
  }

  /**
   * The hot path: a data frame relayed from its bytes (see data-envelope.ts). False when the
   * frame needs the full parser: not a plain data frame, or one the relay refuses (the refusal
   * is then built from the parsed frame, exactly as for any other frame).
   */
  relayFast(conn: Connection, raw: Buffer): boolean {
    if (conn.uuid === null || conn.sessions === null) return false // refused either way
    // A sender usually has one session: naming its id spares a copy of the id from the frame.
    const sole = soleSession(conn)
    const memo = (conn.envelope ??= new EnvelopeMemo())
    const sessionid = readDataEnvelope(raw, sole?.id, this.limits.maxNestingDepth, memo)
    if (sessionid === FALL_BACK) return false
    // The frame names that very session (readDataEnvelope hands back the same string): a
    // connection's sessions are always ones it is a member of, so no lookup is needed.
    const session = sole !== null && sessionid === sole.id ? sole : this.relayTarget(conn, sessionid)
    if (session === null) return false
    this.counters.framesRelayed++
    this.counters.bytesRelayed += raw.length
    this.fanOut(session, conn, raw)
    return true
  }

  /** The session a data frame goes to: the named one, or the only one; null if none may take it. */
  private relayTarget(conn: Connection, sessionid: string | undefined): Session | null {
    if (conn.uuid === null) return null
    if (sessionid !== undefined) {
      const session = this.sessions.get(sessionid)
      return session !== undefined && session.members.has(conn) ? session : null
    }
    return soleSession(conn)
  }

  /** Gives `conn` a place in the session, known by `token`. */
  private seat(session: Session, conn: Connection, token: string): string {
    session.members.add(conn)
    session.tokens.set(conn, token)
    addMembership(conn, session)
    return token
  }

  /** A live place moves to the connection that proved it is the same client (its token). */
  private moveSeat(session: Session, from: Connection, to: Connection): string {
    const token = session.tokens.get(from) as string
    session.members.delete(from)
    session.tokens.delete(from)
    from.sessions?.delete(session)
    if (session.owner === from) session.owner = to
    session.members.add(to)
    session.tokens.set(to, token)
    addMembership(to, session)
    return token
  }

  private memberWithToken(session: Session, token: string): Connection | undefined {
    for (const [member, t] of session.tokens) if (t === token) return member
    return undefined
  }

  /** Web clients in the session, connected or away (their slot is held). */
  private joinerCount(session: Session): number {
    let n = session.members.size - (session.members.has(session.owner) ? 1 : 0)
    if (session.away) for (const slot of session.away) if (!slot.owner) n++
    return n
  }

  /** Removes a session and tells every member except `by` (null: tell everyone). */
  private endSession(session: Session, by: Connection | null): void {
    if (this.sessions.get(session.id) !== session) return
    this.sessions.delete(session.id)
    this.log.info({ session: session.id, by: by?.id ?? null }, 'session ended')
    this.ctx.sessionEnded(session)
    const owned = this.sessionsByUuid.get(session.ownerUuid)
    owned?.delete(session)
    if (owned && owned.size === 0) this.sessionsByUuid.delete(session.ownerUuid)
    if (session.away) {
      for (const slot of session.away) this.forgetSlot(slot)
      session.away = null
    }
    const notify = JSON.stringify(frames.sessionNotify('destroy_session', session.id, session.channeltype))
    for (const member of [...session.members]) {
      member.sessions?.delete(session)
      if (member !== by) this.writer.sendRaw(member, notify)
    }
    session.members.clear()
    session.tokens.clear()
  }

  /** Writes to every connected member but `except`, and holds a copy for every away one. */
  private fanOut(session: Session, except: Connection | null, payload: string | Buffer): void {
    for (const member of session.members) {
      if (member !== except) this.writer.sendRaw(member, payload)
    }
    if (session.away !== null) this.hold(session, except, payload)
  }

  /**
   * A connection is gone. A clean close (close frame), a server-side close and a protocol error
   * end its sessions at once as PROTOCOL.md §4 says; a lost one (no close frame) keeps its slots
   * for the grace period so that the same uuid can come back unnoticed.
   */
  disconnected(conn: Connection, lost: boolean): void {
    const grace = lost && conn.uuid !== null && this.limits.reconnectGraceMs > 0
    const sessions = conn.sessions === null ? [] : [...(conn.sessions as Set<Session>)]
    conn.sessions = null
    for (const session of sessions) {
      const token = session.tokens.get(conn)
      session.members.delete(conn)
      session.tokens.delete(conn)
      if (grace && token !== undefined) this.park(session, conn, token)
      else if (session.owner === conn) this.endSession(session, null)
      else
        this.fanOut(
          session,
          null,
          JSON.stringify(frames.sessionNotify(LEAVE_SESSION, session.id, session.channeltype))
        )
    }
  }

  private park(session: Session, conn: Connection, token: string): void {
    if (this.sessions.get(session.id) !== session) return
    const slot: AwaySlot = {
      uuid: conn.uuid as string,
      session,
      owner: session.owner === conn,
      token,
      // Off the hot path: the deadline is read from the clock itself, to be exact.
      deadline: Date.now() + this.limits.reconnectGraceMs,
      held: [],
      heldBytes: 0
    }
    if (session.away) session.away.push(slot)
    else session.away = [slot]
    this.awaySlots.add(slot)
  }

  /** Keeps a frame for the away members, or ends the grace of one whose share is full. */
  private hold(session: Session, except: Connection | null, payload: string | Buffer): void {
    const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length
    // Every away place gets a copy, whoever sends: a sender is connected, so never one of them
    // (in KT's flow the device and its web client share one uuid, so the uuid says nothing here).
    for (const slot of [...(session.away ?? [])]) {
      // Gone meanwhile: the device's grace ending above ends the session and all its slots.
      if (!this.awaySlots.has(slot)) continue
      if (
        slot.held.length >= this.limits.graceBufferFrames ||
        slot.heldBytes + size > this.limits.graceBufferBytes ||
        this.heldBytes + size > this.limits.graceBufferTotalBytes
      ) {
        // Holding more would cost unbounded memory; dropping silently would lose frames.
        // The member is treated as gone, which everyone is told.
        this.expireSlot(slot)
        continue
      }
      // A copy: the received buffer may share memory with a whole socket read.
      slot.held.push(typeof payload === 'string' ? payload : Buffer.from(payload))
      slot.heldBytes += size
      this.heldBytes += size
    }
  }

  /** Removes an away slot from its session; false when it was no longer there. */
  private takeSlot(slot: AwaySlot): boolean {
    const session = slot.session
    if (!session.away?.includes(slot)) return false
    this.forgetSlot(slot)
    const rest = session.away.filter((s) => s !== slot)
    session.away = rest.length ? rest : null
    return true
  }

  private forgetSlot(slot: AwaySlot): void {
    if (!this.awaySlots.delete(slot)) return
    this.heldBytes -= slot.heldBytes
  }

  private deliverHeld(conn: Connection, slot: AwaySlot): void {
    const held = slot.held
    slot.held = []
    slot.heldBytes = 0
    for (const payload of held) this.writer.sendRaw(conn, payload)
  }

  /** The grace period of an away member is over: what PROTOCOL.md says for a closed one happens. */
  private expireSlot(slot: AwaySlot): void {
    const session = slot.session
    if (!this.takeSlot(slot)) return
    if (slot.owner) this.endSession(session, null)
    else {
      this.fanOut(
        session,
        null,
        JSON.stringify(frames.sessionNotify(LEAVE_SESSION, session.id, session.channeltype))
      )
    }
  }
}

function addMembership(conn: Connection, session: Session): void {
  if (conn.sessions === null) conn.sessions = new Set([session])
  else conn.sessions.add(session)
}

/** The one session a connection takes part in, or null when it has none or several. */
function soleSession(conn: Connection): Session | null {
  return conn.sessions?.size === 1 ? (conn.sessions.values().next().value as Session) : null
}

function membershipCount(conn: Connection): number {
  return conn.sessions === null ? 0 : conn.sessions.size
}
