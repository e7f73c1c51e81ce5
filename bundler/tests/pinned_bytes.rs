//! The bytes of what meshbundle writes, pinned by digest: a change of any of
//! them is a change of every bundle, archive or image built from the same
//! input, so it must show up here as a diff to review. Each is made twice, by
//! the real binary, in two processes that share nothing but their inputs
//! (working directory, umask, time zone, locale, home, user and
//! `SOURCE_DATE_EPOCH` differ), and must be the same before it is compared
//! with its pin: nothing of the machine may enter.
//!
//! - `build --example lab`: the bundle id, and the archive. `--no-binary`
//!   keeps the result the same whether or not the running meshbundle is a
//!   static build (which would carry itself), and the example carries no
//!   secrets (no `--secrets`, `--recipient` or `--sign`). The seal records
//!   the meshbundle version with the id of its sources, which changes with
//!   any source file; the pins are taken with that id written as zeros (the
//!   same length, so the archive keeps its layout), and the test checks the
//!   real id is the digest of the real seal.
//! - `render --tar` of the lab and production examples (no secrets, which
//!   would hold keys made at random).
//! - `image build` of `images/meshbundle/recipe.yaml`: the recipe as
//!   committed, with fixed stand-ins for its two inputs (the static binary
//!   and `web/dist`), whose bytes depend on the toolchain that built them.
//!   `tests/images.rs` builds the real inputs reproducibly; this pins what
//!   the recipe and `image build` make of them.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b))
}

/// A process's surroundings: its working directory (under the test's
/// directory), umask and environment.
type Environment = (&'static str, &'static str, Vec<(&'static str, &'static str)>);

/// The two environments every pinned output is made in.
fn environments() -> [Environment; 2] {
    [
        (
            "one",
            "022",
            vec![
                ("TZ", "UTC"),
                ("LC_ALL", "C"),
                ("HOME", "/nonexistent"),
                ("USER", "root"),
            ],
        ),
        (
            "two/deeper",
            "077",
            vec![
                ("TZ", "Pacific/Chatham"),
                ("LC_ALL", "de_DE.UTF-8"),
                ("LANG", "tr_TR.UTF-8"),
                ("HOME", "/tmp"),
                ("USER", "nobody"),
                ("SOURCE_DATE_EPOCH", "1700000000"),
            ],
        ),
    ]
}

/// Runs meshbundle in `cwd` with only `env` and the given umask.
fn run_in(cwd: &Path, umask: &str, env: &[(&str, &str)], args: &[&str]) -> Output {
    std::fs::create_dir_all(cwd).unwrap();
    let o = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
        .arg(bin())
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(o.status.success(), "{args:?} in {}: {}", cwd.display(), text(&o.stderr));
    o
}

/// Makes a file in each environment with `make(cwd, umask, env)`, checks
/// the copies are the same bytes, and returns them.
fn same_everywhere(d: &Path, what: &str, make: impl Fn(&Path, &str, &[(&str, &str)]) -> Vec<u8>) -> Vec<u8> {
    let mut made: Vec<Vec<u8>> = Vec::new();
    for (sub, umask, env) in environments() {
        made.push(make(&d.join(what).join(sub), umask, &env));
    }
    assert!(made[0] == made[1], "{what}: two processes made other bytes");
    made.swap_remove(0)
}

fn check(got: &[String], want: &str, what: &str) {
    let want: Vec<&str> = want.trim().lines().map(str::trim).collect();
    assert_eq!(
        got,
        want,
        "the bytes of {what} changed; if that is meant, review and pin the new digests:\n{}",
        got.join("\n")
    );
}

/// `meshbundle --version` without the name: what the seal records.
fn version() -> String {
    let o = Command::new(bin()).arg("--version").output().unwrap();
    text(&o.stdout).trim().strip_prefix("meshbundle ").unwrap().to_string()
}

/// The version with its source id written as zeros, the same length.
fn version_without_source() -> String {
    let v = version();
    let (head, id) = v.split_once(" (source ").unwrap();
    let id = id.strip_suffix(')').unwrap();
    assert!(id.len() >= 8 && id.bytes().all(|b| b.is_ascii_hexdigit()), "{v}");
    format!("{head} (source {})", "0".repeat(id.len()))
}

/// Replaces the one occurrence of `from` in `bytes` by `to`, of the same length.
fn replace_once(bytes: &mut [u8], from: &[u8], to: &[u8], what: &str) {
    assert_eq!(from.len(), to.len());
    let at: Vec<usize> = bytes
        .windows(from.len())
        .enumerate()
        .filter(|(_, w)| *w == from)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(at.len(), 1, "{what} is found {} times", at.len());
    bytes[at[0]..at[0] + from.len()].copy_from_slice(to);
}

#[test]
fn lab_example_bundle_bytes_are_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ids = std::cell::RefCell::new(Vec::new());
    let bundle = same_everywhere(d, "bundle", |cwd, umask, env| {
        let o = run_in(
            cwd,
            umask,
            env,
            &[
                "build",
                "--example",
                "lab",
                "-o",
                "lab.mbundle",
                "--cache",
                "cache",
                "--no-binary",
                "--quiet",
            ],
        );
        ids.borrow_mut().push(text(&o.stdout).trim().to_string());
        std::fs::read(cwd.join("lab.mbundle")).unwrap()
    });
    let ids = ids.into_inner();
    assert_eq!(ids[0], ids[1]);
    let id = &ids[0];

    // The id is the digest of the seal, which records this meshbundle.
    let mut seal = None;
    let mut sum = None;
    for e in tar::Archive::new(bundle.as_slice()).entries().unwrap() {
        let mut e = e.unwrap();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        match e.path().unwrap().to_str().unwrap() {
            "SEAL.json" => seal = Some(data),
            "SEAL.sha256" => sum = Some(data),
            _ => {}
        }
    }
    let mut seal = seal.expect("SEAL.json");
    assert_eq!(text(&sum.expect("SEAL.sha256")), format!("{id}\n"));
    assert_eq!(*id, format!("sha256:{}", sha256_hex(&seal)));
    let recorded: serde_json::Value = serde_json::from_slice(&seal).unwrap();
    assert_eq!(recorded["meshbundle"], version().as_str());
    assert_eq!(recorded["site"], "lab");
    assert_eq!(recorded["secrets"]["privateKeys"], "none");

    // The same bundle from sources with the id 0000...: seal, id and archive.
    let (real, pinned) = (version(), version_without_source());
    replace_once(&mut seal, real.as_bytes(), pinned.as_bytes(), "the version in the seal");
    let pinned_id = format!("sha256:{}", sha256_hex(&seal));
    let mut archive = bundle.clone();
    replace_once(
        &mut archive,
        real.as_bytes(),
        pinned.as_bytes(),
        "the version in the bundle",
    );
    replace_once(
        &mut archive,
        id.as_bytes(),
        pinned_id.as_bytes(),
        "the bundle id in the bundle",
    );
    let got = vec![
        format!("version {pinned}"),
        format!("bundle id {pinned_id}"),
        format!("archive {} bytes sha256 {}", archive.len(), sha256_hex(&archive)),
    ];
    check(&got, LAB_BUNDLE, "`build --example lab`");
}

const LAB_BUNDLE: &str = "
version 0.1.0 (source 0000000000000000)
bundle id sha256:566b43aafff37c7beccda8e7931cb4fa56e031ca91b6c974a72cbe96d8e1c66c
archive 773632 bytes sha256 c5f8d87deef2dddcca2362c3f679ed5e7d8db49e55e04a898ee3114804215b44
";

#[test]
fn render_tar_bytes_are_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut got = Vec::new();
    for name in ["lab", "production"] {
        let spec = repo().join(format!("core/examples/{name}.yaml"));
        let tar = same_everywhere(d, name, |cwd, umask, env| {
            std::fs::create_dir_all(cwd).unwrap();
            std::fs::copy(&spec, cwd.join("site.yaml")).unwrap();
            run_in(cwd, umask, env, &["render", "site.yaml", "--tar", "site.tar.gz"]);
            std::fs::read(cwd.join("site.tar.gz")).unwrap()
        });
        got.push(format!("{name} {} bytes sha256 {}", tar.len(), sha256_hex(&tar)));
    }
    check(&got, RENDER_TAR, "`render --tar`");
}

const RENDER_TAR: &str = "
lab 69897 bytes sha256 56f284de256b61d6bab0beee75e532d864f9d919058a7322bdcaa7209ab5e7ae
production 126384 bytes sha256 e4d4658faa63314e75047638e763c9c41955482f274684df7f52ab3d2045d0c8
";

/// The committed recipe, beside stand-ins for its inputs at the paths it
/// names, in a fresh directory.
fn recipe_with_stand_ins(root: &Path) -> PathBuf {
    let recipe = root.join("images/meshbundle/recipe.yaml");
    std::fs::create_dir_all(recipe.parent().unwrap()).unwrap();
    std::fs::copy(repo().join("images/meshbundle/recipe.yaml"), &recipe).unwrap();
    let put = |path: &str, bytes: &[u8], mode: u32| {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    // The recipe gives the binary its mode; the page's files take theirs
    // from the executable bit.
    put(
        "target/x86_64-unknown-linux-musl/release/meshbundle",
        b"\x7fELF stand-in for the static meshbundle\n",
        0o600,
    );
    put(
        "web/dist/index.html",
        b"<!doctype html><title>stand-in</title>\n",
        0o644,
    );
    put("web/dist/app.js", b"\"use strict\";\n", 0o644);
    put("web/dist/upstream/calico.js", b"// stand-in\n", 0o644);
    recipe
}

#[test]
fn meshbundle_image_recipe_bytes_are_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let recipe = recipe_with_stand_ins(&d.join("inputs"));
    let mut got = Vec::new();
    for epoch in [None, Some("1700000000")] {
        let digests = std::cell::RefCell::new(Vec::new());
        let what = format!("image-{}", epoch.unwrap_or("default"));
        let index = same_everywhere(d, &what, |cwd, umask, env| {
            // SOURCE_DATE_EPOCH is the default timestamp: given here only
            // through the flag, so both environments build the same image.
            let env: Vec<(&str, &str)> = env.iter().copied().filter(|(k, _)| *k != "SOURCE_DATE_EPOCH").collect();
            let mut args = vec!["image", "build", recipe.to_str().unwrap(), "-o", "layout"];
            if let Some(e) = epoch {
                args.extend(["--source-date-epoch", e]);
            }
            let o = run_in(cwd, umask, &env, &args);
            digests.borrow_mut().push(text(&o.stdout).trim().to_string());
            std::fs::read(cwd.join("layout/index.json")).unwrap()
        });
        let digests = digests.into_inner();
        assert_eq!(digests[0], digests[1]);
        got.push(format!(
            "epoch {} manifest {} index.json {}",
            epoch.unwrap_or("0"),
            digests[0],
            sha256_hex(&index)
        ));
    }
    check(&got, RECIPE_IMAGE, "`image build images/meshbundle/recipe.yaml`");
}

const RECIPE_IMAGE: &str = "
epoch 0 manifest sha256:68e617df8618062563daaeba4a5d64f0de47e08e036ab04e02a3f78af2762675 index.json eed68f0df6be8b1942a23f72901e13c0104f53f62341dcd3371a30bbaa7153ba
epoch 1700000000 manifest sha256:6d618240c8e73dff598c64efe627507275714d220ce5343df0c69a9f7366250b index.json c9dd4d86a0fbe7fa756728fd841be0a4212abeee30c61d1a1a3570f99ef0e5ec
";
