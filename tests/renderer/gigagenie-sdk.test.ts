import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it } from 'vitest'
import { DEFAULT_SETTINGS } from '../../src/shared/contract'
import { type SdkFunction, createGigagenie } from '../../src/renderer/src/sdk/gigagenie'
import { setBridge } from '../../src/renderer/src/services/bridge'
import { DEVICE_CONNECTION, useDeviceStore } from '../../src/renderer/src/stores/device'
import { BridgeError, type StubTransport, stubBridge } from './stub-bridge'

let transport: StubTransport

beforeEach(() => {
  setActivePinia(createPinia())
  const stub = stubBridge()
  transport = stub.transport
  setBridge(stub.bridge)
  transport
    .respond('settings:get', () => ({ ...DEFAULT_SETTINGS, deviceUuid: 'K0000001' }))
    .respond('settings:set', (p) => ({ ...DEFAULT_SETTINGS, ...(p as object) }))
    .respond('channel:connect', () =>
      transport.emit('channel:state', { connectionId: DEVICE_CONNECTION, state: 'ready' })
    )
    .respond('channel:create', (req) => ({
      sessionid: (req as { sessionid?: string }).sessionid ?? 'GENERATED'
    }))
    .respond('channel:keepalive', () => ({
      reply: { msgtype: 'notify', operation: 'ras_alive', channeltype: 'system' }
    }))
    .respond('channel:destroy', () => undefined)
})

function callback(fn: SdkFunction, options: Record<string, unknown> | null): Promise<unknown[]> {
  return new Promise((resolve) => fn(options, (...args) => resolve(args)))
}

describe('window.gigagenie', () => {
  it('calls back with (result_cd, result_msg, extra) and accepts null options', async () => {
    const g = createGigagenie(useDeviceStore())
    expect(await callback(g.init, null)).toEqual([
      200,
      'Success',
      { sdkversion: '1.4', devicetype: 'genie-bridge', displayflag: true }
    ])
    expect(await callback(g.appinfo.getContainerId, null)).toEqual([
      200,
      'Success',
      { containerid: 'K0000001', deviceid: 'K0000001' }
    ])
    expect(
      await callback(g.media.createChannel, { channeltype: 'webrtcaudio', usecontainerid: true })
    ).toEqual([200, 'Success', { sessionid: 'K0000001' }])
  })

  it('returns a promise of extra without a callback', async () => {
    const g = createGigagenie(useDeviceStore())
    await expect(g.media.createChannel({ channeltype: 'webrtcaudio' })).resolves.toEqual({
      sessionid: 'GENERATED'
    })
    await expect(g.media.keepaliveChannel(null)).resolves.toEqual({
      msgtype: 'notify',
      operation: 'ras_alive',
      channeltype: 'system'
    })
  })

  it('rejects with an error carrying result_cd, result_msg and extra', async () => {
    transport.respond('channel:create', () => {
      throw new BridgeError(409, 'session id "K0000001" is taken')
    })
    const g = createGigagenie(useDeviceStore())
    const err = (await g.media.createChannel({ usecontainerid: true })!.catch((e: unknown) => e)) as Record<
      string,
      unknown
    >
    // The guide's media calls answer 200 or 500; the message names the cause and the server's code.
    expect(err).toMatchObject({
      result_cd: 500,
      result_msg: 'session id "K0000001" is taken (409)',
      extra: null
    })
    expect(await callback(g.media.createChannel, { usecontainerid: true })).toEqual([
      500,
      'session id "K0000001" is taken (409)',
      null
    ])
  })

  it('destroys the session it was given even with an undefined channeltype', async () => {
    const g = createGigagenie(useDeviceStore())
    const { sessionid } = (await g.media.createChannel(null)) as { sessionid: string }
    expect(await callback(g.media.destroyChannel, { channeltype: undefined, sessionid })).toEqual([
      200,
      'Success',
      null
    ])
    expect(transport.callsOf('channel:destroy')).toEqual([{ connectionId: DEVICE_CONNECTION, sessionid }])
  })

  it('answers 500, naming the cause, to audio calls before a channel exists', async () => {
    const g = createGigagenie(useDeviceStore())
    const [cd, msg] = await callback(g.media.startWebRTCAudio, { sessionid: 'nope' })
    expect(cd).toBe(500)
    expect(msg).toBe('session "nope" is not this device\'s channel')
    await expect(g.media.startWebRTCAudio(null)).rejects.toMatchObject({
      result_cd: 500,
      result_msg: 'no channel: call gigagenie.media.createChannel first'
    })
  })

  it("takes the guide's own names and channel type: createRelayChannel({channeltype: 'audio'}), destroyRelayChannel", async () => {
    const g = createGigagenie(useDeviceStore())
    const created = await callback(g.media.createRelayChannel, { channeltype: 'audio', usecontainerid: true })
    expect(created).toEqual([200, 'Success', { sessionid: 'K0000001' }])
    expect(transport.callsOf('channel:create')).toEqual([
      { connectionId: DEVICE_CONNECTION, sessionid: 'K0000001', channeltype: 'webrtcaudio' }
    ])
    expect(await callback(g.media.destroyRelayChannel, { sessionid: 'K0000001' })).toEqual([
      200,
      'Success',
      null
    ])
    expect(transport.callsOf('channel:destroy')).toEqual([
      { connectionId: DEVICE_CONNECTION, sessionid: 'K0000001' }
    ])
  })

  it('in strict KT mode answers 406 before a successful init, and sends no keep-alive of its own', async () => {
    transport.respond('settings:get', () => ({ ...DEFAULT_SETTINGS, deviceUuid: 'K0000001', strictKt: true }))
    const g = createGigagenie(useDeviceStore())
    const before = await callback(g.media.createChannel, { channeltype: 'webrtcaudio' })
    expect(before[0]).toBe(406)
    await expect(g.appinfo.getContainerId(null)).rejects.toMatchObject({ result_cd: 406 })
    expect(transport.callsOf('channel:create')).toEqual([])
    expect((await callback(g.init, { apikey: 'K', keytype: 'GBOXDEVM' }))[0]).toBe(200)
    expect(transport.callsOf('channel:connect')).toMatchObject([{ keepalive: false }])
    expect((await callback(g.media.createChannel, { channeltype: 'webrtcaudio' }))[0]).toBe(200)
  })

  it('is lenient by default: no init needed, and the main process keeps the channel alive', async () => {
    const g = createGigagenie(useDeviceStore())
    expect((await callback(g.media.createChannel, null))[0]).toBe(200)
    expect(transport.callsOf('channel:connect')[0]).not.toHaveProperty('keepalive')
  })

  it('delivers channel events to the assigned onChannelEvent', async () => {
    const g = createGigagenie(useDeviceStore())
    await g.media.createChannel(null)
    const events: unknown[] = []
    g.media.onChannelEvent = (cd, msg, extra) => events.push([cd, msg, extra])
    const frame = {
      msgtype: 'notify' as const,
      operation: 'join_session',
      sessionid: 'GENERATED',
      channeltype: 'webrtcaudio'
    }
    transport.emit('channel:frame', { connectionId: DEVICE_CONNECTION, direction: 'in', frame, at: 1 })
    expect(events).toEqual([[200, 'Success', frame]])
  })
})
