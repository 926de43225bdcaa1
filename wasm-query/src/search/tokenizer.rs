//! The one tokenizer of every text field, registered as [`TOKENIZER`](super::TOKENIZER) on
//! every index bake opens or creates, natively (indexing) and in the browser (querying).
//!
//! It is the same pipeline as tantivy's built-in `en_stem` — simple tokenizer, tokens over
//! 40 bytes removed, lower-casing, English Snowball stemming — but with the stemmer taken
//! from `frostem` with only its English algorithm: tantivy's `stemmer` feature compiles
//! in every language's stemmer (≈ 47 KB of gzip in the browser module) and is off.
//!
//! One step is bake's own: Chinese, Japanese and Korean are written without spaces between
//! words, so the simple tokenizer makes a whole sentence one token (and drops it when it is
//! over 40 bytes). [`CjkBigrams`] cuts such runs into overlapping pairs of characters, as
//! Lucene's CJK analyzer does: `東京都` → `東京`, `京都`. A query goes through the same
//! pipeline, so a word of two or more characters is found wherever it is written.

use std::borrow::Cow;
use std::collections::VecDeque;

use tantivy::Index;
use tantivy::tokenizer::{
    LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer, Token, TokenFilter, TokenStream,
    Tokenizer,
};

/// Longest token kept, in bytes (tantivy's `en_stem` limit).
const MAX_TOKEN_BYTES: usize = 40;

/// The analyzer of [`TOKENIZER`](super::TOKENIZER).
pub fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(CjkBigrams)
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        .filter(EnglishStemmer)
        .build()
}

/// Registers [`analyzer`] under [`TOKENIZER`](super::TOKENIZER) on `index`.
pub fn register(index: &Index) {
    index.tokenizers().register(super::TOKENIZER, analyzer());
}

/// English Snowball stemming of lower-cased tokens.
#[derive(Clone, Copy, Debug, Default)]
pub struct EnglishStemmer;

impl TokenFilter for EnglishStemmer {
    type Tokenizer<T: Tokenizer> = StemFilter<T>;

    fn transform<T: Tokenizer>(self, inner: T) -> StemFilter<T> {
        StemFilter { inner }
    }
}

/// [`EnglishStemmer`] over a tokenizer.
#[derive(Clone)]
pub struct StemFilter<T> {
    inner: T,
}

impl<T: Tokenizer> Tokenizer for StemFilter<T> {
    type TokenStream<'a> = StemStream<T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        StemStream {
            tail: self.inner.token_stream(text),
            stemmer: frostem::Stemmer::new(frostem::Algorithm::English),
        }
    }
}

/// The tokens of [`StemFilter`].
pub struct StemStream<T> {
    tail: T,
    stemmer: frostem::Stemmer,
}

impl<T: TokenStream> TokenStream for StemStream<T> {
    fn advance(&mut self) -> bool {
        if !self.tail.advance() {
            return false;
        }
        let token = self.tail.token_mut();
        // Borrowed means the stem is the token itself.
        let stemmed = match self.stemmer.stem(&token.text) {
            Cow::Owned(stemmed) => Some(stemmed),
            Cow::Borrowed(_) => None,
        };
        if let Some(stemmed) = stemmed {
            token.text = stemmed;
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
        let mut a = analyzer();
        let mut s = a.token_stream(text);
        let mut out = Vec::new();
        while s.advance() {
            let t = s.token();
            out.push((t.text.clone(), t.position, t.offset_from, t.offset_to));
        }
        out
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
