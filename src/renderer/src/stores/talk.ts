import { defineStore } from 'pinia'
import { computed, reactive, ref, shallowRef, watch } from 'vue'
import type { MessageKey } from '../i18n'
import { useBridge } from '../services/bridge'
import { consoleAudio } from '../rtc/console-audio'
import { errorMessage } from './channel-events'
import { microphoneError, useConsoleStore } from './console'
import type { StoreError } from './device'
import { useDirectoryStore } from './directory'
import { useSettingsStore } from './settings'
import { useZonesStore } from './zones'

/** A zone held by push-to-talk or a message playing to one (null zone: all-call). */
interface Override {
  zoneId: string | null
  reason: 'ptt' | 'message'
}

/**
 * Who hears the operator: the talk selection (one, some, all), mute, push-to-talk, a zone held by
 * push-to-talk, the all-call, a recorded message played to a zone, and the chime before each.
 * Routing is applied to each call's own track (see PeerSession.setSending); what each row shows
 * as "hearing" is read back from the call's sender.
 */
export const useTalkStore = defineStore('talk', () => {
  const bridge = useBridge()
  const settings = useSettingsStore()
  const calls = useConsoleStore()
  const zones = useZonesStore()
  const directory = useDirectoryStore()

  const muted = ref(false)
  /** Push-to-talk: when on, the microphone goes out only while `pttHeld`. */
  const pushToTalk = ref(false)
  const pttHeld = ref(false)
  const override = ref<Override | null>(null)
  /** The message playing now (its file name), if any. */
  const message = ref<string | null>(null)
  const playing = ref<'chime' | 'message' | null>(null)
  /** Sessions whose call carries the operator's bus right now (read from each call's sender). */
  const hearing = reactive<Record<string, boolean>>({})
  const error = ref<StoreError | null>(null)
  /** Something the operator should know that is not an error (e.g. switched microphones). */
  const notice = ref<StoreError | null>(null)
  const microphone = shallowRef<MediaStream | null>(null)
  const busStream = shallowRef<MediaStream | null>(null)

  const audio = consoleAudio()
  audio.microphone.on('stream', (s) => {
    microphone.value = s
    // The bus meter runs while calls hold the microphone (a page between calls costs nothing).
    busStream.value = s ? audio.bus.stream : null
    if (!s) return
    // A microphone is open again: what said there was none no longer holds.
    if (error.value?.key.startsWith('mic.')) error.value = null
    if (calls.error?.key.startsWith('mic.')) calls.error = null
    if (notice.value?.key === 'mic.lost' || notice.value?.key === 'mic.lostNone') notice.value = null
  })
  audio.microphone.on('notice', (kind, detail) => {
    notice.value = { key: `mic.${kind}` as MessageKey, ...(detail !== undefined ? { detail } : {}) }
  })
  audio.microphone.on('error', (e) => (error.value = microphoneError(e)))
  audio.bus.on('playing', (what) => (playing.value = what))

  /** The microphone is open to the selected speakers (not muted, push-to-talk held if on). */
  const transmitting = computed(() => !muted.value && (!pushToTalk.value || pttHeld.value))

  function liveSessionOf(entryId: string): string | undefined {
    const entry = directory.entries.find((e) => e.id === entryId)
    return entry ? directory.sessionFor(entry) : undefined
  }

  /** Whether a call should carry the bus now. */
  function routed(sessionid: string): boolean {
    const c = calls.calls[sessionid]
    if (!c) return false
    if (override.value) {
      const target = zones.sessionsIn(override.value.zoneId, liveSessionOf)
      return target === null || target.has(sessionid)
    }
    return c.talk && transmitting.value
  }

  /** Applies routing to every call and reads back what each one now carries. */
  function apply(): void {
    const sessions = calls.sessions
    for (const id of Object.keys(hearing)) if (!sessions[id]) delete hearing[id]
    audio.bus.setMicrophoneOpen(!muted.value)
    // Someone new is about to hear the operator: the chime goes first (it holds the microphone
    // back before any call is routed). A message plays its own chime.
    const gained = Object.keys(sessions).some(
      (id) => routed(id) && !hearing[id] && calls.calls[id]?.state === 'live'
    )
    if (gained && override.value?.reason !== 'message') void chime()
    for (const [id, session] of Object.entries(sessions)) {
      session.setSending(routed(id))
      const now = session.sendingNow && calls.calls[id]?.state === 'live'
      if (hearing[id] !== now) hearing[id] = now
    }
  }
  watch(
    () => [
      transmitting.value,
      muted.value,
      override.value,
      calls.sessions,
      JSON.stringify(settings.settings.directory.map((e) => e.zones)),
      ...calls.callList.map((c) => `${c.sessionid}:${c.state}:${c.talk}`)
    ],
    apply
  )

  async function chime(): Promise<void> {
    if (audio.bus.playing === 'message') return // a message has had its own
    await audio.bus.chime(settings.settings.chime)
  }

  /** Talk to these speakers only (one, a group), or to every speaker with `null`. */
  function talkTo(sessionids: Iterable<string> | null): void {
    const chosen = sessionids === null ? null : new Set(sessionids)
    for (const c of calls.callList) c.talk = chosen === null || chosen.has(c.sessionid)
  }

  function talkToZone(zoneId: string | null): void {
    talkTo(zones.sessionsIn(zoneId, liveSessionOf))
  }

  function toggleTalk(sessionid: string): void {
    const c = calls.calls[sessionid]
    if (c) c.talk = !c.talk
  }

  function setMuted(value: boolean): void {
    muted.value = value
  }

  function setPushToTalk(enabled: boolean): void {
    pushToTalk.value = enabled
    pttHeld.value = false
  }

  function holdToTalk(held: boolean): void {
    pttHeld.value = held
  }

  /** Push-to-talk to one zone (null: all-call): only its speakers hear the operator while held. */
  function holdZone(zoneId: string | null, held: boolean): void {
    if (override.value?.reason === 'message') return // the message has the bus
    if (held) override.value = { zoneId, reason: 'ptt' }
    else if (override.value?.zoneId === zoneId) override.value = null
  }

  /** Plays a recorded message (WAV, MP3, OGG) to a zone (null: all-call), after the chime. */
  async function playMessage(
    file: { name: string; arrayBuffer(): Promise<ArrayBuffer> },
    zoneId: string | null
  ) {
    let buffer: AudioBuffer
    try {
      buffer = await audio.bus.decode(await file.arrayBuffer())
    } catch (e) {
      error.value = { key: 'talk.messageUnreadable', detail: errorMessage(e) }
      return
    }
    error.value = null
    override.value = { zoneId, reason: 'message' }
    message.value = file.name
    try {
      await audio.bus.holding(async () => {
        await audio.bus.chime(settings.settings.chime)
        if (message.value === file.name) await audio.bus.playMessage(buffer)
      })
    } finally {
      if (message.value === file.name) {
        message.value = null
        override.value = null
      }
    }
  }

  function stopMessage(): void {
    audio.bus.stopMessage()
    message.value = null
    if (override.value?.reason === 'message') override.value = null
  }

  /** A live call carries the operator's bus now. */
  const onAir = computed(() => Object.values(hearing).some(Boolean))

  // The desktop app's global shortcut: a press toggles talking (shortcuts report no release).
  bridge.on('ptt:toggle', () => {
    if (pushToTalk.value) pttHeld.value = !pttHeld.value
  })

  return {
    muted,
    pushToTalk,
    pttHeld,
    override,
    message,
    playing,
    hearing,
    transmitting,
    onAir,
    error,
    notice,
    microphone,
    busStream,
    talkTo,
    talkToZone,
    toggleTalk,
    setMuted,
    setPushToTalk,
    holdToTalk,
    holdZone,
    playMessage,
    stopMessage
  }
})
