//! The Istio install: the namespaces, an IstioOperator for `istioctl install
//! -f` (revisioned; istiod and gateways with HPAs in the autoscaling/v2 form,
//! PDBs and zone spread through `k8s`, and the scaling values the charts read
//! to decide whether to render the HPA and the PDB; the cluster's DNS domain
//! in `values.global.proxy.clusterDomain`; sidecar resources through
//! `values.global.proxy.resources`; every image from the site registry), the
//! tracing Telemetry, and the plug-in CA Secret.
//!
//! Every catalogued Istio release (1.28, 1.29, 1.30) reads what is written
//! here in the same form: nothing here uses the fields 1.30 added (values
//! `cni.useAppArmorAnnotation`, `global.enableReaderRBAC`, `pilot.taint.name`;
//! Telemetry `tracing[].disableContextPropagation`), and none of the 22
//! `values` fields that istioctl 1.28 decodes as Kubernetes protobuf messages
//! (`pilot.volumes`, tolerations, affinity, `global.proxy.lifecycle`, ...) is
//! written. bundler/tests/semantics_versions.rs holds that list and checks
//! the 1.28 form of any that gets written; render_real judges each release's
//! tree with its own strict schemas.
//!
//! The mesh namespaces are labelled with the stable revision tag (`spec.istio.upgrade.stableTag`),
//! which `install.sh cluster` points at this revision.

use serde_json::{Value, json};

use super::{Ctx, RenderError, add_yaml};
use crate::pki::files::cacerts_secret;
use crate::spec::{Gateway, Hpa, Resources};
use crate::tree::{FileTree, MODE_SECRET};

pub(crate) fn resources(r: &Resources) -> Value {
    let mut out = json!({});
    for (which, list) in [("requests", &r.requests), ("limits", &r.limits)] {
        let mut m = serde_json::Map::new();
        if let Some(c) = &list.cpu {
            m.insert("cpu".into(), json!(c));
        }
        if let Some(mem) = &list.memory {
            m.insert("memory".into(), json!(mem));
        }
        if !m.is_empty() {
            out[which] = Value::Object(m);
        }
    }
    out
}

fn hpa_spec(hpa: &Hpa) -> Value {
    json!({
        "minReplicas": hpa.min_replicas,
        "maxReplicas": hpa.max_replicas,
        "metrics": [{
            "type": "Resource",
            "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": hpa.target_cpu_utilization_percent}},
        }],
    })
}

/// Spread over zones first, then over nodes; preferred, so a site with fewer
/// zones than replicas still schedules them.
fn spread(label_key: &str, label_value: &str) -> Value {
    json!({
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 100, "podAffinityTerm": {
                    "labelSelector": {"matchLabels": {label_key: label_value}},
                    "topologyKey": "topology.kubernetes.io/zone"}},
                {"weight": 50, "podAffinityTerm": {
                    "labelSelector": {"matchLabels": {label_key: label_value}},
                    "topologyKey": "kubernetes.io/hostname"}},
            ]
        }
    })
}

/// The label value a gateway's pods carry (`istio: <value>`), which the
/// Gateway resources select.
pub(crate) fn gateway_label(g: &Gateway) -> String {
    g.name.strip_prefix("istio-").unwrap_or(&g.name).to_string()
}

/// The key under `values.gateways` that istioctl reads for a gateway. It is
/// the chart's, not the gateway's name: istioctl renders every ingress gateway
/// with the `gateways/istio-ingress` chart from `values.gateways.istio-ingressgateway`
/// (and every egress gateway from `istio-egressgateway`), setting only `name`
/// and `labels` from the component (istio/istio, operator/pkg/component
/// `ToHelmValuesTreeRoot`, 1.19 to 1.30, so every catalogued release).
pub(crate) fn gateway_values_key(ingress: bool) -> &'static str {
    if ingress {
        "istio-ingressgateway"
    } else {
        "istio-egressgateway"
    }
}

/// The scaling values the istiod and gateway charts read, and the replica
/// count, which goes to `unvalidatedValues`. `k8s.hpaSpec` and
/// `k8s.replicaCount` only patch what the chart rendered; the charts decide
/// from these values whether to render the HPA and the PodDisruptionBudget
/// (since Istio 1.28 only when `autoscaleMin > 1`, or, without HPA, when
/// `replicaCount > 1`), so they carry the spec's numbers too. The charts read
/// `replicaCount` for the egress gateway as well, but the values API has it
/// only for istiod and the ingress gateway (deprecated there), hence
/// `unvalidatedValues`, which istioctl merges into the values after
/// validating them.
fn scale_values(hpa: &Hpa, replicas: u32) -> (Value, Option<Value>) {
    if hpa.enabled {
        (
            json!({"autoscaleEnabled": true, "autoscaleMin": hpa.min_replicas, "autoscaleMax": hpa.max_replicas}),
            None,
        )
    } else {
        (
            json!({"autoscaleEnabled": false, "autoscaleMin": replicas, "autoscaleMax": replicas}),
            Some(json!({"replicaCount": replicas})),
        )
    }
}

/// Whether the Istio charts of `version` render a PodDisruptionBudget for a
/// deployment that runs at least `min_pods` pods (the HPA's minimum, or the
/// replica count). Before 1.28 the istiod and gateway charts render one
/// always; from 1.28 only above one pod (istio/istio
/// manifests/charts/gateways/istio-ingress/templates/poddisruptionbudget.yaml,
/// "a workaround for kubernetes/kubernetes#93476").
pub(crate) fn chart_renders_pdb(version: &str, min_pods: u32) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) < (1, 28) || min_pods > 1
}

/// The fewest pods a deployment runs: the HPA's minimum, or the replica count.
pub(crate) fn min_pods(hpa: &Hpa, replicas: u32) -> u32 {
    if hpa.enabled { hpa.min_replicas } else { replicas }
}

/// The service account istioctl creates for a gateway.
pub(crate) fn gateway_service_account(g: &Gateway) -> String {
    format!("{}-service-account", g.name)
}

/// The gateway's readiness port (`/healthz/ready`), as Istio's charts name it.
pub(crate) const STATUS_PORT_NAME: &str = "status-port";
pub(crate) const STATUS_PORT: u32 = 15021;

fn gateway_component(ctx: &Ctx, g: &Gateway, ingress: bool) -> Value {
    let label = gateway_label(g);
    let mut ports: Vec<Value> = Vec::new();
    // Load balancers probe the gateway's readiness on the status port; a
    // NodePort gateway may state it, with its node port, among its ports.
    if ingress && !g.service.ports.iter().any(|p| p.name == STATUS_PORT_NAME) {
        ports.push(json!({"name": "status-port", "port": 15021, "targetPort": 15021, "protocol": "TCP"}));
    }
    for p in &g.service.ports {
        let mut port = json!({"name": p.name, "port": p.port, "targetPort": p.target_port, "protocol": "TCP"});
        if let Some(np) = p.node_port {
            port["nodePort"] = json!(np);
        }
        ports.push(port);
    }
    let mut service = json!({"type": g.service.kind.as_str(), "ports": ports});
    if let Some(etp) = g.service.external_traffic_policy {
        service["externalTrafficPolicy"] = json!(etp.as_str());
    }
    // MetalLB reads the address asked for from its annotation
    // (`spec.loadBalancerIP` is deprecated); another implementation from the field.
    let mut annotations = g.service.annotations.clone();
    if let Some(ip) = &g.service.load_balancer_ip {
        if ctx.site.uses_metallb() {
            annotations.insert(super::metallb::ADDRESS_ANNOTATION.to_string(), ip.clone());
        } else {
            service["loadBalancerIP"] = json!(ip);
        }
    }
    let mut k8s = json!({
        "resources": resources(&g.resources),
        "service": service,
        "affinity": spread("istio", &label),
        "podDisruptionBudget": {"maxUnavailable": 1},
    });
    if g.hpa.enabled {
        k8s["hpaSpec"] = hpa_spec(&g.hpa);
    } else {
        k8s["replicaCount"] = json!(g.replicas);
    }
    if !annotations.is_empty() {
        k8s["serviceAnnotations"] = json!(annotations);
    }
    json!({
        "name": g.name,
        "namespace": g.namespace,
        "enabled": true,
        "label": {"istio": label, "app": g.name},
        "k8s": k8s,
    })
}

fn istio_operator(ctx: &Ctx) -> Value {
    let site = ctx.site;
    let istio = &site.spec.istio;
    let version = &istio.version;
    let obs = &site.spec.observability;

    let mut mesh = json!({
        "trustDomain": "cluster.local",
        "enableTracing": obs.addons.jaeger,
        "outboundTrafficPolicy": {"mode": istio.outbound_traffic_policy.as_str()},
        "defaultConfig": {
            "holdApplicationUntilProxyStarts": istio.proxy.hold_application_until_proxy_starts,
            "concurrency": istio.proxy.concurrency,
        },
    });
    if istio.access_logging {
        mesh["accessLogFile"] = json!("/dev/stdout");
    }
    if obs.addons.jaeger {
        mesh["extensionProviders"] = json!([{
            "name": "zipkin",
            "zipkin": {"service": format!("zipkin.istio-system.svc.{}", site.spec.kubernetes.cluster_domain), "port": 9411},
        }]);
    }

    let proxy_image = ctx.image(&format!("docker.io/istio/proxyv2:{version}"));
    let pilot_image = ctx.image(&format!("docker.io/istio/pilot:{version}"));
    let mut proxy = json!({
        "resources": resources(&istio.proxy.resources),
        "logLevel": istio.proxy.log_level.as_str(),
    });
    let mut unvalidated = serde_json::Map::new();
    let (mut pilot, pilot_count) = scale_values(&istio.istiod.hpa, istio.istiod.replicas);
    if let Some(c) = pilot_count {
        unvalidated.insert("pilot".into(), c);
    }
    let mut global = json!({
        "meshID": istio.mesh_id,
        "multiCluster": {"clusterName": site.istio_cluster_name()},
        "network": istio.network,
        "proxy": proxy.take(),
    });
    // istiod's `--domain`, the sidecars' DNS search paths and every host
    // istiod builds for a Kubernetes service come from this; without it istiod
    // assumes `cluster.local` and knows none of the `*.svc.<domain>` hosts the
    // routes name.
    global["proxy"]["clusterDomain"] = json!(site.spec.kubernetes.cluster_domain);
    if ctx.lock.is_some() {
        // Full references (they contain `/`) replace hub and tag, and carry the digest.
        global["proxy"]["image"] = json!(proxy_image);
        global["proxy_init"] = json!({"image": proxy_image});
        pilot["image"] = json!(pilot_image);
    }
    let mut gateways = serde_json::Map::new();
    let mut gateway_counts = serde_json::Map::new();
    for (g, ingress) in [(&istio.ingress_gateway, true), (&istio.egress_gateway, false)] {
        if g.enabled {
            let (v, count) = scale_values(&g.hpa, g.replicas);
            gateways.insert(gateway_values_key(ingress).into(), v);
            if let Some(c) = count {
                gateway_counts.insert(gateway_values_key(ingress).into(), c);
            }
        }
    }
    let gateways = Value::Object(gateways);
    if !gateway_counts.is_empty() {
        unvalidated.insert("gateways".into(), Value::Object(gateway_counts));
    }

    let istiod = &istio.istiod;
    let mut pilot_k8s = json!({
        "resources": resources(&istiod.resources),
        "affinity": spread("app", "istiod"),
        "podDisruptionBudget": {"maxUnavailable": 1},
    });
    if istiod.hpa.enabled {
        pilot_k8s["hpaSpec"] = hpa_spec(&istiod.hpa);
    } else {
        pilot_k8s["replicaCount"] = json!(istiod.replicas);
    }
    if !istiod.env.is_empty() {
        pilot_k8s["env"] = Value::Array(istiod.env.iter().map(|(k, v)| json!({"name": k, "value": v})).collect());
    }

    let mut components = json!({
        "base": {"enabled": true},
        "pilot": {"enabled": true, "k8s": pilot_k8s},
        "ingressGateways": [],
        "egressGateways": [],
    });
    if istio.ingress_gateway.enabled {
        components["ingressGateways"] = json!([gateway_component(ctx, &istio.ingress_gateway, true)]);
    } else {
        components["ingressGateways"] = json!([{"name": "istio-ingressgateway", "enabled": false}]);
    }
    if istio.egress_gateway.enabled {
        components["egressGateways"] = json!([gateway_component(ctx, &istio.egress_gateway, false)]);
    }

    let mut operator = json!({
        "apiVersion": "install.istio.io/v1alpha1",
        "kind": "IstioOperator",
        "metadata": {"name": format!("istio-{}", ctx.revision), "namespace": "istio-system"},
        "spec": {
            "profile": "default",
            "revision": ctx.revision,
            "hub": format!("{}/istio", ctx.registry()),
            "tag": version,
            "meshConfig": mesh,
            "components": components,
            "values": {"global": global, "pilot": pilot, "gateways": gateways},
        }
    });
    if !unvalidated.is_empty() {
        operator["spec"]["unvalidatedValues"] = Value::Object(unvalidated);
    }
    operator
}

fn namespaces(ctx: &Ctx) -> Vec<Value> {
    let istio = &ctx.site.spec.istio;
    let managed = json!({"app.kubernetes.io/managed-by": "meshbundle"});
    let mut docs = vec![json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "istio-system", "labels": {
            "app.kubernetes.io/managed-by": "meshbundle",
            "topology.istio.io/network": istio.network,
        }},
    })];
    let mut seen = vec!["istio-system".to_string()];
    for g in [&istio.ingress_gateway, &istio.egress_gateway] {
        if g.enabled && !seen.contains(&g.namespace) {
            seen.push(g.namespace.clone());
            docs.push(
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": g.namespace, "labels": managed}}),
            );
        }
    }
    for ns in ctx.mesh_namespaces() {
        if seen.contains(&ns) {
            continue;
        }
        // `istio.io/rev` alone: with it, `istio-injection` must not be set too.
        // The stable revision tag, not the revision: a canary upgrade moves
        // the tag to the new revision, and every namespace labelled with it
        // follows (ops/upgrade-canary.sh).
        docs.push(json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": ns, "labels": {"app.kubernetes.io/managed-by": "meshbundle", "istio.io/rev": istio.upgrade.stable_tag}},
        }));
    }
    docs
}

fn telemetry(ctx: &Ctx) -> Option<Value> {
    let site = ctx.site;
    if !site.spec.observability.addons.jaeger {
        return None;
    }
    let api = if ctx.istio_v1() {
        "telemetry.istio.io/v1"
    } else {
        "telemetry.istio.io/v1alpha1"
    };
    Some(json!({
        "apiVersion": api,
        "kind": "Telemetry",
        "metadata": {"name": "mesh-default", "namespace": "istio-system"},
        "spec": {"tracing": [{
            "providers": [{"name": "zipkin"}],
            "randomSamplingPercentage": site.spec.istio.istiod.trace_sampling,
        }]},
    }))
}

#[inline(never)]
pub(crate) fn render(ctx: &Ctx, tree: &mut FileTree) -> Result<(), RenderError> {
    add_yaml(ctx, tree, "manifests/namespaces.yaml", &namespaces(ctx))?;
    add_yaml(ctx, tree, "manifests/istio/istio-operator.yaml", &[istio_operator(ctx)])?;
    if let Some(t) = telemetry(ctx) {
        add_yaml(ctx, tree, "manifests/istio/telemetry.yaml", &[t])?;
    }
    if let Some(s) = ctx.secrets {
        let secret = cacerts_secret(ctx.site, s)?;
        tree.add("secrets/istio-cacerts.yaml", ctx.yaml(&[secret])?, MODE_SECRET);
    }
    Ok(())
}
