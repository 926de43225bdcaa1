// The search page (/search/?q=…&section=…&tag=…): results with snippets, filters, paging.
const { el, snippetNode, statsText } = window.bake.ui;
const PAGE = 20;

const form = document.querySelector("form.search-form");
const status = document.querySelector(".search-status");
const list = document.querySelector("ol.search-results");
const pager = document.querySelector(".search-pager");

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
    status.textContent = `${res.total} result${res.total === 1 ? "" : "s"} for “${q}” · ${statsText(res.stats)}`;
    for (const h of res.hits) {
      list.append(
        el("li", { class: `hit hit-${h.kind}` },
          el("a", { href: h.url }, el("strong", { text: h.title })),
          el("small", { class: "hit-section", text: h.section }),
          el("br"),
          snippetNode(h.snippet)),
      );
    }
    const pages = Math.ceil(res.total / PAGE);
    for (let p = 1; p <= Math.min(pages, 20); p++) {
      const u = new URLSearchParams(params);
      u.set("page", p);
      pager.append(p === page ? el("span", { "aria-current": "page", text: String(p) }) : el("a", { href: `?${u}`, text: String(p) }));
    }
  } catch (e) {
    status.replaceChildren(el("span", { class: "error", role: "alert", text: e.message }));
  }
}

run();
