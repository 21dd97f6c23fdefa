import { type ChildProcess, spawn } from 'node:child_process'
import { createClient } from 'redis'
import { afterEach, describe, expect, it } from 'vitest'
import { RawClient } from '../helpers/raw-client'
import { killProcessGroup } from '../helpers/child-process'
import { RedisServer, describeWithRedis } from '../helpers/redis-server'

let child: ChildProcess | null = null
const open: RawClient[] = []
const cleanups: (() => unknown)[] = []

afterEach(async () => {
  for (const c of open.splice(0)) c.close()
  killProcessGroup(child)
  child = null
  for (const c of cleanups.splice(0).reverse()) await c()
})

/** `npm run serve -- --port 0 --log-level warn …args`; resolves with its ws:// URL. */
async function serve(args: string[]): Promise<string> {
  child = spawn('npm', ['run', '--silent', 'serve', '--', '--port', '0', '--log-level', 'warn', ...args], {
    detached: true,
    stdio: ['ignore', 'pipe', 'inherit']
  })
  const line = await firstLine(child, 15_000)
  const match = /^channel server listening on (ws:\/\/127\.0\.0\.1:\d+\/channel)$/.exec(line)
  expect(match, line).not.toBeNull()
  return match![1]!
}

async function authed(url: string, uuid: string): Promise<RawClient> {
  const c = await RawClient.authed(url, uuid)
  open.push(c)
  return c
}

/** What `npm run serve -- …args` prints on stderr before it exits, and its exit code. */
function refused(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const proc = spawn('npm', ['run', '--silent', 'serve', '--', ...args], {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe']
  })
  child = proc
  let stderr = ''
  proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString()))
  return new Promise((resolve) => proc.once('exit', (code) => resolve({ code, stderr })))
}

const OPERATOR_TOKEN = 'operator-secret-1'
const list = (extra: Record<string, unknown>): Record<string, unknown> => ({
  msgtype: 'request',
  operation: 'list_sessions',
  channeltype: 'system',
  operator_token: OPERATOR_TOKEN,
  ...extra
})

function firstLine(proc: ChildProcess, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = ''
    const timer = setTimeout(
      () => reject(new Error(`no line within ${timeoutMs} ms; got: ${buf}`)),
      timeoutMs
    )
    proc.stdout!.on('data', (chunk: Buffer) => {
      buf += chunk.toString()
      const nl = buf.indexOf('\n')
      if (nl >= 0) {
        clearTimeout(timer)
        resolve(buf.slice(0, nl))
      }
    })
  })
}

describe('npm run serve', () => {
  it('prints its listening line and serves the whole flow to a plain ws client; Ctrl-C stops it', async () => {
    const started = Date.now()
    child = spawn('npm', ['run', '--silent', 'serve', '--', '--port', '0', '--log-level', 'warn'], {
      detached: true,
      stdio: ['ignore', 'pipe', 'inherit']
    })
    // Generous here (a loaded CI box); the 2 s budget is reported, not asserted on timing noise.
    const line = await firstLine(child, 15_000)
    const elapsed = Date.now() - started
    console.log(`serve: listening line after ${elapsed} ms`)
    const match = /^channel server listening on (ws:\/\/127\.0\.0\.1:(\d+)\/channel)$/.exec(line)
    expect(match, line).not.toBeNull()
    const url = match![1]!
    expect(Number(match![2])).toBeGreaterThan(0)

    const device = await RawClient.authed(url, 'K1')
    const web = await RawClient.authed(url, 'W1')
    const { sessionid } = await device.request({
      msgtype: 'request',
      operation: 'create_session',
      channeltype: 'webrtcaudio'
    })
    expect(await web.request({ msgtype: 'request', operation: 'join_session', sessionid })).toMatchObject({
      result_cd: 200
    })
    await device.next((f) => f.operation === 'join_session', 5000, 0)
    device.send({ msgtype: 'data', sessionid, data: { type: 'offer', sdp: 'v=0' } })
    expect((await web.next((f) => f.msgtype === 'data')).data).toEqual({ type: 'offer', sdp: 'v=0' })
    web.send({ msgtype: 'notify', operation: 'ras_alive', channeltype: 'system' })
    await web.next((f) => f.operation === 'ras_alive')
    expect(await web.request({ msgtype: 'request', operation: 'destroy_session', sessionid })).toMatchObject({
      result_cd: 200
    })
    await device.next((f) => f.operation === 'destroy_session', 5000, 0)

    // Ctrl-C reaches the whole process group (npm and the server), as in a terminal.
    const exited = new Promise<string>((resolve) =>
      child!.once('exit', (code, signal) => resolve(String(code ?? signal)))
    )
    process.kill(-child.pid!, 'SIGINT')
    expect(await device.closed()).toBe(1001) // graceful: going away, not a dropped socket
    expect(['0', 'SIGINT']).toContain(await exited)
  })

  it('takes --limit maxPresenceSubscribers: one more operator connection may list sessions, not follow them', async () => {
    const url = await serve(['--operator-token', OPERATOR_TOKEN, '--limit', 'maxPresenceSubscribers=1'])
    const first = await authed(url, 'console-1')
    const second = await authed(url, 'console-2')
    expect(await first.request(list({ subscribe: true }))).toMatchObject({ result_cd: 200 })
    expect(await second.request(list({ subscribe: true }))).toMatchObject({
      result_cd: 409,
      result_msg: 'at most 1 operator connections may follow sessions'
    })
    expect(await second.request(list({}))).toMatchObject({ result_cd: 200 })
  })

  it('refuses an inbox wait not below the command timeout before it starts, saying what to change', async () => {
    const { code, stderr } = await refused([
      '--redis',
      'redis://127.0.0.1:1',
      '--redis-limit',
      'commandTimeoutMs=800'
    ])
    expect(code).toBe(1)
    expect(stderr).toContain(
      'channel server could not start: --redis-limit inboxBlockMs (1000 ms) must be below commandTimeoutMs (800 ms)'
    )
    expect(stderr).toContain('lower inboxBlockMs or raise commandTimeoutMs')
  })
})

describeWithRedis('npm run serve --redis with --redis-limit', () => {
  it('applies them to the store and its clients, as Redis sees their commands', async () => {
    const redis = await RedisServer.start()
    cleanups.push(() => redis.stop())
    const monitor = createClient({ url: redis.url })
    monitor.on('error', () => undefined)
    await monitor.connect()
    cleanups.push(() => monitor.close())
    const seen: string[] = []
    await monitor.monitor((line) => seen.push(String(line)))

    const url = await serve([
      '--redis',
      redis.url,
      '--redis-limit',
      'inboxReadCount=7',
      '--redis-limit',
      'inboxBlockMs=100',
      '--redis-limit',
      'pingIntervalMs=100'
    ])
    // The store's: its inbox reads (default COUNT 512 BLOCK 1000).
    await expect
      .poll(() => seen.some((l) => l.includes('"XREAD" "COUNT" "7" "BLOCK" "100" "STREAMS"')), {
        timeout: 5_000
      })
      .toBe(true)
    // The clients': a PING each 100 ms (default 1 000 ms, about 2 a second from both clients).
    const from = seen.length
    await new Promise((r) => setTimeout(r, 2_000))
    const pings = seen.slice(from).filter((l) => l.includes('"PING"')).length
    console.log(`serve --redis-limit pingIntervalMs=100: ${pings} PINGs in 2 s`)
    expect(pings).toBeGreaterThanOrEqual(10)

    const device = await authed(url, 'K-redis-limit')
    expect(await device.request({ msgtype: 'request', operation: 'create_session' })).toMatchObject({
      result_cd: 200
    })
  }, 40_000)
})
