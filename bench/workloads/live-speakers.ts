/**
 * Workload 5, live speakers: N speakers (10, 25, 50) live at once from one console. The speakers
 * are N device-side peer connections and channel connections in one page (one Chromium); the
 * console is the app's console page (another Chromium, with a 1 kHz fake microphone) on a fresh
 * browser host per N, given the N speakers as a CSV import: it joins them through presence and
 * answers each. Measured: the time from the import until every call row is live; the console
 * page's main-thread time (CDP Performance metrics: tasks, script, layout, style) while all are
 * live, and its JS heap after a full collection, both per live speaker; and the tone heard at a
 * sample of the speakers.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, CDPSession, Page } from 'playwright-core'
import { launchChromium, micContext } from '../../e2e/support/browser'
import { toneWav } from '../../e2e/support/wav'
import { startTypeScript, type TrackedProcess } from '../lib/child-processes'
import { sleep } from '../lib/proc-stats'
import type { BenchContext, MetricRow, Workload, WorkloadResult } from '../lib/workload'
import { buildRenderer } from './renderer-weight'

export const LIVE_SPEAKER_COUNTS = [10, 25, 50] as const
/** All must be live within this long, or the repetition fails (and says how far it got). */
const ALL_LIVE_TIMEOUT_MS = 120_000
/** Main-thread time is read over this window once all are live and settled. */
const STEADY_WINDOW_MS = 5_000
const SETTLE_MS = 2_000
/** A trace of the console's main thread over this long says where its time goes. */
const TRACE_WINDOW_MS = 3_000
/** Speakers whose received audio is checked for the console's tone, at each N. */
const SAMPLED_SPEAKERS = 5
const TONE_HZ = 1000
/** Rough cost of one step of N speakers (host, browsers, joins, measurement), for the suite's budget. */
function stepEstimateMs(count: number): number {
  return 12_000 + count * 150
}

/** The speakers' page code (see pages/speakers.js). */
const SPEAKERS_SOURCE = readFileSync(new URL('../call/pages/speakers.js', import.meta.url), 'utf8')

interface StepMeasurement {
  speakers: number
  allLiveMs: number
  /** Share of one core the console's main thread was busy while all were live, per speaker (%). */
  cpuPerSpeakerPct: number
  /** Where that main-thread time went (share of one core, %, all speakers). */
  cpuSplitPct: { script: number; layout: number; style: number; other: number }
  heapPerSpeakerKB: number
  domNodesPerSpeaker: number
  /** Sampled speakers hearing the console's tone (%), and their readings. */
  toneHeardPct: number
  tones: { index: number; peakHz: number; dbfs: number }[]
  /** The main thread over a traced window: tasks and what ran in them, % of one core. */
  breakdown: Record<string, number>
}

async function startHost(
  rendererDir: string,
  dataDir: string
): Promise<{ url: URL; process: TrackedProcess }> {
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

interface TraceEvent {
  name: string
  ph: string
  ts: number
  dur?: number
  pid: number
  tid: number
  args?: { name?: string }
}

/**
 * Where the console page's main thread spends its time over `ms`: a trace of it, each task's time
 * split by what ran directly inside it (script, style, layout, paint, WebRTC work, …), in % of
 * one core. The top entries only.
 */
async function mainThreadBreakdown(cdp: CDPSession, ms: number): Promise<Record<string, number>> {
  const events: TraceEvent[] = []
  cdp.on('Tracing.dataCollected', (e) => events.push(...(e.value as unknown as TraceEvent[])))
  const done = new Promise<void>((resolve) => cdp.once('Tracing.tracingComplete', () => resolve()))
  await cdp.send('Tracing.start', {
    categories: 'devtools.timeline,disabled-by-default-devtools.timeline,toplevel,webrtc,v8',
    transferMode: 'ReportEvents'
  })
  await sleep(ms)
  await cdp.send('Tracing.end')
  await done
  const main = events.find(
    (e) => e.ph === 'M' && e.name === 'thread_name' && e.args?.name === 'CrRendererMain'
  )
  if (!main) return {}
  const slices = events
    .filter((e) => e.pid === main.pid && e.tid === main.tid && e.ph === 'X' && e.dur !== undefined)
    .sort((a, b) => a.ts - b.ts || b.dur! - a.dur!)
  // Self time per kind of work: a task's time less what ran inside it. A task posted by Chromium's
  // own code is named by where it was posted from (the trace's src_file), e.g. WebRTC's.
  const label = (e: TraceEvent): string => {
    const src = (e.args as { src_file?: string } | undefined)?.src_file
    return src ? `task from ${src.replace(/^.*?(third_party|services|content|media)\//, '$1/')}` : e.name
  }
  const out: Record<string, number> = {}
  const stack: { e: TraceEvent; self: number }[] = []
  const close = (): void => {
    const top = stack.pop()!
    out[label(top.e)] = (out[label(top.e)] ?? 0) + top.self
  }
  for (const e of slices) {
    while (stack.length && e.ts >= stack.at(-1)!.e.ts + stack.at(-1)!.e.dur!) close()
    if (stack.length) stack.at(-1)!.self -= e.dur!
    stack.push({ e, self: e.dur! })
  }
  while (stack.length) close()
  const pct = Object.entries(out)
    .map(([name, us]) => [name, (us / 1000 / ms) * 100] as const)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 12)
  return Object.fromEntries(pct.map(([n, v]) => [n, Math.round(v * 100) / 100]))
}

async function metrics(cdp: CDPSession): Promise<Record<string, number>> {
  const { metrics: list } = (await cdp.send('Performance.getMetrics')) as {
    metrics: { name: string; value: number }[]
  }
  return Object.fromEntries(list.map((m) => [m.name, m.value]))
}

async function heapAfterGc(cdp: CDPSession): Promise<{ heap: number; nodes: number }> {
  await cdp.send('HeapProfiler.collectGarbage')
  const m = await metrics(cdp)
  return { heap: m['JSHeapUsedSize'] ?? 0, nodes: m['Nodes'] ?? 0 }
}

async function liveRows(page: Page): Promise<number> {
  return page.locator('[data-testid^="call-"][data-state="live"]').count()
}

async function measureStep(
  count: number,
  rendererDir: string,
  work: string,
  wav: string,
  log: (m: string) => void
): Promise<StepMeasurement> {
  const host = await startHost(rendererDir, join(work, `data-${count}`))
  let speakersBrowser: Browser | null = null
  let consoleBrowser: Browser | null = null
  try {
    const origin = host.url.origin
    const token = host.url.searchParams.get('token') ?? ''
    speakersBrowser = await launchChromium()
    consoleBrowser = await launchChromium({ microphoneWav: wav })
    const consoleContext = await micContext(consoleBrowser, origin, {
      viewport: { width: 1280, height: 900 }
    })
    const operator = await consoleContext.newPage()
    await operator.goto(`${origin}/?token=${token}#/console`)
    await operator
      .locator('[data-testid="console-connection"][data-state="ready"]')
      .waitFor({ timeout: 30_000 })
    const info = await fetch(`${origin}/api/info?token=${encodeURIComponent(token)}`)
    const channelUrl = info.ok ? ((await info.json()) as { channelUrl: string | null }).channelUrl : null
    if (!channelUrl) throw new Error('the browser host did not say where its channel server is')

    const speakers = await (await micContext(speakersBrowser, origin)).newPage()
    await speakers.goto(`${origin}/speakers-of-the-benchmark`) // any page of the origin (microphone granted)
    await speakers.addScriptTag({ content: SPEAKERS_SOURCE })
    await speakers.evaluate(`window.benchSpeakers.start(${JSON.stringify(channelUrl)}, ${count})`)

    const cdp = await operator.context().newCDPSession(operator)
    await cdp.send('Performance.enable')
    const before = await heapAfterGc(cdp)
    const csv = ['name,note,containerId,sessionId,zones']
    for (let i = 0; i < count; i++) csv.push(`Speaker ${i},bench,,BENCH-${i},${i % 2 ? 'Odd' : 'Even'}`)
    const t0 = Date.now()
    await operator.locator('[data-testid="directory-import-file"]').setInputFiles({
      name: 'speakers.csv',
      mimeType: 'text/csv',
      buffer: Buffer.from(csv.join('\r\n'))
    })
    let live = 0
    while ((live = await liveRows(operator)) < count) {
      if (Date.now() - t0 > ALL_LIVE_TIMEOUT_MS)
        throw new Error(`${live} of ${count} speakers live after ${ALL_LIVE_TIMEOUT_MS / 1000} s`)
      await sleep(50)
    }
    const allLiveMs = Date.now() - t0
    log(`live speakers: ${count} live after ${(allLiveMs / 1000).toFixed(1)} s`)

    await sleep(SETTLE_MS)
    const m0 = await metrics(cdp)
    const w0 = Date.now()
    await sleep(STEADY_WINDOW_MS)
    const m1 = await metrics(cdp)
    const wall = (Date.now() - w0) / 1000
    const share = (name: string): number => (((m1[name] ?? 0) - (m0[name] ?? 0)) / wall) * 100
    const task = share('TaskDuration')
    const script = share('ScriptDuration')
    const layout = share('LayoutDuration')
    const style = share('RecalcStyleDuration')
    const after = await heapAfterGc(cdp)
    const breakdown = await mainThreadBreakdown(cdp, TRACE_WINDOW_MS)
    log(`live speakers: ${count}: main thread ${JSON.stringify(breakdown)}`)

    // Evenly spread over the speakers, the first and the last included.
    const sample = [
      ...new Set(
        Array.from({ length: SAMPLED_SPEAKERS }, (_, k) =>
          Math.round((k * (count - 1)) / (SAMPLED_SPEAKERS - 1))
        )
      )
    ]
    const tones = (await speakers.evaluate(`window.benchSpeakers.tone(${JSON.stringify(sample)})`)) as {
      index: number
      peakHz: number
      dbfs: number
    }[]
    const heard = tones.filter((t) => Math.abs(t.peakHz - TONE_HZ) <= 50 && t.dbfs > -60).length
    log(
      `live speakers: ${count}: console main thread ${task.toFixed(1)}% of a core (script ${script.toFixed(1)}, layout ${layout.toFixed(1)}, style ${style.toFixed(1)}), heap +${((after.heap - before.heap) / 1024 / count).toFixed(0)} KB per speaker, tone at ${heard}/${tones.length} sampled`
    )
    await speakers.evaluate('window.benchSpeakers.close()')
    return {
      speakers: count,
      allLiveMs,
      cpuPerSpeakerPct: task / count,
      cpuSplitPct: { script, layout, style, other: Math.max(0, task - script - layout - style) },
      heapPerSpeakerKB: (after.heap - before.heap) / 1024 / count,
      domNodesPerSpeaker: (after.nodes - before.nodes) / count,
      toneHeardPct: (heard / tones.length) * 100,
      tones,
      breakdown
    }
  } finally {
    await speakersBrowser?.close().catch(() => undefined)
    await consoleBrowser?.close().catch(() => undefined)
    await host.process.kill()
  }
}

function row(
  metric: string,
  unit: string,
  decimals: number,
  value: number,
  budget: number,
  label: string,
  op: '<=' | '>='
): MetricRow {
  return {
    workload: 'live speakers',
    metric,
    unit,
    decimals,
    runs: { genie: [value] },
    budget: { value: budget, label },
    targets: [{ against: 'budget', op, ratio: 1 }]
  }
}

export const liveSpeakersWorkload: Workload = {
  id: 'live',
  title: 'Live speakers from one console',
  async run(ctx: BenchContext): Promise<WorkloadResult> {
    const work = mkdtempSync(join(tmpdir(), 'genie-bench-live-'))
    const steps: StepMeasurement[] = []
    const notes: string[] = []
    try {
      const rendererDir = await buildRenderer(join(work, 'build'))
      const wav = join(work, `tone-${TONE_HZ}.wav`)
      writeFileSync(wav, toneWav(TONE_HZ))
      for (const count of ctx.options.liveCounts) {
        if (ctx.timeLeftMs() < stepEstimateMs(count)) {
          notes.push(`live speakers: N = ${count} skipped (time budget)`)
          continue
        }
        try {
          steps.push(await measureStep(count, rendererDir, work, wav, ctx.log))
        } catch (e) {
          notes.push(`live speakers: N = ${count} failed: ${e instanceof Error ? e.message : String(e)}`)
        }
      }
    } finally {
      rmSync(work, { recursive: true, force: true })
    }
    const rows: MetricRow[] = []
    for (const s of steps) {
      const n = `N = ${s.speakers}`
      rows.push(
        row(`${n}: time until all live`, 'ms', 0, s.allLiveMs, s.speakers * 600, '0.6 s per speaker', '<=')
      )
      rows.push(
        row(
          `${n}: console main thread per live speaker`,
          '% core',
          2,
          s.cpuPerSpeakerPct,
          // Busier than one core, the console's main thread could no longer keep up.
          2,
          'a core at N = 50',
          '<='
        )
      )
      rows.push(
        row(`${n}: console JS heap per live speaker`, 'KB', 0, s.heapPerSpeakerKB, 1024, '1 MB', '<=')
      )
      rows.push(
        row(`${n}: sampled speakers hearing the tone`, '%', 0, s.toneHeardPct, 100, 'every one', '>=')
      )
    }
    return { rows, details: { steps }, notes }
  }
}
