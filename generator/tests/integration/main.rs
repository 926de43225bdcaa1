//! bake's integration tests, in one test binary: each binary links the whole `bake` crate
//! and its dependencies again. Add a module here rather than a new file in
//! `generator/tests/`, which would be a binary of its own.

mod bad_input;
mod feeds;
mod fuzz;
mod hostile;
mod init;
mod leftovers;
mod manifest;
mod pagination;
mod reproducible;
mod serve;
mod support;
