// LuxTTS web page: plain JS, no dependencies, talks only to the server that served it.
// Speech is requested as stream_format=sse with response_format=pcm: each speech.audio.delta carries
// base64 16-bit little-endian mono PCM, which is scheduled gap-free on a Web Audio clock as it arrives
// (MediaSource cannot take raw PCM or WAV, and decoding compressed fragments one by one clicks at the joins).
"use strict";

(() => {
  const MAX_CHARS = 4096;
  const MAX_RECORD_SECONDS = 30;
  const $ = (id) => document.getElementById(id);

  const state = {
    model: "luxtts",
    sample: null,        // {blob, filename} chosen for the next voice upload
    recorder: null,
    recordTimer: null,
    run: null,           // the speech request in progress: {abort, player}
    ctx: null,
    urls: [],
  };

  // ---------- messages ----------

  function setStatus(text) { $("status").textContent = text; }

  function showError(text) {
    const el = $("error");
    el.textContent = text;
    el.hidden = false;
  }

  function clearError() {
    const el = $("error");
    el.textContent = "";
    el.hidden = true;
  }

  function formatError(err, status) {
    let msg = (err && err.message) ? String(err.message) : "unknown error";
    if (err && err.param && !msg.includes(err.param)) msg = `${err.param}: ${msg}`;
    const bits = [];
    if (status) bits.push(`HTTP ${status}`);
    if (err && err.code) bits.push(String(err.code));
    return bits.length ? `${msg} (${bits.join(", ")})` : msg;
  }

  // The server answers errors in OpenAI's shape {"error": {"message", "type", "param", "code"}}.
  async function responseError(resp) {
    let text = "";
    try { text = await resp.text(); } catch (_) { /* body already gone */ }
    let msg = null;
    try {
      const body = JSON.parse(text);
      if (body && body.error) msg = formatError(body.error, resp.status);
      else if (body && body.detail) msg = formatError({ message: JSON.stringify(body.detail) }, resp.status);
    } catch (_) { /* not JSON */ }
    if (!msg) msg = `HTTP ${resp.status} ${resp.statusText}${text ? ": " + text.slice(0, 300) : ""}`;
    if (resp.status === 429) {
      const after = resp.headers.get("Retry-After");
      msg += after ? ` The server is busy; try again in ${after} s.` : " The server is busy; try again shortly.";
    }
    if (resp.status === 401) {
      msg += " Enter the server's API key under Options.";
      const key = $("api-key");
      key.closest("details").open = true;
      key.setAttribute("aria-invalid", "true");
    }
    return new Error(msg);
  }

  function authHeaders() {
    const key = $("api-key").value.trim();
    return key ? { Authorization: `Bearer ${key}` } : {};
  }

  async function api(path, options = {}) {
    let resp;
    try {
      resp = await fetch(path, { ...options, headers: { ...authHeaders(), ...(options.headers || {}) } });
    } catch (e) {
      if (e.name === "AbortError") throw e;
      throw new Error(`Cannot reach the server (${e.message}).`);
    }
    if (!resp.ok) throw await responseError(resp);
    return resp;
  }

  function objectUrl(blob) {
    const url = URL.createObjectURL(blob);
    state.urls.push(url);
    return url;
  }

  // ---------- voices ----------

  async function loadVoices(selectId) {
    const select = $("voice");
    const previous = selectId || select.value;
    let voices;
    try {
      const body = await (await api("v1/audio/voices")).json();
      voices = Array.isArray(body.data) ? body.data : [];
    } catch (e) {
      select.replaceChildren(new Option("(voices unavailable)", ""));
      showError(`Could not list voices: ${e.message}`);
      return;
    }
    select.replaceChildren();
    if (!voices.length) select.append(new Option("(no voices yet: add one below)", ""));
    for (const v of voices) {
      const label = v.name && v.name !== v.id ? v.name : v.id;
      select.append(new Option(label, v.id));
    }
    if (previous && voices.some((v) => v.id === previous)) select.value = previous;
    $("delete-voice").disabled = !voices.length;
  }

  async function loadModels() {
    try {
      const body = await (await api("v1/models")).json();
      if (body.data && body.data.length) state.model = body.data[0].id;
      $("server-info").textContent = `Model: ${state.model}`;
    } catch (e) {
      $("server-info").textContent = `Model list unavailable (${e.message})`;
    }
  }

  async function deleteVoice() {
    clearError();
    const select = $("voice");
    if (!select.value) return showError("Choose a voice to delete.");
    const name = select.options[select.selectedIndex].text;
    if (!window.confirm(`Delete the voice "${name}"?`)) return;
    try {
      await api(`v1/audio/voices/${encodeURIComponent(select.value)}`, { method: "DELETE" });
      setStatus(`Deleted voice "${name}".`);
      await loadVoices();
    } catch (e) {
      showError(`Could not delete the voice: ${e.message}`);
    }
  }

  async function uploadVoice(ev) {
    ev.preventDefault();
    clearError();
    const name = $("voice-name").value.trim();
    if (!name) return showError("Name: give the voice a name.");
    if (!state.sample) return showError("Recording: choose an audio file or record one first.");
    const form = new FormData();
    form.append("name", name);
    form.append("audio_sample", state.sample.blob, state.sample.filename);
    const transcript = $("voice-transcript").value.trim();
    if (transcript) form.append("transcript", transcript);
    const button = $("voice-upload");
    button.disabled = true;
    setStatus(`Saving voice "${name}"…`);
    try {
      const voice = await (await api("v1/audio/voices", { method: "POST", body: form })).json();
      await loadVoices(voice.id);
      setStatus(`Saved voice "${voice.name || name}".`);
      $("voice-form").dataset.savedId = voice.id;
    } catch (e) {
      setStatus("Voice not saved.");
      showError(`Could not save the voice: ${e.message}`);
    } finally {
      button.disabled = false;
    }
  }

  function chooseFile() {
    const file = $("voice-file").files[0];
    if (!file) return;
    state.sample = { blob: file, filename: file.name };
    $("record-preview").hidden = true;
    $("record-status").textContent = "";
    if (!$("voice-name").value.trim()) $("voice-name").value = file.name.replace(/\.[^.]*$/, "").slice(0, 64);
  }

  // ---------- microphone ----------

  async function startRecording() {
    clearError();
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.MediaRecorder) {
      return showError("Recording: this browser cannot record here (the microphone needs https or localhost).");
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
      });
    } catch (e) {
      return showError(`Recording: no microphone access (${e.name}: ${e.message}).`);
    }
    const recorder = new MediaRecorder(stream);
    const parts = [];
    const started = performance.now();
    recorder.ondataavailable = (e) => { if (e.data && e.data.size) parts.push(e.data); };
    recorder.onstop = async () => {
      stream.getTracks().forEach((t) => t.stop());
      clearInterval(state.recordTimer);
      state.recorder = null;
      $("record").disabled = false;
      $("record-stop").disabled = true;
      try {
        // Uploaded as WAV: every server-side decoder reads it, whatever container the browser records.
        const wav = await blobToWav(new Blob(parts, { type: recorder.mimeType }));
        state.sample = { blob: wav, filename: "recording.wav" };
        $("voice-file").value = "";
        const preview = $("record-preview");
        preview.src = objectUrl(wav);
        preview.hidden = false;
        const seconds = (wav.size - 44) / 2 / wav.rate;
        $("record-status").textContent = `Recorded ${seconds.toFixed(1)} s. Type what was said, then Save voice.`;
        $("record-status").dataset.seconds = seconds.toFixed(3);
      } catch (e) {
        showError(`Recording: could not decode what the microphone recorded (${e.message}).`);
      }
    };
    recorder.start(250);
    state.recorder = recorder;
    $("record").disabled = true;
    $("record-stop").disabled = false;
    state.recordTimer = setInterval(() => {
      const s = (performance.now() - started) / 1000;
      $("record-status").textContent = `Recording… ${s.toFixed(1)} s`;
      if (s >= MAX_RECORD_SECONDS) stopRecording();
    }, 200);
  }

  function stopRecording() {
    if (state.recorder && state.recorder.state !== "inactive") state.recorder.stop();
  }

  async function blobToWav(blob) {
    const data = await blob.arrayBuffer();
    const ctx = audioContext();
    const audio = await ctx.decodeAudioData(data);
    const mono = new Float32Array(audio.length);
    for (let c = 0; c < audio.numberOfChannels; c++) {
      const ch = audio.getChannelData(c);
      for (let i = 0; i < mono.length; i++) mono[i] += ch[i] / audio.numberOfChannels;
    }
    const pcm = new Int16Array(mono.length);
    for (let i = 0; i < mono.length; i++) pcm[i] = Math.max(-32768, Math.min(32767, Math.round(mono[i] * 32767)));
    const wav = wavBlob([pcm], audio.sampleRate);
    wav.rate = audio.sampleRate;
    return wav;
  }

  // ---------- audio helpers ----------

  function audioContext() {
    if (!state.ctx) state.ctx = new (window.AudioContext || window.webkitAudioContext)();
    return state.ctx;
  }

  function wavBlob(parts, rate) {
    const samples = parts.reduce((n, p) => n + p.length, 0);
    const header = new DataView(new ArrayBuffer(44));
    const ascii = (off, s) => { for (let i = 0; i < s.length; i++) header.setUint8(off + i, s.charCodeAt(i)); };
    ascii(0, "RIFF"); header.setUint32(4, 36 + samples * 2, true); ascii(8, "WAVE");
    ascii(12, "fmt "); header.setUint32(16, 16, true); header.setUint16(20, 1, true); header.setUint16(22, 1, true);
    header.setUint32(24, rate, true); header.setUint32(28, rate * 2, true); header.setUint16(32, 2, true);
    header.setUint16(34, 16, true); ascii(36, "data"); header.setUint32(40, samples * 2, true);
    return new Blob([header.buffer, ...parts], { type: "audio/wav" });
  }

  function base64Bytes(text) {
    const bin = atob(text);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }

  // Turns byte pieces of 16-bit little-endian PCM into Int16Arrays, holding back an odd trailing byte.
  class PcmAssembler {
    constructor() { this.carry = null; }
    push(bytes) {
      if (this.carry !== null) {
        const joined = new Uint8Array(bytes.length + 1);
        joined[0] = this.carry;
        joined.set(bytes, 1);
        bytes = joined;
        this.carry = null;
      }
      const n = bytes.length >> 1;
      if (bytes.length & 1) this.carry = bytes[bytes.length - 1];
      const view = new DataView(bytes.buffer, bytes.byteOffset, n * 2);
      const out = new Int16Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getInt16(2 * i, true);
      return out;
    }
  }

  // Schedules PCM pieces back to back on the audio clock, so they play without gaps as they arrive.
  class StreamPlayer {
    constructor(ctx, rate) {
      this.ctx = ctx;
      this.rate = rate;
      this.next = 0;
      this.sources = new Set();
      this.gain = ctx.createGain();
      this.gain.connect(ctx.destination);
    }
    push(pcm) {
      if (!pcm.length) return;
      const f32 = new Float32Array(pcm.length);
      for (let i = 0; i < pcm.length; i++) f32[i] = pcm[i] / 32768;
      const buf = this.ctx.createBuffer(1, f32.length, this.rate);
      buf.copyToChannel(f32, 0);
      const src = this.ctx.createBufferSource();
      src.buffer = buf;
      src.connect(this.gain);
      const start = Math.max(this.next, this.ctx.currentTime + 0.05);
      src.start(start);
      this.next = start + buf.duration;
      this.sources.add(src);
      src.onended = () => this.sources.delete(src);
    }
    stop() {
      for (const s of this.sources) { try { s.stop(); } catch (_) { /* not started */ } }
      this.sources.clear();
      this.gain.disconnect();
    }
  }

  // Reads a text/event-stream body and calls onEvent with each event's parsed JSON data.
  async function readSse(body, onEvent) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    const flush = (block) => {
      let name = null;
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        else if (line.startsWith("event:")) name = line.slice(6).trim();
      }
      if (!data.length) return;
      const text = data.join("\n");
      if (text === "[DONE]") return;
      let event;
      try { event = JSON.parse(text); } catch (_) { throw new Error(`The server sent an unreadable event: ${text.slice(0, 120)}`); }
      if (name && !event.type) event.type = name;
      onEvent(event);
    };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        flush(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
      }
    }
    buffer += decoder.decode();
    if (buffer.trim()) flush(buffer.replace(/\r\n?/g, "\n"));
  }

  // ---------- speech ----------

  function setStat(id, text) { $(id).textContent = text; }

  function resetOutput() {
    for (const url of state.urls.splice(0)) URL.revokeObjectURL(url);
    for (const id of ["ttfa", "duration", "wall", "rtf"]) setStat(id, "–");
    const stats = $("stats");
    for (const key of Object.keys(stats.dataset)) delete stats.dataset[key];
    $("player").hidden = true;
    $("player").removeAttribute("src");
    $("download").hidden = true;
  }

  function updateCount() {
    const n = $("text").value.length;
    $("text-count").textContent = `${n} / ${MAX_CHARS} characters`;
  }

  function requestBody(rate) {
    const body = {
      model: state.model,
      input: $("text").value,
      voice: $("voice").value,
      response_format: "pcm",
      stream_format: "sse",
      speed: Number($("speed").value || 1),
      sample_rate: rate,
    };
    const seed = $("seed").value.trim();
    if (seed !== "") body.seed = Number(seed);
    const steps = $("steps").value.trim();
    if (steps !== "") body.num_steps = Number(steps);
    return body;
  }

  async function speak(ev) {
    ev.preventDefault();
    clearError();
    if (state.run) return;
    const text = $("text").value;
    if (!text.trim()) return showError("Text: type something to speak.");
    if (text.length > MAX_CHARS) return showError(`Text: at most ${MAX_CHARS} characters (got ${text.length}).`);
    if (!$("voice").value) return showError("Voice: choose a voice first, or add one.");
    const speed = Number($("speed").value || 1);
    if (!(speed >= 0.25 && speed <= 4)) return showError("Speed: must be between 0.25 and 4.");

    resetOutput();
    const rate = Number($("rate").value);
    const stats = $("stats");
    const ctx = audioContext();
    try { await ctx.resume(); } catch (_) { /* playback may stay silent; the download still works */ }
    const run = { abort: new AbortController(), player: new StreamPlayer(ctx, rate), stopped: false };
    state.run = run;
    $("speak").disabled = true;
    $("stop").disabled = false;
    stats.dataset.state = "streaming";
    setStatus("Generating…");

    const pieces = [];
    let samples = 0;
    let firstAt = null;
    let finished = false;
    const t0 = performance.now();
    const assembler = new PcmAssembler();
    const onPcm = (bytes) => {
      const pcm = assembler.push(bytes);
      if (!pcm.length) return;
      if (firstAt === null) {
        firstAt = performance.now();
        setStat("ttfa", `${Math.round(firstAt - t0)} ms`);
        stats.dataset.ttfaMs = String(Math.round(firstAt - t0));
        setStatus("Playing while the rest is generated…");
      }
      pieces.push(pcm);
      samples += pcm.length;
      run.player.push(pcm);
      stats.dataset.samples = String(samples);
      stats.dataset.chunks = String(pieces.length);
      setStat("duration", `${(samples / rate).toFixed(2)} s`);
    };

    try {
      const resp = await api("v1/audio/speech", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
        body: JSON.stringify(requestBody(rate)),
        signal: run.abort.signal,
      });
      const type = resp.headers.get("Content-Type") || "";
      if (type.startsWith("text/event-stream")) {
        await readSse(resp.body, (event) => {
          if (event.type === "speech.audio.delta") onPcm(base64Bytes(event.audio || event.delta || ""));
          else if (event.type === "speech.audio.done") { finished = true; run.usage = event.usage; }
          else if (event.type === "error" || event.error) throw new Error(formatError(event.error || event));
        });
      } else {
        // A server that answers with the audio itself: read the raw PCM as it comes.
        const reader = resp.body.getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          onPcm(value);
        }
        finished = true;
      }
      if (!finished) throw new Error("The stream ended before speech.audio.done; the audio is incomplete.");
      if (!samples) throw new Error("The server finished without sending any audio.");
      await finish(run, pieces, samples, rate, t0);
      stats.dataset.state = "done";
      setStatus(`Done: ${(samples / rate).toFixed(2)} s of audio.`);
    } catch (e) {
      if (run.stopped || e.name === "AbortError") {
        stats.dataset.state = "stopped";
        setStatus("Stopped.");
        if (samples) await finish(run, pieces, samples, rate, t0);
      } else {
        stats.dataset.state = "error";
        run.abort.abort();  // tells the server to stop spending compute on this request
        run.player.stop();
        setStatus("Failed.");
        showError(`Speech failed: ${e.message}`);
        if (samples) await finish(run, pieces, samples, rate, t0);
      }
    } finally {
      state.run = null;
      $("speak").disabled = false;
      $("stop").disabled = true;
    }
  }

  async function finish(run, pieces, samples, rate, t0) {
    const wall = (performance.now() - t0) / 1000;
    const seconds = samples / rate;
    setStat("wall", `${wall.toFixed(2)} s`);
    setStat("rtf", (wall / seconds).toFixed(3));
    const stats = $("stats");
    stats.dataset.sampleRate = String(rate);
    stats.dataset.rtf = (wall / seconds).toFixed(4);
    const wav = wavBlob(pieces, rate);
    const url = objectUrl(wav);
    const player = $("player");
    player.src = url;
    player.hidden = false;
    const link = $("download");
    link.href = url;
    link.download = `luxtts-${new Date().toISOString().replace(/[:.]/g, "-")}.wav`;
    link.hidden = false;
    // Proof that the browser itself can play what arrived: decode the WAV at its own rate.
    try {
      const decoded = await new OfflineAudioContext(1, 1, rate).decodeAudioData(await wav.arrayBuffer());
      stats.dataset.decodedSamples = String(decoded.length);
    } catch (e) {
      stats.dataset.decodedSamples = "0";
      showError(`The browser could not decode the result: ${e.message}`);
    }
  }

  function stop() {
    const run = state.run;
    if (!run) return;
    run.stopped = true;
    run.abort.abort();
    run.player.stop();
  }

  // Until the model is loaded the server answers speech with 503: say so rather than let a click fail.
  async function watchReady() {
    for (let wait = 1000; ; wait = Math.min(wait * 1.5, 5000)) {
      let body = null;
      try {
        const resp = await fetch("ready");
        body = await resp.json().catch(() => null);
        if (resp.ok) {
          if ($("status").dataset.loading) { delete $("status").dataset.loading; setStatus("Ready."); }
          return;
        }
      } catch (_) { /* server restarting: keep asking */ }
      $("status").dataset.loading = "1";
      setStatus(`The server is not ready yet (${body && body.status ? body.status : "unreachable"}); waiting…`);
      await new Promise((r) => setTimeout(r, wait));
    }
  }

  // ---------- wiring ----------

  document.addEventListener("DOMContentLoaded", () => {
    $("voice-form").addEventListener("submit", uploadVoice);
    $("speech-form").addEventListener("submit", speak);
    $("voice-file").addEventListener("change", chooseFile);
    $("record").addEventListener("click", startRecording);
    $("record-stop").addEventListener("click", stopRecording);
    $("refresh-voices").addEventListener("click", () => { clearError(); loadVoices(); });
    $("delete-voice").addEventListener("click", deleteVoice);
    $("stop").addEventListener("click", stop);
    $("text").addEventListener("input", updateCount);
    // Enter in the key field applies the key (fires change) instead of submitting the speech form.
    $("api-key").addEventListener("keydown", (e) => {
      if (e.key === "Enter") { e.preventDefault(); e.target.blur(); }
    });
    $("api-key").addEventListener("change", () => {
      $("api-key").removeAttribute("aria-invalid");
      clearError();
      loadModels();
      loadVoices();
    });
    updateCount();
    watchReady();
    Promise.all([loadModels(), loadVoices()]).then(() => { document.body.dataset.ready = "1"; });
  });
})();
