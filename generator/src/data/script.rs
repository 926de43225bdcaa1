//! Running a `.sql` script statement by statement, so a failure names its line.

use std::path::Path;

use rusqlite::Connection;

use crate::error::{Error, Result};
use crate::queries::{Limits, clear_deadline, is_interrupt, set_deadline};

/// Runs every statement of the script at `path` (shown as `display`) on `conn`, each within
/// the time limit of `limits` (an author's SQL can loop forever: a recursive CTE without a
/// stop condition inside an `INSERT … SELECT`).
pub fn run(conn: &mut Connection, path: &Path, display: &Path, limits: &Limits) -> Result<()> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(display, "read", e))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let off = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..off].iter().filter(|&&b| b == b'\n').count() + 1;
        Error::at(display, line, "the script is not valid UTF-8").hint("save it as UTF-8")
    })?;
    let sql_err = |e: rusqlite::Error| Error::in_file(display, format!("SQLite failed: {e}"));
    let result = statements(&text).into_iter().try_for_each(|(line, statement)| {
        set_deadline(conn, limits.time.0).map_err(sql_err)?;
        conn.execute_batch(&statement).map_err(|e| {
            if is_interrupt(&e) {
                Error::at(
                    display,
                    line,
                    format!(
                        "this statement ran past its time limit of {} and was stopped",
                        limits.time
                    ),
                )
                .hint(format!(
                    "make it cheaper (a recursive CTE needs a stop condition such as `WHERE n < 1000`), or raise {}",
                    limits.time_setting
                ))
            } else {
                Error::at(display, line, format!("SQL failed: {e}"))
                    .hint("fix the statement that starts on this line; the script runs in SQLite")
            }
        })
    });
    // Whatever happened, the deadline must not outlive the script (ANALYZE and VACUUM follow).
    clear_deadline(conn).map_err(sql_err)?;
    result
}

/// Splits a script into (first line, statements) chunks that each end a statement, using
/// SQLite's own notion of a complete statement so strings and triggers are respected.
fn statements(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut chunk = String::new();
    let mut start = 1;
    for (i, line) in text.lines().enumerate() {
        if chunk.trim().is_empty() {
            chunk.clear();
            start = i + 1;
        }
        chunk.push_str(line);
        chunk.push('\n');
        // A statement can only end at a `;`: asking SQLite at every line would rescan the
        // whole chunk each time, quadratic in a long multi-line statement.
        if line.contains(';') && is_complete(&chunk) {
            out.push((start, std::mem::take(&mut chunk)));
        }
    }
    if !chunk.trim().is_empty() {
        out.push((start, chunk));
    }
    out
}

fn is_complete(sql: &str) -> bool {
    let Ok(c) = std::ffi::CString::new(sql) else {
        return false;
    };
    // SAFETY: sqlite3_complete only reads the NUL-terminated string we pass.
    unsafe { rusqlite::ffi::sqlite3_complete(c.as_ptr()) != 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_statements_with_lines() {
        let s = statements("CREATE TABLE t(a);\n\nINSERT INTO t VALUES ('x;\ny');\nSELECT 1;");
        assert_eq!(s.iter().map(|(l, _)| *l).collect::<Vec<_>>(), vec![1, 3, 5]);
    }

    #[test]
    fn names_the_failing_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.sql");
        std::fs::write(&p, "CREATE TABLE t(a);\nINSERT INTO nope VALUES (1);\n").unwrap();
        let mut conn = Connection::open_in_memory().unwrap();
        let e = run(
            &mut conn,
            &p,
            Path::new("content/s.sql"),
            &Limits::default(),
        )
        .unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.to_string().contains("no such table"), "{e}");
    }

    #[test]
    fn stops_a_statement_that_never_ends() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.sql");
        std::fs::write(
            &p,
            "CREATE TABLE t(n);\nINSERT INTO t\n  WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c)\n  SELECT n FROM c;\n",
        )
        .unwrap();
        let mut conn = Connection::open_in_memory().unwrap();
        let limits = Limits {
            time: crate::config::TimeLimit(std::time::Duration::from_millis(100)),
            ..Limits::default()
        };
        let e = run(&mut conn, &p, Path::new("content/s.sql"), &limits).unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.message.contains("time limit of 100 ms"), "{e}");
        assert!(e.hint.unwrap().contains("query_time_limit"));
        // The deadline is gone afterwards: later work on the connection is not cut short.
        std::thread::sleep(std::time::Duration::from_millis(150));
        conn.execute_batch("CREATE TABLE u(a); INSERT INTO u VALUES (1);")
            .unwrap();
    }
}
