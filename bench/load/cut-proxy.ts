/**
 * A TCP proxy on 127.0.0.1 that cuts single connections on request: both of its sockets are
 * destroyed, so the client and the server each see the connection end without a WebSocket close
 * frame, as after a network blip. (tests/helpers/tcp-proxy.ts cuts all of them at once.)
 */
import { type Server, type Socket, connect, createServer } from 'node:net'

interface Link {
  client: Socket
  upstream: Socket
  /** Index in `links`, for removal in constant time. */
  index: number
}

export class CutProxy {
  private server: Server | null = null
  private readonly links: Link[] = []
  accepted = 0
  cuts = 0
  port = 0

  constructor(private readonly targetPort: number) {}

  async start(): Promise<number> {
    this.server = createServer((client) => this.accept(client))
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve))
    const address = this.server.address()
    this.port = typeof address === 'object' && address ? address.port : 0
    return this.port
  }

  get liveConnections(): number {
    return this.links.length
  }

  /** Cuts the connection at position `random() * live` (if any); returns whether one was cut. */
  cutOne(random: () => number): boolean {
    if (this.links.length === 0) return false
    const link = this.links[Math.floor(random() * this.links.length)]!
    this.forget(link)
    this.cuts++
    return true
  }

  async stop(): Promise<void> {
    for (const link of [...this.links]) this.forget(link)
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()))
    this.server = null
  }

  private accept(client: Socket): void {
    this.accepted++
    const upstream = connect(this.targetPort, '127.0.0.1')
    const link: Link = { client, upstream, index: this.links.length }
    this.links.push(link)
    const end = (): void => this.forget(link)
    client.on('error', end)
    upstream.on('error', end)
    client.on('close', end)
    upstream.on('close', end)
    client.pipe(upstream)
    upstream.pipe(client)
  }

  private forget(link: Link): void {
    const at = link.index
    if (at >= 0 && this.links[at] === link) {
      const last = this.links.pop()!
      if (last !== link) {
        this.links[at] = last
        last.index = at
      }
      link.index = -1
    }
    link.client.destroy()
    link.upstream.destroy()
  }
}
