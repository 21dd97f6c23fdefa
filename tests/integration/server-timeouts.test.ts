import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ChannelServer } from '../../src/main/channel/server'
import { CloseCode, DEFAULT_LIMITS } from '../../src/main/channel/limits'
import { RawClient, settle } from '../helpers/raw-client'

// The server's clock and sweep are faked (setInterval + Date); sockets and the helpers' own
// timeouts stay real, so the frames really cross 127.0.0.1.
let server: ChannelServer
let url: string
const clients: RawClient[] = []

beforeEach(async () => {
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] })
  server = new ChannelServer()
  url = await server.listen()
})

afterEach(async () => {
  for (const c of clients.splice(0)) c.close()
  vi.useRealTimers()
  await server.close()
})

async function advance(ms: number): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms)
  await settle(50)
}

describe('timeouts', () => {
  it('closes a client that stays silent for 70 s, not before', async () => {
    expect(DEFAULT_LIMITS.idleTimeoutMs).toBe(70_000)
    const silent = await RawClient.authed(url, 'silent')
    const chatty = await RawClient.authed(url, 'chatty')
    clients.push(silent, chatty)
    for (let t = 0; t < 68_000; t += 17_000) {
      await advance(17_000)
      chatty.send({ msgtype: 'notify', operation: 'ras_alive', channeltype: 'system' })
      await chatty.next((f) => f.operation === 'ras_alive')
    }
    expect(silent.isOpen).toBe(true)
    await advance(3_000) // 71 s of silence
    expect(await silent.closed()).toBe(CloseCode.IDLE_TIMEOUT)
    expect(silent.closeReason).toContain('keep-alive')
    expect(chatty.isOpen).toBe(true)
  })

  it('a device that keeps its channel alive keeps its session well past 70 s', async () => {
    const device = await RawClient.authed(url, 'K1')
    clients.push(device)
    const { sessionid } = await device.request({ msgtype: 'request', operation: 'create_session' })
    for (let i = 0; i < 8; i++) {
      await advance(30_000)
      device.send({ msgtype: 'notify', operation: 'ras_alive', channeltype: 'system' })
    }
    await advance(1_000)
    expect(device.isOpen).toBe(true)
    expect(server.listSessions().map((s) => s.sessionid)).toEqual([sessionid])
  })

  it('closes an unauthenticated client after the auth timeout, and its sessions are gone', async () => {
    const lurker = await RawClient.open(url)
    clients.push(lurker)
    await advance(DEFAULT_LIMITS.authTimeoutMs - 2_000)
    expect(lurker.isOpen).toBe(true)
    await advance(3_000)
    expect(await lurker.closed()).toBe(CloseCode.AUTH_TIMEOUT)
    expect(server.connectionCount).toBe(0)
  })

  it('a timed-out device ends its session and the web client is told', async () => {
    const device = await RawClient.authed(url, 'K1')
    const web = await RawClient.authed(url, 'W1')
    clients.push(device, web)
    const { sessionid } = await device.request({ msgtype: 'request', operation: 'create_session' })
    await web.request({ msgtype: 'request', operation: 'join_session', sessionid })
    for (let i = 0; i < 3; i++) {
      await advance(25_000)
      web.send({ msgtype: 'notify', operation: 'ras_alive' })
    }
    expect(await device.closed()).toBe(CloseCode.IDLE_TIMEOUT)
    expect(await web.next((f) => f.operation === 'destroy_session', 5000, 0)).toMatchObject({ sessionid })
    expect(server.sessionCount).toBe(0)
  })
})
