/**
 * Which pending request a reply settles: the one its trxid names, or, for a reply without a
 * trxid, the oldest of the operation it names. Replies about no request (429, a refused data
 * frame, 503 not delivered) or naming another trxid settle nothing and are reported as errors.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { type WebSocket, WebSocketServer } from 'ws'
import { ChannelClient, ChannelError } from '../../src/main/channel/client'
import { ChannelServer } from '../../src/main/channel/server'

const cleanup: (() => Promise<void> | void)[] = []
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step()
})

function client(url: string, uuid: string): { c: ChannelClient; errors: Error[] } {
  const c = new ChannelClient({ url, uuid, reconnect: { enabled: false } })
  cleanup.push(() => c.dispose())
  const errors: Error[] = []
  c.on('error', (e) => errors.push(e))
  return { c, errors }
}

type Json = Record<string, unknown>

/**
 * A server on 127.0.0.1 that answers auth and hands every other request to `answer`, which
 * writes whatever frames a test needs, in the order it needs them.
 */
async function scriptedServer(answer: (ws: WebSocket, req: Json) => void): Promise<string> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await new Promise((r) => wss.once('listening', r))
  cleanup.push(() => new Promise<void>((r) => wss.close(() => r())))
  wss.on('connection', (ws) => {
    ws.send(JSON.stringify({ msgtype: 'notify', operation: 'iam', channeltype: 'system' }))
    ws.on('message', (data) => {
      const req = JSON.parse(data.toString()) as Json
      if (req.operation === 'auth') {
        ws.send(JSON.stringify({ msgtype: 'reply', operation: 'auth', result_cd: 200, trxid: req.trxid }))
      } else if (req.msgtype === 'request') answer(ws, req)
    })
  })
  cleanup.push(() => {
    for (const ws of wss.clients) ws.terminate()
  })
  return `ws://127.0.0.1:${(wss.address() as { port: number }).port}/channel`
}

const joined = (req: Json, extra: Json = {}): string =>
  JSON.stringify({ msgtype: 'reply', operation: 'join_session', result_cd: 200, trxid: req.trxid, ...extra })

describe('the channel server', () => {
  it("a data frame's 403 does not settle a join in flight; the join succeeds", async () => {
    const server = new ChannelServer({ host: '127.0.0.1' })
    const url = await server.listen()
    cleanup.push(() => server.close())
    const device = client(url, 'K1')
    await device.c.connect()
    const sessionid = await device.c.createSession()
    const web = client(url, 'W1')
    await web.c.connect()

    // The data frame goes out first, so its 403 comes back while the join is still pending.
    web.c.sendData('not-a-session-of-mine', { n: 1 })
    await expect(web.c.joinSession(sessionid)).resolves.toBeUndefined()
    expect(web.c.sessionIds).toEqual([sessionid])
    expect(server.listSessions()).toMatchObject([{ sessionid, memberUuids: ['K1', 'W1'] }])
    await vi.waitFor(() => expect(web.errors).toHaveLength(1))
    expect(web.errors[0]).toBeInstanceOf(ChannelError)
    expect(web.errors[0]).toMatchObject({ result_cd: 403 })
  })
})

describe('a server writing the frames by hand', () => {
  it('an error reply without operation or trxid between a join and its 200 leaves the join to its 200', async () => {
    const url = await scriptedServer((ws, req) => {
      ws.send(
        JSON.stringify({
          msgtype: 'reply',
          result_cd: 403,
          result_msg: 'not a member of session "x"; nothing was forwarded',
          sessionid: 'x'
        })
      )
      ws.send(joined(req))
    })
    const { c, errors } = client(url, 'W1')
    await c.connect()
    await expect(c.joinSession('s1')).resolves.toBeUndefined()
    expect(c.sessionIds).toEqual(['s1'])
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatchObject({ result_cd: 403 })
  })

  it('a reply naming another trxid settles nothing, even of the same operation', async () => {
    const url = await scriptedServer((ws, req) => {
      ws.send(
        JSON.stringify({
          msgtype: 'reply',
          operation: 'join_session',
          result_cd: 409,
          result_msg: 'session "s1" is full',
          trxid: 'someone-else:1:00001'
        })
      )
      ws.send(joined(req))
    })
    const { c, errors } = client(url, 'W1')
    await c.connect()
    await expect(c.joinSession('s1')).resolves.toBeUndefined()
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatchObject({ result_cd: 409 })
  })

  it('a reply without trxid still settles the oldest pending request of the operation it names', async () => {
    const url = await scriptedServer((ws, req) => {
      if (req.operation === 'create_session')
        ws.send(
          JSON.stringify({ msgtype: 'reply', operation: 'create_session', result_cd: 200, sessionid: 'c1' })
        )
      else ws.send(joined({}, { result_cd: 409, result_msg: 'session "s1" is full' }))
    })
    const { c, errors } = client(url, 'W1')
    await c.connect()
    const join = c.joinSession('s1')
    const create = c.createSession()
    await expect(join).rejects.toMatchObject({ result_cd: 409 })
    await expect(create).resolves.toBe('c1')
    expect(errors).toEqual([])
  })
})
