/** A bridge whose host is a test: it records every command, answers as told, and emits events. */
import {
  BridgeError,
  type CommandName,
  type EventName,
  type Events,
  type Outcome
} from '../../src/shared/contract'
import { Bridge, type Transport } from '../../src/renderer/src/services/bridge'

type Responder = (req: unknown) => unknown

export class StubTransport implements Transport {
  readonly calls: { name: CommandName; req: unknown }[] = []
  private readonly responders = new Map<CommandName, Responder>()
  private readonly handlers = new Map<EventName, Set<(p: unknown) => void>>()

  /** Answers `name` with the responder's value; a thrown BridgeError becomes a failed outcome. */
  respond(name: CommandName, responder: Responder): this {
    this.responders.set(name, responder)
    return this
  }

  async call(name: CommandName, req: unknown): Promise<Outcome<unknown>> {
    this.calls.push({ name, req })
    const responder = this.responders.get(name)
    try {
      return { ok: true, value: responder ? await responder(req) : undefined }
    } catch (e) {
      const err = e as BridgeError
      return { ok: false, error: { result_cd: err.result_cd ?? 500, message: err.message } }
    }
  }

  subscribe(name: EventName, handler: (payload: unknown) => void): () => void {
    let set = this.handlers.get(name)
    if (!set) this.handlers.set(name, (set = new Set()))
    set.add(handler)
    return () => set.delete(handler)
  }

  emit<E extends EventName>(name: E, payload: Events[E]): void {
    for (const h of this.handlers.get(name) ?? []) h(payload)
  }

  callsOf(name: CommandName): unknown[] {
    return this.calls.filter((c) => c.name === name).map((c) => c.req)
  }
}

export function stubBridge(): { transport: StubTransport; bridge: Bridge } {
  const transport = new StubTransport()
  return { transport, bridge: new Bridge(transport) }
}

export { BridgeError }
