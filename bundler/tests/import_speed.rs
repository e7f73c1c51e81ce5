//! What makes `import --registry` and `lock` fast, checked against a real
//! `docker-registry` behind the counting (and, when asked, misbehaving)
//! proxy of `tests/tools/fault_proxy.py`: blobs shared between repositories
//! are sent once and mounted elsewhere, a registry that refuses mounts gets
//! the blob uploaded, a second import of the same bundle sends nothing and
//! asks one question per image, a blob the registry keeps failing is named
//! with its image and no tag is pushed, and the lock is the same bytes
//! whatever the concurrency.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use common::registry::{FaultProxy, TestRegistry, run, skopeo_digest};
use common::{example, meshbundle, text};
use serde_json::Value;

/// A locked, built bundle of the lab example (its images share a base
/// layer across repositories), in a temp dir.
struct Built {
    dir: tempfile::TempDir,
    /// The seal's images: (tagged name in the site registry without it, digest, blobs).
    images: Vec<(String, String, Vec<String>)>,
}

fn built() -> Built {
    let up = common::site::serve(&example("lab"));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::copy(common::repo().join("core/examples/lab.yaml"), d.join("site.yaml")).unwrap();
    for cmd in [
        vec!["lock", "site.yaml", "--quiet", "--cache", "cache"],
        vec![
            "build",
            "site.yaml",
            "--locked",
            "--quiet",
            "--cache",
            "cache",
            "-o",
            "site.mbundle",
        ],
    ] {
        let mut args = cmd.clone();
        args.extend(up.flags.iter().map(String::as_str));
        let o = meshbundle(d, &args);
        assert!(o.status.success(), "{cmd:?}: {}", text(&o.stderr));
    }
    let mut a = tar::Archive::new(std::fs::File::open(d.join("site.mbundle")).unwrap());
    let mut first = a.entries().unwrap().next().unwrap().unwrap();
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut first, &mut raw).unwrap();
    let seal: Value = serde_json::from_slice(&raw).unwrap();
    let images = seal["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let site = i["site"].as_str().unwrap();
            let tagged = site.split_once('@').unwrap().0;
            let path = tagged.split_once('/').unwrap().1.to_string();
            let blobs = i["blobs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b.as_str().unwrap().to_string())
                .collect();
            (path, i["digest"].as_str().unwrap().to_string(), blobs)
        })
        .collect();
    Built { dir, images }
}

fn import(d: &Path, host: &str) -> std::process::Output {
    meshbundle(
        d,
        &[
            "import",
            "site.mbundle",
            "--quiet",
            "--registry",
            host,
            "--insecure",
            host,
            "--format",
            "json",
        ],
    )
}

/// The blob digest a successful monolithic upload (`PUT …?digest=`) carried.
fn uploaded(r: &common::registry::ProxyRequest) -> Option<String> {
    if r.method != "PUT" || !r.path.contains("/blobs/uploads/") || r.status != 201 {
        return None;
    }
    let q = r.path.split_once('?')?.1;
    q.split('&')
        .find_map(|kv| kv.strip_prefix("digest="))
        .map(|d| d.replace("%3A", ":"))
}

fn repo_of(path: &str) -> String {
    path.trim_start_matches("/v2/")
        .split("/blobs/")
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn shared_blobs_are_sent_once_and_mounted_and_a_second_import_sends_nothing() {
    let b = built();
    let d = b.dir.path();
    let reg = TestRegistry::start(None);
    // The first requests fail (500): they are retried.
    let proxy = FaultProxy::start(&reg.host, &["--fail-first", "3"]);
    let o = import(d, &proxy.host);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let first: Value = serde_json::from_slice(&o.stdout).unwrap();
    let log = proxy.entries();
    assert_eq!(
        log.iter().filter(|r| r.status == 500).count(),
        3,
        "the injected failures were met and retried"
    );
    // Which repositories need each blob.
    let mut repos_of: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (path, _, blobs) in &b.images {
        let repo = path.split(':').next().unwrap();
        for blob in blobs {
            repos_of.entry(blob.as_str()).or_default().insert(repo);
        }
    }
    let shared: Vec<&str> = repos_of.iter().filter(|(_, r)| r.len() > 1).map(|(d, _)| *d).collect();
    assert!(!shared.is_empty(), "the lab's images share a base layer");
    let puts: Vec<String> = log.iter().filter_map(uploaded).collect();
    for blob in repos_of.keys() {
        assert_eq!(
            puts.iter().filter(|p| p == blob).count(),
            1,
            "{blob} is uploaded exactly once: {puts:?}"
        );
    }
    // Shared blobs reach the other repositories by mount, not by upload.
    for blob in &shared {
        let mounted: BTreeSet<String> = log
            .iter()
            .filter(|r| r.method == "POST" && r.status == 201 && r.path.contains(&format!("mount={blob}")))
            .map(|r| repo_of(&r.path))
            .collect();
        assert_eq!(
            mounted.len(),
            repos_of[blob].len() - 1,
            "{blob}: mounted into every other repository"
        );
    }
    assert_eq!(
        first["registry"]["blobsMounted"].as_u64().unwrap() as usize,
        shared.iter().map(|d| repos_of[d].len() - 1).sum::<usize>()
    );
    assert_eq!(
        first["registry"]["blobsPushed"].as_u64().unwrap() as usize,
        repos_of.len()
    );
    // Every image is there, under its tag, with its digest (asked of the registry itself).
    for (path, digest, _) in &b.images {
        assert_eq!(&skopeo_digest(&format!("{}/{path}", reg.host), None), digest, "{path}");
    }

    // Again: one HEAD of each image's tag, nothing sent.
    let before = proxy.entries().len();
    let o = import(d, &proxy.host);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let second: Value = serde_json::from_slice(&o.stdout).unwrap();
    let again: Vec<String> = proxy.entries()[before..]
        .iter()
        .map(|r| format!("{} {} {}", r.method, r.path, r.status))
        .collect();
    assert_eq!(again.len(), b.images.len(), "one request per image: {again:#?}");
    assert!(
        again
            .iter()
            .all(|r| r.starts_with("HEAD ") && r.contains("/manifests/") && r.ends_with(" 200")),
        "{again:#?}"
    );
    assert_eq!(second["registry"]["imagesAlreadyThere"], b.images.len());
    assert_eq!(second["registry"]["blobsPushed"], 0);
    assert_eq!(second["registry"]["bytesPushed"], 0);
}

#[test]
fn a_refused_mount_falls_back_to_an_upload() {
    let b = built();
    let d = b.dir.path();
    let reg = TestRegistry::start(None);
    let proxy = FaultProxy::start(&reg.host, &["--refuse-mount"]);
    let o = import(d, &proxy.host);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let log = proxy.entries();
    let asked: Vec<_> = log
        .iter()
        .filter(|r| r.method == "POST" && r.path.contains("mount="))
        .collect();
    assert!(!asked.is_empty(), "a mount was asked for");
    assert!(
        asked.iter().all(|r| r.status == 202),
        "and refused: an upload started instead"
    );
    // Each refused mount is followed by an upload of that blob into that repository.
    let puts: BTreeSet<(String, String)> = log
        .iter()
        .filter_map(|r| Some((repo_of(&r.path), uploaded(r)?)))
        .collect();
    for r in &asked {
        let blob = r
            .path
            .split("mount=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap()
            .replace("%3A", ":");
        assert!(
            puts.contains(&(repo_of(&r.path), blob.clone())),
            "{blob} uploaded into {}",
            repo_of(&r.path)
        );
    }
    for (path, digest, _) in &b.images {
        assert_eq!(&skopeo_digest(&format!("{}/{path}", reg.host), None), digest, "{path}");
    }
}

#[test]
fn a_blob_the_registry_keeps_failing_is_named_and_no_tag_is_pushed() {
    let b = built();
    let d = b.dir.path();
    // A blob of the last image only: pushed image by image, the others would be tagged by then.
    let (last_path, _, last_blobs) = b.images.last().unwrap();
    let others: BTreeSet<&String> = b.images[..b.images.len() - 1].iter().flat_map(|i| &i.2).collect();
    let own = last_blobs
        .iter()
        .find(|x| !others.contains(x))
        .expect("the last image has a blob of its own");
    let reg = TestRegistry::start(None);
    let proxy = FaultProxy::start(&reg.host, &["--fail-path", &format!("digest={own}")]);
    let o = import(d, &proxy.host);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    let last_repo = last_path.split(':').next().unwrap();
    assert!(err.contains(own.as_str()), "the blob is named: {err}");
    assert!(err.contains(last_repo), "the image is named: {err}");
    assert!(err.contains("500"), "what the registry answered: {err}");
    // Nothing is tagged: tags go last, after every blob.
    for (path, _, _) in &b.images {
        let (repo, tag) = path.split_once(':').unwrap();
        let o = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-I"])
            .arg(format!("http://{}/v2/{repo}/manifests/{tag}", reg.host))
            .output()
            .unwrap();
        assert_eq!(text(&o.stdout), "404", "{path} is not tagged");
    }
    // Once the registry behaves, the same import finishes the job.
    let o = import(d, &reg.host);
    assert!(o.status.success(), "{}", text(&o.stderr));
    for (path, digest, _) in &b.images {
        assert_eq!(&skopeo_digest(&format!("{}/{path}", reg.host), None), digest, "{path}");
    }
}

#[test]
fn lock_is_the_same_bytes_whatever_the_concurrency() {
    let site = example("production");
    let up = common::site::serve(&site);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::copy(
        common::repo().join("core/examples/production.yaml"),
        d.join("site.yaml"),
    )
    .unwrap();
    let mut locks = Vec::new();
    for (i, jobs) in ["1", "8", "16", "8"].iter().enumerate() {
        let out = format!("{i}.lock");
        let cache = format!("cache-{i}");
        let mut args = vec![
            "lock",
            "site.yaml",
            "--quiet",
            "--cache",
            &cache,
            "-j",
            jobs,
            "-o",
            &out,
        ];
        args.extend(up.flags.iter().map(String::as_str));
        let o = meshbundle(d, &args);
        assert!(o.status.success(), "-j {jobs}: {}", text(&o.stderr));
        locks.push(std::fs::read(d.join(&out)).unwrap());
    }
    assert!(
        locks.iter().all(|l| *l == locks[0]),
        "the same lock bytes at -j 1, 8 and 16"
    );
    let lock = meshbundle_core::lock::parse(&String::from_utf8(locks[0].clone()).unwrap()).unwrap();
    let needs = meshbundle_core::catalog::needs(&site).unwrap();
    assert_eq!(lock.images.len(), needs.images.len());
    assert_eq!(lock.files.len(), needs.files.len());
    // Pinned to what the registry serves.
    for img in lock.images.iter().take(3) {
        let r = meshbundle_core::image::ImageRef::parse(&img.name).unwrap();
        let at = format!("{}/{}:{}", up.registry.host, r.repository, r.tag.clone().unwrap());
        assert_eq!(img.digest.as_str(), skopeo_digest(&at, None), "{}", img.name);
    }
    let _ = run;
}

#[test]
fn import_into_containerd_streams_the_layout_and_unpacks_every_image() {
    let b = built();
    let d = b.dir.path();
    let ctrd = common::registry::Containerd::start(true);
    let o = Command::new("unshare")
        .args(["-n", common::bin(), "import", "site.mbundle", "--quiet", "--containerd"])
        .arg(&ctrd.socket)
        .args(["--format", "json"])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let ls = text(&ctrd.ctr(&["-n", "k8s.io", "images", "ls"]).stdout);
    let check = text(&ctrd.ctr(&["-n", "k8s.io", "images", "check"]).stdout);
    for (path, digest, _) in &b.images {
        let line = ls
            .lines()
            .find(|l| {
                l.split_whitespace()
                    .next()
                    .is_some_and(|n| n.ends_with(&format!("/{path}")))
            })
            .unwrap_or_else(|| panic!("{path} in:\n{ls}"));
        assert_eq!(line.split_whitespace().nth(2), Some(digest.as_str()), "{line}");
        let c = check
            .lines()
            .find(|l| {
                l.split_whitespace()
                    .next()
                    .is_some_and(|n| n.ends_with(&format!("/{path}")))
            })
            .unwrap();
        assert!(c.contains("complete"), "every blob is there: {c}");
    }
    // Unpacked: one snapshot per distinct layer chain at least.
    let snaps = text(&ctrd.ctr(&["-n", "k8s.io", "snapshots", "ls"]).stdout);
    assert!(snaps.lines().count() > 1, "the images were unpacked:\n{snaps}");
}
