// A table page (/tables/DB/TABLE/): paging, sorting, per-column filters and facet counts,
// each one SQL query over HTTP Range. State lives in the URL, so links and Back work.
const { el, cellText, statsText } = window.bake.ui;
const PAGE = 50;

const root = document.querySelector(".table-page");
const DB = root.dataset.db;
const TABLE = root.dataset.table;
const grid = root.querySelector("table.data-table");
const info = root.querySelector(".table-info");
const pager = root.querySelector(".pager");
const facetSelect = root.querySelector("select.facet-column");
const facetList = root.querySelector(".facet-values");
const errorBox = root.querySelector(".table-error");
const progress = root.querySelector(".table-progress");
const cancelButton = root.querySelector(".table-cancel");
cancelButton.addEventListener("click", () => window.bake.cancel());

/** Runs one query of this page with a progress bar and a Cancel button while it runs. */
async function sql(text, params) {
  progress.hidden = false;
  progress.removeAttribute("value");
  cancelButton.hidden = false;
  try {
    return await window.bake.sql(DB, text, params, {
      onProgress: (p) => {
        if (p.expected) {
          progress.max = p.expected;
          progress.value = Math.min(p.bytes, p.expected);
        }
        // On the bar, not in the row count line, which the query after this one may not rewrite.
        progress.title = `${(p.bytes / 1e6).toFixed(1)} MB fetched${p.expected ? ` of ~${(p.expected / 1e6).toFixed(1)} MB` : ""}`;
      },
    });
  } finally {
    progress.hidden = true;
    cancelButton.hidden = true;
  }
}
const q = (name) => `"${name.replace(/"/g, '""')}"`;

let columns = [];
let totalRows = 0;

function state() {
  const p = new URLSearchParams(location.search);
  const filters = p.getAll("f").map((f) => {
    const i = f.indexOf(":");
    return { column: f.slice(0, i), value: f.slice(i + 1) };
  }).filter((f) => columns.some((c) => c.name === f.column));
  return {
    page: Math.max(1, Number(p.get("page")) || 1),
    sort: columns.some((c) => c.name === p.get("sort")) ? p.get("sort") : null,
    desc: p.get("desc") === "1",
    rowid: p.get("rowid"),
    facet: p.get("facet") || "",
    filters,
  };
}

function go(change) {
  const p = new URLSearchParams(location.search);
  change(p);
  history.pushState(null, "", `?${p}`);
  load();
}

/** Filter syntax: `value` (equals), `>5`, `<=5`, `~text` (contains), `null`, `!null`. */
function where(s) {
  const clauses = [];
  const params = [];
  const numeric = (col) => /INT|REAL|FLOA|DOUB|NUM/i.test(columns.find((c) => c.name === col)?.type || "");
  const lit = (col, v) => (numeric(col) && v.trim() !== "" && !Number.isNaN(Number(v)) ? Number(v) : v);
  for (const { column, value } of s.filters) {
    const v = value.trim();
    let m;
    if (v.toLowerCase() === "null") clauses.push(`${q(column)} IS NULL`);
    else if (v.toLowerCase() === "!null") clauses.push(`${q(column)} IS NOT NULL`);
    else if ((m = v.match(/^(>=|<=|>|<|!=)\s*(.*)$/))) {
      clauses.push(`${q(column)} ${m[1]} ?`);
      params.push(lit(column, m[2]));
    } else if (v.startsWith("~")) {
      clauses.push(`${q(column)} LIKE ?`);
      params.push(`%${v.slice(1)}%`);
    } else {
      clauses.push(`${q(column)} = ?`);
      params.push(lit(column, v));
    }
  }
  if (s.rowid) {
    clauses.push("rowid = ?");
    params.push(Number(s.rowid));
  }
  return { sql: clauses.length ? ` WHERE ${clauses.join(" AND ")}` : "", params };
}

function header(s) {
  const sortRow = el("tr", {}, ...columns.map((c) => {
    const active = s.sort === c.name;
    const b = el("button", { type: "button", class: "sort", "data-key": `sort:${c.name}`,
      title: `Sort by ${c.name}`, text: `${c.name}${active ? (s.desc ? " ▼" : " ▲") : ""}` });
    b.addEventListener("click", () => go((p) => {
      if (active && !s.desc) p.set("desc", "1");
      else p.delete("desc");
      p.set("sort", c.name);
      p.delete("page");
    }));
    // aria-sort belongs on the column header, and only on the column the rows are sorted by.
    return el("th", { scope: "col", "aria-sort": active ? (s.desc ? "descending" : "ascending") : null },
      b, el("small", { class: "type", text: c.type }));
  }));
  const filterRow = el("tr", { class: "filters" }, ...columns.map((c) => {
    const current = s.filters.find((f) => f.column === c.name);
    const input = el("input", { type: "search", placeholder: "filter", "aria-label": `Filter ${c.name}`, "data-key": `filter:${c.name}`, value: current ? current.value : "" });
    input.addEventListener("change", () => go((p) => {
      const rest = p.getAll("f").filter((f) => !f.startsWith(`${c.name}:`));
      p.delete("f");
      for (const f of rest) p.append("f", f);
      if (input.value.trim()) p.append("f", `${c.name}:${input.value.trim()}`);
      p.delete("page");
    }));
    return el("th", {}, input);
  }));
  return el("thead", {}, sortRow, filterRow);
}

/** Puts focus back on the control that had it before the table was drawn again (`data-key`
 * names a control across redraws), or on the nearest one still enabled. */
function refocus(key) {
  if (!key) return;
  const found = document.querySelector(`[data-key="${CSS.escape(key)}"]`);
  const target = found && !found.disabled ? found : pager.querySelector("button:not([disabled])");
  if (target) target.focus();
}

async function load() {
  const s = state();
  const focusKey = document.activeElement?.dataset?.key;
  errorBox.hidden = true;
  const w = where(s);
  const order = s.sort ? ` ORDER BY ${q(s.sort)}${s.desc ? " DESC" : ""}, rowid` : " ORDER BY rowid";
  const query = `SELECT * FROM ${q(TABLE)}${w.sql}${order} LIMIT ${PAGE} OFFSET ${(s.page - 1) * PAGE}`;
  info.textContent = "Loading…";
  try {
    const res = await sql(query, w.params);
    let count = totalRows;
    let countStats = null;
    if (w.sql) {
      const c = await sql(`SELECT count(*) FROM ${q(TABLE)}${w.sql}`, w.params);
      count = c.rows[0][0];
      countStats = c.stats;
    }
    grid.replaceChildren(header(s), el("tbody", {}, ...res.rows.map((row) => el("tr", {}, ...row.map((v) => el("td", {
      class: v === null ? "null" : typeof v === "number" ? "num" : null, text: cellText(v),
    }))))));
    const first = count ? (s.page - 1) * PAGE + 1 : 0;
    const lastRow = (s.page - 1) * PAGE + res.rows.length;
    const st = countStats ? { ...res.stats, requests: res.stats.requests + countStats.requests, bytes: res.stats.bytes + countStats.bytes } : res.stats;
    info.textContent = `Rows ${first}–${lastRow} of ${count} · ${statsText(st)}`;
    const pages = Math.max(1, Math.ceil(count / PAGE));
    const prev = el("button", { type: "button", text: "← Previous", "data-key": "prev", disabled: s.page <= 1 ? "" : null });
    const next = el("button", { type: "button", text: "Next →", "data-key": "next", disabled: s.page >= pages ? "" : null });
    prev.addEventListener("click", () => go((p) => p.set("page", s.page - 1)));
    next.addEventListener("click", () => go((p) => p.set("page", s.page + 1)));
    pager.replaceChildren(prev, el("span", { text: ` page ${s.page} of ${pages} ` }), next);
    refocus(focusKey);
    await facets(s, w);
  } catch (e) {
    info.textContent = "";
    errorBox.textContent = e.kind === "cancelled" ? "Cancelled. Change a filter or reload to try again." : e.message;
    errorBox.hidden = false;
  }
}

async function facets(s, w) {
  facetSelect.value = s.facet;
  facetList.replaceChildren();
  if (!s.facet) return;
  const res = await sql(`SELECT ${q(s.facet)} AS value, count(*) AS n FROM ${q(TABLE)}${w.sql} GROUP BY 1 ORDER BY n DESC, 1 LIMIT 12`, w.params);
  for (const [value, n] of res.rows) {
    const b = el("button", { type: "button", class: "facet", text: `${cellText(value)} (${n})` });
    b.addEventListener("click", () => go((p) => {
      p.append("f", `${s.facet}:${value === null ? "null" : value}`);
      p.delete("page");
    }));
    facetList.append(el("li", {}, b));
  }
  facetList.append(el("li", { class: "facet-stats", text: statsText(res.stats) }));
}

facetSelect.addEventListener("change", () => go((p) => {
  if (facetSelect.value) p.set("facet", facetSelect.value);
  else p.delete("facet");
}));
window.addEventListener("popstate", load);

(async () => {
  const dbs = await window.bake.databases();
  const t = dbs.find((d) => d.name === DB)?.tables.find((x) => x.name === TABLE);
  columns = t ? t.columns : [];
  totalRows = t ? t.rows : 0;
  await load();
})();
