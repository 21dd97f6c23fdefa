/**
 * `window.gigagenie`: the GiGA Genie device SDK surface (PROTOCOL.md §8) on top of the device
 * store, so that a service app's own code drives Genie Bridge's speaker exactly as the UI does.
 * Every call is `fn(options, callback(result_cd, result_msg, extra))`, or returns a Promise that
 * resolves to `extra` and rejects with an error carrying result_cd, result_msg and extra.
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

function sdkCall(impl: (options: Record<string, unknown>) => Promise<unknown>): SdkFunction {
  return (options, callback) => {
    const run = (async () => impl(options ?? {}))().then(
      (extra) => ({ result_cd: ResultCode.OK as number, result_msg: 'Success', extra: extra ?? null }),
      (e: unknown) => {
        const result_cd =
          e instanceof SdkError || e instanceof BridgeError ? e.result_cd : ResultCode.SYSTEM_ERROR
        const result_msg = e instanceof SdkError ? e.result_msg : e instanceof Error ? e.message : String(e)
        return { result_cd, result_msg, extra: e instanceof SdkError ? e.extra : null }
      }
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
  if (!id) throw new SdkError(ResultCode.NOT_FOUND, 'no channel: call gigagenie.media.createChannel first')
  return id
}

export interface GigagenieSdk {
  init: SdkFunction
  appinfo: { getContainerId: SdkFunction }
  media: {
    createChannel: SdkFunction
    keepaliveChannel: SdkFunction
    startWebRTCAudio: SdkFunction
    stopWebRTCAudio: SdkFunction
    destroyChannel: SdkFunction
    onChannelEvent: SdkCallback | null
  }
}

export function createGigagenie(device: Device): GigagenieSdk {
  const media: GigagenieSdk['media'] = {
    createChannel: sdkCall(async (o) => {
      const channeltype = typeof o.channeltype === 'string' ? o.channeltype : 'webrtcaudio'
      const sessionid = await device.createChannel({ usecontainerid: o.usecontainerid === true, channeltype })
      return { sessionid }
    }),
    keepaliveChannel: sdkCall(async () => device.keepalive()),
    startWebRTCAudio: sdkCall(async (o) => {
      const id = sessionOf(o, device)
      if (id !== device.sessionid)
        throw new SdkError(ResultCode.NOT_FOUND, `session "${id}" is not this device's channel`)
      await device.startAudio()
      return null
    }),
    stopWebRTCAudio: sdkCall(async () => {
      device.stopAudio()
      return null
    }),
    // Service apps sometimes pass an undefined channeltype: the session's own applies.
    destroyChannel: sdkCall(async (o) => {
      await device.destroyChannel({ sessionid: sessionOf(o, device) })
      return null
    }),
    onChannelEvent: null
  }
  device.setChannelEventListener((cd, msg, extra) => {
    const fn = media.onChannelEvent
    if (typeof fn === 'function') fn(cd, msg, extra)
  })
  return {
    init: sdkCall(async () => {
      await device.connect()
      return null
    }),
    appinfo: {
      getContainerId: sdkCall(async () => {
        await device.connect()
        return { containerid: device.uuid, deviceid: device.uuid }
      })
    },
    media
  }
}
