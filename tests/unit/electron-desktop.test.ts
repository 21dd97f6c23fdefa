// Desktop life around the windows: the tray's words for the call state, its menu, start at login,
// the notification when a web client joins, and the push-to-talk global shortcut.
import { EventEmitter } from 'node:events'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, describe, expect, it, vi } from 'vitest'
import type { MenuItemConstructorOptions } from 'electron'
import type { WindowStatus } from '../../src/shared/contract'
import {
  AUTOSTART_FILE,
  autostartEntry,
  createLoginItem,
  desktopExec,
  type LoginItem
} from '../../src/main/electron/login-item'
import { createJoinNotifier } from '../../src/main/electron/notify'
import { PTT_ACCELERATOR, registerPushToTalk } from '../../src/main/electron/shortcut'
import {
  callState,
  resolveLanguage,
  statusText,
  summarize,
  trayTooltip
} from '../../src/main/electron/status'
import { createStatusTray, trayMenuTemplate } from '../../src/main/electron/tray'

// These modules take electron's classes as arguments and import only its types.
vi.mock('electron', () => {
  throw new Error('the desktop modules must not load electron at run time')
})

const IDLE: WindowStatus = { liveCalls: 0, joinedWebClients: 0, transmitting: false }
const status = (s: Partial<WindowStatus>): WindowStatus => ({ ...IDLE, ...s })

describe('what the tray says', () => {
  it("follows the language setting; 'auto' is Korean when the system locale is", () => {
    expect(resolveLanguage('ko', 'en-US')).toBe('ko')
    expect(resolveLanguage('en', 'ko-KR')).toBe('en')
    expect(resolveLanguage('auto', 'ko-KR')).toBe('ko')
    expect(resolveLanguage('auto', 'ko')).toBe('ko')
    expect(resolveLanguage('auto', 'en-GB')).toBe('en')
    expect(resolveLanguage(undefined, 'KO-kr')).toBe('ko')
  })

  it('adds up the windows, ignoring counts that are not counts', () => {
    expect(summarize([])).toEqual(IDLE)
    expect(
      summarize([
        status({ liveCalls: 2, joinedWebClients: 1 }),
        status({ liveCalls: 1, transmitting: true }),
        status({ liveCalls: Number.NaN, joinedWebClients: -3 })
      ])
    ).toEqual({ liveCalls: 3, joinedWebClients: 1, transmitting: true })
  })

  it('names the most telling state: talking, then live calls, then a joined web client', () => {
    expect(callState(IDLE)).toBe('idle')
    expect(callState(status({ joinedWebClients: 1 }))).toBe('joined')
    expect(callState(status({ joinedWebClients: 1, liveCalls: 1 }))).toBe('live')
    expect(callState(status({ liveCalls: 1, transmitting: true }))).toBe('talking')
  })

  it('says it in English and in Korean', () => {
    const cases: [WindowStatus, string, string][] = [
      [IDLE, 'Idle', '대기 중'],
      [status({ joinedWebClients: 1 }), 'A web client joined', '웹 클라이언트 접속'],
      [status({ joinedWebClients: 2 }), '2 web clients joined', '웹 클라이언트 2개 접속'],
      [status({ liveCalls: 1 }), '1 live call', '통화 1건'],
      [status({ liveCalls: 3 }), '3 live calls', '통화 3건'],
      [status({ liveCalls: 2, transmitting: true }), 'Talking — 2 live calls', '말하는 중 — 통화 2건'],
      [status({ transmitting: true }), 'Talking', '말하는 중']
    ]
    for (const [s, en, ko] of cases) {
      expect(statusText(s, 'en')).toBe(en)
      expect(statusText(s, 'ko')).toBe(ko)
    }
    expect(trayTooltip(status({ liveCalls: 1 }), 'en')).toBe('Genie Bridge — 1 live call')
  })
})

const NO_LOGIN: LoginItem = { supported: false, get: () => false, set: () => undefined }

function loginItemSpy(on = false): LoginItem & { calls: boolean[] } {
  const calls: boolean[] = []
  return {
    supported: true,
    calls,
    get: () => on,
    set: (enabled) => {
      calls.push(enabled)
      on = enabled
    }
  }
}

describe('the tray menu', () => {
  const byId = (items: MenuItemConstructorOptions[], id: string) => items.find((i) => i.id === id)!
  const click = (item: MenuItemConstructorOptions, checked = false) =>
    (item.click as (i: { checked: boolean }) => void)({ checked })

  it('shows the state first, then Show, Start at login and Quit', () => {
    const actions = { show: vi.fn(), quit: vi.fn(), setStartAtLogin: vi.fn() }
    const items = trayMenuTemplate(status({ liveCalls: 1 }), 'en', loginItemSpy(true), actions)
    expect(items.map((i) => i.id ?? i.type)).toEqual([
      'status',
      'separator',
      'show',
      'login',
      'separator',
      'quit'
    ])
    expect(byId(items, 'status')).toMatchObject({ label: '1 live call', enabled: false })
    expect(byId(items, 'login')).toMatchObject({ type: 'checkbox', checked: true, enabled: true })
    click(byId(items, 'show'))
    click(byId(items, 'login'), false)
    click(byId(items, 'quit'))
    expect(actions.show).toHaveBeenCalledTimes(1)
    expect(actions.setStartAtLogin).toHaveBeenCalledWith(false)
    expect(actions.quit).toHaveBeenCalledTimes(1)
  })

  it('is in Korean when the language is, and greys out start at login where it is not offered', () => {
    const items = trayMenuTemplate(IDLE, 'ko', NO_LOGIN, {
      show: vi.fn(),
      quit: vi.fn(),
      setStartAtLogin: vi.fn()
    })
    expect(items.map((i) => i.label).filter(Boolean)).toEqual([
      '대기 중',
      'Genie Bridge 열기',
      '로그인할 때 시작',
      '종료'
    ])
    expect(byId(items, 'login')).toMatchObject({ checked: false, enabled: false })
  })
})

class FakeTray extends EventEmitter {
  static all: FakeTray[] = []
  tooltip = ''
  menu: { items: MenuItemConstructorOptions[] } | null = null
  menusSet = 0
  destroyed = false
  constructor(readonly icon: string) {
    super()
    FakeTray.all.push(this)
  }
  setToolTip(text: string): void {
    if (this.destroyed) throw new Error('Object has been destroyed')
    this.tooltip = text
  }
  setContextMenu(menu: { items: MenuItemConstructorOptions[] }): void {
    if (this.destroyed) throw new Error('Object has been destroyed')
    this.menu = menu
    this.menusSet++
  }
  destroy(): void {
    this.destroyed = true
  }
  isDestroyed(): boolean {
    return this.destroyed
  }
}

function makeTray(options: { language?: () => 'ko' | 'en'; loginItem?: LoginItem } = {}) {
  const actions = { show: vi.fn(), quit: vi.fn() }
  const onError = vi.fn()
  const tray = createStatusTray({
    Tray: FakeTray as never,
    Menu: { buildFromTemplate: (items: MenuItemConstructorOptions[]) => ({ items }) } as never,
    iconPath: '/app/resources/tray.png',
    language: options.language ?? (() => 'en'),
    loginItem: options.loginItem ?? NO_LOGIN,
    actions,
    onError
  })
  const fake = FakeTray.all.at(-1)!
  const item = (id: string) => fake.menu!.items.find((i) => i.id === id)!
  return { tray, fake, actions, onError, item }
}

describe('createStatusTray', () => {
  it('starts idle with its icon, and follows the statuses of all windows', () => {
    const { tray, fake, item } = makeTray()
    expect(fake.icon).toBe('/app/resources/tray.png')
    expect(fake.tooltip).toBe('Genie Bridge — Idle')
    tray.update([status({ joinedWebClients: 1 }), IDLE])
    expect(fake.tooltip).toBe('Genie Bridge — A web client joined')
    expect(item('status').label).toBe('A web client joined')
    tray.update([status({ liveCalls: 1, transmitting: true }), status({ liveCalls: 1 })])
    expect(fake.tooltip).toBe('Genie Bridge — Talking — 2 live calls')
  })

  it('rebuilds the menu only when what it shows changed', () => {
    const { tray, fake } = makeTray()
    const before = fake.menusSet
    tray.update([IDLE])
    tray.update([IDLE, IDLE])
    expect(fake.menusSet).toBe(before)
    tray.update([status({ liveCalls: 1 })])
    expect(fake.menusSet).toBe(before + 1)
  })

  it('speaks the language of the settings, and refresh() picks up a change', () => {
    let language: 'ko' | 'en' = 'en'
    const { tray, fake } = makeTray({ language: () => language })
    tray.update([status({ liveCalls: 2 })])
    expect(fake.tooltip).toBe('Genie Bridge — 2 live calls')
    language = 'ko'
    tray.refresh()
    expect(fake.tooltip).toBe('Genie Bridge — 통화 2건')
  })

  it('shows the window on a click of the icon and on Show; quits on Quit', () => {
    const { fake, actions, item } = makeTray()
    fake.emit('click')
    ;(item('show').click as () => void)()
    ;(item('quit').click as () => void)()
    expect(actions.show).toHaveBeenCalledTimes(2)
    expect(actions.quit).toHaveBeenCalledTimes(1)
  })

  it('toggles start at login and shows the new state; a failure is reported, not thrown', () => {
    const login = loginItemSpy(false)
    const { fake, item } = makeTray({ loginItem: login })
    expect(item('login').checked).toBe(false)
    ;(item('login').click as (i: { checked: boolean }) => void)({ checked: true })
    expect(login.calls).toEqual([true])
    expect(fake.menu!.items.find((i) => i.id === 'login')!.checked).toBe(true)

    const broken: LoginItem = {
      supported: true,
      get: () => false,
      set: () => {
        throw new Error('read-only folder')
      }
    }
    const second = makeTray({ loginItem: broken })
    expect(() =>
      (second.item('login').click as (i: { checked: boolean }) => void)({ checked: true })
    ).not.toThrow()
    expect(second.onError).toHaveBeenCalledWith(expect.objectContaining({ message: 'read-only folder' }))
  })

  it('ignores statuses after it is destroyed (windows closing while the app quits)', () => {
    const { tray, fake } = makeTray()
    tray.destroy()
    tray.destroy()
    expect(fake.destroyed).toBe(true)
    expect(() => tray.update([status({ liveCalls: 1 })])).not.toThrow()
    expect(() => tray.refresh()).not.toThrow()
  })
})

class FakeNotification extends EventEmitter {
  static supported = true
  static shown: FakeNotification[] = []
  static isSupported(): boolean {
    return FakeNotification.supported
  }
  constructor(readonly options: { title: string; body: string; icon?: string }) {
    super()
  }
  show(): void {
    FakeNotification.shown.push(this)
  }
}

describe('createJoinNotifier', () => {
  it('notifies each time the number of joined web clients rises, and only then', () => {
    FakeNotification.shown.length = 0
    const onClick = vi.fn()
    const notify = createJoinNotifier({
      Notification: FakeNotification as never,
      language: () => 'en',
      iconPath: '/app/resources/icon.png',
      onClick
    })
    notify([IDLE])
    notify([status({ liveCalls: 1 })])
    expect(FakeNotification.shown).toHaveLength(0)
    notify([status({ joinedWebClients: 1 })])
    expect(FakeNotification.shown).toHaveLength(1)
    expect(FakeNotification.shown[0]!.options).toEqual({
      title: 'A web client joined',
      body: 'A speaker has a web client.',
      icon: '/app/resources/icon.png'
    })
    notify([status({ joinedWebClients: 1, liveCalls: 1 })]) // same count: no news
    notify([IDLE]) // the client left
    expect(FakeNotification.shown).toHaveLength(1)
    notify([status({ joinedWebClients: 1 }), status({ joinedWebClients: 1 })])
    expect(FakeNotification.shown).toHaveLength(2)
    expect(FakeNotification.shown[1]!.options.body).toBe('2 web clients have joined.')
    FakeNotification.shown[1]!.emit('click')
    expect(onClick).toHaveBeenCalledTimes(1)
  })

  it('speaks Korean when the settings do, and stays quiet where notifications are unsupported', () => {
    FakeNotification.shown.length = 0
    const korean = createJoinNotifier({ Notification: FakeNotification as never, language: () => 'ko' })
    korean([status({ joinedWebClients: 1 })])
    expect(FakeNotification.shown[0]!.options).toEqual({
      title: '웹 클라이언트가 접속했습니다',
      body: '스피커에 웹 클라이언트가 접속했습니다.'
    })
    FakeNotification.supported = false
    try {
      const quiet = createJoinNotifier({ Notification: FakeNotification as never, language: () => 'en' })
      quiet([status({ joinedWebClients: 3 })])
      expect(FakeNotification.shown).toHaveLength(1)
    } finally {
      FakeNotification.supported = true
    }
  })
})

describe('registerPushToTalk', () => {
  function fakeShortcuts(accept = true) {
    const registered = new Map<string, () => void>()
    return {
      registered,
      register: vi.fn((accelerator: string, fn: () => void) => {
        if (!accept) return false
        registered.set(accelerator, fn)
        return true
      }),
      unregister: vi.fn((accelerator: string) => void registered.delete(accelerator))
    }
  }

  it('toggles on every press of the shortcut (the system reports no release)', () => {
    const shortcuts = fakeShortcuts()
    const onToggle = vi.fn()
    const ptt = registerPushToTalk(shortcuts, onToggle)
    expect(PTT_ACCELERATOR).toBe('CommandOrControl+Shift+Space')
    expect(ptt.registered).toBe(true)
    shortcuts.registered.get(PTT_ACCELERATOR)!()
    shortcuts.registered.get(PTT_ACCELERATOR)!()
    expect(onToggle).toHaveBeenCalledTimes(2)
    ptt.unregister()
    ptt.unregister()
    expect(shortcuts.unregister).toHaveBeenCalledTimes(1)
    expect(shortcuts.registered.size).toBe(0)
    expect(ptt.registered).toBe(false)
  })

  it('reports a shortcut the system refused, or one it cannot parse, and then unregisters nothing', () => {
    const taken = fakeShortcuts(false)
    const ptt = registerPushToTalk(taken, vi.fn())
    expect(ptt.registered).toBe(false)
    ptt.unregister()
    expect(taken.unregister).not.toHaveBeenCalled()

    const throwing = {
      register: () => {
        throw new Error('bad accelerator')
      },
      unregister: vi.fn()
    }
    expect(registerPushToTalk(throwing, vi.fn(), 'Nonsense+Key').registered).toBe(false)
  })
})

describe('start at login', () => {
  const dirs: string[] = []
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })))
  const fakeApp = () => {
    let openAtLogin = false
    return {
      getLoginItemSettings: vi.fn(() => ({ openAtLogin }) as never),
      setLoginItemSettings: vi.fn(
        (s: { openAtLogin?: boolean }) => void (openAtLogin = s.openAtLogin === true)
      )
    }
  }

  it('is not offered by an unpackaged run, which would register the bare Electron binary', () => {
    const app = fakeApp()
    for (const platform of ['linux', 'darwin', 'win32'] as const) {
      const item = createLoginItem({
        app,
        platform,
        packaged: false,
        execPath: '/x',
        autostartDir: '/nowhere'
      })
      expect(item.supported).toBe(false)
      item.set(true)
      expect(item.get()).toBe(false)
    }
    expect(app.setLoginItemSettings).not.toHaveBeenCalled()
  })

  it("uses Electron's login item on macOS and Windows", () => {
    for (const platform of ['darwin', 'win32'] as const) {
      const app = fakeApp()
      const item = createLoginItem({
        app,
        platform,
        packaged: true,
        execPath: '/x',
        autostartDir: '/nowhere'
      })
      expect(item.supported).toBe(true)
      expect(item.get()).toBe(false)
      item.set(true)
      expect(app.setLoginItemSettings).toHaveBeenCalledWith({ openAtLogin: true })
      expect(item.get()).toBe(true)
    }
  })

  it('writes and removes an XDG autostart entry on Linux', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'genie-bridge-autostart-')), 'autostart')
    dirs.push(dirname(dir))
    const app = fakeApp()
    const exe = '/opt/Genie Bridge/genie-bridge'
    const item = createLoginItem({ app, platform: 'linux', packaged: true, execPath: exe, autostartDir: dir })
    expect(item.supported).toBe(true)
    expect(item.get()).toBe(false)
    item.set(true)
    expect(item.get()).toBe(true)
    const entry = readFileSync(join(dir, AUTOSTART_FILE), 'utf8')
    expect(entry).toBe(autostartEntry(exe))
    expect(entry).toContain('Exec="/opt/Genie Bridge/genie-bridge"\n')
    expect(entry.startsWith('[Desktop Entry]\nType=Application\n')).toBe(true)
    item.set(false)
    expect(existsSync(join(dir, AUTOSTART_FILE))).toBe(false)
    item.set(false) // already off
    expect(app.setLoginItemSettings).not.toHaveBeenCalled()
  })

  it('quotes the executable so that no character of its path is read as syntax', () => {
    expect(desktopExec('/a b/c')).toBe('"/a b/c"')
    expect(desktopExec('/a"b$c`d')).toBe('"/a\\\\"b\\\\$c\\\\`d"')
    expect(desktopExec('/a\\b')).toBe('"/a\\\\\\\\b"')
    expect(() => desktopExec('/a\nExec=evil')).toThrow(/line break/)
  })
})
