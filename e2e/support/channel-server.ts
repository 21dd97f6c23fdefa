/** Starts `npm run serve` (the headless channel server) on a free loopback port for a test. */
import { type ChildProcess, spawn } from 'node:child_process'

export interface RunningServer {
  /** ws://127.0.0.1:PORT/channel */
  url: string
  stop(): Promise<void>
}

export async function startChannelServer(args: string[] = []): Promise<RunningServer> {
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/main/cli/serve.ts', '--port', '0', ...args],
    { stdio: ['ignore', 'pipe', 'inherit'] }
  )
  const url = await new Promise<string>((resolve, reject) => {
    let buf = ''
    const timer = setTimeout(() => reject(new Error(`channel server did not start: ${buf}`)), 20_000)
    child.once('exit', (code) => reject(new Error(`channel server exited with ${code}: ${buf}`)))
    child.stdout!.on('data', (chunk: Buffer) => {
      buf += chunk.toString()
      const m = /listening on (ws:\/\/\S+)/.exec(buf)
      if (m) {
        clearTimeout(timer)
        resolve(m[1]!)
      }
    })
  })
  return {
    url,
    stop: async () => {
      if (child.exitCode !== null) return
      const exited = new Promise((r) => child.once('exit', r))
      child.kill('SIGINT')
      await exited
    }
  }
}
