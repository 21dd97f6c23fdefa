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
