//! Items added empty (as the configurator's Add does, with their required
//! fields empty for the user to fill in): each empty field is reported once,
//! at that field, and two such items are not also reported as one value
//! listed twice ("policy `` is defined twice in ``" said nothing useful).
//! A value that is not empty and is listed twice still is.

use meshbundle_core::diag::Diagnostic;
use meshbundle_core::spec::edit::{EditOp, edit_spec};
use serde_json::json;

fn production() -> &'static str {
    meshbundle_core::examples::example("production").unwrap()
}

/// The production example with `item` appended twice to each list of
/// `lists` (with its `port`, if it has one, one more the second time).
fn with_twice(lists: &[(&str, serde_json::Value)]) -> String {
    let mut text = production().to_string();
    for (list, item) in lists {
        let len = count(production(), list);
        for i in 0..2 {
            let mut item = item.clone();
            if let Some(port) = item.get("port").and_then(serde_json::Value::as_u64) {
                item["port"] = json!(port + i as u64);
                item["targetPort"] = json!(port + i as u64);
            }
            text = edit_spec(&text, &format!("{list}[{}]", len + i), &EditOp::Insert(item)).unwrap();
        }
    }
    text
}

/// How many items the list at `list` holds in the valid spec `text`.
fn count(text: &str, list: &str) -> usize {
    let site = meshbundle_core::spec::load::load(text).site.unwrap();
    let mut at = serde_json::to_value(site).unwrap();
    for k in list.split('.') {
        at = at[k].take();
    }
    at.as_array().map_or(0, Vec::len)
}

fn diagnostics(text: &str) -> Vec<Diagnostic> {
    meshbundle_core::spec::load::load(text).diagnostics
}

const LISTS: &[&str] = &[
    "spec.security.authorization.allow",
    "spec.security.jwt.issuers",
    "spec.images",
    "spec.files",
    "spec.istio.namespaces",
    "spec.istio.ingressGateway.service.ports",
];

#[test]
fn two_empty_items_are_not_a_duplicate() {
    let text = with_twice(&[
        (LISTS[0], json!({"name": "", "namespace": ""})),
        (LISTS[1], json!({"issuer": "", "jwks": ""})),
        (LISTS[2], json!({"name": ""})),
        (LISTS[3], json!({"name": "", "url": ""})),
        (LISTS[4], json!("")),
        (LISTS[5], json!({"name": "", "port": 9001, "targetPort": 9001})),
    ]);
    let diags = diagnostics(&text);
    let dups: Vec<_> = diags.iter().filter(|d| d.code.as_str() == "duplicate").collect();
    assert!(dups.is_empty(), "empty values reported as duplicates: {dups:#?}");
    // Each empty field has its own error.
    for path in [
        "spec.security.authorization.allow",
        "spec.security.jwt.issuers",
        "spec.images",
        "spec.files",
    ] {
        let n = count(production(), path);
        for i in [n, n + 1] {
            let at = format!("{path}[{i}]");
            assert!(
                diags.iter().any(|d| d.is_error() && d.path.starts_with(&at)),
                "no error at {at}: {diags:#?}"
            );
        }
    }
}

#[test]
fn a_value_listed_twice_still_is() {
    let text = with_twice(&[
        (LISTS[0], json!({"name": "allow-x", "namespace": "shop"})),
        (LISTS[2], json!({"name": "registry.example.com/shop/web:1.4.2"})),
        (
            LISTS[3],
            json!({"name": "tool.tar", "url": "https://example.com/tool.tar"}),
        ),
    ]);
    let dups: Vec<String> = diagnostics(&text)
        .into_iter()
        .filter(|d| d.code.as_str() == "duplicate")
        .map(|d| d.message)
        .collect();
    assert_eq!(dups.len(), 3, "{dups:#?}");
    assert!(
        dups.iter().any(|m| m.contains("`allow-x` is defined twice")),
        "{dups:#?}"
    );
}
