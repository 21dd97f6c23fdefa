// Builds the app once when the build output is missing (used by `npm run host`).
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'

if (!existsSync('out/renderer/index.html')) {
  const r = spawnSync('npx', ['electron-vite', 'build'], { stdio: ['ignore', 'ignore', 'inherit'] })
  if (r.status !== 0) process.exit(r.status ?? 1)
}
