/**
 * `npm run bench`: runs the workloads against Genie Bridge's channel server, the PeerJS server and a
 * bare ws relay, prints one table of ratios against the bare relay and writes the results as JSON.
 * Options: see USAGE below.
 */
import { parseArgs } from 'node:util'
import { analyseRow } from './lib/analysis'
import { killAllChildren } from './lib/child-processes'
import { currentLoadAverage, describeMachine } from './lib/machine'
import { writeResults, writeTableIntoDocs } from './lib/results-file'
import { renderTable, summariseTargets } from './lib/table'
import type { BenchOptions, WorkloadResult } from './lib/workload'
import { SUBJECTS } from './servers/subjects'
import { WORKLOADS } from './workloads/index'
import { LIVE_SPEAKER_COUNTS } from './workloads/live-speakers'

/** The suite's time budget unless --budget-s says otherwise: a full run takes about 810 s. */
const DEFAULT_BUDGET_SECONDS = 1200

const USAGE = `usage: npm run bench -- [options]
  --only renderer,call,live,open-loop,cross-process,relay,idle
                               run only these workloads
  --runs N                     repetitions of every workload (default: call 30, open-loop 5,
                               cross-process 3, relay 5, idle 3)
  --pairs N --window N         relay: device/web pairs (50) and frames in flight per pair (8)
  --warmup-ms N                relay: unmeasured warm-up per server and frame kind (1000)
  --slice-ms N --rounds N      relay: measured slice (300 ms), slices per server and frame kind (10)
  --idle-counts 1000,5000      idle scale: connection counts (1000,5000,10000)
  --live-counts 10,50          live speakers: speakers live from one console (10,25,50)
  --quick                      a short smoke run (3 call runs, 2 relay runs, 1 idle run of 1000,
                               short windows)
  --pin-cpus                   open loop: the server on CPU 1, its load generator on CPU 0
  --budget-s N                 time budget in seconds (${DEFAULT_BUDGET_SECONDS}): later repetitions are skipped, and said so,
                               rather than run past it
  --write-docs                 also put the table into docs/BENCHMARKS.md`

function readOptions(): {
  options: BenchOptions
  only: string[] | null
  writeDocs: boolean
  budgetSeconds: number
} {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      runs: { type: 'string' },
      pairs: { type: 'string' },
      window: { type: 'string' },
      'warmup-ms': { type: 'string' },
      'slice-ms': { type: 'string' },
      rounds: { type: 'string' },
      'idle-counts': { type: 'string' },
      'live-counts': { type: 'string' },
      quick: { type: 'boolean', default: false },
      'write-docs': { type: 'boolean', default: false },
      'budget-s': { type: 'string' },
      'pin-cpus': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false }
    }
  })
  if (values.help) {
    console.log(USAGE)
    process.exit(0)
  }
  const int = (raw: string | undefined, fallback: number, name: string): number => {
    if (raw === undefined) return fallback
    const n = Number(raw)
    if (!Number.isInteger(n) || n <= 0)
      throw new Error(`--${name} must be a positive whole number, got "${raw}"`)
    return n
  }
  const quick = values.quick
  const runs = values.runs === undefined ? undefined : int(values.runs, 1, 'runs')
  const options: BenchOptions = {
    relayRuns: runs ?? (quick ? 2 : 5),
    openLoopRuns: runs ?? (quick ? 1 : 5),
    crossRuns: runs ?? (quick ? 1 : 3),
    idleRuns: runs ?? (quick ? 1 : 3),
    callRuns: runs ?? (quick ? 3 : 30),
    pairs: int(values.pairs, 50, 'pairs'),
    window: int(values.window, 8, 'window'),
    warmupMs: int(values['warmup-ms'], quick ? 500 : 1000, 'warmup-ms'),
    // Short slices, many rounds: bursts of other work on a shared machine then fall on every server
    // alike. The window of frames in flight is full within a few ms, so a short ramp is enough.
    rampMs: 50,
    sliceMs: int(values['slice-ms'], 300, 'slice-ms'),
    rounds: int(values.rounds, quick ? 4 : 10, 'rounds'),
    idleCounts: values['idle-counts']
      ? values['idle-counts'].split(',').map((c) => int(c.trim(), 1000, 'idle-counts'))
      : quick
        ? [1000]
        : [1000, 5000, 10_000],
    idleConcurrency: 200,
    liveCounts: values['live-counts']
      ? values['live-counts'].split(',').map((c) => int(c.trim(), 10, 'live-counts'))
      : quick
        ? [10]
        : [...LIVE_SPEAKER_COUNTS],
    pinCpus: values['pin-cpus']
  }
  const only = values.only ? values.only.split(',').map((s) => s.trim()) : null
  const unknown = only?.filter((id) => !WORKLOADS.some((w) => w.id === id)) ?? []
  if (unknown.length)
    throw new Error(`unknown workload ${unknown.join(', ')}; known: ${WORKLOADS.map((w) => w.id)}`)
  const budgetSeconds = int(values['budget-s'], DEFAULT_BUDGET_SECONDS, 'budget-s')
  return { options, only, writeDocs: values['write-docs'], budgetSeconds }
}

function installCleanup(): void {
  process.on('exit', killAllChildren)
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      killAllChildren()
      process.exit(130)
    })
  }
}

async function main(): Promise<void> {
  installCleanup()
  const { options, only, writeDocs, budgetSeconds } = readOptions()
  const startedAt = new Date()
  const deadline = startedAt.getTime() + budgetSeconds * 1000
  const machine = describeMachine()
  const log = (message: string): void =>
    console.error(`[${((Date.now() - startedAt.getTime()) / 1000).toFixed(0)} s] ${message}`)
  log(
    `${machine.nproc} cores (${machine.cpuModel}), Node ${machine.node}, load average ${machine.loadAverageAtStart.toFixed(2)}; ` +
      `servers: ${SUBJECTS.map((s) => s.label).join(', ')}`
  )

  const results: Record<string, WorkloadResult & { title: string; seconds: number }> = {}
  const failures: string[] = []
  for (const workload of WORKLOADS) {
    if (only && !only.includes(workload.id)) continue
    const t0 = Date.now()
    try {
      const result = await workload.run({ options, log, timeLeftMs: () => deadline - Date.now() })
      results[workload.id] = { title: workload.title, ...result, seconds: (Date.now() - t0) / 1000 }
    } catch (e) {
      const message = `${workload.title} failed: ${e instanceof Error ? e.message : String(e)}`
      log(message)
      failures.push(message)
    }
  }
  machine.loadAverageAtEnd = currentLoadAverage()

  const analyses = Object.values(results).flatMap((r) => r.rows.map(analyseRow))
  const table = renderTable(analyses)
  const { met, missed } = summariseTargets(analyses)
  const notes = [...Object.values(results).flatMap((r) => r.notes), ...failures]
  const seconds = (Date.now() - startedAt.getTime()) / 1000
  const runsOf: Record<string, number> = {
    call: options.callRuns,
    'open-loop': options.openLoopRuns,
    'cross-process': options.crossRuns,
    relay: options.relayRuns,
    idle: options.idleRuns
  }
  const repetitions = Object.keys(results)
    .filter((id) => id in runsOf)
    .map((id) => `${id} ${runsOf[id]} runs`)
  const heading =
    `Genie Bridge benchmarks, ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC: ` +
    `${machine.nproc} cores (${machine.cpuModel}), Node ${machine.node}, load average ${machine.loadAverageAtStart.toFixed(1)}→` +
    `${machine.loadAverageAtEnd.toFixed(1)}; ${repetitions.join(', ')}${repetitions.length ? '; ' : ''}${seconds.toFixed(0)} s`
  const summary = `targets: ${met} PASS, ${missed.length} MISS`
  const block = ['```text', heading, '', table, '', summary, ...notes.map((n) => `note: ${n}`), '```'].join(
    '\n'
  )

  console.log(`\n${heading}\n\n${table}\n\n${summary}`)
  for (const miss of missed) console.log(`  MISS ${miss}`)
  for (const note of notes) console.log(`note: ${note}`)

  const paths = writeResults(startedAt, {
    startedAt: startedAt.toISOString(),
    seconds,
    machine,
    options,
    servers: SUBJECTS.map(({ id, label, entry, args }) => ({
      id,
      label,
      command: ['node', '--import', 'tsx', entry, ...args]
    })),
    workloads: results,
    table: analyses.map((a) => ({
      workload: a.row.workload,
      metric: a.row.metric,
      unit: a.row.unit,
      values: a.values,
      ratioToBaseline: a.vsBaseline,
      genieToPeerjs: a.vsPeerjs,
      targets: a.verdicts
    })),
    failures
  })
  console.log(`\nresults: ${paths.join(', ')}`)
  if (writeDocs) {
    writeTableIntoDocs(block)
    console.log('table written into docs/BENCHMARKS.md')
  }
  // Targets are benchmarks, not assertions: only a workload that could not run fails the command.
  process.exitCode = failures.length ? 1 : 0
}

main().catch((e: unknown) => {
  console.error(`bench: ${e instanceof Error ? e.message : String(e)}`)
  killAllChildren()
  process.exit(1)
})
