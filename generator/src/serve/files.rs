//! One file of the served folder as an HTTP response: path resolution, validators,
//! conditional requests and byte ranges, following RFC 9110.
//!
//! The file is opened once per request, and its validator, length and bytes all come from
//! that one handle: a rebuild that swaps the folder mid-request cannot pair an old ETag
//! with new bytes.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use httpdate::HttpDate;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// What a URL path names in the served folder.
#[derive(Debug, PartialEq)]
pub(crate) enum Target {
    /// A regular file inside the folder (canonical path).
    File(PathBuf),
    /// A folder named without its trailing slash: redirect to this location.
    Redirect(String),
    /// Nothing (or something outside the folder, or a file hosts do not publish).
    NotFound,
    /// A path no file can have: `..`, encoded `/` or `\`, NUL, invalid UTF-8.
    BadRequest,
}

/// Files a static host reads as configuration and does not publish.
const UNPUBLISHED: &[&str] = &["_headers", "_redirects"];

/// Resolves the request path `raw` (still percent-encoded) against `root`. Symlinks are
/// followed only while they stay inside `root`; a folder maps to its `index.html`.
///
/// A segment starting with `.` (`/.git/config`, `/%2eenv`) is not found, as on most static
/// hosts: such files are editor, VCS or deploy-tool state. `/.well-known/` gets no
/// exception because a bake build never writes it (`load` skips dotfiles in `content/`),
/// so whatever is there did not come from the site.
pub(crate) fn resolve(root: &Path, raw: &str, query: Option<&str>) -> Target {
    let mut rel = PathBuf::new();
    let mut hidden = false;
    for segment in raw.split('/') {
        let Ok(segment) = String::from_utf8(percent_decode(segment)) else {
            return Target::BadRequest;
        };
        match segment.as_str() {
            "" | "." => {}
            ".." => return Target::BadRequest,
            s if s.contains(['/', '\\', '\0']) => return Target::BadRequest,
            s => {
                hidden |= s.starts_with('.');
                rel.push(s)
            }
        }
    }
    if hidden {
        return Target::NotFound;
    }
    if let Some(name) = rel.to_str()
        && UNPUBLISHED.contains(&name)
    {
        return Target::NotFound;
    }
    let Ok(root) = root.canonicalize() else {
        return Target::NotFound;
    };
    let Some((path, meta)) = inside(&root, &root.join(&rel)) else {
        return Target::NotFound;
    };
    if meta.is_dir() {
        if !raw.ends_with('/') {
            // One leading slash: `//host/` would send the browser to another site.
            let path = raw.trim_start_matches('/');
            let query = query.map(|q| format!("?{q}")).unwrap_or_default();
            return Target::Redirect(format!("/{path}/{query}"));
        }
        return match inside(&root, &path.join("index.html")) {
            Some((index, meta)) if meta.is_file() => Target::File(index),
            _ => Target::NotFound,
        };
    }
    if meta.is_file() && !(raw.ends_with('/') && rel.components().next().is_some()) {
        Target::File(path)
    } else {
        Target::NotFound
    }
}

/// The canonical form of `path` and its metadata, if it exists inside `root` (canonical).
pub(crate) fn inside(root: &Path, path: &Path) -> Option<(PathBuf, std::fs::Metadata)> {
    let canonical = path.canonicalize().ok()?;
    if !canonical.starts_with(root) {
        return None;
    }
    let meta = std::fs::metadata(&canonical).ok()?;
    Some((canonical, meta))
}

/// Decodes `%XX` escapes; malformed escapes stay as they are.
pub(crate) fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h << 4) | l);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// Content-Type by file extension; text types say they are UTF-8 (what bake writes).
pub(crate) fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "wasm" => "application/wasm",
        "txt" => "text/plain; charset=utf-8",
        "md" => "text/markdown; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "ico" => "image/x-icon",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        "pdf" => "application/pdf",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mp3" => "audio/mpeg",
        _ => "application/octet-stream",
    }
}

/// A change applied to a file's bytes before they are served.
pub(crate) type Transform = fn(&[u8]) -> Vec<u8>;

/// The bytes to send for a file and their validators.
pub(crate) struct Representation {
    source: Source,
    /// Length of the whole representation.
    pub(crate) len: u64,
    modified: Option<SystemTime>,
    etag: String,
}

enum Source {
    File(File),
    Memory(Bytes),
}

/// ETags of files already hashed, keyed by path and checked against the file's identity
/// (inode, size, times), so each version of a file is read through once, not per request.
#[derive(Default)]
pub(crate) struct EtagCache {
    map: Mutex<HashMap<PathBuf, (FileKey, String)>>,
}

type FileKey = (u64, Option<SystemTime>, u64, u64, i64, i64);

fn file_key(meta: &std::fs::Metadata) -> FileKey {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        (
            meta.len(),
            meta.modified().ok(),
            meta.dev(),
            meta.ino(),
            meta.ctime(),
            meta.ctime_nsec(),
        )
    }
    #[cfg(not(unix))]
    {
        (meta.len(), meta.modified().ok(), 0, 0, 0, 0)
    }
}

/// A strong ETag from the blake3 hash of the exact bytes served.
///
/// Why contents and not size+mtime: a strong validator must change whenever the bytes do,
/// and If-Range/Range stitching relies on that. A rebuild rewrites every file, so mtimes
/// change while the contents (deterministic builds) mostly don't; a content hash keeps
/// validators stable across rebuilds, and same-size edits within the filesystem's time
/// granularity cannot slip through. The cost (hashing) is paid once per file version.
fn etag_of(hash: blake3::Hash) -> String {
    format!("\"{}\"", &hash.to_hex()[..32])
}

impl Representation {
    /// Opens `path` (blocking). With `inject`, the body is read whole and passed through it
    /// (HTML with the live-reload script), and the ETag is that of the changed bytes, so it
    /// never equals the raw file's: a cache holding one can't be told the other is fresh.
    pub(crate) fn open(
        path: &Path,
        inject: Option<Transform>,
        cache: &EtagCache,
    ) -> io::Result<Representation> {
        let mut file = File::open(path)?;
        let meta = file.metadata()?;
        let modified = meta.modified().ok();
        if let Some(inject) = inject {
            let mut raw = Vec::with_capacity(meta.len() as usize);
            file.read_to_end(&mut raw)?;
            let body = inject(&raw);
            return Ok(Representation {
                len: body.len() as u64,
                etag: etag_of(blake3::hash(&body)),
                source: Source::Memory(Bytes::from(body)),
                modified,
            });
        }
        let key = file_key(&meta);
        let known = {
            let map = cache.map.lock().unwrap_or_else(|e| e.into_inner());
            map.get(path)
                .filter(|(k, _)| *k == key)
                .map(|(_, e)| e.clone())
        };
        let etag = match known {
            Some(etag) => etag,
            None => {
                let mut hasher = blake3::Hasher::new();
                hasher.update_reader(&mut file)?;
                file.seek(SeekFrom::Start(0))?;
                let etag = etag_of(hasher.finalize());
                let mut map = cache.map.lock().unwrap_or_else(|e| e.into_inner());
                if map.len() >= 50_000 {
                    map.clear();
                }
                map.insert(path.to_path_buf(), (key, etag.clone()));
                etag
            }
        };
        Ok(Representation {
            source: Source::File(file),
            len: meta.len(),
            modified,
            etag,
        })
    }

    /// The body bytes `start..start+len`.
    async fn body(self, start: u64, len: u64) -> io::Result<Body> {
        Ok(match self.source {
            Source::Memory(bytes) => {
                Body::from(bytes.slice(start as usize..(start + len) as usize))
            }
            Source::File(file) => {
                let mut file = tokio::fs::File::from_std(file);
                file.seek(SeekFrom::Start(start)).await?;
                let reader = file.take(len);
                Body::from_stream(tokio_util::io::ReaderStream::with_capacity(
                    reader,
                    64 << 10,
                ))
            }
        })
    }
}

/// How a GET's Range header applies to a representation of length `len`.
#[derive(Debug, PartialEq)]
pub(crate) enum Ranged {
    /// Send the whole representation: no Range, an invalid one (RFC 9110 lets a server
    /// ignore it), or several ranges (answered with the whole file rather than multipart).
    Full,
    /// Send bytes `first..=last`.
    Part(u64, u64),
    /// 416: no requested range overlaps the representation.
    Unsatisfiable,
}

/// Parses a `Range` header value against a representation of `len` bytes.
pub(crate) fn parse_range(value: &str, len: u64) -> Ranged {
    let Some((unit, specs)) = value.trim().split_once('=') else {
        return Ranged::Full;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return Ranged::Full;
    }
    let number = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(s.parse().unwrap_or(u64::MAX)) // digits only: the sole error is overflow
    };
    let mut ranges = Vec::new();
    for spec in specs.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let Some((first, last)) = spec.split_once('-') else {
            return Ranged::Full;
        };
        let (first, last) = (first.trim(), last.trim());
        let range = if first.is_empty() {
            // bytes=-n: the last n bytes.
            let Some(n) = number(last) else {
                return Ranged::Full;
            };
            (n > 0 && len > 0).then(|| (len.saturating_sub(n), len - 1))
        } else {
            let Some(first) = number(first) else {
                return Ranged::Full;
            };
            let last = if last.is_empty() {
                u64::MAX
            } else {
                match number(last) {
                    Some(l) if l >= first => l,
                    _ => return Ranged::Full,
                }
            };
            (first < len).then(|| (first, last.min(len - 1)))
        };
        ranges.push(range);
    }
    match ranges.as_slice() {
        [] => Ranged::Full,
        [Some((a, b))] => Ranged::Part(*a, *b),
        r if r.iter().all(Option::is_none) => Ranged::Unsatisfiable,
        _ => Ranged::Full,
    }
}

/// Whether an `If-None-Match` / `If-Match` list names `etag` (`*` names any).
/// `weak` selects the weak comparison (If-None-Match); else `W/` tags never match.
pub(crate) fn etag_matches(list: &str, etag: &str, weak: bool) -> bool {
    let mut rest = list.trim();
    if rest == "*" {
        return true;
    }
    loop {
        rest = rest.trim_start_matches(|c: char| c == ',' || c.is_ascii_whitespace());
        if rest.is_empty() {
            return false;
        }
        let is_weak = rest.starts_with("W/");
        if is_weak {
            rest = &rest[2..];
        }
        let Some(end) = rest.strip_prefix('"').and_then(|r| r.find('"')) else {
            return false;
        };
        if &rest[..end + 2] == etag && (weak || !is_weak) {
            return true;
        }
        rest = &rest[end + 2..];
    }
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn header_date(headers: &HeaderMap, name: header::HeaderName) -> Option<HttpDate> {
    header_str(headers, name).and_then(|v| v.parse().ok())
}

/// The answer to a GET or HEAD of `rep`: 200, 206, 304, 412 or 416, with Content-Type
/// `content_type`, Accept-Ranges, ETag, Last-Modified and the exact Content-Length.
/// `status` is the status of a full answer (200, or 404 for the not-found page — error
/// pages take neither conditionals nor ranges).
pub(crate) async fn respond(
    method: &Method,
    req: &HeaderMap,
    rep: Representation,
    content_type: &'static str,
    status: StatusCode,
) -> Response<Body> {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    let validated = status == StatusCode::OK;
    let last_modified = rep.modified.map(HttpDate::from).filter(|_| validated);
    if validated {
        headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        if let Ok(v) = HeaderValue::from_str(&rep.etag) {
            headers.insert(header::ETAG, v);
        }
        if let Some(lm) = last_modified
            && let Ok(v) = HeaderValue::from_str(&lm.to_string())
        {
            headers.insert(header::LAST_MODIFIED, v);
        }
        if let Some(status) = precondition(method, req, &rep.etag, last_modified) {
            return bare(status, headers);
        }
    }
    let ranged = match header_str(req, header::RANGE) {
        // Range is defined for GET only (RFC 9110 §14.2): HEAD gets the 200 headers.
        Some(range) if validated && method == Method::GET => {
            if if_range_holds(req, &rep.etag, rep.modified) {
                parse_range(range, rep.len)
            } else {
                Ranged::Full
            }
        }
        _ => Ranged::Full,
    };
    let (status, start, len) = match ranged {
        Ranged::Full => (status, 0, rep.len),
        Ranged::Part(first, last) => {
            let v = format!("bytes {first}-{last}/{}", rep.len);
            headers.insert(header::CONTENT_RANGE, HeaderValue::from_str(&v).unwrap());
            (StatusCode::PARTIAL_CONTENT, first, last - first + 1)
        }
        Ranged::Unsatisfiable => {
            let v = format!("bytes */{}", rep.len);
            headers.insert(header::CONTENT_RANGE, HeaderValue::from_str(&v).unwrap());
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
            return bare(StatusCode::RANGE_NOT_SATISFIABLE, headers);
        }
    };
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        match rep.body(start, len).await {
            Ok(body) => body,
            Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// RFC 9110 §13.2.2, steps 1–4: 412 or 304, or None to go on.
fn precondition(
    method: &Method,
    req: &HeaderMap,
    etag: &str,
    last_modified: Option<HttpDate>,
) -> Option<StatusCode> {
    if let Some(list) = header_str(req, header::IF_MATCH) {
        if !etag_matches(list, etag, false) {
            return Some(StatusCode::PRECONDITION_FAILED);
        }
    } else if let Some(since) = header_date(req, header::IF_UNMODIFIED_SINCE)
        && last_modified.is_none_or(|lm| lm > since)
    {
        return Some(StatusCode::PRECONDITION_FAILED);
    }
    let get = method == Method::GET || method == Method::HEAD;
    if let Some(list) = header_str(req, header::IF_NONE_MATCH) {
        if etag_matches(list, etag, true) {
            return Some(if get {
                StatusCode::NOT_MODIFIED
            } else {
                StatusCode::PRECONDITION_FAILED
            });
        }
    } else if get
        && let Some(since) = header_date(req, header::IF_MODIFIED_SINCE)
        && last_modified.is_some_and(|lm| lm <= since)
    {
        return Some(StatusCode::NOT_MODIFIED);
    }
    None
}

/// If-Range (RFC 9110 §13.1.5): the Range applies only if the validator is current —
/// an ETag by strong comparison, or a date equal to Last-Modified when that date is a
/// strong validator (the file is more than a second old, so no second write can share it).
fn if_range_holds(req: &HeaderMap, etag: &str, modified: Option<SystemTime>) -> bool {
    let Some(value) = header_str(req, header::IF_RANGE) else {
        return req.get(header::IF_RANGE).is_none();
    };
    let value = value.trim();
    if value.starts_with('"') || value.starts_with("W/") {
        return value == etag;
    }
    let strong = |m: SystemTime| {
        SystemTime::now()
            .duration_since(m)
            .is_ok_and(|age| age >= std::time::Duration::from_secs(1))
    };
    match (value.parse::<HttpDate>(), modified) {
        (Ok(date), Some(m)) => date == HttpDate::from(m) && strong(m),
        _ => false,
    }
}

/// A response with no content (304, 412, 416).
fn bare(status: StatusCode, headers: HeaderMap) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// A short plain-text error response.
pub(crate) fn error(status: StatusCode, message: &str) -> Response<Body> {
    let text = format!("{status}: {message}\n");
    let mut response = Response::new(Body::from(text.clone()));
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(text.len()));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use Ranged::*;
        assert_eq!(parse_range("bytes=0-9", 100), Part(0, 9));
        assert_eq!(parse_range("bytes=10-", 100), Part(10, 99));
        assert_eq!(parse_range("bytes=-10", 100), Part(90, 99));
        assert_eq!(parse_range("bytes=-1000", 100), Part(0, 99));
        assert_eq!(parse_range("bytes=50-1000", 100), Part(50, 99));
        assert_eq!(parse_range("Bytes = 1-2", 100), Part(1, 2));
        assert_eq!(parse_range("bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0), Unsatisfiable);
        assert_eq!(parse_range("bytes=200-300,400-", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Full);
        assert_eq!(parse_range("bytes=0-1,500-", 100), Full);
        assert_eq!(parse_range("bytes=5-1", 100), Full);
        assert_eq!(parse_range("bytes=a-b", 100), Full);
        assert_eq!(parse_range("items=0-1", 100), Full);
        assert_eq!(parse_range("bytes=", 100), Full);
        assert_eq!(
            parse_range("bytes=99999999999999999999999-", 100),
            Unsatisfiable
        );
    }

    #[test]
    fn etags() {
        let e = "\"abc\"";
        assert!(etag_matches("\"abc\"", e, false));
        assert!(etag_matches("\"x\", \"abc\"", e, false));
        assert!(etag_matches("*", e, false));
        assert!(etag_matches("W/\"abc\"", e, true));
        assert!(!etag_matches("W/\"abc\"", e, false));
        assert!(!etag_matches("\"abcd\"", e, true));
        assert!(!etag_matches("abc", e, true));
        assert!(etag_matches("\"a,b\", \"abc\"", e, true));
    }

    #[test]
    fn decodes_percent() {
        assert_eq!(percent_decode("a%20b"), b"a b");
        assert_eq!(percent_decode("%2e%2E"), b"..");
        assert_eq!(percent_decode("%zz%4"), b"%zz%4");
        assert_eq!(percent_decode("%C3%A9"), "é".as_bytes());
    }

    #[test]
    fn resolves_paths() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("site");
        std::fs::create_dir_all(root.join("docs")).unwrap();
        std::fs::write(root.join("docs/index.html"), "x").unwrap();
        std::fs::write(root.join("a b.txt"), "x").unwrap();
        std::fs::write(root.join("_headers"), "x").unwrap();
        std::fs::write(dir.path().join("secret"), "x").unwrap();
        let croot = root.canonicalize().unwrap();
        let r = |p: &str| resolve(&root, p, Some("q=1"));
        assert_eq!(r("/docs/"), Target::File(croot.join("docs/index.html")));
        assert_eq!(r("/docs"), Target::Redirect("/docs/?q=1".into()));
        assert_eq!(r("//docs"), Target::Redirect("/docs/?q=1".into()));
        assert_eq!(r("/a%20b.txt"), Target::File(croot.join("a b.txt")));
        assert_eq!(r("/a%20b.txt/"), Target::NotFound);
        assert_eq!(r("/missing"), Target::NotFound);
        assert_eq!(r("/_headers"), Target::NotFound);
        assert_eq!(r("/"), Target::NotFound); // no index.html at the root
        assert_eq!(r("/../secret"), Target::BadRequest);
        assert_eq!(r("/%2e%2e/secret"), Target::BadRequest);
        assert_eq!(r("/docs%2f..%2f..%2fsecret"), Target::BadRequest);
        assert_eq!(r("/%ff"), Target::BadRequest);
        std::fs::create_dir_all(root.join(".git")).unwrap();
        std::fs::write(root.join(".git/config"), "x").unwrap();
        std::fs::write(root.join("docs/.env"), "x").unwrap();
        std::fs::create_dir_all(root.join(".well-known")).unwrap();
        std::fs::write(root.join(".well-known/security.txt"), "x").unwrap();
        for hidden in [
            "/.git/config",
            "/.git",
            "/.git/",
            "/%2egit/config",
            "/%2Egit/config",
            "/docs/.env",
            "/docs/%2eenv",
            "/.well-known/security.txt",
        ] {
            assert_eq!(r(hidden), Target::NotFound, "{hidden}");
        }
        assert_eq!(r("/./docs/"), Target::File(croot.join("docs/index.html")));
        assert_eq!(r("/.git/../docs/"), Target::BadRequest);
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.path().join("secret"), root.join("out")).unwrap();
            std::os::unix::fs::symlink(root.join("docs"), root.join("in")).unwrap();
            assert_eq!(r("/out"), Target::NotFound);
            assert_eq!(r("/in/"), Target::File(croot.join("docs/index.html")));
        }
    }
}
