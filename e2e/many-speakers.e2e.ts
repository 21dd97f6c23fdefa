import { expect, type Page, test } from '@playwright/test'
import { expectSilence, expectTone } from './support/audio'
import { AUDIO, clickConfirmed, createChannel, openConsole, openDevice } from './support/app'
import { useScenario } from './support/scenario'

// One console, three speakers, one microphone track: talk to all, to one, push-to-talk, and one
// session ending without disturbing the others.
const scenario = useScenario()

test('the operator talks to all, to one, with push-to-talk, and one speaker leaving disturbs no other', async () => {
  test.setTimeout(240_000)
  const speakers: { page: Page; sessionid: string }[] = []
  for (let i = 0; i < 3; i++) {
    const page = await scenario.page()
    await openDevice(page, scenario.url('/device'))
    speakers.push({ page, sessionid: await createChannel(page) })
  }
  const operator = await scenario.page({ toneHz: 1000 })
  await openConsole(operator, scenario.url('/console'))
  for (const s of speakers) {
    await operator.getByTestId('console-session-input').fill(s.sessionid)
    await operator.getByTestId('console-join').click()
    await expect(operator.getByTestId(`call-${s.sessionid}`)).toHaveAttribute('data-state', 'joined')
    await expect(s.page.getByTestId('device-web-joined')).toHaveAttribute('data-joined', 'true')
    await s.page.getByTestId('device-start').click()
  }
  for (const s of speakers)
    await expect(operator.getByTestId(`call-${s.sessionid}`)).toHaveAttribute('data-state', 'live')
  await expect(operator.getByTestId('console-transmitting')).toHaveAttribute('data-state', 'true')
  const [a, b, c] = speakers as [(typeof speakers)[0], (typeof speakers)[0], (typeof speakers)[0]]

  // Talk to all: the tone reaches every speaker.
  for (const s of speakers) await expectTone(s.page, AUDIO, 1000)

  // Talk to one: only that speaker hears it.
  await operator.getByTestId(`call-${a.sessionid}`).getByTestId('console-talk-only').click()
  await expectSilence(b.page, AUDIO)
  await expectSilence(c.page, AUDIO)
  const onlyA = await expectTone(a.page, AUDIO, 1000)
  process.stdout.write(`talk to one: ${onlyA.dbfs.toFixed(1)} dBFS at the chosen speaker\n`)

  // Push-to-talk: released means silence everywhere; held means the chosen speakers hear.
  await operator.getByTestId('console-talk-all').click()
  await operator.getByTestId('console-ptt-mode').check()
  await expect(operator.getByTestId('console-transmitting')).toHaveAttribute('data-state', 'false')
  for (const s of speakers) await expectSilence(s.page, AUDIO)
  await operator.getByTestId('console-ptt').hover()
  await operator.mouse.down()
  await expect(operator.getByTestId('console-transmitting')).toHaveAttribute('data-state', 'true')
  for (const s of speakers) await expectTone(s.page, AUDIO, 1000)
  await operator.mouse.up()
  await expect(operator.getByTestId('console-transmitting')).toHaveAttribute('data-state', 'false')
  for (const s of speakers) await expectSilence(s.page, AUDIO)
  await operator.getByTestId('console-ptt-mode').uncheck()

  // One session ends: the other two stay live and keep hearing the tone.
  await clickConfirmed(c.page.getByTestId('device-destroy'))
  await expect(operator.getByTestId(`call-${c.sessionid}`)).toHaveCount(0)
  for (const s of [a, b]) {
    await expect(operator.getByTestId(`call-${s.sessionid}`)).toHaveAttribute('data-state', 'live')
    await expectTone(s.page, AUDIO, 1000)
  }
})

test('two-way intercom: the speaker’s 440 Hz reaches the console while the console’s 1 kHz reaches the speaker', async () => {
  const device = await scenario.page({ toneHz: 440 })
  await openDevice(device, scenario.url('/device'))
  const sessionid = await createChannel(device)
  await device.getByTestId('device-two-way').check()
  const operator = await scenario.page({ toneHz: 1000 })
  await openConsole(operator, scenario.url('/console'))
  await operator.getByTestId('console-session-input').fill(sessionid)
  await operator.getByTestId('console-join').click()
  await expect(device.getByTestId('device-web-joined')).toHaveAttribute('data-joined', 'true')
  await device.getByTestId('device-start').click()
  await expect(operator.getByTestId(`call-${sessionid}`)).toHaveAttribute('data-state', 'live')
  const atConsole = await expectTone(operator, `[data-testid="speaker-audio-${sessionid}"]`, 440)
  const atSpeaker = await expectTone(device, AUDIO, 1000)
  process.stdout.write(
    `two-way: ${atConsole.peakHz.toFixed(0)} Hz at the console (${atConsole.dbfs.toFixed(1)} dBFS), ${atSpeaker.peakHz.toFixed(0)} Hz at the speaker (${atSpeaker.dbfs.toFixed(1)} dBFS)\n`
  )
  // Each speaker's volume applies to its own audio.
  await operator.getByTestId(`call-${sessionid}`).getByTestId('console-volume').fill('0')
  await expect(operator.getByTestId(`speaker-audio-${sessionid}`)).toHaveJSProperty('volume', 0)
})
