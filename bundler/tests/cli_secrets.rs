//! The secrets commands as a user runs them.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::*;
use meshbundle_core::pki::{self, secrets::GenerateOptions};

fn init(dir: &Path) {
    assert!(meshbundle(dir, &["init", "-o", "site.yaml"]).status.success());
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// The 1-based line of the last of `lines`, each found after the one before.
fn line_of(text: &str, lines: &[&str]) -> usize {
    let mut at = 0;
    for want in lines {
        at += text
            .lines()
            .skip(at)
            .position(|l| l == *want)
            .unwrap_or_else(|| panic!("no `{want}`"))
            + 1;
    }
    at
}

#[test]
fn generate_show_rotate_render() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    init(d);
    let o = meshbundle(d, &["secrets", "generate", "site.yaml", "-o", "site.secrets.yaml"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(mode(&d.join("site.secrets.yaml")), 0o600);
    // It refuses to overwrite secrets: that would orphan every installed node.
    let o = meshbundle(d, &["secrets", "generate", "site.yaml", "-o", "site.secrets.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    // ... and says what --force would lose.
    let err = text(&o.stderr);
    assert!(
        err.contains("CAs") && err.contains("secrets rotate") && err.contains("--force"),
        "{err}"
    );

    let o = meshbundle(d, &["secrets", "show", "site.secrets.yaml"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("discovery hash: sha256:"));
    assert!(out.contains("istio.intermediates.prod-site") && out.contains("fingerprint: SHA256"));
    assert!(
        !out.contains("PRIVATE KEY") && !text(&o.stderr).contains("PRIVATE KEY"),
        "show never prints a key"
    );
    let s = pki::parse_secrets(&std::fs::read_to_string(d.join("site.secrets.yaml")).unwrap()).unwrap();
    assert!(
        !out.contains(s.kubeadm.certificate_key.as_str()),
        "nor the certificate key"
    );
    let o = meshbundle(d, &["secrets", "show", "--format", "json", "site.secrets.yaml"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["discoveryHash"], s.discovery_hash().unwrap());

    let o = meshbundle(d, &["secrets", "rotate", "site.yaml", "--secrets", "site.secrets.yaml"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let r = pki::parse_secrets(&std::fs::read_to_string(d.join("site.secrets.yaml")).unwrap()).unwrap();
    assert_eq!(r.istio.root, s.istio.root);
    assert_ne!(r.istio.intermediates, s.istio.intermediates);
    assert_eq!(mode(&d.join("site.secrets.yaml")), 0o600);
    // The file it replaced is kept, byte for byte, 0600, and named.
    let backups: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("site.secrets.yaml.")
                && p.extension().is_some_and(|e| e == "bak")
        })
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    assert_eq!(
        pki::parse_secrets(&std::fs::read_to_string(&backups[0]).unwrap())
            .unwrap()
            .istio
            .intermediates,
        s.istio.intermediates
    );
    assert_eq!(mode(&backups[0]), 0o600);
    assert!(
        text(&o.stderr).contains(&backups[0].file_name().unwrap().to_string_lossy().to_string()),
        "{}",
        text(&o.stderr)
    );
    // A second rotation within the same second keeps both earlier files.
    assert!(
        meshbundle(d, &["secrets", "rotate", "site.yaml", "--secrets", "site.secrets.yaml"])
            .status
            .success()
    );
    assert!(
        meshbundle(d, &["secrets", "rotate", "site.yaml", "--secrets", "site.secrets.yaml"])
            .status
            .success()
    );
    let n = std::fs::read_dir(d)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|e| e == "bak"))
        .count();
    assert_eq!(n, 3);
    let r = pki::parse_secrets(&std::fs::read_to_string(d.join("site.secrets.yaml")).unwrap()).unwrap();

    let o = meshbundle(
        d,
        &["render", "site.yaml", "--secrets", "site.secrets.yaml", "-o", "out"],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let join = std::fs::read_to_string(d.join("out/nodes/worker-1/kubeadm.yaml")).unwrap();
    assert!(join.contains(r.kubeadm.token.as_str()) && join.contains(&r.discovery_hash().unwrap()));
    assert_eq!(mode(&d.join("out/secrets/kubernetes-pki/ca.key")), 0o600);
    assert_eq!(mode(&d.join("out/secrets/istio-cacerts.yaml")), 0o600);
    assert_eq!(mode(&d.join("out/install.sh")), 0o755);
    // Rendering into a non-empty directory needs --force.
    let o = meshbundle(d, &["render", "site.yaml", "-o", "out"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        meshbundle(d, &["render", "site.yaml", "-o", "out", "--force"])
            .status
            .success()
    );
    assert!(
        !d.join("out/secrets").exists(),
        "a render without secrets replaced the old tree whole"
    );
}

#[test]
fn bad_secrets_files_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    init(d);
    assert!(
        meshbundle(d, &["secrets", "generate", "site.yaml", "-o", "good.yaml"])
            .status
            .success()
    );
    let good = std::fs::read_to_string(d.join("good.yaml")).unwrap();
    let s = pki::parse_secrets(&good).unwrap();
    let write = |name: &str, content: &str, m: u32| {
        let p = d.join(name);
        std::fs::write(&p, content).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(m)).unwrap();
    };

    write("loose.yaml", &good, 0o644);
    let o = meshbundle(d, &["render", "site.yaml", "--secrets", "loose.yaml", "-o", "out1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("others can read it") && text(&o.stderr).contains("chmod 600"),
        "{}",
        text(&o.stderr)
    );
    assert!(!d.join("out1").exists(), "nothing written");

    let mut swapped = s.clone();
    swapped.kubeadm.ca.key = s.kubeadm.etcd_ca.key.clone();
    write("swapped.yaml", &pki::write_secrets(&swapped).unwrap(), 0o600);
    let o = meshbundle(d, &["secrets", "show", "swapped.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    // At the line and column of the field: `key:` under `kubeadm:` `ca:`.
    let at = line_of(
        &std::fs::read_to_string(d.join("swapped.yaml")).unwrap(),
        &["kubeadm:", "  ca:", "    key: |"],
    );
    assert!(
        text(&o.stderr).contains(&format!(
            "swapped.yaml:{at}:5: kubeadm.ca.key: the private key does not belong to the certificate"
        )),
        "{}",
        text(&o.stderr)
    );

    let corrupted = good.replacen("MII", "M!I", 1);
    write("corrupted.yaml", &corrupted, 0o600);
    let o = meshbundle(d, &["secrets", "show", "corrupted.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("cannot read"), "{}", text(&o.stderr));

    write("junk.yaml", "kubeadm: [not, secrets]\n", 0o600);
    let o = meshbundle(d, &["secrets", "show", "junk.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("junk.yaml"), "{}", text(&o.stderr));

    // Secrets made eleven years ago: the ten-year CAs have expired.
    let site = example("production");
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let old = pki::generate(
        &site,
        &GenerateOptions {
            now: now() - 11 * 365 * 86_400,
            mesh_root: None,
            provided_tls: None,
        },
        &mut rng,
    )
    .unwrap();
    write("expired.yaml", &pki::write_secrets(&old).unwrap(), 0o600);
    let o = meshbundle(d, &["render", "site.yaml", "--secrets", "expired.yaml", "-o", "out2"]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(err.contains("kubeadm.ca.cert") && err.contains("expired"), "{err}");
    assert!(!err.contains("panicked"));

    // Secrets of another site.
    let mut other = site.clone();
    other.metadata.name = "elsewhere".into();
    let theirs = pki::generate(
        &other,
        &GenerateOptions {
            now: now(),
            mesh_root: None,
            provided_tls: None,
        },
        &mut rng,
    )
    .unwrap();
    write("theirs.yaml", &pki::write_secrets(&theirs).unwrap(), 0o600);
    let o = meshbundle(d, &["render", "site.yaml", "--secrets", "theirs.yaml", "-o", "out3"]);
    assert_eq!(o.status.code(), Some(1));
    let at = line_of(
        &std::fs::read_to_string(d.join("theirs.yaml")).unwrap(),
        &["site: elsewhere"],
    );
    assert!(
        text(&o.stderr).contains(&format!(
            "theirs.yaml:{at}:1: site: these secrets belong to site `elsewhere`"
        )),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn user_supplied_ingress_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    init(d);
    // A certificate from the site's own CA, made with openssl.
    let sh = |script: &str| {
        let o = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(d)
            .output()
            .unwrap();
        assert!(o.status.success(), "{script}: {}", text(&o.stderr));
    };
    sh(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt -days 30 -subj /CN=corp-ca 2>/dev/null",
    );
    sh(
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout tls.key -out tls.csr -subj /CN=shop.example.internal 2>/dev/null",
    );
    sh(
        "printf 'subjectAltName=DNS:shop.example.internal\\n' > ext.cnf && openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out tls.crt -days 30 -extfile ext.cnf 2>/dev/null",
    );
    let o = meshbundle(
        d,
        &[
            "secrets",
            "generate",
            "site.yaml",
            "--ingress-cert",
            "tls.crt",
            "--ingress-key",
            "tls.key",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let s = pki::parse_secrets(&std::fs::read_to_string(d.join("site.secrets.yaml")).unwrap()).unwrap();
    assert!(s.ingress.as_ref().unwrap().ca.is_none());
    // A key that does not match.
    let o = meshbundle(
        d,
        &[
            "secrets",
            "generate",
            "site.yaml",
            "-o",
            "x.yaml",
            "--ingress-cert",
            "tls.crt",
            "--ingress-key",
            "ca.key",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("does not belong"), "{}", text(&o.stderr));
    // A certificate that misses a host.
    sh("sed -i 's/shop.example.internal/other.example.internal/' site.yaml");
    let o = meshbundle(
        d,
        &[
            "secrets",
            "generate",
            "site.yaml",
            "-o",
            "y.yaml",
            "--ingress-cert",
            "tls.crt",
            "--ingress-key",
            "tls.key",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("does not cover `other.example.internal`"),
        "{}",
        text(&o.stderr)
    );
}
