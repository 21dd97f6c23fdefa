// registerIpc against a real AppCore (with its embedded channel server on 127.0.0.1) and fake
// ipcMain / webContents: sender validation, one scope per page, and no connection outliving its page.
import { EventEmitter } from 'node:events'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { AppCore } from '../../src/main/core/app-core'
import { SEND_FAILED_DETAIL, registerIpc } from '../../src/main/electron/ipc'
import { isAppUrl, isTrustedSender } from '../../src/main/electron/security'
import { COMMAND_NAMES, type Outcome } from '../../src/shared/contract'
import { ResultCode } from '../../src/shared/protocol'
import { RawClient } from '../helpers/raw-client'

// For asynchronous effects (sockets closing, servers stopping, promises settling): a loaded machine
// may need more than the default 1 s of vi.waitFor.
const WAIT = { timeout: 5000, interval: 20 }

// The ipc layer needs only types from electron; a runtime import would reach for the missing binary.
vi.mock('electron', () => {
  throw new Error('src/main/electron/ipc.ts must not load electron at runtime')
})

type Handler = (event: unknown, req: unknown) => Promise<Outcome<unknown>>

class FakeIpcMain {
  readonly handlers = new Map<string, Handler>()
  handle(channel: string, handler: Handler): void {
    // Like Electron: a second handler for one channel is an error.
    if (this.handlers.has(channel)) throw new Error(`Attempted to register a second handler for '${channel}'`)
    this.handlers.set(channel, handler)
  }
  removeHandler(channel: string): void {
    this.handlers.delete(channel)
  }
  invoke(channel: string, event: unknown, req?: unknown): Promise<Outcome<unknown>> {
    const handler = this.handlers.get(channel)
    if (!handler) throw new Error(`No handler registered for '${channel}'`)
    return handler(event, req)
  }
}

let nextId = 1

class FakeWebContents extends EventEmitter {
  readonly id = nextId++
  readonly sent: [string, unknown][] = []
  private destroyed = false
  send(channel: string, payload: unknown): void {
    if (this.destroyed) throw new Error('Object has been destroyed')
    this.sent.push([channel, payload])
  }
  isDestroyed(): boolean {
    return this.destroyed
  }
  destroy(): void {
    this.destroyed = true
    this.emit('destroyed')
  }
  navigate(url: string, details: { isMainFrame?: boolean; isSameDocument?: boolean } = {}): void {
    this.emit('did-start-navigation', { url, isMainFrame: true, isSameDocument: false, ...details })
  }
}

const APP_PAGE = 'file:///opt/genie-bridge/resources/app.asar/out/renderer/index.html#/console'

describe('registerIpc', () => {
  let core: AppCore
  let ipcMain: FakeIpcMain
  let dispose: (() => void) | null = null
  const appWindows = new Set<FakeWebContents>()

  const isTrusted = (event: unknown): boolean =>
    isTrustedSender(event as Parameters<typeof isTrustedSender<FakeWebContents>>[0], (s) => appWindows.has(s))

  const from = (contents: FakeWebContents, url: string | null = APP_PAGE) => ({
    sender: contents,
    senderFrame: url === null ? null : { url }
  })

  const appPage = (): FakeWebContents => {
    const contents = new FakeWebContents()
    appWindows.add(contents)
    return contents
  }

  const register = (options?: Parameters<typeof registerIpc>[3]): void => {
    ipcMain = new FakeIpcMain()
    dispose = registerIpc(ipcMain as never, core, isTrusted as never, options)
  }

  const server = () => core.embeddedServer!

  /** The page opens channel connection 'c'; resolves once the embedded server has it. */
  const connectChannel = async (contents: FakeWebContents): Promise<void> => {
    expect(
      (await ipcMain.invoke('channel:connect', from(contents), { connectionId: 'c', uuid: 'dev' })).ok
    ).toBe(true)
    await vi.waitFor(() => expect(server().connectionCount).toBe(1), WAIT)
  }

  beforeAll(async () => {
    core = await AppCore.start({ host: 'electron', version: 'test', dataDir: null })
  })

  afterEach(async () => {
    dispose?.()
    dispose = null
    appWindows.clear()
    // Every test leaves the core as it found it: no scope, no connection.
    expect(core.scopeCount).toBe(0)
    await vi.waitFor(() => expect(server().connectionCount).toBe(0), WAIT)
  })

  afterAll(async () => {
    await core.stop()
  })

  it('registers a handler for every command of the contract, and removes them all when disposed', () => {
    register()
    expect([...ipcMain.handlers.keys()].sort()).toEqual([...COMMAND_NAMES].sort())
    dispose!()
    dispose = null
    expect(ipcMain.handlers.size).toBe(0)
  })

  describe('an untrusted sender is refused with 403 and never reaches the core', () => {
    const cases: [string, () => { sender: FakeWebContents; senderFrame: { url: string } | null }][] = [
      ['a frame showing another site', () => from(appPage(), 'https://evil.example/')],
      ['a frame that is gone', () => from(appPage(), null)],
      ['an app URL in a webContents that is not an app window', () => from(new FakeWebContents())],
      ['a data: URL', () => from(appPage(), 'data:text/html,<script>1</script>')]
    ]
    for (const [title, event] of cases) {
      it(title, async () => {
        register()
        const openScope = vi.spyOn(core, 'openScope')
        for (const name of COMMAND_NAMES) {
          const outcome = await ipcMain.invoke(name, event(), { connectionId: 'x', uuid: 'u' })
          expect(outcome).toEqual({
            ok: false,
            error: { result_cd: ResultCode.FORBIDDEN, message: expect.any(String) }
          })
        }
        expect(openScope).not.toHaveBeenCalled()
        expect(core.scopeCount).toBe(0)
        openScope.mockRestore()
      })
    }

    it('a frame whose URL can no longer be read', async () => {
      register()
      const contents = appPage()
      const event = {
        sender: contents,
        senderFrame: {
          get url(): string {
            throw new Error('Render frame was disposed before WebFrameMain could be accessed')
          }
        }
      }
      const outcome = await ipcMain.invoke('app:info', event)
      expect(outcome.ok).toBe(false)
      expect(!outcome.ok && outcome.error.result_cd).toBe(ResultCode.FORBIDDEN)
      expect(core.scopeCount).toBe(0)
    })
  })

  it('a trusted sender reaches the core and gets an Outcome back', async () => {
    register()
    const contents = appPage()
    const info = await ipcMain.invoke('app:info', from(contents))
    expect(info).toEqual({
      ok: true,
      value: expect.objectContaining({ host: 'electron', version: 'test', channelUrl: server().url })
    })
    expect(core.scopeCount).toBe(1)

    // Failures come back as an Outcome with the protocol's result code, not as a thrown error.
    const bad = await ipcMain.invoke('channel:join', from(contents), { sessionid: 'abcd' })
    expect(bad).toEqual({
      ok: false,
      error: { result_cd: ResultCode.BAD_REQUEST, message: expect.any(String) }
    })
    const missing = await ipcMain.invoke('channel:join', from(contents), {
      connectionId: 'nope',
      sessionid: 'a'
    })
    expect(!missing.ok && missing.error.result_cd).toBe(ResultCode.NOT_FOUND)
  })

  it('keeps one scope per webContents: connections and events stay with their page', async () => {
    register()
    const a = appPage()
    const b = appPage()
    await expect(
      ipcMain.invoke('channel:connect', from(a), { connectionId: 'c', uuid: 'dev-a' })
    ).resolves.toEqual({
      ok: true,
      value: undefined
    })
    await expect(
      ipcMain.invoke('channel:connect', from(b), { connectionId: 'c', uuid: 'dev-b' })
    ).resolves.toEqual({
      ok: true,
      value: undefined
    })
    expect(core.scopeCount).toBe(2)
    await vi.waitFor(() => expect(server().connectionCount).toBe(2), WAIT)

    // Both pages chose the same connectionId: each drives its own connection.
    const created = await ipcMain.invoke('channel:create', from(a), { connectionId: 'c' })
    expect(created.ok).toBe(true)
    const sessionid = created.ok ? (created.value as { sessionid: string }).sessionid : ''
    const framesTo = (contents: FakeWebContents) =>
      contents.sent.filter(([channel]) => channel === 'channel:frame').map(([, p]) => p)
    expect(framesTo(a)).toContainEqual(
      expect.objectContaining({ direction: 'in', frame: expect.objectContaining({ sessionid }) })
    )
    expect(framesTo(b)).not.toContainEqual(
      expect.objectContaining({ frame: expect.objectContaining({ sessionid }) })
    )

    // Closing one page closes its connection only.
    a.destroy()
    expect(core.scopeCount).toBe(1)
    await vi.waitFor(() => expect(server().connectionCount).toBe(1), WAIT)
    const stillThere = await ipcMain.invoke('channel:keepalive', from(b), { connectionId: 'c' })
    expect(stillThere.ok).toBe(true)
    b.destroy()
  })

  it('closes the connections a page opened when the page is destroyed', async () => {
    register()
    const contents = appPage()
    for (const id of ['one', 'two']) {
      const r = await ipcMain.invoke('channel:connect', from(contents), { connectionId: id, uuid: `u-${id}` })
      expect(r.ok).toBe(true)
    }
    await vi.waitFor(() => expect(server().connectionCount).toBe(2), WAIT)
    contents.destroy()
    await vi.waitFor(() => expect(server().connectionCount).toBe(0), WAIT)
    expect(core.scopeCount).toBe(0)
    // A page that is gone is not written to.
    expect(() => contents.send('x', 1)).toThrow()
  })

  it('closes them on a main-frame navigation (reload) and gives the new page a fresh scope', async () => {
    register({ isAllowedNavigation: (url) => isAppUrl(url) })
    const contents = appPage()
    await connectChannel(contents)

    contents.navigate(APP_PAGE)
    await vi.waitFor(() => expect(server().connectionCount).toBe(0), WAIT)
    expect(core.scopeCount).toBe(0)

    // The reloaded page starts clean: its old connection id is unknown, and it can connect again.
    const old = await ipcMain.invoke('channel:keepalive', from(contents), { connectionId: 'c' })
    expect(!old.ok && old.error.result_cd).toBe(ResultCode.NOT_FOUND)
    await connectChannel(contents)
    contents.destroy()
  })

  it('keeps them through same-document and sub-frame navigations, and through blocked navigations', async () => {
    register({ isAllowedNavigation: (url) => isAppUrl(url) })
    const contents = appPage()
    await connectChannel(contents)

    contents.navigate(`${APP_PAGE}#/device`, { isSameDocument: true })
    contents.navigate('file:///opt/genie-bridge/frame.html', { isMainFrame: false })
    // A link to another site: will-navigate cancels it after this event, and the page stays.
    contents.navigate('https://example.com/help')

    expect(core.scopeCount).toBe(1)
    const r = await ipcMain.invoke('channel:keepalive', from(contents), { connectionId: 'c' })
    expect(r.ok).toBe(true)
    expect(server().connectionCount).toBe(1)
    contents.destroy()
  })

  it('closes them when the renderer process is gone', async () => {
    register()
    const contents = appPage()
    await connectChannel(contents)
    contents.emit('render-process-gone', {}, { reason: 'crashed', exitCode: 1 })
    await vi.waitFor(() => expect(server().connectionCount).toBe(0), WAIT)
    expect(core.scopeCount).toBe(0)
    contents.destroy()
  })

  it('does not pile up listeners on a window that is reloaded again and again', async () => {
    register()
    const contents = appPage()
    for (let i = 0; i < 25; i++) {
      expect((await ipcMain.invoke('app:info', from(contents))).ok).toBe(true)
      contents.navigate(APP_PAGE)
    }
    for (const event of ['did-start-navigation', 'destroyed', 'render-process-gone']) {
      expect(contents.listenerCount(event)).toBe(0)
    }
    expect(core.scopeCount).toBe(0)
  })

  it('stops sending events to a page that was destroyed', async () => {
    register()
    const contents = appPage()
    expect((await ipcMain.invoke('settings:get', from(contents))).ok).toBe(true)
    const other = appPage()
    // settings:set broadcasts settings:changed to every open page.
    expect((await ipcMain.invoke('settings:set', from(other), { autoStartAudio: true })).ok).toBe(true)
    expect(contents.sent.map(([channel]) => channel)).toContain('settings:changed')
    const before = contents.sent.length
    contents.destroy()
    expect((await ipcMain.invoke('settings:set', from(other), { autoStartAudio: false })).ok).toBe(true)
    expect(contents.sent.length).toBe(before)
    other.destroy()
  })

  it('disposing the registration closes every page scope and detaches from the pages', async () => {
    register()
    const contents = appPage()
    await connectChannel(contents)
    dispose!()
    dispose = null
    await vi.waitFor(() => expect(server().connectionCount).toBe(0), WAIT)
    expect(core.scopeCount).toBe(0)
    expect(contents.listenerCount('did-start-navigation')).toBe(0)
    expect(contents.listenerCount('destroyed')).toBe(0)
  })

  describe('containment: nothing a page or a call partner sends stops the main process', () => {
    /** A page whose IPC cannot carry some payload, as Electron's serialiser cannot carry some. */
    class FragileWebContents extends FakeWebContents {
      override send(channel: string, payload: unknown): void {
        const frame = (payload as { frame?: { data?: { poison?: boolean } } }).frame
        if (frame?.data?.poison) throw new RangeError('Maximum call stack size exceeded')
        super.send(channel, payload)
      }
    }

    it('an event the page cannot be sent closes that page scope with a reason, and the process goes on', async () => {
      register()
      const contents = new FragileWebContents()
      appWindows.add(contents)
      await connectChannel(contents)
      const created = await ipcMain.invoke('channel:create', from(contents), { connectionId: 'c' })
      const sessionid = (created as { value: { sessionid: string } }).value.sessionid
      const web = await RawClient.authed(server().url, 'web')
      expect(
        (await web.request({ msgtype: 'request', operation: 'join_session', sessionid })).result_cd
      ).toBe(200)
      web.send({ msgtype: 'data', sessionid, data: { poison: true } })
      await vi.waitFor(
        () =>
          expect(contents.sent).toContainEqual([
            'channel:state',
            { connectionId: 'c', state: 'closed', detail: SEND_FAILED_DETAIL }
          ]),
        WAIT
      )
      expect(core.scopeCount).toBe(0)
      await vi.waitFor(() => expect(server().sessionCount).toBe(0), WAIT)
      // The page can start over: its next command opens a new scope.
      expect((await ipcMain.invoke('app:info', from(contents))).ok).toBe(true)
      web.close()
      contents.destroy()
    })

    it('a payload nested beyond the limit is refused with 400 at the boundary', async () => {
      register()
      const contents = appPage()
      await connectChannel(contents)
      let deep: Record<string, unknown> = {}
      for (let i = 0; i < 6000; i++) deep = { d: deep }
      const outcome = await ipcMain.invoke('channel:send', from(contents), {
        connectionId: 'c',
        sessionid: 'S',
        data: deep
      })
      expect(outcome).toMatchObject({ ok: false, error: { result_cd: 400 } })
      const cyclic: Record<string, unknown> = {}
      cyclic.self = cyclic
      const again = await ipcMain.invoke('channel:send', from(contents), {
        connectionId: 'c',
        sessionid: 'S',
        data: cyclic
      })
      expect(again).toMatchObject({ ok: false, error: { result_cd: 400 } })
      contents.destroy()
    })
  })
})
