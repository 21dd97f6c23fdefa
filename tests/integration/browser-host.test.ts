import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import WebSocket from 'ws'
import { AppCore } from '../../src/main/core/app-core'
import { BrowserHost } from '../../src/main/host/browser-host'
import type { BridgeHostMessage } from '../../src/shared/contract'
import { startHostProcess } from '../helpers/host-process'

let core: AppCore
let host: BrowserHost
let base: string
let dir: string

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gb-host-'))
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>Genie Bridge</title>')
  core = await AppCore.start({ host: 'browser', version: 'test', dataDir: join(dir, 'data') })
  host = new BrowserHost({ core, rendererDir: dir })
  const url = await host.start()
  base = new URL(url).origin
})

afterEach(async () => {
  await host.stop()
  await core.stop()
  rmSync(dir, { recursive: true, force: true })
})

/** A page's side of /bridge: call(name, req) → outcome, and the events received. */
async function bridge(
  token: string,
  origin = base
): Promise<{
  call(name: string, req?: unknown): Promise<unknown>
  events: unknown[]
  batches: BridgeHostMessage[][]
  ws: WebSocket
}> {
  const ws = new WebSocket(`${origin.replace('http', 'ws')}/bridge?token=${token}`)
  await new Promise((resolve, reject) => {
    ws.once('open', resolve)
    ws.once('error', reject)
  })
  let id = 0
  const waiting = new Map<number, (o: unknown) => void>()
  const events: unknown[] = []
  const batches: BridgeHostMessage[][] = []
  ws.on('message', (d) => {
    const batch = JSON.parse(d.toString()) as BridgeHostMessage[]
    batches.push(batch)
    for (const msg of batch) {
      if (msg.kind === 'result') waiting.get(msg.id)?.(msg.outcome)
      else events.push(msg)
    }
  })
  return {
    ws,
    events,
    batches,
    call: (name, req) =>
      new Promise((resolve) => {
        waiting.set(++id, resolve)
        ws.send(JSON.stringify({ kind: 'call', id, name, req }))
      })
  }
}

describe('browser host', () => {
  it('prints a URL with a random token and serves the app with its CSP', async () => {
    expect(host.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{32}$/)
    const res = await fetch(host.url)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'")
    expect(await res.text()).toContain('Genie Bridge')
  })

  it('answers /api/info only with the token, and names the embedded channel server', async () => {
    expect((await fetch(`${base}/api/info`)).status).toBe(403)
    expect((await fetch(`${base}/api/info?token=wrong`)).status).toBe(403)
    const info = (await (await fetch(`${base}/api/info?token=${host.token}`)).json()) as {
      channelUrl: string
      host: string
    }
    expect(info.host).toBe('browser')
    expect(info.channelUrl).toBe(core.embeddedServer!.url)
  })

  it('never serves files outside the renderer folder', async () => {
    for (const path of ['/../package.json', '/%2e%2e/package.json', '/..%2fpackage.json']) {
      const res = await fetch(`${base}${path}`)
      expect([403, 404]).toContain(res.status)
    }
  })

  it('refuses /bridge without the token before a WebSocket exists', async () => {
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`${base.replace('http', 'ws')}/bridge?token=nope`)
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
      ws.on('error', () => resolve(-1))
    })
    expect(status).toBe(403)
  })

  it('carries the contract: commands with outcomes, events, and cleanup when the page goes', async () => {
    const page = await bridge(host.token)
    expect(await page.call('app:info')).toMatchObject({ ok: true, value: { host: 'browser' } })
    expect(await page.call('no:such')).toMatchObject({ ok: false, error: { result_cd: 501 } })
    expect(await page.call('channel:join', { connectionId: 'x', sessionid: 's' })).toMatchObject({
      ok: false,
      error: { result_cd: 404 }
    })
    expect(await page.call('channel:connect', { connectionId: 'dev', uuid: 'K1' })).toEqual({ ok: true })
    const created = (await page.call('channel:create', { connectionId: 'dev' })) as {
      value: { sessionid: string }
    }
    expect(created.value.sessionid).toMatch(/^[\w-]{22}$/)
    expect(page.events).toContainEqual(expect.objectContaining({ kind: 'event', name: 'channel:state' }))
    expect(core.embeddedServer!.sessionCount).toBe(1)
    page.ws.close()
    await vi.waitFor(() => expect(core.embeddedServer!.connectionCount).toBe(0))
    expect(core.embeddedServer!.sessionCount).toBe(0)
    expect(core.scopeCount).toBe(0)
  })

  it('sends a command’s result and the events it caused to the page in one message', async () => {
    const page = await bridge(host.token)
    page.batches.length = 0
    await page.call('channel:connect', { connectionId: 'dev', uuid: 'K1' })
    const connected = page.batches.find((b) => b.some((m) => m.kind === 'result'))
    expect(connected?.map((m) => (m.kind === 'result' ? 'result' : m.name))).toContain('channel:state')
    page.ws.close()
  })

  it('holds what nobody waits on for the next message that matters, keeping the order', async () => {
    // A hold longer than the test: only a message that matters can bring the held ones out.
    const patient = new BrowserHost({ core, rendererDir: dir, deferMs: 60_000 })
    const origin = new URL(await patient.start()).origin
    try {
      const connect = async (connectionId: string, uuid: string) => {
        const page = await bridge(patient.token, origin)
        await page.call('channel:connect', { connectionId, uuid })
        return page
      }
      const device = await connect('dev', 'K1')
      const created = (await device.call('channel:create', { connectionId: 'dev' })) as {
        value: { sessionid: string }
      }
      const sessionid = created.value.sessionid
      const web = await connect('web', 'W1')
      await web.call('channel:join', { connectionId: 'web', sessionid })
      device.batches.length = 0

      // A failure is not held.
      expect(await device.call('channel:send', { connectionId: 'nope', sessionid, data: {} })).toMatchObject({
        ok: false,
        error: { result_cd: 404 }
      })
      const offer = { type: 'offer', sdp: 'v=0' }
      const sent = device.call('channel:send', { connectionId: 'dev', sessionid, data: offer })
      await vi.waitFor(() =>
        expect(web.events).toContainEqual(
          expect.objectContaining({
            payload: expect.objectContaining({
              direction: 'in',
              frame: expect.objectContaining({ data: offer })
            })
          })
        )
      )
      // The web side's answer reaches the device and brings the held echo and result with it. (The
      // web side's own result is held in turn: nothing else comes to that page.)
      const answer = { type: 'answer', sdp: 'v=0' }
      void web.call('channel:send', { connectionId: 'web', sessionid, data: answer })
      expect(await sent).toEqual({ ok: true })
      const together = device.batches.find((b) => b.some((m) => m.kind === 'result' && m.outcome.ok))
      expect(together?.map((m) => (m.kind === 'result' ? 'result' : m.name))).toEqual([
        'channel:frame',
        'result',
        'channel:frame'
      ])
      expect(together?.[0]).toMatchObject({ payload: { direction: 'out', frame: { data: offer } } })
      expect(together?.[2]).toMatchObject({ payload: { direction: 'in', frame: { data: answer } } })
      device.ws.close()
      web.ws.close()
    } finally {
      await patient.stop()
    }
  })

  it('sends what was held once the hold is over, when nothing else comes', async () => {
    const brief = new BrowserHost({ core, rendererDir: dir, deferMs: 20 })
    const origin = new URL(await brief.start()).origin
    try {
      const page = await bridge(brief.token, origin)
      await page.call('channel:connect', { connectionId: 'dev', uuid: 'K1' })
      const { value } = (await page.call('channel:create', { connectionId: 'dev' })) as {
        value: { sessionid: string }
      }
      page.batches.length = 0
      const data = { type: 'candidate', label: 0, candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host' }
      expect(
        await page.call('channel:send', { connectionId: 'dev', sessionid: value.sessionid, data })
      ).toEqual({
        ok: true
      })
      expect(page.batches).toHaveLength(1)
      expect(page.batches[0]?.map((m) => (m.kind === 'result' ? 'result' : m.name))).toEqual([
        'channel:frame',
        'result'
      ])
      page.ws.close()
    } finally {
      await brief.stop()
    }
  })

  it('persists settings across a restart of the core', async () => {
    const page = await bridge(host.token)
    await page.call('settings:set', { language: 'en', deviceUuid: 'K99', bogus: 1 })
    page.ws.close()
    const again = await AppCore.start({
      host: 'browser',
      version: 'test',
      dataDir: join(dir, 'data'),
      embeddedServer: false,
      serverUrl: 'ws://127.0.0.1:1/channel'
    })
    expect(again.settings.get()).toMatchObject({ language: 'en', deviceUuid: 'K99' })
    expect(again.settings.get()).not.toHaveProperty('bogus')
    await again.stop()
  })
})

describe('npm run host --host-limit', () => {
  it('gives the host its limits: with maxPages=2 a third /bridge socket gets 503', async () => {
    const proc = await startHostProcess(undefined, ['--host-limit', 'maxPages=2'])
    const pages: WebSocket[] = []
    try {
      const statuses: number[] = []
      for (let i = 0; i < 3; i++) {
        const ws = new WebSocket(`ws://127.0.0.1:${proc.port}/bridge?token=${proc.token}`)
        pages.push(ws)
        statuses.push(
          await new Promise<number>((resolve) => {
            ws.once('open', () => resolve(101))
            ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
            ws.once('error', () => resolve(0))
          })
        )
      }
      expect(statuses).toEqual([101, 101, 503])
    } finally {
      for (const ws of pages) ws.terminate()
      await proc.stop()
    }
  }, 40_000)
})
