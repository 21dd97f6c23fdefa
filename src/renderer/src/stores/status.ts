import { defineStore } from 'pinia'
import { watch } from 'vue'
import type { WindowStatus } from '@shared/contract'
import { useSettled } from '../composables/useSettled'
import { useBridge } from '../services/bridge'
import { useConsoleStore } from './console'
import { useDeviceStore } from './device'
import { useTalkStore } from './talk'

/** Tells the host what this window is doing (tray icon, notifications) whenever it changes. */
export const useStatusStore = defineStore('status', () => {
  let started = false

  function start(): void {
    if (started) return
    started = true
    const device = useDeviceStore()
    const operator = useConsoleStore()
    const talk = useTalkStore()
    // Reported once it holds: the tray need not follow each step of a call's setup, and a round
    // trip to the host at the moment the call goes live would compete with its audio.
    const status = useSettled((): WindowStatus => ({
      liveCalls:
        (device.call === 'live' ? 1 : 0) + operator.callList.filter((c) => c.state === 'live').length,
      joinedWebClients: device.webJoined ? 1 : 0,
      transmitting: talk.onAir
    }))
    let reported = ''
    watch(
      status,
      (s) => {
        const text = JSON.stringify(s)
        if (text === reported) return
        reported = text
        void useBridge()
          .invoke('app:reportStatus', s)
          .catch(() => undefined)
      },
      // At once when the settled status changes: its timer was the wait.
      { immediate: true, flush: 'sync' }
    )
  }

  return { start }
})
