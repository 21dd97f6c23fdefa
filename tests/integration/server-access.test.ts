/**
 * Who may connect: access token and origin allowlist checked at upgrade (refused with an HTTP
 * status before any WebSocket exists), uuid allowlist at auth, per-address and global caps,
 * the handshake rate, slow handshakes, and wss:// from a certificate and key.
 */
import { generate } from 'selfsigned'
import { afterEach, describe, expect, it, vi } from 'vitest'
import WebSocket from 'ws'
import { ChannelClient } from '../../src/main/channel/client'
import { ChannelServer, type ChannelServerOptions, addressKey } from '../../src/main/channel/server'
import { RawClient } from '../helpers/raw-client'
import { RawSocket } from '../helpers/raw-socket'
import { connect } from 'node:net'

const TOKEN = 'a-long-enough-test-token-0123456789'
let server: ChannelServer | null = null
const cleanups: (() => void)[] = []

async function start(options: ChannelServerOptions): Promise<ChannelServer> {
  server = new ChannelServer(options)
  await server.listen()
  return server
}

afterEach(async () => {
  for (const c of cleanups.splice(0)) c()
  await server?.close()
  server = null
})

async function upgrade(
  port: number,
  path = '/channel',
  headers: Record<string, string> = {}
): Promise<number> {
  const raw = await RawSocket.open(port, { path, headers })
  cleanups.push(() => raw.destroy())
  return raw.status
}

/** The server has no socket and no connection: the refusal came before the WebSocket. */
function expectNoSocket(s: ChannelServer): void {
  expect(s.stats()).toMatchObject({ connections: 0, sockets: 0 })
}

describe('access token at upgrade', () => {
  it('refuses a missing or wrong token with 401 before any socket exists; accepts ?token= and Bearer', async () => {
    const s = await start({ token: TOKEN })
    const port = s.listeningPort
    expect(await upgrade(port)).toBe(401)
    expect(await upgrade(port, `/channel?token=wrong-token-wrong-token`)).toBe(401)
    expect(await upgrade(port, '/channel', { Authorization: 'Bearer not-it-not-it-not-it' })).toBe(401)
    expect(await upgrade(port, '/channel', { Authorization: `Basic ${TOKEN}` })).toBe(401)
    expectNoSocket(s)
    expect(await upgrade(port, `/channel?token=${encodeURIComponent(TOKEN)}`)).toBe(101)
    expect(await upgrade(port, `/?x=1&token=${encodeURIComponent(TOKEN)}`)).toBe(101)
    expect(await upgrade(port, '/channel', { Authorization: `Bearer ${TOKEN}` })).toBe(101)
    await vi.waitFor(() => expect(s.stats().sockets).toBe(3))
  })

  it('a browser-style client with the token in the URL runs the whole protocol', async () => {
    const s = await start({ token: TOKEN })
    const c = await RawClient.authed(`${s.url}?token=${TOKEN}`, 'W1')
    cleanups.push(() => c.close())
    expect((await c.request({ msgtype: 'request', operation: 'create_session' })).result_cd).toBe(200)
  })

  it('ChannelClient sends its token as a header, and gives up at once on a 401', async () => {
    const s = await start({ token: TOKEN })
    const good = new ChannelClient({ url: s.url, uuid: 'K1', token: TOKEN })
    cleanups.push(() => good.dispose())
    await good.connect()
    expect(good.state).toBe('ready')

    const bad = new ChannelClient({ url: s.url, uuid: 'K2', reconnect: { initialDelayMs: 10 } })
    cleanups.push(() => bad.dispose())
    await expect(bad.connect()).rejects.toThrow(/HTTP 401: access token missing or wrong/)
    expect(bad.state).toBe('closed')
    expect(bad.activeHandles).toBe(0) // no reconnect loop against a refusal
  })

  it('a server bound beyond loopback makes up a token unless given one, a uuid list or openAccess', () => {
    // Decided at construction, so no test needs to bind beyond 127.0.0.1.
    const lan = new ChannelServer({ host: '0.0.0.0' })
    expect(lan.accessToken).toMatch(/^[A-Za-z0-9_-]{32}$/)
    expect(lan.accessNotice().join('\n')).toMatch(/access token required .*made up/)
    expect(new ChannelServer({ host: '0.0.0.0', token: TOKEN }).accessToken).toBe(TOKEN)
    expect(new ChannelServer({ host: '192.168.1.20', allowUuids: ['K1'] }).accessToken).toBeNull()
    expect(new ChannelServer({ host: '::', openAccess: true }).accessToken).toBeNull()
    expect(new ChannelServer({ host: '::', openAccess: true }).accessNotice().join()).toMatch(
      /open to anyone/
    )
    for (const host of ['127.0.0.1', 'localhost', '::1', '127.1.2.3']) {
      expect(new ChannelServer({ host }).accessToken, host).toBeNull()
    }
    expect(new ChannelServer().accessNotice()).toEqual(['access: open to clients on this machine (loopback)'])
  })

  it('refuses unusable tokens and origins with a clear message', () => {
    expect(() => new ChannelServer({ token: 'short' })).toThrow(/16 to 512 printable ASCII/)
    expect(() => new ChannelServer({ token: 'has space in the middle of it' })).toThrow(/without spaces/)
    expect(() => new ChannelServer({ allowOrigins: ['not a url'] })).toThrow(/not an origin/)
    expect(() => new ChannelServer({ allowOrigins: ['https://a.example/path'] })).toThrow(/not an origin/)
    expect(() => new ChannelServer({ limits: { maxConnectionsPerIp: 0 } })).toThrow(/at least 1/)
    expect(() => new ChannelServer({ limits: { nonsense: 1 } as never })).toThrow(/unknown limit "nonsense"/)
  })
})

describe('origin allowlist', () => {
  it('is open to every origin by default', async () => {
    const s = await start({})
    expect(await upgrade(s.listeningPort, '/channel', { Origin: 'https://anywhere.example' })).toBe(101)
  })

  it('when set, refuses other origins with 403 before any socket exists', async () => {
    const s = await start({ allowOrigins: ['https://console.example', 'http://localhost:5173'] })
    const port = s.listeningPort
    expect(await upgrade(port, '/channel', { Origin: 'https://evil.example' })).toBe(403)
    expect(await upgrade(port, '/channel', { Origin: 'null' })).toBe(403)
    expect(await upgrade(port, '/channel', { Origin: 'https://console.example.evil.example' })).toBe(403)
    expectNoSocket(s)
    expect(await upgrade(port, '/channel', { Origin: 'https://console.example' })).toBe(101)
    expect(await upgrade(port, '/channel', { Origin: 'HTTP://LOCALHOST:5173' })).toBe(101)
    // Not a browser page (no Origin): let through; it could claim any origin anyway.
    expect(await upgrade(port)).toBe(101)
  })
})

describe('uuid allowlist', () => {
  it('answers auth for another uuid with 403 and keeps the connection unauthenticated', async () => {
    const s = await start({ allowUuids: ['K1', 'W1'] })
    const c = await RawClient.open(s.url)
    cleanups.push(() => c.close())
    const refused = await c.request({ msgtype: 'request', operation: 'auth', uuid: 'intruder' })
    expect(refused).toMatchObject({ result_cd: 403, operation: 'auth' })
    expect(refused.result_msg).toMatch(/not allowed/)
    expect((await c.request({ msgtype: 'request', operation: 'create_session' })).result_cd).toBe(401)
    expect((await c.request({ msgtype: 'request', operation: 'auth', uuid: 'W1' })).result_cd).toBe(200)
  })
})

describe('connection caps', () => {
  it('caps open sockets per address (429) and frees the place when one closes', async () => {
    const s = await start({ limitLoopback: true, limits: { maxConnectionsPerIp: 3 } })
    const clients: RawClient[] = []
    for (let i = 0; i < 3; i++) {
      const c = await RawClient.open(s.url)
      cleanups.push(() => c.close())
      clients.push(c)
    }
    expect(await upgrade(s.listeningPort)).toBe(429)
    clients[0]!.close()
    await vi.waitFor(() => expect(s.stats().sockets).toBe(2))
    expect(await upgrade(s.listeningPort)).toBe(101)
  })

  it('exempts loopback clients from the per-address caps unless asked', async () => {
    const s = await start({ limits: { maxConnectionsPerIp: 1, handshakesPerIpPerWindow: 1 } })
    for (let i = 0; i < 4; i++) expect(await upgrade(s.listeningPort)).toBe(101)
    expect(s.stats().trackedAddresses).toBe(0)
  })

  it('caps handshakes per address per window (429), counting refused ones too', async () => {
    const s = await start({
      limitLoopback: true,
      paths: ['/channel'],
      limits: { handshakesPerIpPerWindow: 5, sweepIntervalMs: 60_000 }
    })
    const statuses: number[] = []
    for (let i = 0; i < 3; i++) statuses.push(await upgrade(s.listeningPort, '/nowhere'))
    for (let i = 0; i < 4; i++) statuses.push(await upgrade(s.listeningPort))
    expect(statuses).toEqual([404, 404, 404, 101, 101, 429, 429])
  })

  it('caps sockets in all (503)', async () => {
    const s = await start({ limits: { maxConnections: 2 } })
    expect(await upgrade(s.listeningPort)).toBe(101)
    expect(await upgrade(s.listeningPort)).toBe(101)
    expect(await upgrade(s.listeningPort)).toBe(503)
  })

  it('cuts off a client that trickles its upgrade request; a connected one is not affected', async () => {
    const s = await start({ limits: { handshakeTimeoutMs: 300 } })
    const live = await RawClient.authed(s.url, 'K1')
    cleanups.push(() => live.close())
    const slow = connect(s.listeningPort, '127.0.0.1')
    cleanups.push(() => slow.destroy())
    slow.on('error', () => undefined)
    slow.write('GET /channel HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n') // …and no more
    const closedAt = await new Promise<number>((resolve) => {
      const started = Date.now()
      slow.on('close', () => resolve(Date.now() - started))
    })
    expect(closedAt).toBeLessThan(3_000)
    // Well past handshakeTimeoutMs (and several of the server's checks), the WebSocket is alive.
    await new Promise((r) => setTimeout(r, 1_000))
    expect((await live.request({ msgtype: 'request', operation: 'create_session' })).result_cd).toBe(200)
  })

  it('addresses are counted per IPv4 address and per IPv6 /64', () => {
    expect(addressKey('::ffff:10.0.0.7')).toBe('10.0.0.7')
    expect(addressKey('10.0.0.7')).toBe('10.0.0.7')
    expect(addressKey('2001:db8:1:2::1')).toBe(addressKey('2001:db8:1:2:ffff::9'))
    expect(addressKey('2001:db8:1:2::1')).toBe('2001:db8:1:2::/64')
    expect(addressKey('2001:db8:1:3::1')).not.toBe(addressKey('2001:db8:1:2::1'))
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64')
    expect(addressKey(undefined)).toBe('unknown')
  })
})

describe('TLS (wss)', () => {
  async function pems(): Promise<{ cert: string; key: string }> {
    const p = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
      keyType: 'ec',
      algorithm: 'sha256',
      extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }]
    })
    return { cert: p.cert, key: p.private }
  }

  it('serves wss:// from a given certificate and key, with the token still checked', async () => {
    const tls = await pems()
    const s = await start({ tls, token: TOKEN })
    expect(s.url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/channel$/)

    const client = new ChannelClient({ url: s.url, uuid: 'K1', token: TOKEN, tls: { ca: tls.cert } })
    cleanups.push(() => client.dispose())
    await client.connect()
    expect(await client.createSession()).toMatch(/^[A-Za-z0-9_-]{22}$/)

    // Without trusting the certificate the handshake fails; without the token, 401 over TLS.
    const untrusted = new WebSocket(s.url)
    const error = await new Promise<string>((resolve) => untrusted.on('error', (e) => resolve(e.message)))
    expect(error).toMatch(/self[- ]signed|certificate/i)
    const tokenless = new WebSocket(s.url, { ca: tls.cert })
    tokenless.on('error', () => undefined)
    const status = await new Promise<number>((resolve) =>
      tokenless.on('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0)
        tokenless.terminate()
      })
    )
    expect(status).toBe(401)
    // A plain ws:// client speaking to the TLS port gets nowhere, and the server stays up.
    const plain = new WebSocket(s.url.replace('wss:', 'ws:'))
    await new Promise<void>((resolve) => plain.on('error', () => resolve()))
    expect(client.state).toBe('ready')
  })

  it('refuses an unusable certificate or key with a clear message', async () => {
    const s = new ChannelServer({ tls: { cert: 'not a certificate', key: 'not a key' } })
    await expect(s.listen()).rejects.toThrow(/the TLS certificate or key cannot be used/)
    expect(() => new ChannelServer({ tls: { cert: '', key: 'x' } })).toThrow(/both a certificate and a key/)
  })
})
