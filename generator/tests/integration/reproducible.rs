//! Same input → byte-identical site: the demo is copied to two different paths, the copies
//! get different modification times, both are built (at different times, in different
//! processes), and every file of the two outputs is compared.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Copies `src` to `dst` recursively, giving every file the modification time `mtime`.
fn copy_tree(src: &Path, dst: &Path, mtime: SystemTime) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let to = dst.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &to, mtime);
        } else {
            std::fs::copy(entry.path(), &to).unwrap();
            std::fs::File::options()
                .write(true)
                .open(&to)
                .unwrap()
                .set_modified(mtime)
                .unwrap();
        }
    }
}

fn build(site_root: &Path) -> BTreeMap<String, Vec<u8>> {
    let out = Command::new(env!("CARGO_BIN_EXE_bake"))
        .args(["build", "--quiet", "--config"])
        .arg(site_root.join("bake.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "build failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    crate::support::files_under(&site_root.join("site"))
        .into_iter()
        .map(|(path, bytes)| (path.to_string_lossy().into_owned(), bytes))
        .collect()
}

#[test]
fn demo_builds_byte_identical_from_two_paths() {
    let root = repo_root();
    let a = tempfile::Builder::new()
        .prefix("bake-repro-a-")
        .tempdir()
        .unwrap();
    let b = tempfile::Builder::new()
        .prefix("bake-repro-other-path-b-")
        .tempdir()
        .unwrap();
    let (a_site, b_site) = (a.path().join("demo"), b.path().join("x").join("copy"));
    let now = SystemTime::now();
    for (dst, mtime) in [
        (&a_site, now - Duration::from_secs(86_400 * 365)),
        (&b_site, now),
    ] {
        std::fs::create_dir_all(dst).unwrap();
        std::fs::copy(root.join("bake.toml"), dst.join("bake.toml")).unwrap();
        copy_tree(&root.join("content"), &dst.join("content"), mtime);
        copy_tree(&root.join("templates"), &dst.join("templates"), mtime);
    }
    let first = build(&a_site);
    std::thread::sleep(Duration::from_millis(1100)); // a different second on the clock
    let second = build(&b_site);

    assert!(
        first.len() > 60,
        "the demo should produce many files, got {}",
        first.len()
    );
    assert!(
        first.keys().any(|k| k.starts_with("_data/search.pack.")),
        "search pack missing"
    );
    assert!(
        first.keys().any(|k| k.starts_with("_data/nyc.sqlite.")),
        "database parts missing"
    );
    let names_a: Vec<&String> = first.keys().collect();
    let names_b: Vec<&String> = second.keys().collect();
    assert_eq!(
        names_a, names_b,
        "the two builds wrote different file names"
    );
    let differing: Vec<&String> = first
        .iter()
        .filter(|(k, v)| second[*k] != **v)
        .map(|(k, _)| k)
        .collect();
    assert!(
        differing.is_empty(),
        "files differ between the two builds: {differing:?}"
    );
}
