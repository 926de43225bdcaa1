// The search page (/search/?q=…&section=…&tag=…): results with snippets, filters, paging.
const { el, snippetNode, statsText } = window.bake.ui;
const PAGE = 20;

const form = document.querySelector("form.search-form");
const status = document.querySelector(".search-status");
const list = document.querySelector("ol.search-results");
const pager = document.querySelector(".search-pager");

// A hit's section as its title (the section filter's options name them), a data row as
// the table it belongs to; the home page's "/" says nothing.
const sectionTitles = new Map([...form.section.options].filter((o) => o.value).map((o) => [o.value, o.text]));
function whereText(h) {
  if (h.kind === "row") return `row in ${h.section.split("/").filter(Boolean).pop() || "a table"}`;
  return sectionTitles.get(h.section) || "";
}

async function run() {
  const params = new URLSearchParams(location.search);
  const q = (params.get("q") || "").trim();
  const section = params.get("section") || null;
  const tag = params.get("tag") || "";
  const page = Math.max(1, Number(params.get("page")) || 1);
  form.q.value = q;
  form.section.value = section || "";
  form.tag.value = tag;
  list.replaceChildren();
  pager.replaceChildren();
  if (!q) {
    status.textContent = "Type a word or two; all of them must match. Quote a phrase: \"cache key\".";
    return;
  }
  status.textContent = "Searching…";
  try {
    const res = await window.bake.search(q, {
      limit: PAGE, offset: (page - 1) * PAGE, section, tags: tag ? [tag] : [],
    });
    status.textContent = `${res.total.toLocaleString("en-US")} result${res.total === 1 ? "" : "s"} for “${q}”`;
    // What it cost stays out of the sentence a visitor reads.
    status.title = statsText(res.stats);
    for (const h of res.hits) {
      list.append(
        el("li", { class: `hit hit-${h.kind}` },
          el("a", { href: h.url }, el("strong", { text: h.title })),
          whereText(h) ? el("small", { class: "hit-section", text: whereText(h) }) : "",
          el("br"),
          snippetNode(h.snippet)),
      );
    }
    // A pager only when there is more than one page: a lone "1" tells nothing.
    const pages = Math.min(Math.ceil(res.total / PAGE), Math.floor(10_000 / PAGE));
    if (pages > 1) {
      const link = (p, text, rel) => {
        const u = new URLSearchParams(params);
        u.set("page", p);
        return el("a", { href: `?${u}`, text, rel });
      };
      if (page > 1) pager.append(link(page - 1, "← Previous", "prev"));
      const first = Math.max(1, Math.min(page - 9, pages - 19));
      for (let p = first; p <= Math.min(pages, first + 19); p++) {
        pager.append(p === page ? el("span", { "aria-current": "page", text: String(p) }) : link(p, String(p)));
      }
      if (page < pages) pager.append(link(page + 1, "Next →", "next"));
    }
  } catch (e) {
    status.replaceChildren(el("span", { class: "error", role: "alert", text: e.message }));
  }
}

run();
