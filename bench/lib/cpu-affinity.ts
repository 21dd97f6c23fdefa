/**
 * Keeps a server and its load generator on separate CPUs (`taskset`, util-linux). On a machine of
 * two cores the scheduler otherwise moves them around and sometimes onto one core, and each such
 * move changes the server's CPU per frame (cold caches, the generator's work in the way) by more
 * than the differences a workload measures.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'

/** Whether this machine can pin: two cores or more, and taskset present. */
export function canPin(): boolean {
  if (availableParallelism() < 2) return false
  try {
    execFileSync('taskset', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/**
 * Moves every thread of the process onto `cpu`; threads it starts later inherit it. Throws unless
 * the process then runs on that CPU alone: taskset exits 0 for a process that is gone.
 */
export function pinProcess(pid: number, cpu: number): void {
  execFileSync('taskset', ['--all-tasks', '--cpu-list', '--pid', String(cpu), String(pid)], {
    stdio: 'ignore'
  })
  const allowed = allowedCpus(pid)
  if (allowed !== String(cpu))
    throw new Error(`process ${pid} was not pinned to CPU ${cpu} (allowed: ${allowed})`)
}

/** The CPUs a thread may run on, as /proc lists them ("0-1", "1"); the main thread by default. */
export function allowedCpus(pid: number, tid = pid): string {
  let status: string
  try {
    status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8')
  } catch {
    return 'none (no such process)'
  }
  return /^Cpus_allowed_list:\s*(\S+)$/m.exec(status)?.[1] ?? 'unknown'
}
