//! The ER diagram of a baked database, written as DOT: one record per table (name, then a
//! row per column with its type and a key marker), one edge per foreign key from the
//! referencing column's port to the referenced column's port. layout-rs lays records out
//! best left to right; a table that references itself gets a note instead of an edge.

use std::fmt::Write;

use wasm_query::manifest::Database;

/// DOT source of the ER diagram of `db` named `name`.
pub fn dot(name: &str, db: &Database) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph {} {{", ident(name));
    out.push_str("  rankdir=LR;\n  node [shape=record];\n");
    for table in &db.tables {
        let fk_columns: Vec<&str> = table
            .foreign_keys
            .iter()
            .flat_map(|fk| fk.columns.iter().map(String::as_str))
            .collect();
        let mut fields = vec![record_text(&table.name)];
        for (i, c) in table.columns.iter().enumerate() {
            let mut marks = Vec::new();
            if c.primary_key > 0 {
                marks.push("PK");
            }
            if fk_columns.contains(&c.name.as_str()) {
                marks.push("FK");
            }
            let ty = if c.sql_type.is_empty() {
                "ANY"
            } else {
                &c.sql_type
            };
            let mark = if marks.is_empty() {
                String::new()
            } else {
                format!(" ({})", marks.join(", "))
            };
            fields.push(format!(
                "<c{i}> {}: {}{}",
                record_text(&c.name),
                record_text(ty),
                mark
            ));
        }
        for fk in &table.foreign_keys {
            if fk.table == table.name {
                fields.push(format!(
                    "references itself: {}",
                    record_text(&fk.columns.join(", "))
                ));
            }
        }
        let _ = writeln!(
            out,
            "  {} [label=\"{}\"];",
            ident(&table.name),
            fields.join("|")
        );
    }
    for table in &db.tables {
        for fk in &table.foreign_keys {
            if fk.table == table.name {
                continue;
            }
            let Some(target) = db.tables.iter().find(|t| t.name == fk.table) else {
                continue;
            };
            let (Some(from), Some(to)) = (fk.columns.first(), fk.to.first()) else {
                continue;
            };
            let port = |t: &wasm_query::manifest::Table, col: &str| {
                t.columns
                    .iter()
                    .position(|c| c.name == col)
                    .map(|i| format!(":c{i}"))
                    .unwrap_or_default()
            };
            let _ = writeln!(
                out,
                "  {}{} -> {}{};",
                ident(&table.name),
                port(table, from),
                ident(&target.name),
                port(target, to)
            );
        }
    }
    out.push_str("}\n");
    out
}

/// A DOT identifier: always quoted, so keywords (`node`, `edge`) and non-ASCII names stay
/// names; `"` and `\\` are dropped because layout-rs has no escapes.
fn ident(name: &str) -> String {
    let clean: String = name.chars().filter(|c| !matches!(c, '"' | '\\')).collect();
    format!("\"{clean}\"")
}

/// Text inside a record field: record syntax characters and quotes removed.
fn record_text(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '{' | '}' | '|' | '<' | '>' | '"' | '\\'))
        .collect::<String>()
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_query::manifest::{Column, ForeignKey, Table};

    fn table(name: &str, cols: &[(&str, &str, u32)], fks: Vec<ForeignKey>) -> Table {
        Table {
            name: name.into(),
            columns: cols
                .iter()
                .map(|(n, t, pk)| Column {
                    name: n.to_string(),
                    sql_type: t.to_string(),
                    nullable: true,
                    primary_key: *pk,
                })
                .collect(),
            rows: 0,
            indexes: vec![],
            foreign_keys: fks,
        }
    }

    #[test]
    fn foreign_keys_become_port_edges_and_self_references_notes() {
        let db = Database {
            tables: vec![
                table(
                    "airlines",
                    &[("carrier", "TEXT", 1), ("name", "TEXT", 0)],
                    vec![],
                ),
                table(
                    "flights",
                    &[
                        ("id", "INTEGER", 1),
                        ("carrier", "TEXT", 0),
                        ("parent", "INTEGER", 0),
                    ],
                    vec![
                        ForeignKey {
                            columns: vec!["carrier".into()],
                            table: "airlines".into(),
                            to: vec!["carrier".into()],
                        },
                        ForeignKey {
                            columns: vec!["parent".into()],
                            table: "flights".into(),
                            to: vec!["id".into()],
                        },
                    ],
                ),
            ],
            file: "nyc.sqlite".into(),
            page_size: 4096,
            btrees: vec![],
        };
        let src = dot("nyc", &db);
        assert!(src.contains("\"flights\":c1 -> \"airlines\":c0;"), "{src}");
        assert!(src.contains("<c1> carrier: TEXT (FK)"), "{src}");
        assert!(src.contains("<c0> carrier: TEXT (PK)"), "{src}");
        assert!(src.contains("references itself: parent"), "{src}");
        assert_eq!(src.matches("->").count(), 1, "{src}");
        let svg = super::super::render_raw(super::super::Kind::Er, &src).unwrap();
        assert!(svg.contains("<svg"));
        // Keywords and non-ASCII names are still tables.
        let mut odd = db.clone();
        odd.tables[0].name = "node".into();
        odd.tables[1].name = "café".into();
        odd.tables[1].foreign_keys[0].table = "node".into();
        let src = dot("x", &odd);
        assert!(src.contains("\"café\":c1 -> \"node\":c0;"), "{src}");
        let svg = super::super::render_raw(super::super::Kind::Er, &src).unwrap();
        assert!(svg.contains("café") && svg.contains(">node<"), "{svg}");
    }
}
