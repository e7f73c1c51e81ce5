//! Operations scripts: verify the install, collect diagnostics (the Istio
//! upgrade, rollback and removal scripts are in `canary.rs`), check
//! certificate expiry, renew join credentials, and back up the applied
//! configuration.

use super::kubeadm::api_endpoint;
use super::shell::{array, quote};
use super::{Ctx, RenderError};
use crate::spec::Role;
use crate::tree::{FileTree, MODE_EXEC};

pub(crate) fn script(ctx: &Ctx, purpose: &str, usage: &str, body: &str) -> String {
    let mut prologue = String::new();
    if body.contains("$HERE") || body.contains("$ROOT") {
        prologue.push_str("HERE=\"$(cd \"$(dirname \"${BASH_SOURCE[0]}\")\" && pwd)\"\n");
    }
    if body.contains("$ROOT") {
        prologue.push_str("ROOT=\"$(cd \"$HERE/..\" && pwd)\"\n");
    }
    if !prologue.is_empty() {
        prologue.push('\n');
    }
    format!(
        "#!/usr/bin/env bash\n{}#\n# {purpose}\n# Usage: {usage}\nset -euo pipefail\n\n{prologue}{body}",
        ctx.header("#")
    )
}

pub(super) fn gateways(ctx: &Ctx) -> Vec<String> {
    let istio = &ctx.site.spec.istio;
    [&istio.ingress_gateway, &istio.egress_gateway]
        .into_iter()
        .filter(|g| g.enabled)
        .map(|g| format!("{}/{}", g.namespace, g.name))
        .collect()
}

fn addons(ctx: &Ctx) -> Vec<&'static str> {
    let a = &ctx.site.spec.observability.addons;
    [
        ("prometheus", a.prometheus),
        ("grafana", a.grafana),
        ("jaeger", a.jaeger),
        ("kiali", a.kiali),
    ]
    .into_iter()
    .chain([(super::blackbox::NAME, super::blackbox::on(ctx.site))])
    .filter(|(_, on)| *on)
    .map(|(n, _)| n)
    .collect()
}

fn verify(ctx: &Ctx) -> String {
    let body = format!(
        r#"REVISION={rev}
NODES={nodes}
GATEWAYS={gateways}
ADDONS={addons}
MTLS_MODE={mtls}
TIMEOUT="${{TIMEOUT:-300s}}"
problems=0

problem() {{
  printf 'FAIL: %s\n' "$*" >&2
  problems=$((problems + 1))
}}

echo "== nodes"
for node in "${{NODES[@]}}"; do
  kubectl wait --for=condition=Ready "node/$node" --timeout="$TIMEOUT" || problem "node $node is not Ready"
done
{time}{cni}{metrics}
echo "== istiod ($REVISION)"
kubectl -n istio-system rollout status "deployment/istiod-$REVISION" --timeout="$TIMEOUT" || problem "istiod-$REVISION is not ready"

echo "== default revision tag"
# The istiod the default tag points at validates Istio configuration.
tagged=$(kubectl get mutatingwebhookconfigurations -l istio.io/tag=default -o jsonpath='{{.items[*].metadata.labels.istio\.io/rev}}' || true)
if [[ -z "$tagged" ]]; then
  echo "note: no default revision tag; set it with: istioctl tag set default --revision $REVISION --overwrite -y"
elif [[ "$tagged" != "$REVISION" ]]; then
  problem "the default revision tag points at $tagged, not $REVISION (istioctl tag set default --revision $REVISION --overwrite -y)"
fi
{tags}
echo "== gateways"
for gw in "${{GATEWAYS[@]}}"; do
  kubectl -n "${{gw%%/*}}" rollout status "deployment/${{gw##*/}}" --timeout="$TIMEOUT" || problem "gateway $gw is not ready"
done
{load_balancing}
echo "== addons"
for addon in "${{ADDONS[@]}}"; do
  kubectl -n istio-system rollout status "deployment/$addon" --timeout="$TIMEOUT" || problem "addon $addon is not ready"
done
{alertmanager}
echo "== mTLS"
mode=$(kubectl -n istio-system get peerauthentication default -o jsonpath='{{.spec.mtls.mode}}' || true)
[[ "$mode" == "$MTLS_MODE" ]] || problem "mesh-wide mTLS is '$mode', expected $MTLS_MODE"

echo "== istioctl analyze"
istioctl analyze --all-namespaces --revision "$REVISION" || problem "istioctl analyze found problems"

echo "== proxy status"
if status=$(istioctl proxy-status --revision "$REVISION"); then
  echo "$status"
  # istioctl exits 0 even when a proxy is behind: read its columns.
  if grep -qwE 'STALE|NOT SENT' <<<"$status"; then
    problem "some proxies are not in sync with istiod (STALE or NOT SENT above)"
  fi
else
  problem "istioctl proxy-status failed"
fi

if ((problems)); then
  echo "$problems check(s) failed; collect details with $ROOT/ops/diagnose.sh" >&2
  exit 1
fi
echo "the install is healthy"
"#,
        rev = quote(&ctx.revision),
        nodes = array(&ctx.site.spec.nodes.iter().map(|n| n.name.clone()).collect::<Vec<_>>()),
        gateways = array(&gateways(ctx)),
        addons = array(&addons(ctx)),
        mtls = quote(ctx.site.spec.security.mtls.mode.as_str()),
        time = super::time::verify_lines(ctx),
        load_balancing = super::metallb::verify_lines(ctx),
        alertmanager = super::alertmanager::verify_lines(ctx),
        cni = super::cni::verify_lines(ctx),
        metrics = super::metrics_server::verify_lines(ctx),
        tags = super::canary::verify_lines(ctx),
    );
    script(
        ctx,
        "Checks that the install is healthy: nodes, kubelet serving certificates, resource metrics, istiod, the default and stable revision tags, the mesh namespaces' labels, gateways and their revision, addons, mTLS, istioctl analyze and proxy status.",
        "ops/verify.sh   (TIMEOUT=300s by default)",
        &body,
    )
}

fn diagnose(ctx: &Ctx) -> String {
    let body = format!(
        r#"REVISION={rev}
GATEWAYS={gateways}
out="${{1:-meshbundle-diagnostics-$(date -u +%Y%m%dT%H%M%SZ)}}"
mkdir -p "$out"

run() {{
  local name=$1
  shift
  echo "-- $name"
  "$@" >"$out/$name.txt" 2>&1 || echo "(failed: $*)" >>"$out/$name.txt"
}}

run nodes kubectl get nodes -o wide
run pods kubectl get pods -A -o wide
run events kubectl get events -A --sort-by=.lastTimestamp
run csrs kubectl get csr
run hpa kubectl get hpa -A
run top-nodes kubectl top nodes
run metrics-server-logs kubectl -n kube-system logs deployment/metrics-server --all-containers --tail=2000
run istio-config kubectl get gateways.networking.istio.io,virtualservices.networking.istio.io,destinationrules.networking.istio.io,serviceentries.networking.istio.io,peerauthentications.security.istio.io,authorizationpolicies.security.istio.io,requestauthentications.security.istio.io -A -o yaml
run proxy-status istioctl proxy-status --revision "$REVISION"
run analyze istioctl analyze --all-namespaces --revision "$REVISION"
run revision-tags istioctl tag list
run istiod-logs kubectl -n istio-system logs "deployment/istiod-$REVISION" --all-containers --tail=2000
{metallb}for gw in "${{GATEWAYS[@]}}"; do
  ns=${{gw%%/*}}
  name=${{gw##*/}}
  run "service-$name" kubectl -n "$ns" get service "$name" -o yaml
  pod=$(kubectl -n "$ns" get pods -l "app=$name" -o jsonpath='{{.items[0].metadata.name}}' || true)
  if [[ -n "$pod" ]]; then
    run "proxy-config-$name" istioctl proxy-config all "$pod.$ns" -o json
    run "logs-$name" kubectl -n "$ns" logs "$pod" --tail=2000
  fi
done
if [[ -n "${{2:-}}" ]]; then
  # ops/diagnose.sh DIR NAMESPACE/POD: also that workload's proxy.
  target=$2
  run "proxy-config-${{target//\//-}}" istioctl proxy-config all "${{target##*/}}.${{target%%/*}}" -o json
  run "logs-${{target//\//-}}" kubectl -n "${{target%%/*}}" logs "${{target##*/}}" --all-containers --tail=2000
fi
tar -czf "$out.tar.gz" "$out"
echo "diagnostics in $out.tar.gz"
"#,
        rev = quote(&ctx.revision),
        gateways = array(&gateways(ctx)),
        metallb = super::metallb::diagnose_lines(ctx),
    );
    script(
        ctx,
        "Collects what support needs: cluster state, Istio configuration, proxy configuration dumps and logs.",
        "ops/diagnose.sh [OUTPUT_DIR [NAMESPACE/POD]]",
        &body,
    )
}

/// Shell that finds this machine's node among the site's nodes by its
/// address (or takes the name `given`, a shell word) and refuses anything but a
/// control-plane node. `worker` is a double-quoted shell string that may
/// name `$node`.
fn this_control_plane_node(ctx: &Ctx, given: &str, worker: &str) -> String {
    let nodes = &ctx.site.spec.nodes;
    format!(
        r#"NODE_NAMES={names}
NODE_ADDRESSES={addresses}
NODE_ROLES={roles}

node=""
role=""
given={given}
for i in "${{!NODE_NAMES[@]}}"; do
  if [[ -n "$given" ]]; then
    [[ "${{NODE_NAMES[$i]}}" == "$given" ]] || continue
  elif ! ip -o -4 addr show | grep -qw -- "inet ${{NODE_ADDRESSES[$i]}}"; then
    continue
  fi
  node=${{NODE_NAMES[$i]}}
  role=${{NODE_ROLES[$i]}}
  break
done
[[ -n "$node" ]] || mb_die "this machine is none of the site's nodes (${{NODE_NAMES[*]}}); name it: {name_it}"
[[ "$role" == control-plane ]] || mb_die {worker}
"#,
        names = array(&nodes.iter().map(|n| n.name.clone()).collect::<Vec<_>>()),
        addresses = array(&nodes.iter().map(|n| n.address.clone()).collect::<Vec<_>>()),
        roles = array(&nodes.iter().map(|n| n.role.as_str().to_string()).collect::<Vec<_>>()),
        name_it = if given == "\"${1:-}\"" {
            "$0 NAME"
        } else {
            "NODE=NAME $0"
        },
    )
}

fn control_plane_names(ctx: &Ctx) -> Vec<String> {
    ctx.site
        .spec
        .nodes
        .iter()
        .filter(|n| n.role == Role::ControlPlane)
        .map(|n| n.name.clone())
        .collect()
}

/// What renews each kind of certificate, as `cert-expiry.sh` names it.
const RENEW_KUBEADM: &str = "run ops/renew-kubeadm-certs.sh on each control-plane node, one at a time";
const RENEW_ROOT: &str = "it is a root CA: replace it with a new site CA, see \"Replacing a root CA\" in README.md";
const RENEW_ROTATE: &str = "meshbundle secrets rotate, then meshbundle build, import the new bundle and run ./install.sh cluster (then restart istiod for its CA)";
const RENEW_SUPPLIED: &str = "it was issued by your own CA: have it issue a new one, replace it in site.secrets.yaml, then meshbundle build, import the new bundle and run ./install.sh cluster";
const RENEW_KUBELET: &str = "the kubelet renews it itself (rotateCertificates); it runs out only when rotation fails: check journalctl -u kubelet and kubectl get csr on this node";

fn cert_expiry(ctx: &Ctx) -> String {
    let ig = &ctx.site.spec.istio.ingress_gateway;
    let tls = if ig.enabled {
        ig.tls
            .as_ref()
            .map(|t| format!("{}/{}", ig.namespace, t.credential_name))
    } else {
        None
    };
    // A certificate meshbundle did not issue (no ingress CA in the secrets) is renewed by whoever did.
    let supplied = ctx
        .secrets
        .and_then(|s| s.ingress.as_ref())
        .is_some_and(|i| i.ca.is_none());
    let body = format!(
        r#"# shellcheck source=../common/lib.sh
source "$ROOT/common/lib.sh"

DEFAULT_DAYS={days}
DAYS="${{1:-$DEFAULT_DAYS}}"
[[ "$DAYS" =~ ^[0-9]{{1,5}}$ ]] || mb_die "DAYS must be a number of days, not '$DAYS'"
INGRESS_SECRET={ingress}
RENEW_KUBEADM={renew_kubeadm}
RENEW_ROOT={renew_root}
RENEW_ROTATE={renew_rotate}
RENEW_INGRESS={renew_ingress}
RENEW_KUBELET={renew_kubelet}
PKI="$SYSROOT/etc/kubernetes/pki"
KUBECONFIGS="$SYSROOT/etc/kubernetes"
KUBELET_CLIENT="$SYSROOT/var/lib/kubelet/pki/kubelet-client-current.pem"
limit=$((DAYS * 86400))
problems=0
if [[ -z "${{KUBECONFIG:-}}" && -f "$KUBECONFIGS/admin.conf" ]]; then
  export KUBECONFIG="$KUBECONFIGS/admin.conf"
fi

problem() {{
  printf '%s\n' "$1" "    renew: $2" >&2
  problems=$((problems + 1))
}}

# check WHAT RENEWAL, the certificate (PEM) on standard input.
check() {{
  local what=$1 renewal=$2 out rc=0 end
  out=$(openssl x509 -noout -enddate -checkend "$limit" 2>/dev/null) || rc=$?
  end=$(sed -n 's/^notAfter=//p' <<<"$out")
  if [[ -z "$end" ]]; then
    problem "UNREADABLE: $what" "$renewal"
  elif ((rc == 0)); then
    echo "ok: $what (until $end)"
  else
    problem "EXPIRING within $DAYS days: $what (on $end)" "$renewal"
  fi
}}

is_ca() {{
  openssl x509 -noout -ext basicConstraints <"$1" 2>/dev/null | grep -q 'CA:TRUE'
}}

secret_key() {{
  kubectl -n "$1" get secret "$2" -o "jsonpath={{.data.$3}}" | base64 -d
}}

if [[ -d "$PKI" ]]; then
  echo "== Kubernetes certificates (kubeadm, on this node)"
  while IFS= read -r -d '' crt; do
    if is_ca "$crt"; then
      check "${{crt#"$SYSROOT"}}" "$RENEW_ROOT" <"$crt"
    else
      check "${{crt#"$SYSROOT"}}" "$RENEW_KUBEADM" <"$crt"
    fi
  done < <(find "$PKI" -type f -name '*.crt' -print0 | sort -z)

  echo "== client certificates in the kubeconfigs"
  for conf in "$KUBECONFIGS"/*.conf; do
    [[ -f "$conf" ]] || continue
    data=$(sed -n 's/^[[:space:]]*client-certificate-data:[[:space:]]*//p' "$conf" | head -n1)
    [[ -n "$data" ]] || continue
    case "${{conf##*/}}" in
      kubelet.conf) renewal=$RENEW_KUBELET ;;
      *) renewal=$RENEW_KUBEADM ;;
    esac
    check "client certificate in ${{conf#"$SYSROOT"}}" "$renewal" < <(base64 -d <<<"$data" 2>/dev/null)
  done
fi

if [[ -f "$KUBELET_CLIENT" ]]; then
  echo "== kubelet client certificate (the kubelet rotates it itself)"
  check "${{KUBELET_CLIENT#"$SYSROOT"}}" "$RENEW_KUBELET" <"$KUBELET_CLIENT"
fi

# The cluster's certificates, read through the API: where there is a kubeconfig
# (control-plane nodes have admin.conf); workers leave them to those.
if [[ -z "${{KUBECONFIG:-}}" && ! -f "${{HOME:-/root}}/.kube/config" ]]; then
  echo "== Istio CA and ingress certificate: no kubeconfig here, check them on a control-plane node"
else
  echo "== Istio CA"
  check "Istio root CA (istio-system/cacerts root-cert.pem)" "$RENEW_ROOT" < <(secret_key istio-system cacerts 'root-cert\.pem')
  check "Istio intermediate CA (istio-system/cacerts ca-cert.pem)" "$RENEW_ROTATE" < <(secret_key istio-system cacerts 'ca-cert\.pem')

  if [[ -n "$INGRESS_SECRET" ]]; then
    echo "== ingress gateway certificate"
    check "ingress certificate ($INGRESS_SECRET tls.crt)" "$RENEW_INGRESS" < <(secret_key "${{INGRESS_SECRET%%/*}}" "${{INGRESS_SECRET##*/}}" 'tls\.crt')
  fi
fi

if ((problems)); then
  echo "$problems certificate(s) expire within $DAYS days or cannot be read; see \"Certificates and renewals\" in README.md" >&2
  exit 1
fi
echo "no certificate expires within $DAYS days"
"#,
        days = quote(&ctx.site.spec.observability.alerts.cert_expiry_days.to_string()),
        ingress = quote(&tls.unwrap_or_default()),
        renew_kubeadm = quote(RENEW_KUBEADM),
        renew_root = quote(RENEW_ROOT),
        renew_rotate = quote(RENEW_ROTATE),
        renew_ingress = quote(if supplied { RENEW_SUPPLIED } else { RENEW_ROTATE }),
        renew_kubelet = quote(RENEW_KUBELET),
    );
    script(
        ctx,
        "Checks certificate expiry: every kubeadm certificate and kubeconfig client certificate on this node, the kubelet's client\n# certificate, the Istio root and intermediate CAs and the ingress certificate. Each problem names its renewal.",
        "ops/cert-expiry.sh [DAYS]   (as root on each control-plane node; on a worker it checks the kubelet's)",
        &body,
    )
}

fn renew_kubeadm(ctx: &Ctx) -> String {
    let body = format!(
        r#"# shellcheck source=../common/lib.sh
source "$ROOT/common/lib.sh"

CONTROL_PLANE={control_plane}
# The API server of each, on the node's address (localAPIEndpoint).
CONTROL_PLANE_APIS={apis}
{this_node}# The static pods, in the order they are restarted: etcd first, so the API
# server comes back on an etcd that serves its renewed certificates.
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler)
TIMEOUT="${{TIMEOUT:-300}}"
[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || mb_die "TIMEOUT is a number of seconds, not '$TIMEOUT'"
MANIFESTS="$SYSROOT/etc/kubernetes/manifests"
# Outside the manifest directory, which the kubelet watches.
HELD="$SYSROOT/etc/kubernetes/manifests-held-by-meshbundle"
ADMIN="$SYSROOT/etc/kubernetes/admin.conf"

mb_require_root

# Every manifest moved out goes back, whatever happens.
restore_manifests() {{
  local f
  [[ -d "$HELD" ]] || return 0
  for f in "$HELD"/*.yaml; do
    [[ -e "$f" ]] || continue
    if [[ -e "$MANIFESTS/${{f##*/}}" ]]; then
      mb_log "both $f and $MANIFESTS/${{f##*/}} exist: keeping the one in $MANIFESTS"
    else
      mv "$f" "$MANIFESTS/"
      mb_log "put back $MANIFESTS/${{f##*/}}"
    fi
  done
  rmdir "$HELD" 2>/dev/null || mb_log "$HELD is not empty: check it"
}}

running() {{
  crictl ps --name "^$1\$" --state running -q 2>/dev/null | head -n1
}}

# This node's own API server, not the load balancer of controlPlaneEndpoint,
# which other nodes answer for: its certificate carries the node's address.
LOCAL_API=""
for i in "${{!CONTROL_PLANE[@]}}"; do
  [[ "${{CONTROL_PLANE[$i]}}" != "$node" ]] || LOCAL_API=${{CONTROL_PLANE_APIS[$i]}}
done
[[ -n "$LOCAL_API" ]] || mb_die "$node has no API server of its own in this site"

api_ready() {{
  kubectl --kubeconfig "$ADMIN" --server "$LOCAL_API" get --raw=/readyz >/dev/null 2>&1
}}

# This node's etcd member, through its own container, with kubeadm's
# healthcheck-client certificate.
etcd_healthy() {{
  local id
  id=$(running etcd)
  [[ -n "$id" ]] || return 1
  crictl exec "$id" etcdctl \
    --endpoints=https://127.0.0.1:2379 \
    --cacert=/etc/kubernetes/pki/etcd/ca.crt \
    --cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt \
    --key=/etc/kubernetes/pki/etcd/healthcheck-client.key \
    endpoint health >/dev/null 2>&1
}}

healthy() {{ etcd_healthy && api_ready; }}

# wait_for WHAT COMMAND...: polls once a second, TIMEOUT seconds at most.
wait_for() {{
  local what=$1 i
  shift
  for ((i = 0; i < TIMEOUT; i++)); do
    if "$@"; then
      return 0
    fi
    sleep 1
  done
  mb_die "$what after $TIMEOUT seconds; the manifests are back in $MANIFESTS. Do not go on to another node: check crictl ps -a and journalctl -u kubelet here"
}}

gone() {{ [[ -z "$(running "$1")" ]]; }}
replaced() {{
  local id
  id=$(running "$1")
  [[ -n "$id" && "$id" != "$2" ]]
}}

[[ ! -e "$SYSROOT/etc/kubernetes/manifests-stopped-for-restore" ]] || mb_die "an etcd restore is under way on $node: finish it first (ops/restore-etcd.sh start)"
restore_manifests
for c in "${{COMPONENTS[@]}}"; do
  [[ -f "$MANIFESTS/$c.yaml" ]] || mb_die "$MANIFESTS/$c.yaml is missing: $node does not run the control plane yet"
done
trap restore_manifests EXIT

mb_step "renew kubeadm's certificates and kubeconfigs on $node"
kubeadm certs renew all

mkdir -m 0700 "$HELD"
for c in "${{COMPONENTS[@]}}"; do
  mb_step "restart $c"
  old=$(running "$c")
  mv "$MANIFESTS/$c.yaml" "$HELD/"
  wait_for "$c did not stop" gone "$c"
  mv "$HELD/$c.yaml" "$MANIFESTS/"
  wait_for "$c did not come back" replaced "$c" "$old"
  # Neither the next component nor the next node until this node's etcd
  # and API server serve with the renewed certificates.
  wait_for "etcd (https://127.0.0.1:2379) or the API server ($LOCAL_API) on $node is not healthy" healthy
done
rmdir "$HELD"
trap - EXIT

mb_step "root's kubeconfig"
mb_admin_kubeconfig

mb_step "new expiry dates"
kubeadm certs check-expiration

others=()
for n in "${{CONTROL_PLANE[@]}}"; do
  [[ "$n" == "$node" ]] || others+=("$n")
done
echo "renewed on $node; copies of admin.conf elsewhere are stale: copy it again"
if ((${{#others[@]}})); then
  echo "now run ops/renew-kubeadm-certs.sh on ${{others[*]}}, one node at a time"
fi
"#,
        this_node = this_control_plane_node(
            ctx,
            "\"${1:-}\"",
            "\"$node is a worker: kubeadm's certificates live on the control-plane nodes (${CONTROL_PLANE[*]}); the kubelet renews its own\""
        ),
        control_plane = array(&control_plane_names(ctx)),
        apis = array(
            &ctx.site
                .spec
                .nodes
                .iter()
                .filter(|n| n.role == Role::ControlPlane)
                .map(|n| if n.address.contains(':') {
                    format!("https://[{}]:6443", n.address)
                } else {
                    format!("https://{}:6443", n.address)
                })
                .collect::<Vec<_>>()
        ),
    );
    script(
        ctx,
        "Renews kubeadm's certificates and kubeconfigs on this control-plane node (kubeadm certs renew all), restarts the static\n# pods one by one so they load them, and refreshes root's kubeconfig. Run it on each control-plane node, one at a time.",
        "ops/renew-kubeadm-certs.sh [NODE]   (as root on a control-plane node; TIMEOUT=300 seconds per step by default)",
        &body,
    )
}

fn renew_join(ctx: &Ctx) -> String {
    let first = ctx
        .site
        .first_control_plane()
        .map(|n| n.name.as_str())
        .unwrap_or_default();
    let body = match ctx.secrets {
        Some(s) => format!(
            r#"# shellcheck source=../common/lib.sh
source "$ROOT/common/lib.sh"

# The join token and the certificate key are in the first control-plane
# node's InitConfiguration, a private file (mode 0600); kubeadm reads them
# from there, so they are neither in this script nor on a command line, and
# nothing here prints them. The token ID is the public half of the token.
FIRST_NODE={first}
ENDPOINT={endpoint}
CONFIG="$ROOT/nodes/$FIRST_NODE/kubeadm.yaml"
TOKEN_ID={token_id}

mb_require_private "$CONFIG" "the join credentials"
# kubeadm expires the token after 24 hours and the uploaded control-plane
# certificates after 2 hours; this puts both back with the same values.
kubeadm token delete "$TOKEN_ID" >/dev/null 2>&1 || true
# token create prints the token: keep it off the terminal.
kubeadm token create --config "$CONFIG" >/dev/null
kubeadm init phase upload-certs --upload-certs --skip-certificate-key-print --config "$CONFIG"
echo "joins through $ENDPOINT work again for 2 hours (control plane) and 24 hours (workers)"
"#,
            first = quote(first),
            token_id = quote(
                s.kubeadm
                    .token
                    .as_str()
                    .split_once('.')
                    .map(|(id, _)| id)
                    .unwrap_or_default()
            ),
            endpoint = quote(&api_endpoint(ctx)),
        ),
        None => {
            "echo \"this render has no site secrets; render with --secrets to get this script\" >&2\nexit 1\n".into()
        }
    };
    script(
        ctx,
        "Renews the join credentials on the first control-plane node, with the same values the join configurations carry.",
        "ops/renew-join-credentials.sh   (as root on the first control-plane node)",
        &body,
    )
}

/// The etcd image as the node scripts pull it, then the same image by digest
/// alone and by tag alone: the names containerd may know it by.
fn etcd_images(ctx: &Ctx) -> Vec<String> {
    let full = ctx.image(&format!("registry.k8s.io/etcd:{}", ctx.k8s.etcd));
    let mut out = vec![full.clone()];
    if let Ok(r) = crate::image::ImageRef::parse(&full) {
        if r.digest.is_some() {
            out.push(crate::image::ImageRef { tag: None, ..r.clone() }.to_string());
        }
        out.push(r.tagged());
    }
    out.dedup();
    out
}

/// `etcdctl` in the etcd pod of this node, as root on a control-plane node.
const ETCDCTL_IN_POD: &str = r#"etcd_pod() {
  kubectl -n kube-system exec "etcd-$node" -- "$@"
}

etcdctl_pod() {
  etcd_pod etcdctl \
    --endpoints=https://127.0.0.1:2379 \
    --cacert=/etc/kubernetes/pki/etcd/ca.crt \
    --cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt \
    --key=/etc/kubernetes/pki/etcd/healthcheck-client.key \
    "$@"
}
"#;

fn backup(ctx: &Ctx) -> String {
    let body = format!(
        r#"# shellcheck source=../common/lib.sh
source "$ROOT/common/lib.sh"

CONTROL_PLANE={control_plane}
{this_node}
mb_require_root
if [[ -z "${{KUBECONFIG:-}}" && -f "$SYSROOT/etc/kubernetes/admin.conf" ]]; then
  export KUBECONFIG="$SYSROOT/etc/kubernetes/admin.conf"
fi
# The backup holds every Secret of the cluster: only root reads it.
umask 077
out="${{1:-meshbundle-backup-$(date -u +%Y%m%dT%H%M%SZ)}}"
[[ ! -e "$out" && ! -e "$out.tar.gz" ]] || mb_die "$out already exists: name a new backup"
mkdir -p "$out"
chmod 0700 "$out"

echo "== applied configuration"
kubectl get namespaces -o yaml >"$out/namespaces.yaml"
for kind in gateways.networking.istio.io virtualservices.networking.istio.io destinationrules.networking.istio.io \
  serviceentries.networking.istio.io sidecars.networking.istio.io peerauthentications.security.istio.io \
  authorizationpolicies.security.istio.io requestauthentications.security.istio.io telemetries.telemetry.istio.io; do
  kubectl get "$kind" -A -o yaml >"$out/${{kind%%.*}}.yaml"
done
kubectl -n istio-system get configmaps -o yaml >"$out/istio-system-configmaps.yaml"
istioctl manifest generate -f "$ROOT/manifests/istio/istio-operator.yaml" >"$out/istio-manifest.yaml" || true

{etcdctl}
echo "== etcd snapshot (member $node)"
# etcdctl runs in the etcd pod, which mounts /var/lib/etcd from this node:
# the snapshot is written there, copied into the backup and removed.
name=".meshbundle-snapshot-$$.db"
snapshot="$SYSROOT/var/lib/etcd/$name"
trap 'rm -f "$snapshot" "$snapshot.part"' EXIT
etcdctl_pod snapshot save "/var/lib/etcd/$name"
[[ -s "$snapshot" ]] || mb_die "etcdctl wrote no snapshot at /var/lib/etcd/$name: is this $node, where etcd-$node runs?"
# etcd 3.5 and later check a snapshot with etcdutl; 3.4 has only etcdctl.
if etcd_pod etcdutl version >/dev/null 2>&1; then
  etcd_pod etcdutl --write-out=table snapshot status "/var/lib/etcd/$name" >"$out/etcd-snapshot.status"
else
  etcd_pod etcdctl --write-out=table snapshot status "/var/lib/etcd/$name" >"$out/etcd-snapshot.status"
fi
cp "$snapshot" "$out/etcd-snapshot.db"
rm -f "$snapshot"
trap - EXIT
chmod 0600 "$out"/*
(cd "$out" && sha256sum etcd-snapshot.db >etcd-snapshot.db.sha256)
cat "$out/etcd-snapshot.status"

tar -czf "$out.tar.gz" -C "$(dirname "$out")" "$(basename "$out")"
chmod 0600 "$out.tar.gz"
echo "backup in $out/ and $out.tar.gz (they hold every Secret: keep them private)"
echo "restore etcd with: ops/restore-etcd.sh $out/etcd-snapshot.db (see \"Backup and restore\" in README.md)"
"#,
        control_plane = array(&control_plane_names(ctx)),
        this_node = this_control_plane_node(
            ctx,
            "\"${NODE:-}\"",
            "\"$node is a worker: run the backup on a control-plane node (${CONTROL_PLANE[*]}), where etcd runs\""
        ),
        etcdctl = ETCDCTL_IN_POD,
    );
    script(
        ctx,
        "Backs up the applied configuration (Istio resources, namespaces, the rendered IstioOperator) and an etcd snapshot.",
        "ops/backup.sh [OUTPUT_DIR]   (as root on a control-plane node; NODE=NAME names the node)",
        &body,
    )
}

fn restore_etcd(ctx: &Ctx) -> String {
    let cps: Vec<_> = ctx
        .site
        .spec
        .nodes
        .iter()
        .filter(|n| n.role == Role::ControlPlane)
        .collect();
    let initial = cps
        .iter()
        .map(|n| format!("{}=https://{}:2380", n.name, n.address))
        .collect::<Vec<_>>()
        .join(",");
    let body = format!(
        r#"# shellcheck source=../common/lib.sh
source "$ROOT/common/lib.sh"

CONTROL_PLANE={control_plane}
# Every member, as kubeadm names them: the node name and its address.
INITIAL_CLUSTER={initial}
ETCD_IMAGES={images}
# The nodes whose kubelets ops/restore-etcd.sh start does not restart, and istiod.
OTHER_NODES={workers}
ISTIOD={istiod}
{this_node}
mb_require_root
umask 077
TIMEOUT="${{TIMEOUT:-300}}"
[[ "$TIMEOUT" =~ ^[0-9]+$ ]] || mb_die "TIMEOUT is a number of seconds, not '$TIMEOUT'"
MANIFESTS="$SYSROOT/etc/kubernetes/manifests"
STOPPED="$SYSROOT/etc/kubernetes/manifests-stopped-for-restore"
DATA="$SYSROOT/var/lib/etcd"
# Stopped in this order (the API server first, so nothing writes), started in reverse.
COMPONENTS=(kube-apiserver kube-controller-manager kube-scheduler etcd)

running() {{
  crictl ps --name "^$1\$" --state running -q 2>/dev/null | head -n1
}}

wait_for() {{
  local what=$1 i
  shift
  for ((i = 0; i < TIMEOUT; i++)); do
    if "$@"; then
      return 0
    fi
    sleep 1
  done
  mb_die "$what after $TIMEOUT seconds; check crictl ps -a and journalctl -u kubelet"
}}

gone() {{ [[ -z "$(running "$1")" ]]; }}
up() {{ [[ -n "$(running "$1")" ]]; }}

start() {{
  local i c
  [[ -d "$STOPPED" ]] || mb_die "nothing is stopped for a restore on $node"
  for ((i = ${{#COMPONENTS[@]}} - 1; i >= 0; i--)); do
    c=${{COMPONENTS[$i]}}
    [[ -f "$STOPPED/$c.yaml" ]] || continue
    mb_step "start $c"
    mv "$STOPPED/$c.yaml" "$MANIFESTS/"
    wait_for "$c did not start" up "$c"
  done
  rmdir "$STOPPED"
  # The kubelet reconnects to the restored API server with nothing cached.
  systemctl restart kubelet
  echo "started on $node. Once every control-plane node (${{CONTROL_PLANE[*]}}) is started:"
  if ((${{#OTHER_NODES[@]}})); then
    echo "  - restart the kubelet on every other node too: systemctl restart kubelet on ${{OTHER_NODES[*]}}"
  fi
  echo "  - restart istiod, so it lists everything again: kubectl -n istio-system rollout restart deployment/$ISTIOD"
  echo "  - check the cluster with ops/verify.sh"
}}

if [[ "${{1:-}}" == start ]]; then
  start
  exit 0
fi

snapshot=${{1:?usage: ops/restore-etcd.sh SNAPSHOT | ops/restore-etcd.sh start}}
[[ -f "$snapshot" && -s "$snapshot" ]] || mb_die "$snapshot is not a snapshot file"
snapshot=$(cd "$(dirname "$snapshot")" && pwd)/$(basename "$snapshot")
if [[ -f "$snapshot.sha256" ]]; then
  want=$(cut -d' ' -f1 "$snapshot.sha256")
  got=$(sha256sum "$snapshot" | cut -d' ' -f1)
  [[ "$got" == "$want" ]] || mb_die "$snapshot has sha256 $got, but $snapshot.sha256 says $want: the snapshot is damaged"
fi
# Every member restores the same snapshot into a new cluster: the token
# comes from the snapshot, so all agree and none joins the old cluster.
token="meshbundle-restore-$(sha256sum "$snapshot" | cut -c1-16)"
[[ ! -e "$STOPPED" ]] || mb_die "$STOPPED exists: a restore is under way; finish it with ops/restore-etcd.sh start"
# The revision goes forward past anything a client has seen since the
# snapshot, and the revisions before it count as compacted: every watch
# (kubelets, kube-proxy, CoreDNS, flannel, istiod) gets "compacted" and
# lists again instead of keeping what the snapshot undid. Every member
# restores with the same values.
BUMP_REVISION=1000000000

mb_step "stop the control plane on $node"
mkdir -m 0700 "$STOPPED"
for c in "${{COMPONENTS[@]}}"; do
  if [[ -f "$MANIFESTS/$c.yaml" ]]; then
    mv "$MANIFESTS/$c.yaml" "$STOPPED/"
    wait_for "$c did not stop" gone "$c"
  fi
done

mb_step "the etcd tools of this cluster's etcd image"
mnt=$(mktemp -d)
cleanup() {{
  ctr -n k8s.io images unmount --rm "$mnt" >/dev/null 2>&1 || true
  rmdir "$mnt" 2>/dev/null || true
}}
trap cleanup EXIT
for image in "${{ETCD_IMAGES[@]}}"; do
  if ctr -n k8s.io images mount "$image" "$mnt" >/dev/null 2>&1; then
    break
  fi
done
# etcdutl restores (etcd 3.5 and later; the cluster's etcd image carries it).
# It must know --bump-revision and --mark-compacted (etcdutl 3.5.10 and later).
tool=""
for t in "$mnt/usr/local/bin/etcdutl" "$(command -v etcdutl || true)"; do
  if [[ -n "$t" && -x "$t" ]]; then
    tool=$t
    break
  fi
done
[[ -n "$tool" ]] || mb_die "found no etcdutl: the etcd image (${{ETCD_IMAGES[0]}}) is not on this node; pull it with crictl pull, then run this again (the control plane stays stopped until ops/restore-etcd.sh start)"
help=$("$tool" snapshot restore --help 2>&1 || true)
[[ "$help" == *--bump-revision* && "$help" == *--mark-compacted* ]] ||
  mb_die "$tool cannot bump the revision (--bump-revision needs etcdutl 3.5.10 or later): restoring without it would send every watch back in time; use the etcdutl of ${{ETCD_IMAGES[0]}} (the control plane stays stopped until ops/restore-etcd.sh start)"

mb_step "restore $snapshot as member $node"
peer_url=$(tr ',' '\n' <<<"$INITIAL_CLUSTER" | sed -n "s/^$node=//p")
[[ -n "$peer_url" ]] || mb_die "$node is not in the etcd cluster $INITIAL_CLUSTER"
restored="$DATA.restored-$$"
rm -rf "$restored"
"$tool" snapshot restore "$snapshot" \
  --name "$node" \
  --initial-cluster "$INITIAL_CLUSTER" \
  --initial-cluster-token "$token" \
  --initial-advertise-peer-urls "$peer_url" \
  --data-dir "$restored" \
  --bump-revision "$BUMP_REVISION" \
  --mark-compacted
chmod 0700 "$restored"
old=""
if [[ -d "$DATA" ]]; then
  old="$DATA.before-restore-$(date -u +%Y%m%dT%H%M%SZ)"
  mv "$DATA" "$old"
fi
mv "$restored" "$DATA"
[[ -z "$old" ]] || echo "the previous data is in $old: delete it once the cluster works"

if ((${{#CONTROL_PLANE[@]}} == 1)); then
  start
else
  echo "restored on $node; the control plane stays stopped. Run ops/restore-etcd.sh $snapshot on every other"
  echo "control-plane node (${{CONTROL_PLANE[*]}}) with the same snapshot, then ops/restore-etcd.sh start on each."
fi
"#,
        control_plane = array(&control_plane_names(ctx)),
        initial = quote(&initial),
        images = array(&etcd_images(ctx)),
        workers = array(
            &ctx.site
                .spec
                .nodes
                .iter()
                .filter(|n| n.role != Role::ControlPlane)
                .map(|n| n.name.clone())
                .collect::<Vec<_>>()
        ),
        istiod = quote(&format!("istiod-{}", ctx.revision)),
        this_node = this_control_plane_node(
            ctx,
            "\"${NODE:-}\"",
            "\"$node is a worker: etcd runs on the control-plane nodes (${CONTROL_PLANE[*]})\""
        ),
    );
    script(
        ctx,
        "Restores etcd from a snapshot of ops/backup.sh on this control-plane node: stops the control plane, restores the\n# snapshot into a new data directory with etcdutl of the cluster's etcd image (revision bumped, older ones compacted),\n# swaps it in, and starts again once every control-plane node is restored.",
        "ops/restore-etcd.sh SNAPSHOT, then ops/restore-etcd.sh start   (as root on each control-plane node; NODE=NAME names it)",
        &body,
    )
}

#[inline(never)]
pub(crate) fn render(ctx: &Ctx, tree: &mut FileTree) -> Result<(), RenderError> {
    tree.add("ops/verify.sh", verify(ctx), MODE_EXEC);
    tree.add("ops/diagnose.sh", diagnose(ctx), MODE_EXEC);
    super::canary::render(ctx, tree)?;
    tree.add("ops/cert-expiry.sh", cert_expiry(ctx), MODE_EXEC);
    tree.add("ops/renew-join-credentials.sh", renew_join(ctx), MODE_EXEC);
    tree.add("ops/renew-kubeadm-certs.sh", renew_kubeadm(ctx), MODE_EXEC);
    tree.add("ops/backup.sh", backup(ctx), MODE_EXEC);
    tree.add("ops/restore-etcd.sh", restore_etcd(ctx), MODE_EXEC);
    Ok(())
}
