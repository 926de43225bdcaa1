//! The generator ↔ browser contract, checked on the demo site: the manifest parses with the
//! browser crate's types, parts re-joined as a reader would are exactly the logical files,
//! databases open with the schema the manifest claims, and the search pack opens as an index.

use std::path::{Path, PathBuf};
use std::process::Command;

use wasm_query::manifest::{Manifest, PackEntry};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The `content` of `<meta name=bake-manifest …>`, quoted or not (minified HTML drops quotes).
fn manifest_url(html: &str) -> String {
    let at = html.find("bake-manifest").expect("meta tag");
    let tag = &html[html[..at].rfind('<').unwrap()..at + html[at..].find('>').unwrap()];
    let value = tag[tag.find("content=").unwrap() + 8..].trim_start_matches('"');
    value[..value.find(['"', ' ', '>']).unwrap()].to_string()
}

/// The `href`s of a page's `<link rel=preload>` and `<link rel=modulepreload>`, in order.
fn preloads(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find("<link") {
        let tag = &rest[at..at + rest[at..].find('>').unwrap()];
        rest = &rest[at + tag.len()..];
        if !tag.contains("preload") {
            continue;
        }
        let value = tag[tag.find("href=").unwrap() + 5..].trim_start_matches('"');
        out.push(value[..value.find(['"', ' ', '>']).unwrap_or(value.len())].to_string());
    }
    out
}

/// The `content` of `<meta name=NAME …>` (minified: attributes sorted, quotes dropped).
fn meta(html: &str, name: &str) -> String {
    let at = html
        .find(&format!("name={name}>"))
        .unwrap_or_else(|| panic!("meta {name}"));
    let tag = &html[html[..at].rfind('<').unwrap()..at];
    let value = tag[tag.find("content=").unwrap() + 8..].trim_start_matches('"');
    value[..value.find(['"', ' ', '>']).unwrap_or(value.len())].to_string()
}

/// Re-joins a logical file from its parts, checking each part's length.
fn join(site: &Path, file: &wasm_query::manifest::LogicalFile) -> Vec<u8> {
    let mut bytes = Vec::new();
    for part in &file.parts {
        let data = std::fs::read(site.join(&part.url[1..])).unwrap();
        assert_eq!(data.len() as u64, part.length, "{}", part.url);
        assert_eq!(bytes.len() as u64, part.offset);
        bytes.extend(data);
    }
    assert_eq!(bytes.len() as u64, file.size);
    assert_eq!(blake3::hash(&bytes).to_hex().to_string(), file.hash);
    bytes
}

#[test]
fn demo_manifest_describes_the_files_exactly() {
    let out_dir = tempfile::tempdir().unwrap();
    let site = out_dir.path().join("site");
    // A small part size so the big database is split into many parts.
    let config_text = std::fs::read_to_string(repo_root().join("bake.toml"))
        .unwrap()
        .replace(
            "host = \"netlify\"",
            "host = \"netlify\"\npart_size = \"4MiB\"",
        );
    let config = repo_root().join("bake.manifest-test.toml");
    std::fs::write(&config, config_text).unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_bake"))
        .args(["build", "--quiet", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(&site)
        .status()
        .unwrap();
    std::fs::remove_file(&config).unwrap();
    assert!(status.success());

    let index = std::fs::read_to_string(site.join("index.html")).unwrap();
    let url = manifest_url(&index);
    assert!(
        url.starts_with("/_assets/manifest.") && url.ends_with(".json"),
        "{url}"
    );
    // Every page links the theme's icon (without one, browsers log a /favicon.ico 404).
    let at = index.find("rel=icon").expect("an icon link");
    let tag = &index[index[..at].rfind('<').unwrap()..at + index[at..].find('>').unwrap()];
    let href = tag[tag.find("href=").unwrap() + 5..]
        .split([' ', '>'])
        .next()
        .unwrap();
    assert!(
        href.starts_with("/_assets/favicon.") && href.ends_with(".svg"),
        "{tag}"
    );
    assert!(site.join(&href[1..]).is_file(), "{href}");
    // The web app manifest names the site as bake.toml does, with that icon.
    let app: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(site.join("bake.webmanifest")).unwrap())
            .unwrap();
    assert_eq!(app["name"], "A Field Guide to Web Architecture");
    assert_eq!(app["icons"][0]["src"], href);
    assert_eq!(app["start_url"], "/");
    // The device store's bound reaches the pages (`[offline] device_cache_mib`, default 256).
    assert!(
        index.contains("content=256 name=bake-device-cache-mib"),
        "{}",
        &index[..600]
    );
    // Every page points at the same manifest.
    let page = std::fs::read_to_string(site.join("caching/cache-control/index.html")).unwrap();
    assert_eq!(manifest_url(&page), url);

    let text = std::fs::read_to_string(site.join(&url[1..])).unwrap();
    let manifest = Manifest::from_json(&text).expect("manifest parses with the browser's types");
    assert_eq!(manifest.databases.len(), 2);

    for (name, db) in &manifest.databases {
        let file = &manifest.files[&db.file];
        assert_eq!(file.block_size, db.page_size);
        assert!(file.parts.iter().all(|p| p.length <= 4 * 1024 * 1024));
        assert!(file.parts.iter().all(|p| p.length % file.block_size as u64 == 0 || p.offset + p.length == file.size));
        let bytes = join(&site, file);
        assert_eq!(&bytes[..16], b"SQLite format 3\0");
        assert_eq!(
            (bytes[18], bytes[19]),
            (1, 1),
            "{name}: rollback-journal (DELETE) file format"
        );
        let tmp = out_dir.path().join(format!("{name}.sqlite"));
        std::fs::write(&tmp, &bytes).unwrap();
        let conn = rusqlite::Connection::open(&tmp).unwrap();
        let page_size: u32 = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .unwrap();
        assert_eq!(page_size, db.page_size);
        for t in &db.tables {
            let rows: i64 = conn
                .query_row(&format!("SELECT count(*) FROM \"{}\"", t.name), [], |r| {
                    r.get(0)
                })
                .unwrap();
            assert_eq!(rows as u64, t.rows, "{name}.{}", t.name);
        }
    }
    let nyc = &manifest.databases["nyc"];
    assert!(
        manifest.files["nyc.sqlite"].parts.len() > 5,
        "flights should span several 4 MiB parts"
    );
    let flights = nyc.tables.iter().find(|t| t.name == "flights").unwrap();
    assert_eq!(flights.rows, 336_776);
    assert!(
        flights
            .foreign_keys
            .iter()
            .any(|f| f.columns == ["carrier"] && f.table == "airlines" && f.to == ["carrier"])
    );
    assert!(
        flights
            .indexes
            .iter()
            .any(|i| i.columns == ["origin", "dest"])
    );
    let dep_delay = flights
        .columns
        .iter()
        .find(|c| c.name == "dep_delay")
        .unwrap();
    assert_eq!(dep_delay.sql_type, "INTEGER");
    let airports = nyc.tables.iter().find(|t| t.name == "airports").unwrap();
    assert_eq!(
        airports
            .columns
            .iter()
            .find(|c| c.name == "faa")
            .unwrap()
            .primary_key,
        1
    );
    let web = &manifest.databases["web"];
    let status = web
        .tables
        .iter()
        .find(|t| t.name == "http_status")
        .expect("table from the .sql script");
    assert_eq!(status.rows, 62);

    let search = manifest.search.as_ref().expect("search index");
    let pack = join(&site, &manifest.files[&search.file]);
    assert!(matches!(search.entries["meta.json"], PackEntry::Inline(_)));
    let index =
        bake::search::unpack(&pack, &search.entries).expect("pack opens as a tantivy index");
    assert_eq!(
        index.searchable_segment_ids().unwrap().len(),
        1,
        "merged to one segment"
    );
    let searcher = index.reader().unwrap().searcher();
    assert_eq!(searcher.num_docs(), search.documents);
    let schema = index.schema();
    let fields = ["title", "body"]
        .map(|f| schema.get_field(f).unwrap())
        .to_vec();
    let query = tantivy::query::QueryParser::for_index(&index, fields)
        .parse_query("stale-while-revalidate")
        .unwrap();
    let hits = searcher
        .search(
            &query,
            &tantivy::collector::TopDocs::with_limit(5).order_by_score(),
        )
        .unwrap();
    assert!(!hits.is_empty());
    let top: tantivy::TantivyDocument = searcher.doc(hits[0].1).unwrap();
    let url_field = schema.get_field("url").unwrap();
    let top_url = top
        .get_first(url_field)
        .and_then(|v| tantivy::schema::Value::as_str(&v))
        .unwrap()
        .to_string();
    assert_eq!(top_url, "/caching/stale-while-revalidate/");

    // The pages that will certainly run a module preload what its first call needs: the
    // Worker, the module's glue and wasm, the manifest and every part of its hot sidecars.
    // Other pages preload nothing (the header's search box loads search on first use).
    let sidecar_parts = |files: &[String]| -> Vec<String> {
        files
            .iter()
            .flat_map(|f| manifest.files[&format!("{f}.hot")].parts.iter())
            .map(|p| p.url.clone())
            .collect()
    };
    let search_page = std::fs::read_to_string(site.join("search/index.html")).unwrap();
    let mut want = vec![
        meta(&search_page, "bake-worker"),
        meta(&search_page, "bake-search-js"),
        meta(&search_page, "bake-search-wasm"),
        url.clone(),
    ];
    want.extend(sidecar_parts(std::slice::from_ref(&search.file)));
    assert_eq!(preloads(&search_page), want);
    let table_page = std::fs::read_to_string(site.join("tables/nyc/flights/index.html")).unwrap();
    let mut want = vec![
        meta(&table_page, "bake-worker"),
        meta(&table_page, "bake-sql-js"),
        meta(&table_page, "bake-sql-wasm"),
        url.clone(),
    ];
    let db_files: Vec<String> = manifest
        .databases
        .values()
        .map(|d| d.file.clone())
        .collect();
    want.extend(sidecar_parts(&db_files));
    assert!(want.len() > 5, "the databases have hot sidecars");
    assert_eq!(preloads(&table_page), want);
    assert_eq!(preloads(&page), Vec::<String>::new());

    let headers = std::fs::read_to_string(site.join("_headers")).unwrap();
    assert!(headers.contains("/_data/*\n  Cache-Control: public, max-age=31536000, immutable, no-transform\n  Content-Type: application/octet-stream"));
}
