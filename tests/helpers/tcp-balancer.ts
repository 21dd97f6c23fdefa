/**
 * A TCP balancer on 127.0.0.1 in front of several server processes, as a load balancer in front
 * of a channel service: each new connection goes to the live target with the fewest connections
 * through it, and a target that refuses (its process was killed, or is starting again) is skipped
 * for the next one. The app's ChannelClient has one url: behind this, a client whose process died
 * reconnects to the same address and lands on another process.
 * Like TcpProxy, it can cut single connections (both sockets destroyed, no close frame).
 */
import { type Server, type Socket, createServer, connect } from 'node:net'

interface Link {
  client: Socket
  upstream: Socket
  target: number
}

export class TcpBalancer {
  private server: Server | null = null
  private readonly links = new Set<Link>()
  port = 0
  /** Connections accepted, forwarded on a second or later choice, refused by every target, cut. */
  accepted = 0
  failovers = 0
  unplaced = 0
  cuts = 0

  /** `targets`: the ports of the server processes on `host`. */
  constructor(
    readonly targets: readonly number[],
    private readonly host = '127.0.0.1'
  ) {
    if (targets.length === 0) throw new Error('a balancer needs at least one target')
  }

  async start(): Promise<number> {
    this.server = createServer((client) => {
      this.accepted++
      // Nothing is read from the client until a target has taken the connection.
      client.pause()
      client.on('error', () => undefined)
      this.place(client, this.byLoad(), 0)
    })
    await new Promise<void>((resolve) => this.server!.listen(0, this.host, resolve))
    const addr = this.server.address()
    this.port = typeof addr === 'object' && addr ? addr.port : 0
    return this.port
  }

  get liveConnections(): number {
    return this.links.size
  }

  /** Live connections per target port. */
  liveByTarget(): Record<number, number> {
    const out: Record<number, number> = {}
    for (const t of this.targets) out[t] = 0
    for (const l of this.links) out[l.target]! += 1
    return out
  }

  /** Cuts the connection at position `random() * live` (if any); returns whether one was cut. */
  cutOne(random: () => number): boolean {
    const live = [...this.links]
    const link = live[Math.floor(random() * live.length)]
    if (!link) return false
    link.client.destroy()
    link.upstream.destroy()
    this.cuts++
    return true
  }

  async stop(): Promise<void> {
    for (const l of [...this.links]) {
      l.client.destroy()
      l.upstream.destroy()
    }
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()))
  }

  /** The targets, fewest live connections first (ties in the order given). */
  private byLoad(): number[] {
    const live = this.liveByTarget()
    return [...this.targets].sort((a, b) => live[a]! - live[b]!)
  }

  private place(client: Socket, order: readonly number[], index: number): void {
    if (client.destroyed) return
    const target = order[index]
    if (target === undefined) {
      this.unplaced++
      client.destroy()
      return
    }
    const upstream = connect(target, this.host)
    const refused = (): void => {
      upstream.destroy()
      this.place(client, order, index + 1)
    }
    upstream.once('error', refused)
    upstream.once('connect', () => {
      upstream.off('error', refused)
      if (client.destroyed) return void upstream.destroy()
      if (index > 0) this.failovers++
      const link: Link = { client, upstream, target }
      this.links.add(link)
      const forget = (): void => {
        this.links.delete(link)
        client.destroy()
        upstream.destroy()
      }
      upstream.on('error', forget)
      client.on('error', forget)
      client.on('close', forget)
      upstream.on('close', forget)
      client.pipe(upstream)
      upstream.pipe(client)
      client.resume()
    })
  }
}
