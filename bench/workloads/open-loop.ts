/**
 * Workload, open-loop relay: the rates signaling really produces. Each server runs alone (a fresh
 * process, nothing else under load) with 50 device/web pairs; the load generator offers fixed rates
 * of ICE-candidate round trips, sustained, and counts the server's CPU over the whole time it is
 * loaded, what runs after the last frame included (see load/open-loop-load.ts). Genie Bridge runs
 * with its default limits. Servers take turns within a repetition, in rotating order. With
 * --pin-cpus the server and the load generator each keep a CPU of their own.
 */
import { startTypeScript } from '../lib/child-processes'
import { canPin, pinProcess } from '../lib/cpu-affinity'
import type { BenchContext, MetricRow, Workload, WorkloadResult } from '../lib/workload'
import type { OpenLoopMeasurement, OpenLoopOptions, OpenLoopResult } from '../load/open-loop-load'
import {
  GENIE_AT_DEFAULT_LIMITS,
  SUBJECTS,
  startServer,
  type Subject,
  type SubjectId
} from '../servers/subjects'
import { rotate, runsBySubject } from './repetitions'

/** Offered round trips/s over all pairs: from a few calls starting at once to a busy server. */
export const OPEN_LOOP_RATES = [1000, 3000, 6000] as const
const OPEN_LOOP_PAIRS = 50
const MEASURE_MS = 5000
const SETTLE_MS = 500
/** Unmeasured, at the highest rate (see OpenLoopOptions.warmupMs). */
const WARMUP_MS = 3000
/** Time the workloads after this one need at least. */
const RESERVED_FOR_LATER_MS = 330_000

/** With --pin-cpus: the CPUs of the server and of its load generator. */
const SERVER_CPU = 1
const LOAD_CPU = 0

async function measure(subject: Subject, pinCpus: boolean): Promise<OpenLoopResult> {
  const server = await startServer(subject)
  try {
    if (pinCpus) pinProcess(server.process.pid, SERVER_CPU)
    const options: OpenLoopOptions = {
      subject: subject.id,
      url: server.url,
      serverPid: server.process.pid,
      pairs: OPEN_LOOP_PAIRS,
      rates: [...OPEN_LOOP_RATES],
      warmupMs: WARMUP_MS,
      measureMs: MEASURE_MS,
      settleMs: SETTLE_MS
    }
    const load = startTypeScript('open-loop load generator', 'bench/load/open-loop-load.ts', [
      JSON.stringify(options)
    ])
    try {
      if (pinCpus) pinProcess(load.pid, LOAD_CPU)
      const match = await load.waitForLine(/^result (.*)$/, 120_000)
      return JSON.parse(match[1]!) as OpenLoopResult
    } catch (e) {
      throw new Error(`${e instanceof Error ? e.message : String(e)}${load.describeStderr()}`)
    } finally {
      await load.kill()
    }
  } finally {
    await server.process.kill()
  }
}

type Repetition = Record<SubjectId, OpenLoopResult>

function rowsFor(rateIndex: number, reps: Repetition[]): MetricRow[] {
  const rate = OPEN_LOOP_RATES[rateIndex]!
  const workload = `open loop, ${rate.toLocaleString('en')} round trips/s offered`
  const runs = (pick: (m: OpenLoopMeasurement) => number): Record<SubjectId, number[]> =>
    runsBySubject(reps, (r) => pick(r[rateIndex]!))
  return [
    {
      workload,
      metric: 'server CPU per relayed frame',
      unit: 'µs',
      decimals: 2,
      runs: runs((m) => m.serverCpuUsPerFrame),
      targets: [
        { against: 'bare', op: '<=', ratio: 1.1 },
        { against: 'peerjs', op: '<=', ratio: 0.85 }
      ]
    },
    {
      workload,
      metric: 'latency p50',
      unit: 'ms',
      decimals: 3,
      runs: runs((m) => m.p50Ms),
      targets: [{ against: 'bare', op: '<=', ratio: 1.15 }]
    },
    { workload, metric: 'latency p99', unit: 'ms', decimals: 3, runs: runs((m) => m.p99Ms), targets: [] },
    {
      workload,
      metric: 'round trips/s completed',
      unit: '/s',
      decimals: 0,
      runs: runs((m) => m.completedPerSecond),
      targets: []
    }
  ]
}

export const openLoopWorkload: Workload = {
  id: 'open-loop',
  title: 'Open-loop relay',
  async run(ctx: BenchContext): Promise<WorkloadResult> {
    const reps: Repetition[] = []
    const notes: string[] = []
    const runs = ctx.options.openLoopRuns
    const { pinCpus } = ctx.options
    if (pinCpus && !canPin()) throw new Error('--pin-cpus needs two CPUs or more and taskset (util-linux)')
    let lastMs = 0
    for (let rep = 0; rep < runs; rep++) {
      if (rep > 0 && ctx.timeLeftMs() - lastMs < RESERVED_FOR_LATER_MS) {
        notes.push(`open loop: ${runs - rep} of ${runs} repetitions skipped (time budget)`)
        break
      }
      const started = Date.now()
      try {
        const repetition: Partial<Repetition> = {}
        for (const base of rotate(SUBJECTS, rep)) {
          const subject = base.id === 'genie' ? GENIE_AT_DEFAULT_LIMITS : base
          const result = await measure(subject, pinCpus)
          repetition[base.id] = result
          const line = result.map(
            (m) =>
              `${m.offeredPerSecond}/s: ${m.serverCpuUsPerFrame.toFixed(2)} µs, p50 ${m.p50Ms.toFixed(2)} ms, p99 ${m.p99Ms.toFixed(2)} ms` +
              (m.maxSendLagMs > 20 ? ` (generator lagged ${m.maxSendLagMs.toFixed(0)} ms)` : '')
          )
          ctx.log(`open loop #${rep + 1} ${base.id}: ${line.join(' | ')}`)
        }
        reps.push(repetition as Repetition)
      } catch (e) {
        const message = `open loop repetition ${rep + 1} left out: ${e instanceof Error ? e.message : String(e)}`
        ctx.log(message)
        notes.push(message)
      }
      lastMs = Date.now() - started
    }
    return {
      rows: OPEN_LOOP_RATES.flatMap((_, i) => rowsFor(i, reps)),
      details: {
        pairs: OPEN_LOOP_PAIRS,
        rates: OPEN_LOOP_RATES,
        measureMs: MEASURE_MS,
        settleMs: SETTLE_MS,
        warmupMs: WARMUP_MS,
        pinCpus,
        repetitions: reps
      },
      notes
    }
  }
}
