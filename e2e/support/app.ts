/** Drives the app's pages the way a person does: through the visible controls. */
import { expect, type Locator, type Page } from '@playwright/test'

export const AUDIO = '[data-testid="remote-audio"]'

export async function openDevice(page: Page, url: string): Promise<void> {
  await page.goto(url)
  await expect(page.getByTestId('device-connection')).toHaveAttribute('data-state', 'ready')
}

export async function createChannel(page: Page): Promise<string> {
  await page.getByTestId('device-create').click()
  const session = page.getByTestId('device-session')
  await expect(session).not.toHaveText('—')
  return (await session.textContent())!.trim()
}

/** Clicks a control that asks "are you sure?" first, and answers yes. */
export async function clickConfirmed(control: Locator): Promise<void> {
  control.page().once('dialog', (d) => void d.accept())
  await control.click()
}

export async function openConsole(page: Page, url: string): Promise<void> {
  await page.goto(url)
  await expect(page.getByTestId('console-connection')).toHaveAttribute('data-state', 'ready')
}

export async function joinSession(page: Page, sessionid: string): Promise<void> {
  await page.getByTestId('console-session-input').fill(sessionid)
  await page.getByTestId('console-join').click()
  await expect(page.getByTestId(`call-${sessionid}`)).toHaveAttribute('data-state', 'joined')
}

export type Diagnostics = Record<string, number | null>

export async function diagnostics(page: Page): Promise<Diagnostics> {
  return page.evaluate(() =>
    (window as unknown as { genieBridge: { diagnostics(): Promise<Diagnostics> } }).genieBridge.diagnostics()
  )
}
