/** `npm run serve` with the access options: TLS from files, a token, an origin allowlist. */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generate } from 'selfsigned'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { killProcessGroup } from '../helpers/child-process'

let child: ChildProcess | null = null
let dir: string | null = null

afterEach(() => {
  killProcessGroup(child)
  child = null
  if (dir) rmSync(dir, { recursive: true, force: true })
  dir = null
})

function serve(args: string[], env: Record<string, string> = {}): ChildProcess {
  child = spawn('npm', ['run', '--silent', 'serve', '--', ...args], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env }
  })
  return child
}

function lines(proc: ChildProcess, count: number, timeoutMs = 15_000): Promise<string[]> {
  return new Promise((resolve, reject) => {
    let buf = ''
    const timer = setTimeout(
      () => reject(new Error(`not ${count} lines within ${timeoutMs} ms: ${buf}`)),
      timeoutMs
    )
    proc.stdout!.on('data', (chunk: Buffer) => {
      buf += chunk.toString()
      const got = buf.split('\n')
      if (got.length > count) {
        clearTimeout(timer)
        resolve(got.slice(0, count))
      }
    })
  })
}

function upgradeStatus(url: string, options: WebSocket.ClientOptions): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, options)
    ws.on('error', () => resolve(-1))
    ws.on('open', () => {
      ws.terminate()
      resolve(101)
    })
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0)
      ws.terminate()
    })
  })
}

describe('npm run serve with access options', () => {
  it('serves wss:// from --tls-cert/--tls-key, checks --token and --allow-origin, and says so', async () => {
    const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
      keyType: 'ec',
      algorithm: 'sha256',
      extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }]
    })
    dir = mkdtempSync(join(tmpdir(), 'genie-serve-'))
    writeFileSync(join(dir, 'cert.pem'), pems.cert)
    writeFileSync(join(dir, 'key.pem'), pems.private)
    const token = 'serve-cli-test-token-0123456789'
    const proc = serve(
      [
        '--port',
        '0',
        '--tls-cert',
        join(dir, 'cert.pem'),
        '--tls-key',
        join(dir, 'key.pem'),
        '--allow-origin',
        'https://console.example'
      ],
      { GENIE_BRIDGE_TOKEN: token }
    )
    const [listening, ...notice] = await lines(proc, 4)
    const url = /^channel server listening on (wss:\/\/127\.0\.0\.1:\d+\/channel)$/.exec(listening!)?.[1]
    expect(url, listening).toBeDefined()
    expect(notice.join('\n')).toMatch(/access token required/)
    expect(notice.join('\n')).toMatch(/origins allowed: https:\/\/console\.example/)
    const tls = { ca: pems.cert }
    expect(await upgradeStatus(url!, tls)).toBe(401)
    expect(await upgradeStatus(`${url}?token=${token}`, tls)).toBe(101)
    expect(await upgradeStatus(url!, { ...tls, headers: { authorization: `Bearer ${token}` } })).toBe(101)
    expect(await upgradeStatus(`${url}?token=${token}`, { ...tls, origin: 'https://evil.example' })).toBe(403)
    expect(await upgradeStatus(`${url}?token=${token}`, { ...tls, origin: 'https://console.example' })).toBe(
      101
    )
  })
})
