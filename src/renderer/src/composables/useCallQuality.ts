import { type Ref, onBeforeUnmount, ref, watch } from 'vue'
import { type CallQuality, QUALITY_REFRESH_MS, type QualityCounters, readQuality } from '../rtc/call-quality'
import type { PeerSession } from '../rtc/peer-session'
import { everyTogether } from '../services/ticker'
import { useSettingsStore } from '../stores/settings'

/** Polls a call's figures (from its PeerSession) while it exists. */
export function useCallQuality(session: Ref<PeerSession | null>): Ref<CallQuality | null> {
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
    session,
    (call) => {
      release()
      if (!call) return
      stop = everyTogether(QUALITY_REFRESH_MS, () => {
        void call.stats().then((report) => {
          if (!report) return
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
