/**
 * One suite, both shapes of the channel service: one process in memory, and two processes on one
 * Redis with the device on A and the web client on B. The same frames, the same answers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Json, RawClient, settle } from '../helpers/raw-client'
import { redisMissing } from '../helpers/redis-server'
import { type Topology, memoryTopology, redisTopology } from '../helpers/topology'

// 1000 frames each way go out at once: above the default 200 per second, which a client would
// keep to (and which has its own tests).
const LIMITS = { framesPerWindow: 5_000 }

const topologies: [string, () => Promise<Topology>][] = [
  ['memory (one process)', () => memoryTopology(LIMITS)],
  ['redis (two processes)', () => redisTopology(LIMITS)]
]
if (redisMissing !== null) console.warn(`SKIPPED "redis (two processes)": ${redisMissing}`)

let counter = 0
function unique(prefix: string): string {
  return `${prefix}-${process.pid}-${++counter}`
}

describe.each(topologies)('%s', (name, make) => {
  let top: Topology
  const open: RawClient[] = []
  const skip = name.startsWith('redis') && redisMissing !== null

  beforeAll(async () => {
    if (!skip) top = await make()
  }, 30_000)
  afterAll(async () => {
    for (const c of open.splice(0)) c.close()
    if (!skip) await top.stop()
  }, 30_000)

  async function authed(url: string, uuid: string): Promise<RawClient> {
    const c = await RawClient.authed(url, uuid)
    open.push(c)
    return c
  }

  async function pair(uuids: { device: string; web: string }, sessionid?: string) {
    const device = await authed(top.deviceUrl, uuids.device)
    const created = await device.request({
      msgtype: 'request',
      operation: 'create_session',
      channeltype: 'webrtcaudio',
      ...(sessionid ? { sessionid } : {})
    })
    expect(created).toMatchObject({ result_cd: 200 })
    const sid = created.sessionid as string
    const web = await authed(top.webUrl, uuids.web)
    const joined = await web.request({ msgtype: 'request', operation: 'join_session', sessionid: sid })
    expect(joined).toMatchObject({ result_cd: 200 })
    expect(await device.next((f) => f.operation === 'join_session', 5000, 0)).toEqual({
      msgtype: 'notify',
      operation: 'join_session',
      sessionid: sid,
      channeltype: 'webrtcaudio'
    })
    return { device, web, sid, created, joined }
  }

  it.skipIf(skip)('auth, create, join with its notify, data both ways, destroy with its notify', async () => {
    const { device, web, sid } = await pair({ device: unique('K'), web: unique('W') })
    const offer = {
      msgtype: 'data',
      channeltype: 'webrtcaudio',
      sessionid: sid,
      data: { type: 'offer', sdp: 'v=0' }
    }
    device.send(offer)
    expect(await web.next((f) => f.msgtype === 'data')).toEqual(offer)
    const answer = { msgtype: 'data', sessionid: sid, data: { type: 'answer', sdp: 'v=0' } }
    web.send(answer)
    expect(await device.next((f) => f.msgtype === 'data')).toEqual(answer)
    const destroyed = await web.request({ msgtype: 'request', operation: 'destroy_session', sessionid: sid })
    expect(destroyed).toMatchObject({ result_cd: 200, result_msg: 'Success' })
    expect(await device.next((f) => f.operation === 'destroy_session', 5000, 0)).toEqual({
      msgtype: 'notify',
      operation: 'destroy_session',
      sessionid: sid,
      channeltype: 'webrtcaudio'
    })
    // The session is gone for everyone.
    expect(
      (await device.request({ msgtype: 'request', operation: 'join_session', sessionid: sid })).result_cd
    ).toBe(404)
  })

  it.skipIf(skip)("KT's flow: the ContainerId as both uuids and as the session id", async () => {
    const containerId = unique('K0000000')
    const { device, web, sid } = await pair({ device: containerId, web: containerId }, containerId)
    expect(sid).toBe(containerId)
    device.send({ msgtype: 'data', sessionid: sid, data: { type: 'offer', sdp: 'to the web client' } })
    expect((await web.next((f) => f.msgtype === 'data')).data).toEqual({
      type: 'offer',
      sdp: 'to the web client'
    })
    web.send({ msgtype: 'data', sessionid: sid, data: { type: 'answer', sdp: 'to the device' } })
    expect((await device.next((f) => f.msgtype === 'data')).data).toEqual({
      type: 'answer',
      sdp: 'to the device'
    })
    // A second live connection with the same uuid displaces nobody.
    const claimant = await authed(top.webUrl, containerId)
    expect(
      (await claimant.request({ msgtype: 'request', operation: 'create_session', sessionid: sid })).result_cd
    ).toBe(409)
    expect(
      (await claimant.request({ msgtype: 'request', operation: 'join_session', sessionid: sid })).result_cd
    ).toBe(409)
    web.send({ msgtype: 'data', sessionid: sid, data: { n: 2 } })
    expect((await device.next((f) => f.msgtype === 'data' && (f.data as Json).n === 2)).data).toEqual({
      n: 2
    })
  })

  it.skipIf(skip)(
    'grace and resume: each side lost without a close frame comes back to its place',
    async () => {
      const deviceUuid = unique('K')
      const webUuid = unique('W')
      const { device, web, sid } = await pair({ device: deviceUuid, web: webUuid })
      const sessionNotifies = (c: RawClient): unknown[] =>
        c.frames.filter(
          (f) => f.msgtype === 'notify' && f.operation !== 'iam' && f.operation !== 'join_session'
        )

      // The web client is cut; what the device sends meanwhile is held and comes first on return.
      web.ws.terminate()
      await settle(500)
      device.send({ msgtype: 'data', sessionid: sid, data: { held: 'for the web client' } })
      await settle(200)
      const webBack = await authed(top.webUrl, webUuid)
      const rejoined = await webBack.request({
        msgtype: 'request',
        operation: 'join_session',
        sessionid: sid
      })
      expect(rejoined).toMatchObject({ result_cd: 200, resumed: true })
      expect(webBack.frames.find((f) => f.msgtype === 'data')?.data).toEqual({ held: 'for the web client' })

      // The device is cut, and comes back through the other process (any process will do).
      device.ws.terminate()
      await settle(500)
      webBack.send({ msgtype: 'data', sessionid: sid, data: { held: 'for the device' } })
      await settle(200)
      const deviceBack = await authed(top.webUrl, deviceUuid)
      const recreated = await deviceBack.request({
        msgtype: 'request',
        operation: 'create_session',
        sessionid: sid
      })
      expect(recreated).toMatchObject({ result_cd: 200, resumed: true, sessionid: sid })
      expect(deviceBack.frames.find((f) => f.msgtype === 'data')?.data).toEqual({ held: 'for the device' })
      deviceBack.send({ msgtype: 'data', sessionid: sid, data: { again: true } })
      expect(
        (await webBack.next((f) => f.msgtype === 'data' && (f.data as Json).again === true)).data
      ).toEqual({
        again: true
      })
      // Nobody was told anything: for them nothing changed.
      await settle(200)
      expect(sessionNotifies(webBack)).toEqual([])
      expect(sessionNotifies(deviceBack)).toEqual([])
    }
  )

  it.skipIf(skip)(
    '1000 numbered frames each way: all delivered, in order, once',
    async () => {
      const { device, web, sid } = await pair({ device: unique('K'), web: unique('W') })
      for (let n = 1; n <= 1000; n++) {
        device.send({ msgtype: 'data', sessionid: sid, data: { from: 'device', n } })
        web.send({ msgtype: 'data', sessionid: sid, data: { from: 'web', n } })
      }
      const numbers = (c: RawClient, from: string): number[] =>
        c.frames
          .filter((f) => f.msgtype === 'data' && (f.data as Json).from === from)
          .map((f) => (f.data as Json).n as number)
      await expect.poll(() => numbers(web, 'device').length, { timeout: 20_000 }).toBe(1000)
      await expect.poll(() => numbers(device, 'web').length, { timeout: 20_000 }).toBe(1000)
      await settle(300)
      const expected = Array.from({ length: 1000 }, (_, i) => i + 1)
      expect(numbers(web, 'device')).toEqual(expected)
      expect(numbers(device, 'web')).toEqual(expected)
      expect(web.frames.some((f) => f.msgtype === 'reply' && f.result_cd !== 200)).toBe(false)
    },
    30_000
  )

  it.skipIf(skip)('a data frame before auth is answered 401, with or without a session id', async () => {
    const { sid } = await pair({ device: unique('K'), web: unique('W') })
    for (const url of [top.deviceUrl, top.webUrl]) {
      const stranger = await RawClient.open(url, 'ws-channel-v1')
      open.push(stranger)
      for (const frame of [
        { msgtype: 'data', sessionid: sid, data: { n: 1 } },
        { msgtype: 'data', data: { n: 2 } }
      ]) {
        expect(await stranger.sendAndReply(frame)).toMatchObject({
          msgtype: 'reply',
          result_cd: 401,
          result_msg: 'not authenticated: send auth first'
        })
      }
    }
  })
})
