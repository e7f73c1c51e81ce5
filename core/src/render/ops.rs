//! Operations scripts: verify the install, collect diagnostics, upgrade to a
//! new Istio revision beside the old one and remove the old one, check
//! certificate expiry, renew join credentials, and back up the applied
//! configuration.

use super::kubeadm::api_endpoint;
use super::shell::{array, quote};
use super::{Ctx, RenderError};
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

echo "== default revision tag"
# The istiod the default tag points at validates Istio configuration.
tagged=$(kubectl get mutatingwebhookconfigurations -l istio.io/tag=default -o jsonpath='{{.items[*].metadata.labels.istio\.io/rev}}' || true)
if [[ -z "$tagged" ]]; then
  echo "note: no default revision tag; set it with: istioctl tag set default --revision $REVISION --overwrite -y"
elif [[ "$tagged" != "$REVISION" ]]; then
  problem "the default revision tag points at $tagged, not $REVISION (istioctl tag set default --revision $REVISION --overwrite -y)"
fi

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
        "Checks that the install is healthy: nodes, istiod and the default revision tag, gateways, addons, mTLS, istioctl analyze and proxy status.",
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
run revision-tags istioctl tag list
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

# The default tag decides which istiod validates Istio configuration, injects
# istio-injection=enabled namespaces and answers istioctl without --revision.
# Left on the old revision, it would point at a deleted istiod once that is
# removed, and every write of Istio configuration would fail.
echo "== make $REVISION the default revision"
istioctl tag set default --revision "$REVISION" --overwrite -y

"$HERE/verify.sh"
echo
echo "the mesh runs on $REVISION; when you are satisfied, remove the old revision:"
for r in $old; do
  echo "  $HERE/remove-revision.sh $r"
done
others=$(kubectl get mutatingwebhookconfigurations -l istio.io/tag -o jsonpath='{{range .items[*]}}{{.metadata.labels.istio\.io/tag}}={{.metadata.labels.istio\.io/rev}}{{"\n"}}{{end}}' | grep -v "=$REVISION\$" || true)
if [[ -n "$others" ]]; then
  echo "these revision tags still point at an old revision; move each with istioctl tag set TAG --revision $REVISION --overwrite -y (TAG=REVISION):"
  echo "$others"
fi
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
# A revision tag (the default one above all: it validates Istio configuration)
# left on $old would point at a deleted istiod.
tags=$(kubectl get mutatingwebhookconfigurations -l "istio.io/tag,istio.io/rev=$old" -o jsonpath='{{range .items[*]}}{{.metadata.labels.istio\.io/tag}}{{"\n"}}{{end}}')
if [[ -n "$tags" ]]; then
  echo "revision tags still point at $old: $(tr '\n' ' ' <<<"$tags")" >&2
  echo "move each first: istioctl tag set TAG --revision $REVISION --overwrite -y (ops/upgrade-canary.sh moves the default tag)" >&2
  exit 1
fi
istioctl uninstall -y --revision "$old"
echo "revision $old removed"
"#,
        rev = quote(&ctx.revision),
    );
    script(
        ctx,
        "Removes an old Istio revision once no namespace and no revision tag uses it.",
        "ops/remove-revision.sh OLD_REVISION",
        &body,
    )
}

fn cert_expiry(ctx: &Ctx) -> String {
    let ig = &ctx.site.spec.istio.ingress_gateway;
    let tls = if ig.enabled { ig.tls.as_ref().map(|t| format!("{}/{}", ig.namespace, t.credential_name)) } else { None };
    let body = format!(
        r#"DEFAULT_DAYS={days}
DAYS="${{1:-$DEFAULT_DAYS}}"
INGRESS_SECRET={ingress}
limit=$((DAYS * 86400))
problems=0

check_pem() {{
  local what=$1 pem=$2
  if openssl x509 -noout -checkend "$limit" <<<"$pem" >/dev/null; then
    echo "ok: $what"
  else
    echo "EXPIRING within $DAYS days: $what" >&2
    problems=$((problems + 1))
  fi
}}

secret_key() {{
  kubectl -n "$1" get secret "$2" -o "jsonpath={{.data.$3}}" | base64 -d
}}

echo "== Kubernetes certificates (kubeadm)"
if [[ -d /etc/kubernetes/pki ]]; then
  kubeadm certs check-expiration
fi

echo "== Istio CA"
check_pem "Istio root CA" "$(secret_key istio-system cacerts 'root-cert\.pem')"
check_pem "Istio intermediate CA" "$(secret_key istio-system cacerts 'ca-cert\.pem')"

if [[ -n "$INGRESS_SECRET" ]]; then
  echo "== ingress gateway certificate"
  check_pem "ingress certificate $INGRESS_SECRET" "$(secret_key "${{INGRESS_SECRET%%/*}}" "${{INGRESS_SECRET##*/}}" 'tls\.crt')"
fi

if ((problems)); then
  echo "renew with: meshbundle secrets rotate, then meshbundle build and import the new bundle" >&2
  exit 1
fi
"#,
        days = quote(&ctx.site.spec.observability.alerts.cert_expiry_days.to_string()),
        ingress = quote(&tls.unwrap_or_default()),
    );
    script(ctx, "Checks certificate expiry: kubeadm's, the Istio CA and the ingress certificate.", "ops/cert-expiry.sh [DAYS]", &body)
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
    tree.add("ops/backup.sh", backup(ctx), MODE_EXEC);
    Ok(())
}
