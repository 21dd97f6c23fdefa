/** Starts the browser host (the app's main-side core + renderer over HTTP) on a free loopback port. */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const EXIT_WITH_PARENT = new URL('./exit-with-parent.mjs', import.meta.url).href

export interface RunningHost {
  /** http://127.0.0.1:PORT/?token=… */
  url: string
  origin: string
  token: string
  /** The app at a route, token kept: `at('/device')`. */
  at(route: string): string
  /** The host process (it also ends by itself when the test process does). */
  pid: number
  stop(): Promise<void>
}

export interface HostOptions {
  /** Settings the host starts with (written to its settings file first). */
  settings?: Record<string, unknown>
  /** Keep settings here across a restart (the caller removes it); a fresh folder otherwise. */
  dataDir?: string
}

/** A folder for a host's settings that outlives the host (for restarts); the caller removes it. */
export function hostDataDir(): string {
  return mkdtempSync(join(tmpdir(), 'genie-bridge-e2e-'))
}

export async function startHost(extraArgs: string[] = [], options: HostOptions = {}): Promise<RunningHost> {
  const dataDir = options.dataDir ?? hostDataDir()
  if (options.settings) writeFileSync(join(dataDir, 'settings.json'), JSON.stringify(options.settings))
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--import',
      EXIT_WITH_PARENT,
      'src/main/cli/host.ts',
      '--port',
      '0',
      '--data-dir',
      dataDir,
      ...extraArgs
    ],
    // stdin is a pipe from this process: when this process ends, the host does too.
    { stdio: ['pipe', 'pipe', 'inherit'] }
  )
  const url = await new Promise<string>((resolve, reject) => {
    let buf = ''
    const timer = setTimeout(() => reject(new Error(`browser host did not start: ${buf}`)), 20_000)
    child.once('exit', (code) => reject(new Error(`browser host exited with ${code}: ${buf}`)))
    child.stdout!.on('data', (chunk: Buffer) => {
      buf += chunk.toString()
      const m = /Genie Bridge at (http:\/\/\S+)/.exec(buf)
      if (m) {
        clearTimeout(timer)
        resolve(m[1]!)
      }
    })
  })
  const parsed = new URL(url)
  const token = parsed.searchParams.get('token') ?? ''
  return {
    url,
    origin: parsed.origin,
    token,
    at: (route) => `${parsed.origin}/?token=${token}#${route}`,
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r))
        child.kill('SIGINT')
        await exited
      }
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true })
    }
  }
}
