import { describe, expect, it } from 'vitest'
import { QUALITY_THRESHOLDS, readQuality } from '../../src/renderer/src/rtc/call-quality'

type Stat = Record<string, unknown> & { type: string }
const report = (...stats: Stat[]): Map<string, Stat> => new Map(stats.map((s, i) => [String(i), s]))

describe('call quality', () => {
  it('reads loss, jitter, round trip and level from the stats report', () => {
    const { quality } = readQuality(
      report(
        {
          type: 'inbound-rtp',
          kind: 'audio',
          packetsReceived: 980,
          packetsLost: 20,
          jitter: 0.012,
          audioLevel: 0.25
        },
        { type: 'outbound-rtp', kind: 'audio', packetsSent: 1000 },
        { type: 'remote-inbound-rtp', kind: 'audio', roundTripTime: 0.042 }
      )
    )
    expect(quality).toMatchObject({
      lossPercent: 2,
      jitterMs: 12,
      rttMs: 42,
      audioLevel: 0.25,
      packetsReceived: 980,
      packetsSent: 1000,
      alarms: []
    })
  })

  it('measures loss over the last interval only', () => {
    const first = readQuality(
      report({ type: 'inbound-rtp', kind: 'audio', packetsReceived: 1000, packetsLost: 0 })
    )
    const { quality } = readQuality(
      report({ type: 'inbound-rtp', kind: 'audio', packetsReceived: 1090, packetsLost: 10 }),
      first.counters
    )
    expect(quality.lossPercent).toBeCloseTo(10)
    expect(quality.alarms).toEqual(['loss'])
  })

  it('raises an alarm for each threshold crossed', () => {
    const { quality } = readQuality(
      report(
        {
          type: 'inbound-rtp',
          kind: 'audio',
          packetsReceived: 100,
          packetsLost: 0,
          jitter: (QUALITY_THRESHOLDS.jitterMs + 1) / 1000
        },
        {
          type: 'candidate-pair',
          state: 'succeeded',
          nominated: true,
          currentRoundTripTime: (QUALITY_THRESHOLDS.rttMs + 1) / 1000
        }
      )
    )
    expect(quality.alarms).toEqual(['jitter', 'rtt'])
  })

  it('uses the thresholds it is given (the console settings) instead of the defaults', () => {
    const stats = report(
      { type: 'inbound-rtp', kind: 'audio', packetsReceived: 100, packetsLost: 0, jitter: 0.002 },
      { type: 'candidate-pair', state: 'succeeded', nominated: true, currentRoundTripTime: 0.001 }
    )
    expect(readQuality(stats).quality.alarms).toEqual([])
    expect(readQuality(stats, undefined, { lossPercent: 5, jitterMs: 1, rttMs: 0 }).quality.alarms).toEqual([
      'jitter',
      'rtt'
    ])
  })

  it('reports nothing measured as null, not zero', () => {
    expect(readQuality(report()).quality).toMatchObject({
      lossPercent: null,
      jitterMs: null,
      rttMs: null,
      audioLevel: null,
      alarms: []
    })
  })
})
