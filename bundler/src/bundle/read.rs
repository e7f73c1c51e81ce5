//! Reading a bundle as a stream, once: the seal first, then each entry
//! checked against it (path, kind, size, mode, sha256). Hashing runs on a
//! pool of threads, one entry per thread at a time, so a bundle of many
//! blobs uses every core while a single large blob is hashed as fast as it
//! is read. Memory stays bounded whatever the bundle's size.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::sync::mpsc;
use std::thread;

use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};

use super::seal::{Seal, SealEntry, safe_path};
use super::{SEAL, SEAL_SIG, SEAL_SUM, sign};
use crate::progress::Progress;

const MAX_SEAL: u64 = 256 << 20;
const CHUNK: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("not a meshbundle bundle: {0}")]
    NotABundle(String),
    #[error("{entry}: {message}")]
    Bad { entry: String, message: String },
}

fn bad(entry: &str, message: impl Into<String>) -> BundleError {
    BundleError::Bad { entry: entry.to_string(), message: message.into() }
}

/// How the signature came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signed {
    /// Signed, and the signature matches the key given.
    Verified,
    /// Signed, but no key was given to check it with.
    Unchecked,
    Unsigned,
}

#[derive(Debug)]
pub struct Head {
    pub seal: Seal,
    pub seal_bytes: Vec<u8>,
    pub id: String,
    pub signature: Option<Vec<u8>>,
}

#[derive(Debug)]
pub struct Report {
    pub head: Head,
    pub signed: Signed,
    pub entries: usize,
    pub bytes: u64,
}

fn read_small(e: &mut impl Read, path: &str, limit: u64) -> Result<Vec<u8>, BundleError> {
    let mut v = Vec::new();
    e.take(limit + 1).read_to_end(&mut v).map_err(|_| bad(path, "truncated: the bundle ends inside this entry"))?;
    if v.len() as u64 > limit {
        return Err(bad(path, "too large"));
    }
    Ok(v)
}

fn entry_path(e: &tar::Entry<impl Read>) -> Result<String, BundleError> {
    let raw = e.path_bytes();
    String::from_utf8(raw.into_owned()).map_err(|_| bad("(entry)", "a path that is not UTF-8"))
}

/// Checks what an entry's header says before its content is read.
fn check_header(e: &tar::Entry<impl Read>, path: &str) -> Result<(), BundleError> {
    let kind = e.header().entry_type();
    if kind.is_symlink() || kind.is_hard_link() {
        let target = e.link_name().ok().flatten().map(|p| p.display().to_string()).unwrap_or_default();
        return Err(bad(path, format!("a link entry (to `{target}`): a bundle holds regular files only")));
    }
    if !kind.is_file() {
        return Err(bad(path, format!("a {kind:?} entry: a bundle holds regular files only")));
    }
    if !safe_path(path) {
        return Err(bad(path, "the path escapes the bundle (absolute, `..` or empty parts)"));
    }
    Ok(())
}

fn next_entry<'a, R: Read>(entries: &mut tar::Entries<'a, R>, after: &str) -> Result<Option<tar::Entry<'a, R>>, BundleError> {
    match entries.next() {
        None => Ok(None),
        Some(Ok(e)) => Ok(Some(e)),
        Some(Err(e)) => Err(bad(after, format!("the bundle is damaged or truncated after this entry ({e})"))),
    }
}

/// Reads the seal, its checksum and the signature, if there is one; returns
/// the head and the first entry after them.
fn read_head<'a, R: Read>(entries: &mut tar::Entries<'a, R>) -> Result<(Head, Option<tar::Entry<'a, R>>), BundleError> {
    let mut first =
        next_entry(entries, "(start)")?.ok_or_else(|| BundleError::NotABundle("the file is empty or not a tar archive".into()))?;
    let p = entry_path(&first)?;
    if p != SEAL {
        return Err(BundleError::NotABundle(format!("the first entry is `{p}`, not {SEAL}")));
    }
    let seal_bytes = read_small(&mut first, SEAL, MAX_SEAL)?;
    let id = Seal::id_of(&seal_bytes);
    let mut sum = next_entry(entries, SEAL)?.ok_or_else(|| bad(SEAL_SUM, "missing: the bundle ends after the seal"))?;
    if entry_path(&sum)? != SEAL_SUM {
        return Err(bad(SEAL_SUM, format!("missing: `{}` follows the seal", entry_path(&sum)?)));
    }
    let sum_text = read_small(&mut sum, SEAL_SUM, 1024)?;
    if String::from_utf8_lossy(&sum_text).trim() != id {
        return Err(bad(SEAL, format!("damaged: its sha256 is {id}, but {SEAL_SUM} says {}", String::from_utf8_lossy(&sum_text).trim())));
    }
    let seal: Seal = serde_json::from_slice(&seal_bytes).map_err(|e| bad(SEAL, format!("damaged: {e}")))?;
    if seal.format != super::FORMAT {
        return Err(bad(SEAL, format!("format `{}` is not one this meshbundle reads ({})", seal.format, super::FORMAT)));
    }
    let mut next = next_entry(entries, SEAL_SUM)?;
    let mut signature = None;
    if let Some(e) = next.as_mut()
        && entry_path(e)? == SEAL_SIG
    {
        signature = Some(read_small(e, SEAL_SIG, 4096)?);
        next = next_entry(entries, SEAL_SIG)?;
    }
    Ok((Head { seal, seal_bytes, id, signature }, next))
}

/// Reads just the head of a bundle (for `inspect`).
pub fn head(path: &Path) -> Result<Head, BundleError> {
    let f = File::open(path).map_err(|source| BundleError::Io { path: path.display().to_string(), source })?;
    let mut archive = tar::Archive::new(BufReader::new(f));
    let mut entries = archive.entries().map_err(|e| BundleError::NotABundle(e.to_string()))?;
    Ok(read_head(&mut entries)?.0)
}

fn check_signature(head: &Head, key: Option<&VerifyingKey>) -> Result<Signed, BundleError> {
    match (&head.signature, key) {
        (Some(sig), Some(k)) => sign::check(sig, &head.seal_bytes, k).map(|_| Signed::Verified).map_err(|m| bad(SEAL_SIG, m)),
        (Some(_), None) => Ok(Signed::Unchecked),
        (None, Some(_)) => Err(bad(SEAL_SIG, "missing: the bundle is not signed, but a key was given")),
        (None, None) => Ok(Signed::Unsigned),
    }
}

/// Matches the next archive entry to the seal's next expected entry.
fn expect<'s>(
    expected: &mut std::iter::Peekable<std::slice::Iter<'s, SealEntry>>,
    path: &str,
    last: &str,
) -> Result<&'s SealEntry, BundleError> {
    if path == last {
        return Err(bad(path, "a duplicate entry"));
    }
    match expected.peek() {
        None => Err(bad(path, "an extra entry the seal does not list")),
        Some(want) if want.path == path => Ok(expected.next().unwrap_or_else(|| unreachable!())),
        Some(want) if path < want.path.as_str() => Err(bad(path, "an extra entry the seal does not list")),
        Some(want) => Err(bad(&want.path, format!("missing (the bundle has `{path}` where it should be)"))),
    }
}

fn check_meta(e: &tar::Entry<impl Read>, want: &SealEntry) -> Result<(), BundleError> {
    let size = e.header().size().map_err(|_| bad(&want.path, "a damaged header"))?;
    if size != want.size {
        return Err(bad(&want.path, format!("{size} bytes, but the seal says {}", want.size)));
    }
    let mode = e.header().mode().map_err(|_| bad(&want.path, "a damaged header"))? & 0o7777;
    if mode != want.mode {
        return Err(bad(&want.path, format!("mode {mode:o}, but the seal says {:o}", want.mode)));
    }
    Ok(())
}

/// Where an entry's content lies in the file.
struct Span {
    /// Index in the seal's entries.
    entry: usize,
    offset: u64,
    size: u64,
}

/// Walks the headers of the entries after the head (their content is skipped
/// by seeking), checking each against the seal; returns where each entry's
/// content lies, and the first structural problem, if any.
fn layout<'a, R: Read + io::Seek>(
    entries: &mut tar::Entries<'a, R>,
    mut current: Option<tar::Entry<'a, R>>,
    seal: &Seal,
    file_len: u64,
) -> (Vec<Span>, Option<BundleError>) {
    let mut spans = Vec::new();
    let mut expected = seal.entries.iter().peekable();
    let mut last = String::new();
    while let Some(e) = current.take() {
        let step = (|| -> Result<(String, u64), BundleError> {
            let p = entry_path(&e)?;
            check_header(&e, &p)?;
            // The i-th entry matched is the seal's i-th.
            let want = expect(&mut expected, &p, &last)?;
            check_meta(&e, want)?;
            let offset = e.raw_file_position();
            if offset.saturating_add(want.size) > file_len {
                return Err(bad(&p, "truncated: the bundle ends inside this entry"));
            }
            Ok((p, want.size))
        })();
        match step {
            Ok((p, size)) => {
                spans.push(Span { entry: spans.len(), offset: e.raw_file_position(), size });
                last = p;
            }
            Err(err) => return (spans, Some(err)),
        }
        current = match next_entry(entries, &last) {
            Ok(n) => n,
            Err(err) => return (spans, Some(err)),
        };
    }
    if let Some(missing) = expected.next() {
        return (spans, Some(bad(&missing.path, "missing: the bundle ends before this entry (truncated?)")));
    }
    (spans, None)
}

/// Hashes one span with positional reads; a second thread reads ahead while
/// this one hashes, so a single large entry goes as fast as sha256 does.
fn hash_span(file: &File, span: &Span, progress: &Progress) -> io::Result<String> {
    use std::os::unix::fs::FileExt;
    let mut h = Sha256::new();
    if span.size <= (4 * CHUNK) as u64 {
        let mut buf = vec![0u8; span.size as usize];
        file.read_exact_at(&mut buf, span.offset)?;
        h.update(&buf);
        progress.inc(span.size);
        return Ok(hex::encode(h.finalize()));
    }
    let (full_tx, full_rx) = mpsc::sync_channel::<(Vec<u8>, usize)>(2);
    let (empty_tx, empty_rx) = mpsc::sync_channel::<Vec<u8>>(4);
    for _ in 0..3 {
        let _ = empty_tx.send(vec![0u8; CHUNK]);
    }
    thread::scope(|s| {
        let reader = s.spawn(move || -> io::Result<()> {
            let end = span.offset + span.size;
            let mut pos = span.offset;
            while pos < end {
                let Ok(mut buf) = empty_rx.recv() else { return Ok(()) };
                let n = CHUNK.min((end - pos) as usize);
                file.read_exact_at(&mut buf[..n], pos)?;
                pos += n as u64;
                if full_tx.send((buf, n)).is_err() {
                    return Ok(());
                }
            }
            Ok(())
        });
        for (buf, n) in full_rx {
            h.update(&buf[..n]);
            progress.inc(n as u64);
            let _ = empty_tx.send(buf);
        }
        reader.join().unwrap_or_else(|_| Err(io::Error::other("the reading thread failed")))
    })?;
    Ok(hex::encode(h.finalize()))
}

/// Verifies a whole bundle: every entry, its content and the signature.
/// Names the first bad entry. Each byte is read once: the headers are walked
/// first, then the entries are hashed on `threads` threads at once.
pub fn verify(path: &Path, key: Option<&VerifyingKey>, threads: usize, progress: &Progress) -> Result<Report, BundleError> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let io_err = |source| BundleError::Io { path: path.display().to_string(), source };
    let f = File::open(path).map_err(io_err)?;
    let file_len = f.metadata().map_err(io_err)?.len();
    progress.add_total(file_len);
    let mut archive = tar::Archive::new(BufReader::new(&f));
    let mut entries = archive.entries_with_seek().map_err(|e| BundleError::NotABundle(e.to_string()))?;
    let (head, current) = read_head(&mut entries)?;
    let signed = check_signature(&head, key)?;
    let (spans, broken) = layout(&mut entries, current, &head.seal, file_len);

    let next = AtomicUsize::new(0);
    let first_bad = AtomicUsize::new(usize::MAX);
    let outcomes: std::sync::Mutex<Vec<(usize, String)>> = std::sync::Mutex::new(Vec::new());
    thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= spans.len() {
                        break;
                    }
                    // Past a known bad entry, nothing more is needed.
                    if i > first_bad.load(Ordering::Relaxed) {
                        continue;
                    }
                    let want = &head.seal.entries[spans[i].entry];
                    let message = match hash_span(&f, &spans[i], progress) {
                        Ok(d) if d == want.sha256 => continue,
                        Ok(d) => format!("content changed: sha256 {d}, but the seal says {}", want.sha256),
                        Err(_) => "truncated: the bundle ends inside this entry".to_string(),
                    };
                    first_bad.fetch_min(i, Ordering::Relaxed);
                    if let Ok(mut o) = outcomes.lock() {
                        o.push((i, message));
                    }
                }
            });
        }
    });
    // A changed entry before the structural problem is the first bad one.
    let mut bad_ones = outcomes.into_inner().unwrap_or_default();
    bad_ones.sort_by_key(|o| o.0);
    if let Some((i, message)) = bad_ones.into_iter().next() {
        return Err(bad(&head.seal.entries[spans[i].entry].path, message));
    }
    if let Some(err) = broken {
        return Err(err);
    }
    let bytes = spans.iter().map(|s| s.size).sum();
    Ok(Report { head, signed, entries: spans.len(), bytes })
}

/// A reader that hashes what passes through it.
pub struct Hashing<R> {
    inner: R,
    hash: Sha256,
    n: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.n += n as u64;
        Ok(n)
    }
}

/// Streams the entries of a bundle (after the head) to `f`, checking each
/// against the seal as it goes (`f` sees only bytes that are then checked; a
/// mismatch ends the stream with an error naming the entry).
pub fn each_entry(
    path: &Path,
    mut f: impl FnMut(&SealEntry, &mut dyn Read) -> Result<(), crate::error::Error>,
) -> Result<Head, crate::error::Error> {
    let to_err = |e: BundleError| crate::error::Error::failed(e.to_string(), "the bundle changed since it was verified");
    let file = File::open(path).map_err(|e| crate::error::Error::io(path, e))?;
    let mut archive = tar::Archive::new(BufReader::with_capacity(CHUNK, file));
    let mut entries = archive.entries().map_err(|e| to_err(BundleError::NotABundle(e.to_string())))?;
    let (head, mut current) = read_head(&mut entries).map_err(to_err)?;
    let mut expected = head.seal.entries.iter().peekable();
    let mut last = String::new();
    while let Some(e) = current.take() {
        let p = entry_path(&e).map_err(to_err)?;
        check_header(&e, &p).map_err(to_err)?;
        let want = expect(&mut expected, &p, &last).map_err(to_err)?;
        check_meta(&e, want).map_err(to_err)?;
        let mut r = Hashing { inner: e, hash: Sha256::new(), n: 0 };
        f(want, &mut r)?;
        io::copy(&mut r, &mut io::sink()).map_err(|_| to_err(bad(&p, "truncated")))?;
        if r.n != want.size || hex::encode(r.hash.finalize()) != want.sha256 {
            return Err(to_err(bad(&p, "content changed")));
        }
        last = p;
        current = next_entry(&mut entries, &last).map_err(to_err)?;
    }
    if let Some(m) = expected.next() {
        return Err(to_err(bad(&m.path, "missing")));
    }
    Ok(head)
}
