import { join } from 'node:path'
import { expect, test } from '@playwright/test'
import { expectTone, measureAudio } from './support/audio'
import { AUDIO, diagnostics } from './support/app'
import { ARTIFACTS, liveCall, useScenario } from './support/scenario'

const scenario = useScenario()

for (const hz of [1000, 440]) {
  test(`a ${hz} Hz tone from the console's microphone is heard at the speaker`, async () => {
    const device = await scenario.page()
    const operator = await scenario.page({ toneHz: hz })
    const sessionid = await liveCall(scenario.host(), device, operator)
    const reading = await expectTone(device, AUDIO, hz)
    process.stdout.write(
      `tone: ${hz} Hz sent, ${reading.peakHz.toFixed(0)} Hz at ${reading.dbfs.toFixed(1)} dBFS received\n`
    )
    // The app's own meters show the same tone: the console's microphone and the speaker's received audio.
    for (const meter of [
      operator.getByTestId('console-input-level'),
      device.getByTestId('device-received-level')
    ])
      await expect
        .poll(async () => Math.abs(Number(await meter.getAttribute('data-peak-hz')) - hz), {
          message: 'level meter peak frequency'
        })
        .toBeLessThan(50)
    if (hz === 1000) {
      await device.screenshot({ path: join(ARTIFACTS, 'device-in-call.png'), fullPage: true })
      await operator.screenshot({ path: join(ARTIFACTS, 'console-in-call.png'), fullPage: true })
    }
    // The speaker stops: both sides return to a clean, ready state.
    await device.getByTestId('device-stop').click()
    await expect(device.getByTestId('device-call-state')).toHaveAttribute('data-state', 'idle')
    await expect(operator.getByTestId(`call-${sessionid}`)).toHaveAttribute('data-state', 'joined')
    await expect
      .poll(() => diagnostics(operator))
      .toMatchObject({ peerConnections: 0, microphoneTracks: 0, uiTimers: 0, audioContexts: 0 })
    await expect
      .poll(() => diagnostics(device))
      .toMatchObject({ peerConnections: 0, microphoneTracks: 0, audioContexts: 0 })
    expect((await measureAudio(device, AUDIO)).dbfs).toBeLessThan(-100) // nothing plays any more
  })
}

test('the console raises a call-quality alarm by its own thresholds, and refuses a threshold out of range', async () => {
  const device = await scenario.page()
  const operator = await scenario.page({ toneHz: 1000 })
  const sessionid = await liveCall(scenario.host(), device, operator)
  const quality = operator.getByTestId(`quality-${sessionid}`)
  await expect(quality).toHaveAttribute('data-alarms', '')
  await operator.getByTestId('quality-alarms').locator('summary').click()
  const rtt = operator.getByTestId('alarm-rttMs')

  await rtt.fill('0') // any measured round trip is now an alarm
  await rtt.press('Enter')
  await expect(quality).toHaveAttribute('data-alarms', /rtt/)
  await expect(quality.getByRole('alert')).toBeVisible()

  await rtt.fill('-5')
  await rtt.press('Enter')
  await expect(operator.getByTestId('alarm-invalid')).toBeVisible()
  await expect(quality).toHaveAttribute('data-alarms', /rtt/) // the refused value changed nothing

  await rtt.fill('300')
  await rtt.press('Enter')
  await expect(operator.getByTestId('alarm-invalid')).toBeHidden()
  await expect(quality).toHaveAttribute('data-alarms', '')
})
