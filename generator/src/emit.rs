//! Stage 6, emit: content-hashed names for immutable files, data files split into parts,
//! the manifest, `_headers`, minified HTML — all written into a staging folder that is
//! swapped into place in one step, so a failed build never leaves a half-written site.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use wasm_query::manifest::{LogicalFile, Part};

use crate::config::Host;
use crate::error::{Error, Result};

/// Folder of hashed theme assets and the manifest (cached forever, compressible).
pub const ASSETS_DIR: &str = "_assets";
/// Folder of data parts (cached forever, never transformed).
pub const DATA_DIR: &str = "_data";

/// The staging folder being filled, with the host's limits enforced as files are written.
pub struct Output {
    dir: PathBuf,
    host: Host,
    /// Files written.
    pub files: usize,
    /// Bytes written.
    pub bytes: u64,
    /// What the service worker needs to know, gathered as files are written.
    shell: Shell,
}

/// The fixed name of the service worker (revalidated on every visit: `_headers`).
pub const SERVICE_WORKER: &str = "bake-sw.js";
/// The fixed name of the web app manifest.
pub const WEB_MANIFEST: &str = "bake.webmanifest";

/// Pages every visit precaches for offline use (as written, and as URLs).
const SHELL_PAGES: &[(&str, &str)] = &[
    ("index.html", "/"),
    ("search/index.html", "/search/"),
    ("sql/index.html", "/sql/"),
    ("404.html", "/404.html"),
];

/// Theme files every visit precaches (the engine's files are kept once a page uses them,
/// so a page that only searches never downloads SQLite).
const SHELL_ASSETS: &[&str] = &[
    "style.css",
    "bake.js",
    "search-page.js",
    "sql-console.js",
    "table-page.js",
];

/// What `Output` learns about the page shell while the site is written.
#[derive(Default)]
struct Shell {
    /// URL of each hashed asset, by name (`style.css` → `/_assets/style.HASH.css`).
    assets: BTreeMap<String, String>,
    /// Every other file under `_assets/` (the engine modules, diagrams).
    others: BTreeSet<String>,
    /// Shell pages written (paths as in [`SHELL_PAGES`]).
    pages: BTreeSet<String>,
    /// The home page's `<title>`: the web app's name.
    title: Option<String>,
}

impl Output {
    /// Writes into `dir`, which must exist and be empty.
    pub fn new(dir: PathBuf, host: Host) -> Output {
        Output {
            dir,
            host,
            files: 0,
            bytes: 0,
            shell: Shell::default(),
        }
    }

    /// The staging folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn check_size(&self, rel: &str, len: u64, source: Option<&Path>) -> Result<()> {
        if let Some(max) = self.host.max_file_size()
            && len > max
        {
            let e = match source {
                Some(s) => Error::in_file(
                    s,
                    format!(
                        "is {len} bytes; host {:?} accepts files up to {max} bytes",
                        self.host
                    ),
                ),
                None => Error::msg(format!(
                    "`{rel}` would be {len} bytes; host {:?} accepts files up to {max} bytes",
                    self.host
                )),
            };
            return Err(e.hint("make the file smaller, or deploy to a host without that limit (`host` in bake.toml)"));
        }
        Ok(())
    }

    fn path_for(&self, rel: &str) -> Result<PathBuf> {
        // Defence in depth: every name is made safe before it gets here, but no write may
        // ever land outside the staging folder, whatever a name was made of.
        let inside = !rel.is_empty()
            && !rel.contains(['\\', '\0'])
            && Path::new(rel)
                .components()
                .all(|c| matches!(c, Component::Normal(_)));
        if !inside {
            return Err(Error::msg(format!(
                "refusing to write `{rel}`: it is not a path inside the site"
            ))
            .hint("this is a bug in bake; please report it with the input that led here"));
        }
        let path = self.dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, "create folder", e))?;
        }
        Ok(path)
    }

    /// Writes `bytes` at `rel` (a path relative to the site root).
    pub fn write(&mut self, rel: &str, bytes: &[u8]) -> Result<()> {
        self.note(rel, bytes);
        self.write_file(rel, bytes)
    }

    fn note(&mut self, rel: &str, bytes: &[u8]) {
        if SHELL_PAGES.iter().any(|(page, _)| *page == rel) {
            self.shell.pages.insert(rel.to_string());
            if rel == "index.html" {
                self.shell.title = page_title(bytes);
            }
        } else if rel.starts_with(&format!("{ASSETS_DIR}/")) {
            self.shell.others.insert(format!("/{rel}"));
        }
    }

    /// The service worker (`bake-sw.js`: its precache list and build id, then the theme's
    /// script) and the web app manifest (`bake.webmanifest`, called `name`, with `icon` if
    /// given: an SVG that fits any size). Written after every page and asset, from what was
    /// written.
    pub fn write_offline_files(&mut self, name: &str, icon: Option<&str>) -> Result<()> {
        let mut precache: Vec<String> = SHELL_PAGES
            .iter()
            .filter(|(page, _)| self.shell.pages.contains(*page))
            .map(|(_, url)| url.to_string())
            .collect();
        precache.extend(
            SHELL_ASSETS
                .iter()
                .filter_map(|name| self.shell.assets.get(*name).cloned()),
        );
        precache.push(format!("/{WEB_MANIFEST}"));
        // The build: every hashed file the pages may load (a new build of any of them is a
        // new service worker, whose cache replaces the old one).
        let mut build = blake3::Hasher::new();
        for url in self.shell.assets.values().chain(&self.shell.others) {
            build.update(url.as_bytes());
            build.update(b"\n");
        }
        let build = &build.finalize().to_hex()[..16];
        let body = crate::theme::STATIC
            .iter()
            .find(|(name, _)| *name == SERVICE_WORKER)
            .map(|(_, bytes)| *bytes)
            .expect("the theme has a service worker");
        let mut sw = format!(
            "const BAKE_BUILD = {};\nconst BAKE_PRECACHE = {};\n",
            serde_json::to_string(build).expect("a string serializes"),
            serde_json::to_string(&precache).expect("strings serialize"),
        )
        .into_bytes();
        sw.extend_from_slice(body);
        self.write_file(SERVICE_WORKER, &sw)?;
        let name = match name.trim() {
            "" => self.shell.title.clone().unwrap_or_else(|| "bake".into()),
            n => n.to_string(),
        };
        let mut manifest = serde_json::json!({
            "name": name,
            "short_name": name,
            "start_url": "/",
            "scope": "/",
            "display": "standalone",
        });
        if let Some(icon) = icon {
            manifest["icons"] =
                serde_json::json!([{ "src": icon, "sizes": "any", "type": "image/svg+xml" }]);
        }
        let manifest = serde_json::to_vec_pretty(&manifest).expect("JSON serializes");
        self.write_file(WEB_MANIFEST, &manifest)
    }

    fn write_file(&mut self, rel: &str, bytes: &[u8]) -> Result<()> {
        self.check_size(rel, bytes.len() as u64, None)?;
        let path = self.path_for(rel)?;
        std::fs::write(&path, bytes).map_err(|e| Error::io(&path, "write", e))?;
        self.files += 1;
        self.bytes += bytes.len() as u64;
        Ok(())
    }

    /// Copies the file at `src` to `rel`.
    pub fn copy(&mut self, rel: &str, src: &Path, display: &Path) -> Result<()> {
        let len = std::fs::metadata(src)
            .map_err(|e| Error::io(display, "read", e))?
            .len();
        self.check_size(rel, len, Some(display))?;
        let path = self.path_for(rel)?;
        std::fs::copy(src, &path).map_err(|e| Error::io(display, "copy", e))?;
        self.files += 1;
        self.bytes += len;
        Ok(())
    }

    /// Writes an immutable asset under a content-hashed name; returns its URL.
    pub fn hashed_asset(&mut self, name: &str, bytes: &[u8]) -> Result<String> {
        let (stem, ext) = name.rsplit_once('.').unwrap_or((name, "bin"));
        let rel = format!("{ASSETS_DIR}/{stem}.{}.{ext}", hash16(bytes));
        self.write(&rel, bytes)?;
        let url = format!("/{rel}");
        self.shell.others.remove(&url);
        self.shell.assets.insert(name.to_string(), url.clone());
        Ok(url)
    }

    /// Splits the file at `src` into parts of at most `part_size` bytes (rounded down to whole
    /// blocks), each at a content-hashed URL, reading it piece by piece.
    pub fn split_file(
        &mut self,
        logical: &str,
        src: &Path,
        block_size: u32,
        part_size: u64,
    ) -> Result<LogicalFile> {
        let mut file = File::open(src).map_err(|e| Error::io(src, "open", e))?;
        let size = file
            .metadata()
            .map_err(|e| Error::io(src, "read", e))?
            .len();
        let part_size = (part_size / block_size as u64).max(1) * block_size as u64;
        let mut whole = blake3::Hasher::new();
        let mut parts = Vec::new();
        let mut offset = 0u64;
        let mut buf = vec![0u8; part_size.min(size.max(1)) as usize];
        while offset < size {
            let len = part_size.min(size - offset) as usize;
            file.read_exact(&mut buf[..len])
                .map_err(|e| Error::io(src, "read", e))?;
            let chunk = &buf[..len];
            whole.update(chunk);
            let rel = format!("{DATA_DIR}/{logical}.{}.{}.bin", parts.len(), hash16(chunk));
            self.write(&rel, chunk)?;
            parts.push(Part {
                url: format!("/{rel}"),
                offset,
                length: len as u64,
            });
            offset += len as u64;
        }
        if parts.is_empty() {
            return Err(Error::in_file(src, "is empty; nothing to split"));
        }
        Ok(LogicalFile {
            size,
            block_size,
            hash: whole.finalize().to_hex().to_string(),
            parts,
            hot: vec![],
        })
    }

    /// Like [`Output::split_file`] for bytes in memory.
    pub fn split_bytes(
        &mut self,
        logical: &str,
        bytes: &[u8],
        block_size: u32,
        part_size: u64,
    ) -> Result<LogicalFile> {
        let tmp = tempfile::NamedTempFile::new()
            .map_err(|e| Error::msg(format!("cannot create a temporary file: {e}")))?;
        tmp.as_file()
            .write_all(bytes)
            .map_err(|e| Error::io(tmp.path(), "write", e))?;
        self.split_file(logical, tmp.path(), block_size, part_size)
    }
}

/// The text of a page's `<title>` (entities as written: the web app manifest is JSON, and
/// the few entities a title has are decoded).
fn page_title(html: &[u8]) -> Option<String> {
    let html = std::str::from_utf8(html).ok()?;
    let start = html.find("<title>")? + "<title>".len();
    let end = start + html[start..].find("</title>")?;
    let title = html[start..end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&amp;", "&");
    let title = title.trim();
    (!title.is_empty()).then(|| title.to_string())
}

/// First 16 hex digits of the BLAKE3 hash: 64 bits, plenty to tell versions of a file apart.
pub fn hash16(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex()[..16].to_string()
}

/// The Content-Security-Policy of every page. `'wasm-unsafe-eval'` lets the query engine's
/// WebAssembly compile; nothing inline runs.
pub const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; connect-src 'self'; worker-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/// First line of the `_headers` bake writes; a folder holding it was written by bake and
/// may be replaced by the next build.
pub const HEADERS_MARK: &str =
    "# Written by bake: cache and security headers (Netlify and Cloudflare Pages syntax).";

/// Whether `dir` is a site bake wrote (its `_headers` starts with [`HEADERS_MARK`]).
pub fn written_by_bake(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("_headers"))
        .is_ok_and(|h| h.lines().next() == Some(HEADERS_MARK))
}

/// Prefix of a staging (`kind` = "staging") or work folder of this process: the pid in it
/// tells a later build whether the folder's owner is still running.
pub fn staging_prefix(kind: &str) -> String {
    format!(".bake-{kind}-{}-", std::process::id())
}

/// Deletes staging and work folders in `parent` left by builds that died (killed, or
/// stopped by a crash or power loss): those whose process is gone. Folders without a pid
/// (older bake versions) go when they are over an hour old. Best effort: a folder that
/// cannot be removed is left for the next build.
pub fn remove_stale_staging(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name
            .strip_prefix(".bake-staging-")
            .or_else(|| name.strip_prefix(".bake-work-"))
        else {
            continue;
        };
        let owner = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        let stale = match owner {
            Some(pid) if rest.contains('-') => !process_alive(pid),
            _ => e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > std::time::Duration::from_secs(3600)),
        };
        if stale && e.path().is_dir() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only asks whether the process exists; nothing is sent.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// `_headers` for Netlify and Cloudflare Pages. Both ADD the headers of every matching rule
/// (joining duplicates with commas), so no two rules that can match one path set the same
/// header: Cache-Control is set per top-level entry, never on `/*`.
pub fn headers_file(top_level: &[(String, bool)]) -> String {
    let revalidate = "  Cache-Control: public, max-age=0, must-revalidate\n";
    let mut h = format!("{HEADERS_MARK}\n");
    h.push_str(&format!(
        "/*\n  Content-Security-Policy: {CSP}\n  X-Content-Type-Options: nosniff\n  Referrer-Policy: strict-origin-when-cross-origin\n\n"
    ));
    h.push_str(&format!(
        "/{ASSETS_DIR}/*\n  Cache-Control: public, max-age=31536000, immutable\n\n"
    ));
    h.push_str(&format!(
        "/{DATA_DIR}/*\n  Cache-Control: public, max-age=31536000, immutable, no-transform\n  Content-Type: application/octet-stream\n\n"
    ));
    h.push_str(&format!("/\n{revalidate}\n"));
    // Always listed (sites with data or search have them); a rule for a file a site does not
    // have matches nothing.
    for name in [SERVICE_WORKER, WEB_MANIFEST] {
        h.push_str(&format!("/{name}\n{revalidate}\n"));
    }
    for (name, is_dir) in top_level {
        if name == ASSETS_DIR
            || name == DATA_DIR
            || name == "_headers"
            || name == SERVICE_WORKER
            || name == WEB_MANIFEST
        {
            continue;
        }
        let pattern = if *is_dir {
            format!("/{name}/*")
        } else {
            format!("/{name}")
        };
        h.push_str(&format!("{pattern}\n{revalidate}\n"));
    }
    h
}

/// Minifies a page; the result is still valid HTML any parser reads the same way.
pub fn minify(html: &str) -> Vec<u8> {
    let cfg = minify_html::Cfg {
        keep_closing_tags: true,
        keep_html_and_head_opening_tags: true,
        minify_css: true,
        minify_js: false,
        ..minify_html::Cfg::default()
    };
    minify_html::minify(html.as_bytes(), &cfg)
}

/// Replaces `out` with `staging` in one step (Linux `renameat2(RENAME_EXCHANGE)`), then
/// deletes the old site. Readers see either the old site or the new one, never a mix.
pub fn swap_into_place(staging: &Path, out: &Path) -> Result<()> {
    if !out.exists() {
        match std::fs::rename(staging, out) {
            Ok(()) => return Ok(()),
            // Another build put a site there meanwhile: swap with it like with any other.
            Err(e) if out.is_dir() => drop(e),
            Err(e) => return Err(Error::io(out, "move the new site into place", e)),
        }
    }
    exchange(staging, out).map_err(|e| Error::io(out, "swap the new site into place", e))?;
    // `staging` now holds the previous site.
    std::fs::remove_dir_all(staging).map_err(|e| Error::io(staging, "remove the previous site", e))
}

#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let ca = CString::new(a.as_os_str().as_bytes())?;
    let cb = CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both are valid NUL-terminated paths; renameat2 does not keep them.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    // Two renames: a short window where `b` is missing, but never half-written.
    let old = b.with_extension("bake-old");
    std::fs::rename(b, &old)?;
    std::fs::rename(a, b)?;
    std::fs::rename(&old, a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_into_block_aligned_parts() {
        let dir = tempfile::tempdir().unwrap();
        let mut out = Output::new(dir.path().to_path_buf(), Host::Generic);
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let f = out.split_bytes("x.sqlite", &data, 1024, 3000).unwrap();
        assert_eq!(f.size, 10_000);
        assert_eq!(
            f.parts.iter().map(|p| p.length).collect::<Vec<_>>(),
            vec![2048, 2048, 2048, 2048, 1808]
        );
        let mut joined = Vec::new();
        for p in &f.parts {
            joined.extend(std::fs::read(dir.path().join(&p.url[1..])).unwrap());
        }
        assert_eq!(joined, data);
        assert_eq!(f.hash, blake3::hash(&data).to_hex().to_string());
    }

    #[test]
    fn refuses_files_over_the_host_limit() {
        let dir = tempfile::tempdir().unwrap();
        let mut out = Output::new(dir.path().to_path_buf(), Host::Cloudflare);
        let big = vec![0u8; 25 * 1024 * 1024 + 1];
        let e = out.write("big.bin", &big).unwrap_err();
        assert!(e.to_string().contains("Cloudflare"), "{e}");
    }

    #[test]
    fn headers_never_set_one_header_twice_for_a_path() {
        let h = headers_file(&[
            ("caching".into(), true),
            ("_assets".into(), true),
            ("favicon.ico".into(), false),
        ]);
        assert!(h.contains("/caching/*\n  Cache-Control: public, max-age=0, must-revalidate"));
        assert!(h.contains("/favicon.ico\n"));
        let star = h
            .split("\n\n")
            .find(|r| r.lines().any(|l| l == "/*"))
            .unwrap();
        assert!(!star.contains("Cache-Control"));
    }

    #[test]
    fn a_site_with_data_gets_a_service_worker_and_a_web_app_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let mut out = Output::new(dir.path().to_path_buf(), Host::Generic);
        let css = out.hashed_asset("style.css", b"body{}").unwrap();
        let js = out.hashed_asset("bake.js", b"//").unwrap();
        out.write("_assets/bake-sql.0123/bake_sql_bg.wasm", b"\0asm")
            .unwrap();
        out.write("index.html", b"<html><title>Tom &amp; Jerry</title></html>")
            .unwrap();
        out.write("sql/index.html", b"<title>SQL</title>").unwrap();
        out.write_offline_files("", Some("/_assets/favicon.0.svg"))
            .unwrap();
        let sw = std::fs::read_to_string(dir.path().join(SERVICE_WORKER)).unwrap();
        let line = sw.lines().nth(1).unwrap();
        let precache: Vec<String> = serde_json::from_str(
            line.trim_start_matches("const BAKE_PRECACHE = ")
                .trim_end_matches(';'),
        )
        .unwrap();
        // Only pages the site has; the engine's files are kept once a page uses them.
        assert_eq!(
            precache,
            vec![
                "/".to_string(),
                "/sql/".into(),
                css,
                js,
                "/bake.webmanifest".into()
            ]
        );
        assert!(sw.contains("addEventListener(\"fetch\""));
        let build = sw.lines().next().unwrap().to_string();
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join(WEB_MANIFEST)).unwrap()).unwrap();
        // No title in bake.toml: the home page's.
        assert_eq!(manifest["name"], "Tom & Jerry");
        assert_eq!(manifest["icons"][0]["src"], "/_assets/favicon.0.svg");
        assert_eq!(manifest["icons"][0]["sizes"], "any");
        assert_eq!(manifest["start_url"], "/");
        assert_eq!(manifest["display"], "standalone");

        // Another engine module is another build (a site without data gets neither file:
        // build.rs does not call this for it).
        let dir2 = tempfile::tempdir().unwrap();
        let mut out = Output::new(dir2.path().to_path_buf(), Host::Generic);
        out.hashed_asset("style.css", b"body{}").unwrap();
        out.hashed_asset("bake.js", b"//").unwrap();
        out.write("_assets/bake-sql.4567/bake_sql_bg.wasm", b"\0asm")
            .unwrap();
        out.write_offline_files("Tom", None).unwrap();
        let sw2 = std::fs::read_to_string(dir2.path().join(SERVICE_WORKER)).unwrap();
        assert_ne!(sw2.lines().next().unwrap(), build);
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir2.path().join(WEB_MANIFEST)).unwrap())
                .unwrap();
        assert_eq!(
            (&manifest["name"], &manifest["icons"]),
            (&"Tom".into(), &serde_json::Value::Null)
        );
        let h = headers_file(&[("bake-sw.js".into(), false)]);
        assert_eq!(
            h.matches("/bake-sw.js\n  Cache-Control: public, max-age=0, must-revalidate")
                .count(),
            1
        );
    }

    #[test]
    fn never_writes_outside_the_staging_folder() {
        let outer = tempfile::tempdir().unwrap();
        let dir = outer.path().join("staging");
        std::fs::create_dir(&dir).unwrap();
        let mut out = Output::new(dir.clone(), Host::Generic);
        for rel in [
            "../x/index.html",
            "/etc/x",
            "a/../../x",
            "",
            "a\\..\\x",
            "./x",
        ] {
            let e = out.write(rel, b"x").unwrap_err();
            assert!(
                e.to_string().contains("not a path inside the site"),
                "{rel}: {e}"
            );
        }
        assert!(!outer.path().join("x").exists());
        assert_eq!(std::fs::read_dir(outer.path()).unwrap().count(), 1);
        out.write("tables/db/x/index.html", b"ok").unwrap();
    }

    #[test]
    fn stale_staging_of_dead_builds_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let mine = dir.path().join(format!("{}abc", staging_prefix("staging")));
        // pid 0x7fff_fff0 is beyond any pid_max Linux allows: never alive.
        let dead = dir.path().join(".bake-staging-2147483632-abc");
        let dead_work = dir.path().join(".bake-work-2147483632-abc");
        let other = dir.path().join("site");
        for d in [&mine, &dead, &dead_work, &other] {
            std::fs::create_dir(d).unwrap();
        }
        remove_stale_staging(dir.path());
        assert!(mine.exists() && other.exists());
        assert!(!dead.exists() && !dead_work.exists());
    }

    #[test]
    fn swaps_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("site");
        let new = dir.path().join("new");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(out.join("old.txt"), "old").unwrap();
        std::fs::create_dir_all(&new).unwrap();
        std::fs::write(new.join("new.txt"), "new").unwrap();
        swap_into_place(&new, &out).unwrap();
        assert!(out.join("new.txt").exists() && !out.join("old.txt").exists());
        assert!(!new.exists());
    }
}
