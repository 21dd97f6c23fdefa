/**
 * The floor: a WebSocket relay that pairs two connections by their `pair` query parameter and
 * forwards every frame to the partner exactly as received, without parsing it. A real channel
 * server cannot do less work per frame, so its cost is the baseline of every ratio.
 *
 * `node --import tsx bench/servers/bare-relay.ts --port 0` prints
 * `bare relay listening on ws://127.0.0.1:PORT/`.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { WebSocketServer, type WebSocket } from 'ws'

const portIndex = process.argv.indexOf('--port')
const port = portIndex >= 0 ? Number(process.argv[portIndex + 1]) : 0

const waiting = new Map<string, WebSocket>()
const partners = new Map<WebSocket, WebSocket>()

const http = createServer()
// Same ws settings as the channel server under test: no compression, no client list.
const wss = new WebSocketServer({ server: http, perMessageDeflate: false, clientTracking: false })

wss.on('connection', (ws, req) => {
  const key = new URL(req.url ?? '/', 'http://relay').searchParams.get('pair') ?? ''
  const first = waiting.get(key)
  if (first) {
    waiting.delete(key)
    partners.set(first, ws)
    partners.set(ws, first)
  } else {
    waiting.set(key, ws)
  }
  ws.on('message', (data, isBinary) => partners.get(ws)?.send(data, { binary: isBinary }))
  ws.on('error', () => ws.terminate())
  ws.on('close', () => {
    if (waiting.get(key) === ws) waiting.delete(key)
    const partner = partners.get(ws)
    partners.delete(ws)
    if (partner) partners.delete(partner)
  })
})

http.listen(port, '127.0.0.1', () => {
  const { port: bound } = http.address() as AddressInfo
  console.log(`bare relay listening on ws://127.0.0.1:${bound}/`)
})

// Exit cleanly on a signal (what lets `node --cpu-prof` write its profile when the server is profiled).
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(0))
