//! The query benchmark: requests, bytes and sequential round trips of cold and warm queries
//! and searches, through the browser's own engine code (wasm-query, compiled natively, over
//! the built site's files: the same requests the browser sends), and the wasm module sizes.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;
use wasm_query::engine::{Engine, EngineConfig, SharedEngine, Stats, shared};
use wasm_query::fetch::{DirFetch, Fetch};
use wasm_query::manifest::Manifest;
use wasm_query::search::{SearchOptions, SearchSession};
use wasm_query::sql::SqlSession;

/// Latency per round trip used for the "time at 50 ms" column (a typical CDN round trip).
const RTT_MS: u64 = 50;

/// One measured case.
enum Case<'a> {
    Sql { db: &'a str, sql: &'a str },
    Search { query: &'a str },
}

fn manifest(site: &Path) -> Result<Manifest> {
    let assets = site.join("_assets");
    for e in std::fs::read_dir(&assets).with_context(|| format!("{}", assets.display()))? {
        let p = e?.path();
        let name = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        if name.starts_with("manifest.") && name.ends_with(".json") {
            return Manifest::from_json(&std::fs::read_to_string(&p)?).map_err(anyhow::Error::msg);
        }
    }
    anyhow::bail!("no manifest in {}", assets.display())
}

fn engine(site: &Path, m: &Manifest) -> SharedEngine {
    let fetch: Box<dyn Fetch + Send> = Box::new(DirFetch::new(site));
    shared(Engine::new(fetch, m, EngineConfig::default()))
}

/// Runs `case` on a fresh engine (cold), then again on the same one (warm).
fn measure(site: &Path, m: &Manifest, case: &Case) -> Result<(Stats, Stats, String)> {
    let e = engine(site, m);
    let mut answer = String::new();
    let mut run = |sql: &mut Option<SqlSession>,
                   search: &mut Option<SearchSession>|
     -> Result<Stats> {
        e.lock().expect("engine").begin_query(None);
        match case {
            Case::Sql { db, sql: text } => {
                let s = match sql {
                    Some(s) => s,
                    None => sql.insert(SqlSession::open(e.clone(), m).map_err(anyhow::Error::msg)?),
                };
                let r = s
                    .query(db, text, &Value::Null, 10_000)
                    .map_err(anyhow::Error::msg)?;
                answer = format!("{} rows", r.rows.len());
            }
            Case::Search { query } => {
                let s = match search {
                    Some(s) => s,
                    None => search
                        .insert(SearchSession::open(e.clone(), m).map_err(anyhow::Error::msg)?),
                };
                let r = s
                    .search(query, &SearchOptions::default())
                    .map_err(anyhow::Error::msg)?;
                answer = format!("{} hits", r.total);
            }
        }
        Ok(e.lock().expect("engine").query_stats())
    };
    let (mut sql, mut search) = (None, None);
    let cold = run(&mut sql, &mut search)?;
    let warm = run(&mut sql, &mut search)?;
    Ok((cold, warm, answer))
}

fn table(out: &mut String, site: &Path, cases: &[(&str, Case, &str)]) -> Result<()> {
    let m = manifest(site)?;
    writeln!(
        out,
        "{:<34} {:>5} {:>9} {:>6} {:>8} | {:>5} {:>7} | {:<10} floor",
        "case", "req", "kB", "trips", "@50ms", "warm", "warm kB", "answer"
    )?;
    for (name, case, floor) in cases {
        let (cold, warm, answer) = measure(site, &m, case)?;
        writeln!(
            out,
            "{:<34} {:>5} {:>9.1} {:>6} {:>6} ms | {:>5} {:>7.1} | {:<10} {floor}",
            name,
            cold.requests,
            cold.bytes as f64 / 1000.0,
            cold.round_trips,
            cold.round_trips * RTT_MS,
            warm.requests,
            warm.bytes as f64 / 1000.0,
            answer
        )?;
    }
    Ok(())
}

/// The sizes of the browser modules in `site`: raw and gzip -9.
fn wasm_sizes(out: &mut String, site: &Path) -> Result<()> {
    writeln!(
        out,
        "\nbrowser modules (what a visitor downloads once; cached immutable):"
    )?;
    let mut dirs: Vec<_> = std::fs::read_dir(site.join("_assets"))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        for f in std::fs::read_dir(&dir)? {
            let p = f?.path();
            let bytes = std::fs::read(&p)?;
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            gz.write_all(&bytes)?;
            let gz = gz.finish()?;
            writeln!(
                out,
                "  {:<44} {:>9.1} kB raw {:>8.1} kB gzip",
                p.strip_prefix(site).unwrap_or(&p).display(),
                bytes.len() as f64 / 1000.0,
                gz.len() as f64 / 1000.0
            )?;
        }
    }
    Ok(())
}

/// Builds the demo and (once, kept in `cache`) a generated big table with `bake`, then
/// measures: the cold/warm table below, then the ad-hoc suite ([`crate::query_suite`]).
pub fn run(
    bake: &Path,
    root: &Path,
    dir: &Path,
    cache: &Path,
    opts: &crate::query_suite::Options,
    big_rows_csv: impl Fn(&Path, u64) -> Result<u64>,
) -> Result<()> {
    println!(
        "\n== query benchmark: cold = fresh engine (empty cache), warm = the same query again =="
    );
    println!(
        "req/kB/trips as the browser's Worker sends them (same engine code, native); @50ms = trips × {RTT_MS} ms"
    );
    let demo = dir.join("demo");
    let status = std::process::Command::new(bake)
        .args(["build", "--quiet", "--config"])
        .arg(root.join("bake.toml"))
        .arg("--out")
        .arg(&demo)
        .status()?;
    anyhow::ensure!(status.success(), "the demo did not build");
    let site = crate::query_suite::big_site(bake, cache, opts.big_rows, &big_rows_csv)?;
    let rows = opts.big_rows;
    let mut out = String::new();
    writeln!(
        out,
        "\ndemo site (nyc: 336,776 flights, 4 KiB pages; web; search over 1,581 documents)"
    )?;
    let hot = "sidecar(s) + leaves";
    table(
        &mut out,
        &demo,
        &[
            (
                "indexed point lookup",
                Case::Sql {
                    db: "nyc",
                    sql: "SELECT * FROM flights WHERE tailnum = 'N725MQ' LIMIT 1",
                },
                "2 hot + index leaf + table leaf = 4",
            ),
            (
                "primary key lookup (airports)",
                Case::Sql {
                    db: "nyc",
                    sql: "SELECT * FROM airports WHERE faa = 'JFK'",
                },
                "2 hot + index leaf + table leaf = 4",
            ),
            (
                "range scan with LIMIT 20",
                Case::Sql {
                    db: "nyc",
                    sql: "SELECT * FROM flights WHERE origin = 'JFK' AND dest = 'LAX' LIMIT 20",
                },
                hot,
            ),
            (
                "COUNT(*) of 336,776 rows",
                Case::Sql {
                    db: "nyc",
                    sql: "SELECT count(*) FROM flights",
                },
                "full scan of the smallest index",
            ),
            (
                "GROUP BY over the big table",
                Case::Sql {
                    db: "nyc",
                    sql: "SELECT origin, count(*) FROM flights GROUP BY origin",
                },
                "full index scan",
            ),
            (
                "search, common word (cache)",
                Case::Search { query: "cache" },
                "1 hot + postings + stored docs",
            ),
            (
                "search, rare word (teapot)",
                Case::Search { query: "teapot" },
                "1 hot + postings + stored doc",
            ),
        ],
    )?;
    writeln!(
        out,
        "\ngenerated table ({rows} rows, 12 columns, indexes on user_id and city)"
    )?;
    table(
        &mut out,
        &site,
        &[
            (
                "indexed point lookup (user_id)",
                Case::Sql {
                    db: "big",
                    sql: "SELECT * FROM rows WHERE user_id = 424242 LIMIT 1",
                },
                "1 hot + index leaf + table leaf = 3",
            ),
            (
                "rowid lookup",
                Case::Sql {
                    db: "big",
                    sql: "SELECT * FROM rows WHERE rowid = 777777",
                },
                "1 hot + table leaf = 2",
            ),
            (
                "range scan with LIMIT 100",
                Case::Sql {
                    db: "big",
                    sql: "SELECT * FROM rows WHERE rowid > 500000 LIMIT 100",
                },
                "1 hot + consecutive leaves",
            ),
            (
                "COUNT(*)",
                Case::Sql {
                    db: "big",
                    sql: "SELECT count(*) FROM rows",
                },
                "full scan of the smallest index",
            ),
        ],
    )?;
    wasm_sizes(&mut out, &demo)?;
    // found@5 of the typo and spelled-right queries (issue 11), each on a fresh engine.
    write!(out, "\n{}", bake_tests::relevance::run(&demo)?.report())?;
    print!("{out}");
    let mut out = String::new();
    let suite = crate::query_suite::run(&mut out, &demo, &site, dir, opts);
    print!("{out}");
    suite
}
