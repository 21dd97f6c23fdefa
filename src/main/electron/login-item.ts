/**
 * "Start at login". Electron's login items exist on macOS and Windows only; on Linux the desktop's
 * XDG autostart folder does the same with a .desktop file. Only an installed app offers it: an
 * unpackaged run would register the bare Electron binary, which starts no app at all.
 */
import { existsSync, mkdirSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { App } from 'electron'

export interface LoginItem {
  readonly supported: boolean
  get(): boolean
  set(enabled: boolean): void
}

export interface LoginItemDeps {
  app: Pick<App, 'getLoginItemSettings' | 'setLoginItemSettings'>
  platform: NodeJS.Platform
  packaged: boolean
  /** What the autostart entry runs (Linux): the AppImage file when run from one, else the executable. */
  execPath: string
  /** The XDG autostart folder (Linux), e.g. ~/.config/autostart. */
  autostartDir: string
}

export const AUTOSTART_FILE = 'genie-bridge.desktop'

/** An Exec= value that runs exactly `path`, whatever characters it holds (Desktop Entry spec). */
export function desktopExec(path: string): string {
  if (/[\n\r]/.test(path)) throw new Error('the executable path holds a line break')
  const quoted = `"${path.replace(/["`$\\]/g, (c) => `\\${c}`)}"`
  // The string-value escape applies before the quoting rule: every backslash is written twice.
  return quoted.replace(/\\/g, '\\\\')
}

export function autostartEntry(execPath: string): string {
  return [
    '[Desktop Entry]',
    'Type=Application',
    'Name=Genie Bridge',
    `Exec=${desktopExec(execPath)}`,
    'Terminal=false',
    'X-GNOME-Autostart-enabled=true',
    ''
  ].join('\n')
}

export function createLoginItem(deps: LoginItemDeps): LoginItem {
  if (!deps.packaged) return { supported: false, get: () => false, set: () => undefined }
  if (deps.platform === 'linux') {
    const file = join(deps.autostartDir, AUTOSTART_FILE)
    return {
      supported: true,
      get: () => existsSync(file),
      set: (enabled) => {
        if (!enabled) {
          if (existsSync(file)) unlinkSync(file)
          return
        }
        mkdirSync(deps.autostartDir, { recursive: true })
        writeFileSync(file, autostartEntry(deps.execPath))
      }
    }
  }
  if (deps.platform === 'darwin' || deps.platform === 'win32') {
    return {
      supported: true,
      get: () => deps.app.getLoginItemSettings().openAtLogin,
      set: (enabled) => deps.app.setLoginItemSettings({ openAtLogin: enabled })
    }
  }
  return { supported: false, get: () => false, set: () => undefined }
}
