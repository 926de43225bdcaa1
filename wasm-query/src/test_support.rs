//! Helpers shared by the crate's tests.

use std::path::Path;

use crate::manifest::{LogicalFile, Part};

/// Writes `data` under `root/_data/` as parts of at most `part_len` bytes named
/// `NAME.I.HASH16.bin`, the way the generator lays out a site; returns the logical file.
pub fn write_parts(
    root: &Path,
    name: &str,
    data: &[u8],
    block_size: u32,
    part_len: usize,
) -> LogicalFile {
    std::fs::create_dir_all(root.join("_data")).unwrap();
    let mut parts = Vec::new();
    for (i, chunk) in data.chunks(part_len).enumerate() {
        let hash = blake3::hash(chunk).to_hex();
        let url = format!("/_data/{name}.{i}.{}.bin", &hash[..16]);
        std::fs::write(root.join(&url[1..]), chunk).unwrap();
        parts.push(Part {
            url,
            offset: (i * part_len) as u64,
            length: chunk.len() as u64,
        });
    }
    LogicalFile {
        size: data.len() as u64,
        block_size,
        hash: String::new(),
        parts,
        hot: vec![],
    }
}
