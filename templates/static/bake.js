// bake's page client: window.bake = { sql, search, databases, cancel }.
// Queries run in a Worker (see bake-worker.js) that reads the site's data files by HTTP
// Range. A page that only searches loads the search-only module; the first SQL call (or a
// page marked data-bake-module="sql") switches to the module with SQLite. One Worker at a
// time, so one cache.

const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content || "";
const MANIFEST = meta("bake-manifest");
const WORKER = meta("bake-worker");
const MODULES = {
  search: { glue: meta("bake-search-js"), wasm: meta("bake-search-wasm") },
  sql: { glue: meta("bake-sql-js"), wasm: meta("bake-sql-wasm") },
};
const DEFAULT_BUDGET = Number(meta("bake-budget")) || 64 * 1024 * 1024;

/** An error from the query engine; `budget` is set when the byte budget stopped a query. */
export class BakeError extends Error {
  constructor(message, kind) {
    super(message);
    this.name = "BakeError";
    this.kind = kind || (/budget/.test(message) ? "budget" : "error");
  }
}

let worker = null;
let workerKind = null;
let ready = null;
let seq = 0;
const pending = new Map();

function failAll(message, kind) {
  for (const { reject } of pending.values()) reject(new BakeError(message, kind));
  pending.clear();
}

function call(op, args) {
  return new Promise((resolve, reject) => {
    const id = ++seq;
    pending.set(id, { resolve, reject });
    worker.postMessage({ id, op, args });
  });
}

function start(kind) {
  stop("replaced");
  worker = new Worker(WORKER, { type: "module" });
  workerKind = kind;
  worker.onmessage = (event) => {
    const { id, ok, result, stats, error } = event.data;
    const p = pending.get(id);
    if (!p) return;
    pending.delete(id);
    if (ok) p.resolve({ result, stats });
    else p.reject(new BakeError(error));
  };
  worker.onerror = (event) => {
    failAll(`the query engine stopped: ${event.message || "unknown error"}`);
    worker = null;
  };
  ready = call("init", { ...MODULES[kind], manifest: MANIFEST });
  return ready;
}

function stop(reason) {
  if (worker) {
    worker.terminate();
    worker = null;
    failAll(reason === "cancelled" ? "the query was cancelled" : "the query engine restarted", "cancelled");
  }
}

async function ensure(needSql) {
  if (!MANIFEST) throw new BakeError("this site has no data or search index");
  const preferred = document.documentElement.dataset.bakeModule === "sql" ? "sql" : "search";
  if (!worker || (needSql && workerKind !== "sql")) await start(needSql ? "sql" : preferred);
  else await ready;
}

let manifestPromise = null;
function manifest() {
  if (!manifestPromise) {
    manifestPromise = fetch(MANIFEST).then((r) => {
      if (!r.ok) throw new BakeError(`cannot load the data manifest (${r.status})`);
      return r.json();
    });
  }
  return manifestPromise;
}

const bake = {
  /** Runs one SQL statement on `db` (the other databases are attached by name). */
  async sql(db, sql, params = null, options = {}) {
    await ensure(true);
    const { result, stats } = await call("sql", {
      db, sql, params, budget: options.budget ?? DEFAULT_BUDGET, maxRows: options.maxRows,
    });
    return { ...result, stats };
  },
  /** Full-text search: options {limit, offset, section, tags, kind}. */
  async search(query, options = {}) {
    await ensure(false);
    const { budget, ...rest } = options;
    const { result, stats } = await call("search", { query, options: rest, budget: budget ?? DEFAULT_BUDGET });
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
  /** Stops the running query: ends the Worker; the next call starts a fresh one. */
  cancel() {
    stop("cancelled");
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
