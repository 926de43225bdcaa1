//! The manifest: the versioned contract between `bake build` and the browser.
//!
//! One small JSON file, written at a content-hashed URL, lists every *logical file* the
//! browser reads by range (each SQLite database, the search pack), split into *parts*
//! that each sit at their own immutable URL, plus the schema of every database and the
//! layout of the search pack. See `docs/manifest.md` for the prose version.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Version of the manifest format. Bump on any change a reader must know about.
pub const MANIFEST_VERSION: u32 = 2;

/// The whole manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`MANIFEST_VERSION`] for files this crate writes.
    pub version: u32,
    /// The generator that wrote it, e.g. `bake 0.1.0` (informational).
    pub generator: String,
    /// Every logical file, by name (e.g. `nyc.sqlite`, `search.pack`).
    pub files: BTreeMap<String, LogicalFile>,
    /// Every baked database, by name (the name SQL uses to attach it).
    pub databases: BTreeMap<String, Database>,
    /// The search index, when the site has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<SearchIndex>,
}

/// A file the browser reads by byte range, stored as one or more parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogicalFile {
    /// Total size in bytes; equals the sum of the parts' lengths.
    pub size: u64,
    /// Size of one cache block; reads are aligned to it (the SQLite page size for databases).
    pub block_size: u32,
    /// BLAKE3 of the whole file, hex; changes whenever any byte does.
    pub hash: String,
    /// Parts in order; part `i` covers `offset .. offset + length` of the logical file.
    pub parts: Vec<Part>,
    /// Ranges worth fetching before the first query (filled by the browser-side recorder).
    #[serde(default)]
    pub hot: Vec<ByteRange>,
}

/// One part of a logical file, at its own content-hashed URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Part {
    /// Site-absolute URL, e.g. `/_data/nyc.sqlite.0.1f2e3d4c5b6a7988.bin`.
    pub url: String,
    /// Where this part starts in the logical file.
    pub offset: u64,
    /// Its exact length in bytes (a 200 answer must have exactly this many).
    pub length: u64,
}

/// A half-open byte range `offset .. offset + length`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ByteRange {
    /// First byte.
    pub offset: u64,
    /// Number of bytes.
    pub length: u64,
}

/// A baked SQLite database and its schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Database {
    /// Name of its entry in [`Manifest::files`].
    pub file: String,
    /// SQLite page size in bytes.
    pub page_size: u32,
    /// Tables in name order.
    pub tables: Vec<Table>,
    /// Where each B-tree (table, index, the schema) lies in the file, in name order. The
    /// engine uses it to bound a query's round trips: once a B-tree is read at random often
    /// enough, the rest of it is fetched in a few large requests. Empty for old manifests.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub btrees: Vec<BTree>,
}

/// One B-tree of a database and the pages it occupies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BTree {
    /// The table or index name (`sqlite_schema` for the schema's own tree).
    pub name: String,
    /// Runs of consecutive pages in file order, each `[first page (1-based), page count]`.
    pub pages: Vec<[u64; 2]>,
}

impl BTree {
    /// Number of pages.
    pub fn page_count(&self) -> u64 {
        self.pages.iter().map(|r| r[1]).sum()
    }

    /// The trees of a database from its `(tree name, page number)` pairs sorted by name, then
    /// page (what `SELECT name, pageno FROM dbstat ORDER BY name, pageno` gives).
    pub fn from_pages(pages: impl IntoIterator<Item = (String, u64)>) -> Vec<BTree> {
        let mut trees: Vec<BTree> = Vec::new();
        for (name, page) in pages {
            match trees.last_mut() {
                Some(t) if t.name == name => match t.pages.last_mut() {
                    Some(run) if run[0] + run[1] == page => run[1] += 1,
                    _ => t.pages.push([page, 1]),
                },
                _ => trees.push(BTree {
                    name,
                    pages: vec![[page, 1]],
                }),
            }
        }
        trees
    }
}

/// One table of a database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    /// Table name.
    pub name: String,
    /// Number of rows.
    pub rows: u64,
    /// Columns in declaration order.
    pub columns: Vec<Column>,
    /// Indexes in name order (automatic ones excluded).
    pub indexes: Vec<Index>,
    /// Foreign keys in declaration order.
    pub foreign_keys: Vec<ForeignKey>,
}

/// One column of a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// Declared SQLite type (`INTEGER`, `REAL`, `TEXT`, `BLOB`, or as a script declared it).
    #[serde(rename = "type")]
    pub sql_type: String,
    /// Whether NULL is allowed.
    pub nullable: bool,
    /// Position in the primary key (1-based), 0 if not part of it.
    pub primary_key: u32,
}

/// A declared index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Index {
    /// Index name.
    pub name: String,
    /// Indexed columns in order.
    pub columns: Vec<String>,
    /// Whether it is UNIQUE.
    pub unique: bool,
}

/// A foreign key: `columns` of this table reference `to` of `table`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForeignKey {
    /// Referencing columns in this table.
    pub columns: Vec<String>,
    /// Referenced table (same database).
    pub table: String,
    /// Referenced columns.
    pub to: Vec<String>,
}

/// The packed tantivy index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchIndex {
    /// Name of the pack's entry in [`Manifest::files`].
    pub file: String,
    /// Every file tantivy asks for, by its path inside the index directory.
    pub entries: BTreeMap<String, PackEntry>,
    /// Number of documents.
    pub documents: u64,
}

/// Where one index file sits: inline (small JSON files tantivy reads whole) or in the pack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum PackEntry {
    /// The file's text, inlined so opening the index needs no request for it.
    Inline(String),
    /// A range of the pack.
    Range(ByteRange),
}

impl Manifest {
    /// Parses a manifest and checks its version and internal consistency.
    pub fn from_json(text: &str) -> Result<Manifest, String> {
        let manifest: Manifest =
            serde_json::from_str(text).map_err(|e| format!("manifest is not valid: {e}"))?;
        if manifest.version != MANIFEST_VERSION {
            return Err(format!(
                "manifest version {} is not supported (this reader knows version {MANIFEST_VERSION}); rebuild the site with a matching bake",
                manifest.version
            ));
        }
        manifest.validate()?;
        Ok(manifest)
    }

    /// Checks that parts tile each file exactly and that every reference resolves.
    pub fn validate(&self) -> Result<(), String> {
        for (name, file) in &self.files {
            let mut expected = 0u64;
            for (i, part) in file.parts.iter().enumerate() {
                if part.offset != expected {
                    return Err(format!(
                        "file {name}: part {i} starts at {} but the previous part ends at {expected}",
                        part.offset
                    ));
                }
                if part.length == 0 {
                    return Err(format!("file {name}: part {i} is empty"));
                }
                // Checked: a sum that wrapped around could tile a "file" in release builds.
                expected = expected.checked_add(part.length).ok_or_else(|| {
                    format!("file {name}: part {i} ends past the largest possible size")
                })?;
            }
            if expected != file.size {
                return Err(format!(
                    "file {name}: parts cover {expected} bytes but the file has {}",
                    file.size
                ));
            }
            if file.block_size == 0 {
                return Err(format!("file {name}: block size is 0"));
            }
            for range in &file.hot {
                if range
                    .offset
                    .checked_add(range.length)
                    .is_none_or(|e| e > file.size)
                {
                    return Err(format!(
                        "file {name}: hot range ends past the end of the file"
                    ));
                }
            }
        }
        for (name, db) in &self.databases {
            let Some(file) = self.files.get(&db.file) else {
                return Err(format!("database {name}: file {} is not listed", db.file));
            };
            let pages = file.size / u64::from(db.page_size.max(1));
            for tree in &db.btrees {
                let outside = tree.pages.iter().any(|&[first, count]| {
                    first == 0
                        || count == 0
                        || first.checked_add(count).is_none_or(|e| e > pages + 1)
                });
                if outside {
                    return Err(format!(
                        "database {name}: B-tree {} lists pages outside the file",
                        tree.name
                    ));
                }
            }
        }
        if let Some(search) = &self.search {
            let Some(pack) = self.files.get(&search.file) else {
                return Err(format!("search: file {} is not listed", search.file));
            };
            for (path, entry) in &search.entries {
                if let PackEntry::Range(r) = entry
                    && r.offset.checked_add(r.length).is_none_or(|e| e > pack.size)
                {
                    return Err(format!(
                        "search: entry {path} ends past the end of the pack"
                    ));
                }
            }
        }
        Ok(())
    }

    /// The parts of `file` that overlap `range`, with the range of each part they cover
    /// (relative to the part). Used by readers to turn a logical read into part requests.
    pub fn parts_for(file: &LogicalFile, range: ByteRange) -> Vec<(&Part, ByteRange)> {
        let end = range.offset + range.length;
        file.parts
            .iter()
            .filter(|p| p.offset < end && range.offset < p.offset + p.length)
            .map(|p| {
                let start = range.offset.max(p.offset);
                let stop = end.min(p.offset + p.length);
                (
                    p,
                    ByteRange {
                        offset: start - p.offset,
                        length: stop - start,
                    },
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(parts: &[(u64, u64)], size: u64) -> LogicalFile {
        LogicalFile {
            size,
            block_size: 4096,
            hash: "00".into(),
            parts: parts
                .iter()
                .enumerate()
                .map(|(i, &(offset, length))| Part {
                    url: format!("/_data/x.{i}.bin"),
                    offset,
                    length,
                })
                .collect(),
            hot: vec![],
        }
    }

    fn manifest_with(f: LogicalFile) -> Manifest {
        Manifest {
            version: MANIFEST_VERSION,
            generator: "test".into(),
            files: [("x.sqlite".to_string(), f)].into(),
            databases: BTreeMap::new(),
            search: None,
        }
    }

    #[test]
    fn round_trips_and_validates() {
        let m = manifest_with(file(&[(0, 10), (10, 5)], 15));
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(Manifest::from_json(&text).unwrap(), m);
    }

    #[test]
    fn rejects_gaps_and_wrong_sizes() {
        let gap = manifest_with(file(&[(0, 10), (11, 4)], 15));
        assert!(gap.validate().unwrap_err().contains("starts at 11"));
        let short = manifest_with(file(&[(0, 10)], 15));
        assert!(short.validate().unwrap_err().contains("cover 10 bytes"));
    }

    #[test]
    fn rejects_other_versions() {
        let mut m = manifest_with(file(&[(0, 1)], 1));
        m.version = 99;
        let err = Manifest::from_json(&serde_json::to_string(&m).unwrap()).unwrap_err();
        assert!(err.contains("version 99"), "{err}");
    }

    #[test]
    fn maps_ranges_onto_parts() {
        let f = file(&[(0, 10), (10, 10), (20, 5)], 25);
        let got: Vec<_> = Manifest::parts_for(
            &f,
            ByteRange {
                offset: 8,
                length: 14,
            },
        )
        .into_iter()
        .map(|(p, r)| (p.offset, r.offset, r.length))
        .collect();
        assert_eq!(got, vec![(0, 8, 2), (10, 0, 10), (20, 0, 2)]);
    }
}
