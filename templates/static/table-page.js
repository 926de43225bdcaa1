// A table page (/tables/DB/TABLE/): paging, sorting, per-column filters and facet counts,
// each one SQL query over HTTP Range. State lives in the URL, so links and Back work.
const { el, cellText, statsText, csvText, saveFile } = window.bake.ui;
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
const filterBox = root.querySelector(".table-filters");
const chips = root.querySelector(".filter-chips");
const exportsBox = root.querySelector(".table-exports");
const exportWhat = root.querySelector(".export-what");
const consoleLink = root.querySelector(".open-in-console");
cancelButton.addEventListener("click", () => window.bake.cancel());
// Counts as "336,776" whatever the visitor's locale (and the same in tests).
const nf = new Intl.NumberFormat("en-US");
const n = (v) => nf.format(v);
for (const r of root.querySelectorAll(".table-rows")) r.textContent = n(Number(r.dataset.rows));
// The pages of the tables this one's foreign keys point at (the generator's URLs).
const tableLinks = new Map([...root.querySelectorAll("a.fk-table")].map((a) => [a.dataset.table, a.getAttribute("href")]));

/** Runs one query of this page with a progress bar and a Cancel button while it runs. */
async function sql(text, params, options = {}) {
  progress.hidden = false;
  progress.removeAttribute("value");
  cancelButton.hidden = false;
  try {
    return await window.bake.sql(DB, text, params, {
      ...options,
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
// column → { table, to }: from pragma_foreign_key_list, read once.
let foreignKeys = new Map();

function state() {
  const p = new URLSearchParams(location.search);
  const filters = p.getAll("f").map((f) => {
    const i = f.indexOf(":");
    return { raw: f, column: i < 0 ? f : f.slice(0, i), value: i < 0 ? "" : f.slice(i + 1) };
  });
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
  const problems = [];
  const typeOf = (col) => columns.find((c) => c.name === col)?.type || "";
  const numeric = (col) => /INT|REAL|FLOA|DOUB|NUM/i.test(typeOf(col));
  const isNumber = (v) => v.trim() !== "" && !Number.isNaN(Number(v));
  const lit = (col, v) => {
    if (!numeric(col)) return v;
    if (!isNumber(v)) problems.push(`${col} is an ${typeOf(col)} column: “${v.trim()}” is not a number (try a number, >5, <=5, ~text or null).`);
    return isNumber(v) ? Number(v) : v;
  };
  for (const { column, value } of s.filters) {
    const v = value.trim();
    let m;
    if (!columns.some((c) => c.name === column)) {
      problems.push(`There is no column “${column}” in ${TABLE}; the columns are ${columns.map((c) => c.name).join(", ")}.`);
      continue;
    }
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
    if (!/^-?\d+$/.test(s.rowid.trim())) problems.push(`“${s.rowid}” is not a row number.`);
    clauses.push("rowid = ?");
    params.push(Number(s.rowid));
  }
  return { sql: clauses.length ? ` WHERE ${clauses.join(" AND ")}` : "", params, problems };
}

function header(s) {
  const sortRow = el("tr", {}, ...columns.map((c) => {
    const active = s.sort === c.name;
    // The name, then a sort indicator (↕ sortable, ▲/▼ sorted; aria-sort on the th says it
    // to screen readers), then the type in its own element after a space.
    const b = el("button", { type: "button", class: "sort", "data-key": `sort:${c.name}`,
      title: `Sort by ${c.name}` }, c.name,
    el("span", { class: `sort-indicator${active ? " active" : ""}`, "aria-hidden": "true", text: active ? (s.desc ? " ▼" : " ▲") : " ↕" }));
    b.addEventListener("click", () => go((p) => {
      if (active && !s.desc) p.set("desc", "1");
      else p.delete("desc");
      p.set("sort", c.name);
      p.delete("page");
    }));
    // aria-sort belongs on the column header, and only on the column the rows are sorted by.
    return el("th", { scope: "col", "aria-sort": active ? (s.desc ? "descending" : "ascending") : null },
      b, " ", el("small", { class: "type" }, el("span", { class: "visually-hidden", text: "type " }), c.type));
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

/** A SQL literal of a filter's parameter, for the console (which takes no parameters). */
const literal = (v) => (typeof v === "number" ? String(v) : `'${String(v).replace(/'/g, "''")}'`);
const inline = (text, params) => {
  let i = 0;
  return text.replace(/\?/g, () => literal(params[i++]));
};

// What the export buttons download: every row of the current view (filters and sort), not
// only the page shown. Set by load().
let view = null;
async function exportView(format) {
  if (!view) return;
  const { query, params, count } = view;
  try {
    const res = await sql(query, params, { maxRows: Math.max(1, count), budget: 512 * 1024 * 1024, maxBytes: 512 * 1024 * 1024, timeLimit: 120_000 });
    const name = `${TABLE}${view.filtered ? "-filtered" : ""}.${format}`;
    if (format === "csv") saveFile(name, csvText(res.columns, res.rows), "text/csv");
    else saveFile(name, JSON.stringify({ columns: res.columns, rows: res.rows }), "application/json");
    root.dataset.exported = String(res.rows.length);
  } catch (e) {
    errorBox.textContent = `The download failed: ${e.kind === "cancelled" ? "cancelled" : e.message}`;
    errorBox.hidden = false;
  }
}
root.querySelector(".export-csv").addEventListener("click", () => exportView("csv"));
root.querySelector(".export-json").addEventListener("click", () => exportView("json"));

/** The active filters (and a row asked for by ?rowid=), each a chip that removes it. */
function showChips(s) {
  const items = [];
  const chip = (label, key, change) => {
    const b = el("button", { type: "button", class: "chip", "data-key": key, "aria-label": `Remove filter ${label}` },
      label, el("span", { "aria-hidden": "true", text: " ×" }));
    b.addEventListener("click", () => go((p) => {
      change(p);
      p.delete("page");
    }));
    items.push(el("li", {}, b));
  };
  if (s.rowid) chip(`showing row ${s.rowid}`, "chip:rowid", (p) => p.delete("rowid"));
  for (const f of s.filters) {
    chip(`${f.column}: ${f.value}`, `chip:${f.raw}`, (p) => {
      const rest = p.getAll("f").filter((x) => x !== f.raw);
      p.delete("f");
      for (const x of rest) p.append("f", x);
    });
  }
  if (items.length > 1) {
    const all = el("button", { type: "button", class: "chip-clear", "data-key": "chip:clear", text: "Clear all filters" });
    all.addEventListener("click", () => go((p) => {
      p.delete("f");
      p.delete("rowid");
      p.delete("page");
    }));
    items.push(el("li", {}, all));
  }
  chips.replaceChildren(...items);
  filterBox.hidden = items.length === 0;
}

/** A cell: a foreign-key value links to the referenced table's page filtered to that row. */
function cell(column, v) {
  const td = el("td", { class: v === null ? "null" : typeof v === "number" ? "num" : null });
  const fk = foreignKeys.get(column);
  if (fk && v !== null && typeof v !== "object") {
    const base = tableLinks.get(fk.table) || `../${encodeURIComponent(fk.table)}/`;
    const href = `${base}?${new URLSearchParams([["f", `${fk.to}:${v}`]])}`;
    td.append(el("a", { href, class: "fk", title: `${fk.table} where ${fk.to} = ${v}`, text: cellText(v) }));
  } else td.textContent = cellText(v);
  return td;
}

async function load() {
  const s = state();
  const focusKey = document.activeElement?.dataset?.key;
  errorBox.hidden = true;
  showChips(s);
  const w = where(s);
  const order = s.sort ? ` ORDER BY ${q(s.sort)}${s.desc ? " DESC" : ""}, rowid` : " ORDER BY rowid";
  const all = `SELECT * FROM ${q(TABLE)}${w.sql}${order}`;
  const query = `${all} LIMIT ${PAGE} OFFSET ${(s.page - 1) * PAGE}`;
  if (w.problems.length) {
    // A filter that cannot mean anything: say so rather than show "Rows 0–0 of 0".
    view = null;
    exportsBox.hidden = true;
    grid.replaceChildren(header(s), el("tbody"));
    pager.replaceChildren();
    info.textContent = "No rows shown: a filter needs fixing.";
    errorBox.replaceChildren(...w.problems.map((m) => el("p", { text: m })));
    errorBox.hidden = false;
    refocus(focusKey);
    return;
  }
  info.textContent = "Loading…";
  const started = performance.now();
  try {
    const res = await sql(query, w.params);
    let count = totalRows;
    let countStats = null;
    if (w.sql) {
      const c = await sql(`SELECT count(*) FROM ${q(TABLE)}${w.sql}`, w.params);
      count = c.rows[0][0];
      countStats = c.stats;
    }
    grid.replaceChildren(header(s), el("tbody", {}, ...res.rows.map((row) => el("tr", {}, ...row.map((v, i) => cell(res.columns[i], v))))));
    const first = count && res.rows.length ? (s.page - 1) * PAGE + 1 : 0;
    const lastRow = (s.page - 1) * PAGE + res.rows.length;
    const st = countStats ? { ...res.stats, requests: res.stats.requests + countStats.requests, bytes: res.stats.bytes + countStats.bytes } : res.stats;
    info.textContent = `Rows ${n(first)}–${n(first ? lastRow : 0)} of ${n(count)}${w.sql && count === 0 ? " (no row matches the filters)" : ""} · ${Math.round(performance.now() - started)} ms`;
    info.title = statsText(st);
    const pages = Math.max(1, Math.ceil(count / PAGE));
    const prev = el("button", { type: "button", text: "← Previous", "data-key": "prev", disabled: s.page <= 1 ? "" : null });
    const next = el("button", { type: "button", text: "Next →", "data-key": "next", disabled: s.page >= pages ? "" : null });
    prev.addEventListener("click", () => go((p) => p.set("page", s.page - 1)));
    next.addEventListener("click", () => go((p) => p.set("page", s.page + 1)));
    pager.replaceChildren(prev, el("span", { text: ` page ${n(s.page)} of ${n(pages)} ` }), next);
    view = { query: all, params: w.params, count, filtered: Boolean(w.sql) };
    exportWhat.textContent = w.sql ? `the ${n(count)} matching row${count === 1 ? "" : "s"}` : `all ${n(count)} row${count === 1 ? "" : "s"}`;
    const link = new URL("/sql/", location.href);
    link.searchParams.set("db", DB);
    link.searchParams.set("sql", inline(all, w.params));
    consoleLink.href = `${link.pathname}${link.search}`;
    exportsBox.hidden = false;
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
  for (const [value, count] of res.rows) {
    const b = el("button", { type: "button", class: "facet", text: `${cellText(value)} (${n(count)})` });
    b.addEventListener("click", () => go((p) => {
      p.append("f", `${s.facet}:${value === null ? "null" : value}`);
      p.delete("page");
    }));
    facetList.append(el("li", {}, b));
  }
  facetList.title = statsText(res.stats);
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
  try {
    const fks = await window.bake.sql(DB, `SELECT "from", "table", "to" FROM pragma_foreign_key_list(?)`, [TABLE]);
    foreignKeys = new Map(fks.rows.filter(([from, , to]) => from && to).map(([from, table, to]) => [from, { table, to }]));
  } catch {
    foreignKeys = new Map();
  }
  await load();
})();
