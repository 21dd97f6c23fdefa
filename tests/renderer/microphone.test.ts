import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  MicrophoneError,
  classifyMediaError,
  liveMicrophoneTracks,
  openMicrophone,
  stopStream
} from '../../src/renderer/src/rtc/microphone'

function stubGetUserMedia(impl: (c: MediaStreamConstraints) => Promise<MediaStream>): void {
  vi.stubGlobal('navigator', { mediaDevices: { getUserMedia: vi.fn(impl) } })
}

function fakeStream(): MediaStream {
  const track = {
    kind: 'audio',
    readyState: 'live',
    stop() {
      this.readyState = 'ended'
    }
  }
  return { getTracks: () => [track], getAudioTracks: () => [track] } as unknown as MediaStream
}

afterEach(() => {
  vi.unstubAllGlobals()
  vi.useRealTimers()
})

describe('microphone errors', () => {
  it.each([
    ['NotAllowedError', 'denied'],
    ['SecurityError', 'denied'],
    ['NotFoundError', 'notFound'],
    ['NotReadableError', 'busy'],
    ['OverconstrainedError', 'overconstrained'],
    ['TypeError', 'unknown']
  ])('%s is explained as %s', (name, kind) => {
    expect(classifyMediaError(Object.assign(new Error('x'), { name })).kind).toBe(kind)
  })

  it('a device in use by another program (NotReadableError) is reported, not thrown raw', async () => {
    stubGetUserMedia(() =>
      Promise.reject(Object.assign(new Error('Could not start audio source'), { name: 'NotReadableError' }))
    )
    const err = await openMicrophone().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(MicrophoneError)
    expect((err as MicrophoneError).kind).toBe('busy')
  })

  it('a permission prompt that never settles times out, and a late answer is released', async () => {
    vi.useFakeTimers()
    let resolveLate: (s: MediaStream) => void = () => undefined
    stubGetUserMedia(() => new Promise((r) => (resolveLate = r)))
    const opening = openMicrophone({ timeoutMs: 1000 }).catch((e: unknown) => e)
    await vi.advanceTimersByTimeAsync(1000)
    expect(((await opening) as MicrophoneError).kind).toBe('timeout')
    const late = fakeStream()
    resolveLate(late)
    await vi.advanceTimersByTimeAsync(0)
    expect(late.getTracks()[0]!.readyState).toBe('ended')
  })

  it('asks for the chosen device exactly, with its processing, and counts live tracks until stopped', async () => {
    stubGetUserMedia(() => Promise.resolve(fakeStream()))
    const before = liveMicrophoneTracks()
    const stream = await openMicrophone({
      deviceId: 'mic-2',
      echoCancellation: false,
      noiseSuppression: true,
      autoGainControl: false
    })
    const constraints = (navigator.mediaDevices.getUserMedia as ReturnType<typeof vi.fn>).mock
      .calls[0]![0] as MediaStreamConstraints
    expect(constraints).toEqual({
      audio: {
        deviceId: { exact: 'mic-2' },
        echoCancellation: false,
        noiseSuppression: true,
        autoGainControl: false
      },
      video: false
    })
    expect(liveMicrophoneTracks()).toBe(before + 1)
    stopStream(stream)
    expect(liveMicrophoneTracks()).toBe(before)
  })
})
