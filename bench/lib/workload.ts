/**
 * What a workload is and what it hands back. A workload is one module under bench/workloads that
 * exports a Workload; the runner runs the selected ones in order and builds one table from their rows.
 */
import type { SubjectId } from '../servers/subjects'

/** How the relay load runs (the relay load generator takes these as they are). */
export interface RelayLoadShape {
  /** Device/web pairs per server. */
  pairs: number
  /** Frames in flight per pair. */
  window: number
  /** Unmeasured load per server and frame kind before the first measured slice (JIT warm-up). */
  warmupMs: number
  /** Unmeasured start of every slice, until the window of frames in flight is in its steady state. */
  rampMs: number
  /** Measured part of every slice. */
  sliceMs: number
  /** Slices per server and frame kind in a repetition: each round loads every server with every frame kind once. */
  rounds: number
}

export interface BenchOptions extends RelayLoadShape {
  /** Repetitions of the relay workload (fresh processes each time). */
  relayRuns: number
  /** Repetitions of the open-loop relay workload (each server once per repetition). */
  openLoopRuns: number
  /** Repetitions of the cross-process relay workload. */
  crossRuns: number
  /** Repetitions of the idle-scale workload. */
  idleRuns: number
  /** Repetitions of the call-setup workload (two app calls and two bare calls each). */
  callRuns: number
  idleCounts: number[]
  idleConcurrency: number
  /** Speakers live at once from one console, one step each (live-speakers workload). */
  liveCounts: number[]
  /**
   * Open loop: the server on one CPU and its load generator on another (see lib/cpu-affinity.ts)
   * instead of wherever the scheduler puts them.
   */
  pinCpus: boolean
}

export interface BenchContext {
  options: BenchOptions
  log(message: string): void
  /** Milliseconds left of the suite's time budget; workloads start no step they cannot finish in it. */
  timeLeftMs(): number
}

/**
 * A target is met when Genie Bridge's median ratio against `against` satisfies `op ratio`
 * (for 'budget', the ratio is the measured value over the row's budget).
 */
export interface Target {
  against: SubjectId | 'budget'
  op: '<=' | '>='
  ratio: number
}

/** One line of the table: a metric, measured on each server once per repetition. */
export interface MetricRow {
  workload: string
  metric: string
  unit: string
  decimals: number
  /** Per server, one value per repetition; index i of every server belongs to the same repetition. */
  runs: Partial<Record<SubjectId, number[]>>
  /** For rows without a measured baseline (e.g. bundle size): the figure ratios are formed against. */
  budget?: { value: number; label: string }
  targets: Target[]
  /**
   * What a column holds when it is not the server it is named after (a row comparing two setups
   * of Genie Bridge puts the one it is compared against in the bare relay's column): shown before
   * the value.
   */
  columnLabels?: Partial<Record<SubjectId, string>>
}

export interface WorkloadResult {
  rows: MetricRow[]
  /** Everything measured, for the JSON file. */
  details: unknown
  /** Anything the reader of the table must know (e.g. a repetition that failed and was left out). */
  notes: string[]
}

export interface Workload {
  id: string
  title: string
  run(ctx: BenchContext): Promise<WorkloadResult>
}
