/* global window, document, AudioContext, MediaStream, RTCPeerConnection */
/**
 * Measuring code injected into every page of the call-setup workload (the app's and the bare ones)
 * as an init script, so that both are timed by the same code, in the page, on the page's own clock.
 *
 * - watchReady(selector): records when an element matching `selector` first exists, in ms since
 *   navigation start (performance.now() of a document counts from its navigation start).
 * - armCall(options): from the click on `button` (seen in the capture phase at the window, before
 *   any handler of the page) until the <audio> element `audio` plays a tone: its stream polled every
 *   few ms with an AnalyserNode, heard when its level is above `minDbfs` with the spectrum's peak
 *   within `toleranceHz` of `hz`. The AudioContext is created and resumed when armed, before the
 *   click, so that neither side pays for starting it.
 * - marks: when the page's WebRTC steps happened (descriptions set, microphone requested and
 *   granted, candidates gathered and added, ICE connected), as wall-clock ms (timeOrigin + now, comparable across the pages of
 *   one machine), to split a call's time into phases. Recorded by wrapping the browser's own APIs,
 *   the same way in the app's pages and the bare ones.
 */
;(() => {
  const wallClock = () => performance.timeOrigin + performance.now()
  const probe = {
    readyAt: null,
    call: null,
    marks: [],

    mark(name) {
      probe.marks.push({ name, at: wallClock() })
    },

    takeMarks() {
      const marks = probe.marks
      probe.marks = []
      return marks
    },

    watchReady(selector) {
      const check = () => {
        if (probe.readyAt !== null || !document.querySelector(selector)) return
        probe.readyAt = performance.now()
        observer.disconnect()
      }
      const observer = new window.MutationObserver(check)
      observer.observe(document, { subtree: true, childList: true, attributes: true })
      check()
    },

    async armCall({ button, audio, hz, toleranceHz, minDbfs, pollMs, timeoutMs }) {
      const state = {
        clickAt: null,
        trackAt: null,
        heardAt: null,
        peakHz: 0,
        dbfs: -200,
        polls: 0,
        error: null
      }
      probe.call = state
      const ctx = new AudioContext()
      await ctx.resume()
      const analyser = ctx.createAnalyser()
      analyser.fftSize = 2048
      analyser.smoothingTimeConstant = 0
      const time = new Float32Array(analyser.fftSize)
      const freq = new Float32Array(analyser.frequencyBinCount)
      let source = null
      let timer = null
      // A stream still attached from an earlier call is not this call's.
      const stale = (document.querySelector(audio) || {}).srcObject || null

      const finish = (error) => {
        if (timer !== null) window.clearInterval(timer)
        timer = null
        if (error) state.error = error
        if (source) source.disconnect()
        void ctx.close()
      }

      const poll = () => {
        const now = performance.now()
        if (now - state.clickAt > timeoutMs) return finish(`no tone within ${timeoutMs} ms`)
        const el = document.querySelector(audio)
        const stream = el && el.srcObject
        if (!source) {
          if (!(stream instanceof MediaStream) || stream === stale || stream.getAudioTracks().length === 0)
            return
          state.trackAt = now
          source = ctx.createMediaStreamSource(stream)
          source.connect(analyser)
          return
        }
        state.polls++
        analyser.getFloatTimeDomainData(time)
        let sum = 0
        for (let i = 0; i < time.length; i++) sum += time[i] * time[i]
        const rms = Math.sqrt(sum / time.length)
        const dbfs = rms > 0 ? 20 * Math.log10(rms) : -200
        analyser.getFloatFrequencyData(freq)
        let best = 1
        for (let i = 2; i < freq.length; i++) if (freq[i] > freq[best]) best = i
        const peakHz = (best * ctx.sampleRate) / analyser.fftSize
        if (dbfs > minDbfs && Math.abs(peakHz - hz) <= toleranceHz) {
          state.heardAt = now
          state.heardWall = wallClock()
          state.peakHz = peakHz
          state.dbfs = dbfs
          finish(null)
        }
      }

      const onClick = (event) => {
        const target = event.target
        if (!(target instanceof window.Element) || !target.closest(button)) return
        window.removeEventListener('click', onClick, true)
        state.clickAt = performance.now()
        state.clickWall = wallClock()
        timer = window.setInterval(poll, pollMs)
      }
      window.addEventListener('click', onClick, true)
    }
  }
  window.__callProbe = probe

  const proto = RTCPeerConnection.prototype
  const setLocal = proto.setLocalDescription
  proto.setLocalDescription = async function (...args) {
    if (!this.__probedCandidates) {
      this.__probedCandidates = true
      this.addEventListener('icecandidate', (ev) => {
        if (ev.candidate && ev.candidate.candidate) probe.mark('candidate gathered')
      })
    }
    const result = await setLocal.apply(this, args)
    probe.mark(`${this.localDescription ? this.localDescription.type : 'description'} set locally`)
    return result
  }
  const setRemote = proto.setRemoteDescription
  proto.setRemoteDescription = async function (description, ...rest) {
    probe.mark(`${description && description.type} received`)
    return setRemote.call(this, description, ...rest)
  }
  const addIceCandidate = proto.addIceCandidate
  proto.addIceCandidate = async function (...args) {
    const result = await addIceCandidate.apply(this, args)
    probe.mark('candidate added')
    return result
  }
  const addTransceiver = proto.addTransceiver
  proto.addTransceiver = function (...args) {
    if (!this.__probed) {
      this.__probed = true
      this.addEventListener('iceconnectionstatechange', () => {
        if (this.iceConnectionState === 'connected') probe.mark('ICE connected')
      })
    }
    return addTransceiver.apply(this, args)
  }
  if (navigator.mediaDevices) {
    const getUserMedia = navigator.mediaDevices.getUserMedia
    navigator.mediaDevices.getUserMedia = async function (...args) {
      probe.mark('microphone requested')
      const stream = await getUserMedia.apply(this, args)
      probe.mark('microphone open')
      return stream
    }
  }
})()
