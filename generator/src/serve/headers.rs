//! The site's `_headers` file (Netlify / Cloudflare Pages syntax), applied to responses.
//!
//! ```text
//! # comment
//! /_assets/*
//!   Cache-Control: public, max-age=31536000, immutable
//! /*
//!   Content-Security-Policy: script-src 'self'
//!   ! X-Powered-By
//! ```
//! A line starting with `/` opens a rule; the `Name: value` lines after it belong to it;
//! `! Name` removes a header an earlier rule set (Cloudflare). In a pattern `*` matches
//! any rest of the path (slashes included) and `:name` one path segment. Every matching
//! rule applies, in file order; a header set by several rules gets their values joined
//! with `, ` — what both hosts do, so a preview shows the same overlap a deploy would.
//! Rules for absolute URLs (`https://host/...`) name another host and never match here.

use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};

/// Parsed `_headers` rules.
#[derive(Debug, Default)]
pub(crate) struct Rules {
    rules: Vec<Rule>,
}

#[derive(Debug)]
struct Rule {
    pattern: Vec<Token>,
    ops: Vec<Op>,
}

#[derive(Debug, PartialEq)]
enum Token {
    Literal(String),
    /// `*`: any characters, `/` included.
    Splat,
    /// `:name`: one or more characters other than `/`.
    Placeholder,
}

#[derive(Debug)]
enum Op {
    Set(HeaderName, String),
    Remove(HeaderName),
}

/// Headers that describe the message framing or encoding: the server owns them, and a
/// `_headers` rule that set them would make responses lie about their bodies.
const PROTECTED: &[HeaderName] = &[
    header::CONTENT_LENGTH,
    header::CONTENT_RANGE,
    header::CONTENT_ENCODING,
    header::TRANSFER_ENCODING,
    header::CONNECTION,
    header::TRAILER,
    header::TE,
    header::UPGRADE,
];

impl Rules {
    /// Parses the text of a `_headers` file; the second value lists warnings about lines
    /// that were skipped, as `LINE: message`.
    pub(crate) fn parse(text: &str) -> (Rules, Vec<String>) {
        let mut rules = Vec::new();
        let mut warnings = Vec::new();
        // None before the first pattern line; Some(None) inside a rule for another host.
        let mut current: Option<Option<Rule>> = None;
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.starts_with('/') || line.starts_with("http://") || line.starts_with("https://")
            {
                if let Some(Some(rule)) = current.take() {
                    rules.push(rule);
                }
                current = Some(line.starts_with('/').then(|| Rule {
                    pattern: compile(line),
                    ops: Vec::new(),
                }));
                continue;
            }
            let Some(slot) = current.as_mut() else {
                warnings.push(format!(
                    "{n}: `{line}` comes before any URL pattern (a line starting with /)"
                ));
                continue;
            };
            let op = if let Some(name) = line.strip_prefix('!') {
                header_name(name.trim()).map(Op::Remove)
            } else if let Some((name, value)) = line.split_once(':') {
                let value = value.trim();
                match header_name(name.trim()) {
                    Ok(name) if HeaderValue::from_str(value).is_err() => {
                        Err(format!("invalid value for {name}"))
                    }
                    Ok(name) => Ok(Op::Set(name, value.to_string())),
                    Err(e) => Err(e),
                }
            } else {
                Err(format!(
                    "`{line}` is neither a URL pattern nor a `Name: value` header"
                ))
            };
            match op {
                Ok(op) => {
                    if let Some(rule) = slot {
                        rule.ops.push(op);
                    }
                }
                Err(e) => warnings.push(format!("{n}: {e}")),
            }
        }
        if let Some(Some(rule)) = current {
            rules.push(rule);
        }
        (Rules { rules }, warnings)
    }

    /// Applies every rule matching the (percent-decoded) URL `path` to `headers`: values
    /// from the rules replace the server's own (Content-Type, say).
    pub(crate) fn apply(&self, path: &str, headers: &mut HeaderMap) {
        let mut merged: Vec<(&HeaderName, Option<String>)> = Vec::new();
        for rule in self.rules.iter().filter(|r| matches(&r.pattern, path)) {
            for op in &rule.ops {
                let (name, value) = match op {
                    Op::Set(name, value) => (name, Some(value)),
                    Op::Remove(name) => (name, None),
                };
                match (merged.iter_mut().find(|(n, _)| *n == name), value) {
                    (Some((_, Some(old))), Some(value)) => {
                        old.push_str(", ");
                        old.push_str(value);
                    }
                    (Some((_, slot)), value) => *slot = value.cloned(),
                    (None, value) => merged.push((name, value.cloned())),
                }
            }
        }
        for (name, value) in merged {
            match value.and_then(|v| HeaderValue::from_str(&v).ok()) {
                Some(value) => {
                    headers.insert(name.clone(), value);
                }
                None => {
                    headers.remove(name);
                }
            }
        }
    }
}

fn header_name(name: &str) -> Result<HeaderName, String> {
    let parsed = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("`{name}` is not a valid header name"))?;
    if PROTECTED.contains(&parsed) {
        return Err(format!(
            "{parsed} describes the message itself and is set by the server; the rule is ignored"
        ));
    }
    Ok(parsed)
}

/// Splits a pattern into literal text, `*` and `:name` tokens.
fn compile(pattern: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut literal = String::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        let placeholder = c == ':'
            && chars
                .peek()
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_');
        if c == '*' || placeholder {
            if !literal.is_empty() {
                tokens.push(Token::Literal(std::mem::take(&mut literal)));
            }
            if c == '*' {
                tokens.push(Token::Splat);
            } else {
                while chars
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
                {
                    chars.next();
                }
                tokens.push(Token::Placeholder);
            }
        } else {
            literal.push(c);
        }
    }
    if !literal.is_empty() {
        tokens.push(Token::Literal(literal));
    }
    tokens
}

/// Whether `path` matches the whole pattern (backtracking; patterns are short).
fn matches(tokens: &[Token], path: &str) -> bool {
    let Some((first, rest)) = tokens.split_first() else {
        return path.is_empty();
    };
    let tails = |max: usize, min: usize| {
        (min..=max)
            .filter(|&i| path.is_char_boundary(i))
            .any(|i| matches(rest, &path[i..]))
    };
    match first {
        Token::Literal(lit) => path
            .strip_prefix(lit.as_str())
            .is_some_and(|p| matches(rest, p)),
        Token::Splat => tails(path.len(), 0),
        Token::Placeholder => tails(path.find('/').unwrap_or(path.len()), 1),
    }
}

/// The rules of the served folder's `_headers`, re-read on every request (the file is
/// small, and a rebuild swaps in a new one) and re-parsed only when its bytes change, so
/// warnings about it are printed once per version.
#[derive(Default)]
pub(crate) struct HeadersFile {
    last: Mutex<Option<(Vec<u8>, Arc<Rules>)>>,
}

impl HeadersFile {
    /// The rules in `root/_headers` (none if the file is missing).
    pub(crate) async fn rules(&self, root: &Path) -> Arc<Rules> {
        let path = root.join("_headers");
        let bytes = match tokio::fs::read(&path).await {
            Ok(bytes) => bytes,
            Err(e) => {
                if e.kind() != std::io::ErrorKind::NotFound {
                    eprintln!("warning: cannot read {}: {e}", path.display());
                }
                Vec::new()
            }
        };
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((old, rules)) = last.as_ref()
            && *old == bytes
        {
            return rules.clone();
        }
        let (rules, warnings) = Rules::parse(&String::from_utf8_lossy(&bytes));
        for w in warnings {
            eprintln!("warning: {}:{w}", path.display());
        }
        let rules = Arc::new(rules);
        *last = Some((bytes, rules.clone()));
        rules
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers_for(text: &str, path: &str) -> HeaderMap {
        let (rules, warnings) = Rules::parse(text);
        assert!(warnings.is_empty(), "{warnings:?}");
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
        rules.apply(path, &mut h);
        h
    }

    #[test]
    fn patterns() {
        let m = |p: &str, s: &str| matches(&compile(p), s);
        assert!(m("/*", "/"));
        assert!(m("/*", "/a/b/c.js"));
        assert!(m("/_assets/*", "/_assets/x.wasm"));
        assert!(m("/_assets/*", "/_assets/deep/x.wasm"));
        assert!(!m("/_assets/*", "/other/x.wasm"));
        assert!(m("/caching/", "/caching/"));
        assert!(!m("/caching/", "/caching"));
        assert!(m("/tables/:name", "/tables/users"));
        assert!(!m("/tables/:name", "/tables/users/rows"));
        assert!(!m("/tables/:name", "/tables/"));
        assert!(m("/:section/*.html", "/docs/a/b.html"));
        assert!(m("/x:-y", "/x:-y"));
        assert!(m("/é/*", "/é/x"));
    }

    #[test]
    fn rules_merge_override_and_remove() {
        let text = "# site headers\n/*\n  X-Frame-Options: DENY\n  X-A: one\n\n/_assets/*\n  Cache-Control: immutable\n  X-A: two\n  Content-Type: application/octet-stream\n/_assets/plain.txt\n  ! X-Frame-Options\n";
        let h = headers_for(text, "/_assets/app.js");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["x-a"], "one, two");
        assert_eq!(h["cache-control"], "immutable");
        assert_eq!(h["content-type"], "application/octet-stream");
        let h = headers_for(text, "/index.html");
        assert_eq!(h["x-a"], "one");
        assert_eq!(h["content-type"], "text/html");
        assert!(h.get("cache-control").is_none());
        let h = headers_for(text, "/_assets/plain.txt");
        assert!(h.get("x-frame-options").is_none());
    }

    #[test]
    fn warns_and_skips_bad_lines() {
        let text = "X-Early: 1\n/*\n  Content-Length: 5\n  Bad Name: x\n  nonsense\n  X-Ok: yes\nhttps://example.com/*\n  X-Other-Host: 1\n";
        let (rules, warnings) = Rules::parse(text);
        assert_eq!(warnings.len(), 4, "{warnings:?}");
        assert!(warnings[0].starts_with("1: "));
        let mut h = HeaderMap::new();
        rules.apply("/x", &mut h);
        assert_eq!(h.len(), 1);
        assert_eq!(h["x-ok"], "yes");
    }
}
