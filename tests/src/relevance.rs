//! Search relevance on the demo site (issue 11, "search that forgives typos"): found@5 of
//! the queries in tests/fixtures/search_relevance.toml — one list with one typo in each
//! query, one spelled right — run natively through the browser's own search code
//! (wasm-query over the built site's files, as [`crate::query_bench`] does).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use wasm_query::engine::{Engine, EngineConfig, SharedEngine, shared};
use wasm_query::fetch::{DirFetch, Fetch};
use wasm_query::manifest::Manifest;
use wasm_query::search::{SearchOptions, SearchSession};

/// How many hits count: the expected page must be among the first `TOP` hits.
pub const TOP: usize = 5;

/// The fixture's path relative to the repository root (as the bench prints it).
pub const FIXTURE: &str = "tests/fixtures/search_relevance.toml";

/// tests/fixtures/search_relevance.toml: the two lists of queries.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelevanceFile {
    /// Queries with exactly one one-edit typo in one word.
    pub typo: Vec<RelevanceCase>,
    /// Queries spelled right.
    pub exact: Vec<RelevanceCase>,
}

/// One query and the page the reader means by it.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelevanceCase {
    /// What the reader types.
    pub query: String,
    /// The URL of the page (or data row) the reader means, e.g. `/caching/validators/`.
    pub expect: String,
    /// Why this page, or what the typo is; free text.
    #[serde(default)]
    pub note: Option<String>,
}

impl RelevanceFile {
    /// Every case of both lists.
    pub fn all(&self) -> impl Iterator<Item = &RelevanceCase> {
        self.typo.iter().chain(&self.exact)
    }
}

/// A query whose expected URL was not among the first [`TOP`] hits.
#[derive(Debug, Clone)]
pub struct Miss {
    /// The query.
    pub query: String,
    /// The URL expected.
    pub expect: String,
    /// The URLs of the hits the search gave, best first (at most [`TOP`]).
    pub got: Vec<String>,
    /// How many documents matched in all.
    pub total: usize,
}

/// found@[`TOP`] of one list, with its misses and what the queries cost cold.
#[derive(Debug, Clone, Default)]
pub struct ListScore {
    /// Queries whose expected URL was among the first [`TOP`] hits.
    pub found: usize,
    /// Queries in the list.
    pub total: usize,
    /// The other queries.
    pub misses: Vec<Miss>,
    /// HTTP requests of all the queries, each on a fresh engine (opening the index included).
    pub cold_requests: u64,
    /// Body bytes of all the queries, each on a fresh engine (opening the index included).
    pub cold_bytes: u64,
}

impl ListScore {
    /// The share of queries found, in percent (100 for an empty list).
    pub fn percent(&self) -> f64 {
        if self.total == 0 {
            100.0
        } else {
            100.0 * self.found as f64 / self.total as f64
        }
    }

    /// Average cold requests per query.
    pub fn requests_per_query(&self) -> f64 {
        self.cold_requests as f64 / self.total.max(1) as f64
    }

    /// Average cold body bytes per query.
    pub fn bytes_per_query(&self) -> f64 {
        self.cold_bytes as f64 / self.total.max(1) as f64
    }

    /// The misses, one a line: `query → expected; got: urls (total N)`.
    pub fn misses_text(&self) -> String {
        let mut out = String::new();
        for m in &self.misses {
            let _ = writeln!(
                out,
                "    {:?} → {}; got: {} ({} match)",
                m.query,
                m.expect,
                if m.got.is_empty() {
                    "nothing".to_string()
                } else {
                    m.got.join(" ")
                },
                m.total
            );
        }
        out
    }
}

/// found@[`TOP`] of both lists of the fixture on one built site.
#[derive(Debug, Clone)]
pub struct Relevance {
    /// The queries with a typo.
    pub typo: ListScore,
    /// The queries spelled right.
    pub exact: ListScore,
}

impl Relevance {
    /// The summary line the query bench prints, then the misses of each list.
    pub fn report(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "search relevance ({FIXTURE}): typo found@{TOP} {:.1} % ({}/{}), spelled-right found@{TOP} {:.1} % ({}/{})",
            self.typo.percent(),
            self.typo.found,
            self.typo.total,
            self.exact.percent(),
            self.exact.found,
            self.exact.total
        );
        let _ = writeln!(
            out,
            "  cold cost per query (fresh engine, index opened): typo {:.1} req {:.1} kB, spelled-right {:.1} req {:.1} kB",
            self.typo.requests_per_query(),
            self.typo.bytes_per_query() / 1000.0,
            self.exact.requests_per_query(),
            self.exact.bytes_per_query() / 1000.0
        );
        for (name, list) in [("typo", &self.typo), ("spelled-right", &self.exact)] {
            if !list.misses.is_empty() {
                let _ = writeln!(out, "  {name} misses ({}):", list.misses.len());
                out.push_str(&list.misses_text());
            }
        }
        out
    }
}

/// The fixture's absolute path.
pub fn fixture_path() -> PathBuf {
    crate::repo_root().join(FIXTURE)
}

/// Reads and parses the relevance fixture at `path`.
pub fn load(path: &Path) -> Result<RelevanceFile> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("{}", path.display()))
}

/// The data manifest a built `site` links from its home page.
pub fn manifest(site: &Path) -> Result<Manifest> {
    let index = std::fs::read_to_string(site.join("index.html"))
        .with_context(|| format!("{}/index.html", site.display()))?;
    let at = index
        .find("/_assets/manifest.")
        .context("no manifest link in index.html")?;
    let end = at
        + index[at..]
            .find(".json")
            .context("no manifest link in index.html")?
        + 5;
    let path = site.join(&index[at + 1..end]);
    let text = std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
    Manifest::from_json(&text).map_err(anyhow::Error::msg)
}

fn engine(site: &Path, m: &Manifest) -> SharedEngine {
    let fetch: Box<dyn Fetch + Send> = Box::new(DirFetch::new(site));
    shared(Engine::new(fetch, m, EngineConfig::default()))
}

/// Runs every case of `cases` on a fresh engine (cold) with the default options and a limit
/// of [`TOP`].
fn score(site: &Path, m: &Manifest, cases: &[RelevanceCase]) -> Result<ListScore> {
    let opts = SearchOptions {
        limit: TOP,
        ..Default::default()
    };
    let mut s = ListScore {
        total: cases.len(),
        ..Default::default()
    };
    for case in cases {
        let e = engine(site, m);
        e.lock().expect("engine").begin_query(None);
        let session = SearchSession::open(e.clone(), m).map_err(anyhow::Error::msg)?;
        let r = session
            .search(&case.query, &opts)
            .map_err(|err| anyhow::anyhow!("{:?}: {err}", case.query))?;
        let stats = e.lock().expect("engine").query_stats();
        s.cold_requests += stats.requests;
        s.cold_bytes += stats.bytes;
        let got: Vec<String> = r.hits.iter().take(TOP).map(|h| h.url.clone()).collect();
        if got.contains(&case.expect) {
            s.found += 1;
        } else {
            s.misses.push(Miss {
                query: case.query.clone(),
                expect: case.expect.clone(),
                got,
                total: r.total,
            });
        }
    }
    Ok(s)
}

/// found@[`TOP`] of both lists of `file` on the built `site`.
pub fn measure(site: &Path, file: &RelevanceFile) -> Result<Relevance> {
    let m = manifest(site)?;
    Ok(Relevance {
        typo: score(site, &m, &file.typo)?,
        exact: score(site, &m, &file.exact)?,
    })
}

/// found@[`TOP`] of the repository's fixture ([`FIXTURE`]) on the built `site`.
pub fn run(site: &Path) -> Result<Relevance> {
    measure(site, &load(&fixture_path())?)
}
