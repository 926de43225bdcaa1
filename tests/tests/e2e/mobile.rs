//! The theme on a phone: at 375 × 812 CSS pixels the header's section links fold behind a
//! "Menu" disclosure, the header stays short, no page of the demo scrolls sideways (wide
//! tables, code and diagrams scroll in their own box), and form controls are touch-sized.
//! The navigation's "Search" entry leads to the search page.

use std::path::Path;
use std::time::{Duration, Instant};

use bake_tests::{Browser, demo_site, serve};
use serde_json::{Value, json};

/// A phone held upright.
const PHONE: (u32, u32) = (375, 812);
/// The most of the phone's height the header (brand, menu button, search box) may take.
const HEADER_MAX_PX: f64 = 120.0;
/// The smallest height of a control a finger has to hit.
const TOUCH_PX: f64 = 44.0;

/// Every HTML page the demo builds, as the path a visitor asks for ("/", "/caching/", …).
fn demo_pages(site: &Path) -> Vec<String> {
    fn walk(dir: &Path, site: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, site, out);
            } else if path.extension().is_some_and(|e| e == "html") {
                let rel = path.strip_prefix(site).unwrap().to_string_lossy();
                let url = match rel.strip_suffix("index.html") {
                    Some(dir) => format!("/{dir}"),
                    None => format!("/{rel}"),
                };
                out.push(url);
            }
        }
    }
    let mut pages = Vec::new();
    walk(site, site, &mut pages);
    pages.sort();
    pages
}

async fn eval(b: &Browser, js: &str) -> Value {
    b.eval(js).await.unwrap_or_else(|e| panic!("{js}: {e}"))
}

/// Opens `url` and waits until what it draws after loading is drawn: the rows of a table
/// page, then two frames.
async fn open(b: &Browser, url: &str) {
    b.client.goto(url).await.unwrap();
    b.wait_for(
        "!document.querySelector('.data-table') || document.querySelector('.data-table tbody tr') || 0",
        30,
    )
    .await;
    eval(
        b,
        "await document.fonts.ready; await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r))); return 1;",
    )
    .await;
}

async fn phone() -> Browser {
    let b = Browser::start().await;
    b.set_viewport(PHONE.0, PHONE.1).await;
    b
}

/// What [`measure`] reports of a page: its width, the screen's, the first element wider
/// than the screen that nothing clips, and the header's height.
const MEASURE: &str = "const done = arguments[arguments.length - 1]; \
  document.fonts.ready.then(() => requestAnimationFrame(() => requestAnimationFrame(() => { \
    const clipped = el => { for (let p = el.parentElement; p; p = p.parentElement) if (getComputedStyle(p).overflowX !== 'visible') return true; return false; }; \
    const wide = [...document.body.querySelectorAll('*')].find(el => el.getBoundingClientRect().right > innerWidth + 0.5 && !clipped(el)); \
    done({ scroll: document.documentElement.scrollWidth, inner: innerWidth, \
      widest: wide ? `${wide.tagName.toLowerCase()}${wide.className && typeof wide.className === 'string' ? '.' + wide.className.split(' ')[0] : ''} to x = ${Math.round(wide.getBoundingClientRect().right)}` : 'text wider than its box', \
      header: document.querySelector('.site-header').getBoundingClientRect().height }); })));";

/// Opens `url`, waits for a table page's rows, and measures it once two frames are drawn.
async fn measure(b: &Browser, url: &str) -> Result<Value, String> {
    let err = |e: fantoccini::error::CmdError| e.to_string();
    // Through a blank page: going straight from one table page to the next (their Workers
    // busy) now and then crashed headless Chromium's tab on a loaded machine.
    b.client.goto("about:blank").await.map_err(err)?;
    b.client.goto(url).await.map_err(err)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let rows = "return !document.querySelector('.data-table') || !!document.querySelector('.data-table tbody tr')";
    while b.client.execute(rows, vec![]).await.map_err(err)? != json!(true)
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.client.execute_async(MEASURE, vec![]).await.map_err(err)
}

/// On every page at 375 px: nothing wider than the screen, and a header of at most
/// `HEADER_MAX_PX`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_page_scrolls_sideways_and_every_header_is_short_at_375() {
    let site = demo_site();
    let server = serve(site);
    let base = format!("http://{}", server.addr);
    let b = phone().await;
    let pages = demo_pages(site);
    assert!(pages.len() > 20, "the demo's pages: {pages:?}");
    let mut wide = Vec::new();
    let mut tall = Vec::new();
    for url in &pages {
        let m = measure(&b, &format!("{base}{url}"))
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        let (scroll, inner) = (m["scroll"].as_f64().unwrap(), m["inner"].as_f64().unwrap());
        if scroll > inner {
            wide.push(format!(
                "{url}: {scroll} px wide, {} px too wide ({})",
                scroll - inner,
                m["widest"].as_str().unwrap_or("?")
            ));
        }
        let header = m["header"].as_f64().unwrap();
        if header > HEADER_MAX_PX {
            tall.push(format!("{url}: header {header} px"));
        }
    }
    b.close().await;
    assert!(
        wide.is_empty() && tall.is_empty(),
        "of {} pages at {} px, {} scroll sideways:\n{}\nand {} have a header taller than {HEADER_MAX_PX} px:\n{}",
        pages.len(),
        PHONE.0,
        wide.len(),
        wide.join("\n"),
        tall.len(),
        tall.join("\n"),
    );
}

/// The section links are behind "Menu" at 375 px: click opens it, Escape closes it and puts
/// focus back on the button, a second click closes it too. At 1280 px they are in the header
/// and the button is not shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_menu_opens_and_closes_at_375_and_is_not_needed_at_1280() {
    let server = serve(demo_site());
    let base = format!("http://{}", server.addr);
    let b = phone().await;
    open(&b, &format!("{base}/caching/")).await;
    let state = "const d = document.querySelector('.site-menu'), s = d.querySelector('summary'), \
                 links = [...document.querySelectorAll('nav[aria-label=Sections] a')]; \
                 return { open: d.open, button: s.getBoundingClientRect().height > 0 && s.textContent.trim(), \
                   shown: links.filter(a => a.checkVisibility() && a.getBoundingClientRect().height > 0).length, links: links.length, \
                   focused: document.activeElement === s };";
    let closed = eval(&b, state).await;
    assert_eq!(closed["open"], json!(false), "{closed}");
    assert_eq!(closed["button"], json!("Menu"), "{closed}");
    assert_eq!(
        closed["shown"],
        json!(0),
        "links shown while closed: {closed}"
    );
    let links = closed["links"].as_u64().unwrap();
    assert!(links >= 5, "{closed}");

    b.client
        .find(fantoccini::Locator::Css(".site-menu summary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let opened = eval(&b, state).await;
    assert_eq!(opened["open"], json!(true), "{opened}");
    assert_eq!(
        opened["shown"],
        json!(links),
        "links shown when open: {opened}"
    );
    // The open menu covers the page instead of pushing it down.
    let header = eval(
        &b,
        "return document.querySelector('.site-header').getBoundingClientRect().height",
    )
    .await;
    assert!(
        header.as_f64().unwrap() <= HEADER_MAX_PX,
        "header with the menu open: {header} px"
    );
    // Every link is on the screen and big enough to hit.
    let rects = eval(
        &b,
        "return [...document.querySelectorAll('nav[aria-label=Sections] a')].map(a => { const r = a.getBoundingClientRect(); return [a.textContent, r.left, r.right, r.bottom, r.height]; }).filter(([t, l, r, b, h]) => l < 0 || r > innerWidth || b > innerHeight || h < 44)",
    )
    .await;
    assert_eq!(rects, json!([]), "links off the screen or under 44 px tall");

    // Escape from a link in the menu closes it and focuses the button.
    eval(
        &b,
        "document.querySelector('nav[aria-label=Sections] a').focus(); return 1;",
    )
    .await;
    b.client
        .active_element()
        .await
        .unwrap()
        .send_keys("\u{e00c}")
        .await
        .unwrap();
    let escaped = eval(&b, state).await;
    assert_eq!(escaped["open"], json!(false), "after Escape: {escaped}");
    assert_eq!(escaped["shown"], json!(0), "after Escape: {escaped}");
    assert_eq!(escaped["focused"], json!(true), "after Escape: {escaped}");
    // Enter on the focused button opens it again, a click closes it.
    b.client
        .active_element()
        .await
        .unwrap()
        .send_keys("\u{e007}")
        .await
        .unwrap();
    assert_eq!(eval(&b, state).await["open"], json!(true));
    b.client
        .find(fantoccini::Locator::Css(".site-menu summary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(eval(&b, state).await["open"], json!(false));

    // At desktop width the links are in the header as before, with no button.
    b.client.set_window_size(1280, 1000).await.unwrap();
    open(&b, &format!("{base}/caching/")).await;
    let desktop = eval(&b, state).await;
    assert_eq!(desktop["button"], json!(false), "{desktop}");
    assert_eq!(desktop["shown"], json!(links), "{desktop}");
    let header = eval(
        &b,
        "return document.querySelector('.site-header').getBoundingClientRect().height",
    )
    .await;
    // As before the menu: brand, links, search box (193 px with the demo's 11 links).
    assert!(
        header.as_f64().unwrap() < 200.0,
        "the desktop header: {header} px"
    );
    b.close().await;
}

/// Without JavaScript the menu still opens and closes (it is a `<details>`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_menu_works_without_javascript() {
    let server = serve(demo_site());
    let base = format!("http://{}", server.addr);
    let b = Browser::start_without_javascript().await;
    b.set_viewport(PHONE.0, PHONE.1).await;
    b.client.goto(&format!("{base}/caching/")).await.unwrap();
    // WebDriver's own "displayed" calls anything in a closed <details> hidden, whatever
    // the stylesheet does: ask the page what it draws (the driver's scripts run without
    // the page's).
    let shown = "return [typeof bake, [...document.querySelectorAll('nav[aria-label=Sections] a')].filter(a => a.checkVisibility()).length]";
    assert_eq!(eval(&b, shown).await, json!(["undefined", 0]));
    let summary = b
        .client
        .find(fantoccini::Locator::Css(".site-menu summary"))
        .await
        .unwrap();
    summary.click().await.unwrap();
    let open = eval(&b, shown).await;
    assert!(
        open[1].as_u64().unwrap() >= 5,
        "links shown when open: {open}"
    );
    summary.click().await.unwrap();
    assert_eq!(eval(&b, shown).await, json!(["undefined", 0]));
    b.close().await;
}

/// The ER diagram's drawing starts on the first screen (it was at x = 1,533 of a 3,758 px
/// page), and scrolls in its own box.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_er_diagram_starts_on_the_first_screen_at_375() {
    let site = demo_site();
    let server = serve(site);
    let base = format!("http://{}", server.addr);
    let er: Vec<String> = demo_pages(site)
        .into_iter()
        .filter(|p| p.starts_with("/diagrams/er-"))
        .collect();
    let b = phone().await;
    let mut checked = 0;
    for url in &er {
        open(&b, &format!("{base}{url}")).await;
        let m = eval(
            &b,
            "const svg = document.querySelector('figure.diagram-er svg'); if (!svg) return null; \
             const r = svg.getBoundingClientRect(); \
             return { left: r.left, right: r.right, width: r.width, scroll: document.documentElement.scrollWidth };",
        )
        .await;
        assert!(!m.is_null(), "{url} shows no ER diagram");
        checked += 1;
        let (left, right) = (m["left"].as_f64().unwrap(), m["right"].as_f64().unwrap());
        assert!(
            (0.0..PHONE.0 as f64 / 4.0).contains(&left) && right > PHONE.0 as f64 / 2.0,
            "{url}: the diagram spans x = {left}..{right} of a {} px screen: {m}",
            PHONE.0
        );
        assert!(
            m["scroll"].as_f64().unwrap() <= PHONE.0 as f64,
            "{url}: page {m}"
        );
    }
    b.close().await;
    assert!(checked >= 1, "no ER diagram page among {er:?}");
}

/// Inputs, buttons and selects are at least 44 px tall at 375 px (touch targets), on the
/// pages with forms: the header's search box on every page, the search page, the SQL
/// console, a table page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controls_are_touch_sized_at_375() {
    let server = serve(demo_site());
    let base = format!("http://{}", server.addr);
    let b = phone().await;
    let mut small = Vec::new();
    let mut seen = 0;
    for url in [
        "/",
        "/search/?q=cache",
        "/sql/?db=nyc&sql=SELECT%20*%20FROM%20airlines",
        "/tables/nyc/airlines/",
    ] {
        open(&b, &format!("{base}{url}")).await;
        if url.starts_with("/search/") {
            b.wait_for("document.querySelectorAll('.search-results li').length", 30)
                .await;
        }
        let found = eval(
            &b,
            "const all = [...document.querySelectorAll('input:not([type=checkbox]):not([type=radio]):not([type=hidden]), button, select, textarea')] \
               .filter(e => { const r = e.getBoundingClientRect(); return r.width > 1 && r.height > 1 && getComputedStyle(e).visibility !== 'hidden'; }); \
             return { n: all.length, small: all.filter(e => e.getBoundingClientRect().height < 44) \
               .map(e => `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''}${e.className ? '.' + e.className : ''} \"${(e.textContent || e.placeholder || e.name || '').trim().slice(0, 20)}\" ${e.getBoundingClientRect().height.toFixed(1)} px`) };",
        )
        .await;
        seen += found["n"].as_u64().unwrap();
        for s in found["small"].as_array().unwrap() {
            small.push(format!("{url}: {}", s.as_str().unwrap()));
        }
    }
    b.close().await;
    assert!(seen >= 8, "only {seen} controls found");
    assert!(
        small.is_empty(),
        "controls under {TOUCH_PX} px tall at {} px:\n{}",
        PHONE.0,
        small.join("\n")
    );
}

/// The navigation has a "Search" entry for the search page (current there), and the
/// articles about search engines are a section of their own name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_in_the_navigation_leads_to_the_search_page() {
    let server = serve(demo_site());
    let base = format!("http://{}", server.addr);
    let b = Browser::start().await;
    let nav = "return [...document.querySelectorAll('nav[aria-label=Sections] a')].map(a => [a.textContent, a.getAttribute('href'), a.getAttribute('aria-current')])";
    for (url, current) in [
        ("/", None),
        ("/search/", Some("/search/")),
        ("/search/?q=cache", Some("/search/")),
        ("/search-engines/", Some("/search-engines/")),
    ] {
        open(&b, &format!("{base}{url}")).await;
        let links = eval(&b, nav).await;
        let links = links.as_array().unwrap();
        let entry = |name: &str| {
            links
                .iter()
                .find(|l| l[0] == json!(name))
                .unwrap_or_else(|| panic!("{url}: no \"{name}\" entry in {links:?}"))
        };
        assert_eq!(entry("Search")[1], json!("/search/"), "{url}");
        assert_eq!(
            entry("Search engines")[1],
            json!("/search-engines/"),
            "{url}"
        );
        let currents: Vec<&Value> = links.iter().filter(|l| !l[2].is_null()).collect();
        match current {
            Some(href) => assert_eq!(
                currents.iter().map(|l| &l[1]).collect::<Vec<_>>(),
                vec![&json!(href)],
                "{url}: the current entries {currents:?}"
            ),
            None => assert!(currents.is_empty(), "{url}: {currents:?}"),
        }
        for l in &currents {
            assert_eq!(l[2], json!("page"), "{url}");
        }
    }
    b.close().await;
}
