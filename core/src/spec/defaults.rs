//! Production defaults of the site spec. Each is a serde default function so a
//! spec only has to say what differs from a sound production site.

use std::collections::BTreeMap;

use super::*;

pub(crate) fn d_true() -> bool {
    true
}
pub(crate) fn d_timezone() -> String {
    "Etc/UTC".into()
}
pub(crate) fn d_architectures() -> Vec<Architecture> {
    vec![Architecture::Amd64]
}
pub(crate) fn d_kubernetes_version() -> String {
    "1.36.5".into()
}
pub(crate) fn d_pod_subnet() -> String {
    "10.244.0.0/16".into()
}
pub(crate) fn d_service_subnet() -> String {
    "10.96.0.0/12".into()
}
pub(crate) fn d_cluster_domain() -> String {
    "cluster.local".into()
}
pub(crate) fn d_containerd_version() -> String {
    "2.2.3".into()
}
pub(crate) fn d_zone() -> String {
    "default".into()
}
pub(crate) fn d_istio_version() -> String {
    "1.30.3".into()
}
pub(crate) fn d_mesh_id() -> String {
    "mesh1".into()
}
pub(crate) fn d_network() -> String {
    "network1".into()
}
pub(crate) fn d_istiod_replicas() -> u32 {
    2
}
pub(crate) fn d_istiod_hpa() -> Hpa {
    Hpa {
        enabled: true,
        min_replicas: 2,
        max_replicas: 5,
        target_cpu_utilization_percent: 80,
    }
}
pub(crate) fn d_hpa_cpu() -> u32 {
    80
}
fn rl(cpu: Option<&str>, memory: Option<&str>) -> ResourceList {
    ResourceList {
        cpu: cpu.map(Into::into),
        memory: memory.map(Into::into),
    }
}
pub(crate) fn d_istiod_resources() -> Resources {
    // No CPU limit: a throttled istiod delays configuration pushes to every proxy.
    Resources {
        requests: rl(Some("500m"), Some("2Gi")),
        limits: rl(None, Some("4Gi")),
    }
}
pub(crate) fn d_trace_sampling() -> f64 {
    1.0
}
pub(crate) fn d_proxy_resources() -> Resources {
    Resources {
        requests: rl(Some("100m"), Some("128Mi")),
        limits: rl(Some("2"), Some("1Gi")),
    }
}
pub(crate) fn d_proxy_concurrency() -> u32 {
    2
}
pub(crate) fn d_tls_credential() -> String {
    "ingress-tls".into()
}
pub(crate) fn d_path_prefix() -> String {
    "/".into()
}

fn port(name: &str, port: u32, target_port: u32) -> ServicePort {
    ServicePort {
        name: name.into(),
        port,
        target_port,
        node_port: None,
    }
}

pub(crate) fn d_ingress_gateway() -> Gateway {
    Gateway {
        enabled: true,
        name: "istio-ingressgateway".into(),
        namespace: "istio-ingress".into(),
        replicas: 3,
        hpa: Hpa {
            enabled: true,
            min_replicas: 3,
            max_replicas: 10,
            target_cpu_utilization_percent: 80,
        },
        resources: Resources {
            requests: rl(Some("500m"), Some("512Mi")),
            limits: rl(Some("2"), Some("1Gi")),
        },
        service: GatewayService {
            kind: ServiceType::LoadBalancer,
            external_traffic_policy: Some(ExternalTrafficPolicy::Local),
            load_balancer_ip: None,
            ports: vec![port("http2", 80, 8080), port("https", 443, 8443)],
            annotations: BTreeMap::new(),
        },
        hosts: Vec::new(),
        tls: Some(GatewayTls {
            credential_name: d_tls_credential(),
            min_protocol_version: TlsVersion::Tlsv12,
        }),
        https_redirect: true,
        routes: Vec::new(),
    }
}

pub(crate) fn d_egress_gateway() -> Gateway {
    Gateway {
        enabled: true,
        name: "istio-egressgateway".into(),
        namespace: "istio-egress".into(),
        replicas: 2,
        hpa: Hpa {
            enabled: true,
            min_replicas: 2,
            max_replicas: 5,
            target_cpu_utilization_percent: 80,
        },
        resources: Resources {
            requests: rl(Some("200m"), Some("256Mi")),
            limits: rl(Some("1"), Some("512Mi")),
        },
        service: GatewayService {
            kind: ServiceType::ClusterIP,
            external_traffic_policy: None,
            load_balancer_ip: None,
            ports: vec![port("http2", 80, 8080), port("https", 443, 8443)],
            annotations: BTreeMap::new(),
        },
        hosts: Vec::new(),
        tls: None,
        https_redirect: false,
        routes: Vec::new(),
    }
}

pub(crate) fn d_ingress_clients() -> Vec<String> {
    vec!["0.0.0.0/0".into()]
}
pub(crate) fn d_p99() -> u32 {
    500
}
pub(crate) fn d_error_rate() -> f64 {
    5.0
}
pub(crate) fn d_cert_expiry() -> u32 {
    30
}
pub(crate) fn d_resource_usage() -> f64 {
    90.0
}
pub(crate) fn d_max_connections() -> u32 {
    1024
}
pub(crate) fn d_connect_timeout() -> String {
    "10s".into()
}
pub(crate) fn d_http1_pending() -> u32 {
    1024
}
pub(crate) fn d_http2_requests() -> u32 {
    1024
}
pub(crate) fn d_max_retries() -> u32 {
    3
}
pub(crate) fn d_idle_timeout() -> String {
    "1h".into()
}
pub(crate) fn d_consecutive_5xx() -> u32 {
    5
}
pub(crate) fn d_outlier_interval() -> String {
    "10s".into()
}
pub(crate) fn d_base_ejection() -> String {
    "30s".into()
}
pub(crate) fn d_max_ejection() -> u32 {
    50
}

/// Kernel parameters for a busy mesh node. The ephemeral port range is left at
/// the kernel default (32768-60999) on purpose: widening it down to 1024, as
/// many tutorials do, collides with the NodePort range 30000-32767.
pub(crate) fn d_sysctl() -> BTreeMap<String, String> {
    [
        ("fs.inotify.max_user_instances", "8192"),
        ("fs.inotify.max_user_watches", "524288"),
        ("net.core.netdev_max_backlog", "16384"),
        ("net.core.somaxconn", "32768"),
        ("net.ipv4.tcp_max_syn_backlog", "8192"),
        ("net.ipv4.tcp_tw_reuse", "1"),
        ("net.netfilter.nf_conntrack_max", "1048576"),
        ("vm.max_map_count", "262144"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

pub(crate) fn d_root_days() -> u32 {
    3650
}
pub(crate) fn d_intermediate_days() -> u32 {
    1825
}
pub(crate) fn d_leaf_days() -> u32 {
    365
}

impl Default for Kubernetes {
    fn default() -> Self {
        Kubernetes {
            version: d_kubernetes_version(),
            control_plane_endpoint: None,
            pod_subnet: d_pod_subnet(),
            service_subnet: d_service_subnet(),
            node_subnet: None,
            cluster_domain: d_cluster_domain(),
            cni: Cni::Flannel,
            proxy_mode: ProxyMode::Iptables,
            cert_sans: Vec::new(),
            kubeadm_api: None,
        }
    }
}

impl Default for Containerd {
    fn default() -> Self {
        Containerd {
            version: d_containerd_version(),
            registry_ca: None,
            registry_plain_http: false,
        }
    }
}

impl Default for Istio {
    fn default() -> Self {
        Istio {
            version: d_istio_version(),
            revision: None,
            mesh_id: d_mesh_id(),
            cluster_name: None,
            network: d_network(),
            namespaces: Vec::new(),
            upgrade: IstioUpgrade::default(),
            outbound_traffic_policy: OutboundTrafficPolicy::RegistryOnly,
            access_logging: true,
            istiod: Istiod::default(),
            proxy: Proxy::default(),
            ingress_gateway: d_ingress_gateway(),
            egress_gateway: d_egress_gateway(),
        }
    }
}

pub(crate) fn d_stable_tag() -> String {
    "prod-stable".into()
}

pub(crate) fn d_canary_tag() -> String {
    "prod-canary".into()
}

impl Default for IstioUpgrade {
    fn default() -> Self {
        IstioUpgrade {
            stable_tag: d_stable_tag(),
            canary_tag: d_canary_tag(),
            canary_namespaces: Vec::new(),
        }
    }
}

impl Default for Istiod {
    fn default() -> Self {
        Istiod {
            replicas: d_istiod_replicas(),
            hpa: d_istiod_hpa(),
            resources: d_istiod_resources(),
            trace_sampling: d_trace_sampling(),
            env: BTreeMap::new(),
        }
    }
}

impl Default for Proxy {
    fn default() -> Self {
        Proxy {
            resources: d_proxy_resources(),
            concurrency: d_proxy_concurrency(),
            hold_application_until_proxy_starts: true,
            log_level: ProxyLogLevel::Warning,
        }
    }
}

pub(crate) fn d_prometheus_retention() -> String {
    "15d".into()
}

pub(crate) fn d_prometheus_size() -> String {
    "50Gi".into()
}

pub(crate) fn d_alertmanager_replicas() -> u32 {
    2
}

pub(crate) fn d_alertmanager_size() -> String {
    "1Gi".into()
}
