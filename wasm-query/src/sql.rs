//! SQL over the range engine: a read-only SQLite VFS and the [`SqlSession`] the Worker calls.
//!
//! # The VFS
//! Each [`SqlSession`] registers one SQLite VFS, named `bake-<n>` (see
//! [`SqlSession::vfs_name`]; a VFS name must be unique in the process and each VFS owns its
//! engine, so the name carries a counter). Its files are the manifest's logical file names
//! (e.g. `nyc.sqlite`), and every byte comes from [`Engine::read`](crate::engine::Engine::read),
//! so SQLite shares the ONE block cache of the Worker with the search index.
//! - `xOpen` opens only the main database files listed in the manifest, read-only; journals,
//!   WAL, temp files and unknown names get `SQLITE_CANTOPEN` (connections use
//!   `PRAGMA temp_store=MEMORY`, so sorting never needs a temp file).
//! - `xRead` reads through the engine; a read past the end is zero-filled and answers
//!   `SQLITE_IOERR_SHORT_READ`. An [`EngineError`] answers `SQLITE_IOERR_READ` and is kept in
//!   the session; until the next [`SqlSession::query`] every later read fails at once (SQLite
//!   may retry or read on after an I/O error in some paths) and the progress handler stops
//!   the statement. The query then fails with the engine's own words (budget exceeded with the
//!   bytes fetched, host file changed, compressed answer…) instead of "disk I/O error".
//! - Writes and truncation answer `SQLITE_READONLY`; sync and locks succeed and do nothing;
//!   the device is `SQLITE_IOCAP_IMMUTABLE`; `xAccess` says a file exists iff it is a
//!   database of the manifest; randomness, sleep and the clock come from the default VFS.
//!
//! # Lifetime
//! The VFS (the `sqlite3_vfs` struct, its name and its state, which holds a clone of the
//! [`SharedEngine`]) is owned by the session: registered in [`SqlSession::open`],
//! unregistered and freed when the session is dropped, after its connections are closed.
//! Nothing is leaked; a session is not `Send` (SQLite calls back into its state through raw
//! pointers), which suits the single-threaded Worker.
//!
//! # Read-only, three ways
//! Files are opened read-only through a VFS that cannot write, with `immutable=1`, and every
//! connection runs with `PRAGMA query_only=1`. On top, an authorizer (plain
//! `sqlite3_set_authorizer`, no extra rusqlite feature) refuses what those do not cover:
//! `ATTACH`/`DETACH` (which could otherwise open other files through other VFSes) and pragmas
//! that change settings (`query_only`, `writable_schema`, `temp_store`, …); and a statement
//! that SQLite does not call read-only (`sqlite3_stmt_readonly`) is refused before it runs,
//! with a message a person understands.
//!
//! # Limits
//! Besides the engine's byte budget, every query has [`Limits`] (see
//! [`SqlSession::set_limits`]): a wall-clock time limit, checked by the progress handler every
//! ~1000 VM steps (so it stops CPU-bound queries, such as an endless recursive CTE, and slow
//! ones alike), and a size limit on the answer: no single string or blob may be larger
//! (`SQLITE_LIMIT_LENGTH`, so `randomblob(3e8)` fails before allocating), and the JSON of the
//! rows may not grow past it either. Each ends the query with a [`QueryError`] whose
//! [`ErrorKind`] says which limit it was, so the page can offer to run it again with more.
//!
//! # Corruption
//! When SQLite reports a malformed database, the parts read so far are checked against the
//! hashes in their URLs ([`Engine::verify`](crate::engine::Engine::verify)): if one does not
//! match, the error names it and blames the host (a corrupted or stale copy) instead.
//!
//! # Values
//! Results map to JSON as follows:
//!
//! | SQLite  | JSON |
//! |---|---|
//! | NULL    | `null` |
//! | INTEGER | a number if \|i\| ≤ 2^53 (exact in JavaScript), else a string of its digits |
//! | REAL    | a number; NaN and ±Infinity become `null` |
//! | TEXT    | a string (invalid UTF-8 is replaced by U+FFFD) |
//! | BLOB    | `{"blob": "<standard base64 with padding>"}` |
//!
//! Parameters map back the same way: `null` → NULL, `true`/`false` → 1/0, a number → INTEGER
//! if it is a whole number that fits in 64 bits, else REAL, a string → TEXT,
//! `{"blob": "<base64>"}` → BLOB; other arrays and objects are refused.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;
use std::sync::PoisonError;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::ffi;
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, OpenFlags, Statement};
use serde::Serialize;

use crate::engine::{EngineError, SharedEngine};
use crate::manifest::Manifest;

/// What stopped a query, so a page can offer the right remedy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The byte budget: run it again with a higher budget.
    Budget,
    /// The request budget: run it again with a higher one.
    Requests,
    /// The time limit: run it again with a longer one.
    Time,
    /// The size limit of a value or of the answer: ask for less, or raise the limit.
    Size,
    /// Anything else (the message says what to do).
    Error,
}

impl ErrorKind {
    /// `"budget"`, `"requests"`, `"time"`, `"size"` or `"error"` (the `kind` of a
    /// `BakeError` in JS).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Budget => "budget",
            ErrorKind::Requests => "requests",
            ErrorKind::Time => "time",
            ErrorKind::Size => "size",
            ErrorKind::Error => "error",
        }
    }
}

/// Why a query failed: its kind and a sentence saying what went wrong and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    /// Which limit or fault.
    pub kind: ErrorKind,
    /// The sentence shown to the visitor.
    pub message: String,
}

impl QueryError {
    fn new(kind: ErrorKind, message: impl Into<String>) -> QueryError {
        QueryError {
            kind,
            message: message.into(),
        }
    }
}

impl From<String> for QueryError {
    fn from(message: String) -> QueryError {
        QueryError::new(ErrorKind::Error, message)
    }
}

/// Bytes a query will read when its plan is only full scans (`SCAN` of tables or indexes):
/// the sizes of those B-trees, for the progress bar. `None` when a step searches (its share
/// of a tree is unknown), has parameters, or names a tree the manifest does not place.
fn plan_bytes(conn: &Connection, sql: &str, file: &str, engine: &SharedEngine) -> Option<u64> {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).ok()?;
    let details: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(3))
        .ok()?
        .collect::<rusqlite::Result<_>>()
        .ok()?;
    let engine = engine.lock().unwrap_or_else(PoisonError::into_inner);
    let mut total = 0u64;
    let mut scans = 0;
    for detail in &details {
        if detail.starts_with("SEARCH") {
            return None;
        }
        let Some(rest) = detail.strip_prefix("SCAN ") else {
            continue;
        };
        if rest.starts_with("CONSTANT ROW") {
            continue;
        }
        let table = rest.split(' ').next()?;
        let index = |marker: &str| {
            rest.split_once(marker)
                .map(|(_, i)| i.split(' ').next().unwrap_or(""))
        };
        total += if let Some(i) = index("USING COVERING INDEX ") {
            engine.tree_bytes(file, i)?
        } else if let Some(i) = index("USING INDEX ") {
            engine.tree_bytes(file, i)? + engine.tree_bytes(file, table)?
        } else {
            engine.tree_bytes(file, table)?
        };
        scans += 1;
    }
    (scans > 0).then_some(total)
}

impl From<&str> for QueryError {
    fn from(message: &str) -> QueryError {
        QueryError::new(ErrorKind::Error, message)
    }
}

impl From<EngineError> for QueryError {
    fn from(e: EngineError) -> QueryError {
        let kind = match e {
            EngineError::Budget { .. } => ErrorKind::Budget,
            EngineError::RequestBudget { .. } => ErrorKind::Requests,
            _ => ErrorKind::Error,
        };
        QueryError::new(kind, e.to_string())
    }
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for QueryError {}

/// Limits of every query besides the engine's byte budget (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most milliseconds a query may run; 0 for no limit.
    pub time_ms: u64,
    /// Most bytes of one string or blob, and of the JSON of the rows.
    pub max_bytes: u64,
}

/// Default time limit of a query: 30 s.
pub const DEFAULT_TIME_MS: u64 = 30_000;

/// Default size limit of a query's answer: 64 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 64 * 1024 * 1024;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            time_ms: DEFAULT_TIME_MS,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

/// The answer of one query.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct QueryResult {
    /// Column names, in order (duplicates kept as SQLite names them).
    pub columns: Vec<String>,
    /// Rows, at most `max_rows`; values mapped as described in the [module docs](self).
    pub rows: Vec<Vec<serde_json::Value>>,
    /// True if the query had more rows than `max_rows`.
    pub truncated: bool,
}

/// SQLite's own page cache, in KiB per schema per connection (set as a negative
/// `cache_size`). Small is fine: the engine's block cache holds the bytes anyway, so this
/// cache only saves a copy; the wasm build of SQLite would otherwise take up to 16 MiB per
/// schema, and every connection has every database attached.
const SQLITE_CACHE_KIB: u32 = 1024;

/// SQLite VM steps between two calls of the progress handler.
const PROGRESS_STEPS: c_int = 1000;

/// Pragmas that may be given an argument because they only read (`PRAGMA table_info(t)`).
const READ_PRAGMAS_WITH_ARGUMENT: &[&str] = &[
    "foreign_key_check",
    "foreign_key_list",
    "index_info",
    "index_list",
    "index_xinfo",
    "integrity_check",
    "quick_check",
    "table_info",
    "table_list",
    "table_xinfo",
];

/// Counter for unique VFS names.
static NEXT_VFS: AtomicU64 = AtomicU64::new(1);

/// What SQLite's callbacks (VFS, authorizer, progress handler) reach through their `void *`.
struct VfsState {
    engine: SharedEngine,
    /// Logical files that may be opened: the files of the manifest's databases.
    files: HashSet<String>,
    /// The first engine error of the current query; sticky until the next query starts.
    error: RefCell<Option<EngineError>>,
    /// Why the authorizer refused the last statement.
    denied: RefCell<Option<String>>,
    /// Asked by the progress handler whether to stop (see [`SqlSession::set_interrupt`]).
    interrupt: Cell<Option<Box<dyn FnMut() -> bool>>>,
    /// Set when the interrupt callback stopped the query.
    interrupted: Cell<bool>,
    /// When the running query must stop, in ms of the default VFS's clock.
    deadline_ms: Cell<Option<i64>>,
    /// Set when the deadline stopped the query.
    timed_out: Cell<bool>,
}

impl VfsState {
    fn has_error(&self) -> bool {
        self.error.borrow().is_some()
    }

    fn keep_error(&self, e: EngineError) {
        let mut slot = self.error.borrow_mut();
        if slot.is_none() {
            *slot = Some(e);
        }
    }
}

/// One open file of the VFS. SQLite allocates `szOsFile` bytes and hands them to `xOpen`.
#[repr(C)]
struct BakeFile {
    base: ffi::sqlite3_file,
    state: *const VfsState,
    /// The logical file name (a `Box<String>`, freed in `xClose`).
    name: *mut String,
}

/// Connections by database name, all over one VFS that reads through one engine.
pub struct SqlSession {
    /// Open connections by database name; closed before the VFS goes away (see `Drop`).
    connections: HashMap<String, Connection>,
    /// Database name → logical file name.
    databases: BTreeMap<String, String>,
    vfs_name: String,
    /// Keeps the C string `vfs.zName` points at alive.
    _vfs_cname: CString,
    vfs: *mut ffi::sqlite3_vfs,
    state: *mut VfsState,
    limits: Limits,
}

impl SqlSession {
    /// Registers a VFS over `engine` for the databases of `manifest`. Connections are opened
    /// lazily, by the first [`SqlSession::query`] on each database, and kept.
    pub fn open(engine: SharedEngine, manifest: &Manifest) -> Result<SqlSession, String> {
        let mut databases = BTreeMap::new();
        for (name, db) in &manifest.databases {
            if !manifest.files.contains_key(&db.file) {
                return Err(format!(
                    "database {name}: its file {} is not in the manifest",
                    db.file
                ));
            }
            databases.insert(name.clone(), db.file.clone());
        }
        let state = Box::into_raw(Box::new(VfsState {
            engine,
            files: databases.values().cloned().collect(),
            error: RefCell::new(None),
            denied: RefCell::new(None),
            interrupt: Cell::new(None),
            interrupted: Cell::new(false),
            deadline_ms: Cell::new(None),
            timed_out: Cell::new(false),
        }));
        let vfs_name = format!("bake-{}", NEXT_VFS.fetch_add(1, Ordering::Relaxed));
        let vfs_cname = CString::new(vfs_name.clone()).expect("no NUL in the name");
        let vfs = Box::into_raw(Box::new(ffi::sqlite3_vfs {
            iVersion: 2,
            szOsFile: std::mem::size_of::<BakeFile>() as c_int,
            mxPathname: 512,
            pNext: ptr::null_mut(),
            zName: vfs_cname.as_ptr(),
            pAppData: state.cast(),
            xOpen: Some(x_open),
            xDelete: Some(x_delete),
            xAccess: Some(x_access),
            xFullPathname: Some(x_full_pathname),
            xDlOpen: Some(x_dl_open),
            xDlError: Some(x_dl_error),
            xDlSym: Some(x_dl_sym),
            xDlClose: Some(x_dl_close),
            xRandomness: Some(x_randomness),
            xSleep: Some(x_sleep),
            xCurrentTime: Some(x_current_time),
            xGetLastError: Some(x_get_last_error),
            xCurrentTimeInt64: Some(x_current_time_int64),
            xSetSystemCall: None,
            xGetSystemCall: None,
            xNextSystemCall: None,
        }));
        // SAFETY: `vfs` is a valid, fully initialised struct that outlives its registration
        // (it is unregistered in `Drop` before being freed).
        let rc = unsafe { ffi::sqlite3_vfs_register(vfs, 0) };
        if rc != ffi::SQLITE_OK {
            // SAFETY: not registered, so nothing else points at them.
            unsafe {
                drop(Box::from_raw(vfs));
                drop(Box::from_raw(state));
            }
            return Err(format!("could not register the SQLite VFS (error {rc})"));
        }
        Ok(SqlSession {
            connections: HashMap::new(),
            databases,
            vfs_name,
            _vfs_cname: vfs_cname,
            vfs,
            state,
            limits: Limits::default(),
        })
    }

    /// Sets the limits of the following queries (until set again).
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// The limits queries run with.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The name of this session's VFS (for `file:NAME?vfs=…` URIs).
    pub fn vfs_name(&self) -> &str {
        &self.vfs_name
    }

    /// Names of the databases, in order.
    pub fn databases(&self) -> impl Iterator<Item = &str> {
        self.databases.keys().map(String::as_str)
    }

    /// Installs (or with `None` removes) a callback the progress handler asks every
    /// ~1000 SQLite VM steps; when it returns true the query stops with "interrupted".
    /// Useful for a time limit on CPU-heavy queries that do no I/O.
    pub fn set_interrupt(&self, f: Option<Box<dyn FnMut() -> bool>>) {
        self.state().interrupt.set(f);
    }

    fn state(&self) -> &VfsState {
        // SAFETY: owned by the session, freed only in `Drop`.
        unsafe { &*self.state }
    }

    /// Runs `sql` with `db` as main and every other database of the manifest attached by its
    /// name (like the build-time canned queries), read-only: each file opened as
    /// `file:NAME?vfs=bake-N&immutable=1` with `SQLITE_OPEN_READ_ONLY | SQLITE_OPEN_URI`,
    /// with `PRAGMA query_only=1` and `PRAGMA temp_store=MEMORY`.
    ///
    /// `params` is a JSON array (positional `?1`, `?2`, …), an object (named `:x`, `$x`, `@x`;
    /// keys may omit the sigil) or `null`. At most `max_rows` rows are returned; `truncated`
    /// says whether there were more. Only one statement runs: trailing statements are an
    /// error. The caller sets the byte budget with `Engine::begin_query` before and reads
    /// `Engine::query_stats` after; the engine lock must not be held during the call. The
    /// [`Limits`] apply (see [`SqlSession::set_limits`]).
    pub fn query(
        &mut self,
        db: &str,
        sql: &str,
        params: &serde_json::Value,
        max_rows: usize,
    ) -> Result<QueryResult, QueryError> {
        {
            let st = self.state();
            st.error.replace(None);
            st.denied.replace(None);
            st.interrupted.set(false);
            st.timed_out.set(false);
            let limit = i64::try_from(self.limits.time_ms).unwrap_or(i64::MAX);
            st.deadline_ms
                .set((limit > 0).then(|| now_ms().saturating_add(limit)));
        }
        let result = self.run(db, sql, params, max_rows);
        if let Some(conn) = self.connections.get(db)
            && !conn.is_autocommit()
        {
            // A `BEGIN` must not outlive its query.
            let _ = conn.execute_batch("ROLLBACK");
        }
        let engine_error = self.state().error.borrow_mut().take();
        if let Some(e) = engine_error {
            // The pager may be in an error state after an I/O error: start afresh next time
            // (reopening costs no requests, the engine still has the blocks).
            self.connections.remove(db);
            return Err(e.into());
        }
        result
    }

    fn run(
        &mut self,
        db: &str,
        sql: &str,
        params: &serde_json::Value,
        max_rows: usize,
    ) -> Result<QueryResult, QueryError> {
        if !self.connections.contains_key(db) {
            let conn = self.connect(db)?;
            self.connections.insert(db.to_string(), conn);
        }
        // SAFETY: owned by the session, freed only in `Drop`.
        let state = unsafe { &*self.state };
        let conn = &self.connections[db];
        let limits = self.limits;
        let max_bytes = limits.max_bytes.max(1);
        // SAFETY: a valid handle; this only lowers (or restores) a per-connection limit.
        unsafe {
            ffi::sqlite3_limit(
                conn.handle(),
                ffi::SQLITE_LIMIT_LENGTH,
                max_bytes.min(i32::MAX as u64) as c_int,
            );
        }
        let explain = |e: rusqlite::Error| describe(state, e, limits);
        let mut stmt = conn.prepare(sql).map_err(explain)?;
        if !stmt.readonly() {
            return Err(
                "this SQL would change the database, but the data of this site is read-only: \
                 use SELECT (or WITH … SELECT, EXPLAIN, read-only PRAGMAs)"
                    .into(),
            );
        }
        bind(&mut stmt, params)?;
        let expected = plan_bytes(conn, sql, &self.databases[db], &state.engine);
        state
            .engine
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .set_expected_bytes(expected);
        let columns: Vec<String> = stmt.column_names().map(str::to_string).collect();
        let n = columns.len();
        let mut rows = Vec::new();
        let mut truncated = false;
        // Bytes of JSON the rows will take, counted before each value is converted.
        let mut size: u64 = columns.iter().map(|c| c.len() as u64 + 3).sum();
        let mut cursor = stmt.raw_query();
        while let Some(row) = cursor.next().map_err(explain)? {
            if rows.len() == max_rows {
                truncated = true;
                break;
            }
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                let value = row.get_ref(i).map_err(explain)?;
                size += json_size(value);
                if size > max_bytes {
                    return Err(QueryError::new(
                        ErrorKind::Size,
                        format!(
                            "the answer is larger than its size limit of {} after {} rows: ask for fewer rows or columns (LIMIT, or leave out big values), or run it again with a higher size limit",
                            mb(max_bytes),
                            rows.len()
                        ),
                    ));
                }
                out.push(to_json(value));
            }
            rows.push(out);
        }
        Ok(QueryResult {
            columns,
            rows,
            truncated,
        })
    }

    fn uri(&self, file: &str) -> String {
        format!(
            "file:{}?vfs={}&immutable=1",
            percent_encode(file),
            self.vfs_name
        )
    }

    /// Opens `db` read-only with every other database attached by name.
    fn connect(&self, db: &str) -> Result<Connection, QueryError> {
        let Some(file) = self.databases.get(db) else {
            let known: Vec<&str> = self.databases().collect();
            return Err(if known.is_empty() {
                format!("there is no database `{db}`: this site has no databases")
            } else {
                format!(
                    "there is no database `{db}` (databases: {})",
                    known.join(", ")
                )
            }
            .into());
        };
        let state = self.state();
        // Page 1, roots and interior pages of every database, one request each, before
        // SQLite starts walking B-trees: a lookup then needs only leaf pages.
        {
            let mut engine = state.engine.lock().unwrap_or_else(PoisonError::into_inner);
            for f in self.databases.values() {
                engine.preload_hot(f)?;
            }
        }
        let fail = |e: rusqlite::Error| describe(state, e, self.limits);
        let conn = Connection::open_with_flags(
            self.uri(file),
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(fail)?;
        let mut settings = format!(
            "PRAGMA query_only = 1; PRAGMA temp_store = MEMORY; PRAGMA main.cache_size = -{SQLITE_CACHE_KIB};"
        );
        for (name, other) in &self.databases {
            if name != db {
                conn.execute(
                    &format!("ATTACH DATABASE ?1 AS {}", quote_ident(name)),
                    [self.uri(other)],
                )
                .map_err(fail)?;
                settings.push_str(&format!(
                    " PRAGMA {}.cache_size = -{SQLITE_CACHE_KIB};",
                    quote_ident(name)
                ));
            }
        }
        conn.execute_batch(&settings).map_err(fail)?;
        // SAFETY: the handle is valid while `conn` lives; the state outlives every connection
        // (connections are closed before it is freed in `Drop`).
        unsafe {
            let handle = conn.handle();
            ffi::sqlite3_set_authorizer(handle, Some(authorize), self.state.cast());
            ffi::sqlite3_progress_handler(
                handle,
                PROGRESS_STEPS,
                Some(progress),
                self.state.cast(),
            );
        }
        Ok(conn)
    }
}

impl Drop for SqlSession {
    fn drop(&mut self) {
        // Connections first: they use the VFS and the state.
        self.connections.clear();
        // SAFETY: no connection uses the VFS any more; it was registered in `open`, and the
        // boxes were made with `Box::into_raw` there.
        unsafe {
            ffi::sqlite3_vfs_unregister(self.vfs);
            drop(Box::from_raw(self.vfs));
            drop(Box::from_raw(self.state));
        }
    }
}

/// `"64 MB"`, `"1.5 MB"`: a byte count for messages.
fn mb(bytes: u64) -> String {
    let m = bytes as f64 / (1024.0 * 1024.0);
    if m >= 10.0 || m.fract() == 0.0 {
        format!("{m:.0} MB")
    } else {
        format!("{m:.1} MB")
    }
}

/// `"30 s"`, `"0.2 s"`: a duration for messages.
fn secs(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

/// Milliseconds of the default VFS's clock (the one SQLite uses; in the browser, `Date`).
fn now_ms() -> i64 {
    let mut ms: ffi::sqlite3_int64 = 0;
    // SAFETY: a plain clock read into a local.
    unsafe { x_current_time_int64(ptr::null_mut(), &mut ms) };
    ms
}

/// Turns a rusqlite error into a [`QueryError`]; engine, authorizer and limit reasons win.
/// A corrupt database first has its parts checked against their hashes: a part the host
/// served wrong becomes the engine error (and ends the connection, see `query`).
fn describe(state: &VfsState, e: rusqlite::Error, limits: Limits) -> QueryError {
    let code = e.sqlite_error_code();
    if matches!(
        code,
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
    ) && !state.has_error()
    {
        let mut engine = state.engine.lock().unwrap_or_else(PoisonError::into_inner);
        let mut files: Vec<&String> = state.files.iter().collect();
        files.sort();
        if let Some(bad) = files.into_iter().find_map(|f| engine.verify(f).err()) {
            drop(engine);
            state.keep_error(bad);
        }
    }
    if let Some(err) = state.error.borrow().as_ref() {
        return err.clone().into();
    }
    if code == Some(rusqlite::ErrorCode::AuthorizationForStatementDenied)
        && let Some(why) = state.denied.borrow().as_ref()
    {
        return why.as_str().into();
    }
    if code == Some(rusqlite::ErrorCode::OperationInterrupted) {
        if state.timed_out.get() {
            return QueryError::new(
                ErrorKind::Time,
                format!(
                    "stopped after {}: the query ran longer than its time limit; make it do less work, or run it again with a longer time limit",
                    secs(limits.time_ms)
                ),
            );
        }
        if state.interrupted.get() {
            return "the query was interrupted".into();
        }
    }
    if code == Some(rusqlite::ErrorCode::TooBig) {
        return QueryError::new(
            ErrorKind::Size,
            format!(
                "a string or blob in this query would be larger than the size limit of {}: make it smaller, or run it again with a higher size limit",
                mb(limits.max_bytes)
            ),
        );
    }
    let message = match e {
        rusqlite::Error::MultipleStatement => {
            "one statement at a time: remove everything after the first statement's `;`".into()
        }
        rusqlite::Error::SqlInputError { msg, offset, .. } => {
            format!("{msg} (at character {})", offset + 1)
        }
        rusqlite::Error::SqliteFailure(f, msg) => {
            let msg = msg.unwrap_or_else(|| f.to_string());
            if f.code == rusqlite::ErrorCode::ReadOnly {
                format!("{msg}: the data of this site is read-only")
            } else {
                msg
            }
        }
        rusqlite::Error::Empty => "there is no SQL to run".into(),
        other => other.to_string(),
    };
    message.into()
}

/// Binds JSON parameters to `stmt`.
fn bind(stmt: &mut Statement<'_>, params: &serde_json::Value) -> Result<(), String> {
    let count = stmt.parameter_count();
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    match params {
        serde_json::Value::Null => {
            if count > 0 {
                return Err(format!(
                    "the query has {count} parameter{} but no values were given",
                    plural(count)
                ));
            }
        }
        serde_json::Value::Array(values) => {
            if values.len() != count {
                return Err(format!(
                    "the query has {count} parameter{} but {} value{} were given",
                    plural(count),
                    values.len(),
                    plural(values.len())
                ));
            }
            for (i, v) in values.iter().enumerate() {
                let value = from_json(v).map_err(|m| format!("parameter ?{}: {m}", i + 1))?;
                stmt.raw_bind_parameter(i + 1, value)
                    .map_err(|e| e.to_string())?;
            }
        }
        serde_json::Value::Object(map) => {
            let mut used = HashSet::new();
            for i in 1..=count {
                let Some(name) = stmt.parameter_name(i).map(str::to_string) else {
                    return Err(format!(
                        "parameter {i} has no name: pass the values as an array, or name it (:name)"
                    ));
                };
                let bare = &name[1..];
                let (key, v) = map
                    .get_key_value(name.as_str())
                    .or_else(|| map.get_key_value(bare))
                    .ok_or_else(|| format!("no value was given for parameter {name}"))?;
                used.insert(key.clone());
                let value = from_json(v).map_err(|m| format!("parameter {name}: {m}"))?;
                stmt.raw_bind_parameter(i, value)
                    .map_err(|e| e.to_string())?;
            }
            if let Some(extra) = map.keys().find(|k| !used.contains(*k)) {
                return Err(format!("the query has no parameter named {extra}"));
            }
        }
        _ => {
            return Err("parameters must be an array, an object or null".into());
        }
    }
    Ok(())
}

/// A JSON parameter as an SQLite value.
fn from_json(v: &serde_json::Value) -> Result<Value, String> {
    Ok(match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Integer(*b as i64),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => Value::Real(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::Text(s.clone()),
        serde_json::Value::Object(o) if o.len() == 1 && o.contains_key("blob") => {
            let Some(text) = o["blob"].as_str() else {
                return Err("a blob is {\"blob\": \"<base64>\"}".into());
            };
            Value::Blob(base64_decode(text).ok_or("the blob is not valid base64")?)
        }
        _ => {
            return Err(
                "arrays and objects cannot be bound (except {\"blob\": \"<base64>\"}); pass JSON as a string"
                    .into(),
            );
        }
    })
}

/// About how many bytes `v` takes as JSON (with its comma), known before converting it.
fn json_size(v: ValueRef<'_>) -> u64 {
    1 + match v {
        ValueRef::Null => 4,
        ValueRef::Integer(_) => 20,
        ValueRef::Real(_) => 24,
        ValueRef::Text(t) => t.len() as u64 + 2,
        ValueRef::Blob(b) => (b.len() as u64).div_ceil(3) * 4 + 12,
    }
}

/// An SQLite value as JSON (see the [module docs](self)).
pub fn to_json(v: ValueRef<'_>) -> serde_json::Value {
    match v {
        ValueRef::Null => serde_json::Value::Null,
        ValueRef::Integer(i) => {
            if i.unsigned_abs() <= 1u64 << 53 {
                i.into()
            } else {
                i.to_string().into()
            }
        }
        ValueRef::Real(f) => serde_json::Number::from_f64(f)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null),
        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned().into(),
        ValueRef::Blob(b) => serde_json::json!({ "blob": base64_encode(b) }),
    }
}

/// `"name"` with inner quotes doubled.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Percent-encodes a file name for the path of an SQLite URI.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | (b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(BASE64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64 (padding optional, ASCII whitespace ignored).
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let digits = digits
        .strip_suffix(b"==")
        .or_else(|| digits.strip_suffix(b"="))
        .unwrap_or(&digits);
    if digits.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let mut n = 0u32;
        for (i, &d) in chunk.iter().enumerate() {
            let v = BASE64.iter().position(|&c| c == d)? as u32;
            n |= v << (18 - 6 * i);
        }
        for i in 0..chunk.len() - 1 {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------
// The VFS callbacks. Each one turns a panic into an error code: unwinding into C aborts.

/// Runs `f`, or answers `on_panic` if it panics.
fn guard(on_panic: c_int, f: impl FnOnce() -> c_int) -> c_int {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(on_panic)
}

/// The VFS's state.
///
/// # Safety
/// `vfs` must be a VFS made by [`SqlSession::open`].
unsafe fn vfs_state<'a>(vfs: *mut ffi::sqlite3_vfs) -> &'a VfsState {
    unsafe { &*((*vfs).pAppData as *const VfsState) }
}

/// The file's state and name.
///
/// # Safety
/// `file` must have been opened successfully by [`x_open`].
unsafe fn file_parts<'a>(file: *mut ffi::sqlite3_file) -> (&'a VfsState, &'a str) {
    unsafe {
        let f = &*(file as *const BakeFile);
        (&*f.state, (*f.name).as_str())
    }
}

/// The name SQLite passes, as UTF-8.
///
/// # Safety
/// `name` must be null or a NUL-terminated string.
unsafe fn name_of<'a>(name: *const c_char) -> Option<&'a str> {
    if name.is_null() {
        return None;
    }
    unsafe { CStr::from_ptr(name) }.to_str().ok()
}

unsafe extern "C" fn x_open(
    vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    guard(ffi::SQLITE_CANTOPEN, || unsafe {
        let f = file as *mut BakeFile;
        (*f).base.pMethods = ptr::null();
        let state = vfs_state(vfs);
        let Some(name) = name_of(name) else {
            return ffi::SQLITE_CANTOPEN;
        };
        if flags & ffi::SQLITE_OPEN_MAIN_DB == 0
            || flags & ffi::SQLITE_OPEN_DELETEONCLOSE != 0
            || !state.files.contains(name)
        {
            return ffi::SQLITE_CANTOPEN;
        }
        (*f).state = state;
        (*f).name = Box::into_raw(Box::new(name.to_string()));
        (*f).base.pMethods = &IO_METHODS;
        if !out_flags.is_null() {
            *out_flags = (flags & !(ffi::SQLITE_OPEN_READWRITE | ffi::SQLITE_OPEN_CREATE))
                | ffi::SQLITE_OPEN_READONLY;
        }
        ffi::SQLITE_OK
    })
}

unsafe extern "C" fn x_delete(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    _sync_dir: c_int,
) -> c_int {
    guard(ffi::SQLITE_IOERR_DELETE, || unsafe {
        match name_of(name) {
            Some(n) if vfs_state(vfs).files.contains(n) => ffi::SQLITE_READONLY,
            _ => ffi::SQLITE_IOERR_DELETE_NOENT,
        }
    })
}

unsafe extern "C" fn x_access(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    flags: c_int,
    out: *mut c_int,
) -> c_int {
    guard(ffi::SQLITE_IOERR_ACCESS, || unsafe {
        let exists = name_of(name).is_some_and(|n| vfs_state(vfs).files.contains(n));
        *out = (exists && flags != ffi::SQLITE_ACCESS_READWRITE) as c_int;
        ffi::SQLITE_OK
    })
}

unsafe extern "C" fn x_full_pathname(
    _vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    n_out: c_int,
    out: *mut c_char,
) -> c_int {
    guard(ffi::SQLITE_CANTOPEN, || unsafe {
        if name.is_null() || n_out <= 0 {
            return ffi::SQLITE_CANTOPEN;
        }
        let bytes = CStr::from_ptr(name).to_bytes_with_nul();
        if bytes.len() > n_out as usize {
            return ffi::SQLITE_CANTOPEN;
        }
        ptr::copy_nonoverlapping(bytes.as_ptr().cast::<c_char>(), out, bytes.len());
        ffi::SQLITE_OK
    })
}

unsafe extern "C" fn x_dl_open(_vfs: *mut ffi::sqlite3_vfs, _name: *const c_char) -> *mut c_void {
    ptr::null_mut()
}

unsafe extern "C" fn x_dl_error(_vfs: *mut ffi::sqlite3_vfs, n: c_int, out: *mut c_char) {
    let msg = b"loading extensions is not supported\0";
    if n > 0 && !out.is_null() {
        let len = msg.len().min(n as usize);
        // SAFETY: SQLite gives a buffer of `n` bytes; the copy stays within it and ends in NUL.
        unsafe {
            ptr::copy_nonoverlapping(msg.as_ptr().cast::<c_char>(), out, len);
            *out.add(len - 1) = 0;
        }
    }
}

type DlSym = unsafe extern "C" fn(*mut ffi::sqlite3_vfs, *mut c_void, *const c_char);

unsafe extern "C" fn x_dl_sym(
    _vfs: *mut ffi::sqlite3_vfs,
    _handle: *mut c_void,
    _symbol: *const c_char,
) -> Option<DlSym> {
    None
}

unsafe extern "C" fn x_dl_close(_vfs: *mut ffi::sqlite3_vfs, _handle: *mut c_void) {}

/// The process's default VFS, for randomness, sleep and time.
fn default_vfs() -> *mut ffi::sqlite3_vfs {
    // SAFETY: a plain lookup; our VFS is never registered as the default.
    unsafe { ffi::sqlite3_vfs_find(ptr::null()) }
}

unsafe extern "C" fn x_randomness(
    _vfs: *mut ffi::sqlite3_vfs,
    n: c_int,
    out: *mut c_char,
) -> c_int {
    let d = default_vfs();
    // SAFETY: `d` is a registered VFS; the buffer is SQLite's.
    unsafe {
        match d.as_ref().and_then(|v| v.xRandomness) {
            Some(f) => f(d, n, out),
            None => {
                ptr::write_bytes(out, 0, n.max(0) as usize);
                n
            }
        }
    }
}

unsafe extern "C" fn x_sleep(_vfs: *mut ffi::sqlite3_vfs, micros: c_int) -> c_int {
    let d = default_vfs();
    // SAFETY: `d` is a registered VFS.
    unsafe {
        match d.as_ref().and_then(|v| v.xSleep) {
            Some(f) => f(d, micros),
            None => 0,
        }
    }
}

unsafe extern "C" fn x_current_time(_vfs: *mut ffi::sqlite3_vfs, out: *mut f64) -> c_int {
    let d = default_vfs();
    // SAFETY: `d` is a registered VFS; `out` is SQLite's.
    unsafe {
        match d.as_ref().and_then(|v| v.xCurrentTime) {
            Some(f) => f(d, out),
            None => ffi::SQLITE_ERROR,
        }
    }
}

unsafe extern "C" fn x_current_time_int64(
    _vfs: *mut ffi::sqlite3_vfs,
    out: *mut ffi::sqlite3_int64,
) -> c_int {
    let d = default_vfs();
    // SAFETY: `d` is a registered VFS; `out` is SQLite's.
    unsafe {
        let Some(v) = d.as_ref() else {
            return ffi::SQLITE_ERROR;
        };
        if v.iVersion >= 2
            && let Some(f) = v.xCurrentTimeInt64
        {
            return f(d, out);
        }
        let mut days = 0f64;
        let rc = x_current_time(d, &mut days);
        *out = (days * 86_400_000.0) as ffi::sqlite3_int64;
        rc
    }
}

unsafe extern "C" fn x_get_last_error(
    _vfs: *mut ffi::sqlite3_vfs,
    _n: c_int,
    _out: *mut c_char,
) -> c_int {
    0
}

static IO_METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 1,
    xClose: Some(x_close),
    xRead: Some(x_read),
    xWrite: Some(x_write),
    xTruncate: Some(x_truncate),
    xSync: Some(x_sync),
    xFileSize: Some(x_file_size),
    xLock: Some(x_lock),
    xUnlock: Some(x_lock),
    xCheckReservedLock: Some(x_check_reserved_lock),
    xFileControl: Some(x_file_control),
    xSectorSize: Some(x_sector_size),
    xDeviceCharacteristics: Some(x_device_characteristics),
    xShmMap: None,
    xShmLock: None,
    xShmBarrier: None,
    xShmUnmap: None,
    xFetch: None,
    xUnfetch: None,
};

unsafe extern "C" fn x_close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: opened by `x_open`, so `name` is a `Box<String>`; SQLite closes a file once.
    unsafe {
        let f = file as *mut BakeFile;
        if !(*f).name.is_null() {
            drop(Box::from_raw((*f).name));
            (*f).name = ptr::null_mut();
        }
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_read(
    file: *mut ffi::sqlite3_file,
    buf: *mut c_void,
    amount: c_int,
    offset: ffi::sqlite3_int64,
) -> c_int {
    guard(ffi::SQLITE_IOERR_READ, || {
        // SAFETY: SQLite passes a file `x_open` opened and a buffer of `amount` bytes.
        let (state, name) = unsafe { file_parts(file) };
        let out =
            unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), amount.max(0) as usize) };
        if state.has_error() || offset < 0 {
            // Sticky: after an engine error the query is over.
            return ffi::SQLITE_IOERR_READ;
        }
        let offset = offset as u64;
        let result = {
            let mut engine = state.engine.lock().unwrap_or_else(PoisonError::into_inner);
            engine.size(name).and_then(|size| {
                let avail = size.saturating_sub(offset).min(out.len() as u64) as usize;
                engine.read(name, offset, &mut out[..avail]).map(|()| avail)
            })
        };
        match result {
            Ok(n) if n == out.len() => ffi::SQLITE_OK,
            Ok(n) => {
                out[n..].fill(0);
                ffi::SQLITE_IOERR_SHORT_READ
            }
            Err(e) => {
                state.keep_error(e);
                ffi::SQLITE_IOERR_READ
            }
        }
    })
}

unsafe extern "C" fn x_write(
    _file: *mut ffi::sqlite3_file,
    _buf: *const c_void,
    _amount: c_int,
    _offset: ffi::sqlite3_int64,
) -> c_int {
    ffi::SQLITE_READONLY
}

unsafe extern "C" fn x_truncate(_file: *mut ffi::sqlite3_file, _size: ffi::sqlite3_int64) -> c_int {
    ffi::SQLITE_READONLY
}

unsafe extern "C" fn x_sync(_file: *mut ffi::sqlite3_file, _flags: c_int) -> c_int {
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_file_size(
    file: *mut ffi::sqlite3_file,
    out: *mut ffi::sqlite3_int64,
) -> c_int {
    guard(ffi::SQLITE_IOERR_FSTAT, || {
        // SAFETY: SQLite passes a file `x_open` opened and a place for the size.
        let (state, name) = unsafe { file_parts(file) };
        let size = state
            .engine
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .size(name);
        match size {
            Ok(s) => {
                unsafe { *out = s as ffi::sqlite3_int64 };
                ffi::SQLITE_OK
            }
            Err(e) => {
                state.keep_error(e);
                ffi::SQLITE_IOERR_FSTAT
            }
        }
    })
}

unsafe extern "C" fn x_lock(_file: *mut ffi::sqlite3_file, _level: c_int) -> c_int {
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_check_reserved_lock(
    _file: *mut ffi::sqlite3_file,
    out: *mut c_int,
) -> c_int {
    // SAFETY: SQLite passes a place for the answer.
    unsafe { *out = 0 };
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_file_control(
    _file: *mut ffi::sqlite3_file,
    _op: c_int,
    _arg: *mut c_void,
) -> c_int {
    ffi::SQLITE_NOTFOUND
}

unsafe extern "C" fn x_sector_size(_file: *mut ffi::sqlite3_file) -> c_int {
    4096
}

unsafe extern "C" fn x_device_characteristics(_file: *mut ffi::sqlite3_file) -> c_int {
    ffi::SQLITE_IOCAP_IMMUTABLE
}

// ---------------------------------------------------------------------------------------
// Authorizer and progress handler.

unsafe extern "C" fn authorize(
    data: *mut c_void,
    action: c_int,
    arg1: *const c_char,
    arg2: *const c_char,
    _db: *const c_char,
    _trigger: *const c_char,
) -> c_int {
    guard(ffi::SQLITE_DENY, || {
        // SAFETY: `data` is the session's state (see `SqlSession::connect`); the arguments
        // are NUL-terminated strings or null.
        let (state, a1) = unsafe { (&*(data as *const VfsState), name_of(arg1)) };
        let deny = |why: String| {
            state.denied.replace(Some(why));
            ffi::SQLITE_DENY
        };
        match action {
            ffi::SQLITE_ATTACH | ffi::SQLITE_DETACH => deny(
                "ATTACH and DETACH are not allowed: every database of this site is already \
                 attached by its name"
                    .into(),
            ),
            ffi::SQLITE_PRAGMA if !arg2.is_null() => {
                let pragma = a1.unwrap_or("").to_ascii_lowercase();
                if READ_PRAGMAS_WITH_ARGUMENT.contains(&pragma.as_str()) {
                    ffi::SQLITE_OK
                } else {
                    deny(format!(
                        "PRAGMA {pragma} cannot be changed: the data of this site is read-only \
                         (reading a pragma, without `=`, is fine)"
                    ))
                }
            }
            _ => ffi::SQLITE_OK,
        }
    })
}

unsafe extern "C" fn progress(data: *mut c_void) -> c_int {
    guard(1, || {
        // SAFETY: `data` is the session's state (see `SqlSession::connect`).
        let state = unsafe { &*(data as *const VfsState) };
        if state.has_error() {
            return 1;
        }
        if let Some(deadline) = state.deadline_ms.get()
            && now_ms() > deadline
        {
            state.timed_out.set(true);
            return 1;
        }
        // Take the callback out while it runs: it may call into JS.
        let Some(mut f) = state.interrupt.take() else {
            return 0;
        };
        let stop = f();
        state.interrupt.set(Some(f));
        if stop {
            state.interrupted.set(true);
        }
        stop as c_int
    })
}

#[cfg(test)]
mod tests;
