/**
 * A channel server that relays anything (a third party's, or ours with a raised limit): the
 * app's channel client refuses a frame nested beyond its limit, reports it to the page, and the
 * call goes on.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { AppCore } from '../../src/main/core/app-core'
import type { EventName, Events } from '../../src/shared/contract'
import { RawClient } from '../helpers/raw-client'

let core: AppCore | null = null
afterEach(async () => {
  await core?.stop()
  core = null
})

describe('the channel client refuses frames nested too deeply', () => {
  it('refuses and reports a 6000-deep frame; the next frame is delivered', async () => {
    core = await AppCore.start({
      host: 'browser',
      version: 'test',
      dataDir: null,
      embeddedServer: { limits: { maxNestingDepth: 100_000 } }
    })
    const events: { name: EventName; payload: unknown }[] = []
    const scope = core.openScope(<E extends EventName>(name: E, payload: Events[E]) => {
      // What a host does with every event: it serialises it.
      JSON.stringify(payload)
      events.push({ name, payload })
    })
    expect((await scope.handle('channel:connect', { connectionId: 'c', uuid: 'speaker' })).ok).toBe(true)
    const created = await scope.handle('channel:create', { connectionId: 'c' })
    const sessionid = (created as { ok: true; value: { sessionid: string } }).value.sessionid
    const web = await RawClient.authed(core.embeddedServer!.url, 'web')
    expect((await web.request({ msgtype: 'request', operation: 'join_session', sessionid })).result_cd).toBe(
      200
    )
    web.send(
      `{"msgtype":"data","sessionid":"${sessionid}","data":{"x":${'['.repeat(6000)}${']'.repeat(6000)}}}`
    )
    web.send({ msgtype: 'data', sessionid, data: { after: true } })
    await vi.waitFor(
      () =>
        expect(
          events.some(
            (e) =>
              e.name === 'channel:frame' &&
              (e.payload as Events['channel:frame']).frame.msgtype === 'data' &&
              (e.payload as { frame: { data: { after?: boolean } } }).frame.data.after === true
          )
        ).toBe(true),
      { timeout: 5000 }
    )
    expect(events).toContainEqual({
      name: 'channel:notice',
      payload: { connectionId: 'c', sessionid, kind: 'refused', count: 1 }
    })
    web.close()
    scope.dispose()
  })
})
