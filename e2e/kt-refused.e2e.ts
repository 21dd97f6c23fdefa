import { expect, test } from '@playwright/test'
import { openDevice } from './support/app'
import { WEB_CLIENT, channelUrlOfHost, openWebClient, script, useFixtureServer } from './support/fixtures'
import { skipInElectron, useScenario } from './support/scenario'

// A channel server that refuses the speaker's offer: its frame limit is below an offer's size
// (every other frame of the call setup fits), so the server answers the offer with 413.
const scenario = useScenario({ hostArgs: ['--limit', 'maxFrameBytes=400'] })
const serveFixture = useFixtureServer()

test('a refused offer makes startWebRTCAudio call back with a non-200 code and the cause', async () => {
  skipInElectron('the embedded server of the app takes no limits from the command line')
  const device = await scenario.page()
  await openDevice(device, scenario.url('/device'))
  await device.evaluate(script('guide-samples.js'))
  const guide = (name: string): Promise<{ result_cd: number; result_msg: string; extra: unknown }> =>
    device.evaluate(
      (name) =>
        (
          window as unknown as {
            guide: Record<string, () => Promise<{ result_cd: number; result_msg: string; extra: unknown }>>
          }
        ).guide[name]!(),
      name
    )
  await guide('init')
  const created = await guide('createRelayChannel')
  const sessionid = (created.extra as { sessionid: string }).sessionid
  const web = await scenario.page({ toneHz: 1000 })
  const origin = await serveFixture(WEB_CLIENT)
  await openWebClient(web, origin, { channel: await channelUrlOfHost(scenario.host()), session: sessionid })
  await expect(web.locator('#state')).toHaveText('joined')

  const started = await guide('startWebRTCAudio')
  expect(started.result_cd).toBe(500)
  expect(started.result_msg).toMatch(
    /^the channel server refused the offer: frame of \d+ bytes exceeds the limit of 400 \(413\)$/
  )
  await expect(device.getByTestId('device-error')).toContainText('refused the offer')
  await expect(device.getByTestId('device-call-state')).toHaveAttribute('data-state', 'idle')
})
