// How the Electron entry starts when it may not: a second instance hands over and quits, and a core
// that fails to start is reported instead of leaving a process with no window.
import { beforeEach, describe, expect, it, vi } from 'vitest'

// For asynchronous effects (sockets closing, servers stopping, promises settling): a loaded machine
// may need more than the default 1 s of vi.waitFor.
const WAIT = { timeout: 5000, interval: 20 }

const h = vi.hoisted(() => ({
  lock: true,
  userDataError: null as Error | null,
  calls: [] as string[]
}))

vi.mock('electron', () => {
  const listeners = new Map<string, unknown>()
  const app = {
    requestSingleInstanceLock: () => h.lock,
    on: (event: string, fn: unknown) => {
      listeners.set(event, fn)
      h.calls.push(`app.on ${event}`)
      return app
    },
    whenReady: () => Promise.resolve(),
    getVersion: () => '0.0.0-test',
    getPath: () => {
      if (h.userDataError) throw h.userDataError
      return ''
    },
    quit: () => h.calls.push('app.quit'),
    exit: (code: number) => h.calls.push(`app.exit ${code}`)
  }
  const noop = () => undefined
  return {
    app,
    BrowserWindow: class {},
    ipcMain: { handle: () => h.calls.push('ipcMain.handle'), removeHandler: noop },
    session: {
      defaultSession: {
        setPermissionRequestHandler: noop,
        setPermissionCheckHandler: noop,
        webRequest: { onHeadersReceived: noop }
      }
    },
    dialog: { showErrorBox: (title: string, message: string) => h.calls.push(`error ${title}: ${message}`) }
  }
})

describe('src/main/index.ts start-up', () => {
  beforeEach(() => {
    vi.resetModules()
    h.calls.length = 0
    h.lock = true
    h.userDataError = null
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
})
