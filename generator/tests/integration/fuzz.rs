//! Property tests ("fuzzing" that runs on stable Rust; see docs/fuzzing.md) of the parsers a
//! site author feeds: front matter, the CSV/TSV/JSON/JSONL readers and their type inference,
//! the shortcode and `key="value"` parser, and the SVG sanitizer. Each target takes both
//! arbitrary input (never a panic; errors located inside the file) and generated well-formed
//! input checked against a small model of what must come out.
//!
//! `PROPTEST_CASES=N` runs N cases per property instead of the smoke-run default.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bake::config::Config;
use bake::diagrams::Kind;
use bake::diagrams::svg::finish;
use bake::frontmatter;
use bake::load::Content;
use bake::markdown::{self, Shortcode};
use proptest::prelude::*;
use rusqlite::types::Value;

/// Cases per property: `PROPTEST_CASES` if set, else the smoke-run default.
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config(default_cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases: cases(default_cases),
        // Failures are turned into named regression tests by hand; no files appear in the tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Text assembled from `pieces` that mean something to the parser under test, so random
/// input reaches past its first check far more often than uniform noise does.
fn pieces_text(pieces: &'static [&'static str], max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(pieces).prop_map(str::to_string),
            1 => "\\PC{0,6}",
        ],
        0..max,
    )
    .prop_map(|v| v.concat())
}

/// Lines a located error may name: 1 up to the line after the last newline (end of file).
fn lines_in(text: &str) -> usize {
    text.split('\n').count().max(1)
}

// ---------------------------------------------------------------------------------------
// Front matter

const FM_PIECES: &[&str] = &[
    "+++",
    "---",
    "\n",
    "\r\n",
    "\u{feff}",
    "title",
    "date",
    "tags",
    "weight",
    "draft",
    "extra",
    "queries",
    "sort_by",
    "template",
    " = ",
    ": ",
    "=",
    ":",
    "\"",
    "'",
    "[",
    "]",
    "{",
    "}",
    ",",
    "- ",
    "  ",
    "\t",
    "#",
    "1",
    "-3",
    "2024-01-15",
    "true",
    "null",
    "~",
    "[queries.q]",
    "database = \"db\"",
    "sql = \"SELECT 1\"",
    "&a",
    "*a",
    "<<: *a",
    "!!str",
    "|\n  x",
    ">-",
    "\"\"\"",
    "'''",
    "\\",
    "\\u00e9",
    "0x1F",
    "1e999",
    "nan",
    "inf",
];

fn check_front_matter_error(text: &str, e: &bake::Error) -> Result<(), TestCaseError> {
    prop_assert_eq!(e.file.as_deref(), Some(Path::new("page.md")), "{}", e);
    if let Some(line) = e.line {
        prop_assert!(
            (1..=lines_in(text)).contains(&line),
            "line {} outside the file's {} lines: {}",
            line,
            lines_in(text),
            e
        );
    }
    Ok(())
}

/// A front matter the model knows the meaning of.
#[derive(Debug, Clone)]
struct Front {
    title: Option<String>,
    tags: Vec<String>,
    weight: Option<i64>,
    draft: Option<bool>,
    date: Option<(u32, u32, u32)>,
    extra: Vec<i64>,
}

/// What is done to a well-formed front matter before parsing it.
#[derive(Debug, Clone)]
enum Mutation {
    None,
    /// Windows line endings throughout (must mean the same).
    Crlf,
    /// A byte-order mark first (must mean the same).
    Bom,
    /// An unknown key inserted before field `at`: an error at exactly its line.
    UnknownKey {
        at: usize,
    },
    /// `weight` given as text: an error at exactly its line.
    WrongType,
    /// The closing delimiter removed: an error at line 1.
    Unclosed,
    /// One character of the front matter deleted: anything but a panic or a stray line.
    DeleteChar {
        at: usize,
    },
}

fn front() -> impl Strategy<Value = Front> {
    (
        // Printable text: YAML refuses control characters and breaks lines at U+2028/9.
        prop::option::of("[^\n\r\u{2028}\u{2029}\\p{C}]{0,20}"),
        prop::collection::vec("[^\n\r\u{2028}\u{2029}\\p{C}]{1,10}", 0..4),
        prop::option::of(any::<i64>()),
        prop::option::of(any::<bool>()),
        prop::option::of((1970u32..2100, 1u32..13, 1u32..29)),
        prop::collection::vec(any::<i64>(), 0..3),
    )
        .prop_map(|(title, tags, weight, draft, date, extra)| Front {
            title,
            tags,
            weight,
            draft,
            date,
            extra,
        })
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => Just(Mutation::None),
        1 => Just(Mutation::Crlf),
        1 => Just(Mutation::Bom),
        1 => (0usize..8).prop_map(|at| Mutation::UnknownKey { at }),
        1 => Just(Mutation::WrongType),
        1 => Just(Mutation::Unclosed),
        2 => any::<usize>().prop_map(|at| Mutation::DeleteChar { at }),
    ]
}

fn toml_scalar(v: toml::Value) -> String {
    v.to_string()
}

/// The front matter's lines (without delimiters): (key, line text), in order.
fn front_lines(f: &Front, toml: bool) -> Vec<(&'static str, String)> {
    let kv = |k: &'static str, v: String| {
        (
            k,
            if toml {
                format!("{k} = {v}")
            } else {
                format!("{k}: {v}")
            },
        )
    };
    let s = |v: &str| {
        if toml {
            toml_scalar(toml::Value::String(v.to_string()))
        } else {
            // A JSON string is a YAML double-quoted scalar, safe in flow lists too.
            serde_json::to_string(v).unwrap()
        }
    };
    let mut out = Vec::new();
    if let Some(t) = &f.title {
        out.push(kv("title", s(t)));
    }
    if !f.tags.is_empty() {
        let items: Vec<String> = f.tags.iter().map(|t| s(t)).collect();
        out.push(kv("tags", format!("[{}]", items.join(", "))));
    }
    if let Some(w) = f.weight {
        out.push(kv("weight", w.to_string()));
    }
    if let Some(d) = f.draft {
        out.push(kv("draft", d.to_string()));
    }
    if let Some((y, m, d)) = f.date {
        out.push(kv("date", format!("{y:04}-{m:02}-{d:02}")));
    }
    if !f.extra.is_empty() {
        // Last: in TOML a table header ends the top-level keys.
        if toml {
            out.push(("extra", "[extra]".to_string()));
        } else {
            out.push(("extra", "extra:".to_string()));
        }
        for (i, v) in f.extra.iter().enumerate() {
            let line = if toml {
                format!("k{i} = {v}")
            } else {
                format!("  k{i}: {v}")
            };
            out.push(("extra", line));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Data files

/// One value of a generated table.
#[derive(Debug, Clone)]
enum V {
    Null,
    Int(i64),
    Real(f64),
    /// Text that no reader may take for a number.
    Text(String),
    /// JSON only: booleans are stored as 1 and 0.
    Bool(bool),
}

/// Which kinds of value a column holds; decides its inferred type.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Col {
    Ints,
    Reals,
    IntsAndReals,
    Texts,
    Mixed,
    Nulls,
}

impl Col {
    fn sql(self) -> &'static str {
        match self {
            Col::Ints => "INTEGER",
            Col::Reals | Col::IntsAndReals => "REAL",
            Col::Texts | Col::Mixed | Col::Nulls => "TEXT",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Format {
    Csv,
    Tsv,
    Json,
    Jsonl,
}

/// A table: column names, what each column holds, rows.
#[derive(Debug, Clone)]
struct Table {
    names: Vec<String>,
    cols: Vec<Col>,
    rows: Vec<Vec<V>>,
}

/// Text a CSV reader must keep as text: starts with a letter, a code with a leading zero,
/// or a number with a space around it.
fn csv_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z\u{e9}\u{4e2d}][^\u{0}]{0,12}",
        1 => "0[0-9]{1,5}",
        1 => any::<i32>().prop_map(|i| format!(" {i}")),
        1 => any::<i32>().prop_map(|i| format!("{i} ")),
    ]
}

fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("finite", |f| f.is_finite()),
        (-1_000_000i64..1_000_000).prop_map(|i| i as f64 / 8.0),
        Just(0.0),
        Just(-0.0),
        Just(f64::MAX),
        Just(f64::MIN_POSITIVE),
    ]
}

fn int() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        -1000i64..1000,
        Just(i64::MAX),
        Just(i64::MIN),
        Just(1 << 53),
        Just((1 << 53) + 1)
    ]
}

fn value(col: Col, json: bool) -> BoxedStrategy<V> {
    let null = Just(V::Null).boxed();
    let ints = if json {
        prop_oneof![4 => int().prop_map(V::Int), 1 => any::<bool>().prop_map(V::Bool)].boxed()
    } else {
        int().prop_map(V::Int).boxed()
    };
    let plain_ints = int().prop_map(V::Int).boxed();
    let reals = finite().prop_map(V::Real).boxed();
    let texts = if json {
        "[^\u{0}]{1,12}".prop_map(V::Text).boxed()
    } else {
        csv_text().prop_map(V::Text).boxed()
    };
    match col {
        Col::Ints => prop_oneof![1 => null, 5 => ints].boxed(),
        Col::Reals => prop_oneof![1 => null, 5 => reals].boxed(),
        Col::IntsAndReals => prop_oneof![1 => null, 3 => plain_ints, 3 => reals].boxed(),
        Col::Texts => prop_oneof![1 => null, 5 => texts].boxed(),
        Col::Mixed => prop_oneof![1 => null, 2 => texts, 2 => plain_ints, 2 => reals].boxed(),
        Col::Nulls => null,
    }
}

fn table(json: bool) -> impl Strategy<Value = Table> {
    let col = prop_oneof![
        Just(Col::Ints),
        Just(Col::Reals),
        Just(Col::IntsAndReals),
        Just(Col::Texts),
        Just(Col::Mixed),
        Just(Col::Nulls),
    ];
    (
        prop::collection::vec((col, "[a-zA-Z0-9_ \"'.,-]{0,6}"), 1..5),
        1usize..16,
    )
        .prop_flat_map(move |(cols, nrows)| {
            let names: Vec<String> = cols
                .iter()
                .enumerate()
                .map(|(i, (_, mid))| format!("c{i}_{mid}x"))
                .collect();
            let kinds: Vec<Col> = cols.iter().map(|c| c.0).collect();
            let row: Vec<BoxedStrategy<V>> = kinds.iter().map(|&c| value(c, json)).collect();
            (Just(names), Just(kinds), prop::collection::vec(row, nrows))
        })
        .prop_map(|(names, cols, rows)| {
            // A column's type is what its values are, not what it was meant to hold: a Mixed
            // column that drew no text is numeric. Settle the model on what was drawn.
            let cols = cols
                .iter()
                .enumerate()
                .map(|(i, &c)| {
                    let (mut int, mut real, mut text) = (false, false, false);
                    for r in &rows {
                        match r[i] {
                            V::Int(_) | V::Bool(_) => int = true,
                            V::Real(_) => real = true,
                            V::Text(_) => text = true,
                            V::Null => {}
                        }
                    }
                    match (c, text, real, int) {
                        (_, true, _, _) => Col::Mixed,
                        (_, false, true, true) => Col::IntsAndReals,
                        (_, false, true, false) => Col::Reals,
                        (_, false, false, true) => Col::Ints,
                        _ => Col::Nulls,
                    }
                })
                .collect();
            Table { names, cols, rows }
        })
}

fn csv_field(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// The table as file bytes; nulls are empty cells (CSV) or `null`/missing keys (JSON).
fn write_table(t: &Table, format: Format, crlf: bool, omit_nulls: bool) -> Vec<u8> {
    let nl = if crlf { "\r\n" } else { "\n" };
    match format {
        Format::Csv | Format::Tsv => {
            let sep = if format == Format::Csv { "," } else { "\t" };
            let mut out: Vec<String> = vec![
                t.names
                    .iter()
                    .map(|n| csv_field(n))
                    .collect::<Vec<_>>()
                    .join(sep),
            ];
            for r in &t.rows {
                let cells: Vec<String> = r
                    .iter()
                    .map(|v| match v {
                        // Quoted, so a one-column row of NULL is not a blank line.
                        V::Null => "\"\"".to_string(),
                        V::Int(i) => i.to_string(),
                        V::Real(f) => format!("{f:?}"),
                        V::Text(s) => csv_field(s),
                        V::Bool(_) => unreachable!("no booleans in CSV"),
                    })
                    .collect();
                out.push(cells.join(sep));
            }
            (out.join(nl) + nl).into_bytes()
        }
        Format::Json | Format::Jsonl => {
            let objects: Vec<serde_json::Value> = t
                .rows
                .iter()
                .map(|r| {
                    let mut o = serde_json::Map::new();
                    for (name, v) in t.names.iter().zip(r) {
                        let j = match v {
                            V::Null if omit_nulls => continue,
                            V::Null => serde_json::Value::Null,
                            V::Int(i) => serde_json::Value::from(*i),
                            V::Real(f) => serde_json::Value::from(*f),
                            V::Text(s) => serde_json::Value::from(s.as_str()),
                            V::Bool(b) => serde_json::Value::from(*b),
                        };
                        o.insert(name.clone(), j);
                    }
                    serde_json::Value::Object(o)
                })
                .collect();
            if format == Format::Json {
                serde_json::to_string_pretty(&objects).unwrap().into_bytes()
            } else {
                let lines: Vec<String> = objects.iter().map(|o| o.to_string()).collect();
                (lines.join(nl) + nl).into_bytes()
            }
        }
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Bakes one data file as table `t` of database `db`; the SQLite file on success.
fn bake_file(file: &str, bytes: &[u8]) -> (tempfile::TempDir, bake::Result<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let content = dir.path().join("content");
    std::fs::create_dir_all(&content).unwrap();
    std::fs::write(content.join(file), bytes).unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let toml = format!("[databases.db.tables.t]\nsource = \"{file}\"\n");
    let config = Config::parse(&dir.path().join("bake.toml"), &toml).unwrap();
    let result = bake::data::bake_all(&config, &Content::default(), &work, false)
        .map(|dbs| dbs.into_iter().next().expect("one database").path);
    (dir, result)
}

/// Declared types and rows of table `t`.
fn read_back(db: &Path) -> (Vec<(String, String)>, Vec<Vec<Value>>) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut st = conn
        .prepare("SELECT name, type FROM pragma_table_info('t')")
        .unwrap();
    let cols: Vec<(String, String)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut st = conn.prepare("SELECT * FROM t ORDER BY rowid").unwrap();
    let n = st.column_count();
    let rows = st
        .query_map([], |r| (0..n).map(|i| r.get::<_, Value>(i)).collect())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    (cols, rows)
}

/// Whether `stored` is what the model says `v` becomes in a column of `col`.
fn same_value(v: &V, col: Col, stored: &Value, json: bool) -> Result<(), String> {
    let ok = match (v, col.sql(), stored) {
        (V::Null, _, Value::Null) => true,
        (V::Int(i), "INTEGER", Value::Integer(s)) => i == s,
        (V::Bool(b), "INTEGER", Value::Integer(s)) => *s == *b as i64,
        (V::Int(i), "REAL", Value::Real(s)) => *i as f64 == *s,
        (V::Real(f), "REAL", Value::Real(s)) => f == s,
        (V::Text(t), "TEXT", Value::Text(s)) => t == s,
        // CSV keeps the number's text as written.
        (V::Int(i), "TEXT", Value::Text(s)) if !json => *s == i.to_string(),
        (V::Real(f), "TEXT", Value::Text(s)) if !json => *s == format!("{f:?}"),
        // JSON numbers in a text column become text that reads back as the same number.
        (V::Int(i), "TEXT", Value::Text(s)) => s.parse::<i64>() == Ok(*i),
        (V::Real(f), "TEXT", Value::Text(s)) => s.parse::<f64>() == Ok(*f),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{v:?} in a {} column was stored as {stored:?}",
            col.sql()
        ))
    }
}

const DATA_PIECES: &[&str] = &[
    ",",
    "\t",
    "\n",
    "\r\n",
    "\"",
    "\"\"",
    "a",
    "b",
    "1",
    "-2",
    "3.5",
    "1e309",
    "007",
    " ",
    "{",
    "}",
    "[",
    "]",
    ":",
    "null",
    "true",
    "\"k\"",
    "\"v\"",
    "{\"a\":1}",
    "\u{feff}",
    "\u{0}",
    "\\",
    "\\u0000",
    "\\ud800",
    "99999999999999999999",
    "-0",
    "0.0",
    "NaN",
];

fn check_data_error(file: &str, shown: Option<&str>, e: &bake::Error) -> Result<(), TestCaseError> {
    let named = e
        .file
        .as_deref()
        .map(|f| f.ends_with(file) || f.ends_with("bake.toml"));
    prop_assert_eq!(
        named,
        Some(true),
        "error names no file or the wrong one: {}",
        e
    );
    if let (Some(text), Some(line)) = (shown, e.line) {
        prop_assert!(
            (1..=lines_in(text)).contains(&line),
            "line {} outside the file's {} lines: {}",
            line,
            lines_in(text),
            e
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Shortcodes

fn key() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_]{0,8}"
}

/// A value and the quote around it (it contains every character but that quote).
fn quoted() -> impl Strategy<Value = (char, String)> {
    prop_oneof![
        "[^\"]{0,12}".prop_map(|v| ('"', v)),
        "[^']{0,12}".prop_map(|v| ('\'', v)),
    ]
}

fn separator() -> impl Strategy<Value = &'static str> {
    prop::sample::select(&[",", ", ", " ", " , ", "\t", "", ",,", "\n"][..])
}

fn arg_list() -> impl Strategy<Value = (String, Vec<(String, String)>)> {
    prop::collection::vec((key(), quoted(), separator(), " ?", " ?"), 0..5).prop_map(|args| {
        let mut text = String::new();
        let mut pairs = Vec::new();
        for (i, (k, (q, v), sep, before, after)) in args.into_iter().enumerate() {
            if i > 0 {
                // Two values need something between them only when the second key would run
                // into the first closing quote; the parser allows none.
                text.push_str(sep);
            }
            text.push_str(&format!("{k}{before}={after}{q}{v}{q}"));
            pairs.push((k, v));
        }
        (text, pairs)
    })
}

const MD_PIECES: &[&str] = &[
    "{{", "}}", "(", ")", "query", "diagram", "name=", "\"", "'", "=", ",", " ", "\n", "\n\n",
    "# ", "> ", "- ", "1. ", "```", "~~~", "|", "---", "*", "_", "`", "[", "]", "<div>", "</div>",
    "\\", "&amp;", "[^1]", "[^1]: x", "{#id}", "    ",
];

// ---------------------------------------------------------------------------------------
// SVG sanitizer

/// Decodes the character references a browser decodes in attribute values.
fn decode_entities(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest[1..]
            .find(|c: char| !c.is_ascii_alphanumeric() && c != '#')
            .map(|e| e + 1);
        let (name, after) = match end {
            Some(e) => (
                &rest[1..e],
                if rest[e..].starts_with(';') {
                    &rest[e + 1..]
                } else {
                    &rest[e..]
                },
            ),
            None => (&rest[1..], ""),
        };
        let ch = if let Some(hex) = name.strip_prefix("#x").or_else(|| name.strip_prefix("#X")) {
            u32::from_str_radix(hex, 16).ok().and_then(char::from_u32)
        } else if let Some(dec) = name.strip_prefix('#') {
            dec.parse::<u32>().ok().and_then(char::from_u32)
        } else {
            match name.to_ascii_lowercase().as_str() {
                "colon" => Some(':'),
                "tab" => Some('\t'),
                "newline" => Some('\n'),
                "amp" => Some('&'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "lt" => Some('<'),
                "gt" => Some('>'),
                _ => None,
            }
        };
        match ch {
            Some(c) => {
                out.push(c);
                rest = after;
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Whether an attribute value would run script as a URL: `javascript:` once references are
/// decoded and the whitespace and control characters browsers ignore are gone.
fn is_script_url(value: &str) -> bool {
    let v: String = decode_entities(value)
        .chars()
        .filter(|c| !c.is_ascii_whitespace() && !c.is_control())
        .collect();
    v.to_ascii_lowercase().contains("javascript:")
}

/// Reads `html` the way a browser's tokenizer splits tags and attributes and fails on script:
/// a `script` or `foreignObject` element (any case, any namespace prefix), an `on…`
/// attribute, a `javascript:` URL in any attribute value. (`<scriptx>` is another element.)
fn assert_safe(html: &str) -> Result<(), TestCaseError> {
    let b = html.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'<' || !b.get(i + 1).is_some_and(|c| c.is_ascii_alphabetic()) {
            i += 1;
            continue;
        }
        // Tag name: up to whitespace, `/` or `>`.
        i += 1;
        let name_start = i;
        while i < b.len() && !matches!(b[i], b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'/' | b'>') {
            i += 1;
        }
        let name = html[name_start..i].to_ascii_lowercase();
        let local = name.rsplit(':').next().unwrap_or(&name);
        prop_assert!(
            local != "script" && local != "foreignobject",
            "<{}> survived: {}",
            name,
            html
        );
        // Attributes until `>`.
        loop {
            while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'/') {
                i += 1;
            }
            if i >= b.len() || b[i] == b'>' {
                break;
            }
            let start = i;
            i += 1; // a first `=` belongs to the name
            while i < b.len()
                && !matches!(
                    b[i],
                    b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'/' | b'>' | b'='
                )
            {
                i += 1;
            }
            let name = html[start..i].to_ascii_lowercase();
            while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r' | b'\x0c') {
                i += 1;
            }
            let mut value = "";
            if i < b.len() && b[i] == b'=' {
                i += 1;
                while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r' | b'\x0c') {
                    i += 1;
                }
                if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
                    let q = b[i];
                    let vs = i + 1;
                    i = vs;
                    while i < b.len() && b[i] != q {
                        i += 1;
                    }
                    value = &html[vs..i];
                    i = (i + 1).min(b.len());
                } else {
                    let vs = i;
                    while i < b.len()
                        && !matches!(b[i], b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'>')
                    {
                        i += 1;
                    }
                    value = &html[vs..i];
                }
            }
            prop_assert!(
                !name.starts_with("on"),
                "event attribute `{}` survived: {}",
                name,
                html
            );
            prop_assert!(
                !is_script_url(value),
                "script URL in `{}` survived: {}",
                name,
                html
            );
        }
    }
    Ok(())
}

const SVG_TAGS: &[&str] = &[
    "svg",
    "SVG",
    "g",
    "rect",
    "text",
    "a",
    "A",
    "script",
    "SCRIPT",
    "Script",
    "sCrIpT",
    "foreignObject",
    "foreignobject",
    "FOREIGNOBJECT",
    "ForeignObject",
    "style",
    "STYLE",
    "animate",
    "set",
    "use",
    "image",
    "iframe",
    "title",
    "desc",
    "svg:script",
    "marker",
];
const SVG_ATTRS: &[&str] = &[
    "onload",
    "ONLOAD",
    "onClick",
    "OnMouseOver",
    "href",
    "xlink:href",
    "HREF",
    "XLink:Href",
    "style",
    "fill",
    "class",
    "id",
    "to",
    "values",
    "attributeName",
    "src",
    "from",
    "by",
    "marker-end",
    "clip-path",
];
const SVG_VALUES: &[&str] = &[
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "java\tscript:x",
    "&#106;avascript:x",
    "&#x6A;avascript:x",
    "javascript&colon;x",
    "jav&#x09;ascript:x",
    "#a",
    "#b",
    "url(#a)",
    "url(javascript:x)",
    "fill:red;stroke:blue",
    "x\" onload=\"alert(1)",
    "'",
    "\"",
    ">",
    "<script>",
    "red",
    "href",
    "0 0 10 10",
    "<foreignObject>",
];

/// Hostile SVG: random tags (any case), attributes and values known to slip past sanitizers,
/// with every quoting and separator style.
fn hostile_svg() -> impl Strategy<Value = String> {
    let attr = (
        prop::sample::select(SVG_ATTRS),
        prop::sample::select(SVG_VALUES),
        prop::sample::select(&["\"", "'", ""][..]),
        prop::sample::select(&[" ", "/", "\t", "\n", "  ", "/ "][..]),
    )
        .prop_map(|(n, v, q, sep)| format!("{sep}{n}={q}{v}{q}"));
    let node = prop_oneof![
        4 => (
            prop::sample::select(SVG_TAGS),
            prop::collection::vec(attr, 0..4),
            prop::sample::select(&[">", "/>", " >", ""][..]),
        )
            .prop_map(|(t, a, end)| format!("<{t}{}{end}", a.concat())),
        2 => prop::sample::select(SVG_TAGS).prop_map(|t| format!("</{t}>")),
        1 => "[a-z <>&;\"']{0,8}",
        1 => Just("<![CDATA[<script>x</script>]]>".to_string()),
        1 => Just("<!-- <script> -->".to_string()),
        1 => Just("<?xml version=\"1.0\"?>".to_string()),
        1 => Just("<style>rect { fill: red } .a { stroke: url(javascript:x) }</style>".to_string()),
    ];
    prop::collection::vec(node, 0..14)
        .prop_map(|v| format!("<svg width=\"10\" height=\"10\">{}</svg>", v.concat()))
}

/// Labels an author might write to smuggle markup through a renderer.
const LABELS: &[&str] = &[
    "<script>alert(1)</script>",
    "<SCRIPT>alert(1)</SCRIPT>",
    "<foreignObject>x</foreignObject>",
    "\" onload=\"alert(1)",
    "' onmouseover='alert(1)",
    "javascript:alert(1)",
    "<img src=x onerror=alert(1)>",
    "&lt;script&gt;",
    "]]><script>x</script>",
    "<!--",
    "-->",
    "<a href=\"javascript:x\">l</a>",
    "a\\\"b",
];

/// A DOT, Mermaid or ASCII-art source whose labels are hostile text.
fn hostile_diagram() -> impl Strategy<Value = (Kind, String)> {
    let label =
        prop_oneof![3 => prop::sample::select(LABELS).prop_map(str::to_string), 1 => "\\PC{0,12}"];
    prop::collection::vec(label, 1..4).prop_flat_map(|labels| {
        let dot_escape = |l: &str| l.replace('\\', "\\\\").replace('"', "\\\"");
        let dot = format!(
            "digraph {{ {} }}",
            labels
                .iter()
                .enumerate()
                .map(|(i, l)| format!(
                    "n{i} [label=\"{}\"]; n{i} -> n{} [label=\"{}\"];",
                    dot_escape(l),
                    i + 1,
                    dot_escape(l)
                ))
                .collect::<String>()
        );
        let mermaid_flow = format!(
            "flowchart LR\n{}",
            labels
                .iter()
                .enumerate()
                .map(|(i, l)| format!(
                    "  n{i}[\"{}\"] -->|{}| n{}\n",
                    l.replace('"', "#quot;"),
                    l.replace('|', " "),
                    i + 1
                ))
                .collect::<String>()
        );
        let mermaid_seq = format!(
            "sequenceDiagram\n{}",
            labels
                .iter()
                .map(|l| format!("  A->>B: {}\n", l.replace('\n', " ")))
                .collect::<String>()
        );
        let bob = format!("+------+\n| {} |\n+------+\n", labels.join(" "));
        prop_oneof![
            Just((Kind::Dot, dot)),
            Just((Kind::Mermaid, mermaid_flow)),
            Just((Kind::Mermaid, mermaid_seq)),
            Just((Kind::Ascii, bob)),
        ]
    })
}

fn kind() -> impl Strategy<Value = Kind> {
    prop::sample::select(&Kind::ALL[..])
}

// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(500))]

    /// Arbitrary text as a page: parsed, or an error about the page at a line inside it.
    #[test]
    fn front_matter_never_panics(text in prop_oneof![
        "\\PC{0,200}",
        pieces_text(FM_PIECES, 40),
        pieces_text(FM_PIECES, 40).prop_map(|t| format!("+++\n{t}\n+++\nbody")),
        pieces_text(FM_PIECES, 40).prop_map(|t| format!("---\n{t}\n---\nbody")),
    ]) {
        if let Err(e) = frontmatter::parse(Path::new("page.md"), &text) {
            check_front_matter_error(&text, &e)?;
        }
        if let Err(e) = frontmatter::parse_as::<serde_json::Value>(Path::new("page.md"), &text, "keys") {
            check_front_matter_error(&text, &e)?;
        }
    }

    /// Well-formed TOML and YAML front matter means what it says (and the body starts where
    /// it does); near-valid front matter fails at the line of the fault.
    #[test]
    fn front_matter_round_trips(
        f in front(),
        toml in any::<bool>(),
        m in mutation(),
        body in "[a-z# \n]{0,30}",
    ) {
        let mut lines: Vec<(&str, String)> = front_lines(&f, toml);
        let delim = if toml { "+++" } else { "---" };
        let mut expect_line = None;
        match m {
            Mutation::UnknownKey { at } => {
                // Before any `[extra]` header, so the key is a top-level one.
                let top = lines.iter().position(|l| l.0 == "extra").unwrap_or(lines.len());
                let at = at.min(top);
                lines.insert(at, ("colour", if toml { "colour = 1".into() } else { "colour: 1".into() }));
                expect_line = Some(at + 2);
            }
            Mutation::WrongType => {
                lines.retain(|l| l.0 != "weight");
                let top = lines.iter().position(|l| l.0 == "extra").unwrap_or(lines.len());
                lines.insert(top, ("weight", if toml { "weight = \"heavy\"".into() } else { "weight: heavy".into() }));
                expect_line = Some(top + 2);
            }
            _ => {}
        }
        let inner: String = lines.iter().map(|l| format!("{}\n", l.1)).collect();
        let mut text = format!("{delim}\n{inner}{delim}\n{body}");
        let body_line = lines.len() + 3;
        match m {
            Mutation::Crlf => text = text.replace('\n', "\r\n"),
            Mutation::Bom => text.insert(0, '\u{feff}'),
            Mutation::Unclosed => text = format!("{delim}\n{inner}"),
            Mutation::DeleteChar { at } => {
                let chars: Vec<(usize, char)> = text.char_indices().collect();
                let (i, _) = chars[at % chars.len()];
                text.remove(i);
            }
            _ => {}
        }
        let got = frontmatter::parse(Path::new("page.md"), &text);
        match (&m, got) {
            (Mutation::None | Mutation::Crlf | Mutation::Bom, Ok(p)) => {
                prop_assert_eq!(&p.front.title, &f.title);
                prop_assert_eq!(&p.front.tags, &f.tags);
                prop_assert_eq!(p.front.weight, f.weight);
                prop_assert_eq!(p.front.draft, f.draft.unwrap_or(false));
                prop_assert_eq!(p.front.date, f.date.map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}")));
                let extra: Vec<i64> = (0..f.extra.len())
                    .map(|i| p.front.extra[&format!("k{i}")].as_i64().unwrap())
                    .collect();
                prop_assert_eq!(extra, f.extra.clone());
                prop_assert_eq!(p.body_line, body_line);
                let want_body = if matches!(m, Mutation::Crlf) { body.replace('\n', "\r\n") } else { body.clone() };
                prop_assert_eq!(p.body, want_body.as_str());
            }
            (Mutation::None | Mutation::Crlf | Mutation::Bom, Err(e)) => {
                return Err(TestCaseError::fail(format!("valid front matter refused: {e}\n{text}")));
            }
            (Mutation::UnknownKey { .. } | Mutation::WrongType, Ok(_)) => {
                return Err(TestCaseError::fail(format!("faulty front matter accepted:\n{text}")));
            }
            (Mutation::UnknownKey { .. } | Mutation::WrongType, Err(e)) => {
                prop_assert_eq!(e.line, expect_line, "{}\n{}", e, text);
            }
            (Mutation::Unclosed, got) => {
                let Err(e) = got else {
                    return Err(TestCaseError::fail("unclosed front matter accepted"));
                };
                prop_assert_eq!(e.line, Some(1), "{}", e);
            }
            (Mutation::DeleteChar { .. }, got) => {
                if let Err(e) = got {
                    check_front_matter_error(&text, &e)?;
                }
            }
        }
    }

    /// `key="value"` lists in every spacing and separator style parse back to their pairs, and
    /// as a shortcode to its name and pairs.
    #[test]
    fn key_values_round_trip((text, pairs) in arg_list(), name in "[a-z_][a-z0-9_]{0,8}", pad in " {0,2}") {
        prop_assert_eq!(markdown::parse_key_values(&text), Ok(pairs.clone()), "{}", text);
        let sc = format!("{{{{{pad}{name}({text}){pad}}}}}");
        let got = markdown::parse_shortcode(&sc);
        prop_assert_eq!(got, Ok(Some(Shortcode { name, args: pairs })), "{}", sc);
    }

    /// Arbitrary argument and shortcode text: a result, never a panic.
    #[test]
    fn key_values_never_panic(text in prop_oneof!["\\PC{0,80}", pieces_text(MD_PIECES, 30)]) {
        let _ = markdown::parse_key_values(&text);
        let _ = markdown::parse_shortcode(&text);
        let _ = markdown::parse_shortcode(&format!("{{{{ q({text}) }}}}"));
    }

    /// Arbitrary markdown renders or fails with a message, never panics; shortcode errors
    /// name a line of the page.
    #[test]
    fn markdown_never_panics(body in prop_oneof!["\\PC{0,300}", pieces_text(MD_PIECES, 60)], body_line in 1usize..50) {
        let shortcodes = |_: &Shortcode, _: usize| Ok(String::from("<b>sc</b>"));
        let fences = |_: &str, _: &str, _: &str, _: usize| None;
        if let Err(e) = markdown::render(Path::new("page.md"), &body, body_line, &shortcodes, &fences)
            && let Some(line) = e.line
        {
            prop_assert!(line >= body_line && line < body_line + lines_in(&body), "line {} for body at {}: {}", line, body_line, e);
        }
    }

    /// Shortcodes written on their own line among paragraphs reach the resolver with their
    /// arguments and the line they are on.
    #[test]
    fn shortcodes_are_found_at_their_lines(
        blocks in prop::collection::vec(
            prop_oneof![
                "[a-z]{1,8}( [a-z]{1,8}){0,4}".prop_map(|p| (p, None)),
                // No leading `_`: markdown would read `_a_` as emphasis, not shortcode text.
                ("[a-z][a-z0-9_]{0,6}", prop::collection::vec(("[a-z][a-z0-9_]{0,6}", "[a-zA-Z0-9 ./:-]{0,10}"), 0..3)).prop_map(|(n, a)| {
                    let text = a.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect::<Vec<_>>().join(", ");
                    (format!("{{{{ {n}({text}) }}}}"), Some(Shortcode { name: n, args: a }))
                }),
            ],
            1..8,
        ),
        body_line in 1usize..20,
    ) {
        let mut body = String::new();
        let mut want = Vec::new();
        for (i, (text, sc)) in blocks.iter().enumerate() {
            if let Some(sc) = sc {
                want.push((sc.clone(), body_line + 2 * i));
            }
            body.push_str(text);
            body.push_str("\n\n");
        }
        let seen = Mutex::new(Vec::new());
        let shortcodes = |sc: &Shortcode, line: usize| {
            seen.lock().unwrap().push((sc.clone(), line));
            Ok(String::new())
        };
        let fences = |_: &str, _: &str, _: &str, _: usize| None;
        let r = markdown::render(Path::new("page.md"), &body, body_line, &shortcodes, &fences);
        prop_assert!(r.is_ok(), "{:?}", r.err());
        prop_assert_eq!(seen.into_inner().unwrap(), want);
    }

    /// Arbitrary markup through the sanitizer: no panic, and nothing that runs script.
    #[test]
    fn svg_arbitrary_is_safe(raw in prop_oneof!["\\PC{0,300}", pieces_text(SVG_TAGS, 20), hostile_svg()], k in kind()) {
        let out = finish(&raw, "d1", "A <title> & \"quotes\"", k);
        assert_safe(&out)?;
    }

    /// SVG built from tags, attributes and values known to slip past sanitizers comes out
    /// without script, event handlers, script URLs or foreignObject.
    #[test]
    fn svg_hostile_is_safe(raw in hostile_svg(), k in kind()) {
        let out = finish(&raw, "d1", "title", k);
        assert_safe(&out)?;
        prop_assert!(out.starts_with("<svg"), "{}", out);
    }
}

proptest! {
    // Each case runs a real renderer.
    #![proptest_config(config(48))]

    /// Diagrams whose labels are hostile markup, through the real renderers and the sanitizer:
    /// drawn or refused, never a panic, and never anything that runs script.
    #[test]
    fn diagrams_with_hostile_labels_are_safe((k, source) in hostile_diagram()) {
        if let Ok(svg) = bake::diagrams::render(k, &source, "d1", "T", Path::new("page.md"), 3) {
            assert_safe(&svg)?;
        }
    }
}

proptest! {
    // Each case bakes a real SQLite database; fewer cases keep the smoke run short.
    #![proptest_config(config(100))]

    /// Arbitrary bytes as a data file of every format (gzip'd or not): a database or an error
    /// naming the file (at a line inside it), never a panic.
    #[test]
    fn data_files_never_panic(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..300),
            pieces_text(DATA_PIECES, 60).prop_map(String::into_bytes),
        ],
        ext in prop::sample::select(&["csv", "tsv", "json", "jsonl", "ndjson"][..]),
        gz in prop::sample::select(&[None, Some(true), Some(false)][..]),
    ) {
        let (name, file_bytes) = match gz {
            None => (format!("t.{ext}"), bytes.clone()),
            Some(true) => (format!("t.{ext}.gz"), gzip(&bytes)),
            // Not gzip at all, named as if it were.
            Some(false) => (format!("t.{ext}.gz"), bytes.clone()),
        };
        let (_dir, got) = bake_file(&name, &file_bytes);
        if let Err(e) = got {
            let shown = std::str::from_utf8(&bytes).ok();
            check_data_error(&name, shown, &e)?;
        }
    }

    /// Generated tables in every format bake with the type the values have (integers stay
    /// integers, floats floats, text text; any text makes the column TEXT) and read back as
    /// written.
    #[test]
    fn data_round_trips(
        (format, t) in prop_oneof![Just(Format::Csv), Just(Format::Tsv), Just(Format::Json), Just(Format::Jsonl)]
            .prop_flat_map(|f| (Just(f), table(matches!(f, Format::Json | Format::Jsonl)))),
        crlf in any::<bool>(),
        omit_nulls in any::<bool>(),
        gz in any::<bool>(),
    ) {
        let json = matches!(format, Format::Json | Format::Jsonl);
        let ext = match format { Format::Csv => "csv", Format::Tsv => "tsv", Format::Json => "json", Format::Jsonl => "jsonl" };
        let mut bytes = write_table(&t, format, crlf, omit_nulls);
        let name = if gz { bytes = gzip(&bytes); format!("t.{ext}.gz") } else { format!("t.{ext}") };
        // A JSON column whose every value was left out does not exist.
        let present: Vec<bool> = (0..t.names.len())
            .map(|i| !(json && omit_nulls && t.rows.iter().all(|r| matches!(r[i], V::Null))))
            .collect();
        let (_dir, got) = bake_file(&name, &bytes);
        if json && !present.iter().any(|p| *p) {
            // Only empty objects: the columns are unknown, which must be an error.
            prop_assert!(got.is_err(), "a JSON file of empty objects was accepted");
            return Ok(());
        }
        let db = got.map_err(|e| TestCaseError::fail(format!("{e}")))?;
        let (cols, rows) = read_back(&db);
        let want_cols: Vec<(String, &str)> = t.names.iter().zip(&t.cols).zip(&present)
            .filter(|(_, p)| **p)
            .map(|((n, c), _)| (n.clone(), c.sql()))
            .collect();
        let mut got_cols: Vec<(String, &str)> = cols.iter().map(|(n, ty)| (n.clone(), ty.as_str())).collect();
        let mut sorted_want = want_cols.clone();
        // JSON objects do not order their keys; CSV columns keep the header's order.
        if json {
            got_cols.sort();
            sorted_want.sort();
        }
        prop_assert_eq!(&got_cols, &sorted_want);
        prop_assert_eq!(rows.len(), t.rows.len());
        for (r, stored) in t.rows.iter().zip(&rows) {
            for (i, v) in r.iter().enumerate() {
                if !present[i] {
                    continue;
                }
                let at = cols.iter().position(|(n, _)| *n == t.names[i]).unwrap();
                same_value(v, t.cols[i], &stored[at], json).map_err(TestCaseError::fail)?;
            }
        }
    }
}

/// `<SCRIPT>` and `<foreignobject>` passed a sanitizer that compared element names
/// case-sensitively; in an HTML page both are the elements they spell.
#[test]
fn svg_elements_are_dropped_in_any_case() {
    let out = finish(
        "<svg><SCRIPT>alert(1)</SCRIPT><foreignobject><div>x</div></foreignobject><rect/></svg>",
        "d",
        "t",
        Kind::Dot,
    );
    assert!(!out.to_ascii_lowercase().contains("script"), "{out}");
    assert!(!out.to_ascii_lowercase().contains("foreignobject"), "{out}");
    assert!(out.contains("<rect/>"), "{out}");
}

/// A `/` between a tag name and an attribute is whitespace to a browser, but was part of the
/// name to the sanitizer: `<rect/onload=…>` kept its handler.
#[test]
fn svg_slash_separated_handlers_are_dropped() {
    for raw in [
        "<svg><rect/onload=alert(1)></svg>",
        "<svg><rect x=\"1\"/onload=\"alert(1)\"/></svg>",
        "<svg><rect a/onclick=alert(1) /></svg>",
    ] {
        let out = finish(raw, "d", "t", Kind::Dot);
        assert!(
            !out.to_ascii_lowercase().contains("onload"),
            "{raw} → {out}"
        );
        assert!(
            !out.to_ascii_lowercase().contains("onclick"),
            "{raw} → {out}"
        );
    }
}

/// SMIL animation can set `href` to a script URL after sanitizing; the value is dropped.
#[test]
fn svg_animated_script_urls_are_dropped() {
    let out = finish(
        "<svg><a><set attributeName=\"href\" to=\"&#106;avascript:alert(1)\"/><text>x</text></a></svg>",
        "d",
        "t",
        Kind::Dot,
    );
    assert!(!is_script_url(&out), "{out}");
}

/// serde_json's default float parser can be off in the last bit: this JSON float was baked
/// as 1.1807127903423314e-202.
#[test]
fn json_floats_are_baked_exactly() {
    let (_dir, db) = bake_file("t.json", b"[{\"x\": 1.1807127903423316e-202}]");
    let (_, rows) = read_back(&db.unwrap());
    assert_eq!(rows, vec![vec![Value::Real(1.1807127903423316e-202)]]);
}

/// The tokenizer took everything up to whitespace as a tag name, so `<script</svg>` came out
/// as a `<script…` tag, and a CDATA section glued to a tag name carried one in.
#[test]
fn svg_malformed_tag_names_are_dropped() {
    for raw in [
        "<svg><script</svg>",
        "<svg><svg<![CDATA[<script>x</script>]]></svg>",
        "<svg><rect<script>alert(1)</script></svg>",
    ] {
        let out = finish(raw, "d", "t", Kind::Dot);
        assert!(
            !out.to_ascii_lowercase().contains("<script"),
            "{raw} → {out}"
        );
    }
}
