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
];

/// Static theme files (served under content-hashed names), by name.
pub const STATIC: &[(&str, &[u8])] = &[(
    "style.css",
    include_bytes!("../../templates/static/style.css"),
)];
