/**
 * The desktop app itself under test (the `electron` project, where the Electron runtime is
 * installed): one app instance per page, each with its own fake microphone and user-data folder.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { type ElectronApplication, type Page, _electron } from '@playwright/test'

export interface ElectronLaunchOptions {
  /** WAV file for the fake microphone; without it the fake device plays its own beep. */
  microphoneWav?: string
  /** Another instance's channel server; without it the instance starts its embedded one. */
  serverUrl?: string
}

export interface RunningApp {
  /** The app's first window, showing its built pages from file://. */
  window: Page
  close(): Promise<void>
}

export async function launchElectron(
  executablePath: string,
  options: ElectronLaunchOptions = {}
): Promise<RunningApp> {
  // Its own user-data folder per instance: the single-instance lock is held per folder, so a second
  // instance on the default folder would hand over to the first and quit.
  const userDataDir = mkdtempSync(join(tmpdir(), 'genie-bridge-electron-'))
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v
  delete env['ELECTRON_RUN_AS_NODE'] // would start the binary as plain Node
  let app: ElectronApplication | null = null
  try {
    app = await _electron.launch({
      executablePath,
      args: [
        '.',
        `--user-data-dir=${userDataDir}`,
        '--use-fake-device-for-media-stream',
        '--use-fake-ui-for-media-stream',
        ...(options.microphoneWav
          ? [`--use-file-for-fake-audio-capture=${resolve(options.microphoneWav)}`]
          : []),
        '--disable-gpu',
        '--autoplay-policy=no-user-gesture-required',
        ...(options.serverUrl ? ['--server', options.serverUrl] : [])
      ],
      env
    })
    const window = await app.firstWindow()
    await window.waitForURL((url) => url.protocol === 'file:')
    const running = app
    return {
      window,
      close: async () => {
        await running.close()
        rmSync(userDataDir, { recursive: true, force: true })
      }
    }
  } catch (e) {
    await app?.close().catch(() => undefined)
    rmSync(userDataDir, { recursive: true, force: true })
    throw e
  }
}

/** The embedded channel server of the instance showing `window`, as the app reports it. */
export async function channelUrlOf(window: Page): Promise<string> {
  const outcome = await window.evaluate(() =>
    (
      window as unknown as {
        api: { appInfo(): Promise<{ ok: boolean; value?: { channelUrl: string | null } }> }
      }
    ).api.appInfo()
  )
  const url = outcome.value?.channelUrl
  if (!outcome.ok || !url) throw new Error('the first app instance reports no embedded channel server')
  return url
}

/** The same page of the app at another route: all windows load one file, views are hash routes. */
export function withRoute(url: string, route: string): string {
  return `${url.split('#')[0]}#${route}`
}
