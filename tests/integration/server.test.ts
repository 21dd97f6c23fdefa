import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { ChannelServer } from '../../src/main/channel/server'
import { CloseCode } from '../../src/main/channel/limits'
import { RawClient, settle } from '../helpers/raw-client'

let server: ChannelServer
let url: string
const open: RawClient[] = []

async function authed(uuid: string): Promise<RawClient> {
  const c = await RawClient.authed(url, uuid)
  open.push(c)
  return c
}

async function createAndJoin(): Promise<{ device: RawClient; web: RawClient; sessionid: string }> {
  const device = await authed('K0000001')
  const web = await authed('web-1')
  const created = await device.request({
    msgtype: 'request',
    operation: 'create_session',
    channeltype: 'webrtcaudio',
    uuid: 'K0000001'
  })
  const sessionid = created.sessionid as string
  await web.request({
    msgtype: 'request',
    operation: 'join_session',
    channeltype: 'webrtcaudio',
    sessionid,
    uuid: 'web-1'
  })
  await device.next((f) => f.msgtype === 'notify' && f.operation === 'join_session')
  return { device, web, sessionid }
}

beforeEach(async () => {
  server = new ChannelServer({ limits: { framesPerWindow: 50, badFrameAllowance: 5 } })
  url = await server.listen()
})

afterEach(async () => {
  for (const c of open.splice(0)) c.close()
  await server.close()
})

describe('connect and authenticate', () => {
  it('sends iam first, then authorizes', async () => {
    const c = await RawClient.open(url, 'ws-channel-v1')
    open.push(c)
    expect(c.frames[0]).toEqual({ msgtype: 'notify', operation: 'iam', channeltype: 'system' })
    expect(c.ws.protocol).toBe('ws-channel-v1')
    c.send({ msgtype: 'request', operation: 'auth', uuid: 'K1', channeltype: 'webrtcaudio' })
    const reply = await c.next((f) => f.msgtype === 'reply')
    expect(reply).toEqual({
      msgtype: 'reply',
      operation: 'auth',
      channeltype: 'system',
      result_cd: 200,
      result_msg: 'authorized'
    })
  })

  it('accepts a client that offers no sub-protocol', async () => {
    const c = await RawClient.open(url)
    open.push(c)
    expect(c.ws.protocol).toBe('')
    expect((await c.request({ msgtype: 'request', operation: 'auth', uuid: 'x' })).result_cd).toBe(200)
  })

  it('answers 401 to anything before auth and keeps the connection', async () => {
    const c = await RawClient.open(url)
    open.push(c)
    const r = await c.request({ msgtype: 'request', operation: 'create_session' })
    expect(r.result_cd).toBe(401)
    expect(r.operation).toBe('create_session')
    expect((await c.sendAndReply({ msgtype: 'data', sessionid: 'x', data: {} })).result_cd).toBe(401)
    expect(c.isOpen).toBe(true)
  })

  it('answers 400 naming uuid when auth has none', async () => {
    const c = await RawClient.open(url)
    open.push(c)
    const r = await c.request({ msgtype: 'request', operation: 'auth' })
    expect(r).toMatchObject({ result_cd: 400 })
    expect(r.result_msg).toContain('uuid')
  })
})

describe('sessions and relay', () => {
  it('create → join → data both ways → destroy, exactly as specified', async () => {
    const device = await authed('K0000001')
    const web = await authed('web-1')
    const bystander = await authed('someone-else')
    const created = await device.request({
      msgtype: 'request',
      operation: 'create_session',
      channeltype: 'webrtcaudio',
      uuid: 'K0000001'
    })
    expect(created).toMatchObject({
      msgtype: 'reply',
      operation: 'create_session',
      result_cd: 200,
      result_msg: 'Success'
    })
    const sessionid = created.sessionid as string
    expect(sessionid).toMatch(/^[A-Za-z0-9_-]{22,}$/) // ≥128 bits, URL-safe

    const joined = await web.request({
      msgtype: 'request',
      operation: 'join_session',
      channeltype: 'webrtcaudio',
      sessionid,
      uuid: 'web-1'
    })
    expect(joined).toEqual({
      msgtype: 'reply',
      operation: 'join_session',
      result_cd: 200,
      result_msg: 'Success',
      trxid: joined.trxid,
      resumetoken: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/) // ours: an extra key, ignored by others
    })
    const notify = await device.next((f) => f.msgtype === 'notify' && f.operation === 'join_session')
    expect(notify).toEqual({
      msgtype: 'notify',
      operation: 'join_session',
      sessionid,
      channeltype: 'webrtcaudio'
    })

    const offer = {
      msgtype: 'data',
      channeltype: 'webrtcaudio',
      sessionid,
      data: { type: 'offer', sdp: 'v=0 offer' }
    }
    device.send(offer)
    expect(await web.next((f) => f.msgtype === 'data')).toEqual(offer)
    // channeltype and sessionid may be omitted: the sender's only session is meant.
    web.send({ msgtype: 'data', data: { type: 'answer', sdp: 'v=0 answer' } })
    expect(await device.next((f) => f.msgtype === 'data')).toEqual({
      msgtype: 'data',
      data: { type: 'answer', sdp: 'v=0 answer' }
    })
    await settle()
    expect(device.frames.filter((f) => f.msgtype === 'data')).toHaveLength(1) // not echoed to the sender
    expect(web.frames.filter((f) => f.msgtype === 'data')).toHaveLength(1)
    expect(
      bystander.frames.filter(
        (f) => f.msgtype === 'data' || (f.msgtype === 'notify' && f.operation !== 'iam')
      )
    ).toEqual([])

    // A web client's destroy without uuid is valid after auth.
    const destroyed = await web.request({ msgtype: 'request', operation: 'destroy_session', sessionid })
    expect(destroyed).toMatchObject({
      msgtype: 'reply',
      operation: 'destroy_session',
      result_cd: 200,
      result_msg: 'Success'
    })
    expect(await device.next((f) => f.operation === 'destroy_session')).toEqual({
      msgtype: 'notify',
      operation: 'destroy_session',
      sessionid,
      channeltype: 'webrtcaudio'
    })
    expect(server.sessionCount).toBe(0)
  })

  it('lets a device choose its session id, and refuses it to another uuid with 409', async () => {
    const device = await authed('K1')
    const other = await authed('K2')
    const r = await device.request({ msgtype: 'request', operation: 'create_session', sessionid: 'K1' })
    expect(r).toMatchObject({ result_cd: 200, sessionid: 'K1' })
    expect(
      (await other.request({ msgtype: 'request', operation: 'create_session', sessionid: 'K1' })).result_cd
    ).toBe(409)
  })

  it('a reply without trxid when the request had none', async () => {
    const device = await authed('K1')
    const r = await device.sendAndReply({ msgtype: 'request', operation: 'create_session' })
    expect(r.result_cd).toBe(200)
    expect('trxid' in r).toBe(false)
  })

  it('join of an unknown session is 404; a second web client is 409', async () => {
    const { sessionid } = await createAndJoin()
    const late = await authed('web-2')
    expect(
      (await late.request({ msgtype: 'request', operation: 'join_session', sessionid: 'nope' })).result_cd
    ).toBe(404)
    expect((await late.request({ msgtype: 'request', operation: 'join_session', sessionid })).result_cd).toBe(
      409
    )
  })

  it('data to a session you are not in gets 403 and is forwarded to nobody', async () => {
    const { device, web, sessionid } = await createAndJoin()
    const outsider = await authed('intruder')
    const r = await outsider.sendAndReply({
      msgtype: 'data',
      sessionid,
      data: { type: 'offer', sdp: 'evil' }
    })
    expect(r).toMatchObject({ msgtype: 'reply', result_cd: 403, sessionid })
    await settle()
    expect(device.frames.some((f) => f.msgtype === 'data')).toBe(false)
    expect(web.frames.some((f) => f.msgtype === 'data')).toBe(false)
  })

  it('destroy by a non-member is 403 and the session survives', async () => {
    const { device, web, sessionid } = await createAndJoin()
    const outsider = await authed('intruder')
    // A uuid naming the owner grants nothing: the authenticated identity counts.
    const r = await outsider.request({
      msgtype: 'request',
      operation: 'destroy_session',
      sessionid,
      uuid: 'K0000001'
    })
    expect(r.result_cd).toBe(403)
    device.send({ msgtype: 'data', sessionid, data: { n: 1 } })
    expect((await web.next((f) => f.msgtype === 'data')).data).toEqual({ n: 1 })
  })

  it('tells the device when the web client leaves, and ends sessions when the device goes', async () => {
    const { device, web, sessionid } = await createAndJoin()
    web.close()
    expect(await device.next((f) => f.operation === 'leave_session')).toEqual({
      msgtype: 'notify',
      operation: 'leave_session',
      sessionid,
      channeltype: 'webrtcaudio'
    })
    const web2 = await authed('web-2')
    await web2.request({ msgtype: 'request', operation: 'join_session', sessionid })
    device.close()
    expect(await web2.next((f) => f.operation === 'destroy_session')).toMatchObject({
      msgtype: 'notify',
      sessionid
    })
    await settle()
    expect(server.sessionCount).toBe(0)
  })

  it('echoes ras_alive', async () => {
    const c = await authed('K1')
    c.send({ msgtype: 'notify', operation: 'ras_alive', channeltype: 'system' })
    expect(await c.next((f) => f.operation === 'ras_alive')).toEqual({
      msgtype: 'notify',
      operation: 'ras_alive',
      channeltype: 'system'
    })
  })

  it('graceful shutdown notifies members', async () => {
    const { web, sessionid } = await createAndJoin()
    const closing = server.close()
    expect(await web.next((f) => f.operation === 'destroy_session')).toMatchObject({ sessionid })
    await closing
    expect(await web.closed()).toBe(CloseCode.GOING_AWAY)
    server = new ChannelServer()
    await server.listen()
  })
})

describe('bad input: the documented result_cd, the connection kept, others untouched', () => {
  it('answers each kind of bad frame', async () => {
    const { device, web, sessionid } = await createAndJoin()
    const c = await authed('troublemaker')
    const cases: [string, number, string?][] = [
      ['not json at all', 400],
      ['[1,2,3]', 400],
      ['42', 400],
      ['{"operation":"auth"}', 400, 'msgtype'],
      ['{"msgtype":"request","operation":"teleport"}', 501],
      ['{"msgtype":"request","operation":"set_input_history"}', 501],
      ['{"msgtype":"request","operation":"join_session"}', 400, 'sessionid']
    ]
    for (const [frame, code, field] of cases) {
      const reply = await c.sendAndReply(frame)
      expect(reply.result_cd, String(frame)).toBe(code)
      if (field) expect(reply.result_msg).toContain(field)
    }
    c.ws.send(Buffer.from([1, 2, 3]), { binary: true })
    expect(
      (await c.next((f) => f.msgtype === 'reply' && String(f.result_msg).includes('binary'))).result_cd
    ).toBe(400)
    expect(c.isOpen).toBe(true)
    device.send({ msgtype: 'data', sessionid, data: { still: 'works' } })
    expect((await web.next((f) => f.msgtype === 'data')).data).toEqual({ still: 'works' })
  })

  it('413 for a frame over the size limit, connection kept', async () => {
    const c = await authed('big')
    const huge = JSON.stringify({
      msgtype: 'data',
      sessionid: 'x',
      data: { blob: 'x'.repeat(server.limits.maxFrameBytes) }
    })
    expect((await c.sendAndReply(huge)).result_cd).toBe(413)
    expect((await c.request({ msgtype: 'request', operation: 'create_session' })).result_cd).toBe(200)
  })

  it('closes (1009) a frame over the hard payload cap, without harm to others', async () => {
    const { device, web, sessionid } = await createAndJoin()
    const c = await authed('bigger')
    c.send('x'.repeat(server.limits.maxPayloadBytes + 1))
    expect(await c.closed()).toBe(1009)
    device.send({ msgtype: 'data', sessionid, data: { ok: 1 } })
    expect((await web.next((f) => f.msgtype === 'data')).data).toEqual({ ok: 1 })
  })

  it('429 for a flood over the rate limit, then the relay works again', async () => {
    const { device, web, sessionid } = await createAndJoin()
    for (let i = 0; i < 120; i++) device.send({ msgtype: 'data', sessionid, data: { i } })
    const limited = await device.next((f) => f.result_cd === 429)
    expect(limited.result_msg).toMatch(/rate limited/)
    await settle(200)
    const got = web.frames.filter((f) => f.msgtype === 'data').length
    expect(got).toBeLessThanOrEqual(50)
    expect(got).toBeGreaterThan(0)
    expect(device.isOpen).toBe(true)
    // After the window the same connection relays again.
    await new Promise((r) => setTimeout(r, server.limits.sweepIntervalMs + 50))
    device.send({ msgtype: 'data', sessionid, data: { after: true } })
    expect((await web.next((f) => (f.data as { after?: boolean } | undefined)?.after === true)).msgtype).toBe(
      'data'
    )
  })

  it('closes a connection that keeps sending garbage beyond the allowance', async () => {
    const c = await authed('garbage')
    for (let i = 0; i <= server.limits.badFrameAllowance; i++) c.send('garbage')
    expect(await c.closed()).toBe(CloseCode.BAD_FRAMES)
  })

  it("takes any path by default, as KT's own examples use several", async () => {
    const port = new URL(url).port
    const c = await RawClient.authed(`ws://127.0.0.1:${port}/channel/7`, 'numbered-path')
    c.close()
  })

  it('refuses other paths at upgrade when paths are restricted', async () => {
    const restricted = new ChannelServer({ paths: ['/channel'] })
    const restrictedUrl = await restricted.listen()
    const port = new URL(restrictedUrl).port
    const ws = new WebSocket(`ws://127.0.0.1:${port}/elsewhere`)
    const status = await new Promise<number>((resolve) => {
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
      ws.on('error', () => resolve(-1))
    })
    expect(status).toBe(404)
    await restricted.close()
  })
})
