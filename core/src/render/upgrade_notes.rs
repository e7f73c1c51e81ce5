//! `ops/UPGRADE.md`: for an upgrade bundle (`build --since`, render given an
//! [`UpgradeFrom`]), the ordered steps of exactly this step, from the
//! versions the site runs to the ones this bundle installs: what to import
//! where, which scripts to run on which node, in which order, and how to go
//! back. A plain bundle has no such file.
//!
//! The order follows the support matrix: Kubernetes nodes move control plane
//! first (the first control-plane node, then the others one at a time), then
//! the workers one at a time; when Istio changes too, the component whose
//! move keeps a supported pair at every moment goes first (Kubernetes first
//! when the running Istio supports the new Kubernetes, else Istio first when
//! the new Istio supports the running Kubernetes).

use super::{Ctx, RenderError};
use crate::spec::{Node, Role};
use crate::tree::{FileTree, MODE_FILE};
use crate::upgrade_from::{Changes, Step, UpgradeFrom, Version};

/// Whether Istio `istio` (a catalog version) supports Kubernetes `k8s`;
/// `None` when the catalog does not know that Istio.
fn istio_supports(ctx: &Ctx, istio: &Version, k8s: &Version) -> Option<bool> {
    let r = ctx.cat.istio(istio.as_str())?;
    let minor = |s: &str| -> Option<(u64, u64)> {
        let (a, b) = s.split_once('.')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    };
    let k = (k8s.major(), k8s.minor());
    Some(minor(&r.kubernetes.min)? <= k && k <= minor(&r.kubernetes.max)?)
}

/// Which of Kubernetes and Istio moves first when both change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    KubernetesFirst,
    IstioFirst,
    /// No order keeps a supported pair throughout.
    Unsupported,
}

fn order(ctx: &Ctx, k8s: &Step, istio: &Step) -> Order {
    if istio_supports(ctx, &istio.from, &k8s.to) == Some(true) {
        Order::KubernetesFirst
    } else if istio_supports(ctx, &istio.to, &k8s.from) == Some(true) {
        Order::IstioFirst
    } else {
        Order::Unsupported
    }
}

fn node_list(nodes: &[&Node]) -> String {
    nodes
        .iter()
        .map(|n| format!("`{}`", n.name))
        .collect::<Vec<_>>()
        .join(", ")
}

fn kubernetes_section(ctx: &Ctx, n: &mut usize, from: &UpgradeFrom, changes: &Changes) -> String {
    let site = ctx.site;
    let spec = &site.spec;
    let first: Vec<&Node> = site.first_control_plane().into_iter().collect();
    let other_cp: Vec<&Node> = site
        .control_plane_nodes()
        .filter(|x| Some(&x.name) != first.first().map(|f| &f.name))
        .collect();
    let workers: Vec<&Node> = site.worker_nodes().collect();
    let mut what = Vec::new();
    if let Some(k) = &changes.kubernetes {
        what.push(format!("Kubernetes {} → {}", k.from, k.to));
    }
    if let Some(c) = &changes.containerd {
        what.push(format!("containerd {} → {}", c.from, c.to));
    }
    let mut out = String::new();
    *n += 1;
    out.push_str(&format!("## {n}. {}\n\n", what.join(", ")));
    let first_name = first.first().map(|f| f.name.as_str()).unwrap_or_default();
    out.push_str(&format!(
        "On `{first_name}`, as root: `sudo ops/upgrade-kubernetes.sh` of this bundle. It expects every node on \
         Kubernetes {} with containerd {} (the versions of bundle `{}`; it reads what the cluster runs and refuses \
         anything else), checks that etcd is healthy and takes a fresh etcd snapshot, then takes the nodes one at a \
         time: it drains each, has the node's own `nodes/NAME/upgrade.sh` replace its binaries from this bundle and \
         restart the kubelet, checks the node's version, and uncordons it before the next. It stops at the first \
         failure; run it again and it goes on from where it stopped.\n\n",
        from.kubernetes, from.containerd, from.bundle
    ));
    if changes.containerd.as_ref().is_some_and(Step::major) {
        out.push_str(&format!(
            "containerd moves from {} to {}: on each node `upgrade.sh` migrates `/etc/containerd/config.toml` to the \
             configuration version {} reads, then restarts containerd, then kubelet.\n\n",
            from.containerd, spec.containerd.version, spec.containerd.version
        ));
    }
    out.push_str("In this order, never two nodes at once:\n\n");
    let mut i = 0;
    let mut line = |out: &mut String, text: String| {
        i += 1;
        out.push_str(&format!("{i}. {text}\n"));
    };
    let node_step = if changes.kubernetes.is_some() {
        ", `kubeadm upgrade node`"
    } else {
        ""
    };
    if let Some(f) = first.first() {
        let apply = if changes.kubernetes.is_some() {
            format!(
                ", `kubeadm upgrade plan` and `kubeadm upgrade apply v{}`, once for the cluster",
                spec.kubernetes.version
            )
        } else {
            String::new()
        };
        line(
            &mut out,
            format!(
                "`{}` (first control-plane node, {}): the script runs its `upgrade.sh` itself{apply}",
                f.name, f.address
            ),
        );
    }
    for c in &other_cp {
        line(
            &mut out,
            format!(
                "`{}` (control plane, {}): when the script asks, `sudo ./nodes/{}/upgrade.sh` on it{node_step}",
                c.name, c.address, c.name
            ),
        );
    }
    for w in &workers {
        line(
            &mut out,
            format!(
                "`{}` (worker, {}): when the script asks, `sudo ./nodes/{}/upgrade.sh` on it{node_step}",
                w.name, w.address, w.name
            ),
        );
    }
    out.push_str(
        "\nNo worker before every control-plane node is done: a kubelet is never newer than the API server.\n\n",
    );
    out
}

fn istio_section(ctx: &Ctx, n: &mut usize, from: &UpgradeFrom, changes: &Changes) -> String {
    let first = ctx
        .site
        .first_control_plane()
        .map(|f| f.name.as_str())
        .unwrap_or_default();
    let old = &from.revision;
    let mut out = String::new();
    *n += 1;
    let title = match &changes.istio {
        Some(s) => format!("Istio {} → {} (revision {old} → {})", s.from, s.to, ctx.revision),
        None => format!("Istio revision {old} → {}", ctx.revision),
    };
    out.push_str(&format!("## {n}. {title}\n\n"));
    out.push_str(&format!(
        "A canary upgrade, on `{first}`: the new revision runs beside the old one until you remove the old.\n\n\
         1. `ops/upgrade-canary.sh`: `istioctl x precheck`, installs istiod `{new}` beside `{old}`, moves the revision \
         tags and with them the mesh namespaces, restarts their workloads namespace by namespace (`rollout status`), \
         moves the gateways and the `default` tag, and runs `ops/verify.sh`.\n\
         2. Watch the mesh. To go back while `{old}` still runs: `ops/rollback-canary.sh` of the previous bundle's \
         tree (bundle `{base}`), which has `{old}`'s istioctl and configuration.\n\
         3. When satisfied: `ops/remove-revision.sh {old}`. It refuses while a namespace, a revision tag or a proxy \
         still uses `{old}`.\n\n",
        new = ctx.revision,
        base = from.bundle,
    ));
    out
}

#[inline(never)]
pub(crate) fn render(ctx: &Ctx, tree: &mut FileTree) -> Result<(), RenderError> {
    let Some(from) = ctx.upgrade_from else {
        return Ok(());
    };
    let site = ctx.site;
    let spec = &site.spec;
    let changes = from.changes(site);
    let first = site.first_control_plane().map(|f| f.name.as_str()).unwrap_or_default();
    let mut out = String::new();
    out.push_str(&format!(
        "<!-- Generated by meshbundle {} for site {}. Do not edit: change {} and render again. -->\n\n",
        crate::VERSION,
        ctx.name(),
        ctx.spec_file().replace("--", "- -")
    ));
    out.push_str(&format!("# Upgrading {}\n\n", ctx.name()));
    out.push_str(&format!(
        "This bundle upgrades the site from bundle `{}`.\n\n",
        from.bundle
    ));
    out.push_str("| | the site runs (previous bundle) | this bundle |\n|---|---|---|\n");
    out.push_str(&format!(
        "| Kubernetes | {} | {} |\n",
        from.kubernetes, spec.kubernetes.version
    ));
    out.push_str(&format!(
        "| containerd | {} | {} |\n",
        from.containerd, spec.containerd.version
    ));
    out.push_str(&format!(
        "| Istio | {} (revision `{}`) | {} (revision `{}`) |\n\n",
        from.istio, from.revision, spec.istio.version, ctx.revision
    ));

    let mut n = 0;
    let mut steps = String::new();
    n += 1;
    steps.push_str(&format!(
        "## {n}. Before anything\n\n\
         On `{first}`: `sudo ops/backup.sh` (an etcd snapshot and the cluster's Secrets; keep it off the cluster), \
         and `ops/verify.sh` with the previous bundle's tree: upgrade a healthy site only.\n\n"
    ));
    n += 1;
    let nodes: Vec<&Node> = spec.nodes.iter().collect();
    let cps: Vec<&Node> = spec.nodes.iter().filter(|x| x.role == Role::ControlPlane).collect();
    steps.push_str(&format!(
        "## {n}. Import\n\n\
         This bundle may be differential: it carries only what bundle `{base}` lacks, and `meshbundle import` refuses it \
         wherever that bundle was not imported first, naming it.\n\n\
         1. `meshbundle verify NEW.mbundle` (with `--key` or the site's trust policy).\n\
         2. `meshbundle import NEW.mbundle --registry {registry}` (or `--containerd SOCKET` on each node), where bundle \
         `{base}` was imported.\n\
         3. On each node ({all}), into the directory the previous bundle was laid out in: \
         `meshbundle import NEW.mbundle --extract DIR --node NAME --identity KEY`. The control-plane nodes ({cps}) get \
         this file and `ops/`.\n\n",
        base = from.bundle,
        registry = spec.registry,
        all = node_list(&nodes),
        cps = node_list(&cps),
    ));
    let k8s_moves = changes.kubernetes.is_some() || changes.containerd.is_some();
    let istio_moves = changes.istio.is_some() || changes.revision.is_some();
    let ord = match (&changes.kubernetes, &changes.istio) {
        (Some(k), Some(i)) => order(ctx, k, i),
        _ => Order::KubernetesFirst,
    };
    if ord == Order::Unsupported {
        let (k, i) = (changes.kubernetes.as_ref(), changes.istio.as_ref());
        steps.push_str(&format!(
            "**No order of this step stays inside the support matrix**: Istio {} does not support Kubernetes {}, \
             and Istio {} does not support Kubernetes {}. Upgrade through an intermediate bundle instead \
             (`meshbundle upgrade plan` names one).\n\n",
            i.map(|s| s.from.to_string()).unwrap_or_default(),
            k.map(|s| s.to.to_string()).unwrap_or_default(),
            i.map(|s| s.to.to_string()).unwrap_or_default(),
            k.map(|s| s.from.to_string()).unwrap_or_default(),
        ));
    }
    let istio_first = ord == Order::IstioFirst;
    if istio_moves && istio_first {
        steps.push_str(&istio_section(ctx, &mut n, from, &changes));
    }
    if k8s_moves {
        steps.push_str(&kubernetes_section(ctx, &mut n, from, &changes));
    }
    if istio_moves && !istio_first {
        steps.push_str(&istio_section(ctx, &mut n, from, &changes));
    }
    if !k8s_moves && !istio_moves {
        n += 1;
        steps.push_str(&format!(
            "## {n}. Apply\n\n\
             No version changes: this bundle changes configuration or images only. On `{first}`: \
             `sudo ./install.sh cluster` (every step of it can be run again).\n\n"
        ));
    }
    n += 1;
    steps.push_str(&format!("## {n}. Check\n\nOn `{first}`: `ops/verify.sh`.\n"));
    out.push_str(&steps);
    tree.add("ops/UPGRADE.md", out, MODE_FILE);
    Ok(())
}
