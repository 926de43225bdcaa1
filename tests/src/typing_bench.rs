//! `bench --only typing`: a visitor typing into a search box, in headless Chromium over the
//! demo. Each phrase is typed one character at a time, each prefix searched as the search
//! boxes do (`bake.search(prefix, {limit: 8})`, the last word completed): first on a fresh
//! Worker (the first keystroke opens the index), then typed again in the same Worker (warm:
//! its blocks are in memory). For each: the page's milliseconds per keystroke (call to
//! answer, as the visitor waits) and the data requests the server saw.

use std::fmt::Write as _;

use anyhow::{Result, anyhow};
use bake_tests::Browser;
use serde_json::{Value, json};

/// What visitors type (one with a typo), as the demo's readers would.
const PHRASES: [&str; 4] = [
    "consistent hashing",
    "cache control",
    "helth checks",
    "stale-while-revalidate",
];

/// Runs the typing benchmark and appends its table to `out`.
pub fn run(out: &mut String) -> Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run_in_browser(out))
}

/// Milliseconds per keystroke of one typing of `phrase`, and the data requests it sent.
async fn type_phrase(
    b: &Browser,
    phrase: &str,
    data_requests: &dyn Fn() -> usize,
) -> Result<(Vec<f64>, usize)> {
    let before = data_requests();
    let script = format!(
        "const phrase = {}; const ms = [];
         for (let i = 1; i <= phrase.length; i++) {{
           const t = performance.now();
           await bake.search(phrase.slice(0, i), {{ limit: 8 }});
           ms.push(performance.now() - t);
         }}
         return ms;",
        json!(phrase)
    );
    let ms = b
        .eval(&script)
        .await
        .map_err(|e| anyhow!("typing {phrase:?}: {e}"))?;
    let ms = ms
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default();
    Ok((ms, data_requests() - before))
}

/// Median and largest of `ms`.
fn median_max(ms: &[f64]) -> (f64, f64) {
    let mut sorted = ms.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
    (median, sorted.last().copied().unwrap_or(0.0))
}

async fn run_in_browser(out: &mut String) -> Result<()> {
    eprintln!("bench: typing (headless Chromium over the demo)");
    let (server, b) = crate::offline_bench::demo_page("/search/").await?;
    let data_requests = || crate::offline_bench::data_requests(&server);
    writeln!(
        out,
        "\n== typing: each phrase typed a character at a time, a search per keystroke (headless\n\
         Chromium, loopback, no added delay) ==\n\
         first = a fresh Worker (the first keystroke opens the index); again = typed again in it\n\
         (warm). ms = call to answer on the page; req = data requests the server saw."
    )?;
    writeln!(
        out,
        "{:<24} {:>5} | {:>9} {:>7} {:>7} {:>5} | {:>7} {:>7} {:>5}",
        "phrase", "keys", "1st key", "median", "max", "req", "median", "max", "req"
    )?;
    let mut warm_all = Vec::new();
    for phrase in PHRASES {
        b.eval("bake.restart(); return 1;")
            .await
            .map_err(|e| anyhow!("restart: {e}"))?;
        let (first, first_req) = type_phrase(&b, phrase, &data_requests).await?;
        let (again, again_req) = type_phrase(&b, phrase, &data_requests).await?;
        let (fm, fx) = median_max(first.get(1..).unwrap_or(&[]));
        let (am, ax) = median_max(&again);
        warm_all.extend(again);
        writeln!(
            out,
            "{phrase:<24} {:>5} | {:>6.0} ms {:>4.1} ms {:>4.0} ms {:>5} | {:>4.1} ms {:>4.1} ms {:>5}",
            phrase.len(),
            first.first().copied().unwrap_or(0.0),
            fm,
            fx,
            first_req,
            am,
            ax,
            again_req
        )?;
    }
    let (m, x) = median_max(&warm_all);
    writeln!(
        out,
        "warm keystrokes ({}): median {m:.1} ms, slowest {x:.1} ms",
        warm_all.len()
    )?;
    b.close().await;
    Ok(())
}
