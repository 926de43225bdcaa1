//! Property tests ("fuzzing" that runs on stable Rust; see docs/fuzzing.md) of the range
//! engine's block and part arithmetic against a model: a logical file is a byte vector cut
//! into parts of random sizes, served from memory by a host that honours Range. Whatever the
//! block size, cache size, read-ahead and read pattern, the engine must return exactly the
//! model's bytes, ask only for bytes inside a part, and, through a host that misbehaves,
//! return the right bytes or an error — never wrong bytes, never a panic.
//!
//! `PROPTEST_CASES=N` runs N cases per property instead of the smoke-run default.

use std::cell::RefCell;
use std::collections::BTreeMap;

use proptest::prelude::*;
use wasm_query::engine::{Engine, EngineConfig, EngineError};
use wasm_query::fetch::{Fault, Faulty, Fetch, NetworkError, Request, Response};
use wasm_query::manifest::{ByteRange, LogicalFile, MANIFEST_VERSION, Manifest, Part};

/// Cases per property: `PROPTEST_CASES` if set, else the smoke-run default.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config(default_cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: cases(default_cases),
        // Failures are turned into named regression tests by hand; no files appear in the tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A host serving parts from memory the way a Range-honouring server does, and recording
/// every request so the test can check it stayed inside a part.
struct MemHost {
    parts: BTreeMap<String, Vec<u8>>,
    log: RefCell<Vec<Request>>,
}

impl Fetch for MemHost {
    fn fetch(&self, req: &Request) -> Result<Response, NetworkError> {
        self.log.borrow_mut().push(req.clone());
        let Some(bytes) = self.parts.get(&req.url) else {
            return Ok(Response {
                status: 404,
                ..Response::default()
            });
        };
        let total = bytes.len() as u64;
        let etag = Some(format!("\"{}-{total}\"", req.url.len()));
        match req.range {
            None => Ok(Response {
                status: 200,
                etag,
                body: bytes.clone(),
                ..Response::default()
            }),
            Some(r) if r.length == 0 || r.offset >= total => Ok(Response {
                status: 416,
                content_range: Some(format!("bytes */{total}")),
                ..Response::default()
            }),
            Some(r) => {
                let end = r.offset.saturating_add(r.length).min(total);
                Ok(Response {
                    status: 206,
                    content_range: Some(format!("bytes {}-{}/{total}", r.offset, end - 1)),
                    etag,
                    body: bytes[r.offset as usize..end as usize].to_vec(),
                    ..Response::default()
                })
            }
        }
    }
}

/// Records the engine's own requests (before a fault injector rewrites them).
struct Recorder<F> {
    inner: F,
    log: RefCell<Vec<Request>>,
}

impl<F: Fetch> Fetch for Recorder<F> {
    fn fetch(&self, req: &Request) -> Result<Response, NetworkError> {
        self.log.borrow_mut().push(req.clone());
        self.inner.fetch(req)
    }
}

/// The model: one logical file `f`, its bytes, and where each part sits.
struct Site {
    data: Vec<u8>,
    manifest: Manifest,
    host: MemHost,
}

/// `data` cut into parts of `sizes` (cycled, the last part takes the rest); with `hot`
/// ranges and, if `sidecar`, the `f.hot` file holding their bytes in order.
fn site(
    data: Vec<u8>,
    sizes: &[usize],
    block_size: u32,
    hot: Vec<ByteRange>,
    sidecar: bool,
) -> Site {
    let mut parts = Vec::new();
    let mut served = BTreeMap::new();
    let mut at = 0usize;
    let mut i = 0usize;
    while at < data.len() {
        let len = sizes[i % sizes.len()].clamp(1, data.len() - at);
        // Named as the generator names parts, with the hash the engine checks whole answers by.
        let hash = blake3::hash(&data[at..at + len]).to_hex();
        let url = format!("/_data/f.{i}.{}.bin", &hash[..16]);
        served.insert(url.clone(), data[at..at + len].to_vec());
        parts.push(Part {
            url,
            offset: at as u64,
            length: len as u64,
        });
        at += len;
        i += 1;
    }
    let mut files = BTreeMap::new();
    if sidecar && !hot.is_empty() {
        let bytes: Vec<u8> = hot
            .iter()
            .flat_map(|r| {
                data[r.offset as usize..(r.offset + r.length) as usize]
                    .iter()
                    .copied()
            })
            .collect();
        let url = "/_data/f.hot.0.bin".to_string();
        files.insert(
            "f.hot".to_string(),
            LogicalFile {
                size: bytes.len() as u64,
                block_size: 1 << 16,
                hash: String::new(),
                parts: vec![Part {
                    url: url.clone(),
                    offset: 0,
                    length: bytes.len() as u64,
                }],
                hot: vec![],
            },
        );
        served.insert(url, bytes);
    }
    files.insert(
        "f".to_string(),
        LogicalFile {
            size: data.len() as u64,
            block_size,
            hash: String::new(),
            parts,
            hot,
        },
    );
    let manifest = Manifest {
        version: MANIFEST_VERSION,
        generator: "fuzz".into(),
        files,
        databases: BTreeMap::new(),
        search: None,
    };
    manifest
        .validate()
        .expect("the model builds valid manifests");
    Site {
        data,
        manifest,
        host: MemHost {
            parts: served,
            log: RefCell::new(Vec::new()),
        },
    }
}

/// Every request names a part and asks only for bytes inside it.
fn assert_inside_parts(manifest: &Manifest, log: &[Request]) -> Result<(), TestCaseError> {
    for req in log {
        let part = manifest
            .files
            .values()
            .flat_map(|f| f.parts.iter())
            .find(|p| p.url == req.url);
        let Some(part) = part else {
            return Err(TestCaseError::fail(format!(
                "request for unknown URL {}",
                req.url
            )));
        };
        if let Some(r) = req.range {
            prop_assert!(r.length > 0, "empty range requested: {req:?}");
            prop_assert!(
                r.offset
                    .checked_add(r.length)
                    .is_some_and(|e| e <= part.length),
                "range {r:?} is outside part {part:?}"
            );
        }
    }
    Ok(())
}

/// A read: either near the last one (sequential scans, re-reads) or anywhere; lengths up to a
/// few blocks, sometimes reaching past the end or at absurd offsets.
#[derive(Debug, Clone)]
enum ReadOp {
    /// `offset` as a fraction of the file size (per mille), `len` in bytes.
    At { permille: u16, len: usize },
    /// Continue where the previous read stopped.
    Next { len: usize },
    /// Past the end of the file (must be `OutOfBounds`, not a panic).
    Beyond { offset: u64, len: usize },
}

fn read_op() -> impl Strategy<Value = ReadOp> {
    prop_oneof![
        6 => (0u16..1000, 1usize..6000).prop_map(|(permille, len)| ReadOp::At { permille, len }),
        4 => (1usize..3000).prop_map(|len| ReadOp::Next { len }),
        1 => (prop_oneof![Just(u64::MAX), Just(u64::MAX - 1), any::<u64>()], 1usize..64)
            .prop_map(|(offset, len)| ReadOp::Beyond { offset, len }),
    ]
}

/// Engine settings, from tiny caches (evicting constantly) to large ones.
fn engine_config() -> impl Strategy<Value = EngineConfig> {
    (
        prop_oneof![Just(1u64), 1u64..20_000, Just(1u64 << 30)],
        0u64..20,
        0u32..3,
    )
        .prop_map(
            |(cache_bytes, read_ahead_max_blocks, retries)| EngineConfig {
                cache_bytes,
                read_ahead_max_blocks,
                retries,
                backoff_ms: 1,
                ..EngineConfig::default()
            },
        )
}

/// File bytes, part sizes, block size, hot range picks (per mille, blocks), whether a
/// `.hot` sidecar holds the hot ranges' bytes.
type Layout = (Vec<u8>, Vec<usize>, u32, Vec<(u64, u64)>, bool);

/// A file of 1..20,000 bytes, part sizes, a block size and block-aligned hot ranges.
fn layout() -> impl Strategy<Value = Layout> {
    (
        1usize..20_000,
        prop::collection::vec(1usize..9000, 1..6),
        prop_oneof![
            1u32..64,
            64u32..5000,
            Just(512u32),
            Just(1024u32),
            Just(4096u32)
        ],
        prop::collection::vec((0u64..1000, 1u64..4), 0..4),
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(|(n, sizes, bs, hot, sidecar, seed)| {
            // Bytes that differ from their neighbours, so a shifted slice cannot pass.
            let data = (0..n as u64)
                .map(|i| (i.wrapping_add(seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8)
                .collect();
            (data, sizes, bs, hot, sidecar)
        })
}

/// Hot ranges as whole blocks inside the file (the last may be a partial block).
fn hot_ranges(size: u64, bs: u32, picks: &[(u64, u64)]) -> Vec<ByteRange> {
    let bs = bs as u64;
    let nblocks = size.div_ceil(bs);
    picks
        .iter()
        .map(|&(permille, blocks)| {
            let first = permille * nblocks / 1000;
            let last = (first + blocks).min(nblocks);
            let offset = first * bs;
            ByteRange {
                offset,
                length: (last * bs).min(size) - offset,
            }
        })
        .filter(|r| r.length > 0)
        .collect()
}

/// Runs `ops` against `engine` and counts the reads that failed (allowed only when `faults`
/// is set). Wrong bytes, or an error other than out-of-bounds for a read past the end, fail
/// the property at once.
fn run_reads<F: Fetch>(
    engine: &mut Engine<F>,
    data: &[u8],
    ops: &[ReadOp],
    faults: bool,
) -> Result<u32, TestCaseError> {
    let size = data.len() as u64;
    let mut next = 0u64;
    let mut errors = 0;
    for op in ops {
        let (offset, len) = match *op {
            ReadOp::At { permille, len } => (size * permille as u64 / 1000, len),
            ReadOp::Next { len } => (next, len),
            ReadOp::Beyond { offset, len } => (offset.max(size), len),
        };
        let mut buf = vec![0xA5u8; len];
        let got = engine.read("f", offset, &mut buf);
        let in_bounds = offset.checked_add(len as u64).is_some_and(|e| e <= size);
        match got {
            Ok(()) => {
                prop_assert!(in_bounds, "read of {len} at {offset} past {size} succeeded");
                let want = &data[offset as usize..offset as usize + len];
                prop_assert!(buf == want, "wrong bytes for read of {len} at {offset}");
            }
            Err(EngineError::OutOfBounds { .. }) => {
                prop_assert!(!in_bounds, "in-bounds read of {len} at {offset} refused");
            }
            Err(e) => {
                prop_assert!(
                    faults,
                    "read of {len} at {offset} failed on a good host: {e}"
                );
                errors += 1;
            }
        }
        next = offset.saturating_add(len as u64).min(size);
    }
    Ok(errors)
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        Just(Fault::Drop),
        prop_oneof![
            Just(500u16),
            Just(503),
            Just(429),
            Just(404),
            Just(200),
            Just(206),
            Just(304)
        ]
        .prop_map(Fault::Status),
        Just(Fault::IgnoreRange),
        (0usize..5000).prop_map(Fault::Truncate),
        (0usize..5000).prop_map(Fault::ShortWhole),
        Just(Fault::Compress),
        Just(Fault::ChangeEtag),
        Just(Fault::WrongTotal),
        Just(Fault::WeakEtag),
    ]
}

/// Faults that spoil bytes or answers but never the ETag (so `verify` can name the part).
fn corrupting_fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        3 => Just(Fault::Corrupt),
        1 => Just(Fault::Drop),
        1 => Just(Fault::Status(503)),
        1 => Just(Fault::IgnoreRange),
        1 => (0usize..5000).prop_map(Fault::Truncate),
        1 => Just(Fault::WeakEtag),
    ]
}

proptest! {
    #![proptest_config(config(1000))]

    /// Through a good host every read returns the model's bytes and every request stays inside
    /// a part, whatever the layout, cache size, read-ahead and hot preloading.
    #[test]
    fn reads_match_the_model(
        (data, sizes, bs, picks, sidecar) in layout(),
        cfg in engine_config(),
        preload in any::<bool>(),
        ops in prop::collection::vec(read_op(), 1..40),
    ) {
        let hot = hot_ranges(data.len() as u64, bs, &picks);
        let s = site(data, &sizes, bs, hot, sidecar);
        let mut engine = Engine::new(&s.host, &s.manifest, cfg);
        if preload {
            engine.preload_hot("f").map_err(|e| TestCaseError::fail(format!("preload: {e}")))?;
        }
        run_reads(&mut engine, &s.data, &ops, false)?;
        assert_inside_parts(&s.manifest, &s.host.log.borrow())?;
    }

    /// Through a host that drops, errors, truncates, ignores Range, compresses, changes ETags
    /// or lies about totals, every read returns the model's bytes or an error; the engine's own
    /// requests still stay inside parts.
    #[test]
    fn faults_give_right_bytes_or_an_error(
        (data, sizes, bs, picks, sidecar) in layout(),
        cfg in engine_config(),
        queued in prop::collection::vec(prop::option::weighted(0.6, fault()), 0..12),
        always in prop::option::weighted(0.2, fault()),
        preload in any::<bool>(),
        ops in prop::collection::vec(read_op(), 1..30),
    ) {
        let hot = hot_ranges(data.len() as u64, bs, &picks);
        let s = site(data, &sizes, bs, hot, sidecar);
        let faulty = Faulty::new(&s.host);
        for f in queued {
            match f {
                Some(f) => faulty.then(f),
                // A good answer between the faults: the fault queue has no "pass", so
                // an IgnoreRange (always a right answer) stands in for one.
                None => faulty.then(Fault::IgnoreRange),
            };
        }
        faulty.always(always);
        let rec = Recorder { inner: &faulty, log: RefCell::new(Vec::new()) };
        let mut engine = Engine::new(&rec, &s.manifest, cfg);
        if preload {
            // A failed preload is allowed; reads after it must still be right or errors.
            let _ = engine.preload_hot("f");
        }
        run_reads(&mut engine, &s.data, &ops, true)?;
        assert_inside_parts(&s.manifest, &rec.log.borrow())?;
    }

    /// A host that flips bytes can make a ranged read return wrong bytes (a range carries no
    /// hash); then `verify` must name a corrupt part, and once it has dropped every bad one,
    /// reads are right again. With a cache large enough to keep everything it was given.
    #[test]
    fn corruption_is_named_by_verify(
        (data, sizes, bs, _, _) in layout(),
        queued in prop::collection::vec(prop::option::weighted(0.5, corrupting_fault()), 0..12),
        ops in prop::collection::vec(read_op(), 1..20),
    ) {
        check_corruption_is_named(data, &sizes, bs, queued, &ops)?;
    }

    /// `parts_for` maps any in-bounds range onto the parts that tile it: pieces in order,
    /// each inside its part, together exactly the range.
    #[test]
    fn parts_for_tiles_the_range(
        (data, sizes, bs, _, _) in layout(),
        start in 0u64..1000,
        len in 1u64..30_000,
    ) {
        let s = site(data, &sizes, bs, vec![], false);
        let file = &s.manifest.files["f"];
        let offset = file.size * start / 1000;
        let length = len.min(file.size - offset);
        prop_assume!(length > 0);
        let pieces = Manifest::parts_for(file, ByteRange { offset, length });
        let mut at = offset;
        for (part, r) in &pieces {
            prop_assert_eq!(part.offset + r.offset, at, "pieces are not contiguous");
            prop_assert!(r.length > 0 && r.offset + r.length <= part.length);
            at += r.length;
        }
        prop_assert_eq!(at, offset + length);
    }

    /// `validate` never panics on hostile layouts (lengths whose sum wraps around, hot ranges
    /// past the end of u64) and accepts exactly those that tile the file, as checked here in
    /// 128-bit arithmetic.
    #[test]
    fn validate_accepts_exactly_tilings(
        mode in 0u8..3,
        lengths in prop::collection::vec(prop_oneof![any::<u64>(), 0u64..100, Just(u64::MAX)], 0..5),
        offsets in prop::collection::vec(any::<u64>(), 5),
        size in prop_oneof![any::<u64>(), 0u64..300],
        block_size in prop_oneof![Just(0u32), 1u32..8192],
        hot in prop::collection::vec((prop_oneof![any::<u64>(), 0u64..300], prop_oneof![any::<u64>(), 0u64..300]), 0..3),
    ) {
        // 0: real tilings (the accepts); 1: parts chained with wrapping sums, as a reader that
        // adds without checking would accept; 2: anything.
        let mut at = 0u64;
        let parts: Vec<(u64, u64)> = lengths
            .iter()
            .enumerate()
            .map(|(i, &l)| {
                let l = if mode == 0 { l % 100 + 1 } else { l };
                let p = (if mode == 2 { offsets[i] } else { at }, l);
                at = at.wrapping_add(l);
                p
            })
            .collect();
        let size = if mode == 2 { size } else { at };
        let hot: Vec<ByteRange> = hot
            .iter()
            .map(|&(offset, length)| ByteRange { offset, length })
            .collect();
        let file = LogicalFile {
            size,
            block_size,
            hash: String::new(),
            parts: parts
                .iter()
                .enumerate()
                .map(|(i, &(offset, length))| Part { url: format!("/p{i}"), offset, length })
                .collect(),
            hot: hot.clone(),
        };
        let m = Manifest {
            version: MANIFEST_VERSION,
            generator: "fuzz".into(),
            files: BTreeMap::from([("f".to_string(), file)]),
            databases: BTreeMap::new(),
            search: None,
        };
        let mut end = 0u128;
        let mut tiles = true;
        for &(o, l) in &parts {
            tiles &= o as u128 == end && l > 0;
            end += l as u128;
        }
        tiles &= end == size as u128 && block_size > 0;
        tiles &= hot.iter().all(|r| r.offset as u128 + r.length as u128 <= size as u128);
        let got = m.validate();
        prop_assert_eq!(got.is_ok(), tiles, "validate said {:?}", got);
        // And through JSON, as the browser reads it.
        let text = serde_json::to_string(&m).unwrap();
        prop_assert_eq!(Manifest::from_json(&text).is_ok(), tiles);
    }

    /// Arbitrary text as a manifest is an error, never a panic.
    #[test]
    fn manifest_text_never_panics(text in "\\PC{0,200}") {
        let _ = Manifest::from_json(&text);
    }
}

/// The body of `corruption_is_named_by_verify`: `queued` faults (a `None` is a good answer)
/// served in turn while `ops` are read; wrong bytes read must make `verify` name a part.
fn check_corruption_is_named(
    data: Vec<u8>,
    sizes: &[usize],
    bs: u32,
    queued: Vec<Option<Fault>>,
    ops: &[ReadOp],
) -> Result<(), TestCaseError> {
    let s = site(data, sizes, bs, vec![], false);
    let faulty = Faulty::new(&s.host);
    let n = queued.len();
    for f in queued {
        faulty.then(f.unwrap_or(Fault::IgnoreRange));
    }
    let cfg = EngineConfig {
        cache_bytes: 1 << 30,
        read_ahead_max_blocks: 8,
        retries: 1,
        backoff_ms: 1,
        ..EngineConfig::default()
    };
    let mut engine = Engine::new(&faulty, &s.manifest, cfg);
    let size = s.data.len() as u64;
    let mut wrong = false;
    let mut next = 0u64;
    let mut spans = Vec::new();
    for op in ops {
        let (offset, len) = match *op {
            ReadOp::At { permille, len } => (size * permille as u64 / 1000, len),
            ReadOp::Next { len } => (next, len),
            ReadOp::Beyond { offset, len } => (offset.max(size), len),
        };
        let mut buf = vec![0u8; len];
        if engine.read("f", offset, &mut buf).is_ok() {
            wrong |= buf != s.data[offset as usize..offset as usize + len];
            spans.push((offset, len));
        }
        next = offset.saturating_add(len as u64).min(size);
    }
    // Use up the faults not yet served, so `verify` talks to the good host.
    for _ in 0..n {
        let _ = faulty.fetch(&Request {
            url: String::new(),
            range: None,
        });
    }
    let mut named = 0;
    loop {
        match engine.verify("f") {
            Ok(()) => break,
            Err(EngineError::Corrupt { .. }) => named += 1,
            Err(e) => return Err(TestCaseError::fail(format!("verify: {e}"))),
        }
        prop_assert!(
            named <= s.manifest.files["f"].parts.len(),
            "verify never settles"
        );
    }
    prop_assert!(
        !wrong || named > 0,
        "wrong bytes were read but verify found nothing"
    );
    for (offset, len) in spans {
        let mut buf = vec![0u8; len];
        engine
            .read("f", offset, &mut buf)
            .map_err(|e| TestCaseError::fail(format!("re-read: {e}")))?;
        prop_assert!(
            buf == s.data[offset as usize..offset as usize + len],
            "wrong bytes after verify"
        );
    }

    Ok(())
}

/// Found by CI: a read fetched blocks again that an earlier read had cached with a host's
/// flipped bytes, and put the right bytes over them, so `verify` found the cache clean after
/// wrong bytes had been returned.
#[test]
fn a_block_read_wrong_stays_as_read_until_verify() {
    let data = (0..14_457u64)
        .map(|i| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8)
        .collect();
    let ok = None;
    let queued = vec![
        ok.clone(),
        ok.clone(),
        Some(Fault::Corrupt),
        ok.clone(),
        ok,
        Some(Fault::Truncate(0)),
    ];
    let ops = [
        ReadOp::Beyond {
            offset: u64::MAX,
            len: 1,
        },
        ReadOp::At {
            permille: 0,
            len: 3073,
        },
        ReadOp::At {
            permille: 850,
            len: 1,
        },
        ReadOp::At {
            permille: 0,
            len: 1,
        },
        ReadOp::At {
            permille: 417,
            len: 4170,
        },
        ReadOp::Next { len: 1067 },
    ];
    check_corruption_is_named(data, &[3328], 1024, queued, &ops).unwrap();
}

/// The engine read a block it had counted as cached after fetching its neighbours, which
/// could evict it from a small cache: "a block not fetched now was cached" panicked.
#[test]
fn small_cache_keeps_the_blocks_of_the_read_in_progress() {
    let data: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 251) as u8).collect();
    let s = site(data, &[4096], 512, vec![], false);
    let cfg = EngineConfig {
        cache_bytes: 1024,
        read_ahead_max_blocks: 0,
        retries: 0,
        backoff_ms: 1,
        ..EngineConfig::default()
    };
    let mut e = Engine::new(&s.host, &s.manifest, cfg);
    let mut one = [0u8; 1];
    e.read("f", 512, &mut one).unwrap();
    // Block 1 is cached, blocks 0 and 2 are not: fetching them evicts block 1.
    let mut buf = vec![0u8; 1536];
    e.read("f", 0, &mut buf).unwrap();
    assert_eq!(buf, s.data[..1536]);
}

/// `offset + len` overflowed for a read at an absurd offset instead of being out of bounds.
#[test]
fn read_at_the_end_of_u64_is_out_of_bounds() {
    let s = site(vec![1, 2, 3], &[3], 512, vec![], false);
    let mut e = Engine::new(&s.host, &s.manifest, EngineConfig::default());
    let mut buf = [0u8; 2];
    assert!(matches!(
        e.read("f", u64::MAX, &mut buf),
        Err(EngineError::OutOfBounds { .. })
    ));
}

/// With read-ahead configured off (a cap of 0), a sequential read panicked in `clamp(1, 0)`.
#[test]
fn sequential_reads_with_read_ahead_off() {
    let data: Vec<u8> = (0..2048u32).map(|i| (i % 253) as u8).collect();
    let s = site(data, &[2048], 512, vec![], false);
    let cfg = EngineConfig {
        read_ahead_max_blocks: 0,
        ..EngineConfig::default()
    };
    let mut e = Engine::new(&s.host, &s.manifest, cfg);
    let mut buf = vec![0u8; 512];
    e.read("f", 0, &mut buf).unwrap();
    e.read("f", 512, &mut buf).unwrap();
    assert_eq!(buf, s.data[512..1024]);
}

/// Part lengths whose sum wraps around u64 overflowed in `validate` (a panic in debug builds;
/// in release, a wrapped sum could make a hostile manifest look like a tiling).
#[test]
fn validate_refuses_lengths_that_wrap() {
    let file = LogicalFile {
        size: 1,
        block_size: 512,
        hash: String::new(),
        parts: vec![
            Part {
                url: "/a".into(),
                offset: 0,
                length: u64::MAX,
            },
            Part {
                url: "/b".into(),
                offset: u64::MAX,
                length: 2,
            },
        ],
        hot: vec![],
    };
    let m = Manifest {
        version: MANIFEST_VERSION,
        generator: "fuzz".into(),
        files: BTreeMap::from([("f".to_string(), file)]),
        databases: BTreeMap::new(),
        search: None,
    };
    assert!(m.validate().is_err());
}
