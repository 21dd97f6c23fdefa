/** Call history kept as one JSON file in the user-data folder, newest last, bounded. */
import { join } from 'node:path'
import * as v from 'valibot'
import { type CallRecord, CallRecordSchema, checkRequest } from '../../shared/contract'
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
        this.records = raw.slice(-HISTORY_LIMIT).flatMap((r) => {
          // Unknown keys are left behind, so a record read back is exactly a CallRecord.
          const parsed = v.safeParse(CallRecordSchema, r)
          return parsed.success ? [parsed.output] : []
        })
    } catch {
      // No history yet, or an unreadable file: start empty; the next save writes a good one.
    }
  }

  private async save(): Promise<void> {
    await this.file?.write(this.records)
  }
}

/** Throws a message naming the bad field. */
export function validateRecord(r: unknown): CallRecord {
  const checked = checkRequest('history:add', r)
  if (!checked.ok) throw new Error(checked.message)
  return checked.value as CallRecord
}
