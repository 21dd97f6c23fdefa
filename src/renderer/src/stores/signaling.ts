import { defineStore } from 'pinia'
import { computed, shallowRef } from 'vue'
import type { ChannelFrameEvent } from '@shared/contract'
import { type KtWarning, ktWarnings } from '@shared/kt-conformance'
import type { Frame } from '@shared/protocol'
import { type MessageKey, t } from '../i18n'
import { useBridge } from '../services/bridge'
import { CONSOLE_CONNECTION } from './console'
import { DEVICE_CONNECTION, useDeviceStore } from './device'

/** Entries kept for the live view and export; older ones are dropped first. */
export const SIGNALING_LOG_LIMIT = 2000

export type Lane = 'device' | 'server' | 'web'

export interface SignalingEntry {
  seq: number
  at: number
  connectionId: string
  from: Lane
  to: Lane
  frame: Frame
  /** The session the frame belongs to; null for connection-level frames (iam, auth, ras_alive). */
  sessionid: string | null
  /** Strict KT mode only: what the public service would not accept in this frame. */
  warnings: KtWarning[]
}

/** A strict-mode warning in words. */
export function warningText(w: KtWarning): string {
  const key: MessageKey = `kt.warning.${w.kind}`
  if (w.kind === 'extraKeys') return t(key, { keys: w.keys.join(', ') })
  if (w.kind === 'operation') return t(key, { operation: w.operation })
  return t(key, { type: w.type })
}

/** Which side a connection of this window plays. */
export function laneOf(connectionId: string): Lane {
  return connectionId === DEVICE_CONNECTION ? 'device' : connectionId === CONSOLE_CONNECTION ? 'web' : 'web'
}

/** A short label for a frame: its operation, or the type of a relayed payload. */
export function frameLabel(frame: Frame): string {
  if (frame.msgtype === 'data') {
    // Payloads of any JSON type are relayed (null included): only an object has a type.
    const data = frame.data
    const type = typeof data === 'object' && data !== null ? (data as { type?: unknown }).type : undefined
    return `data ${typeof type === 'string' ? type : '…'}`
  }
  const code = frame.msgtype === 'reply' ? ` ${frame.result_cd}` : ''
  return `${frame.msgtype} ${frame.operation ?? ''}${code}`.trim()
}

/**
 * The frames this window's channel connections exchanged, as they happen: the data behind the
 * sequence diagram and its JSON export.
 */
export const useSignalingStore = defineStore('signaling', () => {
  const entries = shallowRef<SignalingEntry[]>([])
  const device = useDeviceStore()
  let seq = 0
  let off: (() => void) | null = null

  function record(e: ChannelFrameEvent): void {
    const lane = laneOf(e.connectionId)
    const entry: SignalingEntry = {
      seq: ++seq,
      at: e.at,
      connectionId: e.connectionId,
      from: e.direction === 'out' ? lane : 'server',
      to: e.direction === 'out' ? 'server' : lane,
      frame: e.frame,
      sessionid: e.frame.sessionid ?? null,
      warnings: device.strict ? ktWarnings(e.frame) : []
    }
    const next = entries.value.length >= SIGNALING_LOG_LIMIT ? entries.value.slice(1) : entries.value.slice()
    next.push(entry)
    entries.value = next
  }

  function start(): void {
    off ??= useBridge().on('channel:frame', record)
  }

  function clear(): void {
    entries.value = []
  }

  const warned = computed(() => entries.value.filter((e) => e.warnings.length > 0).length)

  const sessions = computed(() => [
    ...new Set(entries.value.map((e) => e.sessionid).filter((s): s is string => s !== null))
  ])

  /** The log as JSON: one object per frame with its time, lanes and the frame exactly as sent. */
  function exportJson(): string {
    return JSON.stringify(
      {
        exportedAt: new Date().toISOString(),
        frames: entries.value.map((e) => ({
          seq: e.seq,
          at: new Date(e.at).toISOString(),
          from: e.from,
          to: e.to,
          connection: e.connectionId,
          sessionid: e.sessionid,
          frame: e.frame,
          ...(e.warnings.length ? { warnings: e.warnings } : {})
        }))
      },
      null,
      2
    )
  }

  return { entries, sessions, warned, start, clear, exportJson, record }
})
