//! The top-level `install.sh`, which runs the steps in order on the right
//! machines, and the README that tells the operator what to run where.

use super::kubeadm::api_endpoint;
use super::node::{Action, action};
use super::shell::{array, comment, quote};
use super::{Ctx, RenderError};
use crate::tree::{FileTree, MODE_EXEC, MODE_FILE};

/// The PrometheusRule CRD that `manifests/observability/prometheus-rule.yaml` needs.
pub(crate) const PROMETHEUS_RULE_CRD: &str = "prometheusrules.monitoring.coreos.com";

/// One step of `install.sh cluster` that applies files: its title and the
/// files, in the order they are applied.
pub(crate) struct ApplyStep {
    pub title: &'static str,
    pub files: Vec<String>,
}

/// The files `install.sh cluster` applies after Istio, step by step, each in
/// a fixed order rather than a directory's glob order: resources after the
/// CRDs that define them (Istio's come with `istioctl install`), addons
/// before the rules that watch them, and the PrometheusRule, which needs
/// prometheus-operator's CRD, after everything else. A file of the tree
/// under one of these directories that the lists do not name is applied at
/// the end of its step, in path order, so none is left out. To add a step,
/// add it here.
pub(crate) fn cluster_apply_steps(tree: &FileTree) -> Vec<ApplyStep> {
    const RULE: &str = "manifests/observability/prometheus-rule.yaml";
    let ordered = |known: &[&str], dirs: &[&str], except: &[&str]| -> Vec<String> {
        let mut files: Vec<String> = known
            .iter()
            .filter(|f| tree.contains(f))
            .map(|f| f.to_string())
            .collect();
        let mut rest: Vec<String> = tree
            .paths()
            .filter(|p| {
                p.ends_with(".yaml")
                    && dirs.iter().any(|d| p.starts_with(d))
                    && !known.contains(p)
                    && !except.contains(p)
            })
            .map(str::to_string)
            .collect();
        rest.sort();
        files.extend(rest);
        files
    };
    let steps = vec![
        ApplyStep {
            title: "mesh configuration",
            files: ordered(
                &[
                    "manifests/istio/telemetry.yaml",
                    "manifests/security/peer-authentication.yaml",
                    "manifests/security/request-authentication.yaml",
                    "manifests/security/authorization-policies.yaml",
                    super::network_policy::FILE,
                    "manifests/traffic/destination-rule.yaml",
                    "manifests/traffic/ingress.yaml",
                    "manifests/traffic/egress.yaml",
                ],
                &["manifests/security/", "manifests/traffic/"],
                &[],
            ),
        },
        ApplyStep {
            title: "observability",
            files: ordered(
                &[
                    "manifests/observability/prometheus.yaml",
                    super::alertmanager::MANIFEST,
                    "manifests/observability/grafana.yaml",
                    "manifests/observability/jaeger.yaml",
                    "manifests/observability/kiali.yaml",
                ],
                &["manifests/observability/"],
                &[RULE],
            ),
        },
        ApplyStep {
            title: "alert rules for prometheus-operator",
            files: ordered(&[RULE], &[], &[]),
        },
    ];
    steps.into_iter().filter(|s| !s.files.is_empty()).collect()
}

fn apply_steps_sh(tree: &FileTree) -> String {
    let mut out = String::new();
    for step in cluster_apply_steps(tree) {
        out.push_str(&format!("\n  mb_step \"{}\"\n  mb_apply", step.title));
        for f in &step.files {
            out.push_str(&format!(" \\\n    \"$HERE\"/{}", quote(f)));
        }
        out.push('\n');
    }
    out
}

fn crd_check_sh(ctx: &Ctx) -> String {
    if !ctx.site.spec.observability.prometheus_operator {
        return String::new();
    }
    format!(
        r#"
  # spec.observability.prometheusOperator: prometheus-operator and its CRDs
  # are the site's to install, before this step.
  mb_step "prometheus-operator's PrometheusRule CRD"
  kubectl get crd {crd} >/dev/null \
    || mb_die "the CRD {crd} is not in the cluster, and manifests/observability/prometheus-rule.yaml needs it (spec.observability.prometheusOperator is true): install prometheus-operator and its CRDs, then run ./install.sh cluster again. Nothing was applied."
"#,
        crd = PROMETHEUS_RULE_CRD
    )
}

fn install_sh(ctx: &Ctx, tree: &FileTree) -> String {
    let spec = &ctx.site.spec;
    let names: Vec<String> = spec.nodes.iter().map(|n| n.name.clone()).collect();
    let addresses: Vec<String> = spec.nodes.iter().map(|n| n.address.clone()).collect();
    let first = ctx
        .site
        .first_control_plane()
        .map(|n| n.name.clone())
        .unwrap_or_default();
    format!(
        r#"#!/usr/bin/env bash
{header}#
# Installs site {site}, step by step, on the right machines:
#
#   1. On every node, the first control-plane node ({first}) first:
#        sudo ./install.sh node          (finds the node by this machine's address)
#        sudo ./install.sh node NAME     (or names it)
#   2. On {first}, once every node has joined:
#        sudo ./install.sh cluster
#   3. On a control-plane node (or anywhere with kubectl, istioctl and the whole bundle):
#        ./install.sh verify
#
# Every step can be run again.
set -euo pipefail

HERE="$(cd "$(dirname "${{BASH_SOURCE[0]}}")" && pwd)"
# shellcheck source=common/lib.sh
source "$HERE/common/lib.sh"

FIRST_CONTROL_PLANE={first_q}
REVISION={revision_q}
NODE_NAMES={names}
NODE_ADDRESSES={addresses}

this_node() {{
  local i
  for i in "${{!NODE_ADDRESSES[@]}}"; do
    if ip -o -4 addr show | grep -qw -- "inet ${{NODE_ADDRESSES[$i]}}"; then
      echo "${{NODE_NAMES[$i]}}"
      return 0
    fi
  done
  return 1
}}

# The node this directory was laid out for (meshbundle import --extract DIR
# --node NAME), or nothing for a full extraction.
laid_out_for() {{
  local node=
  if [[ -f "$HERE/{marker}" ]]; then
    IFS= read -r node <"$HERE/{marker}" || true
  fi
  printf '%s' "$node"
}}

{tags_fn}
cmd_node() {{
  local name=${{1:-}} laid_out
  if [[ -z "$name" ]]; then
    name=$(this_node) || mb_die "this machine has none of the site's node addresses; name the node: ./install.sh node NAME"
  fi
  laid_out=$(laid_out_for)
  if [[ -n "$laid_out" && "$laid_out" != "$name" ]]; then
    mb_die "this directory was laid out for node $laid_out (meshbundle import --extract --node $laid_out), not for $name: on $name, extract the bundle with --node $name"
  fi
  [[ -x "$HERE/nodes/$name/bootstrap.sh" ]] || mb_die "there is no node $name in this site (nodes: ${{NODE_NAMES[*]}})"
  [[ -f "$HERE/nodes/$name/kubeadm.yaml" ]] || mb_die "nodes/$name/kubeadm.yaml is missing: it holds the join credentials, which renders without the site secrets (meshbundle render --secrets) and bundles built with --no-private-keys leave out; see \"Join credentials\" in README.md"
  exec "$HERE/nodes/$name/bootstrap.sh"
}}

cmd_cluster() {{
  mb_require_root
  local laid_out
  laid_out=$(laid_out_for)
  if [[ -n "$laid_out" && "$laid_out" != "$FIRST_CONTROL_PLANE" ]]; then
    mb_die "this directory was laid out for node $laid_out, which lacks the CA keys and the Istio CA: run ./install.sh cluster on $FIRST_CONTROL_PLANE"
  fi
  [[ -f "$HERE/secrets/istio-cacerts.yaml" ]] || mb_die "secrets/istio-cacerts.yaml is missing: renders without the site secrets and bundles built with --no-private-keys leave it out; see \"Join credentials\" in README.md"
  export KUBECONFIG="${{KUBECONFIG:-/etc/kubernetes/admin.conf}}"
{crd_check}
  mb_step "namespaces"
{tags_first}  mb_apply "$HERE/manifests/namespaces.yaml"

  mb_step "waiting for every node to be Ready"
  kubectl wait --for=condition=Ready nodes --all --timeout=900s
{metrics}
{metallb}
  mb_step "Istio plug-in CA"
  mb_apply "$HERE/secrets/istio-cacerts.yaml"

  mb_step "Istio (revision $REVISION)"
  istioctl install -y -f "$HERE/manifests/istio/istio-operator.yaml"
  revision_tags

  mb_step "ingress TLS certificate"
  if [[ -f "$HERE/secrets/ingress-tls.yaml" ]]; then
    mb_apply "$HERE/secrets/ingress-tls.yaml"
  fi
{addon_credentials}{alertmanager_credentials}{apply_steps}
  mb_step "verify"
  "$HERE/ops/verify.sh"
}}

case "${{1:-}}" in
  node) shift; cmd_node "$@" ;;
  cluster) cmd_cluster ;;
  verify)
    # Workers get no ops/verify.sh: it needs the admin kubeconfig.
    [[ -x "$HERE/ops/verify.sh" ]] || mb_die "this node has no ops/verify.sh: run ./install.sh verify on a control-plane node"
    exec "$HERE/ops/verify.sh"
    ;;
  *)
    printf '%s\n' >&2 \
      "usage: ./install.sh node [NAME]   prepare this node and init or join it" \
      "       ./install.sh cluster       on $FIRST_CONTROL_PLANE, once every node has joined: Istio and the rest" \
      "       ./install.sh verify        check the install"
    exit 2
    ;;
esac
"#,
        header = ctx.header("#"),
        site = comment(ctx.name()),
        first = comment(&first),
        first_q = quote(&first),
        names = array(&names),
        addresses = array(&addresses),
        revision_q = quote(&ctx.revision),
        crd_check = crd_check_sh(ctx),
        metallb = super::metallb::install_step(ctx),
        metrics = super::metrics_server::install_step(ctx),
        apply_steps = apply_steps_sh(tree),
        addon_credentials = addon_credentials_step(ctx),
        alertmanager_credentials = alertmanager_credentials_step(ctx),
        marker = crate::layout::NODE_MARKER,
        tags_fn = super::canary::install_tags_fn(ctx),
        tags_first = super::canary::install_tags_before_namespaces(),
    )
}

/// Grafana and Kiali read their credentials from a Secret that must exist
/// before they start.
fn addon_credentials_step(ctx: &Ctx) -> String {
    if !crate::pki::secrets::needs_addon_secrets(ctx.site) {
        return String::new();
    }
    let file = super::addons::CREDENTIALS_FILE;
    format!(
        "\n  mb_step \"addon credentials\"\n  [[ -f \"$HERE/{file}\" ]] || mb_die \"{file} is missing: Grafana and Kiali read their logins from it; renders without the site secrets and bundles built with --no-private-keys leave it out; see \\\"Join credentials\\\" in README.md\"\n  mb_apply \"$HERE/{file}\"\n"
    )
}

/// Alertmanager reads its receivers' credentials (SMTP password, webhook
/// token) from a Secret that must exist before it starts.
fn alertmanager_credentials_step(ctx: &Ctx) -> String {
    if !super::alertmanager::needs_credentials(ctx) {
        return String::new();
    }
    let file = super::alertmanager::CREDENTIALS_FILE;
    format!(
        "\n  mb_step \"alertmanager credentials\"\n  [[ -f \"$HERE/{file}\" ]] || mb_die \"{file} is missing: Alertmanager's receivers log in with it; renders without the site secrets and bundles built with --no-private-keys leave it out; see \\\"Join credentials\\\" in README.md\"\n  mb_apply \"$HERE/{file}\"\n"
    )
}

/// The README section that records the version combinations upstream does
/// not support, which `spec.supportPolicy` allowed, and why.
fn unsupported_versions(site: &crate::spec::Site) -> String {
    let found = crate::validate::unsupported_combinations(site);
    let Some(policy) = site
        .spec
        .support_policy
        .as_ref()
        .filter(|_| site.allows_unsupported_versions() && !found.is_empty())
    else {
        return String::new();
    };
    let mut out = String::from(
        "## Unsupported versions\n\nThis site runs versions that upstream does not support together; `spec.supportPolicy` \
         allows it, for this reason:\n\n",
    );
    out.push_str(&format!("> {}\n\n", policy.reason.trim()));
    for u in &found {
        out.push_str(&format!("- `{}`: {}. Supported: {}.\n", u.path, u.message, u.hint));
    }
    out.push_str("\nUpgrade to a supported combination before relying on this site; meshbundle's tests cover only supported ones.\n\n");
    out
}

fn readme(ctx: &Ctx) -> String {
    let site = ctx.site;
    let spec = &site.spec;
    let mut nodes = String::from("| node | address | role | zone | does |\n|---|---|---|---|---|\n");
    for n in &spec.nodes {
        let does = match action(ctx, n) {
            Action::Init => "`kubeadm init`, pod network",
            Action::JoinControlPlane => "joins the control plane",
            Action::Join => "joins as a worker",
        };
        nodes.push_str(&format!(
            "| {} | {} | {} | {} | {does} |\n",
            n.name,
            n.address,
            n.role.as_str(),
            n.zone
        ));
    }
    let first = site.first_control_plane().map(|n| n.name.as_str()).unwrap_or_default();
    let mut missing = Vec::new();
    if ctx.secrets.is_none() {
        missing.push(format!(
            "- **No site secrets**: the join configurations (`nodes/*/kubeadm.yaml` except the first control-plane node's), \
             the kubeadm CAs (`secrets/kubernetes-pki/`), the Istio CA (`secrets/istio-cacerts.yaml`), the ingress \
             certificate and the Grafana and Kiali credentials (`secrets/addon-credentials.yaml`) are not here. Generate them once with `meshbundle secrets generate {} -o site.secrets.yaml` \
             and render with `--secrets site.secrets.yaml`.",
            ctx.spec_file()
        ));
    }
    if ctx.lock.is_none() {
        missing.push(format!(
            "- **Not locked**: image references carry tags but no digests, and the node scripts cannot check the carried \
             files' sha256. Run `meshbundle lock {}` on a connected host and render with `--lock meshbundle.lock`.",
            ctx.spec_file()
        ));
    }
    let missing = if missing.is_empty() {
        String::new()
    } else {
        format!("## Not in this render\n\n{}\n\n", missing.join("\n"))
    };
    let missing = format!("{missing}{}", unsupported_versions(site));
    // kubeadm v1beta4 takes the validity of its certificates from the
    // ClusterConfiguration; before it, kubeadm's own default of one year holds.
    let (kubeadm_leaf, leaf) = match ctx.api {
        crate::spec::KubeadmApi::V1beta4 => (
            format!(
                "{} days (`spec.pki.leafValidityDays`, kubeadm's `certificateValidityPeriod`)",
                spec.pki.leaf_validity_days
            ),
            spec.pki.leaf_validity_days,
        ),
        crate::spec::KubeadmApi::V1beta3 => (
            "365 days (kubeadm's default; this kubeadm version does not take it from the spec)".to_string(),
            365,
        ),
    };
    let renew_every = leaf.saturating_sub(spec.observability.alerts.cert_expiry_days).max(1);
    let ig = &spec.istio.ingress_gateway;
    let supplied = ctx
        .secrets
        .and_then(|s| s.ingress.as_ref())
        .is_some_and(|i| i.ca.is_none());
    let ingress_renewal = if supplied {
        "your CA (it issued it): a new one in `site.secrets.yaml`, then `meshbundle build`, import and `sudo ./install.sh cluster`"
    } else {
        "`meshbundle secrets rotate`, then `meshbundle build`, import and `sudo ./install.sh cluster`"
    };
    let ingress_row = match (&ig.tls, ig.enabled) {
        (Some(t), true) => format!(
            "| ingress certificate (`{}/{}`, `tls.crt`) | {} days (`spec.pki.leafValidityDays`) | {ingress_renewal} | where `site.secrets.yaml` is kept, before it expires |\n",
            ig.namespace, t.credential_name, spec.pki.leaf_validity_days
        ),
        _ => String::new(),
    };
    let cps: Vec<&str> = spec
        .nodes
        .iter()
        .filter(|n| n.role == crate::spec::Role::ControlPlane)
        .map(|n| n.name.as_str())
        .collect();
    let cp_list = format!(" ({})", cps.join(", "));
    let desc = site
        .metadata
        .description
        .as_deref()
        .map(|d| format!("{d}\n\n"))
        .unwrap_or_default();
    format!(
        r#"# Site {name}

{desc}Generated by meshbundle {version}. Every file here comes from `{spec_file}`;
change that and render again instead of editing these files.

Kubernetes {k8s} (kubeadm `{api}`), containerd {ctrd}, Istio {istio} (revision `{rev}`),
{cni} on pod network {pods}, services on {svcs}. The API server is
reached at `{endpoint}`. Every image comes from the site registry `{registry}`.

{missing}## Before you start

- Import the bundle's images into the site registry from any machine that reaches it:
  `meshbundle import site.mbundle --registry {registry}`. Keep them there for the life
  of the bundle: a node keeps a pinned image only until the kubelet's image garbage
  collection removes it while unused, and a node that needs it again (a pod restarted or
  moved, a node added or rebuilt) pulls it from the site registry. If the registry lost
  them, import the bundle into it again with `--registry` before anything needs them.
- Extract the bundle on each node with `--node` and the node's name, e.g.
  `meshbundle import site.mbundle --extract /opt/meshbundle --node {first}`, with
  `--identity KEY` or `--passphrase-file FILE` to open the private files (see "Join
  credentials"). Each node then gets only what it needs: its own `nodes/NAME/` (no
  other node's join configuration), `common/`, `install.sh` and the release files its
  bootstrap installs; control-plane nodes also `manifests/`, `ops/` (renewing the join
  credentials runs on {first} only) and istioctl. The
  Kubernetes, etcd and front-proxy CA keys, `sa.key`, the Istio CA and the ingress key
  go to **{first}** alone: the other control-plane nodes receive the control-plane
  certificates from the cluster when they join (`kubeadm join --certificate-key`), and
  workers never need them. `install.sh` refuses to run on another node than the one
  the directory was laid out for. Extract without `--node` (everything) only on {first}
  or on an operator's machine.
- Each node needs these operating system tools, which come with the OS: conntrack,
  iptables, iproute2 (`ip`), util-linux (`mount`, `nsenter`), socat, ethtool, tar; on
  control-plane nodes also openssl, coreutils' `base64` and awk (the approval of the
  kubelet serving certificates).
- The load balancer in front of the API (`{endpoint}`) forwards TCP 6443 to every
  control-plane node.

## What to run where

{nodes}
1. On **{first}**: `sudo ./install.sh node`. It prepares the node (swap off, kernel
   modules, sysctls, time zone {tz}), installs containerd, runc, the CNI plugins,
   crictl, kubeadm, kubelet and kubectl from `files/`, pulls the images from the site
   registry, runs `kubeadm init` with the site's own CAs and installs the pod network.
2. On **every other node**, control plane first: `sudo ./install.sh node`. Joins use
   the token and CA hash in `nodes/NAME/kubeadm.yaml` (private, see "Join credentials";
   the script refuses a copy others can read). The token is valid for
   24 hours after `kubeadm init`, and the control-plane certificates kubeadm uploads
   for 2 hours; after that, run `sudo ops/renew-join-credentials.sh` on {first}.
3. On **{first}**, once every node has joined: `sudo ./install.sh cluster`. It approves
   the kubelet serving certificates, installs{metrics_step} {metallb_first}the Istio CA, Istio with `istioctl install -f manifests/istio/istio-operator.yaml`
   (revision `{rev}`; the revision tags `{stable_tag}`, which the mesh namespaces are
   labelled with, `{canary_tag}` and `default`, which validates Istio configuration, point
   at it), the gateways' TLS certificate, mTLS, authorization, routes and the
   addons, then checks everything with `ops/verify.sh`.

{time}{metrics}{load_balancing}{alerts}{network_policy}## Operations

| script | what it does |
|---|---|
| `ops/verify.sh` | nodes, istiod, gateways and addons ready; the gateways' external addresses and stated node ports; the `default` and `{stable_tag}` revision tags, the mesh namespaces' labels and the gateways on this revision; mTLS mode; `istioctl analyze`; `istioctl proxy-status` |
| `ops/diagnose.sh [DIR [NS/POD]]` | cluster state, Istio configuration, proxy configuration dumps and logs, in one archive |
| `ops/upgrade-kubernetes.sh` | on the first control-plane node, from a new bundle: upgrades Kubernetes (and containerd) node by node, see "Upgrading Kubernetes" |
| `ops/upgrade-canary.sh` | from a new bundle: precheck, its revision beside the running one, the canary namespaces, the `{stable_tag}` and `default` tags, the workloads namespace by namespace, the gateways, verify (see "Istio upgrades") |
| `ops/rollback-canary.sh` | from the old bundle, before its revision is removed: the tags, workloads and gateways back to its revision, verify |
| `ops/remove-revision.sh OLD` | the `default` tag moved here first, then `istioctl uninstall --revision OLD` once no namespace, tag or proxy uses OLD |
| `ops/cert-expiry.sh [DAYS]` | every certificate that expires within DAYS ({cert_days} by default), each with its renewal (see "Certificates and renewals") |
| `ops/renew-kubeadm-certs.sh` | on a control-plane node: `kubeadm certs renew all`, restarts the static pods one by one, refreshes root's kubeconfig |
| `ops/renew-join-credentials.sh` | puts back the join token and uploaded certificates with the same values, read from `nodes/{first}/kubeadm.yaml` |
| `ops/backup.sh [DIR]` | on a control-plane node: the applied Istio configuration and an etcd snapshot, checked, in a private directory and archive |
| `ops/restore-etcd.sh SNAPSHOT`, then `ops/restore-etcd.sh start` | on each control-plane node: restores etcd from a snapshot (see "Backup and restore") |

### Backup and restore

`sudo ops/backup.sh DIR` on a control-plane node runs `etcdctl snapshot save` in that
node's etcd pod (over TLS, with kubeadm's `healthcheck-client` certificate), checks the
snapshot (`snapshot status`) and writes it with its sha256 and the applied Istio
configuration into `DIR` (mode 0700, files 0600) and `DIR.tar.gz` (0600). It holds every
Secret of the cluster: keep it off the cluster, private. Take one before every upgrade
and every day.

To restore etcd (the whole cluster goes back to the snapshot's moment):

1. On **each** control-plane node{cp_list}, as root, with the same snapshot:
   `ops/restore-etcd.sh DIR/etcd-snapshot.db`. It checks the snapshot against its
   sha256, stops the API server, controller manager, scheduler and etcd (their manifests
   move to `/etc/kubernetes/manifests-stopped-for-restore`), restores the snapshot as
   this node's member of a new etcd cluster of every control-plane node into a new data
   directory with `etcdutl` of the cluster's etcd image, and swaps it in for
   `/var/lib/etcd` (the old one is kept beside it).
2. Then on each control-plane node: `ops/restore-etcd.sh start` (the manifests go back,
   the kubelet restarts). With a single control-plane node, step 1 does this itself.
3. Restart the kubelet on **every** other node too (`sudo systemctl restart kubelet`),
   and restart istiod (`kubectl -n istio-system rollout restart deployment/istiod-{rev}`),
   so nothing keeps state the snapshot undid. The restore moves etcd's revision forward
   by 1000000000 and marks the older revisions compacted (`etcdutl snapshot restore
   --bump-revision --mark-compacted`, the same on every member), so every watch of
   kube-proxy, CoreDNS, flannel, istiod and the kubelets is told to list again rather
   than seeing the revision go back.
4. `ops/verify.sh`; once the cluster works, delete `/var/lib/etcd.before-restore-*`.

## Certificates and renewals

| certificate | lasts | renewed by | where, how often |
|---|---|---|---|
| kubeadm's CAs: `/etc/kubernetes/pki/ca.crt`, `front-proxy-ca.crt`, `etcd/ca.crt` | {root_days} days (`spec.pki.rootValidityDays`; the site secrets issue them) | a new site CA (see "Replacing a root CA") | plan it years ahead |
| kubeadm's certificates (API server, etcd server, peer and clients, front proxy client) and the client certificates in `admin.conf`, `super-admin.conf`, `controller-manager.conf`, `scheduler.conf` | {kubeadm_leaf} | `sudo ops/renew-kubeadm-certs.sh` | on each control-plane node, one at a time, at least once every {renew_every} days (`kubeadm upgrade` also renews them) |
| kubelet client certificate (`/var/lib/kubelet/pki/kubelet-client-current.pem`) | 1 year (the controller manager's `--cluster-signing-duration` default) | the kubelet itself (`rotateCertificates: true`), at 70 to 90% of its life | every node, nothing to do; if `ops/cert-expiry.sh` reports it, rotation failed: `journalctl -u kubelet`, `kubectl get csr` |
| Istio root CA (`istio-system/cacerts`, `root-cert.pem`) | {root_days} days (`spec.pki.rootValidityDays`) | a new site CA (see "Replacing a root CA") | plan it years ahead |
| Istio intermediate CA (`istio-system/cacerts`, `ca-cert.pem`) | {intermediate_days} days (`spec.pki.intermediateValidityDays`) | `meshbundle secrets rotate`, then `meshbundle build`, import, `sudo ./install.sh cluster` and `kubectl -n istio-system rollout restart deployment/istiod-{rev}` | where `site.secrets.yaml` is kept, before it expires |
{ingress_row}| workload certificates of the sidecars | 24 hours | istiod, automatically | nothing to do |

{cert_alerts}Run `sudo ops/cert-expiry.sh` on each control-plane node every week (or when a
certificate alert fires): it reads every certificate under `/etc/kubernetes/pki`, the
client certificates embedded in the kubeconfigs, the kubelet's, the Istio CAs and the
ingress certificate with openssl, reports each one that expires within {cert_days} days
(`spec.observability.alerts.certExpiryDays`) with the renewal that applies, and exits
non-zero when there is any. After `ops/renew-kubeadm-certs.sh`, copies of `admin.conf`
made for other users are stale: copy the new one.

### Replacing a root CA

meshbundle does not rotate a root in place. A root is replaced by a new site CA: every
node must trust the new root before any certificate it issues is used, then everything is
reissued, then the old root is dropped. For the kubeadm CAs, follow Kubernetes' "Manual
rotation of CA certificates" (kubernetes.io, Tasks, TLS) with the new CA from
`meshbundle secrets generate`; for the Istio root, put both roots in `root-cert.pem` of
`istio-system/cacerts`, restart istiod and every workload, switch to the new root's
intermediate, restart again, then remove the old root. Both take a maintenance window;
start well before the date `ops/cert-expiry.sh` shows.

{upgrade_kubernetes}{istio_upgrades}{addons}## Join credentials

The bootstrap token (with the CA hash, it lets any machine join the cluster) and the
certificate key (it decrypts the control-plane CA keys `kubeadm init --upload-certs`
uploads) are secrets, like the private keys. They are only in the kubeadm configurations
`nodes/NAME/kubeadm.yaml`, mode 0600, owner-readable only: the node scripts and
`ops/renew-join-credentials.sh` hand these files to kubeadm and refuse them when they are
missing or others can read them, and nothing prints the values. Keep the mode when you
copy them (`cp -p`, `tar -p`).

In a bundle, every file of mode 0600 (these, and the private files of `secrets/`) is
sealed to the bundle's age recipients or passphrase; `meshbundle import --extract` with
`--identity` or `--passphrase-file` writes them back, mode 0600. A bundle built with
`--no-private-keys` carries none of them. Bring them from whoever holds
`site.secrets.yaml`: on a trusted machine, render the same spec with it and copy into
each node's extracted bundle that node's own files only (on {first}, `nodes/{first}/kubeadm.yaml`
and `secrets`; on any other node, its `nodes/NAME/kubeadm.yaml` alone), modes kept, then
delete the render:

    meshbundle render {spec_file} --secrets site.secrets.yaml -o site-render
    (cd site-render && tar -cf - nodes/{first}/kubeadm.yaml secrets) | (cd /opt/meshbundle && tar -xpf -)   # on {first}
    rm -rf site-render

## Layout

A directory laid out with `--node NAME` holds the part of this tree that node needs
(see "Before you start") and names the node in `.meshbundle-node`.

- `install.sh`: the steps above.
- `nodes/NAME/`: each node's bootstrap script and kubeadm configuration (mode 0600 when it
  holds the join credentials).
- `common/`: what every node gets (`lib.sh`, and files for `/etc`).
- `manifests/`: namespaces, the pod network, the IstioOperator, security, traffic, observability.
- `secrets/`: certificates and keys (private: mode 0600).
- `ops/`: operations scripts.
"#,
        time = super::time::readme(ctx),
        upgrade_kubernetes = super::upgrade_kubernetes::readme(ctx),
        istio_upgrades = super::canary::readme(ctx),
        load_balancing = super::metallb::readme(ctx),
        metallb_first = if site.uses_metallb() {
            "MetalLB and its address pool (first, so the gateways get their address),\n   "
        } else {
            ""
        },
        metrics = super::metrics_server::readme(ctx),
        metrics_step = if ctx.site.spec.observability.metrics_server.enabled {
            " metrics-server\n   (see \"Resource metrics\"),"
        } else {
            ""
        },
        name = site.metadata.name,
        version = crate::VERSION,
        k8s = spec.kubernetes.version,
        api = ctx.api.api_version(),
        ctrd = spec.containerd.version,
        istio = spec.istio.version,
        rev = ctx.revision,
        spec_file = ctx.spec_file(),
        stable_tag = spec.istio.upgrade.stable_tag,
        canary_tag = spec.istio.upgrade.canary_tag,
        cni = match spec.kubernetes.cni {
            crate::spec::Cni::Flannel => format!("flannel {}", ctx.cat.flannel.version),
            crate::spec::Cni::Calico => format!("Calico {}", ctx.cat.calico.version),
        },
        network_policy = super::network_policy::readme(ctx),
        pods = spec.kubernetes.pod_subnet,
        svcs = spec.kubernetes.service_subnet,
        endpoint = api_endpoint(ctx),
        registry = spec.registry,
        tz = spec.timezone,
        alerts = super::observability::alerts_readme(ctx),
        addons = addons_readme(ctx),
        cert_days = spec.observability.alerts.cert_expiry_days,
        cert_alerts = if super::blackbox::on(site) {
            "The alert rules (see \"Alerts\") watch these dates: the Istio CAs through istiod's\n\
             metrics, the ingress certificate (per host) and each control-plane node's API server\n\
             certificate through the blackbox exporter, and kubeadm's client certificates in use\n\
             through the API server. etcd's server, peer and client certificates and the front-proxy\n\
             client cannot be probed; `ops/renew-kubeadm-certs.sh` renews them with the API server's,\n\
             so `KubernetesAPIServerCertificateExpiring` on a node stands for them too.\n\n"
        } else {
            ""
        },
        root_days = spec.pki.root_validity_days,
        intermediate_days = spec.pki.intermediate_validity_days,
        kubeadm_leaf = kubeadm_leaf,
        renew_every = renew_every,
        ingress_row = ingress_row,
        cp_list = cp_list,
    )
}

/// How to log in to the addons, and where Prometheus keeps its data.
fn addons_readme(ctx: &Ctx) -> String {
    let obs = &ctx.site.spec.observability;
    let mut out = String::new();
    if obs.addons.grafana {
        out.push_str(&format!(
            "- **Grafana** has no anonymous access. Its administrator is in the Secret `{secret}` (from\n  \
             `secrets/addon-credentials.yaml`): `kubectl -n istio-system get secret {secret} -o jsonpath='{{.data.grafana-admin-password}}' | base64 -d`.\n",
            secret = crate::pki::files::ADDON_SECRET
        ));
    }
    if obs.addons.kiali {
        out.push_str(&format!(
            "- **Kiali** logs you in with a Kubernetes token (`kubectl -n NAMESPACE create token SERVICEACCOUNT`) and shows\n  \
             what that account may see{}.\n",
            if obs.kiali.view_only {
                "; it is view-only (`spec.observability.kiali.viewOnly`)"
            } else {
                ", and lets it change what it may change"
            }
        ));
    }
    if obs.addons.prometheus {
        let p = &obs.prometheus;
        match &p.storage.storage_class_name {
            Some(class) => out.push_str(&format!(
                "- **Prometheus** keeps {} of metrics on the PersistentVolumeClaim `prometheus` ({}, class `{class}`).\n",
                p.retention, p.storage.size
            )),
            None => out.push_str(&format!(
                "- **Prometheus** keeps {} of metrics in an emptyDir: they are lost whenever its pod restarts or moves. Name a\n  \
                 StorageClass in `spec.observability.prometheus.storage.storageClassName` to keep them.\n",
                p.retention
            )),
        }
    }
    if out.is_empty() {
        out
    } else {
        format!("## Addons\n\n{out}\n")
    }
}

#[inline(never)]
pub(crate) fn render(ctx: &Ctx, tree: &mut FileTree) -> Result<(), RenderError> {
    let script = install_sh(ctx, tree);
    tree.add("install.sh", script, MODE_EXEC);
    tree.add("README.md", readme(ctx), MODE_FILE);
    Ok(())
}
