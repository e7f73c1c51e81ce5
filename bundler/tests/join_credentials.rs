//! The kubeadm join credentials (the bootstrap token and the certificate key
//! that encrypts the control-plane CA keys kubeadm uploads) are secrets: in
//! a render they live only in files of mode 0600, so a bundle seals them to
//! its recipients (or passphrase) and `--no-private-keys` leaves them out;
//! no command prints them.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::*;
use meshbundle_core::pki::SiteSecrets;
use meshbundle_core::render::{Inputs, render};
use meshbundle_core::tree::{FileTree, MODE_SECRET};

/// The values no file but a 0600 one may hold, with a name for messages.
fn needles(s: &SiteSecrets) -> Vec<(&'static str, String)> {
    let (_, secret) = s.kubeadm.token.as_str().split_once('.').expect("token is ID.SECRET");
    vec![
        ("the join token", s.kubeadm.token.as_str().to_string()),
        ("the token secret", secret.to_string()),
        ("the certificate key", s.kubeadm.certificate_key.as_str().to_string()),
    ]
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Every file holding a join credential is 0600, and no other file holds one.
fn assert_only_private_files_hold_them(name: &str, tree: &FileTree, s: &SiteSecrets) {
    let needles = needles(s);
    let mut holders = 0;
    for (path, f) in tree.iter() {
        let held: Vec<&str> = needles
            .iter()
            .filter(|(_, v)| contains(&f.bytes, v))
            .map(|(what, _)| *what)
            .collect();
        if held.is_empty() {
            continue;
        }
        holders += 1;
        assert_eq!(
            f.mode,
            MODE_SECRET,
            "{name}: {path} holds {} but has mode {:o}",
            held.join(", "),
            f.mode
        );
    }
    // Every node's kubeadm configuration needs them: the check above saw them.
    assert!(holders >= 1, "{name}: no file holds the join credentials at all");
}

#[test]
fn join_credentials_live_only_in_private_files_across_the_matrix() {
    for (name, site) in matrix() {
        let s = secrets(&site);
        let tree = render(
            &site,
            &Inputs {
                secrets: Some(&s),
                ..Default::default()
            },
        )
        .unwrap();
        assert_only_private_files_hold_them(name, &tree, &s);
        // Each node still gets its configuration, with what it needs.
        for n in &site.spec.nodes {
            let path = format!("nodes/{}/kubeadm.yaml", n.name);
            let f = tree.get(&path).unwrap_or_else(|| panic!("{name}: {path} missing"));
            assert!(
                contains(&f.bytes, s.kubeadm.token.as_str()),
                "{name}: {path} has no token"
            );
        }
        // The operations script that renews them holds neither.
        let renew = &tree.get("ops/renew-join-credentials.sh").unwrap().bytes;
        for (what, v) in needles(&s) {
            assert!(
                !contains(renew, &v),
                "{name}: ops/renew-join-credentials.sh holds {what}"
            );
        }
    }
}

#[test]
fn without_secrets_nothing_is_private_and_the_first_node_keeps_its_configuration() {
    let site = example("production");
    let tree = render(&site, &Inputs::default()).unwrap();
    assert!(
        tree.iter().all(|(_, f)| f.mode != MODE_SECRET),
        "a render without secrets has nothing secret"
    );
    let init = tree
        .get("nodes/cp-1/kubeadm.yaml")
        .expect("the InitConfiguration needs no secret");
    assert_eq!(init.mode, 0o644);
    let text = String::from_utf8(init.bytes.clone()).unwrap();
    assert!(
        !text.contains("bootstrapTokens") && !text.contains("certificateKey"),
        "{text}"
    );
    assert!(!tree.contains("nodes/cp-2/kubeadm.yaml") && !tree.contains("nodes/worker-1/kubeadm.yaml"));
    let renew = String::from_utf8(tree.get("ops/renew-join-credentials.sh").unwrap().bytes.clone()).unwrap();
    assert!(renew.contains("render with --secrets"), "{renew}");
}

/// A directory holding the production spec, fresh secrets and an age identity.
struct Site {
    dir: tempfile::TempDir,
    secrets: SiteSecrets,
    recipient: String,
}

fn site() -> Site {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("site.yaml"),
        meshbundle_core::examples::example("production").unwrap(),
    )
    .unwrap();
    let o = meshbundle(d, &["secrets", "generate", "site.yaml", "-o", "s.yaml"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let secrets = meshbundle_core::pki::parse_secrets(&std::fs::read_to_string(d.join("s.yaml")).unwrap()).unwrap();
    let o = Command::new("age-keygen")
        .arg("-o")
        .arg(d.join("operator.age"))
        .output()
        .expect("age-keygen (apt-get install age)");
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = Command::new("age-keygen")
        .arg("-y")
        .arg(d.join("operator.age"))
        .output()
        .unwrap();
    assert!(o.status.success());
    let recipient = text(&o.stdout).trim().to_string();
    std::fs::write(d.join("pass"), "correct horse battery staple\n").unwrap();
    std::fs::set_permissions(d.join("pass"), std::fs::Permissions::from_mode(0o600)).unwrap();
    Site {
        dir,
        secrets,
        recipient,
    }
}

fn assert_clean(what: &str, bytes: &[u8], s: &SiteSecrets) {
    for (name, v) in needles(s) {
        assert!(!contains(bytes, &v), "{what} holds {name}");
    }
}

/// The names of a bundle's entries.
fn entry_names(path: &Path) -> Vec<String> {
    let mut a = tar::Archive::new(std::fs::File::open(path).unwrap());
    a.entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn bundles_never_carry_join_credentials_in_the_clear() {
    let site = site();
    let d = site.dir.path();
    let s = &site.secrets;
    let builds: [(&str, Vec<&str>); 3] = [
        ("recipient.mbundle", vec!["--recipient", &site.recipient]),
        ("passphrase.mbundle", vec!["--passphrase-file", "pass"]),
        ("withheld.mbundle", vec!["--no-private-keys"]),
    ];
    // Every kind of build is built and searched before any is judged, so a
    // failure names each bundle that leaks.
    let mut leaks = Vec::new();
    for (out, extra) in &builds {
        let mut args = vec![
            "build",
            "--example",
            "production",
            "-o",
            out,
            "--secrets",
            "s.yaml",
            "--cache",
            "cache",
            "--quiet",
        ];
        args.extend(extra.iter().copied());
        let o = meshbundle(d, &args);
        assert!(o.status.success(), "{out}: {}", text(&o.stderr));
        assert_clean(
            &format!("build {out} output"),
            &[o.stdout.as_slice(), o.stderr.as_slice()].concat(),
            s,
        );
        let bytes = std::fs::read(d.join(out)).unwrap();
        for (name, v) in needles(s) {
            if contains(&bytes, &v) {
                leaks.push(format!("{out} holds {name}"));
            }
        }
    }
    assert!(leaks.is_empty(), "{}", leaks.join("\n"));
    for (out, _) in &builds {
        let names = entry_names(&d.join(out));
        let configs: Vec<&String> = names
            .iter()
            .filter(|n| n.starts_with("tree/nodes/") && n.contains("/kubeadm.yaml"))
            .collect();
        if *out == "withheld.mbundle" {
            assert!(configs.is_empty(), "{out}: --no-private-keys carries {configs:?}");
        } else {
            assert_eq!(
                configs.len(),
                example("production").spec.nodes.len(),
                "{out}: {names:#?}"
            );
            assert!(configs.iter().all(|n| n.ends_with(".age")), "{out}: {configs:?}");
        }
        for args in [
            vec!["inspect", out, "--format", "json"],
            vec!["inspect", out],
            vec!["verify", out, "--format", "json", "--quiet"],
        ] {
            let o = meshbundle(d, &args);
            assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
            assert_clean(
                &format!("{args:?}"),
                &[o.stdout.as_slice(), o.stderr.as_slice()].concat(),
                s,
            );
        }
    }
}

#[test]
fn no_command_prints_join_credentials() {
    let site = site();
    let d = site.dir.path();
    let s = &site.secrets;
    for mut args in [
        vec!["secrets", "show", "s.yaml"],
        vec!["secrets", "show", "--format", "json", "s.yaml"],
        vec!["render", "site.yaml", "--secrets", "s.yaml", "-o", "out"],
        vec!["render", "site.yaml", "--secrets", "s.yaml", "--tar", "out.tar.gz"],
        vec![
            "build",
            "--example",
            "production",
            "-o",
            "b.mbundle",
            "--secrets",
            "s.yaml",
            "--cache",
            "cache",
            "--format",
            "json",
        ],
        vec![
            "build",
            "--example",
            "production",
            "-o",
            "c.mbundle",
            "--secrets",
            "s.yaml",
            "--cache",
            "cache",
            "--no-private-keys",
        ],
    ] {
        if args[0] == "build" && !args.contains(&"--no-private-keys") {
            args.extend(["--recipient", site.recipient.as_str()]);
        }
        let o = meshbundle(d, &args);
        assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
        assert_clean(
            &format!("{args:?}"),
            &[o.stdout.as_slice(), o.stderr.as_slice()].concat(),
            s,
        );
    }
    // What render wrote: credentials only in files nobody else can read.
    for f in walk(&d.join("out")) {
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        let bytes = std::fs::read(&f).unwrap();
        if needles(s).iter().any(|(_, v)| contains(&bytes, v)) {
            assert_eq!(mode, 0o600, "{} holds a join credential", f.display());
        }
    }
    // The archive keeps the modes.
    let o = Command::new("tar")
        .args(["-tvzf"])
        .arg(d.join("out.tar.gz"))
        .output()
        .unwrap();
    let listing = text(&o.stdout);
    for line in listing.lines().filter(|l| l.ends_with("/kubeadm.yaml")) {
        assert!(line.starts_with("-rw-------"), "{line}");
    }
    assert_eq!(
        listing.lines().filter(|l| l.ends_with("/kubeadm.yaml")).count(),
        example("production").spec.nodes.len(),
        "{listing}"
    );
}
