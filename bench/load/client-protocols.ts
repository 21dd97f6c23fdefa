/**
 * How a client speaks to each server under test: connecting a device/web pair, the frames each side
 * sends, and connecting one idle authenticated client. Frames are built once, before the load starts,
 * so that the load generator spends the same (small) effort per frame on every server.
 */
import WebSocket from 'ws'
import { frames } from '../../src/shared/protocol'
import type { SubjectId } from '../servers/subjects'
import { ICE_CANDIDATE, SDP, type FrameKind } from './signaling-payloads'
import { SetupReader, openSocket } from './socket-setup'

export interface ConnectedPair {
  device: WebSocket
  web: WebSocket
  /** What the device sends (an offer or a candidate) and what the web side sends back for it. */
  frames: Record<FrameKind, { fromDevice: Buffer; fromWeb: Buffer }>
}

export interface ClientProtocol {
  /** The web side connects to `webUrl` when given (another process of the same service). */
  connectPair(url: string, index: number, webUrl?: string): Promise<ConnectedPair>
  /** An authenticated connection that has sent one keep-alive. */
  connectIdle(url: string, index: number): Promise<WebSocket>
}

const frame = (value: unknown): Buffer => Buffer.from(JSON.stringify(value))
/** Fixed-width ids, so that every pair's frames have the same size. */
const id = (role: string, index: number): string => `bench-${role}-${String(index).padStart(6, '0')}`
const isOk = (f: Record<string, unknown>): boolean => f.msgtype === 'reply' && f.result_cd === 200

/** The channel protocol of PROTOCOL.md: auth, create_session / join_session, then data frames. */
const genie: ClientProtocol = {
  async connectPair(url, index, webUrl = url) {
    const { ws: device, reader: deviceIn } = await openSocket(url, 'ws-channel-v1')
    await genieAuth(device, deviceIn, id('device', index))
    device.send(
      JSON.stringify(frames.createRequest({ uuid: id('device', index), trxid: `${id('device', index)}:2` }))
    )
    const created = await deviceIn.expect('create_session reply', isOk)
    const sessionid = String(created.sessionid)

    const { ws: web, reader: webIn } = await openSocket(webUrl, 'ws-channel-v1')
    await genieAuth(web, webIn, id('web', index))
    web.send(
      JSON.stringify(
        frames.joinRequest({ sessionid, uuid: id('web', index), trxid: `${id('web', index)}:2` })
      )
    )
    await webIn.expect('join_session reply', isOk)
    await deviceIn.expect('join_session notify', (f) => f.operation === 'join_session')
    deviceIn.detach()
    webIn.detach()
    return { device, web, frames: genieFrames(sessionid) }
  },

  async connectIdle(url, index) {
    const { ws, reader } = await openSocket(url, 'ws-channel-v1')
    await genieAuth(ws, reader, id('idle', index))
    ws.send(JSON.stringify(frames.rasAlive()))
    await reader.expect('ras_alive echo', (f) => f.operation === 'ras_alive')
    reader.detach()
    return ws
  }
}

async function genieAuth(ws: WebSocket, reader: SetupReader, uuid: string): Promise<void> {
  await reader.expect('iam', (f) => f.operation === 'iam')
  ws.send(JSON.stringify(frames.authRequest({ uuid, trxid: `${uuid}:1` })))
  await reader.expect('auth reply', isOk)
}

function genieFrames(sessionid: string): ConnectedPair['frames'] {
  const data = (payload: Record<string, unknown>): Buffer => frame(frames.data({ sessionid, data: payload }))
  const candidate = { type: 'candidate', label: 0, id: '0', candidate: ICE_CANDIDATE }
  return {
    candidate: { fromDevice: data(candidate), fromWeb: data(candidate) },
    sdp: { fromDevice: data({ type: 'offer', sdp: SDP }), fromWeb: data({ type: 'answer', sdp: SDP }) }
  }
}

/** PeerJS's own protocol: id and token in the URL, OPEN on connect, OFFER/ANSWER/CANDIDATE with dst. */
const peerjs: ClientProtocol = {
  async connectPair(url, index) {
    const deviceId = id('device', index)
    const webId = id('web', index)
    const device = await peerjsOpen(url, deviceId)
    const web = await peerjsOpen(url, webId)
    const connectionId = `mc_${id('call', index)}`
    const media = (payload: Record<string, unknown>): Record<string, unknown> => ({
      ...payload,
      type: 'media',
      connectionId
    })
    const candidate = { candidate: ICE_CANDIDATE, sdpMLineIndex: 0, sdpMid: '0' }
    return {
      device,
      web,
      frames: {
        candidate: {
          fromDevice: frame({ type: 'CANDIDATE', payload: media({ candidate }), dst: webId }),
          fromWeb: frame({ type: 'CANDIDATE', payload: media({ candidate }), dst: deviceId })
        },
        sdp: {
          fromDevice: frame({
            type: 'OFFER',
            payload: media({ sdp: { type: 'offer', sdp: SDP } }),
            dst: webId
          }),
          fromWeb: frame({
            type: 'ANSWER',
            payload: media({ sdp: { type: 'answer', sdp: SDP } }),
            dst: deviceId
          })
        }
      }
    }
  },

  async connectIdle(url, index) {
    const ws = await peerjsOpen(url, id('idle', index))
    ws.send(JSON.stringify({ type: 'HEARTBEAT' }))
    return ws
  }
}

async function peerjsOpen(url: string, id: string): Promise<WebSocket> {
  const { ws, reader } = await openSocket(`${url}?key=peerjs&id=${id}&token=token-${id}`)
  await reader.expect('OPEN', (f) => f.type === 'OPEN')
  reader.detach()
  return ws
}

/** The floor pairs connections by URL and relays bytes: it is sent the channel protocol's frames. */
const bare: ClientProtocol = {
  async connectPair(url, index) {
    const device = await openQuiet(`${url}?pair=${index}`)
    const web = await openQuiet(`${url}?pair=${index}`)
    // Both opened: the relay has paired them, as it pairs on the server side of the handshake.
    return { device, web, frames: genieFrames('Bq3v0kL9sXr2TzQw8nYp1A') }
  },

  async connectIdle(url, index) {
    const ws = await openQuiet(`${url}?pair=idle-${index}`)
    ws.send(JSON.stringify(frames.rasAlive()))
    return ws
  }
}

/** A socket to a server that sends no greeting. */
async function openQuiet(url: string): Promise<WebSocket> {
  const { ws, reader } = await openSocket(url)
  reader.detach()
  return ws
}

export const CLIENT_PROTOCOLS: Record<SubjectId, ClientProtocol> = { genie, peerjs, bare }
