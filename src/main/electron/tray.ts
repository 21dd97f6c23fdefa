/**
 * The tray icon: its tooltip and the first line of its menu say what the calls are doing (idle,
 * a web client joined, live calls, talking); the menu shows the window, toggles start at login and
 * quits. Electron's Tray and Menu are handed in, so this runs under test without the runtime.
 */
import type { Menu, MenuItemConstructorOptions, Tray } from 'electron'
import type { Language, WindowStatus } from '../../shared/contract'
import type { LoginItem } from './login-item'
import { SHELL_TEXT, statusText, summarize, trayTooltip } from './status'

export interface TrayActions {
  show(): void
  quit(): void
}

export function trayMenuTemplate(
  status: WindowStatus,
  language: Language,
  login: LoginItem,
  actions: TrayActions & { setStartAtLogin(enabled: boolean): void }
): MenuItemConstructorOptions[] {
  const text = SHELL_TEXT[language]
  return [
    { id: 'status', label: statusText(status, language), enabled: false },
    { type: 'separator' },
    { id: 'show', label: text.show, click: () => actions.show() },
    {
      id: 'login',
      label: text.startAtLogin,
      type: 'checkbox',
      checked: login.supported && login.get(),
      enabled: login.supported,
      click: (item) => actions.setStartAtLogin(item.checked)
    },
    { type: 'separator' },
    { id: 'quit', label: text.quit, click: () => actions.quit() }
  ]
}

type TrayLike = Pick<Tray, 'setToolTip' | 'setContextMenu' | 'on' | 'destroy' | 'isDestroyed'>

export interface TrayDeps {
  Tray: new (icon: string) => TrayLike
  Menu: Pick<typeof Menu, 'buildFromTemplate'>
  iconPath: string
  language: () => Language
  loginItem: LoginItem
  actions: TrayActions
  /** Where a failed start-at-login change is reported (the menu has no other way to say it). */
  onError?: (e: unknown) => void
}

export interface StatusTray {
  /** The windows' statuses changed. */
  update(statuses: readonly WindowStatus[]): void
  /** Something else shown changed (the language setting): draw again. */
  refresh(): void
  destroy(): void
}

export function createStatusTray(deps: TrayDeps): StatusTray {
  const tray = new deps.Tray(deps.iconPath)
  let status = summarize([])
  let shown = ''
  let destroyed = false

  const render = (force = false): void => {
    if (destroyed || tray.isDestroyed()) return
    const language = deps.language()
    const key = JSON.stringify([status, language])
    if (!force && key === shown) return
    shown = key
    tray.setToolTip(trayTooltip(status, language))
    // Linux shows a changed menu only when it is set again: build a new one every time.
    tray.setContextMenu(
      deps.Menu.buildFromTemplate(
        trayMenuTemplate(status, language, deps.loginItem, {
          ...deps.actions,
          setStartAtLogin: (enabled) => {
            try {
              deps.loginItem.set(enabled)
            } catch (e) {
              deps.onError?.(e)
            }
            render(true)
          }
        })
      )
    )
  }

  // A click on the icon (Windows, macOS) brings the window; Linux trays open the menu instead.
  tray.on('click', () => deps.actions.show())
  render(true)

  return {
    update(statuses) {
      status = summarize(statuses)
      render()
    },
    refresh: () => render(),
    destroy() {
      if (destroyed) return
      destroyed = true
      if (!tray.isDestroyed()) tray.destroy()
    }
  }
}
