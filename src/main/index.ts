/** Electron entry: thin wiring of the core into windows and IPC. All logic lives in electron-free modules. */
import { homedir } from 'node:os'
import { join } from 'node:path'
import {
  BrowserWindow,
  Menu,
  Notification,
  Tray,
  app,
  dialog,
  globalShortcut,
  ipcMain,
  session,
  shell
} from 'electron'
import { ChannelError } from './channel/client'
import { AppCore } from './core/app-core'
import { type MainArgs, parseMainArgs } from './electron/args'
import { createOpenExternal } from './electron/external'
import { registerIpc } from './electron/ipc'
import { createLoginItem } from './electron/login-item'
import { createJoinNotifier } from './electron/notify'
import { isAppUrl, isTrustedSender } from './electron/security'
import { PTT_ACCELERATOR, type PushToTalk, registerPushToTalk } from './electron/shortcut'
import { resolveLanguage } from './electron/status'
import { type StatusTray, createStatusTray } from './electron/tray'
import { createMainWindow, lockDownContents, lockDownSession } from './electron/window'
import {
  DEFAULT_APP_LOG_LEVEL,
  EMBEDDED_SERVER_LOG_LEVEL,
  type Logger,
  createFileLogger,
  errorText,
  mainLogFile,
  silentLogger
} from './log'

const devServerUrl = process.env['ELECTRON_RENDERER_URL']
// Installed, the icons are copied next to the app (extraResources); unpackaged, they are in the
// repository, two folders up from the bundle (out/main) or from this file (src/main).
const resourcesDir = app.isPackaged
  ? join(process.resourcesPath, 'resources')
  : join(import.meta.dirname, '../../resources')

if (!app.requestSingleInstanceLock()) {
  app.quit()
} else {
  let options: MainArgs = { kiosk: false, strictKt: false }
  let mainWindow: BrowserWindow | null = null
  let core: AppCore | null = null
  let tray: StatusTray | null = null
  let pushToTalk: PushToTalk | null = null
  /** The main process's log, `<userData>/logs/main.log`, from the moment the app is ready. */
  let log: Logger = silentLogger

  const openWindow = (): void => {
    mainWindow = createMainWindow({
      BrowserWindow,
      preloadPath: join(import.meta.dirname, '../preload/index.cjs'),
      rendererFile: join(import.meta.dirname, '../renderer/index.html'),
      icon: join(resourcesDir, 'icon.png'),
      ...(devServerUrl ? { devServerUrl } : {}),
      ...(options.route ? { route: options.route } : {}),
      ...(options.kiosk ? { kiosk: true, route: '/kiosk' } : {})
    })
    mainWindow.on('closed', () => (mainWindow = null))
  }

  /** From the tray or a notification: the window, whatever state it is in (or a new one on macOS). */
  const showWindow = (): void => {
    if (!mainWindow) return openWindow()
    if (mainWindow.isMinimized()) mainWindow.restore()
    mainWindow.show()
    mainWindow.focus()
  }

  const language = (): 'ko' | 'en' => resolveLanguage(core?.settings.get().language, app.getLocale())

  /** Tray, push-to-talk shortcut: comforts of the desktop that the app works without. */
  const startDesktopLife = (started: AppCore): void => {
    try {
      tray = createStatusTray({
        Tray,
        Menu,
        iconPath: join(resourcesDir, 'tray.png'),
        language,
        loginItem: createLoginItem({
          app,
          platform: process.platform,
          packaged: app.isPackaged,
          execPath: process.env['APPIMAGE'] ?? process.execPath,
          autostartDir: join(process.env['XDG_CONFIG_HOME'] || join(homedir(), '.config'), 'autostart')
        }),
        actions: { show: showWindow, quit: () => app.quit() },
        onError: (e) => log.error({ fault: errorText(e) }, 'start at login could not be changed')
      })
    } catch (e) {
      log.warn({ fault: errorText(e) }, 'no tray icon')
    }
    // Settings reach main's own listener like any window: the tray follows a language change.
    started.openScope((name) => {
      if (name === 'settings:changed') tray?.refresh()
    })
    pushToTalk = registerPushToTalk(globalShortcut, () => started.broadcast('ptt:toggle', { at: Date.now() }))
    if (!pushToTalk.registered)
      log.warn({ accelerator: PTT_ACCELERATOR }, 'the push-to-talk shortcut is taken by another application')
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
      // Read here so that a bad switch is reported like any other failure to start.
      options = parseMainArgs(process.argv)
      log = createFileLogger(mainLogFile(app.getPath('userData')), {
        level: options.logLevel ?? DEFAULT_APP_LOG_LEVEL,
        base: { component: 'main' }
      })
      log.info({ version: app.getVersion(), platform: process.platform }, 'app starting')
      lockDownSession(session.defaultSession, devServerUrl)
      const openExternal = createOpenExternal({ shell, dialog, language })
      const notifyJoined = createJoinNotifier({
        Notification,
        language,
        iconPath: join(resourcesDir, 'icon.png'),
        onClick: showWindow
      })
      core = await AppCore.start({
        host: 'electron',
        version: app.getVersion(),
        dataDir: app.getPath('userData'),
        strictKt: options.strictKt,
        // The embedded server logs its faults only unless --log-level asks for more.
        embeddedServer: options.serverUrl
          ? false
          : {
              logger: log.child(
                { component: 'channel-server' },
                { level: options.logLevel ?? EMBEDDED_SERVER_LOG_LEVEL }
              )
            },
        ...(options.serverUrl ? { serverUrl: options.serverUrl } : {}),
        hooks: {
          openExternal: async (url) => {
            const outcome = await openExternal(url, mainWindow)
            // The refusal keeps its result code (400, 409, …) across the bridge.
            if (!outcome.ok) throw new ChannelError(outcome.error.result_cd, outcome.error.message)
            return outcome.value.opened
          },
          onStatus: (statuses) => {
            tray?.update(statuses)
            notifyJoined(statuses)
          }
        }
      })
      registerIpc(
        ipcMain,
        core,
        (event) =>
          isTrustedSender(event, (sender) => BrowserWindow.fromWebContents(sender) !== null, devServerUrl),
        { isAllowedNavigation: (url) => isAppUrl(url, devServerUrl) }
      )
      startDesktopLife(core)
      openWindow()
      app.on('activate', () => {
        if (BrowserWindow.getAllWindows().length === 0) openWindow()
      })
    })
    .catch((e: unknown) => {
      // Without the core there is no window to show an error in: say why, then leave.
      log.fatal({ fault: errorText(e) }, 'app could not start')
      log.flush()
      dialog.showErrorBox('Genie Bridge could not start', e instanceof Error ? e.message : String(e))
      app.exit(1)
    })

  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit()
  })

  app.on('before-quit', () => {
    log.info('app quitting')
    void core?.stop()
  })

  app.on('will-quit', () => {
    pushToTalk?.unregister()
    pushToTalk = null
    tray?.destroy()
    tray = null
    log.flush()
  })
}
