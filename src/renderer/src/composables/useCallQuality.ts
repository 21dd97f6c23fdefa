import { type Ref, onBeforeUnmount, ref, watch } from 'vue'
import { type CallQuality, QUALITY_REFRESH_MS, type QualityCounters, readQuality } from '../rtc/call-quality'
import { every } from '../services/ticker'
import { useSettingsStore } from '../stores/settings'

/** Polls a peer connection's stats while it exists. */
export function useCallQuality(pc: Ref<RTCPeerConnection | null>): Ref<CallQuality | null> {
  const quality = ref<CallQuality | null>(null)
  let stop: (() => void) | null = null
  let counters: QualityCounters | undefined
  const settings = useSettingsStore()

  const release = (): void => {
    stop?.()
    stop = null
    counters = undefined
    quality.value = null
  }
  watch(
    pc,
    (conn) => {
      release()
      if (!conn) return
      stop = every(QUALITY_REFRESH_MS, () => {
        if (conn.connectionState === 'closed') return
        void conn.getStats().then((report) => {
          const r = readQuality(
            report as unknown as Map<string, Record<string, unknown> & { type: string }>,
            counters,
            settings.settings.qualityAlarms
          )
          counters = r.counters
          quality.value = r.quality
        })
      })
    },
    { immediate: true }
  )
  onBeforeUnmount(release)
  return quality
}
