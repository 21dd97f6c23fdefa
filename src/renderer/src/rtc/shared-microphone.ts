/**
 * The console's one microphone, a plain class (no Vue): opened once for every call, the default
 * one used when the chosen one is gone, reopened when it ends mid-call (unplugged, taken by the
 * system), closed when no call needs it. What happens is told through events.
 */
import { Emitter } from '@shared/emitter'
import { type MicrophoneOptions, MicrophoneError, openMicrophone, stopStream } from './microphone'

export type MicrophoneNotice = 'usingDefault' | 'lost' | 'recovered' | 'lostNone'

export type SharedMicrophoneEvents = {
  /** The stream in use changed (null: closed). */
  stream: [stream: MediaStream | null]
  notice: [kind: MicrophoneNotice, detail?: string]
  /** It could not be reopened after it ended. */
  error: [error: unknown]
}

export class SharedMicrophone extends Emitter<SharedMicrophoneEvents> {
  private current: MediaStream | null = null
  private opening: Promise<MediaStream> | null = null

  /**
   * @param options the chosen microphone's options, or the default one's when `useDefault`
   * @param inUse whether a call still needs the microphone (an ending one is then reopened)
   */
  constructor(
    private readonly options: (useDefault: boolean) => MicrophoneOptions,
    private readonly inUse: () => boolean
  ) {
    super()
  }

  get stream(): MediaStream | null {
    return this.current
  }

  /** The open microphone, opening it if needed (once, however many calls ask at the same time). */
  async acquire(): Promise<MediaStream> {
    if (this.current?.getAudioTracks().some((t) => t.readyState === 'live')) return this.current
    this.opening ??= this.openWithFallback().finally(() => (this.opening = null))
    const stream = await this.opening
    this.adopt(stream)
    return stream
  }

  /** Another microphone (or other processing) was chosen: switch while calls go on. */
  async switch(): Promise<void> {
    const old = this.current
    if (!old) return
    const fresh = await this.openWithFallback()
    this.adopt(fresh)
    stopStream(old)
  }

  release(): void {
    if (!this.current) return
    stopStream(this.current)
    this.current = null
    this.emit('stream', null)
  }

  private async openWithFallback(): Promise<MediaStream> {
    try {
      return await openMicrophone(this.options(false))
    } catch (e) {
      const kind = e instanceof MicrophoneError ? e.kind : 'unknown'
      if (!this.options(false).deviceId || (kind !== 'notFound' && kind !== 'overconstrained')) throw e
      const stream = await openMicrophone(this.options(true))
      this.emit('notice', 'usingDefault')
      return stream
    }
  }

  private adopt(stream: MediaStream): void {
    if (this.current === stream) return
    this.current = stream
    for (const t of stream.getAudioTracks())
      t.addEventListener('ended', () => void this.onEnded(stream), { once: true })
    this.emit('stream', stream)
  }

  private async onEnded(stream: MediaStream): Promise<void> {
    if (this.current !== stream || !this.inUse()) return
    this.emit('notice', 'lost')
    try {
      const fresh = await this.openWithFallback()
      this.adopt(fresh)
      stopStream(stream)
      this.emit('notice', 'recovered', fresh.getAudioTracks()[0]?.label ?? '')
    } catch (e) {
      this.emit('notice', 'lostNone', e instanceof Error ? e.message : String(e))
      this.emit('error', e)
    }
  }
}
