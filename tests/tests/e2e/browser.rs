//! End-to-end: the demo site served by `bake serve` on 127.0.0.1, driven in headless
//! Chromium. Asserts on what a visitor sees, and that browser answers equal native ones.

use std::time::Duration;

use bake_tests::{
    Browser, FaultProxy, demo_site, native_engine, numbers_as_f64, query_file, serve,
    site_manifest as manifest,
};
use serde_json::{Value, json};

/// Clicks the SQL console's Run button once the console's script is ready.
async fn click_run(b: &Browser) {
    b.wait_for(
        "window.bake && document.getElementById('sql-text').value && 1",
        20,
    )
    .await;
    b.eval(r#"document.getElementById("sql-run").click(); return 1;"#)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_box_search_page_sql_console_and_table_page() {
    let site = demo_site();
    let server = serve(site);
    let base = format!("http://{}", server.addr);
    let b = Browser::start().await;

    // The header search box shows instant results.
    b.client.goto(&format!("{base}/")).await.unwrap();
    b.eval(r#"const i = document.querySelector("form.search-box input"); i.value = "stale"; i.dispatchEvent(new Event("input")); return 1;"#)
        .await
        .unwrap();
    let first = b
        .wait_for(
            r#"document.querySelector(".search-dropdown [role=option]")?.dataset.url"#,
            30,
        )
        .await;
    // A page hit opens at its best section with the words to highlight on arrival.
    assert_eq!(
        first,
        json!("/caching/stale-while-revalidate/?highlight=stale#origin-side-collapsing")
    );

    // The search page lists results with highlighted terms and a count.
    b.client
        .goto(&format!("{base}/search/?q=cache+key"))
        .await
        .unwrap();
    let status = b.wait_for(r#"/results? for/.test(document.querySelector(".search-status").textContent) && document.querySelector(".search-status").textContent"#, 30).await;
    // The counters are in the status's tooltip, not in the sentence a visitor reads.
    assert!(!status.as_str().unwrap().contains("request"), "{status}");
    let title = b
        .eval(r#"return document.querySelector(".search-status").title"#)
        .await
        .unwrap();
    assert!(title.as_str().unwrap().contains("request"), "{title}");
    let marks = b
        .wait_for(
            r#"document.querySelectorAll(".search-results mark").length"#,
            10,
        )
        .await;
    assert!(marks.as_u64().unwrap() >= 1);
    // Hits name their section by its title, not its path.
    let sections = b
        .eval(r#"return [...document.querySelectorAll(".hit-section")].map(s => s.textContent)"#)
        .await
        .unwrap();
    let sections: Vec<&str> = sections
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(sections.contains(&"Caching"), "{sections:?}");
    assert!(!sections.iter().any(|s| s.starts_with('/')), "{sections:?}");
    // The two search landmarks on /search/ have different names.
    let names = b
        .eval(r#"return [...document.querySelectorAll("[role=search]")].map(f => f.getAttribute("aria-label"))"#)
        .await
        .unwrap();
    assert_eq!(names, json!(["Site search", "Search with filters"]));
    // One page of results gets no pager (a lone "1" says nothing) …
    let pager = b
        .eval(r#"return document.querySelector(".search-pager").childElementCount"#)
        .await
        .unwrap();
    assert_eq!(pager, json!(0));
    // … several get numbers, Previous and Next.
    let pager_of = |url: String| {
        let b = &b;
        async move {
            b.client.goto(&url).await.unwrap();
            b.wait_for(
                r#"document.querySelector(".search-pager").childElementCount && 1"#,
                30,
            )
            .await;
            let links = b
                .eval(r#"return [...document.querySelectorAll(".search-pager > *")].map(a => (a.getAttribute("aria-current") ? "*" : "") + a.textContent)"#)
                .await
                .unwrap();
            links
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    let first = pager_of(format!("{base}/search/?q=cache")).await;
    assert_eq!(first.first().map(String::as_str), Some("*1"), "{first:?}");
    assert_eq!(
        first.last().map(String::as_str),
        Some("Next →"),
        "{first:?}"
    );
    let second = pager_of(format!("{base}/search/?q=cache&page=2")).await;
    assert_eq!(
        second.first().map(String::as_str),
        Some("← Previous"),
        "{second:?}"
    );
    assert!(second.contains(&"*2".to_string()), "{second:?}");

    // The SQL console runs a query over Range and shows rows and stats.
    b.client
        .goto(&format!(
            "{base}/sql/?db=nyc&sql=SELECT%20count(*)%20AS%20n%20FROM%20flights"
        ))
        .await
        .unwrap();
    click_run(&b).await;
    let cell = b
        .wait_for(
            r#"document.querySelector('#sql-result td')?.textContent"#,
            60,
        )
        .await;
    assert_eq!(cell, json!("336776"));
    let stats = b
        .wait_for(r#"document.getElementById("sql-stats").textContent"#, 5)
        .await;
    assert!(stats.as_str().unwrap().contains("requests"), "{stats}");
    // A failing query shows its error inline.
    b.eval(r#"document.getElementById("sql-text").value = "SELECT nope FROM flights"; document.getElementById("sql-run").click(); return 1;"#)
        .await
        .unwrap();
    let err = b.wait_for(r#"!document.getElementById("sql-error").hidden && document.getElementById("sql-error").textContent"#, 30).await;
    assert!(
        err.as_str().unwrap().contains("no such column: nope"),
        "{err}"
    );

    // A table page pages, sorts and filters with SQL over Range.
    b.client
        .goto(&format!("{base}/tables/nyc/airlines/"))
        .await
        .unwrap();
    let info = b.wait_for(r#"/ of 16 /.test(document.querySelector(".table-info").textContent) && document.querySelector(".table-info").textContent"#, 60).await;
    assert!(
        info.as_str().unwrap().starts_with("Rows 1–16 of 16"),
        "{info}"
    );
    b.client
        .goto(&format!("{base}/tables/nyc/airlines/?sort=name&desc=1"))
        .await
        .unwrap();
    let top = b.wait_for(r#"document.querySelector(".data-table tbody tr td:nth-child(2)")?.textContent === "Virgin America" && "ok""#, 60).await;
    assert_eq!(top, json!("ok"));
    b.client
        .goto(&format!(
            "{base}/tables/nyc/flights/?f=dest:HNL&facet=origin"
        ))
        .await
        .unwrap();
    let info = b.wait_for(r#"/ of 707 /.test(document.querySelector(".table-info").textContent) && document.querySelector(".table-info").textContent"#, 60).await;
    assert!(info.as_str().unwrap().contains("of 707"), "{info}");
    let facets = b.wait_for(r#"document.querySelectorAll(".facet").length && [...document.querySelectorAll(".facet")].map(f => f.textContent).join("|")"#, 60).await;
    assert_eq!(facets, json!("EWR (365)|JFK (342)"));
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_answers_equal_native_answers() {
    let site = demo_site();
    let m = manifest(site);
    let server = serve(site);
    let base = format!("http://{}", server.addr);
    let cases = query_file();
    assert!(cases.sql.len() >= 50 && cases.search.len() >= 20);
    let b = Browser::start().await;
    b.client.goto(&format!("{base}/")).await.unwrap();
    b.wait_for("window.bake && 1", 10).await;

    let mut sql = wasm_query::sql::SqlSession::open(native_engine(site, &m), &m).unwrap();
    for case in &cases.sql {
        let native = sql
            .query(&case.db, &case.sql, &Value::Null, 10_000)
            .unwrap_or_else(|e| panic!("{}: {e}", case.sql));
        // A cold Worker for every query: restart() ends the Workers, the call starts a new one.
        let js = format!(
            "bake.restart(); const r = await bake.sql({}, {}); return r;",
            json!(case.db),
            json!(case.sql)
        );
        let got = b
            .eval_exact(&js)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", case.sql));
        assert!(
            got["stats"]["requests"].as_u64().unwrap() >= 1,
            "cold worker fetched nothing: {}",
            case.sql
        );
        assert_eq!(got["columns"], json!(native.columns), "{}", case.sql);
        assert_eq!(
            numbers_as_f64(&got["rows"]),
            numbers_as_f64(&json!(native.rows)),
            "{}",
            case.sql
        );
    }

    let search = wasm_query::search::SearchSession::open(native_engine(site, &m), &m).unwrap();
    for case in &cases.search {
        let opts: wasm_query::search::SearchOptions =
            serde_json::from_value(Value::Object(case.options.clone())).unwrap();
        let native = search.search(&case.query, &opts).unwrap();
        let js = format!(
            "bake.restart(); return await bake.search({}, {});",
            json!(case.query),
            Value::Object(case.options.clone())
        );
        let got = b
            .eval_exact(&js)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", case.query));
        assert!(
            got["stats"]["requests"].as_u64().unwrap() >= 1,
            "cold worker fetched nothing: {}",
            case.query
        );
        assert_eq!(got["total"], json!(native.total), "{}", case.query);
        // Scores are f32: compare them exactly, as f32.
        let as_f32 = |hits: &Value| -> Value {
            let mut hits = hits.clone();
            for h in hits.as_array_mut().expect("hits") {
                h["score"] = json!(h["score"].as_f64().expect("score") as f32);
            }
            hits
        };
        assert_eq!(
            as_f32(&got["hits"]),
            as_f32(&json!(native.hits)),
            "{}",
            case.query
        );
        assert_eq!(
            got["hits"].as_array().map(Vec::len),
            Some(native.hits.len())
        );
    }
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xss_payloads_stay_text_everywhere() {
    let site = demo_site();
    let server = serve(site);
    let base = format!("http://{}", server.addr);
    let b = Browser::start().await;
    let payload = r#"<img src=x onerror="window.__xss=1">"#;
    // The CSP alone keeps `window.__xss` undefined, so the check is on the DOM: the payload
    // must be text, never an element or an event-handler attribute. "undefined" stands for
    // a clean page; otherwise the offending elements' HTML.
    let visible = |b: &Browser| {
        let b = b.client.clone();
        async move {
            let v = b
                .execute(
                    "const bad = [...document.querySelectorAll('img[src=\"x\"], [onerror], [onload], main script, main iframe')];\n\
                     return [bad.length || typeof window.__xss !== 'undefined' ? bad.map(e => e.outerHTML).join(' ') || 'window.__xss set' : 'undefined', document.body.innerText];",
                    vec![],
                )
                .await
                .unwrap();
            (
                v[0].as_str().unwrap().to_string(),
                v[1].as_str().unwrap().to_string(),
            )
        }
    };
    // A page whose title and code block hold the payload.
    b.client
        .goto(&format!("{base}/search-engines/escaping-and-xss/"))
        .await
        .unwrap();
    let (xss, text) = visible(&b).await;
    assert_eq!(xss, "undefined");
    assert!(
        text.contains(payload),
        "the payload should be visible as text"
    );
    // Search results.
    b.client
        .goto(&format!("{base}/search/?q=onerror"))
        .await
        .unwrap();
    b.wait_for(
        r#"document.querySelectorAll(".search-results li").length"#,
        30,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (xss, text) = visible(&b).await;
    assert_eq!(xss, "undefined");
    assert!(text.contains("Escaping output"), "{text}");
    // The SQL console, with the CSV cell.
    b.client
        .goto(&format!(
            "{base}/sql/?db=web&sql=SELECT%20input%20FROM%20escaping_examples"
        ))
        .await
        .unwrap();
    click_run(&b).await;
    b.wait_for(r#"document.querySelectorAll('#sql-result td').length"#, 60)
        .await;
    let (xss, text) = visible(&b).await;
    assert_eq!(xss, "undefined");
    assert!(text.contains(payload));
    // The table page.
    b.client
        .goto(&format!("{base}/tables/web/escaping_examples/"))
        .await
        .unwrap();
    b.wait_for(
        r#"/Rows 1/.test(document.querySelector(".table-info").textContent)"#,
        60,
    )
    .await;
    let (xss, text) = visible(&b).await;
    assert_eq!(xss, "undefined");
    assert!(text.contains(payload));
    // The probe itself: the payload parsed as HTML is caught (the CSP blocks its handler).
    b.eval(&format!(
        "document.querySelector('main').insertAdjacentHTML('beforeend', {}); return 1;",
        json!(payload)
    ))
    .await
    .unwrap();
    let (xss, _) = visible(&b).await;
    assert!(xss.contains("onerror"), "{xss}");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_fetching_and_budget_stops_a_query() {
    let site = demo_site();
    let server = serve(site);
    let base = format!("http://{}", server.addr);
    let b = Browser::start().await;
    b.client.goto(&format!("{base}/sql/")).await.unwrap();
    b.wait_for("window.bake && 1", 10).await;
    // Warm the SQL Worker, then start a full scan and cancel it while it runs.
    b.eval("await bake.sql('web', 'SELECT 1'); return 1;")
        .await
        .unwrap();
    let err = b
        .eval(
            "const p = bake.sql('nyc', 'SELECT sum(length(tailnum)) FROM flights, (SELECT 1 UNION ALL SELECT 2)', null, {budget: 1e9});\n\
             await new Promise(r => setTimeout(r, 150)); bake.cancel(); await p; return 'finished';",
        )
        .await
        .unwrap_err();
    assert!(err.contains("cancelled"), "{err}");
    // A read the Worker had already sent (it was blocked in it) cannot be recalled: Chromium
    // aborts it, the engine may retry that same range before the Worker is torn down, and
    // those land after cancel() returned. No other range may follow. Wait until the log has
    // been quiet for longer than the longest retry backoff, then check.
    let data_requests = || {
        server
            .requests()
            .into_iter()
            .filter(|r| r.contains("/_data/"))
            .collect::<Vec<_>>()
    };
    let at_cancel = data_requests().len();
    let (mut settled, mut quiet_since) = (at_cancel, std::time::Instant::now());
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while quiet_since.elapsed() < Duration::from_millis(2000)
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = data_requests().len();
        if now != settled {
            (settled, quiet_since) = (now, std::time::Instant::now());
        }
    }
    let log = data_requests();
    let after: std::collections::BTreeSet<&String> = log[at_cancel..].iter().collect();
    assert!(
        after.len() <= 2,
        "reads after cancel: {:?}",
        &log[at_cancel..]
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        data_requests().len(),
        settled,
        "the cancelled Worker kept fetching"
    );

    // The byte budget stops a query, says how much it fetched, and a higher budget works.
    let r = b.eval("bake.cancel(); try { await bake.sql('nyc', 'SELECT count(*) FROM flights WHERE arr_delay > 300', null, {budget: 200000}); return 'ran'; } catch (e) { return [e.kind, e.message]; }").await.unwrap();
    assert_eq!(r[0], json!("budget"), "{r}");
    assert!(r[1].as_str().unwrap().contains("budget"), "{r}");
    let r = b.eval("const r = await bake.sql('nyc', 'SELECT count(*) FROM flights WHERE arr_delay > 300', null, {budget: 1e9}); return r.rows[0][0];").await.unwrap();
    assert_eq!(r, json!(611));
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gallery_kind_filter_works_without_javascript() {
    use fantoccini::Locator;
    let site = demo_site();
    let server = serve(site);
    let base = format!("http://{}", server.addr);
    let b = Browser::start_without_javascript().await;
    // JavaScript really is off: the SQL console's <noscript> text is parsed as elements.
    b.client.goto(&format!("{base}/sql/")).await.unwrap();
    assert_eq!(
        b.client
            .find_all(Locator::Css("noscript p"))
            .await
            .unwrap()
            .len(),
        1
    );
    // The gallery shows every card; a kind link leads to a static page with that kind only.
    b.client.goto(&format!("{base}/gallery/")).await.unwrap();
    let all = b
        .client
        .find_all(Locator::Css("li.diagram-card"))
        .await
        .unwrap()
        .len();
    b.client
        .find(Locator::Css("a[data-kind=mermaid]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let url = b.client.current_url().await.unwrap();
    assert_eq!(url.path(), "/gallery/mermaid/");
    let shown = b
        .client
        .find_all(Locator::Css("li.diagram-card"))
        .await
        .unwrap();
    let mermaid_sources = count_mermaid_sources(&bake_tests::repo_root().join("content"));
    assert_eq!(
        shown.len(),
        mermaid_sources,
        "one card per Mermaid diagram in content/"
    );
    assert!(shown.len() < all);
    for card in shown {
        assert_eq!(
            card.attr("data-kind").await.unwrap().as_deref(),
            Some("mermaid")
        );
    }
    // A card's picture is an SVG file the browser fetched, and its title link works.
    let src = b
        .client
        .find(Locator::Css("li.diagram-card img"))
        .await
        .unwrap()
        .attr("src")
        .await
        .unwrap()
        .unwrap();
    assert!(
        src.starts_with("/_assets/diagrams/") && src.ends_with(".svg"),
        "{src}"
    );
    // Images load asynchronously: give the request a moment to reach the server's log.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !server.requests().iter().any(|r| r.contains(&src)) {
        assert!(
            std::time::Instant::now() < deadline,
            "the thumbnail {src} was not requested"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.client
        .find(Locator::Css("li.diagram-card h2 a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert!(
        b.client
            .current_url()
            .await
            .unwrap()
            .path()
            .starts_with("/diagrams/")
    );
    assert_eq!(
        b.client
            .find_all(Locator::Css(".diagram-source-text pre"))
            .await
            .unwrap()
            .len(),
        1
    );
    b.close().await;
}

/// Mermaid diagrams written in content/: ```mermaid fences and .mmd/.mermaid files.
fn count_mermaid_sources(dir: &std::path::Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            n += count_mermaid_sources(&p);
        } else if p.extension().is_some_and(|x| x == "mmd" || x == "mermaid") {
            n += 1;
        } else if p.extension().is_some_and(|x| x == "md") {
            let text = std::fs::read_to_string(&p).unwrap();
            n += text
                .lines()
                .filter(|l| l.trim_start().starts_with("```mermaid"))
                .count();
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_sql_link_fills_the_console_but_runs_only_on_a_click() {
    let site = demo_site();
    let server = serve(site);
    let base = format!("http://{}", server.addr);
    let b = Browser::start().await;
    b.client
        .goto(&format!(
            "{base}/sql/?db=nyc&sql=SELECT%20count(*)%20AS%20n%20FROM%20flights"
        ))
        .await
        .unwrap();
    let text = b
        .wait_for(
            "window.bake && document.getElementById('sql-text').value",
            20,
        )
        .await;
    assert_eq!(text, json!("SELECT count(*) AS n FROM flights"));
    assert_eq!(
        b.eval("return document.getElementById('sql-db').value;")
            .await
            .unwrap(),
        json!("nyc")
    );
    // Give a query every chance to start on its own: none does, and nothing is fetched.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let shown = b
        .eval("return [document.querySelectorAll('#sql-result td').length, document.getElementById('sql-stats').textContent];")
        .await
        .unwrap();
    assert_eq!(shown[0], json!(0), "{shown}");
    assert!(shown[1].as_str().unwrap().contains("click Run"), "{shown}");
    let data = |server: &bake::serve::ServerHandle| {
        server
            .requests()
            .iter()
            .filter(|r| r.contains("/_data/") || r.contains(".wasm"))
            .count()
    };
    assert_eq!(data(&server), 0, "{:?}", server.requests());
    click_run(&b).await;
    let cell = b
        .wait_for(
            r#"document.querySelector('#sql-result td')?.textContent"#,
            60,
        )
        .await;
    assert_eq!(cell, json!("336776"));
    assert!(data(&server) > 0);
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_stop_at_their_time_and_size_limits_and_the_page_goes_on() {
    let site = demo_site();
    let server = serve(site);
    let base = format!("http://{}", server.addr);
    let b = Browser::start().await;
    b.client.goto(&format!("{base}/sql/")).await.unwrap();
    b.wait_for("window.bake && 1", 10).await;
    let endless =
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c";
    let r = b
        .eval(&format!(
            "const t = performance.now(); try {{ await bake.sql('web', {}, null, {{budget: 1e6, timeLimit: 1500}}); return 'ran'; }} \
             catch (e) {{ return [e.kind, e.message, performance.now() - t]; }}",
            json!(endless)
        ))
        .await
        .unwrap();
    assert_eq!(r[0], json!("time"), "{r}");
    assert!(r[1].as_str().unwrap().contains("time limit"), "{r}");
    let ms = r[2].as_f64().unwrap();
    assert!((1500.0..15_000.0).contains(&ms), "stopped after {ms} ms");
    for sql in ["SELECT randomblob(300000000)", "SELECT zeroblob(500000000)"] {
        let r = b
            .eval(&format!(
                "try {{ await bake.sql('web', {}); return 'ran'; }} catch (e) {{ return [e.kind, e.message]; }}",
                json!(sql)
            ))
            .await
            .unwrap();
        assert_eq!(r[0], json!("size"), "{sql}: {r}");
        assert!(
            r[1].as_str().unwrap().contains("size limit of 64 MB"),
            "{sql}: {r}"
        );
    }
    // The same Worker still answers.
    let r = b
        .eval("const r = await bake.sql('web', 'SELECT 6 * 7'); return r.rows[0][0];")
        .await
        .unwrap();
    assert_eq!(r, json!(42));
    // The console shows the limit's message and offers to raise it.
    b.eval(r#"document.getElementById("sql-text").value = "SELECT zeroblob(500000000)"; document.getElementById("sql-run").click(); return 1;"#)
        .await
        .unwrap();
    let err = b
        .wait_for(r#"!document.getElementById("sql-error").hidden && document.getElementById("sql-error").textContent"#, 30)
        .await;
    let err = err.as_str().unwrap();
    assert!(
        err.contains("size limit") && err.contains("Run again with a 256 MB size limit"),
        "{err}"
    );
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_engine_start_is_retried_and_then_forgotten() {
    let site = demo_site();
    let server = serve(site);
    let proxy = FaultProxy::start(server.addr);
    let base = format!("http://{}", proxy.addr);
    let b = Browser::start().await;
    b.client.goto(&format!("{base}/")).await.unwrap();
    b.wait_for("window.bake && 1", 10).await;
    let meta = |name: &str| {
        let b = b.client.clone();
        let js = format!("return document.querySelector('meta[name=\"{name}\"]').content;");
        async move {
            b.execute(&js, vec![])
                .await
                .unwrap()
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let (worker, glue, wasm, manifest) = (
        meta("bake-worker").await,
        meta("bake-search-js").await,
        meta("bake-search-wasm").await,
        meta("bake-manifest").await,
    );
    // The Worker script fails for longer than the retries (each try and its probe): the
    // search fails with a clear message, and the next one starts afresh and works.
    proxy.fail(&worker, 500, 8);
    let r = b
        .eval("try { await bake.search('cache'); return 'ran'; } catch (e) { return e.message; }")
        .await
        .unwrap();
    let msg = r.as_str().unwrap();
    assert!(
        msg.contains("cannot start the query engine") && msg.contains("check the connection"),
        "{msg}"
    );
    assert_eq!(proxy.injected().len(), 8, "{:?}", proxy.injected());

    // Transient failures of every file a start needs: the first search still works.
    proxy.fail(&worker, 503, 1);
    proxy.fail(&glue, 500, 2);
    proxy.fail(&wasm, 500, 2);
    proxy.fail(&manifest, 502, 3);
    let r = b
        .eval("const r = await bake.search('cache'); return r.total;")
        .await
        .unwrap();
    assert!(r.as_u64().unwrap() > 0, "{r}");
    let injected = proxy.injected();
    for (file, times) in [(&worker, 9), (&glue, 2), (&wasm, 2), (&manifest, 3)] {
        assert_eq!(
            injected
                .iter()
                .filter(|l| l.contains(file.as_str()))
                .count(),
            times,
            "{file}: {injected:?}"
        );
    }

    // A longer outage of the SQL module: the first call fails with a clear message, and the
    // next one starts afresh and works, without a reload.
    let sql_wasm = meta("bake-sql-wasm").await;
    proxy.fail(&sql_wasm, 500, 4);
    let r = b
        .eval("try { await bake.sql('web', 'SELECT 1'); return 'ran'; } catch (e) { return e.message; }")
        .await
        .unwrap();
    let msg = r.as_str().unwrap();
    assert!(
        msg.contains(&sql_wasm) && msg.contains("check the connection"),
        "{msg}"
    );
    let r = b
        .eval("const r = await bake.sql('web', 'SELECT 6 * 7'); return r.rows[0][0];")
        .await
        .unwrap();
    assert_eq!(r, json!(42));
    b.close().await;

    // After a redeploy the manifest is gone (a fresh browser: nothing cached yet): the
    // message says to reload, and the failure is not kept.
    let b = Browser::start().await;
    b.client.goto(&format!("{base}/")).await.unwrap();
    b.wait_for("window.bake && 1", 10).await;
    proxy.fail(&manifest, 404, 1);
    let r = b
        .eval("try { await bake.databases(); return 'ran'; } catch (e) { return e.message; }")
        .await
        .unwrap();
    let msg = r.as_str().unwrap();
    assert!(
        msg.contains("the site was updated") && msg.contains("reload"),
        "{msg}"
    );
    let r = b
        .eval("const d = await bake.databases(); return d.length;")
        .await
        .unwrap();
    assert!(r.as_u64().unwrap() >= 1, "{r}");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_random_walk_query_is_bounded_reports_progress_and_obeys_its_request_budget() {
    let site = demo_site();
    let m = manifest(site);
    let server = serve(site);
    let base = format!("http://{}", server.addr);
    let b = Browser::start().await;
    b.client.goto(&format!("{base}/sql/")).await.unwrap();
    b.wait_for("window.bake && 1", 10).await;
    // Through the `origin` index SQLite visits a third of the flights in index order: one
    // request per table page before the bound (6,483 requests, 29.6 MB).
    let sql = "SELECT carrier, count(*) FROM flights WHERE origin = 'JFK' GROUP BY 1";
    let got = b
        .eval_exact(&format!(
            "const seen = []; const r = await bake.sql('nyc', {}, null, {{onProgress: (p) => seen.push(p)}}); return {{r, seen}};",
            json!(sql)
        ))
        .await
        .unwrap();
    let mut session = wasm_query::sql::SqlSession::open(native_engine(site, &m), &m).unwrap();
    let native = session.query("nyc", sql, &Value::Null, 10_000).unwrap();
    assert_eq!(
        numbers_as_f64(&got["r"]["rows"]),
        numbers_as_f64(&json!(native.rows))
    );
    let stats = &got["r"]["stats"];
    let requests = stats["requests"].as_u64().unwrap();
    assert!(requests <= 60, "{stats}");
    assert!(stats["sweeps"].as_u64().unwrap() >= 1, "{stats}");
    let seen = got["seen"].as_array().unwrap();
    assert!(!seen.is_empty(), "no progress was reported");
    let last = seen.last().unwrap();
    assert!(last["requests"].as_u64().unwrap() <= requests, "{last}");
    assert!(
        seen.iter().any(|p| p["expected"].as_u64().is_some()),
        "the sweep's total was never reported: {seen:?}"
    );

    // A query that needs more requests than its request budget stops with kind "requests";
    // the console offers to raise it.
    let r = b
        .eval("bake.restart(); try { await bake.sql('nyc', 'SELECT count(*) FROM flights WHERE arr_delay > 300', null, {maxRequests: 2}); return 'ran'; } catch (e) { return [e.kind, e.message]; }")
        .await
        .unwrap();
    assert_eq!(r[0], json!("requests"), "{r}");
    assert!(r[1].as_str().unwrap().contains("2 requests"), "{r}");
    b.eval(
        "document.getElementById('sql-text').value = 'SELECT count(*) FROM flights WHERE arr_delay > 300'; return 1;",
    )
    .await
    .unwrap();
    click_run(&b).await;
    let rows = b
        .wait_for(
            "document.querySelector('#sql-result td') && document.querySelector('#sql-result td').textContent",
            60,
        )
        .await;
    assert_eq!(rows, json!("611"));
    // The progress bar is gone once the answer is shown.
    let hidden = b
        .eval("return document.getElementById('sql-progress').hidden;")
        .await
        .unwrap();
    assert_eq!(hidden, json!(true));
    b.close().await;
}

/// A table page preloads what its first query needs (`<link rel=preload>`): the Worker then
/// takes those files from the HTTP cache, so each reaches the server once, and the data the
/// page shows comes with no more range requests than the query's own leaf reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preloaded_files_reach_the_server_once() {
    let site = demo_site();
    let server = serve(site);
    let base = format!("http://{}", server.addr);
    let b = Browser::start().await;
    b.client
        .goto(&format!("{base}/tables/nyc/airlines/"))
        .await
        .unwrap();
    b.wait_for(
        r#"/ of 16 /.test(document.querySelector(".table-info").textContent) && 1"#,
        60,
    )
    .await;
    let preloaded = b
        .eval("return [...document.querySelectorAll('link[rel=preload], link[rel=modulepreload]')].map(l => new URL(l.href).pathname);")
        .await
        .unwrap();
    let preloaded: Vec<String> = serde_json::from_value(preloaded).unwrap();
    assert!(
        preloaded.iter().any(|u| u.ends_with(".wasm")),
        "{preloaded:?}"
    );
    assert!(
        preloaded.iter().any(|u| u.contains(".hot.")),
        "{preloaded:?}"
    );
    // The document fetched them (not only listed them; nothing else on the page fetches the
    // Worker's files)...
    let by_link = b
        .eval("return performance.getEntriesByType('resource').map(e => new URL(e.name).pathname);")
        .await
        .unwrap();
    let by_link: Vec<String> = serde_json::from_value(by_link).unwrap();
    for url in &preloaded {
        assert!(by_link.contains(url), "{url} not preloaded: {by_link:?}");
    }
    // ...and the Worker, which needed every one of them, did not fetch them again.
    let log = server.requests();
    for url in &preloaded {
        let n = log.iter().filter(|l| *l == &format!("GET {url}")).count();
        assert_eq!(n, 1, "{url} was fetched {n} times: {log:#?}");
    }
    b.close().await;
}

/// On a table page `aria-sort` sits on the sorted column's header (not on its button), and
/// sorting or paging keeps keyboard focus on the control that was used, across the redraw.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_sorting_marks_the_header_and_keeps_focus() {
    let site = demo_site();
    let server = serve(site);
    let base = format!("http://{}", server.addr);
    let b = Browser::start().await;
    b.client
        .goto(&format!("{base}/tables/nyc/airlines/"))
        .await
        .unwrap();
    b.wait_for(
        r#"/ of 16 /.test(document.querySelector(".table-info").textContent) && 1"#,
        60,
    )
    .await;
    // Sort by name as a keyboard user would: focus the button, press it.
    b.eval("const s = [...document.querySelectorAll('button.sort')].find(x => x.textContent.startsWith('name')); s.focus(); s.click(); return 1;")
        .await
        .unwrap();
    let sorted = b
        .wait_for(
            r#"document.querySelector('th[aria-sort]') && [document.querySelector('th[aria-sort]').getAttribute('aria-sort'), document.querySelectorAll('[aria-sort]').length, document.querySelectorAll('button[aria-sort]').length, document.activeElement.dataset.key || document.activeElement.tagName]"#,
            60,
        )
        .await;
    assert_eq!(sorted, json!(["ascending", 1, 0, "sort:name"]));
    // Again: descending, focus still there.
    b.eval("document.activeElement.click(); return 1;")
        .await
        .unwrap();
    let sorted = b
        .wait_for(
            r#"document.querySelector('th[aria-sort=descending]') && document.activeElement.dataset.key"#,
            60,
        )
        .await;
    assert_eq!(sorted, json!("sort:name"));
    // Paging on a bigger table: Next keeps focus on Next.
    b.client
        .goto(&format!("{base}/tables/nyc/planes/"))
        .await
        .unwrap();
    b.wait_for(r#"document.querySelector('[data-key=next]') && 1"#, 60)
        .await;
    b.eval("const n = document.querySelector('[data-key=next]'); n.focus(); n.click(); return 1;")
        .await
        .unwrap();
    let focused = b
        .wait_for(
            r#"/page 2 of/.test(document.querySelector('nav.pager').textContent) && document.activeElement.dataset.key"#,
            60,
        )
        .await;
    assert_eq!(focused, json!("next"));
    b.close().await;
}

/// The header's search box is closed until there are results, opens as a combobox, and
/// closes with Escape, a click outside or focus leaving it; ↓/↑ choose a result, Enter opens
/// it, and `/` focuses the box from anywhere on the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_search_box_opens_closes_and_works_from_the_keyboard() {
    use fantoccini::Locator;
    use fantoccini::key::Key;
    let site = demo_site();
    let server = serve(site);
    let base = format!("http://{}", server.addr);
    let b = Browser::start().await;
    b.client.goto(&format!("{base}/caching/")).await.unwrap();
    b.wait_for("window.bake && 1", 20).await;
    const STATE: &str = r#"const i = document.querySelector("form.search-box input");
        const p = document.getElementById(i.getAttribute("aria-controls"));
        const active = i.getAttribute("aria-activedescendant");
        return { shown: getComputedStyle(p).display !== "none" && p.getBoundingClientRect().height > 0,
                 expanded: i.getAttribute("aria-expanded"), focused: document.activeElement === i,
                 active: active && document.getElementById(active).getAttribute("aria-selected") === "true"
                     ? [...p.querySelectorAll("[role=option]")].indexOf(document.getElementById(active)) : null,
                 options: p.querySelectorAll("[role=option][data-url]").length, value: i.value };"#;
    let state = || async { b.eval(STATE).await.unwrap() };

    // Before typing: no empty bar under the box.
    let s = state().await;
    assert_eq!(
        (&s["shown"], &s["expanded"], &s["focused"]),
        (&json!(false), &json!("false"), &json!(false)),
        "{s}"
    );
    assert_eq!(
        b.eval(r#"return document.querySelector("form.search-box input").getAttribute("role")"#)
            .await
            .unwrap(),
        json!("combobox")
    );

    // `/` from the page focuses the box (and is not typed into it).
    b.eval(r#"document.body.dispatchEvent(new KeyboardEvent("keydown", { key: "/", bubbles: true, cancelable: true })); return 1;"#)
        .await
        .unwrap();
    assert_eq!(state().await["focused"], json!(true));

    let input = b
        .client
        .find(Locator::Css("form.search-box input"))
        .await
        .unwrap();
    input.send_keys("cache").await.unwrap();
    b.wait_for(
        r#"document.querySelectorAll(".search-dropdown [role=option][data-url]").length > 2 && 1"#,
        30,
    )
    .await;
    let s = state().await;
    assert_eq!(
        (&s["shown"], &s["expanded"], &s["active"]),
        (&json!(true), &json!("true"), &Value::Null),
        "{s}"
    );
    let said = b
        .eval(r#"return document.querySelector(".search-box-status").textContent"#)
        .await
        .unwrap();
    assert!(said.as_str().unwrap().contains("results"), "{said}");

    // ↓ ↓ ↑ moves through the results; the box keeps focus.
    for key in [Key::Down, Key::Down, Key::Up] {
        input.send_keys(&key).await.unwrap();
    }
    let s = state().await;
    assert_eq!(
        (&s["active"], &s["focused"]),
        (&json!(0), &json!(true)),
        "{s}"
    );
    // ↑ from the first wraps to the last.
    input.send_keys(&Key::Up).await.unwrap();
    let s = state().await;
    assert_eq!(
        s["active"],
        json!(s["options"].as_u64().unwrap() - 1),
        "{s}"
    );

    // New results (typing on) drop the chosen one: its id now names another result.
    input.send_keys(" key").await.unwrap();
    b.wait_for(
        r#"(() => { const i = document.querySelector("form.search-box input");
            return i.value === "cache key" && !i.hasAttribute("aria-activedescendant")
                && document.querySelector(".search-box-status").textContent.length > 0; })() && 1"#,
        30,
    )
    .await;
    let s = state().await;
    assert_eq!(
        (&s["active"], &s["shown"]),
        (&Value::Null, &json!(true)),
        "{s}"
    );

    // Escape closes the list and keeps what was typed; ↓ opens it again.
    input.send_keys(&Key::Escape).await.unwrap();
    let s = state().await;
    assert_eq!(
        (&s["shown"], &s["expanded"], &s["active"], &s["value"]),
        (
            &json!(false),
            &json!("false"),
            &Value::Null,
            &json!("cache key")
        ),
        "{s}"
    );
    input.send_keys(&Key::Down).await.unwrap();
    assert_eq!(state().await["shown"], json!(true));

    // A click outside closes it; focusing the box again reopens it.
    b.client
        .find(Locator::Css("main h1"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let s = state().await;
    assert_eq!(
        (&s["shown"], &s["expanded"]),
        (&json!(false), &json!("false")),
        "{s}"
    );
    input.click().await.unwrap();
    assert_eq!(state().await["shown"], json!(true));

    // Tab moves focus out of the box: closed.
    input.send_keys(&Key::Tab).await.unwrap();
    assert_eq!(state().await["shown"], json!(false));

    // ↓ then Enter opens the first result.
    input.click().await.unwrap();
    input.send_keys(&Key::Down).await.unwrap();
    let want = b
        .eval(r#"return document.querySelector(".search-dropdown [role=option][data-url]").dataset.url"#)
        .await
        .unwrap();
    input.send_keys(&Key::Enter).await.unwrap();
    let want = format!("{base}{}", want.as_str().unwrap());
    let mut url = String::new();
    for _ in 0..100 {
        url = b.client.current_url().await.unwrap().to_string();
        if url == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(url, want);
    b.close().await;
}
