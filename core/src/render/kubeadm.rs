//! kubeadm configuration: InitConfiguration and ClusterConfiguration (with
//! KubeletConfiguration and KubeProxyConfiguration) for the first
//! control-plane node, JoinConfiguration for every other node. `v1beta3`
//! below Kubernetes 1.31, `v1beta4` (list-style `extraArgs`) from 1.31.
//! With the site secrets, each holds the join token (and the control plane's
//! the certificate key), so each is private (`MODE_SECRET`): sealed in a
//! bundle, left out with `--no-private-keys`, written 0600.

use serde_json::{Map, Value, json};

use super::node::{Action, action};
use super::{Ctx, RenderError};
use crate::pki::files::kubeadm_pki;
use crate::spec::{KeyType, KubeadmApi, Node};
use crate::tree::{FileTree, MODE_FILE, MODE_SECRET};
use crate::validate::values::{KUBE_PROXY_CONNTRACK, sysctl_canonical};

const CRI_SOCKET: &str = "unix:///run/containerd/containerd.sock";

/// `extraArgs` in the form the API version takes: a map in v1beta3, a list of
/// `{name, value}` in v1beta4.
fn args(api: KubeadmApi, pairs: &[(&str, String)]) -> Value {
    match api {
        KubeadmApi::V1beta3 => {
            let mut m = Map::new();
            for (k, v) in pairs {
                m.insert((*k).to_string(), Value::String(v.clone()));
            }
            Value::Object(m)
        }
        KubeadmApi::V1beta4 => Value::Array(pairs.iter().map(|(k, v)| json!({"name": k, "value": v})).collect()),
    }
}

fn kubelet_args(ctx: &Ctx, node: &Node) -> Value {
    let mut labels = vec![format!("topology.kubernetes.io/zone={}", node.zone)];
    labels.extend(node.labels.iter().map(|(k, v)| format!("{k}={v}")));
    args(
        ctx.api,
        &[("node-ip", node.address.clone()), ("node-labels", labels.join(","))],
    )
}

fn node_registration(ctx: &Ctx, node: &Node) -> Value {
    let mut reg = json!({
        "name": node.name,
        "criSocket": CRI_SOCKET,
        "imagePullPolicy": "IfNotPresent",
        "kubeletExtraArgs": kubelet_args(ctx, node),
    });
    // A site without workers runs workloads on its control plane.
    if ctx.site.worker_nodes().next().is_none() && node.role == crate::spec::Role::ControlPlane {
        reg["taints"] = json!([]);
    }
    reg
}

/// The API server endpoint nodes join through.
pub(crate) fn api_endpoint(ctx: &Ctx) -> String {
    match &ctx.site.spec.kubernetes.control_plane_endpoint {
        Some(ep) => ep.clone(),
        None => format!(
            "{}:6443",
            ctx.site
                .first_control_plane()
                .map(|n| n.address.as_str())
                .unwrap_or_default()
        ),
    }
}

fn cert_sans(ctx: &Ctx) -> Vec<String> {
    let mut sans: Vec<String> = Vec::new();
    if let Some(ep) = &ctx.site.spec.kubernetes.control_plane_endpoint
        && let Some((host, _)) = ep.rsplit_once(':')
    {
        sans.push(host.to_string());
    }
    for n in ctx.site.control_plane_nodes() {
        sans.push(n.name.clone());
        sans.push(n.address.clone());
    }
    sans.extend(ctx.site.spec.kubernetes.cert_sans.iter().cloned());
    let mut seen = std::collections::BTreeSet::new();
    sans.retain(|s| seen.insert(s.clone()));
    sans
}

fn encryption_algorithm(k: KeyType) -> &'static str {
    match k {
        KeyType::EcdsaP256 => "ECDSA-P256",
        KeyType::Rsa2048 => "RSA-2048",
        KeyType::Rsa3072 => "RSA-3072",
        KeyType::Rsa4096 => "RSA-4096",
    }
}

fn hours(days: u32) -> String {
    format!("{}h0m0s", u64::from(days) * 24)
}

fn cluster_configuration(ctx: &Ctx) -> Value {
    let spec = &ctx.site.spec;
    let k = &spec.kubernetes;
    let mut c = json!({
        "apiVersion": ctx.api.api_version(),
        "kind": "ClusterConfiguration",
        "clusterName": ctx.name(),
        "kubernetesVersion": format!("v{}", k.version),
        "imageRepository": ctx.registry(),
        "certificatesDir": "/etc/kubernetes/pki",
        "networking": {
            "podSubnet": k.pod_subnet,
            "serviceSubnet": k.service_subnet,
            "dnsDomain": k.cluster_domain,
        },
        "dns": {"imageRepository": format!("{}/coredns", ctx.registry())},
        "etcd": {"local": {"dataDir": "/var/lib/etcd"}},
        "apiServer": {
            "certSANs": cert_sans(ctx),
            "extraArgs": args(ctx.api, &[("profiling", "false".into())]),
        },
        "controllerManager": {"extraArgs": args(ctx.api, &[("profiling", "false".into())])},
        "scheduler": {"extraArgs": args(ctx.api, &[("profiling", "false".into())])},
    });
    if let Some(ep) = &k.control_plane_endpoint {
        c["controlPlaneEndpoint"] = json!(ep);
    }
    if ctx.api == KubeadmApi::V1beta4 {
        c["encryptionAlgorithm"] = json!(encryption_algorithm(spec.pki.key_type));
        c["certificateValidityPeriod"] = json!(hours(spec.pki.leaf_validity_days));
        c["caCertificateValidityPeriod"] = json!(hours(spec.pki.root_validity_days));
    }
    c
}

fn kubelet_configuration() -> Value {
    json!({
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "cgroupDriver": "systemd",
        "containerRuntimeEndpoint": CRI_SOCKET,
        "rotateCertificates": true,
        // Serving certificates from the cluster CA, which metrics-server
        // checks; ops/approve-kubelet-csrs.sh approves those of the site's
        // nodes (see metrics_server.rs).
        "serverTLSBootstrap": true,
        "failSwapOn": true,
        "serializeImagePulls": false,
        "shutdownGracePeriod": "60s",
        "shutdownGracePeriodCriticalPods": "20s",
    })
}

/// kube-proxy's conntrack settings, from the conntrack keys of
/// `spec.tuning.sysctl` (validation made them whole numbers).
///
/// kube-proxy writes `nf_conntrack_max` (and the two TCP timeouts) each time
/// it starts, whatever the node had: with `maxPerCore` unset it writes
/// `max(32768 × CPUs, 131072)`. A sysctl file cannot win against that, and
/// `maxPerCore: 0` (kube-proxy leaves the value alone) would leave the value
/// to whatever else writes it last, and to a module loaded in time. So
/// kube-proxy itself is given the value: it sets `max(maxPerCore × CPUs,
/// min)`, and with `maxPerCore: 1` and `min` the asked size that is exactly
/// the asked size on any node with fewer CPUs than entries. The sysctl file
/// then leaves these keys out, so nothing else writes them.
fn kube_proxy_conntrack(ctx: &Ctx) -> Option<Value> {
    let sysctl = &ctx.site.spec.tuning.sysctl;
    // Either spelling of a key (`net.nf_conntrack_max` is
    // `net.netfilter.nf_conntrack_max`; validation refuses both at once).
    let number = |key: &str| {
        sysctl
            .iter()
            .find(|(k, _)| sysctl_canonical(k) == key)
            .and_then(|(_, v)| v.trim().parse::<u64>().ok())
    };
    let mut c = Map::new();
    for (key, field) in KUBE_PROXY_CONNTRACK {
        let Some(n) = number(key) else { continue };
        match *field {
            "min" => {
                c.insert("maxPerCore".into(), json!(1));
                c.insert("min".into(), json!(n));
            }
            _ => {
                c.insert((*field).to_string(), json!(format!("{n}s")));
            }
        }
    }
    (!c.is_empty()).then_some(Value::Object(c))
}

fn kube_proxy_configuration(ctx: &Ctx) -> Value {
    let mut c = json!({
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": ctx.site.spec.kubernetes.proxy_mode.as_str(),
        "clusterCIDR": ctx.site.spec.kubernetes.pod_subnet,
    });
    if let Some(conntrack) = kube_proxy_conntrack(ctx) {
        c["conntrack"] = conntrack;
    }
    // MetalLB in L2 mode answers ARP for Service addresses; in IPVS mode
    // kube-proxy binds them to kube-ipvs0 and the node would answer too
    // unless strictARP is on (MetalLB's installation guide).
    if ctx.site.uses_metallb() && ctx.site.spec.kubernetes.proxy_mode == crate::spec::ProxyMode::Ipvs {
        c["ipvs"] = json!({"strictARP": true});
    }
    c
}

fn init_configuration(ctx: &Ctx, node: &Node) -> Value {
    let mut init = json!({
        "apiVersion": ctx.api.api_version(),
        "kind": "InitConfiguration",
        "nodeRegistration": node_registration(ctx, node),
        "localAPIEndpoint": {"advertiseAddress": node.address, "bindPort": 6443},
    });
    if let Some(s) = ctx.secrets {
        init["bootstrapTokens"] = json!([{
            "token": s.kubeadm.token,
            "description": format!("meshbundle join token for site {}", ctx.name()),
            "ttl": "24h0m0s",
            "usages": ["signing", "authentication"],
            "groups": ["system:bootstrappers:kubeadm:default-node-token"],
        }]);
        init["certificateKey"] = json!(s.kubeadm.certificate_key);
    }
    init
}

fn join_configuration(ctx: &Ctx, node: &Node, control_plane: bool) -> Result<Option<Value>, RenderError> {
    let Some(s) = ctx.secrets else { return Ok(None) };
    let mut discovery = json!({
        "bootstrapToken": {
            "apiServerEndpoint": api_endpoint(ctx),
            "token": s.kubeadm.token,
            "caCertHashes": [s.discovery_hash()?],
        }
    });
    if ctx.api == KubeadmApi::V1beta3 {
        discovery["timeout"] = json!("5m0s");
    }
    let mut join = json!({
        "apiVersion": ctx.api.api_version(),
        "kind": "JoinConfiguration",
        "discovery": discovery,
        "nodeRegistration": node_registration(ctx, node),
    });
    if control_plane {
        join["controlPlane"] = json!({
            "localAPIEndpoint": {"advertiseAddress": node.address, "bindPort": 6443},
            "certificateKey": s.kubeadm.certificate_key,
        });
    }
    Ok(Some(join))
}

#[inline(never)]
pub(crate) fn render(ctx: &Ctx, tree: &mut FileTree) -> Result<(), RenderError> {
    // With the site secrets, every node's configuration holds the join token
    // (and the control plane's the certificate key): private, like a key.
    let mode = if ctx.secrets.is_some() { MODE_SECRET } else { MODE_FILE };
    for node in &ctx.site.spec.nodes {
        let path = format!("nodes/{}/kubeadm.yaml", node.name);
        let docs = match action(ctx, node) {
            Action::Init => {
                vec![
                    init_configuration(ctx, node),
                    cluster_configuration(ctx),
                    kubelet_configuration(),
                    kube_proxy_configuration(ctx),
                ]
            }
            Action::JoinControlPlane => join_configuration(ctx, node, true)?.into_iter().collect(),
            Action::Join => join_configuration(ctx, node, false)?.into_iter().collect(),
        };
        if !docs.is_empty() {
            tree.add(path, ctx.yaml(&docs)?, mode);
        }
    }
    if let Some(s) = ctx.secrets {
        for (path, content, private) in kubeadm_pki(s) {
            tree.add(
                format!("secrets/kubernetes-pki/{path}"),
                content,
                if private { MODE_SECRET } else { MODE_FILE },
            );
        }
    }
    Ok(())
}
