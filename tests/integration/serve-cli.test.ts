import { type ChildProcess, spawn } from 'node:child_process'
import { afterEach, describe, expect, it } from 'vitest'
import { RawClient } from '../helpers/raw-client'
import { killProcessGroup } from '../helpers/child-process'

let child: ChildProcess | null = null

afterEach(() => {
  killProcessGroup(child)
  child = null
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
})
