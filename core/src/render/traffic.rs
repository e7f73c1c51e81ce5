//! Traffic: the ingress Gateway (HTTP redirected to HTTPS, HTTPS SIMPLE with
//! the TLS credential), its routes, the mesh-wide DestinationRule (connection
//! pool and outlier detection) and egress through the egress gateway.

use serde_json::{Value, json};

use super::istio::gateway_label;
use super::{Ctx, RenderError, add_yaml};
use crate::spec::Gateway;
use crate::tree::FileTree;

fn api(ctx: &Ctx) -> &'static str {
    if ctx.istio_v1() {
        "networking.istio.io/v1"
    } else {
        "networking.istio.io/v1beta1"
    }
}

fn meta(name: &str, namespace: &str) -> Value {
    json!({"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/managed-by": "meshbundle"}})
}

/// A name for a host usable as a Kubernetes object name.
pub(crate) fn host_name(host: &str) -> String {
    host.replace("*.", "wildcard.").replace('.', "-")
}

fn port_named<'a>(g: &'a Gateway, prefix: &str) -> Option<&'a crate::spec::ServicePort> {
    g.service
        .ports
        .iter()
        .find(|p| p.name.starts_with(prefix) && (prefix != "http" || !p.name.starts_with("https")))
}

fn ingress(ctx: &Ctx) -> Vec<Value> {
    let g = &ctx.site.spec.istio.ingress_gateway;
    if !g.enabled || g.hosts.is_empty() {
        return Vec::new();
    }
    let mut servers = Vec::new();
    if let Some(http) = port_named(g, "http") {
        let mut s = json!({"port": {"number": http.port, "name": "http", "protocol": "HTTP"}, "hosts": g.hosts});
        if g.https_redirect {
            s["tls"] = json!({"httpsRedirect": true});
        }
        servers.push(s);
    }
    if let (Some(tls), Some(https)) = (&g.tls, port_named(g, "https")) {
        servers.push(json!({
            "port": {"number": https.port, "name": "https", "protocol": "HTTPS"},
            "hosts": g.hosts,
            "tls": {"mode": "SIMPLE", "credentialName": tls.credential_name, "minProtocolVersion": tls.min_protocol_version.as_str()},
        }));
    }
    let mut docs = vec![json!({
        "apiVersion": api(ctx),
        "kind": "Gateway",
        "metadata": meta("ingress", &g.namespace),
        "spec": {"selector": {"istio": gateway_label(g)}, "servers": servers},
    })];
    let domain = &ctx.site.spec.kubernetes.cluster_domain;
    let mut hosts: Vec<&str> = g.routes.iter().map(|r| r.host.as_str()).collect();
    hosts.sort();
    hosts.dedup();
    for host in hosts {
        let mut routes: Vec<&crate::spec::Route> = g.routes.iter().filter(|r| r.host == host).collect();
        // Longest prefix first, so `/api` wins over `/`.
        routes.sort_by(|a, b| {
            b.path_prefix
                .len()
                .cmp(&a.path_prefix.len())
                .then(a.path_prefix.cmp(&b.path_prefix))
        });
        let http: Vec<Value> = routes
            .iter()
            .map(|r| {
                json!({
                    "match": [{"uri": {"prefix": r.path_prefix}}],
                    "route": [{"destination": {
                        "host": format!("{}.{}.svc.{domain}", r.service, r.namespace),
                        "port": {"number": r.port},
                    }}],
                })
            })
            .collect();
        docs.push(json!({
            "apiVersion": api(ctx),
            "kind": "VirtualService",
            "metadata": meta(&host_name(host), &g.namespace),
            "spec": {"hosts": [host], "gateways": [format!("{}/ingress", g.namespace)], "http": http},
        }));
    }
    docs
}

fn destination_rule(ctx: &Ctx) -> Value {
    let tp = &ctx.site.spec.traffic_policy;
    let cp = &tp.connection_pool;
    let od = &tp.outlier_detection;
    let mut http = json!({
        "http1MaxPendingRequests": cp.http.http1_max_pending_requests,
        "http2MaxRequests": cp.http.http2_max_requests,
        "maxRetries": cp.http.max_retries,
        "idleTimeout": cp.http.idle_timeout,
    });
    if cp.http.max_requests_per_connection > 0 {
        http["maxRequestsPerConnection"] = json!(cp.http.max_requests_per_connection);
    }
    json!({
        "apiVersion": api(ctx),
        "kind": "DestinationRule",
        "metadata": meta("mesh-default", "istio-system"),
        "spec": {
            "host": format!("*.{}", ctx.site.spec.kubernetes.cluster_domain),
            "trafficPolicy": {
                "connectionPool": {
                    "tcp": {"maxConnections": cp.tcp.max_connections, "connectTimeout": cp.tcp.connect_timeout},
                    "http": http,
                },
                "outlierDetection": {
                    "consecutive5xxErrors": od.consecutive_5xx_errors,
                    "interval": od.interval,
                    "baseEjectionTime": od.base_ejection_time,
                    "maxEjectionPercent": od.max_ejection_percent,
                },
            },
        },
    })
}

/// A DestinationRule subset name for an egress host: a DNS label (at most
/// 63 characters), the host's object name when it fits, else its start and a
/// hash of the whole host.
fn subset_name(host: &str) -> String {
    let name = host_name(host);
    if name.len() <= 63 {
        return name;
    }
    // FNV-1a, 32 bits: stable across builds and platforms.
    let hash = host
        .bytes()
        .fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    let head: String = name.chars().take(54).collect();
    format!("{}-{hash:08x}", head.trim_end_matches('-'))
}

/// TLS the application originates to each egress host leaves through the
/// egress gateway, with Istio mTLS between the sidecars and the gateway.
/// Sources (istio/istio.io, content/en/docs/tasks/traffic-management/egress/):
/// the "Egress Gateways" task, section "Egress gateway for HTTPS traffic"
/// (egress-gateway/snips.sh at 1144ff0bfff4f591f2e706530df4b6e5e32f5811:
/// ServiceEntry TLS 443, mesh `tls` route by `sniHosts` to a gateway subset),
/// and "Egress Gateways with TLS Origination" (egress-gateway-tls-origination/
/// snips.sh at 985554b84f26c6fa8393c5f9e3f5e82e0d3fd23f: Gateway server
/// `tls.mode: ISTIO_MUTUAL`, DestinationRule subset for the gateway's service
/// with `portLevelSettings` `tls: {mode: ISTIO_MUTUAL, sni: <host>}`). The
/// current HTTPS section uses PASSTHROUGH, which shows the gateway no caller
/// identity; the ISTIO_MUTUAL form is what lets deny-by-default allow it.
///
/// - the sidecar matches the application's SNI on port 443 and sends the
///   stream to the gateway's https port wrapped in Istio mTLS
///   (DestinationRule subset: `ISTIO_MUTUAL`, `sni` = the host);
/// - the gateway terminates that mTLS (server `protocol: TLS`,
///   `mode: ISTIO_MUTUAL`), so it knows the caller's identity and the
///   `allow-mesh-to-egress` AuthorizationPolicy (source namespaces) can
///   match; a PASSTHROUGH server would see no identity and refuse everyone
///   under deny-by-default;
/// - the inner stream (still the application's TLS) leaves to host:443.
///
/// A terminated TLS server is routed by the VirtualService's `tcp` routes
/// (`tls` routes with `sniHosts` serve only PASSTHROUGH servers: istio/istio
/// pilot/pkg/networking/core gateway.go, createGatewayTCPFilterChainOpts,
/// whose filter chain for the server matches its hosts as SNI), and a tcp
/// route cannot tell hosts apart: so each host has its own server (same
/// port, its own `hosts`, chosen by the SNI the subset sets) and its own
/// VirtualService, whose tcp route serves only that server.
fn egress(ctx: &Ctx) -> Vec<Value> {
    let g = &ctx.site.spec.istio.egress_gateway;
    if !g.enabled || g.hosts.is_empty() {
        return Vec::new();
    }
    let Some(https) = port_named(g, "https") else {
        return Vec::new();
    };
    let domain = &ctx.site.spec.kubernetes.cluster_domain;
    let gw_host = format!("{}.{}.svc.{domain}", g.name, g.namespace);
    let gw_ref = format!("{}/egress", g.namespace);
    let servers: Vec<Value> = g
        .hosts
        .iter()
        .map(|host| {
            json!({
                "port": {"number": https.port, "name": format!("tls-{}", host_name(host)), "protocol": "TLS"},
                "hosts": [host],
                "tls": {"mode": "ISTIO_MUTUAL"},
            })
        })
        .collect();
    let subsets: Vec<Value> = g
        .hosts
        .iter()
        .map(|host| {
            json!({
                "name": subset_name(host),
                "trafficPolicy": {"portLevelSettings": [{
                    "port": {"number": https.port},
                    "tls": {"mode": "ISTIO_MUTUAL", "sni": host},
                }]},
            })
        })
        .collect();
    let mut docs = vec![
        json!({
            "apiVersion": api(ctx),
            "kind": "Gateway",
            "metadata": meta("egress", &g.namespace),
            "spec": {"selector": {"istio": gateway_label(g)}, "servers": servers},
        }),
        json!({
            "apiVersion": api(ctx),
            "kind": "DestinationRule",
            "metadata": meta("egress-gateway", &g.namespace),
            "spec": {"host": gw_host, "subsets": subsets},
        }),
    ];
    for host in &g.hosts {
        let name = host_name(host);
        docs.push(json!({
            "apiVersion": api(ctx),
            "kind": "ServiceEntry",
            "metadata": meta(&name, &g.namespace),
            "spec": {
                "hosts": [host],
                "ports": [{"number": 443, "name": "tls", "protocol": "TLS"}],
                "resolution": "DNS",
                "location": "MESH_EXTERNAL",
            },
        }));
        docs.push(json!({
            "apiVersion": api(ctx),
            "kind": "VirtualService",
            "metadata": meta(&format!("{name}-via-egress"), &g.namespace),
            "spec": {
                "hosts": [host],
                "gateways": ["mesh", gw_ref],
                "tls": [{
                    "match": [{"gateways": ["mesh"], "port": 443, "sniHosts": [host]}],
                    "route": [{"destination": {"host": gw_host, "subset": subset_name(host), "port": {"number": https.port}}}],
                }],
                "tcp": [{
                    "match": [{"gateways": [gw_ref], "port": https.port}],
                    "route": [{"destination": {"host": host, "port": {"number": 443}}}],
                }],
            },
        }));
    }
    docs
}

#[inline(never)]
pub(crate) fn render(ctx: &Ctx, tree: &mut FileTree) -> Result<(), RenderError> {
    let ingress = ingress(ctx);
    if !ingress.is_empty() {
        add_yaml(ctx, tree, "manifests/traffic/ingress.yaml", &ingress)?;
    }
    add_yaml(
        ctx,
        tree,
        "manifests/traffic/destination-rule.yaml",
        &[destination_rule(ctx)],
    )?;
    let egress = egress(ctx);
    if !egress.is_empty() {
        add_yaml(ctx, tree, "manifests/traffic/egress.yaml", &egress)?;
    }
    Ok(())
}
