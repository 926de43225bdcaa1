//! Diagrams: text sources (fenced code blocks, files under `content/`, and one ER diagram
//! per baked database) rendered to SVG at build time by pure-Rust renderers, then made
//! safe to inline ([`svg::finish`]) and collected for the gallery.
//!
//! No renderer can be interrupted once started, so every source is size-capped before it
//! is handed over, and a renderer that panics is caught and reported like a parse error.

pub mod collect;
pub mod er;
pub mod svg;

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Once;

use serde::Serialize;

use crate::error::{Error, Result};

/// The diagram languages bake renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Graphviz DOT, laid out by layout-rs.
    Dot,
    /// ASCII art, drawn by svgbob.
    Ascii,
    /// Mermaid flowcharts and sequence diagrams, by mermaid-rs-renderer.
    Mermaid,
    /// An entity-relationship diagram bake draws from a database's schema (as DOT).
    Er,
}

impl Kind {
    /// Every kind, in the gallery's order.
    pub const ALL: [Kind; 4] = [Kind::Dot, Kind::Ascii, Kind::Mermaid, Kind::Er];

    /// The kind a fenced code block's language names, if it is a diagram.
    pub fn from_fence(lang: &str) -> Option<Kind> {
        match lang.to_ascii_lowercase().as_str() {
            "dot" | "graphviz" => Some(Kind::Dot),
            "bob" | "svgbob" | "ascii" => Some(Kind::Ascii),
            "mermaid" => Some(Kind::Mermaid),
            _ => None,
        }
    }

    /// The kind of a diagram file, by extension.
    pub fn from_extension(ext: &str) -> Option<Kind> {
        match ext.to_ascii_lowercase().as_str() {
            "dot" | "gv" => Some(Kind::Dot),
            "bob" => Some(Kind::Ascii),
            "mmd" | "mermaid" => Some(Kind::Mermaid),
            _ => None,
        }
    }

    /// URL segment of the kind's gallery page (`/gallery/dot/`).
    pub fn slug(self) -> &'static str {
        match self {
            Kind::Dot => "dot",
            Kind::Ascii => "ascii",
            Kind::Mermaid => "mermaid",
            Kind::Er => "er",
        }
    }

    /// The name shown to visitors.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Dot => "DOT",
            Kind::Ascii => "ASCII",
            Kind::Mermaid => "Mermaid",
            Kind::Er => "ER",
        }
    }

    /// Largest source accepted, in bytes. Layout cost grows much faster than the input:
    /// `bench --only diagrams` draws the slowest shapes found at each cap (random graphs
    /// with labelled edges): a 16 KiB Mermaid flowchart took 17 s, so Mermaid gets 8 KiB;
    /// DOT at 12 KiB takes about 3 s. Hand-written diagrams are far smaller (the demo's
    /// largest is 1.2 KiB).
    pub fn max_source_bytes(self) -> usize {
        match self {
            Kind::Mermaid => 8 * 1024,
            Kind::Dot => 12 * 1024,
            Kind::Ascii => 16 * 1024,
            Kind::Er => usize::MAX,
        }
    }
}

/// Largest ASCII-art drawing, in lines and in columns.
pub const MAX_ASCII_LINES: usize = 150;
/// See [`MAX_ASCII_LINES`].
pub const MAX_ASCII_COLUMNS: usize = 200;
/// Most non-blank characters in ASCII art: svgbob's cost follows how much is drawn (a
/// dense 80×60 block takes 2.4 s in a release build, 60×40 0.6 s).
pub const MAX_ASCII_DRAWN: usize = 4000;

/// Title, caption and id an author gave a diagram (fence attributes or file front matter).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Attributes {
    /// Shown above the picture, in the gallery and as the SVG's `<title>`.
    pub title: Option<String>,
    /// One sentence shown under the picture.
    pub caption: Option<String>,
    /// Stable id: the anchor on its page and the gallery page `/diagrams/ID/`.
    pub id: Option<String>,
}

/// A diagram rendered and ready to be emitted.
#[derive(Debug, Clone, Serialize)]
pub struct Diagram {
    /// Site-wide unique id (`[a-z0-9-]+`).
    pub id: String,
    /// Language.
    pub kind: Kind,
    /// Title (never empty: falls back to the page title or the file name).
    pub title: String,
    /// Caption, possibly empty.
    pub caption: String,
    /// The source text as written.
    pub source: String,
    /// The finished SVG (ids prefixed with the diagram id, `<title>`, no script).
    pub svg: String,
    /// Where the diagram is shown: a page URL with `#anchor`, or its own gallery page.
    pub page_url: String,
    /// Title of that page.
    pub page_title: String,
    /// File it came from (for messages and the gallery page).
    pub file: String,
    /// Line of the fence (1 for files).
    pub line: usize,
}

impl Diagram {
    /// Anchor of the diagram's `<figure>` on the page that shows it.
    pub fn anchor(&self) -> String {
        anchor(&self.id)
    }
}

/// Anchor of a diagram's `<figure>`.
pub fn anchor(id: &str) -> String {
    format!("diagram-{id}")
}

/// True if `id` may be used as a diagram id.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 80
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
}

/// Parses a fence's info string after the language: `title="…" caption="…" id="…"`.
pub fn parse_fence_attributes(rest: &str) -> std::result::Result<Attributes, String> {
    let mut attrs = Attributes::default();
    for (key, value) in crate::markdown::parse_key_values(rest)? {
        match key.as_str() {
            "title" => attrs.title = Some(value),
            "caption" => attrs.caption = Some(value),
            "id" => attrs.id = Some(value),
            _ => return Err(format!("unknown attribute `{key}`")),
        }
    }
    Ok(attrs)
}

thread_local! {
    static QUIET_PANICS: Cell<bool> = const { Cell::new(false) };
}

/// Runs a renderer, turning a panic into an error message. The panic hook stays silent
/// for the renderer's thread only, so a real bug elsewhere still prints its panic.
fn guarded<T>(
    f: impl FnOnce() -> std::result::Result<T, String>,
) -> std::result::Result<T, String> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET_PANICS.with(Cell::get) {
                previous(info);
            }
        }));
    });
    QUIET_PANICS.with(|q| q.set(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    QUIET_PANICS.with(|q| q.set(false));
    result.unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown error".into());
        Err(format!("the renderer failed on this input ({what})"))
    })
}

/// Checks the size caps; the message says which limit was hit.
fn check_size(kind: Kind, text: &str) -> std::result::Result<(), String> {
    if text.trim().is_empty() {
        return Err("the diagram is empty".into());
    }
    if text.len() > kind.max_source_bytes() {
        return Err(format!(
            "the source is {} bytes; {} diagrams are limited to {} bytes so no diagram can stall a build",
            text.len(),
            kind.label(),
            kind.max_source_bytes()
        ));
    }
    if kind == Kind::Ascii {
        let lines = text.lines().count();
        let widest = text.lines().map(|l| l.chars().count()).max().unwrap_or(0);
        if lines > MAX_ASCII_LINES || widest > MAX_ASCII_COLUMNS {
            return Err(format!(
                "the drawing is {lines} lines by {widest} columns; ASCII art is limited to {MAX_ASCII_LINES} lines by {MAX_ASCII_COLUMNS} columns"
            ));
        }
        let drawn = text.chars().filter(|c| !c.is_whitespace()).count();
        if drawn > MAX_ASCII_DRAWN {
            return Err(format!(
                "the drawing has {drawn} drawn characters; ASCII art is limited to {MAX_ASCII_DRAWN} so no diagram can stall a build"
            ));
        }
    }
    Ok(())
}

/// Renders `text` to a raw SVG with the renderer of `kind`; Err is the renderer's message.
pub fn render_raw(kind: Kind, text: &str) -> std::result::Result<String, String> {
    check_size(kind, text)?;
    guarded(|| match kind {
        Kind::Dot | Kind::Er => render_dot(text),
        Kind::Ascii => Ok(svgbob::to_svg(text)),
        Kind::Mermaid => render_mermaid(text),
    })
}

fn render_dot(text: &str) -> std::result::Result<String, String> {
    let mut parser = layout::gv::DotParser::new(text);
    let graph = parser
        .process()
        .map_err(|e| format!("DOT: {}", e.trim_end_matches('.')))?;
    let mut builder = layout::gv::GraphBuilder::new();
    builder.visit_graph(&graph);
    let mut visual = builder.get();
    if visual.num_nodes() == 0 {
        return Err("DOT: the graph has no nodes".into());
    }
    let mut writer = layout::backends::svg::SVGWriter::new();
    visual.do_it(false, false, false, &mut writer);
    Ok(writer.finalize())
}

fn render_mermaid(text: &str) -> std::result::Result<String, String> {
    let mut options = mermaid_rs_renderer::RenderOptions::default();
    // Estimate text widths from character classes instead of measuring with the build
    // machine's fonts: the output must not depend on what is installed.
    options.layout.fast_text_metrics = true;
    mermaid_rs_renderer::render_with_options(text, options).map_err(|e| format!("Mermaid: {e}"))
}

/// Renders one source and finishes the SVG; errors name `file` and `line`.
pub fn render(
    kind: Kind,
    text: &str,
    id: &str,
    title: &str,
    file: &Path,
    line: usize,
) -> Result<String> {
    let raw = render_raw(kind, text).map_err(|msg| {
        Error::at(file, line, format!("the {} diagram cannot be drawn: {msg}", kind.label()))
            .hint(match kind {
                Kind::Dot => "see docs/diagrams.md for the DOT that layout-rs understands (no HTML labels, no `a -> {b c}`)",
                Kind::Ascii => "see docs/diagrams.md for svgbob's limits; split a large drawing in two",
                Kind::Mermaid => "see docs/diagrams.md: flowchart and sequenceDiagram are supported",
                Kind::Er => "this is a bug in bake's ER diagram; please report it",
            })
    })?;
    Ok(svg::finish(&raw, id, title, kind))
}

/// A diagram file found under `content/`.
#[derive(Debug, Clone)]
pub struct DiagramFile {
    /// Path relative to the content folder.
    pub rel: String,
    /// Path on disk.
    pub path: PathBuf,
    /// Language.
    pub kind: Kind,
}

/// A diagram file's front matter and source.
#[derive(Debug, Clone)]
pub struct FileSource {
    /// Title, caption and id.
    pub attrs: Attributes,
    /// The diagram source after the front matter.
    pub text: String,
}

/// Reads a diagram file and splits off its front matter.
pub fn read_file(display: &Path, path: &Path) -> Result<FileSource> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(display, "read", e))?;
    let text = String::from_utf8(bytes).map_err(|_| {
        Error::in_file(display, "the file is not valid UTF-8").hint("save it as UTF-8")
    })?;
    let (attrs, body) = crate::frontmatter::parse_as::<Attributes>(
        display,
        &text,
        "known keys in a diagram file: title, caption, id",
    )?;
    Ok(FileSource {
        attrs,
        text: body.to_string(),
    })
}

/// The default id of a diagram: from its title, else `PAGE-diagram-N`.
pub fn default_id(title: Option<&str>, page_slug: &str, n: usize) -> String {
    let from_title = title.map(crate::markdown::slugify).unwrap_or_default();
    let ascii: String = from_title
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    if ascii.trim_matches('-').is_empty() {
        format!("{page_slug}-diagram-{n}")
    } else {
        ascii.trim_matches('-').to_string()
    }
}

/// `/caching/etag/` → `caching-etag`; `/` → `home`.
pub fn page_slug(url: &str) -> String {
    let s = url.trim_matches('/').replace('/', "-");
    let s: String = s
        .chars()
        .flat_map(char::to_lowercase)
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    if s.is_empty() { "home".into() } else { s }
}

/// Refuses two diagrams with one id, naming both places.
pub fn check_unique_ids(diagrams: &[Diagram]) -> Result<()> {
    match duplicate_ids(diagrams).into_iter().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// One error per diagram whose id an earlier diagram already has.
pub fn duplicate_ids(diagrams: &[Diagram]) -> Vec<Error> {
    let mut seen: std::collections::HashMap<&str, &Diagram> = Default::default();
    let mut errors = Vec::new();
    for d in diagrams {
        if let Some(first) = seen.get(d.id.as_str()) {
            errors.push(Error::at(
                &d.file,
                d.line,
                format!(
                    "two diagrams have the id `{}` (the other is at {}:{})",
                    d.id, first.file, first.line
                ),
            )
            .hint("give one of them its own id, e.g. id=\"my-diagram\" on the fence or in the file's front matter"));
            continue;
        }
        seen.insert(&d.id, d);
    }
    errors
}

#[cfg(test)]
mod tests;
