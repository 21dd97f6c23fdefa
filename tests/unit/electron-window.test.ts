// The main window and the session, built on fakes of Electron's classes: hardened preferences,
// no pop-ups, no navigation away, permissions and the CSP header wired to the session.
import { EventEmitter } from 'node:events'
import { describe, expect, it, vi } from 'vitest'
import { CONTENT_SECURITY_POLICY, secureWebPreferences } from '../../src/main/electron/security'
import { createMainWindow, lockDownContents, lockDownSession } from '../../src/main/electron/window'

// window.ts needs only types from electron; a runtime import would reach for the missing binary.
vi.mock('electron', () => {
  throw new Error('src/main/electron/window.ts must not load electron at runtime')
})

const APP = 'file:///opt/genie-bridge/out/renderer/index.html'
const DEV = 'http://localhost:5173'

type WindowOpenHandler = (details: { url: string }) => { action: string }

class FakeWebContents extends EventEmitter {
  windowOpenHandler: WindowOpenHandler | null = null
  setWindowOpenHandler(handler: WindowOpenHandler): void {
    this.windowOpenHandler = handler
  }
  /** Emits a cancellable event the way Electron does and tells whether a listener cancelled it. */
  attempt(name: string, ...args: unknown[]): boolean {
    let prevented = false
    this.emit(name, { preventDefault: () => (prevented = true) }, ...args)
    return prevented
  }
}

class FakeBrowserWindow extends EventEmitter {
  static created: FakeBrowserWindow[] = []
  readonly webContents = new FakeWebContents()
  readonly loaded: unknown[][] = []
  shown = false
  constructor(readonly options: Record<string, unknown>) {
    super()
    FakeBrowserWindow.created.push(this)
  }
  show(): void {
    this.shown = true
  }
  loadURL(url: string): Promise<void> {
    this.loaded.push(['url', url])
    return Promise.resolve()
  }
  loadFile(file: string, options?: unknown): Promise<void> {
    this.loaded.push(['file', file, options])
    return Promise.resolve()
  }
}

function makeWindow(
  extra: { devServerUrl?: string; route?: string; kiosk?: boolean; icon?: string } = {}
): FakeBrowserWindow {
  createMainWindow({
    BrowserWindow: FakeBrowserWindow as never,
    preloadPath: '/app/out/preload/index.cjs',
    rendererFile: '/app/out/renderer/index.html',
    ...extra
  })
  return FakeBrowserWindow.created.at(-1)!
}

describe('createMainWindow', () => {
  it('creates the window with the hardened web preferences and the preload', () => {
    const win = makeWindow()
    expect(win.options['webPreferences']).toMatchObject({
      preload: '/app/out/preload/index.cjs',
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false
    })
  })

  it('passes exactly the preferences of secureWebPreferences (written out for the security scanner)', () => {
    const win = makeWindow()
    expect(win.options['webPreferences']).toEqual(secureWebPreferences('/app/out/preload/index.cjs'))
  })

  it('denies every window.open, whatever the URL', () => {
    const win = makeWindow()
    const handler = win.webContents.windowOpenHandler
    expect(handler).not.toBeNull()
    for (const url of ['https://example.com/', APP, 'about:blank', 'javascript:alert(1)']) {
      expect(handler!({ url })).toEqual({ action: 'deny' })
    }
  })

  it('cancels navigation to any other origin, and lets the app navigate within itself', () => {
    const win = makeWindow()
    for (const url of [
      'https://example.com/',
      'http://127.0.0.1:8080/',
      'data:text/html,x',
      'javascript:1'
    ]) {
      expect(win.webContents.attempt('will-navigate', url)).toBe(true)
    }
    expect(win.webContents.attempt('will-navigate', `${APP}#/device`)).toBe(false)
  })

  it('cancels redirects away from the app and refuses <webview>', () => {
    const win = makeWindow()
    expect(win.webContents.attempt('will-redirect', 'https://example.com/')).toBe(true)
    expect(win.webContents.attempt('will-attach-webview', {}, {})).toBe(true)
  })

  it('under the dev server, allows that origin only', () => {
    const win = makeWindow({ devServerUrl: DEV })
    expect(win.webContents.attempt('will-navigate', `${DEV}/#/console`)).toBe(false)
    expect(win.webContents.attempt('will-navigate', 'http://localhost:5174/')).toBe(true)
    expect(win.loaded).toEqual([['url', `${DEV}#`]])
  })

  it('loads the built page (with the route as hash) and shows the window once it is ready', () => {
    const win = makeWindow({ route: '/kiosk', kiosk: true })
    expect(win.loaded).toEqual([['file', '/app/out/renderer/index.html', { hash: '/kiosk' }]])
    expect(win.options).toMatchObject({ kiosk: true, fullscreen: true, show: false })
    expect(win.shown).toBe(false)
    win.emit('ready-to-show')
    expect(win.shown).toBe(true)
  })

  it('sets the window icon when given one, and no icon option otherwise', () => {
    expect(makeWindow({ icon: '/app/resources/icon.png' }).options['icon']).toBe('/app/resources/icon.png')
    expect(makeWindow().options).not.toHaveProperty('icon')
  })
})

describe('lockDownContents', () => {
  it('locks any webContents it is given', () => {
    const contents = new FakeWebContents()
    lockDownContents(contents as never)
    expect(contents.attempt('will-navigate', 'https://example.com/')).toBe(true)
    expect(contents.windowOpenHandler!({ url: 'https://example.com/' })).toEqual({ action: 'deny' })
  })
})

type RequestHandler = (
  contents: { getURL(): string },
  permission: string,
  callback: (granted: boolean) => void,
  details: Record<string, unknown>
) => void
type CheckHandler = (
  contents: unknown,
  permission: string,
  requestingOrigin: string,
  details: Record<string, unknown>
) => boolean
type HeadersListener = (
  details: { responseHeaders?: Record<string, string[]> },
  callback: (response: { responseHeaders?: Record<string, string[]> }) => void
) => void

function fakeSession() {
  const s = {
    request: null as RequestHandler | null,
    check: null as CheckHandler | null,
    headers: null as HeadersListener | null,
    setPermissionRequestHandler(h: RequestHandler) {
      s.request = h
    },
    setPermissionCheckHandler(h: CheckHandler) {
      s.check = h
    },
    webRequest: {
      onHeadersReceived(h: HeadersListener) {
        s.headers = h
      }
    }
  }
  return s
}

describe('lockDownSession', () => {
  const page = (url: string) => ({ getURL: () => url })
  const request = (
    s: ReturnType<typeof fakeSession>,
    permission: string,
    details: Record<string, unknown>
  ) => {
    const answers: boolean[] = []
    s.request!(page(String(details['requestingUrl'] ?? APP)), permission, (g) => answers.push(g), details)
    expect(answers).toHaveLength(1)
    return answers[0]
  }

  it('wires both permission handlers and the header listener', () => {
    const s = fakeSession()
    lockDownSession(s as never)
    expect(s.request).toBeTypeOf('function')
    expect(s.check).toBeTypeOf('function')
    expect(s.headers).toBeTypeOf('function')
  })

  it('answers permission requests: the microphone for the app, nothing else', () => {
    const s = fakeSession()
    lockDownSession(s as never)
    expect(request(s, 'media', { requestingUrl: APP, mediaTypes: ['audio'] })).toBe(true)
    expect(request(s, 'media', { requestingUrl: APP, mediaTypes: ['video'] })).toBe(false)
    expect(request(s, 'media', { requestingUrl: APP, mediaTypes: ['audio', 'video'] })).toBe(false)
    expect(request(s, 'media', { requestingUrl: 'https://evil.example/', mediaTypes: ['audio'] })).toBe(false)
    expect(request(s, 'notifications', { requestingUrl: APP })).toBe(false)
    expect(request(s, 'openExternal', { requestingUrl: APP, externalURL: 'https://example.com/' })).toBe(
      false
    )
  })

  it("falls back to the page's URL when a request does not say who asks", () => {
    const s = fakeSession()
    lockDownSession(s as never)
    const answers: boolean[] = []
    s.request!(page(APP), 'media', (g) => answers.push(g), { mediaTypes: ['audio'] })
    s.request!(page('https://evil.example/'), 'media', (g) => answers.push(g), { mediaTypes: ['audio'] })
    expect(answers).toEqual([true, false])
  })

  it('answers permission checks the same way, refusing camera checks', () => {
    const s = fakeSession()
    lockDownSession(s as never)
    expect(s.check!(null, 'media', 'file:///', { isMainFrame: true, mediaType: 'audio' })).toBe(true)
    expect(s.check!(null, 'media', 'file:///', { isMainFrame: true })).toBe(true)
    expect(s.check!(null, 'media', 'file:///', { isMainFrame: true, mediaType: 'video' })).toBe(false)
    expect(s.check!(null, 'media', 'https://evil.example', { isMainFrame: true, mediaType: 'audio' })).toBe(
      false
    )
    expect(s.check!(null, 'geolocation', 'file:///', { isMainFrame: true })).toBe(false)
  })

  it('honours the dev server origin when one is given', () => {
    const s = fakeSession()
    lockDownSession(s as never, DEV)
    expect(request(s, 'media', { requestingUrl: `${DEV}/`, mediaTypes: ['audio'] })).toBe(true)
    expect(s.check!(null, 'media', DEV, { isMainFrame: true, mediaType: 'audio' })).toBe(true)
  })

  it('adds the Content-Security-Policy header to every response and keeps the other headers', () => {
    const s = fakeSession()
    lockDownSession(s as never)
    const out: { responseHeaders?: Record<string, string[]> }[] = []
    s.headers!({ responseHeaders: { 'Content-Type': ['text/html'] } }, (r) => out.push(r))
    s.headers!({}, (r) => out.push(r))
    expect(out).toEqual([
      {
        responseHeaders: {
          'Content-Type': ['text/html'],
          'Content-Security-Policy': [CONTENT_SECURITY_POLICY]
        }
      },
      { responseHeaders: { 'Content-Security-Policy': [CONTENT_SECURITY_POLICY] } }
    ])
  })
})
