import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, test } from '@playwright/test'
import { createChannel, openDevice } from './support/app'
import { ARTIFACTS, liveCall, skipInElectron, useScenario } from './support/scenario'
import { startHost } from './support/host'
import { en } from '../src/renderer/src/i18n/en'

// What a person expects of the app around the calls: a self-test, call quality, two languages,
// and settings that survive a restart.
const scenario = useScenario()

test('the one-click self-test hears the microphone at the speaker and says so', async () => {
  const page = await scenario.page({ toneHz: 1000 })
  await page.goto(scenario.url('/'))
  await page.getByTestId('selftest-run').click()
  const result = page.getByTestId('selftest-result')
  await expect(result).toHaveAttribute('data-ok', 'true', { timeout: 30_000 })
  await expect(result).toContainText(/dBFS/)
  await page.screenshot({ path: join(ARTIFACTS, 'self-test.png'), fullPage: true })
  const counts = await page.evaluate(() =>
    (
      window as unknown as { genieBridge: { diagnostics(): Promise<Record<string, number>> } }
    ).genieBridge.diagnostics()
  )
  expect(counts).toMatchObject({ peerConnections: 0, microphoneTracks: 0, windowConnections: 0 })
})

test('a live call shows its packets and quality on both sides', async () => {
  const device = await scenario.page()
  const operator = await scenario.page({ toneHz: 1000 })
  const sessionid = await liveCall(scenario.host(), device, operator)
  await expect
    .poll(async () =>
      Number(await device.getByTestId('device-quality').getAttribute('data-packets-received'))
    )
    .toBeGreaterThan(0)
  await expect(operator.getByTestId(`quality-${sessionid}`)).toContainText('ms')
})

/** Visible English catalog strings on the page (those the Korean text does not itself contain). */
async function englishLeft(page: import('@playwright/test').Page): Promise<string[]> {
  const text = await page.evaluate(() => document.body.innerText)
  const korean = await import('../src/renderer/src/i18n/ko')
  return Object.entries(en)
    .filter(([k, v]) => v.length > 3 && !korean.ko[k as keyof typeof en].includes(v) && !v.includes('{'))
    .map(([, v]) => v)
    .filter((v) => text.includes(v))
}

test('switching the language changes every visible string, and settings survive a restart', async () => {
  skipInElectron('restarts the browser host, which the desktop app does not use')
  const dataDir = mkdtempSync(join(tmpdir(), 'gb-settings-'))
  try {
    let host = await startHost(['--data-dir', dataDir])
    const browser = await scenario.page()
    await browser.goto(host.at('/device'))
    await browser.getByTestId('language').selectOption('ko')
    await expect(browser.getByTestId('nav-device')).toHaveText('스피커')
    await expect(browser.getByTestId('language')).toHaveAttribute('data-saved', 'true')
    for (const route of ['/device', '/console', '/signaling', '/history', '/']) {
      await browser.goto(host.at(route))
      await expect(browser.getByTestId('nav-device')).toHaveText('스피커')
      expect(await englishLeft(browser), `English left on ${route}`).toEqual([])
    }
    await browser.getByTestId('language').selectOption('en')
    await expect(browser.getByTestId('nav-device')).toHaveText('Speaker')
    await expect(browser.getByTestId('language')).toHaveAttribute('data-saved', 'true')
    await browser.goto(host.at('/device'))
    const uuid = (await browser.getByTestId('device-uuid').textContent())!.trim()

    await host.stop()
    host = await startHost(['--data-dir', dataDir])
    await browser.goto(host.at('/device'))
    await expect(browser.getByTestId('nav-device')).toHaveText('Speaker')
    await expect(browser.getByTestId('device-uuid')).toHaveText(uuid)
    await host.stop()
  } finally {
    rmSync(dataDir, { recursive: true, force: true })
  }
})

test('the speaker’s ICE state is shown in the person’s language, not as the raw value', async () => {
  skipInElectron('a browser host of its own, started in Korean')
  const host = await startHost([], { settings: { language: 'ko' } })
  try {
    const page = await scenario.page()
    await openDevice(page, host.at('/device'))
    await createChannel(page)
    const ice = page.getByTestId('device-ice')
    await expect(ice).toHaveAttribute('data-ice', 'new')
    await expect(ice).toHaveText('ICE: 대기 중')
  } finally {
    await host.stop()
  }
})
