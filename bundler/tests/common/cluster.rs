//! What a healthy production cluster answers to the `kubectl` calls of
//! `install.sh cluster` and `ops/verify.sh`, shared by every recording stub,
//! so that a check added to verify.sh is answered once, here, and a test
//! that studies one component answers only its own calls.

use meshbundle_core::spec::Site;

/// `case "$*"` arms for a healthy cluster of `site`: every node with metrics,
/// the ingress gateway at its `loadBalancerIP` (else 10.0.0.100), calico-node
/// ready, Alertmanager of two pods that Prometheus sends to, the stable
/// revision tag, the mesh namespaces and the gateways on the site's revision. A stub's own
/// arms come first and win.
pub fn healthy_cluster_arms(site: &Site) -> String {
    let ingress = site
        .spec
        .istio
        .ingress_gateway
        .service
        .load_balancer_ip
        .as_deref()
        .unwrap_or("10.0.0.100");
    let nodes: Vec<&str> = site.spec.nodes.iter().map(|n| n.name.as_str()).collect();
    HEALTHY_CLUSTER_ARMS
        .replace("@INGRESS@", ingress)
        .replace("@NODES@", &nodes.join(" "))
        .replace("@STABLE@", &site.spec.istio.upgrade.stable_tag)
        .replace("@REVISION@", &site.istio_revision())
}

const HEALTHY_CLUSTER_ARMS: &str = r#"  # ---- a healthy cluster (common/cluster.rs) ----
  *"get service istio-ingressgateway -o jsonpath={range .status.loadBalancer"*) printf '@INGRESS@ ' ;;
  *"-l k8s-app=calico-node --field-selector"*) printf True ;;
  *"get --raw /api/v1/namespaces/istio-system/pods/alertmanager-0:9093/proxy/api/v2/status"*)
    printf '{"cluster":{"name":"01J","peers":[{"address":"10.244.1.7:9094","name":"01A"},{"address":"10.244.2.9:9094","name":"01B"}],"status":"ready"}}' ;;
  *"get --raw /api/v1/namespaces/istio-system/services/prometheus:9090/proxy/api/v1/alertmanagers"*)
    printf '{"status":"success","data":{"activeAlertmanagers":[{"url":"http://10.244.1.7:9093/api/v2/alerts"},{"url":"http://10.244.2.9:9093/api/v2/alerts"}],"droppedAlertmanagers":[]}}' ;;
  *"top nodes"*) printf '%s   250m   6%%   1800Mi   23%%\n' @NODES@ ;;
  *"get peerauthentication"*) printf STRICT ;;
  # The stable revision tag on this revision, the mesh namespaces labelled with it, the gateways on this revision.
  *"get mutatingwebhookconfigurations -l istio.io/tag=@STABLE@ "*) printf '@REVISION@' ;;
  *"get namespace "*"-o jsonpath={.metadata.labels.istio"*) printf '@STABLE@' ;;
  *" get deployment "*"-o jsonpath={.metadata.labels.istio"*) printf '@REVISION@' ;;
"#;

/// `stub` with the healthy-cluster answers added after its own: as the last
/// arms of its final `case "$*" in` block when it ends with one, else as a
/// block of their own before its final `exit 0`.
pub fn with_healthy_cluster(stub: &str, site: &Site) -> String {
    let arms = healthy_cluster_arms(site);
    let body = stub
        .trim_end()
        .strip_suffix("exit 0")
        .expect("a recording stub ends with `exit 0`");
    // Top-level statements start at column 0: the stub's last `case` and the
    // `esac` that closes it.
    let lines: Vec<&str> = body.lines().collect();
    let last_case = lines.iter().rposition(|l| l.starts_with("case "));
    let closes_last = lines
        .iter()
        .rposition(|l| !l.trim().is_empty())
        .filter(|&i| lines[i] == "esac");
    match (last_case, closes_last) {
        (Some(c), Some(e)) if lines[c] == "case \"$*\" in" && c < e => {
            format!("{}\n{arms}{}\nexit 0\n", lines[..e].join("\n"), lines[e..].join("\n"))
        }
        _ => format!("{body}case \"$*\" in\n{arms}esac\nexit 0\n"),
    }
}
