/**
 * The login timeout and the idle cut-off never fire early, whatever the phase of the server's
 * sweep: real clock, short limits, connections spread across one sweep interval.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { CloseCode } from '../../src/main/channel/limits'
import { ChannelServer } from '../../src/main/channel/server'
import { RawClient } from '../helpers/raw-client'

const SWEEP_MS = 400
const TIMEOUT_MS = 600
/** Connections per test, each starting a fraction of a sweep later than the one before. */
const PHASES = 5

let server: ChannelServer
const clients: RawClient[] = []

afterEach(async () => {
  for (const c of clients.splice(0)) c.close()
  await server.close()
})

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

describe('timeouts are never early', () => {
  it('the login timeout', async () => {
    server = new ChannelServer({ limits: { authTimeoutMs: TIMEOUT_MS, sweepIntervalMs: SWEEP_MS } })
    const url = await server.listen()
    const runs = Array.from({ length: PHASES }, async (_, i) => {
      await pause((i * SWEEP_MS) / PHASES)
      const started = Date.now() // before the server can have accepted it
      const lurker = await RawClient.open(url)
      clients.push(lurker)
      expect(await lurker.closed(5_000)).toBe(CloseCode.AUTH_TIMEOUT)
      return Date.now() - started
    })
    const elapsed = await Promise.all(runs)
    for (const ms of elapsed) expect(ms).toBeGreaterThanOrEqual(TIMEOUT_MS)
    // And not much later than one sweep past the limit.
    for (const ms of elapsed) expect(ms).toBeLessThan(TIMEOUT_MS + 2 * SWEEP_MS + 500)
  })

  it('the idle cut-off', async () => {
    server = new ChannelServer({ limits: { idleTimeoutMs: TIMEOUT_MS, sweepIntervalMs: SWEEP_MS } })
    const url = await server.listen()
    const runs = Array.from({ length: PHASES }, async (_, i) => {
      const client = await RawClient.authed(url, `idle-${i}`)
      clients.push(client)
      await pause(SWEEP_MS + (i * SWEEP_MS) / PHASES)
      const lastSent = Date.now() // before the server can have read it
      client.send({ msgtype: 'notify', operation: 'ras_alive', channeltype: 'system' })
      expect(await client.closed(5_000)).toBe(CloseCode.IDLE_TIMEOUT)
      return Date.now() - lastSent
    })
    const elapsed = await Promise.all(runs)
    for (const ms of elapsed) expect(ms).toBeGreaterThanOrEqual(TIMEOUT_MS)
    for (const ms of elapsed) expect(ms).toBeLessThan(TIMEOUT_MS + 2 * SWEEP_MS + 500)
  })
})
