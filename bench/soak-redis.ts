/**
 * `npm run soak -- --redis`: the soak across processes. One redis-server of the run's own, N
 * `npm run serve -- --redis` processes (the built entry) on it, and the load generator's pairs
 * (bench/load/soak-load.ts) connecting through a balancer in front of them, so that a client
 * whose process died reconnects to the same address and lands on another one. Every
 * `--kill-every-s` one process (in turn) is killed with SIGKILL and started again on its port.
 * Reports whether anything was lost for the app's clients, and the memory of Redis (used_memory,
 * its keys) and of the server processes (RSS, and the heap after a full collection) over the run.
 */
import { spawnSync } from 'node:child_process'
import { loadavg } from 'node:os'
import { type RedisClientType, createClient } from 'redis'
import { REDIS_SERVER_BIN, RedisServer, redisMissing } from '../tests/helpers/redis-server'
import { startNode, type TrackedProcess } from './lib/child-processes'
import { Inspector } from './lib/inspector'
import { currentLoadAverage, describeMachine } from './lib/machine'
import { CLK_TCK, cpuTicks, openFds, rssBytes, sleep } from './lib/proc-stats'
import { writeResults, writeTableIntoDocs } from './lib/results-file'
import { startSoakLoad } from './lib/soak-load-process'
import type { SoakLoadOptions, SoakLoadResult, SoakProgress } from './load/soak-load'

export interface RedisSoakOptions {
  minutes: number
  pairs: number
  rate: number
  cutsPerSecond: number
  sampleS: number
  heapEveryS: number
  seed: number
  writeDocs: boolean
  processes: number
  killEveryS: number
  downS: number
}

const ENTRY = 'out/cli/serve.js'
const MiB = 1024 * 1024

/** One run of one server process, from its start to its kill (or the end). */
interface Life {
  slot: number
  pid: number
  port: number
  bornAtMs: number
  /** Seconds since sending started (negative: before). */
  bornS: number
  endS: number | null
  killed: boolean
  ticksAtStart: number
  ticksAtEnd: number | null
}

interface Slot {
  index: number
  port: number
  proc: TrackedProcess
  inspector: Inspector | null
  life: Life
}

interface Sample {
  t: number
  loadAverage: number
  /** Per slot, while its process runs: RSS and descriptors. */
  servers: ({ pid: number; rssBytes: number; fds: number } | null)[]
  serversRssBytes: number
  allRunning: boolean
  redis: RedisMemory | null
  progress: SoakProgress | null
}

interface RedisMemory {
  usedBytes: number
  rssBytes: number
  datasetBytes: number
  overheadBytes: number
  keys: number
}

interface HeapSample {
  t: number
  /** Per slot, heap in use after a full collection (null: not running, or no answer). */
  perSlot: (number | null)[]
  totalBytes: number
  allAnswered: boolean
}

interface KillEvent {
  t: number
  slot: number
  pid: number
  port: number
  /** The victim's descriptors above its idle count: its clients' sockets, about. */
  socketsAtKill: number
  /** The load generator's count of connections through the balancer to it (its last progress line). */
  connectionsAtKill: number | null
  restartedAfterMs: number
}

/** Mean of the values whose time lies in [from, to). */
function meanIn<T extends { t: number }>(xs: readonly T[], from: number, to: number, v: (x: T) => number) {
  const inside = xs.filter((x) => x.t >= from && x.t < to)
  return inside.length ? inside.reduce((s, x) => s + v(x), 0) / inside.length : NaN
}

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

/**
 * Flatness of one measure: the mean over the last window against the mean over the first window
 * after warm-up (the first kill's interval), and the least-squares slope from warm-up on.
 */
interface Flatness {
  firstWindow: number
  lastWindow: number
  changePercent: number
  slopePerMin: number
  flat: boolean
}

function flatness<T extends { t: number }>(
  xs: readonly T[],
  v: (x: T) => number,
  warmUpS: number,
  windowS: number,
  endS: number,
  maxChangePercent: number
): Flatness {
  const firstWindow = meanIn(xs, warmUpS, warmUpS + windowS, v)
  const lastWindow = meanIn(xs, endS - windowS, endS + 1, v)
  const changePercent = (lastWindow / firstWindow - 1) * 100
  const points = xs.filter((x) => x.t >= warmUpS).map((x) => ({ x: x.t / 60, y: v(x) }))
  return {
    firstWindow,
    lastWindow,
    changePercent,
    slopePerMin: slope(points),
    flat: Number.isFinite(changePercent) && changePercent < maxChangePercent
  }
}

/** Redis memory and server memory may grow by less than this from the first window after warm-up. */
const MAX_GROWTH_PERCENT = 10

function lastProgress(load: TrackedProcess): SoakProgress | null {
  const lines = load.output.split('\n')
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = /^progress (.*)$/.exec(lines[i]!)
    if (m) return JSON.parse(m[1]!) as SoakProgress
  }
  return null
}

const int = (n: number): string => Math.round(n).toLocaleString('en')
const mib = (n: number): string => `${(n / MiB).toFixed(1)} MiB`
const signed = (n: number, decimals = 1): string => `${n >= 0 ? '+' : ''}${n.toFixed(decimals)}`

async function redisMemory(client: RedisClientType): Promise<RedisMemory> {
  const info = await client.info('memory')
  const field = (name: string): number => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? NaN)
  return {
    usedBytes: field('used_memory'),
    rssBytes: field('used_memory_rss'),
    // What used_memory is made of: the data, and Redis's own (clients' buffers, dictionaries, scripts).
    datasetBytes: field('used_memory_dataset'),
    overheadBytes: field('used_memory_overhead'),
    keys: await client.dbSize()
  }
}

export async function runRedisSoak(options: RedisSoakOptions): Promise<number> {
  const startedAt = new Date()
  const machine = describeMachine()
  const log = (message: string): void =>
    console.error(`[${((Date.now() - startedAt.getTime()) / 1000).toFixed(0)} s] ${message}`)
  log(
    `soak across processes: ${options.pairs} pairs over ${options.processes} processes on Redis for ` +
      `${options.minutes} min, ${options.rate} frames/s each way per pair, one process killed -9 and ` +
      `restarted every ${options.killEveryS} s; ${machine.nproc} cores, load average ${machine.loadAverageAtStart.toFixed(2)}`
  )
  if (redisMissing !== null) throw new Error(`the soak across processes needs Redis: ${redisMissing}`)
  const built = spawnSync(process.execPath, ['scripts/build-cli.mjs', '--if-stale'], { encoding: 'utf8' })
  if (built.status !== 0) throw new Error(`building ${ENTRY} failed: ${built.stderr}`)

  const redis = await RedisServer.start()
  const redisPid = redis.pid!
  const monitor = createClient({ url: redis.url }) as RedisClientType
  monitor.on('error', () => undefined)
  await monitor.connect()
  const slots: Slot[] = []
  const lives: Life[] = []
  let load: TrackedProcess | null = null
  let sendingStart = Date.now()
  const nowS = (): number => (Date.now() - sendingStart) / 1000

  const startServer = async (index: number, port: number): Promise<Slot> => {
    const proc = startNode(`server ${index}`, [
      '--inspect=127.0.0.1:0',
      ENTRY,
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--redis',
      redis.url,
      '--log-level',
      'warn'
    ])
    const url = (await proc.waitForLine(/channel server listening on (\S+)/, 20_000))[1]!
    const debuggerUrl = (await proc.waitForStderr(/Debugger listening on (ws:\/\/\S+)/, 10_000))[1]!
    const inspector = await Inspector.connect(debuggerUrl).catch(() => null)
    if (inspector) await inspector.call('HeapProfiler.enable').catch(() => undefined)
    const life: Life = {
      slot: index,
      pid: proc.pid,
      port: Number(new URL(url).port),
      bornAtMs: Date.now(),
      bornS: nowS(),
      endS: null,
      killed: false,
      ticksAtStart: cpuTicks(proc.pid),
      ticksAtEnd: null
    }
    lives.push(life)
    return { index, port: life.port, proc, inspector, life }
  }

  try {
    for (let i = 0; i < options.processes; i++) slots.push(await startServer(i, 0))
    await sleep(500)
    // What a process holds with no client: its descriptors above this are its clients' sockets.
    const idleFds = Math.max(...slots.map((s) => openFds(s.proc.pid)))
    const redisIdle = await redisMemory(monitor)
    log(
      `redis ${redisPid} at ${redis.url} (${mib(redisIdle.usedBytes)} used, ${redisIdle.keys} keys); servers ` +
        slots.map((s) => `${s.proc.pid} on ${s.port}`).join(', ')
    )

    const durationMs = options.minutes * 60_000
    const loadOptions: SoakLoadOptions = {
      url: `ws://127.0.0.1:${slots[0]!.port}/channel`,
      ports: slots.map((s) => s.port),
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
    sendingStart = Date.now()
    // The first processes started before sending did: their times are negative.
    for (const l of lives) l.bornS = (l.bornAtMs - sendingStart) / 1000
    log(`${setup.pairs} pairs in their sessions after ${(setup.setupMs / 1000).toFixed(1)} s`)
    const redisTicksAtStart = cpuTicks(redisPid)
    for (const s of slots) s.life.ticksAtStart = cpuTicks(s.proc.pid)

    const samples: Sample[] = []
    const sample = async (): Promise<void> => {
      const servers = slots.map((s) => {
        if (!s.proc.isRunning) return null
        try {
          return { pid: s.proc.pid, rssBytes: rssBytes(s.proc.pid), fds: openFds(s.proc.pid) }
        } catch {
          return null
        }
      })
      const redisNow = await redisMemory(monitor).catch(() => null)
      const s: Sample = {
        t: nowS(),
        loadAverage: loadavg()[0]!,
        servers,
        serversRssBytes: servers.reduce((n, x) => n + (x?.rssBytes ?? 0), 0),
        allRunning: servers.every((x) => x !== null),
        redis: redisNow,
        progress: lastProgress(load!)
      }
      samples.push(s)
      const p = s.progress
      log(
        `soak ${s.t.toFixed(0)} s: servers ${servers.map((x) => (x ? mib(x.rssBytes) : 'down')).join(' / ')}` +
          (redisNow ? `; redis ${mib(redisNow.usedBytes)}, ${redisNow.keys} keys` : '; redis unread') +
          (p
            ? `; ${int(p.framesDelivered)}/${int(p.framesSent)} delivered, ${p.clientsReady}/${setup.pairs * 2} ready, ` +
              `${int(p.reconnects)} reconnects, by port ${JSON.stringify(p.byPort ?? {})}`
            : '') +
          `; load ${s.loadAverage.toFixed(1)}`
      )
    }
    const heap: HeapSample[] = []
    const sampleHeap = async (): Promise<void> => {
      const t = nowS()
      const perSlot = await Promise.all(
        slots.map((s) =>
          s.proc.isRunning && s.inspector
            ? s.inspector.heapUsedAfterGc().catch(() => null)
            : Promise.resolve(null)
        )
      )
      const h: HeapSample = {
        t,
        perSlot,
        totalBytes: perSlot.reduce<number>((n, x) => n + (x ?? 0), 0),
        allAnswered: perSlot.every((x) => x !== null)
      }
      heap.push(h)
      log(
        `soak ${t.toFixed(0)} s: heaps after a full collection ${perSlot.map((x) => (x === null ? '–' : mib(x))).join(' / ')}`
      )
    }

    const kills: KillEvent[] = []
    let killing: Promise<void> = Promise.resolve()
    const killOne = async (k: number): Promise<void> => {
      const slot = slots[k % slots.length]!
      const t = nowS()
      const sockets = Math.max(0, openFds(slot.proc.pid) - idleFds)
      const connections = lastProgress(load!)?.byPort?.[slot.port] ?? null
      slot.life.ticksAtEnd = cpuTicks(slot.proc.pid)
      slot.inspector?.close()
      await slot.proc.kill()
      slot.life.endS = nowS()
      slot.life.killed = true
      const killedAt = Date.now()
      await sleep(options.downS * 1000)
      const fresh = await startServer(slot.index, slot.port)
      slots[slot.index] = fresh
      const event: KillEvent = {
        t,
        slot: slot.index,
        pid: slot.life.pid,
        port: slot.port,
        socketsAtKill: sockets,
        connectionsAtKill: connections,
        restartedAfterMs: Date.now() - killedAt
      }
      kills.push(event)
      log(
        `killed -9 server ${slot.index} (pid ${event.pid}, ${sockets} client sockets); started again as pid ` +
          `${fresh.proc.pid} after ${(event.restartedAfterMs / 1000).toFixed(1)} s`
      )
    }

    await sample()
    await sampleHeap()
    const sampler = setInterval(() => void sample().catch(() => undefined), options.sampleS * 1000)
    const heapSampler = setInterval(() => void sampleHeap().catch(() => undefined), options.heapEveryS * 1000)
    let k = 0
    const killer = setInterval(() => {
      if (nowS() > durationMs / 1000 - 5) return // no kill in the last seconds of sending
      const n = k++
      killing = killing.then(() => killOne(n)).catch((e: unknown) => log(`kill failed: ${String(e)}`))
    }, options.killEveryS * 1000)
    let result: SoakLoadResult
    try {
      // The last samples a little before the load generator stops sending (its own clock).
      await sleep(durationMs - 3_000)
      clearInterval(killer)
      await killing
      clearInterval(heapSampler)
      clearInterval(sampler)
      await sample()
      await sampleHeap()
      for (const s of slots) s.life.ticksAtEnd = cpuTicks(s.proc.pid)
      const disposed = await load.waitForLine(/^disposed (.*)$/, loadOptions.drainMs + 120_000)
      result = JSON.parse(disposed[1]!) as SoakLoadResult
    } finally {
      clearInterval(killer)
      clearInterval(sampler)
      clearInterval(heapSampler)
    }
    const redisTicksAtEnd = cpuTicks(redisPid)
    for (const s of slots) s.life.endS = nowS()
    load.send('close')
    await load.finish(10_000)
    // Once every client is gone, the sessions' keys must go too (the processes' own keys stay).
    await sleep(2_000)
    const redisAfterDispose = await redisMemory(monitor)

    const t = result.totals
    const durationS = durationMs / 1000
    const warmUpS = options.killEveryS
    const windowS = options.killEveryS
    const redisMem = flatness(
      samples.filter((s) => s.redis !== null),
      (s) => s.redis!.usedBytes / MiB,
      warmUpS,
      windowS,
      durationS,
      MAX_GROWTH_PERCENT
    )
    const redisKeys = flatness(
      samples.filter((s) => s.redis !== null),
      (s) => s.redis!.keys,
      warmUpS,
      windowS,
      durationS,
      MAX_GROWTH_PERCENT
    )
    // Only while every process runs: a sample in the second of a restart would read low.
    const serversRss = flatness(
      samples.filter((s) => s.allRunning),
      (s) => s.serversRssBytes / MiB,
      warmUpS,
      windowS,
      durationS,
      MAX_GROWTH_PERCENT
    )
    // Heaps are read less often: their windows hold two readings at least.
    const serversHeap = flatness(
      heap.filter((h) => h.allAnswered),
      (h) => h.totalBytes / MiB,
      warmUpS,
      Math.max(windowS, 2 * options.heapEveryS),
      durationS,
      MAX_GROWTH_PERCENT
    )
    const memoryFlat = redisMem.flat && redisKeys.flat && serversRss.flat && serversHeap.flat
    const nothingLost =
      result.drained &&
      t.lost === 0 &&
      t.duplicates === 0 &&
      t.outOfOrder === 0 &&
      t.pairsWithLoss === 0 &&
      t.expired === 0 &&
      t.missed === 0 &&
      t.dropped === 0 &&
      t.sessionsLost === 0
    const serverTicks = lives.reduce((n, l) => n + ((l.ticksAtEnd ?? l.ticksAtStart) - l.ticksAtStart), 0)
    const serversCpuPercent = ((serverTicks / CLK_TCK) * 100) / durationS
    const redisCpuPercent = (((redisTicksAtEnd - redisTicksAtStart) / CLK_TCK) * 100) / durationS
    const loads = samples.map((s) => s.loadAverage)
    machine.loadAverageAtEnd = currentLoadAverage()
    const seconds = (Date.now() - startedAt.getTime()) / 1000

    const flatLine = (f: Flatness, unit: (n: number) => string, slopeUnit: string): string =>
      `${unit(f.firstWindow)} in the first minute after warm-up, ${unit(f.lastWindow)} in the last ` +
      `(${signed(f.changePercent)} %), slope ${signed(f.slopePerMin, 2)} ${slopeUnit}/min: ${f.flat ? 'flat' : 'NOT FLAT'}`
    const mibUnit = (n: number): string => `${n.toFixed(1)} MiB`
    const keysUnit = (n: number): string => `${int(n)} keys`
    const heading =
      `Genie Bridge soak across processes, ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC: ` +
      `${machine.nproc} cores (${machine.cpuModel}), Node ${machine.node}, Redis ${redisVersion()}, load average ` +
      `${machine.loadAverageAtStart.toFixed(1)}→${machine.loadAverageAtEnd.toFixed(1)} (during: ` +
      `${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}); ${seconds.toFixed(0)} s`
    const lines: [string, string][] = [
      [
        'load',
        `${int(t.pairs)} device/web pairs (${int(t.clients)} clients) over ${options.processes} server processes ` +
          `on one Redis, behind a balancer, for ${options.minutes} min, ${options.rate} data frames/s each way per pair` +
          (options.cutsPerSecond > 0 ? `, ${options.cutsPerSecond} connections cut/s` : '')
      ],
      [
        'kills',
        `${kills.length} (one every ${options.killEveryS} s, in turn), each restarted on its port after ` +
          `${kills.map((e) => (e.restartedAfterMs / 1000).toFixed(1)).join(' / ')} s; the victim had ` +
          `${kills.map((e) => e.connectionsAtKill ?? '?').join(' / ')} client connections`
      ],
      [
        'reconnects',
        `${int(t.reconnects)} reconnects, ${int(t.sessionsRestored)} sessions taken back, ${int(t.sessionsLost)} lost; ` +
          `${int(t.membershipNotifies)} join/leave/destroy notifies; balancer: ${int(result.balancer?.accepted ?? 0)} ` +
          `connections, ${int(result.balancer?.failovers ?? 0)} past a dead process, ${int(result.balancer?.unplaced ?? 0)} unplaced`
      ],
      [
        'back in session',
        `${int(t.backInSessionMs.count)} times, after p50 ${int(t.backInSessionMs.p50)} ms, p99 ` +
          `${int(t.backInSessionMs.p99)} ms, max ${int(t.backInSessionMs.max)} ms (connection lost → session taken back)`
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
      ['redis used_memory', flatLine(redisMem, mibUnit, 'MiB')],
      ['redis keys', flatLine(redisKeys, keysUnit, 'keys')],
      [
        'redis after dispose',
        `${mib(redisAfterDispose.usedBytes)}, ${redisAfterDispose.keys} keys (idle before the clients: ` +
          `${mib(redisIdle.usedBytes)}, ${redisIdle.keys} keys)`
      ],
      ['servers RSS (sum)', flatLine(serversRss, mibUnit, 'MiB')],
      ['servers heap (sum)', `after a full collection: ${flatLine(serversHeap, mibUnit, 'MiB')}`],
      [
        'CPU',
        `server processes ${serversCpuPercent.toFixed(1)} % of one core in all, Redis ${redisCpuPercent.toFixed(1)} %`
      ],
      [
        'verdict',
        `${nothingLost ? 'nothing lost' : 'FRAMES LOST'}, memory ${memoryFlat ? 'flat' : 'NOT FLAT'} ` +
          `(flat: the mean of the last ${windowS} s within +${MAX_GROWTH_PERCENT} % of the mean of the ` +
          `${windowS} s after the first kill)`
      ]
    ]
    const width = Math.max(...lines.map(([key]) => key.length))
    const body = lines.map(([key, v]) => `${key.padEnd(width)}  ${v}`).join('\n')
    console.log(`\n${heading}\n\n${body}`)

    const paths = writeResults(
      startedAt,
      {
        startedAt: startedAt.toISOString(),
        seconds,
        machine,
        options,
        servers: { command: ['node', '--inspect=127.0.0.1:0', ENTRY, '--redis', '<url>'], lives },
        load: loadOptions,
        kills,
        idle: { serverFds: idleFds, redis: redisIdle },
        samples,
        heapSamples: heap,
        memory: {
          redisUsed: redisMem,
          redisKeys,
          serversRss,
          serversHeap,
          maxGrowthPercent: MAX_GROWTH_PERCENT
        },
        redisAfterDispose,
        cpu: { serversCpuPercent, redisCpuPercent },
        result,
        verdict: { nothingLost, memoryFlat }
      },
      'soak-redis-'
    )
    console.log(`\nresults: ${paths.join(', ')}`)
    if (options.writeDocs) {
      writeTableIntoDocs(['```text', heading, '', body, '```'].join('\n'), 'soak-redis-table')
      console.log('summary written into docs/BENCHMARKS.md')
    }
    return nothingLost && memoryFlat ? 0 : 1
  } finally {
    for (const s of slots) s.inspector?.close()
    await load?.kill()
    await Promise.all(slots.map((s) => s.proc.kill()))
    await monitor.close().catch(() => undefined)
    await redis.stop()
  }
}

function redisVersion(): string {
  const r = spawnSync(REDIS_SERVER_BIN, ['--version'], { encoding: 'utf8' })
  return /v=(\S+)/.exec(r.stdout)?.[1] ?? 'unknown'
}
