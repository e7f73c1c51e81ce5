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
    /// Stable identifier of the check, e.g. `network-overlap`: one of [`CODES`].
    pub code: &'static str,
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

impl Diagnostic {
    /// An error; `code` is one of [`CODES`], written as a literal at the call.
    pub fn error(
        code: &'static str,
        path: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        debug_assert!(about(code).is_some(), "diagnostic code `{code}` is not in diag::CODES");
        Diagnostic {
            severity: Severity::Error,
            code,
            path: path.into(),
            message: message.into(),
            hint: hint.into(),
            line: 0,
            column: 0,
        }
    }

    /// A warning; `code` is one of [`CODES`], written as a literal at the call.
    pub fn warning(
        code: &'static str,
        path: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
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

/// Every diagnostic code, with what it is about, in alphabetical order. The
/// codes are stable: the CLI's JSON output, the web page and scripts match on
/// them. `core/tests/diagnostic_codes.rs` keeps this list exact: it fails when
/// the sources emit a code not listed here or list one nothing emits, and when
/// a code has no fixture under `core/tests/diagnostics/` that makes it.
#[rustfmt::skip] // one code a line, as a table
pub const CODES: &[(&str, &str)] = &[
    ("addons", "an observability add-on reads from an add-on that is off"),
    ("address", "a node or gateway address that is not an IPv4 address, or cannot be used where it is"),
    ("alertmanager", "Alertmanager's replicas, receivers, webhook, mail relay or storage"),
    ("alerts", "an alert threshold that fires always or too late, or alert rules nothing evaluates"),
    ("api-version", "the document's apiVersion is not one this meshbundle reads"),
    ("architectures", "no node architecture is listed"),
    ("authorization", "ingress client networks or allow rules that admit or refuse more than meant"),
    ("calico-scale", "more nodes than Calico's install without Typha is meant for"),
    ("catalog", "a spec that passed validation names versions the catalog lacks: a bug, no input should make it"),
    ("control-plane", "no control-plane node, or an even number of them"),
    ("deprecated", "a setting upstream deprecated at the spec's Kubernetes version"),
    ("duplicate", "a name, address, port or list entry given twice where each must be unique"),
    ("duration", "an Istio duration that is not a duration, or shorter than 1ms"),
    ("egress", "egress hosts with the egress gateway off, or an ingress-only field on the egress gateway"),
    ("empty", "the file holds no YAML document"),
    ("endpoint", "the control-plane endpoint is missing, malformed, or one node's own address"),
    ("env", "an istiod environment variable whose name is not one"),
    ("file", "an extra file with a bad name, an empty URL or a plain-HTTP URL"),
    ("host", "a gateway or route host that is not a host name, or cannot be routed there"),
    ("hpa", "an autoscaler's replica bounds, or replicas that differ from its minimum"),
    ("image", "an extra image that is not a reference, has no tag, or has an unknown source"),
    ("invalid-type", "a value of the wrong type for its field"),
    ("invalid-value", "a value of the right type that the field does not accept"),
    ("jwks-uri", "a JWT issuer's keys given by a URL an air-gapped site cannot fetch"),
    ("jwt", "a JWT issuer without an issuer or keys, or tokens required with no issuer"),
    ("kind", "the document's kind is not `Site`"),
    ("kubeadm-api", "a kubeadm API version the Kubernetes version does not read, or a deprecated one"),
    ("labels", "a node label that is not a label, or one the kubelet or meshbundle sets"),
    ("load-balancer", "LoadBalancer services, the load balancer provider, MetalLB's pool and gateway addresses"),
    ("metrics-server", "metrics-server off while autoscalers need it, unavailable for the version, or its replicas"),
    ("missing-field", "a required field is missing"),
    ("mtls", "mesh mTLS in PERMISSIVE mode"),
    ("name", "a name that is not a valid name of its kind (RFC 1123 label, DNS name, reserved name)"),
    ("namespace", "a namespace that cannot be used there (a system namespace, one outside the mesh)"),
    ("network", "a network that is not an IPv4 CIDR, has host bits set, or is too large or too small"),
    ("network-overlap", "networks or addresses that overlap the pod, service or node network"),
    ("nodes", "the site has no nodes"),
    ("not-a-mapping", "the document is not a YAML mapping"),
    ("not-text", "the file is not UTF-8 text, or contains a NUL byte"),
    ("outlier", "outlier detection that may eject every endpoint of a service"),
    ("path", "a route's path prefix that does not start with `/`"),
    ("percent", "a percentage outside its range"),
    ("pki", "certificate validity periods that are zero, outlive their issuer, or exceed what clients accept"),
    ("pool", "a connection pool that allows no connection"),
    ("port", "a port out of range, a missing or bad node port, a privileged target port, the readiness port"),
    ("ports", "a gateway service without ports, or without the port its TLS or redirect needs"),
    ("principal", "an allow rule's service account that is not NAMESPACE/SERVICEACCOUNT"),
    ("prometheus", "the Prometheus add-on's retention or storage"),
    ("proxy", "more sidecar worker threads than a sidecar needs"),
    ("quantity", "a resource request or limit that is not a Kubernetes quantity"),
    ("registry", "the site registry is not host:port, is a public registry, or its CA is not a certificate"),
    ("replicas", "zero replicas, or a single pod where availability needs two"),
    ("resources", "a resource request larger than its limit"),
    ("revision", "an Istio revision named `default`, or not after its version"),
    ("revision-tag", "an Istio revision tag named `default` or like the revision, or the same for canary and stable"),
    ("secrets", "the secrets file: damaged or mismatched material, expired certificates, or material the site needs"),
    ("service", "a gateway service's externalTrafficPolicy that does not apply or hides client addresses"),
    ("support-policy", "the support-policy override: its reason is missing or malformed, or it allows nothing"),
    ("sysctl", "a kernel parameter that is malformed, unsafe, or fights what Kubernetes or kube-proxy sets"),
    ("time", "the nodes' time source: missing, contradictory, waived, or not the first control-plane node"),
    ("timezone", "a time zone that is not an IANA name"),
    ("tls", "an HTTPS redirect without TLS"),
    ("too-large", "the file is larger than a site spec may be"),
    ("trace-sampling", "trace sampling of every request"),
    ("unknown-field", "a field the spec does not have (often a misspelling)"),
    ("unsupported-version", "a Kubernetes, containerd or Istio version not in the catalog, or end of life"),
    ("version", "a version that is not MAJOR.MINOR.PATCH"),
    ("version-matrix", "versions or settings upstream does not support together"),
    ("workers", "several nodes and no worker: workloads run on the control plane"),
    ("yaml", "the text is not one well-formed YAML document"),
    ("yaml-budget", "the YAML breaks a reader limit: aliases, anchors, nesting or expanded size"),
    ("yaml-tag", "a YAML tag other than `!!str`"),
    ("zones", "control-plane nodes in too few zones to survive losing one"),
];

/// What a diagnostic code is about, when it is one of [`CODES`].
pub fn about(code: &str) -> Option<&'static str> {
    CODES.binary_search_by(|(c, _)| c.cmp(&code)).ok().map(|i| CODES[i].1)
}

/// Collects diagnostics during a validation pass.
#[derive(Default, Debug)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn error(
        &mut self,
        code: &'static str,
        path: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.0.push(Diagnostic::error(code, path, message, hint));
    }

    pub fn warning(
        &mut self,
        code: &'static str,
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
