/**
 * Fuzz: raw HTTP at the channel server's port (GET /healthz, /readyz, /metrics and the WebSocket
 * upgrade with its path, Origin, Authorization, ?token= and sub-protocol checks), against an open
 * server and one with every access check on. Every request is answered with a well-formed HTTP
 * status line or a clean close, never with a fault; the process sees no uncaught exception or
 * unhandled rejection; the server logs no error and never the token; and afterwards it holds no
 * socket of the run and a legitimate client still connects, authenticates and probes.
 */
import { Writable } from 'node:stream'
import { type Socket, connect } from 'node:net'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { ChannelServer, type ChannelServerOptions } from '../../src/main/channel/server'
import { createLogger } from '../../src/main/log'
import { SUBPROTOCOL } from '../../src/shared/protocol'
import { RawClient } from '../helpers/raw-client'
import { CRASHING_TARGETS, FUZZ_SEED, SPOOFING_CHARACTERS, hostileString } from './hostile'

/** Requests per property; all four together take about 6 s on two cores. */
const RUNS = { chaos: 1_000, model: 600, stalled: 12, bursts: 6 } as const

const TOKEN = 'fuzz-access-token-0123456789_ABC~xyz'
const ALLOWED_ORIGIN = 'https://console.example'
const CHANNEL_PATH = '/channel'
/** A request still incomplete after this long is cut off by the server (kept short for the test). */
const HANDSHAKE_TIMEOUT_MS = 300
/** The longest a client here waits for an answer or a close. */
const ANSWER_WAIT_MS = 2_500
const VALID_KEY = 'dGhlIHNhbXBsZSBub25jZQ=='
/** Open sockets per client address on the guarded server (loopback counted too). */
const PER_ADDRESS = 16
/** The token with every character percent-encoded: the same token once decoded. */
const PERCENT_TOKEN = [...TOKEN].map((c) => `%${c.charCodeAt(0).toString(16)}`).join('')

/**
 * Every status the server answers an HTTP request or an upgrade with, and Node's own 417 for an
 * `Expect` it does not know. Not 503: that means stopping or full, and neither happens here.
 */
const KNOWN_STATUSES = new Set([101, 200, 400, 401, 403, 404, 405, 417, 426, 429])
const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n')

// ------------------------------------------------------------------------------------------------
// The servers, their logs, and what reaches the process

interface Target {
  name: string
  server: ChannelServer
  port: number
  logs: string[]
  guarded: boolean
}

const faults: unknown[] = []
const warnings: Error[] = []
const onFault = (e: unknown): void => void faults.push(e)
const onWarning = (w: Error): void => void warnings.push(w)

async function startTarget(name: string, guarded: boolean): Promise<Target> {
  const logs: string[] = []
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(...chunk.toString().split('\n').filter(Boolean))
      done()
    }
  })
  const options: ChannelServerOptions = guarded
    ? {
        token: TOKEN,
        allowOrigins: [ALLOWED_ORIGIN, 'null'],
        paths: [CHANNEL_PATH],
        // The per-address caps apply to this test's loopback clients too: a count that leaks shows.
        limitLoopback: true,
        limits: {
          handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
          handshakesPerIpPerWindow: 1_000_000,
          maxConnectionsPerIp: PER_ADDRESS
        }
      }
    : { limits: { handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS } }
  const server = new ChannelServer({ ...options, logger: createLogger({ level: 'debug', destination }) })
  await server.listen()
  return { name, server, port: server.listeningPort, logs, guarded }
}

let open: Target
let guarded: Target

beforeAll(async () => {
  process.on('uncaughtException', onFault)
  process.on('unhandledRejection', onFault)
  process.on('warning', onWarning)
  open = await startTarget('open', false)
  guarded = await startTarget('guarded', true)
})

afterAll(async () => {
  await open?.server.close()
  await guarded?.server.close()
  process.off('uncaughtException', onFault)
  process.off('unhandledRejection', onFault)
  process.off('warning', onWarning)
})

// ------------------------------------------------------------------------------------------------
// One exchange over a raw socket

/** How the bytes go out: whole, in two writes, half-closed after a prefix, or cut after a prefix. */
type Delivery =
  | { kind: 'whole' }
  | { kind: 'split'; at: number }
  | { kind: 'half-close'; at: number }
  | { kind: 'cut'; at: number }

interface Answer {
  /** Everything received up to the end of the answer's head (or the close). */
  head: string
  status: number
  /** The server closed (or reset) the connection before a complete head arrived. */
  closed: boolean
  /** Neither an answer nor a close within ANSWER_WAIT_MS. */
  timedOut: boolean
}

function exchange(port: number, bytes: Buffer, delivery: Delivery = { kind: 'whole' }): Promise<Answer> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    let received = Buffer.alloc(0)
    let settled = false
    const finish = (closed: boolean, timedOut = false): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      const text = received.toString('latin1')
      const end = text.indexOf('\r\n\r\n')
      const head = end < 0 ? text : text.slice(0, end + 4)
      resolve({ head, status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(head)?.[1] ?? 0), closed, timedOut })
    }
    const timer = setTimeout(() => finish(false, true), ANSWER_WAIT_MS)
    socket.on('error', () => finish(true))
    socket.on('close', () => finish(true))
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk])
      // Node answers `Expect: 100-continue` itself before the server's own answer: read past it.
      while (received.subarray(0, CONTINUE.length).equals(CONTINUE))
        received = received.subarray(CONTINUE.length)
      if (received.includes('\r\n\r\n')) finish(false)
    })
    socket.on('connect', () => {
      const at = delivery.kind === 'whole' ? bytes.length : Math.floor(delivery.at * bytes.length)
      switch (delivery.kind) {
        case 'whole':
          socket.write(bytes)
          break
        case 'split':
          socket.write(bytes.subarray(0, at))
          setTimeout(() => !socket.destroyed && socket.write(bytes.subarray(at)), 5)
          break
        case 'half-close':
          socket.end(bytes.subarray(0, at))
          break
        case 'cut':
          socket.write(bytes.subarray(0, at), () => finish(false))
          break
      }
    })
  })
}

/** A status line, then header lines of a token, a colon and printable text, up to the blank line. */
function expectWellFormed(a: Answer, what: string): void {
  expect(a.timedOut, `${what}: neither an answer nor a close`).toBe(false)
  if (a.head === '') return // a clean close, nothing said
  expect(a.head, what).toMatch(/^HTTP\/1\.1 \d{3} [\x20-\x7e]*\r\n/)
  expect(KNOWN_STATUSES.has(a.status), `${what}: status ${a.status}`).toBe(true)
  expect(a.head.endsWith('\r\n\r\n'), `${what}: answer cut short`).toBe(true)
  for (const line of a.head.split('\r\n').slice(1, -2)) {
    expect(line, what).toMatch(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+: [\x20-\x7e]*$/)
  }
  expect(a.head.includes(TOKEN), `${what}: the token is echoed`).toBe(false)
}

// ------------------------------------------------------------------------------------------------
// Hostile requests

/** `arbitrary` once in `n` cases, else undefined. */
function sometimes<T>(arbitrary: fc.Arbitrary<T>, n: number): fc.Arbitrary<T | undefined> {
  return fc.oneof({ weight: n - 1, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary })
}

const methods = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom('GET', 'GET', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS') },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      'CONNECT',
      'TRACE',
      'PRI',
      'get',
      'G\u0000T',
      'GET GET',
      '',
      'M-SEARCH',
      'x'.repeat(70)
    )
  },
  { weight: 1, arbitrary: hostileString }
)

const percentJunk = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        '%',
        '%%',
        '%00',
        '%ZZ',
        '%E0%A4%A',
        '%C0%AE',
        '%2e%2e',
        '..',
        '/',
        '\\',
        '?',
        '#',
        '&',
        '='
      ),
      fc.string({ unit: fc.constantFrom(...'0123456789abcdefXZ'), maxLength: 3 })
    ),
    { maxLength: 10 }
  )
  .map((parts) => parts.join(''))

const paths = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(CHANNEL_PATH, '/', '/healthz', '/readyz', '/metrics') },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '/',
      CHANNEL_PATH,
      '/channel/',
      '/CHANNEL',
      '/healthz',
      '/readyz',
      '/metrics',
      '/healthz/',
      '/metrics/../healthz',
      '/../../etc/passwd',
      '/%2e%2e/%2e%2e/etc/passwd',
      '/channel%00',
      '/channel\u0000',
      '*',
      'channel',
      'http://127.0.0.1/channel',
      'ws://evil.example/channel',
      ...CRASHING_TARGETS
    )
  },
  { weight: 2, arbitrary: percentJunk.map((j) => `/${j}`) },
  { weight: 1, arbitrary: fc.webPath() },
  { weight: 1, arbitrary: hostileString.map((s) => `/${s}`) },
  // Long targets, now and then beyond Node's 16 KiB header limit.
  { weight: 1, arbitrary: fc.integer({ min: 2_000, max: 18_000 }).map((n) => `/channel/${'a'.repeat(n)}`) }
)

/** Query strings carrying the token right, wrong, twice, percent-encoded, or wrapped in odd bytes. */
const queries = fc.oneof(
  fc.constantFrom(
    '',
    '?',
    `?token=${TOKEN}`,
    `?token=${PERCENT_TOKEN}`,
    `?x=1&token=${TOKEN}`,
    `?token=wrong&token=${TOKEN}`,
    `?token=${TOKEN}%00`,
    `?token=${TOKEN}#frag`,
    `?TOKEN=${TOKEN}`,
    '?token',
    '?token=',
    '?token=%',
    '?token=%ZZ%',
    '?token=%FF%FE',
    `?token=${'a'.repeat(5_000)}`,
    '?&&&==&'
  ),
  percentJunk.map((j) => `?token=${j}`),
  fc.constantFrom(...SPOOFING_CHARACTERS).map((c) => `?token=${TOKEN}${c}`),
  hostileString.map((s) => `?token=${s}`)
)

const queriesMostly = fc.oneof(
  { weight: 2, arbitrary: fc.constant('') },
  {
    weight: 2,
    arbitrary: fc.constantFrom(`?token=${TOKEN}`, `?x=1&token=${TOKEN}`, `?token=${PERCENT_TOKEN}`)
  },
  { weight: 3, arbitrary: queries }
)

const versions = fc.oneof(
  { weight: 8, arbitrary: fc.constant('HTTP/1.1') },
  {
    weight: 1,
    arbitrary: fc.constantFrom('HTTP/1.0', 'HTTP/2', 'HTTP/0.9', 'HTTP/1.1 x', 'http/1.1', '', 'HTTP/9.9')
  }
)

type Header = readonly [name: string, value: string]

const authorizations = fc.oneof(
  fc.constantFrom(
    `Bearer ${TOKEN}`,
    `bearer ${TOKEN}`,
    `Bearer\t${TOKEN}`,
    `Bearer    ${TOKEN}   `,
    `Bearer ${TOKEN} extra`,
    `Basic ${TOKEN}`,
    `Basic ${Buffer.from(`user:${TOKEN}`).toString('base64')}`,
    `Token ${TOKEN}`,
    TOKEN,
    'Bearer',
    'Bearer ',
    '',
    `Bearer ${TOKEN}\u0000`,
    `Bearer ${'x'.repeat(10_000)}`
  ),
  hostileString.map((s) => `Bearer ${s}`),
  hostileString
)

const origins = fc.oneof(
  fc.constantFrom(
    ALLOWED_ORIGIN,
    ALLOWED_ORIGIN.toUpperCase(),
    `${ALLOWED_ORIGIN}:443`,
    `${ALLOWED_ORIGIN}/`,
    `${ALLOWED_ORIGIN}.evil.example`,
    'null',
    'NULL',
    'https://evil.example',
    'file://',
    '',
    '*'
  ),
  hostileString
)

const keys = fc.constantFrom(
  VALID_KEY,
  'AAAAAAAAAAAAAAAAAAAAAA==',
  '',
  'short',
  'dGhlIHNhbXBsZSBub25jZQ',
  `${VALID_KEY}${VALID_KEY}`,
  'not base64 at all!!!!!==',
  '\u00ff'.repeat(24)
)

const wsVersions = fc.constantFrom('13', '8', '7', '14', '', 'abc', '13, 8', '0x0d', '1e400', '-13', '13.0')

const subprotocols = fc.oneof(
  fc.constantFrom(
    SUBPROTOCOL,
    `chat, ${SUBPROTOCOL}`,
    'chat',
    'a,,b',
    'a b',
    ',',
    '',
    `${SUBPROTOCOL}, ${SUBPROTOCOL}`
  ),
  hostileString
)

const headerLine: fc.Arbitrary<Header> = fc.oneof(
  fc.tuple(
    fc.constant('Upgrade'),
    fc.constantFrom('websocket', 'WebSocket', 'websocket, h2c', 'h2c', '', 'web socket')
  ),
  fc.tuple(
    fc.constant('Connection'),
    fc.constantFrom('Upgrade', 'keep-alive, Upgrade', 'close', 'upgrade', '')
  ),
  fc.tuple(fc.constant('Sec-WebSocket-Key'), keys),
  fc.tuple(fc.constant('Sec-WebSocket-Version'), wsVersions),
  fc.tuple(fc.constant('Sec-WebSocket-Protocol'), subprotocols),
  fc.tuple(fc.constant('Sec-WebSocket-Extensions'), fc.constantFrom('permessage-deflate', 'x; y=', ';;;')),
  fc.tuple(fc.constant('Origin'), origins),
  fc.tuple(fc.constant('Sec-WebSocket-Origin'), origins),
  fc.tuple(fc.constant('Authorization'), authorizations),
  fc.tuple(fc.constant('Host'), fc.constantFrom('127.0.0.1', 'evil.example', '', '[::1]:99999', 'a b')),
  fc.tuple(
    fc.constantFrom('Content-Length', 'content-length'),
    fc.constantFrom('0', '5', '-1', '1e3', 'abc', '99999999999999999999')
  ),
  fc.tuple(
    fc.constant('Transfer-Encoding'),
    fc.constantFrom('chunked', 'gzip, chunked', 'identity', 'chunked, chunked')
  ),
  fc.tuple(fc.constant('Expect'), fc.constantFrom('100-continue', 'nonsense')),
  fc.tuple(
    fc.constant('X-Big'),
    fc.integer({ min: 1_000, max: 18_000 }).map((n) => 'v'.repeat(n))
  ),
  fc.tuple(hostileString, hostileString),
  fc.tuple(fc.constantFrom('Bad Name', 'Bad:Name', '', ' Leading', 'Ünïcode', 'X\u0001'), fc.constant('1'))
)

/** Mostly headers a client might send, now and then one of any name and value. */
const headerLineMostly: fc.Arbitrary<Header> = fc.oneof(
  { weight: 4, arbitrary: headerLine.filter(([k]) => /^[A-Za-z-]+$/.test(k)) },
  { weight: 1, arbitrary: headerLine }
)

/** The headers of a well-formed upgrade, so that many requests get past Node's parser to the checks. */
const UPGRADE_HEADERS: Header[] = [
  ['Upgrade', 'websocket'],
  ['Connection', 'Upgrade'],
  ['Sec-WebSocket-Key', VALID_KEY],
  ['Sec-WebSocket-Version', '13']
]

const chaosRequest = fc.record({
  method: methods,
  path: paths,
  query: queriesMostly,
  version: versions,
  upgrade: fc.boolean(),
  headers: fc.array(headerLineMostly, { maxLength: 4 }),
  /** One header repeated many times (Node keeps the first of most, joins others). */
  repeated: sometimes(fc.tuple(headerLine, fc.integer({ min: 2, max: 300 })), 6),
  /** After the head: a body, or WebSocket bytes that arrive with the upgrade. */
  body: fc.oneof(
    { weight: 3, arbitrary: fc.constant(new Uint8Array(0)) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }) },
    { weight: 1, arbitrary: fc.constant(new Uint8Array([0x81, 0xfe, 0xff, 0xff])) }
  ),
  /** Raw bytes for one header value (latin1, control characters and all). */
  rawHeader: sometimes(fc.uint8Array({ minLength: 1, maxLength: 24 }), 8),
  lineEnd: fc.oneof(
    { weight: 14, arbitrary: fc.constant('\r\n') },
    { weight: 1, arbitrary: fc.constantFrom('\n', '\r') }
  ),
  delivery: fc.oneof(
    { weight: 6, arbitrary: fc.constant<Delivery>({ kind: 'whole' }) },
    {
      weight: 1,
      arbitrary: fc.double({ min: 0, max: 1, noNaN: true }).map((at): Delivery => ({ kind: 'split', at }))
    },
    {
      weight: 2,
      arbitrary: fc
        .double({ min: 0, max: 1, noNaN: true })
        .map((at): Delivery => ({ kind: 'half-close', at }))
    },
    {
      weight: 2,
      arbitrary: fc.double({ min: 0, max: 1, noNaN: true }).map((at): Delivery => ({ kind: 'cut', at }))
    }
  ),
  guarded: fc.boolean()
})

type ChaosRequest = typeof chaosRequest extends fc.Arbitrary<infer R> ? R : never

function chaosBytes(r: ChaosRequest): Buffer {
  const eol = r.lineEnd
  const lines = [`${r.method} ${r.path}${r.query} ${r.version}`.trimEnd()]
  const headers: Header[] = [['Host', '127.0.0.1'], ...(r.upgrade ? UPGRADE_HEADERS : []), ...r.headers]
  if (r.repeated) for (let i = 0; i < r.repeated[1]; i++) headers.push(r.repeated[0])
  for (const [k, v] of headers) lines.push(`${k}: ${v}`)
  const parts = [Buffer.from(lines.join(eol), 'utf8')]
  if (r.rawHeader) parts.push(Buffer.from(`${eol}X-Raw: `), Buffer.from(r.rawHeader))
  parts.push(Buffer.from(`${eol}${eol}`), Buffer.from(r.body))
  return Buffer.concat(parts)
}

// ------------------------------------------------------------------------------------------------
// Well-formed requests, whose answer the access rules decide exactly

/** `common` in three cases of four, else one of `others`. */
function often<T>(common: T, ...others: T[]): fc.Arbitrary<T> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant(common) },
    { weight: 1, arbitrary: fc.constantFrom(...others) }
  )
}

const RIGHT_QUERIES = [`?token=${TOKEN}`, `?token=${PERCENT_TOKEN}`, `?x=1&token=${TOKEN}`]
const WRONG_QUERIES = [
  `?token=wrong&token=${TOKEN}`,
  `?token=${TOKEN}%00`,
  `?TOKEN=${TOKEN}`,
  '?token=%ZZ',
  '?token='
]
const RIGHT_AUTHORIZATIONS = [`Bearer ${TOKEN}`, `bearer ${TOKEN}`, `BEARER \t ${TOKEN}  `]
const WRONG_AUTHORIZATIONS = [`Bearer ${TOKEN} extra`, `Basic ${TOKEN}`, `Bearer ${TOKEN}x`, 'Bearer', TOKEN]

/** The token in the query, in the header, in neither, or wrong in either. */
const credentials = fc.oneof(
  fc.record({ query: fc.constantFrom(...RIGHT_QUERIES), authorization: fc.constant(undefined) }),
  fc.record({ query: fc.constant(''), authorization: fc.constantFrom(...RIGHT_AUTHORIZATIONS) }),
  fc.record({
    query: fc.constantFrom('', ...RIGHT_QUERIES, ...WRONG_QUERIES),
    authorization: fc.constantFrom(undefined, ...RIGHT_AUTHORIZATIONS, ...WRONG_AUTHORIZATIONS)
  })
)

const modelRequest = fc.record({
  upgrade: often(true, false),
  method: often('GET', 'HEAD', 'POST', 'PUT', 'OPTIONS'),
  path: often(CHANNEL_PATH, '/channel/', '/Channel', '/', '/other', '/healthz', '/readyz', '/metrics'),
  credentials,
  origin: often<string | undefined>(
    undefined,
    ALLOWED_ORIGIN,
    ALLOWED_ORIGIN.toUpperCase(),
    `${ALLOWED_ORIGIN}:443`,
    `${ALLOWED_ORIGIN}.evil.example`,
    'null',
    'https://evil.example'
  ),
  key: often(VALID_KEY, 'short', `${VALID_KEY}${VALID_KEY}`),
  wsVersion: often('13', '8', '7'),
  protocol: often<string | undefined>(undefined, SUBPROTOCOL, `chat, ${SUBPROTOCOL}`, 'chat', 'a,,b'),
  guarded: fc.boolean()
})

type ModelRequest = typeof modelRequest extends fc.Arbitrary<infer R> ? R : never

function modelBytes(r: ModelRequest): Buffer {
  const { query, authorization } = r.credentials
  const lines = [`${r.method} ${r.path}${query} HTTP/1.1`, 'Host: 127.0.0.1']
  if (r.upgrade) {
    lines.push('Upgrade: websocket', 'Connection: Upgrade')
    lines.push(`Sec-WebSocket-Key: ${r.key}`, `Sec-WebSocket-Version: ${r.wsVersion}`)
    if (r.protocol !== undefined) lines.push(`Sec-WebSocket-Protocol: ${r.protocol}`)
  }
  if (authorization !== undefined) lines.push(`Authorization: ${authorization}`)
  if (r.origin !== undefined) lines.push(`Origin: ${r.origin}`)
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`)
}

/** The token as the access rules read it: a Bearer header, or the first `token` of the query. */
function presentsToken(r: ModelRequest): boolean {
  const { query, authorization } = r.credentials
  return RIGHT_QUERIES.includes(query) || RIGHT_AUTHORIZATIONS.includes(authorization ?? '')
}

/** What the server answers, from the rules in access.ts, http-endpoints.ts and ws's handshake. */
function expectedAnswer(r: ModelRequest): { status: number; protocol?: string } {
  if (!r.upgrade) {
    if (!['/healthz', '/readyz', '/metrics'].includes(r.path)) return { status: 426 }
    if (r.method !== 'GET' && r.method !== 'HEAD') return { status: 405 }
    if (r.path === '/metrics' && r.guarded && !presentsToken(r)) return { status: 401 }
    return { status: 200 }
  }
  if (r.guarded) {
    if (r.path !== CHANNEL_PATH) return { status: 404 }
    if (r.origin !== undefined && ![ALLOWED_ORIGIN, 'null'].includes(r.origin.toLowerCase()))
      return { status: 403 }
    if (!presentsToken(r)) return { status: 401 }
  }
  if (r.method !== 'GET') return { status: 405 }
  if (r.key !== VALID_KEY || (r.wsVersion !== '13' && r.wsVersion !== '8') || r.protocol === 'a,,b')
    return { status: 400 }
  if (r.protocol === undefined) return { status: 101 }
  return { status: 101, protocol: r.protocol.includes(SUBPROTOCOL) ? SUBPROTOCOL : 'chat' }
}

// ------------------------------------------------------------------------------------------------
// After a run: nothing left behind, nothing gone wrong, and a legitimate client still served

/** The server holds no socket of the run, logged no fault and never the token. */
async function expectNothingLeft(t: Target): Promise<void> {
  await vi.waitFor(
    () => expect(t.server.stats()).toMatchObject({ connections: 0, sockets: 0, sessions: 0 }),
    {
      timeout: 3_000
    }
  )
  // Per-address entries with nothing open are forgotten at the next rate window (1 s).
  if (t.guarded) await vi.waitFor(() => expect(t.server.stats().trackedAddresses).toBe(0), { timeout: 3_000 })
  const faultLines = t.logs.filter((l) => /"level":"(error|fatal)"/.test(l))
  expect(faultLines, `${t.name}: faults logged`).toEqual([])
  expect(
    t.logs.some((l) => l.includes(TOKEN)),
    `${t.name}: the token was logged`
  ).toBe(false)
}

async function expectServed(t: Target): Promise<void> {
  const base = `http://127.0.0.1:${t.port}`
  const auth = { headers: { authorization: `Bearer ${TOKEN}` } }
  expect((await fetch(`${base}/healthz`)).status).toBe(200)
  expect((await fetch(`${base}/readyz`)).status).toBe(200)
  expect((await fetch(`${base}/metrics`, t.guarded ? auth : {})).status).toBe(200)
  const url = t.guarded ? `${t.server.url}?token=${TOKEN}` : t.server.url
  const client = await RawClient.authed(url, `fuzz-${t.name}`)
  try {
    expect(client.ws.protocol).toBe(SUBPROTOCOL)
    const reply = await client.request({ msgtype: 'request', operation: 'create_session' })
    expect(reply.result_cd).toBe(200)
  } finally {
    client.close()
  }
  await vi.waitFor(() => expect(t.server.stats().sockets).toBe(0), { timeout: 3_000 })
}

function expectProcessUntouched(): void {
  expect(faults, 'uncaught exceptions or unhandled rejections').toEqual([])
  expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([])
}

// ------------------------------------------------------------------------------------------------

describe('fuzz: raw HTTP at the channel server', () => {
  it(`answers ${RUNS.chaos} hostile requests with a well-formed status line or a clean close`, async () => {
    let answered = 0
    let upgraded = 0
    await fc.assert(
      fc.asyncProperty(chaosRequest, async (r) => {
        const t = r.guarded ? guarded : open
        const a = await exchange(t.port, chaosBytes(r), r.delivery)
        expectWellFormed(a, `${t.name} ${JSON.stringify(a.head.slice(0, 80))}`)
        if (a.status !== 0) answered++
        if (a.status === 101) upgraded++
        // Without an answer, the server closed the connection (unless the client cut it first).
        if (a.status === 0 && r.delivery.kind !== 'cut') expect(a.closed).toBe(true)
      }),
      {
        seed: FUZZ_SEED,
        numRuns: RUNS.chaos,
        examples: CRASHING_TARGETS.map((path): [ChaosRequest] => [
          {
            method: 'GET',
            path,
            query: '',
            version: 'HTTP/1.1',
            upgrade: true,
            headers: [['Origin', 'https://evil.example']],
            repeated: undefined,
            body: new Uint8Array(0),
            rawHeader: undefined,
            lineEnd: '\r\n',
            delivery: { kind: 'whole' },
            guarded: true
          }
        ])
      }
    )
    // Many requests reached an answer (the rest were refused by Node's parser), some a WebSocket.
    expect(answered).toBeGreaterThan(RUNS.chaos / 5)
    expect(upgraded).toBeGreaterThan(0)
    expectProcessUntouched()
    for (const t of [open, guarded]) {
      await expectNothingLeft(t)
      await expectServed(t)
    }
  }, 60_000)

  it(`answers ${RUNS.model} well-formed requests exactly as the access rules say, and counts each refusal`, async () => {
    const refusedBefore = new Map(guarded.server.counters().upgradesRefusedByStatus)
    const refusedSeen = new Map<number, number>()
    await fc.assert(
      fc.asyncProperty(modelRequest, async (r) => {
        const t = r.guarded ? guarded : open
        const a = await exchange(t.port, modelBytes(r))
        expectWellFormed(a, t.name)
        const want = expectedAnswer(r)
        expect(a.status, `${t.name} ${modelBytes(r).toString('latin1')}`).toBe(want.status)
        const chosen = /\r\nSec-WebSocket-Protocol: ([^\r]*)\r\n/i.exec(a.head)?.[1]
        expect(chosen).toBe(want.protocol)
        if (t.guarded && r.upgrade && [401, 403, 404].includes(a.status)) {
          refusedSeen.set(a.status, (refusedSeen.get(a.status) ?? 0) + 1)
        }
      }),
      { seed: FUZZ_SEED, numRuns: RUNS.model }
    )
    // Every refusal a client saw was counted for /metrics, once.
    const refusedAfter = guarded.server.counters().upgradesRefusedByStatus
    for (const status of [401, 403, 404]) {
      const counted = (refusedAfter.get(status) ?? 0) - (refusedBefore.get(status) ?? 0)
      expect(counted, `refusals ${status}`).toBe(refusedSeen.get(status) ?? 0)
    }
    expectProcessUntouched()
    for (const t of [open, guarded]) {
      await expectNothingLeft(t)
      await expectServed(t)
    }
  }, 60_000)

  it(`cuts off ${RUNS.stalled} requests that stall mid-way within the handshake timeout`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            request: chaosRequest,
            at: fc.double({ min: 0, max: 0.99, noNaN: true })
          }),
          { minLength: RUNS.stalled, maxLength: RUNS.stalled }
        ),
        async (stalls) => {
          // All at once: each holds a socket with part of a request and then says nothing more.
          const started = Date.now()
          const answers = await Promise.all(
            stalls.map(({ request, at }) => {
              // Cut inside the head: a complete request would be answered and kept alive.
              const bytes = chaosBytes({ ...request, lineEnd: '\r\n' })
              const headLength = bytes.indexOf('\r\n\r\n')
              const t = request.guarded ? guarded : open
              return stalled(t.port, bytes.subarray(0, Math.floor(at * headLength)))
            })
          )
          for (const a of answers) {
            expect(a.timedOut, 'a stalled request was never cut off').toBe(false)
            expectWellFormed(a, 'stalled')
          }
          expect(Date.now() - started).toBeLessThan(ANSWER_WAIT_MS)
        }
      ),
      // One run of twelve at once; a failure is reported as found (shrinking would wait out each stall).
      { seed: FUZZ_SEED, numRuns: 1, endOnFailure: true }
    )
    expectProcessUntouched()
    for (const t of [open, guarded]) {
      await expectNothingLeft(t)
      await expectServed(t)
    }
  }, 30_000)
})

describe('fuzz: concurrent upgrades against the per-address cap', () => {
  it(`${RUNS.bursts} bursts of upgrades, some cut or reset: never more than the cap open, all released after`, async () => {
    const upgrade = Buffer.from(
      `GET ${CHANNEL_PATH}?token=${TOKEN} HTTP/1.1\r\nHost: 127.0.0.1\r\n${UPGRADE_HEADERS.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`
    )
    let refused = 0
    await fc.assert(
      fc.asyncProperty(
        fc
          .integer({ min: 4, max: 3 * PER_ADDRESS })
          .chain((n) =>
            fc.array(fc.constantFrom('hold', 'hold', 'reset', 'cut'), { minLength: n, maxLength: n })
          ),
        async (kinds) => {
          const held: Socket[] = []
          const statuses = await Promise.all(kinds.map((kind) => burstOne(upgrade, kind, held)))
          refused += statuses.filter((st) => st === 429).length
          try {
            const opened = statuses.filter((st) => st === 101).length
            expect(opened).toBeLessThanOrEqual(PER_ADDRESS + kinds.filter((k) => k === 'reset').length)
            expect(guarded.server.stats().sockets).toBeLessThanOrEqual(PER_ADDRESS)
            for (const [i, st] of statuses.entries()) {
              if (kinds[i] === 'hold') expect([101, 429]).toContain(st)
            }
            // Below the cap, nobody is refused.
            if (kinds.filter((k) => k !== 'cut').length <= PER_ADDRESS) expect(statuses).not.toContain(429)
          } finally {
            for (const socket of held) socket.destroy()
          }
          await vi.waitFor(() => expect(guarded.server.stats().sockets).toBe(0), { timeout: 3_000 })
        }
      ),
      { seed: FUZZ_SEED, numRuns: RUNS.bursts }
    )
    expect(refused, 'the cap was reached').toBeGreaterThan(0)
    expectProcessUntouched()
    await expectNothingLeft(guarded)
    await expectServed(guarded)
  }, 30_000)
})

/**
 * One upgrade of a burst: `hold` keeps the socket open once answered, `reset` destroys it as soon
 * as the 101 arrives, `cut` sends half the request and destroys the socket. Resolves with the status.
 */
function burstOne(upgrade: Buffer, kind: string, held: Socket[]): Promise<number> {
  return new Promise((resolve) => {
    const socket = connect(guarded.port, '127.0.0.1')
    let received = ''
    const done = (status: number): void => {
      clearTimeout(timer)
      if (kind === 'hold' && status === 101) held.push(socket)
      else socket.destroy()
      resolve(status)
    }
    const timer = setTimeout(() => done(-1), ANSWER_WAIT_MS)
    socket.on('error', () => done(0))
    socket.on('close', () => done(0))
    socket.on('data', (c: Buffer) => {
      received += c.toString('latin1')
      if (received.includes('\r\n\r\n')) done(Number(/^HTTP\/1\.1 (\d{3}) /.exec(received)?.[1] ?? 0))
    })
    socket.on('connect', () => {
      if (kind === 'cut') socket.write(upgrade.subarray(0, upgrade.length >> 1), () => done(0))
      else socket.write(upgrade)
    })
  })
}

/** Writes a prefix, then waits (without closing) until the server answers or closes. */
function stalled(port: number, prefix: Buffer): Promise<Answer> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    let received = ''
    let settled = false
    const finish = (closed: boolean, timedOut = false): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      const end = received.indexOf('\r\n\r\n')
      const head = end < 0 ? received : received.slice(0, end + 4)
      resolve({ head, status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(head)?.[1] ?? 0), closed, timedOut })
    }
    const timer = setTimeout(() => finish(false, true), ANSWER_WAIT_MS)
    socket.on('error', () => finish(true))
    socket.on('close', () => finish(true))
    socket.on('data', (c: Buffer) => {
      received += c.toString('latin1')
    })
    socket.on('connect', () => socket.write(prefix))
  })
}
