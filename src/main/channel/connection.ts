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
import type { EnvelopeMemo } from './data-envelope'
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
  /** The envelope of its last data frame (see EnvelopeMemo); null until it sends one. */
  envelope: EnvelopeMemo | null
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
  /**
   * The frame being handled has more of its socket read behind it (the server sets it for each
   * frame it reads): only then is there a burst to gather into one write (see `cork`).
   */
  moreInRead = false
  /** Error replies sent, by result_cd (for GET /metrics). */
  readonly refusedByResultCode = new Map<number, number>()
  private lastPayload: Buffer | null = null
  private lastFrame: Buffer = Buffer.alloc(0)
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
    const socket =
      typeof payload === 'string' || payload.length > PREBUILT_FRAME_MAX_BYTES ? undefined : socketOf(conn.ws)
    if (socket === undefined || conn.ws.readyState !== OPEN) return conn.ws.send(payload, TEXT_MESSAGE)
    socket.write(this.framed(payload as Buffer))
  }

  /**
   * A relayed frame's bytes as one WebSocket text frame, built once for all the members it goes
   * to (frames up to PREBUILT_FRAME_MAX_BYTES). ws.send would allocate its options and header and
   * hand the socket two buffers per frame; the bytes are forwarded unchanged, so the frame is the
   * same as the one ws would write.
   */
  private framed(payload: Buffer): Buffer {
    if (payload !== this.lastPayload) {
      this.lastPayload = payload
      this.lastFrame = textFrame(payload)
    }
    return this.lastFrame
  }

  /**
   * Holds a connection's outgoing frames in its socket until the frames read in this turn of the
   * event loop are handled: a burst (several candidates read at once, a relay under load) then costs
   * one write to the kernel instead of one per frame. The socket is uncorked on the next tick, before
   * any I/O, so nothing waits for a timer. A frame read on its own (signaling's usual case) is
   * written at once: corking it would only add a tick.
   */
  private cork(conn: Connection): void {
    if (conn.corked || !this.moreInRead) return
    const socket = socketOf(conn.ws)
    if (socket === undefined) return
    socket.cork()
    conn.corked = true
    if (this.corkedConnections.push(conn) === 1) process.nextTick(this.uncorkAll)
  }
}

const OPEN = 1

/**
 * Relayed frames up to this size are copied into one prebuilt WebSocket frame (see `framed`);
 * larger ones go out through ws, header and payload as two buffers. For a candidate (≈ 220 B) the
 * copy is cheaper than ws's two-buffer write; for an SDP (≈ 3 KB) copying the bytes, and the buffer
 * pool refilled every second frame, cost more than it saves (docs/BENCHMARKS.md, "The envelope
 * scan, large frames and the idle process").
 */
export const PREBUILT_FRAME_MAX_BYTES = 1024

/**
 * An unmasked, final text frame (RFC 6455 §5.2) carrying `payload`: what a server sends. The
 * length takes 7, 16 or 64 bits; frames up to maxPayloadBytes (256 KiB) need the 64-bit form
 * from 64 KiB on, and its upper half is always zero for them.
 */
export function textFrame(payload: Buffer): Buffer {
  const length = payload.length
  const header = length < 126 ? 2 : length < 0x10000 ? 4 : 10
  const frame = Buffer.allocUnsafe(header + length)
  frame[0] = 0x81 // FIN, opcode 1 (text)
  if (header === 2) frame[1] = length
  else if (header === 4) {
    frame[1] = 126
    frame.writeUInt16BE(length, 2)
  } else {
    frame[1] = 127
    frame.writeUInt32BE(Math.floor(length / 0x100000000), 2)
    frame.writeUInt32BE(length >>> 0, 6)
  }
  payload.copy(frame, header)
  return frame
}

/**
 * ws has read more of the socket than the message it is delivering: other frames (or the start of
 * one) follow in the same read. ws delivers the messages of one read synchronously, one after the
 * other, and `_bufferedBytes` is what its receiver has not consumed yet (ws 8).
 */
export function hasMoreInRead(ws: WebSocket): boolean {
  const receiver = (ws as unknown as { _receiver?: { _bufferedBytes?: number } })._receiver
  return receiver !== undefined && (receiver._bufferedBytes ?? 0) > 0
}

/**
 * The socket under a ws connection. ws has no public cork(); its maintainers point to this field
 * for it (websockets/ws#1999).
 */
function socketOf(ws: WebSocket): Duplex | undefined {
  return (ws as unknown as { _socket?: Duplex })._socket
}
