/**
 * Load generator of the idle-scale workload, run as its own process: opens `count` connections
 * (at most `concurrency` opening at a time), authenticates each and sends one keep-alive, then holds
 * them until told to close (a `close` line on stdin) or until its own deadline.
 *
 * Input: one JSON argument (IdleLoadOptions). Output: a stdout line `ready {json}` (IdleLoadResult).
 */
import { performance } from 'node:perf_hooks'
import { createInterface } from 'node:readline'
import type WebSocket from 'ws'
import type { SubjectId } from '../servers/subjects'
import { CLIENT_PROTOCOLS } from './client-protocols'

export interface IdleLoadOptions {
  subject: SubjectId
  url: string
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
  const sockets: WebSocket[] = []
  let next = 0
  const started = performance.now()
  async function worker(): Promise<void> {
    while (next < options.count) {
      const index = next++
      sockets.push(await protocol.connectIdle(options.url, index))
    }
  }
  await Promise.all(Array.from({ length: Math.min(options.concurrency, options.count) }, worker))
  const result: IdleLoadResult = { count: sockets.length, openMs: performance.now() - started }
  console.log(`ready ${JSON.stringify(result)}`)

  // Hold the connections until the runner has read the server's memory.
  const input = createInterface({ input: process.stdin })
  for await (const line of input) if (line.trim() === 'close') break
  // Exiting closes every socket at once; closing 10k of them one by one would only cost time.
  process.exit(0)
}

main().catch((e: unknown) => {
  console.error(`idle load generator failed: ${e instanceof Error ? e.message : String(e)}`)
  process.exit(1)
})
