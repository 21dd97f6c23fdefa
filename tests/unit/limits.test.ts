// The channel server's limits: defaults, overrides, and the rule every value has to meet.
import { describe, expect, it } from 'vitest'
import { DEFAULT_LIMITS, limitProblem, resolveLimits } from '../../src/main/channel/limits'
import { REDIS_CLIENT_DEFAULTS } from '../../src/main/channel/redis-client'
import {
  REDIS_LIMITS,
  REDIS_REGISTRY_DEFAULTS,
  RedisRegistry,
  resolveRedisLimits
} from '../../src/main/channel/redis/redis-registry'
import { ChannelServer } from '../../src/main/channel/server'

/** The longest delay Node's timers take; a longer one fires after 1 ms. */
const MAX_TIMER_MS = 2_147_483_647

describe('resolveLimits', () => {
  it('takes the defaults, and overrides by name', () => {
    expect(resolveLimits()).toEqual(DEFAULT_LIMITS)
    expect(
      resolveLimits({ framesPerWindow: 1, reconnectGraceMs: 0, sweepIntervalMs: MAX_TIMER_MS })
    ).toMatchObject({
      framesPerWindow: 1,
      reconnectGraceMs: 0,
      sweepIntervalMs: 2_147_483_647
    })
  })

  it('knows only its own limit names, not names every object inherits', () => {
    for (const name of ['toString', 'constructor', 'hasOwnProperty', 'valueOf', '__proto__', 'nonsense']) {
      const overrides = JSON.parse(`{${JSON.stringify(name)}:1}`) as never
      expect(() => resolveLimits(overrides), name).toThrow(
        new RegExp(`^unknown limit "${name}"; known: authTimeoutMs, idleTimeoutMs, `)
      )
    }
  })

  it('refuses a timer longer than Node keeps, which would fire after 1 ms', () => {
    for (const name of [
      'sweepIntervalMs',
      'authTimeoutMs',
      'idleTimeoutMs',
      'closeTimeoutMs',
      'reconnectGraceMs'
    ])
      expect(() => resolveLimits({ [name]: MAX_TIMER_MS + 1 }), name).toThrow(
        new RegExp(
          `^limit ${name} must be at most 2147483647 ms \\(about 24\\.8 days, the longest delay Node's timers take\\), got 2147483648$`
        )
      )
    expect(() => resolveLimits({ handshakeTimeoutMs: 1e12 })).toThrow(RangeError)
  })

  it('refuses framesPerWindow 0, which would answer every frame (auth too) with 429', () => {
    expect(() => resolveLimits({ framesPerWindow: 0 })).toThrow(
      /^limit framesPerWindow must be at least 1, got 0$/
    )
  })

  it('takes whole numbers only, each limit counting something', () => {
    const cases: [Partial<Record<keyof typeof DEFAULT_LIMITS, unknown>>, RegExp][] = [
      [{ framesPerWindow: 1.5 }, /^limit framesPerWindow must be a whole number, got 1\.5$/],
      [{ sweepIntervalMs: 0.5 }, /^limit sweepIntervalMs must be a whole number of milliseconds, got 0\.5$/],
      [{ maxConnections: Number.NaN }, /^limit maxConnections must be a whole number, got NaN$/],
      [{ maxConnections: Infinity }, /^limit maxConnections must be a whole number, got Infinity$/],
      [{ maxConnections: '10' }, /^limit maxConnections must be a whole number, got "10"$/],
      [{ maxConnections: 1e300 }, /^limit maxConnections must be at most 9007199254740991, got 1e\+300$/],
      [{ badFrameAllowance: -1 }, /^limit badFrameAllowance must be at least 0, got -1$/],
      [{ maxConnectionsPerIp: 0 }, /^limit maxConnectionsPerIp must be at least 1, got 0$/]
    ]
    for (const [overrides, message] of cases) {
      expect(() => resolveLimits(overrides as never), JSON.stringify(overrides)).toThrow(RangeError)
      expect(() => resolveLimits(overrides as never), JSON.stringify(overrides)).toThrow(message)
    }
  })

  it('checks limits against each other, naming both with their values and what to change', () => {
    expect(() => resolveLimits({ maxPayloadBytes: 1_000, maxFrameBytes: 2_000 })).toThrow(
      /^limit maxPayloadBytes \(1000 bytes\) must be at least maxFrameBytes \(2000 bytes\): .*; raise maxPayloadBytes or lower maxFrameBytes$/
    )
    expect(() => resolveLimits({ graceBufferBytes: 2_000, maxBufferedBytes: 1_000 })).toThrow(
      /^limit graceBufferBytes \(2000 bytes\) must not exceed maxBufferedBytes \(1000 bytes\): .*; lower graceBufferBytes or raise maxBufferedBytes$/
    )
    // The other half of each pair at its default.
    expect(() => resolveLimits({ maxBufferedBytes: 0 })).toThrow(
      /^limit graceBufferBytes \(1048576 bytes\) must not exceed maxBufferedBytes \(0 bytes\)/
    )
    expect(resolveLimits({ maxBufferedBytes: 0, graceBufferBytes: 0 })).toMatchObject({
      maxBufferedBytes: 0,
      graceBufferBytes: 0
    })
  })

  it('names its limits by the label it is given, as a command line names its flag', () => {
    expect(() => resolveLimits({ maxFrameBytes: 300_000 }, '--limit')).toThrow(
      /^--limit maxPayloadBytes \(262144 bytes\) must be at least maxFrameBytes \(300000 bytes\)/
    )
    expect(() => resolveLimits({ framesPerWindow: 0 }, '--limit')).toThrow(
      /^--limit framesPerWindow must be at least 1, got 0$/
    )
  })

  it('bounds presence subscribers with a limit of its own; 0 lets operators list but not follow', () => {
    expect(DEFAULT_LIMITS.maxPresenceSubscribers).toBe(16)
    expect(resolveLimits({ maxPresenceSubscribers: 0 }).maxPresenceSubscribers).toBe(0)
    expect(() => resolveLimits({ maxPresenceSubscribers: -1 })).toThrow(
      /^limit maxPresenceSubscribers must be at least 0, got -1$/
    )
    expect(new ChannelServer({ limits: { maxPresenceSubscribers: 3 } }).limits.maxPresenceSubscribers).toBe(3)
  })
})

describe('limitProblem for limits of other parts', () => {
  it('applies the same rule with the minimum it is given', () => {
    expect(limitProblem('anyCount', 0, 1)).toBe('must be at least 1, got 0')
    expect(limitProblem('anyCount', 0, 0)).toBeNull()
    expect(limitProblem('someDelayMs', MAX_TIMER_MS + 1, 1)).toMatch(/^must be at most 2147483647 ms/)
    expect(limitProblem('someDelayMs', 1.5, 1)).toBe('must be a whole number of milliseconds, got 1.5')
  })
})

describe('resolveRedisLimits', () => {
  it('names the store limits and the client limits together, with their defaults', () => {
    expect(resolveRedisLimits()).toEqual({ ...REDIS_CLIENT_DEFAULTS, ...REDIS_REGISTRY_DEFAULTS })
    expect(Object.keys(REDIS_LIMITS)).toHaveLength(
      Object.keys(REDIS_CLIENT_DEFAULTS).length + Object.keys(REDIS_REGISTRY_DEFAULTS).length
    )
    expect(REDIS_LIMITS).toMatchObject({ inboxBlockMs: 1_000, inboxRetryDelayMs: 200 })
    expect(REDIS_LIMITS.inboxBlockMs).toBeLessThan(REDIS_LIMITS.commandTimeoutMs)
    expect(resolveRedisLimits({ commandTimeoutMs: 300, inboxBlockMs: 100 })).toMatchObject({
      commandTimeoutMs: 300,
      inboxBlockMs: 100
    })
  })

  it('refuses unknown names, and values outside the rule (each at least 1)', () => {
    expect(() => resolveRedisLimits({ toString: 1 } as never)).toThrow(
      /^unknown Redis limit "toString"; known: connectTimeoutMs, commandTimeoutMs, /
    )
    expect(() => resolveRedisLimits({ sweepBatch: 0 })).toThrow(
      /^Redis limit sweepBatch must be at least 1, got 0$/
    )
    expect(() => resolveRedisLimits({ probeTimeoutMs: MAX_TIMER_MS + 1 })).toThrow(
      /^Redis limit probeTimeoutMs must be at most 2147483647 ms/
    )
  })

  it('refuses an inbox wait at or above the command timeout, saying what to change', () => {
    for (const [inboxBlockMs, commandTimeoutMs] of [
      [1_000, 1_000],
      [1_000, 500],
      [5_000, 2_000]
    ] as const) {
      expect(() => resolveRedisLimits({ inboxBlockMs, commandTimeoutMs })).toThrow(RangeError)
      expect(() => resolveRedisLimits({ inboxBlockMs, commandTimeoutMs })).toThrow(
        `Redis limit inboxBlockMs (${inboxBlockMs} ms) must be below commandTimeoutMs (${commandTimeoutMs} ms)`
      )
    }
    expect(() => resolveRedisLimits({ commandTimeoutMs: 1_000 })).toThrow(
      /lower inboxBlockMs or raise commandTimeoutMs$/
    )
  })

  it('is what the registry applies to its options, before it reaches Redis', () => {
    // Nothing connects: the registry is refused as it is made.
    expect(
      () =>
        new ChannelServer({
          registry: (ctx) => new RedisRegistry(ctx, { url: 'redis://127.0.0.1:1', commandTimeoutMs: 800 })
        })
    ).toThrow(/^Redis limit inboxBlockMs \(1000 ms\) must be below commandTimeoutMs \(800 ms\)/)
  })
})
