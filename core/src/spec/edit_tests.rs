use super::*;
use proptest::prelude::*;
use serde_json::json;

const PRODUCTION: &str = include_str!("../../examples/production.yaml");
const LAB: &str = include_str!("../../examples/lab.yaml");

fn set(text: &str, path: &str, v: Value) -> String {
    edit(text, path, &EditOp::Set(v)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn json_of(text: &str) -> Value {
    crate::spec::load::yaml_to_json(text).expect("parses").0
}

/// Lines of `a` and `b` that differ, after their common first and last lines.
fn changed(a: &str, b: &str) -> (Vec<String>, Vec<String>) {
    let a: Vec<&str> = a.split('\n').collect();
    let b: Vec<&str> = b.split('\n').collect();
    let pre = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let max_suf = a.len().min(b.len()) - pre;
    let suf = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take(max_suf)
        .take_while(|(x, y)| x == y)
        .count();
    (
        a[pre..a.len() - suf].iter().map(|s| s.to_string()).collect(),
        b[pre..b.len() - suf].iter().map(|s| s.to_string()).collect(),
    )
}

fn comments(text: &str) -> usize {
    text.lines().filter(|l| l.trim_start().starts_with('#')).count()
}

#[test]
fn set_scalar_changes_one_line_and_keeps_comments() {
    let out = set(PRODUCTION, "spec.nodes[2].address", json!("10.0.0.14"));
    let (old, new) = changed(PRODUCTION, &out);
    assert_eq!(old, vec!["      address: 10.0.0.13"]);
    assert_eq!(new, vec!["      address: 10.0.0.14"]);
    assert_eq!(comments(&out), comments(PRODUCTION));
    assert!(comments(PRODUCTION) > 40);
    // The result is the spec with exactly that change.
    let mut want = json_of(PRODUCTION);
    want["spec"]["nodes"][2]["address"] = json!("10.0.0.14");
    assert_eq!(json_of(&out), want);
    let loaded = crate::spec::load::load(&out);
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
}

#[test]
fn strings_that_read_as_other_types_are_quoted() {
    for s in [
        "yes",
        "no",
        "on",
        "1.30",
        "010",
        "null",
        "~",
        "*x",
        ": ",
        "a: b",
        "#x",
        "- a",
        "1e3",
        "0x1f",
        "12:30",
        "2001-12-14",
        "",
        " x",
        "x ",
        "true",
        "NULL",
        ".inf",
        "-.5",
        "+1",
        "1_000",
        "[a]",
        "{a}",
        "&a",
        "!t",
        "|",
        ">",
        "'q'",
        "\"d\"",
        "a\nb",
        "\t",
        "\u{7f}",
        "\u{feff}x",
        "%x",
        "@x",
        "`x",
        "?",
        "-",
        "---",
        "y",
        "N",
    ] {
        let out = set(LAB, "metadata.description", json!(s));
        assert_eq!(
            json_of(&out)["metadata"]["description"],
            json!(s),
            "{s:?} was written as {out}"
        );
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with("description:"))
            .expect("line");
        let written = line.trim_start().trim_start_matches("description:").trim();
        // A text of several lines may be a literal block instead.
        assert!(
            written.starts_with('"') || written.starts_with('\'') || (s.contains('\n') && written.starts_with('|')),
            "{s:?} is written unquoted: {written}"
        );
    }
    // Plain text stays plain.
    for s in [
        "10.0.0.14",
        "1.36.5",
        "500m",
        "shop.example.internal",
        "Production cluster, three zones",
        "10.0.0.10:6443",
    ] {
        let out = set(LAB, "metadata.description", json!(s));
        assert!(out.contains(&format!("description: {s}\n")), "{s} in {out}");
    }
}

#[test]
fn quoting_style_of_the_old_value_is_kept() {
    let out = set(PRODUCTION, "spec.tuning.sysctl[\"vm.max_map_count\"]", json!("300000"));
    assert!(out.contains("      vm.max_map_count: \"300000\"\n"));
    let text = "a: 'x'\nb: \"y\"\nc: z\n";
    let out = set(text, "a", json!("it's"));
    assert_eq!(out, "a: 'it''s'\nb: \"y\"\nc: z\n");
    let out = set(text, "b", json!("w"));
    assert_eq!(out, "a: 'x'\nb: \"w\"\nc: z\n");
}

#[test]
fn numbers_and_booleans_are_written_as_such() {
    let out = set(PRODUCTION, "spec.istio.ingressGateway.replicas", json!(4));
    let (old, new) = changed(PRODUCTION, &out);
    assert_eq!(
        (old.len(), new, comments(&out)),
        (1, vec!["      replicas: 4".to_string()], comments(PRODUCTION))
    );
    let out = set(PRODUCTION, "spec.istio.accessLogging", json!(false));
    assert!(out.contains("    accessLogging: false\n"));
}

#[test]
fn missing_keys_are_added_with_the_mappings_indentation() {
    // metricsServer ends with comments; the new key goes after its last entry.
    let out = set(PRODUCTION, "spec.observability.metricsServer.replicas", json!(2));
    let (old, new) = changed(PRODUCTION, &out);
    assert!(old.is_empty(), "{old:?}");
    assert_eq!(new, vec!["      replicas: 2"]);
    assert_eq!(comments(&out), comments(PRODUCTION));
    // Several missing levels at once, in the document's indentation.
    let out = set(PRODUCTION, "spec.security.jwt.required", json!(true));
    let (old, new) = changed(PRODUCTION, &out);
    assert!(old.is_empty());
    assert_eq!(new, vec!["    jwt:", "      required: true"]);
    let mut want = json_of(PRODUCTION);
    want["spec"]["security"]["jwt"] = json!({"required": true});
    assert_eq!(json_of(&out), want);
}

#[test]
fn flow_collections_stay_in_flow_style() {
    let text = "a:\n  list: [x, y]  # kept\n  map: {p: 1}\n";
    assert_eq!(
        edit(text, "a.list[2]", &EditOp::Insert(json!("yes"))).unwrap(),
        "a:\n  list: [x, y, \"yes\"]  # kept\n  map: {p: 1}\n"
    );
    assert_eq!(
        edit(text, "a.list[0]", &EditOp::Insert(json!("w"))).unwrap(),
        "a:\n  list: [w, x, y]  # kept\n  map: {p: 1}\n"
    );
    assert_eq!(
        edit(text, "a.list[0]", &EditOp::Remove).unwrap(),
        "a:\n  list: [y]  # kept\n  map: {p: 1}\n"
    );
    assert_eq!(
        edit(text, "a.list[1]", &EditOp::Remove).unwrap(),
        "a:\n  list: [x]  # kept\n  map: {p: 1}\n"
    );
    assert_eq!(
        set(text, "a.map.q", json!("a, b")),
        "a:\n  list: [x, y]  # kept\n  map: {p: 1, q: \"a, b\"}\n"
    );
    assert_eq!(
        set(text, "a.map.p", json!({"k": [1]})),
        "a:\n  list: [x, y]  # kept\n  map: {p: {k: [1]}}\n"
    );
    let text = "a: []\nb: {}\n";
    assert_eq!(
        edit(text, "a[0]", &EditOp::Insert(json!("x"))).unwrap(),
        "a: [x]\nb: {}\n"
    );
    assert_eq!(set(text, "b.c", json!(1)), "a: []\nb: {c: 1}\n");
}

/// A list of mappings emptied to `[]` (as removing its last item leaves it)
/// becomes a block list again with its first item, at the document's indent.
#[test]
fn an_empty_list_takes_a_mapping_as_a_block() {
    let node = json!({"name": "worker-1", "address": "10.0.0.21"});
    let mut out = edit(PRODUCTION, "spec.nodes[0]", &EditOp::Remove).unwrap();
    while out.contains("  nodes:\n    - ") || out.contains("  nodes:\n  - ") {
        out = edit(&out, "spec.nodes[0]", &EditOp::Remove).unwrap();
    }
    assert!(out.contains("  nodes: []\n"), "{out}");
    let again = edit(&out, "spec.nodes[0]", &EditOp::Insert(node.clone())).unwrap();
    assert!(!again.contains("nodes: ["), "{again}");
    let read: Value = crate::yaml::value_from_str(&again).unwrap();
    assert_eq!(read["spec"]["nodes"], json!([node]));
    // The item at the indent the document's other lists use.
    let first_list_item = PRODUCTION.lines().find(|l| l.trim_start().starts_with("- ")).unwrap();
    let dash = first_list_item.len() - first_list_item.trim_start().len();
    let nodes_at = again.lines().position(|l| l == "  nodes:").unwrap();
    let item = again.lines().nth(nodes_at + 1).unwrap();
    assert!(item.trim_start().starts_with("- name: worker-1"), "{again}");
    assert_eq!(item.len() - item.trim_start().len(), dash.max(2), "{again}");
    // With a comment after `[]`, it stays in flow form (the comment stays put).
    let commented = out.replace("  nodes: []\n", "  nodes: [] # none yet\n");
    let kept = edit(&commented, "spec.nodes[0]", &EditOp::Insert(node)).unwrap();
    assert!(
        kept.contains("  nodes: [{name: worker-1, address: 10.0.0.21}] # none yet\n"),
        "{kept}"
    );
}

#[test]
fn block_list_items_are_inserted_and_removed_as_lines() {
    let route = json!({"host": "api.example.internal", "pathPrefix": "/api", "service": "api", "namespace": "shop", "port": 8081});
    let out = edit(
        PRODUCTION,
        "spec.istio.ingressGateway.routes[1]",
        &EditOp::Insert(route.clone()),
    )
    .unwrap();
    let (old, new) = changed(PRODUCTION, &out);
    assert!(old.is_empty());
    assert_eq!(
        new,
        vec![
            "        - host: api.example.internal",
            "          pathPrefix: /api",
            "          service: api",
            "          namespace: shop",
            "          port: 8081"
        ]
    );
    let mut want = json_of(PRODUCTION);
    want["spec"]["istio"]["ingressGateway"]["routes"]
        .as_array_mut()
        .unwrap()
        .push(route);
    assert_eq!(json_of(&out), want);
    // Removing it gives the original back.
    assert_eq!(
        edit(&out, "spec.istio.ingressGateway.routes[1]", &EditOp::Remove).unwrap(),
        PRODUCTION
    );
    // Insert before the first node.
    let out = edit(
        PRODUCTION,
        "spec.nodes[0]",
        &EditOp::Insert(json!({"name": "cp-0", "address": "10.0.0.9"})),
    )
    .unwrap();
    let (old, new) = changed(PRODUCTION, &out);
    assert!(old.is_empty());
    assert_eq!(new, vec!["    - name: cp-0", "      address: 10.0.0.9"]);
}

#[test]
fn removing_a_key_removes_its_lines_only() {
    let out = edit(PRODUCTION, "spec.istio.ingressGateway.hpa", &EditOp::Remove).unwrap();
    let (old, new) = changed(PRODUCTION, &out);
    assert!(new.is_empty());
    assert_eq!(old.len(), 5);
    // The first key of a list item: the next key moves up after the dash.
    let out = edit(PRODUCTION, "spec.nodes[0].name", &EditOp::Remove).unwrap();
    assert!(out.contains("  nodes:\n    - address: 10.0.0.11\n      role: control-plane\n"));
    // Removing what is not there changes nothing.
    assert_eq!(
        edit(PRODUCTION, "spec.security.jwt", &EditOp::Remove).unwrap(),
        PRODUCTION
    );
    // The last key of a mapping leaves an empty mapping, not a null.
    let out = edit("a:\n  b: 1\nc: 2\n", "a.b", &EditOp::Remove).unwrap();
    assert_eq!(out, "a: {}\nc: 2\n");
    let out = edit("a:\n  - 1\nc: 2\n", "a[0]", &EditOp::Remove).unwrap();
    assert_eq!(out, "a: []\nc: 2\n");
}

#[test]
fn null_and_empty_values_take_a_value() {
    let text = "a:\nb: ~\nc: 1\n";
    assert_eq!(set(text, "a", json!("x")), "a: x\nb: ~\nc: 1\n");
    assert_eq!(set(text, "b", json!("x")), "a:\nb: x\nc: 1\n");
    assert_eq!(set(text, "a.k", json!(1)), "a:\n  k: 1\nb: ~\nc: 1\n");
    assert_eq!(
        edit(text, "b[0]", &EditOp::Insert(json!("x"))).unwrap(),
        "a:\nb:\n  - x\nc: 1\n"
    );
    assert_eq!(set(text, "c", json!(["p", "q"])), "a:\nb: ~\nc:\n  - p\n  - q\n");
}

#[test]
fn block_scalars_and_crlf() {
    let text = "a: |\n  one\n  two\nb: 1\n";
    assert_eq!(set(text, "a", json!("x")), "a: x\nb: 1\n");
    let text = "a: 1\r\nb:\r\n  c: 2\r\n";
    assert_eq!(set(text, "b.d", json!(3)), "a: 1\r\nb:\r\n  c: 2\r\n  d: 3\r\n");
}

#[test]
fn texts_of_several_lines_are_written_as_literal_blocks() {
    let pem = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n";
    // A new key, at the mapping's indentation plus its step.
    let text = "spec:\n  cluster:\n    name: a # the name\n";
    let out = set(text, "spec.cluster.registryCA", json!(pem));
    assert_eq!(
        out,
        "spec:\n  cluster:\n    name: a # the name\n    registryCA: |\n      -----BEGIN CERTIFICATE-----\n      MIIBszCCAVmgAwIBAgIU\n      -----END CERTIFICATE-----\n"
    );
    // Replacing it keeps the block; a value after it stays as it was.
    let text = "a: |\n  old\n  text\nb: 1\n";
    assert_eq!(set(text, "a", json!("new\ntext\n")), "a: |\n  new\n  text\nb: 1\n");
    // A plain value, and an empty one, become a block.
    assert_eq!(set("a: x\nb: 1\n", "a", json!("p\nq")), "a: |-\n  p\n  q\nb: 1\n");
    assert_eq!(set("a:\nb: 1\n", "a", json!("p\n\n")), "a: |+\n  p\n\nb: 1\n");
    // Inside a new mapping, and with lines more indented and empty.
    assert_eq!(
        set("a: 1\n", "b.c", json!("x\n\n  y\n")),
        "a: 1\nb:\n  c: |\n    x\n\n      y\n"
    );
    // Line breaks of the document (CRLF) are kept.
    assert_eq!(set("a: 1\r\n", "b", json!("p\nq\n")), "a: 1\r\nb: |\r\n  p\r\n  q\r\n");
    // One stray "\r\n" in a file of "\n" does not set the line ends.
    assert_eq!(
        set("a: 1\r\nb:\n  c: 2\n", "b.d", json!(3)),
        "a: 1\r\nb:\n  c: 2\n  d: 3\n"
    );
    // In quotes where a block would not read back the same, where the value
    // had quotes, where a comment follows it, and in flow style.
    for (text, v, want) in [
        ("a: 1\n", "p \nq", "a: \"p \\nq\"\n"),
        ("a: 1\n", " p\nq", "a: \" p\\nq\"\n"),
        ("a: 1\n", "p\tq\nr", "a: \"p\\tq\\nr\"\n"),
        ("a: 1\n", "\n\n", "a: \"\\n\\n\"\n"),
        ("a: \"x\"\n", "p\nq", "a: \"p\\nq\"\n"),
        ("a: x # c\n", "p\nq", "a: \"p\\nq\" # c\n"),
        ("a: {b: x}\n", "p\nq", "a: {b: \"p\\nq\"}\n"),
    ] {
        let path = if text.contains('{') { "a.b" } else { "a" };
        assert_eq!(set(text, path, json!(v)), want, "{text:?} {v:?}");
    }
}

#[test]
fn a_key_renamed_keeps_its_value_comments_and_place() {
    let r = |text: &str, path: &str, to: &str| edit(text, path, &EditOp::Rename(to.into()));
    let text = "sysctl:\n  # first\n  vm.a: \"1\" # one\n  vm.b: 2\n";
    assert_eq!(
        r(text, "sysctl[\"vm.a\"]", "kernel.x").unwrap(),
        "sysctl:\n  # first\n  kernel.x: \"1\" # one\n  vm.b: 2\n"
    );
    // Quoted as it must be to read back as the same key; flow style kept.
    assert_eq!(r("a: {b: 1, c: 2}\n", "a.b", "yes").unwrap(), "a: {\"yes\": 1, c: 2}\n");
    assert_eq!(
        r("l:\n  - k: 1\n    j: 2\n", "l[0].k", "m").unwrap(),
        "l:\n  - m: 1\n    j: 2\n"
    );
    // The same name changes nothing; a name taken, a key or mapping that is
    // not there, and a list item are refused with the path.
    assert_eq!(r(text, "sysctl[\"vm.a\"]", "vm.a").unwrap(), text);
    assert!(
        r(text, "sysctl[\"vm.a\"]", "vm.b")
            .unwrap_err()
            .to_string()
            .contains("already a key")
    );
    for path in ["sysctl.nope", "nope.x", "l[0]"] {
        let e = r("sysctl:\n  vm.a: 1\nl: [1]\n", path, "z").unwrap_err();
        assert_eq!(e.path, path);
    }
    let op: EditOp = serde_json::from_str(r#"{"rename": "k"}"#).unwrap();
    assert_eq!(op, EditOp::Rename("k".into()));
}

#[test]
fn edits_that_would_change_other_fields_are_refused() {
    let text = "a: &x 1\nb: *x\n";
    let e = edit(text, "a", &EditOp::Set(json!(2))).unwrap_err();
    assert_eq!(e.path, "a");
    let e = edit("a: &x {k: 1}\nb: *x\n", "b.k", &EditOp::Set(json!(2))).unwrap_err();
    // The message names the alias and its anchor, and says it once.
    assert_eq!(
        e.message, "`b` is an alias (`*x`), the value anchored as `&x` elsewhere",
        "{e}"
    );
    assert_eq!(e.hint, "edit it where `&x` is, or write this value out in the YAML");
}

#[test]
fn a_dot_with_no_key_after_it_is_refused() {
    for path in ["spec.", "spec..nodes", "spec.[0]", "a."] {
        let e = edit("spec:\n  nodes: []\na: 1\n", path, &EditOp::Set(json!("x"))).unwrap_err();
        assert!(e.message.contains("empty key"), "{path}: {e}");
    }
}

#[test]
fn bad_input_gets_an_error_with_the_path() {
    let e = edit("a: [1\n", "a[0]", &EditOp::Set(json!(2))).unwrap_err();
    assert!(e.message.contains("does not parse") && e.at == Some((1, 4)), "{e}");
    let e = edit(PRODUCTION, "spec.nodes[9].address", &EditOp::Set(json!("x"))).unwrap_err();
    assert_eq!(e.path, "spec.nodes[9].address");
    assert!(e.message.contains("6 items"), "{e}");
    let e = edit(PRODUCTION, "spec.nodes[7]", &EditOp::Insert(json!({}))).unwrap_err();
    assert!(e.message.contains("from 0 to 6"), "{e}");
    assert!(edit(PRODUCTION, "spec.nodes[", &EditOp::Remove).is_err());
    assert!(edit(PRODUCTION, "", &EditOp::Remove).is_err());
    assert!(edit(PRODUCTION, "spec.timezone.x", &EditOp::Set(json!(1))).is_err());
}

#[test]
fn op_json_form() {
    assert_eq!(
        serde_json::from_str::<EditOp>(r#"{"set": 3}"#).unwrap(),
        EditOp::Set(json!(3))
    );
    assert_eq!(
        serde_json::from_str::<EditOp>(r#"{"insert": {"a": 1}}"#).unwrap(),
        EditOp::Insert(json!({"a": 1}))
    );
    assert_eq!(serde_json::from_str::<EditOp>(r#""remove""#).unwrap(), EditOp::Remove);
}

// ------------------------------------------------------------ properties

/// Every path of the document to a scalar, a mapping and a list.
fn paths(v: &Value, path: String, scalars: &mut Vec<String>, maps: &mut Vec<String>, lists: &mut Vec<(String, usize)>) {
    match v {
        Value::Object(m) => {
            maps.push(path.clone());
            for (k, x) in m {
                paths(x, crate::diag::join(&path, k), scalars, maps, lists);
            }
        }
        Value::Array(a) => {
            lists.push((path.clone(), a.len()));
            for (i, x) in a.iter().enumerate() {
                paths(x, format!("{path}[{i}]"), scalars, maps, lists);
            }
        }
        _ => scalars.push(path),
    }
}

fn value() -> impl Strategy<Value = Value> {
    let tricky = prop::sample::select(vec![
        "yes",
        "1.30",
        "010",
        "null",
        "~",
        "*x",
        ": ",
        "a: b",
        "# c",
        "x #y",
        "on",
        "12:30",
        "",
        "1e3",
        "0x10",
        "2001-12-14",
        "it's",
        "\"",
        "\\",
        "a\nb",
        "[1]",
        "{}",
        "- x",
        "?",
        "-",
        "ü",
        "10.0.0.99",
        "plain text",
        "-----BEGIN X-----\nAB\n-----END X-----\n",
        "p\n\n  q\n\n",
    ])
    .prop_map(|s| json!(s));
    prop_oneof![
        tricky,
        any::<String>().prop_map(Value::String),
        any::<i64>().prop_map(|n| json!(n)),
        any::<bool>().prop_map(|b| json!(b)),
        (-1e9f64..1e9).prop_map(|f| json!(f)),
        Just(Value::Null),
        prop::collection::vec("[a-z]{1,8}", 0..3).prop_map(|v| json!(v)),
        ("[a-z]{1,6}", "[ -~]{0,10}").prop_map(|(k, v)| json!({ k: v })),
    ]
}

fn check(
    text: &str,
    path: &str,
    op: &EditOp,
    want_shape: fn(&[String], &[String]) -> bool,
) -> Result<(), TestCaseError> {
    let out = match edit(text, path, op) {
        Ok(o) => o,
        Err(e) => return Err(TestCaseError::fail(format!("{path} {op:?}: {e}"))),
    };
    let mut want = json_of(text);
    let segs = segments(path).unwrap();
    apply(&mut want, &segs, op, path).unwrap();
    prop_assert_eq!(json_of(&out), want, "{} {:?}\n{}", path, op, out);
    let (old, new) = changed(text, &out);
    prop_assert!(
        want_shape(&old, &new) || old == new,
        "{} {:?}: lines {:?} became {:?}",
        path,
        op,
        old,
        new
    );
    Ok(())
}

fn examples() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![PRODUCTION, LAB])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Setting any scalar field to any scalar changes that one line.
    #[test]
    fn set_scalar_changes_only_its_line(text in examples(), pick in any::<prop::sample::Index>(), v in value()) {
        let (mut s, mut m, mut l) = (vec![], vec![], vec![]);
        paths(&json_of(text), String::new(), &mut s, &mut m, &mut l);
        let path = pick.get(&s);
        // A text of several lines may become a literal block (`|`).
        let one_line = !is_block(&v) && !v.as_str().is_some_and(|s| s.contains('\n'));
        let op = EditOp::Set(v);
        if one_line {
            check(text, path, &op, |o, n| o.len() == 1 && n.len() == 1)?;
        } else {
            check(text, path, &op, |o, _| o.len() == 1)?;
        }
    }

    /// A new key in any mapping is added as new lines (or inside a flow
    /// mapping's line); nothing else changes.
    #[test]
    fn new_key_only_adds(text in examples(), pick in any::<prop::sample::Index>(), key in "[a-z][a-zA-Z0-9.]{0,10}", v in value()) {
        let (mut s, mut m, mut l) = (vec![], vec![], vec![]);
        paths(&json_of(text), String::new(), &mut s, &mut m, &mut l);
        let map = pick.get(&m);
        let path = crate::diag::join(map, &format!("new{key}"));
        check(text, &path, &EditOp::Set(v), |o, n| o.is_empty() || (o.len() == 1 && n.len() == 1))?;
    }

    /// Inserting into and removing from any list touches only the item's lines.
    #[test]
    fn list_insert_and_remove(text in examples(), pick in any::<prop::sample::Index>(), at in any::<prop::sample::Index>(), v in value()) {
        let (mut s, mut m, mut l) = (vec![], vec![], vec![]);
        paths(&json_of(text), String::new(), &mut s, &mut m, &mut l);
        let (list, len) = pick.get(&l).clone();
        let i = at.index(len + 1);
        check(text, &format!("{list}[{i}]"), &EditOp::Insert(v), |o, n| o.is_empty() || (o.len() == 1 && n.len() == 1))?;
        if len > 1 {
            check(text, &format!("{list}[{}]", i.min(len - 1)), &EditOp::Remove, |_, n| n.is_empty())?;
        }
    }

    /// Removing any key of a mapping with several keys removes lines only.
    #[test]
    fn key_remove(text in examples(), pick in any::<prop::sample::Index>()) {
        let (mut s, mut m, mut l) = (vec![], vec![], vec![]);
        paths(&json_of(text), String::new(), &mut s, &mut m, &mut l);
        let all: Vec<String> = s.iter().chain(&m).chain(l.iter().map(|(p, _)| p)).filter(|p| !p.ends_with(']') && !p.is_empty()).cloned().collect();
        let path = pick.get(&all);
        check(text, path, &EditOp::Remove, |o, n| n.is_empty() || (n.len() == 1 && !o.is_empty()))?;
    }

    /// Renaming any key changes the one line that holds it.
    #[test]
    fn key_rename_changes_only_its_line(text in examples(), pick in any::<prop::sample::Index>(), to in "[a-z][a-zA-Z0-9.]{0,8}") {
        let (mut s, mut m, mut l) = (vec![], vec![], vec![]);
        paths(&json_of(text), String::new(), &mut s, &mut m, &mut l);
        let all: Vec<String> = s.iter().chain(&m).chain(l.iter().map(|(p, _)| p)).filter(|p| !p.ends_with(']') && !p.is_empty()).cloned().collect();
        let path = pick.get(&all);
        // A name no key has (a key is words of letters).
        check(text, path, &EditOp::Rename(format!("{to}-9")), |o, n| o.len() == 1 && n.len() == 1)?;
    }

    /// Any edit of any text never panics: it succeeds or says why.
    #[test]
    fn never_panics(text in "[a-z:\\-\\[\\]{} \n#&*,'\"|>]{0,60}", path in "[a-z]{1,2}(\\[[0-2]\\])?(\\.[a-z]{1,2})?", v in value()) {
        let _ = edit(&text, &path, &EditOp::Set(v.clone()));
        let _ = edit(&text, &path, &EditOp::Insert(v));
        let _ = edit(&text, &path, &EditOp::Remove);
    }
}

#[test]
fn the_schema_says_which_fields_take_text() {
    use super::wants_text;
    for path in [
        "spec.kubernetes.version",
        "spec.registry",
        "metadata.name",
        "spec.tuning.sysctl[\"net.core.somaxconn\"]",
        "spec.nodes[2].address",
        "spec.nodes[0].labels.rack",
        "spec.istio.outboundTrafficPolicy",
    ] {
        assert!(wants_text(path), "{path}");
    }
    for path in [
        "spec.istio.istiod.replicas",
        "spec.istio.accessLogging",
        "spec.nodes",
        "spec.nosuch",
        "spec..x",
    ] {
        assert!(!wants_text(path), "{path}");
    }
}

#[test]
fn a_key_with_dots_written_without_quotes_is_pointed_out() {
    let text = "spec:\n  tuning:\n    sysctl:\n      vm.max_map_count: \"262144\"\n";
    let e = edit(text, "spec.tuning.sysctl.vm.max_map_count", &EditOp::Set(json!("1"))).unwrap_err();
    assert_eq!(
        e.message,
        "spec.tuning.sysctl has the key `vm.max_map_count`: a key with dots in it is written in quotes"
    );
    assert_eq!(e.hint, "write the path as spec.tuning.sysctl[\"vm.max_map_count\"]");
    // Quoted, it edits that key.
    let out = edit(
        text,
        "spec.tuning.sysctl[\"vm.max_map_count\"]",
        &EditOp::Set(json!("1")),
    )
    .unwrap();
    assert_eq!(out, "spec:\n  tuning:\n    sysctl:\n      vm.max_map_count: \"1\"\n");
}

#[test]
fn a_value_put_in_place_of_an_empty_text_is_written_plain() {
    assert_eq!(
        set("a:\n  - name: \"\"\n", "a[0].name", json!("web")),
        "a:\n  - name: web\n"
    );
    assert_eq!(set("a: ''\n", "a", json!("x")), "a: x\n");
    // A text that needs quotes still gets them.
    assert_eq!(set("a: \"\"\n", "a", json!("yes")), "a: \"yes\"\n");
    // Quotes around a text that is not empty stay.
    assert_eq!(set("a: \"old\"\n", "a", json!("new")), "a: \"new\"\n");
}

// ------------------------------------------------------------ what a removal leaves

#[test]
fn the_mapping_a_removed_item_leaves_empty_goes_when_the_site_stays_the_same() {
    // The form adds a JWT issuer to a spec with no `jwt:`, then removes it:
    // the text is the one it started from, comments and all.
    let issuer = json!({"issuer": "https://idp.example.internal", "jwks": "{\"keys\": []}"});
    let added = edit(
        PRODUCTION,
        "spec.security.jwt.issuers[0]",
        &EditOp::Insert(issuer.clone()),
    )
    .unwrap();
    assert!(added.contains("  jwt:\n"), "{added}");
    let removed = edit(&added, "spec.security.jwt.issuers[0]", &EditOp::Remove).unwrap();
    assert_ne!(
        removed, PRODUCTION,
        "the removal alone leaves `jwt:` with an empty list"
    );
    assert_eq!(tidy_emptied(&removed, "spec.security.jwt.issuers"), PRODUCTION);

    // Beside a key of its own the list stays, empty, as written.
    let required = set(&added, "spec.security.jwt.required", json!(true));
    let removed = edit(&required, "spec.security.jwt.issuers[0]", &EditOp::Remove).unwrap();
    assert_eq!(tidy_emptied(&removed, "spec.security.jwt.issuers"), removed);

    // A list that still has items, a path that is not a list, and a text
    // that does not parse: nothing changes.
    let two = edit(&added, "spec.security.jwt.issuers[1]", &EditOp::Insert(issuer)).unwrap();
    let one = edit(&two, "spec.security.jwt.issuers[0]", &EditOp::Remove).unwrap();
    assert_eq!(tidy_emptied(&one, "spec.security.jwt.issuers"), one);
    assert_eq!(tidy_emptied(PRODUCTION, "spec.security.mtls"), PRODUCTION);
    assert_eq!(tidy_emptied(PRODUCTION, "spec..x"), PRODUCTION);
    assert_eq!(tidy_emptied("a: [\n", "a"), "a: [\n");
}

#[test]
fn a_mapping_whose_presence_means_something_stays_when_its_list_empties() {
    // `time:` with an empty server list is not the same site as no `time:`
    // (no time source at all): the removal leaves it as the user asked.
    let servers = set(LAB, "spec.time", json!({"servers": ["10.0.0.1"]}));
    let removed = edit(&servers, "spec.time.servers[0]", &EditOp::Remove).unwrap();
    assert_eq!(tidy_emptied(&removed, "spec.time.servers"), removed);
    // The document's own parts are never removed.
    let text = "apiVersion: meshbundle.dev/v1alpha1\nkind: Site\nmetadata:\n  labels: []\n";
    assert_eq!(tidy_emptied(text, "metadata.labels"), text);
}

#[test]
fn a_path_through_the_wrong_kind_of_node_says_what_is_there_and_what_to_do() {
    let e = |text: &str, path: &str, op: EditOp| edit(text, path, &op).unwrap_err();
    let got = e(PRODUCTION, "spec.timezone.zone", EditOp::Set(json!("UTC")));
    assert_eq!(got.message, "spec.timezone is text, not a mapping");
    assert_eq!(
        got.hint,
        "`spec.timezone` has no fields: set `spec.timezone` itself, or check the path against `meshbundle schema`"
    );
    let got = e(PRODUCTION, "spec.nodes.name", EditOp::Set(json!("x")));
    assert_eq!(got.message, "spec.nodes is a list, not a mapping");
    assert_eq!(got.hint, "name an item of the list, as in `spec.nodes[0]`");
    for op in [EditOp::Insert(json!("x")), EditOp::Remove, EditOp::Set(json!("x"))] {
        let got = e(PRODUCTION, "spec.timezone[0]", op);
        assert_eq!(got.message, "spec.timezone is text, not a list");
        assert!(got.hint.contains("[N]"), "{}", got.hint);
    }
    // A document that is not a mapping: said of the document, with what a
    // spec is (not " is not a mapping").
    let got = e("- a\n- b\n", "spec.timezone", EditOp::Set(json!("UTC")));
    assert_eq!(got.message, "the document is a list, not a mapping");
    assert!(got.hint.contains("kind: Site"), "{}", got.hint);
    assert_eq!(got.at, None);
}

#[test]
fn a_text_that_does_not_parse_gives_the_place() {
    let text = "apiVersion: meshbundle.dev/v1alpha1\nkind: Site\nspec:\n  nodes: [\n";
    let got = edit(text, "spec.timezone", &EditOp::Set(json!("UTC"))).unwrap_err();
    assert!(got.message.starts_with("the YAML does not parse: "), "{}", got.message);
    assert!(
        !got.message.contains("line"),
        "the place is in `at`, not the message: {}",
        got.message
    );
    let (line, column) = got.at.expect("a place");
    assert_eq!(line, 4);
    assert!(column > 0);
    // Shown in one line with the place, as the page shows it.
    assert!(
        got.to_string().contains(&format!(" at line {line}, column {column} (")),
        "{got}"
    );
}

#[test]
fn a_block_in_place_of_a_value_keeps_the_key_comment_on_the_key_line() {
    // An empty value with a comment: the block goes after the comment.
    let text = "spec:\n  time:   # where the clocks come from\n  istio: {}\n";
    assert_eq!(
        set(text, "spec.time", json!({"servers": ["10.0.0.1"]})),
        "spec:\n  time:   # where the clocks come from\n    servers:\n      - 10.0.0.1\n  istio: {}\n"
    );
    // A scalar with a comment: the comment moves up to the key's line, not
    // onto the block's last line.
    let text = "spec:\n  time:\n    sourceNode: lab-1   # the first node\n  istio: {}\n";
    assert_eq!(
        set(text, "spec.time.sourceNode", json!({"a": 1})),
        "spec:\n  time:\n    sourceNode:   # the first node\n      a: 1\n  istio: {}\n"
    );
    // A block replaced by a block: the key's comment stays; the comment of
    // the old value's last line goes with the old value.
    let text = "spec:\n  time:   # where the clocks come from\n    sourceNode: lab-1   # the first node\n  istio: {}\n";
    assert_eq!(
        set(text, "spec.time", json!({"servers": ["10.0.0.1"]})),
        "spec:\n  time:   # where the clocks come from\n    servers:\n      - 10.0.0.1\n  istio: {}\n"
    );
    // The same with CRLF line ends.
    let crlf = text.replace('\n', "\r\n");
    assert_eq!(
        set(&crlf, "spec.time", json!({"servers": ["10.0.0.1"]})),
        "spec:\r\n  time:   # where the clocks come from\r\n    servers:\r\n      - 10.0.0.1\r\n  istio: {}\r\n"
    );
}

#[test]
fn a_list_item_written_as_a_block_scalar_is_edited_in_place() {
    // The parser's span of `- |` starts at the text's first line: the item's
    // dash is found before its header, so the item is not refused as
    // "written in a form the editor does not rewrite".
    let text = "a:\n  - |\n    hello\n  - >-  # folded|x\n    there\n  - x\n";
    assert_eq!(
        set(text, "a[0]", json!("bye")),
        "a:\n  - bye\n  - >-  # folded|x\n    there\n  - x\n"
    );
    assert_eq!(set(text, "a[1]", json!("z")), "a:\n  - |\n    hello\n  - z\n  - x\n");
    assert_eq!(
        edit(text, "a[0]", &EditOp::Remove).unwrap(),
        "a:\n  - >-  # folded|x\n    there\n  - x\n"
    );
    assert_eq!(
        edit(text, "a[1]", &EditOp::Insert(json!("new"))).unwrap(),
        "a:\n  - |\n    hello\n  - new\n  - >-  # folded|x\n    there\n  - x\n"
    );
    // A block scalar value of a key is edited as before.
    let text = "k: |+\n  a\n\nz: 1\n";
    assert_eq!(set(text, "z", json!(2)), "k: |+\n  a\n\nz: 2\n");
    // Its blank line was its text: it goes with it.
    assert_eq!(set(text, "k", json!("b")), "k: b\nz: 1\n");
}

#[test]
fn a_key_is_added_after_a_block_that_keeps_its_blank_lines() {
    // `|+` keeps its final blank lines: a key added after it goes after them,
    // so the block's text stays the same (it was refused as an edit that
    // changes other parts of the document).
    let text = "metadata:\n  name: x\n  description: |+\n    a\n\n";
    let out = set(text, "metadata.labels", json!({"x": "z"}));
    assert_eq!(
        out,
        "metadata:\n  name: x\n  description: |+\n    a\n\n  labels:\n    x: z\n"
    );
    let text = "metadata:\n  description: |+\n    a\n\nspec:\n  timezone: UTC\n";
    let out = set(text, "metadata.name", json!("n"));
    assert_eq!(json_of(&out)["metadata"]["description"], json!("a\n\n"));
    assert_eq!(json_of(&out)["metadata"]["name"], json!("n"));
    let crlf = text.replace('\n', "\r\n");
    let out = set(&crlf, "metadata.name", json!("n"));
    assert_eq!(json_of(&out)["metadata"]["description"], json!("a\n\n"));
    assert!(!out.replace("\r\n", "").contains('\n'), "CRLF stays: {out:?}");
}

#[test]
fn the_comment_above_an_item_or_a_key_goes_and_stays_with_it() {
    let text = "a:\n  nodes:\n    # the first\n    - name: a\n    # the second\n    # (two lines)\n    - name: b\n    - name: c\n";
    // Removed with its item: no comment is left above the item after it.
    assert_eq!(
        edit(text, "a.nodes[1]", &EditOp::Remove).unwrap(),
        "a:\n  nodes:\n    # the first\n    - name: a\n    - name: c\n"
    );
    assert_eq!(
        edit(text, "a.nodes[0]", &EditOp::Remove).unwrap(),
        "a:\n  nodes:\n    # the second\n    # (two lines)\n    - name: b\n    - name: c\n"
    );
    // An item inserted before a commented one goes above the comment.
    assert_eq!(
        edit(text, "a.nodes[1]", &EditOp::Insert(json!({"name": "new"}))).unwrap(),
        "a:\n  nodes:\n    # the first\n    - name: a\n    - name: new\n    # the second\n    # (two lines)\n    - name: b\n    - name: c\n"
    );
    // A key's comment goes with the key; a comment after a blank line, or at
    // another column, is not the key's and stays.
    let text = "spec:\n  # the registry\n  registry: r\n\n  # about what follows\n\n  # the zone\n  timezone: UTC\n# top level\n  x: 1\n";
    assert_eq!(
        edit(text, "spec.registry", &EditOp::Remove).unwrap(),
        "spec:\n\n  # about what follows\n\n  # the zone\n  timezone: UTC\n# top level\n  x: 1\n"
    );
    assert_eq!(
        edit(text, "spec.timezone", &EditOp::Remove).unwrap(),
        "spec:\n  # the registry\n  registry: r\n\n  # about what follows\n\n# top level\n  x: 1\n"
    );
    assert_eq!(
        edit(text, "spec.x", &EditOp::Remove).unwrap(),
        "spec:\n  # the registry\n  registry: r\n\n  # about what follows\n\n  # the zone\n  timezone: UTC\n# top level\n"
    );
    // CRLF.
    let crlf = "a:\r\n  # one\r\n  - 1\r\n  # two\r\n  - 2\r\n";
    assert_eq!(
        edit(crlf, "a[1]", &EditOp::Remove).unwrap(),
        "a:\r\n  # one\r\n  - 1\r\n"
    );
}

#[test]
fn the_only_key_or_item_removed_leaves_an_empty_collection_on_the_parent_line() {
    let e = |text: &str, path: &str| edit(text, path, &EditOp::Remove).unwrap_or_else(|e| panic!("{path}: {e}"));
    // The key's comment goes with it; `{}` goes after the parent's `:`.
    assert_eq!(
        e(
            "spec:\n  tuning:   # kernel\n    sysctl:\n      # somaxconn\n      a: 1\n  x: 2\n",
            "spec.tuning.sysctl.a"
        ),
        "spec:\n  tuning:   # kernel\n    sysctl: {}\n  x: 2\n"
    );
    // A key with no value (it was refused).
    assert_eq!(
        e("spec:\n  sysctl:\n    a:\n  x: 2\n", "spec.sysctl.a"),
        "spec:\n  sysctl: {}\n  x: 2\n"
    );
    // The parent's comment ends in `:` (it was taken for the parent's `:`,
    // and the removal refused); it stays on its line.
    assert_eq!(
        e("spec:\n  sysctl:   # the kernel:\n    a: 1\n  x: 2\n", "spec.sysctl.a"),
        "spec:\n  sysctl: {}   # the kernel:\n  x: 2\n"
    );
    assert_eq!(
        e("a:\n  l:   # items:\n    # one\n    - 1\n  z: 2\n", "a.l[0]"),
        "a:\n  l: []   # items:\n  z: 2\n"
    );
}

#[test]
fn new_items_are_written_as_the_list_writes_its_items() {
    // `-   name:`: the same spaces after the dash, and the item's keys under
    // its first.
    let text = "a:\n  nodes:\n    -   name: a\n        role: x\n";
    assert_eq!(
        edit(text, "a.nodes[1]", &EditOp::Insert(json!({"name": "b", "role": "w"}))).unwrap(),
        "a:\n  nodes:\n    -   name: a\n        role: x\n    -   name: b\n        role: w\n"
    );
    // A flow list written an item a line: the new item on a line of its own.
    let text = "a:\n  hosts: [\n    a.example,\n    b.example\n  ]\n";
    assert_eq!(
        edit(text, "a.hosts[2]", &EditOp::Insert(json!("c.example"))).unwrap(),
        "a:\n  hosts: [\n    a.example,\n    b.example,\n    c.example\n  ]\n"
    );
    assert_eq!(
        edit(text, "a.hosts[0]", &EditOp::Insert(json!("z.example"))).unwrap(),
        "a:\n  hosts: [\n    z.example,\n    a.example,\n    b.example\n  ]\n"
    );
    // On one line it stays on one line.
    assert_eq!(
        edit("a: [x, y]\n", "a[2]", &EditOp::Insert(json!("z"))).unwrap(),
        "a: [x, y, z]\n"
    );
}

#[test]
fn a_list_item_keeps_its_comment_and_its_dash_spacing() {
    let text = "a:\n  l:\n    - x   # the x\n    -   # empty\n    -   z\n";
    // A block in place of a scalar item: the comment stays on its first line.
    assert_eq!(
        set(text, "a.l[0]", json!({"k": 1, "j": 2})),
        "a:\n  l:\n    - k: 1   # the x\n      j: 2\n    -   # empty\n    -   z\n"
    );
    // An empty item with a comment is found (its dash is before the
    // comment), and set.
    assert_eq!(
        set(text, "a.l[1]", json!({"m": 1, "o": 2})),
        "a:\n  l:\n    - x   # the x\n    - m: 1   # empty\n      o: 2\n    -   z\n"
    );
    assert_eq!(
        set(text, "a.l[1]", json!("v")),
        "a:\n  l:\n    - x   # the x\n    - v   # empty\n    -   z\n"
    );
    assert_eq!(
        edit(text, "a.l[1]", &EditOp::Remove).unwrap(),
        "a:\n  l:\n    - x   # the x\n    -   z\n"
    );
    // The spaces after an item's dash stay.
    assert_eq!(
        set(text, "a.l[2]", json!("w")),
        "a:\n  l:\n    - x   # the x\n    -   # empty\n    -   w\n"
    );
}

#[test]
fn a_key_written_after_an_anchor_a_tag_or_a_question_mark_is_refused_not_a_panic() {
    let base = "apiVersion: meshbundle.dev/v1alpha1\nkind: Site\nmetadata:\n  name: lab\n";
    for (key, path) in [
        ("  &d description: demo\n", "metadata.description"),
        ("  !!str description: demo\n", "metadata.description"),
        ("  ? description\n  : demo\n", "metadata.description"),
    ] {
        let text = format!("{base}{key}");
        let e = edit(&text, path, &EditOp::Remove).expect_err(key);
        assert!(e.to_string().contains("anchor, a tag or `?`"), "{key}: {e}");
    }
    // Removing the key before one written so still works.
    let text = format!("{base}  &d description: demo\n");
    let out = edit(&text, "metadata.name", &EditOp::Remove).unwrap();
    assert_eq!(
        out,
        "apiVersion: meshbundle.dev/v1alpha1\nkind: Site\nmetadata:\n  &d description: demo\n"
    );
}

#[test]
fn field_paths_are_read_strictly() {
    for ok in [
        "spec.nodes[0].name",
        "spec.tuning.sysctl[\"vm.max_map_count\"]",
        "metadata.name",
        "spec.nodes[10]",
    ] {
        assert!(segments(ok).is_ok(), "{ok}");
    }
    // Each was taken as another path (`]` as part of a key, the key after
    // an index with no dot, an index with a sign or a leading zero).
    for bad in [
        "spec.nodes[0]]",
        "spec.nodes]",
        "spec.nodes[0]name",
        "spec[\"a\"]x",
        "spec.nodes[+0]",
        "spec.nodes[00]",
        "spec.nodes[01]",
        "spec.nodes[]",
        "spec.na\"me",
    ] {
        assert!(segments(bad).is_err(), "{bad} should be refused");
    }
    // And nothing in the file changes.
    let e = edit(LAB, "spec.nodes[0]]", &EditOp::Set(json!("v"))).unwrap_err();
    assert!(e.to_string().contains("follows a `]`"), "{e}");
}

#[test]
fn a_mapping_left_empty_is_kept_with_the_comments_written_in_it() {
    let text = format!(
        "{LAB}  # Security: keep this section, the IdP goes live in May.\n  security:\n    jwt:\n      # TODO: set required: true once the IdP is live\n      issuers:\n        - issuer: https://idp.example\n          jwks: '{{\"keys\": []}}'\n"
    );
    // (Its issuer has no keys: an error that goes with the issuer.)
    let out = edit_spec(&text, "spec.security.jwt.issuers[0]", &EditOp::Remove).unwrap();
    assert!(out.contains("# Security: keep this section"), "{out}");
    assert!(out.contains("# TODO: set required: true"), "{out}");
    assert!(out.contains("issuers: []"), "{out}");
    // With no comment in it, the mapping goes (the form's insert and remove).
    let bare = text
        .replace("  # Security: keep this section, the IdP goes live in May.\n", "")
        .replace("      # TODO: set required: true once the IdP is live\n", "");
    assert_eq!(
        edit_spec(&bare, "spec.security.jwt.issuers[0]", &EditOp::Remove).unwrap(),
        LAB
    );
}

#[test]
fn a_block_replaced_by_a_value_on_the_key_line_keeps_the_keys_comment_only() {
    let head = "apiVersion: meshbundle.dev/v1alpha1\nkind: Site\nmetadata:\n  name: lab\n";
    // A mapping's entries, a list's items and a literal's text each go with
    // their comments; the key's comment stays on its line.
    let cases = [
        (
            "spec:\n  time:   # how the clocks are kept\n    sourceNode: a   # the cp\n  # after time\n",
            "spec.time",
            json!({}),
            "spec:\n  time: {}   # how the clocks are kept\n  # after time\n",
        ),
        (
            "spec:\n  time:\n    servers:   # NTP\n      - ntp1   # the only one\n",
            "spec.time.servers",
            json!("ntp2"),
            "spec:\n  time:\n    servers: ntp2   # NTP\n",
        ),
        (
            "  description: |   # shown on the dashboard\n    old text\n",
            "metadata.description",
            json!("new"),
            "  description: new   # shown on the dashboard\n",
        ),
    ];
    for (body, path, v, want) in cases {
        let out = set(&format!("{head}{body}"), path, v);
        assert_eq!(out, format!("{head}{want}"), "{path}");
    }
    // Removing the only entry or item: `{}` or `[]` with the key's comment,
    // the removed one's comment gone with it (also at the document's end).
    for (body, path, want) in [
        (
            "spec:\n  time:   # how the clocks are kept\n    sourceNode: a   # the cp\n  nodes: []\n",
            "spec.time.sourceNode",
            "spec:\n  time: {}   # how the clocks are kept\n  nodes: []\n",
        ),
        (
            "spec:\n  time:\n    servers:   # NTP\n      - ntp1   # the only one\n",
            "spec.time.servers[0]",
            "spec:\n  time:\n    servers: []   # NTP\n",
        ),
    ] {
        let out = edit(&format!("{head}{body}"), path, &EditOp::Remove).unwrap();
        assert_eq!(out, format!("{head}{want}"), "{path}");
    }
}

#[test]
fn a_comment_after_an_items_dash_stays_when_the_item_is_replaced() {
    let text = "apiVersion: meshbundle.dev/v1alpha1\nkind: Site\nmetadata:\n  name: lab\nspec:\n  nodes:\n    -   # the control plane\n      name: a\n      address: 10.0.0.1   # addr\n";
    let out = set(text, "spec.nodes[0]", json!({"name": "c", "address": "10.0.0.3"}));
    assert!(out.contains("# the control plane"), "{out}");
    assert!(!out.contains("# addr"), "{out}");
    assert_eq!(
        json_of(&out)["spec"]["nodes"][0],
        json!({"name": "c", "address": "10.0.0.3"})
    );
}

#[test]
fn numbers_are_written_in_decimals() {
    for (v, want) in [
        (json!(0.0000001), "0.0000001"),
        (json!(1.0), "1.0"),
        (json!(0.5), "0.5"),
        (json!(1e21), "1000000000000000000000.0"),
        (json!(42), "42"),
    ] {
        let out = set(LAB, "metadata.description", v.clone());
        assert!(out.contains(&format!("description: {want}\n")), "{v}: {out}");
        assert_eq!(json_of(&out)["metadata"]["description"], v, "{v} reads back");
    }
}

/// The lab example written as JSON, as `json.dumps(..., indent=2)` writes it.
fn lab_json() -> String {
    serde_json::to_string_pretty(&json_of(LAB)).unwrap() + "\n"
}

#[test]
fn a_json_spec_stays_json() {
    let text = lab_json();
    let mut t = set(&text, "spec.istio.network", json!("net 2"));
    t = set(&t, "spec.kubernetes.podSubnet", json!("10.32.0.0/16"));
    t = set(&t, "spec.kubernetes.version", json!("1.35"));
    t = set(
        &t,
        "spec.security.jwt",
        json!({"required": true, "issuers": [{"issuer": "https://x", "jwks": "{\"keys\": []}"}]}),
    );
    t = edit(
        &t,
        "spec.nodes[1]",
        &EditOp::Insert(json!({"name": "w-1", "address": "192.168.56.11", "role": "worker", "zone": "lab"})),
    )
    .unwrap();
    t = edit(&t, "spec.nodes[0].zone", &EditOp::Remove).unwrap();
    // Still JSON, and the same value as YAML reads it.
    let as_json: Value = serde_json::from_str(&t).unwrap_or_else(|e| panic!("not JSON: {e}\n{t}"));
    assert_eq!(as_json, json_of(&t));
    assert_eq!(as_json["spec"]["istio"]["network"], json!("net 2"));
    assert_eq!(as_json["spec"]["kubernetes"]["version"], json!("1.35"));
    assert_eq!(
        as_json["spec"]["security"]["jwt"]["issuers"][0]["jwks"],
        json!("{\"keys\": []}")
    );
    assert_eq!(as_json["spec"]["nodes"][1]["name"], json!("w-1"));
    assert!(as_json["spec"]["nodes"][0].get("zone").is_none());
    // An entry a line, as the file has them: the new key on its own line,
    // at its siblings' column.
    assert!(
        t.contains("      \"version\": \"1.35\",\n      \"podSubnet\": \"10.32.0.0/16\"\n"),
        "{t}"
    );
}

#[test]
fn a_yaml_flow_mapping_written_an_entry_a_line_gets_a_line_more() {
    let text = "spec:\n  k: {\n    a: 1,\n    b: 2\n  }\n";
    assert_eq!(
        set(text, "spec.k.c", json!(3)),
        "spec:\n  k: {\n    a: 1,\n    b: 2,\n    c: 3\n  }\n"
    );
    // On one line, it stays on one line, in YAML's own style.
    assert_eq!(set("k: {a: 1}\n", "k.b", json!("x y")), "k: {a: 1, b: x y}\n");
}

#[test]
fn a_json_spec_indented_with_tabs_gets_tabs() {
    let text = lab_json().replace("  ", "\t");
    let t = set(&text, "spec.kubernetes.podSubnet", json!("10.32.0.0/16"));
    assert!(
        t.contains("\t\t\t\"version\": \"1.36.5\",\n\t\t\t\"podSubnet\": \"10.32.0.0/16\"\n"),
        "{t}"
    );
    let t = edit(&text, "spec.nodes[1]", &EditOp::Insert(json!({"name": "w-1"}))).unwrap();
    serde_json::from_str::<Value>(&t).unwrap_or_else(|e| panic!("not JSON: {e}\n{t}"));
    assert!(t.contains("\t\t\t},\n\t\t\t{\"name\": \"w-1\"}\n"), "{t}");
}
