//! Diagnostics: what validation says about a spec, each with the field path it
//! concerns, where that field is in the file, a message and a hint.

use serde::Serialize;

#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The spec cannot be used as it is.
    Error,
    /// Allowed, but risky; said once so the user decides.
    Warning,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// The check that made it, written as a stable string, e.g. `network-overlap`.
    pub code: Code,
    /// Field path, e.g. `spec.nodes[2].address`; empty for the whole document.
    pub path: String,
    pub message: String,
    /// What to do about it.
    pub hint: String,
    /// 1-based line in the source; 0 when not known.
    pub line: u32,
    /// 1-based column in the source; 0 when not known.
    pub column: u32,
}

/// A message that quotes an empty value (`` `{name}` is not a valid … ``
/// with no name) says "an empty value" instead of two backticks, and one
/// that quotes only spaces or tabs (`` `   ` ``) says "a value of only
/// spaces": a blank between backticks reads as nothing.
pub(crate) fn no_empty_quote(message: String) -> String {
    if !message.contains('`') {
        return message;
    }
    let parts: Vec<&str> = message.split('`').collect();
    // Quoted spans are the odd parts, when the backticks pair up.
    if parts.len().is_multiple_of(2) {
        return message.replace("``", "an empty value");
    }
    let mut out = String::with_capacity(message.len());
    for (i, part) in parts.iter().enumerate() {
        if i.is_multiple_of(2) {
            out.push_str(part);
        } else if part.is_empty() {
            out.push_str("an empty value");
        } else if part.chars().all(|c| c == ' ' || c == '\t') {
            out.push_str("a value of only spaces");
        } else {
            out.push('`');
            out.push_str(part);
            out.push('`');
        }
    }
    out
}

impl Diagnostic {
    /// An error.
    pub fn error(code: Code, path: impl Into<String>, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            path: path.into(),
            message: no_empty_quote(message.into()),
            hint: hint.into(),
            line: 0,
            column: 0,
        }
    }

    /// A warning.
    pub fn warning(code: Code, path: impl Into<String>, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, path, message, hint)
        }
    }

    pub fn at(mut self, line: u32, column: u32) -> Self {
        self.line = line;
        self.column = column;
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Defines [`Code`] from one line per code: its meaning (the doc comment),
/// its variant and the string it is written as.
macro_rules! codes {
    ($(#[doc = $about:literal] $variant:ident = $code:literal,)+) => {
        /// The stable identifier of a check, e.g. `network-overlap`. A code is
        /// written as its kebab-case string (in the CLI's JSON output, the web
        /// page's diagnostics, the snapshots of the tests), and the strings
        /// stay: scripts and the web page match on them. The variants are in
        /// the alphabetical order of their strings.
        ///
        /// `core/tests/diagnostic_codes.rs` checks that every code is made by a
        /// fixture (or, for the few no spec can make, by a named CLI test) and
        /// emitted somewhere, and pins the strings.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Code {
            $(#[doc = $about] $variant,)+
        }

        impl Code {
            /// Every code, in alphabetical order.
            pub const ALL: &[Code] = &[$(Code::$variant,)+];

            /// The code as it is written, e.g. `network-overlap`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $code,)+
                }
            }

            /// What the code is about, in one line (its doc comment).
            pub const fn about(self) -> &'static str {
                match self {
                    $(Code::$variant => $about.trim_ascii(),)+
                }
            }
        }
    };
}

// Every diagnostic code and what it is about, one a line, in alphabetical
// order of the strings.
codes! {
    /// an observability add-on reads from an add-on that is off
    Addons = "addons",
    /// a node or gateway address that is not an IPv4 address, or cannot be used where it is
    Address = "address",
    /// Alertmanager's replicas, receivers, webhook, mail relay or storage
    Alertmanager = "alertmanager",
    /// an alert threshold that fires always or too late, or alert rules nothing evaluates
    Alerts = "alerts",
    /// the document's apiVersion is not one this meshbundle reads
    ApiVersion = "api-version",
    /// no node architecture is listed
    Architectures = "architectures",
    /// ingress client networks or allow rules that admit or refuse more than meant
    Authorization = "authorization",
    /// more nodes than Calico's install without Typha is meant for
    CalicoScale = "calico-scale",
    /// a spec that passed validation names versions the catalog lacks: a bug, no input should make it
    Catalog = "catalog",
    /// no control-plane node, or an even number of them
    ControlPlane = "control-plane",
    /// a setting upstream deprecated at the spec's Kubernetes version
    Deprecated = "deprecated",
    /// a name, address, port or list entry given twice where each must be unique
    Duplicate = "duplicate",
    /// an Istio duration that is not a duration, or shorter than 1ms
    Duration = "duration",
    /// egress hosts with the egress gateway off, or an ingress-only field on the egress gateway
    Egress = "egress",
    /// the file holds no YAML document
    Empty = "empty",
    /// the control-plane endpoint is missing, malformed, or one node's own address
    Endpoint = "endpoint",
    /// an istiod environment variable whose name is not one
    Env = "env",
    /// an extra file with a bad name, an empty URL or a plain-HTTP URL
    File = "file",
    /// a gateway or route host that is not a host name, or cannot be routed there
    Host = "host",
    /// an autoscaler's replica bounds, or replicas that differ from its minimum
    Hpa = "hpa",
    /// an extra image that is not a reference, has no tag, or has an unknown source
    Image = "image",
    /// a value of the wrong type for its field
    InvalidType = "invalid-type",
    /// a value of the right type that the field does not accept
    InvalidValue = "invalid-value",
    /// a JWT issuer's keys given by a URL an air-gapped site cannot fetch
    JwksUri = "jwks-uri",
    /// a JWT issuer without an issuer or keys, or tokens required with no issuer
    Jwt = "jwt",
    /// the document's kind is not `Site`
    Kind = "kind",
    /// a kubeadm API version the Kubernetes version does not read, or a deprecated one
    KubeadmApi = "kubeadm-api",
    /// a node label that is not a label, or one the kubelet or meshbundle sets
    Labels = "labels",
    /// LoadBalancer services, the load balancer provider, MetalLB's pool and gateway addresses
    LoadBalancer = "load-balancer",
    /// metrics-server off while autoscalers need it, unavailable for the version, or its replicas
    MetricsServer = "metrics-server",
    /// a required field is missing
    MissingField = "missing-field",
    /// mesh mTLS in PERMISSIVE mode
    Mtls = "mtls",
    /// a name that is not a valid name of its kind (RFC 1123 label, DNS name, reserved name)
    Name = "name",
    /// a namespace that cannot be used there (a system namespace, one outside the mesh)
    Namespace = "namespace",
    /// a network that is not an IPv4 CIDR, has host bits set, or is too large or too small
    Network = "network",
    /// networks or addresses that overlap the pod, service or node network
    NetworkOverlap = "network-overlap",
    /// the site has no nodes
    Nodes = "nodes",
    /// the document is not a YAML mapping
    NotAMapping = "not-a-mapping",
    /// the file is not UTF-8 text, or contains a NUL byte
    NotText = "not-text",
    /// outlier detection that may eject every endpoint of a service
    Outlier = "outlier",
    /// a route's path prefix that does not start with `/`
    Path = "path",
    /// a percentage outside its range
    Percent = "percent",
    /// certificate validity periods that are zero, outlive their issuer, or exceed what clients accept
    Pki = "pki",
    /// a connection pool that allows no connection
    Pool = "pool",
    /// a port out of range, a missing or bad node port, a privileged target port, the readiness port
    Port = "port",
    /// a gateway service without ports, or without the port its TLS or redirect needs
    Ports = "ports",
    /// an allow rule's service account that is not NAMESPACE/SERVICEACCOUNT
    Principal = "principal",
    /// the Prometheus add-on's retention or storage
    Prometheus = "prometheus",
    /// more sidecar worker threads than a sidecar needs
    Proxy = "proxy",
    /// a resource request or limit that is not a Kubernetes quantity
    Quantity = "quantity",
    /// the file cannot be read: it is missing, a directory, or not readable
    Read = "read",
    /// the site registry is not host:port, is a public registry, or its CA is not a certificate
    Registry = "registry",
    /// zero replicas, or a single pod where availability needs two
    Replicas = "replicas",
    /// a resource request larger than its limit
    Resources = "resources",
    /// an Istio revision named `default`, or not after its version
    Revision = "revision",
    /// an Istio revision tag named `default` or like the revision, or the same for canary and stable
    RevisionTag = "revision-tag",
    /// the secrets file: damaged or mismatched material, expired certificates, or material the site needs
    Secrets = "secrets",
    /// a gateway service's externalTrafficPolicy that does not apply or hides client addresses
    Service = "service",
    /// the support-policy override: its reason is missing or malformed, or it allows nothing
    SupportPolicy = "support-policy",
    /// a kernel parameter that is malformed, unsafe, or fights what Kubernetes or kube-proxy sets
    Sysctl = "sysctl",
    /// the nodes' time source: missing, contradictory, waived, or not the first control-plane node
    Time = "time",
    /// a time zone that is not an IANA name
    Timezone = "timezone",
    /// an HTTPS redirect without TLS
    Tls = "tls",
    /// the file is larger than a site spec may be
    TooLarge = "too-large",
    /// trace sampling of every request
    TraceSampling = "trace-sampling",
    /// a field the spec does not have (often a misspelling)
    UnknownField = "unknown-field",
    /// a Kubernetes, containerd or Istio version not in the catalog, or end of life
    UnsupportedVersion = "unsupported-version",
    /// a version that is not MAJOR.MINOR.PATCH
    Version = "version",
    /// versions or settings upstream does not support together
    VersionMatrix = "version-matrix",
    /// several nodes and no worker: workloads run on the control plane
    Workers = "workers",
    /// the text is not one well-formed YAML document
    Yaml = "yaml",
    /// the YAML breaks a reader limit: aliases, anchors, nesting or expanded size
    YamlBudget = "yaml-budget",
    /// a YAML tag other than `!!str`
    YamlTag = "yaml-tag",
    /// control-plane nodes in too few zones to survive losing one
    Zones = "zones",
}

impl Code {
    /// The code written as `s`, when there is one.
    pub fn parse(s: &str) -> Option<Code> {
        Code::ALL.iter().copied().find(|c| c.as_str() == s)
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Collects diagnostics during a validation pass.
#[derive(Default, Debug)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn error(&mut self, code: Code, path: impl Into<String>, message: impl Into<String>, hint: impl Into<String>) {
        self.0.push(Diagnostic::error(code, path, message, hint));
    }

    pub fn warning(
        &mut self,
        code: Code,
        path: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.0.push(Diagnostic::warning(code, path, message, hint));
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }
}

/// One segment of a field path: `.name` for a plain key, `["net.core.somaxconn"]`
/// for a key that is not an identifier.
pub fn key_segment(key: &str) -> String {
    let plain = !key.is_empty()
        && key.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        format!(".{key}")
    } else {
        format!("[{}]", serde_json::to_string(key).unwrap_or_default())
    }
}

/// Appends a key to a path.
pub fn join(path: &str, key: &str) -> String {
    let seg = key_segment(key);
    if path.is_empty() {
        seg.trim_start_matches('.').to_string()
    } else {
        format!("{path}{seg}")
    }
}

#[cfg(test)]
mod tests {
    use super::no_empty_quote;

    #[test]
    fn a_quoted_blank_is_said_in_words() {
        let said = |m: &str| no_empty_quote(m.to_string());
        assert_eq!(
            said("`` is not a valid policy name"),
            "an empty value is not a valid policy name"
        );
        assert_eq!(said("` `: it has no port"), "a value of only spaces: it has no port");
        assert_eq!(
            said("`  \t ` is not an IANA time zone name"),
            "a value of only spaces is not an IANA time zone name"
        );
        // Values that are not blank keep their quotes, side by side too.
        assert_eq!(said("`a` `b` and ` `"), "`a` `b` and a value of only spaces");
        assert_eq!(said("`x y` is taken"), "`x y` is taken");
        // Backticks that do not pair up are left alone but for an empty pair.
        assert_eq!(said("`a` has a ` in it and ``"), "`a` has a ` in it and an empty value");
    }
}
