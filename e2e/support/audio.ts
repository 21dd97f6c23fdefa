/**
 * Detects a tone in the audio a page receives, with the test's own WebAudio code (not the app's):
 * AnalyserNode over the stream playing in an <audio> element, peak frequency and RMS level.
 */
import { expect, type Page } from '@playwright/test'

export interface ToneReading {
  peakHz: number
  dbfs: number
}

/** Measures the stream of the first <audio> matching `selector` over ~`ms` milliseconds. */
export async function measureAudio(page: Page, selector: string, ms = 600): Promise<ToneReading> {
  return page.evaluate(
    async ({ selector, ms }) => {
      const el = document.querySelector(selector) as HTMLAudioElement | null
      const stream = el?.srcObject
      if (!(stream instanceof MediaStream) || stream.getAudioTracks().length === 0)
        return { peakHz: 0, dbfs: -200 }
      const ctx = new AudioContext()
      await ctx.resume()
      const source = ctx.createMediaStreamSource(stream)
      const analyser = ctx.createAnalyser()
      analyser.fftSize = 8192
      analyser.smoothingTimeConstant = 0
      source.connect(analyser)
      const time = new Float32Array(analyser.fftSize)
      const freq = new Float32Array(analyser.frequencyBinCount)
      const spectrum = new Float32Array(analyser.frequencyBinCount).fill(0)
      let sumSquares = 0
      let n = 0
      const end = performance.now() + ms
      while (performance.now() < end) {
        await new Promise((r) => setTimeout(r, 50))
        analyser.getFloatTimeDomainData(time)
        for (const v of time) sumSquares += v * v
        n += time.length
        analyser.getFloatFrequencyData(freq)
        for (let i = 0; i < freq.length; i++) spectrum[i]! += Math.pow(10, freq[i]! / 10)
      }
      let best = 1
      for (let i = 1; i < spectrum.length; i++) if (spectrum[i]! > spectrum[best]!) best = i
      source.disconnect()
      await ctx.close()
      const rms = Math.sqrt(sumSquares / Math.max(1, n))
      return {
        peakHz: (best * ctx.sampleRate) / analyser.fftSize,
        dbfs: rms > 0 ? 20 * Math.log10(rms) : -200
      }
    },
    { selector, ms }
  )
}

/** Waits until the tone is heard (peak within ±tolerance Hz, level above minDbfs); returns the reading. */
export async function expectTone(
  page: Page,
  selector: string,
  hz: number,
  { toleranceHz = 50, minDbfs = -60, timeoutMs = 15_000 } = {}
): Promise<ToneReading> {
  let last: ToneReading = { peakHz: 0, dbfs: -200 }
  await expect
    .poll(
      async () => {
        last = await measureAudio(page, selector)
        return Math.abs(last.peakHz - hz) <= toleranceHz && last.dbfs > minDbfs
      },
      { timeout: timeoutMs, intervals: [100] }
    )
    .toBe(true)
  return last
}

/** Waits until the audio is silent (below maxDbfs) and stays so for a second measurement. */
export async function expectSilence(
  page: Page,
  selector: string,
  { maxDbfs = -70, timeoutMs = 15_000 } = {}
): Promise<ToneReading> {
  await expect
    .poll(async () => (await measureAudio(page, selector)).dbfs, { timeout: timeoutMs, intervals: [100] })
    .toBeLessThan(maxDbfs)
  const confirm = await measureAudio(page, selector)
  expect(confirm.dbfs).toBeLessThan(maxDbfs)
  return confirm
}

export interface PeakSample {
  /** ms since the recording started */
  at: number
  peakHz: number
  dbfs: number
}

/**
 * Records the peak frequency and level of what a page receives every ~40 ms for `ms` ms (short
 * FFT windows, so that a tone that follows another is seen in order). Start it, act, then await it.
 */
export async function recordPeaks(page: Page, selector: string, ms: number): Promise<PeakSample[]> {
  return page.evaluate(
    async ({ selector, ms }) => {
      const el = document.querySelector(selector) as HTMLAudioElement | null
      const stream = el?.srcObject
      if (!(stream instanceof MediaStream)) return []
      const ctx = new AudioContext()
      await ctx.resume()
      const source = ctx.createMediaStreamSource(stream)
      const analyser = ctx.createAnalyser()
      analyser.fftSize = 4096
      analyser.smoothingTimeConstant = 0
      source.connect(analyser)
      const time = new Float32Array(analyser.fftSize)
      const freq = new Float32Array(analyser.frequencyBinCount)
      const out: { at: number; peakHz: number; dbfs: number }[] = []
      const start = performance.now()
      while (performance.now() - start < ms) {
        await new Promise((r) => setTimeout(r, 40))
        analyser.getFloatTimeDomainData(time)
        let sum = 0
        for (const v of time) sum += v * v
        const rms = Math.sqrt(sum / time.length)
        analyser.getFloatFrequencyData(freq)
        let best = 1
        for (let i = 1; i < freq.length; i++) if (freq[i]! > freq[best]!) best = i
        out.push({
          at: performance.now() - start,
          peakHz: (best * ctx.sampleRate) / analyser.fftSize,
          dbfs: rms > 0 ? 20 * Math.log10(rms) : -200
        })
      }
      source.disconnect()
      await ctx.close()
      return out
    },
    { selector, ms }
  )
}

/** When a tone (±toleranceHz, above minDbfs) is first heard in a recording, or -1. */
export function firstHeard(samples: PeakSample[], hz: number, toleranceHz = 25, minDbfs = -50): number {
  return samples.find((s) => Math.abs(s.peakHz - hz) <= toleranceHz && s.dbfs > minDbfs)?.at ?? -1
}
