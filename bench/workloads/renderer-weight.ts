/**
 * Workload 4, renderer weight: the JS and CSS the renderer's index.html loads up front, gzipped
 * (level 9), from a fresh production build. The build is deterministic, so one run is enough.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { gzipSync } from 'node:zlib'
import { startCommand } from '../lib/child-processes'
import type { Workload, WorkloadResult } from '../lib/workload'

const JS_BUDGET_KB = 150

export interface InitialAsset {
  file: string
  kind: 'js' | 'css'
  bytes: number
  gzipBytes: number
}

/** The scripts, module preloads and stylesheets that index.html references. */
export function initialAssets(html: string): { file: string; kind: 'js' | 'css' }[] {
  const out: { file: string; kind: 'js' | 'css' }[] = []
  for (const tag of html.match(/<(script|link)\b[^>]*>/gi) ?? []) {
    const attr = (name: string): string | undefined =>
      new RegExp(`\\b${name}\\s*=\\s*["']([^"']+)["']`, 'i').exec(tag)?.[1]
    if (/^<script/i.test(tag)) {
      const src = attr('src')
      if (src) out.push({ file: src, kind: 'js' })
      continue
    }
    const rel = attr('rel')?.toLowerCase()
    const href = attr('href')
    if (!href) continue
    if (rel === 'stylesheet') out.push({ file: href, kind: 'css' })
    else if (rel === 'modulepreload') out.push({ file: href, kind: 'js' })
  }
  return out
}

/** A production build into `outDir` (not the shared out/, which may be in use); returns its renderer. */
export async function buildRenderer(outDir: string): Promise<string> {
  const build = startCommand('electron-vite build', 'npx', [
    'electron-vite',
    'build',
    '--outDir',
    outDir,
    '--logLevel',
    'warn'
  ])
  const exit = await build.finish(180_000)
  if (exit.code !== 0)
    throw new Error(`electron-vite build failed (${exit.code ?? exit.signal})${build.describeStderr()}`)
  return join(outDir, 'renderer')
}

export const rendererWeightWorkload: Workload = {
  id: 'renderer',
  title: 'Renderer weight',
  async run(ctx): Promise<WorkloadResult> {
    // A private output directory: the shared out/ may be in use by others while the suite runs.
    const outDir = mkdtempSync(join(tmpdir(), 'genie-bench-build-'))
    try {
      ctx.log('renderer: building with electron-vite')
      const rendererDir = await buildRenderer(outDir)
      const html = readFileSync(join(rendererDir, 'index.html'), 'utf8')
      const assets: InitialAsset[] = initialAssets(html).map(({ file, kind }) => {
        const content = readFileSync(resolve(rendererDir, file.replace(/^\//, './')))
        return { file, kind, bytes: content.length, gzipBytes: gzipSync(content, { level: 9 }).length }
      })
      const total = (kind: 'js' | 'css'): number =>
        assets.filter((a) => a.kind === kind).reduce((sum, a) => sum + a.gzipBytes, 0) / 1000
      ctx.log(`renderer: ${total('js').toFixed(1)} kB JS, ${total('css').toFixed(1)} kB CSS (gzip)`)
      return {
        rows: [
          {
            workload: 'renderer weight',
            metric: 'initial JS, gzip',
            unit: 'kB',
            decimals: 1,
            runs: { genie: [total('js')] },
            budget: { value: JS_BUDGET_KB, label: `${JS_BUDGET_KB} kB budget` },
            targets: [{ against: 'budget', op: '<=', ratio: 1 }]
          },
          {
            workload: 'renderer weight',
            metric: 'initial CSS, gzip',
            unit: 'kB',
            decimals: 1,
            runs: { genie: [total('css')] },
            targets: []
          }
        ],
        details: { assets },
        notes: []
      }
    } finally {
      rmSync(outDir, { recursive: true, force: true })
    }
  }
}
