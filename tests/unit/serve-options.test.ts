// The headless server's command line, read with node:util's parseArgs into the server's options.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { REDIS_LIMITS } from '../../src/main/channel/redis/redis-registry'
import { DEFAULT_SERVE_PORT, SERVE_USAGE, parseServeArgs } from '../../src/main/cli/serve-options'

const dir = mkdtempSync(join(tmpdir(), 'genie-serve-options-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('parseServeArgs', () => {
  it('has loopback, the default port, info logs and no access rules by default', () => {
    expect(parseServeArgs([])).toEqual({
      help: false,
      logLevel: 'info',
      redisUrl: null,
      redisLimits: {},
      server: {
        host: '127.0.0.1',
        port: DEFAULT_SERVE_PORT,
        limits: {},
        token: null,
        operatorToken: null,
        allowOrigins: [],
        allowUuids: [],
        paths: [],
        openAccess: false,
        limitLoopback: false
      }
    })
  })

  it('reads every option, in both the --name value and --name=value forms', () => {
    writeFileSync(join(dir, 'cert.pem'), 'CERT')
    writeFileSync(join(dir, 'key.pem'), 'KEY')
    const config = parseServeArgs([
      '--host',
      '0.0.0.0',
      '--port=9000',
      '--token',
      'a-token-of-twenty-chars',
      '--allow-origin',
      'https://a.example,https://b.example',
      '--allow-origin=https://c.example',
      '--allow-uuid',
      'K1',
      '--allow-uuid',
      'W1,W2',
      `--tls-cert=${join(dir, 'cert.pem')}`,
      '--tls-key',
      join(dir, 'key.pem'),
      '--open-access',
      '--limit-loopback',
      '--limit',
      'maxConnections=10',
      '--limit=reconnectGraceMs=0',
      '--path',
      '/channel',
      '--redis',
      'redis://127.0.0.1:6390',
      '--log-level',
      'debug'
    ])
    expect(config.logLevel).toBe('debug')
    expect(config.redisUrl).toBe('redis://127.0.0.1:6390')
    expect(config.server).toEqual({
      host: '0.0.0.0',
      port: 9000,
      token: 'a-token-of-twenty-chars',
      operatorToken: null,
      allowOrigins: ['https://a.example', 'https://b.example', 'https://c.example'],
      allowUuids: ['K1', 'W1', 'W2'],
      paths: ['/channel'],
      tls: { cert: Buffer.from('CERT'), key: Buffer.from('KEY') },
      openAccess: true,
      limitLoopback: true,
      limits: { maxConnections: 10, reconnectGraceMs: 0 }
    })
  })

  it('lets the last of a repeated option win, and reads the token and log level from the environment', () => {
    expect(parseServeArgs(['--port', '1', '--port', '2']).server.port).toBe(2)
    const env = { GENIE_BRIDGE_TOKEN: 'from-the-environment-0', GENIE_BRIDGE_LOG_LEVEL: 'silent' }
    expect(parseServeArgs([], env)).toMatchObject({
      logLevel: 'silent',
      server: { token: 'from-the-environment-0' }
    })
    expect(parseServeArgs(['--token', 'from-the-command-line', '--log-level=warn'], env)).toMatchObject({
      logLevel: 'warn',
      server: { token: 'from-the-command-line' }
    })
    expect(parseServeArgs(['--token='], env).server.token).toBeNull()
    expect(parseServeArgs(['-h']).help).toBe(true)
  })

  it('explains what is wrong with a command line', () => {
    const cases: [string[], RegExp][] = [
      [['--prot', '1'], /^unknown option --prot \(see --help\)$/],
      [['8787'], /^unexpected argument 8787/],
      [['--token'], /^--token needs a value$/],
      [['--token', '--port', '1'], /^--token needs a value$/],
      [['--open-access=yes'], /^--open-access takes no value$/],
      [['--port', 'x'], /^--port must be a whole number/],
      [['--port', '70000'], /^--port must be a whole number/],
      [['--limit', 'nope=1'], /^--limit takes name=value/],
      [['--limit', 'maxConnections=-1'], /^--limit maxConnections must be at least 1, got -1$/],
      [['--allow-uuid', 'a,,b'], /^--allow-uuid needs a value$/],
      [['--tls-cert', join(dir, 'cert.pem')], /^TLS needs both --tls-cert and --tls-key$/],
      [['--tls-cert', join(dir, 'missing.pem'), '--tls-key', 'x'], /^cannot read --tls-cert /],
      [['--log-level', 'loud'], /^--log-level must be one of fatal, error, warn, info, debug, trace, silent/]
    ]
    for (const [argv, message] of cases) expect(() => parseServeArgs(argv), argv.join(' ')).toThrow(message)
  })

  it('takes only the limits it names, as whole numbers within what each can mean', () => {
    const known = /^--limit takes name=value with name one of: authTimeoutMs, idleTimeoutMs, /
    const cases: [string, RegExp][] = [
      ['toString=1', known],
      ['constructor=1', known],
      ['__proto__=1', known],
      ['hasOwnProperty=1', known],
      ['framesPerWindow=', known],
      ['framesPerWindow=0', /^--limit framesPerWindow must be at least 1, got 0$/],
      ['framesPerWindow=2.5', /^--limit framesPerWindow must be a whole number, got 2\.5$/],
      ['framesPerWindow=lots', /^--limit framesPerWindow must be a whole number, got "lots"$/],
      [
        'sweepIntervalMs=2147483648',
        /^--limit sweepIntervalMs must be at most 2147483647 ms \(about 24\.8 days, the longest delay Node's timers take\), got 2147483648$/
      ],
      ['idleTimeoutMs=1e10', /^--limit idleTimeoutMs must be at most 2147483647 ms/],
      ['maxConnections=99999999999999999999', /^--limit maxConnections must be at most 9007199254740991/]
    ]
    for (const [pair, message] of cases) {
      expect(() => parseServeArgs(['--limit', pair]), pair).toThrow(message)
    }
    expect(
      parseServeArgs(['--limit', 'sweepIntervalMs=2147483647', '--limit', 'framesPerWindow=1']).server.limits
    ).toEqual({ sweepIntervalMs: 2_147_483_647, framesPerWindow: 1 })
  })

  it('refuses --limit values the server would refuse together, naming both limits and what to change', () => {
    const grace = (g: number, b: number): RegExp =>
      new RegExp(
        `^--limit graceBufferBytes \\(${g} bytes\\) must not exceed maxBufferedBytes \\(${b} bytes\\): .*; lower graceBufferBytes or raise maxBufferedBytes$`
      )
    const payload =
      /^--limit maxPayloadBytes \(262144 bytes\) must be at least maxFrameBytes \(300000 bytes\): .*; raise maxPayloadBytes or lower maxFrameBytes$/
    const cases: [string[], RegExp][] = [
      [['maxBufferedBytes=0'], grace(1_048_576, 0)],
      [['graceBufferBytes=5000000'], grace(5_000_000, 4_194_304)],
      [['maxFrameBytes=300000'], payload]
    ]
    for (const [pairs, message] of cases) {
      const argv = pairs.flatMap((p) => ['--limit', p])
      expect(() => parseServeArgs(argv), pairs.join(' ')).toThrow(RangeError)
      expect(() => parseServeArgs(argv), pairs.join(' ')).toThrow(message)
    }
    // Changed together, they go.
    expect(
      parseServeArgs(['--limit', 'maxBufferedBytes=0', '--limit', 'graceBufferBytes=0']).server.limits
    ).toEqual({ maxBufferedBytes: 0, graceBufferBytes: 0 })
    expect(
      parseServeArgs(['--limit', 'maxFrameBytes=300000', '--limit=maxPayloadBytes=300000']).server.limits
    ).toEqual({ maxFrameBytes: 300_000, maxPayloadBytes: 300_000 })
  })

  it('names an unknown option or a stray argument whole, as typed, and an option by its real name', () => {
    const cases: [string[], string][] = [
      [["--a'b"], `unknown option "--a'b" (see --help)`],
      [['--a b'], 'unknown option "--a b" (see --help)'],
      [['--a<b'], 'unknown option "--a<b" (see --help)'],
      [['--a=b'], 'unknown option --a (see --help)'],
      [['--=='], 'unknown option --== (see --help)'],
      [["-'"], `unknown option "-'" (see --help)`],
      [['-\u{10000}'], 'unknown option "-\u{10000}" (see --help)'],
      [['-hx'], 'unknown option -x in -hx (see --help)'],
      [['-h\u{10000}'], 'unknown option "-\u{10000}" in "-h\u{10000}" (see --help)'],
      [['-h-x'], 'unknown option -- in -h-x (see --help)'],
      [["x'y"], `unexpected argument "x'y": options start with -- (see --help)`],
      [[''], 'unexpected argument "": options start with -- (see --help)'],
      [['--', '--port'], 'unexpected argument --port: options start with -- (see --help)'],
      [['--help=x'], '--help takes no value'],
      [['-h', '--port'], '--port needs a value']
    ]
    for (const [argv, message] of cases) {
      let got = ''
      try {
        parseServeArgs(argv)
      } catch (e) {
        got = (e as Error).message
      }
      expect(got, JSON.stringify(argv)).toBe(message)
    }
  })

  it('quotes what was typed, so that a line break or an escape sequence in it cannot break the message', () => {
    const levels = 'fatal, error, warn, info, debug, trace, silent'
    const cases: [string[], NodeJS.ProcessEnv, string][] = [
      [['--log-level', 'in\nfo'], {}, `--log-level must be one of ${levels}, got "in\\nfo"`],
      [
        [],
        { GENIE_BRIDGE_LOG_LEVEL: '\u001b[31mred' },
        `--log-level must be one of ${levels}, got "\\u001b[31mred"`
      ],
      [['--redis', 'http://h\r\n'], {}, '--redis must be a redis:// or rediss:// URL, got "http://h\\r\\n"'],
      [
        [],
        { GENIE_BRIDGE_REDIS: 'x\u001b]0;t\u0007' },
        '--redis must be a redis:// or rediss:// URL, got "x\\u001b]0;t\\u0007"'
      ],
      [
        ['--port', '8\n0'],
        {},
        '--port must be a whole number from 0 to 65535 (0 picks a free port), got "8\\n0"'
      ],
      [['--a\nb'], {}, 'unknown option "--a\\nb" (see --help)'],
      [['x\u001b[2Jy'], {}, 'unexpected argument "x\\u001b[2Jy": options start with -- (see --help)'],
      [
        ['--tls-cert', join(dir, 'no\nfile.pem'), '--tls-key', join(dir, 'key.pem')],
        {},
        `cannot read --tls-cert ${JSON.stringify(join(dir, 'no\nfile.pem'))}: ENOENT: no such file or directory`
      ],
      [
        ['--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'a\u0000b')],
        {},
        `cannot read --tls-key ${JSON.stringify(join(dir, 'a\u0000b'))}: a file name cannot hold a null character`
      ]
    ]
    writeFileSync(join(dir, 'cert.pem'), 'CERT')
    writeFileSync(join(dir, 'key.pem'), 'KEY')
    for (const [argv, env, message] of cases) {
      let got = ''
      try {
        parseServeArgs(argv, env)
      } catch (e) {
        got = (e as Error).message
      }
      expect(got, JSON.stringify([argv, env])).toBe(message)
      // eslint-disable-next-line no-control-regex
      expect(got).not.toMatch(/[\u0000-\u001f]/)
    }
  })

  it('takes the presence subscriber cap as a limit like any other', () => {
    expect(parseServeArgs(['--limit', 'maxPresenceSubscribers=1']).server.limits).toEqual({
      maxPresenceSubscribers: 1
    })
    expect(parseServeArgs(['--limit', 'maxPresenceSubscribers=0']).server.limits).toEqual({
      maxPresenceSubscribers: 0
    })
    expect(() => parseServeArgs(['--limit', 'maxPresenceSubscribers=-1'])).toThrow(
      /^--limit maxPresenceSubscribers must be at least 0, got -1$/
    )
  })
})

describe('parseServeArgs: --redis-limit', () => {
  const redis = ['--redis', 'redis://127.0.0.1:6390']

  it('passes Redis store and client limits on, by name', () => {
    const config = parseServeArgs([
      ...redis,
      '--redis-limit',
      'commandTimeoutMs=500',
      '--redis-limit=inboxBlockMs=200',
      '--redis-limit',
      'inboxRetryDelayMs=50',
      '--redis-limit',
      'heartbeatIntervalMs=250',
      '--redis-limit',
      'heartbeatIntervalMs=300'
    ])
    expect(config.redisLimits).toEqual({
      commandTimeoutMs: 500,
      inboxBlockMs: 200,
      inboxRetryDelayMs: 50,
      heartbeatIntervalMs: 300
    })
    // The Redis limits are their own: the server's stay as they were.
    expect(config.server.limits).toEqual({})
    expect(parseServeArgs([], { GENIE_BRIDGE_REDIS: 'redis://r:1' }).redisLimits).toEqual({})
    expect(
      parseServeArgs(['--redis-limit', 'sweepBatch=10'], { GENIE_BRIDGE_REDIS: 'redis://r:1' }).redisLimits
    ).toEqual({ sweepBatch: 10 })
  })

  it('refuses names it does not know, listing those it does', () => {
    const known = new RegExp(
      `^--redis-limit takes name=value with name one of: ${Object.keys(REDIS_LIMITS).join(', ')}$`
    )
    for (const pair of ['nope=1', 'toString=1', '__proto__=1', 'framesPerWindow=1', 'commandTimeoutMs='])
      expect(() => parseServeArgs([...redis, '--redis-limit', pair]), pair).toThrow(known)
  })

  it('holds each value to the rule of --limit, every one at least 1', () => {
    const cases: [string, RegExp][] = [
      ['sweepBatch=0', /^--redis-limit sweepBatch must be at least 1, got 0$/],
      ['sessionTtlMs=0', /^--redis-limit sessionTtlMs must be at least 1, got 0$/],
      ['inboxReadCount=1.5', /^--redis-limit inboxReadCount must be a whole number, got 1\.5$/],
      [
        'pingIntervalMs=soon',
        /^--redis-limit pingIntervalMs must be a whole number of milliseconds, got "soon"$/
      ],
      [
        'nodeTimeoutMs=2147483648',
        /^--redis-limit nodeTimeoutMs must be at most 2147483647 ms \(about 24\.8 days, the longest delay Node's timers take\), got 2147483648$/
      ]
    ]
    for (const [pair, message] of cases)
      expect(() => parseServeArgs([...redis, '--redis-limit', pair]), pair).toThrow(message)
  })

  it('refuses an inbox wait that is not below the command timeout, saying what to change', () => {
    const message =
      /^--redis-limit inboxBlockMs \(1000 ms\) must be below commandTimeoutMs \(1000 ms\): .*lower inboxBlockMs or raise commandTimeoutMs$/
    expect(() => parseServeArgs([...redis, '--redis-limit', 'commandTimeoutMs=1000'])).toThrow(message)
    expect(() =>
      parseServeArgs([
        ...redis,
        '--redis-limit',
        'inboxBlockMs=3000',
        '--redis-limit',
        'commandTimeoutMs=2500'
      ])
    ).toThrow(/^--redis-limit inboxBlockMs \(3000 ms\) must be below commandTimeoutMs \(2500 ms\)/)
    expect(
      parseServeArgs([
        ...redis,
        '--redis-limit',
        'commandTimeoutMs=1000',
        '--redis-limit',
        'inboxBlockMs=999'
      ]).redisLimits
    ).toEqual({ commandTimeoutMs: 1000, inboxBlockMs: 999 })
  })

  it('needs --redis: without it there is nothing to apply them to', () => {
    expect(() => parseServeArgs(['--redis-limit', 'sweepBatch=10'])).toThrow(
      /^--redis-limit needs --redis URL \(or \$GENIE_BRIDGE_REDIS\)/
    )
  })

  it('is in the usage text, with every name', () => {
    expect(SERVE_USAGE).toContain('--redis-limit NAME=VALUE')
    for (const name of Object.keys(REDIS_LIMITS)) expect(SERVE_USAGE).toContain(name)
    expect(SERVE_USAGE).toContain('maxPresenceSubscribers')
  })
})
