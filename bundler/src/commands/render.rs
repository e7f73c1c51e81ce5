//! `meshbundle render`: every file of the install, into a directory.

use std::process::ExitCode;

use meshbundle_core::render::{Inputs, render};

use crate::cli::RenderArgs;
use crate::error::{Error, Result};
use crate::{sitefile, treeio};

pub fn run(a: RenderArgs) -> Result<ExitCode> {
    let site = sitefile::read_site(&a.file)?;
    let secrets = a.secrets.as_deref().map(|p| sitefile::read_secrets(p, Some(&site))).transpose()?;
    let lock = a.lock.as_deref().map(sitefile::read_lock).transpose()?;
    let inputs = Inputs { lock: lock.as_ref(), secrets: secrets.as_ref(), upstream: None };
    let tree = render(&site, &inputs).map_err(|e| Error::failed(e.to_string(), "check the spec, secrets and lock belong together"))?;
    treeio::write_tree(&tree, &a.output, a.force)?;
    eprintln!("rendered {} files ({} bytes) into {}", tree.len(), tree.total_bytes(), a.output.display());
    eprintln!("tree digest {}", tree.digest());
    if secrets.is_none() {
        eprintln!("note: no --secrets: join configurations, CAs and TLS certificates are left out (see {}/README.md)", a.output.display());
    }
    if lock.is_none() {
        eprintln!("note: no --lock: images are referenced by tag, not digest");
    }
    eprintln!("next: read {}/README.md", a.output.display());
    Ok(ExitCode::SUCCESS)
}
