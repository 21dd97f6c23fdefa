/**
 * Workload, cross-process relay: the saturated relay of workload "relay" through the service split
 * over two server processes on one Redis (`serve --redis`), the device on A and the web client on
 * B, so every frame goes A → Redis → B or back. It runs next to one in-memory server and the bare
 * relay in the same load generator, slices interleaved. The CPU of the Redis setup is that of both
 * server processes plus Redis itself. Reported as ratios to the in-memory server; the in-memory
 * server is also shown against the bare relay, which says whether its path is unchanged.
 * Skipped, and said so, where redis-server is not installed.
 */
import { RedisServer, redisMissing } from '../../tests/helpers/redis-server'
import { startTypeScript, type TrackedProcess } from '../lib/child-processes'
import type { BenchContext, MetricRow, Workload, WorkloadResult } from '../lib/workload'
import type { RelayLoadOptions, RelayLoadResult, RelayMeasurement } from '../load/relay-load'
import { FRAME_KINDS, type FrameKind } from '../load/signaling-payloads'
import { startServer, startSubject, subjectById, type RunningServer } from '../servers/subjects'

const ROUNDS = 5
/** Time the workloads after this one need at least. */
const RESERVED_FOR_LATER_MS = 300_000

type Setup = 'bare' | 'memory' | 'redis'
type Repetition = Record<FrameKind, Record<Setup, RelayMeasurement>>

/** One serve process on Redis: Genie Bridge's subject with `--redis`. */
async function startOnRedis(name: string, redisUrl: string): Promise<{ url: string; proc: TrackedProcess }> {
  const genie = subjectById('genie')
  const proc = await startSubject(genie, name, ['--redis', redisUrl])
  try {
    const match = await proc.waitForLine(genie.readyLine, 20_000)
    return { url: match[1]!, proc }
  } catch (e) {
    await proc.kill()
    throw new Error(`${e instanceof Error ? e.message : String(e)}${proc.describeStderr()}`)
  }
}

async function measure(ctx: BenchContext): Promise<RelayLoadResult> {
  const { pairs, window, warmupMs, rampMs, sliceMs } = ctx.options
  const running: RunningServer[] = []
  const procs: TrackedProcess[] = []
  const redis = await RedisServer.start()
  try {
    const bare = await startServer(subjectById('bare'))
    running.push(bare)
    const memory = await startServer(subjectById('genie'))
    running.push(memory)
    const a = await startOnRedis('Genie Bridge A (Redis)', redis.url)
    procs.push(a.proc)
    const b = await startOnRedis('Genie Bridge B (Redis)', redis.url)
    procs.push(b.proc)
    const options: RelayLoadOptions = {
      targets: [
        { subject: 'bare', label: 'bare', url: bare.url, serverPid: bare.process.pid },
        { subject: 'genie', label: 'memory', url: memory.url, serverPid: memory.process.pid },
        {
          subject: 'genie',
          label: 'redis',
          url: a.url,
          webUrl: b.url,
          serverPid: a.proc.pid,
          cpuPids: [a.proc.pid, b.proc.pid, redis.pid!]
        }
      ],
      pairs,
      window,
      warmupMs,
      rampMs,
      sliceMs,
      rounds: ROUNDS
    }
    const load = startTypeScript('cross-process load generator', 'bench/load/relay-load.ts', [
      JSON.stringify(options)
    ])
    try {
      const match = await load.waitForLine(/^result (.*)$/, 180_000)
      return JSON.parse(match[1]!) as RelayLoadResult
    } catch (e) {
      const stderr = [load, ...procs].map((p) => p.describeStderr()).join('')
      throw new Error(`${e instanceof Error ? e.message : String(e)}${stderr}`)
    } finally {
      await load.kill()
    }
  } finally {
    for (const p of procs) await p.kill()
    for (const s of running) await s.process.kill()
    await redis.stop()
  }
}

function rowsFor(kind: FrameKind, reps: Repetition[]): MetricRow[] {
  const name = kind === 'candidate' ? 'ICE candidates' : 'SDPs'
  const across = `cross-process, ${name}: 2 processes + Redis`
  const inMemory = `cross-process, ${name}: 1 process in memory`
  const pick = (setup: Setup, f: (m: RelayMeasurement) => number): number[] =>
    reps.map((r) => f(r[kind][setup]))
  // Redis against one in-memory process: the in-memory figure stands in the bare relay's column.
  const vsMemory = (
    metric: string,
    unit: string,
    decimals: number,
    f: (m: RelayMeasurement) => number
  ): MetricRow => ({
    workload: across,
    metric,
    unit,
    decimals,
    runs: { bare: pick('memory', f), genie: pick('redis', f) },
    targets: [],
    columnLabels: { bare: 'memory', genie: 'Redis' }
  })
  return [
    {
      workload: inMemory,
      metric: 'server CPU per relayed frame',
      unit: 'µs',
      decimals: 2,
      runs: {
        bare: pick('bare', (m) => m.serverCpuUsPerFrame),
        genie: pick('memory', (m) => m.serverCpuUsPerFrame)
      },
      targets: [{ against: 'bare', op: '<=', ratio: 1.1 }]
    },
    vsMemory('CPU per frame (servers + Redis)', 'µs', 2, (m) => m.serverCpuUsPerFrame),
    vsMemory('round trips/s', '/s', 0, (m) => m.roundTripsPerSecond),
    vsMemory('latency p50', 'ms', 2, (m) => m.p50Ms),
    vsMemory('latency p99', 'ms', 2, (m) => m.p99Ms)
  ]
}

export const crossProcessWorkload: Workload = {
  id: 'cross-process',
  title: 'Cross-process relay (Redis)',
  async run(ctx): Promise<WorkloadResult> {
    if (redisMissing !== null) {
      ctx.log(`cross-process relay skipped: ${redisMissing}`)
      return {
        rows: [],
        details: { skipped: redisMissing },
        notes: [`cross-process relay skipped: ${redisMissing}`]
      }
    }
    const reps: Repetition[] = []
    const notes: string[] = []
    const runs = ctx.options.crossRuns
    let lastMs = 0
    for (let rep = 0; rep < runs; rep++) {
      if (rep > 0 && ctx.timeLeftMs() - lastMs < RESERVED_FOR_LATER_MS) {
        notes.push(`cross-process: ${runs - rep} of ${runs} repetitions skipped (time budget)`)
        break
      }
      const started = Date.now()
      try {
        const result = await measure(ctx)
        const of = (kind: FrameKind, setup: Setup): RelayMeasurement => {
          const m = result[setup]?.[kind]
          if (!m) throw new Error(`no ${kind} result for ${setup}`)
          return m
        }
        const repetition = {} as Repetition
        for (const kind of FRAME_KINDS) {
          repetition[kind] = { bare: of(kind, 'bare'), memory: of(kind, 'memory'), redis: of(kind, 'redis') }
          const line = (['bare', 'memory', 'redis'] as const).map((setup) => {
            const m = repetition[kind][setup]
            return `${setup} ${m.serverCpuUsPerFrame.toFixed(2)} µs ${m.roundTripsPerSecond.toFixed(0)}/s p50 ${m.p50Ms.toFixed(1)} ms p99 ${m.p99Ms.toFixed(1)} ms`
          })
          ctx.log(`cross-process #${rep + 1} ${kind}: ${line.join(' | ')}`)
        }
        reps.push(repetition)
      } catch (e) {
        const message = `cross-process repetition ${rep + 1} left out: ${e instanceof Error ? e.message : String(e)}`
        ctx.log(message)
        notes.push(message)
      }
      lastMs = Date.now() - started
    }
    const { pairs, window, warmupMs, rampMs, sliceMs } = ctx.options
    return {
      rows: FRAME_KINDS.flatMap((kind) => rowsFor(kind, reps)),
      details: { pairs, window, warmupMs, rampMs, sliceMs, rounds: ROUNDS, repetitions: reps },
      notes
    }
  }
}
