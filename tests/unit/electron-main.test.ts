// The Electron entry (src/main/index.ts) booted against a mocked `electron`: the real core, IPC
// registration and window creation, checked through what the app does with the fakes it is given.
import { EventEmitter } from 'node:events'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { PTT_ACCELERATOR } from '../../src/main/electron/shortcut'
import { COMMAND_NAMES, type AppInfo, type Outcome } from '../../src/shared/contract'
import { ResultCode } from '../../src/shared/protocol'
import { Opcode, RawSocket } from '../helpers/raw-socket'

// For asynchronous effects (sockets closing, servers stopping, promises settling): a loaded machine
// may need more than the default 1 s of vi.waitFor.
const WAIT = { timeout: 5000, interval: 20 }

const h = vi.hoisted(() => ({ userData: '' }))

vi.mock('electron', async () => {
  const { EventEmitter } = await import('node:events')

  class WebContents extends EventEmitter {
    static nextId = 1
    readonly id = WebContents.nextId++
    readonly sent: [string, unknown][] = []
    windowOpenHandler: ((d: { url: string }) => { action: string }) | null = null
    setWindowOpenHandler(handler: (d: { url: string }) => { action: string }): void {
      this.windowOpenHandler = handler
    }
    send(channel: string, payload: unknown): void {
      this.sent.push([channel, payload])
    }
    isDestroyed(): boolean {
      return false
    }
  }

  class BrowserWindow extends EventEmitter {
    static all: BrowserWindow[] = []
    static fromWebContents(contents: unknown): BrowserWindow | null {
      return BrowserWindow.all.find((w) => w.webContents === contents) ?? null
    }
    static getAllWindows(): BrowserWindow[] {
      return [...BrowserWindow.all]
    }
    readonly webContents = new WebContents()
    readonly calls: string[] = []
    minimized = false
    constructor(readonly options: Record<string, unknown>) {
      super()
      BrowserWindow.all.push(this)
    }
    loadFile(file: string, options: unknown): Promise<void> {
      this.calls.push(`loadFile ${file} ${JSON.stringify(options)}`)
      return Promise.resolve()
    }
    loadURL(url: string): Promise<void> {
      this.calls.push(`loadURL ${url}`)
      return Promise.resolve()
    }
    show(): void {
      this.calls.push('show')
    }
    isMinimized(): boolean {
      return this.minimized
    }
    restore(): void {
      this.calls.push('restore')
    }
    focus(): void {
      this.calls.push('focus')
    }
    close(): void {
      BrowserWindow.all = BrowserWindow.all.filter((w) => w !== this)
      this.emit('closed')
    }
  }

  const handlers = new Map<string, (event: unknown, req: unknown) => Promise<unknown>>()
  const ipcMain = {
    handlers,
    handle: (channel: string, fn: (event: unknown, req: unknown) => Promise<unknown>) => {
      if (handlers.has(channel)) throw new Error(`second handler for ${channel}`)
      handlers.set(channel, fn)
    },
    removeHandler: (channel: string) => handlers.delete(channel)
  }

  const defaultSession = {
    handlers: {} as Record<string, unknown>,
    setPermissionRequestHandler(fn: unknown) {
      defaultSession.handlers['request'] = fn
    },
    setPermissionCheckHandler(fn: unknown) {
      defaultSession.handlers['check'] = fn
    },
    webRequest: {
      onHeadersReceived(fn: unknown) {
        defaultSession.handlers['headers'] = fn
      }
    }
  }

  class Tray extends EventEmitter {
    static all: Tray[] = []
    tooltip = ''
    menu: { items: unknown[] } | null = null
    destroyed = false
    constructor(readonly icon: string) {
      super()
      Tray.all.push(this)
    }
    setToolTip(text: string): void {
      this.tooltip = text
    }
    setContextMenu(menu: { items: unknown[] }): void {
      this.menu = menu
    }
    destroy(): void {
      this.destroyed = true
    }
    isDestroyed(): boolean {
      return this.destroyed
    }
  }
  const Menu = { buildFromTemplate: (items: unknown[]) => ({ items }) }

  class Notification extends EventEmitter {
    static shown: Notification[] = []
    static isSupported(): boolean {
      return true
    }
    constructor(readonly options: Record<string, unknown>) {
      super()
    }
    show(): void {
      Notification.shown.push(this)
    }
  }

  const shortcuts = new Map<string, () => void>()
  const globalShortcut = {
    shortcuts,
    register: vi.fn((accelerator: string, fn: () => void) => {
      shortcuts.set(accelerator, fn)
      return true
    }),
    unregister: vi.fn((accelerator: string) => void shortcuts.delete(accelerator))
  }

  const app = Object.assign(new EventEmitter(), {
    requestSingleInstanceLock: () => true,
    whenReady: () => Promise.resolve(),
    getVersion: () => '1.2.3-test',
    getLocale: () => 'en-US',
    isPackaged: false,
    getLoginItemSettings: () => ({ openAtLogin: false }),
    setLoginItemSettings: vi.fn(),
    getPath: (name: string) => {
      if (name !== 'userData') throw new Error(`unexpected path ${name}`)
      return h.userData
    },
    quit: vi.fn(),
    exit: vi.fn()
  })

  return {
    app,
    BrowserWindow,
    WebContents,
    ipcMain,
    session: { defaultSession },
    dialog: {
      showErrorBox: vi.fn(),
      showMessageBox: vi.fn(async () => ({ response: 1, checkboxChecked: false }))
    },
    shell: { openExternal: vi.fn(async () => undefined) },
    Tray,
    Menu,
    Notification,
    globalShortcut
  }
})

// What the test reads back from the fakes.
type FakeContents = EventEmitter & {
  id: number
  sent: [string, unknown][]
  windowOpenHandler: ((d: { url: string }) => { action: string }) | null
}
type FakeWindow = EventEmitter & {
  options: Record<string, unknown>
  webContents: FakeContents
  calls: string[]
  minimized: boolean
  close(): void
}
interface FakeMenuItem {
  id?: string
  label?: string
  enabled?: boolean
  click?: (item: { checked: boolean }) => void
}
interface Fakes {
  app: EventEmitter & { quit: ReturnType<typeof vi.fn>; exit: ReturnType<typeof vi.fn> }
  Tray: {
    all: (EventEmitter & {
      icon: string
      tooltip: string
      menu: { items: FakeMenuItem[] }
      destroyed: boolean
    })[]
  }
  Notification: { shown: { options: Record<string, unknown>; emit(event: string): boolean }[] }
  globalShortcut: {
    shortcuts: Map<string, () => void>
    register: ReturnType<typeof vi.fn>
    unregister: ReturnType<typeof vi.fn>
  }
  shell: { openExternal: ReturnType<typeof vi.fn> }
  BrowserWindow: { all: FakeWindow[] }
  WebContents: new () => FakeContents
  ipcMain: { handlers: Map<string, (event: unknown, req?: unknown) => Promise<Outcome<unknown>>> }
  session: { defaultSession: { handlers: Record<string, unknown> } }
  dialog: { showErrorBox: ReturnType<typeof vi.fn>; showMessageBox: ReturnType<typeof vi.fn> }
}

let electron: Fakes
const APP_FRAME = { url: 'file:///opt/genie-bridge/out/renderer/index.html#/device' }

function mainWindow(): FakeWindow {
  const win = electron.BrowserWindow.all.at(-1)
  if (!win) throw new Error('no window')
  return win
}

function invoke(name: string, sender: unknown, url: string | null, req?: unknown): Promise<Outcome<unknown>> {
  const handler = electron.ipcMain.handlers.get(name)
  if (!handler) throw new Error(`no handler for ${name}`)
  return handler({ sender, senderFrame: url === null ? null : { url } }, req)
}

function attempt(contents: EventEmitter, event: string, url: string): boolean {
  let prevented = false
  contents.emit(event, { preventDefault: () => (prevented = true) }, url)
  return prevented
}

function portIsClosed(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(false)
    })
    socket.once('error', () => resolve(true))
  })
}

describe('src/main/index.ts with a mocked electron', () => {
  let info: AppInfo

  beforeAll(async () => {
    h.userData = mkdtempSync(join(tmpdir(), 'genie-bridge-main-'))
    electron = (await import('electron')) as unknown as Fakes
    await import('../../src/main/index')
    await vi.waitFor(() => expect(electron.BrowserWindow.all).toHaveLength(1), WAIT)
    const r = await invoke('app:info', mainWindow().webContents, APP_FRAME.url)
    if (!r.ok) throw new Error(r.error.message)
    info = r.value as AppInfo
  })

  afterAll(() => {
    rmSync(h.userData, { recursive: true, force: true })
  })

  it('starts the core with the app version and an embedded channel server', () => {
    expect(info).toMatchObject({ host: 'electron', version: '1.2.3-test' })
    expect(info.channelUrl).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/channel$/)
  })

  it("writes the main-process log to <userData>/logs/main.log, with the embedded server's faults only", async () => {
    const file = join(h.userData, 'logs', 'main.log')
    // A protocol fault on the embedded server: a text frame that is not UTF-8.
    const raw = await RawSocket.open(Number(new URL(info.channelUrl!).port))
    raw.write({ opcode: Opcode.TEXT, payload: Buffer.from([0xff, 0xfe]) })
    await raw.closed()
    const read = (): Record<string, unknown>[] =>
      readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, unknown>)
    await vi.waitFor(
      () => expect(read().map((e) => e['msg'])).toContain('connection fault: protocol error'),
      WAIT
    )
    const entries = read()
    expect(entries[0]).toMatchObject({
      msg: 'app starting',
      level: 'info',
      component: 'main',
      version: '1.2.3-test'
    })
    expect(entries.find((e) => e['msg'] === 'connection fault: protocol error')).toMatchObject({
      level: 'warn',
      component: 'channel-server'
    })
    // Quiet by default: the embedded server's connections and sessions are not logged.
    expect(entries.map((e) => e['msg'])).not.toContain('connection opened')
  })

  it('opens one hardened window with the preload next to the main bundle', () => {
    const win = mainWindow()
    const prefs = win.options['webPreferences'] as Record<string, unknown>
    expect(prefs).toMatchObject({
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true
    })
    expect(String(prefs['preload'])).toMatch(/[\\/]preload[\\/]index\.cjs$/)
    expect(existsSync(String(win.options['icon']))).toBe(true)
    expect(String(win.options['icon'])).toMatch(/[\\/]resources[\\/]icon\.png$/)
    expect(win.calls[0]).toMatch(/^loadFile .*[\\/]renderer[\\/]index\.html /)
    expect(win.webContents.windowOpenHandler!({ url: 'https://example.com/' })).toEqual({ action: 'deny' })
  })

  it('locks down the default session before any page loads', () => {
    const { handlers } = electron.session.defaultSession
    expect(Object.keys(handlers).sort()).toEqual(['check', 'headers', 'request'])
  })

  it('registers every command, and validates the sender of each call', async () => {
    expect([...electron.ipcMain.handlers.keys()].sort()).toEqual([...COMMAND_NAMES].sort())
    const contents = mainWindow().webContents
    expect((await invoke('app:info', contents, APP_FRAME.url)).ok).toBe(true)

    const refused = [
      await invoke('app:info', contents, 'https://evil.example/'),
      await invoke('app:info', contents, null),
      // A webContents that belongs to no window of the app (e.g. a stray or devtools contents).
      await invoke('app:info', new electron.WebContents(), APP_FRAME.url)
    ]
    for (const r of refused) expect(!r.ok && r.error.result_cd).toBe(ResultCode.FORBIDDEN)
  })

  it('locks down every webContents created later, not only the main window', () => {
    const contents = new electron.WebContents()
    electron.app.emit('web-contents-created', {}, contents)
    expect(attempt(contents, 'will-navigate', 'https://example.com/')).toBe(true)
    expect(attempt(contents, 'will-redirect', 'https://example.com/')).toBe(true)
    expect(attempt(contents, 'will-navigate', APP_FRAME.url)).toBe(false)
    expect(contents.windowOpenHandler!({ url: 'https://example.com/' })).toEqual({ action: 'deny' })
  })

  it("keeps a page's connections through a blocked link and closes them on reload", async () => {
    const contents = mainWindow().webContents
    const connected = await invoke('channel:connect', contents, APP_FRAME.url, {
      connectionId: 'c',
      uuid: 'd'
    })
    expect(connected).toEqual({ ok: true, value: undefined })

    // A link to another site is cancelled by will-navigate after did-start-navigation has fired.
    contents.emit('did-start-navigation', {
      url: 'https://example.com/',
      isMainFrame: true,
      isSameDocument: false
    })
    expect((await invoke('channel:keepalive', contents, APP_FRAME.url, { connectionId: 'c' })).ok).toBe(true)

    contents.emit('did-start-navigation', { url: APP_FRAME.url, isMainFrame: true, isSameDocument: false })
    const after = await invoke('channel:keepalive', contents, APP_FRAME.url, { connectionId: 'c' })
    expect(!after.ok && after.error.result_cd).toBe(ResultCode.NOT_FOUND)
  })

  it('brings the window back when a second instance starts', () => {
    const win = mainWindow()
    win.minimized = true
    win.calls.length = 0
    electron.app.emit('second-instance')
    expect(win.calls).toEqual(['restore', 'focus'])
  })

  it('shows the call state of every window in the tray, in the language of the settings', async () => {
    expect(electron.Tray.all).toHaveLength(1)
    const tray = electron.Tray.all[0]!
    expect(tray.icon).toMatch(/[\\/]resources[\\/]tray\.png$/)
    expect(existsSync(tray.icon)).toBe(true)
    expect(tray.tooltip).toBe('Genie Bridge — Idle')

    const contents = mainWindow().webContents
    const report = (s: object) => invoke('app:reportStatus', contents, APP_FRAME.url, s)
    await report({ liveCalls: 2, joinedWebClients: 2, transmitting: false })
    expect(tray.tooltip).toBe('Genie Bridge — 2 live calls')
    expect(tray.menu.items[0]).toMatchObject({ label: '2 live calls', enabled: false })
    expect((await invoke('settings:set', contents, APP_FRAME.url, { language: 'ko' })).ok).toBe(true)
    expect(tray.tooltip).toBe('Genie Bridge — 통화 2건')
    // 'auto' follows the system locale (en-US here).
    await invoke('settings:set', contents, APP_FRAME.url, { language: 'auto' })
    expect(tray.tooltip).toBe('Genie Bridge — 2 live calls')
    await report({ liveCalls: 0, joinedWebClients: 0, transmitting: false })
    expect(tray.tooltip).toBe('Genie Bridge — Idle')
  })

  it('notifies when a web client joins; the notification brings the window', async () => {
    const contents = mainWindow().webContents
    const before = electron.Notification.shown.length
    await invoke('app:reportStatus', contents, APP_FRAME.url, {
      liveCalls: 0,
      joinedWebClients: 1,
      transmitting: false
    })
    expect(electron.Notification.shown).toHaveLength(before + 1)
    const notification = electron.Notification.shown.at(-1)!
    expect(notification.options).toMatchObject({ title: 'A web client joined' })
    expect(existsSync(String(notification.options['icon']))).toBe(true)
    const win = mainWindow()
    win.minimized = false
    win.calls.length = 0
    notification.emit('click')
    expect(win.calls).toEqual(['show', 'focus'])
    await invoke('app:reportStatus', contents, APP_FRAME.url, {
      liveCalls: 0,
      joinedWebClients: 0,
      transmitting: false
    })
    expect(electron.Notification.shown).toHaveLength(before + 1)
  })

  it('tray menu: Show brings the window, Quit quits; no start at login in an unpackaged run', () => {
    const tray = electron.Tray.all[0]!
    const item = (id: string) => tray.menu.items.find((i) => i.id === id)!
    expect(item('login')).toMatchObject({ enabled: false })
    const win = mainWindow()
    win.minimized = true
    win.calls.length = 0
    item('show').click!({ checked: false })
    expect(win.calls).toEqual(['restore', 'show', 'focus'])
    win.minimized = false
    const quits = electron.app.quit.mock.calls.length
    item('quit').click!({ checked: false })
    expect(electron.app.quit).toHaveBeenCalledTimes(quits + 1)
    electron.app.quit.mockClear()
  })

  it('sends ptt:toggle to the pages when the push-to-talk shortcut is pressed', async () => {
    expect(electron.globalShortcut.register).toHaveBeenCalledWith(PTT_ACCELERATOR, expect.any(Function))
    const contents = mainWindow().webContents
    expect((await invoke('app:info', contents, APP_FRAME.url)).ok).toBe(true) // the page has its scope
    contents.sent.length = 0
    electron.globalShortcut.shortcuts.get(PTT_ACCELERATOR)!()
    expect(contents.sent).toEqual([['ptt:toggle', { at: expect.any(Number) }]])
  })

  it('opens a link in the system browser only after asking, over the main window', async () => {
    const contents = mainWindow().webContents
    const url = 'https://example.com/help?topic=mic'
    const r = await invoke('shell:openExternal', contents, APP_FRAME.url, { url })
    expect(r).toEqual({ ok: true, value: { opened: true } })
    expect(electron.dialog.showMessageBox).toHaveBeenCalledWith(
      mainWindow(),
      expect.objectContaining({ detail: url, message: 'Open this link in your web browser?' })
    )
    expect(electron.shell.openExternal).toHaveBeenCalledWith(url)

    // A refusal keeps its result code across the bridge, and nothing is opened or asked.
    const asked = electron.dialog.showMessageBox.mock.calls.length
    const refused = await invoke('shell:openExternal', contents, APP_FRAME.url, {
      url: 'http://example.com/'
    })
    expect(!refused.ok && refused.error.result_cd).toBe(ResultCode.BAD_REQUEST)
    expect(electron.dialog.showMessageBox).toHaveBeenCalledTimes(asked)
    expect(electron.shell.openExternal).toHaveBeenCalledTimes(1)
  })

  it('opens a new window on activate only when none is open', () => {
    electron.app.emit('activate')
    expect(electron.BrowserWindow.all).toHaveLength(1)
    mainWindow().close()
    expect(electron.BrowserWindow.all).toHaveLength(0)
    // With no window, a second instance has nothing to focus and must not fail.
    expect(() => electron.app.emit('second-instance')).not.toThrow()
    electron.app.emit('activate')
    expect(electron.BrowserWindow.all).toHaveLength(1)
  })

  it('quits when the last window closes (except on macOS)', () => {
    electron.app.emit('window-all-closed')
    if (process.platform === 'darwin') expect(electron.app.quit).not.toHaveBeenCalled()
    else expect(electron.app.quit).toHaveBeenCalledTimes(1)
  })

  it('stops the core, and with it the embedded channel server, before quitting', async () => {
    const port = Number(new URL(info.channelUrl!).port)
    expect(await portIsClosed(port)).toBe(false)
    electron.app.emit('before-quit')
    await vi.waitFor(async () => expect(await portIsClosed(port)).toBe(true), WAIT)
    expect(electron.dialog.showErrorBox).not.toHaveBeenCalled()
  })

  it('gives the shortcut back and removes the tray icon when the app quits', () => {
    electron.app.emit('will-quit')
    expect(electron.globalShortcut.unregister).toHaveBeenCalledWith(PTT_ACCELERATOR)
    expect(electron.globalShortcut.shortcuts.size).toBe(0)
    expect(electron.Tray.all[0]!.destroyed).toBe(true)
  })
})
