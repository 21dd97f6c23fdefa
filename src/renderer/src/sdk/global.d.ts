import type { GigagenieSdk } from './gigagenie'

declare global {
  interface Window {
    /** The GiGA Genie device SDK, present while the speaker view is open. */
    gigagenie?: GigagenieSdk
    /** Counts for leak checks and support: peer connections, microphone tracks, UI timers, channel handles. */
    genieBridge?: { diagnostics(): Promise<Record<string, number | null>> }
  }
}

export {}
