//! Checks of `spec.observability.metricsServer`: a metrics-server release for
//! the Kubernetes version, replicas that fit one per node that runs
//! workloads, and a warning when HPAs are on without it.

use crate::catalog::catalog;
use crate::diag::{Code, Diagnostics};
use crate::spec::Site;

pub(super) fn check(site: &Site, d: &mut Diagnostics) {
    let spec = &site.spec;
    let ms = &spec.observability.metrics_server;
    let istio = &spec.istio;
    let mut hpas: Vec<&str> = Vec::new();
    if istio.istiod.hpa.enabled {
        hpas.push("spec.istio.istiod.hpa");
    }
    if istio.ingress_gateway.enabled && istio.ingress_gateway.hpa.enabled {
        hpas.push("spec.istio.ingressGateway.hpa");
    }
    if istio.egress_gateway.enabled && istio.egress_gateway.hpa.enabled {
        hpas.push("spec.istio.egressGateway.hpa");
    }
    if !ms.enabled {
        if !hpas.is_empty() {
            d.warning(
                Code::MetricsServer,
                "spec.observability.metricsServer.enabled",
                format!("metrics-server is off, but {} scale on resource metrics: they never get any and never scale", hpas.join(", ")),
                "turn metrics-server on (`metricsServer: {enabled: true}`), or make sure the site serves the metrics.k8s.io API by its own means",
            );
        }
        return;
    }
    if catalog().kubernetes(&spec.kubernetes.version).is_some()
        && catalog().metrics_server(&spec.kubernetes.version).is_none()
    {
        let supported: Vec<String> = catalog()
            .metrics_server
            .iter()
            .map(|m| format!("{} for {} to {}", m.version, m.kubernetes.min, m.kubernetes.max))
            .collect();
        d.error(
            Code::MetricsServer,
            "spec.observability.metricsServer.enabled",
            format!(
                "no metrics-server in this meshbundle's catalog supports Kubernetes {}",
                spec.kubernetes.version
            ),
            format!(
                "choose a Kubernetes version one supports ({}), or turn metrics-server off",
                supported.join(", ")
            ),
        );
    }
    if let Some(r) = ms.replicas {
        let nodes = site.workload_nodes().len();
        if r == 0 {
            d.error(
                Code::MetricsServer,
                "spec.observability.metricsServer.replicas",
                "metrics-server needs at least one replica",
                "write 2 (the default where two nodes run workloads), or turn metrics-server off with `enabled: false`",
            );
        } else if r as usize > nodes {
            d.error(
                Code::MetricsServer,
                "spec.observability.metricsServer.replicas",
                format!("{r} replicas of metrics-server, but only {nodes} node(s) run workloads: each replica needs a node of its own"),
                format!("write at most {nodes}, or leave `replicas` out to have it chosen"),
            );
        }
    }
}
