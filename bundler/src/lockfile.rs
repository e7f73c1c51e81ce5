//! Making the lock: every image the site needs resolved to a digest (keeping
//! the platforms the spec asks for), every file fetched and pinned to its
//! sha256 (checked against the publisher's checksum where there is one).
//! Entries already in the lock stay pinned unless named with `--update`.

use meshbundle_core::catalog::{NeededFile, Needs};
use meshbundle_core::image::ImageRef;
use meshbundle_core::lock::{Lock, LockedFile, LockedImage};
use meshbundle_core::spec::Site;

use crate::error::{Error, Result};
use crate::files::{Fetcher, check_pinned};
use crate::oci::archive;
use crate::oci::cache::BlobCache;
use crate::oci::registry::Registries;
use crate::progress::Progress;

/// The platforms a site runs: `linux/<arch>` for each of its architectures.
pub fn platforms(site: &Site) -> Vec<String> {
    site.spec
        .architectures
        .iter()
        .map(|a| format!("linux/{}", a.as_str()))
        .collect()
}

fn source_of<'a>(site: &'a Site, name: &ImageRef) -> Option<&'a str> {
    site.spec
        .images
        .iter()
        .find(|i| ImageRef::parse(&i.name).is_ok_and(|r| r.without_digest() == *name))
        .and_then(|i| i.source.as_deref())
}

pub struct Resolver<'a> {
    pub registries: &'a Registries,
    pub fetcher: &'a Fetcher,
    pub cache: &'a BlobCache,
    pub progress: &'a Progress,
}

impl Resolver<'_> {
    /// Resolves an image (named without a digest) to what the lock records.
    pub async fn image(&self, site: &Site, name: &ImageRef) -> Result<LockedImage> {
        let plats = platforms(site);
        match source_of(site, name) {
            Some(src) => {
                let (locked, _) = archive::load(src, name, &plats, self.cache, self.progress)
                    .map_err(|e| Error::from_source(e, "check the image source in spec.images"))?;
                Ok(locked)
            }
            None => self.registries.resolve(name, &plats).await.map_err(|e| {
                let hint = e
                    .hint()
                    .unwrap_or_else(|| "check the registry is reachable (--mirror, --insecure, --authfile)".into());
                Error::from_source(e, hint)
            }),
        }
    }

    pub async fn file(&self, f: &NeededFile) -> Result<LockedFile> {
        let (digest, size) = self
            .fetcher
            .fetch(&f.name, &f.url, self.cache, self.progress)
            .await
            .map_err(|e| Error::from_source(e, "check the URL is reachable (--mirror maps URL prefixes)"))?;
        if let Some(pinned) = &f.sha256 {
            check_pinned(&f.name, &f.url, &digest, pinned)
                .map_err(|e| Error::from_source(e, "the download is not the pinned file"))?;
        }
        if let Some(sum) = &f.checksum_url {
            let published = self
                .fetcher
                .published_sha256(&f.name, sum, &f.url)
                .await
                .map_err(|e| Error::from_source(e, "the publisher's checksum file could not be read"))?;
            check_pinned(&f.name, &f.url, &digest, &published).map_err(|e| {
                Error::from_source(
                    e,
                    "the download does not match the publisher's checksum file: do not use it",
                )
            })?;
        }
        Ok(LockedFile {
            name: f.name.clone(),
            url: f.url.clone(),
            sha256: digest,
            size,
        })
    }
}

/// Makes the lock for `needs`, keeping entries of `old` not named in `update`.
/// Images and files to resolve are resolved at once, as many at a time as
/// the registries' `jobs` (`-j`; `-j 1` resolves one after another); each
/// lands in its own place and the lock is sorted, so the bytes written are
/// the same whatever order the answers come in. The first error in the
/// spec's order is the one reported.
pub async fn lock(
    site: &Site,
    needs: &Needs,
    old: Option<&Lock>,
    update: &[String],
    r: &Resolver<'_>,
) -> Result<(Lock, usize)> {
    use futures::StreamExt;
    // `--update` names an image as written in the lock or as people write it
    // (`nginx:1` is `docker.io/library/nginx:1`), or a file.
    let updated: Vec<Option<ImageRef>> = update.iter().map(|u| ImageRef::parse(u).ok()).collect();
    let fresh = |name: &str| update.iter().any(|u| u == name || u == "all");
    let fresh_image = |name: &ImageRef| {
        update.iter().any(|u| u == "all") || updated.iter().flatten().any(|u| u.without_digest() == *name)
    };
    let jobs = r.registries.jobs().max(1);
    let mut lock = Lock::new();
    let mut images = Vec::new();
    for img in &needs.images {
        let name = img.upstream.without_digest();
        match old.and_then(|l| l.image(&name)).filter(|_| !fresh_image(&name)) {
            Some(kept) => lock.images.push(kept.clone()),
            None => images.push(name),
        }
    }
    let mut files = Vec::new();
    for f in &needs.files {
        match old
            .and_then(|l| l.file(&f.name))
            .filter(|e| !fresh(&f.name) && e.url == f.url)
        {
            Some(kept) => lock.files.push(kept.clone()),
            None => files.push(f),
        }
    }
    let resolved = images.len() + files.len();
    // Images and files share the bound; `buffered` keeps the spec's order.
    enum Got {
        Image(LockedImage),
        File(LockedFile),
    }
    let work = images
        .iter()
        .map(|name| futures::future::Either::Left(async move { r.image(site, name).await.map(Got::Image) }))
        .chain(
            files
                .iter()
                .map(|f| futures::future::Either::Right(async move { r.file(f).await.map(Got::File) })),
        );
    let got: Vec<Result<Got>> = futures::stream::iter(work).buffered(jobs).collect().await;
    for g in got {
        match g? {
            Got::Image(i) => lock.images.push(i),
            Got::File(f) => lock.files.push(f),
        }
    }
    for (u, r) in update.iter().zip(&updated) {
        let known = u == "all"
            || r.as_ref().is_some_and(|r| lock.image(&r.without_digest()).is_some())
            || lock.file(u).is_some();
        if !known {
            return Err(Error::Usage(format!(
                "--update {u}: no image or file of this site has that name"
            )));
        }
    }
    lock.sort();
    Ok((lock, resolved))
}
