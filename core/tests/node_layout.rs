//! What each node gets from a rendered tree (`meshbundle_core::layout`),
//! judged by what the files hold: no private key of any CA, no Istio or
//! ingress key and no other node's join configuration reaches a worker or a
//! joining control-plane node; the first control-plane node gets every one
//! of them; every node gets what its bootstrap reads.

use base64::Engine;
use meshbundle_core::layout::{LayoutError, NodeLayout, Part, node_files};
use meshbundle_core::pki::secrets::GenerateOptions;
use meshbundle_core::pki::{self, SiteSecrets};
use meshbundle_core::render::{Inputs, render};
use meshbundle_core::spec::{Architecture, Node, Role, Site};
use meshbundle_core::tree::FileTree;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn example(name: &str) -> Site {
    meshbundle_core::spec::load::load(meshbundle_core::examples::example(name).unwrap())
        .site
        .unwrap()
}

fn node(name: &str, address: &str, role: Role) -> Node {
    Node {
        name: name.into(),
        address: address.into(),
        role,
        zone: "zone-a".into(),
        labels: Default::default(),
    }
}

/// Sites of every shape: the examples, and one whose node names are
/// prefixes of each other, whose first control-plane node is not first in
/// the list, with two architectures.
fn sites() -> Vec<(&'static str, Site)> {
    let mut tricky = example("production");
    tricky.metadata.name = "tricky".into();
    tricky.spec.architectures = vec![Architecture::Amd64, Architecture::Arm64];
    tricky.spec.nodes = vec![
        node("worker-1", "10.0.0.21", Role::Worker),
        node("cp-1", "10.0.0.11", Role::ControlPlane),
        node("worker-10", "10.0.0.30", Role::Worker),
        node("cp-10", "10.0.0.12", Role::ControlPlane),
        node("cp-1a", "10.0.0.13", Role::ControlPlane),
    ];
    vec![
        ("production", example("production")),
        ("lab", example("lab")),
        ("tricky", tricky),
    ]
}

fn secrets(site: &Site) -> SiteSecrets {
    let mut rng = ChaCha20Rng::seed_from_u64(13);
    pki::generate(
        site,
        &GenerateOptions {
            now: 1_800_000_000,
            mesh_root: None,
            provided_tls: None,
        },
        &mut rng,
    )
    .unwrap()
}

/// Fragments of every private key of the site, as they appear in a PEM file
/// (whitespace removed) or base64-encoded in a Kubernetes Secret, by name.
fn key_needles(s: &SiteSecrets) -> Vec<(String, Vec<String>)> {
    let mut keys: Vec<(String, &str)> = vec![
        ("the Kubernetes CA key".into(), &s.kubeadm.ca.key),
        ("the front-proxy CA key".into(), &s.kubeadm.front_proxy_ca.key),
        ("the etcd CA key".into(), &s.kubeadm.etcd_ca.key),
        (
            "the service-account signing key".into(),
            &s.kubeadm.service_account.private_key,
        ),
        ("the Istio root CA key".into(), &s.istio.root.key),
    ];
    for (cluster, ca) in &s.istio.intermediates {
        keys.push((format!("the Istio intermediate CA key of {cluster}"), &ca.key));
    }
    if let Some(i) = &s.ingress {
        keys.push(("the ingress key".into(), &i.key));
        if let Some(ca) = &i.ca {
            keys.push(("the ingress CA key".into(), &ca.key));
        }
    }
    keys.into_iter()
        .map(|(what, pem)| {
            let stripped: String = pem.chars().filter(|c| !c.is_whitespace()).collect();
            let b64 = base64::engine::general_purpose::STANDARD.encode(pem.as_bytes());
            // Past the BEGIN line: the key material itself.
            (what, vec![stripped[60..120].to_string(), b64[120..180].to_string()])
        })
        .collect()
}

/// Which of the keys the files hold.
fn keys_held(tree: &FileTree, paths: &[&str], needles: &[(String, Vec<String>)]) -> Vec<String> {
    let mut held = Vec::new();
    for p in paths {
        let text: String = String::from_utf8_lossy(&tree.get(p).unwrap().bytes)
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        for (what, frags) in needles {
            if frags.iter().any(|f| text.contains(f.as_str())) {
                held.push(format!("{p} holds {what}"));
            }
        }
    }
    held
}

#[test]
fn ca_keys_and_other_nodes_join_configurations_reach_only_the_nodes_that_need_them() {
    for (name, site) in sites() {
        let s = secrets(&site);
        let tree = render(
            &site,
            &Inputs {
                secrets: Some(&s),
                ..Default::default()
            },
        )
        .unwrap();
        let needles = key_needles(&s);
        let first = site.first_control_plane().unwrap().name.clone();
        let mut union = std::collections::BTreeSet::new();
        for n in &site.spec.nodes {
            let files = node_files(&site, &n.name, &tree).unwrap();
            union.extend(files.iter().copied());
            let layout = NodeLayout::new(&site, &n.name).unwrap();
            let held = keys_held(&tree, &files, &needles);
            // Its own bootstrap and kubeadm configuration (with the join
            // credentials), and no other node's.
            for own in ["bootstrap.sh", "kubeadm.yaml"] {
                assert!(
                    files.contains(&format!("nodes/{}/{own}", n.name).as_str()),
                    "{name}/{}: lacks its {own}",
                    n.name
                );
            }
            let others: Vec<&&str> = files
                .iter()
                .filter(|p| p.starts_with("nodes/") && !p.starts_with(&format!("nodes/{}/", n.name)))
                .collect();
            assert!(
                others.is_empty(),
                "{name}/{}: gets another node's files {others:?}",
                n.name
            );
            // What the bootstrap and install.sh node read.
            for p in [
                "install.sh",
                "README.md",
                "common/lib.sh",
                "common/etc/containerd/config.toml",
            ] {
                assert!(files.contains(&p), "{name}/{}: lacks {p}", n.name);
            }
            if n.name == first {
                assert_eq!(layout.part(), Part::FirstControlPlane);
                // kubeadm init with the site's CAs, install.sh cluster, the operations.
                assert!(
                    held.iter().any(|h| h.contains("Kubernetes CA key")),
                    "{name}: {first} lacks the CA key: {held:?}"
                );
                for p in [
                    "secrets/kubernetes-pki/ca.key",
                    "secrets/kubernetes-pki/etcd/ca.key",
                    "secrets/kubernetes-pki/front-proxy-ca.key",
                    "secrets/kubernetes-pki/sa.key",
                    "secrets/istio-cacerts.yaml",
                    &format!("manifests/cni/{}.yaml", site.spec.kubernetes.cni.as_str()),
                    "manifests/istio/istio-operator.yaml",
                    "ops/verify.sh",
                    "ops/renew-join-credentials.sh",
                ] {
                    assert!(files.contains(&p), "{name}: {first} lacks {p}");
                }
                if tree.contains("secrets/ingress-tls.yaml") {
                    assert!(files.contains(&"secrets/ingress-tls.yaml"));
                }
            } else {
                assert!(held.is_empty(), "{name}/{}: {held:?}", n.name);
                assert!(
                    !files.iter().any(|p| p.starts_with("secrets/")),
                    "{name}/{}: gets secrets/",
                    n.name
                );
                // The only private file it gets is its own join configuration.
                let private: Vec<&&str> = files.iter().filter(|p| tree.get(p).unwrap().mode == 0o600).collect();
                assert_eq!(
                    private,
                    vec![&format!("nodes/{}/kubeadm.yaml", n.name).as_str()],
                    "{name}/{}",
                    n.name
                );
                let ops = files.iter().any(|p| p.starts_with("ops/"))
                    && files.contains(&"manifests/istio/istio-operator.yaml");
                match n.role {
                    Role::ControlPlane => {
                        assert_eq!(layout.part(), Part::JoiningControlPlane);
                        assert!(
                            ops,
                            "{name}/{}: a control-plane node runs the operations scripts",
                            n.name
                        );
                        // Renewing reads the first node's configuration, which it has not.
                        assert!(!files.contains(&"ops/renew-join-credentials.sh"), "{name}/{}", n.name);
                    }
                    Role::Worker => {
                        assert_eq!(layout.part(), Part::Worker);
                        // Of the operations scripts, only the one that reads the node's own certificates.
                        let ops: Vec<&&str> = files.iter().filter(|p| p.starts_with("ops/")).collect();
                        assert_eq!(ops, vec![&"ops/cert-expiry.sh"], "{name}/{}", n.name);
                        assert!(!files.iter().any(|p| p.starts_with("manifests/")), "{name}/{}", n.name);
                    }
                }
            }
        }
        // Every file goes somewhere.
        let all: std::collections::BTreeSet<&str> = tree.paths().collect();
        assert_eq!(union, all, "{name}: files no node gets");
    }
}

#[test]
fn each_node_gets_the_release_files_its_bootstrap_installs_for_every_architecture() {
    let (_, site) = sites().pop().unwrap();
    let s = secrets(&site);
    let tree = render(
        &site,
        &Inputs {
            secrets: Some(&s),
            ..Default::default()
        },
    )
    .unwrap();
    for n in &site.spec.nodes {
        let layout = NodeLayout::new(&site, &n.name).unwrap();
        let bootstrap = String::from_utf8(
            tree.get(&format!("nodes/{}/bootstrap.sh", n.name))
                .unwrap()
                .bytes
                .clone(),
        )
        .unwrap();
        let with_istioctl = bootstrap.contains("mb_install_binaries \"$ROOT/files\" \"$arch\" yes");
        assert_eq!(with_istioctl, n.role == Role::ControlPlane, "{}", n.name);
        for arch in ["amd64", "arm64"] {
            for bin in [
                "containerd",
                "runc",
                "cni-plugins",
                "crictl",
                "kubeadm",
                "kubelet",
                "kubectl",
            ] {
                assert!(
                    layout.gets(&format!("files/{bin}-{arch}"), false),
                    "{} lacks {bin}-{arch}",
                    n.name
                );
            }
            assert_eq!(
                layout.gets(&format!("files/istioctl-{arch}"), false),
                with_istioctl,
                "{}: istioctl-{arch}",
                n.name
            );
        }
        // An architecture the site does not run, upstream copies the tree
        // already holds, the binary: the first control-plane node only.
        let first = layout.part() == Part::FirstControlPlane;
        for other in [
            "files/kubeadm-s390x",
            "files/manifest/flannel",
            "files/manifest/addon-grafana",
            "bin/meshbundle",
            "newdir/x",
        ] {
            assert_eq!(layout.gets(other, false), first, "{}: {other}", n.name);
        }
        // A private file anywhere but its own nodes/NAME/ goes to the first
        // control-plane node alone, wherever it lies.
        for p in [
            "manifests/observability/grafana-admin.yaml",
            "common/etc/secret",
            "ops/x.key",
            "install.sh",
        ] {
            assert_eq!(layout.gets(p, true), first, "{}: private {p}", n.name);
        }
        // Names that are prefixes of each other stay apart.
        for other in &site.spec.nodes {
            assert_eq!(
                layout.gets(&format!("nodes/{}/kubeadm.yaml", other.name), true),
                other.name == n.name,
                "{} / {}",
                n.name,
                other.name
            );
        }
    }
}

#[test]
fn an_unknown_node_is_refused_with_the_site_s_nodes() {
    let site = example("production");
    let e = NodeLayout::new(&site, "worker-9").unwrap_err();
    let LayoutError::UnknownNode { ref nodes, .. } = e;
    assert_eq!(nodes, &["cp-1", "cp-2", "cp-3", "worker-1", "worker-2", "worker-3"]);
    let msg = e.to_string();
    assert!(
        msg.contains("worker-9") && msg.contains("cp-1, cp-2, cp-3, worker-1, worker-2, worker-3"),
        "{msg}"
    );
    // A hostile name is shown escaped.
    let e = NodeLayout::new(&site, "x\u{1b}[2J").unwrap_err().to_string();
    assert!(!e.contains('\u{1b}'), "{e}");
}

#[test]
fn the_render_readme_says_to_extract_per_node() {
    let site = example("production");
    let tree = render(&site, &Inputs::default()).unwrap();
    let readme = String::from_utf8(tree.get("README.md").unwrap().bytes.clone()).unwrap();
    let before = &readme[readme.find("## Before you start").unwrap()..readme.find("## What to run where").unwrap()];
    assert!(before.contains("--extract /opt/meshbundle --node cp-1"), "{before}");
    assert!(
        before.contains("without `--node` (everything) only on cp-1"),
        "{before}"
    );
    // No instruction to copy every node's join configuration anywhere.
    assert!(!readme.contains("tar -cf - nodes/*"), "{readme}");
}
