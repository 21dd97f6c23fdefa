/** Creates the app window with the hardened settings and locks navigation, new windows and permissions. */
import type { BrowserWindow as BrowserWindowType, Session, WebContents } from 'electron'
import { CONTENT_SECURITY_POLICY, allowPermission, isAppUrl } from './security'

export interface WindowDeps {
  BrowserWindow: typeof BrowserWindowType
  preloadPath: string
  rendererFile: string
  devServerUrl?: string
  route?: string
  kiosk?: boolean
  /** The window's icon (Linux shows it in the task bar; Windows and macOS take the app's own). */
  icon?: string
}

export function lockDownSession(session: Session, devServerUrl?: string): void {
  session.setPermissionRequestHandler((contents, permission, callback, details) => {
    const mediaTypes = (details as { mediaTypes?: string[] }).mediaTypes
    callback(
      allowPermission(permission, details.requestingUrl ?? contents.getURL(), mediaTypes, devServerUrl)
    )
  })
  // Checks (device labels, permissions.query) carry one media type: refusing video there keeps
  // camera names away from the page too.
  session.setPermissionCheckHandler((_contents, permission, requestingOrigin, details) => {
    const mediaType = details?.mediaType
    const mediaTypes = mediaType === 'audio' || mediaType === 'video' ? [mediaType] : undefined
    return allowPermission(permission, requestingOrigin, mediaTypes, devServerUrl)
  })
  session.webRequest.onHeadersReceived((details, callback) => {
    callback({
      responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [CONTENT_SECURITY_POLICY] }
    })
  })
}

export function lockDownContents(contents: WebContents, devServerUrl?: string): void {
  contents.on('will-navigate', (event, url) => {
    if (!isAppUrl(url, devServerUrl)) event.preventDefault()
  })
  contents.on('will-redirect', (event, url) => {
    if (!isAppUrl(url, devServerUrl)) event.preventDefault()
  })
  contents.setWindowOpenHandler(() => ({ action: 'deny' }))
  contents.on('will-attach-webview', (event) => event.preventDefault())
}

export function createMainWindow(deps: WindowDeps): BrowserWindowType {
  const { BrowserWindow } = deps
  // The preferences are written out in the `new BrowserWindow` call itself, not spread from
  // secureWebPreferences(): Electronegativity reads only literal options at the constructor call.
  // A unit test keeps the two equal.
  const win = new BrowserWindow({
    width: 1200,
    height: 800,
    minWidth: 720,
    minHeight: 520,
    show: false,
    title: 'Genie Bridge',
    autoHideMenuBar: true,
    ...(deps.icon ? { icon: deps.icon } : {}),
    ...(deps.kiosk ? { kiosk: true, fullscreen: true } : {}),
    webPreferences: {
      preload: deps.preloadPath,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      webviewTag: false,
      navigateOnDragDrop: false,
      spellcheck: false
    }
  })
  lockDownContents(win.webContents, deps.devServerUrl)
  win.once('ready-to-show', () => win.show())
  const hash = deps.route ?? ''
  if (deps.devServerUrl) void win.loadURL(`${deps.devServerUrl}#${hash}`)
  else void win.loadFile(deps.rendererFile, { hash })
  return win
}
