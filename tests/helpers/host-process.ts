/**
 * The browser host as its own process (`src/main/cli/host.ts`), as a person runs it: a test can
 * then tell that the process survived, and read its memory.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import WebSocket from 'ws'
import type { BridgeHostMessage } from '../../src/shared/contract'

export interface HostProcess {
  child: ChildProcess
  port: number
  origin: string
  token: string
  dataDir: string
  /** What the host printed on stderr (its logged failures). */
  stderr(): string
  /** The process still runs and answers /api/info. */
  answers(): Promise<boolean>
  /** Resident memory of the host process, in bytes. */
  rss(): number
  stop(): Promise<void>
}

export async function startHostProcess(
  prepare?: (dataDir: string) => void,
  extraArgs: string[] = []
): Promise<HostProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'gb-host-proc-'))
  const rendererDir = join(dir, 'renderer')
  const dataDir = join(dir, 'data')
  mkdirSync(rendererDir)
  mkdirSync(dataDir)
  writeFileSync(join(rendererDir, 'index.html'), '<!doctype html><title>Genie Bridge</title>')
  prepare?.(dataDir)
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'src/main/cli/host.ts',
      '--port',
      '0',
      '--data-dir',
      dataDir,
      '--renderer',
      rendererDir,
      ...extraArgs
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] }
  )
  let err = ''
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()))
  const url = await new Promise<string>((resolve, reject) => {
    let buf = ''
    const timer = setTimeout(() => reject(new Error(`host did not start: ${buf} ${err}`)), 30_000)
    child.once('exit', (code) => reject(new Error(`host exited with ${code}: ${buf} ${err}`)))
    child.stdout!.on('data', (chunk: Buffer) => {
      buf += chunk.toString()
      const m = /Genie Bridge at (http:\/\/\S+)/.exec(buf)
      if (m) {
        clearTimeout(timer)
        resolve(m[1]!)
      }
    })
  })
  const parsed = new URL(url)
  const token = parsed.searchParams.get('token') ?? ''
  const host: HostProcess = {
    child,
    port: Number(parsed.port),
    origin: parsed.origin,
    token,
    dataDir,
    stderr: () => err,
    answers: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return false
      try {
        const res = await fetch(`${parsed.origin}/api/info?token=${token}`)
        return res.status === 200
      } catch {
        return false
      }
    },
    rss: () => {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8')
      return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r))
        child.kill('SIGKILL')
        await exited
      }
      rmSync(dir, { recursive: true, force: true })
    }
  }
  return host
}

/** Sends one raw HTTP/1.1 request and resolves with the status code (0: no answer). */
export function rawRequest(port: number, head: string): Promise<number> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    let buf = ''
    const done = (): void => {
      socket.destroy()
      resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(buf)?.[1] ?? 0))
    }
    socket.setTimeout(5000, done)
    socket.on('error', done)
    socket.on('data', (c: Buffer) => {
      buf += c.toString('latin1')
      if (buf.includes('\r\n')) done()
    })
    socket.on('end', done)
    socket.write(head)
  })
}

/** A GET through node:http with the given headers; resolves with the status. */
export function get(port: number, path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, headers }, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('error', () => resolve(0))
    req.end()
  })
}

/** A page's side of /bridge: call(name, req) → outcome, and the events received. */
export interface BridgePage {
  ws: WebSocket
  events: { name: string; payload: unknown }[]
  call(
    name: string,
    req?: unknown
  ): Promise<{ ok: boolean; value?: unknown; error?: { result_cd: number; message: string } }>
  /** Sends a message written by hand (`text(id)`), for what JSON.stringify cannot write. */
  callText(
    text: (id: number) => string
  ): Promise<{ ok: boolean; error?: { result_cd: number; message: string } }>
  /** Sends without waiting for the answer. */
  fire(name: string, req?: unknown): void
  closed: Promise<{ code: number; reason: string }>
}

export async function openPage(origin: string, token: string): Promise<BridgePage> {
  const ws = new WebSocket(`${origin.replace('http', 'ws')}/bridge?token=${token}`)
  await new Promise((resolve, reject) => {
    ws.once('open', resolve)
    ws.once('error', reject)
  })
  let id = 0
  const waiting = new Map<number, (o: never) => void>()
  const events: BridgePage['events'] = []
  ws.on('message', (d) => {
    for (const msg of JSON.parse(d.toString()) as BridgeHostMessage[]) {
      if (msg.kind === 'result') waiting.get(msg.id)?.(msg.outcome as never)
      else events.push({ name: msg.name, payload: msg.payload })
    }
  })
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }))
  )
  return {
    ws,
    events,
    closed,
    call: (name, req) =>
      new Promise((resolve) => {
        waiting.set(++id, resolve as never)
        ws.send(JSON.stringify({ kind: 'call', id, name, req }))
      }),
    callText: (text) =>
      new Promise((resolve) => {
        waiting.set(++id, resolve as never)
        ws.send(text(id))
      }),
    fire: (name, req) => ws.send(JSON.stringify({ kind: 'call', id: ++id, name, req }))
  }
}
