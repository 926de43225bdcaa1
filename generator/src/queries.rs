//! Canned queries: named SQL from `bake.toml` or a page's front matter, run natively at
//! build time so their answers are in the HTML (visible with JavaScript off).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, types::Value};

use crate::data::quote_ident;
use crate::error::Error;
use wasm_query::search::escape_html as escape;

/// Rows shown on a page at most; the rest are counted, not shown.
pub const MAX_ROWS: usize = 1000;

/// The answer of a canned query.
#[derive(Debug, Clone)]
pub struct QueryResult {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows (at most [`MAX_ROWS`]).
    pub rows: Vec<Vec<Value>>,
    /// True if there were more rows than shown.
    pub truncated: bool,
}

/// Opens baked databases by name, read-only, each with all others attached.
pub struct Databases {
    paths: BTreeMap<String, PathBuf>,
}

impl Databases {
    /// Databases at `paths`, by name.
    pub fn new(paths: BTreeMap<String, PathBuf>) -> Databases {
        Databases { paths }
    }

    /// Names of the databases.
    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.paths.keys()
    }

    /// A read-only connection to `database` with every other database attached by name.
    pub fn open(&self, database: &str) -> std::result::Result<Connection, String> {
        let Some(path) = self.paths.get(database) else {
            let known: Vec<&str> = self.paths.keys().map(String::as_str).collect();
            return Err(format!(
                "there is no database `{database}` (databases: {})",
                known.join(", ")
            ));
        };
        let conn = open_read_only(path).map_err(|e| e.to_string())?;
        for (name, other) in &self.paths {
            if name != database {
                conn.execute(
                    &format!("ATTACH DATABASE ?1 AS {}", quote_ident(name)),
                    [uri(other)],
                )
                .map_err(|e| e.to_string())?;
            }
        }
        conn.execute_batch("PRAGMA query_only = 1")
            .map_err(|e| e.to_string())?;
        Ok(conn)
    }

    /// Prepares `sql` against `database` without running it (`bake check`).
    pub fn prepare(&self, database: &str, sql: &str) -> std::result::Result<(), String> {
        let conn = self.open(database)?;
        conn.prepare(sql).map(drop).map_err(|e| e.to_string())
    }

    /// Runs `sql` against `database`.
    pub fn run(&self, database: &str, sql: &str) -> std::result::Result<QueryResult, String> {
        let conn = self.open(database)?;
        let mut stmt = conn.prepare(sql).map_err(|e| e.to_string())?;
        let columns: Vec<String> = stmt.column_names().map(|s| s.to_string()).collect();
        let n = columns.len();
        let mut rows = Vec::new();
        let mut truncated = false;
        let mut cursor = stmt.query([]).map_err(|e| e.to_string())?;
        while let Some(row) = cursor.next().map_err(|e| e.to_string())? {
            if rows.len() == MAX_ROWS {
                truncated = true;
                break;
            }
            rows.push(
                (0..n)
                    .map(|i| row.get::<_, Value>(i))
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .map_err(|e| e.to_string())?,
            );
        }
        Ok(QueryResult {
            columns,
            rows,
            truncated,
        })
    }
}

fn uri(path: &Path) -> String {
    format!("file:{}?mode=ro&immutable=1", path.display())
}

fn open_read_only(path: &Path) -> rusqlite::Result<Connection> {
    Connection::open_with_flags(
        uri(path),
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
}

/// Runs every `[[queries]]` entry of `bake.toml`.
pub fn run_config_queries(
    config: &crate::config::Config,
    dbs: &Databases,
) -> crate::Result<BTreeMap<String, (QueryResult, String)>> {
    let mut out = BTreeMap::new();
    for q in &config.queries {
        let result = dbs.run(&q.database, &q.sql).map_err(|m| {
            config
                .error_at_query(&q.name, format!("canned query `{}` failed: {m}", q.name))
                .hint("fix its SQL; it runs at build time against the baked databases")
        })?;
        out.insert(q.name.clone(), (result, q.description.clone()));
    }
    Ok(out)
}

/// The answer as an HTML table; every value is escaped.
pub fn to_html(name: &str, result: &QueryResult, description: &str) -> String {
    let mut h = String::new();
    h.push_str(&format!(
        "<figure class=\"bake-query\" data-query=\"{}\"><div class=\"table-scroll\"><table><thead><tr>",
        escape(name)
    ));
    for c in &result.columns {
        h.push_str(&format!("<th scope=\"col\">{}</th>", escape(c)));
    }
    h.push_str("</tr></thead><tbody>");
    for row in &result.rows {
        h.push_str("<tr>");
        for v in row {
            match v {
                Value::Null => h.push_str("<td class=\"null\">NULL</td>"),
                Value::Integer(i) => h.push_str(&format!("<td class=\"num\">{i}</td>")),
                Value::Real(f) => {
                    h.push_str(&format!("<td class=\"num\">{}</td>", format_real(*f)))
                }
                Value::Text(s) => h.push_str(&format!("<td>{}</td>", escape(s))),
                Value::Blob(b) => h.push_str(&format!("<td class=\"blob\">{} bytes</td>", b.len())),
            }
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table></div>");
    let rows = result.rows.len();
    let count = if result.truncated {
        format!("first {rows} rows shown")
    } else {
        format!("{rows} row{}", if rows == 1 { "" } else { "s" })
    };
    h.push_str(&format!(
        "<figcaption>{}{count}</figcaption></figure>",
        if description.is_empty() {
            String::new()
        } else {
            format!("{} — ", escape(description))
        }
    ));
    h
}

/// Floats as SQLite prints them, but without trailing noise for whole numbers.
pub fn format_real(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{f:.1}")
    } else {
        format!("{f}")
    }
}

/// Error for a shortcode naming an unknown query.
pub fn unknown_query(display: &Path, line: usize, name: &str, known: &[&String]) -> Error {
    Error::at(display, line, format!("there is no canned query named `{name}`")).hint(if known.is_empty() {
        "declare it in bake.toml as [[queries]] name = \"…\", database = \"…\", sql = \"…\"".to_string()
    } else {
        format!(
            "known queries: {}; or declare it in bake.toml [[queries]] or this page's front matter [queries.{name}]",
            known.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_across_attached_databases_and_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.sqlite");
        let b = dir.path().join("b.sqlite");
        Connection::open(&a)
            .unwrap()
            .execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES ('<b>'), (NULL), (2.5);")
            .unwrap();
        Connection::open(&b)
            .unwrap()
            .execute_batch("CREATE TABLE u(y); INSERT INTO u VALUES (1);")
            .unwrap();
        let dbs = Databases::new([("a".to_string(), a), ("b".to_string(), b)].into());
        let r = dbs
            .run("a", "SELECT x, (SELECT y FROM b.u) AS y FROM t")
            .unwrap();
        assert_eq!(r.columns, vec!["x", "y"]);
        assert_eq!(r.rows.len(), 3);
        let html = to_html("q", &r, "");
        assert!(
            html.contains("&lt;b&gt;") && !html.contains("<b>"),
            "{html}"
        );
        assert!(html.contains("NULL") && html.contains("2.5") && html.contains("3 rows"));
        assert!(dbs.run("a", "DELETE FROM t").is_err());
        assert!(
            dbs.run("zzz", "SELECT 1")
                .unwrap_err()
                .contains("no database")
        );
    }
}
