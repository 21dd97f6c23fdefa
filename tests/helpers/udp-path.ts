/**
 * A UDP network path on 127.0.0.1 that a test can cut and restore, for media between two WebRTC
 * peers on this machine. Each ICE candidate a peer announces is replaced (see rewriteCandidates)
 * by the address of a forwarder that relays datagrams to the real candidate; cutting the path
 * drops every datagram in both directions, so ICE loses connectivity while signaling stays up.
 *
 * Only loopback is ever a target: candidates on other addresses are rewritten to a closed
 * loopback port, and datagrams from non-loopback sources are dropped.
 */
import { type RemoteInfo, type Socket, createSocket } from 'node:dgram'

const LOOPBACK = '127.0.0.1'
/** Where unusable candidates point: a port nothing listens on, so checks to it simply fail. */
export const DEAD_PORT = 1

/** A candidate attribute: `candidate:<foundation> <component> <udp|tcp> <priority> <address> <port> typ`. */
const CANDIDATE = /(candidate:\S+ \d+ )(udp|tcp|UDP|TCP)( \d+ )(\S+) (\d+)( typ )/g

interface Forwarder {
  front: Socket
  port: number
  /** One socket per source, so replies from the target reach the right source. */
  backs: Map<string, Socket>
}

export class UdpPath {
  private readonly forwarders = new Map<string, Promise<Forwarder>>()
  private isCut = false
  /** Datagrams carried (both directions) and dropped while cut. */
  carried = 0
  dropped = 0

  cut(): void {
    this.isCut = true
  }

  restore(): void {
    this.isCut = false
  }

  /** Number of candidates routed through this path so far. */
  get routes(): number {
    return this.forwarders.size
  }

  /** The loopback port that forwards to `port` on 127.0.0.1 (one forwarder per target). */
  forward(port: number): Promise<number> {
    const key = String(port)
    let f = this.forwarders.get(key)
    if (!f) {
      f = this.openForwarder(port)
      this.forwarders.set(key, f)
    }
    return f.then((x) => x.port)
  }

  /**
   * Rewrites every ICE candidate in `text` (a trickled candidate or SDP lines, at any nesting or
   * JSON escaping): UDP candidates on 127.0.0.1 go through this path, all others to a dead port.
   */
  async rewriteCandidates(text: string): Promise<string> {
    const found = [...text.matchAll(CANDIDATE)]
    if (found.length === 0) return text
    const ports = await Promise.all(
      found.map((m) =>
        m[2]!.toLowerCase() === 'udp' && m[4] === LOOPBACK ? this.forward(Number(m[5])) : DEAD_PORT
      )
    )
    let i = 0
    return text.replace(
      CANDIDATE,
      (_all, head: string, proto: string, prio: string, _addr, _port, typ: string) => {
        return `${head}${proto}${prio}${LOOPBACK} ${ports[i++]}${typ}`
      }
    )
  }

  async close(): Promise<void> {
    const all = await Promise.all(this.forwarders.values())
    this.forwarders.clear()
    for (const f of all) {
      for (const back of f.backs.values()) back.close()
      f.front.close()
    }
  }

  private async openForwarder(targetPort: number): Promise<Forwarder> {
    const front = createSocket('udp4')
    const f: Forwarder = { front, port: 0, backs: new Map() }
    front.on('error', () => undefined)
    front.on('message', (msg, from) => {
      if (!this.pass(from)) return
      this.backFor(f, from).send(msg, targetPort, LOOPBACK)
    })
    await new Promise<void>((resolve) => front.bind(0, LOOPBACK, resolve))
    f.port = front.address().port
    return f
  }

  // Sends on a socket still binding are queued by node:dgram, so the first datagram is not lost.
  private backFor(f: Forwarder, source: RemoteInfo): Socket {
    const key = `${source.address}:${source.port}`
    let back = f.backs.get(key)
    if (back) return back
    back = createSocket('udp4')
    f.backs.set(key, back)
    back.on('error', () => undefined)
    back.on('message', (msg, from) => {
      if (this.pass(from)) f.front.send(msg, source.port, source.address)
    })
    back.bind(0, LOOPBACK)
    return back
  }

  /** Whether a datagram from `from` goes on (loopback only, and not while cut); counts it. */
  private pass(from: RemoteInfo): boolean {
    if (from.address !== LOOPBACK) return false
    if (this.isCut) {
      this.dropped++
      return false
    }
    this.carried++
    return true
  }
}
