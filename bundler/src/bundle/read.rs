//! Reading a bundle as a stream, once: the seal first, then each entry
//! checked against it (path, kind, size, mode, sha256). Hashing runs on a
//! pool of threads, one entry per thread at a time, so a bundle of many
//! blobs uses every core while a single large blob is hashed as fast as it
//! is read. Memory stays bounded whatever the bundle's size.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;

use sha2::{Digest, Sha256};

use super::seal::{EntryPath, MAX_PATH, Seal, SealEntry};
use super::sign::{self, TrustPolicy};
use super::{SEAL, SEAL_SIG, SEAL_SUM};
use crate::progress::Progress;

/// The largest seal read: far above any real site (a seal is mostly its
/// spec and lock), and small enough that reading one stays within the
/// memory `verify` is allowed.
const MAX_SEAL: u64 = 16 << 20;
const CHUNK: usize = 1 << 20;

/// What is named when the archive goes on after its end-of-archive marker.
pub const END: &str = "(end of archive)";

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("no such file")]
    NoSuchFile,
    /// Not a bundle at all; says why in a few plain words.
    #[error("not a meshbundle bundle ({0})")]
    NotABundle(String),
    #[error("{entry}: {message}")]
    Bad { entry: String, message: String },
    /// The archive does not read on after `entry`: the tar reader's error.
    #[error("{entry}: the bundle is damaged or truncated after this entry")]
    Damaged {
        entry: String,
        #[source]
        source: io::Error,
    },
}

impl BundleError {
    /// Whether the file is no bundle at all (missing, or something else):
    /// said in one line, with no entry to name.
    pub fn is_not_a_bundle(&self) -> bool {
        matches!(self, BundleError::NoSuchFile | BundleError::NotABundle(_))
    }
}

fn bad(entry: &str, message: impl Into<String>) -> BundleError {
    BundleError::Bad {
        entry: shown(entry),
        message: message.into(),
    }
}

/// An entry name as it may be printed: shortened, and every character a
/// terminal would act on or that hides text escaped, since the name may come
/// from a hostile archive.
pub fn shown(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if i == 200 {
            out.push('…');
            break;
        }
        if super::seal::invisible(c) || c == '\\' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// How the signature came out. A signature that is damaged, forged or of
/// another algorithm is never one of these: it is an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signed {
    Unsigned,
    /// Signed, the signature matches the key it carries, but no trust policy
    /// was in force to say whether that key is trusted.
    Unchecked {
        fingerprint: String,
    },
    /// Signed by a key of the trust policy.
    Verified {
        fingerprint: String,
        file: PathBuf,
        policy: String,
    },
}

impl Signed {
    /// `unsigned`, `unchecked` or `verified`.
    pub fn state(&self) -> &'static str {
        match self {
            Signed::Unsigned => "unsigned",
            Signed::Unchecked { .. } => "unchecked",
            Signed::Verified { .. } => "verified",
        }
    }

    /// The state in words: `unsigned`; `signed, not checked (…)`; `signed by key FINGERPRINT, verified`.
    pub fn describe(&self) -> String {
        match self {
            Signed::Unsigned => "unsigned".into(),
            Signed::Unchecked { fingerprint } => {
                format!(
                    "signed, not checked: it claims key {fingerprint} (unchecked; give --key or set a trust policy)"
                )
            }
            Signed::Verified { fingerprint, .. } => format!("signed by key {fingerprint}, verified"),
        }
    }

    /// For `--format json`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({"state": self.state(), "text": self.describe()});
        match self {
            Signed::Unsigned => {}
            Signed::Unchecked { fingerprint } => v["claimedKey"] = fingerprint.as_str().into(),
            Signed::Verified {
                fingerprint,
                file,
                policy,
            } => {
                v["key"] = fingerprint.as_str().into();
                v["trustedBy"] = file.display().to_string().into();
                v["policy"] = policy.as_str().into();
            }
        }
        v
    }
}

#[derive(Debug)]
pub struct Head {
    pub seal: Seal,
    pub seal_bytes: Vec<u8>,
    pub id: meshbundle_core::digest::Digest,
    pub signature: Option<Vec<u8>>,
}

#[derive(Debug)]
pub struct Report {
    pub head: Head,
    pub signed: Signed,
    pub entries: usize,
    pub bytes: u64,
}

/// Reads a small entry of the head whole; a short read is a cut bundle.
fn read_small(e: &mut tar::Entry<impl Read>, path: &str, limit: u64) -> Result<Vec<u8>, BundleError> {
    let size = e.header().entry_size().map_err(|_| bad(path, "a damaged header"))?;
    if size > limit {
        return Err(bad(path, format!("too large ({size} bytes; at most {limit})")));
    }
    let mut v = Vec::with_capacity(size as usize);
    e.take(size)
        .read_to_end(&mut v)
        .map_err(|_| bad(path, "truncated: the bundle ends inside this entry"))?;
    if v.len() as u64 != size {
        return Err(bad(path, "truncated: the bundle ends inside this entry"));
    }
    Ok(v)
}

/// Where an entry's data ends, padded to a whole block.
fn data_end(e: &tar::Entry<impl Read>) -> u64 {
    let size = e.header().entry_size().unwrap_or(0);
    e.raw_file_position() + size.div_ceil(512) * 512
}

fn entry_path(e: &tar::Entry<impl Read>) -> Result<String, BundleError> {
    let raw = e.path_bytes();
    String::from_utf8(raw.into_owned()).map_err(|err| {
        bad(
            &String::from_utf8_lossy(err.as_bytes()),
            "a path that is not UTF-8 (shown with its bad bytes replaced)",
        )
    })
}

/// Checks what an entry's header says before its content is read.
fn check_header(e: &tar::Entry<impl Read>, path: &str) -> Result<(), BundleError> {
    let kind = e.header().entry_type();
    if kind.is_symlink() || kind.is_hard_link() {
        let target = e
            .link_name()
            .ok()
            .flatten()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        return Err(bad(
            path,
            format!("a link entry (to `{target}`): a bundle holds regular files only"),
        ));
    }
    if kind != tar::EntryType::Regular {
        return Err(bad(
            path,
            format!("a {kind:?} entry: a bundle holds regular files only"),
        ));
    }
    // A PAX header could give the entry another size than its own header,
    // which readers honour differently: meshbundle writes none.
    if e.header().size().ok() != Some(e.size()) {
        return Err(bad(
            path,
            "a PAX extended header changes its size: meshbundle writes none, and readers would disagree on the entry",
        ));
    }
    if let Err(why) = EntryPath::parse(path) {
        return Err(bad(
            path,
            format!("the path escapes the bundle or is not one it may hold: {why}"),
        ));
    }
    Ok(())
}

fn next_entry<'a, R: Read>(
    entries: &mut tar::Entries<'a, R>,
    after: &str,
) -> Result<Option<tar::Entry<'a, R>>, BundleError> {
    match entries.next() {
        None => Ok(None),
        Some(Ok(e)) => Ok(Some(e)),
        Some(Err(e)) => Err(BundleError::Damaged {
            entry: shown(after),
            source: e,
        }),
    }
}

/// The next entry of the head, which must be `name`; a header that does not
/// read is that entry's.
fn head_entry<'a, R: Read>(
    entries: &mut tar::Entries<'a, R>,
    name: &str,
) -> Result<Option<tar::Entry<'a, R>>, BundleError> {
    match entries.next() {
        None => Ok(None),
        Some(Ok(e)) => Ok(Some(e)),
        Some(Err(_)) => Err(bad(name, "a damaged or cut header")),
    }
}

/// Opens a bundle, saying plainly when the path is no bundle at all.
/// Returns the file, its length, and whether its first block names the seal
/// (so a damaged first header is the seal's, not a stranger's).
fn open(path: &Path) -> Result<(File, u64, bool), BundleError> {
    use std::os::unix::fs::FileExt;
    let io_err = |source: io::Error| match source.kind() {
        io::ErrorKind::NotFound => BundleError::NoSuchFile,
        _ => BundleError::Io {
            path: path.display().to_string(),
            source,
        },
    };
    let meta = std::fs::metadata(path).map_err(io_err)?;
    if meta.is_dir() {
        return Err(BundleError::NotABundle("it is a directory".into()));
    }
    if !meta.is_file() {
        return Err(BundleError::NotABundle("it is not a regular file".into()));
    }
    let f = File::open(path).map_err(io_err)?;
    let len = meta.len();
    if len == 0 {
        return Err(BundleError::NotABundle("it is empty".into()));
    }
    let mut first = [0u8; 100];
    let n = f.read_at(&mut first, 0).map_err(io_err)?;
    let names_seal = first[..n].starts_with(SEAL.as_bytes()) && first.get(SEAL.len()).is_none_or(|&b| b == 0);
    if names_seal {
        extensions_are_small(path)?;
    }
    Ok((f, len, names_seal))
}

/// Walks the raw headers once (content is skipped by seeking) and refuses a
/// GNU long name or link, or a PAX header, larger than any path a bundle may
/// hold, before a tar reader would read one whole into memory. A header that
/// does not read ends the walk: the reading proper names it.
fn extensions_are_small(path: &Path) -> Result<(), BundleError> {
    let Ok(f) = File::open(path) else { return Ok(()) };
    let mut archive = tar::Archive::new(BufReader::new(f));
    let Ok(entries) = archive.entries_with_seek() else {
        return Ok(());
    };
    let limit = MAX_PATH as u64 + 512;
    let mut last = String::from("(start)");
    for e in entries.raw(true) {
        let Ok(e) = e else { return Ok(()) };
        let kind = e.header().entry_type();
        let extension = kind.is_gnu_longname()
            || kind.is_gnu_longlink()
            || kind.is_pax_local_extensions()
            || kind.is_pax_global_extensions();
        if extension && e.header().size().is_ok_and(|n| n > limit) {
            return Err(bad(
                &last,
                format!(
                    "the entry after it has a {kind:?} header of more than {limit} bytes: no path in a bundle is that long"
                ),
            ));
        }
        if !extension {
            last = String::from_utf8_lossy(&e.header().path_bytes()).into_owned();
        }
    }
    Ok(())
}

/// Reads the seal, its checksum and the signature, if there is one; returns
/// the head, the first entry after them, and where the head's data ends.
fn read_head<'a, R: Read>(
    entries: &mut tar::Entries<'a, R>,
    names_seal: bool,
) -> Result<(Head, Option<tar::Entry<'a, R>>, u64), BundleError> {
    let not_tar = || {
        if names_seal {
            bad(SEAL, "a damaged or cut header")
        } else {
            BundleError::NotABundle("it is not a tar archive".into())
        }
    };
    let mut first = match entries.next() {
        Some(Ok(e)) => e,
        _ => return Err(not_tar()),
    };
    let p = entry_path(&first).map_err(|_| not_tar())?;
    if p == SEAL {
        check_header(&first, SEAL)?;
    }
    if p != SEAL {
        let shown: String = p.chars().take(60).flat_map(char::escape_debug).collect();
        return Err(BundleError::NotABundle(format!(
            "a tar archive whose first entry is `{shown}`, not {SEAL}"
        )));
    }
    let seal_bytes = read_small(&mut first, SEAL, MAX_SEAL)?;
    let id = Seal::id_of(&seal_bytes);
    let mut sum =
        head_entry(entries, SEAL_SUM)?.ok_or_else(|| bad(SEAL_SUM, "missing: the bundle ends after the seal"))?;
    if entry_path(&sum)? != SEAL_SUM {
        return Err(bad(
            SEAL_SUM,
            format!("missing: `{}` follows the seal", shown(&entry_path(&sum)?)),
        ));
    }
    check_header(&sum, SEAL_SUM)?;
    let sum_text = read_small(&mut sum, SEAL_SUM, 1024)?;
    let mut end = data_end(&sum);
    if sum_text != format!("{id}\n").as_bytes() {
        let said = shown(String::from_utf8_lossy(&sum_text).trim());
        if id == String::from_utf8_lossy(&sum_text).trim() {
            return Err(bad(
                SEAL_SUM,
                format!("not in the form meshbundle writes (`{id}` and one newline, nothing else)"),
            ));
        }
        return Err(bad(
            SEAL,
            format!("damaged: its sha256 is {id}, but {SEAL_SUM} says {said}"),
        ));
    }
    // The format first, so a newer seal is named as such rather than by its first new field.
    #[derive(serde::Deserialize)]
    struct Format {
        format: String,
    }
    if let Ok(f) = serde_json::from_slice::<Format>(&seal_bytes)
        && f.format != super::FORMAT
    {
        let shown: String = f.format.chars().take(60).flat_map(char::escape_debug).collect();
        return Err(bad(
            SEAL,
            format!("format `{shown}` is not one this meshbundle reads ({})", super::FORMAT),
        ));
    }
    let seal = Seal::parse(&seal_bytes).map_err(|m| bad(SEAL, m))?;
    let mut next = next_entry(entries, SEAL_SUM)?;
    let mut signature = None;
    if let Some(e) = next.as_mut()
        && entry_path(e)? == SEAL_SIG
    {
        check_header(e, SEAL_SIG)?;
        signature = Some(read_small(e, SEAL_SIG, 4096)?);
        end = data_end(e);
        next = next_entry(entries, SEAL_SIG)?;
    }
    Ok((
        Head {
            seal,
            seal_bytes,
            id,
            signature,
        },
        next,
        end,
    ))
}

/// Reads just the head of a bundle (for `inspect` and `build --since`); the
/// signature is read, not checked ([`signature`] does that).
pub fn head(path: &Path) -> Result<Head, BundleError> {
    let (f, _, names_seal) = open(path)?;
    let mut archive = tar::Archive::new(BufReader::new(f));
    let mut entries = archive
        .entries()
        .map_err(|_| BundleError::NotABundle("it is not a tar archive".into()))?;
    Ok(read_head(&mut entries, names_seal)?.0)
}

/// The signature state of a bundle under a trust policy (or none). A
/// signature that does not parse, is not ed25519, or does not match the key
/// it carries is an error whatever the policy; with a policy in force, so
/// are an unsigned bundle and a signer the policy does not hold.
pub fn signature(head: &Head, policy: Option<&TrustPolicy>) -> Result<Signed, BundleError> {
    let signer = match &head.signature {
        None => None,
        Some(sig) => Some(sign::examine(sig, &head.seal_bytes).map_err(|m| bad(SEAL_SIG, m))?),
    };
    match (signer, policy) {
        (None, None) => Ok(Signed::Unsigned),
        (Some(s), None) => Ok(Signed::Unchecked {
            fingerprint: s.fingerprint,
        }),
        (None, Some(p)) => Err(bad(
            SEAL_SIG,
            format!(
                "missing: the bundle is unsigned, and the trust policy ({}) accepts only bundles signed by its keys",
                p.source
            ),
        )),
        (Some(s), Some(p)) => match p.find(&s.key) {
            Some(t) => Ok(Signed::Verified {
                fingerprint: s.fingerprint,
                file: t.file.clone(),
                policy: p.source.clone(),
            }),
            None => Err(bad(
                SEAL_SIG,
                format!(
                    "signed by another key than the trusted ones: key {} is not in the trust policy ({})",
                    s.fingerprint, p.source
                ),
            )),
        },
    }
}

/// After the last entry: the end-of-archive marker (two zero blocks, as
/// `tar::Builder::finish` writes them) and nothing else.
fn check_end(file: &File, end: u64, file_len: u64) -> Result<(), BundleError> {
    use std::os::unix::fs::FileExt;
    let want = end + 1024;
    let mut tail = [0u8; 1024];
    let n = (file_len.saturating_sub(end)).min(1024) as usize;
    file.read_exact_at(&mut tail[..n], end)
        .map_err(|_| bad(END, "the end-of-archive marker does not read"))?;
    if tail[..n].iter().any(|&b| b != 0) {
        return Err(bad(
            END,
            "data after the end-of-archive marker: a bundle ends with two zero blocks",
        ));
    }
    if file_len < want {
        return Err(bad(END, "truncated: the end-of-archive marker is missing or cut"));
    }
    if file_len > want {
        return Err(bad(
            END,
            format!("{} bytes of data after the end-of-archive marker", file_len - want),
        ));
    }
    Ok(())
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
        Some(want) if want.path == *path => Ok(expected.next().unwrap_or_else(|| unreachable!())),
        Some(want) if path < want.path.as_str() => Err(bad(path, "an extra entry the seal does not list")),
        Some(want) => Err(bad(
            &want.path,
            format!("missing (the bundle has `{path}` where it should be)"),
        )),
    }
}

fn check_meta(e: &tar::Entry<impl Read>, want: &SealEntry) -> Result<(), BundleError> {
    let size = e.header().size().map_err(|_| bad(&want.path, "a damaged header"))?;
    if size != want.size {
        return Err(bad(
            &want.path,
            format!("{size} bytes, but the seal says {}", want.size),
        ));
    }
    let mode = e.header().mode().map_err(|_| bad(&want.path, "a damaged header"))? & 0o7777;
    if want.mode != mode {
        return Err(bad(
            &want.path,
            format!("mode {mode:o}, but the seal says {:o}", want.mode.bits()),
        ));
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
    end: &mut u64,
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
                spans.push(Span {
                    entry: spans.len(),
                    offset: e.raw_file_position(),
                    size,
                });
                *end = data_end(&e);
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
        return (
            spans,
            Some(bad(
                &missing.path,
                "missing: the bundle ends before this entry (truncated?)",
            )),
        );
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
        reader
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the reading thread failed")))
    })?;
    Ok(hex::encode(h.finalize()))
}

/// A bundle whose head (seal, checksum, signature under the trust policy)
/// and structure (every entry's header against the seal, the end of the
/// archive) have been checked, with no entry's content read yet: where each
/// entry lies, so that only the entries needed are read.
pub struct Checked {
    pub head: Head,
    pub signed: Signed,
    file: std::sync::Arc<File>,
    spans: Vec<Span>,
    /// The first structural problem found walking the headers.
    broken: Option<BundleError>,
}

/// What [`Checked::verify_entries`] read and found to match the seal.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Hashed {
    pub entries: usize,
    pub bytes: u64,
}

/// Reads and checks the head, then walks every header (content skipped by
/// seeking): no entry's content is read.
fn walk(path: &Path, policy: Option<&TrustPolicy>) -> Result<Checked, BundleError> {
    let (f, file_len, names_seal) = open(path)?;
    // The reader borrows the file only while the headers are walked.
    let (head, signed, spans, broken) = {
        let mut archive = tar::Archive::new(BufReader::new(&f));
        let mut entries = archive
            .entries_with_seek()
            .map_err(|_| BundleError::NotABundle("it is not a tar archive".into()))?;
        let (head, current, mut end) = read_head(&mut entries, names_seal)?;
        let signed = signature(&head, policy)?;
        let (spans, mut broken) = layout(&mut entries, current, &head.seal, file_len, &mut end);
        if broken.is_none() {
            broken = check_end(&f, end, file_len).err();
        }
        (head, signed, spans, broken)
    };
    Ok(Checked {
        head,
        signed,
        file: std::sync::Arc::new(f),
        spans,
        broken,
    })
}

impl Checked {
    /// Hashes the spans whose seal entry `wanted` on `threads` threads and
    /// names the first that does not match. (A structural problem is the
    /// caller's: a changed entry before it is the first bad one.)
    fn hash(
        &self,
        wanted: impl Fn(&SealEntry) -> bool + Sync,
        threads: usize,
        progress: &Progress,
    ) -> Result<Hashed, BundleError> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let todo: Vec<&Span> = self
            .spans
            .iter()
            .filter(|s| wanted(&self.head.seal.entries[s.entry]))
            .collect();
        let next = AtomicUsize::new(0);
        let first_bad = AtomicUsize::new(usize::MAX);
        let outcomes: std::sync::Mutex<Vec<(usize, String)>> = std::sync::Mutex::new(Vec::new());
        let f: &File = &self.file;
        thread::scope(|s| {
            for _ in 0..threads.max(1).min(todo.len().max(1)) {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= todo.len() {
                            break;
                        }
                        // Past a known bad entry, nothing more is needed.
                        if i > first_bad.load(Ordering::Relaxed) {
                            continue;
                        }
                        let want = &self.head.seal.entries[todo[i].entry];
                        let message = match hash_span(f, todo[i], progress) {
                            Ok(d) if d == want.sha256.hex() => continue,
                            Ok(d) => format!("content changed: sha256 {d}, but the seal says {}", want.sha256.hex()),
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
        let mut bad_ones = outcomes.into_inner().unwrap_or_default();
        bad_ones.sort_by_key(|o| o.0);
        if let Some((i, message)) = bad_ones.into_iter().next() {
            return Err(bad(&self.head.seal.entries[todo[i].entry].path, message));
        }
        Ok(Hashed {
            entries: todo.len(),
            bytes: todo.iter().map(|s| s.size).sum(),
        })
    }

    /// Reads and hashes, on `threads` threads, every entry `wanted` picks,
    /// and nothing else; names the first whose content is not what the seal
    /// says.
    pub fn verify_entries(
        &self,
        wanted: impl Fn(&SealEntry) -> bool + Sync,
        threads: usize,
        progress: &Progress,
    ) -> Result<Hashed, BundleError> {
        progress.add_total(
            self.spans
                .iter()
                .filter(|s| wanted(&self.head.seal.entries[s.entry]))
                .map(|s| s.size)
                .sum(),
        );
        self.hash(wanted, threads, progress)
    }

    /// The open bundle file the spans are read from.
    pub fn file(&self) -> &std::sync::Arc<File> {
        &self.file
    }

    /// Where the content of the seal's `i`-th entry lies: (offset, size).
    pub fn span(&self, i: usize) -> Option<(u64, u64)> {
        self.spans.get(i).filter(|s| s.entry == i).map(|s| (s.offset, s.size))
    }

    /// Streams the entries `wanted` picks, in seal order, to `f`, each read
    /// from where it lies (the others are not read) and hashed again as it
    /// passes: `f` sees only bytes that are then checked, and an entry whose
    /// bytes changed since they were verified ends the stream with an error
    /// naming it.
    pub fn each(
        &self,
        wanted: impl Fn(&SealEntry) -> bool,
        mut f: impl FnMut(&SealEntry, &mut dyn Read) -> Result<(), crate::error::Error>,
    ) -> Result<(), crate::error::Error> {
        let changed = |p: &str, why: &str| {
            crate::error::Error::failed(
                format!("{}: {why}", shown(p)),
                "the bundle changed since it was checked: verify it again",
            )
        };
        for (i, want) in self.head.seal.entries.iter().enumerate() {
            if !wanted(want) {
                continue;
            }
            let (offset, size) = self
                .span(i)
                .ok_or_else(|| changed(&want.path, "not where the headers said"))?;
            let mut r = Hashing {
                inner: BufReader::with_capacity(
                    CHUNK,
                    SpanReader {
                        file: &self.file,
                        pos: offset,
                        end: offset + size,
                    },
                ),
                hash: Sha256::new(),
                n: 0,
            };
            f(want, &mut r)?;
            io::copy(&mut r, &mut io::sink()).map_err(|_| changed(&want.path, "truncated"))?;
            if r.n != want.size || hex::encode(r.hash.finalize()) != want.sha256.hex() {
                return Err(changed(&want.path, "content changed"));
            }
        }
        Ok(())
    }
}

/// Positional reads of one span of a file.
struct SpanReader<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl Read for SpanReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let n = (self.end - self.pos).min(buf.len() as u64) as usize;
        if n == 0 {
            return Ok(0);
        }
        let got = self.file.read_at(&mut buf[..n], self.pos)?;
        if got == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.pos += got as u64;
        Ok(got)
    }
}

/// Checks a bundle's head and structure as [`verify`] does, reading no
/// entry's content: for `import`, which then reads only the entries it
/// writes. A bundle with a structural problem is hashed whole, so the
/// refusal names the same entry `verify` names.
pub fn check(
    path: &Path,
    policy: Option<&TrustPolicy>,
    threads: usize,
    progress: &Progress,
) -> Result<Checked, BundleError> {
    let mut c = walk(path, policy)?;
    if let Some(broken) = c.broken.take() {
        progress.add_total(c.file.metadata().map(|m| m.len()).unwrap_or(0));
        c.hash(|_| true, threads, progress)?;
        return Err(broken);
    }
    Ok(c)
}

/// Verifies a whole bundle: every entry, its content and the signature.
/// Names the first bad entry. Each byte is read once: the headers are walked
/// first, then the entries are hashed on `threads` threads at once.
pub fn verify(
    path: &Path,
    policy: Option<&TrustPolicy>,
    threads: usize,
    progress: &Progress,
) -> Result<Report, BundleError> {
    let mut c = walk(path, policy)?;
    // Counted against the file's size, as `ls` shows it.
    progress.add_total(c.file.metadata().map(|m| m.len()).unwrap_or(0));
    let read = c.hash(|_| true, threads, progress)?;
    if let Some(broken) = c.broken.take() {
        return Err(broken);
    }
    Ok(Report {
        head: c.head,
        signed: c.signed,
        entries: read.entries,
        bytes: read.bytes,
    })
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
/// mismatch ends the stream with an error naming the entry). `verified` is
/// the seal `verify` checked: a file whose seal is another (replaced since)
/// is refused before `f` sees anything.
pub fn each_entry(
    path: &Path,
    verified: &Seal,
    mut f: impl FnMut(&SealEntry, &mut dyn Read) -> Result<(), crate::error::Error>,
) -> Result<Head, crate::error::Error> {
    let to_err = |e: BundleError| crate::error::Error::from_source(e, "the bundle changed since it was verified");
    let (file, _, names_seal) = open(path).map_err(to_err)?;
    let mut archive = tar::Archive::new(BufReader::with_capacity(CHUNK, file));
    let mut entries = archive
        .entries()
        .map_err(|_| to_err(BundleError::NotABundle("it is not a tar archive".into())))?;
    let (head, mut current, _) = read_head(&mut entries, names_seal).map_err(to_err)?;
    if head.seal != *verified {
        return Err(to_err(bad(
            SEAL,
            "not the seal that was verified: the file was replaced since",
        )));
    }
    let mut expected = head.seal.entries.iter().peekable();
    let mut last = String::new();
    while let Some(e) = current.take() {
        let p = entry_path(&e).map_err(to_err)?;
        check_header(&e, &p).map_err(to_err)?;
        let want = expect(&mut expected, &p, &last).map_err(to_err)?;
        check_meta(&e, want).map_err(to_err)?;
        let mut r = Hashing {
            inner: e,
            hash: Sha256::new(),
            n: 0,
        };
        f(want, &mut r)?;
        io::copy(&mut r, &mut io::sink()).map_err(|_| to_err(bad(&p, "truncated")))?;
        if r.n != want.size || hex::encode(r.hash.finalize()) != want.sha256.hex() {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A bundle with no entry after its head, for site `site`.
    fn tiny(dir: &Path, site: &str) -> (PathBuf, Seal) {
        let d = format!("sha256:{}", "a".repeat(64));
        let json = format!(
            r#"{{"format":"{}","meshbundle":"x","site":"{site}","spec":"","treeDigest":"{d}","secrets":{{"privateKeys":"none"}},"images":[],"files":[],"certificates":[],"entries":[]}}"#,
            super::super::FORMAT
        );
        let path = dir.join(format!("{site}.mbundle"));
        let mut b = tar::Builder::new(File::create(&path).unwrap());
        for (name, data) in [
            (SEAL, json.clone().into_bytes()),
            (SEAL_SUM, format!("{}\n", Seal::id_of(json.as_bytes())).into_bytes()),
        ] {
            b.append_data(
                &mut super::super::header(data.len() as u64, 0o644),
                name,
                data.as_slice(),
            )
            .unwrap();
        }
        b.finish().unwrap();
        (path, Seal::parse(json.as_bytes()).unwrap())
    }

    #[test]
    fn a_bundle_replaced_after_verify_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (a, seal_a) = tiny(dir.path(), "a");
        let (b, _) = tiny(dir.path(), "b");
        let progress = Progress::bytes("verify", true);
        assert!(verify(&a, None, 1, &progress).is_ok());
        assert!(each_entry(&a, &seal_a, |_, _| Ok(())).is_ok());
        // Swapped for another, itself consistent, between verify and import.
        let e = each_entry(&b, &seal_a, |_, _| panic!("nothing is streamed from a replaced file")).unwrap_err();
        assert!(e.to_string().contains("not the seal that was verified"), "{e}");
    }
}
