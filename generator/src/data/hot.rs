//! Hot pages of a baked database: page 1 (header and schema), every B-tree's root, and
//! every interior page, found by walking the B-trees from their roots (SQLite file format,
//! section 1.6). A reader that preloads them needs only leaf pages for an indexed lookup.

use std::collections::BTreeSet;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use wasm_query::manifest::ByteRange;

/// Most bytes of hot pages per database; deeper levels are dropped first past it.
pub const MAX_HOT_BYTES: u64 = 2 * 1024 * 1024;

/// Page types (first byte of a B-tree page header).
const INTERIOR_INDEX: u8 = 2;
const INTERIOR_TABLE: u8 = 5;
const LEAF_INDEX: u8 = 10;
const LEAF_TABLE: u8 = 13;

/// The hot pages of the SQLite file at `path` as byte ranges (one page each, sorted).
pub fn hot_ranges(path: &Path, page_size: u32, roots: &[u64]) -> std::io::Result<Vec<ByteRange>> {
    let mut file = std::fs::File::open(path)?;
    let ps = page_size as u64;
    let pages = file.metadata()?.len() / ps;
    let mut page = vec![0u8; page_size as usize];
    let mut hot = BTreeSet::new();
    // Breadth first, so that the byte cap drops the deepest level, not a whole tree.
    let mut level: Vec<u64> = std::iter::once(1)
        .chain(roots.iter().copied())
        .filter(|&p| p >= 1 && p <= pages)
        .collect();
    while !level.is_empty() && (hot.len() as u64) * ps < MAX_HOT_BYTES {
        let mut next = Vec::new();
        for &n in &level {
            if !hot.insert(n) || (hot.len() as u64) * ps > MAX_HOT_BYTES {
                continue;
            }
            file.seek(SeekFrom::Start((n - 1) * ps))?;
            file.read_exact(&mut page)?;
            let h = if n == 1 { 100 } else { 0 }; // page 1 starts with the 100-byte file header
            match page[h] {
                INTERIOR_INDEX | INTERIOR_TABLE => {
                    let cells = u16::from_be_bytes([page[h + 3], page[h + 4]]) as usize;
                    let right =
                        u32::from_be_bytes(page[h + 8..h + 12].try_into().expect("4 bytes")) as u64;
                    for i in 0..cells {
                        let at = h + 12 + 2 * i;
                        let ptr = u16::from_be_bytes([page[at], page[at + 1]]) as usize;
                        if ptr + 4 <= page.len() {
                            let child =
                                u32::from_be_bytes(page[ptr..ptr + 4].try_into().expect("4 bytes"))
                                    as u64;
                            next.push(child);
                        }
                    }
                    next.push(right);
                }
                LEAF_INDEX | LEAF_TABLE => {}
                _ => {} // not a B-tree page (should not happen for a root): leave it
            }
        }
        next.retain(|&c| c >= 1 && c <= pages && !hot.contains(&c));
        // Children that are leaves are read only to learn they are leaves: keep interior ones.
        level = interior_only(&mut file, &next, ps, &mut page)?;
    }
    Ok(hot
        .into_iter()
        .map(|n| ByteRange {
            offset: (n - 1) * ps,
            length: ps,
        })
        .collect())
}

fn interior_only(
    file: &mut std::fs::File,
    pages: &[u64],
    ps: u64,
    buf: &mut [u8],
) -> std::io::Result<Vec<u64>> {
    let mut out = Vec::new();
    for &n in pages {
        file.seek(SeekFrom::Start((n - 1) * ps))?;
        file.read_exact(&mut buf[..1])?;
        if matches!(buf[0], INTERIOR_INDEX | INTERIOR_TABLE) {
            out.push(n);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_roots_and_interior_pages_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sqlite");
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "PRAGMA page_size=1024; CREATE TABLE t(a INTEGER, b TEXT); CREATE INDEX t_b ON t(b); CREATE TABLE small(x);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 20000)
             INSERT INTO t SELECT i, printf('value %08d', i) FROM n; VACUUM;",
        )
        .unwrap();
        let roots: Vec<u64> = conn
            .prepare("SELECT rootpage FROM sqlite_schema WHERE rootpage > 0")
            .unwrap()
            .query_map([], |r| r.get::<_, i64>(0))
            .unwrap()
            .map(|r| r.unwrap() as u64)
            .collect();
        let pages: u64 = conn
            .query_row("PRAGMA page_count", [], |r| r.get::<_, i64>(0))
            .unwrap() as u64;
        drop(conn);
        let hot = hot_ranges(&path, 1024, &roots).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert!(hot.iter().any(|r| r.offset == 0), "page 1");
        for r in &hot {
            let n = r.offset / 1024 + 1;
            let kind = bytes[r.offset as usize + if n == 1 { 100 } else { 0 }];
            let is_root = roots.contains(&n) || n == 1;
            assert!(
                is_root || kind == INTERIOR_INDEX || kind == INTERIOR_TABLE,
                "page {n} has type {kind}"
            );
        }
        // A few percent of the file, yet more than the roots.
        assert!(
            hot.len() > roots.len() + 1 && (hot.len() as u64) < pages / 10,
            "{} of {pages}",
            hot.len()
        );
    }
}
