//! Build errors that tell the user where and what to do.
//!
//! Every error carries the file (and line, where there is one) it is about, what is wrong,
//! and a hint for fixing it. `main` prints it as `error: FILE:LINE: message` followed by
//! `  help: hint`, like a compiler would.

use std::fmt;
use std::path::{Path, PathBuf};

/// A build error with a location and a hint.
#[derive(Debug)]
pub struct Error {
    /// The file the error is about, if any.
    pub file: Option<PathBuf>,
    /// 1-based line within `file`, if known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
}

/// Result type of the build pipeline.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error not tied to a file.
    pub fn msg(message: impl Into<String>) -> Error {
        Error {
            file: None,
            line: None,
            message: message.into(),
            hint: None,
        }
    }

    /// An error about `file`.
    pub fn in_file(file: impl AsRef<Path>, message: impl Into<String>) -> Error {
        Error {
            file: Some(file.as_ref().to_path_buf()),
            ..Error::msg(message)
        }
    }

    /// An error about `file` at `line` (1-based).
    pub fn at(file: impl AsRef<Path>, line: usize, message: impl Into<String>) -> Error {
        Error {
            line: Some(line),
            ..Error::in_file(file, message)
        }
    }

    /// Adds what the user should do.
    pub fn hint(mut self, hint: impl Into<String>) -> Error {
        self.hint = Some(hint.into());
        self
    }

    /// An I/O error on `path`, with the operation that failed.
    pub fn io(path: impl AsRef<Path>, what: &str, err: std::io::Error) -> Error {
        Error::in_file(path, format!("cannot {what}: {err}"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{}:{line}: ", file.display())?,
            (Some(file), None) => write!(f, "{}: ", file.display())?,
            _ => {}
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  help: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// The 1-based line of byte `offset` in `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_location_and_hint() {
        let e = Error::at("content/a.md", 3, "bad").hint("fix it");
        assert_eq!(e.to_string(), "content/a.md:3: bad\n  help: fix it");
        assert_eq!(Error::msg("plain").to_string(), "plain");
    }

    #[test]
    fn finds_lines() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 99), 3);
    }
}
