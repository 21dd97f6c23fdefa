import type { ChannelFrameEvent } from '@shared/contract'
import type { DataFrame, NotifyFrame } from '@shared/protocol'
import { useBridge } from '../services/bridge'

/** Routes one connection's received notifies and data frames to a store. */
export function subscribeFrames(
  connectionId: string,
  handlers: {
    notify?: (f: NotifyFrame) => void
    data?: (f: DataFrame) => void
    any?: (e: ChannelFrameEvent) => void
  }
): () => void {
  return useBridge().on('channel:frame', (e) => {
    if (e.connectionId !== connectionId) return
    handlers.any?.(e)
    if (e.direction !== 'in') return
    if (e.frame.msgtype === 'notify') handlers.notify?.(e.frame as NotifyFrame)
    else if (e.frame.msgtype === 'data') handlers.data?.(e.frame as DataFrame)
  })
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}

/** A fresh uuid-like id for a device or console that has none yet. */
export function randomId(prefix: string): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6))
  return (
    prefix +
    Array.from(bytes, (b) => b.toString(16).padStart(2, '0'))
      .join('')
      .toUpperCase()
  )
}
