/**
 * The console's speaker directory and zones as they are saved in the settings, with the one
 * validation of each field: the settings file and a CSV import both go through it.
 */

/** A saved speaker: who it is, where, how to reach it, and which zones it belongs to. */
export interface SpeakerEntry {
  /** Stable id of the entry (the zones and the rows refer to it). */
  id: string
  name: string
  /** A location or note ("3F lobby"). */
  note: string
  /** The speaker's ContainerId: the console authenticates with it (KT's flow). May be empty. */
  containerId: string
  /** The speaker's session id when its channel does not use the ContainerId. May be empty. */
  sessionid: string
  /** Ids of the zones this speaker belongs to. */
  zones: string[]
}

/** A saved group of speakers. */
export interface Zone {
  id: string
  name: string
}

/** The chime played before the operator talks or a message plays. */
export const CHIMES = ['two-tone', 'single', 'off'] as const
export type ChimeChoice = (typeof CHIMES)[number]
export const DEFAULT_CHIME: ChimeChoice = 'two-tone'

/** Bounds on what the settings file holds: a building's list, not an unbounded store. */
export const DIRECTORY_LIMITS = {
  maxSpeakers: 500,
  maxZones: 64,
  maxTextLength: 128
} as const

function text(v: unknown): string | null {
  if (typeof v !== 'string') return null
  const s = v.trim()
  // eslint-disable-next-line no-control-regex
  return s.length <= DIRECTORY_LIMITS.maxTextLength && !/[\u0000-\u001f\u007f]/.test(s) ? s : null
}

/** One speaker entry, or null when it cannot be one (no way to reach it, a field out of bounds). */
export function validSpeaker(input: unknown, zoneIds: ReadonlySet<string>): SpeakerEntry | null {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return null
  const src = input as Record<string, unknown>
  const id = text(src.id)
  const name = text(src.name ?? '')
  const note = text(src.note ?? '')
  const containerId = text(src.containerId ?? '')
  const sessionid = text(src.sessionid ?? '')
  if (!id || name === null || note === null || containerId === null || sessionid === null) return null
  if (!containerId && !sessionid) return null
  const zones = Array.isArray(src.zones)
    ? [...new Set(src.zones.filter((z): z is string => typeof z === 'string' && zoneIds.has(z)))]
    : []
  return { id, name: name || containerId || sessionid, note, containerId, sessionid, zones }
}

export function validZone(input: unknown): Zone | null {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return null
  const src = input as Record<string, unknown>
  const id = text(src.id)
  const name = text(src.name)
  return id && name ? { id, name } : null
}

/** The zones that are valid, first of each id kept, bounded. */
export function validZones(input: unknown): Zone[] | null {
  if (!Array.isArray(input)) return null
  const out: Zone[] = []
  const seen = new Set<string>()
  for (const z of input) {
    const zone = validZone(z)
    if (!zone || seen.has(zone.id)) continue
    seen.add(zone.id)
    out.push(zone)
    if (out.length >= DIRECTORY_LIMITS.maxZones) break
  }
  return out
}

/** The speakers that are valid against these zones, first of each id kept, bounded. */
export function validDirectory(input: unknown, zones: readonly Zone[]): SpeakerEntry[] | null {
  if (!Array.isArray(input)) return null
  const zoneIds = new Set(zones.map((z) => z.id))
  const out: SpeakerEntry[] = []
  const seen = new Set<string>()
  for (const s of input) {
    const entry = validSpeaker(s, zoneIds)
    if (!entry || seen.has(entry.id)) continue
    seen.add(entry.id)
    out.push(entry)
    if (out.length >= DIRECTORY_LIMITS.maxSpeakers) break
  }
  return out
}

export function validChime(input: unknown): ChimeChoice | null {
  return (CHIMES as readonly unknown[]).includes(input) ? (input as ChimeChoice) : null
}

/** The session a speaker's channel is in: its own id, or its ContainerId (`usecontainerid`). */
export function sessionOf(entry: Pick<SpeakerEntry, 'containerId' | 'sessionid'>): string {
  return entry.sessionid || entry.containerId
}
