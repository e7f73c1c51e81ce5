//! Setting up registry and file access from the command-line flags.

use crate::cli::{Mirror, NetArgs};
use crate::error::{Error, Result};
use crate::files::Fetcher;
use crate::oci::cache::BlobCache;
use crate::oci::registry::{Registries, RegistryOptions};

pub struct Net {
    pub registries: Registries,
    pub fetcher: Fetcher,
    pub cache: BlobCache,
}

pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::failed_with("cannot start the async runtime", e, "report this as a bug"))
}

pub fn setup(a: &NetArgs) -> Result<Net> {
    let mut registry_mirrors = Vec::new();
    let mut url_mirrors = Vec::new();
    for m in &a.mirror {
        match m {
            Mirror::Url { from, to } => url_mirrors.push((from.clone(), to.clone())),
            Mirror::Registry { from, to } => registry_mirrors.push((from.clone(), to.clone())),
        }
    }
    let registries = Registries::new(RegistryOptions {
        mirrors: registry_mirrors,
        insecure: a.registry_access.insecure.clone(),
        authfile: a.registry_access.authfile.clone(),
        ca_files: a.registry_access.registry_ca.clone(),
        jobs: a.jobs,
    })
    .map_err(|e| Error::from_source(e, "check --authfile and --registry-ca"))?;
    let fetcher = Fetcher::new(url_mirrors).map_err(|e| Error::from_source(e, "report this as a bug"))?;
    let cache = BlobCache::open(a.cache.as_deref()).map_err(|e| Error::from_source(e, "check --cache"))?;
    Ok(Net {
        registries,
        fetcher,
        cache,
    })
}
