/** Writing a run's results: JSON under bench/results/, and the table into docs/BENCHMARKS.md on request. */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { REPO_ROOT } from './child-processes'

export const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results')
const DOCS_FILE = join(REPO_ROOT, 'docs', 'BENCHMARKS.md')

/**
 * Writes `<prefix>latest.json` and a copy named after the run's start time; returns both paths.
 * The suite has no prefix; the soak writes `soak-latest.json` and `soak-<time>.json`.
 */
export function writeResults(startedAt: Date, results: unknown, prefix = ''): string[] {
  mkdirSync(RESULTS_DIR, { recursive: true })
  const text = JSON.stringify(results, null, 2) + '\n'
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-')
  const paths = [join(RESULTS_DIR, `${prefix}latest.json`), join(RESULTS_DIR, `${prefix}${stamp}.json`)]
  for (const path of paths) writeFileSync(path, text)
  return paths
}

/**
 * Replaces the text between the markers `<!-- NAME:start -->` and `<!-- NAME:end -->` of
 * docs/BENCHMARKS.md with `block`: `bench-table` for the suite's table, `soak-table` for the soak's.
 */
export function writeTableIntoDocs(block: string, name = 'bench-table'): void {
  const START = `<!-- ${name}:start -->`
  const END = `<!-- ${name}:end -->`
  const docs = readFileSync(DOCS_FILE, 'utf8')
  const start = docs.indexOf(START)
  const end = docs.indexOf(END)
  if (start < 0 || end < start) throw new Error(`${DOCS_FILE} has no ${START} … ${END} markers`)
  writeFileSync(DOCS_FILE, docs.slice(0, start + START.length) + '\n\n' + block + '\n\n' + docs.slice(end))
}
