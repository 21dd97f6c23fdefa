/**
 * A redis-server of the test's own (Debian's package), on a free loopback port, with nothing kept
 * on disk: its own temporary folder, no RDB snapshots (`--save ''`), no AOF (`--appendonly no`).
 * It can be killed with SIGKILL and started again on the same port, as a crash and a restart.
 *
 * Suites that need it use `describeWithRedis`: without redis-server they are skipped, and say so.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type RedisClientType, createClient } from 'redis'
import { describe } from 'vitest'
import { RedisRegistry, type RedisRegistryOptions } from '../../src/main/channel/redis/redis-registry'
import { ChannelServer, type ChannelServerOptions } from '../../src/main/channel/server'

/** The binary; `$REDIS_SERVER` may name another one. */
export const REDIS_SERVER_BIN = process.env['REDIS_SERVER'] ?? 'redis-server'
const START_TIMEOUT_MS = 10_000

/** Why Redis tests cannot run here, or null when they can. */
export const redisMissing: string | null = (() => {
  const r = spawnSync(REDIS_SERVER_BIN, ['--version'], { encoding: 'utf8' })
  if (r.error || r.status !== 0)
    return `${REDIS_SERVER_BIN} is not installed (Debian: apt-get install redis-server; .ci/run does it)`
  return null
})()

/** `describe` that runs only where redis-server exists, and prints a line naming what is missing. */
export function describeWithRedis(name: string, body: () => void): void {
  if (redisMissing !== null) console.warn(`SKIPPED "${name}": ${redisMissing}`)
  describe.skipIf(redisMissing !== null)(name, body)
}

export class RedisServer {
  private proc: ChildProcess | null = null
  private exited: Promise<void> = Promise.resolve()

  private constructor(
    readonly port: number,
    readonly dir: string
  ) {}

  /** Starts one on a free loopback port (or on `port`). */
  static async start(options: { port?: number } = {}): Promise<RedisServer> {
    const dir = mkdtempSync(join(tmpdir(), 'genie-redis-'))
    // A free port can be taken by someone else between asking and binding: try a few.
    for (let attempt = 0; ; attempt++) {
      const server = new RedisServer(options.port ?? (await freePort()), dir)
      try {
        await server.launch()
        return server
      } catch (e) {
        if (options.port !== undefined || attempt >= 3) {
          rmSync(dir, { recursive: true, force: true })
          throw e
        }
      }
    }
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  get pid(): number | undefined {
    return this.proc?.pid
  }

  get running(): boolean {
    return this.proc !== null
  }

  /** SIGKILL: Redis dies at once, as in a crash; everything it held is gone (nothing persisted). */
  async kill(): Promise<void> {
    await this.signal('SIGKILL')
  }

  /** Starts it again on the same port (after `kill` or `stop`). */
  async restart(): Promise<void> {
    if (this.proc) await this.kill()
    await this.launch()
  }

  /** Stops it and removes its folder. */
  async stop(): Promise<void> {
    await this.signal('SIGTERM')
    rmSync(this.dir, { recursive: true, force: true })
  }

  private async signal(signal: NodeJS.Signals): Promise<void> {
    const proc = this.proc
    if (!proc) return
    proc.kill(signal)
    await this.exited
  }

  private launch(): Promise<void> {
    const proc = spawn(
      REDIS_SERVER_BIN,
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        this.dir,
        '--save',
        '',
        '--appendonly',
        'no',
        '--daemonize',
        'no',
        '--logfile',
        '',
        '--loglevel',
        'notice'
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] }
    )
    this.proc = proc
    this.exited = new Promise((resolve) =>
      proc.once('exit', () => {
        if (this.proc === proc) this.proc = null
        resolve()
      })
    )
    return new Promise<void>((resolve, reject) => {
      let output = ''
      const fail = (why: string): void => {
        clearTimeout(timer)
        proc.kill('SIGKILL')
        reject(new Error(`redis-server on port ${this.port} ${why}: ${output.trim()}`))
      }
      const timer = setTimeout(() => fail(`not ready within ${START_TIMEOUT_MS} ms`), START_TIMEOUT_MS)
      const read = (chunk: Buffer): void => {
        output += chunk.toString()
        if (output.includes('Ready to accept connections')) {
          clearTimeout(timer)
          proc.stdout!.off('data', read)
          proc.stdout!.resume() // keep draining, or a chatty server would block on a full pipe
          resolve()
        }
      }
      proc.stdout!.on('data', read)
      proc.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()))
      proc.once('error', (e) => fail(`could not start (${e.message})`))
      proc.once('exit', (code, signal) => fail(`exited (${code ?? signal})`))
    })
  }
}

/**
 * A client of `server` for a test's own commands and checks (CLIENT PAUSE, HGETALL, CONFIG SET).
 * Its connection faults are the test's doing (a killed or paused server), not failures.
 */
export async function adminClient(server: RedisServer): Promise<RedisClientType> {
  const admin = createClient({ url: server.url }) as RedisClientType
  admin.on('error', () => undefined)
  await admin.connect()
  return admin
}

/** A loopback port nobody listens on at this moment. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
}

/**
 * A channel server in this process on a RedisRegistry with `registry`'s options: its store started
 * (Redis reached, the first heartbeat written), then the server listening on 127.0.0.1.
 */
export async function serverOnRedis(
  registry: RedisRegistryOptions,
  options: Omit<ChannelServerOptions, 'registry'> = {}
): Promise<{ server: ChannelServer; store: RedisRegistry }> {
  let made: RedisRegistry | null = null
  const server = new ChannelServer({
    ...options,
    registry: (ctx) => (made = new RedisRegistry(ctx, registry))
  })
  const store = made as RedisRegistry | null
  if (store === null) throw new Error('the server made no registry')
  await store.start()
  await server.listen()
  return { server, store }
}
