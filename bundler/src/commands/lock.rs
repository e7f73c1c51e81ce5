//! `meshbundle lock`: pin every image and file of a site.

use std::process::ExitCode;

use super::net;
use crate::cli::LockArgs;
use crate::error::{Error, Result};
use crate::lockfile::{Resolver, lock};
use crate::progress::Progress;
use crate::{fsutil, sitefile};

pub fn run(a: LockArgs) -> Result<ExitCode> {
    let site = sitefile::read_site(&a.spec)?;
    let output = a
        .output
        .clone()
        .unwrap_or_else(|| a.spec.with_file_name("meshbundle.lock"));
    let old = if output.exists() {
        Some(sitefile::read_lock(&output)?)
    } else {
        None
    };
    let n = net::setup(&a.net)?;
    let progress = Progress::bytes("lock", a.net.quiet);
    let resolver = Resolver {
        registries: &n.registries,
        fetcher: &n.fetcher,
        cache: &n.cache,
        progress: &progress,
    };
    let (new, resolved) = net::runtime()?.block_on(lock(&site, site.needs(), old.as_ref(), &a.update, &resolver))?;
    progress.finish();
    let text = meshbundle_core::lock::write(&new).map_err(|e| Error::from_source(e, "report this as a bug"))?;
    fsutil::write_atomic(&output, text.as_bytes(), 0o644)?;
    let kept = new.images.len() + new.files.len() - resolved;
    eprintln!(
        "wrote {}: {} images, {} files ({resolved} resolved now, {kept} kept as pinned)",
        output.display(),
        new.images.len(),
        new.files.len()
    );
    eprintln!("next: meshbundle build {} --locked -o site.mbundle", a.spec.display());
    Ok(ExitCode::SUCCESS)
}
