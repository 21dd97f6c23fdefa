/**
 * Load generator of the idle-scale workload, run as its own process: opens `warmup` connections,
 * says `warm` and waits for a `go` line on stdin; then opens `count` more (at most `concurrency`
 * opening at a time). Each authenticates and sends one keep-alive. It holds them all until told to
 * close (a `close` line on stdin) or until its own deadline.
 *
 * Input: one JSON argument (IdleLoadOptions). Output: stdout lines `warm` and `ready {json}`
 * (IdleLoadResult, for the `count` connections).
 */
import { performance } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import type WebSocket from 'ws'
import type { SubjectId } from '../servers/subjects'
import { CLIENT_PROTOCOLS } from './client-protocols'

export interface IdleLoadOptions {
  subject: SubjectId
  url: string
  /** Opened first and kept: the server has run its connection code and grown its heap before. */
  warmup: number
  count: number
  concurrency: number
  /** The process ends by itself after this long, whatever happens. */
  holdMs: number
}

export interface IdleLoadResult {
  count: number
  openMs: number
}

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '{}') as IdleLoadOptions
  setTimeout(() => {
    console.error('idle load generator: deadline passed, stopping')
    process.exit(2)
  }, options.holdMs).unref()

  const protocol = CLIENT_PROTOCOLS[options.subject]
  const input = createInterface({ input: process.stdin })[Symbol.asyncIterator]()
  const nextLine = async (): Promise<string | null> => {
    const line = await input.next()
    return line.done ? null : String(line.value).trim()
  }
  const sockets: WebSocket[] = []
  let next = 0
  async function open(upTo: number): Promise<void> {
    const worker = async (): Promise<void> => {
      while (next < upTo) {
        const index = next++
        sockets.push(await protocol.connectIdle(options.url, index))
      }
    }
    await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency, upTo - next)) }, worker))
  }
  await open(options.warmup)
  console.log('warm')
  if ((await nextLine()) !== 'go') process.exit(0)
  const started = performance.now()
  await open(options.warmup + options.count)
  const result: IdleLoadResult = {
    count: sockets.length - options.warmup,
    openMs: performance.now() - started
  }
  console.log(`ready ${JSON.stringify(result)}`)

  // Hold the connections until the runner has read the server's memory.
  for (let line = await nextLine(); line !== null && line !== 'close'; line = await nextLine());
  // Exiting closes every socket at once; closing 10k of them one by one would only cost time.
  process.exit(0)
}

main().catch((e: unknown) => {
  console.error(`idle load generator failed: ${e instanceof Error ? e.message : String(e)}`)
  process.exit(1)
})
