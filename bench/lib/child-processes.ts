/**
 * Every process the suite starts goes through here, so that all of them can be killed at the end,
 * on error and on Ctrl-C, and so that none outlives the run.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/** The repository root: processes run from there so that `src/...` and `bench/...` paths resolve. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))

const running = new Set<ChildProcess>()

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

export class TrackedProcess {
  readonly pid: number
  readonly exited: Promise<Exit>
  private readonly lines: string[] = []
  private stderr = ''
  private partial = ''
  private readonly waiters = new Set<() => void>()

  constructor(
    readonly name: string,
    private readonly child: ChildProcess
  ) {
    if (child.pid === undefined) throw new Error(`${name} did not start`)
    this.pid = child.pid
    running.add(child)
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        running.delete(child)
        resolve({ code, signal })
        this.wake()
      })
    })
    child.stdout?.setEncoding('utf8')
    child.stdout?.on('data', (chunk: string) => {
      const parts = (this.partial + chunk).split('\n')
      this.partial = parts.pop() ?? ''
      this.lines.push(...parts)
      this.wake()
    })
    child.stderr?.setEncoding('utf8')
    child.stderr?.on('data', (chunk: string) => {
      // Keep only the end: enough to explain a failure, bounded whatever the child prints.
      this.stderr = (this.stderr + chunk).slice(-4000)
    })
  }

  get isRunning(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  get output(): string {
    return this.lines.join('\n')
  }

  /** Resolves with the first stdout line matching `pattern`; rejects on exit or timeout. */
  async waitForLine(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      for (const line of this.lines) {
        const match = pattern.exec(line)
        if (match) return match
      }
      if (!this.isRunning)
        throw new Error(`${this.name} exited before printing ${pattern}${this.describeStderr()}`)
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`${this.name} did not print ${pattern} within ${timeoutMs} ms`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left)
        const waiters = this.waiters
        function done(): void {
          clearTimeout(timer)
          waiters.delete(done)
          resolve()
        }
        waiters.add(done)
      })
    }
  }

  /** Resolves with the first match of `pattern` in what the process wrote to stderr (kept: its last 4000 characters). */
  async waitForStderr(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const match = pattern.exec(this.stderr)
      if (match) return match
      if (!this.isRunning) throw new Error(`${this.name} exited before printing ${pattern} on stderr`)
      if (Date.now() > deadline)
        throw new Error(`${this.name} did not print ${pattern} on stderr within ${timeoutMs} ms`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  send(line: string): void {
    this.child.stdin?.write(line + '\n')
  }

  /** Waits for the process to end by itself; kills it when it takes longer than `timeoutMs`. */
  async finish(timeoutMs: number): Promise<Exit> {
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs)
    const exit = await this.exited
    clearTimeout(timer)
    return exit
  }

  async kill(): Promise<void> {
    if (this.isRunning) this.child.kill('SIGKILL')
    await this.exited
  }

  describeStderr(): string {
    const text = this.stderr.trim()
    return text ? `\n--- ${this.name} stderr ---\n${text}` : ''
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter()
  }
}

/** Starts a command from the repository root, stdout piped for its status lines. */
export function startCommand(
  name: string,
  command: string,
  args: readonly string[],
  withStdin = false
): TrackedProcess {
  const child = spawn(command, args, {
    cwd: REPO_ROOT,
    stdio: [withStdin ? 'pipe' : 'ignore', 'pipe', 'pipe']
  })
  return new TrackedProcess(name, child)
}

/** Starts `node <args>` with the same Node binary as the suite. */
export function startNode(name: string, args: readonly string[], withStdin = false): TrackedProcess {
  return startCommand(name, process.execPath, args, withStdin)
}

/** Starts a TypeScript entry with tsx, the way every server and load generator of the suite runs. */
export function startTypeScript(name: string, file: string, args: readonly string[] = [], withStdin = false) {
  return startNode(name, ['--import', 'tsx', file, ...args], withStdin)
}

/** Kills everything still running, synchronously (usable from an 'exit' handler). */
export function killAllChildren(): void {
  for (const child of running) {
    try {
      child.kill('SIGKILL')
    } catch {
      // already gone
    }
  }
  running.clear()
}
