/**
 * Debian's Chromium, launched the way the E2E runs launch it (e2e/support/browser.ts: the same quiet
 * flags and fake media devices), and the 1 kHz tone its fake microphone plays.
 */
import { existsSync } from 'node:fs'
import { type Browser, type BrowserContext, chromium } from 'playwright-core'

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

/**
 * One browser process; `microphoneWav` feeds its fake microphone (the capture file is per process,
 * which is why each side of a call gets a browser of its own). Playwright kills the browser when
 * this process exits, and the browser exits by itself when this process dies (its control pipe closes).
 */
export async function launchChromium(microphoneWav?: string): Promise<Browser> {
  if (!CHROMIUM_PATH)
    throw new Error('Chromium not found: install it (apt-get install -y chromium) or set CHROMIUM_PATH')
  const media = [
    '--use-fake-device-for-media-stream',
    '--use-fake-ui-for-media-stream',
    ...(microphoneWav ? [`--use-file-for-fake-audio-capture=${microphoneWav}`] : [])
  ]
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: [...QUIET_FLAGS, ...media] })
}

/** A context allowed to use the microphone on `origin`. */
export async function micContext(browser: Browser, origin: string): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 820 } })
  await context.grantPermissions(['microphone'], { origin })
  return context
}

/** A mono 16-bit PCM WAV of a sine tone (as e2e/support/wav.ts writes for the E2E runs). */
export function toneWav(hz: number, seconds = 30, amplitude = 0.5, sampleRate = 48_000): Buffer {
  const samples = Math.round(seconds * sampleRate)
  const buf = Buffer.alloc(44 + samples * 2)
  buf.write('RIFF', 0, 'ascii')
  buf.writeUInt32LE(36 + samples * 2, 4)
  buf.write('WAVE', 8, 'ascii')
  buf.write('fmt ', 12, 'ascii')
  buf.writeUInt32LE(16, 16) // PCM header size
  buf.writeUInt16LE(1, 20) // PCM
  buf.writeUInt16LE(1, 22) // mono
  buf.writeUInt32LE(sampleRate, 24)
  buf.writeUInt32LE(sampleRate * 2, 28) // byte rate
  buf.writeUInt16LE(2, 32) // block align
  buf.writeUInt16LE(16, 34) // bits per sample
  buf.write('data', 36, 'ascii')
  buf.writeUInt32LE(samples * 2, 40)
  for (let i = 0; i < samples; i++) {
    const v = Math.sin((2 * Math.PI * hz * i) / sampleRate) * amplitude
    buf.writeInt16LE(Math.round(v * 32767), 44 + i * 2)
  }
  return buf
}
