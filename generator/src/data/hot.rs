//! Hot pages of a baked database: every page of the schema and of the ANALYZE statistics
//! (SQLite reads both whole when it opens a database), and every other B-tree's root and
//! interior pages, found by walking the B-trees from their roots (SQLite file format,
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

/// The hot pages of the SQLite file at `path` as byte ranges (one page each, sorted):
/// the schema (page 1) and the `whole` trees with their leaves, the `roots` trees without.
pub fn hot_ranges(
    path: &Path,
    page_size: u32,
    roots: &[u64],
    whole: &[u64],
) -> std::io::Result<Vec<ByteRange>> {
    let mut file = std::fs::File::open(path)?;
    let ps = page_size as u64;
    let pages = file.metadata()?.len() / ps;
    let mut page = vec![0u8; page_size as usize];
    let full = |hot: &BTreeSet<u64>| (hot.len() as u64) * ps >= MAX_HOT_BYTES;
    let mut hot = BTreeSet::new();
    let mut stack: Vec<u64> = std::iter::once(1).chain(whole.iter().copied()).collect();
    while let Some(n) = stack.pop() {
        if n >= 1 && n <= pages && !full(&hot) && hot.insert(n) {
            stack.extend(children(&mut file, n, ps, &mut page)?);
        }
    }
    // Breadth first, so that the byte cap drops the deepest level, not a whole tree.
    let mut level: Vec<u64> = roots.to_vec();
    while !level.is_empty() && !full(&hot) {
        let mut next = Vec::new();
        for &n in &level {
            if n >= 1 && n <= pages && !full(&hot) && hot.insert(n) {
                next.extend(children(&mut file, n, ps, &mut page)?);
            }
        }
        next.retain(|c| !hot.contains(c));
        // Leaves are left to be read on demand: keep only the interior children.
        level = Vec::new();
        for n in next {
            if n >= 1 && n <= pages && is_interior(&mut file, n, ps, &mut page)? {
                level.push(n);
            }
        }
    }
    Ok(hot
        .into_iter()
        .map(|n| ByteRange {
            offset: (n - 1) * ps,
            length: ps,
        })
        .collect())
}

fn read_page(file: &mut std::fs::File, n: u64, ps: u64, page: &mut [u8]) -> std::io::Result<usize> {
    file.seek(SeekFrom::Start((n - 1) * ps))?;
    file.read_exact(page)?;
    Ok(if n == 1 { 100 } else { 0 }) // page 1 starts with the 100-byte file header
}

fn is_interior(
    file: &mut std::fs::File,
    n: u64,
    ps: u64,
    page: &mut [u8],
) -> std::io::Result<bool> {
    let h = read_page(file, n, ps, page)?;
    Ok(matches!(page[h], INTERIOR_INDEX | INTERIOR_TABLE))
}

/// Child pages of page `n` if it is an interior B-tree page; none for a leaf.
fn children(
    file: &mut std::fs::File,
    n: u64,
    ps: u64,
    page: &mut [u8],
) -> std::io::Result<Vec<u64>> {
    let h = read_page(file, n, ps, page)?;
    if !matches!(page[h], INTERIOR_INDEX | INTERIOR_TABLE) {
        return Ok(Vec::new());
    }
    let cells = u16::from_be_bytes([page[h + 3], page[h + 4]]) as usize;
    let mut out = Vec::with_capacity(cells + 1);
    for i in 0..cells {
        let at = h + 12 + 2 * i;
        let ptr = u16::from_be_bytes([page[at], page[at + 1]]) as usize;
        if ptr + 4 <= page.len() {
            out.push(u32::from_be_bytes(page[ptr..ptr + 4].try_into().expect("4 bytes")) as u64);
        }
    }
    out.push(u32::from_be_bytes(page[h + 8..h + 12].try_into().expect("4 bytes")) as u64);
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
        let hot = hot_ranges(&path, 1024, &roots, &[]).unwrap();
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
