import { defineStore } from 'pinia'
import { ref } from 'vue'
import { DEFAULT_SETTINGS, type Settings } from '@shared/contract'
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

  async function update(patch: Partial<Settings>): Promise<void> {
    settings.value = { ...settings.value, ...patch }
    settings.value = await useBridge().invoke('settings:set', patch)
  }

  return { settings, loaded, load, update }
})
