/**
 * Data frames over real sockets, through the relay's fast path (data-envelope.ts) and its
 * fall-backs: what is relayed arrives byte for byte, only the top-level sessionid decides where
 * it goes, and every frame the fast path leaves alone gets exactly the full parser's answer.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ChannelServer, type TapEvent } from '../../src/main/channel/server'
import { RawClient, settle } from '../helpers/raw-client'

let server: ChannelServer
let url: string
const open: RawClient[] = []

afterEach(async () => {
  for (const c of open.splice(0)) c.close()
  await server.close()
})

async function start(tap?: (event: TapEvent) => void): Promise<void> {
  server = new ChannelServer(tap ? { tap } : {})
  url = await server.listen()
}

/** The texts a client received, exactly as they came off the socket. */
function rawTexts(client: RawClient): string[] {
  const texts: string[] = []
  client.ws.on('message', (data) => texts.push(data.toString()))
  return texts
}

async function authed(uuid: string): Promise<RawClient> {
  const c = await RawClient.authed(url, uuid)
  open.push(c)
  return c
}

/** A device with a session and a web client in it. */
async function pair(tag: string): Promise<{ device: RawClient; web: RawClient; sessionid: string }> {
  const device = await authed(`K-${tag}`)
  const web = await authed(`W-${tag}`)
  const created = await device.request({ msgtype: 'request', operation: 'create_session' })
  const sessionid = created.sessionid as string
  await web.request({ msgtype: 'request', operation: 'join_session', sessionid })
  await device.next((f) => f.operation === 'join_session' && f.msgtype === 'notify')
  return { device, web, sessionid }
}

/** Sends raw text and resolves with the frame the peer gets, as text. */
async function relayed(from: RawClient, to: RawClient, text: string): Promise<string> {
  const texts = rawTexts(to)
  const count = to.frames.length
  from.send(text)
  await to.next((f) => f.msgtype === 'data', 5000, count)
  return texts[0]!
}

describe('data frames through the fast path', () => {
  beforeEach(() => start())

  it('arrive byte for byte: key order, whitespace, escapes and non-ASCII text kept', async () => {
    const { device, web, sessionid } = await pair('bytes')
    const texts = [
      `{"msgtype":"data","channeltype":"webrtcaudio","sessionid":"${sessionid}","data":{"type":"offer","sdp":"v=0\\r\\no=- 1 2 IN IP4 127.0.0.1\\r\\n"}}`,
      ` {\n  "data" : { "k" : [ 1 , -2.5e3 , true , null , { } ] , "t" : "한국어 \\u00e9" } ,\t"sessionid" : "${sessionid}" , "msgtype" : "data"\r\n}`,
      '{"msgtype":"data","data":{"no":"sessionid: the only session is meant"}}'
    ]
    for (const text of texts) expect(await relayed(device, web, text)).toBe(text)
    for (const text of texts) expect(await relayed(web, device, text)).toBe(text)
  })

  it('go by the top-level sessionid only, not one in the payload or inside a string', async () => {
    const a = await pair('a')
    const b = await pair('b')
    const nested = `{"msgtype":"data","data":{"sessionid":"${b.sessionid}","note":"\\"sessionid\\":\\"${b.sessionid}\\""}}`
    expect(await relayed(a.device, a.web, nested)).toBe(nested)
    const bTexts = rawTexts(b.web)

    // Named top level: a session the sender is not in is refused, whatever the payload says.
    const foreign = `{"msgtype":"data","trxid":"t-1","sessionid":"${b.sessionid}","data":{"sessionid":"${a.sessionid}"}}`
    const refusal = await a.device.sendAndReply(foreign)
    expect(refusal).toEqual({
      msgtype: 'reply',
      result_cd: 403,
      result_msg: `not a member of session "${b.sessionid}"; nothing was forwarded`,
      sessionid: b.sessionid,
      trxid: 't-1'
    })
    await settle()
    expect(bTexts).toEqual([])
  })

  it('with ids the fast path does not read itself (escaped, numeric, repeated) get the parser’s answer', async () => {
    const { device, web, sessionid } = await pair('parsed')
    // An escaped character in the id: the parser reads it, and it is this session.
    const code = sessionid.charCodeAt(0).toString(16).padStart(4, '0')
    const escaped = `{"msgtype":"data","sessionid":"\\u${code}${sessionid.slice(1)}","data":{"n":1}}`
    expect(await relayed(device, web, escaped)).toBe(escaped)
    // Repeated: JSON.parse keeps the last one.
    const lastWins = `{"msgtype":"data","sessionid":"${sessionid}","sessionid":"elsewhere","data":{}}`
    expect(await device.sendAndReply(lastWins)).toMatchObject({ result_cd: 403, sessionid: 'elsewhere' })
    const lastIsOurs = `{"msgtype":"data","sessionid":"elsewhere","sessionid":"${sessionid}","data":{}}`
    expect(await relayed(device, web, lastIsOurs)).toBe(lastIsOurs)
    // Numeric: read as a string.
    expect(await device.sendAndReply('{"msgtype":"data","sessionid":42,"data":{}}')).toMatchObject({
      result_cd: 403,
      sessionid: '42'
    })
  })

  it('that JSON.parse refuses are answered 400 and never relayed', async () => {
    const { device, web, sessionid } = await pair('invalid')
    const webTexts = rawTexts(web)
    const invalid = [
      `{"msgtype":"data","sessionid":"${sessionid}","data":{"a":}}`,
      `{"msgtype":"data","sessionid":"${sessionid}","data":{"a":"raw\ttab"}}`,
      `{"msgtype":"data","sessionid":"${sessionid}","data":{"a":"\\x"}}`,
      `{"msgtype":"data","sessionid":"${sessionid}","data":{}} {}`
    ]
    for (const text of invalid) {
      expect(await device.sendAndReply(text)).toEqual({
        msgtype: 'reply',
        result_cd: 400,
        result_msg: 'frame is not valid JSON'
      })
    }
    expect(await device.sendAndReply(`{"msgtype":"data","sessionid":"${sessionid}"}`)).toMatchObject({
      result_cd: 400,
      result_msg: 'missing field "data"',
      sessionid
    })
    expect(
      await device.sendAndReply(`{"msgtype":"data","sessionid":"${sessionid}","trxid":true,"data":{}}`)
    ).toMatchObject({ result_cd: 400, result_msg: 'field "trxid" must be a string', sessionid })
    await settle()
    expect(webTexts).toEqual([])
  })

  it('from a client that is not authenticated or in no session are refused as before', async () => {
    const stranger = new RawClient(url, 'ws-channel-v1')
    open.push(stranger)
    await stranger.next((f) => f.operation === 'iam')
    expect(await stranger.sendAndReply('{"msgtype":"data","data":{}}')).toMatchObject({ result_cd: 401 })
    const loner = await authed('K-loner')
    expect(await loner.sendAndReply('{"msgtype":"data","trxid":"x","data":{}}')).toEqual({
      msgtype: 'reply',
      result_cd: 403,
      result_msg: 'not a member of any session; nothing was forwarded',
      trxid: 'x'
    })
  })
})

describe('data frames with a tap', () => {
  it('are seen by the tap as text, in and out, and relayed the same', async () => {
    const events: TapEvent[] = []
    await start((e) => events.push(e))
    const { device, web, sessionid } = await pair('tap')
    const text = `{"msgtype":"data","sessionid":"${sessionid}","data":{"type":"bye"}}`
    expect(await relayed(device, web, text)).toBe(text)
    expect(events.filter((e) => e.text === text).map((e) => e.direction)).toEqual(['in', 'out'])
  })
})
