import { defineStore } from 'pinia'
import { ref } from 'vue'
import {
  type AudioProcessing,
  DEFAULT_AUDIO_PROCESSING,
  DEFAULT_SETTINGS,
  type Settings
} from '@shared/contract'
import { useBridge } from '../services/bridge'
import { errorMessage } from './channel-events'
import type { StoreError } from './device'

/** Settings kept by the main process (user-data folder); every window sees changes live. */
export const useSettingsStore = defineStore('settings', () => {
  const settings = ref<Settings>({ ...DEFAULT_SETTINGS })
  const loaded = ref(false)
  /** What the main process last confirmed: a change it refuses goes back to this. */
  let saved: Settings = settings.value
  /** The last change that could not be saved, until dismissed. */
  const saveError = ref<StoreError | null>(null)
  let off: (() => void) | null = null

  async function load(): Promise<void> {
    off ??= useBridge().on('settings:changed', (s) => (saved = settings.value = s))
    saved = settings.value = await useBridge().invoke('settings:get')
    loaded.value = true
  }

  /** Changes on their way to the main process (saved once this is 0). */
  const saving = ref(0)

  /**
   * Shows the change at once and saves it; false when it could not be saved. Never rejects: a
   * failure is kept in saveError and the changed fields show their saved values again, so the
   * screen never shows a value that is not saved.
   */
  async function update(patch: Partial<Settings>): Promise<boolean> {
    settings.value = { ...settings.value, ...patch }
    saving.value++
    try {
      saved = settings.value = await useBridge().invoke('settings:set', patch)
      return true
    } catch (e) {
      // Only the fields of this change: others may still be on their way.
      const undo = Object.fromEntries(Object.keys(patch).map((k) => [k, saved[k as keyof Settings]]))
      settings.value = { ...settings.value, ...undo }
      saveError.value = { key: 'settings.saveFailed', detail: errorMessage(e) }
      return false
    } finally {
      saving.value--
    }
  }

  function dismissSaveError(): void {
    saveError.value = null
  }

  /** Echo cancellation, noise suppression, auto gain of the selected (or given) microphone. */
  function processing(deviceId = settings.value.inputDeviceId): AudioProcessing {
    return settings.value.audioProcessing[deviceId] ?? DEFAULT_AUDIO_PROCESSING
  }

  async function setProcessing(
    patch: Partial<AudioProcessing>,
    deviceId = settings.value.inputDeviceId
  ): Promise<boolean> {
    return update({
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

  return {
    settings,
    loaded,
    saving,
    saveError,
    load,
    update,
    dismissSaveError,
    processing,
    setProcessing,
    microphoneOptions
  }
})
