/**
 * From raw runs to what the table shows: medians and spreads, ratios formed per repetition
 * (each server against the baseline measured in the same repetition), and target verdicts.
 */
import { BASELINE, SUBJECTS, type SubjectId } from '../servers/subjects'
import { spread, type Spread } from './stats'
import type { MetricRow, Target } from './workload'

export const SUBJECT_UNDER_TEST: SubjectId = 'genie'

export interface TargetVerdict {
  target: Target
  label: string
  /** The median ratio the target is judged on. */
  ratio: number
  met: boolean
}

export interface RowAnalysis {
  row: MetricRow
  /** Absolute values per server. */
  values: Partial<Record<SubjectId, Spread>>
  /** Ratio against the baseline (or the budget), per server, over repetitions. */
  vsBaseline: Partial<Record<SubjectId, Spread>>
  /** Genie Bridge against PeerJS, per repetition. */
  vsPeerjs: Spread | null
  verdicts: TargetVerdict[]
}

function ratiosPerRun(numerator: readonly number[], denominator: readonly number[]): number[] {
  return numerator.map((n, i) => n / denominator[i]!).filter((r) => Number.isFinite(r))
}

function subjectName(id: SubjectId | 'budget'): string {
  return id === 'budget' ? 'budget' : id === 'bare' ? 'bare' : id === 'peerjs' ? 'PeerJS' : 'Genie'
}

export function targetLabel(target: Target, row: MetricRow): string {
  const op = target.op === '<=' ? '≤' : '≥'
  if (target.against === 'budget' && row.budget) {
    return `${op}${(row.budget.value * target.ratio).toFixed(row.decimals)} ${row.unit}`
  }
  return `${op}${target.ratio.toFixed(2)}× ${subjectName(target.against)}`
}

export function analyseRow(row: MetricRow): RowAnalysis {
  const values: RowAnalysis['values'] = {}
  const vsBaseline: RowAnalysis['vsBaseline'] = {}
  for (const { id } of SUBJECTS) {
    const runs = row.runs[id]
    if (!runs?.length) continue
    values[id] = spread(runs)
    const base = row.runs[BASELINE]
    if (row.budget) vsBaseline[id] = spread(runs.map((v) => v / row.budget!.value))
    else if (base?.length && id !== BASELINE) vsBaseline[id] = spread(ratiosPerRun(runs, base))
  }
  const genie = row.runs[SUBJECT_UNDER_TEST]
  const peerjs = row.runs.peerjs
  const vsPeerjs = genie?.length && peerjs?.length ? spread(ratiosPerRun(genie, peerjs)) : null

  const verdicts = row.targets.map((target): TargetVerdict => {
    const ratio =
      target.against === 'budget' || target.against === BASELINE
        ? (vsBaseline[SUBJECT_UNDER_TEST]?.median ?? NaN)
        : target.against === 'peerjs'
          ? (vsPeerjs?.median ?? NaN)
          : NaN
    const met = target.op === '<=' ? ratio <= target.ratio : ratio >= target.ratio
    return { target, label: targetLabel(target, row), ratio, met }
  })
  return { row, values, vsBaseline, vsPeerjs, verdicts }
}
