import { createPinia, setActivePinia } from 'pinia'
import { beforeEach, describe, expect, it } from 'vitest'
import { nextTick } from 'vue'
import type { CallRecord } from '../../src/shared/contract'
import { translate } from '../../src/renderer/src/i18n'
import { setBridge } from '../../src/renderer/src/services/bridge'
import { useConsoleStore } from '../../src/renderer/src/stores/console'
import { outcomeKey, useHistoryStore } from '../../src/renderer/src/stores/history'
import { BridgeError, type StubTransport, stubBridge } from './stub-bridge'

let transport: StubTransport

beforeEach(() => {
  setActivePinia(createPinia())
  const stub = stubBridge()
  transport = stub.transport
  setBridge(stub.bridge)
})

const record = (outcome: string): CallRecord => ({
  role: 'console',
  sessionid: 'S1',
  localId: 'C1',
  startedAt: 1_000,
  endedAt: 5_000,
  outcome
})

describe('call outcomes', () => {
  it('every outcome a call can end with is shown in the person’s language', () => {
    for (const outcome of ['idle', 'joined', 'offering', 'answering', 'connecting', 'ended', 'failed'])
      expect(outcomeKey(outcome), outcome).not.toBeNull()
    expect(outcomeKey('joined')).toBe('history.outcome.hungUp')
    expect(outcomeKey('failed')).toBe('call.failed')
    expect(translate('ko', outcomeKey('ended')!)).toBe('통화 종료')
  })

  it('a session that went away is stored as a code; records that hold the English text read the same', () => {
    expect(outcomeKey('sessionEnded')).toBe('history.outcome.sessionEnded')
    expect(outcomeKey('session ended')).toBe('history.outcome.sessionEnded')
    expect(translate('ko', outcomeKey('session ended')!)).toBe('세션 종료됨')
  })

  it('an outcome this version does not know is left to be shown as stored', () => {
    expect(outcomeKey('hung up by the moon')).toBeNull()
    expect(outcomeKey('constructor')).toBeNull()
  })

  it('a console call whose session is destroyed is recorded as sessionEnded', async () => {
    const history = useHistoryStore()
    const operator = useConsoleStore()
    history.start()
    operator.calls['S1'] = {
      sessionid: 'S1',
      connectionId: 'console',
      state: 'live',
      ice: 'connected',
      error: null,
      talk: true,
      volume: 1
    }
    await nextTick()
    delete operator.calls['S1']
    await nextTick()
    expect(transport.callsOf('history:add')).toMatchObject([{ sessionid: 'S1', outcome: 'sessionEnded' }])
  })
})

describe('history that cannot be read or cleared', () => {
  it('a failed load says so, rather than that there are no calls', async () => {
    transport.respond('history:list', () => {
      throw new BridgeError(500, 'unreadable file')
    })
    const history = useHistoryStore()
    await history.load()
    expect(history.loaded).toBe(false)
    expect(history.error).toEqual({ key: 'history.loadFailed', detail: 'unreadable file' })

    transport.respond('history:list', () => [record('ended')])
    await history.load()
    expect(history.loaded).toBe(true)
    expect(history.error).toBeNull()
  })

  it('a failed clear says so and keeps the records shown', async () => {
    transport
      .respond('history:list', () => [record('ended')])
      .respond('history:clear', () => {
        throw new BridgeError(500, 'read-only')
      })
    const history = useHistoryStore()
    await history.load()
    await history.clear()
    expect(history.error).toEqual({ key: 'history.clearFailed', detail: 'read-only' })
    expect(history.records).toHaveLength(1)
  })
})
