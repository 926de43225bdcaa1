// The search page: /search/?q=…&section=…&tag=…&tag=…&kind=…&exact=1&page=…
// Results update as the visitor types; facets (kind, section, tags) are links to the same
// page with one filter more or less, so every state of the page is a URL to share. With
// JavaScript on, following them (and the pager) searches in place, keeping the Worker warm.
const { el, snippetNode, statsText, hitUrl } = window.bake.ui;
const PAGE = 20;
// Values shown per facet before "more…".
const FACET_SHOWN = 8;
const TYPING_MS = 150;

const root = document.querySelector(".search-page");
const form = root.querySelector("form.search-form");
const status = root.querySelector(".search-status");
const corrected = root.querySelector(".search-corrected");
const facetsBox = root.querySelector(".search-facets");
const list = root.querySelector("ol.search-results");
const pager = root.querySelector(".search-pager");

const sectionTitles = new Map(JSON.parse(root.dataset.sections || "[]").map((s) => [s.url, s.title]));
const KIND_NAMES = { page: "Pages", row: "Data rows" };

/** What the URL asks for. */
function state(search = location.search) {
  const p = new URLSearchParams(search);
  return {
    q: (p.get("q") || "").trim(),
    section: p.get("section") || "",
    tags: p.getAll("tag").filter(Boolean),
    kind: p.get("kind") || "",
    exact: p.get("exact") === "1",
    page: Math.max(1, Math.floor(Number(p.get("page"))) || 1),
  };
}

/** The query string of `s` (empty values left out). */
function query(s) {
  const p = new URLSearchParams();
  if (s.q) p.set("q", s.q);
  if (s.section) p.set("section", s.section);
  for (const t of s.tags) p.append("tag", t);
  if (s.kind) p.set("kind", s.kind);
  if (s.exact) p.set("exact", "1");
  if (s.page > 1) p.set("page", String(s.page));
  return `?${p}`;
}

/** A link to this page in state `s`; followed in place when scripts run. */
const link = (s, attrs, ...children) => el("a", { href: query(s), "data-search": "", ...attrs }, ...children);

/** A section URL as a visitor knows it: the section's title, or the table a row is in. */
function sectionName(url) {
  if (sectionTitles.has(url)) return sectionTitles.get(url);
  if (url === "/") return "Home";
  const parts = url.split("/").filter(Boolean);
  if (parts[0] === "tables" && parts.length >= 3) return `${parts[parts.length - 1]} (table)`;
  return parts.map(decodeURIComponent).join(" › ") || url;
}

function whereText(h) {
  if (h.kind === "row") return `row in ${sectionName(h.section)}`;
  return h.section === "/" ? "" : sectionName(h.section);
}

/** One facet group: each value links to the results with it added (or, when it is on,
 * removed); the active values come first and say so. */
function facetGroup(title, counts, s, isOn, toggle, name) {
  const active = counts.filter((c) => isOn(c.value));
  const rest = counts.filter((c) => !isOn(c.value));
  // A filter that is on stays listed (and removable) even when the words match none.
  for (const v of activeValues(s, title)) if (!active.some((c) => c.value === v)) active.push({ value: v, count: 0 });
  if (!active.length && !rest.length) return null;
  const item = (c) => {
    const on = isOn(c.value);
    return el("li", {},
      link(toggle(c.value), { class: on ? "facet-value active" : "facet-value", "aria-current": on ? "true" : null },
        el("span", { class: "facet-name", text: name(c.value) }), " ",
        el("span", { class: "count", text: c.count.toLocaleString("en-US") }),
        on ? el("span", { class: "facet-remove", "aria-hidden": "true", text: " ×" }) : "",
        on ? el("span", { class: "visually-hidden", text: " (on; remove this filter)" }) : ""));
  };
  const shown = [...active, ...rest.slice(0, Math.max(0, FACET_SHOWN - active.length))];
  const hidden = rest.slice(shown.length - active.length);
  const group = el("section", { class: "facet-group" }, el("h2", { text: title }), el("ul", {}, ...shown.map(item)));
  if (hidden.length) {
    group.append(el("details", {}, el("summary", { text: `${hidden.length} more` }), el("ul", {}, ...hidden.map(item))));
  }
  return group;
}

function activeValues(s, title) {
  if (title === "Kind") return s.kind ? [s.kind] : [];
  if (title === "Section") return s.section ? [s.section] : [];
  return s.tags;
}

function renderFacets(facets, s) {
  const at1 = (change) => ({ ...s, page: 1, ...change });
  const groups = [
    facetGroup("Kind", facets.kind, s, (v) => v === s.kind, (v) => at1({ kind: v === s.kind ? "" : v }), (v) => KIND_NAMES[v] || v),
    facetGroup("Section", facets.section, s, (v) => v === s.section, (v) => at1({ section: v === s.section ? "" : v }), sectionName),
    facetGroup("Tags", facets.tags, s, (v) => s.tags.includes(v), (v) => at1({ tags: s.tags.includes(v) ? s.tags.filter((t) => t !== v) : [...s.tags, v] }), (v) => `#${v}`),
  ].filter(Boolean);
  const filters = (s.section ? 1 : 0) + (s.kind ? 1 : 0) + s.tags.length;
  if (filters) groups.unshift(link(at1({ section: "", kind: "", tags: [] }), { class: "facet-clear", text: filters > 1 ? "Clear all filters" : "Clear the filter" }));
  facetsBox.replaceChildren(...groups);
}

function hitItem(h) {
  const item = el("li", { class: `hit hit-${h.kind}` },
    el("a", { href: hitUrl(h), class: "hit-title" }, el("strong", { text: h.title })),
    whereText(h) ? el("small", { class: "hit-section", text: whereText(h) }) : "",
    el("p", { class: "hit-snippet" }, snippetNode(h.snippet)));
  const subs = (h.sub_results || []).filter((r) => !(h.sub_results.length === 1 && r.anchor === h.anchor && r.snippet === h.snippet));
  if (subs.length) {
    item.append(el("ul", { class: "sub-results", "aria-label": `Sections of ${h.title}` },
      ...subs.map((r) => el("li", {}, el("a", { href: hitUrl(h, r.anchor), text: r.title }), " ", snippetNode(r.snippet)))));
  }
  return item;
}

function renderPager(total, s) {
  // A pager only when there is more than one page: a lone "1" tells nothing.
  const pages = Math.min(Math.ceil(total / PAGE), Math.floor(10_000 / PAGE));
  if (pages <= 1) return;
  const to = (p, text, rel) => link({ ...s, page: p }, { text, rel });
  if (s.page > 1) pager.append(to(s.page - 1, "← Previous", "prev"));
  const first = Math.max(1, Math.min(s.page - 9, pages - 19));
  for (let p = first; p <= Math.min(pages, first + 19); p++) {
    pager.append(p === s.page ? el("span", { "aria-current": "page", text: String(p) }) : to(p, String(p)));
  }
  if (s.page < pages) pager.append(to(s.page + 1, "Next →", "next"));
}

function renderCorrected(res, s) {
  corrected.replaceChildren();
  corrected.hidden = true;
  if (res.corrected && !s.exact) {
    corrected.append("Showing results for ", link({ ...s, q: res.corrected, page: 1 }, {}, el("strong", { text: res.corrected })),
      ". Search instead for ", link({ ...s, exact: true, page: 1 }, { class: "search-exact", text: s.q }), ".");
    corrected.hidden = false;
  } else if (s.exact) {
    corrected.append("Only the words exactly as typed. ", link({ ...s, exact: false, page: 1 }, { text: "Also match near and partly typed words" }), ".");
    corrected.hidden = false;
  }
}

let ticket = 0;

/** Searches for what the URL says and shows it. */
async function run() {
  const s = state();
  const mine = ++ticket;
  if (document.activeElement !== form.q) form.q.value = s.q;
  if (!s.q) {
    list.replaceChildren();
    pager.replaceChildren();
    facetsBox.replaceChildren();
    corrected.hidden = true;
    status.textContent = "Type a word or two; all of them must match. Quote a phrase: \"cache key\".";
    return;
  }
  // Say "Searching…" only for a search that takes a while: as-you-type ones mostly don't.
  const slow = setTimeout(() => {
    if (mine === ticket) status.textContent = "Searching…";
  }, 400);
  try {
    const res = await window.bake.search(s.q, {
      limit: PAGE, offset: (s.page - 1) * PAGE, section: s.section || null, tags: s.tags, kind: s.kind || null,
      exact: s.exact, channel: "page",
    });
    if (mine !== ticket) return;
    const n = res.total.toLocaleString("en-US");
    status.textContent = res.total ? `${n} result${res.total === 1 ? "" : "s"} for “${s.q}”` : `No results for “${s.q}”`;
    // What it cost stays out of the sentence a visitor reads.
    status.title = statsText(res.stats);
    renderCorrected(res, s);
    renderFacets(res.facets, s);
    list.replaceChildren(...res.hits.map(hitItem));
    pager.replaceChildren();
    renderPager(res.total, s);
  } catch (e) {
    if (mine !== ticket || e.kind === "superseded") return;
    status.replaceChildren(el("span", { class: "error", role: "alert", text: e.message }));
  } finally {
    clearTimeout(slow);
  }
}

// As you type: the URL follows the box (replaced, not pushed, so Back leaves the page), a new
// query keeps the filters and starts at its first page.
let typing = null;
form.q.addEventListener("input", () => {
  clearTimeout(typing);
  typing = setTimeout(() => {
    const s = state();
    const q = form.q.value.trim();
    if (q === s.q) return;
    history.replaceState(null, "", query({ ...s, q, exact: false, page: 1 }));
    run();
  }, TYPING_MS);
});
form.addEventListener("submit", (e) => {
  e.preventDefault();
  clearTimeout(typing);
  const s = state();
  history.pushState(null, "", query({ ...s, q: form.q.value.trim(), exact: false, page: 1 }));
  run();
});
// Facet, pager and correction links search in place; a new tab or window still opens the URL.
root.addEventListener("click", (e) => {
  const a = e.target.closest("a[data-search]");
  if (!a || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  history.pushState(null, "", a.getAttribute("href"));
  run();
  if (a.closest(".search-pager")) root.scrollIntoView({ block: "start" });
});
window.addEventListener("popstate", run);

run();
