/** Helpers shared by the workloads that run every server once per repetition. */
import type { SubjectId } from '../servers/subjects'

/** The list starting at position `by` (wrapping): repetition i runs the servers in a different order. */
export function rotate<T>(items: readonly T[], by: number): T[] {
  const k = by % items.length
  return [...items.slice(k), ...items.slice(0, k)]
}

/** Turns per-repetition results into one series per server, aligned by repetition. */
export function runsBySubject<R>(
  repetitions: readonly Record<SubjectId, R>[],
  pick: (result: R) => number
): Record<SubjectId, number[]> {
  return {
    bare: repetitions.map((r) => pick(r.bare)),
    peerjs: repetitions.map((r) => pick(r.peerjs)),
    genie: repetitions.map((r) => pick(r.genie))
  }
}
