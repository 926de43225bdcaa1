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
        let line = e.position().map(|p| p.line() as usize);
        let msg = match e.kind() {
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => {
                format!("this row has {len} fields but the header has {expected_len}")
            }
            csv::ErrorKind::Io(io) => format!("cannot read: {io}"),
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
        let mut text = String::new();
        self.reader(true)?.read_to_string(&mut text).map_err(|e| {
            Error::in_file(&self.display, format!("cannot read: {e}"))
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
        items
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                let line = lines.get(i).copied().unwrap_or(1);
                match v {
                    serde_json::Value::Object(o) => Ok((line, o)),
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
        for (i, line) in reader.lines().enumerate() {
            let n = i + 1;
            let line = line.map_err(|e| {
                Error::at(&self.display, n, format!("cannot read: {e}"))
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
                serde_json::Value::Object(o) => f(n, &o)?,
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
    fn finds_element_lines() {
        assert_eq!(
            element_lines("[\n {\"a\": \"[,]\"},\n 5,\n\n \"x\"\n]"),
            vec![2, 3, 5]
        );
        assert_eq!(element_lines("[]"), Vec::<usize>::new());
    }
}
