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

const groups = new Map<number, Set<() => void>>()
const groupTimers = new Map<number, ReturnType<typeof setInterval>>()

/**
 * Calls `fn` every `ms` on one timer shared by every caller of that period: dozens of call rows
 * refreshing their figures then change the page together, in one frame, instead of each in a
 * frame of its own (a console with 50 speakers would otherwise draw 50 frames a second).
 */
export function everyTogether(ms: number, fn: () => void): () => void {
  let fns = groups.get(ms)
  if (!fns) {
    const members = new Set<() => void>()
    groups.set(ms, (fns = members))
    groupTimers.set(
      ms,
      setInterval(() => {
        for (const f of members) f()
      }, ms)
    )
  }
  const members = fns
  members.add(fn)
  return track(() => {
    members.delete(fn)
    if (members.size > 0) return
    clearInterval(groupTimers.get(ms))
    groupTimers.delete(ms)
    groups.delete(ms)
  })
}
