/**
 * Command-line parsing for the command-line entries: node:util's parseArgs, strict (an unknown
 * option, a stray argument or a missing value is an error), with messages a person can act on.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util'

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
    throw new Error(friendlyParseError(e))
  }
}

/** node:util's messages, reworded into one line with a pointer to --help. */
function friendlyParseError(e: unknown): string {
  const err = e as { code?: string; message?: string }
  const message = String(err.message ?? e)
  const option = /'(--?[^' <]+)/.exec(message)?.[1]
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${option ?? message} (see --help)`
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument ${/'([^']*)'/.exec(message)?.[1] ?? ''}: options start with -- (see --help)`
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (/does not take an argument/.test(message)) return `${option} takes no value`
      return `${option} needs a value`
    default:
      return message
  }
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

/** Reads a port number; throws with a message a person can act on when it is not one. */
export function portArg(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback
  const port = Number(raw)
  if (raw.trim() === '' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`--${name} must be a whole number from 0 to 65535 (0 picks a free port), got "${raw}"`)
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
