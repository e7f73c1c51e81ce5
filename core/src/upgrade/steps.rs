//! The ordered steps of an allowed upgrade: the bundle into the site, then
//! Kubernetes and containerd node by node (the first control-plane node with
//! `kubeadm upgrade apply`, the other control-plane nodes, then the workers,
//! each drained, its containerd before its kubelet, uncordoned and checked),
//! the manifests whose versions moved, the Istio canary, and last the removal
//! of the old revision. When the running Istio does not support the new
//! Kubernetes, the canary comes first.

use serde::Serialize;

use super::{Change, ChangeKind, Input};
use crate::render::shell::quote;
use crate::spec::Site;

#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// 1, 2, ... in the order to run them.
    pub number: usize,
    /// `prepare`, `kubernetes`, `manifests`, `istio`, `verify` or `cleanup`.
    pub phase: &'static str,
    /// The node it runs for, when it is a node's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// A stable name: `import`, `extract`, `etcd-snapshot`, `drain`, `containerd`,
    /// `kubeadm-upgrade-apply`, `kubeadm-upgrade-node`, `kubelet`, `uncordon`,
    /// `apply`, `istio-precheck`, `istio-canary`, `verify`, `remove-revision`.
    pub action: &'static str,
    pub text: String,
    /// The command, where one command does it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
}

struct Steps(Vec<Step>);

impl Steps {
    fn add(
        &mut self,
        phase: &'static str,
        node: Option<&str>,
        action: &'static str,
        text: String,
        run: Option<String>,
    ) {
        let number = self.0.len() + 1;
        self.0.push(Step {
            number,
            phase,
            node: node.map(str::to_string),
            action,
            text,
            run,
        });
    }
}

/// The manifests (paths in the rendered tree) that install a component.
fn manifests_of(component: &str, site: &Site) -> Vec<String> {
    let top = component.split('/').take(2).collect::<Vec<_>>().join("/");
    match top.as_str() {
        "cni/calico" | "cni/flannel" => vec![format!("manifests/{top}.yaml")],
        "load-balancer/metallb" => vec![
            "manifests/metallb/metallb-native.yaml".into(),
            "manifests/metallb/address-pool.yaml".into(),
        ],
        "metrics-server" => vec!["manifests/metrics-server/metrics-server.yaml".into()],
        "alertmanager" => vec!["manifests/observability/alertmanager.yaml".into()],
        "blackbox-exporter" => vec!["manifests/observability/blackbox-exporter.yaml".into()],
        _ if top.starts_with("addon/") => {
            let name = top.trim_start_matches("addon/");
            let a = &site.spec.observability.addons;
            let on = match name {
                "prometheus" => a.prometheus,
                "grafana" => a.grafana,
                "jaeger" => a.jaeger,
                "kiali" => a.kiali,
                _ => false,
            };
            if on {
                vec![format!("manifests/observability/{name}.yaml")]
            } else {
                vec![]
            }
        }
        _ => vec![],
    }
}

pub(super) fn steps(
    input: &Input,
    changes: &[Change],
    nodes_move: bool,
    istio_moves: bool,
    istio_first: bool,
) -> Vec<Step> {
    let (from, to) = (input.from.site, input.to.site);
    let mut s = Steps(Vec::new());
    let first = to.first_control_plane().map(|n| n.name.clone()).unwrap_or_default();
    let cp = Some(first.as_str());
    let change = |c: &str| changes.iter().find(|x| x.component == c);

    s.add(
        "prepare",
        None,
        "import",
        format!(
            "verify the upgrade bundle and push its images to the site registry {} (blobs the registry holds are skipped)",
            to.spec.registry
        ),
        Some(format!("meshbundle import upgrade.mbundle --registry {}", quote(&to.spec.registry))),
    );
    for n in &to.spec.nodes {
        s.add(
            "prepare",
            Some(&n.name),
            "extract",
            format!("lay out the new install on {} beside the running one", n.name),
            Some(format!(
                "meshbundle import upgrade.mbundle --extract /opt/site-upgrade --node {}",
                quote(&n.name)
            )),
        );
    }

    let istio = |s: &mut Steps| {
        if !istio_moves {
            return;
        }
        let (old_rev, new_rev) = (from.istio_revision(), to.istio_revision());
        s.add(
            "istio",
            cp,
            "istio-precheck",
            format!(
                "check the cluster for Istio {} with its own istioctl",
                to.spec.istio.version
            ),
            Some("istioctl x precheck".into()),
        );
        s.add(
            "istio",
            cp,
            "istio-canary",
            format!(
                "Istio canary {old_rev} → {new_rev}: install revision {new_rev} beside {old_rev}, move the revision tags, restart the workloads namespace by namespace (rollout status each), move the gateways, verify; ops/rollback-canary.sh moves back while {old_rev} runs"
            ),
            Some("sudo ops/upgrade-canary.sh".into()),
        );
        for c in changes
            .iter()
            .filter(|c| c.component.starts_with("addon/") && c.kind != ChangeKind::Removed)
        {
            for m in manifests_of(&c.component, to) {
                s.add(
                    "istio",
                    cp,
                    "apply",
                    format!(
                        "{} {} for Istio {}",
                        c.component,
                        c.to.as_deref().unwrap_or_default(),
                        to.spec.istio.version
                    ),
                    Some(format!("kubectl apply --server-side --force-conflicts -f {m}")),
                );
            }
        }
    };
    if istio_first {
        istio(&mut s);
    }

    if nodes_move {
        let k_from = &from.spec.kubernetes.version;
        let k_to = &to.spec.kubernetes.version;
        let k8s_moves = k_from != k_to;
        let ctrd = change("containerd");
        let runc = change("runc")
            .map(|r| {
                format!(
                    " and runc {} → {}",
                    r.from.as_deref().unwrap_or(""),
                    r.to.as_deref().unwrap_or("")
                )
            })
            .unwrap_or_default();
        let pause = change("kubeadm/pause").and_then(|p| p.to.clone());
        if k8s_moves {
            s.add(
                "kubernetes",
                cp,
                "etcd-snapshot",
                format!("check every node is Ready at v{k_from} and etcd is healthy, and take a fresh etcd snapshot; ops/upgrade-kubernetes.sh of the new bundle, on {first}, does this and runs the steps below node by node (it asks for each other node's nodes/NAME/upgrade.sh), and resumes where it stopped"),
                Some("sudo ops/upgrade-kubernetes.sh".into()),
            );
        }
        let ordered: Vec<_> = to.control_plane_nodes().chain(to.worker_nodes()).collect();
        for n in ordered {
            let node = Some(n.name.as_str());
            let name = quote(&n.name);
            // When Kubernetes moves, ops/upgrade-kubernetes.sh drains,
            // checks and uncordons, and each node's own upgrade.sh replaces
            // its binaries: the steps name what happens, the scripts run it.
            let by_hand = |cmd: String| (!k8s_moves).then_some(cmd);
            s.add(
                "kubernetes",
                node,
                "drain",
                format!("drain {}", n.name),
                by_hand(format!(
                    "kubectl drain {name} --ignore-daemonsets --delete-emptydir-data"
                )),
            );
            if let Some(c) = ctrd {
                let (a, b) = (c.from.as_deref().unwrap_or(""), c.to.as_deref().unwrap_or(""));
                let migrate = a.starts_with("1.") && !b.starts_with("1.");
                s.add(
                    "kubernetes",
                    node,
                    "containerd",
                    format!(
                        "containerd {a} → {b}{runc} on {}, before its kubelet: stop kubelet, replace containerd and runc from the bundle, {}restart containerd, then start kubelet",
                        n.name,
                        if migrate { "migrate /etc/containerd/config.toml from version 2 to version 3 (the bundle's version 3 configuration; the version 2 one is kept), " } else { "" }
                    ),
                    None,
                );
            }
            if k8s_moves {
                if n.name == first {
                    s.add(
                        "kubernetes",
                        node,
                        "kubeadm-upgrade-apply",
                        format!("kubeadm upgrade apply v{k_to} on {} (once, on this node only): replace kubeadm, check the plan, upgrade the control plane, etcd and CoreDNS", n.name),
                        None,
                    );
                } else {
                    s.add(
                        "kubernetes",
                        node,
                        "kubeadm-upgrade-node",
                        format!(
                            "kubeadm upgrade node on {}: replace kubeadm, upgrade its {}",
                            n.name,
                            if n.role == crate::spec::Role::ControlPlane {
                                "control plane and kubelet configuration"
                            } else {
                                "kubelet configuration"
                            }
                        ),
                        Some(format!(
                            "sudo ./nodes/{}/upgrade.sh   # on {}, when ops/upgrade-kubernetes.sh asks",
                            quote(&n.name),
                            n.name
                        )),
                    );
                }
                s.add(
                    "kubernetes",
                    node,
                    "kubelet",
                    format!(
                        "kubelet and kubectl v{k_to} on {}{}, then systemctl daemon-reload and restart kubelet",
                        n.name,
                        pause
                            .as_ref()
                            .map(|p| format!(" (containerd's sandbox image becomes pause:{p})"))
                            .unwrap_or_default()
                    ),
                    None,
                );
            }
            s.add(
                "kubernetes",
                node,
                "uncordon",
                format!(
                    "uncordon {} and wait until it is Ready{}",
                    n.name,
                    if k8s_moves {
                        format!(" at v{k_to}")
                    } else {
                        String::new()
                    }
                ),
                by_hand(format!("kubectl uncordon {name}")),
            );
        }
    }

    for c in changes
        .iter()
        .filter(|c| !c.component.starts_with("addon/") && c.kind != ChangeKind::Removed)
    {
        for m in manifests_of(&c.component, to) {
            let what = match &c.from {
                Some(f) => format!("{} {f} → {}", c.component, c.to.as_deref().unwrap_or_default()),
                None => format!("{} {} (new)", c.component, c.to.as_deref().unwrap_or_default()),
            };
            s.add(
                "manifests",
                cp,
                "apply",
                what,
                Some(format!("kubectl apply --server-side --force-conflicts -f {m}")),
            );
        }
    }

    if !istio_first {
        istio(&mut s);
    }
    s.add(
        "verify",
        cp,
        "verify",
        "check nodes, istiod, gateways, add-ons and mTLS".into(),
        Some("sudo ops/verify.sh".into()),
    );
    if istio_moves {
        let old_rev = from.istio_revision();
        s.add(
            "cleanup",
            cp,
            "remove-revision",
            format!("once no namespace, gateway or revision tag uses revision {old_rev}: remove it (the default tag has moved first)"),
            Some(format!("sudo ops/remove-revision.sh {}", quote(&old_rev))),
        );
    }
    s.0
}
