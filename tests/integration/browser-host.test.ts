import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import WebSocket from 'ws'
import { AppCore } from '../../src/main/core/app-core'
import { BrowserHost } from '../../src/main/host/browser-host'
import type { BridgeHostMessage } from '../../src/shared/contract'

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
async function bridge(token: string): Promise<{
  call(name: string, req?: unknown): Promise<unknown>
  events: unknown[]
  batches: BridgeHostMessage[][]
  ws: WebSocket
}> {
  const ws = new WebSocket(`${base.replace('http', 'ws')}/bridge?token=${token}`)
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
    const device = await bridge(host.token)
    await device.call('channel:connect', { connectionId: 'dev', uuid: 'K1' })
    const created = (await device.call('channel:create', { connectionId: 'dev' })) as {
      value: { sessionid: string }
    }
    const web = await bridge(host.token)
    await web.call('channel:connect', { connectionId: 'web', uuid: 'W1' })
    await web.call('channel:join', { connectionId: 'web', sessionid: created.value.sessionid })
    device.batches.length = 0
    const data = { type: 'candidate', label: 0, candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host' }
    await device.call('channel:send', { connectionId: 'dev', sessionid: created.value.sessionid, data })
    const sent = device.batches.find((b) => b.some((m) => m.kind === 'result'))
    expect(sent?.map((m) => (m.kind === 'result' ? 'result' : m.name))).toEqual(['channel:frame', 'result'])
    expect(sent?.[0]).toMatchObject({ payload: { direction: 'out', frame: { data } } })
    await vi.waitFor(() =>
      expect(web.events).toContainEqual(
        expect.objectContaining({
          name: 'channel:frame',
          payload: expect.objectContaining({ direction: 'in' })
        })
      )
    )
    device.ws.close()
    web.ws.close()
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
