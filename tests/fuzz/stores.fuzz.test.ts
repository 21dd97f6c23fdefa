/**
 * Fuzz: settings and history files on disk, as another program or a broken disk may leave them.
 * Loading never throws, and what is loaded passes the contract's schemas, bounded.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import * as v from 'valibot'
import { afterAll, describe, expect, it } from 'vitest'
import { HISTORY_FILE, HISTORY_LIMIT, HistoryStore } from '../../src/main/core/history-store'
import { SETTINGS_FILE, SettingsStore } from '../../src/main/core/settings-store'
import { CallRecordSchema, SETTINGS_FIELD_SCHEMAS } from '../../src/shared/contract'
import {
  DEEP_ARRAY_TEXT,
  DEEP_OBJECT_TEXT,
  FUZZ_RUNS,
  FUZZ_SEED,
  hostileString,
  hostileValue
} from './hostile'

const dir = mkdtempSync(join(tmpdir(), 'gb-fuzz-stores-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const settingsLike = fc.record(
  {
    serverUrl: fc.oneof(
      fc.constantFrom('', 'ws://127.0.0.1:1/channel', 'http://x/', 'ws://u:p@h/'),
      hostileValue
    ),
    deviceUuid: fc.oneof(hostileString, hostileValue),
    consoleUuid: hostileString,
    language: fc.oneof(fc.constantFrom('ko', 'en', 'auto', 'fr'), hostileValue),
    autoStartAudio: hostileValue,
    inputDeviceId: hostileString,
    outputDeviceId: hostileString,
    audioProcessing: fc.oneof(
      hostileValue,
      fc.dictionary(
        hostileString,
        fc.record({
          echoCancellation: fc.boolean(),
          noiseSuppression: hostileValue,
          autoGainControl: fc.boolean()
        }),
        { maxKeys: 80 }
      )
    ),
    qualityAlarms: fc.oneof(
      hostileValue,
      fc.record({ lossPercent: hostileValue, jitterMs: fc.double(), rttMs: fc.integer() })
    )
  },
  { requiredKeys: [] }
)

const recordLike = fc.record(
  {
    role: fc.oneof(fc.constantFrom('speaker', 'console'), hostileValue),
    sessionid: hostileString,
    localId: hostileString,
    startedAt: fc.oneof(fc.integer({ min: 0, max: 2e12 }), hostileValue),
    endedAt: fc.oneof(fc.integer({ min: 0, max: 2e12 }), hostileValue),
    outcome: hostileString,
    extra: hostileValue
  },
  { requiredKeys: [] }
)

/** What a file may hold: bytes, text, JSON of any shape, or of nearly the right shape. */
const content = (shape: fc.Arbitrary<unknown>): fc.Arbitrary<string | Uint8Array> =>
  fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    hostileString,
    hostileValue.map((x) => JSON.stringify(x) ?? ''),
    shape.map((x) => JSON.stringify(x)),
    fc.array(shape, { maxLength: 30 }).map((x) => JSON.stringify(x)),
    fc.constantFrom(DEEP_ARRAY_TEXT, DEEP_OBJECT_TEXT, '', '{', 'null', '[null]', '\ufeff{}')
  )

describe('fuzz: settings and history files', () => {
  it(`loads ${FUZZ_RUNS.settingsFile} hostile settings files into valid settings`, async () => {
    await fc.assert(
      fc.asyncProperty(content(settingsLike), async (text) => {
        writeFileSync(join(dir, SETTINGS_FILE), text)
        const settings = await new SettingsStore(dir).load()
        for (const key of Object.keys(SETTINGS_FIELD_SCHEMAS) as (keyof typeof SETTINGS_FIELD_SCHEMAS)[])
          expect(v.is(SETTINGS_FIELD_SCHEMAS[key], settings[key]), key).toBe(true)
        expect(Object.keys(settings).sort()).toEqual(Object.keys(SETTINGS_FIELD_SCHEMAS).sort())
        JSON.stringify(settings)
      }),
      { seed: FUZZ_SEED, numRuns: FUZZ_RUNS.settingsFile }
    )
  }, 120_000)

  it(`loads ${FUZZ_RUNS.historyFile} hostile history files into valid records, at most ${HISTORY_LIMIT}`, async () => {
    await fc.assert(
      fc.asyncProperty(content(recordLike), async (text) => {
        writeFileSync(join(dir, HISTORY_FILE), text)
        const records = await new HistoryStore(dir).list()
        expect(records.length).toBeLessThanOrEqual(HISTORY_LIMIT)
        for (const r of records) {
          expect(v.is(CallRecordSchema, r)).toBe(true)
          expect(Object.keys(r).sort()).toEqual([
            'endedAt',
            'localId',
            'outcome',
            'role',
            'sessionid',
            'startedAt'
          ])
        }
        JSON.stringify(records)
      }),
      { seed: FUZZ_SEED, numRuns: FUZZ_RUNS.historyFile }
    )
  }, 120_000)
})
