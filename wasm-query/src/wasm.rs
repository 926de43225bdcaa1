//! The browser entry point (wasm32 only): the fetcher and the `Bake` object the Worker
//! script drives. Reads go to `globalThis.bakeFetch`, defined by the Worker script
//! (bake-worker.js): it answers from the device store (OPFS) when the bytes are there, else
//! with synchronous XHR (`responseType = "arraybuffer"` works in a dedicated Worker, never
//! on a page's main thread), which lets SQLite's and tantivy's synchronous reads fetch byte
//! ranges directly, and keeps what came back for the next visit.

use std::cell::{Cell, RefCell};

use serde::Serialize;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use crate::engine::{Budget, Engine, EngineConfig, Progress, SharedEngine, Stats, shared};
use crate::fetch::{Fetch, NetworkError, Request, Response};
use crate::manifest::Manifest;
use crate::search::{SearchOptions, SearchSession};

#[wasm_bindgen]
extern "C" {
    /// `globalThis.bakeFetch(url, offset, length)` (offset and length -1 for the whole
    /// part) → `{status, contentRange, contentEncoding, etag, body: Uint8Array, offline}`;
    /// status 0 is no answer, and `offline` says the Worker knows there is no network (so
    /// the engine's retries need not wait). `catch`: a JS exception becomes an error here
    /// and never skips Rust's cleanup.
    #[wasm_bindgen(catch, js_namespace = globalThis, js_name = bakeFetch)]
    fn bake_fetch(url: &str, offset: f64, length: f64) -> Result<JsValue, JsValue>;
}

/// Fetches through the Worker script's `bakeFetch` (device store, then synchronous XHR).
struct JsFetch {
    /// Prefix for part URLs (the site's origin, or empty for same-origin paths).
    base: String,
    /// The last request found no network: the backoff before a retry is skipped.
    offline: Cell<bool>,
}

impl Fetch for JsFetch {
    fn fetch(&self, req: &Request) -> Result<Response, NetworkError> {
        let url = format!("{}{}", self.base, req.url);
        let (offset, length) = match req.range {
            Some(r) => (r.offset as f64, r.length as f64),
            None => (-1.0, -1.0),
        };
        let answer = bake_fetch(&url, offset, length)
            .map_err(|e| NetworkError(format!("the request failed: {}", js_text(&e))))?;
        let field = |name: &str| js_sys::Reflect::get(&answer, &name.into()).ok();
        let text = |name: &str| field(name).and_then(|v| v.as_string());
        let status = field("status").and_then(|v| v.as_f64()).unwrap_or(0.0) as u16;
        self.offline
            .set(field("offline").is_some_and(|v| v.is_truthy()));
        if status == 0 {
            let why = text("error").unwrap_or_else(|| {
                "the request did not complete (offline, blocked or reset)".into()
            });
            return Err(NetworkError(why));
        }
        let body = match field("body").map(|b| b.dyn_into::<js_sys::Uint8Array>()) {
            Some(Ok(bytes)) => bytes.to_vec(),
            _ => Vec::new(),
        };
        Ok(Response {
            status,
            content_range: text("contentRange"),
            content_encoding: text("contentEncoding"),
            etag: text("etag"),
            body,
        })
    }

    fn sleep_ms(&self, ms: u32) {
        if self.offline.get() {
            // No network: waiting cannot help, and the query should fail at once.
            return;
        }
        // A Worker blocked in synchronous work cannot await a timer; backoffs are short.
        let until = js_sys::Date::now() + ms as f64;
        while js_sys::Date::now() < until {}
    }
}

thread_local! {
    /// The engine the panic hook checks for corrupted parts (set by `Bake::new`).
    static PANIC_ENGINE: RefCell<Option<SharedEngine>> = const { RefCell::new(None) };
}

/// Runs on a panic, which aborts in the browser: tantivy (or SQLite's caller) may panic on
/// bytes that make no sense. Checks the parts read so far against their hashes and leaves a
/// message for the Worker in `globalThis.bakeFailure`: the part the host served wrong if
/// one is found, else the panic itself.
fn panic_hook(info: &std::panic::PanicHookInfo<'_>) {
    let corrupt = PANIC_ENGINE.with(|slot| {
        let slot = slot.try_borrow().ok()?;
        // Not if the panic came while the engine was locked: its state may be half-updated.
        let mut engine = slot.as_ref()?.try_lock().ok()?;
        engine.verify_all().err()
    });
    let message = match corrupt {
        Some(e) => e.to_string(),
        None => format!("the query engine failed ({info})"),
    };
    let _ = js_sys::Reflect::set(&js_sys::global(), &"bakeFailure".into(), &message.into());
}

fn js_text(v: &JsValue) -> String {
    v.as_string()
        .or_else(|| {
            v.dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
        })
        .unwrap_or_else(|| format!("{v:?}"))
}

#[wasm_bindgen]
extern "C" {
    /// `globalThis.bakeProgress(requests, bytes, expected)`, defined by the Worker script,
    /// which posts it to the page; `catch`, so a missing function is no more than an error.
    #[wasm_bindgen(catch, js_namespace = globalThis, js_name = bakeProgress)]
    fn bake_progress(requests: f64, bytes: f64, expected: f64) -> Result<(), JsValue>;
}

/// Hands the engine's progress to the Worker script (`expected` is -1 when unknown).
fn report_progress(p: Progress) {
    let expected = p.expected_bytes.map_or(-1.0, |b| b as f64);
    let _ = bake_progress(p.requests as f64, p.bytes as f64, expected);
}

/// One Worker's engine and sessions.
#[wasm_bindgen]
pub struct Bake {
    engine: SharedEngine,
    manifest: Manifest,
    search: Option<SearchSession>,
    #[cfg(feature = "sql")]
    sql: Option<crate::sql::SqlSession>,
}

#[derive(Serialize)]
struct Answer<T: Serialize> {
    result: T,
    stats: Stats,
}

fn to_js(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// A JS `Error` with a `kind` property (`"budget"`, `"time"`, `"size"`, `"error"`) that the
/// Worker passes on to the page's `BakeError`.
#[cfg(feature = "sql")]
fn to_js_kind(e: crate::sql::QueryError) -> JsValue {
    let error = js_sys::Error::new(&e.message);
    // Setting a property on a fresh Error cannot fail; if it did, the kind would be "error".
    let _ = js_sys::Reflect::set(&error, &"kind".into(), &e.kind.as_str().into());
    error.into()
}

#[wasm_bindgen]
impl Bake {
    /// Opens a site from its manifest text; `base` prefixes part URLs ("" for same origin).
    #[wasm_bindgen(constructor)]
    pub fn new(manifest_json: &str, base: &str, cache_mib: u32) -> Result<Bake, JsError> {
        let manifest = Manifest::from_json(manifest_json).map_err(to_js)?;
        let config = EngineConfig {
            cache_bytes: cache_mib.max(4) as u64 * 1024 * 1024,
            ..EngineConfig::default()
        };
        let fetch: Box<dyn Fetch + Send> = Box::new(JsFetch {
            base: base.to_string(),
            offline: Cell::new(false),
        });
        let mut engine = Engine::new(fetch, &manifest, config);
        engine.set_progress(Some(Box::new(report_progress)));
        let engine = shared(engine);
        PANIC_ENGINE.with(|slot| *slot.borrow_mut() = Some(engine.clone()));
        std::panic::set_hook(Box::new(panic_hook));
        Ok(Bake {
            engine,
            manifest,
            search: None,
            #[cfg(feature = "sql")]
            sql: None,
        })
    }

    /// Files a whole part the Worker fetched (a hot sidecar, in parallel with compiling the
    /// wasm) into the cache, checked against its length and hash; false if refused, and the
    /// engine fetches it itself when needed.
    pub fn accept_part(&self, file: &str, index: u32, bytes: &[u8]) -> bool {
        self.engine
            .lock()
            .expect("engine lock")
            .accept_part(file, index as usize, bytes)
    }

    /// Whether this module can run SQL.
    pub fn has_sql(&self) -> bool {
        cfg!(feature = "sql")
    }

    /// Starts a query with its byte and request budgets (0: none).
    fn begin(&self, budget: f64, max_requests: f64) {
        self.engine
            .lock()
            .expect("engine lock")
            .begin_query_with(Budget {
                bytes: (budget > 0.0).then_some(budget as u64),
                requests: (max_requests > 0.0).then_some(max_requests as u64),
            });
    }

    fn answer<T: Serialize>(&self, result: T) -> Result<String, JsError> {
        let stats = self.engine.lock().expect("engine lock").query_stats();
        serde_json::to_string(&Answer { result, stats }).map_err(to_js)
    }

    /// Searches; `options_json` is a [`SearchOptions`] object. Returns `{result, stats}` JSON.
    pub fn search(
        &mut self,
        query: &str,
        options_json: &str,
        budget: f64,
        max_requests: f64,
    ) -> Result<String, JsError> {
        self.begin(budget, max_requests);
        let opts: SearchOptions = serde_json::from_str(options_json).map_err(to_js)?;
        if self.search.is_none() {
            self.search =
                Some(SearchSession::open(self.engine.clone(), &self.manifest).map_err(to_js)?);
        }
        let results = self
            .search
            .as_ref()
            .expect("opened above")
            .search(query, &opts)
            .map_err(to_js)?;
        self.answer(results)
    }

    /// Runs one SQL statement with `db` as main and the others attached. Returns `{result, stats}`.
    /// `budget` and `max_requests` stop it past so many bytes or requests (0: no limit);
    /// `time_limit_ms` and `max_bytes` are the query's [`Limits`](crate::sql::Limits) (0 for
    /// the defaults); a failure is an `Error` with a `kind` (see `to_js_kind`).
    #[cfg(feature = "sql")]
    #[allow(clippy::too_many_arguments)]
    pub fn sql(
        &mut self,
        db: &str,
        sql: &str,
        params_json: &str,
        max_rows: u32,
        budget: f64,
        max_requests: f64,
        time_limit_ms: f64,
        max_bytes: f64,
    ) -> Result<String, JsValue> {
        self.begin(budget, max_requests);
        let params: serde_json::Value =
            serde_json::from_str(params_json).map_err(|e| JsValue::from(to_js(e)))?;
        if self.sql.is_none() {
            self.sql = Some(
                crate::sql::SqlSession::open(self.engine.clone(), &self.manifest)
                    .map_err(|e| JsValue::from(to_js(e)))?,
            );
        }
        let session = self.sql.as_mut().expect("opened above");
        let defaults = crate::sql::Limits::default();
        session.set_limits(crate::sql::Limits {
            time_ms: if time_limit_ms > 0.0 {
                time_limit_ms as u64
            } else {
                defaults.time_ms
            },
            max_bytes: if max_bytes > 0.0 {
                max_bytes as u64
            } else {
                defaults.max_bytes
            },
        });
        let result = session
            .query(db, sql, &params, max_rows as usize)
            .map_err(to_js_kind)?;
        self.answer(result).map_err(JsValue::from)
    }
}
