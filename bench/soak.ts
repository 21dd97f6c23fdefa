/**
 * `npm run soak` (`node bench/run.mjs --soak`): the channel server in its own process, N device/web
 * pairs of the app's ChannelClient exchanging numbered data frames through a proxy that cuts single
 * connections at random, for a fixed time. Reports whether anything was lost, duplicated or
 * reordered, the server's memory over time, and whether its sockets and the clients' handles are
 * all gone once the clients are disposed. Not part of `npm run bench`: it runs for 10 minutes.
 * With `--redis`, the soak across processes instead (bench/soak-redis.ts): several server
 * processes on one Redis, one of them killed -9 and restarted every minute.
 * Options: see USAGE below.
 */
import { parseArgs } from 'node:util'
import { killAllChildren, startNode, type TrackedProcess } from './lib/child-processes'
import { Inspector } from './lib/inspector'
import { currentLoadAverage, describeMachine } from './lib/machine'
import { CLK_TCK, cpuTicks, openFds, rssBytes, sleep, waitUntilIdle } from './lib/proc-stats'
import { writeResults, writeTableIntoDocs } from './lib/results-file'
import { startSoakLoad } from './lib/soak-load-process'
import type { SoakLoadOptions, SoakLoadResult, SoakProgress } from './load/soak-load'
import { runRedisSoak } from './soak-redis'
import { subjectById, type Subject } from './servers/subjects'

const USAGE = `usage: npm run soak -- [options]   (or: node bench/run.mjs --soak [options])
  --minutes N         how long the pairs exchange frames (10)
  --pairs N           device/web pairs, two clients each (200)
  --rate N            data frames per second each side of a pair sends (2)
  --cuts-per-s N      connections cut per second, each picked at random among the live ones (2)
  --sample-s N        the server's RSS and descriptors are read every N seconds (10)
  --heap-every-s N    its heap in use after a full garbage collection, every N seconds (60)
  --seed N            seed of the cuts and of the clients' backoff jitter (1)
  --write-docs        also put the summary into docs/BENCHMARKS.md
Across processes (bench/soak-redis.ts; defaults then: 5 min, 100 pairs, no cuts, samples every 5 s,
heaps every 30 s):
  --redis             N server processes on one redis-server of the run's own, behind a balancer
  --processes N       server processes (3)
  --kill-every-s N    one process, in turn, is killed -9 this often and started again (60)
  --down-s N          how long it stays dead before it is started again on its port (1)`

// The server as a user runs it: its default limits (the pairs stay far below its rate limit).
const SERVER: Subject = { ...subjectById('genie'), args: ['--host', '127.0.0.1', '--port', '0'] }
// The inspector (loopback only) lets the runner force a full collection and read the heap in use.
const NODE_FLAGS = ['--inspect=127.0.0.1:0']

interface Options {
  minutes: number
  pairs: number
  rate: number
  cutsPerSecond: number
  sampleS: number
  heapEveryS: number
  seed: number
  writeDocs: boolean
  redis: boolean
  processes: number
  killEveryS: number
  downS: number
}

function readOptions(): Options {
  const { values } = parseArgs({
    options: {
      minutes: { type: 'string' },
      pairs: { type: 'string' },
      rate: { type: 'string' },
      'cuts-per-s': { type: 'string' },
      'sample-s': { type: 'string' },
      'heap-every-s': { type: 'string' },
      seed: { type: 'string' },
      'write-docs': { type: 'boolean', default: false },
      redis: { type: 'boolean', default: false },
      processes: { type: 'string' },
      'kill-every-s': { type: 'string' },
      'down-s': { type: 'string' },
      help: { type: 'boolean', default: false }
    }
  })
  if (values.help) {
    console.log(USAGE)
    process.exit(0)
  }
  const positive = (raw: string | undefined, fallback: number, name: string): number => {
    if (raw === undefined) return fallback
    const n = Number(raw)
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got "${raw}"`)
    return n
  }
  const cuts = values['cuts-per-s']
  if (cuts !== undefined && !(Number(cuts) >= 0))
    throw new Error(`--cuts-per-s must be 0 or more, got "${cuts}"`)
  const redis = values.redis
  return {
    minutes: positive(values.minutes, redis ? 5 : 10, 'minutes'),
    pairs: Math.round(positive(values.pairs, redis ? 100 : 200, 'pairs')),
    rate: positive(values.rate, 2, 'rate'),
    // Across processes the drops are the kills: no random cuts unless asked for.
    cutsPerSecond: cuts === undefined ? (redis ? 0 : 2) : Number(cuts),
    sampleS: positive(values['sample-s'], redis ? 5 : 10, 'sample-s'),
    heapEveryS: positive(values['heap-every-s'], redis ? 30 : 60, 'heap-every-s'),
    seed: Math.round(positive(values.seed, 1, 'seed')),
    writeDocs: values['write-docs'],
    redis,
    processes: Math.round(positive(values.processes, 3, 'processes')),
    killEveryS: positive(values['kill-every-s'], 60, 'kill-every-s'),
    downS: positive(values['down-s'], 1, 'down-s')
  }
}

export interface Sample {
  /** Seconds since the pairs started sending. */
  t: number
  rssBytes: number
  fds: number
  progress: SoakProgress | null
}

/** Least-squares slope of y over x. */
function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length
  if (n < 2) return NaN
  const mx = points.reduce((s, p) => s + p.x, 0) / n
  const my = points.reduce((s, p) => s + p.y, 0) / n
  let num = 0
  let den = 0
  for (const p of points) {
    num += (p.x - mx) * (p.y - my)
    den += (p.x - mx) ** 2
  }
  return den === 0 ? NaN : num / den
}

const MiB = 1024 * 1024

/** The heap in use right after a full collection, at a time (seconds since sending started). */
export interface HeapSample {
  t: number
  usedBytes: number
}

export interface MemoryReport {
  rss: {
    firstMiB: number
    lastMiB: number
    maxMiB: number
    /** Least-squares slope over all the samples taken while the pairs were sending. */
    slopeMiBPerMin: number
    /** The same over the second half of them. */
    secondHalfSlopeMiBPerMin: number
    /** The highest sample of the second half against the highest of the first. */
    secondHalfPeakPercent: number
  }
  heap: {
    idleMiB: number
    firstMiB: number
    lastMiB: number
    maxMiB: number
    /** Slope over the samples from the end of the first quarter on (the first ones include warm-up). */
    slopeMiBPerMin: number
    /** Last against the first sample of the same span. */
    growthPercent: number
    afterDisposeMiB: number
  }
  /**
   * Flat: the heap after a full collection grows by less than 5 % over the last three quarters of
   * the run, and RSS peaks in the second half within 10 % of its peak in the first half (RSS moves
   * in steps as V8 grows and gives back its heap, so its peaks are compared, not single samples).
   */
  flat: boolean
}

function memoryReport(
  samples: readonly Sample[],
  heap: readonly HeapSample[],
  idleHeapBytes: number,
  afterDisposeHeapBytes: number,
  durationS: number
): MemoryReport {
  const rss = samples.map((s) => s.rssBytes / MiB)
  const points = samples.map((s) => ({ x: s.t / 60, y: s.rssBytes / MiB }))
  const half = Math.floor(samples.length / 2)
  const firstHalfPeak = Math.max(...rss.slice(0, half))
  const secondHalfPeak = Math.max(...rss.slice(half))
  const steady = heap.filter((h) => h.t >= durationS / 4)
  const heapPoints = steady.map((h) => ({ x: h.t / 60, y: h.usedBytes / MiB }))
  const heapFirst = steady[0]?.usedBytes ?? NaN
  const heapLast = steady.at(-1)?.usedBytes ?? NaN
  const growthPercent = ((heapLast - heapFirst) / heapFirst) * 100
  const secondHalfPeakPercent = (secondHalfPeak / firstHalfPeak - 1) * 100
  return {
    rss: {
      firstMiB: rss[0] ?? NaN,
      lastMiB: rss.at(-1) ?? NaN,
      maxMiB: Math.max(...rss),
      slopeMiBPerMin: slope(points),
      secondHalfSlopeMiBPerMin: slope(points.slice(half)),
      secondHalfPeakPercent
    },
    heap: {
      idleMiB: idleHeapBytes / MiB,
      firstMiB: (heap[0]?.usedBytes ?? NaN) / MiB,
      lastMiB: (heap.at(-1)?.usedBytes ?? NaN) / MiB,
      maxMiB: Math.max(...heap.map((h) => h.usedBytes)) / MiB,
      slopeMiBPerMin: slope(heapPoints),
      growthPercent,
      afterDisposeMiB: afterDisposeHeapBytes / MiB
    },
    flat: growthPercent < 5 && secondHalfPeakPercent < 10
  }
}

function lastProgress(load: TrackedProcess): SoakProgress | null {
  const lines = load.output.split('\n')
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = /^progress (.*)$/.exec(lines[i]!)
    if (m) return JSON.parse(m[1]!) as SoakProgress
  }
  return null
}

const int = (n: number): string => Math.round(n).toLocaleString('en')
const mib = (n: number): string => `${n.toFixed(1)} MiB`
const signed = (n: number, decimals = 2): string => `${n >= 0 ? '+' : ''}${n.toFixed(decimals)}`

async function main(): Promise<void> {
  process.on('exit', killAllChildren)
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      killAllChildren()
      process.exit(130)
    })
  }
  const options = readOptions()
  if (options.redis) {
    process.exitCode = await runRedisSoak(options)
    return
  }
  const startedAt = new Date()
  const machine = describeMachine()
  const log = (message: string): void =>
    console.error(`[${((Date.now() - startedAt.getTime()) / 1000).toFixed(0)} s] ${message}`)
  log(
    `soak: ${options.pairs} pairs for ${options.minutes} min, ${options.rate} frames/s each way per pair, ` +
      `${options.cutsPerSecond} cuts/s; ${machine.nproc} cores, load average ${machine.loadAverageAtStart.toFixed(2)}`
  )

  const serverProcess = startNode(SERVER.label, [
    ...NODE_FLAGS,
    '--import',
    'tsx',
    SERVER.entry,
    ...SERVER.args
  ])
  const pid = serverProcess.pid
  let load: TrackedProcess | null = null
  let inspector: Inspector | null = null
  try {
    const url = (await serverProcess.waitForLine(SERVER.readyLine, 20_000))[1]!
    const debuggerUrl = (await serverProcess.waitForStderr(/Debugger listening on (ws:\/\/\S+)/, 10_000))[1]!
    inspector = await Inspector.connect(debuggerUrl)
    await inspector.call('HeapProfiler.enable')
    await sleep(300)
    await waitUntilIdle(pid)
    const idleHeapBytes = await inspector.heapUsedAfterGc()
    await waitUntilIdle(pid)
    const baseline = { fds: openFds(pid), rssBytes: rssBytes(pid), heapBytes: idleHeapBytes }
    log(
      `server ${pid} at ${url}: ${baseline.fds} descriptors, ${mib(baseline.rssBytes / MiB)} RSS, ` +
        `${mib(idleHeapBytes / MiB)} heap idle`
    )

    const durationMs = options.minutes * 60_000
    const loadOptions: SoakLoadOptions = {
      url,
      pairs: options.pairs,
      durationMs,
      framesPerSecond: options.rate,
      cutsPerSecond: options.cutsPerSecond,
      drainMs: 90_000,
      progressMs: options.sampleS * 1000,
      seed: options.seed,
      setupConcurrency: 20
    }
    const started = startSoakLoad(loadOptions)
    load = started.load
    const setup = await started.ready
    log(`soak: ${setup.pairs} pairs in their sessions after ${(setup.setupMs / 1000).toFixed(1)} s`)

    const sendingStart = Date.now()
    const ticksAtStart = cpuTicks(pid)
    const samples: Sample[] = []
    let peakFds = baseline.fds
    const sample = (): void => {
      const s: Sample = {
        t: (Date.now() - sendingStart) / 1000,
        rssBytes: rssBytes(pid),
        fds: openFds(pid),
        progress: lastProgress(load!)
      }
      peakFds = Math.max(peakFds, s.fds)
      samples.push(s)
      const p = s.progress
      log(
        `soak ${s.t.toFixed(0)} s: server ${mib(s.rssBytes / MiB)}, ${s.fds} descriptors` +
          (p
            ? `; ${int(p.cuts)} cuts, ${int(p.reconnects)} reconnects, ${int(p.framesDelivered)}/${int(p.framesSent)} ` +
              `frames delivered, ${p.clientsReady}/${setup.pairs * 2} clients ready`
            : '')
      )
    }
    const heap: HeapSample[] = []
    const sampleHeap = async (): Promise<void> => {
      const t = (Date.now() - sendingStart) / 1000
      const usedBytes = await inspector!.heapUsedAfterGc()
      heap.push({ t, usedBytes })
      log(`soak ${t.toFixed(0)} s: server heap after a full collection ${mib(usedBytes / MiB)}`)
    }
    sample()
    await sampleHeap()
    const sampler = setInterval(sample, options.sampleS * 1000)
    const heapSampler = setInterval(() => void sampleHeap().catch(() => undefined), options.heapEveryS * 1000)
    let result: SoakLoadResult
    let ticksAtEnd: number
    try {
      await sleep(durationMs)
      clearInterval(heapSampler)
      ticksAtEnd = cpuTicks(pid)
      // The last samples of the sending time; later ones (drain, dispose) are not part of the slopes.
      sample()
      clearInterval(sampler)
      await sampleHeap()
      const disposed = await load.waitForLine(/^disposed (.*)$/, loadOptions.drainMs + 120_000)
      result = JSON.parse(disposed[1]!) as SoakLoadResult
    } finally {
      clearInterval(sampler)
      clearInterval(heapSampler)
    }

    // Every client is disposed: the server's sockets must go, down to where it started.
    const closeStart = Date.now()
    let fdsAtEnd = openFds(pid)
    while (fdsAtEnd > baseline.fds && Date.now() - closeStart < 30_000) {
      await sleep(100)
      fdsAtEnd = openFds(pid)
    }
    const fdsSettledMs = Date.now() - closeStart
    await waitUntilIdle(pid)
    const rssAtEndBytes = rssBytes(pid)
    const afterDisposeHeapBytes = await inspector.heapUsedAfterGc()
    const memory = memoryReport(samples, heap, idleHeapBytes, afterDisposeHeapBytes, durationMs / 1000)
    load.send('close')
    await load.finish(10_000)

    const t = result.totals
    const serverCpuPercent = (((ticksAtEnd - ticksAtStart) / CLK_TCK) * 1000 * 100) / Math.max(1, durationMs)
    const nothingLost =
      result.drained && t.lost === 0 && t.duplicates === 0 && t.outOfOrder === 0 && t.pairsWithLoss === 0
    const noHandles = fdsAtEnd <= baseline.fds && result.clientsWithHandles === 0
    machine.loadAverageAtEnd = currentLoadAverage()
    const seconds = (Date.now() - startedAt.getTime()) / 1000
    const heading =
      `Genie Bridge soak, ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC: ${machine.nproc} cores ` +
      `(${machine.cpuModel}), Node ${machine.node}, load average ${machine.loadAverageAtStart.toFixed(1)}→` +
      `${machine.loadAverageAtEnd.toFixed(1)}; ${seconds.toFixed(0)} s`
    const lines: [string, string][] = [
      [
        'load',
        `${int(t.pairs)} device/web pairs (${int(t.clients)} clients) for ${options.minutes} min, ` +
          `${options.rate} data frames/s each way per pair, ${options.cutsPerSecond} connections cut/s`
      ],
      [
        'drops',
        `${int(t.cuts)} connections cut; ${int(t.reconnects)} reconnects, ${int(t.sessionsRestored)} sessions ` +
          `restored, ${int(t.sessionsLost)} lost; ${int(t.membershipNotifies)} join/leave/destroy notifies`
      ],
      [
        'back in session',
        `${int(t.backInSessionMs.count)} times, after p50 ${int(t.backInSessionMs.p50)} ms, p99 ` +
          `${int(t.backInSessionMs.p99)} ms, max ${int(t.backInSessionMs.max)} ms (connection lost → session restored)`
      ],
      [
        'data frames',
        `${int(t.framesSent)} sent (device→web ${int(t.byDirection.deviceToWeb.sent)}, web→device ` +
          `${int(t.byDirection.webToDevice.sent)}), ${int(t.framesDelivered)} delivered` +
          (result.drained
            ? `, the last ${(result.drainedMs / 1000).toFixed(1)} s after sending stopped`
            : ', NOT all')
      ],
      [
        'lost / duplicated / reordered',
        `${int(t.lost)} / ${int(t.duplicates)} / ${int(t.outOfOrder)} (${int(t.pairsWithLoss)} pairs affected)`
      ],
      ['expired / missed / dropped', `${int(t.expired)} / ${int(t.missed)} / ${int(t.dropped)}`],
      [
        'server RSS',
        `first ${mib(memory.rss.firstMiB)}, last ${mib(memory.rss.lastMiB)}, max ${mib(memory.rss.maxMiB)}; ` +
          `slope ${signed(memory.rss.slopeMiBPerMin)} MiB/min, second half ${signed(memory.rss.secondHalfSlopeMiBPerMin)} ` +
          `MiB/min; second-half peak ${signed(memory.rss.secondHalfPeakPercent, 1)} % on the first's; ` +
          `${mib(rssAtEndBytes / MiB)} after dispose (idle ${mib(baseline.rssBytes / MiB)})`
      ],
      [
        'server heap',
        `after a full collection: idle ${mib(memory.heap.idleMiB)}, first ${mib(memory.heap.firstMiB)}, last ` +
          `${mib(memory.heap.lastMiB)}, max ${mib(memory.heap.maxMiB)}; from the first quarter on ` +
          `${signed(memory.heap.slopeMiBPerMin)} MiB/min (${signed(memory.heap.growthPercent, 1)} %); ` +
          `${mib(memory.heap.afterDisposeMiB)} after dispose`
      ],
      ['server CPU', `${serverCpuPercent.toFixed(1)} % of one core while sending`],
      [
        'server descriptors',
        `idle ${baseline.fds}, max ${peakFds}, after dispose ${fdsAtEnd} (after ${(fdsSettledMs / 1000).toFixed(1)} s)`
      ],
      [
        'client handles',
        `${result.clientsWithHandles} of ${t.clients} clients with handles after dispose (${result.clientHandles} in all); ` +
          `load generator left with: ${result.activeResources.join(', ') || 'nothing'}`
      ],
      [
        'verdict',
        `${nothingLost ? 'nothing lost' : 'FRAMES LOST'}, memory ${memory.flat ? 'flat' : 'NOT FLAT'}, ` +
          `${noHandles ? 'no handles left' : 'HANDLES LEFT'}`
      ]
    ]
    const width = Math.max(...lines.map(([k]) => k.length))
    const body = lines.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n')
    console.log(`\n${heading}\n\n${body}`)

    const paths = writeResults(
      startedAt,
      {
        startedAt: startedAt.toISOString(),
        seconds,
        machine,
        options,
        server: { command: ['node', ...NODE_FLAGS, '--import', 'tsx', SERVER.entry, ...SERVER.args], pid },
        load: loadOptions,
        baseline,
        samples,
        heapSamples: heap,
        memory,
        serverCpuPercent,
        fds: { baseline: baseline.fds, peak: peakFds, atEnd: fdsAtEnd, settledMs: fdsSettledMs },
        rssAtEndBytes,
        result,
        verdict: { nothingLost, memoryFlat: memory.flat, noHandles }
      },
      'soak-'
    )
    console.log(`\nresults: ${paths.join(', ')}`)
    if (options.writeDocs) {
      writeTableIntoDocs(['```text', heading, '', body, '```'].join('\n'), 'soak-table')
      console.log('summary written into docs/BENCHMARKS.md')
    }
    process.exitCode = nothingLost && memory.flat && noHandles ? 0 : 1
  } finally {
    inspector?.close()
    await load?.kill()
    await serverProcess.kill()
  }
}

main().catch((e: unknown) => {
  console.error(`soak: ${e instanceof Error ? e.message : String(e)}`)
  killAllChildren()
  process.exit(1)
})
