/**
 * The built server entry (out/cli/serve.js) started with --redis where Redis is not usable: it
 * says so in one line and exits 1 within the start timeout, instead of waiting forever; a Redis
 * that comes up within the timeout, or goes away after the start, is waited for as before.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { type Server, type Socket, createServer } from 'node:net'
import { afterEach, beforeAll, expect, it } from 'vitest'
import { REDIS_CLIENT_DEFAULTS } from '../../src/main/channel/redis-client'
import { RawClient } from '../helpers/raw-client'
import { RedisServer, adminClient, describeWithRedis, freePort } from '../helpers/redis-server'

const ENTRY = 'out/cli/serve.js'
/** Node's start, and a loaded machine: what an exit may take past the start timeout. */
const MARGIN_MS = 3_000
const HINT = '; check --redis / $GENIE_BRIDGE_REDIS'

const children: ChildProcess[] = []
const cleanups: (() => unknown)[] = []

beforeAll(() => {
  const built = spawnSync('node', ['scripts/build-cli.mjs', '--if-stale'], { encoding: 'utf8' })
  if (built.status !== 0) throw new Error(`the server entry did not build: ${built.stderr}`)
})

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  for (const c of cleanups.splice(0).reverse()) await c()
})

interface Ended {
  /** null: still running at the deadline (then killed). */
  code: number | null
  ms: number
  stderr: string
}

function spawnServe(args: string[]): { proc: ChildProcess; stdout: () => string; stderr: () => string } {
  const proc = spawn('node', [ENTRY, '--port', '0', '--log-level', 'error', ...args], {
    stdio: ['ignore', 'pipe', 'pipe']
  })
  children.push(proc)
  let out = ''
  let err = ''
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()))
  proc.stderr!.on('data', (c: Buffer) => (err += c.toString()))
  return { proc, stdout: () => out, stderr: () => err }
}

/** Runs serve until it exits, or kills it at `deadlineMs`. */
function runToExit(args: string[], deadlineMs: number): Promise<Ended> {
  const started = Date.now()
  const { proc, stderr } = spawnServe(args)
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL')
      resolve({ code: null, ms: Date.now() - started, stderr: stderr() })
    }, deadlineMs)
    proc.once('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, ms: Date.now() - started, stderr: stderr() })
    })
  })
}

/** The last stderr line: what a person reads first. */
function lastLine(text: string): string {
  return text.trim().split('\n').pop() ?? ''
}

async function listening(run: ReturnType<typeof spawnServe>, timeoutMs: number): Promise<number> {
  await expect
    .poll(() => run.stdout() || (run.proc.exitCode !== null ? `exited: ${run.stderr()}` : ''), {
      timeout: timeoutMs,
      interval: 50
    })
    .toMatch(/^channel server listening on /)
  return Number(/^channel server listening on ws:\/\/127\.0\.0\.1:(\d+)\//.exec(run.stdout())![1])
}

async function readyz(port: number): Promise<number> {
  return (await fetch(`http://127.0.0.1:${port}/readyz`)).status
}

it('exits 1 within the start timeout when nothing listens at the --redis address, saying where and why', async () => {
  const port = await freePort()
  const limit = REDIS_CLIENT_DEFAULTS.startTimeoutMs
  const ended = await runToExit(['--redis', `redis://127.0.0.1:${port}`], limit + MARGIN_MS)
  console.log(`serve --redis (closed port): exit ${ended.code} after ${ended.ms} ms`)
  expect(ended.code, `still running after ${ended.ms} ms; stderr: ${ended.stderr}`).toBe(1)
  // It tried for the whole start timeout (a Redis starting alongside gets that long) and no longer.
  expect(ended.ms).toBeGreaterThanOrEqual(limit)
  expect(ended.ms).toBeLessThan(limit + MARGIN_MS)
  expect(lastLine(ended.stderr)).toBe(
    `channel server could not start: cannot reach Redis at 127.0.0.1:${port}: connect ECONNREFUSED ` +
      `127.0.0.1:${port} (no connection within ${limit} ms)${HINT}`
  )
})

it('takes --redis-limit startTimeoutMs', async () => {
  const port = await freePort()
  const ended = await runToExit(
    ['--redis', `redis://127.0.0.1:${port}`, '--redis-limit', 'startTimeoutMs=500'],
    500 + MARGIN_MS
  )
  expect(ended.code, ended.stderr).toBe(1)
  expect(ended.ms).toBeLessThan(500 + MARGIN_MS)
  expect(lastLine(ended.stderr)).toContain('(no connection within 500 ms)')
})

it('exits 1 when the --redis address takes the connection but never answers the handshake', async () => {
  const held: Socket[] = []
  const silent: Server = createServer((s) => held.push(s.on('error', () => undefined)))
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r))
  cleanups.push(() => {
    for (const s of held) s.destroy()
    return new Promise((r) => silent.close(r))
  })
  const { port } = silent.address() as { port: number }
  const ended = await runToExit(
    ['--redis', `redis://127.0.0.1:${port}`],
    REDIS_CLIENT_DEFAULTS.startTimeoutMs + MARGIN_MS
  )
  expect(ended.code, `still running after ${ended.ms} ms; stderr: ${ended.stderr}`).toBe(1)
  expect(lastLine(ended.stderr)).toBe(
    `channel server could not start: cannot reach Redis at 127.0.0.1:${port}: connected, but no reply ` +
      `to the handshake within ${REDIS_CLIENT_DEFAULTS.connectTimeoutMs} ms (is it a Redis server?)${HINT}`
  )
})

describeWithRedis('serve --redis at start', () => {
  it('against a Redis that requires a password: without it or with a wrong one it exits 1 at once, naming authentication; with it, it serves', async () => {
    const redis = await RedisServer.start()
    cleanups.push(() => redis.stop())
    const admin = await adminClient(redis)
    await admin.configSet('requirepass', 'right-secret')
    await admin.close()
    const at = `127.0.0.1:${redis.port}`

    // Retrying cannot fix credentials: it ends well before the start timeout.
    const bound = REDIS_CLIENT_DEFAULTS.startTimeoutMs
    const none = await runToExit(['--redis', `redis://${at}`], bound + MARGIN_MS)
    expect(none.code, `still running after ${none.ms} ms; stderr: ${none.stderr}`).toBe(1)
    expect(none.ms).toBeLessThan(bound)
    expect(lastLine(none.stderr)).toBe(
      `channel server could not start: Redis at ${at} refused authentication: NOAUTH Authentication required${HINT}`
    )
    const wrong = await runToExit(['--redis', `redis://:wrong-secret@${at}`], bound + MARGIN_MS)
    expect(wrong.code, `still running after ${wrong.ms} ms; stderr: ${wrong.stderr}`).toBe(1)
    expect(wrong.ms).toBeLessThan(bound)
    expect(lastLine(wrong.stderr)).toBe(
      `channel server could not start: Redis at ${at} refused authentication: WRONGPASS invalid ` +
        `username-password pair or user is disabled${HINT}`
    )
    expect(wrong.stderr).not.toContain('wrong-secret')

    const run = spawnServe(['--redis', `redis://:right-secret@${at}`])
    const port = await listening(run, 15_000)
    const device = await RawClient.authed(`ws://127.0.0.1:${port}/channel`, 'K-redis-password')
    cleanups.push(() => device.close())
    expect(await device.request({ msgtype: 'request', operation: 'create_session' })).toMatchObject({
      result_cd: 200
    })
  }, 40_000)

  it('waits for a Redis that comes up within the start timeout, and once started outlasts an outage longer than it', async () => {
    const startTimeoutMs = 3_000
    const redisPort = await freePort()
    const run = spawnServe([
      '--redis',
      `redis://127.0.0.1:${redisPort}`,
      '--redis-limit',
      `startTimeoutMs=${startTimeoutMs}`
    ])
    await new Promise((r) => setTimeout(r, 1_000))
    expect(run.proc.exitCode, run.stderr()).toBeNull()
    const redis = await RedisServer.start({ port: redisPort })
    cleanups.push(() => redis.stop())
    const port = await listening(run, 15_000)
    expect(await readyz(port)).toBe(200)

    await redis.kill()
    await expect.poll(() => readyz(port), { timeout: 5_000, interval: 50 }).toBe(503)
    await new Promise((r) => setTimeout(r, startTimeoutMs + 500))
    expect(run.proc.exitCode, run.stderr()).toBeNull()
    expect(await readyz(port)).toBe(503)
    await redis.restart()
    await expect.poll(() => readyz(port), { timeout: 10_000, interval: 50 }).toBe(200)
    expect(run.proc.exitCode).toBeNull()
  }, 40_000)
})
