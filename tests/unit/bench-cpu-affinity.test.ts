import { spawn } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { afterEach, describe, expect, it } from 'vitest'
import { allowedCpus, canPin, pinProcess } from '../../bench/lib/cpu-affinity'

const children: ReturnType<typeof spawn>[] = []
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL')
})

describe.runIf(canPin())('bench CPU pinning (taskset)', () => {
  it('moves every thread of a running process onto the one CPU', async () => {
    // A Node process has several threads from the start (V8's platform workers, libuv's pool).
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], {
      stdio: ['pipe', 'ignore', 'ignore']
    })
    children.push(child)
    const pid = child.pid!
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(allowedCpus(pid)).not.toBe('1')

    pinProcess(pid, 1)

    const tids = readdirSync(`/proc/${pid}/task`).map(Number)
    expect(tids.length).toBeGreaterThan(1)
    for (const tid of tids) expect(allowedCpus(pid, tid)).toBe('1')
  })

  it('throws for a process that does not exist rather than report it pinned', () => {
    expect(() => pinProcess(2 ** 22 + 1, 0)).toThrow()
  })
})
