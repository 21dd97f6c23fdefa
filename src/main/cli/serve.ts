/**
 * Headless channel server: `npm run serve -- --host 127.0.0.1 --port 8787 [options]`.
 * Prints `channel server listening on ws://HOST:PORT/channel` first, then who may connect;
 * Ctrl-C stops it cleanly. `--help` lists the options.
 */
import { readFileSync } from 'node:fs'
import { ChannelServer } from '../channel/server'
import { DEFAULT_LIMITS, type ServerLimits } from '../channel/limits'
import { lastArg, parseArgs, portArg } from './args'

export const DEFAULT_SERVE_PORT = 8787
/** Read when --token is not given, so that the token need not appear in the process list. */
export const TOKEN_ENV = 'GENIE_BRIDGE_TOKEN'
/** Read when --operator-token is not given, for the same reason. */
export const OPERATOR_TOKEN_ENV = 'GENIE_BRIDGE_OPERATOR_TOKEN'

const USAGE = `usage: npm run serve -- [options]
  --host ADDRESS         interface to bind (default 127.0.0.1; beyond loopback a token or
                         --allow-uuid is required, and one is made up and printed if neither is given)
  --port N               port (default ${DEFAULT_SERVE_PORT}; 0 picks a free one)
  --token TOKEN          access token clients present at upgrade: ?token=TOKEN in the URL or
                         Authorization: Bearer TOKEN (also read from $${TOKEN_ENV})
  --operator-token TOKEN operator connections present it in list_sessions to list and follow the
                         live sessions (presence; also read from $${OPERATOR_TOKEN_ENV}; default: nobody may)
  --allow-origin ORIGIN  only pages from this origin may connect (repeatable or comma-separated;
                         default: any origin)
  --allow-uuid UUID      only this uuid may authenticate (repeatable or comma-separated)
  --tls-cert FILE        serve wss:// with this PEM certificate (chain); needs --tls-key
  --tls-key FILE         the PEM private key of --tls-cert
  --open-access          beyond loopback, accept anyone without a token or uuid allowlist
  --limit-loopback       apply the per-address caps to loopback clients too
  --limit NAME=VALUE     override a limit (repeatable): ${Object.keys(DEFAULT_LIMITS).join(', ')}`

const KNOWN = new Set([
  'help',
  'host',
  'port',
  'limit',
  'token',
  'operator-token',
  'allow-origin',
  'allow-uuid',
  'tls-cert',
  'tls-key',
  'open-access',
  'limit-loopback'
])

function limitOverrides(values: string[]): Partial<ServerLimits> {
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

/** Every value of a repeatable option, commas also separating values. */
function listArg(args: Map<string, string[]>, name: string): string[] {
  const values = (args.get(name) ?? []).flatMap((v) => v.split(',')).map((v) => v.trim())
  if (values.some((v) => v === '' || v === 'true')) throw new Error(`--${name} needs a value`)
  return values
}

function flagArg(args: Map<string, string[]>, name: string): boolean {
  const v = lastArg(args, name)
  if (v === undefined) return false
  if (v !== 'true') throw new Error(`--${name} takes no value, got "${v}"`)
  return true
}

function readPem(args: Map<string, string[]>, name: string): Buffer | undefined {
  const file = lastArg(args, name)
  if (file === undefined) return undefined
  if (file === 'true') throw new Error(`--${name} needs a file name`)
  try {
    return readFileSync(file)
  } catch (e) {
    throw new Error(`cannot read --${name} ${file}: ${e instanceof Error ? e.message : String(e)}`)
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  if (args.has('help')) {
    console.log(USAGE)
    return
  }
  const unknown = [...args.keys()].filter((name) => !KNOWN.has(name))
  if (unknown.length) throw new Error(`unknown option --${unknown[0]} (see --help)`)
  const token = lastArg(args, 'token') ?? process.env[TOKEN_ENV] ?? null
  if (token === 'true') throw new Error('--token needs a value')
  const operatorToken = lastArg(args, 'operator-token') ?? process.env[OPERATOR_TOKEN_ENV] ?? null
  if (operatorToken === 'true') throw new Error('--operator-token needs a value')
  const cert = readPem(args, 'tls-cert')
  const key = readPem(args, 'tls-key')
  if ((cert === undefined) !== (key === undefined)) {
    throw new Error('TLS needs both --tls-cert and --tls-key')
  }
  const server = new ChannelServer({
    host: lastArg(args, 'host') ?? '127.0.0.1',
    port: portArg(args, 'port', DEFAULT_SERVE_PORT),
    limits: limitOverrides(args.get('limit') ?? []),
    token: token === '' ? null : token,
    operatorToken: operatorToken === '' ? null : operatorToken,
    allowOrigins: listArg(args, 'allow-origin'),
    allowUuids: listArg(args, 'allow-uuid'),
    openAccess: flagArg(args, 'open-access'),
    limitLoopback: flagArg(args, 'limit-loopback'),
    ...(cert && key ? { tls: { cert, key } } : {})
  })
  const url = await server.listen()
  console.log(`channel server listening on ${url}`)
  for (const line of server.accessNotice()) console.log(line)
  if (operatorToken) console.log('presence: operator connections list sessions with the operator token')
  let stopping = false
  const stop = (): void => {
    if (stopping) return
    stopping = true
    void server.close().then(() => process.exit(0))
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
}

main().catch((e: unknown) => {
  console.error(`channel server could not start: ${e instanceof Error ? e.message : String(e)}`)
  process.exit(1)
})
