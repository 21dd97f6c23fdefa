/** Settings persisted as one JSON file in the user-data folder; unknown or invalid keys are dropped. */
import { join } from 'node:path'
import {
  type AudioProcessing,
  DEFAULT_SETTINGS,
  QUALITY_ALARM_RANGE,
  type QualityAlarms,
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
  if (typeof input !== 'object' || input === null) return out
  const src = input as Record<string, unknown>
  for (const key of Object.keys(DEFAULT_SETTINGS) as (keyof Settings)[]) {
    const value = src[key]
    if (value === undefined || typeof value !== typeof DEFAULT_SETTINGS[key]) continue
    if (key === 'language' && value !== 'ko' && value !== 'en' && value !== 'auto') continue
    if (key === 'audioProcessing') {
      out.audioProcessing = sanitizeProcessing(value, base.audioProcessing)
      continue
    }
    if (key === 'directory' || key === 'zones' || key === 'chime') continue // below, zones first
    if (key === 'qualityAlarms') {
      out.qualityAlarms = sanitizeAlarms(value, base.qualityAlarms)
      continue
    }
    ;(out as Record<string, unknown>)[key] = value
  }
  out.zones = validZones(src.zones) ?? out.zones
  // A speaker keeps only the zones that exist (now or after this change).
  out.directory = validDirectory(src.directory ?? out.directory, out.zones) ?? out.directory
  out.chime = validChime(src.chime) ?? out.chime
  return out
}

/** Bounded: a settings file is no place for an unbounded map. */
export const MAX_REMEMBERED_MICROPHONES = 64

function sanitizeProcessing(
  input: unknown,
  base: Record<string, AudioProcessing>
): Record<string, AudioProcessing> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return base
  const out: Record<string, AudioProcessing> = {}
  for (const [id, v] of Object.entries(input as Record<string, unknown>).slice(
    0,
    MAX_REMEMBERED_MICROPHONES
  )) {
    if (typeof v !== 'object' || v === null || id.length > 256) continue
    const p = v as Record<string, unknown>
    if (
      typeof p.echoCancellation !== 'boolean' ||
      typeof p.noiseSuppression !== 'boolean' ||
      typeof p.autoGainControl !== 'boolean'
    )
      continue
    out[id] = {
      echoCancellation: p.echoCancellation,
      noiseSuppression: p.noiseSuppression,
      autoGainControl: p.autoGainControl
    }
  }
  return out
}

/** Each alarm that is a number within its range replaces the current one; the rest stay. */
function sanitizeAlarms(input: unknown, base: QualityAlarms): QualityAlarms {
  const out = { ...base }
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return out
  const src = input as Record<string, unknown>
  for (const key of Object.keys(QUALITY_ALARM_RANGE) as (keyof QualityAlarms)[]) {
    const v = src[key]
    const { min, max } = QUALITY_ALARM_RANGE[key]
    if (typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max) out[key] = v
  }
  return out
}
