//! The pod network, `spec.kubernetes.cni`: an upstream manifest pinned by
//! sha256, with only what the site decides changed and every image moved to
//! the site registry. Every other byte stays as upstream wrote it, so the
//! diff against upstream is short enough to review.
//!
//! - flannel: the site's pod network, flanneld told to use the interface of
//!   the node's address. flannel does not enforce NetworkPolicy.
//! - Calico (the manifest install, `manifests/calico-vxlan.yaml` of the
//!   release tag): VXLAN with `CrossSubnet`, no BGP. VXLAN needs nothing from
//!   the network but UDP 4789 between nodes (no BGP peering, no IP-in-IP,
//!   which many firewalls drop as protocol 4); `CrossSubnet` routes natively
//!   between nodes of one subnet and encapsulates only across routers. The IP
//!   pool is the spec's pod network in /26 blocks; calico-node takes the
//!   address in `spec.kubernetes.nodeSubnet` (else the node's InternalIP,
//!   the spec address), and Felix gives the routes to local pods that same
//!   address as source, so the kubelet's probes come from the node's spec
//!   address, which the NetworkPolicies admit (network_policy.rs). The MTU
//!   is left to Calico's auto-detection (`veth_mtu: "0"` upstream). With
//!   kube-proxy in nftables mode, Felix runs its nftables data plane too.

use super::{Ctx, RenderError};
use crate::image::rewrite_manifest_images;
use crate::spec::{Cni, ProxyMode};
use crate::tree::{FileTree, MODE_FILE};

/// Replaces exactly one occurrence of `from`, or says the upstream file changed shape.
pub(crate) fn replace_once(text: &str, from: &str, to: &str, name: &str) -> Result<String, RenderError> {
    if let Some(at) = text.find(from)
        && !text[at + from.len()..].contains(from)
    {
        let mut out = String::with_capacity(text.len() + to.len());
        out.push_str(&text[..at]);
        out.push_str(to);
        out.push_str(&text[at + from.len()..]);
        return Ok(out);
    }
    Err(RenderError::Upstream {
        name: name.to_string(),
        reason: format!(
            "expected `{from}` once, found it {} times; the upstream file changed shape",
            text.matches(from).count()
        ),
    })
}

#[inline(never)]
pub(crate) fn render(ctx: &Ctx, tree: &mut FileTree) -> Result<(), RenderError> {
    match ctx.site.spec.kubernetes.cni {
        Cni::Flannel => flannel(ctx, tree),
        Cni::Calico => calico(ctx, tree),
    }
}

/// `ops/verify.sh`'s lines for the pod network: with Calico, calico-node
/// ready on every node, its controllers running, and the mesh's
/// NetworkPolicies in place. Nothing with flannel.
pub(crate) fn verify_lines(ctx: &Ctx) -> String {
    if ctx.site.spec.kubernetes.cni != Cni::Calico {
        return String::new();
    }
    let namespaces = super::network_policy::policed_namespaces(ctx);
    format!(
        r#"
echo "== pod network (calico)"
kubectl -n kube-system rollout status daemonset/calico-node --timeout="$TIMEOUT" || problem "calico-node is not ready"
for node in "${{NODES[@]}}"; do
  ready=$(kubectl -n kube-system get pods -l k8s-app=calico-node --field-selector "spec.nodeName=$node" \
    -o jsonpath='{{range .items[*]}}{{.status.conditions[?(@.type=="Ready")].status}}{{end}}' || true)
  [[ "$ready" == True ]] || problem "calico-node is not ready on node $node"
done
kubectl -n kube-system rollout status deployment/calico-kube-controllers --timeout="$TIMEOUT" || problem "calico-kube-controllers is not ready"
POLICED_NAMESPACES={namespaces}
for ns in "${{POLICED_NAMESPACES[@]}}"; do
  kubectl -n "$ns" get networkpolicy default-deny-ingress >/dev/null || problem "namespace $ns has no default-deny-ingress NetworkPolicy ({file})"
done
"#,
        namespaces = super::shell::array(&namespaces),
        file = super::network_policy::FILE,
    )
}

/// The manifest the node bootstrap applies after `kubeadm init`.
pub(crate) fn manifest_path(cni: Cni) -> &'static str {
    match cni {
        Cni::Flannel => "manifests/cni/flannel.yaml",
        Cni::Calico => "manifests/cni/calico.yaml",
    }
}

fn calico(ctx: &Ctx, tree: &mut FileTree) -> Result<(), RenderError> {
    let name = "manifest/calico";
    let f = &ctx.cat.calico.manifest;
    let upstream = ctx.upstream(name, f)?;
    let text = String::from_utf8(upstream).map_err(|_| RenderError::Upstream {
        name: name.into(),
        reason: "not UTF-8 text".into(),
    })?;
    let k = &ctx.site.spec.kubernetes;
    let invalid = |what: &str| RenderError::Internal(format!("{what} is not an IPv4 CIDR after validation"));
    let pods: ipnet::Ipv4Net = k.pod_subnet.parse().map_err(|_| invalid("spec.kubernetes.podSubnet"))?;
    let autodetect = match &k.node_subnet {
        Some(n) => format!(
            "cidr={}",
            n.parse::<ipnet::Ipv4Net>()
                .map_err(|_| invalid("spec.kubernetes.nodeSubnet"))?
                .trunc()
        ),
        None => "kubernetes-internal-ip".to_string(),
    };
    let mut env = format!(
        "            - name: CALICO_IPV4POOL_CIDR\n              value: \"{}\"\n            - name: CALICO_IPV4POOL_BLOCK_SIZE\n              value: \"{CALICO_BLOCK_SIZE}\"\n            # The node's address: the one in spec.kubernetes.nodeSubnet, or the\n            # node's InternalIP (the kubelet's node-ip, the spec address).\n            - name: IP_AUTODETECTION_METHOD\n              value: \"{autodetect}\"\n            # Host-to-local-pod traffic (the kubelet's probes) leaves from the\n            # node's address, which the NetworkPolicies admit.\n            - name: FELIX_DEVICEROUTESOURCEADDRESS\n              valueFrom:\n                fieldRef:\n                  fieldPath: status.hostIP\n",
        pods.trunc()
    );
    if k.proxy_mode == ProxyMode::Nftables {
        env.push_str("            # kube-proxy runs in nftables mode: Felix programs nftables too.\n            - name: FELIX_NFTABLESMODE\n              value: \"Enabled\"\n");
    }
    let text = replace_once(
        &text,
        "            # - name: CALICO_IPV4POOL_CIDR\n            #   value: \"192.168.0.0/16\"\n",
        &env,
        name,
    )?;
    // The upstream VXLAN variant: no BGP, VXLAN CrossSubnet. Checked, so that
    // a different upstream file cannot slip in another mode unnoticed.
    replace_once(&text, "  calico_backend: \"vxlan\"\n", "", name)?;
    replace_once(
        &text,
        "            - name: CALICO_IPV4POOL_VXLAN\n              value: \"CrossSubnet\"\n",
        "",
        name,
    )?;
    let text = rewrite_manifest_images(&text, |r| ctx.image(r));
    let out = format!(
        "{}# Calico {} ({}, sha256 {}),\n# with the IP pool set to the pod network {} in /{CALICO_BLOCK_SIZE} blocks, the node address\n# detected by {autodetect}, Felix's routes to local pods sourced from\n# the node address{}, and images moved to {}.\n---\n{text}",
        ctx.header("#"),
        ctx.cat.calico.version,
        f.url,
        f.sha256.hex(),
        pods.trunc(),
        if k.proxy_mode == ProxyMode::Nftables {
            ", Felix's nftables data plane on"
        } else {
            ""
        },
        ctx.registry()
    );
    tree.add(manifest_path(Cni::Calico), out, MODE_FILE);
    Ok(())
}

/// Calico's IPAM block size (its default, stated): each node borrows /26
/// blocks of the pool as it needs them.
pub(crate) const CALICO_BLOCK_SIZE: u8 = 26;

fn flannel(ctx: &Ctx, tree: &mut FileTree) -> Result<(), RenderError> {
    let name = "manifest/flannel";
    let upstream = ctx.upstream(name, &ctx.cat.flannel.manifest)?;
    let text = String::from_utf8(upstream).map_err(|_| RenderError::Upstream {
        name: name.into(),
        reason: "not UTF-8 text".into(),
    })?;
    let k = &ctx.site.spec.kubernetes;
    let text = replace_once(
        &text,
        "\"Network\": \"10.244.0.0/16\"",
        &format!("\"Network\": \"{}\"", k.pod_subnet),
        name,
    )?;
    let nft = k.proxy_mode == ProxyMode::Nftables;
    let text = replace_once(
        &text,
        "\"EnableNFTables\": false",
        &format!("\"EnableNFTables\": {nft}"),
        name,
    )?;
    // flanneld picks the interface of the default route unless told, and an
    // air-gapped or multi-homed node may have no default route, or one on
    // the wrong network. The node's spec address is the kubelet's node-ip,
    // so it is the node's InternalIP and the Pod's `status.hostIP`: flanneld
    // (v0.27.4, flannel-io/flannel 20bdda0b, main.go) reads every flag from
    // `FLANNELD_<FLAG>` when not given on the command line, and `--iface`
    // given an IP selects the interface holding that address
    // (pkg/ipmatch LookupExtIface). The container's first env entry is this.
    let text = replace_once(
        &text,
        "        env:\n        - name: POD_NAME\n",
        "        env:\n        - name: FLANNELD_IFACE\n          valueFrom:\n            fieldRef:\n              fieldPath: status.hostIP\n        - name: POD_NAME\n",
        name,
    )?;
    let text = rewrite_manifest_images(&text, |r| ctx.image(r));
    let f = &ctx.cat.flannel.manifest;
    let out = format!(
        "{}# flannel {} ({}, sha256 {}),\n# with the pod network set to {}, flanneld on the interface of the node's\n# address (FLANNELD_IFACE from status.hostIP) and images moved to {}.\n---\n{text}",
        ctx.header("#"),
        ctx.cat.flannel.version,
        f.url,
        f.sha256.hex(),
        k.pod_subnet,
        ctx.registry()
    );
    tree.add(manifest_path(Cni::Flannel), out, MODE_FILE);
    Ok(())
}
