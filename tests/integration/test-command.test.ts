/**
 * The test command sets itself up: with Chromium hidden it installs Debian's package (root with
 * apt-get) or stops within seconds with one line naming what to install; and a browser host an
 * end-to-end test started never outlives the test process.
 */
import { spawn, spawnSync } from 'node:child_process'
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

/** A PATH holding node alone: no Chromium, no apt-get. */
function bareBin(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gb-bare-path-'))
  dirs.push(dir)
  symlinkSync(process.execPath, join(dir, 'node'))
  return dir
}

function testCommand(env: NodeJS.ProcessEnv, args: string[] = []) {
  const clean = { ...process.env, ...env }
  delete clean.CHROMIUM_PATH
  if (env.CHROMIUM_PATH) clean.CHROMIUM_PATH = env.CHROMIUM_PATH
  const started = Date.now()
  const r = spawnSync(process.execPath, ['scripts/test.mjs', ...args], {
    env: clean,
    encoding: 'utf8',
    timeout: 60_000
  })
  return { ...r, seconds: (Date.now() - started) / 1000 }
}

describe('npm test on a machine without Chromium', () => {
  it('stops within seconds with one line naming what to install, before any other step', () => {
    const r = testCommand({ PATH: bareBin() })
    expect(r.status).toBe(1)
    expect(r.seconds).toBeLessThan(10)
    const lines = r.stderr.trim().split('\n')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(
      /^Chromium not found: install it \(.*apt-get install -y chromium\) or set CHROMIUM_PATH/
    )
    expect(r.stdout).not.toContain('===') // no step ran
  })

  it('says so when CHROMIUM_PATH names nothing', () => {
    const r = testCommand({ PATH: bareBin(), CHROMIUM_PATH: '/nonexistent/chromium' })
    expect(r.status).toBe(1)
    expect(r.stderr.trim().split('\n')).toEqual([
      expect.stringContaining('CHROMIUM_PATH=/nonexistent/chromium does not exist')
    ])
  })

  it.runIf(process.getuid?.() === 0)("as root with apt-get, installs Debian's chromium and says so", () => {
    const bin = bareBin()
    const log = join(bin, 'apt-get.log')
    // apt-get as Debian's would behave: `install chromium` puts a chromium on PATH.
    writeFileSync(
      join(bin, 'apt-get'),
      `#!/bin/sh\necho "$@" >> '${log}'\nif [ "$1" = install ]; then printf '#!/bin/sh\\n' > '${bin}/chromium'; /bin/chmod +x '${bin}/chromium'; fi\n`
    )
    chmodSync(join(bin, 'apt-get'), 0o755)
    const r = testCommand({ PATH: bin }, ['--preflight'])
    expect(r.status).toBe(0)
    expect(r.stdout).toContain("installing Debian's chromium package with apt-get")
    expect(r.stdout).toContain(`Chromium: ${join(bin, 'chromium')}`)
    expect(readFileSync(log, 'utf8').trim().split('\n')).toEqual(['update -qq', 'install -y -qq chromium'])
  })

  it('finds chromium, chromium-browser or google-chrome on PATH', () => {
    for (const name of ['chromium-browser', 'google-chrome']) {
      const bin = bareBin()
      writeFileSync(join(bin, name), '#!/bin/sh\n')
      chmodSync(join(bin, name), 0o755)
      const r = testCommand({ PATH: bin }, ['--preflight'])
      expect(r.status, name).toBe(0)
      expect(r.stdout).toContain(`Chromium: ${join(bin, name)}`)
    }
  })
})

describe('an end-to-end run leaves no process behind', () => {
  it('the browser host a test started ends when the test process is killed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gb-e2e-host-'))
    dirs.push(dir)
    mkdirSync(join(dir, 'renderer'))
    writeFileSync(join(dir, 'renderer', 'index.html'), '<!doctype html>')
    const script = `import { startHost } from './e2e/support/host.ts'
const host = await startHost(['--renderer', ${JSON.stringify(join(dir, 'renderer'))}])
console.log('HOST ' + host.pid)
setInterval(() => {}, 1000)`
    const parent = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit']
    })
    const pid = await new Promise<number>((resolve, reject) => {
      let out = ''
      const timer = setTimeout(() => reject(new Error(`no host: ${out}`)), 30_000)
      parent.stdout!.on('data', (c: Buffer) => {
        out += c.toString()
        const m = /HOST (\d+)/.exec(out)
        if (m) {
          clearTimeout(timer)
          resolve(Number(m[1]))
        }
      })
    })
    const alive = (): boolean => {
      try {
        process.kill(pid, 0)
        return existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ')
      } catch {
        return false
      }
    }
    expect(alive()).toBe(true)
    parent.kill('SIGKILL') // as a timed-out or crashed test worker ends
    const end = Date.now() + 10_000
    while (alive() && Date.now() < end) await new Promise((r) => setTimeout(r, 50))
    const survived = alive()
    if (survived) process.kill(pid, 'SIGKILL')
    expect(survived).toBe(false)
  }, 60_000)
})
