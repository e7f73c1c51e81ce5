//! Pushing images to a registry straight from a bundle file, fast, the way
//! the distribution API allows:
//!
//! - every blob is read from where it lies in the bundle (positional reads,
//!   1 MiB at a time, no copy to a spool), hashed as it goes out, and sent in
//!   one monolithic `PUT` with its length; a blob whose bytes are not its
//!   digest is cut off before its last byte, so the registry never commits
//!   it, and the error says the bundle changed;
//! - the registry is asked first ([`ask`]) what it lacks, and nothing is
//!   sent until then, so that the caller reads and checks only the blobs and
//!   manifests that will be sent ([`Plan::reads`]);
//! - blobs go `-j` ([`JOBS`] by default) at a time, the largest first;
//! - a blob the repository has already (`HEAD`) is skipped; one the
//!   registry has under another repository (found by this push, or there
//!   before) is mounted (`POST …/blobs/uploads/?mount=<digest>&from=<repo>`)
//!   instead of sent again, and uploaded when the registry refuses the mount;
//! - an image whose tag already names its digest is complete (a registry
//!   accepts a manifest only once what it references is there), so its
//!   blobs are not even asked about: a second push of the same images is
//!   one `HEAD` per image; an image whose manifest is there by digest but
//!   not under its tag only gets its tag;
//! - manifests go after every blob, each image's children before its top
//!   manifest, and tags last of all, so a failed push leaves no tag naming
//!   an image that is not whole.
//!
//! Every transfer is retried as pulls are ([`super::registry::ATTEMPTS`]),
//! and its error names the image and the blob or manifest.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt;
use meshbundle_core::image::{ImageRef, MediaType};
use oci_client::RegistryOperation;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use sha2::{Digest as _, Sha256};

use super::media::ACCEPTED;
use super::registry::{Failure, Registries, RegistryError, Tries};

/// The default of `-j`, the transfers at once: enough to keep a local
/// registry and two cores busy, few enough that memory stays small (each
/// holds a chunk or two).
pub const JOBS: usize = 8;
/// Bytes read and sent at a time.
const CHUNK: u64 = 1 << 20;

/// Where a blob or manifest lies in the bundle file.
#[derive(Debug, Clone, Copy)]
pub struct Span {
    pub offset: u64,
    pub size: u64,
}

/// One image to push.
#[derive(Debug, Clone)]
pub struct PushImage {
    /// The name printed in errors (`registry.example.internal/pause:3.10`).
    pub name: String,
    /// The reference the site pulls it by: its repository and tag are
    /// pushed to (on whatever host the import names).
    pub site: ImageRef,
    /// The top manifest or index.
    pub digest: String,
    pub media_type: MediaType,
    /// Every manifest, the top one first.
    pub manifests: Vec<String>,
    /// Configs and layers.
    pub blobs: Vec<String>,
}

/// What a push did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PushStats {
    /// Images whose tag now names their digest.
    pub images: usize,
    /// Of those, the ones that were complete before (nothing sent for them).
    pub images_already_there: usize,
    /// Of those, the ones whose manifest was there by digest: only the tag was put.
    pub images_only_tagged: usize,
    pub blobs_pushed: usize,
    pub blobs_mounted: usize,
    pub blobs_skipped: usize,
    pub bytes_pushed: u64,
}

/// The blobs and manifests of a bundle, by digest, and the open file they are read from.
pub struct Source {
    pub file: Arc<File>,
    /// `sha256:<hex>` of each `images/blobs/sha256/<hex>` entry.
    pub spans: BTreeMap<String, Span>,
    /// The layout's other entries (`images/index.json`, `images/oci-layout`), by path.
    pub others: BTreeMap<String, Span>,
}

impl Source {
    /// A manifest's bytes, checked against its digest.
    fn manifest(&self, image: &str, digest: &str) -> Result<Option<Vec<u8>>, RegistryError> {
        let Some(span) = self.spans.get(digest) else {
            return Ok(None);
        };
        if span.size > 4 << 20 {
            return Err(RegistryError::Manifest {
                image: image.into(),
                message: format!("manifest {digest} is larger than 4 MiB"),
            });
        }
        let mut buf = vec![0u8; span.size as usize];
        self.file
            .read_exact_at(&mut buf, span.offset)
            .map_err(|e| RegistryError::Transfer {
                image: image.into(),
                what: format!("manifest {digest}"),
                message: "cannot read it from the bundle".into(),
                hint: "the bundle changed since it was verified: verify it again".into(),
                source: Some(Box::new(e)),
            })?;
        let actual = format!("sha256:{}", hex::encode(Sha256::digest(&buf)));
        if actual != digest {
            return Err(RegistryError::BadBlob {
                image: image.into(),
                blob: digest.into(),
                actual,
            });
        }
        Ok(Some(buf))
    }
}

/// Counts kept while pushing.
#[derive(Default)]
struct Counts {
    pushed: AtomicUsize,
    mounted: AtomicUsize,
    bytes: AtomicU64,
}

/// What the registry holds of an image, asked before anything is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// Its tag names its digest (or, untagged, its manifest is there): nothing to send.
    Whole,
    /// Its manifest is there by digest, so is everything it references (a
    /// registry accepts a manifest only then): only the tag is put.
    Untagged,
    /// Its blobs that the registry lacks, its manifests and its tag are sent.
    Lacking,
}

/// One blob to send: where it lies in the bundle, each (repository, image)
/// that lacks it, and a repository that has it (to mount it from).
#[derive(Debug, Clone)]
struct BlobJob {
    digest: String,
    span: Span,
    need: Vec<(String, String)>,
    have: Option<String>,
}

/// What a push will do, found by asking the registry only (`HEAD`s): no
/// byte of the bundle is read to make it.
#[derive(Debug, Clone)]
pub struct Plan {
    /// For each image, in order.
    pub held: Vec<Held>,
    jobs: Vec<BlobJob>,
    /// (blob, repository) pairs the registry has already.
    skipped: usize,
}

impl Plan {
    /// The digests of every blob and manifest the push will read from the
    /// bundle: the blobs some repository lacks (a mount the registry
    /// refuses becomes an upload), every manifest of an image that is
    /// lacking, the top manifest of one only to be tagged.
    pub fn reads(&self, images: &[PushImage]) -> BTreeSet<String> {
        let mut r: BTreeSet<String> = self.jobs.iter().map(|j| j.digest.clone()).collect();
        for (img, held) in images.iter().zip(&self.held) {
            match held {
                Held::Whole => {}
                Held::Untagged if img.site.tag.is_some() => {
                    r.insert(img.digest.clone());
                }
                Held::Untagged => {}
                Held::Lacking => r.extend(img.manifests.iter().cloned()),
            }
        }
        r
    }

    /// Images the registry holds whole already.
    pub fn whole(&self) -> usize {
        self.held.iter().filter(|h| **h == Held::Whole).count()
    }

    /// Bytes of blobs to be sent (or mounted).
    pub fn blob_bytes(&self) -> u64 {
        self.jobs.iter().map(|j| j.span.size).sum()
    }
}

/// Asks the registry what it lacks of `images`, `jobs` questions at once:
/// first each image's tag (and, where the tag does not name the image, its
/// manifest by digest), then, for the images not there, each blob in each
/// repository that needs it. Sends nothing and reads nothing of the bundle.
pub async fn ask(regs: &Registries, host: &str, source: &Source, images: &[PushImage]) -> Result<Plan, RegistryError> {
    let jobs = regs.jobs();
    let held: Vec<Held> = futures::stream::iter(images.iter().map(|img| async move {
        if let Some(tag) = &img.site.tag
            && manifest_is(regs, host, img, tag).await?
        {
            return Ok(Held::Whole);
        }
        if manifest_is(regs, host, img, &img.digest).await? {
            return Ok(if img.site.tag.is_some() {
                Held::Untagged
            } else {
                Held::Whole
            });
        }
        Ok(Held::Lacking)
    }))
    .buffered(jobs)
    .collect::<Vec<_>>()
    .await
    .into_iter()
    .collect::<Result<_, RegistryError>>()?;
    // Each blob of an image not there, the repositories needing it (with an image of each, for errors).
    let mut needed: BTreeMap<&str, BTreeMap<&str, &str>> = BTreeMap::new();
    for (img, h) in images.iter().zip(&held) {
        if *h != Held::Lacking {
            continue;
        }
        for b in &img.blobs {
            if source.spans.contains_key(b.as_str()) {
                needed
                    .entry(b.as_str())
                    .or_default()
                    .entry(img.site.repository.as_str())
                    .or_insert(img.name.as_str());
            }
        }
    }
    // What images there already hold counts as skipped, once per repository.
    let mut held_there: BTreeSet<(&str, &str)> = BTreeSet::new();
    for (img, h) in images.iter().zip(&held) {
        if *h == Held::Lacking {
            continue;
        }
        for b in img.blobs.iter().filter(|b| source.spans.contains_key(b.as_str())) {
            if !needed
                .get(b.as_str())
                .is_some_and(|r| r.contains_key(img.site.repository.as_str()))
            {
                held_there.insert((b.as_str(), img.site.repository.as_str()));
            }
        }
    }
    let pairs: Vec<(&str, &str, &str)> = needed
        .iter()
        .flat_map(|(d, repos)| repos.iter().map(move |(r, i)| (*d, *r, *i)))
        .collect();
    let there: Vec<bool> =
        futures::stream::iter(pairs.iter().map(|(d, repo, image)| blob_in(regs, host, image, repo, d)))
            .buffered(jobs)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
    let mut skipped = held_there.len();
    let mut by_blob: BTreeMap<&str, BlobJob> = BTreeMap::new();
    for ((d, repo, image), is_there) in pairs.iter().zip(there) {
        let job = by_blob.entry(d).or_insert_with(|| BlobJob {
            digest: d.to_string(),
            span: source.spans[*d],
            need: Vec::new(),
            have: None,
        });
        if is_there {
            skipped += 1;
            job.have.get_or_insert_with(|| repo.to_string());
        } else {
            job.need.push((repo.to_string(), image.to_string()));
        }
    }
    let mut jobs: Vec<BlobJob> = by_blob.into_values().filter(|j| !j.need.is_empty()).collect();
    // The largest first, so that the last to finish is a small one.
    jobs.sort_by(|a, b| b.span.size.cmp(&a.span.size).then(a.digest.cmp(&b.digest)));
    Ok(Plan { held, jobs, skipped })
}

/// Pushes `images` to `host` from `source`. Blobs not in `source` (a
/// differential bundle's base) are left to be there already; every manifest
/// must be in `source`.
pub async fn push(
    regs: &Registries,
    host: &str,
    source: &Source,
    images: &[PushImage],
    progress: &crate::progress::Progress,
) -> Result<PushStats, RegistryError> {
    let plan = ask(regs, host, source, images).await?;
    send(regs, host, source, images, &plan, progress).await
}

/// Sends what `plan` found lacking, `-j` transfers at once: the blobs
/// (mounted where another repository has them), then the manifests of the
/// images lacking, each image's children before its top one, then the tags.
pub async fn send(
    regs: &Registries,
    host: &str,
    source: &Source,
    images: &[PushImage],
    plan: &Plan,
    progress: &crate::progress::Progress,
) -> Result<PushStats, RegistryError> {
    let jobs = regs.jobs();
    progress.add_total(plan.blob_bytes());
    let counts = Counts::default();
    let mut results = futures::stream::iter(plan.jobs.iter().map(|job| {
        let counts = &counts;
        async move { send_blob(regs, host, source, job, counts, progress).await }
    }))
    .buffer_unordered(jobs);
    let mut first_err = None;
    while let Some(r) = results.next().await {
        if let Err(e) = r {
            // The transfers in flight are dropped (the registry keeps no cut upload); nothing
            // more starts, and no manifest or tag is pushed.
            first_err.get_or_insert(e);
            break;
        }
    }
    drop(results);
    if let Some(e) = first_err {
        return Err(e);
    }
    let stats = PushStats {
        images: images.len(),
        images_already_there: plan.whole(),
        images_only_tagged: plan.held.iter().filter(|h| **h == Held::Untagged).count(),
        blobs_pushed: counts.pushed.load(Ordering::Relaxed),
        blobs_mounted: counts.mounted.load(Ordering::Relaxed),
        blobs_skipped: plan.skipped,
        bytes_pushed: counts.bytes.load(Ordering::Relaxed),
    };
    // Then the manifests by digest, each image's children before its top one.
    let lacking = images.iter().zip(&plan.held).filter(|(_, h)| **h == Held::Lacking);
    futures::stream::iter(lacking.map(|(img, _)| async move {
        for m in img.manifests.iter().skip(1).chain(img.manifests.first()) {
            let raw = carried(source, img, m)?;
            let mt = super::media::media_type_of(&raw).unwrap_or_else(|| img.media_type.to_string());
            put_manifest(regs, host, img, m, &raw, &mt).await?;
        }
        Ok::<_, RegistryError>(())
    }))
    .buffer_unordered(jobs)
    .collect::<Vec<_>>()
    .await
    .into_iter()
    .collect::<Result<Vec<()>, _>>()?;
    // Tags last: each names an image now whole.
    let to_tag = images.iter().zip(&plan.held).filter(|(_, h)| **h != Held::Whole);
    futures::stream::iter(to_tag.map(|(img, _)| async move {
        let Some(tag) = &img.site.tag else { return Ok(()) };
        let raw = carried(source, img, &img.digest)?;
        put_manifest(regs, host, img, tag, &raw, &img.media_type).await
    }))
    .buffer_unordered(jobs)
    .collect::<Vec<_>>()
    .await
    .into_iter()
    .collect::<Result<Vec<()>, RegistryError>>()?;
    Ok(stats)
}

/// A manifest of the image, which the bundle must carry.
fn carried(source: &Source, img: &PushImage, digest: &str) -> Result<Vec<u8>, RegistryError> {
    source
        .manifest(&img.name, digest)?
        .ok_or_else(|| RegistryError::Manifest {
            image: img.name.clone(),
            message: format!("manifest {digest} is not in this bundle (import its base bundle first)"),
        })
}

fn transfer(image: &str, what: String, message: String, hint: &str) -> RegistryError {
    RegistryError::Transfer {
        image: image.into(),
        what,
        message,
        hint: hint.into(),
        source: None,
    }
}

const PUSH_HINT: &str =
    "check --registry, --insecure and --authfile, then run the same import again: what is there already is skipped";

/// Whether `repository:tag` (or `repository@digest`) on the registry names the image's digest.
async fn manifest_is(regs: &Registries, host: &str, img: &PushImage, tag: &str) -> Result<bool, RegistryError> {
    let url = format!("{}/v2/{}/manifests/{tag}", regs.base_url(host), img.site.repository);
    let accept = ACCEPTED.join(", ");
    let mut tries = Tries::new(&img.name, format!("manifest {tag}"), None);
    loop {
        let failure = match regs
            .send(host, &img.site.repository, RegistryOperation::Push, |c| {
                c.head(&url).header(ACCEPT, &accept)
            })
            .await
        {
            Ok((resp, _)) if resp.status() == StatusCode::NOT_FOUND => return Ok(false),
            Ok((resp, _)) if resp.status().is_success() => {
                let got = resp
                    .headers()
                    .get("docker-content-digest")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                return Ok(got == img.digest);
            }
            Ok((resp, sent)) => regs.failure(host, resp, sent, "manifest").await,
            Err(f) => f,
        };
        tries.next(failure).await?;
    }
}

/// Whether `repository` has the blob.
async fn blob_in(
    regs: &Registries,
    host: &str,
    image: &str,
    repository: &str,
    digest: &str,
) -> Result<bool, RegistryError> {
    let url = format!("{}/v2/{repository}/blobs/{digest}", regs.base_url(host));
    let mut tries = Tries::new(image, format!("blob {digest}"), None);
    loop {
        let failure = match regs
            .send(host, repository, RegistryOperation::Push, |c| c.head(&url))
            .await
        {
            Ok((resp, _)) if resp.status() == StatusCode::NOT_FOUND => return Ok(false),
            Ok((resp, _)) if resp.status().is_success() => return Ok(true),
            Ok((resp, sent)) => regs.failure(host, resp, sent, "blob").await,
            Err(f) => f,
        };
        tries.next(failure).await?;
    }
}

/// Sends one blob to every repository that lacks it: mounted from a
/// repository that has it, uploaded once otherwise.
async fn send_blob(
    regs: &Registries,
    host: &str,
    source: &Source,
    job: &BlobJob,
    counts: &Counts,
    progress: &crate::progress::Progress,
) -> Result<(), RegistryError> {
    let mut have = job.have.as_deref();
    for (repo, image) in &job.need {
        let mounted = upload(regs, host, source, image, repo, &job.digest, job.span, have, progress).await?;
        if mounted {
            counts.mounted.fetch_add(1, Ordering::Relaxed);
        } else {
            counts.pushed.fetch_add(1, Ordering::Relaxed);
            counts.bytes.fetch_add(job.span.size, Ordering::Relaxed);
        }
        have.get_or_insert(repo);
    }
    progress.inc(job.span.size);
    Ok(())
}

/// Where an upload goes on: the `Location` of an answer, made absolute.
fn location(regs: &Registries, host: &str, resp: &reqwest::Response) -> Option<String> {
    let loc = resp.headers().get(LOCATION)?.to_str().ok()?;
    Some(if loc.starts_with("http://") || loc.starts_with("https://") {
        loc.to_string()
    } else {
        format!("{}{loc}", regs.base_url(host))
    })
}

/// Mounts the blob from `from` when given and the registry agrees, else
/// uploads it whole. Returns whether it was mounted.
#[allow(clippy::too_many_arguments)]
async fn upload(
    regs: &Registries,
    host: &str,
    source: &Source,
    image: &str,
    repository: &str,
    digest: &str,
    span: Span,
    from: Option<&str>,
    progress: &crate::progress::Progress,
) -> Result<bool, RegistryError> {
    let what = format!("blob {digest}");
    let mut tries = Tries::new(image, what.clone(), Some(progress));
    let base = regs.base_url(host);
    loop {
        let start = match from {
            Some(from) => format!("{base}/v2/{repository}/blobs/uploads/?mount={digest}&from={from}"),
            None => format!("{base}/v2/{repository}/blobs/uploads/"),
        };
        let failure = match regs
            .send(host, repository, RegistryOperation::Push, |c| {
                c.post(&start).header(CONTENT_LENGTH, "0")
            })
            .await
        {
            Ok((resp, _)) if resp.status() == StatusCode::CREATED && from.is_some() => return Ok(true),
            Ok((resp, _)) if resp.status() == StatusCode::ACCEPTED => {
                let Some(at) = location(regs, host, &resp) else {
                    return Err(transfer(
                        image,
                        what,
                        "the registry started an upload without a Location".into(),
                        PUSH_HINT,
                    ));
                };
                match put_blob(regs, host, source, repository, digest, span, &at).await {
                    Ok(()) => return Ok(false),
                    Err(f) => f,
                }
            }
            Ok((resp, sent)) => regs.failure(host, resp, sent, "upload").await,
            Err(f) => f,
        };
        if let Failure::Damaged { actual } = failure {
            return Err(transfer(
                image,
                what,
                format!(
                    "its bytes in the bundle hash to {actual}; the upload was cut off, so the registry did not keep it"
                ),
                "the bundle changed since it was verified: verify it again, and import only a bundle that verifies",
            ));
        }
        tries.next(failure).await?;
    }
}

/// The blob's bytes from the bundle, hashed as they go: a blob whose bytes
/// are not its digest ends in an error before its last byte, and `damaged`
/// says what they hash to.
fn body(file: Arc<File>, span: Span, digest: &str, damaged: Arc<Mutex<Option<String>>>) -> reqwest::Body {
    let want = digest.to_string();
    let stream = futures::stream::try_unfold(
        (file, span.offset, span.size, Sha256::new()),
        move |(file, pos, left, mut h)| {
            let want = want.clone();
            let damaged = damaged.clone();
            async move {
                if left == 0 {
                    return Ok(None);
                }
                let n = left.min(CHUNK);
                let f = file.clone();
                let buf = tokio::task::spawn_blocking(move || {
                    let mut b = vec![0u8; n as usize];
                    f.read_exact_at(&mut b, pos).map(|_| b)
                })
                .await
                .map_err(std::io::Error::other)??;
                h.update(&buf);
                if left == n {
                    let actual = format!("sha256:{}", hex::encode(h.clone().finalize()));
                    if actual != want {
                        if let Ok(mut d) = damaged.lock() {
                            *d = Some(actual.clone());
                        }
                        return Err(std::io::Error::other(format!(
                            "its bytes in the bundle hash to {actual}"
                        )));
                    }
                }
                Ok::<_, std::io::Error>(Some((Bytes::from(buf), (file, pos + n, left - n, h))))
            }
        },
    );
    reqwest::Body::wrap_stream(stream)
}

/// One monolithic `PUT` of the blob to the upload at `at`.
async fn put_blob(
    regs: &Registries,
    host: &str,
    source: &Source,
    repository: &str,
    digest: &str,
    span: Span,
    at: &str,
) -> Result<(), Failure> {
    let sep = if at.contains('?') { '&' } else { '?' };
    let url = format!("{at}{sep}digest={digest}");
    let damaged = Arc::new(Mutex::new(None));
    let file = source.file.clone();
    let sent = regs
        .send(host, repository, RegistryOperation::Push, |c| {
            c.put(&url)
                .header(CONTENT_TYPE, "application/octet-stream")
                .header(CONTENT_LENGTH, span.size)
                .body(body(file.clone(), span, digest, damaged.clone()))
        })
        .await;
    if let Some(actual) = damaged.lock().ok().and_then(|d| d.clone()) {
        return Err(Failure::Damaged { actual });
    }
    match sent {
        Ok((resp, _)) if resp.status().is_success() => Ok(()),
        Ok((resp, creds)) => Err(regs.failure(host, resp, creds, "upload").await),
        Err(f) => Err(f),
    }
}

/// `PUT /v2/<repository>/manifests/<name>` of exactly these bytes.
async fn put_manifest(
    regs: &Registries,
    host: &str,
    img: &PushImage,
    name: &str,
    raw: &[u8],
    media_type: &str,
) -> Result<(), RegistryError> {
    let url = format!("{}/v2/{}/manifests/{name}", regs.base_url(host), img.site.repository);
    let body = Bytes::copy_from_slice(raw);
    let what = if name.starts_with("sha256:") {
        format!("manifest {name}")
    } else {
        format!("tag {name}")
    };
    let mut tries = Tries::new(&img.name, what, None);
    loop {
        let failure = match regs
            .send(host, &img.site.repository, RegistryOperation::Push, |c| {
                c.put(&url).header(CONTENT_TYPE, media_type).body(body.clone())
            })
            .await
        {
            Ok((resp, _)) if resp.status().is_success() => return Ok(()),
            Ok((resp, sent)) => regs.failure(host, resp, sent, "manifest").await,
            Err(f) => f,
        };
        tries.next(failure).await?;
    }
}

/// The spans of a bundle's OCI layout (`images/…`): its tar headers walked (content
/// skipped by seeking), each `images/blobs/sha256/<hex>` entry kept when the
/// verified seal lists it with that size. Whatever else the file holds is
/// not read; what is read is hashed again as it is pushed.
pub fn index(path: &std::path::Path, entries: &[crate::bundle::seal::SealEntry]) -> std::io::Result<Source> {
    let listed: BTreeMap<&str, (u64, &str)> = entries
        .iter()
        .map(|e| (e.path.as_str(), (e.size, e.sha256.hex())))
        .collect();
    let file = File::open(path)?;
    let mut archive = tar::Archive::new(std::io::BufReader::new(file.try_clone()?));
    let mut spans = BTreeMap::new();
    let mut others = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for e in archive.entries_with_seek()? {
        let e = e?;
        if e.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let Ok(p) = std::str::from_utf8(&e.path_bytes()).map(str::to_string) else {
            continue;
        };
        let size = e.header().size()?;
        let Some(hex) = p.strip_prefix("images/blobs/sha256/") else {
            if p.starts_with("images/") && listed.get(p.as_str()).is_some_and(|l| l.0 == size) && e.size() == size {
                others.insert(
                    p.clone(),
                    Span {
                        offset: e.raw_file_position(),
                        size,
                    },
                );
            }
            continue;
        };
        // Listed with this size, and named by its own sha256.
        if listed.get(p.as_str()) == Some(&(size, hex)) && e.size() == size && seen.insert(p.clone()) {
            spans.insert(
                format!("sha256:{hex}"),
                Span {
                    offset: e.raw_file_position(),
                    size,
                },
            );
        }
    }
    Ok(Source {
        file: Arc::new(file),
        spans,
        others,
    })
}
