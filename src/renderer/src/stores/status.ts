import { defineStore } from 'pinia'
import { watch } from 'vue'
import type { WindowStatus } from '@shared/contract'
import { STATUS_SETTLE_MS } from '../composables/useSettled'
import { useBridge } from '../services/bridge'
import { after } from '../services/ticker'
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
    let reported = ''
    let pending: (() => void) | null = null
    watch(
      (): WindowStatus => ({
        liveCalls:
          (device.call === 'live' ? 1 : 0) + operator.callList.filter((c) => c.state === 'live').length,
        joinedWebClients: device.webJoined ? 1 : 0,
        transmitting: operator.onAir
      }),
      (status) => {
        // Reported once it holds: the tray need not follow each step of a call's setup, and a
        // round trip to the host at the moment the call goes live would compete with its audio.
        pending?.()
        pending = after(STATUS_SETTLE_MS, () => {
          pending = null
          const text = JSON.stringify(status)
          if (text === reported) return
          reported = text
          void useBridge()
            .invoke('app:reportStatus', status)
            .catch(() => undefined)
        })
      },
      { immediate: true }
    )
  }

  return { start }
})
