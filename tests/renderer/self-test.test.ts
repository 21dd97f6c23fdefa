import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { catalogs, translate } from '../../src/renderer/src/i18n'
import { setBridge } from '../../src/renderer/src/services/bridge'
import { type SelfTestResult, useSelfTestStore } from '../../src/renderer/src/stores/self-test'
import { BridgeError, type StubTransport, stubBridge } from './stub-bridge'

/** How the fake call of each test goes. */
const plan = vi.hoisted(() => ({
  ice: 'live' as 'live' | 'failed' | 'never',
  packets: 42,
  dbfs: -20
}))

vi.mock('../../src/renderer/src/rtc/peer-session', () => ({
  PeerSession: class {
    iceState = 'connected'
    private readonly handlers = new Map<string, (v: unknown) => void>()
    on(name: string, fn: (v: unknown) => void): void {
      this.handlers.set(name, fn)
    }
    once(name: string, fn: (v: unknown) => void): void {
      this.handlers.set(name, fn)
    }
    async start(): Promise<void> {
      if (plan.ice === 'never') return
      this.handlers.get('remoteStream')?.({})
      this.handlers.get('state')?.(plan.ice)
    }
    async stats(): Promise<Map<string, unknown>> {
      return new Map([['in', { type: 'inbound-rtp', kind: 'audio', packetsReceived: plan.packets }]])
    }
    async handle(): Promise<void> {}
    close(): void {}
  }
}))

vi.mock('../../src/renderer/src/rtc/level-meter', () => ({
  LevelMeter: class {
    read(): { dbfs: number } {
      return { dbfs: plan.dbfs }
    }
    dispose(): void {}
  }
}))

let transport: StubTransport
let getUserMedia: () => Promise<MediaStream>

beforeEach(() => {
  vi.useFakeTimers()
  setActivePinia(createPinia())
  const stub = stubBridge()
  transport = stub.transport
  setBridge(stub.bridge)
  transport
    .respond('app:info', () => ({ channelUrl: 'ws://127.0.0.1:1/channel' }))
    .respond('channel:create', () => ({ sessionid: 'S-TEST' }))
  Object.assign(plan, { ice: 'live', packets: 42, dbfs: -20 })
  const track = { label: 'USB mic', stop: () => undefined }
  getUserMedia = async () =>
    ({ getTracks: () => [track], getAudioTracks: () => [track] }) as unknown as MediaStream
  vi.stubGlobal('navigator', { mediaDevices: { getUserMedia: () => getUserMedia() } })
  vi.stubGlobal(
    'Audio',
    class {
      muted = false
      srcObject: unknown = null
      play = async (): Promise<void> => undefined
    }
  )
})

afterEach(() => {
  vi.unstubAllGlobals()
  vi.useRealTimers()
})

/** Runs the self-test, moving the fake clock on until it is done. */
async function run(): Promise<SelfTestResult> {
  let done = false
  const result = useSelfTestStore()
    .run()
    .finally(() => (done = true))
  for (let i = 0; i < 300 && !done; i++) await vi.advanceTimersByTimeAsync(100)
  return result
}

describe('self-test step details', () => {
  it('are messages with parameters, every one in both languages', async () => {
    const result = await run()
    expect(result.ok).toBe(true)
    expect(result.steps).toEqual([
      {
        step: 'server',
        ok: true,
        detail: { key: 'selftest.detail.server', params: { url: 'ws://127.0.0.1:1/channel' } }
      },
      {
        step: 'channel',
        ok: true,
        detail: { key: 'selftest.detail.channel', params: { session: 'S-TEST' } }
      },
      {
        step: 'microphone',
        ok: true,
        detail: { key: 'selftest.detail.microphone', params: { name: 'USB mic' } }
      },
      { step: 'ice', ok: true, detail: { key: 'ice.connected' } },
      { step: 'rtp', ok: true, detail: { key: 'selftest.detail.packets', params: { count: 42 } } },
      { step: 'level', ok: true, detail: { key: 'level.dbfs', params: { level: '-20.0' } } }
    ])
    for (const { detail } of result.steps) expect(catalogs.ko[detail.key]).toBeTruthy()
    expect(translate('ko', result.steps[4]!.detail.key, result.steps[4]!.detail.params)).toBe(
      '패킷 42개 받음'
    )
  })

  it.each([
    ['ICE fails', { ice: 'failed' }, 'ice', { key: 'ice.failed' }],
    [
      'ICE never connects',
      { ice: 'never' },
      'ice',
      { key: 'selftest.detail.timeout', params: { seconds: 10 } }
    ],
    ['no packets arrive', { packets: 0 }, 'rtp', { key: 'selftest.detail.noPackets' }],
    ['the audio is silent', { dbfs: -90 }, 'level', { key: 'level.dbfs', params: { level: '-90.0' } }]
  ] as const)('%s: the failed step says why in a message', async (_, change, step, detail) => {
    Object.assign(plan, change)
    const result = await run()
    expect(result.ok).toBe(false)
    expect(result.steps.at(-1)).toEqual({ step, ok: false, detail })
  })

  it('a refused microphone is explained by its own message', async () => {
    getUserMedia = () =>
      Promise.reject(Object.assign(new Error('Permission denied'), { name: 'NotAllowedError' }))
    const result = await run()
    expect(result.verdict).toBe('selftest.microphone')
    expect(result.steps.at(-1)).toEqual({ step: 'microphone', ok: false, detail: { key: 'mic.denied' } })
  })

  it('an error from elsewhere is shown after a translated lead-in', async () => {
    transport.respond('channel:connect', () => {
      throw new BridgeError(503, 'connect ECONNREFUSED')
    })
    const result = await run()
    expect(result.verdict).toBe('selftest.server')
    const { detail } = result.steps.at(-1)!
    expect(detail).toEqual({ key: 'selftest.detail.error', params: { detail: 'connect ECONNREFUSED' } })
    expect(translate('ko', detail.key, detail.params)).toBe('오류: connect ECONNREFUSED')
  })
})
