/**
 * The seam between the channel server and where sessions live: the server owns connections (auth,
 * keep-alive, limits, parsing) and hands every session step to a registry, which answers through
 * the connection's FrameWriter. The in-memory registry is the embedded default; the Redis one
 * shares sessions between processes.
 */
import type { ChannelType, DataFrame, RequestFrame } from '../../shared/protocol'
import type { Connection } from './connection'

export interface SessionInfo {
  sessionid: string
  channeltype: ChannelType
  ownerUuid: string
  /** Members connected now (the owner included while it is connected). */
  memberUuids: string[]
  /** Members whose connection was lost and whose slot is held for the grace period. */
  awayUuids: string[]
  createdAt: number
}

export interface RegistryStats {
  sessions: number
  /** Member slots held for a lost connection within its grace period. */
  awaySlots: number
  /** Bytes held for absent members. */
  heldBytes: number
  /** Frames held for absent members. */
  heldFrames: number
}

export interface SessionRegistry {
  /** False while it cannot take new sessions, joins or resumes (its shared store is unreachable). */
  readonly ready: boolean
  readonly sessionCount: number
  createSession(conn: Connection, req: RequestFrame): void
  joinSession(conn: Connection, req: RequestFrame): void
  destroySession(conn: Connection, req: RequestFrame): void
  /**
   * A data frame read by the parser, from an authenticated connection (the server answers the
   * others): relayed unchanged (`raw`), or refused with a reply.
   */
  relay(conn: Connection, frame: DataFrame, raw: Buffer): void
  /** The hot path, from the frame's bytes alone; false when the parser must read the frame. */
  relayFast(conn: Connection, raw: Buffer): boolean
  /** The connection is gone; `lost`: without a close frame, so its places wait for it (grace). */
  disconnected(conn: Connection, lost: boolean): void
  /** Once per sweep window, with the server's clock. */
  sweep(now: number): void
  /** Graceful shutdown: every session ends and its members are told. */
  shutdown(): void | Promise<void>
  stats(): RegistryStats
  /** The sessions it knows of (the Redis registry: those with a member on this process). */
  listSessions(): SessionInfo[]
}
