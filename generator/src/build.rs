//! `bake build`: the pipeline, top to bottom. Every stage writes into a staging folder next
//! to the output; only a build that got all the way through replaces the site.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde::Serialize;
use tera::Context;
use wasm_query::manifest::{MANIFEST_VERSION, Manifest, SearchIndex};

use crate::config::{Config, find_key_line};
use crate::data::{self, BakedDatabase};
use crate::diagrams::{Diagram, collect};
use crate::emit::{self, Output};
use crate::error::{Error, Result};
use crate::feeds;
use crate::gallery;
use crate::load::{self, Page, check_unique_outputs};
use crate::markdown::{self, Rendered, Shortcode, TocEntry, slugify};
use crate::queries::{self, Databases};
use crate::render::{
    ConfigContext, Link, Renderer, SiteContext, TagLink, base_context, finish_html, static_file,
};
use crate::search::{self, SearchDoc};

/// Switches of one build (the CLI's flags); `None`/`false` keep what bake.toml says.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Output folder instead of `build.output`.
    pub out: Option<PathBuf>,
    /// Skip rows that do not fit their column type.
    pub skip_bad_rows: bool,
    /// Include drafts.
    pub drafts: bool,
    /// Print nothing but errors.
    pub quiet: bool,
    /// Replace an output folder that bake did not write.
    pub force: bool,
}

/// What a build produced.
#[derive(Debug, Clone)]
pub struct BuildReport {
    /// The folder written.
    pub out: PathBuf,
    /// HTML pages written (content pages, sections, tag pages, 404).
    pub pages: usize,
    /// Databases baked.
    pub databases: usize,
    /// Tables in them.
    pub tables: usize,
    /// Rows in them.
    pub rows: u64,
    /// Rows skipped with `skip_bad_rows`.
    pub skipped_rows: u64,
    /// Warnings for the user (`bake build` prints them unless `--quiet`).
    pub warnings: Vec<String>,
    /// Documents in the search index.
    pub search_documents: u64,
    /// Diagrams drawn (fences, files, ER).
    pub diagrams: usize,
    /// Files in the site.
    pub files: usize,
    /// Bytes in the site.
    pub bytes: u64,
    /// Wall time.
    pub elapsed: Duration,
}

impl fmt::Display for BuildReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "built {}, {} ({}, {}), {}, {} → {} ({}, {:.1} MB) in {:.2} s",
            count(self.pages as u64, "page"),
            count(self.databases as u64, "database"),
            count(self.tables as u64, "table"),
            count(self.rows, "row"),
            count(self.search_documents, "search document"),
            count(self.diagrams as u64, "diagram"),
            self.out.display(),
            count(self.files as u64, "file"),
            self.bytes as f64 / 1e6,
            self.elapsed.as_secs_f64()
        )?;
        if self.skipped_rows > 0 {
            write!(
                f,
                "; skipped {} that did not fit",
                count(self.skipped_rows, "row")
            )?;
        }
        Ok(())
    }
}

/// `n` and `noun`, the noun in the plural unless `n` is 1, digits grouped by thousands:
/// "1 page", "336,776 rows".
pub fn count(n: u64, noun: &str) -> String {
    let digits = n.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let plural = match (n, noun.strip_suffix('y')) {
        (1, _) => noun.to_string(),
        // "query" → "queries" (not after a vowel: "day" → "days").
        (_, Some(stem)) if !stem.ends_with(['a', 'e', 'o', 'u']) => format!("{stem}ies"),
        _ => format!("{noun}s"),
    };
    format!("{grouped} {plural}")
}

/// Builds the site described by `config`.
pub fn build(config: &Config, opts: &BuildOptions) -> Result<BuildReport> {
    let start = Instant::now();
    let mut config = config.clone();
    config.build.drafts |= opts.drafts;
    let skip_bad_rows = opts.skip_bad_rows || config.build.skip_bad_rows;
    let out = opts
        .out
        .clone()
        .unwrap_or_else(|| config.root.join(&config.build.output));
    let out_parent = check_out_dir(&config, &out)?;
    check_replaceable(&out, opts.force)?;
    emit::remove_stale_staging(&out_parent);
    let tmp = |kind: &str| {
        tempfile::Builder::new()
            .prefix(&emit::staging_prefix(kind))
            .tempdir_in(&out_parent)
            .map_err(|e| Error::io(&out_parent, "create a staging folder", e))
    };
    let staging = tmp("staging")?;
    let work = tmp("work")?;

    // 1. load
    let content = load::load(&config)?;
    // 2. bake
    let dbs = data::bake_all(&config, &content, work.path(), skip_bad_rows)?;
    let databases = Databases::new(
        dbs.iter()
            .map(|d| (d.name.clone(), d.path.clone()))
            .collect(),
    );
    // 3. canned queries from bake.toml
    let config_queries = queries::run_config_queries(&config, &databases)?;
    // 4. diagram files, markdown (fenced diagrams drawn as it goes), ER diagrams
    let diagram_files = render_diagram_files(&config, &content)?;
    let rendered = render_markdown(
        &config,
        &content.pages,
        &databases,
        &config_queries,
        &diagram_files,
        None,
    )?;
    let er = dbs
        .iter()
        .map(|d| collect::er_diagram(&d.name, &d.schema))
        .collect::<Result<Vec<_>>>()?;
    let diagrams = assemble_diagrams(&content.pages, &rendered, diagram_files, er);
    crate::diagrams::check_unique_ids(&diagrams)?;
    if let Some(e) = check_tags(&config, &content.pages).into_iter().next() {
        return Err(e);
    }
    check_unique_outputs(output_claims(&config, &content, &rendered, &dbs, &diagrams))?;
    let mut model = SiteModel::new(&config, &content.pages, &rendered);
    let site_feeds = model.feeds(&config);
    model.section_feeds = site_feeds
        .iter()
        .map(|f| (f.page_url.clone(), f.url()))
        .collect();
    // 5. search index
    let packed = if config.search.enabled {
        let mut docs = model.search_docs();
        docs.extend(search::row_documents(&config, &databases)?);
        Some(search::build_index(&docs, &config.language)?)
    } else {
        None
    };
    // 6. data files, manifest
    let mut output = Output::new(staging.path().to_path_buf(), config.host);
    let data_urls = write_data(&config, &mut output, &dbs, packed.as_ref())?;
    // 7. templates
    let mut renderer = Renderer::new(&config)?;
    let query_html: BTreeMap<String, String> = config_queries
        .iter()
        .map(|(n, (r, d))| (n.clone(), queries::to_html(n, r, d)))
        .collect();
    renderer.register_function("query", query_function(Arc::new(query_html)));
    let assets = write_theme_assets(&config, &mut output, data_urls.is_some())?;
    let (manifest_url, preload) = match data_urls {
        Some(d) => (Some(d.manifest), d.hot),
        None => (None, BTreeMap::new()),
    };
    let site = SiteContext {
        sections: model.nav(),
        tags: model.tag_links(),
        assets,
        search: packed.is_some(),
        databases: dbs.iter().map(|d| d.name.clone()).collect(),
        manifest_url,
        preload,
        gallery: !diagrams.is_empty(),
        generator: format!("bake {}", env!("CARGO_PKG_VERSION")),
        feed: site_feeds
            .iter()
            .find(|f| f.output == feeds::SITE_FEED)
            .map(feeds::Feed::url),
    };
    let mut pages = model.render_all(&config, &renderer, &site)?;
    pages.extend(render_data_pages(
        &config, &renderer, &site, &dbs, &databases, &diagrams,
    )?);
    pages.extend(gallery::render(
        &config,
        &renderer,
        &site,
        &mut output,
        &diagrams,
    )?);
    let page_count = pages.len();
    if let Some(base_url) = &config.base_url {
        let lastmod = model.lastmod();
        let sitemap: Vec<feeds::SitemapPage> = pages
            .iter()
            .filter_map(|(rel, _)| {
                Some(feeds::SitemapPage {
                    url: feeds::page_url_of_output(rel)?,
                    lastmod: lastmod.get(rel.as_str()).cloned(),
                })
            })
            .collect();
        output.write("sitemap.xml", feeds::sitemap(base_url, &sitemap).as_bytes())?;
        for f in &site_feeds {
            output.write(
                &f.output,
                feeds::atom(base_url, &config.language, f).as_bytes(),
            )?;
        }
    }
    for (rel, html) in pages {
        output.write(&rel, &html)?;
    }
    // 8. static assets, robots.txt (the author's own, if there is one), headers
    for asset in &content.assets {
        output.copy(
            &asset.rel,
            &asset.path,
            &config.build.content.join(&asset.rel),
        )?;
    }
    if !content.assets.iter().any(|a| a.rel == ROBOTS) {
        output.write(ROBOTS, feeds::robots(config.base_url.as_deref()).as_bytes())?;
    }
    if site.manifest_url.is_some() {
        // The offline shell: the pages of a site with data or search load bake.js, which
        // registers the service worker.
        output.write_offline_files(
            &config.title,
            site.assets.get("favicon").map(String::as_str),
        )?;
    }
    let top = top_level_entries(output.dir())?;
    output.write("_headers", emit::headers_file(&top).as_bytes())?;
    check_file_count(config.host, output.files)?;
    // 9. swap into place
    let (files, bytes) = (output.files, output.bytes);
    let staging_path = staging.keep();
    emit::swap_into_place(&staging_path, &out).inspect_err(|_| {
        let _ = std::fs::remove_dir_all(&staging_path);
    })?;
    Ok(BuildReport {
        out,
        pages: page_count,
        databases: dbs.len(),
        tables: dbs.iter().map(|d| d.schema.tables.len()).sum(),
        rows: dbs
            .iter()
            .flat_map(|d| &d.schema.tables)
            .map(|t| t.rows)
            .sum(),
        skipped_rows: dbs.iter().map(|d| d.skipped_rows).sum(),
        warnings: dbs.iter().flat_map(|d| d.warnings.clone()).collect(),
        search_documents: packed.map(|p| p.documents).unwrap_or(0),
        diagrams: diagrams.len(),
        files,
        bytes,
        elapsed: start.elapsed(),
    })
}

/// Written by bake unless the content folder has its own, which is copied as it is.
const ROBOTS: &str = "robots.txt";

/// Refuses a site with more files than the host accepts.
fn check_file_count(host: crate::config::Host, files: usize) -> Result<()> {
    match host.max_files() {
        Some(max) if files > max => Err(Error::msg(format!(
            "the site has {files} files; host {host:?} accepts at most {max}"
        ))
        .hint("raise part_size so data files split into fewer parts, or deploy to another host")),
        _ => Ok(()),
    }
}

/// Refuses to replace a folder that bake did not write (`--out precious` must never delete
/// `precious/thesis.txt`): it must be missing, empty, or hold the `_headers` bake writes.
fn check_replaceable(out: &Path, force: bool) -> Result<()> {
    if force || !out.exists() {
        return Ok(());
    }
    if !out.is_dir() {
        return Err(
            Error::in_file(out, "is a file, not a folder; the build would replace it")
                .hint("choose another output folder with --out"),
        );
    }
    let empty = std::fs::read_dir(out)
        .map_err(|e| Error::io(out, "list", e))?
        .next()
        .is_none();
    if empty || emit::written_by_bake(out) {
        return Ok(());
    }
    Err(Error::in_file(
        out,
        "holds files that bake did not write, and the build replaces the whole folder",
    )
    .hint("choose an empty or new output folder, or pass --force to replace this one and everything in it"))
}

/// Tags that cannot have a page: no letter or digit in them, or two different tags that
/// would share one URL (`C++` and `C` both slugify to `/tags/c/`). Tags equal but for case
/// and spacing (`Rust`, `rust`) are one tag.
pub(crate) fn check_tags(config: &Config, pages: &[Page]) -> Vec<Error> {
    let mut by_slug: BTreeMap<String, (String, &str, &Page)> = BTreeMap::new();
    let mut errors = Vec::new();
    for p in pages.iter().filter(|p| !p.is_section) {
        for t in &p.front.tags {
            let at = || Error::at(&p.display, front_matter_line(config, p, "tags"), "");
            let slug = slugify(t);
            if slug.is_empty() {
                let mut e = at().hint("give the tag at least one letter or digit");
                e.message =
                    format!("the tag `{t}` has no letter or digit to make its page's URL from");
                errors.push(e);
                continue;
            }
            match by_slug.get(&slug) {
                Some((key, first, page)) if *key != crate::slug::tag_key(t) => {
                    let mut e = at().hint("rename one of the two tags so their letters and digits differ (tag URLs keep only those), e.g. `cpp` for `C++`");
                    e.message = format!(
                        "the tag `{t}` would share the page /tags/{slug}/ with the tag `{first}` of {}",
                        page.display.display()
                    );
                    errors.push(e);
                }
                Some(_) => {}
                None => {
                    by_slug.insert(slug, (crate::slug::tag_key(t), t, p));
                }
            }
        }
    }
    errors
}

/// Refuses output folders that would swallow the project; returns the folder to stage in.
fn check_out_dir(config: &Config, out: &Path) -> Result<PathBuf> {
    let abs_out = std::path::absolute(out).map_err(|e| Error::io(out, "resolve", e))?;
    // `absolute` keeps `..` and a trailing `.`: resolve through the nearest existing ancestor.
    let abs_out = match abs_out.canonicalize() {
        Ok(p) => p,
        Err(_) => {
            let parent = abs_out.parent().unwrap_or(Path::new("/"));
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::io(parent, "create the output's parent folder", e))?;
            let name = abs_out.file_name().ok_or_else(|| {
                Error::msg(format!("`{}` is not a folder name", out.display()))
                    .hint("pass --out with a folder such as site/")
            })?;
            parent
                .canonicalize()
                .map_err(|e| Error::io(parent, "open", e))?
                .join(name)
        }
    };
    let root = config
        .root
        .canonicalize()
        .map_err(|e| Error::io(&config.root, "open", e))?;
    let content = config
        .content_dir()
        .canonicalize()
        .unwrap_or_else(|_| root.join(&config.build.content));
    if root.starts_with(&abs_out) || content.starts_with(&abs_out) || abs_out.starts_with(&content)
    {
        return Err(Error::msg(format!(
            "refusing to build into `{}`: it holds (or is inside) the site's sources, and the build replaces it whole",
            out.display()
        ))
        .hint("choose an output folder of its own, such as site/"));
    }
    Ok(abs_out
        .parent()
        .expect("an absolute folder below the root has a parent")
        .to_path_buf())
}

/// Renders every page's markdown, drawing its diagrams and resolving its shortcodes.
///
/// With `check` (for `bake check`), problems are collected there instead of stopping the
/// build, and front-matter queries are only prepared, not run.
pub(crate) fn render_markdown(
    config: &Config,
    pages: &[Page],
    dbs: &Databases,
    config_queries: &BTreeMap<String, (queries::QueryResult, String)>,
    diagram_files: &BTreeMap<String, Diagram>,
    check: Option<&Mutex<Vec<Error>>>,
) -> Result<Vec<Rendered>> {
    let known: Vec<&String> = config_queries.keys().collect();
    // In check mode an error is noted and the page goes on; in a build it stops everything.
    let keep = |r: Result<String>| -> Result<String> {
        match (r, check) {
            (Err(e), Some(sink)) => {
                sink.lock().expect("not poisoned").push(e);
                Ok(String::new())
            }
            (r, _) => r,
        }
    };
    pages
        .par_iter()
        .map(|page| {
            // Every front-matter query runs, used or not, so a broken one never waits to be used.
            let mut page_queries = BTreeMap::new();
            for (name, q) in &page.front.queries {
                let failed = |m: String| {
                    Error::at(&page.display, front_matter_line(config, page, name), format!("canned query `{name}` failed: {m}"))
                        .hint("fix its SQL in the front matter; it runs at build time against the baked databases")
                };
                let html = if check.is_some() {
                    dbs.prepare(&q.database, &q.sql).map_err(failed).map(|()| String::new())
                } else {
                    dbs.run_limited(&q.database, &q.sql, &q.limits(config))
                        .map_err(|e| e.locate(failed))
                        .map(|r| queries::to_html(name, &r, &q.description))
                };
                page_queries.insert(name.as_str(), keep(html)?);
            }
            let drawn = collect::PageDiagrams::new(page, title_of(page), diagram_files);
            let resolve = |sc: &Shortcode, line: usize| -> Result<String> {
                keep((|| {
                    if sc.name == "diagram" {
                        let src = sc.arg("src").ok_or_else(|| {
                            Error::at(&page.display, line, "the diagram shortcode needs src").hint(r#"write {{ diagram(src="diagrams/NAME.dot") }}"#)
                        })?;
                        return drawn.embed(src, line);
                    }
                    if sc.name != "query" {
                        return Err(Error::at(&page.display, line, format!("unknown shortcode `{}`", sc.name))
                            .hint(r#"the shortcodes are: query(name="…") and diagram(src="…")"#));
                    }
                    let name = sc.arg("name").ok_or_else(|| {
                        Error::at(&page.display, line, "the query shortcode needs a name").hint(r#"write {{ query(name="NAME") }}"#)
                    })?;
                    if let Some(html) = page_queries.get(name) {
                        return Ok(html.clone());
                    }
                    match config_queries.get(name) {
                        Some((r, d)) => Ok(queries::to_html(name, r, d)),
                        None => Err(queries::unknown_query(&page.display, line, name, &known)),
                    }
                })())
            };
            let fences = |lang: &str, rest: &str, code: &str, line: usize| {
                drawn.fence(lang, rest, code, line).map(keep)
            };
            let rendered = markdown::render(&page.display, &page.body, page.body_line, &resolve, &fences);
            let mut rendered = match (rendered, check) {
                (Err(e), Some(sink)) => {
                    sink.lock().expect("not poisoned").push(e);
                    Rendered::default()
                }
                (r, _) => r?,
            };
            (rendered.diagrams, rendered.embeds) = drawn.finish();
            // A diagram's title and caption are text of its page, for search and summaries.
            for d in &rendered.diagrams {
                rendered.text.push(' ');
                rendered.text.push_str(&d.title);
                if !d.caption.is_empty() {
                    rendered.text.push(' ');
                    rendered.text.push_str(&d.caption);
                }
            }
            Ok(rendered)
        })
        .collect()
}

/// Every output path of the site with the file that claims it (pages, assets, generated
/// pages, gallery), for the duplicate check.
pub(crate) fn output_claims(
    config: &Config,
    content: &load::Content,
    rendered: &[Rendered],
    dbs: &[BakedDatabase],
    diagrams: &[Diagram],
) -> Vec<(String, PathBuf)> {
    let model = SiteModel::new(config, &content.pages, rendered);
    let mut claims = model.claims(content);
    let generated = PathBuf::from("(generated by bake)");
    if config.base_url.is_some() {
        claims.push(("sitemap.xml".into(), generated.clone()));
        claims.extend(
            model
                .feeds(config)
                .into_iter()
                .map(|f| (f.output, generated.clone())),
        );
    }
    if config.search.enabled {
        claims.push(("search/index.html".into(), generated.clone()));
    }
    if !dbs.is_empty() {
        claims.push(("sql/index.html".into(), generated.clone()));
    }
    for db in dbs {
        for t in &db.schema.tables {
            claims.push((
                crate::slug::table_output(&db.name, &t.name),
                generated.clone(),
            ));
        }
    }
    claims.extend(gallery::claims(diagrams));
    claims
}

/// Renders the diagram files under content/, keyed by their content-relative path.
pub(crate) fn render_diagram_files(
    config: &Config,
    content: &load::Content,
) -> Result<BTreeMap<String, Diagram>> {
    content
        .diagrams
        .par_iter()
        .map(|f| {
            Ok((
                f.rel.clone(),
                collect::render_file(&config.build.content, f)?,
            ))
        })
        .collect()
}

/// Every diagram of the site, each tied to the page that shows it.
pub(crate) fn assemble_diagrams(
    pages: &[Page],
    rendered: &[Rendered],
    files: BTreeMap<String, Diagram>,
    er: Vec<Diagram>,
) -> Vec<Diagram> {
    let per_page: Vec<_> = pages
        .iter()
        .zip(rendered)
        .map(|(p, r)| (p, title_of(p), r.diagrams.clone(), r.embeds.clone()))
        .collect();
    collect::assemble(&per_page, files, er)
}

/// Line of `key` in the page's front matter (re-read: errors are rare, pages are many).
fn front_matter_line(config: &Config, page: &Page, key: &str) -> usize {
    std::fs::read_to_string(config.content_dir().join(&page.rel))
        .map(|t| find_key_line(&t, key))
        .unwrap_or(1)
}

fn query_function(html: Arc<BTreeMap<String, String>>) -> impl tera::Function {
    move |args: &std::collections::HashMap<String, tera::Value>| -> tera::Result<tera::Value> {
        let name = args
            .get("name")
            .and_then(|v| v.as_str())
            .ok_or("query() needs name=\"…\"")?;
        html.get(name)
            .map(|h| tera::Value::String(h.clone()))
            .ok_or_else(|| format!("there is no canned query named `{name}` in bake.toml").into())
    }
}

/// Splits databases and the search pack into parts and writes the manifest; returns its URL.
/// Where the browser finds the data: the manifest's hashed URL, and per module (`search`,
/// `sql`) the URLs of the hot sidecar parts it reads first.
struct DataUrls {
    manifest: String,
    hot: BTreeMap<String, Vec<String>>,
}

fn write_data(
    config: &Config,
    output: &mut Output,
    dbs: &[BakedDatabase],
    packed: Option<&search::PackedIndex>,
) -> Result<Option<DataUrls>> {
    if dbs.is_empty() && packed.is_none() {
        return Ok(None);
    }
    let part_size = config.part_size().0;
    let mut manifest = Manifest {
        version: MANIFEST_VERSION,
        generator: format!("bake {}", env!("CARGO_PKG_VERSION")),
        files: BTreeMap::new(),
        databases: BTreeMap::new(),
        search: None,
    };
    for db in dbs {
        let mut file =
            output.split_file(&db.schema.file, &db.path, db.schema.page_size, part_size)?;
        // The hot pages, concatenated in order, as the sidecar `NAME.sqlite.hot`: one request.
        let sidecar = read_ranges(&db.path, &db.hot)?;
        if !sidecar.is_empty() {
            let name = format!("{}.hot", db.schema.file);
            let hot_file = output.split_bytes(&name, &sidecar, db.schema.page_size, part_size)?;
            manifest.files.insert(name, hot_file);
            file.hot = db.hot.clone();
        }
        manifest.files.insert(db.schema.file.clone(), file);
        manifest
            .databases
            .insert(db.name.clone(), db.schema.clone());
    }
    if let Some(p) = packed {
        let name = "search.pack".to_string();
        let mut file = output.split_bytes(&name, &p.pack, search::PACK_BLOCK_SIZE, part_size)?;
        if !p.hot.is_empty() {
            // What opening the index reads, as one sidecar: opening costs one request.
            let sidecar = output.split_bytes(
                "search.pack.hot",
                &p.hot_sidecar(),
                search::PACK_BLOCK_SIZE,
                part_size,
            )?;
            manifest.files.insert("search.pack.hot".into(), sidecar);
            file.hot = p.hot.clone();
        }
        manifest.files.insert(name.clone(), file);
        manifest.search = Some(SearchIndex {
            file: name,
            entries: p.entries.clone(),
            documents: p.documents,
        });
    }
    manifest
        .validate()
        .map_err(|e| Error::msg(format!("internal error: the manifest is inconsistent: {e}")))?;
    let json = serde_json::to_vec(&manifest).expect("manifest serializes");
    let mut hot: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, file) in &manifest.files {
        if let Some(data) = name.strip_suffix(".hot") {
            let module = if data == "search.pack" {
                "search"
            } else {
                "sql"
            };
            let urls = file.parts.iter().map(|p| p.url.clone());
            hot.entry(module.into()).or_default().extend(urls);
        }
    }
    Ok(Some(DataUrls {
        manifest: output.hashed_asset("manifest.json", &json)?,
        hot,
    }))
}

/// Writes the stylesheet, and for sites with data or search the scripts and the two browser
/// modules, under content-hashed names; returns their URLs by key.
fn write_theme_assets(
    config: &Config,
    output: &mut Output,
    with_data: bool,
) -> Result<BTreeMap<String, String>> {
    let mut assets = BTreeMap::new();
    assets.insert(
        "css".into(),
        output.hashed_asset("style.css", &static_file(config, "style.css")?)?,
    );
    // Linked from every page: without one, browsers ask for /favicon.ico and log its 404.
    assets.insert(
        "favicon".into(),
        output.hashed_asset("favicon.svg", &static_file(config, "favicon.svg")?)?,
    );
    if !with_data {
        return Ok(assets);
    }
    for (key, file) in [
        ("js", "bake.js"),
        ("worker", "bake-worker.js"),
        ("search_page", "search-page.js"),
        ("sql_page", "sql-console.js"),
        ("table_page", "table-page.js"),
    ] {
        assets.insert(
            key.into(),
            output.hashed_asset(file, &static_file(config, file)?)?,
        );
    }
    for (module, files) in crate::theme::WASM_MODULES {
        // One hash over the module's files: the glue imports its siblings by relative path.
        let mut h = blake3::Hasher::new();
        for (path, bytes) in *files {
            h.update(path.as_bytes());
            h.update(&(bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        }
        let dir = format!(
            "{}/{module}.{}",
            emit::ASSETS_DIR,
            &h.finalize().to_hex()[..16]
        );
        for (path, bytes) in *files {
            output.write(&format!("{dir}/{path}"), bytes)?;
        }
        let key = module.trim_start_matches("bake-");
        let stem = module.replace('-', "_");
        assets.insert(format!("{key}_js"), format!("/{dir}/{stem}.js"));
        assets.insert(format!("{key}_wasm"), format!("/{dir}/{stem}_bg.wasm"));
    }
    Ok(assets)
}

/// One cell of a table baked into a page.
#[derive(Serialize)]
struct CellContext {
    text: String,
    class: &'static str,
}

/// Rows shown on a table page before (or without) JavaScript.
const BAKED_ROWS: usize = 25;

/// The search page, the SQL console and one page per table.
fn render_data_pages(
    config: &Config,
    renderer: &Renderer,
    site: &SiteContext,
    dbs: &[BakedDatabase],
    databases: &Databases,
    diagrams: &[Diagram],
) -> Result<Vec<(String, Vec<u8>)>> {
    let generated = Path::new("(generated page)");
    let finish = |html: String| finish_html(config, html);
    let base = |url: &str| base_context(config, site, url);
    let mut out = Vec::new();
    if site.search {
        out.push((
            "search/index.html".to_string(),
            finish(renderer.render("search.html", &base("/search/"), generated)?),
        ));
    }
    if dbs.is_empty() {
        return Ok(out);
    }
    let schemas: Vec<serde_json::Value> = dbs
        .iter()
        .map(|d| {
            let er = diagrams
                .iter()
                .find(|g| {
                    g.kind == crate::diagrams::Kind::Er
                        && g.file == format!("(database {})", d.name)
                })
                .map(collect::figure_html);
            serde_json::json!({"name": d.name, "tables": d.schema.tables, "er": er})
        })
        .collect();
    let examples: Vec<serde_json::Value> = config
        .queries
        .iter()
        .map(|q| serde_json::json!({"name": q.name, "database": q.database, "sql": q.sql.trim(), "description": q.description}))
        .collect();
    let default_sql = dbs
        .iter()
        .find_map(|d| {
            d.schema
                .tables
                .first()
                .map(|t| format!("SELECT * FROM {} LIMIT 10", data::quote_ident(&t.name)))
        })
        .unwrap_or_default();
    let mut ctx = base("/sql/");
    ctx.insert("databases", &schemas);
    ctx.insert("queries", &examples);
    ctx.insert("default_sql", &default_sql);
    out.push((
        "sql/index.html".to_string(),
        finish(renderer.render("sql.html", &ctx, generated)?),
    ));
    for db in dbs {
        for table in &db.schema.tables {
            let url = crate::slug::table_url(&db.name, &table.name);
            let sql = format!(
                "SELECT * FROM {} LIMIT {BAKED_ROWS}",
                data::quote_ident(&table.name)
            );
            let rows = databases
                .run(&db.name, &sql)
                .map_err(|m| Error::msg(format!("table page {url}: {m}")))?;
            let cells: Vec<Vec<CellContext>> = rows
                .rows
                .iter()
                .map(|r| {
                    r.iter()
                        .map(|v| match v {
                            rusqlite::types::Value::Null => CellContext {
                                text: "NULL".into(),
                                class: "null",
                            },
                            rusqlite::types::Value::Integer(i) => CellContext {
                                text: i.to_string(),
                                class: "num",
                            },
                            rusqlite::types::Value::Real(f) => CellContext {
                                text: queries::format_real(*f),
                                class: "num",
                            },
                            rusqlite::types::Value::Text(t) => CellContext {
                                text: t.clone(),
                                class: "",
                            },
                            rusqlite::types::Value::Blob(b) => CellContext {
                                text: format!("({} bytes)", b.len()),
                                class: "",
                            },
                        })
                        .collect()
                })
                .collect();
            let mut ctx = base(&url);
            ctx.insert("database", &db.name);
            ctx.insert("table", table);
            ctx.insert("first_rows", &cells);
            out.push((
                crate::slug::table_output(&db.name, &table.name),
                finish(renderer.render("table.html", &ctx, generated)?),
            ));
        }
    }
    Ok(out)
}

/// The bytes of `ranges` of the file at `path`, concatenated.
fn read_ranges(path: &Path, ranges: &[wasm_query::manifest::ByteRange]) -> Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, "open", e))?;
    let mut out = vec![0u8; ranges.iter().map(|r| r.length as usize).sum()];
    let mut at = 0;
    for r in ranges {
        file.seek(SeekFrom::Start(r.offset))
            .map_err(|e| Error::io(path, "read", e))?;
        file.read_exact(&mut out[at..at + r.length as usize])
            .map_err(|e| Error::io(path, "read", e))?;
        at += r.length as usize;
    }
    Ok(out)
}

fn top_level_entries(dir: &Path) -> Result<Vec<(String, bool)>> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| Error::io(dir, "list", e))? {
        let e = e.map_err(|e| Error::io(dir, "list", e))?;
        v.push((
            e.file_name().to_string_lossy().to_string(),
            e.path().is_dir(),
        ));
    }
    v.sort();
    Ok(v)
}

/// Pages, sections and tags, linked up for the templates.
struct SiteModel<'a> {
    pages: &'a [Page],
    rendered: &'a [Rendered],
    /// Section URL → index of its `_index.md` (if it has one).
    section_page: BTreeMap<String, usize>,
    /// Section URL → member pages (not subsections), sorted.
    members: BTreeMap<String, Vec<usize>>,
    /// Section URL → subsection URLs, sorted.
    subsections: BTreeMap<String, Vec<String>>,
    /// Page index → the URL of the section it belongs to.
    owner: Vec<String>,
    /// Tag slug → (name, pages).
    tags: BTreeMap<String, (String, Vec<usize>)>,
    site_title: String,
    /// Section URL → the URL of its Atom feed, for the sections that have one.
    section_feeds: BTreeMap<String, String>,
    /// Pages each tag page lists (`paginate_tags_by`).
    tags_per_page: usize,
}

#[derive(Serialize)]
struct TagRef {
    name: String,
    url: String,
}

#[derive(Clone, Serialize)]
struct Summary {
    title: String,
    url: String,
    date: Option<String>,
    description: String,
    summary: String,
}

#[derive(Serialize)]
struct PageContext<'a> {
    title: String,
    url: &'a str,
    date: Option<&'a str>,
    description: String,
    tags: Vec<TagRef>,
    content: &'a str,
    toc: &'a [TocEntry],
    word_count: usize,
    reading_time: usize,
    summary: String,
    extra: &'a serde_json::Map<String, serde_json::Value>,
    section: Link,
    pages: Vec<Summary>,
    subsections: Vec<Summary>,
    /// Sections only: the URL of the section's Atom feed, if it has one.
    feed: Option<String>,
    /// Pages only: the page listed just before this one on its section's page (in the
    /// section's `sort_by` order), if any.
    previous: Option<Link>,
    /// Pages only: the page listed just after this one on its section's page, if any.
    next: Option<Link>,
}

/// What a template of a paginated listing (a section with `paginate_by`, a tag page) sees as
/// `paginator`: where this page of the listing stands among the others, and its slice.
#[derive(Serialize)]
struct Paginator {
    /// Number of this page, from 1.
    current: usize,
    /// How many pages the listing has (at least 1).
    total_pages: usize,
    /// Pages listed on each page.
    paginate_by: usize,
    /// URL of the first page: the listing's own URL.
    first: String,
    /// URL of the last page.
    last: String,
    /// URL of the page before this one, if any.
    previous: Option<String>,
    /// URL of the page after this one, if any.
    next: Option<String>,
    /// The pages listed on this page.
    pages: Vec<Summary>,
}

/// URL of page `k` (from 1) of the listing at `url`: the listing's own URL for the first,
/// then `URL/page/2/`, `URL/page/3/` … (there is no `URL/page/1/`).
fn pager_url(url: &str, k: usize) -> String {
    if k <= 1 {
        url.to_string()
    } else {
        format!("{url}page/{k}/")
    }
}

/// Output file of page `k` of the listing at `url`.
fn pager_output(url: &str, k: usize) -> String {
    format!("{}index.html", pager_url(url, k).trim_start_matches('/'))
}

/// Pages a listing of `items` entries, `per_page` to a page, takes: at least one, so an
/// empty listing still has its page.
fn page_count(items: usize, per_page: usize) -> usize {
    items.div_ceil(per_page.max(1)).max(1)
}

impl<'a> SiteModel<'a> {
    fn new(config: &Config, pages: &'a [Page], rendered: &'a [Rendered]) -> SiteModel<'a> {
        let section_page: BTreeMap<String, usize> = pages
            .iter()
            .enumerate()
            .filter(|(_, p)| p.is_section)
            .map(|(i, p)| (p.url.clone(), i))
            .collect();
        // The nearest enclosing section that exists; the home page always does.
        let nearest = |mut url: String| loop {
            if url == "/" || section_page.contains_key(&url) {
                return url;
            }
            let t = url.trim_end_matches('/');
            url = t[..=t.rfind('/').unwrap_or(0)].to_string();
        };
        let mut members: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        let mut subsections: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut owner = vec![String::new(); pages.len()];
        let mut tags: BTreeMap<String, (String, Vec<usize>)> = BTreeMap::new();
        for (i, p) in pages.iter().enumerate() {
            if p.url == "/" {
                owner[i] = "/".into();
                continue;
            }
            let parent = nearest(p.parent.clone());
            owner[i] = parent.clone();
            if p.is_section {
                subsections.entry(parent).or_default().push(p.url.clone());
            } else {
                members.entry(parent).or_default().push(i);
                for t in &p.front.tags {
                    tags.entry(slugify(t))
                        .or_insert_with(|| (t.clone(), vec![]))
                        .1
                        .push(i);
                }
            }
        }
        let mut model = SiteModel {
            pages,
            rendered,
            section_page,
            members,
            subsections,
            owner,
            tags,
            site_title: config.title.clone(),
            section_feeds: BTreeMap::new(),
            tags_per_page: config.paginate_tags_by(),
        };
        model.sort();
        model
    }

    fn sort(&mut self) {
        let pages = self.pages;
        let by_weight = |a: &Page, b: &Page| {
            (a.front.weight.unwrap_or(i64::MAX), title_of(a))
                .cmp(&(b.front.weight.unwrap_or(i64::MAX), title_of(b)))
        };
        for (url, list) in self.members.iter_mut() {
            let sort_by = self
                .section_page
                .get(url)
                .and_then(|&i| pages[i].front.sort_by.clone());
            match sort_by.as_deref() {
                Some("date") => list.sort_by(|&a, &b| {
                    pages[b]
                        .front
                        .date
                        .cmp(&pages[a].front.date)
                        .then(title_of(&pages[a]).cmp(&title_of(&pages[b])))
                }),
                Some("title") => list.sort_by_key(|&i| title_of(&pages[i])),
                _ => list.sort_by(|&a, &b| by_weight(&pages[a], &pages[b])),
            }
        }
        let section_page = &self.section_page;
        for list in self.subsections.values_mut() {
            list.sort_by(|a, b| by_weight(&pages[section_page[a]], &pages[section_page[b]]));
        }
        for (_, list) in self.tags.values_mut() {
            list.sort_by(|&a, &b| {
                pages[b]
                    .front
                    .date
                    .cmp(&pages[a].front.date)
                    .then(title_of(&pages[a]).cmp(&title_of(&pages[b])))
            });
        }
    }

    /// Every output path, with the file that claims it, for the duplicate check.
    fn claims(&self, content: &load::Content) -> Vec<(String, PathBuf)> {
        let generated = PathBuf::from("(generated by bake)");
        let mut v: Vec<(String, PathBuf)> = self
            .pages
            .iter()
            .map(|p| (p.output.clone(), p.display.clone()))
            .collect();
        v.extend(
            content
                .assets
                .iter()
                .map(|a| (a.rel.clone(), PathBuf::from(&a.rel))),
        );
        v.push(("404.html".into(), generated.clone()));
        v.push(("_headers".into(), generated.clone()));
        v.push(("tags/index.html".into(), generated.clone()));
        if !self.section_page.contains_key("/") {
            v.push(("index.html".into(), generated.clone()));
        }
        for slug in self.tags.keys() {
            v.push((format!("tags/{slug}/index.html"), generated.clone()));
        }
        // The further pages of paginated listings, after the content pages: a page written
        // at `SECTION/page/2/` is named as the file the listing's page collides with.
        for (url, &i) in &self.section_page {
            let s = &self.pages[i];
            if let Some(n) = s.front.paginate_by {
                let total = page_count(self.members.get(url).map_or(0, Vec::len), n);
                for k in 2..=total {
                    v.push((
                        pager_output(url, k),
                        PathBuf::from(format!(
                            "{} (page {k} of its listing, paginate_by = {n})",
                            s.display.display()
                        )),
                    ));
                }
            }
        }
        for (slug, (_, pages)) in &self.tags {
            let url = format!("/tags/{slug}/");
            for k in 2..=page_count(pages.len(), self.tags_per_page) {
                v.push((pager_output(&url, k), generated.clone()));
            }
        }
        v
    }

    /// Each page of the listing at `url` of `list`, `per_page` to a page.
    fn paginators(&self, url: &str, list: &[usize], per_page: usize) -> Vec<Paginator> {
        let total = page_count(list.len(), per_page);
        (1..=total)
            .map(|k| Paginator {
                current: k,
                total_pages: total,
                paginate_by: per_page,
                first: pager_url(url, 1),
                last: pager_url(url, total),
                previous: (k > 1).then(|| pager_url(url, k - 1)),
                next: (k < total).then(|| pager_url(url, k + 1)),
                pages: list
                    .iter()
                    .skip((k - 1) * per_page)
                    .take(per_page)
                    .map(|&i| self.summary(i))
                    .collect(),
            })
            .collect()
    }

    /// The pages listed just before and after page `i` on its section's page (the order
    /// [`SiteModel::sort`] gave `members`); none for sections.
    fn neighbours(&self, i: usize) -> (Option<Link>, Option<Link>) {
        if self.pages[i].is_section {
            return (None, None);
        }
        let Some(list) = self.members.get(&self.owner[i]) else {
            return (None, None);
        };
        let Some(pos) = list.iter().position(|&j| j == i) else {
            return (None, None);
        };
        let link = |j: usize| Link {
            title: title_of(&self.pages[j]),
            url: self.pages[j].url.clone(),
        };
        let previous = pos.checked_sub(1).map(|p| link(list[p]));
        let next = list.get(pos + 1).map(|&j| link(j));
        (previous, next)
    }

    fn search_docs(&self) -> Vec<SearchDoc> {
        self.pages
            .iter()
            .zip(self.rendered)
            .enumerate()
            .map(|(i, (p, r))| SearchDoc {
                kind: "page",
                title: title_of(p),
                headings: r
                    .toc
                    .iter()
                    .map(|h| h.title.as_str())
                    .collect::<Vec<_>>()
                    .join("\n"),
                body: r.text.clone(),
                sections: r
                    .toc
                    .iter()
                    .zip(&r.section_starts)
                    .map(|(h, &offset)| search::SectionMark {
                        offset,
                        anchor: h.id.clone(),
                        title: h.title.clone(),
                    })
                    .collect(),
                url: p.url.clone(),
                section: self.owner[i].clone(),
                tags: p.front.tags.clone(),
            })
            .collect()
    }

    fn nav(&self) -> Vec<Link> {
        self.subsections
            .get("/")
            .map(|subs| subs.iter().map(|u| self.link(u)).collect())
            .unwrap_or_default()
    }

    fn link(&self, section_url: &str) -> Link {
        match self.section_page.get(section_url) {
            Some(&i) => Link {
                title: title_of(&self.pages[i]),
                url: section_url.to_string(),
            },
            None => Link {
                title: self.site_title.clone(),
                url: section_url.to_string(),
            },
        }
    }

    fn tag_links(&self) -> Vec<TagLink> {
        self.tags
            .iter()
            .map(|(slug, (name, pages))| TagLink {
                name: name.clone(),
                url: format!("/tags/{slug}/"),
                count: pages.len(),
            })
            .collect()
    }

    fn summary(&self, i: usize) -> Summary {
        let p = &self.pages[i];
        Summary {
            title: title_of(p),
            url: p.url.clone(),
            date: p.front.date.clone(),
            description: p.front.description.clone().unwrap_or_default(),
            summary: p
                .front
                .description
                .clone()
                .unwrap_or_else(|| excerpt(&self.rendered[i].text, 200)),
        }
    }

    fn page_context(&self, i: usize) -> PageContext<'_> {
        let p = &self.pages[i];
        let r = &self.rendered[i];
        let words = r.text.split_whitespace().count();
        let (previous, next) = self.neighbours(i);
        PageContext {
            title: title_of(p),
            url: &p.url,
            date: p.front.date.as_deref(),
            description: p.front.description.clone().unwrap_or_default(),
            tags: p
                .front
                .tags
                .iter()
                .map(|t| TagRef {
                    name: t.clone(),
                    url: format!("/tags/{}/", slugify(t)),
                })
                .collect(),
            content: &r.html,
            toc: &r.toc,
            word_count: words,
            reading_time: words.div_ceil(200).max(1),
            summary: p
                .front
                .description
                .clone()
                .unwrap_or_else(|| excerpt(&r.text, 200)),
            extra: &p.front.extra,
            section: self.link(&self.owner[i]),
            pages: self
                .members
                .get(&p.url)
                .filter(|_| p.is_section)
                .map(|m| m.iter().map(|&j| self.summary(j)).collect())
                .unwrap_or_default(),
            subsections: self
                .subsections
                .get(&p.url)
                .filter(|_| p.is_section)
                .map(|s| {
                    s.iter()
                        .map(|u| self.summary(self.section_page[u]))
                        .collect()
                })
                .unwrap_or_default(),
            feed: self
                .section_feeds
                .get(&p.url)
                .filter(|_| p.is_section)
                .cloned(),
            previous,
            next,
        }
    }

    /// The site's Atom feeds (none without `base_url`): its dated pages, as the feeds see
    /// them, and its sections.
    fn feeds(&self, config: &Config) -> Vec<feeds::Feed> {
        if config.base_url.is_none() {
            return Vec::new();
        }
        let pages: Vec<feeds::FeedPage> = self
            .pages
            .iter()
            .zip(self.rendered)
            .filter(|(p, _)| !p.is_section)
            .filter_map(|(p, r)| {
                let published = feeds::Stamp::parse(p.front.date.as_deref()?)?;
                let updated = p
                    .front
                    .updated
                    .as_deref()
                    .and_then(feeds::Stamp::parse)
                    .unwrap_or_else(|| published.clone());
                let summary = match p.front.description.as_deref().map(str::trim) {
                    Some(d) if !d.is_empty() => d.to_string(),
                    _ => feeds::first_paragraph(&r.html)
                        .map(|t| excerpt(&t, 500))
                        .unwrap_or_else(|| excerpt(&r.text, 200)),
                };
                Some(feeds::FeedPage {
                    url: p.url.clone(),
                    title: title_of(p),
                    summary,
                    published,
                    updated,
                })
            })
            .collect();
        let sections: Vec<feeds::FeedSection> = self
            .section_page
            .iter()
            .map(|(url, &i)| feeds::FeedSection {
                url: url.clone(),
                title: title_of(&self.pages[i]),
                description: self.pages[i].front.description.clone().unwrap_or_default(),
            })
            .collect();
        feeds::plan(&config.title, &config.description, &sections, &pages)
    }

    /// Output path → `updated`, else `date`, of each page that has one (the sitemap's
    /// `<lastmod>`).
    fn lastmod(&self) -> BTreeMap<&str, feeds::Stamp> {
        self.pages
            .iter()
            .filter_map(|p| {
                let date = p.front.updated.as_deref().or(p.front.date.as_deref())?;
                Some((p.output.as_str(), feeds::Stamp::parse(date)?))
            })
            .collect()
    }

    /// Renders every page, the tag pages and the 404 page; returns (output path, HTML).
    fn render_all(
        &self,
        config: &Config,
        renderer: &Renderer,
        site: &SiteContext,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        let base = {
            let mut ctx = Context::new();
            ctx.insert("config", &ConfigContext::from(config));
            ctx.insert("site", site);
            ctx
        };
        let finish = |html: String| {
            if config.build.minify {
                emit::minify(&html)
            } else {
                html.into_bytes()
            }
        };
        for (i, p) in self.pages.iter().enumerate() {
            if let Some(t) = &p.front.template
                && !renderer.has(t)
            {
                return Err(Error::at(
                    &p.display,
                    front_matter_line(config, p, "template"),
                    format!("template `{t}` does not exist"),
                )
                .hint(format!(
                    "put {t} in {}/ or use one of the theme's: page.html, section.html, index.html",
                    config.build.templates.display()
                )));
            }
            debug_assert!(i < self.rendered.len());
        }
        let per_page: Vec<Vec<(String, Vec<u8>)>> = self
            .pages
            .par_iter()
            .enumerate()
            .map(|(i, p)| {
                let mut pc = self.page_context(i);
                let default = if p.url == "/" {
                    "index.html"
                } else if p.is_section {
                    "section.html"
                } else {
                    "page.html"
                };
                let template = p.front.template.as_deref().unwrap_or(default);
                if !p.is_section {
                    let mut ctx = base.clone();
                    ctx.insert("current_url", &p.url);
                    ctx.insert("page", &pc);
                    let html = renderer.render(template, &ctx, &p.display)?;
                    return Ok(vec![(p.output.clone(), finish(html))]);
                }
                let Some(n) = p.front.paginate_by else {
                    let mut ctx = base.clone();
                    ctx.insert("current_url", &p.url);
                    ctx.insert("section", &pc);
                    ctx.insert("paginator", &None::<Paginator>);
                    let html = renderer.render(template, &ctx, &p.display)?;
                    return Ok(vec![(p.output.clone(), finish(html))]);
                };
                // A paginated section: one page per slice of its listing, each seeing the
                // slice as `section.pages` and `paginator.pages`.
                let list = self.members.get(&p.url).map_or(&[][..], Vec::as_slice);
                let mut written = Vec::new();
                for pager in self.paginators(&p.url, list, n) {
                    let k = pager.current;
                    let mut ctx = base.clone();
                    ctx.insert("current_url", &pager_url(&p.url, k));
                    pc.pages = pager.pages.clone();
                    ctx.insert("section", &pc);
                    ctx.insert("paginator", &pager);
                    let html = renderer.render(template, &ctx, &p.display)?;
                    let output = if k == 1 {
                        p.output.clone()
                    } else {
                        pager_output(&p.url, k)
                    };
                    written.push((output, finish(html)));
                }
                Ok(written)
            })
            .collect::<Result<_>>()?;
        let mut out: Vec<(String, Vec<u8>)> = per_page.into_iter().flatten().collect();
        let generated = Path::new("(generated page)");
        if !self.section_page.contains_key("/") {
            let mut ctx = base.clone();
            ctx.insert("current_url", "/");
            let subsections: Vec<Summary> = self
                .subsections
                .get("/")
                .map(|s| {
                    s.iter()
                        .map(|u| self.summary(self.section_page[u]))
                        .collect()
                })
                .unwrap_or_default();
            let pages: Vec<Summary> = self
                .members
                .get("/")
                .map(|m| m.iter().map(|&j| self.summary(j)).collect())
                .unwrap_or_default();
            ctx.insert(
                "section",
                &serde_json::json!({"title": config.title, "url": "/", "description": config.description, "content": "", "pages": pages, "subsections": subsections}),
            );
            ctx.insert("paginator", &None::<Paginator>);
            out.push((
                "index.html".into(),
                finish(renderer.render("index.html", &ctx, generated)?),
            ));
        }
        for (slug, (name, pages)) in &self.tags {
            let url = format!("/tags/{slug}/");
            for pager in self.paginators(&url, pages, self.tags_per_page) {
                let mut ctx = base.clone();
                ctx.insert("current_url", &pager_url(&url, pager.current));
                ctx.insert(
                    "tag",
                    &serde_json::json!({"name": name, "slug": slug, "url": url, "count": pages.len(), "pages": pager.pages}),
                );
                ctx.insert("paginator", &pager);
                out.push((
                    pager_output(&url, pager.current),
                    finish(renderer.render("tag.html", &ctx, generated)?),
                ));
            }
        }
        let mut ctx = base.clone();
        ctx.insert("current_url", "/tags/");
        out.push((
            "tags/index.html".into(),
            finish(renderer.render("tags.html", &ctx, generated)?),
        ));
        let mut ctx = base;
        ctx.insert("current_url", "/404.html");
        out.push((
            "404.html".into(),
            finish(renderer.render("404.html", &ctx, generated)?),
        ));
        Ok(out)
    }
}

pub(crate) fn title_of(p: &Page) -> String {
    p.front.title.clone().unwrap_or_else(|| {
        let stem = p
            .rel
            .trim_end_matches(".md")
            .rsplit('/')
            .find(|s| *s != "_index" && *s != "index")
            .unwrap_or("Home");
        let words = stem.replace(['-', '_'], " ");
        let mut c = words.chars();
        c.next()
            .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
            .unwrap_or_default()
    })
}

/// The first `max` characters of `text`, cut at a word boundary.
fn excerpt(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max).collect();
    let cut = cut.rsplit_once(' ').map(|(a, _)| a).unwrap_or(&cut);
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Host;

    #[test]
    fn counts_read_as_english() {
        assert_eq!(count(1, "database"), "1 database");
        assert_eq!(count(0, "row"), "0 rows");
        assert_eq!(count(336_776, "row"), "336,776 rows");
        assert_eq!(count(1_000, "page"), "1,000 pages");
        assert_eq!(count(999, "page"), "999 pages");
        assert_eq!(count(2, "canned query"), "2 canned queries");
        assert_eq!(count(1, "canned query"), "1 canned query");
    }

    #[test]
    fn cloudflare_file_limit() {
        assert!(check_file_count(Host::Cloudflare, 20_000).is_ok());
        let e = check_file_count(Host::Cloudflare, 20_001).unwrap_err();
        assert!(e.to_string().contains("at most 20000"), "{e}");
        assert!(check_file_count(Host::Netlify, 1_000_000).is_ok());
    }

    #[test]
    fn excerpts_cut_at_words() {
        assert_eq!(excerpt("short", 10), "short");
        assert_eq!(excerpt("one two three four", 9), "one two…");
    }
}
