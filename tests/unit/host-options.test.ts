// The browser host's command line (`npm run host -- …`), read before anything starts.
import { describe, expect, it } from 'vitest'
import { DEFAULT_LIMITS } from '../../src/main/channel/limits'
import { HOST_LIMITS } from '../../src/main/host/browser-host'
import {
  DEFAULT_HOST_LOG_LEVEL,
  DEFAULT_HOST_PORT,
  HOST_USAGE,
  parseHostArgs
} from '../../src/main/cli/host-options'

describe('parseHostArgs', () => {
  it('has loopback, the default port, warn logs, the embedded server and no overrides by default', () => {
    expect(parseHostArgs([])).toEqual({
      help: false,
      logLevel: DEFAULT_HOST_LOG_LEVEL,
      host: '127.0.0.1',
      port: DEFAULT_HOST_PORT,
      serverUrl: null,
      operatorToken: null,
      dataDir: null,
      rendererDir: 'out/renderer',
      strictKt: false,
      serverLimits: {},
      hostLimits: {}
    })
  })

  it('reads every option', () => {
    expect(
      parseHostArgs([
        '--port=0',
        '--host',
        '127.0.0.2',
        '--server',
        'ws://127.0.0.1:8787/channel',
        '--operator-token',
        'op-token',
        '--data-dir',
        '/tmp/d',
        '--renderer',
        '/tmp/r',
        '--strict-kt',
        '--limit',
        'maxConnections=10',
        '--host-limit',
        'maxPages=2',
        '--host-limit=maxPendingCalls=8',
        '--log-level',
        'debug'
      ])
    ).toEqual({
      help: false,
      logLevel: 'debug',
      host: '127.0.0.2',
      port: 0,
      serverUrl: 'ws://127.0.0.1:8787/channel',
      operatorToken: 'op-token',
      dataDir: '/tmp/d',
      rendererDir: '/tmp/r',
      strictKt: true,
      serverLimits: { maxConnections: 10 },
      hostLimits: { maxPages: 2, maxPendingCalls: 8 }
    })
    expect(parseHostArgs(['-h']).help).toBe(true)
  })

  it("takes --limit for the embedded server's limits and --host-limit for the host's own", () => {
    // Both have a maxBufferedBytes and a closeTimeoutMs: the flag says whose. (The server's may not
    // be below its graceBufferBytes, 1 MiB.)
    const config = parseHostArgs([
      '--limit',
      'maxBufferedBytes=2000000',
      '--host-limit',
      'maxBufferedBytes=2000',
      '--host-limit',
      'closeTimeoutMs=500'
    ])
    expect(config.serverLimits).toEqual({ maxBufferedBytes: 2_000_000 })
    expect(config.hostLimits).toEqual({ maxBufferedBytes: 2000, closeTimeoutMs: 500 })
  })

  it('refuses an unknown name with the list of known names', () => {
    const serverNames = `^--limit takes name=value with name one of: ${Object.keys(DEFAULT_LIMITS).join(', ')}$`
    const hostNames = `^--host-limit takes name=value with name one of: ${Object.keys(HOST_LIMITS).join(', ')}$`
    expect(hostNames).toContain(
      'maxMessageBytes, maxBufferedBytes, maxPendingCalls, maxPages, closeTimeoutMs'
    )
    for (const pair of ['nope=1', 'toString=1', '__proto__=1', 'maxPages', 'maxPages=']) {
      expect(() => parseHostArgs(['--host-limit', pair]), pair).toThrow(new RegExp(hostNames))
      expect(() => parseHostArgs(['--limit', pair]), pair).toThrow(new RegExp(serverNames))
    }
    // A server limit is not a host one.
    expect(() => parseHostArgs(['--host-limit', 'maxConnections=1'])).toThrow(new RegExp(hostNames))
  })

  it('holds host limits to the rule of --limit, each at least 1', () => {
    const cases: [string, RegExp][] = [
      ['maxPages=0', /^--host-limit maxPages must be at least 1, got 0$/],
      ['maxPendingCalls=1.5', /^--host-limit maxPendingCalls must be a whole number, got 1\.5$/],
      ['maxMessageBytes=big', /^--host-limit maxMessageBytes must be a whole number, got "big"$/],
      [
        'closeTimeoutMs=2147483648',
        /^--host-limit closeTimeoutMs must be at most 2147483647 ms \(about 24\.8 days, the longest delay Node's timers take\), got 2147483648$/
      ]
    ]
    for (const [pair, message] of cases)
      expect(() => parseHostArgs(['--host-limit', pair]), pair).toThrow(message)
    expect(() => parseHostArgs(['--limit', 'framesPerWindow=0'])).toThrow(
      /^--limit framesPerWindow must be at least 1, got 0$/
    )
  })

  it('explains the other mistakes before anything starts', () => {
    expect(() => parseHostArgs(['--port', 'x'])).toThrow(/^--port must be a whole number/)
    expect(() => parseHostArgs(['--log-level', 'loud'])).toThrow(/^--log-level must be one of /)
    expect(() => parseHostArgs(['--prot', '1'])).toThrow(/^unknown option --prot \(see --help\)$/)
  })

  it('refuses --limit values the embedded server would refuse together, naming both limits', () => {
    expect(() => parseHostArgs(['--limit', 'maxBufferedBytes=0'])).toThrow(
      /^--limit graceBufferBytes \(1048576 bytes\) must not exceed maxBufferedBytes \(0 bytes\): .*; lower graceBufferBytes or raise maxBufferedBytes$/
    )
    expect(() => parseHostArgs(['--limit', 'maxFrameBytes=300000'])).toThrow(
      /^--limit maxPayloadBytes \(262144 bytes\) must be at least maxFrameBytes \(300000 bytes\): .*; raise maxPayloadBytes or lower maxFrameBytes$/
    )
    expect(
      parseHostArgs(['--limit', 'maxBufferedBytes=0', '--limit', 'graceBufferBytes=0']).serverLimits
    ).toEqual({ maxBufferedBytes: 0, graceBufferBytes: 0 })
  })

  it('quotes what was typed, so that a line break or an escape sequence in it cannot break the message', () => {
    const cases: [string[], string][] = [
      [
        ['--log-level', 'a\nb'],
        '--log-level must be one of fatal, error, warn, info, debug, trace, silent, got "a\\nb"'
      ],
      [
        ['--port', '\u001b[31m1'],
        '--port must be a whole number from 0 to 65535 (0 picks a free port), got "\\u001b[31m1"'
      ],
      [["--a'b\r"], `unknown option "--a'b\\r" (see --help)`],
      [['-\u{10000}'], 'unknown option "-\u{10000}" (see --help)']
    ]
    for (const [argv, message] of cases)
      expect(() => parseHostArgs(argv), JSON.stringify(argv)).toThrow(message)
  })

  it('lists both limit flags and every name in its usage text', () => {
    expect(HOST_USAGE).toContain('--limit NAME=VALUE')
    expect(HOST_USAGE).toContain('--host-limit NAME=VALUE')
    for (const name of [...Object.keys(DEFAULT_LIMITS), ...Object.keys(HOST_LIMITS)])
      expect(HOST_USAGE).toContain(name)
  })
})
