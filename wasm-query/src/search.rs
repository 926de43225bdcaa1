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
use std::collections::{BTreeMap, HashSet};

use tantivy::collector::{Collector, Count, SegmentCollector, TopDocs};
use tantivy::columnar::StrColumn;
use tantivy::directory::Directory as _;
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, Occur, PhraseQuery, Query, TermQuery,
};
use tantivy::schema::document::{DeserializeError, DocumentDeserialize, DocumentDeserializer};
use tantivy::schema::{
    FAST, Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::snippet::{SnippetGenerator, collapse_overlapped_ranges};
use tantivy::{
    DocId, Index, IndexReader, ReloadPolicy, Score, Searcher, SegmentOrdinal, SegmentReader, Term,
};

use crate::engine::SharedEngine;
use crate::manifest::Manifest;

#[cfg(feature = "index")]
pub mod build;
mod directory;
pub mod tokenizer;
pub mod vocabulary;

pub use directory::PackDirectory;
use vocabulary::Vocabulary;

/// Block size of the search pack in the manifest (one cache block of the range engine).
pub const PACK_BLOCK_SIZE: u32 = 16 * 1024;
/// Tokenizer of every text field: the site language's [`tokenizer::Analysis`] (tantivy's
/// `en_stem` pipeline with that language's stemmer and stop words), registered under this
/// name on every index bake creates or opens. The name, which the schema holds, is from
/// when bake stemmed English only.
pub const TOKENIZER: &str = "en_stem";

/// The vocabulary of a packed index and the analysis the browser searches it with: the
/// generator's stems and stop words ([`vocabulary`]). In the hot ranges and the manifest, so
/// no request; an index without a vocabulary searches without typo correction, completion
/// and stemming.
fn read_analysis(index: &Index) -> (Vocabulary, tokenizer::Analysis) {
    let dir = index.directory();
    let vocabulary = dir
        .atomic_read(std::path::Path::new(vocabulary::VOCAB_FILE))
        .map(|bytes| Vocabulary::parse(&bytes))
        .unwrap_or_default();
    let stop_words = dir
        .atomic_read(std::path::Path::new(vocabulary::STOP_WORDS_FILE))
        .map(|bytes| {
            String::from_utf8_lossy(&bytes)
                .lines()
                .filter(|w| !w.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let analysis = tokenizer::Analysis::from_table(vocabulary.stem_table(), stop_words);
    (vocabulary, analysis)
}

/// The analysis [`read_analysis`] gives `index` (for [`build::unpack`]).
#[cfg(feature = "index")]
pub(crate) fn analysis_of(index: &Index) -> tokenizer::Analysis {
    read_analysis(index).1
}

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

/// Most sections of a page listed under its hit.
pub const MAX_SUB_RESULTS: usize = 3;
/// Most words a hit names for highlighting.
const MAX_HIGHLIGHT_WORDS: usize = 16;
/// Words the last word of the query may complete to.
pub const MAX_COMPLETIONS: usize = 8;
/// Near words a typo may be read as.
pub const MAX_CORRECTIONS: usize = 3;
/// A word in at most this many documents is also read as its near words (it may be a typo
/// that the text itself holds once).
pub const RARE_DOCUMENTS: u64 = 1;
/// Boost of a completion of the last word, below the word as typed.
pub const COMPLETION_BOOST: Score = 0.5;
/// Boost of a correction, below the word as typed.
pub const CORRECTION_BOOST: Score = 0.3;

/// Boost of a match in the title.
const TITLE_BOOST: Score = 3.0;
/// Boost of a match in a heading.
const HEADINGS_BOOST: Score = 2.0;

/// The index schema: the one contract both crates build from.
///
/// `kind`, `url`, `section` and `tags` are untokenized `STRING` fields; `title`, `headings`
/// and `body` use [`TOKENIZER`] with frequencies and positions (phrases). Stored: `kind`,
/// `title`, `url`, `section` (for hits), `body` (for snippets) and `sections` (where the
/// body's sections start, for sub-results). `kind`, `section` and `tags` are fast columns
/// too (facet counts).
pub fn schema() -> Schema {
    let mut b = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(TOKENIZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    b.add_text_field("kind", STRING | STORED | FAST);
    b.add_text_field("title", text.clone() | STORED);
    b.add_text_field("headings", text.clone());
    b.add_text_field("body", text | STORED);
    b.add_text_field("url", STRING | STORED);
    b.add_text_field("section", STRING | STORED | FAST);
    b.add_text_field("tags", STRING | FAST);
    b.add_text_field("sections", STORED);
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
    sections: Field,
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
            sections: f("sections")?,
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
    /// The words exactly as typed: no typo correction, no completion of the last word.
    pub exact: bool,
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
    /// Id of the page's section that matches best (a link to `url#anchor` opens there); ""
    /// when that is the top of the page, or for data rows.
    pub anchor: String,
    /// The words of the page's text that matched, lower case, as written (not stemmed), in
    /// order of first appearance: what a page highlights on arrival.
    pub words: Vec<String>,
    /// Up to [`MAX_SUB_RESULTS`] sections of the page that match, in page order.
    pub sub_results: Vec<SubResult>,
}

/// A section of a page hit that matches the query.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct SubResult {
    /// The section's heading (plain text).
    pub title: String,
    /// The heading's id.
    pub anchor: String,
    /// The best fragment of the section, HTML like [`Hit::snippet`].
    pub snippet: String,
}

/// How many documents of the result set have one value of a facet.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct FacetCount {
    /// The value (a section URL, a tag, `page` / `row`).
    pub value: String,
    /// Matching documents with it.
    pub count: usize,
}

/// Counts per value over the whole (filtered) result set, most frequent first, then by
/// value.
#[derive(Serialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct Facets {
    /// `page` / `row`.
    pub kind: Vec<FacetCount>,
    /// Section URLs (pages) and table page URLs (rows).
    pub section: Vec<FacetCount>,
    /// Tags (a document with several counts for each).
    pub tags: Vec<FacetCount>,
}

/// The answer to one search.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct SearchResults {
    /// How many documents match (all of them, not just this page of hits).
    pub total: usize,
    /// The hits of this page, best first.
    pub hits: Vec<Hit>,
    /// The query as it was understood when a word in it is not in the text and was read as
    /// a near word (a typo): "consistent hashing" for "consistant hashing". `None` otherwise.
    pub corrected: Option<String>,
    /// Counts per kind, section and tag over all `total` matches.
    pub facets: Facets,
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
/// - Unless `exact` is set, two kinds of words also match near words of the text's
///   vocabulary (see [`vocabulary`]), at a lower boost, so a match as typed ranks first:
///   - the last word, when the text does not end in a space (the visitor is typing it), also
///     matches the [`MAX_COMPLETIONS`] most frequent words it begins (`cach` → `cache`,
///     `caching`; boost [`COMPLETION_BOOST`]);
///   - a word of 4+ letters that is in at most [`RARE_DOCUMENTS`] documents (the last one
///     too) also matches the [`MAX_CORRECTIONS`] nearest words within 1 edit (2 for 8+
///     letters; a transposition is one edit; boost [`CORRECTION_BOOST`]). When a word was in
///     no document at all (and, for the last word, begins none), `corrected` gives the query
///     with it replaced by the nearest word.
/// - A query with no words left (empty, only punctuation) matches nothing: `total` 0.
/// - Filters narrow the matches without changing scores: `section` (exact), every tag in
///   `tags` (exact, all required), `kind` (`page` / `row`). `facets` counts kind, section and
///   tags over every match (after the filters).
/// - `total` counts every match; `hits` is the page `offset .. offset + limit` of them.
/// - The snippet is the best body fragment for the query (tantivy's SnippetGenerator, at most
///   [`SNIPPET_CHARS`] characters), with matched terms in `<mark>…</mark>` and everything
///   else HTML-escaped; when no term is in the body (a title-only match), it is the start of
///   the body; it is empty when the body is (data rows may have none). A page's sections
///   with the most matched words give `anchor` and `sub_results`.
///
/// Errors (a network failure, a compressed answer, the byte budget) come back as the range
/// engine's message. Reads go through the shared engine: call `Engine::begin_query` before a
/// search to set its budget and reset the stats, and `Engine::query_stats` after it.
pub struct SearchSession {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    directory: Option<PackDirectory>,
    vocabulary: Vocabulary,
}

impl std::fmt::Debug for SearchSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchSession")
            .field("documents", &self.reader.searcher().num_docs())
            .field("vocabulary", &self.vocabulary.len())
            .finish_non_exhaustive()
    }
}

/// One word or phrase of the user's query, as searched.
#[derive(Debug)]
enum Clause {
    /// A word: terms (stems) any of which may match, each with its boost; the first is the
    /// word as typed.
    Word(Vec<(String, Score)>),
    /// Tokens with their positions, all in order.
    Phrase(Vec<(usize, String)>),
}

impl Clause {
    /// Every term the clause may match.
    fn terms(&self) -> Vec<&str> {
        match self {
            Clause::Word(alternatives) => alternatives.iter().map(|(t, _)| t.as_str()).collect(),
            Clause::Phrase(tokens) => tokens.iter().map(|(_, t)| t.as_str()).collect(),
        }
    }
}

/// What the query text became.
struct Parsed {
    clauses: Vec<Clause>,
    corrected: Option<String>,
}

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
        let (vocabulary, analysis) = read_analysis(&index);
        analysis.register(&index);
        if let Some(dir) = &directory {
            dir.take_error();
        }
        Ok(SearchSession {
            index,
            reader,
            fields,
            directory,
            vocabulary,
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
        let searcher = self.reader.searcher();
        let parsed = self.parse(text, opts.exact, &searcher)?;
        if parsed.clauses.is_empty() {
            return Ok(SearchResults {
                total: 0,
                hits: Vec::new(),
                corrected: None,
                facets: Facets::default(),
            });
        }
        let query = self.query(&parsed.clauses, opts);
        let limit = match opts.limit {
            0 => 10,
            n => n.min(MAX_LIMIT),
        };
        let top = TopDocs::with_limit(limit)
            .and_offset(opts.offset.min(MAX_OFFSET))
            .order_by_score();
        let (total, top, facets) = searcher.search(&query, &(Count, top, FacetCollector))?;
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
            let terms: HashSet<&str> = parsed.clauses.iter().flat_map(Clause::terms).collect();
            for (score, address) in top {
                let doc: StoredText = searcher.doc(address)?;
                hits.push(self.hit(&doc, score, &snippets, &terms)?);
            }
        }
        Ok(SearchResults {
            total,
            hits,
            corrected: parsed.corrected,
            facets,
        })
    }

    /// One hit from its stored fields: snippet, matched words, best section, sub-results.
    fn hit(
        &self,
        doc: &StoredText,
        score: Score,
        snippets: &SnippetGenerator,
        terms: &HashSet<&str>,
    ) -> tantivy::Result<Hit> {
        let f = self.fields;
        let body = doc.first(f.body);
        let title = doc.first(f.title);
        let snippet = fragment_html(snippets, body);
        let in_body = self.matched(body, terms)?;
        let mut words: Vec<String> = Vec::new();
        for range in self
            .matched(title, terms)?
            .iter()
            .map(|r| &title[r.clone()])
        {
            push_word(&mut words, range);
        }
        for range in in_body.iter().map(|r| &body[r.clone()]) {
            push_word(&mut words, range);
        }
        let sections = parse_sections(doc.first(f.sections), body.len());
        // Matched words per section; index 0 is the text before the first heading.
        let mut counts = vec![0usize; sections.len() + 1];
        for r in &in_body {
            counts[sections.partition_point(|s| s.start <= r.start)] += 1;
        }
        let best = (0..counts.len())
            .filter(|&i| counts[i] > 0)
            .max_by(|&a, &b| counts[a].cmp(&counts[b]).then(b.cmp(&a)));
        let anchor = match best {
            Some(i) if i > 0 => sections[i - 1].anchor.to_string(),
            _ => String::new(),
        };
        let mut chosen: Vec<usize> = (0..sections.len()).filter(|&i| counts[i + 1] > 0).collect();
        chosen.sort_by(|&a, &b| counts[b + 1].cmp(&counts[a + 1]).then(a.cmp(&b)));
        chosen.truncate(MAX_SUB_RESULTS);
        chosen.sort_unstable();
        let sub_results = chosen
            .into_iter()
            .map(|i| {
                let s = &sections[i];
                SubResult {
                    title: s.title.to_string(),
                    anchor: s.anchor.to_string(),
                    snippet: fragment_html(snippets, &body[s.start..s.end]),
                }
            })
            .collect();
        Ok(Hit {
            title: title.to_string(),
            url: doc.first(f.url).to_string(),
            section: doc.first(f.section).to_string(),
            kind: doc.first(f.kind).to_string(),
            score,
            snippet,
            anchor,
            words,
            sub_results,
        })
    }

    /// Byte ranges of the words of `text` whose stems are among `terms`.
    fn matched(
        &self,
        text: &str,
        terms: &HashSet<&str>,
    ) -> tantivy::Result<Vec<std::ops::Range<usize>>> {
        let mut analyzer = self.index.tokenizer_for_field(self.fields.body)?;
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while stream.advance() {
            let t = stream.token();
            if terms.contains(t.text.as_str()) && text.get(t.offset_from..t.offset_to).is_some() {
                out.push(t.offset_from..t.offset_to);
            }
        }
        Ok(out)
    }

    /// Documents in which `term` (a stem) is in the title, a heading or the body: the most
    /// of the three (a cheap upper bound of the union, enough to tell absent and rare).
    fn documents_with(&self, searcher: &Searcher, term: &str) -> tantivy::Result<u64> {
        let f = self.fields;
        let mut most = 0;
        for field in [f.title, f.headings, f.body] {
            most = most.max(searcher.doc_freq(&Term::from_field_text(field, term))?);
        }
        Ok(most)
    }

    /// The tokens of `text` under the index's tokenizer, positions from 0.
    fn stems(&self, text: &str) -> tantivy::Result<Vec<(usize, String)>> {
        let mut analyzer = self.index.tokenizer_for_field(self.fields.body)?;
        let mut stream = analyzer.token_stream(text);
        let mut tokens = Vec::new();
        while stream.advance() {
            let t = stream.token();
            tokens.push((t.position, t.text.clone()));
        }
        let first = tokens.first().map_or(0, |(p, _)| *p);
        Ok(tokens
            .into_iter()
            .map(|(p, t)| (p.saturating_sub(first), t))
            .collect())
    }

    /// Splits the user's text into words and quoted phrases, tokenizes each and, unless
    /// `exact`, adds completions of the last word and corrections of typos.
    fn parse(&self, text: &str, exact: bool, searcher: &Searcher) -> tantivy::Result<Parsed> {
        let pieces = split_query(text);
        let typing_last = !exact && !text.ends_with(char::is_whitespace);
        let mut shown: Vec<String> = pieces.iter().map(Piece::shown).collect();
        let mut corrected = false;
        let mut clauses = Vec::new();
        let mut surface = vocabulary::surface_analyzer();
        for (i, piece) in pieces.iter().enumerate() {
            if clauses.len() == MAX_CLAUSES {
                break;
            }
            let mut tokens = self.stems(piece.text)?;
            if tokens.len() > 1 {
                clauses.push(Clause::Phrase(tokens));
                continue;
            }
            let Some((_, typed)) = tokens.pop() else {
                continue;
            };
            let mut alternatives = vec![(typed.clone(), 1.0)];
            if !exact && !piece.quoted {
                let mut stream = surface.token_stream(piece.text);
                let word = if stream.advance() {
                    stream.token().text.clone()
                } else {
                    typed.clone()
                };
                let mut add = |word: &str, boost: Score| -> tantivy::Result<()> {
                    if let Some((_, stem)) = self.stems(word)?.pop()
                        && !alternatives.iter().any(|(t, _)| *t == stem)
                    {
                        alternatives.push((stem, boost));
                    }
                    Ok(())
                };
                let mut completed = false;
                if typing_last && i + 1 == pieces.len() {
                    for w in self.vocabulary.completions(&word, MAX_COMPLETIONS) {
                        add(w, COMPLETION_BOOST)?;
                        completed = true;
                    }
                }
                // A word being typed may also be a typo ("robbin" begins "robbinsville" but
                // means "robin"): it is corrected too, but only called corrected when it
                // begins no word at all.
                let letters = word.chars().count();
                if letters >= 4 {
                    let documents = self.documents_with(searcher, &typed)?;
                    if documents <= RARE_DOCUMENTS {
                        let edits = if letters >= 8 { 2 } else { 1 };
                        let near = self.vocabulary.near(&word, edits, MAX_CORRECTIONS);
                        for n in near.iter().filter(|n| u64::from(n.documents) > documents) {
                            add(n.word, CORRECTION_BOOST)?;
                        }
                        if documents == 0
                            && !completed
                            && let Some(n) = near.first()
                        {
                            shown[i] = n.word.to_string();
                            corrected = true;
                        }
                    }
                }
            }
            clauses.push(Clause::Word(alternatives));
        }
        Ok(Parsed {
            clauses,
            corrected: corrected.then(|| shown.join(" ")),
        })
    }

    /// The query: every clause required, each over title / headings / body; filters that
    /// add nothing to the score.
    fn query(&self, clauses: &[Clause], opts: &SearchOptions) -> BooleanQuery {
        let f = self.fields;
        let fields = [
            (f.title, TITLE_BOOST),
            (f.headings, HEADINGS_BOOST),
            (f.body, 1.0),
        ];
        let boosted = |q: Box<dyn Query>, boost: Score| -> Box<dyn Query> {
            if boost == 1.0 {
                q
            } else {
                Box::new(BoostQuery::new(q, boost))
            }
        };
        let mut must: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for clause in clauses {
            let mut any: Vec<(Occur, Box<dyn Query>)> = Vec::new();
            for (field, field_boost) in fields {
                match clause {
                    Clause::Word(alternatives) => {
                        for (term, boost) in alternatives {
                            let q = TermQuery::new(
                                Term::from_field_text(field, term),
                                IndexRecordOption::WithFreqs,
                            );
                            any.push((Occur::Should, boosted(Box::new(q), field_boost * boost)));
                        }
                    }
                    Clause::Phrase(tokens) => {
                        let q = PhraseQuery::new_with_offset(
                            tokens
                                .iter()
                                .map(|(p, t)| (*p, Term::from_field_text(field, t)))
                                .collect(),
                        );
                        any.push((Occur::Should, boosted(Box::new(q), field_boost)));
                    }
                }
            }
            must.push((Occur::Must, Box::new(BooleanQuery::new(any))));
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

/// Adds `word` (lower-cased) to `words` unless it is there or the list is full.
fn push_word(words: &mut Vec<String>, word: &str) {
    let word = word.to_lowercase();
    if words.len() < MAX_HIGHLIGHT_WORDS && !words.contains(&word) {
        words.push(word);
    }
}

/// The best fragment of `text` as HTML with marks, or its start when nothing in it matches.
fn fragment_html(snippets: &SnippetGenerator, text: &str) -> String {
    let snippet = snippets.snippet(text);
    if snippet.highlighted().is_empty() {
        escape_html(&lead(text, SNIPPET_CHARS))
    } else {
        mark_html(snippet.fragment(), snippet.highlighted())
    }
}

/// A section of a page's body, as the stored `sections` field gives it.
struct Section<'a> {
    start: usize,
    end: usize,
    anchor: &'a str,
    title: &'a str,
}

/// Reads the stored `sections` field (lines `offset\tanchor\ttitle`, see the generator's
/// `encode_sections`) of a body of `len` bytes; lines that do not fit are skipped.
fn parse_sections(stored: &str, len: usize) -> Vec<Section<'_>> {
    let mut out: Vec<Section> = Vec::new();
    for line in stored.lines() {
        let mut parts = line.splitn(3, '\t');
        let (Some(offset), Some(anchor), Some(title)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let Ok(start) = offset.parse::<usize>() else {
            continue;
        };
        if start > len || out.last().is_some_and(|s| s.start > start) {
            continue;
        }
        if let Some(last) = out.last_mut() {
            last.end = start;
        }
        out.push(Section {
            start,
            end: len,
            anchor,
            title,
        });
    }
    out
}

/// Counts documents per value of `kind`, `section` and `tags` (fast columns) over every match.
struct FacetCollector;

/// [`FacetCollector`] in one segment: per column, a count per term ordinal.
struct FacetSegment {
    columns: Vec<Option<StrColumn>>,
    counts: Vec<Vec<usize>>,
}

/// The facets' columns, in the order of [`Facets`]' fields.
const FACET_COLUMNS: [&str; 3] = ["kind", "section", "tags"];

impl Collector for FacetCollector {
    type Fruit = Facets;
    type Child = FacetSegment;

    fn for_segment(
        &self,
        _: SegmentOrdinal,
        segment: &SegmentReader,
    ) -> tantivy::Result<FacetSegment> {
        let mut columns = Vec::new();
        let mut counts = Vec::new();
        for name in FACET_COLUMNS {
            let column = segment.fast_fields().str(name)?;
            counts.push(vec![0; column.as_ref().map_or(0, |c| c.num_terms())]);
            columns.push(column);
        }
        Ok(FacetSegment { columns, counts })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Facets>) -> tantivy::Result<Facets> {
        let mut sums: [BTreeMap<String, usize>; 3] = Default::default();
        for fruit in fruits {
            for (sum, list) in sums.iter_mut().zip([fruit.kind, fruit.section, fruit.tags]) {
                for c in list {
                    *sum.entry(c.value).or_default() += c.count;
                }
            }
        }
        let [kind, section, tags] = sums.map(sorted_counts);
        Ok(Facets {
            kind,
            section,
            tags,
        })
    }
}

impl SegmentCollector for FacetSegment {
    type Fruit = Facets;

    fn collect(&mut self, doc: DocId, _: Score) {
        for (column, counts) in self.columns.iter().zip(&mut self.counts) {
            if let Some(column) = column {
                for ord in column.term_ords(doc) {
                    if let Some(n) = counts.get_mut(ord as usize) {
                        *n += 1;
                    }
                }
            }
        }
    }

    fn harvest(self) -> Facets {
        let mut lists = self
            .columns
            .iter()
            .zip(self.counts)
            .map(|(column, counts)| {
                let mut out = BTreeMap::new();
                if let Some(column) = column {
                    for (ord, n) in counts.into_iter().enumerate().filter(|(_, n)| *n > 0) {
                        let mut value = String::new();
                        // A dictionary that cannot be read leaves the value out, not the search.
                        if column.ord_to_str(ord as u64, &mut value).unwrap_or(false) {
                            out.insert(value, n);
                        }
                    }
                }
                sorted_counts(out)
            });
        let mut next = || lists.next().unwrap_or_default();
        Facets {
            kind: next(),
            section: next(),
            tags: next(),
        }
    }
}

/// Counts most frequent first, ties by value.
fn sorted_counts(counts: BTreeMap<String, usize>) -> Vec<FacetCount> {
    let mut out: Vec<FacetCount> = counts
        .into_iter()
        .map(|(value, count)| FacetCount { value, count })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    out
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

/// A bare word or a double-quoted phrase of the query text.
#[derive(Debug, PartialEq)]
struct Piece<'a> {
    text: &'a str,
    quoted: bool,
}

impl Piece<'_> {
    /// The piece as the query shows it again (`corrected`).
    fn shown(&self) -> String {
        if self.quoted {
            format!("\"{}\"", self.text)
        } else {
            self.text.to_string()
        }
    }
}

/// Splits a query into bare words and double-quoted phrases (an unclosed quote runs to the end).
fn split_query(text: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return out;
        }
        if let Some(after) = rest.strip_prefix('"') {
            let end = after.find('"').unwrap_or(after.len());
            out.push(Piece {
                text: &after[..end],
                quoted: true,
            });
            rest = after.get(end + 1..).unwrap_or("");
        } else {
            let end = rest
                .find(|c: char| c.is_whitespace() || c == '"')
                .unwrap_or(rest.len());
            out.push(Piece {
                text: &rest[..end],
                quoted: false,
            });
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
