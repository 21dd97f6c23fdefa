/**
 * Settings persisted as one JSON file in the user-data folder. Each field is checked with its
 * schema (SETTINGS_FIELD_SCHEMAS); unknown keys and values that fail are dropped, and the field
 * keeps its current value.
 */
import { join } from 'node:path'
import * as v from 'valibot'
import {
  type AudioProcessing,
  DEFAULT_SETTINGS,
  MAX_REMEMBERED_MICROPHONES,
  type QualityAlarms,
  SETTINGS_FIELD_SCHEMAS,
  type Settings
} from '../../shared/contract'
import { validChime, validDirectory, validZones } from '../../shared/directory'
import { JsonFile } from './json-file'

export const SETTINGS_FILE = 'settings.json'

export class SettingsStore {
  private current: Settings = { ...DEFAULT_SETTINGS }
  /** Null: kept in memory only. */
  private readonly file: JsonFile | null

  constructor(dataDir: string | null, defaults: Partial<Settings> = {}) {
    this.file = dataDir ? new JsonFile(join(dataDir, SETTINGS_FILE)) : null
    this.current = { ...DEFAULT_SETTINGS, ...defaults }
  }

  async load(): Promise<Settings> {
    if (!this.file) return this.get()
    try {
      this.current = sanitize(await this.file.read(), this.current)
    } catch {
      // Missing or unreadable: keep the defaults; the next save writes a good file.
    }
    return this.get()
  }

  get(): Settings {
    return { ...this.current }
  }

  async update(patch: unknown): Promise<Settings> {
    this.current = sanitize(patch, this.current)
    await this.file?.write(this.current, 2)
    return this.get()
  }
}

function sanitize(input: unknown, base: Settings): Settings {
  const out = { ...base }
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return out
  const src = input as Record<string, unknown>
  for (const key of Object.keys(SETTINGS_FIELD_SCHEMAS) as (keyof Settings)[]) {
    const value = src[key]
    if (value === undefined) continue
    if (key === 'directory' || key === 'zones' || key === 'chime') continue // below, zones first
    if (key === 'audioProcessing') out.audioProcessing = sanitizeProcessing(value, base.audioProcessing)
    else if (key === 'qualityAlarms') out.qualityAlarms = sanitizeAlarms(value, base.qualityAlarms)
    else {
      const parsed = v.safeParse(SETTINGS_FIELD_SCHEMAS[key], value)
      if (parsed.success) (out as Record<string, unknown>)[key] = parsed.output
    }
  }
  out.zones = validZones(src.zones) ?? out.zones
  // A speaker keeps only the zones that exist (now or after this change).
  out.directory = validDirectory(src.directory ?? out.directory, out.zones) ?? out.directory
  out.chime = validChime(src.chime) ?? out.chime
  return out
}

/** Each microphone's entry that passes stays, up to the bound; a wholly wrong value changes nothing. */
function sanitizeProcessing(
  input: unknown,
  base: Record<string, AudioProcessing>
): Record<string, AudioProcessing> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return base
  const entry = SETTINGS_FIELD_SCHEMAS.audioProcessing.pipe[0].value
  const key = SETTINGS_FIELD_SCHEMAS.audioProcessing.pipe[0].key
  const out: Record<string, AudioProcessing> = {}
  for (const [id, value] of Object.entries(input as Record<string, unknown>).slice(
    0,
    MAX_REMEMBERED_MICROPHONES
  )) {
    const parsed = v.safeParse(entry, value)
    if (parsed.success && v.is(key, id)) out[id] = parsed.output
  }
  return out
}

/** Each alarm that passes its schema replaces the current one; the rest stay. */
function sanitizeAlarms(input: unknown, base: QualityAlarms): QualityAlarms {
  const out = { ...base }
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return out
  const src = input as Record<string, unknown>
  const alarms = SETTINGS_FIELD_SCHEMAS.qualityAlarms.entries
  for (const key of Object.keys(alarms) as (keyof QualityAlarms)[]) {
    const parsed = v.safeParse(alarms[key], src[key])
    if (parsed.success) out[key] = parsed.output
  }
  return out
}
