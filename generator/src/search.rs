//! Stage 3, index: a tantivy index over pages (and the data rows `bake.toml` names),
//! written by ONE thread, merged to ONE segment, renamed to a content-derived segment id
//! and packed into one file whose layout the manifest records.
//!
//! The browser opens the pack through a read-only Directory, so the schema and the
//! tantivy features here are part of the contract (see docs/manifest.md).

use std::collections::BTreeMap;
use std::path::Path;

use tantivy::directory::{Directory, RamDirectory};
use tantivy::indexer::NoMergePolicy;
use tantivy::schema::{IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions};
use tantivy::{Index, IndexSettings, IndexWriter, TantivyDocument};
use wasm_query::manifest::{ByteRange, PackEntry};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::queries::Databases;

/// Block size of the search pack in the manifest.
pub const PACK_BLOCK_SIZE: u32 = 16 * 1024;
/// Tokenizer of every text field: lower-casing plus English stemming.
pub const TOKENIZER: &str = "en_stem";

/// One searchable document.
#[derive(Debug, Clone)]
pub struct SearchDoc {
    /// `page` or `row`.
    pub kind: &'static str,
    /// Shown as the hit's title.
    pub title: String,
    /// Headings of the page.
    pub headings: String,
    /// Body text.
    pub body: String,
    /// Where the hit links to.
    pub url: String,
    /// Section URL (pages) or table page URL (rows), for filtering.
    pub section: String,
    /// Tags, for filtering.
    pub tags: Vec<String>,
}

/// The packed index: the pack's bytes plus its layout.
pub struct PackedIndex {
    /// Concatenated segment files.
    pub pack: Vec<u8>,
    /// Each file tantivy reads, by name.
    pub entries: BTreeMap<String, PackEntry>,
    /// Number of documents.
    pub documents: u64,
}

/// The index schema (the browser builds the same one from the index's meta.json).
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
    b.add_text_field("body", text);
    b.add_text_field("url", STRING | STORED);
    b.add_text_field("section", STRING | STORED);
    b.add_text_field("tags", STRING);
    b.build()
}

/// Documents for the data rows named in `[[search.tables]]`.
pub fn row_documents(config: &Config, dbs: &Databases) -> Result<Vec<SearchDoc>> {
    let mut docs = Vec::new();
    for st in &config.search.tables {
        let at = |msg: String| {
            config
                .error_at_key(&st.table, msg)
                .hint("[[search.tables]] names a database, a table and its columns")
        };
        let conn = dbs.open(&st.database).map_err(&at)?;
        let cols = crate::data::read_schema(&conn)
            .map_err(|e| at(e.to_string()))?
            .tables
            .into_iter()
            .find(|t| t.name == st.table)
            .ok_or_else(|| {
                at(format!(
                    "database `{}` has no table `{}`",
                    st.database, st.table
                ))
            })?
            .columns;
        let mut wanted = vec![st.title.clone()];
        wanted.extend(st.columns.iter().filter(|c| **c != st.title).cloned());
        for c in &wanted {
            if !cols.iter().any(|col| &col.name == c) {
                return Err(at(format!(
                    "table `{}.{}` has no column `{c}`",
                    st.database, st.table
                )));
            }
        }
        let list = wanted
            .iter()
            .map(|c| crate::data::quote_ident(c))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT rowid, {list} FROM {} ORDER BY rowid",
            crate::data::quote_ident(&st.table)
        );
        let mut stmt = conn.prepare(&sql).map_err(|e| at(e.to_string()))?;
        let section = format!("/tables/{}/{}/", st.database, st.table);
        let mut rows = stmt.query([]).map_err(|e| at(e.to_string()))?;
        while let Some(row) = rows.next().map_err(|e| at(e.to_string()))? {
            let rowid: i64 = row.get(0).map_err(|e| at(e.to_string()))?;
            let mut texts = Vec::with_capacity(wanted.len());
            for i in 0..wanted.len() {
                let v: rusqlite::types::Value = row.get(i + 1).map_err(|e| at(e.to_string()))?;
                texts.push(match v {
                    rusqlite::types::Value::Null | rusqlite::types::Value::Blob(_) => String::new(),
                    rusqlite::types::Value::Integer(i) => i.to_string(),
                    rusqlite::types::Value::Real(f) => f.to_string(),
                    rusqlite::types::Value::Text(s) => s,
                });
            }
            docs.push(SearchDoc {
                kind: "row",
                title: texts[0].clone(),
                headings: String::new(),
                body: texts[1..].join(" "),
                url: format!("{section}?rowid={rowid}"),
                section: section.clone(),
                tags: vec![],
            });
        }
    }
    Ok(docs)
}

/// Indexes `docs` in order and packs the single resulting segment.
pub fn build_index(docs: &[SearchDoc]) -> Result<PackedIndex> {
    let err = |e: tantivy::TantivyError| Error::msg(format!("search index: {e}"));
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
    let field = |name: &str| schema.get_field(name).expect("field in schema");
    let (kind, title, headings, body, url, section, tags) = (
        field("kind"),
        field("title"),
        field("headings"),
        field("body"),
        field("url"),
        field("section"),
        field("tags"),
    );
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
        writer.add_document(doc).map_err(err)?;
    }
    writer.commit().map_err(err)?;
    let ids = index.searchable_segment_ids().map_err(err)?;
    if ids.len() > 1 {
        writer.merge(&ids).wait().map_err(err)?;
    }
    writer.wait_merging_threads().map_err(err)?;
    pack(&index, &ram)
}

/// Packs the index's one segment, renaming it after a hash of its contents.
fn pack(index: &Index, raw: &RamDirectory) -> Result<PackedIndex> {
    let err = |e: String| Error::msg(format!("search index: {e}"));
    let metas = index
        .searchable_segment_metas()
        .map_err(|e| err(e.to_string()))?;
    let dir = index.directory();
    let mut meta_json = String::from_utf8(
        dir.atomic_read(Path::new("meta.json"))
            .map_err(|e| err(e.to_string()))?,
    )
    .map_err(|e| err(e.to_string()))?;
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let documents = metas.iter().map(|m| m.num_docs() as u64).sum();
    for meta in &metas {
        let old = meta.id().uuid_string();
        let mut seg_files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for path in dir.list_managed_files() {
            let name = path.to_string_lossy().to_string();
            if let Some(ext) = name.strip_prefix(&old) {
                let file = raw.open_read(&path).map_err(|e| err(e.to_string()))?;
                let bytes = file.read_bytes().map_err(|e| err(e.to_string()))?;
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
    let managed: Vec<&String> = files.keys().collect();
    entries.insert(
        ".managed.json".into(),
        PackEntry::Inline(serde_json::to_string(&managed).expect("strings serialize")),
    );
    entries.insert("meta.json".into(), PackEntry::Inline(meta_json));
    Ok(PackedIndex {
        pack,
        entries,
        documents,
    })
}

/// Rebuilds an in-memory directory from a pack (used by tests and by `bake check`).
pub fn unpack(pack: &[u8], entries: &BTreeMap<String, PackEntry>) -> tantivy::Result<Index> {
    let dir = RamDirectory::create();
    for (name, entry) in entries {
        let bytes = match entry {
            PackEntry::Inline(text) => text.as_bytes(),
            PackEntry::Range(r) => &pack[r.offset as usize..(r.offset + r.length) as usize],
        };
        dir.atomic_write(Path::new(name), bytes)?;
    }
    Index::open(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::collector::TopDocs;
    use tantivy::query::QueryParser;

    fn docs(n: usize) -> Vec<SearchDoc> {
        (0..n)
            .map(|i| SearchDoc {
                kind: "page",
                title: format!("Page {i} about caching"),
                headings: "Headers".into(),
                body: if i % 2 == 0 {
                    "CDNs cache responses at the edge".into()
                } else {
                    "load balancers spread requests".into()
                },
                url: format!("/p{i}/"),
                section: "/".into(),
                tags: vec!["http".into()],
            })
            .collect()
    }

    #[test]
    fn packs_one_segment_reproducibly_and_opens_again() {
        let a = build_index(&docs(50)).unwrap();
        let b = build_index(&docs(50)).unwrap();
        assert_eq!(a.pack, b.pack);
        assert_eq!(a.entries, b.entries);
        assert_eq!(a.documents, 50);
        let index = unpack(&a.pack, &a.entries).unwrap();
        assert_eq!(index.searchable_segment_ids().unwrap().len(), 1);
        let reader = index.reader().unwrap();
        let searcher = reader.searcher();
        let body = index.schema().get_field("body").unwrap();
        let q = QueryParser::for_index(&index, vec![body])
            .parse_query("caching")
            .unwrap();
        // "cache" and "caches" stem alike: every even page matches "caching".
        let hits = searcher
            .search(&q, &TopDocs::with_limit(100).order_by_score())
            .unwrap();
        assert_eq!(hits.len(), 25);
    }
}
