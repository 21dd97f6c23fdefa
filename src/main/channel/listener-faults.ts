/**
 * Errors of a listening socket after it listens. Node reports a failed accept (out of file
 * descriptors) as an 'error' of the server: unheard, it would end the process, and the socket
 * keeps accepting once descriptors are free, so a server logs it and serves on. One place for
 * how often that is logged, shared by the channel server and the browser host.
 */

/**
 * A listening socket's error is logged at most this often: a descriptor shortage repeats it for
 * every connection the kernel queues.
 */
export const LISTENER_FAULT_LOG_INTERVAL_MS = 1_000

export type ListenerError = Error & { code?: string }

/** Counts the errors and says when a log line is due. */
export class ListenerFaults {
  private unlogged = 0
  private loggedAt = -Infinity

  /** Counts one; returns how many came since the last line (this one included) when a line is due, else null. */
  note(now = Date.now()): number | null {
    this.unlogged++
    if (now - this.loggedAt < LISTENER_FAULT_LOG_INTERVAL_MS) return null
    const count = this.unlogged
    this.unlogged = 0
    this.loggedAt = now
    return count
  }
}

export function isOutOfDescriptors(err: ListenerError): boolean {
  return err.code === 'EMFILE' || err.code === 'ENFILE'
}
