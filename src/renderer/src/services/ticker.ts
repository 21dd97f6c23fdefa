/**
 * UI timers (countdowns, meters) in one place so that none outlives its view. Keep-alive timers are
 * not here: they live in the main process, where a hidden window cannot throttle them.
 */
const active = new Set<() => void>()

function track(cancel: () => void): () => void {
  const stop = (): void => {
    cancel()
    active.delete(stop)
  }
  active.add(stop)
  return stop
}

/** Calls `fn` every `ms` until the returned function is called. */
export function every(ms: number, fn: () => void): () => void {
  const id = setInterval(fn, ms)
  return track(() => clearInterval(id))
}

/** Calls `fn` once after `ms`, unless the returned function is called first. */
export function after(ms: number, fn: () => void): () => void {
  const id = setTimeout(() => {
    stop()
    fn()
  }, ms)
  const stop = track(() => clearTimeout(id))
  return stop
}

export function activeTimers(): number {
  return active.size
}
