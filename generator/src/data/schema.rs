//! Reads a baked database's schema into the manifest's form.

use rusqlite::Connection;
use wasm_query::manifest::{BTree, Column, Database, ForeignKey, Index, Table};

use super::quote_ident;

/// Tables (not views, not SQLite's own), columns, row counts, indexes and foreign keys.
pub fn read_schema(conn: &Connection) -> rusqlite::Result<Database> {
    let page_size: u32 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    let names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut tables = Vec::new();
    for name in names {
        let q = quote_ident(&name);
        let columns: Vec<Column> = conn
            .prepare(&format!("PRAGMA table_info({q})"))?
            .query_map([], |r| {
                Ok(Column {
                    name: r.get(1)?,
                    sql_type: r.get(2)?,
                    nullable: r.get::<_, i64>(3)? == 0,
                    primary_key: r.get(5)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        let rows: i64 = conn.query_row(&format!("SELECT count(*) FROM {q}"), [], |r| r.get(0))?;
        let rows = rows as u64;
        let mut indexes = Vec::new();
        let index_list: Vec<(String, bool, String)> = conn
            .prepare(&format!("PRAGMA index_list({q})"))?
            .query_map([], |r| Ok((r.get(1)?, r.get::<_, i64>(2)? != 0, r.get(3)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (index, unique, origin) in index_list {
            if origin != "c" {
                continue; // automatic indexes of PRIMARY KEY / UNIQUE constraints
            }
            let columns: Vec<String> = conn
                .prepare(&format!("PRAGMA index_info({})", quote_ident(&index)))?
                .query_map([], |r| {
                    Ok(r.get::<_, Option<String>>(2)?
                        .unwrap_or_else(|| "<expression>".into()))
                })?
                .collect::<rusqlite::Result<_>>()?;
            indexes.push(Index {
                name: index,
                columns,
                unique,
            });
        }
        indexes.sort_by(|a, b| a.name.cmp(&b.name));
        let mut foreign_keys: Vec<ForeignKey> = Vec::new();
        let mut last_id = -1i64;
        let fk_rows: Vec<(i64, String, String, Option<String>)> = conn
            .prepare(&format!("PRAGMA foreign_key_list({q})"))?
            .query_map([], |r| Ok((r.get(0)?, r.get(2)?, r.get(3)?, r.get(4)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (id, table, from, to) in fk_rows {
            if id != last_id {
                foreign_keys.push(ForeignKey {
                    columns: vec![],
                    table: table.clone(),
                    to: vec![],
                });
                last_id = id;
            }
            let fk = foreign_keys.last_mut().expect("pushed above");
            fk.columns.push(from);
            fk.to.push(to.unwrap_or_default());
        }
        // A reference without columns means the referenced table's primary key.
        for fk in &mut foreign_keys {
            if fk.to.iter().any(String::is_empty) {
                let pk = primary_key(conn, &fk.table)?;
                for (i, t) in fk.to.iter_mut().enumerate() {
                    if t.is_empty() {
                        *t = pk.get(i).cloned().unwrap_or_default();
                    }
                }
            }
        }
        foreign_keys.reverse(); // PRAGMA lists them last-declared first
        tables.push(Table {
            name,
            rows,
            columns,
            indexes,
            foreign_keys,
        });
    }
    Ok(Database {
        file: String::new(),
        page_size,
        tables,
        btrees: Vec::new(),
    })
}

/// Every B-tree's pages, as runs, from SQLite's `dbstat` table (overflow pages included).
pub fn read_btrees(conn: &Connection) -> rusqlite::Result<Vec<BTree>> {
    let pages: Vec<(String, u64)> = conn
        .prepare("SELECT name, pageno FROM dbstat ORDER BY name, pageno")?
        .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(BTree::from_pages(pages))
}

fn primary_key(conn: &Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    let mut cols: Vec<(i64, String)> = conn
        .prepare(&format!("PRAGMA table_info({})", quote_ident(table)))?
        .query_map([], |r| Ok((r.get(5)?, r.get(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?
        .into_iter()
        .filter(|(pk, _)| *pk > 0)
        .collect();
    cols.sort();
    Ok(cols.into_iter().map(|(_, c)| c).collect())
}

/// Column names of `table`, empty if it does not exist.
pub fn table_columns(conn: &Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    conn.prepare(&format!("PRAGMA table_info({})", quote_ident(table)))?
        .query_map([], |r| r.get(1))?
        .collect()
}
