//! The ad-hoc query suite of `bench --only query` (issue 10, "No performance cliffs").
//!
//! Queries of the kinds people write (tests/fixtures/bench_queries.toml), each run cold — a
//! fresh engine, so the session's hot sidecars are fetched too — through wasm-query's own
//! engine and SQL session over the built site's files, with a fetcher ([`ModelFetch`]) that
//! serves ranges like a Range-honouring host and logs every request. Per query it prints
//! requests, round trips, bytes, ms at 0 (measured) and at 50 ms + 20 Mbit/s per request, and
//! the *bound*: the requests a sequential read of the B-trees the query touched would take
//! (see [`Bound`]), and whether the query stayed within it. Every answer is checked against
//! native rusqlite on the database reassembled from its parts.
//!
//! Nothing here reads engine internals: the read-ahead cap comes from
//! `EngineConfig::default()` at run time, page ownership from SQLite's `dbstat` on the
//! reassembled file, part boundaries and hot ranges from the manifest.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use rusqlite::{Connection, OpenFlags};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use wasm_query::engine::{Engine, EngineConfig, shared};
use wasm_query::fetch::{DirFetch, Fetch, NetworkError, Request, Response};
use wasm_query::manifest::{LogicalFile, Manifest};
use wasm_query::search::{SearchOptions, SearchSession};
use wasm_query::sql::{QueryResult, SqlSession, to_json};

/// Latency added to every request by the modelled network.
pub const RTT_MS: f64 = 50.0;
/// Bandwidth of the modelled network: 20 Mbit/s = 2.5 MB/s = 2,500 bytes per ms.
pub const BYTES_PER_MS: f64 = 2_500.0;

/// Version of the generated big site's recipe: bump to rebuild every cached copy.
const BIG_RECIPE: &str = "big-v1";

/// The query suite's options (from the bench's command line).
#[derive(Debug, Clone)]
pub struct Options {
    /// Also write the suite's table as JSON here.
    pub json: Option<PathBuf>,
    /// Folder keeping the generated big site between runs.
    pub cache: Option<PathBuf>,
    /// Rows of the generated big table.
    pub big_rows: u64,
    /// Really sleep the modelled time per request instead of adding it up.
    pub sleep: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            json: None,
            cache: None,
            big_rows: 3_000_000,
            sleep: false,
        }
    }
}

/// Milliseconds one request of `bytes` takes on the modelled network.
pub fn modelled_ms(bytes: u64) -> f64 {
    RTT_MS + bytes as f64 / BYTES_PER_MS
}

/// One request as the fetcher saw it.
#[derive(Debug, Clone)]
pub struct Logged {
    /// Part URL.
    pub url: String,
    /// First byte asked for, relative to the part (0 for a whole part).
    pub offset: u64,
    /// Body bytes returned.
    pub bytes: u64,
}

/// Serves a built site folder like a Range-honouring host (ranges read with `pread`, whole
/// parts by [`DirFetch`]), logs every request and, with `sleep`, sleeps each request's
/// modelled time (50 ms + bytes at 20 Mbit/s).
pub struct ModelFetch {
    root: PathBuf,
    whole: DirFetch,
    sleep: bool,
    log: Arc<Mutex<Vec<Logged>>>,
}

impl ModelFetch {
    /// A fetcher over `root` whose requests go to `log`.
    pub fn new(root: &Path, sleep: bool, log: Arc<Mutex<Vec<Logged>>>) -> ModelFetch {
        ModelFetch {
            root: root.to_path_buf(),
            whole: DirFetch::new(root),
            sleep,
            log,
        }
    }

    fn range(&self, req: &Request) -> Option<Response> {
        let r = req.range?;
        let rel = req.url.trim_start_matches('/');
        if rel.split('/').any(|c| c == "..") {
            return None;
        }
        let f = std::fs::File::open(self.root.join(rel)).ok()?;
        let total = f.metadata().ok()?.len();
        if r.offset >= total || r.length == 0 {
            return None;
        }
        let end = (r.offset + r.length).min(total);
        let mut body = vec![0u8; (end - r.offset) as usize];
        f.read_exact_at(&mut body, r.offset).ok()?;
        Some(Response {
            status: 206,
            content_range: Some(format!("bytes {}-{}/{total}", r.offset, end - 1)),
            etag: Some(format!("\"{total}\"")),
            body,
            ..Response::default()
        })
    }
}

impl Fetch for ModelFetch {
    fn fetch(&self, req: &Request) -> Result<Response, NetworkError> {
        // Anything unusual (404, 416, a whole part) is answered by DirFetch itself.
        let resp = match self.range(req) {
            Some(r) => r,
            None => self.whole.fetch(req)?,
        };
        let bytes = resp.body.len() as u64;
        self.log.lock().expect("log").push(Logged {
            url: req.url.clone(),
            offset: req.range.map_or(0, |r| r.offset),
            bytes,
        });
        if self.sleep {
            std::thread::sleep(Duration::from_secs_f64(modelled_ms(bytes) / 1000.0));
        }
        Ok(resp)
    }
}

/// One query of the suite, as tests/fixtures/bench_queries.toml lists it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct QuerySpec {
    name: String,
    /// `demo` or `big`.
    site: String,
    db: String,
    kind: String,
    sql: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryFile {
    query: Vec<QuerySpec>,
}

/// One measured row of the table (also the JSON).
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Query name.
    pub name: String,
    /// `demo` or `big`.
    pub site: String,
    /// Kind of query.
    pub kind: String,
    /// The SQL.
    pub sql: String,
    /// Rows of the answer.
    pub rows: usize,
    /// HTTP requests (engine stats).
    pub requests: u64,
    /// Sequential round trips (engine stats).
    pub round_trips: u64,
    /// Body bytes.
    pub bytes: u64,
    /// Wall ms with no network delay (native, this build profile).
    pub ms_0: f64,
    /// ms at 50 ms per request + 20 Mbit/s.
    pub ms_50: f64,
    /// Whether `ms_50` was measured with real sleeps (else ms_0 + Σ modelled per request).
    pub ms_50_slept: bool,
    /// Requests of a sequential read of the touched B-trees + the hot sidecars.
    pub bound: u64,
    /// `requests <= bound`.
    pub within: bool,
    /// B-trees touched, `db.name`.
    pub touched: Vec<String>,
}

/// Which B-tree each page of a database belongs to (from `dbstat`).
struct DbMap {
    /// The logical file's name in the manifest.
    file: String,
    page_size: u64,
    /// `owner[page - 1]`: index into `names`.
    owner: Vec<u32>,
    names: Vec<String>,
    /// Pages of each B-tree, ascending.
    pages: Vec<Vec<u64>>,
    /// Reassembled copy of the database, for the native answer.
    path: PathBuf,
}

/// A site: its manifest and, per database name, the page map.
struct Site {
    root: PathBuf,
    manifest: Manifest,
    dbs: BTreeMap<String, DbMap>,
    /// Part URL → (logical file, offset of the part in it).
    urls: HashMap<String, (String, u64)>,
}

/// Reads the site's manifest (`_assets/manifest.*.json`).
pub fn read_manifest(site: &Path) -> Result<Manifest> {
    let assets = site.join("_assets");
    for e in std::fs::read_dir(&assets).with_context(|| format!("{}", assets.display()))? {
        let p = e?.path();
        let name = p.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with("manifest.") && name.ends_with(".json") {
            return Manifest::from_json(&std::fs::read_to_string(&p)?).map_err(anyhow::Error::msg);
        }
    }
    bail!("no manifest in {}", assets.display())
}

impl Site {
    /// Loads `root`'s manifest and maps every database's pages (reassembled into `work`).
    fn open(root: &Path, work: &Path) -> Result<Site> {
        let manifest = read_manifest(root)?;
        let mut urls = HashMap::new();
        for (name, f) in &manifest.files {
            for p in &f.parts {
                urls.insert(p.url.clone(), (name.clone(), p.offset));
            }
        }
        std::fs::create_dir_all(work)?;
        let mut dbs = BTreeMap::new();
        for (name, db) in &manifest.databases {
            let lf = &manifest.files[&db.file];
            let path = work.join(format!(
                "{name}.{}.sqlite",
                &lf.hash[..16.min(lf.hash.len())]
            ));
            if !path.exists() {
                let tmp = path.with_extension("partial");
                let mut out = std::fs::File::create(&tmp)?;
                for p in &lf.parts {
                    let bytes = std::fs::read(root.join(p.url.trim_start_matches('/')))
                        .with_context(|| format!("part {}", p.url))?;
                    ensure!(
                        bytes.len() as u64 == p.length,
                        "part {} has the wrong length",
                        p.url
                    );
                    out.write_all(&bytes)?;
                }
                out.sync_all()?;
                std::fs::rename(&tmp, &path)?;
            }
            dbs.insert(
                name.clone(),
                page_map(&path, &db.file, u64::from(db.page_size))?,
            );
        }
        Ok(Site {
            root: root.to_path_buf(),
            manifest,
            dbs,
            urls,
        })
    }
}

/// The B-tree of every page of the database at `path`, from `dbstat`.
fn page_map(path: &Path, file: &str, page_size: u64) -> Result<DbMap> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let pages = u64::try_from(pages)?;
    let mut stmt = conn
        .prepare("SELECT name, pageno FROM dbstat")
        .context("this SQLite has no dbstat virtual table (SQLITE_ENABLE_DBSTAT_VTAB)")?;
    let mut names: Vec<String> = Vec::new();
    let mut ids: HashMap<String, u32> = HashMap::new();
    let mut owner = vec![u32::MAX; pages as usize];
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let name: String = r.get(0)?;
        let page: i64 = r.get(1)?;
        let page = u64::try_from(page)?.max(1);
        let id = *ids.entry(name.clone()).or_insert_with(|| {
            names.push(name);
            names.len() as u32 - 1
        });
        if let Some(o) = owner.get_mut(page as usize - 1) {
            *o = id;
        }
    }
    // Pages no B-tree owns (free list, pointer maps): a name of their own.
    if owner.contains(&u32::MAX) {
        names.push("(free)".into());
        let id = names.len() as u32 - 1;
        for o in owner.iter_mut().filter(|o| **o == u32::MAX) {
            *o = id;
        }
    }
    let mut by_tree = vec![Vec::new(); names.len()];
    for (i, o) in owner.iter().enumerate() {
        by_tree[*o as usize].push(i as u64 + 1);
    }
    Ok(DbMap {
        file: file.to_string(),
        page_size,
        owner,
        names,
        pages: by_tree,
        path: path.to_path_buf(),
    })
}

/// Requests of reading `blocks` (ascending) of `lf` sequentially, with the read-ahead
/// policy the brief states: in each run of consecutive blocks the requests grow 1, 2, 4, …
/// blocks up to `cap`, and a request that crosses a part boundary is one per part.
pub fn sequential_requests(lf: &LogicalFile, blocks: &[u64], cap: u64) -> u64 {
    let bs = u64::from(lf.block_size.max(1));
    let parts_touched = |a: u64, b: u64| -> u64 {
        let (start, end) = (a * bs, ((b + 1) * bs).min(lf.size));
        lf.parts
            .iter()
            .filter(|p| p.offset < end && p.offset + p.length > start)
            .count()
            .max(1) as u64
    };
    let mut n = 0;
    let mut i = 0;
    while i < blocks.len() {
        let mut j = i;
        while j + 1 < blocks.len() && blocks[j + 1] == blocks[j] + 1 {
            j += 1;
        }
        // One run blocks[i..=j].
        let (mut at, end) = (blocks[i], blocks[j]);
        let mut size = 1u64;
        while at <= end {
            let last = (at + size - 1).min(end);
            n += parts_touched(at, last);
            at = last + 1;
            size = (size * 2).min(cap.max(1));
        }
        i = j + 1;
    }
    n
}

/// Blocks of `lf` holding pages `pages` (1-based, ascending) of size `page_size`.
fn blocks_of(lf: &LogicalFile, pages: &[u64], page_size: u64) -> Vec<u64> {
    let bs = u64::from(lf.block_size.max(1));
    let mut out: Vec<u64> = pages
        .iter()
        .flat_map(|p| {
            let start = (p - 1) * page_size;
            start / bs..=(start + page_size - 1) / bs
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Requests the hot preload of `file` takes: one per part of its sidecar `FILE.hot`, or,
/// without one, a sequential read of its hot blocks.
fn hot_requests(m: &Manifest, file: &str) -> u64 {
    let Some(lf) = m.files.get(file) else {
        return 0;
    };
    if lf.hot.is_empty() {
        return 0;
    }
    if let Some(side) = m.files.get(&format!("{file}.hot")) {
        return side.parts.len() as u64;
    }
    let bs = u64::from(lf.block_size.max(1));
    let mut blocks: Vec<u64> = lf
        .hot
        .iter()
        .filter(|r| r.length > 0)
        .flat_map(|r| r.offset / bs..=(r.offset + r.length - 1) / bs)
        .collect();
    blocks.sort_unstable();
    blocks.dedup();
    // Preloads are fetched run by run, without read-ahead growth limits: one per run/part.
    sequential_requests(lf, &blocks, u64::MAX)
}

/// The bound of one query: hot preloads of every database (the session preloads them all)
/// plus a sequential read of each B-tree a request started in (the first page of a request
/// is one SQLite asked for; the rest may be read-ahead into a neighbour).
struct Bound {
    requests: u64,
    touched: Vec<String>,
}

fn bound(site: &Site, log: &[Logged], cap: u64) -> Bound {
    let m = &site.manifest;
    let mut requests: u64 = site.dbs.values().map(|d| hot_requests(m, &d.file)).sum();
    let mut touched: BTreeSet<(String, u32)> = BTreeSet::new();
    for l in log {
        let Some((file, part_offset)) = site.urls.get(&l.url) else {
            continue;
        };
        let Some((db_name, db)) = site.dbs.iter().find(|(_, d)| &d.file == file) else {
            continue; // a sidecar or the search pack
        };
        let page = (part_offset + l.offset) / db.page_size + 1;
        if let Some(o) = db.owner.get(page as usize - 1) {
            touched.insert((db_name.clone(), *o));
        }
    }
    for (db_name, id) in &touched {
        let db = &site.dbs[db_name];
        let lf = &m.files[&db.file];
        let blocks = blocks_of(lf, &db.pages[*id as usize], db.page_size);
        requests += sequential_requests(lf, &blocks, cap);
    }
    Bound {
        requests,
        touched: touched
            .iter()
            .map(|(d, id)| format!("{d}.{}", site.dbs[d].names[*id as usize]))
            .collect(),
    }
}

/// Prints every request of a query with the B-tree its first page belongs to (set
/// `BAKE_BENCH_TRACE` to parts of query names, `|` between them): to see why a query costs
/// what it does.
fn trace(site: &Site, name: &str, log: &[Logged]) {
    eprintln!("trace of `{name}`: request, part, offset in the part, bytes, first page, B-tree");
    for (i, l) in log.iter().enumerate() {
        let place = site.urls.get(&l.url).and_then(|(file, part_offset)| {
            let (db_name, db) = site.dbs.iter().find(|(_, d)| &d.file == file)?;
            let page = (part_offset + l.offset) / db.page_size + 1;
            let tree = db
                .owner
                .get(page as usize - 1)
                .map(|o| &db.names[*o as usize]);
            Some(format!(
                "page {page} {db_name}.{}",
                tree.map_or("?", |t| t.as_str())
            ))
        });
        let part = l.url.rsplit('/').next().unwrap_or(&l.url);
        let place = place.unwrap_or_else(|| "(sidecar or index)".into());
        eprintln!("  {i:4} {part} +{} {} B {place}", l.offset, l.bytes);
    }
}

/// What one cold run gave.
struct Run {
    result: QueryResult,
    requests: u64,
    round_trips: u64,
    bytes: u64,
    wall_ms: f64,
    modelled_ms: f64,
    log: Vec<Logged>,
}

/// Runs `sql` on `db` cold: fresh engine, session opened inside the query's counters.
fn run_sql(site: &Site, db: &str, sql: &str, sleep: bool) -> Result<Run> {
    let log = Arc::new(Mutex::new(Vec::new()));
    let fetch: Box<dyn Fetch + Send> = Box::new(ModelFetch::new(&site.root, sleep, log.clone()));
    let e = shared(Engine::new(fetch, &site.manifest, EngineConfig::default()));
    let t = Instant::now();
    e.lock().expect("engine").begin_query(None);
    let mut s = SqlSession::open(e.clone(), &site.manifest).map_err(anyhow::Error::msg)?;
    let result = s
        .query(db, sql, &Value::Null, 100_000)
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let wall_ms = t.elapsed().as_secs_f64() * 1000.0;
    let stats = e.lock().expect("engine").query_stats();
    drop(s);
    let log = std::mem::take(&mut *log.lock().expect("log"));
    let modelled_ms = log.iter().map(|l| modelled_ms(l.bytes)).sum();
    Ok(Run {
        result,
        requests: stats.requests,
        round_trips: stats.round_trips,
        bytes: stats.bytes,
        wall_ms,
        modelled_ms,
        log,
    })
}

/// The answer of native rusqlite on the reassembled files, as JSON values like the session's.
fn native(site: &Site, db: &str, sql: &str) -> Result<(Vec<String>, Vec<Vec<Value>>)> {
    let main = &site.dbs[db];
    let conn = Connection::open_with_flags(&main.path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    for (name, other) in &site.dbs {
        if name != db {
            conn.execute(
                &format!("ATTACH DATABASE ?1 AS \"{}\"", name.replace('"', "\"\"")),
                [other.path.to_string_lossy()],
            )?;
        }
    }
    let mut stmt = conn.prepare(sql)?;
    let columns: Vec<String> = stmt.column_names().map(str::to_string).collect();
    let n = columns.len();
    let mut rows = Vec::new();
    let mut q = stmt.query([])?;
    while let Some(r) = q.next()? {
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            out.push(to_json(r.get_ref(i)?));
        }
        rows.push(out);
    }
    Ok((columns, rows))
}

/// Builds (once; kept in `cache`) the site of the generated big table: `rows` rows of the
/// bench's CSV, 4 KiB pages, indexes on `user_id` and `city`. Returns the site folder.
pub fn big_site(
    bake: &Path,
    cache: &Path,
    rows: u64,
    csv: &dyn Fn(&Path, u64) -> Result<u64>,
) -> Result<PathBuf> {
    let dir = cache.join(format!("query-{BIG_RECIPE}-{rows}"));
    let site = dir.join("site");
    let stamp = dir.join("built.ok");
    if stamp.exists() && read_manifest(&site).is_ok() {
        eprintln!("bench: reusing the big table's site in {}", dir.display());
        return Ok(site);
    }
    std::fs::create_dir_all(dir.join("content"))?;
    let _ = std::fs::remove_file(&stamp);
    let csv_path = dir.join("content/big.csv");
    let csv_stamp = dir.join("csv.ok");
    if !csv_stamp.exists() {
        eprintln!("bench: generating {rows} rows into {}", csv_path.display());
        csv(&csv_path, rows)?;
        std::fs::write(&csv_stamp, "")?;
    }
    std::fs::write(
        dir.join("bake.toml"),
        "# Generated by tests/src/query_suite.rs.\ntitle = \"big\"\nhost = \"netlify\"\npage_size = 4096\n[search]\nenabled = false\n[databases.big.tables.rows]\nsource = \"big.csv\"\nindexes = [[\"user_id\"], [\"city\"]]\n",
    )?;
    std::fs::write(dir.join("content/_index.md"), "+++\ntitle = \"big\"\n+++\n")?;
    eprintln!("bench: baking the big table (minutes)");
    let status = Command::new(bake)
        .args(["build", "--quiet", "--force", "--config"])
        .arg(dir.join("bake.toml"))
        .status()?;
    ensure!(status.success(), "the big site did not build");
    read_manifest(&site)?;
    std::fs::write(&stamp, "")?;
    Ok(site)
}

/// Gzip -9 size of `bytes`.
fn gzip_len(bytes: &[u8]) -> Result<u64> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(bytes)?;
    Ok(gz.finish()?.len() as u64)
}

/// The `content` of `<meta name=NAME content=…>` in `html` (minified or not).
fn meta(html: &str, name: &str) -> Option<String> {
    for tag in html.split('<').filter(|t| t.starts_with("meta ")) {
        let named = tag.contains(&format!("name={name}>"))
            || tag.contains(&format!("name={name} "))
            || tag.contains(&format!("name=\"{name}\""));
        if !named {
            continue;
        }
        let at = tag.find("content=")? + "content=".len();
        let rest = &tag[at..];
        let v = if let Some(r) = rest.strip_prefix('"') {
            r.split('"').next()?
        } else {
            rest.split([' ', '>']).next()?
        };
        return Some(v.to_string());
    }
    None
}

/// The `src` of every `<script … src=…>` in `html`.
fn scripts(html: &str) -> Vec<String> {
    html.split("<script")
        .skip(1)
        .filter_map(|t| {
            let at = t.find("src=")? + 4;
            let rest = t[at..].trim_start_matches('"');
            Some(rest.split(['"', ' ', '>']).next()?.to_string())
        })
        .collect()
}

/// The `href` of every `<link rel=preload>` and `<link rel=modulepreload>` in `html`.
fn preloads(html: &str) -> Vec<String> {
    html.split("<link")
        .skip(1)
        .filter_map(|t| {
            let tag = &t[..t.find('>')?];
            if !tag.contains("preload") {
                return None;
            }
            let at = tag.find("href=")? + 5;
            let rest = tag[at..].trim_start_matches('"');
            Some(rest.split(['"', ' ', '>']).next()?.to_string())
        })
        .collect()
}

/// Cold page→answer of one page under the modelled network, as text. What the page
/// preloads comes in one round with its scripts (sharing the bandwidth); the rest of the
/// engine's start (Worker, glue, wasm, manifest) is a chain of dependent fetches, and the
/// query's own requests follow, less those of files already preloaded.
fn page_to_answer(
    out: &mut String,
    site: &Site,
    page: &str,
    module: &str,
    first: &str,
    run: impl Fn() -> Result<(Vec<Logged>, f64)>,
) -> Result<()> {
    let root = &site.root;
    let html = std::fs::read_to_string(root.join(page).join("index.html"))
        .with_context(|| format!("{page}/index.html"))?;
    let file = |url: &str| -> Result<u64> {
        let p = root.join(url.trim_start_matches('/'));
        gzip_len(&std::fs::read(&p).with_context(|| format!("{}", p.display()))?)
    };
    let preloaded = preloads(&html);
    let mut rounds: Vec<u64> = vec![gzip_len(html.as_bytes())?];
    let mut parallel: u64 = scripts(&html)
        .iter()
        .map(|s| file(s))
        .collect::<Result<Vec<_>>>()?
        .iter()
        .sum();
    let mut chain = Vec::new();
    for name in [
        "bake-worker".to_string(),
        format!("{module}-js"),
        format!("{module}-wasm"),
        "bake-manifest".to_string(),
    ] {
        let url = meta(&html, &name).with_context(|| format!("no {name} meta"))?;
        if !preloaded.contains(&url) {
            chain.push(file(&url)?);
        }
    }
    let code_bytes: u64 = preloaded
        .iter()
        .filter(|u| !u.starts_with("/_data/"))
        .map(|u| file(u))
        .sum::<Result<u64>>()?
        + parallel
        + chain.iter().sum::<u64>()
        + rounds[0];
    let (log, cpu_ms) = run()?;
    // Data files the page preloaded arrive in the first round, not in the query's.
    let mut data_ms = 0.0;
    let (mut req, mut bytes) = (0u64, 0u64);
    for l in &log {
        if preloaded.contains(&l.url) {
            parallel += l.bytes;
        } else {
            data_ms += modelled_ms(l.bytes);
            req += 1;
        }
        bytes += l.bytes;
    }
    for url in preloaded.iter().filter(|u| !u.starts_with("/_data/")) {
        parallel += file(url)?;
    }
    rounds.push(parallel);
    rounds.extend(chain);
    let code_ms: f64 = rounds.iter().map(|b| modelled_ms(*b)).sum();
    writeln!(
        out,
        "  {page:<20} {:>2} preloads, {} rounds {:>8.1} kB code gzip {:>7.0} ms \
         + first query `{first}`: {req} req {:>8.1} kB {:>7.0} ms (+{cpu_ms:.0} ms CPU) = {:>6.0} ms",
        preloaded.len(),
        rounds.len(),
        code_bytes as f64 / 1000.0,
        code_ms,
        bytes as f64 / 1000.0,
        data_ms,
        code_ms + data_ms + cpu_ms
    )?;
    Ok(())
}

/// Runs the suite over the demo site at `demo` and the big site at `big`; appends the table to
/// `out` and writes the JSON if asked.
pub fn run(out: &mut String, demo: &Path, big: &Path, work: &Path, opts: &Options) -> Result<()> {
    let cap = EngineConfig::default().read_ahead_max_blocks;
    let spec_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/bench_queries.toml");
    let spec: QueryFile = toml::from_str(&std::fs::read_to_string(&spec_path)?)
        .with_context(|| format!("{}", spec_path.display()))?;
    eprintln!("bench: mapping the databases' pages (dbstat on the reassembled files)");
    let sites: BTreeMap<&str, Site> = [
        ("demo", Site::open(demo, &work.join("assembled-demo"))?),
        ("big", Site::open(big, &big.with_file_name("assembled"))?),
    ]
    .into_iter()
    .collect();
    let big_rows = sites["big"].manifest.databases["big"]
        .tables
        .iter()
        .find(|t| t.name == "rows")
        .map_or(0, |t| t.rows);
    writeln!(
        out,
        "\n== ad-hoc query suite: {} queries, cold (fresh engine, hot sidecars included) ==",
        spec.query.len()
    )?;
    writeln!(
        out,
        "sites: demo (nyc: 336,776 flights; web), big ({big_rows} rows, 4 KiB pages, indexes on user_id and city)"
    )?;
    writeln!(
        out,
        "ms@0 = measured wall time, no network ({} build of wasm-query, native); ms@50 = {}",
        if cfg!(debug_assertions) {
            "dev"
        } else {
            "release"
        },
        if opts.sleep {
            "measured with a real sleep of 50 ms + bytes/2.5 MB/s per request"
        } else {
            "ms@0 + Σ over the actual requests of (50 ms + bytes / 2.5 MB/s) (20 Mbit/s), not slept"
        }
    )?;
    writeln!(
        out,
        "bound = hot sidecar requests + Σ over B-trees touched (from the first page of each request; dbstat) of a\n\
         sequential read's requests: per run of consecutive pages 1, 2, 4, … blocks up to read_ahead_max_blocks = {cap}\n\
         (EngineConfig::default()), split at part boundaries. Every answer = native rusqlite on the reassembled file."
    )?;
    writeln!(
        out,
        "{:<44} {:>7} {:>7} {:>10} {:>8} {:>9} {:>7} {:<6} touched",
        "query", "req", "trips", "kB", "ms@0", "ms@50", "bound", "within"
    )?;
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for q in &spec.query {
        let site = sites
            .get(q.site.as_str())
            .with_context(|| format!("query {}: no site `{}`", q.name, q.site))?;
        eprintln!("bench: {} …", q.name);
        let r = run_sql(site, &q.db, &q.sql, false).with_context(|| format!("query {}", q.name))?;
        let (columns, expected) =
            native(site, &q.db, &q.sql).with_context(|| format!("query {} natively", q.name))?;
        if r.result.truncated || r.result.columns != columns || r.result.rows != expected {
            failures.push(format!(
                "{}: the engine's answer ({} rows{}) differs from native rusqlite's ({} rows)",
                q.name,
                r.result.rows.len(),
                if r.result.truncated {
                    ", truncated"
                } else {
                    ""
                },
                expected.len()
            ));
        }
        let (ms_50, slept) = if opts.sleep {
            (run_sql(site, &q.db, &q.sql, true)?.wall_ms, true)
        } else {
            (r.wall_ms + r.modelled_ms, false)
        };
        ensure!(
            r.log.len() as u64 == r.requests,
            "query {}: the fetcher saw {} requests, the engine counted {}",
            q.name,
            r.log.len(),
            r.requests
        );
        let b = bound(site, &r.log, cap);
        let traced = std::env::var("BAKE_BENCH_TRACE")
            .is_ok_and(|t| t.split('|').any(|t| !t.is_empty() && q.name.contains(t)));
        if traced {
            trace(site, &q.name, &r.log);
        }
        let row = Row {
            name: q.name.clone(),
            site: q.site.clone(),
            kind: q.kind.clone(),
            sql: q.sql.clone(),
            rows: r.result.rows.len(),
            requests: r.requests,
            round_trips: r.round_trips,
            bytes: r.bytes,
            ms_0: r.wall_ms,
            ms_50,
            ms_50_slept: slept,
            bound: b.requests,
            within: r.requests <= b.requests,
            touched: b.touched,
        };
        writeln!(
            out,
            "{:<44} {:>7} {:>7} {:>10.1} {:>8.0} {:>9.0} {:>7} {:<6} {}",
            format!("{}: {}", q.site, q.name),
            row.requests,
            row.round_trips,
            row.bytes as f64 / 1000.0,
            row.ms_0,
            row.ms_50,
            row.bound,
            if row.within { "yes" } else { "NO" },
            row.touched.join(" ")
        )?;
        rows.push(row);
    }
    let within = rows.iter().filter(|r| r.within).count();
    writeln!(out, "within the bound: {within} of {}", rows.len())?;

    // Cold page→answer: code, manifest, hot sidecars and the first query, same network.
    writeln!(
        out,
        "\ncold page→answer under 50 ms + 20 Mbit/s per round (code gzip -9; the HTML, then its scripts and preloads\n\
         in one round, then the engine's files it did not preload one after another, then the query's requests; CPU\n\
         of the query as measured natively, wasm compile time not included):"
    )?;
    let demo_site = &sites["demo"];
    let first_search = "cache";
    page_to_answer(
        out,
        demo_site,
        "search",
        "bake-search",
        first_search,
        || {
            let log = Arc::new(Mutex::new(Vec::new()));
            let fetch: Box<dyn Fetch + Send> =
                Box::new(ModelFetch::new(&demo_site.root, false, log.clone()));
            let e = shared(Engine::new(
                fetch,
                &demo_site.manifest,
                EngineConfig::default(),
            ));
            let t = Instant::now();
            e.lock().expect("engine").begin_query(None);
            let s =
                SearchSession::open(e.clone(), &demo_site.manifest).map_err(anyhow::Error::msg)?;
            s.search(first_search, &SearchOptions::default())
                .map_err(anyhow::Error::msg)?;
            let cpu = t.elapsed().as_secs_f64() * 1000.0;
            let log = std::mem::take(&mut *log.lock().expect("log"));
            Ok((log, cpu))
        },
    )?;
    let first_sql = "SELECT * FROM flights LIMIT 20";
    // The console preloads nothing (a shared `?sql=` link must not fetch before Run); a
    // table page preloads what its first query needs.
    for page in ["sql", "tables/nyc/flights"] {
        page_to_answer(out, demo_site, page, "bake-sql", first_sql, || {
            let r = run_sql(demo_site, "nyc", first_sql, false)?;
            Ok((r.log, r.wall_ms))
        })?;
    }

    if let Some(path) = &opts.json {
        let doc = serde_json::json!({
            "rtt_ms": RTT_MS,
            "bytes_per_ms": BYTES_PER_MS,
            "read_ahead_max_blocks": cap,
            "profile": if cfg!(debug_assertions) { "dev" } else { "release" },
            "big_rows": big_rows,
            "queries": rows,
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n")
            .with_context(|| format!("{}", path.display()))?;
        writeln!(out, "\nJSON: {}", path.display())?;
    }
    if !failures.is_empty() {
        print!("{out}");
        out.clear();
        bail!(
            "answers differ from native rusqlite:\n{}",
            failures.join("\n")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_query::manifest::Part;

    fn file(size: u64, part: u64) -> LogicalFile {
        let mut parts = Vec::new();
        let mut at = 0;
        while at < size {
            let length = part.min(size - at);
            parts.push(Part {
                url: format!("/p{at}"),
                offset: at,
                length,
            });
            at += length;
        }
        LogicalFile {
            size,
            block_size: 4096,
            hash: "0".into(),
            parts,
            hot: Vec::new(),
        }
    }

    #[test]
    fn sequential_reads_double_up_to_the_cap_and_split_at_parts() {
        let lf = file(4096 * 1000, 4096 * 1000);
        let blocks: Vec<u64> = (0..31).collect();
        // 1 + 2 + 4 + 8 + 16 = 31 blocks in 5 requests.
        assert_eq!(sequential_requests(&lf, &blocks, 256), 5);
        // Capped at 4: 1, 2, 4, 4, 4, 4, 4, 4, 4 = 31 → 9 requests.
        assert_eq!(sequential_requests(&lf, &blocks, 4), 9);
        // Two runs: each starts again at one block.
        assert_eq!(sequential_requests(&lf, &[0, 1, 2, 10, 11, 12], 256), 4);
        // Parts of 2 blocks: 1 | 2 | 4 blocks crossing 2 parts … → more requests.
        let small = file(4096 * 1000, 4096 * 2);
        assert_eq!(
            sequential_requests(&small, &(0..7).collect::<Vec<_>>(), 256),
            6
        );
    }
}
