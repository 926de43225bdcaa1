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
];

/// Static theme files (served under content-hashed names), by name.
pub const STATIC: &[(&str, &[u8])] = &[
    (
        "style.css",
        include_bytes!("../../templates/static/style.css"),
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
];

// The browser modules, built from wasm-query by build.rs: `WASM_MODULES`, each a list of
// (path, bytes) as wasm-bindgen wrote them (glue JS, `_bg.wasm`, any snippet files).
include!(concat!(env!("OUT_DIR"), "/wasm_modules.rs"));
