// Opening a link in the system browser: https only, only after the person confirms, one question at
// a time, and exactly the address that was shown.
import { describe, expect, it, vi } from 'vitest'
import { createOpenExternal, type OpenExternalDeps } from '../../src/main/electron/external'
import { ResultCode } from '../../src/shared/protocol'

// For asynchronous effects (sockets closing, servers stopping, promises settling): a loaded machine
// may need more than the default 1 s of vi.waitFor.
const WAIT = { timeout: 5000, interval: 20 }

// external.ts needs only types from electron; its shell and dialog are handed in.
vi.mock('electron', () => {
  throw new Error('src/main/electron/external.ts must not load electron at runtime')
})

interface Asked {
  parent: unknown
  options: { message: string; detail?: string; buttons?: string[]; cancelId?: number; defaultId?: number }
}

function setup(answer: number | (() => Promise<number>), language?: 'ko' | 'en') {
  const asked: Asked[] = []
  const opened: string[] = []
  const respond = typeof answer === 'number' ? () => Promise.resolve(answer) : answer
  const deps: OpenExternalDeps = {
    shell: {
      openExternal: vi.fn(async (url: string) => {
        opened.push(url)
      })
    },
    dialog: {
      showMessageBox: vi.fn(async (...args: unknown[]) => {
        const [parent, options] = args.length === 2 ? args : [undefined, args[0]]
        asked.push({ parent, options: options as Asked['options'] })
        return { response: await respond(), checkboxChecked: false }
      }) as never
    },
    ...(language ? { language: () => language } : {})
  }
  return { open: createOpenExternal(deps), asked, opened, deps }
}

const OPEN = 1
const CANCEL = 0

describe('createOpenExternal', () => {
  it('opens an https link once the person confirms, showing the address first', async () => {
    const { open, asked, opened } = setup(OPEN)
    await expect(open('https://example.com/help?topic=mic')).resolves.toEqual({
      ok: true,
      value: { opened: true }
    })
    expect(asked).toHaveLength(1)
    expect(asked[0]!.options.detail).toBe('https://example.com/help?topic=mic')
    expect(opened).toEqual(['https://example.com/help?topic=mic'])
  })

  it('opens nothing when the person declines or closes the question', async () => {
    const { open, asked, opened } = setup(CANCEL)
    await expect(open('https://example.com/')).resolves.toEqual({ ok: true, value: { opened: false } })
    expect(asked).toHaveLength(1)
    expect(opened).toEqual([])
  })

  it('defaults to not opening: Cancel is the default and the escape answer', async () => {
    const { open, asked } = setup(CANCEL)
    await open('https://example.com/')
    const { buttons, cancelId, defaultId } = asked[0]!.options
    expect(buttons![cancelId!]).toBe('Cancel')
    expect(defaultId).toBe(cancelId)
    expect(buttons![OPEN]).toBe('Open')
  })

  it('refuses anything but https without asking', async () => {
    const { open, asked, opened } = setup(OPEN)
    for (const url of [
      'http://example.com/',
      'file:///etc/passwd',
      'javascript:alert(1)',
      'smb://host/share',
      'https://trusted.example@evil.example/',
      42,
      null,
      undefined
    ]) {
      await expect(open(url)).resolves.toEqual({
        ok: false,
        error: { result_cd: ResultCode.BAD_REQUEST, message: expect.any(String) }
      })
    }
    expect(asked).toEqual([])
    expect(opened).toEqual([])
  })

  it('opens the parsed address that was shown, not the raw string', async () => {
    const { open, asked, opened } = setup(OPEN)
    await open('HTTPS://Example.COM/a b')
    expect(asked[0]!.options.detail).toBe('https://example.com/a%20b')
    expect(opened).toEqual(['https://example.com/a%20b'])
  })

  it('asks over the window that asked, when given one', async () => {
    const { open, asked } = setup(CANCEL)
    const parent = { id: 7 }
    await open('https://example.com/', parent as never)
    await open('https://example.com/')
    expect(asked.map((a) => a.parent)).toEqual([parent, undefined])
  })

  it('asks one question at a time: a second request while one is open is refused', async () => {
    let answer!: (n: number) => void
    const { open, asked, opened } = setup(() => new Promise<number>((resolve) => (answer = resolve)))
    const first = open('https://example.com/one')
    await vi.waitFor(() => expect(asked).toHaveLength(1), WAIT)
    await expect(open('https://example.com/two')).resolves.toEqual({
      ok: false,
      error: { result_cd: ResultCode.CONFLICT, message: expect.any(String) }
    })
    answer(OPEN)
    await expect(first).resolves.toEqual({ ok: true, value: { opened: true } })
    expect(opened).toEqual(['https://example.com/one'])

    // Once answered, the next link may ask again.
    const third = open('https://example.com/three')
    await vi.waitFor(() => expect(asked).toHaveLength(2), WAIT)
    answer(CANCEL)
    await expect(third).resolves.toEqual({ ok: true, value: { opened: false } })
  })

  it('reports a browser that fails to open as an error, and may ask again afterwards', async () => {
    const { open, deps, asked } = setup(OPEN)
    vi.mocked(deps.shell.openExternal).mockRejectedValueOnce(new Error('no handler for https'))
    await expect(open('https://example.com/')).resolves.toEqual({
      ok: false,
      error: { result_cd: ResultCode.SYSTEM_ERROR, message: 'no handler for https' }
    })
    await expect(open('https://example.com/')).resolves.toEqual({ ok: true, value: { opened: true } })
    expect(asked).toHaveLength(2)
  })

  it('asks in Korean when the app speaks Korean', async () => {
    const { open, asked } = setup(CANCEL, 'ko')
    await open('https://example.com/')
    expect(asked[0]!.options.buttons).toEqual(['취소', '열기'])
    expect(asked[0]!.options.message).toMatch(/링크/)
  })
})
