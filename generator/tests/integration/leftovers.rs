//! Builds that die or overlap: a `kill -9` leaves its staging folders behind, and the next
//! build removes them; two builds at once never remove each other's folders.

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// A site whose data takes a moment to bake, so a build can be caught half-way.
fn slow_site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let w = |rel: &str, body: &str| {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("folders");
        std::fs::write(p, body).expect("write");
    };
    w(
        "bake.toml",
        "title = \"Slow\"\n\n[databases.db.tables.t]\nsource = \"data/t.csv\"\n",
    );
    w(
        "content/_index.md",
        "+++\ntitle = \"Home\"\n+++\nWelcome.\n",
    );
    let mut csv = String::from("n,name,score\n");
    for i in 0..400_000 {
        csv.push_str(&format!("{i},name {i},{}.5\n", i % 977));
    }
    w("content/data/t.csv", &csv);
    dir
}

fn build(dir: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_bake"))
        .args(["build", "--quiet", "--config"])
        .arg(dir.join("bake.toml"))
        .current_dir(dir)
        .spawn()
        .expect("start bake")
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".bake-"))
        .collect()
}

#[test]
fn a_killed_build_is_cleaned_up_by_the_next() {
    let site = slow_site();
    let mut child = build(site.path());
    let start = Instant::now();
    while leftovers(site.path()).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no staging folder appeared"
        );
        assert!(
            child.try_wait().expect("wait").is_none(),
            "the build ended before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("kill -9");
    child.wait().expect("reap");
    let left = leftovers(site.path());
    assert!(!left.is_empty(), "a killed build left nothing to clean");
    let status = build(site.path()).wait().expect("second build");
    assert!(status.success());
    assert!(
        leftovers(site.path()).is_empty(),
        "still there: {:?}",
        leftovers(site.path())
    );
    assert!(site.path().join("site/index.html").is_file());
}

#[test]
fn overlapping_builds_both_succeed() {
    let site = slow_site();
    let mut a = build(site.path());
    let start = Instant::now();
    while leftovers(site.path()).is_empty() {
        assert!(start.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(5));
    }
    // The second build starts while the first is staging: it must not take the first's
    // folders for stale ones.
    let b = build(site.path()).wait().expect("second build");
    let a = a.wait().expect("first build");
    assert!(a.success() && b.success(), "first: {a}, second: {b}");
    assert!(
        leftovers(site.path()).is_empty(),
        "{:?}",
        leftovers(site.path())
    );
    assert!(site.path().join("site/index.html").is_file());
}

#[test]
fn force_replaces_a_folder_bake_did_not_write_and_empty_ones_need_no_force() {
    let site = tempfile::tempdir().expect("temp dir");
    let w = |rel: &str, body: &str| {
        let p = site.path().join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("folders");
        std::fs::write(p, body).expect("write");
    };
    w("bake.toml", "title = \"T\"\n");
    w("content/_index.md", "+++\ntitle = \"Home\"\n+++\nHi.\n");
    w("precious/thesis.txt", "four years\n");
    std::fs::create_dir_all(site.path().join("empty")).expect("empty folder");
    let bake = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_bake"))
            .args(["build", "--quiet", "--config"])
            .arg(site.path().join("bake.toml"))
            .args(args)
            .current_dir(site.path())
            .output()
            .expect("run bake")
    };
    let refused = bake(&["--out", "precious"]);
    assert!(!refused.status.success());
    assert!(site.path().join("precious/thesis.txt").is_file());
    let empty = bake(&["--out", "empty"]);
    assert!(
        empty.status.success(),
        "{}",
        String::from_utf8_lossy(&empty.stderr)
    );
    // A folder bake wrote is bake's to replace.
    assert!(bake(&["--out", "empty"]).status.success());
    let forced = bake(&["--out", "precious", "--force"]);
    assert!(
        forced.status.success(),
        "{}",
        String::from_utf8_lossy(&forced.stderr)
    );
    assert!(!site.path().join("precious/thesis.txt").exists());
    assert!(site.path().join("precious/index.html").is_file());
}
