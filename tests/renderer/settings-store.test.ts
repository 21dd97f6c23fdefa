import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it } from 'vitest'
import { DIRECTORY_LIMITS, type SpeakerEntry } from '../../src/shared/directory'
import { DEFAULT_SETTINGS, type Settings } from '../../src/shared/contract'
import { setBridge } from '../../src/renderer/src/services/bridge'
import { useDirectoryStore } from '../../src/renderer/src/stores/directory'
import { useSettingsStore } from '../../src/renderer/src/stores/settings'
import { useZonesStore } from '../../src/renderer/src/stores/zones'
import { BridgeError, type StubTransport, stubBridge } from './stub-bridge'

let transport: StubTransport
let saved: Settings
/** The main process refuses every save while this is set. */
let refuse: string | null

beforeEach(() => {
  setActivePinia(createPinia())
  const stub = stubBridge()
  transport = stub.transport
  setBridge(stub.bridge)
  saved = { ...DEFAULT_SETTINGS, language: 'ko' }
  refuse = null
  transport
    .respond('settings:get', () => saved)
    .respond('settings:set', (patch) => {
      if (refuse) throw new BridgeError(500, refuse)
      return (saved = { ...saved, ...(patch as Partial<Settings>) })
    })
})

describe('settings that cannot be saved', () => {
  it('go back to the saved value, and the failure is kept to show until dismissed', async () => {
    const settings = useSettingsStore()
    await settings.load()
    refuse = 'disk full'
    const saving = settings.update({ language: 'en' })
    expect(settings.settings.language).toBe('en') // shown at once
    expect(await saving).toBe(false) // resolves: a failed save is no unhandled rejection
    expect(settings.settings.language).toBe('ko')
    expect(settings.saveError).toEqual({ key: 'settings.saveFailed', detail: 'disk full' })
    expect(settings.saving).toBe(0)

    refuse = null
    expect(await settings.update({ language: 'en' })).toBe(true)
    expect(settings.settings.language).toBe('en')
    expect(settings.saveError).not.toBeNull() // still shown: only dismissing clears it
    settings.dismissSaveError()
    expect(settings.saveError).toBeNull()
  })

  it('go back to the value saved last, not the one loaded, and leave a change still on its way', async () => {
    const settings = useSettingsStore()
    await settings.load()
    await settings.update({ language: 'en' })
    let answer: (s: Settings) => void = () => undefined
    transport.respond('settings:set', (patch) => {
      if ((patch as Partial<Settings>).outputDeviceId) return new Promise<Settings>((r) => (answer = r))
      throw new BridgeError(500, 'refused')
    })
    const pending = settings.update({ outputDeviceId: 'usb' })
    expect(await settings.update({ language: 'auto' })).toBe(false)
    expect(settings.settings.language).toBe('en')
    expect(settings.settings.outputDeviceId).toBe('usb')
    answer({ ...saved, outputDeviceId: 'usb' })
    expect(await pending).toBe(true)
  })

  it('a zone, a speaker or a CSV import the settings refuse is not reported as added', async () => {
    const settings = useSettingsStore()
    await settings.load()
    const zones = useZonesStore()
    const directory = useDirectoryStore()
    refuse = 'refused'
    expect(await zones.addZone('Lobby')).toBeNull()
    expect(zones.zones).toEqual([])
    expect(
      await directory.saveEntry({ name: 'A', note: '', containerId: 'K-A', sessionid: '', zones: [] })
    ).toBe('notSaved')
    expect(directory.entries).toEqual([])
    expect(await directory.importCsv('name,containerId\nB,K-B\n')).toBeNull()
    expect(directory.lastImport).toBeNull()
    expect(directory.entries).toEqual([])
  })
})

describe('the speaker directory', () => {
  it('says a speaker was not saved because the directory is full, not because it is invalid', async () => {
    const full: SpeakerEntry[] = Array.from({ length: DIRECTORY_LIMITS.maxSpeakers }, (_, i) => ({
      id: `S${i}`,
      name: `S${i}`,
      note: '',
      containerId: `K-${i}`,
      sessionid: '',
      zones: []
    }))
    saved = { ...saved, directory: full }
    await useSettingsStore().load()
    const directory = useDirectoryStore()
    const entry = { name: 'New', note: '', containerId: 'K-NEW', sessionid: '', zones: [] }
    expect(await directory.saveEntry(entry)).toBe('full')
    expect(await directory.saveEntry({ ...entry, containerId: '' })).toBe('invalid')
    expect(await directory.saveEntry({ ...full[0]!, note: 'edited' })).toBeNull() // editing still works
  })
})
