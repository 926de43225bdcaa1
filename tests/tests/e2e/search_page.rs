//! End-to-end: the search page as a visitor uses it — results as they type, the typo notice
//! and its "search instead for" link, facets that combine and come off again, sub-results,
//! and the highlight on the page a result opens — in headless Chromium over `bake serve`,
//! with the answers checked against the native engine on the same files.

use bake_tests::{Browser, demo_site, native_engine, serve, site_manifest};
use serde_json::{Value, json};
use wasm_query::search::{SearchOptions, SearchResults, SearchSession};

/// Hit URLs, titles, the total, the correction and the facet counts as the page would
/// show them (the page asks for 20 hits).
fn summary(r: &SearchResults) -> Value {
    json!({
        "total": r.total,
        "urls": r.hits.iter().map(|h| h.url.clone()).collect::<Vec<_>>(),
        "corrected": r.corrected,
        "sections": r.facets.section.iter().map(|c| json!([c.value, c.count])).collect::<Vec<_>>(),
        "tags": r.facets.tags.iter().map(|c| json!([c.value, c.count])).collect::<Vec<_>>(),
    })
}

fn native(session: &SearchSession, query: &str, options: Value) -> SearchResults {
    let mut o = options;
    o["limit"] = json!(20);
    let opts: SearchOptions = serde_json::from_value(o).unwrap();
    session.search(query, &opts).unwrap()
}

/// Counts the Workers the page starts from now on (bake.js creates them lazily).
const COUNT_WORKERS: &str = r#"
    window.workersStarted = 0;
    const Real = window.Worker;
    window.Worker = function (...args) { window.workersStarted++; return new Real(...args); };
    return 1;"#;

/// What the results list shows: each hit's link, in order, without what `hitUrl` adds to a
/// page's (the words to highlight, the section).
const SHOWN_URLS: &str = r#"return [...document.querySelectorAll(".search-results > li > a.hit-title")].map(a => a.getAttribute("href").replace(/\?highlight=[^#]*/, "").replace(/#.*$/, ""))"#;

/// Waits until the page shows `expected` — its status sentence for `q` and its hits in
/// order — whatever it showed before; `search` is checked to be the URL's query then.
async fn shows(b: &Browser, q: &str, expected: &SearchResults, search: Option<&str>) {
    let status = match expected.total {
        0 => format!("No results for “{q}”"),
        1 => format!("1 result for “{q}”"),
        n => format!("{n} results for “{q}”"),
    };
    let want = json!({ "status": status, "urls": summary(expected)["urls"] });
    let js = format!(
        "{}; return {{ status: document.querySelector('.search-status').textContent, urls: shown() }}",
        SHOWN_URLS.replacen("return ", "const shown = () => ", 1)
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    let mut seen = Value::Null;
    while std::time::Instant::now() < deadline {
        seen = b.eval(&js).await.unwrap();
        if seen == want {
            if let Some(search) = search {
                assert_eq!(eval(b, "return location.search").await, json!(search));
            }
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the page never showed {want}; it shows {seen}");
}

async fn type_into_box(b: &Browser, text: &str) {
    b.eval(&format!(
        r#"const i = document.querySelector("form.search-form input[name=q]"); i.focus(); i.value = {}; i.dispatchEvent(new Event("input")); return 1;"#,
        json!(text)
    ))
    .await
    .unwrap();
}

async fn click(b: &Browser, selector: &str) {
    let clicked = b
        .eval(&format!(
            r#"const a = document.querySelector({}); if (!a) return false; a.click(); return true;"#,
            json!(selector)
        ))
        .await
        .unwrap();
    assert_eq!(clicked, json!(true), "nothing matches {selector}");
}

async fn eval(b: &Browser, js: &str) -> Value {
    b.eval(js).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_correcting_faceting_and_arriving_highlighted() {
    let site = demo_site();
    let server = serve(site);
    let base = format!("http://{}", server.addr);
    let m = site_manifest(site);
    let session = SearchSession::open(native_engine(site, &m), &m).unwrap();
    let b = Browser::start().await;

    b.client.goto(&format!("{base}/search/")).await.unwrap();
    b.wait_for("window.bake && window.bake.ui && 1", 20).await;
    eval(&b, COUNT_WORKERS).await;

    // As you type: keystroke by keystroke, the URL follows the box and the results follow
    // the URL, from one Worker.
    for partial in [
        "con",
        "consis",
        "consistemt",
        "consistemt hash",
        "consistemt hashing",
    ] {
        type_into_box(&b, partial).await;
        tokio::time::sleep(std::time::Duration::from_millis(40)).await;
    }
    let expected = native(&session, "consistemt hashing", json!({}));
    // The browser shows what the native engine finds.
    shows(
        &b,
        "consistemt hashing",
        &expected,
        Some("?q=consistemt+hashing"),
    )
    .await;
    assert_eq!(
        expected.hits[0].url, "/load-balancing/consistent-hashing/",
        "the page meant comes first"
    );
    // … with the notice saying how the query was read, and a way to search as typed.
    let notice = eval(&b, r#"const n = document.querySelector(".search-corrected"); return n.hidden ? null : n.textContent"#).await;
    assert_eq!(
        notice,
        json!("Showing results for consistent hashing. Search instead for consistemt hashing.")
    );
    click(&b, ".search-corrected a.search-exact").await;
    let exact = native(&session, "consistemt hashing", json!({"exact": true}));
    assert_eq!(exact.total, 0);
    shows(
        &b,
        "consistemt hashing",
        &exact,
        Some("?q=consistemt+hashing&exact=1"),
    )
    .await;
    // Back returns to the corrected results, searched in place.
    b.client.back().await.unwrap();
    shows(
        &b,
        "consistemt hashing",
        &expected,
        Some("?q=consistemt+hashing"),
    )
    .await;

    // Facets: counts for the whole result set, links that combine and come off again.
    type_into_box(&b, "cache").await;
    let all = native(&session, "cache", json!({}));
    shows(&b, "cache", &all, Some("?q=cache")).await;
    let shown_sections = eval(&b, r#"return [...document.querySelectorAll(".facet-group")].find(g => g.querySelector("h2").textContent === "Section").querySelectorAll(".facet-value .count").length"#).await;
    assert!(shown_sections.as_u64().unwrap() >= 2, "{shown_sections}");
    let (section, section_count) = (
        all.facets.section[0].value.clone(),
        all.facets.section[0].count,
    );
    let tag = all
        .facets
        .tags
        .iter()
        .find(|t| {
            let both = native(
                &session,
                "cache",
                json!({"section": section, "tags": [t.value]}),
            );
            both.total > 0 && both.total < section_count
        })
        .expect("a tag that narrows the first section")
        .value
        .clone();
    let facet_link = |group: &str, nth: usize| {
        format!(
            r#"[...document.querySelectorAll(".facet-group")].find(g => g.querySelector("h2").textContent === {}).querySelectorAll("a.facet-value")[{nth}]"#,
            json!(group)
        )
    };
    // The first section's count is what filtering by it leaves.
    let first = eval(
        &b,
        &format!("return {}.textContent", facet_link("Section", 0)),
    )
    .await;
    assert!(
        first
            .as_str()
            .unwrap()
            .ends_with(&section_count.to_string()),
        "{first}"
    );
    eval(
        &b,
        &format!("{}.click(); return 1", facet_link("Section", 0)),
    )
    .await;
    let in_section = native(&session, "cache", json!({"section": section}));
    assert_eq!(in_section.total, section_count);
    let query = format!("?q=cache&section={}", section.replace('/', "%2F"));
    shows(&b, "cache", &in_section, Some(&query)).await;
    assert_eq!(
        eval(
            &b,
            &format!(
                "return {}.getAttribute('aria-current')",
                facet_link("Section", 0)
            )
        )
        .await,
        json!("true"),
        "the filter that is on is marked"
    );
    // A tag on top of the section: both apply.
    let with_tag = native(
        &session,
        "cache",
        json!({"section": section, "tags": [tag]}),
    );
    eval(&b, &format!(r#"[...document.querySelectorAll(".facet-group a.facet-value")].find(a => a.querySelector(".facet-name").textContent === {}).click(); return 1"#, json!(format!("#{tag}")))).await;
    let query = format!("{query}&tag={tag}");
    shows(&b, "cache", &with_tag, Some(&query)).await;
    let chips = eval(&b, r#"return [...document.querySelectorAll("a.facet-value.active .facet-name")].map(n => n.textContent)"#).await;
    assert_eq!(chips.as_array().unwrap().len(), 2, "{chips}");
    // Taking the section off leaves the tag.
    eval(
        &b,
        &format!("{}.click(); return 1", facet_link("Section", 0)),
    )
    .await;
    let only_tag = native(&session, "cache", json!({"tags": [tag]}));
    shows(&b, "cache", &only_tag, Some(&format!("?q=cache&tag={tag}"))).await;
    click(&b, "a.facet-clear").await;
    shows(&b, "cache", &all, Some("?q=cache")).await;

    // Everything so far ran in the one Worker the first keystroke started.
    assert_eq!(eval(&b, "return window.workersStarted").await, json!(1));

    // A newer search of a channel replaces the one waiting, never the one running, and the
    // Worker stays.
    let outcome = eval(&b, r#"
        const one = bake.search("cache", { channel: "t" }).then(r => "ok " + r.total, e => e.kind);
        const two = bake.search("stale", { channel: "t" }).then(r => "ok " + r.total, e => e.kind);
        const three = bake.search("health checks", { channel: "t" }).then(r => "ok " + r.total, e => e.kind);
        return await Promise.all([one, two, three]);"#).await;
    let health = native(&session, "health checks", json!({}));
    assert_eq!(
        outcome,
        json!([
            format!("ok {}", all.total),
            "superseded",
            format!("ok {}", health.total)
        ])
    );
    assert_eq!(eval(&b, "return window.workersStarted").await, json!(1));

    // Sub-results: a long page lists its matching sections, each linking to its heading
    // with the words to highlight.
    let hit = all
        .hits
        .iter()
        .find(|h| h.sub_results.len() >= 2)
        .expect("a hit of 'cache' with sub-results");
    let subs = eval(&b, &format!(r#"const li = [...document.querySelectorAll(".search-results > li")].find(li => li.querySelector("a.hit-title").getAttribute("href").startsWith({}));
        return [...li.querySelectorAll(".sub-results a")].map(a => a.getAttribute("href"))"#, json!(format!("{}?", hit.url)))).await;
    let words = hit.words.join("+");
    let expected_subs: Vec<String> = hit
        .sub_results
        .iter()
        .map(|s| format!("{}?highlight={words}#{}", hit.url, s.anchor))
        .collect();
    assert_eq!(subs, json!(expected_subs));

    // Following one opens the page at that section with the query's words marked.
    let target = &hit.sub_results[1];
    eval(
        &b,
        &format!(
            r##"document.querySelector('.sub-results a[href$="#{}"]').click(); return 1"##,
            target.anchor
        ),
    )
    .await;
    let marked = b
        .wait_for(
            r#"CSS.highlights.get("bake-search") && [...CSS.highlights.get("bake-search")].map(r => r.toString().toLowerCase())"#,
            20,
        )
        .await;
    let marked: Vec<&str> = marked
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(!marked.is_empty());
    assert!(
        marked.iter().all(|w| hit.words.iter().any(|h| h == w)),
        "only the hit's words are marked: {marked:?} vs {:?}",
        hit.words
    );
    assert_eq!(
        eval(&b, "return location.hash").await,
        json!(format!("#{}", target.anchor))
    );
    // The section is in view: the browser scrolled to the anchor.
    let top = eval(
        &b,
        &format!(
            "return Math.round(document.getElementById({}).getBoundingClientRect().top)",
            json!(target.anchor)
        ),
    )
    .await;
    assert!(top.as_i64().unwrap().abs() < 200, "{top}");

    b.close().await;
}
