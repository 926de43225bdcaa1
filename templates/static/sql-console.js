// The SQL console (/sql/): run one statement over HTTP Range, show rows, stats, errors,
// downloads; cancel; run again with a higher limit when the byte budget, the time limit or
// the size limit stopped a query. A shared link (/sql/?sql=…) fills the editor but runs
// nothing until the visitor clicks Run: a link must not start work on someone's machine.
const { el, cellText, statsText } = window.bake.ui;
const MB = 1024 * 1024;

const form = document.getElementById("sql-form");
const db = document.getElementById("sql-db");
const text = document.getElementById("sql-text");
const runButton = document.getElementById("sql-run");
const cancelButton = document.getElementById("sql-cancel");
const stats = document.getElementById("sql-stats");
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
let last = null;

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
  stats.textContent = `Running… ${mbText(p.bytes)}${of} fetched in ${p.requests} request${p.requests === 1 ? "" : "s"}`;
}

function csv(res) {
  const quote = (v) => {
    const s = v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v);
    return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [res.columns, ...res.rows].map((r) => r.map(quote).join(",")).join("\r\n") + "\r\n";
}

function setDownload(id, body, type) {
  const a = document.getElementById(id);
  if (a.href.startsWith("blob:")) URL.revokeObjectURL(a.href);
  a.href = URL.createObjectURL(new Blob([body], { type }));
}

/** Shows `message`; for a query stopped by one of its limits (`kind`), offers to run it
 * again with that limit four times higher. */
function showError(message, kind) {
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
  errorBox.hidden = true;
  runButton.disabled = true;
  cancelButton.hidden = false;
  stats.textContent = "Running…";
  progress.hidden = false;
  progress.removeAttribute("value");
  const url = new URL(location.href);
  url.searchParams.set("db", db.value);
  url.searchParams.set("sql", sql);
  history.replaceState(null, "", url);
  try {
    const res = await window.bake.sql(db.value, sql, null, { ...limits, maxRows: 10000, onProgress: showProgress });
    last = res;
    const table = el("table", { class: "result" },
      el("thead", {}, el("tr", {}, ...res.columns.map((c) => el("th", { scope: "col", text: c })))),
      el("tbody", {}, ...res.rows.map((row) => el("tr", {}, ...row.map((v) => el("td", {
        class: v === null ? "null" : typeof v === "number" ? "num" : null, text: cellText(v),
      }))))));
    result.replaceChildren(table);
    stats.textContent = `${res.rows.length}${res.truncated ? "+" : ""} row${res.rows.length === 1 ? "" : "s"} · ${statsText(res.stats)}`;
    setDownload("dl-csv", csv(res), "text/csv");
    setDownload("dl-json", JSON.stringify({ columns: res.columns, rows: res.rows }), "application/json");
    downloads.hidden = false;
  } catch (e) {
    stats.textContent = "";
    if (e.kind !== "cancelled") showError(e.message, e.kind);
    else showError("Cancelled. The query engine was restarted; run it again when you like.");
  } finally {
    runButton.disabled = false;
    cancelButton.hidden = true;
    progress.hidden = true;
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
