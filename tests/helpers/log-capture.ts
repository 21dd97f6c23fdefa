/** A logger whose lines a test reads back, parsed, in the order they were written. */
import { Writable } from 'node:stream'
import { type LogLevel, type Logger, createLogger } from '../../src/main/log'

export function capturedLogger(level: LogLevel = 'info'): {
  logger: Logger
  lines: Record<string, unknown>[]
} {
  const lines: Record<string, unknown>[] = []
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean))
        lines.push(JSON.parse(line) as Record<string, unknown>)
      done()
    }
  })
  return { logger: createLogger({ level, destination }), lines }
}
