/**
 * Third-party material run as it is: the plain web client page (served from its own loopback
 * origin, as a page of another site would be) and service-app scripts evaluated in the speaker view.
 */
import { readFileSync } from 'node:fs'
import { type Server, createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { type Page, test } from '@playwright/test'

export const WEB_CLIENT = readFileSync('e2e/fixtures/web-client.html', 'utf8')

export function script(name: string): string {
  return readFileSync(`e2e/fixtures/${name}`, 'utf8')
}

/** Serves `html` from a loopback origin of its own until the test file ends. */
export function useFixtureServer(): (html: string) => Promise<string> {
  const servers: Server[] = []
  test.afterAll(() => servers.forEach((s) => s.close()))
  return async (html) => {
    const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(html))
    servers.push(server)
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  }
}

/** The channel server URL the host's embedded server listens on (what a third-party page dials). */
export async function channelUrlOfHost(host: { origin: string; token: string }): Promise<string> {
  const info = (await (await fetch(`${host.origin}/api/info?token=${host.token}`)).json()) as {
    channelUrl: string
  }
  return info.channelUrl
}

/** Opens the plain web client on `page` with the given query (channel, session, uuid). */
export async function openWebClient(
  page: Page,
  origin: string,
  query: Record<string, string>
): Promise<void> {
  page.on('pageerror', (e) => process.stdout.write(`web client error: ${e.message}\n`))
  await page.context().grantPermissions(['microphone'], { origin })
  await page.goto(`${origin}/?${new URLSearchParams(query).toString()}`)
}
