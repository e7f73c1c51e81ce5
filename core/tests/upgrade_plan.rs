//! The upgrade plan's rules, judged by what the plan means: which paths are
//! refused and which version it names to go through, and in which order the
//! steps run on which node.

use std::collections::BTreeMap;

use meshbundle_core::catalog::catalog;
use meshbundle_core::digest::Digest;
use meshbundle_core::lock::{Lock, LockedFile, LockedImage};
use meshbundle_core::spec::Site;
use meshbundle_core::upgrade::{Carried, CarriedFile, CarriedImage, CarryState, Input, KnownImage, Plan, Side, plan};

fn production() -> Site {
    meshbundle_core::spec::load::load(meshbundle_core::examples::example("production").unwrap())
        .site
        .unwrap()
}

fn site(k8s: &str, containerd: &str, istio: &str) -> Site {
    let mut s = production();
    s.spec.kubernetes.version = k8s.into();
    s.spec.containerd.version = containerd.into();
    s.spec.istio.version = istio.into();
    s
}

fn plan_of(from: &Site, to: &Site) -> Plan {
    let known = BTreeMap::new();
    plan(&Input {
        from: Side { site: from, lock: None },
        to: Side { site: to, lock: None },
        carried: None,
        known: &known,
        to_diagnostics: None,
    })
}

/// Steps as `(node, action)`, in order.
fn actions(p: &Plan) -> Vec<(String, &'static str)> {
    p.steps
        .iter()
        .map(|s| (s.node.clone().unwrap_or_default(), s.action))
        .collect()
}

fn index(p: &Plan, node: &str, action: &str) -> usize {
    actions(p)
        .iter()
        .position(|(n, a)| n == node && *a == action)
        .unwrap_or_else(|| panic!("no {action} on {node}: {:#?}", actions(p)))
}

fn newest_patch(minor: &str) -> String {
    let mut v: Vec<semver::Version> = catalog()
        .kubernetes
        .iter()
        .filter(|k| k.version.starts_with(&format!("{minor}.")))
        .map(|k| semver::Version::parse(&k.version).unwrap())
        .collect();
    v.sort();
    v.last().unwrap().to_string()
}

/// The node order rules every allowed Kubernetes or containerd step keeps.
fn check_node_order(p: &Plan, to: &Site, kubernetes_moves: bool) {
    let cps: Vec<&str> = to.control_plane_nodes().map(|n| n.name.as_str()).collect();
    let workers: Vec<&str> = to.worker_nodes().map(|n| n.name.as_str()).collect();
    let a = actions(p);
    if kubernetes_moves {
        let applies: Vec<_> = a.iter().filter(|(_, x)| *x == "kubeadm-upgrade-apply").collect();
        assert_eq!(applies.len(), 1, "kubeadm upgrade apply exactly once: {a:#?}");
        assert_eq!(applies[0].0, cps[0], "on the first control-plane node");
        let snapshot = index(p, cps[0], "etcd-snapshot");
        let apply = index(p, cps[0], "kubeadm-upgrade-apply");
        assert!(snapshot < apply, "a fresh etcd snapshot before the control plane moves");
        for (i, (n, x)) in a.iter().enumerate() {
            if *x == "kubeadm-upgrade-node" {
                assert!(i > apply, "kubeadm upgrade node on {n} after kubeadm upgrade apply");
            }
        }
    }
    // Every control-plane node is done before any worker is touched, so no
    // kubelet is newer than an API server.
    let last_cp = cps.iter().map(|n| index(p, n, "uncordon")).max().unwrap();
    for w in &workers {
        let first_w = a.iter().position(|(n, phase)| n == w && *phase != "extract").unwrap();
        assert!(first_w > last_cp, "{w} before the control plane is done: {a:#?}");
    }
    // Control-plane nodes one after the other, in the spec's order.
    for pair in cps.windows(2) {
        assert!(
            index(p, pair[0], "uncordon") < index(p, pair[1], "drain"),
            "{} finishes before {} starts",
            pair[0],
            pair[1]
        );
    }
    for n in cps.iter().chain(&workers) {
        let drain = index(p, n, "drain");
        let uncordon = index(p, n, "uncordon");
        assert!(drain < uncordon);
        if kubernetes_moves {
            let kubelet = index(p, n, "kubelet");
            assert!(
                drain < kubelet && kubelet < uncordon,
                "{n}: drain, kubelet restart, uncordon"
            );
            let kubeadm = a
                .iter()
                .position(|(m, x)| m == n && x.starts_with("kubeadm-upgrade"))
                .unwrap();
            assert!(kubeadm < kubelet, "{n}: kubeadm upgrade before the kubelet restarts");
            if let Some(c) = a.iter().position(|(m, x)| m == n && *x == "containerd") {
                assert!(
                    drain < c && c < kubeadm,
                    "{n}: containerd after the drain and before kubeadm and the kubelet"
                );
            }
        }
    }
}

#[test]
fn kubernetes_one_minor_is_allowed_with_ordered_steps_per_node() {
    let from = site("1.33.13", "2.2.3", "1.30.3");
    let to = site(&newest_patch("1.34"), "2.2.3", "1.30.3");
    let p = plan_of(&from, &to);
    assert!(p.allowed, "{:#?}", p.refusals);
    assert!(
        p.changes
            .iter()
            .any(|c| c.component == "kubernetes" && c.kind.as_str() == "minor")
    );
    check_node_order(&p, &to, true);
    let apply = p.steps.iter().find(|s| s.action == "kubeadm-upgrade-apply").unwrap();
    assert!(
        apply
            .text
            .contains(&format!("kubeadm upgrade apply v{}", newest_patch("1.34"))),
        "{apply:?}"
    );
    // What the operator runs is the bundle's scripts: ops/upgrade-kubernetes.sh once, each other node's upgrade.sh when asked.
    let runs: Vec<&str> = p
        .steps
        .iter()
        .filter(|s| s.phase == "kubernetes")
        .filter_map(|s| s.run.as_deref())
        .collect();
    assert_eq!(runs[0], "sudo ops/upgrade-kubernetes.sh", "{runs:?}");
    assert!(
        runs[1..]
            .iter()
            .all(|r| r.starts_with("sudo ./nodes/") && r.contains("/upgrade.sh")),
        "{runs:?}"
    );
    // No Istio step when Istio stays.
    assert!(
        !p.steps
            .iter()
            .any(|s| s.phase == "istio" || s.action == "remove-revision")
    );
}

#[test]
fn kubernetes_skipping_a_minor_is_refused_naming_the_newest_patch_between() {
    let from = site("1.33.13", "2.2.3", "1.30.3");
    let to = site(&newest_patch("1.35"), "2.2.3", "1.30.3");
    let p = plan_of(&from, &to);
    assert!(!p.allowed);
    assert!(p.steps.is_empty(), "no steps for a refused path");
    let r = p
        .refusals
        .iter()
        .find(|r| r.subject == "kubernetes")
        .expect("a Kubernetes refusal");
    let via = newest_patch("1.34");
    assert_eq!(r.via.as_deref(), Some(via.as_str()));
    assert!(
        r.path.contains("go through 1.34.x first") && r.path.contains(&via),
        "{}",
        r.path
    );
    assert!(r.reason.contains("one minor at a time"), "{}", r.reason);
}

#[test]
fn every_pair_of_catalog_kubernetes_versions_follows_the_rules() {
    // Istio 1.30.3 runs 1.32 to 1.36: every pair within it, judged alone.
    let versions: Vec<String> = catalog()
        .kubernetes
        .iter()
        .map(|k| k.version.clone())
        .filter(|v| v.as_str() >= "1.32")
        .collect();
    for a in &versions {
        for b in &versions {
            let (va, vb) = (semver::Version::parse(a).unwrap(), semver::Version::parse(b).unwrap());
            let from = site(a, "2.2.3", "1.30.3");
            let to = site(b, "2.2.3", "1.30.3");
            let p = plan_of(&from, &to);
            let expect = vb >= va && vb.minor <= va.minor + 1;
            assert_eq!(p.allowed, expect, "{a} → {b}: {:#?}", p.refusals);
            if vb < va {
                assert!(p.refusals[0].reason.contains("downgrade"), "{a} → {b}");
            }
            if p.allowed && a != b {
                check_node_order(&p, &to, true);
            }
        }
    }
}

#[test]
fn containerd_1_7_to_2_migrates_its_configuration_on_each_node_before_the_kubelet() {
    let from = site("1.35.9", "1.7.27", "1.30.3");
    let to = site(&newest_patch("1.36"), "2.2.3", "1.30.3");
    let p = plan_of(&from, &to);
    assert!(p.allowed, "{:#?}", p.refusals);
    assert!(
        p.changes
            .iter()
            .any(|c| c.component == "containerd" && c.kind.as_str() == "major")
    );
    assert!(p.changes.iter().any(|c| c.component == "runc"));
    check_node_order(&p, &to, true);
    for n in &to.spec.nodes {
        let s = &p.steps[index(&p, &n.name, "containerd")];
        assert!(
            s.text.contains("1.7.27 → 2.2.3") && s.text.contains("version 2 to version 3"),
            "{}",
            s.text
        );
    }
    // Staying on containerd 1.7 for Kubernetes 1.36 is refused, naming 2.x.
    let stay = site(&newest_patch("1.36"), "1.7.27", "1.30.3");
    let p = plan_of(&from, &stay);
    assert!(!p.allowed);
    let r = p.refusals.iter().find(|r| r.subject == "containerd").unwrap();
    assert!(r.path.contains("2.2.3"), "{r:?}");
    // A containerd patch alone: drain, containerd, uncordon; no migration, no kubeadm.
    let mut to = from.clone();
    to.spec.containerd.version = "2.2.3".into();
    to.spec.kubernetes.version = "1.35.9".into();
    let p = plan_of(&from, &to);
    assert!(p.allowed);
    check_node_order(&p, &to, false);
    assert!(
        !p.steps
            .iter()
            .any(|s| s.action.starts_with("kubeadm") || s.action == "etcd-snapshot")
    );
    // containerd never goes back.
    let p = plan_of(&site("1.35.9", "2.2.3", "1.30.3"), &site("1.35.9", "1.7.27", "1.30.3"));
    assert!(
        !p.allowed
            && p.refusals
                .iter()
                .any(|r| r.subject == "containerd" && r.reason.contains("downgrade"))
    );
}

#[test]
fn istio_across_three_minors_is_refused_naming_a_catalog_release_between() {
    let from = site("1.33.13", "2.2.3", "1.28.10");
    let to = site("1.33.13", "2.2.3", "1.31.0");
    let p = plan_of(&from, &to);
    assert!(!p.allowed);
    let r = p
        .refusals
        .iter()
        .find(|r| r.subject == "istio")
        .expect("an Istio refusal");
    let via = r.via.clone().expect("an intermediate release");
    let v = semver::Version::parse(&via).unwrap();
    assert!(v.minor == 29 || v.minor == 30, "{via}");
    assert!(catalog().istio(&via).is_some(), "{via} is in the catalog");
    assert!(r.path.contains(&format!("go through {via} first")), "{}", r.path);
    assert!(
        r.reason.contains("at most two") && r.reason.contains("not in this meshbundle's catalog"),
        "{}",
        r.reason
    );
}

#[test]
fn istio_across_two_minors_is_a_canary_then_the_old_revision_goes_last() {
    let from = site("1.33.13", "2.2.3", "1.28.10");
    let to = site("1.33.13", "2.2.3", "1.30.3");
    let p = plan_of(&from, &to);
    assert!(p.allowed, "{:#?}", p.refusals);
    let a = actions(&p);
    let canary = a.iter().position(|x| x.1 == "istio-canary").unwrap();
    let precheck = a.iter().position(|x| x.1 == "istio-precheck").unwrap();
    let verify = a.iter().position(|x| x.1 == "verify").unwrap();
    let remove = a.iter().position(|x| x.1 == "remove-revision").unwrap();
    assert!(
        precheck < canary && canary < verify && verify < remove && remove == a.len() - 1,
        "{a:#?}"
    );
    assert_eq!(
        p.steps[remove].run.as_deref(),
        Some("sudo ops/remove-revision.sh 1-28-10")
    );
    assert!(p.steps[canary].text.contains("1-28-10 → 1-30-3"));
    assert!(
        !a.iter().any(|x| x.1 == "drain"),
        "Kubernetes stays: no node is drained"
    );
    assert!(
        !a.iter().any(|x| x.1 == "apply"),
        "the site's images are unknown here: no add-on is said to move"
    );
    // Istio's add-ons follow it: applied after the canary.
    for s in p
        .steps
        .iter()
        .filter(|s| s.action == "apply" && s.text.starts_with("addon/"))
    {
        assert!(s.number > p.steps[canary].number, "{s:?}");
    }
}

#[test]
fn istio_downgrades_and_kept_revisions_are_refused() {
    let p = plan_of(
        &site("1.33.13", "2.2.3", "1.30.3"),
        &site("1.33.13", "2.2.3", "1.28.10"),
    );
    assert!(
        !p.allowed
            && p.refusals
                .iter()
                .any(|r| r.subject == "istio" && r.reason.contains("downgrade"))
    );
    let mut from = site("1.33.13", "2.2.3", "1.28.10");
    let mut to = site("1.33.13", "2.2.3", "1.30.3");
    from.spec.istio.revision = Some("prod".into());
    to.spec.istio.revision = Some("prod".into());
    let p = plan_of(&from, &to);
    assert!(
        !p.allowed && p.refusals.iter().any(|r| r.reason.contains("keeps revision prod")),
        "{:#?}",
        p.refusals
    );
}

#[test]
fn the_new_kubernetes_must_be_in_the_new_istios_range() {
    // Istio 1.30.3 supports 1.32 to 1.36.
    let p = plan_of(&site("1.31.14", "2.2.3", "1.30.3"), &site("1.31.14", "2.2.3", "1.30.3"));
    assert!(!p.allowed, "1.31 is outside Istio 1.30's range");
    assert!(
        p.refusals
            .iter()
            .any(|r| r.subject == "istio" && r.reason.contains("1.32 to 1.36")),
        "{:#?}",
        p.refusals
    );
}

#[test]
fn what_a_cluster_cannot_change_in_place_is_refused() {
    let from = site("1.36.5", "2.2.3", "1.30.3");
    for (field, change) in [
        (
            "spec.kubernetes.cni",
            Box::new(|s: &mut Site| s.spec.kubernetes.cni = meshbundle_core::spec::Cni::Flannel)
                as Box<dyn Fn(&mut Site)>,
        ),
        (
            "spec.kubernetes.podSubnet",
            Box::new(|s: &mut Site| s.spec.kubernetes.pod_subnet = "10.240.0.0/16".into()),
        ),
        (
            "spec.nodes",
            Box::new(|s: &mut Site| s.spec.nodes[4].address = "10.0.0.99".into()),
        ),
    ] {
        let mut to = from.clone();
        change(&mut to);
        let p = plan_of(&from, &to);
        assert!(!p.allowed, "{field}");
        assert!(
            p.refusals.iter().any(|r| r.subject == field),
            "{field}: {:#?}",
            p.refusals
        );
    }
}

fn d(c: char) -> Digest {
    Digest::parse(&format!("sha256:{}", c.to_string().repeat(64))).unwrap()
}

#[test]
fn carry_lists_by_digest_what_the_new_bundle_adds_and_its_bytes() {
    let from = site("1.33.13", "2.2.3", "1.30.3");
    let to = site(&newest_patch("1.34"), "2.2.3", "1.30.3");
    let old_needs = meshbundle_core::catalog::needs(&from).unwrap();
    let new_needs = meshbundle_core::catalog::needs(&to).unwrap();
    // The old bundle carried every old image at digest `a` (blob `b`) and every file at sha `c`.
    let carried = Carried {
        id: "sha256:old".into(),
        images: old_needs
            .images
            .iter()
            .map(|i| CarriedImage {
                name: i.upstream.without_digest(),
                digest: d('a'),
                blobs: vec![d('b')],
            })
            .collect(),
        files: old_needs
            .files
            .iter()
            .map(|f| CarriedFile {
                name: f.name.clone(),
                sha256: d('c'),
                size: 10,
            })
            .collect(),
        base_blobs: vec![],
    };
    // The new lock: images shared with the old at the same digest; new ones at `e`.
    let mut lock = Lock::new();
    let old_names: Vec<_> = old_needs.images.iter().map(|i| i.upstream.without_digest()).collect();
    for i in &new_needs.images {
        let name = i.upstream.without_digest();
        let digest = if old_names.contains(&name) { d('a') } else { d('e') };
        lock.images.push(LockedImage {
            name,
            digest,
            media_type: Default::default(),
            platforms: vec![],
            carried_digest: None,
            source: None,
        });
    }
    let old_files: Vec<String> = old_needs.files.iter().map(|f| f.name.clone()).collect();
    for f in &new_needs.files {
        let sha = if f.name.starts_with("manifest/") {
            d('c')
        } else {
            d('f')
        };
        lock.files.push(LockedFile {
            name: f.name.clone(),
            url: f.url.clone(),
            sha256: sha,
            size: 1000,
        });
    }
    // The new kube-apiserver's blobs are at hand: one shared with the old bundle (b), one new (9).
    let apiserver = format!("registry.k8s.io/kube-apiserver:v{}", newest_patch("1.34"));
    let mut known = BTreeMap::new();
    known.insert(
        apiserver.parse().unwrap(),
        KnownImage {
            digest: d('e'),
            blobs: vec![(d('e'), 500), (d('b'), 7_000), (d('9'), 3_000)],
        },
    );
    let from_lock = Lock::new();
    let p = plan(&Input {
        from: Side {
            site: &from,
            lock: Some(&from_lock),
        },
        to: Side {
            site: &to,
            lock: Some(&lock),
        },
        carried: Some(&carried),
        known: &known,
        to_diagnostics: None,
    });
    let img = |n: &str| {
        p.carry
            .images
            .iter()
            .find(|i| i.name == n)
            .unwrap_or_else(|| panic!("{n}"))
    };
    let a = img(&apiserver);
    assert_eq!(a.state, CarryState::Added);
    assert_eq!(a.replaces.as_deref(), Some("registry.k8s.io/kube-apiserver:v1.33.13"));
    assert_eq!(a.bytes, Some(3_500), "only the blobs the site lacks");
    assert_eq!(
        img("registry.k8s.io/kube-apiserver:v1.33.13").state,
        CarryState::Removed
    );
    assert_eq!(img("docker.io/istio/pilot:1.30.3").state, CarryState::Unchanged);
    assert_eq!(img("docker.io/istio/pilot:1.30.3").bytes, Some(0));
    // The other new images' manifests are not at hand: known after build.
    assert!(p.carry.size.images.is_none());
    assert!(
        p.carry
            .size
            .known_after_build
            .contains(&format!("registry.k8s.io/kube-proxy:v{}", newest_patch("1.34")))
    );
    // Files: the binaries changed (sha f), the manifests did not (sha c).
    let kubeadm = p.carry.files.iter().find(|f| f.name == "kubeadm-amd64").unwrap();
    assert_eq!((kubeadm.state, kubeadm.bytes), (CarryState::Changed, Some(1000)));
    let calico = p.carry.files.iter().find(|f| f.name == "manifest/calico").unwrap();
    assert_eq!((calico.state, calico.bytes), (CarryState::Unchanged, Some(0)));
    let changed = new_needs
        .files
        .iter()
        .filter(|f| !f.name.starts_with("manifest/"))
        .count() as u64;
    assert_eq!(p.carry.size.files, Some(changed * 1000));
    assert!(old_files.contains(&"kubeadm-amd64".to_string()));
}

#[test]
fn istio_goes_first_when_the_running_one_does_not_support_the_new_kubernetes() {
    // Istio 1.28 runs Kubernetes 1.29 to 1.34, 1.30 runs 1.32 to 1.36: on
    // 1.34 → 1.35, only the canary first keeps a supported Istio throughout.
    let from = site("1.34.12", "2.2.3", "1.28.10");
    let to = site("1.35.9", "2.2.3", "1.30.3");
    let p = plan_of(&from, &to);
    assert!(p.allowed, "{:#?}", p.refusals);
    let a = actions(&p);
    let canary = a.iter().position(|x| x.1 == "istio-canary").unwrap();
    let first_drain = a.iter().position(|x| x.1 == "drain").unwrap();
    assert!(canary < first_drain, "the canary before any node moves: {a:#?}");
    assert_eq!(a.last().unwrap().1, "remove-revision");
    // The other way round (Istio 1.28 still runs 1.33, 1.30 does not run 1.31): Kubernetes first.
    let p = plan_of(
        &site("1.32.13", "2.2.3", "1.28.10"),
        &site("1.33.13", "2.2.3", "1.30.3"),
    );
    assert!(p.allowed, "{:#?}", p.refusals);
    let a = actions(&p);
    assert!(a.iter().position(|x| x.1 == "drain").unwrap() < a.iter().position(|x| x.1 == "istio-canary").unwrap());
}

#[test]
fn support_ranges_are_refusals_unless_the_support_policy_allows_them() {
    // Istio 1.28 does not support Kubernetes 1.35.
    let from = site("1.34.12", "2.2.3", "1.28.10");
    let to = site("1.35.9", "2.2.3", "1.28.10");
    let p = plan_of(&from, &to);
    assert!(!p.allowed);
    let r = p.refusals.iter().find(|r| r.subject == "istio").unwrap();
    assert!(
        r.reason
            .contains("Istio 1.28.10 supports Kubernetes 1.29 to 1.34, not 1.35.9"),
        "{}",
        r.reason
    );
    let mut to = to.clone();
    to.spec.support_policy = Some(meshbundle_core::spec::SupportPolicy {
        allow_unsupported_versions: true,
        reason: "vendor support contract covers Istio 1.28 on 1.35".into(),
    });
    let p = plan_of(&from, &to);
    assert!(p.allowed, "{:#?}", p.refusals);
    assert!(
        p.warnings.iter().any(|w| w.contains("allowed by spec.supportPolicy")),
        "{:#?}",
        p.warnings
    );
}

#[test]
fn every_pair_of_catalog_istio_releases_follows_the_rules() {
    // Kubernetes 1.33 is in every catalogued Istio's range.
    let releases: Vec<String> = catalog().istio.iter().map(|i| i.version.clone()).collect();
    for a in &releases {
        for b in &releases {
            let (va, vb) = (semver::Version::parse(a).unwrap(), semver::Version::parse(b).unwrap());
            let p = plan_of(&site("1.33.13", "2.2.3", a), &site("1.33.13", "2.2.3", b));
            let expect = vb >= va && vb.major == va.major && vb.minor <= va.minor + 2;
            assert_eq!(p.allowed, expect, "{a} → {b}: {:#?}", p.refusals);
            let canary = p.steps.iter().any(|s| s.action == "istio-canary");
            assert_eq!(canary, expect && a != b, "{a} → {b}: a canary exactly when Istio moves");
            if canary {
                assert_eq!(p.steps.last().unwrap().action, "remove-revision");
            }
        }
    }
}
