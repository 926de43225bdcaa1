//! Reading rows from CSV, TSV, JSON arrays and JSON Lines (optionally gzip'd), streaming
//! where the format allows, with the line of every row for error messages.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Read};
use std::path::{Path, PathBuf};

use crate::config::ColumnType;
use crate::error::{Error, Result};

/// One value read from a data file.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Missing or a configured null marker.
    Null,
    /// A JSON integer or boolean.
    Int(i64),
    /// A JSON float.
    Real(f64),
    /// Text as written (CSV cells are always text until converted).
    Text(String),
}

/// A JSON object, as one row.
type Object = serde_json::Map<String, serde_json::Value>;

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Csv(u8),
    Json,
    Jsonl,
}

/// A data file opened for reading rows.
pub struct RowSource {
    path: PathBuf,
    display: PathBuf,
    format: Format,
    gz: bool,
    nulls: Vec<String>,
    /// A JSON array is parsed once, whole: (line, object) per element.
    json_rows: Option<Vec<(usize, Object)>>,
}

/// Columns with their types, in file order.
pub struct Inferred {
    /// (name, type) per column.
    pub columns: Vec<(String, ColumnType)>,
}

/// Files above this size show a progress bar on a terminal.
const PROGRESS_MIN_BYTES: u64 = 16 * 1024 * 1024;

impl RowSource {
    /// Opens `path` (shown to the user as `display`); the format comes from the extension.
    pub fn open(path: &Path, display: &Path, nulls: &[String]) -> Result<RowSource> {
        let lower = path.to_string_lossy().to_ascii_lowercase();
        let gz = lower.ends_with(".gz");
        let base = lower.strip_suffix(".gz").unwrap_or(&lower);
        let format = if base.ends_with(".csv") {
            Format::Csv(b',')
        } else if base.ends_with(".tsv") {
            Format::Csv(b'\t')
        } else if base.ends_with(".json") {
            Format::Json
        } else if base.ends_with(".jsonl") || base.ends_with(".ndjson") {
            Format::Jsonl
        } else {
            return Err(Error::in_file(display, "is not a table file")
                .hint("tables load from .csv, .tsv, .json or .jsonl (optionally .gz); run .sql files as scripts and .sqlite files as the database's `sqlite`"));
        };
        if path.is_dir() {
            return Err(Error::in_file(display, "is a folder, not a data file")
                .hint("point `source` at a .csv, .tsv, .json or .jsonl file (optionally .gz)"));
        }
        let mut src = RowSource {
            path: path.to_path_buf(),
            display: display.to_path_buf(),
            format,
            gz,
            nulls: nulls.to_vec(),
            json_rows: None,
        };
        if format == Format::Json {
            src.json_rows = Some(src.read_json_array()?);
        }
        Ok(src)
    }

    /// The line that names the columns (CSV and TSV), if the format has one.
    pub fn header_line(&self) -> Option<usize> {
        matches!(self.format, Format::Csv(_)).then_some(1)
    }

    /// The error for a failed read: a `.gz` that ends early or is damaged says so, instead of
    /// blaming the rows (no line: where the data stops says nothing about what to fix).
    fn read_error(&self, e: &std::io::Error) -> Error {
        let (msg, hint) = if self.gz {
            (
                format!("the gzip data is cut short or damaged ({e})"),
                "the file looks truncated or corrupt: compress the data again (`gzip -k FILE`); `gzip -t FILE` tests a .gz file",
            )
        } else {
            (
                format!("cannot read: {e}"),
                "check that the file is readable and complete",
            )
        };
        Error::in_file(&self.display, msg).hint(hint)
    }

    fn reader(&self, progress: bool) -> Result<Box<dyn Read>> {
        let file = File::open(&self.path).map_err(|e| Error::io(&self.display, "open", e))?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let raw: Box<dyn Read> =
            if progress && len >= PROGRESS_MIN_BYTES && std::io::stderr().is_terminal() {
                let bar = indicatif::ProgressBar::new(len)
                    .with_message(self.display.display().to_string());
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{msg} {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                    )
                    .expect("valid template"),
                );
                Box::new(bar.wrap_read(file))
            } else {
                Box::new(file)
            };
        Ok(if self.gz {
            Box::new(flate2::read::MultiGzDecoder::new(raw))
        } else {
            raw
        })
    }

    /// Column names and types: declared ones win, the rest are inferred from every value.
    pub fn infer(&self, declared: &BTreeMap<String, ColumnType>) -> Result<Inferred> {
        let mut names: Vec<String> = Vec::new();
        let mut kinds: Vec<Kind> = Vec::new();
        match self.format {
            Format::Csv(_) => {
                let header = self.csv_header()?;
                let all_declared = header.iter().all(|h| declared.contains_key(h));
                kinds = vec![Kind::Empty; header.len()];
                names = header;
                if !all_declared {
                    let nulls = self.nulls.clone();
                    self.csv_rows(false, &mut |_, rec: &csv::ByteRecord| {
                        for (i, field) in rec.iter().enumerate() {
                            if kinds[i] == Kind::Text {
                                continue;
                            }
                            let s = std::str::from_utf8(field).unwrap_or("\u{fffd}");
                            if !nulls.iter().any(|n| n == s) {
                                kinds[i] = kinds[i].join(classify(s));
                            }
                        }
                        Ok(())
                    })?;
                }
            }
            Format::Json | Format::Jsonl => {
                let mut index: BTreeMap<String, usize> = BTreeMap::new();
                self.json_objects(false, &mut |_, obj| {
                    for (k, v) in obj {
                        let i = *index.entry(k.clone()).or_insert_with(|| {
                            names.push(k.clone());
                            kinds.push(Kind::Empty);
                            names.len() - 1
                        });
                        kinds[i] = kinds[i].join(json_kind(v));
                    }
                    Ok(())
                })?;
                if names.is_empty() {
                    return Err(Error::in_file(
                        &self.display,
                        "has no rows, so its columns are unknown",
                    )
                    .hint("add at least one object, or remove the file"));
                }
            }
        }
        let columns = names
            .into_iter()
            .zip(kinds)
            .map(|(n, k)| {
                let t = declared.get(&n).copied().unwrap_or(k.column_type());
                (n, t)
            })
            .collect();
        Ok(Inferred { columns })
    }

    /// Calls `f(line, cells)` for every row, cells in the order of `columns`.
    pub fn for_each_row(
        &self,
        columns: &[String],
        mut f: impl FnMut(usize, Vec<Cell>) -> Result<()>,
    ) -> Result<()> {
        match self.format {
            Format::Csv(_) => {
                let nulls = self.nulls.clone();
                let display = self.display.clone();
                self.csv_rows(true, &mut |line, rec| {
                    let mut cells = Vec::with_capacity(rec.len());
                    for field in rec.iter() {
                        let s = std::str::from_utf8(field).map_err(|_| {
                            Error::at(&display, line, "this row is not valid UTF-8")
                                .hint("save the file as UTF-8")
                        })?;
                        cells.push(if nulls.iter().any(|n| n == s) {
                            Cell::Null
                        } else {
                            Cell::Text(s.to_string())
                        });
                    }
                    f(line, cells)
                })
            }
            Format::Json | Format::Jsonl => self.json_objects(true, &mut |line, obj| {
                let cells = columns
                    .iter()
                    .map(|c| match obj.get(c) {
                        None | Some(serde_json::Value::Null) => Cell::Null,
                        Some(serde_json::Value::Bool(b)) => Cell::Int(*b as i64),
                        Some(serde_json::Value::Number(n)) => match n.as_i64() {
                            Some(i) => Cell::Int(i),
                            None => Cell::Real(n.as_f64().unwrap_or(f64::NAN)),
                        },
                        Some(serde_json::Value::String(s)) if self.nulls.iter().any(|n| n == s) => {
                            Cell::Null
                        }
                        Some(serde_json::Value::String(s)) => Cell::Text(s.clone()),
                        Some(v) => Cell::Text(v.to_string()),
                    })
                    .collect();
                f(line, cells)
            }),
        }
    }

    fn csv_reader(&self, progress: bool) -> Result<csv::Reader<Box<dyn Read>>> {
        let Format::Csv(delim) = self.format else {
            unreachable!("csv_reader on a JSON source")
        };
        Ok(csv::ReaderBuilder::new()
            .delimiter(delim)
            .has_headers(true)
            .from_reader(self.reader(progress)?))
    }

    fn csv_header(&self) -> Result<Vec<String>> {
        let mut rdr = self.csv_reader(false)?;
        let header = rdr.byte_headers().map_err(|e| self.csv_error(e))?.clone();
        if header.is_empty() {
            return Err(Error::at(&self.display, 1, "the file is empty")
                .hint("the first line must name the columns"));
        }
        let mut names = Vec::new();
        for (i, h) in header.iter().enumerate() {
            let name = std::str::from_utf8(h)
                .map_err(|_| {
                    Error::at(&self.display, 1, "the header is not valid UTF-8")
                        .hint("save the file as UTF-8")
                })?
                .trim()
                .trim_start_matches('\u{feff}')
                .to_string();
            let name = if name.is_empty() {
                format!("column_{}", i + 1)
            } else {
                name
            };
            if names.contains(&name) {
                return Err(Error::at(
                    &self.display,
                    1,
                    format!("column `{name}` appears twice in the header"),
                )
                .hint("give every column its own name"));
            }
            names.push(name);
        }
        Ok(names)
    }

    fn csv_rows(
        &self,
        progress: bool,
        f: &mut dyn FnMut(usize, &csv::ByteRecord) -> Result<()>,
    ) -> Result<()> {
        let mut rdr = self.csv_reader(progress)?;
        let mut rec = csv::ByteRecord::new();
        loop {
            match rdr.read_byte_record(&mut rec) {
                Ok(false) => return Ok(()),
                Ok(true) => {
                    let line = rec.position().map(|p| p.line() as usize).unwrap_or(0);
                    f(line, &rec)?;
                }
                Err(e) => return Err(self.csv_error(e)),
            }
        }
    }

    fn csv_error(&self, e: csv::Error) -> Error {
        if let csv::ErrorKind::Io(io) = e.kind() {
            return self.read_error(io);
        }
        let line = e.position().map(|p| p.line() as usize);
        let msg = match e.kind() {
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => {
                format!(
                    "this row has {} but the header has {}",
                    crate::build::count(*len, "field"),
                    crate::build::count(*expected_len, "field")
                )
            }
            _ => e.to_string(),
        };
        let err = match line {
            Some(l) => Error::at(&self.display, l, msg),
            None => Error::in_file(&self.display, msg),
        };
        err.hint(
            "every row needs as many fields as the header; quote fields that contain the delimiter",
        )
    }

    fn read_json_array(&self) -> Result<Vec<(usize, Object)>> {
        let mut bytes = Vec::new();
        self.reader(true)?
            .read_to_end(&mut bytes)
            .map_err(|e| self.read_error(&e))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let line = line_of_bytes(e.as_bytes(), e.utf8_error().valid_up_to());
            Error::at(&self.display, line, "the file is not valid UTF-8")
                .hint("JSON files must be UTF-8")
        })?;
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            Error::at(&self.display, e.line(), format!("invalid JSON: {e}"))
                .hint("check the syntax near that line")
        })?;
        let serde_json::Value::Array(items) = value else {
            return Err(Error::at(&self.display, 1, "is not a JSON array of objects")
                .hint("a JSON dataset is `[{\"col\": value, ...}, ...]`; use .jsonl for one object per line"));
        };
        let lines = element_lines(&text);
        let spans = element_spans(&text);
        items
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                let line = lines.get(i).copied().unwrap_or(1);
                match v {
                    serde_json::Value::Object(mut o) => {
                        if let Some(span) = spans.get(i) {
                            keep_big_integers(&mut o, &text[span.clone()]);
                        }
                        Ok((line, o))
                    }
                    other => Err(Error::at(
                        &self.display,
                        line,
                        format!(
                            "element {} of the array is {}, not an object",
                            i + 1,
                            json_type_name(&other)
                        ),
                    )
                    .hint("a JSON dataset is an array of objects, one object per row")),
                }
            })
            .collect()
    }

    fn json_objects(
        &self,
        progress: bool,
        f: &mut dyn FnMut(usize, &Object) -> Result<()>,
    ) -> Result<()> {
        if let Some(rows) = &self.json_rows {
            for (line, obj) in rows {
                f(*line, obj)?;
            }
            return Ok(());
        }
        let reader = BufReader::new(self.reader(progress)?);
        for (i, line) in reader.split(b'\n').enumerate() {
            let n = i + 1;
            let line = line.map_err(|e| self.read_error(&e))?;
            let line = String::from_utf8(line).map_err(|_| {
                Error::at(&self.display, n, "this line is not valid UTF-8")
                    .hint("JSON Lines files must be UTF-8")
            })?;
            if line.trim().is_empty() {
                continue;
            }
            let v: serde_json::Value = serde_json::from_str(&line).map_err(|e| {
                Error::at(&self.display, n, format!("invalid JSON: {e}"))
                    .hint("each line must be one JSON object")
            })?;
            match v {
                serde_json::Value::Object(mut o) => {
                    keep_big_integers(&mut o, &line);
                    f(n, &o)?
                }
                other => {
                    return Err(Error::at(
                        &self.display,
                        n,
                        format!("this line is {}, not an object", json_type_name(&other)),
                    )
                    .hint("each line of a .jsonl file must be one JSON object"));
                }
            }
        }
        Ok(())
    }
}

fn json_type_name(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

fn line_of_bytes(bytes: &[u8], offset: usize) -> usize {
    bytes[..offset].iter().filter(|&&b| b == b'\n').count() + 1
}

/// An integer that does not fit SQLite's 64 bits becomes text with its exact digits (as a CSV
/// cell of such a number does) rather than a REAL that is off in its last digits. serde_json
/// keeps integers up to u64 exactly and turns longer ones into floats, so for those the
/// digits are read back from the object's `text`.
fn keep_big_integers(obj: &mut Object, text: &str) {
    use serde_json::Value;
    let mut beyond_u64 = false;
    for v in obj.values_mut() {
        if let Value::Number(n) = v {
            if n.is_u64() && !n.is_i64() {
                *v = Value::String(n.to_string());
            } else if n.is_f64()
                && n.as_f64()
                    .is_some_and(|f| f.fract() == 0.0 && f.abs() >= 9.2e18)
            {
                beyond_u64 = true;
            }
        }
    }
    if !beyond_u64 {
        return;
    }
    for (key, literal) in object_entries(text) {
        let digits = literal.strip_prefix('-').unwrap_or(literal);
        let integer = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
        if integer
            && literal.parse::<i64>().is_err()
            && let Some(v @ Value::Number(_)) = obj.get_mut(&key)
        {
            *v = Value::String(literal.to_string());
        }
    }
}

/// Index just past the JSON value that starts at `i` (the text is valid JSON).
fn value_end(b: &[u8], mut i: usize) -> usize {
    match b.get(i) {
        Some(b'"') => {
            i += 1;
            while i < b.len() {
                match b[i] {
                    b'\\' => i += 2,
                    b'"' => return i + 1,
                    _ => i += 1,
                }
            }
            i
        }
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            while i < b.len() {
                match b[i] {
                    b'"' => {
                        i = value_end(b, i);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return i + 1;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            i
        }
        _ => {
            while i < b.len() && !matches!(b[i], b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n')
            {
                i += 1;
            }
            i
        }
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// Byte ranges of the top-level elements of the JSON array `text` (valid JSON).
fn element_spans(text: &str) -> Vec<std::ops::Range<usize>> {
    let b = text.as_bytes();
    let mut spans = Vec::new();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'[') {
        return spans;
    }
    i = skip_ws(b, i + 1);
    while i < b.len() && b[i] != b']' {
        let end = value_end(b, i);
        spans.push(i..end);
        i = skip_ws(b, end);
        if b.get(i) == Some(&b',') {
            i = skip_ws(b, i + 1);
        }
    }
    spans
}

/// (key, value as written) of the top-level entries of the JSON object `text` (valid JSON).
fn object_entries(text: &str) -> Vec<(String, &str)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return out;
    }
    i = skip_ws(b, i + 1);
    while b.get(i) == Some(&b'"') {
        let key_end = value_end(b, i);
        let key: String = serde_json::from_str(&text[i..key_end]).unwrap_or_default();
        i = skip_ws(b, key_end);
        i = skip_ws(b, i + 1); // the colon
        let end = value_end(b, i);
        out.push((key, &text[i..end]));
        i = skip_ws(b, end);
        if b.get(i) == Some(&b',') {
            i = skip_ws(b, i + 1);
        }
    }
    out
}

/// Line where each top-level element of a JSON array starts (the text is valid JSON).
fn element_lines(text: &str) -> Vec<usize> {
    let mut lines = Vec::new();
    let (mut depth, mut in_str, mut esc, mut line, mut expect) =
        (0usize, false, false, 1usize, false);
    for b in text.bytes() {
        if b == b'\n' {
            line += 1;
        }
        if in_str {
            match (esc, b) {
                (true, _) => esc = false,
                (false, b'\\') => esc = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        if expect && !b.is_ascii_whitespace() && b != b']' {
            lines.push(line);
            expect = false;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                if depth == 1 {
                    expect = true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b',' if depth == 1 => expect = true,
            _ => {}
        }
    }
    lines
}

/// What the values of a column look like so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Empty,
    Int,
    Real,
    Text,
}

impl Kind {
    fn join(self, other: Kind) -> Kind {
        use Kind::*;
        match (self, other) {
            (Empty, k) | (k, Empty) => k,
            (Text, _) | (_, Text) => Text,
            (Real, _) | (_, Real) => Real,
            (Int, Int) => Int,
        }
    }

    fn column_type(self) -> ColumnType {
        match self {
            Kind::Int => ColumnType::Integer,
            Kind::Real => ColumnType::Real,
            Kind::Empty | Kind::Text => ColumnType::Text,
        }
    }
}

/// Numbers keep their exact text as numbers; codes with leading zeros ("00501") stay text.
fn classify(s: &str) -> Kind {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let leading_zero = digits.len() > 1 && digits.starts_with('0') && !digits.starts_with("0.");
    if digits.is_empty() || leading_zero || s != s.trim() {
        return Kind::Text;
    }
    if digits.bytes().all(|b| b.is_ascii_digit()) {
        return if s.parse::<i64>().is_ok() {
            Kind::Int
        } else {
            Kind::Text
        };
    }
    let numeric_chars = digits
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'));
    match s.parse::<f64>() {
        Ok(f)
            if numeric_chars
                && f.is_finite()
                && digits.starts_with(|c: char| c.is_ascii_digit()) =>
        {
            Kind::Real
        }
        _ => Kind::Text,
    }
}

fn json_kind(v: &serde_json::Value) -> Kind {
    match v {
        serde_json::Value::Null => Kind::Empty,
        serde_json::Value::Bool(_) => Kind::Int,
        serde_json::Value::Number(n) if n.is_i64() => Kind::Int,
        serde_json::Value::Number(_) => Kind::Real,
        _ => Kind::Text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_values() {
        assert_eq!(classify("42"), Kind::Int);
        assert_eq!(classify("-7"), Kind::Int);
        assert_eq!(classify("0"), Kind::Int);
        assert_eq!(classify("00501"), Kind::Text);
        assert_eq!(classify("3.5"), Kind::Real);
        assert_eq!(classify("0.5"), Kind::Real);
        assert_eq!(classify("1e3"), Kind::Real);
        assert_eq!(classify("inf"), Kind::Text);
        assert_eq!(classify("NaN"), Kind::Text);
        assert_eq!(classify(" 4"), Kind::Text);
        assert_eq!(classify(".5"), Kind::Text);
        assert_eq!(classify("99999999999999999999"), Kind::Text);
        assert_eq!(Kind::Int.join(Kind::Real), Kind::Real);
        assert_eq!(Kind::Empty.join(Kind::Int), Kind::Int);
    }

    #[test]
    fn keeps_big_integers_exact() {
        let text = r#"{"a": 123456789012345678901234567890, "b\"x": -99999999999999999999, "c": 1e30, "d": 18446744073709551615, "e": 9007199254740993, "f": [1]}"#;
        let serde_json::Value::Object(mut o) = serde_json::from_str(text).unwrap() else {
            panic!()
        };
        keep_big_integers(&mut o, text);
        let s = |k: &str| o[k].clone();
        assert_eq!(s("a"), "123456789012345678901234567890");
        assert_eq!(s("b\"x"), "-99999999999999999999");
        assert!(s("c").is_f64(), "a float stays a float");
        assert_eq!(s("d"), "18446744073709551615");
        assert_eq!(s("e").as_i64(), Some(9007199254740993));
        assert_eq!(
            element_spans(r#" [ {"a": "]"} , 5,[1,[2]] ] "#)
                .iter()
                .map(|r| r.len())
                .collect::<Vec<_>>(),
            vec![10, 1, 7]
        );
    }

    #[test]
    fn finds_element_lines() {
        assert_eq!(
            element_lines("[\n {\"a\": \"[,]\"},\n 5,\n\n \"x\"\n]"),
            vec![2, 3, 5]
        );
        assert_eq!(element_lines("[]"), Vec::<usize>::new());
    }
}
