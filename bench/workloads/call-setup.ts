/**
 * Workload 3, call setup in Chromium: from the click on "start audio" to the first audio heard at
 * the device, for the app's full stack (device page ⇄ browser host bridge ⇄ main-side channel
 * client ⇄ embedded channel server ⇄ … ⇄ console page) against two bare pages doing the same
 * WebRTC exchange through the bare ws relay; and the time to open the app's console until it is
 * connected and ready, against a bare page opening its relay socket.
 *
 * Two Chromium processes (the fake microphone file is per process): the device's, and the console's
 * whose fake microphone plays a 1 kHz tone. Both kinds of call run in the same two browsers, on pages
 * that stay open; each repetition makes two calls of each kind (app, bare, bare, app, or the
 * reverse) and opens a fresh console page of each kind once.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { serveBarePages, type BarePages } from '../call/bare-pages'
// The same browser launch and tone file as the E2E runs, so both measure the same thing.
import { launchChromium, micContext } from '../../e2e/support/browser'
import { toneWav } from '../../e2e/support/wav'
import {
  TONE,
  armCall,
  callPhases,
  candidateCounts,
  installProbe,
  readCall,
  readyAfterMs,
  takeMarks,
  type CallPhases,
  type CallReading,
  type CandidateCounts
} from '../call/probe'
import { startTypeScript, type TrackedProcess } from '../lib/child-processes'
import { sleep } from '../lib/proc-stats'
import { median } from '../lib/stats'
import type { BenchContext, MetricRow, Workload, WorkloadResult } from '../lib/workload'
import { startServer, subjectById, type RunningServer } from '../servers/subjects'
import { buildRenderer } from './renderer-weight'

/** Any single step (a page load, a join, a call) that takes longer than this has failed. */
const STEP_TIMEOUT_MS = 20_000
/** Calls of each kind per repetition, in the order app, bare, bare, app (or the reverse). */
const CALLS_PER_KIND = 2
/** Time one repetition (four calls, two page loads) may take on a busy machine: none starts without it. */
const REPETITION_ESTIMATE_MS = 20_000

/** One call: its reading at the device and its phases (null when a mark was missing). */
export interface Call extends CallReading {
  phases: CallPhases | null
  /** Until the tone was heard. */
  candidates: CandidateCounts
}

/** One repetition of one kind (the app or the bare pages). */
export interface CallMeasurement {
  /** Mean over the repetition's calls of this kind. */
  audioMs: number
  trackMs: number
  /** Navigation start → a freshly opened console (or bare web page) connected and ready. */
  consoleReadyMs: number
  calls: Call[]
}

interface Setup {
  deviceBrowser: Browser
  consoleBrowser: Browser
  host: { url: URL; process: TrackedProcess }
  relay: RunningServer
  pages: BarePages
}

const APP_CONSOLE_READY = '[data-testid="console-connection"][data-state="ready"]'
const BARE_READY = '#state[data-state="ready"]'

async function startHost(rendererDir: string, dataDir: string): Promise<Setup['host']> {
  const proc = startTypeScript('browser host', 'src/main/cli/host.ts', [
    '--port',
    '0',
    '--renderer',
    rendererDir,
    '--data-dir',
    dataDir
  ])
  try {
    const match = await proc.waitForLine(/^Genie Bridge at (http:\/\/\S+)$/, 30_000)
    return { url: new URL(match[1]!), process: proc }
  } catch (e) {
    await proc.kill()
    throw e
  }
}

/** The app at a route, e.g. `#/device`, with the host's token. */
function appUrl(host: Setup['host'], route: string): string {
  return `${host.url.origin}/?token=${host.url.searchParams.get('token') ?? ''}#${route}`
}

async function newContext(browser: Browser, origin: string, readySelector?: string): Promise<BrowserContext> {
  // Microphone granted on both sides, as in the E2E runs: it also makes Chromium hand out plain
  // host candidates rather than mDNS names, which a loopback-only machine could not resolve.
  const context = await micContext(browser, origin)
  await installProbe(context, readySelector)
  return context
}

/** The two pages of a call: the device's, which starts it and hears the tone, and the far side's. */
interface CallPages {
  device: Page
  far: Page
}

/** A device page and a console page of the app, in a joined channel, ready to start audio. */
async function openAppPair(setup: Setup, contexts: BrowserContext[]): Promise<CallPages> {
  const origin = setup.host.url.origin
  const deviceContext = await newContext(setup.deviceBrowser, origin)
  contexts.push(deviceContext)
  const device = await deviceContext.newPage()
  await device.goto(appUrl(setup.host, '/device'))
  await waitFor(device, '[data-testid="device-connection"][data-state="ready"]')
  await device.getByTestId('device-create').click()
  const sessionid = await sessionIdOf(device)

  const consoleContext = await newContext(setup.consoleBrowser, origin)
  contexts.push(consoleContext)
  const operator = await consoleContext.newPage()
  await operator.goto(appUrl(setup.host, '/console'))
  await waitFor(operator, APP_CONSOLE_READY)
  // The console plays its chime before the operator is heard, and holds the microphone back for
  // it (1.05 s by default): that is paging, not call setup, and the bare pages have none.
  await operator.getByTestId('chime').selectOption('off')
  await operator.getByTestId('console-session-input').fill(sessionid)
  await operator.getByTestId('console-join').click()
  await waitFor(operator, `[data-testid="call-${sessionid}"][data-state="joined"]`)
  await waitFor(device, '[data-testid="device-web-joined"][data-joined="true"]')
  return { device, far: operator }
}

let barePairs = 0

/** Two bare pages paired through the bare relay, the web side announced to the device. */
async function openBarePair(setup: Setup, contexts: BrowserContext[]): Promise<CallPages> {
  const pair = `call-${process.pid}-${++barePairs}`
  const deviceContext = await newContext(setup.deviceBrowser, setup.pages.origin)
  contexts.push(deviceContext)
  const device = await deviceContext.newPage()
  await device.goto(setup.pages.url('device', setup.relay.url, pair))
  await waitFor(device, BARE_READY)
  const webContext = await newContext(setup.consoleBrowser, setup.pages.origin)
  contexts.push(webContext)
  const web = await webContext.newPage()
  await web.goto(setup.pages.url('web', setup.relay.url, pair))
  await waitFor(web, BARE_READY)
  await waitFor(device, '#state[data-state="joined"]')
  return { device, far: web }
}

/** The start and stop controls and the <audio> element of the device page, app and bare. */
const APP_CONTROLS = {
  start: '[data-testid="device-start"]',
  stop: '[data-testid="device-stop"]',
  audio: '[data-testid="remote-audio"]',
  idle: '[data-testid="device-call-state"][data-state="idle"]'
}
const BARE_CONTROLS = { start: '#start', stop: '#stop', audio: '#remote', idle: '#call[data-state="idle"]' }

/** One call: start audio, the tone heard, stop, the device back to idle. */
async function call(pages: CallPages, controls: typeof APP_CONTROLS): Promise<Call> {
  const { device, far } = pages
  await takeMarks(device)
  await takeMarks(far)
  await armCall(device, controls.start, controls.audio, STEP_TIMEOUT_MS)
  await device.locator(controls.start).click()
  const reading = await readCall(device, STEP_TIMEOUT_MS)
  const deviceMarks = await takeMarks(device)
  const farMarks = await takeMarks(far)
  await device.locator(controls.stop).click()
  await waitFor(device, controls.idle)
  return {
    ...reading,
    phases: callPhases(reading, deviceMarks, farMarks),
    candidates: candidateCounts(reading, deviceMarks, farMarks)
  }
}

const appCall = (pages: CallPages): Promise<Call> => call(pages, APP_CONTROLS)
const bareCall = (pages: CallPages): Promise<Call> => call(pages, BARE_CONTROLS)

/** Opens a page in a fresh context and returns the time from navigation start to `readySelector`. */
async function timeToReady(
  browser: Browser,
  origin: string,
  url: string,
  readySelector: string
): Promise<number> {
  const context = await newContext(browser, origin, readySelector)
  try {
    const page = await context.newPage()
    await page.goto(url)
    return await readyAfterMs(page, STEP_TIMEOUT_MS)
  } finally {
    await context.close().catch(() => undefined)
  }
}

const appConsoleReady = (setup: Setup): Promise<number> =>
  timeToReady(setup.consoleBrowser, setup.host.url.origin, appUrl(setup.host, '/console'), APP_CONSOLE_READY)

// An unpaired page (a key of its own): the relay keeps it waiting, as it would a first side.
const bareConsoleReady = (setup: Setup, key: string): Promise<number> =>
  timeToReady(
    setup.consoleBrowser,
    setup.pages.origin,
    setup.pages.url('web', setup.relay.url, key),
    BARE_READY
  )

/** The channel's id once the device page shows it (an em dash until then). */
async function sessionIdOf(device: Page): Promise<string> {
  const deadline = Date.now() + STEP_TIMEOUT_MS
  for (;;) {
    const text = (await device.getByTestId('device-session').textContent())?.trim() ?? ''
    if (text && text !== '—') return text
    if (Date.now() > deadline) throw new Error('the device page shows no channel id')
    await sleep(50)
  }
}

async function waitFor(page: Page, selector: string): Promise<void> {
  await page.waitForSelector(selector, { state: 'attached', timeout: STEP_TIMEOUT_MS })
}

/** Closes a browser, but never waits on it for long: Playwright kills what does not close in time. */
async function closeBrowser(browser: Browser | null): Promise<void> {
  if (!browser) return
  await Promise.race([browser.close().catch(() => undefined), sleep(10_000)])
}

type Repetition = { app: CallMeasurement; bare: CallMeasurement }

function describeCall(c: Call): string {
  const p = c.phases
  const parts = p
    ? ` (offer ${p.offer.toFixed(0)}, relay ${p.offerRelay.toFixed(0)}, mic ${p.microphone.toFixed(0)}, ` +
      `answer ${p.answer.toFixed(0)}, relay ${p.answerRelay.toFixed(0)}, ICE ${p.ice.toFixed(0)}, media ${p.media.toFixed(0)})`
    : ''
  const k = c.candidates
  return (
    `${c.audioMs.toFixed(0)} ms${parts}; candidates device→far ${k.farAdded}/${k.deviceGathered}, ` +
    `far→device ${k.deviceAdded}/${k.farGathered}`
  )
}

function summarise(calls: readonly Call[], consoleReadyMs: number): CallMeasurement {
  const mean = (pick: (c: Call) => number): number =>
    calls.reduce((sum, c) => sum + pick(c), 0) / calls.length
  return {
    audioMs: mean((c) => c.audioMs),
    trackMs: mean((c) => c.trackMs),
    consoleReadyMs,
    calls: [...calls]
  }
}

/** Median of each phase over the calls that have all their marks. */
function medianPhases(calls: readonly Call[]): CallPhases | null {
  const all = calls.flatMap((c) => (c.phases ? [c.phases] : []))
  if (all.length === 0) return null
  const keys = Object.keys(all[0]!) as (keyof CallPhases)[]
  return Object.fromEntries(keys.map((k) => [k, median(all.map((p) => p[k]))])) as unknown as CallPhases
}

function rows(reps: readonly Repetition[]): MetricRow[] {
  const workload = 'call setup, Chromium'
  const series = (pick: (m: CallMeasurement) => number) => ({
    bare: reps.map((r) => pick(r.bare)),
    genie: reps.map((r) => pick(r.app))
  })
  return [
    {
      workload,
      metric: 'start → first audio',
      unit: 'ms',
      decimals: 0,
      runs: series((m) => m.audioMs),
      targets: [{ against: 'bare', op: '<=', ratio: 1.1 }]
    },
    {
      workload,
      metric: 'start → remote track',
      unit: 'ms',
      decimals: 0,
      runs: series((m) => m.trackMs),
      targets: []
    },
    {
      workload,
      metric: 'console open → ready',
      unit: 'ms',
      decimals: 0,
      runs: series((m) => m.consoleReadyMs),
      targets: []
    }
  ]
}

export const callSetupWorkload: Workload = {
  id: 'call',
  title: 'Call setup',
  async run(ctx: BenchContext): Promise<WorkloadResult> {
    const runs = ctx.options.callRuns
    const work = mkdtempSync(join(tmpdir(), 'genie-bench-call-'))
    let deviceBrowser: Browser | null = null
    let consoleBrowser: Browser | null = null
    let host: Setup['host'] | null = null
    let relay: RunningServer | null = null
    let pages: BarePages | null = null
    const notes: string[] = []
    const reps: Repetition[] = []
    try {
      ctx.log('call: building the renderer, starting the browser host, the bare relay and two Chromiums')
      const t0 = Date.now()
      const rendererDir = await buildRenderer(join(work, 'build'))
      ctx.log(`call: renderer built in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
      const wav = join(work, `tone-${TONE.hz}.wav`)
      writeFileSync(wav, toneWav(TONE.hz))
      host = await startHost(rendererDir, join(work, 'data'))
      relay = await startServer(subjectById('bare'))
      pages = await serveBarePages()
      deviceBrowser = await launchChromium()
      consoleBrowser = await launchChromium({ microphoneWav: wav })
      const setup: Setup = { deviceBrowser, consoleBrowser, host, relay, pages }
      ctx.log(`call: host, relay and browsers up after ${((Date.now() - t0) / 1000).toFixed(1)} s`)

      // The call pages stay open for all the calls; each call starts from idle and ends back there.
      const contexts: BrowserContext[] = []
      let app: CallPages | null = null
      let bare: CallPages | null = null
      const reopen = async (): Promise<void> => {
        for (const context of contexts.splice(0).reverse()) await context.close().catch(() => undefined)
        app = await openAppPair(setup, contexts)
        bare = await openBarePair(setup, contexts)
      }
      try {
        await reopen()
        ctx.log(`call: pages open after ${((Date.now() - t0) / 1000).toFixed(1)} s`)
        // One unmeasured round first: the first calls of a page and the first page loads of a
        // browser pay for starting its media machinery and compiling the app's code.
        await appCall(app!)
        await bareCall(bare!)
        await appConsoleReady(setup)
        await bareConsoleReady(setup, 'warm-up')
        ctx.log(`call: warmed up after ${((Date.now() - t0) / 1000).toFixed(1)} s`)
        for (let rep = 0; rep < runs; rep++) {
          if (ctx.timeLeftMs() < REPETITION_ESTIMATE_MS) {
            notes.push(`call setup: ${runs - rep} of ${runs} repetitions skipped (time budget)`)
            break
          }
          try {
            if (!app || !bare) await reopen()
            // ABBA, then BAAB: whatever drifts during a repetition falls on both kinds alike.
            const appFirst = rep % 2 === 0
            const calls: { app: Call[]; bare: Call[] } = { app: [], bare: [] }
            for (let i = 0; i < CALLS_PER_KIND; i++) {
              const order =
                (i % 2 === 0) === appFirst ? (['app', 'bare'] as const) : (['bare', 'app'] as const)
              for (const kind of order)
                calls[kind].push(kind === 'app' ? await appCall(app!) : await bareCall(bare!))
            }
            const ready = appFirst
              ? { app: await appConsoleReady(setup), bare: await bareConsoleReady(setup, `open-${rep}`) }
              : { bare: await bareConsoleReady(setup, `open-${rep}`), app: await appConsoleReady(setup) }
            const measured: Repetition = {
              app: summarise(calls.app, ready.app),
              bare: summarise(calls.bare, ready.bare)
            }
            reps.push(measured)
            ctx.log(
              `call #${rep + 1}: app ${measured.app.audioMs.toFixed(0)} ms, bare ${measured.bare.audioMs.toFixed(0)} ms; ` +
                `console ready ${ready.app.toFixed(0)} ms, bare ${ready.bare.toFixed(0)} ms`
            )
            for (const kind of ['app', 'bare'] as const)
              for (const c of calls[kind]) ctx.log(`  ${kind.padEnd(4)} ${describeCall(c)}`)
          } catch (e) {
            const message = `call setup repetition ${rep + 1} left out: ${e instanceof Error ? e.message : String(e)}`
            ctx.log(message)
            notes.push(message)
            // Whatever state the pages were left in, the next repetition starts from fresh ones.
            app = null
            bare = null
          }
        }
      } finally {
        for (const context of contexts.splice(0).reverse()) await context.close().catch(() => undefined)
      }
      if (reps.length === 0)
        throw new Error(`no call setup repetition completed${host.process.describeStderr()}`)
      const phases = {
        genie: medianPhases(reps.flatMap((r) => r.app.calls)),
        bare: medianPhases(reps.flatMap((r) => r.bare.calls))
      }
      if (phases.genie && phases.bare) {
        const names: Record<keyof CallPhases, string> = {
          offer: 'offer',
          offerRelay: 'offer relayed',
          microphone: 'microphone',
          answer: 'answer',
          answerRelay: 'answer relayed',
          ice: 'ICE',
          media: 'first audio'
        }
        const keys = Object.keys(names) as (keyof CallPhases)[]
        const line = keys
          .map((k) => `${names[k]} ${phases.genie![k].toFixed(0)}/${phases.bare![k].toFixed(0)}`)
          .join(', ')
        notes.push(`call setup phases, median ms app/bare: ${line}`)
        ctx.log(`call: ${notes.at(-1)!}`)
      }
      // Candidates the far side used before the tone was heard, of those the device sent: a side
      // that does not use the other's candidates leaves ICE to find the path from the checks alone.
      const used = (kind: 'app' | 'bare'): string => {
        const calls = reps.flatMap((r) => r[kind].calls)
        const added = calls.reduce((n, c) => n + c.candidates.farAdded, 0)
        const gathered = calls.reduce((n, c) => n + c.candidates.deviceGathered, 0)
        return `${added} of ${gathered}`
      }
      notes.push(
        `call setup: device candidates added at the far side before the tone, app ${used('app')}, bare ${used('bare')}`
      )
      ctx.log(`call: ${notes.at(-1)!}`)
      return {
        rows: rows(reps),
        details: {
          tone: TONE,
          medianPhasesMs: phases,
          repetitions: reps
        },
        notes
      }
    } finally {
      await closeBrowser(deviceBrowser)
      await closeBrowser(consoleBrowser)
      await pages?.close()
      await relay?.process.kill()
      await host?.process.kill()
      rmSync(work, { recursive: true, force: true })
    }
  }
}
