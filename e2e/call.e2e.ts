import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { type Browser, expect, type Page, test } from '@playwright/test'
import { expectTone, measureAudio } from './support/audio'
import { launchChromium, micContext } from './support/browser'
import { AUDIO, createChannel, diagnostics, joinSession, openConsole, openDevice } from './support/app'
import { type RunningHost, startHost } from './support/host'
import { writeToneWav } from './support/wav'

const ARTIFACTS = join('artifacts', 'e2e')
mkdirSync(ARTIFACTS, { recursive: true })

let host: RunningHost
const browsers: Browser[] = []

test.beforeAll(async () => {
  host = await startHost()
})
test.afterAll(async () => {
  for (const b of browsers.splice(0)) await b.close()
  await host.stop()
})

async function sides(consoleHz: number): Promise<{ device: Page; operator: Page }> {
  const deviceBrowser = await launchChromium()
  const consoleBrowser = await launchChromium({
    microphoneWav: writeToneWav(join(ARTIFACTS, `tone-${consoleHz}.wav`), consoleHz)
  })
  browsers.push(deviceBrowser, consoleBrowser)
  const device = await (await micContext(deviceBrowser, host.origin)).newPage()
  const operator = await (await micContext(consoleBrowser, host.origin)).newPage()
  return { device, operator }
}

async function liveCall(device: Page, operator: Page): Promise<string> {
  await openDevice(device, host.at('/device'))
  const sessionid = await createChannel(device)
  await openConsole(operator, host.at('/console'))
  await joinSession(operator, sessionid)
  await expect(device.getByTestId('device-web-joined')).toHaveAttribute('data-joined', 'true')
  await device.getByTestId('device-start').click()
  await expect(device.getByTestId('device-call-state')).toHaveAttribute('data-state', 'live')
  await expect(operator.getByTestId(`call-${sessionid}`)).toHaveAttribute('data-state', 'live')
  return sessionid
}

for (const hz of [1000, 440]) {
  test(`a ${hz} Hz tone from the console's microphone is heard at the speaker`, async () => {
    const { device, operator } = await sides(hz)
    const sessionid = await liveCall(device, operator)
    const reading = await expectTone(device, AUDIO, hz)
    process.stdout.write(
      `tone: ${hz} Hz sent, ${reading.peakHz.toFixed(0)} Hz at ${reading.dbfs.toFixed(1)} dBFS received\n`
    )
    if (hz === 1000) {
      await device.screenshot({ path: join(ARTIFACTS, 'device-in-call.png'), fullPage: true })
      await operator.screenshot({ path: join(ARTIFACTS, 'console-in-call.png'), fullPage: true })
    }
    // The speaker stops: both sides return to a clean, ready state.
    await device.getByTestId('device-stop').click()
    await expect(device.getByTestId('device-call-state')).toHaveAttribute('data-state', 'idle')
    await expect(operator.getByTestId(`call-${sessionid}`)).toHaveAttribute('data-state', 'joined')
    await expect.poll(() => diagnostics(operator)).toMatchObject({ peerConnections: 0, microphoneTracks: 0 })
    await expect.poll(() => diagnostics(device)).toMatchObject({ peerConnections: 0, microphoneTracks: 0 })
    expect((await measureAudio(device, AUDIO)).dbfs).toBeLessThan(-100) // nothing plays any more
  })
}
