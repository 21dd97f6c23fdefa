/**
 * Hostile input for the fuzz suite: fast-check arbitraries, and every input that ever broke an
 * entry point (kept as regression cases, run first by each property through `examples`).
 */
import fc from 'fast-check'

/** The fixed seed of every fuzz property: a failure replays exactly. */
export const FUZZ_SEED = 13_013

/**
 * Cases per entry point: 11 000 single inputs in all, about 25 s on two cores; and batches against
 * the Redis registry (two servers on one redis-server), each a few hostile clients' frame sequences
 * (redisFrames) or up to 12 inbox entries (redisInbox): about 15 s more.
 */
export const FUZZ_RUNS = {
  http: 2_000,
  bridge: 3_000,
  peerFrames: 3_000,
  settingsFile: 1_500,
  historyFile: 1_500,
  redisFrames: 250,
  redisInbox: 400
} as const

/** Request targets that once stopped the browser host (URIError, or `new URL` throwing). */
export const CRASHING_TARGETS = ['/%ZZ', '//', '///', '/\\', 'http://a:99999/'] as const

/** A data payload nested 6000 deep (about 12 KB): overflowed JSON.stringify in the host. */
export const DEEP_ARRAY_TEXT = `${'['.repeat(6000)}${']'.repeat(6000)}`
export const DEEP_OBJECT_TEXT = `${'{"d":'.repeat(6000)}{}${'}'.repeat(6000)}`

/** Characters that make one id look like another. */
export const SPOOFING_CHARACTERS = [
  '\u0000',
  '\u0007',
  '\u001b[31m',
  '\u007f',
  '\u009b',
  '\u202e',
  '\u2066',
  '\u200b',
  '\u200d',
  '\ufeff',
  '\ud800',
  '\udc00',
  '\u2028'
]

/** Short strings of any code unit, with spoofing characters and odd lengths mixed in. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.constantFrom('', 'K1', 'c1', '한국어', 'a😀b', ...SPOOFING_CHARACTERS),
  fc
    .tuple(fc.string({ maxLength: 6 }), fc.constantFrom(...SPOOFING_CHARACTERS), fc.string({ maxLength: 6 }))
    .map(([a, b, c]) => a + b + c),
  fc.integer({ min: 120, max: 300 }).map((n) => 'x'.repeat(n)),
  fc.constantFrom('x'.repeat(3000), '%'.repeat(50), '\\'.repeat(20))
)

/** JSON-ish values, shallow or deep; deep ones as text so that building them cannot overflow. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 2, arbitrary: hostileString },
  { weight: 1, arbitrary: fc.constantFrom(null, true, 0, -1, 1e308, Number.MAX_SAFE_INTEGER + 2, [], {}) },
  { weight: 1, arbitrary: fc.integer({ min: 60, max: 70 }).map((d) => JSON.parse(nested(d)) as unknown) }
)

/** JSON text nesting `depth` containers. */
export function nested(depth: number): string {
  return `${'{"a":'.repeat(depth - 1)}{}${'}'.repeat(depth - 1)}`
}

/** Whether a string would make a client open a WebSocket beyond loopback: never in a test. */
export function leavesLoopback(url: string): boolean {
  try {
    const u = new URL(url)
    return (
      (u.protocol === 'ws:' || u.protocol === 'wss:') &&
      !['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname)
    )
  } catch {
    return false
  }
}
