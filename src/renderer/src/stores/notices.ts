import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { ChannelNoticeEvent } from '@shared/contract'
import { useBridge } from '../services/bridge'

/** Notices kept on screen at once; older ones give way. */
export const MAX_NOTICES = 5

export interface Notice extends ChannelNoticeEvent {
  id: number
  at: number
}

/** Signaling that could not be delivered after a reconnect, shown to the person, never lost silently. */
export const useNoticesStore = defineStore('notices', () => {
  const notices = ref<Notice[]>([])
  let next = 1
  let off: (() => void) | null = null

  function start(): void {
    off ??= useBridge().on('channel:notice', (e) => {
      notices.value = [...notices.value, { ...e, id: next++, at: Date.now() }].slice(-MAX_NOTICES)
    })
  }

  function dismiss(id: number): void {
    notices.value = notices.value.filter((n) => n.id !== id)
  }

  return { notices, start, dismiss }
})
