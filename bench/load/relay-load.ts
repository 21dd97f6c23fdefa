/**
 * Load generator of the relay workload, run as its own process (each server under test runs in
 * another). It holds N device/web pairs on every server at once and loads one server at a time, in
 * short slices that alternate between the servers: on a shared, noisy machine, whatever else runs
 * then falls on all of them alike, and the ratios between them stay meaningful.
 *
 * In a slice, every device of the loaded server keeps `window` frames in flight; the web side
 * answers each frame with one of the same kind and the device sends a new one for every answer.
 *
 * Input: one JSON argument (RelayLoadOptions). Output: one stdout line `result {json}`
 * (RelayLoadResult). It stops by itself: the amount of load is fixed, the process has a deadline.
 */
import { performance } from 'node:perf_hooks'
import type WebSocket from 'ws'
import { cpuMicroseconds, sleep } from '../lib/proc-stats'
import { percentileOfSorted } from '../lib/stats'
import type { RelayLoadShape } from '../lib/workload'
import type { SubjectId } from '../servers/subjects'
import { CLIENT_PROTOCOLS, type ConnectedPair } from './client-protocols'
import { FRAME_KINDS, payloadMarker, type FrameKind } from './signaling-payloads'

export interface RelayTarget {
  /** Which protocol to speak. */
  subject: SubjectId
  /** Key of this server's results; defaults to `subject` (set it to compare two builds of one server). */
  label?: string
  url: string
  /** Where the web side connects, when not to `url` (another process of the same service). */
  webUrl?: string
  serverPid: number
  /** Every process whose CPU counts as the server's (default: serverPid), e.g. both servers and Redis. */
  cpuPids?: number[]
}

export interface RelayLoadOptions extends RelayLoadShape {
  targets: RelayTarget[]
}

export interface RelayMeasurement {
  roundTrips: number
  seconds: number
  roundTripsPerSecond: number
  p50Ms: number
  p99Ms: number
  relayedFrames: number
  /**
   * Server CPU over the whole phase of this frame kind (every slice, the ramps and drains between
   * the measured intervals, the time other servers were loaded and a settle time at the end),
   * per frame relayed in that phase: nothing the server did is left out.
   */
  serverCpuUs: number
  serverCpuUsPerFrame: number
  /** Server CPU inside the measured intervals only, per frame relayed in them (what slices alone show). */
  sliceCpuUsPerFrame: number
  /** Frames relayed over the whole phase (the denominator of serverCpuUsPerFrame). */
  phaseFrames: number
  /** Share of one core the load generator used while measuring (near 100 %: it was the limit). */
  loadGeneratorCpuPercent: number
  frameBytes: { fromDevice: number; atWeb: number; fromWeb: number; atDevice: number }
}

/** Results by target label (the subject id unless a label was given), then by frame kind. */
export type RelayLoadResult = Record<string, Record<FrameKind, RelayMeasurement>>

interface FrameSizes {
  atWeb: number
  atDevice: number
}

const MAX_SLICE_SAMPLES = 2_000_000

/** State of the slice in progress, shared by the pairs of the loaded server. */
class Slice {
  sending = true
  measuring = false
  completed = 0
  /** Round trips completed in the slice, measured or not. */
  all = 0
  readonly samples = new Float64Array(MAX_SLICE_SAMPLES)
  failure: string | null = null

  reset(): void {
    this.sending = true
    this.measuring = false
    this.completed = 0
    this.all = 0
  }

  record(latencyMs: number): void {
    this.all++
    if (!this.measuring) return
    if (this.completed < MAX_SLICE_SAMPLES) this.samples[this.completed] = latencyMs
    this.completed++
  }

  fail(message: string): void {
    this.failure ??= message
    this.sending = false
  }
}

/**
 * One device/web pair. Frames on one connection arrive in order, so answers come back in the order
 * of sending: a ring of send times is enough to time each round trip, with no parsing on the hot path.
 */
class PairLoop {
  private readonly sentAt: Float64Array
  private head = 0
  private kind: FrameKind = 'candidate'
  inFlight = 0

  constructor(
    private readonly pair: ConnectedPair,
    private readonly sizes: Record<FrameKind, FrameSizes>,
    private readonly slice: Slice,
    private readonly window: number
  ) {
    this.sentAt = new Float64Array(window)
    pair.web.on('message', (data: Buffer) => this.onWeb(data))
    pair.device.on('message', (data: Buffer) => this.onDevice(data))
  }

  start(kind: FrameKind): void {
    this.kind = kind
    for (let i = 0; i < this.window; i++) this.sendOne()
  }

  private sendOne(): void {
    this.sentAt[(this.head + this.inFlight) % this.window] = performance.now()
    this.inFlight++
    this.pair.device.send(this.pair.frames[this.kind].fromDevice, { binary: false })
  }

  private onWeb(data: Buffer): void {
    if (data.length !== this.sizes[this.kind].atWeb) {
      return this.slice.fail(`web side got an unexpected frame: ${String(data).slice(0, 200)}`)
    }
    this.pair.web.send(this.pair.frames[this.kind].fromWeb, { binary: false })
  }

  private onDevice(data: Buffer): void {
    if (data.length !== this.sizes[this.kind].atDevice) {
      return this.slice.fail(`device side got an unexpected frame: ${String(data).slice(0, 200)}`)
    }
    const latency = performance.now() - this.sentAt[this.head]!
    this.head = (this.head + 1) % this.window
    this.inFlight--
    this.slice.record(latency)
    if (this.slice.sending) this.sendOne()
  }
}

/** One round trip with full checks, before the load: the frames arrive intact, and their sizes. */
async function probe(pair: ConnectedPair, kind: FrameKind): Promise<FrameSizes> {
  const marker = payloadMarker(kind)
  const atWeb = await receiveOne(pair.web, () =>
    pair.device.send(pair.frames[kind].fromDevice, { binary: false })
  )
  const atDevice = await receiveOne(pair.device, () =>
    pair.web.send(pair.frames[kind].fromWeb, { binary: false })
  )
  for (const [side, text] of [
    ['web', atWeb],
    ['device', atDevice]
  ] as const) {
    if (!text.includes(marker))
      throw new Error(`the ${side} side did not get the ${kind}: ${text.slice(0, 300)}`)
  }
  return { atWeb: Buffer.byteLength(atWeb), atDevice: Buffer.byteLength(atDevice) }
}

function receiveOne(ws: WebSocket, trigger: () => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('probe frame was not relayed within 5 s')), 5000)
    ws.once('message', (data) => {
      clearTimeout(timer)
      resolve(String(data))
    })
    trigger()
  })
}

/** Sums over the measured slices of one server and frame kind. */
class Accumulator {
  roundTrips = 0
  ms = 0
  sliceCpuUs = 0
  phaseCpuUs = 0
  phaseRoundTrips = 0
  selfCpuUs = 0
  readonly latencies: number[] = []

  result(frameBytes: RelayMeasurement['frameBytes']): RelayMeasurement {
    const sorted = Float64Array.from(this.latencies).sort()
    const relayedFrames = this.roundTrips * 2
    const phaseFrames = this.phaseRoundTrips * 2
    return {
      roundTrips: this.roundTrips,
      seconds: this.ms / 1000,
      roundTripsPerSecond: this.roundTrips / (this.ms / 1000),
      p50Ms: percentileOfSorted(sorted, 50),
      p99Ms: percentileOfSorted(sorted, 99),
      relayedFrames,
      serverCpuUs: this.phaseCpuUs,
      serverCpuUsPerFrame: this.phaseCpuUs / phaseFrames,
      sliceCpuUsPerFrame: this.sliceCpuUs / relayedFrames,
      phaseFrames,
      loadGeneratorCpuPercent: (this.selfCpuUs / 1000 / this.ms) * 100,
      frameBytes
    }
  }
}

interface LoadedServer {
  target: RelayTarget
  pairs: ConnectedPair[]
  loops: PairLoop[]
  sizes: Record<FrameKind, FrameSizes>[]
}

async function connect(target: RelayTarget, options: RelayLoadOptions, slice: Slice): Promise<LoadedServer> {
  const protocol = CLIENT_PROTOCOLS[target.subject]
  const pairs: ConnectedPair[] = []
  for (let i = 0; i < options.pairs; i++) pairs.push(await protocol.connectPair(target.url, i, target.webUrl))
  // The hot path checks each frame by its size only: learn the sizes from checked round trips.
  const sizes: Record<FrameKind, FrameSizes>[] = []
  for (const pair of pairs)
    sizes.push({ candidate: await probe(pair, 'candidate'), sdp: await probe(pair, 'sdp') })
  const loops = pairs.map((pair, i) => new PairLoop(pair, sizes[i]!, slice, options.window))
  return { target, pairs, loops, sizes }
}

/** Loads one server with one kind of frame; measures after `rampMs` for `measureMs` (0: warm-up only). */
async function runSlice(
  server: LoadedServer,
  kind: FrameKind,
  slice: Slice,
  rampMs: number,
  measureMs: number,
  into: Accumulator | null
): Promise<void> {
  slice.reset()
  for (const loop of server.loops) loop.start(kind)
  await sleep(rampMs)
  if (measureMs > 0 && into) {
    const cpu0 = serverCpu(server.target)
    const self0 = process.cpuUsage()
    const t0 = performance.now()
    slice.measuring = true
    await sleep(measureMs)
    slice.measuring = false
    const t1 = performance.now()
    const cpu1 = serverCpu(server.target)
    const self = process.cpuUsage(self0)
    into.roundTrips += slice.completed
    into.ms += t1 - t0
    into.sliceCpuUs += cpu1 - cpu0
    into.selfCpuUs += self.user + self.system
    const n = Math.min(slice.completed, MAX_SLICE_SAMPLES)
    for (let i = 0; i < n; i++) into.latencies.push(slice.samples[i]!)
  }
  slice.sending = false
  // Let what is in flight come back: the next slice starts from an idle server.
  const drainUntil = Date.now() + 5000
  while (server.loops.some((l) => l.inFlight > 0) && Date.now() < drainUntil && !slice.failure) await sleep(5)
  if (slice.failure) throw new Error(slice.failure)
  if (server.loops.some((l) => l.inFlight > 0))
    throw new Error(`${server.target.subject} did not relay every frame`)
  if (into) into.phaseRoundTrips += slice.all
}

/** CPU time of everything that counts as the server (see RelayTarget.cpuPids). */
function serverCpu(target: RelayTarget): number {
  let us = 0
  for (const pid of target.cpuPids ?? [target.serverPid]) us += cpuMicroseconds(pid)
  return us
}

/** After a phase, what the load left behind (garbage collection, timers) runs and is counted. */
const PHASE_SETTLE_MS = 500

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '{}') as RelayLoadOptions
  const kinds = FRAME_KINDS.length
  const budgetMs =
    options.targets.length *
    kinds *
    (options.warmupMs + options.rounds * (options.rampMs + options.sliceMs + 500))
  setTimeout(() => {
    console.error('relay load generator: deadline passed, stopping')
    process.exit(2)
  }, budgetMs + 60_000).unref()

  const slice = new Slice()
  const servers: LoadedServer[] = []
  for (const target of options.targets) servers.push(await connect(target, options, slice))

  for (const server of servers)
    for (const kind of FRAME_KINDS) await runSlice(server, kind, slice, options.warmupMs, 0, null)

  const totals = new Map<string, Accumulator>()
  const label = (s: LoadedServer): string => s.target.label ?? s.target.subject
  const key = (s: LoadedServer, k: FrameKind): string => `${label(s)}/${k}`
  for (const s of servers) for (const k of FRAME_KINDS) totals.set(key(s, k), new Accumulator())
  // One phase per frame kind: every server's CPU is read at its start and end, so that the CPU
  // per frame counts all the server did, between the measured intervals too.
  for (const kind of FRAME_KINDS) {
    const cpuAtStart = servers.map((s) => serverCpu(s.target))
    for (let round = 0; round < options.rounds; round++) {
      // Rotate which server goes first, so that none always follows the same neighbour.
      const order = [...servers.slice(round % servers.length), ...servers.slice(0, round % servers.length)]
      for (const server of order) {
        const into = totals.get(key(server, kind))!
        await runSlice(server, kind, slice, options.rampMs, options.sliceMs, into)
      }
    }
    await sleep(PHASE_SETTLE_MS)
    servers.forEach((s, i) => {
      totals.get(key(s, kind))!.phaseCpuUs = serverCpu(s.target) - cpuAtStart[i]!
    })
  }

  const result: RelayLoadResult = {}
  for (const server of servers) {
    const byKind: Partial<Record<FrameKind, RelayMeasurement>> = {}
    for (const kind of FRAME_KINDS) {
      const frames = server.pairs[0]!.frames[kind]
      const sizes = server.sizes[0]![kind]
      byKind[kind] = totals.get(key(server, kind))!.result({
        fromDevice: frames.fromDevice.length,
        atWeb: sizes.atWeb,
        fromWeb: frames.fromWeb.length,
        atDevice: sizes.atDevice
      })
    }
    result[label(server)] = byKind as Record<FrameKind, RelayMeasurement>
  }
  console.log(`result ${JSON.stringify(result)}`)
  process.exit(0)
}

main().catch((e: unknown) => {
  console.error(`relay load generator failed: ${e instanceof Error ? e.message : String(e)}`)
  process.exit(1)
})
