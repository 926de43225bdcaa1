//! Stage 1, load: walk `content/` in sorted order, refuse paths that escape it, read front
//! matter and sort every file into pages, data sources and static assets.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::frontmatter::{self, FrontMatter};

/// Extensions of files baked into databases (`.gz` may follow csv, tsv and jsonl).
pub const DATA_EXTENSIONS: &[&str] = &[
    "csv", "tsv", "json", "jsonl", "ndjson", "sql", "sqlite", "db",
];

/// A markdown page or section index.
#[derive(Debug, Clone)]
pub struct Page {
    /// Path relative to the content folder, with `/` separators (`caching/etag.md`).
    pub rel: String,
    /// Path for messages (`content/caching/etag.md`).
    pub display: PathBuf,
    /// Parsed front matter.
    pub front: FrontMatter,
    /// Markdown body.
    pub body: String,
    /// Line of the body's first line in the file.
    pub body_line: usize,
    /// Site URL, always ending in `/` (`/caching/etag/`).
    pub url: String,
    /// Output file relative to the site root (`caching/etag/index.html`).
    pub output: String,
    /// True for `_index.md`.
    pub is_section: bool,
    /// URL of the section this page (or subsection) belongs to; empty for the home page.
    pub parent: String,
}

/// A data file found in the content folder.
#[derive(Debug, Clone)]
pub struct DataFile {
    /// Path relative to the content folder.
    pub rel: String,
    /// Path on disk.
    pub path: PathBuf,
}

/// A file copied as it is.
#[derive(Debug, Clone)]
pub struct Asset {
    /// Path relative to the content folder (and to the site root).
    pub rel: String,
    /// Path on disk.
    pub path: PathBuf,
}

/// Everything in the content folder, classified.
#[derive(Debug, Default)]
pub struct Content {
    /// Pages and sections, sorted by path.
    pub pages: Vec<Page>,
    /// Data files, sorted by path.
    pub data: Vec<DataFile>,
    /// Diagram sources (`.dot`, `.bob`, `.mmd`…), sorted by path.
    pub diagrams: Vec<crate::diagrams::DiagramFile>,
    /// Static assets, sorted by path.
    pub assets: Vec<Asset>,
    /// Drafts left out of the build.
    pub drafts: usize,
}

/// Walks the content folder of `config`.
pub fn load(config: &Config) -> Result<Content> {
    let root = config.content_dir();
    let canon_root = root.canonicalize().map_err(|e| {
        Error::io(&root, "open the content folder", e)
            .hint("create it, or point build.content in bake.toml at your content")
    })?;
    let mut content = Content::default();
    let walker = walkdir::WalkDir::new(&root)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    for entry in walker {
        let entry = entry.map_err(|e| {
            let p = e
                .path()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| root.clone());
            Error::in_file(p, format!("cannot read: {e}"))
        })?;
        if entry.depth() == 0 {
            continue;
        }
        let rel_path = entry
            .path()
            .strip_prefix(&root)
            .expect("walkdir stays under its root");
        let rel = rel_to_string(rel_path)?;
        let mut path = entry.path().to_path_buf();
        if entry.path_is_symlink() {
            let display = config.build.content.join(&rel);
            let target = entry.path().canonicalize().map_err(|e| {
                Error::io(&display, "follow the symbolic link", e).hint("remove the broken link")
            })?;
            if !target.starts_with(&canon_root) {
                return Err(Error::in_file(
                    &display,
                    format!(
                        "symbolic link leads outside the content folder (to {})",
                        target.display()
                    ),
                )
                .hint("copy the file into content/ instead of linking to it"));
            }
            if target.is_dir() {
                return Err(
                    Error::in_file(&display, "symbolic links to folders are not followed")
                        .hint("move or copy the folder into place"),
                );
            }
            path = target;
        } else if entry.file_type().is_dir() {
            continue;
        }
        classify(config, &mut content, rel, path)?;
    }
    Ok(content)
}

/// Top-level folders of the site that bake fills with hashed files of its own.
const RESERVED_DIRS: &[&str] = &[crate::emit::ASSETS_DIR, crate::emit::DATA_DIR];

fn classify(config: &Config, content: &mut Content, rel: String, path: PathBuf) -> Result<()> {
    let name = rel.rsplit('/').next().unwrap_or(&rel);
    let lower = name.to_ascii_lowercase();
    let display = || config.build.content.join(&rel);
    if let Some(dir) = RESERVED_DIRS
        .iter()
        .find(|d| rel.split('/').next() == Some(**d))
    {
        return Err(Error::in_file(
            display(),
            format!("is inside `{dir}/`, the folder bake writes its own hashed files to"),
        )
        .hint(format!(
            "move it to another folder: bake replaces the site's {} and {} as a whole",
            RESERVED_DIRS[0], RESERVED_DIRS[1]
        )));
    }
    let ext = lower
        .strip_suffix(".gz")
        .unwrap_or(&lower)
        .rsplit_once('.')
        .map(|(_, e)| e)
        .unwrap_or("");
    if lower.ends_with(".md") {
        let page = read_page(config, &rel, &path)?;
        if page.front.draft && !config.build.drafts {
            content.drafts += 1;
        } else {
            content.pages.push(page);
        }
    } else if DATA_EXTENSIONS.contains(&ext)
        && (!lower.ends_with(".gz") || matches!(ext, "csv" | "tsv" | "jsonl" | "ndjson"))
    {
        content.data.push(DataFile { rel, path });
    } else if let Some(kind) = crate::diagrams::Kind::from_extension(ext) {
        content
            .diagrams
            .push(crate::diagrams::DiagramFile { rel, path, kind });
    } else {
        if let Some(why) = rel.split('/').find_map(crate::slug::unsafe_file_name) {
            return Err(Error::in_file(
                display(),
                format!("cannot be served under its name: {why}"),
            )
            .hint("rename the file (or folder) to letters, digits, `-`, `_` and `.`"));
        }
        content.assets.push(Asset { rel, path });
    }
    Ok(())
}

fn read_page(config: &Config, rel: &str, path: &Path) -> Result<Page> {
    let display = config.build.content.join(rel);
    let bytes = std::fs::read(path).map_err(|e| Error::io(&display, "read", e))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let off = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..off].iter().filter(|&&b| b == b'\n').count() + 1;
        Error::at(&display, line, "the file is not valid UTF-8").hint("save it as UTF-8")
    })?;
    let parsed = frontmatter::parse(&display, &text)?;
    if let Some(bad) = page_segments(rel).find(|(_, s)| s.is_empty()) {
        return Err(Error::in_file(
            &display,
            format!(
                "the name `{}` has no letter or digit to make the page's URL from",
                bad.0
            ),
        )
        .hint("rename it; page URLs are made of the letters and digits of folder and file names"));
    }
    let (url, output, is_section, parent) = page_url(rel);
    if !is_section && parsed.front.paginate_by.is_some() {
        return Err(Error::at(
            &display,
            crate::config::find_key_line(&text, "paginate_by"),
            "paginate_by splits a section's listing, and this file is a page, not a section",
        )
        .hint("move paginate_by to the front matter of the section's _index.md"));
    }
    Ok(Page {
        rel: rel.to_string(),
        display,
        front: parsed.front,
        body: parsed.body.to_string(),
        body_line: parsed.body_line,
        url,
        output,
        is_section,
        parent,
    })
}

/// Each folder and file name of a page's path (without `.md`) with its URL segment.
fn page_segments(rel: &str) -> impl Iterator<Item = (&str, String)> {
    let stem = rel.strip_suffix(".md").unwrap_or(rel);
    stem.split('/').map(|s| {
        let seg = if s == "_index" || s == "index" {
            s.to_string()
        } else {
            crate::slug::segment(s)
        };
        (s, seg)
    })
}

/// URL, output path, section flag and parent section URL of a markdown file.
///
/// `a/b.md` → `/a/b/`; `a/_index.md` and `a/index.md` → `/a/`; `_index.md` → `/`. Every
/// name becomes a safe segment (`Caching/ETag & 304.md` → `/caching/etag-304/`), so
/// `#`, `%` or case can never break a link or collide on a case-insensitive host unseen.
pub fn page_url(rel: &str) -> (String, String, bool, String) {
    let stem = page_segments(rel)
        .map(|(_, s)| s)
        .collect::<Vec<_>>()
        .join("/");
    let (dir, file) = stem.rsplit_once('/').unwrap_or(("", &stem));
    let is_section = file == "_index";
    let url_path = if is_section || file == "index" {
        dir.to_string()
    } else if dir.is_empty() {
        file.to_string()
    } else {
        format!("{dir}/{file}")
    };
    let url = if url_path.is_empty() {
        "/".to_string()
    } else {
        format!("/{url_path}/")
    };
    let output = if url_path.is_empty() {
        "index.html".to_string()
    } else {
        format!("{url_path}/index.html")
    };
    let parent = if url == "/" {
        String::new()
    } else {
        let trimmed = url.trim_end_matches('/');
        let cut = trimmed.rfind('/').unwrap_or(0);
        trimmed[..=cut].to_string()
    };
    (url, output, is_section, parent)
}

fn rel_to_string(rel: &Path) -> Result<String> {
    let mut parts = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str().ok_or_else(|| {
                Error::in_file(rel, "file name is not valid UTF-8").hint("rename the file")
            })?),
            _ => return Err(Error::in_file(rel, "unexpected path component")),
        }
    }
    Ok(parts.join("/"))
}

/// Resolves a path from `bake.toml` (the value of the key at `at`, see
/// [`Config::error_at_path`]) against the content folder, refusing any that leave it.
pub fn resolve_in_content(config: &Config, rel: &Path, at: &[&str]) -> Result<PathBuf> {
    let needle = rel.to_string_lossy();
    let escapes = rel.is_absolute()
        || rel.components().any(|c| {
            matches!(
                c,
                Component::ParentDir | Component::RootDir | Component::Prefix(_)
            )
        });
    if escapes {
        return Err(config
            .error_at_path_or(
                at,
                &needle,
                format!("path `{}` leads outside the content folder", rel.display()),
            )
            .hint(
                "data files must live inside content/; give the path relative to it without `..`",
            ));
    }
    let root = config.content_dir();
    let path = root.join(rel);
    let canon_root = root
        .canonicalize()
        .map_err(|e| Error::io(&root, "open the content folder", e))?;
    let canon = path.canonicalize().map_err(|e| {
        config
            .error_at_path_or(
                at,
                &needle,
                format!(
                    "cannot open `{}`: {e}",
                    config.build.content.join(rel).display()
                ),
            )
            .hint("check the path; it is relative to the content folder")
    })?;
    if !canon.starts_with(&canon_root) {
        return Err(config
            .error_at_path_or(
                at,
                &needle,
                format!(
                    "`{}` is a link that leads outside the content folder",
                    rel.display()
                ),
            )
            .hint("copy the file into content/ instead of linking to it"));
    }
    Ok(canon)
}

/// Groups pages by output path and fails on the first path two files claim.
pub fn check_unique_outputs(claims: impl IntoIterator<Item = (String, PathBuf)>) -> Result<()> {
    match duplicate_outputs(claims).into_iter().next() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Every output path claimed twice, as one error each (`bake check` prints them all).
pub fn duplicate_outputs(claims: impl IntoIterator<Item = (String, PathBuf)>) -> Vec<Error> {
    // Keyed by the form case-insensitive hosts and file systems compare.
    let mut seen: BTreeMap<String, (String, PathBuf)> = BTreeMap::new();
    let mut errors = Vec::new();
    for (out, src) in claims {
        let key = crate::slug::collision_key(&out);
        if let Some((first_out, first)) = seen.get(&key) {
            let how = if *first_out == out {
                String::new()
            } else {
                format!(
                    " as `{first_out}` (the same file on hosts that ignore case or Unicode form)"
                )
            };
            errors.push(
                Error::in_file(
                    &src,
                    format!(
                        "writes `{out}`, which `{}` also writes{how}",
                        first.display()
                    ),
                )
                .hint("rename or move one of the two files"),
            );
            continue;
        }
        seen.insert(key, (out, src));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            page_url("_index.md"),
            ("/".into(), "index.html".into(), true, "".into())
        );
        assert_eq!(
            page_url("a/_index.md"),
            ("/a/".into(), "a/index.html".into(), true, "/".into())
        );
        assert_eq!(
            page_url("a/b.md"),
            ("/a/b/".into(), "a/b/index.html".into(), false, "/a/".into())
        );
        assert_eq!(
            page_url("b.md"),
            ("/b/".into(), "b/index.html".into(), false, "/".into())
        );
        assert_eq!(page_url("a/c/index.md").0, "/a/c/");
        assert_eq!(page_url("Caching/ETag & 304.md").0, "/caching/etag-304/");
        assert_eq!(page_url("a#b.md").1, "a-b/index.html");
        assert_eq!(page_url("50%.md").0, "/50/");
        assert_eq!(page_url("Docs/_index.md").0, "/docs/");
        assert_eq!(page_url("Docs/x.md").3, "/docs/");
    }

    #[test]
    fn duplicate_outputs_fail() {
        let e = check_unique_outputs([
            ("a/index.html".to_string(), PathBuf::from("content/a.md")),
            (
                "a/index.html".to_string(),
                PathBuf::from("content/a/index.md"),
            ),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("content/a.md"), "{e}");
        let e = check_unique_outputs([
            ("Logo.png".to_string(), PathBuf::from("content/Logo.png")),
            ("logo.png".to_string(), PathBuf::from("content/logo.png")),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("ignore case"), "{e}");
    }
}
