/**
 * One client's connection to the channel server, and how frames are written to it: flow control
 * (a member that does not read is cut off), corked bursts, the tap. Shared by the server and every
 * session registry.
 */
import type { Duplex } from 'node:stream'
import type { WebSocket } from 'ws'
import { type Frame, frames } from '../../shared/protocol'
import type { Logger } from '../log'
import type { AddressEntry } from './access'
import { CloseCode, type ServerLimits } from './limits'

export interface Connection {
  id: number
  ws: WebSocket
  /** The per-address counters it counts against (null: exempt). */
  address: AddressEntry | null
  uuid: string | null
  connectedAt: number
  lastSeen: number
  framesInWindow: number
  rateNoticeSent: boolean
  /** Bytes read since the event loop last turned to other connections (see maxReadBurstBytes). */
  burstBytes: number
  /** Not read from until the next sweep: over framesPerWindow. */
  throttled: boolean
  /** Not read from until the next turn of the event loop: over maxReadBurstBytes. */
  yielding: boolean
  /** Its socket holds what is sent to it until the current burst of frames is handled. */
  corked: boolean
  badFrames: number
  /**
   * The in-memory registry's sessions of this connection; null until it first takes part in one
   * (most connections never do at a time), and always null with another registry.
   */
  sessions: Set<unknown> | null
  closed: boolean
}

export interface TapEvent {
  direction: 'in' | 'out'
  connectionId: number
  uuid: string | null
  text: string
  at: number
}

/** Options of every send: relayed frames are Buffers but go out as text, as they came in. */
const TEXT_MESSAGE = { binary: false } as const

export class FrameWriter {
  /** Error replies sent, by result_cd (for GET /metrics). */
  readonly refusedByResultCode = new Map<number, number>()
  /** Connections whose sockets are corked until the next tick (see `cork`). */
  private corkedConnections: Connection[] = []
  private readonly uncorkAll = (): void => {
    const corked = this.corkedConnections
    this.corkedConnections = []
    for (const conn of corked) {
      conn.corked = false
      socketOf(conn.ws)?.uncork()
    }
  }

  constructor(
    private readonly limits: ServerLimits,
    private readonly tap: ((event: TapEvent) => void) | undefined,
    /** Cuts a connection off (the server's drop): a slow reader. */
    private readonly drop: (conn: Connection, code: number, reason: string) => void,
    private readonly log: Logger
  ) {}

  /** Counts and logs an error reply (every one goes through here or sendError). */
  refused(conn: Connection, result_cd: number, operation: string | null, message: string): void {
    this.refusedByResultCode.set(result_cd, (this.refusedByResultCode.get(result_cd) ?? 0) + 1)
    this.log.info({ conn: conn.id, uuid: conn.uuid, result_cd, operation, message }, 'refused')
  }

  sendError(conn: Connection, about: Frame | null, result_cd: number, result_msg: string): void {
    this.refused(conn, result_cd, about?.msgtype === 'data' ? 'data' : (about?.operation ?? null), result_msg)
    this.send(
      conn,
      frames.errorReply({
        result_cd,
        result_msg,
        operation: about?.msgtype === 'data' ? undefined : about?.operation,
        trxid: about?.trxid,
        sessionid: about?.msgtype === 'data' ? about.sessionid : undefined
      })
    )
  }

  send(conn: Connection, frame: Frame): void {
    this.sendRaw(conn, JSON.stringify(frame))
  }

  sendRaw(conn: Connection, payload: string | Buffer): void {
    if (conn.closed) return
    if (conn.ws.bufferedAmount > this.limits.maxBufferedBytes) {
      // A client that stops reading is cut off rather than buffered without bound; the close
      // frame waits behind what it has not read, so ws destroys the socket after closeTimeoutMs.
      return this.drop(conn, CloseCode.SLOW_READER, 'not reading: send buffer limit exceeded')
    }
    if (this.tap) {
      const text = typeof payload === 'string' ? payload : payload.toString('utf8')
      this.tap({ direction: 'out', connectionId: conn.id, uuid: conn.uuid, text, at: Date.now() })
    }
    this.cork(conn)
    conn.ws.send(payload, TEXT_MESSAGE)
  }

  /**
   * Holds a connection's outgoing frames in its socket until the frames read in this turn of the
   * event loop are handled: a burst (several candidates read at once, a relay under load) then costs
   * one write to the kernel instead of one per frame. The socket is uncorked on the next tick, before
   * any I/O, so nothing waits for a timer.
   */
  private cork(conn: Connection): void {
    if (conn.corked) return
    const socket = socketOf(conn.ws)
    if (socket === undefined) return
    socket.cork()
    conn.corked = true
    if (this.corkedConnections.push(conn) === 1) process.nextTick(this.uncorkAll)
  }
}

/**
 * The socket under a ws connection. ws has no public cork(); its maintainers point to this field
 * for it (websockets/ws#1999).
 */
function socketOf(ws: WebSocket): Duplex | undefined {
  return (ws as unknown as { _socket?: Duplex })._socket
}
