//! Front matter: TOML between `+++` lines or YAML between `---` lines.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::config::find_key_line;
use crate::error::{Error, Result};

/// The fields a page or section may set.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FrontMatter {
    /// Page title.
    pub title: Option<String>,
    /// Publication date, `YYYY-MM-DD` (a time part is kept as written).
    pub date: Option<String>,
    /// Last change, in the same forms as `date`: the sitemap's `<lastmod>` and the Atom
    /// entry's `<updated>` (both fall back to `date`).
    pub updated: Option<String>,
    /// One-sentence description (meta description, listings).
    pub description: Option<String>,
    /// Tags; each gets a page under `/tags/`.
    pub tags: Vec<String>,
    /// Drafts are skipped unless `build.drafts` is on.
    pub draft: bool,
    /// Order within a section (lower first).
    pub weight: Option<i64>,
    /// Template to render with instead of the default.
    pub template: Option<String>,
    /// Sections only: `weight` (default), `date` (newest first) or `title`.
    pub sort_by: Option<String>,
    /// Sections only: how many pages each page of the section's listing shows (a positive
    /// whole number, checked by [`parse`]); `None` lists them all on one page.
    #[serde(skip)]
    pub paginate_by: Option<usize>,
    /// `paginate_by` as written, before [`parse`] checks it (so a wrong value gets an error
    /// that says what to write rather than serde's type names).
    #[serde(rename = "paginate_by")]
    pub paginate_by_raw: Option<serde_json::Value>,
    /// Canned queries usable on this page, by name.
    pub queries: BTreeMap<String, PageQuery>,
    /// Free-form values for templates.
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// A canned query declared in front matter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Database it runs against.
    pub database: String,
    /// The SQL.
    pub sql: String,
    /// Optional caption.
    #[serde(default)]
    pub description: String,
    /// Overrides `[build] query_time_limit` of `bake.toml` for this query.
    #[serde(default)]
    pub time_limit: Option<crate::config::TimeLimit>,
    /// Overrides `[build] query_max_rows` of `bake.toml` for this query.
    #[serde(default)]
    pub max_rows: Option<usize>,
}

impl PageQuery {
    /// The limits this query runs with.
    pub fn limits(&self, config: &crate::config::Config) -> crate::queries::Limits {
        crate::queries::Limits::of_query(
            config,
            self.time_limit,
            self.max_rows,
            "`time_limit` of this query in the front matter",
        )
    }
}

/// Front matter plus where the body starts.
#[derive(Debug)]
pub struct Parsed<'a> {
    /// The parsed fields.
    pub front: FrontMatter,
    /// The markdown after the closing delimiter.
    pub body: &'a str,
    /// 1-based line of the body's first line in the file.
    pub body_line: usize,
}

/// Front matter as a JSON value (empty object if there is none), its raw text, the body
/// and the body's first line.
fn split<'a>(path: &Path, text: &'a str) -> Result<(serde_json::Value, &'a str, &'a str, usize)> {
    let text_nobom = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first = text_nobom.lines().next().unwrap_or("").trim_end();
    let (delim, is_toml) = match first {
        "+++" => ("+++", true),
        "---" => ("---", false),
        _ => {
            return Ok((
                serde_json::Value::Object(Default::default()),
                "",
                text_nobom,
                1,
            ));
        }
    };
    // Find the closing delimiter line.
    let mut offset = text_nobom
        .find('\n')
        .map(|i| i + 1)
        .unwrap_or(text_nobom.len());
    let start = offset;
    let mut line = 2;
    let (raw, body, body_line) = loop {
        if offset >= text_nobom.len() {
            return Err(Error::at(
                path,
                1,
                format!("front matter opened with `{delim}` is never closed"),
            )
            .hint(format!(
                "add a line with only `{delim}` after the front matter"
            )));
        }
        let end = text_nobom[offset..]
            .find('\n')
            .map(|i| offset + i + 1)
            .unwrap_or(text_nobom.len());
        if text_nobom[offset..end].trim_end() == delim {
            break (&text_nobom[start..offset], &text_nobom[end..], line + 1);
        }
        offset = end;
        line += 1;
    };
    let value: serde_json::Value = if is_toml {
        let table: toml::Table = toml::from_str(raw).map_err(|e| {
            let l = e
                .span()
                .map(|s| crate::error::line_of(raw, s.start))
                .unwrap_or(1);
            Error::at(
                path,
                l + 1,
                format!("invalid TOML front matter: {}", e.message()),
            )
            .hint("front matter between +++ lines is TOML: strings need quotes, lists use [ ]")
        })?;
        toml_to_json(toml::Value::Table(table))
    } else {
        // One blank line in place of the opening `---`, so the lines the parser reports (also
        // inside its message) are lines of the file.
        let v: serde_json::Value = serde_yaml_ng::from_str(&format!("\n{raw}")).map_err(|e| {
            let l = e.location().map(|l| l.line()).unwrap_or(1);
            Error::at(path, l, format!("invalid YAML front matter: {e}"))
                .hint("front matter between --- lines is YAML: `key: value`, lists as [a, b]")
        })?;
        if v.is_null() {
            serde_json::Value::Object(Default::default())
        } else {
            v
        }
    };
    Ok((value, raw, body, body_line))
}

/// Splits and parses front matter into `T` (for files other than pages, such as diagram
/// files); `known` is the hint shown for an unknown key.
pub fn parse_as<'a, T: serde::de::DeserializeOwned>(
    path: &Path,
    text: &'a str,
    known: &str,
) -> Result<(T, &'a str)> {
    let (value, raw, body, _) = split(path, text)?;
    let fields: T = from_value(path, raw, value, known)?;
    Ok((fields, body))
}

/// Reads the parsed front matter `value` into `T`; an error is placed at the line of the key
/// it is about: the field that had the wrong type (serde_path_to_error knows which), or the
/// unknown key the message names.
fn from_value<T: serde::de::DeserializeOwned>(
    path: &Path,
    raw: &str,
    value: serde_json::Value,
    hint: &str,
) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let msg = e.inner().to_string();
        let field = e.path().iter().rev().find_map(|s| match s {
            serde_path_to_error::Segment::Map { key } => Some(key.as_str()),
            _ => None,
        });
        let unknown = msg
            .starts_with("unknown field")
            .then(|| msg.split('`').nth(1))
            .flatten();
        let line = match unknown.or(field) {
            Some(key) if !key.is_empty() => find_key_line(raw, key),
            _ => 1,
        };
        Error::at(path, line + 1, format!("front matter: {msg}")).hint(hint.to_string())
    })
}

/// Splits and parses front matter. A file without front matter gets empty front matter.
pub fn parse<'a>(path: &Path, text: &'a str) -> Result<Parsed<'a>> {
    let (value, raw, body, body_line) = split(path, text)?;
    let mut front: FrontMatter = from_value(
        path,
        raw,
        value,
        "known keys: title, date, updated, description, tags, draft, weight, template, sort_by, paginate_by, queries, extra (put your own keys under extra)",
    )?;
    if let Some(v) = &front.paginate_by_raw {
        match v.as_u64().filter(|&n| n > 0) {
            Some(n) => front.paginate_by = Some(usize::try_from(n).unwrap_or(usize::MAX)),
            None => {
                return Err(Error::at(
                    path,
                    top_level_key_line(raw, "paginate_by") + 1,
                    format!("paginate_by = {v} is not a positive whole number"),
                )
                .hint("write how many pages each page of the section's listing shows, e.g. paginate_by = 10, or remove it to list every page on one page"));
            }
        }
    }
    for (key, value) in [("date", &front.date), ("updated", &front.updated)] {
        if let Some(date) = value
            && let Err(why) = parse_date(date)
        {
            return Err(Error::at(
                path,
                top_level_key_line(raw, key) + 1,
                format!("{key} `{date}` is not a date: {why}"),
            )
            .hint(
                "write an RFC 3339 date, `2024-01-15`, or date and time, `2024-01-15T09:30:00Z`",
            ));
        }
    }
    for (name, q) in &front.queries {
        if q.max_rows == Some(0) {
            return Err(Error::at(
                path,
                find_key_line(raw, "max_rows") + 1,
                format!("canned query `{name}`: max_rows must be at least 1"),
            )
            .hint(
                "it is how many rows the query shows at most; remove it for [build] query_max_rows",
            ));
        }
    }
    if let Some(s) = &front.sort_by
        && !matches!(s.as_str(), "weight" | "date" | "title")
    {
        return Err(Error::at(
            path,
            find_key_line(raw, "sort_by") + 1,
            format!("sort_by = `{s}` is not known"),
        )
        .hint("use weight, date or title"));
    }
    Ok(Parsed {
        front,
        body,
        body_line,
    })
}

/// A page date must be a real calendar date, alone or with a time: sorting by date compares
/// the text, so "yesterday" or "15/01/2024" would sort wrongly without a word. The feeds read
/// dates (checked here when the page loaded) through this too.
pub fn parse_date(text: &str) -> std::result::Result<toml::value::Datetime, String> {
    // TOML's date-times are RFC 3339's (a space may stand for the `T`), checked against the
    // calendar: 2024-02-30 does not parse.
    match text.trim().parse::<toml::value::Datetime>() {
        Ok(d) if d.date.is_some() => Ok(d),
        Ok(_) => Err("it has a time but no date".into()),
        Err(e) => Err(e.to_string().trim_end_matches('.').to_string()),
    }
}

/// The line (in the front matter) of `key` written at the top level, unindented: a key of the
/// same name inside `extra` or a query must not be blamed. Falls back to any mention.
fn top_level_key_line(raw: &str, key: &str) -> usize {
    raw.lines()
        .position(|l| {
            l.strip_prefix(key)
                .is_some_and(|r| r.trim_start().starts_with(['=', ':']))
        })
        .map(|i| i + 1)
        .unwrap_or_else(|| find_key_line(raw, key))
}

/// TOML → JSON, with dates as their TOML text (`2026-03-14`).
fn toml_to_json(v: toml::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        toml::Value::String(s) => J::String(s),
        toml::Value::Integer(i) => J::from(i),
        toml::Value::Float(f) => serde_json::Number::from_f64(f)
            .map(J::Number)
            .unwrap_or(J::Null),
        toml::Value::Boolean(b) => J::Bool(b),
        toml::Value::Datetime(d) => J::String(d.to_string()),
        toml::Value::Array(a) => J::Array(a.into_iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => {
            J::Object(t.into_iter().map(|(k, v)| (k, toml_to_json(v))).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_toml_and_yaml() {
        let p = parse(
            Path::new("a.md"),
            "+++\ntitle = \"T\"\ndate = 2026-03-14\ntags = [\"a\"]\n+++\nbody\n",
        )
        .unwrap();
        assert_eq!(p.front.title.as_deref(), Some("T"));
        assert_eq!(p.front.date.as_deref(), Some("2026-03-14"));
        assert_eq!(p.body, "body\n");
        assert_eq!(p.body_line, 6);
        let p = parse(
            Path::new("a.md"),
            "---\ntitle: Y\ntags: [x, y]\nweight: 2\n---\n# hi\n",
        )
        .unwrap();
        assert_eq!(p.front.tags, vec!["x", "y"]);
        assert_eq!(p.front.weight, Some(2));
        let p = parse(Path::new("a.md"), "no front matter").unwrap();
        assert_eq!(p.body, "no front matter");
    }

    #[test]
    fn errors_carry_lines() {
        let e = parse(Path::new("a.md"), "+++\ntitle = \"T\"\ntags = [\n+++\n").unwrap_err();
        assert!(e.to_string().contains("invalid TOML"), "{e}");
        let e = parse(Path::new("a.md"), "+++\ntitle = \"T\"\ncolour = 1\n+++\n").unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        let e = parse(Path::new("a.md"), "---\ntitle: [unclosed\n---\n").unwrap_err();
        assert!(e.to_string().contains("invalid YAML"), "{e}");
        let e = parse(Path::new("a.md"), "+++\ntitle = \"T\"\n").unwrap_err();
        assert!(e.to_string().contains("never closed"), "{e}");
        let e = parse(Path::new("a.md"), "+++\nweight = \"heavy\"\n+++\n").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        // A type error is placed at its key, not at the first line of the front matter.
        let text = "+++\ntitle = \"T\"\ndescription = \"d\"\nweight = \"heavy\"\n+++\n";
        let e = parse(Path::new("a.md"), text).unwrap_err();
        assert_eq!(e.line, Some(4), "{e}");
        let text = "---\ntitle: T\ntags: [a, b]\ndraft: maybe\n---\n";
        let e = parse(Path::new("a.md"), text).unwrap_err();
        assert_eq!(e.line, Some(4), "{e}");
        let text = "+++\ntitle = \"T\"\n[queries.q]\ndatabase = \"db\"\nsql = 5\n+++\n";
        let e = parse(Path::new("a.md"), text).unwrap_err();
        assert_eq!(e.line, Some(5), "{e}");
    }

    #[test]
    fn dates_must_be_real_dates() {
        for good in [
            "2024-02-29",
            "2024-01-15T09:30:00Z",
            "2024-01-15 09:30:00",
            "2024-01-15T09:30:00+02:00",
        ] {
            let text = format!("---\ntitle: T\ndate: \"{good}\"\n---\n");
            let p = parse(Path::new("a.md"), &text).unwrap();
            assert_eq!(p.front.date.as_deref(), Some(good));
        }
        for bad in [
            "yesterday",
            "2024-02-30",
            "15/01/2024",
            "2023-02-29",
            "09:30:00",
            "",
        ] {
            let text = format!("---\ntitle: T\nextra:\n  date: 1\ndate: \"{bad}\"\n---\n");
            let e = parse(Path::new("a.md"), &text).unwrap_err();
            assert_eq!(e.line, Some(5), "{bad}: {e}");
            assert!(e.message.contains("is not a date"), "{bad}: {e}");
            assert!(e.hint.as_deref().unwrap().contains("2024-01-15"), "{e}");
        }
        let e = parse(
            Path::new("a.md"),
            "+++\ntitle = \"T\"\ndate = \"2024-13-01\"\n+++\n",
        )
        .unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        // `updated` is held to the same forms, at its own line.
        let e = parse(
            Path::new("a.md"),
            "+++\ntitle = \"T\"\ndate = 2024-01-01\nupdated = \"last week\"\n+++\n",
        )
        .unwrap_err();
        assert_eq!(e.line, Some(4), "{e}");
        assert!(
            e.message.starts_with("updated `last week` is not a date"),
            "{e}"
        );
        let p = parse(
            Path::new("a.md"),
            "+++\ndate = 2024-01-01\nupdated = 2024-02-01T10:00:00Z\n+++\n",
        )
        .unwrap();
        assert_eq!(p.front.updated.as_deref(), Some("2024-02-01T10:00:00Z"));
    }
}
