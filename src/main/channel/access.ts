/**
 * Who may connect, decided from the HTTP upgrade request alone (and, for the uuid allowlist, at
 * auth): the access token, the origin and uuid allowlists, and the per-address caps. A refused
 * client never gets a WebSocket; the answer is a plain HTTP status.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { ServerLimits } from './limits'

export interface AccessOptions {
  /** The bind address: beyond loopback, a server without token or uuid allowlist makes up a token. */
  host: string
  token?: string | null | undefined
  allowOrigins?: readonly string[] | undefined
  allowUuids?: readonly string[] | undefined
  openAccess?: boolean | undefined
  limitLoopback?: boolean | undefined
  /** Null or empty: any path. */
  paths?: readonly string[] | undefined
}

export interface AddressEntry {
  key: string
  open: number
  handshakes: number
}

/** Why an upgrade is refused: an HTTP status, its text and any extra header lines. */
export interface Refusal {
  status: number
  text: string
  /** Why, for the log (never the URL: it may carry the token). */
  reason: string
  headers?: string
}

export class AccessControl {
  readonly token: string | null
  readonly tokenGenerated: boolean
  private readonly tokenDigest: Buffer | null
  private readonly allowOrigins: ReadonlySet<string> | null
  private readonly allowUuids: ReadonlySet<string> | null
  private readonly paths: ReadonlySet<string> | null
  private readonly limitLoopback: boolean
  private readonly host: string
  private readonly addresses = new Map<string, AddressEntry>()

  constructor(
    options: AccessOptions,
    private readonly limits: ServerLimits
  ) {
    this.host = options.host
    this.limitLoopback = options.limitLoopback ?? false
    this.paths = options.paths?.length ? new Set(options.paths) : null
    this.allowOrigins = options.allowOrigins?.length
      ? new Set(options.allowOrigins.map(normalizeOrigin))
      : null
    this.allowUuids = options.allowUuids?.length ? new Set(options.allowUuids.map(checkUuidEntry)) : null
    let token = options.token ?? null
    if (token !== null) checkToken(token)
    // A server reachable from other machines must not be open to anyone by accident.
    this.tokenGenerated =
      token === null && this.allowUuids === null && !options.openAccess && !isLoopbackHost(this.host)
    if (this.tokenGenerated) token = randomBytes(24).toString('base64url')
    this.token = token
    this.tokenDigest = token === null ? null : digest(token)
  }

  /**
   * The checks of an upgrade, in order: handshake rate (429), path (404), `openSockets` over
   * maxConnections (503), per-address connections (429), origin (403), access token (401).
   * A refused attempt still counts against the handshake rate, which bounds token guessing.
   */
  checkUpgrade(req: IncomingMessage, openSockets: number, shuttingDown: boolean): Refusal | null {
    const entry = this.addressEntry(req)
    if (entry !== null && ++entry.handshakes > this.limits.handshakesPerIpPerWindow) {
      return {
        status: 429,
        text: 'Too Many Requests',
        reason: 'handshake rate',
        headers: 'Retry-After: 1\r\n'
      }
    }
    const target = req.url ?? '/'
    const q = target.indexOf('?')
    const path = q < 0 ? target : target.slice(0, q)
    if (this.paths !== null && !this.paths.has(path))
      return { status: 404, text: 'Not Found', reason: 'unknown path' }
    if (shuttingDown) {
      return {
        status: 503,
        text: 'Service Unavailable',
        reason: 'shutting down',
        headers: 'Retry-After: 1\r\n'
      }
    }
    if (openSockets >= this.limits.maxConnections) {
      return {
        status: 503,
        text: 'Service Unavailable',
        reason: 'maxConnections',
        headers: 'Retry-After: 5\r\n'
      }
    }
    if (entry !== null && entry.open >= this.limits.maxConnectionsPerIp) {
      return {
        status: 429,
        text: 'Too Many Requests',
        reason: 'maxConnectionsPerIp',
        headers: 'Retry-After: 5\r\n'
      }
    }
    if (this.allowOrigins !== null) {
      const origin = req.headers.origin
      if (origin !== undefined && !this.allowOrigins.has(origin.toLowerCase())) {
        return { status: 403, text: 'Forbidden', reason: 'origin not allowed' }
      }
    }
    if (!this.presentsToken(req)) {
      return {
        status: 401,
        text: 'Unauthorized',
        reason: 'no valid token',
        headers: 'WWW-Authenticate: Bearer\r\n'
      }
    }
    return null
  }

  /** The request presents the access token (or the server has none): also what GET /metrics needs. */
  presentsToken(req: IncomingMessage): boolean {
    if (this.tokenDigest === null) return true
    const target = req.url ?? '/'
    const q = target.indexOf('?')
    return this.tokenMatches(req, q < 0 ? '' : target.slice(q + 1))
  }

  /** The per-address counters of a client, or null for an exempt (loopback) one. */
  addressEntry(req: IncomingMessage): AddressEntry | null {
    const remote = req.socket.remoteAddress
    if (!this.limitLoopback && isLoopbackHost(remote ?? '')) return null
    const key = addressKey(remote)
    let entry = this.addresses.get(key)
    if (!entry) {
      entry = { key, open: 0, handshakes: 0 }
      this.addresses.set(key, entry)
    }
    return entry
  }

  /** A socket counted against `entry` is really closed. */
  released(entry: AddressEntry | null): void {
    if (entry !== null && --entry.open <= 0 && entry.handshakes === 0) {
      if (this.addresses.get(entry.key) === entry) this.addresses.delete(entry.key)
    }
  }

  /** A new rate window: handshake counts start again, and addresses with nothing open are forgotten. */
  newWindow(): void {
    for (const [key, entry] of this.addresses) {
      entry.handshakes = 0
      if (entry.open <= 0) this.addresses.delete(key)
    }
  }

  get trackedAddresses(): number {
    return this.addresses.size
  }

  uuidAllowed(uuid: string): boolean {
    return this.allowUuids === null || this.allowUuids.has(uuid)
  }

  /** Lines that say who may connect, for a person starting the server; `url` once listening. */
  notice(url: string | null): string[] {
    const lines: string[] = []
    if (this.token !== null) {
      // A token given to the server is not echoed (this output may land in a journal); only one
      // made up here is shown, since nobody could connect otherwise.
      const shown = this.tokenGenerated ? encodeURIComponent(this.token) : '<token>'
      const where = url ? `${url}?token=${shown}` : '?token='
      lines.push(
        this.tokenGenerated
          ? `access token required (bound beyond loopback with neither a token nor a uuid allowlist, so one was made up): ${this.token}`
          : 'access token required',
        `  clients connect to ${where} or send the header Authorization: Bearer <token>`
      )
    }
    if (this.allowUuids) lines.push(`uuids allowed: ${[...this.allowUuids].join(', ')}`)
    if (this.allowOrigins) lines.push(`origins allowed: ${[...this.allowOrigins].join(', ')}`)
    if (this.token === null && this.allowUuids === null) {
      lines.push(
        isLoopbackHost(this.host)
          ? 'access: open to clients on this machine (loopback)'
          : 'access: open to anyone who can reach this address (--open-access)'
      )
    }
    return lines
  }

  private tokenMatches(req: IncomingMessage, query: string): boolean {
    const expected = this.tokenDigest as Buffer
    const header = req.headers.authorization
    if (header !== undefined) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(header)
      if (m && timingSafeEqual(digest(m[1]!), expected)) return true
    }
    if (query.length > 0) {
      const given = new URLSearchParams(query).get('token')
      if (given !== null && timingSafeEqual(digest(given), expected)) return true
    }
    return false
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest()
}

/** True for a bind address that only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase()
  return (
    h === 'localhost' ||
    h === '::1' ||
    h === '[::1]' ||
    /^127\.\d+\.\d+\.\d+$/.test(h) ||
    /^::ffff:127\./.test(h)
  )
}

/**
 * The key per-address limits count by: the IPv4 address (also when mapped into IPv6), or the
 * /64 prefix of an IPv6 address, since one IPv6 host usually owns a whole /64.
 */
export function addressKey(address: string | undefined): string {
  if (!address) return 'unknown'
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped) return mapped[1]!
  if (!address.includes(':')) return address
  const bare = address.split('%')[0]!.toLowerCase()
  const halves = bare.split('::')
  const head = halves[0] ? halves[0].split(':') : []
  const tail = halves.length > 1 && halves[1] ? halves[1].split(':') : []
  const groups =
    halves.length > 1
      ? [...head, ...new Array<string>(Math.max(0, 8 - head.length - tail.length)).fill('0'), ...tail]
      : head
  return `${groups
    .slice(0, 4)
    .map((g) => (/^[0-9a-f]{1,4}$/.test(g) ? parseInt(g, 16).toString(16) : '0'))
    .join(':')}::/64`
}

function normalizeOrigin(origin: string): string {
  const o = String(origin).trim().toLowerCase()
  if (o === 'null') return o
  let url: URL
  try {
    url = new URL(o)
  } catch {
    throw new RangeError(`allowed origin "${origin}" is not an origin like https://example.com`)
  }
  if (url.origin === 'null' || (url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) {
    throw new RangeError(`allowed origin "${origin}" is not an origin like https://example.com`)
  }
  return url.origin
}

function checkUuidEntry(uuid: string): string {
  if (typeof uuid !== 'string' || uuid.length === 0) throw new RangeError('an allowed uuid must not be empty')
  return uuid
}

function checkToken(token: string): void {
  if (typeof token !== 'string' || token.length < 16 || token.length > 512 || !/^[\x21-\x7e]+$/.test(token)) {
    throw new RangeError(
      'the access token must be 16 to 512 printable ASCII characters without spaces (e.g. `openssl rand -base64 24`)'
    )
  }
}
