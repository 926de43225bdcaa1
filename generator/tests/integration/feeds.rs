//! What crawlers and feed readers get: `sitemap.xml`, the Atom feeds, `robots.txt`, and the
//! canonical and OpenGraph tags in every page's head. Each test builds a small site in a
//! temporary folder through the library and reads what it wrote.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use bake::build::{BuildOptions, build};
use bake::config::Config;

const WITH_BASE: &str = "title = \"Field Notes\"\ndescription = \"Notes & more\"\nbase_url = \"https://example.org/\"\n\n[build]\nminify = false\n\n[search]\nenabled = false\n";
const WITHOUT_BASE: &str =
    "title = \"Field Notes\"\n\n[build]\nminify = false\n\n[search]\nenabled = false\n";

/// A site in a temporary folder, from (path, text) pairs.
fn site(bake_toml: &str, files: &[(&str, String)]) -> tempfile::TempDir {
    crate::support::site_in_tempdir(bake_toml, files.iter().map(|(p, t)| (*p, t.as_str())))
}

fn try_build(dir: &Path) -> bake::Result<()> {
    let config = Config::load(&dir.join("bake.toml"))?;
    let opts = BuildOptions {
        quiet: true,
        ..Default::default()
    };
    build(&config, &opts).map(|_| ())
}

fn built(dir: &Path) -> PathBuf {
    try_build(dir).unwrap_or_else(|e| panic!("the site does not build: {e}"));
    dir.join("site")
}

fn read(site: &Path, rel: &str) -> String {
    std::fs::read_to_string(site.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// A markdown file with TOML front matter.
fn md(front: &str, body: &str) -> String {
    format!("+++\n{front}\n+++\n{body}\n")
}

/// Every `<tag>…</tag>` text in `xml`, in order.
fn all<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(open.as_str())
        .skip(1)
        .map(|s| s.split(close.as_str()).next().unwrap())
        .collect()
}

/// The `<head>` of a page, with the entities tera's autoescape writes decoded.
fn head(site: &Path, rel: &str) -> String {
    let html = read(site, rel);
    let head = html.split("</head>").next().unwrap();
    head.replace("&#x2F;", "/")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Every HTML page under `site` as the URL it is served at.
fn html_pages(site: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![site.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().unwrap() == "index.html" {
                let rel = p.parent().unwrap().strip_prefix(site).unwrap();
                let rel = rel.to_string_lossy();
                out.insert(if rel.is_empty() {
                    "/".to_string()
                } else {
                    format!("/{rel}/")
                });
            }
        }
    }
    out
}

/// A blog: a home page, an undated About page, a `blog` section of dated posts (one in a
/// subsection), a `docs` section without dates, and a table (its pages and gallery).
fn blog() -> Vec<(&'static str, String)> {
    vec![
        ("content/_index.md", md("title = \"Home\"", "Welcome.")),
        ("content/about.md", md("title = \"About\"", "Who we are.")),
        (
            "content/blog/_index.md",
            md("title = \"Blog\"\ndescription = \"Posts\"", ""),
        ),
        (
            "content/blog/first.md",
            md(
                "title = \"First\"\ndate = 2024-01-10\ntags = [\"intro\"]",
                "# First\n\nThe *first* post & its [link](/).\n\nMore.",
            ),
        ),
        (
            "content/blog/second.md",
            md(
                "title = \"Second\"\ndate = \"2024-02-01\"\nupdated = 2024-03-05T10:00:00+01:00\ndescription = \"Second's description\"",
                "Body.",
            ),
        ),
        (
            "content/blog/2023/old.md",
            md("title = \"Old\"\ndate = 2023-06-01T08:00:00Z", "Old post."),
        ),
        ("content/docs/_index.md", md("title = \"Docs\"", "")),
        ("content/docs/howto.md", md("title = \"How to\"", "Steps.")),
    ]
}

#[test]
fn sitemap_lists_every_page_sorted_with_lastmod() {
    let mut files = blog();
    files.push(("content/data/t.csv", "n,name\n1,one\n".into()));
    let toml = format!(
        "{}\n[databases.db.tables.t]\nsource = \"data/t.csv\"\n",
        WITH_BASE.replace("enabled = false", "enabled = true")
    );
    let dir = site(&toml, &files);
    let out = built(dir.path());
    let xml = read(&out, "sitemap.xml");
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">"), "{xml}");
    let locs: Vec<&str> = all(&xml, "loc");
    let paths: Vec<&str> = locs
        .iter()
        .map(|l| {
            l.strip_prefix("https://example.org")
                .unwrap_or_else(|| panic!("{l} is not absolute on base_url"))
        })
        .collect();
    // Every HTML page the site has, each once, sorted; not the 404 page.
    let mut sorted = paths.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(paths, sorted, "not sorted or not unique");
    let pages = html_pages(&out);
    assert_eq!(
        paths.iter().map(|p| p.to_string()).collect::<BTreeSet<_>>(),
        pages
    );
    for p in [
        "/",
        "/about/",
        "/blog/",
        "/blog/first/",
        "/blog/2023/old/",
        "/docs/howto/",
        "/tags/",
        "/tags/intro/",
        "/search/",
        "/sql/",
        "/tables/db/t/",
        "/gallery/",
    ] {
        assert!(paths.contains(&p), "{p} missing from {paths:?}");
    }
    assert!(!xml.contains("404"), "{xml}");
    // <lastmod>: `updated` if set, else `date`; none for an undated page.
    let entry = |path: &str| {
        xml.lines()
            .find(|l| l.contains(&format!("<loc>https://example.org{path}</loc>")))
            .unwrap_or_else(|| panic!("{path}"))
            .to_string()
    };
    assert!(
        entry("/blog/first/").contains("<lastmod>2024-01-10</lastmod>"),
        "{xml}"
    );
    assert!(
        entry("/blog/second/").contains("<lastmod>2024-03-05T10:00:00+01:00</lastmod>"),
        "{xml}"
    );
    assert!(
        entry("/blog/2023/old/").contains("<lastmod>2023-06-01T08:00:00Z</lastmod>"),
        "{xml}"
    );
    assert!(!entry("/about/").contains("lastmod"), "{xml}");
}

#[test]
fn atom_feeds_for_the_site_and_each_section() {
    let mut files = blog();
    // 23 more posts: the feeds keep the newest 20.
    for d in 1..=23 {
        files.push((
            Box::leak(format!("content/blog/p{d:02}.md").into_boxed_str()),
            md(
                &format!("title = \"Post {d}\"\ndate = 2025-01-{d:02}"),
                "Text.",
            ),
        ));
    }
    // Offsets count: 01:00 at +05:00 is 20:00 UTC the day before, older than 21:00 UTC.
    files.push(("content/notes/_index.md", md("title = \"Notes\"", "")));
    files.push((
        "content/notes/east.md",
        md("title = \"East\"\ndate = 2024-05-01T01:00:00+05:00", "E."),
    ));
    files.push((
        "content/notes/west.md",
        md("title = \"West\"\ndate = 2024-04-30T21:00:00Z", "W."),
    ));
    let dir = site(WITH_BASE, &files);
    let out = built(dir.path());

    let site_feed = read(&out, "atom.xml");
    assert!(site_feed.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\""), "{site_feed}");
    let entries = site_feed.split("<entry>").count() - 1;
    assert_eq!(entries, 20, "{site_feed}");
    let titles = all(&site_feed, "title");
    assert_eq!(titles[0], "Field Notes");
    assert_eq!(titles[1], "Post 23");
    assert_eq!(titles[20], "Post 4");
    // The feed's <updated> is its newest entry's, not the time of the build.
    let updated = all(&site_feed, "updated");
    assert_eq!(updated[0], "2025-01-23T00:00:00Z");
    assert_eq!(updated[1], "2025-01-23T00:00:00Z");
    assert!(site_feed.contains("<id>https://example.org/atom.xml</id>"));
    assert!(site_feed.contains(
        "<link rel=\"self\" type=\"application/atom+xml\" href=\"https://example.org/atom.xml\"/>"
    ));
    assert!(site_feed.contains("<subtitle>Notes &amp; more</subtitle>"));
    assert!(site_feed.contains("<author><name>Field Notes</name></author>"));

    let blog_feed = read(&out, "blog/atom.xml");
    assert_eq!(blog_feed.split("<entry>").count() - 1, 20);
    assert!(blog_feed.contains("<title>Blog · Field Notes</title>"));
    assert!(!blog_feed.contains("East"), "{blog_feed}");

    let notes = read(&out, "notes/atom.xml");
    let titles = all(&notes, "title");
    assert_eq!(titles, ["Notes · Field Notes", "West", "East"], "{notes}");
    assert_eq!(all(&notes, "updated")[0], "2024-04-30T21:00:00Z");
    // An entry: title, link, id (absolute), published, updated, summary.
    let west = notes.split("<entry>").nth(1).unwrap();
    for want in [
        "<title>West</title>",
        "<link rel=\"alternate\" type=\"text/html\" href=\"https://example.org/notes/west/\"/>",
        "<id>https://example.org/notes/west/</id>",
        "<published>2024-04-30T21:00:00Z</published>",
        "<updated>2024-04-30T21:00:00Z</updated>",
        "<summary>W.</summary>",
    ] {
        assert!(west.contains(want), "{want} not in {west}");
    }

    // The blog alone: summary from the description or the first
    // paragraph, `updated` from the front matter's.
    let few = site(WITH_BASE, &blog());
    let out = built(few.path());
    let feed = read(&out, "blog/atom.xml");
    let titles = all(&feed, "title");
    assert_eq!(
        titles,
        ["Blog · Field Notes", "Second", "First", "Old"],
        "{feed}"
    );
    // The newest change, from `updated`, is the feed's.
    assert_eq!(all(&feed, "updated")[0], "2024-03-05T10:00:00+01:00");
    assert_eq!(
        all(&feed, "summary"),
        [
            "Second&apos;s description",
            "The first post &amp; its link.",
            "Old post."
        ]
    );
    // Sections without a dated page have no feed.
    assert!(!out.join("docs/atom.xml").exists());
    assert!(out.join("atom.xml").exists());
}

#[test]
fn no_dates_no_feed() {
    let dir = site(
        WITH_BASE,
        &[
            ("content/_index.md", md("title = \"Home\"", "Hi.")),
            ("content/docs/_index.md", md("title = \"Docs\"", "")),
            ("content/docs/a.md", md("title = \"A\"", "A.")),
        ],
    );
    let out = built(dir.path());
    assert!(!out.join("atom.xml").exists());
    assert!(!out.join("docs/atom.xml").exists());
    assert!(out.join("sitemap.xml").exists());
    assert!(!head(&out, "index.html").contains("application/atom+xml"));
}

#[test]
fn without_base_url_no_sitemap_no_feeds_no_canonical() {
    let dir = site(WITHOUT_BASE, &blog());
    let out = built(dir.path());
    for f in ["sitemap.xml", "atom.xml", "blog/atom.xml"] {
        assert!(!out.join(f).exists(), "{f} written without base_url");
    }
    for page in ["index.html", "blog/index.html", "blog/first/index.html"] {
        let h = head(&out, page);
        for absent in ["canonical", "og:", "twitter:", "application/atom+xml"] {
            assert!(!h.contains(absent), "{absent} in {page}: {h}");
        }
    }
    assert_eq!(read(&out, "robots.txt"), "User-agent: *\nAllow: /\n");
}

#[test]
fn robots_txt_names_the_sitemap_unless_the_author_wrote_one() {
    let dir = site(WITH_BASE, &blog());
    let out = built(dir.path());
    assert_eq!(
        read(&out, "robots.txt"),
        "User-agent: *\nAllow: /\n\nSitemap: https://example.org/sitemap.xml\n"
    );
    // `_headers` revalidates the new top-level files like every page.
    let headers = read(&out, "_headers");
    for f in ["/sitemap.xml", "/atom.xml", "/robots.txt"] {
        assert!(headers.contains(&format!("\n{f}\n")), "{f}: {headers}");
    }

    let own = "User-agent: BadBot\nDisallow: /\n# mine\n";
    let mut files = blog();
    files.push(("content/robots.txt", own.into()));
    let dir = site(WITH_BASE, &files);
    let out = built(dir.path());
    assert_eq!(read(&out, "robots.txt"), own);
}

#[test]
fn a_content_file_in_place_of_a_feed_is_an_error() {
    let mut files = blog();
    files.push(("content/blog/atom.xml", "<feed/>".into()));
    let dir = site(WITH_BASE, &files);
    let e = try_build(dir.path()).unwrap_err();
    assert!(e.to_string().contains("blog/atom.xml"), "{e}");
    assert!(e.message.contains("also writes"), "{e}");
    // Without base_url bake writes no feed, so the file is the author's to have.
    let dir = site(WITHOUT_BASE, &files);
    let out = built(dir.path());
    assert_eq!(read(&out, "blog/atom.xml"), "<feed/>");
}

#[test]
fn pages_carry_canonical_and_opengraph_tags() {
    let mut files = blog();
    files.push((
        "content/blog/odd.md",
        md(
            "title = \"Fish & \\\"Chips\\\" <b>\"\ndate = 2024-04-01\ndescription = \"Tasty <i>really</i>\"",
            "x",
        ),
    ));
    let dir = site(WITH_BASE, &files);
    let out = built(dir.path());

    let page = head(&out, "blog/second/index.html");
    for want in [
        "<link rel=\"canonical\" href=\"https://example.org/blog/second/\">",
        "<meta property=\"og:url\" content=\"https://example.org/blog/second/\">",
        "<meta property=\"og:title\" content=\"Second\">",
        "<meta property=\"og:type\" content=\"article\">",
        "<meta property=\"og:description\" content=\"Second's description\">",
        "<meta property=\"og:site_name\" content=\"Field Notes\">",
        "<meta name=\"twitter:card\" content=\"summary\">",
        "<link rel=\"alternate\" type=\"application/atom+xml\" title=\"Field Notes\" href=\"/atom.xml\">",
    ] {
        assert!(page.contains(want), "{want} not in {page}");
    }
    // Only the site's feed on a page; a section's own feed on the section's page.
    assert!(!page.contains("/blog/atom.xml"), "{page}");

    let about = head(&out, "about/index.html");
    assert!(
        about.contains("<meta property=\"og:type\" content=\"website\">"),
        "{about}"
    );
    assert!(!about.contains("og:description"), "{about}");

    let section = head(&out, "blog/index.html");
    for want in [
        "<link rel=\"canonical\" href=\"https://example.org/blog/\">",
        "<meta property=\"og:title\" content=\"Blog\">",
        "<meta property=\"og:type\" content=\"website\">",
        "<meta property=\"og:description\" content=\"Posts\">",
        "<link rel=\"alternate\" type=\"application/atom+xml\" title=\"Blog · Field Notes\" href=\"/blog/atom.xml\">",
    ] {
        assert!(section.contains(want), "{want} not in {section}");
    }
    let docs = head(&out, "docs/index.html");
    assert!(!docs.contains("/docs/atom.xml"), "{docs}");
    let home = head(&out, "index.html");
    assert!(
        home.contains("<link rel=\"canonical\" href=\"https://example.org/\">"),
        "{home}"
    );

    let tag = head(&out, "tags/intro/index.html");
    assert!(
        tag.contains("<meta property=\"og:title\" content=\"#intro\">"),
        "{tag}"
    );
    // The 404 page is served at any address: it names none as its own.
    let not_found = head(&out, "404.html");
    assert!(!not_found.contains("canonical"), "{not_found}");

    // Everything goes through the autoescape: no markup from a title or description.
    let raw = read(&out, "blog/odd/index.html");
    let raw_head = raw.split("</head>").next().unwrap();
    assert!(
        !raw_head.contains("<b>") && !raw_head.contains("<i>"),
        "{raw_head}"
    );
    assert!(
        raw_head.contains("og:title\" content=\"Fish &amp; &quot;Chips&quot; &lt;b&gt;\""),
        "{raw_head}"
    );
}

#[test]
fn the_same_input_gives_the_same_bytes() {
    let dir = site(WITH_BASE, &blog());
    let first = crate::support::files_under(&built(dir.path()));
    // A second later, with the files rewritten (new modification times).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    for (rel, text) in blog() {
        std::fs::write(dir.path().join(rel), text).unwrap();
    }
    let second = crate::support::files_under(&built(dir.path()));
    for f in ["sitemap.xml", "atom.xml", "blog/atom.xml", "robots.txt"] {
        assert!(first.contains_key(Path::new(f)), "{f} missing");
    }
    assert_eq!(
        first.keys().collect::<Vec<_>>(),
        second.keys().collect::<Vec<_>>()
    );
    for (path, bytes) in &first {
        assert!(second[path] == *bytes, "{} differs", path.display());
    }
}

#[test]
fn a_date_that_is_no_date_names_the_file_the_line_and_what_to_write() {
    for (front, line, key) in [
        ("title = \"Bad\"\ndate = \"next tuesday\"", 3, "date"),
        (
            "title = \"Bad\"\ndate = 2024-01-01\nupdated = \"01/02/2024\"",
            4,
            "updated",
        ),
    ] {
        let mut files = blog();
        files.push(("content/blog/bad.md", md(front, "x")));
        let dir = site(WITH_BASE, &files);
        let e = try_build(dir.path()).unwrap_err();
        assert_eq!(
            e.file.as_deref(),
            Some(Path::new("content/blog/bad.md")),
            "{e}"
        );
        assert_eq!(e.line, Some(line), "{e}");
        assert!(e.message.starts_with(&format!("{key} `")), "{e}");
        assert!(e.message.contains("is not a date"), "{e}");
        let hint = e.hint.as_deref().unwrap_or("");
        assert!(
            hint.contains("2024-01-15") && hint.contains("2024-01-15T09:30:00Z"),
            "{e}"
        );
        assert!(
            !dir.path().join("site").exists(),
            "a failed build wrote a site"
        );
    }
}
