/**
 * The servers put side by side. Each runs as its own process, started directly with
 * `node --import tsx <file>`, so that /proc/PID of that process is the server and nothing else.
 */
import { startTypeScript, type TrackedProcess } from '../lib/child-processes'

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

export async function startServer(subject: Subject): Promise<RunningServer> {
  const proc = startTypeScript(subject.label, subject.entry, subject.args)
  try {
    const match = await proc.waitForLine(subject.readyLine, 20_000)
    return { subject, url: match[1]!, process: proc }
  } catch (e) {
    await proc.kill()
    throw e
  }
}
