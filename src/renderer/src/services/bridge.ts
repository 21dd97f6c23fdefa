/**
 * The one place that talks to the host. In the Electron app the preload's `window.api` carries
 * the contract over IPC; in the browser host the same contract travels over a WebSocket (/bridge).
 * Only Pinia stores use this service; components never do.
 */
import {
  type Api,
  BridgeError,
  type BridgeClientMessage,
  type BridgeHostMessage,
  type CommandName,
  type Commands,
  type EventName,
  type Events,
  type Outcome,
  commandMethod,
  eventMethod
} from '@shared/contract'

export interface Transport {
  call(name: CommandName, req: unknown): Promise<Outcome<unknown>>
  subscribe(name: EventName, handler: (payload: unknown) => void): () => void
}

export class IpcTransport implements Transport {
  constructor(private readonly api: Api) {}
  call(name: CommandName, req: unknown): Promise<Outcome<unknown>> {
    const fn = (this.api as unknown as Record<string, (r?: unknown) => Promise<Outcome<unknown>>>)[
      commandMethod(name)
    ]
    if (!fn) return Promise.resolve({ ok: false, error: { result_cd: 501, message: `no command ${name}` } })
    return fn(req)
  }
  subscribe(name: EventName, handler: (payload: unknown) => void): () => void {
    const fn = (this.api as unknown as Record<string, (h: (p: unknown) => void) => () => void>)[
      eventMethod(name)
    ]
    return fn ? fn(handler) : () => undefined
  }
}

/** Bridge over the browser host's WebSocket; calls made before it opens wait for it. */
export class SocketTransport implements Transport {
  private ws: WebSocket
  private nextId = 1
  private readonly pending = new Map<number, (o: Outcome<unknown>) => void>()
  private readonly handlers = new Map<string, Set<(p: unknown) => void>>()
  private readonly opened: Promise<boolean>
  /** Why the host closed this page's bridge (e.g. it did not read its messages), for the person. */
  private closeReason = ''

  constructor(url: string) {
    this.ws = new WebSocket(url)
    this.opened = new Promise((resolve) => {
      this.ws.addEventListener('open', () => resolve(true), { once: true })
      this.ws.addEventListener('close', () => resolve(false), { once: true })
    })
    this.ws.addEventListener('message', (ev: MessageEvent<string>) => {
      for (const msg of JSON.parse(ev.data) as BridgeHostMessage[]) {
        try {
          this.dispatch(msg)
        } catch (e) {
          // A failing listener (a service app's, say) must not cost the rest of the batch.
          reportError(e)
        }
      }
    })
    this.ws.addEventListener('close', (ev: CloseEvent) => {
      this.closeReason = ev.reason
      const message = `lost the connection to Genie Bridge${ev.reason ? `: ${ev.reason}` : ''}`
      for (const settle of this.pending.values()) settle({ ok: false, error: { result_cd: 500, message } })
      this.pending.clear()
    })
  }

  private dispatch(msg: BridgeHostMessage): void {
    if (msg.kind === 'result') {
      this.pending.get(msg.id)?.(msg.outcome)
      this.pending.delete(msg.id)
    } else {
      for (const h of this.handlers.get(msg.name) ?? []) h(msg.payload)
    }
  }

  async call(name: CommandName, req: unknown): Promise<Outcome<unknown>> {
    if (!(await this.opened) || this.ws.readyState !== WebSocket.OPEN) {
      return {
        ok: false,
        error: {
          result_cd: 500,
          message: this.closeReason
            ? `Genie Bridge closed this page's connection: ${this.closeReason} (reload the page)`
            : 'not connected to Genie Bridge (is the host still running?)'
        }
      }
    }
    const id = this.nextId++
    return new Promise((resolve) => {
      this.pending.set(id, resolve)
      this.ws.send(JSON.stringify({ kind: 'call', id, name, req } satisfies BridgeClientMessage))
    })
  }

  subscribe(name: EventName, handler: (payload: unknown) => void): () => void {
    let set = this.handlers.get(name)
    if (!set) this.handlers.set(name, (set = new Set()))
    set.add(handler)
    return () => set.delete(handler)
  }
}

export class Bridge {
  constructor(private readonly transport: Transport) {}

  async invoke<C extends CommandName>(
    name: C,
    ...req: Commands[C]['req'] extends void ? [] : [Commands[C]['req']]
  ): Promise<Commands[C]['res']> {
    const outcome = await this.transport.call(name, req[0])
    if (!outcome.ok) throw new BridgeError(outcome.error.result_cd, outcome.error.message)
    return outcome.value as Commands[C]['res']
  }

  on<E extends EventName>(name: E, handler: (payload: Events[E]) => void): () => void {
    return this.transport.subscribe(name, handler as (p: unknown) => void)
  }
}

/** The token the browser host put in the page URL (kept across hash routes). */
export function hostToken(): string | null {
  return new URLSearchParams(location.search).get('token')
}

function createBridge(): Bridge {
  if (window.api) return new Bridge(new IpcTransport(window.api))
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws'
  return new Bridge(
    new SocketTransport(`${scheme}://${location.host}/bridge?token=${encodeURIComponent(hostToken() ?? '')}`)
  )
}

let instance: Bridge | null = null

export function useBridge(): Bridge {
  return (instance ??= createBridge())
}

/** For tests: swap in a stubbed bridge. */
export function setBridge(bridge: Bridge | null): void {
  instance = bridge
}
