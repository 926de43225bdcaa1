//! Live reload: the script injected into pages, the event stream it listens to, and the
//! watcher that rebuilds the site when its sources change.
//!
//! The script is a file (`/__bake/livereload.js`), not inline code, so a page's
//! `Content-Security-Policy: script-src 'self'` still holds while previewing. It opens an
//! EventSource on `/__bake/events`; the server sends the build generation on connect and
//! after each successful rebuild, and the page reloads once it differs from the first one
//! it saw.

use std::convert::Infallible;
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::watch;

use super::rebuild::{Outcome, POLL, Rebuilder, Running};
use crate::config::Config;
use crate::error::{Error, Result};

/// URL of the live-reload script.
pub(crate) const SCRIPT_PATH: &str = "/__bake/livereload.js";
/// URL of the event stream.
pub(crate) const EVENTS_PATH: &str = "/__bake/events";

/// The tag injected into every HTML page served.
pub(crate) const TAG: &str = r#"<script src="/__bake/livereload.js" defer></script>"#;

const SCRIPT: &str = r#"// bake serve: reloads this page when the site is rebuilt.
(() => {
  let first = null;
  const events = new EventSource("/__bake/events");
  events.onmessage = (e) => {
    if (first === null) first = e.data;
    else if (e.data !== first) location.reload();
  };
})();
"#;

/// Quiet time after the last change before rebuilding (editors write in bursts).
const DEBOUNCE: Duration = Duration::from_millis(200);
/// Comment lines keep the stream alive and let the server notice closed pages.
const PING: Duration = Duration::from_secs(20);

/// `html` with [`TAG`] before its last `</body` (any case), or at the end when the page
/// has none (minified HTML may omit it; a script there still lands in the body).
pub(crate) fn inject(html: &[u8]) -> Vec<u8> {
    let at = html
        .windows(6)
        .rposition(|w| w.eq_ignore_ascii_case(b"</body"))
        .unwrap_or(html.len());
    let mut out = Vec::with_capacity(html.len() + TAG.len());
    out.extend_from_slice(&html[..at]);
    out.extend_from_slice(TAG.as_bytes());
    out.extend_from_slice(&html[at..]);
    out
}

/// The live-reload script (never cached: it is not part of the site).
pub(crate) fn script() -> Response<Body> {
    let mut response = Response::new(Body::from(SCRIPT));
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(SCRIPT.len()));
    response
}

/// The server-sent event stream: `data: GENERATION` on connect and after each rebuild,
/// until the page goes away or the server stops.
pub(crate) fn events(
    generation: watch::Receiver<u64>,
    shutdown: watch::Receiver<bool>,
) -> Response<Body> {
    let stream = futures_util::stream::unfold(
        (generation, shutdown, true),
        |(mut generation, mut shutdown, first)| async move {
            let chunk = if first {
                let g = *generation.borrow_and_update();
                format!("retry: 1000\ndata: {g}\n\n")
            } else {
                tokio::select! {
                    changed = generation.changed() => {
                        changed.ok()?;
                        format!("data: {}\n\n", *generation.borrow_and_update())
                    }
                    _ = shutdown.wait_for(|stop| *stop) => return None,
                    _ = tokio::time::sleep(PING) => ": ping\n\n".to_string(),
                }
            };
            Some((Ok::<_, Infallible>(chunk), (generation, shutdown, false)))
        },
    );
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = StatusCode::OK;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Watches the content folder, the templates folder (if it exists) and `bake.toml`; after
/// each burst of changes, starts a rebuild with `rebuilder` and calls `on_success` once it
/// has worked. A change while a build runs cancels that build and starts a new one, so a
/// build that never ends (a canned query looping) is replaced as soon as the fix is saved.
/// A failed build is printed and the previous site stays served (the build swaps the
/// output folder only when it is complete). Changes inside `served` are ignored, so an
/// output folder inside the content folder cannot trigger endless rebuilds.
/// Dropping the returned [`Watching`] stops the watching thread and any build it runs.
pub(crate) fn watch(
    config: &Config,
    served: &Path,
    rebuilder: Rebuilder,
    on_success: impl Fn() + Send + 'static,
) -> Result<Watching> {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let config_file = abs(&config.path);
    let content = abs(&config.content_dir());
    let templates = Some(abs(&config.templates_dir())).filter(|t| t.is_dir());
    let served = abs(served);

    let (tx, rx) = mpsc::channel::<Message>();
    let fail = |path: &Path, e: notify::Error| {
        Error::in_file(path, format!("cannot watch for changes: {e}"))
            .hint("pass --no-watch to serve without rebuilding")
    };
    let events = tx.clone();
    let mut watcher = notify::recommended_watcher(move |event| {
        let _ = events.send(Message::Event(event));
    })
    .map_err(|e| fail(&content, e))?;
    // bake.toml is watched through its folder: editors replace files by renaming, which
    // would end a watch on the file itself. The folder's own watch is not recursive.
    let root = config_file.parent().unwrap_or(Path::new("/")).to_path_buf();
    watcher
        .watch(&root, RecursiveMode::NonRecursive)
        .map_err(|e| fail(&root, e))?;
    watcher
        .watch(&content, RecursiveMode::Recursive)
        .map_err(|e| fail(&content, e))?;
    if let Some(t) = &templates {
        watcher
            .watch(t, RecursiveMode::Recursive)
            .map_err(|e| fail(t, e))?;
    }

    let relevant = move |event: &notify::Event| {
        !matches!(event.kind, EventKind::Access(_))
            && event.paths.iter().any(|p| {
                (*p == config_file
                    || p.starts_with(&content)
                    || templates.as_ref().is_some_and(|t| p.starts_with(t)))
                    && !p.starts_with(&served)
                    && !editor_junk(p)
                    && !hidden_in(p, &content)
            })
    };
    let thread = std::thread::Builder::new()
        .name("bake-watch".into())
        .spawn(move || {
            // The build in progress; dropping it (any return below) kills it.
            let mut running: Option<Running> = None;
            loop {
                if let Some(build) = &mut running
                    && let Some(outcome) = build.try_finish()
                {
                    report(outcome, build.started, &on_success);
                    running = None;
                }
                // While a build runs, wake up to notice its end; else sleep until an event.
                let message = match &running {
                    Some(_) => rx.recv_timeout(POLL),
                    None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                };
                match message {
                    Ok(Message::Event(Ok(event))) if relevant(&event) => {}
                    Ok(Message::Event(Ok(_))) | Err(RecvTimeoutError::Timeout) => continue,
                    Ok(Message::Event(Err(e))) => {
                        eprintln!("warning: watching for changes: {e}");
                        continue;
                    }
                    Ok(Message::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                }
                loop {
                    match rx.recv_timeout(DEBOUNCE) {
                        Ok(Message::Event(_)) => continue,
                        Err(RecvTimeoutError::Timeout) => break,
                        Ok(Message::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
                // A build that ended during the quiet time still counts (its site is
                // swapped in); one still running is stale now.
                let mut cancelled = false;
                if let Some(mut build) = running.take() {
                    match build.try_finish() {
                        Some(outcome) => report(outcome, build.started, &on_success),
                        None => {
                            build.cancel();
                            cancelled = true;
                        }
                    }
                }
                if cancelled {
                    eprintln!("change detected, cancelled the running build; rebuilding…");
                } else {
                    eprintln!("change detected, rebuilding…");
                }
                match rebuilder.start() {
                    Ok(build) => running = Some(build),
                    Err(e) => eprintln!(
                        "error: cannot start the build ({}): {e}\n(still serving the previous site)",
                        rebuilder.exe.display()
                    ),
                }
            }
        })
        .map_err(|e| Error::msg(format!("cannot start the watcher thread: {e}")))?;
    Ok(Watching {
        watcher: Some(watcher),
        stop: tx,
        thread: Some(thread),
    })
}

/// What the watching thread receives: file events, and the order to stop.
enum Message {
    Event(notify::Result<notify::Event>),
    Stop,
}

/// The watcher and its thread. Dropping it stops both and kills a build still running,
/// waiting for that (a few milliseconds), so no build outlives the server.
pub(crate) struct Watching {
    watcher: Option<notify::RecommendedWatcher>,
    stop: mpsc::Sender<Message>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Watching {
    fn drop(&mut self) {
        self.watcher.take();
        let _ = self.stop.send(Message::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Prints how a rebuild ended, and tells the pages when it worked.
fn report(outcome: Outcome, started: Instant, on_success: &impl Fn()) {
    match outcome {
        Outcome::Built(report) if report.is_empty() => {
            eprintln!("rebuilt in {:.2?}", started.elapsed());
            on_success();
        }
        Outcome::Built(report) => {
            eprintln!("rebuilt in {:.2?}: {report}", started.elapsed());
            on_success();
        }
        // The build printed its error; say what that means here.
        Outcome::Failed(status) => {
            if status.code().is_none() {
                eprintln!("error: the build was stopped ({status})");
            }
            eprintln!("(still serving the previous site; save a fix to rebuild)");
        }
    }
}

/// Whether `path` is inside `content` under a hidden name (`.git/`, `.DS_Store`, bake's
/// own `.bake-staging-*` when the output folder is in `content`): the build skips those,
/// and a build's own staging writes must not cancel it.
fn hidden_in(path: &Path, content: &Path) -> bool {
    path.strip_prefix(content).is_ok_and(|rel| {
        rel.components()
            .any(|c| c.as_os_str().to_string_lossy().starts_with('.'))
    })
}

/// Backup and swap files editors write next to the real ones.
fn editor_junk(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.ends_with('~')
        || name.starts_with(".#")
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name == "4913"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injects_before_body_end_or_at_end() {
        let out = inject(b"<html><body><p>x</p></BODY></html>");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("<html><body><p>x</p>{TAG}</BODY></html>")
        );
        let out = inject(b"<p>minified");
        assert_eq!(String::from_utf8(out).unwrap(), format!("<p>minified{TAG}"));
    }

    #[test]
    fn ignores_editor_junk() {
        assert!(editor_junk(Path::new("/c/a.md~")));
        assert!(editor_junk(Path::new("/c/.a.md.swp")));
        assert!(!editor_junk(Path::new("/c/a.md")));
    }

    #[test]
    fn ignores_hidden_names_in_content() {
        let content = Path::new("/site/content");
        assert!(hidden_in(Path::new("/site/content/.git/index"), content));
        assert!(hidden_in(
            Path::new("/site/content/.bake-staging-1-x/a.html"),
            content
        ));
        assert!(hidden_in(
            Path::new("/site/content/docs/.bake-work-7-y"),
            content
        ));
        assert!(!hidden_in(Path::new("/site/content/docs/a.md"), content));
        assert!(!hidden_in(Path::new("/site/content/a.b.md"), content));
        // Only below the content folder: a hidden folder above it is fine.
        let content = Path::new("/home/u/.sites/blog/content");
        assert!(!hidden_in(
            Path::new("/home/u/.sites/blog/content/a.md"),
            content
        ));
    }

    async fn next(body: &mut Body) -> Option<String> {
        use axum::body::HttpBody;
        let frame = std::future::poll_fn(|cx| std::pin::Pin::new(&mut *body).poll_frame(cx));
        let frame = tokio::time::timeout(Duration::from_secs(5), frame)
            .await
            .expect("an event in time")?;
        let data = frame.unwrap().into_data().unwrap();
        Some(String::from_utf8(data.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn event_stream_sends_generation_and_changes() {
        let (gen_tx, gen_rx) = watch::channel(7u64);
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut body = events(gen_rx, stop_rx).into_body();
        assert_eq!(next(&mut body).await.unwrap(), "retry: 1000\ndata: 7\n\n");
        gen_tx.send_modify(|g| *g += 1);
        assert_eq!(next(&mut body).await.unwrap(), "data: 8\n\n");
        stop_tx.send_replace(true);
        assert_eq!(
            next(&mut body).await,
            None,
            "the stream ends when the server stops"
        );
    }
}
