import { defineStore } from 'pinia'
import { computed, reactive, ref, watch } from 'vue'
import type { LiveSession } from '@shared/contract'
import { DIRECTORY_LIMITS, type SpeakerEntry, sessionOf, validSpeaker } from '@shared/directory'
import { useBridge } from '../services/bridge'
import { type CsvImport, directoryFromCsv, directoryToCsv } from '../services/directory-csv'
import { CONSOLE_CONNECTION, useConsoleStore } from './console'
import { randomId, subscribeFrames } from './channel-events'
import { useSettingsStore } from './settings'

export type SpeakerStatus = 'offline' | 'online' | 'inCall'

export type EntryProblem = 'invalid' | 'full' | 'notSaved'

/** How the console learns which saved speakers are on line. */
export type PresenceMode = 'idle' | 'presence' | 'trying'

/** Rejoin backoff per saved speaker: capped exponential, so an absent one costs little. */
export const REJOIN_BACKOFF = { initialMs: 1_000, maxMs: 30_000, factor: 2 } as const

export function rejoinDelay(attempt: number): number {
  return Math.min(REJOIN_BACKOFF.maxMs, REJOIN_BACKOFF.initialMs * REJOIN_BACKOFF.factor ** attempt)
}

/**
 * The speaker directory: saved speakers (kept in the settings), CSV import and export, which of
 * them are on line (presence from the channel server, or, on a server without it, trying each
 * saved speaker in turn), and joining every saved speaker that is on line, again when it comes
 * back, with backoff.
 */
export const useDirectoryStore = defineStore('directory', () => {
  const bridge = useBridge()
  const settings = useSettingsStore()
  const calls = useConsoleStore()

  const entries = computed<SpeakerEntry[]>(() => settings.settings.directory)
  /** Live sessions as presence reports them, by session id. */
  const live = reactive<Record<string, LiveSession>>({})
  const mode = ref<PresenceMode>('idle')
  /** Why presence is not used (the server's answer), when it is not. */
  const presenceDetail = ref('')
  const lastImport = ref<CsvImport | null>(null)

  const attempts = new Map<string, number>()
  const timers = new Map<string, ReturnType<typeof setTimeout>>()
  /** Saved speakers being joined now (one attempt at a time each). */
  const joining = new Set<string>()
  let started = false

  /** The live session of a saved speaker: by its session id, else one its ContainerId made. */
  function liveSessionOf(entry: SpeakerEntry): LiveSession | undefined {
    const byId = live[sessionOf(entry)]
    if (byId) return byId
    if (!entry.containerId) return undefined
    return Object.values(live).find((s) => s.uuid === entry.containerId)
  }

  /** The session a saved speaker is in now, or would be: the live one, a joined one, the saved id. */
  function sessionFor(entry: SpeakerEntry): string {
    const joined = [sessionOf(entry), liveSessionOf(entry)?.sessionid].find((id) => id && calls.calls[id])
    return joined ?? liveSessionOf(entry)?.sessionid ?? sessionOf(entry)
  }

  function status(entry: SpeakerEntry): SpeakerStatus {
    const call = calls.calls[sessionFor(entry)]
    if (call) return call.state === 'live' ? 'inCall' : 'online'
    return liveSessionOf(entry) ? 'online' : 'offline'
  }

  /** Sessions on line that no saved speaker names: one click adds them. */
  const newSpeakers = computed<LiveSession[]>(() => {
    const known = new Set<string>()
    for (const e of entries.value) {
      known.add(sessionOf(e))
      if (e.containerId) known.add(`uuid:${e.containerId}`)
    }
    return Object.values(live).filter(
      (s) => !known.has(s.sessionid) && !known.has(`uuid:${s.uuid}`) && s.uuid !== calls.uuid
    )
  })

  async function save(directory: SpeakerEntry[]): Promise<boolean> {
    return settings.update({ directory })
  }

  /**
   * Adds or replaces a saved speaker. Null when saved, else why not: it cannot be one (no
   * ContainerId nor session id), the directory is full, or the settings refused the save.
   */
  async function saveEntry(input: Omit<SpeakerEntry, 'id'> & { id?: string }): Promise<EntryProblem | null> {
    const entry = validSpeaker(
      { ...input, id: input.id || randomId('S') },
      new Set(settings.settings.zones.map((z) => z.id))
    )
    if (!entry) return 'invalid'
    const list = entries.value
    const at = list.findIndex((e) => e.id === entry.id)
    if (at < 0 && list.length >= DIRECTORY_LIMITS.maxSpeakers) return 'full'
    const saved = await save(at < 0 ? [...list, entry] : list.map((e) => (e.id === entry.id ? entry : e)))
    return saved ? null : 'notSaved'
  }

  async function removeEntry(id: string): Promise<void> {
    clearTimer(id)
    await save(entries.value.filter((e) => e.id !== id))
  }

  /** A speaker presence reported, saved in one click (it is then joined like any saved one). */
  async function addLive(session: LiveSession): Promise<void> {
    await saveEntry({
      name: session.uuid,
      note: '',
      containerId: session.uuid,
      sessionid: session.sessionid === session.uuid ? '' : session.sessionid,
      zones: []
    })
  }

  /** Merges a CSV file into the directory; null when the settings refused the save. */
  async function importCsv(text: string): Promise<CsvImport | null> {
    const result = directoryFromCsv(text, entries.value, settings.settings.zones, () => randomId('S'))
    if (!(await settings.update({ zones: result.zones, directory: result.directory }))) return null
    lastImport.value = result
    return result
  }

  function exportCsv(): string {
    return directoryToCsv(entries.value, settings.settings.zones)
  }

  // ------------------------------------------------------------------------------------------
  // Presence and joining

  /** Starts following presence and joining the saved speakers (once the console is connected). */
  async function start(): Promise<void> {
    if (started) return
    started = true
    subscribeFrames(CONSOLE_CONNECTION, {
      notify: (f) => {
        if (mode.value !== 'presence' || !f.sessionid) return
        if (f.operation === 'session_started' && typeof f.uuid === 'string') {
          live[f.sessionid] = { sessionid: f.sessionid, uuid: f.uuid, channeltype: 'webrtcaudio', members: 1 }
          // A speaker that came back is joined now, not when its backoff would have tried again.
          for (const e of entries.value) if (liveSessionOf(e)?.sessionid === f.sessionid) clearTimer(e.id)
          joinDue()
        } else if (f.operation === 'session_ended') {
          delete live[f.sessionid]
        }
      }
    })
    // The console's connection came back: presence is per connection, so ask again.
    watch(
      () => calls.connection,
      (state) => {
        if (state === 'ready') void refresh()
      }
    )
    // A speaker whose call ended (it went away) is tried again; one added or edited, at once.
    watch(
      () => entries.value.map((e) => `${e.id}:${sessionFor(e)}:${calls.calls[sessionFor(e)] ? 1 : 0}`).join(),
      () => joinDue()
    )
    if (calls.connection === 'ready') await refresh()
  }

  /** Lists the live sessions (subscribing to changes); falls back to trying saved speakers. */
  async function refresh(): Promise<void> {
    try {
      const { sessions } = await bridge.invoke('presence:list', {
        connectionId: CONSOLE_CONNECTION,
        subscribe: true
      })
      for (const id of Object.keys(live)) delete live[id]
      for (const s of sessions) live[s.sessionid] = s
      mode.value = 'presence'
      presenceDetail.value = ''
    } catch (e) {
      // A server without presence (KT's, or one without an operator token): try each saved speaker.
      mode.value = 'trying'
      presenceDetail.value = e instanceof Error ? e.message : String(e)
    }
    attempts.clear()
    joinDue()
  }

  /** Joins every saved speaker that is on line (presence) or may be (trying), unless already in. */
  function joinDue(): void {
    if (mode.value === 'idle') return
    for (const entry of entries.value) {
      if (calls.calls[sessionFor(entry)] || timers.has(entry.id) || joining.has(entry.id)) continue
      if (mode.value === 'presence' && !liveSessionOf(entry)) continue
      void tryJoin(entry)
    }
  }

  async function tryJoin(entry: SpeakerEntry): Promise<void> {
    const sessionid = sessionFor(entry)
    joining.add(entry.id)
    try {
      await calls.join(sessionid, { containerId: entry.containerId, quiet: true })
      attempts.delete(entry.id)
    } catch {
      // Not there (404) or not reachable: again later, each time waiting longer.
      const n = attempts.get(entry.id) ?? 0
      attempts.set(entry.id, n + 1)
      clearTimer(entry.id)
      timers.set(
        entry.id,
        setTimeout(() => {
          timers.delete(entry.id)
          const current = entries.value.find((e) => e.id === entry.id)
          if (current && !calls.calls[sessionFor(current)]) void tryJoin(current)
        }, rejoinDelay(n))
      )
    } finally {
      joining.delete(entry.id)
    }
  }

  function clearTimer(id: string): void {
    const t = timers.get(id)
    if (t) clearTimeout(t)
    timers.delete(id)
  }

  return {
    entries,
    live,
    mode,
    presenceDetail,
    newSpeakers,
    lastImport,
    status,
    sessionFor,
    saveEntry,
    removeEntry,
    addLive,
    importCsv,
    exportCsv,
    start,
    refresh
  }
})
