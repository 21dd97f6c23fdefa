/** Rules every session registry applies alike: ids, resume tokens. */
import { randomBytes } from 'node:crypto'
import { identifierProblem } from '../../shared/input-rules'
import { RESUME_TOKEN_KEY, type RequestFrame } from '../../shared/protocol'

/** A generated session id: 16 random bytes, URL-safe (128 bits); `taken` says an id is in use. */
export function newSessionId(taken: (id: string) => boolean): string {
  let id: string
  do id = randomBytes(16).toString('base64url')
  while (taken(id))
  return id
}

/** Why a client-chosen session id cannot be used, or null (the one identifier rule). */
export function checkSessionId(id: string, maxLength: number): string | null {
  return identifierProblem(id, 'sessionid', maxLength)
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
