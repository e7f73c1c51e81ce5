//! The bundle, OCI cache and read code through the `meshbundle` library,
//! in this process: no binary is spawned. A bundle is built from the lab
//! example's stages (validated site, rendered tree), verified under a trust
//! policy, read back entry by entry, and refused when damaged.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use meshbundle::bundle::build::{CarriedFile, Input, write};
use meshbundle::bundle::read::{self, Signed};
use meshbundle::bundle::seal::NotCarried;
use meshbundle::bundle::sign::{self, TrustPolicy};
use meshbundle::oci::cache::BlobCache;
use meshbundle::progress::Progress;
use meshbundle_core::render::{Inputs, render_valid};
use meshbundle_core::spec::Validated;
use meshbundle_core::tree::FileTree;

const SPEC: &str = "lab";

fn validated() -> (Validated, &'static str) {
    let text = meshbundle_core::examples::example(SPEC).unwrap();
    (
        meshbundle_core::spec::load::load(text)
            .into_validated()
            .expect("the lab example is valid"),
        text,
    )
}

/// The carried upstream files of the example, put in the cache.
fn carried(site: &Validated, cache: &BlobCache) -> Vec<CarriedFile> {
    site.needs()
        .files
        .iter()
        .filter_map(|f| f.copy.filter(|c| !c.is_empty()).map(|bytes| (f, bytes)))
        .map(|(f, bytes)| {
            let d = cache.put_bytes(bytes).unwrap();
            assert!(cache.contains(&d, Some(bytes.len() as u64)));
            CarriedFile {
                name: f.name.clone(),
                url: f.url.clone(),
                sha256: d.hex().into(),
                path: cache.path(&d),
            }
        })
        .collect()
}

struct Keys {
    signing: PathBuf,
    public: PathBuf,
    fingerprint: String,
}

fn keys(dir: &Path) -> Keys {
    let (private, public, fingerprint) = sign::generate().unwrap();
    let (signing, pubfile) = (dir.join("release.key"), dir.join("release.pub"));
    std::fs::write(&signing, private).unwrap();
    std::fs::set_permissions(&signing, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(&pubfile, public).unwrap();
    std::fs::set_permissions(&pubfile, std::fs::Permissions::from_mode(0o644)).unwrap();
    Keys {
        signing,
        public: pubfile,
        fingerprint,
    }
}

/// Builds the example's bundle into `out` through the library: the same
/// stages as `meshbundle build --example lab`.
fn build(
    site: &Validated,
    text: &str,
    cache: &BlobCache,
    keys: &Keys,
    out: &Path,
) -> (FileTree, meshbundle::bundle::build::Built) {
    let files = carried(site, cache);
    let mut upstream = BTreeMap::new();
    for f in files.iter().filter(|f| f.name.starts_with("manifest/")) {
        upstream.insert(f.name.clone(), std::fs::read(&f.path).unwrap());
    }
    let tree = render_valid(
        site,
        &Inputs {
            upstream: Some(&upstream),
            ..Default::default()
        },
    )
    .unwrap();
    let input = Input {
        site,
        spec_text: text.to_string(),
        lock_text: None,
        tree: tree.clone(),
        secrets: None,
        sealer: None,
        withhold_keys: false,
        images: Vec::new(),
        files,
        binary: None,
        not_carried: NotCarried {
            reason: "built in process from an embedded example".into(),
            ..Default::default()
        },
        base: None,
        signer: Some(sign::load_signing_key(&keys.signing).unwrap()),
    };
    let built = write(input, out, cache, &Progress::bytes("build", true)).unwrap();
    (tree, built)
}

#[test]
fn a_bundle_built_in_process_verifies_and_reads_back_what_was_rendered() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cache = BlobCache::open(Some(&d.join("cache"))).unwrap();
    let keys = keys(d);
    let (site, text) = validated();
    let out = d.join("lab.mbundle");
    let (tree, built) = build(&site, text, &cache, &keys, &out);

    let policy = TrustPolicy::from_paths(std::slice::from_ref(&keys.public), "the test's key".into()).unwrap();
    let report = read::verify(&out, Some(&policy), 2, &Progress::bytes("verify", true)).unwrap();
    assert_eq!(report.head.id, built.id);
    assert!(
        matches!(&report.signed, Signed::Verified { fingerprint, .. } if *fingerprint == keys.fingerprint),
        "{}",
        report.signed.describe()
    );
    let seal = &report.head.seal;
    assert_eq!(seal.spec, text, "the seal records the spec text the site was read from");
    assert_eq!(
        seal.tree_digest.to_string(),
        tree.digest(),
        "the seal names the tree that was rendered"
    );
    assert_eq!(seal.site, site.metadata.name);

    // Every entry reads back, and the tree's entries are the rendered files, byte for byte, with their modes.
    let mut read_back = BTreeMap::new();
    read::each_entry(&out, seal, |e, r| {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(r, &mut bytes).unwrap();
        read_back.insert(e.path.to_string(), (e.mode.bits(), bytes));
        Ok(())
    })
    .unwrap();
    assert_eq!(read_back.len(), seal.entries.len());
    for (path, f) in tree.iter() {
        let (mode, bytes) = read_back
            .get(&format!("tree/{path}"))
            .unwrap_or_else(|| panic!("tree/{path} is not in the bundle"));
        assert_eq!((*mode, bytes), (f.mode, &f.bytes), "tree/{path}");
    }
    for f in &seal.files {
        let (_, bytes) = &read_back[&format!("files/{}", f.name)];
        assert_eq!(meshbundle_core::digest::Digest::of(bytes), f.sha256, "files/{}", f.name);
    }
}

#[test]
fn the_same_inputs_give_the_same_bundle_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let keys = keys(d);
    let (site, text) = validated();
    let a = build(
        &site,
        text,
        &BlobCache::open(Some(&d.join("cache-a"))).unwrap(),
        &keys,
        &d.join("a.mbundle"),
    )
    .1;
    let b = build(
        &site,
        text,
        &BlobCache::open(Some(&d.join("cache-b"))).unwrap(),
        &keys,
        &d.join("b.mbundle"),
    )
    .1;
    assert_eq!(a.id, b.id);
    assert_eq!(
        std::fs::read(d.join("a.mbundle")).unwrap(),
        std::fs::read(d.join("b.mbundle")).unwrap()
    );
}

#[test]
fn a_damaged_entry_is_named_and_the_bundle_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cache = BlobCache::open(Some(&d.join("cache"))).unwrap();
    let keys = keys(d);
    let (site, text) = validated();
    let out = d.join("lab.mbundle");
    let (tree, _) = build(&site, text, &cache, &keys, &out);

    // Flip one byte inside a rendered file's data (not the seal's copy of the spec).
    let (path, f) = tree
        .iter()
        .find(|(p, f)| p.ends_with(".sh") && f.bytes.len() > 200)
        .expect("a script");
    let mut bytes = std::fs::read(&out).unwrap();
    let needle = &f.bytes[..200];
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the script's bytes are in the bundle")
        + 100;
    bytes[at] ^= 0x20;
    std::fs::write(&out, &bytes).unwrap();
    let err = read::verify(&out, None, 2, &Progress::bytes("verify", true))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("tree/{path}")),
        "the damaged entry is named: {err}"
    );
}

#[test]
fn a_cached_file_changed_after_it_was_pinned_stops_the_build_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cache = BlobCache::open(Some(&d.join("cache"))).unwrap();
    let (site, text) = validated();
    let files = carried(&site, &cache);
    let victim = files.first().expect("the example carries upstream files");
    let (victim_name, victim_path) = (victim.name.clone(), victim.path.clone());
    // Same size, other bytes: only hashing again on the way finds it.
    let mut bytes = std::fs::read(&victim_path).unwrap();
    bytes[0] ^= 0x01;
    std::fs::set_permissions(&victim_path, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(&victim_path, &bytes).unwrap();
    let tree = render_valid(&site, &Inputs::default()).unwrap();
    let out = d.join("out/lab.mbundle");
    let input = Input {
        site: &site,
        spec_text: text.to_string(),
        lock_text: None,
        tree,
        secrets: None,
        sealer: None,
        withhold_keys: false,
        images: Vec::new(),
        files,
        binary: None,
        not_carried: NotCarried::default(),
        base: None,
        signer: None,
    };
    let err = match write(input, &out, &cache, &Progress::bytes("build", true)) {
        Ok(_) => panic!("a bundle was built from a changed cache file"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains(&format!("files/{victim_name}")),
        "the changed file is named: {err}"
    );
    assert!(!out.exists(), "no bundle is left behind");
    let left: Vec<_> = std::fs::read_dir(d.join("out"))
        .map(|r| r.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "nothing half-written is left: {left:?}");
}
