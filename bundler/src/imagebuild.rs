//! Building images from a declarative recipe, with no daemon and no
//! Dockerfile, bit for bit reproducible: files pinned by sha256, entries in
//! path order, every timestamp `SOURCE_DATE_EPOCH` (0 by default), uid and gid
//! 0, no user, group or host names, one pure-Rust gzip at a fixed level.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_spec::image::{
    ANNOTATION_CREATED, Arch, Config, HistoryBuilder, ImageConfigurationBuilder, ImageManifestBuilder, MediaType, Os,
    PlatformBuilder, RootFsBuilder,
};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::oci::cache::sha256_file;
use crate::oci::layout::{Layout, named};
use crate::oci::media::{canonical_bytes, descriptor};

#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Recipe {
    pub api_version: String,
    pub kind: String,
    /// Repository name, e.g. `meshbundle/meshbundle`.
    pub name: String,
    pub tag: String,
    #[serde(default = "default_platform")]
    pub platform: String,
    #[serde(default)]
    pub config: RecipeConfig,
    pub layers: Vec<RecipeLayer>,
}

fn default_platform() -> String {
    "linux/amd64".into()
}

#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecipeConfig {
    #[serde(default)]
    pub entrypoint: Vec<String>,
    #[serde(default)]
    pub cmd: Vec<String>,
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub working_dir: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecipeLayer {
    /// What the layer holds, for the image history.
    pub comment: String,
    pub files: Vec<RecipeFile>,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecipeFile {
    /// Path in the image, e.g. `usr/local/bin/meshbundle`.
    pub path: String,
    /// A file or directory, relative to the recipe.
    pub source: String,
    /// The sha256 the file must have (hex); checked when given.
    #[serde(default, with = "meshbundle_core::digest::bare_opt")]
    pub sha256: Option<meshbundle_core::digest::Digest>,
    /// Octal mode, e.g. `"0755"`; default 0755 for executables, 0644 otherwise.
    #[serde(default)]
    pub mode: Option<String>,
}

struct Entry {
    path: String,
    source: PathBuf,
    mode: u32,
}

fn bad(recipe: &Path, msg: impl Into<String>) -> Error {
    Error::failed(format!("{}: {}", recipe.display(), msg.into()), "fix the recipe")
}

/// What of the recipe could not be read, and the error that says why.
fn unreadable(recipe: &Path, what: impl std::fmt::Display, e: impl Into<crate::error::BoxError>) -> Error {
    Error::failed_with(format!("{}: {what}", recipe.display()), e, "fix the recipe")
}

/// A document meshbundle makes that did not come out: a bug.
fn bug(e: impl Into<crate::error::BoxError>) -> Error {
    Error::from_source(e, "report this as a bug")
}

fn collect(recipe: &Path, base: &Path, f: &RecipeFile, out: &mut Vec<Entry>) -> Result<()> {
    let src = base.join(&f.source);
    let meta = std::fs::metadata(&src).map_err(|e| unreadable(recipe, src.display(), e))?;
    let dest = f.path.trim_matches('/').to_string();
    if dest.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Err(bad(recipe, format!("`{}` is not a clean path", f.path)));
    }
    let explicit = match &f.mode {
        Some(m) => Some(
            u32::from_str_radix(m.trim_start_matches("0o"), 8)
                .map_err(|_| bad(recipe, format!("mode `{m}` is not octal")))?,
        ),
        None => None,
    };
    if meta.is_dir() {
        let mut stack = vec![(src.clone(), dest.clone())];
        while let Some((dir, prefix)) = stack.pop() {
            for e in std::fs::read_dir(&dir).map_err(|e| unreadable(recipe, dir.display(), e))? {
                let e = e.map_err(|e| unreadable(recipe, dir.display(), e))?;
                let p = e.path();
                let name = format!("{prefix}/{}", e.file_name().to_string_lossy());
                let m = std::fs::metadata(&p).map_err(|e| unreadable(recipe, p.display(), e))?;
                if m.is_dir() {
                    stack.push((p, name));
                } else {
                    out.push(Entry {
                        path: name,
                        source: p,
                        mode: explicit.unwrap_or(mode_of(&m)),
                    });
                }
            }
        }
    } else {
        if let Some(pin) = &f.sha256 {
            let (d, _) = sha256_file(&src).map_err(|e| unreadable(recipe, src.display(), e))?;
            if d != *pin {
                return Err(bad(
                    recipe,
                    format!(
                        "{} has sha256 {}, but the recipe pins {}",
                        src.display(),
                        d.hex(),
                        pin.hex()
                    ),
                ));
            }
        }
        out.push(Entry {
            path: dest,
            source: src,
            mode: explicit.unwrap_or(mode_of(&meta)),
        });
    }
    Ok(())
}

#[cfg(unix)]
fn mode_of(m: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    if m.permissions().mode() & 0o111 != 0 {
        0o755
    } else {
        0o644
    }
}

#[cfg(not(unix))]
fn mode_of(_: &std::fs::Metadata) -> u32 {
    0o644
}

fn header(kind: tar::EntryType, size: u64, mode: u32, mtime: u64) -> tar::Header {
    meshbundle_core::archive::header(meshbundle_core::archive::HeaderFormat::Ustar, kind, size, mode, mtime)
}

/// One layer: (uncompressed tar, its digest). Parent directories come first,
/// then files, all in path order.
fn layer_tar(recipe: &Path, entries: &mut [Entry], mtime: u64) -> Result<Vec<u8>> {
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    let mut dirs = std::collections::BTreeSet::new();
    for e in entries.iter() {
        let parts: Vec<&str> = e.path.split('/').collect();
        for i in 1..parts.len() {
            dirs.insert(parts[..i].join("/"));
        }
    }
    let mut b = tar::Builder::new(Vec::new());
    let io = |e: std::io::Error| unreadable(recipe, "a layer's files", e);
    for d in &dirs {
        let mut h = header(tar::EntryType::Directory, 0, 0o755, mtime);
        b.append_data(&mut h, format!("{d}/"), std::io::empty()).map_err(io)?;
    }
    for e in entries.iter() {
        let f = std::fs::File::open(&e.source).map_err(io)?;
        let size = f.metadata().map_err(io)?.len();
        let mut h = header(tar::EntryType::Regular, size, e.mode, mtime);
        b.append_data(&mut h, &e.path, f).map_err(io)?;
    }
    b.into_inner().map_err(io)
}

fn gzip(data: &[u8]) -> Result<Vec<u8>> {
    meshbundle_core::archive::gzip(data).map_err(bug)
}

fn rfc3339(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

/// Builds the image of `recipe_path` into an OCI layout at `out`; returns the
/// manifest digest and the reference name.
pub fn build(recipe_path: &Path, out: &Path, epoch: u64) -> Result<(crate::oci::Digest, String)> {
    let text = std::fs::read_to_string(recipe_path).map_err(|e| Error::io(recipe_path, e))?;
    let recipe: Recipe = meshbundle_core::yaml::from_str(&text).map_err(|e| bad(recipe_path, e.to_string()))?;
    if recipe.kind != "ImageRecipe" || recipe.api_version != meshbundle_core::spec::API_VERSION {
        return Err(bad(
            recipe_path,
            "not an ImageRecipe (apiVersion meshbundle.dev/v1alpha1)",
        ));
    }
    let base = recipe_path.parent().unwrap_or(Path::new("."));
    let (os, arch) = recipe
        .platform
        .split_once('/')
        .ok_or_else(|| bad(recipe_path, "platform is os/arch"))?;
    let layout = Layout::create(out).map_err(|e| Error::from_source(e, "check the output directory"))?;
    let put = |bytes: &[u8]| {
        layout
            .put_bytes(bytes)
            .map_err(|e| Error::from_source(e, "check the output directory"))
    };
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    let mut history = Vec::new();
    for l in &recipe.layers {
        let mut entries = Vec::new();
        for f in &l.files {
            collect(recipe_path, base, f, &mut entries)?;
        }
        let tar = layer_tar(recipe_path, &mut entries, epoch)?;
        diff_ids.push(crate::oci::digest_of(&tar).to_string());
        let gz = gzip(&tar)?;
        let digest = put(&gz)?;
        layers.push(descriptor(MediaType::ImageLayerGzip, &digest, gz.len() as u64));
        history.push(
            HistoryBuilder::default()
                .created(rfc3339(epoch))
                .created_by("meshbundle image build")
                .comment(l.comment.clone())
                .build()
                .map_err(bug)?,
        );
    }
    let c = &recipe.config;
    let some = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    let mut run = Config::default();
    run.set_entrypoint(some(&c.entrypoint));
    run.set_cmd(some(&c.cmd));
    run.set_env(some(&c.env));
    run.set_working_dir(c.working_dir.clone());
    run.set_user(c.user.clone());
    run.set_labels((!c.labels.is_empty()).then(|| c.labels.clone().into_iter().collect()));
    let config = ImageConfigurationBuilder::default()
        .created(rfc3339(epoch))
        .architecture(Arch::from(arch))
        .os(Os::from(os))
        .config(run)
        .rootfs(
            RootFsBuilder::default()
                .typ("layers")
                .diff_ids(diff_ids)
                .build()
                .map_err(bug)?,
        )
        .history(history)
        .build()
        .map_err(bug)?;
    let config_bytes = canonical_bytes(&config).map_err(bug)?;
    let config_digest = put(&config_bytes)?;
    let manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(descriptor(
            MediaType::ImageConfig,
            &config_digest,
            config_bytes.len() as u64,
        ))
        .layers(layers)
        .annotations(
            [(ANNOTATION_CREATED.to_string(), rfc3339(epoch))]
                .into_iter()
                .collect::<std::collections::HashMap<_, _>>(),
        )
        .build()
        .map_err(bug)?;
    let manifest_bytes = canonical_bytes(&manifest).map_err(bug)?;
    let digest = put(&manifest_bytes)?;
    let ref_name = format!("{}:{}", recipe.name, recipe.tag);
    let mut entry = descriptor(MediaType::ImageManifest, &digest, manifest_bytes.len() as u64);
    entry.set_platform(Some(
        PlatformBuilder::default()
            .os(Os::from(os))
            .architecture(Arch::from(arch))
            .build()
            .map_err(bug)?,
    ));
    layout
        .write_index(vec![named(entry, &ref_name)])
        .map_err(|e| Error::from_source(e, "check the output directory"))?;
    Ok((digest, ref_name))
}
