//! Search in a build without the `search` feature (the browser's SQL-only module): the same
//! types the Worker entry point uses, and every attempt to search is refused. Pages send
//! searches to the search module (see `templates/static/bake.js`), so none arrives here.

use serde::{Deserialize, Serialize};

use crate::engine::SharedEngine;
use crate::manifest::Manifest;

/// Options of one search (ignored: nothing is searched).
#[derive(Deserialize, Default, Debug, Clone)]
pub struct SearchOptions {}

/// The answer to a search: there is none in this build.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub enum SearchResults {}

/// A search index that cannot be opened in this build.
#[derive(Debug)]
pub struct SearchSession {
    never: std::convert::Infallible,
}

impl SearchSession {
    /// Always an error: this module was built without search.
    pub fn open(_engine: SharedEngine, _manifest: &Manifest) -> Result<SearchSession, String> {
        Err("this module has no search; the page must start the search module".into())
    }

    /// Unreachable: no session exists.
    pub fn search(&self, _query: &str, _opts: &SearchOptions) -> Result<SearchResults, String> {
        match self.never {}
    }
}
