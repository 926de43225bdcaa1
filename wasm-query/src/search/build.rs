//! Build time (native only): index documents with [`schema()`](super::schema), pack the one
//! segment into the layout the manifest describes, and record the pack's hot ranges.
//!
//! `bake build` calls [`build_index`]; the tests of this crate build their indexes with the
//! very same recipe, so the browser side is tested against what the generator writes.

use std::collections::BTreeMap;
use std::path::Path;

use tantivy::directory::{Directory, RamDirectory};
use tantivy::indexer::NoMergePolicy;
use tantivy::{Index, IndexSettings, IndexWriter, TantivyDocument};

use super::tokenizer::Analysis;
use super::vocabulary::{STOP_WORDS_FILE, VOCAB_FILE, VocabularyBuilder};
use super::{PACK_BLOCK_SIZE, PackDirectory, open_reader, schema};
use crate::manifest::{ByteRange, PackEntry};

/// One searchable document.
#[derive(Debug, Clone)]
pub struct SearchDoc {
    /// `page` or `row`.
    pub kind: &'static str,
    /// Shown as the hit's title.
    pub title: String,
    /// Headings of the page.
    pub headings: String,
    /// Body text (stored too: snippets are cut from it).
    pub body: String,
    /// Where the body's sections start (pages; empty for data rows), in order.
    pub sections: Vec<SectionMark>,
    /// Where the hit links to.
    pub url: String,
    /// Section URL (pages) or table page URL (rows), for filtering.
    pub section: String,
    /// Tags, for filtering.
    pub tags: Vec<String>,
}

/// A heading of a page and where its section starts in the page's body.
#[derive(Debug, Clone)]
pub struct SectionMark {
    /// Byte offset in [`SearchDoc::body`] where the section (its heading's text) starts.
    pub offset: usize,
    /// The heading's id, for a link to the section.
    pub anchor: String,
    /// The heading's text.
    pub title: String,
}

/// The stored form of a document's sections: lines `offset\tanchor\ttitle` (tabs and
/// line breaks inside titles become spaces). Read back by `SearchSession`.
fn encode_sections(sections: &[SectionMark]) -> String {
    let clean = |s: &str| s.replace(['\t', '\n', '\r'], " ");
    sections
        .iter()
        .map(|s| format!("{}\t{}\t{}\n", s.offset, clean(&s.anchor), clean(&s.title)))
        .collect()
}

/// The packed index: the pack's bytes plus its layout.
#[derive(Debug, Clone)]
pub struct PackedIndex {
    /// Concatenated segment files, padded with zeros to a whole number of
    /// [`PACK_BLOCK_SIZE`] blocks.
    pub pack: Vec<u8>,
    /// Each file tantivy reads, by name.
    pub entries: BTreeMap<String, PackEntry>,
    /// Number of documents.
    pub documents: u64,
    /// Ranges of the pack that opening the index reads whatever the query (the `hot` list of
    /// the pack's logical file): whole [`PACK_BLOCK_SIZE`] blocks, sorted, neighbours
    /// merged — so a sidecar holding exactly these bytes ([`PackedIndex::hot_sidecar`])
    /// fills the engine's cache block by block.
    pub hot: Vec<ByteRange>,
}

impl PackedIndex {
    /// The hot ranges' bytes concatenated in order: the sidecar `search.pack.hot` that lets
    /// `Engine::preload_hot` fetch them all with one request.
    pub fn hot_sidecar(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for r in &self.hot {
            out.extend_from_slice(&self.pack[r.offset as usize..(r.offset + r.length) as usize]);
        }
        out
    }
}

/// Indexes `docs` in order with ONE writer thread, merges to ONE segment, packs it. The
/// text is analysed for `language` (the site's, a BCP 47 tag: its stemmer and stop words,
/// see [`Analysis::for_language`]).
///
/// Same documents → same bytes: one thread keeps doc ids stable, and the segment gets an id
/// derived from its contents instead of tantivy's random UUID.
pub fn build_index(docs: &[SearchDoc], language: &str) -> Result<PackedIndex, String> {
    let err = |e: tantivy::TantivyError| e.to_string();
    let schema = schema();
    let settings = IndexSettings {
        // Compress the doc store on this thread: a second thread is a source of variance.
        docstore_compress_dedicated_thread: false,
        ..IndexSettings::default()
    };
    // Keep a handle on the RAM directory: reading through the index's ManagedDirectory
    // would strip each file's footer, which the browser's tantivy checks.
    let ram = RamDirectory::create();
    let index = Index::builder()
        .schema(schema.clone())
        .settings(settings)
        .open_or_create(ram.clone())
        .map_err(err)?;
    let analysis = Analysis::for_language(language);
    analysis.register(&index);
    let field = |name: &str| schema.get_field(name).expect("field in schema");
    let (kind, title, headings, body, url, section, tags, sections) = (
        field("kind"),
        field("title"),
        field("headings"),
        field("body"),
        field("url"),
        field("section"),
        field("tags"),
        field("sections"),
    );
    let mut vocabulary = VocabularyBuilder::new(analysis);
    // One worker thread: doc ids, and so the output bytes, stay the same from build to build.
    let mut writer: IndexWriter = index
        .writer_with_num_threads(1, 128 * 1024 * 1024)
        .map_err(err)?;
    writer.set_merge_policy(Box::new(NoMergePolicy));
    for d in docs {
        let mut doc = TantivyDocument::new();
        doc.add_text(kind, d.kind);
        doc.add_text(title, &d.title);
        doc.add_text(headings, &d.headings);
        doc.add_text(body, &d.body);
        doc.add_text(url, &d.url);
        doc.add_text(section, &d.section);
        for t in &d.tags {
            doc.add_text(tags, t);
        }
        if !d.sections.is_empty() {
            doc.add_text(sections, encode_sections(&d.sections));
        }
        vocabulary.add(&[&d.title, &d.headings, &d.body]);
        writer.add_document(doc).map_err(err)?;
    }
    writer.commit().map_err(err)?;
    let ids = index.searchable_segment_ids().map_err(err)?;
    if ids.len() > 1 {
        writer.merge(&ids).wait().map_err(err)?;
    }
    writer.wait_merging_threads().map_err(err)?;
    let (vocabulary, stop_words) = vocabulary.finish();
    let mut packed = pack(&index, &ram, vocabulary, stop_words)?;
    let mut hot = record_hot_ranges(&packed.pack, &packed.entries)?;
    // Typo correction and completion read the whole vocabulary on every search: it is hot.
    if let Some(PackEntry::Range(r)) = packed.entries.get(VOCAB_FILE) {
        hot.push(*r);
    }
    packed.hot = whole_blocks(&hot, PACK_BLOCK_SIZE as u64, packed.pack.len() as u64);
    Ok(packed)
}

/// Packs the index's segments (one, after [`build_index`]), renaming each after a hash of
/// its contents, and the vocabulary ([`VOCAB_FILE`], not a tantivy file). Files are laid out
/// in name order; `meta.json`, `.managed.json` and the stop words ([`STOP_WORDS_FILE`],
/// when the text has any) are inlined.
fn pack(
    index: &Index,
    raw: &RamDirectory,
    vocabulary: Vec<u8>,
    stop_words: String,
) -> Result<PackedIndex, String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let metas = index.searchable_segment_metas().map_err(|e| err(&e))?;
    let dir = index.directory();
    let mut meta_json = String::from_utf8(
        dir.atomic_read(Path::new("meta.json"))
            .map_err(|e| err(&e))?,
    )
    .map_err(|e| err(&e))?;
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let documents = metas.iter().map(|m| m.num_docs() as u64).sum();
    for meta in &metas {
        let old = meta.id().uuid_string();
        let mut seg_files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for path in dir.list_managed_files() {
            let name = path.to_string_lossy().to_string();
            if let Some(ext) = name.strip_prefix(&old) {
                let file = raw.open_read(&path).map_err(|e| err(&e))?;
                let bytes = file.read_bytes().map_err(|e| err(&e))?;
                seg_files.insert(ext.to_string(), bytes.as_slice().to_vec());
            }
        }
        // Content-derived id: same documents → same name → byte-identical site.
        let mut h = blake3::Hasher::new();
        for (ext, bytes) in &seg_files {
            h.update(ext.as_bytes());
            h.update(&(bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        }
        let new = h.finalize().to_hex()[..32].to_string();
        let hyphenated = |s: &str| {
            format!(
                "{}-{}-{}-{}-{}",
                &s[..8],
                &s[8..12],
                &s[12..16],
                &s[16..20],
                &s[20..32]
            )
        };
        meta_json = meta_json
            .replace(&hyphenated(&old), &hyphenated(&new))
            .replace(&old, &new);
        for (ext, bytes) in seg_files {
            files.insert(format!("{new}{ext}"), bytes);
        }
    }
    // tantivy manages the segment files; the vocabulary is bake's own.
    let managed: Vec<String> = files.keys().cloned().collect();
    files.insert(VOCAB_FILE.to_string(), vocabulary);
    let mut pack = Vec::new();
    let mut entries = BTreeMap::new();
    for (name, bytes) in &files {
        entries.insert(
            name.clone(),
            PackEntry::Range(ByteRange {
                offset: pack.len() as u64,
                length: bytes.len() as u64,
            }),
        );
        pack.extend_from_slice(bytes);
    }
    // Zeros up to a whole block: every block, the last one too, is full, so the hot blocks
    // can be shipped as a sidecar of whole blocks (see `Engine::preload_hot`).
    pack.resize(
        pack.len().div_ceil(PACK_BLOCK_SIZE as usize) * PACK_BLOCK_SIZE as usize,
        0,
    );
    entries.insert(
        ".managed.json".into(),
        PackEntry::Inline(serde_json::to_string(&managed).expect("strings serialize")),
    );
    entries.insert("meta.json".into(), PackEntry::Inline(meta_json));
    if !stop_words.is_empty() {
        entries.insert(STOP_WORDS_FILE.into(), PackEntry::Inline(stop_words));
    }
    Ok(PackedIndex {
        pack,
        entries,
        documents,
        hot: Vec::new(),
    })
}

/// The byte ranges of `pack` that opening the index reads whatever the query: tantivy's
/// file footers, the doc store's skip index, and for every indexed field its term
/// dictionary's index, its postings header and its field norms, and the fast columns' headers
/// (facet counts). Recorded by opening the
/// index exactly as [`SearchSession`](super::SearchSession) does, through a
/// [`PackDirectory`] that logs every read. Exact bytes, sorted, touching ranges merged.
pub fn record_hot_ranges(
    pack: &[u8],
    entries: &BTreeMap<String, PackEntry>,
) -> Result<Vec<ByteRange>, String> {
    let err = |e: tantivy::TantivyError| format!("recording the search index's hot ranges: {e}");
    let dir = PackDirectory::recording(pack.to_vec(), entries);
    let index = Index::open(dir.clone()).map_err(err)?;
    let reader = open_reader(&index).map_err(err)?;
    let searcher = reader.searcher();
    let schema = index.schema();
    for segment in searcher.segment_readers() {
        for (field, entry) in schema.fields() {
            if entry.is_indexed() {
                segment.inverted_index(field).map_err(err)?;
            }
            if entry.has_fieldnorms() {
                segment.fieldnorms_readers().get_field(field).map_err(err)?;
            }
            if entry.is_fast() {
                segment.fast_fields().str(entry.name()).map_err(err)?;
            }
        }
    }
    Ok(whole_blocks(&dir.recorded(), 1, pack.len() as u64))
}

/// `ranges` widened to whole blocks of `block` bytes (the last block ends at `size`),
/// sorted, with overlapping and touching ranges merged.
pub fn whole_blocks(ranges: &[ByteRange], block: u64, size: u64) -> Vec<ByteRange> {
    let mut spans: Vec<(u64, u64)> = ranges
        .iter()
        .filter(|r| r.length > 0)
        .map(|r| {
            let start = r.offset / block * block;
            let end = (r.offset + r.length).div_ceil(block) * block;
            (start, end.min(size))
        })
        .collect();
    spans.sort_unstable();
    let mut out: Vec<ByteRange> = Vec::new();
    for (start, end) in spans {
        match out.last_mut() {
            Some(last) if start <= last.offset + last.length => {
                last.length = end.max(last.offset + last.length) - last.offset;
            }
            _ => out.push(ByteRange {
                offset: start,
                length: end - start,
            }),
        }
    }
    out
}

/// Rebuilds an in-memory index from a pack (tests, `bake check`).
pub fn unpack(pack: &[u8], entries: &BTreeMap<String, PackEntry>) -> tantivy::Result<Index> {
    let dir = RamDirectory::create();
    for (name, entry) in entries {
        let bytes = match entry {
            PackEntry::Inline(text) => text.as_bytes(),
            PackEntry::Range(r) => &pack[r.offset as usize..(r.offset + r.length) as usize],
        };
        dir.atomic_write(Path::new(name), bytes)?;
    }
    let index = Index::open(dir)?;
    super::analysis_of(&index).register(&index);
    Ok(index)
}
