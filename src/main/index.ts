/** Electron entry: thin wiring of the core into windows and IPC. All logic lives in electron-free modules. */
import { join } from 'node:path'
import { BrowserWindow, app, dialog, ipcMain, session } from 'electron'
import { AppCore } from './core/app-core'
import { registerIpc } from './electron/ipc'
import { isAppUrl, isTrustedSender } from './electron/security'
import { createMainWindow, lockDownContents, lockDownSession } from './electron/window'

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

  // Every webContents, not only the main window's: no navigation away, no pop-ups, no webviews.
  app.on('web-contents-created', (_event, contents) => lockDownContents(contents, devServerUrl))

  app
    .whenReady()
    .then(async () => {
      lockDownSession(session.defaultSession, devServerUrl)
      core = await AppCore.start({
        host: 'electron',
        version: app.getVersion(),
        dataDir: app.getPath('userData')
      })
      registerIpc(
        ipcMain,
        core,
        (event) =>
          isTrustedSender(event, (sender) => BrowserWindow.fromWebContents(sender) !== null, devServerUrl),
        { isAllowedNavigation: (url) => isAppUrl(url, devServerUrl) }
      )
      openWindow()
      app.on('activate', () => {
        if (BrowserWindow.getAllWindows().length === 0) openWindow()
      })
    })
    .catch((e: unknown) => {
      // Without the core there is no window to show an error in: say why, then leave.
      dialog.showErrorBox('Genie Bridge could not start', e instanceof Error ? e.message : String(e))
      app.exit(1)
    })

  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit()
  })

  app.on('before-quit', () => {
    void core?.stop()
  })
}
