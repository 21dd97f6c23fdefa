import { describe, expect, it } from 'vitest'
import { ResultCode, candidatePayload, frames, parseFrame, readSignal } from '../../src/shared/protocol'

// Every sample frame of PROTOCOL.md, verbatim (the "…" placeholders filled in with values).
const SAMPLES: Record<string, string> = {
  iam: '{"msgtype":"notify","operation":"iam","channeltype":"system"}',
  auth: '{"msgtype":"request","operation":"auth","uuid":"<containerid>","channeltype":"webrtcaudio"}',
  authReply:
    '{"msgtype":"reply","operation":"auth","channeltype":"system","result_cd":200,"result_msg":"authorized"}',
  rasAlive: '{"msgtype":"notify","operation":"ras_alive","channeltype":"system"}',
  create:
    '{"msgtype":"request","operation":"create_session","channeltype":"webrtcaudio","uuid":"K0000000","trxid":"K0000000:1501463079077:00002"}',
  createChosen:
    '{"msgtype":"request","operation":"create_session","channeltype":"webrtcaudio","uuid":"K0000000","trxid":"t1","sessionid":"abcd"}',
  createReply:
    '{"msgtype":"reply","operation":"create_session","result_cd":200,"result_msg":"Success","sessionid":"abcd","trxid":"t1"}',
  join: '{"msgtype":"request","operation":"join_session","channeltype":"webrtcaudio","sessionid":"abcd","uuid":"web","trxid":"FromWeb:1"}',
  joinReply:
    '{"msgtype":"reply","operation":"join_session","result_cd":200,"result_msg":"Success","trxid":"FromWeb:1"}',
  joinNotify:
    '{"msgtype":"notify","operation":"join_session","sessionid":"abcd","channeltype":"webrtcaudio"}',
  destroy:
    '{"msgtype":"request","operation":"destroy_session","channeltype":"webrtcaudio","sessionid":"abcd","uuid":"K0000000","trxid":"t2"}',
  destroyReply:
    '{"msgtype":"reply","operation":"destroy_session","result_cd":200,"result_msg":"Success","trxid":"t2"}',
  destroyNotify:
    '{"msgtype":"notify","operation":"destroy_session","sessionid":"abcd","channeltype":"webrtcaudio"}',
  leaveNotify:
    '{"msgtype":"notify","operation":"leave_session","sessionid":"abcd","channeltype":"webrtcaudio"}',
  data: '{"msgtype":"data","channeltype":"webrtcaudio","sessionid":"abcd","data":{"type":"offer","sdp":"v=0"}}'
}

describe('parseFrame accepts every sample frame of PROTOCOL.md', () => {
  for (const [name, text] of Object.entries(SAMPLES)) {
    it(name, () => {
      const r = parseFrame(text)
      expect(r.ok).toBe(true)
      if (r.ok) expect(r.frame).toEqual(JSON.parse(text))
    })
  }
})

describe('builders produce exactly the documented frames', () => {
  const same = (built: unknown, sample: string): void => expect(JSON.stringify(built)).toBe(sample)
  it('server frames', () => {
    same(frames.iam(), SAMPLES.iam!)
    same(frames.authReply(), SAMPLES.authReply!)
    same(frames.rasAlive(), SAMPLES.rasAlive!)
    same(frames.createReply({ sessionid: 'abcd', trxid: 't1' }), SAMPLES.createReply!)
    same(frames.successReply('join_session', 'FromWeb:1'), SAMPLES.joinReply!)
    same(frames.successReply('destroy_session', 't2'), SAMPLES.destroyReply!)
    same(frames.sessionNotify('join_session', 'abcd', 'webrtcaudio'), SAMPLES.joinNotify!)
    same(frames.sessionNotify('destroy_session', 'abcd', 'webrtcaudio'), SAMPLES.destroyNotify!)
    same(frames.sessionNotify('leave_session', 'abcd', 'webrtcaudio'), SAMPLES.leaveNotify!)
  })
  it('client frames', () => {
    same(frames.authRequest({ uuid: '<containerid>' }), SAMPLES.auth!)
    same(frames.data({ sessionid: 'abcd', data: { type: 'offer', sdp: 'v=0' } }), SAMPLES.data!)
    expect(frames.createRequest({ uuid: 'K0000000', trxid: 't1', sessionid: 'abcd' })).toEqual(
      JSON.parse(SAMPLES.createChosen!)
    )
    expect(frames.joinRequest({ uuid: 'web', sessionid: 'abcd', trxid: 'FromWeb:1' })).toEqual(
      JSON.parse(SAMPLES.join!)
    )
    expect(frames.destroyRequest({ uuid: 'K0000000', sessionid: 'abcd', trxid: 't2' })).toEqual(
      JSON.parse(SAMPLES.destroy!)
    )
  })
  it('omits a missing trxid instead of sending undefined', () => {
    expect('trxid' in frames.successReply('join_session')).toBe(false)
  })
})

describe('parseFrame rejects malformed frames precisely', () => {
  const table: [string, string, number, string | undefined][] = [
    ['not JSON', 'hello', ResultCode.BAD_REQUEST, undefined],
    ['truncated JSON', '{"msgtype":"request"', ResultCode.BAD_REQUEST, undefined],
    ['array', '[1,2]', ResultCode.BAD_REQUEST, undefined],
    ['number', '42', ResultCode.BAD_REQUEST, undefined],
    ['null', 'null', ResultCode.BAD_REQUEST, undefined],
    ['string', '"x"', ResultCode.BAD_REQUEST, undefined],
    ['missing msgtype', '{"operation":"auth"}', ResultCode.BAD_REQUEST, 'msgtype'],
    ['unknown msgtype', '{"msgtype":"shout"}', ResultCode.BAD_REQUEST, 'msgtype'],
    ['request without operation', '{"msgtype":"request"}', ResultCode.BAD_REQUEST, 'operation'],
    ['operation not a string', '{"msgtype":"request","operation":7}', ResultCode.BAD_REQUEST, 'operation'],
    ['uuid an object', '{"msgtype":"request","operation":"auth","uuid":{}}', ResultCode.BAD_REQUEST, 'uuid'],
    [
      'sessionid an array',
      '{"msgtype":"data","sessionid":[],"data":{}}',
      ResultCode.BAD_REQUEST,
      'sessionid'
    ],
    ['data without payload', '{"msgtype":"data","sessionid":"a"}', ResultCode.BAD_REQUEST, 'data'],
    [
      'data without payload but its key elsewhere',
      '{"msgtype":"data","x":{"data":{}}}',
      ResultCode.BAD_REQUEST,
      'data'
    ],
    ['reply without result_cd', '{"msgtype":"reply","operation":"auth"}', ResultCode.BAD_REQUEST, 'result_cd']
  ]
  for (const [name, text, code, field] of table) {
    it(name, () => {
      const r = parseFrame(text)
      expect(r.ok).toBe(false)
      if (!r.ok) {
        expect(r.error.result_cd).toBe(code)
        expect(r.error.field).toBe(field)
        if (field) expect(r.error.result_msg).toContain(field)
      }
    })
  }
  it('keeps the trxid of a bad request so the error can echo it', () => {
    const r = parseFrame('{"msgtype":"request","trxid":"X:1"}')
    expect(!r.ok && r.error.partial?.trxid).toBe('X:1')
  })
  it('ignores unknown keys and accepts numeric ids', () => {
    const r = parseFrame('{"msgtype":"request","operation":"join_session","sessionid":1234,"extra":[1]}')
    expect(r.ok && r.frame.sessionid).toBe('1234')
  })
})

describe('WebRTC payloads', () => {
  it('reads the reference candidate shape', () => {
    expect(
      readSignal({
        type: 'candidate',
        label: 0,
        id: 'audio',
        candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host'
      })
    ).toEqual({
      type: 'candidate',
      candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host',
      sdpMid: 'audio',
      sdpMLineIndex: 0
    })
  })
  it('reads the standard candidate shape', () => {
    expect(
      readSignal({
        type: 'candidate',
        candidate: { candidate: 'candidate:x', sdpMid: '0', sdpMLineIndex: 1 }
      })
    ).toEqual({
      type: 'candidate',
      candidate: 'candidate:x',
      sdpMid: '0',
      sdpMLineIndex: 1
    })
  })
  it('reads the KT shape: top-level sdpMid / sdpMLineIndex beside a string candidate', () => {
    expect(
      readSignal({ type: 'candidate', candidate: 'candidate:y', sdpMid: 'audio', sdpMLineIndex: 2 })
    ).toEqual({ type: 'candidate', candidate: 'candidate:y', sdpMid: 'audio', sdpMLineIndex: 2 })
  })
  it('writes the reference shape', () => {
    expect(candidatePayload({ candidate: 'candidate:x', sdpMid: '0', sdpMLineIndex: 0 })).toEqual({
      type: 'candidate',
      label: 0,
      id: '0',
      candidate: 'candidate:x'
    })
  })
  it('reads offer, answer and bye, and ignores the unknown', () => {
    expect(readSignal({ type: 'offer', sdp: 'v=0' })).toEqual({ type: 'offer', sdp: 'v=0' })
    expect(readSignal({ type: 'answer', sdp: 'v=0' })).toEqual({ type: 'answer', sdp: 'v=0' })
    expect(readSignal({ type: 'bye' })).toEqual({ type: 'bye' })
    expect(readSignal({ type: 'offer' })).toBeNull()
    expect(readSignal({ type: 'dance' })).toBeNull()
    expect(readSignal('x')).toBeNull()
  })
})
