// AnimeGAN WebUI, private mode: the style models run in this page with onnxruntime-web; photos and camera
// frames never leave the device. Served by the app (browser_runtime/); the runtime and the models come from
// the same origin. The steps mirror the engine so results match the server's:
//   animegan/resample.py (OpenCV INTER_AREA / INTER_CUBIC), animegan/stylizer.py (reflect padding to the size
//   rule, or a fixed size; value range; crop; clip), animegan/grades.py (the neon grade), animegan/temporal.py
//   (the stabilizer, without optical flow: the cheaper equivalent for a live preview).
//
// window.animeganLocal:
//   ready                         Promise, resolved once the style list is loaded
//   supported()                   whether this browser can run the models (WebAssembly)
//   styles()                      the styles that run locally: [{id, label, cost, ...}] (offline: the kept ones)
//   offline()                     true when the server did not answer and this page is the copy kept here
//   keep(styleId)                 → Promise, resolved once that style works offline (app and model stored, verified)
//   forget(styleId)               → Promise, resolved once its stored model is removed
//   kept()                        → Promise<[{id, label, bytes, sha256, kept_at}]>, the styles kept on this device
//   offlineReady()                → Promise<{version, stored, failed}>, once the app itself is stored for offline use
//   synced                        Promise, resolved once the kept models match the server's (online)
//   stylize(imageData, styleId, {maxSide})  → Promise<ImageData> of the same size
//   backend()                     {name: 'webgpu' | 'wasm', threads}
//   Smoother                      temporal smoothing for a stream of frames
//   ui                            the page's own panels (private switch, live preview)

const BASE = new URL('.', import.meta.url);
const ROOT = new URL('..', BASE); // the app's root: the service worker's scope
const MODELS = 'animegan-models'; // Cache Storage of the kept styles (sw.js leaves it to this module)
const LUMA = [0.299, 0.587, 0.114];
const NEON_STOPS = [0.0, 0.30, 0.60, 0.85, 1.0];
const NEON_COLORS = [[0.02, 0.06, 0.14], [0.02, 0.32, 0.45], [0.52, 0.18, 0.78], [1.00, 0.36, 0.78], [1.00, 0.90, 0.96]];
const LIVE_SMOOTHING = 0.5;        // as animegan.live.LIVE_SMOOTHING
const CUT_HISTOGRAM_DISTANCE = 0.5; // as animegan.temporal
const CUT_UNTRUSTED_FRACTION = 0.6;
const ERROR_SCALE = 0.05;
const SKIP_THRESHOLD = 1.5;        // mean |Δ| (0..255) of a 32×24 grey thumbnail: below it a frame "barely changed"
const FPS_WINDOW_MS = 2000;

const state = { manifest: null, ortPromise: null, backend: null, threads: 1, sessions: new Map(), queue: Promise.resolve(),
                offline: false, keptIds: new Set(), listeners: new Set(), shell: null };

function supported() {
  return typeof WebAssembly === 'object' && typeof WebAssembly.instantiate === 'function';
}

async function loadManifest() {
  const r = await fetch(new URL('styles.json', BASE), { cache: 'no-store' });
  if (!r.ok) throw new Error(`the list of local styles could not be loaded (${r.status})`);
  state.offline = r.headers.get('X-AnimeGAN-Offline') === '1'; // the service worker's copy: no server
  state.manifest = await r.json();
  await refreshKept();
  return state.manifest;
}

const ready = loadManifest();
ready.catch((err) => console.warn('animeganLocal:', err.message));

function offline() {
  return state.offline;
}

function styles() {
  if (!state.manifest || !state.manifest.runtime || !supported()) return [];
  return state.manifest.styles.filter((s) => s.local && (!state.offline || state.keptIds.has(s.id)));
}

function styleById(id) {
  const st = state.manifest && state.manifest.styles.find((s) => s.id === id);
  if (!st) throw new Error(`unknown style '${id}'`);
  if (!supported()) throw new Error('this browser has no WebAssembly, so styles cannot run on this device');
  if (!state.manifest.runtime) throw new Error(`private mode is unavailable: ${state.manifest.runtime_reason}`);
  if (!st.local) throw new Error(`${st.label} does not run on this device: ${st.reason}`);
  if (state.offline && !state.keptIds.has(st.id)) {
    throw new Error(`${st.label} is not kept on this device, and the server is not reachable: keep a style for ` +
      'offline use while the server is reachable');
  }
  return st;
}

// ---- the runtime and the models ------------------------------------------------------------------

async function runtime() {
  if (!state.ortPromise) {
    state.ortPromise = (async () => {
      state.backend = 'wasm';
      if (navigator.gpu) {
        try {
          if (await navigator.gpu.requestAdapter()) state.backend = 'webgpu';
        } catch (err) {
          console.info('animeganLocal: no WebGPU adapter', err);
        }
      }
      // Without WebGPU the WebAssembly-only build: half the download and compile of the WebGPU one. Offline the
      // WebGPU build may not be stored (the app stores the WebAssembly one when installed): then that one.
      let ort;
      try {
        ort = await import(new URL(state.backend === 'webgpu' ? 'ort/ort.min.mjs' : 'ort/ort.wasm.min.mjs', BASE).href);
      } catch (err) {
        if (state.backend !== 'webgpu') throw err;
        console.info('animeganLocal: the WebGPU build did not load, using WebAssembly', err);
        state.backend = 'wasm';
        ort = await import(new URL('ort/ort.wasm.min.mjs', BASE).href);
      }
      ort.env.wasm.wasmPaths = new URL('ort/', BASE).href;
      // Threads need SharedArrayBuffer, which needs the page cross-origin isolated (the app sends COOP/COEP).
      state.threads = self.crossOriginIsolated ? Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1)) : 1;
      ort.env.wasm.numThreads = state.threads;
      ort.env.logLevel = 'error';
      return ort;
    })();
    state.ortPromise.catch(() => { state.ortPromise = null; });
  }
  return state.ortPromise;
}

function backend() {
  return { name: state.backend, threads: state.threads };
}

async function session(st) {
  let p = state.sessions.get(st.id);
  if (!p) {
    p = (async () => {
      const ort = await runtime();
      const { bytes, headers } = await modelBytes(st);
      const providers = state.backend === 'webgpu' ? ['webgpu', 'wasm'] : ['wasm'];
      // Worker threads sleep between operators instead of spinning: a page must not burn idle cores (or battery).
      const options = { graphOptimizationLevel: 'all', extra: { session: { intra_op: { allow_spinning: '0' } } } };
      let s;
      try {
        s = await ort.InferenceSession.create(bytes, { ...options, executionProviders: providers });
      } catch (err) {
        if (state.backend !== 'webgpu') throw err;
        console.info('animeganLocal: WebGPU session failed, using WebAssembly', err);
        state.backend = 'wasm';
        s = await ort.InferenceSession.create(bytes, { ...options, executionProviders: ['wasm'] });
      }
      return {
        ort, session: s, layout: headers.get('X-Layout') || 'NHWC',
        input: headers.get('X-Input-Name') || s.inputNames[0], output: headers.get('X-Output-Name') || s.outputNames[0],
      };
    })();
    state.sessions.set(st.id, p);
    p.catch(() => state.sessions.delete(st.id));
  }
  return p;
}

// ---- models: kept on this device (Cache Storage) or from the server, never used unless their SHA-256 matches ------

function modelUrl(st) {
  return new URL(st.model, BASE).href;
}

function megabytes(n) {
  return `${(n / 1e6).toFixed(n < 1e7 ? 1 : 0)} MB`;
}

async function sha256Hex(bytes) {
  if (!(self.crypto && crypto.subtle)) return null; // not a secure context: nothing is stored here either
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

async function download(st) { // the model from the server, checked against the SHA-256 it is served with
  const r = await fetch(modelUrl(st)); // the browser's cache revalidates it by ETag (SHA-256)
  if (!r.ok) {
    const why = await r.json().then((j) => j.error).catch(() => r.statusText);
    throw new Error(`the ${st.label} model could not be loaded (HTTP ${r.status}): ${why}`);
  }
  const bytes = new Uint8Array(await r.arrayBuffer());
  const want = r.headers.get('X-Content-SHA256');
  const got = await sha256Hex(bytes);
  if (got !== null && got !== want) {
    throw new Error(`the ${st.label} model arrived damaged (SHA-256 ${got.slice(0, 12)}…, expected ` +
      `${String(want).slice(0, 12)}…); it was not used`);
  }
  return { bytes, headers: r.headers, sha256: want };
}

async function modelCache() {
  if (!self.caches) return null;
  return caches.open(MODELS);
}

async function modelBytes(st) { // the kept copy if it verifies (a damaged one is removed), else the server's
  const cache = await modelCache();
  const copy = cache && await cache.match(modelUrl(st));
  if (copy) {
    const bytes = new Uint8Array(await copy.arrayBuffer());
    const want = copy.headers.get('X-Content-SHA256');
    const got = await sha256Hex(bytes);
    if (got === want) return { bytes, headers: copy.headers };
    await forget(st.id);
    const damaged = `the copy of ${st.label} kept on this device is damaged (SHA-256 ${String(got).slice(0, 12)}…, ` +
      `expected ${String(want).slice(0, 12)}…), so it was not used and was removed`;
    if (state.offline) throw new Error(`${damaged}; keep it again once the server is reachable`);
    console.warn(`animeganLocal: ${damaged}; using the server's`);
  } else if (state.offline) {
    throw new Error(`${st.label} is not kept on this device, and the server is not reachable`);
  }
  return download(st);
}

async function refreshKept() {
  const cache = await modelCache().catch(() => null);
  const ids = new Set();
  if (cache) {
    for (const request of await cache.keys()) {
      const m = request.url.match(/\/models\/([\w-]+)\.onnx$/);
      if (m) ids.add(m[1]);
    }
  }
  state.keptIds = ids;
  state.listeners.forEach((fn) => fn());
}

async function kept() {
  await ready;
  const cache = await modelCache();
  if (!cache) return [];
  const out = [];
  for (const st of state.manifest.styles) {
    const copy = await cache.match(modelUrl(st));
    if (!copy) continue;
    out.push({ id: st.id, label: st.label, bytes: Number(copy.headers.get('Content-Length')),
               sha256: copy.headers.get('X-Content-SHA256'), kept_at: copy.headers.get('X-Kept-At') });
  }
  return out;
}

function offlineSupport() { // why this page cannot be kept for offline use here, or ''
  if (!self.isSecureContext) return 'the page is not served over HTTPS (or from localhost), so the browser keeps no offline copy';
  if (!('serviceWorker' in navigator) || !self.caches) return 'this browser has no service workers';
  return '';
}

function pageFiles() { // what this page loaded before the worker controlled it, for the worker to store
  const urls = performance.getEntriesByType('resource').map((e) => e.name);
  return [...new Set(urls)].filter((u) => u.startsWith(ROOT.href));
}

function askWorker(worker, message) {
  return new Promise((resolve, reject) => {
    const channel = new MessageChannel();
    const timer = setTimeout(() => reject(new Error('the service worker did not answer')), 120000);
    channel.port1.onmessage = (e) => { clearTimeout(timer); resolve(e.data); };
    worker.postMessage(message, [channel.port2]);
  });
}

async function storeShell(withRuntime) {
  const why = offlineSupport();
  if (why) throw new Error(`this app cannot work offline here: ${why}`);
  await navigator.serviceWorker.register(new URL('sw.js', BASE), { scope: ROOT.href, updateViaCache: 'none' });
  await navigator.serviceWorker.ready;
  if (!navigator.serviceWorker.controller) {
    await new Promise((resolve) => navigator.serviceWorker.addEventListener('controllerchange', resolve, { once: true }));
  }
  const runtimeFiles = withRuntime ? state.manifest.offline_runtime.map((f) => new URL(f, BASE).href) : [];
  if (document.readyState !== 'complete') await new Promise((resolve) => addEventListener('load', resolve, { once: true }));
  const answer = await askWorker(navigator.serviceWorker.controller, { type: 'precache', urls: [...pageFiles(), ...runtimeFiles] });
  if (answer.failed.length) {
    const [url, reason] = answer.failed[0];
    if (/quota/i.test(reason)) throw new Error(await outOfSpace('this app for offline use'));
    throw new Error(`${answer.failed.length} of this app's files could not be stored for offline use ` +
      `(${new URL(url).pathname}: ${reason})`);
  }
  return answer;
}

// The app itself (page, scripts, styles, and with `withRuntime` onnxruntime-web) stored by the current worker.
function offlineReady(withRuntime = true) {
  const key = withRuntime ? 'full' : 'page';
  if (!state.shell || (key === 'full' && state.shell.key === 'page')) {
    const promise = ready.then(() => storeShell(withRuntime));
    state.shell = { key, promise };
    promise.catch(() => { if (state.shell && state.shell.promise === promise) state.shell = null; });
  }
  return state.shell.promise;
}

if (!offlineSupport()) { // a new version's worker takes over: it stores this page's files anew
  let hadController = Boolean(navigator.serviceWorker.controller);
  navigator.serviceWorker.addEventListener('controllerchange', () => {
    if (hadController) {
      const again = state.shell ? state.shell.key === 'full' || state.keptIds.size > 0 : false;
      state.shell = null;
      offlineReady(again).catch((err) => console.warn('animeganLocal:', err.message));
    }
    hadController = true;
  });
}

async function storageNote() {
  if (!(navigator.storage && navigator.storage.estimate)) return '';
  const { usage, quota } = await navigator.storage.estimate();
  return `this site uses ${megabytes(usage || 0)} of the ${megabytes(quota || 0)} the browser allows it`;
}

async function outOfSpace(what) { // the browser refused the space: what it allows this site, and what to do
  const note = await storageNote().catch(() => '');
  return `there is not enough storage on this device to keep ${what}${note ? `: ${note}` : ''}; remove a kept style ` +
    'or free space, then try again';
}

async function keep(styleId) {
  await ready;
  const st = styleById(styleId);
  if (state.offline) throw new Error('the server is not reachable: styles can be kept only while it is');
  await offlineReady();
  const { bytes, headers, sha256 } = await download(st);
  if (!sha256 || (await sha256Hex(bytes)) !== sha256) throw new Error(`${st.label} cannot be verified here, so it was not kept`);
  const stored = new Headers({ 'Content-Type': 'application/octet-stream', 'Content-Length': String(bytes.length),
                               'X-Content-SHA256': sha256, 'X-Kept-At': new Date().toISOString() });
  for (const name of ['X-Layout', 'X-Input-Name', 'X-Output-Name']) stored.set(name, headers.get(name) || '');
  if (navigator.storage && navigator.storage.persist) navigator.storage.persist().catch(() => {});
  try {
    await (await modelCache()).put(modelUrl(st), new Response(bytes, { headers: stored }));
  } catch (err) {
    const full = err && (err.name === 'QuotaExceededError' || /quota/i.test(err.message || ''));
    throw new Error(full ? await outOfSpace(`${st.label} (${megabytes(bytes.length)})`)
      : `${st.label} could not be kept on this device: ${err.message || err}`);
  } finally {
    await refreshKept();
  }
  return { id: st.id, bytes: bytes.length, sha256 };
}

async function forget(styleId) {
  const cache = await modelCache();
  const st = state.manifest && state.manifest.styles.find((s) => s.id === styleId);
  if (cache && st) await cache.delete(modelUrl(st));
  await refreshKept();
}

// Online, every kept model is checked against the server's: a new version replaces it, one the server no longer
// offers for this device is removed.
async function syncKept() {
  await ready;
  if (state.offline || !state.keptIds.size) return [];
  const changes = [];
  for (const st of state.manifest.styles.filter((s) => state.keptIds.has(s.id))) {
    const copy = await (await modelCache()).match(modelUrl(st));
    if (!st.local) { await forget(st.id); changes.push([st.id, 'removed']); continue; }
    const head = await fetch(modelUrl(st), { method: 'HEAD', cache: 'no-store' }).catch(() => null);
    if (!head || !head.ok) continue;
    if (copy && head.headers.get('X-Content-SHA256') !== copy.headers.get('X-Content-SHA256')) {
      state.sessions.delete(st.id);
      await keep(st.id).then(() => changes.push([st.id, 'replaced']), (err) => console.warn('animeganLocal:', err.message));
    }
  }
  return changes;
}

// Every visit while the server answers registers the worker and stores the page, so the app opens offline; the
// runtime (14 MB) is stored with the first kept style.
const installed = ready.then(() => (state.offline || offlineSupport() ? null : offlineReady(state.keptIds.size > 0)));
installed.catch((err) => console.warn('animeganLocal:', err.message));
const synced = installed.catch(() => null).then(syncKept);
synced.catch((err) => console.warn('animeganLocal: kept styles not checked:', err.message));

function exclusive(fn) {
  // One inference at a time: a session must not run twice at once, and the CPU is shared anyway.
  const run = state.queue.then(fn, fn);
  state.queue = run.catch(() => {});
  return run;
}

// ---- geometry: animegan/resample.py and styles.SizeRule -----------------------------------------

function fitWithin(h, w, maxSide) {
  const longest = Math.max(h, w);
  if (longest <= maxSide) return [h, w];
  const s = maxSide / longest;
  return [Math.max(1, roundHalfEven(h * s)), Math.max(1, roundHalfEven(w * s))];
}

function roundHalfEven(x) { // Python's round()
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function paddedSize(h, w, st) {
  if (st.fixed) return st.fixed;
  const m = st.multiple_of;
  const up = (n) => Math.max(Math.ceil(Math.max(n, st.min_side) / m) * m, m);
  return [up(h), up(w)];
}

function reflectIndex(i, n) { // numpy 'reflect': the edge pixel is not repeated
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  i = ((i % period) + period) % period;
  return i < n ? i : period - i;
}

function reflect101(i, n) { // OpenCV BORDER_REFLECT_101: the same as numpy 'reflect'
  return reflectIndex(i, n);
}

// Interpolation tables, one entry per destination index: [source indices, weights] (OpenCV's float paths).
function areaTable(ssize, dsize) {
  const scale = ssize / dsize;
  const tab = [];
  for (let dx = 0; dx < dsize; dx++) {
    const fsx1 = dx * scale, fsx2 = fsx1 + scale;
    const cell = Math.min(scale, ssize - fsx1);
    let sx2 = Math.min(Math.floor(fsx2), ssize - 1);
    const sx1 = Math.min(Math.ceil(fsx1), sx2);
    const idx = [], wts = [];
    if (sx1 - fsx1 > 1e-3) { idx.push(sx1 - 1); wts.push((sx1 - fsx1) / cell); }
    for (let sx = sx1; sx < sx2; sx++) { idx.push(sx); wts.push(1 / cell); }
    if (fsx2 - sx2 > 1e-3) { idx.push(sx2); wts.push(Math.min(Math.min(fsx2 - sx2, 1), cell) / cell); }
    tab.push([idx, wts]);
  }
  return tab;
}

function cubicTable(ssize, dsize) {
  const scale = ssize / dsize, A = -0.75;
  const tab = [];
  for (let dx = 0; dx < dsize; dx++) {
    let fx = (dx + 0.5) * scale - 0.5;
    const sx = Math.floor(fx);
    fx -= sx;
    const c0 = ((A * (fx + 1) - 5 * A) * (fx + 1) + 8 * A) * (fx + 1) - 4 * A;
    const c1 = ((A + 2) * fx - (A + 3)) * fx * fx + 1;
    const c2 = ((A + 2) * (1 - fx) - (A + 3)) * (1 - fx) * (1 - fx) + 1;
    const clamp = (i) => Math.min(Math.max(i, 0), ssize - 1);
    tab.push([[clamp(sx - 1), clamp(sx), clamp(sx + 1), clamp(sx + 2)], [c0, c1, c2, 1 - c0 - c1 - c2]]);
  }
  return tab;
}

function areaLinearTable(ssize, dsize) { // INTER_AREA when enlarging along an axis: OpenCV's area-mode linear
  const scale = ssize / dsize, inv = dsize / ssize;
  const tab = [];
  for (let dx = 0; dx < dsize; dx++) {
    let sx = Math.floor(dx * scale);
    let fx = (dx + 1) - (sx + 1) * inv;
    fx = fx <= 0 ? 0 : fx - Math.floor(fx);
    if (sx < 0) { fx = 0; sx = 0; }
    if (sx >= ssize - 1) { fx = 0; sx = ssize - 1; }
    tab.push([[sx, Math.min(sx + 1, ssize - 1)], [1 - fx, fx]]);
  }
  return tab;
}

function separable(src, h, w, th, tw, xtab, ytab) {
  const tmp = new Float32Array(h * tw * 3);
  for (let y = 0; y < h; y++) {
    const row = y * w * 3, out = y * tw * 3;
    for (let x = 0; x < tw; x++) {
      const [idx, wts] = xtab[x];
      let r = 0, g = 0, b = 0;
      for (let k = 0; k < idx.length; k++) {
        const o = row + idx[k] * 3, c = wts[k];
        r += src[o] * c; g += src[o + 1] * c; b += src[o + 2] * c;
      }
      tmp[out + x * 3] = r; tmp[out + x * 3 + 1] = g; tmp[out + x * 3 + 2] = b;
    }
  }
  const dst = new Float32Array(th * tw * 3);
  const rowLen = tw * 3;
  for (let y = 0; y < th; y++) {
    const [idx, wts] = ytab[y];
    const out = y * rowLen;
    for (let k = 0; k < idx.length; k++) {
      const o = idx[k] * rowLen, c = wts[k];
      for (let i = 0; i < rowLen; i++) dst[out + i] += tmp[o + i] * c;
    }
  }
  for (let i = 0; i < dst.length; i++) dst[i] = dst[i] < 0 ? 0 : dst[i] > 1 ? 1 : dst[i];
  return dst;
}

// animegan.resample.resize: area filter when shrinking, bicubic when enlarging; clipped to [0, 1].
function resize(src, h, w, th, tw) {
  if (h === th && w === tw) return src;
  if (th * tw < h * w) {
    if (tw <= w && th <= h) return separable(src, h, w, th, tw, areaTable(w, tw), areaTable(h, th));
    return separable(src, h, w, th, tw, areaLinearTable(w, tw), areaLinearTable(h, th));
  }
  return separable(src, h, w, th, tw, cubicTable(w, tw), cubicTable(h, th));
}

// ---- pixels ----------------------------------------------------------------------------------------

function toRgb(imageData) {
  const { data, width, height } = imageData;
  const rgb = new Float32Array(width * height * 3);
  for (let i = 0, j = 0; i < data.length; i += 4, j += 3) {
    rgb[j] = data[i] / 255; rgb[j + 1] = data[i + 1] / 255; rgb[j + 2] = data[i + 2] / 255;
  }
  return rgb;
}

function toImageData(rgb, width, height, alphaFrom) {
  const out = new ImageData(width, height);
  const d = out.data;
  for (let i = 0, j = 0; j < rgb.length; i += 4, j += 3) {
    d[i] = Math.round(rgb[j] * 255); d[i + 1] = Math.round(rgb[j + 1] * 255); d[i + 2] = Math.round(rgb[j + 2] * 255);
    d[i + 3] = alphaFrom ? alphaFrom.data[i + 3] : 255;
  }
  return out;
}

// ---- animegan/stylizer.py: pad (or resize) → value range → model → crop (or resize back) → clip -------

async function generate(st, rgb, h, w) {
  const s = await session(st);
  const [lo, hi] = st.value_range;
  const [ph, pw] = paddedSize(h, w, st);
  let x, top = 0, left = 0;
  if (st.fixed) {
    x = resize(rgb, h, w, ph, pw);
  } else if (ph === h && pw === w) {
    x = rgb;
  } else {
    top = Math.floor((ph - h) / 2); left = Math.floor((pw - w) / 2);
    x = new Float32Array(ph * pw * 3);
    for (let y = 0; y < ph; y++) {
      const sy = reflectIndex(y - top, h);
      for (let xx = 0; xx < pw; xx++) {
        const o = (sy * w + reflectIndex(xx - left, w)) * 3, d = (y * pw + xx) * 3;
        x[d] = rgb[o]; x[d + 1] = rgb[o + 1]; x[d + 2] = rgb[o + 2];
      }
    }
  }
  const n = ph * pw;
  const input = new Float32Array(n * 3);
  const nchw = s.layout === 'NCHW';
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) input[nchw ? c * n + i : i * 3 + c] = x[i * 3 + c] * (hi - lo) + lo;
  }
  const dims = nchw ? [1, 3, ph, pw] : [1, ph, pw, 3];
  const result = await exclusive(() => s.session.run({ [s.input]: new s.ort.Tensor('float32', input, dims) }));
  const tensor = result[s.output];
  const y = tensor.data;
  const [oh, ow] = nchw ? tensor.dims.slice(2, 4) : tensor.dims.slice(1, 3);
  const on = oh * ow;
  const ch = st.fixed ? ph : h, cw = st.fixed ? pw : w;
  let out = new Float32Array(ch * cw * 3);
  for (let yy = 0; yy < ch; yy++) {
    for (let xx = 0; xx < cw; xx++) {
      const si = (yy + top) * ow + xx + left, d = (yy * cw + xx) * 3;
      for (let c = 0; c < 3; c++) {
        const v = ((nchw ? y[c * on + si] : y[si * 3 + c]) - lo) / (hi - lo);
        out[d + c] = v < 0 ? 0 : v > 1 ? 1 : v;
      }
    }
  }
  for (const t of Object.values(result)) t.dispose?.();
  if (st.fixed) out = resize(out, ph, pw, h, w);
  return out;
}

// ---- animegan/grades.py ---------------------------------------------------------------------------

function interp(v, stops, values) {
  if (v <= stops[0]) return values[0];
  for (let k = 1; k < stops.length; k++) {
    if (v <= stops[k]) return values[k - 1] + (values[k] - values[k - 1]) * (v - stops[k - 1]) / (stops[k] - stops[k - 1]);
  }
  return values[values.length - 1];
}

function gaussianKernel(sigma) { // cv2.getGaussianKernel with the size cv2.GaussianBlur picks for float images
  const n = roundHalfEven(sigma * 4 * 2 + 1) | 1;
  const k = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) { const x = i - (n - 1) / 2; k[i] = Math.exp(-0.5 * x * x / (sigma * sigma)); sum += k[i]; }
  for (let i = 0; i < n; i++) k[i] /= sum;
  return k;
}

function gaussianBlur(src, h, w, sigma) { // cv2.GaussianBlur(src, (0, 0), sigma), BORDER_REFLECT_101
  const k = gaussianKernel(sigma), r = (k.length - 1) / 2;
  const tmp = new Float32Array(src.length), dst = new Float32Array(src.length);
  const xs = new Int32Array(w + 2 * r), ys = new Int32Array(h + 2 * r);
  for (let i = 0; i < xs.length; i++) xs[i] = reflect101(i - r, w);
  for (let i = 0; i < ys.length; i++) ys[i] = reflect101(i - r, h);
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < w; x++) {
      let a = 0, b = 0, c = 0;
      for (let t = 0; t < k.length; t++) {
        const o = (row + xs[x + t]) * 3, kt = k[t];
        a += src[o] * kt; b += src[o + 1] * kt; c += src[o + 2] * kt;
      }
      const d = (row + x) * 3;
      tmp[d] = a; tmp[d + 1] = b; tmp[d + 2] = c;
    }
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let a = 0, b = 0, c = 0;
      for (let t = 0; t < k.length; t++) {
        const o = (ys[y + t] * w + x) * 3, kt = k[t];
        a += tmp[o] * kt; b += tmp[o + 1] * kt; c += tmp[o + 2] * kt;
      }
      const d = (y * w + x) * 3;
      dst[d] = a; dst[d + 1] = b; dst[d + 2] = c;
    }
  }
  return dst;
}

function neon(rgb, h, w) {
  const n = h * w;
  const out = new Float32Array(rgb.length), bright = new Float32Array(rgb.length);
  for (let i = 0; i < n; i++) {
    const o = i * 3;
    const y = rgb[o] * LUMA[0] + rgb[o + 1] * LUMA[1] + rgb[o + 2] * LUMA[2];
    const b = Math.min(Math.max((y - 0.65) / 0.35, 0), 1);
    for (let c = 0; c < 3; c++) {
      const v = 0.5 * rgb[o + c] + 0.5 * interp(y, NEON_STOPS, NEON_COLORS.map((col) => col[c]));
      out[o + c] = v; bright[o + c] = b * v;
    }
  }
  const glow = gaussianBlur(bright, h, w, Math.max(2.0, 0.012 * Math.max(h, w)));
  const tint = [1.0, 0.55, 1.0];
  for (let i = 0; i < n; i++) {
    const o = i * 3;
    for (let c = 0; c < 3; c++) out[o + c] = 1 - (1 - out[o + c]) * (1 - 0.6 * glow[o + c] * tint[c]);
    const g = out[o] * LUMA[0] + out[o + 1] * LUMA[1] + out[o + 2] * LUMA[2];
    for (let c = 0; c < 3; c++) { const v = g + 1.3 * (out[o + c] - g); out[o + c] = v < 0 ? 0 : v > 1 ? 1 : v; }
  }
  return out;
}

const GRADES = { neon };

// ---- the public API --------------------------------------------------------------------------------

// A style on H×W×3 float RGB already at processing size (the engine's stylize step + grade).
async function stylizeRgb(st, rgb, h, w) {
  let out = await generate(st, rgb, h, w);
  if (st.grade) out = GRADES[st.grade](out, h, w);
  return out;
}

async function stylize(imageData, styleId, options = {}) {
  await ready;
  const st = styleById(styleId);
  const { width: W, height: H } = imageData;
  if (W * H > state.manifest.max_pixels) {
    throw new Error(`the image is ${W}×${H} = ${(W * H / 1e6).toFixed(1)} megapixels; the limit is ${(state.manifest.max_pixels / 1e6).toFixed(1)} megapixels`);
  }
  const side = Math.min(options.maxSide || state.manifest.default_side, st.max_side);
  const [th, tw] = fitWithin(H, W, side);
  const photo = resize(toRgb(imageData), H, W, th, tw);
  const out = await stylizeRgb(st, photo, th, tw);
  return toImageData(resize(out, th, tw, H, W), W, H, imageData);
}

// animegan.temporal.Stabilizer with zero motion: blends each frame with the previous output where the photo
// did not change (trust from the photo difference), takes the fresh frame where it did, resets on a cut.
class Smoother {
  constructor(strength = LIVE_SMOOTHING) { this.strength = strength; this.prev = null; this.cuts = 0; }

  reset() { this.prev = null; }

  apply(photo, styled, h, w) {
    const hist = lumaHistogram(photo);
    const prev = this.prev;
    if (!this.strength) return styled;
    if (!prev || prev.h !== h || prev.w !== w || histogramDistance(prev.hist, hist) > CUT_HISTOGRAM_DISTANCE) {
      if (prev) this.cuts++;
      this.prev = { photo, out: styled, hist, h, w };
      return styled;
    }
    const n = h * w, err = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const o = i * 3;
      err[i] = (Math.abs(photo[o] - prev.photo[o]) + Math.abs(photo[o + 1] - prev.photo[o + 1]) + Math.abs(photo[o + 2] - prev.photo[o + 2])) / 3;
    }
    const blurred = boxBlur5(err, h, w);
    const out = new Float32Array(styled.length);
    let untrusted = 0;
    for (let i = 0; i < n; i++) {
      const e = blurred[i] / ERROR_SCALE;
      const trust = Math.exp(-e * e);
      if (trust < 0.5) untrusted++;
      const wgt = this.strength * trust;
      for (let c = 0; c < 3; c++) out[i * 3 + c] = wgt * prev.out[i * 3 + c] + (1 - wgt) * styled[i * 3 + c];
    }
    if (untrusted / n > CUT_UNTRUSTED_FRACTION) {
      this.cuts++;
      this.prev = { photo, out: styled, hist, h, w };
      return styled;
    }
    this.prev = { photo, out, hist, h, w };
    return out;
  }
}

function lumaHistogram(rgb) {
  const bins = new Float64Array(32);
  const n = rgb.length / 3;
  for (let i = 0; i < n; i++) {
    const g = Math.min(255, Math.max(0, Math.round((rgb[i * 3] * LUMA[0] + rgb[i * 3 + 1] * LUMA[1] + rgb[i * 3 + 2] * LUMA[2]) * 255)));
    bins[g >> 3]++;
  }
  for (let i = 0; i < 32; i++) bins[i] /= Math.max(n, 1);
  return bins;
}

function histogramDistance(a, b) {
  let d = 0;
  for (let i = 0; i < a.length; i++) d += Math.abs(a[i] - b[i]);
  return d;
}

function boxBlur5(src, h, w) { // cv2.blur(src, (5, 5)), BORDER_REFLECT_101
  const tmp = new Float32Array(src.length), dst = new Float32Array(src.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let t = -2; t <= 2; t++) s += src[y * w + reflect101(x + t, w)];
      tmp[y * w + x] = s / 5;
    }
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let t = -2; t <= 2; t++) s += tmp[reflect101(y + t, h) * w + x];
      dst[y * w + x] = s / 5;
    }
  }
  return dst;
}

// ---- the page's panels -------------------------------------------------------------------------------

const ui = {
  stillFile: null,
  live: null,

  async stylizeStill(styleId, side) {
    const keep = { __type__: 'update' };
    try {
      await ready;
      if (!ui.stillFile) return [keep, keep, 'Add a photo first: drop it in the private-mode box or click it to choose one.'];
      const pick = document.querySelector('.al-offline-style'); // offline the app's style list (the server's) is hidden
      if (state.offline) {
        if (!pick || !pick.value) return [keep, keep, '⚠️ No style is kept on this device, and the server is not reachable.'];
        styleId = pick.value;
      }
      const st = styleById(styleId);
      const file = ui.stillFile;
      const started = performance.now();
      const bitmap = await createImageBitmap(file);
      const canvas = document.createElement('canvas');
      canvas.width = bitmap.width; canvas.height = bitmap.height;
      const ctx = canvas.getContext('2d', { willReadFrequently: true });
      ctx.drawImage(bitmap, 0, 0);
      const photo = ctx.getImageData(0, 0, canvas.width, canvas.height);
      const maxSide = Math.min(Math.round(side) || state.manifest.default_side, st.max_side);
      const result = await stylize(photo, styleId, { maxSide });
      ctx.putImageData(result, 0, 0);
      const png = await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      const name = `${(file.name || 'photo').replace(/\.[^.]*$/, '').replace(/[^\w.-]+/g, '_').slice(0, 60) || 'photo'}_${st.id}.png`;
      const original = fileData(URL.createObjectURL(file), file.name || 'photo', file.size, file.type || 'image/png');
      const anime = fileData(URL.createObjectURL(png), name, png.size, 'image/png');
      const b = backend();
      const where = b.name === 'webgpu' ? 'WebGPU' : `WebAssembly, ${b.threads} thread${b.threads > 1 ? 's' : ''}`;
      const capped = Math.round(side) > st.max_side ? ` (processed at ${st.max_side} px, this device's limit)` : '';
      const status = `✓ **${st.label}**: ${result.width}×${result.height} PNG, made on this device in ${seconds} s ` +
        `(${where})${capped}. Nothing was uploaded.`;
      return [[original, anime], anime, status];
    } catch (err) {
      console.warn('animeganLocal: private stylize failed', err);
      return [keep, keep, `⚠️ ${err && err.message ? err.message : err}`];
    }
  },
};

function fileData(url, name, size, mime) {
  return { path: name, url, orig_name: name, size, mime_type: mime, is_stream: false, meta: { _type: 'gradio.FileData' } };
}

function styleSummary() {
  const local = styles().map((s) => s.label);
  const other = (state.manifest ? state.manifest.styles : []).filter((s) => !s.local || !supported());
  const parts = [];
  if (local.length) parts.push(`Runs on this device: <span class="al-on">${local.map(escapeHtml).join(', ')}</span>.`);
  if (other.length) parts.push(`Server only: ${other.map((s) => `${escapeHtml(s.label)} (${escapeHtml(s.reason || 'needs WebAssembly')})`).join('; ')}.`);
  return parts.join(' ');
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

function mountStill(panel) {
  const input = panel.querySelector('.al-file');
  const preview = panel.querySelector('.al-preview');
  const text = panel.querySelector('.al-drop-text');
  const drop = panel.querySelector('.al-drop');
  const show = (file) => {
    ui.stillFile = file;
    preview.src = URL.createObjectURL(file);
    preview.style.display = 'block';
    text.textContent = `${file.name}: stays on this device`;
  };
  input.addEventListener('change', () => { if (input.files[0]) show(input.files[0]); });
  drop.addEventListener('dragover', (e) => e.preventDefault());
  drop.addEventListener('drop', (e) => { e.preventDefault(); if (e.dataTransfer.files[0]) show(e.dataTransfer.files[0]); });
  if (ui.stillFile) show(ui.stillFile);
  const summary = panel.querySelector('.al-styles');
  const pick = panel.querySelector('.al-offline-style');
  const render = () => {
    summary.innerHTML = supported()
      ? styleSummary()
      : 'This browser has no WebAssembly: private mode cannot run here; turn it off to use the server.';
    const chosen = pick.value;
    pick.innerHTML = styles().map((s) => `<option value="${s.id}">${escapeHtml(s.label)}</option>`).join('');
    if (styles().some((s) => s.id === chosen)) pick.value = chosen;
  };
  ready.then(() => { render(); state.listeners.add(render); }).catch((err) => {
    summary.textContent = `Private mode is unavailable: ${err.message}`;
  });
  mountKeep(panel.querySelector('.al-keep'));
}

// ---- offline use: the styles kept on this device ------------------------------------------------------------

function mountKeep(box) {
  if (!box) return;
  const list = box.querySelector('.al-keep-list');
  const note = box.querySelector('.al-keep-note');
  const status = box.querySelector('.al-keep-status');
  const summary = box.querySelector('.al-keep-summary');
  const say = (text, error = false) => { status.textContent = text; status.classList.toggle('al-error', error); };
  const render = async () => {
    const why = offlineSupport();
    const local = (state.manifest.runtime && supported() ? state.manifest.styles : []).filter((s) => s.local);
    const keptNow = await kept().catch(() => []);
    const keptById = new Map(keptNow.map((k) => [k.id, k]));
    const total = keptNow.reduce((n, k) => n + (k.bytes || 0), 0);
    summary.textContent = keptNow.length
      ? `${keptNow.length} style${keptNow.length > 1 ? 's' : ''} kept on this device (${megabytes(total)})`
      : 'no style kept on this device';
    if (why) {
      note.textContent = `Offline use is not possible here: ${why}.`;
      list.innerHTML = '';
      return;
    }
    note.textContent = state.offline
      ? 'The server is not reachable: the styles kept here work; keeping another needs the server.'
      : 'A kept style works in private mode with no connection and no server: open this page again (or install ' +
        "it with the browser's “Install app” / “Add to Home screen”) and it opens from this device.";
    const shown = state.offline ? local.filter((s) => keptById.has(s.id)) : local;
    list.innerHTML = shown.map((s) => {
      const k = keptById.get(s.id);
      const size = k ? megabytes(k.bytes) : `${s.model_bytes_exact ? '' : '≈ '}${megabytes(s.model_bytes || 0)}`;
      const action = k
        ? `<span class="al-kept">✓ Kept</span> <button type="button" class="al-forget" data-style="${s.id}">Remove</button>`
        : `<button type="button" class="al-keep-btn" data-style="${s.id}"${state.offline ? ' disabled' : ''}>Keep for offline use</button>`;
      return `<li data-style="${s.id}"><span>${escapeHtml(s.label)}</span><span class="al-size">${size}</span>${action}</li>`;
    }).join('');
  };
  list.addEventListener('click', async (e) => {
    const button = e.target.closest('button[data-style]');
    if (!button) return;
    const id = button.dataset.style;
    const label = state.manifest.styles.find((s) => s.id === id).label;
    button.disabled = true;
    try {
      if (button.classList.contains('al-forget')) {
        await forget(id);
        say(`${label} was removed from this device.`);
      } else {
        say(`Keeping ${label} for offline use…`);
        const k = await keep(id);
        const note = await storageNote().catch(() => '');
        say(`✓ ${label} works offline now (${megabytes(k.bytes)}, SHA-256 verified)${note ? `; ${note}` : ''}.`);
      }
    } catch (err) {
      say(`⚠️ ${err.message || err}`, true);
    } finally {
      await render();
    }
  });
  ready.then(() => { render(); state.listeners.add(render); }).catch(() => {});
}

// Offline (the page came from this device, the server did not answer): say what works and what needs the server.
function showOffline() {
  if (!state.offline || document.querySelector('.al-offline-banner')) return;
  document.body.classList.add('al-offline');
  const names = styles().map((s) => s.label);
  const banner = document.createElement('div');
  banner.className = 'al-offline-banner';
  banner.setAttribute('role', 'status');
  banner.textContent = '📴 The server is not reachable: this is the copy of the app kept on this device. ' +
    (names.length
      ? `Private mode works with the styles kept here (${names.join(', ')}), for photos and the live camera. `
      : 'No style is kept on this device, so nothing can be stylized until the server is back. ') +
    'Stylizing on the server, faces and upscaling, Try every style, Batch, Video and the server\'s webcam preview ' +
    'need the server; reload once it is back.';
  document.body.prepend(banner);
  for (const id of ['run-btn', 'all-styles-btn', 'batch-run', 'video-run']) {
    const button = document.getElementById(id);
    if (button) button.title = 'Needs the server, which is not reachable';
  }
  const turnOnPrivate = (tries = 100) => { // private mode on, so the Stylize tab works at once
    const box = document.querySelector('#private-switch input');
    if (box) { if (!box.checked && names.length) box.click(); } else if (tries > 0) setTimeout(() => turnOnPrivate(tries - 1), 100);
  };
  turnOnPrivate();
}

ready.then(showOffline).catch(() => {});

// ---- live preview ----------------------------------------------------------------------------------------

class LiveView {
  constructor(panel) {
    this.panel = panel;
    this.video = panel.querySelector('.al-video');
    this.canvas = panel.querySelector('.al-out');
    this.readout = panel.querySelector('.al-fps');
    this.styleSelect = panel.querySelector('.al-style');
    this.sideSelect = panel.querySelector('.al-side');
    this.button = panel.querySelector('.al-start');
    this.running = false;
    this.generation = 0; // a restarted view must not leave its previous loop running
    this.smoother = new Smoother();
    this.reset();
    this.button.addEventListener('click', () => (this.running ? this.stop() : this.start()));
    this.styleSelect.addEventListener('change', () => this.reset());
    this.sideSelect.addEventListener('change', () => this.reset());
  }

  reset() {
    this.finished = [];
    this.latency = 0;
    this.processed = 0;
    this.skipped = 0;
    this.autoSide = null;
    this.autoNote = '';
    this.lastThumb = null;
    this.smoother.reset();
  }

  fill(manifest) {
    const local = styles();
    this.styleSelect.innerHTML = local.map((s) => `<option value="${s.id}">${escapeHtml(s.label)} (${s.cost})</option>`).join('');
    if (local.some((s) => s.id === manifest.live_default_style)) this.styleSelect.value = manifest.live_default_style;
    this.sideSelect.innerHTML = [`<option value="auto">Auto (≥ ${manifest.live_target_fps} FPS)</option>`]
      .concat(manifest.live_sides.map((s) => `<option value="${s}">${s} px</option>`)).join('');
  }

  async start() {
    if (this.running) return;
    this.running = true;
    const generation = ++this.generation;
    this.button.textContent = '■ Stop';
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
      this.video.srcObject = this.stream;
      await this.video.play();
      this.loop(generation);
    } catch (err) {
      this.readout.textContent = `The camera could not be started: ${err.message || err}`;
      this.stop();
    }
  }

  stop() {
    this.running = false;
    this.button.textContent = '▶ Start camera';
    if (this.stream) this.stream.getTracks().forEach((t) => t.stop());
    this.stream = null;
  }

  frame(side) { // the current camera frame at processing size (longer side `side`)
    const vw = this.video.videoWidth, vh = this.video.videoHeight;
    const [th, tw] = fitWithin(vh, vw, side);
    const c = this.grab || (this.grab = document.createElement('canvas'));
    if (c.width !== tw || c.height !== th) { c.width = tw; c.height = th; }
    const ctx = c.getContext('2d', { willReadFrequently: true });
    ctx.drawImage(this.video, 0, 0, tw, th);
    return ctx.getImageData(0, 0, tw, th);
  }

  changed() { // a 32×24 grey thumbnail against the last processed frame's
    const t = this.thumbCanvas || (this.thumbCanvas = Object.assign(document.createElement('canvas'), { width: 32, height: 24 }));
    const ctx = t.getContext('2d', { willReadFrequently: true });
    ctx.drawImage(this.video, 0, 0, 32, 24);
    const d = ctx.getImageData(0, 0, 32, 24).data;
    const grey = new Float32Array(32 * 24);
    for (let i = 0; i < grey.length; i++) grey[i] = d[i * 4] * LUMA[0] + d[i * 4 + 1] * LUMA[1] + d[i * 4 + 2] * LUMA[2];
    if (!this.lastThumb) return grey;
    let diff = 0;
    for (let i = 0; i < grey.length; i++) diff += Math.abs(grey[i] - this.lastThumb[i]);
    return diff / grey.length >= SKIP_THRESHOLD ? grey : null;
  }

  async process(st, side) {
    const started = performance.now();
    const img = this.frame(side);
    const photo = toRgb(img);
    const styled = this.smoother.apply(photo, await stylizeRgb(st, photo, img.height, img.width), img.height, img.width);
    const out = toImageData(styled, img.width, img.height, null);
    if (this.canvas.width !== img.width || this.canvas.height !== img.height) {
      this.canvas.width = img.width; this.canvas.height = img.height;
    }
    this.canvas.getContext('2d').putImageData(out, 0, 0);
    return performance.now() - started;
  }

  async chooseSide(st) { // the largest size that holds the target frame rate here
    const budget = 1000 / state.manifest.live_target_fps;
    const sides = state.manifest.live_sides;
    let best = null, bestMs = null;
    for (const side of sides) {
      if (!this.running) return sides[0];
      this.readout.textContent = `Finding the largest size that holds ${state.manifest.live_target_fps} FPS here… trying ${side} px`;
      await this.process(st, side); // a new size: the first run allocates
      const ms = Math.min(await this.process(st, side), await this.process(st, side));
      if (ms > budget) { if (best === null) { best = side; bestMs = ms; } break; }
      best = side; bestMs = ms;
    }
    this.autoNote = bestMs > budget
      ? `auto: ${best} px, the smallest; this device makes ~${(1000 / bestMs).toFixed(1)} FPS with ${st.label}`
      : `auto: ${best} px, the largest that holds ≥ ${state.manifest.live_target_fps} FPS here`;
    this.smoother.reset();
    return best;
  }

  async loop(generation) {
    while (this.running && generation === this.generation) {
      await nextVideoFrame(this.video);
      if (!this.running || generation !== this.generation) break;
      const st = styleById(this.styleSelect.value);
      const auto = this.sideSelect.value === 'auto';
      try {
        if (auto && this.autoSide === null) this.autoSide = await this.chooseSide(st);
        const side = auto ? this.autoSide : Number(this.sideSelect.value);
        const thumb = this.changed();
        if (!thumb) { this.skipped++; this.show(side, auto); continue; }
        const ms = await this.process(st, side);
        this.lastThumb = thumb;
        const now = performance.now();
        this.latency = this.processed ? 0.8 * this.latency + 0.2 * ms : ms;
        this.processed++;
        this.finished.push(now);
        while (this.finished.length && now - this.finished[0] > FPS_WINDOW_MS) this.finished.shift();
        this.show(side, auto);
      } catch (err) {
        this.readout.textContent = `⚠️ ${err.message || err}`;
        this.stop();
      }
    }
  }

  stats() {
    const now = performance.now();
    const recent = this.finished.filter((t) => now - t <= FPS_WINDOW_MS);
    const fps = recent.length >= 2 ? (recent.length - 1) * 1000 / Math.max(recent[recent.length - 1] - recent[0], 1e-6)
      : (recent.length && this.latency ? 1000 / this.latency : 0);
    const b = backend();
    return { fps, latency_ms: this.latency, processed: this.processed, skipped: this.skipped, side: this.currentSide,
             auto: this.sideSelect.value === 'auto', auto_note: this.autoNote, style: this.styleSelect.value,
             backend: b.name, threads: b.threads, running: this.running };
  }

  show(side, auto) {
    this.currentSide = side;
    const s = this.stats();
    const where = s.backend === 'webgpu' ? 'WebGPU' : `WASM, ${s.threads} thread${s.threads > 1 ? 's' : ''}`;
    this.readout.textContent = `${s.fps.toFixed(1)} FPS · ${Math.round(s.latency_ms)} ms/frame · ${side} px · ${where} · ` +
      `${s.skipped} unchanged frames skipped${auto ? ` · ${this.autoNote}` : ''} · in this browser`;
  }
}

function nextVideoFrame(video) {
  if (video.requestVideoFrameCallback) {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, 250); // a still camera may deliver no new frame
      video.requestVideoFrameCallback(() => { clearTimeout(timer); resolve(); });
    });
  }
  return new Promise((resolve) => setTimeout(resolve, 30));
}

function mountWebcam(panel) {
  const live = new LiveView(panel);
  ui.live = live;
  const why = panel.querySelector('.al-why');
  const liveBox = panel.querySelector('.al-live');
  const radios = [...panel.querySelectorAll('input[name="al-mode"]')];
  const setMode = (mode, tries = 50) => {
    radios.forEach((r) => { r.checked = r.value === mode; });
    liveBox.style.display = mode === 'browser' ? '' : 'none';
    const server = document.getElementById('webcam-server'); // app.py's server-side preview (the fallback)
    if (server) server.style.display = mode === 'server' ? '' : 'none';
    else if (tries > 0) setTimeout(() => panel.dataset.mode === mode && setMode(mode, tries - 1), 100);
    if (mode !== 'browser') live.stop();
    panel.dataset.mode = mode;
  };
  radios.forEach((r) => r.addEventListener('change', () => r.checked && setMode(r.value)));
  setMode('server');
  ready.then((manifest) => {
    let reason = '';
    if (state.offline) radios.find((r) => r.value === 'server').disabled = true;
    if (!supported()) reason = 'This browser has no WebAssembly, so the preview is made on the server.';
    else if (!manifest.runtime) reason = `The in-browser runtime is unavailable (${manifest.runtime_reason}); the preview is made on the server.`;
    else if (state.offline && !styles().length) reason = 'The server is not reachable and no style is kept on this device.';
    else if (!styles().length) reason = 'No style can run in this browser; the preview is made on the server.';
    radios.find((r) => r.value === 'browser').disabled = Boolean(reason);
    why.textContent = reason || (state.offline
      ? 'The server is not reachable: the preview is made in this browser with the styles kept on this device.'
      : 'In your browser, camera frames never leave this device; the server makes the preview only if you choose it.');
    if (!reason) live.fill(manifest);
    setMode(reason ? 'server' : 'browser');
  }).catch((err) => { why.textContent = `${err.message}; the preview is made on the server.`; });
}

const mounted = new WeakSet();

function mountAll() {
  for (const element of window.animeganLocalMounts || []) {
    const panel = element.querySelector('[data-al]');
    if (!panel || mounted.has(panel)) continue;
    mounted.add(panel);
    if (panel.dataset.al === 'still') mountStill(panel);
    if (panel.dataset.al === 'webcam') mountWebcam(panel);
  }
}

window.animeganLocal = { ready, supported, styles, stylize, backend, Smoother, ui, mountAll, offline, keep, forget, kept,
                         offlineReady, installed, synced, _internal: { resize, neon, fitWithin } };
mountAll();
