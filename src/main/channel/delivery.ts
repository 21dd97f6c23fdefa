/**
 * End-to-end delivery of data frames across signaling drops: each frame is delivered once, in
 * order, or the loss is announced. Everything rides in keys other implementations ignore
 * (PROTOCOL.md §1), so the server relays these frames byte for byte like any other.
 *
 * - A data frame carries `"delivery": {"from": <stream>, "epoch": <n>, "seq": <n>}`: `from` is
 *   random per client, `seq` counts that client's frames in one session (1, 2, …, never reset),
 *   `epoch` is the seq at which the sender last saw the session's membership change (a join or
 *   leave notify, or its own fresh create/join). A receiver that has nothing from a stream yet
 *   starts at the frame whose seq equals its epoch; afterwards it takes exactly last+1.
 * - Control frames are data frames with the payload
 *   `{"type":"delivery","from":…,"ack":{<stream>:<last seq received>},"resume":true?,"skip":n?}`.
 *   `ack` asks each named sender to resend what follows (or, for a sender not named, its
 *   current epoch); `resume` (sent after a reconnect) also asks for the other side's acks;
 *   `skip` says that the sender's frames up to n are no longer held and will not come.
 * - A frame out of order is dropped and answered with an ack (go-back-N): the sender resends
 *   everything after it from the frames it keeps (bounded by count and age).
 *
 * This file holds the bookkeeping only; the client owns sockets, pacing and events.
 */

export const DELIVERY_KEY = 'delivery'
export const DELIVERY_TYPE = 'delivery'

/** Streams a receiver tracks per session; a peer inventing streams cannot grow it further. */
export const MAX_TRACKED_STREAMS = 16
/** How long a receiver waits before asking again for the same missing frames. */
export const NACK_RETRY_MS = 1_000
const MAX_STREAM_ID = 64

export interface Stamp {
  from: string
  epoch: number
  seq: number
}

export interface Control {
  from: string
  /** The receiver's last seq from this client's stream, or undefined if it has none. */
  ackForMe: number | undefined
  hasAck: boolean
  resume: boolean
  skip: number | undefined
}

interface LogEntry {
  seq: number
  text: string
  at: number
}

interface Incoming {
  /** Last seq delivered from this stream; null until the first one. */
  last: number | null
  /** When the current gap was first seen (0: no gap). */
  gapSince: number
  nackedAt: number
  nackedLast: number | null
}

export type Verdict = { deliver: true; missed: number } | { deliver: false; nack: boolean }

function isSeq(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 1
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Reads a frame's stamp; anything malformed counts as unstamped (delivered as it is). */
export function readStamp(value: unknown): Stamp | null {
  if (!isObject(value)) return null
  const { from, epoch, seq } = value
  if (typeof from !== 'string' || from.length === 0 || from.length > MAX_STREAM_ID) return null
  if (!isSeq(epoch) || !isSeq(seq) || epoch > seq) return null
  return { from, epoch, seq }
}

/** Reads a control payload addressed (in part) to stream `me`; null if it is not one. */
export function readControl(data: Record<string, unknown>, me: string): Control | null {
  if (data.type !== DELIVERY_TYPE) return null
  const from = data.from
  if (typeof from !== 'string' || from.length === 0 || from.length > MAX_STREAM_ID) return null
  const ack = isObject(data.ack) ? data.ack : null
  const mine = ack && Object.prototype.hasOwnProperty.call(ack, me) ? ack[me] : undefined
  return {
    from,
    hasAck: ack !== null,
    ackForMe: typeof mine === 'number' && Number.isSafeInteger(mine) && mine >= 0 ? mine : undefined,
    resume: data.resume === true,
    skip: isSeq(data.skip) ? data.skip : undefined
  }
}

/** One session's delivery state in one client: what it sent (kept for resending) and received. */
export class SessionDelivery {
  epoch = 1
  seq = 0
  private log: LogEntry[] = []
  private readonly incoming = new Map<string, Incoming>()
  private lastResendFrom = 0
  private lastResendAt = 0

  constructor(
    private readonly maxLogFrames: number,
    private readonly logTtlMs: number
  ) {}

  /** The membership changed: receivers new to this client start from the next frame. */
  newEpoch(): void {
    this.epoch = this.seq + 1
  }

  /** The session is new for this client (not resumed): forget what others sent before. */
  reset(): void {
    this.incoming.clear()
    this.newEpoch()
  }

  /** Numbers an outgoing frame; the caller serialises it and hands the text to `sent`. */
  stamp(from: string): Stamp {
    this.seq += 1
    return { from, epoch: this.epoch, seq: this.seq }
  }

  /** Keeps a written frame for resending, within the count and age bounds. */
  sent(seq: number, text: string, now: number): void {
    this.log.push({ seq, text, at: now })
    let drop = Math.max(0, this.log.length - this.maxLogFrames)
    while (drop < this.log.length && now - this.log[drop]!.at > this.logTtlMs) drop++
    if (drop > 0) this.log = this.log.slice(drop)
  }

  /**
   * A receiver acknowledged `last` (undefined: it has nothing of ours): the frames to resend,
   * preceded by a skip when the first ones it needs are no longer kept. Null when there is
   * nothing to do, or when the same resend was just made (an ack repeated by several control
   * frames must not multiply the traffic).
   */
  resendAfter(last: number | undefined, now: number): { skip?: number; texts: string[] } | null {
    if (last !== undefined && last > this.seq) return null
    const from = last === undefined ? this.epoch : last + 1
    if (from > this.seq) return null
    if (from === this.lastResendFrom && now - this.lastResendAt < NACK_RETRY_MS) return null
    this.lastResendFrom = from
    this.lastResendAt = now
    while (this.log.length > 0 && now - this.log[0]!.at > this.logTtlMs) this.log.shift()
    const texts: string[] = []
    let first = this.seq + 1
    for (const entry of this.log) {
      if (entry.seq < from) continue
      if (texts.length === 0) first = entry.seq
      texts.push(entry.text)
    }
    return first > from ? { skip: first - 1, texts } : { texts }
  }

  /** Decides about an incoming stamped frame. */
  receive(stamp: Stamp, now: number, gapTimeoutMs: number): Verdict {
    let state = this.incoming.get(stamp.from)
    if (!state) {
      if (this.incoming.size >= MAX_TRACKED_STREAMS) {
        this.incoming.delete(this.incoming.keys().next().value as string)
      }
      state = { last: null, gapSince: 0, nackedAt: -Infinity, nackedLast: null }
      this.incoming.set(stamp.from, state)
    }
    const expected = state.last === null ? stamp.epoch : state.last + 1
    if (stamp.seq === expected) {
      state.last = stamp.seq
      state.gapSince = 0
      return { deliver: true, missed: 0 }
    }
    if (state.last !== null && stamp.seq <= state.last) return { deliver: false, nack: false } // a duplicate
    // Frames before this one are missing. Ask for them; if they do not come in time, move on
    // and say how many were missed, rather than hold the stream back forever.
    if (state.gapSince === 0) state.gapSince = now
    else if (now - state.gapSince > gapTimeoutMs) {
      const missed = state.last === null ? 0 : stamp.seq - state.last - 1
      state.last = stamp.seq
      state.gapSince = 0
      return { deliver: true, missed }
    }
    const nack = state.nackedLast !== state.last || now - state.nackedAt >= NACK_RETRY_MS
    if (nack) {
      state.nackedLast = state.last
      state.nackedAt = now
    }
    return { deliver: false, nack }
  }

  /** A sender says its frames up to `to` will not come; returns how many this receiver misses. */
  skip(from: string, to: number): number {
    const state = this.incoming.get(from)
    if (!state) {
      if (this.incoming.size >= MAX_TRACKED_STREAMS) return 0
      this.incoming.set(from, { last: to, gapSince: 0, nackedAt: -Infinity, nackedLast: null })
      return 0
    }
    if (state.last !== null && to <= state.last) return 0
    const missed = state.last === null ? 0 : to - state.last
    state.last = to
    state.gapSince = 0
    return missed
  }

  /** What this client has received, per stream, for a control frame. */
  acks(): Record<string, number> {
    const out: Record<string, number> = {}
    for (const [from, state] of this.incoming) if (state.last !== null) out[from] = state.last
    return out
  }

  /** Frames kept for resending (for tests and leak checks). */
  get keptFrames(): number {
    return this.log.length
  }
}
