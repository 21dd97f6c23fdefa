// `npm start`: the Electron app where its runtime is installed; otherwise the same app served to
// your browser by the browser host, saying so plainly. Builds first when the build is missing.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { electronRuntimePath } from './electron-runtime.mjs'

const passThrough = process.argv.slice(2)

if (!existsSync('out/renderer/index.html') || !existsSync('out/main/index.js')) {
  console.log('Building Genie Bridge (first start)…')
  const r = spawnSync('npx', ['electron-vite', 'build'], { stdio: 'inherit' })
  if (r.status !== 0) process.exit(r.status ?? 1)
}

const electron = electronRuntimePath()
const child = electron
  ? spawn(electron, ['.', ...passThrough], { stdio: 'inherit' })
  : (console.log(
      'The Electron runtime is not installed on this machine (it could not be downloaded), so Genie Bridge runs in your browser instead.\n' +
        'Open the address below in Chrome or Chromium; the embedded channel server runs here as usual. (To get the desktop app later: `npx install-electron`, then `npm start`.)'
    ),
    spawn(process.execPath, ['--import', 'tsx', 'src/main/cli/host.ts', ...passThrough], {
      stdio: 'inherit'
    }))

for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig))
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 0 : 1)))
