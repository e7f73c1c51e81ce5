//! Shell metacharacters in every field of the spec, the lock and the secrets
//! file that reaches a generated script. Each value is either refused when
//! it is read or validated (naming its field), or inert: the rendered
//! scripts pass `bash -n`, and running every one of them (with the system
//! commands replaced by stubs that record their arguments) never runs the
//! payload, which would create a marker file.
//!
//! The fields that reach scripts, from the render code: metadata.name (the
//! header of every script), nodes' names and addresses, the time zone, the
//! registry and the Kubernetes and Istio versions (image references and the
//! revision), the API endpoint, the mesh namespaces, the gateways' names and
//! namespaces, the ingress TLS secret; from the lock, every digest (images,
//! platforms, carried) and every file's name and sha256; from the secrets,
//! the bootstrap token and the certificate key.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::*;
use meshbundle_core::render::{Inputs, render};
use meshbundle_core::spec::load::load;
use serde_json::{Value, json};

/// Values that run `touch MARKER` if a script evaluates them.
fn payloads(marker: &Path) -> Vec<String> {
    let m = marker.display();
    vec![
        format!("$(touch {m})"),
        format!("`touch {m}`"),
        format!("x;touch {m}"),
        format!("x';touch {m};'"),
        format!("x\";touch {m};\""),
        format!("x\ntouch {m}\n"),
        format!("x\\\";touch {m}"),
        format!("${{IFS}}$(touch${{IFS}}{m})"),
    ]
}

const STUBS: &[&str] = &[
    "kubeadm",
    "kubectl",
    "istioctl",
    "systemctl",
    "sysctl",
    "modprobe",
    "swapoff",
    "crictl",
    "timedatectl",
    "ip",
    "conntrack",
    "socat",
    "ethtool",
    "iptables",
    "nsenter",
    "uname",
    "openssl",
];

const STUB: &str = "#!/bin/sh\necho \"$(basename \"$0\") $*\" >>\"$MB_LOG\"\nexit 0\n";

fn production_json() -> Value {
    let mut v = serde_json::to_value(example("production")).unwrap();
    v["spec"]["images"] = json!([{"name": "registry.example.com/shop/web:1.4.2", "source": "oci:/srv/web"}]);
    v["spec"]["files"] = json!([{"name": "tool", "url": "https://example.com/tool", "sha256": "ab".repeat(32)}]);
    v["spec"]["istio"]["namespaces"] = json!(["payments"]);
    v
}

/// The spec's fields that reach a script (and a few free-text ones beside
/// them), as a JSON pointer and the field path diagnostics use.
const SPEC_FIELDS: &[(&str, &str)] = &[
    ("/metadata/name", "metadata.name"),
    ("/spec/nodes/0/name", "spec.nodes[0].name"),
    ("/spec/nodes/3/name", "spec.nodes[3].name"),
    ("/spec/nodes/0/address", "spec.nodes[0].address"),
    ("/spec/nodes/4/address", "spec.nodes[4].address"),
    ("/spec/nodes/0/zone", "spec.nodes[0].zone"),
    ("/spec/timezone", "spec.timezone"),
    ("/spec/registry", "spec.registry"),
    (
        "/spec/kubernetes/controlPlaneEndpoint",
        "spec.kubernetes.controlPlaneEndpoint",
    ),
    ("/spec/kubernetes/version", "spec.kubernetes.version"),
    ("/spec/istio/version", "spec.istio.version"),
    ("/spec/containerd/version", "spec.containerd.version"),
    ("/spec/istio/namespaces/0", "spec.istio.namespaces[0]"),
    ("/spec/istio/ingressGateway/name", "spec.istio.ingressGateway.name"),
    (
        "/spec/istio/ingressGateway/namespace",
        "spec.istio.ingressGateway.namespace",
    ),
    (
        "/spec/istio/ingressGateway/tls/credentialName",
        "spec.istio.ingressGateway.tls.credentialName",
    ),
    (
        "/spec/istio/ingressGateway/hosts/0",
        "spec.istio.ingressGateway.hosts[0]",
    ),
    (
        "/spec/istio/ingressGateway/routes/0/namespace",
        "spec.istio.ingressGateway.routes[0].namespace",
    ),
    (
        "/spec/istio/ingressGateway/routes/0/service",
        "spec.istio.ingressGateway.routes[0].service",
    ),
    ("/spec/istio/egressGateway/name", "spec.istio.egressGateway.name"),
    (
        "/spec/istio/egressGateway/namespace",
        "spec.istio.egressGateway.namespace",
    ),
    ("/spec/images/0/name", "spec.images[0].name"),
    ("/spec/images/0/source", "spec.images[0].source"),
    ("/spec/files/0/name", "spec.files[0].name"),
    ("/spec/files/0/url", "spec.files[0].url"),
    ("/spec/files/0/sha256", "spec.files[0].sha256"),
];

/// A lock for the production example: every image and file it needs, with
/// made-up digests, as the JSON a lock file holds.
fn lock_json() -> Value {
    let site: meshbundle_core::spec::Site = serde_json::from_value(production_json()).unwrap();
    let needs = meshbundle_core::catalog::needs(&site).unwrap();
    let images: Vec<Value> = needs
        .images
        .iter()
        .enumerate()
        .map(|(i, img)| json!({"name": img.upstream.tagged(), "digest": format!("sha256:{:064x}", i + 1)}))
        .collect();
    let files: Vec<Value> = needs
        .files
        .iter()
        .enumerate()
        .map(|(i, f)| json!({"name": f.name, "url": f.url, "sha256": format!("{:064x}", 1000 + i), "size": 1}))
        .collect();
    let mut v = json!({"apiVersion": "meshbundle.dev/v1alpha1", "kind": "Lock", "images": images, "files": files});
    // One index image with platforms and a carried digest.
    v["images"][0]["mediaType"] = json!("application/vnd.oci.image.index.v1+json");
    v["images"][0]["platforms"] = json!([{"platform": "linux/amd64", "digest": format!("sha256:{:064x}", 900)}]);
    v["images"][0]["carriedDigest"] = json!(format!("sha256:{:064x}", 901));
    v
}

fn yaml(v: &Value) -> String {
    meshbundle_core::yaml::to_string(v).unwrap()
}

fn set(v: &Value, pointer: &str, value: &str) -> Value {
    let mut v = v.clone();
    *v.pointer_mut(pointer).unwrap_or_else(|| panic!("no {pointer}")) = Value::String(value.to_string());
    v
}

fn secrets_json() -> Value {
    let text = std::fs::read_to_string(repo().join("tests/fixtures/production.secrets.yaml")).unwrap();
    meshbundle_core::yaml::from_str(&text).unwrap()
}

/// Renders, checks every script with `bash -n`, runs every one of them with
/// stubs, and checks the marker never appeared. False when the render itself
/// refused the inputs.
fn scripts_are_inert(
    dir: &Path,
    lock_text: Option<&str>,
    secrets_text: Option<&str>,
    spec_text: &str,
    marker: &Path,
    what: &str,
) -> bool {
    let site = load(spec_text)
        .site
        .unwrap_or_else(|| panic!("{what}: the spec does not load"));
    let lock = lock_text.map(|t| meshbundle_core::lock::parse(t).unwrap());
    let secrets = secrets_text.map(|t| meshbundle_core::pki::parse_secrets(t).unwrap());
    let tree = match render(
        &site,
        &Inputs {
            lock: lock.as_ref(),
            secrets: secrets.as_ref(),
            ..Default::default()
        },
    ) {
        Ok(t) => t,
        Err(e) => {
            // Refused when rendering (the secrets do not fit): nothing to run.
            assert!(!e.to_string().is_empty());
            return false;
        }
    };
    let out = dir.join("tree");
    let _ = std::fs::remove_dir_all(&out);
    write_tree(&tree, &out);
    let stubs = dir.join("stubs");
    std::fs::create_dir_all(&stubs).unwrap();
    for s in STUBS {
        let p = stubs.join(s);
        std::fs::write(&p, STUB).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let sysroot = dir.join("root");
    std::fs::create_dir_all(sysroot.join("etc")).unwrap();
    let scripts: Vec<String> = tree
        .paths()
        .filter(|p| p.ends_with(".sh"))
        .map(str::to_string)
        .collect();
    assert!(scripts.len() > 5, "{what}: {scripts:?}");
    for s in &scripts {
        let o = Command::new("bash").arg("-n").arg(out.join(s)).output().unwrap();
        assert!(o.status.success(), "{what}: {s} is not valid bash: {}", text(&o.stderr));
    }
    let mut runs: Vec<Vec<String>> = scripts
        .iter()
        .filter(|s| *s != "common/lib.sh")
        .map(|s| vec![s.clone()])
        .collect();
    runs.push(vec!["install.sh".into(), "cluster".into()]);
    runs.push(vec!["install.sh".into(), "verify".into()]);
    runs.push(vec!["install.sh".into(), "node".into()]);
    for args in &runs {
        let o = Command::new("bash")
            .args(args)
            .current_dir(&out)
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin:/usr/sbin:/sbin", stubs.display()))
            .env("HOME", sysroot.join("root"))
            .env("MESHBUNDLE_SYSROOT", &sysroot)
            .env("MB_LOG", dir.join("calls.log"))
            .env("TIMEOUT", "1s")
            .output()
            .unwrap();
        assert!(
            !marker.exists(),
            "{what}: running {args:?} ran the payload\nstderr:\n{}",
            text(&o.stderr)
        );
    }
    true
}

#[test]
fn spec_values_are_refused_or_inert() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("MARKER");
    let base = production_json();
    assert!(
        !load(&yaml(&base)).has_errors(),
        "{:#?}",
        load(&yaml(&base)).diagnostics
    );
    let mut inert = Vec::new();
    for (pointer, path) in SPEC_FIELDS {
        for p in payloads(&marker) {
            let text = yaml(&set(&base, pointer, &p));
            let l = load(&text);
            if l.has_errors() {
                let errors: Vec<_> = l.diagnostics.iter().filter(|d| d.is_error()).collect();
                assert!(
                    errors
                        .iter()
                        .any(|d| d.path == *path || d.path.starts_with(&format!("{path}."))),
                    "{path} = {p:?}: refused, but not at its field: {errors:#?}"
                );
                assert!(
                    errors.iter().all(|d| d.line > 0),
                    "{path}: every error has a line: {errors:#?}"
                );
            } else {
                inert.push((path, p.clone()));
                assert!(
                    scripts_are_inert(dir.path(), None, None, &text, &marker, &format!("{path} = {p:?}")),
                    "{path}: rendered"
                );
            }
        }
    }
    assert!(!marker.exists());
    // The fields a script uses are all refused; only free text that no script
    // sees is accepted.
    assert!(!inert.is_empty());
    for (path, _) in &inert {
        assert!(
            ["spec.files[0].url", "spec.images[0].source"].contains(path),
            "{path} accepted a shell payload"
        );
    }
}

#[test]
fn lock_values_are_refused_when_read_naming_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("MARKER");
    let base = lock_json();
    let good = yaml(&base);
    meshbundle_core::lock::parse(&good).unwrap();
    let upper = format!("sha256:{}", "AB".repeat(32));
    let fields = [
        ("/files/0/sha256", "files[0].sha256"),
        ("/files/5/sha256", "files[5].sha256"),
        ("/files/0/name", "files[0].name"),
        ("/images/0/digest", "images[0].digest"),
        ("/images/3/digest", "images[3].digest"),
        ("/images/0/carriedDigest", "images[0].carriedDigest"),
        ("/images/0/platforms/0/digest", "images[0].platforms[0].digest"),
        ("/images/0/name", "images[0].name"),
        ("/images/0/platforms/0/platform", "images[0].platforms[0].platform"),
        ("/images/0/mediaType", "images[0].mediaType"),
    ];
    for (pointer, field) in fields {
        let mut values = payloads(&marker);
        values.push(format!("sha256:{}$(touch {})", "a".repeat(40), marker.display()));
        if field.ends_with("sha256") {
            values.push("AB".repeat(32));
        } else if field.ends_with("igest") {
            values.push(upper.clone());
        }
        values.push("../../../etc/passwd".into());
        for p in values {
            let text = yaml(&set(&base, pointer, &p));
            let e = match meshbundle_core::lock::parse(&text) {
                Ok(_) => panic!("{field} = {p:?} is accepted"),
                Err(e) => e.to_string(),
            };
            assert!(e.contains(&format!(": {field}: ")), "{field} = {p:?}: {e}");
            let (at, _) = e.split_once(": ").unwrap();
            let (l, c) = at
                .split_once(':')
                .unwrap_or_else(|| panic!("{field}: no line:column in {e}"));
            let line: usize = l.parse().unwrap();
            assert!(c.parse::<u32>().unwrap() > 0);
            let key = field.rsplit('.').next().unwrap();
            assert!(
                text.lines().nth(line - 1).unwrap().contains(key),
                "{field}: line {line} is not the field's: {e}"
            );
            assert!(e.len() < 600, "the error does not echo the value at length: {e}");
        }
    }
    // A file's URL reaches no script: it must be the one the spec needs,
    // else the pin is stale and render refuses it.
    let spec_text = yaml(&production_json());
    {
        let p = format!("$(touch {})", marker.display());
        let text = yaml(&set(&base, "/files/0/url", &p));
        let site = load(&spec_text).site.unwrap();
        let lock = meshbundle_core::lock::parse(&text).unwrap();
        let e = render(
            &site,
            &Inputs {
                lock: Some(&lock),
                ..Default::default()
            },
        )
        .expect_err("a lock pinning a file for another URL renders");
        assert!(e.to_string().contains("pinned for"), "{e}");
    }
    assert!(!marker.exists());
}

#[test]
fn lock_sha256_command_is_refused_by_the_cli_with_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("MARKER");
    std::fs::write(dir.path().join("meshbundle.yaml"), yaml(&production_json())).unwrap();
    let good = yaml(&lock_json());
    // The file's sha256, written as a shell command, as a careless or hostile
    // editor would.
    let bad = good.replacen(
        &format!("sha256: {:064x}", 1004),
        &format!("sha256: $(touch {})", marker.display()),
        1,
    );
    assert_ne!(bad, good);
    let line = bad.lines().position(|l| l.contains("$(touch")).unwrap() + 1;
    std::fs::write(dir.path().join("bad.lock"), &bad).unwrap();
    let o = meshbundle(
        dir.path(),
        &["render", "meshbundle.yaml", "--lock", "bad.lock", "-o", "out"],
    );
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(err.contains(&format!("bad.lock:{line}:")), "{err}");
    assert!(err.contains("files[4].sha256"), "{err}");
    assert!(!dir.path().join("out").exists(), "nothing is written");
    assert!(!marker.exists());
}

#[test]
fn lock_image_names_are_refused_by_the_cli_with_file_line_field_and_hint() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("MARKER");
    std::fs::write(dir.path().join("meshbundle.yaml"), yaml(&production_json())).unwrap();
    let base = lock_json();
    for (i, bad) in [
        format!("registry.k8s.io/pause:3.10$(touch {})", marker.display()),
        "../../../etc/passwd".to_string(),
        "Registry.k8s.io/PAUSE".to_string(),
    ]
    .iter()
    .enumerate()
    {
        let lock_text = yaml(&set(&base, "/images/2/name", bad));
        // The third image's `- name:` line (images come before files).
        let line = lock_text
            .lines()
            .enumerate()
            .filter(|(_, l)| l.starts_with("- name:"))
            .nth(2)
            .map(|(n, _)| n + 1)
            .unwrap_or_else(|| panic!("no third image in the lock: {lock_text}"));
        let file = format!("bad{i}.lock");
        std::fs::write(dir.path().join(&file), &lock_text).unwrap();
        let o = meshbundle(dir.path(), &["render", "meshbundle.yaml", "--lock", &file, "-o", "out"]);
        assert_eq!(o.status.code(), Some(1), "{bad}");
        let err = text(&o.stderr);
        assert!(err.contains(&format!("error: {file}:{line}:")), "{bad}: {err}");
        assert!(err.contains("images[2].name: "), "{bad}: {err}");
        assert!(err.contains("is not a valid image reference"), "{bad}: {err}");
        assert!(
            err.contains("\n  hint: give the meshbundle.lock that `meshbundle lock` wrote"),
            "{bad}: {err}"
        );
        assert!(!dir.path().join("out").exists(), "nothing is written");
    }
    assert!(!marker.exists());
}

#[test]
fn secrets_values_are_refused_or_inert() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("MARKER");
    let base = secrets_json();
    let spec_text = yaml(&serde_json::to_value(example("production")).unwrap());
    for (pointer, field) in [
        ("/kubeadm/token", "kubeadm.token"),
        ("/kubeadm/certificateKey", "kubeadm.certificateKey"),
    ] {
        let mut values = payloads(&marker);
        values.push("ABCDEF.0123456789ABCDEF".into());
        values.push("AB".repeat(32));
        values.push(format!("{}$(id)", "a".repeat(59)));
        for p in values {
            let text = yaml(&set(&base, pointer, &p));
            let e = match meshbundle_core::pki::parse_secrets(&text) {
                Ok(_) => panic!("{field} = {p:?} is accepted"),
                Err(e) => e.to_string(),
            };
            assert!(e.contains(&format!(": {field}: ")), "{field} = {p:?}: {e}");
            assert!(
                e.split_once(": ").unwrap().0.split_once(':').is_some(),
                "{field}: no line:column in {e}"
            );
            assert!(
                !e.contains(&p) || p.len() < 8,
                "the error does not print the secret: {e}"
            );
        }
    }
    // The other fields reach no script: refused by the check against the
    // spec, or inert.
    for pointer in ["/site", "/kubeadm/ca/cert", "/istio/root/key"] {
        let text = yaml(&set(&base, pointer, &format!("$(touch {})", marker.display())));
        if let Ok(s) = meshbundle_core::pki::parse_secrets(&text) {
            let site = example("production");
            assert!(
                s.check(&site, now()).iter().any(|d| d.is_error()),
                "{pointer}: accepted by the check"
            );
            scripts_are_inert(dir.path(), None, Some(&text), &spec_text, &marker, pointer);
        }
    }
    assert!(!marker.exists());
}
