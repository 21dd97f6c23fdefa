import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { HISTORY_FILE, HISTORY_LIMIT, HistoryStore } from '../../src/main/core/history-store'

const dirs: string[] = []
function dir(): string {
  const d = mkdtempSync(join(tmpdir(), 'gb-history-'))
  dirs.push(d)
  return d
}
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })))

const record = (n: number) => ({
  role: 'console' as const,
  sessionid: `S${n}`,
  localId: 'WEB1',
  startedAt: n * 1000,
  endedAt: n * 1000 + 500,
  outcome: 'ended'
})

describe('call history', () => {
  it('keeps calls across restarts', async () => {
    const d = dir()
    await new HistoryStore(d).add(record(1))
    await new HistoryStore(d).add(record(2))
    expect((await new HistoryStore(d).list()).map((r) => r.sessionid)).toEqual(['S1', 'S2'])
  })

  it('refuses a malformed record with the field named', async () => {
    const store = new HistoryStore(null)
    await expect(store.add({ ...record(1), role: 'hacker' })).rejects.toThrow(/role/)
    await expect(store.add({ ...record(1), endedAt: 0 })).rejects.toThrow(/endedAt/)
    expect(await store.list()).toEqual([])
  })

  it('drops the oldest beyond the limit', async () => {
    const store = new HistoryStore(null)
    for (let i = 0; i < HISTORY_LIMIT + 5; i++) await store.add(record(i))
    const list = await store.list()
    expect(list).toHaveLength(HISTORY_LIMIT)
    expect(list[0]!.sessionid).toBe('S5')
  })

  it('survives a corrupt file', async () => {
    const d = dir()
    writeFileSync(join(d, HISTORY_FILE), '{not json')
    const store = new HistoryStore(d)
    expect(await store.list()).toEqual([])
    await store.add(record(1))
    expect(await new HistoryStore(d).list()).toHaveLength(1)
  })
})
