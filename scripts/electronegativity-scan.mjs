// One Electronegativity scan, run by scripts/electronegativity.mjs in a child process of its own:
// calls the tool's scanner as a library and writes what it found to a JSON file in one
// synchronous write.
//
//   node scripts/electronegativity-scan.mjs INPUT_DIR ELECTRON_VERSION OUTPUT.json
//
// Why not the tool's own `-o file.csv`: it writes the CSV header and the rows with two writes that
// race on one file, so the header can land over the first row (seen in CI, twice in a row).
// The scanner's return value holds the same findings with no file in between.
import { writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const [input, electronVersion, output] = process.argv.slice(2)
if (!input || !electronVersion || !output) {
  console.error('usage: electronegativity-scan.mjs INPUT_DIR ELECTRON_VERSION OUTPUT.json')
  process.exit(2)
}

// The package's main module: its scanner (module.exports is the run function).
const run = require('@doyensec/electronegativity')
// No `output` option: with one, the tool would write its racing CSV as well.
const result = await run({ input, electronVersionOverride: electronVersion }, false)
const findings = result.issues.map((issue) => ({
  check: issue.id,
  severity: issue.severity?.name,
  confidence: issue.confidence?.name,
  file: issue.file,
  location: `${issue.location?.line}:${issue.location?.column}`,
  sample: issue.sample ?? null,
  description: issue.description
}))
writeFileSync(output, JSON.stringify({ tool: 'electronegativity', findings }))
