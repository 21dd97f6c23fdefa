import { type Page, expect, test } from '@playwright/test'
import { expectTone } from './support/audio'
import { AUDIO, diagnostics, openDevice } from './support/app'
import { WEB_CLIENT, channelUrlOfHost, openWebClient, script, useFixtureServer } from './support/fixtures'
import { skipInElectron, useScenario } from './support/scenario'

// KT's own flow: the web client authenticates with the speaker's ContainerId, the very uuid the
// speaker uses, and the speaker is driven by the SDK guide's samples.
const scenario = useScenario()
const serveFixture = useFixtureServer()
const GUIDE = script('guide-samples.js')

type Result = { result_cd: number; result_msg: string; extra: unknown }
type Step =
  | 'init'
  | 'getContainerId'
  | 'createRelayChannel'
  | 'startWebRTCAudio'
  | 'stopWebRTCAudio'
  | 'destroyRelayChannel'

function step(device: Page, name: Step): Promise<Result> {
  return device.evaluate(
    (name) => (window as unknown as { guide: Record<string, () => Promise<Result>> }).guide[name]!(),
    name
  )
}

test.beforeEach(() => {
  skipInElectron("the plain web client is a third-party page, which the app's windows never load")
})

test("the plain web client authenticates with the speaker's ContainerId and joins; its tone is heard at the speaker", async () => {
  const device = await scenario.page()
  await openDevice(device, scenario.url('/device'))
  const containerId = (await device.getByTestId('device-uuid').textContent())!.trim()
  await device.getByTestId('device-use-container-id').check()
  await device.getByTestId('device-create').click()
  await expect(device.getByTestId('device-session')).toHaveText(containerId)

  const web = await scenario.page({ toneHz: 1000 })
  const origin = await serveFixture(WEB_CLIENT)
  await openWebClient(web, origin, {
    channel: await channelUrlOfHost(scenario.host()),
    session: containerId,
    uuid: containerId
  })
  await expect(web.locator('#state')).toHaveText('joined')
  // The speaker was told, and is still the speaker of its session.
  await expect(device.getByTestId('device-web-joined')).toHaveAttribute('data-joined', 'true')
  await device.getByTestId('device-start').click()
  await expect(web.locator('#state')).toHaveText('ice connected')
  await expect(device.getByTestId('device-call-state')).toHaveAttribute('data-state', 'live')
  const reading = await expectTone(device, AUDIO, 1000)
  process.stdout.write(
    `ContainerId web client tone: ${reading.peakHz.toFixed(0)} Hz at ${reading.dbfs.toFixed(1)} dBFS\n`
  )
  await expect(device.getByTestId('device-error')).toHaveCount(0)
})

test("the SDK guide's samples, unchanged, call a web client that uses the ContainerId as uuid and session id", async () => {
  const device = await scenario.page()
  await openDevice(device, scenario.url('/device'))
  await device.evaluate(GUIDE)
  expect(await step(device, 'init')).toEqual({
    result_cd: 200,
    result_msg: 'Success',
    extra: { sdkversion: '1.4', devicetype: 'genie-bridge', displayflag: true }
  })
  const { extra } = await step(device, 'getContainerId')
  const containerId = (extra as { containerid: string }).containerid
  expect(await step(device, 'createRelayChannel')).toEqual({
    result_cd: 200,
    result_msg: 'Success',
    extra: { sessionid: containerId }
  })

  const web = await scenario.page({ toneHz: 1000 })
  const origin = await serveFixture(WEB_CLIENT)
  await openWebClient(web, origin, {
    channel: await channelUrlOfHost(scenario.host()),
    session: containerId,
    uuid: containerId
  })
  await expect(web.locator('#state')).toHaveText('joined')
  await expect
    .poll(() =>
      device.evaluate(() =>
        (window as unknown as { guide: { events: { operation?: string }[] } }).guide.events.map(
          (e) => e.operation
        )
      )
    )
    .toContain('join_session')

  expect(await step(device, 'startWebRTCAudio')).toMatchObject({ result_cd: 200 })
  await expect(web.locator('#state')).toHaveText('ice connected')
  const reading = await expectTone(device, AUDIO, 1000)
  process.stdout.write(
    `guide samples tone: ${reading.peakHz.toFixed(0)} Hz at ${reading.dbfs.toFixed(1)} dBFS\n`
  )
  expect(await step(device, 'stopWebRTCAudio')).toMatchObject({ result_cd: 200 })
  await expect(web.locator('#state')).toHaveText('ended')
  expect(await step(device, 'destroyRelayChannel')).toMatchObject({ result_cd: 200 })
  await expect(web.locator('#state')).toHaveText('destroyed')
  await expect.poll(() => diagnostics(device)).toMatchObject({ peerConnections: 0, serverSessions: 0 })
})
