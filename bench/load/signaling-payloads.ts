/**
 * Signaling payloads of realistic size: an ICE candidate (a frame of ≈200 B) and an audio-only
 * SDP in the shape Chromium writes (a frame of ≈3 KB). Fixed text, so every run relays the same bytes.
 */

export type FrameKind = 'candidate' | 'sdp'

export const FRAME_KINDS: readonly FrameKind[] = ['candidate', 'sdp']

export const ICE_CANDIDATE = 'candidate:842163049 1 udp 2122260223 192.168.1.23 61822 typ host generation 0'

const SDP_HEAD = [
  'v=0',
  'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0',
  'a=extmap-allow-mixed',
  'a=msid-semantic: WMS 0b8bd3c2-6c1a-4d8e-9f31-4f2a1c6e9d70',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126',
  'c=IN IP4 0.0.0.0',
  'a=rtcp:9 IN IP4 0.0.0.0',
  'a=ice-ufrag:Xq4f',
  'a=ice-pwd:by4GZGG1lw+040DWA6hXM5Bz',
  'a=ice-options:trickle',
  'a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08',
  'a=setup:actpass',
  'a=mid:0',
  'a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level',
  'a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
  'a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
  'a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid',
  'a=sendrecv',
  'a=msid:0b8bd3c2-6c1a-4d8e-9f31-4f2a1c6e9d70 5d3c1f7e-2a9b-4c61-8e0d-7b2f9a4c3e15',
  'a=rtcp-mux',
  'a=rtcp-rsize',
  'a=rtpmap:111 opus/48000/2',
  'a=rtcp-fb:111 transport-cc',
  'a=fmtp:111 minptime=10;useinbandfec=1',
  'a=rtpmap:63 red/48000/2',
  'a=fmtp:63 111/111',
  'a=rtpmap:9 G722/8000',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:13 CN/8000',
  'a=rtpmap:110 telephone-event/48000',
  'a=rtpmap:126 telephone-event/8000',
  'a=ssrc:3735928559 cname:v3bD8pO1kq2Zr7sT',
  'a=ssrc:3735928559 msid:0b8bd3c2-6c1a-4d8e-9f31-4f2a1c6e9d70 5d3c1f7e-2a9b-4c61-8e0d-7b2f9a4c3e15'
]

/** Host and server-reflexive candidates inlined in the SDP, as a non-trickling offer carries them. */
function sdpCandidate(n: number): string {
  const port = 50000 + n * 7
  return `a=candidate:${1000000000 + n * 7919} 1 udp ${2122260223 - n * 256} 192.168.1.${20 + n} ${port} typ host generation 0 network-id ${n + 1}`
}

/** An SDP whose JSON-escaped text is at least `jsonBytes` long (the frame adds ≈100 B). */
function sdpOfAbout(jsonBytes: number): string {
  const lines = [...SDP_HEAD]
  for (let n = 0; JSON.stringify(lines.join('\r\n') + '\r\n').length < jsonBytes; n++) {
    lines.push(sdpCandidate(n))
  }
  return lines.join('\r\n') + '\r\n'
}

export const SDP = sdpOfAbout(2900)

/** Text that proves the payload of `kind` arrived intact, as it appears inside any JSON frame. */
export function payloadMarker(kind: FrameKind): string {
  return JSON.stringify(kind === 'candidate' ? ICE_CANDIDATE : SDP)
}
