/** Rules every session registry applies alike: ids, resume tokens. */
import { randomBytes } from 'node:crypto'
import { RESUME_TOKEN_KEY, type RequestFrame } from '../../shared/protocol'

/** A generated session id: 16 random bytes, URL-safe (128 bits); `taken` says an id is in use. */
export function newSessionId(taken: (id: string) => boolean): string {
  let id: string
  do id = randomBytes(16).toString('base64url')
  while (taken(id))
  return id
}

/** Why a client-chosen session id cannot be used, or null. */
export function checkSessionId(id: string, maxLength: number): string | null {
  if (id.length === 0) return 'field "sessionid" is empty'
  if (id.length > maxLength) return `field "sessionid" is longer than ${maxLength}`
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(id)) return 'field "sessionid" contains control characters'
  return null
}

/** A place's resume token: 16 random bytes, URL-safe. */
export function newToken(): string {
  return randomBytes(16).toString('base64url')
}

/** The resume token a create or join presents, if any. */
export function tokenOf(req: RequestFrame): string | undefined {
  const token = req[RESUME_TOKEN_KEY]
  return typeof token === 'string' && token.length > 0 ? token : undefined
}
