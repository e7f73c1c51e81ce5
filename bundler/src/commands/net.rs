//! Setting up registry and file access from the command-line flags.

use crate::cli::NetArgs;
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
        .map_err(|e| Error::failed(format!("cannot start the async runtime: {e}"), "report this as a bug"))
}

pub fn setup(a: &NetArgs) -> Result<Net> {
    let mut registry_mirrors = Vec::new();
    let mut url_mirrors = Vec::new();
    for m in &a.mirror {
        let (from, to) =
            m.split_once('=').ok_or_else(|| Error::Usage(format!("--mirror {m}: write FROM=TO, e.g. docker.io=mirror.corp:5000")))?;
        if from.contains("://") {
            url_mirrors.push((from.trim_end_matches('/').to_string(), to.trim_end_matches('/').to_string()));
        } else {
            registry_mirrors.push((from.to_string(), to.to_string()));
        }
    }
    let registries = Registries::new(RegistryOptions {
        mirrors: registry_mirrors,
        insecure: a.insecure.clone(),
        authfile: a.authfile.clone(),
        ca_files: a.registry_ca.clone(),
        jobs: a.jobs,
    })
    .map_err(|e| Error::failed(e.to_string(), "check --authfile and --registry-ca"))?;
    let fetcher = Fetcher::new(url_mirrors).map_err(|e| Error::failed(e, "report this as a bug"))?;
    let cache = BlobCache::open(a.cache.as_deref()).map_err(|e| Error::failed(e.to_string(), "check --cache"))?;
    Ok(Net { registries, fetcher, cache })
}
