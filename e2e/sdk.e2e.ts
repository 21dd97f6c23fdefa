import { expect, test } from '@playwright/test'
import { expectTone } from './support/audio'
import { AUDIO, diagnostics, openDevice } from './support/app'
import { WEB_CLIENT, channelUrlOfHost, openWebClient, script, useFixtureServer } from './support/fixtures'
import { skipInElectron, useScenario } from './support/scenario'

// The speaker driven only by a service app's own code through window.gigagenie, and the web side
// played by a minimal page that knows nothing but PROTOCOL.md.
const scenario = useScenario()
const serveFixture = useFixtureServer()
const SERVICE_APP = script('service-app.js')

test('a service app drives the speaker through window.gigagenie; a plain web client talks to it', async () => {
  skipInElectron("the plain web client is a third-party page, which the app's windows never load")
  const host = scenario.host()
  const device = await scenario.page()
  await openDevice(device, scenario.url('/device'))
  // The service app is plain script evaluated in the page, as if it were the app's own code.
  await device.evaluate(SERVICE_APP)
  const sessionid = await device.evaluate(() =>
    (window as unknown as { serviceApp: { start(): Promise<string> } }).serviceApp.start()
  )
  const containerid = await device.evaluate(
    () => (window as unknown as { serviceApp: { containerid: string } }).serviceApp.containerid
  )
  expect(sessionid).toBe(containerid) // usecontainerid: true
  expect(
    await device.evaluate(
      () => (window as unknown as { serviceApp: { keepaliveReply: unknown } }).serviceApp.keepaliveReply
    )
  ).toEqual({
    msgtype: 'notify',
    operation: 'ras_alive',
    channeltype: 'system'
  })

  const web = await scenario.page({ toneHz: 1000 })
  // Served from its own loopback origin, as a third-party page would be from its own site.
  const origin = await serveFixture(WEB_CLIENT)
  await openWebClient(web, origin, { channel: await channelUrlOfHost(host), session: sessionid })
  await expect(web.locator('#state')).toHaveText('joined')
  await expect
    .poll(() =>
      device.evaluate(
        () => (window as unknown as { serviceApp: { webJoined: boolean } }).serviceApp.webJoined
      )
    )
    .toBe(true)

  await device.evaluate(() =>
    (window as unknown as { serviceApp: { startAudio(): Promise<number> } }).serviceApp.startAudio()
  )
  await expect(web.locator('#state')).toHaveText('ice connected')
  const reading = await expectTone(device, AUDIO, 1000)
  process.stdout.write(`sdk tone: ${reading.peakHz.toFixed(0)} Hz at ${reading.dbfs.toFixed(1)} dBFS\n`)

  expect(
    await device.evaluate(() =>
      (window as unknown as { serviceApp: { stopAudio(): Promise<number> } }).serviceApp.stopAudio()
    )
  ).toBe(200)
  await expect(web.locator('#state')).toHaveText('ended') // our bye reached the plain client
  const destroyed = await device.evaluate(() =>
    (window as unknown as { serviceApp: { destroy(): Promise<{ result_cd: number }> } }).serviceApp.destroy()
  )
  expect(destroyed.result_cd).toBe(200)
  await expect(web.locator('#state')).toHaveText('destroyed')
  await expect.poll(() => diagnostics(device)).toMatchObject({ peerConnections: 0, serverSessions: 0 })

  // The channel events the service app saw: the web client's join, then its signaling.
  const ops = await device.evaluate(() =>
    (
      window as unknown as {
        serviceApp: { events: { msgtype: string; operation?: string; data?: { type: string } }[] }
      }
    ).serviceApp.events.map((e) => e.operation ?? e.data?.type)
  )
  expect(ops[0]).toBe('join_session')
  expect(ops).toContain('answer')
})

test('SDK errors come back with result codes, by callback and by promise', async () => {
  const device = await scenario.page()
  await openDevice(device, scenario.url('/device'))
  const results = await device.evaluate(async () => {
    const g = (
      window as unknown as {
        gigagenie: Record<
          string,
          Record<string, (o: unknown, cb?: (...a: unknown[]) => void) => Promise<unknown>>
        >
      }
    ).gigagenie
    const viaCallback = await new Promise<unknown[]>((resolve) =>
      g.media!.startWebRTCAudio!({ sessionid: 'nope' }, (...a) => resolve(a))
    )
    const viaPromise = await g.media!.startWebRTCAudio!(null).then(
      () => null,
      (e: { result_cd: number; result_msg: string }) => ({ result_cd: e.result_cd, result_msg: e.result_msg })
    )
    return { viaCallback, viaPromise }
  })
  // The guide's media calls answer 200 or 500, the message naming the cause.
  expect(results.viaCallback.slice(0, 2)).toEqual([500, 'session "nope" is not this device\'s channel'])
  expect(results.viaPromise).toMatchObject({
    result_cd: 500,
    result_msg: 'no channel: call gigagenie.media.createChannel first'
  })
})
