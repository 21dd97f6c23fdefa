import { type Browser, type Page, expect, test } from '@playwright/test'
import { AUDIO, createChannel, openDevice } from './support/app'
import { expectTone } from './support/audio'
import { launchChromium, micContext } from './support/browser'
import { type RunningServer, startChannelServer } from './support/channel-server'
import { type RunningHost, startHost } from './support/host'
import { skipInElectron, toneFile } from './support/scenario'

// KT's own flow: the console is given the speaker's ContainerId, authenticates with it (the same
// uuid as the speaker, on a connection of its own) and joins; its tone is heard at the speaker.
// Against a channel server that is not the app's own, so the console cannot share its connection.
let server: RunningServer
let speakerHost: RunningHost
let consoleHost: RunningHost
const browsers: Browser[] = []

test.beforeAll(async () => {
  server = await startChannelServer()
  speakerHost = await startHost(['--server', server.url], { settings: { deviceUuid: 'K-KT-FLOW-1' } })
  consoleHost = await startHost(['--server', server.url])
})

test.afterAll(async () => {
  for (const b of browsers.splice(0)) await b.close()
  await consoleHost?.stop()
  await speakerHost?.stop()
  await server?.stop()
})

async function pageIn(host: RunningHost, toneHz?: number): Promise<Page> {
  const browser = await launchChromium(toneHz ? { microphoneWav: toneFile(toneHz) } : {})
  browsers.push(browser)
  return (await micContext(browser, host.origin)).newPage()
}

test('the console authenticates as the speaker’s ContainerId and joins; its tone is heard at the speaker', async () => {
  skipInElectron('the speaker and the console each need a browser host of their own')
  const device = await pageIn(speakerHost)
  await openDevice(device, speakerHost.at('/device'))
  await device.getByTestId('device-use-container-id').check()
  expect(await createChannel(device)).toBe('K-KT-FLOW-1')

  const operator = await pageIn(consoleHost, 1000)
  await operator.goto(consoleHost.at('/console'))
  await expect(operator.getByTestId('console-connection')).toHaveAttribute('data-state', 'ready')
  await operator.getByTestId('console-container-input').fill('K-KT-FLOW-1')
  await operator.getByTestId('console-join').click()
  await expect(operator.getByTestId('call-K-KT-FLOW-1')).toHaveAttribute('data-state', 'joined')
  await expect(device.getByTestId('device-web-joined')).toHaveAttribute('data-joined', 'true')
  await device.getByTestId('device-start').click()
  await expect(device.getByTestId('device-call-state')).toHaveAttribute('data-state', 'live')
  await expect(operator.getByTestId('call-K-KT-FLOW-1')).toHaveAttribute('data-state', 'live')
  const heard = await expectTone(device, AUDIO, 1000)
  process.stdout.write(
    `ContainerId join: ${heard.peakHz.toFixed(0)} Hz at ${heard.dbfs.toFixed(1)} dBFS at the speaker\n`
  )
})
