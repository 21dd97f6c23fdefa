import { expect, type Page, test } from '@playwright/test'
import { createChannel, diagnostics, joinSession, openConsole, openDevice } from './support/app'
import { skipInElectron, useScenario } from './support/scenario'

// When the console cannot open its microphone it says what to do, sends no answer without audio,
// and tells the speaker (bye) instead of leaving it waiting.
const scenario = useScenario()

async function offerTo(operator: Page): Promise<{ device: Page; sessionid: string }> {
  const device = await scenario.page()
  await openDevice(device, scenario.url('/device'))
  const sessionid = await createChannel(device)
  await openConsole(operator, scenario.url('/console'))
  await joinSession(operator, sessionid)
  await expect(device.getByTestId('device-web-joined')).toHaveAttribute('data-joined', 'true')
  await device.getByTestId('device-start').click()
  return { device, sessionid }
}

const cases = [
  {
    name: 'no microphone at all',
    page: { noMicrophone: true },
    message: /No microphone was found|마이크를 찾지 못했습니다/,
    electron: "without the fake device the app would open the machine's real microphones"
  },
  {
    name: 'microphone permission denied',
    page: { grantMicrophone: false },
    message: /access was denied|마이크 사용이 거부/,
    electron: "the app's permission handler grants the microphone to its own pages"
  }
]

for (const c of cases) {
  test(`${c.name}: the console explains it and the speaker is told`, async () => {
    skipInElectron(c.electron)
    const operator = await scenario.page(c.page)
    const { device, sessionid } = await offerTo(operator)
    const row = operator.getByTestId(`call-${sessionid}`)
    await expect(row).toHaveAttribute('data-state', 'failed')
    await expect(row.getByRole('alert')).toHaveText(c.message)
    await expect(device.getByTestId('device-call-state')).toHaveAttribute('data-state', 'ended')
    await expect.poll(() => diagnostics(operator)).toMatchObject({ peerConnections: 0, microphoneTracks: 0 })
    await expect.poll(() => diagnostics(device)).toMatchObject({ peerConnections: 0 })
  })
}
