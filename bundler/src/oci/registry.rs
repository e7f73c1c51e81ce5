//! Talking to registries, over oci-client: resolving tags to digests,
//! fetching manifests and blobs into the cache (verified, in parallel with a
//! bound, retried with backoff on 429 and 5xx), and pushing.

use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt;
use meshbundle_core::image::ImageRef;
use meshbundle_core::lock::{LockedImage, LockedPlatform};
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde_json::Value;

use super::cache::{BlobCache, CacheError};
use super::credentials::Credentials;
use super::media::{self, ACCEPTED};
use super::{Blob, Digest, Image, digest_of};

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
    #[error("{image}: {message}")]
    Registry { image: String, message: String },
    #[error("{image}: blob {blob} is damaged: its bytes hash to {actual}")]
    BadBlob { image: String, blob: String, actual: String },
    #[error("{image}: {message}")]
    Manifest { image: String, message: String },
    #[error("{image} has no {platform} image (it has {available})")]
    NoPlatform { image: String, platform: String, available: String },
    #[error("{0}")]
    Cache(#[from] CacheError),
    #[error("{0}")]
    Setup(String),
}

pub struct Registries {
    client: Client,
    creds: Credentials,
    opts: RegistryOptions,
}

/// Whether an error is worth retrying: rate limits, server errors, broken connections.
fn retryable(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::ServerError { code, .. } => *code == 429 || *code >= 500,
        OciDistributionError::RegistryError { envelope, .. } => {
            envelope.errors.iter().any(|e| matches!(e.code, OciErrorCode::Toomanyrequests))
        }
        OciDistributionError::RequestError(_) | OciDistributionError::IoError(_) => true,
        _ => false,
    }
}

const ATTEMPTS: u32 = 6;

/// Runs `f` until it succeeds, retrying transient failures with exponential backoff.
pub async fn with_retries<T, F, Fut>(mut f: F) -> Result<T, OciDistributionError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, OciDistributionError>>,
{
    let mut delay = Duration::from_millis(200);
    let mut attempt = 1;
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if attempt < ATTEMPTS && retryable(&e) => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

fn describe(e: &OciDistributionError) -> String {
    match e {
        OciDistributionError::UnauthorizedError { .. } | OciDistributionError::AuthenticationFailure(_) => {
            "the registry refused the credentials (log in with `docker login` or `podman login`, or pass --authfile)".into()
        }
        OciDistributionError::ServerError { code, message, .. } => format!("the registry answered {code}: {}", message.trim()),
        OciDistributionError::RegistryError { envelope, .. } => {
            envelope.errors.iter().map(|e| format!("{:?}: {}", e.code, e.message)).collect::<Vec<_>>().join("; ")
        }
        other => other.to_string(),
    }
}

impl Registries {
    pub fn new(opts: RegistryOptions) -> Result<Registries, RegistryError> {
        let creds = Credentials::load(opts.authfile.as_deref()).map_err(RegistryError::Setup)?;
        let mut certs = Vec::new();
        for f in &opts.ca_files {
            let data = std::fs::read(f).map_err(|e| RegistryError::Setup(format!("{}: {e}", f.display())))?;
            certs.push(Certificate { encoding: CertificateEncoding::Pem, data });
        }
        let config = ClientConfig {
            protocol: if opts.insecure.is_empty() { ClientProtocol::Https } else { ClientProtocol::HttpsExcept(opts.insecure.clone()) },
            extra_root_certificates: certs,
            max_concurrent_download: opts.jobs.max(1),
            max_concurrent_upload: opts.jobs.max(1),
            connect_timeout: Some(Duration::from_secs(30)),
            read_timeout: Some(Duration::from_secs(300)),
            ..Default::default()
        };
        Ok(Registries { client: Client::new(config), creds, opts })
    }

    /// The host an image's registry is reached at (after mirrors).
    fn host(&self, registry: &str) -> String {
        self.opts.mirrors.iter().find(|(from, _)| from == registry).map(|(_, to)| to.clone()).unwrap_or(registry.to_string())
    }

    fn reference(&self, r: &ImageRef, digest: Option<&Digest>) -> Reference {
        let host = self.host(&r.registry);
        match digest {
            Some(d) => Reference::with_digest(host, r.repository.clone(), d.to_string()),
            None => Reference::with_tag(host, r.repository.clone(), r.tag.clone().unwrap_or_else(|| "latest".into())),
        }
    }

    fn auth(&self, host: &str) -> RegistryAuth {
        match self.creds.basic(host) {
            Some((u, p)) => RegistryAuth::Basic(u.clone(), p.clone()),
            None => RegistryAuth::Anonymous,
        }
    }

    fn oci_err(&self, image: &str, host: &str, e: OciDistributionError) -> RegistryError {
        let mut message = describe(&e);
        if matches!(e, OciDistributionError::UnauthorizedError { .. }) && self.creds.needs_helper(host) {
            message.push_str("; the auth file sends this registry to a credential helper, which meshbundle does not run");
        }
        RegistryError::Registry { image: image.to_string(), message }
    }

    async fn manifest(&self, image: &str, reference: &Reference) -> Result<(Vec<u8>, Digest), RegistryError> {
        let host = reference.registry().to_string();
        let auth = self.auth(&host);
        let (raw, _) =
            with_retries(|| self.client.pull_manifest_raw(reference, &auth, ACCEPTED)).await.map_err(|e| self.oci_err(image, &host, e))?;
        let raw = raw.to_vec();
        Ok((raw.clone(), digest_of(&raw)))
    }

    /// Resolves a tag to what the lock records: the digest, and for an index
    /// the platforms kept.
    pub async fn resolve(&self, r: &ImageRef, platforms: &[String]) -> Result<LockedImage, RegistryError> {
        let name = r.tagged();
        let reference = self.reference(r, r.digest.as_ref());
        let (raw, digest) = self.manifest(&name, &reference).await?;
        if let Some(want) = &r.digest
            && *want != digest
        {
            return Err(RegistryError::Manifest { image: name, message: format!("the registry served {digest} for {want}") });
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
        let r = ImageRef::parse(&locked.name).map_err(|e| RegistryError::Setup(e.to_string()))?;
        let get = |digest: Digest| {
            let reference = self.reference(&r, Some(&digest));
            async move {
                let (raw, got) = self.manifest(&locked.name, &reference).await?;
                if got != digest {
                    return Err(RegistryError::Manifest {
                        image: locked.name.clone(),
                        message: format!("manifest {digest} came back as {got}: the registry changed it"),
                    });
                }
                Ok::<_, RegistryError>(raw)
            }
        };
        let top = get(locked.digest.clone()).await?;
        let image = image_from_lock(locked, top, get).await?;
        let reference = self.reference(&r, Some(&locked.digest));
        let missing: Vec<Blob> = image.blobs.iter().filter(|b| !cache.contains(&b.digest, Some(b.size))).cloned().collect();
        progress.add_total(missing.iter().map(|b| b.size).sum());
        let host = reference.registry().to_string();
        let auth = self.auth(&host);
        self.client.store_auth_if_needed(&host, &auth).await;
        let results: Vec<Result<(), RegistryError>> = futures::stream::iter(missing.into_iter().map(|b| {
            let reference = reference.clone();
            let name = locked.name.clone();
            async move { self.fetch_blob(&name, &reference, &b, cache, progress).await }
        }))
        .buffer_unordered(self.opts.jobs.max(1))
        .collect()
        .await;
        for r in results {
            r?;
        }
        Ok(image)
    }

    async fn fetch_blob(
        &self,
        image: &str,
        reference: &Reference,
        blob: &Blob,
        cache: &BlobCache,
        progress: &crate::progress::Progress,
    ) -> Result<(), RegistryError> {
        let desc = oci_client::manifest::OciDescriptor {
            media_type: blob.media_type.clone(),
            digest: blob.digest.to_string(),
            size: blob.size as i64,
            ..Default::default()
        };
        let host = reference.registry().to_string();
        let mut delay = Duration::from_millis(200);
        for attempt in 1..=ATTEMPTS {
            let tmp = cache.temp()?;
            let path = tmp.path().to_path_buf();
            let file = tokio::fs::File::create(&path).await.map_err(|source| CacheError::Io { path: path.clone(), source })?;
            let writer = progress.writer(file);
            match self.client.pull_blob(reference, &desc, writer).await {
                Ok(()) => {
                    let (_, kept) = tmp.keep().map_err(|e| CacheError::Io { path: path.clone(), source: e.error })?;
                    return match cache.commit(&kept, &blob.digest, Some(blob.size), image) {
                        Ok(_) => Ok(()),
                        Err(CacheError::Mismatch { actual, .. }) => {
                            Err(RegistryError::BadBlob { image: image.into(), blob: blob.digest.to_string(), actual })
                        }
                        Err(e) => Err(e.into()),
                    };
                }
                Err(OciDistributionError::DigestError(oci_client::errors::DigestError::VerificationError { actual, .. })) => {
                    return Err(RegistryError::BadBlob { image: image.into(), blob: blob.digest.to_string(), actual });
                }
                Err(e) if attempt < ATTEMPTS && retryable(&e) => {
                    progress.retry();
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
                Err(e) => return Err(self.oci_err(image, &host, e)),
            }
        }
        unreachable!("the last attempt returns")
    }

    /// Whether a blob is already in a repository.
    pub async fn blob_exists(&self, reference: &Reference, digest: &str) -> Result<bool, RegistryError> {
        let host = reference.registry().to_string();
        let auth = self.auth(&host);
        self.client.store_auth_if_needed(&host, &auth).await;
        with_retries(|| self.client.blob_exists(reference, digest)).await.map_err(|e| self.oci_err(&reference.whole(), &host, e))
    }

    /// Pushes a blob from a file, streamed.
    pub async fn push_blob_file(
        &self,
        reference: &Reference,
        path: &std::path::Path,
        digest: &str,
        size: u64,
    ) -> Result<(), RegistryError> {
        let host = reference.registry().to_string();
        let auth = self.auth(&host);
        self.client
            .auth(reference, &auth, oci_client::RegistryOperation::Push)
            .await
            .map_err(|e| self.oci_err(&reference.whole(), &host, e))?;
        with_retries(|| async {
            let f = tokio::fs::File::open(path).await?;
            let stream = tokio_util::io::ReaderStream::with_capacity(f, 1 << 20).map(|r| r.map_err(OciDistributionError::IoError));
            self.client.push_blob_stream(reference, stream, digest, Some(size)).await
        })
        .await
        .map(|_| ())
        .map_err(|e| self.oci_err(&reference.whole(), &host, e))
    }

    /// Pushes a manifest or index, exactly these bytes.
    pub async fn push_manifest(&self, reference: &Reference, raw: &[u8], media_type: &str) -> Result<(), RegistryError> {
        let host = reference.registry().to_string();
        let ct = reqwest::header::HeaderValue::from_str(media_type).map_err(|e| RegistryError::Setup(e.to_string()))?;
        let body = bytes::Bytes::copy_from_slice(raw);
        with_retries(|| self.client.push_manifest_raw(reference, body.clone(), ct.clone()))
            .await
            .map(|_| ())
            .map_err(|e| self.oci_err(&reference.whole(), &host, e))
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

/// What the lock records for a fetched top manifest or index.
pub fn locked_from_manifest(
    name: &str,
    raw: &[u8],
    digest: &Digest,
    platforms: &[String],
    source: Option<String>,
) -> Result<LockedImage, RegistryError> {
    let media_type = media::media_type_of(raw)
        .ok_or_else(|| RegistryError::Manifest { image: name.into(), message: "not a manifest or an index".into() })?;
    let mut locked = LockedImage {
        name: name.to_string(),
        digest: digest.clone(),
        media_type: media_type.clone(),
        platforms: Vec::new(),
        carried_digest: None,
        source,
    };
    if !media::is_index(&media_type) {
        return Ok(locked);
    }
    let index = media::parse_index(raw).map_err(|message| RegistryError::Manifest { image: name.into(), message })?;
    let mut entries: Vec<(String, Digest)> = Vec::new();
    for e in &index.manifests {
        let Some(p) = media::platform_of(e).filter(|p| !p.starts_with("unknown/")) else { continue };
        let d = Digest::parse(&e.digest).map_err(|e| RegistryError::Manifest { image: name.into(), message: format!("index: {e}") })?;
        entries.push((p, d));
    }
    for want in platforms {
        match entries.iter().find(|(p, _)| media::platform_matches(p, want)) {
            Some((p, d)) => locked.platforms.push(LockedPlatform { platform: p.clone(), digest: d.clone() }),
            None => {
                return Err(RegistryError::NoPlatform {
                    image: name.into(),
                    platform: want.clone(),
                    available: entries.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>().join(", "),
                });
            }
        }
    }
    if locked.platforms.len() < entries.len() {
        let filtered = filter_index(raw, &locked.platforms).map_err(|message| RegistryError::Manifest { image: name.into(), message })?;
        locked.carried_digest = Some(digest_of(&filtered));
    }
    Ok(locked)
}

/// The index listing only the carried platforms' manifests: every other byte
/// of the upstream index kept in order, so the result is the same each time.
pub fn filter_index(raw: &[u8], keep: &[LockedPlatform]) -> Result<Vec<u8>, String> {
    let mut v: Value = serde_json::from_slice(raw).map_err(|e| format!("not an index: {e}"))?;
    let manifests = v.get_mut("manifests").and_then(Value::as_array_mut).ok_or("an index without manifests")?;
    manifests.retain(|m| keep.iter().any(|k| m.get("digest").and_then(Value::as_str) == Some(k.digest.as_str())));
    serde_json::to_vec(&v).map_err(|e| e.to_string())
}

/// Builds the carried image from its lock entry and top manifest, getting
/// child manifests with `get`.
pub async fn image_from_lock<F, Fut>(locked: &LockedImage, top: Vec<u8>, get: F) -> Result<Image, RegistryError>
where
    F: Fn(Digest) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<u8>, RegistryError>>,
{
    let name = locked.name.clone();
    let bad = |message: String| RegistryError::Manifest { image: name.clone(), message };
    let mut manifests = Vec::new();
    let mut blobs = Vec::new();
    let (digest, media_type, top_raw) = if media::is_index(&locked.media_type) {
        let carried = match &locked.carried_digest {
            Some(c) => {
                let filtered = filter_index(&top, &locked.platforms).map_err(bad)?;
                if digest_of(&filtered) != *c {
                    return Err(bad(format!("the index filtered to the locked platforms is not {c}")));
                }
                filtered
            }
            None => top,
        };
        (locked.site_digest().clone(), locked.media_type.clone(), carried)
    } else {
        (locked.digest.clone(), locked.media_type.clone(), top)
    };
    let child_manifests: Vec<(Digest, Vec<u8>)> = if media::is_index(&media_type) {
        let mut v = Vec::new();
        for p in &locked.platforms {
            v.push((p.digest.clone(), get(p.digest.clone()).await?));
        }
        v
    } else {
        vec![(digest.clone(), top_raw.clone())]
    };
    manifests.push((digest.clone(), media_type.clone(), top_raw.clone()));
    for (d, raw) in &child_manifests {
        let m = media::parse_manifest(raw).map_err(bad)?;
        let checked = |d: &str| Digest::parse(d).map_err(|e| bad(format!("manifest {d}: {e}")));
        blobs.push(Blob { digest: checked(&m.config.digest)?, size: m.config.size as u64, media_type: m.config.media_type.clone() });
        for l in &m.layers {
            blobs.push(Blob { digest: checked(&l.digest)?, size: l.size as u64, media_type: l.media_type.clone() });
        }
        if *d != digest {
            let mt = media::media_type_of(raw).unwrap_or_else(|| media::OCI_MANIFEST.into());
            manifests.push((d.clone(), mt, raw.clone()));
        }
    }
    blobs.sort();
    blobs.dedup_by(|a, b| a.digest == b.digest);
    Ok(Image { name: locked.name.clone(), digest, media_type, size: top_raw.len() as u64, manifests, blobs })
}
