//! `meshbundle spec set|insert|remove|rename` as a user runs them: the file keeps
//! every line but the one edited, its comments and its mode; a bad edit
//! leaves the file as it was and names the field.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const PRODUCTION: &str = include_str!("../../core/examples/production.yaml");

fn meshbundle(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshbundle"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run meshbundle")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn comments(t: &str) -> usize {
    t.lines().filter(|l| l.trim_start().starts_with('#')).count()
}

/// The lines of `a` that differ from `b`, and those of `b`, after the common ones at both ends.
fn changed(a: &str, b: &str) -> (Vec<String>, Vec<String>) {
    let a: Vec<&str> = a.lines().collect();
    let b: Vec<&str> = b.lines().collect();
    let pre = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let max = a.len().min(b.len()) - pre;
    let suf = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take(max)
        .take_while(|(x, y)| x == y)
        .count();
    (
        a[pre..a.len() - suf].iter().map(|s| s.to_string()).collect(),
        b[pre..b.len() - suf].iter().map(|s| s.to_string()).collect(),
    )
}

fn site() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("meshbundle.yaml");
    std::fs::write(&file, PRODUCTION).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    (dir, file)
}

#[test]
fn set_changes_one_line_in_place_and_keeps_comments_and_mode() {
    let (dir, file) = site();
    let o = meshbundle(dir.path(), &["spec", "set", "spec.nodes[2].address", "10.0.0.14"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        changed(PRODUCTION, &out),
        (
            vec!["      address: 10.0.0.13".into()],
            vec!["      address: 10.0.0.14".into()]
        )
    );
    assert_eq!(comments(&out), comments(PRODUCTION));
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o640);
    // No temporary file is left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    // The edited file is a valid spec with the new address.
    let v = meshbundle(dir.path(), &["validate", "meshbundle.yaml"]);
    assert!(v.status.success(), "{}", text(&v.stderr));
    let site: meshbundle_core::spec::Site = meshbundle_core::yaml::from_str(&out).unwrap();
    assert_eq!(site.spec.nodes[2].address.to_string(), "10.0.0.14");
}

#[test]
fn values_read_as_yaml_and_are_written_to_read_the_same() {
    let (dir, file) = site();
    let o = meshbundle(dir.path(), &["spec", "set", "spec.istio.ingressGateway.replicas", "4"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = meshbundle(dir.path(), &["spec", "set", "metadata.description", "--string", "yes"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = std::fs::read_to_string(&file).unwrap();
    // Same lines but two: each edit changed its own line only.
    assert_eq!(out.lines().count(), PRODUCTION.lines().count());
    let diff: Vec<(&str, &str)> = PRODUCTION.lines().zip(out.lines()).filter(|(a, b)| a != b).collect();
    assert_eq!(
        diff,
        vec![
            (
                "  description: Production cluster, three zones",
                "  description: \"yes\""
            ),
            ("      replicas: 3", "      replicas: 4")
        ]
    );
    assert!(out.contains("\n      replicas: 4\n      hpa:"), "{out}");
    let site: meshbundle_core::spec::Site = meshbundle_core::yaml::from_str(&out).unwrap();
    assert_eq!(site.metadata.description.as_deref(), Some("yes"));
}

#[test]
fn insert_then_remove_gives_the_file_back() {
    let (dir, file) = site();
    let o = meshbundle(
        dir.path(),
        &[
            "spec",
            "insert",
            "spec.istio.ingressGateway.hosts[1]",
            "api.example.internal",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        changed(PRODUCTION, &out),
        (vec![], vec!["        - api.example.internal".to_string()])
    );
    let o = meshbundle(dir.path(), &["spec", "remove", "spec.istio.ingressGateway.hosts[1]"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), PRODUCTION);

    // An item inserted into a list the file did not have (and the mappings
    // made for it), then removed: the file comes back as it was, not with
    // `jwt:` holding an empty list.
    let o = meshbundle(
        dir.path(),
        &[
            "spec",
            "insert",
            "spec.security.jwt.issuers[0]",
            "{issuer: https://idp.example.internal, jwks: '{\"keys\": []}'}",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .contains("\n    jwt:\n      issuers:\n")
    );
    let o = meshbundle(dir.path(), &["spec", "remove", "spec.security.jwt.issuers[0]"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), PRODUCTION);
}

#[test]
fn stdin_to_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_meshbundle"))
        .args(["spec", "set", "spec.kubernetes.podSubnet", "10.245.0.0/16", "-f", "-"])
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(PRODUCTION.as_bytes()).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert_eq!(
        changed(PRODUCTION, &out),
        (
            vec!["    podSubnet: 10.244.0.0/16".into()],
            vec!["    podSubnet: 10.245.0.0/16".into()]
        )
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_bad_edit_leaves_the_file_and_names_the_field() {
    let (dir, file) = site();
    for (args, says) in [
        (
            vec!["spec", "set", "spec.nodes[9].address", "10.0.0.1"],
            "spec.nodes[9].address: spec.nodes has 6 items",
        ),
        (
            vec!["spec", "set", "spec.timezone.zone", "x"],
            "spec.timezone.zone: spec.timezone is text, not a mapping\n  hint: `spec.timezone` has no fields",
        ),
        (vec!["spec", "remove", "spec.nodes[6]"], "spec.nodes[6]"),
        (vec!["spec", "set", "spec.nodes[", "x"], "spec.nodes["),
    ] {
        let o = meshbundle(dir.path(), &args);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("meshbundle.yaml: ") && err.contains(says),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), PRODUCTION);
    }
    // Broken YAML is never rewritten: the error gives its line.
    let broken = PRODUCTION.replace("  timezone: Etc/UTC", "  timezone Etc/UTC\n  x: [");
    std::fs::write(&file, &broken).unwrap();
    let o = meshbundle(dir.path(), &["spec", "set", "spec.registry", "10.0.0.6:5000"]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    // As `validate` gives a place: FILE:LINE:COL.
    let line = broken.lines().position(|l| l == "  x: [").unwrap() + 1;
    assert!(
        err.contains(&format!("error: meshbundle.yaml:{line}:")) && err.contains(": the YAML does not parse: "),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), broken);
    // A document that is not a mapping says so, with what a spec is.
    std::fs::write(&file, "- a\n- b\n").unwrap();
    let o = meshbundle(dir.path(), &["spec", "set", "spec.registry", "10.0.0.6:5000"]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the document is a list, not a mapping\n  hint: a site spec is a YAML mapping"),
        "{err}"
    );
    // A value that is not YAML is a usage error.
    std::fs::write(&file, PRODUCTION).unwrap();
    let o = meshbundle(dir.path(), &["spec", "set", "spec.registry", "[unclosed"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("--string"));
}

/// A certificate given as text (`--string "$(cat ca.crt)"`, which drops the
/// last line break) is written as a literal block, a line of YAML for each
/// of its lines, and the spec reads it back whole: validate accepts it, and
/// the render writes it as containerd's registry CA, which openssl reads.
#[test]
fn a_certificate_is_written_as_a_literal_block() {
    let (dir, file) = site();
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ])
        .args([
            "-keyout",
            "ca.key",
            "-subj",
            "/CN=registry-ca",
            "-days",
            "1",
            "-out",
            "ca.crt",
        ])
        .current_dir(dir.path())
        .stderr(Stdio::null())
        .status()
        .expect("run openssl");
    assert!(status.success());
    let pem = std::fs::read_to_string(dir.path().join("ca.crt")).unwrap();
    let before = std::fs::read_to_string(&file).unwrap();
    let o = meshbundle(
        dir.path(),
        &["spec", "set", "spec.containerd.registryCA", "--string", pem.trim_end()],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = std::fs::read_to_string(&file).unwrap();
    let (old, new) = changed(&before, &out);
    assert!(old.is_empty(), "only lines added: {old:?}");
    let block: Vec<String> = pem.lines().map(|l| format!("      {l}")).collect();
    assert_eq!(
        new[new.len() - block.len() - 1].trim_start(),
        "registryCA: |-",
        "{new:?}"
    );
    assert_eq!(new[new.len() - block.len()..], block[..], "{new:?}");
    let o = meshbundle(dir.path(), &["validate", "meshbundle.yaml"]);
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    let o = meshbundle(dir.path(), &["render", "-o", "out", "meshbundle.yaml"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let written = walk(&dir.path().join("out"))
        .into_iter()
        .find(|p| std::fs::read_to_string(p).is_ok_and(|t| t == pem.trim_end() || t.trim_end() == pem.trim_end()))
        .expect("the render writes the registry CA");
    let read = Command::new("openssl")
        .args(["x509", "-noout", "-subject", "-in"])
        .arg(&written)
        .output()
        .expect("run openssl");
    assert!(
        read.status.success() && text(&read.stdout).contains("registry-ca"),
        "{}",
        text(&read.stderr)
    );
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// `spec rename` changes the one line that holds the key: its value and
/// comment stay, and so does its place; a name already taken is refused.
#[test]
fn rename_keeps_the_value_comment_and_place() {
    let (dir, file) = site();
    let commented = PRODUCTION.replace(
        "      net.core.somaxconn: \"32768\"",
        "      net.core.somaxconn: \"32768\" # listen queue",
    );
    std::fs::write(&file, &commented).unwrap();
    let o = meshbundle(
        dir.path(),
        &[
            "spec",
            "rename",
            "spec.tuning.sysctl[\"net.core.somaxconn\"]",
            "net.ipv4.tcp_fin_timeout",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        changed(&commented, &out),
        (
            vec!["      net.core.somaxconn: \"32768\" # listen queue".to_string()],
            vec!["      net.ipv4.tcp_fin_timeout: \"32768\" # listen queue".to_string()]
        )
    );
    let o = meshbundle(
        dir.path(),
        &[
            "spec",
            "rename",
            "spec.tuning.sysctl[\"net.ipv4.tcp_fin_timeout\"]",
            "vm.max_map_count",
        ],
    );
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("already a key"), "{}", text(&o.stderr));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        out,
        "the file is left as it was"
    );
}

/// A symbolic link is followed: the file it names is edited and the link
/// stays a link.
#[test]
fn a_link_is_followed_and_stays_a_link() {
    let (dir, file) = site();
    let link = dir.path().join("link.yaml");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    let o = meshbundle(
        dir.path(),
        &["spec", "set", "metadata.name", "via-link", "-f", "link.yaml"],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(),
        "still a link"
    );
    assert!(std::fs::read_to_string(&file).unwrap().contains("  name: via-link\n"));
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o640,
        "mode kept"
    );
}

/// What cannot be edited in place is refused before anything is written:
/// a read-only file, a directory, a path with an empty key, an edit that
/// would make the spec larger than a spec may be.
#[test]
fn what_cannot_be_edited_in_place_is_refused_and_the_file_kept() {
    let (dir, file) = site();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o444)).unwrap();
    let o = meshbundle(dir.path(), &["spec", "set", "metadata.name", "x"]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("meshbundle.yaml is not writable (mode 0444, read-only): nothing was changed"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), PRODUCTION);
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();

    std::fs::create_dir(dir.path().join("d.yaml")).unwrap();
    let o = meshbundle(dir.path(), &["spec", "set", "metadata.name", "x", "-f", "d.yaml"]);
    assert!(
        text(&o.stderr).contains("error: d.yaml is a directory\n  hint: give the path of a spec file"),
        "{}",
        text(&o.stderr)
    );

    for path in ["spec.", "spec..nodes"] {
        let o = meshbundle(dir.path(), &["spec", "set", path, "x"]);
        assert!(!o.status.success(), "{path}");
        assert!(
            text(&o.stderr).contains("empty key in the field path"),
            "{path}: {}",
            text(&o.stderr)
        );
    }

    // A spec just under the limit, which one more value takes over it.
    let full = format!("{PRODUCTION}# {}\n", "x".repeat((1 << 20) - PRODUCTION.len() - 10));
    std::fs::write(&file, &full).unwrap();
    let o = meshbundle(
        dir.path(),
        &[
            "spec",
            "set",
            "metadata.description",
            "--string",
            "a description longer than the room left",
        ],
    );
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("more than the 1048576 a spec may be: nothing was changed"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), full);
}

/// A value is what the user means: `1.30` in a field of text is the text
/// 1.30 (not the number 1.3), and a certificate of several lines keeps its
/// lines.
#[test]
fn values_keep_the_meaning_the_user_gave_them() {
    let (dir, file) = site();
    let o = meshbundle(dir.path(), &["spec", "set", "spec.kubernetes.version", "1.30"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .contains("  version: \"1.30\"\n")
    );
    let o = meshbundle(
        dir.path(),
        &["spec", "set", "spec.tuning.sysctl[\"net.core.somaxconn\"]", "4096"],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = std::fs::read_to_string(&file).unwrap();
    assert!(out.contains("net.core.somaxconn: \"4096\""), "{out}");
    let pem = "-----BEGIN CERTIFICATE-----\nMIIBezCC\nAAAA\n-----END CERTIFICATE-----";
    let o = meshbundle(dir.path(), &["spec", "set", "metadata.description", pem]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = std::fs::read_to_string(&file).unwrap();
    assert!(
        out.contains("  description: |-\n    -----BEGIN CERTIFICATE-----\n    MIIBezCC\n"),
        "{out}"
    );
}
