/**
 * A building's speaker list as CSV, so that it is entered once: one row per speaker with its name,
 * note, ContainerId, session id and zones (zone names separated by `;`).
 */
import { DIRECTORY_LIMITS, type SpeakerEntry, type Zone, validSpeaker, validZone } from '@shared/directory'
import { parseCsv, toCsv } from './csv'

export const CSV_HEADER = ['name', 'note', 'containerId', 'sessionId', 'zones'] as const

export function directoryToCsv(directory: readonly SpeakerEntry[], zones: readonly Zone[]): string {
  const names = new Map(zones.map((z) => [z.id, z.name]))
  return toCsv(
    CSV_HEADER,
    directory.map((s) => [
      s.name,
      s.note,
      s.containerId,
      s.sessionid,
      s.zones
        .map((z) => names.get(z) ?? '')
        .filter(Boolean)
        .join(';')
    ])
  )
}

export interface CsvImport {
  directory: SpeakerEntry[]
  zones: Zone[]
  added: number
  updated: number
  /** Data rows that could not be a speaker (1-based line numbers of the file's rows). */
  skipped: number[]
}

/**
 * Merges a CSV file into the directory: a row with the ContainerId (or, without one, the session id)
 * of a saved speaker updates it, any other row adds one; zones named in it are made when missing.
 * Columns are found by their header, in any order; a file without a header is read in CSV_HEADER order.
 */
export function directoryFromCsv(
  text: string,
  directory: readonly SpeakerEntry[],
  zones: readonly Zone[],
  newId: () => string
): CsvImport {
  const rows = parseCsv(text)
  const head = (rows[0] ?? []).map((h) => h.trim().toLowerCase())
  const hasHeader = head.includes('containerid') || head.includes('sessionid') || head.includes('name')
  const column = (name: string): number => {
    const i = head.indexOf(name.toLowerCase())
    return hasHeader ? i : CSV_HEADER.indexOf(name as (typeof CSV_HEADER)[number])
  }
  const col = Object.fromEntries(CSV_HEADER.map((h) => [h, column(h)])) as Record<
    (typeof CSV_HEADER)[number],
    number
  >
  const outZones = [...zones]
  const out = directory.map((s) => ({ ...s, zones: [...s.zones] }))
  const result: CsvImport = { directory: out, zones: outZones, added: 0, updated: 0, skipped: [] }
  const zoneNamed = (name: string): string | null => {
    const found = outZones.find((z) => z.name === name)
    if (found) return found.id
    if (outZones.length >= DIRECTORY_LIMITS.maxZones) return null
    const zone = validZone({ id: newId(), name })
    if (!zone) return null
    outZones.push(zone)
    return zone.id
  }
  const cell = (row: string[], i: number): string => (i >= 0 ? (row[i] ?? '').trim() : '')
  rows.slice(hasHeader ? 1 : 0).forEach((row, n) => {
    const line = n + (hasHeader ? 2 : 1)
    const containerId = cell(row, col.containerId)
    const sessionid = cell(row, col.sessionId)
    const zoneIds = cell(row, col.zones)
      .split(';')
      .map((z) => z.trim())
      .filter(Boolean)
      .map(zoneNamed)
      .filter((z): z is string => z !== null)
    const existing = out.findIndex((s) =>
      containerId ? s.containerId === containerId : !s.containerId && s.sessionid === sessionid
    )
    const entry = validSpeaker(
      {
        id: existing >= 0 ? out[existing]!.id : newId(),
        name: cell(row, col.name),
        note: cell(row, col.note),
        containerId,
        sessionid,
        zones: zoneIds
      },
      new Set(outZones.map((z) => z.id))
    )
    if (!entry || (existing < 0 && out.length >= DIRECTORY_LIMITS.maxSpeakers)) {
      result.skipped.push(line)
      return
    }
    if (existing >= 0) {
      out[existing] = entry
      result.updated++
    } else {
      out.push(entry)
      result.added++
    }
  })
  return result
}
