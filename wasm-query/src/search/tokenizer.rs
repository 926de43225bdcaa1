//! The one tokenizer of every text field, registered as [`TOKENIZER`](super::TOKENIZER) on
//! every index bake opens or creates, natively (indexing) and in the browser (querying).
//!
//! The pipeline is tantivy's `en_stem` made to follow the site's `language`: simple
//! tokenizer, tokens over 40 bytes removed, lower-casing, the language's stop words
//! removed (tantivy's lists), and its Snowball stemmer applied to words (letters only; a
//! token with digits such as `http2` stays as written). [`Analysis::for_language`] picks
//! them for the 18 languages tantivy stems; another language gets neither.
//!
//! The stemmers are only compiled in for indexing (feature `index`): the generator writes
//! each word's stem into the vocabulary ([`super::vocabulary`]) and the stop words into the
//! pack, and the browser stems with that table ([`Analysis::from_vocabulary`]), so its
//! search module ships no stemmer at all, whatever the language. A word the table does not
//! know (it is in no document) is stemmed by the endings the stemmer was seen to change in
//! the table (`matches` → `match` teaches `-es`, so `caches` → `cach`, the stem of
//! `caching`), when that gives a stem the text has; else it stays as typed, and a typo
//! (`balancr`) is left to correction.
//!
//! One step is bake's own: Chinese, Japanese and Korean are written without spaces between
//! words, so the simple tokenizer makes a whole sentence one token (and drops it when it is
//! over 40 bytes). [`CjkBigrams`] cuts such runs into overlapping pairs of characters, as
//! Lucene's CJK analyzer does: `東京都` → `東京`, `京都`. A query goes through the same
//! pipeline, so a word of two or more characters is found wherever it is written.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use tantivy::Index;
use tantivy::tokenizer::{
    LowerCaser, RemoveLongFilter, SimpleTokenizer, StopWordFilter, TextAnalyzer, Token,
    TokenFilter, TokenStream, Tokenizer,
};

/// Longest token kept, in bytes (tantivy's `en_stem` limit).
pub(crate) const MAX_TOKEN_BYTES: usize = 40;

/// Shortest word stemmed and kept in the vocabulary.
const MIN_WORD_CHARS: usize = 2;

/// Whether `token` is a word: letters only, at least two, none of them [`is_cjk`] (searched
/// as character pairs). Only words are stemmed, and only words are in the vocabulary.
pub fn is_word(token: &str) -> bool {
    token.chars().count() >= MIN_WORD_CHARS
        && token.chars().all(|c| c.is_alphabetic() && !is_cjk(c))
}

/// How text becomes the terms the index holds: the stemmer and the stop words.
#[derive(Clone, Default)]
pub struct Analysis {
    stems: Stems,
    stops: Stops,
}

#[derive(Clone, Default)]
enum Stops {
    #[default]
    None,
    /// tantivy's list for a language (indexing).
    #[cfg(feature = "index")]
    Language(tantivy::tokenizer::Language),
    /// The stop words the generator found in the text (the browser).
    List(Vec<String>),
}

impl std::fmt::Debug for Analysis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let stems = match &self.stems {
            Stems::None => "none".to_string(),
            #[cfg(feature = "index")]
            Stems::Snowball(a) => format!("snowball {}", a.name()),
            Stems::Table(t) => format!("table of {}", t.of.len()),
        };
        let stops = match &self.stops {
            Stops::None => "none".to_string(),
            #[cfg(feature = "index")]
            Stops::Language(l) => format!("{l:?}"),
            Stops::List(l) => format!("{} words", l.len()),
        };
        f.debug_struct("Analysis")
            .field("stems", &stems)
            .field("stop_words", &stops)
            .finish()
    }
}

#[derive(Clone, Default)]
enum Stems {
    /// Words stay as written.
    #[default]
    None,
    /// A Snowball stemmer (indexing).
    #[cfg(feature = "index")]
    Snowball(frostem::Algorithm),
    /// The generator's stems (the browser).
    Table(Arc<StemTable>),
}

/// The stems the generator wrote: word → stem where they differ, every word of the text,
/// every stem, and the endings the stemmer changed.
#[derive(Debug, Default)]
pub struct StemTable {
    of: HashMap<String, String>,
    words: HashSet<String>,
    stems: HashSet<String>,
    /// `(ending, replacement)`: what the stemmer did to the end of a word, longest ending
    /// first, then the most often seen.
    endings: Vec<(String, String)>,
}

/// Shortest part of a word an ending rule leaves before the ending: shorter ones are more
/// often a typo's accident (`hasing` is not `has` + `-ing`) than a stem.
const MIN_STEM_CHARS: usize = 4;

impl StemTable {
    /// A table from `(word, stem)` pairs: every word of the vocabulary with its stem.
    pub fn new<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> StemTable {
        let mut table = StemTable::default();
        let mut seen: HashMap<(String, String), u32> = HashMap::new();
        for (word, stem) in pairs {
            table.words.insert(word.to_string());
            table.stems.insert(stem.to_string());
            if word != stem {
                table.of.insert(word.to_string(), stem.to_string());
                let keep = word
                    .char_indices()
                    .zip(stem.chars())
                    .take_while(|((_, a), b)| a == b)
                    .last()
                    .map_or(0, |((i, a), _)| i + a.len_utf8());
                if let (Some(ending), Some(replacement)) = (word.get(keep..), stem.get(keep..))
                    && !ending.is_empty()
                {
                    *seen
                        .entry((ending.to_string(), replacement.to_string()))
                        .or_default() += 1;
                }
            }
        }
        let mut endings: Vec<((String, String), u32)> = seen.into_iter().collect();
        endings.sort_by(|((a, ar), an), ((b, br), bn)| {
            b.chars()
                .count()
                .cmp(&a.chars().count())
                .then(bn.cmp(an))
                .then_with(|| (a, ar).cmp(&(b, br)))
        });
        table.endings = endings.into_iter().map(|(rule, _)| rule).collect();
        table
    }

    /// The stem of `word` (lower case), or `None` when it is its own stem.
    fn stem(&self, word: &str) -> Option<String> {
        if let Some(stem) = self.of.get(word) {
            return Some(stem.clone());
        }
        if self.words.contains(word) || self.stems.contains(word) {
            return None;
        }
        // In no document: an ending the stemmer changed, when that gives a known stem.
        self.endings.iter().find_map(|(ending, replacement)| {
            let base = word.strip_suffix(ending.as_str())?;
            if base.chars().count() < MIN_STEM_CHARS {
                return None;
            }
            let stem = format!("{base}{replacement}");
            self.stems.contains(&stem).then_some(stem)
        })
    }
}

/// The language of tantivy's stop-word lists for a primary language subtag.
#[cfg(feature = "index")]
fn stop_list_of(primary: &str) -> Option<tantivy::tokenizer::Language> {
    use tantivy::tokenizer::Language as L;
    Some(match primary {
        "da" => L::Danish,
        "nl" => L::Dutch,
        "en" => L::English,
        "fi" => L::Finnish,
        "fr" => L::French,
        "de" => L::German,
        "hu" => L::Hungarian,
        "it" => L::Italian,
        "no" => L::Norwegian,
        "pt" => L::Portuguese,
        "ru" => L::Russian,
        "es" => L::Spanish,
        "sv" => L::Swedish,
        _ => return None,
    })
}

impl Analysis {
    /// The analysis of a site whose `language` is this BCP 47 tag (`en`, `fr-CA`, `pt-BR`):
    /// its primary language's stemmer and stop words, or none when tantivy has none.
    #[cfg(feature = "index")]
    pub fn for_language(language: &str) -> Analysis {
        let primary = language
            .split(['-', '_'])
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let primary = match primary.as_str() {
            "nb" | "nn" => "no".to_string(),
            _ => primary,
        };
        let stems = match frostem::Algorithm::from_name(&primary) {
            // Only two-letter codes: the names frostem also knows ("porter") are not tags.
            Ok(a) if primary.len() == 2 => Stems::Snowball(a),
            _ => Stems::None,
        };
        let stops = stop_list_of(&primary).map_or(Stops::None, Stops::Language);
        Analysis { stems, stops }
    }

    /// Which of `tokens` (lower case) are stop words of this analysis, sorted: tantivy keeps
    /// its lists to itself, so the generator asks about the tokens of the text and writes
    /// the ones that are into the pack for the browser. A stop word that is in no document
    /// is not among them: typed in a query, it finds nothing, as any absent word.
    pub fn stop_words_among<'a>(&self, tokens: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let mut only_stops = TextAnalyzer::builder(tantivy::tokenizer::RawTokenizer::default())
            .filter(self.stop_filter())
            .build();
        let mut found: Vec<String> = tokens
            .into_iter()
            .filter(|t| !only_stops.token_stream(t).advance())
            .map(str::to_string)
            .collect();
        found.sort();
        found.dedup();
        found
    }

    fn stop_filter(&self) -> StopWordFilter {
        match &self.stops {
            Stops::None => StopWordFilter::remove(Vec::new()),
            #[cfg(feature = "index")]
            Stops::Language(l) => {
                StopWordFilter::new(*l).unwrap_or_else(|| StopWordFilter::remove(Vec::new()))
            }
            Stops::List(words) => StopWordFilter::remove(words.clone()),
        }
    }

    /// The analysis the browser rebuilds from what the generator wrote: the stems of the
    /// vocabulary, and the stop words.
    pub fn from_table(table: StemTable, stop_words: Vec<String>) -> Analysis {
        Analysis {
            stems: Stems::Table(Arc::new(table)),
            stops: Stops::List(stop_words),
        }
    }

    /// Whether this analysis stems at all.
    pub fn stems(&self) -> bool {
        !matches!(self.stems, Stems::None)
    }

    /// The stem of `word` (a lower-case [`is_word`]), itself when it has none.
    pub fn stem<'a>(&self, word: &'a str) -> std::borrow::Cow<'a, str> {
        use std::borrow::Cow;
        match &self.stems {
            Stems::None => Cow::Borrowed(word),
            #[cfg(feature = "index")]
            Stems::Snowball(a) => match frostem::Stemmer::new(*a).stem(word) {
                Cow::Owned(s) => Cow::Owned(s),
                Cow::Borrowed(_) => Cow::Borrowed(word),
            },
            Stems::Table(t) => t.stem(word).map_or(Cow::Borrowed(word), Cow::Owned),
        }
    }

    /// The analyzer of [`TOKENIZER`](super::TOKENIZER) under this analysis.
    pub fn analyzer(&self) -> TextAnalyzer {
        TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(CjkBigrams)
            .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
            .filter(LowerCaser)
            .filter(self.stop_filter())
            .filter(WordStemmer {
                analysis: self.clone(),
            })
            .build()
    }

    /// Registers [`Self::analyzer`] under [`TOKENIZER`](super::TOKENIZER) on `index`.
    pub fn register(&self, index: &Index) {
        index
            .tokenizers()
            .register(super::TOKENIZER, self.analyzer());
    }
}

/// Stems the tokens that are words ([`is_word`]) with an [`Analysis`].
#[derive(Clone)]
pub struct WordStemmer {
    analysis: Analysis,
}

impl TokenFilter for WordStemmer {
    type Tokenizer<T: Tokenizer> = StemFilter<T>;

    fn transform<T: Tokenizer>(self, inner: T) -> StemFilter<T> {
        StemFilter {
            inner,
            analysis: self.analysis,
        }
    }
}

/// [`WordStemmer`] over a tokenizer.
#[derive(Clone)]
pub struct StemFilter<T> {
    inner: T,
    analysis: Analysis,
}

impl<T: Tokenizer> Tokenizer for StemFilter<T> {
    type TokenStream<'a> = StemStream<'a, T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        StemStream {
            tail: self.inner.token_stream(text),
            analysis: &self.analysis,
        }
    }
}

/// The tokens of [`StemFilter`].
pub struct StemStream<'a, T> {
    tail: T,
    analysis: &'a Analysis,
}

impl<T: TokenStream> TokenStream for StemStream<'_, T> {
    fn advance(&mut self) -> bool {
        if !self.tail.advance() {
            return false;
        }
        let token = self.tail.token_mut();
        if is_word(&token.text)
            && let std::borrow::Cow::Owned(stem) = self.analysis.stem(&token.text)
        {
            token.text = stem;
        }
        true
    }

    fn token(&self) -> &Token {
        self.tail.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.tail.token_mut()
    }
}

/// Whether `c` is written without spaces between words: Han ideographs, kana, Hangul.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x11FF      // Hangul Jamo
        | 0x3040..=0x30FF    // Hiragana, Katakana
        | 0x3130..=0x318F    // Hangul compatibility Jamo
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xAC00..=0xD7AF    // Hangul syllables
        | 0xF900..=0xFAFF    // CJK compatibility ideographs
        | 0x20000..=0x2FA1F) // CJK extensions B–F, compatibility supplement
}

/// Cuts runs of [`is_cjk`] characters inside tokens into overlapping bigrams (a lone
/// character stays a token); other tokens pass unchanged. Positions stay consecutive.
#[derive(Clone, Copy, Debug, Default)]
pub struct CjkBigrams;

impl TokenFilter for CjkBigrams {
    type Tokenizer<T: Tokenizer> = CjkBigramFilter<T>;

    fn transform<T: Tokenizer>(self, inner: T) -> CjkBigramFilter<T> {
        CjkBigramFilter { inner }
    }
}

/// [`CjkBigrams`] over a tokenizer.
#[derive(Clone)]
pub struct CjkBigramFilter<T> {
    inner: T,
}

impl<T: Tokenizer> Tokenizer for CjkBigramFilter<T> {
    type TokenStream<'a> = CjkBigramStream<T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        CjkBigramStream {
            tail: self.inner.token_stream(text),
            pending: VecDeque::new(),
            token: Token::default(),
            shift: 0,
        }
    }
}

/// The tokens of [`CjkBigramFilter`].
pub struct CjkBigramStream<T> {
    tail: T,
    /// Pieces of the last token not handed out yet.
    pending: VecDeque<Token>,
    token: Token,
    /// Positions added so far by tokens cut into several.
    shift: usize,
}

impl<T: TokenStream> CjkBigramStream<T> {
    /// The pieces of `token`: runs of other characters whole, CJK runs as bigrams.
    fn pieces(token: &Token) -> Vec<Token> {
        let chars: Vec<(usize, char)> = token.text.char_indices().collect();
        let end_of = |i: usize| chars.get(i).map_or(token.text.len(), |&(b, _)| b);
        let mut out = Vec::new();
        let mut piece = |from: usize, to: usize| {
            out.push(Token {
                offset_from: token.offset_from + from,
                offset_to: token.offset_from + to,
                position: 0,
                text: token.text[from..to].to_string(),
                position_length: 1,
            });
        };
        let mut i = 0;
        while i < chars.len() {
            let cjk = is_cjk(chars[i].1);
            let mut j = i;
            while j < chars.len() && is_cjk(chars[j].1) == cjk {
                j += 1;
            }
            if !cjk || j - i == 1 {
                piece(chars[i].0, end_of(j));
            } else {
                for (k, &(start, _)) in chars.iter().enumerate().take(j - 1).skip(i) {
                    piece(start, end_of(k + 2));
                }
            }
            i = j;
        }
        out
    }
}

impl<T: TokenStream> TokenStream for CjkBigramStream<T> {
    fn advance(&mut self) -> bool {
        if let Some(next) = self.pending.pop_front() {
            self.token = next;
            return true;
        }
        if !self.tail.advance() {
            return false;
        }
        let token = self.tail.token();
        let position = token.position + self.shift;
        if !token.text.chars().any(is_cjk) {
            self.token = token.clone();
            self.token.position = position;
            return true;
        }
        let mut pieces = Self::pieces(token);
        for (k, p) in pieces.iter_mut().enumerate() {
            p.position = position + k;
        }
        self.shift += pieces.len().saturating_sub(1);
        self.pending = pieces.into();
        self.token = self.pending.pop_front().unwrap_or_default();
        true
    }

    fn token(&self) -> &Token {
        &self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<(String, usize, usize, usize)> {
        let mut a = Analysis::for_language("en").analyzer();
        let mut s = a.token_stream(text);
        let mut out = Vec::new();
        while s.advance() {
            let t = s.token();
            out.push((t.text.clone(), t.position, t.offset_from, t.offset_to));
        }
        out
    }

    #[test]
    fn every_documented_language_tag_picks_a_stemmer() {
        // The list of docs/config.md "Search languages".
        for tag in [
            "ar", "da", "nl", "en", "fi", "fr", "de", "el", "hu", "it", "no", "nb", "nn", "pt",
            "ro", "ru", "es", "sv", "ta", "tr", "en-GB", "pt_BR", "FR",
        ] {
            assert!(Analysis::for_language(tag).stems(), "{tag}");
        }
        for tag in ["zz", "ja", "zh-Hans", "", "porter", "english"] {
            assert!(!Analysis::for_language(tag).stems(), "{tag}");
        }
        // Stop words for the 13 languages tantivy has lists for, none for the others.
        let stops = |tag: &str| {
            Analysis::for_language(tag).stop_words_among(["the", "le", "der", "и", "o"])
        };
        assert_eq!(stops("en"), ["the"]);
        assert_eq!(stops("fr"), ["le"]);
        assert_eq!(stops("de"), ["der"]);
        assert_eq!(stops("ru"), ["и"]);
        assert!(stops("tr").is_empty());
    }

    #[test]
    fn cjk_runs_become_overlapping_bigrams_with_consecutive_positions() {
        let words: Vec<String> = tokens("東京都に行く caching")
            .into_iter()
            .map(|t| t.0)
            .collect();
        assert_eq!(words, ["東京", "京都", "都に", "に行", "行く", "cach"]);
        let positions: Vec<usize> = tokens("東京都に行く caching").iter().map(|t| t.1).collect();
        assert_eq!(positions, [0, 1, 2, 3, 4, 5]);
        // Offsets point at the pair in the text.
        let t = &tokens("ab 東京都")[2];
        assert_eq!((t.0.as_str(), t.2, t.3), ("京都", 6, 12));
        // Mixed runs inside one token; a lone character stays; Korean too.
        let words: Vec<String> = tokens("SQLite入門 本 한국어")
            .into_iter()
            .map(|t| t.0)
            .collect();
        assert_eq!(words, ["sqlite", "入門", "本", "한국", "국어"]);
        // A long sentence is no longer dropped by the 40-byte limit.
        assert_eq!(tokens(&"検索".repeat(20)).len(), 39);
    }
}
