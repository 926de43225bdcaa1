//! The demo's diagrams and gallery, read from the built site with an HTML parser: every
//! diagram has a card, cards link to pages and anchors that exist, kind pages split the
//! cards, SVGs are titled and script-free, no page repeats an id, and the ER diagram of
//! `nyc` draws its foreign keys.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use bake_tests::demo_site;
use scraper::{Html, Selector};

fn page(site: &Path, url: &str) -> Html {
    let rel = url.trim_start_matches('/').split('#').next().unwrap();
    let file = if rel.is_empty() || rel.ends_with('/') {
        site.join(rel).join("index.html")
    } else {
        site.join(rel)
    };
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    Html::parse_document(&text)
}

fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap()
}

fn text_of(doc: &Html, s: &str) -> Vec<String> {
    doc.select(&sel(s))
        .map(|e| e.text().collect::<String>().trim().to_string())
        .collect()
}

struct Card {
    title: String,
    kind: String,
    url: String,
    page_url: String,
    svg_url: String,
}

fn cards(doc: &Html) -> Vec<Card> {
    doc.select(&sel("li.diagram-card"))
        .map(|li| {
            let one = |s: &str, attr: &str| {
                li.select(&sel(s))
                    .next()
                    .and_then(|e| e.value().attr(attr))
                    .unwrap_or_else(|| panic!("card without {s}"))
                    .to_string()
            };
            Card {
                title: li
                    .select(&sel("h2"))
                    .next()
                    .unwrap()
                    .text()
                    .collect::<String>()
                    .trim()
                    .to_string(),
                kind: li.value().attr("data-kind").unwrap().to_string(),
                url: one("h2 a", "href"),
                page_url: one("a.appears-on", "href"),
                svg_url: one("a.full-size", "href"),
            }
        })
        .collect()
}

#[test]
fn gallery_lists_every_diagram_with_links_that_resolve() {
    let site = demo_site();
    let gallery = page(site, "/gallery/");
    let all = cards(&gallery);
    let pages: BTreeSet<String> = std::fs::read_dir(site.join("diagrams"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(all.len(), pages.len(), "one card per diagram page");
    let mut per_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for c in &all {
        *per_kind.entry(c.kind.as_str()).or_default() += 1;
        assert!(!c.title.is_empty());
        // The diagram's own page shows the picture and the source.
        let own = page(site, &c.url);
        assert_eq!(text_of(&own, "h1"), vec![c.title.clone()]);
        assert!(
            !text_of(&own, ".diagram-source-text pre")
                .join("")
                .is_empty(),
            "{}",
            c.url
        );
        // The page it appears on has the anchor.
        let (_, anchor) = c.page_url.split_once('#').unwrap_or((&c.page_url, ""));
        let shown_on = page(site, &c.page_url);
        if !anchor.is_empty() {
            let figure = shown_on
                .select(&sel(&format!("figure#{anchor}")))
                .next()
                .unwrap_or_else(|| panic!("{} has no #{anchor}", c.page_url));
            // Its SVG is titled with the card's title.
            let title: String = figure
                .select(&sel("svg > title"))
                .next()
                .unwrap()
                .text()
                .collect();
            assert_eq!(title, c.title);
        }
        // The full-size file is an SVG with a title and no script.
        let svg = std::fs::read_to_string(site.join(c.svg_url.trim_start_matches('/'))).unwrap();
        assert!(
            svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
            "{}",
            c.svg_url
        );
        assert!(svg.contains("<title"), "{}", c.svg_url);
        for banned in [
            "<script",
            "<style",
            " style=",
            "javascript:",
            "<foreignObject",
        ] {
            assert!(!svg.contains(banned), "{} has {banned}", c.svg_url);
        }
    }
    // The demo has at least 8 authored diagrams of all three languages, plus one ER
    // diagram per database.
    assert!(
        per_kind["dot"] >= 3 && per_kind["ascii"] >= 3 && per_kind["mermaid"] >= 3,
        "{per_kind:?}"
    );
    assert_eq!(per_kind["er"], 2, "{per_kind:?}");
    // Each kind page holds exactly that kind's cards.
    for (kind, n) in &per_kind {
        let kind_page = cards(&page(site, &format!("/gallery/{kind}/")));
        assert_eq!(kind_page.len(), *n, "{kind}");
        assert!(kind_page.iter().all(|c| c.kind == *kind));
    }
}

#[test]
fn no_page_repeats_an_id() {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "html") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(demo_site(), &mut files);
    let mut with_two_diagrams = 0;
    for f in files {
        let doc = Html::parse_document(&std::fs::read_to_string(&f).unwrap());
        let mut seen = BTreeSet::new();
        for e in doc.select(&sel("[id]")) {
            let id = e.value().attr("id").unwrap();
            assert!(
                seen.insert(id.to_string()),
                "{} repeats id {id}",
                f.display()
            );
        }
        if doc.select(&sel("figure.diagram svg")).count() >= 2 {
            with_two_diagrams += 1;
        }
    }
    assert!(with_two_diagrams >= 1, "no page shows two diagrams");
}

#[test]
fn the_er_diagram_draws_the_foreign_keys() {
    let site = demo_site();
    let own = page(site, "/diagrams/er-nyc/");
    let source = text_of(&own, ".diagram-source-text pre").join("");
    // flights.carrier → airlines.carrier, from port to port.
    let edge = source
        .lines()
        .find(|l| l.trim_start().starts_with("\"flights\":c") && l.contains("-> \"airlines\":c"))
        .unwrap_or_else(|| panic!("no flights → airlines edge in:\n{source}"));
    // carrier is the 10th column of flights and the 1st of airlines.
    assert_eq!(edge.trim(), "\"flights\":c9 -> \"airlines\":c0;");
    assert_eq!(
        source.matches("->").count(),
        5,
        "nyc declares 5 foreign keys:\n{source}"
    );
    // The picture has the tables, typed and keyed columns, and one arrow per edge.
    let svg = own.select(&sel("figure svg")).next().unwrap().html();
    for needle in [
        "flights",
        "airlines",
        "carrier: TEXT (PK)",
        "carrier: TEXT (FK)",
    ] {
        assert!(svg.contains(needle), "no {needle} in the ER SVG");
    }
    assert_eq!(
        svg.matches("marker-end").count(),
        5,
        "one arrow per foreign key"
    );
    // And the SQL console shows it.
    let sql = page(site, "/sql/");
    assert_eq!(sql.select(&sel("figure#diagram-er-nyc svg")).count(), 1);
}
