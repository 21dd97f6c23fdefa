import { defineStore } from 'pinia'
import { ref } from 'vue'
import {
  type AudioProcessing,
  DEFAULT_AUDIO_PROCESSING,
  DEFAULT_SETTINGS,
  type Settings
} from '@shared/contract'
import { useBridge } from '../services/bridge'

/** Settings kept by the main process (user-data folder); every window sees changes live. */
export const useSettingsStore = defineStore('settings', () => {
  const settings = ref<Settings>({ ...DEFAULT_SETTINGS })
  const loaded = ref(false)
  let off: (() => void) | null = null

  async function load(): Promise<void> {
    off ??= useBridge().on('settings:changed', (s) => (settings.value = s))
    settings.value = await useBridge().invoke('settings:get')
    loaded.value = true
  }

  /** Changes on their way to the main process (saved once this is 0). */
  const saving = ref(0)

  async function update(patch: Partial<Settings>): Promise<void> {
    settings.value = { ...settings.value, ...patch }
    saving.value++
    try {
      settings.value = await useBridge().invoke('settings:set', patch)
    } finally {
      saving.value--
    }
  }

  /** Echo cancellation, noise suppression, auto gain of the selected (or given) microphone. */
  function processing(deviceId = settings.value.inputDeviceId): AudioProcessing {
    return settings.value.audioProcessing[deviceId] ?? DEFAULT_AUDIO_PROCESSING
  }

  async function setProcessing(
    patch: Partial<AudioProcessing>,
    deviceId = settings.value.inputDeviceId
  ): Promise<void> {
    await update({
      audioProcessing: {
        ...settings.value.audioProcessing,
        [deviceId]: { ...processing(deviceId), ...patch }
      }
    })
  }

  /** Options for openMicrophone: the chosen device (or the default one) and its remembered processing. */
  function microphoneOptions(useDefault = false): { deviceId?: string } & AudioProcessing {
    const id = useDefault ? '' : settings.value.inputDeviceId
    return { ...(id ? { deviceId: id } : {}), ...processing(id) }
  }

  return { settings, loaded, saving, load, update, processing, setProcessing, microphoneOptions }
})
