/**
 * What the kernel says about a process: CPU time (all threads, user + system) and resident memory.
 * Read from /proc so that the figure is the server process's own, whatever runs inside it.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'

/** Clock ticks per second of /proc/PID/stat's utime and stime (`getconf CLK_TCK`, usually 100). */
export const CLK_TCK = readClockTicks()

function readClockTicks(): number {
  try {
    const value = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())
    return Number.isFinite(value) && value > 0 ? value : 100
  } catch {
    return 100
  }
}

/** utime + stime of the process, in clock ticks. */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // The command name (field 2) may contain spaces and parentheses: split after its closing one.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  return Number(fields[11]) + Number(fields[12])
}

/**
 * CPU time of the process in microseconds, to the nanosecond: the time on a CPU of each of its
 * threads (/proc/PID/task/TID/schedstat, user and kernel alike), summed. Clock ticks (10 ms each)
 * are too coarse for a few seconds of a lightly loaded server.
 */
export function cpuMicroseconds(pid: number): number {
  let ns = 0
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0])
    } catch {
      // the thread ended between listing and reading
    }
  }
  return ns / 1000
}

export function ticksToMicroseconds(ticks: number): number {
  return (ticks * 1e6) / CLK_TCK
}

/** Resident set size (VmRSS) in bytes. */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status)
  if (!match) throw new Error(`no VmRSS for process ${pid}`)
  return Number(match[1]) * 1024
}

/** Open file descriptors of the process (its sockets among them). */
export function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length
}

/**
 * Waits until the process has used (almost) no CPU for `quietMs`, so that memory is read after
 * it has handled everything sent to it rather than in the middle of it. Gives up after `maxMs`.
 */
export async function waitUntilIdle(pid: number, quietMs = 300, maxMs = 5000): Promise<boolean> {
  const stepMs = 100
  const deadline = Date.now() + maxMs
  let last = cpuTicks(pid)
  let quietFor = 0
  while (Date.now() < deadline) {
    await sleep(stepMs)
    const now = cpuTicks(pid)
    // One tick of slack: timers that sweep connections use a little CPU on their own.
    quietFor = now - last <= 1 ? quietFor + stepMs : 0
    last = now
    if (quietFor >= quietMs) return true
  }
  return false
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
