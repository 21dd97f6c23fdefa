/**
 * Workload 1, relay: N device/web pairs per server keep a window of frames in flight through it and
 * echo each one back, with ICE-candidate-sized and with SDP-sized frames. Every repetition starts
 * fresh server processes and one load generator that alternates between them (see load/relay-load.ts).
 */
import { startTypeScript } from '../lib/child-processes'
import type { BenchContext, MetricRow, Workload, WorkloadResult } from '../lib/workload'
import type { RelayLoadOptions, RelayLoadResult, RelayMeasurement } from '../load/relay-load'
import { FRAME_KINDS, type FrameKind } from '../load/signaling-payloads'
import { SUBJECTS, startServer, type RunningServer, type SubjectId } from '../servers/subjects'
import { runsBySubject } from './repetitions'

/** Time the workloads after this one need at least (the idle-scale runs). */
const RESERVED_FOR_LATER_MS = 200_000

async function measureRelay(ctx: BenchContext): Promise<RelayLoadResult> {
  const { pairs, window, warmupMs, rampMs, sliceMs, rounds } = ctx.options
  const servers: RunningServer[] = []
  try {
    for (const subject of SUBJECTS) servers.push(await startServer(subject))
    const options: RelayLoadOptions = {
      targets: servers.map((s) => ({ subject: s.subject.id, url: s.url, serverPid: s.process.pid })),
      pairs,
      window,
      warmupMs,
      rampMs,
      sliceMs,
      rounds
    }
    const load = startTypeScript('relay load generator', 'bench/load/relay-load.ts', [
      JSON.stringify(options)
    ])
    try {
      const expectedMs = SUBJECTS.length * FRAME_KINDS.length * (warmupMs + rounds * (rampMs + sliceMs + 500))
      const match = await load.waitForLine(/^result (.*)$/, expectedMs + 90_000)
      return JSON.parse(match[1]!) as RelayLoadResult
    } catch (e) {
      throw new Error(`${e instanceof Error ? e.message : String(e)}${load.describeStderr()}`)
    } finally {
      await load.kill()
    }
  } finally {
    for (const server of servers) await server.process.kill()
  }
}

type KindRepetitions = Record<SubjectId, RelayMeasurement>[]

function rowsFor(kind: FrameKind, reps: KindRepetitions): MetricRow[] {
  const bytes = reps[0]?.genie.frameBytes.fromDevice
  const name = kind === 'candidate' ? 'ICE candidates' : 'SDPs'
  const workload = bytes ? `relay, ${name} (${bytes} B)` : `relay, ${name}`
  const runs = (pick: (m: RelayMeasurement) => number): Record<SubjectId, number[]> =>
    runsBySubject(reps, pick)
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
      metric: 'round trips/s',
      unit: '/s',
      decimals: 0,
      runs: runs((m) => m.roundTripsPerSecond),
      targets: [{ against: 'bare', op: '>=', ratio: 0.95 }]
    },
    { workload, metric: 'latency p50', unit: 'ms', decimals: 2, runs: runs((m) => m.p50Ms), targets: [] },
    {
      workload,
      metric: 'latency p99',
      unit: 'ms',
      decimals: 2,
      runs: runs((m) => m.p99Ms),
      targets: [{ against: 'bare', op: '<=', ratio: 1.15 }]
    }
  ]
}

export const relayWorkload: Workload = {
  id: 'relay',
  title: 'Relay',
  async run(ctx): Promise<WorkloadResult> {
    const byKind: Record<FrameKind, KindRepetitions> = { candidate: [], sdp: [] }
    const notes: string[] = []
    let lastMs = 0
    for (let rep = 0; rep < ctx.options.relayRuns; rep++) {
      // Leave the idle-scale workload that follows enough of the budget for its runs.
      if (rep > 0 && ctx.timeLeftMs() - lastMs < RESERVED_FOR_LATER_MS) {
        notes.push(
          `relay: ${ctx.options.relayRuns - rep} of ${ctx.options.relayRuns} repetitions skipped (time budget)`
        )
        break
      }
      const started = Date.now()
      try {
        const result = await measureRelay(ctx)
        for (const kind of FRAME_KINDS) {
          const of = (id: SubjectId): RelayMeasurement => {
            const m = result[id]?.[kind]
            if (!m) throw new Error(`no ${kind} result for ${id}`)
            return m
          }
          byKind[kind].push({ bare: of('bare'), peerjs: of('peerjs'), genie: of('genie') })
          const line = SUBJECTS.map(({ id }) => {
            const m = of(id)
            return `${id} ${m.serverCpuUsPerFrame.toFixed(2)} µs (slices only ${m.sliceCpuUsPerFrame.toFixed(2)}) ${m.roundTripsPerSecond.toFixed(0)}/s p99 ${m.p99Ms.toFixed(1)} ms`
          })
          ctx.log(`relay #${rep + 1} ${kind}: ${line.join(' | ')}`)
        }
      } catch (e) {
        const message = `relay repetition ${rep + 1} left out: ${e instanceof Error ? e.message : String(e)}`
        ctx.log(message)
        notes.push(message)
      }
      lastMs = Date.now() - started
    }
    const { pairs, window, warmupMs, rampMs, sliceMs, rounds } = ctx.options
    return {
      rows: FRAME_KINDS.flatMap((kind) => rowsFor(kind, byKind[kind])),
      details: { pairs, window, warmupMs, rampMs, sliceMs, rounds, repetitions: byKind },
      notes
    }
  }
}
