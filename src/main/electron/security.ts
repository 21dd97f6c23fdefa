/**
 * The window's security settings and the checks on what a page may do: only the app's own pages,
 * only microphone/audio permissions, no navigation away, no new windows, IPC only from our frames.
 * Pure functions of their inputs, so they are unit-tested without the Electron runtime.
 */
export const APP_PROTOCOL_ORIGINS = ['file://'] as const

/** Where the renderer is loaded from: file:// in the app, the dev server URL under `npm run dev`. */
export function isAppUrl(url: string | undefined | null, devServerUrl?: string): boolean {
  if (!url) return false
  if (url.startsWith('file://')) return true
  if (devServerUrl) {
    try {
      return new URL(url).origin === new URL(devServerUrl).origin
    } catch {
      return false
    }
  }
  return false
}

/**
 * IPC sender validation: the calling frame shows one of the app's pages and belongs to one of the
 * app's windows. A frame that went away while its message was in flight is refused (reading a
 * disposed frame's URL throws).
 */
export function isTrustedSender<S>(
  event: { readonly senderFrame: { readonly url: string } | null; readonly sender: S },
  isAppWindow: (sender: S) => boolean,
  devServerUrl?: string
): boolean {
  let url: string | undefined
  try {
    url = event.senderFrame?.url
  } catch {
    return false
  }
  return isAppUrl(url, devServerUrl) && isAppWindow(event.sender)
}

/**
 * The window's web preferences, every security-relevant one set explicitly. createMainWindow writes
 * the same values out literally (so that the security scanner can read them); a test keeps them equal.
 */
export function secureWebPreferences(preloadPath: string): {
  preload: string
  contextIsolation: true
  sandbox: true
  nodeIntegration: false
  nodeIntegrationInWorker: false
  nodeIntegrationInSubFrames: false
  webSecurity: true
  allowRunningInsecureContent: false
  experimentalFeatures: false
  webviewTag: false
  navigateOnDragDrop: false
  spellcheck: false
} {
  return {
    preload: preloadPath,
    contextIsolation: true,
    sandbox: true,
    nodeIntegration: false,
    nodeIntegrationInWorker: false,
    nodeIntegrationInSubFrames: false,
    webSecurity: true,
    allowRunningInsecureContent: false,
    experimentalFeatures: false,
    webviewTag: false,
    navigateOnDragDrop: false,
    spellcheck: false
  }
}

/** Permissions the app may be granted; everything else is refused. */
export const ALLOWED_PERMISSIONS = new Set(['media', 'speaker-selection'])

/**
 * Grants a permission only to the app's own pages, and for `media` only audio
 * (`mediaTypes` is absent in permission checks, present in requests).
 */
export function allowPermission(
  permission: string,
  requestingUrl: string | undefined,
  mediaTypes: readonly string[] | undefined,
  devServerUrl?: string
): boolean {
  if (!ALLOWED_PERMISSIONS.has(permission)) return false
  if (!isAppUrl(requestingUrl, devServerUrl)) return false
  if (permission === 'media' && mediaTypes && mediaTypes.some((t) => t !== 'audio')) return false
  return true
}

/** Longest link the app hands to the system browser: enough for any real page, short enough to read. */
export const MAX_EXTERNAL_URL_LENGTH = 2048

/**
 * Links the app may hand to the system browser (after the user confirms): https only, and no
 * `user:password@` part, which makes `https://trusted.example@evil.example` look like another site.
 */
export function isSafeExternalUrl(url: string): boolean {
  if (url.length > MAX_EXTERNAL_URL_LENGTH) return false
  try {
    const parsed = new URL(url)
    return (
      parsed.protocol === 'https:' &&
      parsed.hostname !== '' &&
      parsed.username === '' &&
      parsed.password === ''
    )
  } catch {
    return false
  }
}

/** The Content-Security-Policy of every app page (also set as a meta tag in index.html). */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "media-src 'self' blob: mediastream:",
  "connect-src 'self' ws://127.0.0.1:* ws://localhost:* ws://[::1]:*",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'"
].join('; ')
