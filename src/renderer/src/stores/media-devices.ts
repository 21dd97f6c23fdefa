import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { useSettingsStore } from './settings'

export interface MediaDeviceChoice {
  deviceId: string
  label: string
}

/**
 * The microphones and speakers this computer has, kept current on `devicechange` (a headset
 * plugged in or pulled out). Labels are empty until the page has microphone permission.
 */
export const useMediaDevicesStore = defineStore('media-devices', () => {
  const inputs = ref<MediaDeviceChoice[]>([])
  const outputs = ref<MediaDeviceChoice[]>([])
  const canChooseOutput = typeof HTMLMediaElement !== 'undefined' && 'setSinkId' in HTMLMediaElement.prototype
  let watching = false
  const listed = ref(false)
  const settings = useSettingsStore()

  /** The chosen speaker output if it is still plugged in, otherwise the system default (''). */
  const outputId = computed(() => {
    const chosen = settings.settings.outputDeviceId
    return chosen && listed.value && !outputs.value.some((d) => d.deviceId === chosen) ? '' : chosen
  })
  /** The chosen output or microphone was unplugged: say so rather than fail silently. */
  const outputMissing = computed(() => outputId.value !== settings.settings.outputDeviceId)
  const inputMissing = computed(() => {
    const chosen = settings.settings.inputDeviceId
    return (
      !!chosen && listed.value && inputs.value.length > 0 && !inputs.value.some((d) => d.deviceId === chosen)
    )
  })

  async function refresh(): Promise<void> {
    const list = (await navigator.mediaDevices?.enumerateDevices?.().catch(() => [])) ?? []
    const pick = (kind: MediaDeviceKind): MediaDeviceChoice[] =>
      list
        .filter((d) => d.kind === kind && d.deviceId !== 'default' && d.deviceId !== 'communications')
        .map((d, i) => ({
          deviceId: d.deviceId,
          label: d.label || `${kind === 'audioinput' ? 'Microphone' : 'Speaker'} ${i + 1}`
        }))
    inputs.value = pick('audioinput')
    outputs.value = pick('audiooutput')
    listed.value = list.length > 0
  }

  function watch(): void {
    if (watching || !navigator.mediaDevices) return
    watching = true
    navigator.mediaDevices.addEventListener('devicechange', () => void refresh())
    void refresh()
  }

  return { inputs, outputs, canChooseOutput, outputId, outputMissing, inputMissing, refresh, watch }
})
