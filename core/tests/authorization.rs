//! What the rendered authorization means: the AuthorizationPolicies are
//! evaluated the way Istio evaluates them (a matching DENY refuses; with no
//! ALLOW policy on a workload everything else is allowed; with one, only
//! what some ALLOW matches), for requests a site makes: clients to the
//! ingress gateway, the gateway to its backends, workloads to each other.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use meshbundle_core::examples::example;
use meshbundle_core::render::{Inputs, render};
use meshbundle_core::spec::load::load;
use serde_json::Value;

const JWKS: &str = include_str!("../../tests/fixtures/jwks.json");
const GATEWAY_SA: &str = "cluster.local/ns/istio-ingress/sa/istio-ingressgateway-service-account";

/// A request as the destination's proxy sees it.
#[derive(Clone, Debug)]
struct Request {
    principal: Option<String>,
    namespace: Option<String>,
    ip: Ipv4Addr,
    token: bool,
    to_namespace: String,
    to_labels: BTreeMap<String, String>,
    port: u16,
}

fn client(ip: &str, port: u16, token: bool) -> Request {
    Request {
        principal: None,
        namespace: None,
        ip: ip.parse().unwrap(),
        token,
        to_namespace: "istio-ingress".into(),
        to_labels: BTreeMap::from([("istio".to_string(), "ingressgateway".to_string())]),
        port,
    }
}

fn workload(from_ns: &str, from_sa: &str, to_ns: &str, app: &str, port: u16) -> Request {
    Request {
        principal: Some(format!("cluster.local/ns/{from_ns}/sa/{from_sa}")),
        namespace: Some(from_ns.into()),
        ip: "10.244.1.7".parse().unwrap(),
        token: false,
        to_namespace: to_ns.into(),
        to_labels: BTreeMap::from([("app".to_string(), app.to_string())]),
        port,
    }
}

fn gateway_to(ns: &str, app: &str, port: u16) -> Request {
    let mut r = workload("istio-ingress", "istio-ingressgateway-service-account", ns, app, port);
    r.principal = Some(GATEWAY_SA.into());
    r
}

fn strings(v: &Value, key: &str) -> Option<Vec<String>> {
    v.get(key)
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
}

fn principal_matches(pattern: &str, value: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    if let Some(suffix) = pattern.strip_prefix('*') {
        return value.ends_with(suffix);
    }
    if let Some(prefix) = pattern.strip_suffix('*') {
        return value.starts_with(prefix);
    }
    pattern == value
}

/// A field of a source or operation: unset or empty matches anything; a
/// `not` field matches when none of its values does.
fn field(v: &Value, key: &str, matches: impl Fn(&str) -> bool) -> bool {
    let yes = strings(v, key).is_none_or(|vals| vals.iter().any(|p| matches(p)));
    let not = strings(v, &format!("not{}{}", key[..1].to_uppercase(), &key[1..]))
        .is_none_or(|vals| !vals.iter().any(|p| matches(p)));
    yes && not
}

fn source_matches(s: &Value, r: &Request) -> bool {
    field(s, "principals", |p| {
        r.principal.as_deref().is_some_and(|v| principal_matches(p, v))
    }) && field(s, "namespaces", |n| {
        r.namespace.as_deref().is_some_and(|v| principal_matches(n, v))
    }) && field(s, "ipBlocks", |c| c.parse::<Ipv4Net>().unwrap().contains(&r.ip))
        && field(s, "requestPrincipals", |p| r.token && p == "*")
}

fn operation_matches(o: &Value, r: &Request) -> bool {
    field(o, "ports", |p| p == r.port.to_string())
}

fn rule_matches(rule: &Value, r: &Request) -> bool {
    let from = rule.get("from").and_then(Value::as_array).filter(|a| !a.is_empty());
    let to = rule.get("to").and_then(Value::as_array).filter(|a| !a.is_empty());
    for key in rule.as_object().unwrap().keys() {
        assert!(
            ["from", "to"].contains(&key.as_str()),
            "the evaluator does not know rule field `{key}`"
        );
    }
    from.is_none_or(|f| f.iter().any(|s| source_matches(&s["source"], r)))
        && to.is_none_or(|t| t.iter().any(|o| operation_matches(&o["operation"], r)))
}

fn applies(p: &Value, r: &Request) -> bool {
    let ns = p["metadata"]["namespace"].as_str().unwrap();
    if ns != "istio-system" && ns != r.to_namespace {
        return false;
    }
    match p["spec"]
        .get("selector")
        .and_then(|s| s.get("matchLabels"))
        .and_then(Value::as_object)
    {
        Some(labels) => labels
            .iter()
            .all(|(k, v)| r.to_labels.get(k).map(String::as_str) == v.as_str()),
        None => true,
    }
}

/// Istio's decision for a request under these policies.
fn allowed(policies: &[Value], r: &Request) -> bool {
    let on: Vec<&Value> = policies.iter().filter(|p| applies(p, r)).collect();
    let action = |p: &Value| {
        p["spec"]
            .get("action")
            .and_then(Value::as_str)
            .unwrap_or("ALLOW")
            .to_string()
    };
    let rules = |p: &Value| {
        p["spec"]
            .get("rules")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    if on
        .iter()
        .filter(|p| action(p) == "DENY")
        .any(|p| rules(p).iter().any(|rule| rule_matches(rule, r)))
    {
        return false;
    }
    let allows: Vec<&&Value> = on.iter().filter(|p| action(p) == "ALLOW").collect();
    allows.is_empty() || allows.iter().any(|p| rules(p).iter().any(|rule| rule_matches(rule, r)))
}

fn rendered(spec_text: &str) -> meshbundle_core::tree::FileTree {
    let loaded = load(spec_text);
    let site = loaded.site.unwrap_or_else(|| panic!("{:?}", loaded.diagnostics));
    render(&site, &Inputs::default()).unwrap()
}

fn yaml_docs(tree: &meshbundle_core::tree::FileTree, path: &str) -> Vec<Value> {
    let text = String::from_utf8(tree.get(path).unwrap_or_else(|| panic!("no {path}")).bytes.clone()).unwrap();
    text.split("\n---\n")
        .skip(1)
        .map(|d| meshbundle_core::yaml::from_str::<Value>(d).unwrap())
        .collect()
}

fn policies(spec_text: &str) -> Vec<Value> {
    let tree = rendered(spec_text);
    let text = String::from_utf8(
        tree.get("manifests/security/authorization-policies.yaml")
            .unwrap()
            .bytes
            .clone(),
    )
    .unwrap();
    let docs: Vec<Value> = yaml_docs(&tree, "manifests/security/authorization-policies.yaml")
        .into_iter()
        .filter(|d| d["kind"] == "AuthorizationPolicy")
        .collect();
    assert!(!docs.is_empty() || !text.contains("AuthorizationPolicy"));
    docs
}

fn production(edit: &[(&str, &str)]) -> String {
    let mut s = example("production").unwrap().to_string();
    for (from, to) in edit {
        assert!(s.contains(from), "the example has no `{from}`");
        s = s.replacen(from, to, 1);
    }
    s
}

fn jwt() -> (&'static str, String) {
    let block = format!(
        "  security:\n    jwt:\n      required: true\n      issuers:\n        - issuer: https://idp.example.internal\n          jwks: '{}'\n",
        JWKS.trim().replace('\n', "").replace('\'', "''")
    );
    ("  security:\n", block)
}

const NO_DEFAULT_DENY: (&str, &str) = ("defaultDeny: true", "defaultDeny: false");
const HTTPS: u16 = 8443;
const HTTP: u16 = 8080;

#[test]
fn deny_by_default_allows_only_what_the_site_needs() {
    let p = policies(&production(&[]));
    assert!(
        allowed(&p, &client("203.0.113.9", HTTPS, false)),
        "an external client reaches the ingress gateway"
    );
    assert!(
        allowed(&p, &gateway_to("shop", "web", 8080)),
        "the gateway reaches its backend"
    );
    assert!(
        !allowed(&p, &workload("shop", "frontend", "shop", "backend", 8080)),
        "deny-by-default refuses what nothing allows"
    );
    assert!(!allowed(&p, &workload("other", "default", "shop", "web", 8080)));
}

#[test]
fn without_default_deny_nothing_is_refused_by_accident() {
    let p = policies(&production(&[NO_DEFAULT_DENY]));
    assert!(allowed(&p, &client("203.0.113.9", HTTPS, false)));
    assert!(allowed(&p, &gateway_to("shop", "web", 8080)));
    assert!(
        allowed(&p, &workload("shop", "frontend", "shop", "backend", 8080)),
        "frontend -> backend in a route's namespace"
    );
    assert!(allowed(&p, &workload("other", "default", "shop", "web", 8080)));
    assert!(allowed(
        &p,
        &workload("shop", "frontend", "istio-egress", "egress", 8443)
    ));
    for d in &p {
        assert_eq!(
            d["spec"]["action"], "DENY",
            "without deny-by-default and without spec allows, only DENY policies: {d}"
        );
    }
}

#[test]
fn client_networks_limit_the_gateway_in_both_modes() {
    for mode in [None, Some(NO_DEFAULT_DENY)] {
        let mut edit = vec![("- 0.0.0.0/0", "- 10.20.0.0/16")];
        edit.extend(mode);
        let p = policies(&production(&edit));
        assert!(allowed(&p, &client("10.20.3.4", HTTPS, false)), "{mode:?}");
        assert!(!allowed(&p, &client("192.168.1.1", HTTPS, false)), "{mode:?}");
        assert!(allowed(&p, &gateway_to("shop", "web", 8080)), "{mode:?}");
    }
}

#[test]
fn no_client_network_means_no_client_in_both_modes() {
    for mode in [None, Some(NO_DEFAULT_DENY)] {
        let mut edit = vec![("ingressClientCIDRs:\n        - 0.0.0.0/0\n", "ingressClientCIDRs: []\n")];
        edit.extend(mode);
        let p = policies(&production(&edit));
        assert!(!allowed(&p, &client("10.0.0.99", HTTPS, false)), "{mode:?}");
        assert!(allowed(&p, &gateway_to("shop", "web", 8080)), "{mode:?}");
    }
}

#[test]
fn a_required_token_guards_https_and_plain_http_only_redirects() {
    let (from, to) = jwt();
    for mode in [None, Some(NO_DEFAULT_DENY)] {
        let mut edit = vec![(from, to.as_str())];
        edit.extend(mode);
        let p = policies(&production(&edit));
        assert!(
            !allowed(&p, &client("203.0.113.9", HTTPS, false)),
            "{mode:?}: HTTPS without a token"
        );
        assert!(
            allowed(&p, &client("203.0.113.9", HTTPS, true)),
            "{mode:?}: HTTPS with a token"
        );
        assert!(
            allowed(&p, &client("203.0.113.9", HTTP, false)),
            "{mode:?}: plain HTTP answers the redirect"
        );
        assert!(allowed(&p, &gateway_to("shop", "web", 8080)), "{mode:?}");
    }
}

#[test]
fn a_required_token_is_not_bypassed_over_plain_http_without_the_redirect() {
    let (from, to) = jwt();
    for mode in [None, Some(NO_DEFAULT_DENY)] {
        let mut edit = vec![(from, to.as_str()), ("httpsRedirect: true", "httpsRedirect: false")];
        edit.extend(mode);
        let p = policies(&production(&edit));
        assert!(
            !allowed(&p, &client("203.0.113.9", HTTP, false)),
            "{mode:?}: plain HTTP serves the routes, so it needs the token"
        );
        assert!(!allowed(&p, &client("203.0.113.9", HTTPS, false)), "{mode:?}");
        assert!(allowed(&p, &client("203.0.113.9", HTTP, true)), "{mode:?}");
    }
}

#[test]
fn spec_allows_add_to_deny_by_default() {
    let allow = "      allow:\n        - name: frontend-to-backend\n          namespace: shop\n          selector:\n            app: backend\n          fromServiceAccounts:\n            - shop/frontend\n          ports:\n            - 8080\n";
    let spec = production(&[(
        "      ingressClientCIDRs:\n        - 0.0.0.0/0\n",
        &format!("      ingressClientCIDRs:\n        - 0.0.0.0/0\n{allow}"),
    )]);
    let p = policies(&spec);
    assert!(allowed(&p, &workload("shop", "frontend", "shop", "backend", 8080)));
    assert!(!allowed(&p, &workload("shop", "frontend", "shop", "backend", 9090)));
    assert!(!allowed(&p, &workload("shop", "other", "shop", "backend", 8080)));
}

fn warnings(spec_text: &str) -> Vec<String> {
    let site = load(spec_text).site.unwrap();
    meshbundle_core::validate::check(&site)
        .into_iter()
        .filter(|d| !d.is_error())
        .map(|d| format!("{}: {}", d.path, d.message))
        .collect()
}

#[test]
fn an_allow_without_deny_by_default_is_flagged_for_what_it_refuses() {
    let allow = "      allow:\n        - name: frontend-to-backend\n          namespace: shop\n          fromServiceAccounts:\n            - shop/frontend\n";
    let with_allow = |deny: &str| {
        production(&[
            ("defaultDeny: true", deny),
            (
                "      ingressClientCIDRs:\n        - 0.0.0.0/0\n",
                &format!("      ingressClientCIDRs:\n        - 0.0.0.0/0\n{allow}"),
            ),
        ])
    };
    let flagged = |w: &Vec<String>| {
        w.iter()
            .any(|m| m.starts_with("spec.security.authorization.allow[0]: without deny-by-default"))
    };
    assert!(flagged(&warnings(&with_allow("defaultDeny: false"))));
    assert!(!flagged(&warnings(&with_allow("defaultDeny: true"))));
}

const EGRESS_HOST: (&str, &str) = (
    "      namespace: istio-egress\n",
    "      namespace: istio-egress\n      hosts:\n        - api.partner.example\n",
);

/// A call from `from_ns`'s workload to `host` as the egress gateway sees it:
/// the gateway server that takes the host's SNI decides whether the caller's
/// identity is known. Only a server terminating Istio mTLS (`ISTIO_MUTUAL`)
/// has the peer certificate; a PASSTHROUGH one forwards the application's
/// own TLS and sees no principal and no namespace.
fn egress_call(tree: &meshbundle_core::tree::FileTree, from_ns: &str, host: &str) -> Request {
    let gw = yaml_docs(tree, "manifests/traffic/egress.yaml")
        .into_iter()
        .find(|d| d["kind"] == "Gateway")
        .expect("an egress Gateway");
    let server = gw["spec"]["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["hosts"].as_array().unwrap().iter().any(|h| h == host))
        .unwrap_or_else(|| panic!("no egress server for {host}"))
        .clone();
    let mut r = workload(from_ns, "default", "istio-egress", "unused", 8443);
    r.to_labels = BTreeMap::from([(
        "istio".to_string(),
        gw["spec"]["selector"]["istio"].as_str().unwrap().to_string(),
    )]);
    if server["tls"]["mode"] != "ISTIO_MUTUAL" {
        r.principal = None;
        r.namespace = None;
    }
    r
}

#[test]
fn deny_by_default_lets_the_mesh_and_only_the_mesh_out_through_the_egress_gateway() {
    let tree = rendered(&production(&[EGRESS_HOST]));
    let p = policies(&production(&[EGRESS_HOST]));
    // `shop` is a route's namespace, so part of the mesh.
    assert!(
        allowed(&p, &egress_call(&tree, "shop", "api.partner.example")),
        "a mesh workload reaches the egress host"
    );
    assert!(
        !allowed(&p, &egress_call(&tree, "outside", "api.partner.example")),
        "a namespace outside the mesh is refused"
    );
}

#[test]
fn without_default_deny_the_egress_gateway_has_no_allow_policy() {
    let spec = production(&[EGRESS_HOST, NO_DEFAULT_DENY]);
    let tree = rendered(&spec);
    let p = policies(&spec);
    assert!(allowed(&p, &egress_call(&tree, "shop", "api.partner.example")));
    assert!(allowed(&p, &egress_call(&tree, "outside", "api.partner.example")));
    assert!(
        p.iter().all(|d| d["spec"]["action"] == "DENY"),
        "only DENY policies without deny-by-default"
    );
}
