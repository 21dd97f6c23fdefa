/**
 * The console's audio bus, a plain class (no Vue): one WebAudio graph mixing the chime, a recorded
 * message and the operator's microphone into one output track. Each call has a feed (see
 * `callFeed`): the track it sends, enabled (heard) or not per call, so who hears the operator is
 * chosen per call and nothing is renegotiated.
 *
 *   microphone ─ micGain ─┐
 *   chime ─── chimeGain ──┼─ master ─ output track (cloned per call while the bus mixes)
 *   message ─ messageGain ┘
 *
 * While there is nothing to mix (no chime, no message, the microphone open), a feed carries a clone
 * of the microphone's own track instead: the graph's way from the microphone to a call (its input
 * buffer and render quanta) costs about 10 ms of mouth-to-ear delay, and a call set up through it
 * reaches first audio that much later (docs/BENCHMARKS.md, "Call setup and the audio bus"). The
 * moment the bus has something to mix, or the operator mutes, every feed moves to the graph's
 * output, the microphone's clone ended at once so that nothing of it is heard ahead of the chime.
 */
import type { ChimeChoice } from '@shared/directory'
import { Emitter } from '@shared/emitter'

/**
 * Notes of each chime: frequency (Hz) and length (s). Kept clear of the tones the tests send
 * (440 Hz, 700 Hz, 1 kHz, each ±50 Hz), so that a chime is never taken for the microphone.
 */
export const CHIME_NOTES: Record<Exclude<ChimeChoice, 'off'>, readonly { hz: number; s: number }[]> = {
  'two-tone': [
    { hz: 1319, s: 0.45 },
    { hz: 880, s: 0.6 }
  ],
  single: [{ hz: 1568, s: 0.7 }]
}

/** Level of the chime and of a message on the bus (0..1): below full scale, as paging systems do. */
export const BUS_LEVELS = { chime: 0.5, message: 0.9, microphone: 1 } as const
/** Gain changes ramp over this long, so that gating the microphone does not click. */
const RAMP_S = 0.015

export type BusEvents = {
  /** What the bus is playing besides the microphone changed. */
  playing: [what: 'chime' | 'message' | null]
}

/**
 * What one call sends: `track` now, and `onTrack` is told when the bus gives it another (the call
 * then sends that one instead; the old one has ended).
 */
export interface CallFeed {
  readonly track: MediaStreamTrack
  onTrack: ((track: MediaStreamTrack) => void) | null
}

interface Feed extends CallFeed {
  track: MediaStreamTrack
  /** Whether `track` is a clone of the microphone's track (else of the bus output). */
  direct: boolean
}

export class AudioBus extends Emitter<BusEvents> {
  private ctx: AudioContext | null = null
  private master: GainNode | null = null
  private micGain: GainNode | null = null
  private output: MediaStreamAudioDestinationNode | null = null
  private micSource: MediaStreamAudioSourceNode | null = null
  /** The microphone's own track, which feeds clone while the bus has nothing to mix. */
  private micTrack: MediaStreamTrack | null = null
  private message: AudioBufferSourceNode | null = null
  private chimeUntil = 0
  /** Sequences that hold the microphone back from start to end (see `holding`). */
  private holds = 0
  private micOpen = true
  private readonly feeds = new Set<Feed>()
  private _playing: 'chime' | 'message' | null = null

  constructor(private readonly createContext: () => AudioContext = () => new AudioContext()) {
    super()
  }

  /** The bus output as a stream (for its level meter); null before the first call. */
  get stream(): MediaStream | null {
    return this.output?.stream ?? null
  }

  /** Calls holding a feed of the bus. */
  get callCount(): number {
    return this.feeds.size
  }

  get playing(): 'chime' | 'message' | null {
    return this._playing
  }

  /** A feed for one call, enabled (heard) or not per call through its track. */
  callFeed(): CallFeed {
    this.graph()
    const direct = this.mixFree()
    const feed: Feed = { track: this.feedTrack(direct), direct, onTrack: null }
    this.feeds.add(feed)
    return feed
  }

  /** The call is over: its track stops, and with no call left the audio thread rests. */
  releaseCallFeed(feed: CallFeed): void {
    feed.track.stop()
    this.feeds.delete(feed as Feed)
    if (this.feeds.size === 0 && this.ctx?.state === 'running') void this.ctx.suspend()
  }

  /** The operator's microphone into the bus (null: none). */
  setMicrophone(stream: MediaStream | null): void {
    this.micSource?.disconnect()
    this.micSource = null
    const previous = this.micTrack
    this.micTrack = stream?.getAudioTracks()[0] ?? null
    if (stream) {
      const g = this.graph()
      this.micSource = g.ctx.createMediaStreamSource(stream)
      this.micSource.connect(g.micGain)
    }
    // Feeds of the old microphone move to the new one (or to the bus, with none).
    this.route(this.micTrack !== previous)
  }

  /** Mute: the microphone stays open but nothing of it reaches the bus. */
  setMicrophoneOpen(open: boolean): void {
    this.micOpen = open
    this.applyMicGain()
  }

  /**
   * Plays the chime; resolves when it has sounded. The microphone is held back meanwhile, so the
   * listeners hear the chime first and then the operator.
   */
  async chime(choice: ChimeChoice): Promise<void> {
    if (choice === 'off' || this.chimeUntil > performance.now()) return // one chime at a time
    const g = this.graph()
    // Held at once (before any await): a call routed in the same turn must not hear the
    // microphone ahead of the chime.
    this.chimeUntil = Number.POSITIVE_INFINITY
    this.applyMicGain()
    await this.resume()
    const gain = g.ctx.createGain()
    gain.gain.value = 0
    gain.connect(g.master)
    let t = g.ctx.currentTime + 0.02
    for (const note of CHIME_NOTES[choice]) {
      const osc = g.ctx.createOscillator()
      osc.frequency.value = note.hz
      osc.connect(gain)
      gain.gain.setValueAtTime(0, t)
      gain.gain.linearRampToValueAtTime(BUS_LEVELS.chime, t + 0.02)
      gain.gain.setValueAtTime(BUS_LEVELS.chime, t + note.s - 0.08)
      gain.gain.linearRampToValueAtTime(0, t + note.s)
      osc.start(t)
      osc.stop(t + note.s)
      t += note.s
    }
    const ms = (t - g.ctx.currentTime) * 1000
    this.chimeUntil = performance.now() + ms
    this.setPlaying('chime')
    this.applyMicGain()
    await new Promise((r) => setTimeout(r, ms))
    gain.disconnect()
    if (performance.now() >= this.chimeUntil - 5) {
      this.chimeUntil = 0
      if (this._playing === 'chime') this.setPlaying(null)
      this.applyMicGain()
    }
  }

  /**
   * Holds the microphone back for the whole of `work`, a chime and then a message: between the two
   * the calls would otherwise go back to the microphone for an instant (the operator heard between
   * chime and message), and each call's sender would take two more tracks.
   */
  async holding<T>(work: () => Promise<T>): Promise<T> {
    this.holds++
    this.applyMicGain()
    try {
      return await work()
    } finally {
      this.holds--
      this.applyMicGain()
    }
  }

  /** Decodes a recorded message (WAV, MP3, OGG: whatever the browser decodes). */
  async decode(file: ArrayBuffer): Promise<AudioBuffer> {
    return this.graph().ctx.decodeAudioData(file)
  }

  /** Plays a decoded message; resolves when it ends or is stopped. The microphone waits meanwhile. */
  async playMessage(buffer: AudioBuffer): Promise<void> {
    const g = this.graph()
    await this.resume()
    this.stopMessage()
    const source = g.ctx.createBufferSource()
    source.buffer = buffer
    const gain = g.ctx.createGain()
    gain.gain.value = BUS_LEVELS.message
    source.connect(gain).connect(g.master)
    this.message = source
    this.setPlaying('message')
    this.applyMicGain()
    await new Promise<void>((resolve) => {
      source.onended = () => resolve()
      source.start()
    })
    gain.disconnect()
    if (this.message === source) {
      this.message = null
      this.setPlaying(null)
      this.applyMicGain()
    }
  }

  stopMessage(): void {
    const m = this.message
    if (!m) return
    this.message = null
    try {
      m.stop()
    } catch {
      // Not started yet or already ended: nothing to stop.
    }
  }

  /** Closes the graph (the console is gone). */
  dispose(): void {
    this.stopMessage()
    for (const feed of this.feeds) feed.track.stop()
    this.feeds.clear()
    void this.ctx?.close()
    this.ctx = null
    this.master = this.micGain = this.output = this.micSource = null
    this.micTrack = null
    this.removeAllListeners()
  }

  /** Starts the audio thread (suspended while no call needs the bus). */
  async resume(): Promise<void> {
    const ctx = this.graph().ctx
    if (ctx.state === 'suspended') await ctx.resume()
  }

  private graph(): {
    ctx: AudioContext
    master: GainNode
    micGain: GainNode
    output: MediaStreamAudioDestinationNode
  } {
    if (!this.ctx || !this.master || !this.micGain || !this.output) {
      const ctx = this.createContext()
      const master = ctx.createGain()
      const micGain = ctx.createGain()
      const output = ctx.createMediaStreamDestination()
      output.channelCount = 1
      micGain.connect(master)
      master.connect(output)
      this.ctx = ctx
      this.master = master
      this.micGain = micGain
      this.output = output
      this.applyMicGain()
    }
    if (this.ctx.state === 'suspended') void this.ctx.resume()
    return { ctx: this.ctx, master: this.master, micGain: this.micGain, output: this.output }
  }

  /** The bus has nothing to mix into what calls hear: the microphone alone, and open. */
  private mixFree(): boolean {
    return this.micOpen && !this.held() && this.micTrack !== null && this.micTrack.readyState === 'live'
  }

  /** The microphone waits for a chime, a message, or a sequence of them. */
  private held(): boolean {
    return this.holds > 0 || this.chimeUntil > performance.now() || this.message !== null
  }

  private feedTrack(direct: boolean): MediaStreamTrack {
    const source = direct ? this.micTrack! : this.graph().output.stream.getAudioTracks()[0]!
    return source.clone()
  }

  /**
   * Gives every feed the track it should carry now (see the top of this file); `renew` also
   * replaces the microphone clones (another microphone). A feed keeps its call's enabled flag.
   */
  private route(renew = false): void {
    const direct = this.mixFree()
    for (const feed of this.feeds) {
      if (feed.direct === direct && !(renew && direct)) continue
      const old = feed.track
      const track = this.feedTrack(direct)
      track.enabled = old.enabled
      // Ended first, in this very turn: what is about to be held back must not be heard meanwhile.
      old.stop()
      feed.track = track
      feed.direct = direct
      feed.onTrack?.(track)
    }
  }

  private applyMicGain(): void {
    this.route()
    if (!this.ctx || !this.micGain) return
    const held = this.held()
    const target = this.micOpen && !held ? BUS_LEVELS.microphone : 0
    const g = this.micGain.gain
    g.cancelScheduledValues(this.ctx.currentTime)
    // Held back at once; let through with a short ramp (no click as the operator comes in).
    if (target === 0) g.setValueAtTime(0, this.ctx.currentTime)
    else g.setTargetAtTime(target, this.ctx.currentTime, RAMP_S / 3)
  }

  private setPlaying(what: 'chime' | 'message' | null): void {
    if (this._playing === what) return
    this._playing = what
    this.emit('playing', what)
  }
}
