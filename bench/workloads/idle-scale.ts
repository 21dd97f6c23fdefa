/**
 * Workload 2, idle scale: K connections that authenticate and send one keep-alive, then stay.
 * Measures how long opening them all takes and what each one costs in server memory.
 */
import { startTypeScript } from '../lib/child-processes'
import { rssBytes, waitUntilIdle } from '../lib/proc-stats'
import type { BenchContext, MetricRow, Workload, WorkloadResult } from '../lib/workload'
import type { IdleLoadOptions, IdleLoadResult } from '../load/idle-load'
import { SUBJECTS, startServer, type Subject, type SubjectId } from '../servers/subjects'
import { rotate, runsBySubject } from './repetitions'

/**
 * Connections opened before the "before" reading. Until a server has handled a few hundred, its RSS
 * moves by megabytes of its own (code compiled on first use, the young generation growing with
 * the allocation rate), which at 1 000 connections was a third of the figure, either way.
 */
export const IDLE_WARMUP_CONNECTIONS = 200

/**
 * Below this many connections a repetition is cheap (a few seconds) and its figure the noisiest (a
 * step of heap growth is a large share of it): such counts get IDLE_FEW_REPEAT times the
 * repetitions.
 */
const IDLE_FEW_CONNECTIONS = 5000
const IDLE_FEW_REPEAT = 2

export interface IdleMeasurement {
  count: number
  openMs: number
  rssBeforeBytes: number
  rssAfterBytes: number
  rssPerConnectionBytes: number
  /** False when the server was still busy after the settling time: the memory figure may be early. */
  settled: boolean
}

async function measureIdle(subject: Subject, count: number, ctx: BenchContext): Promise<IdleMeasurement> {
  const server = await startServer(subject)
  const pid = server.process.pid
  let load: ReturnType<typeof startTypeScript> | null = null
  try {
    const options: IdleLoadOptions = {
      subject: subject.id,
      url: server.url,
      warmup: IDLE_WARMUP_CONNECTIONS,
      count,
      concurrency: ctx.options.idleConcurrency,
      holdMs: 120_000
    }
    load = startTypeScript('idle load generator', 'bench/load/idle-load.ts', [JSON.stringify(options)], true)
    const generator = load
    // A line of the load generator, or its own explanation of why it never came.
    const lineOf = (pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> =>
      generator.waitForLine(pattern, timeoutMs).catch((e: unknown) => {
        throw new Error(`${e instanceof Error ? e.message : String(e)}${generator.describeStderr()}`)
      })
    // "Before" is the server quiet with the warm-up connections open: from there on, what grows is
    // what each further connection costs.
    await lineOf(/^warm$/, 60_000)
    await waitUntilIdle(pid)
    const rssBeforeBytes = rssBytes(pid)
    load.send('go')
    const match = await lineOf(/^ready (.*)$/, 110_000)
    const opened = JSON.parse(match[1]!) as IdleLoadResult
    if (opened.count !== count) throw new Error(`opened ${opened.count} of ${count} connections`)
    // "After" is read once the server has handled every keep-alive and gone quiet again.
    const settled = await waitUntilIdle(pid)
    const rssAfterBytes = rssBytes(pid)
    load.send('close')
    await load.finish(10_000)
    return {
      count,
      openMs: opened.openMs,
      rssBeforeBytes,
      rssAfterBytes,
      rssPerConnectionBytes: (rssAfterBytes - rssBeforeBytes) / count,
      settled
    }
  } finally {
    await load?.kill()
    await server.process.kill()
  }
}

function rowsFor(count: number, repetitions: Record<SubjectId, IdleMeasurement>[]): MetricRow[] {
  const workload = `idle scale, ${count.toLocaleString('en')} connections`
  return [
    {
      workload,
      metric: 'RSS per connection',
      unit: 'KiB',
      decimals: 2,
      runs: runsBySubject(repetitions, (m) => m.rssPerConnectionBytes / 1024),
      targets: [{ against: 'bare', op: '<=', ratio: 1.15 }]
    },
    {
      workload,
      metric: 'time to open all',
      unit: 's',
      decimals: 2,
      runs: runsBySubject(repetitions, (m) => m.openMs / 1000),
      targets: []
    }
  ]
}

export const idleScaleWorkload: Workload = {
  id: 'idle',
  title: 'Idle scale',
  async run(ctx): Promise<WorkloadResult> {
    const byCount = new Map<number, Record<SubjectId, IdleMeasurement>[]>()
    const notes: string[] = []
    for (const count of ctx.options.idleCounts) byCount.set(count, [])
    const lastMs = new Map<number, number>()
    const runsFor = (count: number): number =>
      count < IDLE_FEW_CONNECTIONS ? ctx.options.idleRuns * IDLE_FEW_REPEAT : ctx.options.idleRuns
    const mostRuns = Math.max(...ctx.options.idleCounts.map(runsFor))
    for (let rep = 0; rep < mostRuns; rep++) {
      for (const count of ctx.options.idleCounts) {
        if (rep >= runsFor(count)) continue
        // Before the first measurement of a size, a guess: about 1 ms per connection plus 3 s of
        // starting and stopping, per server; afterwards, how long the previous repetition took.
        const expectedMs = lastMs.get(count) ?? SUBJECTS.length * (count * 1.2 + 3000)
        if (ctx.timeLeftMs() < expectedMs) {
          const message = `idle ${count} repetition ${rep + 1} skipped (time budget)`
          ctx.log(message)
          notes.push(message)
          continue
        }
        const started = Date.now()
        const repetition: Partial<Record<SubjectId, IdleMeasurement>> = {}
        try {
          for (const subject of rotate(SUBJECTS, rep)) {
            const m = await measureIdle(subject, count, ctx)
            repetition[subject.id] = m
            ctx.log(
              `idle ${count} #${rep + 1} ${subject.label}: ${(m.rssPerConnectionBytes / 1024).toFixed(2)} KiB/conn, ` +
                `open ${(m.openMs / 1000).toFixed(2)} s${m.settled ? '' : ' (server not quiet when read)'}`
            )
          }
          byCount.get(count)!.push(repetition as Record<SubjectId, IdleMeasurement>)
        } catch (e) {
          const message = `idle ${count} repetition ${rep + 1} left out: ${e instanceof Error ? e.message : String(e)}`
          ctx.log(message)
          notes.push(message)
        }
        lastMs.set(count, Date.now() - started)
      }
    }
    return {
      rows: [...byCount].flatMap(([count, reps]) => rowsFor(count, reps)),
      details: { concurrency: ctx.options.idleConcurrency, repetitions: Object.fromEntries(byCount) },
      notes
    }
  }
}
