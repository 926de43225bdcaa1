//! The words of the indexed text as written (lower case, not stemmed), with how many
//! documents hold each: what typo correction and completion of the last word search in.
//!
//! tantivy's term dictionary holds stems, in blocks spread over the pack; matching a typo
//! against it would read them all. This list is small (the demo's: see the closing note of
//! issue 11), sits in the pack's hot ranges, and so arrives with the one request that opens
//! the index. It also carries each word's stem, so the browser stems without a stemmer
//! (see [`super::tokenizer`]).
//!
//! File format (`bake.vocab` in the pack, part of the generator↔browser contract): UTF-8
//! lines `word\tdocuments\n`, or `word\tdocuments\tSTEM\n` when the word's stem is not
//! the word itself, sorted by word, each word at most once. `STEM` is the number of the
//! word's first characters the stem keeps, then what follows them (`caching\t12\t4`:
//! `cach`; `studies\t3\t4y`: `study`). A line without it is its own stem. The stop words
//! the text holds are a second file, `bake.stopwords` (one per line, sorted), inlined in
//! the manifest.

use std::collections::{BTreeMap, BTreeSet};

use tantivy::tokenizer::{LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer};

use super::tokenizer::{Analysis, StemTable, is_word};

/// Name of the vocabulary file in the search pack.
pub const VOCAB_FILE: &str = "bake.vocab";

/// Name of the stop-words file in the search pack.
pub const STOP_WORDS_FILE: &str = "bake.stopwords";

/// Longest token asked about as a stop word (the lists' longest words are shorter).
const MAX_STOP_WORD_CHARS: usize = 20;

/// The analyzer of the vocabulary: the index's tokenizer without the stemmer, so words stay
/// as a reader writes them.
pub fn surface_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .build()
}

/// Whether `word` belongs in the vocabulary: a word ([`is_word`]: numbers, codes and ids
/// are not mistyped words and would only crowd the list; CJK is searched as character
/// pairs, where an edit distance means nothing; a one-letter prefix would complete to too
/// much to be useful).
fn wanted(word: &str) -> bool {
    is_word(word)
}

/// Counts documents per word while the generator indexes, then writes the files.
#[derive(Default)]
pub struct VocabularyBuilder {
    documents: BTreeMap<String, u32>,
    /// Every short token, words or not: the candidates for stop words.
    tokens: BTreeSet<String>,
    analyzer: Option<TextAnalyzer>,
    analysis: Analysis,
}

impl std::fmt::Debug for VocabularyBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VocabularyBuilder")
            .field("words", &self.documents.len())
            .finish_non_exhaustive()
    }
}

impl VocabularyBuilder {
    /// A builder that writes the stems and stop words of `analysis`.
    pub fn new(analysis: Analysis) -> VocabularyBuilder {
        VocabularyBuilder {
            analysis,
            ..Default::default()
        }
    }

    /// Adds one document, made of `texts` (its title, headings, body…).
    pub fn add(&mut self, texts: &[&str]) {
        let analyzer = self.analyzer.get_or_insert_with(surface_analyzer);
        let mut seen = std::collections::BTreeSet::new();
        for text in texts {
            let mut stream = analyzer.token_stream(text);
            while stream.advance() {
                let word = &stream.token().text;
                if wanted(word) && !seen.contains(word) {
                    seen.insert(word.clone());
                }
                if word.chars().count() <= MAX_STOP_WORD_CHARS && !self.tokens.contains(word) {
                    self.tokens.insert(word.clone());
                }
            }
        }
        for word in seen {
            *self.documents.entry(word).or_default() += 1;
        }
    }

    /// The vocabulary file's bytes and the stop words' file.
    pub fn finish(self) -> (Vec<u8>, String) {
        let mut out = String::new();
        for (word, n) in &self.documents {
            out.push_str(word);
            out.push('\t');
            out.push_str(&n.to_string());
            let stem = self.analysis.stem(word);
            if stem != *word {
                let keep = word
                    .chars()
                    .zip(stem.chars())
                    .take_while(|(a, b)| a == b)
                    .count();
                let rest: String = stem.chars().skip(keep).collect();
                out.push('\t');
                out.push_str(&keep.to_string());
                out.push_str(&rest);
            }
            out.push('\n');
        }
        let stops = self
            .analysis
            .stop_words_among(self.tokens.iter().map(String::as_str));
        let mut stop_file = String::new();
        for w in stops {
            stop_file.push_str(&w);
            stop_file.push('\n');
        }
        (out.into_bytes(), stop_file)
    }
}

/// A word of the vocabulary that is near a typed one.
#[derive(Debug, Clone, PartialEq)]
pub struct Near<'a> {
    /// The word as written in the text.
    pub word: &'a str,
    /// Edits from the typed word (an adjacent transposition counts as one).
    pub distance: usize,
    /// Documents holding it.
    pub documents: u32,
}

/// The vocabulary, read once when the index opens.
#[derive(Debug, Default)]
pub struct Vocabulary {
    /// Sorted by word.
    words: Vec<(String, u32)>,
    /// Word → stem, where they differ.
    stems: Vec<(String, String)>,
}

/// `STEM` of a vocabulary line applied to `word` (see the module's documentation).
fn decode_stem(word: &str, code: &str) -> Option<String> {
    let digits = code.bytes().take_while(u8::is_ascii_digit).count();
    let keep: usize = code[..digits].parse().ok()?;
    if keep > word.chars().count() {
        return None;
    }
    let mut stem: String = word.chars().take(keep).collect();
    stem.push_str(&code[digits..]);
    Some(stem)
}

impl Vocabulary {
    /// Reads the file's bytes; a malformed line is skipped (the list only ever helps).
    pub fn parse(bytes: &[u8]) -> Vocabulary {
        let text = String::from_utf8_lossy(bytes);
        let mut words: Vec<(String, u32)> = Vec::new();
        let mut stems = Vec::new();
        for line in text.lines() {
            let mut fields = line.split('\t');
            let (Some(word), Some(n)) = (fields.next(), fields.next()) else {
                continue;
            };
            let Ok(n) = n.parse() else { continue };
            if let Some(stem) = fields.next().and_then(|code| decode_stem(word, code)) {
                stems.push((word.to_string(), stem));
            }
            words.push((word.to_string(), n));
        }
        // Sorted by the generator; sorting again keeps the binary searches right whatever
        // the file holds.
        words.sort();
        words.dedup_by(|a, b| a.0 == b.0);
        Vocabulary { words, stems }
    }

    /// The stems of the words, for [`Analysis::from_table`].
    pub fn stem_table(&self) -> StemTable {
        let of: std::collections::HashMap<&str, &str> = self
            .stems
            .iter()
            .map(|(w, s)| (w.as_str(), s.as_str()))
            .collect();
        StemTable::new(self.words.iter().map(|(w, _)| {
            let w = w.as_str();
            (w, of.get(w).copied().unwrap_or(w))
        }))
    }

    /// Number of words.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether there are no words (an index built before the vocabulary existed).
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Documents holding `word` as written (0 when it is not in the text).
    pub fn documents(&self, word: &str) -> u32 {
        self.words
            .binary_search_by(|(w, _)| w.as_str().cmp(word))
            .map_or(0, |i| self.words[i].1)
    }

    /// Up to `limit` words that start with `prefix` and are longer than it, the most
    /// frequent first (ties: alphabetical).
    pub fn completions(&self, prefix: &str, limit: usize) -> Vec<&str> {
        let start = self.words.partition_point(|(w, _)| w.as_str() < prefix);
        let mut found: Vec<&(String, u32)> = self.words[start..]
            .iter()
            .take_while(|(w, _)| w.starts_with(prefix))
            .filter(|(w, _)| w.len() > prefix.len())
            .collect();
        found.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        found
            .into_iter()
            .take(limit)
            .map(|(w, _)| w.as_str())
            .collect()
    }

    /// Up to `limit` words other than `typed` within `max_distance` edits of it (optimal
    /// string alignment: insertions, deletions, substitutions, adjacent transpositions),
    /// nearest first, then the most frequent, then alphabetical.
    pub fn near(&self, typed: &str, max_distance: usize, limit: usize) -> Vec<Near<'_>> {
        let chars = typed.chars().count();
        let mut found: Vec<Near> = self
            .words
            .iter()
            .filter(|(w, _)| w != typed)
            // Cheap length test first: each edit changes the length by at most one.
            .filter(|(w, _)| w.chars().count().abs_diff(chars) <= max_distance)
            .filter_map(|(w, n)| {
                let distance = strsim::osa_distance(typed, w);
                (distance <= max_distance).then_some(Near {
                    word: w,
                    distance,
                    documents: *n,
                })
            })
            .collect();
        found.sort_by(|a, b| {
            a.distance
                .cmp(&b.distance)
                .then_with(|| b.documents.cmp(&a.documents))
                .then_with(|| a.word.cmp(b.word))
        });
        found.truncate(limit);
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocabulary() -> Vocabulary {
        let mut b = VocabularyBuilder::new(Analysis::for_language("en"));
        b.add(&["Health checks", "A health check probes each backend"]);
        b.add(&["Caching", "Cache the response; caches keep it. HTTP 304 x"]);
        b.add(&["Consistent hashing", "hash ring health"]);
        Vocabulary::parse(&b.finish().0)
    }

    #[test]
    fn the_file_counts_documents_once_per_word_and_skips_numbers_and_single_letters() {
        let mut b = VocabularyBuilder::default();
        b.add(&["Cache cache", "CACHE 304 a"]);
        b.add(&["cache"]);
        assert_eq!(
            b.finish(),
            (b"cache\t2\n".to_vec(), String::new()),
            "no language: no stems, no stop words"
        );
    }

    #[test]
    fn each_word_carries_its_stem_and_the_stop_words_of_the_text_are_listed() {
        let mut b = VocabularyBuilder::new(Analysis::for_language("en-GB"));
        b.add(&["The caching of studies", "a cache is 2x faster"]);
        let (vocab, stops) = b.finish();
        assert_eq!(
            String::from_utf8(vocab).unwrap(),
            "cache\t1\t4\ncaching\t1\t4\nfaster\t1\nis\t1\nof\t1\nstudies\t1\t5\nthe\t1\n"
        );
        assert_eq!(stops, "a\nis\nof\nthe\n");
        let v = Vocabulary::parse(
            b"cache\t1\t4\nmatches\t1\t5\nruns\t1\t3\nrun\t2\nstudies\t1\t4i\nodd\t1\t9x\n",
        );
        let a = Analysis::from_table(v.stem_table(), vec![]);
        assert_eq!(a.stem("studies"), "studi");
        assert_eq!(a.stem("cache"), "cach");
        assert_eq!(a.stem("run"), "run");
        // A stem code longer than its word is damage: the word is its own stem.
        assert_eq!(a.stem("odd"), "odd");
        // Words in no document: an ending the stemmer was seen to change ("matches" -es,
        // "cache" -e, "runs" -s, "studies" -es → i), when it leaves a known stem.
        assert_eq!(a.stem("caches"), "cach");
        assert_eq!(a.stem("cached"), "cached", "no word taught -ed");
        assert_eq!(a.stem("ladies"), "ladies", "no stem 'ladi' in the text");
        assert_eq!(a.stem("runs"), "run", "in the text");
        assert_eq!(a.stem("rune"), "rune", "too short to take an ending off");
        // A typo keeps its letters, for correction to find the word meant.
        assert_eq!(a.stem("cachr"), "cachr");
    }

    #[test]
    fn documents_counts_and_unknown_words_are_zero() {
        let v = vocabulary();
        assert_eq!(v.documents("health"), 2);
        assert_eq!(v.documents("helth"), 0);
    }

    #[test]
    fn completions_are_longer_words_most_frequent_first() {
        let v = vocabulary();
        assert_eq!(v.completions("cach", 5), vec!["cache", "caches", "caching"]);
        assert_eq!(v.completions("cache", 5), vec!["caches"]);
        assert_eq!(v.completions("cache", 0), Vec::<&str>::new());
        assert!(v.completions("zz", 5).is_empty());
    }

    #[test]
    fn near_words_count_a_transposition_as_one_edit() {
        let v = vocabulary();
        let words = |typed, d| {
            v.near(typed, d, 5)
                .into_iter()
                .map(|n| (n.word.to_string(), n.distance))
                .collect::<Vec<_>>()
        };
        assert_eq!(words("helth", 1), vec![("health".to_string(), 1)]);
        assert_eq!(words("cahce", 1), vec![("cache".to_string(), 1)]);
        assert_eq!(words("consistant", 1), vec![("consistent".to_string(), 1)]);
        assert!(words("zzzzz", 2).is_empty());
        // The typed word itself is never its own correction.
        assert!(words("health", 1).iter().all(|(w, _)| w != "health"));
    }

    #[test]
    fn a_damaged_file_keeps_the_lines_that_parse() {
        let v = Vocabulary::parse(b"cache\t2\nbroken line\n\xff\xfe\t1\nhealth\tx\nzeta\t1\n");
        assert_eq!(v.documents("cache"), 2);
        assert_eq!(v.documents("zeta"), 1);
        assert_eq!(v.documents("health"), 0);
    }
}
