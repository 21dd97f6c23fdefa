/** The soak's load generator as a process of its own, shared by the one-process and the Redis soak. */
import type { SoakLoadOptions } from '../load/soak-load'
import { startTypeScript, type TrackedProcess } from './child-processes'

/**
 * Starts the load generator; `ready` resolves once every pair is in its session. The process is
 * returned at once, so that a caller that gives up while waiting can still stop it.
 */
export function startSoakLoad(options: SoakLoadOptions): {
  load: TrackedProcess
  ready: Promise<{ pairs: number; setupMs: number }>
} {
  const load = startTypeScript(
    'soak load generator',
    'bench/load/soak-load.ts',
    [JSON.stringify(options)],
    true
  )
  const ready = load
    .waitForLine(/^ready (.*)$/, 180_000)
    .then((m) => JSON.parse(m[1]!) as { pairs: number; setupMs: number })
  return { load, ready }
}
