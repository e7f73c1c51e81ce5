//! Operations scripts: verify the install, collect diagnostics, upgrade to a
//! new Istio revision beside the old one and remove the old one, check
//! certificate expiry, renew join credentials, and back up the applied
//! configuration.

use super::kubeadm::api_endpoint;
use super::shell::{array, quote};
use super::{Ctx, RenderError};
use crate::spec::Role;
use crate::tree::{FileTree, MODE_EXEC};

fn script(ctx: &Ctx, purpose: &str, usage: &str, body: &str) -> String {
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
    format!("#!/usr/bin/env bash\n{}#\n# {purpose}\n# Usage: {usage}\nset -euo pipefail\n\n{prologue}{body}", ctx.header("#"))
}

fn gateways(ctx: &Ctx) -> Vec<String> {
    let istio = &ctx.site.spec.istio;
    [&istio.ingress_gateway, &istio.egress_gateway]
        .into_iter()
        .filter(|g| g.enabled)
        .map(|g| format!("{}/{}", g.namespace, g.name))
        .collect()
}

fn addons(ctx: &Ctx) -> Vec<&'static str> {
    let a = &ctx.site.spec.observability.addons;
    [("prometheus", a.prometheus), ("grafana", a.grafana), ("jaeger", a.jaeger), ("kiali", a.kiali)]
        .into_iter()
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

echo "== istiod ($REVISION)"
kubectl -n istio-system rollout status "deployment/istiod-$REVISION" --timeout="$TIMEOUT" || problem "istiod-$REVISION is not ready"

echo "== gateways"
for gw in "${{GATEWAYS[@]}}"; do
  kubectl -n "${{gw%%/*}}" rollout status "deployment/${{gw##*/}}" --timeout="$TIMEOUT" || problem "gateway $gw is not ready"
done

echo "== addons"
for addon in "${{ADDONS[@]}}"; do
  kubectl -n istio-system rollout status "deployment/$addon" --timeout="$TIMEOUT" || problem "addon $addon is not ready"
done

echo "== mTLS"
mode=$(kubectl -n istio-system get peerauthentication default -o jsonpath='{{.spec.mtls.mode}}' || true)
[[ "$mode" == "$MTLS_MODE" ]] || problem "mesh-wide mTLS is '$mode', expected $MTLS_MODE"

echo "== istioctl analyze"
istioctl analyze --all-namespaces --revision "$REVISION" || problem "istioctl analyze found problems"

echo "== proxy status"
istioctl proxy-status --revision "$REVISION" || problem "some proxies are not in sync with istiod"

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
    );
    script(
        ctx,
        "Checks that the install is healthy: nodes, istiod, gateways, addons, mTLS, istioctl analyze and proxy status.",
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
run istio-config kubectl get gateways.networking.istio.io,virtualservices.networking.istio.io,destinationrules.networking.istio.io,serviceentries.networking.istio.io,peerauthentications.security.istio.io,authorizationpolicies.security.istio.io,requestauthentications.security.istio.io -A -o yaml
run proxy-status istioctl proxy-status --revision "$REVISION"
run analyze istioctl analyze --all-namespaces --revision "$REVISION"
run istiod-logs kubectl -n istio-system logs "deployment/istiod-$REVISION" --all-containers --tail=2000
for gw in "${{GATEWAYS[@]}}"; do
  ns=${{gw%%/*}}
  name=${{gw##*/}}
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
    );
    script(
        ctx,
        "Collects what support needs: cluster state, Istio configuration, proxy configuration dumps and logs.",
        "ops/diagnose.sh [OUTPUT_DIR [NAMESPACE/POD]]",
        &body,
    )
}

fn upgrade(ctx: &Ctx) -> String {
    let body = format!(
        r#"REVISION={rev}
NAMESPACES={namespaces}
OPERATOR="$ROOT/manifests/istio/istio-operator.yaml"

old=$(kubectl -n istio-system get deployments -l app=istiod -o jsonpath='{{range .items[*]}}{{.metadata.labels.istio\.io/rev}}{{"\n"}}{{end}}' | grep -vx "$REVISION" | sort -u || true)
if [[ -z "$old" ]]; then
  echo "no other revision is running; use install.sh cluster for a first install" >&2
fi

echo "== install istiod $REVISION beside ${{old:-nothing}} (gateways stay on the old revision)"
istioctl install -y -f "$OPERATOR" \
  --set 'components.ingressGateways[0].enabled=false' \
  --set 'components.egressGateways[0].enabled=false'
kubectl -n istio-system rollout status "deployment/istiod-$REVISION" --timeout=300s

echo "== move the namespaces to $REVISION and restart their workloads"
for ns in "${{NAMESPACES[@]}}"; do
  kubectl label namespace "$ns" "istio.io/rev=$REVISION" --overwrite
  kubectl -n "$ns" rollout restart deployment
  kubectl -n "$ns" rollout status deployment --timeout=300s
done

echo "== move the gateways to $REVISION"
istioctl install -y -f "$OPERATOR"

"$HERE/verify.sh"
echo
echo "the mesh runs on $REVISION; when you are satisfied, remove the old revision:"
for r in $old; do
  echo "  $HERE/remove-revision.sh $r"
done
"#,
        rev = quote(&ctx.revision),
        namespaces = array(&ctx.mesh_namespaces()),
    );
    script(
        ctx,
        "Canary upgrade: installs this bundle's Istio revision beside the running one, moves the mesh namespaces and gateways to it, and verifies.",
        "ops/upgrade-canary.sh   (from the new bundle, on a control-plane node)",
        &body,
    )
}

fn remove_revision(ctx: &Ctx) -> String {
    let body = format!(
        r#"REVISION={rev}
old=${{1:?give the revision to remove, e.g. 1-29-2}}
if [[ "$old" == "$REVISION" ]]; then
  echo "refusing to remove $REVISION: it is this bundle's revision" >&2
  exit 1
fi
if kubectl get namespaces -l "istio.io/rev=$old" -o name | grep -q .; then
  echo "namespaces still use $old; run ops/upgrade-canary.sh first:" >&2
  kubectl get namespaces -l "istio.io/rev=$old" >&2
  exit 1
fi
istioctl uninstall -y --revision "$old"
echo "revision $old removed"
"#,
        rev = quote(&ctx.revision),
    );
    script(ctx, "Removes an old Istio revision once no namespace uses it.", "ops/remove-revision.sh OLD_REVISION", &body)
}

/// Shell that finds this machine's node among the site's nodes by its
/// address (or takes the name given as `$1`) and refuses anything but a
/// control-plane node. `worker` is a double-quoted shell string that may
/// name `$node`.
fn this_control_plane_node(ctx: &Ctx, worker: &str) -> String {
    let nodes = &ctx.site.spec.nodes;
    format!(
        r#"NODE_NAMES={names}
NODE_ADDRESSES={addresses}
NODE_ROLES={roles}

node=""
role=""
for i in "${{!NODE_NAMES[@]}}"; do
  if [[ -n "${{1:-}}" ]]; then
    [[ "${{NODE_NAMES[$i]}}" == "$1" ]] || continue
  elif ! ip -o -4 addr show | grep -qw -- "inet ${{NODE_ADDRESSES[$i]}}"; then
    continue
  fi
  node=${{NODE_NAMES[$i]}}
  role=${{NODE_ROLES[$i]}}
  break
done
[[ -n "$node" ]] || mb_die "this machine is none of the site's nodes (${{NODE_NAMES[*]}}); name it: $0 NAME"
[[ "$role" == control-plane ]] || mb_die {worker}
"#,
        names = array(&nodes.iter().map(|n| n.name.clone()).collect::<Vec<_>>()),
        addresses = array(&nodes.iter().map(|n| n.address.clone()).collect::<Vec<_>>()),
        roles = array(&nodes.iter().map(|n| n.role.as_str().to_string()).collect::<Vec<_>>()),
    )
}

fn control_plane_names(ctx: &Ctx) -> Vec<String> {
    ctx.site.spec.nodes.iter().filter(|n| n.role == Role::ControlPlane).map(|n| n.name.clone()).collect()
}

/// What renews each kind of certificate, as `cert-expiry.sh` names it.
const RENEW_KUBEADM: &str = "run ops/renew-kubeadm-certs.sh on each control-plane node, one at a time";
const RENEW_ROOT: &str = "it is a root CA: replace it with a new site CA, see \"Replacing a root CA\" in README.md";
const RENEW_ROTATE: &str =
    "meshbundle secrets rotate, then meshbundle build, import the new bundle and run ./install.sh cluster (then restart istiod for its CA)";
const RENEW_SUPPLIED: &str = "it was issued by your own CA: have it issue a new one, replace it in site.secrets.yaml, then meshbundle build, import the new bundle and run ./install.sh cluster";
const RENEW_KUBELET: &str = "the kubelet renews it itself (rotateCertificates); it runs out only when rotation fails: check journalctl -u kubelet and kubectl get csr on this node";

fn cert_expiry(ctx: &Ctx) -> String {
    let ig = &ctx.site.spec.istio.ingress_gateway;
    let tls = if ig.enabled { ig.tls.as_ref().map(|t| format!("{}/{}", ig.namespace, t.credential_name)) } else { None };
    // A certificate meshbundle did not issue (no ingress CA in the secrets) is renewed by whoever did.
    let supplied = ctx.secrets.and_then(|s| s.ingress.as_ref()).is_some_and(|i| i.ca.is_none());
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
  echo "== Kubernetes certificates (kubeadm, on this control-plane node)"
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

echo "== Istio CA"
check "Istio root CA (istio-system/cacerts root-cert.pem)" "$RENEW_ROOT" < <(secret_key istio-system cacerts 'root-cert\.pem')
check "Istio intermediate CA (istio-system/cacerts ca-cert.pem)" "$RENEW_ROTATE" < <(secret_key istio-system cacerts 'ca-cert\.pem')

if [[ -n "$INGRESS_SECRET" ]]; then
  echo "== ingress gateway certificate"
  check "ingress certificate ($INGRESS_SECRET tls.crt)" "$RENEW_INGRESS" < <(secret_key "${{INGRESS_SECRET%%/*}}" "${{INGRESS_SECRET##*/}}" 'tls\.crt')
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
        "ops/cert-expiry.sh [DAYS]   (as root on each control-plane node; on a worker it checks the kubelet and the cluster's)",
        &body,
    )
}

fn renew_kubeadm(ctx: &Ctx) -> String {
    let body = format!(
        r#"# shellcheck source=../common/lib.sh
source "$ROOT/common/lib.sh"

CONTROL_PLANE={control_plane}
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

api_ready() {{
  kubectl --kubeconfig "$ADMIN" get --raw=/readyz >/dev/null 2>&1
}}

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
  mb_die "$what after $TIMEOUT seconds; the manifests are back in $MANIFESTS, check crictl ps -a and journalctl -u kubelet"
}}

gone() {{ [[ -z "$(running "$1")" ]]; }}
replaced() {{
  local id
  id=$(running "$1")
  [[ -n "$id" && "$id" != "$2" ]]
}}

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
  wait_for "the API server is not ready" api_ready
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
            "\"$node is a worker: kubeadm's certificates live on the control-plane nodes (${CONTROL_PLANE[*]}); the kubelet renews its own\""
        ),
        control_plane = array(&control_plane_names(ctx)),
    );
    script(
        ctx,
        "Renews kubeadm's certificates and kubeconfigs on this control-plane node (kubeadm certs renew all), restarts the static\n# pods one by one so they load them, and refreshes root's kubeconfig. Run it on each control-plane node, one at a time.",
        "ops/renew-kubeadm-certs.sh [NODE]   (as root on a control-plane node; TIMEOUT=300 seconds per step by default)",
        &body,
    )
}

fn renew_join(ctx: &Ctx) -> String {
    let first = ctx.site.first_control_plane().map(|n| n.name.as_str()).unwrap_or_default();
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
            token_id = quote(s.kubeadm.token.as_str().split_once('.').map(|(id, _)| id).unwrap_or_default()),
            endpoint = quote(&api_endpoint(ctx)),
        ),
        None => "echo \"this render has no site secrets; render with --secrets to get this script\" >&2\nexit 1\n".into(),
    };
    script(
        ctx,
        "Renews the join credentials on the first control-plane node, with the same values the join configurations carry.",
        "ops/renew-join-credentials.sh   (as root on the first control-plane node)",
        &body,
    )
}

fn backup(ctx: &Ctx) -> String {
    let first = ctx.site.first_control_plane().map(|n| n.name.clone()).unwrap_or_default();
    let body = format!(
        r#"out="${{1:-meshbundle-backup-$(date -u +%Y%m%dT%H%M%SZ)}}"
FIRST_NODE={first}
mkdir -p "$out"

echo "== applied configuration"
kubectl get namespaces -o yaml >"$out/namespaces.yaml"
for kind in gateways.networking.istio.io virtualservices.networking.istio.io destinationrules.networking.istio.io \
  serviceentries.networking.istio.io sidecars.networking.istio.io peerauthentications.security.istio.io \
  authorizationpolicies.security.istio.io requestauthentications.security.istio.io telemetries.telemetry.istio.io; do
  kubectl get "$kind" -A -o yaml >"$out/${{kind%%.*}}.yaml"
done
kubectl -n istio-system get configmaps -o yaml >"$out/istio-system-configmaps.yaml"
istioctl manifest generate -f "$ROOT/manifests/istio/istio-operator.yaml" >"$out/istio-manifest.yaml" || true

echo "== etcd snapshot"
kubectl -n kube-system exec "etcd-$FIRST_NODE" -- etcdctl \
  --endpoints=https://127.0.0.1:2379 \
  --cacert=/etc/kubernetes/pki/etcd/ca.crt \
  --cert=/etc/kubernetes/pki/etcd/server.crt \
  --key=/etc/kubernetes/pki/etcd/server.key \
  snapshot save /var/lib/etcd/meshbundle-snapshot.db
if [[ -f /var/lib/etcd/meshbundle-snapshot.db ]]; then
  install -m 0600 /var/lib/etcd/meshbundle-snapshot.db "$out/etcd-snapshot.db"
fi

tar -czf "$out.tar.gz" "$out"
chmod 0600 "$out.tar.gz"
echo "backup in $out.tar.gz (it holds secrets: keep it private)"
"#,
        first = quote(&first),
    );
    script(
        ctx,
        "Backs up the applied configuration (Istio resources, namespaces, the rendered IstioOperator) and an etcd snapshot.",
        "ops/backup.sh [OUTPUT_DIR]   (as root on the first control-plane node)",
        &body,
    )
}

pub(crate) fn render(ctx: &Ctx, tree: &mut FileTree) -> Result<(), RenderError> {
    tree.add("ops/verify.sh", verify(ctx), MODE_EXEC);
    tree.add("ops/diagnose.sh", diagnose(ctx), MODE_EXEC);
    tree.add("ops/upgrade-canary.sh", upgrade(ctx), MODE_EXEC);
    tree.add("ops/remove-revision.sh", remove_revision(ctx), MODE_EXEC);
    tree.add("ops/cert-expiry.sh", cert_expiry(ctx), MODE_EXEC);
    tree.add("ops/renew-join-credentials.sh", renew_join(ctx), MODE_EXEC);
    tree.add("ops/renew-kubeadm-certs.sh", renew_kubeadm(ctx), MODE_EXEC);
    tree.add("ops/backup.sh", backup(ctx), MODE_EXEC);
    Ok(())
}
