//! Talking to registries: resolving tags to digests, fetching manifests and
//! blobs into the cache (verified, in parallel with a bound), and pushing.
//!
//! Pulls speak HTTP themselves (reqwest), borrowing oci-client's token
//! handling when a registry asks for a bearer token, so that they can:
//! - retry 429, 408, 5xx and broken connections a bounded number of times
//!   ([`ATTEMPTS`]), waiting what `Retry-After` asks (seconds or an HTTP date)
//!   up to [`MAX_WAIT`] a time and [`MAX_TOTAL_WAIT`] in all, or an
//!   exponential backoff with jitter when it asks nothing, and saying on
//!   stderr what is waited for;
//! - resume a blob cut partway: what came is kept in
//!   `<cache>/partial/<hex>.partial` (locked while in use, and only ever
//!   holding bytes received in order), the next try, in this run or a later
//!   one, asks for the rest with `Range: bytes=N-`, the whole blob's sha256
//!   is checked at the end, and a registry that ignores the range, or
//!   partial data that proves wrong, gets a whole download instead;
//! - name the image and the manifest or blob in every error, with a hint.
//!
//! Pushes go through oci-client, retried with backoff.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use meshbundle_core::image::{ImageRef, MediaType, Platform};
use meshbundle_core::lock::{LockedImage, LockedPlatform};
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::cache::{BlobCache, CacheError};
use super::credentials::{Credentials, CredentialsError};
use super::media::{self, ACCEPTED};
use super::{Blob, Digest, Image, digest_of};
use crate::error::BoxError;

#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Fetch images of a registry from another host: `docker.io` -> `mirror:5000`.
    pub mirrors: Vec<(String, String)>,
    /// Hosts spoken to over plain HTTP.
    pub insecure: Vec<String>,
    /// Docker or Podman auth file; the usual places when `None`.
    pub authfile: Option<PathBuf>,
    /// Extra CA certificates (PEM) to trust.
    pub ca_files: Vec<PathBuf>,
    /// Blob transfers at once.
    pub jobs: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry's own answer (refused credentials, a status, its error
    /// envelope), in words.
    #[error("{image}: {message}")]
    Registry { image: String, message: String },
    /// An oci-client call that failed otherwise (no answer, a read that
    /// failed): what was asked, with the client's error kept whole.
    #[error("{image}: {what}")]
    Client {
        image: String,
        what: String,
        #[source]
        source: OciDistributionError,
    },
    #[error("{image}: blob {blob} is damaged: its bytes hash to {actual}")]
    BadBlob {
        image: String,
        blob: String,
        actual: String,
    },
    #[error("{image}: {message}")]
    Manifest { image: String, message: String },
    /// Something of the image that does not read (a manifest, an index, a
    /// digest in one): what, with the error that says why kept whole.
    #[error("{image}: {what}")]
    Invalid {
        image: String,
        what: String,
        #[source]
        source: BoxError,
    },
    #[error("{image} has no {platform} image (it has {available})")]
    NoPlatform {
        image: String,
        platform: String,
        available: String,
    },
    /// A manifest or blob transfer that failed: the image, what of it
    /// (`manifest 1.2`, `blob sha256:…`), what happened, and what to do.
    #[error("{image}: {what}: {message}")]
    Transfer {
        image: String,
        what: String,
        message: String,
        hint: String,
        /// What made it fail (a connection's error, a disk's), when there
        /// is more to say than the message does.
        #[source]
        source: Option<BoxError>,
    },
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error("cannot read the CA certificates {path}")]
    CaFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not PEM certificates")]
    CaPem {
        path: PathBuf,
        #[source]
        source: reqwest::Error,
    },
    #[error("cannot set up HTTP")]
    Http(#[source] reqwest::Error),
    #[error("`{media_type}` cannot be sent as a Content-Type")]
    ContentType {
        media_type: String,
        #[source]
        source: reqwest::header::InvalidHeaderValue,
    },
}

impl RegistryError {
    /// What to do about it, when the error knows better than its caller.
    pub fn hint(&self) -> Option<String> {
        match self {
            RegistryError::Transfer { hint, .. } => Some(hint.clone()),
            RegistryError::BadBlob { .. } => Some(
                "the registry, or something between it and here, serves other bytes than the manifest names: do not use them; \
                 try again later or from another mirror"
                    .into(),
            ),
            RegistryError::NoPlatform { .. } => Some("pass --platform (or set the site's architectures) to one the image has".into()),
            _ => None,
        }
    }
}

pub struct Registries {
    client: Client,
    http: reqwest::Client,
    creds: Credentials,
    opts: RegistryOptions,
    /// Bearer tokens got for `host/repository`.
    tokens: Mutex<HashMap<String, String>>,
}

/// Whether an error is worth retrying: rate limits, server errors, broken connections.
fn retryable(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::ServerError { code, .. } => *code == 429 || *code >= 500,
        OciDistributionError::RegistryError { envelope, .. } => envelope
            .errors
            .iter()
            .any(|e| matches!(e.code, OciErrorCode::Toomanyrequests)),
        OciDistributionError::RequestError(_) | OciDistributionError::IoError(_) => true,
        _ => false,
    }
}

/// Tries of one transfer, the first included.
pub const ATTEMPTS: u32 = 6;
/// The longest single wait: a registry asking for more is given up on at once.
pub const MAX_WAIT: Duration = Duration::from_secs(60);
/// The longest wait in all for one transfer.
pub const MAX_TOTAL_WAIT: Duration = Duration::from_secs(300);
/// The largest manifest or index read.
const MAX_MANIFEST: u64 = 4 << 20;

/// The wait before try `attempt + 1` when the registry asks for none:
/// 0.5 s doubling to at most 30 s, each drawn between half and all of that.
pub fn backoff(attempt: u32) -> Duration {
    let full = Duration::from_millis(500)
        .saturating_mul(1 << attempt.saturating_sub(1).min(10))
        .min(Duration::from_secs(30));
    let r = getrandom::u32().unwrap_or(u32::MAX / 2);
    full / 2 + (full / 2).mul_f64(f64::from(r) / f64::from(u32::MAX))
}

/// What a `Retry-After` header asks: a number of seconds, or an HTTP date
/// (`Sun, 06 Nov 1994 08:49:37 GMT`), as a wait from `now`.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(v.parse().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// Runs an oci-client call until it succeeds, retrying transient failures
/// with the waits, limits and messages of [`Tries`], the one retry policy of
/// every transfer; gives back the call's own error when it is not worth
/// another try or the tries are spent.
async fn with_retries<T, F, Fut>(mut tries: Tries<'_>, mut f: F) -> Result<T, OciDistributionError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, OciDistributionError>>,
{
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if retryable(&e) => {
                // Said on the line that tells of the wait; the error itself
                // is given back whole when the tries are spent.
                let said = answer(&e).unwrap_or_else(|| crate::error::chain_lines(&e).join(": "));
                if tries.next(Failure::retry(said)).await.is_err() {
                    return Err(e);
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// The registry's own answer in an oci-client error, in words: refused
/// credentials, a status, its error envelope. `None` when the error is
/// something else (no answer, a read that failed), which is then kept whole
/// as the cause.
fn answer(e: &OciDistributionError) -> Option<String> {
    match e {
        OciDistributionError::UnauthorizedError { .. } | OciDistributionError::AuthenticationFailure(_) => Some(
            "the registry refused the credentials (log in with `docker login` or `podman login`, or pass --authfile)"
                .into(),
        ),
        OciDistributionError::ServerError { code, message, .. } => {
            Some(format!("the registry answered {code}: {}", message.trim()))
        }
        OciDistributionError::RegistryError { envelope, .. } => Some(
            envelope
                .errors
                .iter()
                .map(|e| format!("{:?}: {}", e.code, e.message))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        _ => None,
    }
}

/// How one try of a transfer failed.
pub(super) enum Failure {
    /// Worth another try; the wait the registry asked for, if it did; the
    /// error that made it fail, when there is one (a broken connection's).
    Retry {
        message: String,
        asked: Option<Duration>,
        source: Option<BoxError>,
    },
    /// Not worth another try.
    Fatal {
        message: String,
        hint: String,
        source: Option<BoxError>,
    },
    /// The blob's bytes are not its digest.
    Damaged { actual: String },
}

impl Failure {
    pub(super) fn retry(message: impl Into<String>) -> Failure {
        Failure::Retry {
            message: message.into(),
            asked: None,
            source: None,
        }
    }

    /// Worth another try, because of `source` (kept whole, as reqwest's own
    /// text alone says "error sending request" and no more).
    pub(super) fn retry_because(message: impl Into<String>, source: impl Into<BoxError>) -> Failure {
        Failure::Retry {
            message: message.into(),
            asked: None,
            source: Some(source.into()),
        }
    }

    pub(super) fn fatal(message: impl Into<String>, hint: impl Into<String>) -> Failure {
        Failure::Fatal {
            message: message.into(),
            hint: hint.into(),
            source: None,
        }
    }
}

const NET_HINT: &str =
    "check the network and the registry (--mirror, --insecure, --registry-ca), then run the same command again";

const LIMIT_HINT: &str = "the registry is rate-limiting or overloaded: try again later, log in for a higher limit (--authfile), or pull through a mirror (--mirror)";

/// Counts the tries of one transfer and waits between them.
pub(super) struct Tries<'a> {
    image: &'a str,
    what: String,
    attempt: u32,
    waited: Duration,
    progress: Option<&'a crate::progress::Progress>,
}

impl<'a> Tries<'a> {
    pub(super) fn new(image: &'a str, what: String, progress: Option<&'a crate::progress::Progress>) -> Tries<'a> {
        Tries {
            image,
            what,
            attempt: 1,
            waited: Duration::ZERO,
            progress,
        }
    }

    fn error(&self, message: String, hint: impl Into<String>, source: Option<BoxError>) -> RegistryError {
        RegistryError::Transfer {
            image: self.image.to_string(),
            what: self.what.clone(),
            message,
            hint: hint.into(),
            source,
        }
    }

    pub(super) fn fail(&self, f: Failure) -> RegistryError {
        match f {
            Failure::Retry { message, source, .. } => self.error(message, NET_HINT, source),
            Failure::Fatal { message, hint, source } => self.error(message, hint, source),
            Failure::Damaged { actual } => RegistryError::BadBlob {
                image: self.image.to_string(),
                blob: self.what.trim_start_matches("blob ").into(),
                actual,
            },
        }
    }

    /// After a failed try: waits before the next one, or says why there is none.
    pub(super) async fn next(&mut self, f: Failure) -> Result<(), RegistryError> {
        let (message, asked, source) = match f {
            Failure::Retry { message, asked, source } => (message, asked, source),
            other => return Err(self.fail(other)),
        };
        if let Some(a) = asked
            && a > MAX_WAIT
        {
            return Err(self.error(
                format!(
                    "{message}, and asks to wait {} (Retry-After), longer than meshbundle waits ({})",
                    seconds(a),
                    seconds(MAX_WAIT)
                ),
                LIMIT_HINT,
                source,
            ));
        }
        let limited = message.contains("answered 429 ") || message.contains("answered 503 ");
        let hint = if limited { LIMIT_HINT } else { NET_HINT };
        if self.attempt >= ATTEMPTS {
            return Err(self.error(format!("{message} ({} tries)", self.attempt), hint, source));
        }
        let wait = asked.unwrap_or_else(|| backoff(self.attempt));
        if self.waited + wait > MAX_TOTAL_WAIT {
            return Err(self.error(
                format!(
                    "{message} ({} tries, after waiting {} in all)",
                    self.attempt,
                    seconds(self.waited)
                ),
                hint,
                source,
            ));
        }
        // The line that tells of the wait says the cause too: it is all
        // anyone sees of a try that a later one makes good.
        let message = match &source {
            Some(s) => {
                let mut lines = vec![message];
                lines.extend(crate::error::chain_lines(s.as_ref()));
                lines.join(": ")
            }
            None => message,
        };
        self.waited += wait;
        let why = if asked.is_some() {
            " as its Retry-After asks"
        } else {
            ""
        };
        eprintln!(
            "{}: {}: {message}; waiting {}{why} before try {} of {ATTEMPTS}",
            self.image,
            self.what,
            seconds(wait),
            self.attempt + 1
        );
        if let Some(p) = self.progress {
            p.retry();
        }
        tokio::time::sleep(wait).await;
        self.attempt += 1;
        Ok(())
    }
}

/// What a failed answer means: worth retrying (429, 408, 5xx), or not.
pub(super) async fn status_failure(
    status: StatusCode,
    headers: &HeaderMap,
    resp: reqwest::Response,
    what: &str,
    creds_sent: bool,
    auth_note: &str,
) -> Failure {
    let mut body = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(Ok(chunk)) = stream.next().await {
        body.extend_from_slice(&chunk);
        if body.len() > 4096 {
            break;
        }
    }
    let detail = error_detail(&body);
    let answered = format!(
        "the registry answered {} {}{}",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        if detail.is_empty() {
            String::new()
        } else {
            format!(" ({detail})")
        }
    );
    let asked = headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()));
    match status.as_u16() {
        408 | 429 | 500..=599 => Failure::Retry {
            message: answered,
            asked,
            source: None,
        },
        401 | 403 => Failure::fatal(
            if creds_sent {
                format!("the registry refused the credentials: {answered}{auth_note}")
            } else {
                format!("the registry wants credentials: {answered}{auth_note}")
            },
            "log in with `docker login` or `podman login`, or pass --authfile with credentials for this registry",
        ),
        404 => Failure::fatal(
            format!("{answered}: the repository has no such {what}"),
            "check the image name and the mirror (--mirror); if the lock pins it, the registry no longer has it (meshbundle lock --update)",
        ),
        _ => Failure::fatal(answered, "check the image name and the registry flags"),
    }
}

/// The registry's error envelope (`{"errors":[{"code","message"}]}`) or the
/// start of its body, as one printable line.
fn error_detail(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(body)
        && let Some(errs) = v["errors"].as_array()
    {
        return errs
            .iter()
            .map(|e| {
                format!(
                    "{}: {}",
                    e["code"].as_str().unwrap_or("?"),
                    e["message"].as_str().unwrap_or("")
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
    }
    let t: String = String::from_utf8_lossy(body)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    t.trim().to_string()
}

/// `Content-Range: bytes START-END/TOTAL`: the start and the total, if given.
fn content_range(headers: &HeaderMap) -> Option<(u64, Option<u64>)> {
    let v = headers.get(reqwest::header::CONTENT_RANGE)?.to_str().ok()?;
    let rest = v.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (start, _) = range.split_once('-')?;
    Some((start.trim().parse().ok()?, total.trim().parse().ok()))
}

/// A blob's download in the cache: `<cache>/partial/<hex>.partial`, locked
/// (flock) while this process writes it, holding only bytes received in order.
struct Partial {
    file: tokio::fs::File,
    have: u64,
    hasher: Sha256,
}

fn lock_file(file: &std::fs::File, wait: bool) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    let op = libc::LOCK_EX | if wait { 0 } else { libc::LOCK_NB };
    // SAFETY: flock on a descriptor this function borrows; no memory is passed.
    if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(e)
    }
}

impl Partial {
    /// Opens (or starts) the partial download at `path` and locks it, waiting
    /// for another meshbundle that holds it.
    async fn open(path: &Path, what: &str) -> std::io::Result<Partial> {
        let mut told = false;
        loop {
            let f = std::fs::OpenOptions::new()
                .read(true)
                .append(true)
                .create(true)
                .open(path)?;
            let f = if lock_file(&f, false)? {
                f
            } else {
                if !told {
                    eprintln!("{what}: another meshbundle is downloading it into the same cache; waiting for it");
                    told = true;
                }
                tokio::task::spawn_blocking(move || lock_file(&f, true).map(|_| f))
                    .await
                    .map_err(std::io::Error::other)??
            };
            // The file locked must still be the one at `path` (the other may
            // have finished it and moved it into the cache, or removed it).
            use std::os::unix::fs::MetadataExt;
            let (held, now) = (f.metadata()?, std::fs::metadata(path));
            if now.is_ok_and(|m| m.ino() == held.ino() && m.dev() == held.dev()) {
                return Ok(Partial {
                    file: tokio::fs::File::from_std(f),
                    have: 0,
                    hasher: Sha256::new(),
                });
            }
        }
    }

    /// Counts and hashes what an earlier try left, up to `size` bytes.
    async fn resume(&mut self, size: u64) -> std::io::Result<()> {
        let len = self.file.metadata().await?.len();
        if len > size {
            return self.reset().await;
        }
        self.file.seek(std::io::SeekFrom::Start(0)).await?;
        let mut buf = vec![0u8; 1 << 20];
        let mut h = Sha256::new();
        let mut n = 0u64;
        while n < len {
            let r = self.file.read(&mut buf).await?;
            if r == 0 {
                break;
            }
            h.update(&buf[..r]);
            n += r as u64;
        }
        self.have = n;
        self.hasher = h;
        self.file.set_len(n).await
    }

    async fn reset(&mut self) -> std::io::Result<()> {
        self.file.set_len(0).await?;
        self.have = 0;
        self.hasher = Sha256::new();
        Ok(())
    }

    /// Appends bytes; on a failed write the file is cut back to what it held.
    async fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if let Err(e) = self.file.write_all(bytes).await.and(self.file.flush().await) {
            let _ = self.file.set_len(self.have).await;
            return Err(e);
        }
        self.hasher.update(bytes);
        self.have += bytes.len() as u64;
        Ok(())
    }

    fn digest(&self) -> Digest {
        Digest::from_raw(&self.hasher.clone().finalize().into())
    }
}

impl Registries {
    pub fn new(opts: RegistryOptions) -> Result<Registries, RegistryError> {
        crate::tls::install();
        let creds = Credentials::load(opts.authfile.as_deref())?;
        let mut certs = Vec::new();
        let mut roots = Vec::new();
        for f in &opts.ca_files {
            let data = std::fs::read(f).map_err(|source| RegistryError::CaFile {
                path: f.clone(),
                source,
            })?;
            roots.extend(
                reqwest::Certificate::from_pem_bundle(&data).map_err(|source| RegistryError::CaPem {
                    path: f.clone(),
                    source,
                })?,
            );
            certs.push(Certificate {
                encoding: CertificateEncoding::Pem,
                data,
            });
        }
        let connect_timeout = Duration::from_secs(30);
        let read_timeout = Duration::from_secs(300);
        let config = ClientConfig {
            protocol: if opts.insecure.is_empty() {
                ClientProtocol::Https
            } else {
                ClientProtocol::HttpsExcept(opts.insecure.clone())
            },
            extra_root_certificates: certs,
            max_concurrent_download: opts.jobs.max(1),
            max_concurrent_upload: opts.jobs.max(1),
            connect_timeout: Some(connect_timeout),
            read_timeout: Some(read_timeout),
            ..Default::default()
        };
        let http = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .read_timeout(read_timeout)
            .user_agent(concat!("meshbundle/", env!("CARGO_PKG_VERSION")))
            .tls_certs_merge(roots)
            .build()
            .map_err(RegistryError::Http)?;
        Ok(Registries {
            client: Client::new(config),
            http,
            creds,
            opts,
            tokens: Mutex::new(HashMap::new()),
        })
    }

    /// Transfers at once (`-j`).
    pub fn jobs(&self) -> usize {
        self.opts.jobs.max(1)
    }

    /// The host an image's registry is reached at (after mirrors).
    fn host(&self, registry: &str) -> String {
        self.opts
            .mirrors
            .iter()
            .find(|(from, _)| from == registry)
            .map(|(_, to)| to.clone())
            .unwrap_or(registry.to_string())
    }

    fn reference(&self, r: &ImageRef, digest: Option<&Digest>) -> Reference {
        let host = self.host(&r.registry);
        match digest {
            Some(d) => Reference::with_digest(host, r.repository.clone(), d.to_string()),
            None => Reference::with_tag(
                host,
                r.repository.clone(),
                r.tag.clone().unwrap_or_else(|| "latest".into()),
            ),
        }
    }

    fn auth(&self, host: &str) -> RegistryAuth {
        match self.creds.basic(host) {
            Some((u, p)) => RegistryAuth::Basic(u.clone(), p.clone()),
            None => RegistryAuth::Anonymous,
        }
    }

    /// An oci-client call's error: the registry's answer in words, or the
    /// call's own error kept whole under what was asked (`what`).
    fn oci_err(&self, image: &str, what: &str, host: &str, e: OciDistributionError) -> RegistryError {
        match answer(&e) {
            Some(mut message) => {
                if matches!(e, OciDistributionError::UnauthorizedError { .. }) {
                    message.push_str(&self.helper_note(host));
                }
                RegistryError::Registry {
                    image: image.to_string(),
                    message: format!("{what}: {message}"),
                }
            }
            None => RegistryError::Client {
                image: image.to_string(),
                what: what.to_string(),
                source: e,
            },
        }
    }

    /// The token service's refusal, or the call for a token that failed.
    fn token_failure(&self, host: &str, e: OciDistributionError) -> Failure {
        let hint = "log in with `docker login` or `podman login`, or pass --authfile";
        match answer(&e) {
            Some(words) => Failure::fatal(
                format!(
                    "the registry's token service refused: {words}{}",
                    self.helper_note(host)
                ),
                hint,
            ),
            None => Failure::Fatal {
                message: format!("no token from the registry's token service{}", self.helper_note(host)),
                hint: hint.into(),
                source: Some(Box::new(e)),
            },
        }
    }

    /// `http(s)://HOST/v2/REPOSITORY/KIND/NAME`.
    fn url(&self, reference: &Reference, kind: &str, name: &str) -> String {
        let host = reference.resolve_registry();
        let scheme = if self.opts.insecure.iter().any(|h| h == host) {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{host}/v2/{}/{kind}/{name}", reference.repository())
    }

    /// One GET with the registry's credentials: a bearer token when it asks
    /// for one (got through oci-client), else basic auth from the auth file.
    async fn get(
        &self,
        reference: &Reference,
        url: &str,
        headers: HeaderMap,
        what: &str,
    ) -> Result<reqwest::Response, Failure> {
        let host = reference.resolve_registry().to_string();
        let key = format!("{host}/{}", reference.repository());
        let mut refreshed = false;
        loop {
            let mut req = self.http.get(url).headers(headers.clone());
            let token = self.tokens.lock().ok().and_then(|t| t.get(&key).cloned());
            let creds_sent = token.is_some() || self.creds.basic(&host).is_some();
            match (&token, self.creds.basic(&host)) {
                (Some(t), _) => req = req.bearer_auth(t),
                (None, Some((u, p))) => req = req.basic_auth(u, Some(p)),
                (None, None) => {}
            }
            let resp = req
                .send()
                .await
                .map_err(|e| Failure::retry_because(format!("no answer from {host}"), e))?;
            if resp.status() == StatusCode::UNAUTHORIZED && !refreshed {
                let bearer = resp
                    .headers()
                    .get(reqwest::header::WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("bearer"));
                if bearer {
                    refreshed = true;
                    let auth = self.auth(&host);
                    let image = reference.whole();
                    let tries = Tries::new(&image, format!("token from {host}"), None);
                    let got = with_retries(tries, || self.client.auth(reference, &auth, RegistryOperation::Pull)).await;
                    match got {
                        Ok(Some(t)) => {
                            if let Ok(mut m) = self.tokens.lock() {
                                m.insert(key.clone(), t);
                            }
                            continue;
                        }
                        Ok(None) => {}
                        Err(e) => return Err(self.token_failure(&host, e)),
                    }
                }
            }
            if !resp.status().is_success() {
                let (status, headers) = (resp.status(), resp.headers().clone());
                return Err(status_failure(status, &headers, resp, what, creds_sent, &self.helper_note(&host)).await);
            }
            return Ok(resp);
        }
    }

    /// `http(s)://HOST`, as the flags say the registry is spoken to.
    pub(super) fn base_url(&self, host: &str) -> String {
        let scheme = if self.opts.insecure.iter().any(|h| h == host) {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{host}")
    }

    /// One request to `repository` on `host` with the registry's credentials
    /// for `op`: a bearer token when it asks for one (got through
    /// oci-client, kept for the next requests), else basic auth from the auth
    /// file. `build` makes the request afresh for each try. Answers of any
    /// status come back; only a request that got no answer fails.
    pub(super) async fn send(
        &self,
        host: &str,
        repository: &str,
        op: RegistryOperation,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<(reqwest::Response, bool), Failure> {
        let key = format!("{host}/{repository}/{op:?}");
        let reference = Reference::with_tag(host.to_string(), repository.to_string(), "latest".into());
        let mut refreshed = false;
        loop {
            let mut req = build(&self.http);
            let token = self.tokens.lock().ok().and_then(|t| t.get(&key).cloned());
            let creds_sent = token.is_some() || self.creds.basic(host).is_some();
            match (&token, self.creds.basic(host)) {
                (Some(t), _) => req = req.bearer_auth(t),
                (None, Some((u, p))) => req = req.basic_auth(u, Some(p)),
                (None, None) => {}
            }
            let resp = req
                .send()
                .await
                .map_err(|e| Failure::retry_because(format!("no answer from {host}"), e))?;
            if resp.status() == StatusCode::UNAUTHORIZED && !refreshed {
                let bearer = resp
                    .headers()
                    .get(reqwest::header::WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("bearer"));
                if bearer {
                    refreshed = true;
                    let auth = self.auth(host);
                    let image = format!("{host}/{repository}");
                    let tries = Tries::new(&image, format!("token from {host}"), None);
                    match with_retries(tries, || self.client.auth(&reference, &auth, op)).await {
                        Ok(Some(t)) => {
                            if let Ok(mut m) = self.tokens.lock() {
                                m.insert(key.clone(), t);
                            }
                            continue;
                        }
                        Ok(None) => {}
                        Err(e) => return Err(self.token_failure(host, e)),
                    }
                }
            }
            return Ok((resp, creds_sent));
        }
    }

    /// What a failed answer to [`Registries::send`] means.
    pub(super) async fn failure(&self, host: &str, resp: reqwest::Response, creds_sent: bool, what: &str) -> Failure {
        let (status, headers) = (resp.status(), resp.headers().clone());
        status_failure(status, &headers, resp, what, creds_sent, &self.helper_note(host)).await
    }

    fn helper_note(&self, host: &str) -> String {
        if self.creds.needs_helper(host) {
            "; the auth file sends this registry to a credential helper, which meshbundle does not run".into()
        } else {
            String::new()
        }
    }

    /// One try at a manifest: its bytes, at most [`MAX_MANIFEST`].
    async fn manifest_once(&self, reference: &Reference, url: &str) -> Result<Vec<u8>, Failure> {
        let mut headers = HeaderMap::new();
        headers.insert(
            reqwest::header::ACCEPT,
            HeaderValue::from_str(&ACCEPTED.join(", ")).expect("media types are header values"),
        );
        let resp = self.get(reference, url, headers, "manifest").await?;
        let too_big = || {
            Failure::fatal(
                format!("the manifest is larger than {}", indicatif::HumanBytes(MAX_MANIFEST)),
                "this is not an image manifest meshbundle can carry; check the reference",
            )
        };
        if resp.content_length().is_some_and(|n| n > MAX_MANIFEST) {
            return Err(too_big());
        }
        let mut body = Vec::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                Failure::retry_because(
                    format!(
                        "the connection broke after {} of the manifest",
                        indicatif::HumanBytes(body.len() as u64)
                    ),
                    e,
                )
            })?;
            body.extend_from_slice(&chunk);
            if body.len() as u64 > MAX_MANIFEST {
                return Err(too_big());
            }
        }
        Ok(body)
    }

    async fn manifest(&self, image: &str, reference: &Reference) -> Result<(Vec<u8>, Digest), RegistryError> {
        let name = reference.digest().or(reference.tag()).unwrap_or("latest").to_string();
        let url = self.url(reference, "manifests", &name);
        let mut tries = Tries::new(image, format!("manifest {name}"), None);
        loop {
            match self.manifest_once(reference, &url).await {
                Ok(raw) => {
                    let digest = digest_of(&raw);
                    return Ok((raw, digest));
                }
                Err(f) => tries.next(f).await?,
            }
        }
    }

    /// Resolves a tag to what the lock records: the digest, and for an index
    /// the platforms kept.
    pub async fn resolve(&self, r: &ImageRef, platforms: &[String]) -> Result<LockedImage, RegistryError> {
        let name = r.without_digest();
        let reference = self.reference(r, r.digest.as_ref());
        let (raw, digest) = self.manifest(&name.to_string(), &reference).await?;
        if let Some(want) = &r.digest
            && *want != digest
        {
            return Err(RegistryError::Manifest {
                image: name.to_string(),
                message: format!("the registry served {digest} for {want}"),
            });
        }
        locked_from_manifest(&name, &raw, &digest, platforms, None)
    }

    /// Fetches a locked image: its manifests (checked against the lock) and
    /// every blob it needs into the cache, `jobs` at a time.
    pub async fn fetch(
        &self,
        locked: &LockedImage,
        cache: &BlobCache,
        progress: &crate::progress::Progress,
    ) -> Result<Image, RegistryError> {
        let r = &locked.name;
        let name = r.to_string();
        let get = |digest: Digest| {
            let reference = self.reference(r, Some(&digest));
            let name = &name;
            async move {
                let (raw, got) = self.manifest(name, &reference).await?;
                if got != digest {
                    return Err(RegistryError::Manifest {
                        image: name.clone(),
                        message: format!("manifest {digest} came back as {got}: the registry changed it"),
                    });
                }
                Ok::<_, RegistryError>(raw)
            }
        };
        let top = get(locked.digest.clone()).await?;
        let image = image_from_lock(locked, top, get).await?;
        let reference = self.reference(r, Some(&locked.digest));
        let missing: Vec<Blob> = image
            .blobs
            .iter()
            .filter(|b| !cache.contains(&b.digest, Some(b.size)))
            .cloned()
            .collect();
        progress.add_total(missing.iter().map(|b| b.size).sum());
        let results: Vec<Result<(), RegistryError>> = futures::stream::iter(missing.into_iter().map(|b| {
            let reference = reference.clone();
            let name = &name;
            async move { self.fetch_blob(name, &reference, &b, cache, progress).await }
        }))
        .buffer_unordered(self.opts.jobs.max(1))
        .collect()
        .await;
        for r in results {
            r?;
        }
        // Then the manifests, by digest, so later commands (upgrade plan) know the image's blobs offline.
        for (_, _, raw) in &image.manifests {
            cache.put_bytes(raw)?;
        }
        Ok(image)
    }

    /// Fetches one blob into the cache, resuming what an earlier try or run
    /// kept, and checking the whole blob's digest and size at the end.
    async fn fetch_blob(
        &self,
        image: &str,
        reference: &Reference,
        blob: &Blob,
        cache: &BlobCache,
        progress: &crate::progress::Progress,
    ) -> Result<(), RegistryError> {
        let what = format!("blob {}", blob.digest);
        let mut tries = Tries::new(image, what.clone(), Some(progress));
        let hex = blob.digest.hex();
        let dir = cache.root_dir().join("partial");
        let path = dir.join(format!("{hex}.partial"));
        let disk = |path: &Path, e: std::io::Error, kept: u64| {
            let keep = if kept > 0 {
                format!(
                    "; the {} fetched so far are kept, and the next pull resumes there",
                    indicatif::HumanBytes(kept)
                )
            } else {
                String::new()
            };
            RegistryError::Transfer {
                image: image.to_string(),
                what: what.clone(),
                message: format!("cannot write {}", path.display()),
                hint: format!(
                    "make room where the cache is (df {}), or point --cache at a larger disk{keep}",
                    cache.root_dir().display()
                ),
                source: Some(Box::new(e)),
            }
        };
        std::fs::create_dir_all(&dir).map_err(|e| disk(&dir, e, 0))?;
        let mut part = Partial::open(&path, &format!("{image}: {what}"))
            .await
            .map_err(|e| disk(&path, e, 0))?;
        if cache.contains(&blob.digest, Some(blob.size)) {
            // Another meshbundle finished it while this one waited.
            drop(part);
            let _ = std::fs::remove_file(&path);
            return Ok(());
        }
        let result = async {
            part.resume(blob.size).await.map_err(|e| disk(&path, e, 0))?;
            if part.have > 0 {
                progress.inc(part.have);
            }
            let url = self.url(reference, "blobs", blob.digest.as_str());
            // Whether the bytes held came from more than one answer: if they hash
            // wrong, the whole blob is fetched once more before calling it damaged.
            let mut pieced = part.have > 0;
            let mut refetched = false;
            loop {
                let outcome = self
                    .blob_once(reference, &url, blob, &mut part, &mut pieced, progress)
                    .await;
                let failure = match outcome {
                    Ok(()) if part.digest() == blob.digest => break,
                    Ok(()) if pieced && !refetched => {
                        // The pieces do not make the blob: start again from nothing, at once.
                        refetched = true;
                        pieced = false;
                        part.reset().await.map_err(|e| disk(&path, e, 0))?;
                        continue;
                    }
                    Ok(()) => {
                        let actual = part.digest().to_string();
                        part.reset().await.map_err(|e| disk(&path, e, 0))?;
                        return Err(tries.fail(Failure::Damaged { actual }));
                    }
                    Err(BlobFailure::Disk(e)) => return Err(disk(&path, e, part.have)),
                    Err(BlobFailure::Net(f)) => f,
                };
                let kept = part.have;
                if let Err(mut e) = tries.next(failure).await {
                    if let RegistryError::Transfer { hint, .. } = &mut e
                        && kept > 0
                    {
                        *hint = format!(
                            "{hint}: the {} of {} fetched so far are kept in {}, and the download will resume there",
                            indicatif::HumanBytes(kept),
                            indicatif::HumanBytes(blob.size),
                            path.display()
                        );
                    }
                    return Err(e);
                }
            }
            part.file.sync_all().await.map_err(|e| disk(&path, e, part.have))?;
            let dest = cache.path(&blob.digest);
            tokio::fs::rename(&path, &dest).await.map_err(|e| disk(&dest, e, 0))
        }
        .await;
        if result.is_err() && part.have == 0 {
            // Nothing worth resuming: leave no empty partial behind.
            let _ = std::fs::remove_file(&path);
        }
        result
    }

    /// One GET of a blob, asking for the rest of what `part` holds.
    async fn blob_once(
        &self,
        reference: &Reference,
        url: &str,
        blob: &Blob,
        part: &mut Partial,
        pieced: &mut bool,
        progress: &crate::progress::Progress,
    ) -> Result<(), BlobFailure> {
        if part.have == blob.size {
            return Ok(());
        }
        let mut headers = HeaderMap::new();
        if part.have > 0 {
            headers.insert(
                reqwest::header::RANGE,
                HeaderValue::from_str(&format!("bytes={}-", part.have)).expect("a range is a header value"),
            );
        }
        let resp = match self.get(reference, url, headers, "blob").await {
            // 416 Range Not Satisfiable (`status_failure` makes it fatal).
            Err(Failure::Fatal { message, .. }) if message.contains("answered 416 ") => {
                // The range is refused: what is held is no use.
                part.reset().await.map_err(BlobFailure::Disk)?;
                *pieced = false;
                return Err(BlobFailure::Net(Failure::retry(message)));
            }
            r => r.map_err(BlobFailure::Net)?,
        };
        match resp.status() {
            StatusCode::PARTIAL_CONTENT => match content_range(resp.headers()) {
                Some((start, total)) if start == part.have && total.is_none_or(|t| t == blob.size) => *pieced = true,
                _ => {
                    part.reset().await.map_err(BlobFailure::Disk)?;
                    *pieced = false;
                    return Err(BlobFailure::Net(Failure::retry(
                        "the registry answered another range than the one asked for",
                    )));
                }
            },
            _ if part.have > 0 => {
                // The registry ignores ranges and sends the whole blob: start over.
                part.reset().await.map_err(BlobFailure::Disk)?;
                *pieced = false;
            }
            _ => {}
        }
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                BlobFailure::Net(Failure::retry_because(
                    format!(
                        "the connection broke after {} of {}",
                        indicatif::HumanBytes(part.have),
                        indicatif::HumanBytes(blob.size)
                    ),
                    e,
                ))
            })?;
            if part.have + chunk.len() as u64 > blob.size {
                // More than the manifest says: these bytes are not the blob.
                let take = (blob.size - part.have) as usize;
                part.append(&chunk[..take]).await.map_err(BlobFailure::Disk)?;
                return Ok(());
            }
            part.append(&chunk).await.map_err(BlobFailure::Disk)?;
            progress.inc(chunk.len() as u64);
        }
        if part.have < blob.size {
            return Err(BlobFailure::Net(Failure::retry(format!(
                "the answer ended after {} of {}",
                indicatif::HumanBytes(part.have),
                indicatif::HumanBytes(blob.size)
            ))));
        }
        Ok(())
    }

    /// Whether a blob is already in a repository.
    pub async fn blob_exists(&self, reference: &Reference, digest: &str) -> Result<bool, RegistryError> {
        let host = reference.registry().to_string();
        let auth = self.auth(&host);
        self.client.store_auth_if_needed(&host, &auth).await;
        let image = reference.whole();
        let tries = Tries::new(&image, format!("blob {digest}"), None);
        with_retries(tries, || self.client.blob_exists(reference, digest))
            .await
            .map_err(|e| self.oci_err(&image, &format!("blob {digest}"), &host, e))
    }

    /// Pushes a blob from a file, streamed.
    pub async fn push_blob_file(
        &self,
        reference: &Reference,
        path: &Path,
        digest: &str,
        size: u64,
    ) -> Result<(), RegistryError> {
        let host = reference.registry().to_string();
        let auth = self.auth(&host);
        self.client
            .auth(reference, &auth, RegistryOperation::Push)
            .await
            .map_err(|e| self.oci_err(&reference.whole(), "a token to push", &host, e))?;
        let image = reference.whole();
        let tries = Tries::new(&image, format!("blob {digest}"), None);
        with_retries(tries, || async {
            let f = tokio::fs::File::open(path).await?;
            let stream = tokio_util::io::ReaderStream::with_capacity(f, 1 << 20)
                .map(|r| r.map_err(OciDistributionError::IoError));
            self.client
                .push_blob_stream(reference, stream, digest, Some(size))
                .await
        })
        .await
        .map(|_| ())
        .map_err(|e| self.oci_err(&image, &format!("blob {digest}"), &host, e))
    }

    /// Pushes a manifest or index, exactly these bytes.
    pub async fn push_manifest(
        &self,
        reference: &Reference,
        raw: &[u8],
        media_type: &str,
    ) -> Result<(), RegistryError> {
        let host = reference.registry().to_string();
        let ct = HeaderValue::from_str(media_type).map_err(|source| RegistryError::ContentType {
            media_type: media_type.to_string(),
            source,
        })?;
        let body = bytes::Bytes::copy_from_slice(raw);
        let image = reference.whole();
        let tries = Tries::new(&image, "manifest".into(), None);
        with_retries(tries, || {
            self.client.push_manifest_raw(reference, body.clone(), ct.clone())
        })
        .await
        .map(|_| ())
        .map_err(|e| self.oci_err(&image, "manifest", &host, e))
    }

    /// A reference on a host (no mirror), for pushing.
    pub fn target(host: &str, repository: &str, tag: Option<&str>, digest: Option<&str>) -> Reference {
        match (tag, digest) {
            (_, Some(d)) => Reference::with_digest(host.to_string(), repository.to_string(), d.to_string()),
            (Some(t), None) => Reference::with_tag(host.to_string(), repository.to_string(), t.to_string()),
            (None, None) => Reference::with_tag(host.to_string(), repository.to_string(), "latest".into()),
        }
    }
}

/// How one GET of a blob failed.
enum BlobFailure {
    /// Writing the cache failed: not worth another try.
    Disk(std::io::Error),
    Net(Failure),
}

/// What the lock records for a fetched top manifest or index.
pub fn locked_from_manifest(
    name: &ImageRef,
    raw: &[u8],
    digest: &Digest,
    platforms: &[String],
    source: Option<String>,
) -> Result<LockedImage, RegistryError> {
    let media_type = media::media_type_of(raw).ok_or_else(|| RegistryError::Manifest {
        image: name.to_string(),
        message: "not a manifest or an index".into(),
    })?;
    let mut locked = LockedImage {
        name: name.clone(),
        digest: digest.clone(),
        media_type: MediaType::parse(&media_type).map_err(|e| RegistryError::Invalid {
            image: name.to_string(),
            what: "its media type".into(),
            source: Box::new(e),
        })?,
        platforms: Vec::new(),
        carried_digest: None,
        source,
    };
    if !media::is_index(&media_type) {
        return Ok(locked);
    }
    let invalid = |what: &str, source: BoxError| RegistryError::Invalid {
        image: name.to_string(),
        what: what.to_string(),
        source,
    };
    let index = media::parse_index(raw).map_err(|e| invalid("not an image index", Box::new(e)))?;
    let mut entries: Vec<(Platform, Digest)> = Vec::new();
    for e in &index.manifests {
        // Attestations (`unknown/unknown`) and platforms that are not
        // `os/architecture[/variant]` can never be the one wanted.
        let Some(p) = media::platform_of(e)
            .filter(|p| !p.starts_with("unknown/"))
            .and_then(|p| Platform::parse(&p).ok())
        else {
            continue;
        };
        let d = Digest::parse(&e.digest).map_err(|e| invalid("an entry of its index", Box::new(e)))?;
        entries.push((p, d));
    }
    for want in platforms {
        match entries.iter().find(|(p, _)| p.matches(want)) {
            Some((p, d)) => locked.platforms.push(LockedPlatform {
                platform: p.clone(),
                digest: d.clone(),
            }),
            None => {
                return Err(RegistryError::NoPlatform {
                    image: name.to_string(),
                    platform: want.clone(),
                    available: entries
                        .iter()
                        .map(|(p, _)| p.to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        }
    }
    if locked.platforms.len() < entries.len() {
        let filtered = filter_index(raw, &locked.platforms).map_err(|e| invalid("not an image index", Box::new(e)))?;
        locked.carried_digest = Some(digest_of(&filtered));
    }
    Ok(locked)
}

/// The index listing only the carried platforms' manifests: every other byte
/// of the upstream index kept in order, so the result is the same each time.
pub fn filter_index(raw: &[u8], keep: &[LockedPlatform]) -> Result<Vec<u8>, serde_json::Error> {
    let mut v: Value = serde_json::from_slice(raw)?;
    let Some(manifests) = v.get_mut("manifests").and_then(Value::as_array_mut) else {
        return Err(serde::de::Error::custom("it lists no manifests"));
    };
    manifests.retain(|m| {
        keep.iter()
            .any(|k| m.get("digest").and_then(Value::as_str) == Some(k.digest.as_str()))
    });
    serde_json::to_vec(&v)
}

/// Builds the carried image from its lock entry and top manifest, getting
/// child manifests with `get`.
pub async fn image_from_lock<F, Fut>(locked: &LockedImage, top: Vec<u8>, get: F) -> Result<Image, RegistryError>
where
    F: Fn(Digest) -> Fut,
    Fut: Future<Output = Result<Vec<u8>, RegistryError>>,
{
    let name = locked.name.to_string();
    let bad = |message: String| RegistryError::Manifest {
        image: name.clone(),
        message,
    };
    // A lock written before media types were recorded names no index: the
    // manifest says its own media type, for the seal and the layout.
    let index = media::is_index(&locked.media_type);
    let top_type = if locked.media_type.is_empty() {
        let declared = media::media_type_of(&top).ok_or_else(|| bad("not a manifest or an index".into()))?;
        MediaType::parse(&declared).map_err(|e| RegistryError::Invalid {
            image: name.clone(),
            what: "its media type".into(),
            source: Box::new(e),
        })?
    } else {
        locked.media_type.clone()
    };
    let mut manifests = Vec::new();
    let mut blobs = Vec::new();
    let (digest, media_type, top_raw) = if index {
        let carried = match &locked.carried_digest {
            Some(c) => {
                let filtered = filter_index(&top, &locked.platforms).map_err(|e| RegistryError::Invalid {
                    image: name.clone(),
                    what: "not an image index".into(),
                    source: Box::new(e),
                })?;
                if digest_of(&filtered) != *c {
                    return Err(bad(format!("the index filtered to the locked platforms is not {c}")));
                }
                filtered
            }
            None => top,
        };
        (locked.site_digest().clone(), top_type, carried)
    } else {
        (locked.digest.clone(), top_type, top)
    };
    let child_manifests: Vec<(Digest, Vec<u8>)> = if index {
        let mut v = Vec::new();
        for p in &locked.platforms {
            v.push((p.digest.clone(), get(p.digest.clone()).await?));
        }
        v
    } else {
        vec![(digest.clone(), top_raw.clone())]
    };
    manifests.push((digest.clone(), media_type.to_string(), top_raw.clone()));
    let invalid = |what: String, source: BoxError| RegistryError::Invalid {
        image: name.clone(),
        what,
        source,
    };
    let checked = |m: &Digest, d: &str| {
        Digest::parse(d).map_err(|e| invalid(format!("manifest {m}: a digest it names"), Box::new(e)))
    };
    for (d, raw) in &child_manifests {
        let m = media::parse_manifest(raw)
            .map_err(|e| invalid(format!("manifest {d}: not an image manifest"), Box::new(e)))?;
        blobs.push(Blob {
            digest: checked(d, &m.config.digest)?,
            size: m.config.size as u64,
            media_type: m.config.media_type.clone(),
        });
        for l in &m.layers {
            blobs.push(Blob {
                digest: checked(d, &l.digest)?,
                size: l.size as u64,
                media_type: l.media_type.clone(),
            });
        }
        if *d != digest {
            let mt = media::media_type_of(raw).unwrap_or_else(|| media::OCI_MANIFEST.into());
            manifests.push((d.clone(), mt, raw.clone()));
        }
    }
    blobs.sort();
    blobs.dedup_by(|a, b| a.digest == b.digest);
    Ok(Image {
        name: locked.name.clone(),
        digest,
        media_type,
        size: top_raw.len() as u64,
        manifests,
        blobs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_775); // Sun, 06 Nov 1994 08:49:35 GMT
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(" 120 ", now), Some(Duration::from_secs(120)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:30 GMT", now),
            Some(Duration::ZERO),
            "a date gone by: no wait"
        );
        assert_eq!(
            parse_retry_after("Tue, 29 Feb 2028 12:00:00 GMT", SystemTime::UNIX_EPOCH),
            Some(Duration::from_secs(1_835_438_400))
        );
        assert_eq!(
            parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now),
            Some(Duration::from_secs(2)),
            "the obsolete RFC 850 form, which HTTP recipients must accept"
        );
        for bad in [
            "",
            "-1",
            "1.5",
            "soon",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        for attempt in 1..=20 {
            let full = Duration::from_millis(500)
                .saturating_mul(1 << (attempt - 1).min(10))
                .min(Duration::from_secs(30));
            let d = backoff(attempt);
            assert!(d >= full / 2 && d <= full, "try {attempt}: {d:?}");
        }
    }

    #[test]
    fn content_range_gives_start_and_total() {
        let mut h = HeaderMap::new();
        h.insert(
            reqwest::header::CONTENT_RANGE,
            HeaderValue::from_static("bytes 100-199/200"),
        );
        assert_eq!(content_range(&h), Some((100, Some(200))));
        h.insert(reqwest::header::CONTENT_RANGE, HeaderValue::from_static("bytes 5-9/*"));
        assert_eq!(content_range(&h), Some((5, None)));
        h.insert(reqwest::header::CONTENT_RANGE, HeaderValue::from_static("items 1-2/3"));
        assert_eq!(content_range(&h), None);
    }
}
