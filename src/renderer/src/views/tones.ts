import type { ConnectionState } from '@shared/contract'
import type { CallState } from '../rtc/peer-session'

/** How a state is coloured in badges. */
export function connectionTone(s: ConnectionState): 'ok' | 'busy' | 'idle' | 'bad' {
  if (s === 'ready') return 'ok'
  if (s === 'connecting' || s === 'authenticating' || s === 'reconnecting') return 'busy'
  return s === 'closed' ? 'bad' : 'idle'
}

export function callTone(s: CallState | 'joined'): 'ok' | 'busy' | 'idle' | 'bad' {
  if (s === 'live') return 'ok'
  if (s === 'failed') return 'bad'
  if (s === 'idle' || s === 'ended' || s === 'joined') return 'idle'
  return 'busy'
}

/** States a person must see at once, not after the display settles (see useSettled). */
export function isCallOver(s: CallState | 'joined'): boolean {
  return s === 'idle' || s === 'ended' || s === 'failed' || s === 'joined'
}

/** ICE states a person must see at once: the call's connection is new again, or gone. */
export function isIceOver(s: RTCIceConnectionState): boolean {
  return s === 'new' || s === 'failed' || s === 'closed'
}
