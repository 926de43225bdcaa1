//! The default theme, embedded so an installed `bake` needs no files from the repository.
//! A site overrides any file by putting one of the same name in its templates folder.

/// Templates by name.
pub const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/base.html")),
    ("page.html", include_str!("../../templates/page.html")),
    ("section.html", include_str!("../../templates/section.html")),
    ("index.html", include_str!("../../templates/index.html")),
    ("tag.html", include_str!("../../templates/tag.html")),
    ("tags.html", include_str!("../../templates/tags.html")),
    ("404.html", include_str!("../../templates/404.html")),
    ("search.html", include_str!("../../templates/search.html")),
    ("sql.html", include_str!("../../templates/sql.html")),
    ("table.html", include_str!("../../templates/table.html")),
    ("gallery.html", include_str!("../../templates/gallery.html")),
    ("diagram.html", include_str!("../../templates/diagram.html")),
    // Included by section.html and tag.html.
    ("pager.html", include_str!("../../templates/pager.html")),
];

/// Static theme files (served under content-hashed names), by name.
pub const STATIC: &[(&str, &[u8])] = &[
    (
        "style.css",
        include_bytes!("../../templates/static/style.css"),
    ),
    (
        "favicon.svg",
        include_bytes!("../../templates/static/favicon.svg"),
    ),
    ("bake.js", include_bytes!("../../templates/static/bake.js")),
    (
        "bake-worker.js",
        include_bytes!("../../templates/static/bake-worker.js"),
    ),
    (
        "search-page.js",
        include_bytes!("../../templates/static/search-page.js"),
    ),
    (
        "sql-console.js",
        include_bytes!("../../templates/static/sql-console.js"),
    ),
    (
        "table-page.js",
        include_bytes!("../../templates/static/table-page.js"),
    ),
    // Written at a fixed name (`/bake-sw.js`), with its precache list in front (emit.rs).
    (
        "bake-sw.js",
        include_bytes!("../../templates/static/bake-sw.js"),
    ),
];

// The browser modules, built from wasm-query by build.rs: `WASM_MODULES`, each a list of
// (path, bytes) as wasm-bindgen wrote them (glue JS, `_bg.wasm`, any snippet files).
include!(concat!(env!("OUT_DIR"), "/wasm_modules.rs"));

#[cfg(test)]
mod module_size {
    use std::io::Write;

    use super::{STATIC, WASM_MODULES};

    /// A page that searches: issue 10 asked for 300 KB; tantivy's postings decoders, the
    /// `regex` crate it always links (its facet formatting) and its fast-field code keep the
    /// module near 610 KB (see docs/browser.md), so this only stops it from growing. Issue 7
    /// (offline) added ~10 KB of client code to every module: the device store in the
    /// Worker script, `bake.offline` and its controls in bake.js (614 → 625 KB); reading
    /// hits' stored fields as plain strings instead of `TantivyDocument` took 20 KB off the
    /// wasm (625 → 605 KB); typo tolerance, completion, facet counts, sub-results and CJK
    /// bigrams (issue 11) added 14.5 KB of wasm (gzip 580.8 → 595.3 KB; code 623 KB).
    const SEARCH_LIMIT_KB: usize = 630;
    /// A SQL page (SQL console, table pages): issue 10's target.
    const SQL_LIMIT_KB: usize = 500;

    fn gzip(bytes: &[u8]) -> usize {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(bytes).unwrap();
        gz.finish().unwrap().len()
    }

    /// The code a page downloads to run one engine, gzip -9: the page client, the Worker
    /// script and the module's glue and wasm.
    fn page_code(module: &str) -> (usize, usize) {
        let client = ["bake.js", "bake-worker.js"].map(|name| {
            STATIC
                .iter()
                .find(|(n, _)| *n == name)
                .unwrap_or_else(|| panic!("{name} is a static file"))
                .1
        });
        let files = WASM_MODULES
            .iter()
            .find(|(m, _)| *m == module)
            .unwrap_or_else(|| panic!("module {module} is built"))
            .1;
        let all = client
            .into_iter()
            .chain(files.iter().map(|(_, bytes)| *bytes));
        all.fold((0, 0), |(raw, gz), bytes| {
            (raw + bytes.len(), gz + gzip(bytes))
        })
    }

    /// A page that searches loads only `bake-search`; a SQL page only `bake-sql` (and
    /// `bake-search` too once the visitor searches). The limits are the sizes reached in
    /// issue 10 plus a little room: a change that grows a module past them must say why.
    #[test]
    fn each_page_kind_downloads_at_most_its_code_budget() {
        let mut over = Vec::new();
        for (module, limit_kb) in [("bake-search", SEARCH_LIMIT_KB), ("bake-sql", SQL_LIMIT_KB)] {
            let (raw, gz) = page_code(module);
            eprintln!("{module}: {raw} bytes raw, {gz} bytes gzip -9");
            if gz > limit_kb * 1000 {
                over.push(format!(
                    "{module}: {gz} bytes gzip -9 of code, over its {limit_kb} KB budget"
                ));
            }
        }
        assert!(over.is_empty(), "{}", over.join("; "));
    }
}
