//! Bad input, end to end: every broken file gets an error that names the file (and the line,
//! where there is one) and says what to do; `bake build` exits non-zero; and the site that was
//! there before is left byte-for-byte as it was, with no staging folders lying around.
//!
//! Each test makes a tiny valid site in a temporary folder, builds it with the real binary,
//! snapshots `site/`, breaks one thing and builds again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BAKE_TOML: &str = "\
title = \"Tiny\"

[databases.db.tables.t]
source = \"data/t.csv\"
";
const INDEX_MD: &str = "+++\ntitle = \"Home\"\n+++\nWelcome.\n";
const PAGE_MD: &str = "+++\ntitle = \"Page\"\n+++\nHello.\n";
const T_CSV: &str = "n,name\n1,one\n2,two\n";

/// A tiny site that has been built once, with a snapshot of that build's `site/`.
struct Site {
    dir: tempfile::TempDir,
    before: BTreeMap<PathBuf, Vec<u8>>,
}

impl Site {
    /// Writes the tiny site, builds it into `site/` and snapshots the result.
    fn new() -> Site {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut site = Site {
            dir,
            before: BTreeMap::new(),
        };
        site.write("bake.toml", BAKE_TOML)
            .write("content/_index.md", INDEX_MD)
            .write("content/page.md", PAGE_MD)
            .write("content/data/t.csv", T_CSV);
        let out = site.bake(&[]);
        assert!(
            out.status.success(),
            "the tiny site does not build:\n{}",
            text(&out.stderr)
        );
        site.before = crate::support::files_under(&site.path("site"));
        assert!(
            site.before.contains_key(Path::new("index.html")),
            "no index.html in {:?}",
            site.before.keys()
        );
        site
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes (or replaces) a file of the site, creating its folders.
    fn write(&self, rel: &str, bytes: impl AsRef<[u8]>) -> &Site {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().expect("has a parent")).expect("create folders");
        std::fs::write(&path, bytes).expect("write");
        self
    }

    /// Appends text to a file of the site.
    fn append(&self, rel: &str, more: &str) -> &Site {
        let mut s = std::fs::read_to_string(self.path(rel)).expect("read");
        s.push_str(more);
        self.write(rel, s)
    }

    /// Runs `bake build --config DIR/bake.toml ARGS…` in the site's folder.
    fn bake(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_bake"))
            .arg("build")
            .arg("--config")
            .arg(self.path("bake.toml"))
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("run bake")
    }

    /// Builds with `args`, expecting a failure that names `file` (at `line`, if given) and
    /// changes nothing; returns stderr for further checks.
    fn fails(&self, args: &[&str], file: &str, line: Option<usize>) -> String {
        self.failed(self.bake(args), file, line)
    }

    /// The checks of [`Site::fails`] on a build's output.
    fn failed(&self, out: Output, file: &str, line: Option<usize>) -> String {
        let stderr = text(&out.stderr);
        assert!(
            !out.status.success(),
            "the build succeeded:\nstdout: {}\nstderr: {stderr}",
            text(&out.stdout)
        );
        assert!(out.status.code().is_some(), "killed by a signal: {stderr}");
        assert!(!stderr.contains("panicked"), "bake panicked:\n{stderr}");
        assert!(stderr.contains("error: "), "no `error: ` in:\n{stderr}");
        let location = match line {
            Some(l) => format!("{file}:{l}: "),
            None => format!("{file}: "),
        };
        assert!(
            stderr.contains(&location),
            "expected `{location}` in:\n{stderr}"
        );
        assert!(stderr.contains("help: "), "no `help: ` in:\n{stderr}");
        self.assert_untouched(&stderr);
        stderr
    }

    /// `site/` is byte-for-byte the snapshot and no staging folder was left behind.
    fn assert_untouched(&self, stderr: &str) {
        let after = crate::support::files_under(&self.path("site"));
        let (before_files, after_files): (Vec<_>, Vec<_>) =
            (self.before.keys().collect(), after.keys().collect());
        assert_eq!(
            before_files, after_files,
            "site/ has other files now; stderr:\n{stderr}"
        );
        for (rel, bytes) in &self.before {
            assert!(
                after[rel] == *bytes,
                "site/{} changed; stderr:\n{stderr}",
                rel.display()
            );
        }
        let leftovers: Vec<String> = std::fs::read_dir(self.dir.path())
            .expect("list the site folder")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".bake-staging-") || n.starts_with(".bake-work-"))
            .collect();
        assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn tiny_site_builds_and_rebuilds_identically() {
    let site = Site::new();
    for page in ["index.html", "page/index.html", "404.html", "_headers"] {
        assert!(
            site.before.contains_key(Path::new(page)),
            "no {page} in {:?}",
            site.before.keys()
        );
    }
    let out = site.bake(&[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("1 database (1 table, 2 rows)"),
        "{}",
        text(&out.stdout)
    );
    site.assert_untouched(&text(&out.stderr));
}

// ---- front matter -------------------------------------------------------------------------

#[test]
fn malformed_toml_front_matter() {
    let site = Site::new();
    site.write(
        "content/page.md",
        "+++\nweight = 1\ntitle = Page\n+++\nHello.\n",
    );
    let e = site.fails(&[], "content/page.md", Some(3));
    assert!(e.contains("TOML"), "{e}");
}

#[test]
fn malformed_yaml_front_matter() {
    let site = Site::new();
    site.write(
        "content/page.md",
        "---\ntitle: Page\nweight: 1\ntags: x: y\n---\nHello.\n",
    );
    let e = site.fails(&[], "content/page.md", Some(4));
    assert!(e.contains("YAML"), "{e}");
    // Any line the YAML parser mentions is a line of the file too, not of the front matter.
    assert!(e.contains("line 4 column"), "{e}");
}

#[test]
fn unknown_template() {
    let site = Site::new();
    site.write(
        "content/page.md",
        "+++\ntitle = \"Page\"\ntemplate = \"nope.html\"\n+++\nHello.\n",
    );
    let e = site.fails(&[], "content/page.md", Some(3));
    assert!(e.contains("nope.html"), "{e}");
}

// ---- templates ----------------------------------------------------------------------------

#[test]
fn template_syntax_error() {
    let site = Site::new();
    site.write(
        "templates/page.html",
        "{% extends \"base.html\" %}\n{% block content %}{{ page.title }\n{% endblock content %}\n",
    );
    let e = site.fails(&[], "templates/page.html", Some(2));
    assert!(e.contains("syntax"), "{e}");
}

#[test]
fn undefined_template_variable() {
    let site = Site::new();
    site.write(
        "templates/page.html",
        "{% extends \"base.html\" %}\n{% block content %}\n<p>{{ page.nope }}</p>\n{% endblock content %}\n",
    );
    let e = site.fails(&[], "templates/page.html", Some(3));
    assert!(
        e.contains("page.nope") && e.contains("content/page.md"),
        "{e}"
    );
}

// ---- invalid UTF-8 ------------------------------------------------------------------------

#[test]
fn invalid_utf8_in_markdown() {
    let site = Site::new();
    site.write(
        "content/page.md",
        b"+++\ntitle = \"Page\"\n+++\nHello \xff there.\n",
    );
    let e = site.fails(&[], "content/page.md", Some(4));
    assert!(e.contains("UTF-8"), "{e}");
}

#[test]
fn invalid_utf8_in_csv() {
    let site = Site::new();
    site.write("content/data/t.csv", b"n,name\n1,one\n2,tw\xffo\n");
    let e = site.fails(&[], "content/data/t.csv", Some(3));
    assert!(e.contains("UTF-8"), "{e}");
}

// ---- CSV ----------------------------------------------------------------------------------

#[test]
fn csv_row_with_wrong_number_of_fields() {
    let site = Site::new();
    site.write("content/data/t.csv", "n,name\n1,one\n2,two,three\n3,x\n");
    let e = site.fails(&[], "content/data/t.csv", Some(3));
    assert!(e.contains("3 fields") && e.contains("has 2"), "{e}");
}

#[test]
fn csv_value_that_does_not_fit_its_declared_type() {
    let site = Site::new();
    site.append("bake.toml", "types = { n = \"integer\" }\n");
    site.write("content/data/t.csv", "n,name\n1,one\nabc,two\n3,three\n");
    let e = site.fails(&[], "content/data/t.csv", Some(3));
    assert!(
        e.contains("`n`") && e.contains("abc") && e.contains("--skip-bad-rows"),
        "{e}"
    );
}

#[test]
fn skip_bad_rows_builds_and_reports_the_count() {
    let site = Site::new();
    site.append("bake.toml", "types = { n = \"integer\" }\n");
    site.write(
        "content/data/t.csv",
        "n,name\n1,one\nabc,two\n3,three\nxyz,four\n",
    );
    let out = site.bake(&["--skip-bad-rows"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("2 rows)") && stdout.contains("skipped 2 rows"),
        "{stdout}"
    );
    assert!(
        stderr.contains("content/data/t.csv") && stderr.contains("skipped 2 rows"),
        "{stderr}"
    );
}

/// A shortcode inside a sentence would be left as literal text: an error at its line.
#[test]
fn a_shortcode_inside_a_sentence_is_refused_at_its_line() {
    let site = Site::new();
    site.write(
        "content/page.md",
        "+++\ntitle = \"Page\"\n+++\nIntro.\n\nSee {{ query(name=\"x\") }} here.\n",
    );
    let err = site.fails(&[], "content/page.md", Some(6));
    assert!(
        err.contains("inside a paragraph") && err.contains("on a line of its own"),
        "{err}"
    );
}

/// `--quiet` prints nothing but errors: not the report, not the skipped-rows warning.
#[test]
fn quiet_silences_the_report_and_warnings() {
    let site = Site::new();
    site.append("bake.toml", "types = { n = \"integer\" }\n");
    site.write("content/data/t.csv", "n,name\n1,one\nabc,two\n");
    let out = site.bake(&["--skip-bad-rows", "--quiet"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        (text(&out.stdout), text(&out.stderr)),
        (String::new(), String::new())
    );
}

// ---- JSON and JSON Lines ------------------------------------------------------------------

#[test]
fn json_that_is_an_object_not_an_array() {
    let site = Site::new();
    site.write("content/data/j.json", "{\"a\": 1}\n");
    let e = site.fails(&[], "content/data/j.json", Some(1));
    assert!(e.contains("array of objects"), "{e}");
}

#[test]
fn json_array_with_a_number_element() {
    let site = Site::new();
    site.write(
        "content/data/j.json",
        "[\n  {\"a\": 1},\n  5,\n  {\"a\": 2}\n]\n",
    );
    let e = site.fails(&[], "content/data/j.json", Some(3));
    assert!(e.contains("a number"), "{e}");
}

#[test]
fn jsonl_with_a_line_that_is_not_an_object() {
    let site = Site::new();
    site.write("content/data/j.jsonl", "{\"a\": 1}\n[1, 2]\n{\"a\": 2}\n");
    let e = site.fails(&[], "content/data/j.jsonl", Some(2));
    assert!(e.contains("not an object"), "{e}");
}

// ---- SQL ----------------------------------------------------------------------------------

#[test]
fn failing_sql_script() {
    let site = Site::new();
    site.write(
        "content/data/s.sql",
        "CREATE TABLE x(a);\n\nINSERT INTO nope VALUES (1);\n",
    );
    let e = site.fails(&[], "content/data/s.sql", Some(3));
    assert!(e.contains("no such table: nope"), "{e}");
}

#[test]
fn failing_canned_query_in_bake_toml() {
    let site = Site::new();
    site.append(
        "bake.toml",
        "\n[[queries]]\nname = \"broken_query\"\ndatabase = \"db\"\nsql = \"SELECT nope FROM t\"\n",
    );
    let e = site.fails(&[], "bake.toml", Some(7));
    assert!(
        e.contains("broken_query") && e.contains("no such column: nope"),
        "{e}"
    );
}

#[test]
fn failing_canned_query_named_like_a_table() {
    // `t` also appears in `[databases.db.tables.t]` on line 3: the error must point at the query.
    let site = Site::new();
    site.append(
        "bake.toml",
        "\n[[queries]]\nname = \"t\"\ndatabase = \"db\"\nsql = \"SELECT nope FROM t\"\n",
    );
    site.fails(&[], "bake.toml", Some(7));
}

#[test]
fn failing_front_matter_query() {
    let site = Site::new();
    site.write(
        "content/page.md",
        "+++\ntitle = \"Page\"\n\n[queries.broken]\ndatabase = \"db\"\nsql = \"SELECT nope FROM t\"\n+++\nHello.\n\n{{ query(name=\"broken\") }}\n",
    );
    let e = site.fails(&[], "content/page.md", Some(4));
    assert!(e.contains("no such column: nope"), "{e}");
}

#[test]
fn failing_front_matter_query_that_no_shortcode_uses() {
    let site = Site::new();
    site.write(
        "content/page.md",
        "+++\ntitle = \"Page\"\n\n[queries.unused]\ndatabase = \"db\"\nsql = \"SELECT nope FROM t\"\n+++\nHello.\n",
    );
    let e = site.fails(&[], "content/page.md", Some(4));
    assert!(e.contains("no such column: nope"), "{e}");
}

#[test]
fn shortcode_naming_an_unknown_query() {
    let site = Site::new();
    site.write(
        "content/page.md",
        "+++\ntitle = \"Page\"\n+++\nHello.\n\n{{ query(name=\"ghost\") }}\n",
    );
    let e = site.fails(&[], "content/page.md", Some(6));
    assert!(e.contains("ghost"), "{e}");
}

// ---- paths --------------------------------------------------------------------------------

#[test]
fn duplicate_output_paths() {
    let site = Site::new();
    site.write("content/a.md", "A\n")
        .write("content/a/index.md", "B\n");
    let e = site.fails(&[], "content/a.md", None);
    assert!(
        e.contains("content/a/index.md") && e.contains("a/index.html"),
        "{e}"
    );
}

#[cfg(unix)]
#[test]
fn symlink_leading_outside_content() {
    let site = Site::new();
    site.write("outside.md", "secret\n");
    std::os::unix::fs::symlink("../outside.md", site.path("content/link.md")).expect("symlink");
    let e = site.fails(&[], "content/link.md", None);
    assert!(
        e.starts_with("error: content/link.md: "),
        "the path should be relative to the site: {e}"
    );
    assert!(e.contains("outside the content folder"), "{e}");
}

#[test]
fn dotdot_path_in_a_bake_toml_source() {
    let site = Site::new();
    site.write("secret.csv", "x\n1\n");
    site.write(
        "bake.toml",
        BAKE_TOML.replace("data/t.csv", "../secret.csv"),
    );
    let e = site.fails(&[], "bake.toml", Some(4));
    assert!(
        e.contains("../secret.csv") && e.contains("outside the content folder"),
        "{e}"
    );
}

// ---- schema -------------------------------------------------------------------------------

#[test]
fn index_on_a_missing_column() {
    let site = Site::new();
    site.append("bake.toml", "indexes = [[\"nope\"]]\n");
    let e = site.fails(&[], "bake.toml", Some(5));
    assert!(e.contains("`nope`") && e.contains("n, name"), "{e}");
}

#[test]
fn foreign_key_on_a_missing_column() {
    let site = Site::new();
    site.append(
        "bake.toml",
        "foreign_keys = [{ columns = [\"nope\"], table = \"t\", to = [\"n\"] }]\n",
    );
    let e = site.fails(&[], "bake.toml", Some(5));
    assert!(e.contains("`nope`") && e.contains("foreign key"), "{e}");
}

#[test]
fn foreign_key_to_a_missing_table() {
    let site = Site::new();
    site.append(
        "bake.toml",
        "foreign_keys = [{ columns = [\"n\"], table = \"ghost\" }]\n",
    );
    let e = site.fails(&[], "bake.toml", Some(5));
    assert!(e.contains("`ghost`"), "{e}");
}

// ---- bake.toml ----------------------------------------------------------------------------

#[test]
fn unknown_key_in_bake_toml() {
    let site = Site::new();
    site.write(
        "bake.toml",
        BAKE_TOML.replacen('\n', "\ncolour = \"red\"\n", 1),
    );
    let e = site.fails(&[], "bake.toml", Some(2));
    assert!(e.contains("colour"), "{e}");
}

#[test]
fn bad_toml_syntax_in_bake_toml() {
    let site = Site::new();
    site.write(
        "bake.toml",
        BAKE_TOML.replacen('\n', "\ndescription = \"oops\n", 1),
    );
    site.fails(&[], "bake.toml", Some(2));
}

// ---- output folder ------------------------------------------------------------------------

#[test]
fn building_into_the_site_folder_itself_is_refused() {
    let site = Site::new();
    let out = site.bake(&["--out", "."]);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("error: refusing to build into") && stderr.contains("help: "),
        "{stderr}"
    );
    site.assert_untouched(&stderr);
    assert!(site.path("content/page.md").is_file() && site.path("bake.toml").is_file());
}

#[test]
fn building_into_a_folder_that_holds_the_sources_is_refused() {
    let site = Site::new();
    let root = site
        .dir
        .path()
        .to_str()
        .expect("UTF-8 temp path")
        .to_string();
    for out_dir in [root.as_str(), "content", "content/sub"] {
        let out = site.bake(&["--out", out_dir]);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "--out {out_dir}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            stderr.contains("error: refusing to build into") && stderr.contains("help: "),
            "{stderr}"
        );
        site.assert_untouched(&stderr);
    }
    assert!(!site.path("content/sub").exists());
    assert!(site.path("content/page.md").is_file() && site.path("bake.toml").is_file());
}

#[test]
fn search_table_naming_a_missing_column() {
    let site = Site::new();
    // Lines 6–10: the [[search.tables]] entry; the missing column sits on line 10.
    site.append(
        "bake.toml",
        "\n[[search.tables]]\ndatabase = \"db\"\ntable = \"t\"\ntitle = \"name\"\ncolumns = [\"colour\"]\n",
    );
    let e = site.fails(&[], "bake.toml", Some(10));
    assert!(e.contains("no column `colour`"), "{e}");
}

#[test]
fn a_page_that_claims_a_generated_path() {
    let site = Site::new();
    site.write("content/sql.md", "+++\ntitle = \"SQL\"\n+++\nMine.\n");
    let e = site.fails(&[], "(generated by bake)", None);
    assert!(
        e.contains("sql/index.html") && e.contains("content/sql.md"),
        "{e}"
    );
}

// ---- diagrams -------------------------------------------------------------------------------

#[test]
fn a_dot_fence_that_does_not_parse() {
    let site = Site::new();
    site.append(
        "content/page.md",
        "\nText.\n\n```dot title=\"Broken\"\ndigraph { a -> {b c} }\n```\n",
    );
    // The body starts on line 4; the fence opens on line 8 of the file.
    let e = site.fails(&[], "content/page.md", Some(8));
    assert!(
        e.contains("DOT diagram cannot be drawn") && e.contains("DOT:"),
        "{e}"
    );
}

#[test]
fn a_mermaid_fence_that_does_not_parse() {
    let site = Site::new();
    site.append(
        "content/page.md",
        "\n```mermaid\nthis is not mermaid\n```\n",
    );
    let e = site.fails(&[], "content/page.md", Some(6));
    assert!(e.contains("Mermaid"), "{e}");
}

#[test]
fn a_diagram_file_that_crashes_the_renderer() {
    // layout-rs panics on an empty record label; that must be an error, not a crash.
    let site = Site::new();
    site.write(
        "content/diagrams/bad.dot",
        "+++\ntitle = \"Bad\"\n+++\ndigraph { a [shape=record, label=\"\"]; a -> b; }\n",
    );
    let e = site.fails(&[], "content/diagrams/bad.dot", Some(1));
    assert!(e.contains("cannot be drawn"), "{e}");
}

#[test]
fn an_ascii_diagram_over_the_size_cap() {
    let site = Site::new();
    let huge = "+--+\n".repeat(400);
    site.append("content/page.md", &format!("\n```bob\n{huge}```\n"));
    let e = site.fails(&[], "content/page.md", Some(6));
    assert!(e.contains("limited to"), "{e}");
}

#[test]
fn bad_fence_attributes_and_ids() {
    let site = Site::new();
    site.append(
        "content/page.md",
        "\n```dot colour=\"red\"\ndigraph { a -> b }\n```\n",
    );
    let e = site.fails(&[], "content/page.md", Some(6));
    assert!(e.contains("unknown attribute `colour`"), "{e}");
    site.write(
        "content/page.md",
        "+++\ntitle = \"Page\"\n+++\n```dot id=\"Not Valid\"\ndigraph { a -> b }\n```\n",
    );
    let e = site.fails(&[], "content/page.md", Some(4));
    assert!(e.contains("is not a diagram id"), "{e}");
}

#[test]
fn two_diagrams_with_one_id() {
    let site = Site::new();
    site.append(
        "content/page.md",
        "\n```dot title=\"Flow\"\ndigraph { a -> b }\n```\n",
    );
    site.append(
        "content/_index.md",
        "\n```dot title=\"Flow\"\ndigraph { c -> d }\n```\n",
    );
    let e = site.fails(&[], "content/page.md", Some(6));
    assert!(
        e.contains("two diagrams have the id `flow`") && e.contains("content/_index.md:6"),
        "{e}"
    );
}

#[test]
fn a_diagram_shortcode_naming_a_missing_file() {
    let site = Site::new();
    site.write("content/diagrams/real.dot", "digraph { a -> b }\n");
    site.append(
        "content/page.md",
        "\n{{ diagram(src=\"diagrams/missing.dot\") }}\n",
    );
    let e = site.fails(&[], "content/page.md", Some(6));
    assert!(
        e.contains("no diagram file") && e.contains("diagrams/real.dot"),
        "{e}"
    );
}

#[test]
fn bad_front_matter_in_a_diagram_file() {
    let site = Site::new();
    site.write(
        "content/d.mmd",
        "---\ntitle: T\ncolour: red\n---\nflowchart LR\n  a --> b\n",
    );
    let e = site.fails(&[], "content/d.mmd", Some(3));
    assert!(
        e.contains("colour") && e.contains("title, caption, id"),
        "{e}"
    );
}

// ---- bake check -----------------------------------------------------------------------------

impl Site {
    /// Runs `bake check` in the site's folder: (exit code, stdout, stderr).
    fn check(&self) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_bake"))
            .arg("check")
            .current_dir(self.dir.path())
            .output()
            .expect("run bake");
        (
            out.status.code().expect("not killed"),
            text(&out.stdout),
            text(&out.stderr),
        )
    }
}

#[test]
fn check_passes_a_good_site_and_writes_nothing() {
    let site = Site::new();
    site.append(
        "content/page.md",
        "\nSee [home](/) and [a diagram](#diagram-flow).\n\n```dot title=\"Flow\"\ndigraph { a -> b }\n```\n",
    );
    let (code, out, err) = site.check();
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("no problems")
            && out.contains("2 diagrams")
            && out.contains("3 internal links"),
        "{out}"
    );
    site.assert_untouched(&err);
}

#[test]
fn check_reports_every_problem_with_file_and_line() {
    let site = Site::new();
    site.append(
        "bake.toml",
        "\n[[queries]]\nname = \"broken\"\ndatabase = \"db\"\nsql = \"SELECT nope FROM t\"\n",
    );
    site.write(
        "content/page.md",
        "+++\ntitle = \"Page\"\n[queries.fm]\ndatabase = \"db\"\nsql = \"SELECT * FROM missing_table\"\n+++\n\
         A [dead link](/no/such/page/) and [a bad anchor](/#nowhere).\n\n\
         ```mermaid\nnot a diagram\n```\n\n\
         {{ query(name=\"unknown_one\") }}\n",
    );
    site.write(
        "content/page/index.md",
        "+++\ntitle = \"Same path\"\n+++\nClash.\n",
    );
    let (code, out, err) = site.check();
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    for needle in [
        "bake.toml:", // the canned query in bake.toml…
        "canned query `broken` does not prepare: no such column: nope",
        "content/page.md:3: canned query `fm` failed: no such table: missing_table",
        "content/page.md:7: the link `/no/such/page/` leads nowhere",
        "content/page.md:7: the link `/#nowhere` names the anchor `#nowhere`",
        // The home page has no headings: the hint says so rather than list nothing.
        "has no headings, so no anchors",
        "content/page.md:9: the Mermaid diagram cannot be drawn",
        "content/page.md:13: there is no canned query named `unknown_one`",
        "writes `page/index.html`",
    ] {
        assert!(err.contains(needle), "missing `{needle}` in:\n{err}");
    }
    assert!(
        out.contains("7 problems") || out.contains("8 problems"),
        "{out}"
    );
    site.assert_untouched(&err);
}

#[test]
fn check_reports_data_that_does_not_bake() {
    let site = Site::new();
    site.write("content/data/t.csv", "n,name\n1,one\n2\n");
    let (code, _, err) = site.check();
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("content/data/t.csv:3"), "{err}");
}

/// `bake check` on the tiny site after a change: exits 1, prints `needle` (a located
/// problem), counts exactly one problem, and leaves `site/` as it was.
fn check_finds_one(site: &Site, needle: &str) {
    let (code, out, err) = site.check();
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains(needle), "missing `{needle}` in:\n{err}");
    assert!(err.contains("help: "), "{err}");
    assert!(out.contains(": 1 problem"), "{out}\n{err}");
    site.assert_untouched(&err);
}

#[test]
fn check_finds_a_dead_internal_link() {
    let site = Site::new();
    site.append("content/page.md", "\nSee [the guide](../guide/).\n");
    check_finds_one(
        &site,
        "content/page.md:6: the link `../guide/` leads nowhere: the site has no `/guide/`",
    );
}

#[test]
fn check_finds_a_missing_anchor() {
    let site = Site::new();
    site.append("content/_index.md", "\n## Getting started\n");
    site.append("content/page.md", "\nSee [start](/#getting-startd).\n");
    check_finds_one(
        &site,
        "content/page.md:6: the link `/#getting-startd` names the anchor `#getting-startd`",
    );
}

#[test]
fn check_finds_a_diagram_that_does_not_render() {
    let site = Site::new();
    site.write("content/flow.dot", "digraph { a -> }\n");
    check_finds_one(
        &site,
        "content/flow.dot:1: the DOT diagram cannot be drawn: DOT:",
    );
}

#[test]
fn check_finds_a_canned_query_that_does_not_prepare() {
    let site = Site::new();
    site.append(
        "bake.toml",
        "\n[[queries]]\nname = \"top\"\ndatabase = \"db\"\nsql = \"SELECT name FROM t ORDER BY nme\"\n",
    );
    check_finds_one(
        &site,
        "canned query `top` does not prepare: no such column: nme",
    );
}

#[test]
fn check_finds_two_files_claiming_one_path() {
    let site = Site::new();
    site.write(
        "content/page/index.md",
        "+++\ntitle = \"Also page\"\n+++\nHi.\n",
    );
    check_finds_one(
        &site,
        "content/page.md: writes `page/index.html`, which `content/page/index.md` also writes",
    );
}

#[test]
fn a_diagram_file_shown_twice_on_one_page() {
    let site = Site::new();
    site.write("content/flow.dot", "digraph { a -> b }\n");
    site.append(
        "content/page.md",
        "\n{{ diagram(src=\"flow.dot\") }}\n\n{{ diagram(src=\"flow.dot\") }}\n",
    );
    let e = site.fails(&[], "content/page.md", Some(8));
    assert!(e.contains("already shown on this page"), "{e}");
}

#[test]
fn a_diagram_shortcode_without_src() {
    let site = Site::new();
    site.append("content/page.md", "\n{{ diagram(file=\"flow.dot\") }}\n");
    let e = site.fails(&[], "content/page.md", Some(6));
    assert!(e.contains("the diagram shortcode needs src"), "{e}");
}

#[test]
fn an_invalid_id_in_a_diagram_file() {
    let site = Site::new();
    site.write(
        "content/flow.dot",
        "+++\nid = \"Flow Chart\"\n+++\ndigraph { a -> b }\n",
    );
    let e = site.fails(&[], "content/flow.dot", Some(1));
    assert!(e.contains("`Flow Chart` is not a diagram id"), "{e}");
}

// ---- limits on author SQL -------------------------------------------------------------------

/// A recursive CTE with no stop condition: counting its rows never ends.
const ENDLESS_COUNT: &str =
    "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) SELECT count(*) FROM c";

/// Builds, expecting a failure within `secs` seconds (a build still running then is killed
/// and fails the test instead of stalling it), and the usual checks of [`Site::fails`].
fn fails_quickly(site: &Site, file: &str, line: Option<usize>, secs: u64) -> String {
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let mut child = Command::new(env!("CARGO_BIN_EXE_bake"))
        .arg("build")
        .arg("--config")
        .arg(site.path("bake.toml"))
        .current_dir(site.dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run bake");
    let started = Instant::now();
    while child.try_wait().expect("wait for bake").is_none() {
        if started.elapsed() > Duration::from_secs(secs) {
            child.kill().expect("kill bake");
            let out = child.wait_with_output().expect("wait for bake");
            panic!(
                "the build still ran after {secs} s (killed); stderr:\n{}",
                text(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // The output is small (an error message), so the pipes did not fill while waiting.
    site.failed(child.wait_with_output().expect("wait for bake"), file, line)
}

#[test]
fn canned_query_past_the_site_time_limit() {
    let site = Site::new();
    site.append(
        "bake.toml",
        &format!(
            "\n[build]\nquery_time_limit = \"200ms\"\n\n[[queries]]\nname = \"forever\"\ndatabase = \"db\"\nsql = \"{ENDLESS_COUNT}\"\n"
        ),
    );
    let e = fails_quickly(&site, "bake.toml", Some(10), 60);
    assert!(
        e.contains("canned query `forever`")
            && e.contains("time limit of 200 ms")
            && e.contains("query_time_limit")
            && e.contains("LIMIT"),
        "{e}"
    );
}

#[test]
fn canned_query_past_its_own_time_limit() {
    let site = Site::new();
    site.append(
        "bake.toml",
        &format!(
            "\n[[queries]]\nname = \"forever\"\ndatabase = \"db\"\ntime_limit = 0.2\nsql = \"{ENDLESS_COUNT}\"\n"
        ),
    );
    let e = fails_quickly(&site, "bake.toml", Some(7), 20);
    assert!(
        e.contains("time limit of 200 ms") && e.contains("`time_limit` of this [[queries]] entry"),
        "{e}"
    );
}

#[test]
fn front_matter_query_past_its_time_limit() {
    let site = Site::new();
    site.write(
        "content/page.md",
        format!(
            "+++\ntitle = \"Page\"\n\n[queries.forever]\ndatabase = \"db\"\ntime_limit = \"200ms\"\nsql = \"{ENDLESS_COUNT}\"\n+++\nHello.\n\n{{{{ query(name=\"forever\") }}}}\n"
        ),
    );
    let e = fails_quickly(&site, "content/page.md", Some(4), 20);
    assert!(
        e.contains("canned query `forever`")
            && e.contains("time limit of 200 ms")
            && e.contains("`time_limit` of this query in the front matter"),
        "{e}"
    );
}

#[test]
fn sql_script_that_never_ends() {
    let site = Site::new();
    site.append("bake.toml", "\n[build]\nquery_time_limit = \"200ms\"\n");
    site.write(
        "content/data/s.sql",
        "CREATE TABLE x(n);\n\nINSERT INTO x\n  WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c)\n  SELECT n FROM c;\n",
    );
    let e = fails_quickly(&site, "content/data/s.sql", Some(3), 60);
    assert!(
        e.contains("time limit of 200 ms") && e.contains("query_time_limit"),
        "{e}"
    );
}

#[test]
fn endless_rows_stop_at_the_row_limit() {
    let site = Site::new();
    site.append(
        "bake.toml",
        "\n[build]\nquery_max_rows = 3\n\n[[queries]]\nname = \"numbers\"\ndatabase = \"db\"\nsql = \"WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) SELECT n * 7 AS seven FROM c\"\n",
    );
    site.write(
        "content/page.md",
        "+++\ntitle = \"Page\"\n\n[queries.two]\ndatabase = \"db\"\nmax_rows = 1\nsql = \"SELECT name FROM t ORDER BY n\"\n+++\n{{ query(name=\"numbers\") }}\n\n{{ query(name=\"two\") }}\n",
    );
    let out = site.bake(&[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let html = std::fs::read_to_string(site.path("site/page/index.html")).expect("page");
    assert!(html.contains(">21<") && !html.contains(">28<"), "{html}");
    assert!(html.contains("first 3 rows shown"), "{html}");
    assert!(html.contains(">one<") && !html.contains(">two<"), "{html}");
    assert!(html.contains("first 1 rows shown"), "{html}");
}

// ---- silent acceptance ----------------------------------------------------------------------

#[test]
fn front_matter_dates_that_are_not_dates() {
    let site = Site::new();
    for bad in ["yesterday", "2024-02-30", "15/01/2024"] {
        site.write(
            "content/page.md",
            format!("---\ntitle: Page\ndate: \"{bad}\"\n---\nHello.\n"),
        );
        let e = site.fails(&[], "content/page.md", Some(3));
        assert!(
            e.contains(&format!("`{bad}` is not a date")) && e.contains("2024-01-15"),
            "{e}"
        );
    }
    site.write(
        "content/page.md",
        "+++\ntitle = \"Page\"\ndate = 2024-02-29T10:00:00Z\n+++\nHello.\n",
    );
    let out = site.bake(&[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn json_integers_stay_exact() {
    let site = Site::new();
    site.write(
        "content/data/big.jsonl",
        "{\"id\": 1, \"n\": 9007199254740993}\n{\"id\": 2, \"n\": 123456789012345678901234567890}\n{\"id\": 3, \"n\": 18446744073709551615}\n",
    );
    site.append(
        "bake.toml",
        "\n[[queries]]\nname = \"big\"\ndatabase = \"big\"\nsql = \"SELECT typeof(n) || ':' || n AS v FROM big ORDER BY id\"\n",
    );
    site.append("content/page.md", "\n{{ query(name=\"big\") }}\n");
    let out = site.bake(&[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let html = std::fs::read_to_string(site.path("site/page/index.html")).expect("page");
    for v in [
        "text:9007199254740993",
        "text:123456789012345678901234567890",
        "text:18446744073709551615",
    ] {
        assert!(html.contains(v), "no {v} in {html}");
    }
    // Without the big ones the column stays an integer column, exact beyond 2^53.
    site.write(
        "content/data/big.jsonl",
        "{\"id\": 1, \"n\": 9007199254740993}\n{\"id\": 2, \"n\": -9223372036854775808}\n",
    );
    let out = site.bake(&[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let html = std::fs::read_to_string(site.path("site/page/index.html")).expect("page");
    for v in ["integer:9007199254740993", "integer:-9223372036854775808"] {
        assert!(html.contains(v), "no {v} in {html}");
    }
}

#[test]
fn json_integer_beyond_64_bits_in_an_integer_column() {
    let site = Site::new();
    site.write(
        "bake.toml",
        "title = \"Tiny\"\n\n[databases.db.tables.t]\nsource = \"data/t.jsonl\"\ntypes = { n = \"integer\" }\n",
    );
    site.write(
        "content/data/t.jsonl",
        "{\"n\": 1}\n{\"n\": 123456789012345678901234567890}\n",
    );
    // The first build of Site::new used t.csv: this one must fail and leave that site.
    let e = site.fails(&[], "content/data/t.jsonl", Some(2));
    assert!(
        e.contains("`n` is integer") && e.contains("123456789012345678901234567890"),
        "{e}"
    );
}

#[test]
fn empty_primary_key() {
    let site = Site::new();
    site.append("bake.toml", "primary_key = [\"n\"]\n");
    site.write("content/data/t.csv", "n,name\n1,one\n,two\n3,three\n");
    let e = site.fails(&[], "content/data/t.csv", Some(3));
    assert!(
        e.contains("no value for `n`") && e.contains("primary_key"),
        "{e}"
    );
}

// ---- misleading messages ------------------------------------------------------------------

#[test]
fn a_source_that_is_a_folder() {
    let site = Site::new();
    std::fs::create_dir_all(site.path("content/data/dir.csv")).expect("folder");
    site.write("bake.toml", BAKE_TOML.replace("data/t.csv", "data/dir.csv"));
    let e = site.fails(&[], "content/data/dir.csv", None);
    assert!(e.contains("is a folder") && !e.contains("fields"), "{e}");
}

#[test]
fn a_truncated_gz_source() {
    use std::io::Write;
    let site = Site::new();
    let (mut csv, mut jsonl) = (String::from("n,name\n"), String::new());
    for i in 0..20_000 {
        csv.push_str(&format!("{i},name {i}\n"));
        jsonl.push_str(&format!("{{\"n\": {i}, \"name\": \"name {i}\"}}\n"));
    }
    let json = format!("[{}]", jsonl.trim_end().replace('\n', ",\n"));
    site.fs_remove("content/data/t.csv");
    for (file, data) in [
        ("t.csv.gz", csv),
        ("t.jsonl.gz", jsonl),
        ("t.json.gz", json),
    ] {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(data.as_bytes()).expect("compress");
        let bytes = gz.finish().expect("compress");
        site.write(&format!("content/data/{file}"), &bytes[..bytes.len() / 2]);
        site.write(
            "bake.toml",
            BAKE_TOML.replace("data/t.csv", &format!("data/{file}")),
        );
        let e = site.fails(&[], &format!("content/data/{file}"), None);
        assert!(
            e.contains("gzip data is cut short or damaged")
                && !e.contains("fields")
                && !e.contains("UTF-8"),
            "{e}"
        );
        site.fs_remove(&format!("content/data/{file}"));
    }
}

#[test]
fn a_csv_with_more_columns_than_sqlite_allows() {
    let site = Site::new();
    let header: Vec<String> = (1..=5000).map(|i| format!("c{i}")).collect();
    let row: Vec<String> = (1..=5000).map(|i| i.to_string()).collect();
    site.write(
        "content/data/t.csv",
        format!("{}\n{}\n", header.join(","), row.join(",")),
    );
    let e = site.fails(&[], "content/data/t.csv", Some(1));
    assert!(
        e.contains("5000 columns") && e.contains("2000") && e.contains("split the file"),
        "{e}"
    );
}

#[test]
fn a_bad_database_name_at_its_own_line() {
    let site = Site::new();
    // An escaped name and a dotted key: neither is the name as written.
    site.append(
        "bake.toml",
        "\n[databases.\"caf\\u00e9\".tables.x]\nsource = \"data/t.csv\"\n",
    );
    let e = site.fails(&[], "bake.toml", Some(6));
    assert!(e.contains("database name `café`"), "{e}");
    site.write(
        "bake.toml",
        format!("{BAKE_TOML}\n[databases]\nok.tables.y.source = \"data/t.csv\"\n\"my db\".tables.x.source = \"data/t.csv\"\n"),
    );
    let e = site.fails(&[], "bake.toml", Some(8));
    assert!(e.contains("database name `my db`"), "{e}");
}

#[test]
fn a_column_named_rowid_in_a_search_table() {
    let site = Site::new();
    site.write("content/data/t.csv", "rowid,name\nx,one\ny,two\n");
    // Lines 6–9: the [[search.tables]] entry; the table is named on line 8.
    site.append(
        "bake.toml",
        "\n[[search.tables]]\ndatabase = \"db\"\ntable = \"t\"\ntitle = \"name\"\n",
    );
    let e = site.fails(&[], "bake.toml", Some(8));
    assert!(
        e.contains("column named `rowid`") && e.contains("rename"),
        "{e}"
    );
}

#[test]
fn page_size_and_part_size_errors_say_what_to_write() {
    let site = Site::new();
    site.write("bake.toml", format!("page_size = 1000\n{BAKE_TOML}"));
    let e = site.fails(&[], "bake.toml", Some(1));
    assert!(e.contains("4096"), "{e}");
    site.write(
        "bake.toml",
        BAKE_TOML.replacen('\n', "\npart_size = 100\n", 1),
    );
    let e = site.fails(&[], "bake.toml", Some(2));
    assert!(
        e.contains("at least 4096") && e.contains("host preset"),
        "{e}"
    );
    site.write(
        "bake.toml",
        BAKE_TOML.replacen('\n', "\n\n[databases.db]\npage_size = 3000\n", 1),
    );
    let e = site.fails(&[], "bake.toml", Some(4));
    assert!(e.contains("page_size 3000") && e.contains("4096"), "{e}");
}

impl Site {
    /// Deletes a file of the site.
    fn fs_remove(&self, rel: &str) {
        std::fs::remove_file(self.path(rel)).expect("remove");
    }
}

#[test]
fn check_finds_a_search_table_it_cannot_link() {
    let site = Site::new();
    site.write("content/data/t.csv", "rowid,name\nx,one\ny,two\n");
    site.append(
        "bake.toml",
        "\n[[search.tables]]\ndatabase = \"db\"\ntable = \"t\"\ntitle = \"name\"\n",
    );
    check_finds_one(
        &site,
        "bake.toml:8: table `db.t` has a column named `rowid`",
    );
}

#[test]
fn a_search_table_without_rowid() {
    let site = Site::new();
    site.write(
        "content/data/w.sql",
        "CREATE TABLE kv(k TEXT PRIMARY KEY, name TEXT) WITHOUT ROWID;\nINSERT INTO kv VALUES ('a', 'one');\n",
    );
    site.append(
        "bake.toml",
        "\n[[search.tables]]\ndatabase = \"w\"\ntable = \"kv\"\ntitle = \"name\"\n",
    );
    let e = site.fails(&[], "bake.toml", Some(8));
    assert!(e.contains("WITHOUT ROWID"), "{e}");
}

#[test]
fn a_gz_cut_inside_a_character() {
    use std::io::Write;
    let site = Site::new();
    // Rows of two-byte characters; the cut falls inside one of them or between rows.
    let mut csv = String::from("n,name\n");
    for i in 0..3000 {
        csv.push_str(&format!("{i},{}\n", "é".repeat(40)));
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::none());
    gz.write_all(csv.as_bytes()).expect("compress");
    let bytes = gz.finish().expect("compress");
    for cut in [bytes.len() / 2, bytes.len() / 2 + 1, bytes.len() / 3] {
        site.write("content/data/t.csv.gz", &bytes[..cut]);
        site.write(
            "bake.toml",
            BAKE_TOML.replace("data/t.csv", "data/t.csv.gz"),
        );
        let e = site.fails(&[], "content/data/t.csv.gz", None);
        assert!(e.contains("gzip data is cut short"), "cut at {cut}: {e}");
    }
}
