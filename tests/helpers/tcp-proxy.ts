/**
 * A TCP proxy on 127.0.0.1 that a test can cut (drop every live connection, or one) and restore.
 * A cut destroys both sockets of a connection, so the client and the server each see it end
 * without a WebSocket close frame, as after a network blip.
 */
import { type Server, type Socket, createServer, connect } from 'node:net'

export class TcpProxy {
  private server: Server | null = null
  private readonly pairs = new Set<[Socket, Socket]>()
  private refusing = false
  port = 0
  /** Connections accepted and single connections cut (cutOne) so far. */
  accepted = 0
  cuts = 0

  constructor(
    private targetPort: number,
    private readonly targetHost = '127.0.0.1'
  ) {}

  /** New connections go to this port from now on (a client reconnecting to another server). */
  retarget(port: number): void {
    this.targetPort = port
  }

  async start(): Promise<number> {
    this.server = createServer((client) => {
      client.on('error', () => undefined)
      if (this.refusing) return client.destroy()
      this.accepted++
      const upstream = connect(this.targetPort, this.targetHost)
      upstream.on('error', () => client.destroy())
      client.on('error', () => upstream.destroy())
      const pair: [Socket, Socket] = [client, upstream]
      this.pairs.add(pair)
      const forget = (): void => {
        this.pairs.delete(pair)
        client.destroy()
        upstream.destroy()
      }
      client.on('close', forget)
      upstream.on('close', forget)
      client.pipe(upstream)
      upstream.pipe(client)
    })
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve))
    const addr = this.server.address()
    this.port = typeof addr === 'object' && addr ? addr.port : 0
    return this.port
  }

  get liveConnections(): number {
    return this.pairs.size
  }

  /** Drops every live connection and refuses new ones until restore(). */
  cut(): void {
    this.refusing = true
    for (const [a, b] of [...this.pairs]) {
      a.destroy()
      b.destroy()
    }
  }

  /** Cuts the connection at position `random() * live` (if any); returns whether one was cut. */
  cutOne(random: () => number): boolean {
    const live = [...this.pairs]
    const pair = live[Math.floor(random() * live.length)]
    if (!pair) return false
    pair[0].destroy()
    pair[1].destroy()
    this.cuts++
    return true
  }

  /**
   * Stops forwarding, both ways, on the connection whose socket to the target has local port
   * `port` (what the target sees as the client's port), without closing it: a peer that looks
   * connected and says nothing. Returns whether there was one.
   */
  silence(port: number): boolean {
    for (const [client, upstream] of this.pairs) {
      if (upstream.localPort !== port) continue
      client.unpipe(upstream)
      upstream.unpipe(client)
      client.pause()
      upstream.pause()
      return true
    }
    return false
  }

  restore(): void {
    this.refusing = false
  }

  async stop(): Promise<void> {
    this.cut()
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()))
  }
}
