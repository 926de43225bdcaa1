//! The one tokenizer of every text field, registered as [`TOKENIZER`](super::TOKENIZER) on
//! every index bake opens or creates, natively (indexing) and in the browser (querying).
//!
//! It is the same pipeline as tantivy's built-in `en_stem` — simple tokenizer, tokens over
//! 40 bytes removed, lower-casing, English Snowball stemming — but with the stemmer taken
//! from `frostem` with only its English algorithm: tantivy's `stemmer` feature compiles
//! in every language's stemmer (≈ 47 KB of gzip in the browser module) and is off.

use std::borrow::Cow;

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
