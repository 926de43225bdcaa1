//! Search: the index schema both sides agree on, a read-only tantivy [`Directory`] over the
//! search pack ([`PackDirectory`]) and the query API the Worker calls ([`SearchSession`]).
//!
//! The schema, the tokenizer and tantivy's features are part of the generator↔browser
//! contract: `bake build` writes the index with [`schema()`] (see [`build`], native only) and
//! the browser reads it through the shared range engine, so search and SQL use ONE cache.
//!
//! Browser rules followed here: no warmers (no threads), [`ReloadPolicy::Manual`], a no-op
//! lock and no file watching (see [`PackDirectory`]).
//!
//! [`Directory`]: tantivy::Directory

use serde::{Deserialize, Serialize};
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, Occur, PhraseQuery, Query, TermQuery,
};
use tantivy::schema::document::{DeserializeError, DocumentDeserialize, DocumentDeserializer};
use tantivy::schema::{
    Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::snippet::{SnippetGenerator, collapse_overlapped_ranges};
use tantivy::{Index, IndexReader, ReloadPolicy, Score, Term};

use crate::engine::SharedEngine;
use crate::manifest::Manifest;

#[cfg(not(target_arch = "wasm32"))]
pub mod build;
mod directory;
pub mod tokenizer;

pub use directory::PackDirectory;

/// Block size of the search pack in the manifest (one cache block of the range engine).
pub const PACK_BLOCK_SIZE: u32 = 16 * 1024;
/// Tokenizer of every text field: the pipeline of tantivy's `en_stem` (simple tokenizer, long
/// tokens removed, lower-casing, English Snowball stemming; no stopword removal), registered
/// under this name by [`tokenizer::register`] on every index bake creates or opens.
pub const TOKENIZER: &str = "en_stem";

/// Most hits one call returns; a larger `limit` is reduced to it.
pub const MAX_LIMIT: usize = 100;
/// Largest `offset` honoured; a larger one is reduced to it.
pub const MAX_OFFSET: usize = 10_000;
/// Most words and phrases of a query that are used; the rest are ignored.
pub const MAX_CLAUSES: usize = 32;
/// A doc store up to this size is fetched whole, in one request, for a page of several hits
/// (the demo's 1,581 documents: 141 KB) rather than a request per store block they touch.
const SMALL_STORE_BYTES: u64 = 256 * 1024;

/// Longest snippet, in characters of text (before HTML escaping).
pub const SNIPPET_CHARS: usize = 160;

/// Boost of a match in the title.
const TITLE_BOOST: Score = 3.0;
/// Boost of a match in a heading.
const HEADINGS_BOOST: Score = 2.0;

/// The index schema: the one contract both crates build from.
///
/// `kind`, `url`, `section` and `tags` are untokenized `STRING` fields; `title`, `headings`
/// and `body` use [`TOKENIZER`] with frequencies and positions (phrases). Stored: `kind`,
/// `title`, `url`, `section` (for hits) and `body` (for snippets).
pub fn schema() -> Schema {
    let mut b = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(TOKENIZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    b.add_text_field("kind", STRING | STORED);
    b.add_text_field("title", text.clone() | STORED);
    b.add_text_field("headings", text.clone());
    b.add_text_field("body", text | STORED);
    b.add_text_field("url", STRING | STORED);
    b.add_text_field("section", STRING | STORED);
    b.add_text_field("tags", STRING);
    b.build()
}

/// A hit's stored fields, all text in this schema: read as strings straight from the doc
/// store, with none of the general document model (JSON, facets, dates) a
/// `TantivyDocument` brings along.
struct StoredText(Vec<(Field, String)>);

impl StoredText {
    /// The first value of `field`, or "".
    fn first(&self, field: Field) -> &str {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map_or("", |(_, v)| v.as_str())
    }
}

impl DocumentDeserialize for StoredText {
    fn deserialize<'de, D>(mut deserializer: D) -> Result<Self, DeserializeError>
    where
        D: DocumentDeserializer<'de>,
    {
        let mut fields = Vec::new();
        while let Some((field, value)) = deserializer.next_field::<String>()? {
            fields.push((field, value));
        }
        Ok(StoredText(fields))
    }
}

/// The schema's fields, resolved once.
#[derive(Debug, Clone, Copy)]
struct Fields {
    kind: Field,
    title: Field,
    headings: Field,
    body: Field,
    url: Field,
    section: Field,
    tags: Field,
}

impl Fields {
    fn of(schema: &Schema) -> Result<Fields, String> {
        let f = |name: &str| {
            schema.get_field(name).map_err(|_| {
                format!(
                    "the search index has no field `{name}`: it was built by another version of bake; rebuild the site"
                )
            })
        };
        Ok(Fields {
            kind: f("kind")?,
            title: f("title")?,
            headings: f("headings")?,
            body: f("body")?,
            url: f("url")?,
            section: f("section")?,
            tags: f("tags")?,
        })
    }
}

/// Options of one search, as the page sends them (every field optional in JSON).
#[derive(Deserialize, Default, Debug, Clone)]
#[serde(default)]
pub struct SearchOptions {
    /// Hits wanted; 0 means 10, more than [`MAX_LIMIT`] means [`MAX_LIMIT`].
    pub limit: usize,
    /// Hits to skip (paging), at most [`MAX_OFFSET`].
    pub offset: usize,
    /// Only hits whose `section` is exactly this (e.g. `/caching/`); empty means no filter.
    pub section: Option<String>,
    /// Only hits carrying every one of these tags (exact); empty strings are ignored.
    pub tags: Vec<String>,
    /// Only hits of this kind (`page` or `row`); empty means no filter.
    pub kind: Option<String>,
}

/// One search hit.
///
/// `title`, `url`, `section` and `kind` are plain text (insert them with `textContent`);
/// `snippet` is HTML: escaped text with matched terms in `<mark>…</mark>`.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Hit {
    /// The page title, or the row's title column.
    pub title: String,
    /// Where the hit links to.
    pub url: String,
    /// The page's section URL, or the row's table page URL.
    pub section: String,
    /// `page` or `row`.
    pub kind: String,
    /// BM25 score (higher is better).
    pub score: f32,
    /// Up to [`SNIPPET_CHARS`] characters of the body as safe HTML; may be empty (data rows).
    pub snippet: String,
}

/// The answer to one search.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct SearchResults {
    /// How many documents match (all of them, not just this page of hits).
    pub total: usize,
    /// The hits of this page, best first.
    pub hits: Vec<Hit>,
}

/// An open search index: the Worker opens one per page load and searches it many times.
///
/// # Query semantics
///
/// - The user's text is split into words at whitespace; text between double quotes is one
///   phrase (an unclosed quote runs to the end). Nothing the user types is an error and
///   there is no other syntax: `+`, `-`, `:`, `*`, `(`… are plain punctuation.
/// - Each word or phrase goes through the index's tokenizer (`en_stem`: lower case, English
///   stemming, so `caching` finds `cache` and `caches`). A word that becomes several tokens
///   (`stale-while-revalidate`) is searched as a phrase, like a quoted phrase. A word that
///   becomes no token (punctuation) is dropped. At most [`MAX_CLAUSES`] words/phrases count.
/// - Every word/phrase is REQUIRED (conjunction, like Pagefind); each may match the title
///   (boost 3), a heading (boost 2) or the body. Ranking is BM25, summed over clauses.
/// - A query with no words left (empty, only punctuation) matches nothing: `total` 0.
/// - Filters narrow the matches without changing scores: `section` (exact), every tag in
///   `tags` (exact, all required), `kind` (`page` / `row`).
/// - `total` counts every match; `hits` is the page `offset .. offset + limit` of them.
/// - The snippet is the best body fragment for the query (tantivy's SnippetGenerator, at most
///   [`SNIPPET_CHARS`] characters), with matched terms in `<mark>…</mark>` and everything
///   else HTML-escaped; when no term is in the body (a title-only match), it is the start of
///   the body; it is empty when the body is (data rows may have none).
///
/// Errors (a network failure, a compressed answer, the byte budget) come back as the range
/// engine's message. Reads go through the shared engine: call `Engine::begin_query` before a
/// search to set its budget and reset the stats, and `Engine::query_stats` after it.
pub struct SearchSession {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    directory: Option<PackDirectory>,
}

impl std::fmt::Debug for SearchSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchSession")
            .field("documents", &self.reader.searcher().num_docs())
            .finish_non_exhaustive()
    }
}

/// What one word or phrase of the user's query became: tokens with their positions.
type Clause = Vec<(usize, String)>;

impl SearchSession {
    /// Opens the site's search index through the shared engine: preloads the pack's hot
    /// ranges once (`Engine::preload_hot`: one request with the `search.pack.hot` sidecar),
    /// then opens the index and a reader.
    pub fn open(engine: SharedEngine, manifest: &Manifest) -> Result<SearchSession, String> {
        let search = manifest
            .search
            .as_ref()
            .ok_or_else(|| "this site has no search index".to_string())?;
        if !manifest.files.contains_key(&search.file) {
            return Err(format!(
                "the manifest does not list the search pack `{}`",
                search.file
            ));
        }
        engine
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .preload_hot(&search.file)
            .map_err(|e| format!("the search index cannot be opened: {e}"))?;
        let directory = PackDirectory::new(engine, search);
        let opened = Index::open(directory.clone()).and_then(|index| {
            let reader = open_reader(&index)?;
            Ok((index, reader))
        });
        match opened {
            Ok((index, reader)) => Self::from_parts(index, reader, Some(directory)),
            Err(e) => Err(format!(
                "the search index cannot be opened: {}",
                directory
                    .take_error()
                    .or_else(|| directory.verify())
                    .unwrap_or_else(|| e.to_string())
            )),
        }
    }

    /// A session over an index opened some other way (tests compare it with [`Self::open`]).
    pub fn from_index(index: Index) -> Result<SearchSession, String> {
        let reader = open_reader(&index).map_err(|e| e.to_string())?;
        Self::from_parts(index, reader, None)
    }

    fn from_parts(
        index: Index,
        reader: IndexReader,
        directory: Option<PackDirectory>,
    ) -> Result<SearchSession, String> {
        let fields = Fields::of(&index.schema())?;
        tokenizer::register(&index);
        Ok(SearchSession {
            index,
            reader,
            fields,
            directory,
        })
    }

    /// Number of documents in the index.
    pub fn documents(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Runs one search; see the type's documentation for the semantics.
    pub fn search(&self, query: &str, opts: &SearchOptions) -> Result<SearchResults, String> {
        // A message left over from an earlier failed call must not be blamed on this one.
        if let Some(dir) = &self.directory {
            dir.take_error();
        }
        // tantivy may panic on bytes that make no sense (a corrupted copy from the host):
        // natively that becomes an error here; in the browser (panic = abort) the Worker's
        // panic hook does the same check (see `wasm.rs`).
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run(query, opts)));
        let failure = match outcome {
            Ok(Ok(results)) => return Ok(results),
            Ok(Err(e)) => e.to_string(),
            Err(panic) => panic_text(panic.as_ref()),
        };
        // An engine error explains itself; any other failure may come from bytes the host
        // served wrong, so those are checked before blaming the index.
        let engine = self
            .directory
            .as_ref()
            .and_then(|d| d.take_error().or_else(|| d.verify()));
        Err(engine.unwrap_or_else(|| format!("search failed: {failure}")))
    }

    fn run(&self, text: &str, opts: &SearchOptions) -> tantivy::Result<SearchResults> {
        let clauses = self.clauses(text)?;
        if clauses.is_empty() {
            return Ok(SearchResults {
                total: 0,
                hits: Vec::new(),
            });
        }
        let query = self.query(&clauses, opts);
        let limit = match opts.limit {
            0 => 10,
            n => n.min(MAX_LIMIT),
        };
        let top = TopDocs::with_limit(limit)
            .and_offset(opts.offset.min(MAX_OFFSET))
            .order_by_score();
        let searcher = self.reader.searcher();
        let (total, top) = searcher.search(&query, &(Count, top))?;
        let mut hits = Vec::with_capacity(top.len());
        if top.len() > 1
            && let Some(dir) = &self.directory
        {
            // The hits' stored fields lie in blocks all over the doc store, one request each;
            // a small store comes whole in one.
            dir.prefetch_small(".store", SMALL_STORE_BYTES)?;
        }
        if !top.is_empty() {
            let mut snippets = SnippetGenerator::create(&searcher, &query, self.fields.body)?;
            snippets.set_max_num_chars(SNIPPET_CHARS);
            for (score, address) in top {
                let doc: StoredText = searcher.doc(address)?;
                let text = |field: Field| doc.first(field).to_string();
                let body = doc.first(self.fields.body);
                let snippet = snippets.snippet(body);
                let snippet = if snippet.highlighted().is_empty() {
                    escape_html(&lead(body, SNIPPET_CHARS))
                } else {
                    mark_html(snippet.fragment(), snippet.highlighted())
                };
                hits.push(Hit {
                    title: text(self.fields.title),
                    url: text(self.fields.url),
                    section: text(self.fields.section),
                    kind: text(self.fields.kind),
                    score,
                    snippet,
                });
            }
        }
        Ok(SearchResults { total, hits })
    }

    /// Splits the user's text into words and quoted phrases and tokenizes each.
    fn clauses(&self, text: &str) -> tantivy::Result<Vec<Clause>> {
        let mut analyzer = self.index.tokenizer_for_field(self.fields.body)?;
        let mut out = Vec::new();
        for piece in split_query(text) {
            let mut tokens: Clause = Vec::new();
            let mut stream = analyzer.token_stream(piece);
            while stream.advance() {
                let t = stream.token();
                tokens.push((t.position, t.text.clone()));
            }
            if let Some(&(first, _)) = tokens.first() {
                out.push(
                    tokens
                        .into_iter()
                        .map(|(p, t)| (p.saturating_sub(first), t))
                        .collect(),
                );
            }
            if out.len() == MAX_CLAUSES {
                break;
            }
        }
        Ok(out)
    }

    /// The query: every clause required, each over title / headings / body; filters that
    /// add nothing to the score.
    fn query(&self, clauses: &[Clause], opts: &SearchOptions) -> BooleanQuery {
        let f = self.fields;
        let mut must: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for clause in clauses {
            let per_field = [
                (f.title, TITLE_BOOST),
                (f.headings, HEADINGS_BOOST),
                (f.body, 1.0),
            ]
            .into_iter()
            .map(|(field, boost)| {
                let q: Box<dyn Query> = if clause.len() == 1 {
                    Box::new(TermQuery::new(
                        Term::from_field_text(field, &clause[0].1),
                        IndexRecordOption::WithFreqs,
                    ))
                } else {
                    Box::new(PhraseQuery::new_with_offset(
                        clause
                            .iter()
                            .map(|(p, t)| (*p, Term::from_field_text(field, t)))
                            .collect(),
                    ))
                };
                let q: Box<dyn Query> = if boost == 1.0 {
                    q
                } else {
                    Box::new(BoostQuery::new(q, boost))
                };
                (Occur::Should, q)
            })
            .collect();
            must.push((Occur::Must, Box::new(BooleanQuery::new(per_field))));
        }
        let mut filter = |field: Field, value: &str| {
            if !value.is_empty() {
                let term = TermQuery::new(
                    Term::from_field_text(field, value),
                    IndexRecordOption::Basic,
                );
                must.push((
                    Occur::Must,
                    Box::new(ConstScoreQuery::new(Box::new(term), 0.0)),
                ));
            }
        };
        if let Some(section) = &opts.section {
            filter(f.section, section);
        }
        for tag in &opts.tags {
            filter(f.tags, tag);
        }
        if let Some(kind) = &opts.kind {
            filter(f.kind, kind);
        }
        BooleanQuery::new(must)
    }
}

/// A reader fit for the browser: reloaded by hand only, no warming threads.
fn open_reader(index: &Index) -> tantivy::Result<IndexReader> {
    index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .num_warming_threads(0)
        .try_into()
}

/// The message of a caught panic.
pub fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "the search code panicked".into())
}

/// Splits a query into bare words and double-quoted phrases (an unclosed quote runs to the end).
fn split_query(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return out;
        }
        if let Some(after) = rest.strip_prefix('"') {
            let end = after.find('"').unwrap_or(after.len());
            out.push(&after[..end]);
            rest = after.get(end + 1..).unwrap_or("");
        } else {
            let end = rest
                .find(|c: char| c.is_whitespace() || c == '"')
                .unwrap_or(rest.len());
            out.push(&rest[..end]);
            rest = &rest[end..];
        }
    }
}

/// The first `max` characters of `text`, cut at a word boundary, with `…` when cut.
fn lead(text: &str, max: usize) -> String {
    let text = text.trim();
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((cut, _)) => {
            let head = &text[..cut];
            let head = match head.rfind(char::is_whitespace) {
                Some(space) if space > cut / 2 => &head[..space],
                _ => head,
            };
            format!("{}…", head.trim_end())
        }
    }
}

/// Escapes text for use between HTML tags or in a quoted attribute.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `fragment` as HTML: the `marked` byte ranges in `<mark>…</mark>`, everything escaped.
fn mark_html(fragment: &str, marked: &[std::ops::Range<usize>]) -> String {
    let mut out = String::new();
    let mut at = 0;
    for r in collapse_overlapped_ranges(marked) {
        // Ranges come from the tokenizer's offsets; skip any that would split a character.
        let (start, end) = (r.start.max(at), r.end.min(fragment.len()));
        if start >= end || !fragment.is_char_boundary(start) || !fragment.is_char_boundary(end) {
            continue;
        }
        out.push_str(&escape_html(&fragment[at..start]));
        out.push_str("<mark>");
        out.push_str(&escape_html(&fragment[start..end]));
        out.push_str("</mark>");
        at = end;
    }
    out.push_str(&escape_html(&fragment[at..]));
    out
}

#[cfg(test)]
mod tests;
