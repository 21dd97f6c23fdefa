// The Electronegativity gate (scripts/electronegativity.mjs): how it reads the tool's findings and the
// exceptions of docs/SECURITY.md, and, on a deliberately insecure app, that it really fails.
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
// @ts-expect-error: a plain .mjs script without type declarations
import * as gate from '../../scripts/electronegativity.mjs'

interface Finding {
  check: string
  severity: string
  confidence: string
  file: string
  location: string
  sample: string | null
  description: string
}
interface Exception {
  file: string
  check: string
  max: number
  why: string
}
const { parseFindings, parseExceptions, judge } = gate as {
  parseFindings: (text: string) => Finding[]
  parseExceptions: (markdown: string) => Exception[]
  judge: (
    findings: Finding[],
    exceptions: Exception[]
  ) => { excepted: Finding[]; undocumented: Finding[]; unused: Exception[] }
}

const ROOT = new URL('../../', import.meta.url)
const REPO = fileURLToPath(ROOT)

// Findings as scripts/electronegativity-scan.mjs writes them from Electronegativity 1.10.3's scanner.
const FINDINGS = [
  {
    check: 'CSP_GLOBAL_CHECK',
    severity: 'LOW',
    confidence: 'FIRM',
    file: '/w/src/renderer/index.html',
    location: '6:0',
    sample: "default-src 'self'; connect-src 'self' ws://127.0.0.1:*",
    description: 'One or more CSP directives detected seems to be vulnerable'
  },
  {
    check: 'SANDBOX_JS_CHECK',
    severity: 'MEDIUM',
    confidence: 'FIRM',
    file: '/w/src/main/window.ts',
    location: '12:4',
    sample: null,
    description: 'Use sandbox for untrusted origins'
  },
  {
    check: 'LIMIT_NAVIGATION_GLOBAL_CHECK',
    severity: 'HIGH',
    confidence: 'CERTAIN',
    file: 'N/A',
    location: '0:0',
    sample: null,
    description: 'Missing navigation limits'
  }
]
const file = (findings: unknown): string => JSON.stringify({ tool: 'electronegativity', findings })

describe("reading the scan's findings", () => {
  it('reads check, severity, confidence, file and location of each finding', () => {
    const findings = parseFindings(file(FINDINGS))
    expect(findings.map((f) => [f.check, f.severity, f.confidence, f.file, f.location])).toEqual([
      ['CSP_GLOBAL_CHECK', 'LOW', 'FIRM', '/w/src/renderer/index.html', '6:0'],
      ['SANDBOX_JS_CHECK', 'MEDIUM', 'FIRM', '/w/src/main/window.ts', '12:4'],
      ['LIMIT_NAVIGATION_GLOBAL_CHECK', 'HIGH', 'CERTAIN', 'N/A', '0:0']
    ])
    expect(parseFindings(file([]))).toEqual([])
  })

  it('refuses output it cannot trust rather than reading it as "no findings"', () => {
    expect(() => parseFindings('')).toThrow(/JSON/)
    expect(() => parseFindings('{"tool":"electronegativity","findings":[')).toThrow(/JSON/)
    expect(() => parseFindings('[]')).toThrow(/findings file/)
    expect(() => parseFindings(JSON.stringify({ findings: [] }))).toThrow(/findings file/)
    expect(() => parseFindings(file([null]))).toThrow(/object/)
    expect(() => parseFindings(file([{ ...FINDINGS[1], check: 'sandbox' }]))).toThrow(/check name/)
    expect(() => parseFindings(file([{ ...FINDINGS[1], severity: 'SEVERE' }]))).toThrow(/severity/)
    expect(() => parseFindings(file([{ ...FINDINGS[1], confidence: undefined }]))).toThrow(/confidence/)
    expect(() => parseFindings(file([{ ...FINDINGS[1], file: 3 }]))).toThrow(/file is not text/)
    expect(() => parseFindings(file([{ ...FINDINGS[1], sample: {} }]))).toThrow(/sample/)
  })
})

describe('the exceptions table', () => {
  const doc = (rows: string) =>
    `# Security\n\n## Electronegativity exceptions\n\nProse.\n\n| File | Check | At most | Why |\n| --- | --- | --- | --- |\n${rows}\n\nAfter the table.\n\n| Not | An | Exception | Table |\n`

  it('reads file, check, count and reason', () => {
    const rows = parseExceptions(
      doc('| `src/a.ts` | `OPEN_EXTERNAL_JS_CHECK` | 2 | Only https links, after the user confirms. |')
    )
    expect(rows).toEqual([
      {
        file: 'src/a.ts',
        check: 'OPEN_EXTERNAL_JS_CHECK',
        max: 2,
        why: 'Only https links, after the user confirms.'
      }
    ])
  })

  it('refuses an exception without a reason, a count or a heading', () => {
    expect(() => parseExceptions(doc('| `src/a.ts` | `OPEN_EXTERNAL_JS_CHECK` | 1 | |'))).toThrow(/reason/)
    expect(() =>
      parseExceptions(doc('| `src/a.ts` | `OPEN_EXTERNAL_JS_CHECK` | many | Because it is fine here. |'))
    ).toThrow(/At most/)
    expect(() => parseExceptions('# Security\n\nNothing here.')).toThrow(/heading/)
  })

  it('reads the real docs/SECURITY.md, and every source file it names exists', () => {
    const rows = parseExceptions(readFileSync(new URL('docs/SECURITY.md', ROOT), 'utf8'))
    expect(rows.length).toBeGreaterThan(0)
    for (const row of rows.filter((r) => r.file.startsWith('src/'))) {
      expect(() => readFileSync(new URL(row.file, ROOT))).not.toThrow()
    }
  })
})

describe('judging findings', () => {
  const finding = (check: string, severity: string, file: string): Finding => ({
    check,
    severity,
    confidence: 'FIRM',
    file,
    location: '1:1',
    sample: 'N/A',
    description: ''
  })
  const because = 'A reason long enough to be a reason.'

  it('fails HIGH and MEDIUM findings that no exception covers, and ignores LOW and INFORMATIONAL', () => {
    const findings = [
      finding('SANDBOX_JS_CHECK', 'MEDIUM', 'src/w.ts'),
      finding('CONTEXT_ISOLATION_JS_CHECK', 'HIGH', 'src/w.ts'),
      finding('CSP_GLOBAL_CHECK', 'LOW', 'src/i.html'),
      finding('X_CHECK', 'INFORMATIONAL', 'src/w.ts')
    ]
    const { excepted, undocumented } = judge(findings, [])
    expect(excepted).toEqual([])
    expect(undocumented.map((f) => f.check)).toEqual(['SANDBOX_JS_CHECK', 'CONTEXT_ISOLATION_JS_CHECK'])
  })

  it('an exception covers its file and check only, up to its count', () => {
    const ex = [{ file: 'src/e.ts', check: 'OPEN_EXTERNAL_JS_CHECK', max: 1, why: because }]
    expect(judge([finding('OPEN_EXTERNAL_JS_CHECK', 'MEDIUM', 'src/e.ts')], ex).undocumented).toEqual([])
    // Same check elsewhere: not covered.
    expect(
      judge([finding('OPEN_EXTERNAL_JS_CHECK', 'MEDIUM', 'src/other.ts')], ex).undocumented
    ).toHaveLength(1)
    // Another check in the same file: not covered.
    expect(judge([finding('SANDBOX_JS_CHECK', 'MEDIUM', 'src/e.ts')], ex).undocumented).toHaveLength(1)
    // One call more than documented: the whole group fails, the old reason does not cover a new call.
    const two = [
      finding('OPEN_EXTERNAL_JS_CHECK', 'MEDIUM', 'src/e.ts'),
      finding('OPEN_EXTERNAL_JS_CHECK', 'MEDIUM', 'src/e.ts')
    ]
    expect(judge(two, ex).undocumented).toHaveLength(2)
  })

  it('reports exceptions that nothing needed', () => {
    const ex = [{ file: 'out/main/index.js', check: 'OPEN_EXTERNAL_JS_CHECK', max: 1, why: because }]
    expect(judge([], ex).unused).toEqual(ex)
  })
})

describe('the gate, run for real on a small insecure app', () => {
  const work = mkdtempSync(join(tmpdir(), 'electronegativity-gate-'))
  afterAll(() => rmSync(work, { recursive: true, force: true }))

  it('fails on an undocumented finding, accepts a documented one, and reads .cjs files', () => {
    const app = join(work, 'app')
    mkdirSync(app)
    // A window without sandbox: MEDIUM SANDBOX_JS_CHECK, not documented. In a .cjs file, which
    // Electronegativity alone would skip.
    writeFileSync(
      join(app, 'main.cjs'),
      "const { BrowserWindow } = require('electron')\n" +
        "new BrowserWindow({ webPreferences: { sandbox: false, contextIsolation: true, disableBlinkFeatures: 'Auxclick' } })\n"
    )
    // An openExternal call: MEDIUM OPEN_EXTERNAL_JS_CHECK, documented below.
    writeFileSync(
      join(app, 'link.js'),
      "const { shell } = require('electron')\nmodule.exports = (u) => shell.openExternal(u)\n"
    )
    // The audit names files by their path relative to the repository.
    const named = relative(REPO, app).split(sep).join('/')
    const exceptions = join(work, 'SECURITY.md')
    writeFileSync(
      exceptions,
      '## Electronegativity exceptions\n\n| File | Check | At most | Why |\n| --- | --- | --- | --- |\n' +
        `| \`${named}/link.js\` | \`OPEN_EXTERNAL_JS_CHECK\` | 1 | Links open only after the user confirms. |\n`
    )

    const r = spawnSync(
      process.execPath,
      ['scripts/electronegativity.mjs', app, '--exceptions', exceptions],
      {
        cwd: REPO,
        encoding: 'utf8',
        timeout: 110_000
      }
    )
    const output = `${r.stdout}\n${r.stderr}`
    expect(r.status, output).toBe(1)
    expect(r.stderr).toMatch(/SANDBOX_JS_CHECK \S*main\.cjs:2:/)
    expect(r.stdout).toMatch(/documented as exceptions[\s\S]*OPEN_EXTERNAL_JS_CHECK \S*link\.js/)
    expect(r.stderr).not.toMatch(/OPEN_EXTERNAL_JS_CHECK/)
  }, 120_000)
})
