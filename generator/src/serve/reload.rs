//! Live reload: the script injected into pages, the event stream it listens to, and the
//! watcher that rebuilds the site when its sources change.
//!
//! The script is a file (`/__bake/livereload.js`), not inline code, so a page's
//! `Content-Security-Policy: script-src 'self'` still holds while previewing. It opens an
//! EventSource on `/__bake/events`; the server sends the build generation on connect and
//! after each successful rebuild, and the page reloads once it differs from the first one
//! it saw. When a rebuild fails, the server sends its error (`event: build-error`, also on
//! connect while the last build has failed) and the page shows it over itself, as Zola and
//! Vite do, until the fix is saved and the page reloads.

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

const SCRIPT: &str = r#"// bake serve: reloads this page when the site is rebuilt, and shows a failed
// rebuild's error over it.
(() => {
  let first = null;
  const events = new EventSource("/__bake/events");
  events.onmessage = (e) => {
    if (first === null) first = e.data;
    else if (e.data !== first) location.reload();
  };
  // Styles through the CSSOM, which a Content-Security-Policy without 'unsafe-inline'
  // still allows; the page's own stylesheet cannot reach into the shadow root.
  const show = (text) => {
    document.getElementById("bake-build-error")?.remove();
    const host = document.createElement("div");
    host.id = "bake-build-error";
    const root = host.attachShadow({ mode: "open" });
    const box = document.createElement("section");
    box.setAttribute("role", "alertdialog");
    box.setAttribute("aria-labelledby", "title");
    box.style.cssText = "position:fixed;inset:auto 1rem 1rem 1rem;max-height:70vh;overflow:auto;z-index:2147483647;" +
      "background:#1e1e1e;color:#f5f5f5;border:2px solid #e5484d;border-radius:8px;padding:1rem 1.25rem;" +
      "font:14px/1.45 system-ui,sans-serif;box-shadow:0 8px 30px rgba(0,0,0,.45)";
    const title = document.createElement("h2");
    title.id = "title";
    title.textContent = "bake serve: the last build failed";
    title.style.cssText = "margin:0 0 .25rem;font-size:16px;color:#ff8589";
    const note = document.createElement("p");
    note.textContent = "This page is from the build before. Save a fix and it reloads.";
    note.style.cssText = "margin:0 0 .75rem";
    const pre = document.createElement("pre");
    pre.textContent = text;
    pre.style.cssText = "margin:0;white-space:pre-wrap;font:13px/1.45 ui-monospace,monospace";
    const close = document.createElement("button");
    close.type = "button";
    close.textContent = "Close";
    close.style.cssText = "float:right;font:inherit;padding:.3rem .8rem;min-height:32px;cursor:pointer";
    close.onclick = () => host.remove();
    box.addEventListener("keydown", (e) => { if (e.key === "Escape") host.remove(); });
    box.append(close, title, note, pre);
    root.append(box);
    document.body.append(host);
    close.focus({ preventScroll: true });
  };
  events.addEventListener("build-error", (e) => show(JSON.parse(e.data)));
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

/// Where the rebuilds stand, as the pages are told.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct BuildState {
    /// 0 at start, +1 per successful rebuild (or [`reload`](super::ServerHandle::reload)).
    pub generation: u64,
    /// The error of the last build if it failed (what it printed), until one succeeds.
    pub failure: Option<String>,
    /// +1 per failed build: a page that closed the error hears of the next failure, even
    /// one that printed the same.
    pub failures: u64,
}

/// The event of a failure: its text as one JSON string, since an event's data cannot hold
/// a line break.
fn failure_event(text: &str) -> String {
    let json = serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_string());
    format!("event: build-error\ndata: {json}\n\n")
}

/// The server-sent event stream: `data: GENERATION` on connect and after each rebuild,
/// `event: build-error` with the error on connect while the last build has failed and
/// after each failed one, until the page goes away or the server stops.
pub(crate) fn events(
    state: watch::Receiver<BuildState>,
    shutdown: watch::Receiver<bool>,
) -> Response<Body> {
    let stream = futures_util::stream::unfold(
        (state, shutdown, None::<BuildState>),
        |(mut state, mut shutdown, sent)| async move {
            let chunk;
            let now;
            match sent {
                None => {
                    now = state.borrow_and_update().clone();
                    let mut first = format!("retry: 1000\ndata: {}\n\n", now.generation);
                    if let Some(text) = &now.failure {
                        first.push_str(&failure_event(text));
                    }
                    chunk = first;
                }
                Some(sent) => {
                    tokio::select! {
                        changed = state.changed() => {
                            changed.ok()?;
                            now = state.borrow_and_update().clone();
                            let mut next = String::new();
                            if now.generation != sent.generation {
                                next = format!("data: {}\n\n", now.generation);
                            } else if let Some(text) = now.failure.as_ref().filter(|_| now.failures != sent.failures) {
                                next = failure_event(text);
                            }
                            // Nothing a page acts on changed: a comment keeps the stream's shape.
                            chunk = if next.is_empty() { ": state\n\n".to_string() } else { next };
                        }
                        _ = shutdown.wait_for(|stop| *stop) => return None,
                        _ = tokio::time::sleep(PING) => {
                            now = sent;
                            chunk = ": ping\n\n".to_string();
                        }
                    }
                }
            }
            Some((Ok::<_, Infallible>(chunk), (state, shutdown, Some(now))))
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
/// each burst of changes, starts a rebuild with `rebuilder` and updates `state` once it
/// has ended (a new generation, or the failure). A change while a build runs cancels that build and starts a new one, so a
/// build that never ends (a canned query looping) is replaced as soon as the fix is saved.
/// A failed build is printed and the previous site stays served (the build swaps the
/// output folder only when it is complete). Changes inside `served` are ignored, so an
/// output folder inside the content folder cannot trigger endless rebuilds.
/// Dropping the returned [`Watching`] stops the watching thread and any build it runs.
pub(crate) fn watch(
    config: &Config,
    served: &Path,
    rebuilder: Rebuilder,
    state: watch::Sender<BuildState>,
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
                    report(outcome, build.started, &state);
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
                        Some(outcome) => report(outcome, build.started, &state),
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

/// Prints how a rebuild ended, and tells the pages: reload when it worked, its error when
/// it failed.
fn report(outcome: Outcome, started: Instant, state: &watch::Sender<BuildState>) {
    match outcome {
        Outcome::Built(report) => {
            if report.is_empty() {
                eprintln!("rebuilt in {:.2?}", started.elapsed());
            } else {
                eprintln!("rebuilt in {:.2?}: {report}", started.elapsed());
            }
            state.send_modify(|s| {
                s.generation += 1;
                s.failure = None;
            });
        }
        // The build printed its error; say what that means here.
        Outcome::Failed(status, printed) => {
            let mut text = printed;
            if status.code().is_none() {
                let stopped = format!("error: the build was stopped ({status})");
                eprintln!("{stopped}");
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(&stopped);
            }
            if text.is_empty() {
                text = format!("the build failed ({status}) and printed nothing");
            }
            eprintln!("(still serving the previous site; save a fix to rebuild)");
            state.send_modify(|s| {
                s.failure = Some(text);
                s.failures += 1;
            });
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
        let (gen_tx, gen_rx) = watch::channel(BuildState {
            generation: 7,
            ..Default::default()
        });
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut body = events(gen_rx, stop_rx).into_body();
        assert_eq!(next(&mut body).await.unwrap(), "retry: 1000\ndata: 7\n\n");
        gen_tx.send_modify(|s| s.generation += 1);
        assert_eq!(next(&mut body).await.unwrap(), "data: 8\n\n");
        // A failed build: its error, one JSON string however many lines it has.
        let fail = |s: &mut BuildState| {
            s.failure = Some("error: a.md:3: \"x\"\nhint: y".into());
            s.failures += 1;
        };
        gen_tx.send_modify(fail);
        let event = "event: build-error\ndata: \"error: a.md:3: \\\"x\\\"\\nhint: y\"\n\n";
        assert_eq!(next(&mut body).await.unwrap(), event);
        // The next failure is told too, though it printed the same.
        gen_tx.send_modify(fail);
        assert_eq!(next(&mut body).await.unwrap(), event);
        // A page opened now hears of the failure as it connects.
        let (_tx, late_rx) = watch::channel(gen_tx.borrow().clone());
        let mut late = events(late_rx, stop_tx.subscribe()).into_body();
        assert!(
            next(&mut late)
                .await
                .unwrap()
                .starts_with("retry: 1000\ndata: 8\n\nevent: build-error\ndata: \"error: a.md:3")
        );
        // The fix: a new generation, and the failure is gone.
        gen_tx.send_modify(|s| {
            s.generation += 1;
            s.failure = None;
        });
        assert_eq!(next(&mut body).await.unwrap(), "data: 9\n\n");
        stop_tx.send_replace(true);
        assert_eq!(
            next(&mut body).await,
            None,
            "the stream ends when the server stops"
        );
    }
}
