/**
 * Hands a link to the system browser, the one way out of the app: only https URLs, only after the
 * person at the keyboard has seen the exact address and said yes, one question at a time.
 */
import type { BaseWindow, Dialog, Shell } from 'electron'
import type { Outcome } from '../../shared/contract'
import { ResultCode } from '../../shared/protocol'
import { isSafeExternalUrl } from './security'

export interface OpenExternalDeps {
  shell: Pick<Shell, 'openExternal'>
  dialog: Pick<Dialog, 'showMessageBox'>
  /** Language of the question (English unless told otherwise, e.g. from the app's settings). */
  language?: () => 'ko' | 'en'
}

const TEXT = {
  en: { message: 'Open this link in your web browser?', open: 'Open', cancel: 'Cancel' },
  ko: { message: '이 링크를 웹 브라우저에서 열까요?', open: '열기', cancel: '취소' }
} as const

/** The parent window makes the question modal to the window that asked, where there is one. */
export type ParentWindow = BaseWindow | null | undefined

/**
 * Builds the handler for an "open this link externally" request. It resolves with
 * `{ opened: true }` once the browser was asked to open it, `{ opened: false }` when the person
 * declined; a link that is not https is refused (400) without asking, and a request made while a
 * question is already on screen is refused (409) so that a page cannot stack dialogs.
 */
export function createOpenExternal(
  deps: OpenExternalDeps
): (url: unknown, parent?: ParentWindow) => Promise<Outcome<{ opened: boolean }>> {
  let asking = false
  return async (url, parent) => {
    if (typeof url !== 'string' || !isSafeExternalUrl(url)) {
      return { ok: false, error: { result_cd: ResultCode.BAD_REQUEST, message: 'only https links open' } }
    }
    if (asking) {
      return { ok: false, error: { result_cd: ResultCode.CONFLICT, message: 'a link is already waiting' } }
    }
    // What the person reads is what gets opened: the parsed form, not the raw string.
    const href = new URL(url).href
    const text = TEXT[deps.language?.() ?? 'en']
    const options = {
      type: 'question' as const,
      message: text.message,
      detail: href,
      buttons: [text.cancel, text.open],
      defaultId: 0,
      cancelId: 0,
      noLink: true
    }
    asking = true
    try {
      const { response } = parent
        ? await deps.dialog.showMessageBox(parent, options)
        : await deps.dialog.showMessageBox(options)
      if (response !== 1) return { ok: true, value: { opened: false } }
      await deps.shell.openExternal(href)
      return { ok: true, value: { opened: true } }
    } catch (e) {
      return {
        ok: false,
        error: { result_cd: ResultCode.SYSTEM_ERROR, message: e instanceof Error ? e.message : String(e) }
      }
    } finally {
      asking = false
    }
  }
}
