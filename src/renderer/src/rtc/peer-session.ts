/**
 * One WebRTC audio call over the channel (PROTOCOL.md §5–6), in a plain class (no Vue).
 * Only the device offers; the web side answers. Candidates are written in the reference shape
 * and read in both shapes. `close()` stops what this session owns and detaches every handler.
 */
import { Emitter } from '@shared/emitter'
import { type SignalPayload, candidatePayload, readSignal } from '@shared/protocol'

export type PeerRole = 'device' | 'web'

/** The call as a person sees it. */
export type CallState = 'idle' | 'offering' | 'answering' | 'connecting' | 'live' | 'ended' | 'failed'

export interface PeerSessionOptions {
  role: PeerRole
  /** Sends a signaling payload to the other side (a data frame through the channel). */
  signal: (payload: Record<string, unknown>) => void
  /**
   * The microphone to send (the web side always; the device only for two-way audio). The web side
   * may pass it still opening: the connection is made and the offer applied meanwhile.
   */
  localStream?: MediaStream | Promise<MediaStream> | null
  /** Device only: also receive... and send, when a local stream is given (two-way intercom). */
  iceServers?: RTCIceServer[]
  /** Factory for the peer connection (tests and diagnostics count them). */
  createPeerConnection?: (config: RTCConfiguration) => RTCPeerConnection
}

export type PeerEvents = {
  state: [state: CallState, detail?: string]
  ice: [state: RTCIceConnectionState]
  remoteStream: [stream: MediaStream]
  error: [error: Error]
  /** The device restarted ICE (1-based count). */
  restart: [count: number]
}

/** When ICE is lost the device restarts it through the relay (PROTOCOL.md §5 offers). */
export const ICE_RECOVERY = {
  /** `disconnected` often heals by itself; restart only if it lasts this long. */
  disconnectedGraceMs: 3_000,
  /** Restarts per call before it is declared failed. */
  maxRestarts: 3
} as const

/** Live peer connections across the page (for leak checks). */
export const livePeers = { count: 0 }

export class PeerSession extends Emitter<PeerEvents> {
  readonly role: PeerRole
  private pc: RTCPeerConnection | null
  private readonly signal: (payload: Record<string, unknown>) => void
  private localStream: MediaStream | null
  /** The microphone while it still opens (see PeerSessionOptions.localStream). */
  private localStreamOpening: Promise<MediaStream> | null
  private remoteStream: MediaStream | null = null
  private pendingCandidates: RTCIceCandidateInit[] = []
  private _state: CallState = 'idle'
  private closed = false
  /** Whether the microphone goes to this peer (see setSending). */
  private sending = true
  private restarts = 0
  private disconnectedTimer: ReturnType<typeof setTimeout> | null = null

  constructor(options: PeerSessionOptions) {
    super()
    this.role = options.role
    this.signal = options.signal
    const local = options.localStream ?? null
    this.localStream = local instanceof Promise ? null : local
    this.localStreamOpening = local instanceof Promise ? local : null
    const config: RTCConfiguration = { iceServers: options.iceServers ?? [] }
    this.pc = (options.createPeerConnection ?? ((c) => new RTCPeerConnection(c)))(config)
    livePeers.count += 1
    const pc = this.pc
    pc.onicecandidate = (ev) => {
      if (ev.candidate && ev.candidate.candidate) this.signal(candidatePayload(ev.candidate))
    }
    pc.oniceconnectionstatechange = () => {
      const ice = pc.iceConnectionState
      this.emit('ice', ice)
      this.clearDisconnectedTimer()
      if (ice === 'connected' || ice === 'completed') {
        this.setState('live')
      } else if (ice === 'disconnected' && this.role === 'device') {
        this.disconnectedTimer = setTimeout(() => {
          this.disconnectedTimer = null
          if (this.pc?.iceConnectionState === 'disconnected') void this.restartIce()
        }, ICE_RECOVERY.disconnectedGraceMs)
      } else if (ice === 'failed') {
        if (this.role === 'device' && this.restarts < ICE_RECOVERY.maxRestarts) void this.restartIce()
        else if (this.role === 'device')
          this.setState('failed', 'ICE failed: no network path between the two sides')
        // The web side waits for the device's restart offer; the device gives up after maxRestarts.
      }
    }
    pc.ontrack = (ev) => {
      const stream = ev.streams[0] ?? new MediaStream([ev.track])
      this.remoteStream = stream
      this.emit('remoteStream', stream)
    }
  }

  get state(): CallState {
    return this._state
  }

  get iceState(): RTCIceConnectionState {
    return this.pc?.iceConnectionState ?? 'closed'
  }

  get peerConnection(): RTCPeerConnection | null {
    return this.pc
  }

  get remote(): MediaStream | null {
    return this.remoteStream
  }

  /** Device: sends the offer (receive audio; also send it when a local stream was given). */
  async start(): Promise<void> {
    const pc = this.requirePc()
    if (this.role !== 'device') throw new Error('only the device sends offers (PROTOCOL.md §6)')
    const track = this.localStream?.getAudioTracks()[0]
    if (track && this.localStream)
      pc.addTransceiver(track, { direction: 'sendrecv', streams: [this.localStream] })
    else pc.addTransceiver('audio', { direction: 'recvonly' })
    this.setState('offering')
    const offer = await pc.createOffer()
    await pc.setLocalDescription(offer)
    this.signal({ type: 'offer', sdp: pc.localDescription?.sdp ?? offer.sdp ?? '' })
  }

  /**
   * Device: renegotiates with fresh ICE credentials through the relay, keeping the call (and its
   * tracks) as it is. Called when ICE fails or stays disconnected, or on request.
   */
  async restartIce(): Promise<void> {
    const pc = this.pc
    if (!pc || this.role !== 'device' || this.closed) return
    if (this.restarts >= ICE_RECOVERY.maxRestarts) {
      this.setState('failed', 'ICE failed: no network path between the two sides')
      return
    }
    this.restarts += 1
    this.emit('restart', this.restarts)
    this.setState('connecting', `restarting ICE (${this.restarts}/${ICE_RECOVERY.maxRestarts})`)
    try {
      pc.restartIce()
      const offer = await pc.createOffer({ iceRestart: true })
      await pc.setLocalDescription(offer)
      this.signal({ type: 'offer', sdp: pc.localDescription?.sdp ?? offer.sdp ?? '' })
    } catch (e) {
      this.emit('error', e instanceof Error ? e : new Error(String(e)))
    }
  }

  get restartCount(): number {
    return this.restarts
  }

  /** Handles a payload from the other side; unknown payloads are ignored (PROTOCOL.md §5). */
  async handle(data: unknown): Promise<void> {
    const signal = readSignal(data)
    if (!signal || this.closed) return
    try {
      await this.apply(signal)
    } catch (e) {
      const error = e instanceof Error ? e : new Error(String(e))
      this.emit('error', error)
      this.setState('failed', error.message)
    }
  }

  /**
   * Sends this call's audio or silence, without renegotiation and without replacing the track: the
   * call's own track (its feed of the console's audio bus) is enabled or disabled, so one bus can
   * talk to some calls and not to others (a zone, one speaker, all-call, push-to-talk).
   */
  setSending(sending: boolean): void {
    this.sending = sending
    this.applySending()
  }

  /**
   * Whether this call's sender carries live, enabled audio right now (what the far side hears):
   * the local track, once a sender carries it (a replaced track reaches the sender a moment later).
   */
  get sendingNow(): boolean {
    const sender = this.audioSender()
    const track = sender && this.localStream?.getAudioTracks()[0]
    return !!track && track.enabled && track.readyState === 'live'
  }

  /**
   * The call sends `track` from now on, in place of its local track (which its owner has ended):
   * the same kind of track, so nothing is renegotiated. Given while the microphone still opens, it
   * is the track the call starts with.
   */
  replaceLocalTrack(track: MediaStreamTrack): void {
    if (this.closed) return
    const stream = new MediaStream([track])
    if (this.localStreamOpening) {
      this.localStreamOpening = this.localStreamOpening.then(() => stream)
      return
    }
    this.localStream = stream
    this.applySending()
    const sender = this.audioSender()
    // A sender refuses once its connection is closed (the call is over then); refused on an open
    // one, the call would carry an ended track: said, rather than shown on air in silence.
    if (sender)
      void sender.replaceTrack(track).catch((e: unknown) => {
        if (!this.closed) this.emit('error', e instanceof Error ? e : new Error(String(e)))
      })
  }

  private audioSender(): RTCRtpSender | undefined {
    return this.pc?.getSenders().find((s) => s.track?.kind === 'audio')
  }

  private applySending(): void {
    for (const track of this.localStream?.getAudioTracks() ?? []) track.enabled = this.sending
  }

  /** Ends the call: tells the other side (bye) unless it ended it, and releases everything. */
  close(options: { sendBye?: boolean; reason?: string } = {}): void {
    if (this.closed) return
    this.closed = true
    this.clearDisconnectedTimer()
    if (options.sendBye !== false) {
      try {
        this.signal({ type: 'bye' })
      } catch {
        // The channel may already be gone; the other side learns from ICE instead.
      }
    }
    const pc = this.pc
    this.pc = null
    if (pc) {
      pc.onicecandidate = null
      pc.oniceconnectionstatechange = null
      pc.ontrack = null
      // Tracks this session received end with it; the microphone belongs to whoever passed it in.
      for (const r of pc.getReceivers()) r.track?.stop()
      pc.close()
      livePeers.count -= 1
    }
    this.remoteStream = null
    this.pendingCandidates = []
    this.setState('ended', options.reason)
    this.removeAllListeners()
  }

  async stats(): Promise<RTCStatsReport | null> {
    return this.pc ? this.pc.getStats() : null
  }

  private async apply(signal: SignalPayload): Promise<void> {
    const pc = this.requirePc()
    switch (signal.type) {
      case 'offer': {
        if (this.role !== 'web') return // an offer from the web side is not supported (§6)
        // A second offer on the same call is a renegotiation (an ICE restart): same tracks.
        const renegotiation = pc.remoteDescription !== null
        if (!renegotiation) this.setState('answering')
        await pc.setRemoteDescription({ type: 'offer', sdp: signal.sdp })
        // A track replaced while the stream opens chains onto it (see replaceLocalTrack): wait
        // until no newer one came meanwhile.
        while (this.localStreamOpening) {
          const opening = this.localStreamOpening
          const stream = await opening
          if (this.closed) return
          if (this.localStreamOpening !== opening) continue
          this.localStreamOpening = null
          this.localStream = stream
        }
        const stream = this.localStream
        if (!renegotiation) for (const track of stream?.getAudioTracks() ?? []) pc.addTrack(track, stream!)
        this.applySending() // a choice made while the stream was still opening
        const answer = await pc.createAnswer()
        await pc.setLocalDescription(answer)
        this.signal({ type: 'answer', sdp: pc.localDescription?.sdp ?? answer.sdp ?? '' })
        await this.flushCandidates()
        if (this._state === 'answering') this.setState('connecting')
        return
      }
      case 'answer':
        if (this.role !== 'device' || pc.signalingState !== 'have-local-offer') return
        await pc.setRemoteDescription({ type: 'answer', sdp: signal.sdp })
        await this.flushCandidates()
        if (this._state === 'offering') this.setState('connecting')
        // An ICE restart that keeps the existing path never leaves `connected`.
        if (pc.iceConnectionState === 'connected' || pc.iceConnectionState === 'completed')
          this.setState('live')
        return
      case 'candidate': {
        const init: RTCIceCandidateInit = {
          candidate: signal.candidate,
          sdpMid: signal.sdpMid,
          sdpMLineIndex: signal.sdpMLineIndex ?? (signal.sdpMid === null ? 0 : null)
        }
        if (!pc.remoteDescription) this.pendingCandidates.push(init)
        else await pc.addIceCandidate(init)
        return
      }
      case 'bye':
        this.close({ sendBye: false, reason: 'the other side ended the call' })
        return
    }
  }

  private clearDisconnectedTimer(): void {
    if (this.disconnectedTimer) clearTimeout(this.disconnectedTimer)
    this.disconnectedTimer = null
  }

  private async flushCandidates(): Promise<void> {
    const pc = this.pc
    if (!pc) return
    const queued = this.pendingCandidates
    this.pendingCandidates = []
    for (const c of queued) await pc.addIceCandidate(c)
  }

  private requirePc(): RTCPeerConnection {
    if (!this.pc) throw new Error('this call has ended')
    return this.pc
  }

  private setState(state: CallState, detail?: string): void {
    if (this._state === state) return
    this._state = state
    this.emit('state', state, detail)
  }
}
