//! Node preparation: kernel modules, sysctls, containerd (with systemd
//! cgroups and the site registry), the kubelet units, and one bootstrap
//! script per node with that node's values baked in. The script pulls the
//! images by the locked digests and points the tags kubeadm asks for at
//! them, so what runs is what the lock pinned.

use toml::{Table, Value as Toml};

use super::shell::{array, comment, quote};
use super::{Ctx, RenderError};
use crate::spec::{Cni, Node, ProxyMode, Role};
use crate::tree::{FileTree, MODE_EXEC, MODE_FILE};
use crate::validate::values::{KUBE_PROXY_CONNTRACK, kube_proxy_fixed_sysctls, sysctl_canonical, sysctl_module};

const LIB_SH: &str = include_str!("assets/lib.sh");

/// On control-plane nodes, after kubeadm: the timer that approves the kubelet
/// serving certificates of the site's nodes (see metrics_server.rs).
const APPROVER_STEP: &str = "\n  mb_step \"kubelet serving certificate approver\"\n  mb_csr_approver \"$ROOT/ops\"\n";

/// Sysctls Kubernetes itself needs; the tuning section adds to these.
pub(crate) const REQUIRED_SYSCTL: &[(&str, &str)] = &[
    ("net.bridge.bridge-nf-call-ip6tables", "1"),
    ("net.bridge.bridge-nf-call-iptables", "1"),
    ("net.ipv4.ip_forward", "1"),
];

/// Tools from the operating system the install relies on.
const OS_TOOLS: &[&str] = &[
    "conntrack",
    "ip",
    "iptables",
    "mount",
    "nsenter",
    "modprobe",
    "sysctl",
    "systemctl",
    "sha256sum",
    "tar",
    "install",
    "cmp",
    "find",
    "sed",
    "grep",
    "socat",
    "ethtool",
];

/// Kernel modules loaded at boot (modules-load.d, which systemd runs before
/// sysctl.d) and by the bootstrap script before it applies the sysctls.
/// `nf_conntrack` in every proxy mode: kube-proxy's iptables and nftables
/// rules need it as much as ipvs does, and its `nf_conntrack_*` parameters
/// exist only once it is loaded. Every module a `spec.tuning.sysctl` key
/// needs is loaded too.
pub(crate) fn kernel_modules(ctx: &Ctx) -> Vec<&'static str> {
    let mut m = vec!["overlay", "br_netfilter", "nf_conntrack"];
    match ctx.site.spec.kubernetes.proxy_mode {
        ProxyMode::Ipvs => m.extend(["ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_sh"]),
        ProxyMode::Nftables => m.push("nf_tables"),
        ProxyMode::Iptables => {}
    }
    // Flannel's vxlan backend.
    m.push("vxlan");
    for key in ctx.site.spec.tuning.sysctl.keys() {
        if let Some(module) = sysctl_module(key)
            && !m.contains(&module)
        {
            m.push(module);
        }
    }
    m
}

fn containerd_major(ctx: &Ctx) -> u64 {
    semver::Version::parse(&ctx.site.spec.containerd.version)
        .map(|v| v.major)
        .unwrap_or(2)
}

fn table(entries: Vec<(&str, Toml)>) -> Toml {
    let mut t = Table::new();
    for (k, v) in entries {
        t.insert(k.to_string(), v);
    }
    Toml::Table(t)
}

/// containerd's configuration: `version = 2` for 1.x, `version = 3` for 2.x,
/// runc with the systemd cgroup driver, the pause image from the site
/// registry, and registry hosts from `certs.d`.
pub(crate) fn containerd_config(ctx: &Ctx) -> Result<String, RenderError> {
    // The tag reference kubeadm asks for (`imageRepository/pause:VERSION`), not
    // the digest: kubeadm's preflight compares the two and warns when they
    // differ. The bootstrap script makes this tag resolve to the locked digest
    // before containerd first needs it (see `PINNED_TAGS`), so the pin holds.
    let pause = tag_reference(ctx, &format!("registry.k8s.io/pause:{}", ctx.k8s.pause));
    let runc = table(vec![
        ("runtime_type", Toml::String("io.containerd.runc.v2".into())),
        ("options", table(vec![("SystemdCgroup", Toml::Boolean(true))])),
    ]);
    let registry = table(vec![("config_path", Toml::String("/etc/containerd/certs.d".into()))]);
    let plugins = if containerd_major(ctx) >= 2 {
        table(vec![
            (
                "io.containerd.cri.v1.images",
                table(vec![
                    ("pinned_images", table(vec![("sandbox", Toml::String(pause))])),
                    ("registry", registry),
                ]),
            ),
            (
                "io.containerd.cri.v1.runtime",
                table(vec![(
                    "containerd",
                    table(vec![("runtimes", table(vec![("runc", runc)]))]),
                )]),
            ),
        ])
    } else {
        table(vec![(
            "io.containerd.grpc.v1.cri",
            table(vec![
                ("sandbox_image", Toml::String(pause)),
                ("containerd", table(vec![("runtimes", table(vec![("runc", runc)]))])),
                ("registry", registry),
            ]),
        )])
    };
    let version = if containerd_major(ctx) >= 2 { 3 } else { 2 };
    let mut root = Table::new();
    root.insert("version".into(), Toml::Integer(version));
    root.insert("plugins".into(), plugins);
    let body = toml::to_string(&root).map_err(|e| RenderError::encode("TOML", e))?;
    Ok(format!("{}{body}", ctx.header("#")))
}

fn hosts_toml(ctx: &Ctx) -> Result<String, RenderError> {
    let c = &ctx.site.spec.containerd;
    let reg = ctx.registry();
    let scheme = if c.registry_plain_http { "http" } else { "https" };
    let server = format!("{scheme}://{reg}");
    let mut host = Table::new();
    host.insert(
        "capabilities".into(),
        Toml::Array(vec![Toml::String("pull".into()), Toml::String("resolve".into())]),
    );
    if c.registry_ca.is_some() {
        host.insert(
            "ca".into(),
            Toml::String(format!("/etc/containerd/certs.d/{reg}/ca.crt")),
        );
    }
    let mut hosts = Table::new();
    hosts.insert(server.clone(), Toml::Table(host));
    let mut root = Table::new();
    root.insert("server".into(), Toml::String(server));
    root.insert("host".into(), Toml::Table(hosts));
    let body = toml::to_string(&root).map_err(|e| RenderError::encode("TOML", e))?;
    Ok(format!("{}{body}", ctx.header("#")))
}

const CONTAINERD_SERVICE: &str = "[Unit]
Description=containerd container runtime
Documentation=https://containerd.io
After=network.target dbus.service

[Service]
ExecStartPre=-/sbin/modprobe overlay
ExecStart=/usr/local/bin/containerd
Type=notify
Delegate=yes
KillMode=process
Restart=always
RestartSec=5
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
OOMScoreAdjust=-999

[Install]
WantedBy=multi-user.target
";

const KUBELET_SERVICE: &str = "[Unit]
Description=kubelet: The Kubernetes Node Agent
Documentation=https://kubernetes.io/docs/
Wants=network-online.target containerd.service
After=network-online.target containerd.service

[Service]
ExecStart=/usr/local/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10

[Install]
WantedBy=multi-user.target
";

const KUBEADM_DROPIN: &str = "[Service]
Environment=\"KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf\"
Environment=\"KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml\"
# kubeadm writes KUBELET_KUBEADM_ARGS here at init and join.
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/local/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
";

/// An upstream image in the site registry, by tag (no digest): what kubeadm,
/// and the Pods it writes, ask for.
fn tag_reference(ctx: &Ctx, upstream: &str) -> String {
    match crate::image::ImageRef::parse(upstream) {
        Ok(r) => r.in_registry(ctx.registry()).to_string(),
        Err(_) => upstream.to_string(),
    }
}

/// The images kubeadm names by tag (`imageRepository` + version) that run on
/// this node: the sandbox, kube-proxy and CoreDNS (scheduled on any node) on
/// every node, the control plane and etcd on control-plane nodes. These are
/// what `kubeadm config images list` prints for the site's configuration.
pub(crate) fn kubeadm_images(ctx: &Ctx, node: &Node) -> Vec<String> {
    let k = ctx.k8s;
    let kv = &ctx.site.spec.kubernetes.version;
    let mut v = vec![
        format!("registry.k8s.io/pause:{}", k.pause),
        format!("registry.k8s.io/kube-proxy:v{kv}"),
        format!("registry.k8s.io/coredns/coredns:{}", k.coredns),
    ];
    if node.role == Role::ControlPlane {
        for c in ["kube-apiserver", "kube-controller-manager", "kube-scheduler"] {
            v.push(format!("registry.k8s.io/{c}:v{kv}"));
        }
        v.push(format!("registry.k8s.io/etcd:{}", k.etcd));
    }
    v
}

/// Images a node pulls ahead, as the references to pull: by digest when the
/// lock pins one (`repo@sha256:...`), else by tag. The kubeadm images plus
/// what the manifests run on every node (the CNI's images, Istio's proxy).
pub(crate) fn node_images(ctx: &Ctx, node: &Node) -> Vec<String> {
    let mut v = kubeadm_images(ctx, node);
    match ctx.site.spec.kubernetes.cni {
        Cni::Flannel => v.extend(ctx.cat.flannel.images.iter().cloned()),
        // calico-kube-controllers is one Deployment, not on every node.
        Cni::Calico => v.extend(
            ctx.cat
                .calico
                .images
                .iter()
                .filter(|i| !i.contains("/kube-controllers:"))
                .cloned(),
        ),
    }
    v.extend(ctx.istio.images.iter().filter(|i| i.contains("/proxyv2:")).cloned());
    v.iter()
        .map(|i| {
            let site = ctx.image(i);
            match crate::image::ImageRef::parse(&site) {
                Ok(r) if r.digest.is_some() => crate::image::ImageRef { tag: None, ..r }.to_string(),
                _ => site,
            }
        })
        .collect()
}

/// The tags kubeadm asks for on this node, each with the digest the lock
/// pins (`repo:tag@sha256:...`); empty without a lock. kubeadm, the static
/// Pods, kube-proxy, CoreDNS and containerd's sandbox name these by tag, and
/// a tag in the registry can move: the bootstrap script points each local tag
/// at the pinned digest, and checks it, before kubeadm runs.
pub(crate) fn pinned_tags(ctx: &Ctx, node: &Node) -> Vec<String> {
    kubeadm_images(ctx, node)
        .iter()
        .map(|i| ctx.image(i))
        .filter(|r| crate::image::ImageRef::parse(r).is_ok_and(|r| r.tag.is_some() && r.digest.is_some()))
        .collect()
}

/// What the node's kubeadm step is.
pub(crate) enum Action {
    Init,
    JoinControlPlane,
    Join,
}

pub(crate) fn action(ctx: &Ctx, node: &Node) -> Action {
    match node.role {
        Role::ControlPlane if ctx.site.first_control_plane().map(|n| &n.name) == Some(&node.name) => Action::Init,
        Role::ControlPlane => Action::JoinControlPlane,
        Role::Worker => Action::Join,
    }
}

fn bootstrap_script(ctx: &Ctx, node: &Node) -> String {
    let spec = &ctx.site.spec;
    let act = action(ctx, node);
    // With the site secrets, kubeadm.yaml holds the join credentials: the
    // script checks that it is there and private before changing anything,
    // and kubeadm init is told not to print them.
    let (private_check, init_args) = match ctx.secrets {
        Some(_) => (
            "  mb_require_private \"$HERE/kubeadm.yaml\" \"the join credentials\"\n",
            " --skip-token-print --skip-certificate-key-print",
        ),
        None => ("", ""),
    };
    let init_step = format!(
        "  mb_step \"kubeadm init\"\n  if [[ -d \"$ROOT/secrets/kubernetes-pki\" ]]; then\n    mb_place_pki \"$ROOT/secrets/kubernetes-pki\"\n  fi\n  mb_kubeadm_init \"$HERE/kubeadm.yaml\" \"$NODE_ADDRESS\"{init_args}\n  mb_admin_kubeconfig\n{APPROVER_STEP}\n  mb_step \"pod network ({cni})\"\n  mb_apply \"$ROOT/{manifest}\"\n",
        cni = spec.kubernetes.cni.as_str(),
        manifest = super::cni::manifest_path(spec.kubernetes.cni),
    );
    let join_cp_step = format!(
        "  mb_step \"kubeadm join (control plane)\"\n  mb_kubeadm_join \"$HERE/kubeadm.yaml\" \"$NODE_NAME\" control-plane\n  mb_admin_kubeconfig\n{APPROVER_STEP}"
    );
    let (what, kubeadm_step) = match act {
        Action::Init => (
            "the first control-plane node: it runs `kubeadm init` and installs the pod network",
            init_step.as_str(),
        ),
        Action::JoinControlPlane => ("a control-plane node that joins the first one", join_cp_step.as_str()),
        Action::Join => (
            "a worker node",
            "  mb_step \"kubeadm join\"\n  mb_kubeadm_join \"$HERE/kubeadm.yaml\" \"$NODE_NAME\"\n",
        ),
    };
    let locked: Vec<String> = ctx
        .lock
        .map(|_| {
            let mut names: Vec<&str> = vec![
                "containerd",
                "runc",
                "cni-plugins",
                "crictl",
                "kubeadm",
                "kubelet",
                "kubectl",
            ];
            if node.role == Role::ControlPlane {
                names.push("istioctl");
            }
            names
                .into_iter()
                .flat_map(|n| spec.architectures.iter().map(move |a| format!("{n}-{}", a.as_str())))
                .filter_map(|f| {
                    ctx.file_sha256(&f)
                        .map(|sha| format!("  [{}]={}", quote(&f), quote(sha.hex())))
                })
                .collect()
        })
        .unwrap_or_default();
    let verify = if locked.is_empty() {
        "  mb_log \"not pinned: render with a lock (meshbundle lock) to check every file's sha256 here\"\n".to_string()
    } else {
        "  local name\n  for name in \"${!FILE_SHA256[@]}\"; do\n    if [[ \"$name\" == *\"-$arch\" ]]; then\n      mb_verify \"$ROOT/files/$name\" \"${FILE_SHA256[$name]}\"\n    fi\n  done\n".to_string()
    };
    let sha_decl = if locked.is_empty() {
        String::new()
    } else {
        format!(
            "# sha256 of every carried file, from meshbundle.lock.\ndeclare -A FILE_SHA256=(\n{}\n)\n",
            locked.join("\n")
        )
    };
    let with_istioctl = if node.role == Role::ControlPlane { "yes" } else { "no" };
    let mut tools: Vec<&str> = OS_TOOLS.to_vec();
    if node.role == Role::ControlPlane {
        // ops/approve-kubelet-csrs.sh, which the approver timer runs here.
        tools.extend(["openssl", "base64", "awk"]);
    }
    let time_step = match super::time::node_time(ctx, node) {
        super::time::NodeTime::Waived => {
            "  mb_step \"time sync\"\n  mb_log \"waived in spec.time: the site keeps this node's clock in step by its own means\"\n"
                .to_string()
        }
        super::time::NodeTime::Follows { conf } => {
            tools.extend(["chronyd", "chronyc"]);
            format!(
                "  mb_step \"time sync (chrony)\"\n  mb_time_sync \"$ROOT\"/{} sync {}\n  \"$ROOT/common/check-time.sh\"\n",
                quote(&conf),
                quote(&super::time::follows(ctx, node))
            )
        }
        super::time::NodeTime::Local { conf } => {
            tools.extend(["chronyd", "chronyc"]);
            format!(
                "  mb_step \"time sync (chrony): the site's time source\"\n  mb_time_sync \"$ROOT\"/{} local {}\n  \"$ROOT/common/check-time.sh\"\n",
                quote(&conf),
                quote("its own clock")
            )
        }
    };
    let images = node_images(ctx, node);
    let pinned = pinned_tags(ctx, node);
    let pinned_decl = if pinned.is_empty() {
        String::new()
    } else {
        format!(
            "# The tags kubeadm asks for, each with the digest it must resolve to here.\nPINNED_TAGS={}\n",
            array(&pinned)
        )
    };
    let pin_step = if pinned.is_empty() {
        "  mb_log \"not pinned: render with a lock (meshbundle lock) so the tags kubeadm asks for resolve to locked digests\"\n"
    } else {
        "  mb_pin_tags \"${PINNED_TAGS[@]}\"\n"
    };
    format!(
        r#"#!/usr/bin/env bash
{header}#
# Bootstrap of node {name} ({role}) of site {site}: {what}.
# Run it as root on {name} ({address}), from the extracted bundle:
#   sudo ./nodes/{name}/bootstrap.sh
# Safe to run again: every step checks what is already done.
set -euo pipefail

HERE="$(cd "$(dirname "${{BASH_SOURCE[0]}}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# shellcheck source=../../common/lib.sh
source "$ROOT/common/lib.sh"

NODE_NAME={name_q}
NODE_ADDRESS={address_q}
TIMEZONE={tz}
KERNEL_MODULES={modules}
OS_TOOLS={tools}
# Pulled by digest when the lock pins one.
IMAGES={images}
{pinned_decl}{sha_decl}
main() {{
  mb_require_root
  local arch
  arch=$(mb_arch)
  mb_check_address "$NODE_ADDRESS"
{private_check}  mb_check_os_tools "${{OS_TOOLS[@]}}"

  mb_step "files carried in the bundle"
{verify}
  mb_step "swap off"
  mb_disable_swap

  mb_step "kernel modules"
  mb_kernel_modules "$ROOT/common/etc/modules-load.d/meshbundle.conf" "${{KERNEL_MODULES[@]}}"

  mb_step "kernel parameters"
  mb_sysctl "$ROOT/common/etc/sysctl.d/90-meshbundle.conf"

  mb_step "time zone $TIMEZONE"
  mb_timezone "$TIMEZONE"

{time_step}{cni_step}
  mb_step "binaries"
  mb_install_binaries "$ROOT/files" "$arch" {with_istioctl}

  mb_step "containerd"
  mb_containerd "$ROOT/common"

  mb_step "kubelet"
  mb_kubelet "$ROOT/common"

  mb_step "images from the site registry"
  mb_pull "${{IMAGES[@]}}"

  mb_step "image tags kubeadm asks for, pinned to the locked digests"
{pin_step}
{kubeadm_step}
  mb_log "node $NODE_NAME is done"
}}

main "$@"
"#,
        header = ctx.header("#"),
        name = comment(&node.name),
        name_q = quote(&node.name),
        role = node.role.as_str(),
        site = comment(ctx.name()),
        address = comment(&node.address),
        address_q = quote(&node.address),
        tz = quote(&spec.timezone),
        modules = array(&kernel_modules(ctx)),
        tools = array(&tools),
        images = array(&images),
        with_istioctl = quote(with_istioctl),
        cni_step = cni_step(ctx),
    )
}

/// Calico's interfaces, which NetworkManager must leave alone: it would
/// otherwise take them over and break the pods' routes (Calico's
/// "Configure NetworkManager" step).
const CALICO_NM_CONF: &str = "common/etc/NetworkManager/conf.d/calico.conf";

/// The bootstrap step the CNI needs before kubelet starts, if any.
fn cni_step(ctx: &Ctx) -> String {
    match ctx.site.spec.kubernetes.cni {
        Cni::Flannel => String::new(),
        Cni::Calico => format!(
            "\n  mb_step \"NetworkManager leaves Calico's interfaces alone\"\n  mb_networkmanager_unmanaged \"$ROOT/{CALICO_NM_CONF}\"\n"
        ),
    }
}

#[inline(never)]
pub(crate) fn render(ctx: &Ctx, tree: &mut FileTree) -> Result<(), RenderError> {
    let spec = &ctx.site.spec;
    tree.add("common/lib.sh", format!("{}{}", ctx.header("#"), LIB_SH), MODE_FILE);
    if ctx.site.spec.kubernetes.cni == Cni::Calico {
        tree.add(
            CALICO_NM_CONF,
            format!(
                "{}[keyfile]\nunmanaged-devices=interface-name:cali*;interface-name:tunl*;interface-name:vxlan.calico;interface-name:vxlan-v6.calico;interface-name:wireguard.cali;interface-name:wg-v6.cali\n",
                ctx.header("#")
            ),
            MODE_FILE,
        );
    }
    tree.add(
        "common/etc/modules-load.d/meshbundle.conf",
        format!("{}{}\n", ctx.header("#"), kernel_modules(ctx).join("\n")),
        MODE_FILE,
    );
    let mut sysctl = ctx.header("#");
    sysctl.push_str("# Needed by Kubernetes:\n");
    for (k, v) in REQUIRED_SYSCTL {
        // A value kube-proxy replaces with its own in this mode (validation
        // warns): the line would not hold, so it stays a comment.
        if let Some((_, fixed)) = kube_proxy_fixed_sysctls(spec.kubernetes.proxy_mode)
            .iter()
            .find(|(key, f)| key == k && *f != v.trim())
        {
            sysctl.push_str(&format!(
                "# {k} = {}: kube-proxy sets {fixed} in {} mode\n",
                v.trim(),
                spec.kubernetes.proxy_mode.as_str()
            ));
            continue;
        }
        sysctl.push_str(&format!("{k} = {v}\n"));
    }
    sysctl.push_str("# From spec.tuning.sysctl:\n");
    for (k, v) in &spec.tuning.sysctl {
        // A required key, or another spelling of one (validation holds it
        // to the required value), is written above.
        if REQUIRED_SYSCTL.iter().any(|(r, _)| *r == sysctl_canonical(k)) {
            continue;
        }
        // kube-proxy writes these when it starts: its configuration carries
        // the value, and a line here would only be overwritten.
        if let Some((_, field)) = KUBE_PROXY_CONNTRACK.iter().find(|(key, _)| *key == sysctl_canonical(k)) {
            sysctl.push_str(&format!(
                "# {k} = {}: set by kube-proxy (KubeProxyConfiguration conntrack.{field})\n",
                v.trim()
            ));
            continue;
        }
        // A value kube-proxy replaces with its own in this mode (validation
        // warns): the line would not hold, so it stays a comment.
        if let Some((_, fixed)) = kube_proxy_fixed_sysctls(spec.kubernetes.proxy_mode)
            .iter()
            .find(|(key, f)| key == k && *f != v.trim())
        {
            sysctl.push_str(&format!(
                "# {k} = {}: kube-proxy sets {fixed} in {} mode\n",
                v.trim(),
                spec.kubernetes.proxy_mode.as_str()
            ));
            continue;
        }
        sysctl.push_str(&format!("{k} = {v}\n"));
    }
    tree.add("common/etc/sysctl.d/90-meshbundle.conf", sysctl, MODE_FILE);
    tree.add("common/etc/containerd/config.toml", containerd_config(ctx)?, MODE_FILE);
    let reg = ctx.registry();
    tree.add(
        format!("common/etc/containerd/certs.d/{reg}/hosts.toml"),
        hosts_toml(ctx)?,
        MODE_FILE,
    );
    if let Some(ca) = &spec.containerd.registry_ca {
        let mut pem = ca.trim().to_string();
        pem.push('\n');
        tree.add(format!("common/etc/containerd/certs.d/{reg}/ca.crt"), pem, MODE_FILE);
    }
    let unit_header = ctx.header("#");
    tree.add(
        "common/etc/systemd/system/containerd.service",
        format!("{unit_header}{CONTAINERD_SERVICE}"),
        MODE_FILE,
    );
    tree.add(
        "common/etc/systemd/system/kubelet.service",
        format!("{unit_header}{KUBELET_SERVICE}"),
        MODE_FILE,
    );
    tree.add(
        "common/etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
        format!("{unit_header}{KUBEADM_DROPIN}"),
        MODE_FILE,
    );
    for node in &spec.nodes {
        tree.add(
            format!("nodes/{}/bootstrap.sh", node.name),
            bootstrap_script(ctx, node),
            MODE_EXEC,
        );
    }
    Ok(())
}
