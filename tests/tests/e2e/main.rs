//! bake-tests' end-to-end tests, in one test binary: linking `bake`, `wasm-query` and
//! fantoccini is most of what a test binary costs to build, and the demo site that every
//! module reads (`bake_tests::demo_site`) is built once per process. Add a module here
//! rather than a new file in `tests/tests/`, which would be a binary of its own.

mod accessibility;
mod browser;
mod data_pages;
mod gallery;
mod mobile;
mod offline;
mod search_page;
mod serve_overlay;
