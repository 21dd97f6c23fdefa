// Tries to fetch the Electron runtime once. Never fails the install: without the runtime the app
// runs in the browser host (`npm start` says so) and every test still runs in Chromium.
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { electronRuntimePath } from './electron-runtime.mjs'

const INSTALL_TIMEOUT_MS = 120_000

if (!electronRuntimePath() && !process.env.GENIE_SKIP_ELECTRON_DOWNLOAD) {
  let ok = false
  try {
    const installer = join(
      dirname(createRequire(import.meta.url).resolve('electron/package.json')),
      'install.js'
    )
    const r = spawnSync(process.execPath, [installer], { stdio: 'ignore', timeout: INSTALL_TIMEOUT_MS })
    ok = r.status === 0 && electronRuntimePath() !== null
  } catch {
    ok = false
  }
  if (!ok) {
    console.log(
      'genie-bridge: the Electron runtime could not be downloaded; `npm start` will serve the app in your browser instead, and all tests run in Chromium (retry later with `npx install-electron`).'
    )
  }
}
