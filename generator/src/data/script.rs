//! Running a `.sql` script statement by statement, so a failure names its line.

use std::path::Path;

use rusqlite::Connection;

use crate::error::{Error, Result};

/// Runs every statement of the script at `path` (shown as `display`) on `conn`.
pub fn run(conn: &Connection, path: &Path, display: &Path) -> Result<()> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(display, "read", e))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let off = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..off].iter().filter(|&&b| b == b'\n').count() + 1;
        Error::at(display, line, "the script is not valid UTF-8").hint("save it as UTF-8")
    })?;
    for (line, statement) in statements(&text) {
        conn.execute_batch(&statement).map_err(|e| {
            Error::at(display, line, format!("SQL failed: {e}"))
                .hint("fix the statement that starts on this line; the script runs in SQLite")
        })?;
    }
    Ok(())
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
        if is_complete(&chunk) {
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
        let conn = Connection::open_in_memory().unwrap();
        let e = run(&conn, &p, Path::new("content/s.sql")).unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.to_string().contains("no such table"), "{e}");
    }
}
