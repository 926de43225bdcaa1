//! [`PackDirectory`]: a read-only tantivy `Directory` over the search pack.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tantivy::HasLen;
use tantivy::directory::error::{DeleteError, LockError, OpenReadError, OpenWriteError};
use tantivy::directory::{
    Directory, DirectoryLock, FileHandle, Lock, OwnedBytes, WatchCallback, WatchHandle, WritePtr,
};

use crate::engine::SharedEngine;
#[cfg(not(target_arch = "wasm32"))]
use crate::manifest::ByteRange;
use crate::manifest::{PackEntry, SearchIndex};

/// A read-only tantivy `Directory` over the packed index the manifest describes.
///
/// - `meta.json` and `.managed.json` are inlined in the manifest and served from memory;
/// - every other file is a range of the pack, read lazily through the shared range engine
///   (one block cache for search and SQL), so tantivy fetches only the blocks it touches;
/// - writes and deletes fail (the index is read-only), locks are no-ops (the default lock
///   sleeps on a thread, which a browser has not), `watch` returns an empty handle.
///
/// An engine error reaches tantivy as an `io::Error` carrying the engine's message; the
/// message of the last one is also kept ([`PackDirectory::take_error`]) so callers can show
/// it instead of tantivy's wrapping.
#[derive(Clone)]
pub struct PackDirectory {
    inner: Arc<Inner>,
}

struct Inner {
    entries: HashMap<PathBuf, PackEntry>,
    source: Source,
    error: Mutex<Option<String>>,
}

/// Where the pack's bytes come from.
enum Source {
    /// The browser (and native tests): the range engine.
    Engine { engine: SharedEngine, file: String },
    /// Build time: the pack in memory, every read logged (hot-range recording).
    #[cfg(not(target_arch = "wasm32"))]
    Memory {
        pack: Vec<u8>,
        log: Mutex<Vec<ByteRange>>,
    },
}

impl PackDirectory {
    /// A directory over the pack of `search`, read through `engine`.
    pub fn new(engine: SharedEngine, search: &SearchIndex) -> PackDirectory {
        Self::with_source(
            &search.entries,
            Source::Engine {
                engine,
                file: search.file.clone(),
            },
        )
    }

    /// A directory over a pack held in memory that logs every range read from it.
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn recording(
        pack: Vec<u8>,
        entries: &std::collections::BTreeMap<String, PackEntry>,
    ) -> PackDirectory {
        Self::with_source(
            entries,
            Source::Memory {
                pack,
                log: Mutex::new(Vec::new()),
            },
        )
    }

    fn with_source(
        entries: &std::collections::BTreeMap<String, PackEntry>,
        source: Source,
    ) -> PackDirectory {
        PackDirectory {
            inner: Arc::new(Inner {
                entries: entries
                    .iter()
                    .map(|(k, v)| (PathBuf::from(k), v.clone()))
                    .collect(),
                source,
                error: Mutex::new(None),
            }),
        }
    }

    /// The ranges of the pack read so far (recording directories only; empty otherwise).
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn recorded(&self) -> Vec<ByteRange> {
        match &self.inner.source {
            Source::Memory { log, .. } => lock(log).clone(),
            Source::Engine { .. } => Vec::new(),
        }
    }

    /// Takes the message of the last failed read, if any.
    pub fn take_error(&self) -> Option<String> {
        lock(&self.inner.error).take()
    }

    /// After tantivy failed on data it read: checks the pack's parts read so far against
    /// their hashes ([`Engine::verify`](crate::engine::Engine::verify)) and returns the
    /// engine's message when the host served one wrong (or could not be asked).
    pub fn verify(&self) -> Option<String> {
        match &self.inner.source {
            Source::Engine { engine, file } => {
                lock(engine).verify(file).err().map(|e| e.to_string())
            }
            #[cfg(not(target_arch = "wasm32"))]
            Source::Memory { .. } => None,
        }
    }

    /// Reads the whole file of the pack whose name ends with `suffix` into the cache, in one
    /// request (less what is cached), when it is at most `max_bytes`; `Ok(false)` when there
    /// is no such file or it is bigger.
    pub fn prefetch_small(&self, suffix: &str, max_bytes: u64) -> io::Result<bool> {
        let range = self
            .inner
            .entries
            .iter()
            .find_map(|(name, entry)| match entry {
                PackEntry::Range(r) if name.to_string_lossy().ends_with(suffix) => Some(*r),
                _ => None,
            });
        match range {
            Some(r) if r.length <= max_bytes => {
                let mut scratch = vec![0u8; r.length as usize];
                self.inner.read(r.offset, &mut scratch)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn entry(&self, path: &Path) -> Result<&PackEntry, OpenReadError> {
        self.inner
            .entries
            .get(path)
            .ok_or_else(|| OpenReadError::FileDoesNotExist(path.to_path_buf()))
    }
}

/// Locks a mutex, ignoring poisoning (a panic elsewhere leaves the data usable).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Inner {
    /// Fills `buf` from the pack at `offset`.
    fn read(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let result = match &self.source {
            Source::Engine { engine, file } => lock(engine)
                .read(file, offset, buf)
                .map_err(|e| e.to_string()),
            #[cfg(not(target_arch = "wasm32"))]
            Source::Memory { pack, log } => {
                let end = offset as usize + buf.len();
                match pack.get(offset as usize..end) {
                    Some(bytes) => {
                        buf.copy_from_slice(bytes);
                        lock(log).push(ByteRange {
                            offset,
                            length: buf.len() as u64,
                        });
                        Ok(())
                    }
                    None => Err(format!("read past the end of the pack at {offset}")),
                }
            }
        };
        result.map_err(|message| {
            *lock(&self.error) = Some(message.clone());
            io::Error::other(message)
        })
    }
}

impl fmt::Debug for PackDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PackDirectory")
            .field("files", &self.inner.entries.len())
            .finish_non_exhaustive()
    }
}

/// One index file that lives in the pack at `offset .. offset + len`.
struct PackFile {
    inner: Arc<Inner>,
    path: PathBuf,
    offset: u64,
    len: usize,
}

impl fmt::Debug for PackFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PackFile")
            .field("path", &self.path)
            .field("offset", &self.offset)
            .field("len", &self.len)
            .finish()
    }
}

impl HasLen for PackFile {
    fn len(&self) -> usize {
        self.len
    }
}

impl FileHandle for PackFile {
    fn read_bytes(&self, range: Range<usize>) -> io::Result<OwnedBytes> {
        if range.start > range.end || range.end > self.len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "read of {range:?} outside {} ({} bytes)",
                    self.path.display(),
                    self.len
                ),
            ));
        }
        let mut buf = vec![0u8; range.len()];
        self.inner
            .read(self.offset + range.start as u64, &mut buf)?;
        Ok(OwnedBytes::new(buf))
    }
}

/// The error every write gets.
fn read_only(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!(
            "the search index is read-only (cannot write {})",
            path.display()
        ),
    )
}

impl Directory for PackDirectory {
    fn get_file_handle(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
        Ok(match self.entry(path)? {
            PackEntry::Inline(text) => Arc::new(OwnedBytes::new(text.as_bytes().to_vec())),
            PackEntry::Range(r) => Arc::new(PackFile {
                inner: self.inner.clone(),
                path: path.to_path_buf(),
                offset: r.offset,
                len: r.length as usize,
            }),
        })
    }

    fn delete(&self, path: &Path) -> Result<(), DeleteError> {
        Err(DeleteError::IoError {
            io_error: Arc::new(read_only(path)),
            filepath: path.to_path_buf(),
        })
    }

    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        Ok(self.inner.entries.contains_key(path))
    }

    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        Err(OpenWriteError::wrap_io_error(
            read_only(path),
            path.to_path_buf(),
        ))
    }

    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        match self.entry(path)? {
            PackEntry::Inline(text) => Ok(text.as_bytes().to_vec()),
            PackEntry::Range(r) => {
                let mut buf = vec![0u8; r.length as usize];
                self.inner
                    .read(r.offset, &mut buf)
                    .map_err(|e| OpenReadError::wrap_io_error(e, path.to_path_buf()))?;
                Ok(buf)
            }
        }
    }

    fn atomic_write(&self, path: &Path, _data: &[u8]) -> io::Result<()> {
        Err(read_only(path))
    }

    fn sync_directory(&self) -> io::Result<()> {
        Ok(())
    }

    fn acquire_lock(&self, _lock: &Lock) -> Result<DirectoryLock, LockError> {
        // Nothing ever writes: there is nobody to exclude.
        Ok(DirectoryLock::from(Box::new(())))
    }

    fn watch(&self, _callback: WatchCallback) -> tantivy::Result<WatchHandle> {
        // The pack never changes under a page: a new build has new file names.
        Ok(WatchHandle::empty())
    }
}
