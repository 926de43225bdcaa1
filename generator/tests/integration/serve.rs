//! `bake serve` over real sockets: a temporary site, raw HTTP/1.1 requests, and checks on
//! status, headers and exact bytes.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bake::serve::{ServeOptions, ServerHandle, start};

const HEADERS: &str = "\
# rules as bake writes them
/*
  X-Frame-Options: DENY
  Content-Security-Policy: script-src 'self' 'wasm-unsafe-eval'

/_assets/*
  Cache-Control: public, max-age=31536000, immutable

/data/*
  Content-Type: application/octet-stream
  Cache-Control: public, max-age=31536000, immutable, no-transform

/caching/
  X-Exact: folder

/about.html
  X-Exact: page
";

const INDEX: &str = "<!doctype html><html><body><h1>Home</h1></body></html>\n";
const NOT_FOUND: &str = "<!doctype html><html><body><h1>Not here</h1></body></html>\n";
const TAG: &str = r#"<script src="/__bake/livereload.js" defer></script>"#;
/// The bake binary, which runs the rebuilds of a watching server.
const BAKE: &str = env!("CARGO_BIN_EXE_bake");

/// A temp folder holding `site/` (served), `secret.txt` beside it, and a `bake.toml`
/// with an empty `content/` for the watching server.
struct Site {
    dir: tempfile::TempDir,
    part: Vec<u8>,
}

impl Site {
    fn new() -> Site {
        let dir = tempfile::tempdir().unwrap();
        let site = dir.path().join("site");
        let part: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        let files: &[(&str, &[u8])] = &[
            ("index.html", INDEX.as_bytes()),
            ("about.html", b"<p>About</p>"),
            ("404.html", NOT_FOUND.as_bytes()),
            ("caching/index.html", b"<html><body>caching</body></html>"),
            ("_assets/app.0123abcd.js", b"console.log('hi');\n"),
            ("_assets/app.0123abcd.wasm", b"\0asm\x01\0\0\0"),
            ("_assets/style.css", b"body{margin:0}"),
            ("manifest.json", b"{\"version\":1}"),
            ("data/part.bin", &part),
            ("_headers", HEADERS.as_bytes()),
        ];
        for (name, bytes) in files {
            let path = site.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
        // An old file: its Last-Modified is a strong validator (If-Range by date).
        let old = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
        std::fs::File::options()
            .write(true)
            .open(site.join("data/part.bin"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        std::fs::write(dir.path().join("secret.txt"), "top secret").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), site.join("escape.txt")).unwrap();
        std::fs::create_dir_all(dir.path().join("content")).unwrap();
        std::fs::write(dir.path().join("bake.toml"), "title = \"test\"\n").unwrap();
        Site { dir, part }
    }

    fn folder(&self) -> PathBuf {
        self.dir.path().join("site")
    }

    fn serve(&self, watch: bool) -> ServerHandle {
        self.serve_with(ServeOptions {
            watch,
            ..ServeOptions::default()
        })
    }

    /// Serves the folder with `opts` (its config, folder, port and build replaced).
    fn serve_with(&self, opts: ServeOptions) -> ServerHandle {
        start(ServeOptions {
            config: self.dir.path().join("bake.toml"),
            out: Some(self.folder()),
            bind: "127.0.0.1".parse().unwrap(),
            port: 0,
            build: false,
            bake_exe: Some(BAKE.into()),
            ..opts
        })
        .expect("server starts")
    }
}

/// A parsed HTTP/1.1 response.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one request (`Connection: close`, offering compression, which must be refused)
/// and reads the whole response.
fn request(addr: SocketAddr, method: &str, path: &str, extra: &[(&str, &str)]) -> Reply {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept-Encoding: gzip, deflate, br, zstd\r\n"
    );
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete header block");
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_string(), v.trim().to_string())
        })
        .collect();
    let reply = Reply {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    };
    assert_eq!(
        reply.header("content-encoding"),
        None,
        "never compressed: {path}"
    );
    assert_eq!(
        reply.header("transfer-encoding"),
        None,
        "exact length: {path}"
    );
    if method == "GET"
        && let Some(len) = reply.header("content-length")
    {
        assert_eq!(len.parse::<usize>().unwrap(), reply.body.len(), "{path}");
    }
    reply
}

fn get(addr: SocketAddr, path: &str) -> Reply {
    request(addr, "GET", path, &[])
}

#[test]
fn full_get_with_types_and_validators() {
    let site = Site::new();
    let server = site.serve(false);
    let r = get(server.addr, "/data/part.bin");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, site.part);
    assert_eq!(r.header("content-length"), Some("1000"));
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    let etag = r.header("etag").expect("an ETag");
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() > 10,
        "strong: {etag}"
    );
    assert!(httpdate::parse_http_date(r.header("last-modified").unwrap()).is_ok());

    let types = [
        ("/", "text/html; charset=utf-8"),
        ("/_assets/app.0123abcd.js", "text/javascript; charset=utf-8"),
        ("/_assets/app.0123abcd.wasm", "application/wasm"),
        ("/_assets/style.css", "text/css; charset=utf-8"),
        ("/manifest.json", "application/json"),
        ("/data/part.bin", "application/octet-stream"),
    ];
    for (path, ty) in types {
        let r = get(server.addr, path);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-type"), Some(ty), "{path}");
    }
    assert_eq!(get(server.addr, "/index.html").text(), INDEX);
}

#[test]
fn head_has_headers_but_no_body() {
    let site = Site::new();
    let server = site.serve(false);
    for path in ["/data/part.bin", "/", "/nope"] {
        let full = get(server.addr, path);
        let head = request(server.addr, "HEAD", path, &[]);
        assert_eq!(head.status, full.status, "{path}");
        assert!(head.body.is_empty(), "{path}");
        assert_eq!(
            head.header("content-length"),
            full.header("content-length"),
            "{path}"
        );
        assert_eq!(head.header("etag"), full.header("etag"), "{path}");
        assert_eq!(
            head.header("content-type"),
            full.header("content-type"),
            "{path}"
        );
    }
    // Range is defined for GET only: HEAD answers as if it were absent.
    let head = request(
        server.addr,
        "HEAD",
        "/data/part.bin",
        &[("Range", "bytes=0-9")],
    );
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("1000"));
}

#[test]
fn byte_ranges() {
    let site = Site::new();
    let server = site.serve(false);
    let part = &site.part;
    let cases: [(&str, usize, usize); 5] = [
        ("bytes=10-19", 10, 19),
        ("bytes=990-", 990, 999),
        ("bytes=-5", 995, 999),
        ("bytes=0-0", 0, 0),
        ("bytes=900-5000", 900, 999),
    ];
    for (range, a, b) in cases {
        let r = request(server.addr, "GET", "/data/part.bin", &[("Range", range)]);
        assert_eq!(r.status, 206, "{range}");
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes {a}-{b}/1000").as_str())
        );
        assert_eq!(
            r.header("content-length"),
            Some((b - a + 1).to_string().as_str())
        );
        assert_eq!(r.body, &part[a..=b], "{range}");
        assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    }
    // Ranges of an HTML page are ranges of what is sent.
    let r = request(server.addr, "GET", "/", &[("Range", "bytes=0-14")]);
    assert_eq!((r.status, r.text().as_str()), (206, "<!doctype html>"));
    // Several ranges: the whole file, 200.
    let r = request(
        server.addr,
        "GET",
        "/data/part.bin",
        &[("Range", "bytes=0-1,5-6")],
    );
    assert_eq!(r.status, 200);
    assert_eq!(&r.body, part);
    // A malformed Range is ignored.
    let r = request(
        server.addr,
        "GET",
        "/data/part.bin",
        &[("Range", "bytes=x-y")],
    );
    assert_eq!((r.status, r.body.len()), (200, 1000));
}

#[test]
fn unsatisfiable_range_is_416() {
    let site = Site::new();
    let server = site.serve(false);
    for range in ["bytes=1000-", "bytes=5000-6000", "bytes=-0"] {
        let r = request(server.addr, "GET", "/data/part.bin", &[("Range", range)]);
        assert_eq!(r.status, 416, "{range}");
        assert_eq!(r.header("content-range"), Some("bytes */1000"), "{range}");
        assert!(r.body.is_empty());
    }
}

#[test]
fn etag_and_conditional_requests() {
    let site = Site::new();
    let server = site.serve(false);
    let first = get(server.addr, "/data/part.bin");
    let etag = first.header("etag").unwrap().to_string();
    let last_modified = first.header("last-modified").unwrap().to_string();
    assert_eq!(
        get(server.addr, "/data/part.bin").header("etag"),
        Some(etag.as_str())
    );

    let r = request(
        server.addr,
        "GET",
        "/data/part.bin",
        &[("If-None-Match", &etag)],
    );
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    assert!(
        r.header("cache-control").is_some(),
        "_headers apply to 304s too"
    );
    let listed = format!("\"nope\", W/{etag}");
    let r = request(
        server.addr,
        "GET",
        "/data/part.bin",
        &[("If-None-Match", &listed)],
    );
    assert_eq!(r.status, 304, "weak comparison for If-None-Match");
    let r = request(
        server.addr,
        "GET",
        "/data/part.bin",
        &[("If-None-Match", "\"other\"")],
    );
    assert_eq!((r.status, r.body.len()), (200, 1000));
    let r = request(
        server.addr,
        "HEAD",
        "/data/part.bin",
        &[("If-None-Match", &etag)],
    );
    assert_eq!(r.status, 304);
    let r = request(
        server.addr,
        "GET",
        "/data/part.bin",
        &[("If-Modified-Since", &last_modified)],
    );
    assert_eq!(r.status, 304);
    // If-None-Match wins over If-Modified-Since.
    let r = request(
        server.addr,
        "GET",
        "/data/part.bin",
        &[
            ("If-None-Match", "\"other\""),
            ("If-Modified-Since", &last_modified),
        ],
    );
    assert_eq!(r.status, 200);
    let r = request(
        server.addr,
        "GET",
        "/data/part.bin",
        &[("If-Match", "\"other\"")],
    );
    assert_eq!(r.status, 412);

    // If-Range: the range only while the validator is current.
    let ranged = |if_range: &str| {
        request(
            server.addr,
            "GET",
            "/data/part.bin",
            &[("Range", "bytes=0-9"), ("If-Range", if_range)],
        )
    };
    assert_eq!(ranged(&etag).status, 206);
    assert_eq!(ranged(&last_modified).status, 206);
    let stale = ranged("\"stale\"");
    assert_eq!((stale.status, stale.body.len()), (200, 1000));
    assert_eq!(
        ranged(&format!("W/{etag}")).status,
        200,
        "If-Range compares strongly"
    );
    assert_eq!(ranged("Thu, 01 Jan 1970 00:00:00 GMT").status, 200);
    // A file written this second has a weak date: If-Range by date gives the whole file.
    let fresh = get(server.addr, "/about.html");
    let r = request(
        server.addr,
        "GET",
        "/about.html",
        &[
            ("Range", "bytes=0-1"),
            ("If-Range", fresh.header("last-modified").unwrap()),
        ],
    );
    assert_eq!(r.status, 200);

    // New bytes, new ETag.
    std::fs::write(site.folder().join("data/part.bin"), b"changed").unwrap();
    let r = get(server.addr, "/data/part.bin");
    assert_eq!(r.body, b"changed");
    assert_ne!(r.header("etag"), Some(etag.as_str()));
    let r = request(
        server.addr,
        "GET",
        "/data/part.bin",
        &[("If-None-Match", &etag)],
    );
    assert_eq!(r.status, 200);
}

#[test]
fn headers_file_rules_apply() {
    let site = Site::new();
    let server = site.serve(false);
    let asset = get(server.addr, "/_assets/app.0123abcd.js");
    assert_eq!(
        asset.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(asset.header("x-frame-options"), Some("DENY"));
    let page = get(server.addr, "/about.html");
    assert_eq!(page.header("x-exact"), Some("page"));
    assert_eq!(page.header("cache-control"), None);
    assert_eq!(
        page.header("content-security-policy"),
        Some("script-src 'self' 'wasm-unsafe-eval'")
    );
    assert_eq!(
        get(server.addr, "/caching/").header("x-exact"),
        Some("folder")
    );
    assert_eq!(get(server.addr, "/").header("x-exact"), None);
    // Content-Type from _headers overrides the guess by extension.
    let data = get(server.addr, "/data/part.bin");
    assert_eq!(
        data.header("content-type"),
        Some("application/octet-stream")
    );
    assert!(
        data.header("cache-control")
            .unwrap()
            .ends_with("no-transform")
    );
    // The 404 page and redirects get the rules too.
    assert_eq!(
        get(server.addr, "/nope").header("x-frame-options"),
        Some("DENY")
    );
    // _headers itself is configuration, not content.
    assert_eq!(get(server.addr, "/_headers").status, 404);

    // A rebuild brings a new _headers: it is read again.
    std::fs::write(site.folder().join("_headers"), "/*\n  X-New: 1\n").unwrap();
    let r = get(server.addr, "/about.html");
    assert_eq!(r.header("x-new"), Some("1"));
    assert_eq!(r.header("x-exact"), None);
}

#[test]
fn folders_index_and_redirect() {
    let site = Site::new();
    let server = site.serve(false);
    let r = get(server.addr, "/caching/");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "<html><body>caching</body></html>")
    );
    let r = get(server.addr, "/caching");
    assert!(r.status == 301 || r.status == 308, "{}", r.status);
    assert_eq!(r.header("location"), Some("/caching/"));
    let r = get(server.addr, "/caching?q=1");
    assert_eq!(r.header("location"), Some("/caching/?q=1"));
    assert_eq!(get(server.addr, "/").text(), INDEX);
    assert_eq!(get(server.addr, "/about.html/").status, 404);
}

#[test]
fn not_found_uses_the_404_page() {
    let site = Site::new();
    let server = site.serve(false);
    let r = get(server.addr, "/missing/page");
    assert_eq!(r.status, 404);
    assert_eq!(r.text(), NOT_FOUND);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.header("etag"), None);
    std::fs::remove_file(site.folder().join("404.html")).unwrap();
    let r = get(server.addr, "/missing/page");
    assert_eq!(r.status, 404);
    assert!(r.text().contains("404"));
    // A missing folder (no build yet) is a 404, not a crash.
    std::fs::rename(site.folder(), site.dir.path().join("moved")).unwrap();
    assert_eq!(get(server.addr, "/").status, 404);
}

#[test]
fn never_serves_outside_the_folder() {
    let site = Site::new();
    let server = site.serve(false);
    for path in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/_assets/..%2f..%2fsecret.txt",
        "/_assets/%2e%2e/%2e%2e/secret.txt",
        "/..%5csecret.txt",
        "/escape.txt",
    ] {
        let r = get(server.addr, path);
        assert!(r.status == 400 || r.status == 404, "{path}: {}", r.status);
        assert!(!r.text().contains("top secret"), "{path}");
    }
    let r = request(server.addr, "POST", "/", &[("Content-Length", "0")]);
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
}

#[test]
fn live_reload_script_is_injected_into_html_only() {
    let site = Site::new();
    let plain = site.serve(false);
    let watching = site.serve(true);

    let raw = get(plain.addr, "/");
    assert_eq!(raw.text(), INDEX);
    assert_eq!(get(plain.addr, "/__bake/livereload.js").status, 404);

    let page = get(watching.addr, "/");
    let expected = INDEX.replace("</body>", &format!("{TAG}</body>"));
    assert_eq!(page.text(), expected);
    assert_eq!(
        page.header("content-length"),
        Some(expected.len().to_string().as_str())
    );
    assert_eq!(
        std::fs::read_to_string(site.folder().join("index.html")).unwrap(),
        INDEX,
        "the file on disk is untouched"
    );
    assert_ne!(
        page.header("etag"),
        raw.header("etag"),
        "another representation, another ETag"
    );
    let etag = page.header("etag").unwrap();
    let r = request(watching.addr, "GET", "/", &[("If-None-Match", etag)]);
    assert_eq!(r.status, 304);
    let r = request(
        watching.addr,
        "GET",
        "/",
        &[("If-None-Match", raw.header("etag").unwrap())],
    );
    assert_eq!(r.status, 200, "a cached raw page is not the injected one");
    assert!(get(watching.addr, "/nope").text().contains(TAG));
    assert!(get(watching.addr, "/about.html").text().ends_with(TAG));

    let asset = get(watching.addr, "/_assets/app.0123abcd.js");
    assert_eq!(asset.text(), "console.log('hi');\n");
    assert_eq!(
        asset.header("etag"),
        get(plain.addr, "/_assets/app.0123abcd.js").header("etag")
    );

    let script = get(watching.addr, "/__bake/livereload.js");
    assert_eq!(script.status, 200);
    assert_eq!(
        script.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert!(
        script
            .text()
            .contains("new EventSource(\"/__bake/events\")")
    );
}

/// Reads from `stream` until the text received contains `want`.
fn read_until(stream: &mut TcpStream, seen: &mut String, want: &str) {
    let mut buf = [0u8; 1024];
    while !seen.contains(want) {
        let n = stream.read(&mut buf).expect("the event arrives in time");
        assert!(n > 0, "stream closed before {want:?}; got {seen:?}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
}

#[test]
fn event_stream_announces_generations() {
    let site = Site::new();
    let server = site.serve(true);
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(stream, "GET /__bake/events HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut seen = String::new();
    read_until(&mut stream, &mut seen, "data: 0\n\n");
    assert!(seen.starts_with("HTTP/1.1 200"));
    assert!(
        seen.to_ascii_lowercase()
            .contains("content-type: text/event-stream")
    );
    assert_eq!(server.generation(), 0);
    server.reload();
    read_until(&mut stream, &mut seen, "data: 1\n\n");
    assert_eq!(server.generation(), 1);
    // Stopping the server ends the stream instead of hanging on it.
    drop(server);
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
}

#[test]
fn stops_when_dropped() {
    let site = Site::new();
    let server = site.serve(false);
    let addr = server.addr;
    assert_eq!(get(addr, "/").status, 200);
    drop(server);
    assert!(TcpStream::connect(addr).is_err(), "the port is closed");
}

#[test]
fn missing_folder_is_served_as_404_until_it_exists() {
    let dir = tempfile::tempdir().unwrap();
    let folder: PathBuf = dir.path().join("not-built-yet");
    let server = start(ServeOptions {
        config: Path::new("does-not-exist.toml").to_path_buf(),
        out: Some(folder.clone()),
        port: 0,
        build: false,
        watch: false,
        ..ServeOptions::default()
    })
    .expect("no bake.toml needed with --no-build --no-watch --out");
    assert_eq!(get(server.addr, "/").status, 404);
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("index.html"), "hi").unwrap();
    assert_eq!(get(server.addr, "/").text(), "hi");
}

/// A source site: bake.toml and one page.
fn source_site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("content")).unwrap();
    std::fs::write(dir.path().join("bake.toml"), "title = \"Live\"\n").unwrap();
    std::fs::write(
        dir.path().join("content/hello.md"),
        "+++\ntitle = \"Hello\"\n+++\n# Hello\n\nFirst words.\n",
    )
    .unwrap();
    dir
}

/// `bake serve` of the site in `dir`: built, watched, rebuilt by the real binary.
fn watch_and_serve(dir: &tempfile::TempDir) -> bake::Result<ServerHandle> {
    start(ServeOptions {
        config: dir.path().join("bake.toml"),
        port: 0,
        bake_exe: Some(BAKE.into()),
        ..ServeOptions::default()
    })
}

#[test]
fn rebuilds_on_change_and_keeps_the_old_site_on_failure() {
    let dir = source_site();
    let server = watch_and_serve(&dir).expect("builds and serves");
    assert_eq!(server.folder, dir.path().join("site"));
    let page = get(server.addr, "/hello/");
    assert_eq!(page.status, 200);
    assert!(page.text().contains("First words."));
    assert!(page.text().contains(TAG));

    let mut events = TcpStream::connect(server.addr).unwrap();
    events
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(events, "GET /__bake/events HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut seen = String::new();
    read_until(&mut events, &mut seen, "data: 0\n\n");

    let page_md = dir.path().join("content/hello.md");
    std::fs::write(
        &page_md,
        "+++\ntitle = \"Hello\"\n+++\n# Hello\n\nSecond words.\n",
    )
    .unwrap();
    read_until(&mut events, &mut seen, "data: 1\n\n");
    assert!(get(server.addr, "/hello/").text().contains("Second words."));

    // A broken configuration: the build fails, the previous site stays served.
    std::fs::write(
        dir.path().join("bake.toml"),
        "title = \"Live\"\nno_such_key = 1\n",
    )
    .unwrap();
    std::fs::write(
        &page_md,
        "+++\ntitle = \"Hello\"\n+++\n# Hello\n\nThird words.\n",
    )
    .unwrap();
    // The open pages are told what the build printed, file and line included.
    let sent = read_build_error(&mut events, &mut seen);
    let error = server.build_error().expect("the failure is kept");
    assert!(error.contains("no_such_key"), "{error}");
    assert!(error.contains("bake.toml:2"), "{error}");
    assert_eq!(sent, error);
    assert_eq!(server.generation(), 1, "no reload after a failed build");
    let page = get(server.addr, "/hello/");
    assert_eq!(page.status, 200);
    assert!(page.text().contains("Second words."));

    // Fixed: rebuilt, and pages are told.
    std::fs::write(dir.path().join("bake.toml"), "title = \"Live\"\n").unwrap();
    read_until(&mut events, &mut seen, "data: 2\n\n");
    assert!(get(server.addr, "/hello/").text().contains("Third words."));
    assert_eq!(server.build_error(), None, "the fix clears the error");
}

#[test]
fn a_failed_first_build_is_shown_to_the_pages_that_connect() {
    let dir = source_site();
    std::fs::write(
        dir.path().join("content/hello.md"),
        "+++\ntitle = \"Hello\"\ndate = \"someday\"\n+++\n# Hello\n",
    )
    .unwrap();
    let server = watch_and_serve(&dir).expect("serves while waiting for a fix");
    let error = server.build_error().expect("the first build failed");
    assert!(error.contains("hello.md:3"), "{error}");
    let mut events = TcpStream::connect(server.addr).unwrap();
    events
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(events, "GET /__bake/events HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut seen = String::new();
    read_until(&mut events, &mut seen, "data: 0\n\nevent: build-error\n");
    assert_eq!(read_build_error(&mut events, &mut seen), error);
}

/// Reads the event stream until a `build-error` event has come whole; returns its text.
fn read_build_error(stream: &mut TcpStream, seen: &mut String) -> String {
    const EVENT: &str = "event: build-error\ndata: ";
    read_until(stream, seen, EVENT);
    let start = seen.find(EVENT).unwrap() + EVENT.len();
    let mut buf = [0u8; 1024];
    while !seen[start..].contains("\n\n") {
        let n = stream.read(&mut buf).expect("the event arrives in time");
        assert!(n > 0, "stream closed inside the event; got {seen:?}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let data = &seen[start..start + seen[start..].find("\n\n").unwrap()];
    serde_json::from_str(data).unwrap_or_else(|e| panic!("{e}: {data:?}"))
}

/// Starts `bake ARGS`, reads its first stdout line, and returns the child, the line and the
/// address in it.
fn spawn_bake(args: &[&str]) -> (std::process::Child, String, SocketAddr) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(BAKE)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim_end()
        .rsplit_once(" at http://")
        .and_then(|(_, url)| url.strip_suffix('/'))
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .parse()
        .unwrap();
    (child, line, addr)
}

/// Stops the child as Ctrl-C would (SIGINT) and returns what else it printed on stdout.
fn stop(child: std::process::Child) -> String {
    #[cfg(unix)]
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    #[cfg(not(unix))]
    let child = {
        let mut child = child;
        child.kill().unwrap();
        child
    };
    let out = child.wait_with_output().unwrap();
    #[cfg(unix)]
    assert!(
        out.status.success(),
        "clean exit: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn binary_serves_a_folder_and_prints_one_line() {
    let site = Site::new();
    let folder = site.folder();
    let folder = folder.to_str().unwrap();
    let (child, line, addr) = spawn_bake(&[
        "serve",
        "--port",
        "0",
        "--no-build",
        "--no-watch",
        "--out",
        folder,
    ]);
    assert_eq!(line, format!("Serving {folder} at http://{addr}/\n"));
    let r = get(addr, "/");
    assert_eq!((r.status, r.text().as_str()), (200, INDEX));
    assert_eq!(stop(child), "", "nothing more on stdout");
}

#[test]
fn binary_builds_then_serves_with_one_stdout_line() {
    let dir = source_site();
    let config = dir.path().join("bake.toml");
    let (child, line, addr) =
        spawn_bake(&["serve", "--config", config.to_str().unwrap(), "--port", "0"]);
    assert!(line.starts_with("Serving "), "{line}");
    let r = get(addr, "/hello/");
    assert_eq!(r.status, 200);
    assert!(r.text().contains(TAG));
    assert_eq!(stop(child), "", "the build report goes to stderr");
}

#[test]
fn dotfiles_are_not_served() {
    let site = Site::new();
    let files = [
        ".git/config",
        ".env",
        "_assets/.hidden.js",
        ".well-known/security.txt",
    ];
    for name in files {
        let path = site.folder().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "private state").unwrap();
    }
    let server = site.serve(false);
    for path in [
        "/.git/config",
        "/%2egit/config",
        "/%2Egit/config",
        "/.git/",
        "/.git",
        "/.env",
        "/%2eenv",
        "/_assets/.hidden.js",
        "/_assets/%2ehidden.js",
        "/.well-known/security.txt",
    ] {
        let r = get(server.addr, path);
        assert_eq!(r.status, 404, "{path}");
        assert!(!r.text().contains("private state"), "{path}");
        assert_eq!(r.text(), NOT_FOUND, "the site's 404 page: {path}");
    }
    // Dots elsewhere in a name are ordinary.
    std::fs::write(site.folder().join("a.b.txt"), "dots").unwrap();
    assert_eq!(get(server.addr, "/a.b.txt").text(), "dots");
}

/// Connects and sends `bytes`, then waits without sending more; returns the stream.
fn stall(addr: SocketAddr, bytes: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(bytes.as_bytes()).unwrap();
    stream
}

/// Waits for the server to close `stream` and returns how long that took (what it sent
/// before closing, a 408 say, is ignored). Fails after 20 s.
fn closed_after(stream: &mut TcpStream) -> Duration {
    let started = std::time::Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return started.elapsed(),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return started.elapsed();
            }
            Err(e) => panic!("the server did not close the connection: {e}"),
        }
    }
}

#[test]
fn slow_or_idle_clients_are_disconnected() {
    let site = Site::new();
    let server = site.serve_with(ServeOptions {
        header_timeout: Duration::from_secs(1),
        watch: false,
        ..ServeOptions::default()
    });
    let bound = Duration::from_secs(5);
    // Half a request line, then nothing.
    let mut half = stall(server.addr, "GET /index.ht");
    // A complete request line, then headers that never end.
    let mut headers = stall(server.addr, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: a");
    // Nothing at all.
    let mut silent = stall(server.addr, "");
    for (name, stream) in [
        ("half a request line", &mut half),
        ("unfinished headers", &mut headers),
        ("no request", &mut silent),
    ] {
        let waited = closed_after(stream);
        assert!(waited < bound, "{name}: closed after {waited:?}");
    }
    // An idle keep-alive connection is closed too, after answering its request.
    let mut idle = stall(server.addr, "GET /about.html HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut seen = String::new();
    read_until(&mut idle, &mut seen, "<p>About</p>");
    let waited = closed_after(&mut idle);
    assert!(waited < bound, "idle keep-alive: closed after {waited:?}");
    // The server is still fine, and a client that is fast enough is served.
    assert_eq!(get(server.addr, "/").text(), INDEX);
}

#[test]
fn stalled_connections_do_not_block_other_requests() {
    let site = Site::new();
    let server = site.serve(false);
    // 300 connections hold half a request each (the default 10 s header timeout).
    let stalled: Vec<TcpStream> = (0..300)
        .map(|i| stall(server.addr, &format!("GET /{i} HTTP/1.1\r\nHost: x\r\n")))
        .collect();
    let started = std::time::Instant::now();
    for _ in 0..5 {
        assert_eq!(get(server.addr, "/").text(), INDEX);
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "5 requests took {took:?}");
    drop(stalled);
}

#[test]
fn connections_beyond_the_cap_wait_for_a_free_slot() {
    let site = Site::new();
    let server = site.serve_with(ServeOptions {
        header_timeout: Duration::from_secs(2),
        max_connections: 4,
        watch: false,
        ..ServeOptions::default()
    });
    let stalled: Vec<TcpStream> = (0..4).map(|_| stall(server.addr, "GET /")).collect();
    std::thread::sleep(Duration::from_millis(200));
    // The fifth waits in the backlog until the timeout frees the slots, then is served.
    let started = std::time::Instant::now();
    assert_eq!(get(server.addr, "/").text(), INDEX);
    let waited = started.elapsed();
    assert!(
        waited > Duration::from_millis(1000) && waited < Duration::from_secs(10),
        "served after {waited:?}"
    );
    drop(stalled);
}

/// The ids of the `bake build` processes this process started for the site in `root`.
#[cfg(target_os = "linux")]
fn build_children(root: &Path) -> Vec<u32> {
    let me = std::process::id();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let (Ok(stat), Ok(cmdline)) = (
            std::fs::read_to_string(format!("/proc/{pid}/stat")),
            std::fs::read(format!("/proc/{pid}/cmdline")),
        ) else {
            continue;
        };
        // `pid (name) state ppid …`: the name may hold spaces, so split after the `)`.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let zombie = stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
        if ppid == Some(me)
            && !zombie
            && args.get(1).is_some_and(|a| a == "build")
            && args.iter().any(|a| Path::new(a).starts_with(root))
        {
            found.push(pid);
        }
    }
    found
}

/// Waits until `done` holds, checking every 50 ms; false after `limit`.
fn eventually(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let started = std::time::Instant::now();
    while started.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    done()
}

#[cfg(target_os = "linux")]
#[test]
fn a_change_cancels_a_build_that_never_ends() {
    let dir = source_site();
    std::fs::create_dir_all(dir.path().join("content/data")).unwrap();
    std::fs::write(dir.path().join("content/data/t.csv"), "a\n1\n").unwrap();
    std::fs::write(
        dir.path().join("bake.toml"),
        "title = \"Live\"\n[databases.d.tables.t]\nsource = \"data/t.csv\"\n",
    )
    .unwrap();
    let server = watch_and_serve(&dir).expect("builds and serves");
    assert!(get(server.addr, "/hello/").text().contains("First words."));

    // A canned query that counts forever (until the build's own query time limit, 30 s
    // by default, far beyond the bounds below).
    let page_md = dir.path().join("content/hello.md");
    std::fs::write(
        &page_md,
        "+++\ntitle = \"Hello\"\n[queries.forever]\ndatabase = \"d\"\n\
         sql = \"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c\"\n\
         +++\n# Hello\n\n{{ query(name=\"forever\") }}\n",
    )
    .unwrap();
    let mut hung = Vec::new();
    assert!(
        eventually(Duration::from_secs(20), || {
            hung = build_children(dir.path());
            !hung.is_empty()
        }),
        "a rebuild starts"
    );
    // Long enough to be inside the query; it is still running.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        hung.iter()
            .all(|pid| Path::new(&format!("/proc/{pid}")).exists()),
        "the build is stuck in its query"
    );
    assert_eq!(server.generation(), 0);

    let fixed = std::time::Instant::now();
    std::fs::write(
        &page_md,
        "+++\ntitle = \"Hello\"\n+++\n# Hello\n\nFixed words.\n",
    )
    .unwrap();
    assert!(
        eventually(Duration::from_secs(15), || server.generation() == 1),
        "rebuilt with the fix"
    );
    let took = fixed.elapsed();
    assert!(get(server.addr, "/hello/").text().contains("Fixed words."));
    for pid in &hung {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"));
        assert!(stat.is_err(), "the stuck build {pid} is gone (and reaped)");
    }
    assert!(build_children(dir.path()).is_empty());
    eprintln!("rebuilt {took:?} after the fix");
    drop(server);
}

#[cfg(target_os = "linux")]
#[test]
fn stopping_the_server_stops_its_build() {
    let dir = source_site();
    std::fs::create_dir_all(dir.path().join("content/data")).unwrap();
    std::fs::write(dir.path().join("content/data/t.csv"), "a\n1\n").unwrap();
    std::fs::write(
        dir.path().join("bake.toml"),
        "title = \"Live\"\n[databases.d.tables.t]\nsource = \"data/t.csv\"\n",
    )
    .unwrap();
    let server = watch_and_serve(&dir).expect("builds and serves");
    std::fs::write(
        dir.path().join("content/hello.md"),
        "+++\ntitle = \"Hello\"\n[queries.forever]\ndatabase = \"d\"\n\
         sql = \"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c\"\n\
         +++\n{{ query(name=\"forever\") }}\n",
    )
    .unwrap();
    let mut hung = Vec::new();
    assert!(
        eventually(Duration::from_secs(20), || {
            hung = build_children(dir.path());
            !hung.is_empty()
        }),
        "a rebuild starts"
    );
    let started = std::time::Instant::now();
    drop(server);
    assert!(started.elapsed() < Duration::from_secs(5), "stops promptly");
    for pid in &hung {
        assert!(
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_err(),
            "the build {pid} is gone"
        );
    }
}
