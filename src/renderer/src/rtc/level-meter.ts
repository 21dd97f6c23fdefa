/**
 * Level (dBFS) and dominant frequency of an audio stream, from a WebAudio AnalyserNode.
 * Used by the meters and the self-test; one AudioContext is shared by the page.
 */
export interface AudioReading {
  /** RMS level in dBFS (−Infinity for silence). */
  dbfs: number
  /** Frequency of the strongest FFT bin, in Hz. */
  peakHz: number
}

export const SILENCE_DBFS = -100
const FFT_SIZE = 4096

let sharedContext: AudioContext | null = null
/** Meters not yet disposed: the context renders (and costs CPU) only while there are some. */
let liveMeters = 0
function audioContext(): AudioContext {
  sharedContext ??= new AudioContext()
  if (sharedContext.state === 'suspended') void sharedContext.resume()
  return sharedContext
}

/** 1 while the page's AudioContext renders (for leak checks), else 0. */
export function runningAudioContexts(): number {
  return sharedContext?.state === 'running' ? 1 : 0
}

/**
 * A running AudioContext keeps an audio thread busy even when nothing is connected; a console
 * left open between calls should cost nothing. Suspended rather than closed: a new context costs
 * far more to make than to resume.
 */
function meterDisposed(): void {
  if (--liveMeters === 0 && sharedContext?.state === 'running') void sharedContext.suspend()
}

export class LevelMeter {
  private readonly source: MediaStreamAudioSourceNode
  private readonly analyser: AnalyserNode
  private readonly time: Float32Array<ArrayBuffer>
  private readonly freq: Float32Array<ArrayBuffer>

  private disposed = false

  constructor(stream: MediaStream) {
    const ctx = audioContext()
    liveMeters++
    this.source = ctx.createMediaStreamSource(stream)
    this.analyser = ctx.createAnalyser()
    this.analyser.fftSize = FFT_SIZE
    this.analyser.smoothingTimeConstant = 0.2
    this.source.connect(this.analyser)
    this.time = new Float32Array(this.analyser.fftSize)
    this.freq = new Float32Array(this.analyser.frequencyBinCount)
  }

  read(): AudioReading {
    this.analyser.getFloatTimeDomainData(this.time)
    let sum = 0
    for (const v of this.time) sum += v * v
    const rms = Math.sqrt(sum / this.time.length)
    const dbfs = rms > 0 ? Math.max(SILENCE_DBFS, 20 * Math.log10(rms)) : SILENCE_DBFS
    this.analyser.getFloatFrequencyData(this.freq)
    let best = 0
    for (let i = 1; i < this.freq.length; i++) if (this.freq[i]! > this.freq[best]!) best = i
    const peakHz = (best * this.analyser.context.sampleRate) / this.analyser.fftSize
    return { dbfs, peakHz }
  }

  dispose(): void {
    if (this.disposed) return
    this.disposed = true
    this.source.disconnect()
    this.analyser.disconnect()
    meterDisposed()
  }
}
