// The canvas's generator in the visitor's browser (ONNX Runtime Web, vendored beside this file; see
// pix2pix_hub/browser_inference.py for the routes). sketch_canvas.js imports this module and, per stroke, calls
// translate(pixels) first: it answers {image, status} when the browser ran the model, or null, and then the
// stroke goes to the server as before. One line under the result says which one ran; a checkbox turns it off.
// Pre/post-processing is the server's (tiling.read_tile / from_model) in float32: u8 * f32(2/255) - 1 in,
// rint(clip((y + 1) * 0.5, 0, 1) * 255) out; the server only offers the model when no resize/padding/tiles apply.
const BASE = new URL('.', import.meta.url);            // /p2p/static/: the runtime's files too
const APP = new URL('../../', import.meta.url);        // the app's root
const CACHE = 'pix2pix-hub-onnx-v1';
const STORE = 'pix2pix-hub-browser-inference';
// wasm-feature-detect's SIMD probe: ONNX Runtime Web ships SIMD builds only.
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8,
  0, 65, 0, 253, 15, 253, 98, 11]);
const f32 = Math.fround;
const TWO_OVER_255 = f32(2 / 255);

function capability() {
  if (typeof WebAssembly !== 'object' || !WebAssembly.validate) return 'this browser has no WebAssembly';
  try { if (!WebAssembly.validate(SIMD_PROBE)) return 'this browser has no WebAssembly SIMD'; } catch (e) {
    return 'this browser has no WebAssembly SIMD';
  }
  return null;
}

async function hardwareGpu() {
  // A fallback adapter is a CPU emulating a GPU (SwiftShader): headless Chromium's took 9.1 s a stroke for the
  // bundled model where WASM takes 95 ms, so only a real GPU's adapter is worth the WebGPU build.
  if (!navigator.gpu) return false;
  try {
    const adapter = await navigator.gpu.requestAdapter();
    return Boolean(adapter) && !((adapter.info && adapter.info.isFallbackAdapter) || adapter.isFallbackAdapter);
  } catch (error) {
    return false;
  }
}

function rint(x) {  // numpy's rint: halves to even
  const r = Math.round(x);
  return Math.abs(x - Math.trunc(x)) === 0.5 ? 2 * Math.round(x / 2) : r;
}

async function download(url, onProgress) {
  // The Cache API keeps the file across visits (its URL is its hash); progress shows on the first one.
  const cache = typeof caches === 'object' ? await caches.open(CACHE).catch(() => null) : null;
  const kept = cache && await cache.match(url);
  if (kept) return new Uint8Array(await kept.arrayBuffer());
  const response = await fetch(url);
  if (!response.ok) throw new Error(`the model file answered ${response.status}`);
  const total = +response.headers.get('content-length') || 0;
  const reader = response.body.getReader();
  const parts = [];
  let received = 0;
  for (;;) {
    const {done, value} = await reader.read();
    if (done) break;
    parts.push(value);
    received += value.length;
    onProgress(received, total);
  }
  const bytes = new Uint8Array(received);
  let at = 0;
  for (const part of parts) { bytes.set(part, at); at += part.length; }
  if (cache) await cache.put(url, new Response(bytes, {headers: {'content-type': 'application/octet-stream'}}));
  return bytes;
}

let runtime = null;
function loadRuntime(webgpu) {
  if (!runtime) {
    runtime = import(new URL(webgpu ? 'ort.webgpu.min.mjs' : 'ort.wasm.min.mjs', BASE).href).then((ort) => {
      ort.env.wasm.wasmPaths = BASE.href;  // the app's own copy, never a CDN
      // Threads need SharedArrayBuffer, which only a cross-origin-isolated page has.
      ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
      ort.env.wasm.proxy = false;
      return ort;
    });
  }
  return runtime;
}

export function attach({root, size, props}) {
  const where = document.createElement('p');
  where.className = 'p2p-where';
  where.innerHTML = '<label><input type="checkbox">run the model in my browser</label> · <span></span>';
  (root.querySelector('.p2p-result') || root).appendChild(where);
  const box = where.querySelector('input');
  const text = where.querySelector('span');
  box.checked = localStorage.getItem(STORE) !== 'off';
  const unable = capability();
  const models = new Map();  // "model|direction|resolution" -> {ready, session, reason, provider, progress}

  function say(place, detail) {
    root.dataset.where = place;
    text.textContent = (place === 'browser' ? 'runs in your browser' : 'runs on the server') +
      (detail ? ` (${detail})` : '');
  }
  const keyOf = () => [props.model || '', props.direction || 'AtoB', props.resolution || 'default'].join('|');

  async function prepare(key) {
    const entry = {ready: false, reason: 'loading the model into your browser'};
    models.set(key, entry);
    try {
      const [model, direction, resolution] = key.split('|');
      const query = new URLSearchParams({model, direction, resolution, size: String(size)});
      const info = await (await fetch(new URL(`p2p/browser-model?${query}`, APP))).json();
      if (!info.browser) { entry.reason = info.reason; return entry; }
      const webgpu = Boolean(info.webgpu && await hardwareGpu());
      const [ort, bytes] = await Promise.all([loadRuntime(webgpu), download(new URL(info.url, APP).href,
        (got, total) => {
          entry.reason = `downloading the model: ${(got / 1e6).toFixed(1)}${total ? ` / ${(total / 1e6).toFixed(1)}` : ''} MB`;
          if (key === keyOf() && box.checked) say('server', entry.reason);
        })]);
      entry.provider = webgpu ? 'webgpu' : 'wasm';
      entry.session = await ort.InferenceSession.create(bytes, {executionProviders: webgpu ? ['webgpu', 'wasm'] : ['wasm']});
      Object.assign(entry, {ready: true, ort, outChannels: info.out_channels});
      root.dataset.browserReady = key;
      if (key === keyOf() && box.checked) say('browser', entry.provider);
    } catch (error) {
      entry.reason = `the browser could not run it: ${error && error.message ? error.message : error}`;
    }
    return entry;
  }

  function current() {
    if (!box.checked) return {reason: 'switched off'};
    if (unable) return {reason: unable};
    const key = keyOf();
    return models.get(key) || {reason: 'loading the model into your browser', pending: prepare(key)};
  }
  function show() {
    const entry = current();
    if (entry.ready) say('browser', entry.provider); else say('server', entry.reason);
  }
  box.addEventListener('change', () => { localStorage.setItem(STORE, box.checked ? 'on' : 'off'); show(); });
  show();

  async function translate(rgba) {
    const entry = current();
    if (!entry.ready) { say('server', entry.reason); return null; }
    const start = performance.now();
    const plane = size * size;
    const input = new Float32Array(3 * plane);
    for (let i = 0; i < plane; i++) {
      for (let c = 0; c < 3; c++) input[c * plane + i] = f32(f32(rgba[4 * i + c] * TWO_OVER_255) - 1);
    }
    let result;
    try {
      const feeds = {image: new entry.ort.Tensor('float32', input, [1, 3, size, size])};
      result = (await entry.session.run(feeds)).output;
    } catch (error) {
      Object.assign(entry, {ready: false, reason: `the browser could not run it: ${error.message || error}`});
      say('server', entry.reason);
      return null;
    }
    const y = result.data;
    const image = new ImageData(size, size);
    const channels = entry.outChannels;
    for (let i = 0; i < plane; i++) {
      for (let c = 0; c < 3; c++) {
        const v = y[(channels === 1 ? 0 : c) * plane + i];
        const unit = Math.min(1, Math.max(0, f32(f32(v + 1) * 0.5)));
        image.data[4 * i + c] = rint(f32(unit * 255));
      }
      image.data[4 * i + 3] = 255;
    }
    const canvas = document.createElement('canvas');
    canvas.width = canvas.height = size;
    canvas.getContext('2d').putImageData(image, 0, 0);
    const ms = performance.now() - start;
    say('browser', entry.provider);
    root.dataset.browserRuns = String((+root.dataset.browserRuns || 0) + 1);
    return {image: canvas.toDataURL('image/png'), status: `✅ ${size}×${size} in ${ms.toFixed(0)} ms in your browser (${entry.provider})`};
  }
  return {translate};
}
