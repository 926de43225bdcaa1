// bake's Worker: owns ONE wasm module and ONE engine (one block cache) for the page.
// It blocks in synchronous XHR while a query runs, so it cannot read messages then: the page
// keeps a newer search of the same channel waiting until this one answers (dropping older
// waiting ones, so typing never restarts this Worker), and `bake.cancel()` stops a running
// query by terminating this Worker and starting a fresh one.
let bake = null;

// Like the engine's data reads: a network error, 5xx or 429 is tried again 3 times, after
// 100, 200 and 400 ms; anything else is an answer.
const RETRIES = 3;
const BACKOFF_MS = 100;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** An error the page should show as it is; `fatal` asks it to start a fresh Worker. */
function failure(message, fatal) {
  const e = new Error(message);
  e.fatal = fatal;
  return e;
}

function gone(url, status) {
  return failure(`the site was updated since this page was loaded: ${url} is no longer on the host (${status}); reload the page`, true);
}

/** GETs `url` with retries; a 404 or 410 means a redeploy replaced the file. */
async function get(url, what) {
  for (let attempt = 0; ; attempt++) {
    let problem;
    try {
      const r = await fetch(url);
      if (r.ok) return r;
      if (r.status === 404 || r.status === 410) throw gone(url, r.status);
      if (r.status < 500 && r.status !== 429) throw failure(`cannot load ${what}: the host answered ${r.status} for ${url}`, true);
      problem = `the host answered ${r.status}`;
    } catch (e) {
      if (e.fatal) throw e;
      problem = String((e && e.message) || e);
    }
    if (attempt >= RETRIES) throw failure(`cannot load ${what} from ${url} (${problem}); check the connection and try again`, true);
    await sleep(BACKOFF_MS << attempt);
  }
}

/** Imports the glue module. A failed import of a URL may be remembered by the browser, so a
 * retry asks for the same file under a new query string; a probe tells a redeploy (404)
 * from a passing failure. */
async function importGlue(url) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await import(attempt ? `${url}?retry=${attempt}` : url);
    } catch (e) {
      if (attempt >= RETRIES) throw failure(`cannot load the query engine from ${url} (${(e && e.message) || e}); check the connection and try again`, true);
      const probe = await fetch(url).catch(() => null);
      if (probe && (probe.status === 404 || probe.status === 410)) throw gone(url, probe.status);
      await sleep(BACKOFF_MS << attempt);
    }
  }
}

// The engine reports progress after every request while a query blocks this Worker
// (wasm.rs calls this); the page hears it at most every PROGRESS_MS, and always at once for
// the first request of a query.
const PROGRESS_MS = 100;
let running = null;
let lastProgress = 0;
self.bakeProgress = (requests, bytes, expected) => {
  const now = performance.now();
  if (running === null || (requests > 1 && now - lastProgress < PROGRESS_MS)) return;
  lastProgress = now;
  self.postMessage({ id: running, progress: { requests, bytes, expected: expected >= 0 ? expected : null } });
};

// ---- the device store: data blocks kept on this device (OPFS), under the engine's cache ----
//
// A service worker never sees the engine's synchronous XHR (Chromium, WebKit), so the
// blocks a query fetched are kept here, in the origin private file system, read and written
// synchronously (FileSystemSyncAccessHandle) while a query blocks this Worker. Every block
// is stored under the content hash of its part (the 16 hex digits in the part's URL), never
// by URL: a redeploy names new parts, so old and new bytes cannot mix. Per part two files:
// `HASH.part` (the part's bytes at their offsets) and `HASH.map` (one bit per 512 bytes
// present). Handles are opened in `init` and after each query (getting one is async);
// blocks of a part with no handle yet wait in memory and are written after the query.
// Two tabs share the files: Chromium's `readwrite-unsafe` handles let both read and write
// (the bytes of a hash are always the same); where that mode is missing a part another tab
// holds is read from the network instead.
const GRANULE = 512;
const STORE_DIR = "bake-store";
const INDEX_FILE = "index.json";
/** Bytes of blocks waiting for a handle, at most; more are left to the memory cache. */
const QUEUE_LIMIT = 64 * 1024 * 1024;
const HASH_RE = /\.([0-9a-f]{16})\.bin$/;

const store = {
  /** The store's folder, or null (no OPFS here, or it was refused). */
  dir: null,
  /** Part URL → {hash, length}; every part of the manifest. */
  parts: new Map(),
  /** Part hash → {data, map, bits, length, dirty}: parts with open handles. */
  open: new Map(),
  /** Hashes that could not be opened (held by another tab without readwrite-unsafe). */
  refused: new Set(),
  /** Blocks of parts with no handle yet: [{hash, length, at, bytes}]. */
  queue: [],
  queued: 0,
  /** This query: blocks read from the device, their bytes, and the first request that
   * found neither the device nor the network. */
  reads: 0,
  bytes: 0,
  miss: null,
  /** Bytes the device store may hold beyond saved databases (LRU). */
  capBytes: 256 * 1024 * 1024,
  /** Hash → last use (ms), for LRU. */
  used: new Map(),
  /** A flush in progress (handles opened, queued blocks written, maps saved). */
  flushing: null,
  /** Hot sidecar parts read from the device in `init`: the first query's stats. */
  hot: { reads: 0, bytes: 0, fetched: 0 },
  /** Whether reads may come from the device (`bake.restart()` starts cold: they may not). */
  readable: true,
  /** Whether stale parts were pruned in this Worker. */
  pruned: false,
  /** Whether the host answered a data read in this Worker (the manifest is current). */
  online: false,
};

const granules = (length) => Math.ceil(length / GRANULE);
const hashOf = (url) => (HASH_RE.exec(url) || [])[1] || null;
const bit = (bits, g) => (bits[g >> 3] >> (g & 7)) & 1;

/** Whether bytes `at .. at + length` of the part are all on the device. */
function present(entry, at, length) {
  const last = Math.ceil((at + length) / GRANULE);
  for (let g = Math.floor(at / GRANULE); g < last; g++) if (!bit(entry.bits, g)) return false;
  return true;
}

/** Marks the granules that `at .. at + length` covers whole (or up to the part's end). */
function mark(entry, at, length) {
  const end = at + length;
  const last = end >= entry.length ? granules(entry.length) : Math.floor(end / GRANULE);
  for (let g = Math.ceil(at / GRANULE); g < last; g++) entry.bits[g >> 3] |= 1 << (g & 7);
  entry.dirty = true;
}

/** Bytes of a part on the device (granules present). */
function storedBytes(bits, length) {
  let n = 0;
  const count = granules(length);
  for (let g = 0; g < count; g++) n += bit(bits, g);
  return Math.min(n * GRANULE, length);
}

/** A sync access handle; `readwrite-unsafe` where the browser has it, so tabs share. */
async function syncHandle(file) {
  try {
    return await file.createSyncAccessHandle({ mode: "readwrite-unsafe" });
  } catch (e) {
    if (e && e.name === "NoModificationAllowedError") throw e;
    return file.createSyncAccessHandle();
  }
}

/** Opens (or, with `create`, makes) the files of part `hash`; null if it is not there. */
async function openPart(dir, hash, length, create) {
  let dataFile, mapFile;
  try {
    dataFile = await dir.getFileHandle(`${hash}.part`, { create });
    mapFile = await dir.getFileHandle(`${hash}.map`, { create });
  } catch (e) {
    if (e && e.name === "NotFoundError") return null;
    throw e;
  }
  const data = await syncHandle(dataFile);
  let map;
  try {
    map = await syncHandle(mapFile);
  } catch (e) {
    data.close();
    throw e;
  }
  const bits = new Uint8Array(Math.ceil(granules(length) / 8));
  map.read(bits, { at: 0 });
  return { data, map, bits, length, dirty: false };
}

/** Writes a part's map, merged with what another tab wrote meanwhile (bits only ever get
 * set while a handle is open: a part is deleted only when no tab holds it). */
function saveMap(entry) {
  if (!entry.dirty) return;
  const disk = new Uint8Array(entry.bits.length);
  entry.map.read(disk, { at: 0 });
  for (let i = 0; i < disk.length; i++) entry.bits[i] |= disk[i];
  entry.map.write(entry.bits, { at: 0 });
  entry.map.flush();
  entry.dirty = false;
}

function closePart(hash) {
  const entry = store.open.get(hash);
  if (!entry) return;
  try {
    saveMap(entry);
  } catch {}
  entry.data.close();
  entry.map.close();
  store.open.delete(hash);
}

async function readIndex(dir) {
  try {
    const file = await (await dir.getFileHandle(INDEX_FILE)).getFile();
    const index = JSON.parse(await file.text());
    return { saved: index.saved || {}, used: index.used || {} };
  } catch {
    return { saved: {}, used: {} };
  }
}

async function writeIndex(dir, index) {
  const w = await (await dir.getFileHandle(INDEX_FILE, { create: true })).createWritable();
  await w.write(JSON.stringify(index));
  await w.close();
}

/** Hashes of every part of the saved databases and indexes: never evicted. */
const savedHashes = (index) => new Set(Object.values(index.saved).flatMap((s) => s.hashes || []));

/** The store's folder, or null where there is no OPFS (or it is refused). */
async function storeDir() {
  try {
    const root = await navigator.storage.getDirectory();
    return await root.getDirectoryHandle(STORE_DIR, { create: true });
  } catch {
    return null;
  }
}

/** Opens the device store for `manifest`: a handle on every part of it already stored. */
async function openStore(manifest, capMiB, readable) {
  store.readable = readable !== false;
  store.capBytes = (capMiB > 0 ? capMiB : 256) * 1024 * 1024;
  for (const [name, file] of Object.entries(manifest.files || {})) {
    for (const part of file.parts || []) {
      const hash = hashOf(part.url);
      if (hash) store.parts.set(part.url, { hash, length: part.length, file: name });
    }
  }
  store.dir = await storeDir();
  if (!store.dir) return;
  const index = await readIndex(store.dir);
  for (const [hash, t] of Object.entries(index.used)) store.used.set(hash, t);
  const hashes = new Map([...store.parts.values()].map((p) => [p.hash, p.length]));
  await Promise.all([...hashes].map(async ([hash, length]) => {
    try {
      const entry = await openPart(store.dir, hash, length, false);
      if (entry) store.open.set(hash, entry);
    } catch {
      store.refused.add(hash);
    }
  }));
}

/** The bytes of a read, from the device, as the host would answer it; or null. */
function deviceRead(url, offset, length) {
  if (!store.readable) return null;
  const part = store.parts.get(url);
  const entry = part && store.open.get(part.hash);
  if (!entry) return null;
  const whole = offset < 0;
  const at = whole ? 0 : offset;
  const len = whole ? entry.length : length;
  if (at + len > entry.length || !present(entry, at, len)) return null;
  const body = new Uint8Array(len);
  let read;
  try {
    read = entry.data.read(body, { at });
  } catch {
    // The file went away under us (the browser cleared the site's storage): the network.
    store.open.delete(part.hash);
    return null;
  }
  if (read !== len) return null;
  store.reads++;
  store.bytes += len;
  store.used.set(part.hash, Date.now());
  if (whole) return { status: 200, body };
  return { status: 206, contentRange: `bytes ${at}-${at + len - 1}/${entry.length}`, body };
}

/** Keeps bytes the host answered with (checked as the engine checks them). */
function deviceWrite(url, offset, answer) {
  const part = store.parts.get(url);
  if (!part || !store.dir || answer.contentEncoding || store.refused.has(part.hash)) return;
  let at;
  if (answer.status === 200 && answer.body.length === part.length) at = 0;
  else if (answer.status === 206 && offset >= 0) {
    const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(answer.contentRange || "");
    if (!m || Number(m[1]) !== offset || Number(m[2]) !== offset + answer.body.length - 1) return;
    if (m[3] !== "*" && Number(m[3]) !== part.length) return;
    at = offset;
  } else return;
  store.used.set(part.hash, Date.now());
  const entry = store.open.get(part.hash);
  if (entry) {
    try {
      entry.data.write(answer.body, { at });
      mark(entry, at, answer.body.length);
    } catch {
      // Quota reached, or the file went away: the block stays in the memory cache only.
    }
    return;
  }
  if (store.queued + answer.body.length > QUEUE_LIMIT) return;
  store.queue.push({ hash: part.hash, length: part.length, at, bytes: answer.body.slice() });
  store.queued += answer.body.length;
}

/** One GET by synchronous XHR, as `bakeFetch` answers it. */
function network(url, offset, length) {
  if (!navigator.onLine) return { status: 0, offline: true, error: "the browser is offline" };
  const xhr = new XMLHttpRequest();
  try {
    xhr.open("GET", url, false);
    xhr.responseType = "arraybuffer";
    if (offset >= 0) xhr.setRequestHeader("Range", `bytes=${offset}-${offset + length - 1}`);
    xhr.send();
  } catch (e) {
    return { status: 0, offline: !navigator.onLine, error: `the request failed (${(e && e.message) || e})` };
  }
  if (!xhr.status) return { status: 0, offline: !navigator.onLine, error: "the request did not complete (offline, blocked or reset)" };
  return {
    status: xhr.status,
    contentRange: xhr.getResponseHeader("Content-Range"),
    contentEncoding: xhr.getResponseHeader("Content-Encoding"),
    etag: xhr.getResponseHeader("ETag"),
    body: new Uint8Array(xhr.response || new ArrayBuffer(0)),
  };
}

/** The engine's fetch (wasm.rs): the device store first, then the host. */
self.bakeFetch = (url, offset, length) => {
  const local = deviceRead(url, offset, length);
  if (local) return local;
  const answer = network(url, offset, length);
  if (answer.status === 0) {
    if (!store.miss) {
      const part = store.parts.get(url);
      store.miss = { bytes: offset >= 0 ? length : (part ? part.length : 0), file: part ? part.file : url };
    }
  } else if (answer.status === 200 || answer.status === 206) {
    store.online = true;
    store.miss = null;
    deviceWrite(url, offset, answer);
  }
  return answer;
};

/** After a query: opens handles for parts that had none, writes their waiting blocks,
 * saves the maps, keeps the LRU times and evicts past the cap. */
function flushStore() {
  if (!store.dir) return Promise.resolve();
  const run = async () => {
    const queue = store.queue;
    store.queue = [];
    store.queued = 0;
    for (const block of queue) {
      let entry = store.open.get(block.hash);
      if (!entry && !store.refused.has(block.hash)) {
        try {
          entry = await openPart(store.dir, block.hash, block.length, true);
          store.open.set(block.hash, entry);
        } catch {
          store.refused.add(block.hash);
        }
      }
      if (!entry) continue;
      try {
        entry.data.write(block.bytes, { at: block.at });
        mark(entry, block.at, block.bytes.length);
      } catch {}
    }
    for (const entry of store.open.values()) {
      try {
        saveMap(entry);
      } catch {}
    }
    await evict();
    if (store.online && !store.pruned) {
      store.pruned = true;
      await prune();
    }
  };
  store.flushing = (store.flushing || Promise.resolve()).then(run).catch(() => {});
  return store.flushing;
}

/** Keeps the LRU times, and deletes the least recently used parts (not saved ones) while the
 * store holds more than its cap. A part another tab holds cannot be deleted and stays. */
async function evict() {
  const index = await readIndex(store.dir);
  for (const [hash, t] of store.used) index.used[hash] = Math.max(index.used[hash] || 0, t);
  const keep = savedHashes(index);
  const sizes = [];
  for await (const [name, handle] of store.dir.entries()) {
    const m = /^([0-9a-f]{16})\.map$/.exec(name);
    if (!m || keep.has(m[1])) continue;
    const entry = store.open.get(m[1]);
    let bytes;
    if (entry) bytes = storedBytes(entry.bits, entry.length);
    else {
      try {
        const bits = new Uint8Array(await (await handle.getFile()).arrayBuffer());
        bytes = storedBytes(bits, bits.length * 8 * GRANULE);
      } catch {
        continue;
      }
    }
    sizes.push({ hash: m[1], bytes, used: index.used[m[1]] || 0 });
  }
  let total = sizes.reduce((n, s) => n + s.bytes, 0);
  sizes.sort((a, b) => a.used - b.used);
  for (const s of sizes) {
    if (total <= store.capBytes) break;
    if (await deletePart(s.hash)) {
      total -= s.bytes;
      delete index.used[s.hash];
    }
  }
  await writeIndex(store.dir, index).catch(() => {});
}

/** Deletes the stored parts this build's manifest does not name: bytes of builds the host
 * no longer serves (a saved database whose data changed then shows "update available").
 * Run once the host answered a data read, so the manifest is the host's current one; a part
 * a tab still on the old build holds cannot be deleted and stays for a later visit. */
async function prune() {
  const current = new Set([...store.parts.values()].map((p) => p.hash));
  const stale = new Set();
  for await (const name of store.dir.keys()) {
    const m = /^([0-9a-f]{16})\.(part|map)$/.exec(name);
    if (m && !current.has(m[1])) stale.add(m[1]);
  }
  for (const hash of stale) await deletePart(hash);
}

/** Deletes part `hash` from the device (closing this Worker's handles); false if another
 * tab holds it. */
async function deletePart(hash) {
  closePart(hash);
  try {
    await store.dir.removeEntry(`${hash}.map`);
  } catch (e) {
    if (!(e && e.name === "NotFoundError")) return false;
  }
  try {
    await store.dir.removeEntry(`${hash}.part`);
  } catch {}
  store.used.delete(hash);
  return true;
}

/** The hot sidecar files a `kind` module reads first (databases for "sql", the search
 * index for "search"). */
const hotFiles = (manifest, kind) => kind === "sql"
  ? Object.values(manifest.databases || {}).map((db) => `${db.file}.hot`)
  : manifest.search ? [`${manifest.search.file}.hot`] : [];

/** The parts of the hot sidecars, from the device or fetched in parallel (and kept); a part
 * that fails is left to the engine. */
function prefetchHot(manifest, kind) {
  const jobs = [];
  for (const file of hotFiles(manifest, kind)) {
    for (const [index, part] of ((manifest.files[file] || {}).parts || []).entries()) {
      const local = deviceRead(part.url, -1, -1);
      if (local) {
        // The engine counts the hot parts it is given as the first query's requests.
        store.hot.reads++;
        store.hot.bytes += local.body.length;
        jobs.push([file, index, local.body]);
        continue;
      }
      store.hot.fetched++;
      jobs.push(fetch(part.url).then(async (r) => {
        if (!r.ok) return [file, index, null];
        const body = new Uint8Array(await r.arrayBuffer());
        store.online = true;
        deviceWrite(part.url, -1, { status: 200, body, contentEncoding: r.headers.get("Content-Encoding") });
        return [file, index, body];
      }).catch(() => [file, index, null]));
    }
  }
  return Promise.all(jobs);
}

/** The query failed without a network: what to tell the visitor instead of a network error. */
function offlineMessage(kind, miss) {
  const kb = Math.max(1, Math.ceil(miss.bytes / 1000));
  const what = kind === "search" ? "the search index" : "this database";
  return `this ${kind === "search" ? "search" : "query"} needs ${kb} kB (of ${miss.file}) that are not on this device, and the site cannot be reached: connect, or make ${what} available offline`;
}

// ---- making a database (or the search index) available offline: a Worker of its own ----

/** What can be made available offline: each database (its file and hot sidecar) and the
 * search index, with their parts. */
function offlineEntries(manifest) {
  // SQL attaches every database, reading each one's hot sidecar: a database's entry holds
  // the others' sidecars too (a few kB each).
  const others = (file) => Object.values(manifest.databases || {}).map((db) => `${db.file}.hot`).filter((f) => f !== `${file}.hot`);
  const entry = (name, kind, file) => {
    const files = [file, `${file}.hot`, ...(kind === "database" ? others(file) : [])].filter((f) => manifest.files[f]);
    const parts = files.flatMap((f) => manifest.files[f].parts.map((p) => ({ ...p, hash: hashOf(p.url) })));
    return { name, kind, files, parts, bytes: parts.reduce((n, p) => n + p.length, 0) };
  };
  const list = Object.entries(manifest.databases || {}).map(([name, db]) => entry(name, "database", db.file));
  if (manifest.search) list.push(entry("search", "search", manifest.search.file));
  return list;
}

/** Bytes of part `hash` on the device, read from its map file (0 if none). */
async function storedOf(dir, hash, length) {
  const open = store.open.get(hash);
  if (open) return storedBytes(open.bits, length);
  try {
    const file = await (await dir.getFileHandle(`${hash}.map`)).getFile();
    return storedBytes(new Uint8Array(await file.arrayBuffer()), length);
  } catch {
    return 0;
  }
}

async function offlineStatus(manifest) {
  const dir = await storeDir();
  const index = dir ? await readIndex(dir) : { saved: {}, used: {} };
  const out = [];
  for (const e of offlineEntries(manifest)) {
    let stored = 0;
    if (dir) for (const p of e.parts) stored += await storedOf(dir, p.hash, p.length);
    const saved = index.saved[e.name];
    const changed = Boolean(saved && saved.hashes && e.parts.some((p) => !saved.hashes.includes(p.hash)));
    if (changed && stored === e.bytes && dir) {
      // Saved from an older build, and every byte of this one is here already (fetched by
      // queries): it is this build that is saved now.
      saved.hashes = e.parts.map((p) => p.hash);
      await writeIndex(dir, index).catch(() => {});
    }
    out.push({
      name: e.name, kind: e.kind, bytes: e.bytes, stored_bytes: stored, complete: stored === e.bytes,
      saved: Boolean(saved), built: (saved && saved.built) || null,
      // Saved from an older build whose data changed: the new parts are to be fetched.
      update: changed && stored !== e.bytes,
    });
  }
  return out;
}

/** The request of a chunk of a part, checked as the engine checks answers. */
async function fetchChunk(part, at, length) {
  const whole = at === 0 && length === part.length;
  let last;
  for (let attempt = 0; attempt <= RETRIES; attempt++) {
    if (attempt) await sleep(BACKOFF_MS << (attempt - 1));
    let r;
    try {
      r = await fetch(part.url, { headers: { Range: `bytes=${at}-${at + length - 1}` }, cache: "no-store" });
    } catch (e) {
      last = `no answer (${(e && e.message) || e})`;
      continue;
    }
    if (r.status === 404 || r.status === 410) throw gone(part.url, r.status);
    if (r.status >= 500 || r.status === 429) {
      last = `the host answered ${r.status}`;
      continue;
    }
    if (r.headers.get("Content-Encoding")) throw failure(`the host sent ${part.url} compressed; data files must be served uncompressed`);
    const body = new Uint8Array(await r.arrayBuffer());
    if (r.status === 206) {
      const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(r.headers.get("Content-Range") || "");
      if (m && Number(m[1]) === at && Number(m[2]) === at + length - 1 && body.length === length) return { at, body };
    } else if (r.status === 200 && body.length === part.length) {
      return { at: 0, body };
    }
    if (whole && r.status === 200) throw failure(`the host's answer for ${part.url} does not match the manifest (${body.length} bytes)`);
    throw failure(`the host's answer for ${part.url} does not match the request (status ${r.status})`);
  }
  throw failure(`cannot download ${part.url} (${last}); check the connection and try again`);
}

/** Runs of absent granules of a part as [at, length], each at most `chunk` bytes. */
function missingRuns(entry, chunk) {
  const runs = [];
  const count = granules(entry.length);
  for (let g = 0; g < count;) {
    if (bit(entry.bits, g)) {
      g++;
      continue;
    }
    const at = g * GRANULE;
    while (g < count && !bit(entry.bits, g) && (g + 1) * GRANULE - at <= chunk) g++;
    runs.push([at, Math.min(g * GRANULE, entry.length) - at]);
  }
  return runs;
}

const SAVE_CHUNK = 4 * 1024 * 1024;

/** Downloads every part of `name` that is not on the device yet, reporting progress; what
 * was downloaded stays if this Worker is ended (cancel), so the next save resumes. */
async function offlineSave(id, manifest, name, built) {
  const e = offlineEntries(manifest).find((x) => x.name === name);
  if (!e) throw failure(`there is no database or search index named ${JSON.stringify(name)}`);
  const dir = await storeDir();
  if (!dir) throw failure("this browser does not let the site keep files on this device (no origin private file system)");
  store.dir = dir;
  let done = 0;
  for (const p of e.parts) done += await storedOf(dir, p.hash, p.length);
  // Saved (not evicted by the LRU) from the start, so a cancelled save keeps its blocks.
  const index = await readIndex(dir);
  index.saved[name] = { kind: e.kind, hashes: e.parts.map((p) => p.hash), bytes: e.bytes, built, complete: false };
  await writeIndex(dir, index);
  const progress = () => self.postMessage({ id, progress: { bytes: done, total: e.bytes } });
  progress();
  for (const p of e.parts) {
    let entry = store.open.get(p.hash);
    if (!entry) {
      entry = await openPart(dir, p.hash, p.length, true);
      store.open.set(p.hash, entry);
    }
    for (const [at, length] of missingRuns(entry, SAVE_CHUNK)) {
      const chunk = await fetchChunk(p, at, length);
      try {
        entry.data.write(chunk.body, { at: chunk.at });
      } catch (err) {
        const q = failure(`not enough space on this device to keep ${name} (${(e.bytes / 1e6).toFixed(1)} MB): ${(err && err.message) || err}`);
        q.kind = "quota";
        throw q;
      }
      const before = storedBytes(entry.bits, entry.length);
      mark(entry, chunk.at, chunk.body.length);
      saveMap(entry);
      done += storedBytes(entry.bits, entry.length) - before;
      progress();
    }
    entry.data.flush();
  }
  for (const hash of [...store.open.keys()]) closePart(hash);
  const after = await readIndex(dir);
  after.saved[name] = { ...index.saved[name], complete: true, at: Date.now() };
  await writeIndex(dir, after);
  return (await offlineStatus(manifest)).find((x) => x.name === name);
}

/** Forgets that `name` is saved and deletes its parts (those no other saved entry uses). */
async function offlineRemove(manifest, name) {
  const dir = await storeDir();
  if (!dir) return null;
  store.dir = dir;
  const index = await readIndex(dir);
  const saved = index.saved[name];
  delete index.saved[name];
  const keep = savedHashes(index);
  const current = (offlineEntries(manifest).find((x) => x.name === name) || { parts: [] }).parts.map((p) => p.hash);
  let held = 0;
  for (const hash of new Set([...((saved && saved.hashes) || []), ...current])) {
    if (keep.has(hash)) continue;
    // The query Workers just ended may still hold their handles for a moment.
    let gone = false;
    for (let attempt = 0; attempt < 10 && !(gone = await deletePart(hash)); attempt++) await sleep(100);
    if (!gone) held++;
    delete index.used[hash];
  }
  await writeIndex(dir, index);
  return { held };
}

/** The device store's ops (`offline-status`, `offline-save`, `offline-remove`): no engine. */
async function storeOp(id, op, args) {
  const manifest = JSON.parse(await (await get(args.manifest, "the data manifest")).text());
  if (op === "offline-status") return offlineStatus(manifest);
  if (op === "offline-save") return offlineSave(id, manifest, args.name, args.built || null);
  return offlineRemove(manifest, args.name);
}

self.onmessage = async (event) => {
  const { id, op, args } = event.data;
  try {
    if (op.startsWith("offline-")) {
      self.postMessage({ id, ok: true, result: await storeOp(id, op, args), stats: null });
      return;
    }
    if (op === "init") {
      // The manifest, the device store and the hot sidecars load in parallel with the
      // engine's code.
      const manifestText = get(args.manifest, "the data manifest").then((r) => r.text());
      const hot = manifestText.then(async (text) => {
        const manifest = JSON.parse(text);
        await openStore(manifest, args.deviceCacheMiB, args.readDevice);
        return prefetchHot(manifest, args.kind);
      }).catch(() => []);
      manifestText.catch(() => {});
      const glue = await importGlue(args.glue);
      const wasm = await get(args.wasm, "the query engine");
      try {
        await glue.default({ module_or_path: wasm });
      } catch (e) {
        throw failure(`the query engine (${args.wasm}) does not start: ${(e && e.message) || e}; reload the page`, true);
      }
      const manifest = await manifestText;
      bake = new glue.Bake(manifest, "", args.cacheMiB || 64);
      // The hot pages this module's first query needs, fetched while the wasm compiled.
      for (const [file, index, bytes] of await hot) {
        if (bytes) bake.accept_part(file, index, bytes);
      }
      self.postMessage({ id, ok: true, result: { sql: bake.has_sql(), store: Boolean(store.dir) }, stats: null });
      flushStore();
      return;
    }
    if (!bake) throw new Error("the query engine is not ready");
    // Blocks of the last query still being written: wait (handles are opened meanwhile).
    if (store.flushing) await store.flushing;
    const started = performance.now();
    running = id;
    // The hot parts the engine was given count in its first query (the device's too).
    store.reads = store.hot.reads;
    store.bytes = store.hot.bytes;
    const hotReads = store.hot.reads;
    const hotTrip = store.hot.reads && !store.hot.fetched ? 1 : 0;
    store.hot = { reads: 0, bytes: 0, fetched: 0 };
    store.miss = null;
    let answer;
    try {
      if (op === "search") {
        answer = bake.search(args.query, JSON.stringify(args.options || {}), args.budget || 0, args.maxRequests || 0);
      } else if (op === "sql") {
        if (!bake.has_sql()) throw new Error("this module has no SQL; the page must start the SQL module");
        answer = bake.sql(
          args.db, args.sql, JSON.stringify(args.params ?? null), args.maxRows || 10000, args.budget || 0,
          args.maxRequests || 0, args.timeLimit || 0, args.maxBytes || 0,
        );
      } else {
        throw new Error(`unknown operation ${op}`);
      }
    } catch (error) {
      // No network and the blocks are not on the device: say that, not "network error".
      if (store.miss && !(error instanceof WebAssembly.RuntimeError)) {
        const e = new Error(offlineMessage(op, store.miss));
        e.kind = "offline";
        throw e;
      }
      throw error;
    }
    const parsed = JSON.parse(answer);
    const s = parsed.stats;
    // Reads the device answered went through the engine's fetch too: count them apart.
    s.device_reads = store.reads;
    s.device_bytes = store.bytes;
    s.requests = Math.max(0, s.requests - store.reads);
    s.round_trips = Math.max(0, s.round_trips - (store.reads - hotReads + hotTrip));
    s.bytes = Math.max(0, s.bytes - store.bytes);
    s.ms = Math.round(performance.now() - started);
    self.postMessage({ id, ok: true, result: parsed.result, stats: s });
  } catch (error) {
    // A trap (a Rust panic, out of memory) leaves the wasm instance unusable: say so, and
    // the page replaces this Worker before the next call.
    const fatal = Boolean(error && (error.fatal || error instanceof WebAssembly.RuntimeError));
    let message = String((error && error.message) || error);
    if (error instanceof WebAssembly.RuntimeError) {
      // The panic hook (wasm.rs) says why, and names a part the host served wrong.
      message = `${self.bakeFailure || `the query engine failed (${message})`}; it restarts for the next query`;
      delete self.bakeFailure;
    }
    self.postMessage({ id, ok: false, error: message, kind: (error && error.kind) || null, fatal });
  } finally {
    if (op !== "init" && !op.startsWith("offline-")) {
      running = null;
      flushStore();
    }
  }
};
