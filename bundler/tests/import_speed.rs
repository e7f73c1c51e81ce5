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
        let r = &img.name;
        let at = format!("{}/{}:{}", up.registry.host, r.repository, r.tag.clone().unwrap());
        assert_eq!(img.digest.as_str(), skopeo_digest(&at, None), "{}", img.name);
    }
    let _ = run;
}

#[test]
fn import_into_containerd_streams_the_layout_and_unpacks_every_image() {
    let b = built();
    let d = b.dir.path();
    // -j 1: one `ctr images import` streams and unpacks; -j 2: one stream
    // fills the content store, then two unpack their shares side by side.
    for jobs in ["1", "2"] {
        let ctrd = common::registry::Containerd::start(true);
        let o = Command::new("unshare")
            .args([
                "-n",
                common::bin(),
                "import",
                "site.mbundle",
                "--quiet",
                "-j",
                jobs,
                "--containerd",
            ])
            .arg(&ctrd.socket)
            .args(["--format", "json"])
            .current_dir(d)
            .output()
            .unwrap();
        assert!(o.status.success(), "-j {jobs}: {}", text(&o.stderr));
        let ls = text(&ctrd.ctr(&["-n", "k8s.io", "images", "ls"]).stdout);
        let check = text(&ctrd.ctr(&["-n", "k8s.io", "images", "check"]).stdout);
        for (path, digest, _) in &b.images {
            let named = |l: &&str| {
                l.split_whitespace()
                    .next()
                    .is_some_and(|n| n.ends_with(&format!("/{path}")))
            };
            let line = ls
                .lines()
                .find(named)
                .unwrap_or_else(|| panic!("-j {jobs}: {path} in:\n{ls}"));
            assert_eq!(line.split_whitespace().nth(2), Some(digest.as_str()), "{line}");
            let c = check.lines().find(named).unwrap();
            assert!(c.contains("complete"), "-j {jobs}: every blob is there: {c}");
            assert_eq!(
                c.split_whitespace().last(),
                Some("true"),
                "-j {jobs}: unpacked (the last column of ctr images check): {c}"
            );
        }
    }
}

/// Where the entry `path` of a bundle lies: (offset of its content, size).
fn entry_span(bundle: &Path, path: &str) -> (u64, u64) {
    let mut a = tar::Archive::new(std::fs::File::open(bundle).unwrap());
    for e in a.entries_with_seek().unwrap() {
        let e = e.unwrap();
        if e.path_bytes().as_ref() == path.as_bytes() {
            return (e.raw_file_position(), e.size());
        }
    }
    panic!("{path} is not in {}", bundle.display())
}

/// Flips one byte in the middle of the entry `path` of the bundle, in
/// place: its header and the seal stay as they were.
fn damage(bundle: &Path, path: &str) {
    use std::os::unix::fs::FileExt;
    let (offset, size) = entry_span(bundle, path);
    assert!(size > 0, "{path} is empty");
    let f = std::fs::OpenOptions::new().read(true).write(true).open(bundle).unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, offset + size / 2).unwrap();
    b[0] ^= 0xff;
    f.write_all_at(&b, offset + size / 2).unwrap();
}

/// The largest blob entry of the bundle's images (a layer), as its entry path.
fn largest_blob(b: &Built) -> String {
    let bundle = b.dir.path().join("site.mbundle");
    let blobs: BTreeSet<&String> = b.images.iter().flat_map(|i| &i.2).collect();
    blobs
        .into_iter()
        .map(|d| format!("images/blobs/sha256/{}", d.strip_prefix("sha256:").unwrap()))
        .max_by_key(|p| entry_span(&bundle, p).1)
        .unwrap()
}

/// `meshbundle verify` refuses the bundle, naming `entry`.
fn verify_names(d: &Path, entry: &str) {
    let o = meshbundle(d, &["verify", "site.mbundle"]);
    assert_eq!(o.status.code(), Some(1), "verify reads every byte");
    assert!(
        text(&o.stdout).contains(entry) && text(&o.stdout).contains("content changed"),
        "{}",
        text(&o.stdout)
    );
}

/// Requests that change something on the registry.
fn writes(log: &[common::registry::ProxyRequest]) -> Vec<String> {
    log.iter()
        .filter(|r| r.method != "HEAD" && r.method != "GET")
        .map(|r| format!("{} {} {}", r.method, r.path, r.status))
        .collect()
}

#[test]
fn a_second_import_to_a_registry_reads_no_entry_and_a_damaged_blob_it_needs_stops_it_before_any_write() {
    let b = built();
    let d = b.dir.path();
    let reg = TestRegistry::start(None);
    let proxy = FaultProxy::start(&reg.host, &[]);
    let o = import(d, &proxy.host);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let first: Value = serde_json::from_slice(&o.stdout).unwrap();
    // A layer every import would have hashed before: damaged in place, after the first import.
    let blob = largest_blob(&b);
    damage(&d.join("site.mbundle"), &blob);
    verify_names(d, &blob);

    // The registry has every image: the second import asks one question per
    // image, reads no entry of the bundle, so never meets the damage, and sends nothing.
    let before = proxy.entries().len();
    let o = import(d, &proxy.host);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let second: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(second["read"]["entries"], 0, "{second}");
    assert_eq!(second["read"]["bytes"], 0, "{second}");
    assert_eq!(second["registry"]["imagesAlreadyThere"], b.images.len());
    assert_eq!(second["registry"]["bytesPushed"], 0);
    assert!(first["read"]["bytes"].as_u64().unwrap() > 0, "{first}");
    let log = proxy.entries()[before..].to_vec();
    assert_eq!(log.len(), b.images.len(), "one question per image: {:?}", writes(&log));
    assert!(writes(&log).is_empty(), "{:?}", writes(&log));
    // The same through standard input redirected from the file.
    let o = Command::new(common::bin())
        .args([
            "import",
            "-",
            "--quiet",
            "--registry",
            &proxy.host,
            "--insecure",
            &proxy.host,
        ])
        .args(["--format", "json"])
        .stdin(std::fs::File::open(d.join("site.mbundle")).unwrap())
        .current_dir(d)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let third: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(third["read"]["bytes"], 0, "{third}");

    // An empty registry needs that layer: the import reads it, finds the
    // damage and stops before it sends a blob, a manifest or a tag.
    let empty = TestRegistry::start(None);
    let proxy = FaultProxy::start(&empty.host, &[]);
    let o = import(d, &proxy.host);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let said = format!("{}{}", text(&o.stdout), text(&o.stderr));
    assert!(
        said.contains(&blob) && said.contains("content changed") && said.contains("nothing was imported"),
        "{said}"
    );
    assert!(writes(&proxy.entries()).is_empty(), "{:?}", writes(&proxy.entries()));
    for (path, _, _) in &b.images {
        let (repo, tag) = path.split_once(':').unwrap();
        let o = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-I"])
            .arg(format!("http://{}/v2/{repo}/manifests/{tag}", empty.host))
            .output()
            .unwrap();
        assert_eq!(text(&o.stdout), "404", "{path} is not tagged");
    }
}

#[test]
fn extract_reads_only_the_files_it_lays_out() {
    let b = built();
    let d = b.dir.path();
    // A damaged image layer is not read by an extraction, which lays out no image.
    let blob = largest_blob(&b);
    damage(&d.join("site.mbundle"), &blob);
    let o = meshbundle(
        d,
        &[
            "import",
            "site.mbundle",
            "--quiet",
            "--extract",
            "site",
            "--format",
            "json",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let images: u64 = b.images.len() as u64;
    assert!(images > 0);
    assert!(
        v["read"]["entries"].as_u64().unwrap() < v["read"]["bundleEntries"].as_u64().unwrap(),
        "{v}"
    );
    assert!(d.join("site/install.sh").exists());
    // A damaged file it lays out stops it, and nothing is laid out.
    damage(&d.join("site.mbundle"), "tree/install.sh");
    let o = meshbundle(d, &["import", "site.mbundle", "--quiet", "--extract", "again"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("tree/install.sh"), "{}", text(&o.stdout));
    assert!(!d.join("again").exists(), "nothing was laid out");
}

/// `meshbundle import site.mbundle --containerd SOCKET --format json`, with no network.
fn import_ctr(d: &Path, socket: &Path) -> std::process::Output {
    Command::new("unshare")
        .args(["-n", common::bin(), "import", "site.mbundle", "--quiet", "--containerd"])
        .arg(socket)
        .args(["--format", "json"])
        .current_dir(d)
        .output()
        .unwrap()
}

/// The images containerd has ready (complete and unpacked), by name (not
/// the `sha256:` names the CRI plugin adds).
fn ready(ctrd: &common::registry::Containerd) -> BTreeSet<String> {
    text(&ctrd.ctr(&["-n", "k8s.io", "images", "check", "-q"]).stdout)
        .lines()
        .filter(|l| !l.starts_with("sha256:"))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_second_import_into_containerd_reads_no_entry_and_a_damaged_blob_it_needs_stops_it() {
    let b = built();
    let d = b.dir.path();
    let ctrd = common::registry::Containerd::start(true);
    let o = import_ctr(d, &ctrd.socket);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let first: Value = serde_json::from_slice(&o.stdout).unwrap();
    let blob = largest_blob(&b);
    damage(&d.join("site.mbundle"), &blob);
    verify_names(d, &blob);
    // Every image is there, whole and unpacked: nothing is read or loaded.
    let o = import_ctr(d, &ctrd.socket);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let second: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(second["read"]["bytes"], 0, "{second}");
    assert_eq!(second["containerd"]["imagesAlreadyThere"], b.images.len(), "{second}");
    assert_eq!(second["containerd"]["bytesSent"], 0, "{second}");
    assert_eq!(first["containerd"]["imagesAlreadyThere"], 0, "{first}");
    assert_eq!(ready(&ctrd).len(), b.images.len(), "still ready");

    // An empty containerd needs that layer: refused, naming it, with nothing loaded.
    let empty = common::registry::Containerd::start(true);
    let o = import_ctr(d, &empty.socket);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let said = format!("{}{}", text(&o.stdout), text(&o.stderr));
    assert!(said.contains(&blob) && said.contains("content changed"), "{said}");
    assert_eq!(text(&empty.ctr(&["-n", "k8s.io", "images", "ls", "-q"]).stdout), "");
    assert_eq!(text(&empty.ctr(&["-n", "k8s.io", "content", "ls", "-q"]).stdout), "");
}

#[test]
fn containerd_missing_one_image_gets_only_what_it_lacks() {
    let b = built();
    let d = b.dir.path();
    let ctrd = common::registry::Containerd::start(true);
    let o = import_ctr(d, &ctrd.socket);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let first: Value = serde_json::from_slice(&o.stdout).unwrap();
    // One image removed (its name only: its blobs stay in the content store
    // until collected) is loaded again; the others are not.
    let gone = ready(&ctrd).into_iter().next().unwrap();
    let o = ctrd.ctr(&["-n", "k8s.io", "images", "rm", "--sync", &gone]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = import_ctr(d, &ctrd.socket);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["containerd"]["imagesAlreadyThere"], b.images.len() - 1, "{v}");
    // Only the blobs the content store lacks are sent.
    assert!(
        v["containerd"]["bytesSent"].as_u64().unwrap() < first["containerd"]["bytesSent"].as_u64().unwrap(),
        "{v} after {first}"
    );
    let check = ready(&ctrd);
    assert_eq!(check.len(), b.images.len(), "every image ready again: {check:?}");
    assert!(check.contains(&gone), "{gone} is back: {check:?}");
}

#[test]
fn jobs_has_one_meaning_and_default_and_refuses_zero() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let help = |cmd: &[&str]| {
        let mut args = cmd.to_vec();
        args.push("--help");
        let t = text(&meshbundle(d, &args).stdout);
        let start = t.find("-j, --jobs <N>").unwrap_or_else(|| panic!("{cmd:?}: {t}"));
        let rest = &t[start..];
        let end = rest.find("[default: ").unwrap();
        let end = end + rest[end..].find(']').unwrap() + 1;
        rest[..end].split_whitespace().collect::<Vec<_>>().join(" ")
    };
    let import = help(&["import"]);
    assert!(import.contains("[default: 8]"), "{import}");
    for cmd in [&["build"][..], &["lock"], &["image", "pull"]] {
        assert_eq!(help(cmd), import, "{cmd:?}");
    }
    let o = meshbundle(d, &["import", "x.mbundle", "--registry", "127.0.0.1:1", "-j", "0"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("at least 1"), "{}", text(&o.stderr));
}

#[test]
fn an_image_whose_manifest_is_there_but_not_its_tag_gets_only_its_tag() {
    let b = built();
    let d = b.dir.path();
    let reg = TestRegistry::start(None);
    let o = import(d, &reg.host);
    assert!(o.status.success(), "{}", text(&o.stderr));
    // The tag of one image moved to another image's manifest (its own
    // manifest stays in the registry, by digest): as after a push by someone else.
    let (moved, moved_digest, moved_blobs) = b.images[0].clone();
    let (other, other_digest, _) = b.images[1].clone();
    run(Command::new("skopeo").args([
        "copy",
        "--quiet",
        "--all",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!("docker://{}/{other}", reg.host),
        &format!("docker://{}/{moved}", reg.host),
    ]));
    assert_eq!(skopeo_digest(&format!("{}/{moved}", reg.host), None), other_digest);
    // Its layers are not read: one of them damaged goes unnoticed.
    let bundle = d.join("site.mbundle");
    let layer = moved_blobs
        .iter()
        .map(|x| format!("images/blobs/sha256/{}", x.strip_prefix("sha256:").unwrap()))
        .max_by_key(|p| entry_span(&bundle, p).1)
        .unwrap();
    damage(&bundle, &layer);
    let proxy = FaultProxy::start(&reg.host, &[]);
    let o = import(d, &proxy.host);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        skopeo_digest(&format!("{}/{moved}", reg.host), None),
        moved_digest,
        "{moved} names its own image again"
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["registry"]["imagesOnlyTagged"], 1, "{v}");
    assert_eq!(v["registry"]["imagesAlreadyThere"], b.images.len() - 1, "{v}");
    // Read: its top manifest only, to put under the tag.
    assert_eq!(v["read"]["entries"], 1, "{v}");
    let w = writes(&proxy.entries());
    let (repo, tag) = moved.split_once(':').unwrap();
    assert_eq!(
        w,
        vec![format!("PUT /v2/{repo}/manifests/{tag} 201")],
        "only the tag is put"
    );
}
