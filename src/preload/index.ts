/**
 * Exposes exactly the bridge contract as `window.api`: one named function per command and one
 * `on*` subscription (returning an unsubscribe) per event. No raw ipcRenderer reaches the page.
 */
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron'
import { COMMAND_NAMES, EVENT_NAMES, commandMethod, eventMethod } from '../shared/contract'

export function buildApi(
  ipc: Pick<typeof ipcRenderer, 'invoke' | 'on' | 'removeListener'>
): Record<string, unknown> {
  const api: Record<string, unknown> = {}
  for (const name of COMMAND_NAMES) {
    api[commandMethod(name)] = (req?: unknown) => ipc.invoke(name, req)
  }
  for (const name of EVENT_NAMES) {
    api[eventMethod(name)] = (handler: (payload: unknown) => void) => {
      if (typeof handler !== 'function') throw new TypeError(`${eventMethod(name)} needs a function`)
      const listener = (_event: IpcRendererEvent, payload: unknown): void => handler(payload)
      ipc.on(name, listener)
      return () => {
        ipc.removeListener(name, listener)
      }
    }
  }
  return Object.freeze(api)
}

contextBridge.exposeInMainWorld('api', buildApi(ipcRenderer))
