/**
 * Fuzz: HTTP request lines and headers at the browser host. Every request gets an answer below
 * 500 (or the connection is closed on a request Node's parser refuses), and the host stays up.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AppCore } from '../../src/main/core/app-core'
import { BrowserHost } from '../../src/main/host/browser-host'
import { CRASHING_TARGETS, FUZZ_RUNS, FUZZ_SEED, hostileString } from './hostile'

const HTTP_RUNS = FUZZ_RUNS.http

let core: AppCore
let host: BrowserHost
let port: number
let dir: string

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gb-fuzz-http-'))
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>Genie Bridge</title>')
  core = await AppCore.start({ host: 'browser', version: 'fuzz', dataDir: null })
  host = new BrowserHost({ core, rendererDir: dir })
  port = Number(new URL(await host.start()).port)
})

afterAll(async () => {
  await host.stop()
  await core.stop()
  rmSync(dir, { recursive: true, force: true })
})

/** Writes raw bytes and resolves with the status of the answer, 0 when the host closed without one. */
function exchange(bytes: Buffer): Promise<number> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    let head = ''
    const done = (): void => {
      socket.destroy()
      resolve(Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0))
    }
    socket.setTimeout(3000, done)
    socket.on('error', done)
    socket.on('end', done)
    socket.on('data', (c: Buffer) => {
      head += c.toString('latin1')
      if (head.includes('\r\n')) done()
    })
    socket.write(bytes)
  })
}

const target = fc.oneof(
  fc.constantFrom(
    ...CRASHING_TARGETS,
    '/',
    '/index.html',
    '/api/info',
    '/bridge',
    '/%2e%2e/%2e%2e/etc/passwd'
  ),
  fc.webPath(),
  hostileString.map((s) => `/${s}`),
  hostileString,
  fc
    .array(
      fc.oneof(
        fc.constantFrom('%', '/', '\\', '?', '#', '..', '%00', '%E0%A4%A'),
        fc.string({ unit: fc.constantFrom(...'0123456789abcdefXZ'), maxLength: 3 })
      ),
      {
        maxLength: 8
      }
    )
    .map((parts) => `/${parts.join('')}`),
  fc
    .tuple(
      fc.constantFrom('http://', 'https://', 'ws://', '//', '///'),
      hostileString,
      fc.integer({ min: -1, max: 100_000 })
    )
    .map(([scheme, name, p]) => `${scheme}${name}:${p}/`)
)

const headerValue = fc.oneof(
  hostileString,
  fc.constantFrom('127.0.0.1', 'localhost', 'evil.example', '[::1]')
)

const request = fc.record({
  method: fc.oneof(
    fc.constantFrom('GET', 'HEAD', 'POST', 'OPTIONS', 'PUT', 'DELETE', 'CONNECT'),
    hostileString
  ),
  target,
  version: fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2', 'HTTP/1.1 x', ''),
  host: fc.option(fc.oneof(fc.constant('own'), headerValue), { nil: undefined }),
  upgrade: fc.boolean(),
  token: fc.boolean(),
  origin: fc.option(headerValue, { nil: undefined }),
  extra: fc.array(fc.tuple(hostileString, hostileString), { maxLength: 4 })
})

type Request = typeof request extends fc.Arbitrary<infer R> ? R : never

describe('fuzz: HTTP at the browser host', () => {
  it(`answers ${HTTP_RUNS} hostile requests below 500 and stays up`, async () => {
    let answered = 0
    const rssBefore = process.memoryUsage().rss
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const lines: string[] = []
        const withToken =
          r.token && r.target.startsWith('/')
            ? `${r.target}${r.target.includes('?') ? '&' : '?'}token=${host.token}`
            : r.target
        lines.push(`${r.method} ${withToken} ${r.version}`.trimEnd())
        if (r.host !== undefined) lines.push(`Host: ${r.host === 'own' ? `127.0.0.1:${port}` : r.host}`)
        if (r.upgrade) {
          lines.push('Upgrade: websocket', 'Connection: Upgrade')
          lines.push('Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13')
        }
        if (r.origin !== undefined) lines.push(`Origin: ${r.origin}`)
        for (const [k, v] of r.extra) lines.push(`${k}: ${v}`)
        const status = await exchange(Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'utf8'))
        if (status !== 0) answered++
        // Every answer is the host's own decision: nothing fails inside it.
        expect(status === 0 || (status >= 100 && status < 500), `status ${status}`).toBe(true)
      }),
      {
        seed: FUZZ_SEED,
        numRuns: HTTP_RUNS,
        examples: CRASHING_TARGETS.flatMap((t) =>
          [false, true].map((upgrade): [Request] => [
            {
              method: 'GET',
              target: t,
              version: 'HTTP/1.1',
              host: 'own',
              upgrade,
              token: false,
              origin: undefined,
              extra: []
            }
          ])
        )
      }
    )
    // Most requests were answered (the rest were cut by Node's parser without a word).
    expect(answered).toBeGreaterThan(HTTP_RUNS / 2)
    const res = await fetch(`http://127.0.0.1:${port}/api/info?token=${host.token}`)
    expect(res.status).toBe(200)
    expect(host.connectedPages).toBeLessThanOrEqual(host.limits.maxPages)
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(256 * 1024 * 1024)
  }, 120_000)
})
