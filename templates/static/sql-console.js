// The SQL console (/sql/): run one statement over HTTP Range, show rows, stats, errors,
// downloads; cancel; run again with a higher limit when the byte budget, the time limit or
// the size limit stopped a query. A shared link (/sql/?sql=…) fills the editor but runs
// nothing until the visitor clicks Run: a link must not start work on someone's machine.
const { el, cellText, statsText, csvText, saveFile } = window.bake.ui;
const MB = 1024 * 1024;

const form = document.getElementById("sql-form");
const db = document.getElementById("sql-db");
const text = document.getElementById("sql-text");
const runButton = document.getElementById("sql-run");
const cancelButton = document.getElementById("sql-cancel");
const stats = document.getElementById("sql-status");
const details = document.getElementById("sql-details");
const detailsText = document.getElementById("sql-details-text");
const output = document.getElementById("sql-output");
const pager = document.getElementById("sql-pager");
const csvButton = document.getElementById("dl-csv");
const jsonButton = document.getElementById("dl-json");
const progress = document.getElementById("sql-progress");
const errorBox = document.getElementById("sql-error");
const result = document.getElementById("sql-result");
const downloads = document.getElementById("sql-downloads");
// The limits the next run uses; "Run again with more" multiplies one of them by 4.
const limits = { budget: 64 * MB, maxRequests: 2000, timeLimit: 30_000, maxBytes: 64 * MB };
const RAISE = {
  budget: { what: "byte budget", text: (v) => `${Math.round(v / MB)} MB` },
  requests: { key: "maxRequests", what: "request budget", text: (v) => `${v}` },
  time: { key: "timeLimit", what: "time limit", text: (v) => `${Math.round(v / 1000)} s` },
  size: { key: "maxBytes", what: "size limit", text: (v) => `${Math.round(v / MB)} MB` },
};
// Past this, a bigger answer would risk the tab's memory: no offer to raise the size limit.
const MAX_BYTES_CEILING = 1024 * MB;
// Rows drawn at once: a 10,000-row answer is shown a page at a time (the downloads have
// every row).
const PAGE_ROWS = 200;
let last = null;
let shownPage = 0;
const nf = new Intl.NumberFormat("en-US");
const n = (v) => nf.format(v);
const msText = (ms) => (ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`);

const mbText = (b) => `${(b / 1e6).toFixed(b < 1e7 ? 1 : 0)} MB`;

/** Shows how far the running query has come: a bar when its total is known. */
function showProgress(p) {
  progress.hidden = false;
  if (p.expected) {
    progress.max = p.expected;
    progress.value = Math.min(p.bytes, p.expected);
  } else {
    progress.removeAttribute("value");
  }
  const of = p.expected ? ` of ~${mbText(p.expected)}` : "";
  // The counters go on the bar's tooltip, not in the line the visitor reads.
  progress.title = `${mbText(p.bytes)}${of} fetched in ${p.requests} request${p.requests === 1 ? "" : "s"}`;
}

csvButton.addEventListener("click", () => last && saveFile("result.csv", csvText(last.columns, last.rows), "text/csv"));
jsonButton.addEventListener("click", () => last && saveFile("result.json", JSON.stringify({ columns: last.columns, rows: last.rows }), "application/json"));

/** Forgets the shown answer: its table, pager and downloads (which must not offer rows
 * from a query that is no longer the one on screen). */
function clearResult() {
  last = null;
  result.replaceChildren();
  pager.replaceChildren();
  pager.hidden = true;
  downloads.hidden = true;
  csvButton.disabled = true;
  jsonButton.disabled = true;
  details.hidden = true;
  detailsText.textContent = "";
}

/** Draws page `page` (from 0) of the answer `res`: at most PAGE_ROWS rows in the DOM. */
function showPage(res, page) {
  const pages = Math.max(1, Math.ceil(res.rows.length / PAGE_ROWS));
  shownPage = Math.min(Math.max(0, page), pages - 1);
  const from = shownPage * PAGE_ROWS;
  const rows = res.rows.slice(from, from + PAGE_ROWS);
  const table = el("table", { class: "result" },
    el("thead", {}, el("tr", {}, ...res.columns.map((c) => el("th", { scope: "col", text: c })))),
    el("tbody", {}, ...rows.map((row) => el("tr", {}, ...row.map((v) => el("td", {
      class: v === null ? "null" : typeof v === "number" ? "num" : null, text: cellText(v),
    }))))));
  result.replaceChildren(table);
  if (pages <= 1) {
    pager.replaceChildren();
    pager.hidden = true;
    return;
  }
  const prev = el("button", { type: "button", "data-key": "prev", text: "← Previous", disabled: shownPage === 0 ? "" : null });
  const next = el("button", { type: "button", "data-key": "next", text: "Next →", disabled: shownPage >= pages - 1 ? "" : null });
  const turn = (by, key) => {
    showPage(res, shownPage + by);
    const again = pager.querySelector(`[data-key="${key}"]`);
    (again && !again.disabled ? again : pager.querySelector("button:not([disabled])"))?.focus();
  };
  prev.addEventListener("click", () => turn(-1, "prev"));
  next.addEventListener("click", () => turn(1, "next"));
  const more = res.truncated ? "+" : "";
  pager.replaceChildren(prev, el("span", { class: "sql-range", "aria-live": "polite",
    text: ` rows ${n(from + 1)}–${n(from + rows.length)} of ${n(res.rows.length)}${more} ` }), next);
  pager.hidden = false;
}

/** Keeps what the run produced (a result or an error) where the visitor can see it. */
function reveal() {
  const r = output.getBoundingClientRect();
  if (r.top < 0 || r.top > window.innerHeight - 80) {
    // The status line (rows and time) sits just above the result: show both.
    (document.querySelector(".sql-actions") || output).scrollIntoView({ block: "start" });
  }
}

/** Shows `message`; for a query stopped by one of its limits (`kind`), offers to run it
 * again with that limit four times higher. */
function showError(message, kind) {
  clearResult();
  errorBox.replaceChildren(el("strong", { text: "Error: " }), document.createTextNode(message));
  const raise = RAISE[kind];
  const key = raise && (raise.key || kind);
  if (raise && !(key === "maxBytes" && limits.maxBytes * 4 > MAX_BYTES_CEILING)) {
    const more = limits[key] * 4;
    const again = el("button", { type: "button", class: "retry", text: `Run again with a ${raise.text(more)} ${raise.what}` });
    again.addEventListener("click", () => {
      limits[key] = more;
      run();
    });
    errorBox.append(" ", again);
  }
  errorBox.hidden = false;
}

async function run() {
  const sql = text.value.trim();
  if (!sql) return;
  const started = performance.now();
  errorBox.hidden = true;
  runButton.disabled = true;
  cancelButton.hidden = false;
  stats.textContent = "Running…";
  delete stats.dataset.ms;
  stats.classList.remove("cancelled");
  progress.hidden = false;
  progress.removeAttribute("value");
  progress.removeAttribute("title");
  const url = new URL(location.href);
  url.searchParams.set("db", db.value);
  url.searchParams.set("sql", sql);
  history.replaceState(null, "", url);
  try {
    const res = await window.bake.sql(db.value, sql, null, { ...limits, maxRows: 10000, onProgress: showProgress });
    clearResult();
    last = res;
    showPage(res, 0);
    const total = performance.now() - started;
    // Total time from the click, engine start and transfer included; the query's own time
    // (in the Worker) and the rest (starting the engine, moving rows) as details.
    const queryMs = res.stats?.ms ?? 0;
    const count = `${n(res.rows.length)}${res.truncated ? "+" : ""} row${res.rows.length === 1 ? "" : "s"}`;
    stats.textContent = `${count} in ${msText(total)}`;
    stats.dataset.ms = String(Math.round(total));
    detailsText.textContent = `query ${msText(queryMs)}, starting the engine and moving rows ${msText(Math.max(0, total - queryMs))} · ${statsText(res.stats)}`;
    details.hidden = false;
    csvButton.disabled = false;
    jsonButton.disabled = false;
    downloads.hidden = false;
    // After the rows are drawn: the time from click to rows, for anyone measuring.
    requestAnimationFrame(() => { stats.dataset.drawnMs = String(Math.round(performance.now() - started)); });
  } catch (e) {
    if (e.kind !== "cancelled") {
      stats.textContent = "";
      showError(e.message, e.kind);
    } else {
      clearResult();
      stats.textContent = "Cancelled. Run the query again when you like.";
      stats.classList.add("cancelled");
    }
  } finally {
    runButton.disabled = false;
    cancelButton.hidden = true;
    progress.hidden = true;
    reveal();
  }
}

form.addEventListener("submit", (e) => {
  e.preventDefault();
  run();
});
text.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    run();
  }
});
cancelButton.addEventListener("click", () => window.bake.cancel());
for (const b of document.querySelectorAll("button[data-sql]")) {
  b.addEventListener("click", () => {
    db.value = b.dataset.db;
    text.value = b.dataset.sql;
    run();
  });
}

const params = new URLSearchParams(location.search);
if (params.get("sql")) {
  if (params.get("db")) db.value = params.get("db");
  text.value = params.get("sql");
  stats.textContent = "A shared query: read it, then click Run to run it in your browser.";
}
