//! URL path segments made from names that authors (or their data) choose: page files,
//! tags, tables. A name becomes a segment that is safe on every host and file system —
//! lowercase, NFC-normalised letters and digits joined by dashes — while the real name
//! stays what pages show. Two different names that would share a segment are an error,
//! never a silent merge: the second page would overwrite the first, or (on a
//! case-insensitive host) both would be served from one file.

use unicode_normalization::UnicodeNormalization;

/// `ETag and Last-Modified` → `etag-and-last-modified`: lowercase letters and digits (any
/// script, NFC-normalised), every other run of characters one dash. Heading ids and tags.
pub fn slugify(text: &str) -> String {
    slug_keeping(text, |_| false)
}

/// A path segment for a file or table name: like [`slugify`], but `_` is kept
/// (`public_suffixes` stays `public_suffixes`). Empty when the name has no letter or digit.
pub fn segment(name: &str) -> String {
    slug_keeping(name, |c| c == '_')
}

fn slug_keeping(text: &str, keep: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.nfc().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() || keep(c) {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// The segment of a table (or database) name, never empty: a name without letters or
/// digits (`"..."`) gets `t-` and the first 8 hex digits of its hash, so it still has a
/// stable page of its own.
pub fn table_segment(name: &str) -> String {
    let s = segment(name);
    if s.is_empty() {
        format!("t-{}", &blake3::hash(name.as_bytes()).to_hex()[..8])
    } else {
        s
    }
}

/// URL of the page of `table` in database `db`: `/tables/DB/TABLE/`.
pub fn table_url(db: &str, table: &str) -> String {
    format!("/tables/{}/{}/", table_segment(db), table_segment(table))
}

/// Output file of the page of `table` in database `db`.
pub fn table_output(db: &str, table: &str) -> String {
    format!("{}index.html", &table_url(db, table)[1..])
}

/// Two tables of one database whose pages would share a URL, as a message.
pub fn table_collision<'a>(db: &str, tables: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut seen = std::collections::BTreeMap::new();
    for t in tables {
        let seg = table_segment(t);
        if let Some(first) = seen.insert(seg.clone(), t) {
            return Some(format!(
                "tables `{first}` and `{t}` of database `{db}` would both have the page /tables/{}/{seg}/ (page URLs are lowercase)",
                table_segment(db)
            ));
        }
    }
    None
}

/// The form of an output path that hosts and file systems may treat as equal: lowercase
/// and NFC. Two outputs with the same key collide on macOS, Windows and case-insensitive
/// object stores even when their bytes differ.
pub fn collision_key(path: &str) -> String {
    path.nfc().flat_map(char::to_lowercase).collect()
}

/// Why a file name cannot be served under its own name, if it cannot: `#` and `?` end a
/// URL's path, `%` starts an escape, `\` is a separator on some hosts, control characters
/// break headers and logs.
pub fn unsafe_file_name(name: &str) -> Option<&'static str> {
    if name.contains(['#', '?']) {
        Some("`#` and `?` end the path part of a URL")
    } else if name.contains('%') {
        Some("`%` starts an escape in a URL")
    } else if name.contains('\\') {
        Some("`\\` separates folders on some hosts")
    } else if name.chars().any(char::is_control) {
        Some("it holds a control character")
    } else {
        None
    }
}

/// The normalised form of a tag: tags equal under it are one tag (`Rust`, `rust`,
/// ` rust `); different tags with one [`slugify`] are a collision.
pub fn tag_key(tag: &str) -> String {
    tag.nfc()
        .flat_map(char::to_lowercase)
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_safe_segments() {
        assert_eq!(slugify("ETag and Last-Modified"), "etag-and-last-modified");
        assert_eq!(slugify("C++"), "c");
        assert_eq!(segment("public_suffixes"), "public_suffixes");
        assert_eq!(segment("../../../../elsewhere/x"), "elsewhere-x");
        assert_eq!(segment("a/b"), "a-b");
        assert_eq!(segment("<b>x</b>"), "b-x-b");
        assert_eq!(segment("a#b"), "a-b");
        assert_eq!(segment("50%"), "50");
        assert_eq!(segment("Page"), "page");
        assert_eq!(segment("!!!"), "");
    }

    #[test]
    fn nfc_and_nfd_spellings_share_a_segment() {
        let nfc = "caf\u{e9}";
        let nfd = "cafe\u{301}";
        assert_ne!(nfc, nfd);
        assert_eq!(segment(nfc), segment(nfd));
        assert_eq!(collision_key(nfc), collision_key(nfd));
        assert_eq!(collision_key("Page/index.html"), "page/index.html");
    }

    #[test]
    fn table_pages_never_leave_their_folder() {
        assert_eq!(
            table_output("db", "../../../../../../elsewhere/x"),
            "tables/db/elsewhere-x/index.html"
        );
        let odd = table_segment("...");
        assert!(odd.starts_with("t-") && odd.len() == 10, "{odd}");
        assert_eq!(table_segment("..."), odd, "stable");
        assert_ne!(table_segment("---"), odd);
        assert_eq!(table_url("nyc", "flights"), "/tables/nyc/flights/");
    }

    #[test]
    fn table_collisions_are_found() {
        assert!(table_collision("db", ["a", "b"]).is_none());
        let m = table_collision("db", ["A", "a"]).unwrap();
        assert!(
            m.contains("`A` and `a`") && m.contains("/tables/db/a/"),
            "{m}"
        );
        assert!(table_collision("db", ["a/b", "a-b"]).is_some());
    }

    #[test]
    fn unsafe_names_and_tags() {
        assert!(unsafe_file_name("a#b.png").is_some());
        assert!(unsafe_file_name("50%.png").is_some());
        assert!(unsafe_file_name("a\u{7}.png").is_some());
        assert!(unsafe_file_name("plain name.png").is_none());
        assert_eq!(tag_key(" Rust "), tag_key("rust"));
        assert_ne!(tag_key("C++"), tag_key("C"));
    }
}
