/** A minimal typed event emitter usable in Node and in the browser. `on` returns an unsubscribe. */
export type EventMap = Record<string, unknown[]>
type AnyHandler = (...args: unknown[]) => void

export class Emitter<E extends EventMap> {
  private readonly handlers = new Map<keyof E, Set<AnyHandler>>()

  on<K extends keyof E>(event: K, handler: (...args: E[K]) => void): () => void {
    let set = this.handlers.get(event)
    if (!set) this.handlers.set(event, (set = new Set()))
    set.add(handler as unknown as AnyHandler)
    return () => this.off(event, handler)
  }

  once<K extends keyof E>(event: K, handler: (...args: E[K]) => void): () => void {
    const off = this.on(event, (...args: E[K]) => {
      off()
      handler(...args)
    })
    return off
  }

  off<K extends keyof E>(event: K, handler: (...args: E[K]) => void): void {
    this.handlers.get(event)?.delete(handler as unknown as AnyHandler)
  }

  protected emit<K extends keyof E>(event: K, ...args: E[K]): void {
    const set = this.handlers.get(event)
    if (!set) return
    for (const h of [...set]) (h as unknown as (...a: E[K]) => void)(...args)
  }

  /** How many handlers are attached (for leak checks in tests). */
  listenerCount(event?: keyof E): number {
    if (event !== undefined) return this.handlers.get(event)?.size ?? 0
    let n = 0
    for (const set of this.handlers.values()) n += set.size
    return n
  }

  removeAllListeners(): void {
    this.handlers.clear()
  }
}
