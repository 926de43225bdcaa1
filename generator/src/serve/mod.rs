//! `bake serve`: previews the built site as a static host would serve it.
//!
//! Files are resolved on every request (a rebuild swaps the whole output folder), with
//! GET/HEAD, byte ranges, strong ETags and conditional requests (`files`), the site's
//! `_headers` rules (`headers`), and live reload (`reload`). Responses are never
//! compressed: the browser side refuses content-encoded data.
//!
//! Why not tower-http's `ServeDir`: checked against its 0.6 source, it sends no ETag and
//! ignores If-None-Match and If-Range (a stale If-Range still gets a 206 of the new
//! bytes), answers any multi-range request and any malformed Range with 416 (RFC 9110
//! says ignore a bad Range; several ranges may get a 200), answers a Range on HEAD with
//! 206, honours If-Modified-Since even when If-None-Match is present, redirects folders
//! with 307, follows symlinks out of the folder, gives no charset on text types, and
//! re-opens the file by path, so a validator computed beside it could describe another
//! version after a swap. Its Range slicing and HEAD handling were right, but with HTML
//! injection on top little was left to reuse, so the file answer is written here, opening
//! each file once per request.
//!
//! Connections are served by hyper's HTTP/1 connection directly (not `axum::serve`, which
//! sets no timer): a client gets [`ServeOptions::header_timeout`] to send each request's
//! head, which also closes idle keep-alive connections, and at most
//! [`ServeOptions::max_connections`] are served at once, so stalled clients can neither
//! hold the server forever nor use up its file descriptors.

mod files;
mod headers;
mod rebuild;
mod reload;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, Response, StatusCode, header};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::sync::{Semaphore, watch};

use crate::config::Config;
use crate::error::{Error, Result};
use files::{EtagCache, Representation, Target};

/// Options of `bake serve`.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Path of bake.toml.
    pub config: PathBuf,
    /// Override of the output folder (else `config.build.output`, relative to bake.toml's
    /// folder). With `--no-build --no-watch`, bake.toml is not read at all.
    pub out: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1).
    pub bind: IpAddr,
    /// Port to listen on (default 8000); 0 picks any free port.
    pub port: u16,
    /// Build once before serving (default true).
    pub build: bool,
    /// Rebuild on changes and live-reload pages (default true).
    pub watch: bool,
    /// The bake executable that runs each rebuild (`bake build`) as a child process, so a
    /// change can cancel a build still running. `None`: the running executable, which is
    /// right for the `bake` binary; a program embedding the library (its tests) names one.
    pub bake_exe: Option<PathBuf>,
    /// Time a client has to send a request's head, from the moment the connection waits
    /// for one: slow clients and idle keep-alive connections are closed after it
    /// (default 10 s).
    pub header_timeout: Duration,
    /// Connections served at once (default 512); more wait to be accepted.
    pub max_connections: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            config: PathBuf::from("bake.toml"),
            out: None,
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 8000,
            build: true,
            watch: true,
            bake_exe: None,
            header_timeout: Duration::from_secs(10),
            max_connections: 512,
        }
    }
}

/// Builds (if asked), serves, prints `Serving <folder> at http://<ip>:<port>/` as the one
/// line on stdout, and returns after Ctrl-C (or SIGTERM).
pub fn run(opts: ServeOptions) -> Result<()> {
    use std::io::Write;
    let handle = start(opts)?;
    let wait_for_signal = handle.signal_waiter();
    println!(
        "Serving {} at http://{}/",
        handle.folder.display(),
        handle.addr
    );
    let _ = std::io::stdout().flush();
    wait_for_signal();
    eprintln!("stopping");
    drop(handle);
    Ok(())
}

/// A running server. Dropping it stops the server and the watcher.
pub struct ServerHandle {
    /// Address the server listens on (with the real port when port 0 was asked for).
    pub addr: SocketAddr,
    /// The folder being served.
    pub folder: PathBuf,
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
    server: Option<tokio::task::JoinHandle<()>>,
    watcher: Option<reload::Watching>,
}

/// State shared by the request handlers, the watcher and the handle.
struct Shared {
    folder: PathBuf,
    live_reload: bool,
    /// The build generation and the last failure, which the event stream tells the pages.
    state: watch::Sender<reload::BuildState>,
    shutdown: watch::Sender<bool>,
    headers: headers::HeadersFile,
    etags: EtagCache,
    /// The latest requests (`GET /path bytes=a-b`), for tests and debugging.
    log: std::sync::Mutex<std::collections::VecDeque<String>>,
}

/// Requests remembered by [`ServerHandle::requests`].
const LOG_LIMIT: usize = 10_000;

/// Builds (if asked), binds the port and starts serving in the background; returns once
/// the port is listening. With `watch`, a failed first build is printed and serving goes
/// on (the previous site, if any), waiting for a fix; without it, the error is returned.
/// The served folder and the watched folders are fixed at start: an edit of bake.toml
/// that moves them takes a restart.
pub fn start(opts: ServeOptions) -> Result<ServerHandle> {
    let config = if opts.build || opts.watch || opts.out.is_none() {
        Some(Config::load(&opts.config)?)
    } else {
        None
    };
    let mut folder = match (&opts.out, &config) {
        (Some(out), _) => out.clone(),
        (None, Some(config)) => config.root.join(&config.build.output),
        (None, None) => unreachable!("the configuration is read when --out is not given"),
    };
    // A failed first build is shown in the pages too, like a failed rebuild.
    let mut first_failure = None;
    if let (true, Some(config)) = (opts.build, &config) {
        match build_site(config, &opts.out) {
            Ok((out, report)) => {
                eprintln!("{report}");
                folder = out;
            }
            Err(e) if opts.watch => {
                eprintln!("error: {e}");
                first_failure = Some(format!("error: {e}"));
                eprintln!(
                    "(serving what {} holds; save a fix to rebuild)",
                    folder.display()
                );
            }
            Err(e) => return Err(e),
        }
    }

    let addr = SocketAddr::new(opts.bind, opts.port);
    let listener = std::net::TcpListener::bind(addr).map_err(|e| {
        Error::msg(format!("cannot listen on {addr}: {e}"))
            .hint("pick another --port, or --port 0 for any free port")
    })?;
    let addr = listener
        .local_addr()
        .and_then(|a| listener.set_nonblocking(true).map(|_| a))
        .map_err(|e| Error::msg(format!("cannot listen on {addr}: {e}")))?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bake-serve")
        .enable_all()
        .build()
        .map_err(|e| Error::msg(format!("cannot start the server: {e}")))?;
    let shared = Arc::new(Shared {
        folder: folder.clone(),
        live_reload: opts.watch,
        state: watch::Sender::new(reload::BuildState {
            generation: 0,
            failures: u64::from(first_failure.is_some()),
            failure: first_failure,
        }),
        shutdown: watch::Sender::new(false),
        headers: Default::default(),
        etags: Default::default(),
        log: Default::default(),
    });

    let server = {
        let _entered = runtime.enter();
        let listener = tokio::net::TcpListener::from_std(listener)
            .map_err(|e| Error::msg(format!("cannot listen on {addr}: {e}")))?;
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let limits = (
            opts.header_timeout,
            opts.max_connections.clamp(1, Semaphore::MAX_PERMITS),
        );
        runtime.spawn(accept_loop(
            listener,
            app,
            limits,
            shared.shutdown.subscribe(),
        ))
    };

    let watcher = match (opts.watch, config) {
        (true, Some(config)) => {
            let exe = match opts.bake_exe {
                Some(exe) => exe,
                None => std::env::current_exe().map_err(|e| {
                    Error::msg(format!(
                        "cannot find the bake executable to rebuild with: {e}"
                    ))
                    .hint("pass --no-watch to serve without rebuilding")
                })?,
            };
            let rebuilder = rebuild::Rebuilder {
                exe,
                config: opts.config.clone(),
                out: opts.out.clone(),
            };
            Some(reload::watch(
                &config,
                &folder,
                rebuilder,
                shared.state.clone(),
            )?)
        }
        _ => None,
    };

    Ok(ServerHandle {
        addr,
        folder,
        shared,
        runtime: Some(runtime),
        server: Some(server),
        watcher,
    })
}

/// Accepts connections until `stop`, each served with the header timeout, at most
/// `max_connections` at a time; then lets open connections finish their current response.
async fn accept_loop(
    listener: tokio::net::TcpListener,
    app: Router,
    (header_timeout, max_connections): (Duration, usize),
    mut stop: watch::Receiver<bool>,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let slots = Arc::new(Semaphore::new(max_connections));
    let graceful = GracefulShutdown::new();
    loop {
        // A slot first: beyond the cap, connections wait in the kernel's backlog.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            () = stopped(&mut stop) => break,
        };
        // Only a closed semaphore fails, and this one is never closed.
        let Ok(slot) = slot else { break };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stopped(&mut stop) => break,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                if !matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset
                ) {
                    eprintln!("warning: cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                continue;
            }
        };
        // Without TCP_NODELAY a keep-alive connection stalls ~40 ms per response (Nagle's
        // algorithm meets the client's delayed ACK): ranges come in many small sequential
        // requests, so that would dominate every query.
        let _ = tcp.set_nodelay(true);
        let connection =
            http.serve_connection(TokioIo::new(tcp), TowerToHyperService::new(app.clone()));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // Errors are the client's doing (gone, too slow, malformed): nothing to report.
            let _ = connection.await;
            drop(slot);
        });
    }
    drop(listener);
    // Keep-alive connections close after their current response; the handle's drop waits
    // two seconds at most for downloads still running.
    graceful.shutdown().await;
}

/// Resolves once the server is told to stop.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// Runs the build; returns the folder written and the one-line summary.
fn build_site(config: &Config, out: &Option<PathBuf>) -> Result<(PathBuf, String)> {
    let opts = crate::build::BuildOptions {
        out: out.clone(),
        quiet: true,
        ..Default::default()
    };
    let report = crate::build::build(config, &opts)?;
    Ok((report.out.clone(), report.to_string()))
}

impl ServerHandle {
    /// Tells every open page to reload (what a successful rebuild does).
    pub fn reload(&self) {
        self.shared.state.send_modify(|s| {
            s.generation += 1;
            s.failure = None;
        });
    }

    /// The latest requests served, oldest first, as `METHOD /path [Range]` (at most 10,000).
    pub fn requests(&self) -> Vec<String> {
        self.shared
            .log
            .lock()
            .expect("log lock")
            .iter()
            .cloned()
            .collect()
    }

    /// Shows `error` in every open page as a failed build's (what a failed rebuild does);
    /// the next [`reload`] or successful rebuild clears it.
    ///
    /// [`reload`]: ServerHandle::reload
    pub fn show_build_error(&self, error: &str) {
        self.shared.state.send_modify(|s| {
            s.failure = Some(error.to_string());
            s.failures += 1;
        });
    }

    /// The error of the last build if it failed, as the pages are shown it.
    pub fn build_error(&self) -> Option<String> {
        self.shared.state.borrow().failure.clone()
    }

    /// The current build generation: 0 at start, +1 per successful rebuild or [`reload`].
    ///
    /// [`reload`]: ServerHandle::reload
    pub fn generation(&self) -> u64 {
        self.shared.state.borrow().generation
    }

    /// Blocks until Ctrl-C (or SIGTERM on Unix). The handlers are installed before this
    /// returns the waiting closure, so a signal sent right after the "Serving" line
    /// (which `run` prints in between) stops the server cleanly instead of killing it.
    fn signal_waiter(&self) -> impl FnOnce() + '_ {
        let runtime = self
            .runtime
            .as_ref()
            .expect("the runtime lives as long as the handle");
        let signal: std::pin::Pin<Box<dyn Future<Output = ()>>> = {
            let _entered = runtime.enter();
            #[cfg(unix)]
            {
                use tokio::signal::unix::{SignalKind, signal};
                match (
                    signal(SignalKind::interrupt()),
                    signal(SignalKind::terminate()),
                ) {
                    (Ok(mut int), Ok(mut term)) => Box::pin(async move {
                        tokio::select! {
                            _ = int.recv() => {}
                            _ = term.recv() => {}
                        }
                    }),
                    _ => Box::pin(std::future::pending()),
                }
            }
            #[cfg(not(unix))]
            Box::pin(async {
                if tokio::signal::ctrl_c().await.is_err() {
                    std::future::pending::<()>().await;
                }
            })
        };
        move || runtime.block_on(signal)
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.watcher.take();
        // Ends the accept loop and every event stream; finished connections close, and
        // downloads still running get two seconds.
        self.shared.shutdown.send_replace(true);
        if let Some(runtime) = self.runtime.take() {
            if let Some(server) = self.server.take()
                && tokio::runtime::Handle::try_current().is_err()
            {
                runtime.block_on(async {
                    let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
                });
            }
            runtime.shutdown_background();
        }
    }
}

/// Answers every request: the live-reload endpoints, else a file of the folder, with the
/// `_headers` rules applied.
async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response<Body> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let get = method == Method::GET || method == Method::HEAD;
    {
        let range = req
            .headers()
            .get(header::RANGE)
            .and_then(|v| v.to_str().ok());
        let line = match range {
            Some(r) => format!("{method} {path} {r}"),
            None => format!("{method} {path}"),
        };
        let mut log = shared.log.lock().expect("log lock");
        if log.len() == LOG_LIMIT {
            log.pop_front();
        }
        log.push_back(line);
    }
    if shared.live_reload && get && path == reload::SCRIPT_PATH {
        return reload::script();
    }
    if shared.live_reload && get && path == reload::EVENTS_PATH {
        return reload::events(shared.state.subscribe(), shared.shutdown.subscribe());
    }
    let (req, _body) = req.into_parts();
    let mut response = if get {
        serve_file(&shared, &method, &req).await
    } else {
        let mut r = files::error(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD");
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        r
    };
    let rules = shared.headers.rules(&shared.folder).await;
    let decoded = String::from_utf8_lossy(&files::percent_decode(&path)).into_owned();
    rules.apply(&decoded, response.headers_mut());
    response
}

async fn serve_file(
    shared: &Arc<Shared>,
    method: &Method,
    req: &axum::http::request::Parts,
) -> Response<Body> {
    let (path, query) = (req.uri.path(), req.uri.query());
    let target = {
        let (folder, path, query) = (
            shared.folder.clone(),
            path.to_string(),
            query.map(str::to_string),
        );
        tokio::task::spawn_blocking(move || files::resolve(&folder, &path, query.as_deref()))
            .await
            .unwrap_or(Target::NotFound)
    };
    match target {
        Target::File(file) => match open(shared, &file).await {
            Ok(rep) => {
                let ty = files::content_type(&file);
                files::respond(method, &req.headers, rep, ty, StatusCode::OK).await
            }
            // Removed between resolving and opening (a rebuild swapped the folder).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => not_found(shared, method).await,
            Err(e) => files::error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        },
        Target::Redirect(location) => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::PERMANENT_REDIRECT;
            if let Ok(v) = HeaderValue::from_str(&location) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
            r
        }
        Target::NotFound => not_found(shared, method).await,
        Target::BadRequest => files::error(StatusCode::BAD_REQUEST, "invalid path"),
    }
}

/// Opens a file of the folder; HTML gets the live-reload tag when watching.
async fn open(shared: &Arc<Shared>, file: &Path) -> std::io::Result<Representation> {
    let html = files::content_type(file).starts_with("text/html");
    let inject = (shared.live_reload && html).then_some(reload::inject as files::Transform);
    let (shared, file) = (shared.clone(), file.to_path_buf());
    tokio::task::spawn_blocking(move || Representation::open(&file, inject, &shared.etags))
        .await
        .map_err(std::io::Error::other)?
}

/// 404 with the site's `404.html` if it has one, else a line of text.
async fn not_found(shared: &Arc<Shared>, method: &Method) -> Response<Body> {
    let folder = shared.folder.clone();
    let page =
        tokio::task::spawn_blocking(move || files::resolve(&folder, "/404.html", None)).await;
    if let Ok(Target::File(file)) = page
        && let Ok(rep) = open(shared, &file).await
    {
        let ty = files::content_type(&file);
        return files::respond(method, &Default::default(), rep, ty, StatusCode::NOT_FOUND).await;
    }
    files::error(StatusCode::NOT_FOUND, "no such file")
}
