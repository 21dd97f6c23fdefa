import { defineStore } from 'pinia'
import { reactive } from 'vue'
import type { ConnectionState } from '@shared/contract'
import { useBridge } from '../services/bridge'

export interface ConnectionView {
  state: ConnectionState
  detail: string
}

/** The state of every channel connection this window holds, as the main process reports it. */
export const useConnectionStore = defineStore('connection', () => {
  const connections = reactive<Record<string, ConnectionView>>({})
  let off: (() => void) | null = null

  function listen(): void {
    if (off) return
    off = useBridge().on('channel:state', (e) => {
      connections[e.connectionId] = { state: e.state, detail: e.detail ?? '' }
    })
  }

  function stateOf(connectionId: string): ConnectionState {
    return connections[connectionId]?.state ?? 'idle'
  }

  return { connections, listen, stateOf }
})
