//! Shared pieces of bake's end-to-end tests: the demo site built once per test process,
//! `bake serve` on 127.0.0.1, and headless Debian Chromium driven through chromedriver.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};

pub mod relevance;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the repo")
        .to_path_buf()
}

/// The demo site, built once per test process into a temporary folder.
pub fn demo_site() -> &'static Path {
    static SITE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &SITE
        .get_or_init(|| {
            let dir = tempfile::Builder::new()
                .prefix("bake-e2e-")
                .tempdir()
                .expect("temp dir");
            let out = dir.path().join("site");
            let config =
                bake::config::Config::load(&repo_root().join("bake.toml")).expect("demo config");
            let opts = bake::build::BuildOptions {
                out: Some(out.clone()),
                quiet: true,
                ..Default::default()
            };
            bake::build::build(&config, &opts)
                .unwrap_or_else(|e| panic!("the demo does not build: {e}"));
            (dir, out)
        })
        .1
}

/// Serves `site` the way `bake serve --no-build --no-watch` does, on a free port.
pub fn serve(site: &Path) -> bake::serve::ServerHandle {
    serve_on(site, 0)
}

/// Serves `site` on `port` (0: any free port), as [`serve`] does. The origin (and so a
/// service worker and the device store) is the port's: a test that stops its server and
/// starts it again uses the same port.
pub fn serve_on(site: &Path, port: u16) -> bake::serve::ServerHandle {
    bake::serve::start(bake::serve::ServeOptions {
        out: Some(site.to_path_buf()),
        port,
        build: false,
        watch: false,
        ..Default::default()
    })
    .expect("bake serve starts")
}

/// The data manifest a built `site` links from its home page.
pub fn site_manifest(site: &Path) -> wasm_query::manifest::Manifest {
    let index = std::fs::read_to_string(site.join("index.html")).expect("index.html");
    let at = index.find("/_assets/manifest.").expect("a manifest link");
    let end = at + index[at..].find(".json").expect(".json") + 5;
    let text = std::fs::read_to_string(site.join(&index[at + 1..end])).expect("the manifest");
    wasm_query::manifest::Manifest::from_json(&text).expect("the manifest parses")
}

/// The range engine over the files of a built `site`, read from disk: the native side of
/// browser = native checks.
pub fn native_engine(
    site: &Path,
    m: &wasm_query::manifest::Manifest,
) -> wasm_query::engine::SharedEngine {
    let fetch: Box<dyn wasm_query::fetch::Fetch + Send> =
        Box::new(wasm_query::fetch::DirFetch::new(site));
    wasm_query::engine::shared(wasm_query::engine::Engine::new(
        fetch,
        m,
        wasm_query::engine::EngineConfig::default(),
    ))
}

/// JSON with every number as an f64, compared exactly: JavaScript has no int/float split,
/// so `0` and `0.0` are the same value, but `10.35702` and `10.357019999999999` are not.
pub fn numbers_as_f64(v: &Value) -> Value {
    match v {
        Value::Number(n) => json!(n.as_f64().expect("finite")),
        Value::Array(a) => Value::Array(a.iter().map(numbers_as_f64).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), numbers_as_f64(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A headless Chromium session; the driver process ends with it.
pub struct Browser {
    /// The WebDriver client.
    pub client: Client,
    driver: Child,
    /// The profile folder, when the session made its own (removed with it).
    _profile: Option<tempfile::TempDir>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Browser {
    /// Starts chromedriver and a fresh headless Chromium profile.
    pub async fn start() -> Browser {
        Browser::start_with(true, None, false).await
    }

    /// Like [`Browser::start`], with the system's colour scheme dark
    /// (`prefers-color-scheme: dark` matches on every page).
    pub async fn start_dark() -> Browser {
        Browser::start_with(true, None, true).await
    }

    /// Like [`Browser::start`], with JavaScript switched off for every site.
    pub async fn start_without_javascript() -> Browser {
        Browser::start_with(false, None, false).await
    }

    /// Like [`Browser::start`], on the profile folder `profile`, which outlives the session:
    /// a second session on it is the same browser started again (its storage kept).
    pub async fn start_on_profile(profile: &Path) -> Browser {
        Browser::start_with(true, Some(profile), false).await
    }

    async fn start_with(javascript: bool, profile: Option<&Path>, dark: bool) -> Browser {
        let (own, profile) = match profile {
            Some(p) => (None, p.to_path_buf()),
            None => {
                let t = tempfile::tempdir().expect("profile dir");
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
        };
        // Starting a session sometimes fails on a loaded machine (many tests start Chromium
        // at once): a new driver on a new port is tried, three times in all.
        let mut failures = Vec::new();
        for _ in 0..3 {
            let (mut driver, port) = start_driver();
            match connect(port, javascript, &profile, dark).await {
                Ok(client) => {
                    return Browser {
                        client,
                        driver,
                        _profile: own,
                    };
                }
                Err(e) => {
                    let _ = driver.kill();
                    let _ = driver.wait();
                    failures.push(e);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
        panic!("no WebDriver session after 3 tries: {failures:?}");
    }

    /// Like [`Browser::eval`], with the value brought back through `JSON.stringify`
    /// (`undefined` as null): WebDriver's own serialization rounds numbers to ~15 digits.
    pub async fn eval_exact(&self, body: &str) -> Result<Value, String> {
        let text = self
            .eval(&format!(
                "const v = await (async () => {{ {body} }})(); return JSON.stringify(v === undefined ? null : v);"
            ))
            .await?;
        Ok(serde_json::from_str(text.as_str().expect("a string")).expect("JSON"))
    }

    /// Runs async JavaScript (the body of an async function) and returns its JSON value;
    /// a thrown error comes back as Err(message).
    pub async fn eval(&self, body: &str) -> Result<Value, String> {
        let script = format!(
            "const done = arguments[arguments.length - 1];\n\
             (async () => {{ {body} }})().then(v => done({{ ok: v === undefined ? null : v }}), \
             e => done({{ err: String((e && e.message) || e), kind: (e && e.kind) || null }}));"
        );
        let v = self
            .client
            .execute_async(&script, vec![])
            .await
            .expect("script runs");
        match v.get("ok") {
            Some(ok) => Ok(ok.clone()),
            None => Err(v
                .get("err")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string()),
        }
    }

    /// Waits until `js` (an expression) is truthy, up to `secs` seconds; returns its value.
    pub async fn wait_for(&self, js: &str, secs: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let v = self
                .client
                .execute(&format!("return ({js});"), vec![])
                .await
                .expect("script runs");
            let truthy =
                !matches!(&v, Value::Null | Value::Bool(false)) && v != json!("") && v != json!(0);
            if truthy {
                return v;
            }
            assert!(Instant::now() < deadline, "timed out waiting for: {js}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sizes the window so that the page's viewport (`innerWidth` × `innerHeight`) is
    /// `width` × `height` CSS pixels, as on a phone held upright at 375 × 812: the window is
    /// set once, measured, and set again with the difference (the window's own frame) added.
    pub async fn set_viewport(&self, width: u32, height: u32) {
        self.client
            .set_window_size(width, height)
            .await
            .expect("window resized");
        let inner = self
            .eval("return [innerWidth, innerHeight]")
            .await
            .expect("viewport measured");
        let (iw, ih) = (
            inner[0].as_u64().unwrap_or(0) as u32,
            inner[1].as_u64().unwrap_or(0) as u32,
        );
        if (iw, ih) != (width, height) {
            self.client
                .set_window_size(
                    width + width.saturating_sub(iw),
                    height + height.saturating_sub(ih),
                )
                .await
                .expect("window resized");
        }
        let inner = self
            .eval("return [innerWidth, innerHeight]")
            .await
            .expect("viewport measured");
        assert_eq!(
            inner,
            json!([width, height]),
            "the viewport after resizing the window"
        );
    }

    /// Ends the session and the driver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Starts chromedriver on a free port and waits until it listens.
fn start_driver() -> (Child, u16) {
    let port = free_port();
    let driver = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver runs (./scripts/test installs chromium-driver)");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (driver, port)
}

/// A headless Chromium session through the chromedriver on `port`, on `profile`.
async fn connect(
    port: u16,
    javascript: bool,
    profile: &Path,
    dark: bool,
) -> Result<Client, String> {
    let scheme = format!(
        "--blink-settings=preferredColorScheme={}",
        if dark { 0 } else { 1 }
    );
    let caps = json!({
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,1000",
                format!("--user-data-dir={}", profile.display()), scheme,
            ],
            "prefs": { "profile.managed_default_content_settings.javascript": if javascript { 1 } else { 2 } }
        }
    });
    let caps = caps
        .as_object()
        .expect("object")
        .clone()
        .into_iter()
        .collect();
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .map_err(|e| e.to_string())?;
    client
        .update_timeouts(fantoccini::wd::TimeoutConfiguration::new(
            Some(Duration::from_secs(120)),
            Some(Duration::from_secs(60)),
            Some(Duration::from_secs(0)),
        ))
        .await
        .map_err(|e| e.to_string())?;
    Ok(client)
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}

/// The queries run in the browser and natively (tests/fixtures/queries.toml).
#[derive(Debug, serde::Deserialize)]
pub struct QueryFile {
    /// SQL queries.
    pub sql: Vec<SqlCase>,
    /// Searches.
    pub search: Vec<SearchCase>,
}

/// One SQL query.
#[derive(Debug, serde::Deserialize)]
pub struct SqlCase {
    /// Database run as main.
    pub db: String,
    /// The statement.
    pub sql: String,
}

/// One search.
#[derive(Debug, serde::Deserialize)]
pub struct SearchCase {
    /// Query text.
    pub query: String,
    /// Search options as the JS client takes them.
    #[serde(default)]
    pub options: serde_json::Map<String, Value>,
}

/// Reads tests/fixtures/queries.toml.
pub fn query_file() -> QueryFile {
    let text = std::fs::read_to_string(repo_root().join("tests/fixtures/queries.toml"))
        .expect("queries.toml");
    toml::from_str(&text).expect("queries.toml parses")
}

/// An HTTP proxy on 127.0.0.1 in front of a server (`bake serve`) that answers chosen
/// requests with an error status — what `bake serve` itself never does — and forwards the
/// rest unchanged. Each connection carries one request (`Connection: close` both ways).
pub struct FaultProxy {
    /// Address the proxy listens on.
    pub addr: std::net::SocketAddr,
    state: std::sync::Arc<ProxyState>,
}

#[derive(Default)]
struct ProxyState {
    /// (substring of the path, status, answers left).
    rules: std::sync::Mutex<Vec<(String, u16, usize)>>,
    /// `STATUS PATH` of every answer the proxy made up.
    injected: std::sync::Mutex<Vec<String>>,
    stop: std::sync::atomic::AtomicBool,
}

impl FaultProxy {
    /// Starts a proxy that forwards to `upstream`.
    pub fn start(upstream: std::net::SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a proxy port");
        let addr = listener.local_addr().expect("proxy address");
        let state = std::sync::Arc::new(ProxyState::default());
        let shared = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if shared.stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let shared = shared.clone();
                std::thread::spawn(move || {
                    // A failed connection only fails the request the browser made on it.
                    let _ = proxy_one(conn, upstream, &shared);
                });
            }
        });
        FaultProxy { addr, state }
    }

    /// Answers the next `times` requests whose path contains `pattern` with `status`.
    pub fn fail(&self, pattern: &str, status: u16, times: usize) {
        self.state
            .rules
            .lock()
            .expect("rules")
            .push((pattern.to_string(), status, times));
    }

    /// `STATUS PATH` of every answer the proxy made up so far.
    pub fn injected(&self) -> Vec<String> {
        self.state.injected.lock().expect("log").clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.state
            .stop
            .store(true, std::sync::atomic::Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = std::net::TcpStream::connect(self.addr);
    }
}

/// Serves one request of `client`: a made-up error if a rule matches, else upstream's answer.
fn proxy_one(
    mut client: std::net::TcpStream,
    upstream: std::net::SocketAddr,
    state: &ProxyState,
) -> std::io::Result<()> {
    use std::io::{Read, Write};
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte)? == 0 || head.len() > 64 * 1024 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let path = text.split_whitespace().nth(1).unwrap_or("").to_string();
    let status = {
        let mut rules = state.rules.lock().expect("rules");
        rules
            .iter_mut()
            .find(|(pattern, _, left)| *left > 0 && path.contains(pattern.as_str()))
            .map(|(_, status, left)| {
                *left -= 1;
                *status
            })
    };
    if let Some(status) = status {
        state
            .injected
            .lock()
            .expect("log")
            .push(format!("{status} {path}"));
        let answer = format!(
            "HTTP/1.1 {status} Injected\r\nContent-Length: 0\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
        );
        client.write_all(answer.as_bytes())?;
        return client.shutdown(std::net::Shutdown::Both);
    }
    let mut forwarded = String::new();
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        if !line.to_ascii_lowercase().starts_with("connection:") {
            forwarded.push_str(line);
            forwarded.push_str("\r\n");
        }
    }
    forwarded.push_str("Connection: close\r\n\r\n");
    let mut server = std::net::TcpStream::connect(upstream)?;
    server.write_all(forwarded.as_bytes())?;
    std::io::copy(&mut server, &mut client)?;
    client.shutdown(std::net::Shutdown::Both)
}
