//! Upgrading the cluster to this bundle's Kubernetes (and containerd):
//! `ops/upgrade-kubernetes.sh`, which orchestrates from the first
//! control-plane node, and `nodes/NAME/upgrade.sh`, which each node runs on
//! itself.
//!
//! The install already splits work this way: each node runs its own
//! `nodes/NAME/bootstrap.sh`, and the cluster steps run on the first
//! control-plane node, which has the admin kubeconfig. meshbundle uses no
//! ssh, so the upgrade does the same. `ops/upgrade-kubernetes.sh` checks the
//! cluster (every node on one old version, exactly one minor or patch step
//! to this bundle's version, every node Ready, etcd healthy), takes and
//! checks an etcd snapshot with `ops/backup.sh`, then takes the nodes one by
//! one, the first control-plane node first, then the other control-plane
//! nodes, then the workers: it drains the node, marks it with the annotation
//! `meshbundle.dev/kubernetes-upgrade=vX`, has the node's `upgrade.sh` run
//! (itself on the first control-plane node; on any other node it says what
//! to run there and waits for it), waits until the node is Ready and reports
//! the target kubelet version (and, on control-plane nodes, runs the target
//! control plane), and only then uncordons it.
//!
//! A node's `upgrade.sh` refuses to change anything unless that node is
//! drained for this version. It checks every carried file against the lock,
//! replaces kubeadm first, pulls the new version's images and points the
//! tags kubeadm asks for at the locked digests, moves containerd to the
//! bundle's version when it differs (from 1.7 to 2.x this migrates the
//! configuration, see `mb_containerd_upgrade` in lib.sh), runs `kubeadm
//! upgrade plan` and `kubeadm upgrade apply` on the first control-plane
//! node (once: not when kubeadm finished it before) or `kubeadm upgrade
//! node` on any other, then replaces the kubelet, kubectl and crictl, reloads
//! systemd and restarts the kubelet.
//!
//! Nothing records progress in a file: each run derives it from the cluster.
//! A node that reports the target version and is Ready is done (and is
//! uncordoned if a previous run stopped before that); `kubeadm upgrade
//! apply` is done when kubeadm-config names the target version and
//! kube-proxy runs it. So after a failure the script stops with what to do,
//! and the next run goes on from the node that failed.
//!
//! The bundle does not know which version the site runs: the script reads
//! it from the cluster (the kubeadm-config ConfigMap and every node's
//! kubelet) and refuses anything but one step forward.

use super::shell::{array, comment, quote};
use super::{Ctx, RenderError};
use crate::spec::{Node, Role};
use crate::tree::{FileTree, MODE_EXEC};

/// The ops script.
pub(crate) const SCRIPT: &str = "ops/upgrade-kubernetes.sh";

/// The version as kubelets and kubeadm report it.
fn target(ctx: &Ctx) -> String {
    format!("v{}", ctx.site.spec.kubernetes.version)
}

/// The nodes in upgrade order: the first control-plane node, the other
/// control-plane nodes, then the workers, each in the spec's order.
fn order<'a>(ctx: &Ctx<'a>) -> Vec<&'a Node> {
    let nodes = &ctx.site.spec.nodes;
    let first = ctx.site.first_control_plane();
    let mut out: Vec<&Node> = first.into_iter().collect();
    out.extend(
        nodes
            .iter()
            .filter(|n| n.role == Role::ControlPlane && Some(&n.name) != first.map(|f| &f.name)),
    );
    out.extend(nodes.iter().filter(|n| n.role == Role::Worker));
    out
}

fn orchestrator(ctx: &Ctx) -> String {
    let first = ctx.site.first_control_plane();
    let nodes = order(ctx);
    let body = format!(
        r#"# shellcheck source=../common/lib.sh
source "$ROOT/common/lib.sh"

TARGET={target}
FIRST_NODE={first}
FIRST_ADDRESS={first_address}
# The spec this bundle was built from, for messages.
SPEC_FILE={spec_file}
# The order of the upgrade: the first control-plane node (kubeadm upgrade
# apply), the other control-plane nodes (kubeadm upgrade node), the workers.
ORDER={order}
ROLES={roles}
DRAIN_TIMEOUT="${{DRAIN_TIMEOUT:-600s}}"
NODE_TIMEOUT="${{NODE_TIMEOUT:-3600s}}"
READY_TIMEOUT="${{READY_TIMEOUT:-600s}}"
for t in "$DRAIN_TIMEOUT" "$NODE_TIMEOUT" "$READY_TIMEOUT"; do
  [[ "$t" =~ ^[1-9][0-9]*[smh]$ ]] || mb_die "DRAIN_TIMEOUT, NODE_TIMEOUT and READY_TIMEOUT are durations such as 600s or 1h, not '$t'"
done
BACKUP_DIR="${{BACKUP_DIR:-$SYSROOT/var/lib/meshbundle/backups}}"

mb_require_root
if [[ "${{NODE:-}}" != "$FIRST_NODE" ]] && ! ip -o -4 addr show | grep -qw -- "inet $FIRST_ADDRESS"; then
  mb_die "run this on $FIRST_NODE ($FIRST_ADDRESS), the first control-plane node, where kubeadm upgrade apply runs (NODE=$FIRST_NODE names it)"
fi
[[ -x "$ROOT/nodes/$FIRST_NODE/upgrade.sh" ]] ||
  mb_die "nodes/$FIRST_NODE/upgrade.sh is not here: extract the bundle on $FIRST_NODE (meshbundle import --extract DIR --node $FIRST_NODE)"
export KUBECONFIG="${{KUBECONFIG:-$SYSROOT/etc/kubernetes/admin.conf}}"

# MAJOR MINOR PATCH of vMAJOR.MINOR.PATCH, or nothing.
numbers() {{
  if [[ "$1" =~ ^v([0-9]+)[.]([0-9]+)[.]([0-9]+)$ ]]; then
    echo "${{BASH_REMATCH[1]}} ${{BASH_REMATCH[2]}} ${{BASH_REMATCH[3]}}"
  fi
}}

in_site() {{
  local n
  for n in "${{ORDER[@]}}"; do
    [[ "$n" != "$1" ]] || return 0
  done
  return 1
}}

mb_step "preflight: the versions the cluster runs"
declare -A VERSION=() MARK=() READY=()
listing=$(kubectl get nodes -o 'jsonpath={{range .items[*]}}{{.metadata.name}}|{{.status.nodeInfo.kubeletVersion}}|{{.metadata.annotations.meshbundle\.dev/kubernetes-upgrade}}|{{.status.conditions[?(@.type=="Ready")].status}}{{"\n"}}{{end}}') ||
  mb_die "cannot list the nodes through $KUBECONFIG: is the API server up?"
while IFS='|' read -r name version mark ready; do
  [[ -n "$name" ]] || continue
  in_site "$name" || mb_die "node $name is in the cluster but not in this site (${{ORDER[*]}}): this bundle cannot upgrade it; add it to $SPEC_FILE and build again, or remove it from the cluster"
  [[ -n "$(numbers "$version")" ]] || mb_die "node $name reports kubelet version '$version', which is not vMAJOR.MINOR.PATCH"
  VERSION[$name]=$version
  MARK[$name]=$mark
  READY[$name]=$ready
done <<<"$listing"
summary=""
for node in "${{ORDER[@]}}"; do
  [[ -n "${{VERSION[$node]:-}}" ]] || mb_die "node $node of this site is not in the cluster: install it first (./install.sh node on it), then upgrade"
  summary+=" $node=${{VERSION[$node]}}"
done
cluster=$(mb_cluster_version "$KUBECONFIG")
[[ -n "$(numbers "$cluster")" ]] || mb_die "the kubeadm-config ConfigMap names no kubernetesVersion vMAJOR.MINOR.PATCH ('$cluster')"
echo "control plane (kubeadm-config): $cluster; kubelets:$summary"

# Every node on one old version (or, after a stop, on it or the target).
from=""
for v in "$cluster" "${{VERSION[@]}}"; do
  [[ "$v" != "$TARGET" ]] || continue
  if [[ -z "$from" ]]; then
    from=$v
  elif [[ "$v" != "$from" ]]; then
    mb_die "the cluster runs $from and $v (control plane $cluster; kubelets:$summary): every node must run one version before an upgrade to $TARGET; bring them to one version first"
  fi
done

if [[ -n "$from" ]]; then
  read -r fmajor fminor fpatch <<<"$(numbers "$from")"
  read -r tmajor tminor tpatch <<<"$(numbers "$TARGET")"
  if ((fmajor != tmajor || tminor < fminor || (tminor == fminor && tpatch <= fpatch))); then
    mb_die "the cluster runs $from; this bundle's $TARGET is not a step forward from it, and kubeadm does not downgrade"
  fi
  if ((tminor > fminor + 1)); then
    mb_die "the cluster runs $from and this bundle installs $TARGET: Kubernetes upgrades one minor version at a time; upgrade to v$fmajor.$((fminor + 1)).x first, with a bundle of that version, then run this one"
  fi
  echo "upgrading from $from to $TARGET"
fi

# What an earlier run left must be in the order this script keeps: no
# kubelet newer than the control plane, no worker before every control-plane node.
cp_done=yes
for i in "${{!ORDER[@]}}"; do
  node=${{ORDER[$i]}}
  if [[ "${{VERSION[$node]}}" == "$TARGET" && "$cluster" != "$TARGET" ]]; then
    mb_die "node $node's kubelet runs $TARGET while the control plane runs $cluster: a kubelet must never be newer than the API server; downgrade that kubelet, then run this again"
  fi
  if [[ "${{ROLES[$i]}}" == control-plane && "${{VERSION[$node]}}" != "$TARGET" ]]; then
    cp_done=no
  elif [[ "${{ROLES[$i]}}" == worker && "${{VERSION[$node]}}" == "$TARGET" && "$cp_done" == no ]]; then
    mb_die "worker $node runs $TARGET while control-plane nodes do not (kubelets:$summary): the control plane goes first"
  fi
done

# A node this script drained (it carries the annotation) may be down; any other must be Ready.
for node in "${{ORDER[@]}}"; do
  if [[ "${{READY[$node]}}" != True && -z "${{MARK[$node]}}" ]]; then
    mb_die "node $node is not Ready: an upgrade starts from a healthy cluster; fix $node first (kubectl describe node $node)"
  fi
done

mb_step "preflight: etcd"
etcdctl_pod() {{
  kubectl -n kube-system exec "etcd-$FIRST_NODE" -- etcdctl \
    --endpoints=https://127.0.0.1:2379 \
    --cacert=/etc/kubernetes/pki/etcd/ca.crt \
    --cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt \
    --key=/etc/kubernetes/pki/etcd/healthcheck-client.key \
    "$@"
}}
health=$(etcdctl_pod endpoint health --cluster 2>&1) || mb_die "etcd is not healthy; fix it before an upgrade: ${{health//$'\n'/; }}"
echo "$health"
members=$(grep -c 'is healthy' <<<"$health" || true)
((members == {control_planes})) || mb_die "etcd has $members healthy member(s), and this site has {control_planes} control-plane node(s): fix etcd before an upgrade"

if [[ "$cluster" != "$TARGET" ]]; then
  mb_step "preflight: an etcd snapshot before kubeadm upgrade apply"
  mkdir -p "$BACKUP_DIR"
  chmod 0700 "$BACKUP_DIR"
  backup="$BACKUP_DIR/before-kubernetes-$TARGET-$(date -u +%Y%m%dT%H%M%SZ)"
  NODE="$FIRST_NODE" "$HERE/backup.sh" "$backup" || mb_die "the backup before the upgrade failed (see above): nothing was upgraded"
  (cd "$backup" && sha256sum -c --quiet etcd-snapshot.db.sha256) || mb_die "the etcd snapshot in $backup does not match its sha256: nothing was upgraded"
  [[ -s "$backup/etcd-snapshot.status" ]] || mb_die "etcd could not read back the snapshot in $backup: nothing was upgraded"
  echo "etcd snapshot: $backup/etcd-snapshot.db (ops/restore-etcd.sh restores it)"
fi

give_back() {{
  kubectl uncordon "$1"
  kubectl annotate node "$1" "$MB_UPGRADE_ANNOTATION-"
  mb_log "$1 runs $TARGET and takes pods again"
}}

upgrade_node() {{
  local node=$1 role=$2 got c image
  mb_step "$node ($role): drain"
  kubectl drain "$node" --ignore-daemonsets --delete-emptydir-data --timeout="$DRAIN_TIMEOUT" ||
    mb_die "cannot drain $node within $DRAIN_TIMEOUT (a PodDisruptionBudget, or a pod that does not stop: see above); fix that, then run this script again (the nodes done so far stay done)"
  kubectl annotate node "$node" "$MB_UPGRADE_ANNOTATION=$TARGET" --overwrite
  if [[ "$node" == "$FIRST_NODE" ]]; then
    mb_step "$node: nodes/$node/upgrade.sh"
    "$ROOT/nodes/$node/upgrade.sh" || mb_die "nodes/$node/upgrade.sh failed (see above); $node stays drained: fix the cause, then run this script again"
  else
    mb_step "$node: run its upgrade on $node"
    echo "$node is drained. On $node, as root, in its extracted bundle (meshbundle import --extract DIR --node $node), run now:"
    echo "  sudo ./nodes/$node/upgrade.sh"
    echo "Waiting up to $NODE_TIMEOUT (NODE_TIMEOUT) for $node's kubelet to report $TARGET."
  fi
  kubectl wait --for="jsonpath={{.status.nodeInfo.kubeletVersion}}=$TARGET" "node/$node" --timeout="$NODE_TIMEOUT" ||
    mb_die "$node's kubelet does not report $TARGET: run sudo ./nodes/$node/upgrade.sh on $node (again) and read what it says, then run this script again; $node stays drained"
  kubectl wait --for=condition=Ready "node/$node" --timeout="$READY_TIMEOUT" ||
    mb_die "$node is not Ready after its upgrade (journalctl -u kubelet on $node); it stays drained: fix it, then run this script again"
  got=$(kubectl get node "$node" -o 'jsonpath={{.status.nodeInfo.kubeletVersion}}')
  [[ "$got" == "$TARGET" ]] || mb_die "$node reports kubelet $got, not $TARGET; it stays drained"
  if [[ "$role" == control-plane ]]; then
    for c in kube-apiserver kube-controller-manager kube-scheduler; do
      image=$(kubectl -n kube-system get pod "$c-$node" -o 'jsonpath={{.spec.containers[0].image}}')
      [[ "$image" == *":$TARGET" ]] ||
        mb_die "$c on $node runs ${{image:-nothing}}, not $TARGET: kubeadm's upgrade did not finish there; $node stays drained: run its upgrade.sh again"
    done
  fi
  give_back "$node"
}}

for i in "${{!ORDER[@]}}"; do
  node=${{ORDER[$i]}}
  if [[ "${{VERSION[$node]}}" == "$TARGET" && "${{READY[$node]}}" == True ]]; then
    if [[ -n "${{MARK[$node]}}" ]]; then
      mb_step "$node: upgraded by an earlier run"
      give_back "$node"
    else
      mb_log "$node runs $TARGET already"
    fi
    continue
  fi
  upgrade_node "$node" "${{ROLES[$i]}}"
done

kubectl get nodes -o wide
echo "every node runs Kubernetes $TARGET; check the install with $HERE/verify.sh"
"#,
        target = quote(&target(ctx)),
        first = quote(first.map(|n| n.name.as_str()).unwrap_or_default()),
        first_address = quote(first.map(|n| n.address.as_str()).unwrap_or_default()),
        order = array(&nodes.iter().map(|n| n.name.clone()).collect::<Vec<_>>()),
        roles = array(&nodes.iter().map(|n| n.role.as_str().to_string()).collect::<Vec<_>>()),
        control_planes = ctx.site.control_plane_nodes().count(),
        spec_file = ctx.spec_file(),
    );
    super::ops::script(
        ctx,
        "Upgrades the cluster to this bundle's Kubernetes (and containerd), node by node: preflight (versions, one step,\n# etcd health, an etcd snapshot), then the first control-plane node (kubeadm upgrade apply), the other control-plane\n# nodes, the workers; each drained, upgraded by its nodes/NAME/upgrade.sh, checked, uncordoned. Run it again after a stop.",
        "ops/upgrade-kubernetes.sh   (as root on the first control-plane node; DRAIN_TIMEOUT=600s, NODE_TIMEOUT=3600s, READY_TIMEOUT=600s)",
        &body,
    )
}

fn node_script(ctx: &Ctx, node: &Node) -> String {
    let spec = &ctx.site.spec;
    let first = ctx.site.first_control_plane().is_some_and(|f| f.name == node.name);
    let mut names: Vec<&str> = crate::layout::NODE_BINARIES.to_vec();
    names.retain(|n| *n != "cni-plugins");
    let locked: Vec<String> = names
        .iter()
        .flat_map(|n| spec.architectures.iter().map(move |a| format!("{n}-{}", a.as_str())))
        .filter_map(|f| {
            ctx.file_sha256(&f)
                .map(|sha| format!("  [{}]={}", quote(&f), quote(sha.hex())))
        })
        .collect();
    let sha_decl = if locked.is_empty() {
        "# Not locked: render with a lock to check every file's sha256 here.\ndeclare -A FILE_SHA256=()\n".to_string()
    } else {
        format!(
            "# sha256 of the carried files this script installs, from meshbundle.lock.\ndeclare -A FILE_SHA256=(\n{}\n)\n",
            locked.join("\n")
        )
    };
    let pinned = super::node::pinned_tags(ctx, node);
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
    let (what, kubeconfig, kubeadm_step) = if first {
        (
            "the first control-plane node: kubeadm upgrade plan and apply",
            "/etc/kubernetes/admin.conf",
            r#"  mb_step "kubeadm upgrade apply $TARGET"
  if mb_upgrade_applied "$KUBECONFIG_FILE" "$TARGET"; then
    mb_log "kubeadm upgrade apply $TARGET finished before: the control plane and its addons run $TARGET"
  else
    kubeadm upgrade plan "$TARGET"
    kubeadm upgrade apply "$TARGET" --yes
  fi
"#,
        )
    } else {
        let what = match node.role {
            Role::ControlPlane => "a control-plane node: kubeadm upgrade node",
            Role::Worker => "a worker: kubeadm upgrade node",
        };
        (
            what,
            "/etc/kubernetes/kubelet.conf",
            r#"  mb_step "kubeadm upgrade node"
  kubeadm upgrade node
"#,
        )
    };
    let cluster_check = if first {
        String::new()
    } else {
        format!(
            "  [[ \"$(mb_cluster_version \"$KUBECONFIG_FILE\")\" == \"$TARGET\" ]] ||\n    mb_die \"the control plane does not run $TARGET yet: ops/upgrade-kubernetes.sh upgrades {} first\"\n",
            comment(
                ctx.site
                    .first_control_plane()
                    .map(|f| f.name.as_str())
                    .unwrap_or_default()
            )
        )
    };
    format!(
        r#"#!/usr/bin/env bash
{header}#
# Kubernetes upgrade of node {name} ({role}) of site {site} to {target_c}: {what}.
# ops/upgrade-kubernetes.sh drains this node and says when to run this, as root on {name} ({address}):
#   sudo ./nodes/{name}/upgrade.sh
# It changes nothing unless this node is drained for {target_c}; run it again after a failure.
set -euo pipefail

HERE="$(cd "$(dirname "${{BASH_SOURCE[0]}}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# shellcheck source=../../common/lib.sh
source "$ROOT/common/lib.sh"

NODE_NAME={name_q}
NODE_ADDRESS={address_q}
TARGET={target}
CONTAINERD_VERSION={containerd}
KUBECONFIG_FILE="$SYSROOT"{kubeconfig}
# Pulled by digest when the lock pins one.
IMAGES={images}
{pinned_decl}{sha_decl}
sha() {{
  printf '%s' "${{FILE_SHA256[$1]:-}}"
}}

main() {{
  mb_require_root
  local arch got
  arch=$(mb_arch)
  mb_check_address "$NODE_ADDRESS"

  mb_step "files carried in the bundle"
  local name
  for name in kubeadm kubelet kubectl crictl containerd runc; do
    [[ -f "$ROOT/files/$name-$arch" ]] || mb_die "files/$name-$arch is missing: extract this bundle on $NODE_NAME (meshbundle import --extract DIR --node $NODE_NAME)"
    if [[ -n "$(sha "$name-$arch")" ]]; then
      mb_verify "$ROOT/files/$name-$arch" "$(sha "$name-$arch")"
    fi
  done

  if [[ "$(mb_binary_version kubelet)" == "$TARGET" && "$(mb_binary_version kubeadm)" == "$TARGET" &&
    "$(mb_binary_version containerd)" == "$CONTAINERD_VERSION" ]] &&
    cmp -s "$ROOT/common/etc/containerd/config.toml" "$SYSROOT/etc/containerd/config.toml" &&
    systemctl is-active --quiet kubelet; then
    mb_log "node $NODE_NAME runs kubeadm and the kubelet $TARGET and containerd $CONTAINERD_VERSION already"
    return 0
  fi

  mb_step "drained for the upgrade"
  mb_upgrade_require_drained "$KUBECONFIG_FILE" "$NODE_NAME" "$TARGET"
{cluster_check}
  mb_step "kubeadm $TARGET"
  mb_install_pinned "$ROOT/files/kubeadm-$arch" /usr/local/bin/kubeadm "$(sha "kubeadm-$arch")"
  got=$(mb_binary_version kubeadm)
  [[ "$got" == "$TARGET" ]] || mb_die "the kubeadm installed in /usr/local/bin reports ${{got:-nothing}}, not $TARGET"

  mb_step "images of $TARGET from the site registry"
  mb_pull "${{IMAGES[@]}}"
{pin_step}
  mb_step "containerd $CONTAINERD_VERSION"
  mb_containerd_upgrade "$ROOT/common" "$ROOT/files" "$arch" "$CONTAINERD_VERSION"

{kubeadm_step}
  mb_step "kubelet, kubectl and crictl $TARGET"
  mb_install_pinned "$ROOT/files/kubelet-$arch" /usr/local/bin/kubelet "$(sha "kubelet-$arch")"
  mb_install_pinned "$ROOT/files/kubectl-$arch" /usr/local/bin/kubectl "$(sha "kubectl-$arch")"
  tar -xzf "$ROOT/files/crictl-$arch" -C "$SYSROOT/usr/local/bin"
  mb_kubelet "$ROOT/common"
  systemctl restart kubelet
  got=$(mb_binary_version kubelet)
  [[ "$got" == "$TARGET" ]] || mb_die "the kubelet installed in /usr/local/bin reports ${{got:-nothing}}, not $TARGET"
  systemctl is-active --quiet kubelet || mb_die "the kubelet does not run after its restart: journalctl -u kubelet"
  mb_log "node $NODE_NAME runs the kubelet $TARGET; ops/upgrade-kubernetes.sh checks that it is Ready and uncordons it"
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
        target_c = comment(&target(ctx)),
        target = quote(&target(ctx)),
        containerd = quote(&spec.containerd.version),
        kubeconfig = quote(kubeconfig),
        images = array(&super::node::node_images(ctx, node)),
    )
}

#[inline(never)]
pub(crate) fn render(ctx: &Ctx, tree: &mut FileTree) -> Result<(), RenderError> {
    tree.add(SCRIPT, orchestrator(ctx), MODE_EXEC);
    for node in &ctx.site.spec.nodes {
        tree.add(
            format!("nodes/{}/upgrade.sh", node.name),
            node_script(ctx, node),
            MODE_EXEC,
        );
    }
    Ok(())
}

/// The operator README's section.
pub(crate) fn readme(ctx: &Ctx) -> String {
    let first = ctx
        .site
        .first_control_plane()
        .map(|n| n.name.as_str())
        .unwrap_or_default();
    let order: Vec<&str> = order(ctx).iter().map(|n| n.name.as_str()).collect();
    format!(
        r#"## Upgrading Kubernetes

This bundle installs Kubernetes {target} with containerd {ctrd}. To bring a cluster installed
by an earlier bundle to it, extract this bundle on every node (`--node NAME`), import its
images into the site registry, then run `sudo ops/upgrade-kubernetes.sh` on **{first}**. It
reads the version the cluster runs (kubeadm-config and every kubelet) and refuses unless
every node runs one version that is one minor (or a patch) behind {target}: Kubernetes
upgrades one minor at a time, so for a bigger jump install the bundles in between, in order.
It checks that every node is Ready and that etcd is healthy (`etcdctl endpoint health
--cluster`), and takes an etcd snapshot with `ops/backup.sh` (checked against its sha256,
under `/var/lib/meshbundle/backups`, `BACKUP_DIR`) before anything changes.

Then it takes the nodes one at a time, in this order:
{order}.
For each, it drains the node (`kubectl drain --ignore-daemonsets --delete-emptydir-data`,
`DRAIN_TIMEOUT`, 600s by default) and marks it `meshbundle.dev/kubernetes-upgrade={target}`; the node's own
`nodes/NAME/upgrade.sh` then does the work on it, and refuses to unless the node is so
marked. On {first} the script runs it itself; for every other node it tells you to run
`sudo ./nodes/NAME/upgrade.sh` on that node and waits for it (`NODE_TIMEOUT`, 1h by
default). `upgrade.sh` checks the carried files against the lock, replaces kubeadm, pulls
the new images and pins the tags kubeadm asks for, moves containerd to {ctrd} if the node
runs another version or configuration, runs `kubeadm upgrade plan` and `kubeadm upgrade
apply {target}` (on {first}, once) or `kubeadm upgrade node` (everywhere else), then replaces
the kubelet, kubectl and crictl and restarts the kubelet. The script waits until the node is
Ready and reports kubelet {target} (and, on a control-plane node, runs the {target} control
plane), and only then uncordons it and goes on to the next.

containerd moves in one piece: its old binaries, runc, configuration and unit are saved
under `/var/lib/meshbundle/containerd-OLDVERSION`; the kubelet stops, containerd stops, the
new binaries, runc, configuration (`version = 3` for containerd 2, which replaces 1.7's
`version = 2`) and unit go in together, containerd starts and must answer `ctr version` as
{ctrd} with its CRI plugin ready (`crictl info`), then the kubelet starts. If any of that
fails, the saved containerd and its own configuration go back together and the script stops.

The script keeps no state of its own: a node that runs {target} and is Ready is done. After a
failure it stops and says what to do, leaving the failed node drained; run it again and it
goes on from that node, without draining the nodes done or running `kubeadm upgrade apply`
again. Once every node runs {target}, run `ops/verify.sh`.

"#,
        target = target(ctx),
        ctrd = ctx.site.spec.containerd.version,
        order = order.join(", "),
    )
}
