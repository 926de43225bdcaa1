//! The fetch seam: how the range engine asks a host for bytes.
//!
//! Three implementations: synchronous XHR in the browser's Worker (wasm32 only), local files
//! for native tests ([`DirFetch`]), and a fault injector for tests ([`Faulty`]). The engine
//! never trusts an answer: it checks status, Content-Range, length, encoding and ETag itself.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::path::PathBuf;

use crate::manifest::ByteRange;

/// One GET of a part, for the whole part or a byte range of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Site-absolute URL of the part.
    pub url: String,
    /// Bytes wanted, relative to the part; `None` for the whole part.
    pub range: Option<ByteRange>,
}

/// What came back, with the headers the engine checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// `Content-Range`, if any.
    pub content_range: Option<String>,
    /// `Content-Encoding`, if any.
    pub content_encoding: Option<String>,
    /// `ETag`, if any.
    pub etag: Option<String>,
    /// The body as received.
    pub body: Vec<u8>,
}

/// A request that got no HTTP answer at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkError(pub String);

/// Gets bytes from the host.
pub trait Fetch {
    /// Performs one request.
    fn fetch(&self, req: &Request) -> Result<Response, NetworkError>;
    /// Waits before a retry. The browser Worker may block; tests skip the wait.
    fn sleep_ms(&self, _ms: u32) {}
}

impl<T: Fetch + ?Sized> Fetch for &T {
    fn fetch(&self, req: &Request) -> Result<Response, NetworkError> {
        (**self).fetch(req)
    }
    fn sleep_ms(&self, ms: u32) {
        (**self).sleep_ms(ms)
    }
}

impl<T: Fetch + ?Sized> Fetch for Box<T> {
    fn fetch(&self, req: &Request) -> Result<Response, NetworkError> {
        (**self).fetch(req)
    }
    fn sleep_ms(&self, ms: u32) {
        (**self).sleep_ms(ms)
    }
}

/// Serves parts from a built site folder the way a Range-honouring host does.
#[derive(Debug, Clone)]
pub struct DirFetch {
    root: PathBuf,
    /// Requests served, for tests that count them.
    pub log: RefCell<Vec<Request>>,
}

impl DirFetch {
    /// Serves `root` (the site folder).
    pub fn new(root: impl Into<PathBuf>) -> DirFetch {
        DirFetch {
            root: root.into(),
            log: RefCell::new(Vec::new()),
        }
    }
}

impl Fetch for DirFetch {
    fn fetch(&self, req: &Request) -> Result<Response, NetworkError> {
        self.log.borrow_mut().push(req.clone());
        let rel = req.url.trim_start_matches('/');
        if rel.split('/').any(|c| c == "..") {
            return Ok(Response {
                status: 400,
                ..Response::default()
            });
        }
        let Ok(bytes) = std::fs::read(self.root.join(rel)) else {
            return Ok(Response {
                status: 404,
                ..Response::default()
            });
        };
        let etag = Some(format!("\"{}\"", bytes.len()));
        match req.range {
            None => Ok(Response {
                status: 200,
                etag,
                body: bytes,
                ..Response::default()
            }),
            Some(r) => {
                let total = bytes.len() as u64;
                if r.offset >= total || r.length == 0 {
                    return Ok(Response {
                        status: 416,
                        content_range: Some(format!("bytes */{total}")),
                        ..Response::default()
                    });
                }
                let end = (r.offset + r.length).min(total);
                Ok(Response {
                    status: 206,
                    content_range: Some(format!("bytes {}-{}/{total}", r.offset, end - 1)),
                    etag,
                    body: bytes[r.offset as usize..end as usize].to_vec(),
                    ..Response::default()
                })
            }
        }
    }
}

/// A fault to inject into the next answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// No answer at all (connection reset, offline).
    Drop,
    /// A server error with this status.
    Status(u16),
    /// The whole part with 200, as a host that ignores Range answers.
    IgnoreRange,
    /// The body cut to this many bytes, headers unchanged.
    Truncate(usize),
    /// A 200 with the whole part cut to this many bytes (a stale or different file).
    ShortWhole(usize),
    /// `Content-Encoding: gzip` on the answer.
    Compress,
    /// A different ETag, as after a redeploy under the same name.
    ChangeEtag,
    /// A Content-Range whose total differs from the part's length.
    WrongTotal,
    /// Every body byte flipped, length and headers unchanged (a corrupted or stale copy).
    Corrupt,
    /// The ETag in its weak form (`W/"x"` for `"x"`), as some CDNs send it.
    WeakEtag,
}

/// Wraps a fetcher and spoils answers: queued faults first, then `always` on every answer.
pub struct Faulty<F> {
    inner: F,
    queue: RefCell<VecDeque<Fault>>,
    always: RefCell<Option<Fault>>,
    /// Milliseconds slept through retries, for tests of the backoff.
    pub slept_ms: Cell<u64>,
}

impl<F: Fetch> Faulty<F> {
    /// Wraps `inner` with no faults yet.
    pub fn new(inner: F) -> Faulty<F> {
        Faulty {
            inner,
            queue: RefCell::new(VecDeque::new()),
            always: RefCell::new(None),
            slept_ms: Cell::new(0),
        }
    }

    /// Spoils the next answer with `fault` (faults queue up in order).
    pub fn then(&self, fault: Fault) -> &Self {
        self.queue.borrow_mut().push_back(fault);
        self
    }

    /// Spoils every answer with `fault` (after the queue is empty); `None` stops.
    pub fn always(&self, fault: Option<Fault>) {
        *self.always.borrow_mut() = fault;
    }

    /// The wrapped fetcher.
    pub fn inner(&self) -> &F {
        &self.inner
    }
}

impl<F: Fetch> Fetch for Faulty<F> {
    fn fetch(&self, req: &Request) -> Result<Response, NetworkError> {
        let fault = self
            .queue
            .borrow_mut()
            .pop_front()
            .or_else(|| self.always.borrow().clone());
        let Some(fault) = fault else {
            return self.inner.fetch(req);
        };
        match fault {
            Fault::Drop => Err(NetworkError("connection reset (injected)".into())),
            Fault::Status(s) => Ok(Response {
                status: s,
                ..Response::default()
            }),
            Fault::IgnoreRange => self.inner.fetch(&Request {
                url: req.url.clone(),
                range: None,
            }),
            Fault::Truncate(n) => {
                let mut r = self.inner.fetch(req)?;
                r.body.truncate(n);
                Ok(r)
            }
            Fault::ShortWhole(n) => {
                let mut r = self.inner.fetch(&Request {
                    url: req.url.clone(),
                    range: None,
                })?;
                r.body.truncate(n);
                Ok(r)
            }
            Fault::Compress => {
                let mut r = self.inner.fetch(req)?;
                r.content_encoding = Some("gzip".into());
                Ok(r)
            }
            Fault::ChangeEtag => {
                let mut r = self.inner.fetch(req)?;
                r.etag = Some("\"redeployed\"".into());
                Ok(r)
            }
            Fault::Corrupt => {
                let mut r = self.inner.fetch(req)?;
                for b in &mut r.body {
                    *b ^= 0xA5;
                }
                Ok(r)
            }
            Fault::WeakEtag => {
                let mut r = self.inner.fetch(req)?;
                r.etag = r.etag.map(|e| format!("W/{e}"));
                Ok(r)
            }
            Fault::WrongTotal => {
                let mut r = self.inner.fetch(req)?;
                if let Some(cr) = &r.content_range {
                    let (range, _) = cr.rsplit_once('/').unwrap_or((cr, ""));
                    r.content_range = Some(format!("{range}/999999999"));
                }
                Ok(r)
            }
        }
    }

    fn sleep_ms(&self, ms: u32) {
        self.slept_ms.set(self.slept_ms.get() + ms as u64);
    }
}
