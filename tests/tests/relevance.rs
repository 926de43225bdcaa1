//! Search relevance on the demo (issue 11): found@5 of tests/fixtures/search_relevance.toml,
//! natively through the browser's search code, and the fixture's own soundness.

use std::collections::HashSet;

use bake_tests::relevance::{self, TOP};
use bake_tests::{demo_site, native_engine, repo_root, site_manifest};

/// Spelled-right queries: the page meant is among the first five hits this often, at least.
const EXACT_FLOOR: f64 = 97.0;
/// Queries with one typo: the page meant is among the first five hits this often, at least.
const TYPO_FLOOR: f64 = 90.0;

#[test]
fn search_finds_the_page_meant_despite_one_typo() {
    let r = relevance::run(demo_site()).expect("relevance runs");
    println!("{}", r.report());
    assert!(
        r.exact.percent() >= EXACT_FLOOR,
        "spelled-right found@{TOP} {:.1} % < {EXACT_FLOOR} % ({}/{}); misses:\n{}",
        r.exact.percent(),
        r.exact.found,
        r.exact.total,
        r.exact.misses_text()
    );
    assert!(
        r.typo.percent() >= TYPO_FLOOR,
        "typo found@{TOP} {:.1} % < {TYPO_FLOOR} % ({}/{}); misses:\n{}",
        r.typo.percent(),
        r.typo.found,
        r.typo.total,
        r.typo.misses_text()
    );
}

/// Every `expect` of the fixture is a page of the demo written in content/ (or a data row
/// that exists), every query is there once, and the lists are as long as issue 11 asks.
#[test]
fn every_expected_url_is_a_real_page_of_the_demo() {
    let file = relevance::load(&relevance::fixture_path()).expect("the fixture parses");
    assert!(file.typo.len() >= 45, "{} typo queries", file.typo.len());
    assert!(file.exact.len() >= 35, "{} exact queries", file.exact.len());
    let site = demo_site();
    let m = site_manifest(site);
    let mut sql = wasm_query::sql::SqlSession::open(native_engine(site, &m), &m).unwrap();
    let content = repo_root().join("content");
    let mut seen = HashSet::new();
    let mut bad = Vec::new();
    for case in file.all() {
        if !seen.insert(case.query.to_lowercase()) {
            bad.push(format!("{:?} is in the fixture twice", case.query));
        }
        let words = case.query.split_whitespace().count();
        if !(1..=3).contains(&words) {
            bad.push(format!("{:?} has {words} words, not 1 to 3", case.query));
        }
        let url = case.expect.as_str();
        if !url.starts_with('/') || !url.contains('/') {
            bad.push(format!("{:?}: {url} is not a site path", case.query));
            continue;
        }
        let (path, rowid) = match url.split_once("?rowid=") {
            Some((p, r)) => (p, Some(r)),
            None => (url, None),
        };
        if !path.ends_with('/') {
            bad.push(format!("{:?}: {url} has no trailing slash", case.query));
            continue;
        }
        let page = site.join(path.trim_start_matches('/')).join("index.html");
        if !page.is_file() {
            bad.push(format!("{:?}: {url} is not a page of the demo", case.query));
            continue;
        }
        match rowid {
            None => {
                let rel = path.trim_matches('/');
                let written = rel.is_empty() && content.join("_index.md").is_file()
                    || content.join(format!("{rel}.md")).is_file()
                    || content.join(rel).join("_index.md").is_file();
                if !written {
                    bad.push(format!(
                        "{:?}: {url} is no page of content/ (a generated page?)",
                        case.query
                    ));
                }
            }
            Some(rowid) => {
                let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
                let ok = match (parts.as_slice(), rowid.parse::<u64>()) {
                    (["tables", db, table], Ok(n)) => sql
                        .query(
                            db,
                            &format!("SELECT count(*) FROM \"{table}\" WHERE rowid = {n}"),
                            &serde_json::Value::Null,
                            10,
                        )
                        .map(|r| r.rows == vec![vec![serde_json::json!(1)]])
                        .unwrap_or(false),
                    _ => false,
                };
                if !ok {
                    bad.push(format!("{:?}: {url} is no row of the demo", case.query));
                }
            }
        }
    }
    assert!(bad.is_empty(), "fixture problems:\n{}", bad.join("\n"));
}
