/**
 * The bytes held for all away members together (graceBufferTotalBytes) go back to nothing when
 * the places they were held for are gone, however they went: otherwise every later grace would
 * find the total used up and end on its first held frame.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { ChannelServer } from '../../src/main/channel/server'
import { RawClient } from '../helpers/raw-client'

let server: ChannelServer
let url: string
const open: RawClient[] = []

async function authed(uuid: string): Promise<RawClient> {
  const c = await RawClient.authed(url, uuid)
  open.push(c)
  return c
}

/** Drops the TCP connection without a close frame, as a cable pull or crash would. */
async function cut(c: RawClient): Promise<void> {
  const before = server.stats().connections
  c.ws.terminate()
  await vi.waitFor(() => expect(server.stats().connections).toBe(before - 1))
}

const pad = (n: number): string => 'x'.repeat(n)

afterEach(async () => {
  for (const c of open.splice(0)) c.close()
  await server.close()
  expect(server.stats()).toMatchObject({ sessions: 0, awaySlots: 0, heldBytes: 0 })
})

describe('the total held for away members', () => {
  it("is given back when a device's grace ends while a frame is held for a web client away too", async () => {
    // One frame of about 600 bytes fits the total; two do not.
    server = new ChannelServer({
      host: '127.0.0.1',
      limits: { maxJoinersPerSession: 2, graceBufferFrames: 2, graceBufferTotalBytes: 1_000 }
    })
    url = await server.listen()

    const device = await authed('K1')
    const web1 = await authed('W1')
    const web2 = await authed('W2')
    const { sessionid } = await device.request({ msgtype: 'request', operation: 'create_session' })
    for (const web of [web1, web2])
      expect(
        (await web.request({ msgtype: 'request', operation: 'join_session', sessionid })).result_cd
      ).toBe(200)

    await cut(device)
    web2.send({ msgtype: 'data', sessionid, data: { n: 1 } })
    await web1.next((f) => f.msgtype === 'data', 5000, 0)
    await cut(web1)
    // The device's share is full at the third frame: its grace ends, and with it the session,
    // while that frame is being held for the web client away as well.
    web2.send({ msgtype: 'data', sessionid, data: { n: 2 } })
    web2.send({ msgtype: 'data', sessionid, data: { n: 3, pad: pad(550) } })
    await web2.next((f) => f.operation === 'destroy_session', 5000, 0)
    expect(server.stats()).toMatchObject({ sessions: 0, awaySlots: 0, heldBytes: 0 })

    // An unrelated session later: its away web client still has a frame of that size held.
    const device2 = await authed('K2')
    const web3 = await authed('W3')
    const second = await device2.request({ msgtype: 'request', operation: 'create_session' })
    await web3.request({ msgtype: 'request', operation: 'join_session', sessionid: second.sessionid })
    await device2.next((f) => f.operation === 'join_session', 5000, 0)
    await cut(web3)
    device2.send({ msgtype: 'data', sessionid: second.sessionid, data: { n: 4, pad: pad(550) } })

    const back = await authed('W3')
    const reply = await back.request({
      msgtype: 'request',
      operation: 'join_session',
      sessionid: second.sessionid
    })
    expect(reply).toMatchObject({ result_cd: 200, resumed: true })
    const held = await back.next((f) => f.msgtype === 'data', 5000, 0)
    expect((held.data as { n: number }).n).toBe(4)
    expect(device2.frames.filter((f) => f.operation === 'leave_session')).toEqual([])
  })
})
