//! `bake.toml`: the site's configuration.
//!
//! Paths in it are relative to the folder that holds `bake.toml`; dataset sources are
//! relative to the content folder. Every table is optional except the ones a site uses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result, line_of};

/// The parsed configuration plus where it was found.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Site title, shown in every page's header.
    #[serde(default = "default_title")]
    pub title: String,
    /// One-line site description (meta description of the home page).
    #[serde(default)]
    pub description: String,
    /// Language of the content (`<html lang>`).
    #[serde(default = "default_language")]
    pub language: String,
    /// Where the site is published, `https://example.org`: an absolute http(s) URL of the
    /// host's root, kept without the trailing slash. Crawlers and feed readers need
    /// absolute URLs, so without it there is no sitemap, no Atom feed and no canonical or
    /// OpenGraph tags (`robots.txt` is written either way).
    #[serde(default)]
    pub base_url: Option<String>,
    /// Host preset that picks the part size: cloudflare, github, netlify, s3, generic.
    #[serde(default)]
    pub host: Host,
    /// Overrides the host preset's part size: bytes, or a string such as "8MiB".
    #[serde(default)]
    pub part_size: Option<ByteSize>,
    /// SQLite page size of every baked database unless a database overrides it.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// How many pages each tag page lists (`/tags/NAME/`, then `/tags/NAME/page/2/` …), as
    /// written; [`Config::paginate_tags_by`] gives the number in force.
    #[serde(default, rename = "paginate_tags_by")]
    pub paginate_tags_by_raw: Option<toml::Value>,
    /// Folders and build switches.
    #[serde(default)]
    pub build: BuildConfig,
    /// Search index settings.
    #[serde(default)]
    pub search: SearchConfig,
    /// What visitors' browsers keep for offline use.
    #[serde(default)]
    pub offline: OfflineConfig,
    /// Databases by name.
    #[serde(default)]
    pub databases: BTreeMap<String, DatabaseConfig>,
    /// Canned queries, run at build time and shown as tables.
    #[serde(default)]
    pub queries: Vec<QueryConfig>,
    /// Free-form values for templates (`config.extra`).
    #[serde(default)]
    pub extra: toml::Table,

    /// Folder holding `bake.toml` (set after parsing).
    #[serde(skip)]
    pub root: PathBuf,
    /// Path of `bake.toml` itself, for error messages (set after parsing).
    #[serde(skip)]
    pub path: PathBuf,
    /// Text of `bake.toml`, to find the line of a key in error messages.
    #[serde(skip)]
    pub text: String,
}

/// Where the site will be deployed; picks the default part size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Host {
    /// Cloudflare Pages: answers Range with the whole file, 25 MiB per file, 20,000 files.
    Cloudflare,
    /// GitHub Pages: rejects files over 100 MiB.
    Github,
    /// Netlify: honours Range.
    Netlify,
    /// S3 + CloudFront: honours Range.
    S3,
    /// Any host that honours Range.
    #[default]
    Generic,
}

impl Host {
    /// The part size the preset uses.
    pub fn part_size(self) -> u64 {
        match self {
            Host::Cloudflare => 512 * KIB,
            Host::Github => 50 * MIB,
            Host::Netlify | Host::S3 | Host::Generic => 32 * MIB,
        }
    }

    /// The largest file the host accepts, if it has a limit.
    pub fn max_file_size(self) -> Option<u64> {
        match self {
            Host::Cloudflare => Some(25 * MIB),
            Host::Github => Some(100 * MIB),
            _ => None,
        }
    }

    /// The most files a site may have on the host, if it has a limit.
    pub fn max_files(self) -> Option<usize> {
        match self {
            Host::Cloudflare => Some(20_000),
            _ => None,
        }
    }
}

/// Pages a tag page lists when bake.toml does not say (`paginate_tags_by`).
pub const DEFAULT_PAGINATE_TAGS_BY: usize = 20;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;

/// A size in bytes, written as a number or as "512KiB", "32MiB", "1GiB".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Num(n) => Ok(ByteSize(n)),
            Raw::Text(s) => parse_size(&s).map(ByteSize).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "`{s}` is not a size; write a number of bytes or e.g. \"512KiB\", \"32MiB\""
                ))
            }),
        }
    }
}

fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "K" | "KB" => KIB,
        "MiB" | "M" | "MB" => MIB,
        "GiB" | "G" | "GB" => 1024 * MIB,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// Folders and switches of `bake build`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BuildConfig {
    /// Content folder.
    pub content: PathBuf,
    /// Folder whose files override the default theme by name.
    pub templates: PathBuf,
    /// Output folder.
    pub output: PathBuf,
    /// Skip CSV/JSON rows that do not fit their column's type instead of failing.
    pub skip_bad_rows: bool,
    /// Build pages marked `draft = true`.
    pub drafts: bool,
    /// Minify HTML.
    pub minify: bool,
    /// How long one canned query, or one statement of a `.sql` script, may run.
    pub query_time_limit: TimeLimit,
    /// Rows a canned query shows at most; reading stops there and the caption says so.
    pub query_max_rows: usize,
}

impl Default for BuildConfig {
    fn default() -> Self {
        BuildConfig {
            content: "content".into(),
            templates: "templates".into(),
            output: "site".into(),
            skip_bad_rows: false,
            drafts: false,
            minify: true,
            query_time_limit: TimeLimit(Duration::from_secs(30)),
            query_max_rows: crate::queries::MAX_ROWS,
        }
    }
}

/// `[offline]`: the device store each visitor's browser keeps (see docs/browser.md, Offline).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OfflineConfig {
    /// MiB of data blocks a browser keeps from earlier visits, least recently used dropped
    /// first (databases and the index a visitor saved for offline use come on top).
    pub device_cache_mib: u64,
}

impl Default for OfflineConfig {
    fn default() -> Self {
        OfflineConfig {
            device_cache_mib: 256,
        }
    }
}

/// What goes into the search index.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchConfig {
    /// Build a search index at all.
    pub enabled: bool,
    /// Data tables whose rows are searchable too.
    pub tables: Vec<SearchTable>,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            enabled: true,
            tables: Vec::new(),
        }
    }
}

/// A table whose rows become search documents.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchTable {
    /// Database name.
    pub database: String,
    /// Table name.
    pub table: String,
    /// Column shown as the result title.
    pub title: String,
    /// Columns whose text is searchable (the title column is always included).
    #[serde(default)]
    pub columns: Vec<String>,
}

/// One database: tables loaded from files, then scripts, optionally on top of an existing file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// An existing SQLite file to start from (relative to the content folder).
    #[serde(default)]
    pub sqlite: Option<PathBuf>,
    /// Tables loaded from CSV / JSON / JSONL files, by table name.
    #[serde(default)]
    pub tables: BTreeMap<String, TableConfig>,
    /// `.sql` scripts run after the tables are loaded, in order.
    #[serde(default)]
    pub scripts: Vec<PathBuf>,
    /// Page size of this database (overrides the global `page_size`).
    #[serde(default)]
    pub page_size: Option<u32>,
}

/// A table loaded from a data file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableConfig {
    /// Data file, relative to the content folder: .csv, .tsv, .json, .jsonl (optionally .gz).
    pub source: PathBuf,
    /// Column types that override inference: integer, real, text, blob.
    #[serde(default)]
    pub types: BTreeMap<String, ColumnType>,
    /// Primary key columns (the table is then a rowid table keyed by them).
    #[serde(default)]
    pub primary_key: Vec<String>,
    /// Indexes, each a list of columns.
    #[serde(default)]
    pub indexes: Vec<Vec<String>>,
    /// Foreign keys to other tables of the same database.
    #[serde(default)]
    pub foreign_keys: Vec<ForeignKeyConfig>,
    /// Cell values read as NULL (default: the empty string).
    #[serde(default = "default_nulls")]
    pub null_values: Vec<String>,
}

/// A foreign key declared in `bake.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForeignKeyConfig {
    /// Columns of this table.
    pub columns: Vec<String>,
    /// Referenced table.
    pub table: String,
    /// Referenced columns (default: the same names).
    #[serde(default)]
    pub to: Vec<String>,
}

/// A column type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    /// 64-bit signed integer.
    Integer,
    /// 64-bit float.
    Real,
    /// UTF-8 text.
    Text,
    /// Bytes (values are stored as given).
    Blob,
}

impl ColumnType {
    /// The SQL type name.
    pub fn sql(self) -> &'static str {
        match self {
            ColumnType::Integer => "INTEGER",
            ColumnType::Real => "REAL",
            ColumnType::Text => "TEXT",
            ColumnType::Blob => "BLOB",
        }
    }
}

/// A canned query.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryConfig {
    /// Name used by `{{ query(name="…") }}`.
    pub name: String,
    /// Database it runs against (others are attached by name).
    pub database: String,
    /// The SQL.
    pub sql: String,
    /// Optional caption shown under the table.
    #[serde(default)]
    pub description: String,
    /// Overrides `[build] query_time_limit` for this query.
    #[serde(default)]
    pub time_limit: Option<TimeLimit>,
    /// Overrides `[build] query_max_rows` for this query.
    #[serde(default)]
    pub max_rows: Option<usize>,
}

/// A duration, written as a number of seconds (`30`, `0.5`) or as `"500ms"`, `"30s"`, `"2min"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeLimit(pub Duration);

impl<'de> Deserialize<'de> for TimeLimit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Float(f64),
            Text(String),
        }
        let bad = |shown: &str| {
            serde::de::Error::custom(format!(
                "`{shown}` is not a time limit; write seconds (30, 0.5) or e.g. \"500ms\", \"30s\", \"2min\""
            ))
        };
        let (d, shown) = match Raw::deserialize(d)? {
            Raw::Int(n) => (Some(Duration::from_secs(n)), n.to_string()),
            Raw::Float(f) => (Duration::try_from_secs_f64(f).ok(), f.to_string()),
            Raw::Text(s) => (parse_duration(&s), s),
        };
        match d {
            Some(d) if !d.is_zero() => Ok(TimeLimit(d)),
            _ => Err(bad(&shown)),
        }
    }
}

impl std::fmt::Display for TimeLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = self.0.as_millis();
        if ms.is_multiple_of(1000) {
            write!(f, "{} s", ms / 1000)
        } else {
            write!(f, "{ms} ms")
        }
    }
}

fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "" | "s" | "sec" => n,
        "ms" => n / 1000.0,
        "m" | "min" => n * 60.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(secs).ok()
}

fn default_title() -> String {
    "My bake site".into()
}
fn default_language() -> String {
    "en".into()
}
fn default_page_size() -> u32 {
    4096
}
fn default_nulls() -> Vec<String> {
    vec![String::new()]
}

impl Config {
    /// Reads and checks `bake.toml` at `path`.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read(path).map_err(|e| {
            Error::io(path, "read the configuration", e)
                .hint("run `bake build` in a folder with a bake.toml, pass --config PATH, or create a site with `bake init DIR`")
        })?;
        let text = String::from_utf8(text).map_err(|e| {
            Error::at(
                path,
                line_of_bytes(e.as_bytes(), e.utf8_error().valid_up_to()),
                "the file is not valid UTF-8",
            )
            .hint("save it as UTF-8")
        })?;
        Config::parse(path, &text)
    }

    /// Parses configuration text; `path` is used for messages and to resolve folders.
    pub fn parse(path: &Path, text: &str) -> Result<Config> {
        let mut config: Config = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(1);
            Error::at(
                path,
                line,
                format!("invalid configuration: {}", e.message()),
            )
            .hint("see docs/config.md for every key bake.toml accepts")
        })?;
        config.root = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        config.path = path.to_path_buf();
        config.text = text.to_string();
        if let Some(raw) = config.base_url.take() {
            config.base_url = Some(config.check_base_url(&raw)?);
        }
        config.check()?;
        Ok(config)
    }

    /// `base_url` as the pages use it (no trailing slash), or an error at its line: every
    /// page links from the root (`/_assets/…`), so the site must be served at the root of
    /// its host and a path, query or fragment would make every absolute URL wrong. Parsed by
    /// the `url` crate as a browser would: scheme and host lower-cased, an international host
    /// name written in its punycode (`xn--`) form, a default port dropped.
    fn check_base_url(&self, raw: &str) -> Result<String> {
        use url::{Host, ParseError, Url};
        let bad = |why: &str| {
            self.error_at_key("base_url", format!("base_url `{raw}` {why}"))
                .hint("write the address the site is served at, scheme and host only, e.g. base_url = \"https://example.org\"")
        };
        let text = raw.trim();
        // `https:example.org` parses (browsers are lenient); an author meant `https://`.
        let Some((_, rest)) = text.split_once("://") else {
            return Err(bad("is not an absolute URL"));
        };
        let url = Url::parse(text).map_err(|e| match e {
            ParseError::EmptyHost => bad("has no host name"),
            ParseError::InvalidPort => bad("has a port that is not a number up to 65535"),
            ParseError::InvalidIpv6Address => bad("has a malformed IPv6 address"),
            ParseError::InvalidIpv4Address
            | ParseError::InvalidDomainCharacter
            | ParseError::IdnaError => {
                bad("has a host name that is not letters, digits, `-` and dots")
            }
            _ => bad("is not an absolute URL"),
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("must start with https:// or http://"));
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(bad(
                "has a path, query or fragment; bake's pages link from the root of the host",
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("holds a user name or password"));
        }
        // The parser takes `host:` as the default port; a colon with nothing after is a slip.
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if authority.ends_with(':') {
            return Err(bad("has a port that is not a number up to 65535"));
        }
        match url.host() {
            None => return Err(bad("has no host name")),
            Some(Host::Domain(name)) => {
                // The parser allows labels a DNS name may not have (`-x`, empty ones).
                let label_ok = |l: &str| {
                    !l.is_empty()
                        && !l.starts_with('-')
                        && !l.ends_with('-')
                        && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                };
                if !name.split('.').all(label_ok) {
                    return Err(bad(
                        "has a host name that is not letters, digits, `-` and dots",
                    ));
                }
            }
            Some(Host::Ipv4(_) | Host::Ipv6(_)) => {}
        }
        // Path `/`, no query, fragment or user: the text is `scheme://host[:port]/`.
        Ok(url.as_str().trim_end_matches('/').to_string())
    }

    fn check(&self) -> Result<()> {
        let ps = |p: u32| p.is_power_of_two() && (512..=65536).contains(&p);
        if !ps(self.page_size) {
            return Err(self
                .error_at_key(
                    "page_size",
                    format!(
                        "page_size {} is not a power of two between 512 and 65536",
                        self.page_size
                    ),
                )
                .hint(PAGE_SIZE_HINT));
        }
        let name_hint = "rename it in bake.toml: letters, digits and _, starting with a letter or _ (it becomes an SQL name and a file name)";
        for (name, db) in &self.databases {
            check_name(name).map_err(|m| {
                self.error_at_path(&["databases", name], format!("database name {m}"))
                    .hint(name_hint)
            })?;
            if let Some(p) = db.page_size
                && !ps(p)
            {
                return Err(self
                    .error_at_path(
                        &["databases", name, "page_size"],
                        format!(
                            "database {name}: page_size {p} is not a power of two between 512 and 65536"
                        ),
                    )
                    .hint(PAGE_SIZE_HINT));
            }
            for t in db.tables.keys() {
                check_name(t).map_err(|m| {
                    self.error_at_path(&["databases", name, "tables", t], format!("table name {m}"))
                        .hint(name_hint)
                })?;
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, q) in self.queries.iter().enumerate() {
            if !seen.insert(&q.name) {
                // At the second entry of that name: the first is fine until it came.
                return Err(self
                    .error_at_path(
                        &["queries", &i.to_string(), "name"],
                        format!("two canned queries are named `{}`", q.name),
                    )
                    .hint("give each [[queries]] entry its own name"));
            }
        }
        if let Some(v) = &self.paginate_tags_by_raw
            && v.as_integer().is_none_or(|n| n <= 0)
        {
            return Err(self
                .error_at_key(
                    "paginate_tags_by",
                    format!("paginate_tags_by = {v} is not a positive whole number"),
                )
                .hint(format!("write how many pages each tag page lists, e.g. paginate_tags_by = {DEFAULT_PAGINATE_TAGS_BY} (the default), or remove it")));
        }
        if self.part_size().0 < 4096 {
            return Err(self
                .error_at_key("part_size", "part_size must be at least 4096 bytes")
                .hint("write e.g. part_size = \"8MiB\", or remove it to use the host preset (docs/config.md, Host presets)"));
        }
        if self.offline.device_cache_mib == 0 {
            return Err(self
                .error_at_path(
                    &["offline", "device_cache_mib"],
                    "device_cache_mib must be at least 1",
                )
                .hint("it is how many MiB of data a visitor's browser keeps from earlier visits (default 256)"));
        }
        if self.build.query_max_rows == 0 {
            return Err(self
                .error_at_path(
                    &["build", "query_max_rows"],
                    "query_max_rows must be at least 1",
                )
                .hint("it is how many rows a canned query shows at most (default 1000)"));
        }
        for (i, q) in self.queries.iter().enumerate() {
            if q.max_rows == Some(0) {
                return Err(self
                    .error_at_path(
                        &["queries", &i.to_string(), "max_rows"],
                        format!("canned query `{}`: max_rows must be at least 1", q.name),
                    )
                    .hint("it is how many rows the query shows at most; remove it for [build] query_max_rows"));
            }
        }
        Ok(())
    }

    /// How many pages each tag page lists: `paginate_tags_by`, else
    /// [`DEFAULT_PAGINATE_TAGS_BY`] (a value [`Config::parse`] refused never gets here).
    pub fn paginate_tags_by(&self) -> usize {
        self.paginate_tags_by_raw
            .as_ref()
            .and_then(toml::Value::as_integer)
            .and_then(|n| usize::try_from(n).ok())
            .filter(|&n| n > 0)
            .unwrap_or(DEFAULT_PAGINATE_TAGS_BY)
    }

    /// The part size in force and whether it came from the preset.
    pub fn part_size(&self) -> ByteSize {
        self.part_size.unwrap_or(ByteSize(self.host.part_size()))
    }

    /// Absolute-ish path of the content folder.
    pub fn content_dir(&self) -> PathBuf {
        self.root.join(&self.build.content)
    }

    /// Folder of template overrides.
    pub fn templates_dir(&self) -> PathBuf {
        self.root.join(&self.build.templates)
    }

    /// An error pointing at the line of the key at `path` in `bake.toml` (table names, then
    /// keys; an array's entries by index, `["queries", "0", "sql"]`), found by parsing it with
    /// spans, so dotted keys, inline tables and quoted names are found where they are written.
    /// The deepest part of the path that exists is used; line 1 if none does.
    pub fn error_at_path(&self, path: &[&str], message: impl Into<String>) -> Error {
        Error::at(&self.path, key_line(&self.text, path).unwrap_or(1), message)
    }

    /// An error at the key at `path` (see [`Config::error_at_path`]); when `bake.toml` has
    /// no such key (a database bake made up for a data file), at the first line that
    /// mentions `needle`.
    pub fn error_at_path_or(
        &self,
        path: &[&str],
        needle: &str,
        message: impl Into<String>,
    ) -> Error {
        let line = key_line(&self.text, path).unwrap_or_else(|| find_key_line(&self.text, needle));
        Error::at(&self.path, line, message)
    }

    /// An error pointing at the top-level key `key` of `bake.toml`.
    pub fn error_at_key(&self, key: &str, message: impl Into<String>) -> Error {
        self.error_at_path_or(&[key], key, message)
    }

    /// An error pointing at the `name = "…"` line of the (first) `[[queries]]` entry called
    /// `name`.
    pub fn error_at_query(&self, name: &str, message: impl Into<String>) -> Error {
        match self.queries.iter().position(|q| q.name == name) {
            Some(i) => self.error_at_path(&["queries", &i.to_string(), "name"], message),
            None => self.error_at_key(name, message),
        }
    }
}

impl Config {
    /// An error pointing into entry `index` (0-based) of the array of tables `header`
    /// (e.g. `[[search.tables]]`): at the first line of it that quotes `needle`, else at the
    /// entry's header line.
    pub fn error_in_entry(
        &self,
        header: &str,
        index: usize,
        needle: &str,
        message: impl Into<String>,
    ) -> Error {
        let quoted = format!("\"{needle}\"");
        let lines: Vec<&str> = self.text.lines().collect();
        let start = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.trim_start().starts_with(header))
            .nth(index)
            .map(|(i, _)| i);
        let Some(start) = start else {
            return Error::at(&self.path, 1, message);
        };
        let found = lines[start + 1..]
            .iter()
            .take_while(|l| !l.trim_start().starts_with('['))
            .position(|l| l.contains(&quoted))
            .map(|i| start + 1 + i);
        Error::at(&self.path, found.unwrap_or(start) + 1, message)
    }
}

/// Database and table names become SQL identifiers and file names: keep them plain.
fn check_name(name: &str) -> std::result::Result<(), String> {
    let ok = !name.is_empty()
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` must start with a letter and hold only letters, digits and _"
        ))
    }
}

const PAGE_SIZE_HINT: &str =
    "use one of 512, 1024, 2048, 4096 (the default), 8192, 16384, 32768, 65536";

/// The 1-based line where the key at `path` is written in the TOML `text`: the deepest part
/// of the path that exists, `None` if not even the first does (or the text does not parse).
pub fn key_line(text: &str, path: &[&str]) -> Option<usize> {
    use toml::de::{DeTable, DeValue};
    let doc = DeTable::parse(text).ok()?;
    let mut table = doc.get_ref();
    let mut found = None;
    let mut rest = path;
    while let Some((first, tail)) = rest.split_first() {
        let (key, value) = table.iter().find(|(k, _)| k.get_ref().as_ref() == *first)?;
        found = Some(crate::error::line_of(text, key.span().start));
        let mut value = value;
        rest = tail;
        // An array of tables: the next part of the path is the entry's index.
        if let DeValue::Array(items) = value.get_ref()
            && let Some((index, tail)) = rest.split_first()
            && let Some(item) = index.parse::<usize>().ok().and_then(|i| items.get(i))
        {
            found = Some(crate::error::line_of(text, item.span().start));
            value = item;
            rest = tail;
        }
        match value.get_ref() {
            DeValue::Table(t) => table = t,
            _ => break,
        }
    }
    found
}

/// The 1-based line of the first line that mentions `key` (as a key or a quoted value), or 1.
pub fn find_key_line(text: &str, key: &str) -> usize {
    let quoted = format!("\"{key}\"");
    text.lines()
        .position(|l| {
            let t = l.trim_start();
            t.starts_with(key) && t[key.len()..].trim_start().starts_with(['=', ':'])
                || l.contains(&quoted)
                || t.starts_with('[') && t.contains(key)
        })
        .map(|i| i + 1)
        .unwrap_or(1)
}

fn line_of_bytes(bytes: &[u8], offset: usize) -> usize {
    bytes[..offset].iter().filter(|&&b| b == b'\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_presets() {
        let c = Config::parse(
            Path::new("bake.toml"),
            "title = \"x\"\nhost = \"cloudflare\"\n",
        )
        .unwrap();
        assert_eq!(c.part_size(), ByteSize(512 * 1024));
        assert_eq!(c.page_size, 4096);
        let c = Config::parse(Path::new("bake.toml"), "part_size = \"8MiB\"\n").unwrap();
        assert_eq!(c.part_size(), ByteSize(8 * 1024 * 1024));
    }

    #[test]
    fn errors_name_the_line() {
        let e = Config::parse(Path::new("bake.toml"), "title = \"x\"\nnope = 1\n").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.to_string().contains("nope"), "{e}");
        let e =
            Config::parse(Path::new("bake.toml"), "title = \"x\"\npage_size = 1000\n").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        let e = Config::parse(Path::new("bake.toml"), "part_size = \"lots\"\n").unwrap_err();
        assert!(e.to_string().contains("not a size"), "{e}");
    }

    #[test]
    fn rejects_odd_names() {
        let e = Config::parse(Path::new("b.toml"), "[databases.\"my db\"]\n").unwrap_err();
        assert!(e.to_string().contains("must start with a letter"), "{e}");
    }

    #[test]
    fn finds_keys_by_path() {
        let t = "title = \"db\"\n[databases.good]\n[databases.\"caf\\u00e9\"]\nx.y = 1\n[[queries]]\nname = \"a\"\n[[queries]]\nname = \"b\"\nmax_rows = 3\n";
        assert_eq!(key_line(t, &["databases", "café"]), Some(3));
        assert_eq!(key_line(t, &["databases", "café", "x", "y"]), Some(4));
        assert_eq!(key_line(t, &["queries", "1", "max_rows"]), Some(9));
        assert_eq!(key_line(t, &["queries", "1"]), Some(7));
        assert_eq!(key_line(t, &["nothing"]), None);
    }

    #[test]
    fn errors_are_at_the_key_not_at_the_first_line_that_mentions_it() {
        // A comment and a table name that mention the key come first: the text search this
        // replaced blamed them.
        let t = "# page_size is per database below\n[databases.page_size_db]\npage_size = 4096\n[[queries]]\nname = 'a'\nsql = \"SELECT 'name = \\\"b\\\"'\"\n[[queries]]\nname = \"b\"\n[[queries]]\nname = \"a\"\n";
        let q = |name: &str| QueryConfig {
            name: name.into(),
            database: "d".into(),
            sql: "SELECT 1".into(),
            description: String::new(),
            time_limit: None,
            max_rows: None,
        };
        let c: Config = Config {
            text: t.into(),
            queries: vec![q("a"), q("b"), q("a")],
            ..Config::parse(Path::new("bake.toml"), "").unwrap()
        };
        assert_eq!(c.error_at_query("b", "x").line, Some(8));
        assert_eq!(c.error_at_query("a", "x").line, Some(5));
        assert_eq!(
            c.error_at_path_or(
                &["databases", "page_size_db", "page_size"],
                "page_size",
                "x"
            )
            .line,
            Some(3)
        );
        // No such key: the first line that mentions the needle.
        assert_eq!(
            c.error_at_path_or(&["nope"], "page_size_db", "x").line,
            Some(2)
        );
        let e = Config::parse(
            Path::new("bake.toml"),
            "[[queries]]\nname = \"a\"\ndatabase = \"d\"\nsql = \"SELECT 1\"\n[[queries]]\nname = \"a\"\ndatabase = \"d\"\nsql = \"SELECT 2\"\n",
        )
        .unwrap_err();
        assert_eq!(e.line, Some(6), "the second entry of the name: {e}");
        let e = Config::parse(
            Path::new("bake.toml"),
            "# \"page_size\" is set below\npage_size = 1000\n",
        )
        .unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        let e =
            Config::parse(Path::new("bake.toml"), "[offline]\ndevice_cache_mib = 0\n").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.to_string().contains("device_cache_mib"), "{e}");
    }

    #[test]
    fn base_url_is_an_absolute_root_url() {
        let parse = |v: &str| {
            Config::parse(
                Path::new("bake.toml"),
                &format!("title = \"x\"\nbase_url = {v}\n"),
            )
        };
        for (written, kept) in [
            ("\"https://example.org\"", "https://example.org"),
            ("\"https://example.org/\"", "https://example.org"),
            ("\"HTTP://Example.ORG:8080/\"", "http://example.org:8080"),
            ("\"https://[::1]:8000\"", "https://[::1]:8000"),
            ("\" https://a-b.example \"", "https://a-b.example"),
            // An international name is written in its punycode form; a default port is dropped.
            (
                "\"https://bücher.example\"",
                "https://xn--bcher-kva.example",
            ),
            ("\"https://example.org:443\"", "https://example.org"),
        ] {
            let c = parse(written).unwrap_or_else(|e| panic!("{written}: {e}"));
            assert_eq!(c.base_url.as_deref(), Some(kept), "{written}");
        }
        assert_eq!(
            parse("\"https://x.org\"").unwrap().base_url.as_deref(),
            Some("https://x.org")
        );
        assert!(
            Config::parse(Path::new("bake.toml"), "")
                .unwrap()
                .base_url
                .is_none()
        );
        for bad in [
            "\"example.org\"",
            "\"ftp://example.org\"",
            "\"https://\"",
            "\"https://example.org/blog/\"",
            "\"https://example.org?x=1\"",
            "\"https://user@example.org\"",
            "\"https://exa mple.org\"",
            "\"https://example.org:99999\"",
            "\"https://example.org:\"",
            "\"https:example.org\"",
            "\"https://example.org#top\"",
            "\"https://user:pw@example.org\"",
            "\"https://[zz]\"",
            "\"https://-x.org\"",
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.line, Some(2), "{bad}: {e}");
            assert_eq!(
                e.file.as_deref(),
                Some(Path::new("bake.toml")),
                "{bad}: {e}"
            );
            let text = e.to_string();
            assert!(text.contains("base_url"), "{bad}: {text}");
            assert!(
                text.contains("base_url = \"https://example.org\""),
                "{bad}: {text}"
            );
        }
        let e = parse("5").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
    }

    #[test]
    fn reads_time_limits() {
        let c = Config::parse(
            Path::new("b.toml"),
            "[build]\nquery_time_limit = \"250ms\"\n",
        )
        .unwrap();
        assert_eq!(
            c.build.query_time_limit,
            TimeLimit(Duration::from_millis(250))
        );
        assert_eq!(c.build.query_time_limit.to_string(), "250 ms");
        let c = Config::parse(Path::new("b.toml"), "[build]\nquery_time_limit = 2\n").unwrap();
        assert_eq!(c.build.query_time_limit.to_string(), "2 s");
        let c = Config::parse(Path::new("b.toml"), "[build]\nquery_time_limit = 0.5\n").unwrap();
        assert_eq!(c.build.query_time_limit.0, Duration::from_millis(500));
        for bad in ["\"soon\"", "0", "-1.0", "\"5h\""] {
            let text = format!("[build]\nquery_time_limit = {bad}\n");
            let e = Config::parse(Path::new("b.toml"), &text).unwrap_err();
            assert_eq!(e.line, Some(2), "{bad}: {e}");
            assert!(e.to_string().contains("not a time limit"), "{bad}: {e}");
        }
    }
}
