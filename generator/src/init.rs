//! `bake init DIR`: a new site that `bake build` and `bake serve` accept at once.
//!
//! The scaffold is a handful of real files under `generator/init/`, embedded in the binary
//! with `include_str!` so an installed `bake` needs nothing from the repository:
//!
//! - `bake.toml`: title, description, one database (`bakery`, a `products` table with a
//!   primary key), its rows in the search index, and one canned query;
//! - `content/_index.md`: the home page, saying what to edit next, showing the canned query
//!   and the sample diagram;
//! - `content/about.md`: one more page, with a canned query of its own in its front matter;
//! - `content/data/products.csv`: ten made-up bakery products;
//! - `content/diagrams/how-bake-works.dot`: a Graphviz digraph with TOML front matter
//!   (`title`, `id`, `caption`), embedded on the home page and listed in the gallery.
//!
//! `init` never overwrites anything: it refuses a folder that holds any entry (hidden ones
//! included), and creates every file with `create_new`, so even a file that appears while
//! it runs is left alone.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// The scaffold: path relative to the new site's folder (with `/` separators) and contents,
/// in the order they are written.
pub const FILES: &[(&str, &str)] = &[
    ("bake.toml", include_str!("../init/bake.toml")),
    (
        "content/_index.md",
        include_str!("../init/content/_index.md"),
    ),
    ("content/about.md", include_str!("../init/content/about.md")),
    (
        "content/data/products.csv",
        include_str!("../init/content/data/products.csv"),
    ),
    (
        "content/diagrams/how-bake-works.dot",
        include_str!("../init/content/diagrams/how-bake-works.dot"),
    ),
];

/// Writes a new site into `dir`, creating it (and its parents) if missing, and returns the
/// paths written, relative to `dir`, in order.
///
/// Fails without writing anything if `dir` exists and is not an empty folder.
pub fn init(dir: &Path) -> Result<Vec<String>> {
    match std::fs::metadata(dir) {
        Ok(meta) if !meta.is_dir() => {
            return Err(
                Error::in_file(dir, "cannot create a site here: this is not a folder")
                    .hint("pass the path of a new or empty folder, e.g. `bake init my-site`"),
            );
        }
        Ok(_) => {
            let mut entries = std::fs::read_dir(dir)
                .map_err(|e| Error::io(dir, "read the folder", e))?
                .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect::<std::io::Result<Vec<_>>>()
                .map_err(|e| Error::io(dir, "read the folder", e))?;
            if !entries.is_empty() {
                entries.sort();
                let shown = entries
                    .iter()
                    .take(3)
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let more = if entries.len() > 3 { ", …" } else { "" };
                return Err(Error::in_file(
                    dir,
                    format!(
                        "cannot create a site here: the folder is not empty (it holds {shown}{more})"
                    ),
                )
                .hint(
                    "bake init never overwrites files; pass a new or empty folder, e.g. `bake init my-site`",
                ));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, "create the folder", e))?;
        }
        Err(e) => return Err(Error::io(dir, "read the folder", e)),
    }

    let mut written = Vec::with_capacity(FILES.len());
    for (rel, text) in FILES {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::io(parent, "create the folder", e))?;
        }
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| {
                Error::io(&path, "create the file", e)
                    .hint("bake init never overwrites files; pass a new or empty folder")
            })?;
        file.write_all(text.as_bytes())
            .map_err(|e| Error::io(&path, "write the file", e))?;
        written.push(rel.to_string());
    }
    Ok(written)
}

/// What `bake init` prints: the files written and the commands to run next, with `bake`
/// the command that runs this program (see [`command_name`]).
pub fn summary(dir: &Path, written: &[String], bake: &str) -> String {
    let mut s = format!("Created a new bake site in {}:\n", dir.display());
    for rel in written {
        s.push_str(&format!("  {rel}\n"));
    }
    s.push_str(&format!(
        "\nNext:\n  cd {} && {bake} build && {bake} serve\n",
        shell_quote(&dir.display().to_string())
    ));
    s
}

/// How to run this program from a shell: `bake` when that is on the `PATH` (`path`) and is
/// this program (`exe`), else the program's own path, quoted; a `cargo run` build is not on
/// the `PATH` until `cargo install --path generator`.
pub fn command_name(exe: Option<&Path>, path: Option<&std::ffi::OsStr>) -> String {
    let Some(exe) = exe else {
        return "bake".into();
    };
    let on_path = path
        .map(|p| std::env::split_paths(p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join("bake"))
        .find(|c| c.is_file());
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    match on_path {
        Some(found) if same(&found, exe) => "bake".into(),
        _ => shell_quote(&exe.display().to_string()),
    }
}

/// Quotes `s` for a POSIX shell when it holds anything but plain path characters.
fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+,:@%=~".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn scaffold_config_parses() {
        let dir = tempfile::tempdir().unwrap();
        let written = init(&dir.path().join("site")).unwrap();
        let names: Vec<&str> = FILES.iter().map(|(rel, _)| *rel).collect();
        assert_eq!(written, names);
        let config = Config::load(&dir.path().join("site/bake.toml")).unwrap();
        assert!(!config.title.is_empty() && !config.description.is_empty());
        let db = &config.databases["bakery"];
        assert_eq!(db.tables["products"].primary_key, ["id"]);
        let source = config.content_dir().join(&db.tables["products"].source);
        assert!(source.is_file(), "{}", source.display());
        assert!(
            config
                .queries
                .iter()
                .any(|q| q.name == "products_by_category")
        );
    }

    #[test]
    fn pages_use_what_the_config_declares() {
        let home = FILES[1].1;
        assert!(home.contains(r#"{{ query(name="products_by_category") }}"#));
        assert!(home.contains(r#"{{ diagram(src="diagrams/how-bake-works.dot") }}"#));
        let dot = FILES[4].1;
        assert!(dot.starts_with("+++\ntitle = \"How bake works\"\nid = \"how-bake-works\"\n"));
        assert!(dot.contains("digraph"));
    }

    #[test]
    fn refuses_files_and_full_folders() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let e = init(&file).unwrap_err();
        assert!(e.hint.is_some(), "{e}");
        let e = init(dir.path()).unwrap_err();
        assert!(e.to_string().contains("`f`"), "{e}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "x");
    }

    #[test]
    fn the_command_is_bake_only_when_the_path_runs_this_program() {
        let dir = tempfile::tempdir().unwrap();
        let (bin, other) = (dir.path().join("bin"), dir.path().join("other"));
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&other).unwrap();
        let exe = other.join("bake");
        std::fs::write(&exe, "").unwrap();
        // Not on the PATH: the program's own path.
        let path = std::env::join_paths([&bin]).unwrap();
        assert_eq!(
            command_name(Some(&exe), Some(&path)),
            exe.display().to_string()
        );
        // Another `bake` on the PATH is not this one.
        std::fs::write(bin.join("bake"), "").unwrap();
        assert_eq!(
            command_name(Some(&exe), Some(&path)),
            exe.display().to_string()
        );
        // On the PATH and the same file: `bake`.
        let path = std::env::join_paths([&other]).unwrap();
        assert_eq!(command_name(Some(&exe), Some(&path)), "bake");
    }

    #[test]
    fn summary_quotes_odd_paths() {
        let s = summary(Path::new("my site"), &["bake.toml".into()], "bake");
        assert!(s.contains("  bake.toml\n"), "{s}");
        assert!(
            s.contains("cd 'my site' && bake build && bake serve"),
            "{s}"
        );
        let s = summary(Path::new("x"), &[], "'/w/my repo/target/debug/bake'");
        assert!(
            s.contains("cd x && '/w/my repo/target/debug/bake' build && '/w/my repo/target/debug/bake' serve"),
            "{s}"
        );
        assert_eq!(shell_quote("a/b-c"), "a/b-c");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
