//! `wasm-query`: the browser side of bake.
//!
//! - [`manifest`]: the file contract the generator writes and the browser reads;
//! - [`engine`]: the range engine — one block cache over every logical file, fed through the
//!   [`fetch`] seam (synchronous XHR in the browser, local files and a fault injector in tests);
//! - [`sql`] (feature `sql`): a read-only SQLite VFS over the engine and the SQL session;
//! - [`search`] (feature `search`, on by default): a read-only tantivy Directory over the
//!   packed index and the search session; without the feature, a stand-in that refuses to
//!   search, so the browser's SQL-only module carries no tantivy;
//! - `wasm` (wasm32 only): the `Bake` object the Worker script drives.

pub mod engine;
pub mod fetch;
pub mod manifest;
#[cfg(feature = "search")]
pub mod search;
#[cfg(not(feature = "search"))]
#[path = "search/absent.rs"]
pub mod search;
#[cfg(feature = "sql")]
pub mod sql;
#[cfg(test)]
mod test_support;
#[cfg(target_arch = "wasm32")]
pub mod wasm;
