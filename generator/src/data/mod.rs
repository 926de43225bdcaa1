//! Stage 2, bake: every database in `bake.toml`, and every data file no database claims,
//! becomes one SQLite file with typed columns, declared indexes and foreign keys,
//! the configured page size, `journal_mode=DELETE`, ANALYZE and VACUUM.

mod hot;
mod rows;
mod schema;
mod script;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rusqlite::Connection;

use crate::config::{ColumnType, Config, DatabaseConfig, TableConfig};
use crate::error::{Error, Result};
use crate::load::{Content, DataFile, resolve_in_content};
use rows::{Cell, RowSource};
pub use schema::read_schema;

/// A database written to disk, ready to be split into parts.
#[derive(Debug)]
pub struct BakedDatabase {
    /// Database name (`nyc`).
    pub name: String,
    /// The SQLite file in the work folder.
    pub path: PathBuf,
    /// Its schema, as the manifest lists it.
    pub schema: wasm_query::manifest::Database,
    /// Rows skipped because they did not fit (with `skip_bad_rows`).
    pub skipped_rows: u64,
    /// What the build should tell the user without failing (the command prints them).
    pub warnings: Vec<String>,
    /// Pages worth preloading: page 1, B-tree roots and interior pages.
    pub hot: Vec<wasm_query::manifest::ByteRange>,
}

/// What a database is made of, after auto-discovery.
struct Plan {
    name: String,
    config: DatabaseConfig,
    /// Where the plan came from, for messages: bake.toml or the data file itself.
    auto_source: Option<DataFile>,
}

/// Bakes every database into `work_dir`, in name order.
pub fn bake_all(
    config: &Config,
    content: &Content,
    work_dir: &Path,
    skip_bad_rows: bool,
) -> Result<Vec<BakedDatabase>> {
    let plans = plan(config, content)?;
    plans
        .iter()
        .map(|p| bake_one(config, p, work_dir, skip_bad_rows))
        .collect()
}

/// Configured databases plus one database per data file that none of them claims.
fn plan(config: &Config, content: &Content) -> Result<Vec<Plan>> {
    let mut claimed = BTreeSet::new();
    for db in config.databases.values() {
        claimed.extend(db.sqlite.iter().cloned());
        claimed.extend(db.scripts.iter().cloned());
        claimed.extend(db.tables.values().map(|t| t.source.clone()));
    }
    let claimed: BTreeSet<String> = claimed
        .iter()
        .map(|p| p.to_string_lossy().replace('\\', "/"))
        .collect();
    let mut plans: BTreeMap<String, Plan> = config
        .databases
        .iter()
        .map(|(name, c)| {
            (
                name.clone(),
                Plan {
                    name: name.clone(),
                    config: c.clone(),
                    auto_source: None,
                },
            )
        })
        .collect();
    for file in &content.data {
        if claimed.contains(&file.rel) {
            continue;
        }
        let name = auto_name(&file.rel);
        let display = config.build.content.join(&file.rel);
        if let Some(other) = plans.get(&name) {
            let what = match &other.auto_source {
                Some(f) => format!(
                    "the data file `{}`",
                    config.build.content.join(&f.rel).display()
                ),
                None => "a database in bake.toml".to_string(),
            };
            return Err(Error::in_file(
                &display,
                format!("would become database `{name}`, but {what} already has that name"),
            )
            .hint("rename one of them, or list the file under [databases.NAME] in bake.toml"));
        }
        let rel = PathBuf::from(&file.rel);
        let lower = file.rel.to_ascii_lowercase();
        let mut db = DatabaseConfig::default();
        if lower.ends_with(".sql") {
            db.scripts.push(rel);
        } else if lower.ends_with(".sqlite") || lower.ends_with(".db") {
            db.sqlite = Some(rel);
        } else {
            db.tables.insert(name.clone(), table_defaults(rel));
        }
        plans.insert(
            name.clone(),
            Plan {
                name,
                config: db,
                auto_source: Some(file.clone()),
            },
        );
    }
    Ok(plans.into_values().collect())
}

fn table_defaults(source: PathBuf) -> TableConfig {
    TableConfig {
        source,
        types: BTreeMap::new(),
        primary_key: vec![],
        indexes: vec![],
        foreign_keys: vec![],
        null_values: vec![String::new()],
    }
}

/// `data/nyc/Flights 2013.csv.gz` → `flights_2013`.
fn auto_name(rel: &str) -> String {
    let file = rel.rsplit('/').next().unwrap_or(rel);
    let stem = file.split('.').next().unwrap_or(file);
    let mut name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if !name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        name.insert(0, '_');
    }
    name
}

fn bake_one(
    config: &Config,
    plan: &Plan,
    work_dir: &Path,
    skip_bad_rows: bool,
) -> Result<BakedDatabase> {
    let db = &plan.config;
    let path = work_dir.join(format!("{}.sqlite", plan.name));
    let page_size = db.page_size.unwrap_or(config.page_size);
    let sql_err = |e: rusqlite::Error| Error::in_file(&path, format!("SQLite failed: {e}"));
    if let Some(base) = &db.sqlite {
        let src = resolve_in_content(config, base, &["databases", &plan.name, "sqlite"])?;
        std::fs::copy(&src, &path)
            .map_err(|e| Error::io(config.build.content.join(base), "copy", e))?;
        let conn = Connection::open(&path).map_err(sql_err)?;
        conn.query_row("PRAGMA quick_check", [], |r| r.get::<_, String>(0))
            .map_err(|e| {
                Error::in_file(
                    config.build.content.join(base),
                    format!("is not a usable SQLite database: {e}"),
                )
                .hint("check that the file is a SQLite 3 database")
            })?;
    }
    let mut conn = Connection::open(&path).map_err(sql_err)?;
    // Loading is a throw-away build step: no journal, no fsync. The final VACUUM rewrites it.
    conn.execute_batch(&format!(
        "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA page_size={page_size}; PRAGMA foreign_keys=OFF;"
    ))
    .map_err(sql_err)?;

    let mut skipped = 0;
    let mut warnings = Vec::new();
    for (table, tc) in &db.tables {
        let key_of = |k: &str| (format!("tables.{table}"), k.to_string());
        let n = load_table(config, plan, &mut conn, table, tc, skip_bad_rows, &key_of)?;
        if n > 0 {
            warnings.push(format!(
                "{}: skipped {n} rows that did not fit their column types",
                config.build.content.join(&tc.source).display()
            ));
        }
        skipped += n;
    }
    let limits = crate::queries::Limits::site(config);
    for (i, script) in db.scripts.iter().enumerate() {
        let at = ["databases", &plan.name, "scripts", &i.to_string()];
        let src = resolve_in_content(config, script, &at)?;
        script::run(&mut conn, &src, &config.build.content.join(script), &limits)?;
    }
    check_foreign_keys(config, plan, &conn)?;
    conn.execute_batch(&format!(
        "PRAGMA journal_mode=DELETE; PRAGMA page_size={page_size}; ANALYZE; VACUUM;"
    ))
    .map_err(sql_err)?;
    let mut schema = read_schema(&conn).map_err(sql_err)?;
    schema.file = format!("{}.sqlite", plan.name);
    schema.btrees = schema::read_btrees(&conn).map_err(sql_err)?;
    // Scripts and SQLite files may name tables anything; each needs a page URL of its own.
    if let Some(m) =
        crate::slug::table_collision(&plan.name, schema.tables.iter().map(|t| t.name.as_str()))
    {
        let file = db.sqlite.as_ref().or(db.scripts.last());
        let file = file.map_or_else(|| config.path.clone(), |f| config.build.content.join(f));
        return Err(Error::in_file(file, m).hint("rename one of the two tables"));
    }
    // (root page, whether SQLite reads the whole tree at open: the ANALYZE statistics)
    let roots: Vec<(u64, bool)> = conn
        .prepare("SELECT rootpage, name LIKE 'sqlite_stat%' FROM sqlite_schema WHERE rootpage > 0")
        .and_then(|mut st| {
            st.query_map([], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, bool>(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(sql_err)?;
    drop(conn);
    let partial: Vec<u64> = roots.iter().filter(|r| !r.1).map(|r| r.0).collect();
    let whole: Vec<u64> = roots.iter().filter(|r| r.1).map(|r| r.0).collect();
    let hot = hot::hot_ranges(&path, schema.page_size, &partial, &whole)
        .map_err(|e| Error::io(&path, "read", e))?;
    Ok(BakedDatabase {
        name: plan.name.clone(),
        path,
        schema,
        skipped_rows: skipped,
        warnings,
        hot,
    })
}

/// Where to point an error about `key` inside `[databases.NAME.tables.T]`.
fn table_error(config: &Config, plan: &Plan, section: &str, needle: &str, msg: String) -> Error {
    match &plan.auto_source {
        Some(f) => Error::in_file(config.build.content.join(&f.rel), msg),
        None => Error::at(
            &config.path,
            line_in_section(&config.text, section, needle),
            msg,
        ),
    }
}

/// First line mentioning `needle` after the header that contains `section`; the header's line
/// if none does.
fn line_in_section(text: &str, section: &str, needle: &str) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    let Some(start) = lines
        .iter()
        .position(|l| l.trim_start().starts_with('[') && l.contains(section))
    else {
        return crate::config::find_key_line(text, needle);
    };
    let quoted = format!("\"{needle}\"");
    lines[start..]
        .iter()
        .enumerate()
        .skip(1)
        .take_while(|(_, l)| !l.trim_start().starts_with('['))
        .find(|(_, l)| l.contains(&quoted) || l.trim_start().starts_with(needle))
        .map(|(i, _)| start + i + 1)
        .unwrap_or(start + 1)
}

fn load_table(
    config: &Config,
    plan: &Plan,
    conn: &mut Connection,
    table: &str,
    tc: &TableConfig,
    skip_bad_rows: bool,
    key_of: &dyn Fn(&str) -> (String, String),
) -> Result<u64> {
    let display = config.build.content.join(&tc.source);
    let path = resolve_in_content(
        config,
        &tc.source,
        &["databases", &plan.name, "tables", table, "source"],
    )?;
    let source = RowSource::open(&path, &display, &tc.null_values)?;
    // Pass 1 reads the header (and, unless every column is typed, infers types).
    let inferred = source.infer(&tc.types)?;
    let columns: Vec<(String, ColumnType)> = inferred.columns;
    let max_columns = column_limit(conn);
    if columns.len() > max_columns {
        let msg = format!(
            "has {} columns, more than the {max_columns} a SQLite table may have",
            columns.len()
        );
        return Err(match source.header_line() {
            Some(line) => Error::at(&display, line, msg),
            None => Error::in_file(&display, msg),
        }
        .hint(format!(
            "split the file into tables of at most {max_columns} columns each (joined by a key column), or drop the columns no one queries"
        )));
    }
    let names: BTreeSet<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
    let (section, _) = key_of("");
    let missing = |col: &str, what: &str| {
        table_error(
            config,
            plan,
            &section,
            col,
            format!(
                "{what} names column `{col}`, which `{}` does not have",
                display.display()
            ),
        )
        .hint(format!(
            "columns are: {}",
            columns
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    };
    for col in tc.types.keys() {
        if !names.contains(col.as_str()) {
            return Err(missing(col, &format!("types of table `{table}`")));
        }
    }
    for col in &tc.primary_key {
        if !names.contains(col.as_str()) {
            return Err(missing(col, &format!("the primary key of `{table}`")));
        }
    }
    for idx in &tc.indexes {
        if idx.is_empty() {
            return Err(table_error(
                config,
                plan,
                &section,
                "indexes",
                format!("table `{table}` declares an empty index"),
            ));
        }
        for col in idx {
            if !names.contains(col.as_str()) {
                return Err(missing(col, &format!("an index of `{table}`")));
            }
        }
    }
    for fk in &tc.foreign_keys {
        for col in &fk.columns {
            if !names.contains(col.as_str()) {
                return Err(missing(col, &format!("a foreign key of `{table}`")));
            }
        }
        let to = if fk.to.is_empty() {
            &fk.columns
        } else {
            &fk.to
        };
        if fk.columns.is_empty() || to.len() != fk.columns.len() {
            return Err(table_error(
                config,
                plan,
                &section,
                "foreign_keys",
                format!(
                    "a foreign key of `{table}` has {} columns but references {}",
                    fk.columns.len(),
                    to.len()
                ),
            )
            .hint("list as many columns in `to` as in `columns`"));
        }
    }

    let mut ddl = format!("CREATE TABLE {} (", quote_ident(table));
    for (i, (name, ty)) in columns.iter().enumerate() {
        if i > 0 {
            ddl.push_str(", ");
        }
        ddl.push_str(&format!("{} {}", quote_ident(name), ty.sql()));
    }
    if !tc.primary_key.is_empty() {
        ddl.push_str(&format!(", PRIMARY KEY ({})", ident_list(&tc.primary_key)));
    }
    for fk in &tc.foreign_keys {
        let to = if fk.to.is_empty() {
            &fk.columns
        } else {
            &fk.to
        };
        ddl.push_str(&format!(
            ", FOREIGN KEY ({}) REFERENCES {} ({})",
            ident_list(&fk.columns),
            quote_ident(&fk.table),
            ident_list(to)
        ));
    }
    ddl.push(')');
    conn.execute_batch(&ddl).map_err(|e| {
        table_error(config, plan, &section, table, format!("cannot create table `{table}`: {e}"))
            .hint("a table of that name may already exist in this database (from its sqlite file or another source)")
    })?;

    let tx = conn.transaction().map_err(|e| Error::msg(e.to_string()))?;
    let mut skipped = 0u64;
    {
        let placeholders = vec!["?"; columns.len()].join(", ");
        let mut insert = tx
            .prepare(&format!(
                "INSERT INTO {} VALUES ({placeholders})",
                quote_ident(table)
            ))
            .map_err(|e| Error::msg(e.to_string()))?;
        let types: Vec<ColumnType> = columns.iter().map(|(_, t)| *t).collect();
        let col_names: Vec<String> = columns.iter().map(|(n, _)| n.clone()).collect();
        let key_columns: Vec<usize> = tc
            .primary_key
            .iter()
            .filter_map(|k| col_names.iter().position(|c| c == k))
            .collect();
        let mut values: Vec<rusqlite::types::Value> = Vec::with_capacity(columns.len());
        source.for_each_row(&col_names, |line, cells| {
            values.clear();
            for (i, cell) in cells.into_iter().enumerate() {
                match convert(cell, types[i]) {
                    Ok(v) => values.push(v),
                    Err(shown) => {
                        if skip_bad_rows {
                            skipped += 1;
                            return Ok(());
                        }
                        return Err(Error::at(&display, line, format!(
                            "column `{}` is {} but this row has {shown}",
                            col_names[i],
                            types[i].sql().to_lowercase()
                        ))
                        .hint("fix the value, declare the column as text in bake.toml ([databases.NAME.tables.T] types), or build with --skip-bad-rows"));
                    }
                }
            }
            // SQLite lets a key be NULL (an INTEGER PRIMARY KEY even becomes a made-up rowid):
            // a row without a key would be one that no link or join can find.
            if let Some(&k) = key_columns
                .iter()
                .find(|&&k| values[k] == rusqlite::types::Value::Null)
            {
                return Err(Error::at(
                    &display,
                    line,
                    format!("this row has no value for `{}`, a column of the primary key of `{table}`", col_names[k]),
                )
                .hint("give every row a key, or drop primary_key from this table in bake.toml"));
            }
            insert.execute(rusqlite::params_from_iter(values.iter())).map_err(|e| {
                Error::at(&display, line, format!("cannot insert this row into `{table}`: {e}"))
                    .hint("a primary key must be unique and not empty")
            })?;
            Ok(())
        })?;
    }
    tx.commit().map_err(|e| Error::msg(e.to_string()))?;
    for (i, idx) in tc.indexes.iter().enumerate() {
        let name = format!("{table}_by_{}", idx.join("_"));
        let name = if name.len() > 60 {
            format!("{table}_idx{i}")
        } else {
            name
        };
        conn.execute_batch(&format!(
            "CREATE INDEX {} ON {} ({})",
            quote_ident(&name),
            quote_ident(table),
            ident_list(idx)
        ))
        .map_err(|e| {
            table_error(
                config,
                plan,
                &section,
                "indexes",
                format!("cannot create index on `{table}`: {e}"),
            )
        })?;
    }
    Ok(skipped)
}

/// The most columns a table may have in this SQLite build (2000 unless it was built otherwise).
fn column_limit(conn: &Connection) -> usize {
    // SAFETY: the handle is valid while `conn` lives; a negative value only reads the limit.
    let n = unsafe {
        rusqlite::ffi::sqlite3_limit(conn.handle(), rusqlite::ffi::SQLITE_LIMIT_COLUMN, -1)
    };
    usize::try_from(n).unwrap_or(2000)
}

/// Every declared foreign key must reference a table and columns that exist.
fn check_foreign_keys(config: &Config, plan: &Plan, conn: &Connection) -> Result<()> {
    for (table, tc) in &plan.config.tables {
        for fk in &tc.foreign_keys {
            let to = if fk.to.is_empty() {
                &fk.columns
            } else {
                &fk.to
            };
            let cols =
                schema::table_columns(conn, &fk.table).map_err(|e| Error::msg(e.to_string()))?;
            let section = format!("tables.{table}");
            if cols.is_empty() {
                return Err(table_error(config, plan, &section, &fk.table, format!(
                    "a foreign key of `{table}` references table `{}`, which database `{}` does not have",
                    fk.table, plan.name
                ))
                .hint("foreign keys must point at a table of the same database"));
            }
            for c in to {
                if !cols.contains(c) {
                    return Err(table_error(
                        config,
                        plan,
                        &section,
                        c,
                        format!(
                            "a foreign key of `{table}` references `{}.{c}`, which does not exist",
                            fk.table
                        ),
                    )
                    .hint(format!(
                        "`{}` has columns: {}",
                        fk.table,
                        cols.join(", ")
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Converts a cell to the column's type; on mismatch returns the value as shown to the user.
fn convert(cell: Cell, ty: ColumnType) -> std::result::Result<rusqlite::types::Value, String> {
    use rusqlite::types::Value as V;
    match (cell, ty) {
        (Cell::Null, _) => Ok(V::Null),
        (Cell::Int(i), ColumnType::Integer) => Ok(V::Integer(i)),
        (Cell::Int(i), ColumnType::Real) => Ok(V::Real(i as f64)),
        (Cell::Real(f), ColumnType::Real) => Ok(V::Real(f)),
        (Cell::Real(f), ColumnType::Integer) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
            Ok(V::Integer(f as i64))
        }
        (Cell::Real(f), ColumnType::Integer) => Err(format!("the number {f}")),
        (Cell::Int(i), ColumnType::Text | ColumnType::Blob) => Ok(V::Text(i.to_string())),
        (Cell::Real(f), ColumnType::Text | ColumnType::Blob) => Ok(V::Text(f.to_string())),
        (Cell::Text(s), ColumnType::Text) => Ok(V::Text(s)),
        (Cell::Text(s), ColumnType::Blob) => Ok(V::Blob(s.into_bytes())),
        (Cell::Text(s), ColumnType::Integer) => s
            .trim()
            .parse::<i64>()
            .map(V::Integer)
            .map_err(|_| format!("`{s}`")),
        (Cell::Text(s), ColumnType::Real) => match s.trim().parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(V::Real(f)),
            _ => Err(format!("`{s}`")),
        },
    }
}

/// Quotes an SQL identifier.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn ident_list(cols: &[String]) -> String {
    cols.iter()
        .map(|c| quote_ident(c))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_names() {
        assert_eq!(auto_name("data/nyc/Flights 2013.csv.gz"), "flights_2013");
        assert_eq!(auto_name("2020.json"), "_2020");
    }

    #[test]
    fn converts_cells() {
        use rusqlite::types::Value as V;
        assert_eq!(
            convert(Cell::Text("42".into()), ColumnType::Integer),
            Ok(V::Integer(42))
        );
        assert!(
            convert(Cell::Text("x".into()), ColumnType::Integer)
                .unwrap_err()
                .contains("`x`")
        );
        assert_eq!(
            convert(Cell::Real(2.0), ColumnType::Integer),
            Ok(V::Integer(2))
        );
        assert!(convert(Cell::Text("inf".into()), ColumnType::Real).is_err());
    }

    #[test]
    fn finds_lines_in_sections() {
        let t = "[databases.a.tables.x]\nsource = \"x.csv\"\nindexes = [[\"c\"]]\n[databases.a.tables.y]\nindexes = [[\"c\"]]\n";
        assert_eq!(line_in_section(t, "tables.y", "c"), 5);
        assert_eq!(line_in_section(t, "tables.x", "c"), 3);
    }
}
