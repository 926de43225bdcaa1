// bake's Worker: owns ONE wasm module and ONE engine (one block cache) for the page.
// It blocks in synchronous XHR while a query runs, so it cannot read messages then; the
// page cancels a query by terminating this Worker and starting a fresh one.
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

/** Fetches the parts of the hot sidecars a `kind` module reads first (databases for "sql",
 * the search index for "search"), in parallel; a part that fails is left to the engine. */
function prefetchHot(manifest, kind) {
  const wanted = kind === "sql"
    ? Object.values(manifest.databases || {}).map((db) => `${db.file}.hot`)
    : manifest.search ? [`${manifest.search.file}.hot`] : [];
  const jobs = [];
  for (const file of wanted) {
    for (const [index, part] of ((manifest.files[file] || {}).parts || []).entries()) {
      jobs.push(fetch(part.url).then((r) => (r.ok ? r.arrayBuffer() : null)).catch(() => null)
        .then((bytes) => [file, index, bytes]));
    }
  }
  return Promise.all(jobs);
}

self.onmessage = async (event) => {
  const { id, op, args } = event.data;
  try {
    if (op === "init") {
      // The manifest and the hot sidecars load in parallel with the engine's code.
      const manifestText = get(args.manifest, "the data manifest").then((r) => r.text());
      const hot = manifestText.then((text) => prefetchHot(JSON.parse(text), args.kind)).catch(() => []);
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
        if (bytes) bake.accept_part(file, index, new Uint8Array(bytes));
      }
      self.postMessage({ id, ok: true, result: { sql: bake.has_sql() }, stats: null });
      return;
    }
    if (!bake) throw new Error("the query engine is not ready");
    const started = performance.now();
    running = id;
    let answer;
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
    const parsed = JSON.parse(answer);
    parsed.stats.ms = Math.round(performance.now() - started);
    self.postMessage({ id, ok: true, result: parsed.result, stats: parsed.stats });
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
    running = null;
  }
};
