/**
 * The bridge contract: every command (renderer → main, request/response) and every event
 * (main → renderer), declared once. The preload derives `window.api` from it, the browser host
 * carries it over a WebSocket, and main registers one handler per command.
 * Channel names are `domain:verb`; the API names derive from them (channel:connect → channelConnect,
 * event channel:state → onChannelState).
 */
import * as v from 'valibot'
import {
  MAX_ID_LENGTH,
  MAX_NESTING_DEPTH,
  identifierProblem,
  nestsDeeperThan,
  serverUrlProblem
} from './input-rules'
import {
  type ChimeChoice,
  DEFAULT_CHIME,
  type SpeakerEntry,
  type Zone,
  validChime,
  validDirectory,
  validZones
} from './directory'
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
  /** Started with --strict-kt: the speaker behaves as a real GiGA Genie would (see Settings.strictKt). */
  strictKt: boolean
}

export interface QualityAlarms {
  /** Share of packets lost since the previous reading, in percent. */
  lossPercent: number
  jitterMs: number
  rttMs: number
}

/** Bounded: a settings file is no place for an unbounded map. */
export const MAX_REMEMBERED_MICROPHONES = 64

export const DEFAULT_QUALITY_ALARMS: QualityAlarms = { lossPercent: 5, jitterMs: 50, rttMs: 300 }

/** What each alarm may be set to (0: alarm on any measured value). */
export const QUALITY_ALARM_RANGE: Record<keyof QualityAlarms, { min: number; max: number }> = {
  lossPercent: { min: 0, max: 100 },
  jitterMs: { min: 0, max: 10_000 },
  rttMs: { min: 0, max: 60_000 }
}

// ---------------------------------------------------------------------------------------------
// Schemas: what each command accepts, checked at the boundary of both hosts (the Electron IPC
// and the browser host's /bridge). The request types below are derived from them.

/** Bounds on what a page may hand the main process. */
export const BRIDGE_LIMITS = {
  /** connectionId, uuid, session id and channel type. */
  maxIdLength: MAX_ID_LENGTH,
  /** Every other free-text value (a history outcome, a microphone id). */
  maxTextLength: 256,
  /** A data payload as JSON (the bridge message that carries it is at most 256 KiB). */
  maxDataBytes: 192 * 1024
} as const

/** A string that follows the one identifier rule of input-rules.ts. */
function idSchema(field: string, maxLength: number = BRIDGE_LIMITS.maxIdLength) {
  return v.pipe(
    v.string(`field "${field}" must be a string`),
    v.check(
      (s) => identifierProblem(s, field, maxLength) === null,
      (issue) => identifierProblem(String(issue.input), field, maxLength) ?? `field "${field}" is invalid`
    )
  )
}

function textSchema(field: string, maxLength: number = BRIDGE_LIMITS.maxTextLength) {
  return v.pipe(
    v.string(`field "${field}" must be a string`),
    v.maxLength(maxLength, `field "${field}" is longer than ${maxLength}`)
  )
}

/** A channel server URL: ws: or wss:, no credentials, bounded; '' where the default is meant. */
function serverUrlSchema(field: string) {
  return v.pipe(
    v.string(`field "${field}" must be a string`),
    v.check(
      (s) => s === '' || serverUrlProblem(s) === null,
      (issue) => `field "${field}": ${serverUrlProblem(String(issue.input)) ?? 'invalid'}`
    )
  )
}

const dataSchema = v.custom<Record<string, unknown>>(
  (d) =>
    typeof d === 'object' &&
    d !== null &&
    !Array.isArray(d) &&
    // The frame that carries it is one level more.
    !nestsDeeperThan(d, MAX_NESTING_DEPTH - 1) &&
    JSON.stringify(d).length <= BRIDGE_LIMITS.maxDataBytes,
  `field "data" must be an object of at most ${BRIDGE_LIMITS.maxDataBytes} bytes nesting at most ${MAX_NESTING_DEPTH - 1} levels`
)

function boundedNumber(field: string, min: number, max: number) {
  return v.pipe(
    v.number(`field "${field}" must be a number`),
    v.finite(`field "${field}" must be a finite number`),
    v.minValue(min, `field "${field}" must be at least ${min}`),
    v.maxValue(max, `field "${field}" must be at most ${max}`)
  )
}

const connectionIdSchema = idSchema('connectionId')
const sessionidSchema = idSchema('sessionid')
const channeltypeSchema = idSchema('channeltype')
const optional = <S extends v.GenericSchema>(schema: S) => v.optional(v.union([v.literal(''), schema]))

const ConnectRequestSchema = v.object({
  /** Chosen by the renderer; names this connection in later commands and events. */
  connectionId: connectionIdSchema,
  /** Defaults to AppInfo.defaultServerUrl. */
  url: v.optional(serverUrlSchema('url')),
  uuid: idSchema('uuid'),
  channeltype: optional(channeltypeSchema),
  /** False: no keep-alive of its own (strict KT mode: a service app calls keepaliveChannel). */
  keepalive: v.optional(v.boolean('field "keepalive" must be true or false'))
})
export type ConnectRequest = Omit<v.InferOutput<typeof ConnectRequestSchema>, 'channeltype'> & {
  channeltype?: ChannelType
}

const ConnectionSchema = v.object({ connectionId: connectionIdSchema })
const PresenceSchema = v.object({
  connectionId: connectionIdSchema,
  subscribe: v.optional(v.boolean('field "subscribe" must be true or false'))
})
const SessionSchema = v.object({ connectionId: connectionIdSchema, sessionid: sessionidSchema })
const CreateSchema = v.object({
  connectionId: connectionIdSchema,
  sessionid: optional(sessionidSchema),
  channeltype: optional(channeltypeSchema)
})
const SendSchema = v.object({
  connectionId: connectionIdSchema,
  sessionid: sessionidSchema,
  data: dataSchema
})

/** One schema per field: the settings file and `settings:set` are checked field by field. */
export const SETTINGS_FIELD_SCHEMAS = {
  /** Empty: the embedded channel server. */
  serverUrl: serverUrlSchema('serverUrl'),
  deviceUuid: v.union([v.literal(''), idSchema('deviceUuid')]),
  consoleUuid: v.union([v.literal(''), idSchema('consoleUuid')]),
  language: v.picklist(['ko', 'en', 'auto'], 'field "language" must be ko, en or auto'),
  autoStartAudio: v.boolean('field "autoStartAudio" must be true or false'),
  inputDeviceId: textSchema('inputDeviceId'),
  outputDeviceId: textSchema('outputDeviceId'),
  /** Echo cancellation, noise suppression and auto gain per microphone ('' = the default one). */
  audioProcessing: v.pipe(
    v.record(
      textSchema('audioProcessing key'),
      v.object({
        echoCancellation: v.boolean(),
        noiseSuppression: v.boolean(),
        autoGainControl: v.boolean()
      })
    ),
    v.check(
      (r) => Object.keys(r).length <= MAX_REMEMBERED_MICROPHONES,
      `field "audioProcessing" remembers at most ${MAX_REMEMBERED_MICROPHONES} microphones`
    )
  ),
  /** Above these a call's quality indicator raises its alarm (the console's per-speaker rows). */
  qualityAlarms: v.object(
    Object.fromEntries(
      Object.entries(QUALITY_ALARM_RANGE).map(([k, r]) => [k, boundedNumber(k, r.min, r.max)])
    ) as Record<keyof QualityAlarms, ReturnType<typeof boundedNumber>>
  ),
  /**
   * Strict KT mode, for developers of service apps: the speaker sends no keep-alive of its own,
   * SDK calls before a successful init answer 406, and what the public service would not accept
   * is flagged in the signaling view. Off: Genie Bridge's lenient defaults.
   */
  strictKt: v.boolean('field "strictKt" must be true or false'),
  /** The console's saved speakers (each speaker's zones must exist: the store checks that too). */
  directory: v.custom<SpeakerEntry[]>(
    (d) => validDirectory(d, allZonesOf(d)) !== null,
    'field "directory" must be a list of speakers (see docs/PROTOCOL-DECISIONS.md)'
  ),
  /** The console's saved groups of speakers. */
  zones: v.custom<Zone[]>((z) => validZones(z) !== null, 'field "zones" must be a list of zones'),
  /** Played before the operator talks or a recorded message plays. */
  chime: v.custom<ChimeChoice>((c) => validChime(c) !== null, 'field "chime" is not a chime this app has')
} satisfies Record<string, v.GenericSchema>

/** The zone ids a directory names (a patch may bring its zones in the same change). */
function allZonesOf(d: unknown): Zone[] {
  const ids = new Set<string>()
  for (const e of Array.isArray(d) ? d : []) {
    const zones = (e as { zones?: unknown })?.zones
    if (Array.isArray(zones)) for (const z of zones) if (typeof z === 'string') ids.add(z)
  }
  return [...ids].map((id) => ({ id, name: id }))
}

/** A settings patch: each field is optional; quality alarms may be set one at a time. */
const SettingsPatchSchema = v.object({
  ...v.partial(v.object(SETTINGS_FIELD_SCHEMAS)).entries,
  qualityAlarms: v.optional(v.partial(SETTINGS_FIELD_SCHEMAS.qualityAlarms))
})

/** One finished call, kept locally (who talked to which speaker, when, how long). */
export const CallRecordSchema = v.pipe(
  v.object({
    /** Which side this app played. */
    role: v.picklist(['speaker', 'console'], 'field "role" must be speaker or console'),
    sessionid: idSchema('sessionid', BRIDGE_LIMITS.maxTextLength),
    /** This side's uuid (the speaker's ContainerId or the console's id). */
    localId: idSchema('localId', BRIDGE_LIMITS.maxTextLength),
    startedAt: boundedNumber('startedAt', 0, Number.MAX_SAFE_INTEGER),
    endedAt: boundedNumber('endedAt', 0, Number.MAX_SAFE_INTEGER),
    /** How it ended: hung up here, by the other side, failed, channel destroyed. */
    outcome: textSchema('outcome')
  }),
  v.check((r) => r.endedAt >= r.startedAt, 'field "endedAt" is before "startedAt"')
)
export type CallRecord = v.InferOutput<typeof CallRecordSchema>

/** A window's summary of its calls; anything unreadable counts as nothing going on. */
const WindowStatusSchema = v.fallback(
  v.object({
    /** Calls that are live right now. */
    liveCalls: v.fallback(boundedNumber('liveCalls', 0, 1_000_000), 0),
    /** Sessions in which a web client has joined a speaker of this window. */
    joinedWebClients: v.fallback(boundedNumber('joinedWebClients', 0, 1_000_000), 0),
    /** The microphone is going out (console talking). */
    transmitting: v.fallback(v.boolean(), false)
  }),
  { liveCalls: 0, joinedWebClients: 0, transmitting: false }
)
export type WindowStatus = v.InferOutput<typeof WindowStatusSchema>

/** Commands that take no request: whatever comes is ignored. */
const NoRequest = v.any()

/** What each command accepts. */
export const COMMAND_SCHEMAS = {
  'app:info': NoRequest,
  'app:diagnostics': NoRequest,
  'channel:connect': ConnectRequestSchema,
  'channel:disconnect': ConnectionSchema,
  'channel:create': CreateSchema,
  'channel:join': SessionSchema,
  'channel:destroy': SessionSchema,
  'channel:send': SendSchema,
  'channel:keepalive': ConnectionSchema,
  'presence:list': PresenceSchema,
  'settings:get': NoRequest,
  'settings:set': SettingsPatchSchema,
  'shell:openExternal': v.object({ url: textSchema('url', 2048) }),
  'history:list': NoRequest,
  'history:add': CallRecordSchema,
  'history:clear': NoRequest,
  'app:reportStatus': WindowStatusSchema
} as const satisfies Record<CommandName, v.GenericSchema>

/**
 * Checks a command's request against its schema: the parsed request (unknown keys dropped), or
 * a message that names the field at fault.
 */
export function checkRequest(
  name: CommandName,
  req: unknown
): { ok: true; value: unknown } | { ok: false; message: string } {
  const result = v.safeParse(COMMAND_SCHEMAS[name], req)
  if (result.success) return { ok: true, value: result.output }
  const issue = result.issues[0]
  const path = issue.path?.map((p) => String(p.key)).join('.')
  const named = path && !issue.message.includes(`"${path.split('.').pop() ?? ''}"`)
  return { ok: false, message: named ? `field "${path}": ${issue.message}` : issue.message }
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
  'channel:disconnect': { req: v.InferOutput<typeof ConnectionSchema>; res: void }
  'channel:create': {
    req: { connectionId: string; sessionid?: string; channeltype?: ChannelType }
    res: { sessionid: string }
  }
  'channel:join': { req: v.InferOutput<typeof SessionSchema>; res: void }
  'channel:destroy': { req: v.InferOutput<typeof SessionSchema>; res: void }
  'channel:send': { req: v.InferOutput<typeof SendSchema>; res: void }
  'channel:keepalive': { req: v.InferOutput<typeof ConnectionSchema>; res: { reply: NotifyFrame | null } }
  /**
   * Presence (ours): the live sessions of the connection's server; `subscribe` also brings
   * session_started / session_ended notifies on that connection. Main adds the operator token.
   */
  'presence:list': { req: v.InferOutput<typeof PresenceSchema>; res: { sessions: LiveSession[] } }
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
  /**
   * expired: ours waited too long to be sent; dropped: ours the peer never got; missed: the
   * peer's we never got; refused: frames from the server that were not read (malformed, or
   * nested deeper than MAX_NESTING_DEPTH).
   */
  kind: 'expired' | 'dropped' | 'missed' | 'refused'
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

export type Settings = {
  [K in keyof typeof SETTINGS_FIELD_SCHEMAS]: v.InferOutput<(typeof SETTINGS_FIELD_SCHEMAS)[K]>
} & { language: LanguageSetting }

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
  strictKt: false,
  directory: [],
  zones: [],
  chime: DEFAULT_CHIME
}
