//! Helpers more than one module of the integration tests uses.

/// A site in a temporary folder: `bake.toml` holding `bake_toml`, and each `(path, text)`
/// of `files` written under it (folders made as needed).
pub fn site_in_tempdir<P: AsRef<str>, T: AsRef<str>>(
    bake_toml: &str,
    files: impl IntoIterator<Item = (P, T)>,
) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let write = |rel: &str, text: &str| {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write("bake.toml", bake_toml);
    for (rel, text) in files {
        write(rel.as_ref(), text.as_ref());
    }
    dir
}
