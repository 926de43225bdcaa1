//! `bake check`: the build's own stages run without writing a site, collecting every
//! problem instead of stopping at the first: content that does not load, data that does
//! not bake, canned queries that do not prepare against the baked schema, diagrams that
//! do not render, shortcodes that do not resolve, two files claiming one output path,
//! and internal links or `#anchors` that lead nowhere.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use crate::build::{assemble_diagrams, output_claims, render_markdown};
use crate::config::Config;
use crate::data::{self, BakedDatabase};
use crate::diagrams::{self, Diagram, collect};
use crate::error::{Error, Result, line_of};
use crate::load::{self, Content, Page};
use crate::markdown::Rendered;
use crate::queries::{Databases, QueryResult};

/// What `bake check` looked at and what it found.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// Every problem, in the order found.
    pub problems: Vec<Error>,
    /// Pages checked.
    pub pages: usize,
    /// Internal links checked.
    pub links: usize,
    /// Diagrams rendered.
    pub diagrams: usize,
    /// Canned queries prepared.
    pub queries: usize,
}

impl std::fmt::Display for CheckReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::build::count;
        write!(
            f,
            "checked {}, {}, {}, {}: ",
            count(self.pages as u64, "page"),
            count(self.links as u64, "internal link"),
            count(self.diagrams as u64, "diagram"),
            count(self.queries as u64, "canned query"),
        )?;
        match self.problems.len() {
            0 => write!(f, "no problems"),
            n => write!(f, "{}", count(n as u64, "problem")),
        }
    }
}

/// Checks the site of `config`; nothing is written except a temporary folder for the
/// baked databases, removed before returning.
pub fn check(config: &Config) -> Result<CheckReport> {
    let mut report = CheckReport::default();
    let content = match load::load(config) {
        Ok(c) => c,
        Err(e) => {
            report.problems.push(e);
            return Ok(report);
        }
    };
    report.pages = content.pages.len();
    let work = tempfile::Builder::new()
        .prefix("bake-check-")
        .tempdir()
        .map_err(|e| Error::io(std::env::temp_dir(), "create a temporary folder", e))?;
    let dbs: Vec<BakedDatabase> =
        match data::bake_all(config, &content, work.path(), config.build.skip_bad_rows) {
            Ok(d) => d,
            Err(e) => {
                report.problems.push(e);
                Vec::new()
            }
        };
    let data_ok = report.problems.is_empty();
    let databases = Databases::new(
        dbs.iter()
            .map(|d| (d.name.clone(), d.path.clone()))
            .collect(),
    );

    // Canned queries in bake.toml: prepared, not run.
    let mut config_queries = BTreeMap::new();
    for q in &config.queries {
        report.queries += 1;
        if data_ok && let Err(m) = databases.prepare(&q.database, &q.sql) {
            report.problems.push(
                config
                    .error_at_query(
                        &q.name,
                        format!("canned query `{}` does not prepare: {m}", q.name),
                    )
                    .hint("fix its SQL; it runs against the baked databases"),
            );
        }
        let empty = QueryResult {
            columns: vec![],
            rows: vec![],
            truncated: false,
        };
        config_queries.insert(q.name.clone(), (empty, q.description.clone()));
    }
    if data_ok
        && config.search.enabled
        && let Err(e) = crate::search::check_tables(config, &databases)
    {
        report.problems.push(e);
    }
    report.queries += content
        .pages
        .iter()
        .map(|p| p.front.queries.len())
        .sum::<usize>();

    // Diagram files, then pages (with their fenced diagrams and shortcodes).
    let mut files = BTreeMap::new();
    for f in &content.diagrams {
        match collect::render_file(&config.build.content, f) {
            Ok(d) => {
                files.insert(f.rel.clone(), d);
            }
            Err(e) => report.problems.push(e),
        }
    }
    let sink = Mutex::new(Vec::new());
    // Without baked data, front-matter queries cannot be prepared: check the rest only.
    let pages_for_queries: Vec<Page>;
    let pages: &[Page] = if data_ok {
        &content.pages
    } else {
        pages_for_queries = content
            .pages
            .iter()
            .cloned()
            .map(|mut p| {
                p.front.queries.clear();
                p
            })
            .collect();
        &pages_for_queries
    };
    let rendered = render_markdown(
        config,
        pages,
        &databases,
        &config_queries,
        &files,
        Some(&sink),
    )?;
    // Pages render in parallel: order their problems by place so every run prints the same.
    let mut from_pages = sink.into_inner().expect("not poisoned");
    from_pages.sort_by(|a, b| (&a.file, a.line, &a.message).cmp(&(&b.file, b.line, &b.message)));
    report.problems.extend(from_pages);
    let mut er = Vec::new();
    for d in &dbs {
        match collect::er_diagram(&d.name, &d.schema) {
            Ok(g) => er.push(g),
            Err(e) => report.problems.push(e),
        }
    }
    let diagrams = assemble_diagrams(&content.pages, &rendered, files, er);
    report.diagrams = diagrams.len();
    report.problems.extend(diagrams::duplicate_ids(&diagrams));
    report
        .problems
        .extend(crate::build::check_tags(config, &content.pages));
    report
        .problems
        .extend(load::duplicate_outputs(output_claims(
            config, &content, &rendered, &dbs, &diagrams,
        )));
    let (links, problems) = check_links(config, &content, &rendered, &dbs, &diagrams);
    report.links = links;
    report.problems.extend(problems);
    Ok(report)
}

/// Checks every link in the pages' markdown that stays on the site: the target must be a
/// page, asset or generated page, and an `#anchor` on a content page must be an id there.
fn check_links(
    config: &Config,
    content: &Content,
    rendered: &[Rendered],
    dbs: &[BakedDatabase],
    diagrams: &[Diagram],
) -> (usize, Vec<Error>) {
    // Output paths that exist, and the ids on each content page.
    let outputs: BTreeSet<String> = output_claims(config, content, rendered, dbs, diagrams)
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    let anchors: BTreeMap<&str, BTreeSet<String>> = content
        .pages
        .iter()
        .zip(rendered)
        .map(|(p, r)| (p.output.as_str(), ids_in(&r.html)))
        .collect();
    let mut problems = Vec::new();
    let mut count = 0;
    for (page, r) in content.pages.iter().zip(rendered) {
        for target in links_in(&r.html) {
            let Some((path, fragment)) = resolve(&page.url, &target) else {
                continue;
            };
            count += 1;
            let line = line_in_page(page, &target);
            let file = match find_output(&outputs, &path) {
                Some(f) => f,
                None => {
                    problems.push(
                        Error::at(&page.display, line, format!("the link `{target}` leads nowhere: the site has no `{path}`"))
                            .hint("link to a page by its URL (`/section/page/`) or to a file under content/ by its path"),
                    );
                    continue;
                }
            };
            if let (Some(fragment), Some(ids)) = (fragment, anchors.get(file.as_str()))
                && !fragment.is_empty()
                && !ids.contains(&fragment)
            {
                let mut known: Vec<&str> = ids.iter().map(String::as_str).take(12).collect();
                known.sort();
                let hint = if known.is_empty() {
                    format!(
                        "`{path}` has no headings, so no anchors: link to the page without `#{fragment}`, or add the heading"
                    )
                } else {
                    format!(
                        "headings get ids from their text; the ids there include: {}",
                        known.join(", ")
                    )
                };
                problems.push(
                    Error::at(&page.display, line, format!("the link `{target}` names the anchor `#{fragment}`, which is not on `{path}`"))
                        .hint(hint),
                );
            }
        }
    }
    (count, problems)
}

/// The output file a URL path is served from, if the site has it.
fn find_output(outputs: &BTreeSet<String>, path: &str) -> Option<String> {
    let p = path.trim_start_matches('/');
    // Files bake writes under hashed names are not known before emitting.
    if p.starts_with("_assets/") || p.starts_with("_data/") {
        return Some(p.to_string());
    }
    let candidates = if p.is_empty() {
        vec!["index.html".to_string()]
    } else if p.ends_with('/') {
        vec![format!("{p}index.html")]
    } else {
        vec![p.to_string(), format!("{p}/index.html")]
    };
    candidates.into_iter().find(|c| outputs.contains(c))
}

/// Resolves a link found on the page at `page_url` to (site path, fragment); `None` for
/// links that leave the site (a scheme, `//host`, `mailto:`).
fn resolve(page_url: &str, target: &str) -> Option<(String, Option<String>)> {
    let target = target.trim();
    if target.is_empty() || target.starts_with("//") || has_scheme(target) {
        return None;
    }
    let (rest, fragment) = match target.split_once('#') {
        Some((r, f)) => (r, Some(f.to_string())),
        None => (target, None),
    };
    let rest = rest.split('?').next().unwrap_or("");
    let joined = if rest.is_empty() {
        page_url.to_string()
    } else if rest.starts_with('/') {
        rest.to_string()
    } else {
        format!("{page_url}{rest}")
    };
    let trailing = joined.ends_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in joined.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let mut path = format!("/{}", parts.join("/"));
    if trailing && path != "/" {
        path.push('/');
    }
    Some((percent_decode(&path), fragment))
}

fn has_scheme(s: &str) -> bool {
    match s.find(':') {
        Some(i) => s[..i]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')),
        None => false,
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `href` and `src` values in rendered markdown (diagram SVGs carry only `#` references
/// to their own ids, which are skipped).
fn links_in(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in [" href=\"", " src=\""] {
        for (i, _) in html.match_indices(attr) {
            // Only inside a tag: `<code>&lt;a href="x"&gt;</code>` is text about a link.
            let in_tag = match (html[..i].rfind('<'), html[..i].rfind('>')) {
                (Some(lt), Some(gt)) => lt > gt,
                (Some(_), None) => true,
                _ => false,
            };
            if !in_tag {
                continue;
            }
            let rest = &html[i + attr.len()..];
            if let Some(end) = rest.find('"') {
                let v = rest[..end].replace("&amp;", "&");
                // Links inside diagrams and the figure's own "Source" link are bake's.
                if v.starts_with('#')
                    && html[..i]
                        .rfind("<svg")
                        .is_some_and(|s| html[s..i].rfind("</svg>").is_none())
                {
                    continue;
                }
                out.push(v);
            }
        }
    }
    out
}

/// Every `id="…"` in rendered HTML.
fn ids_in(html: &str) -> BTreeSet<String> {
    html.match_indices(" id=\"")
        .filter_map(|(i, _)| {
            let rest = &html[i + 5..];
            rest.find('"').map(|end| rest[..end].to_string())
        })
        .collect()
}

/// Line of the page's file where `target` is written (first occurrence).
fn line_in_page(page: &Page, target: &str) -> usize {
    let raw = target.replace('&', "&amp;");
    page.body
        .find(target)
        .or_else(|| page.body.find(&raw))
        .map(|off| page.body_line + line_of(&page.body, off) - 1)
        .unwrap_or(page.body_line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_resolve_like_a_browser() {
        assert_eq!(
            resolve("/a/b/", "../c/#x"),
            Some(("/a/c/".into(), Some("x".into())))
        );
        assert_eq!(
            resolve("/a/b/", "#top"),
            Some(("/a/b/".into(), Some("top".into())))
        );
        assert_eq!(
            resolve("/a/b/", "img.png"),
            Some(("/a/b/img.png".into(), None))
        );
        assert_eq!(resolve("/", "/x%20y/?q=1"), Some(("/x y/".into(), None)));
        assert_eq!(resolve("/", "https://example.com/"), None);
        assert_eq!(resolve("/", "mailto:a@b"), None);
        assert_eq!(resolve("/", "//cdn.example/x"), None);
    }

    #[test]
    fn links_inside_code_are_text() {
        let html = r#"<p><a href="/a/">a</a> <code>&lt;a href="TEXT"&gt;</code> <img src="/i.png" alt=""></p>"#;
        assert_eq!(links_in(html), vec!["/a/", "/i.png"]);
    }

    #[test]
    fn outputs_are_found_with_or_without_slash() {
        let outputs: BTreeSet<String> = ["index.html", "a/index.html", "f.png"]
            .map(String::from)
            .into();
        assert_eq!(find_output(&outputs, "/"), Some("index.html".into()));
        assert_eq!(find_output(&outputs, "/a"), Some("a/index.html".into()));
        assert_eq!(find_output(&outputs, "/a/"), Some("a/index.html".into()));
        assert_eq!(find_output(&outputs, "/f.png"), Some("f.png".into()));
        assert_eq!(find_output(&outputs, "/b/"), None);
    }
}
