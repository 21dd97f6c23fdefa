/**
 * The servers put side by side. Each runs as its own process, started directly with
 * `node <bundle>`, so that /proc/PID of that process is the server and nothing else.
 *
 * Every server is first bundled to plain JavaScript with esbuild (packages stay external, as in
 * scripts/build-cli.mjs, which builds what `npm run serve` runs), and none runs under tsx: in
 * Node 20, `--import tsx` adds a module-loader thread with a heap of its own, whose collections
 * count as the server's CPU. It cost the server that loads more modules more (about 3 µs per
 * frame at 1 000 round trips/s for Genie Bridge), and no user runs a server that way.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { build } from 'esbuild'
import { startNode, type TrackedProcess } from '../lib/child-processes'

export type SubjectId = 'bare' | 'peerjs' | 'genie'

export interface Subject {
  id: SubjectId
  label: string
  entry: string
  args: readonly string[]
  /** The line the server prints once it listens; group 1 is the ws:// URL clients use. */
  readyLine: RegExp
}

export const SUBJECTS: readonly Subject[] = [
  {
    id: 'bare',
    label: 'bare ws relay',
    entry: 'bench/servers/bare-relay.ts',
    args: ['--port', '0'],
    readyLine: /^bare relay listening on (ws:\/\/\S+)$/
  },
  {
    id: 'peerjs',
    label: 'PeerJS server',
    entry: 'bench/servers/peerjs-server.ts',
    args: ['--port', '0'],
    readyLine: /^peerjs server listening on (ws:\/\/\S+)$/
  },
  {
    id: 'genie',
    label: 'Genie Bridge',
    entry: 'src/main/cli/serve.ts',
    // The default rate limit (200 frames/s per connection) would throttle the relay workload
    // long before the server itself is the limit. Logs of faults only, as the other servers keep
    // none: a line per connection opened and closed would count in idle scale.
    args: [
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--limit',
      'framesPerWindow=100000000',
      '--log-level',
      'warn'
    ],
    readyLine: /^channel server listening on (ws:\/\/\S+)$/
  }
]

export const BASELINE: SubjectId = 'bare'

/**
 * Genie Bridge as users run it: every limit at its default (200 frames/s per connection among
 * them), for loads that stay within them.
 */
export const GENIE_AT_DEFAULT_LIMITS: Subject = {
  ...subjectById('genie'),
  args: ['--host', '127.0.0.1', '--port', '0', '--log-level', 'warn']
}

export function subjectById(id: SubjectId): Subject {
  const subject = SUBJECTS.find((s) => s.id === id)
  if (!subject) throw new Error(`unknown server ${id}`)
  return subject
}

export interface RunningServer {
  subject: Subject
  url: string
  process: TrackedProcess
}

/** Where the bundles go: inside the project, so that their external packages resolve. */
const BUNDLE_DIR = 'out/bench-servers'
const bundles = new Map<string, Promise<string>>()

/** The subject's entry as one JavaScript file, built once per run. */
export function bundledEntry(subject: Subject): Promise<string> {
  let bundle = bundles.get(subject.entry)
  if (bundle === undefined) {
    const outfile = join(BUNDLE_DIR, `${subject.id}.mjs`)
    mkdirSync(BUNDLE_DIR, { recursive: true })
    bundle = build({
      entryPoints: [subject.entry],
      outfile,
      bundle: true,
      packages: 'external',
      platform: 'node',
      format: 'esm',
      target: 'node20',
      logLevel: 'warning'
    }).then(() => outfile)
    bundles.set(subject.entry, bundle)
  }
  return bundle
}

/** Starts the subject's bundle with extra arguments after its own. */
export async function startSubject(
  subject: Subject,
  name = subject.label,
  extraArgs: readonly string[] = []
) {
  return startNode(name, [await bundledEntry(subject), ...subject.args, ...extraArgs])
}

export async function startServer(subject: Subject): Promise<RunningServer> {
  const proc = await startSubject(subject)
  try {
    const match = await proc.waitForLine(subject.readyLine, 20_000)
    return { subject, url: match[1]!, process: proc }
  } catch (e) {
    await proc.kill()
    throw e
  }
}
