// bake's page client: window.bake = { sql, search, databases, cancel }.
// Queries run in a Worker (see bake-worker.js) that reads the site's data files by HTTP
// Range. Two modules, each started in its own Worker on first use: searches go to the
// search module (tantivy), SQL to the SQL module (SQLite), so a page that only searches never
// downloads SQLite and a SQL page downloads the search module only when the visitor
// searches. Each Worker holds one engine, so one block cache.

const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content || "";
const MANIFEST = meta("bake-manifest");
const WORKER = meta("bake-worker");
const MODULES = {
  search: { glue: meta("bake-search-js"), wasm: meta("bake-search-wasm") },
  sql: { glue: meta("bake-sql-js"), wasm: meta("bake-sql-wasm") },
};
const DEFAULT_BUDGET = Number(meta("bake-budget")) || 64 * 1024 * 1024;
// What the device store (OPFS, in each Worker) may hold beyond saved databases: `[offline]
// device_cache_mib` in bake.toml when a page names it, else 256 MiB.
const DEVICE_CACHE_MIB = Number(meta("bake-device-cache-mib")) || 256;
const DEFAULT_TIME_LIMIT = 30_000;
const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;
// A query that needs more round trips than this stops and asks (the engine keeps every
// query within a sequential read of the B-trees it touches, far below this).
const DEFAULT_MAX_REQUESTS = 2000;
// Starting the Worker is retried like the engine's data reads: 3 more tries, 100/200/400 ms apart.
const RETRIES = 3;
const BACKOFF_MS = 100;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** An error from the query engine. `kind`: "budget" (the byte budget stopped the query),
 * "requests" (its request budget), "time" (its time limit), "size" (its size limit),
 * "cancelled", "superseded" (a newer search of its channel replaced it), or "error". */
export class BakeError extends Error {
  constructor(message, kind) {
    super(message);
    this.name = "BakeError";
    this.kind = kind || (/budget/.test(message) ? "budget" : "error");
  }
}

let seq = 0;
// Whether new Workers read the device store (`bake.restart()` makes them start cold).
let readDevice = true;
// Per module: its Worker, the current start of that Worker (a promise) or null — a failed
// start is forgotten, so the next call starts afresh instead of failing for good — and the
// calls waiting on it.
const engines = {};
for (const kind of Object.keys(MODULES)) engines[kind] = { kind, worker: null, ready: null, pending: new Map() };

function failAll(e, message, kind) {
  for (const { reject } of e.pending.values()) reject(new BakeError(message, kind));
  e.pending.clear();
}

function call(e, w, op, args, onProgress) {
  return new Promise((resolve, reject) => {
    const id = ++seq;
    e.pending.set(id, { resolve, reject, onProgress });
    w.postMessage({ id, op, args });
  });
}

/** Why the Worker script did not run: a redeploy (404) or a passing failure. */
async function workerProblem() {
  const r = await fetch(WORKER).catch(() => null);
  if (r && (r.status === 404 || r.status === 410)) {
    return { message: `the site was updated since this page was loaded: ${WORKER} is no longer on the host (${r.status}); reload the page`, retry: false };
  }
  const detail = !r ? "no answer" : r.ok ? "it did not run" : `the host answered ${r.status}`;
  return { message: `cannot start the query engine: ${WORKER} did not load (${detail}); check the connection and try again`, retry: true };
}

/** Ends `e`'s Worker `w`; the calls waiting on it are told by the caller. */
function end(e, w) {
  w.terminate();
  if (e.worker === w) e.worker = null;
}

/** One try at a Worker running `e`'s module; resolves once its init answered. */
function startOnce(e, attempt) {
  const w = new Worker(attempt ? `${WORKER}?retry=${attempt}` : WORKER, { type: "module" });
  e.worker = w;
  let initialised = false;
  w.onmessage = (event) => {
    const { id, ok, result, stats, error, kind: errorKind, fatal, progress } = event.data;
    const p = e.pending.get(id);
    if (!p) return;
    if (progress) {
      if (p.onProgress) p.onProgress(progress);
      return;
    }
    e.pending.delete(id);
    if (ok) {
      p.resolve({ result, stats });
      return;
    }
    p.reject(new BakeError(error, errorKind));
    if (fatal) {
      // The wasm instance is broken (or never started): the next call starts a new Worker.
      end(e, w);
      if (initialised) {
        e.ready = null;
        failAll(e, "the query engine failed and was restarted; run the query again");
      }
    }
  };
  const init = call(e, w, "init", { ...MODULES[e.kind], kind: e.kind, manifest: MANIFEST, deviceCacheMiB: DEVICE_CACHE_MIB, readDevice }).then((v) => {
    initialised = true;
    return v;
  });
  const scriptFailed = new Promise((_, reject) => {
    w.onerror = (event) => {
      event.preventDefault();
      if (e.worker !== w) return;
      end(e, w);
      if (!initialised) {
        // The script itself did not load (or threw at once): no answer will come.
        e.pending.clear();
        reject(Object.assign(new BakeError("the query engine did not start"), { scriptFailed: true }));
        return;
      }
      e.ready = null;
      failAll(e, `the query engine stopped: ${event.message || "unknown error"}; run the query again`);
    };
  });
  return Promise.race([init, scriptFailed]);
}

async function start(e) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await startOnce(e, attempt);
    } catch (e) {
      if (!e.scriptFailed) throw e;
      const problem = await workerProblem();
      if (!problem.retry || attempt >= RETRIES) throw new BakeError(problem.message);
      await sleep(BACKOFF_MS << attempt);
    }
  }
}

function stop(e, reason) {
  if (e.worker) end(e, e.worker);
  e.ready = null;
  failAll(e, reason === "cancelled" ? "the query was cancelled" : "the query engine restarted", "cancelled");
}

// ---- offline: the service worker keeps the page shell (bake-sw.js) -----------------------

const SERVICE_WORKER = "/bake-sw.js";
const swRegistration = "serviceWorker" in navigator && MANIFEST
  ? navigator.serviceWorker.register(SERVICE_WORKER).catch(() => null)
  : Promise.resolve(null);
// The first page of a visit loaded before the service worker controlled it: keep it too.
if ("serviceWorker" in navigator && MANIFEST && !navigator.serviceWorker.controller) {
  keepFiles([location.pathname], 60_000).catch(() => {});
}

/** Asks the service worker to keep `urls` (from the HTTP cache when it has them); resolves
 * `{failed}` (how many could not be kept), or null without an active service worker. */
async function keepFiles(urls, waitMs = 10_000) {
  const reg = await swRegistration;
  if (!reg) return null;
  const active = reg.active || (await Promise.race([navigator.serviceWorker.ready.then((r) => r.active), sleep(waitMs)]));
  if (!active) return null;
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = (event) => resolve(event.data);
    active.postMessage({ type: "keep", urls }, [channel.port2]);
  });
}

/** The files a module's Worker starts from: kept by the service worker once the module ran. */
const engineFiles = (kind) => [WORKER, MODULES[kind].glue, MODULES[kind].wasm, MANIFEST];

function stopAll() {
  for (const e of Object.values(engines)) stop(e, "cancelled");
}

/** `kind`'s Worker, started if it is not (or its last start failed). */
function ensure(kind) {
  if (!MANIFEST) return Promise.reject(new BakeError("this site has no data or search index"));
  const e = engines[kind];
  if (!e.ready) {
    stop(e, "replaced");
    const attempt = start(e);
    // The first page fetched them before the service worker controlled it: keep them now.
    attempt.then(() => keepFiles(engineFiles(kind))).catch(() => {});
    e.ready = attempt;
    attempt.catch(() => {
      // Forget a failed start (unless a newer one replaced it): the next call starts afresh.
      if (e.ready === attempt) {
        e.ready = null;
        if (e.worker) end(e, e.worker);
      }
    });
  }
  return e.ready;
}

/** Sends `op` to the started Worker of module `kind` ("search" or "sql"). */
async function send(kind, op, args, onProgress) {
  const e = engines[kind];
  await ensure(kind);
  if (!e.worker) throw new BakeError("the query engine restarted; run the query again", "cancelled");
  return call(e, e.worker, op, args, onProgress);
}

// Searches of one channel (the header box, the search page): a Worker answers queries one at
// a time, so while one runs only the newest one waits here; an older waiting one is dropped
// before it reaches the Worker (rejected "superseded"), and the Worker and its cache live on.
const channels = new Map();

/** Sends a search on `channel`, replacing the one of that channel still waiting (if any). */
function searchOn(channel, args, onProgress) {
  let c = channels.get(channel);
  if (!c) channels.set(channel, (c = { busy: false, waiting: null }));
  return new Promise((resolve, reject) => {
    if (c.waiting) c.waiting.reject(new BakeError("a newer search replaced this one", "superseded"));
    c.waiting = { args, onProgress, resolve, reject };
    pump(c);
  });
}

function pump(c) {
  if (c.busy || !c.waiting) return;
  const { args, onProgress, resolve, reject } = c.waiting;
  c.waiting = null;
  c.busy = true;
  send("search", "search", args, onProgress).then(resolve, reject).finally(() => {
    c.busy = false;
    pump(c);
  });
}

/** Rejects every search still waiting for its channel. */
function dropWaiting() {
  for (const c of channels.values()) {
    if (c.waiting) c.waiting.reject(new BakeError("the query was cancelled", "cancelled"));
    c.waiting = null;
  }
}

let manifestPromise = null;
/** The manifest, fetched with retries; a failure is forgotten so the next call tries again. */
function manifest() {
  if (!manifestPromise) {
    manifestPromise = (async () => {
      for (let attempt = 0; ; attempt++) {
        let problem;
        try {
          const r = await fetch(MANIFEST);
          if (r.ok) return await r.json();
          if (r.status === 404 || r.status === 410) {
            throw new BakeError(`the site was updated since this page was loaded: ${MANIFEST} is no longer on the host (${r.status}); reload the page`);
          }
          problem = `the host answered ${r.status}`;
          if (r.status < 500 && r.status !== 429) throw new BakeError(`cannot load the data manifest: ${problem} for ${MANIFEST}`);
        } catch (e) {
          if (e instanceof BakeError) throw e;
          problem = String((e && e.message) || e);
        }
        if (attempt >= RETRIES) throw new BakeError(`cannot load the data manifest (${problem}); check the connection and try again`);
        await sleep(BACKOFF_MS << attempt);
      }
    })();
    manifestPromise.catch(() => {
      manifestPromise = null;
    });
  }
  return manifestPromise;
}

const bake = {
  /** Runs one SQL statement on `db` (the other databases are attached by name). Options:
   * {budget (bytes), maxRequests (default 2000), timeLimit (ms, default 30000), maxBytes
   * (default 64 MiB), maxRows, onProgress({requests, bytes, expected}) — called while the
   * query runs; `expected` is the bytes it will fetch in all, or null when not known}. */
  async sql(db, sql, params = null, options = {}) {
    const { result, stats } = await send("sql", "sql", {
      db, sql, params, budget: options.budget ?? DEFAULT_BUDGET, maxRows: options.maxRows,
      maxRequests: options.maxRequests ?? DEFAULT_MAX_REQUESTS,
      timeLimit: options.timeLimit ?? DEFAULT_TIME_LIMIT, maxBytes: options.maxBytes ?? DEFAULT_MAX_BYTES,
    }, options.onProgress);
    return { ...result, stats };
  },
  /** Full-text search: options {limit, offset, section, tags, kind, exact, budget,
   * maxRequests, onProgress, channel}. With `channel` (any name, e.g. "header"), a newer
   * search of the same channel replaces one that has not started yet: that one rejects with
   * kind "superseded" (the one running finishes). */
  async search(query, options = {}) {
    const { budget, maxRequests, onProgress, channel, ...rest } = options;
    const args = { query, options: rest, budget: budget ?? DEFAULT_BUDGET, maxRequests: maxRequests ?? DEFAULT_MAX_REQUESTS };
    const { result, stats } = channel === undefined
      ? await send("search", "search", args, onProgress)
      : await searchOn(String(channel), args, onProgress);
    return { ...result, stats };
  },
  /** Databases with their tables and columns, from the manifest. */
  async databases() {
    const m = await manifest();
    return Object.entries(m.databases).map(([name, db]) => ({
      name,
      tables: db.tables.map((t) => ({
        name: t.name, rows: t.rows, columns: t.columns.map((c) => ({ name: c.name, type: c.type })),
      })),
    }));
  },
  /** Stops the running queries: ends each Worker that has calls waiting; the next call
   * starts a fresh one. An idle Worker (the other module's) keeps its cache. */
  cancel() {
    dropWaiting();
    for (const e of Object.values(engines)) if (e.pending.size) stop(e, "cancelled");
  },
  /** Ends every Worker, busy or idle: the next call starts afresh with an empty cache, and
   * cold — blocks kept on this device are not read (they still are written). With
   * `{device: true}` the next call starts as a new tab or a return visit does: an empty
   * memory cache over the device store. */
  restart(options = {}) {
    readDevice = Boolean(options.device);
    stopAll();
  },
  BakeError,
};
window.bake = bake;

// ---- bake.offline: make a database or the search index available offline ------------------

/** Runs one device-store op in a Worker of its own (no engine), ended when it answers or
 * when `signal` aborts (a cancelled save keeps what it downloaded: the next one resumes). */
function storeCall(op, args, onProgress, signal) {
  if (!MANIFEST) return Promise.reject(new BakeError("this site has no data or search index"));
  return new Promise((resolve, reject) => {
    if (signal && signal.aborted) {
      reject(new BakeError("the download was cancelled", "cancelled"));
      return;
    }
    const w = new Worker(WORKER, { type: "module" });
    const finish = () => {
      w.terminate();
      if (signal) signal.removeEventListener("abort", abort);
      if (current === abort) current = null;
    };
    const abort = () => {
      finish();
      reject(new BakeError("the download was cancelled", "cancelled"));
    };
    if (signal) signal.addEventListener("abort", abort);
    if (op === "offline-save") current = abort;
    w.onmessage = (event) => {
      const { ok, result, error, kind, progress } = event.data;
      if (progress) {
        if (onProgress) onProgress(progress);
        return;
      }
      finish();
      if (ok) resolve(result);
      else reject(new BakeError(error, kind));
    };
    w.onerror = (event) => {
      event.preventDefault();
      finish();
      reject(new BakeError(`the device store did not start (${event.message || "the Worker script did not load"}); check the connection and try again`));
    };
    w.postMessage({ id: 1, op, args: { ...args, manifest: MANIFEST } });
  });
}
let current = null;

/** Ends the query Workers, so the next query opens the device store afresh (and sees what a
 * save wrote, or lets a remove delete the files they held). */
function reopenEngines() {
  stopAll();
}

/** When the data was built: the manifest's Last-Modified as the host gives it, or null. */
async function builtDate() {
  try {
    const r = await fetch(MANIFEST);
    const t = r.headers.get("Last-Modified");
    return t ? new Date(t).toISOString() : null;
  } catch {
    return null;
  }
}

bake.offline = {
  /** `[{name, kind: "database"|"search", bytes, stored_bytes, complete, saved, built, update}]`:
   * what each database and the search index take, and how much of it is on this device.
   * `complete`: every byte is there; `saved`: kept by `save` (never evicted); `update`: saved
   * from an older build whose data changed (save again to fetch the new parts). */
  status() {
    return storeCall("offline-status", {});
  },
  /** Downloads every part of database `name` (or "search", the index) that is not on this
   * device yet, and keeps it: then every query on it works with no network. Options:
   * `onProgress({bytes, total})`, `signal` (an AbortSignal: cancels; the next save resumes
   * where this one stopped). Resolves the entry's new status. Asks the browser to persist
   * the site's storage. */
  async save(name, options = {}) {
    if (navigator.storage && navigator.storage.persist) navigator.storage.persist().catch(() => {});
    const entry = (await bake.offline.status()).find((e) => e.name === name);
    if (!entry) throw new BakeError(`there is no database or search index named ${JSON.stringify(name)}`);
    // Refused at once when it cannot fit: nothing is downloaded, nothing marked saved.
    const need = entry.bytes - entry.stored_bytes;
    const free = await spaceLeft();
    if (free !== null && need > free) {
      throw new BakeError(`not enough space on this device: ${name} needs ${sizeText(need)} more, and the browser lets this site use ${sizeText(free)}; free some space and try again`, "quota");
    }
    const kept = await keepFiles(engineFiles(entry.kind === "search" ? "search" : "sql"));
    if (kept && kept.failed) throw new BakeError("cannot keep the query engine's files on this device; check the connection and try again");
    const result = await storeCall("offline-save", { name, built: await builtDate() }, options.onProgress, options.signal);
    reopenEngines();
    return result;
  },
  /** Stops a running save (what it downloaded stays for the next one). */
  cancel() {
    if (current) current();
  },
  /** Deletes `name`'s parts from this device and forgets that it was saved. */
  async remove(name) {
    reopenEngines();
    return storeCall("offline-remove", { name });
  },
};

// ---- small DOM helpers shared by the theme's scripts --------------------------------------

/** Creates an element with text content (never HTML) and attributes. */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") e.textContent = v;
    else if (v !== null && v !== undefined && v !== false) e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

/** Text of a JSON value from a query result, as shown in tables. */
export function cellText(v) {
  if (v === null || v === undefined) return "NULL";
  if (typeof v === "object" && "blob" in v) return `(${Math.floor((v.blob.length * 3) / 4)} bytes)`;
  return String(v);
}

/** "3 requests · 24.0 kB · 12 ms" */
export function statsText(s) {
  if (!s) return "";
  const kb = (s.bytes / 1000).toFixed(1);
  return `${s.requests} request${s.requests === 1 ? "" : "s"} · ${kb} kB · ${s.cache_hits} cache hits · ${s.ms ?? 0} ms`;
}

const ENTITIES = { "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#39;": "'" };

/** Renders a snippet whose only markup is <mark>: everything else arrives escaped by the
 * engine, is decoded here, and is inserted as text — never parsed as HTML. */
export function snippetNode(html) {
  const span = el("span", { class: "snippet" });
  for (const [i, part] of String(html || "").split(/<\/?mark>/).entries()) {
    const text = part.replace(/&(amp|lt|gt|quot|#39);/g, (m) => ENTITIES[m]);
    span.append(i % 2 === 1 ? el("mark", { text }) : document.createTextNode(text));
  }
  return span;
}

/** A query result as CSV (RFC 4180: CRLF lines, fields with `"`, `,` or line breaks quoted). */
export function csvText(columns, rows) {
  const quote = (v) => {
    const s = v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v);
    return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [columns, ...rows].map((r) => r.map(quote).join(",")).join("\r\n") + "\r\n";
}

/** Saves `body` as a file named `name`; called on a click, so a large answer is turned into
 * a file only when someone wants it. */
export function saveFile(name, body, type) {
  const url = URL.createObjectURL(new Blob([body], { type }));
  const a = el("a", { href: url, download: name, hidden: "" });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Where a search hit links: a page hit opens at its best section (`anchor`, or the
 * sub-result's) with `?highlight=` naming its matched words, which that page marks on arrival
 * (see `highlightFromUrl`); a data row's URL is kept as it is. */
export function hitUrl(hit, anchor = hit.anchor) {
  if (hit.kind !== "page") return hit.url;
  const u = new URL(hit.url, location.origin);
  if (hit.words && hit.words.length) u.searchParams.set("highlight", hit.words.join(" "));
  u.hash = anchor || "";
  return u.origin === location.origin ? u.pathname + u.search + u.hash : u.href;
}

bake.ui = { el, cellText, statsText, snippetNode, csvText, saveFile, hitUrl };

// ---- highlight on arrival: /page/?highlight=cache+keys#section ----------------------------

// Words written in scripts without spaces between words match anywhere, others only whole.
const NO_SPACES = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u;

/** Marks the words of `?highlight=` in the page's text with the CSS Custom Highlight API
 * (the "bake-search" highlight; the DOM is not changed), and brings the first one into view
 * when the URL names no section (with one, the browser has scrolled there). Returns how many
 * places it marked. */
export function highlightFromUrl() {
  const words = (new URLSearchParams(location.search).get("highlight") || "").split(/\s+/).filter(Boolean).slice(0, 16);
  const root = document.querySelector("main .content") || document.querySelector("main");
  if (!words.length || !root || !window.CSS || !CSS.highlights || typeof Highlight !== "function") return 0;
  const escape = (w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const alternatives = words.map((w) => (NO_SPACES.test(w) ? escape(w) : `(?<![\\p{L}\\p{N}])${escape(w)}(?![\\p{L}\\p{N}])`));
  const pattern = new RegExp(alternatives.join("|"), "giu");
  const ranges = [];
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {
    acceptNode: (n) => (n.parentElement && n.parentElement.closest("script, style, svg") ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT),
  });
  for (let n = walker.nextNode(); n && ranges.length < 1000; n = walker.nextNode()) {
    for (const m of n.data.matchAll(pattern)) {
      const r = new Range();
      r.setStart(n, m.index);
      r.setEnd(n, m.index + m[0].length);
      ranges.push(r);
    }
  }
  if (!ranges.length) return 0;
  CSS.highlights.set("bake-search", new Highlight(...ranges));
  if (!location.hash) ranges[0].startContainer.parentElement.scrollIntoView({ block: "center" });
  return ranges.length;
}

highlightFromUrl();

// ---- the search box in every page's header -----------------------------------------------

/**
 * The header's search box as an ARIA 1.2 combobox with a listbox of instant results (what
 * Pagefind's UI does): results as you type, ↓/↑ move through them, Enter opens one (or, with
 * none chosen, the search page), Escape or a click/focus elsewhere closes the list, `/`
 * anywhere focuses the box. Without JavaScript the form still submits to /search/.
 */
function setupSearchBox() {
  const form = document.querySelector("form.search-box");
  if (!form || !MANIFEST) return;
  const input = form.querySelector("input[type=search]");
  const panel = form.querySelector(".search-dropdown");
  const status = form.querySelector(".search-box-status");
  let timer = null;
  let latest = 0;
  let active = -1;
  const options = () => [...panel.querySelectorAll("[role=option]:not([aria-disabled=true])")];
  const setOpen = (open) => {
    panel.hidden = !open;
    input.setAttribute("aria-expanded", String(open));
    if (!open) choose(-1);
  };
  const choose = (i) => {
    const all = options();
    active = all.length ? i : -1;
    all.forEach((o, j) => o.setAttribute("aria-selected", String(j === active)));
    if (active >= 0) {
      input.setAttribute("aria-activedescendant", all[active].id);
      all[active].scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  };
  const option = (id, url, ...children) => el("li", { role: "option", id: `search-option-${id}`, "data-url": url, "aria-selected": "false" }, ...children);
  const note = (cls, text) => el("li", { role: "option", class: cls, "aria-disabled": "true", text });
  const show = (items, said) => {
    panel.replaceChildren(...items);
    choose(-1); // the new options reuse the old ids: drop the chosen one
    status.textContent = said;
    setOpen(true);
  };
  const run = async () => {
    const q = input.value.trim();
    const ticket = ++latest;
    if (!q) {
      panel.replaceChildren();
      status.textContent = "";
      setOpen(false);
      return;
    }
    try {
      const res = await bake.search(q, { limit: 8, channel: "header" });
      if (ticket !== latest) return;
      if (!res.hits.length) return show([note("empty", `No results for “${q}”`)], `No results for ${q}`);
      const items = res.hits.map((h, i) => option(i, hitUrl(h), el("strong", { text: h.title }), snippetNode(h.snippet)));
      if (res.total > res.hits.length) {
        items.push(option("all", `/search/?q=${encodeURIComponent(q)}`, el("span", { class: "more", text: `All ${res.total.toLocaleString("en-US")} results →` })));
      }
      show(items, `${res.total.toLocaleString("en-US")} ${res.total === 1 ? "result" : "results"}; use the arrow keys to choose one`);
    } catch (e) {
      if (ticket !== latest || e.kind === "cancelled" || e.kind === "superseded") return;
      show([note("error", e.message)], e.message);
    }
  };
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(run, 120);
  });
  input.addEventListener("keydown", (e) => {
    const all = options();
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      if (panel.hidden) {
        if (panel.childElementCount) setOpen(true);
        return;
      }
      e.preventDefault();
      if (!all.length) return;
      const step = e.key === "ArrowDown" ? 1 : -1;
      choose(active < 0 ? (step > 0 ? 0 : all.length - 1) : (active + step + all.length) % all.length);
    } else if (e.key === "Enter" && !panel.hidden && active >= 0) {
      e.preventDefault();
      location.href = all[active].dataset.url;
    } else if (e.key === "Escape") {
      // The first Escape closes the list; the next one clears the box (as type=search does).
      if (!panel.hidden) {
        e.preventDefault();
        setOpen(false);
      }
    }
  });
  panel.addEventListener("mousedown", (e) => e.preventDefault()); // keep focus in the box
  panel.addEventListener("click", (e) => {
    const o = e.target.closest("[role=option]");
    if (o?.dataset.url) location.href = o.dataset.url;
  });
  input.addEventListener("focus", () => {
    if (panel.childElementCount && input.value.trim()) setOpen(true);
  });
  form.addEventListener("focusout", (e) => {
    if (!form.contains(e.relatedTarget)) setOpen(false);
  });
  document.addEventListener("click", (e) => {
    if (!form.contains(e.target)) setOpen(false);
  });
  document.addEventListener("keydown", (e) => {
    if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    if (t instanceof HTMLElement && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
    e.preventDefault();
    input.focus();
    input.select();
  });
}

setupSearchBox();

// ---- "make available offline" controls: every element with data-bake-offline="NAME" ------

const sizeText = (b) => `${(b / 1e6).toFixed(b < 1e7 ? 1 : 0)} MB`;

/** Space the browser lets this site use still, from `navigator.storage.estimate()`. */
async function spaceLeft() {
  try {
    const { usage, quota } = await navigator.storage.estimate();
    return quota ? Math.max(0, quota - usage) : null;
  } catch {
    return null;
  }
}

/** Shows `entry` in `box`: what saving takes, the progress of a save (with Cancel), or that
 * it is available offline (with Remove). */
function renderOffline(box, entry, free) {
  const label = entry.kind === "search" ? "the search index" : entry.name;
  const line = el("span", { class: "offline-state" });
  const buttons = [];
  if (entry.saved && entry.complete) {
    const built = entry.built ? ` · built ${entry.built.slice(0, 10)}` : "";
    line.textContent = `Available offline · ${sizeText(entry.bytes)}${built}`;
    buttons.push(el("button", { type: "button", class: "offline-remove", text: "Remove" }));
  } else {
    const left = free === null ? "" : ` · ${sizeText(free)} free on this device`;
    const part = entry.stored_bytes ? ` (${sizeText(entry.stored_bytes)} already here)` : "";
    line.textContent = entry.saved && entry.update
      ? `Update available (${sizeText(entry.bytes - entry.stored_bytes)})`
      : `Make ${label} available offline: ${sizeText(entry.bytes)}${part}${left}`;
    const verb = entry.saved && entry.update ? "Update" : entry.saved && entry.stored_bytes ? "Resume" : "Make available offline";
    buttons.push(el("button", { type: "button", class: "offline-save", text: verb }));
    if (entry.saved) buttons.push(el("button", { type: "button", class: "offline-remove", text: "Remove" }));
  }
  box.replaceChildren(line, " ", ...buttons);
  box.dataset.state = entry.saved && entry.complete ? "saved" : "not-saved";
}

async function refreshOffline(boxes) {
  try {
    const [status, free] = await Promise.all([bake.offline.status(), spaceLeft()]);
    for (const box of boxes) {
      const entry = status.find((e) => e.name === box.dataset.bakeOffline);
      if (entry) renderOffline(box, entry, free);
      else box.hidden = true;
    }
  } catch (e) {
    for (const box of boxes) box.replaceChildren(el("span", { class: "error", text: e.message }));
  }
}

function setupOfflineControls() {
  const boxes = [...document.querySelectorAll("[data-bake-offline]")];
  if (!boxes.length || !MANIFEST) return;
  for (const box of boxes) {
    box.addEventListener("click", async (event) => {
      const name = box.dataset.bakeOffline;
      if (event.target.classList.contains("offline-save")) {
        const controller = new AbortController();
        const bar = el("progress", { class: "offline-progress", "aria-label": "Download progress" });
        const done = el("span", { class: "offline-done" });
        const cancel = el("button", { type: "button", class: "offline-cancel", text: "Cancel" });
        cancel.addEventListener("click", () => controller.abort());
        box.replaceChildren(bar, " ", done, " ", cancel);
        box.dataset.state = "saving";
        try {
          await bake.offline.save(name, {
            signal: controller.signal,
            onProgress: ({ bytes, total }) => {
              bar.max = total;
              bar.value = bytes;
              done.textContent = `${sizeText(bytes)} of ${sizeText(total)}`;
            },
          });
        } catch (e) {
          if (e.kind !== "cancelled") {
            await refreshOffline(boxes);
            box.append(" ", el("span", { class: "error", role: "alert", text: e.message }));
            return;
          }
        }
        await refreshOffline(boxes);
      } else if (event.target.classList.contains("offline-remove")) {
        try {
          await bake.offline.remove(name);
        } catch (e) {
          box.append(" ", el("span", { class: "error", role: "alert", text: e.message }));
          return;
        }
        await refreshOffline(boxes);
      }
    });
  }
  refreshOffline(boxes);
}

setupOfflineControls();

// ---- the header's "Menu" on a narrow screen (a <details> in base.html) --------------------

/** Escape in the open menu closes it and puts focus back on its button, as a disclosure's
 * keyboard is expected to; a click elsewhere closes it too. It opens and closes without this. */
function setupMenu() {
  const menu = document.querySelector("details.site-menu");
  if (!menu) return;
  menu.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || !menu.open) return;
    menu.open = false;
    menu.querySelector("summary").focus();
  });
  document.addEventListener("click", (event) => {
    if (menu.open && !menu.contains(event.target)) menu.open = false;
  });
}

setupMenu();
