/**
 * The relay's fast path (data-envelope.ts) against the full parser: whenever it answers, its
 * answer is parseFrame's (a data frame, and the same top-level sessionid); for the frames clients
 * really send it does answer. Examples first, then fast-check properties with fixed seeds over
 * frame-shaped text, hand-made adversarial text, mutations of valid frames and arbitrary input.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  EnvelopeMemo,
  FALL_BACK,
  MAX_MEMO_PREFIX_BYTES,
  readDataEnvelope,
  type DataEnvelope
} from '../../src/main/channel/data-envelope'
import { MAX_NESTING_DEPTH } from '../../src/shared/input-rules'
import { parseFrame } from '../../src/shared/protocol'

const SEED = 20_261_127

/** What the relay learns from parseFrame: FALL_BACK for anything but an accepted data frame. */
function reference(text: string): DataEnvelope {
  const parsed = parseFrame(text)
  if (!parsed.ok || parsed.frame.msgtype !== 'data') return FALL_BACK
  return parsed.frame.sessionid
}

/** The fast path may give up on anything, but when it answers it must agree with parseFrame. */
function expectAgreement(bytes: Buffer, expectedSessionId?: string): DataEnvelope {
  const fast = readDataEnvelope(bytes, expectedSessionId)
  if (fast !== FALL_BACK) expect(fast).toStrictEqual(reference(bytes.toString('utf8')))
  return fast
}

function fast(text: string): DataEnvelope {
  return expectAgreement(Buffer.from(text, 'utf8'))
}

describe('readDataEnvelope on examples', () => {
  it('reads the sessionid of data frames as clients send them, in any key order', () => {
    expect(
      fast('{"msgtype":"data","channeltype":"webrtcaudio","sessionid":"S1","data":{"type":"bye"}}')
    ).toBe('S1')
    expect(fast('{"data":{"sdp":"v=0\\r\\n"},"sessionid":"S1","msgtype":"data"}')).toBe('S1')
    expect(fast(' {\n\t"msgtype" : "data" ,\r\n "data" : { } , "sessionid":"세션"}\n')).toBe('세션')
    expect(fast('{"msgtype":"data","data":{},"sessionid":""}')).toBe('')
  })

  it('answers undefined for a data frame without a top-level sessionid', () => {
    expect(fast('{"msgtype":"data","data":{}}')).toBeUndefined()
    expect(fast('{"msgtype":"data","data":{"sessionid":"nested"}}')).toBeUndefined()
    expect(fast('{"msgtype":"data","data":{"note":"\\"sessionid\\":\\"in a string\\""}}')).toBeUndefined()
    expect(
      fast('{"msgtype":"data","data":{"a":[{"sessionid":"deep"}]},"x":{"sessionid":"y"}}')
    ).toBeUndefined()
  })

  it('takes the top-level sessionid, not one inside the payload or inside a string', () => {
    expect(fast('{"msgtype":"data","data":{"sessionid":"inner"},"sessionid":"outer"}')).toBe('outer')
    expect(fast('{"msgtype":"data","note":"\\",\\"sessionid\\":\\"fake","sessionid":"real","data":{}}')).toBe(
      'real'
    )
    expect(fast('{"msgtype":"data","sessionid":"real","data":{"k":"\\"sessionid\\":\\"fake\\""}}')).toBe(
      'real'
    )
  })

  it('keeps other keys, the delivery stamp among them, whatever their JSON value', () => {
    expect(
      fast(
        '{"msgtype":"data","sessionid":"S","delivery":{"from":"a","epoch":0,"seq":12},"n":-1.5e+3,"t":true,"f":false,"z":null,"e":[],"o":{},"data":{"a":[1,[2,[3]]]}}'
      )
    ).toBe('S')
    expect(
      fast('{"msgtype":"data","trxid":"t\\u00e9","uuid":"u","operation":"x","channeltype":"c","data":{}}')
    ).toBe(undefined)
  })

  it('leaves to the full parser every frame it does not take on', () => {
    const fallBacks = [
      '{"msgtype":"request","operation":"auth","uuid":"u"}', // not a data frame
      '{"msgtype":"data"}', // no data
      '{"msgtype":"data","data":[]}', // data not an object
      '{"msgtype":"data","data":null}',
      '{"data":{}}', // no msgtype
      '{}',
      '[]',
      '"data"',
      '{"msg\\u0074ype":"data","data":{}}', // an escaped key
      '{"msgtype":"d\\u0061ta","data":{}}', // an escaped msgtype
      '{"msgtype":"data","sessionid":"S\\u0031","data":{}}', // an escaped sessionid
      '{"msgtype":"data","sessionid":17,"data":{}}', // parseFrame turns it into "17"
      '{"msgtype":"data","sessionid":null,"data":{}}',
      '{"msgtype":"data","sessionid":"a","sessionid":"b","data":{}}', // the last one wins there
      '{"msgtype":"data","msgtype":"data","data":{}}',
      '{"msgtype":"data","data":{},"data":{}}',
      '{"msgtype":"data","trxid":7,"data":{}}', // numeric ids are the parser's to convert
      '{"msgtype":"data","operation":1,"data":{}}', // 400 from the parser
      '{"msgtype":"data","channeltype":null,"data":{}}',
      '{"msgtype":"data","uuid":{},"data":{}}',
      '\ufeff{"msgtype":"data","data":{}}', // a BOM is not JSON whitespace
      '{"msgtype":"data","data":{}}\u00a0'
    ]
    for (const text of fallBacks) expect(fast(text), text).toBe(FALL_BACK)
  })

  it('never relays what JSON.parse refuses', () => {
    const invalid = [
      '{"msgtype":"data","data":{}',
      '{"msgtype":"data","data":{}}}',
      '{"msgtype":"data","data":{},}',
      '{"msgtype":"data","data":{"a":}}',
      '{"msgtype":"data","data":{"a":1,}}',
      '{"msgtype":"data","data":{"a" 1}}',
      '{"msgtype":"data","data":{"a":[1,]}}',
      '{"msgtype":"data","data":{"a":[1 2]}}',
      '{"msgtype":"data","data":{"a":]}}',
      '{"msgtype":"data","data":{"a":[}}',
      '{"msgtype":"data","data":{1:2}}',
      "{'msgtype':'data','data':{}}",
      '{"msgtype":"data","data":{"a":01}}',
      '{"msgtype":"data","data":{"a":1.}}',
      '{"msgtype":"data","data":{"a":.5}}',
      '{"msgtype":"data","data":{"a":-}}',
      '{"msgtype":"data","data":{"a":1e}}',
      '{"msgtype":"data","data":{"a":+1}}',
      '{"msgtype":"data","data":{"a":NaN}}',
      '{"msgtype":"data","data":{"a":tru}}',
      '{"msgtype":"data","data":{"a":nul}}',
      '{"msgtype":"data","data":{"a":"\\x"}}',
      '{"msgtype":"data","data":{"a":"\\u12G4"}}',
      '{"msgtype":"data","data":{"a":"\\u123"}}',
      '{"msgtype":"data","data":{"a":"tab\there"}}', // a raw control character in a string
      '{"msgtype":"data","data":{"a":"nul\u0000"}}',
      '{"msgtype":"data","sessionid":"line\nbreak","data":{}}',
      '{"msgtype":"data","data":{"a":"unterminated}}',
      '{"msgtype":"data","data":{}} x',
      '{"msgtype":"data","data":{}}{}',
      '{"msgtype":"data","data":{"a":1}}\u000b'
    ]
    for (const text of invalid) {
      expect(parseFrame(text).ok, text).toBe(false)
      expect(fast(text), text).toBe(FALL_BACK)
    }
  })

  it('accepts the numbers, escapes and nesting up to the limit that JSON.parse accepts', () => {
    // The frame is level 1 and data level 2: the array nests to exactly MAX_NESTING_DEPTH.
    const levels = MAX_NESTING_DEPTH - 2
    const deep = `${'['.repeat(levels)}${']'.repeat(levels)}`
    const valid = [
      `{"msgtype":"data","sessionid":"S","data":{"deep":${deep}}}`,
      '{"msgtype":"data","sessionid":"S","data":{"n":[0,-0,1.25,-1e-7,2E+30,1e999]}}',
      '{"msgtype":"data","sessionid":"S","data":{"s":"\\"\\\\\\/\\b\\f\\n\\r\\t\\u00ff\\uD800\\uDBFF\\uDC00"}}',
      '{"msgtype":"data","sessionid":"S","data":{"\\u0000":"raw \u007f and 한국어"}}'
    ]
    for (const text of valid) expect(fast(text), text.slice(0, 80)).toBe('S')
  })

  it('falls back for a frame nesting deeper than the limit, which parseFrame refuses with 400', () => {
    for (const inner of ['[]', '{}', '[1]', '{"a":1}']) {
      const levels = MAX_NESTING_DEPTH - 2
      const text = `{"msgtype":"data","sessionid":"S","data":{"deep":${'['.repeat(levels)}${inner}${']'.repeat(levels)}}}`
      expect(fast(text), inner).toBe(FALL_BACK)
      const parsed = parseFrame(text)
      expect(parsed.ok).toBe(false)
      if (!parsed.ok) {
        expect(parsed.error).toMatchObject({ result_cd: 400, field: 'data', partial: { sessionid: 'S' } })
        expect(parsed.error.result_msg).toContain(`deeper than ${MAX_NESTING_DEPTH}`)
      }
      // One level less is exactly at the limit: taken by both.
      const atLimit = `{"msgtype":"data","sessionid":"S","data":{"deep":${'['.repeat(levels - 1)}${inner}${']'.repeat(levels - 1)}}}`
      expect(fast(atLimit), inner).toBe('S')
      expect(parseFrame(atLimit).ok).toBe(true)
    }
    // The 6000-level frame of the crash report: no stack overflow anywhere, one refusal.
    const crash = `{"msgtype":"data","data":{"x":${'['.repeat(6_000)}${']'.repeat(6_000)}}}`
    expect(fast(crash)).toBe(FALL_BACK)
    expect(parseFrame(crash).ok).toBe(false)
    // A higher configured limit takes it.
    expect(readDataEnvelope(Buffer.from(crash), undefined, 10_000)).toBeUndefined()
    expect(parseFrame(crash, 10_000).ok).toBe(true)
  })

  it('does not use the payload of one frame for the next (the shared nesting stack)', () => {
    expect(fast(`{"msgtype":"data","data":{"a":${'['.repeat(200)}`)).toBe(FALL_BACK)
    expect(fast('{"msgtype":"data","sessionid":"S","data":{"a":[{}]}}')).toBe('S')
    expect(fast('{"msgtype":"data","sessionid":"S","data":{"a":[{]}}')).toBe(FALL_BACK)
  })

  it('gives back the expected sessionid when the frame names it, and reads any other', () => {
    const frame = Buffer.from('{"msgtype":"data","sessionid":"S-1","data":{}}')
    expect(readDataEnvelope(frame, 'S-1')).toBe('S-1')
    expect(readDataEnvelope(frame, 'S-2')).toBe('S-1')
    expect(readDataEnvelope(frame, 'S-12')).toBe('S-1')
    expect(readDataEnvelope(Buffer.from('{"msgtype":"data","data":{}}'), 'S-1')).toBeUndefined()
    // The UTF-8 bytes of "é" are C3 A9, which are also the char codes of "Ã©": not the same id.
    const accented = Buffer.from('{"msgtype":"data","sessionid":"é","data":{}}')
    expect(readDataEnvelope(accented, '\u00c3\u00a9')).toBe('é')
    expect(readDataEnvelope(accented, 'é')).toBe('é')
  })

  it("with a memo of the sender's last envelope, reads each frame as a full scan does", () => {
    const memo = new EnvelopeMemo()
    const read = (text: string, expected?: string): DataEnvelope => {
      const bytes = Buffer.from(text)
      const answer = readDataEnvelope(bytes, expected, MAX_NESTING_DEPTH, memo)
      expect(answer, text).toStrictEqual(readDataEnvelope(bytes, expected))
      return answer
    }
    const head = '{"msgtype":"data","channeltype":"webrtcaudio","sessionid":"S-1","data":'
    expect(read(`${head}{"candidate":"a"}}`, 'S-1')).toBe('S-1')
    expect(memo.length).toBe(Buffer.byteLength(head))
    // The same envelope, another payload: the prefix is compared, the payload still checked.
    expect(read(`${head}{"candidate":"b","sdpMLineIndex":0}}`, 'S-1')).toBe('S-1')
    expect(read(`${head}{"candidate":"b",}}`)).toBe(FALL_BACK)
    expect(read(`${head}[]}`)).toBe(FALL_BACK)
    expect(read(`${head} {"candidate":"c"}}`)).toBe('S-1') // whitespace where the value began
    expect(read(head)).toBe(FALL_BACK) // nothing after the prefix
    expect(read(`${head}{}`)).toBe(FALL_BACK) // the frame never closes
    expect(read(`${head}{},"sessionid":"S-2"}`)).toBe(FALL_BACK) // a second sessionid
    expect(read(`${head}{},"trxid":"t"}`)).toBe('S-1') // keys after the data
    // Another envelope replaces the memo; a different sessionid is read from the bytes.
    expect(read('{"msgtype":"data","sessionid":"S-2","data":{"n":1}}', 'S-1')).toBe('S-2')
    expect(read('{"msgtype":"data","sessionid":"S-2","data":{"n":2}}', 'S-1')).toBe('S-2')
    expect(read('{"msgtype":"data","data":{"n":3}}')).toBeUndefined()
    expect(read('{"msgtype":"data","data":{"n":4},"sessionid":"S-3"}')).toBe('S-3')
    // An envelope longer than the memo holds is scanned every time.
    const long = `{"msgtype":"data","trxid":"${'t'.repeat(MAX_MEMO_PREFIX_BYTES)}","data":`
    expect(read(`${long}{}}`)).toBeUndefined()
    expect(memo.length).toBe(0)
  })

  it('string content, read four bytes at a time: any character at any place of a word, after any start of the frame in memory, is taken or refused as the full parser does', () => {
    const probes = [
      ...Array.from({ length: 0x80 }, (_, c) => String.fromCharCode(c)),
      'é', // two UTF-8 bytes, both ≥ 0x80
      '€', // three
      '😀', // four
      '\u0080' // bytes 0xc2 0x80: the lowest continuation byte
    ]
    let cases = 0
    for (const filler of ['a', 'é']) {
      for (let before = 0; before <= 17; before++) {
        for (const after of [0, 1, 3, 8]) {
          for (const probe of probes) {
            const content = filler.repeat(before) + probe + filler.repeat(after)
            const text = `{"msgtype":"data","sessionid":"S","data":{"sdp":"${content}"}}`
            const expected = reference(text)
            const bytes = Buffer.from(text, 'utf8')
            for (let shift = 0; shift < 8; shift++) {
              // The frame at every offset from a word boundary of its ArrayBuffer.
              const memory = Buffer.alloc(bytes.length + 16, 0x22)
              bytes.copy(memory, shift)
              const frame = memory.subarray(shift, shift + bytes.length)
              expect(readDataEnvelope(frame), `${JSON.stringify(content)} at +${shift}`).toBe(expected)
              cases++
            }
          }
        }
      }
    }
    expect(cases).toBe(2 * 18 * 4 * 132 * 8)
  })

  it('reads only the view it is given, not the memory around it', () => {
    const whole = Buffer.from('xx{"msgtype":"data","sessionid":"S","data":{}}yy')
    expect(readDataEnvelope(whole.subarray(2, whole.length - 2))).toBe('S')
    expect(readDataEnvelope(whole.subarray(2, whole.length - 3))).toBe(FALL_BACK)
  })
})

// ---------------------------------------------------------------------------------------------
// Properties

const ENVELOPE_KEYS = ['msgtype', 'sessionid', 'data', 'operation', 'channeltype', 'uuid', 'trxid'] as const
const WHITESPACE = fc.constantFrom('', '', '', ' ', '\n', '\t', '\r\n', '  ')

/** A JSON value plus the choices of how to write it (whitespace, escapes). */
type Written = { value: unknown; spaces: readonly string[]; escapes: readonly boolean[] }

/** Writes JSON with the given whitespace between tokens and \u escapes for some characters. */
function write({ value, spaces, escapes }: Written): string {
  let s = 0
  let e = 0
  const space = (): string => (spaces.length === 0 ? '' : spaces[s++ % spaces.length]!)
  const escape = (): boolean => escapes.length > 0 && escapes[e++ % escapes.length]!
  const str = (text: string): string =>
    escape()
      ? `"${[...text].map((ch) => (escape() ? unicodeEscape(ch) : JSON.stringify(ch).slice(1, -1))).join('')}"`
      : JSON.stringify(text)
  const val = (v: unknown): string => {
    if (v instanceof Members) {
      return `{${space()}${v.pairs.map(([k, x]) => `${str(k)}${space()}:${space()}${val(x)}`).join(`${space()},${space()}`)}${space()}}`
    }
    if (Array.isArray(v)) return `[${space()}${v.map(val).join(`${space()},${space()}`)}${space()}]`
    if (typeof v === 'string') return str(v)
    if (v !== null && typeof v === 'object') {
      return val(new Members(Object.entries(v)))
    }
    return JSON.stringify(v) ?? 'null'
  }
  return `${space()}${val(value)}${space()}`
}

function unicodeEscape(ch: string): string {
  let out = ''
  for (let k = 0; k < ch.length; k++) out += `\\u${ch.charCodeAt(k).toString(16).padStart(4, '0')}`
  return out
}

/** An object as a list of members, so that keys can repeat and come in any order. */
class Members {
  constructor(readonly pairs: [string, unknown][]) {}
}

const anyString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  fc.constantFrom('data', 'sessionid', '"sessionid":"x"', '\\', '"', '}', '{', ',"msgtype":"data"')
)
const jsonLeaf = fc.oneof(
  anyString,
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null)
)
const payload = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, jsonLeaf, tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 4 }),
  object: fc
    .array(fc.tuple(fc.oneof(anyString, fc.constantFrom(...ENVELOPE_KEYS)), tie('value')), { maxLength: 4 })
    .map((pairs) => new Members(pairs as [string, unknown][]))
})).value

/** Top-level members: the envelope keys (sometimes twice) with values of every type, in any order. */
const envelope = fc
  .tuple(
    fc.oneof(
      { weight: 6, arbitrary: fc.constant('data') },
      fc.constantFrom('request', 'notify', 'reply', 'Data', ''),
      jsonLeaf
    ),
    fc.oneof({ weight: 3, arbitrary: fc.string({ maxLength: 24 }) }, fc.integer(), jsonLeaf, payload),
    fc.oneof(
      { weight: 3, arbitrary: payload.map((p) => (p instanceof Members ? p : new Members([['p', p]]))) },
      payload
    ),
    fc.array(fc.tuple(fc.constantFrom(...ENVELOPE_KEYS, 'delivery', 'x'), fc.oneof(jsonLeaf, payload)), {
      maxLength: 3
    }),
    fc.array(fc.constantFrom(true, true, true, false), { minLength: 3, maxLength: 3 }),
    fc.nat()
  )
  .map(([msgtype, sessionid, data, extra, [withMsgtype, withSessionid, withData], turn]) => {
    const pairs: [string, unknown][] = []
    if (withMsgtype) pairs.push(['msgtype', msgtype])
    if (withSessionid) pairs.push(['sessionid', sessionid])
    if (withData) pairs.push(['data', data])
    pairs.push(...extra)
    const k = pairs.length === 0 ? 0 : turn % pairs.length
    return new Members([...pairs.slice(k), ...pairs.slice(0, k)])
  })

const written = (value: fc.Arbitrary<unknown>): fc.Arbitrary<string> =>
  fc
    .record({
      value,
      spaces: fc.array(WHITESPACE, { maxLength: 8 }),
      escapes: fc.oneof({ weight: 2, arbitrary: fc.constant([]) }, fc.array(fc.boolean(), { maxLength: 6 }))
    })
    .map(write)

/** No character that JSON must escape: such a sessionid is written as its own bytes. */
function needsNoEscape(text: string): boolean {
  for (const ch of text) if (ch < ' ' || ch === '"' || ch === '\\') return false
  return true
}

/** Long text with escapes every so often, as in an SDP (the word-at-a-time scan runs on it). */
const longText = fc
  .array(
    fc.oneof(fc.string({ minLength: 1, maxLength: 40 }), fc.constantFrom('\r\n', '"', '\\', '\t', '\u0001')),
    {
      maxLength: 40
    }
  )
  .map((parts) => parts.join(''))

/** Data frames as the app and the benchmark write them: the fast path must take these. */
const ordinaryDataFrame = fc
  .record({
    sessionid: fc.option(fc.string({ unit: 'grapheme' }).filter(needsNoEscape), { nil: undefined }),
    channeltype: fc.option(fc.constantFrom('webrtcaudio', 'keyboard'), { nil: undefined }),
    data: fc.tuple(fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 3 })), longText).map(([d, sdp]) => ({
      ...d,
      sdp
    })),
    delivery: fc.option(fc.record({ from: fc.string(), epoch: fc.nat(), seq: fc.nat() }), { nil: undefined })
  })
  .map((f) => JSON.stringify({ msgtype: 'data', ...f }))

/** A valid frame with one character deleted, inserted or replaced: mostly invalid JSON. */
const mutated = fc
  .tuple(
    ordinaryDataFrame,
    fc.nat(),
    fc.constantFrom('delete', 'insert', 'replace'),
    fc.constantFrom(...'{}[]:,"\\ \n\t0123456789-+.eEtrufalsn\u0000\u001fxu\u00e9')
  )
  .map(([text, at, how, ch]) => {
    const i = text.length === 0 ? 0 : at % text.length
    if (how === 'delete') return text.slice(0, i) + text.slice(i + 1)
    if (how === 'insert') return text.slice(0, i) + ch + text.slice(i)
    return text.slice(0, i) + ch + text.slice(i + 1)
  })

describe('readDataEnvelope agrees with parseFrame (fast-check, fixed seeds)', () => {
  it('takes every ordinary data frame, with its sessionid (2,000 cases)', () => {
    fc.assert(
      fc.property(ordinaryDataFrame, (text) => {
        const expected = reference(text)
        expect(expected).not.toBe(FALL_BACK)
        expect(readDataEnvelope(Buffer.from(text))).toStrictEqual(expected)
      }),
      { seed: SEED, numRuns: 2_000 }
    )
  })

  it('frame-shaped text: envelope keys repeated, in any order, any type, escapes and whitespace (6,000 cases)', () => {
    let taken = 0
    fc.assert(
      fc.property(written(envelope), (text) => {
        if (expectAgreement(Buffer.from(text)) !== FALL_BACK) taken++
      }),
      { seed: SEED + 1, numRuns: 6_000 }
    )
    // The generator must reach the fast path's answers, not only its fall-backs.
    expect(taken).toBeGreaterThan(300)
  })

  it('valid frames with one character deleted, inserted or replaced (6,000 cases)', () => {
    fc.assert(
      fc.property(mutated, (text) => {
        expectAgreement(Buffer.from(text))
      }),
      { seed: SEED + 2, numRuns: 6_000 }
    )
  })

  it('with an expected sessionid: the same id, another one, or its UTF-8 bytes as char codes (3,000 cases)', () => {
    fc.assert(
      fc.property(
        ordinaryDataFrame,
        fc.oneof(fc.constant('own'), fc.constant('bytes'), fc.string({ unit: 'grapheme' })),
        (text, pick) => {
          const bytes = Buffer.from(text)
          const own = reference(text)
          const ownId = typeof own === 'string' ? own : ''
          const expected =
            pick === 'own' ? ownId : pick === 'bytes' ? Buffer.from(ownId).toString('latin1') : pick
          expect(readDataEnvelope(bytes, expected)).toStrictEqual(own)
        }
      ),
      { seed: SEED + 4, numRuns: 3_000 }
    )
  })

  it("with a memo of the sender's last envelope: the same answers as without (2,000 sequences)", () => {
    const tail = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }).map((v) => `${JSON.stringify(v)}}`),
      mutated.map((text) => text.slice(text.indexOf('"data":') + 7)),
      fc.string()
    )
    const next = fc.oneof(
      tail.map((t) => ({ tail: t })),
      ordinaryDataFrame.map((whole) => ({ whole })),
      mutated.map((whole) => ({ whole }))
    )
    let resumedAndTaken = 0
    fc.assert(
      fc.property(ordinaryDataFrame, fc.array(next, { maxLength: 6 }), (first, rest) => {
        const memo = new EnvelopeMemo()
        const dataAt = first.indexOf(',"data":')
        const prefix = first.slice(0, dataAt + 8)
        const own = reference(first)
        const expected = typeof own === 'string' ? own : undefined
        for (const text of [first, ...rest.map((r) => ('tail' in r ? prefix + r.tail : r.whole))]) {
          const bytes = Buffer.from(text)
          const memorized = memo.length === Buffer.byteLength(prefix) && text.startsWith(prefix)
          const answer = readDataEnvelope(bytes, expected, MAX_NESTING_DEPTH, memo)
          expect(answer, text).toStrictEqual(readDataEnvelope(bytes, expected))
          if (answer !== FALL_BACK) {
            expect(answer).toStrictEqual(reference(bytes.toString('utf8')))
            if (memorized && text !== first) resumedAndTaken++
          }
        }
      }),
      { seed: SEED + 5, numRuns: 2_000 }
    )
    // The sequences must reach frames answered from a memorized prefix, not only fall-backs.
    expect(resumedAndTaken).toBeGreaterThan(300)
  })

  it('arbitrary text, JSON and bytes (4,000 cases)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.string({ unit: 'binary' }),
          fc.json(),
          fc.jsonValue().map((v) => JSON.stringify({ msgtype: 'data', data: v })),
          fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes).toString('latin1'))
        ),
        (text) => {
          expectAgreement(Buffer.from(text))
        }
      ),
      { seed: SEED + 3, numRuns: 4_000 }
    )
  })
})
