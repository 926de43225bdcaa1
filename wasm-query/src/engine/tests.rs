use std::collections::BTreeMap;

use super::*;
use crate::fetch::{DirFetch, Fault, Faulty};
use crate::manifest::MANIFEST_VERSION;

const BS: u32 = 1024;

/// A site folder with one logical file `f` of `size` bytes in parts of `part_blocks` blocks.
fn site(size: usize, part_blocks: u64) -> (tempfile::TempDir, Manifest, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..size as u64)
        .map(|i| (i.wrapping_mul(2654435761) >> 7) as u8)
        .collect();
    let file = crate::test_support::write_parts(
        dir.path(),
        "f",
        &data,
        BS,
        (part_blocks * BS as u64) as usize,
    );
    let manifest = Manifest {
        version: MANIFEST_VERSION,
        generator: "test".into(),
        files: BTreeMap::from([("f".to_string(), file)]),
        databases: BTreeMap::new(),
        search: None,
    };
    manifest.validate().unwrap();
    (dir, manifest, data)
}

fn config() -> EngineConfig {
    EngineConfig {
        cache_bytes: 1 << 30,
        read_ahead_max_blocks: 64,
        retries: 2,
        backoff_ms: 100,
        ..EngineConfig::default()
    }
}

fn read(e: &mut Engine<impl Fetch>, offset: u64, len: usize) -> Result<Vec<u8>, EngineError> {
    let mut buf = vec![0u8; len];
    e.read("f", offset, &mut buf)?;
    Ok(buf)
}

#[test]
fn reads_match_the_file_across_blocks_and_parts() {
    let (dir, m, data) = site(50_000, 4);
    let mut e = Engine::new(DirFetch::new(dir.path()), &m, config());
    let mut seed = 7u64;
    for _ in 0..300 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let off = (seed >> 33) % 50_000;
        let len = 1 + ((seed >> 13) % 9000).min(50_000 - off - 1);
        assert_eq!(
            read(&mut e, off, len as usize).unwrap(),
            data[off as usize..(off + len) as usize]
        );
    }
    // The last partial block and a read of the whole file.
    assert_eq!(read(&mut e, 49_999, 1).unwrap(), [data[49_999]]);
    assert_eq!(read(&mut e, 0, 50_000).unwrap(), data);
}

#[test]
fn coalesces_neighbouring_blocks_and_caches_them() {
    let (dir, m, data) = site(64 * 1024, 64);
    let mut e = Engine::new(DirFetch::new(dir.path()), &m, config());
    e.begin_query(None);
    assert_eq!(read(&mut e, 1000, 5000).unwrap(), data[1000..6000]);
    let s = e.query_stats();
    assert_eq!(
        (s.requests, s.cache_misses, s.bytes),
        (1, 6, 6 * 1024),
        "{s:?}"
    );
    e.begin_query(None);
    read(&mut e, 1000, 5000).unwrap();
    let s = e.query_stats();
    assert_eq!((s.requests, s.cache_hits), (0, 6));
}

#[test]
fn a_read_spanning_two_parts_costs_one_request_per_part() {
    let (dir, m, data) = site(16 * 1024, 4);
    let mut e = Engine::new(DirFetch::new(dir.path()), &m, config());
    e.begin_query(None);
    assert_eq!(read(&mut e, 3 * 1024, 2048).unwrap(), data[3072..5120]);
    assert_eq!(e.query_stats().requests, 2);
}

#[test]
fn sequential_reads_double_the_read_ahead() {
    let blocks = 1024u64;
    let (dir, m, data) = site((blocks * BS as u64) as usize, blocks);
    let mut e = Engine::new(DirFetch::new(dir.path()), &m, config());
    e.begin_query(None);
    for b in 0..blocks {
        let got = read(&mut e, b * BS as u64, BS as usize).unwrap();
        assert_eq!(
            got,
            data[(b * BS as u64) as usize..((b + 1) * BS as u64) as usize]
        );
    }
    let s = e.query_stats();
    // 1 + 2 + 3 + 5 + 9 + 17 + 33 + 65 blocks, then 65 per request: far below one per block.
    assert!(s.requests <= 22, "{s:?}");
    assert_eq!(s.cache_hits + s.cache_misses, blocks);
    // A random jump resets it: the next read fetches just its block.
    e.begin_query(None);
    let mut fresh = Engine::new(DirFetch::new(dir.path()), &m, config());
    fresh.begin_query(None);
    read(&mut fresh, 500 * BS as u64, 10).unwrap();
    read(&mut fresh, 100 * BS as u64, 10).unwrap();
    assert_eq!(fresh.query_stats().bytes, 2 * BS as u64);
}

#[test]
fn the_cache_stays_within_its_byte_bound() {
    let (dir, m, data) = site(200 * 1024, 16);
    let cfg = EngineConfig {
        cache_bytes: 8 * 1024,
        ..config()
    };
    let mut e = Engine::new(DirFetch::new(dir.path()), &m, cfg);
    // While a query runs the cache also makes room for each read head's read-ahead (at most
    // a part here); between queries it is back within its bound.
    let during = 8 * 1024 + READ_HEADS as u64 * 16 * BS as u64;
    for i in 0..190u64 {
        let off = (i * 7919) % (190 * 1024);
        if i % 10 == 0 {
            e.begin_query(None);
            assert!(
                e.cache.used <= 8 * 1024,
                "cache holds {} bytes",
                e.cache.used
            );
        }
        assert_eq!(
            read(&mut e, off, 3000).unwrap(),
            data[off as usize..off as usize + 3000]
        );
        assert!(e.cache.used <= during, "cache holds {} bytes", e.cache.used);
    }
}

#[test]
fn hot_ranges_preload_in_one_request() {
    let (dir, m, _) = site(64 * 1024, 64);
    let mut e = Engine::new(DirFetch::new(dir.path()), &m, config());
    e.begin_query(None);
    e.preload(
        "f",
        &[
            ByteRange {
                offset: 0,
                length: 2048,
            },
            ByteRange {
                offset: 2048,
                length: 4096,
            },
        ],
    )
    .unwrap();
    assert_eq!(e.query_stats().requests, 1);
    e.begin_query(None);
    read(&mut e, 100, 5000).unwrap();
    assert_eq!(e.query_stats().requests, 0);
}

#[test]
fn transient_failures_are_retried_with_backoff() {
    let (dir, m, data) = site(8 * 1024, 8);
    let f = Faulty::new(DirFetch::new(dir.path()));
    f.then(Fault::Drop).then(Fault::Status(503));
    let mut e = Engine::new(&f, &m, config());
    e.begin_query(None);
    assert_eq!(read(&mut e, 10, 100).unwrap(), data[10..110]);
    let s = e.query_stats();
    assert_eq!((s.requests, s.retries), (3, 2));
    assert_eq!(f.slept_ms.get(), 100 + 200);
}

#[test]
fn persistent_failures_end_in_a_clear_error() {
    let (dir, m, _) = site(8 * 1024, 8);
    let f = Faulty::new(DirFetch::new(dir.path()));
    f.always(Some(Fault::Drop));
    let mut e = Engine::new(&f, &m, config());
    let err = read(&mut e, 0, 10).unwrap_err();
    assert!(matches!(err, EngineError::Network { .. }), "{err}");
    assert_eq!(e.total_stats().requests, 3, "one try and two retries");
    assert!(err.to_string().contains("try again"));
    f.always(Some(Fault::Status(502)));
    assert!(matches!(
        read(&mut e, 0, 10).unwrap_err(),
        EngineError::Status { status: 502, .. }
    ));
    f.always(Some(Fault::Status(404)));
    let before = e.total_stats().requests;
    assert!(matches!(
        read(&mut e, 0, 10).unwrap_err(),
        EngineError::Status { status: 404, .. }
    ));
    assert_eq!(e.total_stats().requests, before + 1, "a 404 is not retried");
}

#[test]
fn a_host_that_ignores_range_still_works_and_the_part_is_kept_whole() {
    let (dir, m, data) = site(32 * 1024, 8);
    let f = Faulty::new(DirFetch::new(dir.path()));
    f.always(Some(Fault::IgnoreRange));
    let mut e = Engine::new(&f, &m, config());
    e.begin_query(None);
    assert_eq!(read(&mut e, 1500, 100).unwrap(), data[1500..1600]);
    assert_eq!(e.query_stats().bytes, 8 * 1024, "the whole part came back");
    e.begin_query(None);
    assert_eq!(read(&mut e, 7000, 1000).unwrap(), data[7000..8000]);
    assert_eq!(
        e.query_stats().requests,
        0,
        "the rest of the part was cached"
    );
}

#[test]
fn spoiled_answers_are_errors_never_data() {
    let (dir, m, _) = site(8 * 1024, 8);
    type Check = fn(&EngineError) -> bool;
    let cases: Vec<(Fault, Check)> = vec![
        (Fault::Truncate(10), |e| {
            matches!(e, EngineError::Mismatch { .. })
        }),
        (Fault::Compress, |e| {
            matches!(e, EngineError::Compressed { .. })
        }),
        (Fault::WrongTotal, |e| {
            matches!(e, EngineError::Changed { .. })
        }),
        (Fault::ShortWhole(100), |e| {
            matches!(e, EngineError::Changed { .. })
        }),
    ];
    for (fault, expected) in cases {
        let f = Faulty::new(DirFetch::new(dir.path()));
        f.then(fault.clone());
        let mut e = Engine::new(&f, &m, config());
        let err = read(&mut e, 0, 10).unwrap_err();
        assert!(expected(&err), "{fault:?} gave {err:?}");
        // Nothing was cached from the bad answer: a good answer is fetched next time.
        assert_eq!(read(&mut e, 0, 10).unwrap().len(), 10);
    }
}

#[test]
fn a_changed_etag_is_detected() {
    let (dir, m, _) = site(8 * 1024, 8);
    let f = Faulty::new(DirFetch::new(dir.path()));
    let mut e = Engine::new(&f, &m, config());
    read(&mut e, 0, 10).unwrap();
    f.then(Fault::ChangeEtag);
    let err = read(&mut e, 5000, 10).unwrap_err();
    assert!(matches!(err, EngineError::Changed { .. }), "{err}");
    assert!(err.to_string().contains("reload"));
}

#[test]
fn the_budget_stops_a_query_and_says_how_much_it_fetched() {
    let (dir, m, _) = site(64 * 1024, 64);
    let mut e = Engine::new(DirFetch::new(dir.path()), &m, config());
    e.begin_query(Some(4 * 1024));
    read(&mut e, 0, 2048).unwrap();
    let err = read(&mut e, 10 * 1024, 8 * 1024).unwrap_err();
    assert_eq!(
        err,
        EngineError::Budget {
            fetched: 2048,
            limit: 4096
        }
    );
    assert!(err.to_string().contains("higher limit"));
    e.begin_query(Some(1 << 20));
    read(&mut e, 10 * 1024, 8 * 1024).unwrap();
}

#[test]
fn bad_reads_are_errors() {
    let (dir, m, _) = site(4096, 4);
    let mut e = Engine::new(DirFetch::new(dir.path()), &m, config());
    assert!(matches!(
        read(&mut e, 4000, 200).unwrap_err(),
        EngineError::OutOfBounds { .. }
    ));
    let mut buf = [0u8; 4];
    assert_eq!(
        e.read("nope", 0, &mut buf).unwrap_err(),
        EngineError::UnknownFile("nope".into())
    );
    assert!(e.fetcher().log.borrow().is_empty());
}

#[test]
fn a_hot_sidecar_preloads_scattered_blocks_in_one_request() {
    let (dir, mut m, data) = site(64 * 1024, 16);
    let hot = vec![
        ByteRange {
            offset: 0,
            length: 1024,
        },
        ByteRange {
            offset: 20 * 1024,
            length: 2048,
        },
        ByteRange {
            offset: 50 * 1024,
            length: 1024,
        },
    ];
    let mut sidecar = Vec::new();
    for r in &hot {
        sidecar.extend_from_slice(&data[r.offset as usize..(r.offset + r.length) as usize]);
    }
    std::fs::write(dir.path().join("_data/f.hot.0.bin"), &sidecar).unwrap();
    m.files.get_mut("f").unwrap().hot = hot;
    let part = Part {
        url: "/_data/f.hot.0.bin".into(),
        offset: 0,
        length: sidecar.len() as u64,
    };
    let side = LogicalFile {
        size: sidecar.len() as u64,
        block_size: BS,
        hash: String::new(),
        parts: vec![part],
        hot: vec![],
    };
    m.files.insert("f.hot".into(), side);
    let mut e = Engine::new(DirFetch::new(dir.path()), &m, config());
    e.begin_query(None);
    e.preload_hot("f").unwrap();
    e.preload_hot("f").unwrap();
    assert_eq!(e.query_stats().requests, 1, "one request, once");
    e.begin_query(None);
    assert_eq!(
        read(&mut e, 20 * 1024 + 5, 2000).unwrap(),
        data[20 * 1024 + 5..20 * 1024 + 2005]
    );
    assert_eq!(
        read(&mut e, 50 * 1024, 1024).unwrap(),
        data[50 * 1024..51 * 1024]
    );
    assert_eq!(
        e.query_stats().requests,
        0,
        "hot blocks come from the cache"
    );
    read(&mut e, 30 * 1024, 10).unwrap();
    assert_eq!(e.query_stats().requests, 1);
}

#[test]
fn a_failed_hot_preload_is_tried_again() {
    let (dir, mut m, _) = site(16 * 1024, 16);
    m.files.get_mut("f").unwrap().hot = vec![ByteRange {
        offset: 0,
        length: 1024,
    }];
    let f = Faulty::new(DirFetch::new(dir.path()));
    f.always(Some(Fault::Status(404)));
    let mut e = Engine::new(&f, &m, config());
    assert!(e.preload_hot("f").is_err());
    f.always(None);
    e.begin_query(None);
    e.preload_hot("f").unwrap();
    assert_eq!(
        e.query_stats().requests,
        1,
        "tried again once the host answers"
    );
}

#[test]
fn a_404_after_a_redeploy_says_to_reload() {
    let (dir, m, _) = site(8 * 1024, 8);
    let f = Faulty::new(DirFetch::new(dir.path()));
    f.always(Some(Fault::Status(404)));
    let mut e = Engine::new(&f, &m, config());
    let err = read(&mut e, 0, 10).unwrap_err().to_string();
    assert!(
        err.contains("the site was updated") && err.contains("reload the page"),
        "{err}"
    );
    assert!(!err.contains("the host answered"), "{err}");
}

#[test]
fn an_etag_that_only_turns_weak_is_not_a_change() {
    let (dir, m, data) = site(8 * 1024, 8);
    let f = Faulty::new(DirFetch::new(dir.path()));
    let mut e = Engine::new(&f, &m, config());
    read(&mut e, 0, 10).unwrap();
    f.then(Fault::WeakEtag);
    assert_eq!(read(&mut e, 5000, 10).unwrap(), data[5000..5010]);
    // And back to strong: still the same file.
    assert_eq!(read(&mut e, 3000, 10).unwrap(), data[3000..3010]);
    // A weak ETag of another value still is a change.
    f.then(Fault::ChangeEtag);
    assert!(matches!(
        read(&mut e, 7000, 10).unwrap_err(),
        EngineError::Changed { .. }
    ));
}

#[test]
fn part_hashes_come_from_the_url() {
    assert_eq!(
        part_hash("/_data/nyc.sqlite.0.1f2e3d4c5b6a7988.bin"),
        Some("1f2e3d4c5b6a7988")
    );
    assert_eq!(part_hash("/_data/x.0.bin"), None);
    assert_eq!(part_hash("/_data/x.0.1f2e3d4c5b6a798.bin"), None);
    assert_eq!(part_hash("/_data/x.0.1f2e3d4c5b6a79zz.bin"), None);
}

#[test]
fn a_corrupted_whole_part_is_refused_at_once() {
    let (dir, m, data) = site(16 * 1024, 8);
    let f = Faulty::new(DirFetch::new(dir.path()));
    f.then(Fault::Corrupt);
    let mut e = Engine::new(&f, &m, config());
    // The whole first part, asked without Range: checked against the hash in its URL.
    let err = read(&mut e, 0, 8 * 1024).unwrap_err();
    assert_eq!(
        err,
        EngineError::Corrupt {
            url: m.files["f"].parts[0].url.clone()
        }
    );
    assert!(err.to_string().contains("corrupted or stale copy"), "{err}");
    assert!(err.to_string().contains("reload"), "{err}");
    // A host that ignores Range and sends a corrupted whole part is caught the same way.
    f.then(Fault::IgnoreRange);
    assert_eq!(read(&mut e, 100, 10).unwrap(), data[100..110]);
    let f2 = Faulty::new(Faulty::new(DirFetch::new(dir.path())));
    f2.inner().always(Some(Fault::Corrupt));
    f2.always(Some(Fault::IgnoreRange));
    let mut e2 = Engine::new(&f2, &m, config());
    assert!(matches!(
        read(&mut e2, 9000, 10).unwrap_err(),
        EngineError::Corrupt { .. }
    ));
}

#[test]
fn verify_names_a_part_whose_range_answer_was_corrupted() {
    let (dir, m, data) = site(32 * 1024, 8);
    let f = Faulty::new(DirFetch::new(dir.path()));
    let mut e = Engine::new(&f, &m, config());
    read(&mut e, 0, 10).unwrap();
    f.then(Fault::Corrupt);
    // Same length, so the answer passes every header check and lands in the cache.
    let bad = read(&mut e, 9 * 1024, 10).unwrap();
    assert_ne!(bad, data[9 * 1024..9 * 1024 + 10]);
    e.begin_query(Some(1));
    let before = e.total_stats().requests;
    let err = e.verify("f").unwrap_err();
    assert_eq!(
        err,
        EngineError::Corrupt {
            url: m.files["f"].parts[1].url.clone()
        }
    );
    assert!(
        e.total_stats().requests - before <= 2,
        "one whole fetch per part read by range, in part order, outside the budget"
    );
    // The bad blocks left the cache: the next read is right.
    e.begin_query(None);
    assert_eq!(
        read(&mut e, 9 * 1024, 10).unwrap(),
        data[9 * 1024..9 * 1024 + 10]
    );
}

#[test]
fn verify_passes_good_parts_once_and_names_a_stale_one() {
    let (dir, m, _) = site(32 * 1024, 8);
    let f = Faulty::new(DirFetch::new(dir.path()));
    let mut e = Engine::new(&f, &m, config());
    read(&mut e, 0, 10).unwrap();
    read(&mut e, 20 * 1024, 10).unwrap();
    let before = e.total_stats().requests;
    e.verify("f").unwrap();
    assert_eq!(e.total_stats().requests, before + 2, "parts 0 and 2, whole");
    e.verify("f").unwrap();
    assert_eq!(
        e.total_stats().requests,
        before + 2,
        "checked parts stay checked"
    );
    // The host now serves a corrupted copy of every part: a part read since is named.
    read(&mut e, 9 * 1024, 10).unwrap();
    f.always(Some(Fault::Corrupt));
    let err = e.verify("f").unwrap_err();
    assert_eq!(
        err,
        EngineError::Corrupt {
            url: m.files["f"].parts[1].url.clone()
        }
    );
    // The bad part stays unchecked: checking every file names it again.
    assert_eq!(e.verify_all(), Err(err));
    f.always(None);
    e.verify_all().unwrap();
}

/// `m` with `f` declared a database whose B-trees lie at `trees` (page runs, pages = blocks).
fn with_trees(mut m: Manifest, trees: &[(&str, &[[u64; 2]])]) -> Manifest {
    m.databases.insert(
        "db".into(),
        crate::manifest::Database {
            file: "f".into(),
            page_size: BS,
            tables: vec![],
            btrees: trees
                .iter()
                .map(|(name, pages)| crate::manifest::BTree {
                    name: name.to_string(),
                    pages: pages.to_vec(),
                })
                .collect(),
        },
    );
    m.validate().unwrap();
    m
}

/// A deterministic shuffle of `0..n`.
fn shuffled(n: u64) -> Vec<u64> {
    let mut v: Vec<u64> = (0..n).collect();
    let mut seed = 42u64;
    for i in (1..v.len()).rev() {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        v.swap(i, (seed >> 33) as usize % (i + 1));
    }
    v
}

#[test]
fn interleaved_scans_each_keep_their_read_ahead() {
    let (dir, m, data) = site(2048 * BS as usize, 2048);
    let mut e = Engine::new(DirFetch::new(dir.path()), &m, config());
    e.begin_query(None);
    // An index scan (blocks 0..) interleaved with a table scan (blocks 1000..), like a
    // SQLite query reading an index and its table in step.
    for b in 0..500u64 {
        for blk in [b, 1000 + b] {
            let off = blk * BS as u64;
            assert_eq!(
                read(&mut e, off, 100).unwrap(),
                data[off as usize..off as usize + 100]
            );
        }
    }
    let s = e.query_stats();
    // One head alone would restart at every read: 1,000 requests.
    assert!(s.requests <= 30, "{s:?}");
}

#[test]
fn a_scan_that_steps_over_small_gaps_keeps_its_read_ahead() {
    let (dir, m, _) = site(2048 * BS as usize, 2048);
    let mut e = Engine::new(DirFetch::new(dir.path()), &m, config());
    e.begin_query(None);
    // Leaves with an interior page of another tree between every few of them.
    let mut blk = 0u64;
    while blk < 1500 {
        read(&mut e, blk * BS as u64, 10).unwrap();
        blk += if blk % 5 == 4 { 3 } else { 1 };
    }
    let s = e.query_stats();
    // As many requests as one sequential read of the blocks; one head per read would make
    // it a request for every fifth read.
    assert!(s.requests <= layout::sequential_requests(1500, 64), "{s:?}");
}

#[test]
fn a_tree_read_at_random_is_fetched_whole_within_a_sequential_read() {
    let blocks = 1000u64;
    let (dir, m, data) = site(1100 * BS as usize, 4096);
    // The table's pages 11..=1010 (blocks 10..=1009), with an index's page in between.
    let m = with_trees(m, &[("t", &[[11, 500], [512, 499]]), ("i", &[[511, 1]])]);
    let mut e = Engine::new(DirFetch::new(dir.path()), &m, config());
    e.begin_query(None);
    for b in shuffled(blocks) {
        let off = (10 + b) * BS as u64;
        assert_eq!(
            read(&mut e, off, 64).unwrap(),
            data[off as usize..off as usize + 64]
        );
    }
    let s = e.query_stats();
    let sequential = layout::sequential_requests(blocks + 1, 64);
    assert!(s.requests <= sequential, "{s:?} vs {sequential}");
    assert_eq!(s.sweeps, 1, "{s:?}");
    // Without the layout, each of the 1,000 random reads is a request.
    let (dir2, m2, _) = site(1100 * BS as usize, 4096);
    let mut plain = Engine::new(DirFetch::new(dir2.path()), &m2, config());
    plain.begin_query(None);
    for b in shuffled(blocks) {
        read(&mut plain, (10 + b) * BS as u64, 64).unwrap();
    }
    assert!(plain.query_stats().requests > 900);
}

#[test]
fn a_few_lookups_never_fetch_a_whole_tree() {
    let (dir, m, _) = site(1100 * BS as usize, 4096);
    let m = with_trees(m, &[("t", &[[11, 1000]])]);
    let mut e = Engine::new(DirFetch::new(dir.path()), &m, config());
    e.begin_query(None);
    for b in [5u64, 500, 900] {
        read(&mut e, (10 + b) * BS as u64, 64).unwrap();
    }
    let s = e.query_stats();
    assert_eq!(
        (s.requests, s.bytes, s.sweeps),
        (3, 3 * BS as u64, 0),
        "{s:?}"
    );
}

#[test]
fn a_sweep_that_would_pass_the_byte_budget_is_not_started() {
    let (dir, m, _) = site(1100 * BS as usize, 4096);
    let m = with_trees(m, &[("t", &[[11, 1000]])]);
    let mut e = Engine::new(DirFetch::new(dir.path()), &m, config());
    e.begin_query(Some(100 * BS as u64));
    // Far enough apart that no read continues another.
    for b in shuffled(60) {
        read(&mut e, (10 + b * 16) * BS as u64, 64).unwrap();
    }
    let s = e.query_stats();
    assert_eq!((s.sweeps, s.requests), (0, 60), "{s:?}");
}

#[test]
fn the_request_budget_stops_a_query() {
    let (dir, m, _) = site(64 * BS as usize, 64);
    let mut e = Engine::new(DirFetch::new(dir.path()), &m, config());
    e.begin_query_with(Budget {
        bytes: None,
        requests: Some(3),
    });
    for b in [1u64, 20, 40] {
        read(&mut e, b * BS as u64, 10).unwrap();
    }
    let err = read(&mut e, 60 * BS as u64, 10).unwrap_err();
    assert_eq!(err, EngineError::RequestBudget { sent: 3, limit: 3 });
    assert!(err.to_string().contains("higher limit"), "{err}");
}

#[test]
fn progress_is_reported_after_every_request() {
    let (dir, m, _) = site(1100 * BS as usize, 4096);
    let m = with_trees(m, &[("t", &[[11, 1000]])]);
    let mut e = Engine::new(DirFetch::new(dir.path()), &m, config());
    let seen: Arc<Mutex<Vec<Progress>>> = Arc::default();
    let sink = seen.clone();
    e.set_progress(Some(Box::new(move |p| sink.lock().unwrap().push(p))));
    e.begin_query(None);
    for b in shuffled(1000) {
        read(&mut e, (10 + b) * BS as u64, 64).unwrap();
    }
    let seen = seen.lock().unwrap();
    let s = e.query_stats();
    assert_eq!(seen.len() as u64, s.requests);
    assert!(seen.windows(2).all(|w| w[0].bytes <= w[1].bytes));
    let last = seen.last().unwrap();
    assert_eq!((last.requests, last.bytes), (s.requests, s.bytes));
    // Once the tree is being fetched whole, the total to expect is known.
    assert!(
        last.expected_bytes.is_some_and(|x| x >= s.bytes),
        "{last:?}"
    );
}

#[test]
fn a_part_fetched_outside_is_checked_cached_and_counted_in_the_next_query() {
    let (dir, m, data) = site(16 * BS as usize, 8);
    let part = m.files["f"].parts[1].clone();
    let bytes = std::fs::read(dir.path().join(&part.url[1..])).unwrap();
    let mut e = Engine::new(DirFetch::new(dir.path()), &m, config());
    // Wrong length or bytes that do not match the hash in the URL are refused.
    assert!(!e.accept_part("f", 1, &bytes[1..]));
    let mut spoiled = bytes.clone();
    spoiled[0] ^= 1;
    assert!(!e.accept_part("f", 1, &spoiled));
    assert!(!e.accept_part("f", 7, &bytes));
    assert!(e.accept_part("f", 1, &bytes));
    e.begin_query(None);
    let off = part.offset + 100;
    assert_eq!(
        read(&mut e, off, 2000).unwrap(),
        data[off as usize..off as usize + 2000]
    );
    let s = e.query_stats();
    assert_eq!(
        (s.requests, s.bytes, s.round_trips, s.cache_misses),
        (1, part.length, 1, 0),
        "{s:?}"
    );
    assert!(e.fetcher().log.borrow().is_empty());
    e.begin_query(None);
    assert_eq!(e.query_stats(), Stats::default());
}

#[test]
fn a_swept_tree_bigger_than_the_cache_stays_for_its_query_only() {
    let (dir, m, _) = site(1100 * BS as usize, 4096);
    let m = with_trees(m, &[("t", &[[11, 1000]])]);
    let cfg = EngineConfig {
        cache_bytes: 64 * BS as u64,
        ..config()
    };
    let mut e = Engine::new(DirFetch::new(dir.path()), &m, cfg);
    e.begin_query(None);
    for b in shuffled(1000) {
        read(&mut e, (10 + b) * BS as u64, 64).unwrap();
    }
    let s = e.query_stats();
    assert!(s.requests <= layout::sequential_requests(1000, 64), "{s:?}");
    assert_eq!(s.sweeps, 1, "{s:?}");
    // The next query gives the memory back.
    e.begin_query(None);
    assert!(e.cache.used <= 64 * BS as u64, "{}", e.cache.used);
}

#[test]
fn read_ahead_steps_over_cached_interior_pages() {
    let (dir, m, _) = site(2048 * BS as usize, 2048);
    let mut e = Engine::new(DirFetch::new(dir.path()), &m, config());
    // Every 50th block is cached already, like the hot interior pages among a tree's leaves.
    for blk in (25..2000u64).step_by(50) {
        read(&mut e, blk * BS as u64, 10).unwrap();
    }
    e.begin_query(None);
    for blk in (0..2000u64).filter(|b| b % 50 != 25) {
        read(&mut e, blk * BS as u64, 10).unwrap();
    }
    let s = e.query_stats();
    // A request per cached block (40) if read-ahead stopped at each.
    assert!(s.requests <= layout::sequential_requests(2000, 64), "{s:?}");
}

#[test]
fn a_scan_that_skips_pages_inside_its_read_ahead_keeps_its_head() {
    let (dir, m, _) = site(2048 * BS as usize, 2048);
    let mut e = Engine::new(DirFetch::new(dir.path()), &m, config());
    e.begin_query(None);
    // Table rows looked up in rowid order: most leaves read, now and then six in a row not
    // (more than a head's gap, but inside what it fetched ahead).
    let mut blk = 0u64;
    while blk < 1800 {
        read(&mut e, blk * BS as u64, 10).unwrap();
        blk += if blk % 40 == 39 { 7 } else { 1 };
    }
    let s = e.query_stats();
    // Restarting at every skip would cost about 5 requests per 40 blocks: over 200.
    assert!(s.requests <= 45, "{s:?}");
}

#[test]
fn blocks_a_scan_has_read_leave_the_cache_before_blocks_read_ahead() {
    let (dir, m, _) = site(2048 * BS as usize, 2048);
    let cfg = EngineConfig {
        cache_bytes: 200 * BS as u64,
        ..config()
    };
    let mut e = Engine::new(DirFetch::new(dir.path()), &m, cfg);
    e.begin_query(None);
    // A head at block 1500 fetches ahead (its next 64 blocks), then a scan of 0..600 runs:
    // plain LRU would push the head's unread blocks out.
    for blk in 1500..1504u64 {
        read(&mut e, blk * BS as u64, 10).unwrap();
    }
    let ahead: Vec<u64> = (1504..1600).filter(|b| e.cache.contains((0, *b))).collect();
    assert!(ahead.len() >= 4, "{ahead:?}");
    for blk in 0..600u64 {
        read(&mut e, blk * BS as u64, 10).unwrap();
    }
    let kept = ahead.iter().filter(|b| e.cache.contains((0, **b))).count();
    assert_eq!(
        kept,
        ahead.len(),
        "the scan pushed out read-ahead it will not read"
    );
    // The cache was full: what left it were blocks the scan had read.
    let scan_cached = (0..600u64).filter(|b| e.cache.contains((0, *b))).count();
    assert!(scan_cached < 500, "{scan_cached}");
}

#[test]
fn a_swept_tree_stays_whole_while_other_reads_flood_the_cache() {
    let (dir, m, _) = site(2100 * BS as usize, 4096);
    // A table (blocks 10..1009) read at random, and an index (blocks 1010..2009) scanned.
    let m = with_trees(m, &[("t", &[[11, 1000]]), ("i", &[[1011, 1000]])]);
    let cfg = EngineConfig {
        cache_bytes: 64 * BS as u64,
        ..config()
    };
    let mut e = Engine::new(DirFetch::new(dir.path()), &m, cfg);
    e.begin_query(None);
    let order = shuffled(1000);
    for (i, b) in order.iter().enumerate() {
        read(&mut e, (10 + b) * BS as u64, 64).unwrap();
        // The index scan: 1,000 blocks through a cache of 64.
        read(&mut e, (1010 + i as u64) * BS as u64, 64).unwrap();
    }
    let s = e.query_stats();
    assert_eq!(s.sweeps, 1, "{s:?}");
    // Table: the random reads before the sweep and the sweep; index: one sequential read.
    let bound = 2 * layout::sequential_requests(1000, 64);
    assert!(s.requests <= bound, "{s:?} vs {bound}");
    e.begin_query(None);
    assert!(e.cache.used <= 64 * BS as u64, "{}", e.cache.used);
}
