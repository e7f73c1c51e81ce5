//! `meshbundle image pull` and `meshbundle image build`.

use std::process::ExitCode;

use meshbundle_core::image::ImageRef;

use super::net;
use crate::cli::{ImageBuildArgs, ImageCommand, ImagePullArgs};
use crate::error::{Error, Result};
use crate::oci::archive;
use crate::oci::layout::Layout;
use crate::progress::Progress;

pub fn run(c: ImageCommand) -> Result<ExitCode> {
    match c {
        ImageCommand::Pull(a) => pull(a),
        ImageCommand::Build(a) => build(a),
    }
}

fn pull(a: ImagePullArgs) -> Result<ExitCode> {
    let n = net::setup(&a.net)?;
    let progress = Progress::bytes("pull", a.net.quiet);
    let layout = Layout::create(&a.output).map_err(|e| Error::failed(e.to_string(), "check the output directory"))?;
    let mut entries = layout.read_index().unwrap_or_default();
    let rt = net::runtime()?;
    for spec in &a.images {
        let (name, source) = match spec.split_once('=') {
            Some((n, s)) if archive::parse_source(s).is_some() => (n.to_string(), Some(s.to_string())),
            _ => (spec.clone(), None),
        };
        let r = ImageRef::parse(&name).map_err(|e| Error::Usage(e.to_string()))?;
        let image = match source {
            Some(src) => archive::load(&src, &r.tagged(), &a.platform, &n.cache).map(|(_, i)| i),
            None => rt.block_on(async {
                let locked = n.registries.resolve(&r, &a.platform).await?;
                n.registries.fetch(&locked, &n.cache, &progress).await
            }),
        }
        .map_err(|e| Error::failed(e.to_string(), "check the reference, the registry flags and the network"))?;
        let entry =
            layout.add_image(&n.cache, &image, &r.tagged()).map_err(|e| Error::failed(e.to_string(), "check the output directory"))?;
        entries.retain(|e| e["annotations"][crate::oci::layout::REF_NAME] != entry["annotations"][crate::oci::layout::REF_NAME]);
        entries.push(entry);
        eprintln!("{} -> {}", r.tagged(), image.digest);
    }
    layout.write_index(entries).map_err(|e| Error::failed(e.to_string(), "check the output directory"))?;
    progress.finish();
    if progress.retries() > 0 {
        eprintln!("({} transfers were retried)", progress.retries());
    }
    eprintln!("wrote the OCI layout {}", a.output.display());
    Ok(ExitCode::SUCCESS)
}

fn build(a: ImageBuildArgs) -> Result<ExitCode> {
    let epoch = match a.source_date_epoch {
        Some(e) => e,
        None => match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(v) => v.trim().parse().map_err(|_| Error::Usage(format!("SOURCE_DATE_EPOCH={v} is not a number of seconds")))?,
            Err(_) => 0,
        },
    };
    let (digest, name) = crate::imagebuild::build(&a.recipe, &a.output, epoch)?;
    println!("{digest}");
    eprintln!("built {name} ({digest}) into the OCI layout {}", a.output.display());
    eprintln!("load it with: ctr -n k8s.io images import <(tar -C {} -c .)", a.output.display());
    Ok(ExitCode::SUCCESS)
}
