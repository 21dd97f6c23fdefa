/**
 * KT's own flow: the speaker and the web client that calls it authenticate with the same uuid,
 * the speaker's ContainerId ("Container ID는 웹 클라이언트에서 웹 소켓 인증 시 UUID로 사용됩니다").
 * Frames are written as the guide and the reference web client write them (trxid formats
 * `K0000000:…` and `FromWeb:<n>`, the `label`/`id` candidate shape, a destroy without uuid).
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { ChannelServer, type ChannelServerOptions } from '../../src/main/channel/server'
import { RawClient, type Json, settle } from '../helpers/raw-client'

const CONTAINER_ID = 'K0000000'

let server: ChannelServer
let url: string
const open: RawClient[] = []

async function start(options: ChannelServerOptions = {}): Promise<void> {
  server = new ChannelServer(options)
  url = await server.listen()
}

async function client(): Promise<RawClient> {
  const c = await RawClient.open(url, 'ws-channel-v1')
  open.push(c)
  return c
}

/** The reference clients' own auth: the ContainerId as uuid, no trxid needed. */
async function authAs(c: RawClient, uuid: string, trxid: string): Promise<Json> {
  c.send({ msgtype: 'request', operation: 'auth', uuid, channeltype: 'webrtcaudio', trxid })
  return c.next((f) => f.msgtype === 'reply' && f.operation === 'auth')
}

function reply(c: RawClient, trxid: string): Promise<Json> {
  return c.next((f) => f.msgtype === 'reply' && f.trxid === trxid, 5000, 0)
}

function notifies(c: RawClient): string[] {
  return c.frames
    .filter((f) => f.msgtype === 'notify' && f.operation !== 'iam')
    .map((f) => String(f.operation))
}

/** Device creates with usecontainerid (session id = ContainerId), web joins with the same uuid. */
async function ktPair(): Promise<{ device: RawClient; web: RawClient; created: Json; joined: Json }> {
  const device = await client()
  await authAs(device, CONTAINER_ID, 'K0000000:1501463079077:00001')
  device.send({
    msgtype: 'request',
    operation: 'create_session',
    channeltype: 'webrtcaudio',
    uuid: CONTAINER_ID,
    sessionid: CONTAINER_ID,
    trxid: 'K0000000:1501463079077:00002'
  })
  const created = await reply(device, 'K0000000:1501463079077:00002')
  const web = await client()
  expect(await authAs(web, CONTAINER_ID, 'FromWeb:1')).toMatchObject({ result_cd: 200 })
  web.send({
    msgtype: 'request',
    operation: 'join_session',
    channeltype: 'webrtcaudio',
    sessionid: CONTAINER_ID,
    uuid: CONTAINER_ID,
    trxid: 'FromWeb:2'
  })
  const joined = await reply(web, 'FromWeb:2')
  return { device, web, created, joined }
}

async function cut(c: RawClient): Promise<void> {
  const before = server.stats().connections
  c.ws.terminate()
  await vi.waitFor(() => expect(server.stats().connections).toBe(before - 1))
}

afterEach(async () => {
  for (const c of open.splice(0)) c.close()
  await server.close()
  expect(server.stats()).toMatchObject({ connections: 0, sessions: 0, awaySlots: 0, heldBytes: 0 })
})

describe('one uuid for the speaker and its web client', () => {
  it('create → join: the web client joins as a web client and the device is notified', async () => {
    await start()
    const { device, created, joined } = await ktPair()
    expect(created).toMatchObject({ result_cd: 200, result_msg: 'Success', sessionid: CONTAINER_ID })
    expect(joined).toMatchObject({ msgtype: 'reply', operation: 'join_session', result_cd: 200 })
    expect(joined.resumed).toBeUndefined()
    expect(await device.next((f) => f.operation === 'join_session', 5000, 0)).toEqual({
      msgtype: 'notify',
      operation: 'join_session',
      sessionid: CONTAINER_ID,
      channeltype: 'webrtcaudio'
    })
    expect(server.listSessions()).toMatchObject([
      { sessionid: CONTAINER_ID, ownerUuid: CONTAINER_ID, memberUuids: [CONTAINER_ID, CONTAINER_ID] }
    ])
  })

  it('offer, answer and candidates flow both ways, unchanged', async () => {
    await start()
    const { device, web } = await ktPair()
    const offer = {
      msgtype: 'data',
      channeltype: 'webrtcaudio',
      sessionid: CONTAINER_ID,
      data: { type: 'offer', sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n' }
    }
    device.send(offer)
    expect(await web.next((f) => f.msgtype === 'data')).toEqual(offer)
    const answer = { msgtype: 'data', sessionid: CONTAINER_ID, data: { type: 'answer', sdp: 'v=0\r\n' } }
    web.send(answer)
    expect(await device.next((f) => f.msgtype === 'data')).toEqual(answer)
    // The reference shape from the device, and the KT shape with top-level sdpMid/sdpMLineIndex from the web.
    const fromDevice = {
      msgtype: 'data',
      sessionid: CONTAINER_ID,
      data: {
        type: 'candidate',
        label: 0,
        id: '0',
        candidate: 'candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host'
      }
    }
    device.send(fromDevice)
    expect(await web.next((f) => f.msgtype === 'data' && (f.data as Json).type === 'candidate')).toEqual(
      fromDevice
    )
    const fromWeb = {
      msgtype: 'data',
      data: {
        type: 'candidate',
        candidate: 'candidate:2 1 udp 2122260223 127.0.0.1 50001 typ host',
        sdpMid: '0',
        sdpMLineIndex: 0
      }
    }
    web.send(fromWeb) // no sessionid: the sender's only session
    expect(await device.next((f) => f.msgtype === 'data' && (f.data as Json).type === 'candidate')).toEqual(
      fromWeb
    )
    // Nobody got its own frames back.
    expect(device.frames.filter((f) => f.msgtype === 'data')).toHaveLength(2)
    expect(web.frames.filter((f) => f.msgtype === 'data')).toHaveLength(2)
  })

  it('the web client destroys the session (no uuid in the request); the device is notified', async () => {
    await start()
    const { device, web } = await ktPair()
    web.send({
      msgtype: 'request',
      operation: 'destroy_session',
      channeltype: 'webrtcaudio',
      sessionid: CONTAINER_ID,
      trxid: 'FromWeb:3'
    })
    expect(await reply(web, 'FromWeb:3')).toMatchObject({ result_cd: 200, result_msg: 'Success' })
    expect(await device.next((f) => f.operation === 'destroy_session', 5000, 0)).toEqual({
      msgtype: 'notify',
      operation: 'destroy_session',
      sessionid: CONTAINER_ID,
      channeltype: 'webrtcaudio'
    })
    expect(server.sessionCount).toBe(0)
  })

  it('the device destroys the session; the web client is notified', async () => {
    await start()
    const { device, web } = await ktPair()
    device.send({
      msgtype: 'request',
      operation: 'destroy_session',
      channeltype: 'webrtcaudio',
      sessionid: CONTAINER_ID,
      uuid: CONTAINER_ID,
      trxid: 'K0000000:1501463079077:00003'
    })
    expect(await reply(device, 'K0000000:1501463079077:00003')).toMatchObject({ result_cd: 200 })
    expect(await web.next((f) => f.operation === 'destroy_session', 5000, 0)).toMatchObject({
      sessionid: CONTAINER_ID
    })
  })

  it('the web client reconnects within the grace: resumed as the web client, the device untouched', async () => {
    await start()
    const { device, web } = await ktPair()
    await cut(web)
    device.send({
      msgtype: 'data',
      sessionid: CONTAINER_ID,
      data: { type: 'offer', sdp: 'held for the web' }
    })
    await vi.waitFor(() => expect(server.stats().heldBytes).toBeGreaterThan(0))
    const back = await client()
    await authAs(back, CONTAINER_ID, 'FromWeb:1')
    back.send({ msgtype: 'request', operation: 'join_session', sessionid: CONTAINER_ID, trxid: 'FromWeb:2' })
    const rejoined = await reply(back, 'FromWeb:2')
    expect(rejoined).toMatchObject({ result_cd: 200, resumed: true })
    // What the device sent meanwhile comes first, then the reply.
    const order = back.frames.map((f) => (f.msgtype === 'data' ? 'data' : String(f.operation)))
    expect(order.slice(-2)).toEqual(['data', 'join_session'])
    back.send({ msgtype: 'data', sessionid: CONTAINER_ID, data: { type: 'answer', sdp: 'after' } })
    expect((await device.next((f) => f.msgtype === 'data')).data).toEqual({ type: 'answer', sdp: 'after' })
    await settle()
    expect(notifies(device)).toEqual(['join_session']) // no leave, no second join
    expect(server.listSessions()[0]).toMatchObject({ ownerUuid: CONTAINER_ID, awayUuids: [] })
  })

  it('the device reconnects within the grace: resumed as the device, the web client untouched', async () => {
    await start()
    const { device, web } = await ktPair()
    await cut(device)
    web.send({
      msgtype: 'data',
      sessionid: CONTAINER_ID,
      data: { type: 'answer', sdp: 'held for the device' }
    })
    await vi.waitFor(() => expect(server.stats().heldBytes).toBeGreaterThan(0))
    const back = await client()
    await authAs(back, CONTAINER_ID, 'K0000000:1501463079999:00001')
    back.send({
      msgtype: 'request',
      operation: 'create_session',
      channeltype: 'webrtcaudio',
      uuid: CONTAINER_ID,
      sessionid: CONTAINER_ID,
      trxid: 'K0000000:1501463079999:00002'
    })
    expect(await reply(back, 'K0000000:1501463079999:00002')).toMatchObject({
      result_cd: 200,
      sessionid: CONTAINER_ID,
      resumed: true
    })
    expect(back.frames.find((f) => f.msgtype === 'data')?.data).toEqual({
      type: 'answer',
      sdp: 'held for the device'
    })
    back.send({ msgtype: 'data', sessionid: CONTAINER_ID, data: { type: 'offer', sdp: 'again' } })
    expect((await web.next((f) => f.msgtype === 'data')).data).toEqual({ type: 'offer', sdp: 'again' })
    await settle()
    expect(notifies(web)).toEqual([])
    // It is the device again: its destroy ends the session for the web client.
    back.send({ msgtype: 'request', operation: 'destroy_session', sessionid: CONTAINER_ID, trxid: 'K:9' })
    expect(await web.next((f) => f.operation === 'destroy_session')).toMatchObject({
      sessionid: CONTAINER_ID
    })
  })

  it('a join with the ContainerId while the device is away never takes the device slot', async () => {
    await start({ limits: { maxJoinersPerSession: 2 } })
    const { device } = await ktPair()
    await cut(device)
    const another = await client()
    await authAs(another, CONTAINER_ID, 'FromWeb:1')
    another.send({
      msgtype: 'request',
      operation: 'join_session',
      sessionid: CONTAINER_ID,
      trxid: 'FromWeb:2'
    })
    const joined = await reply(another, 'FromWeb:2')
    expect(joined).toMatchObject({ result_cd: 200 })
    expect(joined.resumed).toBeUndefined()
    expect(server.listSessions()[0]?.awayUuids).toEqual([CONTAINER_ID]) // still the device's
    const back = await client()
    await authAs(back, CONTAINER_ID, 'K:1')
    back.send({ msgtype: 'request', operation: 'create_session', sessionid: CONTAINER_ID, trxid: 'K:2' })
    expect(await reply(back, 'K:2')).toMatchObject({ result_cd: 200, resumed: true })
  })

  it('a second live connection claiming the device place without its token does not displace it', async () => {
    await start()
    const { device, web, created } = await ktPair()
    const claimant = await client()
    await authAs(claimant, CONTAINER_ID, 'K:1')
    claimant.send({ msgtype: 'request', operation: 'create_session', sessionid: CONTAINER_ID, trxid: 'K:2' })
    const refused = await reply(claimant, 'K:2')
    expect(refused).toMatchObject({ result_cd: 409, operation: 'create_session' })
    expect(String(refused.result_msg)).toContain('resumetoken')
    // The device is still the device: data reaches it, and its destroy works.
    web.send({ msgtype: 'data', sessionid: CONTAINER_ID, data: { type: 'answer', sdp: 'still you' } })
    expect((await device.next((f) => f.msgtype === 'data')).data).toEqual({
      type: 'answer',
      sdp: 'still you'
    })
    // With the token of the device's place, a new connection does take it over.
    claimant.send({
      msgtype: 'request',
      operation: 'create_session',
      sessionid: CONTAINER_ID,
      resumetoken: created.resumetoken,
      trxid: 'K:3'
    })
    expect(await reply(claimant, 'K:3')).toMatchObject({ result_cd: 200, resumed: true })
    web.send({ msgtype: 'data', sessionid: CONTAINER_ID, data: { type: 'answer', sdp: 'new device' } })
    expect((await claimant.next((f) => f.msgtype === 'data')).data).toEqual({
      type: 'answer',
      sdp: 'new device'
    })
    expect(
      (await device.sendAndReply({ msgtype: 'data', sessionid: CONTAINER_ID, data: {} })).result_cd
    ).toBe(403)
  })

  it('a second live connection claiming the web place without its token does not displace it', async () => {
    await start()
    const { device, web } = await ktPair()
    const claimant = await client()
    await authAs(claimant, CONTAINER_ID, 'FromWeb:1')
    claimant.send({
      msgtype: 'request',
      operation: 'join_session',
      sessionid: CONTAINER_ID,
      trxid: 'FromWeb:2'
    })
    expect(await reply(claimant, 'FromWeb:2')).toMatchObject({ result_cd: 409 }) // full: one web client
    device.send({ msgtype: 'data', sessionid: CONTAINER_ID, data: { type: 'offer', sdp: 'to the first' } })
    expect((await web.next((f) => f.msgtype === 'data')).data).toEqual({ type: 'offer', sdp: 'to the first' })
  })

  it('a web client that reloads its page (clean close) leaves, and its new page joins again', async () => {
    await start()
    const { device, web } = await ktPair()
    web.close()
    expect(await device.next((f) => f.operation === 'leave_session', 5000, 0)).toMatchObject({
      sessionid: CONTAINER_ID
    })
    const reloaded = await client()
    await authAs(reloaded, CONTAINER_ID, 'FromWeb:1')
    reloaded.send({
      msgtype: 'request',
      operation: 'join_session',
      sessionid: CONTAINER_ID,
      trxid: 'FromWeb:2'
    })
    expect(await reply(reloaded, 'FromWeb:2')).toMatchObject({ result_cd: 200 })
    await device.next((f) => f.operation === 'join_session', 5000, device.frames.length - 1)
    expect(notifies(device)).toEqual(['join_session', 'leave_session', 'join_session'])
  })

  it('data payloads of any JSON type are relayed unchanged', async () => {
    await start()
    const { device, web } = await ktPair()
    for (const data of ['a string', 42, true, null, [1, { two: 2 }]]) {
      const text = JSON.stringify({ msgtype: 'data', sessionid: CONTAINER_ID, data })
      device.send(text)
      const got = await web.next((f) => f.msgtype === 'data', 5000, web.frames.length)
      expect(got.data).toEqual(data)
    }
  })
})
