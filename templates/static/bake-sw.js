// bake's service worker: the page shell offline. `bake build` writes it to /bake-sw.js (a
// fixed name, revalidated on every visit by its _headers rule) with two lines in front:
//   const BAKE_BUILD = "…";      the build: a hash of every hashed file the site references
//   const BAKE_PRECACHE = […];   the home, search, SQL console and 404 pages, CSS and scripts
// A new build is a new script, so a new worker, whose cache replaces the old one on activate.
//
// What it serves:
// - /_assets/ (content-hashed, immutable: CSS, scripts, the Worker script, the engine's glue
//   and wasm, the data manifest): cache first; fetched once and kept;
// - pages: network first, cached copy when the network fails (every page visited is kept);
//   a page never visited answers with a short "offline" page;
// - nothing else. Data blocks are read by the engine with synchronous XHR, which a service
//   worker never sees in Chromium and WebKit: the engine keeps them in its own device store
//   (OPFS, bake-worker.js). Range requests are left alone (the Cache API refuses 206).
/* global BAKE_BUILD, BAKE_PRECACHE */
const PREFIX = "bake-shell-";
const CACHE = `${PREFIX}${BAKE_BUILD}`;

self.addEventListener("install", (event) => {
  // One consistent shell or none: a failed precache fails the install, tried again next visit.
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(BAKE_PRECACHE)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith(PREFIX) && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

/** The cache key of a page: its path, without the query (`/sql/?db=…` is the page `/sql/`). */
const pageKey = (url) => url.origin + url.pathname;

const storable = (r) => r && r.status === 200 && r.type === "basic";

async function cacheFirst(request, url) {
  const cache = await caches.open(CACHE);
  // `?retry=N` (the client's retries of a failed import) names the same immutable file.
  const key = pageKey(url);
  const hit = await cache.match(key);
  if (hit) return hit;
  const r = await fetch(request);
  if (storable(r)) await cache.put(key, r.clone()).catch(() => {});
  return r;
}

function offlinePage(url) {
  const style = BAKE_PRECACHE.find((u) => /\/style\.[0-9a-f]+\.css$/.test(u));
  const esc = (s) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Offline</title>${style ? `<link rel="stylesheet" href="${style}">` : ""}</head><body><main id="main" class="offline-page"><h1>You are offline</h1><p>${esc(url.pathname)} was not visited before, so it is not on this device. Pages you visited, the <a href="/">home page</a>, <a href="/search/">search</a> and the <a href="/sql/">SQL console</a> work offline.</p></main></body></html>`;
  return new Response(html, { status: 503, headers: { "Content-Type": "text/html; charset=utf-8", "X-Bake-Offline": "1" } });
}

async function networkFirst(request, url) {
  const cache = await caches.open(CACHE);
  const key = pageKey(url);
  try {
    const r = await fetch(request);
    if (storable(r)) await cache.put(key, r.clone()).catch(() => {});
    return r;
  } catch (e) {
    const hit = await cache.match(key);
    if (hit) return hit;
    if (request.mode === "navigate") return offlinePage(url);
    throw e;
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET" || request.headers.has("range")) return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/_assets/")) {
    event.respondWith(cacheFirst(request, url));
  } else if (request.mode === "navigate" || BAKE_PRECACHE.includes(url.pathname)) {
    event.respondWith(networkFirst(request, url));
  }
});

// The page asks to keep files it used (the engine's Worker script, glue, wasm and the
// manifest, which the first page fetched before this worker controlled it) or that a saved
// database needs. They come from the HTTP cache when it has them. Answers on the port given.
self.addEventListener("message", (event) => {
  const { type, urls } = event.data || {};
  if (type !== "keep" || !Array.isArray(urls)) return;
  const port = event.ports && event.ports[0];
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    let failed = 0;
    for (const u of urls) {
      const url = new URL(u, self.location.origin);
      if (url.origin !== self.location.origin || (await cache.match(pageKey(url)))) continue;
      try {
        const r = await fetch(url.href, { cache: "force-cache" });
        if (storable(r)) await cache.put(pageKey(url), r);
        else failed++;
      } catch {
        failed++;
      }
    }
    if (port) port.postMessage({ failed });
  })());
});
