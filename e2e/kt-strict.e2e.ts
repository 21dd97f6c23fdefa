import { type Page, expect, test } from '@playwright/test'
import { diagnostics, openDevice } from './support/app'
import { script } from './support/fixtures'
import { skipInElectron, useScenario } from './support/scenario'

// Strict KT mode with a short keep-alive cut-off (4 s instead of 70 s): the speaker behaves as a
// real GiGA Genie, so only the service app's own keepaliveChannel holds its channel.
const CUTOFF_MS = 4_000
const scenario = useScenario({ hostArgs: ['--strict-kt', '--limit', `idleTimeoutMs=${CUTOFF_MS}`] })

type Result = { result_cd: number; result_msg: string; extra: unknown }
function guide(device: Page, name: string): Promise<Result> {
  return device.evaluate(
    (name) => (window as unknown as { guide: Record<string, () => Promise<Result>> }).guide[name]!(),
    name
  )
}

async function serviceApp(): Promise<Page> {
  const device = await scenario.page()
  await openDevice(device, scenario.url('/device'))
  await device.evaluate(script('guide-samples.js'))
  return device
}

test.beforeEach(() => skipInElectron('the embedded server of the app takes no limits from the command line'))

test('a call before init gets 406; after init the same call succeeds', async () => {
  const device = await serviceApp()
  await expect(device.getByTestId('device-strict-kt')).toBeChecked()
  const early = await guide(device, 'createRelayChannel')
  expect(early.result_cd).toBe(406)
  expect(early.result_msg).toContain('init')
  expect((await guide(device, 'init')).result_cd).toBe(200)
  expect((await guide(device, 'createRelayChannel')).result_cd).toBe(200)
})

test('an app that never calls keepaliveChannel loses its channel at the cut-off', async () => {
  const device = await serviceApp()
  await guide(device, 'init')
  const created = await guide(device, 'createRelayChannel')
  const sessionid = (created.extra as { sessionid: string }).sessionid
  await expect(device.getByTestId('device-session')).toHaveText(sessionid)
  const since = Date.now()
  await expect(device.getByTestId('device-session')).toHaveText('—', { timeout: CUTOFF_MS + 5_000 })
  const after = Date.now() - since
  expect(after).toBeGreaterThan(CUTOFF_MS - 1_500) // not before the cut-off
  await expect(device.getByTestId('device-error')).toBeVisible()
  expect((await diagnostics(device)).serverSessions).toBe(0)
})

test('an app that calls keepaliveChannel keeps its channel past the cut-off', async () => {
  const device = await serviceApp()
  await guide(device, 'init')
  const created = await guide(device, 'createRelayChannel')
  const sessionid = (created.extra as { sessionid: string }).sessionid
  await device.evaluate(() =>
    (window as unknown as { guide: { keepEvery(ms: number): void } }).guide.keepEvery(1_000)
  )
  await device.waitForTimeout(CUTOFF_MS * 2)
  await expect(device.getByTestId('device-session')).toHaveText(sessionid)
  expect(
    await device.evaluate(
      () => (window as unknown as { guide: { lastKeepalive: number } }).guide.lastKeepalive
    )
  ).toBe(200)
  expect((await diagnostics(device)).serverSessions).toBe(1)
})
