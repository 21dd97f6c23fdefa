import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { nextTick } from 'vue'
import { STATUS_SETTLE_MS } from '../../src/renderer/src/composables/useSettled'
import { DEFAULT_SETTINGS, type Settings } from '../../src/shared/contract'
import type { Frame } from '../../src/shared/protocol'
import { consoleAudio, resetConsoleAudio } from '../../src/renderer/src/rtc/console-audio'
import { setBridge } from '../../src/renderer/src/services/bridge'
import {
  CONSOLE_CONNECTION,
  speakerConnectionId,
  useConsoleStore
} from '../../src/renderer/src/stores/console'
import { DEVICE_CONNECTION, useDeviceStore } from '../../src/renderer/src/stores/device'
import { REJOIN_BACKOFF, useDirectoryStore } from '../../src/renderer/src/stores/directory'
import { useStatusStore } from '../../src/renderer/src/stores/status'
import { useTalkStore } from '../../src/renderer/src/stores/talk'
import { BridgeError, type StubTransport, stubBridge } from './stub-bridge'

let transport: StubTransport
let settings: Settings

beforeEach(() => {
  setActivePinia(createPinia())
  const stub = stubBridge()
  transport = stub.transport
  setBridge(stub.bridge)
  settings = { ...DEFAULT_SETTINGS }
  transport
    .respond('settings:get', () => settings)
    .respond('settings:set', (patch) => (settings = { ...settings, ...(patch as Partial<Settings>) }))
    .respond('app:info', () => ({ channelUrl: 'ws://127.0.0.1:1/channel' }))
    .respond('channel:connect', (req) => {
      const { connectionId } = req as { connectionId: string }
      transport.emit('channel:state', { connectionId, state: 'ready' })
    })
})

function inbound(connectionId: string, frame: Frame): void {
  transport.emit('channel:frame', { connectionId, direction: 'in', frame, at: Date.now() })
}

describe('device store', () => {
  it('connects with a generated Container ID and remembers it', async () => {
    const device = useDeviceStore()
    await device.connect()
    expect(device.connection).toBe('ready')
    expect(device.uuid).toMatch(/^K[0-9A-F]{12}$/)
    expect(transport.callsOf('channel:connect')).toEqual([
      { connectionId: DEVICE_CONNECTION, uuid: device.uuid }
    ])
    expect(settings.deviceUuid).toBe(device.uuid)
  })

  it('uses the remembered Container ID and the configured server', async () => {
    settings = { ...settings, deviceUuid: 'K0000042', serverUrl: 'ws://127.0.0.1:9/channel' }
    await useDeviceStore().connect()
    expect(transport.callsOf('channel:connect')).toEqual([
      { connectionId: DEVICE_CONNECTION, uuid: 'K0000042', url: 'ws://127.0.0.1:9/channel' }
    ])
  })

  it('creates a channel with the Container ID as session id when asked', async () => {
    settings = { ...settings, deviceUuid: 'K7' }
    transport.respond('channel:create', (req) => ({
      sessionid: (req as { sessionid?: string }).sessionid ?? 'generated'
    }))
    const device = useDeviceStore()
    expect(await device.createChannel({ usecontainerid: true })).toBe('K7')
    expect(device.sessionid).toBe('K7')
  })

  it('follows join, leave and destroy notifies of its own session only', async () => {
    transport.respond('channel:create', () => ({ sessionid: 'S1' }))
    const device = useDeviceStore()
    await device.createChannel()
    inbound(DEVICE_CONNECTION, { msgtype: 'notify', operation: 'join_session', sessionid: 'OTHER' })
    expect(device.webJoined).toBe(false)
    inbound(DEVICE_CONNECTION, {
      msgtype: 'notify',
      operation: 'join_session',
      sessionid: 'S1',
      channeltype: 'webrtcaudio'
    })
    expect(device.webJoined).toBe(true)
    inbound(DEVICE_CONNECTION, { msgtype: 'notify', operation: 'leave_session', sessionid: 'S1' })
    expect(device.webJoined).toBe(false)
    inbound(DEVICE_CONNECTION, { msgtype: 'notify', operation: 'destroy_session', sessionid: 'S1' })
    expect(device.sessionid).toBeNull()
  })

  it('shows a refused request as an error with its reason, and keeps its state', async () => {
    transport.respond('channel:create', () => {
      throw new BridgeError(409, 'session id "K1" is taken')
    })
    const device = useDeviceStore()
    await expect(device.createChannel({ usecontainerid: true })).rejects.toThrow(/taken/)
    expect(device.error).toEqual({ key: 'error.create', detail: 'session id "K1" is taken' })
    expect(device.sessionid).toBeNull()
    expect(device.busy).toBe(false)
  })

  it('refuses to start audio without a channel', async () => {
    const device = useDeviceStore()
    await expect(device.startAudio()).rejects.toThrow(/create one first/)
    expect(device.error).toEqual({ key: 'error.noChannel' })
  })

  it('hands channel events to a service app, but not iam or keep-alive', async () => {
    const device = useDeviceStore()
    await device.connect()
    const seen: unknown[] = []
    device.setChannelEventListener((cd, msg, extra) => seen.push([cd, msg, extra.operation ?? extra.msgtype]))
    inbound(DEVICE_CONNECTION, { msgtype: 'notify', operation: 'iam', channeltype: 'system' })
    inbound(DEVICE_CONNECTION, { msgtype: 'notify', operation: 'ras_alive', channeltype: 'system' })
    inbound(DEVICE_CONNECTION, { msgtype: 'notify', operation: 'join_session', sessionid: 'S' })
    inbound(DEVICE_CONNECTION, { msgtype: 'data', sessionid: 'S', data: { type: 'answer', sdp: 'v=0' } })
    expect(seen).toEqual([
      [200, 'Success', 'join_session'],
      [200, 'Success', 'data']
    ])
  })
})

describe('console store', () => {
  it('joins a session and lists it as waiting for the offer', async () => {
    const operator = useConsoleStore()
    await operator.connect()
    await operator.join('  S1 ')
    expect(transport.callsOf('channel:join')).toEqual([{ connectionId: CONSOLE_CONNECTION, sessionid: 'S1' }])
    expect(operator.callList).toEqual([
      {
        sessionid: 'S1',
        connectionId: CONSOLE_CONNECTION,
        state: 'joined',
        ice: 'new',
        error: null,
        talk: true,
        volume: 1
      }
    ])
  })

  it('calls a speaker by its ContainerId on a connection authenticated as it (another server), or on its own (the embedded one)', async () => {
    const EMBEDDED = 'ws://127.0.0.1:1/channel'
    transport.respond('app:info', () => ({ channelUrl: EMBEDDED }))
    settings = { ...DEFAULT_SETTINGS, serverUrl: 'ws://127.0.0.1:2/channel' }
    const operator = useConsoleStore()
    await operator.connect()
    await operator.join('', { containerId: 'K-LOBBY' })
    await operator.join('S-RANDOM', { containerId: 'K-HALL' })
    expect(transport.callsOf('channel:connect')).toEqual([
      { connectionId: CONSOLE_CONNECTION, uuid: operator.uuid, url: 'ws://127.0.0.1:2/channel' },
      { connectionId: speakerConnectionId('K-LOBBY'), uuid: 'K-LOBBY', url: 'ws://127.0.0.1:2/channel' },
      { connectionId: speakerConnectionId('K-HALL'), uuid: 'K-HALL', url: 'ws://127.0.0.1:2/channel' }
    ])
    // KT's usecontainerid: the session id is the ContainerId unless one is given.
    expect(transport.callsOf('channel:join')).toEqual([
      { connectionId: speakerConnectionId('K-LOBBY'), sessionid: 'K-LOBBY' },
      { connectionId: speakerConnectionId('K-HALL'), sessionid: 'S-RANDOM' }
    ])
    // A speaker not there: its own connection is closed again, the others stay.
    transport.respond('channel:join', (req) => {
      if ((req as { sessionid: string }).sessionid === 'K-GONE') throw new BridgeError(404, 'not found')
    })
    await expect(operator.join('', { containerId: 'K-GONE' })).rejects.toThrow(/not found/)
    expect(transport.callsOf('channel:disconnect')).toEqual([{ connectionId: speakerConnectionId('K-GONE') }])
    // One speaker's connection closing ends its call only.
    transport.emit('channel:state', { connectionId: speakerConnectionId('K-LOBBY'), state: 'closed' })
    expect(operator.callList.map((c) => c.sessionid)).toEqual(['S-RANDOM'])

    setActivePinia(createPinia())
    settings = { ...DEFAULT_SETTINGS, serverUrl: '' }
    const embedded = useConsoleStore()
    await embedded.connect()
    await embedded.join('', { containerId: 'K-LOBBY' })
    expect(transport.callsOf('channel:join').at(-1)).toEqual({
      connectionId: CONSOLE_CONNECTION,
      sessionid: 'K-LOBBY'
    })
  })

  it('asks for a session id instead of sending an empty join', async () => {
    const operator = useConsoleStore()
    await operator.join('   ')
    expect(operator.error).toEqual({ key: 'error.sessionRequired' })
    expect(transport.callsOf('channel:join')).toEqual([])
  })

  it('drops a session the speaker destroyed, and all of them when the connection closes', async () => {
    const operator = useConsoleStore()
    await operator.connect()
    await operator.join('S1')
    await operator.join('S2')
    inbound(CONSOLE_CONNECTION, { msgtype: 'notify', operation: 'destroy_session', sessionid: 'S1' })
    expect(Object.keys(operator.calls)).toEqual(['S2'])
    transport.emit('channel:state', { connectionId: CONSOLE_CONNECTION, state: 'closed' })
    expect(operator.callList).toEqual([])
  })

  it('explains a join the server refused', async () => {
    transport.respond('channel:join', () => {
      throw new BridgeError(404, 'session "nope" not found')
    })
    const operator = useConsoleStore()
    await operator.connect()
    await expect(operator.join('nope')).rejects.toThrow(/not found/)
    expect(operator.error).toEqual({ key: 'error.join', detail: 'session "nope" not found' })
    expect(operator.callList).toEqual([])
  })
})

describe('directory store', () => {
  const saved = (): Settings => ({
    ...DEFAULT_SETTINGS,
    zones: [{ id: 'z1', name: 'Lobby' }],
    directory: [
      { id: 'a', name: 'A', note: '', containerId: 'K-A', sessionid: '', zones: ['z1'] },
      { id: 'b', name: 'B', note: '', containerId: 'K-B', sessionid: '', zones: [] },
      { id: 'c', name: 'C', note: '', containerId: '', sessionid: 'S-C', zones: [] }
    ]
  })

  it('joins the saved speakers presence reports on line, one that starts later at once, and offers new ones', async () => {
    settings = saved()
    transport.respond('presence:list', () => ({
      sessions: [
        { sessionid: 'K-A', uuid: 'K-A', channeltype: 'webrtcaudio', members: 1 },
        { sessionid: 'X1', uuid: 'K-NEW', channeltype: 'webrtcaudio', members: 1 }
      ]
    }))
    const operator = useConsoleStore()
    const directory = useDirectoryStore()
    await operator.connect()
    await directory.start()
    await vi.waitFor(() => expect(transport.callsOf('channel:join')).toHaveLength(1))
    expect(transport.callsOf('presence:list')).toEqual([
      { connectionId: CONSOLE_CONNECTION, subscribe: true }
    ])
    expect(directory.mode).toBe('presence')
    expect(transport.callsOf('channel:join')).toEqual([
      { connectionId: CONSOLE_CONNECTION, sessionid: 'K-A' }
    ])
    expect(directory.entries.map((e) => directory.status(e))).toEqual(['online', 'offline', 'offline'])
    expect(directory.newSpeakers.map((s) => s.uuid)).toEqual(['K-NEW'])

    // B makes its channel with a session id of its own: it is matched by its ContainerId.
    inbound(CONSOLE_CONNECTION, {
      msgtype: 'notify',
      operation: 'session_started',
      channeltype: 'system',
      sessionid: 'RANDOM-B',
      uuid: 'K-B'
    })
    await vi.waitFor(() => expect(transport.callsOf('channel:join')).toHaveLength(2))
    expect(transport.callsOf('channel:join')[1]).toEqual({
      connectionId: CONSOLE_CONNECTION,
      sessionid: 'RANDOM-B'
    })

    await directory.addLive(directory.newSpeakers[0]!)
    expect(settings.directory.at(-1)).toMatchObject({ containerId: 'K-NEW', sessionid: 'X1' })
    await vi.waitFor(() => expect(transport.callsOf('channel:join')).toHaveLength(3))
  })

  it('without presence, tries every saved speaker, again after a growing delay while it is not there', async () => {
    vi.useFakeTimers()
    try {
      settings = saved()
      transport.respond('presence:list', () => {
        throw new BridgeError(501, 'operation "list_sessions" is not supported')
      })
      transport.respond('channel:join', (req) => {
        if ((req as { sessionid: string }).sessionid !== 'K-A') throw new BridgeError(404, 'not found')
      })
      const operator = useConsoleStore()
      const directory = useDirectoryStore()
      await operator.connect()
      await directory.start()
      await vi.advanceTimersByTimeAsync(0)
      expect(directory.mode).toBe('trying')
      const tried = (): string[] =>
        transport.callsOf('channel:join').map((r) => (r as { sessionid: string }).sessionid)
      expect(tried().sort()).toEqual(['K-A', 'K-B', 'S-C'])
      expect(operator.error).toBeNull() // a speaker not on line is no error to show
      await vi.advanceTimersByTimeAsync(REJOIN_BACKOFF.initialMs)
      expect(tried().filter((id) => id === 'K-B')).toHaveLength(2)
      await vi.advanceTimersByTimeAsync(REJOIN_BACKOFF.initialMs) // the next wait is twice as long
      expect(tried().filter((id) => id === 'K-B')).toHaveLength(2)
      await vi.advanceTimersByTimeAsync(REJOIN_BACKOFF.initialMs)
      expect(tried().filter((id) => id === 'K-B')).toHaveLength(3)
      expect(tried().filter((id) => id === 'K-A')).toHaveLength(1) // joined: not tried again
      expect(directory.entries.map((e) => directory.status(e))).toEqual(['online', 'offline', 'offline'])
    } finally {
      vi.useRealTimers()
    }
  })
})

describe('notices', () => {
  it('shows undeliverable signaling to the person, newest last and bounded', async () => {
    const { useNoticesStore, MAX_NOTICES } = await import('../../src/renderer/src/stores/notices')
    const notices = useNoticesStore()
    notices.start()
    for (let i = 1; i <= MAX_NOTICES + 2; i++) {
      transport.emit('channel:notice', {
        connectionId: DEVICE_CONNECTION,
        sessionid: 'S',
        kind: 'dropped',
        count: i
      })
    }
    expect(notices.notices.map((n) => n.count)).toEqual([3, 4, 5, 6, 7])
    notices.dismiss(notices.notices[0]!.id)
    expect(notices.notices).toHaveLength(MAX_NOTICES - 1)
  })
})

describe('status store', () => {
  it('reports the window’s status to the host once it holds, not each step of a call’s setup', async () => {
    vi.useFakeTimers()
    try {
      const device = useDeviceStore()
      useStatusStore().start()
      vi.advanceTimersByTime(STATUS_SETTLE_MS)
      expect(transport.callsOf('app:reportStatus')).toEqual([
        { liveCalls: 0, joinedWebClients: 0, transmitting: false }
      ])
      for (const state of ['offering', 'connecting', 'live'] as const) {
        device.call = state
        await nextTick()
        vi.advanceTimersByTime(40)
      }
      expect(transport.callsOf('app:reportStatus')).toHaveLength(1)
      vi.advanceTimersByTime(STATUS_SETTLE_MS)
      expect(transport.callsOf('app:reportStatus').at(-1)).toEqual({
        liveCalls: 1,
        joinedWebClients: 0,
        transmitting: false
      })
      expect(transport.callsOf('app:reportStatus')).toHaveLength(2)
    } finally {
      vi.useRealTimers()
    }
  })
})

describe('talk store', () => {
  /** A microphone track that can be unplugged (it ends, as Chromium's does). */
  class FakeTrack {
    readonly kind = 'audio'
    readonly label = 'USB microphone'
    readyState: 'live' | 'ended' = 'live'
    enabled = true
    private readonly onEnded: (() => void)[] = []
    clone(): FakeTrack {
      return new FakeTrack()
    }
    stop(): void {
      this.readyState = 'ended'
    }
    addEventListener(type: string, handler: () => void): void {
      if (type === 'ended') this.onEnded.push(handler)
    }
    unplug(): void {
      this.readyState = 'ended'
      for (const h of this.onEnded.splice(0)) h()
    }
  }
  const streamOf = (track: FakeTrack): MediaStream =>
    ({ getAudioTracks: () => [track], getTracks: () => [track] }) as unknown as MediaStream
  const node = () => ({ connect: vi.fn((next: unknown) => next), disconnect: vi.fn() })
  /** Just enough of an AudioContext for the console's audio bus. */
  class FakeAudioContext {
    state = 'running'
    currentTime = 0
    createGain = () => ({
      ...node(),
      gain: {
        value: 1,
        cancelScheduledValues: vi.fn(),
        setValueAtTime: vi.fn(),
        setTargetAtTime: vi.fn(),
        linearRampToValueAtTime: vi.fn()
      }
    })
    createMediaStreamDestination = () => ({ ...node(), channelCount: 2, stream: streamOf(new FakeTrack()) })
    createMediaStreamSource = () => node()
    createOscillator = () => ({ ...node(), frequency: { value: 0 }, start: vi.fn(), stop: vi.fn() })
    /** The last message started; the test ends it. */
    static message: { onended: (() => void) | null } | null = null
    createBufferSource = () => {
      const source = {
        ...node(),
        buffer: null,
        onended: null as (() => void) | null,
        start: vi.fn(),
        stop: vi.fn()
      }
      FakeAudioContext.message = source
      return source
    }
    decodeAudioData = async () => ({}) as AudioBuffer
    resume = vi.fn(async () => undefined)
    suspend = vi.fn(async () => undefined)
    close = vi.fn(async () => undefined)
  }

  let getUserMedia: () => Promise<MediaStream>
  beforeEach(() => {
    resetConsoleAudio()
    vi.stubGlobal('AudioContext', FakeAudioContext)
    vi.stubGlobal('navigator', { mediaDevices: { getUserMedia: () => getUserMedia() } })
  })
  afterEach(() => {
    resetConsoleAudio()
    vi.unstubAllGlobals()
  })

  it('a recorded message follows its chime with the operator held back throughout: each call takes the bus once, and the microphone after', async () => {
    vi.useFakeTimers()
    try {
      FakeAudioContext.message = null
      const talk = useTalkStore()
      const audio = consoleAudio()
      audio.bus.setMicrophone(streamOf(new FakeTrack()))
      const feed = audio.bus.callFeed()
      let swaps = 0
      feed.onTrack = () => swaps++

      const played = talk.playMessage(
        { name: 'fire-drill.wav', arrayBuffer: async () => new ArrayBuffer(8) },
        null
      )
      await vi.advanceTimersByTimeAsync(3000) // the chime has sounded
      await vi.waitFor(() => expect(FakeAudioContext.message).not.toBeNull())
      expect(audio.bus.playing).toBe('message')
      expect(swaps).toBe(1) // onto the bus, and not back to the microphone between chime and message
      FakeAudioContext.message!.onended!()
      await played
      expect(swaps).toBe(2)
      expect(talk.message).toBeNull()
    } finally {
      vi.useRealTimers()
    }
  })

  it('a microphone connected again clears "no microphone" and "calls continue without your voice"', async () => {
    const talk = useTalkStore()
    const audio = consoleAudio()
    audio.bus.callFeed() // a call holds the microphone: losing it mid-call is noticed
    const first = new FakeTrack()
    getUserMedia = async () => streamOf(first)
    await audio.microphone.acquire()

    // Unplugged, and no other microphone to open.
    getUserMedia = () =>
      Promise.reject(Object.assign(new Error('Requested device not found'), { name: 'NotFoundError' }))
    first.unplug()
    await vi.waitFor(() => expect(talk.error?.key).toBe('mic.notFound'))
    expect(talk.notice?.key).toBe('mic.lostNone')
    // As the console says when switching to a chosen microphone fails.
    const operator = useConsoleStore()
    operator.error = { key: 'mic.notFound' }

    // Plugged back in: the next call opens it.
    getUserMedia = async () => streamOf(new FakeTrack())
    await audio.microphone.acquire()
    expect(talk.microphone).not.toBeNull()
    expect(talk.error).toBeNull()
    expect(talk.notice).toBeNull()
    expect(operator.error).toBeNull()
  })
})
