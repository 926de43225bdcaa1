//! What crawlers and feed readers read: `sitemap.xml`, the Atom feeds (`atom.xml` for the
//! site, `SECTION/atom.xml` per section) and `robots.txt`. They need absolute URLs, so the
//! sitemap and the feeds exist only when `base_url` is set in bake.toml.
//!
//! The build hands this module plain facts about pages ([`FeedPage`], [`SitemapPage`]);
//! it plans the feeds ([`plan`]) and writes the XML. Nothing here depends on the clock:
//! a feed's `<updated>` is its newest entry's, so the same input gives the same bytes.

use std::collections::BTreeMap;

use toml::value::{Datetime, Offset};

/// Entries a feed holds at most (the newest).
pub const FEED_ENTRIES: usize = 20;

/// Where the site's own feed is written.
pub const SITE_FEED: &str = "atom.xml";

/// A front-matter date as a point in time, for sorting, and as the text feeds write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// Seconds since 1970 in UTC, and nanoseconds: what sorting compares.
    instant: (i64, u32),
    /// RFC 3339 with an offset (`Z` for a date alone or a time without one).
    rfc3339: String,
    /// Written as a date alone.
    date_only: bool,
}

impl Ord for Stamp {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.instant, &self.rfc3339).cmp(&(other.instant, &other.rfc3339))
    }
}

impl PartialOrd for Stamp {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Stamp {
    /// A front-matter date (`2024-01-15`, `2024-01-15T09:30:00+02:00`, …; the forms
    /// [`crate::frontmatter::parse_date`] accepts). A date alone is midnight UTC, and so is
    /// the time of one without an offset: a build knows no time zone but UTC.
    pub fn parse(text: &str) -> Option<Stamp> {
        let Datetime { date, time, offset } = crate::frontmatter::parse_date(text).ok()?;
        let date = date?;
        let (hour, minute, second, nanos) = time
            .map(|t| {
                (
                    t.hour,
                    t.minute,
                    t.second.unwrap_or(0),
                    t.nanosecond.unwrap_or(0),
                )
            })
            .unwrap_or((0, 0, 0, 0));
        let offset_minutes = match offset {
            Some(Offset::Custom { minutes }) => i64::from(minutes),
            _ => 0,
        };
        let days = days_from_civil(i64::from(date.year), date.month.into(), date.day.into());
        let local =
            days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second);
        let fraction = match nanos {
            0 => String::new(),
            n => format!(".{n:09}").trim_end_matches('0').to_string(),
        };
        let zone = match offset {
            Some(Offset::Custom { minutes }) if minutes != 0 => format!(
                "{}{:02}:{:02}",
                if minutes < 0 { '-' } else { '+' },
                minutes.unsigned_abs() / 60,
                minutes.unsigned_abs() % 60
            ),
            _ => "Z".into(),
        };
        Some(Stamp {
            instant: (local - offset_minutes * 60, nanos),
            rfc3339: format!(
                "{:04}-{:02}-{:02}T{hour:02}:{minute:02}:{second:02}{fraction}{zone}",
                date.year, date.month, date.day
            ),
            date_only: time.is_none(),
        })
    }

    /// As Atom writes it: RFC 3339, always with a time and an offset.
    pub fn rfc3339(&self) -> &str {
        &self.rfc3339
    }

    /// As a sitemap's `<lastmod>` writes it (W3C Datetime): a date alone stays a date.
    pub fn w3c(&self) -> &str {
        if self.date_only {
            &self.rfc3339[..10]
        } else {
            &self.rfc3339
        }
    }
}

/// Days from 1970-01-01 to the given date of the proleptic Gregorian calendar.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A dated page, as the feeds see it.
#[derive(Debug, Clone)]
pub struct FeedPage {
    /// Its URL (`/blog/first-post/`).
    pub url: String,
    /// Its title.
    pub title: String,
    /// Its description, or the text of its first paragraph.
    pub summary: String,
    /// `date` of the front matter.
    pub published: Stamp,
    /// `updated` of the front matter, else `date`.
    pub updated: Stamp,
}

/// A section that may have a feed of its own.
#[derive(Debug, Clone)]
pub struct FeedSection {
    /// Its URL (`/blog/`), never `/` (the site's feed is that one).
    pub url: String,
    /// Its title.
    pub title: String,
    /// Its description (the feed's subtitle), may be empty.
    pub description: String,
}

/// One feed to write.
#[derive(Debug, Clone)]
pub struct Feed {
    /// Output path in the site (`atom.xml`, `blog/atom.xml`).
    pub output: String,
    /// The page it is the feed of (`/`, `/blog/`).
    pub page_url: String,
    /// Feed title.
    pub title: String,
    /// Feed subtitle, may be empty.
    pub subtitle: String,
    /// The author's name: the site's title (RFC 4287 wants an author on the feed or on
    /// every entry).
    pub author: String,
    /// Newest first, at most [`FEED_ENTRIES`].
    pub entries: Vec<FeedPage>,
}

impl Feed {
    /// Its URL in the site (`/blog/atom.xml`).
    pub fn url(&self) -> String {
        format!("/{}", self.output)
    }
}

/// The feeds of a site: the site's, of every dated page, and one per section with dated
/// pages under it (in its subsections too). A site or section without dated pages has none.
pub fn plan(
    site_title: &str,
    site_description: &str,
    sections: &[FeedSection],
    pages: &[FeedPage],
) -> Vec<Feed> {
    let newest = |filter: &dyn Fn(&FeedPage) -> bool| {
        let mut v: Vec<FeedPage> = pages.iter().filter(|p| filter(p)).cloned().collect();
        v.sort_by(|a, b| {
            b.published
                .cmp(&a.published)
                .then_with(|| a.url.cmp(&b.url))
        });
        v.truncate(FEED_ENTRIES);
        v
    };
    let mut feeds = Vec::new();
    let all = newest(&|_: &FeedPage| true);
    if !all.is_empty() {
        feeds.push(Feed {
            output: SITE_FEED.into(),
            page_url: "/".into(),
            title: site_title.to_string(),
            subtitle: site_description.to_string(),
            author: site_title.to_string(),
            entries: all,
        });
    }
    for s in sections.iter().filter(|s| s.url != "/") {
        let entries = newest(&|p: &FeedPage| p.url.starts_with(&s.url) && p.url != s.url);
        if entries.is_empty() {
            continue;
        }
        feeds.push(Feed {
            output: format!("{}{SITE_FEED}", s.url.trim_start_matches('/')),
            page_url: s.url.clone(),
            title: if site_title.is_empty() {
                s.title.clone()
            } else {
                format!("{} · {site_title}", s.title)
            },
            subtitle: s.description.clone(),
            author: site_title.to_string(),
            entries,
        });
    }
    feeds
}

/// `base_url` + a site path, as an absolute URL (characters a URL may not hold encoded).
pub fn absolute(base_url: &str, path: &str) -> String {
    match url::Url::parse(base_url).and_then(|b| b.join(path)) {
        Ok(u) => u.to_string(),
        // base_url was checked when bake.toml was read.
        Err(_) => format!("{base_url}{path}"),
    }
}

/// Text made safe for XML content and attribute values.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters other than tab and newlines are not allowed in XML 1.0.
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// An Atom 1.0 feed (RFC 4287). Its `<updated>` is the newest entry's.
pub fn atom(base_url: &str, language: &str, feed: &Feed) -> String {
    let e = xml_escape;
    let self_url = absolute(base_url, &feed.url());
    let updated = feed
        .entries
        .iter()
        .map(|p| &p.updated)
        .max()
        .map(Stamp::rfc3339)
        .unwrap_or("1970-01-01T00:00:00Z");
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    x.push_str(&format!(
        "<feed xmlns=\"http://www.w3.org/2005/Atom\" xml:lang=\"{}\">\n",
        e(language)
    ));
    x.push_str(&format!("  <title>{}</title>\n", e(&feed.title)));
    if !feed.subtitle.trim().is_empty() {
        x.push_str(&format!("  <subtitle>{}</subtitle>\n", e(&feed.subtitle)));
    }
    x.push_str(&format!(
        "  <link rel=\"self\" type=\"application/atom+xml\" href=\"{}\"/>\n",
        e(&self_url)
    ));
    x.push_str(&format!(
        "  <link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>\n",
        e(&absolute(base_url, &feed.page_url))
    ));
    x.push_str(&format!("  <id>{}</id>\n", e(&self_url)));
    x.push_str(&format!("  <updated>{updated}</updated>\n"));
    let author = match feed.author.trim() {
        "" => base_url,
        a => a,
    };
    x.push_str(&format!("  <author><name>{}</name></author>\n", e(author)));
    for p in &feed.entries {
        let url = absolute(base_url, &p.url);
        x.push_str("  <entry>\n");
        x.push_str(&format!("    <title>{}</title>\n", e(&p.title)));
        x.push_str(&format!(
            "    <link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>\n",
            e(&url)
        ));
        x.push_str(&format!("    <id>{}</id>\n", e(&url)));
        x.push_str(&format!(
            "    <published>{}</published>\n",
            p.published.rfc3339()
        ));
        x.push_str(&format!("    <updated>{}</updated>\n", p.updated.rfc3339()));
        if !p.summary.trim().is_empty() {
            x.push_str(&format!("    <summary>{}</summary>\n", e(&p.summary)));
        }
        x.push_str("  </entry>\n");
    }
    x.push_str("</feed>\n");
    x
}

/// A page of the sitemap.
#[derive(Debug, Clone)]
pub struct SitemapPage {
    /// Its URL in the site (`/caching/etag/`).
    pub url: String,
    /// `updated`, else `date`, of its front matter.
    pub lastmod: Option<Stamp>,
}

/// The URL of an HTML file the build writes (`caching/index.html` → `/caching/`), or
/// `None` for one that is no page of its own (`404.html`).
pub fn page_url_of_output(output: &str) -> Option<String> {
    if output == "index.html" {
        return Some("/".into());
    }
    output
        .strip_suffix("/index.html")
        .map(|dir| format!("/{dir}/"))
}

/// `sitemap.xml` (sitemaps.org 0.9): every page, sorted by URL.
pub fn sitemap(base_url: &str, pages: &[SitemapPage]) -> String {
    let mut by_url: BTreeMap<&str, Option<&Stamp>> = BTreeMap::new();
    for p in pages {
        by_url.insert(&p.url, p.lastmod.as_ref());
    }
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
    );
    for (url, lastmod) in by_url {
        x.push_str(&format!(
            "  <url><loc>{}</loc>",
            xml_escape(&absolute(base_url, url))
        ));
        if let Some(m) = lastmod {
            x.push_str(&format!("<lastmod>{}</lastmod>", m.w3c()));
        }
        x.push_str("</url>\n");
    }
    x.push_str("</urlset>\n");
    x
}

/// `robots.txt`: everything may be crawled; the sitemap named when there is one.
pub fn robots(base_url: Option<&str>) -> String {
    let mut r = String::from("User-agent: *\nAllow: /\n");
    if let Some(b) = base_url {
        r.push_str(&format!("\nSitemap: {}\n", absolute(b, "/sitemap.xml")));
    }
    r
}

/// The text of the first paragraph of rendered HTML (tags dropped, the entities the
/// markdown renderer writes decoded), or `None` if there is none with text.
pub fn first_paragraph(html: &str) -> Option<String> {
    let mut rest = html;
    while let Some(at) = rest.find("<p") {
        let after = &rest[at + 2..];
        if !after.starts_with(['>', ' ', '\n', '\t']) {
            rest = after;
            continue;
        }
        let open_end = after.find('>')? + 1;
        let body = &after[open_end..];
        let close = body.find("</p>").unwrap_or(body.len());
        let inner = &body[..close];
        let mut text = String::new();
        let mut in_tag = false;
        for c in inner.chars() {
            match c {
                '<' => in_tag = true,
                '>' if in_tag => in_tag = false,
                c if !in_tag => text.push(c),
                _ => {}
            }
        }
        let text = text
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&amp;", "&");
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if !text.is_empty() {
            return Some(text);
        }
        rest = &body[close..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(s: &str) -> Stamp {
        Stamp::parse(s).unwrap_or_else(|| panic!("{s}"))
    }

    #[test]
    fn dates_become_instants() {
        assert_eq!(stamp("1970-01-01").instant, (0, 0));
        assert_eq!(stamp("2024-01-15").rfc3339(), "2024-01-15T00:00:00Z");
        assert_eq!(stamp("2024-01-15").w3c(), "2024-01-15");
        assert_eq!(
            stamp("2024-01-15 09:30:00").rfc3339(),
            "2024-01-15T09:30:00Z"
        );
        assert_eq!(
            stamp("2024-01-15T09:30:00.250+02:00").rfc3339(),
            "2024-01-15T09:30:00.25+02:00"
        );
        assert_eq!(
            stamp("2024-01-15T09:30:00-05:30").w3c(),
            "2024-01-15T09:30:00-05:30"
        );
        // 2000-03-01 is day 11017; an offset moves the instant, not the text.
        assert_eq!(stamp("2000-03-01").instant.0, 11_017 * 86_400);
        assert!(stamp("2024-01-15T09:00:00+02:00") < stamp("2024-01-15T08:00:00Z"));
        assert!(stamp("2024-01-16") > stamp("2024-01-15T23:59:59Z"));
        assert!(Stamp::parse("yesterday").is_none());
    }

    #[test]
    fn escapes_the_five() {
        assert_eq!(
            xml_escape("a<b>&\"c\"'d'\u{1}"),
            "a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos;"
        );
    }

    #[test]
    fn output_paths_to_urls() {
        assert_eq!(page_url_of_output("index.html").as_deref(), Some("/"));
        assert_eq!(
            page_url_of_output("a/b/index.html").as_deref(),
            Some("/a/b/")
        );
        assert_eq!(page_url_of_output("404.html"), None);
        assert_eq!(
            absolute("https://example.org", "/café/"),
            "https://example.org/caf%C3%A9/"
        );
    }

    #[test]
    fn first_paragraphs() {
        let html = "<h1>T</h1>\n<pre>x</pre><p></p><p class=\"x\">One <em>two</em> &amp; &lt;three&gt;\nfour</p><p>no</p>";
        assert_eq!(
            first_paragraph(html).as_deref(),
            Some("One two & <three> four")
        );
        assert_eq!(first_paragraph("<pre>x</pre>"), None);
    }

    #[test]
    fn plans_feeds_newest_first() {
        let page = |url: &str, date: &str| FeedPage {
            url: url.into(),
            title: url.into(),
            summary: String::new(),
            published: stamp(date),
            updated: stamp(date),
        };
        let pages: Vec<FeedPage> = (1..=25)
            .map(|d| page(&format!("/blog/p{d}/"), &format!("2024-01-{d:02}")))
            .chain([page("/notes/n/", "2023-05-05")])
            .collect();
        let sections = [
            FeedSection {
                url: "/blog/".into(),
                title: "Blog".into(),
                description: String::new(),
            },
            FeedSection {
                url: "/empty/".into(),
                title: "Empty".into(),
                description: String::new(),
            },
        ];
        let feeds = plan("Site", "", &sections, &pages);
        let outputs: Vec<&str> = feeds.iter().map(|f| f.output.as_str()).collect();
        assert_eq!(outputs, ["atom.xml", "blog/atom.xml"]);
        assert_eq!(feeds[0].entries.len(), FEED_ENTRIES);
        assert_eq!(feeds[0].entries[0].url, "/blog/p25/");
        assert_eq!(feeds[0].entries[19].url, "/blog/p6/");
        assert_eq!(feeds[1].title, "Blog · Site");
        assert!(plan("Site", "", &sections, &[]).is_empty());
    }
}
