// Electron security audit: runs Electronegativity over the sources (`src`) and the built app (`out`),
// and fails on any HIGH or MEDIUM finding that docs/SECURITY.md does not list as a deliberate,
// explained exception. Electronegativity itself exits 0 whatever it finds, so its findings are read
// here (scripts/electronegativity-scan.mjs runs each scan).
//
//   node scripts/electronegativity.mjs            audit src and out (build first: npx electron-vite build)
//   node scripts/electronegativity.mjs DIR...     audit other folders (paths as given)
//   --exceptions FILE                             read the exceptions table from FILE instead
//
// Exit codes: 0 clean (or every finding excepted), 1 undocumented HIGH/MEDIUM findings,
// 2 the audit could not run or its output could not be trusted.
import { spawn } from 'node:child_process'
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync
} from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const require = createRequire(import.meta.url)
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')

export const SEVERITIES = ['HIGH', 'MEDIUM', 'LOW', 'INFORMATIONAL']
export const GATING = new Set(['HIGH', 'MEDIUM'])
const CONFIDENCES = new Set(['CERTAIN', 'FIRM', 'TENTATIVE'])
const EXCEPTIONS_HEADING = /^##+\s+Electronegativity exceptions\s*$/i
// What Electronegativity reads (its own filter); anything else in a folder goes unchecked.
const SCANNED = /\.(js|jsx|ts|tsx|html|htm)$/i
const SCAN = join(ROOT, 'scripts', 'electronegativity-scan.mjs')

/**
 * The findings file of scripts/electronegativity-scan.mjs, checked field by field (known check
 * name, severity and confidence; text where text belongs): anything else means the tool changed
 * shape, and an audit that cannot be read must not pass as "no findings".
 */
export function parseFindings(text) {
  let doc
  try {
    doc = JSON.parse(text)
  } catch (e) {
    throw new Error(`not JSON: ${e.message}`)
  }
  if (
    doc === null ||
    typeof doc !== 'object' ||
    doc.tool !== 'electronegativity' ||
    !Array.isArray(doc.findings)
  )
    throw new Error('not a findings file of scripts/electronegativity-scan.mjs')
  return doc.findings.map((f, n) => {
    const at = `finding ${n + 1}`
    if (f === null || typeof f !== 'object') throw new Error(`${at} is not an object`)
    const { check, severity, confidence, file, location, sample, description } = f
    if (typeof check !== 'string' || !/^[A-Z0-9_]+$/.test(check))
      throw new Error(`${at}: bad check name ${JSON.stringify(check)}`)
    if (!SEVERITIES.includes(severity)) throw new Error(`${at}: unknown severity ${severity}`)
    if (!CONFIDENCES.has(confidence)) throw new Error(`${at}: unknown confidence ${confidence}`)
    for (const [name, value] of Object.entries({ file, location, description })) {
      if (typeof value !== 'string') throw new Error(`${at}: ${name} is not text`)
    }
    if (sample !== null && typeof sample !== 'string') throw new Error(`${at}: sample is not text`)
    return { check, severity, confidence, file, location, sample, description }
  })
}

/**
 * The exceptions table of docs/SECURITY.md: the first Markdown table under the heading
 * "Electronegativity exceptions", with columns File | Check | At most | Why. Every row needs a
 * reason; "At most" caps how many findings of that check the file may have.
 */
export function parseExceptions(markdown) {
  const lines = markdown.split(/\r?\n/)
  const start = lines.findIndex((l) => EXCEPTIONS_HEADING.test(l))
  if (start === -1) throw new Error('no "Electronegativity exceptions" heading')
  const exceptions = []
  let columns = null
  for (let i = start + 1; i < lines.length; i++) {
    const line = lines[i].trim()
    if (/^#/.test(line)) break
    if (!line.startsWith('|')) {
      // Prose may precede the table; the first line that is not a row after it ends the table.
      if (columns) break
      continue
    }
    const cells = line
      .replace(/^\|/, '')
      .replace(/\|$/, '')
      .split('|')
      .map((c) => c.trim())
    if (!columns) {
      columns = cells.map((c) => c.toLowerCase())
      for (const need of ['file', 'check', 'at most', 'why']) {
        if (!columns.includes(need)) throw new Error(`exceptions table lacks a "${need}" column`)
      }
      continue
    }
    if (cells.every((c) => /^:?-+:?$/.test(c))) continue
    const cell = (name) => (cells[columns.indexOf(name)] ?? '').replace(/^`|`$/g, '').trim()
    const row = { file: cell('file'), check: cell('check'), max: Number(cell('at most')), why: cell('why') }
    if (!row.file || !/^[A-Z0-9_]+$/.test(row.check)) throw new Error(`exceptions table: bad row "${line}"`)
    if (!Number.isInteger(row.max) || row.max < 1)
      throw new Error(`exceptions table: bad "At most" in "${line}"`)
    if (row.why.length < 20) throw new Error(`exceptions table: ${row.file} ${row.check} needs a real reason`)
    exceptions.push(row)
  }
  return exceptions
}

/** Splits HIGH/MEDIUM findings into excepted and undocumented, per (file, check) group. */
export function judge(findings, exceptions) {
  const groups = new Map()
  for (const f of findings) {
    if (!GATING.has(f.severity)) continue
    const key = `${f.file}\u0000${f.check}`
    if (!groups.has(key)) groups.set(key, [])
    groups.get(key).push(f)
  }
  const excepted = []
  const undocumented = []
  const used = new Set()
  for (const group of groups.values()) {
    const { file, check } = group[0]
    const exception = exceptions.find((e) => e.file === file && e.check === check)
    if (exception && group.length <= exception.max) {
      excepted.push(...group)
      used.add(exception)
    } else {
      undocumented.push(...group)
    }
  }
  return { excepted, undocumented, unused: exceptions.filter((e) => !used.has(e)) }
}

function listFiles(dir) {
  const out = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules') continue
    const path = join(dir, entry.name)
    if (entry.isDirectory()) out.push(...listFiles(path))
    else out.push(path)
  }
  return out
}

/**
 * A copy of `dir` in which .cjs/.mjs files are named .js: Electronegativity skips those
 * extensions, and the built preload is a .cjs file. Returns the copy and a map back to the names.
 */
function stage(dir, work) {
  const staged = join(work, relative(ROOT, dir).split(sep).join('__') || 'root')
  cpSync(dir, staged, { recursive: true, filter: (src) => !src.split(sep).includes('node_modules') })
  const renamed = new Map()
  for (const file of listFiles(staged)) {
    const m = /\.(cjs|mjs)$/.exec(file)
    if (!m) continue
    let target = file.slice(0, -m[0].length) + '.js'
    if (existsSync(target)) target = file.slice(0, -m[0].length) + `.${m[1]}.js`
    renameSync(file, target)
    renamed.set(target, file)
  }
  return { staged, renamed }
}

function run(cmd, args, env) {
  return new Promise((resolvePromise) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (d) => (output += d))
    child.stderr.on('data', (d) => (output += d))
    child.on('close', (code, signal) => resolvePromise({ code, signal, output }))
    child.on('error', (e) => resolvePromise({ code: -1, signal: null, output: String(e) }))
  })
}

async function scan(target, work, electronVersion) {
  const { staged, renamed } = stage(target.dir, work)
  const output = join(work, `${target.label.replace(/[^\w.-]/g, '_')}.json`)
  const r = await run(process.execPath, [SCAN, staged, electronVersion, output], { LANG: 'en-US' })
  if (r.code !== 0)
    throw new Error(`electronegativity exited ${r.code ?? r.signal} on ${target.label}:\n${r.output}`)
  if (!existsSync(output))
    throw new Error(`electronegativity wrote no findings for ${target.label}:\n${r.output}`)
  let findings
  try {
    findings = parseFindings(readFileSync(output, 'utf8'))
  } catch (e) {
    throw new Error(`unreadable electronegativity findings for ${target.label}: ${e.message}`)
  }
  for (const f of findings) {
    if (f.file === 'N/A') f.file = `${target.label} (whole folder)`
    else {
      const original = renamed.get(f.file) ?? f.file
      f.file = join(target.label, relative(staged, original)).split(sep).join('/')
    }
  }
  return findings
}

/**
 * Electronegativity skips a file it cannot parse and says so only on screen, never in its findings;
 * parsing every file here with its own parser turns that silence into a failure.
 */
function unparsable(dirs) {
  const { Parser } = require('@doyensec/electronegativity/dist/parser/parser.js')
  const parser = new Parser(false, true)
  const failures = []
  for (const dir of dirs) {
    for (const file of listFiles(dir)) {
      if (!SCANNED.test(file) && !/\.(cjs|mjs)$/.test(file)) continue
      const name = /\.(cjs|mjs)$/.test(file) ? file.replace(/\.(cjs|mjs)$/, '.js') : file
      try {
        parser.parse(name, readFileSync(file))
      } catch (e) {
        failures.push(`${relative(ROOT, file)}: ${e.message}`)
      }
    }
  }
  return failures
}

function summarize(label, findings) {
  const counts = Object.fromEntries(SEVERITIES.map((s) => [s, 0]))
  for (const f of findings) counts[f.severity]++
  return `${label}: ${SEVERITIES.map((s) => `${counts[s]} ${s}`).join(', ')}`
}

function describe(f) {
  return `  ${f.severity.padEnd(6)} ${f.check} ${f.file}:${f.location} (${f.confidence})\n         ${f.description}`
}

export async function main(argv) {
  const args = [...argv]
  let exceptionsFile = join(ROOT, 'docs', 'SECURITY.md')
  const at = args.indexOf('--exceptions')
  if (at !== -1) {
    exceptionsFile = resolve(args[at + 1] ?? '')
    args.splice(at, 2)
  }
  const targets = (args.length > 0 ? args : ['src', 'out']).map((d) => ({
    dir: resolve(ROOT, d),
    label: relative(ROOT, resolve(ROOT, d)).split(sep).join('/') || '.'
  }))

  for (const t of targets) {
    if (!existsSync(t.dir) || !statSync(t.dir).isDirectory()) {
      const hint = t.label === 'out' ? ' (build first: npx electron-vite build)' : ''
      console.error(`electronegativity: no folder ${t.label}${hint}`)
      return 2
    }
  }
  if (targets.some((t) => t.label === 'out') && !existsSync(join(ROOT, 'out', 'main', 'index.js'))) {
    console.error(
      'electronegativity: out/ holds no built main process (build first: npx electron-vite build)'
    )
    return 2
  }

  let exceptions
  try {
    exceptions = parseExceptions(readFileSync(exceptionsFile, 'utf8'))
  } catch (e) {
    console.error(
      `electronegativity: cannot read the exceptions of ${relative(ROOT, exceptionsFile)}: ${e.message}`
    )
    return 2
  }

  const electronVersion = JSON.parse(readFileSync(require.resolve('electron/package.json'), 'utf8')).version
  const vue = targets.flatMap((t) => listFiles(t.dir).filter((f) => f.endsWith('.vue')))
  const work = mkdtempSync(join(tmpdir(), 'electronegativity-'))
  try {
    // The scans spend most of their time waiting on network look-ups that fail offline: run them
    // side by side, and parse the files meanwhile.
    const scans = Promise.all(targets.map((t) => scan(t, work, electronVersion)))
    const notParsed = unparsable(targets.map((t) => t.dir))
    let results
    try {
      results = await scans
    } catch (e) {
      console.error(`electronegativity: ${e.message}`)
      return 2
    }

    console.log(
      `Electronegativity over ${targets.map((t) => t.label).join(' and ')} (Electron ${electronVersion})`
    )
    targets.forEach((t, i) => console.log(summarize(t.label, results[i])))
    if (vue.length > 0) {
      console.log(
        `${vue.length} .vue file(s) are not read by Electronegativity; their compiled code is in out/.`
      )
    }
    const findings = results.flat()
    const { excepted, undocumented, unused } = judge(findings, exceptions)
    const minor = findings.filter((f) => !GATING.has(f.severity))
    if (minor.length > 0)
      console.log(`\nLOW / INFORMATIONAL (reported, not gating):\n${minor.map(describe).join('\n')}`)
    if (excepted.length > 0) {
      console.log(
        `\nHIGH / MEDIUM documented as exceptions in docs/SECURITY.md:\n${excepted.map(describe).join('\n')}`
      )
    }
    for (const e of unused) console.log(`(exception not needed by this build: ${e.file} ${e.check})`)

    let status = 0
    if (notParsed.length > 0) {
      console.error(
        `\nFiles Electronegativity cannot parse, so it did not check them:\n  ${notParsed.join('\n  ')}`
      )
      status = 2
    }
    if (undocumented.length > 0) {
      console.error(
        `\nHIGH / MEDIUM findings that are not documented exceptions (fix them, or explain them in the ` +
          `exceptions table of docs/SECURITY.md):\n${undocumented.map(describe).join('\n')}`
      )
      status = status || 1
    }
    if (status === 0) console.log('\nNo undocumented HIGH or MEDIUM finding.')
    return status
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2))
}
