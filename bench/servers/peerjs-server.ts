/**
 * The PeerJS server (npm `peer`), the most-used open-source signaling server for browsers, run the
 * way its README shows (`PeerServer({ port, path })`), bound to loopback.
 *
 * `node --import tsx bench/servers/peerjs-server.ts --port 0` prints
 * `peerjs server listening on ws://127.0.0.1:PORT/peerjs`.
 */
import type { AddressInfo } from 'node:net'
import { PeerServer } from 'peer'

const portIndex = process.argv.indexOf('--port')
const port = portIndex >= 0 ? Number(process.argv[portIndex + 1]) : 0

const peer = PeerServer(
  {
    host: '127.0.0.1',
    port,
    path: '/',
    // Its default of 5000 clients would refuse the larger idle-scale runs.
    concurrent_limit: 1_000_000
  },
  (server) => {
    const { port: bound } = server.address() as AddressInfo
    console.log(`peerjs server listening on ws://127.0.0.1:${bound}/peerjs`)
  }
)
// It re-emits socket errors on the app; without a listener an EventEmitter 'error' ends the process.
peer.on('error', () => {})

// Exit cleanly on a signal (what lets `node --cpu-prof` write its profile when the server is profiled).
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(0))
