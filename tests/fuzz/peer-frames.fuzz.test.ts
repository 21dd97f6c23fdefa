/**
 * Fuzz: channel frames from a peer (a channel server that relays anything) into a page's channel
 * client. Whatever arrives, every event the core hands a page can be serialised, the connection
 * stays ready, and frames after the hostile ones still arrive in order.
 */
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type WebSocket, WebSocketServer } from 'ws'
import { DELIVERY_KEY, DELIVERY_TYPE } from '../../src/main/channel/delivery'
import { AppCore, type Scope } from '../../src/main/core/app-core'
import type { EventName, Events } from '../../src/shared/contract'
import {
  DEEP_ARRAY_TEXT,
  DEEP_OBJECT_TEXT,
  FUZZ_RUNS,
  FUZZ_SEED,
  hostileString,
  hostileValue,
  nested
} from './hostile'

const PEER_RUNS = FUZZ_RUNS.peerFrames
const SESSION = 'S-fuzz'

let wss: WebSocketServer
let peer: WebSocket
let core: AppCore
let scope: Scope
const seen: { name: EventName; payload: unknown }[] = []
let waiter: (() => void) | null = null

beforeAll(async () => {
  // A channel server that answers what the client asks and then sends whatever the test says.
  wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await new Promise<void>((r) => wss.once('listening', () => r()))
  const connected = new Promise<WebSocket>((resolve) =>
    wss.on('connection', (ws) => {
      ws.on('message', (d) => {
        const f = JSON.parse(d.toString()) as Record<string, unknown>
        if (f.msgtype !== 'request') return
        const reply: Record<string, unknown> = {
          msgtype: 'reply',
          operation: f.operation,
          result_cd: 200,
          result_msg: 'ok',
          trxid: f.trxid
        }
        if (f.operation === 'create_session') reply.sessionid = SESSION
        ws.send(JSON.stringify(reply))
      })
      ws.send(JSON.stringify({ msgtype: 'notify', operation: 'iam', channeltype: 'system' }))
      resolve(ws)
    })
  )
  const port = (wss.address() as { port: number }).port
  core = await AppCore.start({
    host: 'browser',
    version: 'fuzz',
    embeddedServer: false,
    serverUrl: `ws://127.0.0.1:${port}/channel`,
    dataDir: null
  })
  scope = core.openScope(<E extends EventName>(name: E, payload: Events[E]) => {
    // What both hosts do with every event: serialise it (JSON here, structured clone in Electron).
    JSON.stringify(payload)
    seen.push({ name, payload })
    waiter?.()
  })
  expect((await scope.handle('channel:connect', { connectionId: 'c', uuid: 'speaker' })).ok).toBe(true)
  expect((await scope.handle('channel:create', { connectionId: 'c', sessionid: SESSION })).ok).toBe(true)
  peer = await connected
})

afterAll(async () => {
  scope.dispose()
  await core.stop()
  for (const c of wss.clients) c.terminate()
  await new Promise((r) => wss.close(r))
})

const frameLike = fc.record(
  {
    msgtype: fc.oneof(fc.constantFrom('request', 'reply', 'notify', 'data'), hostileValue),
    operation: fc.oneof(
      fc.constantFrom(
        'iam',
        'ras_alive',
        'join_session',
        'leave_session',
        'destroy_session',
        'auth',
        'create_session'
      ),
      hostileValue
    ),
    sessionid: fc.oneof(fc.constant(SESSION), hostileValue),
    trxid: fc.oneof(fc.constantFrom('1', '2', 'T:1'), hostileValue),
    result_cd: fc.oneof(fc.constantFrom(200, 400, 404, 500), hostileValue),
    result_msg: hostileValue,
    channeltype: hostileValue,
    data: fc.oneof(
      hostileValue,
      fc.record(
        {
          type: fc.constantFrom('offer', 'answer', 'candidate', 'bye', DELIVERY_TYPE),
          sdp: hostileValue,
          candidate: hostileValue,
          from: hostileValue,
          ack: hostileValue,
          resume: hostileValue,
          nack: hostileValue
        },
        { requiredKeys: ['type'] }
      ),
      fc.record({
        [DELIVERY_KEY]: fc.oneof(
          hostileValue,
          fc.record({
            from: hostileString,
            epoch: fc.integer({ min: -2, max: 1e6 }),
            seq: fc.integer({ min: -2, max: 1e6 })
          })
        )
      })
    )
  },
  { requiredKeys: [] }
)

/** What the peer sends in one run: frames as values, as raw text, or nested too deeply. */
const frameText = fc.oneof(
  { weight: 6, arbitrary: frameLike.map((f) => JSON.stringify(f)) },
  { weight: 1, arbitrary: hostileString },
  {
    weight: 1,
    arbitrary: fc.constantFrom(DEEP_ARRAY_TEXT, DEEP_OBJECT_TEXT, '{"msgtype":"data","data":{}}')
  },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 62, max: 70 })
      .map((d) => `{"msgtype":"data","sessionid":"${SESSION}","data":${nested(d)}}`)
  },
  {
    weight: 1,
    arbitrary: fc.constant(`{"msgtype":"data","sessionid":"${SESSION}","data":{"x":${DEEP_ARRAY_TEXT}}}`)
  }
)

let marker = 0

/** Sends a marker notify and resolves once the page has its frame: the path is still open, in order. */
function roundTrip(): Promise<void> {
  const m = ++marker
  const found = (): boolean =>
    seen.some(
      (e) => e.name === 'channel:frame' && (e.payload as { frame: { marker?: number } }).frame.marker === m
    )
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`marker ${m} did not arrive`)), 5000)
    waiter = () => {
      if (!found()) return
      clearTimeout(timer)
      waiter = null
      resolve()
    }
    peer.send(JSON.stringify({ msgtype: 'notify', operation: 'ras_alive', channeltype: 'system', marker: m }))
  })
}

describe('fuzz: channel frames from a peer into a page client', () => {
  it(`takes ${PEER_RUNS} hostile frames, and the connection stays ready`, async () => {
    const rssBefore = process.memoryUsage().rss
    await fc.assert(
      fc.asyncProperty(frameText, async (text) => {
        seen.length = 0
        peer.send(text)
        await roundTrip()
        const state = seen.filter((e) => e.name === 'channel:state').pop()
        if (state) expect((state.payload as { state: string }).state).not.toBe('closed')
      }),
      {
        seed: FUZZ_SEED,
        numRuns: PEER_RUNS,
        examples: [
          [DEEP_ARRAY_TEXT],
          [`{"msgtype":"data","sessionid":"${SESSION}","data":{"x":${DEEP_ARRAY_TEXT}}}`]
        ]
      }
    )
    expect(scope.connectionIds).toEqual(['c'])
    const diagnostics = await scope.handle('app:diagnostics', undefined)
    expect(diagnostics.ok).toBe(true)
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(256 * 1024 * 1024)
  }, 120_000)
})
