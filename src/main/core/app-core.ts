/**
 * The main-side core shared by both hosts (Electron and the browser host): the embedded channel
 * server, the channel clients each renderer drives, and settings. It knows nothing of the transport:
 * a host opens one scope per renderer and routes the contract's commands and events through it.
 */
import {
  type AppInfo,
  type BridgeErrorShape,
  type CommandName,
  type Commands,
  type EventName,
  type Events,
  type HostKind,
  type Outcome,
  type Settings,
  type WindowStatus,
  checkRequest,
  isCommandName
} from '../../shared/contract'
import { randomBytes } from 'node:crypto'
import { serverUrlProblem } from '../../shared/input-rules'
import { type Frame, ResultCode } from '../../shared/protocol'
import { CLIENT_DEFAULTS, ChannelClient, ChannelError } from '../channel/client'
import { LIST_SESSIONS, type PresenceSession } from '../channel/presence'
import { ChannelServer, type ChannelServerOptions } from '../channel/server'
import { HistoryStore } from './history-store'
import { SettingsStore } from './settings-store'

export interface CoreOptions {
  host: HostKind
  version: string
  /** Start the embedded channel server (default) with these options, or false to use `serverUrl`. */
  embeddedServer?: ChannelServerOptions | false
  /** Channel server used by default when not embedded (or to override it). */
  serverUrl?: string
  /** Folder for settings.json; null keeps settings in memory only. */
  dataDir?: string | null
  keepaliveIntervalMs?: number
  platform?: string
  /** The app was started with --strict-kt (AppInfo.strictKt). */
  strictKt?: boolean
  /** What only the host can do (the desktop shell); absent ones answer 501. */
  hooks?: CoreHooks
  /** Operator token of the channel server at `serverUrl` (presence); never handed to a page. */
  operatorToken?: string
}

export interface CoreHooks {
  /** Asks the person, then opens an https link in the system browser. */
  openExternal?: (url: string) => Promise<boolean>
  /** A window's status changed (all windows' statuses, for the tray and notifications). */
  onStatus?: (statuses: WindowStatus[]) => void
}

export type Emit = <E extends EventName>(name: E, payload: Events[E]) => void

/** Limits on what one renderer may hold, so that a runaway page cannot exhaust the main process. */
export const SCOPE_LIMITS = {
  /** Channel connections one page may hold at once. */
  maxConnections: 64
} as const

export class AppCore {
  private server: ChannelServer | null = null
  private readonly scopes = new Set<Scope>()
  readonly settings: SettingsStore
  readonly history: HistoryStore
  private infoCache: AppInfo | null = null

  private constructor(private readonly options: CoreOptions) {
    this.settings = new SettingsStore(options.dataDir ?? null)
    this.history = new HistoryStore(options.dataDir ?? null)
  }

  static async start(options: CoreOptions): Promise<AppCore> {
    // A configured server URL (--server) follows the rule every other entry follows.
    const problem = options.serverUrl ? serverUrlProblem(options.serverUrl) : null
    if (problem) throw new Error(problem)
    const core = new AppCore(options)
    await core.settings.load()
    if (options.embeddedServer !== false) {
      // The app's own console is an operator of its own server: a token made up for this run,
      // kept in main (see operatorTokenFor), so presence is never open to anyone else.
      core.server = new ChannelServer({
        operatorToken: randomBytes(24).toString('base64url'),
        ...(options.embeddedServer ?? {})
      })
      await core.server.listen()
    } else if (!options.serverUrl) {
      throw new Error('no channel server: either embed one or give serverUrl')
    }
    return core
  }

  get embeddedServer(): ChannelServer | null {
    return this.server
  }

  info(): AppInfo {
    if (this.infoCache) return this.infoCache
    const channelUrl = this.server?.url ?? null
    this.infoCache = {
      version: this.options.version,
      host: this.options.host,
      channelUrl,
      defaultServerUrl: this.options.serverUrl ?? channelUrl ?? '',
      keepaliveIntervalMs: this.options.keepaliveIntervalMs ?? CLIENT_DEFAULTS.keepaliveIntervalMs,
      idleTimeoutMs: this.server?.limits.idleTimeoutMs ?? 70_000,
      platform: this.options.platform ?? process.platform,
      strictKt: this.options.strictKt === true
    }
    return this.infoCache
  }

  /** One renderer's view of the core; disposing it closes everything that renderer opened. */
  openScope(emit: Emit): Scope {
    const scope = new Scope(this, emit, () => this.scopes.delete(scope))
    this.scopes.add(scope)
    return scope
  }

  broadcast<E extends EventName>(name: E, payload: Events[E]): void {
    for (const scope of this.scopes) scope.emit(name, payload)
  }

  get scopeCount(): number {
    return this.scopes.size
  }

  /** The operator token for a channel server URL: the embedded server's own, or the configured one. */
  operatorTokenFor(url: string): string | null {
    if (this.server && url === this.server.url) return this.server.operatorToken
    return url === this.options.serverUrl ? (this.options.operatorToken ?? null) : null
  }

  get hooks(): CoreHooks {
    return this.options.hooks ?? {}
  }

  /** Every open window's last reported status. */
  statuses(): WindowStatus[] {
    return [...this.scopes].map((s) => s.status)
  }

  async stop(): Promise<void> {
    for (const scope of [...this.scopes]) scope.dispose()
    await this.server?.close()
    this.server = null
  }
}

type Handler<C extends CommandName> = (
  req: Commands[C]['req']
) => Promise<Commands[C]['res']> | Commands[C]['res']

export class Scope {
  private readonly clients = new Map<string, ChannelClient>()
  /** The server each connection is for (its operator token is looked up by it). */
  private readonly urls = new WeakMap<ChannelClient, string>()
  private disposed = false
  status: WindowStatus = { liveCalls: 0, joinedWebClients: 0, transmitting: false }
  private readonly handlers: { [C in CommandName]: Handler<C> }

  constructor(
    private readonly core: AppCore,
    private readonly emitter: Emit,
    private readonly onDispose: () => void
  ) {
    this.handlers = {
      'app:info': () => this.core.info(),
      'app:diagnostics': () => {
        const server = this.core.embeddedServer
        let handles = 0
        for (const c of this.clients.values()) handles += c.activeHandles
        return {
          windowConnections: this.clients.size,
          windowHandles: handles,
          serverConnections: server ? server.connectionCount : null,
          serverSessions: server ? server.sessionCount : null
        }
      },
      'channel:connect': (req) => this.connect(req),
      'channel:disconnect': (req) => this.disconnect(req.connectionId),
      'channel:create': async (req) => {
        const { sessionid, channeltype } = req
        const id = await this.client(req).createSession({
          ...(sessionid ? { sessionid } : {}),
          ...(channeltype ? { channeltype } : {})
        })
        return { sessionid: id }
      },
      'channel:join': (req) => this.client(req).joinSession(req.sessionid),
      'channel:destroy': (req) => this.client(req).destroySession(req.sessionid),
      'channel:send': (req) => this.client(req).sendData(req.sessionid, req.data),
      'channel:keepalive': async (req) => ({ reply: await this.client(req).keepalive() }),
      'presence:list': (req) => this.listSessions(req),
      'shell:openExternal': async (req) => {
        const open = this.core.hooks.openExternal
        if (!open)
          throw new ChannelError(
            ResultCode.NOT_SUPPORTED,
            'opening links is available in the desktop app only'
          )
        return { opened: await open(req.url) }
      },
      'app:reportStatus': (req) => {
        this.status = req
        this.core.hooks.onStatus?.(this.core.statuses())
      },
      'history:list': () => this.core.history.list(),
      'history:add': async (req) => {
        try {
          await this.core.history.add(req)
        } catch (e) {
          throw badRequest(e instanceof Error ? e.message : String(e))
        }
      },
      'history:clear': () => this.core.history.clear(),
      'settings:get': () => this.core.settings.get(),
      'settings:set': async (req) => {
        const settings: Settings = await this.core.settings.update(req)
        this.core.broadcast('settings:changed', settings)
        return settings
      }
    }
  }

  emit<E extends EventName>(name: E, payload: Events[E]): void {
    if (!this.disposed) this.emitter(name, payload)
  }

  /** Runs one command from the renderer; never throws: failures come back with a result code. */
  async handle(name: unknown, req: unknown): Promise<Outcome<unknown>> {
    try {
      if (this.disposed) throw new ChannelError(ResultCode.SYSTEM_ERROR, 'this window is closing')
      if (!isCommandName(name))
        throw new ChannelError(ResultCode.NOT_SUPPORTED, `unknown command "${String(name)}"`)
      // Both hosts come through here: each request is checked against its command's schema.
      const checked = checkRequest(name, req)
      if (!checked.ok) throw badRequest(checked.message)
      const handler = this.handlers[name] as (r: unknown) => unknown
      return { ok: true, value: await handler(checked.value) }
    } catch (e) {
      return { ok: false, error: toErrorShape(e) }
    }
  }

  get connectionIds(): string[] {
    return [...this.clients.keys()]
  }

  dispose(): void {
    if (this.disposed) return
    this.disposed = true
    for (const client of this.clients.values()) client.dispose()
    this.clients.clear()
    this.onDispose()
    this.core.hooks.onStatus?.(this.core.statuses())
  }

  private async connect(req: Commands['channel:connect']['req']): Promise<void> {
    const { connectionId, uuid } = req
    const url = req.url || this.core.info().defaultServerUrl
    this.disconnect(connectionId)
    if (this.clients.size >= SCOPE_LIMITS.maxConnections) {
      throw new ChannelError(
        ResultCode.CONFLICT,
        `at most ${SCOPE_LIMITS.maxConnections} connections per window`
      )
    }
    const channeltype = req.channeltype
    const embedded = this.core.embeddedServer
    const client = new ChannelClient({
      url,
      uuid,
      ...(channeltype ? { channeltype } : {}),
      // The app's own server is reached in process: the same WebSocket, without loopback TCP.
      ...(embedded && url === embedded.url ? { connect: () => embedded.connectInProcess() } : {}),
      // 0: none of its own (strict KT mode, where the service app keeps its channel alive).
      keepaliveIntervalMs: req.keepalive === false ? 0 : this.core.info().keepaliveIntervalMs
    })
    this.clients.set(connectionId, client)
    this.urls.set(client, url)
    client.on('state', (state, detail) =>
      this.emit('channel:state', { connectionId, state, ...(detail !== undefined ? { detail } : {}) })
    )
    client.on('frame', (frame) =>
      this.emit('channel:frame', { connectionId, direction: 'in', frame, at: Date.now() })
    )
    client.on('sent', (frame) =>
      this.emit('channel:frame', { connectionId, direction: 'out', frame: redacted(frame), at: Date.now() })
    )
    client.on('sessionRestored', (sessionid) =>
      this.emit('channel:session', { connectionId, sessionid, kind: 'restored' })
    )
    client.on('sessionLost', (sessionid, reason) =>
      this.emit('channel:session', { connectionId, sessionid, kind: 'lost', reason })
    )
    client.on('expired', (lost) => {
      const bySession = new Map<string | null, number>()
      for (const f of lost) bySession.set(f.sessionid ?? null, (bySession.get(f.sessionid ?? null) ?? 0) + 1)
      for (const [sessionid, count] of bySession)
        this.emit('channel:notice', { connectionId, sessionid, kind: 'expired', count })
    })
    client.on('dropped', (sessionid, count) =>
      this.emit('channel:notice', { connectionId, sessionid, kind: 'dropped', count })
    )
    client.on('missed', (sessionid, count) =>
      this.emit('channel:notice', { connectionId, sessionid, kind: 'missed', count })
    )
    client.on('refused', (_reason, sessionid) =>
      this.emit('channel:notice', { connectionId, sessionid, kind: 'refused', count: 1 })
    )
    client.on('error', () => undefined) // surfaced through state events and rejected requests
    try {
      await client.connect()
    } catch (e) {
      if (this.clients.get(connectionId) === client) this.clients.delete(connectionId)
      client.dispose()
      throw e
    }
  }

  /** Presence: the live sessions of the connection's server, with its operator token added here. */
  private async listSessions(req: unknown): Promise<{ sessions: PresenceSession[] }> {
    const client = this.client(req as { connectionId: string })
    const token = this.core.operatorTokenFor(this.urls.get(client) ?? '')
    const reply = await client.request({
      msgtype: 'request',
      operation: LIST_SESSIONS,
      channeltype: 'system',
      subscribe: (req as { subscribe?: unknown }).subscribe === true,
      ...(token ? { operator_token: token } : {})
    })
    const sessions = Array.isArray(reply['sessions']) ? (reply['sessions'] as PresenceSession[]) : []
    return {
      sessions: sessions
        .filter((s) => typeof s?.sessionid === 'string' && typeof s.uuid === 'string')
        .map((s) => ({
          sessionid: s.sessionid,
          uuid: s.uuid,
          channeltype: String(s.channeltype ?? ''),
          members: Number(s.members) || 0
        }))
    }
  }

  private disconnect(connectionId: string): void {
    const client = this.clients.get(connectionId)
    if (!client) return
    this.clients.delete(connectionId)
    client.dispose()
    this.emit('channel:state', { connectionId, state: 'closed', detail: 'disconnected' })
  }

  private client({ connectionId }: { connectionId: string }): ChannelClient {
    const client = this.clients.get(connectionId)
    if (!client)
      throw new ChannelError(ResultCode.NOT_FOUND, `no connection "${connectionId}": connect first`)
    return client
  }
}

/** A sent frame as the page may see it: an operator token never leaves the main process. */
function redacted(frame: Frame): Frame {
  return 'operator_token' in frame ? { ...frame, operator_token: '(hidden)' } : frame
}

function badRequest(message: string): ChannelError {
  return new ChannelError(ResultCode.BAD_REQUEST, message)
}

function toErrorShape(e: unknown): BridgeErrorShape {
  if (e instanceof ChannelError) return { result_cd: e.result_cd, message: e.result_msg }
  return { result_cd: ResultCode.SYSTEM_ERROR, message: e instanceof Error ? e.message : String(e) }
}
