/**
 * Fuzz: the command lines of `npm run serve` (parseServeArgs with its --limit and --redis-limit,
 * limitOverrides) and of `npm run host` (parseHostArgs with its --limit and --host-limit, portArg).
 * Every argv either gives options that are used as they are (the limits pass resolveLimits,
 * resolveRedisLimits or the host's own rule, the port is one, the log level is one) or is refused
 * with an Error whose one-line message names the flag or the value to fix: never a TypeError from
 * inside, never a hang. The options either parser returns build a server: what resolveLimits
 * refuses together is refused at parse time, as --limit.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import {
  DEFAULT_LIMITS,
  MAX_TIMER_MS,
  type ServerLimits,
  isLimitName,
  limitProblem,
  resolveLimits
} from '../../src/main/channel/limits'
import {
  REDIS_LIMITS,
  type RedisLimits,
  redisLimitProblem,
  resolveRedisLimits
} from '../../src/main/channel/redis/redis-registry'
import { ChannelServer } from '../../src/main/channel/server'
import { HOST_LIMITS, type HostLimits } from '../../src/main/host/browser-host'
import { limitArgs, portArg } from '../../src/main/cli/args'
import { HOST_LIMIT_FAMILY, HOST_OPTIONS, parseHostArgs } from '../../src/main/cli/host-options'
import {
  LOG_LEVEL_ENV,
  OPERATOR_TOKEN_ENV,
  REDIS_ENV,
  SERVER_LIMIT_FAMILY,
  SERVE_OPTIONS,
  TOKEN_ENV,
  limitOverrides,
  parseServeArgs
} from '../../src/main/cli/serve-options'
import { isLogLevel } from '../../src/main/log'
import { FUZZ_SEED, hostileString } from './hostile'

/** Cases per property: the eight together run in about 2 s on two cores. */
const RUNS = {
  serve: 1_500,
  limits: 1_500,
  server: 400,
  host: 1_000,
  port: 1_000,
  combined: 800,
  named: 1_500,
  oneLine: 1_000
} as const

/** Longer than this for one synchronous parse is a hang in the making (the slowest take ~1 ms). */
const MAX_PARSE_MS = 250

const dir = mkdtempSync(join(tmpdir(), 'gb-fuzz-serve-args-'))
writeFileSync(join(dir, 'cert.pem'), 'CERT')
writeFileSync(join(dir, 'key.pem'), 'KEY')
mkdirSync(join(dir, 'folder'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const LIMIT_NAMES = Object.keys(DEFAULT_LIMITS) as (keyof ServerLimits)[]
const REDIS_LIMIT_NAMES = Object.keys(REDIS_LIMITS) as (keyof RedisLimits)[]
const HOST_LIMIT_NAMES = Object.keys(HOST_LIMITS) as (keyof HostLimits)[]

/** Names every object has without owning them, and near misses of real ones. */
const INHERITED_NAMES = [
  'toString',
  'constructor',
  '__proto__',
  'hasOwnProperty',
  'valueOf',
  'isPrototypeOf',
  'propertyIsEnumerable',
  'toLocaleString',
  '__defineGetter__',
  '__lookupSetter__',
  'prototype'
]

/** Names for a `--flag name=value` of the family `names`: its own, inherited ones, near misses. */
function limitNameFrom(names: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...names) },
    { weight: 2, arbitrary: fc.constantFrom(...INHERITED_NAMES) },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom(...names)
        .chain((n) =>
          fc.constantFrom(n.toLowerCase(), n.toUpperCase(), ` ${n}`, `${n} `, `${n}s`, n.slice(1))
        )
    },
    { weight: 1, arbitrary: fc.constantFrom('', '=', ' ') },
    { weight: 1, arbitrary: hostileString }
  )
}

const limitValue = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: -5, max: 300_000 }).map(String) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '0',
      '1',
      '-1',
      '-0',
      '+5',
      String(MAX_TIMER_MS),
      String(MAX_TIMER_MS + 1),
      String(Number.MAX_SAFE_INTEGER),
      String(Number.MAX_SAFE_INTEGER + 2),
      '9'.repeat(400),
      '1e3',
      '1e400',
      '-1e400',
      '1.5',
      '0.0000001',
      '.5',
      '5.',
      'NaN',
      'Infinity',
      '-Infinity',
      '0x10',
      '0b11',
      '0o7',
      '1_000',
      '5abc',
      ' 7 ',
      '\t8\n',
      '',
      '  ',
      '=1',
      '1=2',
      'null',
      'true',
      '[]',
      '{}'
    )
  },
  { weight: 1, arbitrary: fc.double().map(String) },
  { weight: 1, arbitrary: hostileString }
)

/** `name=value` pairs for the family `names`: mostly plausible, many not. */
function limitPairFrom(names: readonly string[]): fc.Arbitrary<string> {
  const name = limitNameFrom(names)
  return fc.oneof(
    // A known limit with a plausible value: most of these pass, so the later checks are reached.
    {
      weight: 8,
      arbitrary: fc
        .tuple(fc.constantFrom(...names), fc.integer({ min: 1, max: 200_000 }))
        .map(([n, v]) => `${n}=${v}`)
    },
    { weight: 6, arbitrary: fc.tuple(name, limitValue).map(([n, v]) => `${n}=${v}`) },
    { weight: 1, arbitrary: name },
    { weight: 1, arbitrary: limitValue.map((v) => `=${v}`) },
    { weight: 1, arbitrary: fc.tuple(name, limitValue).map(([n, v]) => `${n}==${v}`) }
  )
}

const limitPair = limitPairFrom(LIMIT_NAMES)
const redisLimitPair = limitPairFrom(REDIS_LIMIT_NAMES)
const hostLimitPair = limitPairFrom(HOST_LIMIT_NAMES)

const portValue = fc.oneof(
  fc.integer({ min: -2, max: 70_000 }).map(String),
  fc.constantFrom('', ' ', '0', '65535', '65536', '-0', '0x50', '1e3', '80.0', '80.5', 'NaN', '8 0', ' 80'),
  hostileString
)

/** Only paths in the test's own folder: a fuzzed path must never name a device or a pipe. */
const pemPath = fc.oneof(
  fc.constantFrom('cert.pem', 'key.pem', 'missing.pem', 'folder', '', 'a\u0000b').map((f) => join(dir, f)),
  hostileString.map((s) => join(dir, 'folder', s.replace(/[./\\]/g, '_')))
)

const logLevel = fc.oneof(
  fc.constantFrom('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent', 'INFO', 'verbose', ''),
  fc.constantFrom(...INHERITED_NAMES),
  hostileString
)

const anyValue = fc.oneof(
  hostileString,
  fc.constantFrom('127.0.0.1', '0.0.0.0', '::', 'https://a.example', 'null', 'K1', 'redis://127.0.0.1:1')
)

/** Mostly what the flag expects, sometimes anything: so that most argv reach the later checks. */
function mostly(valid: fc.Arbitrary<string>, weight = 4): fc.Arbitrary<string> {
  return fc.oneof({ weight, arbitrary: valid }, { weight: 1, arbitrary: anyValue })
}

/** The value a flag of either command line gets, by what the flag expects. */
function valueFor(flag: string): fc.Arbitrary<string> {
  switch (flag) {
    case 'limit':
      return limitPair
    case 'redis-limit':
      return redisLimitPair
    case 'host-limit':
      return hostLimitPair
    case 'port':
      return portValue
    case 'tls-cert':
    case 'tls-key':
      return pemPath
    case 'log-level':
      return mostly(logLevel)
    case 'redis':
      return mostly(
        fc.constantFrom('redis://127.0.0.1:6379', 'rediss://h', 'redis://', 'redis:///x', 'http://h', '')
      )
    case 'token':
    case 'operator-token':
      return mostly(
        fc.constantFrom('a-token-of-twenty-chars', 'short', 'x'.repeat(600), 'with space inside!!', '')
      )
    case 'allow-origin':
      return mostly(
        fc.constantFrom('https://a.example', 'https://a.example/path', 'null', 'a,,b', ',', 'ftp://x')
      )
    case 'host':
      return mostly(fc.constantFrom('127.0.0.1', '0.0.0.0', '::', 'localhost'))
    default:
      return anyValue
  }
}

/** One flag as it may be typed: `--f v`, `--f=v`, `--f` alone, or a boolean given a value. */
function flagArgs(options: Record<string, { type: string; short?: string }>): fc.Arbitrary<string[]> {
  const names = Object.keys(options)
  return fc
    .oneof(
      { weight: 1, arbitrary: fc.constantFrom(...names) },
      // The limit flags carry the most rules: they come up as often as all the others together.
      {
        weight: 1,
        arbitrary: fc.constantFrom(...['limit', 'redis-limit', 'host-limit'].filter((n) => n in options))
      }
    )
    .chain((flag) =>
      options[flag]!.type === 'boolean'
        ? fc.oneof(
            { weight: 6, arbitrary: fc.constant<string[]>([`--${flag}`]) },
            { weight: 1, arbitrary: valueFor(flag).map((v) => [`--${flag}=${v}`]) }
          )
        : fc.oneof(
            { weight: 5, arbitrary: valueFor(flag).map((v) => [`--${flag}`, v]) },
            { weight: 5, arbitrary: valueFor(flag).map((v) => [`--${flag}=${v}`]) },
            { weight: 1, arbitrary: fc.constant<string[]>([`--${flag}`]) }
          )
    )
}

const unknownArg = fc.oneof(
  fc.constantFrom(...INHERITED_NAMES).map((n) => `--${n}`),
  fc.constantFrom(
    '--Port',
    '--port-',
    '---port',
    '--=x',
    '-p',
    '-hx',
    '-h=1',
    '-',
    '--',
    '--limit-',
    '--no-open-access',
    '-é',
    "-'",
    '--a\u0000b'
  ),
  hostileString.map((s) => `--${s}`),
  hostileString.map((s) => `-${s}`),
  hostileString
)

function argvFor(options: Record<string, { type: string; short?: string }>): fc.Arbitrary<string[]> {
  return fc
    .array(
      fc.oneof(
        { weight: 12, arbitrary: flagArgs(options) },
        { weight: 1, arbitrary: unknownArg.map((a) => [a]) }
      ),
      { maxLength: 5 }
    )
    .map((parts) => parts.flat())
}

const serveArgv = argvFor(SERVE_OPTIONS)
const hostArgv = argvFor(HOST_OPTIONS)

/**
 * `--limit` pairs of the limits resolveLimits checks against each other, each value usable alone,
 * around the defaults: about half the lists go together and half do not.
 */
const pairedLimit = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .tuple(
        fc.constantFrom('maxFrameBytes', 'maxPayloadBytes', 'graceBufferBytes', 'maxBufferedBytes'),
        fc.oneof(
          fc.integer({ min: 1, max: 6_000_000 }),
          fc.constantFrom(1, 64 * 1024, 256 * 1024, 300_000, 1024 * 1024, 4 * 1024 * 1024, 5_000_000)
        )
      )
      .map(([n, v]) => `${n}=${v}`)
  },
  { weight: 1, arbitrary: fc.constantFrom('maxBufferedBytes=0', 'graceBufferBytes=0', 'maxConnections=5') }
)

/** Characters that end a name in a naive match of node:util's message, or split one in two. */
const cutting = fc.constantFrom(
  "'",
  '<',
  '>',
  ' ',
  '\t',
  '"',
  '\\',
  '=',
  '-',
  '\n',
  '\u001b',
  '\u{10000}',
  '😀',
  '\ud800',
  '\udc00',
  'é'
)

/** An argument typed where an option is expected: unknown options, stray arguments, near misses. */
const typedArg = fc.oneof(
  { weight: 1, arbitrary: unknownArg },
  {
    weight: 3,
    arbitrary: fc
      .tuple(
        fc.constantFrom('--', '-', '', '-h', '--help', '--port'),
        fc.array(fc.oneof(cutting, fc.string({ maxLength: 3 })), { minLength: 1, maxLength: 4 })
      )
      .map(([start, parts]) => start + parts.join(''))
  }
)

/** A name in a message: bare, or JSON-quoted. */
const QUOTED = '"(?:[^"\\\\]|\\\\.)*"'
const SHOWN = `(?:[\\w.,:/@+=%~-]+|${QUOTED})`
const UNKNOWN_OPTION = new RegExp(`^unknown option (${SHOWN})(?: in (${SHOWN}))? \\(see --help\\)$`)
const UNEXPECTED_ARGUMENT = new RegExp(
  `^unexpected argument (${SHOWN}): options start with -- \\(see --help\\)$`
)

function unshown(text: string): string {
  return text.startsWith('"') ? (JSON.parse(text) as string) : text
}

/** Text with a line break, an escape sequence or half a character in it. */
const breaking = fc
  .tuple(
    fc.string({ maxLength: 4 }),
    fc.constantFrom('\n', '\r', '\r\n', '\u001b[31m', '\u001b]0;title\u0007', '\u0000', '\t', '\ud800'),
    fc.string({ maxLength: 4 })
  )
  .map(([a, b, c]) => a + b + c)

/** A flag whose value a refusal echoes (or an option or argument that is refused), given such text. */
const echoedFlag: fc.Arbitrary<string[]> = breaking.chain((v) =>
  fc.constantFrom(
    ['--log-level', v],
    [`--log-level=${v}`],
    ['--redis', v],
    ['--port', v],
    [`--port=${v}`],
    ['--tls-cert', join(dir, 'folder', v.replace(/[./\\]/g, '_')), '--tls-key', join(dir, 'key.pem')],
    ['--tls-key', join(dir, 'folder', v.replace(/[./\\]/g, '_')), '--tls-cert', join(dir, 'cert.pem')],
    ['--limit', `maxConnections=${v}`],
    [`--${v}`],
    [`-${v}`],
    [v]
  )
)

/** Now and then an environment variable, mostly with a value that works. */
function envValue(valid: fc.Arbitrary<string>): fc.Arbitrary<string | undefined> {
  return fc.option(mostly(valid), { nil: undefined, freq: 3 })
}

const serveEnv: fc.Arbitrary<NodeJS.ProcessEnv> = fc
  .tuple(
    envValue(fc.constantFrom('info', 'debug', 'silent')),
    envValue(fc.constantFrom('an-environment-token-0123')),
    envValue(fc.constantFrom('an-operator-token-0123')),
    envValue(fc.constantFrom('redis://127.0.0.1:6379'))
  )
  .map(([level, token, operator, redis]) => {
    const env: NodeJS.ProcessEnv = {}
    if (level !== undefined) env[LOG_LEVEL_ENV] = level
    if (token !== undefined) env[TOKEN_ENV] = token
    if (operator !== undefined) env[OPERATOR_TOKEN_ENV] = operator
    if (redis !== undefined) env[REDIS_ENV] = redis
    return env
  })

/** The flag an environment variable stands in for (its messages name the flag). */
const ENV_FLAG: Record<string, string> = {
  [LOG_LEVEL_ENV]: '--log-level',
  [TOKEN_ENV]: '--token',
  [OPERATOR_TOKEN_ENV]: '--operator-token',
  [REDIS_ENV]: '--redis'
}

/**
 * Whether `message` (the pointer to --help aside) names something the person typed: a whole
 * argument, the flag of one (long or its short form), or a value from the environment.
 */
function namesOffender(
  message: string,
  argv: readonly string[],
  options: Record<string, { type: string; short?: string }>,
  env: NodeJS.ProcessEnv = {}
): boolean {
  const text = message.replaceAll('(see --help)', '')
  // Typed text is named as typed, or JSON-quoted when it holds what a message cannot show.
  const mentions = (s: string): boolean =>
    (s.length > 0 && text.includes(s)) || text.includes(JSON.stringify(s))
  for (const arg of argv) {
    if (mentions(arg)) return true
    if (arg.startsWith('--')) {
      const name = arg.slice(2).split('=')[0]!
      if (name !== '' && mentions(`--${name}`)) return true
      const short = options[name]?.short
      if (short !== undefined && new RegExp(`(^|\\s)-${short}\\b`).test(text)) return true
    } else if (arg.startsWith('-')) {
      for (const c of arg.slice(1)) if (mentions(`-${c}`)) return true
    }
  }
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && value !== '' && mentions(value)) return true
    if (ENV_FLAG[name] !== undefined && text.includes(ENV_FLAG[name])) return true
  }
  return false
}

/** A refusal a person can act on: an Error of our own (not a TypeError), one line, naming the culprit. */
function expectActionable(
  e: unknown,
  argv: readonly string[],
  options: Record<string, { type: string; short?: string }>,
  env: NodeJS.ProcessEnv = {}
): void {
  expect(e).toBeInstanceOf(Error)
  const err = e as Error
  expect(['Error', 'RangeError'], `${err.name}: ${err.message}`).toContain(err.name)
  expect(err.message.length).toBeGreaterThan(0)
  expectOneLine(err.message)
  expect(namesOffender(err.message, argv, options, env), `${JSON.stringify(argv)} -> ${err.message}`).toBe(
    true
  )
}

/**
 * One line that shows what it holds: no line break, escape (ESC) or other C0 control, and no lone
 * surrogate (half a character), whatever was typed.
 */
function expectOneLine(message: string): void {
  // eslint-disable-next-line no-control-regex
  expect(message, JSON.stringify(message)).not.toMatch(/[\u0000-\u001f]/)
  expect(message, JSON.stringify(message)).not.toMatch(
    /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/
  )
}

function timed<T>(f: () => T): T {
  const started = performance.now()
  try {
    return f()
  } finally {
    expect(performance.now() - started, 'one parse').toBeLessThan(MAX_PARSE_MS)
  }
}

/** Every override is an own limit name with a usable value, and nothing leaked onto prototypes. */
function expectUsableLimits(overrides: Partial<ServerLimits>): void {
  expect(Object.getPrototypeOf(overrides)).toBe(Object.prototype)
  for (const [name, value] of Object.entries(overrides)) {
    expect(isLimitName(name), name).toBe(true)
    expect(limitProblem(name as keyof ServerLimits, value), `${name}=${String(value)}`).toBeNull()
  }
  expect(Object.keys(Object.prototype)).toEqual([])
}

describe('fuzz: the serve command line', () => {
  it(`parseServeArgs: ${RUNS.serve} argv arrays give usable options or an actionable Error`, () => {
    fc.assert(
      fc.property(serveArgv, serveEnv, (argv, env) => {
        let config: ReturnType<typeof parseServeArgs>
        try {
          config = timed(() => parseServeArgs(argv, env))
        } catch (e) {
          expectActionable(e, argv, SERVE_OPTIONS, env)
          return
        }
        expect(isLogLevel(config.logLevel)).toBe(true)
        if (config.help) return
        const { port, limits = {} } = config.server
        expect(Number.isInteger(port) && port! >= 0 && port! <= 65_535, `port ${port}`).toBe(true)
        expectUsableLimits(limits)
        if (config.redisUrl !== null) expect(config.redisUrl).toMatch(/^rediss?:\/\/[^/]/)
        // Redis limits come only with a Redis, each usable and all of them together.
        const { redisLimits } = config
        if (config.redisUrl === null) expect(redisLimits).toEqual({})
        for (const [name, value] of Object.entries(redisLimits)) {
          expect(Object.hasOwn(REDIS_LIMITS, name), name).toBe(true)
          expect(redisLimitProblem(name as keyof RedisLimits, value), `${name}=${String(value)}`).toBeNull()
        }
        expect(() => resolveRedisLimits(redisLimits)).not.toThrow()
        expect(() => resolveLimits(limits)).not.toThrow()
      }),
      {
        seed: FUZZ_SEED,
        numRuns: RUNS.serve,
        examples: [
          [['--limit', 'toString=1'], {}],
          [['--limit', '__proto__=1'], {}],
          [['--limit', 'constructor'], {}],
          [['--limit=maxConnections=1e400'], {}],
          [['--limit', 'maxConnections=NaN'], {}],
          [['--limit', 'authTimeoutMs=-0'], {}],
          [['--limit', `idleTimeoutMs=${MAX_TIMER_MS + 1}`], {}],
          [['--help=x'], {}],
          [['--limit', 'maxBufferedBytes=0'], {}],
          [['--limit', 'maxFrameBytes=300000'], {}],
          [['--limit=graceBufferBytes=5000000'], {}],
          [["--a'b"], {}],
          [['--a b'], {}],
          [['--a<b'], {}],
          [["x'y"], {}],
          [["-'"], {}],
          [['-\u{10000}'], {}],
          [['--log-level', 'in\nfo'], {}],
          [[], { [LOG_LEVEL_ENV]: '\u001b[31mred' }],
          [['--redis', 'redis:\r\n//h'], {}],
          [['--port', '8\n0'], {}],
          [['--tls-cert', join(dir, 'folder', 'a\nb'), '--tls-key', join(dir, 'key.pem')], {}],
          [['--toString'], {}],
          [['--', 'x'], {}],
          [[''], {}],
          [['--tls-cert', join(dir, 'a\u0000b'), '--tls-key', join(dir, 'key.pem')], {}],
          [['--port', 'x'.repeat(100_000)], {}],
          [[], { [REDIS_ENV]: '' }]
        ]
      }
    )
  })

  it(`the options parseServeArgs returns build a channel server, or are refused by name (${RUNS.server} cases)`, () => {
    fc.assert(
      fc.property(serveArgv, (argv) => {
        let config: ReturnType<typeof parseServeArgs>
        try {
          config = parseServeArgs(argv)
        } catch {
          return fc.pre(false)
        }
        fc.pre(!config.help)
        try {
          // Built, never listening: nothing to close.
          timed(() => new ChannelServer(config.server))
        } catch (e) {
          expect(e).toBeInstanceOf(RangeError)
          // What the server refuses is a token, an origin or a uuid: the message says which.
          expect((e as Error).message).toMatch(/access token|allowed origin|allowed uuid/)
        }
      }),
      { seed: FUZZ_SEED, numRuns: RUNS.server }
    )
  })

  it(`limitOverrides: ${RUNS.limits} lists of --limit pairs give usable limits or name the flag`, () => {
    fc.assert(
      fc.property(fc.array(limitPair, { maxLength: 5 }), (pairs) => {
        let out: Partial<ServerLimits>
        try {
          out = timed(() => limitOverrides(pairs))
        } catch (e) {
          expect(e).toBeInstanceOf(Error)
          const err = e as Error
          expect(['Error', 'RangeError']).toContain(err.name)
          expect(err.message).toMatch(/^--limit /)
          expectOneLine(err.message)
          // A known name with a bad value: the message names the limit and what was typed; two
          // limits that do not go together: both, with their values, and what to change.
          if (err.name === 'RangeError')
            expect(err.message).toMatch(
              /^--limit \w+ must be .*, got |^--limit (\w+) \(\d+ bytes\) must .* (\w+) \(\d+ bytes\): .*; (raise|lower) \1 or (raise|lower) \2$/
            )
          return
        }
        expectUsableLimits(out)
        expect(() => resolveLimits(out)).not.toThrow()
        // The last of a repeated limit wins, as on every other flag.
        for (const [name, value] of Object.entries(out)) {
          const lastPair = pairs.filter((p) => p.slice(0, p.indexOf('=')) === name).at(-1)!
          expect(Number(lastPair.slice(lastPair.indexOf('=') + 1).trim())).toBe(value)
        }
      }),
      { seed: FUZZ_SEED, numRuns: RUNS.limits }
    )
  })

  it(`parseServeArgs and parseHostArgs refuse what resolveLimits refuses together, as --limit naming both limits (${RUNS.combined} cases)`, () => {
    fc.assert(
      fc.property(fc.array(pairedLimit, { minLength: 1, maxLength: 4 }), (pairs) => {
        const argv = pairs.flatMap((p) => ['--limit', p])
        // Each value alone passes (pairedLimit's are all in range): only the combination can fail.
        const overrides = limitArgs('limit', pairs, SERVER_LIMIT_FAMILY)
        let refusal: string | null = null
        try {
          resolveLimits(overrides)
        } catch (e) {
          refusal = (e as Error).message
        }
        for (const parse of [
          () => parseServeArgs(argv).server.limits,
          () => parseHostArgs(argv).serverLimits
        ]) {
          if (refusal === null) {
            expect(parse()).toEqual(overrides)
            continue
          }
          let message = ''
          try {
            parse()
          } catch (e) {
            expect(e).toBeInstanceOf(RangeError)
            message = (e as Error).message
          }
          // The server's own words, as the flag: the two limits, their values, what to change.
          expect(message, refusal).toBe(`--${refusal}`)
          const [, a, b] = /^--limit (\w+) \(\d+ bytes\) must .* (\w+) \(\d+ bytes\): /.exec(message) ?? []
          expect(message).toMatch(new RegExp(`; (raise|lower) ${a} or (raise|lower) ${b}$`))
          expect(isLimitName(a!) && isLimitName(b!), message).toBe(true)
        }
      }),
      {
        seed: FUZZ_SEED,
        numRuns: RUNS.combined,
        examples: [
          [['maxBufferedBytes=0']],
          [['maxFrameBytes=300000']],
          [['graceBufferBytes=5000000']],
          [['maxPayloadBytes=1000', 'graceBufferBytes=2000000']]
        ]
      }
    )
  })

  it(`an unknown option or a stray argument is named whole, as typed, and an option by its real name (${RUNS.named} cases)`, () => {
    fc.assert(
      fc.property(
        fc.constantFrom([], ['--help'], ['--port', '1']),
        typedArg,
        fc.constantFrom('serve', 'host'),
        (before, arg, which) => {
          const argv = [...before, arg]
          const options = which === 'serve' ? SERVE_OPTIONS : HOST_OPTIONS
          let message: string
          try {
            if (which === 'serve') parseServeArgs(argv)
            else parseHostArgs(argv)
            return
          } catch (e) {
            message = (e as Error).message
          }
          expectOneLine(message)
          const stray = UNEXPECTED_ARGUMENT.exec(message)
          if (stray !== null) {
            expect(unshown(stray[1]!), message).toBe(arg)
            return
          }
          const unknown = UNKNOWN_OPTION.exec(message)
          if (unknown !== null) {
            const [, what, group] = unknown
            const typed = unshown(what!)
            if (group !== undefined) {
              // A short option inside a group: one whole character of it, and the group as typed.
              expect(unshown(group), message).toBe(arg)
              expect(
                [...arg.slice(1)].map((c) => `-${c}`),
                message
              ).toContain(typed)
            } else if (arg.startsWith('--')) {
              // --name or --name=value: the name as typed.
              expect(arg === typed || (typed.length > 2 && arg.startsWith(`${typed}=`)), message).toBe(true)
            } else {
              expect(typed, message).toBe(arg)
            }
            return
          }
          expect(message).not.toMatch(/^(unknown option|unexpected argument)/)
          const value = /^--(\S+) (takes no value|needs a value)$/.exec(message)
          if (value !== null) {
            expect(Object.hasOwn(options, value[1]!), message).toBe(true)
            expect(
              argv.some((a) => a === `--${value[1]}` || a.startsWith(`--${value[1]}=`)),
              message
            ).toBe(true)
          }
        }
      ),
      {
        seed: FUZZ_SEED,
        numRuns: RUNS.named,
        examples: [
          [[], "--a'b", 'serve'],
          [[], '--a b', 'serve'],
          [[], '--a<b', 'host'],
          [[], "x'y", 'serve'],
          [[], "-'", 'serve'],
          [[], '-\u{10000}', 'host'],
          [[], '-h\u{10000}', 'serve'],
          [[], '--help=x', 'serve'],
          [['--help'], '-h=1', 'host']
        ]
      }
    )
  })

  it(`a typed value is quoted in the message, which stays one line (${RUNS.oneLine} cases)`, () => {
    fc.assert(
      fc.property(
        fc.array(echoedFlag, { minLength: 1, maxLength: 3 }),
        fc.option(breaking, { nil: undefined }),
        fc.option(breaking, { nil: undefined }),
        (parts, level, redis) => {
          const argv = parts.flat()
          const env: NodeJS.ProcessEnv = {}
          if (level !== undefined) env[LOG_LEVEL_ENV] = level
          if (redis !== undefined) env[REDIS_ENV] = redis
          const typed = [...argv, level, redis].filter((t) => t !== undefined)
          for (const parse of [() => parseServeArgs(argv, env), () => parseHostArgs(argv)]) {
            let message: string
            try {
              parse()
              continue
            } catch (e) {
              message = (e as Error).message
            }
            expectOneLine(message)
            // What it quotes is text that was typed (or from the environment), JSON-quoted.
            for (const [, q] of message.matchAll(
              new RegExp(`(?:got |cannot read --[\\w-]+ )(${QUOTED})`, 'g')
            )) {
              const text = JSON.parse(q!) as string
              expect(
                typed.some((t) => t.includes(text)),
                message
              ).toBe(true)
            }
          }
        }
      ),
      {
        seed: FUZZ_SEED,
        numRuns: RUNS.oneLine,
        examples: [
          [[['--log-level', 'in\nfo']], undefined, undefined],
          [[], 'x\r\ny', undefined],
          [[['--redis', 'http://h\n']], undefined, undefined],
          [[], undefined, '\u001b[2Jredis'],
          [[['--port', '8\n0']], undefined, undefined],
          [
            [
              ['--tls-cert', join(dir, 'folder', 'a\nb')],
              ['--tls-key', join(dir, 'key.pem')]
            ],
            undefined,
            undefined
          ]
        ]
      }
    )
  })
})

describe('fuzz: the host command line', () => {
  it(`parseHostArgs: ${RUNS.host} argv arrays give a port, a log level and usable limits, or an actionable Error`, () => {
    fc.assert(
      fc.property(hostArgv, (argv) => {
        let config: ReturnType<typeof parseHostArgs>
        try {
          config = timed(() => parseHostArgs(argv))
        } catch (e) {
          expectActionable(e, argv, HOST_OPTIONS)
          return
        }
        expect(isLogLevel(config.logLevel)).toBe(true)
        if (config.help) return
        expect(Number.isInteger(config.port) && config.port >= 0 && config.port <= 65_535).toBe(true)
        expect(Object.getPrototypeOf(config.hostLimits)).toBe(Object.prototype)
        for (const [name, value] of Object.entries(config.hostLimits)) {
          expect(Object.hasOwn(HOST_LIMITS, name), name).toBe(true)
          const problem = HOST_LIMIT_FAMILY.problem(name as keyof HostLimits, value)
          expect(problem, `${name}=${String(value)}`).toBeNull()
        }
        expectUsableLimits(config.serverLimits)
        expect(() => resolveLimits(config.serverLimits)).not.toThrow()
      }),
      {
        seed: FUZZ_SEED,
        numRuns: RUNS.host,
        examples: [
          [['--limit', 'maxBufferedBytes=0']],
          [['--limit', 'maxFrameBytes=300000']],
          [['--limit', 'graceBufferBytes=5000000']],
          [["--a'b"]],
          [['-\u{10000}']],
          [['--help=x']],
          [['--log-level', 'in\nfo']]
        ]
      }
    )
  })

  it(`portArg: ${RUNS.port} raw values give a port or say --port and what was typed`, () => {
    fc.assert(
      fc.property(fc.option(portValue, { nil: undefined }), (raw) => {
        let port: number
        try {
          port = timed(() => portArg('port', raw, 8780))
        } catch (e) {
          expect(e).toBeInstanceOf(Error)
          expect((e as Error).name).toBe('Error')
          expect((e as Error).message).toContain(`--port must be a whole number from 0 to 65535`)
          expect((e as Error).message).toContain(`got ${JSON.stringify(raw)}`)
          expectOneLine((e as Error).message)
          return
        }
        expect(Number.isInteger(port) && port >= 0 && port <= 65_535, `${raw} -> ${port}`).toBe(true)
        if (raw === undefined) expect(port).toBe(8780)
      }),
      { seed: FUZZ_SEED, numRuns: RUNS.port }
    )
  })
})
