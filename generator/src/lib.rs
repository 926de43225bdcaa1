//! bake: a static site generator for baked data.
//!
//! `bake build` is a pipeline read top to bottom in [`build`]: [`load`] the content,
//! bake the [`data`] into SQLite, run the canned [`queries`], render [`markdown`], build
//! the [`search`] index, [`render`] templates, and [`emit`] the site atomically, with the
//! sitemap, Atom [`feeds`] and robots.txt. Fenced and file [`diagrams`] are drawn while
//! markdown renders and collected in the [`gallery`].
//! [`serve`] previews a site with Range support and live reload; [`check`] runs the stages
//! without writing; [`init`] starts a new site.

pub mod build;
pub mod check;
pub mod config;
pub mod data;
pub mod diagrams;
pub mod emit;
pub mod error;
pub mod feeds;
pub mod frontmatter;
pub mod gallery;
pub mod init;
pub mod load;
pub mod markdown;
pub mod queries;
pub mod render;
pub mod search;
pub mod serve;
pub mod slug;
pub mod theme;

pub use error::{Error, Result};
