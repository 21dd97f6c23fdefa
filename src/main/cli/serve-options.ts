/**
 * The headless server's command line (`npm run serve -- …`), read into the channel server's
 * options. Kept apart from the entry so that it can be tested without starting a process.
 */
import { readFileSync } from 'node:fs'
import type { ChannelServerOptions } from '../channel/server'
import { DEFAULT_LIMITS, type ServerLimits, limitProblem, resolveLimits } from '../channel/limits'
import {
  REDIS_LIMITS,
  type RedisLimits,
  redisLimitProblem,
  resolveRedisLimits
} from '../channel/redis/redis-registry'
import { LOG_LEVELS, type LogLevel } from '../log'
import {
  type LimitFamily,
  last,
  limitArgs,
  list,
  logLevelArg,
  parseCommandLine,
  portArg,
  quoted
} from './args'

export const DEFAULT_SERVE_PORT = 8787
/** Read when --token is not given, so that the token need not appear in the process list. */
export const TOKEN_ENV = 'GENIE_BRIDGE_TOKEN'
/** Read when --operator-token is not given, for the same reason. */
export const OPERATOR_TOKEN_ENV = 'GENIE_BRIDGE_OPERATOR_TOKEN'
/** Read when --log-level is not given. */
export const LOG_LEVEL_ENV = 'GENIE_BRIDGE_LOG_LEVEL'
export const DEFAULT_LOG_LEVEL: LogLevel = 'info'
/** Read when --redis is not given. */
export const REDIS_ENV = 'GENIE_BRIDGE_REDIS'

export const SERVE_OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  host: { type: 'string', multiple: true },
  port: { type: 'string', multiple: true },
  token: { type: 'string', multiple: true },
  'operator-token': { type: 'string', multiple: true },
  'allow-origin': { type: 'string', multiple: true },
  'allow-uuid': { type: 'string', multiple: true },
  'tls-cert': { type: 'string', multiple: true },
  'tls-key': { type: 'string', multiple: true },
  'open-access': { type: 'boolean' },
  'limit-loopback': { type: 'boolean' },
  limit: { type: 'string', multiple: true },
  path: { type: 'string', multiple: true },
  redis: { type: 'string', multiple: true },
  'redis-limit': { type: 'string', multiple: true },
  'log-level': { type: 'string', multiple: true }
} as const

export const SERVE_USAGE = `usage: npm run serve -- [options]
  --host ADDRESS         interface to bind (default 127.0.0.1; beyond loopback a token or
                         --allow-uuid is required, and one is made up and printed if neither is given)
  --port N               port (default ${DEFAULT_SERVE_PORT}; 0 picks a free one)
  --token TOKEN          access token clients present at upgrade: ?token=TOKEN in the URL or
                         Authorization: Bearer TOKEN (also read from $${TOKEN_ENV}); GET /metrics needs it too
  --operator-token TOKEN operator connections present it to list sessions and follow them
                         (presence; also read from $${OPERATOR_TOKEN_ENV}; without it nobody may)
  --allow-origin ORIGIN  only pages from this origin may connect (repeatable or comma-separated;
                         default: any origin)
  --allow-uuid UUID      only this uuid may authenticate (repeatable or comma-separated)
  --tls-cert FILE        serve wss:// with this PEM certificate (chain); needs --tls-key
  --tls-key FILE         the PEM private key of --tls-cert
  --open-access          beyond loopback, accept anyone without a token or uuid allowlist
  --limit-loopback       apply the per-address caps to loopback clients too
  --limit NAME=VALUE     override a limit (repeatable): ${Object.keys(DEFAULT_LIMITS).join(', ')}
  --path PATH            only this path accepts connections, e.g. /channel (repeatable or
                         comma-separated; default: any path, as KT's examples use several)
  --redis URL            share sessions with the other processes on this Redis (redis://HOST:PORT;
                         also read from $${REDIS_ENV}); without it sessions live in this process
  --redis-limit NAME=VALUE
                         with --redis, override a limit of the Redis store or its clients (repeatable;
                         inboxBlockMs must stay below commandTimeoutMs): ${Object.keys(REDIS_LIMITS).join(', ')}
  --log-level LEVEL      JSON log lines on stderr from this level up: ${LOG_LEVELS.join(', ')}
                         (default ${DEFAULT_LOG_LEVEL}; also read from $${LOG_LEVEL_ENV})
  -h, --help             this text

On the same port: GET /healthz (the process is up), GET /readyz (it takes new sessions; 503 while
shutting down), GET /metrics (Prometheus text format). SIGTERM or SIGINT: members are told their
sessions end, connections close, the process exits 0.`

export interface ServeConfig {
  help: boolean
  server: ChannelServerOptions
  logLevel: LogLevel
  /** Sessions on this Redis (shared with other processes), or null: in this process. */
  redisUrl: string | null
  /** `--redis-limit` overrides (RedisRegistryOptions); only with a redisUrl. */
  redisLimits: Partial<RedisLimits>
}

/** The channel server's limits, as `--limit` sets them. */
export const SERVER_LIMIT_FAMILY: LimitFamily<ServerLimits> = {
  defaults: DEFAULT_LIMITS,
  problem: (name, value) => limitProblem(name, value)
}

/** The Redis store's and its clients' limits, as `--redis-limit` sets them. */
export const REDIS_LIMIT_FAMILY: LimitFamily<RedisLimits> = {
  defaults: REDIS_LIMITS,
  problem: redisLimitProblem
}

export function parseServeArgs(argv: readonly string[], env: NodeJS.ProcessEnv = {}): ServeConfig {
  const v = parseCommandLine(argv, SERVE_OPTIONS)
  const logLevel = logLevelArg(last(v['log-level']) ?? env[LOG_LEVEL_ENV] ?? DEFAULT_LOG_LEVEL)
  if (v.help) return { help: true, server: {}, logLevel, redisUrl: null, redisLimits: {} }
  const redisUrl = last(v.redis) ?? env[REDIS_ENV] ?? null
  if (redisUrl !== null && !/^rediss?:\/\/[^/]/.test(redisUrl))
    throw new Error(`--redis must be a redis:// or rediss:// URL, got ${quoted(redisUrl)}`)
  const redisLimits = limitArgs('redis-limit', v['redis-limit'] ?? [], REDIS_LIMIT_FAMILY)
  if (Object.keys(redisLimits).length > 0) {
    if (redisUrl === null)
      throw new Error(
        `--redis-limit needs --redis URL (or $${REDIS_ENV}): without it there is no Redis to limit`
      )
    // Checked together here (inboxBlockMs below commandTimeoutMs), not first when Redis is reached.
    resolveRedisLimits(redisLimits, '--redis-limit')
  }
  const token = last(v.token) ?? env[TOKEN_ENV] ?? null
  const cert = readPem('tls-cert', last(v['tls-cert']))
  const key = readPem('tls-key', last(v['tls-key']))
  if ((cert === undefined) !== (key === undefined)) throw new Error('TLS needs both --tls-cert and --tls-key')
  return {
    help: false,
    logLevel,
    redisUrl,
    redisLimits,
    server: {
      host: last(v.host) ?? '127.0.0.1',
      port: portArg('port', last(v.port), DEFAULT_SERVE_PORT),
      limits: limitOverrides(v.limit ?? []),
      token: token === '' ? null : token,
      operatorToken: last(v['operator-token']) ?? env[OPERATOR_TOKEN_ENV] ?? null,
      allowOrigins: list('allow-origin', v['allow-origin']),
      allowUuids: list('allow-uuid', v['allow-uuid']),
      paths: list('path', v.path),
      openAccess: v['open-access'] ?? false,
      limitLoopback: v['limit-loopback'] ?? false,
      ...(cert && key ? { tls: { cert, key } } : {})
    }
  }
}

/**
 * `--limit name=value` pairs as channel server limit overrides, checked together as the server
 * will check them (maxPayloadBytes at least maxFrameBytes, …), so that it is refused here.
 */
export function limitOverrides(values: readonly string[]): Partial<ServerLimits> {
  const overrides = limitArgs('limit', values, SERVER_LIMIT_FAMILY)
  resolveLimits(overrides, '--limit')
  return overrides
}

function readPem(name: string, file: string | undefined): Buffer | undefined {
  if (file === undefined) return undefined
  try {
    return readFileSync(file)
  } catch (e) {
    throw new Error(`cannot read --${name} ${quoted(file)}: ${readProblem(e)}`)
  }
}

/** Why a file could not be read, without the path: the message has quoted it already. */
function readProblem(e: unknown): string {
  const err = e as NodeJS.ErrnoException
  // Node's own message repeats the path raw ("ENOENT: no such file or directory, open '…'").
  if (typeof err.syscall === 'string' && typeof err.message === 'string')
    return err.path === undefined ? err.message : err.message.replace(`, ${err.syscall} '${err.path}'`, '')
  if (err.code === 'ERR_INVALID_ARG_VALUE') return 'a file name cannot hold a null character'
  return e instanceof Error ? e.message : String(e)
}
