import { describe, expect, it } from 'vitest'
import {
  MAX_TRACKED_STREAMS,
  NACK_RETRY_MS,
  SessionDelivery,
  readControl,
  readStamp
} from '../../src/main/channel/delivery'

function sendN(d: SessionDelivery, n: number, at = 0): void {
  for (let i = 0; i < n; i++) {
    const s = d.stamp('A')
    d.sent(s.seq, `frame ${s.seq}`, at)
  }
}

describe('SessionDelivery', () => {
  it('numbers frames from 1 and starts a receiver new to it at the current epoch', () => {
    const d = new SessionDelivery(100, 30_000)
    expect(d.stamp('A')).toEqual({ from: 'A', epoch: 1, seq: 1 })
    d.newEpoch()
    expect(d.stamp('A')).toEqual({ from: 'A', epoch: 2, seq: 2 })
    const r = new SessionDelivery(100, 30_000)
    // A newcomer takes the first frame of an epoch, not one from its middle.
    expect(r.receive({ from: 'A', epoch: 2, seq: 3 }, 0, 30_000)).toEqual({ deliver: false, nack: true })
    expect(r.receive({ from: 'A', epoch: 2, seq: 2 }, 0, 30_000)).toEqual({ deliver: true, missed: 0 })
    expect(r.receive({ from: 'A', epoch: 2, seq: 3 }, 0, 30_000)).toEqual({ deliver: true, missed: 0 })
    expect(r.receive({ from: 'A', epoch: 2, seq: 3 }, 0, 30_000)).toEqual({ deliver: false, nack: false })
    expect(r.acks()).toEqual({ A: 3 })
  })

  it('resends after an ack, with a skip when the first needed frames are no longer kept', () => {
    const d = new SessionDelivery(3, 30_000)
    sendN(d, 5)
    expect(d.keptFrames).toBe(3)
    expect(d.resendAfter(3, 0)).toEqual({ texts: ['frame 4', 'frame 5'] })
    expect(d.resendAfter(1, 10_000)).toEqual({ skip: 2, texts: ['frame 3', 'frame 4', 'frame 5'] })
    expect(d.resendAfter(5, 20_000)).toBeNull() // up to date
    expect(d.resendAfter(99, 20_000)).toBeNull() // claims more than was sent: ignored
  })

  it('does not repeat the same resend within NACK_RETRY_MS (repeated acks cost nothing)', () => {
    const d = new SessionDelivery(100, 30_000)
    sendN(d, 4)
    expect(d.resendAfter(2, 0)?.texts).toHaveLength(2)
    expect(d.resendAfter(2, NACK_RETRY_MS - 1)).toBeNull()
    expect(d.resendAfter(2, NACK_RETRY_MS)?.texts).toHaveLength(2)
  })

  it('forgets frames older than its time bound', () => {
    const d = new SessionDelivery(100, 1_000)
    sendN(d, 2, 0)
    sendN(d, 1, 5_000)
    expect(d.keptFrames).toBe(1)
    expect(d.resendAfter(0, 5_000)).toEqual({ skip: 2, texts: ['frame 3'] })
  })

  it('asks again for missing frames at most once per NACK_RETRY_MS, and gives up after the gap timeout', () => {
    const r = new SessionDelivery(100, 30_000)
    r.receive({ from: 'A', epoch: 1, seq: 1 }, 0, 5_000)
    expect(r.receive({ from: 'A', epoch: 1, seq: 3 }, 0, 5_000)).toEqual({ deliver: false, nack: true })
    expect(r.receive({ from: 'A', epoch: 1, seq: 4 }, 10, 5_000)).toEqual({ deliver: false, nack: false })
    expect(r.receive({ from: 'A', epoch: 1, seq: 4 }, NACK_RETRY_MS + 10, 5_000)).toEqual({
      deliver: false,
      nack: true
    })
    expect(r.receive({ from: 'A', epoch: 1, seq: 6 }, 6_000, 5_000)).toEqual({ deliver: true, missed: 4 })
    expect(r.acks()).toEqual({ A: 6 })
  })

  it('a skip moves a receiver on and says how many frames it misses', () => {
    const r = new SessionDelivery(100, 30_000)
    r.receive({ from: 'A', epoch: 1, seq: 1 }, 0, 30_000)
    expect(r.skip('A', 4)).toBe(3)
    expect(r.skip('A', 2)).toBe(0)
    expect(r.receive({ from: 'A', epoch: 1, seq: 5 }, 0, 30_000)).toEqual({ deliver: true, missed: 0 })
  })

  it('tracks a bounded number of streams, whatever a peer invents', () => {
    const r = new SessionDelivery(100, 30_000)
    for (let i = 0; i < MAX_TRACKED_STREAMS * 10; i++)
      r.receive({ from: `s${i}`, epoch: 1, seq: 1 }, 0, 30_000)
    expect(Object.keys(r.acks())).toHaveLength(MAX_TRACKED_STREAMS)
    r.reset()
    expect(r.acks()).toEqual({})
  })
})

describe('reading delivery keys', () => {
  it('treats anything malformed as unstamped, never throws', () => {
    expect(readStamp({ from: 'A', epoch: 1, seq: 2 })).toEqual({ from: 'A', epoch: 1, seq: 2 })
    for (const bad of [
      null,
      'x',
      [],
      { from: '', epoch: 1, seq: 1 },
      { from: 'A'.repeat(65), epoch: 1, seq: 1 },
      { from: 'A', epoch: 2, seq: 1 },
      { from: 'A', epoch: 0, seq: 1 },
      { from: 'A', epoch: 1, seq: 1.5 },
      { from: 'A', epoch: 1, seq: Number.MAX_SAFE_INTEGER + 2 }
    ]) {
      expect(readStamp(bad), JSON.stringify(bad)).toBeNull()
    }
  })

  it('reads only its own entry of an ack map', () => {
    const c = readControl(
      { type: 'delivery', from: 'B', ack: { me: 7, other: 3 }, resume: true, skip: 2 },
      'me'
    )
    expect(c).toEqual({ from: 'B', hasAck: true, ackForMe: 7, resume: true, skip: 2 })
    expect(readControl({ type: 'delivery', from: 'B', ack: { other: 3 } }, 'me')).toMatchObject({
      hasAck: true,
      ackForMe: undefined
    })
    expect(readControl({ type: 'delivery', from: 'B', ack: { me: -1 } }, 'me')?.ackForMe).toBeUndefined()
    expect(
      readControl({ type: 'delivery', from: 'B', ack: { __proto__: 5 } }, '__proto__')?.ackForMe
    ).toBeUndefined()
    expect(readControl({ type: 'offer', from: 'B' }, 'me')).toBeNull()
    expect(readControl({ type: 'delivery' }, 'me')).toBeNull()
  })
})
