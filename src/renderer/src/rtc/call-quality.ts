/**
 * Call quality from RTCPeerConnection.getStats(): packet loss, jitter, round-trip time and audio
 * level, with the thresholds above which the UI raises an alarm (user settings; these by default).
 */
import { DEFAULT_QUALITY_ALARMS, type QualityAlarms } from '@shared/contract'

export const QUALITY_THRESHOLDS: QualityAlarms = DEFAULT_QUALITY_ALARMS

export const QUALITY_REFRESH_MS = 1000

export interface CallQuality {
  lossPercent: number | null
  jitterMs: number | null
  rttMs: number | null
  /** Received audio level, 0..1 (RTCInboundRtpStreamStats.audioLevel). */
  audioLevel: number | null
  packetsReceived: number
  packetsSent: number
  alarms: ('loss' | 'jitter' | 'rtt')[]
}

export interface QualityCounters {
  packetsReceived: number
  packetsLost: number
}

type Stat = Record<string, unknown> & { type: string }

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null
}

/** Reads one stats report; `previous` makes the loss figure cover only the last interval. */
export function readQuality(
  report: Iterable<Stat> | Map<string, Stat>,
  previous?: QualityCounters,
  thresholds: QualityAlarms = QUALITY_THRESHOLDS
): { quality: CallQuality; counters: QualityCounters } {
  let received = 0
  let lost = 0
  let sent = 0
  let jitter: number | null = null
  let rtt: number | null = null
  let level: number | null = null
  // RTCStatsReport is map-like (iterating it yields [id, stat] pairs): read its values.
  const stats =
    'values' in report && typeof report.values === 'function' ? report.values() : (report as Iterable<Stat>)
  for (const s of stats) {
    if (s.type === 'inbound-rtp' && s.kind === 'audio') {
      received += num(s.packetsReceived) ?? 0
      lost += num(s.packetsLost) ?? 0
      const j = num(s.jitter)
      if (j !== null) jitter = Math.max(jitter ?? 0, j * 1000)
      const a = num(s.audioLevel)
      if (a !== null) level = Math.max(level ?? 0, a)
    } else if (s.type === 'outbound-rtp' && s.kind === 'audio') {
      sent += num(s.packetsSent) ?? 0
    } else if (s.type === 'remote-inbound-rtp' && s.kind === 'audio') {
      const r = num(s.roundTripTime)
      if (r !== null) rtt = r * 1000
    } else if (s.type === 'candidate-pair' && s.state === 'succeeded' && s.nominated) {
      const r = num(s.currentRoundTripTime)
      if (r !== null && rtt === null) rtt = r * 1000
    }
  }
  const dReceived = received - (previous?.packetsReceived ?? 0)
  const dLost = lost - (previous?.packetsLost ?? 0)
  const total = dReceived + dLost
  const lossPercent = received + lost === 0 ? null : total > 0 ? Math.max(0, (dLost / total) * 100) : 0
  const alarms: CallQuality['alarms'] = []
  if (lossPercent !== null && lossPercent > thresholds.lossPercent) alarms.push('loss')
  if (jitter !== null && jitter > thresholds.jitterMs) alarms.push('jitter')
  if (rtt !== null && rtt > thresholds.rttMs) alarms.push('rtt')
  return {
    quality: {
      lossPercent,
      jitterMs: jitter,
      rttMs: rtt,
      audioLevel: level,
      packetsReceived: received,
      packetsSent: sent,
      alarms
    },
    counters: { packetsReceived: received, packetsLost: lost }
  }
}
