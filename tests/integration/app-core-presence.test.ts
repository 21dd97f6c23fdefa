import { afterEach, describe, expect, it } from 'vitest'
import { AppCore } from '../../src/main/core/app-core'
import type { EventName, Events } from '../../src/shared/contract'
import { RawClient } from '../helpers/raw-client'

let core: AppCore | null = null
const open: RawClient[] = []

afterEach(async () => {
  for (const c of open.splice(0)) c.close()
  await core?.stop()
  core = null
})

describe('the console as an operator of the embedded server', () => {
  it('lists and follows the sessions through main, which adds the operator token the page never sees', async () => {
    core = await AppCore.start({ host: 'browser', version: 'test', dataDir: null })
    const token = core.embeddedServer!.operatorToken!
    expect(token.length).toBeGreaterThanOrEqual(32)
    const seen: { name: EventName; payload: unknown }[] = []
    const scope = core.openScope(<E extends EventName>(name: E, payload: Events[E]) =>
      seen.push({ name, payload })
    )
    const url = core.info().defaultServerUrl
    expect(
      await scope.handle('channel:connect', { connectionId: 'console', uuid: 'WEB-1', url })
    ).toMatchObject({
      ok: true
    })

    const speaker = await RawClient.authed(url, 'K-DESK')
    open.push(speaker)
    await speaker.request({ msgtype: 'request', operation: 'create_session', sessionid: 'K-DESK' })
    const listed = await scope.handle('presence:list', { connectionId: 'console', subscribe: true })
    expect(listed).toEqual({
      ok: true,
      value: { sessions: [{ sessionid: 'K-DESK', uuid: 'K-DESK', channeltype: 'webrtcaudio', members: 1 }] }
    })

    // Followed: a new session reaches the page as a notify on the console's connection.
    const second = await RawClient.authed(url, 'K-HALL')
    open.push(second)
    await second.request({ msgtype: 'request', operation: 'create_session', sessionid: 'K-HALL' })
    await expect
      .poll(() =>
        seen.some(
          (e) =>
            e.name === 'channel:frame' &&
            (e.payload as Events['channel:frame']).frame.operation === 'session_started' &&
            (e.payload as Events['channel:frame']).frame.sessionid === 'K-HALL'
        )
      )
      .toBe(true)

    // The request as the page sees it carries no token; nothing the page got does.
    const sent = seen.find(
      (e) =>
        e.name === 'channel:frame' &&
        (e.payload as Events['channel:frame']).direction === 'out' &&
        (e.payload as Events['channel:frame']).frame.operation === 'list_sessions'
    )
    expect((sent!.payload as Events['channel:frame']).frame['operator_token']).toBe('(hidden)')
    expect(JSON.stringify(seen)).not.toContain(token)
    expect(JSON.stringify(core.info())).not.toContain(token)
  })

  it('a server other than the embedded one gets no token: its refusal comes back to the page', async () => {
    core = await AppCore.start({ host: 'browser', version: 'test', dataDir: null })
    const other = await AppCore.start({ host: 'browser', version: 'test', dataDir: null })
    try {
      const scope = core.openScope(() => undefined)
      await scope.handle('channel:connect', {
        connectionId: 'console',
        uuid: 'WEB-2',
        url: other.info().defaultServerUrl
      })
      const listed = await scope.handle('presence:list', { connectionId: 'console' })
      expect(listed).toMatchObject({ ok: false, error: { result_cd: 403 } })
    } finally {
      await other.stop()
    }
  })
})
