/**
 * Opening the microphone, with every failure turned into a message key a person can act on.
 */
export interface MicrophoneOptions {
  deviceId?: string
  echoCancellation?: boolean
  noiseSuppression?: boolean
  autoGainControl?: boolean
  /** A permission prompt that never settles must not hang the call. */
  timeoutMs?: number
}

export const MICROPHONE_TIMEOUT_MS = 15_000

/** Microphone tracks this page opened, until stopped (for leak checks). */
const openedTracks = new Set<MediaStreamTrack>()
export function liveMicrophoneTracks(): number {
  let n = 0
  for (const t of openedTracks) {
    if (t.readyState === 'live') n++
    else openedTracks.delete(t)
  }
  return n
}

export type MicrophoneErrorKind =
  'denied' | 'notFound' | 'busy' | 'overconstrained' | 'timeout' | 'insecure' | 'unknown'

export class MicrophoneError extends Error {
  constructor(
    readonly kind: MicrophoneErrorKind,
    detail: string
  ) {
    super(detail)
    this.name = 'MicrophoneError'
  }
}

export function classifyMediaError(e: unknown): MicrophoneError {
  if (e instanceof MicrophoneError) return e
  const name = (e as { name?: string } | null)?.name ?? ''
  const message = (e as { message?: string } | null)?.message ?? String(e)
  switch (name) {
    case 'NotAllowedError':
    case 'PermissionDeniedError':
    case 'SecurityError':
      return new MicrophoneError('denied', message)
    case 'NotFoundError':
    case 'DevicesNotFoundError':
      return new MicrophoneError('notFound', message)
    case 'NotReadableError':
    case 'TrackStartError':
    case 'AbortError':
      return new MicrophoneError('busy', message)
    case 'OverconstrainedError':
    case 'ConstraintNotSatisfiedError':
      return new MicrophoneError('overconstrained', message)
    default:
      return new MicrophoneError('unknown', message)
  }
}

export async function openMicrophone(options: MicrophoneOptions = {}): Promise<MediaStream> {
  if (!navigator.mediaDevices?.getUserMedia) {
    throw new MicrophoneError('insecure', 'this page cannot use the microphone (not a secure context)')
  }
  const audio: MediaTrackConstraints = {
    echoCancellation: options.echoCancellation ?? true,
    noiseSuppression: options.noiseSuppression ?? true,
    autoGainControl: options.autoGainControl ?? true
  }
  if (options.deviceId) audio.deviceId = { exact: options.deviceId }
  const timeoutMs = options.timeoutMs ?? MICROPHONE_TIMEOUT_MS
  let timer: ReturnType<typeof setTimeout> | undefined
  const request = navigator.mediaDevices.getUserMedia({ audio, video: false })
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new MicrophoneError('timeout', `no answer within ${timeoutMs} ms`)),
      timeoutMs
    )
  })
  try {
    const stream = await Promise.race([request, timeout])
    for (const t of stream.getTracks()) openedTracks.add(t)
    return stream
  } catch (e) {
    // If the prompt settles after the timeout, release what it gave.
    void request.then((s) => s.getTracks().forEach((t) => t.stop())).catch(() => undefined)
    throw classifyMediaError(e)
  } finally {
    clearTimeout(timer)
  }
}

export function stopStream(stream: MediaStream | null | undefined): void {
  for (const t of stream?.getTracks() ?? []) {
    t.stop()
    openedTracks.delete(t)
  }
}
