/**
 * Real Chromium (Debian's package) with a fake microphone fed from a WAV file. The fake capture
 * file is per browser process, so each side that needs its own tone gets its own browser.
 */
import { existsSync } from 'node:fs'
import { type Browser, type BrowserContext, type BrowserContextOptions, chromium } from '@playwright/test'

export const CHROMIUM_PATH =
  process.env['CHROMIUM_PATH'] ??
  ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p))

const QUIET_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--autoplay-policy=no-user-gesture-required'
]

export interface LaunchOptions {
  /** WAV file for the fake microphone; without it the fake device plays its own beep. */
  microphoneWav?: string
  /** Omit the fake device entirely (getUserMedia then finds no microphone). */
  noMicrophone?: boolean
  /** Leave permission prompts to the context's grants (none: the microphone is denied). */
  realPermissionPrompt?: boolean
  /** Let ICE gather 127.0.0.1 candidates too (pages with microphone permission only). */
  loopbackIce?: boolean
}

export async function launchChromium(options: LaunchOptions = {}): Promise<Browser> {
  if (!CHROMIUM_PATH)
    throw new Error('Chromium not found: install it (apt-get install -y chromium) or set CHROMIUM_PATH')
  const media = [
    ...(options.noMicrophone ? [] : ['--use-fake-device-for-media-stream']),
    ...(options.realPermissionPrompt ? [] : ['--use-fake-ui-for-media-stream']),
    ...(options.microphoneWav ? [`--use-file-for-fake-audio-capture=${options.microphoneWav}`] : []),
    ...(options.loopbackIce ? ['--allow-loopback-in-peer-connection'] : [])
  ]
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: [...QUIET_FLAGS, ...media] })
}

/** A context allowed to use the microphone on the app's origin. */
export async function micContext(
  browser: Browser,
  origin: string,
  options: BrowserContextOptions = {}
): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 820 }, ...options })
  await context.grantPermissions(['microphone'], { origin })
  return context
}
