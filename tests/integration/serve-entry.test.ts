/**
 * The built server entry (out/cli/serve.js, what `npm run serve` runs) as a process: its probes
 * and metrics over real sockets, its JSON logs on stderr, and a graceful stop on SIGTERM / SIGINT.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { RawClient } from '../helpers/raw-client'
import { RawSocket } from '../helpers/raw-socket'

const ENTRY = 'out/cli/serve.js'
const TOKEN = 'entry-test-token-0123456789abcdef'

interface Running {
  proc: ChildProcess
  url: string
  port: number
  stdout: string[]
  stderr: string[]
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

let running: Running | null = null

beforeAll(() => {
  const built = spawnSync('node', ['scripts/build-cli.mjs', '--if-stale'], { encoding: 'utf8' })
  if (built.status !== 0) throw new Error(`the server entry did not build: ${built.stderr}`)
})

afterEach(() => {
  if (running && running.proc.exitCode === null && running.proc.signalCode === null)
    running.proc.kill('SIGKILL')
  running = null
})

function collect(stream: NodeJS.ReadableStream, into: string[]): void {
  let buf = ''
  stream.on('data', (chunk: Buffer) => {
    buf += chunk.toString()
    const parts = buf.split('\n')
    buf = parts.pop()!
    into.push(...parts)
  })
}

async function serve(args: string[]): Promise<Running> {
  const proc = spawn('node', [ENTRY, '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const stdout: string[] = []
  const stderr: string[] = []
  collect(proc.stdout!, stdout)
  collect(proc.stderr!, stderr)
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal }))
  )
  running = { proc, url: '', port: 0, stdout, stderr, exit }
  await expect
    .poll(() => stdout[0] ?? (proc.exitCode !== null ? `exited: ${stderr.join('\n')}` : undefined), {
      timeout: 15_000
    })
    .toMatch(/^channel server listening on /)
  const m = /^channel server listening on (ws:\/\/127\.0\.0\.1:(\d+)\/channel)$/.exec(stdout[0]!)
  expect(m, stdout[0]).not.toBeNull()
  running.url = m![1]!
  running.port = Number(m![2])
  return running
}

async function status(port: number, path: string, headers: Record<string, string> = {}): Promise<number> {
  return (await fetch(`http://127.0.0.1:${port}${path}`, { headers })).status
}

describe('the built server entry', () => {
  it('serves the probes and metrics, then stops gracefully on SIGTERM: unready at once, members told, exit 0', async () => {
    const s = await serve(['--token', TOKEN, '--log-level', 'trace', '--limit', 'closeTimeoutMs=1500'])
    expect(s.stdout.join('\n')).not.toContain(TOKEN) // a given token is not echoed
    expect(await status(s.port, '/healthz')).toBe(200)
    expect(await status(s.port, '/readyz')).toBe(200)
    expect(await status(s.port, '/metrics')).toBe(401)
    expect(await status(s.port, '/metrics', { authorization: `Bearer ${TOKEN}` })).toBe(200)

    const device = await RawClient.authed(`${s.url}?token=${TOKEN}`, 'K1')
    const web = await RawClient.authed(`${s.url}?token=${TOKEN}`, 'W1')
    const { sessionid } = await device.request({ msgtype: 'request', operation: 'create_session' })
    await web.request({ msgtype: 'request', operation: 'join_session', sessionid })
    device.send({ msgtype: 'data', sessionid, data: { n: 1 } })
    await web.next((f) => f.msgtype === 'data', 5000, 0)
    const metrics = await (
      await fetch(`http://127.0.0.1:${s.port}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })
    ).text()
    expect(metrics).toMatch(/^genie_bridge_sessions 1$/m)
    expect(metrics).toMatch(/^genie_bridge_frames_relayed_total 1$/m)
    // A member that never answers the close frame holds the shutdown open for closeTimeoutMs.
    const stuck = await RawSocket.open(s.port, { headers: { authorization: `Bearer ${TOKEN}` } })
    expect(stuck.status).toBe(101)
    stuck.stopReading()

    const stopAsked = Date.now()
    s.proc.kill('SIGTERM')
    await expect.poll(() => status(s.port, '/readyz'), { timeout: 2000, interval: 20 }).toBe(503)
    expect(await status(s.port, '/healthz')).toBe(200)
    expect((await device.next((f) => f.operation === 'destroy_session', 5000, 0)).sessionid).toBe(sessionid)
    expect((await web.next((f) => f.operation === 'destroy_session', 5000, 0)).sessionid).toBe(sessionid)
    expect(await device.closed()).toBe(1001)
    expect(await web.closed()).toBe(1001)
    expect(await s.exit).toEqual({ code: 0, signal: null })
    console.log(`serve: SIGTERM to exit with a stuck member in ${Date.now() - stopAsked} ms`)
    stuck.destroy()

    expect(s.stderr.length).toBeGreaterThan(5)
    const entries = s.stderr.map((line) => JSON.parse(line) as Record<string, unknown>)
    for (const line of s.stderr) expect(line).not.toContain(TOKEN)
    const messages = entries.map((e) => e['msg'])
    expect(messages).toEqual(
      expect.arrayContaining([
        'channel server listening',
        'connection opened',
        'session created',
        'session joined',
        'stopping',
        'channel server shutting down: ending sessions and closing connections',
        'session ended',
        'channel server stopped'
      ])
    )
    expect(entries.find((e) => e['msg'] === 'stopping')).toMatchObject({ signal: 'SIGTERM', level: 'info' })
  })

  it('stops on SIGINT with exit 0, and logs nothing below --log-level', async () => {
    const s = await serve(['--log-level', 'warn'])
    const client = await RawClient.authed(s.url, 'K1')
    s.proc.kill('SIGINT')
    expect(await client.closed()).toBe(1001)
    expect(await s.exit).toEqual({ code: 0, signal: null })
    expect(s.stderr).toEqual([])
  })

  it('prints its usage for --help and explains a bad option with exit 1', () => {
    const help = spawnSync('node', [ENTRY, '--help'], { encoding: 'utf8' })
    expect(help.status).toBe(0)
    for (const flag of [
      '--host',
      '--port',
      '--token',
      '--allow-origin',
      '--allow-uuid',
      '--tls-cert',
      '--tls-key'
    ])
      expect(help.stdout).toContain(flag)
    for (const flag of ['--open-access', '--limit-loopback', '--limit NAME=VALUE', '--log-level', '/readyz'])
      expect(help.stdout).toContain(flag)
    const bad = spawnSync('node', [ENTRY, '--prot', '1'], { encoding: 'utf8' })
    expect(bad.status).toBe(1)
    expect(bad.stderr).toBe('channel server could not start: unknown option --prot (see --help)\n')
  })
})
