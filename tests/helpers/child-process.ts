import type { ChildProcess } from 'node:child_process'

/** Kills a detached child's whole process group (npm and what it started), if it still runs. */
export function killProcessGroup(child: ChildProcess | null): void {
  try {
    if (child?.pid && child.exitCode === null && child.signalCode === null)
      process.kill(-child.pid, 'SIGKILL')
  } catch {
    // already gone
  }
}
