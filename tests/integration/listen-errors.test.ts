/**
 * Errors of a listening socket after it listens: Node reports a failed accept (out of file
 * descriptors) as an 'error' of the server, which with no listener ends the process. The
 * channel server and the browser host log it and go on serving.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import type { Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import WebSocket from 'ws'
import { AppCore } from '../../src/main/core/app-core'
import { ChannelServer } from '../../src/main/channel/server'
import { BrowserHost } from '../../src/main/host/browser-host'
import { capturedLogger } from '../helpers/log-capture'
import { RawClient } from '../helpers/raw-client'

/** What libuv hands Node when accept(2) fails for want of descriptors. */
function acceptEmfile(): Error {
  return Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', errno: -24, syscall: 'accept' })
}

function listeningServer(owner: ChannelServer | BrowserHost): Server {
  const http = (owner as unknown as { http: Server | null }).http
  if (!http?.listening) throw new Error('not listening')
  return http
}

const cleanup: (() => Promise<void> | void)[] = []
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step()
})

describe('channel server', () => {
  it('survives an accept failure on its listening socket, logs what to do, and still answers auth', async () => {
    const { logger, lines } = capturedLogger('warn')
    const server = new ChannelServer({ host: '127.0.0.1', logger })
    const url = await server.listen()
    cleanup.push(() => server.close())

    const http = listeningServer(server)
    expect(() => http.emit('error', acceptEmfile())).not.toThrow()
    expect(() => http.emit('error', acceptEmfile())).not.toThrow() // a second one is not logged again
    await vi.waitFor(() => expect(lines).toHaveLength(1))
    expect(lines[0]).toMatchObject({ level: 'error', code: 'EMFILE', fault: 'accept EMFILE' })
    expect(String(lines[0]!['msg'])).toMatch(/out of file descriptors; raise the descriptor limit/)

    const client = await RawClient.authed(url, 'K1')
    cleanup.push(() => client.close())
    expect(client.frames.at(-1)).toMatchObject({ msgtype: 'reply', operation: 'auth', result_cd: 200 })
  })
})

describe('browser host', () => {
  it('survives an accept failure on its listening socket and still carries bridge commands', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gb-host-listen-'))
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }))
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>Genie Bridge</title>')
    const core = await AppCore.start({ host: 'browser', version: 'test', dataDir: join(dir, 'data') })
    cleanup.push(() => core.stop())
    const host = new BrowserHost({ core, rendererDir: dir, host: '127.0.0.1' })
    await host.start()
    cleanup.push(() => host.stop())
    const logged = vi.spyOn(console, 'error').mockImplementation(() => undefined)
    cleanup.push(() => logged.mockRestore())

    expect(() => listeningServer(host).emit('error', acceptEmfile())).not.toThrow()
    expect(logged).toHaveBeenCalledTimes(1)
    expect(String(logged.mock.calls[0]![0])).toMatch(/out of file descriptors; raise the descriptor limit/)

    const base = new URL(host.url).origin
    const ws = new WebSocket(`${base.replace('http', 'ws')}/bridge?token=${host.token}`)
    cleanup.push(() => ws.terminate())
    await new Promise((resolve, reject) => {
      ws.once('open', resolve)
      ws.once('error', reject)
    })
    const outcome = await new Promise<unknown>((resolve) => {
      ws.on('message', (d) => {
        for (const msg of JSON.parse(d.toString()) as { kind: string; id?: number; outcome?: unknown }[])
          if (msg.kind === 'result' && msg.id === 1) resolve(msg.outcome)
      })
      ws.send(JSON.stringify({ kind: 'call', id: 1, name: 'app:info' }))
    })
    expect(outcome).toMatchObject({ ok: true, value: { host: 'browser' } })
  })
})
