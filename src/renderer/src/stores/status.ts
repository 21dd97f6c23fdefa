import { defineStore } from 'pinia'
import { watch } from 'vue'
import type { WindowStatus } from '@shared/contract'
import { useBridge } from '../services/bridge'
import { useConsoleStore } from './console'
import { useDeviceStore } from './device'

/** Tells the host what this window is doing (tray icon, notifications) whenever it changes. */
export const useStatusStore = defineStore('status', () => {
  let started = false

  function start(): void {
    if (started) return
    started = true
    const device = useDeviceStore()
    const operator = useConsoleStore()
    watch(
      (): WindowStatus => ({
        liveCalls:
          (device.call === 'live' ? 1 : 0) + operator.callList.filter((c) => c.state === 'live').length,
        joinedWebClients: device.webJoined ? 1 : 0,
        transmitting: operator.onAir
      }),
      (status, old) => {
        if (JSON.stringify(status) !== JSON.stringify(old))
          void useBridge()
            .invoke('app:reportStatus', status)
            .catch(() => undefined)
      },
      { immediate: true }
    )
  }

  return { start }
})
