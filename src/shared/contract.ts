/**
 * The bridge contract: every command (renderer → main, request/response) and every event
 * (main → renderer), declared once. The preload derives `window.api` from it, the browser host
 * carries it over a WebSocket, and main registers one handler per command.
 * Channel names are `domain:verb`; the API names derive from them (channel:connect → channelConnect,
 * event channel:state → onChannelState).
 */
import { type ChimeChoice, DEFAULT_CHIME, type SpeakerEntry, type Zone } from './directory'
import type { ChannelType, Frame, NotifyFrame } from './protocol'

export type ConnectionState = 'idle' | 'connecting' | 'authenticating' | 'ready' | 'reconnecting' | 'closed'

export type HostKind = 'electron' | 'browser'

export interface AppInfo {
  version: string
  host: HostKind
  /** ws URL of the embedded channel server, or null when the host was told to use another one. */
  channelUrl: string | null
  /** The channel server clients connect to by default (the embedded one unless configured). */
  defaultServerUrl: string
  keepaliveIntervalMs: number
  idleTimeoutMs: number
  platform: string
}

export interface ConnectRequest {
  /** Chosen by the renderer; names this connection in later commands and events. */
  connectionId: string
  /** Defaults to AppInfo.defaultServerUrl. */
  url?: string
  uuid: string
  channeltype?: ChannelType
}

/** Counts that must return to baseline when calls and windows end (leak checks, self-test). */
export interface Diagnostics {
  /** Channel connections held for this window. */
  windowConnections: number
  /** Timers and sockets those connections hold. */
  windowHandles: number
  /** The embedded server's connections and sessions (null when not embedded). */
  serverConnections: number | null
  serverSessions: number | null
}

export interface Commands {
  'app:info': { req: void; res: AppInfo }
  'app:diagnostics': { req: void; res: Diagnostics }
  'channel:connect': { req: ConnectRequest; res: void }
  'channel:disconnect': { req: { connectionId: string }; res: void }
  'channel:create': {
    req: { connectionId: string; sessionid?: string; channeltype?: ChannelType }
    res: { sessionid: string }
  }
  'channel:join': { req: { connectionId: string; sessionid: string }; res: void }
  'channel:destroy': { req: { connectionId: string; sessionid: string }; res: void }
  'channel:send': {
    req: { connectionId: string; sessionid: string; data: Record<string, unknown> }
    res: void
  }
  'channel:keepalive': { req: { connectionId: string }; res: { reply: NotifyFrame | null } }
  /**
   * Presence (ours): the live sessions of the connection's server; `subscribe` also brings
   * session_started / session_ended notifies on that connection. Main adds the operator token.
   */
  'presence:list': { req: { connectionId: string; subscribe?: boolean }; res: { sessions: LiveSession[] } }
  'settings:get': { req: void; res: Settings }
  'settings:set': { req: Partial<Settings>; res: Settings }
  /** Opens an https link in the system browser after the person confirms (desktop app only). */
  'shell:openExternal': { req: { url: string }; res: { opened: boolean } }
  'history:list': { req: void; res: CallRecord[] }
  'history:add': { req: CallRecord; res: void }
  'history:clear': { req: void; res: void }
  /** What this window is doing, for the tray icon and notifications. */
  'app:reportStatus': { req: WindowStatus; res: void }
}

/** A live session as presence lists it: its id and the uuid (the speaker's ContainerId) that made it. */
export interface LiveSession {
  sessionid: string
  uuid: string
  channeltype: string
  members: number
}

/** One finished call, kept locally (who talked to which speaker, when, how long). */
export interface CallRecord {
  /** Which side this app played. */
  role: 'speaker' | 'console'
  sessionid: string
  /** This side's uuid (the speaker's ContainerId or the console's id). */
  localId: string
  startedAt: number
  endedAt: number
  /** How it ended: hung up here, by the other side, failed, channel destroyed. */
  outcome: string
}

/** A window's summary of its calls, reported whenever it changes. */
export interface WindowStatus {
  /** Calls that are live right now. */
  liveCalls: number
  /** Sessions in which a web client has joined a speaker of this window. */
  joinedWebClients: number
  /** The microphone is going out (console talking). */
  transmitting: boolean
}

export interface ChannelStateEvent {
  connectionId: string
  state: ConnectionState
  detail?: string
}

export interface ChannelFrameEvent {
  connectionId: string
  direction: 'in' | 'out'
  frame: Frame
  at: number
}

export interface ChannelSessionEvent {
  connectionId: string
  sessionid: string
  kind: 'restored' | 'lost'
  reason?: string
}

/** Signaling frames that could not be delivered (after a reconnect): never lost silently. */
export interface ChannelNoticeEvent {
  connectionId: string
  sessionid: string | null
  /** expired: ours waited too long to be sent; dropped: ours the peer never got; missed: the peer's we never got. */
  kind: 'expired' | 'dropped' | 'missed'
  count: number
}

export interface Events {
  'channel:state': ChannelStateEvent
  /** Every frame sent or received (the renderer reads notifies and data from here). */
  'channel:frame': ChannelFrameEvent
  'channel:session': ChannelSessionEvent
  'channel:notice': ChannelNoticeEvent
  'settings:changed': Settings
  /** The push-to-talk global shortcut was pressed (it works while the window is not focused). */
  'ptt:toggle': { at: number }
}

export type Language = 'ko' | 'en'
/** 'auto' follows the system: Korean when its locale is Korean, English otherwise. */
export type LanguageSetting = Language | 'auto'

export interface Settings {
  /** Empty: the embedded channel server. */
  serverUrl: string
  deviceUuid: string
  consoleUuid: string
  language: LanguageSetting
  autoStartAudio: boolean
  inputDeviceId: string
  outputDeviceId: string
  /** Echo cancellation, noise suppression and auto gain per microphone ('' = the default one). */
  audioProcessing: Record<string, AudioProcessing>
  /** Above these a call's quality indicator raises its alarm (the console's per-speaker rows). */
  qualityAlarms: QualityAlarms
  /** The console's saved speakers. */
  directory: SpeakerEntry[]
  /** The console's saved groups of speakers. */
  zones: Zone[]
  /** Played before the operator talks or a recorded message plays. */
  chime: ChimeChoice
}

export interface QualityAlarms {
  /** Share of packets lost since the previous reading, in percent. */
  lossPercent: number
  jitterMs: number
  rttMs: number
}

export const DEFAULT_QUALITY_ALARMS: QualityAlarms = { lossPercent: 5, jitterMs: 50, rttMs: 300 }

/** What each alarm may be set to (0: alarm on any measured value). */
export const QUALITY_ALARM_RANGE: Record<keyof QualityAlarms, { min: number; max: number }> = {
  lossPercent: { min: 0, max: 100 },
  jitterMs: { min: 0, max: 10_000 },
  rttMs: { min: 0, max: 60_000 }
}

export interface AudioProcessing {
  echoCancellation: boolean
  noiseSuppression: boolean
  autoGainControl: boolean
}

export const DEFAULT_AUDIO_PROCESSING: AudioProcessing = {
  echoCancellation: true,
  noiseSuppression: true,
  autoGainControl: true
}

export type CommandName = keyof Commands
export type EventName = keyof Events

/** Runtime lists (the types above cannot be enumerated): kept in step by the `satisfies` checks. */
export const COMMAND_NAMES = [
  'app:info',
  'app:diagnostics',
  'channel:connect',
  'channel:disconnect',
  'channel:create',
  'channel:join',
  'channel:destroy',
  'channel:send',
  'channel:keepalive',
  'presence:list',
  'settings:get',
  'settings:set',
  'shell:openExternal',
  'app:reportStatus',
  'history:list',
  'history:add',
  'history:clear'
] as const satisfies readonly CommandName[]

export const EVENT_NAMES = [
  'channel:state',
  'channel:frame',
  'channel:session',
  'channel:notice',
  'settings:changed',
  'ptt:toggle'
] as const satisfies readonly EventName[]

// Fails to compile when a command or event is declared above but missing from the lists.
type Missing<All, Listed> = Exclude<All, Listed>
const _allCommandsListed: Missing<CommandName, (typeof COMMAND_NAMES)[number]> extends never ? true : never =
  true
const _allEventsListed: Missing<EventName, (typeof EVENT_NAMES)[number]> extends never ? true : never = true
void _allCommandsListed
void _allEventsListed

// ---------------------------------------------------------------------------------------------
// The API shape derived from the contract.

type Camel<S extends string> = S extends `${infer A}:${infer B}` ? `${A}${Capitalize<B>}` : S
export type CommandMethod<C extends CommandName> = Camel<C>
export type EventMethod<E extends EventName> = `on${Capitalize<Camel<E>>}`

/** `window.api`: commands resolve with an Outcome (errors keep their result code across the bridge). */
export type Api = {
  [C in CommandName as CommandMethod<C>]: Commands[C]['req'] extends void
    ? () => Promise<Outcome<Commands[C]['res']>>
    : (req: Commands[C]['req']) => Promise<Outcome<Commands[C]['res']>>
} & {
  [E in EventName as EventMethod<E>]: (handler: (payload: Events[E]) => void) => () => void
}

export function commandMethod(name: CommandName): string {
  const [domain, verb] = name.split(':') as [string, string]
  return domain + verb.charAt(0).toUpperCase() + verb.slice(1)
}

export function eventMethod(name: EventName): string {
  const m = commandMethod(name as unknown as CommandName)
  return 'on' + m.charAt(0).toUpperCase() + m.slice(1)
}

/** What a command returns across either transport: errors keep their result code. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: BridgeErrorShape }

export interface BridgeErrorShape {
  result_cd: number
  message: string
}

/**
 * The same contract over the browser host's WebSocket (/bridge): the page sends one `call` per
 * message; the host answers with `result` and pushes `event`, in batches (an array per message).
 */
export type BridgeClientMessage = { kind: 'call'; id: number; name: string; req?: unknown }
export type BridgeHostMessage =
  | { kind: 'result'; id: number; outcome: Outcome<unknown> }
  | { kind: 'event'; name: string; payload: unknown }

/** Thrown in the renderer when a command fails; `result_cd` follows PROTOCOL.md §7. */
export class BridgeError extends Error {
  constructor(
    readonly result_cd: number,
    message: string
  ) {
    super(message)
    this.name = 'BridgeError'
  }
}

export function isCommandName(name: unknown): name is CommandName {
  return typeof name === 'string' && (COMMAND_NAMES as readonly string[]).includes(name)
}

/** Commands whose callers act on a failure only: a host may deliver their success late. */
const FIRE_AND_FORGET: readonly CommandName[] = ['channel:send', 'app:reportStatus']

export function isFireAndForget(name: string): boolean {
  return (FIRE_AND_FORGET as readonly string[]).includes(name)
}

export const DEFAULT_SETTINGS: Settings = {
  serverUrl: '',
  deviceUuid: '',
  consoleUuid: '',
  language: 'auto',
  autoStartAudio: false,
  inputDeviceId: '',
  outputDeviceId: '',
  audioProcessing: {},
  qualityAlarms: DEFAULT_QUALITY_ALARMS,
  directory: [],
  zones: [],
  chime: DEFAULT_CHIME
}
