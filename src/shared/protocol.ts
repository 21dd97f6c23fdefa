/**
 * The GiGA Genie channel protocol (PROTOCOL.md) as types, a validating parser and builders.
 * Imports only the shared input rules: it is used by the main process, the renderer and the tests alike.
 */
import { MAX_NESTING_DEPTH, nestsDeeperThan } from './input-rules'

export const MSGTYPES = ['request', 'reply', 'notify', 'data'] as const
export type MsgType = (typeof MSGTYPES)[number]

/** Operations the channel server implements. */
export const OPERATIONS = [
  'auth',
  'iam',
  'create_session',
  'join_session',
  'ras_alive',
  'destroy_session'
] as const
export type Operation = (typeof OPERATIONS)[number]

/** Developer-mode operations named by the source; a server answers them with 501. */
export const DEVMODE_OPERATIONS = [
  'set_input_history',
  'get_input_history',
  'set_appid_devmode',
  'check_appid_devmod',
  'confirm_appid_devmode'
] as const

/** Notify-only operation sent to a device when a web client's connection closes (ours). */
export const LEAVE_SESSION = 'leave_session'

/**
 * The reply key (ours) that hands a member its place's resume token, and the request key that
 * presents it again: a create or join carrying the token of a place held by a live connection
 * moves that place to the new connection (the old one was half-open). Other implementations
 * ignore both keys.
 */
export const RESUME_TOKEN_KEY = 'resumetoken'

export type ChannelType = 'webrtcaudio' | 'rtcaudio' | 'keyboard' | 'system' | (string & {})
export const SUBPROTOCOL = 'ws-channel-v1'

export const ResultCode = {
  OK: 200,
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  TOO_LARGE: 413,
  RATE_LIMITED: 429,
  SYSTEM_ERROR: 500,
  NOT_SUPPORTED: 501,
  /** (ours) The server cannot take this now, e.g. its shared session store is unreachable. */
  UNAVAILABLE: 503
} as const
export type ResultCode = (typeof ResultCode)[keyof typeof ResultCode]

/** Keys every frame may carry; unknown extra keys are kept (and ignored) by the parser. */
export interface FrameBase {
  msgtype: MsgType
  operation?: string
  channeltype?: ChannelType
  uuid?: string
  sessionid?: string
  trxid?: string
  [extra: string]: unknown
}

export interface RequestFrame extends FrameBase {
  msgtype: 'request'
  operation: string
}
export interface ReplyFrame extends FrameBase {
  msgtype: 'reply'
  result_cd: number
  result_msg: string
}
export interface NotifyFrame extends FrameBase {
  msgtype: 'notify'
  operation: string
}
export interface DataFrame extends FrameBase {
  msgtype: 'data'
  /** Any JSON value: our peers send objects (PROTOCOL.md §5), other clients may send anything. */
  data: unknown
}
export type Frame = RequestFrame | ReplyFrame | NotifyFrame | DataFrame

/** A frame the parser refused: what a server replies with, and the field at fault. */
export interface FrameError {
  result_cd: ResultCode
  result_msg: string
  field?: string
  /** What could be read of the frame (to echo operation/trxid in the error reply). */
  partial?: { operation?: string; trxid?: string; sessionid?: string }
}

export type ParseResult = { ok: true; frame: Frame } | { ok: false; error: FrameError }

const STRING_FIELDS = ['operation', 'channeltype', 'uuid', 'sessionid', 'trxid'] as const

function fail(
  result_cd: ResultCode,
  result_msg: string,
  field?: string,
  partial?: FrameError['partial']
): ParseResult {
  const error: FrameError = { result_cd, result_msg }
  if (field !== undefined) error.field = field
  if (partial !== undefined) error.partial = partial
  return { ok: false, error }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/**
 * Turns untrusted text into a typed frame, or a precise error naming the offending field.
 * Only the envelope is validated: payloads inside `data` are relayed untouched, except that no
 * frame may nest deeper than `maxDepth` (whatever serialises it later would overflow the stack).
 */
export function parseFrame(text: string, maxDepth = MAX_NESTING_DEPTH): ParseResult {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return fail(ResultCode.BAD_REQUEST, 'frame is not valid JSON')
  }
  return validateFrame(value, maxDepth)
}

/** Validates an already-parsed value as a frame (see parseFrame). */
export function validateFrame(value: unknown, maxDepth = MAX_NESTING_DEPTH): ParseResult {
  if (!isPlainObject(value)) return fail(ResultCode.BAD_REQUEST, 'frame must be a JSON object')
  const partial: NonNullable<FrameError['partial']> = {}
  for (const key of ['operation', 'trxid', 'sessionid'] as const) {
    const v = value[key]
    if (typeof v === 'string') partial[key] = v
  }
  if (nestsDeeperThan(value, maxDepth)) {
    const field = isPlainObject(value.data) ? 'data' : 'frame'
    return fail(ResultCode.BAD_REQUEST, `frame nests deeper than ${maxDepth} levels`, field, partial)
  }
  for (const key of STRING_FIELDS) {
    const v = value[key]
    if (v !== undefined && typeof v !== 'string') {
      // Some clients send numeric ids; accept numbers for ids, refuse anything else.
      if (
        (key === 'trxid' || key === 'sessionid' || key === 'uuid') &&
        typeof v === 'number' &&
        Number.isFinite(v)
      ) {
        value[key] = String(v)
        continue
      }
      return fail(ResultCode.BAD_REQUEST, `field "${key}" must be a string`, key, partial)
    }
  }
  const msgtype = value.msgtype
  if (msgtype === undefined)
    return fail(ResultCode.BAD_REQUEST, 'missing field "msgtype"', 'msgtype', partial)
  if (typeof msgtype !== 'string' || !(MSGTYPES as readonly string[]).includes(msgtype)) {
    return fail(
      ResultCode.BAD_REQUEST,
      'field "msgtype" must be one of request, reply, notify, data',
      'msgtype',
      partial
    )
  }
  switch (msgtype) {
    case 'request':
    case 'notify':
      if (value.operation === undefined || value.operation === '') {
        return fail(ResultCode.BAD_REQUEST, 'missing field "operation"', 'operation', partial)
      }
      break
    case 'reply':
      if (typeof value.result_cd !== 'number') {
        return fail(ResultCode.BAD_REQUEST, 'field "result_cd" must be a number', 'result_cd', partial)
      }
      if (value.result_msg !== undefined && typeof value.result_msg !== 'string') {
        return fail(ResultCode.BAD_REQUEST, 'field "result_msg" must be a string', 'result_msg', partial)
      }
      if (value.result_msg === undefined) value.result_msg = ''
      break
    case 'data':
      // Any JSON value is a payload (relayed unchanged); only its absence is an error.
      if (!('data' in value)) return fail(ResultCode.BAD_REQUEST, 'missing field "data"', 'data', partial)
      break
  }
  return { ok: true, frame: value as unknown as Frame }
}

export function isKnownOperation(op: string): op is Operation {
  return (OPERATIONS as readonly string[]).includes(op)
}

export function isDevModeOperation(op: string): boolean {
  return (DEVMODE_OPERATIONS as readonly string[]).includes(op)
}

// ---------------------------------------------------------------------------------------------
// Builders: every frame the app sends. Optional fields are left out rather than set to undefined
// so that the JSON on the wire is exactly the documented one.

type Opt<T> = { [K in keyof T]?: T[K] | undefined }

function compact<T extends Record<string, unknown>>(obj: T): T {
  for (const k of Object.keys(obj)) if (obj[k] === undefined) delete obj[k]
  return obj
}

export const frames = {
  iam(): NotifyFrame {
    return { msgtype: 'notify', operation: 'iam', channeltype: 'system' }
  },
  authRequest(o: { uuid: string; channeltype?: ChannelType; trxid?: string }): RequestFrame {
    return compact({
      msgtype: 'request',
      operation: 'auth',
      uuid: o.uuid,
      channeltype: o.channeltype ?? 'webrtcaudio',
      trxid: o.trxid
    })
  },
  authReply(o: Opt<{ trxid: string }> = {}): ReplyFrame {
    return compact({
      msgtype: 'reply',
      operation: 'auth',
      channeltype: 'system',
      result_cd: 200,
      result_msg: 'authorized',
      trxid: o.trxid
    })
  },
  rasAlive(): NotifyFrame {
    return { msgtype: 'notify', operation: 'ras_alive', channeltype: 'system' }
  },
  createRequest(o: {
    uuid: string
    channeltype?: ChannelType
    sessionid?: string
    trxid?: string
  }): RequestFrame {
    return compact({
      msgtype: 'request',
      operation: 'create_session',
      channeltype: o.channeltype ?? 'webrtcaudio',
      uuid: o.uuid,
      sessionid: o.sessionid,
      trxid: o.trxid
    })
  },
  createReply(o: { sessionid: string; trxid?: string | undefined }): ReplyFrame {
    return compact({
      msgtype: 'reply',
      operation: 'create_session',
      result_cd: 200,
      result_msg: 'Success',
      sessionid: o.sessionid,
      trxid: o.trxid
    })
  },
  joinRequest(o: {
    uuid: string
    sessionid: string
    channeltype?: ChannelType
    trxid?: string
  }): RequestFrame {
    return compact({
      msgtype: 'request',
      operation: 'join_session',
      channeltype: o.channeltype ?? 'webrtcaudio',
      sessionid: o.sessionid,
      uuid: o.uuid,
      trxid: o.trxid
    })
  },
  destroyRequest(o: {
    uuid?: string
    sessionid: string
    channeltype?: ChannelType
    trxid?: string
  }): RequestFrame {
    return compact({
      msgtype: 'request',
      operation: 'destroy_session',
      channeltype: o.channeltype ?? 'webrtcaudio',
      sessionid: o.sessionid,
      uuid: o.uuid,
      trxid: o.trxid
    })
  },
  /** The plain success reply of join_session / destroy_session. */
  successReply(operation: string, trxid?: string): ReplyFrame {
    return compact({ msgtype: 'reply', operation, result_cd: 200, result_msg: 'Success', trxid })
  },
  /** A session event for the other members: join_session, destroy_session or leave_session. */
  sessionNotify(operation: string, sessionid: string, channeltype: ChannelType): NotifyFrame {
    return { msgtype: 'notify', operation, sessionid, channeltype }
  },
  errorReply(o: {
    result_cd: number
    result_msg: string
    operation?: string | undefined
    trxid?: string | undefined
    sessionid?: string | undefined
  }): ReplyFrame {
    return compact({
      msgtype: 'reply',
      operation: o.operation,
      result_cd: o.result_cd,
      result_msg: o.result_msg,
      sessionid: o.sessionid,
      trxid: o.trxid
    })
  },
  data(o: { sessionid?: string; channeltype?: ChannelType; data: Record<string, unknown> }): DataFrame {
    return compact({
      msgtype: 'data',
      channeltype: o.channeltype ?? 'webrtcaudio',
      sessionid: o.sessionid,
      data: o.data
    })
  }
}

// ---------------------------------------------------------------------------------------------
// WebRTC payloads carried in data frames (PROTOCOL.md §5).

export type SignalPayload =
  | { type: 'offer'; sdp: string }
  | { type: 'answer'; sdp: string }
  | { type: 'candidate'; candidate: string; sdpMid: string | null; sdpMLineIndex: number | null }
  | { type: 'bye' }

/** The reference candidate shape: `{type, label: sdpMLineIndex, id: sdpMid, candidate}`. */
export function candidatePayload(c: {
  candidate: string
  sdpMid?: string | null
  sdpMLineIndex?: number | null
}): Record<string, unknown> {
  return compact({
    type: 'candidate',
    label: c.sdpMLineIndex ?? 0,
    id: c.sdpMid ?? undefined,
    candidate: c.candidate
  })
}

/**
 * Reads a `data` payload as a WebRTC signal, accepting both candidate shapes of §5.
 * Returns null for anything else (unknown payloads are ignored, not errors).
 */
export function readSignal(data: unknown): SignalPayload | null {
  if (!isPlainObject(data)) return null
  switch (data.type) {
    case 'offer':
    case 'answer':
      return typeof data.sdp === 'string' ? { type: data.type, sdp: data.sdp } : null
    case 'bye':
      return { type: 'bye' }
    case 'candidate': {
      const c = data.candidate
      if (typeof c === 'string') {
        // The reference shape names them id / label; KT-style clients also send the standard
        // sdpMid / sdpMLineIndex beside the string.
        const mid = typeof data.id === 'string' ? data.id : data.sdpMid
        const index = typeof data.label === 'number' ? data.label : data.sdpMLineIndex
        return {
          type: 'candidate',
          candidate: c,
          sdpMid: typeof mid === 'string' ? mid : null,
          sdpMLineIndex: typeof index === 'number' ? index : 0
        }
      }
      if (isPlainObject(c) && typeof c.candidate === 'string') {
        return {
          type: 'candidate',
          candidate: c.candidate,
          sdpMid: typeof c.sdpMid === 'string' ? c.sdpMid : null,
          sdpMLineIndex: typeof c.sdpMLineIndex === 'number' ? c.sdpMLineIndex : null
        }
      }
      return null
    }
    default:
      return null
  }
}
