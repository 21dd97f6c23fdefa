/**
 * A connected pair of in-memory sockets. The app's own windows reach their embedded channel server
 * through one (see ChannelServer.connectInProcess): it carries the same HTTP upgrade and WebSocket
 * bytes as loopback TCP, without the system calls and the event-loop wake-ups that TCP costs for
 * every frame in both directions.
 */
import { Duplex } from 'node:stream'

export class MemorySocket extends Duplex {
  /** What the server's per-address limits see: the app's own process, as loopback. */
  readonly remoteAddress = '127.0.0.1'
  readonly remoteFamily = 'IPv4'
  readonly remotePort = 0
  peer: MemorySocket | null = null
  /** Written and not yet delivered to the peer: gathered until the next tick, as TCP would. */
  private pending: Buffer[] | null = null
  private readonly flush = (): void => {
    const chunks = this.pending
    this.pending = null
    if (chunks !== null) this.peer?.push(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks))
  }

  override _read(): void {
    // Data is pushed by the peer's writes.
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.deliver(chunk, done)
  }

  /** A corked burst of writes reaches the peer as one chunk, as one writev would over TCP. */
  override _writev(chunks: { chunk: Buffer }[], done: (error?: Error | null) => void): void {
    this.deliver(Buffer.concat(chunks.map((c) => c.chunk)), done)
  }

  private deliver(chunk: Buffer, done: (error?: Error | null) => void): void {
    const peer = this.peer
    if (!peer) return done(new Error('the in-process connection is closed'))
    // Delivered on the next tick, in order, as a socket would: never inside the writer's call.
    // Writes made before then arrive as one read, as bytes that wait in a TCP socket's buffer do.
    if (this.pending === null) {
      this.pending = [chunk]
      process.nextTick(this.flush)
    } else this.pending.push(chunk)
    done()
  }

  override _final(done: (error?: Error | null) => void): void {
    const peer = this.peer
    process.nextTick(() => peer?.push(null))
    done()
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    const peer = this.peer
    this.peer = null
    if (peer) {
      peer.peer = null
      process.nextTick(() => {
        peer.push(null)
        peer.destroy()
      })
    }
    done(error)
  }

  // The parts of net.Socket that http and ws call; in memory there is nothing to set.
  setNoDelay(): this {
    return this
  }
  setKeepAlive(): this {
    return this
  }
  setTimeout(): this {
    return this
  }
  ref(): this {
    return this
  }
  unref(): this {
    return this
  }
}

/** Two sockets, each writing to the other. */
export function memorySocketPair(): [MemorySocket, MemorySocket] {
  const a = new MemorySocket()
  const b = new MemorySocket()
  a.peer = b
  b.peer = a
  return [a, b]
}
