//! Resource metrics: metrics-server, and the kubelet serving certificates it
//! needs to read the kubelets over verified TLS.
//!
//! The kubelets ask the cluster for their serving certificates
//! (`serverTLSBootstrap: true` in the KubeletConfiguration, see kubeadm.rs):
//! each kubelet sends a CertificateSigningRequest for the signer
//! `kubernetes.io/kubelet-serving`, and the controller manager signs it with
//! the cluster CA once it is approved. Nothing in Kubernetes approves these,
//! so `ops/approve-kubelet-csrs.sh` does, and approves nothing else: a
//! pending request of that signer, from `system:node:NAME` in the group
//! `system:nodes` for a node NAME of the spec, with subject exactly
//! `CN=system:node:NAME,O=system:nodes`, a valid self-signature, server usages
//! only, and a subjectAltName extension whose DER is exactly that of the
//! node's name and address (the node's `Hostname` and `InternalIP`, in the
//! order a kubelet writes them). Comparing the DER rather than openssl's text
//! leaves no room for a name that prints like two, and the listing it reads
//! has the user name and groups Go-quoted (`printf "%q"`), so no value can
//! end a field or forge a line of its own. Serving certificates
//! rotate (the kubelet asks again at 70 to 90% of their life), so each
//! control-plane node's bootstrap installs the script with a systemd timer
//! that runs it every two minutes; `install.sh cluster` runs it before it
//! applies metrics-server, and `ops/verify.sh` fails while a request of a
//! site node is pending.
//!
//! metrics-server then runs without `--kubelet-insecure-tls`: it checks each
//! kubelet's certificate against the cluster CA of its service account, at
//! the node's `InternalIP` (the address of the spec, which the certificate
//! names). Its objects are rendered here from the upstream kustomize base
//! (`manifests/base`) and, from 2 replicas, the `high-availability`
//! component (`manifests/components/high-availability` with the policy/v1
//! patch of `high-availability-1.21+`) of kubernetes-sigs/metrics-server at
//! the commit the catalog records for the release: the release manifests
//! (`components.yaml`, `high-availability-1.21+.yaml`) are release assets
//! only. Changes from upstream: the image from the site registry by digest;
//! `--kubelet-preferred-address-types=InternalIP` (upstream also tries
//! `ExternalIP` and `Hostname`, which the kubelet certificate does not name
//! or the site may not resolve); the replicas from the spec.

use std::net::Ipv4Addr;

use serde_json::{Value, json};

use super::shell::{array, comment, quote};
use super::{Ctx, RenderError, add_yaml};
use crate::catalog::MetricsServerRelease;
use crate::tree::{FileTree, MODE_EXEC, MODE_FILE};

/// The manifest `install.sh cluster` applies.
pub(crate) const MANIFEST: &str = "manifests/metrics-server/metrics-server.yaml";
/// The approval script, in the tree and where the bootstrap installs it.
pub(crate) const APPROVE_SCRIPT: &str = "ops/approve-kubelet-csrs.sh";
pub(crate) const APPROVE_UNIT: &str = "meshbundle-kubelet-csr-approver";
/// The signer of kubelet serving certificates.
pub(crate) const SIGNER: &str = "kubernetes.io/kubelet-serving";
/// How long `install.sh cluster` waits for `kubectl top nodes` to show every node.
const TOP_TRIES: u32 = 60;
const TOP_INTERVAL_SECONDS: u32 = 5;

fn release<'a>(ctx: &Ctx<'a>) -> Option<&'static MetricsServerRelease> {
    if !ctx.site.spec.observability.metrics_server.enabled {
        return None;
    }
    ctx.cat.metrics_server(&ctx.site.spec.kubernetes.version)
}

/// The DER of a subjectAltName extension value (GeneralNames) naming a
/// node, `dNSName` NAME then `iPAddress` ADDRESS, in upper-case hex as
/// `openssl asn1parse` prints it. A node name is at most 63 characters, so
/// every length fits in one byte.
pub(crate) fn node_san_der(name: &str, address: Ipv4Addr) -> String {
    let mut names = Vec::new();
    names.push(0x82u8);
    names.push(name.len() as u8);
    names.extend(name.as_bytes());
    names.extend([0x87, 4]);
    names.extend(address.octets());
    let mut der = vec![0x30, names.len() as u8];
    der.extend(names);
    der.iter().map(|b| format!("{b:02X}")).collect()
}

fn labels() -> Value {
    json!({"k8s-app": "metrics-server"})
}

fn meta(name: &str, namespace: Option<&str>) -> Value {
    let mut m = json!({"name": name, "labels": labels()});
    if let Some(ns) = namespace {
        m["namespace"] = json!(ns);
    }
    m
}

/// The objects of metrics-server's manifest (components.yaml of its
/// release) as this site runs them, but for what depends on the site: the
/// image, the replicas (and, with more than one, the spread over nodes and
/// a disruption budget) and the Service port's appProtocol. As JSON text,
/// read once per render: the module carries text far smaller than the code
/// that would build the same values.
const OBJECTS: &str = r#"[
{"apiVersion": "v1", "kind": "ServiceAccount",
 "metadata": {"name": "metrics-server", "labels": {"k8s-app": "metrics-server"}, "namespace": "kube-system"}},
{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
 "metadata": {"name": "system:aggregated-metrics-reader", "labels": {
   "k8s-app": "metrics-server",
   "rbac.authorization.k8s.io/aggregate-to-view": "true",
   "rbac.authorization.k8s.io/aggregate-to-edit": "true",
   "rbac.authorization.k8s.io/aggregate-to-admin": "true"}},
 "rules": [{"apiGroups": ["metrics.k8s.io"], "resources": ["pods", "nodes"], "verbs": ["get", "list", "watch"]}]},
{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
 "metadata": {"name": "system:metrics-server", "labels": {"k8s-app": "metrics-server"}},
 "rules": [
   {"apiGroups": [""], "resources": ["nodes/metrics"], "verbs": ["get"]},
   {"apiGroups": [""], "resources": ["pods", "nodes"], "verbs": ["get", "list", "watch"]}]},
{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
 "metadata": {"name": "metrics-server-auth-reader", "labels": {"k8s-app": "metrics-server"}, "namespace": "kube-system"},
 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "extension-apiserver-authentication-reader"},
 "subjects": [{"kind": "ServiceAccount", "name": "metrics-server", "namespace": "kube-system"}]},
{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
 "metadata": {"name": "metrics-server:system:auth-delegator", "labels": {"k8s-app": "metrics-server"}},
 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:auth-delegator"},
 "subjects": [{"kind": "ServiceAccount", "name": "metrics-server", "namespace": "kube-system"}]},
{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
 "metadata": {"name": "system:metrics-server", "labels": {"k8s-app": "metrics-server"}},
 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:metrics-server"},
 "subjects": [{"kind": "ServiceAccount", "name": "metrics-server", "namespace": "kube-system"}]},
{"apiVersion": "v1", "kind": "Service",
 "metadata": {"name": "metrics-server", "labels": {"k8s-app": "metrics-server"}, "namespace": "kube-system"},
 "spec": {"selector": {"k8s-app": "metrics-server"},
   "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": "https"}]}},
{"apiVersion": "apps/v1", "kind": "Deployment",
 "metadata": {"name": "metrics-server", "labels": {"k8s-app": "metrics-server"}, "namespace": "kube-system"},
 "spec": {
   "replicas": null,
   "selector": {"matchLabels": {"k8s-app": "metrics-server"}},
   "strategy": {"rollingUpdate": {"maxUnavailable": null}},
   "template": {"metadata": {"labels": {"k8s-app": "metrics-server"}}, "spec": {
     "serviceAccountName": "metrics-server",
     "volumes": [{"name": "tmp-dir", "emptyDir": {}}],
     "priorityClassName": "system-cluster-critical",
     "containers": [{
       "name": "metrics-server",
       "image": null,
       "imagePullPolicy": "IfNotPresent",
       "args": [
         "--cert-dir=/tmp",
         "--secure-port=10250",
         "--kubelet-preferred-address-types=InternalIP",
         "--kubelet-use-node-status-port",
         "--metric-resolution=15s"],
       "resources": {"requests": {"cpu": "100m", "memory": "200Mi"}},
       "ports": [{"name": "https", "containerPort": 10250, "protocol": "TCP"}],
       "readinessProbe": {
         "httpGet": {"path": "/readyz", "port": "https", "scheme": "HTTPS"},
         "periodSeconds": 10, "failureThreshold": 3, "initialDelaySeconds": 20},
       "livenessProbe": {
         "httpGet": {"path": "/livez", "port": "https", "scheme": "HTTPS"},
         "periodSeconds": 10, "failureThreshold": 3},
       "securityContext": {
         "readOnlyRootFilesystem": true,
         "runAsNonRoot": true,
         "runAsUser": 1000,
         "allowPrivilegeEscalation": false,
         "seccompProfile": {"type": "RuntimeDefault"},
         "capabilities": {"drop": ["ALL"]}},
       "volumeMounts": [{"name": "tmp-dir", "mountPath": "/tmp"}]}],
     "nodeSelector": {"kubernetes.io/os": "linux"}}}}},
{"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
 "metadata": {"name": "v1beta1.metrics.k8s.io", "labels": {"k8s-app": "metrics-server"}},
 "spec": {
   "service": {"name": "metrics-server", "namespace": "kube-system"},
   "group": "metrics.k8s.io",
   "version": "v1beta1",
   "insecureSkipTLSVerify": true,
   "groupPriorityMinimum": 100,
   "versionPriority": 100}}
]"#;

fn objects(ctx: &Ctx, rel: &MetricsServerRelease) -> Vec<Value> {
    let replicas = ctx.site.metrics_server_replicas();
    let image = rel.images.first().map(|i| ctx.image(i)).unwrap_or_default();
    let mut docs: Vec<Value> =
        serde_json::from_str(OBJECTS).expect("OBJECTS is a JSON list (the golden files read it)");
    // appProtocol came with 0.8.0 (manifests/base/service.yaml).
    if !rel.version.starts_with("0.7.") {
        docs[6]["spec"]["ports"][0]["appProtocol"] = json!("https");
    }
    let deployment = &mut docs[7]["spec"];
    deployment["replicas"] = json!(replicas);
    deployment["strategy"]["rollingUpdate"]["maxUnavailable"] = json!(if replicas > 1 { 1 } else { 0 });
    let pod = &mut deployment["template"]["spec"];
    pod["containers"][0]["image"] = json!(image);
    if replicas > 1 {
        pod["affinity"] = json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
            "labelSelector": {"matchLabels": labels()},
            "namespaces": ["kube-system"],
            "topologyKey": "kubernetes.io/hostname",
        }]}});
        docs.insert(
            8,
            json!({
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": meta("metrics-server", Some("kube-system")),
                "spec": {"minAvailable": 1, "selector": {"matchLabels": labels()}},
            }),
        );
    }
    // (APIService: metrics-server's serving certificate is self-signed at
    // each start, in --cert-dir: there is no CA to put in caBundle, see the
    // README text; hence insecureSkipTLSVerify.)
    docs
}

fn approve_script(ctx: &Ctx) -> String {
    let nodes = &ctx.site.spec.nodes;
    let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
    let mut sans = String::new();
    for n in nodes {
        let der = n
            .address
            .parse::<Ipv4Addr>()
            .map(|a| node_san_der(&n.name, a))
            .unwrap_or_default();
        sans.push_str(&format!(
            "  {}  # {}: DNS:{}, IP Address:{}\n",
            quote(&der),
            comment(&n.name),
            comment(&n.name),
            comment(&n.address)
        ));
    }
    format!(
        r#"#!/usr/bin/env bash
{header}#
# Approves the kubelet serving certificate requests of this site's own nodes,
# and nothing else. A pending CertificateSigningRequest is approved only when
#   - its signer is {signer},
#   - it was sent by system:node:NAME, in the group system:nodes, for a node
#     NAME of this site,
#   - its usages are server auth with digital signature (and key
#     encipherment, which RSA keys add), nothing else,
#   - the request carries a valid self-signature, its subject is exactly
#     CN=system:node:NAME,O=system:nodes, and its subjectAltName extension is
#     exactly that node's name and address (compared as DER, in the order a
#     kubelet writes them).
# Every other request is left as it is: pending kubelet serving requests that
# fail a check are listed with the reason.
#
# Usage: approve-kubelet-csrs.sh           approve (a timer runs this on every control-plane node)
#        approve-kubelet-csrs.sh --check   list the pending kubelet serving requests of this site's
#                                          nodes, approve nothing; exit 1 when there is one,
#                                          3 when the requests cannot be listed
set -euo pipefail

SIGNER={signer_q}
NODE_NAMES={names}
# The subjectAltName each node's kubelet asks for, as the DER of the
# extension's value in hex (what `openssl asn1parse` prints).
NODE_SANS=(
{sans})
# Field separator of the listing: a control character no field holds.
SEP=$'\x1f'
# A Go-quoted string with nothing escaped.
QUOTED='^"([^"\\]*)"$'

mode=approve
case "${{1:-}}" in
  "") ;;
  --check) mode=check ;;
  *)
    echo "usage: $0 [--check]" >&2
    exit 2
    ;;
esac
# Approving (the timer, or root by hand) uses admin.conf; --check, which
# ops/verify.sh runs as the operator, keeps the caller's kubeconfig.
if [[ $mode == approve ]]; then
  export KUBECONFIG="${{KUBECONFIG:-/etc/kubernetes/admin.conf}}"
fi

# Index of a node of the site, by name.
node_index() {{
  local i
  for i in "${{!NODE_NAMES[@]}}"; do
    if [[ "${{NODE_NAMES[$i]}}" == "$1" ]]; then
      printf '%s\n' "$i"
      return 0
    fi
  done
  return 1
}}

# Prints why a request is not one to approve; prints nothing when it is.
judge() {{
  local signer=$1 user=$2 groups=$3 usages=$4 request=$5
  local node i pem verified subject sans usage
  if [[ "$signer" != "$SIGNER" ]]; then
    printf 'its signer is %s\n' "$signer"
    return
  fi
  if [[ "$user" != system:node:* ]]; then
    printf 'it was sent by %s, not by a node\n' "$user"
    return
  fi
  node=${{user#system:node:}}
  if ! i=$(node_index "$node"); then
    printf 'it was sent by %s, and %s is not a node of this site\n' "$user" "$node"
    return
  fi
  if [[ ",$groups" != *',"system:nodes",'* ]]; then
    printf 'its sender is not in the group system:nodes\n'
    return
  fi
  if [[ ",$usages" != *",server auth,"* ]]; then
    printf 'it does not ask for server auth\n'
    return
  fi
  local -a asked
  IFS=, read -r -a asked <<<"$usages"
  for usage in "${{asked[@]}}"; do
    case "$usage" in
      "server auth" | "digital signature" | "key encipherment") ;;
      *)
        printf 'it asks for the usage %s\n' "$usage"
        return
        ;;
    esac
  done
  if ! pem=$(printf '%s' "$request" | base64 -d 2>/dev/null) || [[ -z "$pem" ]]; then
    printf 'its request is not base64\n'
    return
  fi
  # openssl req -verify exits 0 whatever it found: read what it says.
  verified=$(openssl req -noout -verify <<<"$pem" 2>&1 || true)
  if [[ "$verified" != *"verify OK"* || "$verified" == *fail* ]]; then
    printf 'its request is not a certificate request with a valid self-signature\n'
    return
  fi
  subject=$(openssl req -noout -subject -nameopt RFC2253 <<<"$pem" 2>/dev/null || true)
  if [[ "$subject" != "subject=CN=system:node:$node,O=system:nodes" ]]; then
    printf 'its subject is %s, not CN=system:node:%s,O=system:nodes\n' "${{subject#subject=}}" "$node"
    return
  fi
  sans=$(openssl asn1parse <<<"$pem" 2>/dev/null | awk '
    /:X509v3 Subject Alternative Name *$/ {{ want = 1; next }}
    want && /OCTET STRING/ {{ sub(/.*\[HEX DUMP\]:/, ""); print; want = 0 }}
  ' || true)
  if [[ "$sans" != "${{NODE_SANS[$i]}}" ]]; then
    printf 'its subject alternative names are not exactly the name and address of %s\n' "$node"
    return
  fi
}}

if ! list=$(kubectl get csr -o go-template='{{{{range .items}}}}{{{{if not .status.conditions}}}}{{{{.metadata.name}}}}{{{{"\x1f"}}}}{{{{.spec.signerName}}}}{{{{"\x1f"}}}}{{{{printf "%q" .spec.username}}}}{{{{"\x1f"}}}}{{{{range .spec.groups}}}}{{{{printf "%q" .}}}},{{{{end}}}}{{{{"\x1f"}}}}{{{{range .spec.usages}}}}{{{{.}}}},{{{{end}}}}{{{{"\x1f"}}}}{{{{.spec.request}}}}{{{{"\n"}}}}{{{{end}}}}{{{{end}}}}'); then
  echo "cannot list the CertificateSigningRequests (kubectl get csr failed)" >&2
  exit 3
fi

failed=0
pending=0
while IFS="$SEP" read -r name signer quoted_user groups usages request extra; do
  [[ -n "$name" ]] || continue
  [[ "$signer" == "$SIGNER" ]] || continue
  # The user name and groups come Go-quoted (printf "%q"), so no character
  # of theirs can end a field or a line; a node's need no escapes.
  user=
  if [[ "$quoted_user" =~ $QUOTED ]]; then
    user=${{BASH_REMATCH[1]}}
  fi
  if [[ "$mode" == check ]]; then
    if [[ "$user" == system:node:* ]] && node_index "${{user#system:node:}}" >/dev/null; then
      printf 'pending: %s, the kubelet serving certificate of %s\n' "$name" "${{user#system:node:}}"
      pending=$((pending + 1))
    fi
    continue
  fi
  if [[ -n "$extra" ]]; then
    reason="the listing of it has more fields than asked for"
  elif [[ -z "$user" ]]; then
    reason="it was sent by $quoted_user, which no node's name is"
  else
    reason=$(judge "$signer" "$user" "$groups" "$usages" "$request")
  fi
  if [[ -n "$reason" ]]; then
    printf 'left pending: %s: %s\n' "$name" "$reason"
    continue
  fi
  if kubectl certificate approve "$name" >/dev/null; then
    printf 'approved: %s, the kubelet serving certificate of %s\n' "$name" "${{user#system:node:}}"
  else
    printf 'could not approve %s\n' "$name" >&2
    failed=$((failed + 1))
  fi
done <<<"$list"

if [[ "$mode" == check ]]; then
  ((pending == 0)) || exit 1
  exit 0
fi
((failed == 0))
"#,
        header = ctx.header("#"),
        signer = SIGNER,
        signer_q = quote(SIGNER),
        names = array(&names),
    )
}

fn approve_units(ctx: &Ctx) -> (String, String) {
    let header = ctx.header("#");
    let service = format!(
        "{header}[Unit]\nDescription=meshbundle: approve the kubelet serving certificate requests of this site's nodes\n\
         After=kubelet.service\nConditionPathExists=/etc/kubernetes/admin.conf\n\n\
         [Service]\nType=oneshot\nEnvironment=KUBECONFIG=/etc/kubernetes/admin.conf\n\
         ExecStart=/usr/local/sbin/{APPROVE_UNIT}\n"
    );
    let timer = format!(
        "{header}[Unit]\nDescription=meshbundle: approve kubelet serving certificate requests every two minutes\n\n\
         [Timer]\nOnBootSec=1min\nOnUnitActiveSec=2min\nAccuracySec=15s\n\n\
         [Install]\nWantedBy=timers.target\n"
    );
    (service, timer)
}

/// The step of `install.sh cluster` after every node is Ready: approve the
/// kubelet serving certificates, then metrics-server, ready and answering
/// for every node, before Istio creates its HPAs.
pub(crate) fn install_step(ctx: &Ctx) -> String {
    let mut out = format!(
        "\n  mb_step \"kubelet serving certificates\"\n  \"$HERE\"/{script}\n",
        script = quote(APPROVE_SCRIPT)
    );
    if release(ctx).is_none() {
        return out;
    }
    out.push_str(&format!(
        r#"
  mb_step "metrics-server"
  mb_apply "$HERE"/{manifest}
  kubectl -n kube-system rollout status deployment/metrics-server --timeout=600s

  mb_step "resource metrics of every node (kubectl top nodes)"
  local try top node missing
  for ((try = 1; ; try++)); do
    # A kubelet that asked for its serving certificate after the pass above.
    "$HERE"/{script} >/dev/null || true
    missing=()
    top=$(kubectl top nodes --no-headers 2>/dev/null || true)
    for node in "${{NODE_NAMES[@]}}"; do
      if ! awk -v n="$node" '$1 == n && $2 != "<unknown>" {{ found = 1 }} END {{ exit !found }}' <<<"$top"; then
        missing+=("$node")
      fi
    done
    ((${{#missing[@]}} == 0)) && break
    ((try < {tries})) || mb_die "kubectl top nodes has no metrics for ${{missing[*]}} after {wait} s: see ops/approve-kubelet-csrs.sh --check and kubectl -n kube-system logs deployment/metrics-server"
    sleep {interval}
  done
"#,
        manifest = quote(MANIFEST),
        script = quote(APPROVE_SCRIPT),
        tries = TOP_TRIES,
        wait = TOP_TRIES * TOP_INTERVAL_SECONDS,
        interval = TOP_INTERVAL_SECONDS,
    ));
    out
}

/// The checks of `ops/verify.sh`.
pub(crate) fn verify_lines(ctx: &Ctx) -> String {
    let mut out = String::from(
        r#"
echo "== kubelet serving certificates"
csr_check=0
"$ROOT/ops/approve-kubelet-csrs.sh" --check || csr_check=$?
case $csr_check in
  0) ;;
  1) problem "kubelet serving certificate requests of the site's nodes are pending (is the meshbundle-kubelet-csr-approver.timer running on the control-plane nodes?)" ;;
  *) problem "could not list the kubelet serving certificate requests (ops/approve-kubelet-csrs.sh --check exited $csr_check): can this kubeconfig list certificatesigningrequests?" ;;
esac
"#,
    );
    if release(ctx).is_none() {
        out.push_str(
            "\necho \"== resource metrics: metrics-server is off (spec.observability.metricsServer.enabled)\"\n",
        );
        return out;
    }
    out.push_str(
        r#"
echo "== resource metrics"
kubectl -n kube-system rollout status deployment/metrics-server --timeout="$TIMEOUT" || problem "metrics-server is not ready"
if top=$(kubectl top nodes --no-headers); then
  for node in "${NODES[@]}"; do
    awk -v n="$node" '$1 == n && $2 != "<unknown>" { found = 1 } END { exit !found }' <<<"$top" ||
      problem "kubectl top nodes has no metrics for node $node"
  done
else
  problem "kubectl top nodes fails: the metrics.k8s.io API does not answer"
fi
if hpas=$(kubectl get hpa --all-namespaces --no-headers); then
  # The TARGETS column reads <unknown>/80% while an HPA gets no metrics.
  if grep -F '<unknown>' <<<"$hpas"; then
    problem "some HorizontalPodAutoscalers have no current metrics (<unknown> above)"
  fi
else
  problem "kubectl get hpa fails"
fi
"#,
    );
    out
}

/// Paragraphs (separated by blank lines) wrapped at 90 columns, as the rest
/// of the README is.
fn wrap(text: &str) -> String {
    let mut out = Vec::new();
    for para in text.split("\n\n") {
        let mut lines: Vec<String> = Vec::new();
        let mut line = String::new();
        for word in para.split_whitespace() {
            if !line.is_empty() && line.len() + 1 + word.len() > 90 {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        if !line.is_empty() {
            lines.push(line);
        }
        out.push(lines.join("\n"));
    }
    out.join("\n\n")
}

/// The README's "Resource metrics" section.
pub(crate) fn readme(ctx: &Ctx) -> String {
    format!("## Resource metrics\n\n{}\n\n", wrap(&readme_text(ctx)))
}

fn readme_text(ctx: &Ctx) -> String {
    let names: Vec<String> = ctx
        .site
        .spec
        .nodes
        .iter()
        .map(|n| format!("{} ({})", n.name, n.address))
        .collect();
    let approval = format!(
        "Every kubelet gets its serving certificate from the cluster: the KubeletConfiguration sets \
`serverTLSBootstrap: true`, so each kubelet asks for it with a CertificateSigningRequest for the \
signer `{SIGNER}`, and the controller manager signs it with the cluster CA once it is approved. \
Kubernetes approves no such request by itself, and approving any that comes would let a node \
(or anyone with its credentials) claim another node's name or address. `ops/approve-kubelet-csrs.sh` \
approves exactly the requests of this site's nodes, {nodes}: sent by `system:node:NAME` in the group \
`system:nodes`, with the subject `CN=system:node:NAME,O=system:nodes`, server usages only, a valid \
self-signature, and subject alternative names that are exactly that node's name and address. It \
approves nothing else and lists the kubelet serving requests it leaves pending, with the reason.\n\n\
These certificates rotate: a kubelet asks for a new one at 70 to 90% of its life (one year, the \
controller manager's default), and a new or rebuilt node asks when it starts. So each control-plane \
node's bootstrap installs the script as `/usr/local/sbin/{APPROVE_UNIT}` with the systemd timer \
`{APPROVE_UNIT}.timer`, which runs it every two minutes with the node's `admin.conf`; any \
control-plane node that is up keeps the approvals going, with no one to remember them. \
`install.sh cluster` runs it once every node is Ready, and `ops/verify.sh` fails while a request \
of a site node is pending (`ops/approve-kubelet-csrs.sh --check` lists them). A node whose \
address or name changed asks for names the script does not know: render the bundle with the new \
spec and install it on the control-plane nodes.\n",
        nodes = names.join(", ")
    );
    let Some(rel) = release(ctx) else {
        return format!(
            "metrics-server is off (`spec.observability.metricsServer.enabled`): no \
HorizontalPodAutoscaler gets resource metrics and `kubectl top` does not work, unless the site serves the \
`metrics.k8s.io` API by its own means.\n\n{approval}"
        );
    };
    let replicas = ctx.site.metrics_server_replicas();
    let ha = if replicas > 1 {
        format!(
            "{replicas} replicas, each on another node (required anti-affinity), with a PodDisruptionBudget that keeps one running"
        )
    } else {
        "1 replica (one node runs workloads; no PodDisruptionBudget, which would block its drain)".to_string()
    };
    format!(
        "metrics-server {version} (`kube-system/metrics-server`, {ha}) serves the `metrics.k8s.io` API \
that the HorizontalPodAutoscalers of istiod and the gateways scale on, and `kubectl top`. It reads each kubelet \
at the node's InternalIP, the address of the spec, every 15 s, over TLS checked against the cluster CA: no \
`--kubelet-insecure-tls`. `install.sh cluster` installs it after the nodes joined and before Istio, and waits \
until `kubectl top nodes` shows every node. The API server reaches metrics-server itself as upstream sets it: \
`insecureSkipTLSVerify` on the APIService, because metrics-server makes a self-signed serving certificate at each \
start (no `--tls-cert-file`: it writes one to `--cert-dir=/tmp`, an emptyDir), which no site CA signs and no `caBundle` \
can name before the install. The API server authenticates \
itself to metrics-server with its front-proxy client certificate and sends no token there, so what this leaves open \
is a pod that takes over the `metrics-server` Service's endpoints serving false metrics to the HPAs. A serving \
certificate issued by the site's CA (in the site secrets, with `caBundle` set) would close it; meshbundle does not \
issue one yet.\n\n{approval}\n\
`ops/verify.sh` checks that `kubectl top nodes` has metrics for every node and that no HPA shows an \
`<unknown>` target.",
        version = rel.version,
    )
}

#[inline(never)]
pub(crate) fn render(ctx: &Ctx, tree: &mut FileTree) -> Result<(), RenderError> {
    tree.add(APPROVE_SCRIPT, approve_script(ctx), MODE_EXEC);
    let (service, timer) = approve_units(ctx);
    tree.add(format!("ops/systemd/{APPROVE_UNIT}.service"), service, MODE_FILE);
    tree.add(format!("ops/systemd/{APPROVE_UNIT}.timer"), timer, MODE_FILE);
    if let Some(rel) = release(ctx) {
        add_yaml(ctx, tree, MANIFEST, &objects(ctx, rel))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_san_der_is_what_openssl_writes_for_dns_then_ip() {
        // openssl req -addext "subjectAltName=DNS:cp-1,IP:10.0.0.11", read back with openssl asn1parse.
        assert_eq!(
            node_san_der("cp-1", Ipv4Addr::new(10, 0, 0, 11)),
            "300C820463702D3187040A00000B"
        );
    }
}
