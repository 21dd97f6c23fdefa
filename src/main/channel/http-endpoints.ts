/**
 * The plain HTTP requests the channel server answers on its own port, beside WebSocket upgrades:
 *
 *   GET /healthz   200 "ok" while the process serves requests at all (liveness)
 *   GET /readyz    200 when it takes new sessions; 503 with the reasons while shutting down or
 *                  while a readiness check says no (e.g. its Redis is unreachable)
 *   GET /metrics   the Prometheus text format; needs the access token when the server has one
 *
 * Anything else gets 426 Upgrade Required, as before: this is a WebSocket server.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Logger } from '../log'
import type { ChannelMetrics } from './metrics'
import type { Readiness } from './server'

export const HEALTH_PATH = '/healthz'
export const READY_PATH = '/readyz'
export const METRICS_PATH = '/metrics'

export interface EndpointHost {
  readiness(): Readiness
  metrics(): ChannelMetrics
  /** The request presents the access token (or the server has none). */
  mayReadMetrics(req: IncomingMessage): boolean
  logger: Logger
}

const TEXT = 'text/plain; charset=utf-8'
/** Probes and scrapes must see the state of now, never a cached answer. */
const NO_STORE = 'no-store'

export function httpEndpoints(host: EndpointHost): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const target = req.url ?? '/'
    const q = target.indexOf('?')
    const path = q < 0 ? target : target.slice(0, q)
    if (path !== HEALTH_PATH && path !== READY_PATH && path !== METRICS_PATH) {
      return void res.writeHead(426, { 'content-type': TEXT }).end('this is a WebSocket channel server\n')
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return void res.writeHead(405, { 'content-type': TEXT, allow: 'GET, HEAD' }).end('use GET\n')
    }
    if (path === HEALTH_PATH) return reply(res, req, 200, TEXT, 'ok\n')
    if (path === READY_PATH) {
      const { ready, reasons } = host.readiness()
      return reply(
        res,
        req,
        ready ? 200 : 503,
        TEXT,
        ready ? 'ready\n' : `not ready: ${reasons.join('; ')}\n`
      )
    }
    if (!host.mayReadMetrics(req)) {
      res.writeHead(401, { 'content-type': TEXT, 'www-authenticate': 'Bearer' })
      return void res.end('the metrics need the access token: Authorization: Bearer TOKEN\n')
    }
    const metrics = host.metrics()
    metrics.text().then(
      (text) => reply(res, req, 200, metrics.contentType, text),
      (e: unknown) => {
        host.logger.error({ err: e }, 'metrics could not be collected')
        reply(res, req, 500, TEXT, 'metrics could not be collected\n')
      }
    )
  }
}

function reply(res: ServerResponse, req: IncomingMessage, status: number, type: string, body: string): void {
  res.writeHead(status, {
    'content-type': type,
    'cache-control': NO_STORE,
    'content-length': Buffer.byteLength(body)
  })
  res.end(req.method === 'HEAD' ? undefined : body)
}
