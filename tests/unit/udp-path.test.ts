import { type Socket, createSocket } from 'node:dgram'
import { afterEach, describe, expect, it } from 'vitest'
import { DEAD_PORT, UdpPath } from '../helpers/udp-path'

// The cuttable media path of the ICE-restart E2E test: it must carry datagrams both ways, drop
// them while cut, and rewrite candidates so that nothing bypasses it.
const sockets: Socket[] = []
let path: UdpPath | null = null

afterEach(async () => {
  for (const s of sockets.splice(0)) s.close()
  await path?.close()
  path = null
})

async function udp(): Promise<Socket> {
  const s = createSocket('udp4')
  sockets.push(s)
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve))
  return s
}

function next(s: Socket): Promise<string> {
  return new Promise((resolve) => s.once('message', (m) => resolve(m.toString())))
}

describe('UdpPath', () => {
  it('carries datagrams both ways, drops them while cut, and carries again when restored', async () => {
    path = new UdpPath()
    const a = await udp()
    const b = await udp()
    const viaPath = await path.forward(b.address().port)

    const atB = next(b)
    a.send('ping', viaPath, '127.0.0.1')
    expect(await atB).toBe('ping')
    // b answers the address it saw; the reply must come back to a from the forwarded port.
    const reply = new Promise<{ text: string; port: number }>((resolve) =>
      a.once('message', (m, from) => resolve({ text: m.toString(), port: from.port }))
    )
    const seen = await new Promise<{ port: number }>((resolve) => {
      b.once('message', (_m, from) => resolve(from))
      a.send('who', viaPath, '127.0.0.1')
    })
    b.send('pong', seen.port, '127.0.0.1')
    expect(await reply).toEqual({ text: 'pong', port: viaPath })

    path.cut()
    let leaked = false
    b.once('message', () => (leaked = true))
    a.send('lost', viaPath, '127.0.0.1')
    await expect.poll(() => path!.dropped).toBe(1)
    expect(leaked).toBe(false)

    path.restore()
    b.removeAllListeners('message')
    const again = next(b)
    a.send('back', viaPath, '127.0.0.1')
    expect(await again).toBe('back')
  })

  it('routes loopback UDP candidates through itself and points every other candidate at a dead port', async () => {
    path = new UdpPath()
    const text = JSON.stringify({
      candidate: 'candidate:1 1 udp 2122194687 127.0.0.1 53428 typ host generation 0',
      sdp: 'a=candidate:2 1 udp 2122063615 192.0.2.2 38278 typ host\r\na=candidate:3 1 tcp 1518214911 127.0.0.1 9 typ host tcptype active\r\na=candidate:4 1 udp 2122267903 ::1 57037 typ host'
    })
    const out = JSON.parse(await path.rewriteCandidates(text)) as { candidate: string; sdp: string }
    const routed = await path.forward(53428)
    expect(out.candidate).toBe(`candidate:1 1 udp 2122194687 127.0.0.1 ${routed} typ host generation 0`)
    expect(out.sdp).toBe(
      `a=candidate:2 1 udp 2122063615 127.0.0.1 ${DEAD_PORT} typ host\r\na=candidate:3 1 tcp 1518214911 127.0.0.1 ${DEAD_PORT} typ host tcptype active\r\na=candidate:4 1 udp 2122267903 127.0.0.1 ${DEAD_PORT} typ host`
    )
    expect(path.routes).toBe(1)
    expect(await path.rewriteCandidates('{"type":"offer"}')).toBe('{"type":"offer"}')
  })
})
