// AnimeGAN WebUI's service worker: the app opens and private mode runs with the server gone.
// The app serves this file at local/sw.js with VERSION and PRECACHE set above this line (browser_runtime/installable.py);
// its scope is the app's root. It takes control at once (skipWaiting + clients.claim).
//
// Caches (Cache Storage of this origin):
//   animegan-shell-<VERSION>  the page, its scripts, styles, fonts and pictures, the runtime: replaced by each version
//   animegan-models           the styles kept for offline use: the page writes and verifies them (animegan-local.js)
// Requests:
//   the page itself, local/styles.json, local/animegan-local.js, theme.css, manifest.json: the server first, the copy
//     here when it cannot answer (that copy then says so in an X-AnimeGAN-Offline header);
//   assets/, static/, local/ort/, local/icons/, gradio_api/file= (content-addressed or versioned): the copy here first;
//   everything else (the queue, uploads, the models) goes to the server as usual.

const SHELL = `animegan-shell-${VERSION}`;
const SHELL_PREFIX = 'animegan-shell-';
const ROOT = new URL('./', self.registration.scope);
const FRESH_FIRST = ['local/styles.json', 'local/animegan-local.js', 'theme.css', 'manifest.json'];
const COPY_FIRST = ['assets/', 'static/', 'local/ort/', 'local/icons/', 'gradio_api/file='];

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(SHELL);
    await cache.addAll(PRECACHE.map((p) => new URL(p, ROOT).href));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith(SHELL_PREFIX) && name !== SHELL) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

function relative(url) { // the path below the app's root, or null for another origin or outside the scope
  if (url.origin !== ROOT.origin || !url.pathname.startsWith(ROOT.pathname)) return null;
  return url.pathname.slice(ROOT.pathname.length) + url.search;
}

function isPage(request, path) {
  return request.mode === 'navigate' && (path === '' || path.startsWith('?'));
}

function shellKind(request) {
  const path = relative(new URL(request.url));
  if (path === null) return null;
  if (isPage(request, path)) return 'page';
  if (FRESH_FIRST.some((p) => path === p || path.startsWith(`${p}?`))) return 'fresh';
  if (COPY_FIRST.some((p) => path.startsWith(p))) return 'copy';
  return null;
}

async function keepCopy(key, response) {
  if (!response.ok || response.type !== 'basic') return;
  try {
    await (await caches.open(SHELL)).put(key, response);
  } catch (err) { // storage full: the server's answer is still used; the page reports what is missing offline
    console.warn('animegan sw: not cached', key, err);
  }
}

function marked(response) { // a copy from this cache, labelled so the page knows the server did not answer
  const headers = new Headers(response.headers);
  headers.set('X-AnimeGAN-Offline', '1');
  headers.delete('Content-Encoding'); // the stored body is already decoded
  headers.delete('Content-Length');
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

async function freshFirst(request, key) {
  try {
    const response = await fetch(request);
    if (response.ok) await keepCopy(key, response.clone());
    return response;
  } catch (err) {
    const copy = await caches.match(key, { cacheName: SHELL, ignoreVary: true });
    if (copy) return marked(copy);
    throw err;
  }
}

async function copyFirst(request) {
  const copy = await caches.match(request, { cacheName: SHELL, ignoreVary: true });
  if (copy) return copy;
  const response = await fetch(request);
  await keepCopy(request, response.clone());
  return response;
}

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET') return;
  const kind = shellKind(request);
  if (kind === 'page') event.respondWith(freshFirst(request, ROOT.href));
  else if (kind === 'fresh') event.respondWith(freshFirst(request, request));
  else if (kind === 'copy') event.respondWith(copyFirst(request));
});

// The page sends the files it loaded before this worker controlled it: {type: 'precache', urls}; the answer
// (on the message's port) says how many are stored and what could not be, e.g. {stored, failed: [url, why]}.
self.addEventListener('message', (event) => {
  const data = event.data || {};
  if (data.type !== 'precache' || !event.ports[0]) return;
  event.waitUntil((async () => {
    const cache = await caches.open(SHELL);
    const failed = [];
    let stored = 0;
    for (const url of data.urls || []) {
      const request = new Request(url);
      const kind = shellKind(request);
      if (kind === null || kind === 'page') continue;
      if (await cache.match(request, { ignoreVary: true })) { stored++; continue; }
      try {
        const response = await fetch(request);
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        await cache.put(request, response);
        stored++;
      } catch (err) {
        failed.push([url, `${err.name || 'Error'}: ${err.message || err}`]);
      }
    }
    if (!(await cache.match(ROOT.href, { ignoreVary: true }))) failed.push([ROOT.href, 'the page itself is not stored']);
    event.ports[0].postMessage({ version: VERSION, stored, failed });
  })());
});
