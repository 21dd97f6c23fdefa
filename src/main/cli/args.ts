/**
 * Command-line parsing for the command-line entries: node:util's parseArgs, strict (an unknown
 * option, a stray argument or a missing value is an error), with messages a person can act on.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util'
import { LOG_LEVELS, type LogLevel, isLogLevel } from '../log'

export type OptionsConfig = NonNullable<ParseArgsConfig['options']>

/** The parsed values of `options`, typed by their declaration. */
export type Values<O extends OptionsConfig> = ReturnType<
  typeof parseArgs<{ options: O; strict: true }>
>['values']

/** Parses `argv` (without node and the script) against `options`; throws an Error saying what to fix. */
export function parseCommandLine<O extends OptionsConfig>(argv: readonly string[], options: O): Values<O> {
  try {
    return parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values as Values<O>
  } catch (e) {
    throw new Error(friendlyParseError(e, argv, options))
  }
}

/**
 * Typed text as a message echoes it: JSON-quoted, so that a line break or an escape sequence in
 * it stays visible and the message stays one line.
 */
export function quoted(text: string): string {
  return JSON.stringify(text)
}

/** An option or argument as typed: bare when nothing in it can be misread, else quoted. */
function shown(text: string): string {
  return /^[\w.,:/@+=%~-]+$/.test(text) ? text : quoted(text)
}

type Token = NonNullable<ReturnType<typeof parseArgs>['tokens']>[number]
type OptionToken = Extract<Token, { kind: 'option' }>

/**
 * node:util's error, reworded into one line with a pointer to --help. Its error carries only a
 * code, and its message quotes the culprit unescaped, so the culprit is found again among the
 * parser's tokens: the first token failing the check the code names (the strict parse stops at
 * the first failing token, so none before it fails any check).
 */
function friendlyParseError(e: unknown, argv: readonly string[], options: OptionsConfig): string {
  const code = (e as { code?: unknown }).code
  let tokens: Token[] = []
  try {
    tokens = parseArgs({
      args: [...argv],
      options,
      strict: false,
      allowPositionals: true,
      tokens: true
    }).tokens
  } catch {
    // Left empty: the fallback below words the message.
  }
  const isOption = (t: Token): t is OptionToken => t.kind === 'option'
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      const t = tokens.filter(isOption).find((o) => !Object.hasOwn(options, o.name))
      if (t) return `unknown option ${unknownOption(t, tokens, argv)} (see --help)`
      break
    }
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL': {
      const at = tokens.findIndex((o) => o.kind === 'positional')
      const t = tokens[at]
      if (t?.kind !== 'positional') break
      // A - inside a short group (-h-x) is read as --, so the rest comes out as stray arguments
      // that were never typed: the - is what to name.
      const end = tokens.slice(0, at).findLast((o) => o.kind === 'option-terminator')
      const group = argv[t.index] === t.value || end === undefined ? undefined : argv[end.index]
      if (group !== undefined && group !== t.value) return `unknown option -- in ${shown(group)} (see --help)`
      return `unexpected argument ${shown(t.value)}: options start with -- (see --help)`
    }
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      for (const t of tokens.filter(isOption)) {
        const type = Object.hasOwn(options, t.name) ? options[t.name]!.type : undefined
        if (type === 'boolean' && t.value !== undefined) return `--${t.name} takes no value`
        // A value starting with - that was not given as --name=value is taken for a forgotten one.
        const optionLike = !t.inlineValue && t.value !== undefined && t.value.length > 1 && t.value[0] === '-'
        if (type === 'string' && (t.value === undefined || optionLike)) return `--${t.name} needs a value`
      }
      break
    }
  }
  // Not one of the above (or not found again): node:util's own words, kept to one line.
  const message = String((e as { message?: unknown }).message ?? e)
  return `${quoted(message).slice(1, -1)} (see --help)`
}

/**
 * An unknown option as typed. A short one inside a group (-hx) is named with its group; the
 * parser splits a group by UTF-16 unit, so a character beyond the BMP is put back together.
 */
function unknownOption(t: OptionToken, tokens: readonly Token[], argv: readonly string[]): string {
  const arg = argv[t.index] ?? t.rawName
  // `--==` is read as the name "" with the value "=": named whole, not as "--".
  if (t.rawName === '--') return shown(arg)
  if (t.rawName.startsWith('--') || arg === t.rawName) return shown(t.rawName)
  // The group's tokens come in order, one per unit after the leading -.
  let at = 1 + tokens.slice(0, tokens.indexOf(t)).filter((o) => o.index === t.index).length
  if (at > 1 && isLow(arg.charCodeAt(at)) && isHigh(arg.charCodeAt(at - 1))) at -= 1
  const point = arg.codePointAt(at)
  if (point === undefined) return shown(t.rawName)
  const option = `-${String.fromCodePoint(point)}`
  return option === arg ? shown(option) : `${shown(option)} in ${shown(arg)}`
}

function isHigh(unit: number): boolean {
  return unit >= 0xd800 && unit <= 0xdbff
}

function isLow(unit: number): boolean {
  return unit >= 0xdc00 && unit <= 0xdfff
}

/** The last of a repeated option (or the only one). */
export function last(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.at(-1) : value
}

/** Every value of a repeatable option, commas also separating values. */
export function list(name: string, values: readonly string[] | undefined): string[] {
  const out = (values ?? []).flatMap((v) => v.split(',')).map((v) => v.trim())
  if (out.some((v) => v === '')) throw new Error(`--${name} needs a value`)
  return out
}

/** Reads a log level; throws naming the levels when it is not one. */
export function logLevelArg(raw: string): LogLevel {
  if (!isLogLevel(raw))
    throw new Error(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got ${quoted(raw)}`)
  return raw
}

/** Reads a port number; throws with a message a person can act on when it is not one. */
export function portArg(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback
  const port = Number(raw)
  if (raw.trim() === '' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(
      `--${name} must be a whole number from 0 to 65535 (0 picks a free port), got ${quoted(raw)}`
    )
  }
  return port
}

/** A set of named limits as a `--flag name=value` sets them: its defaults name them all. */
export interface LimitFamily<L extends { [K in keyof L]: number }> {
  defaults: Readonly<L>
  /** What is wrong with `value` for `name`, or null (limits.ts: limitProblem). */
  problem(name: keyof L & string, value: number | string): string | null
}

/**
 * `--flag name=value` pairs (repeatable; the last of a name wins) as overrides of `family`, each
 * value checked by the family's own rule; throws naming the flag, and the names it knows.
 */
export function limitArgs<L extends { [K in keyof L]: number }>(
  flag: string,
  values: readonly string[],
  family: LimitFamily<L>
): Partial<L> {
  const out: Partial<L> = {}
  for (const pair of values) {
    const eq = pair.indexOf('=')
    const name = eq < 0 ? pair : pair.slice(0, eq)
    const raw = eq < 0 ? '' : pair.slice(eq + 1).trim()
    if (!Object.hasOwn(family.defaults, name) || raw === '') {
      throw new Error(
        `--${flag} takes name=value with name one of: ${Object.keys(family.defaults).join(', ')}`
      )
    }
    const key = name as keyof L & string
    const value = Number(raw)
    // Not a number at all: the message quotes what was typed rather than NaN.
    const problem = family.problem(key, Number.isNaN(value) ? raw : value)
    if (problem !== null) throw new RangeError(`--${flag} ${name} ${problem}`)
    out[key] = value as L[keyof L & string]
  }
  return out
}
