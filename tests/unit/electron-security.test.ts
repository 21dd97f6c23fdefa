// The window's security settings and the pure checks behind permissions, navigation, IPC senders,
// external links and the Content-Security-Policy.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import {
  ALLOWED_PERMISSIONS,
  CONTENT_SECURITY_POLICY,
  MAX_EXTERNAL_URL_LENGTH,
  allowPermission,
  isAppUrl,
  isSafeExternalUrl,
  isTrustedSender,
  secureWebPreferences
} from '../../src/main/electron/security'

const APP = 'file:///opt/genie-bridge/out/renderer/index.html'
const DEV = 'http://localhost:5173'

describe('secureWebPreferences', () => {
  const prefs = secureWebPreferences('/app/out/preload/index.cjs')

  it('isolates and sandboxes the page and keeps Node out of it', () => {
    expect(prefs).toMatchObject({
      preload: '/app/out/preload/index.cjs',
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false
    })
  })

  it('keeps the web platform defences on and the risky features off', () => {
    expect(prefs).toMatchObject({
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      webviewTag: false,
      navigateOnDragDrop: false
    })
  })

  it('sets every security-relevant preference explicitly, and nothing that loosens them', () => {
    // Explicit values do not depend on Electron's defaults, which have changed between versions.
    for (const key of ['contextIsolation', 'sandbox', 'nodeIntegration', 'webSecurity'] as const) {
      expect(Object.prototype.hasOwnProperty.call(prefs, key)).toBe(true)
    }
    for (const key of ['enableBlinkFeatures', 'additionalArguments', 'enableRemoteModule', 'allowpopups']) {
      expect(prefs).not.toHaveProperty(key)
    }
  })
})

describe('isAppUrl', () => {
  it("accepts the app's own pages", () => {
    expect(isAppUrl(APP)).toBe(true)
    expect(isAppUrl(`${APP}#/console`)).toBe(true)
  })

  it('accepts the dev server only when one is configured, and only its origin', () => {
    expect(isAppUrl(`${DEV}/#/device`)).toBe(false)
    expect(isAppUrl(`${DEV}/#/device`, DEV)).toBe(true)
    expect(isAppUrl('http://localhost:5174/', DEV)).toBe(false)
    expect(isAppUrl('https://localhost:5173/', DEV)).toBe(false)
    expect(isAppUrl('http://localhost.evil.example:5173/', DEV)).toBe(false)
  })

  it('refuses everything else', () => {
    for (const url of [
      'https://example.com/',
      'http://127.0.0.1:8080/',
      'data:text/html,hi',
      'javascript:alert(1)',
      'about:blank',
      'devtools://devtools/bundled/inspector.html',
      'not a url',
      '',
      null,
      undefined
    ]) {
      expect(isAppUrl(url, DEV)).toBe(false)
    }
  })
})

describe('allowPermission', () => {
  it('grants microphone access to the app', () => {
    expect(allowPermission('media', APP, ['audio'])).toBe(true)
    // Permission checks carry no media types.
    expect(allowPermission('media', 'file:///', undefined)).toBe(true)
    expect(allowPermission('media', `${DEV}/`, ['audio'], DEV)).toBe(true)
  })

  it('grants choosing the audio output to the app', () => {
    expect(allowPermission('speaker-selection', APP, undefined)).toBe(true)
  })

  it('refuses the camera, alone or with the microphone', () => {
    expect(allowPermission('media', APP, ['video'])).toBe(false)
    expect(allowPermission('media', APP, ['audio', 'video'])).toBe(false)
  })

  it('refuses every origin that is not the app', () => {
    for (const url of ['https://evil.example/', 'http://localhost:5173/', 'data:,x', undefined]) {
      expect(allowPermission('media', url, ['audio'])).toBe(false)
    }
  })

  it('refuses every other permission, even to the app', () => {
    for (const permission of [
      'notifications',
      'geolocation',
      'display-capture',
      'clipboard-read',
      'openExternal',
      'midiSysex',
      'hid',
      'usb',
      'serial',
      'fullscreen',
      'pointerLock',
      'unknown'
    ]) {
      expect(allowPermission(permission, APP, undefined)).toBe(false)
    }
    expect([...ALLOWED_PERMISSIONS].sort()).toEqual(['media', 'speaker-selection'])
  })
})

describe('isSafeExternalUrl', () => {
  it('accepts https links', () => {
    expect(isSafeExternalUrl('https://example.com/docs?q=1#top')).toBe(true)
    expect(isSafeExternalUrl('HTTPS://EXAMPLE.COM/')).toBe(true)
  })

  it('refuses every other scheme', () => {
    for (const url of [
      'http://example.com/',
      'file:///etc/passwd',
      'javascript:alert(1)',
      'data:text/html,x',
      'mailto:a@example.com',
      'smb://server/share',
      'ms-msdt:/id PCWDiagnostic',
      'vbscript:x',
      'ftp://example.com/',
      'xhttps://example.com/',
      'https//example.com',
      ''
    ]) {
      expect(isSafeExternalUrl(url)).toBe(false)
    }
  })

  it('refuses links with credentials, which disguise the real host', () => {
    expect(isSafeExternalUrl('https://trusted.example@evil.example/')).toBe(false)
    expect(isSafeExternalUrl('https://user:pass@example.com/')).toBe(false)
  })

  it('refuses links too long to be read before confirming', () => {
    const base = 'https://example.com/'
    expect(isSafeExternalUrl(base + 'a'.repeat(MAX_EXTERNAL_URL_LENGTH - base.length))).toBe(true)
    expect(isSafeExternalUrl(base + 'a'.repeat(MAX_EXTERNAL_URL_LENGTH))).toBe(false)
  })
})

describe('isTrustedSender', () => {
  const appWindow = { name: 'app window' }
  const isAppWindow = (s: unknown): boolean => s === appWindow

  it('trusts an app page in an app window', () => {
    expect(isTrustedSender({ sender: appWindow, senderFrame: { url: APP } }, isAppWindow)).toBe(true)
    expect(isTrustedSender({ sender: appWindow, senderFrame: { url: `${DEV}/` } }, isAppWindow, DEV)).toBe(
      true
    )
  })

  it('refuses another page, a missing frame, a frame that went away, or another webContents', () => {
    expect(
      isTrustedSender({ sender: appWindow, senderFrame: { url: 'https://evil.example/' } }, isAppWindow)
    ).toBe(false)
    expect(isTrustedSender({ sender: appWindow, senderFrame: null }, isAppWindow)).toBe(false)
    const gone = {
      get url(): string {
        throw new Error('Render frame was disposed')
      }
    }
    expect(isTrustedSender({ sender: appWindow, senderFrame: gone }, isAppWindow)).toBe(false)
    expect(isTrustedSender({ sender: { name: 'devtools' }, senderFrame: { url: APP } }, isAppWindow)).toBe(
      false
    )
  })
})

describe('CONTENT_SECURITY_POLICY', () => {
  const directives = new Map(
    CONTENT_SECURITY_POLICY.split(';').map((d) => {
      const [name, ...values] = d.trim().split(/\s+/)
      return [name!, values] as const
    })
  )

  it('allows scripts only from the app itself: no inline scripts, no eval', () => {
    expect(directives.get('script-src')).toEqual(["'self'"])
    expect(CONTENT_SECURITY_POLICY).not.toContain('unsafe-eval')
    expect(directives.get('script-src')).not.toContain("'unsafe-inline'")
    expect(directives.get('default-src')).toEqual(["'self'"])
  })

  it('blocks plugins, base-URI tricks, form posts and framing', () => {
    expect(directives.get('object-src')).toEqual(["'none'"])
    expect(directives.get('base-uri')).toEqual(["'none'"])
    expect(directives.get('form-action')).toEqual(["'none'"])
    expect(directives.get('frame-ancestors')).toEqual(["'none'"])
  })

  it('lets the page reach only loopback WebSockets (the browser host) besides itself', () => {
    const connect = directives.get('connect-src') ?? []
    expect(connect[0]).toBe("'self'")
    for (const source of connect.slice(1))
      expect(source).toMatch(/^ws:\/\/(127\.0\.0\.1|localhost|\[::1\]):\*$/)
    expect(connect).not.toContain('*')
    expect(connect.some((s) => s.startsWith('http'))).toBe(false)
  })

  it('has no wildcard source anywhere', () => {
    for (const [, values] of directives) {
      for (const v of values) expect(v === '*' || v === 'https:' || v === 'http:').toBe(false)
    }
  })

  it('is the policy of the page itself too (file:// pages get no response headers, only the meta tag)', () => {
    const html = readFileSync(new URL('../../src/renderer/index.html', import.meta.url), 'utf8')
    const meta = /<meta\s+http-equiv="Content-Security-Policy"\s+content="([^"]*)"/i.exec(html)
    expect(meta).not.toBeNull()
    // frame-ancestors is ignored in a meta tag, so only the header carries it.
    const expected = CONTENT_SECURITY_POLICY.split('; ')
      .filter((d) => !d.startsWith('frame-ancestors'))
      .join('; ')
    expect(meta![1]).toBe(expected)
  })
})
