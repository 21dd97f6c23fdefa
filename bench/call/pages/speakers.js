/* global window, document, AudioContext, Audio, MediaStream, RTCPeerConnection */
/**
 * The speakers of the live-speakers workload, all in one page: `start(url, count)` opens `count`
 * channel connections, each a device of the channel protocol (uuid and session id BENCH-i, as
 * `usecontainerid` makes them) that, once a web client joins, offers a receive-only peer
 * connection to it. `live()` counts the connected ones; `tone(indexes)` measures what the listed
 * speakers receive (peak frequency and level), the way the E2E runs do.
 */
;(() => {
  const pcs = []
  const sockets = []
  const streams = []

  function speaker(url, i) {
    const id = `BENCH-${i}`
    const ws = new WebSocket(url, 'ws-channel-v1')
    sockets.push(ws)
    let pc = null
    const send = (data) =>
      ws.send(JSON.stringify({ msgtype: 'data', channeltype: 'webrtcaudio', sessionid: id, data }))
    return new Promise((resolve, reject) => {
      ws.onerror = () => reject(new Error(`speaker ${id}: the channel connection failed`))
      ws.onmessage = async (ev) => {
        const f = JSON.parse(String(ev.data))
        if (f.operation === 'iam') {
          ws.send(
            JSON.stringify({ msgtype: 'request', operation: 'auth', uuid: id, channeltype: 'webrtcaudio' })
          )
        } else if (f.msgtype === 'reply' && f.operation === 'auth') {
          ws.send(
            JSON.stringify({
              msgtype: 'request',
              operation: 'create_session',
              channeltype: 'webrtcaudio',
              sessionid: id
            })
          )
        } else if (f.msgtype === 'reply' && f.operation === 'create_session') {
          resolve()
        } else if (f.msgtype === 'notify' && f.operation === 'join_session') {
          if (pc) pc.close()
          pc = new RTCPeerConnection()
          pcs[i] = pc
          pc.addTransceiver('audio', { direction: 'recvonly' })
          pc.onicecandidate = (e) => {
            if (e.candidate && e.candidate.candidate)
              send({
                type: 'candidate',
                label: e.candidate.sdpMLineIndex,
                id: e.candidate.sdpMid,
                candidate: e.candidate.candidate
              })
          }
          pc.ontrack = (e) => (streams[i] = e.streams[0] || new MediaStream([e.track]))
          const offer = await pc.createOffer()
          await pc.setLocalDescription(offer)
          send({ type: 'offer', sdp: offer.sdp })
        } else if (f.msgtype === 'data' && pc) {
          const d = f.data || {}
          if (d.type === 'answer') await pc.setRemoteDescription({ type: 'answer', sdp: d.sdp || '' })
          else if (d.type === 'candidate' && typeof d.candidate === 'string')
            await pc.addIceCandidate({
              candidate: d.candidate,
              sdpMLineIndex: d.label || 0,
              sdpMid: d.id || null
            })
        }
      }
    })
  }

  async function measure(ctx, stream) {
    // Chromium pulls remote WebRTC audio into WebAudio only while a media element plays it.
    const el = new Audio()
    el.muted = true
    el.srcObject = stream
    await el.play().catch(() => undefined)
    const source = ctx.createMediaStreamSource(stream)
    const analyser = ctx.createAnalyser()
    analyser.fftSize = 8192
    analyser.smoothingTimeConstant = 0
    source.connect(analyser)
    const time = new Float32Array(analyser.fftSize)
    const freq = new Float32Array(analyser.frequencyBinCount)
    const spectrum = new Float32Array(analyser.frequencyBinCount)
    let sum = 0
    let n = 0
    for (let k = 0; k < 12; k++) {
      await new Promise((r) => setTimeout(r, 50))
      analyser.getFloatTimeDomainData(time)
      for (const v of time) sum += v * v
      n += time.length
      analyser.getFloatFrequencyData(freq)
      for (let j = 0; j < freq.length; j++) spectrum[j] += Math.pow(10, freq[j] / 10)
    }
    let best = 1
    for (let j = 1; j < spectrum.length; j++) if (spectrum[j] > spectrum[best]) best = j
    source.disconnect()
    el.srcObject = null
    const rms = Math.sqrt(sum / Math.max(1, n))
    return { peakHz: (best * ctx.sampleRate) / analyser.fftSize, dbfs: rms > 0 ? 20 * Math.log10(rms) : -200 }
  }

  window.benchSpeakers = {
    start: (url, count) =>
      Promise.all(Array.from({ length: count }, (_, i) => speaker(url, i))).then(() => count),
    live: () =>
      pcs.filter((p) => p && (p.iceConnectionState === 'connected' || p.iceConnectionState === 'completed'))
        .length,
    async tone(indexes) {
      const ctx = new AudioContext()
      await ctx.resume()
      const out = []
      for (const index of indexes) {
        const stream = streams[index]
        out.push(stream ? { index, ...(await measure(ctx, stream)) } : { index, peakHz: 0, dbfs: -200 })
      }
      await ctx.close()
      return out
    },
    close() {
      for (const p of pcs) if (p) p.close()
      for (const s of sockets) s.close()
    }
  }
  void document
})()
