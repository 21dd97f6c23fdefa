/**
 * The push-to-talk global shortcut, which works while the window is not focused. The system only
 * reports presses of a global shortcut, never releases, so it toggles talking on and off.
 */
import type { GlobalShortcut } from 'electron'

export const PTT_ACCELERATOR = 'CommandOrControl+Shift+Space'

export interface PushToTalk {
  /** False when the system refused it (another application holds the same keys). */
  readonly registered: boolean
  unregister(): void
}

export function registerPushToTalk(
  globalShortcut: Pick<GlobalShortcut, 'register' | 'unregister'>,
  onToggle: () => void,
  accelerator: string = PTT_ACCELERATOR
): PushToTalk {
  let registered = false
  try {
    registered = globalShortcut.register(accelerator, onToggle)
  } catch {
    registered = false
  }
  return {
    get registered() {
      return registered
    },
    unregister: () => {
      if (!registered) return
      registered = false
      globalShortcut.unregister(accelerator)
    }
  }
}
