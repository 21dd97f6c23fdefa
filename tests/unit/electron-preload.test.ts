// The preload with a mocked `electron`: what reaches the page as `window.api` is exactly the bridge
// contract, and nothing of ipcRenderer itself.
import type { EventEmitter } from 'node:events'
import * as electronModule from 'electron'
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { COMMAND_NAMES, EVENT_NAMES, commandMethod, eventMethod } from '../../src/shared/contract'
import { buildApi } from '../../src/preload/index'

vi.mock('electron', async () => {
  const { EventEmitter } = await import('node:events')
  const ipcRenderer = Object.assign(new EventEmitter(), {
    invoke: vi.fn(async (..._args: unknown[]): Promise<unknown> => undefined),
    send: vi.fn(),
    sendSync: vi.fn()
  })
  return { ipcRenderer, contextBridge: { exposeInMainWorld: vi.fn() } }
})

const electron = {
  ipcRenderer: electronModule.ipcRenderer as unknown as EventEmitter & {
    invoke: ReturnType<typeof vi.fn>
  },
  exposeInMainWorld: electronModule.contextBridge.exposeInMainWorld as unknown as ReturnType<typeof vi.fn>
}

type AnyFn = (...args: unknown[]) => unknown

function exposedApi(): Record<string, AnyFn> {
  const call = electron.exposeInMainWorld.mock.calls[0]
  if (!call) throw new Error('nothing was exposed')
  return call[1] as Record<string, AnyFn>
}

describe('preload: window.api', () => {
  beforeEach(() => {
    electron.ipcRenderer.removeAllListeners()
  })

  it('is exposed once, under the name "api"', () => {
    expect(electron.exposeInMainWorld).toHaveBeenCalledTimes(1)
    expect(electron.exposeInMainWorld.mock.calls[0]![0]).toBe('api')
  })

  it('has one function per command and one on* per event, and nothing else', () => {
    const api = exposedApi()
    const expected = [...COMMAND_NAMES.map(commandMethod), ...EVENT_NAMES.map(eventMethod)].sort()
    expect(new Set(expected).size).toBe(COMMAND_NAMES.length + EVENT_NAMES.length)
    expect(Object.keys(api).sort()).toEqual(expected)
    expect(Object.getOwnPropertySymbols(api)).toEqual([])
    for (const value of Object.values(api)) expect(typeof value).toBe('function')
  })

  it('names its methods as the contract says (channel:connect → channelConnect, on → onChannelState)', () => {
    const api = exposedApi()
    for (const name of ['appInfo', 'channelConnect', 'channelKeepalive', 'settingsSet']) {
      expect(api).toHaveProperty(name)
    }
    for (const name of ['onChannelState', 'onChannelFrame', 'onChannelSession', 'onSettingsChanged']) {
      expect(api).toHaveProperty(name)
    }
  })

  it('is frozen and carries no ipcRenderer', () => {
    const api = exposedApi()
    expect(Object.isFrozen(api)).toBe(true)
    expect(() => {
      ;(api as Record<string, unknown>)['invoke'] = () => undefined
    }).toThrow(TypeError)
    for (const key of ['invoke', 'send', 'sendSync', 'on', 'once', 'removeListener', 'ipcRenderer']) {
      expect(api).not.toHaveProperty(key)
    }
    for (const value of Object.values(api)) expect(value).not.toBe(electron.ipcRenderer)
  })

  it('sends each command on its own channel with the request, and returns what main answered', async () => {
    const calls: unknown[][] = []
    const ipc = {
      invoke: async (channel: string, ...args: unknown[]) => {
        calls.push([channel, ...args])
        return { ok: true, value: `answer to ${channel}` }
      },
      on: () => ipc,
      removeListener: () => ipc
    }
    const api = buildApi(ipc as never) as Record<string, AnyFn>
    for (const name of COMMAND_NAMES) {
      calls.length = 0
      const req = { connectionId: 'c1', marker: name }
      await expect(api[commandMethod(name)]!(req)).resolves.toEqual({ ok: true, value: `answer to ${name}` })
      expect(calls).toEqual([[name, req]])
    }
  })

  it('the exposed functions talk to the (mocked) ipcRenderer', async () => {
    electron.ipcRenderer.invoke.mockResolvedValueOnce({ ok: true, value: 1 })
    await expect(exposedApi()['appInfo']!()).resolves.toEqual({ ok: true, value: 1 })
    expect(electron.ipcRenderer.invoke).toHaveBeenLastCalledWith('app:info', undefined)
  })

  it('an on* subscription delivers the payload (not the IPC event) and its unsubscribe removes the listener', () => {
    const api = exposedApi()
    for (const name of EVENT_NAMES) {
      const got: unknown[] = []
      const unsubscribe = api[eventMethod(name)]!((payload: unknown) => got.push(payload)) as () => void
      expect(electron.ipcRenderer.listenerCount(name)).toBe(1)
      electron.ipcRenderer.emit(name, { sender: 'ipc event' }, { n: 1 })
      expect(got).toEqual([{ n: 1 }])

      unsubscribe()
      expect(electron.ipcRenderer.listenerCount(name)).toBe(0)
      electron.ipcRenderer.emit(name, { sender: 'ipc event' }, { n: 2 })
      expect(got).toEqual([{ n: 1 }])
    }
  })

  it('unsubscribing one handler leaves the others subscribed, and a second unsubscribe is harmless', () => {
    const api = exposedApi()
    const a: unknown[] = []
    const b: unknown[] = []
    const offA = api['onChannelState']!((p: unknown) => a.push(p)) as () => void
    const offB = api['onChannelState']!((p: unknown) => b.push(p)) as () => void
    offA()
    offA()
    electron.ipcRenderer.emit('channel:state', {}, 'x')
    expect(a).toEqual([])
    expect(b).toEqual(['x'])
    expect(electron.ipcRenderer.listenerCount('channel:state')).toBe(1)
    offB()
    expect(electron.ipcRenderer.listenerCount('channel:state')).toBe(0)
  })

  it('refuses a subscription without a handler and registers nothing', () => {
    const api = exposedApi()
    expect(() => api['onChannelFrame']!('not a function')).toThrow(TypeError)
    expect(electron.ipcRenderer.listenerCount('channel:frame')).toBe(0)
  })

  it('a subscription does not hear other events', () => {
    const api = exposedApi()
    const got: unknown[] = []
    const off = api['onChannelFrame']!((p: unknown) => got.push(p)) as () => void
    electron.ipcRenderer.emit('channel:state', {}, 'state')
    electron.ipcRenderer.emit('settings:changed', {}, 'settings')
    expect(got).toEqual([])
    off()
  })
})
