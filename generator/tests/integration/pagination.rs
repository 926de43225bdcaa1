//! Previous/next links between the pages of a section, and long listings split into pages:
//! sections with `paginate_by`, tag pages by `paginate_tags_by`. Each test builds a small site
//! in a temporary folder through the library and reads the HTML it wrote.

use std::path::{Path, PathBuf};

use bake::build::{BuildOptions, BuildReport, build};
use bake::config::Config;

const TOML: &str = "title = \"Notes\"\n\n[build]\nminify = false\n\n[search]\nenabled = false\n";

/// A site in a temporary folder, from (path, text) pairs.
fn site(bake_toml: &str, files: &[(String, String)]) -> tempfile::TempDir {
    crate::support::site_in_tempdir(
        bake_toml,
        files.iter().map(|(p, t)| (p.as_str(), t.as_str())),
    )
}

fn try_build(dir: &Path) -> bake::Result<BuildReport> {
    let config = Config::load(&dir.join("bake.toml"))?;
    let opts = BuildOptions {
        quiet: true,
        ..Default::default()
    };
    build(&config, &opts)
}

fn built(dir: &Path) -> PathBuf {
    try_build(dir).unwrap_or_else(|e| panic!("the site does not build: {e}"));
    dir.join("site")
}

/// The HTML of the page at `url`, with the entities tera's autoescape writes decoded.
fn page(site: &Path, url: &str) -> String {
    let rel = format!("{}index.html", url.trim_start_matches('/'));
    std::fs::read_to_string(site.join(&rel))
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
        .replace("&#x2F;", "/")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

fn exists(site: &Path, url: &str) -> bool {
    site.join(url.trim_start_matches('/'))
        .join("index.html")
        .exists()
}

/// A markdown file with TOML front matter.
fn md(front: &str, body: &str) -> String {
    format!("+++\n{front}\n+++\n{body}\n")
}

fn file(rel: &str, text: String) -> (String, String) {
    (rel.to_string(), text)
}

/// The text of an HTML fragment: tags dropped, the visually hidden words too, spaces joined.
fn text(html: &str) -> String {
    let html = html
        .split("<span class=\"visually-hidden\">")
        .enumerate()
        .map(|(i, part)| {
            if i == 0 {
                part
            } else {
                part.split_once("</span>").map_or("", |(_, rest)| rest)
            }
        })
        .collect::<String>();
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The element starting at `<nav class="CLASS"`, up to its `</nav>`.
fn nav<'a>(html: &'a str, class: &str) -> Option<&'a str> {
    let start = html.find(&format!("<nav class=\"{class}\""))?;
    let rest = &html[start..];
    Some(&rest[..rest.find("</nav>").unwrap() + "</nav>".len()])
}

/// The link with `rel="REL"` in `html`: its URL and its text.
fn rel_link(html: &str, rel: &str) -> Option<(String, String)> {
    let at = html.find(&format!("rel=\"{rel}\" href=\""))?;
    let rest = &html[at..];
    let url = rest.split("href=\"").nth(1)?.split('"').next()?.to_string();
    let inner = rest.split_once('>')?.1.split("</a>").next()?;
    Some((url, text(inner)))
}

/// The previous and next links of the page at `url`: (URL, text) each.
type Nav = (Option<(String, String)>, Option<(String, String)>);

fn page_nav(site: &Path, url: &str) -> Nav {
    let html = page(site, url);
    let Some(nav) = nav(&html, "page-nav") else {
        return (None, None);
    };
    assert!(
        nav.contains("aria-label=\"Previous and next\""),
        "{url}: {nav}"
    );
    let (prev, next) = (rel_link(nav, "prev"), rel_link(nav, "next"));
    assert!(
        prev.is_some() || next.is_some(),
        "{url}: an empty nav: {nav}"
    );
    (prev, next)
}

/// The URLs a listing page links to in its `<ol class="listing">`, in order.
fn listed(site: &Path, url: &str) -> Vec<String> {
    let html = page(site, url);
    let Some(start) = html.find("<ol class=\"listing\"") else {
        return Vec::new();
    };
    let list = &html[start..];
    let list = &list[..list.find("</ol>").unwrap()];
    list.split("<li><a href=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_string())
        .collect()
}

/// Four pages whose weight, date and title each give another order, in one section per
/// `sort_by`.
fn four_pages(sort_by: &str) -> Vec<(String, String)> {
    let pages = [
        ("a", 3, "2024-01-01", "Mango"),
        ("b", 1, "2024-03-01", "Cherry"),
        ("c", 4, "2024-02-01", "Apple"),
        ("d", 2, "2023-12-01", "Banana"),
    ];
    let mut files = vec![file(
        "content/s/_index.md",
        md(&format!("title = \"S\"\nsort_by = \"{sort_by}\""), ""),
    )];
    for (name, weight, date, title) in pages {
        files.push(file(
            &format!("content/s/{name}.md"),
            md(
                &format!("title = \"{title}\"\nweight = {weight}\ndate = {date}"),
                "Text.",
            ),
        ));
    }
    files
}

/// Checks that the pages at `order` (URLs) link each to the one before and after it, with
/// "← Title" and "Title →", and the first and last to one neighbour only.
fn assert_chain(site: &Path, order: &[(&str, &str)]) {
    for (k, (url, _)) in order.iter().enumerate() {
        let (prev, next) = page_nav(site, url);
        let want_prev = k
            .checked_sub(1)
            .map(|j| (order[j].0.to_string(), format!("← {}", order[j].1)));
        let want_next = order
            .get(k + 1)
            .map(|(u, t)| (u.to_string(), format!("{t} →")));
        assert_eq!(prev, want_prev, "previous of {url}");
        assert_eq!(next, want_next, "next of {url}");
    }
}

#[test]
fn previous_and_next_follow_each_sort_by() {
    let cases: [(&str, [(&str, &str); 4]); 3] = [
        (
            "weight",
            [
                ("/s/b/", "Cherry"),
                ("/s/d/", "Banana"),
                ("/s/a/", "Mango"),
                ("/s/c/", "Apple"),
            ],
        ),
        (
            "date",
            [
                ("/s/b/", "Cherry"),
                ("/s/c/", "Apple"),
                ("/s/a/", "Mango"),
                ("/s/d/", "Banana"),
            ],
        ),
        (
            "title",
            [
                ("/s/c/", "Apple"),
                ("/s/d/", "Banana"),
                ("/s/b/", "Cherry"),
                ("/s/a/", "Mango"),
            ],
        ),
    ];
    for (sort_by, order) in cases {
        let dir = site(TOML, &four_pages(sort_by));
        let out = built(dir.path());
        // The section page lists them in the order the links follow.
        let urls: Vec<String> = order.iter().map(|(u, _)| u.to_string()).collect();
        assert_eq!(listed(&out, "/s/"), urls, "sort_by = {sort_by}");
        assert_chain(&out, &order);
        // The first page has only a next link, the last only a previous one.
        let (p, n) = page_nav(&out, order[0].0);
        assert!(p.is_none() && n.is_some(), "sort_by = {sort_by}");
        let (p, n) = page_nav(&out, order[3].0);
        assert!(p.is_some() && n.is_none(), "sort_by = {sort_by}");
        // Sections themselves get no page links.
        assert!(nav(&page(&out, "/s/"), "page-nav").is_none());
    }
}

#[test]
fn a_lone_page_has_no_links_and_the_root_section_counts() {
    let files = vec![
        file("content/_index.md", md("title = \"Home\"", "Hi.")),
        file("content/about.md", md("title = \"About\"\nweight = 1", "")),
        file(
            "content/contact.md",
            md("title = \"Contact\"\nweight = 2", ""),
        ),
        file("content/solo/_index.md", md("title = \"Solo\"", "")),
        file("content/solo/only.md", md("title = \"Only\"", "Alone.")),
        // A subsection is not a page of its parent: `only` stays alone.
        file("content/solo/sub/_index.md", md("title = \"Sub\"", "")),
        file("content/solo/sub/deep.md", md("title = \"Deep\"", "")),
    ];
    let dir = site(TOML, &files);
    let out = built(dir.path());
    let html = page(&out, "/solo/only/");
    assert!(!html.contains("page-nav"), "a lone page has no nav");
    assert!(!html.contains("rel=\"prev\"") && !html.contains("rel=\"next\""));
    assert_eq!(page_nav(&out, "/solo/sub/deep/"), (None, None));
    assert_chain(&out, &[("/about/", "About"), ("/contact/", "Contact")]);
}

/// A `blog` section of `n` pages, `p01` … (weights in that order), with `front` added to
/// its `_index.md`.
fn blog(n: usize, front: &str) -> Vec<(String, String)> {
    let mut files = vec![file(
        "content/blog/_index.md",
        md(&format!("title = \"Blog\"\n{front}"), "The blog's intro."),
    )];
    for i in 1..=n {
        files.push(file(
            &format!("content/blog/p{i:02}.md"),
            md(
                &format!("title = \"Post {i:02}\"\nweight = {i}\ntags = [\"news\"]"),
                "Body.",
            ),
        ));
    }
    files
}

fn posts(range: std::ops::RangeInclusive<usize>) -> Vec<String> {
    range.map(|i| format!("/blog/p{i:02}/")).collect()
}

/// The pager of a listing page: ("Page k of n", previous URL, next URL).
fn pager(site: &Path, url: &str) -> Option<(String, Option<String>, Option<String>)> {
    let html = page(site, url);
    let nav = nav(&html, "pager")?;
    let status = nav
        .split("<span class=\"pager-status\">")
        .nth(1)
        .unwrap()
        .split("</span>")
        .next()
        .unwrap()
        .to_string();
    Some((
        status,
        rel_link(nav, "prev").map(|l| l.0),
        rel_link(nav, "next").map(|l| l.0),
    ))
}

#[test]
fn paginate_by_splits_a_section() {
    let dir = site(TOML, &blog(7, "paginate_by = 3"));
    let out = built(dir.path());
    assert_eq!(listed(&out, "/blog/"), posts(1..=3));
    assert_eq!(listed(&out, "/blog/page/2/"), posts(4..=6));
    assert_eq!(listed(&out, "/blog/page/3/"), posts(7..=7));
    assert!(
        !exists(&out, "/blog/page/1/"),
        "page 1 is the section's URL"
    );
    assert!(!exists(&out, "/blog/page/4/"));
    assert_eq!(
        pager(&out, "/blog/"),
        Some(("Page 1 of 3".into(), None, Some("/blog/page/2/".into())))
    );
    assert_eq!(
        pager(&out, "/blog/page/2/"),
        Some((
            "Page 2 of 3".into(),
            Some("/blog/".into()),
            Some("/blog/page/3/".into())
        ))
    );
    assert_eq!(
        pager(&out, "/blog/page/3/"),
        Some(("Page 3 of 3".into(), Some("/blog/page/2/".into()), None))
    );
    // The intro is on the first page only; later pages say which page they are.
    assert!(page(&out, "/blog/").contains("The blog's intro."));
    let second = page(&out, "/blog/page/2/");
    assert!(!second.contains("The blog's intro."));
    assert!(
        second.contains("<title>Blog (page 2 of 3) · Notes</title>"),
        "{second}"
    );
    // Previous/next between the posts cross the listing's pages.
    let (p, n) = page_nav(&out, "/blog/p03/");
    assert_eq!(p.unwrap().0, "/blog/p02/");
    assert_eq!(n.unwrap().0, "/blog/p04/");

    // Exactly divisible: two full pages, no empty third.
    let dir = site(TOML, &blog(6, "paginate_by = 3"));
    let out = built(dir.path());
    assert_eq!(listed(&out, "/blog/page/2/"), posts(4..=6));
    assert!(!exists(&out, "/blog/page/3/"));
    assert_eq!(pager(&out, "/blog/page/2/").unwrap().0, "Page 2 of 2");

    // A listing that fits on one page has no pager and no further pages.
    let dir = site(TOML, &blog(3, "paginate_by = 10"));
    let out = built(dir.path());
    assert_eq!(listed(&out, "/blog/"), posts(1..=3));
    assert_eq!(pager(&out, "/blog/"), None);
    assert!(!out.join("blog/page").exists());

    // Without paginate_by, one page lists every post.
    let dir = site(TOML, &blog(7, ""));
    let out = built(dir.path());
    assert_eq!(listed(&out, "/blog/"), posts(1..=7));
    assert_eq!(pager(&out, "/blog/"), None);
}

#[test]
fn the_home_section_paginates_too() {
    let mut files = vec![file(
        "content/_index.md",
        md("title = \"Home\"\npaginate_by = 2", "Welcome."),
    )];
    for i in 1..=3 {
        files.push(file(
            &format!("content/p{i}.md"),
            md(&format!("title = \"P{i}\"\nweight = {i}"), ""),
        ));
    }
    let dir = site(TOML, &files);
    let out = built(dir.path());
    assert_eq!(listed(&out, "/"), ["/p1/", "/p2/"]);
    assert_eq!(listed(&out, "/page/2/"), ["/p3/"]);
    assert_eq!(
        pager(&out, "/page/2/"),
        Some(("Page 2 of 2".into(), Some("/".into()), None))
    );
    // The later page says which it is in its title, the first does not.
    assert!(page(&out, "/page/2/").contains("<title>Notes (page 2 of 2)</title>"));
    assert!(page(&out, "/").contains("<title>Notes</title>"));
}

/// The error a build of the `blog` section gives with `front` in its `_index.md`.
fn blog_error(front: &str) -> bake::Error {
    let dir = site(TOML, &blog(3, front));
    try_build(dir.path()).expect_err(front)
}

#[test]
fn a_bad_paginate_by_is_an_error_at_its_line() {
    for bad in [
        "paginate_by = 0",
        "paginate_by = -2",
        "paginate_by = \"ten\"",
        "paginate_by = 2.5",
    ] {
        // `title` is line 2 of the file, the setting line 3.
        let e = blog_error(bad);
        assert_eq!(
            e.file.as_deref(),
            Some(Path::new("content/blog/_index.md")),
            "{bad}: {e}"
        );
        assert_eq!(e.line, Some(3), "{bad}: {e}");
        assert!(e.message.contains("paginate_by"), "{bad}: {e}");
        assert!(e.message.contains("positive whole number"), "{bad}: {e}");
        let hint = e.hint.as_deref().unwrap_or_default();
        assert!(hint.contains("paginate_by = 10"), "{bad}: {e}");
    }
    // In YAML front matter too.
    let mut files = blog(2, "");
    files[0].1 = "---\ntitle: Blog\nsort_by: title\npaginate_by: zero\n---\n".into();
    let dir = site(TOML, &files);
    let e = try_build(dir.path()).unwrap_err();
    assert_eq!(e.line, Some(4), "{e}");
    assert!(e.message.contains("positive whole number"), "{e}");
    // On a page, which has no listing to split.
    let mut files = blog(2, "");
    files.push(file(
        "content/blog/x.md",
        md("title = \"X\"\npaginate_by = 2", ""),
    ));
    let dir = site(TOML, &files);
    let e = try_build(dir.path()).unwrap_err();
    assert_eq!(
        e.file.as_deref(),
        Some(Path::new("content/blog/x.md")),
        "{e}"
    );
    assert_eq!(e.line, Some(3), "{e}");
    assert!(e.hint.as_deref().unwrap().contains("_index.md"), "{e}");
}

/// Pages tagged `news` in a tag listing, in tag order (undated: by title, `Post 01` …).
fn tagged(site: &Path, url: &str) -> Vec<String> {
    listed(site, url)
}

#[test]
fn tag_pages_paginate_by_paginate_tags_by() {
    let toml = format!("paginate_tags_by = 2\n{TOML}");
    let dir = site(&toml, &blog(5, ""));
    let out = built(dir.path());
    assert_eq!(tagged(&out, "/tags/news/"), posts(1..=2));
    assert_eq!(tagged(&out, "/tags/news/page/2/"), posts(3..=4));
    assert_eq!(tagged(&out, "/tags/news/page/3/"), posts(5..=5));
    assert!(!exists(&out, "/tags/news/page/1/"));
    assert!(!exists(&out, "/tags/news/page/4/"));
    assert_eq!(
        pager(&out, "/tags/news/page/2/"),
        Some((
            "Page 2 of 3".into(),
            Some("/tags/news/".into()),
            Some("/tags/news/page/3/".into())
        ))
    );
    assert_eq!(
        pager(&out, "/tags/news/page/3/"),
        Some((
            "Page 3 of 3".into(),
            Some("/tags/news/page/2/".into()),
            None
        ))
    );
    // The default is 20 to a page.
    let dir = site(TOML, &blog(21, ""));
    let out = built(dir.path());
    assert_eq!(tagged(&out, "/tags/news/").len(), 20);
    assert_eq!(tagged(&out, "/tags/news/page/2/"), posts(21..=21));
    assert_eq!(pager(&out, "/tags/news/").unwrap().0, "Page 1 of 2");
    let dir = site(TOML, &blog(20, ""));
    let out = built(dir.path());
    assert_eq!(pager(&out, "/tags/news/"), None);
    assert!(!out.join("tags/news/page").exists());
}

#[test]
fn a_bad_paginate_tags_by_is_an_error_at_its_line() {
    for bad in ["0", "-1", "\"many\"", "1.5"] {
        let toml = format!("title = \"Notes\"\npaginate_tags_by = {bad}\n");
        let dir = site(&toml, &blog(1, ""));
        let e = try_build(dir.path()).unwrap_err();
        assert_eq!(
            e.file.as_deref(),
            Some(dir.path().join("bake.toml").as_path())
        );
        assert_eq!(e.line, Some(2), "{bad}: {e}");
        assert!(e.message.contains("paginate_tags_by"), "{bad}: {e}");
        assert!(e.message.contains("positive whole number"), "{bad}: {e}");
        assert!(
            e.hint.as_deref().unwrap().contains("paginate_tags_by = 20"),
            "{bad}: {e}"
        );
    }
}

#[test]
fn a_content_page_where_a_listing_page_goes_is_an_error() {
    let mut files = blog(4, "paginate_by = 2");
    files.push(file("content/blog/page/2.md", md("title = \"Two\"", "")));
    let dir = site(TOML, &files);
    let e = try_build(dir.path()).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("blog/page/2/index.html"), "{text}");
    assert!(text.contains("also writes"), "{text}");
    assert!(text.contains("content/blog/page/2.md"), "{text}");
    assert!(text.contains("content/blog/_index.md"), "{text}");
    // With every post on one page, that path is free.
    let mut files = blog(4, "paginate_by = 50");
    files.push(file("content/blog/page/2.md", md("title = \"Two\"", "")));
    let dir = site(TOML, &files);
    built(dir.path());
    // A tag page's further pages are claimed too.
    let toml = format!("paginate_tags_by = 2\n{TOML}");
    let mut files = blog(3, "");
    files.push(file("content/tags/news/page/2.md", md("title = \"N\"", "")));
    let dir = site(&toml, &files);
    let e = try_build(dir.path()).unwrap_err();
    assert!(e.to_string().contains("tags/news/page/2/index.html"), "{e}");
    assert!(e.to_string().contains("also writes"), "{e}");
}

#[test]
fn listing_pages_are_in_the_sitemap_but_not_the_search_index() {
    let toml = "title = \"Notes\"\nbase_url = \"https://example.org\"\npaginate_tags_by = 2\n\n[build]\nminify = false\n";
    let dir = site(toml, &blog(5, "paginate_by = 2"));
    let report = try_build(dir.path()).unwrap();
    let sitemap = std::fs::read_to_string(dir.path().join("site/sitemap.xml")).unwrap();
    for url in [
        "/blog/",
        "/blog/page/2/",
        "/blog/page/3/",
        "/tags/news/page/3/",
    ] {
        assert!(
            sitemap.contains(&format!("<loc>https://example.org{url}</loc>")),
            "{url}: {sitemap}"
        );
    }
    assert!(!sitemap.contains("/page/1/"), "{sitemap}");
    // Each page of a listing is its own canonical URL.
    assert!(
        page(&dir.path().join("site"), "/blog/page/2/")
            .contains("<link rel=\"canonical\" href=\"https://example.org/blog/page/2/\">")
    );
    // The same documents as without pagination: the section and its five posts.
    let dir = site(toml, &blog(5, ""));
    let unpaginated = try_build(dir.path()).unwrap();
    assert_eq!(report.search_documents, unpaginated.search_documents);
    assert_eq!(report.search_documents, 6);
    assert_eq!(report.pages, unpaginated.pages + 2);
}

#[test]
fn two_builds_are_byte_identical() {
    let toml = "title = \"Notes\"\nbase_url = \"https://example.org\"\npaginate_tags_by = 2\n";
    let mut files = blog(9, "paginate_by = 2\nsort_by = \"date\"");
    for (i, f) in files.iter_mut().enumerate().skip(1) {
        f.1 =
            f.1.replacen("+++\n", &format!("+++\ndate = 2024-01-{i:02}\n"), 1);
    }
    let dir = site(toml, &files);
    let first = crate::support::files_under(&built(dir.path()));
    let second = crate::support::files_under(&built(dir.path()));
    assert!(first.contains_key(Path::new("blog/page/5/index.html")));
    assert!(first.contains_key(Path::new("tags/news/page/5/index.html")));
    assert_eq!(
        first.keys().collect::<Vec<_>>(),
        second.keys().collect::<Vec<_>>()
    );
    for (rel, bytes) in &first {
        assert!(
            second[rel] == *bytes,
            "{} differs between two builds",
            rel.display()
        );
    }
}
