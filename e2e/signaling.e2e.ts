import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect, test } from '@playwright/test'
import { expectTone } from './support/audio'
import { AUDIO, clickConfirmed, createChannel } from './support/app'
import { ARTIFACTS, useScenario } from './support/scenario'

// The kiosk shows a speaker, the console and the live signaling on one screen. A whole call must
// appear in the signaling view, every frame in order, and export as JSON.
const scenario = useScenario()

interface Exported {
  frames: {
    from: string
    to: string
    frame: { msgtype: string; operation?: string; result_cd?: number; data?: { type?: string } }
  }[]
}

/** from>to msgtype operation-or-payload-type, e.g. "device>server request create_session". */
function describe(f: Exported['frames'][number]): string {
  const what = f.frame.msgtype === 'data' ? f.frame.data?.type : f.frame.operation
  return `${f.from}>${f.to} ${f.frame.msgtype} ${what ?? ''}`.trim()
}

const FLOW = [
  'device>server request create_session',
  'server>device reply create_session',
  'web>server request join_session',
  'server>web reply join_session',
  'server>device notify join_session',
  'device>server data offer',
  'server>web data offer',
  'web>server data answer',
  'server>device data answer',
  'device>server data bye',
  'server>web data bye',
  'device>server request destroy_session',
  'server>device reply destroy_session',
  'server>web notify destroy_session'
]

test('the signaling view of a call holds every frame of the flow in order, and exports it', async () => {
  const kiosk = await scenario.page({ toneHz: 1000, context: { viewport: { width: 1500, height: 1000 } } })
  await kiosk.goto(scenario.url('/kiosk'))
  await expect(kiosk.getByTestId('device-connection')).toHaveAttribute('data-state', 'ready')
  await expect(kiosk.getByTestId('console-connection')).toHaveAttribute('data-state', 'ready')
  const sessionid = await createChannel(kiosk)
  await kiosk.getByTestId('console-session-input').fill(sessionid)
  await kiosk.getByTestId('console-join').click()
  await expect(kiosk.getByTestId('device-web-joined')).toHaveAttribute('data-joined', 'true')
  await kiosk.getByTestId('device-start').click()
  await expect(kiosk.getByTestId('device-call-state')).toHaveAttribute('data-state', 'live')
  await expectTone(kiosk, AUDIO, 1000)
  await kiosk.getByTestId('device-stop').click()
  await expect(kiosk.getByTestId(`call-${sessionid}`)).toHaveAttribute('data-state', 'joined')
  await clickConfirmed(kiosk.getByTestId('device-destroy'))
  await expect(kiosk.getByTestId(`call-${sessionid}`)).toHaveCount(0)

  const download = kiosk.waitForEvent('download')
  await kiosk.getByTestId('signaling-export').click()
  const file = join(ARTIFACTS, 'signaling-export.json')
  await (await download).saveAs(file)
  const exported = JSON.parse(readFileSync(file, 'utf8')) as Exported
  const lines = exported.frames.map(describe)

  // Every step of the flow, in this order (candidates and keep-alives may fall in between).
  let at = -1
  for (const step of FLOW) {
    const found = lines.findIndex((l, i) => i > at && l === step)
    expect(found, `"${step}" after position ${at} in:\n${lines.join('\n')}`).toBeGreaterThan(at)
    at = found
  }
  expect(lines).toContain('device>server data candidate')
  expect(lines).toContain('web>server data candidate')
  for (const side of ['device', 'web']) {
    const first = lines.filter((l) => l.includes(side)).slice(0, 3)
    expect(first).toEqual([
      `server>${side} notify iam`,
      `${side}>server request auth`,
      `server>${side} reply auth`
    ])
  }

  // The diagram draws one arrow per frame.
  await expect(kiosk.getByTestId('sequence-diagram').locator('g.seq-row')).toHaveCount(exported.frames.length)
  await kiosk.getByTestId('kiosk').screenshot({ path: join(ARTIFACTS, 'kiosk-signaling.png') })
})
