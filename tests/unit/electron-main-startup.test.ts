// How the Electron entry starts when it may not: a second instance hands over and quits, a core
// that fails to start (or a switch it cannot use) is reported instead of leaving a process with no
// window; and how `--server` and `--route` change what it starts.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { AppInfo, Outcome } from '../../src/shared/contract'

// For asynchronous effects (sockets closing, servers stopping, promises settling): a loaded machine
// may need more than the default 1 s of vi.waitFor.
const WAIT = { timeout: 5000, interval: 20 }

const h = vi.hoisted(() => ({
  lock: true,
  userDataError: null as Error | null,
  calls: [] as string[],
  handlers: new Map<string, (event: unknown, req?: unknown) => Promise<unknown>>(),
  windows: [] as { options: Record<string, unknown>; loaded: unknown[]; webContents: unknown }[]
}))

vi.mock('electron', async () => {
  // The main-process log goes to <userData>/logs: a folder of the test's own, never the repository.
  const { mkdtempSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const userData = mkdtempSync(join(tmpdir(), 'genie-bridge-startup-'))
  const app = {
    requestSingleInstanceLock: () => h.lock,
    on: (event: string) => {
      h.calls.push(`app.on ${event}`)
      return app
    },
    whenReady: () => Promise.resolve(),
    getVersion: () => '0.0.0-test',
    getLocale: () => 'en-US',
    isPackaged: false,
    getPath: () => {
      if (h.userDataError) throw h.userDataError
      return userData
    },
    quit: () => h.calls.push('app.quit'),
    exit: (code: number) => h.calls.push(`app.exit ${code}`)
  }
  const noop = () => undefined
  const emitter = { on: noop, once: noop, removeListener: noop }
  class BrowserWindow {
    static fromWebContents = (contents: unknown) => h.windows.find((w) => w.webContents === contents) ?? null
    static getAllWindows = () => h.windows
    readonly webContents = {
      ...emitter,
      id: 1,
      setWindowOpenHandler: noop,
      send: noop,
      isDestroyed: () => false
    }
    readonly loaded: unknown[] = []
    on = noop
    once = noop
    constructor(readonly options: Record<string, unknown>) {
      h.windows.push(this)
      h.calls.push('new BrowserWindow')
    }
    loadFile(file: string, options: unknown) {
      this.loaded.push([file, options])
      return Promise.resolve()
    }
    loadURL(url: string) {
      this.loaded.push(url)
      return Promise.resolve()
    }
  }
  class Tray {
    setToolTip = noop
    setContextMenu = noop
    on = noop
    destroy = noop
    isDestroyed = () => false
  }
  return {
    app,
    BrowserWindow,
    Tray,
    Menu: { buildFromTemplate: (items: unknown[]) => ({ items }) },
    Notification: { isSupported: () => false },
    globalShortcut: { register: () => true, unregister: noop },
    shell: { openExternal: noop },
    ipcMain: {
      handle: (name: string, fn: (event: unknown, req?: unknown) => Promise<unknown>) => {
        h.calls.push('ipcMain.handle')
        h.handlers.set(name, fn)
      },
      removeHandler: noop
    },
    session: {
      defaultSession: {
        setPermissionRequestHandler: noop,
        setPermissionCheckHandler: noop,
        webRequest: { onHeadersReceived: noop }
      }
    },
    dialog: {
      showErrorBox: (title: string, message: string) => h.calls.push(`error ${title}: ${message}`),
      showMessageBox: noop
    }
  }
})

describe('src/main/index.ts start-up', () => {
  const argv = process.argv

  beforeEach(() => {
    vi.resetModules()
    h.calls.length = 0
    h.handlers.clear()
    h.windows.length = 0
    h.lock = true
    h.userDataError = null
  })

  afterEach(() => {
    process.argv = argv
  })

  it('quits at once when another instance holds the lock, wiring nothing', async () => {
    h.lock = false
    await import('../../src/main/index')
    // Nothing should happen later either: give a wrongly started core the time to register IPC.
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(h.calls).toEqual(['app.quit'])
  })

  it('says why and exits when the core cannot start, instead of running without a window', async () => {
    h.userDataError = new Error('no user data folder')
    await import('../../src/main/index')
    await vi.waitFor(() => expect(h.calls).toContain('app.exit 1'), WAIT)
    expect(h.calls).toContain('error Genie Bridge could not start: no user data folder')
    expect(h.calls).not.toContain('ipcMain.handle')
  })

  it('says why and exits on a --server it cannot use', async () => {
    process.argv = [...argv, '--server', 'http://127.0.0.1:8787/channel']
    await import('../../src/main/index')
    await vi.waitFor(() => expect(h.calls).toContain('app.exit 1'), WAIT)
    expect(h.calls.find((c) => c.startsWith('error '))).toMatch(
      /^error Genie Bridge could not start: --server must be a ws:\/\/ or wss:\/\/ URL/
    )
    expect(h.calls).not.toContain('ipcMain.handle')
    expect(h.calls).not.toContain('new BrowserWindow')
  })

  it('with --server uses that channel server and embeds none; --route opens that view', async () => {
    const server = 'ws://127.0.0.1:9/channel'
    process.argv = [...argv, '--server', server, '--route', '/console']
    await import('../../src/main/index')
    await vi.waitFor(() => expect(h.windows).toHaveLength(1), WAIT)
    expect(h.windows[0]!.loaded).toEqual([[expect.stringMatching(/index\.html$/), { hash: '/console' }]])

    const appInfo = h.handlers.get('app:info')!
    const outcome = (await appInfo({
      sender: h.windows[0]!.webContents,
      senderFrame: { url: 'file:///app/out/renderer/index.html#/console' }
    })) as Outcome<AppInfo>
    if (!outcome.ok) throw new Error(outcome.error.message)
    expect(outcome.value).toMatchObject({ channelUrl: null, defaultServerUrl: server })
  })
})
