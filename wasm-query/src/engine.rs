//! The range engine: ONE block cache over every logical file of a site, shared by the SQLite
//! VFS and the tantivy Directory.
//!
//! - Reads are split into fixed-size blocks (the file's `block_size`); missing blocks that sit
//!   next to each other are fetched with one request.
//! - Read-ahead: each file has a few read heads; a read that continues near where one of
//!   them stopped, or anywhere in what it fetched ahead (small gaps allowed, other reads
//!   interleaved), doubles how many extra blocks the next request takes, up to the part
//!   size, so a full scan costs tens of round trips. While a query runs the cache makes room
//!   for every head's read-ahead, and blocks a head has read leave it first (drop-behind), so
//!   a table scan does not push out the index blocks another head fetched and has yet to read.
//! - A worst-case bound: the manifest says where each SQLite B-tree lies ([`layout`]). Once a
//!   query has read a B-tree at random as many times as a sequential read of it would take,
//!   less the requests of fetching it whole, the rest of the tree comes in a few large
//!   requests and stays cached (pinned) until the query ends, so no query costs more round
//!   trips than reading the trees it touches from end to end.
//! - Between queries the cache is an LRU bounded in bytes.
//! - Every answer is checked (see [`Engine::read`]); transient failures are retried with
//!   backoff; a per-query byte budget stops runaway queries.
//! - Every part's URL carries the first 16 hex digits of the BLAKE3 hash of its bytes (see
//!   [`part_hash`]): a part received whole is checked against it, and when SQLite or tantivy
//!   find corrupt data, [`Engine::verify`] fetches the parts that were read by range whole and
//!   names the one the host served wrong.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::fetch::{Fetch, Request, Response};
use crate::manifest::{ByteRange, LogicalFile, Manifest, Part};

pub mod layout;

use layout::{Layout, RUN_GAP_BLOCKS, sequential_requests};

/// The one engine of a Worker, shared by the SQLite VFS and the tantivy Directory (so both
/// use ONE cache). A Mutex because tantivy wants `Send + Sync`; nothing ever contends for it.
pub type SharedEngine = Arc<Mutex<Engine<Box<dyn Fetch + Send>>>>;

/// Wraps an engine for sharing.
pub fn shared(engine: Engine<Box<dyn Fetch + Send>>) -> SharedEngine {
    Arc::new(Mutex::new(engine))
}

/// Engine settings.
#[derive(Debug, Clone, Copy)]
pub struct EngineConfig {
    /// Most bytes the block cache keeps.
    pub cache_bytes: u64,
    /// Most blocks one read-ahead adds to a request (also never more than a part holds).
    pub read_ahead_max_blocks: u64,
    /// Retries after a network error or 5xx.
    pub retries: u32,
    /// First backoff in milliseconds; doubles each retry.
    pub backoff_ms: u32,
    /// Largest B-tree fetched whole when a query reads it at random (the cache grows to hold
    /// it until the next query starts); a bigger tree is fetched by windows of a sixteenth
    /// of the cache. Within the query's byte budget either way.
    pub sweep_max_bytes: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            cache_bytes: 64 * 1024 * 1024,
            read_ahead_max_blocks: u64::MAX,
            retries: 3,
            backoff_ms: 100,
            sweep_max_bytes: 512 * 1024 * 1024,
        }
    }
}

/// Counters returned with every answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// HTTP requests sent (retries included).
    pub requests: u64,
    /// Body bytes received.
    pub bytes: u64,
    /// Blocks served from the cache.
    pub cache_hits: u64,
    /// Blocks that had to be fetched.
    pub cache_misses: u64,
    /// Requests that had to wait for the one before (all of them, with synchronous fetches).
    pub round_trips: u64,
    /// Requests that were retries.
    pub retries: u64,
    /// B-trees fetched whole (or by large windows) after being read at random too often.
    pub sweeps: u64,
}

/// What a query may spend before it stops and the visitor is asked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Budget {
    /// Most bytes fetched.
    pub bytes: Option<u64>,
    /// Most requests sent.
    pub requests: Option<u64>,
}

/// How far a running query has come, reported after every request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// Requests sent so far.
    pub requests: u64,
    /// Bytes received so far.
    pub bytes: u64,
    /// Bytes the query is expected to fetch in all, when known (from the query plan, or
    /// from a B-tree being fetched whole).
    pub expected_bytes: Option<u64>,
}

/// Receives [`Progress`] while a query runs (the Worker posts it to the page).
pub type ProgressSink = Box<dyn FnMut(Progress) + Send>;

/// Why a read failed. Every variant says what the user can do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineError {
    /// The manifest has no such file.
    UnknownFile(String),
    /// A read past the end of a file.
    OutOfBounds {
        /// File name.
        file: String,
        /// First byte asked for.
        offset: u64,
        /// Bytes asked for.
        len: u64,
        /// File size.
        size: u64,
    },
    /// The query would fetch more than its budget.
    Budget {
        /// Bytes fetched by this query so far.
        fetched: u64,
        /// The budget.
        limit: u64,
    },
    /// The query would send more requests than its budget.
    RequestBudget {
        /// Requests sent by this query so far.
        sent: u64,
        /// The budget.
        limit: u64,
    },
    /// An HTTP status that is neither 200 nor 206 (after retries, for 5xx).
    Status {
        /// Part URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// No answer after every retry.
    Network {
        /// Part URL.
        url: String,
        /// Last error.
        message: String,
    },
    /// A compressed body: byte ranges of a compressed body are not the file's bytes.
    Compressed {
        /// Part URL.
        url: String,
        /// The Content-Encoding.
        encoding: String,
    },
    /// The answer does not match the request (length or Content-Range).
    Mismatch {
        /// Part URL.
        url: String,
        /// What did not match.
        detail: String,
    },
    /// The file on the host is not the one the manifest describes.
    Changed {
        /// Part URL.
        url: String,
        /// What changed.
        detail: String,
    },
    /// Bytes of a part do not match the hash in its URL: the host (or a cache between) served
    /// a corrupted or stale copy.
    Corrupt {
        /// Part URL.
        url: String,
    },
}

/// The content hash in a part's URL: the 16 hex digits before `.bin` in
/// `/_data/NAME.INDEX.HASH16.bin`, the first 16 of the BLAKE3 hash of the part's bytes.
/// `None` for a URL without one (nothing to check against).
pub fn part_hash(url: &str) -> Option<&str> {
    let name = url.rsplit('/').next()?.strip_suffix(".bin")?;
    let hash = name.rsplit('.').next()?;
    (hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hash)
}

/// Whether `bytes` are what the hash in `url` promises (true when the URL has no hash).
fn matches_url_hash(url: &str, bytes: &[u8]) -> bool {
    part_hash(url).is_none_or(|h| blake3::hash(bytes).to_hex()[..16].eq_ignore_ascii_case(h))
}

/// An ETag without its weak marker: `W/"x"` and `"x"` name the same version (a CDN may
/// weaken an ETag when it compresses or transforms, and not on every edge at once).
fn etag_core(etag: &str) -> &str {
    let t = etag.trim();
    t.strip_prefix("W/").unwrap_or(t)
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::UnknownFile(n) => write!(f, "the site has no data file `{n}`"),
            EngineError::OutOfBounds {
                file,
                offset,
                len,
                size,
            } => {
                write!(
                    f,
                    "read of {len} bytes at {offset} is past the end of `{file}` ({size} bytes)"
                )
            }
            EngineError::Budget { fetched, limit } => write!(
                f,
                "stopped after fetching {fetched} bytes: the query needs more than its budget of {limit} bytes; run it again with a higher limit"
            ),
            EngineError::RequestBudget { sent, limit } => write!(
                f,
                "stopped after {sent} requests: the query needs more than its budget of {limit} requests; run it again with a higher limit"
            ),
            EngineError::Status {
                url,
                status: status @ (404 | 410),
            } => write!(
                f,
                "the site was updated since this page was loaded: {url} is no longer on the host ({status}); reload the page"
            ),
            EngineError::Status { url, status } => {
                write!(f, "the host answered {status} for {url}")
            }
            EngineError::Network { url, message } => write!(
                f,
                "no answer for {url}: {message}; check the connection and try again"
            ),
            EngineError::Compressed { url, encoding } => write!(
                f,
                "the host sent {url} compressed ({encoding}); data files must be served uncompressed — see the _headers file (no-transform)"
            ),
            EngineError::Mismatch { url, detail } => write!(
                f,
                "the host's answer for {url} does not match the request: {detail}"
            ),
            EngineError::Changed { url, detail } => {
                write!(
                    f,
                    "the data on the host changed ({detail}) for {url}; reload the page to get the new version"
                )
            }
            EngineError::Corrupt { url } => write!(
                f,
                "the host served a corrupted or stale copy of {url} (its bytes do not match the hash in its name); reload the page, and if it persists redeploy the site"
            ),
        }
    }
}

impl std::error::Error for EngineError {}

/// How many read heads each file keeps: a scan of an index interleaved with lookups in its
/// table, plus a join's second table, each keep their own read-ahead.
const READ_HEADS: usize = 3;

/// Blocks a read may skip past a head's end and still continue it (interior pages of
/// other trees sit between a tree's leaves).
const HEAD_GAP_BLOCKS: u64 = 4;

/// A place in a file where reads have been continuing, and how far ahead to fetch there.
#[derive(Debug, Clone, Copy)]
struct ReadHead {
    /// Block after the end of the last read it served.
    next: u64,
    /// Last block its requests fetched (read-ahead included).
    frontier: u64,
    /// Blocks of read-ahead the next sequential read adds.
    ahead: u64,
    /// Engine tick of its last use (the least recently used head is replaced).
    used: u64,
}

impl ReadHead {
    /// Whether a read from block `first` continues this head: it starts at or just after
    /// the head's last read, or anywhere in what the head fetched ahead (a scan that skips
    /// pages, such as table rows looked up in rowid order, stays one stream).
    fn continues(&self, first: u64) -> bool {
        first + 1 >= self.next && first <= self.next.max(self.frontier + 1) + HEAD_GAP_BLOCKS
    }
}

/// Per-file state: its layout, what the host said about its parts, the read heads.
struct FileState {
    id: u32,
    meta: LogicalFile,
    /// First ETag seen for each part.
    etags: HashMap<usize, String>,
    /// Parts some of whose bytes came by range, so were never checked against their hash.
    unverified: BTreeSet<usize>,
    /// Where sequential reads continue.
    heads: Vec<ReadHead>,
    /// Most blocks one request may read ahead: the configured cap, at most a part.
    ahead_cap: u64,
    /// Where the file's B-trees lie (databases with a manifest that says; else empty).
    layout: Layout,
    /// Per B-tree: random misses in the current query, and whether it was swept.
    tree_misses: Vec<u64>,
    tree_swept: Vec<bool>,
    /// The manifest's hot ranges by offset (the manifest keeps them in sidecar order).
    hot_sorted: Vec<ByteRange>,
    /// Whether the hot ranges were preloaded.
    hot_loaded: bool,
}

impl FileState {
    /// Random misses after which tree `t` is fetched whole: what a sequential read of it
    /// would cost in requests, less the requests the sweep itself takes (one per part each
    /// run touches), so the random reads plus the sweep stay within one sequential read; and
    /// at least two (one lookup never fetches a whole table).
    fn sweep_threshold(&self, t: usize) -> u64 {
        let runs = &self.layout.trees[t].runs;
        let seq: u64 = runs
            .iter()
            .map(|(a, b)| sequential_requests(b - a + 1, self.ahead_cap))
            .sum();
        let bs = self.meta.block_size as u64;
        let sweep: u64 = runs
            .iter()
            .map(|&(a, b)| parts_touched(&self.meta.parts, a * bs, (b + 1) * bs))
            .sum();
        seq.saturating_sub(sweep).max(2)
    }
}

/// How many of `parts` (sorted, tiling the file) overlap bytes `start..end`.
fn parts_touched(parts: &[Part], start: u64, end: u64) -> u64 {
    let first = parts.partition_point(|p| p.offset + p.length <= start);
    let last = parts.partition_point(|p| p.offset < end);
    last.saturating_sub(first) as u64
}

/// A block's place in the cache: (file id, block number).
type BlockKey = (u32, u64);

/// LRU of blocks, bounded in bytes.
struct BlockCache {
    capacity: u64,
    /// The configured capacity; `capacity` is above it while a query holds a swept tree.
    base_capacity: u64,
    used: u64,
    tick: u64,
    /// Below every use tick: where [`BlockCache::demote`] puts blocks (counting down).
    low: u64,
    /// Blocks held until the next [`BlockCache::shrink`] (their use tick is [`PINNED`], and
    /// they are not in `order`, so never evicted).
    pinned: Vec<BlockKey>,
    /// Bytes of the pinned blocks: `capacity` bounds the others.
    pinned_bytes: u64,
    /// Block → (bytes, last use).
    blocks: HashMap<BlockKey, (Arc<[u8]>, u64)>,
    /// Last use → block, oldest first.
    order: BTreeMap<u64, BlockKey>,
}

/// The first use tick of a cache; demoted blocks get ticks below it.
const CACHE_TICK_START: u64 = 1 << 62;

/// The use tick of a pinned block (no other block ever has it).
const PINNED: u64 = 0;

impl BlockCache {
    fn get(&mut self, key: (u32, u64)) -> Option<Arc<[u8]>> {
        let (data, t) = self.blocks.get_mut(&key)?;
        if *t == PINNED {
            return Some(data.clone());
        }
        self.order.remove(t);
        self.tick += 1;
        *t = self.tick;
        self.order.insert(self.tick, key);
        Some(data.clone())
    }

    fn contains(&self, key: (u32, u64)) -> bool {
        self.blocks.contains_key(&key)
    }

    /// Makes `key` the next block to evict: a leaf a scan has read will not be read again,
    /// and must not push out blocks other heads fetched ahead and have not read yet.
    fn demote(&mut self, key: (u32, u64)) {
        if let Some((_, t)) = self.blocks.get_mut(&key)
            && *t != PINNED
        {
            self.order.remove(t);
            self.low -= 1;
            *t = self.low;
            self.order.insert(self.low, key);
        }
    }

    /// A cached block without counting it as a use.
    fn peek(&self, key: (u32, u64)) -> Option<&[u8]> {
        self.blocks.get(&key).map(|(d, _)| &d[..])
    }

    fn remove(&mut self, key: (u32, u64)) {
        if let Some((old, t)) = self.blocks.remove(&key) {
            self.forget(&old, t);
        }
    }

    /// Accounts for a block taken out of `blocks` (used tick `t`).
    fn forget(&mut self, data: &[u8], t: u64) {
        self.used -= data.len() as u64;
        if t == PINNED {
            self.pinned_bytes -= data.len() as u64;
        } else {
            self.order.remove(&t);
        }
    }

    /// Room for `bytes` more on top of what is cached now (pinned blocks aside).
    fn grow_for(&mut self, bytes: u64) {
        self.capacity = self.capacity.max(self.used - self.pinned_bytes + bytes);
    }

    /// At least `bytes` of capacity for blocks that are not pinned, until
    /// [`BlockCache::shrink`].
    fn reserve(&mut self, bytes: u64) {
        self.capacity = self.capacity.max(bytes);
    }

    /// Back to the configured capacity, evicting the least recently used blocks.
    fn shrink(&mut self) {
        self.capacity = self.base_capacity;
        self.pinned_bytes = 0;
        for key in std::mem::take(&mut self.pinned) {
            if let Some((_, t)) = self.blocks.get_mut(&key)
                && *t == PINNED
            {
                self.tick += 1;
                *t = self.tick;
                self.order.insert(self.tick, key);
            }
        }
        self.evict();
    }

    /// Keeps `key` (if cached) until the next [`BlockCache::shrink`], whatever else comes in:
    /// a swept tree is read at random for the rest of the query.
    fn pin(&mut self, key: (u32, u64)) {
        if let Some((data, t)) = self.blocks.get_mut(&key)
            && *t != PINNED
        {
            self.order.remove(t);
            *t = PINNED;
            self.pinned_bytes += data.len() as u64;
            self.pinned.push(key);
        }
    }

    fn evict(&mut self) {
        while self.used - self.pinned_bytes > self.capacity {
            let Some((_, victim)) = self.order.pop_first() else {
                break;
            };
            if let Some((d, _)) = self.blocks.remove(&victim) {
                self.used -= d.len() as u64;
            }
        }
    }

    fn insert(&mut self, key: (u32, u64), data: Arc<[u8]>) {
        if let Some((old, t)) = self.blocks.remove(&key) {
            self.forget(&old, t);
        }
        self.tick += 1;
        self.used += data.len() as u64;
        self.blocks.insert(key, (data, self.tick));
        self.order.insert(self.tick, key);
        self.evict();
    }
}

/// The engine over one site's logical files.
pub struct Engine<F> {
    fetch: F,
    config: EngineConfig,
    files: HashMap<String, FileState>,
    cache: BlockCache,
    total: Stats,
    query: Stats,
    budget: Budget,
    /// Counts read-head uses, for least-recently-used replacement.
    tick: u64,
    progress: Option<ProgressSink>,
    /// Bytes the running query is expected to fetch, when known.
    expected_bytes: Option<u64>,
    /// Parts accepted from outside since the last query began: counted in the next query's
    /// stats, which would have fetched them itself.
    prefetched: Stats,
}

impl<F: Fetch> Engine<F> {
    /// An engine over the files of `manifest`, fetching through `fetch`.
    pub fn new(fetch: F, manifest: &Manifest, config: EngineConfig) -> Engine<F> {
        let files = manifest
            .files
            .iter()
            .enumerate()
            .map(|(i, (name, meta))| {
                let bs = u64::from(meta.block_size);
                let layout = manifest
                    .databases
                    .values()
                    .find(|db| &db.file == name)
                    .map(|db| Layout::new(db, bs))
                    .unwrap_or_default();
                let part_blocks = meta.parts.iter().map(|p| p.length / bs).max().unwrap_or(1);
                let trees = layout.trees.len();
                let state = FileState {
                    id: i as u32,
                    meta: meta.clone(),
                    etags: HashMap::new(),
                    unverified: BTreeSet::new(),
                    heads: Vec::new(),
                    ahead_cap: config.read_ahead_max_blocks.min(part_blocks.max(1)),
                    layout,
                    tree_misses: vec![0; trees],
                    tree_swept: vec![false; trees],
                    hot_sorted: {
                        let mut hot = meta.hot.clone();
                        hot.sort_by_key(|r| r.offset);
                        hot
                    },
                    hot_loaded: false,
                };
                (name.clone(), state)
            })
            .collect();
        Engine {
            fetch,
            config,
            files,
            cache: BlockCache {
                capacity: config.cache_bytes,
                base_capacity: config.cache_bytes,
                used: 0,
                tick: CACHE_TICK_START,
                low: CACHE_TICK_START,
                pinned: Vec::new(),
                pinned_bytes: 0,
                blocks: HashMap::new(),
                order: BTreeMap::new(),
            },
            total: Stats::default(),
            query: Stats::default(),
            budget: Budget::default(),
            tick: 0,
            progress: None,
            expected_bytes: None,
            prefetched: Stats::default(),
        }
    }

    /// Starts a query: resets the per-query counters and sets its byte budget.
    pub fn begin_query(&mut self, budget: Option<u64>) {
        self.begin_query_with(Budget {
            bytes: budget,
            requests: None,
        });
    }

    /// Starts a query with a byte and a request budget.
    pub fn begin_query_with(&mut self, budget: Budget) {
        self.query = std::mem::take(&mut self.prefetched);
        self.cache.shrink();
        self.budget = budget;
        self.expected_bytes = None;
        for st in self.files.values_mut() {
            st.tree_misses.fill(0);
            st.tree_swept.fill(false);
        }
    }

    /// Sets where progress goes while queries run (`None`: nowhere).
    pub fn set_progress(&mut self, sink: Option<ProgressSink>) {
        self.progress = sink;
    }

    /// Tells the engine how many more bytes the running query is expected to fetch (from its
    /// plan); progress then reports them plus what it fetched so far.
    pub fn set_expected_bytes(&mut self, bytes: Option<u64>) {
        self.expected_bytes = bytes.map(|b| self.query.bytes + b);
    }

    /// Bytes of the B-tree `tree` of database file `file`, when the manifest says where it lies.
    pub fn tree_bytes(&self, file: &str, tree: &str) -> Option<u64> {
        let st = self.files.get(file)?;
        let t = st.layout.trees.iter().find(|t| t.name == tree)?;
        Some(t.blocks * u64::from(st.meta.block_size))
    }

    /// Counters since [`Engine::begin_query`].
    pub fn query_stats(&self) -> Stats {
        self.query
    }

    /// Counters since the engine started.
    pub fn total_stats(&self) -> Stats {
        self.total
    }

    /// Size of `file` in bytes.
    pub fn size(&self, file: &str) -> Result<u64, EngineError> {
        self.files
            .get(file)
            .map(|f| f.meta.size)
            .ok_or_else(|| EngineError::UnknownFile(file.into()))
    }

    /// The fetcher.
    pub fn fetcher(&self) -> &F {
        &self.fetch
    }

    /// Fetches every block of `ranges` that is not cached, coalescing neighbours (hot ranges).
    pub fn preload(&mut self, file: &str, ranges: &[ByteRange]) -> Result<(), EngineError> {
        let st = self
            .files
            .get(file)
            .ok_or_else(|| EngineError::UnknownFile(file.into()))?;
        let bs = st.meta.block_size as u64;
        let id = st.id;
        let mut blocks: Vec<u64> = ranges
            .iter()
            .filter(|r| r.length > 0)
            .flat_map(|r| r.offset / bs..=(r.offset + r.length - 1) / bs)
            .filter(|b| !self.cache.contains((id, *b)))
            .collect();
        blocks.sort_unstable();
        blocks.dedup();
        for (a, b) in runs(&blocks) {
            self.fetch_blocks(file, a, b)?;
        }
        Ok(())
    }

    /// Files a whole part of `file` fetched outside the engine (the Worker fetches the hot
    /// sidecars asynchronously, while the wasm compiles) into the cache, after checking its
    /// length and the hash in its URL. Returns whether it was taken; a refused part is
    /// simply fetched again when needed.
    pub fn accept_part(&mut self, file: &str, index: usize, bytes: &[u8]) -> bool {
        let Some(st) = self.files.get(file) else {
            return false;
        };
        let Some(part) = st.meta.parts.get(index) else {
            return false;
        };
        let (id, bs, size) = (st.id, st.meta.block_size as u64, st.meta.size);
        if bytes.len() as u64 != part.length || !matches_url_hash(&part.url, bytes) {
            return false;
        }
        let part = part.clone();
        self.cache_whole_blocks(id, bs, size, &part, bytes, |_| true);
        // Fetched in parallel with each other: one round trip for all of them.
        if self.prefetched.requests == 0 {
            self.prefetched.round_trips = 1;
            self.total.round_trips += 1;
        }
        for s in [&mut self.prefetched, &mut self.total] {
            s.requests += 1;
            s.bytes += bytes.len() as u64;
        }
        true
    }

    /// Caches every whole block of `part` (its bytes `body`) for which `keep` says so.
    fn cache_whole_blocks(
        &mut self,
        id: u32,
        bs: u64,
        size: u64,
        part: &Part,
        body: &[u8],
        keep: impl Fn(u64) -> bool,
    ) {
        let mut blk = part.offset.div_ceil(bs);
        while blk * bs < part.offset + part.length {
            let (s, e) = (blk * bs, ((blk + 1) * bs).min(size));
            if e <= part.offset + part.length && keep(blk) {
                let data: Arc<[u8]> =
                    body[(s - part.offset) as usize..(e - part.offset) as usize].into();
                self.cache.insert((id, blk), data);
            }
            blk += 1;
        }
    }

    /// Preloads the manifest's hot ranges of `file`, once. With a sidecar (`FILE.hot`, the
    /// hot ranges' bytes concatenated in order) that is one request for all of them, filed
    /// into the cache as blocks of `file`; without one, the ranges are fetched coalesced.
    pub fn preload_hot(&mut self, file: &str) -> Result<(), EngineError> {
        let st = self
            .files
            .get(file)
            .ok_or_else(|| EngineError::UnknownFile(file.into()))?;
        if st.hot_loaded || st.meta.hot.is_empty() {
            return Ok(());
        }
        let (id, bs, hot) = (st.id, st.meta.block_size as u64, st.meta.hot.clone());
        let sidecar = format!("{file}.hot");
        let total: u64 = hot.iter().map(|r| r.length).sum();
        let aligned = hot.iter().all(|r| r.offset % bs == 0 && r.length % bs == 0);
        match self.size(&sidecar) {
            Ok(size) if size == total && aligned => {
                let mut bytes = vec![0u8; size as usize];
                self.read(&sidecar, 0, &mut bytes)?;
                let mut at = 0usize;
                for r in &hot {
                    for k in 0..r.length / bs {
                        let data: Arc<[u8]> = bytes[at..at + bs as usize].into();
                        self.cache.insert((id, r.offset / bs + k), data);
                        at += bs as usize;
                    }
                }
            }
            _ => self.preload(file, &hot)?,
        }
        // Only once it worked: a failed preload is tried again by the next query.
        self.files.get_mut(file).expect("checked above").hot_loaded = true;
        Ok(())
    }

    /// Checks every part of `file` that was read by range (and so never checked) against
    /// the hash in its URL: each is fetched whole — outside the byte budget, as this runs only
    /// after SQLite or tantivy found corrupt data — and compared with that hash and with the
    /// blocks already cached from it. Every part that fails has its blocks dropped from the
    /// cache; the first is named in [`EngineError::Corrupt`]; `Ok` means the bytes read so far
    /// are the ones the build wrote. Costs one request per unchecked part, none when all
    /// parts came whole.
    pub fn verify(&mut self, file: &str) -> Result<(), EngineError> {
        let st = self
            .files
            .get(file)
            .ok_or_else(|| EngineError::UnknownFile(file.into()))?;
        let todo: Vec<(usize, Part)> = st
            .unverified
            .iter()
            .map(|&i| (i, st.meta.parts[i].clone()))
            .collect();
        let saved = std::mem::take(&mut self.budget);
        let mut result = Ok(());
        for (index, part) in todo {
            // Every part, not just up to the first bad one: each bad one leaves the cache.
            if let Err(e) = self.verify_part(file, index, &part)
                && result.is_ok()
            {
                result = Err(e);
            }
        }
        self.budget = saved;
        result
    }

    /// [`Engine::verify`] for every file, in name order; the first bad part is named.
    pub fn verify_all(&mut self) -> Result<(), EngineError> {
        let mut names: Vec<String> = self
            .files
            .iter()
            .filter(|(_, st)| !st.unverified.is_empty())
            .map(|(name, _)| name.clone())
            .collect();
        names.sort();
        let mut result = Ok(());
        for name in names {
            if let Err(e) = self.verify(&name)
                && result.is_ok()
            {
                result = Err(e);
            }
        }
        result
    }

    fn verify_part(&mut self, file: &str, index: usize, part: &Part) -> Result<(), EngineError> {
        let req = Request {
            url: part.url.clone(),
            range: None,
        };
        let resp = self.send(&req, part.length)?;
        self.check_common(file, index, part, &resp)?;
        if resp.status != 200 {
            return Err(EngineError::Status {
                url: part.url.clone(),
                status: resp.status,
            });
        }
        if resp.body.len() as u64 != part.length {
            return Err(EngineError::Changed {
                url: part.url.clone(),
                detail: format!(
                    "200 with {} bytes, but the part has {}",
                    resp.body.len(),
                    part.length
                ),
            });
        }
        let st = &self.files[file];
        let (id, bs, size) = (st.id, st.meta.block_size as u64, st.meta.size);
        let (start, end) = (part.offset, part.offset + part.length);
        let blocks = start / bs..=(end - 1) / bs;
        // Compare the part's share of every cached block: bad bytes may have come in a
        // range answer even when the host now serves the part whole and right.
        let cached_ok = blocks.clone().all(|blk| {
            self.cache.peek((id, blk)).is_none_or(|data| {
                let (s, e) = ((blk * bs).max(start), ((blk + 1) * bs).min(end).min(size));
                let from = (s - blk * bs) as usize;
                data.get(from..from + (e - s) as usize)
                    == Some(&resp.body[(s - start) as usize..(e - start) as usize])
            })
        });
        if !cached_ok || !matches_url_hash(&part.url, &resp.body) {
            for blk in blocks {
                self.cache.remove((id, blk));
            }
            return Err(EngineError::Corrupt {
                url: part.url.clone(),
            });
        }
        self.files
            .get_mut(file)
            .expect("known file")
            .unverified
            .remove(&index);
        Ok(())
    }

    /// Fills `buf` with the bytes of `file` starting at `offset`.
    ///
    /// Answers are checked: a 206 must carry `Content-Range: bytes a-b/PART_LENGTH` for exactly
    /// the bytes asked and a body of that length; a 200 must carry exactly the whole part (a
    /// host that ignores Range) and is cached whole; any `Content-Encoding` is refused; an ETag
    /// that differs from the part's first one means the host's file changed.
    pub fn read(&mut self, file: &str, offset: u64, buf: &mut [u8]) -> Result<(), EngineError> {
        if buf.is_empty() {
            return Ok(());
        }
        let st = self
            .files
            .get_mut(file)
            .ok_or_else(|| EngineError::UnknownFile(file.into()))?;
        let (id, bs, size) = (st.id, st.meta.block_size as u64, st.meta.size);
        let len = buf.len() as u64;
        if offset.checked_add(len).is_none_or(|end| end > size) {
            return Err(EngineError::OutOfBounds {
                file: file.into(),
                offset,
                len,
                size,
            });
        }
        let first = offset / bs;
        let last = (offset + len - 1) / bs;
        let nblocks = size.div_ceil(bs);

        // Hold the cached blocks of this read now: fetching the others may evict them.
        let mut cached: HashMap<u64, Arc<[u8]>> = HashMap::new();
        let mut missing: Vec<u64> = (first..=last)
            .filter(|b| match self.cache.get((id, *b)) {
                Some(d) => {
                    cached.insert(*b, d);
                    false
                }
                None => true,
            })
            .collect();

        self.tick += 1;
        let tick = self.tick;
        let st = self.files.get_mut(file).expect("known file");
        let (ahead, head) = match st.heads.iter().position(|h| h.continues(first)) {
            Some(h) => {
                let head = &mut st.heads[h];
                // Not `clamp`: it panics when read-ahead is configured off (a cap of 0).
                head.ahead = (head.ahead * 2).max(1).min(st.ahead_cap);
                head.next = head.next.max(last + 1);
                head.used = tick;
                (head.ahead, Some(h))
            }
            None => {
                // Only a miss starts a head: the hot pages every lookup passes through are
                // hits, and must not push out the heads of a scan.
                if !missing.is_empty() {
                    let head = ReadHead {
                        next: last + 1,
                        frontier: last,
                        ahead: 0,
                        used: tick,
                    };
                    if st.heads.len() < READ_HEADS {
                        st.heads.push(head);
                    } else if let Some(old) = st.heads.iter_mut().min_by_key(|h| h.used) {
                        *old = head;
                    }
                    if let Some(t) = st.layout.tree_of(first) {
                        st.tree_misses[t] += 1;
                        if !st.tree_swept[t] && st.tree_misses[t] >= st.sweep_threshold(t) {
                            self.sweep(file, t, first)?;
                            missing.retain(|b| match self.cache.get((id, *b)) {
                                Some(d) => {
                                    cached.insert(*b, d);
                                    false
                                }
                                None => true,
                            });
                        }
                    }
                }
                (0, None)
            }
        };
        let st = &self.files[file];
        // Read ahead within the B-tree the read is in (its pages after VACUUM are one run),
        // or to the end of the file.
        let limit = st
            .layout
            .tree_of(last)
            .and_then(|t| st.layout.run_of(t, last))
            .map_or(nblocks - 1, |(_, end)| end.min(nblocks - 1));
        let mut todo = runs(&missing);
        if let Some(run) = todo.last_mut()
            && run.1 == last
        {
            // Read ahead up to the last block not cached yet, stepping over cached ones (the
            // hot interior pages among a tree's leaves: stopping at each would cut a scan
            // into a request per interior page), but not into a stretch already fetched.
            let (mut end, mut probe, mut cached_run) = (last, last, 0);
            while probe < last + ahead && probe < limit {
                probe += 1;
                if self.cache.contains((id, probe)) {
                    cached_run += 1;
                    if cached_run >= RUN_GAP_BLOCKS {
                        break;
                    }
                } else {
                    cached_run = 0;
                    end = probe;
                }
            }
            run.1 = end;
            if let Some(h) = head {
                let st = self.files.get_mut(file).expect("known file");
                let heads = st.heads.len() as u64;
                let head = &mut st.heads[h];
                head.frontier = head.frontier.max(end);
                // Room for every head to fetch this far ahead: an index scanned between the
                // table reads it drives must not lose what it fetched ahead to them.
                self.cache
                    .reserve(self.cache.base_capacity + heads * (end - last) * bs);
            }
        }
        let mut fetched: HashMap<u64, Arc<[u8]>> = HashMap::new();
        for (a, b) in todo {
            fetched.extend(self.fetch_blocks(file, a, b)?);
        }
        let mut pos = 0usize;
        for block in first..=last {
            let data = match fetched.remove(&block) {
                Some(d) => {
                    self.query.cache_misses += 1;
                    self.total.cache_misses += 1;
                    d
                }
                None => {
                    self.query.cache_hits += 1;
                    self.total.cache_hits += 1;
                    cached
                        .remove(&block)
                        .expect("a block not fetched now was cached")
                }
            };
            let block_start = block * bs;
            let from = (offset + pos as u64 - block_start) as usize;
            let n = (data.len() - from).min(buf.len() - pos);
            buf[pos..pos + n].copy_from_slice(&data[from..from + n]);
            pos += n;
        }
        debug_assert_eq!(pos, buf.len());
        if head.is_some() {
            self.drop_behind(file, first, last);
        }
        Ok(())
    }

    /// Demotes the blocks `first..=last` a sequential read has just consumed (see
    /// [`BlockCache::demote`]), but not hot blocks (interior pages every lookup passes
    /// through) nor those of a swept tree (read at random for the rest of the query).
    fn drop_behind(&mut self, file: &str, first: u64, last: u64) {
        let st = &self.files[file];
        let bs = st.meta.block_size as u64;
        for block in first..=last {
            let at = block * bs;
            let hot = st.hot_sorted.partition_point(|r| r.offset + r.length <= at);
            if st.hot_sorted.get(hot).is_some_and(|r| r.offset <= at) {
                continue;
            }
            if st.layout.tree_of(block).is_some_and(|t| st.tree_swept[t]) {
                continue;
            }
            self.cache.demote((st.id, block));
        }
    }

    /// Fetches B-tree `t` of `file` in large requests: all of it up to
    /// [`EngineConfig::sweep_max_bytes`], else the window (a sixteenth of the cache) that
    /// holds block `around`. Skipped
    /// when it would pass the byte budget: the reads then go on one by one, and the request
    /// budget stops a runaway query.
    fn sweep(&mut self, file: &str, t: usize, around: u64) -> Result<(), EngineError> {
        let st = &self.files[file];
        let (id, bs) = (st.id, st.meta.block_size as u64);
        let tree = &st.layout.trees[t];
        let whole = tree.blocks * bs <= self.config.sweep_max_bytes;
        let spans: Vec<(u64, u64)> = if whole {
            tree.runs.clone()
        } else {
            let window = (self.cache.base_capacity / 16 / bs).max(1);
            let Some((a, b)) = st.layout.run_of(t, around) else {
                return Ok(());
            };
            let start = a + (around - a) / window * window;
            vec![(start, (start + window - 1).min(b))]
        };
        // The blocks not cached yet, as runs that step over small cached gaps.
        let mut todo: Vec<(u64, u64)> = Vec::new();
        for (a, b) in spans {
            for blk in a..=b {
                if self.cache.contains((id, blk)) {
                    continue;
                }
                match todo.last_mut() {
                    Some(r) if blk <= r.1 + 1 + RUN_GAP_BLOCKS => r.1 = blk,
                    _ => todo.push((blk, blk)),
                }
            }
        }
        let bytes: u64 = todo.iter().map(|(a, b)| (b - a + 1) * bs).sum();
        if bytes == 0
            || self
                .budget
                .bytes
                .is_some_and(|limit| self.query.bytes + bytes > limit)
        {
            return Ok(());
        }
        let capacity = self.cache.capacity;
        if whole {
            self.files.get_mut(file).expect("known file").tree_swept[t] = true;
            // Room to take the tree in; once pinned it no longer counts against the cache.
            self.cache.grow_for(bytes);
        }
        self.query.sweeps += 1;
        self.total.sweeps += 1;
        let expected = self.query.bytes + bytes;
        self.expected_bytes = Some(self.expected_bytes.map_or(expected, |e| e.max(expected)));
        for (a, b) in todo {
            self.fetch_blocks(file, a, b)?;
        }
        if whole {
            // Held for the rest of the query: evicting a block of it would bring back the
            // random reads the sweep was for, and the tree is not swept twice.
            let st = &self.files[file];
            let (id, runs) = (st.id, st.layout.trees[t].runs.clone());
            for (a, b) in runs {
                for blk in a..=b {
                    self.cache.pin((id, blk));
                }
            }
            self.cache.capacity = capacity;
            self.cache.evict();
        }
        Ok(())
    }

    /// Fetches blocks `a..=b` of `file` (one request per part they touch), caches them and
    /// returns them, plus any other whole blocks a 200 answer carried.
    fn fetch_blocks(
        &mut self,
        file: &str,
        a: u64,
        b: u64,
    ) -> Result<HashMap<u64, Arc<[u8]>>, EngineError> {
        let st = &self.files[file];
        let (id, bs, size) = (st.id, st.meta.block_size as u64, st.meta.size);
        let start = a * bs;
        let end = ((b + 1) * bs).min(size);
        let pieces: Vec<(usize, Part, ByteRange)> = Manifest::parts_for(
            &st.meta,
            ByteRange {
                offset: start,
                length: end - start,
            },
        )
        .into_iter()
        .map(|(p, r)| {
            (
                st.meta
                    .parts
                    .iter()
                    .position(|q| q.offset == p.offset)
                    .expect("part of this file"),
                p.clone(),
                r,
            )
        })
        .collect();
        let mut bytes = Vec::with_capacity((end - start) as usize);
        let mut out = HashMap::new();
        for (index, part, range) in pieces {
            let whole = range.offset == 0 && range.length == part.length;
            let req = Request {
                url: part.url.clone(),
                range: if whole { None } else { Some(range) },
            };
            let resp = self.send(&req, range.length)?;
            self.check_common(file, index, &part, &resp)?;
            match resp.status {
                206 => {
                    let expected = format!(
                        "bytes {}-{}/{}",
                        range.offset,
                        range.offset + range.length - 1,
                        part.length
                    );
                    match &resp.content_range {
                        Some(cr) if cr.trim() == expected => {}
                        Some(cr) if !cr.trim().ends_with(&format!("/{}", part.length)) => {
                            return Err(EngineError::Changed {
                                url: part.url,
                                detail: format!(
                                    "Content-Range `{cr}`, expected a total of {}",
                                    part.length
                                ),
                            });
                        }
                        other => {
                            return Err(EngineError::Mismatch {
                                url: part.url,
                                detail: format!("Content-Range {other:?}, expected `{expected}`"),
                            });
                        }
                    }
                    if resp.body.len() as u64 != range.length {
                        return Err(EngineError::Mismatch {
                            url: part.url,
                            detail: format!(
                                "{} bytes received, {} expected",
                                resp.body.len(),
                                range.length
                            ),
                        });
                    }
                    bytes.extend_from_slice(&resp.body);
                    self.files
                        .get_mut(file)
                        .expect("known file")
                        .unverified
                        .insert(index);
                }
                200 => {
                    if resp.body.len() as u64 != part.length {
                        return Err(EngineError::Changed {
                            url: part.url,
                            detail: format!(
                                "200 with {} bytes, but the part has {}",
                                resp.body.len(),
                                part.length
                            ),
                        });
                    }
                    if !matches_url_hash(&part.url, &resp.body) {
                        return Err(EngineError::Corrupt { url: part.url });
                    }
                    bytes.extend_from_slice(
                        &resp.body[range.offset as usize..(range.offset + range.length) as usize],
                    );
                    // Keep every other whole block the host sent: it was paid for.
                    let cached: BTreeSet<u64> = (part.offset / bs
                        ..=(part.offset + part.length) / bs)
                        .filter(|blk| self.cache.contains((id, *blk)))
                        .collect();
                    self.cache_whole_blocks(id, bs, size, &part, &resp.body, |blk| {
                        (blk < a || blk > b) && !cached.contains(&blk)
                    });
                }
                status => {
                    return Err(EngineError::Status {
                        url: part.url,
                        status,
                    });
                }
            }
        }
        for blk in a..=b {
            // A block read ahead over may be cached already: the bytes first handed out stay,
            // so that `verify` compares what SQLite or tantivy really saw with the part.
            let data = match self.cache.get((id, blk)) {
                Some(seen) => seen,
                None => {
                    let s = ((blk - a) * bs) as usize;
                    let e = (s + bs as usize).min(bytes.len());
                    let data: Arc<[u8]> = bytes[s..e].into();
                    self.cache.insert((id, blk), data.clone());
                    data
                }
            };
            out.insert(blk, data);
        }
        Ok(out)
    }

    /// Encoding and ETag checks common to 200 and 206.
    fn check_common(
        &mut self,
        file: &str,
        index: usize,
        part: &Part,
        resp: &Response,
    ) -> Result<(), EngineError> {
        if let Some(enc) = &resp.content_encoding
            && !enc.trim().is_empty()
            && !enc.trim().eq_ignore_ascii_case("identity")
        {
            return Err(EngineError::Compressed {
                url: part.url.clone(),
                encoding: enc.clone(),
            });
        }
        if let Some(etag) = &resp.etag {
            let st = self.files.get_mut(file).expect("known file");
            match st.etags.get(&index) {
                Some(first) if etag_core(first) != etag_core(etag) => {
                    return Err(EngineError::Changed {
                        url: part.url.clone(),
                        detail: format!("ETag {first} became {etag}"),
                    });
                }
                Some(_) => {}
                None => {
                    st.etags.insert(index, etag.clone());
                }
            }
        }
        Ok(())
    }

    /// Sends one request for `want` bytes with the budget check and bounded retries for transient failures.
    fn send(&mut self, req: &Request, want: u64) -> Result<Response, EngineError> {
        if let Some(limit) = self.budget.bytes
            && self.query.bytes + want > limit
        {
            return Err(EngineError::Budget {
                fetched: self.query.bytes,
                limit,
            });
        }
        if let Some(limit) = self.budget.requests
            && self.query.requests >= limit
        {
            return Err(EngineError::RequestBudget {
                sent: self.query.requests,
                limit,
            });
        }
        let mut attempt = 0;
        loop {
            for s in [&mut self.query, &mut self.total] {
                s.requests += 1;
                s.round_trips += 1;
                if attempt > 0 {
                    s.retries += 1;
                }
            }
            let result = self.fetch.fetch(req);
            let transient = match &result {
                Ok(r) => {
                    self.query.bytes += r.body.len() as u64;
                    self.total.bytes += r.body.len() as u64;
                    if let Some(sink) = &mut self.progress {
                        sink(Progress {
                            requests: self.query.requests,
                            bytes: self.query.bytes,
                            expected_bytes: self.expected_bytes,
                        });
                    }
                    if matches!(r.status, 500..=599 | 429) {
                        Some(format!("status {}", r.status))
                    } else {
                        None
                    }
                }
                Err(e) => Some(e.0.clone()),
            };
            match (transient, result) {
                (None, Ok(r)) => return Ok(r),
                (Some(msg), result) => {
                    if attempt >= self.config.retries {
                        return Err(match result {
                            Ok(r) => EngineError::Status {
                                url: req.url.clone(),
                                status: r.status,
                            },
                            Err(_) => EngineError::Network {
                                url: req.url.clone(),
                                message: msg,
                            },
                        });
                    }
                    self.fetch
                        .sleep_ms(self.config.backoff_ms.saturating_mul(1 << attempt.min(16)));
                    attempt += 1;
                }
                (None, Err(_)) => unreachable!("an error is always transient"),
            }
        }
    }
}

/// Runs of consecutive numbers in a sorted list, as (first, last).
fn runs(sorted: &[u64]) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for &b in sorted {
        match out.last_mut() {
            Some(r) if r.1 + 1 == b => r.1 = b,
            _ => out.push((b, b)),
        }
    }
    out
}

#[cfg(test)]
mod tests;
