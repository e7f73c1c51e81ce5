//! `meshbundle image pull` and `meshbundle image build`.

use std::path::Path;
use std::process::ExitCode;

use meshbundle_core::image::ImageRef;

use super::net;
use crate::cli::{ImageBuildArgs, ImageCommand, ImagePullArgs};
use crate::error::{Error, Result};
use crate::oci::Image;
use crate::oci::archive;
use crate::oci::cache::BlobCache;
use crate::oci::layout::{self, Layout};
use crate::progress::Progress;

pub fn run(c: ImageCommand) -> Result<ExitCode> {
    match c {
        ImageCommand::Pull(a) => pull(a),
        ImageCommand::Build(a) => build(a),
    }
}

/// Pulls every image into the cache first, then writes the layout: a pull
/// that fails leaves no output it started (an output that was there before
/// stays), and its error names the output, the image and the blob.
fn pull(a: ImagePullArgs) -> Result<ExitCode> {
    let n = net::setup(&a.net)?;
    let progress = Progress::bytes("pull", a.net.quiet);
    let out = a.output.display().to_string();
    let rt = net::runtime()?;
    let mut images = Vec::new();
    for spec in &a.images {
        let (name, source) = match spec.split_once('=') {
            Some((n, s)) if archive::parse_source(s).is_some() => (n.to_string(), Some(s.to_string())),
            _ => (spec.clone(), None),
        };
        let r = ImageRef::parse(&name).map_err(|e| Error::Usage(e.to_string()))?;
        let image = match source {
            Some(src) => archive::load(&src, &r.without_digest(), &a.platform, &n.cache, &progress).map(|(_, i)| i),
            None => rt.block_on(async {
                let locked = n.registries.resolve(&r, &a.platform).await?;
                n.registries.fetch(&locked, &n.cache, &progress).await
            }),
        }
        .map_err(|e| {
            let hint = e
                .hint()
                .unwrap_or_else(|| "check the reference, the registry flags and the network".into());
            Error::failed_with(format!("cannot pull into {out}"), e, hint)
        })?;
        images.push((r.tagged(), image));
    }
    progress.finish();
    let created = first_missing(&a.output);
    if let Err(e) = write_layout(&a.output, &n.cache, &images) {
        if let Some(top) = created {
            let _ = std::fs::remove_dir_all(top);
        }
        return Err(e);
    }
    for (name, image) in &images {
        eprintln!("{name} -> {}", image.digest);
    }
    if progress.retries() > 0 {
        eprintln!("({} transfers were retried)", progress.retries());
    }
    eprintln!("wrote the OCI layout {out}");
    Ok(ExitCode::SUCCESS)
}

/// The outermost directory that writing `path` will create, if any.
fn first_missing(path: &Path) -> Option<std::path::PathBuf> {
    if path.symlink_metadata().is_ok() {
        return None;
    }
    let mut top = path.to_path_buf();
    while let Some(parent) = top.parent() {
        if parent.as_os_str().is_empty() || parent.symlink_metadata().is_ok() {
            break;
        }
        top = parent.to_path_buf();
    }
    Some(top)
}

/// Writes (or adds to) the OCI layout at `output`.
fn write_layout(output: &Path, cache: &BlobCache, images: &[(String, Image)]) -> Result<()> {
    let out = output.display();
    let hint = "make room on the output's file system (df), or write elsewhere with -o";
    let layout = Layout::create(output)
        .map_err(|e| Error::failed_with(format!("cannot write the OCI layout {out}"), e, hint))?;
    let mut entries = layout.read_index().unwrap_or_default();
    for (name, image) in images {
        for b in &image.blobs {
            layout.put_from_cache(cache, &b.digest).map_err(|e| {
                Error::failed_with(format!("cannot write {name} into {out}: blob {}", b.digest), e, hint)
            })?;
        }
        let entry = layout
            .add_image(cache, image, name)
            .map_err(|e| Error::failed_with(format!("cannot write {name} into {out}"), e, hint))?;
        entries.retain(|e| layout::ref_name(e) != layout::ref_name(&entry));
        entries.push(entry);
    }
    layout
        .write_index(entries)
        .map_err(|e| Error::failed_with(format!("cannot write the OCI layout {out}"), e, hint))
}

fn build(a: ImageBuildArgs) -> Result<ExitCode> {
    // --source-date-epoch, else $SOURCE_DATE_EPOCH (both checked by clap), else 0.
    let epoch = a.source_date_epoch.unwrap_or(0);
    let (digest, name) = crate::imagebuild::build(&a.recipe, &a.output, epoch)?;
    println!("{digest}");
    eprintln!("built {name} ({digest}) into the OCI layout {}", a.output.display());
    eprintln!(
        "load it with: ctr -n k8s.io images import <(tar -C {} -c .)",
        a.output.display()
    );
    Ok(ExitCode::SUCCESS)
}
