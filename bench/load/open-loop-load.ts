/**
 * Load generator of the open-loop relay workload, run as its own process against one server. It
 * offers a fixed rate of round trips, whatever the server answers: frame n goes out from pair
 * n mod N at time n / rate, so every device sends on its own steady clock (staggered from the
 * others), and the web side echoes each frame it gets. That is the regime signaling produces: a
 * server that is far from saturated, where the cost of each frame on its own counts, not how
 * well bursts are batched.
 *
 * For each offered rate: `measureMs` of sending, then the frames still in flight come back, then
 * `settleMs` more. The server's CPU time is read at the first frame and at the end of the settle
 * time, so whatever the load leaves behind (garbage collection, timers) is counted too.
 *
 * Input: one JSON argument (OpenLoopOptions). Output: one stdout line `result {json}`
 * (OpenLoopResult). It stops by itself and has its own deadline.
 */
import { performance } from 'node:perf_hooks'
import { cpuMicroseconds, sleep } from '../lib/proc-stats'
import { percentileOfSorted } from '../lib/stats'
import type { SubjectId } from '../servers/subjects'
import { CLIENT_PROTOCOLS, type ConnectedPair } from './client-protocols'
import { payloadMarker } from './signaling-payloads'

export interface OpenLoopOptions {
  subject: SubjectId
  url: string
  serverPid: number
  pairs: number
  /** Offered round trips per second (over all pairs), measured in this order. */
  rates: number[]
  /**
   * Unmeasured load at the highest rate before the first measurement. A server compiles its hot
   * code on background threads, which count as its CPU: warmed at a low rate, the first
   * measurement would carry that compilation, and a server with more code would pay more of it.
   */
  warmupMs: number
  /** Sending time of each measurement. */
  measureMs: number
  /** Counted time after the last answer, for the work the load leaves behind. */
  settleMs: number
}

export interface OpenLoopMeasurement {
  offeredPerSecond: number
  /** Round trips completed per second of sending (the offered rate when the server keeps up). */
  completedPerSecond: number
  roundTrips: number
  relayedFrames: number
  p50Ms: number
  p99Ms: number
  /** Seconds over which the server's CPU was counted: sending, the drain, the settle time. */
  countedSeconds: number
  serverCpuUs: number
  serverCpuUsPerFrame: number
  /** Share of one core the server used over the counted time. */
  serverCpuPercent: number
  /** Latest a frame went out after its scheduled time (ms): large values mean the generator lagged. */
  maxSendLagMs: number
  loadGeneratorCpuPercent: number
}

export type OpenLoopResult = OpenLoopMeasurement[]

/** Frames a pair may have in flight before the load is called failed (the server stopped answering). */
const MAX_IN_FLIGHT_PER_PAIR = 4096
const MAX_SAMPLES = 2_000_000
const WARMUP_SETTLE_MS = 1000

class Recorder {
  measuring = false
  completed = 0
  readonly samples = new Float64Array(MAX_SAMPLES)
  failure: string | null = null

  record(latencyMs: number): void {
    if (!this.measuring) return
    if (this.completed < MAX_SAMPLES) this.samples[this.completed] = latencyMs
    this.completed++
  }
}

/** One device/web pair; answers come back in order of sending, so a ring of send times times them. */
class Pair {
  private readonly sentAt = new Float64Array(MAX_IN_FLIGHT_PER_PAIR)
  private head = 0
  inFlight = 0

  constructor(
    private readonly pair: ConnectedPair,
    private readonly atWeb: number,
    private readonly atDevice: number,
    private readonly recorder: Recorder
  ) {
    pair.web.on('message', (data: Buffer) => {
      if (data.length !== this.atWeb) return this.fail(`web side got an unexpected frame: ${String(data)}`)
      pair.web.send(pair.frames.candidate.fromWeb, { binary: false })
    })
    pair.device.on('message', (data: Buffer) => {
      if (data.length !== this.atDevice)
        return this.fail(`device side got an unexpected frame: ${String(data)}`)
      const latency = performance.now() - this.sentAt[this.head]!
      this.head = (this.head + 1) % MAX_IN_FLIGHT_PER_PAIR
      this.inFlight--
      this.recorder.record(latency)
    })
  }

  send(): void {
    if (this.inFlight >= MAX_IN_FLIGHT_PER_PAIR) return this.fail('the server stopped answering')
    this.sentAt[(this.head + this.inFlight) % MAX_IN_FLIGHT_PER_PAIR] = performance.now()
    this.inFlight++
    this.pair.device.send(this.pair.frames.candidate.fromDevice, { binary: false })
  }

  private fail(message: string): void {
    this.recorder.failure ??= message.slice(0, 300)
  }
}

async function connectPairs(options: OpenLoopOptions, recorder: Recorder): Promise<Pair[]> {
  const protocol = CLIENT_PROTOCOLS[options.subject]
  const pairs: Pair[] = []
  for (let i = 0; i < options.pairs; i++) {
    const pair = await protocol.connectPair(options.url, i)
    // One fully checked round trip: the candidate arrives intact, and the sizes of both frames.
    const atWeb = await receiveOne(pair.web, () =>
      pair.device.send(pair.frames.candidate.fromDevice, { binary: false })
    )
    const atDevice = await receiveOne(pair.device, () =>
      pair.web.send(pair.frames.candidate.fromWeb, { binary: false })
    )
    for (const text of [atWeb, atDevice])
      if (!text.includes(payloadMarker('candidate')))
        throw new Error(`a candidate was not relayed intact: ${text.slice(0, 300)}`)
    pairs.push(new Pair(pair, Buffer.byteLength(atWeb), Buffer.byteLength(atDevice), recorder))
  }
  return pairs
}

function receiveOne(ws: ConnectedPair['web'], trigger: () => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('probe frame was not relayed within 5 s')), 5000)
    ws.once('message', (data) => {
      clearTimeout(timer)
      resolve(String(data))
    })
    trigger()
  })
}

/**
 * Sends at `rate` round trips/s for `ms`, on a 1 ms timer: each tick sends what is due by then,
 * round-robin over the pairs. Returns the latest a frame went out after its due time.
 */
async function offer(pairs: Pair[], rate: number, ms: number, recorder: Recorder): Promise<number> {
  const t0 = performance.now()
  const total = Math.round((rate * ms) / 1000)
  let sent = 0
  let maxLag = 0
  while (sent < total && recorder.failure === null) {
    const now = performance.now()
    const due = Math.min(total, Math.floor(((now - t0) * rate) / 1000) + 1)
    if (due > sent) maxLag = Math.max(maxLag, now - (t0 + (sent * 1000) / rate))
    for (; sent < due; sent++) pairs[sent % pairs.length]!.send()
    await sleep(1)
  }
  return maxLag
}

async function drain(pairs: Pair[], recorder: Recorder): Promise<void> {
  const until = Date.now() + 10_000
  while (pairs.some((p) => p.inFlight > 0) && Date.now() < until && recorder.failure === null) await sleep(2)
  if (recorder.failure !== null) throw new Error(recorder.failure)
  if (pairs.some((p) => p.inFlight > 0)) throw new Error('the server did not relay every frame')
}

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '{}') as OpenLoopOptions
  const budgetMs = options.warmupMs + options.rates.length * (options.measureMs + options.settleMs + 2000)
  setTimeout(() => {
    console.error('open-loop load generator: deadline passed, stopping')
    process.exit(2)
  }, budgetMs + 60_000).unref()

  const recorder = new Recorder()
  const pairs = await connectPairs(options, recorder)
  await offer(pairs, Math.max(...options.rates), options.warmupMs, recorder)
  await drain(pairs, recorder)
  // Let the compilation and collection the warm-up started finish before anything is counted.
  await sleep(WARMUP_SETTLE_MS)

  const result: OpenLoopResult = []
  for (const rate of options.rates) {
    recorder.completed = 0
    recorder.measuring = true
    const self0 = process.cpuUsage()
    const cpu0 = cpuMicroseconds(options.serverPid)
    const t0 = performance.now()
    const maxSendLagMs = await offer(pairs, rate, options.measureMs, recorder)
    const sendingMs = performance.now() - t0
    await drain(pairs, recorder)
    recorder.measuring = false
    await sleep(options.settleMs)
    const cpu1 = cpuMicroseconds(options.serverPid)
    const countedMs = performance.now() - t0
    const self = process.cpuUsage(self0)
    const n = Math.min(recorder.completed, MAX_SAMPLES)
    const sorted = recorder.samples.slice(0, n).sort()
    const serverCpuUs = cpu1 - cpu0
    const relayedFrames = recorder.completed * 2
    result.push({
      offeredPerSecond: rate,
      completedPerSecond: recorder.completed / (sendingMs / 1000),
      roundTrips: recorder.completed,
      relayedFrames,
      p50Ms: percentileOfSorted(sorted, 50),
      p99Ms: percentileOfSorted(sorted, 99),
      countedSeconds: countedMs / 1000,
      serverCpuUs,
      serverCpuUsPerFrame: serverCpuUs / relayedFrames,
      serverCpuPercent: (serverCpuUs / 1000 / countedMs) * 100,
      maxSendLagMs,
      loadGeneratorCpuPercent: ((self.user + self.system) / 1000 / countedMs) * 100
    })
  }
  console.log(`result ${JSON.stringify(result)}`)
  process.exit(0)
}

main().catch((e: unknown) => {
  console.error(`open-loop load generator failed: ${e instanceof Error ? e.message : String(e)}`)
  process.exit(1)
})
