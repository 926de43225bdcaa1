//! `wasm-query`: the browser side of bake.
//!
//! Today it holds the file contract the generator writes and the browser reads
//! ([`manifest`]); the range engine, the SQLite VFS and the tantivy Directory build on it.

pub mod engine;
pub mod fetch;
pub mod manifest;
