// The Electronegativity gate (scripts/electronegativity.mjs): how it reads the tool's CSV and the
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
  sample: string
  description: string
}
interface Exception {
  file: string
  check: string
  max: number
  why: string
}
const { CSV_HEADER, parseCsvRecords, parseFindings, parseExceptions, judge } = gate as {
  CSV_HEADER: string
  parseCsvRecords: (text: string) => string[][]
  parseFindings: (text: string) => Finding[]
  parseExceptions: (markdown: string) => Exception[]
  judge: (
    findings: Finding[],
    exceptions: Exception[]
  ) => { excepted: Finding[]; undocumented: Finding[]; unused: Exception[] }
}

const ROOT = new URL('../../', import.meta.url)
const REPO = fileURLToPath(ROOT)

// Rows exactly as Electronegativity 1.10.3 writes them (first and last columns unquoted, N/A bare).
const CSV = [
  CSV_HEADER,
  'CSP_GLOBAL_CHECK,"LOW","FIRM","/w/src/renderer/index.html","6:0","default-src \'self\'; connect-src \'self\' ws://127.0.0.1:*","One or more CSP directives detected seems to be vulnerable",https://github.com/doyensec/electronegativity/wiki/CSP_GLOBAL_CHECK',
  'SANDBOX_JS_CHECK,"MEDIUM","FIRM","/w/src/main/window.ts","12:4",N/A,"Use sandbox for untrusted origins",https://github.com/doyensec/electronegativity/wiki/SANDBOX_JS_CHECK',
  'OPEN_EXTERNAL_JS_CHECK,"MEDIUM","TENTATIVE","/w/src/main/external.ts","3:2","a ""quoted"", multi\nline sample","Review the use of openExternal",https://github.com/doyensec/electronegativity/wiki/OPEN_EXTERNAL_JS_CHECK',
  'LIMIT_NAVIGATION_GLOBAL_CHECK,"HIGH","CERTAIN","N/A","0:0",N/A,"Missing navigation limits",https://github.com/doyensec/electronegativity/wiki/LIMIT_NAVIGATION_GLOBAL_CHECK',
  ''
].join('\n')

describe('reading the CSV', () => {
  it('reads quoted fields with commas, doubled quotes and line breaks', () => {
    expect(parseCsvRecords('a,"b, c","d ""e""","f\ng"\n1,2,3,4\n')).toEqual([
      ['a', 'b, c', 'd "e"', 'f\ng'],
      ['1', '2', '3', '4']
    ])
    expect(parseCsvRecords('x,y\r\nz,w')).toEqual([
      ['x', 'y'],
      ['z', 'w']
    ])
    expect(() => parseCsvRecords('a,"open')).toThrow(/unterminated/)
  })

  it("reads Electronegativity's rows: check, severity, confidence, file, location", () => {
    const findings = parseFindings(CSV)
    expect(findings.map((f) => [f.check, f.severity, f.confidence, f.file, f.location])).toEqual([
      ['CSP_GLOBAL_CHECK', 'LOW', 'FIRM', '/w/src/renderer/index.html', '6:0'],
      ['SANDBOX_JS_CHECK', 'MEDIUM', 'FIRM', '/w/src/main/window.ts', '12:4'],
      ['OPEN_EXTERNAL_JS_CHECK', 'MEDIUM', 'TENTATIVE', '/w/src/main/external.ts', '3:2'],
      ['LIMIT_NAVIGATION_GLOBAL_CHECK', 'HIGH', 'CERTAIN', 'N/A', '0:0']
    ])
    expect(findings[2]!.sample).toBe('a "quoted", multi\nline sample')
    expect(parseFindings(`${CSV_HEADER}\n`)).toEqual([])
  })

  it('refuses output it cannot trust rather than reading it as "no findings"', () => {
    expect(() => parseFindings('')).toThrow(/header/)
    // The tool writes header and rows with two racing writes; a row written over the header:
    expect(() =>
      parseFindings(CSV.replace(CSV_HEADER, 'SANDBOX_JS_CHECK,"MEDIUM","FIRM","/w/a.ts"'))
    ).toThrow(/header/)
    expect(() => parseFindings(`${CSV_HEADER}\nSANDBOX_JS_CHECK,"MEDIUM","FIRM"\n`)).toThrow(/columns/)
    expect(() =>
      parseFindings(`${CSV_HEADER}\nX_CHECK,"SEVERE","FIRM","f","1:1",N/A,"d",https://example.com\n`)
    ).toThrow(/severity/)
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
