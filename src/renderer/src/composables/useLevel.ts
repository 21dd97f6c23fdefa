import { type Ref, onBeforeUnmount, ref, watch } from 'vue'
import { LevelMeter, SILENCE_DBFS } from '../rtc/level-meter'
import { every } from '../services/ticker'

export const LEVEL_REFRESH_MS = 100

/** The live level (dBFS) and peak frequency of a stream, for meters. */
export function useLevel(stream: Ref<MediaStream | null>): { dbfs: Ref<number>; peakHz: Ref<number> } {
  const dbfs = ref(SILENCE_DBFS)
  const peakHz = ref(0)
  let meter: LevelMeter | null = null
  let stop: (() => void) | null = null

  const release = (): void => {
    stop?.()
    stop = null
    meter?.dispose()
    meter = null
    dbfs.value = SILENCE_DBFS
    peakHz.value = 0
  }

  watch(
    stream,
    (s) => {
      release()
      if (!s || s.getAudioTracks().length === 0) return
      // The meter (and the page's AudioContext behind it) is made at the first refresh, not now:
      // a stream appears in the middle of call setup, which would otherwise wait for it.
      stop = every(LEVEL_REFRESH_MS, () => {
        meter ??= new LevelMeter(s)
        const r = meter.read()
        dbfs.value = r.dbfs
        peakHz.value = r.peakHz
      })
    },
    { immediate: true }
  )
  onBeforeUnmount(release)
  return { dbfs, peakHz }
}
