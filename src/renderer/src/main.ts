import { createPinia } from 'pinia'
import { createApp } from 'vue'
import App from './App.vue'
import { runningAudioContexts } from './rtc/level-meter'
import { livePeers } from './rtc/peer-session'
import { liveMicrophoneTracks } from './rtc/microphone'
import { useBridge } from './services/bridge'
import { activeTimers } from './services/ticker'
import './styles.css'

createApp(App).use(createPinia()).mount('#app')

window.genieBridge = {
  async diagnostics() {
    const main = await useBridge().invoke('app:diagnostics')
    return {
      ...main,
      peerConnections: livePeers.count,
      microphoneTracks: liveMicrophoneTracks(),
      uiTimers: activeTimers(),
      audioContexts: runningAudioContexts()
    }
  }
}
