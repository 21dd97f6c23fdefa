/**
 * Hand-built WebSocket frames over node:net: each protocol violation closes that connection
 * with the code RFC 6455 (and ws) gives it, its session place ends at once (a misbehaving peer
 * gets no grace period), and other sessions keep relaying.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { CloseCode } from '../../src/main/channel/limits'
import { ChannelServer } from '../../src/main/channel/server'
import { RawClient } from '../helpers/raw-client'
import { Opcode, RawSocket, type FrameOptions } from '../helpers/raw-socket'

let server: ChannelServer
let url: string
const open: { close(): void }[] = []

beforeEach(async () => {
  server = new ChannelServer()
  url = await server.listen()
})

afterEach(async () => {
  for (const c of open.splice(0)) c.close()
  await server.close()
})

/** A device and web client in a session, to show that they are untouched. */
async function bystanders(): Promise<{ device: RawClient; web: RawClient; sessionid: string }> {
  const device = await RawClient.authed(url, 'K-bystander')
  const web = await RawClient.authed(url, 'W-bystander')
  open.push(device, web)
  const { sessionid } = await device.request({ msgtype: 'request', operation: 'create_session' })
  await web.request({ msgtype: 'request', operation: 'join_session', sessionid })
  return { device, web, sessionid: sessionid as string }
}

const cases: [string, () => FrameOptions[], number][] = [
  [
    'invalid UTF-8 in a text frame',
    () => [{ opcode: Opcode.TEXT, payload: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]) }],
    1007
  ],
  [
    'reserved bit RSV1 set without an extension',
    () => [{ opcode: Opcode.TEXT, payload: '{}', rsv: 4 }],
    1002
  ],
  ['reserved bits RSV2 and RSV3 set', () => [{ opcode: Opcode.TEXT, payload: '{}', rsv: 3 }], 1002],
  ['an unmasked client frame', () => [{ opcode: Opcode.TEXT, payload: '{}', mask: false }], 1002],
  ['a control frame over 125 bytes', () => [{ opcode: Opcode.PING, payload: Buffer.alloc(126) }], 1002],
  ['a fragmented control frame', () => [{ opcode: Opcode.PING, payload: 'x', fin: false }], 1002],
  ['an unknown opcode', () => [{ opcode: 3, payload: 'x' }], 1002],
  ['a continuation with no message to continue', () => [{ opcode: Opcode.CONT, payload: 'x' }], 1002],
  [
    'a message over maxPayloadBytes in one frame',
    () => [{ opcode: Opcode.TEXT, payload: Buffer.alloc(server.limits.maxPayloadBytes + 1, 0x20) }],
    1009
  ],
  [
    'a message over maxPayloadBytes in fragments',
    () => {
      const half = Buffer.alloc(Math.ceil(server.limits.maxPayloadBytes / 2) + 1, 0x20)
      return [
        { opcode: Opcode.TEXT, payload: half, fin: false },
        { opcode: Opcode.CONT, payload: half, fin: true }
      ]
    },
    1009
  ]
]

describe('raw frames: the right close code, others untouched', () => {
  for (const [name, build, code] of cases) {
    it(`${name} → ${code}`, async () => {
      const { device, web, sessionid } = await bystanders()
      // The offender is itself a member of a session, with a device that must be told at once.
      const owner = await RawClient.authed(url, 'K-offended')
      open.push(owner)
      const own = await owner.request({ msgtype: 'request', operation: 'create_session' })
      const bad = await RawSocket.authed(server.listeningPort, 'W-offender')
      open.push({ close: () => bad.destroy() })
      expect(
        (await bad.request({ msgtype: 'request', operation: 'join_session', sessionid: own.sessionid }))
          .result_cd
      ).toBe(200)
      await owner.next((f) => f.operation === 'join_session', 5000, 0)

      for (const frame of build()) bad.write(frame)
      expect(await bad.closed()).toBe(code)
      // A protocol violation is not a network blip: the place is given up and the device told.
      expect(await owner.next((f) => f.operation === 'leave_session', 5000, 0)).toMatchObject({
        sessionid: own.sessionid
      })
      expect(server.listSessions().find((s) => s.sessionid === own.sessionid)?.awayUuids).toEqual([])

      device.send({ msgtype: 'data', sessionid, data: { still: 'relaying' } })
      expect((await web.next((f) => f.msgtype === 'data')).data).toEqual({ still: 'relaying' })
      expect(web.isOpen && device.isOpen).toBe(true)
    })
  }

  it('a close frame from the client is answered with the same code and ends its place at once', async () => {
    const owner = await RawClient.authed(url, 'K1')
    open.push(owner)
    const { sessionid } = await owner.request({ msgtype: 'request', operation: 'create_session' })
    const web = await RawSocket.authed(server.listeningPort, 'W1')
    open.push({ close: () => web.destroy() })
    await web.request({ msgtype: 'request', operation: 'join_session', sessionid })
    const payload = Buffer.alloc(2)
    payload.writeUInt16BE(CloseCode.NORMAL)
    web.write({ opcode: Opcode.CLOSE, payload })
    expect(await web.closed()).toBe(CloseCode.NORMAL)
    expect(await owner.next((f) => f.operation === 'leave_session', 5000, 0)).toMatchObject({ sessionid })
  })
})
