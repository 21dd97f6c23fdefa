import { afterEach, describe, expect, it } from 'vitest'
import { ChannelServer } from '../../src/main/channel/server'
import { DEFAULT_LIMITS } from '../../src/main/channel/limits'
import { RawClient, settle } from '../helpers/raw-client'

const OPERATOR_TOKEN = 'operator-secret-1'
let server: ChannelServer | null = null
const open: RawClient[] = []

async function start(operatorToken: string | null): Promise<string> {
  server = new ChannelServer({ operatorToken })
  return server.listen()
}

async function authed(url: string, uuid: string): Promise<RawClient> {
  const c = await RawClient.authed(url, uuid)
  open.push(c)
  return c
}

const list = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  msgtype: 'request',
  operation: 'list_sessions',
  channeltype: 'system',
  ...extra
})

afterEach(async () => {
  for (const c of open.splice(0)) c.close()
  await server?.close()
  server = null
})

describe('presence (list_sessions)', () => {
  it('lists live sessions to an operator and tells it as sessions start and end', async () => {
    const url = await start(OPERATOR_TOKEN)
    const speaker = await authed(url, 'K-LOBBY')
    const first = await speaker.request({
      msgtype: 'request',
      operation: 'create_session',
      sessionid: 'K-LOBBY'
    })
    expect(first.result_cd).toBe(200)
    const operator = await authed(url, 'console-1')
    const reply = await operator.request(list({ operator_token: OPERATOR_TOKEN, subscribe: true }))
    expect(reply).toMatchObject({
      result_cd: 200,
      operation: 'list_sessions',
      sessions: [{ sessionid: 'K-LOBBY', uuid: 'K-LOBBY', channeltype: 'webrtcaudio', members: 1 }]
    })

    const second = await authed(url, 'K-HALL')
    const created = await second.request({ msgtype: 'request', operation: 'create_session' })
    const started = await operator.next((f) => f.operation === 'session_started')
    expect(started).toEqual({
      msgtype: 'notify',
      operation: 'session_started',
      channeltype: 'system',
      sessionid: created.sessionid,
      uuid: 'K-HALL'
    })
    second.close() // the owner's connection closing ends its session
    const ended = await operator.next((f) => f.operation === 'session_ended')
    expect(ended).toMatchObject({ sessionid: created.sessionid, uuid: 'K-HALL' })
    await speaker.request({ msgtype: 'request', operation: 'destroy_session', sessionid: 'K-LOBBY' })
    expect(await operator.next((f) => f.operation === 'session_ended')).toMatchObject({
      sessionid: 'K-LOBBY'
    })
  })

  it('refuses the list with 403 without the operator token, with a wrong one, and on a server without one', async () => {
    const url = await start(OPERATOR_TOKEN)
    const speaker = await authed(url, 'K1')
    await speaker.request({ msgtype: 'request', operation: 'create_session' })
    const nosy = await authed(url, 'W1')
    for (const extra of [{}, { operator_token: 'guess' }, { operator_token: 42 }]) {
      const reply = await nosy.request(list({ ...extra, subscribe: true }))
      expect(reply).toMatchObject({ result_cd: 403, operation: 'list_sessions' })
      expect(reply.sessions).toBeUndefined()
    }
    // Refused means not subscribed either: a new session tells it nothing.
    const other = await authed(url, 'K2')
    await other.request({ msgtype: 'request', operation: 'create_session' })
    await settle()
    expect(nosy.frames.filter((f) => f.operation === 'session_started')).toEqual([])
    await server!.close()

    const closedUrl = await start(null)
    const anyone = await authed(closedUrl, 'W2')
    const reply = await anyone.request(list({ operator_token: '' }))
    expect(reply).toMatchObject({ result_cd: 403 })
    expect(String(reply.result_msg)).toMatch(/not enabled/)
  })

  it('asks for authentication first, like every other request', async () => {
    const url = await start(OPERATOR_TOKEN)
    const c = await RawClient.open(url)
    open.push(c)
    expect(await c.request(list({ operator_token: OPERATOR_TOKEN }))).toMatchObject({ result_cd: 401 })
  })

  it('bounds the operator connections that follow sessions, and frees the place of one that closed', async () => {
    const url = await start(OPERATOR_TOKEN)
    const operators: RawClient[] = []
    for (let i = 0; i < DEFAULT_LIMITS.maxPresenceSubscribers; i++) {
      const c = await authed(url, `op-${i}`)
      expect(await c.request(list({ operator_token: OPERATOR_TOKEN, subscribe: true }))).toMatchObject({
        result_cd: 200
      })
      operators.push(c)
    }
    const extra = await authed(url, 'op-extra')
    expect(await extra.request(list({ operator_token: OPERATOR_TOKEN, subscribe: true }))).toMatchObject({
      result_cd: 409
    })
    // Listing without following still works.
    expect(await extra.request(list({ operator_token: OPERATOR_TOKEN }))).toMatchObject({ result_cd: 200 })
    operators[0]!.close()
    await operators[0]!.closed()
    await settle()
    expect(await extra.request(list({ operator_token: OPERATOR_TOKEN, subscribe: true }))).toMatchObject({
      result_cd: 200
    })
  })
})
