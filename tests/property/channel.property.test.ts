/**
 * Property tests (fast-check, fixed seeds): the frame parser over arbitrary input, the delivery
 * bookkeeping over random losses, and random command sequences against a real server over
 * 127.0.0.1. Over 10,000 cases in all.
 */
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { SessionDelivery, readControl, readStamp } from '../../src/main/channel/delivery'
import { ChannelServer } from '../../src/main/channel/server'
import { MSGTYPES, ResultCode, parseFrame, validateFrame } from '../../src/shared/protocol'

const SEED = 20_240_605
const ERROR_CODES = new Set<number>(Object.values(ResultCode).filter((c) => c !== ResultCode.OK))

/** Strings shaped like frames: the envelope keys with values of every type, plus junk. */
const frameLike = fc
  .record(
    {
      msgtype: fc.oneof(fc.constantFrom(...MSGTYPES, 'other', ''), fc.integer(), fc.constant(null)),
      operation: fc.oneof(
        fc.constantFrom('auth', 'create_session', 'join_session', 'destroy_session', 'ras_alive', 'x'),
        fc.string(),
        fc.integer(),
        fc.jsonValue({ maxDepth: 1 })
      ),
      uuid: fc.oneof(fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null)),
      sessionid: fc.oneof(fc.string(), fc.integer(), fc.jsonValue({ maxDepth: 1 })),
      trxid: fc.oneof(fc.string(), fc.integer(), fc.constant(Number.NaN)),
      channeltype: fc.oneof(fc.constantFrom('webrtcaudio', 'system'), fc.integer()),
      result_cd: fc.oneof(fc.integer(), fc.string()),
      result_msg: fc.oneof(fc.string(), fc.integer()),
      data: fc.oneof(fc.object({ maxDepth: 2 }), fc.jsonValue({ maxDepth: 2 })),
      delivery: fc.jsonValue({ maxDepth: 2 })
    },
    { requiredKeys: [] }
  )
  .map((o) => JSON.stringify(o))

function checkParse(text: string): void {
  const result = parseFrame(text)
  if (result.ok) {
    expect(MSGTYPES).toContain(result.frame.msgtype)
    for (const key of ['operation', 'channeltype', 'uuid', 'sessionid', 'trxid'] as const) {
      const v = result.frame[key]
      expect(v === undefined || typeof v === 'string').toBe(true)
    }
    if (result.frame.msgtype === 'reply') expect(typeof result.frame.result_cd).toBe('number')
    // What was accepted is accepted again after a round trip.
    expect(parseFrame(JSON.stringify(result.frame)).ok).toBe(true)
  } else {
    expect(ERROR_CODES.has(result.error.result_cd)).toBe(true)
    expect(result.error.result_msg.length).toBeGreaterThan(0)
  }
}

describe('the frame parser never throws and always says why', () => {
  it('arbitrary text (4,000 cases)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.json()), (text) =>
        checkParse(text)
      ),
      { seed: SEED, numRuns: 4_000 }
    )
  })

  it('frame-shaped JSON with every type in every field (4,000 cases)', () => {
    fc.assert(
      fc.property(frameLike, (text) => checkParse(text)),
      { seed: SEED + 1, numRuns: 4_000 }
    )
  })

  it('any value given to validateFrame, and any stamp or control payload (1,000 cases)', () => {
    fc.assert(
      fc.property(fc.anything({ withNullPrototype: true, withBoxedValues: true }), (value) => {
        const r = validateFrame(value)
        if (!r.ok) expect(ERROR_CODES.has(r.error.result_cd)).toBe(true)
        readStamp(value)
        if (typeof value === 'object' && value !== null) readControl(value as Record<string, unknown>, 'me')
      }),
      { seed: SEED + 2, numRuns: 1_000 }
    )
  })
})

// ---------------------------------------------------------------------------------------------
// Delivery: a sender and a receiver joined by a lossy wire (a cut loses everything in flight).

type WireItem = { seq: number; epoch: number } | { skip: number }
type Step =
  | { op: 'send'; n: number }
  | { op: 'deliver'; n: number }
  | { op: 'ack' }
  | { op: 'cut' }
  | { op: 'tick'; ms: number }

const steps = fc.array(
  fc.oneof(
    fc.record({ op: fc.constant('send' as const), n: fc.integer({ min: 1, max: 6 }) }),
    fc.record({ op: fc.constant('deliver' as const), n: fc.integer({ min: 1, max: 8 }) }),
    fc.record({ op: fc.constant('ack' as const) }),
    fc.record({ op: fc.constant('cut' as const) }),
    fc.record({ op: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 1500 }) })
  ),
  { maxLength: 60 }
)

function simulate(plan: Step[], maxLog: number): { sent: number; delivered: number[]; missed: number } {
  const ttl = 1e12 // age never matters here; the count bound does
  const a = new SessionDelivery(maxLog, ttl)
  const b = new SessionDelivery(maxLog, ttl)
  let now = 0
  let toB: WireItem[] = []
  let toA: (number | undefined)[] = []
  const delivered: number[] = []
  let missed = 0
  const intoB = (item: WireItem): void => {
    if ('skip' in item) {
      missed += b.skip('A', item.skip)
      return
    }
    const v = b.receive({ from: 'A', epoch: item.epoch, seq: item.seq }, now, 1e12)
    if (v.deliver) {
      delivered.push(item.seq)
      missed += v.missed
    } else if (v.nack) toA.push(b.acks().A)
  }
  const intoA = (ack: number | undefined): void => {
    const r = a.resendAfter(ack, now)
    if (!r) return
    if (r.skip !== undefined) toB.push({ skip: r.skip })
    for (const text of r.texts) toB.push(JSON.parse(text) as WireItem)
  }
  for (const step of plan) {
    switch (step.op) {
      case 'send':
        for (let i = 0; i < step.n; i++) {
          const s = a.stamp('A')
          a.sent(s.seq, JSON.stringify({ seq: s.seq, epoch: s.epoch }), now)
          toB.push({ seq: s.seq, epoch: s.epoch })
        }
        break
      case 'deliver':
        for (const item of toB.splice(0, step.n)) intoB(item)
        break
      case 'ack':
        if (toA.length) intoA(toA.shift())
        break
      case 'cut':
        // Everything in flight is lost; coming back, the receiver says what it has.
        toB = []
        toA = [b.acks().A]
        break
      case 'tick':
        now += step.ms
        break
    }
  }
  // The wire heals: deliver everything, answer every ack, and one last resume round.
  for (let round = 0; round < 50 && (toB.length || toA.length || delivered.at(-1) !== a.seq); round++) {
    now += 1_001
    while (toB.length) intoB(toB.shift()!)
    while (toA.length) intoA(toA.shift())
    if (!toB.length && delivered.at(-1) !== a.seq) toA.push(b.acks().A)
  }
  return { sent: a.seq, delivered, missed }
}

describe('delivery over a lossy wire', () => {
  it('with enough kept for resending: every frame once, in order (600 cases)', () => {
    fc.assert(
      fc.property(steps, (plan) => {
        const { sent, delivered, missed } = simulate(plan, 10_000)
        expect(delivered).toEqual(Array.from({ length: sent }, (_, i) => i + 1))
        expect(missed).toBe(0)
      }),
      { seed: SEED + 3, numRuns: 600 }
    )
  })

  it('with little kept: in order, never twice, caught up at the end, gaps announced (600 cases)', () => {
    fc.assert(
      fc.property(steps, fc.integer({ min: 1, max: 8 }), (plan, maxLog) => {
        const { sent, delivered, missed } = simulate(plan, maxLog)
        for (let i = 1; i < delivered.length; i++) expect(delivered[i]).toBeGreaterThan(delivered[i - 1]!)
        if (sent > 0) expect(delivered.at(-1) ?? 0).toBe(sent)
        // Every frame skipped between two delivered ones was announced as missed.
        let between = 0
        for (let i = 1; i < delivered.length; i++) between += delivered[i]! - delivered[i - 1]! - 1
        expect(missed).toBeGreaterThanOrEqual(between)
        expect(delivered.length + missed).toBeLessThanOrEqual(sent)
      }),
      { seed: SEED + 4, numRuns: 600 }
    )
  })
})

// ---------------------------------------------------------------------------------------------
// Random command sequences against a real server.

type Command =
  | { t: 'open' | 'close' | 'cut' | 'binary'; c: number }
  | { t: 'auth'; c: number; uuid: string }
  | { t: 'create' | 'destroy'; c: number; sid: string | undefined }
  | { t: 'join'; c: number; sid: string }
  | { t: 'data'; c: number; sid: string | undefined; payload: unknown }
  | { t: 'notify'; c: number; op: string }
  | { t: 'text'; c: number; text: string }

const slot = fc.integer({ min: 0, max: 2 })
const sid = fc.oneof(
  { weight: 6, arbitrary: fc.constant('S1') },
  { weight: 1, arbitrary: fc.constantFrom('S2', '', 'x'.repeat(200), 'bad\u0001id') }
)
/** A device and a web client already in session S1, so that sequences start mid-call too. */
const CALL: Command[] = [
  { t: 'auth', c: 0, uuid: 'K1' },
  { t: 'create', c: 0, sid: 'S1' },
  { t: 'auth', c: 1, uuid: 'W1' },
  { t: 'join', c: 1, sid: 'S1' }
]
const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 1, arbitrary: fc.record({ t: fc.constantFrom('open', 'close', 'cut', 'binary'), c: slot }) },
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant('auth' as const),
      c: slot,
      uuid: fc.constantFrom('K1', 'K2', 'W1', 'W2', '', 'u'.repeat(300))
    })
  },
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constantFrom('create' as const, 'destroy' as const),
      c: slot,
      sid: fc.option(sid, { nil: undefined })
    })
  },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('join' as const), c: slot, sid }) },
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant('data' as const),
      c: slot,
      sid: fc.option(sid, { nil: undefined }),
      payload: fc.oneof(
        { weight: 3, arbitrary: fc.object({ maxDepth: 1 }) },
        { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) }
      )
    })
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('notify' as const),
      c: slot,
      op: fc.constantFrom('ras_alive', 'iam', 'x')
    })
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('text' as const),
      c: slot,
      text: fc.oneof(fc.string({ maxLength: 40 }), fc.json({ maxDepth: 2 }), frameLike)
    })
  }
)

interface Peer {
  ws: WebSocket
  frames: string[]
}

describe('random command sequences against a server', () => {
  let server: ChannelServer
  let url: string
  let baseline: Map<string, number>

  const resources = (): Map<string, number> => {
    const counts = new Map<string, number>()
    for (const r of process.getActiveResourcesInfo()) counts.set(r, (counts.get(r) ?? 0) + 1)
    return counts
  }
  /** Nothing left over: no more sockets, servers or timers of any kind than at the start. */
  const noMoreThan = (now: Map<string, number>, base: Map<string, number>): boolean =>
    [...now.keys()].every((k) => (now.get(k) ?? 0) <= (base.get(k) ?? 0))

  beforeAll(async () => {
    server = new ChannelServer({
      limitLoopback: true,
      limits: {
        reconnectGraceMs: 30,
        sweepIntervalMs: 10,
        framesPerWindow: 40,
        badFrameAllowance: 3,
        graceBufferFrames: 4,
        closeTimeoutMs: 200
      }
    })
    url = await server.listen()
  })

  afterAll(async () => {
    await server.close()
  })

  async function openPeer(): Promise<Peer> {
    const ws = new WebSocket(url)
    const peer: Peer = { ws, frames: [] }
    ws.on('error', () => undefined)
    ws.on('message', (raw) => peer.frames.push(raw.toString()))
    await new Promise<void>((resolve) => {
      ws.once('open', () => resolve())
      ws.once('close', () => resolve())
    })
    return peer
  }

  function run(peer: Peer, cmd: Command): void {
    const send = (v: unknown): void => peer.ws.send(typeof v === 'string' ? v : JSON.stringify(v))
    switch (cmd.t) {
      case 'close':
        return peer.ws.close()
      case 'cut':
        return peer.ws.terminate()
      case 'binary':
        return peer.ws.send(Buffer.from([0, 1, 2]), { binary: true })
      case 'auth':
        return send({ msgtype: 'request', operation: 'auth', uuid: cmd.uuid, trxid: 't' })
      case 'create':
        return send({ msgtype: 'request', operation: 'create_session', sessionid: cmd.sid, trxid: 't' })
      case 'destroy':
        return send({ msgtype: 'request', operation: 'destroy_session', sessionid: cmd.sid })
      case 'join':
        return send({ msgtype: 'request', operation: 'join_session', sessionid: cmd.sid, trxid: 't' })
      case 'data':
        return send({ msgtype: 'data', sessionid: cmd.sid, data: cmd.payload })
      case 'notify':
        return send({ msgtype: 'notify', operation: cmd.op })
      case 'text':
        return send(cmd.text)
      case 'open':
        return
    }
  }

  it('no exception, every error reply has a result_cd, and everything returns to baseline (300 sequences)', async () => {
    let sequences = 0
    const seen = { joined: 0, away: 0, relayed: 0 }
    // Taken here, not in beforeAll: the runner's own timers differ between hooks and tests.
    baseline = resources()
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        fc.array(commandArb, { minLength: 1, maxLength: 25 }),
        async (inCall, rest) => {
          const commands = inCall ? [...CALL, ...rest] : rest
          sequences++
          const peers: Peer[] = await Promise.all([openPeer(), openPeer(), openPeer()])
          const all: Peer[] = [...peers]
          for (const cmd of commands) {
            let peer = peers[cmd.c]!
            if (cmd.t === 'open' || peer.ws.readyState !== WebSocket.OPEN) {
              if (cmd.t !== 'open' && peer.ws.readyState === WebSocket.CONNECTING) continue
              peer = peers[cmd.c] = await openPeer()
              all.push(peer)
              if (cmd.t === 'open') continue
            }
            if (peer.ws.readyState === WebSocket.OPEN) run(peer, cmd)
            if (server.stats().awaySlots > 0) seen.away++
            // The server's own view stays consistent at every step.
            for (const s of server.listSessions()) {
              const present = [...s.memberUuids, ...s.awayUuids]
              expect(new Set(present).size, JSON.stringify(s)).toBe(present.length)
            }
          }
          await new Promise((r) => setTimeout(r, 15))
          for (const peer of all) {
            for (const text of peer.frames) {
              const frame = JSON.parse(text) as Record<string, unknown>
              expect(MSGTYPES).toContain(frame.msgtype)
              if (frame.msgtype === 'data') seen.relayed++
              if (frame.operation === 'join_session' && frame.result_cd === 200) seen.joined++
              if (frame.msgtype === 'reply') {
                expect(typeof frame.result_cd, text).toBe('number')
                expect(typeof frame.result_msg, text).toBe('string')
                if (frame.result_cd !== 200)
                  expect(ERROR_CODES.has(frame.result_cd as number), text).toBe(true)
              }
            }
          }
          // Leave, half cleanly and half by cutting, then wait for the grace periods to run out.
          all.forEach((peer, i) => (i % 2 ? peer.ws.close() : peer.ws.terminate()))
          const deadline = Date.now() + 3_000
          for (;;) {
            const st = server.stats()
            if (st.awaySlots > 0) seen.away++
            const clean =
              st.connections === 0 &&
              st.sockets === 0 &&
              st.sessions === 0 &&
              st.awaySlots === 0 &&
              st.heldBytes === 0 &&
              st.bufferedBytes === 0 &&
              st.trackedAddresses === 0 &&
              noMoreThan(resources(), baseline)
            if (clean) break
            if (Date.now() > deadline) {
              expect({ stats: st, resources: Object.fromEntries(resources()) }).toEqual({
                stats: 'back to zero',
                resources: Object.fromEntries(baseline)
              })
            }
            await new Promise((r) => setTimeout(r, 5))
          }
        }
      ),
      { seed: SEED + 5, numRuns: 300 }
    )
    expect(sequences).toBeGreaterThanOrEqual(300)
    // The sequences reach the interesting states, not only refusals.
    console.log(
      `server sequences: ${sequences}; sessions joined ${seen.joined} times, members away ${seen.away} times, data relayed ${seen.relayed} times`
    )
    expect(seen.joined && seen.away && seen.relayed).toBeGreaterThan(0)
  }, 60_000)
})
