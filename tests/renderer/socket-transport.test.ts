import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { Bridge, SocketTransport } from '../../src/renderer/src/services/bridge'
import type { BridgeHostMessage } from '../../src/shared/contract'

/** The browser's WebSocket as SocketTransport uses it, driven by the test. */
class FakeSocket {
  static readonly OPEN = 1
  static last: FakeSocket | null = null
  readyState = FakeSocket.OPEN
  readonly sent: string[] = []
  private readonly listeners = new Map<string, ((ev: { data?: string; reason?: string }) => void)[]>()
  constructor(readonly url: string) {
    FakeSocket.last = this
    queueMicrotask(() => this.fire('open', {}))
  }
  addEventListener(type: string, fn: (ev: { data?: string; reason?: string }) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), fn])
  }
  send(text: string): void {
    this.sent.push(text)
  }
  fire(type: string, ev: { data?: string; reason?: string }): void {
    for (const fn of this.listeners.get(type) ?? []) fn(ev)
  }
  deliver(batch: BridgeHostMessage[]): void {
    this.fire('message', { data: JSON.stringify(batch) })
  }
}

describe('SocketTransport', () => {
  const reported = vi.fn()
  beforeEach(() => {
    vi.stubGlobal('WebSocket', FakeSocket)
    vi.stubGlobal('reportError', reported)
  })
  afterEach(() => {
    vi.unstubAllGlobals()
    reported.mockReset()
  })

  it('shows the reason the host gave for closing the page, to waiting and later calls', async () => {
    const bridge = new Bridge(new SocketTransport('ws://127.0.0.1:1/bridge'))
    const waiting = bridge.invoke('history:list')
    await vi.waitFor(() => expect(FakeSocket.last!.sent).toHaveLength(1))
    const reason = 'the page did not read its messages (over 8388608 bytes waiting)'
    FakeSocket.last!.readyState = 3
    FakeSocket.last!.fire('close', { reason })
    await expect(waiting).rejects.toThrow(reason)
    await expect(bridge.invoke('app:info')).rejects.toThrow(`closed this page's connection: ${reason}`)
  })

  it('delivers every message of a batch in order', async () => {
    const bridge = new Bridge(new SocketTransport('ws://127.0.0.1:1/bridge'))
    const seen: string[] = []
    bridge.on('channel:state', (e) => seen.push(e.state))
    const result = bridge.invoke('app:info')
    await vi.waitFor(() => expect(FakeSocket.last!.sent).toHaveLength(1))
    const { id } = JSON.parse(FakeSocket.last!.sent[0]!) as { id: number }
    FakeSocket.last!.deliver([
      { kind: 'event', name: 'channel:state', payload: { connectionId: 'c', state: 'connecting' } },
      { kind: 'event', name: 'channel:state', payload: { connectionId: 'c', state: 'ready' } },
      { kind: 'result', id, outcome: { ok: true, value: { host: 'browser' } } }
    ])
    await expect(result).resolves.toEqual({ host: 'browser' })
    expect(seen).toEqual(['connecting', 'ready'])
  })

  it('a listener that throws costs nothing else of its batch, and is reported', async () => {
    const bridge = new Bridge(new SocketTransport('ws://127.0.0.1:1/bridge'))
    const bug = new Error('a service app’s listener fails')
    bridge.on('channel:frame', () => {
      throw bug
    })
    const result = bridge.invoke('app:info')
    await vi.waitFor(() => expect(FakeSocket.last!.sent).toHaveLength(1))
    const { id } = JSON.parse(FakeSocket.last!.sent[0]!) as { id: number }
    FakeSocket.last!.deliver([
      { kind: 'event', name: 'channel:frame', payload: {} },
      { kind: 'result', id, outcome: { ok: true, value: 'answered' } }
    ])
    await expect(result).resolves.toBe('answered')
    expect(reported).toHaveBeenCalledWith(bug)
  })
})
