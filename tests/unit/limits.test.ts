// The channel server's limits: defaults, overrides, and the rule every value has to meet.
import { describe, expect, it } from 'vitest'
import { DEFAULT_LIMITS, resolveLimits } from '../../src/main/channel/limits'

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

  it('checks limits against each other', () => {
    expect(() => resolveLimits({ maxPayloadBytes: 1_000, maxFrameBytes: 2_000 })).toThrow(
      /maxPayloadBytes must be at least maxFrameBytes/
    )
    expect(() => resolveLimits({ graceBufferBytes: 2_000, maxBufferedBytes: 1_000 })).toThrow(
      /graceBufferBytes must not exceed maxBufferedBytes/
    )
  })
})
