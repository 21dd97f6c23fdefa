// The structured logger: JSON lines, redaction of secrets, the main-process log file and its rotation.
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { LOG_FILE_MAX_BYTES, createFileLogger, createLogger, mainLogFile } from '../../src/main/log'

const dir = mkdtempSync(join(tmpdir(), 'genie-log-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function capture(): { lines: string[]; destination: Writable } {
  const lines: string[] = []
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean))
      done()
    }
  })
  return { lines, destination }
}

describe('createLogger', () => {
  it('writes JSON lines with a level name and an ISO time, from its level up', () => {
    const { lines, destination } = capture()
    const log = createLogger({ level: 'warn', destination, base: { component: 'x' } })
    log.info('not shown')
    log.warn({ n: 1 }, 'shown')
    expect(lines).toHaveLength(1)
    const entry = JSON.parse(lines[0]!) as Record<string, unknown>
    expect(entry).toMatchObject({ level: 'warn', msg: 'shown', n: 1, component: 'x', pid: process.pid })
    expect(new Date(String(entry['time'])).getTime()).not.toBeNaN()
  })

  it('redacts tokens and authorization headers wherever they appear', () => {
    const { lines, destination } = capture()
    const log = createLogger({ level: 'info', destination })
    const secret = 'a-secret-token-0123456789'
    log.info({ token: secret, headers: { authorization: `Bearer ${secret}`, cookie: secret } }, 'one')
    log.info({ req: { token: secret, headers: { authorization: secret } }, accessToken: secret }, 'two')
    log.child({ token: secret }).info('three')
    expect(lines).toHaveLength(3)
    for (const line of lines) {
      expect(line).not.toContain(secret)
      expect(line).toContain('[redacted]')
    }
  })
})

describe('createFileLogger', () => {
  it('appends to the file, making its folder', async () => {
    const file = mainLogFile(join(dir, 'user-data'))
    expect(file).toBe(join(dir, 'user-data', 'logs', 'main.log'))
    const log = createFileLogger(file)
    log.info('first')
    await new Promise<void>((resolve) => log.flush(() => resolve()))
    await vi.waitFor(() => expect(readFileSync(file, 'utf8')).toContain('"msg":"first"'))
  })

  it('moves a file grown past the limit to .old at start', async () => {
    const file = join(dir, 'big', 'main.log')
    createFileLogger(file) // makes the folder
    writeFileSync(file, 'x'.repeat(LOG_FILE_MAX_BYTES + 1))
    const log = createFileLogger(file)
    log.info('fresh')
    await new Promise<void>((resolve) => log.flush(() => resolve()))
    await vi.waitFor(() => expect(readFileSync(file, 'utf8')).toMatch(/^\{.*"msg":"fresh"/))
    expect(existsSync(`${file}.old`)).toBe(true)
    expect(readFileSync(`${file}.old`, 'utf8')).toHaveLength(LOG_FILE_MAX_BYTES + 1)
  })
})
