/**
 * The grace period after a connection is lost without a close frame: the session and the
 * member slot stay, the same uuid re-takes them silently, frames meant for it meanwhile are
 * held and delivered on return, and when the grace runs out PROTOCOL.md's notifies happen.
 * A clean close still ends things at once.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { ChannelServer, type ChannelServerOptions } from '../../src/main/channel/server'
import { RawClient, settle } from '../helpers/raw-client'

let server: ChannelServer
let url: string
const open: RawClient[] = []

async function start(options: ChannelServerOptions = {}): Promise<void> {
  server = new ChannelServer(options)
  url = await server.listen()
}

async function authed(uuid: string): Promise<RawClient> {
  const c = await RawClient.authed(url, uuid)
  open.push(c)
  return c
}

async function pair(): Promise<{ device: RawClient; web: RawClient; sessionid: string }> {
  const device = await authed('K1')
  const web = await authed('W1')
  const { sessionid } = await device.request({ msgtype: 'request', operation: 'create_session' })
  await web.request({ msgtype: 'request', operation: 'join_session', sessionid })
  await device.next((f) => f.operation === 'join_session', 5000, 0)
  return { device, web, sessionid: sessionid as string }
}

/** Drops the TCP connection without a close frame, as a cable pull or crash would. */
async function cut(c: RawClient): Promise<void> {
  const before = server.stats().connections
  c.ws.terminate()
  await vi.waitFor(() => expect(server.stats().connections).toBe(before - 1))
}

function notifies(c: RawClient): string[] {
  return c.frames
    .filter((f) => f.msgtype === 'notify' && f.operation !== 'iam')
    .map((f) => String(f.operation))
}

afterEach(async () => {
  for (const c of open.splice(0)) c.close()
  await server.close()
  expect(server.stats()).toMatchObject({
    connections: 0,
    sockets: 0,
    sessions: 0,
    awaySlots: 0,
    heldBytes: 0
  })
})

describe('a web client lost without a close frame', () => {
  it('keeps its slot; re-joining re-takes it silently and gets what was sent meanwhile, in order', async () => {
    await start()
    const { device, web, sessionid } = await pair()
    await cut(web)
    expect(server.listSessions()).toMatchObject([{ sessionid, memberUuids: ['K1'], awayUuids: ['W1'] }])
    for (let n = 1; n <= 5; n++) device.send({ msgtype: 'data', sessionid, data: { n } })
    await vi.waitFor(() => expect(server.stats().heldBytes).toBeGreaterThan(0))

    const back = await authed('W1')
    const reply = await back.request({ msgtype: 'request', operation: 'join_session', sessionid })
    expect(reply).toMatchObject({ result_cd: 200, operation: 'join_session', resumed: true })
    await back.next((f) => f.msgtype === 'data' && (f.data as { n: number }).n === 5, 5000, 0)
    expect(back.frames.filter((f) => f.msgtype === 'data').map((f) => (f.data as { n: number }).n)).toEqual([
      1, 2, 3, 4, 5
    ])
    back.send({ msgtype: 'data', sessionid, data: { from: 'web again' } })
    expect((await device.next((f) => f.msgtype === 'data')).data).toEqual({ from: 'web again' })
    await settle()
    expect(notifies(device)).toEqual(['join_session']) // the first join only: nothing else changed
    expect(server.listSessions()).toMatchObject([{ sessionid, memberUuids: ['K1', 'W1'], awayUuids: [] }])
    expect(server.stats().heldBytes).toBe(0)
  })

  it('the held slot keeps the session full for others', async () => {
    await start()
    const { web, sessionid } = await pair()
    await cut(web)
    const other = await authed('W2')
    expect(
      (await other.request({ msgtype: 'request', operation: 'join_session', sessionid })).result_cd
    ).toBe(409)
  })

  it('when the grace runs out the device gets leave_session, and a later join is a fresh one', async () => {
    await start({ limits: { reconnectGraceMs: 300, sweepIntervalMs: 50 } })
    const { device, web, sessionid } = await pair()
    const lostAt = Date.now()
    await cut(web)
    await settle(150)
    expect(notifies(device)).toEqual(['join_session'])
    expect(await device.next((f) => f.operation === 'leave_session', 5000, 0)).toEqual({
      msgtype: 'notify',
      operation: 'leave_session',
      sessionid,
      channeltype: 'webrtcaudio'
    })
    const waited = Date.now() - lostAt
    expect(waited).toBeGreaterThanOrEqual(250)
    expect(waited).toBeLessThan(2_000)
    const back = await authed('W1')
    const reply = await back.request({ msgtype: 'request', operation: 'join_session', sessionid })
    expect(reply.result_cd).toBe(200)
    expect('resumed' in reply).toBe(false)
    await device.next((f) => f.operation === 'join_session', 5000, device.frames.length - 1)
    expect(notifies(device)).toEqual(['join_session', 'leave_session', 'join_session'])
  })

  it('a clean close (close frame) still ends the place at once, grace or not', async () => {
    await start({ limits: { reconnectGraceMs: 60_000 } })
    const { device, web, sessionid } = await pair()
    web.close()
    expect(await device.next((f) => f.operation === 'leave_session', 2000, 0)).toMatchObject({ sessionid })
    expect(server.listSessions()[0]?.awayUuids).toEqual([])
  })

  it('too much held for an away member ends its grace at once, with the notify', async () => {
    await start({ limits: { graceBufferFrames: 5 } })
    const { device, web, sessionid } = await pair()
    await cut(web)
    for (let n = 1; n <= 6; n++) device.send({ msgtype: 'data', sessionid, data: { n } })
    expect(await device.next((f) => f.operation === 'leave_session', 5000, 0)).toMatchObject({ sessionid })
    expect(server.stats()).toMatchObject({ awaySlots: 0, heldBytes: 0 })
  })

  it('a second live connection of the same uuid does not displace the first without its token', async () => {
    await start()
    const { device, web, sessionid } = await pair()
    // The old socket is still open: without proof, the newcomer is just another joiner (full).
    const again = await authed('W1')
    const reply = await again.request({ msgtype: 'request', operation: 'join_session', sessionid })
    expect(reply).toMatchObject({ result_cd: 409 })
    device.send({ msgtype: 'data', sessionid, data: { to: 'the first one' } })
    expect((await web.next((f) => f.msgtype === 'data')).data).toEqual({ to: 'the first one' })
    await settle()
    expect(again.frames.some((f) => f.msgtype === 'data')).toBe(false)
    expect(notifies(device)).toEqual(['join_session'])
  })

  it("a new connection presenting the place's resume token takes over from a half-open one", async () => {
    await start()
    const device = await authed('K1')
    const web = await authed('W1')
    const { sessionid } = await device.request({ msgtype: 'request', operation: 'create_session' })
    const joined = await web.request({ msgtype: 'request', operation: 'join_session', sessionid })
    const again = await authed('W1')
    const reply = await again.request({
      msgtype: 'request',
      operation: 'join_session',
      sessionid,
      resumetoken: joined.resumetoken
    })
    expect(reply).toMatchObject({ result_cd: 200, resumed: true, resumetoken: joined.resumetoken })
    device.send({ msgtype: 'data', sessionid, data: { to: 'the new one' } })
    expect((await again.next((f) => f.msgtype === 'data')).data).toEqual({ to: 'the new one' })
    expect((await web.sendAndReply({ msgtype: 'data', sessionid, data: {} })).result_cd).toBe(403)
    web.close()
    await settle()
    expect(notifies(device)).toEqual(['join_session'])
  })
})

describe('a device lost without a close frame', () => {
  it('keeps its session; re-creating the same id takes it back with what the web client sent', async () => {
    await start()
    const { device, web, sessionid } = await pair()
    await cut(device)
    web.send({ msgtype: 'data', sessionid, data: { type: 'answer', sdp: 'held' } })
    await vi.waitFor(() => expect(server.stats().heldBytes).toBeGreaterThan(0))
    const back = await authed('K1')
    const reply = await back.request({ msgtype: 'request', operation: 'create_session', sessionid })
    expect(reply).toMatchObject({ result_cd: 200, sessionid, resumed: true })
    expect((await back.next((f) => f.msgtype === 'data', 5000, 0)).data).toEqual({
      type: 'answer',
      sdp: 'held'
    })
    back.send({ msgtype: 'data', sessionid, data: { type: 'offer', sdp: 'again' } })
    expect((await web.next((f) => f.msgtype === 'data')).data).toEqual({ type: 'offer', sdp: 'again' })
    expect(notifies(web)).toEqual([])
    expect(server.listSessions()).toMatchObject([{ sessionid, ownerUuid: 'K1', memberUuids: ['W1', 'K1'] }])
  })

  it('session events meanwhile are held for it too', async () => {
    await start()
    const { device, web, sessionid } = await pair()
    await cut(device)
    web.close() // the web client leaves while the device is away
    await vi.waitFor(() => expect(server.listSessions()[0]?.memberUuids).toEqual([]))
    const back = await authed('K1')
    await back.request({ msgtype: 'request', operation: 'create_session', sessionid })
    expect(await back.next((f) => f.operation === 'leave_session', 5000, 0)).toMatchObject({ sessionid })
  })

  it('when the grace runs out the session is destroyed and the web client told', async () => {
    await start({ limits: { reconnectGraceMs: 200, sweepIntervalMs: 50 } })
    const { device, web, sessionid } = await pair()
    await cut(device)
    expect(await web.next((f) => f.operation === 'destroy_session', 5000, 0)).toEqual({
      msgtype: 'notify',
      operation: 'destroy_session',
      sessionid,
      channeltype: 'webrtcaudio'
    })
    expect(server.sessionCount).toBe(0)
    // Coming back later creates the id anew, as a new session.
    const back = await authed('K1')
    const reply = await back.request({ msgtype: 'request', operation: 'create_session', sessionid })
    expect(reply.result_cd).toBe(200)
    expect('resumed' in reply).toBe(false)
  })

  it('another uuid cannot take the id while the device is away', async () => {
    await start()
    const { device, sessionid } = await pair()
    await cut(device)
    const thief = await authed('K2')
    expect(
      (await thief.request({ msgtype: 'request', operation: 'create_session', sessionid })).result_cd
    ).toBe(409)
  })

  it('with reconnectGraceMs 0 a lost connection ends its sessions at once (PROTOCOL.md as written)', async () => {
    await start({ limits: { reconnectGraceMs: 0 } })
    const { device, web, sessionid } = await pair()
    await cut(device)
    expect(await web.next((f) => f.operation === 'destroy_session', 2000, 0)).toMatchObject({ sessionid })
  })

  it('shutdown ends sessions with away members and leaves nothing behind', async () => {
    await start()
    const { web, device } = await pair()
    await cut(web)
    await server.close()
    expect(await device.closed()).toBe(1001)
  })
})
