import { expect, test } from '@playwright/test'
import { expectTone } from './support/audio'
import { AUDIO, type Diagnostics, clickConfirmed, diagnostics, openConsole } from './support/app'
import { liveCall, useScenario } from './support/scenario'

// Each way a call can end must leave both sides clean (no peer connection, microphone track or
// timer left over) and ready for the next call.
const scenario = useScenario()

/** The device page's counts while its channel is open and no call runs: the baseline. */
// One channel connection holds two handles: its socket and its keep-alive timer.
// The keep-alive countdown's clock is its one UI timer; it stops when the channel is gone.
const DEVICE_IDLE: Partial<Diagnostics> = {
  peerConnections: 0,
  microphoneTracks: 0,
  uiTimers: 1,
  windowConnections: 1,
  windowHandles: 2
}

test('the console hangs up: the speaker ends its call and can call again', async () => {
  const device = await scenario.page()
  const operator = await scenario.page({ toneHz: 1000 })
  const sessionid = await liveCall(scenario.host(), device, operator)
  await expectTone(device, AUDIO, 1000)

  await operator.getByTestId(`call-${sessionid}`).getByTestId('console-hangup').click()
  await expect(device.getByTestId('device-call-state')).toHaveAttribute('data-state', 'ended')
  await expect(operator.getByTestId(`call-${sessionid}`)).toHaveAttribute('data-state', 'joined')
  await expect.poll(() => diagnostics(device)).toMatchObject(DEVICE_IDLE)
  await expect
    .poll(() => diagnostics(operator))
    .toMatchObject({ peerConnections: 0, microphoneTracks: 0, uiTimers: 0 })

  // Ready again: the same channel carries a new call.
  await device.getByTestId('device-start').click()
  await expect(device.getByTestId('device-call-state')).toHaveAttribute('data-state', 'live')
  await expectTone(device, AUDIO, 1000)
})

test('the console reloads: the speaker learns it left, nothing is left behind, and it can join again', async () => {
  const device = await scenario.page()
  const operator = await scenario.page({ toneHz: 1000 })
  const sessionid = await liveCall(scenario.host(), device, operator)

  await operator.reload()
  await expect(operator.getByTestId('console-connection')).toHaveAttribute('data-state', 'ready')
  await expect(device.getByTestId('device-web-joined')).toHaveAttribute('data-joined', 'false')
  await expect(device.getByTestId('device-call-state')).toHaveAttribute('data-state', 'idle')
  await expect
    .poll(() => diagnostics(device))
    .toMatchObject({ ...DEVICE_IDLE, serverConnections: 2, serverSessions: 1 })
  await expect
    .poll(() => diagnostics(operator))
    .toMatchObject({ peerConnections: 0, microphoneTracks: 0, windowConnections: 1 })

  await openConsole(operator, scenario.url('/console'))
  await operator.getByTestId('console-session-input').fill(sessionid)
  await operator.getByTestId('console-join').click()
  await expect(device.getByTestId('device-web-joined')).toHaveAttribute('data-joined', 'true')
  await device.getByTestId('device-start').click()
  await expectTone(device, AUDIO, 1000)
})

test('the speaker destroys its channel: the console drops the session and both are clean', async () => {
  const device = await scenario.page()
  const operator = await scenario.page({ toneHz: 1000 })
  const sessionid = await liveCall(scenario.host(), device, operator)

  await clickConfirmed(device.getByTestId('device-destroy'))
  await expect(device.getByTestId('device-session')).toHaveText('—')
  await expect(operator.getByTestId(`call-${sessionid}`)).toHaveCount(0)
  await expect
    .poll(() => diagnostics(device))
    .toMatchObject({ ...DEVICE_IDLE, uiTimers: 0, serverSessions: 0 })
  await expect
    .poll(() => diagnostics(operator))
    .toMatchObject({ peerConnections: 0, microphoneTracks: 0, uiTimers: 0 })
  // Ready: a new channel can be created straight away.
  await device.getByTestId('device-create').click()
  await expect(device.getByTestId('device-session')).not.toHaveText('—')
})

test('the console ends a session only once the operator confirms: dismissed, the call stays up', async () => {
  const device = await scenario.page()
  const operator = await scenario.page({ toneHz: 1000 })
  const sessionid = await liveCall(scenario.host(), device, operator)
  const row = operator.getByTestId(`call-${sessionid}`)

  let asked = ''
  operator.once('dialog', (d) => {
    asked = d.message()
    void d.dismiss()
  })
  await row.getByTestId('console-destroy').click()
  await expect.poll(() => asked).toContain(sessionid)
  await expect(row).toHaveAttribute('data-state', 'live')
  await expect(device.getByTestId('device-call-state')).toHaveAttribute('data-state', 'live')
  await expect(device.getByTestId('device-session')).toHaveText(sessionid)
  await expectTone(device, AUDIO, 1000)

  await clickConfirmed(row.getByTestId('console-destroy'))
  await expect(row).toHaveCount(0)
  await expect(device.getByTestId('device-session')).toHaveText('—')
  await expect
    .poll(() => diagnostics(operator))
    .toMatchObject({ peerConnections: 0, microphoneTracks: 0, uiTimers: 0 })
})
