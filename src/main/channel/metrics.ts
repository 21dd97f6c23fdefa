/**
 * The channel server's metrics in the Prometheus text format (prom-client), served at
 * `GET /metrics`.
 *
 * The relay never calls prom-client: the server keeps plain integer counters (`ServerCounters`)
 * and its gauges (`ServerStats`), and every metric here reads them in its `collect()`, at scrape
 * time. A frame costs an integer increment, not a label lookup.
 *
 * Redis metrics exist from the start (zero while the server keeps its state in memory) so that a
 * dashboard does not change shape with the topology; a Redis store feeds them through
 * `ChannelMetrics.redis` (see `RedisMetrics`).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { Readiness, ServerCounters, ServerStats } from './server'

export const METRICS_PREFIX = 'genie_bridge_'
/** How often the event-loop-lag metrics sample the loop (prom-client's default). */
export const EVENT_LOOP_PRECISION_MS = 10

/** What the metrics read at scrape time: the channel server. */
export interface MetricsSource {
  stats(): ServerStats
  counters(): ServerCounters
  readiness(): Readiness
}

/**
 * Where a Redis store reports each round trip and each failure. Every call is cheap (one
 * histogram bucket, one counter); `timeRedis` wraps a command with both.
 */
export interface RedisMetrics {
  /** One command or script answered after `seconds`; `command` is a short name ("eval", "publish"). */
  observeRoundTrip(command: string, seconds: number): void
  /** One failure; `kind` is a short, bounded name ("timeout", "backlog", "connection", "reply", "subscriber"). */
  countError(kind: string): void
}

/** Round-trip buckets: a loopback Redis answers in ~0.1–1 ms; a command timeout is seconds. */
export const REDIS_ROUND_TRIP_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5
]

export interface ChannelMetricsOptions {
  /** Also export Node's process metrics (CPU, memory, event-loop lag, GC); default true. */
  processMetrics?: boolean
  prefix?: string
}

export class ChannelMetrics {
  readonly registry = new Registry()
  readonly redis: RedisMetrics
  private readonly prefix: string
  private source: MetricsSource | null = null
  /** The server read once for the scrape under way, shared by every metric's collect(). */
  private scrape: { stats: ServerStats; counters: ServerCounters; ready: boolean } | null = null
  private readonly processMetricsWanted: boolean
  /** Node's process metrics, once started (at the first scrape: see startProcessMetrics). */
  private processMetricsStarted: Promise<void> | null = null

  constructor(options: ChannelMetricsOptions = {}) {
    this.prefix = options.prefix ?? METRICS_PREFIX
    this.processMetricsWanted = options.processMetrics ?? true
    this.registerServerMetrics()
    this.redis = registerRedisMetrics(this.registry, this.prefix)
  }

  /** Binds the metrics to the server they describe (ChannelServer does it with its own). */
  watch(source: MetricsSource): void {
    if (this.source !== null && this.source !== source)
      throw new Error('these metrics already watch a server')
    this.source = source
  }

  get contentType(): string {
    return this.registry.contentType
  }

  /** The text a scrape gets. */
  async text(): Promise<string> {
    if (this.processMetricsWanted) await (this.processMetricsStarted ??= this.startProcessMetrics())
    this.scrape = this.reading()
    try {
      return await this.registry.metrics()
    } finally {
      this.scrape = null
    }
  }

  /**
   * Node's process metrics start at the first scrape, not with the server: their event-loop
   * monitor wakes the process every EVENT_LOOP_PRECISION_MS, and on an otherwise idle server
   * those wake-ups are most of its CPU time (docs/BENCHMARKS.md, "The envelope scan, large frames and the idle process"). A server nobody
   * scrapes never pays for them. The first scrape waits for the monitor's first samples, so that
   * its event-loop figures are measured ones rather than an empty histogram's.
   */
  private async startProcessMetrics(): Promise<void> {
    collectDefaultMetrics({
      register: this.registry,
      prefix: this.prefix,
      eventLoopMonitoringPrecision: EVENT_LOOP_PRECISION_MS
    })
    // Three turns of the loop's timers, each at least one precision apart: the monitor's timer
    // fires in each (it is due by then, and it was started first), and its second firing is its
    // first sample. A fixed wait would not do: a loop that stalls for it fires the monitor once.
    for (let turn = 0; turn < 3; turn++)
      await new Promise((resolve) => setTimeout(resolve, EVENT_LOOP_PRECISION_MS))
  }

  private reading(): { stats: ServerStats; counters: ServerCounters; ready: boolean } | null {
    const src = this.source
    return src === null
      ? null
      : { stats: src.stats(), counters: src.counters(), ready: src.readiness().ready }
  }

  private registerServerMetrics(): void {
    const registers = [this.registry]
    const p = this.prefix
    type Reading = { stats: ServerStats; counters: ServerCounters; ready: boolean }
    const read = (): Reading | null => this.scrape ?? this.reading()
    const gauge = (name: string, help: string, value: (s: Reading) => number): void => {
      new Gauge({
        name: p + name,
        help,
        registers,
        collect() {
          const s = read()
          this.set(s === null ? 0 : value(s))
        }
      })
    }
    const counter = (name: string, help: string, value: (c: ServerCounters) => number): void => {
      new Counter({
        name: p + name,
        help,
        registers,
        collect() {
          const s = read()
          this.reset()
          this.inc(s === null ? 0 : value(s.counters))
        }
      })
    }
    const byCode = (
      name: string,
      help: string,
      label: string,
      values: (c: ServerCounters) => ReadonlyMap<number, number>
    ): void => {
      new Counter({
        name: p + name,
        help,
        labelNames: [label],
        registers,
        collect() {
          const s = read()
          this.reset()
          if (s === null) return
          for (const [code, n] of values(s.counters)) this.labels({ [label]: String(code) }).inc(n)
        }
      })
    }

    gauge('ready', '1 while the server takes new sessions (GET /readyz answers 200), else 0', (s) =>
      s.ready ? 1 : 0
    )
    gauge('connections', 'Connections taking part in the protocol now', (s) => s.stats.connections)
    gauge('sockets', 'Sockets open now, including ones being closed', (s) => s.stats.sockets)
    gauge('sessions', 'Sessions now', (s) => s.stats.sessions)
    gauge(
      'away_slots',
      'Member places held for a lost connection within its grace period',
      (s) => s.stats.awaySlots
    )
    gauge('held_frames', 'Frames held for members within their grace period', (s) => s.stats.heldFrames)
    gauge('held_bytes', 'Bytes held for members within their grace period', (s) => s.stats.heldBytes)
    gauge(
      'buffered_bytes',
      'Bytes written to sockets and not yet taken by the peer',
      (s) => s.stats.bufferedBytes
    )
    counter(
      'connections_total',
      'Connections accepted (WebSocket upgrades completed)',
      (c) => c.connectionsAccepted
    )
    counter('sessions_created_total', 'Sessions created', (c) => c.sessionsCreated)
    counter('frames_received_total', 'WebSocket messages received from clients', (c) => c.framesReceived)
    counter(
      'received_bytes_total',
      'Bytes of the WebSocket messages received from clients',
      (c) => c.bytesReceived
    )
    counter(
      'frames_relayed_total',
      'Data frames relayed to the other members of their session',
      (c) => c.framesRelayed
    )
    counter(
      'relayed_bytes_total',
      'Bytes of the data frames relayed (counted once, as received)',
      (c) => c.bytesRelayed
    )
    byCode(
      'frames_refused_total',
      'Frames answered with an error reply, by its result_cd',
      'result_cd',
      (c) => c.refusedByResultCode
    )
    byCode(
      'upgrades_refused_total',
      'WebSocket upgrades refused, by HTTP status',
      'status',
      (c) => c.upgradesRefusedByStatus
    )
  }
}

/**
 * Registers the Redis metrics on `registry` and returns what feeds them:
 * `<prefix>redis_round_trip_seconds{command}` (histogram) and `<prefix>redis_errors_total{kind}`.
 */
export function registerRedisMetrics(registry: Registry, prefix = METRICS_PREFIX): RedisMetrics {
  const roundTrip = new Histogram({
    name: `${prefix}redis_round_trip_seconds`,
    help: 'Time from sending a Redis command or script to its answer',
    labelNames: ['command'],
    buckets: REDIS_ROUND_TRIP_BUCKETS,
    registers: [registry]
  })
  const errors = new Counter({
    name: `${prefix}redis_errors_total`,
    help: 'Redis commands that failed or timed out, and connection or subscriber faults, by kind',
    labelNames: ['kind'],
    registers: [registry]
  })
  return {
    observeRoundTrip: (command, seconds) => roundTrip.labels({ command }).observe(seconds),
    countError: (kind) => errors.labels({ kind }).inc()
  }
}

/**
 * Runs one Redis call, reporting its round trip, or an error of `errorKind(e)` (default "reply"),
 * then passes its outcome on unchanged.
 */
export async function timeRedis<T>(
  metrics: RedisMetrics,
  command: string,
  call: () => Promise<T>,
  errorKind: (e: unknown) => string = () => 'reply'
): Promise<T> {
  const started = process.hrtime.bigint()
  try {
    const result = await call()
    metrics.observeRoundTrip(command, Number(process.hrtime.bigint() - started) / 1e9)
    return result
  } catch (e) {
    metrics.countError(errorKind(e))
    throw e
  }
}
