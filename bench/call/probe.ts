/**
 * The Node side of pages/probe.js: installing it in a browser context, arming it before the click
 * and reading what it measured. Every time is taken in the page, on its own clock, so that neither
 * Playwright's round trips nor the load on the runner's process enter the figures.
 */
import { readFileSync } from 'node:fs'
import type { BrowserContext, Page } from 'playwright-core'

const PROBE_SOURCE = readFileSync(new URL('./pages/probe.js', import.meta.url), 'utf8')

/** What the fake microphone plays and how it is recognised at the far side. */
export const TONE = { hz: 1000, toleranceHz: 50, minDbfs: -60 } as const

/** Installs the probe in every page of `context`; `readySelector` is timed from navigation start. */
export async function installProbe(context: BrowserContext, readySelector?: string): Promise<void> {
  const watch = readySelector ? `\nwindow.__callProbe.watchReady(${JSON.stringify(readySelector)})\n` : ''
  await context.addInitScript({ content: PROBE_SOURCE + watch })
}

/** What probe.js puts on the page's window. */
interface ProbeWindow {
  __callProbe: { readyAt: number | null; call: ProbeState | null; takeMarks(): Mark[] }
}

/** A WebRTC step of a page, at wall-clock ms (comparable across the pages of one machine). */
export interface Mark {
  name: string
  at: number
}

// Predicates run in the page are functions, not strings: Playwright evaluates a string predicate
// with eval, which the app's Content Security Policy forbids. They are serialised on their own, so
// they name nothing of this module; globalThis is the page's window there.

/** Milliseconds from navigation start until `readySelector` matched; waits for it. */
export async function readyAfterMs(page: Page, timeoutMs: number): Promise<number> {
  const handle = await page.waitForFunction(
    () => (globalThis as unknown as ProbeWindow).__callProbe.readyAt,
    undefined,
    {
      timeout: timeoutMs,
      polling: 100
    }
  )
  return (await handle.jsonValue()) as number
}

export interface CallReading {
  /** Click on the start button → the remote stream was attached to the <audio> element. */
  trackMs: number
  /** Click on the start button → the tone was first heard. */
  audioMs: number
  peakHz: number
  dbfs: number
  /** Wall-clock ms of the click and of the tone heard, to place the marks of both pages. */
  clickWall: number
  heardWall: number
}

interface ProbeState {
  clickAt: number | null
  clickWall: number | null
  trackAt: number | null
  heardAt: number | null
  heardWall: number | null
  peakHz: number
  dbfs: number
  error: string | null
}

/** Arms the probe of `page` for a click on `button` and the tone in `audio`; resolves when armed. */
export async function armCall(page: Page, button: string, audio: string, timeoutMs: number): Promise<void> {
  const options = { button, audio, ...TONE, pollMs: 5, timeoutMs }
  await page.evaluate(
    (o) =>
      (globalThis as unknown as { __callProbe: { armCall(o: unknown): Promise<void> } }).__callProbe.armCall(
        o
      ),
    options
  )
}

/** Waits for the armed probe's verdict. */
export async function readCall(page: Page, timeoutMs: number): Promise<CallReading> {
  const handle = await page.waitForFunction(
    () => {
      const call = (globalThis as unknown as ProbeWindow).__callProbe.call
      return call && (call.heardAt !== null || call.error !== null) ? call : null
    },
    undefined,
    { timeout: timeoutMs, polling: 100 }
  )
  const state = (await handle.jsonValue()) as ProbeState
  if (
    state.error !== null ||
    state.clickAt === null ||
    state.clickWall === null ||
    state.heardAt === null ||
    state.heardWall === null ||
    state.trackAt === null
  )
    throw new Error(`no tone detected: ${state.error ?? JSON.stringify(state)}`)
  return {
    trackMs: state.trackAt - state.clickAt,
    audioMs: state.heardAt - state.clickAt,
    peakHz: state.peakHz,
    dbfs: state.dbfs,
    clickWall: state.clickWall,
    heardWall: state.heardWall
  }
}

/** The marks a page recorded since the last call of this (which clears them). */
export async function takeMarks(page: Page): Promise<Mark[]> {
  return page.evaluate(() => (globalThis as unknown as ProbeWindow).__callProbe.takeMarks())
}

/** The phases of one call, in ms, from the device's and the far side's marks. */
export interface CallPhases {
  /** Click → the device's offer set (the page's own work: handlers, peer connection, createOffer). */
  offer: number
  /** Offer set at the device → the far side asks for the microphone (the way there). */
  offerRelay: number
  /** The far side's getUserMedia. */
  microphone: number
  /** Microphone open → answer set at the far side. */
  answer: number
  /** Answer set at the far side → the device sets it (the way back). */
  answerRelay: number
  /** Answer set at the device → ICE connected there. */
  ice: number
  /** ICE connected → the tone heard (DTLS, the first packets, the jitter buffer, the analyser). */
  media: number
}

/** ICE candidates of one call: gathered by each side, and added by the other (received and used). */
export interface CandidateCounts {
  deviceGathered: number
  farAdded: number
  farGathered: number
  deviceAdded: number
}

export function candidateCounts(reading: CallReading, device: Mark[], far: Mark[]): CandidateCounts {
  const count = (marks: Mark[], name: string): number =>
    marks.filter((m) => m.name === name && m.at >= reading.clickWall && m.at <= reading.heardWall).length
  return {
    deviceGathered: count(device, 'candidate gathered'),
    farAdded: count(far, 'candidate added'),
    farGathered: count(far, 'candidate gathered'),
    deviceAdded: count(device, 'candidate added')
  }
}

export function callPhases(reading: CallReading, device: Mark[], far: Mark[]): CallPhases | null {
  const at = (marks: Mark[], name: string, after: number): number | undefined =>
    marks.find((m) => m.name === name && m.at >= after)?.at
  const offerSet = at(device, 'offer set locally', reading.clickWall)
  const micRequested = offerSet && at(far, 'microphone requested', offerSet)
  const micOpen = micRequested && at(far, 'microphone open', micRequested)
  const answerSet = micOpen && at(far, 'answer set locally', micOpen)
  const answerIn = answerSet && at(device, 'answer received', answerSet)
  const connected = answerIn && at(device, 'ICE connected', reading.clickWall)
  if (!offerSet || !micRequested || !micOpen || !answerSet || !answerIn || !connected) return null
  return {
    offer: offerSet - reading.clickWall,
    offerRelay: micRequested - offerSet,
    microphone: micOpen - micRequested,
    answer: answerSet - micOpen,
    answerRelay: answerIn - answerSet,
    ice: Math.max(0, connected - answerIn),
    media: reading.heardWall - Math.max(connected, answerIn)
  }
}
