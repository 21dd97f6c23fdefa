import type { Api } from '../shared/contract'

declare global {
  interface Window {
    /** Present in the Electron app only (the browser host carries the same contract over a WebSocket). */
    api?: Api
  }
}

export {}
