/**
 * Rules for what enters from outside, shared by the channel server, the channel client, the
 * hosts, settings and the pages: one place each, so that every entry refuses the same things.
 * Imports nothing (the renderer bundles it too).
 */

/**
 * How deeply a frame or a bridge payload may nest. Real signaling payloads nest 2 to 4 levels
 * (frame → data → candidate); the limit is far above that and far below what overflows the
 * stack of a recursive JSON.stringify or structured clone (several thousand levels).
 */
export const MAX_NESTING_DEPTH = 64

/**
 * Characters no identifier (uuid, session id) may hold: control characters (C0, DEL, C1, which
 * include ANSI escapes), format characters (bidi overrides and isolates, zero-width spaces and
 * joiners, the BOM), line and paragraph separators, and lone surrogates. Each of them can make
 * an id look like another one in the console, in logs or in a CSV export.
 */
const UNSAFE_ID_CHARACTER = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u

/** Longest uuid or session id (the channel server's maxUuidLength and maxSessionIdLength). */
export const MAX_ID_LENGTH = 128

/** Why `value` is not a usable identifier, or null when it is. */
export function identifierProblem(value: string, field: string, maxLength: number): string | null {
  if (value.length === 0) return `field "${field}" is empty`
  if (value.length > maxLength) return `field "${field}" is longer than ${maxLength}`
  const bad = UNSAFE_ID_CHARACTER.exec(value)
  if (bad) {
    const code = bad[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')
    return `field "${field}" contains an invisible or control character (U+${code})`
  }
  return null
}

/** Longest server URL accepted anywhere (settings, the connect command, the command line). */
export const MAX_SERVER_URL_LENGTH = 2048

/** Why `url` is not a channel server URL the app may open, or null when it is. */
export function serverUrlProblem(url: string): string | null {
  if (url.length > MAX_SERVER_URL_LENGTH)
    return `server URL is longer than ${MAX_SERVER_URL_LENGTH} characters`
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return 'server URL is not a valid URL'
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:')
    return `server URL must start with ws:// or wss://, got "${parsed.protocol}"`
  // A user:password@ part hides the real host from whoever reads the URL, and would be sent on.
  if (parsed.username !== '' || parsed.password !== '')
    return 'server URL must not carry a user name or password'
  if (UNSAFE_ID_CHARACTER.test(url)) return 'server URL contains an invisible or control character'
  return null
}

/**
 * Whether `value` nests deeper than `maxDepth` containers (objects or arrays), walked without
 * recursion so that the check itself cannot overflow the stack. A cycle counts as too deep.
 * `maxNodes` bounds the walk for values that share sub-objects many times over.
 */
export function nestsDeeperThan(value: unknown, maxDepth: number, maxNodes = 1_000_000): boolean {
  if (typeof value !== 'object' || value === null) return false
  const stack: { v: object; depth: number }[] = [{ v: value, depth: 1 }]
  let nodes = 0
  while (stack.length > 0) {
    const { v, depth } = stack.pop()!
    if (depth > maxDepth || ++nodes > maxNodes) return true
    const children: unknown[] = Array.isArray(v) ? v : Object.values(v)
    for (const c of children) if (typeof c === 'object' && c !== null) stack.push({ v: c, depth: depth + 1 })
  }
  return false
}

/** How deeply JSON text nests, read from its brackets outside strings: no parse, no recursion. */
export function jsonNestsDeeperThan(text: string, maxDepth: number): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c)
        i++ // backslash: skip the escaped character
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > maxDepth) return true
    } else if (c === 0x7d || c === 0x5d) depth--
  }
  return false
}
