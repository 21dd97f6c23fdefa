/** Call history kept as one JSON file in the user-data folder, newest last, bounded. */
import { join } from 'node:path'
import type { CallRecord } from '../../shared/contract'
import { JsonFile } from './json-file'

export const HISTORY_FILE = 'call-history.json'
/** Records kept; the oldest go first. */
export const HISTORY_LIMIT = 1000

export class HistoryStore {
  private records: CallRecord[] = []
  private loaded = false
  /** Null: kept in memory only. */
  private readonly file: JsonFile | null

  constructor(dataDir: string | null) {
    this.file = dataDir ? new JsonFile(join(dataDir, HISTORY_FILE)) : null
  }

  async list(): Promise<CallRecord[]> {
    await this.load()
    return [...this.records]
  }

  async add(input: unknown): Promise<void> {
    const record = validateRecord(input)
    await this.load()
    this.records.push(record)
    if (this.records.length > HISTORY_LIMIT) this.records.splice(0, this.records.length - HISTORY_LIMIT)
    await this.save()
  }

  async clear(): Promise<void> {
    this.records = []
    this.loaded = true
    await this.save()
  }

  private async load(): Promise<void> {
    if (this.loaded) return
    this.loaded = true
    if (!this.file) return
    try {
      const raw = await this.file.read()
      if (Array.isArray(raw))
        this.records = raw.flatMap((r) => (isRecord(r) ? [r] : [])).slice(-HISTORY_LIMIT)
    } catch {
      // No history yet, or an unreadable file: start empty; the next save writes a good one.
    }
  }

  private async save(): Promise<void> {
    await this.file?.write(this.records)
  }
}

function isRecord(r: unknown): r is CallRecord {
  try {
    validateRecord(r)
    return true
  } catch {
    return false
  }
}

/** Throws a message naming the bad field. */
export function validateRecord(r: unknown): CallRecord {
  const o = (typeof r === 'object' && r !== null ? r : {}) as Record<string, unknown>
  if (o.role !== 'speaker' && o.role !== 'console') throw new Error('field "role" must be speaker or console')
  for (const k of ['sessionid', 'localId', 'outcome'] as const) {
    if (typeof o[k] !== 'string' || (o[k] as string).length > 256)
      throw new Error(`field "${k}" must be a string of at most 256 characters`)
  }
  for (const k of ['startedAt', 'endedAt'] as const) {
    if (typeof o[k] !== 'number' || !Number.isFinite(o[k]))
      throw new Error(`field "${k}" must be a time in ms`)
  }
  if ((o.endedAt as number) < (o.startedAt as number))
    throw new Error('field "endedAt" is before "startedAt"')
  return {
    role: o.role,
    sessionid: o.sessionid as string,
    localId: o.localId as string,
    startedAt: o.startedAt as number,
    endedAt: o.endedAt as number,
    outcome: o.outcome as string
  }
}
