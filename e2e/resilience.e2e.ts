import { type ChildProcess, spawn } from 'node:child_process'
import { type Page, expect, test } from '@playwright/test'
import { TcpProxy } from '../tests/helpers/tcp-proxy'
import { UdpPath } from '../tests/helpers/udp-path'
import { expectSilence, expectTone } from './support/audio'
import { AUDIO } from './support/app'
import { startHost } from './support/host'
import { liveCall, skipInElectron, useScenario } from './support/scenario'

// Calls that survive faults: the channel socket cut mid-call, and the audio path renegotiated.
const scenario = useScenario()

test('the speaker renegotiates its audio path (ICE restart through the relay) and the tone keeps arriving', async () => {
  const device = await scenario.page()
  const operator = await scenario.page({ toneHz: 1000 })
  const sessionid = await liveCall(scenario.host(), device, operator)
  await expectTone(device, AUDIO, 1000)
  await device.getByTestId('device-reconnect').click()
  await expect(device.getByTestId('device-ice-restarts')).toHaveAttribute('data-count', '1')
  await expect(device.getByTestId('device-call-state')).toHaveAttribute('data-state', 'live')
  await expect(operator.getByTestId(`call-${sessionid}`)).toHaveAttribute('data-state', 'live')
  await expectTone(device, AUDIO, 1000)
})

/**
 * Puts `path` under the page's ICE: every candidate on the page's bridge socket (its own, going
 * out, and the other side's, coming in) is rewritten to go through the path, in order.
 */
async function routeIceThrough(page: Page, path: UdpPath): Promise<void> {
  await page.routeWebSocket(/\/bridge\b/, (ws) => {
    const server = ws.connectToServer()
    let up = Promise.resolve()
    let down = Promise.resolve()
    ws.onMessage((m) => {
      up = up.then(async () => server.send(typeof m === 'string' ? await path.rewriteCandidates(m) : m))
    })
    server.onMessage((m) => {
      down = down.then(async () => ws.send(typeof m === 'string' ? await path.rewriteCandidates(m) : m))
    })
  })
}

test('ICE loses its network path mid-call: the speaker restarts ICE through the relay and the tone comes back', async () => {
  skipInElectron('routes the speaker page’s bridge socket, which only the browser host has')
  const path = new UdpPath()
  try {
    const device = await scenario.page({ loopbackIce: true })
    await routeIceThrough(device, path)
    const operator = await scenario.page({ toneHz: 1000, loopbackIce: true })
    const sessionid = await liveCall(scenario.host(), device, operator)
    await expectTone(device, AUDIO, 1000)
    expect(path.carried, 'the media runs through the cuttable path').toBeGreaterThan(0)
    const routesBefore = path.routes

    path.cut()
    await expectSilence(device, AUDIO) // connectivity is really gone
    // `disconnected` past its grace (or `failed`) makes the speaker restart ICE through the relay.
    await expect(device.getByTestId('device-ice-restarts')).toHaveAttribute('data-count', '1', {
      timeout: 30_000
    })
    await expect
      .poll(() => path.routes, { message: 'the restart gathered new candidates' })
      .toBeGreaterThan(routesBefore)
    path.restore()
    const restoredAt = Date.now()

    await expect(device.getByTestId('device-call-state')).toHaveAttribute('data-state', 'live', {
      timeout: 30_000
    })
    await expect(operator.getByTestId(`call-${sessionid}`)).toHaveAttribute('data-state', 'live')
    const after = await expectTone(device, AUDIO, 1000)
    process.stdout.write(
      `after the ICE restart: ${after.peakHz.toFixed(0)} Hz at ${after.dbfs.toFixed(1)} dBFS, ${Date.now() - restoredAt} ms after the path came back; ${path.dropped} datagrams dropped during the cut\n`
    )
    await expect(device.getByTestId('device-session')).toHaveText(sessionid)
  } finally {
    await path.close()
  }
})

/** The headless channel server in its own process. */
async function serve(): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main/cli/serve.ts', '--port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit']
  })
  const port = await new Promise<number>((resolve, reject) => {
    let buf = ''
    child.once('exit', (code) => reject(new Error(`channel server exited with ${code}`)))
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString()
      const m = /listening on ws:\/\/127\.0\.0\.1:(\d+)\/channel/.exec(buf)
      if (m) resolve(Number(m[1]))
    })
  })
  return { port, child }
}

test('the channel socket is cut mid-call and restored: the tone keeps arriving and the session is the same', async () => {
  skipInElectron('runs its own browser host behind a cuttable proxy')
  const server = await serve()
  const proxy = new TcpProxy(server.port)
  await proxy.start()
  const host = await startHost(['--server', `ws://127.0.0.1:${proxy.port}/channel`])
  try {
    const device = await scenario.page()
    const operator = await scenario.page({ toneHz: 1000 })
    const sessionid = await liveCall(host, device, operator)
    await expectTone(device, AUDIO, 1000)

    proxy.cut()
    await expect(device.getByTestId('device-connection')).toHaveAttribute('data-state', 'reconnecting')
    // Why, and when the next try is, next to the state (the main process's own words).
    await expect(device.getByTestId('device-connection-detail')).toHaveText(/retrying in \d+ ms/)
    await expect(operator.getByTestId('console-connection-detail')).toHaveText(/retrying in \d+ ms/)
    const during = await expectTone(device, AUDIO, 1000) // the peer connection does not depend on the channel
    process.stdout.write(`during the cut: ${during.peakHz.toFixed(0)} Hz at ${during.dbfs.toFixed(1)} dBFS\n`)
    proxy.restore()

    await expect(device.getByTestId('device-connection')).toHaveAttribute('data-state', 'ready')
    await expect(operator.getByTestId('console-connection')).toHaveAttribute('data-state', 'ready')
    await expect(device.getByTestId('device-connection-detail')).toHaveText('')
    await expect(device.getByTestId('device-session')).toHaveText(sessionid)
    await expect(operator.getByTestId(`call-${sessionid}`)).toHaveAttribute('data-state', 'live')
    await expect(operator.locator('[data-testid^="call-"]')).toHaveCount(1)
    await expect(device.getByTestId('device-web-joined')).toHaveAttribute('data-joined', 'true')
    await expectTone(device, AUDIO, 1000)

    // Signaling works again on the restored channel: the call can be stopped cleanly.
    await device.getByTestId('device-stop').click()
    await expect(operator.getByTestId(`call-${sessionid}`)).toHaveAttribute('data-state', 'joined')
  } finally {
    await host.stop()
    await proxy.stop()
    server.child.kill('SIGINT')
  }
})
