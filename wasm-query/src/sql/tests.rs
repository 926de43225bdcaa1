//! Native tests of the VFS and `SqlSession`: real SQLite files split into parts in a temp
//! site folder, read through the range engine, compared with plain rusqlite on the same files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags, params};
use serde_json::{Value as Json, json};

use super::*;
use crate::engine::{Engine, EngineConfig, Stats, shared};
use crate::fetch::{DirFetch, Fault, Faulty, Fetch, NetworkError, Request, Response};
use crate::manifest::{Database, LogicalFile, MANIFEST_VERSION};

const TRIPS: i64 = 25_000;
const NAMES: [&str; 6] = [
    "Zürich",
    "東京",
    "São Paulo",
    "Ωmega",
    "plain",
    "naïve café",
];

/// A site folder with two databases, and the raw files for native comparison.
struct Site {
    dir: tempfile::TempDir,
    manifest: Manifest,
    raw: BTreeMap<String, PathBuf>,
}

/// `city` (page size 4096): `trips`, 25,000 rows of ints, floats, NULLs, non-ASCII text,
/// blobs and big integers, with two indexes.
fn make_city(path: &Path) {
    let mut c = Connection::open(path).unwrap();
    c.execute_batch(
        "PRAGMA page_size = 4096; PRAGMA journal_mode = DELETE;
         CREATE TABLE trips(id INTEGER PRIMARY KEY, borough_id INTEGER, fare REAL, note TEXT NOT NULL,
                            data BLOB, big INTEGER);",
    )
    .unwrap();
    let tx = c.transaction().unwrap();
    {
        let mut ins = tx
            .prepare("INSERT INTO trips VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
            .unwrap();
        for i in 1..=TRIPS {
            let borough = (i % 11 != 0).then_some(i % 7 + 1);
            let fare = (i % 13 != 0).then_some(((i * 37) % 1000) as f64 / 10.0);
            let note = format!("{}-{i}", NAMES[(i % 6) as usize]);
            let data = (i % 5 == 0).then(|| {
                let mut b = (i as u32).to_le_bytes().to_vec();
                b.extend_from_slice(&[0, 255, (i % 256) as u8]);
                b
            });
            let big = i * 1_000_000_007_000 * if i % 2 == 0 { 1 } else { -1 };
            ins.execute(params![i, borough, fare, note, data, big])
                .unwrap();
        }
    }
    tx.commit().unwrap();
    c.execute_batch(
        "CREATE INDEX trips_fare ON trips(fare);
         CREATE INDEX trips_note ON trips(note);
         ANALYZE; VACUUM;",
    )
    .unwrap();
}

/// `lookup` (page size 1024): `boroughs` and `events`.
fn make_lookup(path: &Path) {
    let mut c = Connection::open(path).unwrap();
    c.execute_batch(
        "PRAGMA page_size = 1024; PRAGMA journal_mode = DELETE;
         CREATE TABLE boroughs(id INTEGER PRIMARY KEY, name TEXT NOT NULL);
         INSERT INTO boroughs VALUES (1, 'Manhattan'), (2, 'Brooklyn'), (3, 'Queens'),
           (4, 'The Bronx'), (5, 'Staten Island'), (6, 'Ålesund'), (7, 'Kōbe');
         CREATE TABLE events(id INTEGER PRIMARY KEY, borough_id INTEGER REFERENCES boroughs(id),
                             t REAL, label TEXT);",
    )
    .unwrap();
    let tx = c.transaction().unwrap();
    for i in 1..=6000i64 {
        tx.execute(
            "INSERT INTO events VALUES (?1, ?2, ?3, ?4)",
            params![
                i,
                i % 7 + 1,
                i as f64 * 0.25 - 100.0,
                (i % 9 != 0).then(|| format!("évènement {i}"))
            ],
        )
        .unwrap();
    }
    tx.commit().unwrap();
    c.execute_batch("CREATE INDEX events_borough ON events(borough_id); VACUUM;")
        .unwrap();
}

/// The B-trees of the SQLite file at `path`, as the generator lists them in the manifest.
fn btrees(path: &Path) -> Vec<crate::manifest::BTree> {
    let c = Connection::open(path).unwrap();
    let pages: Vec<(String, u64)> = c
        .prepare("SELECT name, pageno FROM dbstat ORDER BY name, pageno")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    crate::manifest::BTree::from_pages(pages)
}

/// Requests a sequential read of the B-trees `names` of database `db` takes (the bound).
fn sequential_bound(site: &Site, db: &str, names: &[&str]) -> u64 {
    let d = &site.manifest.databases[db];
    let file = &site.manifest.files[&d.file];
    let cap = file.parts.iter().map(|p| p.length).max().unwrap() / u64::from(file.block_size);
    let layout = crate::engine::layout::Layout::new(d, u64::from(file.block_size));
    layout
        .trees
        .iter()
        .filter(|t| names.contains(&t.name.as_str()))
        .flat_map(|t| t.runs.iter())
        .map(|(a, b)| crate::engine::layout::sequential_requests(b - a + 1, cap))
        .sum()
}

/// Splits `data` into parts of `part_len` bytes under `_data/`.
fn split(root: &Path, name: &str, data: &[u8], block: u32, part_len: usize) -> LogicalFile {
    crate::test_support::write_parts(root, name, data, block, part_len)
}

/// `city` in parts of `city_part_blocks` pages; `lookup` in parts of 2500 bytes, so its
/// pages straddle parts.
fn site(city_part_blocks: usize) -> Site {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("_data")).unwrap();
    std::fs::create_dir_all(dir.path().join("raw")).unwrap();
    let city = dir.path().join("raw/city.sqlite");
    let lookup = dir.path().join("raw/lookup.sqlite");
    make_city(&city);
    make_lookup(&lookup);
    let mut files = BTreeMap::new();
    let mut databases = BTreeMap::new();
    for (name, path, page, part_len) in [
        ("city", &city, 4096u32, city_part_blocks * 4096),
        ("lookup", &lookup, 1024, 2500),
    ] {
        let data = std::fs::read(path).unwrap();
        let file = format!("{name}.sqlite");
        files.insert(
            file.clone(),
            split(dir.path(), &file, &data, page, part_len),
        );
        databases.insert(
            name.to_string(),
            Database {
                file,
                page_size: page,
                tables: vec![],
                btrees: btrees(path),
            },
        );
    }
    let manifest = Manifest {
        version: MANIFEST_VERSION,
        generator: "test".into(),
        files,
        databases,
        search: None,
    };
    manifest.validate().unwrap();
    let raw = BTreeMap::from([("city".to_string(), city), ("lookup".to_string(), lookup)]);
    Site { dir, manifest, raw }
}

/// A fetcher the test can still steer after the engine owns it.
#[derive(Clone)]
struct Steer(Arc<Mutex<Faulty<DirFetch>>>);

impl Fetch for Steer {
    fn fetch(&self, req: &Request) -> Result<Response, NetworkError> {
        self.0.lock().unwrap().fetch(req)
    }
    fn sleep_ms(&self, ms: u32) {
        self.0.lock().unwrap().sleep_ms(ms);
    }
}

/// A fresh engine (empty cache) and session over `site`, and the fault injector.
fn open(site: &Site) -> (SqlSession, SharedEngine, Steer) {
    let steer = Steer(Arc::new(Mutex::new(Faulty::new(DirFetch::new(
        site.dir.path(),
    )))));
    let config = EngineConfig {
        retries: 2,
        backoff_ms: 1,
        ..EngineConfig::default()
    };
    let engine = shared(Engine::new(
        Box::new(steer.clone()) as Box<dyn Fetch + Send>,
        &site.manifest,
        config,
    ));
    let session = SqlSession::open(engine.clone(), &site.manifest).unwrap();
    (session, engine, steer)
}

/// Runs one query with a budget and returns the answer and what it cost.
fn run_with(
    s: &mut SqlSession,
    e: &SharedEngine,
    db: &str,
    sql: &str,
    params: &Json,
    budget: Option<u64>,
) -> (Result<QueryResult, QueryError>, Stats) {
    e.lock().unwrap().begin_query(budget);
    let r = s.query(db, sql, params, 1000);
    (r, e.lock().unwrap().query_stats())
}

fn run(s: &mut SqlSession, e: &SharedEngine, db: &str, sql: &str) -> (QueryResult, Stats) {
    let (r, stats) = run_with(s, e, db, sql, &Json::Null, None);
    (r.unwrap_or_else(|m| panic!("{sql}: {m}")), stats)
}

/// The same query with plain rusqlite on the raw files, attached the same way.
fn native(site: &Site, db: &str, sql: &str) -> QueryResult {
    let conn =
        Connection::open_with_flags(&site.raw[db], OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    for (name, path) in &site.raw {
        if name != db {
            conn.execute(
                &format!("ATTACH DATABASE ?1 AS {}", quote_ident(name)),
                [path.to_str().unwrap()],
            )
            .unwrap();
        }
    }
    let mut stmt = conn.prepare(sql).unwrap();
    let columns: Vec<String> = stmt.column_names().map(str::to_string).collect();
    let n = columns.len();
    let mut rows = Vec::new();
    let mut truncated = false;
    let mut cursor = stmt.query([]).unwrap();
    while let Some(row) = cursor.next().unwrap() {
        if rows.len() == 1000 {
            truncated = true;
            break;
        }
        rows.push((0..n).map(|i| to_json(row.get_ref(i).unwrap())).collect());
    }
    QueryResult {
        columns,
        rows,
        truncated,
    }
}

const QUERIES: &[(&str, &str)] = &[
    ("city", "SELECT * FROM trips WHERE id = 12345"),
    (
        "city",
        "SELECT id, note, fare FROM trips WHERE note = 'Zürich-600'",
    ),
    (
        "city",
        "SELECT id, fare FROM trips WHERE fare = 42.5 ORDER BY id",
    ),
    (
        "city",
        "SELECT id, note FROM trips WHERE fare BETWEEN 10 AND 11 ORDER BY fare, id LIMIT 20",
    ),
    ("city", "SELECT COUNT(*) FROM trips"),
    (
        "city",
        "SELECT borough_id, COUNT(*), ROUND(AVG(fare), 6), SUM(fare IS NULL) FROM trips \
         GROUP BY borough_id ORDER BY borough_id",
    ),
    (
        "city",
        "SELECT b.name, COUNT(*), MAX(t.fare) FROM trips t JOIN lookup.boroughs b ON b.id = t.borough_id \
         GROUP BY b.name ORDER BY b.name",
    ),
    (
        "city",
        "SELECT id, fare FROM trips ORDER BY fare DESC, id LIMIT 10",
    ),
    (
        "city",
        "SELECT id, borough_id, fare FROM trips WHERE fare IS NULL AND borough_id IS NULL ORDER BY id LIMIT 50",
    ),
    (
        "city",
        "SELECT id, fare, fare * 1.1, fare / 3.0, 1e308 * 10, -1e308 * 10 FROM trips WHERE id < 6",
    ),
    (
        "city",
        "SELECT id, note, upper(note), length(note) FROM trips WHERE note LIKE 'zür%' ORDER BY id LIMIT 5",
    ),
    (
        "city",
        "SELECT id, note FROM trips WHERE id IN (SELECT id FROM trips WHERE note LIKE '%東京%' AND fare > 90) \
         ORDER BY id LIMIT 30",
    ),
    (
        "city",
        "SELECT id, data, big, typeof(big) FROM trips WHERE data IS NOT NULL ORDER BY id LIMIT 10",
    ),
    (
        "city",
        "SELECT id, big FROM trips WHERE id BETWEEN 9000 AND 9010",
    ),
    ("city", "SELECT note, id FROM trips WHERE id % 1000 = 0"),
    ("city", "SELECT name, type FROM sqlite_schema ORDER BY name"),
    // Sorts of every row with no index to help: must stay in memory (no temp files).
    (
        "city",
        "SELECT note, COUNT(*), MIN(big) FROM trips GROUP BY note ORDER BY note DESC",
    ),
    ("city", "SELECT big, id FROM trips ORDER BY big, id"),
    (
        "city",
        "SELECT * FROM lookup.events WHERE id BETWEEN 100 AND 140",
    ),
    (
        "lookup",
        "SELECT b.name, (SELECT COUNT(*) FROM city.trips t WHERE t.borough_id = b.id) AS n \
         FROM boroughs b ORDER BY b.id",
    ),
    (
        "lookup",
        "SELECT borough_id, COUNT(*), SUM(t), COUNT(label) FROM events GROUP BY borough_id",
    ),
    (
        "lookup",
        "SELECT * FROM events ORDER BY t DESC LIMIT 1000 OFFSET 3000",
    ),
    (
        "lookup",
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 2000) \
         SELECT x, (SELECT label FROM events WHERE id = x) FROM n WHERE x % 97 = 0",
    ),
];

#[test]
fn answers_equal_plain_rusqlite() {
    let site = site(16);
    let (mut s, e, _) = open(&site);
    for (db, sql) in QUERIES {
        let (got, stats) = run(&mut s, &e, db, sql);
        assert_eq!(got, native(&site, db, sql), "{db}: {sql}");
        assert!(!got.rows.is_empty(), "{sql} returns rows");
        println!(
            "{:>3} req {:>8} B {:>5} rows  {db}: {}",
            stats.requests,
            stats.bytes,
            got.rows.len(),
            &sql[..sql.len().min(70)]
        );
    }
    // A query that returns more rows than asked for is cut and says so.
    let r = s
        .query("city", "SELECT id FROM trips ORDER BY id", &Json::Null, 7)
        .unwrap();
    assert_eq!((r.rows.len(), r.truncated), (7, true));
    let r = s
        .query("city", "SELECT id FROM trips WHERE id <= 7", &Json::Null, 7)
        .unwrap();
    assert_eq!((r.rows.len(), r.truncated), (7, false));
}

#[test]
fn an_indexed_lookup_costs_a_handful_of_requests_and_a_repeat_none() {
    let site = site(16);
    let (mut s, e, _) = open(&site);
    let sql = "SELECT id, note, fare FROM trips WHERE note = 'Zürich-600'";
    let (r, cold) = run(&mut s, &e, "city", sql);
    assert_eq!(
        r.rows,
        vec![vec![json!(600), json!("Zürich-600"), json!(20.0)]]
    );
    println!("cold indexed lookup (fresh engine, opens + attaches): {cold:?}");
    assert!(cold.requests <= 10, "{cold:?}");
    let (_, warm) = run(&mut s, &e, "city", sql);
    println!("warm repeat: {warm:?}");
    assert_eq!(warm.requests, 0, "{warm:?}");
    // A rowid lookup of another row on the now-open connection.
    let (_, rowid) = run(&mut s, &e, "city", "SELECT * FROM trips WHERE id = 20001");
    println!("rowid lookup on an open connection: {rowid:?}");
    assert!(rowid.requests <= 3, "{rowid:?}");
}

#[test]
fn a_cold_full_scan_reads_ahead() {
    let site = site(256);
    let pages = site.manifest.files["city.sqlite"].size / 4096;
    for sql in [
        "SELECT COUNT(*) FROM trips",
        "SELECT SUM(length(note)), SUM(fare) FROM trips",
    ] {
        let (mut s, e, _) = open(&site);
        let (got, cold) = run(&mut s, &e, "city", sql);
        assert_eq!(got, native(&site, "city", sql));
        println!("cold `{sql}` over {pages} pages: {cold:?}");
        assert!(cold.requests * 5 < pages, "{cold:?} for {pages} pages");
        let (_, warm) = run(&mut s, &e, "city", sql);
        assert_eq!(warm.requests, 0, "{warm:?}");
    }
}

#[test]
fn a_lookup_per_row_through_an_index_stays_within_a_sequential_read() {
    // Through `trips_fare`, SQLite visits the rows in fare order: a random walk over the
    // table's pages, one request per page without the bound (the demo's `WHERE origin =
    // 'JFK' GROUP BY carrier` made 6,483 requests that way).
    let site = site(256);
    let sql = "SELECT borough_id, count(*), sum(length(note)) FROM trips INDEXED BY trips_fare \
               WHERE fare > 20 GROUP BY 1";
    let (mut s, e, _) = open(&site);
    let (got, cold) = run(&mut s, &e, "city", sql);
    assert_eq!(got, native(&site, "city", sql));
    // Page 1 and the schema, then the index and the table.
    let bound = 2 + sequential_bound(&site, "city", &["sqlite_schema", "trips_fare", "trips"]);
    println!("cold `{sql}`: {cold:?}, bound {bound}");
    assert!(cold.requests <= bound, "{cold:?} > {bound}");
    assert!(cold.sweeps >= 1, "{cold:?}");
    // The same files without the B-tree layout: the cliff this bound removes.
    let mut plain = site.manifest.clone();
    plain.databases.get_mut("city").unwrap().btrees.clear();
    let engine = shared(Engine::new(
        Box::new(DirFetch::new(site.dir.path())) as Box<dyn Fetch + Send>,
        &plain,
        EngineConfig::default(),
    ));
    let mut session = SqlSession::open(engine.clone(), &plain).unwrap();
    let (again, without) = run(&mut session, &engine, "city", sql);
    assert_eq!(again, got);
    println!("without the layout: {without:?}");
    assert!(without.requests > 4 * bound, "{without:?}");
}

#[test]
fn a_full_scan_tells_its_expected_bytes_from_the_plan() {
    let site = site(256);
    let (mut s, e, _) = open(&site);
    let seen: Arc<Mutex<Vec<crate::engine::Progress>>> = Arc::default();
    let sink = seen.clone();
    e.lock()
        .unwrap()
        .set_progress(Some(Box::new(move |p| sink.lock().unwrap().push(p))));
    let (_, stats) = run(&mut s, &e, "city", "SELECT sum(length(note)) FROM trips");
    // SQLite scans the covering index on `note`, not the table.
    let index = e
        .lock()
        .unwrap()
        .tree_bytes("city.sqlite", "trips_note")
        .unwrap();
    let seen = seen.lock().unwrap();
    let last = seen.last().expect("progress was reported");
    assert_eq!(last.requests, stats.requests);
    // What the query had fetched when it was planned (the schema), plus the index.
    let expected = last.expected_bytes.expect("a full scan has an estimate");
    assert!(expected >= index, "{last:?}, index {index}");
    assert!(stats.bytes.abs_diff(expected) * 20 <= expected, "{last:?}");
}

#[test]
fn sessions_on_one_engine_share_its_cache_and_clean_up() {
    let site = site(16);
    let (mut s, e, _) = open(&site);
    let sql = "SELECT b.name, COUNT(*) FROM trips t JOIN lookup.boroughs b ON b.id = t.borough_id GROUP BY 1";
    let (first, _) = run(&mut s, &e, "city", sql);
    let name = CString::new(s.vfs_name()).unwrap();
    let mut other = SqlSession::open(e.clone(), &site.manifest).unwrap();
    assert_ne!(other.vfs_name(), s.vfs_name());
    let (second, stats) = run(&mut other, &e, "city", sql);
    assert_eq!((first, stats.requests), (second, 0));
    // SAFETY: plain lookups by name.
    unsafe {
        assert!(!ffi::sqlite3_vfs_find(name.as_ptr()).is_null());
        drop(s);
        assert!(ffi::sqlite3_vfs_find(name.as_ptr()).is_null());
    }
}

#[test]
fn values_map_to_json() {
    let site = site(16);
    let (mut s, e, _) = open(&site);
    let (r, _) = run(
        &mut s,
        &e,
        "lookup",
        "SELECT NULL, 0, -7, 9007199254740992, -9007199254740992, 9007199254740993, \
         -9223372036854775808, 1.5, 1e999, -1e999, 'héllo ✓', x'00ff10fb', x'', 1.0",
    );
    assert_eq!(
        r.rows[0],
        vec![
            Json::Null,
            json!(0),
            json!(-7),
            json!(9007199254740992i64),
            json!(-9007199254740992i64),
            json!("9007199254740993"),
            json!("-9223372036854775808"),
            json!(1.5),
            Json::Null,
            Json::Null,
            json!("héllo ✓"),
            json!({"blob": "AP8Q+w=="}),
            json!({"blob": ""}),
            json!(1.0),
        ]
    );
    assert_eq!(r.columns[1], "0");
    let text = serde_json::to_string(&r).unwrap();
    assert!(text.contains("\"truncated\":false"), "{text}");
}

#[test]
fn base64_round_trips() {
    for n in 0..40usize {
        let data: Vec<u8> = (0..n).map(|i| (i * 97 + 13) as u8).collect();
        let text = base64_encode(&data);
        assert_eq!(text.len(), n.div_ceil(3) * 4);
        assert_eq!(base64_decode(&text).unwrap(), data);
        assert_eq!(base64_decode(text.trim_end_matches('=')).unwrap(), data);
    }
    assert_eq!(base64_encode(b"Man"), "TWFu");
    assert_eq!(base64_encode(b"Ma"), "TWE=");
    assert!(base64_decode("!!!!").is_none());
    assert!(base64_decode("A").is_none());
}

#[test]
fn parameters_bind_by_position_and_name() {
    let site = site(16);
    let (mut s, _e, _) = open(&site);
    let sql = "SELECT id FROM trips WHERE borough_id = ?1 AND fare > ?2 ORDER BY id LIMIT 5";
    let by_position = s.query("city", sql, &json!([3, 50.5]), 100).unwrap();
    let literal = native(
        &site,
        "city",
        "SELECT id FROM trips WHERE borough_id = 3 AND fare > 50.5 ORDER BY id LIMIT 5",
    );
    assert_eq!(by_position, literal);
    assert_eq!(by_position.rows.len(), 5);

    let named = "SELECT id FROM trips WHERE borough_id = :b AND fare > $f ORDER BY id LIMIT @n";
    let r = s
        .query("city", named, &json!({":b": 3, "f": 50.5, "@n": 5}), 100)
        .unwrap();
    assert_eq!(r.rows, literal.rows);

    let r = s
        .query(
            "city",
            "SELECT ?1, ?2, ?3, ?4, typeof(?4), ?5",
            &json!([null, true, "ü", {"blob": "AP8="}, 1e300]),
            10,
        )
        .unwrap();
    assert_eq!(
        r.rows[0],
        vec![
            Json::Null,
            json!(1),
            json!("ü"),
            json!({"blob": "AP8="}),
            json!("blob"),
            json!(1e300)
        ]
    );

    for (sql, params, needle) in [
        (sql, Json::Null, "2 parameters but no values"),
        (sql, json!([1]), "2 parameters but 1 value"),
        (
            named,
            json!({"b": 1, "f": 2}),
            "no value was given for parameter @n",
        ),
        (
            named,
            json!({"b": 1, "f": 2, "n": 3, "zz": 4}),
            "no parameter named zz",
        ),
        ("SELECT ?", json!({"x": 1}), "has no name"),
        (
            "SELECT ?1",
            json!([[1, 2]]),
            "arrays and objects cannot be bound",
        ),
        ("SELECT ?1", json!([{"blob": "%%"}]), "not valid base64"),
        (
            "SELECT ?1",
            json!("x"),
            "must be an array, an object or null",
        ),
    ] {
        let err = s.query("city", sql, &params, 10).unwrap_err();
        assert!(err.message.contains(needle), "{sql} {params}: {err}");
    }
}

#[test]
fn writes_and_escapes_are_refused() {
    let site = site(16);
    let (mut s, e, _) = open(&site);
    let vacuum_into = site.dir.path().join("copy.sqlite");
    let other = site.dir.path().join("raw/other.sqlite");
    Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE t(x)")
        .unwrap();
    let statements = [
        "INSERT INTO trips(id, note) VALUES (999999, 'x')".to_string(),
        "UPDATE trips SET fare = 0".into(),
        "DELETE FROM trips".into(),
        "REPLACE INTO lookup.boroughs VALUES (1, 'x')".into(),
        "CREATE TABLE x(a)".into(),
        "CREATE TEMP TABLE x(a)".into(),
        "CREATE VIEW v AS SELECT 1".into(),
        "DROP TABLE trips".into(),
        "DROP INDEX trips_fare".into(),
        "ALTER TABLE trips ADD COLUMN z".into(),
        "CREATE INDEX i ON trips(big)".into(),
        format!(
            "ATTACH DATABASE 'file:other.sqlite?vfs={}' AS o",
            s.vfs_name()
        ),
        format!("ATTACH DATABASE '{}' AS o", other.display()),
        "ATTACH DATABASE ':memory:' AS m".into(),
        "DETACH DATABASE lookup".into(),
        "PRAGMA writable_schema = 1".into(),
        "PRAGMA query_only = 0".into(),
        "PRAGMA temp_store = FILE".into(),
        "PRAGMA journal_mode = WAL".into(),
        "PRAGMA lookup.journal_mode = DELETE".into(),
        "PRAGMA user_version = 3".into(),
        "VACUUM".into(),
        format!("VACUUM INTO '{}'", vacuum_into.display()),
        "REINDEX".into(),
        "ANALYZE".into(),
        "SELECT load_extension('x')".into(),
    ];
    for sql in &statements {
        let (r, _) = run_with(&mut s, &e, "city", sql, &Json::Null, None);
        let err = r.expect_err(sql);
        println!("{sql}\n    → {err}");
        assert!(!err.message.is_empty());
    }
    assert!(!vacuum_into.exists());
    // Nothing changed, nothing is stuck; reading pragmas still works.
    let (r, _) = run(&mut s, &e, "city", "SELECT COUNT(*) FROM trips");
    assert_eq!(r.rows, vec![vec![json!(TRIPS)]]);
    let (r, _) = run(&mut s, &e, "city", "PRAGMA query_only");
    assert_eq!(r.rows, vec![vec![json!(1)]]);
    let (r, _) = run(&mut s, &e, "city", "PRAGMA table_info(trips)");
    assert_eq!(r.rows.len(), 6);
    let (r, _) = run(
        &mut s,
        &e,
        "city",
        "SELECT name FROM pragma_database_list WHERE name <> 'temp'",
    );
    assert_eq!(r.rows, vec![vec![json!("main")], vec![json!("lookup")]]);
    // A BEGIN does not outlive its query.
    run(&mut s, &e, "city", "BEGIN");
    assert!(s.connections["city"].is_autocommit());
    let (r, _) = run(&mut s, &e, "city", "SELECT MAX(id) FROM trips");
    assert_eq!(r.rows, vec![vec![json!(TRIPS)]]);
    let (r, _) = run(
        &mut s,
        &e,
        "city",
        "EXPLAIN QUERY PLAN SELECT * FROM trips WHERE fare = 1",
    );
    assert!(!r.rows.is_empty());
}

#[test]
fn the_vfs_opens_only_the_manifest_databases() {
    let site = site(16);
    let (s, _e, _) = open(&site);
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI;
    let vfs = s.vfs_name();
    for name in ["nope.sqlite", "raw/city.sqlite", "city.sqlite-journal"] {
        let uri = format!("file:{name}?vfs={vfs}&immutable=1");
        let err = Connection::open_with_flags(&uri, flags)
            .and_then(|c| {
                c.query_row("SELECT COUNT(*) FROM sqlite_schema", [], |r| {
                    r.get::<_, i64>(0)
                })
            })
            .unwrap_err();
        assert_eq!(
            err.sqlite_error_code(),
            Some(rusqlite::ErrorCode::CannotOpen),
            "{uri}: {err}"
        );
    }
    let c = Connection::open_with_flags(format!("file:city.sqlite?vfs={vfs}&immutable=1"), flags)
        .unwrap();
    let n: i64 = c
        .query_row("SELECT COUNT(*) FROM trips WHERE id > 24990", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(n, 10);
    let err = c
        .execute_batch("PRAGMA query_only = 0; CREATE TABLE x(a)")
        .unwrap_err();
    assert_eq!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::ReadOnly),
        "{err}"
    );
}

#[test]
fn sql_mistakes_are_explained() {
    let site = site(16);
    let (mut s, _e, _) = open(&site);
    for (db, sql, needle) in [
        ("city", "SELECT 1; SELECT 2", "one statement at a time"),
        (
            "city",
            "SELECT 1; DELETE FROM trips;",
            "one statement at a time",
        ),
        ("city", "SELEC 1", "syntax error"),
        ("city", "SELECT nope FROM trips", "no such column: nope"),
        ("city", "", "no SQL"),
        ("city", "-- just a comment", "no SQL"),
        ("nyc", "SELECT 1", "databases: city, lookup"),
    ] {
        let err = s.query(db, sql, &Json::Null, 10).unwrap_err();
        assert!(err.message.contains(needle), "{sql}: {err}");
    }
    // A trailing `;` and comments are one statement.
    let r = s
        .query("city", "SELECT 1; -- done\n", &Json::Null, 10)
        .unwrap();
    assert_eq!(r.rows, vec![vec![json!(1)]]);
}

#[test]
fn a_cpu_bound_query_can_be_interrupted() {
    let site = site(16);
    let (mut s, _e, _) = open(&site);
    let endless =
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT COUNT(*) FROM n";
    let mut calls = 0;
    s.set_interrupt(Some(Box::new(move || {
        calls += 1;
        calls > 50
    })));
    let err = s.query("city", endless, &Json::Null, 10).unwrap_err();
    assert!(err.message.contains("interrupted"), "{err}");
    s.set_interrupt(None);
    let r = s
        .query("city", "SELECT COUNT(*) FROM trips", &Json::Null, 10)
        .unwrap();
    assert_eq!(r.rows, vec![vec![json!(TRIPS)]]);
}

#[test]
fn a_dropped_answer_is_retried() {
    let site = site(16);
    let (mut s, e, steer) = open(&site);
    steer
        .0
        .lock()
        .unwrap()
        .then(Fault::Drop)
        .then(Fault::Status(503));
    let sql = QUERIES[6].1;
    let (r, stats) = run(&mut s, &e, "city", sql);
    assert_eq!(r, native(&site, "city", sql));
    assert!(stats.retries >= 2, "{stats:?}");
}

#[test]
fn a_compressed_answer_is_refused_by_name() {
    let site = site(16);
    let (mut s, e, steer) = open(&site);
    steer.0.lock().unwrap().always(Some(Fault::Compress));
    let (r, _) = run_with(&mut s, &e, "city", QUERIES[0].1, &Json::Null, None);
    let err = r.unwrap_err();
    assert!(err.message.contains("compressed (gzip)"), "{err}");
    // The host is fixed: the same session works again.
    steer.0.lock().unwrap().always(None);
    let (r, _) = run(&mut s, &e, "city", QUERIES[0].1);
    assert_eq!(r, native(&site, "city", QUERIES[0].1));
}

#[test]
fn a_changed_host_file_asks_for_a_reload() {
    let site = site(16);
    let (mut s, e, steer) = open(&site);
    run(&mut s, &e, "city", QUERIES[1].1);
    steer.0.lock().unwrap().always(Some(Fault::ChangeEtag));
    let (r, _) = run_with(
        &mut s,
        &e,
        "city",
        "SELECT SUM(length(note)) FROM trips",
        &Json::Null,
        None,
    );
    let err = r.unwrap_err();
    assert!(
        err.message.contains("changed") && err.message.contains("reload"),
        "{err}"
    );
}

#[test]
fn a_budget_stops_a_query_with_its_numbers_then_a_bigger_one_succeeds() {
    let site = site(16);
    let sql = "SELECT SUM(length(note)), COUNT(data) FROM trips";
    for warm_first in [false, true] {
        let (mut s, e, _) = open(&site);
        if warm_first {
            run(&mut s, &e, "city", QUERIES[0].1);
        }
        let (r, stats) = run_with(&mut s, &e, "city", sql, &Json::Null, Some(64 * 1024));
        let err = r.unwrap_err();
        println!("budget 64 KiB: {err} ({stats:?})");
        assert!(
            err.message.contains("budget of 65536 bytes")
                && err.message.contains("stopped after fetching"),
            "{err}"
        );
        let (r, _) = run_with(&mut s, &e, "city", sql, &Json::Null, Some(1 << 30));
        assert_eq!(r.unwrap(), native(&site, "city", sql));
    }
}

#[test]
fn an_endless_recursive_cte_stops_at_the_time_limit() {
    let site = site(16);
    let (mut s, e, _) = open(&site);
    assert_eq!(s.limits(), Limits::default());
    assert_eq!(s.limits().time_ms, 30_000);
    s.set_limits(Limits {
        time_ms: 300,
        ..Limits::default()
    });
    let endless =
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";
    let started = std::time::Instant::now();
    let (r, _) = run_with(&mut s, &e, "city", endless, &Json::Null, Some(1_000_000));
    let err = r.unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.kind, ErrorKind::Time, "{err}");
    assert!(
        err.message.contains("time limit") && err.message.contains("0.3 s"),
        "{err}"
    );
    assert!(
        took >= std::time::Duration::from_millis(300) && took < std::time::Duration::from_secs(5),
        "{took:?}"
    );
    // The session goes on: the next query runs, with a fresh deadline.
    let (r, _) = run(&mut s, &e, "city", "SELECT COUNT(*) FROM trips");
    assert_eq!(r.rows, vec![vec![json!(TRIPS)]]);
}

#[test]
fn huge_values_and_answers_are_stopped_by_the_size_limit() {
    let site = site(16);
    let (mut s, e, _) = open(&site);
    // Under the default 64 MiB limit, neither value is ever allocated.
    for sql in ["SELECT randomblob(300000000)", "SELECT zeroblob(500000000)"] {
        let (r, _) = run_with(&mut s, &e, "city", sql, &Json::Null, None);
        let err = r.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Size, "{sql}: {err}");
        assert!(err.message.contains("size limit of 64 MB"), "{sql}: {err}");
    }
    // An answer of many small values is stopped once its JSON passes the limit.
    s.set_limits(Limits {
        max_bytes: 10_000,
        ..Limits::default()
    });
    let (r, _) = run_with(
        &mut s,
        &e,
        "city",
        "SELECT note FROM trips",
        &Json::Null,
        None,
    );
    let err = r.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Size, "{err}");
    assert!(
        err.message
            .contains("answer is larger than its size limit of 0.0 MB after"),
        "{err}"
    );
    let (r, _) = run_with(
        &mut s,
        &e,
        "city",
        "SELECT randomblob(20000)",
        &Json::Null,
        None,
    );
    assert_eq!(r.unwrap_err().kind, ErrorKind::Size);
    // A small answer fits, and a raised limit lets the big one through.
    let (r, _) = run(&mut s, &e, "city", "SELECT length(randomblob(5000))");
    assert_eq!(r.rows, vec![vec![json!(5000)]]);
    s.set_limits(Limits::default());
    let (r, _) = run_with(
        &mut s,
        &e,
        "city",
        "SELECT note FROM trips",
        &Json::Null,
        None,
    );
    assert_eq!(r.unwrap().rows.len(), 1000);
}

#[test]
fn a_corrupted_page_is_blamed_on_the_host_with_its_part() {
    let site = site(4);
    for persistent in [false, true] {
        let (mut s, e, steer) = open(&site);
        run(
            &mut s,
            &e,
            "city",
            "SELECT COUNT(*) FROM trips WHERE id < 10",
        );
        // The next answers are corrupted with their length kept: every header check passes.
        if persistent {
            steer.0.lock().unwrap().always(Some(Fault::Corrupt));
        } else {
            steer.0.lock().unwrap().then(Fault::Corrupt);
        }
        let (r, _) = run_with(
            &mut s,
            &e,
            "city",
            "SELECT SUM(length(note)) FROM trips",
            &Json::Null,
            None,
        );
        let err = r.unwrap_err();
        assert!(
            err.message
                .contains("the host served a corrupted or stale copy of /_data/city.sqlite.")
                && err.message.contains("reload"),
            "persistent {persistent}: {err}"
        );
        assert!(!err.message.contains("malformed"), "{err}");
        // Once the host serves the right bytes, the same session answers right.
        steer.0.lock().unwrap().always(None);
        let sql = "SELECT SUM(length(note)) FROM trips";
        let (r, _) = run(&mut s, &e, "city", sql);
        assert_eq!(r, native(&site, "city", sql), "persistent {persistent}");
    }
}

#[test]
fn a_corrupted_header_is_blamed_on_the_host_too() {
    let site = site(16);
    let (mut s, e, steer) = open(&site);
    steer.0.lock().unwrap().then(Fault::Corrupt);
    let (r, _) = run_with(
        &mut s,
        &e,
        "lookup",
        "SELECT 1 FROM boroughs",
        &Json::Null,
        None,
    );
    let err = r.unwrap_err();
    assert!(
        err.message.contains("corrupted or stale copy of /_data/"),
        "{err}"
    );
    let (r, _) = run(&mut s, &e, "lookup", "SELECT COUNT(*) FROM boroughs");
    assert_eq!(r.rows, vec![vec![json!(7)]]);
}

#[test]
fn engine_errors_carry_their_kind() {
    let site = site(16);
    let (mut s, e, _) = open(&site);
    let (r, _) = run_with(
        &mut s,
        &e,
        "city",
        "SELECT SUM(length(note)) FROM trips",
        &Json::Null,
        Some(8 * 1024),
    );
    assert_eq!(r.unwrap_err().kind, ErrorKind::Budget);
    let (r, _) = run_with(&mut s, &e, "city", "SELEC 1", &Json::Null, None);
    assert_eq!(r.unwrap_err().kind, ErrorKind::Error);
}
