//! `bench --only offline`: the demo's SQL and search cases (tests/fixtures/queries.toml) in
//! headless Chromium, through the browser's real engine, device store and service worker.
//! Each case runs cold (a fresh Worker that reads neither memory nor the device), then from
//! the device in a fresh Worker (as a new tab or a return visit does), then again in that
//! Worker (from memory). For each: the data requests that reached the server, the device
//! reads, and the Worker's milliseconds for the call.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Result, anyhow};
use bake_tests::{Browser, demo_site, query_file, serve};
use serde_json::{Value, json};

/// SQL cases and searches measured (the first of each in queries.toml).
const SQL_CASES: usize = 10;
const SEARCH_CASES: usize = 3;

/// Runs the offline benchmark and appends its table to `out`.
pub fn run(out: &mut String) -> Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run_in_browser(out))
}

/// A stats number as a whole number ("?" if absent).
fn num(v: &Value) -> String {
    v.as_f64().map_or("?".into(), |n| format!("{n:.0}"))
}

/// One run of a case: requests the server saw, and the answer's stats.
struct Measured {
    server_requests: usize,
    stats: Value,
}

/// The demo served by `bake serve`, and headless Chromium on its page `path` with
/// `window.bake` ready: how the Chromium benchmarks start.
pub async fn demo_page(path: &str) -> Result<(bake::serve::ServerHandle, Browser)> {
    let server = serve(demo_site());
    let b = Browser::start().await;
    b.client
        .goto(&format!("http://{}{path}", server.addr))
        .await
        .map_err(|e| anyhow!("open {path}: {e}"))?;
    b.wait_for("window.bake && 1", 30).await;
    Ok((server, b))
}

/// Data requests (`/_data/…`) the server has seen so far.
pub fn data_requests(server: &bake::serve::ServerHandle) -> usize {
    server
        .requests()
        .iter()
        .filter(|l| l.contains("/_data/"))
        .count()
}

async fn run_in_browser(out: &mut String) -> Result<()> {
    eprintln!("bench: offline (headless Chromium over the demo)");
    let (server, b) = demo_page("/sql/").await?;
    let data_requests = || data_requests(&server);
    let file = query_file();
    let mut calls: Vec<(String, String)> = Vec::new();
    for c in file.sql.iter().take(SQL_CASES) {
        calls.push((
            format!("{}: {}", c.db, c.sql),
            format!(
                "bake.sql({}, {}, null, {{budget: 1e9}})",
                json!(c.db),
                json!(c.sql)
            ),
        ));
    }
    for c in file.search.iter().take(SEARCH_CASES) {
        calls.push((
            format!("search: {}", c.query),
            format!(
                "bake.search({}, {})",
                json!(c.query),
                Value::Object(c.options.clone())
            ),
        ));
    }
    writeln!(
        out,
        "\n== offline: {} demo cases in headless Chromium (loopback, no added delay) ==\n\
         cold = fresh Worker, memory and device unread (the browser's HTTP cache still answers the hot\n\
         sidecars, fetched whole); device = fresh Worker reading the device store\n\
         (a new tab, a return visit); memory = the same call again in that Worker. req = data requests\n\
         the server saw; reads = blocks read from the device; ms = the Worker's time for the call.",
        calls.len()
    )?;
    writeln!(
        out,
        "{:<58} {:>5} {:>7} | {:>5} {:>5} {:>7} | {:>5} {:>7}",
        "case", "req", "ms", "req", "reads", "ms", "req", "ms"
    )?;
    let (mut total_cold, mut total_device, mut total_memory) = (0usize, 0usize, 0usize);
    for (name, call) in &calls {
        let measure = |setup: &'static str| {
            let body = format!("{setup} const r = await {call}; return r.stats;");
            let b = &b;
            let data_requests = &data_requests;
            async move {
                let before = data_requests();
                let stats = b.eval(&body).await.map_err(|e| anyhow!("{name}: {e}"))?;
                Ok::<_, anyhow::Error>(Measured {
                    server_requests: data_requests() - before,
                    stats,
                })
            }
        };
        let cold = measure("bake.restart();").await?;
        // The device store is written after a query returns: let it finish.
        tokio::time::sleep(Duration::from_millis(400)).await;
        let device = measure("bake.restart({device: true});").await?;
        let memory = measure("").await?;
        total_cold += cold.server_requests;
        total_device += device.server_requests;
        total_memory += memory.server_requests;
        let short: String = name.chars().take(58).collect();
        writeln!(
            out,
            "{short:<58} {:>5} {:>7} | {:>5} {:>5} {:>7} | {:>5} {:>7}",
            cold.server_requests,
            num(&cold.stats["ms"]),
            device.server_requests,
            num(&device.stats["device_reads"]),
            num(&device.stats["ms"]),
            memory.server_requests,
            num(&memory.stats["ms"]),
        )?;
    }
    writeln!(
        out,
        "data requests in all: cold {total_cold}, from the device {total_device}, from memory {total_memory}"
    )?;
    b.close().await;
    Ok(())
}
