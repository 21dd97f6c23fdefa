/**
 * Fuzz: /bridge messages from a page holding the token. Every call gets an outcome with a
 * result code, a malformed message closes only that page, and afterwards the host answers, its
 * memory is bounded and everything the pages opened is gone.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import WebSocket from 'ws'
import { AppCore } from '../../src/main/core/app-core'
import { BrowserHost } from '../../src/main/host/browser-host'
import { COMMAND_NAMES, type BridgeHostMessage, type Outcome } from '../../src/shared/contract'
import {
  DEEP_ARRAY_TEXT,
  DEEP_OBJECT_TEXT,
  FUZZ_RUNS,
  FUZZ_SEED,
  hostileString,
  hostileValue,
  leavesLoopback
} from './hostile'

const BRIDGE_RUNS = FUZZ_RUNS.bridge

let core: AppCore
let host: BrowserHost
let dir: string
let channelUrl: string

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gb-fuzz-bridge-'))
  writeFileSync(join(dir, 'index.html'), '<!doctype html>')
  core = await AppCore.start({ host: 'browser', version: 'fuzz', dataDir: join(dir, 'data') })
  host = new BrowserHost({ core, rendererDir: dir, deferMs: 5 })
  await host.start()
  channelUrl = core.embeddedServer!.url
})

afterAll(async () => {
  await host.stop()
  await core.stop()
  rmSync(dir, { recursive: true, force: true })
})

class Page {
  readonly ws: WebSocket
  readonly open: Promise<void>
  closed = false
  private readonly waiting = new Map<number, (o: Outcome<unknown>) => void>()

  constructor() {
    this.ws = new WebSocket(`ws://127.0.0.1:${new URL(host.url).port}/bridge?token=${host.token}`)
    this.open = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve())
      this.ws.once('error', reject)
    })
    this.ws.on('message', (d) => {
      for (const m of JSON.parse(d.toString()) as BridgeHostMessage[])
        if (m.kind === 'result') this.waiting.get(m.id)?.(m.outcome)
    })
    this.ws.on('close', () => {
      this.closed = true
      for (const w of this.waiting.values()) w({ ok: false, error: { result_cd: 0, message: 'closed' } })
    })
  }

  /** Sends text; resolves with the outcome of call `id`, or null when the page was closed. */
  send(text: string, id: number | null): Promise<Outcome<unknown> | null> {
    if (id === null) {
      this.ws.send(text)
      return Promise.resolve(null)
    }
    return new Promise((resolve) => {
      const timer = setTimeout(
        () => resolve({ ok: false, error: { result_cd: -1, message: 'no answer' } }),
        5000
      )
      this.waiting.set(id, (o) => {
        clearTimeout(timer)
        this.waiting.delete(id)
        resolve(o.ok === false && o.error.result_cd === 0 ? null : o)
      })
      this.ws.send(text)
    })
  }
}

// channel:keepalive waits up to 10 s for an echo the embedded server does not send: left out.
const NAMES = COMMAND_NAMES.filter((n) => n !== 'channel:keepalive')

const url = fc
  .oneof(
    fc.constantFrom(
      '',
      'http://127.0.0.1/',
      'ws://u:p@127.0.0.1/',
      'file:///etc/passwd',
      'ws://',
      `ws://x/${'a'.repeat(3000)}`
    ),
    fc.constant('EMBEDDED'),
    hostileString
  )
  .map((u) => (leavesLoopback(u) ? '' : u))

const req = fc.oneof(
  { weight: 1, arbitrary: hostileValue },
  {
    weight: 4,
    arbitrary: fc.record(
      {
        connectionId: fc.oneof(fc.constantFrom('c1', 'c2'), hostileString),
        uuid: fc.oneof(fc.constantFrom('K1', 'W1'), hostileString),
        sessionid: hostileString,
        url,
        channeltype: fc.oneof(fc.constant('webrtcaudio'), hostileString),
        data: hostileValue,
        role: fc.oneof(fc.constantFrom('speaker', 'console'), hostileString),
        localId: hostileString,
        outcome: hostileString,
        startedAt: fc.oneof(fc.integer(), fc.double()),
        endedAt: fc.oneof(fc.integer(), fc.double()),
        serverUrl: url,
        deviceUuid: hostileString,
        language: fc.oneof(fc.constantFrom('ko', 'en', 'auto'), hostileString),
        qualityAlarms: hostileValue,
        audioProcessing: hostileValue,
        liveCalls: hostileValue
      },
      { requiredKeys: [] }
    )
  }
)

/** One message: a call of a command, a call of anything, or not a call at all. */
const message = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('call'), name: fc.constantFrom(...NAMES), req }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('call'), name: hostileValue, req }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('deep-data-array', 'deep-data-object', 'deep-req')
  },
  {
    weight: 1,
    arbitrary: fc.oneof(
      hostileString,
      fc.constantFrom('{"kind":"call"}', '[]', 'null', '{"kind":"call","id":1.5}')
    )
  }
)

describe('fuzz: /bridge messages', () => {
  it(`answers ${BRIDGE_RUNS} hostile messages, closes only the page at fault, and returns to baseline`, async () => {
    const rssBefore = process.memoryUsage().rss
    let page = new Page()
    await page.open
    let id = 0
    let answered = 0
    let reopened = 0
    const deep = (name: string): string => {
      const i = ++id
      const body =
        name === 'deep-req'
          ? DEEP_OBJECT_TEXT
          : `{"connectionId":"c1","sessionid":"S","data":{"x":${name === 'deep-data-array' ? DEEP_ARRAY_TEXT : DEEP_OBJECT_TEXT}}}`
      return `{"kind":"call","id":${i},"name":"channel:send","req":${body}}`
    }
    await fc.assert(
      fc.asyncProperty(message, async (m) => {
        if (page.closed) {
          page = new Page()
          await page.open
          reopened++
        }
        let text: string
        let callId: number | null = null
        if (typeof m === 'string') {
          if (m.startsWith('deep-')) {
            text = deep(m)
            callId = id
          } else text = m
        } else {
          callId = ++id
          const r =
            typeof m.req === 'object' && m.req !== null && (m.req as { url?: unknown }).url === 'EMBEDDED'
              ? { ...m.req, url: channelUrl }
              : m.req
          text = JSON.stringify({ ...m, id: callId, req: r })
        }
        const outcome = await page.send(text, callId)
        if (outcome === null) return // a malformed message: the page was closed, as it should be
        answered++
        expect(typeof outcome.ok).toBe('boolean')
        if (!outcome.ok) {
          expect(outcome.error.result_cd, outcome.error.message).toBeGreaterThanOrEqual(400)
          expect(outcome.error.result_cd, outcome.error.message).toBeLessThan(600)
          expect(outcome.error.result_cd, outcome.error.message).not.toBe(500)
          expect(typeof outcome.error.message).toBe('string')
        }
      }),
      {
        seed: FUZZ_SEED,
        numRuns: BRIDGE_RUNS,
        examples: [['deep-data-array'], ['deep-data-object'], ['deep-req']]
      }
    )
    console.log(`bridge fuzz: ${answered} calls answered, page reopened ${reopened} times`)
    expect(answered).toBeGreaterThan(BRIDGE_RUNS / 2)
    page.ws.close()
    await vi.waitFor(() => expect(core.scopeCount).toBe(0), { timeout: 5000 })
    await vi.waitFor(() => expect(core.embeddedServer!.connectionCount).toBe(0), { timeout: 5000 })
    expect(
      (await fetch(`http://127.0.0.1:${new URL(host.url).port}/api/info?token=${host.token}`)).status
    ).toBe(200)
    const growth = process.memoryUsage().rss - rssBefore
    expect(growth).toBeLessThan(256 * 1024 * 1024)
  }, 120_000)
})
