//! `meshbundle upgrade plan`: reads where the site is (its previous bundle,
//! verified first, or its spec and lock) and where it should go (the new spec
//! and its lock), looks up image manifests in the local cache for sizes, and
//! prints the plan the core makes (`meshbundle_core::upgrade`). Exit 0 when
//! the path is allowed, 1 when it is refused.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use meshbundle_core::diag::Diagnostic;
use meshbundle_core::lock::Lock;
use meshbundle_core::spec::Site;
use meshbundle_core::spec::load::{MAX_SPEC_BYTES, load, load_bytes};
use meshbundle_core::upgrade::{self, Carried, CarriedFile, CarriedImage, CarryState, Input, KnownImage, Plan, Side};

use crate::bundle::read;
use crate::bundle::sign::TrustPolicy;
use crate::cli::{Format, UpgradeCommand, UpgradePlanArgs};
use crate::error::{Error, Result};
use crate::oci::cache::BlobCache;
use crate::oci::{Digest, media};
use crate::progress::Progress;
use crate::{fsutil, report, sitefile};

pub fn run(c: UpgradeCommand) -> Result<ExitCode> {
    match c {
        UpgradeCommand::Plan(a) => plan(a),
    }
}

const VERSION_PATHS: [&str; 3] = [
    "spec.kubernetes.version",
    "spec.istio.version",
    "spec.containerd.version",
];

/// Reads a spec that may name versions this catalog lacks (the plan judges
/// those); any other error ends the command.
fn read_new_spec(path: &Path) -> Result<(Site, Vec<Diagnostic>)> {
    let bytes = fsutil::read_limited(path, MAX_SPEC_BYTES)?;
    let loaded = load_bytes(&bytes);
    match loaded.site {
        Some(site) => Ok((site, loaded.diagnostics)),
        None => {
            for d in &loaded.diagnostics {
                eprintln!("{}", report::diagnostic_line(path, d));
            }
            Err(Error::failed(
                format!("{}: {}", path.display(), report::count_summary(&loaded.diagnostics)),
                format!("fix the spec first: meshbundle validate {}", path.display()),
            ))
        }
    }
}

/// The site as it stands: its spec is taken as it was built, even where this
/// meshbundle's validation has moved on, as long as it reads.
fn site_as_built(text: &str, what: &str) -> Result<Site> {
    let loaded = load(text);
    loaded.site.ok_or_else(|| {
        let first = loaded
            .diagnostics
            .iter()
            .find(|d| d.is_error())
            .map(|d| format!(": {}: {}", d.path, d.message))
            .unwrap_or_default();
        Error::failed(
            format!("{what} does not read as a site spec{first}"),
            "give the spec the site was built from",
        )
    })
}

/// What the previous bundle says: its spec, its lock and what it carried,
/// from a seal that `read::verify` checked.
fn from_bundle(a: &UpgradePlanArgs, file: &Path) -> Result<(Site, Option<Lock>, Carried)> {
    let policy = TrustPolicy::resolve(&a.key)?;
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let progress = Progress::bytes("verify", a.quiet || a.print.format == Format::Json);
    let result = read::verify(file, policy.as_ref(), threads, &progress);
    progress.finish();
    let report = result.map_err(|e| {
        if e.is_not_a_bundle() {
            Error::Failed {
                message: format!("{}: {e}", file.display()),
                hint: None,
            }
        } else {
            Error::failed_with(
                format!("{}: BAD", file.display()),
                e,
                "plan from a bundle that verifies (meshbundle verify says more)",
            )
        }
    })?;
    let seal = &report.head.seal;
    eprintln!(
        "{}: verified ({}); signature: {}",
        file.display(),
        report.head.id,
        report.signed.describe()
    );
    let site = site_as_built(&seal.spec, &format!("{}: the seal's spec", file.display()))?;
    let lock = match &seal.lock {
        Some(text) => Some(meshbundle_core::lock::parse(text).map_err(|e| {
            Error::failed_with(
                format!("{}: the seal's lock", file.display()),
                e,
                "the bundle was not made by this meshbundle",
            )
        })?),
        None => None,
    };
    let carried = Carried {
        id: report.head.id.to_string(),
        images: seal
            .images
            .iter()
            .map(|i| CarriedImage {
                name: i.name.clone(),
                digest: i.digest.clone(),
                blobs: i.manifests.iter().chain(&i.blobs).cloned().collect(),
            })
            .collect(),
        files: seal
            .files
            .iter()
            .map(|f| CarriedFile {
                name: f.name.as_str().to_string(),
                sha256: f.sha256.clone(),
                size: f.size,
            })
            .collect(),
        base_blobs: seal.base.as_ref().map(|b| b.blobs.clone()).unwrap_or_default(),
    };
    Ok((site, lock, carried))
}

/// An image whose manifests are in the cache: every blob it needs, with sizes.
fn known_image(cache: &BlobCache, locked: &meshbundle_core::lock::LockedImage) -> Option<KnownImage> {
    let top_digest = locked.site_digest().clone();
    let top = cache.read(&top_digest).ok()?;
    let mut blobs = vec![(top_digest.clone(), top.len() as u64)];
    let children: Vec<(Digest, Vec<u8>)> = if media::is_index(&locked.media_type) {
        let mut v = Vec::new();
        for p in &locked.platforms {
            v.push((p.digest.clone(), cache.read(&p.digest).ok()?));
        }
        v
    } else {
        vec![(top_digest, top)]
    };
    for (d, raw) in &children {
        if !blobs.iter().any(|b| b.0 == *d) {
            blobs.push((d.clone(), raw.len() as u64));
        }
        let m = media::parse_manifest(raw).ok()?;
        blobs.push((Digest::parse(&m.config.digest).ok()?, m.config.size as u64));
        for l in &m.layers {
            blobs.push((Digest::parse(&l.digest).ok()?, l.size as u64));
        }
    }
    Some(KnownImage {
        digest: locked.site_digest().clone(),
        blobs,
    })
}

fn plan(a: UpgradePlanArgs) -> Result<ExitCode> {
    let (from_site, from_lock, carried) = match (&a.from, &a.from_spec, &a.from_lock) {
        (Some(b), _, _) => {
            let (s, l, c) = from_bundle(&a, b)?;
            (s, l, Some(c))
        }
        (None, Some(spec), Some(lock)) => {
            let bytes = fsutil::read_limited(spec, MAX_SPEC_BYTES)?;
            let text = String::from_utf8(bytes)
                .map_err(|_| Error::failed(format!("{} is not a text file", spec.display()), "give the site's spec"))?;
            (
                site_as_built(&text, &spec.display().to_string())?,
                Some(sitefile::read_lock(lock)?),
                None,
            )
        }
        _ => {
            return Err(Error::Usage(
                "say where the site is: --from BUNDLE, or --from-spec FILE with --from-lock FILE".into(),
            ));
        }
    };
    let (to_site, diagnostics) = read_new_spec(&a.spec)?;
    let lock_path = a
        .lock
        .clone()
        .unwrap_or_else(|| a.spec.with_file_name("meshbundle.lock"));
    let to_lock = if a.lock.is_some() || lock_path.exists() {
        Some(sitefile::read_lock(&lock_path)?)
    } else {
        None
    };

    // Image sizes from manifests in the local cache, when they are there.
    let mut known = BTreeMap::new();
    if let Ok(cache) = BlobCache::open(a.cache.as_deref()) {
        for l in to_lock.iter().chain(from_lock.iter()).flat_map(|l| &l.images) {
            if let Some(k) = known_image(&cache, l) {
                known.entry(l.name.clone()).or_insert(k);
            }
        }
    }
    let input = Input {
        from: Side {
            site: &from_site,
            lock: from_lock.as_ref(),
        },
        to: Side {
            site: &to_site,
            lock: to_lock.as_ref(),
        },
        carried: carried.as_ref(),
        known: &known,
        to_diagnostics: Some(&diagnostics),
    };
    let plan = upgrade::plan(&input);
    for d in diagnostics
        .iter()
        .filter(|d| !d.is_error() && !VERSION_PATHS.contains(&d.path.as_str()))
    {
        eprintln!("{}", report::diagnostic_line(&a.spec, d));
    }
    match a.print.format {
        Format::Json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&plan).map_err(|e| Error::from_source(e, "report this as a bug"))?
            )
        }
        Format::Text => print!("{}", text(&plan)),
    }
    Ok(if plan.allowed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A line as it may be printed: values come from specs, locks and seals, so
/// every character a terminal would act on is escaped.
fn safe(line: &str) -> String {
    line.chars()
        .flat_map(|c| {
            if crate::bundle::seal::invisible(c) {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// The plan for people.
pub fn text(p: &Plan) -> String {
    let mut out: Vec<String> = Vec::new();
    let v = |x: &upgrade::Versions| {
        format!(
            "Kubernetes {}, containerd {}, Istio {} (revision {}), CNI {}",
            x.kubernetes, x.containerd, x.istio, x.revision, x.cni
        )
    };
    out.push(format!(
        "upgrade plan for site {}: {}",
        p.site,
        if p.allowed { "allowed" } else { "REFUSED" }
    ));
    out.push(format!("  from  {}", v(&p.from)));
    out.push(format!("  to    {}", v(&p.to)));
    out.push(String::new());
    if p.changes.is_empty() {
        out.push("changes: none".into());
    } else {
        out.push("changes".into());
        for c in &p.changes {
            out.push(format!(
                "  {:<28} {} → {}  ({})",
                c.component,
                c.from.as_deref().unwrap_or("-"),
                c.to.as_deref().unwrap_or("-"),
                c.kind.as_str()
            ));
        }
    }
    if !p.refusals.is_empty() {
        out.push(String::new());
        out.push("refused".into());
        for r in &p.refusals {
            out.push(format!("  {}: {}", r.subject, r.reason));
            out.push(format!("    path: {}", r.path));
        }
    }
    for w in &p.warnings {
        out.push(format!("warning: {w}"));
    }
    if !p.steps.is_empty() {
        out.push(String::new());
        out.push("steps".into());
        for s in &p.steps {
            let node = s.node.as_deref().map(|n| format!("{n}: ")).unwrap_or_default();
            out.push(format!("  {:>3}. [{}] {node}{}", s.number, s.phase, s.text));
            if let Some(run) = &s.run {
                out.push(format!("       $ {run}"));
            }
        }
    }
    let c = &p.carry;
    out.push(String::new());
    out.push(match &c.since {
        Some(id) => format!("the new bundle carries, beyond bundle {id}"),
        None => "the new bundle carries, beyond the site's lock".into(),
    });
    for (what, list) in [
        (
            "images",
            c.images
                .iter()
                .map(|i| {
                    (
                        i.state,
                        i.name.as_str(),
                        i.digest.as_ref().or(i.old_digest.as_ref()),
                        i.bytes,
                    )
                })
                .collect::<Vec<_>>(),
        ),
        (
            "files",
            c.files
                .iter()
                .map(|f| {
                    (
                        f.state,
                        f.name.as_str(),
                        f.sha256.as_ref().or(f.old_sha256.as_ref()),
                        f.bytes,
                    )
                })
                .collect(),
        ),
    ] {
        let count = |s: CarryState| list.iter().filter(|x| x.0 == s).count();
        out.push(format!(
            "  {what}: {} added, {} changed, {} unchanged, {} removed",
            count(CarryState::Added),
            count(CarryState::Changed),
            count(CarryState::Unchanged),
            count(CarryState::Removed)
        ));
        for (state, name, digest, bytes) in list.iter().filter(|x| x.0 != CarryState::Unchanged) {
            let size = match (state, bytes) {
                (CarryState::Removed, _) => "not carried; stays at the site until nothing uses it".to_string(),
                (_, Some(b)) => indicatif::HumanBytes(*b).to_string(),
                (_, None) => "known after build".into(),
            };
            let digest = digest.map(|d| d.to_string()).unwrap_or_else(|| "not locked".into());
            out.push(format!("    {:<9} {name}  {digest}  {size}", state.as_str()));
        }
    }
    let s = &c.size;
    let part = |x: Option<u64>| x.map_or_else(|| "known after build".into(), |b| indicatif::HumanBytes(b).to_string());
    out.push(format!(
        "  size as a differential bundle (build --since): {}{} (files {}, images {}), besides its seal, rendered tree and meshbundle binary",
        if s.at_most { "at most " } else { "" },
        part(s.total),
        part(s.files),
        part(s.images)
    ));
    for n in &c.notes {
        out.push(format!("  note: {n}"));
    }
    if !p.allowed {
        out.push(String::new());
        out.push(format!(
            "refused: {} reason(s); take the path named above",
            p.refusals.len()
        ));
    }
    let mut text = String::new();
    for l in out {
        text.push_str(&safe(&l));
        text.push('\n');
    }
    text
}
