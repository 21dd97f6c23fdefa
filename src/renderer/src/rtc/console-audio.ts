/**
 * The console page's audio: one bus and one microphone for every call (plain classes, outside
 * Vue). The microphone feeds the bus; a microphone reopened mid-call feeds it in place of the
 * old one, so no call notices.
 */
import { useSettingsStore } from '../stores/settings'
import { AudioBus } from './audio-bus'
import { SharedMicrophone } from './shared-microphone'

export interface ConsoleAudio {
  bus: AudioBus
  microphone: SharedMicrophone
}

let instance: ConsoleAudio | null = null

export function consoleAudio(): ConsoleAudio {
  if (instance) return instance
  const settings = useSettingsStore()
  const bus = new AudioBus()
  const microphone = new SharedMicrophone(
    (useDefault) => settings.microphoneOptions(useDefault),
    () => bus.callCount > 0
  )
  microphone.on('stream', (stream) => bus.setMicrophone(stream))
  instance = { bus, microphone }
  return instance
}

/** For tests: forget the page's audio (its bus is closed). */
export function resetConsoleAudio(): void {
  instance?.microphone.release()
  instance?.bus.dispose()
  instance = null
}
