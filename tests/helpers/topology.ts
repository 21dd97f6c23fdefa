/**
 * The channel service in the two shapes it runs in, for suites that must hold in both:
 *   - memory: one server process's in-memory registry (the embedded default);
 *   - redis: two `npm run serve -- --redis` processes (the built entry) on one redis-server of the
 *     test's own, the device on A and the web client on B.
 * A topology names where the device and the web client connect, and can kill -9 process A.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { ChannelServer, type ChannelServerOptions } from '../../src/main/channel/server'
import type { ServerLimits } from '../../src/main/channel/limits'
import { RedisServer } from './redis-server'

export interface Topology {
  readonly name: string
  /** Where the device connects (process A). */
  readonly deviceUrl: string
  /** Where the web client connects (process B; the same server in memory). */
  readonly webUrl: string
  stop(): Promise<void>
}

export interface RedisTopology extends Topology {
  readonly redis: RedisServer
  readonly a: ServeProcess
  readonly b: ServeProcess
}

const ENTRY = 'out/cli/serve.js'

export async function memoryTopology(
  limits: Partial<ServerLimits> = {},
  options: ChannelServerOptions = {}
): Promise<Topology> {
  const server = new ChannelServer({ ...options, limits })
  const url = await server.listen()
  return { name: 'memory', deviceUrl: url, webUrl: url, stop: () => server.close() }
}

export async function redisTopology(limits: Partial<ServerLimits> = {}): Promise<RedisTopology> {
  buildEntry()
  const redis = await RedisServer.start()
  const a = await ServeProcess.start(redis.url, limits)
  const b = await ServeProcess.start(redis.url, limits)
  return {
    name: 'redis',
    redis,
    a,
    b,
    deviceUrl: a.url,
    webUrl: b.url,
    stop: async () => {
      await Promise.all([a.stop(), b.stop()])
      await redis.stop()
    }
  }
}

export function buildEntry(): void {
  const built = spawnSync('node', ['scripts/build-cli.mjs', '--if-stale'], { encoding: 'utf8' })
  if (built.status !== 0) throw new Error(`building ${ENTRY} failed: ${built.stderr}`)
}

/** One `npm run serve -- --redis URL` process on a free loopback port. */
export class ServeProcess {
  private constructor(
    readonly proc: ChildProcess,
    readonly url: string,
    readonly port: number,
    readonly log: string[]
  ) {}

  static async start(redisUrl: string, limits: Partial<ServerLimits> = {}, port = 0): Promise<ServeProcess> {
    const args = [
      ENTRY,
      '--port',
      String(port),
      '--redis',
      redisUrl,
      '--log-level',
      process.env['SERVE_LOG_LEVEL'] ?? 'warn'
    ]
    for (const [k, v] of Object.entries(limits)) args.push('--limit', `${k}=${v}`)
    const proc = spawn('node', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    const log: string[] = []
    proc.stderr!.on('data', (chunk: Buffer) => log.push(chunk.toString()))
    const url = await new Promise<string>((resolve, reject) => {
      let out = ''
      const timer = setTimeout(() => reject(new Error(`serve did not start: ${out} ${log.join('')}`)), 15_000)
      proc.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`serve exited with ${code}: ${log.join('')}`))
      })
      proc.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString()
        const m = /channel server listening on (\S+)/.exec(out)
        if (m) {
          clearTimeout(timer)
          resolve(m[1]!)
        }
      })
    })
    return new ServeProcess(proc, url, Number(new URL(url).port), log)
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null
  }

  /** kill -9: the process dies at once, without telling anyone. */
  async kill(): Promise<void> {
    if (!this.running) return
    const exited = new Promise((r) => this.proc.once('exit', r))
    this.proc.kill('SIGKILL')
    await exited
  }

  async stop(): Promise<void> {
    if (!this.running) return
    const exited = new Promise((r) => this.proc.once('exit', r))
    this.proc.kill('SIGTERM')
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 8_000)
    await exited
    clearTimeout(timer)
  }

  /** GET a path on the server's own port (the probes). */
  async get(path: string): Promise<{ status: number; text: string }> {
    const res = await fetch(`http://127.0.0.1:${this.port}${path}`)
    return { status: res.status, text: await res.text() }
  }
}
