/**
 * Presence (ours, docs/PROTOCOL-DECISIONS.md): an operator connection lists the live sessions and,
 * when it asks to, is told as each one starts and ends. Only a request carrying the server's
 * operator token may do so; without a configured token nobody may (never open by default).
 *
 *   → {"msgtype":"request","operation":"list_sessions","operator_token":"…","subscribe":true,"trxid":"…"}
 *   ← {"msgtype":"reply","operation":"list_sessions","result_cd":200,"result_msg":"Success",
 *      "sessions":[{"sessionid":"…","uuid":"<owner>","channeltype":"webrtcaudio","members":2}],"trxid":"…"}
 *   ← {"msgtype":"notify","operation":"session_started","channeltype":"system","sessionid":"…","uuid":"<owner>"}
 *   ← {"msgtype":"notify","operation":"session_ended","channeltype":"system","sessionid":"…","uuid":"<owner>"}
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { LiveSession } from '../../shared/contract'
import { type ChannelType, type Frame, type RequestFrame, ResultCode } from '../../shared/protocol'

export const LIST_SESSIONS = 'list_sessions'
export const SESSION_STARTED = 'session_started'
export const SESSION_ENDED = 'session_ended'

/** A listed session: `uuid` is the one that created it (the speaker's ContainerId). */
export type PresenceSession = LiveSession

/** What presence needs of a session and a connection, whatever else the server keeps in them. */
interface SessionView {
  id: string
  ownerUuid: string
  channeltype: ChannelType
  members: { size: number }
}
interface ConnectionView {
  closed: boolean
}

export class Presence<C extends ConnectionView> {
  private readonly digest: Buffer | null
  private readonly subscribers = new Set<C>()

  constructor(
    token: string | null,
    private readonly send: (conn: C, frame: Frame) => void,
    private readonly sessions: () => Iterable<SessionView>,
    /** ServerLimits.maxPresenceSubscribers. */
    private readonly maxSubscribers: number
  ) {
    this.digest = token ? hash(token) : null
  }

  /** Answers list_sessions: 403 without the operator token, else the sessions (and subscribes). */
  request(conn: C, req: RequestFrame): void {
    const given = req['operator_token']
    if (this.digest === null || typeof given !== 'string' || !timingSafeEqual(hash(given), this.digest)) {
      return this.send(conn, {
        msgtype: 'reply',
        operation: LIST_SESSIONS,
        result_cd: ResultCode.FORBIDDEN,
        result_msg:
          this.digest === null
            ? 'presence is not enabled on this server (start it with an operator token)'
            : 'the operator token is missing or wrong',
        ...(req.trxid !== undefined ? { trxid: req.trxid } : {})
      })
    }
    this.prune()
    if (req['subscribe'] === true && !this.subscribers.has(conn)) {
      if (this.subscribers.size >= this.maxSubscribers) {
        return this.send(conn, {
          msgtype: 'reply',
          operation: LIST_SESSIONS,
          result_cd: ResultCode.CONFLICT,
          result_msg: `at most ${this.maxSubscribers} operator connections may follow sessions`,
          ...(req.trxid !== undefined ? { trxid: req.trxid } : {})
        })
      }
      this.subscribers.add(conn)
    }
    const sessions: PresenceSession[] = []
    for (const s of this.sessions()) sessions.push(view(s))
    this.send(conn, {
      msgtype: 'reply',
      operation: LIST_SESSIONS,
      result_cd: ResultCode.OK,
      result_msg: 'Success',
      sessions,
      ...(req.trxid !== undefined ? { trxid: req.trxid } : {})
    })
  }

  started(session: SessionView): void {
    this.tell(SESSION_STARTED, session)
  }

  ended(session: SessionView): void {
    this.tell(SESSION_ENDED, session)
  }

  get subscriberCount(): number {
    this.prune()
    return this.subscribers.size
  }

  private tell(operation: string, session: SessionView): void {
    if (this.subscribers.size === 0) return
    this.prune()
    const frame: Frame = {
      msgtype: 'notify',
      operation,
      channeltype: 'system',
      sessionid: session.id,
      uuid: session.ownerUuid
    }
    for (const conn of this.subscribers) this.send(conn, frame)
  }

  /** Closed connections leave here lazily: the server tells presence nothing when one closes. */
  private prune(): void {
    for (const conn of this.subscribers) if (conn.closed) this.subscribers.delete(conn)
  }
}

function view(s: SessionView): PresenceSession {
  return { sessionid: s.id, uuid: s.ownerUuid, channeltype: s.channeltype, members: s.members.size }
}

function hash(token: string): Buffer {
  return createHash('sha256').update(token).digest()
}
