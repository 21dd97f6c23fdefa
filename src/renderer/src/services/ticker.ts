/**
 * UI timers (countdowns, meters) in one place so that none outlives its view. Keep-alive timers are
 * not here: they live in the main process, where a hidden window cannot throttle them.
 */
const active = new Set<ReturnType<typeof setInterval>>()

export function every(ms: number, fn: () => void): () => void {
  const id = setInterval(fn, ms)
  active.add(id)
  return () => {
    clearInterval(id)
    active.delete(id)
  }
}

export function activeTimers(): number {
  return active.size
}
