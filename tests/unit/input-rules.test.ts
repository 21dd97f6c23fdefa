/**
 * The one identifier rule and the server URL rule, at every entry: the shared functions, the
 * channel server, the core's commands (both hosts), settings and the channel client.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { ChannelClient } from '../../src/main/channel/client'
import { ChannelServer } from '../../src/main/channel/server'
import { AppCore } from '../../src/main/core/app-core'
import { SettingsStore } from '../../src/main/core/settings-store'
import { DEFAULT_SETTINGS } from '../../src/shared/contract'
import {
  MAX_SERVER_URL_LENGTH,
  identifierProblem,
  jsonNestsDeeperThan,
  nestsDeeperThan,
  serverUrlProblem
} from '../../src/shared/input-rules'
import { RawClient } from '../helpers/raw-client'

/** Ids that would spoof another one in the console, in logs or in a CSV export. */
export const SPOOFING_IDS: Record<string, string> = {
  'a control character': 'K1\u0007',
  'an ANSI escape': 'K1\u001b[31mred',
  'a C1 control': 'K1\u009b',
  'a right-to-left override': 'K1\u202egnp.exe',
  'a bidi isolate': '\u2066K1\u2069',
  'a left-to-right mark': 'K\u200e1',
  'a zero-width space': 'K\u200b1',
  'a zero-width joiner': 'K\u200d1',
  'a byte order mark': '\ufeffK1',
  'a lone high surrogate': 'K1\ud800',
  'a lone low surrogate': '\udc00K1',
  'a line separator': 'K1\u2028'
}

describe('identifierProblem', () => {
  it('refuses every kind of invisible or control character, and names it', () => {
    for (const [what, id] of Object.entries(SPOOFING_IDS)) {
      expect(identifierProblem(id, 'uuid', 128), what).toMatch(/^field "uuid" contains .*U\+[0-9A-F]{4}/)
    }
  })
  it('accepts ordinary ids in any script, and emoji (surrogate pairs)', () => {
    for (const id of ['K1', 'b7a1-43f0', '한국어-스피커', 'Container ID 7', 'a😀b', 'x'.repeat(128)])
      expect(identifierProblem(id, 'uuid', 128), id).toBeNull()
  })
  it('refuses empty and over-long ids', () => {
    expect(identifierProblem('', 'sessionid', 128)).toContain('empty')
    expect(identifierProblem('x'.repeat(129), 'sessionid', 128)).toContain('longer than 128')
  })
})

describe('serverUrlProblem', () => {
  it('takes ws and wss URLs only, without credentials, bounded', () => {
    expect(serverUrlProblem('ws://127.0.0.1:8787/channel')).toBeNull()
    expect(serverUrlProblem('wss://example.invalid/channel?x=1')).toBeNull()
    for (const bad of [
      'http://127.0.0.1/',
      'file:///etc/passwd',
      'javascript:alert(1)',
      'ws://user:pass@127.0.0.1/channel',
      'ws://user@127.0.0.1/channel',
      'wss://',
      'not a url',
      `ws://127.0.0.1/${'a'.repeat(MAX_SERVER_URL_LENGTH)}`,
      `ws://127.0.0.1/${'a'.repeat(250_000)}`
    ])
      expect(serverUrlProblem(bad), bad.slice(0, 60)).not.toBeNull()
  })
})

describe('nesting depth', () => {
  it('counts containers without recursion, also for cycles and shared sub-objects', () => {
    let deep: unknown = 1
    for (let i = 0; i < 100_000; i++) deep = [deep]
    expect(nestsDeeperThan(deep, 64)).toBe(true)
    expect(nestsDeeperThan({ a: [{ b: 1 }] }, 3)).toBe(false)
    expect(nestsDeeperThan({ a: [{ b: {} }] }, 3)).toBe(true)
    const cycle: Record<string, unknown> = {}
    cycle.self = cycle
    expect(nestsDeeperThan(cycle, 64)).toBe(true)
    // 2^40 paths through 40 shared objects: bounded by the node budget, not walked.
    let shared: unknown = {}
    for (let i = 0; i < 40; i++) shared = { l: shared, r: shared }
    expect(nestsDeeperThan(shared, 64, 100_000)).toBe(true)
    expect(jsonNestsDeeperThan(`${'['.repeat(65)}${']'.repeat(65)}`, 64)).toBe(true)
    expect(jsonNestsDeeperThan(`["${'['.repeat(100)}"]`, 64)).toBe(false) // brackets in a string
    expect(jsonNestsDeeperThan(`["\\"${'{'.repeat(100)}"]`, 64)).toBe(false)
  })
})

describe('the rule at every entry', () => {
  let server: ChannelServer | null = null
  let core: AppCore | null = null
  afterEach(async () => {
    await core?.stop()
    await server?.close()
    core = null
    server = null
  })

  it('the channel server answers 400 to such a uuid at auth and to such a session id', async () => {
    server = new ChannelServer()
    const url = await server.listen()
    for (const [what, id] of Object.entries(SPOOFING_IDS)) {
      const c = await RawClient.open(url)
      const reply = await c.request({ msgtype: 'request', operation: 'auth', uuid: id })
      expect(reply.result_cd, what).toBe(400)
      expect(reply.result_msg, what).toContain('"uuid"')
      c.close()
    }
    const device = await RawClient.authed(url, 'K1')
    for (const [what, id] of Object.entries(SPOOFING_IDS)) {
      const reply = await device.request({ msgtype: 'request', operation: 'create_session', sessionid: id })
      expect(reply.result_cd, what).toBe(400)
      const join = await device.request({ msgtype: 'request', operation: 'join_session', sessionid: id })
      expect(join.result_cd, what).not.toBe(200)
    }
    device.close()
    expect(server.sessionCount).toBe(0)
  })

  it('the core refuses such ids and bad server URLs with 400, naming the field', async () => {
    core = await AppCore.start({ host: 'browser', version: 'test', dataDir: null })
    const scope = core.openScope(() => undefined)
    for (const [what, id] of Object.entries(SPOOFING_IDS)) {
      const outcome = await scope.handle('channel:connect', { connectionId: 'c', uuid: id })
      expect(outcome, what).toMatchObject({ ok: false, error: { result_cd: 400 } })
      if (!outcome.ok) expect(outcome.error.message).toContain('"uuid"')
    }
    for (const url of ['http://127.0.0.1/', 'ws://u:p@127.0.0.1/', `ws://x/${'a'.repeat(250_000)}`]) {
      const outcome = await scope.handle('channel:connect', { connectionId: 'c', uuid: 'K1', url })
      expect(outcome, url.slice(0, 40)).toMatchObject({ ok: false, error: { result_cd: 400 } })
      const set = await scope.handle('settings:set', { serverUrl: url })
      expect(set, url.slice(0, 40)).toMatchObject({ ok: false, error: { result_cd: 400 } })
    }
    expect(core.settings.get().serverUrl).toBe('')
    expect(scope.connectionIds).toEqual([])
  })

  it('a configured server URL (--server) follows the same rule', async () => {
    await expect(
      AppCore.start({
        host: 'browser',
        version: 't',
        embeddedServer: false,
        serverUrl: 'ws://u:p@127.0.0.1/'
      })
    ).rejects.toThrow(/user name or password/)
  })

  it('the channel client refuses such a uuid before it connects', () => {
    for (const [what, id] of Object.entries(SPOOFING_IDS))
      expect(() => new ChannelClient({ url: 'ws://127.0.0.1:1/channel', uuid: id }), what).toThrow(/uuid/)
  })

  it('settings: every string is bounded, ids follow the rule, URLs are ws or wss', async () => {
    const store = new SettingsStore(null)
    await store.update({
      deviceUuid: 'x'.repeat(129),
      consoleUuid: SPOOFING_IDS['a right-to-left override'],
      serverUrl: 'ws://user:pass@127.0.0.1/channel',
      inputDeviceId: 'd'.repeat(250_000),
      outputDeviceId: 'o'.repeat(257),
      audioProcessing: {
        ['m'.repeat(300)]: { echoCancellation: true, noiseSuppression: true, autoGainControl: true }
      }
    })
    expect(store.get()).toEqual(DEFAULT_SETTINGS)
    await store.update({ deviceUuid: 'x'.repeat(128), serverUrl: 'wss://example.invalid/channel' })
    expect(store.get()).toMatchObject({
      deviceUuid: 'x'.repeat(128),
      serverUrl: 'wss://example.invalid/channel'
    })
  })
})
