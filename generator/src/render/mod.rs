//! Stage 5, render: tera templates (the embedded default theme, overridden by name from the
//! site's templates folder) turn the site model into HTML.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use tera::{Context, Tera};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::theme;

mod loops;

/// Templates ready to render, with their sources kept for error messages.
pub struct Renderer {
    tera: Tera,
    /// name → (file shown in messages, source text)
    sources: BTreeMap<String, (PathBuf, String)>,
}

impl Renderer {
    /// Loads the default theme, then the site's overrides.
    pub fn new(config: &Config) -> Result<Renderer> {
        let mut sources: BTreeMap<String, (PathBuf, String)> = theme::TEMPLATES
            .iter()
            .map(|(name, src)| {
                (
                    name.to_string(),
                    (
                        PathBuf::from(format!("(built-in theme) {name}")),
                        src.to_string(),
                    ),
                )
            })
            .collect();
        let dir = config.templates_dir();
        if dir.is_dir() {
            for entry in walkdir::WalkDir::new(&dir).sort_by_file_name() {
                let entry = entry
                    .map_err(|e| Error::in_file(&dir, format!("cannot read templates: {e}")))?;
                let path = entry.path();
                if !entry.file_type().is_file() || path.extension().is_none_or(|e| e != "html") {
                    continue;
                }
                let name = path
                    .strip_prefix(&dir)
                    .expect("under dir")
                    .to_string_lossy()
                    .replace('\\', "/");
                let display = config.build.templates.join(&name);
                let bytes = std::fs::read(path).map_err(|e| Error::io(&display, "read", e))?;
                let src = String::from_utf8(bytes).map_err(|e| {
                    let line = e.as_bytes()[..e.utf8_error().valid_up_to()]
                        .iter()
                        .filter(|&&b| b == b'\n')
                        .count()
                        + 1;
                    Error::at(&display, line, "the template is not valid UTF-8")
                        .hint("save it as UTF-8")
                })?;
                sources.insert(name, (display, src));
            }
        }
        // Parse each template alone first so a syntax error names its own file and line.
        let mut parents = BTreeMap::new();
        for (name, (display, src)) in &sources {
            let t = tera::Template::new(name, None, src).map_err(|e| {
                let text = error_chain(&e);
                Error::at(
                    display,
                    parse_error_line(&text).unwrap_or(1),
                    format!("template syntax error: {text}"),
                )
                .hint("see the tera documentation for template syntax")
            })?;
            parents.insert(name.clone(), t.parent);
        }
        loops::check_extends(&parents, &sources)?;
        let mut tera = Tera::default();
        tera.autoescape_on(vec![".html"]);
        tera.add_raw_templates(sources.iter().map(|(n, (_, s))| (n.clone(), s.clone())))
            .map_err(|e| {
                Error::msg(format!("templates: {}", error_chain(&e)))
                    .hint("a template extends or includes one that does not exist")
            })?;
        loops::check(&tera, &sources)?;
        tera.register_function("table_url", table_url);
        Ok(Renderer { tera, sources })
    }

    /// Whether a template of that name exists.
    pub fn has(&self, name: &str) -> bool {
        self.sources.contains_key(name)
    }

    /// Registers a template function (e.g. `query`).
    pub fn register_function<F: tera::Function + 'static>(&mut self, name: &str, f: F) {
        self.tera.register_function(name, f);
    }

    /// Renders template `name` with `ctx`; `for_file` is the content file being rendered.
    pub fn render(&self, name: &str, ctx: &Context, for_file: &Path) -> Result<String> {
        self.tera.render(name, ctx).map_err(|e| {
            let text = error_chain(&e);
            // Tera names the variable but not the line: find it in the template chain.
            let needle = text.split('`').nth(1).unwrap_or("").to_string();
            let located = self.locate(name, &needle);
            let msg = format!("rendering {} failed: {text}", for_file.display());
            match located {
                Some((display, line)) => Error::at(display, line, msg),
                None => Error::in_file(self.display_of(name), msg),
            }
            .hint("templates may only use variables the build provides (see docs/templates.md); use `| default(value=…)` for optional ones")
        })
    }

    fn display_of(&self, name: &str) -> PathBuf {
        self.sources
            .get(name)
            .map(|(d, _)| d.clone())
            .unwrap_or_else(|| PathBuf::from(name))
    }

    /// First template in `name`'s extends chain whose source mentions `needle`, with the line.
    fn locate(&self, name: &str, needle: &str) -> Option<(PathBuf, usize)> {
        if needle.is_empty() {
            return None;
        }
        let mut current = Some(name.to_string());
        let mut hops = 0;
        while let Some(n) = current.take() {
            let (display, src) = self.sources.get(&n)?;
            if let Some(i) = src.lines().position(|l| l.contains(needle)) {
                return Some((display.clone(), i + 1));
            }
            current = src
                .split("{% extends \"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .map(str::to_string);
            hops += 1;
            if hops > 16 {
                break;
            }
        }
        // Maybe it is in an included template: search them all.
        self.sources.values().find_map(|(d, s)| {
            s.lines()
                .position(|l| l.contains(needle))
                .map(|i| (d.clone(), i + 1))
        })
    }
}

/// `table_url(db="nyc", table="flights")` → `/tables/nyc/flights/`: table names may hold
/// any character, so templates never build these URLs from the names themselves.
fn table_url(args: &std::collections::HashMap<String, tera::Value>) -> tera::Result<tera::Value> {
    let arg = |k: &str| {
        args.get(k)
            .and_then(|v| v.as_str())
            .ok_or_else(|| tera::Error::msg(format!("table_url() needs {k}=\"…\"")))
    };
    Ok(crate::slug::table_url(arg("db")?, arg("table")?).into())
}

/// The error and its sources, joined: tera puts the useful part in the sources.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    parts.join(": ")
}

/// Pest errors say `--> LINE:COL`.
fn parse_error_line(text: &str) -> Option<usize> {
    let after = text.split("--> ").nth(1)?;
    after.split(':').next()?.trim().parse().ok()
}

/// A theme static file: the site's override if present, else the built-in one.
pub fn static_file(config: &Config, name: &str) -> Result<Vec<u8>> {
    let over = config.templates_dir().join("static").join(name);
    if over.is_file() {
        return std::fs::read(&over).map_err(|e| Error::io(&over, "read", e));
    }
    theme::STATIC
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, b)| b.to_vec())
        .ok_or_else(|| Error::msg(format!("the theme has no static file `{name}`")))
}

/// A link in listings.
#[derive(Debug, Clone, Serialize)]
pub struct Link {
    /// Shown text.
    pub title: String,
    /// Target URL.
    pub url: String,
}

/// A tag with its page count.
#[derive(Debug, Clone, Serialize)]
pub struct TagLink {
    /// Tag as written.
    pub name: String,
    /// URL of its page.
    pub url: String,
    /// Pages carrying it.
    pub count: usize,
}

/// What every template sees as `site`.
#[derive(Debug, Clone, Serialize)]
pub struct SiteContext {
    /// Top-level sections, for navigation.
    pub sections: Vec<Link>,
    /// All tags, by name.
    pub tags: Vec<TagLink>,
    /// Hashed URLs of theme assets: `css`, `favicon`, `js`, `worker`, `search_page`, `sql_page`,
    /// `table_page`, and of the browser modules: `search_js`, `search_wasm`, `sql_js`, `sql_wasm`.
    pub assets: BTreeMap<String, String>,
    /// Whether the site has a search index (the header shows a search box).
    pub search: bool,
    /// Names of the baked databases (the header links to the SQL console).
    pub databases: Vec<String>,
    /// Hashed URL of the data manifest, if the site has data or search.
    pub manifest_url: Option<String>,
    /// URLs of the hot sidecar parts each browser module reads first (`search`, `sql`):
    /// the pages that will certainly run that module preload them.
    pub preload: BTreeMap<String, Vec<String>>,
    /// Whether the site has diagrams (the header links to the gallery).
    pub gallery: bool,
    /// `bake VERSION`.
    pub generator: String,
    /// URL of the site's Atom feed (`/atom.xml`), if it has one: only with `base_url`, and
    /// only when some page has a date.
    pub feed: Option<String>,
}

/// What templates see as `config`.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigContext {
    /// Site title.
    pub title: String,
    /// Site description.
    pub description: String,
    /// Content language.
    pub language: String,
    /// `base_url` of bake.toml without the trailing slash (`https://example.org`), if set.
    pub base_url: Option<String>,
    /// Free-form values from `[extra]`.
    pub extra: toml::Table,
    /// `[offline] device_cache_mib`, for the page's `bake-device-cache-mib` meta tag.
    pub device_cache_mib: u64,
}

impl ConfigContext {
    /// The parts of the config templates may use.
    pub fn from(config: &Config) -> ConfigContext {
        ConfigContext {
            title: config.title.clone(),
            description: config.description.clone(),
            language: config.language.clone(),
            base_url: config.base_url.clone(),
            extra: config.extra.clone(),
            device_cache_mib: config.offline.device_cache_mib,
        }
    }
}

/// The context every generated page starts from: `config`, `site`, `current_url`.
pub fn base_context(
    config: &crate::config::Config,
    site: &SiteContext,
    url: &str,
) -> tera::Context {
    let mut ctx = tera::Context::new();
    ctx.insert("config", &ConfigContext::from(config));
    ctx.insert("site", site);
    ctx.insert("current_url", url);
    ctx
}

/// A rendered page as written: minified unless `build.minify` is off.
pub fn finish_html(config: &crate::config::Config, html: String) -> Vec<u8> {
    if config.build.minify {
        crate::emit::minify(&html)
    } else {
        html.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_pest_lines() {
        assert_eq!(parse_error_line("Failed to parse: --> 3:5\n  |"), Some(3));
        assert_eq!(parse_error_line("nothing"), None);
    }
}
