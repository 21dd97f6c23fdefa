import { describe, expect, it } from 'vitest'
import { ktWarnings } from '../../src/shared/kt-conformance'
import { frames, parseFrame } from '../../src/shared/protocol'

function parsed(text: string): ReturnType<typeof frames.data> {
  const r = parseFrame(text)
  if (!r.ok) throw new Error(r.error.result_msg)
  return r.frame as ReturnType<typeof frames.data>
}

describe('what the public service documents (strict KT mode)', () => {
  it("passes the guide's own frames", () => {
    for (const text of [
      '{"msgtype":"request","operation":"auth","uuid":"K0000000","channeltype":"webrtcaudio"}',
      '{"msgtype":"reply","operation":"auth","channeltype":"system","result_cd":200,"result_msg":"authorized"}',
      '{"msgtype":"request","operation":"create_session","channeltype":"webrtcaudio","uuid":"K0000000","trxid":"K0000000:1501463079077:00002"}',
      '{"msgtype":"notify","operation":"join_session","sessionid":"s","channeltype":"webrtcaudio"}',
      '{"msgtype":"notify","operation":"ras_alive","channeltype":"system"}',
      '{"msgtype":"data","channeltype":"webrtcaudio","sessionid":"s","data":{"type":"offer","sdp":"v=0"}}',
      '{"msgtype":"data","sessionid":"s","data":{"type":"candidate","label":0,"id":"0","candidate":"candidate:1"}}'
    ]) {
      expect(ktWarnings(parsed(text))).toEqual([])
    }
  })

  it('flags our own keys, operations and payloads', () => {
    expect(
      ktWarnings(
        parsed(
          '{"msgtype":"reply","operation":"join_session","result_cd":200,"result_msg":"Success","resumetoken":"x"}'
        )
      )
    ).toEqual([{ kind: 'extraKeys', keys: ['resumetoken'] }])
    expect(ktWarnings(parsed('{"msgtype":"notify","operation":"leave_session","sessionid":"s"}'))).toEqual([
      { kind: 'operation', operation: 'leave_session' }
    ])
    expect(
      ktWarnings(parsed('{"msgtype":"data","sessionid":"s","delivery":{"seq":1},"data":{"type":"bye"}}'))
    ).toEqual([
      { kind: 'extraKeys', keys: ['delivery'] },
      { kind: 'payload', type: 'bye' }
    ])
    expect(ktWarnings(parsed('{"msgtype":"data","sessionid":"s","data":null}'))).toEqual([
      { kind: 'payload', type: 'null' }
    ])
  })
})
