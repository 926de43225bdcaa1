//! Where each B-tree of a database lies, in cache blocks: which tree a block belongs to,
//! the tree's runs of blocks, and how many requests reading a tree sequentially takes —
//! the bound a query's round trips are held to.

use crate::manifest::Database;

/// Blocks of other trees (interior pages, small neighbours) a run may step over and still
/// count as one run: fetching them costs less than a second request.
pub const RUN_GAP_BLOCKS: u64 = 16;

/// One B-tree in block terms.
#[derive(Debug, Clone)]
pub struct TreeBlocks {
    /// Table or index name.
    pub name: String,
    /// Runs `(first, last)` of blocks, inclusive, in file order, with gaps of at most
    /// [`RUN_GAP_BLOCKS`] merged.
    pub runs: Vec<(u64, u64)>,
    /// Blocks the tree itself occupies (gaps not counted).
    pub blocks: u64,
}

/// The B-trees of one logical file.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// Trees in manifest order.
    pub trees: Vec<TreeBlocks>,
    /// Exact runs `(first, last, tree)` of blocks, sorted by `first`, for lookups.
    index: Vec<(u64, u64, usize)>,
}

impl Layout {
    /// The layout of `db`'s trees over blocks of `block_size` bytes.
    pub fn new(db: &Database, block_size: u64) -> Layout {
        let ps = u64::from(db.page_size);
        let mut index = Vec::new();
        let trees = db
            .btrees
            .iter()
            .enumerate()
            .map(|(t, tree)| {
                let mut exact: Vec<(u64, u64)> = tree
                    .pages
                    .iter()
                    .map(|&[first, count]| {
                        let start = (first - 1) * ps / block_size;
                        let end = ((first - 1 + count) * ps).div_ceil(block_size) - 1;
                        (start, end)
                    })
                    .collect();
                exact.sort_unstable();
                for &(a, b) in &exact {
                    index.push((a, b, t));
                }
                let blocks = exact.iter().map(|(a, b)| b - a + 1).sum();
                let mut runs: Vec<(u64, u64)> = Vec::new();
                for (a, b) in exact {
                    match runs.last_mut() {
                        Some(r) if a <= r.1 + 1 + RUN_GAP_BLOCKS => r.1 = r.1.max(b),
                        _ => runs.push((a, b)),
                    }
                }
                TreeBlocks {
                    name: tree.name.clone(),
                    runs,
                    blocks,
                }
            })
            .collect();
        index.sort_unstable();
        Layout { trees, index }
    }

    /// The tree `block` belongs to, if the manifest says.
    pub fn tree_of(&self, block: u64) -> Option<usize> {
        let i = self.index.partition_point(|r| r.0 <= block);
        let (a, b, t) = *self.index.get(i.checked_sub(1)?)?;
        (a <= block && block <= b).then_some(t)
    }

    /// The merged run of tree `t` that holds `block`.
    pub fn run_of(&self, t: usize, block: u64) -> Option<(u64, u64)> {
        self.trees[t]
            .runs
            .iter()
            .copied()
            .find(|&(a, b)| a <= block && block <= b)
    }
}

/// Requests a sequential read of `blocks` consecutive blocks takes when each request is
/// twice the one before, up to `cap` blocks: 1, 2, 4, … (how a scan reads with read-ahead).
pub fn sequential_requests(blocks: u64, cap: u64) -> u64 {
    let cap = cap.max(1);
    let (mut done, mut size, mut requests) = (0u64, 1u64, 0u64);
    while done < blocks {
        done = done.saturating_add(size);
        size = (size * 2).min(cap);
        requests += 1;
    }
    requests
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::BTree;

    fn db(trees: &[(&str, &[[u64; 2]])]) -> Database {
        Database {
            file: "x.sqlite".into(),
            page_size: 4096,
            tables: vec![],
            btrees: trees
                .iter()
                .map(|(n, p)| BTree {
                    name: n.to_string(),
                    pages: p.to_vec(),
                })
                .collect(),
        }
    }

    #[test]
    fn blocks_map_to_their_tree_and_small_gaps_merge() {
        let l = Layout::new(
            &db(&[
                ("t", &[[2, 10], [13, 5], [100, 3]]),
                ("i", &[[12, 1], [18, 20]]),
            ]),
            4096,
        );
        assert_eq!(l.tree_of(0), None); // page 1 is not listed here
        assert_eq!(l.tree_of(1), Some(0));
        assert_eq!(l.tree_of(11), Some(1));
        assert_eq!(l.tree_of(12), Some(0));
        assert_eq!(l.tree_of(17), Some(1));
        assert_eq!(l.tree_of(50), None);
        assert_eq!(l.trees[0].runs, vec![(1, 16), (99, 101)]);
        assert_eq!(l.trees[0].blocks, 18);
        assert_eq!(l.run_of(0, 100), Some((99, 101)));
    }

    #[test]
    fn larger_blocks_cover_several_pages() {
        let l = Layout::new(&db(&[("t", &[[1, 8]])]), 16384);
        assert_eq!(l.trees[0].runs, vec![(0, 1)]);
        assert_eq!(l.tree_of(1), Some(0));
    }

    #[test]
    fn sequential_requests_double_up_to_the_cap() {
        assert_eq!(sequential_requests(0, 64), 0);
        assert_eq!(sequential_requests(1, 64), 1);
        assert_eq!(sequential_requests(3, 64), 2);
        assert_eq!(sequential_requests(7, 64), 3);
        assert_eq!(sequential_requests(8, 64), 4);
        // 1+2+4+…+64 = 127 blocks by 7 requests, then 64 per request.
        assert_eq!(sequential_requests(127 + 64 * 3, 64), 7 + 3);
        assert_eq!(sequential_requests(5, 0), 5);
    }
}
