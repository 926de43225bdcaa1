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
 * "cancelled", or "error". */
export class BakeError extends Error {
  constructor(message, kind) {
    super(message);
    this.name = "BakeError";
    this.kind = kind || (/budget/.test(message) ? "budget" : "error");
  }
}

let seq = 0;
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
  const init = call(e, w, "init", { ...MODULES[e.kind], kind: e.kind, manifest: MANIFEST }).then((v) => {
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

/** `kind`'s Worker, started if it is not (or its last start failed). */
function ensure(kind) {
  if (!MANIFEST) return Promise.reject(new BakeError("this site has no data or search index"));
  const e = engines[kind];
  if (!e.ready) {
    stop(e, "replaced");
    const attempt = start(e);
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
  /** Full-text search: options {limit, offset, section, tags, kind, budget, maxRequests, onProgress}. */
  async search(query, options = {}) {
    const { budget, maxRequests, onProgress, ...rest } = options;
    const { result, stats } = await send("search", "search", {
      query, options: rest, budget: budget ?? DEFAULT_BUDGET, maxRequests: maxRequests ?? DEFAULT_MAX_REQUESTS,
    }, onProgress);
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
    for (const e of Object.values(engines)) if (e.pending.size) stop(e, "cancelled");
  },
  /** Ends every Worker, busy or idle: the next call starts afresh with an empty cache. */
  restart() {
    for (const e of Object.values(engines)) stop(e, "cancelled");
  },
  BakeError,
};
window.bake = bake;

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

bake.ui = { el, cellText, statsText, snippetNode };

// ---- the search box in every page's header -----------------------------------------------

function setupSearchBox() {
  const form = document.querySelector("form.search-box");
  if (!form || !MANIFEST) return;
  const input = form.querySelector("input[type=search]");
  const panel = form.querySelector(".search-dropdown");
  let timer = null;
  let latest = 0;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const q = input.value.trim();
      const ticket = ++latest;
      if (!q) {
        panel.hidden = true;
        panel.replaceChildren();
        return;
      }
      try {
        const res = await bake.search(q, { limit: 8 });
        if (ticket !== latest) return;
        panel.replaceChildren(
          ...res.hits.map((h) => el("li", {}, el("a", { href: h.url }, el("strong", { text: h.title })), snippetNode(h.snippet))),
        );
        if (!res.hits.length) panel.replaceChildren(el("li", { class: "empty", text: `No results for “${q}”` }));
        const more = el("li", { class: "more" }, el("a", { href: `/search/?q=${encodeURIComponent(q)}`, text: `All ${res.total} results →` }));
        if (res.total > res.hits.length) panel.append(more);
        panel.hidden = false;
      } catch (e) {
        if (ticket !== latest || e.kind === "cancelled") return;
        panel.replaceChildren(el("li", { class: "error", text: e.message }));
        panel.hidden = false;
      }
    }, 120);
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Escape") panel.hidden = true;
  });
  document.addEventListener("click", (e) => {
    if (!form.contains(e.target)) panel.hidden = true;
  });
}

setupSearchBox();

