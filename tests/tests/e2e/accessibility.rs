//! axe-core in every page kind of the demo, light and dark, at 1280 px and at a phone's
//! 375 px: no violations. axe comes from
//! the npm registry, fetched by `scripts/test` (`ensure_axe` in scripts/setup.sh), which
//! says where it is in `BAKE_AXE_JS`.

use bake_tests::{Browser, demo_site, repo_root, serve};
use serde_json::Value;

/// One page of each kind, with the script that brings it to the state to check ("" when
/// loading it is enough): search and SQL with their results, the table with its rows.
const PAGES: &[(&str, &str, &str)] = &[
    ("home", "/", ""),
    ("page", "/caching/stale-while-revalidate/", ""),
    ("section", "/caching/", ""),
    ("tags", "/tags/", ""),
    ("tag", "/tags/caching/", ""),
    (
        "search with results",
        "/search/?q=cache",
        "return document.querySelectorAll('.search-results li').length > 0",
    ),
    (
        "SQL with results",
        "/sql/?db=nyc&sql=SELECT%20*%20FROM%20airlines",
        "if (!window.bake || !document.getElementById('sql-text').value) return false; \
         if (!window.__ran) { window.__ran = 1; document.getElementById('sql-run').click(); } \
         return document.querySelectorAll('#sql-result td').length > 0",
    ),
    (
        "table",
        "/tables/nyc/airlines/",
        "return document.querySelectorAll('.data-table tbody tr').length > 0",
    ),
    ("gallery", "/gallery/", ""),
    ("diagram", "/diagrams/a-request-through-a-cdn/", ""),
    ("404", "/no-such-page/", ""),
];

fn axe_source() -> String {
    let path = std::env::var("BAKE_AXE_JS").unwrap_or_else(|_| {
        repo_root()
            .join("target/axe-core-4.11.0/axe.min.js")
            .display()
            .to_string()
    });
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("axe-core is not at {path} ({e}): run ./scripts/test, which fetches it")
    })
}

/// The violations axe finds on each page, as "page: rule (selector, …)".
async fn violations(b: &Browser, base: &str, axe: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (kind, url, ready) in PAGES {
        b.client.goto(&format!("{base}{url}")).await.unwrap();
        if !ready.is_empty() {
            b.wait_for(&format!("(() => {{ {ready} }})() && 1"), 60)
                .await;
        }
        b.eval(&format!("{axe}\n;return 1;")).await.unwrap();
        let result = b
            .eval(
                "return axe.run(document, { resultTypes: ['violations'] }).then(r => \
                   r.violations.map(v => `${v.id} (${v.nodes.map(n => n.target.join(' ')).join(', ')})`));",
            )
            .await
            .unwrap();
        for v in result.as_array().unwrap_or(&Vec::new()) {
            found.push(format!("{kind} {url}: {}", v.as_str().unwrap_or("?")));
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axe_finds_nothing_on_any_page_kind_light_or_dark() {
    let axe = axe_source();
    let server = serve(demo_site());
    let base = format!("http://{}", server.addr);
    let mut problems = Vec::new();
    for (scheme, b) in [
        ("light", Browser::start().await),
        ("dark", Browser::start_dark().await),
    ] {
        let dark = b
            .eval("return matchMedia('(prefers-color-scheme: dark)').matches")
            .await
            .unwrap();
        assert_eq!(dark, Value::Bool(scheme == "dark"), "the {scheme} browser");
        for v in violations(&b, &base, &axe).await {
            problems.push(format!("{scheme}: {v}"));
        }
        // And on a phone (375 × 812), where the header's links are behind "Menu".
        b.set_viewport(375, 812).await;
        for v in violations(&b, &base, &axe).await {
            problems.push(format!("{scheme} at 375 px: {v}"));
        }
        b.close().await;
    }
    assert!(
        problems.is_empty(),
        "axe-core found:\n{}",
        problems.join("\n")
    );
}
