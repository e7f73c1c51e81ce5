//! Mesh security: STRICT mTLS in the root namespace, deny-by-default
//! authorization with the allows a working site needs, and JWT validation at
//! the ingress gateway with inline keys.
//!
//! The ingress allow matches client networks (`ipBlocks`), not principals:
//! external clients have no mesh identity, so a root `spec: {}` policy plus an
//! allow-by-principal on the gateway would shut every one of them out.
//!
//! Without deny-by-default, nothing is refused that the spec did not ask to
//! refuse: every ALLOW policy denies all it does not match, so the gateway's
//! limits (client networks, the token) become DENY policies, and the allows
//! that only deny-by-default needs are left out.

use serde_json::{Value, json};

use super::istio::{gateway_label, gateway_service_account};
use super::{Ctx, RenderError, add_yaml};
use crate::tree::{FileTree, MODE_SECRET};

fn api(ctx: &Ctx) -> &'static str {
    if ctx.istio_v1() {
        "security.istio.io/v1"
    } else {
        "security.istio.io/v1beta1"
    }
}

fn policy(ctx: &Ctx, name: &str, namespace: &str, spec: Value) -> Value {
    json!({
        "apiVersion": api(ctx),
        "kind": "AuthorizationPolicy",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/managed-by": "meshbundle"}},
        "spec": spec,
    })
}

fn target_ports(g: &crate::spec::Gateway, prefix: &str) -> Vec<String> {
    g.service
        .ports
        .iter()
        .filter(|p| p.name.starts_with(prefix) && (prefix != "http" || !p.name.starts_with("https")))
        .map(|p| p.target_port.to_string())
        .collect()
}

/// The ingress gateway's policies. With deny-by-default they are ALLOWs
/// (client networks, and the token on the HTTPS ports when JWT is
/// required); without it, the same limits are DENYs, so that nothing the
/// spec did not ask for is refused: an ALLOW policy refuses everything it
/// does not match.
fn ingress_policies(ctx: &Ctx, ig: &crate::spec::Gateway) -> Vec<Value> {
    let spec = &ctx.site.spec;
    let authz = &spec.security.authorization;
    let selector = json!({"matchLabels": {"istio": gateway_label(ig)}});
    let cidrs = &authz.ingress_client_cidrs;
    let jwt = spec.security.jwt.required;
    // Plain HTTP is let through without a token only when all it does is
    // redirect to HTTPS; then JWT guards the HTTPS ports, otherwise every port.
    let https = target_ports(ig, "https");
    let redirect_only = if jwt && ig.https_redirect && !https.is_empty() {
        target_ports(ig, "http")
    } else {
        Vec::new()
    };
    let guarded = |rule: &mut Value| {
        if !redirect_only.is_empty() {
            rule["to"] = json!([{"operation": {"ports": https}}]);
        }
    };
    let mut docs = Vec::new();
    if authz.default_deny {
        // No client network: no allow at all, so deny-by-default refuses
        // every client (an empty `ipBlocks` would mean any address).
        if cidrs.is_empty() {
            return docs;
        }
        let clients = json!({"ipBlocks": cidrs});
        let rules = if jwt {
            let mut with_token = clients.clone();
            with_token["requestPrincipals"] = json!(["*"]);
            let mut guarded_rule = json!({"from": [{"source": with_token}]});
            guarded(&mut guarded_rule);
            let mut rules = vec![guarded_rule];
            if !redirect_only.is_empty() {
                rules.push(json!({"from": [{"source": clients}], "to": [{"operation": {"ports": redirect_only}}]}));
            }
            rules
        } else {
            vec![json!({"from": [{"source": clients}]})]
        };
        docs.push(policy(
            ctx,
            "allow-ingress-clients",
            &ig.namespace,
            json!({"selector": selector, "action": "ALLOW", "rules": rules}),
        ));
        return docs;
    }
    let everyone = cidrs.iter().any(|c| c.ends_with("/0"));
    if !everyone {
        // An empty list refuses every client, as with deny-by-default.
        let rule = if cidrs.is_empty() {
            json!({})
        } else {
            json!({"from": [{"source": {"notIpBlocks": cidrs}}]})
        };
        docs.push(policy(
            ctx,
            "deny-other-clients",
            &ig.namespace,
            json!({"selector": selector, "action": "DENY", "rules": [rule]}),
        ));
    }
    if jwt {
        let mut rule = json!({"from": [{"source": {"notRequestPrincipals": ["*"]}}]});
        guarded(&mut rule);
        docs.push(policy(
            ctx,
            "deny-without-token",
            &ig.namespace,
            json!({"selector": selector, "action": "DENY", "rules": [rule]}),
        ));
    }
    docs
}

fn authorization(ctx: &Ctx) -> Vec<Value> {
    let spec = &ctx.site.spec;
    let authz = &spec.security.authorization;
    let istio = &spec.istio;
    let mut docs = Vec::new();
    if authz.default_deny {
        // An ALLOW policy with no rules matches nothing: every request in the
        // mesh is denied unless another policy allows it.
        docs.push(policy(ctx, "deny-by-default", "istio-system", json!({})));
    }
    let ig = &istio.ingress_gateway;
    if ig.enabled {
        docs.extend(ingress_policies(ctx, ig));
    }
    // The allows deny-by-default makes necessary. Without it they are left
    // out: each would refuse every other caller of the namespace it names.
    if authz.default_deny && ig.enabled {
        let principal = format!("cluster.local/ns/{}/sa/{}", ig.namespace, gateway_service_account(ig));
        let mut backends: Vec<&str> = ig.routes.iter().map(|r| r.namespace.as_str()).collect();
        backends.sort();
        backends.dedup();
        for ns in backends {
            docs.push(policy(
                ctx,
                &format!("allow-from-{}", ig.name),
                ns,
                json!({"action": "ALLOW", "rules": [{"from": [{"source": {"principals": [principal]}}]}]}),
            ));
        }
    }
    let eg = &istio.egress_gateway;
    if authz.default_deny && eg.enabled {
        let mut from: Vec<String> = ctx.mesh_namespaces();
        if from.is_empty() {
            from.push(eg.namespace.clone());
        }
        docs.push(policy(
            ctx,
            "allow-mesh-to-egress",
            &eg.namespace,
            json!({
                "selector": {"matchLabels": {"istio": gateway_label(eg)}},
                "action": "ALLOW",
                "rules": [{"from": [{"source": {"namespaces": from}}]}],
            }),
        ));
    }
    for r in &authz.allow {
        let mut source = json!({});
        if !r.from_namespaces.is_empty() {
            source["namespaces"] = json!(r.from_namespaces);
        }
        if !r.from_service_accounts.is_empty() {
            let principals: Vec<String> = r
                .from_service_accounts
                .iter()
                .filter_map(|sa| {
                    sa.split_once('/')
                        .map(|(ns, name)| format!("cluster.local/ns/{ns}/sa/{name}"))
                })
                .collect();
            source["principals"] = json!(principals);
        }
        let mut rule = json!({"from": [{"source": source}]});
        let mut op = json!({});
        if !r.ports.is_empty() {
            op["ports"] = json!(r.ports.iter().map(u32::to_string).collect::<Vec<_>>());
        }
        if !r.methods.is_empty() {
            op["methods"] = json!(r.methods);
        }
        if !r.paths.is_empty() {
            op["paths"] = json!(r.paths);
        }
        if op.as_object().is_some_and(|o| !o.is_empty()) {
            rule["to"] = json!([{"operation": op}]);
        }
        let mut spec = json!({"action": "ALLOW", "rules": [rule]});
        if !r.selector.is_empty() {
            spec["selector"] = json!({"matchLabels": r.selector});
        }
        docs.push(policy(ctx, &r.name, &r.namespace, spec));
    }
    docs
}

fn peer_authentication(ctx: &Ctx) -> Value {
    // PeerAuthentication reached v1 with the other security APIs in Istio 1.22.
    json!({
        "apiVersion": api(ctx),
        "kind": "PeerAuthentication",
        "metadata": {"name": "default", "namespace": "istio-system", "labels": {"app.kubernetes.io/managed-by": "meshbundle"}},
        "spec": {"mtls": {"mode": ctx.site.spec.security.mtls.mode.as_str()}},
    })
}

fn request_authentication(ctx: &Ctx) -> Option<Value> {
    let spec = &ctx.site.spec;
    let ig = &spec.istio.ingress_gateway;
    if !ig.enabled || spec.security.jwt.issuers.is_empty() {
        return None;
    }
    let rules: Vec<Value> = spec
        .security
        .jwt
        .issuers
        .iter()
        .map(|j| {
            let mut r = json!({"issuer": j.issuer, "jwks": j.jwks.clone().unwrap_or_default()});
            if !j.audiences.is_empty() {
                r["audiences"] = json!(j.audiences);
            }
            if j.forward_original_token {
                r["forwardOriginalToken"] = json!(true);
            }
            r
        })
        .collect();
    Some(json!({
        "apiVersion": api(ctx),
        "kind": "RequestAuthentication",
        "metadata": {"name": "ingress-jwt", "namespace": ig.namespace, "labels": {"app.kubernetes.io/managed-by": "meshbundle"}},
        "spec": {"selector": {"matchLabels": {"istio": gateway_label(ig)}}, "jwtRules": rules},
    }))
}

#[inline(never)]
pub(crate) fn render(ctx: &Ctx, tree: &mut FileTree) -> Result<(), RenderError> {
    add_yaml(
        ctx,
        tree,
        "manifests/security/peer-authentication.yaml",
        &[peer_authentication(ctx)],
    )?;
    add_yaml(
        ctx,
        tree,
        "manifests/security/authorization-policies.yaml",
        &authorization(ctx),
    )?;
    if let Some(r) = request_authentication(ctx) {
        add_yaml(ctx, tree, "manifests/security/request-authentication.yaml", &[r])?;
    }
    if let Some(s) = ctx.secrets
        && let Some(secret) = crate::pki::files::ingress_secret(ctx.site, s)
    {
        tree.add("secrets/ingress-tls.yaml", ctx.yaml(&[secret])?, MODE_SECRET);
    }
    Ok(())
}
