/**
 * Registers every command of the bridge contract with ipcMain in one place. Each webContents gets
 * its own core scope (disposed when the page reloads, navigates, crashes or goes away, so a reload
 * never leaks connections); a call from a frame that is not one of the app's pages is refused with 403.
 */
import type { IpcMain, IpcMainInvokeEvent, WebContents } from 'electron'
import { COMMAND_NAMES, type Outcome } from '../../shared/contract'
import { ResultCode } from '../../shared/protocol'
import type { AppCore, Scope } from '../core/app-core'

/** What a page is told when the app could not deliver one of its messages. */
export const SEND_FAILED_DETAIL =
  'the app could not deliver a message to this page; its connections were closed'

export type SenderCheck = (event: IpcMainInvokeEvent) => boolean

export interface IpcOptions {
  /**
   * Whether a main-frame navigation to `url` may proceed. `did-start-navigation` fires before
   * `will-navigate` gets the chance to cancel, so without this a blocked link click would close the
   * page's live calls although the page stays. Default: every navigation replaces the page.
   */
  isAllowedNavigation?: (url: string) => boolean
}

interface NavigationDetails {
  url?: string
  isMainFrame?: boolean
  isSameDocument?: boolean
}

export function registerIpc(
  ipcMain: Pick<IpcMain, 'handle' | 'removeHandler'>,
  core: AppCore,
  isTrusted: SenderCheck,
  options: IpcOptions = {}
): () => void {
  const scopes = new Map<number, { scope: Scope; release: () => void }>()
  const isAllowedNavigation = options.isAllowedNavigation ?? (() => true)

  const scopeFor = (contents: WebContents): Scope => {
    const existing = scopes.get(contents.id)
    if (existing) return existing.scope
    const scope = core.openScope((name, payload) => {
      if (contents.isDestroyed()) return
      try {
        contents.send(name, payload)
      } catch (e) {
        // Events are sent from socket callbacks and timers: a payload that cannot be sent ends
        // this page's scope (with a reason it can show), never the app.
        console.error(`ipc: ${name} could not be sent to a page: ${String(e)}`)
        const connectionIds = scope.connectionIds
        release()
        for (const connectionId of connectionIds) {
          try {
            contents.send('channel:state', {
              connectionId,
              state: 'closed',
              detail: SEND_FAILED_DETAIL
            })
          } catch {
            // the page is gone for good
          }
        }
      }
    })
    // A reload or navigation starts a new page: the old page's connections go with it. The
    // listeners go too, so that a window reloaded many times does not pile them up.
    const onNavigation = (details: NavigationDetails): void => {
      if (!details.isMainFrame || details.isSameDocument) return
      if (typeof details.url === 'string' && !isAllowedNavigation(details.url)) return
      release()
    }
    const release = (): void => {
      contents.removeListener('destroyed', release)
      contents.removeListener('render-process-gone', release)
      contents.removeListener('did-start-navigation', onNavigation)
      if (scopes.get(contents.id)?.scope === scope) scopes.delete(contents.id)
      scope.dispose()
    }
    scopes.set(contents.id, { scope, release })
    contents.once('destroyed', release)
    // A crashed renderer lost its page; main would otherwise keep its channels alive unattended.
    contents.once('render-process-gone', release)
    contents.on('did-start-navigation', onNavigation)
    return scope
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
    for (const { release } of [...scopes.values()]) release()
    scopes.clear()
  }
}
