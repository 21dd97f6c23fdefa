/** Browsers, the host and the artifact folder for a test file; everything is closed afterwards. */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { type Browser, type BrowserContextOptions, type Page, expect, test } from '@playwright/test'
import { launchChromium, micContext } from './browser'
import { createChannel, joinSession, openConsole, openDevice } from './app'
import { type RunningHost, startHost } from './host'
import { writeToneWav } from './wav'

export const ARTIFACTS = join('artifacts', 'e2e')
mkdirSync(ARTIFACTS, { recursive: true })

export function toneFile(hz: number): string {
  return writeToneWav(join(ARTIFACTS, `tone-${hz}.wav`), hz)
}

export interface Scenario {
  host(): RunningHost
  /** A page in its own browser; `toneHz` feeds that browser's fake microphone. */
  page(options?: {
    toneHz?: number
    context?: BrowserContextOptions
    noMicrophone?: boolean
    grantMicrophone?: boolean
  }): Promise<Page>
}

/** Registers beforeAll/afterAll hooks in the calling test file. */
export function useScenario(): Scenario {
  let host: RunningHost | null = null
  const browsers: Browser[] = []
  test.beforeAll(async () => {
    host = await startHost()
  })
  test.afterEach(async () => {
    for (const b of browsers.splice(0)) await b.close()
  })
  test.afterAll(async () => {
    await host?.stop()
  })
  return {
    host: () => host!,
    async page(options = {}) {
      const browser = await launchChromium({
        ...(options.toneHz ? { microphoneWav: toneFile(options.toneHz) } : {}),
        ...(options.noMicrophone ? { noMicrophone: true } : {}),
        ...(options.grantMicrophone === false ? { realPermissionPrompt: true } : {})
      })
      browsers.push(browser)
      const context =
        options.grantMicrophone === false
          ? await browser.newContext(options.context)
          : await micContext(browser, host!.origin, options.context)
      return context.newPage()
    }
  }
}

/** Device creates a channel, console joins, device starts audio; resolves when both are live. */
export async function liveCall(host: RunningHost, device: Page, operator: Page): Promise<string> {
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
