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
function audioContext(): AudioContext {
  sharedContext ??= new AudioContext()
  if (sharedContext.state === 'suspended') void sharedContext.resume()
  return sharedContext
}

export class LevelMeter {
  private readonly source: MediaStreamAudioSourceNode
  private readonly analyser: AnalyserNode
  private readonly time: Float32Array<ArrayBuffer>
  private readonly freq: Float32Array<ArrayBuffer>

  constructor(stream: MediaStream) {
    const ctx = audioContext()
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
    this.source.disconnect()
    this.analyser.disconnect()
  }
}
