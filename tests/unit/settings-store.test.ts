import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { SETTINGS_FILE, SettingsStore } from '../../src/main/core/settings-store'
import { DEFAULT_QUALITY_ALARMS, DEFAULT_SETTINGS } from '../../src/shared/contract'

const dirs: string[] = []
function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'genie-settings-'))
  dirs.push(dir)
  return dir
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

describe('SettingsStore', () => {
  it('keeps each quality alarm that is a number in its range and refuses the rest', async () => {
    const store = new SettingsStore(null)
    expect(store.get().qualityAlarms).toEqual(DEFAULT_QUALITY_ALARMS)
    await store.update({ qualityAlarms: { lossPercent: 2.5, jitterMs: 0, rttMs: 150 } })
    expect(store.get().qualityAlarms).toEqual({ lossPercent: 2.5, jitterMs: 0, rttMs: 150 })
    await store.update({
      qualityAlarms: { lossPercent: 101, jitterMs: -1, rttMs: Number.NaN, extra: 5 }
    })
    expect(store.get().qualityAlarms).toEqual({ lossPercent: 2.5, jitterMs: 0, rttMs: 150 })
    await store.update({ qualityAlarms: { rttMs: '900' } })
    expect(store.get().qualityAlarms.rttMs).toBe(150)
    await store.update({ qualityAlarms: [1, 2, 3] })
    expect(store.get().qualityAlarms).toEqual({ lossPercent: 2.5, jitterMs: 0, rttMs: 150 })
    await store.update({ qualityAlarms: { jitterMs: 80 } }) // one field at a time
    expect(store.get().qualityAlarms).toEqual({ lossPercent: 2.5, jitterMs: 80, rttMs: 150 })
  })

  it('writes the settings to its file and reads them back; a settings file from before keeps the new defaults', async () => {
    const dir = dataDir()
    const store = new SettingsStore(dir)
    await store.update({ language: 'ko', qualityAlarms: { rttMs: 500 }, bogus: true })
    const saved = JSON.parse(readFileSync(join(dir, SETTINGS_FILE), 'utf8')) as Record<string, unknown>
    expect(saved).not.toHaveProperty('bogus')
    expect(await new SettingsStore(dir).load()).toMatchObject({
      language: 'ko',
      qualityAlarms: { ...DEFAULT_QUALITY_ALARMS, rttMs: 500 }
    })

    const old = dataDir()
    writeFileSync(join(old, SETTINGS_FILE), JSON.stringify({ language: 'en', deviceUuid: 'K1' }))
    expect(await new SettingsStore(old).load()).toEqual({
      ...DEFAULT_SETTINGS,
      language: 'en',
      deviceUuid: 'K1'
    })
  })

  it('refuses values of the wrong type or outside the allowed set', async () => {
    const store = new SettingsStore(null)
    await store.update({ language: 'fr', autoStartAudio: 'yes', serverUrl: 42 })
    expect(store.get()).toEqual(DEFAULT_SETTINGS)
    await store.update('not an object')
    expect(store.get()).toEqual(DEFAULT_SETTINGS)
  })

  it('keeps the directory and zones that are valid; a speaker keeps only zones that exist', async () => {
    const store = new SettingsStore(null)
    await store.update({
      zones: [
        { id: 'z1', name: 'Lobby' },
        { id: 'z1', name: 'dup' },
        { id: 'z2', name: '' },
        { id: 'z3', name: 'Hall' }
      ],
      directory: [
        {
          id: 's1',
          name: ' Front ',
          note: '1F',
          containerId: 'K1',
          sessionid: '',
          zones: ['z1', 'z2', 'z1']
        },
        { id: 's2', name: 'No way to reach', note: '', containerId: '', sessionid: '', zones: [] },
        { id: 's3', containerId: 'K3', zones: ['z3'] },
        { id: 's4', name: 'x'.repeat(200), containerId: 'K4' },
        'junk'
      ],
      chime: 'single'
    })
    expect(store.get().zones).toEqual([
      { id: 'z1', name: 'Lobby' },
      { id: 'z3', name: 'Hall' }
    ])
    expect(store.get().directory).toEqual([
      { id: 's1', name: 'Front', note: '1F', containerId: 'K1', sessionid: '', zones: ['z1'] },
      { id: 's3', name: 'K3', note: '', containerId: 'K3', sessionid: '', zones: ['z3'] }
    ])
    expect(store.get().chime).toBe('single')
    // Removing a zone takes it off its speakers; a wrong chime keeps the current one.
    await store.update({ zones: [{ id: 'z1', name: 'Lobby' }], chime: 'loud' })
    expect(store.get().directory.map((s) => s.zones)).toEqual([['z1'], []])
    expect(store.get().chime).toBe('single')
    await store.update({ directory: 'nope' })
    expect(store.get().directory).toHaveLength(2)
  })
})
