import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { JsonFile } from '../../src/main/core/json-file'

let dir = ''
afterEach(() => rmSync(dir, { recursive: true, force: true }))

describe('JsonFile', () => {
  it('lands writes in the order they were made and leaves no temporary file', async () => {
    dir = mkdtempSync(join(tmpdir(), 'genie-json-'))
    const file = new JsonFile(join(dir, 'nested', 'state.json'))
    const writes = Array.from({ length: 20 }, (_, i) => file.write({ n: i }))
    await Promise.all(writes)
    expect(await file.read()).toEqual({ n: 19 })
    expect(readdirSync(join(dir, 'nested'))).toEqual(['state.json'])
  })

  it('a failed write is reported and does not stop the writes after it', async () => {
    dir = mkdtempSync(join(tmpdir(), 'genie-json-'))
    writeFileSync(join(dir, 'blocked'), 'a file where the folder should be')
    const file = new JsonFile(join(dir, 'blocked', 'state.json'))
    await expect(file.write({ n: 1 })).rejects.toThrow()
    rmSync(join(dir, 'blocked'))
    await file.write({ n: 2 })
    expect(JSON.parse(readFileSync(join(dir, 'blocked', 'state.json'), 'utf8'))).toEqual({ n: 2 })
  })
})
