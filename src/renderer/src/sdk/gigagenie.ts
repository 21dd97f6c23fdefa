/**
 * `window.gigagenie`: the GiGA Genie device SDK surface (PROTOCOL.md §8) on top of the device
 * store, so that a service app's own code drives Genie Bridge's speaker exactly as the UI does.
 * Every call is `fn(options, callback(result_cd, result_msg, extra))`, or returns a Promise that
 * resolves to `extra` and rejects with an error carrying result_cd, result_msg and extra.
 * As in KT's SDK guide, media calls answer 200 or 500 (the message names the cause, with the
 * channel server's own result code when it refused), and 406 before a successful init in
 * strict KT mode. The guide's names createRelayChannel / destroyRelayChannel are the same calls.
 */
import { BridgeError } from '@shared/contract'
import { ResultCode } from '@shared/protocol'
import type { useDeviceStore } from '../stores/device'

export type SdkCallback = (result_cd: number, result_msg: string, extra: unknown) => void
export type SdkOptions = Record<string, unknown> | null | undefined
/** Every SDK function: callback style, or a Promise of `extra` without a callback. */
export type SdkFunction = (options?: SdkOptions, callback?: SdkCallback) => Promise<unknown> | undefined
type Device = ReturnType<typeof useDeviceStore>

export class SdkError extends Error {
  constructor(
    readonly result_cd: number,
    readonly result_msg: string,
    readonly extra: unknown = null
  ) {
    super(`${result_cd} ${result_msg}`)
    this.name = 'GigagenieError'
  }
}

/** What init answers (the guide's §4.1.1 result shape); the values are this emulator's own. */
export const SDK_INIT_RESULT = { sdkversion: '1.4', devicetype: 'genie-bridge', displayflag: true } as const

/** The SDK's result code for calls before a successful init (PROTOCOL.md §7). */
export const NOT_INITIALIZED = 406

/** Why a call failed, in the SDK's terms: 406 stays, everything else is the media calls' 500. */
function failure(e: unknown): { result_cd: number; result_msg: string; extra: unknown } {
  if (e instanceof SdkError) return { result_cd: e.result_cd, result_msg: e.result_msg, extra: e.extra }
  if (e instanceof BridgeError) {
    return { result_cd: ResultCode.SYSTEM_ERROR, result_msg: `${e.message} (${e.result_cd})`, extra: null }
  }
  return {
    result_cd: ResultCode.SYSTEM_ERROR,
    result_msg: e instanceof Error ? e.message : String(e),
    extra: null
  }
}

function sdkCall(
  impl: (options: Record<string, unknown>) => Promise<unknown>,
  guard: () => Promise<void> = async () => undefined
): SdkFunction {
  return (options, callback) => {
    const run = (async () => {
      await guard()
      return impl(options ?? {})
    })().then(
      (extra) => ({ result_cd: ResultCode.OK as number, result_msg: 'Success', extra: extra ?? null }),
      failure
    )
    if (typeof callback === 'function') {
      void run.then((r) => callback(r.result_cd, r.result_msg, r.extra))
      return undefined
    }
    return run.then((r) => {
      if (r.result_cd !== ResultCode.OK) throw new SdkError(r.result_cd, r.result_msg, r.extra)
      return r.extra
    })
  }
}

function sessionOf(options: Record<string, unknown>, device: Device): string {
  const id = typeof options.sessionid === 'string' && options.sessionid ? options.sessionid : device.sessionid
  if (!id) throw new SdkError(ResultCode.SYSTEM_ERROR, 'no channel: call gigagenie.media.createChannel first')
  return id
}

export interface GigagenieSdk {
  init: SdkFunction
  appinfo: { getContainerId: SdkFunction }
  media: {
    createChannel: SdkFunction
    /** The SDK guide's name for createChannel. */
    createRelayChannel: SdkFunction
    keepaliveChannel: SdkFunction
    startWebRTCAudio: SdkFunction
    stopWebRTCAudio: SdkFunction
    destroyChannel: SdkFunction
    /** The SDK guide's name for destroyChannel. */
    destroyRelayChannel: SdkFunction
    onChannelEvent: SdkCallback | null
  }
}

/** The guide's samples say `audio`; the protocol's channel type for it is `webrtcaudio`. */
function channelTypeOf(options: Record<string, unknown>): string {
  const type = options.channeltype
  return typeof type !== 'string' || type === '' || type === 'audio' ? 'webrtcaudio' : type
}

export function createGigagenie(device: Device): GigagenieSdk {
  let initialized = false
  // A real speaker answers 406 until init has succeeded; the lenient default does not insist.
  const initFirst = async (): Promise<void> => {
    if (initialized) return
    await device.loadConfig()
    if (device.strict)
      throw new SdkError(NOT_INITIALIZED, 'gigagenie.init has not succeeded yet: call it first')
  }
  const call = (impl: (options: Record<string, unknown>) => Promise<unknown>): SdkFunction =>
    sdkCall(impl, initFirst)
  const createChannel = call(async (o) => {
    const sessionid = await device.createChannel({
      usecontainerid: o.usecontainerid === true,
      channeltype: channelTypeOf(o)
    })
    return { sessionid }
  })
  // Service apps sometimes pass an undefined channeltype: the session's own applies.
  const destroyChannel = call(async (o) => {
    await device.destroyChannel({ sessionid: sessionOf(o, device) })
    return null
  })
  const media: GigagenieSdk['media'] = {
    createChannel,
    createRelayChannel: createChannel,
    keepaliveChannel: call(async () => device.keepalive()),
    startWebRTCAudio: call(async (o) => {
      const id = sessionOf(o, device)
      if (id !== device.sessionid)
        throw new SdkError(ResultCode.SYSTEM_ERROR, `session "${id}" is not this device's channel`)
      await device.startAudio()
      return null
    }),
    stopWebRTCAudio: call(async () => {
      device.stopAudio()
      return null
    }),
    destroyChannel,
    destroyRelayChannel: destroyChannel,
    onChannelEvent: null
  }
  device.setChannelEventListener((cd, msg, extra) => {
    const fn = media.onChannelEvent
    if (typeof fn === 'function') fn(cd, msg, extra)
  })
  return {
    init: sdkCall(async () => {
      await device.connect()
      initialized = true
      return { ...SDK_INIT_RESULT }
    }),
    appinfo: {
      getContainerId: call(async () => {
        await device.connect()
        return { containerid: device.uuid, deviceid: device.uuid }
      })
    },
    media
  }
}
