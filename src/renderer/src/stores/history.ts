import { defineStore } from 'pinia'
import { ref, watch } from 'vue'
import type { CallRecord } from '@shared/contract'
import type { MessageKey } from '../i18n'
import { toCsv } from '../services/csv'
import { useBridge } from '../services/bridge'
import { errorMessage } from './channel-events'
import { useConsoleStore } from './console'
import { type StoreError, useDeviceStore } from './device'

export const HISTORY_CSV_HEADER = [
  'role',
  'session',
  'local id',
  'started',
  'ended',
  'duration (s)',
  'outcome'
] as const

/** A console call whose session is gone (destroyed, or the connection closed). */
const SESSION_ENDED = 'sessionEnded'

/**
 * How each stored outcome is shown. Records keep the state the call went to (CSV exports it as
 * is); records written by earlier versions may say 'session ended'.
 */
const OUTCOME_KEYS = new Map<string, MessageKey>([
  ['idle', 'history.outcome.stopped'],
  ['joined', 'history.outcome.hungUp'],
  ['offering', 'call.offering'],
  ['answering', 'call.answering'],
  ['connecting', 'call.connecting'],
  ['ended', 'call.ended'],
  ['failed', 'call.failed'],
  [SESSION_ENDED, 'history.outcome.sessionEnded'],
  ['session ended', 'history.outcome.sessionEnded']
])

/** The message for a stored outcome; null for one this version does not know (shown as it is). */
export function outcomeKey(outcome: string): MessageKey | null {
  return OUTCOME_KEYS.get(outcome) ?? null
}

/**
 * Call history: every call that went live is recorded when it ends (kept by the main process in
 * the user-data folder), listed, and exported as CSV.
 */
export const useHistoryStore = defineStore('history', () => {
  const records = ref<CallRecord[]>([])
  /** The list came from the main process: an empty one means no calls, not a failed load. */
  const loaded = ref(false)
  /** The last load or clear that failed. */
  const error = ref<StoreError | null>(null)
  let started = false

  async function load(): Promise<void> {
    try {
      records.value = await useBridge().invoke('history:list')
      loaded.value = true
      error.value = null
    } catch (e) {
      error.value = { key: 'history.loadFailed', detail: errorMessage(e) }
    }
  }

  async function add(record: CallRecord): Promise<void> {
    records.value = [...records.value, record]
    await useBridge()
      .invoke('history:add', record)
      .catch(() => undefined)
  }

  async function clear(): Promise<void> {
    try {
      await useBridge().invoke('history:clear')
      records.value = []
      error.value = null
    } catch (e) {
      error.value = { key: 'history.clearFailed', detail: errorMessage(e) }
    }
  }

  function csv(): string {
    return toCsv(
      HISTORY_CSV_HEADER,
      records.value.map((r) => [
        r.role,
        r.sessionid,
        r.localId,
        new Date(r.startedAt).toISOString(),
        new Date(r.endedAt).toISOString(),
        Math.round((r.endedAt - r.startedAt) / 1000),
        r.outcome
      ])
    )
  }

  /** Watches both roles' calls: live → something else is one finished call. */
  function start(): void {
    if (started) return
    started = true
    const device = useDeviceStore()
    const operator = useConsoleStore()
    let deviceSince: { at: number; sessionid: string } | null = null
    watch(
      () => device.call,
      (state) => {
        if (state === 'live' && !deviceSince && device.sessionid)
          deviceSince = { at: Date.now(), sessionid: device.sessionid }
        else if (state !== 'live' && deviceSince) {
          void add({
            role: 'speaker',
            sessionid: deviceSince.sessionid,
            localId: device.uuid,
            startedAt: deviceSince.at,
            endedAt: Date.now(),
            outcome: state
          })
          deviceSince = null
        }
      }
    )
    const consoleSince = new Map<string, number>()
    watch(
      () => operator.callList.map((c) => [c.sessionid, c.state] as const),
      (list) => {
        const now = Date.now()
        const present = new Map(list)
        for (const [id, state] of list)
          if (state === 'live' && !consoleSince.has(id)) consoleSince.set(id, now)
        for (const [id, since] of consoleSince) {
          const state = present.get(id)
          if (state === 'live') continue
          consoleSince.delete(id)
          void add({
            role: 'console',
            sessionid: id,
            localId: operator.uuid,
            startedAt: since,
            endedAt: now,
            outcome: state ?? SESSION_ENDED
          })
        }
      }
    )
  }

  return { records, loaded, error, load, add, clear, csv, start }
})
