/**
 * The relay's fast path: reads what the server needs of a `data` frame (PROTOCOL.md §5) straight
 * from the received bytes, without building the payload. A relayed frame is forwarded as it was
 * received, so the server needs only two facts from it: that `parseFrame` would accept it as a
 * data frame, and its top-level `sessionid`.
 *
 * `readDataEnvelope` answers only when it is sure; anything unusual makes it give up (FALL_BACK),
 * and the caller then runs `parseFrame` as for every other frame, which produces the exact reply
 * a bad frame gets. It checks the whole frame's JSON syntax (a frame JSON.parse refuses must not
 * be relayed), but it decodes nothing except the sessionid. See docs/PROTOCOL-DECISIONS.md,
 * "Envelope and parsing".
 */

import { MAX_NESTING_DEPTH } from '../../shared/input-rules'

/** The frame needs the full parser: not a data frame, malformed, or unusual in some way. */
export const FALL_BACK = null

/**
 * What `parseFrame` would read as the top-level `sessionid` of a valid data frame (undefined: the
 * frame has none), or FALL_BACK when the frame must go through `parseFrame`.
 */
export type DataEnvelope = string | undefined | typeof FALL_BACK

const QUOTE = 0x22
const BACKSLASH = 0x5c
const COMMA = 0x2c
const COLON = 0x3a
const OPEN_BRACE = 0x7b
const CLOSE_BRACE = 0x7d
const OPEN_BRACKET = 0x5b
const CLOSE_BRACKET = 0x5d
const MINUS = 0x2d
const PLUS = 0x2b
const DOT = 0x2e
const ZERO = 0x30
const NINE = 0x39
const LOWER_E = 0x65
const UPPER_E = 0x45
const LOWER_U = 0x75

/** Returned by the scanners below for input that is not (or not surely) valid JSON. */
const INVALID = -1

/*
 * Bytes are classified by comparisons rather than lookup tables: as fast while the scan is warm,
 * and no table memory to fetch again for a frame that arrives after the process did other work.
 */
const SPACE = 0x20
const TAB = 0x09
const LINE_FEED = 0x0a
const CARRIAGE_RETURN = 0x0d
const SLASH = 0x2f

/** The top-level keys whose values decide what parseFrame says, one bit each. */
const KEY = {
  OTHER: 0,
  MSGTYPE: 1,
  SESSIONID: 2,
  DATA: 4,
  /** operation, channeltype, uuid, trxid: parseFrame refuses a data frame where these are not strings. */
  STRING_FIELD_BASE: 8
} as const

const KNOWN_KEYS: readonly { name: Uint8Array; bit: number }[] = [
  { name: asciiBytes('msgtype'), bit: KEY.MSGTYPE },
  { name: asciiBytes('sessionid'), bit: KEY.SESSIONID },
  { name: asciiBytes('data'), bit: KEY.DATA },
  { name: asciiBytes('operation'), bit: KEY.STRING_FIELD_BASE },
  { name: asciiBytes('channeltype'), bit: KEY.STRING_FIELD_BASE << 1 },
  { name: asciiBytes('uuid'), bit: KEY.STRING_FIELD_BASE << 2 },
  { name: asciiBytes('trxid'), bit: KEY.STRING_FIELD_BASE << 3 }
]
const KNOWN_KEYS_BY_LENGTH = byLength(KNOWN_KEYS)
const DATA_MSGTYPE = asciiBytes('data')
const LITERALS = [asciiBytes('true'), asciiBytes('false'), asciiBytes('null')]

/** What an open container expects after a comma: a key (object) or a value (array). */
const IN_OBJECT = 1
const IN_ARRAY = 2
/**
 * The open containers of the value being skipped. Shared and grown on demand: nesting depth is
 * bounded only by the frame size, and the relay path should not allocate per frame.
 */
let containers = new Uint8Array(64)
/**
 * The frame's memory as words (see contentEnd), made again only when a frame lives in another
 * ArrayBuffer than the last: the frames of one socket read share one. It keeps at most that one
 * read's buffer alive between frames.
 */
let words: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0))
/** Where the current frame starts in `words`. */
let wordsOffset = 0

/** The longest envelope prefix an EnvelopeMemo keeps (a frame's top-level keys before `data`). */
export const MAX_MEMO_PREFIX_BYTES = 256

/**
 * What one sender's last data frame looked like up to the start of its `data` value. A client
 * builds every data frame of a session the same way (`{"msgtype":"data","channeltype":…,
 * "sessionid":…,"data":` in KT's SDK and in ours), so the next frame usually starts with the
 * very same bytes; the scan then compares them (four at a time) instead of parsing them again.
 * The scan's state after a prefix depends on nothing but its bytes, so resuming from it gives the
 * same answer as a full scan. Kept per connection; at most MAX_MEMO_PREFIX_BYTES each.
 */
export class EnvelopeMemo {
  /** prefix[0, length) are the bytes; 0: nothing memorized. */
  length = 0
  readonly prefix = new Uint8Array(MAX_MEMO_PREFIX_BYTES)
  /** The keys seen before `data` (KEY bits). */
  seen = 0
  /** The sessionid read in the prefix, or undefined when the prefix has none. */
  sessionid: string | undefined = undefined
  /** The nesting limit the prefix's values were checked against. */
  maxDepth = 0

  /** The prefix as words, for `startsWithMemo`. */
  readonly view = new DataView(this.prefix.buffer)

  remember(
    buf: Uint8Array,
    length: number,
    maxDepth: number,
    seen: number,
    sessionid: string | undefined
  ): void {
    if (length > MAX_MEMO_PREFIX_BYTES) {
      this.length = 0
      return
    }
    this.prefix.set(buf.subarray(0, length))
    this.length = length
    this.maxDepth = maxDepth
    this.seen = seen
    this.sessionid = sessionid
  }
}

/**
 * The frame (already in `words`) starts with the memorized prefix and has more after it; the
 * prefix is compared four bytes at a time.
 */
function startsWithMemo(memo: EnvelopeMemo, buf: Uint8Array, end: number, maxDepth: number): boolean {
  const length = memo.length
  if (length === 0 || end <= length || maxDepth !== memo.maxDepth) return false
  const view = memo.view
  let k = 0
  for (; k + 4 <= length; k += 4)
    if (words.getInt32(wordsOffset + k, true) !== view.getInt32(k, true)) return false
  for (; k < length; k++) if (buf[k] !== memo.prefix[k]) return false
  return true
}

/**
 * Reads a data frame's envelope from its bytes (UTF-8, as ws delivers a text message).
 * Returns the top-level sessionid (undefined when absent) when parseFrame would accept the frame
 * as `msgtype: "data"`; FALL_BACK otherwise, and whenever a shortcut could differ from it:
 * a top-level key or the msgtype / sessionid value containing an escape, a repeated envelope key,
 * a sessionid that is not a string (parseFrame turns numbers into strings), any of operation,
 * channeltype, uuid or trxid that is not a string.
 * When the sessionid is `expectedSessionId` (the one its sender usually names), that very string
 * is returned rather than a new copy. A frame nesting deeper than `maxDepth` (the frame itself
 * is level 1) falls back too: parseFrame refuses it with 400.
 */
export function readDataEnvelope(
  buf: Buffer,
  expectedSessionId?: string,
  maxDepth: number = MAX_NESTING_DEPTH,
  memo?: EnvelopeMemo
): DataEnvelope {
  const end = buf.length
  if (words.buffer !== buf.buffer) words = new DataView(buf.buffer)
  wordsOffset = buf.byteOffset
  let i: number
  let seen = 0
  let sessionStart = INVALID
  let sessionEnd = INVALID
  /** The sessionid as a string already: read from the memo. */
  let sessionid: string | undefined = undefined
  /** i is at the start of the `data` value, the state after the memo's prefix. */
  let resumed = memo !== undefined && startsWithMemo(memo, buf, end, maxDepth)
  if (resumed) {
    // The memorized frame's value began right there; this one may have more whitespace first.
    i = skipWhitespace(buf, memo!.length, end)
    if (i >= end) return FALL_BACK
    seen = memo!.seen
    sessionid = memo!.sessionid
  } else {
    i = skipWhitespace(buf, 0, end)
    if (i >= end || buf[i] !== OPEN_BRACE) return FALL_BACK
    i = skipWhitespace(buf, i + 1, end)
  }
  for (;;) {
    let key: number = KEY.DATA
    if (resumed) resumed = false
    else {
      if (i >= end || buf[i] !== QUOTE) return FALL_BACK // also `{}`: no msgtype
      const keyEnd = plainStringEnd(buf, i + 1, end)
      if (keyEnd === INVALID) return FALL_BACK
      key = knownKey(buf, i + 1, keyEnd)
      if ((seen & key) !== 0) return FALL_BACK // JSON.parse keeps the last one: let it decide
      seen |= key
      i = skipWhitespace(buf, keyEnd + 1, end)
      if (i >= end || buf[i] !== COLON) return FALL_BACK
      i = skipWhitespace(buf, i + 1, end)
      if (i >= end) return FALL_BACK
      if (key === KEY.DATA && memo !== undefined) {
        // Read the sessionid now, once: the memo keeps it, and the end of the scan returns it.
        if (sessionStart !== INVALID) {
          sessionid = sessionText(buf, sessionStart, sessionEnd, expectedSessionId)
          sessionStart = INVALID
        }
        memo.remember(buf, i, maxDepth, seen, sessionid)
      }
    }
    const first = buf[i]
    if (key === KEY.MSGTYPE) {
      if (first !== QUOTE) return FALL_BACK
      const valueEnd = plainStringEnd(buf, i + 1, end)
      if (valueEnd === INVALID || !bytesEqual(buf, i + 1, valueEnd, DATA_MSGTYPE)) return FALL_BACK
      i = valueEnd + 1
    } else if (key === KEY.SESSIONID) {
      if (first !== QUOTE) return FALL_BACK
      sessionStart = i + 1
      sessionEnd = plainStringEnd(buf, sessionStart, end)
      if (sessionEnd === INVALID) return FALL_BACK
      i = sessionEnd + 1
    } else if (key >= KEY.STRING_FIELD_BASE) {
      if (first !== QUOTE) return FALL_BACK
      i = stringEnd(buf, i + 1, end)
    } else {
      if (key === KEY.DATA && first !== OPEN_BRACE) return FALL_BACK // data must be an object
      i = valueEnd(buf, i, end, maxDepth - 1)
    }
    if (i === INVALID) return FALL_BACK
    i = skipWhitespace(buf, i, end)
    if (i >= end) return FALL_BACK
    if (buf[i] === CLOSE_BRACE) break
    if (buf[i] !== COMMA) return FALL_BACK
    i = skipWhitespace(buf, i + 1, end)
  }
  if (skipWhitespace(buf, i + 1, end) !== end) return FALL_BACK // nothing may follow the frame
  if ((seen & (KEY.MSGTYPE | KEY.DATA)) !== (KEY.MSGTYPE | KEY.DATA)) return FALL_BACK
  if (sessionStart === INVALID) return sessionid
  return sessionText(buf, sessionStart, sessionEnd, expectedSessionId)
}

/** The sessionid's text: `expected` itself when the bytes spell it, else a new string. */
function sessionText(buf: Buffer, start: number, end: number, expected: string | undefined): string {
  if (expected !== undefined && isAsciiText(buf, start, end, expected)) return expected
  return utf8(buf, start, end)
}

function knownKey(buf: Uint8Array, start: number, end: number): number {
  const length = end - start
  // Keys are told apart by length first: most keys of a frame are compared with nothing.
  if (length < KNOWN_KEYS_BY_LENGTH.length) {
    for (const known of KNOWN_KEYS_BY_LENGTH[length]!)
      if (bytesEqual(buf, start, end, known.name)) return known.bit
  }
  return KEY.OTHER
}

/**
 * Skips one JSON value starting at `i` (no whitespace before it); returns the index after it,
 * or INVALID (also when containers nest more than `maxDepth` levels, empty ones included).
 * Iterative, so that deep nesting cannot overflow the stack.
 */
function valueEnd(buf: Uint8Array, i: number, end: number, maxDepth: number): number {
  let depth = 0
  for (;;) {
    // A value is expected at i.
    if (i === INVALID || i >= end) return INVALID
    const c = buf[i]!
    if ((c === OPEN_BRACE || c === OPEN_BRACKET) && depth >= maxDepth) return INVALID
    if (c === QUOTE) {
      i = stringEnd(buf, i + 1, end)
    } else if (c === OPEN_BRACE) {
      i = skipWhitespace(buf, i + 1, end)
      if (i < end && buf[i] === CLOSE_BRACE) i++
      else {
        depth = openContainer(depth, IN_OBJECT)
        i = memberValueStart(buf, i, end)
        continue
      }
    } else if (c === OPEN_BRACKET) {
      i = skipWhitespace(buf, i + 1, end)
      if (i < end && buf[i] === CLOSE_BRACKET) i++
      else {
        depth = openContainer(depth, IN_ARRAY)
        continue
      }
    } else if (c === MINUS || (c >= ZERO && c <= NINE)) {
      i = numberEnd(buf, i, end)
    } else {
      i = literalEnd(buf, i, end)
    }
    // After a value: close what ends here, and find where the next value starts.
    for (;;) {
      if (i === INVALID) return INVALID
      if (depth === 0) return i
      i = skipWhitespace(buf, i, end)
      if (i >= end) return INVALID
      const next = buf[i]
      const container = containers[depth - 1]
      if (next === COMMA) {
        i = skipWhitespace(buf, i + 1, end)
        if (container === IN_OBJECT) i = memberValueStart(buf, i, end)
        break
      }
      if (next !== (container === IN_OBJECT ? CLOSE_BRACE : CLOSE_BRACKET)) return INVALID
      depth--
      i++
    }
  }
}

function openContainer(depth: number, kind: number): number {
  if (depth === containers.length) {
    const grown = new Uint8Array(containers.length * 2)
    grown.set(containers)
    containers = grown
  }
  containers[depth] = kind
  return depth + 1
}

/** From the opening quote of a member's key to the start of its value, or INVALID. */
function memberValueStart(buf: Uint8Array, i: number, end: number): number {
  if (i >= end || buf[i] !== QUOTE) return INVALID
  i = stringEnd(buf, i + 1, end)
  if (i === INVALID) return INVALID
  i = skipWhitespace(buf, i, end)
  if (i >= end || buf[i] !== COLON) return INVALID
  return skipWhitespace(buf, i + 1, end)
}

/** From after an opening quote to after the closing one, escapes checked; or INVALID. */
function stringEnd(buf: Uint8Array, i: number, end: number): number {
  for (;;) {
    i = contentEnd(buf, i, end)
    if (i >= end) return INVALID
    const c = buf[i]!
    if (c === QUOTE) return i + 1
    if (c !== BACKSLASH || i + 1 >= end) return INVALID
    // An SDP has an escaped line break every 30 bytes or so: the simple escapes stay inline.
    if (isSimpleEscape(buf[i + 1]!)) i += 2
    else i = unicodeEscapeEnd(buf, i + 1, end)
    if (i === INVALID) return INVALID
  }
}

/**
 * Skips string content up to the next quote, backslash or control character. Signaling payloads
 * are mostly long strings (an SDP is one string of about 3 KB), so four bytes are tested at a
 * time where the frame allows: a word is plain content when none of its bytes is below 0x20,
 * 0x22 or 0x5c.
 */
function contentEnd(buf: Uint8Array, i: number, end: number): number {
  const view = words
  const lastWord = wordsOffset + end - 4
  let at = wordsOffset + i
  while (at <= lastWord && isPlainWord(view.getInt32(at, true))) at += 4
  i = at - wordsOffset
  while (i < end && isContent(buf[i]!)) i++
  return i
}

/**
 * Plain string content: not a quote, a backslash or U+0000–U+001F (which JSON.parse refuses raw).
 * UTF-8 lead and continuation bytes are content too.
 */
function isContent(c: number): boolean {
  return c >= SPACE && c !== QUOTE && c !== BACKSLASH
}

/** The characters that may follow a backslash, other than `u`: " \\ / b f n r t. */
function isSimpleEscape(c: number): boolean {
  return (
    c === QUOTE ||
    c === BACKSLASH ||
    c === SLASH ||
    c === 0x62 ||
    c === 0x66 ||
    c === 0x6e ||
    c === 0x72 ||
    c === 0x74
  )
}

function isHexDigit(c: number): boolean {
  const lower = c | 0x20 // folds A–F onto a–f, and leaves no other byte in a–f
  return (c >= ZERO && c <= NINE) || (lower >= 0x61 && lower <= 0x66)
}

/** No byte of the word is < 0x20, = 0x22 or = 0x5c (the usual "has a zero byte" bit tests). */
function isPlainWord(word: number): boolean {
  const quotes = word ^ 0x22222222
  const backslashes = word ^ 0x5c5c5c5c
  const below0x20 = (word - 0x20202020) & ~word
  const zeroAtQuote = (quotes - 0x01010101) & ~quotes
  const zeroAtBackslash = (backslashes - 0x01010101) & ~backslashes
  return ((below0x20 | zeroAtQuote | zeroAtBackslash) & 0x80808080) === 0
}

/** From the `u` of a `\\u` escape to after its four hex digits, or INVALID. */
function unicodeEscapeEnd(buf: Uint8Array, i: number, end: number): number {
  if (buf[i] !== LOWER_U || i + 4 >= end) return INVALID
  for (let k = 1; k <= 4; k++) if (!isHexDigit(buf[i + k]!)) return INVALID
  return i + 5
}

/**
 * From after an opening quote, the index of the closing quote of a string without escapes (its
 * bytes are then its value); INVALID for an escape or anything JSON.parse would refuse.
 */
function plainStringEnd(buf: Uint8Array, i: number, end: number): number {
  while (i < end) {
    const c = buf[i]!
    if (c === QUOTE) return i
    if (!isContent(c)) return INVALID
    i++
  }
  return INVALID
}

/** A JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, or INVALID. */
function numberEnd(buf: Uint8Array, i: number, end: number): number {
  if (buf[i] === MINUS) i++
  if (i >= end) return INVALID
  if (buf[i] === ZERO) i++
  else {
    const digitsFrom = i
    i = digitsEnd(buf, i, end)
    if (i === digitsFrom) return INVALID
  }
  if (i < end && buf[i] === DOT) {
    const digitsFrom = i + 1
    i = digitsEnd(buf, digitsFrom, end)
    if (i === digitsFrom) return INVALID
  }
  if (i < end && (buf[i] === LOWER_E || buf[i] === UPPER_E)) {
    i++
    if (i < end && (buf[i] === PLUS || buf[i] === MINUS)) i++
    const digitsFrom = i
    i = digitsEnd(buf, digitsFrom, end)
    if (i === digitsFrom) return INVALID
  }
  return i
}

function digitsEnd(buf: Uint8Array, i: number, end: number): number {
  while (i < end && buf[i]! >= ZERO && buf[i]! <= NINE) i++
  return i
}

/** true, false or null; INVALID for anything else. */
function literalEnd(buf: Uint8Array, i: number, end: number): number {
  for (const literal of LITERALS) {
    if (literal[0] === buf[i]) {
      const after = i + literal.length
      return after <= end && bytesEqual(buf, i, after, literal) ? after : INVALID
    }
  }
  return INVALID
}

/** JSON whitespace is exactly these four; JSON.parse refuses any other (a BOM, U+00A0, …). */
function skipWhitespace(buf: Uint8Array, i: number, end: number): number {
  while (i < end) {
    const c = buf[i]!
    if (c > SPACE || (c !== SPACE && c !== LINE_FEED && c !== CARRIAGE_RETURN && c !== TAB)) return i
    i++
  }
  return i
}

function bytesEqual(buf: Uint8Array, start: number, end: number, expected: Uint8Array): boolean {
  if (end - start !== expected.length) return false
  for (let k = 0; k < expected.length; k++) if (buf[start + k] !== expected[k]) return false
  return true
}

/**
 * The bytes are this ASCII text. Non-ASCII text never matches (its UTF-8 bytes are not its char
 * codes), so it goes the way of utf8() below, which is only slower.
 */
function isAsciiText(buf: Uint8Array, start: number, end: number, text: string): boolean {
  if (end - start !== text.length) return false
  for (let k = 0; k < text.length; k++) {
    const c = buf[start + k]!
    if (c >= 0x80 || c !== text.charCodeAt(k)) return false
  }
  return true
}

/** The text of a string without escapes: its UTF-8 bytes (ws has checked they are valid). */
function utf8(buf: Buffer, start: number, end: number): string {
  return buf.toString('utf8', start, end)
}

function byLength(keys: typeof KNOWN_KEYS): (typeof KNOWN_KEYS)[] {
  const longest = Math.max(...keys.map((k) => k.name.length))
  return Array.from({ length: longest + 1 }, (_, n) => keys.filter((k) => k.name.length === n))
}

function asciiBytes(text: string): Uint8Array {
  return Uint8Array.from(text, (ch) => ch.charCodeAt(0))
}
