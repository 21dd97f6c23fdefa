import { defineStore } from 'pinia'
import { ref } from 'vue'

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
  }

  function watch(): void {
    if (watching || !navigator.mediaDevices) return
    watching = true
    navigator.mediaDevices.addEventListener('devicechange', () => void refresh())
    void refresh()
  }

  return { inputs, outputs, canChooseOutput, refresh, watch }
})
