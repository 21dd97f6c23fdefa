/**
 * The tiny HTTP server the bare call pages come from: one static page on 127.0.0.1 (a secure
 * context, like the app's own origin), in the runner's process.
 */
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

const PAGE = readFileSync(new URL('./pages/bare-call.html', import.meta.url))

export interface BarePages {
  origin: string
  /** The page for one side of a call through the bare relay at `relayUrl`. */
  url(role: 'device' | 'web', relayUrl: string, pair: string): string
  close(): Promise<void>
}

export async function serveBarePages(): Promise<BarePages> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || !(req.url ?? '/').startsWith('/?')) {
      res.writeHead(404).end()
      return
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
    res.end(PAGE)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    origin,
    url: (role, relayUrl, pair) =>
      `${origin}/?${new URLSearchParams({ role, relay: relayUrl, pair }).toString()}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}
