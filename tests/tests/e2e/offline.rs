//! Offline (issue 7): the service worker keeps the page shell, the engine's device store
//! (OPFS) keeps data blocks, `bake.offline` saves whole databases. Real `bake serve`
//! servers, stopped to take the network away; nothing mocked.

use std::time::Duration;

use bake_tests::{
    Browser, demo_site, native_engine, numbers_as_f64, query_file, serve_on,
    site_manifest as manifest,
};
use serde_json::{Value, json};

/// [`Browser::eval_exact`], failing the test on a thrown error.
async fn eval_json(b: &Browser, body: &str) -> Value {
    b.eval_exact(body)
        .await
        .unwrap_or_else(|e| panic!("{e}\nin: {body}"))
}

/// Waits until the service worker controls the page (it installed and precached the shell).
async fn wait_controlled(b: &Browser) {
    b.wait_for("navigator.serviceWorker.controller && 1", 30)
        .await;
}

/// Requests for data parts in the server's log.
fn data_requests(server: &bake::serve::ServerHandle) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.contains("/_data/"))
        .count()
}

/// The device store writes a query's blocks after the query answers; give it a moment
/// before the page (and its Worker) goes away.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(1500)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shell_and_visited_pages_load_with_the_server_stopped() {
    let site = demo_site();
    let server = serve_on(site, 0);
    let port = server.addr.port();
    let base = format!("http://{}", server.addr);
    let b = Browser::start().await;
    b.client
        .goto(&format!("{base}/caching/cache-control/"))
        .await
        .unwrap();
    wait_controlled(&b).await;
    // The service worker keeps a fixed name and is revalidated on every visit.
    let sw = eval_json(&b, "const r = await fetch('/bake-sw.js', {cache: 'no-store'}); return [r.status, r.headers.get('cache-control'), (await r.text()).length];").await;
    assert_eq!(sw[0], json!(200), "{sw}");
    assert_eq!(sw[1], json!("public, max-age=0, must-revalidate"), "{sw}");
    eprintln!("service worker: {} bytes", sw[2]);
    let caches = eval_json(&b, "return await caches.keys();").await;
    let caches = caches.as_array().unwrap();
    assert_eq!(caches.len(), 1, "{caches:?}");
    assert!(
        caches[0].as_str().unwrap().starts_with("bake-shell-"),
        "{caches:?}"
    );
    let web_manifest = eval_json(&b, "const l = document.querySelector('link[rel=manifest]'); const r = await fetch(l.href); return await r.json();").await;
    assert_eq!(web_manifest["start_url"], json!("/"), "{web_manifest}");
    assert_eq!(
        web_manifest["display"],
        json!("standalone"),
        "{web_manifest}"
    );
    assert!(
        !web_manifest["name"].as_str().unwrap().is_empty(),
        "{web_manifest}"
    );

    drop(server);
    // The site's home, search, SQL console and 404 pages were precached; the page visited
    // was kept; each loads with its stylesheet and scripts.
    for (path, selector) in [
        ("/", "main h1, main h2"),
        ("/search/", "form.search-form"),
        ("/sql/", "#sql-text"),
        ("/404.html", "main"),
        ("/caching/cache-control/", "main h1"),
    ] {
        b.client.goto(&format!("{base}{path}")).await.unwrap();
        let ok = b
            .wait_for(
                &format!(
                    "document.querySelector({sel}) && document.styleSheets.length && document.styleSheets[0].cssRules.length > 0 && window.bake && 'ok'",
                    sel = json!(selector)
                ),
                10,
            )
            .await;
        assert_eq!(ok, json!("ok"), "{path}");
    }
    // A page never visited says so, instead of the browser's error page.
    b.client.goto(&format!("{base}/tags/")).await.unwrap();
    let text = b
        .wait_for("document.querySelector('main h1')?.textContent", 10)
        .await;
    assert_eq!(text, json!("You are offline"));

    // Back online, pages come from the network again (network first).
    let server = serve_on(site, port);
    b.client
        .goto(&format!("{base}/caching/cache-control/"))
        .await
        .unwrap();
    b.wait_for("document.querySelector('main h1') && 1", 10)
        .await;
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r.contains("/caching/cache-control/")),
        "{:?}",
        server.requests()
    );
    b.close().await;
}

const SQL: &str = "SELECT carrier, count(*) AS n FROM flights WHERE origin = 'LGA' AND month = 3 GROUP BY 1 ORDER BY 1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visited_site_answers_the_same_search_and_query_offline() {
    let site = demo_site();
    let server = serve_on(site, 0);
    let port = server.addr.port();
    let base = format!("http://{}", server.addr);
    let b = Browser::start().await;
    b.client.goto(&format!("{base}/sql/")).await.unwrap();
    wait_controlled(&b).await;
    let run = format!(
        "const q = await bake.sql('nyc', {}); const s = await bake.search('cache key', {{limit: 10}}); return {{q, s}};",
        json!(SQL)
    );
    let online = eval_json(&b, &run).await;
    assert!(
        online["q"]["stats"]["requests"].as_u64().unwrap() >= 1,
        "{}",
        online["q"]["stats"]
    );
    assert!(online["q"]["rows"].as_array().unwrap().len() > 3);
    assert!(online["s"]["total"].as_u64().unwrap() > 0);
    settle().await;

    // A fresh Worker (an empty memory cache): the same query comes from the device store,
    // with no request to the host.
    let before = data_requests(&server);
    let again = eval_json(
        &b,
        &format!(
            "bake.restart({{device: true}}); return await bake.sql('nyc', {});",
            json!(SQL)
        ),
    )
    .await;
    assert_eq!(again["rows"], online["q"]["rows"]);
    assert_eq!(again["stats"]["requests"], json!(0), "{}", again["stats"]);
    assert!(
        again["stats"]["device_reads"].as_u64().unwrap() >= 1,
        "{}",
        again["stats"]
    );
    assert_eq!(data_requests(&server), before, "{:?}", server.requests());
    // `bake.restart()` without `device` starts cold: the device store is not read.
    let cold = eval_json(
        &b,
        &format!(
            "bake.restart(); return await bake.sql('nyc', {});",
            json!(SQL)
        ),
    )
    .await;
    assert_eq!(cold["rows"], online["q"]["rows"]);
    assert_eq!(cold["stats"]["device_reads"], json!(0), "{}", cold["stats"]);
    assert!(
        cold["stats"]["requests"].as_u64().unwrap() >= 1,
        "{}",
        cold["stats"]
    );
    settle().await;

    // The server stops: reload, and the same search and query answer, equal to the online ones.
    drop(server);
    b.client.goto(&format!("{base}/sql/")).await.unwrap();
    b.wait_for("window.bake && 1", 10).await;
    let offline = eval_json(&b, &run).await;
    assert_eq!(offline["q"]["columns"], online["q"]["columns"]);
    assert_eq!(offline["q"]["rows"], online["q"]["rows"]);
    assert_eq!(offline["q"]["stats"]["requests"], json!(0));
    for (what, stats) in [
        ("cold", &online["q"]["stats"]),
        ("warm from the device", &again["stats"]),
        ("offline, from the device", &offline["q"]["stats"]),
    ] {
        eprintln!(
            "{SQL}: {what}: {} requests, {} bytes from the network, {} device reads ({} bytes), {} memory hits, {} ms",
            stats["requests"],
            stats["bytes"],
            stats["device_reads"],
            stats["device_bytes"],
            stats["cache_hits"],
            stats["ms"]
        );
    }
    assert_eq!(offline["s"]["hits"], online["s"]["hits"]);
    assert_eq!(offline["s"]["total"], online["s"]["total"]);

    // A query that needs blocks this device never fetched fails at once, and says why.
    let failed = eval_json(
        &b,
        "const t = performance.now(); try { await bake.sql('nyc', 'SELECT avg(temp) FROM weather WHERE temp > 50'); return 'ran'; } catch (e) { return {kind: e.kind, message: e.message, ms: performance.now() - t}; }",
    )
    .await;
    let message = failed["message"].as_str().unwrap_or_default();
    assert_eq!(failed["kind"], json!("offline"), "{failed}");
    assert!(
        message.contains(" kB (of ")
            && message.contains("connect, or make this database available offline"),
        "{message}"
    );
    assert!(failed["ms"].as_f64().unwrap() < 2000.0, "{failed}");
    eprintln!("offline miss answered in {} ms: {message}", failed["ms"]);

    // The search page itself answers offline too.
    b.client
        .goto(&format!("{base}/search/?q=cache+key"))
        .await
        .unwrap();
    let status = b.wait_for(r#"/results? for/.test(document.querySelector(".search-status").textContent) && document.querySelector(".search-status").textContent"#, 30).await;
    assert!(status.as_str().unwrap().contains("result"), "{status}");
    let _ = port;
    b.close().await;
}

/// Clicks a button of the offline control of `name` once it shows.
async fn click_offline(b: &Browser, name: &str, class: &str) {
    let sel = json!(format!("[data-bake-offline=\"{name}\"] .{class}"));
    b.wait_for(&format!("document.querySelector({sel}) && 1"), 30)
        .await;
    b.eval(&format!("document.querySelector({sel}).click(); return 1;"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_database_and_index_answer_with_no_network_and_remove_frees_the_space() {
    let site = demo_site();
    let m = manifest(site);
    let server = serve_on(site, 0);
    let base = format!("http://{}", server.addr);
    let b = Browser::start().await;
    b.client.goto(&format!("{base}/sql/")).await.unwrap();
    wait_controlled(&b).await;
    let status = eval_json(&b, "return await bake.offline.status();").await;
    let nyc = status
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == json!("nyc"))
        .cloned()
        .unwrap();
    let nyc_bytes = m
        .files
        .iter()
        // Its file and hot sidecar, and the other databases' sidecars (SQL attaches them).
        .filter(|(name, _)| name.starts_with("nyc.sqlite") || name.ends_with(".sqlite.hot"))
        .map(|(_, f)| f.size)
        .sum::<u64>();
    assert_eq!(nyc["bytes"], json!(nyc_bytes), "{nyc}");
    assert_eq!(nyc["kind"], json!("database"));
    assert_eq!(nyc["complete"], json!(false), "{nyc}");
    eprintln!("nyc for offline use: {nyc_bytes} bytes");
    // The control on /sql/ shows the size and the space left.
    let line = b
        .wait_for(
            r#"document.querySelector('[data-bake-offline="nyc"] .offline-state')?.textContent"#,
            30,
        )
        .await;
    let line = line.as_str().unwrap();
    assert!(
        line.contains(" MB") && line.contains("free on this device"),
        "{line}"
    );

    // Cancel a save part way; the next save resumes where it stopped.
    let cancelled = eval_json(
        &b,
        "const c = new AbortController(); let seen = 0; try { await bake.offline.save('nyc', {signal: c.signal, onProgress: (p) => { if (p.bytes > 0 && ++seen === 2) c.abort(); }}); return 'finished'; } catch (e) { return e.kind; }",
    )
    .await;
    assert_eq!(cancelled, json!("cancelled"));
    let partial = eval_json(
        &b,
        "return (await bake.offline.status()).find((e) => e.name === 'nyc');",
    )
    .await;
    let stored = partial["stored_bytes"].as_u64().unwrap();
    assert!(stored > 0 && stored < nyc_bytes, "{partial}");
    assert_eq!(partial["complete"], json!(false));
    // Resumed from the control: the first progress starts where the cancelled save stopped.
    b.eval("window.firstProgress = null; const s = bake.offline.save; bake.offline.save = (n, o) => s(n, {...o, onProgress: (p) => { if (window.firstProgress === null) window.firstProgress = p.bytes; o.onProgress(p); }}); return 1;")
        .await
        .unwrap();
    click_offline(&b, "nyc", "offline-save").await;
    let saved = b
        .wait_for(r#"document.querySelector('[data-bake-offline="nyc"]').dataset.state === "saved" && document.querySelector('[data-bake-offline="nyc"]').textContent"#, 120)
        .await;
    assert!(
        saved.as_str().unwrap().starts_with("Available offline · "),
        "{saved}"
    );
    let first = eval_json(&b, "return window.firstProgress;").await;
    assert!(first.as_u64().unwrap() >= stored, "{first} < {stored}");
    // And the search index, by the JS API.
    let search = eval_json(&b, "return await bake.offline.save('search');").await;
    assert_eq!(search["complete"], json!(true), "{search}");
    assert_eq!(search["saved"], json!(true), "{search}");
    let usage_saved = eval_json(&b, "return (await navigator.storage.estimate()).usage;")
        .await
        .as_f64()
        .unwrap();

    // The server stops: 20 queries on nyc equal their native answers, none asks the network.
    drop(server);
    b.client.goto(&format!("{base}/sql/")).await.unwrap();
    b.wait_for("window.bake && 1", 10).await;
    let cases = query_file();
    let mut sql = wasm_query::sql::SqlSession::open(native_engine(site, &m), &m).unwrap();
    let mut saved_reads = 0;
    for case in cases.sql.iter().filter(|c| c.db == "nyc").take(20) {
        let native = sql
            .query(&case.db, &case.sql, &Value::Null, 10_000)
            .unwrap_or_else(|e| panic!("{}: {e}", case.sql));
        let got = eval_json(
            &b,
            &format!(
                "bake.restart({{device: true}}); return await bake.sql('nyc', {});",
                json!(case.sql)
            ),
        )
        .await;
        assert_eq!(
            got["stats"]["requests"],
            json!(0),
            "{}: {}",
            case.sql,
            got["stats"]
        );
        saved_reads += got["stats"]["device_reads"].as_u64().unwrap();
        assert_eq!(got["columns"], json!(native.columns), "{}", case.sql);
        assert_eq!(
            numbers_as_f64(&got["rows"]),
            numbers_as_f64(&json!(native.rows)),
            "{}",
            case.sql
        );
    }
    eprintln!("20 queries on the saved nyc, offline: 0 requests, {saved_reads} device reads");
    let native_search =
        wasm_query::search::SearchSession::open(native_engine(site, &m), &m).unwrap();
    for case in cases.search.iter().take(10) {
        let opts: wasm_query::search::SearchOptions =
            serde_json::from_value(Value::Object(case.options.clone())).unwrap();
        let native = native_search.search(&case.query, &opts).unwrap();
        let got = eval_json(
            &b,
            &format!(
                "return await bake.search({}, {});",
                json!(case.query),
                Value::Object(case.options.clone())
            ),
        )
        .await;
        assert_eq!(got["stats"]["requests"], json!(0), "{}", case.query);
        assert_eq!(got["total"], json!(native.total), "{}", case.query);
        let urls = |hits: &Value| {
            hits.as_array()
                .unwrap()
                .iter()
                .map(|h| h["url"].clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            urls(&got["hits"]),
            urls(&serde_json::to_value(&native.hits).unwrap()),
            "{}",
            case.query
        );
    }

    // Remove frees the space, and the status says so.
    let server = serve_on(site, server_port(&base));
    b.client.goto(&format!("{base}/sql/")).await.unwrap();
    wait_controlled(&b).await;
    click_offline(&b, "nyc", "offline-remove").await;
    b.wait_for(
        r#"document.querySelector('[data-bake-offline="nyc"]').dataset.state === "not-saved" && 1"#,
        30,
    )
    .await;
    let after = eval_json(&b, "return [(await navigator.storage.estimate()).usage, (await bake.offline.status()).find((e) => e.name === 'nyc')];").await;
    assert!(
        after[0].as_f64().unwrap() < usage_saved - nyc_bytes as f64 / 2.0,
        "{} then {}",
        usage_saved,
        after[0]
    );
    assert_eq!(after[1]["saved"], json!(false), "{}", after[1]);
    assert_eq!(after[1]["complete"], json!(false), "{}", after[1]);
    drop(server);
    b.close().await;
}

fn server_port(base: &str) -> u16 {
    base.rsplit(':').next().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tabs_query_at_once_and_share_the_device_store() {
    let site = demo_site();
    let server = serve_on(site, 0);
    let base = format!("http://{}", server.addr);
    let b = Browser::start().await;
    b.client.goto(&format!("{base}/sql/")).await.unwrap();
    wait_controlled(&b).await;
    let first = b.client.window().await.unwrap();
    let warm = eval_json(
        &b,
        &format!("return await bake.sql('nyc', {});", json!(SQL)),
    )
    .await;
    settle().await;
    let second = b.client.new_window(true).await.unwrap().handle;
    b.client.switch_to_window(second.clone()).await.unwrap();
    b.client.goto(&format!("{base}/sql/")).await.unwrap();
    b.wait_for("window.bake && 1", 10).await;

    // Both tabs' Workers hold the same stored parts at once; a query runs in each at once.
    let other = "SELECT origin, count(*) FROM flights WHERE month = 7 GROUP BY 1 ORDER BY 1";
    b.client.switch_to_window(first.clone()).await.unwrap();
    b.eval(&format!(
        "bake.restart({{device: true}}); window.pending = bake.sql('nyc', {}); return 1;",
        json!(other)
    ))
    .await
    .unwrap();
    b.client.switch_to_window(second.clone()).await.unwrap();
    let in_second = eval_json(
        &b,
        &format!("return await bake.sql('nyc', {});", json!(SQL)),
    )
    .await;
    b.client.switch_to_window(first.clone()).await.unwrap();
    let in_first = eval_json(&b, "return await window.pending;").await;
    assert_eq!(in_second["rows"], warm["rows"]);
    assert_eq!(
        in_second["stats"]["requests"],
        json!(0),
        "{}",
        in_second["stats"]
    );
    assert_eq!(
        in_first["rows"].as_array().unwrap().len(),
        3,
        "{}",
        in_first["rows"]
    );
    settle().await;

    // What either tab fetched, the other reads from the device.
    b.client.switch_to_window(second.clone()).await.unwrap();
    let before = data_requests(&server);
    let again = eval_json(
        &b,
        &format!(
            "bake.restart({{device: true}}); return await bake.sql('nyc', {});",
            json!(other)
        ),
    )
    .await;
    assert_eq!(again["rows"], in_first["rows"]);
    assert_eq!(again["stats"]["requests"], json!(0), "{}", again["stats"]);
    assert_eq!(data_requests(&server), before);
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_parts_no_manifest_names_are_pruned_on_the_next_online_visit() {
    let site = demo_site();
    let server = serve_on(site, 0);
    let base = format!("http://{}", server.addr);
    let b = Browser::start().await;
    b.client.goto(&format!("{base}/sql/")).await.unwrap();
    wait_controlled(&b).await;
    // A part of an older build, left on the device (its hash is in no manifest of this site).
    let stale = "0123456789abcdef";
    eval_json(
        &b,
        &format!(
            "const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('bake-store', {{create: true}});
             for (const name of ['{stale}.part', '{stale}.map']) {{
               const w = await (await dir.getFileHandle(name, {{create: true}})).createWritable();
               await w.write(new Uint8Array(4096).fill(255)); await w.close();
             }}
             return 1;"
        ),
    )
    .await;
    let files = "const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('bake-store'); const names = []; for await (const n of dir.keys()) names.push(n); return names.sort();";
    let listed = eval_json(&b, files).await;
    assert!(listed.to_string().contains(stale), "{listed}");
    let r = eval_json(
        &b,
        "return (await bake.sql('nyc', 'SELECT count(*) FROM airlines')).rows;",
    )
    .await;
    assert_eq!(r, json!([[16]]));
    settle().await;
    let listed = eval_json(&b, files).await;
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(!names.iter().any(|n| n.starts_with(stale)), "{names:?}");
    // The parts this build names stay.
    assert!(names.iter().any(|n| n.ends_with(".part")), "{names:?}");
    drop(server);
    b.close().await;
}

/// Builds a tiny site (one page, database `db` with table `t` from `csv`) in `dir`; returns
/// its output folder. Building again replaces the folder: a redeploy.
fn tiny_site(dir: &std::path::Path, csv: &str) -> std::path::PathBuf {
    tiny_site_with(dir, csv, "")
}

/// [`tiny_site`] with `extra` appended to its bake.toml.
fn tiny_site_with(dir: &std::path::Path, csv: &str, extra: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("content/data")).unwrap();
    std::fs::write(
        dir.join("bake.toml"),
        format!("title = \"Tiny\"\n\n[databases.db.tables.t]\nsource = \"data/t.csv\"\n{extra}"),
    )
    .unwrap();
    std::fs::write(
        dir.join("content/_index.md"),
        "+++\ntitle = \"Home\"\n+++\nWelcome.\n",
    )
    .unwrap();
    std::fs::write(dir.join("content/data/t.csv"), csv).unwrap();
    let config = bake::config::Config::load(&dir.join("bake.toml")).unwrap();
    let out = dir.join("site");
    bake::build::build(
        &config,
        &bake::build::BuildOptions {
            out: Some(out.clone()),
            quiet: true,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("the tiny site does not build: {e}"));
    out
}

/// Content hashes of the parts of database `db` (its file and hot sidecar) the site's
/// manifest names (the search index of the one page stays the same across the builds).
fn part_hashes(site: &std::path::Path) -> Vec<String> {
    manifest(site)
        .files
        .iter()
        .filter(|(name, _)| name.starts_with("db.sqlite"))
        .flat_map(|(_, f)| f.parts.iter())
        .map(|p| p.url.rsplit('.').nth(1).unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redeploy_never_mixes_versions_and_a_saved_database_shows_its_update() {
    let dir = tempfile::tempdir().unwrap();
    let site = tiny_site(dir.path(), "n,word\n1,one\n2,two\n");
    let old_parts = part_hashes(&site);
    let server = serve_on(&site, 0);
    let base = format!("http://{}", server.addr);
    let b = Browser::start().await;
    b.client.goto(&format!("{base}/sql/")).await.unwrap();
    wait_controlled(&b).await;
    let q = "SELECT group_concat(word, ',') FROM (SELECT word FROM t ORDER BY n)";
    let saved = eval_json(&b, "return await bake.offline.save('db');").await;
    assert_eq!(saved["complete"], json!(true), "{saved}");
    let before = eval_json(
        &b,
        &format!("return (await bake.sql('db', {})).rows;", json!(q)),
    )
    .await;
    assert_eq!(before, json!([["one,two"]]));

    // Redeploy with other data while the page is open.
    let site = tiny_site(dir.path(), "n,word\n1,uno\n2,dos\n3,tres\n");
    assert!(part_hashes(&site).iter().all(|h| !old_parts.contains(h)));
    // The open page keeps answering from its own, consistent version (or says to reload),
    // in a fresh Worker too: never the new rows mixed with the old.
    for js in [
        format!("return (await bake.sql('db', {})).rows;", json!(q)),
        format!(
            "bake.restart({{device: true}}); return (await bake.sql('db', {})).rows;",
            json!(q)
        ),
    ] {
        match b
            .eval(&format!(
                "const v = await (async () => {{ {js} }})(); return JSON.stringify(v);"
            ))
            .await
        {
            Ok(v) => assert_eq!(v, json!("[[\"one,two\"]]")),
            Err(e) => assert!(e.contains("reload"), "{e}"),
        }
    }

    // A reload gets the new build: the saved database says an update is there, queries
    // answer the new rows, and the old build's parts are pruned from the device.
    b.client.goto(&format!("{base}/sql/")).await.unwrap();
    b.wait_for("window.bake && 1", 10).await;
    let line = b
        .wait_for(
            r#"document.querySelector('[data-bake-offline="db"] .offline-state')?.textContent"#,
            30,
        )
        .await;
    assert!(
        line.as_str().unwrap().starts_with("Update available"),
        "{line}"
    );
    let status = eval_json(
        &b,
        "return (await bake.offline.status()).find((e) => e.name === 'db');",
    )
    .await;
    assert_eq!(status["saved"], json!(true), "{status}");
    assert_eq!(status["update"], json!(true), "{status}");
    assert_eq!(status["complete"], json!(false), "{status}");
    let after = eval_json(
        &b,
        &format!("return (await bake.sql('db', {})).rows;", json!(q)),
    )
    .await;
    assert_eq!(after, json!([["uno,dos,tres"]]));
    // That query fetched all of this small database: the new build is the saved one now.
    let status = eval_json(
        &b,
        "return (await bake.offline.status()).find((e) => e.name === 'db');",
    )
    .await;
    assert_eq!(
        [&status["saved"], &status["update"], &status["complete"]],
        [&json!(true), &json!(false), &json!(true)],
        "{status}"
    );
    settle().await;
    let names = eval_json(&b, "const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('bake-store'); const names = []; for await (const n of dir.keys()) names.push(n); return names;").await;
    for h in &old_parts {
        assert!(!names.to_string().contains(h.as_str()), "{h} kept: {names}");
    }
    drop(server);
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_save_that_does_not_fit_is_refused_with_a_clear_message() {
    let site = demo_site();
    let server = serve_on(site, 0);
    let base = format!("http://{}", server.addr);
    let b = Browser::start().await;
    // The search page has the index's control.
    b.client.goto(&format!("{base}/search/")).await.unwrap();
    let line = b
        .wait_for(
            r#"document.querySelector('[data-bake-offline="search"] .offline-state')?.textContent"#,
            30,
        )
        .await;
    assert!(
        line.as_str()
            .unwrap()
            .starts_with("Make the search index available offline: "),
        "{line}"
    );
    // A table page has its database's control.
    b.client
        .goto(&format!("{base}/tables/nyc/airlines/"))
        .await
        .unwrap();
    let line = b
        .wait_for(
            r#"document.querySelector('[data-bake-offline="nyc"] .offline-state')?.textContent"#,
            30,
        )
        .await;
    assert!(line.as_str().unwrap().contains(" MB"), "{line}");
    // The browser lets this site keep 1 MB more (a fault: the real quota is far larger).
    b.eval("navigator.storage.estimate = async () => ({ usage: 0, quota: 1e6 }); return 1;")
        .await
        .unwrap();
    let nyc_reads = |server: &bake::serve::ServerHandle| {
        server
            .requests()
            .iter()
            .filter(|r| r.contains("/_data/nyc.sqlite."))
            .count()
    };
    let before = nyc_reads(&server);
    click_offline(&b, "nyc", "offline-save").await;
    let error = b
        .wait_for(
            r#"document.querySelector('[data-bake-offline="nyc"] .error')?.textContent"#,
            30,
        )
        .await;
    let error = error.as_str().unwrap();
    assert!(
        error.starts_with("not enough space on this device: nyc needs ")
            && error.contains("1.0 MB"),
        "{error}"
    );
    let status = eval_json(
        &b,
        "return (await bake.offline.status()).find((e) => e.name === 'nyc');",
    )
    .await;
    assert_eq!(
        [&status["saved"], &status["complete"]],
        [&json!(false), &json!(false)],
        "{status}"
    );
    let kind = eval_json(
        &b,
        "try { await bake.offline.save('nyc'); return 'saved'; } catch (e) { return e.kind; }",
    )
    .await;
    assert_eq!(kind, json!("quota"));
    // Nothing was downloaded for it.
    assert_eq!(nyc_reads(&server), before, "{:?}", server.requests());
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_device_store_evicts_past_its_bound_but_never_a_saved_database() {
    // A site with a 1 MiB device store (`[offline] device_cache_mib = 1` in bake.toml), and
    // a table of about 3 MB.
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("n,word\n");
    for i in 0..60_000 {
        csv.push_str(&format!("{i},word-{i}-{}\n", "x".repeat(30)));
    }
    let site = tiny_site_with(dir.path(), &csv, "\n[offline]\ndevice_cache_mib = 1\n");
    let html = std::fs::read_to_string(site.join("index.html")).unwrap();
    assert!(
        html.contains("content=1 name=bake-device-cache-mib"),
        "the page carries the bound"
    );
    let server = serve_on(&site, 0);
    let base = format!("http://{}", server.addr);
    let b = Browser::start().await;
    b.client.goto(&format!("{base}/sql/")).await.unwrap();
    wait_controlled(&b).await;
    let stored = "return (await bake.offline.status()).find((e) => e.name === 'db');";
    let scan =
        "return (await bake.sql('db', \"SELECT count(*) FROM t WHERE word LIKE '%-7-%'\")).rows;";
    assert_eq!(eval_json(&b, scan).await, json!([[1]]));
    settle().await;
    let after = eval_json(&b, stored).await;
    assert!(
        after["bytes"].as_u64().unwrap() > 2 * 1024 * 1024,
        "{after}"
    );
    // More than the bound was fetched; the least recently used parts went.
    assert!(
        after["stored_bytes"].as_u64().unwrap() <= 1024 * 1024,
        "{after}"
    );

    // Saved, the same database stays whole, past the bound, after queries.
    let saved = eval_json(&b, "return await bake.offline.save('db');").await;
    assert_eq!(saved["complete"], json!(true), "{saved}");
    assert_eq!(eval_json(&b, scan).await, json!([[1]]));
    settle().await;
    let kept = eval_json(&b, stored).await;
    assert_eq!(kept["stored_bytes"], kept["bytes"], "{kept}");
    assert_eq!(kept["complete"], json!(true), "{kept}");
    drop(server);
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_shows_progress_cancels_and_offers_to_resume() {
    let site = demo_site();
    let server = serve_on(site, 0);
    let base = format!("http://{}", server.addr);
    let b = Browser::start().await;
    b.client.goto(&format!("{base}/sql/")).await.unwrap();
    click_offline(&b, "nyc", "offline-save").await;
    let box_js = r#"document.querySelector('[data-bake-offline="nyc"]')"#;
    let shown = b
        .wait_for(
            &format!("{box_js}.querySelector('.offline-progress')?.value > 0 && {box_js}.querySelector('.offline-done').textContent"),
            60,
        )
        .await;
    assert!(shown.as_str().unwrap().contains(" of "), "{shown}");
    click_offline(&b, "nyc", "offline-cancel").await;
    let resume = b
        .wait_for(
            &format!("{box_js}.querySelector('.offline-save')?.textContent === 'Resume' && {box_js}.querySelector('.offline-state').textContent"),
            30,
        )
        .await;
    assert!(
        resume.as_str().unwrap().contains("already here"),
        "{resume}"
    );
    let status = eval_json(
        &b,
        "return (await bake.offline.status()).find((e) => e.name === 'nyc');",
    )
    .await;
    assert_eq!(status["complete"], json!(false), "{status}");
    drop(server);
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_repeated_after_a_browser_restart_sends_no_request() {
    let site = demo_site();
    let server = serve_on(site, 0);
    let base = format!("http://{}", server.addr);
    let profile = tempfile::tempdir().unwrap();
    let run = format!("return await bake.sql('nyc', {});", json!(SQL));
    let wait_bake = "const t = Date.now(); while (!window.bake && Date.now() - t < 10000) await new Promise((r) => setTimeout(r, 50)); return 1;";

    let b = Browser::start_on_profile(profile.path()).await;
    b.client.goto(&format!("{base}/sql/")).await.unwrap();
    eval_json(&b, wait_bake).await;
    let first = eval_json(&b, &run).await;
    assert!(first["stats"]["requests"].as_u64().unwrap() >= 1, "{first}");
    settle().await;
    b.close().await;

    // The same profile in a new browser: the query comes from the device.
    let before = data_requests(&server);
    let b = Browser::start_on_profile(profile.path()).await;
    b.client.goto(&format!("{base}/sql/")).await.unwrap();
    eval_json(&b, wait_bake).await;
    let again = eval_json(&b, &run).await;
    assert_eq!(again["rows"], first["rows"], "{again}");
    assert_eq!(again["stats"]["requests"], json!(0), "{}", again["stats"]);
    assert_eq!(data_requests(&server), before, "{:?}", server.requests());
    b.close().await;
}

/// The browser clears the site's storage (eviction under pressure, or the user): the saved
/// database is no longer "available offline", and its queries go to the network again and
/// answer as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_the_browser_cleared_is_detected_and_queries_fall_back_to_the_network() {
    let site = demo_site();
    let server = serve_on(site, 0);
    let base = format!("http://{}", server.addr);
    let b = Browser::start().await;
    b.client.goto(&format!("{base}/sql/")).await.unwrap();
    wait_controlled(&b).await;
    let sql = "SELECT count(*), max(code) FROM http_status";
    let saved = eval_json(
        &b,
        &format!(
            "await bake.offline.save('web'); const s = (await bake.offline.status()).find((e) => e.name === 'web'); bake.restart({{device: true}}); const r = await bake.sql('web', {}); return {{s, r}};",
            json!(sql)
        ),
    )
    .await;
    assert_eq!(saved["s"]["complete"], json!(true), "{saved}");
    assert_eq!(saved["r"]["stats"]["requests"], json!(0), "{saved}");
    // What a browser's eviction leaves: no bake store at all (the Workers, which hold its
    // files open, are ended first, as the browser would end the site's).
    let cleared = eval_json(
        &b,
        "bake.restart(); await new Promise((r) => setTimeout(r, 200)); const root = await navigator.storage.getDirectory(); for await (const name of root.keys()) await root.removeEntry(name, {recursive: true}); return (await bake.offline.status()).find((e) => e.name === 'web');",
    )
    .await;
    assert_eq!(cleared["complete"], json!(false), "{cleared}");
    assert_eq!(cleared["stored_bytes"], json!(0), "{cleared}");
    b.client.goto(&format!("{base}/sql/")).await.unwrap();
    let state = b
        .wait_for(
            r#"document.querySelector('[data-bake-offline="web"]')?.dataset.state"#,
            30,
        )
        .await;
    assert_eq!(state, json!("not-saved"));
    let before = data_requests(&server);
    let again = eval_json(
        &b,
        &format!(
            "bake.restart({{device: true}}); return await bake.sql('web', {});",
            json!(sql)
        ),
    )
    .await;
    assert_eq!(again["rows"], saved["r"]["rows"]);
    assert!(
        again["stats"]["requests"].as_u64().unwrap() >= 1,
        "{}",
        again["stats"]
    );
    assert!(data_requests(&server) > before);
    b.close().await;
}
