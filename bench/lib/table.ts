/** The one table the suite prints: plain text, aligned, readable in a terminal and in Markdown code. */
import type { RowAnalysis } from './analysis'
import type { SubjectId } from '../servers/subjects'
import type { Spread } from './stats'

const HEADER = [
  'Workload',
  'Metric',
  'Bare relay',
  'PeerJS',
  'Genie Bridge',
  'PeerJS / bare',
  'Genie / bare',
  'Genie / PeerJS',
  'Target',
  'Result'
]

function number(value: number | undefined, decimals: number): string {
  if (value === undefined || !Number.isFinite(value)) return '—'
  return value.toLocaleString('en', { minimumFractionDigits: decimals, maximumFractionDigits: decimals })
}

/** "1.07× [1.02–1.12]": the median ratio and the min–max over repetitions. */
function ratio(s: Spread | null | undefined): string {
  if (!s || !Number.isFinite(s.median)) return '—'
  if (s.min === s.max) return `${s.median.toFixed(2)}×`
  return `${s.median.toFixed(2)}× [${s.min.toFixed(2)}–${s.max.toFixed(2)}]`
}

function cells(a: RowAnalysis): string[][] {
  const { row } = a
  const unit = row.unit.startsWith('/') ? row.unit : ` ${row.unit}`
  const value = (id: SubjectId): string => {
    const s = a.values[id]
    const label = row.columnLabels?.[id]
    return s ? `${label ? `${label}: ` : ''}${number(s.median, row.decimals)}${unit}` : '—'
  }
  const first = [
    row.workload,
    row.metric,
    value('bare'),
    value('peerjs'),
    value('genie'),
    row.budget ? '—' : ratio(a.vsBaseline.peerjs),
    row.budget ? `${ratio(a.vsBaseline.genie)} ${row.budget.label}` : ratio(a.vsBaseline.genie),
    ratio(a.vsPeerjs),
    a.verdicts[0]?.label ?? '',
    a.verdicts[0] ? (a.verdicts[0].met ? 'PASS' : 'MISS') : ''
  ]
  // Further targets of the same metric go on their own lines under the first.
  const more = a.verdicts
    .slice(1)
    .map((v) => ['', '', '', '', '', '', '', '', v.label, v.met ? 'PASS' : 'MISS'])
  return [first, ...more]
}

export function renderTable(analyses: readonly RowAnalysis[]): string {
  const rows = [HEADER, ...analyses.flatMap(cells)]
  const widths = HEADER.map((_, col) => Math.max(...rows.map((r) => [...r[col]!].length)))
  const line = (r: string[]): string =>
    r
      .map((cell, col) => cell + ' '.repeat(widths[col]! - [...cell].length))
      .join('  ')
      .trimEnd()
  const rule = widths.map((w) => '-'.repeat(w)).join('  ')
  return [line(HEADER), rule, ...rows.slice(1).map(line)].join('\n')
}

export function summariseTargets(analyses: readonly RowAnalysis[]): { met: number; missed: string[] } {
  let met = 0
  const missed: string[] = []
  for (const a of analyses) {
    for (const v of a.verdicts) {
      if (v.met) met++
      else missed.push(`${a.row.workload} · ${a.row.metric}: ${v.ratio.toFixed(2)} against ${v.label}`)
    }
  }
  return { met, missed }
}
