//! `meshbundle build`, `verify`, `inspect`, `import` and `keygen`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use meshbundle_core::image::ImageRef;
use meshbundle_core::layout::NodeLayout;
use meshbundle_core::lock::Lock;
use meshbundle_core::render::{Inputs, render_valid};
use meshbundle_core::spec::{Site, Validated};
use serde_json::json;

use super::net;
use crate::bundle::build::{BaseSets, CarriedFile, Input, base_from_bundle, write};
use crate::bundle::crypt::{self, Opener, Sealer};
use crate::bundle::read;
use crate::bundle::seal::{Base, NotCarried};
use crate::bundle::sign::TrustPolicy;
use crate::bundle::{import as imp, sign};
use crate::cli::{BuildArgs, Format, ImportArgs, InspectArgs, KeygenArgs, VerifyArgs};
use crate::error::{Error, Result};
use crate::files::check_pinned;
use crate::lockfile::{Resolver, lock};
use crate::oci::Image;
use crate::oci::archive;
use crate::oci::cache::BlobCache;
use crate::oci::registry::{Registries, RegistryOptions};
use crate::progress::Progress;
use crate::{fsutil, report, sitefile};

/// Whether an executable is statically linked (an ELF without a program interpreter).
fn is_static(path: &Path) -> bool {
    let Ok(b) = std::fs::read(path) else {
        return false;
    };
    if b.len() < 64 || &b[..4] != b"\x7fELF" || b[4] != 2 || b[5] != 1 {
        return false;
    }
    let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(b[0x20..0x28].try_into().unwrap_or_default()) as usize;
    let (size, count) = (u16_at(0x36), u16_at(0x38));
    (0..count).all(|i| {
        let o = phoff + i * size;
        b.get(o..o + 4)
            .is_some_and(|t| u32::from_le_bytes(t.try_into().unwrap_or_default()) != 3)
    })
}

/// Whether an executable was built from the same sources as this one (it
/// holds the same version string, source id included).
fn same_source(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|b| memchr::memmem::find(&b, crate::cli::VERSION.as_bytes()).is_some())
}

const MUSL_BUILD: &str = "cargo build --release --target x86_64-unknown-linux-musl -p meshbundle";

/// The statically linked meshbundle to carry, built from the same sources.
///
/// The rule is deterministic and does not depend on what else lies around:
/// `--binary FILE` carries FILE, `--no-binary` carries nothing, and otherwise
/// the running meshbundle carries itself when it is statically linked (a
/// release binary) and nothing when it is not (a development build).
fn find_binary(explicit: Option<&Path>, none: bool) -> Result<Option<PathBuf>> {
    if none {
        return Ok(None);
    }
    if let Some(p) = explicit {
        if !is_static(p) {
            return Err(Error::failed(
                format!("{} is not a statically linked executable", p.display()),
                format!("build it with: {MUSL_BUILD}"),
            ));
        }
        if !same_source(p) {
            return Err(Error::failed(
                format!(
                    "{} was built from other sources than this meshbundle ({})",
                    p.display(),
                    crate::cli::VERSION
                ),
                format!("rebuild it with: {MUSL_BUILD}"),
            ));
        }
        return Ok(Some(p.to_path_buf()));
    }
    let exe = std::env::current_exe().map_err(|e| Error::from_source(e, "give --binary FILE or --no-binary"))?;
    Ok(is_static(&exe).then_some(exe))
}

fn sealer(a: &BuildArgs) -> Result<Option<Sealer>> {
    let recipients = crypt::recipients(&a.recipient, &a.recipients_file)?;
    match (recipients.is_empty(), &a.passphrase_file) {
        (false, Some(_)) => Err(Error::Usage("give recipients or a passphrase, not both".into())),
        (false, None) => Ok(Some(Sealer::Recipients(recipients))),
        (true, Some(p)) => Ok(Some(Sealer::Passphrase(crypt::read_passphrase(p)?))),
        (true, None) => Ok(None),
    }
}

/// What a build carries, gathered once from the spec (or an embedded
/// example) and its lock: the stage between reading the inputs and
/// rendering and writing the bundle.
struct Gathered {
    /// The site, validated once, as it was read.
    site: Validated,
    /// The spec's text: exactly the bytes that were parsed.
    spec_text: String,
    /// The lock and its text: exactly the bytes parsed, or written when
    /// this build updated it. None for an embedded example.
    lock: Option<(Lock, String)>,
    images: Vec<Image>,
    files: Vec<CarriedFile>,
    not_carried: NotCarried,
}

pub fn build(a: BuildArgs) -> Result<ExitCode> {
    let progress = Progress::bytes("pull", a.net.quiet);
    let n = net::setup(&a.net)?;
    let cache = &n.cache;
    let secrets_needed = a.secrets.is_some();
    let sealer = sealer(&a)?;
    if secrets_needed && sealer.is_none() && !a.no_private_keys {
        return Err(Error::failed(
            "the secrets hold private keys, and nothing to encrypt them to was given",
            "give --recipient age1..., --passphrase-file FILE, or --no-private-keys",
        ));
    }
    let binary = find_binary(a.binary.as_deref(), a.no_binary)?;
    let signer = a.sign.as_deref().map(sign::load_signing_key).transpose()?;

    let mut g = match &a.example {
        Some(name) => gather_example(name, cache)?,
        None => gather_spec(&a, &n, &progress)?,
    };
    if binary.is_none() {
        not_carried_binary(&mut g.not_carried, a.no_binary);
    }
    let secrets = a
        .secrets
        .as_deref()
        .map(|p| sitefile::read_secrets(p, Some(&g.site)))
        .transpose()?;
    let upstream = upstream_manifests(&g.files)?;
    let base = match &a.since {
        None => None,
        Some(old) => Some(base_from(old, &g.site, cache, &n.registries, &progress)?),
    };
    let spec_file = a.spec.as_deref().and_then(super::render::spec_file_name);
    let inputs = Inputs {
        lock: g.lock.as_ref().map(|(lock, _)| lock),
        secrets: secrets.as_ref(),
        upstream: if upstream.is_empty() { None } else { Some(&upstream) },
        copies: None,
        upgrade_from: base.as_ref().and_then(|b| b.from.as_ref()),
        spec_file: spec_file.as_deref(),
        memo: None,
    };
    let tree = render_valid(&g.site, &inputs)
        .map_err(|e| Error::from_source(e, "check that the spec, lock and secrets belong together"))?;
    let input = Input {
        site: &g.site,
        spec_text: g.spec_text,
        lock_text: g.lock.map(|(_, text)| text),
        tree,
        secrets: secrets.as_ref(),
        sealer,
        withhold_keys: a.no_private_keys,
        images: g.images,
        files: g.files,
        binary,
        not_carried: g.not_carried,
        base,
        signer,
    };
    progress.finish();
    let progress = Progress::bytes("write", a.net.quiet);
    let built = write(input, &a.output, cache, &progress)?;
    progress.finish();
    report_built(&a, &built);
    Ok(ExitCode::SUCCESS)
}

/// `build --example NAME`: offline, the upstream manifests carried in
/// meshbundle itself and nothing else.
fn gather_example(name: &str, cache: &BlobCache) -> Result<Gathered> {
    let text = meshbundle_core::examples::example(name).ok_or_else(|| {
        Error::Usage(format!(
            "there is no example `{name}`; the examples are: {}",
            meshbundle_core::examples::names().join(", ")
        ))
    })?;
    let site = meshbundle_core::spec::load::load(text)
        .into_validated()
        .map_err(|_| Error::failed("the example does not read", "report this as a bug"))?;
    let mut files = Vec::new();
    let mut not = NotCarried {
        reason: "built offline from an embedded example: lock a spec on a connected host to carry these".into(),
        ..Default::default()
    };
    for f in &site.needs().files {
        match f.copy.filter(|c| !c.is_empty()) {
            Some(bytes) => {
                let digest = cache
                    .put_bytes(bytes)
                    .map_err(|e| Error::from_source(e, "check the cache"))?;
                files.push(CarriedFile {
                    name: f.name.clone(),
                    url: f.url.clone(),
                    sha256: digest.hex().into(),
                    path: cache.path(&digest),
                });
            }
            None => not.files.push(f.name.clone()),
        }
    }
    not.images = site
        .needs()
        .images
        .iter()
        .map(|i| i.upstream.without_digest())
        .collect();
    Ok(Gathered {
        site,
        spec_text: text.to_string(),
        lock: None,
        images: Vec::new(),
        files,
        not_carried: not,
    })
}

/// `build SPEC`: the spec read once, the lock read (or resolved) once, and
/// what the spec needs fetched into the cache.
fn gather_spec(a: &BuildArgs, n: &net::Net, progress: &Progress) -> Result<Gathered> {
    let spec_path = a
        .spec
        .as_ref()
        .ok_or_else(|| Error::Usage("give a spec or --example".into()))?;
    let (site, spec_text) = sitefile::read_site_text(spec_path)?;
    let lock_path = a
        .lock
        .clone()
        .unwrap_or_else(|| spec_path.with_file_name("meshbundle.lock"));
    let rt = net::runtime()?;
    let (lock, lock_text) = resolve_lock(a, &site, spec_path, &lock_path, n, &rt, progress)?;
    fsutil::test_pause("inputs-read");
    // Carry what the spec needs; a pin it no longer needs stays behind.
    let needed_images: BTreeSet<ImageRef> = site
        .needs()
        .images
        .iter()
        .map(|i| i.upstream.without_digest())
        .collect();
    let needed_files: BTreeSet<&str> = site.needs().files.iter().map(|f| f.name.as_str()).collect();
    let unused = lock.images.iter().filter(|l| !needed_images.contains(&l.name)).count()
        + lock
            .files
            .iter()
            .filter(|f| !needed_files.contains(f.name.as_str()))
            .count();
    if unused > 0 {
        eprintln!(
            "note: {unused} pin(s) of {} are for images or files the spec no longer needs; they are left out (meshbundle lock drops them)",
            lock_path.display()
        );
    }
    let images = fetch_images(a, &site, &lock, &needed_images, n, &rt, progress)?;
    let files = fetch_files(&lock, &needed_files, n, &rt, progress)?;
    Ok(Gathered {
        site,
        spec_text,
        lock: Some((lock, lock_text)),
        images,
        files,
        not_carried: NotCarried::default(),
    })
}

/// The lock `build` carries and the text the seal records: with `--locked`
/// the existing lock, which must cover the spec; otherwise the existing lock
/// with what is missing resolved, written back when it changed.
fn resolve_lock(
    a: &BuildArgs,
    site: &Validated,
    spec_path: &Path,
    lock_path: &Path,
    n: &net::Net,
    rt: &tokio::runtime::Runtime,
    progress: &Progress,
) -> Result<(Lock, String)> {
    let old = if lock_path.exists() {
        Some(sitefile::read_lock_text(lock_path)?)
    } else {
        None
    };
    if a.locked {
        let (lock, text) = old.ok_or_else(|| {
            Error::failed(
                format!("--locked, but {} does not exist", lock_path.display()),
                "run meshbundle lock first",
            )
        })?;
        let missing = lock.lacks(site.needs());
        if !missing.is_empty() {
            return Err(Error::failed(
                format!(
                    "--locked, but the lock lacks what the spec needs: {}",
                    missing.join(", ")
                ),
                format!("run meshbundle lock {}", spec_path.display()),
            ));
        }
        return Ok((lock, text));
    }
    let resolver = Resolver {
        registries: &n.registries,
        fetcher: &n.fetcher,
        cache: &n.cache,
        progress,
    };
    let (lock, resolved) = rt.block_on(lock(site, site.needs(), old.as_ref().map(|(l, _)| l), &[], &resolver))?;
    match old {
        Some((old, text)) if resolved == 0 && old == lock => Ok((lock, text)),
        _ => {
            let text =
                meshbundle_core::lock::write(&lock).map_err(|e| Error::from_source(e, "report this as a bug"))?;
            fsutil::write_atomic(lock_path, text.as_bytes(), 0o644)?;
            eprintln!("updated {} ({resolved} new pins)", lock_path.display());
            Ok((lock, text))
        }
    }
}

/// Every locked image the spec needs, from its archive or its registry
/// (through the cache).
fn fetch_images(
    a: &BuildArgs,
    site: &Validated,
    lock: &Lock,
    needed: &BTreeSet<ImageRef>,
    n: &net::Net,
    rt: &tokio::runtime::Runtime,
    progress: &Progress,
) -> Result<Vec<Image>> {
    let plats = crate::lockfile::platforms(site);
    let mut images = Vec::new();
    for locked in lock.images.iter().filter(|l| needed.contains(&l.name)) {
        let img = match &locked.source {
            Some(src) => archive::load(src, &locked.name, &plats, &n.cache, progress).map(|(l, i)| {
                if l.digest != locked.digest {
                    Err(Error::failed(
                        format!(
                            "{}: {src} now holds {}, but the lock pins {}",
                            locked.name, l.digest, locked.digest
                        ),
                        "run meshbundle lock --update for it",
                    ))
                } else {
                    Ok(i)
                }
            }),
            None => rt.block_on(n.registries.fetch(locked, &n.cache, progress)).map(Ok),
        }
        .map_err(|e| {
            let hint = e
                .hint()
                .unwrap_or_else(|| "check the registry flags, or build where the registry is reachable".into());
            Error::failed_with(format!("cannot build {}", a.output.display()), e, hint)
        })??;
        images.push(img);
    }
    Ok(images)
}

/// Every locked file the spec needs, in the cache and checked against its pin.
fn fetch_files(
    lock: &Lock,
    needed: &BTreeSet<&str>,
    n: &net::Net,
    rt: &tokio::runtime::Runtime,
    progress: &Progress,
) -> Result<Vec<CarriedFile>> {
    let mut files = Vec::new();
    for f in lock.files.iter().filter(|f| needed.contains(f.name.as_str())) {
        let digest = &f.sha256;
        if !n.cache.contains(digest, Some(f.size)) {
            let (got, _) = rt
                .block_on(n.fetcher.fetch(&f.name, &f.url, &n.cache, progress))
                .map_err(|e| Error::from_source(e, "check the mirror flags, or build where the file is reachable"))?;
            check_pinned(&f.name, &f.url, &got, &f.sha256)
                .map_err(|e| Error::from_source(e, "the file changed upstream: do not use it"))?;
        }
        files.push(CarriedFile {
            name: f.name.clone(),
            url: f.url.clone(),
            sha256: f.sha256.hex().into(),
            path: n.cache.path(digest),
        });
    }
    Ok(files)
}

/// Says why `bin/meshbundle` is not carried.
fn not_carried_binary(not_carried: &mut NotCarried, no_binary: bool) {
    not_carried.files.push(meshbundle_core::seal::STATIC_BINARY.into());
    if not_carried.reason.is_empty() {
        not_carried.reason = if no_binary {
            "--no-binary: the site brings its own meshbundle".into()
        } else {
            format!(
                "this meshbundle is not statically linked, so it does not carry itself (build one with {MUSL_BUILD} and give --binary FILE)"
            )
        };
    }
}

/// The upstream manifests among the carried files, for rendering.
fn upstream_manifests(files: &[CarriedFile]) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut upstream = BTreeMap::new();
    for f in files.iter().filter(|f| f.name.starts_with("manifest/")) {
        upstream.insert(
            f.name.clone(),
            std::fs::read(&f.path).map_err(|e| Error::io(&f.path, e))?,
        );
    }
    Ok(upstream)
}

/// What `build` says of the bundle it wrote.
fn report_built(a: &BuildArgs, built: &crate::bundle::build::Built) {
    let s = &built.seal;
    match a.print.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "id": built.id, "output": a.output, "bytes": built.bytes, "entries": s.entries.len(),
                "images": s.images.len(), "files": s.files.len(), "notCarried": s.not_carried, "base": s.base.as_ref().map(|b| &b.id),
                "upgradeFrom": s.base.as_ref().and_then(|b| b.from.as_ref()),
            }))
            .unwrap_or_default()
        ),
        Format::Text => {
            println!("{}", built.id);
            eprintln!(
                "wrote {} ({}, {} entries: {} images, {} files)",
                a.output.display(),
                indicatif::HumanBytes(built.bytes),
                s.entries.len(),
                s.images.len(),
                s.files.len()
            );
            if !s.not_carried.is_empty() {
                eprintln!("{}", s.not_carried);
            }
            if let Some(b) = &s.base {
                eprintln!("{} ({} blobs, {} files from it)", base_line(b), b.blobs.len(), b.files.len());
            }
            eprintln!("{}", report::carried_line(s));
            if s.cannot_install().is_empty() {
                eprintln!("{}", report::install_line(s));
                eprintln!(
                    "next: carry it to the site, then meshbundle verify {out} and meshbundle import {out} --registry HOST:PORT --extract DIR",
                    out = a.output.display()
                );
            } else {
                eprintln!("this bundle {} (meshbundle inspect {} lists what it holds)", report::install_line(s), a.output.display());
                eprintln!(
                    "next: read the rendered install with meshbundle import {} --extract DIR; for a bundle that installs: meshbundle lock SPEC on a connected host, meshbundle secrets generate SPEC -o site.secrets.yaml, then meshbundle build SPEC --locked --secrets site.secrets.yaml --recipient age1...",
                    a.output.display()
                );
            }
        }
    }
}

/// What `--since` names: an earlier bundle, or a lock (whose images' blobs
/// are read from the cache or the registry).
fn base_from(old: &Path, site: &Site, cache: &BlobCache, regs: &Registries, progress: &Progress) -> Result<BaseSets> {
    // A bundle (its seal comes first) is verified whole; anything else must be a lock.
    if read::head(old).is_ok() {
        return base_from_bundle(old, site, progress);
    }
    let lock = sitefile::read_lock(old).map_err(|_| {
        Error::failed(
            format!("{} is neither a bundle nor a lock", old.display()),
            "--since takes an earlier bundle or lock",
        )
    })?;
    let rt = net::runtime()?;
    let plats = crate::lockfile::platforms(site);
    let mut blobs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for l in &lock.images {
        let img = match &l.source {
            Some(src) => archive::load(src, &l.name, &plats, cache, progress).map(|x| x.1),
            None => rt.block_on(regs.fetch(l, cache, progress)),
        }
        .map_err(|e| {
            let hint = e
                .hint()
                .unwrap_or_else(|| "the base lock's images must be reachable or cached".into());
            Error::failed_with(format!("--since {}", old.display()), e, hint)
        })?;
        let repo = l.name.repository.clone();
        for d in img
            .manifests
            .iter()
            .map(|m| &m.0)
            .chain(img.blobs.iter().map(|b| &b.digest))
        {
            blobs.entry(d.to_string()).or_default().insert(repo.clone());
        }
    }
    let text = std::fs::read(old).map_err(|e| Error::io(old, e))?;
    Ok(BaseSets {
        id: crate::oci::digest_of(&text).to_string(),
        blobs,
        files: lock.files.iter().map(|f| f.sha256.hex().to_string()).collect(),
        // A lock says nothing of the versions the site runs.
        from: None,
    })
}

/// What verify, inspect and build say of a differential bundle: that it is
/// one, the bundle it completes, and the versions that bundle's site runs.
fn base_line(b: &Base) -> String {
    let from = match &b.from {
        Some(f) => format!(
            ", an upgrade from Kubernetes {}, containerd {}, Istio {} (revision {})",
            f.kubernetes, f.containerd, f.istio, f.revision
        ),
        None => String::new(),
    };
    format!(
        "differential: completes bundle {}{from}; import it only where that bundle is imported",
        b.id
    )
}

/// A file that is no bundle at all (missing, empty, a directory, a YAML
/// file): one plain line, for verify, inspect and import alike.
fn not_a_bundle(file: &Path, e: &read::BundleError) -> Error {
    Error::Failed {
        message: format!("{}: {e}", file.display()),
        hint: None,
    }
}

pub fn verify(a: VerifyArgs) -> Result<ExitCode> {
    let policy = TrustPolicy::resolve(&a.key)?;
    let progress = Progress::bytes("verify", a.quiet);
    let threads = a
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2));
    let result = read::verify(&a.file, policy.as_ref(), threads, &progress);
    progress.finish();
    match result {
        Ok(r) => {
            let nc = &r.head.seal.not_carried;
            // The file's size, as `ls` and `inspect` show it.
            let bytes = std::fs::metadata(&a.file).map(|m| m.len()).unwrap_or(r.bytes);
            match a.print.format {
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({
                        "file": a.file, "ok": true, "id": r.head.id, "entries": r.entries, "bytes": bytes,
                        "signature": r.signed.to_json(), "notCarried": nc, "base": r.head.seal.base.as_ref().map(|b| &b.id),
                        "upgradeFrom": r.head.seal.base.as_ref().and_then(|b| b.from.as_ref()),
                    }))
                    .unwrap_or_default()
                ),
                Format::Text => {
                    println!("{}: ok ({}, {} entries, {})", a.file.display(), r.head.id, r.entries, indicatif::HumanBytes(bytes));
                    println!("signature: {}", r.signed.describe());
                    if !nc.is_empty() {
                        println!("{nc}");
                    }
                    if let Some(b) = &r.head.seal.base {
                        println!("{}", base_line(b));
                    }
                    println!("{}", report::carried_line(&r.head.seal));
                    println!("{}", report::install_line(&r.head.seal));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            // One line: the error and each of its causes.
            let said = crate::error::chain_lines(&e).join(": ");
            let (entry, message) = match &e {
                read::BundleError::Bad { entry, message } => (entry.clone(), message.clone()),
                read::BundleError::Damaged { entry, .. } => {
                    let message = said.strip_prefix(&format!("{entry}: ")).unwrap_or(&said).to_string();
                    (entry.clone(), message)
                }
                _ => (String::new(), said.clone()),
            };
            match a.print.format {
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &json!({"file": a.file, "ok": false, "error": {"entry": entry, "message": message}})
                    )
                    .unwrap_or_default()
                ),
                Format::Text if e.is_not_a_bundle() => println!("{}: {said}", a.file.display()),
                Format::Text => println!("{}: BAD: {said}", a.file.display()),
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

pub fn inspect(a: InspectArgs) -> Result<ExitCode> {
    let failed = |e: read::BundleError| {
        if e.is_not_a_bundle() {
            not_a_bundle(&a.file, &e)
        } else {
            Error::failed_with(a.file.display().to_string(), e, "meshbundle verify says more")
        }
    };
    let head = read::head(&a.file).map_err(failed)?;
    // The seal alone, judged by the site's trust policy when one is set (the
    // variable or the config directory), as verify and import judge it.
    let policy = TrustPolicy::resolve(&[])?;
    let signed = read::signature(&head, policy.as_ref()).map_err(failed)?;
    let s = &head.seal;
    let site = meshbundle_core::spec::load::load(&s.spec).site;
    let total = std::fs::metadata(&a.file).map(|m| m.len()).unwrap_or(0);
    match a.print.format {
        Format::Json => {
            let spec = site.as_ref().map(|x| &x.spec);
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({
                    "id": head.id, "site": s.site, "meshbundle": s.meshbundle, "treeDigest": s.tree_digest,
                    "versions": spec.map(|sp| json!({"kubernetes": sp.kubernetes.version, "containerd": sp.containerd.version, "istio": sp.istio.version})),
                    "revision": site.as_ref().map(|x| x.istio_revision()),
                    "nodes": spec.map(|sp| &sp.nodes), "registry": spec.map(|sp| &sp.registry),
                    "images": s.images.iter().map(|i| json!({"name": i.name, "site": i.site, "digest": i.digest, "size": i.size})).collect::<Vec<_>>(),
                    "files": s.files, "certificates": s.certificates, "secrets": s.secrets,
                    "entries": s.entries.len(), "bytes": total, "signed": head.signature.is_some(), "signature": signed.to_json(),
                    "notCarried": s.not_carried, "base": s.base.as_ref().map(|b| &b.id),
                    "upgradeFrom": s.base.as_ref().and_then(|b| b.from.as_ref()),
                    "canInstall": s.cannot_install().is_empty(), "cannotInstall": s.cannot_install(),
                }))
                .unwrap_or_default()
            );
        }
        Format::Text => {
            println!("bundle     {}", head.id);
            println!("site       {} (built by meshbundle {})", s.site, s.meshbundle);
            if let Some(site) = &site {
                // The spec in a seal is text from the bundle: every value is
                // printed escaped, so none can move the cursor or hide text.
                let sp = &site.spec;
                let e = |v: &dyn std::fmt::Display| read::shown(&v.to_string());
                println!(
                    "versions   Kubernetes {}, containerd {}, Istio {} (revision {})",
                    e(&sp.kubernetes.version),
                    e(&sp.containerd.version),
                    e(&sp.istio.version),
                    e(&site.istio_revision())
                );
                println!("registry   {}", e(&sp.registry));
                println!("nodes");
                for n in &sp.nodes {
                    println!(
                        "  {:<16} {:<16} {:<14} {}",
                        e(&n.name),
                        e(&n.address),
                        n.role.as_str(),
                        e(&n.zone)
                    );
                }
            }
            println!("images     {}", s.images.len());
            for i in &s.images {
                println!("  {}  {}", i.site, indicatif::HumanBytes(i.size));
            }
            println!("files      {}", s.files.len());
            for f in &s.files {
                println!(
                    "  {:<28} {}  {}",
                    f.name.as_str(),
                    f.sha256,
                    indicatif::HumanBytes(f.size)
                );
            }
            if !s.certificates.is_empty() {
                println!("certificates");
                for c in &s.certificates {
                    let exp = der::DateTime::from_unix_duration(std::time::Duration::from_secs(c.not_after))
                        .map(|d| d.to_string())
                        .unwrap_or_default();
                    println!("  {:<28} expires {}  {}", c.name, exp, c.subject);
                }
            }
            println!(
                "private keys {}{}",
                s.secrets.private_keys,
                if s.secrets.recipients.is_empty() {
                    String::new()
                } else {
                    format!(" (to {})", s.secrets.recipients.join(", "))
                }
            );
            println!("signature  {}", signed.describe());
            println!(
                "size       {} in {} entries",
                indicatif::HumanBytes(total),
                s.entries.len()
            );
            if !s.not_carried.is_empty() {
                println!("{}", s.not_carried);
                for name in &s.not_carried.images {
                    println!("  {name}");
                }
                for name in &s.not_carried.files {
                    println!("  {name}");
                }
            }
            if let Some(b) = &s.base {
                println!(
                    "{} ({} blobs and {} files come from it)",
                    base_line(b),
                    b.blobs.len(),
                    b.files.len()
                );
            }
            println!("{}", report::carried_line(s));
            println!("{}", report::install_line(s));
            println!("(inspect reads the seal only; meshbundle verify checks every byte)");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn import(a: ImportArgs) -> Result<ExitCode> {
    if a.registry.is_none() && a.containerd.is_none() && a.extract.is_none() {
        return Err(Error::Usage(
            "say what to do: --registry HOST:PORT, --containerd SOCKET and/or --extract DIR".into(),
        ));
    }
    let policy = TrustPolicy::resolve(&a.key)?;
    let opener = match (&a.identity, &a.passphrase_file) {
        (Some(_), Some(_)) => {
            return Err(Error::Usage("give --identity or --passphrase-file, not both".into()));
        }
        (Some(i), None) => Some(Opener::from_identity_file(i)?),
        (None, Some(p)) => Some(Opener::Passphrase(crypt::read_passphrase(p)?)),
        (None, None) => None,
    };
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let refused = |e: read::BundleError| {
        if e.is_not_a_bundle() {
            return Err(not_a_bundle(&a.file, &e));
        }
        println!(
            "{}: BAD: {}",
            a.file.display(),
            crate::error::chain_lines(&e).join(": ")
        );
        eprintln!("nothing was imported");
        Ok(ExitCode::FAILURE)
    };
    // The seal, its signature under the trust policy, and every entry's
    // header against it, as verify checks them; no entry's content yet.
    let progress = Progress::bytes("verify", a.quiet);
    let checked = match read::check(&a.file, policy.as_ref(), threads, &progress) {
        Ok(c) => c,
        Err(e) => {
            progress.finish();
            return refused(e);
        }
    };
    let seal = &checked.head.seal;
    eprintln!(
        "{}: seal verified ({}); signature: {}",
        a.file.display(),
        checked.head.id,
        checked.signed.describe()
    );
    let mut summary = serde_json::Map::new();
    summary.insert("id".into(), json!(checked.head.id));
    summary.insert("signature".into(), checked.signed.to_json());
    if let Some(b) = &seal.base {
        summary.insert("base".into(), json!(b.id));
    }
    // The node is looked up in the spec the checked seal carries, before anything is written.
    let node = match &a.node {
        Some(name) => {
            let loaded = meshbundle_core::spec::load::load(&seal.spec);
            let site = loaded.valid_site().ok_or_else(|| {
                Error::failed(
                    "the spec in the bundle's seal does not load, so its nodes are unknown",
                    "the bundle was not made by this meshbundle",
                )
            })?;
            let layout = NodeLayout::new(site, name).map_err(|e| {
                Error::failed(
                    format!("{e}; nothing was written"),
                    "give --node one of the site's node names",
                )
            })?;
            Some(layout)
        }
        None => None,
    };
    let registry = match &a.registry {
        Some(host) => {
            let regs = Registries::new(RegistryOptions {
                mirrors: vec![],
                insecure: a.registry_access.insecure.clone(),
                authfile: a.registry_access.authfile.clone(),
                ca_files: a.registry_access.registry_ca.clone(),
                jobs: a.jobs,
            })
            .map_err(|e| Error::from_source(e, "check --authfile and --registry-ca"))?;
            Some((host, regs, net::runtime()?))
        }
        None => None,
    };
    // Each target is asked what it lacks, and an upgrade bundle goes only
    // where its base is: every target is checked before anything is
    // written to any of them.
    if let Some(dir) = &a.extract {
        imp::check_extract_base(seal, &checked.head.id, dir, node.as_ref())?;
    }
    let ctr_plan = match &a.containerd {
        Some(sock) => Some(imp::containerd_lacks(seal, sock, &a.namespace)?),
        None => None,
    };
    let reg_plan = match &registry {
        Some((host, regs, rt)) => Some(imp::registry_plan(&checked, host, regs, rt)?),
        None => None,
    };
    if let Some(base) = &seal.base {
        eprintln!("differential: bundle {} is in place at every target", base.id);
    }
    // Every entry that will be written is read and checked against the seal
    // before anything is written; no other entry is read.
    let extracting = a.extract.is_some();
    let needed = |e: &crate::bundle::seal::SealEntry| {
        (extracting && imp::extracted(node.as_ref(), e))
            || ctr_plan.as_ref().is_some_and(|p| p.reads(e))
            || reg_plan.as_ref().is_some_and(|p| p.reads(e))
    };
    let read = checked.verify_entries(needed, threads, &progress);
    progress.finish();
    let read = match read {
        Ok(r) => r,
        Err(e) => return refused(e),
    };
    let (all_entries, all_bytes) = (seal.entries.len(), seal.entries.iter().map(|e| e.size).sum::<u64>());
    if read.entries == 0 {
        eprintln!(
            "{}: every target has what the bundle holds for it: 0 bytes read of its {all_entries} entries ({})",
            a.file.display(),
            indicatif::HumanBytes(all_bytes)
        );
    } else {
        eprintln!(
            "{}: verified the {} entries to be written ({}); the other {} entries ({}) are not needed and were not read",
            a.file.display(),
            read.entries,
            indicatif::HumanBytes(read.bytes),
            all_entries - read.entries,
            indicatif::HumanBytes(all_bytes - read.bytes)
        );
    }
    summary.insert(
        "read".into(),
        json!({"entries": read.entries, "bytes": read.bytes, "bundleEntries": all_entries, "bundleBytes": all_bytes}),
    );
    if let Some(dir) = &a.extract {
        let p = Progress::bytes("extract", a.quiet);
        p.add_total(
            seal.entries
                .iter()
                .filter(|e| imp::extracted(node.as_ref(), e))
                .map(|e| e.size)
                .sum(),
        );
        let x = imp::extract(&checked, dir, opener.as_ref(), node.as_ref(), &p)?;
        p.finish();
        match &node {
            Some(n) => eprintln!("laid out {} files for node {} in {}", x.files, n.name(), dir.display()),
            None => eprintln!("laid out {} files in {}", x.files, dir.display()),
        }
        if x.still_sealed > 0 {
            eprintln!(
                "{} private file(s) stay sealed (*.age): pass --identity or --passphrase-file to open them",
                x.still_sealed
            );
        }
        if let Some(n) = &node {
            summary.insert("node".into(), json!(n.name()));
        }
        summary.insert("extract".into(), json!(x));
    }
    if let (Some(sock), Some(plan)) = (&a.containerd, &ctr_plan) {
        let p = Progress::bytes("containerd", a.quiet);
        let loaded = imp::containerd(&checked, plan, sock, &a.namespace, a.jobs, &p)?;
        p.finish();
        if plan.all_there() {
            eprintln!(
                "containerd ({}, namespace {}): {} images already there, unpacked; nothing loaded",
                sock.display(),
                a.namespace,
                loaded.images_already_there
            );
        } else {
            eprintln!(
                "loaded {} images into containerd ({}, namespace {}): {} blobs sent ({}); {} images already there",
                loaded.images - loaded.images_already_there,
                sock.display(),
                a.namespace,
                loaded.blobs_sent,
                indicatif::HumanBytes(loaded.bytes_sent),
                loaded.images_already_there
            );
        }
        summary.insert("containerd".into(), json!(loaded));
    }
    if let (Some((host, regs, rt)), Some(plan)) = (&registry, &reg_plan) {
        let p = Progress::bytes("push", a.quiet);
        let pushed = imp::registry(plan, host, regs, rt, &p)?;
        p.finish();
        if pushed.images_already_there == pushed.images {
            eprintln!("{host}: {} images already there; nothing sent", pushed.images);
        } else {
            eprintln!(
                "pushed {} images to {host}: {} blobs sent ({}), {} mounted, {} already there; {} images already there",
                pushed.images - pushed.images_already_there,
                pushed.blobs_pushed,
                indicatif::HumanBytes(pushed.bytes_pushed),
                pushed.blobs_mounted,
                pushed.blobs_skipped,
                pushed.images_already_there
            );
        }
        summary.insert("registry".into(), json!(pushed));
    }
    match a.print.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&summary).unwrap_or_default()),
        Format::Text => match &a.extract {
            Some(dir) if !seal.cannot_install().is_empty() => {
                eprintln!(
                    "next: read {dir}/README.md; this bundle {}",
                    report::install_line(seal),
                    dir = dir.display()
                )
            }
            Some(dir) if node.is_some() => {
                eprintln!(
                    "next: on this node, follow {dir}/README.md (sudo {dir}/install.sh node)",
                    dir = dir.display()
                )
            }
            Some(dir) => eprintln!(
                "next: follow {dir}/README.md; this full extraction holds every node's join configuration and the CA keys: keep it on the first control-plane node or an operator's machine, and on every other node extract with meshbundle import {file} --extract DIR --node NAME",
                dir = dir.display(),
                file = a.file.display()
            ),
            None => {
                eprintln!(
                    "next: lay out the install on each node with meshbundle import {} --extract DIR --node NAME",
                    a.file.display()
                )
            }
        },
    }
    Ok(ExitCode::SUCCESS)
}

pub fn keygen(a: KeygenArgs) -> Result<ExitCode> {
    let key = PathBuf::from(format!("{}.key", a.output.display()));
    let public = PathBuf::from(format!("{}.pub", a.output.display()));
    fsutil::check_overwrite(&key, a.force)?;
    fsutil::check_overwrite(&public, a.force)?;
    let (private, pubkey, fingerprint) = sign::generate()?;
    fsutil::write_atomic(&key, private.as_bytes(), 0o600)?;
    fsutil::write_atomic(&public, pubkey.as_bytes(), 0o644)?;
    println!("{fingerprint}");
    eprintln!(
        "wrote {} (private, 0600) and {} (public key {fingerprint})",
        key.display(),
        public.display()
    );
    eprintln!(
        "sign with: meshbundle build ... --sign {}; check with: meshbundle verify FILE --key {}",
        key.display(),
        public.display()
    );
    Ok(ExitCode::SUCCESS)
}
