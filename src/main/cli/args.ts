import { DEFAULT_LIMITS, type ServerLimits } from '../channel/limits'

/** Tiny `--name value` / `--name=value` / `--flag` parser for the command-line entries. */
export function parseArgs(argv: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (!arg.startsWith('--')) continue
    let name = arg.slice(2)
    let value = 'true'
    const eq = name.indexOf('=')
    if (eq >= 0) {
      value = name.slice(eq + 1)
      name = name.slice(0, eq)
    } else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) {
      value = argv[++i]!
    }
    out.set(name, [...(out.get(name) ?? []), value])
  }
  return out
}

export function lastArg(args: Map<string, string[]>, name: string): string | undefined {
  return args.get(name)?.at(-1)
}

/** Reads a port number; exits with a message a person can act on when it is not one. */
export function portArg(args: Map<string, string[]>, name: string, fallback: number): number {
  const raw = lastArg(args, name)
  if (raw === undefined) return fallback
  const port = Number(raw)
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`--${name} must be a whole number from 0 to 65535 (0 picks a free port), got "${raw}"`)
  }
  return port
}

/** `--limit name=value` pairs as channel server limit overrides. */
export function limitOverrides(values: string[]): Partial<ServerLimits> {
  const out: Partial<ServerLimits> = {}
  for (const pair of values) {
    const eq = pair.indexOf('=')
    const name = eq < 0 ? pair : pair.slice(0, eq)
    const raw = eq < 0 ? '' : pair.slice(eq + 1).trim()
    if (!(name in DEFAULT_LIMITS) || raw === '') {
      throw new Error(`--limit takes name=value with name one of: ${Object.keys(DEFAULT_LIMITS).join(', ')}`)
    }
    const value = Number(raw)
    if (!Number.isFinite(value) || value < 0) {
      throw new Error(`--limit ${name} must be a non-negative number, got "${raw}"`)
    }
    out[name as keyof ServerLimits] = value
  }
  return out
}
