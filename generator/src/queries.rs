//! Canned queries: named SQL from `bake.toml` or a page's front matter, run natively at
//! build time so their answers are in the HTML (visible with JavaScript off).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, types::Value};

use crate::config::{Config, TimeLimit};
use crate::data::quote_ident;
use crate::error::Error;
use wasm_query::search::escape_html as escape;

/// Rows a canned query shows at most unless `bake.toml` says otherwise; reading stops there.
pub const MAX_ROWS: usize = 1000;

/// SQLite virtual-machine steps between two looks at the clock: cheap, and well under a
/// millisecond apart.
const PROGRESS_STEPS: i32 = 1000;

/// How long a query may run and how many rows it shows, with the setting each came from
/// (named in messages so the author knows what to raise).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Time limit.
    pub time: TimeLimit,
    /// The `bake.toml` or front-matter setting the time limit came from.
    pub time_setting: String,
    /// Rows shown at most.
    pub rows: usize,
}

impl Limits {
    /// The site-wide limits of `[build]`.
    pub fn site(config: &Config) -> Limits {
        Limits {
            time: config.build.query_time_limit,
            time_setting: "`query_time_limit` under [build] in bake.toml".into(),
            rows: config.build.query_max_rows,
        }
    }

    /// The site-wide limits, overridden by a query's own `time_limit` and `max_rows`.
    pub fn of_query(
        config: &Config,
        time: Option<TimeLimit>,
        rows: Option<usize>,
        own_setting: &str,
    ) -> Limits {
        let site = Limits::site(config);
        Limits {
            time_setting: if time.is_some() {
                own_setting.to_string()
            } else {
                site.time_setting
            },
            time: time.unwrap_or(site.time),
            rows: rows.unwrap_or(site.rows),
        }
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            time: TimeLimit(Duration::from_secs(30)),
            time_setting: "`query_time_limit` under [build] in bake.toml".into(),
            rows: MAX_ROWS,
        }
    }
}

/// Why a query gave no answer.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryError {
    /// SQLite refused or failed the SQL (the message says why).
    Sql(String),
    /// The query ran past its time limit and was stopped.
    TimeLimit {
        /// The limit.
        limit: TimeLimit,
        /// The setting to raise.
        setting: String,
    },
}

impl QueryError {
    /// The error `located` makes of the message, with the hint of a time limit when one was
    /// hit (a failed SQL keeps the caller's hint).
    pub fn locate(self, located: impl FnOnce(String) -> Error) -> Error {
        match &self {
            QueryError::Sql(_) => located(self.to_string()),
            QueryError::TimeLimit { setting, .. } => {
                let hint = format!(
                    "make the query cheaper (a LIMIT, a WHERE on an indexed column, an index in bake.toml; a recursive CTE needs a stop condition), or raise {setting}"
                );
                located(self.to_string()).hint(hint)
            }
        }
    }
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueryError::Sql(m) => f.write_str(m),
            QueryError::TimeLimit { limit, .. } => {
                write!(f, "it ran past its time limit of {limit} and was stopped")
            }
        }
    }
}

/// Stops every statement run on `conn` from now on once `limit` has passed (SQLite then
/// fails the statement as interrupted: see [`is_interrupt`]).
pub fn set_deadline(conn: &mut Connection, limit: Duration) -> rusqlite::Result<()> {
    let deadline = Instant::now() + limit;
    conn.progress_handler(PROGRESS_STEPS, Some(move || Instant::now() >= deadline))
}

/// Removes the deadline [`set_deadline`] set.
pub fn clear_deadline(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.progress_handler(0, None::<fn() -> bool>)
}

/// True if `e` is the interrupt [`set_deadline`]'s handler causes.
pub fn is_interrupt(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::OperationInterrupted)
}

/// The answer of a canned query.
#[derive(Debug, Clone)]
pub struct QueryResult {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows (at most the row limit the query ran with).
    pub rows: Vec<Vec<Value>>,
    /// True if there were more rows than shown.
    pub truncated: bool,
}

/// Opens baked databases by name, read-only, each with all others attached.
pub struct Databases {
    paths: BTreeMap<String, PathBuf>,
    limits: Limits,
}

impl Databases {
    /// Databases at `paths`, by name, with the default limits for [`Databases::run`].
    pub fn new(paths: BTreeMap<String, PathBuf>) -> Databases {
        Databases {
            paths,
            limits: Limits::default(),
        }
    }

    /// The limits [`Databases::run`] applies.
    pub fn with_limits(mut self, limits: Limits) -> Databases {
        self.limits = limits;
        self
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
        conn.prepare(sql).map(drop).map_err(|e| sql_error_text(&e))
    }

    /// Runs `sql` against `database` with the limits set by [`Databases::with_limits`].
    pub fn run(&self, database: &str, sql: &str) -> std::result::Result<QueryResult, String> {
        self.run_limited(database, sql, &self.limits)
            .map_err(|e| e.to_string())
    }

    /// Runs `sql` against `database`, stopped at `limits.time`; reads at most `limits.rows`
    /// rows (one more to know whether there were more).
    pub fn run_limited(
        &self,
        database: &str,
        sql: &str,
        limits: &Limits,
    ) -> std::result::Result<QueryResult, QueryError> {
        let mut conn = self.open(database).map_err(QueryError::Sql)?;
        set_deadline(&mut conn, limits.time.0).map_err(|e| QueryError::Sql(e.to_string()))?;
        let failed = |e: rusqlite::Error| {
            if is_interrupt(&e) {
                QueryError::TimeLimit {
                    limit: limits.time,
                    setting: limits.time_setting.clone(),
                }
            } else {
                QueryError::Sql(sql_error_text(&e))
            }
        };
        let mut stmt = conn.prepare(sql).map_err(failed)?;
        let columns: Vec<String> = stmt.column_names().map(|s| s.to_string()).collect();
        let n = columns.len();
        let mut rows = Vec::new();
        let mut truncated = false;
        let mut cursor = stmt.query([]).map_err(failed)?;
        while let Some(row) = cursor.next().map_err(failed)? {
            if rows.len() == limits.rows {
                truncated = true;
                break;
            }
            rows.push(
                (0..n)
                    .map(|i| row.get::<_, Value>(i))
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .map_err(failed)?,
            );
        }
        Ok(QueryResult {
            columns,
            rows,
            truncated,
        })
    }
}

/// What stays as it is in the path of an SQLite URI: RFC 3986 unreserved characters and `/`.
const URI_PATH: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// A read-only SQLite URI for `path`; percent-encoded, or a `#`, `?` or `%` in the project's
/// path would cut the file name short.
fn uri(path: &Path) -> String {
    let bytes = path.as_os_str().as_encoded_bytes();
    format!(
        "file:{}?mode=ro&immutable=1",
        percent_encoding::percent_encode(bytes, URI_PATH)
    )
}

fn open_read_only(path: &Path) -> rusqlite::Result<Connection> {
    Connection::open_with_flags(
        uri(path),
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
}

/// SQLite's message for `e`; for an error in the SQL text, the line and column it names
/// and that line, instead of rusqlite's whole statement and a byte offset.
pub fn sql_error_text(e: &rusqlite::Error) -> String {
    let rusqlite::Error::SqlInputError {
        msg, sql, offset, ..
    } = e
    else {
        return e.to_string();
    };
    let Ok(at) = usize::try_from(*offset) else {
        return msg.clone();
    };
    let at = at.min(sql.len());
    let at = (0..=at)
        .rev()
        .find(|&i| sql.is_char_boundary(i))
        .unwrap_or(0);
    let line_start = sql[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_end = sql[at..].find('\n').map_or(sql.len(), |i| at + i);
    let line = sql[..at].matches('\n').count() + 1;
    let column = sql[line_start..at].chars().count() + 1;
    format!(
        "{msg} (line {line}, column {column} of the query: `{}`)",
        sql[line_start..line_end].trim()
    )
}

/// Runs every `[[queries]]` entry of `bake.toml`.
pub fn run_config_queries(
    config: &crate::config::Config,
    dbs: &Databases,
) -> crate::Result<BTreeMap<String, (QueryResult, String)>> {
    let mut out = BTreeMap::new();
    for q in &config.queries {
        let limits = Limits::of_query(
            config,
            q.time_limit,
            q.max_rows,
            &format!("`time_limit` of this [[queries]] entry (`{}`)", q.name),
        );
        let result = dbs.run_limited(&q.database, &q.sql, &limits).map_err(|e| {
            e.locate(|m| {
                config
                    .error_at_query(&q.name, format!("canned query `{}` failed: {m}", q.name))
                    .hint("fix its SQL; it runs at build time against the baked databases")
            })
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
        crate::build::count(rows as u64, "row")
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
        let tmp = tempfile::tempdir().unwrap();
        // A project path may hold characters that mean something in a URI.
        let dir = tmp.path().join("my #1 site? 100% ok");
        std::fs::create_dir(&dir).unwrap();
        let a = dir.join("a.sqlite");
        let b = dir.join("b.sqlite");
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

    #[test]
    fn an_error_in_the_sql_names_its_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.sqlite");
        Connection::open(&a)
            .unwrap()
            .execute_batch("CREATE TABLE t(a, b);")
            .unwrap();
        let dbs = Databases::new([("a".to_string(), a)].into());
        let e = dbs
            .run("a", "SELECT a,\n  b\nFROM t\nWHERE nope = 1")
            .unwrap_err();
        assert_eq!(
            e,
            "no such column: nope (line 4, column 7 of the query: `WHERE nope = 1`)"
        );
        // Columns count characters, not bytes.
        let e = dbs.prepare("a", "SELECT 'é', zz FROM t").unwrap_err();
        assert!(
            e.ends_with("(line 1, column 13 of the query: `SELECT 'é', zz FROM t`)"),
            "{e}"
        );
    }

    #[test]
    fn stops_at_the_time_and_row_limits() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.sqlite");
        Connection::open(&a)
            .unwrap()
            .execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1), (2), (3);")
            .unwrap();
        let dbs = Databases::new([("a".to_string(), a)].into());
        let limits = Limits {
            time: TimeLimit(Duration::from_millis(100)),
            time_setting: "the setting".into(),
            rows: 2,
        };
        let forever = "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) SELECT count(*) FROM c";
        let started = Instant::now();
        let e = dbs.run_limited("a", forever, &limits).unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert!(matches!(e, QueryError::TimeLimit { .. }), "{e:?}");
        let located = e.locate(|m| Error::msg(m).hint("not this"));
        assert!(
            located.message.contains("time limit of 100 ms"),
            "{located}"
        );
        assert!(located.hint.unwrap().contains("raise the setting"));
        // Endless rows: reading stops after the row limit.
        let endless =
            "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) SELECT n FROM c";
        let r = dbs.run_limited("a", endless, &limits).unwrap();
        assert_eq!((r.rows.len(), r.truncated), (2, true));
        let r = dbs
            .run_limited("a", "SELECT x FROM t LIMIT 2", &limits)
            .unwrap();
        assert_eq!((r.rows.len(), r.truncated), (2, false));
        let e = dbs
            .run_limited("a", "SELECT nope FROM t", &limits)
            .unwrap_err();
        let located = e.locate(|m| Error::msg(m).hint("fix the SQL"));
        assert_eq!(located.hint.as_deref(), Some("fix the SQL"));
    }
}
