//! Helpers more than one module of the integration tests uses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A site in a temporary folder: `bake.toml` holding `bake_toml`, and each `(path, text)`
/// of `files` written under it (folders made as needed).
pub fn site_in_tempdir<P: AsRef<str>, T: AsRef<str>>(
    bake_toml: &str,
    files: impl IntoIterator<Item = (P, T)>,
) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let write = |rel: &str, text: &str| {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write("bake.toml", bake_toml);
    for (rel, text) in files {
        write(rel.as_ref(), text.as_ref());
    }
    dir
}

/// Every file under `dir`: its path relative to `dir` → its bytes (folders themselves are
/// not listed). What tests compare to say two builds wrote the same site.
pub fn files_under(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry.expect("walk the folder");
        if entry.file_type().is_file() {
            let rel = entry.path().strip_prefix(dir).expect("under the folder");
            out.insert(
                rel.to_path_buf(),
                std::fs::read(entry.path()).expect("read"),
            );
        }
    }
    out
}
