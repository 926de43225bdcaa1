//! Stage 3, index: a tantivy index over pages (and the data rows `bake.toml` names),
//! written by ONE thread, merged to ONE segment, renamed to a content-derived segment id
//! and packed into one file whose layout the manifest records.
//!
//! The schema, the tokenizer, the indexing recipe and the packing live in
//! `wasm_query::search` — they are the contract with the browser, which opens the pack
//! through a read-only Directory (see docs/manifest.md). This module gathers the documents.

pub use wasm_query::search::build::{PackedIndex, SearchDoc, SectionMark, unpack};
pub use wasm_query::search::{PACK_BLOCK_SIZE, TOKENIZER, schema};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::queries::Databases;

/// Documents for the data rows named in `[[search.tables]]`.
pub fn row_documents(config: &Config, dbs: &Databases) -> Result<Vec<SearchDoc>> {
    documents(config, dbs, false)
}

/// What [`row_documents`] would refuse in `[[search.tables]]`, without reading the rows
/// (`bake check`).
pub fn check_tables(config: &Config, dbs: &Databases) -> Result<()> {
    documents(config, dbs, true).map(drop)
}

fn documents(config: &Config, dbs: &Databases, check_only: bool) -> Result<Vec<SearchDoc>> {
    let mut docs = Vec::new();
    for (i, st) in config.search.tables.iter().enumerate() {
        let about = |needle: &str, msg: String| {
            config
                .error_in_entry("[[search.tables]]", i, needle, msg)
                .hint("[[search.tables]] names a database, a table and its columns")
        };
        let at = |msg: String| about(&st.table, msg);
        let conn = dbs.open(&st.database).map_err(|m| about(&st.database, m))?;
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
        // Results link to `?rowid=N`, which the table page looks up as `rowid = N`: a column of
        // that name would stand in for the real rowid in both places.
        if let Some(c) = cols.iter().find(|c| c.name.eq_ignore_ascii_case("rowid")) {
            return Err(at(format!(
                "table `{}.{}` has a column named `{}`, so its rows cannot be linked from search results",
                st.database, st.table, c.name
            ))
            .hint("rename that column in the data file (e.g. to `row_id`), or leave this table out of [[search.tables]]"));
        }
        if conn
            .prepare(&format!(
                "SELECT rowid FROM {}",
                crate::data::quote_ident(&st.table)
            ))
            .is_err()
        {
            return Err(at(format!(
                "table `{}.{}` has no rowid (it is a WITHOUT ROWID table), so its rows cannot be linked from search results",
                st.database, st.table
            ))
            .hint("create the table without WITHOUT ROWID, or leave it out of [[search.tables]]"));
        }
        let mut wanted = vec![st.title.clone()];
        wanted.extend(st.columns.iter().filter(|c| **c != st.title).cloned());
        for c in &wanted {
            if !cols.iter().any(|col| &col.name == c) {
                return Err(about(
                    c,
                    format!("table `{}.{}` has no column `{c}`", st.database, st.table),
                ));
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
        if check_only {
            continue;
        }
        let section = crate::slug::table_url(&st.database, &st.table);
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
                sections: Vec::new(),
                url: format!("{section}?rowid={rowid}"),
                section: section.clone(),
                tags: vec![],
            });
        }
    }
    Ok(docs)
}

/// Indexes `docs` in order and packs the single resulting segment (with its hot ranges),
/// analysing the text for `language` (bake.toml's: its stemmer and stop words).
pub fn build_index(docs: &[SearchDoc], language: &str) -> Result<PackedIndex> {
    wasm_query::search::build::build_index(docs, language)
        .map_err(|e| Error::msg(format!("search index: {e}")))
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
                sections: Vec::new(),
                url: format!("/p{i}/"),
                section: "/".into(),
                tags: vec!["http".into()],
            })
            .collect()
    }

    #[test]
    fn packs_one_segment_reproducibly_and_opens_again() {
        let a = build_index(&docs(50), "en").unwrap();
        let b = build_index(&docs(50), "en").unwrap();
        assert_eq!(a.pack, b.pack);
        assert_eq!(a.entries, b.entries);
        assert_eq!(a.hot, b.hot);
        assert!(!a.hot.is_empty(), "opening the index reads some ranges");
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
