/**
 * What KT's public channel service would not accept, or would not know, in a frame: the checks
 * behind strict KT mode's warnings in the signaling view. The public contract is PROTOCOL.md's
 * envelope and §5's WebRTC payloads; everything else is Genie Bridge's own (ours, and ignored by
 * other implementations) and works only between Genie Bridge's own parts.
 */
import { type Frame, OPERATIONS } from './protocol'

/** The envelope keys PROTOCOL.md §1 documents, per message type. */
const ENVELOPE_KEYS: Record<Frame['msgtype'], readonly string[]> = {
  request: ['msgtype', 'operation', 'channeltype', 'uuid', 'sessionid', 'trxid'],
  reply: ['msgtype', 'operation', 'channeltype', 'uuid', 'sessionid', 'trxid', 'result_cd', 'result_msg'],
  notify: ['msgtype', 'operation', 'channeltype', 'uuid', 'sessionid'],
  data: ['msgtype', 'channeltype', 'uuid', 'sessionid', 'data']
}

/** The WebRTC payloads the reference web client reads (PROTOCOL.md §5). */
const KT_PAYLOAD_TYPES: readonly string[] = ['offer', 'answer', 'candidate']

export type KtWarning =
  | { kind: 'extraKeys'; keys: string[] }
  | { kind: 'operation'; operation: string }
  | { kind: 'payload'; type: string }

/** The ways a frame departs from what the public service documents; empty when it does not. */
export function ktWarnings(frame: Frame): KtWarning[] {
  const warnings: KtWarning[] = []
  const allowed = ENVELOPE_KEYS[frame.msgtype]
  const extra = Object.keys(frame).filter((k) => !allowed.includes(k))
  if (extra.length) warnings.push({ kind: 'extraKeys', keys: extra })
  if (frame.msgtype !== 'data' && frame.operation !== undefined) {
    if (!(OPERATIONS as readonly string[]).includes(frame.operation))
      warnings.push({ kind: 'operation', operation: frame.operation })
  }
  if (frame.msgtype === 'data') {
    const data = frame.data
    const type =
      typeof data === 'object' && data !== null && !Array.isArray(data)
        ? (data as { type?: unknown }).type
        : undefined
    if (typeof type !== 'string' || !KT_PAYLOAD_TYPES.includes(type))
      warnings.push({ kind: 'payload', type: typeof type === 'string' ? type : JSON.stringify(data) })
  }
  return warnings
}
