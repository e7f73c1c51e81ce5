//! How the gateways are reached from outside the cluster
//! (`spec.loadBalancer`, each gateway's `service`).
//!
//! With `provider: metallb`, MetalLB in L2 mode:
//! - `manifests/metallb/metallb-native.yaml`: MetalLB's upstream native
//!   manifest (pinned by sha256; the FRR variant is for BGP and not needed),
//!   with its images moved to the site registry, pulled `IfNotPresent`, and,
//!   on a site without workers, the speaker told to announce from
//!   control-plane nodes although kubeadm labels them
//!   `node.kubernetes.io/exclude-from-external-load-balancers`. Every other
//!   byte stays as upstream wrote it. The controller makes the speakers'
//!   memberlist Secret (`METALLB_ML_SECRET_NAME=memberlist`) and the
//!   webhook's certificate; the speakers start once the Secret exists.
//!   Its pods lose their `prometheus.io` annotations (MetalLB serves metrics
//!   over HTTPS to callers with a token the generic pod job does not send)
//!   and the manifest ends with the TokenReview and SubjectAccessReview
//!   rights its metrics endpoint needs; the addon Prometheus scrapes it in
//!   its own job ([`scrape_config`]).
//! - `manifests/metallb/address-pool.yaml`: one IPAddressPool with exactly the
//!   spec's addresses and one L2Advertisement naming it.
//! - `install.sh cluster` applies both before Istio, so the gateway Services
//!   get their address as they are created: the manifest, then the
//!   controller's and the speakers' rollouts, then the pool (retried while
//!   MetalLB's webhook, which checks it, gets its certificate).
//! - kube-proxy in IPVS mode gets `strictARP: true` (see kubeadm.rs), as
//!   MetalLB's installation guide requires for L2.
//!
//! For every provider, `ops/verify.sh` checks each LoadBalancer gateway's
//! external address (in the pool, and the one asked for) and each stated node
//! port, and the README says what to point DNS at.

use serde_json::json;

use super::cni::replace_once;
use super::istio::STATUS_PORT_NAME;
use super::shell::{array, quote};
use super::{Ctx, RenderError, add_yaml};
use crate::catalog::METALLB_MANIFEST;
use crate::image::rewrite_manifest_images;
use crate::spec::{Gateway, LoadBalancerProvider, ServiceType};
use crate::tree::{FileTree, MODE_FILE};
use crate::validate::load_balancer::{PoolRange, metallb_pool};

/// MetalLB's manifest in the tree.
pub(crate) const MANIFEST: &str = "manifests/metallb/metallb-native.yaml";
/// The IPAddressPool and L2Advertisement.
pub(crate) const POOL: &str = "manifests/metallb/address-pool.yaml";
/// The name of the IPAddressPool and of the L2Advertisement.
pub(crate) const POOL_NAME: &str = "gateways";
/// MetalLB's namespace, as its manifest creates it.
const NAMESPACE: &str = "metallb-system";

#[inline(never)]
pub(crate) fn render(ctx: &Ctx, tree: &mut FileTree) -> Result<(), RenderError> {
    if !ctx.site.uses_metallb() {
        return Ok(());
    }
    let m = &ctx.cat.metallb;
    let name = METALLB_MANIFEST;
    let upstream = ctx.upstream(name, &m.manifest)?;
    let mut text = String::from_utf8(upstream).map_err(|_| RenderError::Upstream {
        name: name.into(),
        reason: "not UTF-8 text".into(),
    })?;
    // Both containers: pinned by digest, so a restart never needs the registry.
    for image in &m.images {
        let line = format!("        image: {image}\n");
        text = replace_once(
            &text,
            &line,
            &format!("{line}        imagePullPolicy: IfNotPresent\n"),
            name,
        )?;
    }
    let no_workers = ctx.site.worker_nodes().next().is_none();
    if no_workers {
        // kubeadm labels control-plane nodes exclude-from-external-load-balancers,
        // and the speaker (speaker/main.go, --ignore-exclude-lb) does not
        // announce from them; with no workers, the gateways run there.
        text = replace_once(
            &text,
            "        - --log-level=info\n        env:\n        - name: METALLB_NODE_NAME\n",
            "        - --log-level=info\n        - --ignore-exclude-lb\n        env:\n        - name: METALLB_NODE_NAME\n",
            name,
        )?;
    }
    // Its metrics are HTTPS with token authentication (see [`scrape_config`]):
    // the annotations would have the generic pod job scrape them over HTTP.
    let annotations =
        "      annotations:\n        prometheus.io/port: \"9120\"\n        prometheus.io/scrape: \"true\"\n";
    if text.matches(annotations).count() != 2 {
        return Err(RenderError::Upstream {
            name: name.into(),
            reason:
                "expected the controller's and the speaker's prometheus.io annotations; the upstream file changed shape"
                    .into(),
        });
    }
    let text = text.replace(annotations, "");
    let text = rewrite_manifest_images(&text, |r| ctx.image(r));
    let mut text = text;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    for d in metrics_auth_documents() {
        text.push_str("---\n");
        text.push_str(&crate::yaml::value_to_string(&d)?);
    }
    let out = format!(
        "{}# MetalLB {} ({}, sha256 {}),\n# with images moved to {} and pulled IfNotPresent, its pods' prometheus.io\n# annotations removed (its metrics are HTTPS with token authentication: the addon\n# Prometheus scrapes them in its own `{SCRAPE_JOB}` job), and, at the end, the rights its metrics\n# endpoint needs to check tokens (ClusterRole {METRICS_AUTH_ROLE}){}.\n---\n{text}",
        ctx.header("#"),
        m.version,
        m.manifest.url,
        m.manifest.sha256.hex(),
        ctx.registry(),
        if no_workers {
            ", and the speaker announcing from control-plane nodes (--ignore-exclude-lb: the site has no workers)"
        } else {
            ""
        }
    );
    tree.add(MANIFEST, out, MODE_FILE);

    let pool = metallb_pool(ctx.site);
    let docs = [
        json!({
            "apiVersion": "metallb.io/v1beta1",
            "kind": "IPAddressPool",
            "metadata": {"name": POOL_NAME, "namespace": NAMESPACE},
            "spec": {"addresses": pool.iter().map(|r| r.text.clone()).collect::<Vec<_>>(), "autoAssign": true},
        }),
        json!({
            "apiVersion": "metallb.io/v1beta1",
            "kind": "L2Advertisement",
            "metadata": {"name": POOL_NAME, "namespace": NAMESPACE},
            "spec": {"ipAddressPools": [POOL_NAME]},
        }),
    ];
    add_yaml(ctx, tree, POOL, &docs)
}

/// The addon Prometheus's scrape job of MetalLB's metrics.
pub(crate) const SCRAPE_JOB: &str = "metallb";
/// What lets MetalLB's metrics endpoint check the tokens it is sent.
const METRICS_AUTH_ROLE: &str = "metallb-system:metrics-auth";
/// MetalLB's metrics port, as upstream names it (`--port=9120`).
const METRICS_PORT_NAME: &str = "metricshttps";

/// MetalLB 0.16 serves its metrics through controller-runtime's secure
/// metrics server (`internal/k8s/k8s.go`: `SecureServing: true`,
/// `FilterProvider: filters.WithAuthenticationAndAuthorization`, metallb
/// v0.16.1): every request needs a bearer token, which it checks with a
/// TokenReview, and the right to `get` the non-resource URL `/metrics`,
/// which it checks with a SubjectAccessReview. Upstream's Helm chart gives
/// its service accounts these two; its native manifest does not, so without
/// this every scrape is refused.
fn metrics_auth_documents() -> Vec<serde_json::Value> {
    let labels = json!({"app": "metallb", "app.kubernetes.io/managed-by": "meshbundle"});
    vec![
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": METRICS_AUTH_ROLE, "labels": labels},
            "rules": [
                {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]},
                {"apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews"], "verbs": ["create"]},
            ],
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": METRICS_AUTH_ROLE, "labels": labels},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": METRICS_AUTH_ROLE},
            "subjects": [
                {"kind": "ServiceAccount", "name": "controller", "namespace": NAMESPACE},
                {"kind": "ServiceAccount", "name": "speaker", "namespace": NAMESPACE},
            ],
        }),
    ]
}

/// The addon Prometheus's job for MetalLB's controller and speakers, when
/// MetalLB runs: their pods' `metricshttps` port over HTTPS, with
/// Prometheus's service account token (its ClusterRole already allows `get`
/// on `/metrics`, what MetalLB's SubjectAccessReview asks).
///
/// The certificate cannot be verified: with no `--metrics-cert-dir`, as
/// upstream runs it, controller-runtime makes a self-signed certificate in
/// memory at each start (`pkg/metrics/server`), which no CA signs and which
/// changes with every restart, so there is nothing to pin. The job therefore
/// skips verification, the one job that does; what it sends is a token of
/// the Prometheus service account, which only reads (nodes, pods, services,
/// endpoints, configmaps and `/metrics`), to the addresses Kubernetes lists
/// for MetalLB's own pods. Giving MetalLB a certificate from the site's PKI
/// (`--metrics-cert-dir`) would remove this; meshbundle does not yet.
pub(crate) fn scrape_config(ctx: &Ctx) -> Option<serde_json::Value> {
    if !ctx.site.uses_metallb() {
        return None;
    }
    Some(json!({
        "job_name": SCRAPE_JOB,
        "scheme": "https",
        "authorization": {"type": "Bearer", "credentials_file": "/var/run/secrets/kubernetes.io/serviceaccount/token"},
        "tls_config": {"insecure_skip_verify": true},
        "kubernetes_sd_configs": [{"role": "pod", "namespaces": {"names": [NAMESPACE]}}],
        "relabel_configs": [
            {"action": "keep", "source_labels": ["__meta_kubernetes_pod_label_app", "__meta_kubernetes_pod_container_port_name"], "regex": format!("metallb;{METRICS_PORT_NAME}")},
            {"action": "drop", "source_labels": ["__meta_kubernetes_pod_phase"], "regex": "Pending|Succeeded|Failed|Completed"},
            {"source_labels": ["__meta_kubernetes_pod_label_component"], "target_label": "component"},
            {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
            {"source_labels": ["__meta_kubernetes_pod_node_name"], "target_label": "node"},
        ],
    }))
}

/// The annotation MetalLB reads a Service's requested address from
/// (`spec.loadBalancerIP` is deprecated in Kubernetes).
pub(crate) const ADDRESS_ANNOTATION: &str = "metallb.io/loadBalancerIPs";

/// The `install.sh cluster` lines that install MetalLB, before Istio.
pub(crate) fn install_step(ctx: &Ctx) -> String {
    if !ctx.site.uses_metallb() {
        return String::new();
    }
    format!(
        r#"
  mb_step "MetalLB {version} (L2): addresses for the gateways' LoadBalancer Services"
  mb_apply "$HERE"/{manifest}
  # The controller serves the webhook that checks the pool and makes the
  # speakers' memberlist Secret; the speakers start once that exists.
  kubectl -n {ns} rollout status deployment/controller --timeout=600s
  kubectl -n {ns} rollout status daemonset/speaker --timeout=600s

  mb_step "MetalLB address pool"
  # Its webhook may take a moment to get its certificate after the controller is up.
  local try
  for try in 1 2 3 4 5 6 7 8 9 10 11 12; do
    if mb_apply "$HERE"/{pool}; then
      break
    fi
    ((try < 12)) || mb_die "MetalLB did not accept {pool}: see kubectl -n {ns} logs deployment/controller"
    sleep 10
  done
"#,
        version = ctx.cat.metallb.version,
        manifest = quote(MANIFEST),
        pool = quote(POOL),
        ns = NAMESPACE,
    )
}

/// The `ops/diagnose.sh` lines that collect MetalLB's state.
pub(crate) fn diagnose_lines(ctx: &Ctx) -> String {
    if !ctx.site.uses_metallb() {
        return String::new();
    }
    format!(
        "run metallb kubectl -n {NAMESPACE} get pods,ipaddresspools.metallb.io,l2advertisements.metallb.io,servicel2statuses.metallb.io -o wide\n\
         run metallb-controller-logs kubectl -n {NAMESPACE} logs deployment/controller --tail=2000\n\
         run metallb-speaker-logs kubectl -n {NAMESPACE} logs -l app=metallb,component=speaker --prefix --tail=500 --max-log-requests=100\n"
    )
}

fn ip_number(a: std::net::Ipv4Addr) -> String {
    u32::from(a).to_string()
}

/// The `ops/verify.sh` lines that check each gateway's address and node ports.
pub(crate) fn verify_lines(ctx: &Ctx) -> String {
    let site = ctx.site;
    let metallb = site.uses_metallb();
    let pool = metallb_pool(site);
    let mut checks = String::new();
    for (_, g) in site.enabled_gateways() {
        let svc = &g.service;
        let target = quote(&format!("{}/{}", g.namespace, g.name));
        if svc.kind == ServiceType::LoadBalancer {
            checks.push_str(&format!(
                "check_address {target} {} {}\n",
                quote(svc.load_balancer_ip.as_deref().unwrap_or("")),
                if metallb { "pool" } else { "any" }
            ));
        }
        let stated: Vec<String> = svc
            .ports
            .iter()
            .filter_map(|p| p.node_port.map(|np| format!("{}={np}", p.name)))
            .collect();
        if !stated.is_empty() && svc.kind != ServiceType::ClusterIP {
            checks.push_str(&format!(
                "check_node_ports {target} {}\n",
                stated.iter().map(|s| quote(s)).collect::<Vec<_>>().join(" ")
            ));
        }
    }
    if checks.is_empty() {
        return String::new();
    }
    if metallb {
        // MetalLB itself: an address already given stays on the Service while a
        // crashed speaker no longer answers ARP for it, or takes it over when a
        // node fails; and the pool the addresses come from must still be there.
        let ns = quote(NAMESPACE);
        checks = format!(
            "kubectl -n {ns} rollout status deployment/controller --timeout=\"$TIMEOUT\" || problem \"MetalLB's controller is not ready: see kubectl -n {NAMESPACE} logs deployment/controller\"\n\
             kubectl -n {ns} rollout status daemonset/speaker --timeout=\"$TIMEOUT\" || problem \"MetalLB's speaker is not ready on every node: no node answers ARP for a gateway address whose speaker is down (kubectl -n {NAMESPACE} get pods -o wide)\"\n\
             kubectl -n {ns} get ipaddresspool {pool} >/dev/null || problem \"MetalLB's address pool {POOL_NAME} is missing: run ./install.sh cluster again\"\n{checks}",
            pool = quote(POOL_NAME),
        );
    }
    let ranges: Vec<&str> = pool.iter().map(|r| r.text.as_str()).collect();
    format!(
        r#"
echo "== load balancing"
# MetalLB's pool ({ranges}), as first and last address in 32-bit form.
POOL_FIRST={first}
POOL_LAST={last}

ip_number() {{
  local IFS=. a b c d
  read -r a b c d <<<"$1"
  printf '%s' $((a * 16777216 + b * 65536 + c * 256 + d))
}}

in_pool() {{
  local n i
  [[ "$1" =~ ^[0-9]{{1,3}}(\.[0-9]{{1,3}}){{3}}$ ]] || return 1
  n=$(ip_number "$1")
  for i in "${{!POOL_FIRST[@]}}"; do
    if ((n >= POOL_FIRST[i] && n <= POOL_LAST[i])); then
      return 0
    fi
  done
  return 1
}}

# check_address NAMESPACE/SERVICE WANTED pool|any: the Service has its external address.
check_address() {{
  local svc=$1 want=$2 where=$3 got a
  got=$(kubectl -n "${{svc%%/*}}" get service "${{svc##*/}}" -o jsonpath='{{range .status.loadBalancer.ingress[*]}}{{.ip}}{{.hostname}}{{" "}}{{end}}' || true)
  got=${{got%% }}
  if [[ -z "$got" || "$got" == *"<pending>"* ]]; then
    problem "gateway service $svc has no external address (<pending>): $(describe_provider)"
    return
  fi
  for a in $got; do
    if [[ -n "$want" && "$a" != "$want" ]]; then
      problem "gateway service $svc has the address $a, not $want (loadBalancerIP)"
    elif [[ "$where" == pool ]] && ! in_pool "$a"; then
      problem "gateway service $svc has the address $a, outside MetalLB's pool"
    else
      echo "$svc: $a"
    fi
  done
}}

# check_node_ports NAMESPACE/SERVICE NAME=NODEPORT...: the Service's node ports are the stated ones.
check_node_ports() {{
  local svc=$1 got p
  shift
  got=" $(kubectl -n "${{svc%%/*}}" get service "${{svc##*/}}" -o jsonpath='{{range .spec.ports[*]}}{{.name}}={{.nodePort}}{{" "}}{{end}}' || true) "
  for p in "$@"; do
    if [[ "$got" == *" $p "* ]]; then
      echo "$svc: port ${{p%%=*}} on node port ${{p##*=}}"
    else
      problem "gateway service $svc: port ${{p%%=*}} is not on node port ${{p##*=}} (the service has:${{got% }})"
    fi
  done
}}

describe_provider() {{
  echo {provider}
}}

{checks}"#,
        ranges = if ranges.is_empty() {
            "none".to_string()
        } else {
            ranges.join(", ")
        },
        first = array(&pool.iter().map(|r| ip_number(r.first)).collect::<Vec<_>>()),
        last = array(&pool.iter().map(|r| ip_number(r.last)).collect::<Vec<_>>()),
        provider = quote(match site.spec.load_balancer.as_ref().map(|l| l.provider) {
            Some(LoadBalancerProvider::Metallb) =>
                "see kubectl -n metallb-system logs deployment/controller and kubectl get ipaddresspools -A",
            Some(LoadBalancerProvider::Existing) =>
                "the site's own load balancer implementation (spec.loadBalancer.provider: existing) has not given one",
            None => "nothing at the site gives LoadBalancer Services an address",
        }),
    )
}

/// Where DNS points for a gateway, in words.
fn dns_target(g: &Gateway, pool: &[PoolRange], metallb: bool) -> String {
    let svc = &g.service;
    let lookup = format!("`kubectl -n {} get service {}` (EXTERNAL-IP)", g.namespace, g.name);
    match (svc.kind, &svc.load_balancer_ip) {
        (ServiceType::LoadBalancer, Some(ip)) => format!("**{ip}** (`loadBalancerIP`)"),
        (ServiceType::LoadBalancer, None) if metallb => {
            let ranges: Vec<String> = pool.iter().map(|r| format!("`{}`", r.text)).collect();
            format!(
                "the address MetalLB gives it from {}: {lookup} shows it. Set `loadBalancerIP` to fix it, so DNS does not have to follow a reinstall",
                ranges.join(", ")
            )
        }
        (ServiceType::LoadBalancer, None) => format!("the address the site's load balancer gives it: {lookup}"),
        (ServiceType::NodePort, _) => {
            let status = svc
                .ports
                .iter()
                .find(|p| p.name == STATUS_PORT_NAME)
                .and_then(|p| p.node_port);
            let ports: Vec<String> = svc
                .ports
                .iter()
                .filter(|p| p.name != STATUS_PORT_NAME)
                .filter_map(|p| p.node_port.map(|np| format!("TCP {} to node port {np}", p.port)))
                .collect();
            let local = svc.external_traffic_policy == Some(crate::spec::ExternalTrafficPolicy::Local);
            let check = match status {
                Some(np) => format!(
                    "; it health-checks each node with HTTP `/healthz/ready` on node port {np} (the gateway's readiness){}",
                    if local { ", which with `externalTrafficPolicy: Local` also tells apart the nodes that run no gateway pod" } else { "" }
                ),
                None if local => "; with `externalTrafficPolicy: Local` only nodes running a gateway pod accept, so let it health-check each node on those ports".into(),
                None => String::new(),
            };
            let direct = match svc
                .ports
                .iter()
                .find(|p| p.name.starts_with("https"))
                .and_then(|p| p.node_port)
            {
                Some(np) => format!(
                    " (with no load balancer, clients use a node's address and the node port: `https://HOST:{np}/`)"
                ),
                None => String::new(),
            };
            format!(
                "the site's own load balancer, which forwards {} of every node's address{check}{direct}",
                ports.join(", ")
            )
        }
        (ServiceType::ClusterIP, _) => "nothing outside the cluster: the service is ClusterIP".into(),
    }
}

/// The README's "Load balancing" section.
pub(crate) fn readme(ctx: &Ctx) -> String {
    let site = ctx.site;
    let ig = &site.spec.istio.ingress_gateway;
    if !ig.enabled {
        return String::new();
    }
    let metallb = site.uses_metallb();
    let pool = metallb_pool(site);
    let mut out = String::from("## Load balancing\n\n");
    match site.spec.load_balancer.as_ref().map(|l| l.provider) {
        Some(LoadBalancerProvider::Metallb) => {
            let ranges: Vec<String> = pool.iter().map(|r| format!("`{}`", r.text)).collect();
            out.push_str(&format!(
                "MetalLB {version} in L2 mode gives LoadBalancer Services an address from its pool {ranges}\n\
                 (IPAddressPool and L2Advertisement `{POOL_NAME}` in `{NAMESPACE}`): one node at a time answers ARP\n\
                 for each address on the node network, and another takes over within seconds when it fails. The\n\
                 speakers talk to each other on TCP and UDP 7946 between the nodes; let the node firewall pass it.{ipvs}\n\n",
                version = ctx.cat.metallb.version,
                ranges = ranges.join(", "),
                ipvs = if site.spec.kubernetes.proxy_mode == crate::spec::ProxyMode::Ipvs {
                    "\nkube-proxy runs in IPVS mode with `strictARP: true`, so only MetalLB answers ARP for these addresses."
                } else {
                    ""
                },
            ));
        }
        Some(LoadBalancerProvider::Existing) => out.push_str(
            "LoadBalancer Services get their address from the site's own load balancer implementation\n\
             (`spec.loadBalancer.provider: existing`); meshbundle installs none.\n\n",
        ),
        None => {}
    }
    let hosts: Vec<String> = ig.hosts.iter().map(|h| format!("`{h}`")).collect();
    out.push_str(&format!(
        "Point DNS for the ingress host(s) {} at {}.\n",
        if hosts.is_empty() {
            "(none listed)".to_string()
        } else {
            hosts.join(", ")
        },
        dns_target(ig, &pool, metallb)
    ));
    out.push_str("`ops/verify.sh` checks that each gateway has its address and its stated node ports.\n\n");
    out
}
