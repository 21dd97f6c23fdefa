/**
 * Browsers (or desktop app instances), the host and the artifact folder for a test file; everything
 * is closed afterwards. In the `chromium` project each page is a Chromium browser on the browser
 * host; in the `electron` project each page is the first window of its own app instance, the first
 * instance running the channel server that the later ones are pointed at.
 */
import { mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { type Browser, type BrowserContextOptions, type Page, expect, test } from '@playwright/test'
import { launchChromium, micContext } from './browser'
import { createChannel, joinSession, openConsole, openDevice } from './app'
import { type RunningApp, channelUrlOf, launchElectron, withRoute } from './electron'
import { type RunningHost, startHost } from './host'
import { writeToneWav } from './wav'

export const ARTIFACTS = join('artifacts', 'e2e')
mkdirSync(ARTIFACTS, { recursive: true })

export function toneFile(hz: number): string {
  return writeToneWav(join(ARTIFACTS, `tone-${hz}.wav`), hz)
}

export interface Scenario {
  host(): RunningHost
  /** The app at a route (`/device`, `/console`) in this project: the browser host's URL or the app window's. */
  url(route: string): string
  /**
   * A page in its own browser (or app instance); `toneHz` feeds its fake microphone. `context`,
   * `noMicrophone`, `grantMicrophone` and `loopbackIce` apply to browsers only: the app's own
   * windows have no such choice.
   */
  page(options?: {
    toneHz?: number
    context?: BrowserContextOptions
    noMicrophone?: boolean
    grantMicrophone?: boolean
    loopbackIce?: boolean
  }): Promise<Page>
}

/** Whether the running test drives the desktop app rather than Chromium. */
export function inElectron(): boolean {
  return test.info().project.name === 'electron'
}

/** Skips the calling test in the `electron` project, with the reason it does not apply there. */
export function skipInElectron(reason: string): void {
  test.skip(inElectron(), reason)
}

// Pages that are app windows: liveCall() keeps them on their own file:// page.
const appWindows = new WeakSet<Page>()

function electronPath(): string {
  const path = test.info().project.metadata['electronPath']
  if (typeof path !== 'string') throw new Error('the electron project has no electronPath')
  return path
}

/** Registers beforeAll/afterAll hooks in the calling test file; `hostArgs` go to the browser host. */
export function useScenario(options: { hostArgs?: string[] } = {}): Scenario {
  let host: RunningHost | null = null
  const browsers: Browser[] = []
  const apps: RunningApp[] = []
  let channelUrl: string | null = null
  let appPage: string | null = null
  test.beforeAll(async () => {
    host = await startHost(options.hostArgs)
  })
  test.afterEach(async () => {
    for (const b of browsers.splice(0)) await b.close()
    // Later instances first: the first one holds the channel server they use.
    for (const a of apps.splice(0).reverse()) await a.close()
    channelUrl = null
  })
  test.afterAll(async () => {
    await host?.stop()
  })
  return {
    host: () => host!,
    url(route) {
      if (!inElectron()) return host!.at(route)
      return withRoute(appPage ?? pathToFileURL(resolve('out/renderer/index.html')).href, route)
    },
    async page(options = {}) {
      if (inElectron()) {
        const running = await launchElectron(electronPath(), {
          ...(options.toneHz ? { microphoneWav: toneFile(options.toneHz) } : {}),
          ...(channelUrl ? { serverUrl: channelUrl } : {})
        })
        apps.push(running)
        channelUrl ??= await channelUrlOf(running.window)
        appPage ??= running.window.url()
        appWindows.add(running.window)
        return running.window
      }
      const browser = await launchChromium({
        ...(options.toneHz ? { microphoneWav: toneFile(options.toneHz) } : {}),
        ...(options.noMicrophone ? { noMicrophone: true } : {}),
        ...(options.grantMicrophone === false ? { realPermissionPrompt: true } : {}),
        ...(options.loopbackIce ? { loopbackIce: true } : {})
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

function urlFor(host: RunningHost, page: Page, route: string): string {
  return appWindows.has(page) ? withRoute(page.url(), route) : host.at(route)
}

/** Device creates a channel, console joins, device starts audio; resolves when both are live. */
export async function liveCall(host: RunningHost, device: Page, operator: Page): Promise<string> {
  await openDevice(device, urlFor(host, device, '/device'))
  const sessionid = await createChannel(device)
  await openConsole(operator, urlFor(host, operator, '/console'))
  await joinSession(operator, sessionid)
  await expect(device.getByTestId('device-web-joined')).toHaveAttribute('data-joined', 'true')
  await device.getByTestId('device-start').click()
  await expect(device.getByTestId('device-call-state')).toHaveAttribute('data-state', 'live')
  await expect(operator.getByTestId(`call-${sessionid}`)).toHaveAttribute('data-state', 'live')
  return sessionid
}
