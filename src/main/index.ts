/** Electron entry: thin wiring of the core into windows and IPC. All logic lives in electron-free modules. */
import { join } from 'node:path'
import { BrowserWindow, app, ipcMain, session } from 'electron'
import { AppCore } from './core/app-core'
import { registerIpc } from './electron/ipc'
import { isAppUrl } from './electron/security'
import { createMainWindow, lockDownSession } from './electron/window'

const devServerUrl = process.env['ELECTRON_RENDERER_URL']
const kiosk = process.argv.includes('--kiosk')

if (!app.requestSingleInstanceLock()) {
  app.quit()
} else {
  let mainWindow: BrowserWindow | null = null
  let core: AppCore | null = null

  const openWindow = (): void => {
    mainWindow = createMainWindow({
      BrowserWindow,
      preloadPath: join(import.meta.dirname, '../preload/index.cjs'),
      rendererFile: join(import.meta.dirname, '../renderer/index.html'),
      ...(devServerUrl ? { devServerUrl } : {}),
      ...(kiosk ? { kiosk, route: '/kiosk' } : {})
    })
    mainWindow.on('closed', () => (mainWindow = null))
  }

  app.on('second-instance', () => {
    if (!mainWindow) return
    if (mainWindow.isMinimized()) mainWindow.restore()
    mainWindow.focus()
  })

  app.on('web-contents-created', (_event, contents) => {
    contents.on('will-navigate', (e, url) => {
      if (!isAppUrl(url, devServerUrl)) e.preventDefault()
    })
    contents.setWindowOpenHandler(() => ({ action: 'deny' }))
  })

  void app.whenReady().then(async () => {
    lockDownSession(session.defaultSession, devServerUrl)
    core = await AppCore.start({
      host: 'electron',
      version: app.getVersion(),
      dataDir: app.getPath('userData')
    })
    registerIpc(ipcMain, core, (event) => {
      const frame = event.senderFrame
      return (
        frame !== null &&
        isAppUrl(frame.url, devServerUrl) &&
        BrowserWindow.fromWebContents(event.sender) !== null
      )
    })
    openWindow()
    app.on('activate', () => {
      if (BrowserWindow.getAllWindows().length === 0) openWindow()
    })
  })

  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit()
  })

  app.on('before-quit', () => {
    void core?.stop()
  })
}
