use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::build::{PackedIndex, SearchDoc, build_index, unpack};
use super::*;
use crate::engine::{Engine, EngineConfig, shared};
use crate::fetch::{DirFetch, Fault, Faulty, Fetch, NetworkError, Request, Response};
use crate::manifest::{ByteRange, LogicalFile, MANIFEST_VERSION, PackEntry, SearchIndex};

const XSS: &str = r#"<img src=x onerror="window.__xss=1">"#;

fn page(title: &str, section: &str, tags: &[&str], headings: &str, body: &str) -> SearchDoc {
    SearchDoc {
        kind: "page",
        title: title.into(),
        headings: headings.into(),
        body: body.into(),
        sections: Vec::new(),
        url: format!("/{}/", title.to_lowercase().replace(' ', "-")),
        section: section.into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
    }
}

/// A corpus with hand-written pages and rows plus enough filler to span many pack blocks.
fn corpus() -> Vec<SearchDoc> {
    let mut docs = vec![
        page(
            "HTTP caching",
            "/caching/",
            &["http", "cdn"],
            "Freshness Validation",
            "Caching keeps a copy of a response so the next request is cheap. A CDN caches \
             responses at the edge; stale-while-revalidate serves a stale copy while it fetches \
             a fresh one.",
        ),
        page(
            "Cache-Control",
            "/caching/",
            &["http"],
            "Directives",
            "The Cache-Control header tells browsers and CDNs how long a response stays fresh: \
             max-age, no-store, immutable.",
        ),
        page(
            "Edge caches",
            "/networking/",
            &["cdn"],
            "Points of presence",
            "Edge servers near the user keep popular files. They cache by URL.",
        ),
        page(
            "Load balancers",
            "/networking/",
            &["http", "ops"],
            "Round robin",
            "A load balancer spreads requests over servers and checks their health.",
        ),
        page(
            "Search engines",
            "/search-engines/",
            &["search"],
            "Inverted index",
            "An inverted index maps every term to the documents that contain it; BM25 ranks \
             them. Tokenizers stem words so that indexing and indexes meet.",
        ),
        page(
            "Index inverted",
            "/search-engines/",
            &["search"],
            "",
            "This page says index inverted, in the wrong order for the phrase.",
        ),
        page(
            "Escaping output",
            "/security/",
            &["security"],
            "",
            &format!("Never trust text such as {XSS} & friends: escaping makes it harmless text."),
        ),
        SearchDoc {
            kind: "row",
            title: "JFK".into(),
            headings: String::new(),
            body: "John F Kennedy International Airport New York".into(),
            sections: Vec::new(),
            url: "/tables/nyc/airports/?rowid=1".into(),
            section: "/tables/nyc/airports/".into(),
            tags: vec![],
        },
        SearchDoc {
            kind: "row",
            title: "LGA airport".into(),
            headings: String::new(),
            body: String::new(),
            sections: Vec::new(),
            url: "/tables/nyc/airports/?rowid=2".into(),
            section: "/tables/nyc/airports/".into(),
            tags: vec![],
        },
    ];
    // Filler: pseudo-random words from a fixed vocabulary, so postings and the store span
    // many 16 KiB blocks and a search touches only some of them.
    let vocab: Vec<String> = (0..600).map(|i| format!("w{i:03}x")).collect();
    let mut seed = 42u64;
    let mut next = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    let sections = ["/a/", "/b/", "/c/", "/d/"];
    for i in 0..600 {
        let words: Vec<&str> = (0..150)
            .map(|_| vocab[next() % vocab.len()].as_str())
            .collect();
        docs.push(SearchDoc {
            kind: "page",
            title: format!("Note {i} {}", vocab[next() % vocab.len()]),
            headings: format!("{} {}", vocab[next() % 600], vocab[next() % 600]),
            body: words.join(" "),
            sections: Vec::new(),
            url: format!("/notes/{i}/"),
            section: sections[i % 4].into(),
            tags: if i % 3 == 0 {
                vec!["odd".into()]
            } else {
                vec![]
            },
        });
    }
    docs
}

/// The corpus, built once with the generator's recipe.
fn packed() -> &'static PackedIndex {
    static PACKED: std::sync::OnceLock<PackedIndex> = std::sync::OnceLock::new();
    PACKED.get_or_init(|| build_index(&corpus(), "en").unwrap())
}

const PART_BLOCKS: u64 = 8;

/// How the site ships the pack's hot ranges.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Hot {
    /// Not at all: tantivy reads them lazily.
    None,
    /// Listed in the manifest, fetched coalesced.
    Ranges,
    /// Listed, and their bytes in the sidecar `search.pack.hot`.
    Sidecar,
}

/// Writes `bytes` into `dir` as parts of `PART_BLOCKS` blocks; returns the logical file.
fn write_parts(dir: &std::path::Path, name: &str, bytes: &[u8]) -> LogicalFile {
    let part_len = (PART_BLOCKS * PACK_BLOCK_SIZE as u64) as usize;
    crate::test_support::write_parts(dir, name, bytes, PACK_BLOCK_SIZE, part_len)
}

/// A site folder holding the pack as parts (and the hot sidecar if asked), and its manifest.
fn site(p: &PackedIndex, hot: Hot) -> (tempfile::TempDir, Manifest) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("_data")).unwrap();
    let mut files = BTreeMap::new();
    let mut pack = write_parts(dir.path(), "search.pack", &p.pack);
    if hot != Hot::None {
        pack.hot = p.hot.clone();
    }
    if hot == Hot::Sidecar {
        let sidecar = write_parts(dir.path(), "search.pack.hot", &p.hot_sidecar());
        files.insert("search.pack.hot".to_string(), sidecar);
    }
    files.insert("search.pack".to_string(), pack);
    let manifest = Manifest {
        version: MANIFEST_VERSION,
        generator: "test".into(),
        files,
        databases: BTreeMap::new(),
        search: Some(SearchIndex {
            file: "search.pack".into(),
            entries: p.entries.clone(),
            documents: p.documents,
        }),
    };
    manifest.validate().unwrap();
    (dir, manifest)
}

fn engine_over(fetch: impl Fetch + Send + 'static, m: &Manifest) -> SharedEngine {
    shared(Engine::new(
        Box::new(fetch) as Box<dyn Fetch + Send>,
        m,
        EngineConfig::default(),
    ))
}

fn ram_session() -> SearchSession {
    let p = packed();
    SearchSession::from_index(unpack(&p.pack, &p.entries).unwrap()).unwrap()
}

fn opts() -> SearchOptions {
    SearchOptions::default()
}

/// The queries both directories must answer identically.
fn queries() -> Vec<(&'static str, SearchOptions)> {
    vec![
        ("caching", opts()),
        ("cache", opts()),
        ("\"inverted index\"", opts()),
        ("stale-while-revalidate", opts()),
        (
            "http",
            SearchOptions {
                section: Some("/caching/".into()),
                ..opts()
            },
        ),
        (
            "cache",
            SearchOptions {
                tags: vec!["http".into(), "cdn".into()],
                ..opts()
            },
        ),
        (
            "airport",
            SearchOptions {
                kind: Some("row".into()),
                ..opts()
            },
        ),
        ("w001x w002x", opts()),
        (
            "w010x",
            SearchOptions {
                limit: 5,
                offset: 3,
                ..opts()
            },
        ),
        (
            "w011x",
            SearchOptions {
                tags: vec!["odd".into()],
                section: Some("/a/".into()),
                ..opts()
            },
        ),
        ("zzzznotaword", opts()),
        ("the a of", opts()),
        ("!!! ... ??? -- \"\"", opts()),
        ("title:cache AND (edge OR [a TO z] ^2 *", opts()),
        ("escaping", opts()),
        // Typos, completion of the last word, and the same with `exact`.
        ("load balancr", opts()),
        ("helth", opts()),
        ("balan", opts()),
        (
            "balan",
            SearchOptions {
                exact: true,
                ..opts()
            },
        ),
    ]
}

fn titles(r: &SearchResults) -> Vec<&str> {
    r.hits.iter().map(|h| h.title.as_str()).collect()
}

#[test]
fn pack_directory_answers_exactly_like_a_ram_directory() {
    let p = packed();
    let (dir, m) = site(p, Hot::Sidecar);
    let pack_session = SearchSession::open(engine_over(DirFetch::new(dir.path()), &m), &m).unwrap();
    let ram = ram_session();
    assert_eq!(pack_session.documents(), p.documents);
    for (q, o) in queries() {
        let a = pack_session.search(q, &o).unwrap();
        let b = ram.search(q, &o).unwrap();
        assert_eq!(a, b, "query {q:?} {o:?}");
    }
}

#[test]
fn query_semantics() {
    let s = ram_session();
    let search = |q: &str, o: SearchOptions| s.search(q, &o).unwrap();

    // Stemming: "caching" finds "caches" and "cache"; the title match ranks first.
    let r = search("caching", opts());
    assert_eq!(
        titles(&r),
        ["HTTP caching", "Edge caches", "Cache-Control"],
        "{r:#?}"
    );
    assert_eq!(r.total, 3);
    assert_eq!(titles(&search("cache", opts())), titles(&r));

    // All terms required.
    assert_eq!(titles(&search("cache edge url", opts())), ["Edge caches"]);
    // A phrase needs its words in order; the words alone match both pages.
    assert_eq!(
        titles(&search("\"inverted index\"", opts())),
        ["Search engines"]
    );
    assert_eq!(search("inverted index", opts()).total, 2);
    // A hyphenated word is a phrase.
    assert_eq!(
        titles(&search("stale-while-revalidate", opts())),
        ["HTTP caching"]
    );

    // Filters.
    let in_caching = SearchOptions {
        section: Some("/caching/".into()),
        ..opts()
    };
    assert_eq!(
        titles(&search("http", in_caching.clone())),
        ["HTTP caching"]
    );
    assert_eq!(search("cache", in_caching).total, 2);
    let both_tags = SearchOptions {
        tags: vec!["http".into(), "cdn".into()],
        ..opts()
    };
    assert_eq!(titles(&search("cache", both_tags)), ["HTTP caching"]);
    let rows = SearchOptions {
        kind: Some("row".into()),
        ..opts()
    };
    let r = search("airport", rows);
    assert_eq!(r.total, 2);
    assert!(r.hits.iter().all(|h| h.kind == "row"), "{r:#?}");
    // Filters do not change scores.
    let plain = search("cache", opts());
    let filtered = search(
        "cache",
        SearchOptions {
            section: Some("/networking/".into()),
            ..opts()
        },
    );
    let edge = |r: &SearchResults| {
        r.hits
            .iter()
            .find(|h| h.title == "Edge caches")
            .unwrap()
            .score
    };
    assert_eq!(edge(&plain), edge(&filtered));
    // Empty filter strings are no filters.
    let empty = SearchOptions {
        section: Some(String::new()),
        kind: Some(String::new()),
        tags: vec![String::new()],
        ..opts()
    };
    assert_eq!(search("cache", empty), plain);

    // Paging: total counts all matches; offset/limit cut the ranked list.
    let all = search(
        "w010x",
        SearchOptions {
            limit: 100,
            ..opts()
        },
    );
    assert!(all.total > 20, "{}", all.total);
    assert_eq!(all.hits.len(), all.total.min(100));
    let page = search(
        "w010x",
        SearchOptions {
            limit: 5,
            offset: 3,
            ..opts()
        },
    );
    assert_eq!(page.total, all.total);
    assert_eq!(page.hits, all.hits[3..8]);
    assert_eq!(search("w010x", opts()).hits.len(), 10, "limit 0 means 10");

    // Nothing the user types is an error; nothing searchable matches nothing.
    for q in [
        "",
        "   ",
        "!!! ... ??? -- \"\"",
        "\"",
        "title:cache AND (edge OR [a TO z] ^2 *",
        "zzzznotaword",
        "cache zzzznotaword",
        "the a of",
    ] {
        let r = s.search(q, &opts()).unwrap();
        if q.contains("zzzz") || !q.chars().any(char::is_alphanumeric) {
            assert_eq!(r.total, 0, "{q:?}");
            assert!(r.hits.is_empty());
        }
    }
    // Row without a body: empty snippet.
    let lga = search("lga", opts());
    assert_eq!(titles(&lga), ["LGA airport"]);
    assert_eq!(lga.hits[0].snippet, "");
    assert_eq!(lga.hits[0].url, "/tables/nyc/airports/?rowid=2");
    assert_eq!(lga.hits[0].section, "/tables/nyc/airports/");
}

/// Everything in a snippet outside `<mark>` tags must be inert text.
fn assert_inert(snippet: &str) {
    let bare = snippet.replace("<mark>", "").replace("</mark>", "");
    for c in ['<', '>', '"', '\''] {
        assert!(!bare.contains(c), "{c} in {snippet}");
    }
    assert!(!snippet.contains("<img"), "{snippet}");
}

#[test]
fn snippets_mark_terms_and_escape_everything_else() {
    let s = ram_session();
    let r = s.search("escaping", &opts()).unwrap();
    assert_eq!(titles(&r), ["Escaping output"]);
    let snippet = &r.hits[0].snippet;
    assert!(snippet.contains("<mark>escaping</mark>"), "{snippet}");
    assert!(
        snippet.contains("&lt;img src=x onerror=&quot;window.__xss=1&quot;&gt; &amp; friends"),
        "{snippet}"
    );
    assert_inert(snippet);
    // The payload itself as the query: its words are marked, the markup stays escaped.
    let r = s.search(XSS, &opts()).unwrap();
    assert_eq!(titles(&r), ["Escaping output"]);
    assert!(r.hits[0].snippet.contains("<mark>"), "{:?}", r.hits[0]);
    assert_inert(&r.hits[0].snippet);
    // A title-only match gets the start of the body, escaped just the same.
    let r = s.search("output", &opts()).unwrap();
    assert_eq!(titles(&r), ["Escaping output"]);
    assert!(
        r.hits[0]
            .snippet
            .starts_with("Never trust text such as &lt;img")
    );
    assert_inert(&r.hits[0].snippet);
    // Marks in body snippets; the title stays plain text in its own field.
    let r = s.search("caching", &opts()).unwrap();
    assert!(r.hits[0].snippet.contains("<mark>Caching</mark>"), "{r:#?}");
    assert!(
        r.hits
            .iter()
            .all(|h| h.snippet.chars().count() <= SNIPPET_CHARS + 30)
    );
}

#[test]
fn escaping_and_marking_helpers() {
    assert_eq!(
        escape_html(r#"<a href="x" title='y'>&</a>"#),
        "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
    );
    assert_eq!(
        mark_html("a <b> c", &[0..1, 6..7]),
        "<mark>a</mark> &lt;b&gt; <mark>c</mark>"
    );
    // Overlapping and out-of-range marks never produce broken markup.
    assert_eq!(
        mark_html("héllo", &[0..2, 1..3, 4..99]),
        "<mark>hé</mark>l<mark>lo</mark>"
    );
    let inside_e = 2..4;
    assert_eq!(mark_html("héllo", &[inside_e]), "héllo", "2 is inside é");
    assert_eq!(lead("short", 10), "short");
    assert_eq!(lead("one two three four", 12), "one two…");
    let texts: Vec<&str> = split_query(r#" a "b c"d "e"#)
        .iter()
        .map(|p| p.text)
        .collect();
    assert_eq!(texts, vec!["a", "b c", "d", "e"]);
}

/// Requests for: opening, a cold search, a different cold search, a warm repeat.
fn request_counts(hot: Hot) -> [u64; 4] {
    let p = packed();
    let (dir, m) = site(p, hot);
    let engine = engine_over(DirFetch::new(dir.path()), &m);
    let requests = |f: &mut dyn FnMut()| {
        engine.lock().unwrap().begin_query(None);
        f();
        engine.lock().unwrap().query_stats().requests
    };
    let mut session = None;
    let open = requests(&mut || session = Some(SearchSession::open(engine.clone(), &m).unwrap()));
    let s = session.unwrap();
    let cold = requests(&mut || {
        s.search("caching", &opts()).unwrap();
    });
    let other = requests(&mut || {
        s.search("w123x w321x", &opts()).unwrap();
    });
    let warm = requests(&mut || {
        s.search("caching", &opts()).unwrap();
        s.search("w123x w321x", &opts()).unwrap();
    });
    [open, cold, other, warm]
}

#[test]
fn request_counts_cold_and_warm() {
    let p = packed();
    let hot_bytes: u64 = p.hot.iter().map(|r| r.length).sum();
    let counts = [Hot::Sidecar, Hot::Ranges, Hot::None].map(request_counts);
    println!(
        "pack {} bytes, {} docs; hot: {} ranges, {} bytes: {:?}",
        p.pack.len(),
        p.documents,
        p.hot.len(),
        hot_bytes,
        p.hot
    );
    println!("requests [open, cold search, second cold search, warm repeat]");
    println!("  hot sidecar:        {:?}", counts[0]);
    println!("  hot ranges only:    {:?}", counts[1]);
    println!("  no hot ranges:      {:?}", counts[2]);
    for c in counts {
        assert_eq!(c[3], 0, "a warm repeat costs no request: {c:?}");
    }
    assert_eq!(counts[0][0], 1, "with the sidecar, opening is one request");
    assert!(counts[1][0] <= p.hot.len() as u64 + 1, "{counts:?}");
    assert!(
        hot_bytes < p.pack.len() as u64 / 2,
        "hot is a small part of the pack"
    );
}

#[test]
fn hot_ranges_are_reproducible_and_inside_the_pack() {
    let p = packed();
    let again = build_index(&corpus(), "en").unwrap();
    assert_eq!(again.pack, p.pack);
    assert_eq!(again.hot, p.hot);
    assert!(!p.hot.is_empty());
    let bs = PACK_BLOCK_SIZE as u64;
    let size = p.pack.len() as u64;
    for r in &p.hot {
        assert_eq!(r.offset % bs, 0, "{r:?}");
        assert!(r.length % bs == 0 || r.offset + r.length == size, "{r:?}");
        assert!(r.offset + r.length <= size);
    }
    // Every byte opening reads is inside the hot blocks.
    let exact = super::build::record_hot_ranges(&p.pack, &p.entries).unwrap();
    for e in &exact {
        assert!(
            p.hot
                .iter()
                .any(|h| h.offset <= e.offset && e.offset + e.length <= h.offset + h.length),
            "{e:?}"
        );
    }
}

#[test]
fn ranges_widen_to_whole_blocks() {
    use super::build::whole_blocks;
    let r = |offset, length| ByteRange { offset, length };
    assert_eq!(
        whole_blocks(
            &[r(150, 10), r(5, 10), r(95, 10), r(250, 0), r(390, 5)],
            100,
            395
        ),
        vec![r(0, 200), r(300, 95)]
    );
}

/// A fetcher the test can still reach after handing it to the engine.
struct Shared(Arc<Mutex<Faulty<DirFetch>>>);

impl Fetch for Shared {
    fn fetch(&self, req: &Request) -> Result<Response, NetworkError> {
        self.0.lock().unwrap().fetch(req)
    }
    fn sleep_ms(&self, ms: u32) {
        self.0.lock().unwrap().sleep_ms(ms)
    }
}

#[test]
fn a_dropped_request_is_retried() {
    let p = packed();
    let (dir, m) = site(p, Hot::None);
    let f = Faulty::new(DirFetch::new(dir.path()));
    f.then(Fault::Drop).then(Fault::Status(503));
    let engine = engine_over(f, &m);
    let s = SearchSession::open(engine.clone(), &m).unwrap();
    assert_eq!(engine.lock().unwrap().total_stats().retries, 2);
    assert_eq!(
        s.search("caching", &opts()).unwrap(),
        ram_session().search("caching", &opts()).unwrap()
    );
}

#[test]
fn a_compressed_answer_is_a_clear_error() {
    let p = packed();
    let (dir, m) = site(p, Hot::Sidecar);
    // While opening.
    let f = Faulty::new(DirFetch::new(dir.path()));
    f.always(Some(Fault::Compress));
    let err = SearchSession::open(engine_over(f, &m), &m).unwrap_err();
    assert!(err.contains("compressed (gzip)"), "{err}");
    assert!(
        !err.contains("Custom {"),
        "readable, not a Debug dump: {err}"
    );

    // While searching, without hot ranges so the search must fetch; then it recovers.
    let (dir, m) = site(p, Hot::None);
    let faulty = Arc::new(Mutex::new(Faulty::new(DirFetch::new(dir.path()))));
    let engine = engine_over(Shared(faulty.clone()), &m);
    let s = SearchSession::open(engine, &m).unwrap();
    faulty.lock().unwrap().always(Some(Fault::Compress));
    // Filler words: their postings and stored hits lie outside what opening fetched.
    let err = s.search("w123x w321x", &opts()).unwrap_err();
    println!("compressed answer while searching: {err}");
    assert!(
        err.starts_with("the host sent /_data/search.pack."),
        "{err}"
    );
    assert!(err.contains("compressed (gzip)"), "{err}");
    faulty.lock().unwrap().always(None);
    assert_eq!(
        s.search("w123x w321x", &opts()).unwrap(),
        ram_session().search("w123x w321x", &opts()).unwrap()
    );
}

#[test]
fn the_budget_error_reaches_the_caller() {
    let p = packed();
    let (dir, m) = site(p, Hot::None);
    let engine = engine_over(DirFetch::new(dir.path()), &m);
    let s = SearchSession::open(engine.clone(), &m).unwrap();
    engine.lock().unwrap().begin_query(Some(1));
    let err = s.search("w001x", &opts()).unwrap_err();
    assert!(err.contains("higher limit"), "{err}");
}

#[test]
fn a_manifest_without_search_is_refused() {
    let p = packed();
    let (dir, mut m) = site(p, Hot::None);
    m.search = None;
    let err = SearchSession::open(engine_over(DirFetch::new(dir.path()), &m), &m).unwrap_err();
    assert_eq!(err, "this site has no search index");
}

#[test]
fn the_directory_is_read_only() {
    use std::path::Path;
    use tantivy::Directory;
    let p = packed();
    let (dir, m) = site(p, Hot::None);
    let d = PackDirectory::new(
        engine_over(DirFetch::new(dir.path()), &m),
        m.search.as_ref().unwrap(),
    );
    assert!(d.exists(Path::new("meta.json")).unwrap());
    assert!(!d.exists(Path::new("nope")).unwrap());
    assert!(d.atomic_read(Path::new("nope")).is_err());
    assert!(d.atomic_write(Path::new("meta.json"), b"{}").is_err());
    assert!(d.open_write(Path::new("x")).is_err());
    assert!(d.delete(Path::new("meta.json")).is_err());
    assert!(d.sync_directory().is_ok());
    let meta = d.atomic_read(Path::new("meta.json")).unwrap();
    assert!(String::from_utf8(meta).unwrap().contains("segments"));
    // A range entry read whole equals the pack's bytes.
    let (name, r) = p
        .entries
        .iter()
        .find_map(|(n, e)| match e {
            PackEntry::Range(r) => Some((n, *r)),
            PackEntry::Inline(_) => None,
        })
        .unwrap();
    assert_eq!(
        d.atomic_read(Path::new(name)).unwrap(),
        p.pack[r.offset as usize..(r.offset + r.length) as usize]
    );
}

#[test]
fn corrupted_bytes_are_blamed_on_the_host() {
    let p = packed();
    let (dir, m) = site(p, Hot::None);
    let faulty = Arc::new(Mutex::new(Faulty::new(DirFetch::new(dir.path()))));
    let engine = engine_over(Shared(faulty.clone()), &m);
    let s = SearchSession::open(engine, &m).unwrap();
    // Same length, so every header check passes; tantivy finds the bytes make no sense.
    faulty.lock().unwrap().always(Some(Fault::Corrupt));
    let err = s.search("w123x w321x", &opts()).unwrap_err();
    assert!(
        err.contains("the host served a corrupted or stale copy of /_data/search.pack.")
            && err.contains("reload"),
        "{err}"
    );
    faulty.lock().unwrap().always(None);
    assert_eq!(
        s.search("w123x w321x", &opts()).unwrap(),
        ram_session().search("w123x w321x", &opts()).unwrap()
    );
}

/// Text with stems, punctuation, case, non-ASCII letters and over-long tokens.
const TOKENIZER_SAMPLE: &str = "Caching keeps copies: CDNs cached responses; stale-while-revalidate re-validation. Running runners ran generously \"quoted\" HTTP/2 TCP_NODELAY naïve Café Straße ÉCOLE 3.14 don't Anthropic's a_b_c 日本語 ЧЕЛОВЕК connections agreement fruitlessly pneumonoultramicroscopicsilicovolcanoconiosis-x xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx y";

/// `position:text:from-to` of every token the analyzer gives for `text`.
fn token_list(mut analyzer: tantivy::tokenizer::TextAnalyzer, text: &str) -> Vec<String> {
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        let t = stream.token();
        out.push(format!(
            "{}:{}:{}-{}",
            t.position, t.text, t.offset_from, t.offset_to
        ));
    }
    out
}

#[test]
fn the_english_tokenizer_is_tantivys_en_stem_with_stop_words_and_cjk_bigrams() {
    // Recorded with tantivy 0.27's built-in `en_stem` (feature `stemmer`), which bake used
    // before it analysed by language — except that a CJK run (日本語) is cut into bigrams
    // (日本, 本語), which shifts the positions after it by one, and that English stop words
    // go (the `a` at 30).
    let expected = [
        "0:cach:0-7 1:keep:8-13 2:copi:14-20 3:cdns:22-26 4:cach:27-33 5:respons:34-43 ",
        "6:stale:45-50 7:while:51-56 8:revalid:57-67 9:re:68-70 10:valid:71-81 ",
        "11:run:83-90 12:runner:91-98 13:ran:99-102 14:generous:103-113 15:quot:115-121 ",
        "16:http:123-127 17:2:128-129 18:tcp:130-133 19:nodelay:134-141 20:naïv:142-148 ",
        "21:café:149-154 22:straße:155-162 23:école:163-169 24:3:170-171 25:14:172-174 ",
        "26:don:175-178 27:t:179-180 28:anthrop:181-190 29:s:191-192 ",
        "31:b:195-196 32:c:197-198 33:日本:199-205 34:本語:202-208 35:человек:209-223 ",
        "36:connect:224-235 37:agreement:236-245 38:fruitless:246-257 40:x:304-305 ",
        "42:y:347-348",
    ]
    .concat();
    assert_eq!(
        token_list(
            tokenizer::Analysis::for_language("en").analyzer(),
            TOKENIZER_SAMPLE
        )
        .join(" "),
        expected
    );
}

/// French text: plurals, verb forms, elision, accents and stop words.
const FRENCH_SAMPLE: &str = "Les chevaux continuent leur course; nous continuerons à courir. L'éducation des enfants et les mémoires de l'été: une maison, des maisons.";

#[test]
fn generator_and_browser_tokenize_alike() {
    for (language, text) in [
        ("en", TOKENIZER_SAMPLE),
        ("fr", FRENCH_SAMPLE),
        ("zz", TOKENIZER_SAMPLE),
    ] {
        tokenize_alike(language, text);
    }
}

/// The browser's analysis (no stemmer, the generator's table) gives the terms the
/// generator's (the Snowball stemmer of `language`) indexed.
fn tokenize_alike(language: &str, text: &str) {
    let p = build_index(&[page("Sample", "/", &[], "", text)], language).unwrap();
    // The terms the generator's index holds for the body…
    let index = unpack(&p.pack, &p.entries).unwrap();
    let body = index.schema().get_field("body").unwrap();
    let searcher = index.reader().unwrap().searcher();
    let inverted = searcher.segment_reader(0).inverted_index(body).unwrap();
    let mut stream = inverted.terms().stream().unwrap();
    let mut indexed = Vec::new();
    while stream.advance() {
        indexed.push(String::from_utf8(stream.key().to_vec()).unwrap());
    }
    // …are exactly the tokens the browser's session makes of the same text, opened over the
    // pack as the Worker opens it.
    let (dir, m) = site(&p, Hot::Sidecar);
    let session = SearchSession::open(engine_over(DirFetch::new(dir.path()), &m), &m).unwrap();
    let analyzer = session
        .index
        .tokenizer_for_field(session.fields.body)
        .unwrap();
    let mut queried: Vec<String> = token_list(analyzer, text)
        .iter()
        .map(|t| t.split(':').nth(1).unwrap().to_string())
        .collect();
    queried.sort();
    queried.dedup();
    assert_eq!(indexed, queried, "{language}");
    let mut native: Vec<String> =
        token_list(tokenizer::Analysis::for_language(language).analyzer(), text)
            .iter()
            .map(|t| t.split(':').nth(1).unwrap().to_string())
            .collect();
    native.sort();
    native.dedup();
    assert_eq!(indexed, native, "{language}");
}

#[test]
fn the_sites_language_picks_the_stemmer_and_the_stop_words() {
    let session = |language: &str, text: &str| {
        let p = build_index(&[page("Sample", "/", &[], "", text)], language).unwrap();
        let (dir, m) = site(&p, Hot::Sidecar);
        (
            SearchSession::open(engine_over(DirFetch::new(dir.path()), &m), &m).unwrap(),
            dir,
        )
    };
    let total = |s: &SearchSession, q: &str| {
        s.search(
            q,
            &SearchOptions {
                exact: true,
                ..opts()
            },
        )
        .unwrap()
        .total
    };
    let (en, _d1) = session("en-US", TOKENIZER_SAMPLE);
    // A form in the text, and one in no document, find the page through the stem.
    assert_eq!(total(&en, "cached"), 1);
    assert_eq!(total(&en, "caches"), 1);
    // Stop words are not in the index, and a query leaves them out ("a" is in the text)…
    assert_eq!(total(&en, "a running"), 1);
    // … but only those of the text: the generator cannot list tantivy's, so a stop word in
    // no document is an absent word, as in the native session.
    assert_eq!(total(&en, "the running"), 0);
    // French: two pages with other forms of the same words.
    let p = build_index(
        &[
            page(
                "Course",
                "/a/",
                &[],
                "",
                "Les chevaux vont continuer leur course.",
            ),
            page(
                "Maisons",
                "/b/",
                &[],
                "",
                "Nous continuerons à courir vers les maisons du cheval.",
            ),
        ],
        "fr-FR",
    )
    .unwrap();
    let (dir, m) = site(&p, Hot::Sidecar);
    let fr = SearchSession::open(engine_over(DirFetch::new(dir.path()), &m), &m).unwrap();
    assert_eq!(total(&fr, "continuerons"), 2, "continuerons ~ continuer");
    assert_eq!(total(&fr, "cheval"), 2, "cheval ~ chevaux");
    // In no document as written, but the stem of one (maisons).
    assert_eq!(total(&fr, "maison"), 1);
    assert_eq!(total(&fr, "les continuer"), 2, "les is a stop word");
    // Without a stemmer for the language, words match only as written.
    let (none, _d3) = session("zz", FRENCH_SAMPLE);
    drop(dir);
    assert_eq!(total(&none, "maison"), 1);
    assert_eq!(total(&none, "continuons"), 0);
    assert_eq!(total(&none, "les"), 1, "no stop words either");
    assert_eq!(
        total(&fr, "les"),
        0,
        "a query of stop words alone finds nothing"
    );
}

/// A page of hits from all over a small doc store: the store comes in one request, not one
/// per store block the hits lie in.
#[test]
fn a_page_of_hits_reads_a_small_store_in_one_request() {
    // Pseudo-random words (the store must not compress to one block); every 30th page also
    // holds `needle`: ten hits spread over the whole store.
    let mut seed = 7u64;
    let mut word = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        format!("r{}z", (seed >> 33) % 5000)
    };
    let docs: Vec<SearchDoc> = (0..300)
        .map(|i| {
            let mut words: Vec<String> = (0..100).map(|_| word()).collect();
            // Counts that differ, so the best hits are not in store order.
            if i % 30 == 0 {
                words.extend((0..1 + (i * 7) % 5).map(|_| "needle".to_string()));
            }
            SearchDoc {
                kind: "page",
                title: format!("Page {i}"),
                headings: String::new(),
                body: words.join(" "),
                sections: Vec::new(),
                url: format!("/p/{i}/"),
                section: "/p/".into(),
                tags: vec![],
            }
        })
        .collect();
    let p = build_index(&docs, "en").unwrap();
    let (dir, m) = site(&p, Hot::Sidecar);
    let engine = engine_over(DirFetch::new(dir.path()), &m);
    let s = SearchSession::open(engine.clone(), &m).unwrap();
    let store = m
        .search
        .as_ref()
        .unwrap()
        .entries
        .iter()
        .find_map(|(n, e)| match e {
            PackEntry::Range(r) if n.ends_with(".store") => Some(*r),
            _ => None,
        });
    let store = store.unwrap();
    let bs = PACK_BLOCK_SIZE as u64;
    assert!(
        store.length > 3 * bs,
        "the store spans several blocks: {store:?}"
    );
    engine.lock().unwrap().begin_query(None);
    let r = s.search("needle", &opts()).unwrap();
    assert_eq!(r.hits.len(), 10, "{}", r.total);
    let st = engine.lock().unwrap().query_stats();
    // The term's postings (its dictionary block is hot), then the whole store: two. Read as
    // tantivy asks, block by block, the hits' four store blocks took three.
    assert!(st.requests <= 2, "{st:?} store {store:?}");
}

// ---- forgiving search: typos, completion, sub-results, facets ------------------------------

/// A session over `docs` built with the generator's recipe.
fn session_of(docs: &[SearchDoc]) -> SearchSession {
    let p = build_index(docs, "en").unwrap();
    SearchSession::from_index(unpack(&p.pack, &p.entries).unwrap()).unwrap()
}

fn urls(r: &SearchResults) -> Vec<&str> {
    r.hits.iter().map(|h| h.url.as_str()).collect()
}

#[test]
fn a_typo_finds_the_word_meant_and_says_what_was_searched() {
    let s = ram_session();
    let r = s.search("load balancr", &opts()).unwrap();
    assert_eq!(titles(&r), ["Load balancers"], "{r:#?}");
    assert_eq!(r.corrected.as_deref(), Some("load balancer"));
    // A transposition is one edit.
    let r = s.search("heatlh", &opts()).unwrap();
    assert_eq!(titles(&r), ["Load balancers"]);
    assert_eq!(r.corrected.as_deref(), Some("health"));
    // Quoted phrases stay as typed, and are shown quoted.
    let r = s.search("\"inverted index\" tokenizrs", &opts()).unwrap();
    assert_eq!(titles(&r), ["Search engines"]);
    assert_eq!(
        r.corrected.as_deref(),
        Some("\"inverted index\" tokenizers")
    );
    // Words spelled right are not "corrected"; nothing near means nothing found.
    assert_eq!(s.search("health", &opts()).unwrap().corrected, None);
    let r = s.search("qqqqqq", &opts()).unwrap();
    assert_eq!((r.total, r.corrected), (0, None));
    // Short words are never corrected (too many near words): "helo" is 1 edit from nothing
    // here, "hel" is not even tried.
    assert_eq!(s.search("hel ", &opts()).unwrap().total, 0);
}

#[test]
fn two_edits_are_forgiven_only_in_long_words() {
    let s = ram_session();
    // "revalidate" (10 letters) with 2 edits.
    let r = s.search("stale revalidtae ", &opts()).unwrap();
    assert_eq!(titles(&r), ["HTTP caching"], "{r:#?}");
    // "health" (6 letters) with 2 edits is too far.
    assert_eq!(s.search("hleath ", &opts()).unwrap().total, 0);
}

#[test]
fn exact_turns_correction_and_completion_off() {
    let s = ram_session();
    let exact = SearchOptions {
        exact: true,
        ..opts()
    };
    let r = s.search("load balancr", &exact).unwrap();
    assert_eq!((r.total, r.corrected), (0, None));
    assert_eq!(s.search("balan", &exact).unwrap().total, 0);
    assert_eq!(s.search("balan", &opts()).unwrap().total, 1);
}

#[test]
fn the_last_word_completes_while_it_is_being_typed() {
    let s = ram_session();
    let r = s.search("balan", &opts()).unwrap();
    assert_eq!(titles(&r), ["Load balancers"]);
    assert_eq!(r.corrected, None, "a completion is not a correction");
    // "inver" completes to "inverted": both pages that hold it.
    assert_eq!(s.search("index inver", &opts()).unwrap().total, 2);
    // A space after it: the word is finished, and nothing is called "balan".
    assert_eq!(s.search("balan ", &opts()).unwrap().total, 0);
    // Only the last word completes.
    assert_eq!(s.search("balan health", &opts()).unwrap().total, 0);
    // A quoted last word is exact.
    assert_eq!(s.search("\"balan", &opts()).unwrap().total, 0);
}

#[test]
fn a_match_as_typed_ranks_above_a_correction() {
    let doc = |i: usize, body: &str| SearchDoc {
        kind: "page",
        title: format!("Page {i}"),
        headings: String::new(),
        body: body.into(),
        sections: Vec::new(),
        url: format!("/p{i}/"),
        section: "/".into(),
        tags: vec![],
    };
    // "colour" is in one page (rare), "color" in three: both are searched, the page that
    // says "colour" comes first, and nothing was "corrected".
    let s = session_of(&[
        doc(1, "color theory color wheels color"),
        doc(2, "color theory"),
        doc(3, "colour theory"),
        doc(4, "color again"),
    ]);
    let r = s.search("colour ", &opts()).unwrap();
    assert_eq!(r.total, 4);
    assert_eq!(urls(&r)[0], "/p3/", "{r:#?}");
    assert_eq!(r.corrected, None);
}

fn sectioned_page() -> SearchDoc {
    let body = "Caches keep copies. Freshness Max-age keeps a copy fresh for a while. \
                Validation An ETag lets a cache revalidate; ETag values are opaque. \
                Purging Purge removes copies from every cache.";
    let at = |heading: &str| body.find(heading).unwrap();
    let mark = |heading: &str, anchor: &str| build::SectionMark {
        offset: at(heading),
        anchor: anchor.into(),
        title: heading.into(),
    };
    SearchDoc {
        kind: "page",
        title: "HTTP caching".into(),
        headings: "Freshness Validation Purging".into(),
        body: body.into(),
        sections: vec![
            mark("Freshness", "freshness"),
            mark("Validation", "validation"),
            mark("Purging", "purging"),
        ],
        url: "/caching/".into(),
        section: "/".into(),
        tags: vec![],
    }
}

#[test]
fn a_hit_names_its_best_section_matching_sections_and_words() {
    let s = session_of(&[sectioned_page()]);
    let r = s.search("etag", &opts()).unwrap();
    let hit = &r.hits[0];
    assert_eq!(hit.anchor, "validation");
    assert_eq!(hit.words, ["etag"]);
    assert_eq!(hit.sub_results.len(), 1, "{hit:#?}");
    let sub = &hit.sub_results[0];
    assert_eq!(
        (sub.title.as_str(), sub.anchor.as_str()),
        ("Validation", "validation")
    );
    assert!(sub.snippet.contains("<mark>ETag</mark>"), "{}", sub.snippet);
    assert!(
        !sub.snippet.contains("Purge"),
        "a section's snippet stays in it: {}",
        sub.snippet
    );

    // "cache" is in the intro and three sections: the sub-results are in page order, and
    // the words are as written (lower case), each once.
    let r = s.search("cache", &opts()).unwrap();
    let hit = &r.hits[0];
    let anchors: Vec<&str> = hit.sub_results.iter().map(|s| s.anchor.as_str()).collect();
    assert_eq!(anchors, ["validation", "purging"]);
    assert_eq!(hit.words, ["caching", "caches", "cache"]);
    // One match each in the intro, Validation and Purging: the earliest wins.
    assert_eq!(hit.anchor, "", "{hit:#?}");

    // "keep" in the intro and in Freshness: the page opens at the top, and the intro, which
    // has no heading, is not a sub-result.
    let r = s.search("keep", &opts()).unwrap();
    assert_eq!(r.hits[0].anchor, "");
    let anchors: Vec<&str> = r.hits[0]
        .sub_results
        .iter()
        .map(|s| s.anchor.as_str())
        .collect();
    assert_eq!(anchors, ["freshness"]);
    // Rows and pages without headings have neither.
    let r = ram_session().search("airport", &opts()).unwrap();
    assert!(
        r.hits
            .iter()
            .all(|h| h.anchor.is_empty() && h.sub_results.is_empty())
    );
}

#[test]
fn stored_sections_that_make_no_sense_are_skipped() {
    let parsed = |stored: &str, len: usize| -> Vec<(usize, usize, String)> {
        parse_sections(stored, len)
            .into_iter()
            .map(|s| (s.start, s.end, s.anchor.to_string()))
            .collect()
    };
    assert_eq!(
        parsed("0\ta\tA\n5\tb\tB\n", 10),
        [(0, 5, "a".into()), (5, 10, "b".into())]
    );
    // Past the end, going backwards, not a number, too few fields: skipped.
    assert_eq!(
        parsed("4\ta\tA\n99\tx\tX\n2\ty\tY\nzz\tz\tZ\n6\tq\n8\tb\tB", 10),
        [(4, 8, "a".into()), (8, 10, "b".into())]
    );
}

#[test]
fn facet_counts_equal_counts_over_the_documents() {
    let s = ram_session();
    let docs = corpus();
    for (q, o) in queries() {
        let r = s.search(q, &o).unwrap();
        let kinds: usize = r.facets.kind.iter().map(|c| c.count).sum();
        assert_eq!(kinds, r.total, "every match has one kind: {q:?}");
        // Each count is what filtering by that value finds.
        for c in &r.facets.section {
            let filtered = SearchOptions {
                section: Some(c.value.clone()),
                ..o.clone()
            };
            assert_eq!(
                s.search(q, &filtered).unwrap().total,
                c.count,
                "{q:?} {c:?}"
            );
        }
        for c in &r.facets.tags {
            let mut filtered = o.clone();
            filtered.tags.push(c.value.clone());
            assert_eq!(
                s.search(q, &filtered).unwrap().total,
                c.count,
                "{q:?} {c:?}"
            );
        }
        for c in &r.facets.kind {
            let filtered = SearchOptions {
                kind: Some(c.value.clone()),
                ..o.clone()
            };
            assert_eq!(
                s.search(q, &filtered).unwrap().total,
                c.count,
                "{q:?} {c:?}"
            );
        }
    }
    // And by brute force over the corpus, for a filler word (tokens are the words).
    let word = "w007x";
    let holds = |d: &SearchDoc| {
        [&d.title, &d.headings, &d.body]
            .iter()
            .any(|t| t.split_whitespace().any(|w| w == word))
    };
    let mut sections: BTreeMap<String, usize> = BTreeMap::new();
    let mut tags: BTreeMap<String, usize> = BTreeMap::new();
    for d in docs.iter().filter(|d| holds(d)) {
        *sections.entry(d.section.clone()).or_default() += 1;
        for t in &d.tags {
            *tags.entry(t.clone()).or_default() += 1;
        }
    }
    let r = s.search(word, &opts()).unwrap();
    let as_map = |list: &[FacetCount]| -> BTreeMap<String, usize> {
        list.iter().map(|c| (c.value.clone(), c.count)).collect()
    };
    assert_eq!(as_map(&r.facets.section), sections);
    assert_eq!(as_map(&r.facets.tags), tags);
    assert!(
        r.facets
            .section
            .windows(2)
            .all(|w| w[0].count >= w[1].count)
    );
}

#[test]
fn the_vocabulary_arrives_with_the_hot_ranges() {
    let p = packed();
    let (dir, m) = site(p, Hot::Sidecar);
    let e = engine_over(DirFetch::new(dir.path()), &m);
    let s = SearchSession::open(e.clone(), &m).unwrap();
    let opened = e.lock().unwrap().query_stats().requests;
    assert!(s.vocabulary.documents("balancer") > 0);
    // Correcting and completing read no vocabulary block beyond what opening read.
    e.lock().unwrap().begin_query(None);
    let r = s.search("helth", &opts()).unwrap();
    assert_eq!(r.corrected.as_deref(), Some("health"));
    assert_eq!(opened, 1, "opening is one request (the sidecar)");
}

#[test]
fn a_small_cjk_page_is_searchable_by_its_words() {
    let s = session_of(&[
        page(
            "東京の天気",
            "/",
            &[],
            "今日の予報",
            "東京都の天気は晴れです。明日は雨が降るでしょう。",
        ),
        page("서울 날씨", "/", &[], "", "서울의 날씨는 맑습니다."),
        page("北京", "/", &[], "", "北京是中国的首都。"),
    ]);
    let found = |q: &str| urls(&s.search(q, &opts()).unwrap()).len();
    // Words of two and three characters, wherever they stand in a sentence.
    assert_eq!(found("天気"), 1);
    assert_eq!(found("東京都"), 1);
    assert_eq!(found("晴れ"), 1);
    assert_eq!(found("날씨"), 1);
    assert_eq!(found("首都"), 1);
    // Characters that are not next to each other in the text do not match as a word.
    assert_eq!(found("東雨"), 0);
    // The snippet marks the pairs of the word.
    let r = s.search("天気", &opts()).unwrap();
    assert!(
        r.hits[0].snippet.contains("<mark>天気</mark>"),
        "{}",
        r.hits[0].snippet
    );
}
