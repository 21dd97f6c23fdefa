/** Writing a run's results: JSON under bench/results/, and the table into docs/BENCHMARKS.md on request. */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { REPO_ROOT } from './child-processes'

export const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results')
const DOCS_FILE = join(REPO_ROOT, 'docs', 'BENCHMARKS.md')
const START = '<!-- bench-table:start -->'
const END = '<!-- bench-table:end -->'

/** Writes latest.json and a copy named after the run's start time; returns both paths. */
export function writeResults(startedAt: Date, results: unknown): string[] {
  mkdirSync(RESULTS_DIR, { recursive: true })
  const text = JSON.stringify(results, null, 2) + '\n'
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-')
  const paths = [join(RESULTS_DIR, 'latest.json'), join(RESULTS_DIR, `${stamp}.json`)]
  for (const path of paths) writeFileSync(path, text)
  return paths
}

/** Replaces the text between the table markers of docs/BENCHMARKS.md with `block`. */
export function writeTableIntoDocs(block: string): void {
  const docs = readFileSync(DOCS_FILE, 'utf8')
  const start = docs.indexOf(START)
  const end = docs.indexOf(END)
  if (start < 0 || end < start) throw new Error(`${DOCS_FILE} has no ${START} … ${END} markers`)
  writeFileSync(DOCS_FILE, docs.slice(0, start + START.length) + '\n\n' + block + '\n\n' + docs.slice(end))
}
