//! The site spec (`meshbundle.yaml`): the one document that describes a whole
//! air-gapped site, as typed serde structures with a JSON Schema (schemars).
//!
//! Field names are a contract with the configurator, the CLI and the tests.
//! Every field except `metadata.name`, `spec.nodes` and `spec.registry` has a
//! production default; the defaults are written out in `examples/production.yaml`.

mod defaults;
mod direct;
pub mod edit;
pub mod load;
pub mod structure;
mod validated;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub(crate) use defaults::*;
pub use validated::Validated;

/// The only `apiVersion` this release reads.
pub const API_VERSION: &str = "meshbundle.dev/v1alpha1";
/// The only `kind` this release reads.
pub const KIND: &str = "Site";

/// A meshbundle site: a kubeadm cluster with Istio, installed with no internet.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "schema", schemars(title = "meshbundle Site"))]
pub struct Site {
    /// Always `meshbundle.dev/v1alpha1`.
    #[cfg_attr(feature = "schema", schemars(extend("const" = "meshbundle.dev/v1alpha1")))]
    pub api_version: String,
    /// Always `Site`.
    #[cfg_attr(feature = "schema", schemars(extend("const" = "Site")))]
    pub kind: String,
    pub metadata: Metadata,
    pub spec: SiteSpec,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    /// Site name: an RFC 1123 label (lowercase letters, digits and `-`, at most 63).
    /// Used as the Kubernetes cluster name and in every generated file's header.
    pub name: String,
    /// Free text shown in the generated README.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SiteSpec {
    /// IANA time zone every node is set to, e.g. `Europe/Berlin`. `Etc/UTC` keeps
    /// logs and certificate dates unambiguous across sites.
    #[serde(default = "d_timezone")]
    pub timezone: String,
    /// CPU architectures of the nodes; the bundle carries binaries and image
    /// platforms for each.
    #[serde(default = "d_architectures")]
    pub architectures: Vec<Architecture>,
    #[serde(default)]
    pub kubernetes: Kubernetes,
    #[serde(default)]
    pub containerd: Containerd,
    /// Every machine of the cluster. The first control-plane node runs `kubeadm init`.
    pub nodes: Vec<Node>,
    /// The registry at the site (`host:port`) that images are imported into.
    /// Every image reference the bundle emits points here.
    pub registry: String,
    /// What gives gateway Services of `type: LoadBalancer` their address.
    /// Required when a gateway's service is `LoadBalancer`: nothing on bare
    /// metal does it by itself, and the Service would stay `<pending>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<LoadBalancer>,
    #[serde(default)]
    pub istio: Istio,
    #[serde(default)]
    pub security: Security,
    #[serde(default)]
    pub observability: Observability,
    #[serde(default)]
    pub traffic_policy: TrafficPolicy,
    #[serde(default)]
    pub tuning: Tuning,
    #[serde(default)]
    pub pki: Pki,
    /// Where the nodes take their time from. Required (kubeadm certificates,
    /// etcd and JWT validation fail when clocks drift, and an isolated site
    /// cannot reach public NTP servers): the site's NTP servers, a
    /// control-plane node that serves time to the others, or an explicit waiver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<Time>,
    /// Images of your own the site needs besides meshbundle's (applications,
    /// tools). They are locked, carried and imported like the rest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ExtraImage>,
    /// Files of your own to carry in the bundle (under `files/`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<ExtraFile>,
    /// Leave the supported version matrix, knowingly. Without it, a version
    /// combination upstream does not support (Istio or containerd on a
    /// Kubernetes release outside their supported range) is an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_policy: Option<SupportPolicy>,
}

/// An explicit, recorded decision to run versions together that upstream does
/// not support together. With `allowUnsupportedVersions: true` and a reason,
/// the version-matrix errors become warnings, and the generated README lists
/// each one with the reason. What cannot work at all stays an error: a
/// version the catalog does not carry, a kubeadm configuration API the chosen
/// kubeadm cannot read, containerd 1.x under Kubernetes 1.36 or later.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SupportPolicy {
    /// `true` to turn the version-matrix errors into warnings.
    #[serde(default)]
    pub allow_unsupported_versions: bool,
    /// Why this site runs an unsupported combination, and who decided it;
    /// required with `allowUnsupportedVersions`, and written into the
    /// generated README.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

impl Site {
    /// Whether the spec knowingly allows versions outside the supported matrix.
    pub fn allows_unsupported_versions(&self) -> bool {
        self.spec
            .support_policy
            .as_ref()
            .is_some_and(|p| p.allow_unsupported_versions && !p.reason.trim().is_empty())
    }
}

/// The site's time source. chrony on every node (see the generated README,
/// "Time"): with `servers` only, every node follows them; with `sourceNode`,
/// that node serves the node network and follows `servers` when given (its
/// own clock at stratum 10 otherwise), and every other node follows it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Time {
    /// The site's NTP servers, by IP address or host name, in order of
    /// preference.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub servers: Vec<String>,
    /// The first control-plane node's name, to make it the site's time source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_node: Option<String>,
    /// `true` when the site keeps the node clocks in step by its own means:
    /// meshbundle then sets up nothing (validation warns).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub waived: bool,
}

/// The load balancer implementation for `LoadBalancer` Services.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoadBalancer {
    /// `metallb`: meshbundle installs MetalLB in L2 mode, which answers ARP
    /// for the pool's addresses on the node network. `existing`: the site
    /// runs its own implementation, and meshbundle installs none.
    pub provider: LoadBalancerProvider,
    /// MetalLB's address pool: IPv4 CIDRs (`10.0.0.96/28`) or ranges
    /// (`10.0.0.100-10.0.0.109`), inside `spec.kubernetes.nodeSubnet` and
    /// clear of every node, the API endpoint, the registry and the pod and
    /// service networks. Only with `metallb`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum LoadBalancerProvider {
    Metallb,
    Existing,
}

impl LoadBalancerProvider {
    pub fn as_str(self) -> &'static str {
        match self {
            LoadBalancerProvider::Metallb => "metallb",
            LoadBalancerProvider::Existing => "existing",
        }
    }
}

/// An image the site needs besides meshbundle's.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExtraImage {
    /// The image reference, e.g. `registry.example.com/shop/web:1.4.2`.
    pub name: String,
    /// Where to take it from instead of its registry: `oci:DIR`,
    /// `oci-archive:FILE` or `docker-archive:FILE` (what `docker save`,
    /// skopeo and Nix's dockerTools write).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// A file to carry in the bundle.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExtraFile {
    /// Name under `files/` in the bundle (letters, digits, `.`, `_`, `-`).
    pub name: String,
    /// `https://`, `http://` or a local path.
    pub url: String,
    /// The sha256 it must have: 64 lower-case hex digits. Optional: the lock
    /// records it either way.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::digest::bare_opt")]
    #[cfg_attr(
        feature = "schema",
        schemars(with = "Option<String>", regex(pattern = "^[0-9a-f]{64}$"))
    )]
    pub sha256: Option<crate::digest::Digest>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    Amd64,
    Arm64,
}

impl Architecture {
    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::Amd64 => "amd64",
            Architecture::Arm64 => "arm64",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Kubernetes {
    /// Kubernetes release, `MAJOR.MINOR.PATCH` (see `meshbundle validate` for the supported list).
    #[serde(default = "d_kubernetes_version")]
    pub version: String,
    /// The API server load balancer as `host:port`. Required with more than one
    /// control-plane node; joins and kubeconfigs use it instead of a node address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane_endpoint: Option<String>,
    /// Pod network (IPv4 CIDR). Each node gets a /24 from it.
    #[serde(default = "d_pod_subnet")]
    pub pod_subnet: String,
    /// Service network (IPv4 CIDR, at most a /12).
    #[serde(default = "d_service_subnet")]
    pub service_subnet: String,
    /// The network the node addresses live in (IPv4 CIDR). Optional; when set,
    /// every node address must be inside it and it must not overlap the pod or
    /// service network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_subnet: Option<String>,
    /// Cluster DNS domain.
    #[serde(default = "d_cluster_domain")]
    pub cluster_domain: String,
    /// Pod network add-on: `flannel` (does not enforce NetworkPolicy) or
    /// `calico` (VXLAN, no BGP; enforces NetworkPolicy, and the install adds
    /// default-deny policies for the mesh namespaces with the allows the mesh needs).
    #[serde(default)]
    pub cni: Cni,
    /// kube-proxy mode.
    #[serde(default)]
    pub proxy_mode: ProxyMode,
    /// Extra subject alternative names for the API server certificate (the
    /// endpoint host and every control-plane address are always included).
    #[serde(rename = "certSANs", default, skip_serializing_if = "Vec::is_empty")]
    pub cert_sans: Vec<String>,
    /// kubeadm configuration API. Chosen from the Kubernetes version when
    /// omitted: `v1beta3` below 1.31, `v1beta4` from 1.31.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeadm_api: Option<KubeadmApi>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Cni {
    #[default]
    Flannel,
    Calico,
}

impl Cni {
    pub fn as_str(self) -> &'static str {
        match self {
            Cni::Flannel => "flannel",
            Cni::Calico => "calico",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum ProxyMode {
    #[default]
    Iptables,
    Ipvs,
    Nftables,
}

impl ProxyMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyMode::Iptables => "iptables",
            ProxyMode::Ipvs => "ipvs",
            ProxyMode::Nftables => "nftables",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum KubeadmApi {
    V1beta3,
    V1beta4,
}

impl KubeadmApi {
    pub fn api_version(self) -> &'static str {
        match self {
            KubeadmApi::V1beta3 => "kubeadm.k8s.io/v1beta3",
            KubeadmApi::V1beta4 => "kubeadm.k8s.io/v1beta4",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Containerd {
    /// containerd release (1.7.x or 2.x). Kubernetes 1.36 and later need 2.x.
    #[serde(default = "d_containerd_version")]
    pub version: String,
    /// PEM of the CA that signed the site registry's certificate, when it is
    /// not in the nodes' system trust store.
    #[serde(rename = "registryCA", default, skip_serializing_if = "Option::is_none")]
    pub registry_ca: Option<String>,
    /// Talk plain HTTP to the site registry. Only for a registry without TLS.
    #[serde(default, skip_serializing_if = "is_false")]
    pub registry_plain_http: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Node {
    /// Node name (RFC 1123 label); becomes the Kubernetes node name.
    pub name: String,
    /// IPv4 address the node is reached at and advertises.
    pub address: String,
    pub role: Role,
    /// Failure domain; set as the `topology.kubernetes.io/zone` label.
    #[serde(default = "d_zone")]
    pub zone: String,
    /// Extra node labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    ControlPlane,
    Worker,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::ControlPlane => "control-plane",
            Role::Worker => "worker",
        }
    }
}

// ---------------------------------------------------------------- Istio

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Istio {
    /// Istio release, `MAJOR.MINOR.PATCH`.
    #[serde(default = "d_istio_version")]
    pub version: String,
    /// Control-plane revision (`istio.io/rev`). Defaults to the version with
    /// dots replaced by dashes, e.g. `1-30-3`, so a canary upgrade installs
    /// beside it under a new name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    #[serde(rename = "meshID", default = "d_mesh_id")]
    pub mesh_id: String,
    /// Defaults to `metadata.name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    #[serde(default = "d_network")]
    pub network: String,
    /// Namespaces whose workloads join the mesh (labelled `istio.io/rev`).
    /// The namespaces of the ingress routes' backends are always included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Canary upgrades: the stable revision tags the namespaces are labelled
    /// with, and the namespaces moved to a new revision first.
    #[serde(default)]
    pub upgrade: IstioUpgrade,
    /// `REGISTRY_ONLY` (the default here) blocks calls to hosts the mesh does not
    /// know; Istio's own default `ALLOW_ANY` lets any call out.
    #[serde(default)]
    pub outbound_traffic_policy: OutboundTrafficPolicy,
    /// Write Envoy access logs to stdout.
    #[serde(default = "d_true")]
    pub access_logging: bool,
    #[serde(default)]
    pub istiod: Istiod,
    #[serde(default)]
    pub proxy: Proxy,
    #[serde(default = "d_ingress_gateway")]
    pub ingress_gateway: Gateway,
    #[serde(default = "d_egress_gateway")]
    pub egress_gateway: Gateway,
}

/// Stable revision tags (`istioctl tag set`): the mesh namespaces are
/// labelled `istio.io/rev=<stableTag>`, never with a revision, so a canary
/// upgrade moves them by pointing the tag at the new revision.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IstioUpgrade {
    /// The tag every mesh namespace is labelled with; it points at the
    /// revision the mesh runs on.
    #[serde(default = "d_stable_tag")]
    pub stable_tag: String,
    /// The tag of the revision being tried: `canaryNamespaces` are
    /// labelled with it during a canary upgrade.
    #[serde(default = "d_canary_tag")]
    pub canary_tag: String,
    /// Mesh namespaces moved to the new revision first, through the canary
    /// tag, before the stable tag moves the others. Empty: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub canary_namespaces: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OutboundTrafficPolicy {
    #[default]
    RegistryOnly,
    AllowAny,
}

impl OutboundTrafficPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboundTrafficPolicy::RegistryOnly => "REGISTRY_ONLY",
            OutboundTrafficPolicy::AllowAny => "ALLOW_ANY",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Istiod {
    /// Replicas when the HPA is off; the HPA's minimum when it is on.
    #[serde(default = "d_istiod_replicas")]
    pub replicas: u32,
    #[serde(default = "d_istiod_hpa")]
    pub hpa: Hpa,
    #[serde(default = "d_istiod_resources")]
    pub resources: Resources,
    /// Percentage of requests traced (0 to 100). 100 is for debugging only.
    #[serde(default = "d_trace_sampling")]
    pub trace_sampling: f64,
    /// Extra istiod environment variables, e.g. `PILOT_PUSH_THROTTLE: "100"`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
}

#[cfg(feature = "schema")]
/// The schema of a JSON object whose fields may all be left out: the loader
/// fills the fields a part leaves out from that part's defaults
/// (`load::fill_defaults`) before the typed read.
fn nothing_required(schema: &mut schemars::Schema) {
    schema.remove("required");
}

/// A HorizontalPodAutoscaler's bounds. Fields left out take those of the
/// HPA's owner (istiod, a gateway) when it is left out.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "schema", schemars(transform = nothing_required))]
pub struct Hpa {
    #[serde(default = "d_true")]
    pub enabled: bool,
    pub min_replicas: u32,
    pub max_replicas: u32,
    /// Average CPU use, in percent of the request, that the HPA aims for (1 to 100).
    #[serde(rename = "targetCPUUtilizationPercent", default = "d_hpa_cpu")]
    pub target_cpu_utilization_percent: u32,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Resources {
    #[serde(default)]
    pub requests: ResourceList,
    #[serde(default)]
    pub limits: ResourceList,
}

/// CPU and memory as Kubernetes quantities, e.g. `500m`, `2`, `512Mi`, `2Gi`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceList {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Proxy {
    /// Sidecar resources, set through `values.global.proxy.resources`.
    #[serde(default = "d_proxy_resources")]
    pub resources: Resources,
    /// Envoy worker threads. 2 suits most sidecars; 0 means one per CPU.
    #[serde(default = "d_proxy_concurrency")]
    pub concurrency: u32,
    /// Start the application only once its sidecar is ready.
    #[serde(default = "d_true")]
    pub hold_application_until_proxy_starts: bool,
    #[serde(default)]
    pub log_level: ProxyLogLevel,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum ProxyLogLevel {
    Trace,
    Debug,
    Info,
    #[default]
    Warning,
    Error,
    Critical,
    Off,
}

impl ProxyLogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyLogLevel::Trace => "trace",
            ProxyLogLevel::Debug => "debug",
            ProxyLogLevel::Info => "info",
            ProxyLogLevel::Warning => "warning",
            ProxyLogLevel::Error => "error",
            ProxyLogLevel::Critical => "critical",
            ProxyLogLevel::Off => "off",
        }
    }
}

/// An ingress or egress gateway. Fields left out take that gateway's
/// defaults (`ingressGateway: {hosts: [app.example.com]}` is a whole ingress
/// gateway), also inside a written `hpa` or `service`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "schema", schemars(transform = nothing_required))]
pub struct Gateway {
    #[serde(default = "d_true")]
    pub enabled: bool,
    /// Deployment and Service name, and the `istio` label the Gateway selects.
    pub name: String,
    /// Namespace the gateway runs in (kept apart from istiod).
    pub namespace: String,
    /// Replicas when the HPA is off; the HPA's minimum when it is on.
    pub replicas: u32,
    pub hpa: Hpa,
    pub resources: Resources,
    pub service: GatewayService,
    /// Host names served (ingress) or allowed out (egress); `*.example.com` wildcards allowed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// TLS on the HTTPS port (ingress only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<GatewayTls>,
    /// Answer plain HTTP with a redirect to HTTPS (ingress only).
    #[serde(default, skip_serializing_if = "is_false")]
    pub https_redirect: bool,
    /// Where the ingress gateway sends requests (ingress only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
}

/// A gateway's Service; fields left out take that gateway's defaults.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[cfg_attr(feature = "schema", schemars(transform = nothing_required))]
pub struct GatewayService {
    #[serde(rename = "type")]
    pub kind: ServiceType,
    /// `Local` keeps the client source address and avoids a second hop; only
    /// for `LoadBalancer` and `NodePort` services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_traffic_policy: Option<ExternalTrafficPolicy>,
    /// A fixed address for a `LoadBalancer` service: with MetalLB, one of its
    /// pool (set through MetalLB's `metallb.io/loadBalancerIPs` annotation);
    /// with an existing implementation, one it honours.
    #[serde(rename = "loadBalancerIP", default, skip_serializing_if = "Option::is_none")]
    pub load_balancer_ip: Option<String>,
    pub ports: Vec<ServicePort>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum ServiceType {
    ClusterIP,
    NodePort,
    LoadBalancer,
}

impl ServiceType {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::ClusterIP => "ClusterIP",
            ServiceType::NodePort => "NodePort",
            ServiceType::LoadBalancer => "LoadBalancer",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum ExternalTrafficPolicy {
    Local,
    Cluster,
}

impl ExternalTrafficPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            ExternalTrafficPolicy::Local => "Local",
            ExternalTrafficPolicy::Cluster => "Cluster",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServicePort {
    /// Port name; the prefix picks the protocol (`http2`, `https`, `tcp`, `tls`, `grpc`).
    pub name: String,
    pub port: u32,
    /// Container port. Gateways listen on unprivileged ports (8080, 8443).
    pub target_port: u32,
    /// Fixed node port for `NodePort` and `LoadBalancer` services (30000-32767).
    /// Required on every port of a `NodePort` gateway service, so that the
    /// site's own load balancer can be pointed at it; unique across gateways.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_port: Option<u32>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GatewayTls {
    /// Name of the TLS Secret (in the gateway's namespace) the Gateway's
    /// `credentialName` names. meshbundle generates it, or uses the certificate
    /// and key given in the site secrets file.
    #[serde(default = "d_tls_credential")]
    pub credential_name: String,
    #[serde(default)]
    pub min_protocol_version: TlsVersion,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum TlsVersion {
    #[serde(rename = "TLSV1_2")]
    #[default]
    Tlsv12,
    #[serde(rename = "TLSV1_3")]
    Tlsv13,
}

impl TlsVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            TlsVersion::Tlsv12 => "TLSV1_2",
            TlsVersion::Tlsv13 => "TLSV1_3",
        }
    }
}

/// An HTTP route from the ingress gateway to a service in the mesh.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Route {
    /// Host the route answers for; one of the gateway's hosts.
    pub host: String,
    #[serde(default = "d_path_prefix")]
    pub path_prefix: String,
    /// Backend service name.
    pub service: String,
    /// Backend namespace; it joins the mesh.
    pub namespace: String,
    /// Backend service port.
    pub port: u32,
}

// ---------------------------------------------------------------- Security

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Security {
    #[serde(default)]
    pub mtls: Mtls,
    #[serde(default)]
    pub authorization: Authorization,
    #[serde(default)]
    pub jwt: Jwt,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Mtls {
    #[serde(default)]
    pub mode: MtlsMode,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MtlsMode {
    #[default]
    Strict,
    Permissive,
}

impl MtlsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            MtlsMode::Strict => "STRICT",
            MtlsMode::Permissive => "PERMISSIVE",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Authorization {
    /// Deny every request in the mesh that no policy allows. The ingress
    /// gateway, its backends and the telemetry paths still get the allows a
    /// working site needs.
    #[serde(default = "d_true")]
    pub default_deny: bool,
    /// Client networks (CIDRs) the ingress gateway accepts.
    #[serde(default = "d_ingress_clients", rename = "ingressClientCIDRs")]
    pub ingress_client_cidrs: Vec<String>,
    /// Extra allows between workloads.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<AllowRule>,
}

impl Default for Authorization {
    fn default() -> Self {
        Authorization {
            default_deny: true,
            ingress_client_cidrs: d_ingress_clients(),
            allow: Vec::new(),
        }
    }
}

/// Allow requests to the workloads of one namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AllowRule {
    /// Policy name (RFC 1123 label).
    pub name: String,
    /// Namespace of the workloads receiving the requests.
    pub namespace: String,
    /// Match only pods with these labels; all pods of the namespace when empty.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub selector: BTreeMap<String, String>,
    /// Source namespaces allowed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from_namespaces: Vec<String>,
    /// Source service accounts allowed, as `NAMESPACE/SERVICEACCOUNT`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from_service_accounts: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Jwt {
    /// Token issuers accepted at the ingress gateway.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub issuers: Vec<JwtIssuer>,
    /// Reject requests at the ingress gateway that carry no valid token.
    #[serde(default, skip_serializing_if = "is_false")]
    pub required: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JwtIssuer {
    /// The `iss` claim.
    pub issuer: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
    /// The issuer's public keys as an inline JWKS document (JSON with `keys`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<String>,
    /// Not supported: istiod would have to fetch it, and an air-gapped site
    /// cannot. Put the JWKS document in `jwks` instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// Pass the token on to the backend.
    #[serde(default, skip_serializing_if = "is_false")]
    pub forward_original_token: bool,
}

// ---------------------------------------------------------------- Observability

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Observability {
    #[serde(default)]
    pub addons: Addons,
    /// prometheus-operator runs in the cluster: ship the alert rules also as a
    /// `PrometheusRule` (namespace `istio-system`, label `role: alert-rules`)
    /// for it. The site must install prometheus-operator and its CRDs before
    /// `install.sh cluster`, which checks that the
    /// `prometheusrules.monitoring.coreos.com` CRD is there before it applies
    /// anything and applies the rule last. The addon Prometheus, when on, reads
    /// the same rules from its own `alerting_rules.yml` either way.
    #[serde(default, skip_serializing_if = "is_false")]
    pub prometheus_operator: bool,
    #[serde(default)]
    pub alerts: Alerts,
    /// The addon Prometheus: how long it keeps data and where.
    #[serde(default)]
    pub prometheus: PrometheusSettings,
    /// The Kiali addon.
    #[serde(default)]
    pub kiali: KialiSettings,
    /// Alertmanager, which the addon Prometheus sends its alerts to.
    #[serde(default)]
    pub alertmanager: AlertmanagerSettings,
    /// metrics-server, which serves the resource metrics the HPAs of istiod
    /// and the gateways scale on, and `kubectl top`.
    #[serde(default)]
    pub metrics_server: MetricsServer,
}

/// Alertmanager in `istio-system`, fed by the addon Prometheus, delivering
/// to the receivers stated here. Credentials (the SMTP password, the webhook
/// bearer token) come from the secrets file, never from the spec.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlertmanagerSettings {
    /// Run Alertmanager (needs the Prometheus addon). Without it the addon
    /// Prometheus's alerts go nowhere: they show only on its Alerts page.
    #[serde(default, skip_serializing_if = "is_false")]
    pub enabled: bool,
    /// Pods of the StatefulSet; two or more form a cluster that shares
    /// silences and sends each notification once.
    #[serde(default = "d_alertmanager_replicas")]
    pub replicas: u32,
    /// Where alerts go: `webhook`, `email` (both may be given), or
    /// `none: true` to state that they go only to Alertmanager's UI.
    #[serde(default)]
    pub receivers: AlertReceivers,
    /// Where each pod keeps its silences and notification log.
    #[serde(default)]
    pub storage: AlertmanagerStorage,
}

impl Default for AlertmanagerSettings {
    fn default() -> Self {
        AlertmanagerSettings {
            enabled: false,
            replicas: d_alertmanager_replicas(),
            receivers: AlertReceivers::default(),
            storage: AlertmanagerStorage::default(),
        }
    }
}

/// The receivers of every alert. One must be stated when Alertmanager runs.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlertReceivers {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookReceiver>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailReceiver>,
    /// No receiver: alerts are seen only in Alertmanager's UI (validation warns).
    #[serde(default, skip_serializing_if = "is_false")]
    pub none: bool,
}

/// Alerts POSTed as Alertmanager's webhook JSON to a site service.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookReceiver {
    /// `http://` or `https://` URL of the site's service: host (DNS name or
    /// IPv4 address), optional port and path; no user name, password, query
    /// or fragment.
    pub url: String,
    /// Send `Authorization: Bearer TOKEN`, the token taken from the secrets
    /// file (`alertmanager.webhookBearerToken`). Needs an `https://` URL.
    #[serde(default, skip_serializing_if = "is_false")]
    pub bearer_token: bool,
    /// PEM of the CA that signed the service's certificate, when it is not a
    /// public one (Alertmanager's image trusts only public CAs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_certificate: Option<String>,
}

/// Alerts mailed through the site's SMTP relay.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EmailReceiver {
    /// The relay, `host:port` (587 for STARTTLS, 465 for TLS, 25).
    pub smarthost: String,
    /// The sender address, e.g. `alertmanager@example.internal`.
    pub from: String,
    /// Who gets the alerts.
    pub to: Vec<String>,
    /// Refuse to send unless the relay offers TLS (STARTTLS). Leave it on
    /// unless the relay is on a trusted network and has no TLS at all.
    #[serde(default = "d_true", rename = "requireTLS")]
    pub require_tls: bool,
    /// Log in to the relay as this user (PLAIN/LOGIN/CRAM-MD5, as it offers);
    /// the password comes from the secrets file (`alertmanager.smtpPassword`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_username: Option<String>,
    /// PEM of the CA that signed the relay's certificate, when it is not a
    /// public one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_certificate: Option<String>,
}

/// Alertmanager's storage, per pod: a PersistentVolumeClaim of `size` with a
/// storage class, a size-limited emptyDir otherwise (silences then survive a
/// restart only through the other replicas).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlertmanagerStorage {
    /// The StorageClass of each pod's PersistentVolumeClaim (a DNS subdomain).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
    /// Size of each pod's volume, a Kubernetes quantity such as `1Gi`.
    #[serde(default = "d_alertmanager_size")]
    pub size: String,
}

impl Default for AlertmanagerStorage {
    fn default() -> Self {
        AlertmanagerStorage {
            storage_class_name: None,
            size: d_alertmanager_size(),
        }
    }
}

/// metrics-server in `kube-system`. It reads each kubelet over TLS, checked
/// against the cluster CA: the kubelets get serving certificates from the
/// cluster (`serverTLSBootstrap`), and the install approves exactly those of
/// the site's own nodes (see the generated README, "Resource metrics").
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricsServer {
    /// Install metrics-server. Without it, no HorizontalPodAutoscaler gets
    /// metrics and `kubectl top` does not work.
    #[serde(default = "d_true")]
    pub enabled: bool,
    /// Replicas, each on another node (with a PodDisruptionBudget from 2).
    /// Chosen when omitted: 2 where at least two nodes run workloads, 1 otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(range(min = 1)))]
    pub replicas: Option<u32>,
}

impl Default for MetricsServer {
    fn default() -> Self {
        MetricsServer {
            enabled: true,
            replicas: None,
        }
    }
}

/// Retention and storage of the addon Prometheus.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrometheusSettings {
    /// How long Prometheus keeps samples: a Prometheus duration such as `15d`,
    /// `2w` or `1d12h` (units y, w, d, h, m, s, ms, largest first).
    #[serde(default = "d_prometheus_retention")]
    pub retention: String,
    #[serde(default)]
    pub storage: PrometheusStorage,
}

impl Default for PrometheusSettings {
    fn default() -> Self {
        PrometheusSettings {
            retention: d_prometheus_retention(),
            storage: PrometheusStorage::default(),
        }
    }
}

/// Where the addon Prometheus keeps its data. With a storage class, a
/// PersistentVolumeClaim of `size`; without one, an emptyDir of at most
/// `size` on the node, lost whenever the pod moves or restarts.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrometheusStorage {
    /// The StorageClass of the PersistentVolumeClaim (a DNS subdomain). Leave
    /// it out only where losing the metrics on a restart is acceptable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
    /// Size of the volume, a Kubernetes quantity such as `50Gi`. Keep it above
    /// what the retention needs, or Prometheus stops writing.
    #[serde(default = "d_prometheus_size")]
    pub size: String,
}

impl Default for PrometheusStorage {
    fn default() -> Self {
        PrometheusStorage {
            storage_class_name: None,
            size: d_prometheus_size(),
        }
    }
}

/// The Kiali addon. Users log in with a Kubernetes token (the `token`
/// strategy) and see what their own RBAC lets them see.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KialiSettings {
    /// Kiali only shows the mesh: no edits of Istio configuration or
    /// workloads, and its service account gets read access only. Set `false`
    /// to let users with the RBAC rights change configuration from Kiali.
    #[serde(default = "d_true")]
    pub view_only: bool,
}

impl Default for KialiSettings {
    fn default() -> Self {
        KialiSettings { view_only: true }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Addons {
    #[serde(default = "d_true")]
    pub prometheus: bool,
    #[serde(default = "d_true")]
    pub grafana: bool,
    #[serde(default = "d_true")]
    pub jaeger: bool,
    #[serde(default = "d_true")]
    pub kiali: bool,
}

impl Default for Addons {
    fn default() -> Self {
        Addons {
            prometheus: true,
            grafana: true,
            jaeger: true,
            kiali: true,
        }
    }
}

/// Alert thresholds, one set for every alert rule meshbundle writes.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Alerts {
    /// Fire when a service's p99 request latency exceeds this, in milliseconds.
    #[serde(default = "d_p99")]
    pub p99_latency_ms: u32,
    /// Fire when 5xx responses exceed this share of a service's requests, in percent.
    #[serde(default = "d_error_rate")]
    pub error_rate_percent: f64,
    /// Fire when a certificate expires within this many days.
    #[serde(default = "d_cert_expiry")]
    pub cert_expiry_days: u32,
    /// Fire when a container uses more than this share of its CPU or memory limit, in percent.
    #[serde(default = "d_resource_usage")]
    pub resource_usage_percent: f64,
}

impl Default for Alerts {
    fn default() -> Self {
        Alerts {
            p99_latency_ms: d_p99(),
            error_rate_percent: d_error_rate(),
            cert_expiry_days: d_cert_expiry(),
            resource_usage_percent: d_resource_usage(),
        }
    }
}

// ---------------------------------------------------------------- Traffic

/// Mesh-wide defaults for every service, as a DestinationRule.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrafficPolicy {
    #[serde(default)]
    pub connection_pool: ConnectionPool,
    #[serde(default)]
    pub outlier_detection: OutlierDetection,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConnectionPool {
    #[serde(default)]
    pub tcp: TcpPool,
    #[serde(default)]
    pub http: HttpPool,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TcpPool {
    #[serde(default = "d_max_connections")]
    pub max_connections: u32,
    /// Duration such as `10s` or `500ms`.
    #[serde(default = "d_connect_timeout")]
    pub connect_timeout: String,
}

impl Default for TcpPool {
    fn default() -> Self {
        TcpPool {
            max_connections: d_max_connections(),
            connect_timeout: d_connect_timeout(),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpPool {
    #[serde(default = "d_http1_pending")]
    pub http1_max_pending_requests: u32,
    #[serde(default = "d_http2_requests")]
    pub http2_max_requests: u32,
    /// 0 means unlimited.
    #[serde(default)]
    pub max_requests_per_connection: u32,
    #[serde(default = "d_max_retries")]
    pub max_retries: u32,
    #[serde(default = "d_idle_timeout")]
    pub idle_timeout: String,
}

impl Default for HttpPool {
    fn default() -> Self {
        HttpPool {
            http1_max_pending_requests: d_http1_pending(),
            http2_max_requests: d_http2_requests(),
            max_requests_per_connection: 0,
            max_retries: d_max_retries(),
            idle_timeout: d_idle_timeout(),
        }
    }
}

/// Eject failing endpoints from the load-balancing pool. (`consecutiveErrors`,
/// seen in older tutorials, was removed from Istio; use `consecutive5xxErrors`.)
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutlierDetection {
    #[serde(rename = "consecutive5xxErrors", default = "d_consecutive_5xx")]
    pub consecutive_5xx_errors: u32,
    #[serde(default = "d_outlier_interval")]
    pub interval: String,
    #[serde(default = "d_base_ejection")]
    pub base_ejection_time: String,
    /// Most endpoints that may be ejected at once, in percent (0 to 100).
    #[serde(default = "d_max_ejection")]
    pub max_ejection_percent: u32,
}

impl Default for OutlierDetection {
    fn default() -> Self {
        OutlierDetection {
            consecutive_5xx_errors: d_consecutive_5xx(),
            interval: d_outlier_interval(),
            base_ejection_time: d_base_ejection(),
            max_ejection_percent: d_max_ejection(),
        }
    }
}

// ---------------------------------------------------------------- Tuning, PKI

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tuning {
    /// Kernel parameters set on every node, on top of the ones Kubernetes
    /// needs (`net.ipv4.ip_forward`, `net.bridge.bridge-nf-call-iptables`, ...).
    #[serde(default = "d_sysctl")]
    pub sysctl: BTreeMap<String, String>,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning { sysctl: d_sysctl() }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Pki {
    /// Key type of every key meshbundle generates.
    #[serde(default)]
    pub key_type: KeyType,
    /// Validity of the root CAs, in days.
    #[serde(default = "d_root_days")]
    pub root_validity_days: u32,
    /// Validity of intermediate CAs (the Istio cluster CA), in days.
    #[serde(default = "d_intermediate_days")]
    pub intermediate_validity_days: u32,
    /// Validity of leaf certificates (the ingress gateway's), in days.
    #[serde(default = "d_leaf_days")]
    pub leaf_validity_days: u32,
}

impl Default for Pki {
    fn default() -> Self {
        Pki {
            key_type: KeyType::default(),
            root_validity_days: d_root_days(),
            intermediate_validity_days: d_intermediate_days(),
            leaf_validity_days: d_leaf_days(),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "kebab-case")]
pub enum KeyType {
    #[default]
    EcdsaP256,
    #[serde(rename = "rsa-2048")]
    Rsa2048,
    #[serde(rename = "rsa-3072")]
    Rsa3072,
    #[serde(rename = "rsa-4096")]
    Rsa4096,
}

impl KeyType {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::EcdsaP256 => "ecdsa-p256",
            KeyType::Rsa2048 => "rsa-2048",
            KeyType::Rsa3072 => "rsa-3072",
            KeyType::Rsa4096 => "rsa-4096",
        }
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

// ---------------------------------------------------------------- derived values

impl Site {
    /// The Istio revision: the one given, or the version with dashes.
    pub fn istio_revision(&self) -> String {
        self.spec
            .istio
            .revision
            .clone()
            .unwrap_or_else(|| self.spec.istio.version.replace('.', "-"))
    }

    /// The Istio cluster name: the one given, or the site name.
    pub fn istio_cluster_name(&self) -> String {
        self.spec
            .istio
            .cluster_name
            .clone()
            .unwrap_or_else(|| self.metadata.name.clone())
    }

    pub fn control_plane_nodes(&self) -> impl Iterator<Item = &Node> {
        self.spec.nodes.iter().filter(|n| n.role == Role::ControlPlane)
    }

    pub fn worker_nodes(&self) -> impl Iterator<Item = &Node> {
        self.spec.nodes.iter().filter(|n| n.role == Role::Worker)
    }

    /// Whether meshbundle installs MetalLB (`spec.loadBalancer.provider: metallb`).
    pub fn uses_metallb(&self) -> bool {
        self.spec
            .load_balancer
            .as_ref()
            .is_some_and(|lb| lb.provider == LoadBalancerProvider::Metallb)
    }

    /// The enabled gateways, with their field paths (`spec.istio.ingressGateway`).
    pub fn enabled_gateways(&self) -> Vec<(&'static str, &Gateway)> {
        let i = &self.spec.istio;
        [
            ("spec.istio.ingressGateway", &i.ingress_gateway),
            ("spec.istio.egressGateway", &i.egress_gateway),
        ]
        .into_iter()
        .filter(|(_, g)| g.enabled)
        .collect()
    }

    /// The nodes that run workloads: the workers, or every node of a site
    /// without workers (its control plane is left untainted).
    pub fn workload_nodes(&self) -> Vec<&Node> {
        let workers: Vec<&Node> = self.worker_nodes().collect();
        if workers.is_empty() {
            self.spec.nodes.iter().collect()
        } else {
            workers
        }
    }

    /// metrics-server's replicas: as given, else 2 where two nodes run
    /// workloads (one per node), else 1.
    pub fn metrics_server_replicas(&self) -> u32 {
        self.spec
            .observability
            .metrics_server
            .replicas
            .unwrap_or(if self.workload_nodes().len() >= 2 { 2 } else { 1 })
    }

    /// The node that runs `kubeadm init`: the first control-plane node.
    pub fn first_control_plane(&self) -> Option<&Node> {
        self.control_plane_nodes().next()
    }
}

/// Writes a spec (typed, or as the configurator's form holds it) as YAML.
pub fn to_yaml<T: Serialize>(spec: &T) -> Result<String, crate::yaml::YamlError> {
    Ok(format!(
        "# yaml-language-server: $schema=meshbundle.schema.json\n{}",
        crate::yaml::to_string(spec)?
    ))
}
