//! Reading and validating site specs: the examples, the defaults, every kind
//! of bad input, and property tests that no input makes it panic.

use meshbundle_core::diag::{Code, Severity};
use meshbundle_core::examples::{EXAMPLES, example};
use meshbundle_core::spec::load::{MAX_SPEC_BYTES, load, load_bytes};
use proptest::prelude::*;

#[test]
fn every_example_is_valid() {
    for (name, _, text) in EXAMPLES {
        let l = load(text);
        let errors: Vec<_> = l.diagnostics.iter().filter(|d| d.is_error()).collect();
        assert!(errors.is_empty(), "{name}: {errors:#?}");
        assert!(l.site.is_some(), "{name}");
    }
    // The production example has no warnings either.
    assert!(load(example("production").unwrap()).diagnostics.is_empty());
}

/// The production example writes out every default: a spec with only the
/// required fields and the example's own choices reads to the same site.
#[test]
fn production_example_shows_the_defaults() {
    let full = load(example("production").unwrap()).site.unwrap();
    let mut minimal_spec = serde_json::json!({
        "apiVersion": "meshbundle.dev/v1alpha1",
        "kind": "Site",
        "metadata": full.metadata,
        "spec": {
            "nodes": full.spec.nodes,
            "registry": full.spec.registry,
            "kubernetes": {
                "controlPlaneEndpoint": full.spec.kubernetes.control_plane_endpoint,
                "nodeSubnet": full.spec.kubernetes.node_subnet,
                "cni": full.spec.kubernetes.cni,
            },
            "time": full.spec.time,
            "loadBalancer": full.spec.load_balancer,
            "observability": {"alertmanager": full.spec.observability.alertmanager},
        },
    });
    // Ingress hosts, routes and address are the example's own; everything else is a default.
    let mut ingress = serde_json::to_value(&full.spec.istio.ingress_gateway).unwrap();
    ingress["service"].as_object_mut().unwrap().remove("loadBalancerIP");
    let defaults = load(&meshbundle_core::yaml::to_string(&minimal_spec).unwrap())
        .site
        .unwrap();
    let default_ingress = serde_json::to_value(&defaults.spec.istio.ingress_gateway).unwrap();
    ingress["hosts"] = default_ingress["hosts"].clone();
    ingress["routes"] = default_ingress["routes"].clone();
    let ingress_obj = ingress.as_object_mut().unwrap();
    ingress_obj.retain(|_, v| !v.is_null());
    assert_eq!(ingress, default_ingress);
    minimal_spec["spec"]["istio"] = serde_json::json!({
        "ingressGateway": serde_json::to_value(&full.spec.istio.ingress_gateway).unwrap()
    });
    let rebuilt = load(&meshbundle_core::yaml::to_string(&minimal_spec).unwrap())
        .site
        .unwrap();
    assert_eq!(rebuilt, full);
}

const FOUR_PROBLEMS: &str = include_str!("../../tests/fixtures/four-problems.yaml");

#[test]
fn four_problems_give_four_diagnostics_with_paths_and_lines() {
    let l = load(FOUR_PROBLEMS);
    let got: Vec<(Code, &str, u32)> = l
        .diagnostics
        .iter()
        .map(|d| (d.code, d.path.as_str(), d.line))
        .collect();
    assert_eq!(l.diagnostics.len(), 4, "{:#?}", l.diagnostics);
    assert!(
        got.contains(&(Code::UnknownField, "spec.istio.ingresGateway", 29)),
        "{got:?}"
    );
    assert!(
        got.contains(&(Code::NetworkOverlap, "spec.kubernetes.podSubnet", 8)),
        "{got:?}"
    );
    assert!(got.contains(&(Code::Duplicate, "spec.nodes[2].address", 20)), "{got:?}");
    assert!(
        got.contains(&(Code::JwksUri, "spec.security.jwt.issuers[0].jwksUri", 35)),
        "{got:?}"
    );
    let typo = l.diagnostics.iter().find(|d| d.code == Code::UnknownField).unwrap();
    assert!(typo.hint.contains("ingressGateway"), "{}", typo.hint);
    assert!(
        l.diagnostics
            .iter()
            .all(|d| d.severity == Severity::Error && d.column > 0 && !d.hint.is_empty())
    );
}

#[test]
fn several_unknown_fields_are_all_reported() {
    let text = example("lab")
        .unwrap()
        .replace("  registry:", "  registri: x\n  registry:")
        .replace(
            "    version: 1.30.3",
            "    version: 1.30.3\n    revison: a\n    meshId: m",
        );
    let l = load(&text);
    let unknown: Vec<_> = l
        .diagnostics
        .iter()
        .filter(|d| d.code == Code::UnknownField)
        .map(|d| d.path.clone())
        .collect();
    assert_eq!(
        unknown,
        ["spec.registri", "spec.istio.revison", "spec.istio.meshId"],
        "{:#?}",
        l.diagnostics
    );
    let mesh = l.diagnostics.iter().find(|d| d.path == "spec.istio.meshId").unwrap();
    assert!(mesh.hint.contains("meshID"), "{}", mesh.hint);
}

#[test]
fn numbers_where_text_is_meant_say_to_quote() {
    let text = example("lab").unwrap().replace("zone: lab", "zone: 1.5");
    let l = load(&text);
    let d = l
        .diagnostics
        .iter()
        .find(|d| d.code == Code::InvalidType)
        .expect("a type diagnostic");
    assert_eq!(d.path, "spec.nodes[0].zone");
    assert!(d.message.contains("`1.5`") && d.hint.contains("\"1.5\""), "{d:?}");
    // Where quoting would not fix it, only what is wrong with the text is said.
    let text = example("lab")
        .unwrap()
        .replace("    version: 1.30.3", "    version: 1.30");
    let l = load(&text);
    let at: Vec<_> = l
        .diagnostics
        .iter()
        .filter(|d| d.path == "spec.istio.version")
        .collect();
    assert_eq!(at.len(), 1, "{at:#?}");
    assert!(
        !at[0].hint.contains("quote") && at[0].message.contains("1.30"),
        "{:?}",
        at[0]
    );
}

#[test]
fn one_message_per_problem_in_the_order_of_the_file() {
    // An invalid role is not counted as a control-plane node in a warning.
    let text = example("production")
        .unwrap()
        .replacen("role: worker", "role: wrker", 1);
    let l = load(&text);
    assert_eq!(l.diagnostics.len(), 1, "{:#?}", l.diagnostics);
    assert!(l.diagnostics[0].path.ends_with(".role"));
    // A misspelt top-level key: the unknown field with its suggestion, not also "`spec` is required".
    let text = example("lab").unwrap().replace("\nspec:\n", "\nspce:\n");
    let l = load(&text);
    assert_eq!(l.diagnostics.len(), 1, "{:#?}", l.diagnostics);
    assert!(
        l.diagnostics[0].hint.contains("did you mean `spec`") && l.diagnostics[0].line > 0,
        "{:?}",
        l.diagnostics[0]
    );
    // A negative count says so.
    let text = example("lab").unwrap().replacen("replicas: 1", "replicas: -1", 1);
    let d = load(&text).diagnostics.into_iter().find(|d| d.is_error()).unwrap();
    assert_eq!(
        (d.message.as_str(), d.hint.as_str()),
        ("-1 is negative", "use 0 or more")
    );
    // An unclosed `[` is reported where it opens.
    let text = example("lab")
        .unwrap()
        .replace("  registry: 192.168.56.10:5000", "  registry: [192.168.56.10:5000");
    let line = text.lines().position(|l| l.contains("registry: [")).unwrap() as u32 + 1;
    let d = &load(&text).diagnostics[0];
    assert_eq!(d.line, line, "{d:?}");
    assert!(d.message.contains("`[`") && d.hint.contains("`]`"), "{d:?}");
    // Every diagnostic in the order of the file.
    let text = example("production")
        .unwrap()
        .replacen("role: worker", "role: wrker", 1)
        .replace("zone: ", "zone: -");
    let lines: Vec<u32> = load(&text).diagnostics.iter().map(|d| d.line).collect();
    assert!(lines.len() > 2 && lines.windows(2).all(|w| w[0] <= w[1]), "{lines:?}");
}

#[test]
fn master_role_hints_at_control_plane() {
    let text = example("lab").unwrap().replace("role: control-plane", "role: master");
    let l = load(&text);
    let d = l.diagnostics.iter().find(|d| d.path == "spec.nodes[0].role").unwrap();
    assert!(d.hint.contains("control-plane"));
    assert_eq!(
        l.diagnostics.iter().filter(|d| d.path == "spec.nodes[0].role").count(),
        1
    );
}

#[test]
fn yaml_1_1_booleans_are_strings_in_a_spec() {
    // `y` is a boolean to a YAML 1.1 reader, a string here.
    let text = example("lab").unwrap().replace("zone: lab", "zone: y");
    let l = load(&text);
    assert!(!l.has_errors(), "{:#?}", l.diagnostics);
    assert_eq!(l.site.unwrap().spec.nodes[0].zone, "y");
}

#[test]
fn bad_input_gives_one_clear_error() {
    let cases: Vec<(&str, Vec<u8>, Code)> = vec![
        ("empty", b"".to_vec(), Code::Empty),
        ("only comments", b"# nothing\n\n".to_vec(), Code::Empty),
        ("malformed", b"apiVersion: [unclosed\nkind: Site\n".to_vec(), Code::Yaml),
        ("bad indentation", b"a:\n  b: 1\n c: 2\n".to_vec(), Code::Yaml),
        ("duplicate key", b"a: 1\na: 2\n".to_vec(), Code::Yaml),
        ("binary junk", (0..=255u8).cycle().take(4096).collect(), Code::NotText),
        ("not utf-8", vec![0xff, 0xfe, 0x41], Code::NotText),
        ("a list", b"- a\n- b\n".to_vec(), Code::NotAMapping),
        ("a scalar", b"hello\n".to_vec(), Code::NotAMapping),
        ("two documents", b"a: 1\n---\nb: 2\n".to_vec(), Code::Yaml),
        ("too large", vec![b'#'; MAX_SPEC_BYTES + 1], Code::TooLarge),
    ];
    for (name, bytes, code) in cases {
        let l = load_bytes(&bytes);
        assert_eq!(l.diagnostics.len(), 1, "{name}: {:#?}", l.diagnostics);
        assert_eq!(l.diagnostics[0].code, code, "{name}: {:#?}", l.diagnostics);
        assert!(l.site.is_none(), "{name}");
    }
}

#[test]
fn alias_bombs_are_stopped() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let p = i - 1;
        text.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let l = load(&text);
    assert!(l.has_errors());
}

#[test]
fn deep_nesting_is_stopped() {
    let text = format!("a: {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
    assert!(load(&text).has_errors());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = load_bytes(&bytes);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        let _ = load(&text);
    }

    /// Cutting the production example anywhere, or replacing one line, gives
    /// diagnostics, never a panic; every diagnostic has a message and a hint.
    #[test]
    fn damaged_specs_never_panic(cut in 0usize..7000, line in 0usize..260, junk in "[ -~]{0,20}") {
        let text = example("production").unwrap();
        let cut = text.char_indices().map(|(i, _)| i).take_while(|i| *i <= cut).last().unwrap_or(0);
        for d in load(&text[..cut]).diagnostics {
            prop_assert!(!d.message.is_empty());
        }
        let mut lines: Vec<&str> = text.lines().collect();
        if line < lines.len() {
            lines[line] = &junk;
        }
        let damaged = lines.join("\n");
        for d in load(&damaged).diagnostics {
            prop_assert!(!d.message.is_empty() && !d.hint.is_empty(), "{:?}", d);
        }
    }

    /// Valid-looking node lists with random addresses and roles: the checks
    /// report problems with paths inside `spec.nodes`, never panic.
    #[test]
    fn random_node_lists(nodes in proptest::collection::vec((0u8..4, 0u8..3, any::<bool>()), 0..8)) {
        let mut yaml = String::from("apiVersion: meshbundle.dev/v1alpha1\nkind: Site\nmetadata:\n  name: p\nspec:\n  registry: 10.9.0.1:5000\n  loadBalancer:\n    provider: existing\n  time:\n    servers: [10.9.0.3]\n  kubernetes:\n    controlPlaneEndpoint: 10.9.0.2:6443\n  nodes:\n");
        if nodes.is_empty() {
            yaml.push_str("    []\n");
        }
        for (i, (addr, zone, cp)) in nodes.iter().enumerate() {
            yaml.push_str(&format!(
                "    - name: n{i}\n      address: 10.0.0.{addr}\n      role: {}\n      zone: z{zone}\n",
                if *cp { "control-plane" } else { "worker" }
            ));
        }
        let l = load(&yaml);
        prop_assert!(l.site.is_some());
        for d in &l.diagnostics {
            prop_assert!(d.path.starts_with("spec.nodes") || d.path.starts_with("spec.kubernetes") , "{:?}", d);
        }
    }
}

/// A field read as its default or a stand-in keeps what was written, for a
/// form to show beside the problem (not the default, as if nothing were wrong).
#[test]
fn a_refused_value_is_kept_as_written() {
    let text = example("production").unwrap().replace(
        "    istiod:\n      replicas: 2\n",
        "    istiod:\n      replicas: lots\n",
    );
    let loaded = load(&text);
    assert!(loaded.site.is_some(), "read with a stand-in");
    assert!(
        loaded
            .diagnostics
            .iter()
            .any(|d| d.path == "spec.istio.istiod.replicas" && d.is_error())
    );
    assert_eq!(
        loaded.as_written,
        vec![("spec.istio.istiod.replicas".to_string(), serde_json::json!("lots"))]
    );
    assert!(load(example("production").unwrap()).as_written.is_empty());
}

/// A key YAML reads as a number or null is taken as written, as
/// Kubernetes takes keys of text: `1.0` and `1` are two node labels (read
/// as their value they were one, and one of them was lost unsaid), `~` is
/// the key `~`; `1` and `+1`, the same number, are refused as one key
/// written twice.
#[test]
fn keys_that_read_as_numbers_are_taken_as_written() {
    let lab = example("lab").unwrap();
    let with = |labels: &str| {
        lab.replacen(
            "      zone: lab\n",
            &format!("      zone: lab\n      labels:\n{labels}"),
            1,
        )
    };
    let l = load(&with("        1.0: a\n        1: b\n        0x10: c\n"));
    let site = l.site.unwrap_or_else(|| panic!("{:#?}", l.diagnostics));
    let labels: Vec<(&str, &str)> = site.spec.nodes[0]
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(labels, [("0x10", "c"), ("1", "b"), ("1.0", "a")]);
    let l = load(&with("        1: b\n        +1: c\n"));
    assert!(l.site.is_none());
    assert!(
        l.diagnostics
            .iter()
            .any(|d| d.message.contains("duplicate mapping key")),
        "{:#?}",
        l.diagnostics
    );
}

/// A key in quotes and the same text unquoted (`"1"` and `1`, `"null"` and
/// `null`) are one key of the spec: refused as written twice, not one of
/// them dropped.
#[test]
fn a_quoted_key_and_the_same_text_unquoted_are_one_key() {
    let lab = example("lab").unwrap();
    for pair in [
        "'1': a\n        1: b\n",
        "\"null\": a\n        null: b\n",
        "\"0x10\": a\n        0x10: b\n",
        "'~': a\n        ~: b\n",
    ] {
        let text = lab.replacen(
            "      zone: lab\n",
            &format!("      zone: lab\n      labels:\n        {pair}"),
            1,
        );
        let l = load(&text);
        assert!(l.site.is_none(), "{pair}");
        let d = l
            .diagnostics
            .iter()
            .find(|d| d.message.contains("written twice"))
            .unwrap_or_else(|| panic!("{pair}: {:#?}", l.diagnostics));
        assert_eq!(d.line, 22, "{pair}: the later key: {d:#?}");
    }
}
