import { type Ref, onBeforeUnmount, ref, watch } from 'vue'
import { LevelMeter, SILENCE_DBFS } from '../rtc/level-meter'
import { after, every } from '../services/ticker'

export const LEVEL_REFRESH_MS = 100
/**
 * A meter starts this long after its stream appears. Streams appear in the middle of call setup,
 * and the audio graph a meter needs (the page's AudioContext, a source and an analyser) would take
 * the page's main thread while the call's own steps wait for it.
 */
export const METER_START_DELAY_MS = 500

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
      stop = after(METER_START_DELAY_MS, () => {
        const started = (meter = new LevelMeter(s))
        stop = every(LEVEL_REFRESH_MS, () => {
          const r = started.read()
          dbfs.value = r.dbfs
          peakHz.value = r.peakHz
        })
      })
    },
    { immediate: true }
  )
  onBeforeUnmount(release)
  return { dbfs, peakHz }
}
