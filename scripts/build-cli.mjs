// Builds the command-line entries (src/main/cli/serve.ts, host.ts) into plain JavaScript in
// out/cli/, which `npm run serve` and `npm run host` then run with node: no TypeScript at run time.
// Packages stay external (they are installed). With --if-stale it builds only when an output is
// missing or older than one of the sources it was built from, so a run after an edit never uses
// stale code, and one without edits starts at once. Nothing is printed to stdout: the entries'
// first line there is theirs.
import { build } from 'esbuild'
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'

const OUT_DIR = 'out/cli'
const ENTRIES = { serve: 'src/main/cli/serve.ts', host: 'src/main/cli/host.ts' }
const META = join(OUT_DIR, 'inputs.json')

function isStale() {
  if (!existsSync(META)) return true
  const outputs = Object.keys(ENTRIES).map((name) => join(OUT_DIR, `${name}.js`))
  if (!outputs.every((file) => existsSync(file))) return true
  const built = Math.min(...outputs.map((file) => statSync(file).mtimeMs))
  const inputs = [...JSON.parse(readFileSync(META, 'utf8')), 'package-lock.json', 'scripts/build-cli.mjs']
  return inputs.some((file) => !existsSync(file) || statSync(file).mtimeMs > built)
}

if (!process.argv.includes('--if-stale') || isStale()) {
  const result = await build({
    entryPoints: ENTRIES,
    outdir: OUT_DIR,
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: 'linked',
    metafile: true,
    write: false,
    logLevel: 'warning'
  })
  mkdirSync(OUT_DIR, { recursive: true })
  // Each file lands whole (written aside, then renamed): test files building at the same time
  // never run a half-written entry.
  for (const file of result.outputFiles) {
    mkdirSync(dirname(file.path), { recursive: true })
    const aside = `${file.path}.${process.pid}.tmp`
    writeFileSync(aside, file.contents)
    renameSync(aside, file.path)
  }
  const aside = `${META}.${process.pid}.tmp`
  writeFileSync(aside, JSON.stringify(Object.keys(result.metafile.inputs)))
  renameSync(aside, META)
}
