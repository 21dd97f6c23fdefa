/** Writes a mono 16-bit PCM WAV of a sine tone: the fake microphone of the E2E runs. */
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'

export const TONE_SAMPLE_RATE = 48_000

export function toneWav(hz: number, seconds = 30, amplitude = 0.5, sampleRate = TONE_SAMPLE_RATE): Buffer {
  const samples = Math.round(seconds * sampleRate)
  const buf = Buffer.alloc(44 + samples * 2)
  buf.write('RIFF', 0, 'ascii')
  buf.writeUInt32LE(36 + samples * 2, 4)
  buf.write('WAVE', 8, 'ascii')
  buf.write('fmt ', 12, 'ascii')
  buf.writeUInt32LE(16, 16) // PCM header size
  buf.writeUInt16LE(1, 20) // PCM
  buf.writeUInt16LE(1, 22) // mono
  buf.writeUInt32LE(sampleRate, 24)
  buf.writeUInt32LE(sampleRate * 2, 28) // byte rate
  buf.writeUInt16LE(2, 32) // block align
  buf.writeUInt16LE(16, 34) // bits per sample
  buf.write('data', 36, 'ascii')
  buf.writeUInt32LE(samples * 2, 40)
  for (let i = 0; i < samples; i++) {
    const v = Math.sin((2 * Math.PI * hz * i) / sampleRate) * amplitude
    buf.writeInt16LE(Math.round(v * 32767), 44 + i * 2)
  }
  return buf
}

export function writeToneWav(path: string, hz: number, seconds?: number): string {
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, toneWav(hz, seconds))
  return path
}
