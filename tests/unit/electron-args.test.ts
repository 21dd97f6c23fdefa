// The desktop app's switches, read from an argv that also holds Electron's and Chromium's own.
import { describe, expect, it, vi } from 'vitest'
import { parseMainArgs } from '../../src/main/electron/args'

vi.mock('electron', () => {
  throw new Error('src/main/electron/args.ts must not load electron')
})

const ELECTRON = ['/usr/lib/electron/electron', '--no-sandbox', '--inspect=0', '.']

describe('parseMainArgs', () => {
  it('finds nothing of its own in a plain start, whatever Chromium switches are there', () => {
    expect(parseMainArgs(ELECTRON)).toEqual({ kiosk: false, strictKt: false })
    expect(
      parseMainArgs([
        ...ELECTRON,
        '--user-data-dir=/tmp/a',
        '--use-fake-device-for-media-stream',
        '--use-file-for-fake-audio-capture=/tmp/tone.wav'
      ])
    ).toEqual({ kiosk: false, strictKt: false })
  })

  it('reads --kiosk, --server URL and --route ROUTE, also in the --name=value form', () => {
    expect(
      parseMainArgs([...ELECTRON, '--server', 'ws://127.0.0.1:8787/channel', '--route', '/console'])
    ).toEqual({ kiosk: false, strictKt: false, serverUrl: 'ws://127.0.0.1:8787/channel', route: '/console' })
    expect(parseMainArgs(['/opt/genie-bridge', '--kiosk', '--server=wss://relay.example/channel'])).toEqual({
      kiosk: true,
      strictKt: false,
      serverUrl: 'wss://relay.example/channel'
    })
    expect(parseMainArgs([...ELECTRON, '--strict-kt']).strictKt).toBe(true)
    expect(parseMainArgs([...ELECTRON, '--route=/device']).route).toBe('/device')
    expect(parseMainArgs([...ELECTRON, '--route', '/']).route).toBe('/')
  })

  it('lets the last of a repeated switch win, and stops at --', () => {
    expect(parseMainArgs(['x', '--route', '/device', '--route', '/console']).route).toBe('/console')
    expect(parseMainArgs(['x', '--', '--kiosk', '--server', 'nonsense'])).toEqual({
      kiosk: false,
      strictKt: false
    })
  })

  it('refuses a channel server that is not a WebSocket URL', () => {
    for (const bad of ['http://127.0.0.1:8787/channel', 'ws://', '127.0.0.1:8787', 'file:///etc/passwd']) {
      expect(() => parseMainArgs(['x', '--server', bad]), bad).toThrow(
        /--server must be a ws:\/\/ or wss:\/\/ URL/
      )
    }
    expect(() => parseMainArgs(['x', '--server'])).toThrow(/--server needs a value/)
    expect(() => parseMainArgs(['x', '--server', '--kiosk'])).toThrow(/--server needs a value/)
  })

  it('reads --log-level, and refuses a level that does not exist', () => {
    expect(parseMainArgs([...ELECTRON, '--log-level', 'debug']).logLevel).toBe('debug')
    expect(parseMainArgs([...ELECTRON, '--log-level=silent']).logLevel).toBe('silent')
    expect(() => parseMainArgs(['x', '--log-level', 'loud'])).toThrow(
      /--log-level must be one of fatal, error/
    )
    expect(() => parseMainArgs(['x', '--log-level'])).toThrow(/--log-level needs a value/)
  })

  it('refuses a route that is not a plain view name', () => {
    for (const bad of ['device', '/Device', '/device?x=1', '/../x', '/a/b', '/#/x', 'javascript:alert(1)']) {
      expect(() => parseMainArgs(['x', '--route', bad]), bad).toThrow(/--route must be a view/)
    }
  })
})
