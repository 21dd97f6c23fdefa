/**
 * What a web page, a call partner or a page holding the token sends cannot stop the browser
 * host: each reproduction runs against the host as its own process, and afterwards the process
 * still answers and the call in progress still carries frames.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { HISTORY_FILE } from '../../src/main/core/history-store'
import { RawSocket } from '../helpers/raw-socket'
import {
  type BridgePage,
  type HostProcess,
  get,
  openPage,
  rawRequest,
  startHostProcess
} from '../helpers/host-process'

let host: HostProcess

afterEach(async () => {
  await host?.stop()
})

/** A web client of the embedded channel server: authenticated, joined to `sessionid`. */
async function webClient(channelUrl: string, uuid: string, sessionid: string) {
  const ws = new WebSocket(channelUrl)
  const frames: Record<string, unknown>[] = []
  ws.on('message', (d) => frames.push(JSON.parse(d.toString()) as Record<string, unknown>))
  await new Promise((resolve, reject) => {
    ws.once('open', resolve)
    ws.once('error', reject)
  })
  const reply = async (trxid: string): Promise<Record<string, unknown>> => {
    for (let i = 0; i < 200; i++) {
      const f = frames.find((x) => x.msgtype === 'reply' && x.trxid === trxid)
      if (f) return f
      await new Promise((r) => setTimeout(r, 25))
    }
    throw new Error(`no reply ${trxid}`)
  }
  ws.send(JSON.stringify({ msgtype: 'request', operation: 'auth', uuid, trxid: 'a' }))
  expect((await reply('a')).result_cd).toBe(200)
  ws.send(JSON.stringify({ msgtype: 'request', operation: 'join_session', uuid, sessionid, trxid: 'j' }))
  expect((await reply('j')).result_cd).toBe(200)
  return { ws, frames, reply }
}

/** A speaker page with a session that a web client has joined: a call in progress. */
async function callInProgress(): Promise<{
  page: BridgePage
  sessionid: string
  web: Awaited<ReturnType<typeof webClient>>
}> {
  const page = await openPage(host.origin, host.token)
  const info = (await page.call('app:info')) as { value: { channelUrl: string } }
  expect((await page.call('channel:connect', { connectionId: 'c1', uuid: 'speaker-1' })).ok).toBe(true)
  const created = (await page.call('channel:create', { connectionId: 'c1' })) as {
    value: { sessionid: string }
  }
  const sessionid = created.value.sessionid
  const web = await webClient(info.value.channelUrl, 'web-1', sessionid)
  return { page, sessionid, web }
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** The page still hears the web client: the call goes on. */
async function callStillCarries(call: Awaited<ReturnType<typeof callInProgress>>, marker: string) {
  call.web.ws.send(JSON.stringify({ msgtype: 'data', sessionid: call.sessionid, data: { marker } }))
  await until(
    () =>
      call.page.events.some(
        (e) =>
          e.name === 'channel:frame' &&
          (e.payload as { direction: string; frame: { data?: { marker?: string } } }).frame.data?.marker ===
            marker
      ),
    'the page hears the web client'
  )
  const before = call.web.frames.length
  expect(
    (
      await call.page.call('channel:send', {
        connectionId: 'c1',
        sessionid: call.sessionid,
        data: { back: marker }
      })
    ).ok
  ).toBe(true)
  await until(
    () =>
      call.web.frames.slice(before).some((f) => (f.data as { back?: string } | undefined)?.back === marker),
    'the web client hears the page'
  )
}

describe('the browser host stays up', () => {
  beforeEach(async () => {
    host = await startHostProcess()
  }, 40_000)

  it('1. any web page: malformed request targets get 4xx, over HTTP and at upgrade', async () => {
    const call = await callInProgress()
    for (const target of ['/%ZZ', '//', '///', '/\\', 'http://a:99999/', '/%E0%A4%A', '/a%00b']) {
      const status = await rawRequest(
        host.port,
        `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${host.port}\r\n\r\n`
      )
      expect(status, target).toBeGreaterThanOrEqual(400)
      expect(status, target).toBeLessThan(500)
      const upgrade = await rawRequest(
        host.port,
        `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${host.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n'
      )
      expect(upgrade, `upgrade ${target}`).toBeGreaterThanOrEqual(400)
      expect(upgrade, `upgrade ${target}`).toBeLessThan(500)
      expect(await host.answers(), target).toBe(true)
    }
    // What <img src="http://127.0.0.1:PORT//"> makes a browser send.
    expect(await get(host.port, '//')).toBe(400)
    await callStillCarries(call, 'after-targets')
  }, 30_000)

  it('2. any call partner: a data frame nested 6000 deep', async () => {
    const call = await callInProgress()
    const deep = `${'['.repeat(6000)}${']'.repeat(6000)}`
    call.web.ws.send(`{"msgtype":"data","sessionid":"${call.sessionid}","trxid":"deep","data":{"x":${deep}}}`)
    const refusal = await call.web.reply('deep')
    expect(refusal.result_cd).toBe(400)
    expect(refusal.result_msg).toContain('deeper than 64')
    expect(await host.answers()).toBe(true)
    await callStillCarries(call, 'after-deep-frame')
  }, 30_000)

  it('3. a page holding the token: a full pacing queue, then a deeply nested payload', async () => {
    const call = await callInProgress()
    for (let i = 0; i < 95; i++)
      call.page.fire('channel:send', { connectionId: 'c1', sessionid: call.sessionid, data: { i } })
    const deep = `${'{"d":'.repeat(6000)}{}${'}'.repeat(6000)}`
    const outcome = await call.page.callText(
      (id) =>
        `{"kind":"call","id":${id},"name":"channel:send","req":{"connectionId":"c1","sessionid":"${call.sessionid}","data":${deep}}}`
    )
    expect(outcome.ok).toBe(false)
    expect(outcome.error?.result_cd).toBe(400)
    expect(outcome.error?.message).toContain('data')
    // The pacing timer writes the queued frames (about a second later) without trouble.
    await until(
      () => call.web.frames.filter((f) => f.msgtype === 'data').length >= 95,
      'the paced frames',
      10_000
    )
    expect(await host.answers()).toBe(true)
    await callStillCarries(call, 'after-deep-payload')
  }, 30_000)
})

describe('a page that does not read', () => {
  beforeEach(async () => {
    // A full history of long records: each history:list answer is about 0.5 MB.
    host = await startHostProcess((dataDir) => {
      const records = Array.from({ length: 1000 }, (_, i) => ({
        role: 'speaker',
        sessionid: `s${i}`.padEnd(200, 'x'),
        localId: 'speaker-1',
        startedAt: i,
        endedAt: i + 1,
        outcome: 'hung up here '.padEnd(250, '.')
      }))
      writeFileSync(join(dataDir, HISTORY_FILE), JSON.stringify(records))
    })
  }, 40_000)

  /** Stated bound: the host's RSS grows by less than this while a page asks and never reads. */
  const RSS_GROWTH_BOUND = 64 * 1024 * 1024

  it('4. is cut off with a close reason beyond a bounded buffer; host RSS stays within the bound', async () => {
    const call = await callInProgress()
    // Warm the history up once, as any page would, so that what grows is what the reader costs.
    expect((await call.page.call('history:list')).ok).toBe(true)
    const before = host.rss()
    const reader = await RawSocket.open(host.port, { path: `/bridge?token=${host.token}` })
    expect(reader.status).toBe(101)
    reader.stopReading()
    const message = (id: number): string => JSON.stringify({ kind: 'call', id, name: 'history:list' })
    for (let i = 1; i <= 150; i++) reader.sendText(message(i))
    let peak = before
    const end = Date.now() + 1500
    while (Date.now() < end) {
      peak = Math.max(peak, host.rss())
      await new Promise((r) => setTimeout(r, 25))
    }
    reader.resumeReading()
    expect(await reader.closed(10_000)).toBe(4429)
    expect(reader.closeReason).toContain('did not read')
    const growth = peak - before
    console.log(
      `slow reader: host RSS ${(before / 2 ** 20).toFixed(0)} MB → peak ${(peak / 2 ** 20).toFixed(0)} MB (+${(growth / 2 ** 20).toFixed(0)} MB; bound ${RSS_GROWTH_BOUND / 2 ** 20} MB)`
    )
    expect(growth).toBeLessThan(RSS_GROWTH_BOUND)
    expect(await host.answers()).toBe(true)
    await callStillCarries(call, 'after-slow-reader')
  }, 60_000)

  it('caps /bridge sockets', async () => {
    const pages: WebSocket[] = []
    let refused = 0
    for (let i = 0; i < 40; i++) {
      const ws = new WebSocket(`ws://127.0.0.1:${host.port}/bridge?token=${host.token}`)
      const status = await new Promise<number>((resolve) => {
        ws.once('open', () => resolve(101))
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
        ws.once('error', () => resolve(0))
      })
      if (status === 101) pages.push(ws)
      else if (status === 503) refused++
    }
    expect(pages.length).toBe(32)
    expect(refused).toBe(8)
    for (const ws of pages) ws.terminate()
    expect(await host.answers()).toBe(true)
  }, 30_000)
})

describe('DNS rebinding and foreign pages', () => {
  beforeEach(async () => {
    host = await startHostProcess()
  }, 40_000)

  it('answers 421 for a Host that is not a loopback name, and 403 to a /bridge from another origin', async () => {
    expect(await get(host.port, `/?token=${host.token}`, { Host: 'evil.example' })).toBe(421)
    expect(await get(host.port, `/api/info?token=${host.token}`, { Host: `evil.example:${host.port}` })).toBe(
      421
    )
    expect(await get(host.port, '/', { Host: `localhost:${host.port}` })).toBe(200)
    expect(await get(host.port, '/', { Host: `127.0.0.1:${host.port}` })).toBe(200)
    expect(await get(host.port, '/', { Host: `127.0.0.1:${host.port + 1}` })).toBe(421)
    const upgrade = (headers: Record<string, string>): Promise<number> =>
      new Promise((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${host.port}/bridge?token=${host.token}`, { headers })
        ws.once('open', () => {
          ws.terminate()
          resolve(101)
        })
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
        ws.once('error', () => resolve(0))
      })
    expect(await upgrade({ Origin: 'http://evil.example' })).toBe(403)
    expect(await upgrade({ Origin: `http://127.0.0.1:${host.port}`, Host: 'evil.example' })).toBe(421)
    expect(await upgrade({ Origin: `http://127.0.0.1:${host.port}` })).toBe(101)
    expect(await upgrade({})).toBe(101) // not a browser: the token alone decides
    expect(await host.answers()).toBe(true)
  }, 30_000)
})
