//! Specs that would render an install that breaks quietly are refused, each
//! with the field that causes it: egress hosts with no egress gateway, hosts
//! whose object names clash, client networks a gateway cannot see, and the
//! revision name `default`; an operator Prometheus is told what it must
//! scrape. And a site without an ingress gateway gets no
//! ingress Secret (its namespace would not exist).

use meshbundle_core::examples::example;
use meshbundle_core::pki::parse_secrets;
use meshbundle_core::render::{Inputs, render};
use meshbundle_core::spec::load::load;

fn production(edit: &[(&str, &str)]) -> String {
    let mut s = example("production").unwrap().to_string();
    for (from, to) in edit {
        assert!(s.contains(from), "the example has no `{from}`");
        s = s.replacen(from, to, 1);
    }
    s
}

fn errors(text: &str) -> Vec<String> {
    let site = load(text).site.unwrap();
    meshbundle_core::validate::check(&site)
        .into_iter()
        .filter(|d| d.is_error())
        .map(|d| format!("{}: {}", d.path, d.message))
        .collect()
}

#[test]
fn the_examples_have_none_of_these_errors() {
    for name in ["production", "lab"] {
        assert_eq!(errors(example(name).unwrap()), Vec::<String>::new(), "{name}");
    }
}

#[test]
fn egress_hosts_need_the_egress_gateway() {
    let spec = production(&[(
        "    egressGateway:\n      enabled: true\n",
        "    egressGateway:\n      enabled: false\n      hosts:\n        - api.partner.example\n",
    )]);
    let e = errors(&spec);
    assert!(
        e.iter()
            .any(|m| m
                .starts_with("spec.istio.egressGateway.hosts: egress hosts are listed, but the egress gateway is off")),
        "{e:?}"
    );
}

#[test]
fn ingress_only_fields_on_the_egress_gateway_are_refused_on_or_off() {
    let extra = "      httpsRedirect: true\n      routes:\n        - host: shop.example.internal\n          service: web\n          namespace: shop\n          port: 8080\n";
    for enabled in ["true", "false"] {
        let spec = production(&[(
            "    egressGateway:\n      enabled: true\n",
            &format!("    egressGateway:\n      enabled: {enabled}\n{extra}"),
        )]);
        let e = errors(&spec);
        for field in ["httpsRedirect", "routes"] {
            let want = format!("spec.istio.egressGateway.{field}: `{field}` applies to the ingress gateway only");
            assert!(e.contains(&want), "enabled: {enabled}: {e:?}");
        }
    }
}

#[test]
fn hosts_whose_object_names_clash_are_refused() {
    let routes = "      routes:\n        - host: a-b.example.internal\n          pathPrefix: /\n          service: web\n          namespace: shop\n          port: 8080\n        - host: a.b.example.internal\n          pathPrefix: /\n          service: web\n          namespace: shop\n          port: 8080\n";
    let spec = production(&[
        (
            "      hosts:\n        - shop.example.internal\n",
            "      hosts:\n        - a-b.example.internal\n        - a.b.example.internal\n",
        ),
        (
            "      routes:\n        - host: shop.example.internal\n          pathPrefix: /\n          service: web\n          namespace: shop\n          port: 8080\n",
            routes,
        ),
    ]);
    let e = errors(&spec);
    assert!(
        e.iter()
            .any(|m| m
                .contains("`a-b.example.internal` and `a.b.example.internal` would both become the VirtualService `a-b-example-internal`")),
        "{e:?}"
    );
    let egress = production(&[(
        "    egressGateway:\n      enabled: true\n",
        "    egressGateway:\n      enabled: true\n      hosts:\n        - api-x.partner.example\n        - api.x.partner.example\n",
    )]);
    let e = errors(&egress);
    assert!(
        e.iter()
            .any(|m| m.starts_with("spec.istio.egressGateway.hosts:") && m.contains("ServiceEntry")),
        "{e:?}"
    );
}

#[test]
fn client_networks_need_client_addresses() {
    let narrow = ("- 0.0.0.0/0", "- 192.168.10.0/24");
    let cluster = ("externalTrafficPolicy: Local", "externalTrafficPolicy: Cluster");
    let refused = |e: &Vec<String>| {
        e.iter().any(|m| {
            m.starts_with("spec.security.authorization.ingressClientCIDRs: the gateway would not see client addresses")
        })
    };
    assert!(refused(&errors(&production(&[narrow, cluster]))));
    assert!(
        !refused(&errors(&production(&[narrow]))),
        "Local keeps client addresses"
    );
    assert!(
        !refused(&errors(&production(&[cluster]))),
        "every client is accepted anyway"
    );
}

#[test]
fn the_revision_cannot_be_named_default() {
    let spec = production(&[("    meshID: mesh1\n", "    revision: default\n    meshID: mesh1\n")]);
    let e = errors(&spec);
    assert!(
        e.iter()
            .any(|m| m.starts_with("spec.istio.revision: `default` is the name of Istio's default revision tag")),
        "{e:?}"
    );
}

#[test]
fn no_ingress_secret_without_the_ingress_gateway() {
    let text = production(&[(
        "    ingressGateway:\n      enabled: true\n",
        "    ingressGateway:\n      enabled: false\n",
    )]);
    let site = load(&text).site.unwrap();
    assert_eq!(errors(&text), Vec::<String>::new());
    let secrets = parse_secrets(include_str!("../../tests/fixtures/production.secrets.yaml")).unwrap();
    let tree = render(
        &site,
        &Inputs {
            secrets: Some(&secrets),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(!tree.contains("secrets/ingress-tls.yaml"));
    let namespaces = String::from_utf8(tree.get("manifests/namespaces.yaml").unwrap().bytes.clone()).unwrap();
    assert!(!namespaces.contains("name: istio-ingress\n"));
}

#[test]
fn rules_for_an_operator_prometheus_say_what_it_must_scrape() {
    let spec = example("production")
        .unwrap()
        .replace("      prometheus: true\n", "      prometheus: false\n")
        .replace(
            "    alertmanager:\n      enabled: true\n",
            "    alertmanager:\n      enabled: false\n",
        )
        .replace("  observability:\n", "  observability:\n    prometheusOperator: true\n");
    let site = load(&spec).site.unwrap();
    let warnings: Vec<String> = meshbundle_core::validate::check(&site)
        .into_iter()
        .filter(|d| !d.is_error())
        .map(|d| format!("{}: {}", d.path, d.message))
        .collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("spec.observability.prometheusOperator: the operator's Prometheus evaluates")),
        "{warnings:?}"
    );
    let tree = render(&site, &Inputs::default()).unwrap();
    let readme = String::from_utf8(tree.get("README.md").unwrap().bytes.clone()).unwrap();
    for series in ["15014", "15090", "istio_requests_total", "citadel_"] {
        assert!(readme.contains(series), "the README names {series}");
    }
}

#[test]
fn an_empty_value_is_called_one_not_two_backticks() {
    let spec = production(&[(
        "      defaultDeny: true\n",
        "      defaultDeny: true\n      allow:\n        - name: \"\"\n          namespace: shop\n          fromNamespaces: [web]\n",
    )]);
    let e = errors(&spec);
    assert!(
        e.iter()
            .any(|m| m == "spec.security.authorization.allow[0].name: an empty value is not a valid policy name"),
        "{e:?}"
    );
    assert!(e.iter().all(|m| !m.contains("``")), "{e:?}");
}
