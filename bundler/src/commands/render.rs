//! `meshbundle render`: every file of the install, into a directory.

use std::path::Path;
use std::process::ExitCode;

use meshbundle_core::render::{Inputs, RenderError, render_valid};

use crate::cli::RenderArgs;
use crate::error::{Error, Result};
use crate::{fsutil, sitefile, treeio};

pub fn run(a: RenderArgs) -> Result<ExitCode> {
    let site = sitefile::read_site(&a.file)?;
    let secrets = a
        .secrets
        .as_deref()
        .map(|p| sitefile::read_secrets(p, Some(&site)))
        .transpose()?;
    let lock = a.lock.as_deref().map(sitefile::read_lock).transpose()?;
    let spec_file = spec_file_name(&a.file);
    let inputs = Inputs {
        lock: lock.as_ref(),
        secrets: secrets.as_ref(),
        spec_file: spec_file.as_deref(),
        ..Default::default()
    };
    let tree = render_valid(&site, &inputs).map_err(|e| match (&e, &a.lock) {
        (RenderError::LockIncomplete(_), Some(lock)) => {
            Error::failed_with(lock.display().to_string(), e, "lock the spec again")
        }
        _ => Error::from_source(e, "check the spec, secrets and lock belong together"),
    })?;
    if let Some(dir) = &a.output {
        treeio::write_tree(&tree, dir, a.force)?;
        eprintln!(
            "rendered {} files ({} bytes) into {}",
            tree.len(),
            tree.total_bytes(),
            dir.display()
        );
    }
    if let Some(path) = &a.tar {
        fsutil::check_overwrite(path, a.force)?;
        let bytes = meshbundle_core::archive::tar_gz(&tree, &site.metadata.name)
            .map_err(|e| Error::from_source(e, "report this as a bug"))?;
        fsutil::write_atomic(path, &bytes, if secrets.is_some() { 0o600 } else { 0o644 })?;
        eprintln!(
            "wrote {} ({} files under {}/)",
            path.display(),
            tree.len(),
            site.metadata.name
        );
    }
    eprintln!("tree digest {}", tree.digest());
    if secrets.is_none() {
        eprintln!(
            "note: no --secrets: join configurations, CAs and TLS certificates are left out (see README.md in the output)"
        );
    }
    if lock.is_none() {
        eprintln!("note: no --lock: images are referenced by tag, not digest");
    }
    if let Some(dir) = &a.output {
        eprintln!("next: read {}/README.md", dir.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The name the rendered README and headers give the spec: the file name the
/// user gave (`site.yaml`), without its directory, so the same spec renders
/// the same bytes wherever it lies; `None` (render's `meshbundle.yaml`) for
/// standard input. Core quotes it for the shell and keeps it on one line.
pub fn spec_file_name(path: &Path) -> Option<String> {
    if path == Path::new("-") {
        return None;
    }
    path.file_name().map(|n| n.to_string_lossy().into_owned())
}
