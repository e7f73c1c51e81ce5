//! What a worker's extraction (`meshbundle import --extract DIR --node
//! worker-1`) can run of the operations: the files are exactly those
//! `NodeLayout` gives the worker, written with their modes, and the scripts
//! run under bash against a scratch root, with the real openssl reading
//! certificates made here.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use common::*;
use meshbundle_core::layout::node_files;
use meshbundle_core::render::{Inputs, render};

/// Writes the files node `name` of the production example gets into `dir`.
fn lay_out(name: &str, dir: &Path) {
    let site = example("production");
    let s = secrets(&site);
    let tree = render(
        &site,
        &Inputs {
            secrets: Some(&s),
            ..Default::default()
        },
    )
    .unwrap();
    for path in node_files(&site, name, &tree).unwrap() {
        let f = tree.get(path).unwrap();
        let dest = dir.join(path);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::write(&dest, &f.bytes).unwrap();
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(f.mode)).unwrap();
    }
}

fn run(dir: &Path, root: &Path, args: &[&str]) -> Output {
    Command::new("bash")
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", "/usr/bin:/bin:/usr/sbin:/sbin")
        .env("MESHBUNDLE_SYSROOT", root)
        .env("HOME", root.join("root"))
        .output()
        .unwrap()
}

fn openssl(args: &[&str]) {
    let o = Command::new("openssl").args(args).output().unwrap();
    assert!(o.status.success(), "openssl {args:?}: {}", text(&o.stderr));
}

#[test]
fn a_worker_checks_its_own_certificates_and_is_sent_to_a_control_plane_node_to_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("worker-1");
    lay_out("worker-1", &dir);
    let root = tmp.path().join("root");

    // What kubeadm join leaves on a worker: the cluster CA, and the kubelet's
    // rotated client certificate (a kubelet.conf that points at it by path).
    let pki = root.join("etc/kubernetes/pki");
    let kubelet = root.join("var/lib/kubelet/pki");
    std::fs::create_dir_all(&pki).unwrap();
    std::fs::create_dir_all(&kubelet).unwrap();
    std::fs::create_dir_all(root.join("root")).unwrap();
    let ca = pki.join("ca.crt");
    let ca_key = tmp.path().join("ca.key");
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "3650",
        "-subj",
        "/CN=kubernetes",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-keyout",
        ca_key.to_str().unwrap(),
        "-out",
        ca.to_str().unwrap(),
    ]);
    let client = kubelet.join("kubelet-client-current.pem");
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "365",
        "-subj",
        "/O=system:nodes/CN=system:node:worker-1",
        "-keyout",
        tmp.path().join("client.key").to_str().unwrap(),
        "-out",
        client.to_str().unwrap(),
    ]);
    std::fs::write(
        root.join("etc/kubernetes/kubelet.conf"),
        "users:\n- name: default-auth\n  user:\n    client-certificate: /var/lib/kubelet/pki/kubelet-client-current.pem\n",
    )
    .unwrap();

    // cert-expiry.sh is there, runs from the worker's files alone, reads the
    // kubelet's certificate and leaves the cluster's to a control-plane node.
    let script = dir.join("ops/cert-expiry.sh");
    assert_eq!(std::fs::metadata(&script).unwrap().permissions().mode() & 0o777, 0o755);
    let o = run(&dir, &root, &["ops/cert-expiry.sh"]);
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(
        out.contains("ok: /var/lib/kubelet/pki/kubelet-client-current.pem"),
        "{out}"
    );
    assert!(out.contains("ok: /etc/kubernetes/pki/ca.crt"), "{out}");
    assert!(out.contains("check them on a control-plane node"), "{out}");
    // Within 400 days the kubelet's certificate runs out: reported, with its renewal.
    let o = run(&dir, &root, &["ops/cert-expiry.sh", "400"]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("EXPIRING within 400 days: /var/lib/kubelet/pki/kubelet-client-current.pem"),
        "{err}"
    );
    assert!(err.contains("the kubelet renews it itself"), "{err}");

    // Nothing else of ops/: install.sh verify says where to run it, and runs nothing.
    assert!(!dir.join("ops/verify.sh").exists());
    let o = run(&dir, &root, &["install.sh", "verify"]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("this node has no ops/verify.sh: run ./install.sh verify on a control-plane node"),
        "{err}"
    );

    // A control-plane node's extraction has it, and install.sh verify runs it.
    let cp = tmp.path().join("cp-2");
    lay_out("cp-2", &cp);
    assert!(cp.join("ops/verify.sh").exists() && cp.join("ops/cert-expiry.sh").exists());
    let install = std::fs::read_to_string(cp.join("install.sh")).unwrap();
    assert!(
        install.contains("exec \"$HERE/ops/verify.sh\""),
        "install.sh verify runs ops/verify.sh"
    );
}
