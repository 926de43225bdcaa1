//! End-to-end: the SQL console and the table pages as a visitor uses them (issue 12): where
//! a result lands, errors replacing results, paging a 10,000-row answer, a neutral Cancel,
//! exports of the filtered view, filters shown and checked, foreign-key links.

use bake_tests::{Browser, demo_site, serve};
use serde_json::{Value, json};

/// Records every Blob a page turns into a download URL, so a test can read what the
/// download buttons would save (`window.__blobs`).
const CAPTURE_DOWNLOADS: &str = "window.__blobs = []; const make = URL.createObjectURL.bind(URL); \
     URL.createObjectURL = (b) => { window.__blobs.push(b); return make(b); }; \
     HTMLAnchorElement.prototype.click = function () {}; return 1;";

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("a string: {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_result_in_view_error_replaces_it_cancel_is_neutral() {
    let site = demo_site();
    let server = serve(site);
    let base = format!("http://{}", server.addr);
    let b = Browser::start().await;
    b.client.goto(&format!("{base}/sql/")).await.unwrap();
    b.wait_for(
        "window.bake && document.querySelector('button[data-sql]') && 1",
        20,
    )
    .await;
    // Click an example from where the examples are: the result area is above the viewport.
    let before = b
        .eval(
            "const e = document.querySelector('button[data-sql]'); e.scrollIntoView({block: 'start'}); \
             await new Promise(r => requestAnimationFrame(r)); \
             const top = document.getElementById('sql-result').getBoundingClientRect().top; e.click(); return top;",
        )
        .await
        .unwrap();
    assert!(
        before.as_f64().unwrap() < 0.0,
        "the test starts with the result above the viewport: {before}"
    );
    let placed = b
        .wait_for(
            "document.querySelector('#sql-result td') && [document.querySelector('#sql-result table').getBoundingClientRect().top, innerHeight, document.getElementById('sql-status').getBoundingClientRect().top]",
            60,
        )
        .await;
    let (top, height, status_top) = (
        placed[0].as_f64().unwrap(),
        placed[1].as_f64().unwrap(),
        placed[2].as_f64().unwrap(),
    );
    assert!(
        (0.0..height - 40.0).contains(&top),
        "result at {top} in a {height} px viewport"
    );
    assert!(
        (0.0..height).contains(&status_top),
        "status at {status_top}"
    );
    // The visitor's line: rows and total time; the counters are behind "Details".
    let line = b
        .eval("return [document.getElementById('sql-status').textContent, document.getElementById('sql-details').hidden, document.getElementById('sql-details-text').textContent, document.getElementById('sql-status').dataset.ms, document.getElementById('dl-csv').disabled];")
        .await
        .unwrap();
    println!("example: {line}");
    let status = text(&line[0]);
    assert!(
        regex_like_rows_in_time(status),
        "status should read 'N rows in T': {status}"
    );
    assert!(
        !status.contains("request") && !status.contains("kB"),
        "{status}"
    );
    assert_eq!(line[1], json!(false));
    assert!(text(&line[2]).contains("requests"), "{line}");
    assert!(text(&line[2]).contains("starting the engine"), "{line}");
    assert!(text(&line[3]).parse::<u64>().is_ok(), "{line}");
    assert_eq!(line[4], json!(false));

    // An error replaces the result; the downloads go with it.
    b.eval(r#"document.getElementById("sql-text").value = "SELECT nope FROM flights"; document.getElementById("sql-db").value = "nyc"; document.getElementById("sql-run").click(); return 1;"#)
        .await
        .unwrap();
    let err = b
        .wait_for(
            r#"!document.getElementById("sql-error").hidden && [document.getElementById("sql-error").textContent, document.querySelectorAll('#sql-result tr').length, document.getElementById('dl-csv').disabled, document.getElementById('dl-json').disabled, document.getElementById('sql-downloads').hidden, document.getElementById('sql-error').getBoundingClientRect().top, innerHeight]"#,
            30,
        )
        .await;
    assert!(text(&err[0]).contains("no such column: nope"), "{err}");
    assert_eq!(
        err.as_array().unwrap()[1..5].to_vec(),
        vec![json!(0), json!(true), json!(true), json!(true)],
        "{err}"
    );
    let err_top = err[5].as_f64().unwrap();
    assert!((0.0..err[6].as_f64().unwrap()).contains(&err_top), "{err}");
    b.eval(CAPTURE_DOWNLOADS).await.unwrap();
    b.eval("document.getElementById('dl-csv').click(); return 1;")
        .await
        .unwrap();
    assert_eq!(
        b.eval("return window.__blobs.length;").await.unwrap(),
        json!(0),
        "a download after an error saved the old result"
    );

    // Cancel: a neutral status, not an error. The query takes seconds of SQLite's time
    // (every flight × 2,000), so the click lands while it runs even when its pages are in
    // the cache already (CI once saw a lighter query end in 143 ms, before the click).
    b.eval(r#"document.getElementById("sql-text").value = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) SELECT sum(length(tailnum) + i) FROM flights, n"; document.getElementById("sql-run").click(); return 1;"#)
        .await
        .unwrap();
    // Cancel once the query is fetching (its progress is on the bar's tooltip).
    b.wait_for(
        "!document.getElementById('sql-cancel').hidden && document.getElementById('sql-progress').title",
        20,
    )
    .await;
    b.eval("document.getElementById('sql-cancel').click(); return 1;")
        .await
        .unwrap();
    let cancelled = b
        .wait_for(
            "document.getElementById('sql-cancel').hidden && [document.getElementById('sql-status').textContent, document.getElementById('sql-error').hidden, document.getElementById('sql-error').textContent]",
            30,
        )
        .await;
    assert!(text(&cancelled[0]).starts_with("Cancelled"), "{cancelled}");
    assert_eq!(cancelled[1], json!(true), "{cancelled}");
    assert!(!text(&cancelled[0]).contains("Error"), "{cancelled}");
    b.close().await;
}

/// "3 rows in 120 ms", "10,000+ rows in 1.2 s"
fn regex_like_rows_in_time(s: &str) -> bool {
    let Some((count, time)) = s.split_once(" in ") else {
        return false;
    };
    let count_ok = count
        .trim_end_matches(" rows")
        .trim_end_matches(" row")
        .trim_end_matches('+')
        .chars()
        .all(|c| c.is_ascii_digit() || c == ',');
    count_ok && (time.ends_with(" ms") || time.ends_with(" s"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_pages_ten_thousand_rows_and_exports_them_all() {
    let site = demo_site();
    let server = serve(site);
    let base = format!("http://{}", server.addr);
    let b = Browser::start().await;
    b.client
        .goto(&format!(
            "{base}/sql/?db=nyc&sql=SELECT%20*%20FROM%20weather"
        ))
        .await
        .unwrap();
    b.wait_for(
        "window.bake && document.getElementById('sql-text').value && 1",
        20,
    )
    .await;
    // From the click to rows in the DOM, measured in the page.
    let ms = b
        .eval(
            "const t = performance.now(); document.getElementById('sql-run').click(); \
             while (!document.querySelector('#sql-result tbody tr')) await new Promise(r => requestAnimationFrame(r)); \
             return performance.now() - t;",
        )
        .await
        .unwrap();
    let shown = b
        .wait_for(
            "document.getElementById('sql-status').dataset.ms && [document.querySelectorAll('#sql-result tr').length, document.getElementById('sql-pager').textContent, document.getElementById('sql-status').textContent, Number(document.getElementById('sql-status').dataset.ms)]",
            30,
        )
        .await;
    println!(
        "SELECT * FROM weather: {:.0} ms from click to rows (the page reports {}): {shown}",
        ms.as_f64().unwrap(),
        shown[3]
    );
    let rows_in_dom = shown[0].as_u64().unwrap();
    assert!(
        (2..=201).contains(&rows_in_dom),
        "{rows_in_dom} rows in the DOM"
    );
    assert!(text(&shown[1]).contains("rows 1–200 of 10,000+"), "{shown}");
    assert!(text(&shown[2]).starts_with("10,000+ rows in "), "{shown}");
    assert!(shown[3].as_f64().unwrap() > 0.0);
    // Next: the second page, focus kept on Next.
    b.eval("const n = document.querySelector('#sql-pager [data-key=next]'); n.focus(); n.click(); return 1;")
        .await
        .unwrap();
    let second = b
        .wait_for(
            "/rows 201–400/.test(document.getElementById('sql-pager').textContent) && [document.activeElement.dataset.key, document.querySelectorAll('#sql-result tbody tr').length]",
            10,
        )
        .await;
    assert_eq!(second, json!(["next", 200]));
    // The downloads have every row, not the page shown.
    b.eval(CAPTURE_DOWNLOADS).await.unwrap();
    let exported = b
        .eval(
            "document.getElementById('dl-csv').click(); document.getElementById('dl-json').click(); \
             const [c, j] = window.__blobs; const csv = await c.text(); const json = JSON.parse(await j.text()); \
             return [csv.trimEnd().split('\\r\\n').length, json.rows.length, csv.split('\\r\\n')[0].split(',')[0]];",
        )
        .await
        .unwrap();
    assert_eq!(exported, json!([10001, 10000, "origin"]));
    // Again with the engine warm: what a second query costs from click to rows.
    let warm = b
        .eval(
            "const t = performance.now(); document.getElementById('sql-run').click(); \
             while (!document.getElementById('sql-status').dataset.ms || !document.querySelector('#sql-result tbody tr')) await new Promise(r => requestAnimationFrame(r)); \
             return [performance.now() - t, document.getElementById('sql-details-text').textContent, document.querySelectorAll('#sql-result tr').length];",
        )
        .await
        .unwrap();
    println!("SELECT * FROM weather, warm: {warm}");
    assert!(warm[2].as_u64().unwrap() <= 201, "{warm}");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_page_exports_the_view_opens_it_in_the_console_and_shows_filters() {
    let site = demo_site();
    let server = serve(site);
    let base = format!("http://{}", server.addr);
    let b = Browser::start().await;
    b.client
        .goto(&format!(
            "{base}/tables/nyc/flights/?f=dest:HNL&sort=dep_delay&desc=1"
        ))
        .await
        .unwrap();
    let info = b.wait_for(r#"/ of 707/.test(document.querySelector(".table-info").textContent) && !document.querySelector('.table-exports').hidden && [document.querySelector(".table-info").textContent, document.querySelector('.export-what').textContent, document.querySelector('.open-in-console').getAttribute('href'), [...document.querySelectorAll('.filter-chips button')].map(c => c.textContent)]"#, 60).await;
    assert!(text(&info[0]).starts_with("Rows 1–50 of 707"), "{info}");
    assert!(!text(&info[0]).contains("request"), "{info}");
    assert_eq!(info[1], json!("the 707 matching rows"));
    assert_eq!(info[3], json!(["dest: HNL ×"]));
    // Export: every matching row, in the view's order.
    b.eval(CAPTURE_DOWNLOADS).await.unwrap();
    b.eval("document.querySelector('.export-csv').click(); return 1;")
        .await
        .unwrap();
    b.wait_for("window.__blobs.length", 60).await;
    b.eval("document.querySelector('.export-json').click(); return 1;")
        .await
        .unwrap();
    b.wait_for("window.__blobs.length === 2", 60).await;
    let exported = b
        .eval(
            "const [c, j] = window.__blobs; const lines = (await c.text()).trimEnd().split('\\r\\n'); const json = JSON.parse(await j.text()); \
             const dest = json.columns.indexOf('dest'), delay = json.columns.indexOf('dep_delay'); \
             const delays = json.rows.map(r => r[delay]).filter(d => d !== null); \
             return [lines.length, json.rows.length, json.rows.every(r => r[dest] === 'HNL'), delays.every((d, i) => i === 0 || delays[i - 1] >= d)];",
        )
        .await
        .unwrap();
    assert_eq!(exported, json!([708, 707, true, true]));
    // The console link carries the view's SQL; the console fills it in and waits for Run.
    let href = text(&info[2]).to_string();
    b.client.goto(&format!("{base}{href}")).await.unwrap();
    let sql = b
        .wait_for(
            "window.bake && document.getElementById('sql-text').value",
            20,
        )
        .await;
    assert_eq!(
        sql,
        json!(r#"SELECT * FROM "flights" WHERE "dest" = 'HNL' ORDER BY "dep_delay" DESC, rowid"#)
    );
    assert_eq!(
        b.eval("return [document.getElementById('sql-db').value, document.querySelectorAll('#sql-result td').length];")
            .await
            .unwrap(),
        json!(["nyc", 0])
    );
    b.eval("document.getElementById('sql-run').click(); return 1;")
        .await
        .unwrap();
    let ran = b
        .wait_for(
            "document.getElementById('sql-status').dataset.ms && document.getElementById('sql-status').textContent",
            60,
        )
        .await;
    assert!(text(&ran).starts_with("707 rows in"), "{ran}");

    // A search hit's ?rowid= shows as a removable filter.
    b.client
        .goto(&format!("{base}/tables/nyc/airports/?rowid=790"))
        .await
        .unwrap();
    let row = b
        .wait_for(
            r#"/ of 1 /.test(document.querySelector(".table-info").textContent) && [document.querySelector('.table-filters').hidden, [...document.querySelectorAll('.filter-chips button')].map(c => c.textContent), document.querySelectorAll('.data-table tbody tr').length]"#,
            60,
        )
        .await;
    assert_eq!(
        row,
        json!([false, ["showing row 790 ×"], 1]),
        "one chip, no 'Clear all'"
    );
    b.eval("const c = document.querySelector('[data-key=\"chip:rowid\"]'); c.focus(); c.click(); return 1;")
        .await
        .unwrap();
    let cleared = b
        .wait_for(
            r#"/ of 1,\d{3} /.test(document.querySelector(".table-info").textContent) && [location.search, document.querySelector('.table-filters').hidden, document.querySelector(".table-info").textContent]"#,
            60,
        )
        .await;
    assert_eq!(cleared[0], json!(""), "{cleared}");
    assert_eq!(cleared[1], json!(true), "{cleared}");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_page_bad_filters_counts_headers_cells_fk_links_and_focus() {
    let site = demo_site();
    let server = serve(site);
    let base = format!("http://{}", server.addr);
    let b = Browser::start().await;
    // A bad filter says what is wrong instead of "Rows 0–0 of 0".
    for (query, expected) in [
        (
            "f=year:abc",
            "year is an INTEGER column: “abc” is not a number",
        ),
        ("f=nope:1", "There is no column “nope” in flights"),
    ] {
        b.client
            .goto(&format!("{base}/tables/nyc/flights/?{query}"))
            .await
            .unwrap();
        let shown = b
            .wait_for(
                r#"!document.querySelector('.table-error').hidden && [document.querySelector('.table-error').textContent, document.querySelector('.table-info').textContent, [...document.querySelectorAll('.filter-chips button')].length]"#,
                60,
            )
            .await;
        assert!(text(&shown[0]).contains(expected), "{query}: {shown}");
        assert!(!text(&shown[1]).contains("0–0"), "{query}: {shown}");
        assert_eq!(shown[2], json!(1), "{query}: a chip to remove it");
    }

    // Counts with separators; headers with name, sort indicator and type apart; cells that
    // do not wrap in a box that scrolls.
    b.client
        .goto(&format!("{base}/tables/nyc/weather/"))
        .await
        .unwrap();
    let page = b
        .wait_for(
            r#"/ of 26,1/.test(document.querySelector(".table-info").textContent) && (() => {
                const th = [...document.querySelectorAll('.data-table thead tr:first-child th')].find(t => t.querySelector('button.sort').firstChild.textContent === 'year');
                const heights = [...document.querySelectorAll('.data-table tbody tr')].map(r => r.getBoundingClientRect().height);
                const scroller = document.querySelector('.table-scroll');
                return [document.querySelector('.table-info').textContent, document.querySelector('.table-rows').textContent,
                  th.querySelector('button.sort').firstChild.textContent, th.querySelector('.sort-indicator').getAttribute('aria-hidden'),
                  th.querySelector('.sort-indicator').textContent.trim(), th.querySelector('.type').textContent,
                  th.innerText.replace(/\s+/g, ' ').trim(),
                  Math.max(...heights), getComputedStyle(document.querySelector('.data-table td')).whiteSpace,
                  getComputedStyle(scroller).overflowX, scroller.scrollWidth > scroller.clientWidth,
                  document.documentElement.scrollWidth <= document.documentElement.clientWidth,
                  [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > innerWidth + 1 && !e.closest('.table-scroll')).map(e => e.tagName + '.' + e.className).slice(0, 5)];
            })()"#,
            60,
        )
        .await;
    println!("weather: {page}");
    assert!(text(&page[0]).starts_with("Rows 1–50 of 26,1"), "{page}");
    assert!(text(&page[1]).starts_with("26,1"), "{page}");
    assert_eq!(page[2], json!("year"));
    assert_eq!(page[3], json!("true"));
    assert_eq!(page[4], json!("↕"));
    assert_eq!(page[5], json!("type INTEGER"));
    let th = text(&page[6]);
    assert!(!th.contains("yearINTEGER"), "{th}");
    let row_height = page[7].as_f64().unwrap();
    assert!(row_height < 40.0, "rows {row_height} px tall");
    assert_eq!(page[8], json!("nowrap"));
    assert_eq!(page[9], json!("auto"));
    assert_eq!(page[10], json!(true), "the wide table scrolls in its box");
    assert_eq!(
        page[11],
        json!(true),
        "the page itself does not scroll sideways: {}",
        page[12]
    );

    // Foreign keys (declared by the demo's bake.toml, read with pragma_foreign_key_list):
    // a value links to the referenced table filtered to that row.
    b.client
        .goto(&format!("{base}/tables/nyc/flights/"))
        .await
        .unwrap();
    let links = b
        .wait_for(
            r#"document.querySelector('.data-table td a.fk') && (() => {
                const cols = [...document.querySelectorAll('.data-table thead tr:first-child th')].map(t => t.querySelector('button.sort').firstChild.textContent);
                const row = document.querySelector('.data-table tbody tr');
                const at = (c) => row.children[cols.indexOf(c)];
                return [at('carrier').querySelector('a')?.getAttribute('href'), at('carrier').textContent, at('origin').querySelector('a')?.getAttribute('href'), at('year').querySelector('a')];
            })()"#,
            60,
        )
        .await;
    let carrier = text(&links[1]).to_string();
    assert_eq!(
        links[0],
        json!(format!("/tables/nyc/airlines/?f=carrier%3A{carrier}")),
        "{links}"
    );
    assert!(
        text(&links[2]).starts_with("/tables/nyc/airports/?f=faa%3A"),
        "{links}"
    );
    assert_eq!(links[3], Value::Null, "year is no foreign key");
    b.client
        .goto(&format!("{base}{}", text(&links[0])))
        .await
        .unwrap();
    let target = b
        .wait_for(
            r#"/ of 1 /.test(document.querySelector(".table-info").textContent) && [document.querySelector('.data-table tbody td').textContent, [...document.querySelectorAll('.filter-chips button')].map(c => c.textContent)]"#,
            60,
        )
        .await;
    assert_eq!(
        target,
        json!([carrier.clone(), [format!("carrier: {carrier} ×")]])
    );

    // Focus stays in a filter after it is applied.
    b.client
        .goto(&format!("{base}/tables/nyc/airlines/"))
        .await
        .unwrap();
    b.wait_for(
        r#"/ of 16 /.test(document.querySelector(".table-info").textContent) && 1"#,
        60,
    )
    .await;
    b.eval("const i = document.querySelector('[data-key=\"filter:carrier\"]'); i.focus(); i.value = 'UA'; i.dispatchEvent(new Event('change')); return 1;")
        .await
        .unwrap();
    let focused = b
        .wait_for(
            r#"/ of 1 /.test(document.querySelector(".table-info").textContent) && [document.activeElement.dataset.key, document.activeElement.value]"#,
            60,
        )
        .await;
    assert_eq!(focused, json!(["filter:carrier", "UA"]));
    b.close().await;
}
