//! `bake init DIR`: the scaffold builds at once, and init never writes into a folder that
//! holds anything.

use std::path::Path;
use std::process::{Command, Output};

fn bake(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bake"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run bake")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn init_then_build() {
    let tmp = tempfile::tempdir().unwrap();
    // Missing parents are created too.
    let out = bake(tmp.path(), &["init", "sites/x"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}{stdout}", text(&out.stderr));
    for rel in [
        "bake.toml",
        "content/_index.md",
        "content/data/products.csv",
        "content/diagrams/how-bake-works.dot",
    ] {
        assert!(stdout.contains(rel), "init does not list {rel}:\n{stdout}");
    }
    assert!(
        stdout.contains("bake build") && stdout.contains("bake serve"),
        "init does not say what to run next:\n{stdout}"
    );

    let x = tmp.path().join("sites/x");
    let out = bake(&x, &["build"]);
    assert!(
        out.status.success(),
        "bake build failed on the scaffold:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let site = x.join("site");

    // The home page shows the canned query's answer as a table.
    let home = read(&site.join("index.html"));
    assert!(
        home.contains("<table"),
        "no table on the home page:\n{home}"
    );
    assert!(home.contains("products_by_category"), "{home}");
    assert!(
        home.contains("pastry"),
        "the query's rows are missing:\n{home}"
    );
    assert!(site.join("about/index.html").is_file());
    assert!(site.join("tables/bakery/products/index.html").is_file());

    // The sample diagram gets its own page and a card in the gallery.
    assert!(site.join("diagrams/how-bake-works/index.html").is_file());
    let gallery = read(&site.join("gallery/index.html"));
    assert!(
        gallery.contains("How bake works"),
        "the gallery does not list the sample diagram:\n{gallery}"
    );
}

#[test]
fn refuses_a_folder_that_is_not_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("occupied");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "keep me").unwrap();

    let out = bake(tmp.path(), &["init", "occupied"]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "init wrote into a full folder");
    assert!(
        stderr.contains("occupied"),
        "the error does not name the folder:\n{stderr}"
    );
    assert!(stderr.contains("help:"), "the error has no hint:\n{stderr}");

    assert_eq!(read(&dir.join("notes.txt")), "keep me");
    let entries: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(entries.len(), 1, "init added files to a full folder");
}

#[test]
fn accepts_an_empty_folder() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("empty")).unwrap();
    let out = bake(tmp.path(), &["init", "empty"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(tmp.path().join("empty/bake.toml").is_file());
    assert!(tmp.path().join("empty/content/_index.md").is_file());
}

#[test]
fn second_init_refuses() {
    let tmp = tempfile::tempdir().unwrap();
    let out = bake(tmp.path(), &["init", "twice"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let config = tmp.path().join("twice/bake.toml");
    std::fs::write(&config, "title = \"edited\"\n").unwrap();

    let out = bake(tmp.path(), &["init", "twice"]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "the second init succeeded");
    assert!(
        stderr.contains("twice") && stderr.contains("help:"),
        "{stderr}"
    );
    assert_eq!(read(&config), "title = \"edited\"\n");
}
