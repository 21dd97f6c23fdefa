import { defineStore } from 'pinia'
import { ref } from 'vue'
import { readSignal } from '@shared/protocol'
import type { MessageKey } from '../i18n'
import { readQuality } from '../rtc/call-quality'
import { LevelMeter } from '../rtc/level-meter'
import { MicrophoneError, openMicrophone, stopStream } from '../rtc/microphone'
import { PeerSession } from '../rtc/peer-session'
import { useBridge } from '../services/bridge'
import { errorMessage, randomId } from './channel-events'
import { useSettingsStore } from './settings'

/** How long each stage may take before the self-test calls it failed. */
export const SELF_TEST_LIMITS = { stageTimeoutMs: 10_000, listenMs: 2_000, audibleDbfs: -60 } as const

export type SelfTestStep = 'server' | 'channel' | 'microphone' | 'ice' | 'rtp' | 'level'

/** What a step found, as a message (shown in the person's language). */
export interface StepDetail {
  key: MessageKey
  params?: Record<string, string | number>
}

export interface SelfTestResult {
  ok: boolean
  steps: { step: SelfTestStep; ok: boolean; detail: StepDetail }[]
  levelDbfs: number | null
  packetsReceived: number
  verdict: MessageKey
}

const DEVICE = 'selftest-device'
const WEB = 'selftest-web'

/** A step that failed for a reason the self-test itself names. */
class StepFailure extends Error {
  constructor(readonly detail: StepDetail) {
    super(detail.key)
  }
}

/** Why a step failed: its own reason, the microphone's, or the error's text after a lead-in. */
function failureDetail(e: unknown): StepDetail {
  if (e instanceof StepFailure) return e.detail
  if (e instanceof MicrophoneError) return { key: `mic.${e.kind}` }
  return { key: 'selftest.detail.error', params: { detail: errorMessage(e) } }
}

const dbfs = (level: number): StepDetail => ({ key: 'level.dbfs', params: { level: level.toFixed(1) } })

function within<T>(ms: number, p: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new StepFailure({ key: 'selftest.detail.timeout', params: { seconds: ms / 1000 } })
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(timeout), ms)))
  ])
}

/**
 * One click: a speaker and a console on this machine call each other through the embedded
 * channel server, and the result says whether the microphone reaches the speaker.
 */
export const useSelfTestStore = defineStore('self-test', () => {
  const running = ref(false)
  const result = ref<SelfTestResult | null>(null)

  async function run(): Promise<SelfTestResult> {
    const bridge = useBridge()
    const settings = useSettingsStore()
    running.value = true
    result.value = null
    const steps: SelfTestResult['steps'] = []
    const pass = (step: SelfTestStep, detail: StepDetail): void => void steps.push({ step, ok: true, detail })
    let levelDbfs: number | null = null
    let packetsReceived = 0
    let verdict: MessageKey = 'selftest.ok'
    let mic: MediaStream | null = null
    let device: PeerSession | null = null
    let web: PeerSession | null = null
    let meter: LevelMeter | null = null
    let sink: HTMLAudioElement | null = null
    let sessionid = ''
    const offs: (() => void)[] = []
    try {
      const info = await bridge.invoke('app:info')
      const url = info.channelUrl ?? info.defaultServerUrl
      try {
        await bridge.invoke('channel:connect', { connectionId: DEVICE, uuid: randomId('SELFTEST-D'), url })
        await bridge.invoke('channel:connect', { connectionId: WEB, uuid: randomId('SELFTEST-W'), url })
      } catch (e) {
        verdict = 'selftest.server'
        throw e
      }
      pass('server', { key: 'selftest.detail.server', params: { url } })
      sessionid = (await bridge.invoke('channel:create', { connectionId: DEVICE })).sessionid
      await bridge.invoke('channel:join', { connectionId: WEB, sessionid })
      pass('channel', { key: 'selftest.detail.channel', params: { session: sessionid } })
      try {
        mic = await openMicrophone(settings.microphoneOptions())
      } catch (e) {
        verdict = 'selftest.microphone'
        throw e
      }
      const label = mic.getAudioTracks()[0]?.label
      pass(
        'microphone',
        label ? { key: 'selftest.detail.microphone', params: { name: label } } : { key: 'devices.default' }
      )

      const send = (connectionId: string) => (data: Record<string, unknown>) =>
        void bridge.invoke('channel:send', { connectionId, sessionid, data }).catch(() => undefined)
      device = new PeerSession({ role: 'device', signal: send(DEVICE) })
      web = new PeerSession({ role: 'web', localStream: mic, signal: send(WEB) })
      const peers = { [DEVICE]: device, [WEB]: web }
      offs.push(
        bridge.on('channel:frame', (e) => {
          const peer = peers[e.connectionId as keyof typeof peers]
          if (peer && e.direction === 'in' && e.frame.msgtype === 'data' && readSignal(e.frame.data))
            void peer.handle(e.frame.data)
        })
      )
      const remote = new Promise<MediaStream>((resolve) => device!.once('remoteStream', resolve))
      const connected = new Promise<void>((resolve, reject) =>
        device!.on('state', (s) =>
          s === 'live'
            ? resolve()
            : s === 'failed'
              ? reject(new StepFailure({ key: 'ice.failed' }))
              : undefined
        )
      )
      await device.start()
      try {
        await within(SELF_TEST_LIMITS.stageTimeoutMs, connected)
      } catch (e) {
        verdict = 'selftest.ice'
        throw e
      }
      pass('ice', { key: `ice.${device.iceState}` })

      const stream = await within(SELF_TEST_LIMITS.stageTimeoutMs, remote)
      // Chromium feeds remote WebRTC audio to WebAudio only while a media element plays it.
      sink = new Audio()
      sink.muted = true
      sink.srcObject = stream
      void sink.play().catch(() => undefined)
      meter = new LevelMeter(stream)
      let loudest = -Infinity
      const end = Date.now() + SELF_TEST_LIMITS.listenMs
      while (Date.now() < end) {
        await new Promise((r) => setTimeout(r, 100))
        loudest = Math.max(loudest, meter.read().dbfs)
      }
      levelDbfs = loudest
      const report = await device.stats()
      packetsReceived = report
        ? readQuality(report as unknown as Map<string, Record<string, unknown> & { type: string }>).quality
            .packetsReceived
        : 0
      if (packetsReceived === 0) {
        verdict = 'selftest.rtp'
        throw new StepFailure({ key: 'selftest.detail.noPackets' })
      }
      pass('rtp', { key: 'selftest.detail.packets', params: { count: packetsReceived } })
      if (loudest < SELF_TEST_LIMITS.audibleDbfs) {
        verdict = 'selftest.silent'
        throw new StepFailure(dbfs(loudest))
      }
      pass('level', dbfs(loudest))
    } catch (e) {
      if (verdict === 'selftest.ok') verdict = 'selftest.failed'
      const failed: SelfTestStep =
        (['server', 'channel', 'microphone', 'ice', 'rtp', 'level'] as const).find(
          (s) => !steps.some((x) => x.step === s)
        ) ?? 'level'
      steps.push({ step: failed, ok: false, detail: failureDetail(e) })
    } finally {
      meter?.dispose()
      if (sink) sink.srcObject = null
      for (const off of offs) off()
      device?.close({ sendBye: false })
      web?.close({ sendBye: false })
      stopStream(mic)
      if (sessionid)
        await bridge.invoke('channel:destroy', { connectionId: DEVICE, sessionid }).catch(() => undefined)
      await bridge.invoke('channel:disconnect', { connectionId: WEB }).catch(() => undefined)
      await bridge.invoke('channel:disconnect', { connectionId: DEVICE }).catch(() => undefined)
      running.value = false
    }
    const r: SelfTestResult = { ok: verdict === 'selftest.ok', steps, levelDbfs, packetsReceived, verdict }
    result.value = r
    return r
  }

  return { running, result, run }
})
