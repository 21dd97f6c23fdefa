import { defineStore } from 'pinia'
import { computed } from 'vue'
import { DIRECTORY_LIMITS, type Zone, sessionOf } from '@shared/directory'
import { randomId } from './channel-events'
import { useSettingsStore } from './settings'

/** The console's zones: saved groups of speakers (a speaker lists the zones it belongs to). */
export const useZonesStore = defineStore('zones', () => {
  const settings = useSettingsStore()
  const zones = computed<Zone[]>(() => settings.settings.zones)

  /** The zone added; null when the name is empty, the zones are full or the save failed. */
  async function addZone(name: string): Promise<Zone | null> {
    const trimmed = name.trim()
    if (!trimmed || zones.value.length >= DIRECTORY_LIMITS.maxZones) return null
    const zone = { id: randomId('Z'), name: trimmed }
    return (await settings.update({ zones: [...zones.value, zone] })) ? zone : null
  }

  async function renameZone(id: string, name: string): Promise<void> {
    const trimmed = name.trim()
    if (!trimmed) return
    await settings.update({ zones: zones.value.map((z) => (z.id === id ? { ...z, name: trimmed } : z)) })
  }

  /** Removes the zone; its speakers stay, without it (the settings take it off them). */
  async function removeZone(id: string): Promise<void> {
    await settings.update({ zones: zones.value.filter((z) => z.id !== id) })
  }

  /** Puts a saved speaker in a zone or takes it out. */
  async function setMember(entryId: string, zoneId: string, member: boolean): Promise<void> {
    await settings.update({
      directory: settings.settings.directory.map((s) =>
        s.id !== entryId
          ? s
          : { ...s, zones: member ? [...new Set([...s.zones, zoneId])] : s.zones.filter((z) => z !== zoneId) }
      )
    })
  }

  /**
   * The sessions a zone's speakers are in (null: every call, the all-call). `liveSessionOf` maps a
   * saved speaker to the session it is in now, when presence knows better than the saved id.
   */
  function sessionsIn(
    zoneId: string | null,
    liveSessionOf: (entryId: string) => string | undefined = () => undefined
  ): Set<string> | null {
    if (zoneId === null) return null
    const out = new Set<string>()
    for (const s of settings.settings.directory)
      if (s.zones.includes(zoneId)) out.add(liveSessionOf(s.id) ?? sessionOf(s))
    return out
  }

  function zoneName(id: string | null): string {
    return zones.value.find((z) => z.id === id)?.name ?? ''
  }

  return { zones, addZone, renameZone, removeZone, setMember, sessionsIn, zoneName }
})
