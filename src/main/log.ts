/**
 * Structured JSON logs (pino) for the channel server, the command-line entries and the desktop
 * app's main process. Plain Node: no electron here.
 *
 * What a log line may never carry: an access token, an Authorization or Cookie header, or a URL's
 * query string (browsers put the token there). The server logs paths, never URLs; the redaction
 * below is the second line of defence for a field that slips through.
 */
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import pino, { type DestinationStream, type Logger } from 'pino'

export type { Logger }

/** The levels `--log-level` takes, most to least severe; `silent` logs nothing. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

/** Field paths whose values are replaced by "[redacted]" wherever they appear in a log object. */
export const REDACTED_PATHS = [
  'token',
  '*.token',
  'accessToken',
  '*.accessToken',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'headers.cookie',
  '*.headers.authorization',
  '*.headers.cookie'
]

/** The desktop app's main-process log, inside its user-data folder. */
export function mainLogFile(userDataDir: string): string {
  return join(userDataDir, 'logs', 'main.log')
}

/** The app logs its own life at info; its embedded server only its faults (see index.ts). */
export const DEFAULT_APP_LOG_LEVEL: LogLevel = 'info'
export const EMBEDDED_SERVER_LOG_LEVEL: LogLevel = 'warn'

/** A main-process log file grows to this size, then the next start moves it to `.old`. */
export const LOG_FILE_MAX_BYTES = 5 * 1024 * 1024

export interface LoggerOptions {
  level?: LogLevel
  /** Where lines go (default: stdout). */
  destination?: DestinationStream
  /** Fields on every line, e.g. `{ component: 'channel-server' }`. */
  base?: Record<string, unknown>
}

export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value)
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { pid: process.pid, ...options.base },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      // "level":"info" rather than 30: readable without pino's tools, and what log shippers expect.
      formatters: { level: (label) => ({ level: label }) },
      timestamp: pino.stdTimeFunctions.isoTime
    },
    options.destination
  )
}

/** A logger that writes nothing: the default of everything that takes one. */
export const silentLogger: Logger = pino({ level: 'silent' })

/**
 * A logger that appends to `file` (its folder is made if missing). A file over
 * LOG_FILE_MAX_BYTES is moved to `FILE.old` first (replacing the previous one), so the log keeps
 * at most two files' worth. Writes are asynchronous; call `flush()` before the process exits.
 */
export function createFileLogger(file: string, options: Omit<LoggerOptions, 'destination'> = {}): Logger {
  mkdirSync(dirname(file), { recursive: true })
  if (existsSync(file) && statSync(file).size > LOG_FILE_MAX_BYTES) renameSync(file, `${file}.old`)
  const destination = pino.destination({ dest: file, append: true, sync: false, mkdir: true })
  return createLogger({ ...options, destination })
}

/** The message of anything thrown, for a log line or a person. */
export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}
