import { type Ref, ref } from 'vue'
import type { ConnectionState } from '@shared/contract'
import { useBridge } from '../services/bridge'
import { subscribeFrames } from './channel-events'

/**
 * One channel connection as a store sees it (the speaker's, the console's shared one, or one the
 * console holds per speaker): its state, connecting with a uuid, sending, closing. The connection
 * itself lives in the main process; this follows its events by connection id.
 */
export interface ChannelConnection {
  readonly id: string
  readonly state: Ref<ConnectionState>
  readonly detail: Ref<string>
  /** `keepalive: false`: no keep-alive of its own (strict KT mode). */
  connect(uuid: string, url?: string, options?: { keepalive?: boolean }): Promise<void>
  /** Sends signaling; a failure shows through the call (its state), not as a thrown error. */
  send(sessionid: string, data: Record<string, unknown>): Promise<void>
  disconnect(): Promise<void>
  /** Stops following the connection's events (it stays open). */
  dispose(): void
}

export function channelConnection(
  id: string,
  handlers: Parameters<typeof subscribeFrames>[1] & {
    state?: (state: ConnectionState, detail: string) => void
  } = {}
): ChannelConnection {
  const bridge = useBridge()
  const state = ref<ConnectionState>('idle')
  const detail = ref('')
  const off = [
    bridge.on('channel:state', (e) => {
      if (e.connectionId !== id) return
      state.value = e.state
      detail.value = e.detail ?? ''
      handlers.state?.(e.state, detail.value)
    }),
    subscribeFrames(id, handlers)
  ]
  return {
    id,
    state,
    detail,
    connect: (uuid, url, options = {}) =>
      bridge.invoke('channel:connect', { connectionId: id, uuid, ...(url ? { url } : {}), ...options }),
    send: (sessionid, data) =>
      bridge.invoke('channel:send', { connectionId: id, sessionid, data }).catch(() => undefined),
    disconnect: () => bridge.invoke('channel:disconnect', { connectionId: id }),
    dispose: () => {
      for (const f of off.splice(0)) f()
    }
  }
}
