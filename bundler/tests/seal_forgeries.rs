//! Forged bundles that a first round of checks let through: `verify` must
//! refuse each one (naming the entry or field) and say nothing a terminal
//! would act on, so that whatever it accepts, `import` lays out exactly.
//! Each bundle is re-sealed without a signature, as an attacker without the
//! signing key would, from the embedded lab example built offline.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::forge::{Entries, body, entries, name_of, raw_header, reseal, seal_of, set_data, sha256_hex, write};
use common::{bin, text};
use serde_json::Value;

fn mb(dir: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(dir)
        .env("MESHBUNDLE_CONFIG_DIR", dir.join("no-config"))
        .env_remove("MESHBUNDLE_TRUSTED_KEYS")
        .output()
        .unwrap()
}

fn all(o: &Output) -> String {
    format!("{}{}", text(&o.stdout), text(&o.stderr))
}

fn lab(dir: &Path) {
    let o = mb(dir, &["build", "--example", "lab", "-o", "x.mbundle", "--quiet"]);
    assert!(o.status.success(), "{}", all(&o));
}

/// `verify` refuses the bundle, its output names `naming`, and neither
/// verify nor import prints a byte a terminal would act on; import writes nothing.
fn refused(dir: &Path, file: &str, naming: &str) {
    let o = mb(dir, &["verify", file]);
    let out = all(&o);
    assert!(!o.status.success(), "{file}: verify accepted it:\n{out}");
    assert!(
        out.contains(naming),
        "{file}: the message does not name `{naming}`:\n{out}"
    );
    assert!(
        !out.bytes().any(|b| b == 0x1b || b == b'\r' || b == 0x07),
        "{file}: raw control bytes in the output: {out:?}"
    );
    let target = dir.join(format!("t-{file}"));
    let o = mb(dir, &["import", file, "--extract", target.to_str().unwrap()]);
    assert!(!o.status.success(), "{file}: import accepted it:\n{}", all(&o));
    assert!(!target.exists(), "{file}: import wrote {}", target.display());
}

fn with_entry(mut b: Entries, name: &str, mode: u32, data: &[u8]) -> Entries {
    b.push((raw_header(name.as_bytes(), data.len() as u64, mode), data.to_vec()));
    b
}

#[test]
fn seal_text_that_a_terminal_would_act_on_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    lab(d);
    let x = d.join("x.mbundle");
    let fake = "x)\r\x1b[1A\x1b[2Ksignature: signed by key SHA256:abc, verified\x1b[K";
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "reason.mbundle",
            Box::new(move |s: &mut Value| s["notCarried"]["reason"] = fake.into()),
            "notCarried.reason",
        ),
        (
            "site.mbundle",
            Box::new(|s: &mut Value| s["site"] = "lab\x1b]0;pwn\x07".into()),
            "site",
        ),
        (
            "bidi.mbundle",
            Box::new(|s: &mut Value| s["notCarried"]["reason"] = "ok \u{202e}gpj.sh".into()),
            "notCarried.reason",
        ),
        // Image references are read as references: no escape gets through.
        (
            "image.mbundle",
            Box::new(move |s: &mut Value| s["notCarried"]["images"][0] = fake.into()),
            "notCarried.images[0]",
        ),
        (
            "recipient.mbundle",
            Box::new(|s: &mut Value| s["secrets"]["recipients"] = serde_json::json!(["age1\u{2028}x"])),
            "secrets.recipients[0]",
        ),
    ];
    for (file, change, field) in cases {
        reseal(&x, &d.join(file), body(&x), change);
        refused(d, file, field);
    }
    // Entry names from the archive itself are printed escaped.
    let b = with_entry(body(&x), "tree/\x1b[1Aevil", 0o644, b"x");
    reseal(&x, &d.join("name.mbundle"), b, |_| {});
    refused(d, "name.mbundle", "tree/\\u{1b}[1Aevil");
    // Paths are plain printable ASCII: no bidirectional or line-separating characters.
    for (i, name) in [
        "tree/ops/evil\u{202e}hs.sh",
        "tree/ops/a\u{2028}b.sh",
        "tree/ops/a b.sh",
    ]
    .iter()
    .enumerate()
    {
        let file = format!("path{i}.mbundle");
        let b = with_entry(body(&x), name, 0o644, b"x");
        reseal(&x, &d.join(&file), b, |_| {});
        refused(d, &file, "printable ASCII");
    }
}

#[test]
fn entries_that_would_collide_once_laid_out_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    lab(d);
    let x = d.join("x.mbundle");
    let file = body(&x)
        .into_iter()
        .map(|(h, _)| name_of(&h))
        .find(|n| n.starts_with("files/"))
        .expect("the lab bundle carries a file");
    let cases: Vec<(&str, Renames, &str)> = vec![
        // tree/X lands where files/X does.
        ("same.mbundle", vec![(format!("tree/{file}"), 0o644)], "both land on"),
        // A file of the tree where a carried file's directory is.
        (
            "inside.mbundle",
            vec![(format!("tree/{file}/x"), 0o644)],
            "lands inside",
        ),
        // A sealed key loses `.age`, and lands where another entry's directory is.
        (
            "sealed.mbundle",
            vec![
                ("tree/secrets/ca.key.age".into(), 0o600),
                ("tree/secrets/ca.key/x".into(), 0o644),
            ],
            "lands inside",
        ),
        (
            "sealed-same.mbundle",
            vec![("tree/secrets/k.age".into(), 0o600), ("tree/secrets/k".into(), 0o644)],
            "both land on",
        ),
        // Names meshbundle keeps for itself at the top of the target.
        (
            "marker.mbundle",
            vec![("tree/.meshbundle".into(), 0o644)],
            "keeps for itself",
        ),
        (
            "old.mbundle",
            vec![("tree/.meshbundle-old/keep".into(), 0o644)],
            "keeps for itself",
        ),
        (
            "stage.mbundle",
            vec![("tree/.meshbundle-extract-999999-zz/keep.sh".into(), 0o755)],
            "keeps for itself",
        ),
        // 0700 is a directory's mode; no entry has it.
        ("dirmode.mbundle", vec![("tree/ops/x.sh".into(), 0o700)], "0700"),
    ];
    for (name, extra, naming) in cases {
        let mut b = body(&x);
        for (p, m) in &extra {
            b = with_entry(b, p, *m, b"x\n");
        }
        reseal(&x, &d.join(name), b, |_| {});
        refused(d, name, naming);
    }
}

#[test]
fn framing_that_readers_could_read_two_ways_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    lab(d);
    let x = d.join("x.mbundle");
    let seal = seal_of(&x);

    // The same seal, pretty-printed: the same content under another id.
    write(
        &d.join("pretty.mbundle"),
        serde_json::to_vec_pretty(&seal).unwrap(),
        &body(&x),
    );
    refused(d, "pretty.mbundle", "canonical");
    // A `.` written as `\u002e` in a path: the same again.
    let compact = String::from_utf8(serde_json::to_vec(&seal).unwrap()).unwrap();
    let escaped = compact.replacen("tree/install.sh", "tree/install\\u002esh", 1);
    assert_ne!(escaped, compact);
    write(&d.join("escaped.mbundle"), escaped.into_bytes(), &body(&x));
    refused(d, "escaped.mbundle", "canonical");

    // SEAL.sha256 with a carriage return, or spaces: only `ID\n` is the form.
    let list = entries(&x);
    for (file, form) in [("crlf.mbundle", "{}\r\n"), ("spaced.mbundle", "  {}\n")] {
        let mut l = list.clone();
        let id = format!("sha256:{}", sha256_hex(&l[0].1));
        set_data(&mut l[1], form.replace("{}", &id).into_bytes());
        let mut b = tar::Builder::new(std::fs::File::create(d.join(file)).unwrap());
        for (h, data) in &l {
            b.append(h, data.as_slice()).unwrap();
        }
        b.finish().unwrap();
        refused(d, file, "SEAL.sha256");
    }

    // SEAL.json as a directory entry.
    let mut l = list.clone();
    l[0].0.set_entry_type(tar::EntryType::Directory);
    l[0].0.set_cksum();
    let mut b = tar::Builder::new(std::fs::File::create(d.join("headtype.mbundle")).unwrap());
    for (h, data) in &l {
        b.append(h, data.as_slice()).unwrap();
    }
    b.finish().unwrap();
    refused(d, "headtype.mbundle", "SEAL.json");

    // A PAX header that gives the last entry another size than its header:
    // verify would hash one length and import read another.
    let mut l = list.clone();
    let (h, data) = l.pop().unwrap();
    let name = name_of(&h);
    let mut out = Vec::new();
    {
        let mut b = tar::Builder::new(&mut out);
        for (h, data) in &l {
            b.append(h, data.as_slice()).unwrap();
        }
        let record = {
            let body = format!(" size={}\n", data.len() - 1);
            let mut n = body.len() + 1;
            while format!("{n}{body}").len() != n {
                n = format!("{n}{body}").len();
            }
            format!("{n}{body}")
        };
        let mut x = tar::Header::new_ustar();
        x.set_path("PaxHeaders/x").unwrap();
        x.set_entry_type(tar::EntryType::XHeader);
        x.set_size(record.len() as u64);
        x.set_mode(0o644);
        x.set_cksum();
        b.append(&x, record.as_bytes()).unwrap();
        b.append(&h, data.as_slice()).unwrap();
        b.finish().unwrap();
    }
    std::fs::write(d.join("pax.mbundle"), out).unwrap();
    refused(d, "pax.mbundle", &name);
}

#[test]
fn a_seal_larger_than_any_site_needs_is_refused_before_it_is_parsed() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    lab(d);
    let x = d.join("x.mbundle");
    reseal(&x, &d.join("big.mbundle"), body(&x), |s| {
        s["spec"] = "#".repeat(17 << 20).into()
    });
    refused(d, "big.mbundle", "too large");
}

#[test]
fn inspect_judges_the_signature_by_the_sites_trust_policy() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    for k in ["release", "other"] {
        let o = mb(d, &["keygen", "-o", k]);
        assert!(o.status.success(), "{}", all(&o));
    }
    let o = mb(
        d,
        &[
            "build",
            "--example",
            "lab",
            "-o",
            "s.mbundle",
            "--quiet",
            "--sign",
            "release.key",
        ],
    );
    assert!(o.status.success(), "{}", all(&o));
    let inspect = |trusted: &str| {
        Command::new(bin())
            .args(["inspect", "s.mbundle"])
            .current_dir(d)
            .env("MESHBUNDLE_CONFIG_DIR", d.join("no-config"))
            .env("MESHBUNDLE_TRUSTED_KEYS", d.join(trusted))
            .output()
            .unwrap()
    };
    let o = inspect("release.pub");
    assert!(o.status.success() && all(&o).contains(", verified"), "{}", all(&o));
    let o = inspect("other.pub");
    assert!(
        !o.status.success(),
        "inspect reported a bundle the policy refuses as fine:\n{}",
        all(&o)
    );
    assert!(all(&o).contains("MESHBUNDLE_TRUSTED_KEYS"), "{}", all(&o));
}

#[test]
fn a_long_name_header_larger_than_any_path_is_refused_before_it_is_read() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    lab(d);
    let x = d.join("x.mbundle");
    // A GNU long name of 8 MiB before an entry: refused by its size, with a
    // short message, not read whole and printed back.
    let list = entries(&x);
    let mut out = Vec::new();
    {
        let mut b = tar::Builder::new(&mut out);
        for (h, data) in &list {
            b.append(h, data.as_slice()).unwrap();
        }
        let name = vec![b'a'; 8 << 20];
        let mut long = tar::Header::new_gnu();
        long.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
        long.set_entry_type(tar::EntryType::GNULongName);
        long.set_size(name.len() as u64);
        long.set_mode(0o644);
        long.set_cksum();
        b.append(&long, name.as_slice()).unwrap();
        b.append(&raw_header(b"tree/zz", 1, 0o644), &b"x"[..]).unwrap();
        b.finish().unwrap();
    }
    std::fs::write(d.join("long.mbundle"), out).unwrap();
    let o = mb(d, &["verify", "long.mbundle"]);
    assert!(!o.status.success());
    assert!(all(&o).contains("no path in a bundle is that long"), "{}", all(&o));
    assert!(all(&o).len() < 2000, "{} bytes of output", all(&o).len());
}

/// A change made to a seal before it is signed again.
type Edit = Box<dyn FnOnce(&mut Value)>;
/// Entries added to the tree: (path, mode).
type Renames = Vec<(String, u32)>;
