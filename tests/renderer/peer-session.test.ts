import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ICE_RECOVERY, PeerSession, livePeers } from '../../src/renderer/src/rtc/peer-session'

/** Just enough of RTCPeerConnection to drive PeerSession's logic; ICE state is set by the test. */
class FakePeerConnection {
  iceConnectionState: RTCIceConnectionState = 'new'
  signalingState: RTCSignalingState = 'stable'
  localDescription: RTCSessionDescriptionInit | null = null
  remoteDescription: RTCSessionDescriptionInit | null = null
  onicecandidate: ((e: { candidate: unknown }) => void) | null = null
  oniceconnectionstatechange: (() => void) | null = null
  ontrack: ((e: unknown) => void) | null = null
  offers: (RTCOfferOptions | undefined)[] = []
  restarts = 0
  tracksAdded = 0
  candidates: RTCIceCandidateInit[] = []
  closed = false

  /** Senders hold their track; routing only enables it, and only a new track replaces it. */
  senders: { track: MediaStreamTrack; replaceTrack(t: MediaStreamTrack): Promise<void> }[] = []
  replaced: MediaStreamTrack[] = []

  addTransceiver(): void {}
  addTrack(track: MediaStreamTrack): void {
    this.tracksAdded++
    const replaced = this.replaced
    const sender = {
      track,
      async replaceTrack(t: MediaStreamTrack): Promise<void> {
        replaced.push(t)
        await Promise.resolve() // as in a browser, the sender has the track a moment later
        sender.track = t
      }
    }
    this.senders.push(sender)
  }
  async createOffer(options?: RTCOfferOptions): Promise<RTCSessionDescriptionInit> {
    this.offers.push(options)
    return { type: 'offer', sdp: `offer-${this.offers.length}` }
  }
  async createAnswer(): Promise<RTCSessionDescriptionInit> {
    return { type: 'answer', sdp: 'answer' }
  }
  async setLocalDescription(d: RTCSessionDescriptionInit): Promise<void> {
    this.localDescription = d
    this.signalingState = d.type === 'offer' ? 'have-local-offer' : 'stable'
  }
  async setRemoteDescription(d: RTCSessionDescriptionInit): Promise<void> {
    this.remoteDescription = d
    this.signalingState = d.type === 'offer' ? 'have-remote-offer' : 'stable'
  }
  async addIceCandidate(c: RTCIceCandidateInit): Promise<void> {
    this.candidates.push(c)
  }
  restartIce(): void {
    this.restarts++
  }
  getSenders(): RTCRtpSender[] {
    return this.senders as unknown as RTCRtpSender[]
  }
  getReceivers(): RTCRtpReceiver[] {
    return []
  }
  close(): void {
    this.closed = true
  }
  setIce(state: RTCIceConnectionState): void {
    this.iceConnectionState = state
    this.oniceconnectionstatechange?.()
  }
}

let fake: FakePeerConnection
let sent: Record<string, unknown>[]

function session(role: 'device' | 'web', localStream?: MediaStream | Promise<MediaStream>): PeerSession {
  fake = new FakePeerConnection()
  sent = []
  return new PeerSession({
    role,
    ...(localStream ? { localStream } : {}),
    signal: (p) => sent.push(p),
    createPeerConnection: () => fake as unknown as RTCPeerConnection
  })
}

const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await Promise.resolve()
}

beforeEach(() => vi.useFakeTimers())
afterEach(() => vi.useRealTimers())

describe('ICE recovery on the device', () => {
  it('restarts ICE through the relay when disconnected lasts past the grace', async () => {
    const s = session('device')
    await s.start()
    fake.setIce('connected')
    fake.setIce('disconnected')
    await vi.advanceTimersByTimeAsync(ICE_RECOVERY.disconnectedGraceMs - 1)
    expect(fake.restarts).toBe(0)
    await vi.advanceTimersByTimeAsync(1)
    await flush()
    expect(fake.restarts).toBe(1)
    expect(fake.offers.at(-1)).toEqual({ iceRestart: true })
    expect(sent.at(-1)).toEqual({ type: 'offer', sdp: 'offer-2' })
    expect(s.state).toBe('connecting')
  })

  it('does not restart when the connection heals within the grace', async () => {
    const s = session('device')
    await s.start()
    fake.setIce('connected')
    fake.setIce('disconnected')
    await vi.advanceTimersByTimeAsync(ICE_RECOVERY.disconnectedGraceMs / 2)
    fake.setIce('connected')
    await vi.advanceTimersByTimeAsync(ICE_RECOVERY.disconnectedGraceMs * 2)
    expect(fake.restarts).toBe(0)
    expect(s.state).toBe('live')
  })

  it('restarts at once on failure, and gives up after the limit', async () => {
    const s = session('device')
    await s.start()
    for (let i = 1; i <= ICE_RECOVERY.maxRestarts; i++) {
      fake.setIce('failed')
      await flush()
      expect(fake.restarts).toBe(i)
    }
    fake.setIce('failed')
    await flush()
    expect(fake.restarts).toBe(ICE_RECOVERY.maxRestarts)
    expect(s.state).toBe('failed')
  })

  it('a restart answered while the path held returns to live', async () => {
    const s = session('device')
    await s.start()
    await s.handle({ type: 'answer', sdp: 'a1' })
    fake.setIce('connected')
    await s.restartIce()
    expect(s.state).toBe('connecting')
    await s.handle({ type: 'answer', sdp: 'a2' })
    expect(s.state).toBe('live')
  })

  it('leaves no timer behind when closed while disconnected', async () => {
    const before = livePeers.count
    const s = session('device')
    await s.start()
    fake.setIce('disconnected')
    s.close()
    expect(vi.getTimerCount()).toBe(0)
    expect(fake.closed).toBe(true)
    expect(livePeers.count).toBe(before)
  })
})

describe('the web side', () => {
  it('answers a renegotiation offer on the same call without adding its tracks again', async () => {
    const track = { kind: 'audio' } as MediaStreamTrack
    const stream = { getAudioTracks: () => [track] } as unknown as MediaStream
    const s = session('web', stream)
    await s.handle({ type: 'offer', sdp: 'o1' })
    await s.handle({ type: 'offer', sdp: 'o2' })
    expect(fake.tracksAdded).toBe(1)
    expect(sent.filter((p) => p.type === 'answer')).toHaveLength(2)
  })

  it('applies the offer while the microphone still opens, and answers once it is open', async () => {
    const track = { kind: 'audio' } as MediaStreamTrack
    let open: (s: MediaStream) => void = () => undefined
    const microphone = new Promise<MediaStream>((resolve) => (open = resolve))
    const s = session('web', microphone)
    const answered = s.handle({ type: 'offer', sdp: 'o1' })
    await vi.waitFor(() => expect(fake.remoteDescription).toEqual({ type: 'offer', sdp: 'o1' }))
    expect(fake.tracksAdded).toBe(0)
    expect(sent).toEqual([])
    open({ getAudioTracks: () => [track] } as unknown as MediaStream)
    await answered
    expect(fake.tracksAdded).toBe(1)
    expect(sent).toEqual([{ type: 'answer', sdp: 'answer' }])
  })

  it('fails without answering when the microphone cannot be opened', async () => {
    const s = session('web', Promise.reject(new Error('NotAllowedError')))
    const states: string[] = []
    s.on('state', (state) => states.push(state))
    await s.handle({ type: 'offer', sdp: 'o1' })
    expect(states).toEqual(['answering', 'failed'])
    expect(sent).toEqual([])
    s.close()
  })

  it('queues candidates that arrive before the offer, in both shapes', async () => {
    const s = session('web')
    await s.handle({ type: 'candidate', label: 0, id: '0', candidate: 'candidate:a' })
    await s.handle({
      type: 'candidate',
      candidate: { candidate: 'candidate:b', sdpMid: '0', sdpMLineIndex: 0 }
    })
    expect(fake.candidates).toEqual([])
    await s.handle({ type: 'offer', sdp: 'o1' })
    expect(fake.candidates.map((c) => c.candidate)).toEqual(['candidate:a', 'candidate:b'])
  })

  it('never offers', async () => {
    await expect(session('web').start()).rejects.toThrow(/only the device/)
  })
})

describe('routing a call without renegotiation', () => {
  it('enables or disables the call’s own track, also when chosen while its stream still opened, and reads it back', async () => {
    const track = { kind: 'audio', enabled: true, readyState: 'live' } as MediaStreamTrack
    const stream = { getAudioTracks: () => [track], getTracks: () => [track] } as unknown as MediaStream
    let open!: (s: MediaStream) => void
    const s = session('web', new Promise<MediaStream>((r) => (open = r)))
    s.setSending(false) // before the offer, while the stream opens
    const answered = s.handle({ type: 'offer', sdp: 'v=0' })
    open(stream)
    await answered
    expect(fake.senders.map((x) => x.track)).toEqual([track])
    expect(track.enabled).toBe(false)
    expect(s.sendingNow).toBe(false)
    s.setSending(true)
    expect(track.enabled).toBe(true)
    expect(s.sendingNow).toBe(true)
    expect(fake.offers).toEqual([]) // nothing renegotiated
    ;(track as { readyState: string }).readyState = 'ended'
    expect(s.sendingNow).toBe(false)
  })
})

describe('a new local track (the console moves a call between its microphone and its audio bus)', () => {
  const track = (): MediaStreamTrack =>
    ({ kind: 'audio', enabled: true, readyState: 'live' }) as unknown as MediaStreamTrack
  const streamOf = (t: MediaStreamTrack): MediaStream =>
    ({ getAudioTracks: () => [t], getTracks: () => [t] }) as unknown as MediaStream

  beforeEach(() => {
    vi.stubGlobal(
      'MediaStream',
      class {
        constructor(private readonly tracks: MediaStreamTrack[]) {}
        getAudioTracks(): MediaStreamTrack[] {
          return this.tracks
        }
        getTracks(): MediaStreamTrack[] {
          return this.tracks
        }
      }
    )
  })
  afterEach(() => vi.unstubAllGlobals())

  /** A web session that has answered with `first` as its local track. */
  async function answered(first: MediaStreamTrack): Promise<PeerSession> {
    const s = session('web', streamOf(first))
    await s.handle({ type: 'offer', sdp: 'v=0' })
    return s
  }

  /**
   * A web session whose local track is replaced while its microphone still opens, before the offer
   * is applied or (`afterOffer`) once the answer waits for the microphone; it then answers.
   */
  async function replacedWhileOpening(afterOffer: boolean): Promise<MediaStreamTrack> {
    let open!: (s: MediaStream) => void
    const s = session('web', new Promise<MediaStream>((r) => (open = r)))
    const answering = s.handle({ type: 'offer', sdp: 'v=0' })
    if (afterOffer) for (let i = 0; i < 50; i++) await Promise.resolve()
    const next = track()
    s.replaceLocalTrack(next)
    open(streamOf(track()))
    await answering
    return next
  }

  it('replaces the sender’s track, keeps the call’s routing, and renegotiates nothing', async () => {
    const s = await answered(track())
    s.setSending(false)
    const next = track()
    s.replaceLocalTrack(next)
    await flush()
    expect(fake.replaced).toHaveLength(1)
    expect(fake.replaced[0]).toBe(next)
    expect(fake.senders).toHaveLength(1)
    expect(fake.senders[0]!.track).toBe(next)
    expect(next.enabled).toBe(false) // not routed: the new track is not heard either
    expect(s.sendingNow).toBe(false)
    s.setSending(true)
    expect(next.enabled).toBe(true)
    expect(s.sendingNow).toBe(true)
    expect(fake.tracksAdded).toBe(1) // nothing renegotiated: one track added, one answer sent
    expect(sent.filter((p) => p.type === 'answer')).toHaveLength(1)
  })

  it('reads the new track as what the call sends before the sender has it', async () => {
    const first = track()
    const s = await answered(first)
    ;(first as { readyState: string }).readyState = 'ended' // its owner ends it as it hands over
    const next = track()
    s.replaceLocalTrack(next) // replaceTrack has not resolved yet
    expect(fake.senders[0]!.track).toBe(first)
    expect(s.sendingNow).toBe(true)
  })

  it('does nothing once the call is closed', async () => {
    const s = await answered(track())
    s.close()
    s.replaceLocalTrack(track())
    await flush()
    expect(fake.replaced).toHaveLength(0)
  })

  it('given while the microphone still opens, is the track the call starts with', async () => {
    const next = await replacedWhileOpening(false)
    expect(fake.senders).toHaveLength(1)
    expect(fake.senders[0]!.track).toBe(next)
    expect(fake.replaced).toEqual([])
  })

  it('given after the offer while the microphone still opens, is still the track the call starts with', async () => {
    const next = await replacedWhileOpening(true)
    expect(fake.senders).toHaveLength(1)
    expect(fake.senders[0]!.track).toBe(next)
  })
})
