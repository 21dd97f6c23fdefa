import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { type Browser, type Page, expect, test } from '@playwright/test'
import { AUDIO, clickConfirmed, createChannel, openDevice } from './support/app'
import { expectSilence, expectTone, firstHeard, measureAudio, recordPeaks } from './support/audio'
import { launchChromium, micContext } from './support/browser'
import { type RunningServer, startChannelServer } from './support/channel-server'
import { type RunningHost, hostDataDir, startHost } from './support/host'
import { ARTIFACTS, skipInElectron, toneFile } from './support/scenario'
import { writeToneWav } from './support/wav'

// A building's console: saved speakers in zones on a channel server with presence, kept across a
// restart of the console's host; zone push-to-talk by keyboard with the chime first; a recorded
// message to one zone; a speaker going away and coming back. The speakers run on hosts of their
// own, so that restarting the console's host leaves their channels alone.
const OPERATOR_TOKEN = 'e2e-operator-token'
const SINGLE_CHIME_HZ = 1568
const MIC_HZ = 1000
const MESSAGE_HZ = 700

let server: RunningServer
let speakersAB: RunningHost
let speakerC: RunningHost
const browsers: Browser[] = []

test.beforeAll(async () => {
  server = await startChannelServer(['--operator-token', OPERATOR_TOKEN])
  speakersAB = await startHost(['--server', server.url], { settings: { autoStartAudio: true } })
  // Speaker C makes its channel with its ContainerId: the same session id each time it comes back.
  speakerC = await startHost(['--server', server.url], {
    settings: { autoStartAudio: true, deviceUuid: 'K-HALL-C' }
  })
})

test.afterAll(async () => {
  for (const b of browsers.splice(0)) await b.close()
  await speakersAB?.stop()
  await speakerC?.stop()
  await server?.stop()
})

async function pageIn(host: RunningHost, toneHz?: number): Promise<Page> {
  const browser = await launchChromium(toneHz ? { microphoneWav: toneFile(toneHz) } : {})
  browsers.push(browser)
  return (await micContext(browser, host.origin, { viewport: { width: 1280, height: 1400 } })).newPage()
}

async function openConsoleAt(page: Page, host: RunningHost): Promise<void> {
  await page.goto(host.at('/console'))
  await expect(page.getByTestId('console-connection')).toHaveAttribute('data-state', 'ready')
}

test('saved speakers in zones are rejoined after a restart; zone push-to-talk, chime, message, and a speaker coming back', async () => {
  skipInElectron('the speakers and the console each need a browser host of their own')
  test.setTimeout(300_000)
  const dataDir = hostDataDir()
  let consoleHost = await startHost(['--server', server.url, '--operator-token', OPERATOR_TOKEN], {
    dataDir,
    settings: { language: 'en' }
  })
  try {
    const a = await pageIn(speakersAB)
    const b = await pageIn(speakersAB)
    const c = await pageIn(speakerC)
    await openDevice(a, speakersAB.at('/device'))
    await openDevice(b, speakersAB.at('/device'))
    await openDevice(c, speakerC.at('/device'))
    const sa = await createChannel(a)
    const sb = await createChannel(b)
    await c.getByTestId('device-use-container-id').check()
    expect(await createChannel(c)).toBe('K-HALL-C')

    // The building's list, entered once: three speakers in two zones.
    const operator = await pageIn(consoleHost, MIC_HZ)
    await openConsoleAt(operator, consoleHost)
    await operator.getByTestId('directory-import-file').setInputFiles({
      name: 'speakers.csv',
      mimeType: 'text/csv',
      buffer: Buffer.from(
        [
          'name,note,containerId,sessionId,zones',
          `Lobby A,1F east,,${sa},Zone 1`,
          `Lobby B,1F west,,${sb},Zone 1`,
          'Hall C,2F,,K-HALL-C,Zone 2'
        ].join('\r\n')
      )
    })
    await expect(operator.getByTestId('directory-imported')).toContainText('3 added')
    await expect(operator.getByTestId('directory-mode')).toHaveAttribute('data-mode', 'presence')
    for (const id of [sa, sb, 'K-HALL-C'])
      await expect(operator.getByTestId(`call-${id}`)).toHaveAttribute('data-state', 'live')

    // Restart the console's host: the speakers are rejoined with no typing.
    await consoleHost.stop()
    consoleHost = await startHost(['--server', server.url, '--operator-token', OPERATOR_TOKEN], { dataDir })
    await openConsoleAt(operator, consoleHost)
    for (const id of [sa, sb, 'K-HALL-C'])
      await expect(operator.getByTestId(`call-${id}`)).toHaveAttribute('data-state', 'live')
    for (const name of ['Lobby A', 'Lobby B', 'Hall C'])
      await expect(operator.getByTestId(`entry-${name}`)).toHaveAttribute('data-status', 'inCall')

    // Nobody hears the operator until a zone is held (push-to-talk), with the single chime.
    await operator.getByTestId('chime').selectOption('single')
    await operator.getByTestId('console-ptt-mode').check()
    for (const s of [a, b, c]) await expectSilence(s, AUDIO)
    for (const id of [sa, sb, 'K-HALL-C'])
      await expect(operator.getByTestId(`call-${id}`)).toHaveAttribute('data-hearing', 'false')

    // Hold key 1 (zone 1): the chime's frequency first, then the microphone's tone, in zone 1 only.
    const recording = recordPeaks(a, AUDIO, 3_500)
    await operator.locator('body').click({ position: { x: 5, y: 5 } }) // focus on the page, not a field
    await operator.keyboard.down('1')
    const timeline = await recording
    const chimeAt = firstHeard(timeline, SINGLE_CHIME_HZ)
    const micAt = firstHeard(timeline, MIC_HZ)
    process.stdout.write(
      `zone 1: chime heard at ${chimeAt.toFixed(0)} ms, microphone at ${micAt.toFixed(0)} ms\n`
    )
    expect(chimeAt).toBeGreaterThanOrEqual(0)
    expect(micAt).toBeGreaterThan(chimeAt)
    await expectTone(a, AUDIO, MIC_HZ)
    await expectTone(b, AUDIO, MIC_HZ)
    await expectSilence(c, AUDIO)
    await expect(operator.getByTestId(`call-${sa}`)).toHaveAttribute('data-hearing', 'true')
    await expect(operator.getByTestId(`call-${sb}`)).toHaveAttribute('data-hearing', 'true')
    await expect(operator.getByTestId('call-K-HALL-C')).toHaveAttribute('data-hearing', 'false')
    await operator.keyboard.up('1')
    await expectSilence(a, AUDIO)
    await expect(operator.getByTestId(`call-${sa}`)).toHaveAttribute('data-hearing', 'false')

    // A recorded message to zone 2: its tone is heard at zone 2's speaker only.
    const message = writeToneWav(join(ARTIFACTS, `message-${MESSAGE_HZ}.wav`), MESSAGE_HZ, 6)
    await operator.getByTestId('message-file').setInputFiles(message)
    await operator.getByTestId('message-zone').selectOption({ label: 'Zone 2' })
    await operator.getByTestId('message-play').click()
    const atC = await expectTone(c, AUDIO, MESSAGE_HZ)
    await expect(operator.getByTestId('bus-playing')).toHaveAttribute('data-playing', 'message')
    await expect(operator.getByTestId('call-K-HALL-C')).toHaveAttribute('data-hearing', 'true')
    expect((await measureAudio(a, AUDIO)).dbfs).toBeLessThan(-70)
    process.stdout.write(`message: ${atC.peakHz.toFixed(0)} Hz at ${atC.dbfs.toFixed(1)} dBFS in zone 2\n`)
    await operator.getByTestId('message-stop').click()

    // Screenshots of the directory, zones and announcement controls, in English and Korean.
    for (const lang of ['en', 'ko'] as const) {
      await operator.getByTestId('language').selectOption(lang)
      await expect(operator.getByTestId('language')).toHaveAttribute('data-saved', 'true')
      for (const part of ['directory', 'zones', 'announcements'])
        await operator.getByTestId(part).screenshot({ path: join(ARTIFACTS, `console-${part}-${lang}.png`) })
    }
    await operator.getByTestId('language').selectOption('en')

    // Speaker C goes away: off line. It comes back: rejoined, live again.
    await clickConfirmed(c.getByTestId('device-destroy'))
    await expect(operator.getByTestId('entry-Hall C')).toHaveAttribute('data-status', 'offline')
    await expect(operator.getByTestId('call-K-HALL-C')).toHaveCount(0)
    expect(await createChannel(c)).toBe('K-HALL-C')
    await expect(operator.getByTestId('call-K-HALL-C')).toHaveAttribute('data-state', 'live')
    await expect(operator.getByTestId('entry-Hall C')).toHaveAttribute('data-status', 'inCall')

    // Presence: a new speaker appears in the console within 2 s of creating its channel.
    const d = await pageIn(speakersAB)
    await openDevice(d, speakersAB.at('/device'))
    const deviceUuid = (await d.getByTestId('device-uuid').textContent())!.trim()
    const created = Date.now()
    await createChannel(d)
    const fresh = operator.getByTestId(`new-speaker-${deviceUuid}`)
    await expect(fresh).toBeVisible({ timeout: 2_000 })
    process.stdout.write(
      `presence: the new speaker shown ${Date.now() - created} ms after creating its channel\n`
    )
    // One click adds it to the directory.
    await fresh.getByTestId('new-speaker-add').click()
    await expect(operator.getByTestId(`entry-${deviceUuid}`)).toBeVisible()
    await expect(fresh).toHaveCount(0)
  } finally {
    await consoleHost.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
})

/** A console page on a browser host of its own (English), started with these zones. */
/** A saved speaker as the settings hold it. */
interface SpeakerEntry {
  id: string
  name: string
  note: string
  containerId: string
  sessionid: string
  zones: string[]
}

async function consoleWithZones(
  zones: { id: string; name: string }[],
  directory: SpeakerEntry[] = []
): Promise<{ host: RunningHost; page: Page }> {
  const host = await startHost(['--server', server.url], { settings: { language: 'en', zones, directory } })
  const page = await pageIn(host)
  await openConsoleAt(page, host)
  return { host, page }
}

test('zones are added and renamed with the keyboard alone, the new name kept after a reload; Escape cancels', async () => {
  skipInElectron('a console on a browser host of its own')
  // One place short of the zone limit, so that the second zone added is refused.
  const floors = Array.from({ length: 63 }, (_, i) => ({ id: `Z-F${i + 1}`, name: `Floor ${i + 1}` }))
  const { host, page } = await consoleWithZones(floors)
  try {
    const name = page.getByTestId('zone-name')
    const addProblem = page.getByTestId('zone-add-problem')
    await name.focus()
    await page.keyboard.press('Enter')
    await expect(addProblem).toHaveText('Enter a name for the zone.')
    await page.keyboard.type('Lobby')
    await page.keyboard.press('Enter')
    await expect(page.getByTestId('zone-Lobby')).toBeVisible()
    await expect(addProblem).toHaveCount(0)
    await page.keyboard.type('Annex')
    await page.keyboard.press('Enter')
    await expect(addProblem).toHaveText('No zone was added: at most 64 zones can be saved.')
    await expect(page.getByTestId('zone-Annex')).toHaveCount(0)

    // Back from the field to the last zone's Rename button (past its Remove button).
    await page.keyboard.press('Shift+Tab')
    await page.keyboard.press('Shift+Tab')
    await expect(page.getByTestId('zone-Lobby').getByTestId('zone-rename')).toBeFocused()

    // Escape leaves the name as it was, and the focus where it started.
    await page.keyboard.press('Enter')
    const field = page.getByRole('textbox', { name: 'New name for zone Lobby' })
    await expect(field).toBeFocused()
    await expect(field).toHaveValue('Lobby')
    await page.keyboard.type('Nope')
    await page.keyboard.press('Escape')
    await expect(field).toHaveCount(0)
    await expect(page.getByTestId('zone-Lobby').getByTestId('zone-rename')).toBeFocused()
    await expect(page.getByTestId('zone-Nope')).toHaveCount(0)

    // An empty name is refused, with the reason; the field stays open.
    await page.keyboard.press('Enter')
    await expect(field).toBeFocused()
    await page.keyboard.press('Backspace')
    await page.keyboard.press('Enter')
    await expect(page.getByTestId('zone-rename-problem')).toHaveText('Enter a name for the zone.')
    await expect(field).toHaveAccessibleDescription('Enter a name for the zone.')
    await expect(field).toBeFocused()

    await page.keyboard.type('Main hall')
    await page.keyboard.press('Enter')
    const renamed = page.getByTestId('zone-Main hall')
    await expect(renamed.locator('strong')).toHaveText('Main hall')
    await expect(renamed.getByTestId('zone-rename')).toBeFocused()
    await expect(page.getByTestId('zone-Lobby')).toHaveCount(0)

    await page.reload()
    await expect(page.getByTestId('console-connection')).toHaveAttribute('data-state', 'ready')
    await expect(page.getByTestId('zone-Main hall').locator('strong')).toHaveText('Main hall')
    await expect(page.getByTestId('zone-Lobby')).toHaveCount(0)
  } finally {
    await host.stop()
  }
})

test('push-to-talk keys work with a checkbox focused: a digit holds its zone, Space talks once push-to-talk is ticked', async () => {
  skipInElectron('a console on a browser host of its own')
  const { host, page } = await consoleWithZones([{ id: 'Z-LOBBY', name: 'Lobby' }])
  try {
    const mode = page.getByTestId('console-ptt-mode')
    const lobbyHold = page.getByTestId('zone-Lobby').getByTestId('zone-ptt')
    await mode.focus()
    await page.keyboard.down('1')
    await expect(lobbyHold).toHaveAttribute('aria-pressed', 'true')
    await page.keyboard.up('1')
    await expect(lobbyHold).toHaveAttribute('aria-pressed', 'false')
    await expect(mode).not.toBeChecked()

    // Ticked with the mouse, then Space: the operator talks, push-to-talk stays on.
    await mode.click()
    const hold = page.getByTestId('console-ptt')
    await expect(hold).toBeFocused()
    await page.keyboard.down('Space')
    await expect(hold).toHaveAttribute('aria-pressed', 'true')
    await page.keyboard.up('Space')
    await expect(hold).toHaveAttribute('aria-pressed', 'false')
    await expect(mode).toBeChecked()
  } finally {
    await host.stop()
  }
})

test('a connection without the operator token is refused the list of sessions (403)', async () => {
  skipInElectron('a plain page against the headless channel server')
  const page = await pageIn(speakersAB)
  await page.goto(speakersAB.at('/'))
  const replies = await page.evaluate(
    async ({ url, token }) => {
      const ws = new WebSocket(url)
      const frames: Record<string, unknown>[] = []
      const next = (pred: (f: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> =>
        new Promise((resolve) => {
          const found = frames.find(pred)
          if (found) return resolve(found)
          ws.addEventListener('message', function on(ev) {
            const f = JSON.parse(String(ev.data)) as Record<string, unknown>
            if (pred(f)) {
              ws.removeEventListener('message', on)
              resolve(f)
            }
          })
        })
      ws.addEventListener('message', (ev) =>
        frames.push(JSON.parse(String(ev.data)) as Record<string, unknown>)
      )
      await next((f) => f.operation === 'iam')
      ws.send(JSON.stringify({ msgtype: 'request', operation: 'auth', uuid: 'W-NOSY', trxid: 'a' }))
      await next((f) => f.trxid === 'a')
      const ask = async (trxid: string, extra: Record<string, unknown>): Promise<Record<string, unknown>> => {
        ws.send(JSON.stringify({ msgtype: 'request', operation: 'list_sessions', trxid, ...extra }))
        return next((f) => f.trxid === trxid)
      }
      const without = await ask('b', {})
      const wrong = await ask('c', { operator_token: 'guess' })
      const right = await ask('d', { operator_token: token })
      ws.close()
      return { without, wrong, right }
    },
    { url: server.url, token: OPERATOR_TOKEN }
  )
  expect(replies.without).toMatchObject({ result_cd: 403, operation: 'list_sessions' })
  expect(replies.without['sessions']).toBeUndefined()
  expect(replies.wrong).toMatchObject({ result_cd: 403 })
  expect(replies.right).toMatchObject({ result_cd: 200 })
})

test('removing a zone asks first: dismissed, the zone stays; confirmed, it goes', async () => {
  skipInElectron('a console on a browser host of its own')
  const { host, page } = await consoleWithZones([{ id: 'Z-LOBBY', name: 'Lobby' }])
  try {
    const zone = page.getByTestId('zone-Lobby')
    let asked = ''
    page.once('dialog', (d) => {
      asked = d.message()
      void d.dismiss()
    })
    await zone.getByTestId('zone-remove').click()
    await expect.poll(() => asked).toBe('Remove zone Lobby? Its speakers stay in the directory.')
    await expect(zone).toBeVisible()
    await clickConfirmed(zone.getByTestId('zone-remove'))
    await expect(zone).toHaveCount(0)
  } finally {
    await host.stop()
  }
})

test('the buttons in each zone and speaker row are named after it, keeping their visible text', async () => {
  skipInElectron('a console on a browser host of its own')
  const speaker = (id: string, name: string, zones: string[]): SpeakerEntry => ({
    id,
    name,
    note: '',
    containerId: `K-${id}`,
    sessionid: '',
    zones
  })
  const { host, page } = await consoleWithZones(
    [
      { id: 'Z-LOBBY', name: 'Lobby' },
      { id: 'Z-ANNEX', name: 'Annex' }
    ],
    [speaker('E-ALICE', 'Alice', ['Z-LOBBY']), speaker('E-BOB', 'Bob', ['Z-ANNEX'])]
  )
  try {
    const zoneButtons = [
      ['zone-talk', 'Talk to zone', 'Talk to zone {name}'],
      ['zone-ptt', 'Hold to talk', 'Hold to talk to zone {name}'],
      ['zone-rename', 'Rename', 'Rename zone {name}'],
      ['zone-remove', 'Remove zone', 'Remove zone {name}']
    ] as const
    for (const name of ['Lobby', 'Annex'])
      for (const [testid, text, label] of zoneButtons) {
        const button = page.getByTestId(`zone-${name}`).getByTestId(testid)
        await expect(button).toHaveText(text)
        await expect(button).toHaveAccessibleName(label.replace('{name}', name))
      }
    const all = page.getByTestId('zone-all')
    await expect(all.getByTestId('zone-talk')).toHaveAccessibleName('Talk to zone All-call')
    await expect(all.getByTestId('zone-ptt')).toHaveAccessibleName('Hold to talk to zone All-call')

    for (const name of ['Alice', 'Bob']) {
      const row = page.getByTestId(`entry-${name}`)
      await expect(row.getByTestId('entry-edit')).toHaveText('Edit')
      await expect(row.getByTestId('entry-edit')).toHaveAccessibleName(`Edit speaker ${name}`)
      await expect(row.getByTestId('entry-remove')).toHaveText('Remove')
      await expect(row.getByTestId('entry-remove')).toHaveAccessibleName(`Remove speaker ${name}`)
    }

    // A name picks out one row's button, and that button acts on its own row.
    await page.getByRole('button', { name: 'Edit speaker Bob', exact: true }).click()
    await expect(page.getByTestId('directory-name')).toHaveValue('Bob')
    await page.getByRole('button', { name: 'Rename zone Annex', exact: true }).click()
    await expect(page.getByRole('textbox', { name: 'New name for zone Annex' })).toBeFocused()
  } finally {
    await host.stop()
  }
})
