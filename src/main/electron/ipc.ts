/**
 * Registers every command of the bridge contract with ipcMain in one place. Each webContents gets
 * its own core scope (disposed when the page reloads or goes away, so a reload never leaks
 * connections); a call from a frame that is not one of the app's pages is refused with 403.
 */
import type { IpcMain, IpcMainInvokeEvent, WebContents } from 'electron'
import { COMMAND_NAMES, type Outcome } from '../../shared/contract'
import { ResultCode } from '../../shared/protocol'
import type { AppCore, Scope } from '../core/app-core'

export type SenderCheck = (event: IpcMainInvokeEvent) => boolean

export function registerIpc(
  ipcMain: Pick<IpcMain, 'handle' | 'removeHandler'>,
  core: AppCore,
  isTrusted: SenderCheck
): () => void {
  const scopes = new Map<number, Scope>()

  const scopeFor = (contents: WebContents): Scope => {
    let scope = scopes.get(contents.id)
    if (scope) return scope
    const created = core.openScope((name, payload) => {
      if (!contents.isDestroyed()) contents.send(name, payload)
    })
    scope = created
    scopes.set(contents.id, created)
    const release = (): void => {
      if (scopes.get(contents.id) === created) scopes.delete(contents.id)
      created.dispose()
    }
    contents.once('destroyed', release)
    // A reload or navigation starts a new page: the old page's connections go with it.
    contents.on('did-start-navigation', (details: { isMainFrame?: boolean; isSameDocument?: boolean }) => {
      if (details.isMainFrame && !details.isSameDocument) release()
    })
    return created
  }

  for (const name of COMMAND_NAMES) {
    ipcMain.handle(name, async (event, req: unknown): Promise<Outcome<unknown>> => {
      if (!isTrusted(event)) {
        return {
          ok: false,
          error: { result_cd: ResultCode.FORBIDDEN, message: 'IPC from an untrusted frame refused' }
        }
      }
      return scopeFor(event.sender).handle(name, req)
    })
  }

  return () => {
    for (const name of COMMAND_NAMES) ipcMain.removeHandler(name)
    for (const scope of scopes.values()) scope.dispose()
    scopes.clear()
  }
}
