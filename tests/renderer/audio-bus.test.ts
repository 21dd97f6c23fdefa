import { afterEach, describe, expect, it, vi } from 'vitest'
import { AudioBus, type CallFeed } from '../../src/renderer/src/rtc/audio-bus'

/** A MediaStreamTrack as the bus uses it: clones are tracks of their own, with their origin. */
class FakeTrack {
  readonly kind = 'audio'
  readyState: 'live' | 'ended' = 'live'
  enabled = true
  constructor(readonly origin: string) {}
  clone(): FakeTrack {
    return new FakeTrack(this.origin)
  }
  stop(): void {
    this.readyState = 'ended'
  }
}

function fakeStream(track: FakeTrack): MediaStream {
  return { getAudioTracks: () => [track], getTracks: () => [track] } as unknown as MediaStream
}

const param = () => ({
  value: 1,
  cancelScheduledValues: vi.fn(),
  setValueAtTime: vi.fn(),
  setTargetAtTime: vi.fn(),
  linearRampToValueAtTime: vi.fn()
})
const node = () => ({ connect: vi.fn((n: unknown) => n), disconnect: vi.fn() })

/** Just enough of an AudioContext for the bus's graph; its output is the track "bus". */
function fakeContext() {
  const output = new FakeTrack('bus')
  return {
    state: 'running' as AudioContextState,
    currentTime: 0,
    createGain: () => ({ ...node(), gain: param() }),
    createMediaStreamDestination: () => ({ ...node(), channelCount: 2, stream: fakeStream(output) }),
    createMediaStreamSource: () => node(),
    createOscillator: () => ({ ...node(), frequency: { value: 0 }, start: vi.fn(), stop: vi.fn() }),
    createBufferSource: () => ({ ...node(), buffer: null, onended: null, start: vi.fn(), stop: vi.fn() }),
    resume: vi.fn(async () => undefined),
    suspend: vi.fn(async () => undefined),
    close: vi.fn(async () => undefined)
  }
}

function setup() {
  const ctx = fakeContext()
  const bus = new AudioBus(() => ctx as unknown as AudioContext)
  const mic = new FakeTrack('mic')
  return { ctx, bus, mic }
}

const origin = (feed: CallFeed) => (feed.track as unknown as FakeTrack).origin

afterEach(() => {
  vi.useRealTimers()
})

describe('AudioBus feeds', () => {
  it('a call carries the microphone itself while there is nothing to mix, and the bus before the microphone opens', () => {
    const { bus, mic } = setup()
    const feed = bus.callFeed()
    const swaps: MediaStreamTrack[] = []
    feed.onTrack = (t) => swaps.push(t)
    expect(origin(feed)).toBe('bus')

    const first = feed.track
    bus.setMicrophone(fakeStream(mic))

    expect(origin(feed)).toBe('mic')
    expect(feed.track).not.toBe(mic) // a clone: the call's track ends without ending the microphone
    expect(first.readyState).toBe('ended')
    expect(swaps).toHaveLength(1)
    expect(swaps[0]).toBe(feed.track)
    // A feed made now starts on the microphone at once.
    expect(origin(bus.callFeed())).toBe('mic')
  })

  it('a chime moves every call to the bus in the same turn, ending the microphone clone, and back after it', async () => {
    vi.useFakeTimers()
    const { bus, mic } = setup()
    bus.setMicrophone(fakeStream(mic))
    const feed = bus.callFeed()
    feed.track.enabled = false // this call is not routed to the operator
    const direct = feed.track

    const chimed = bus.chime('single')
    // Before any await: a call routed in this turn must hear the chime first, not the microphone.
    expect(origin(feed)).toBe('bus')
    expect(direct.readyState).toBe('ended')
    expect(feed.track.enabled).toBe(false) // the call's own choice is kept

    await vi.advanceTimersByTimeAsync(2000)
    await chimed
    expect(origin(feed)).toBe('mic')
    expect(feed.track.enabled).toBe(false)
    expect(mic.readyState).toBe('live')
  })

  it('muting goes through the bus (its microphone gain), and unmuting comes back to the microphone', () => {
    const { bus, mic } = setup()
    bus.setMicrophone(fakeStream(mic))
    const feed = bus.callFeed()
    bus.setMicrophoneOpen(false)
    expect(origin(feed)).toBe('bus')
    const held = feed.track
    bus.setMicrophoneOpen(false) // no change: no new track
    expect(feed.track).toBe(held)
    bus.setMicrophoneOpen(true)
    expect(origin(feed)).toBe('mic')
  })

  it('another microphone gives every direct call a clone of the new one; none leaves the calls on the bus', () => {
    const { bus, mic } = setup()
    bus.setMicrophone(fakeStream(mic))
    const feed = bus.callFeed()
    const old = feed.track
    const other = new FakeTrack('other mic')
    bus.setMicrophone(fakeStream(other))
    expect(old.readyState).toBe('ended')
    expect(origin(feed)).toBe('other mic')
    expect(feed.track).not.toBe(old)

    bus.setMicrophone(null)
    expect(origin(feed)).toBe('bus')
  })

  it('a message holds the microphone back for as long as it plays', async () => {
    const { bus, mic, ctx } = setup()
    bus.setMicrophone(fakeStream(mic))
    const feed = bus.callFeed()
    let source: { onended: (() => void) | null } | null = null
    const create = ctx.createBufferSource
    ctx.createBufferSource = () => (source = create())
    const playing = bus.playMessage({} as AudioBuffer)
    await vi.waitFor(() => expect(source).not.toBeNull())
    expect(origin(feed)).toBe('bus')
    source!.onended!()
    await playing
    expect(origin(feed)).toBe('mic')
  })

  it('a chime and then a message, held as one, keep every call on the bus between them', async () => {
    vi.useFakeTimers()
    const { bus, mic, ctx } = setup()
    bus.setMicrophone(fakeStream(mic))
    const feed = bus.callFeed()
    const swaps: string[] = []
    feed.onTrack = (t) => swaps.push((t as unknown as FakeTrack).origin)
    let source: { onended: (() => void) | null } | null = null
    const create = ctx.createBufferSource
    ctx.createBufferSource = () => (source = create())

    const announced = bus.holding(async () => {
      await bus.chime('single')
      await bus.playMessage({} as AudioBuffer)
    })
    expect(origin(feed)).toBe('bus')
    await vi.advanceTimersByTimeAsync(2000) // the chime has sounded; the message is about to start
    await vi.waitFor(() => expect(source).not.toBeNull())
    expect(bus.playing).toBe('message')
    expect(swaps).toEqual(['bus']) // never back to the microphone in between
    source!.onended!()
    await announced
    expect(swaps).toEqual(['bus', 'mic'])
    expect(origin(feed)).toBe('mic')
  })

  it('a hold ends even when what it held fails', async () => {
    const { bus, mic } = setup()
    bus.setMicrophone(fakeStream(mic))
    const feed = bus.callFeed()
    await expect(
      bus.holding(async () => {
        expect(origin(feed)).toBe('bus')
        throw new Error('unreadable')
      })
    ).rejects.toThrow('unreadable')
    expect(origin(feed)).toBe('mic')
  })

  it('a released feed ends its track, and the audio thread rests with no call left', () => {
    const { bus, mic, ctx } = setup()
    bus.setMicrophone(fakeStream(mic))
    const feed = bus.callFeed()
    bus.releaseCallFeed(feed)
    expect(feed.track.readyState).toBe('ended')
    expect(bus.callCount).toBe(0)
    expect(ctx.suspend).toHaveBeenCalled()
    bus.setMicrophoneOpen(false) // a released feed is never moved again
    expect(origin(feed)).toBe('mic')
  })
})
