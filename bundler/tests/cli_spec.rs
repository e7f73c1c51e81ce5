//! The spec commands as a user runs them: init, validate, schema.

use std::path::Path;
use std::process::{Command, Output};

fn meshbundle(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshbundle"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run meshbundle")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn no_panic(o: &Output) {
    let err = text(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn init_then_validate_succeeds_for_every_example() {
    let dir = tmp();
    let o = meshbundle(dir.path(), &["init", "-o", "site.yaml"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = meshbundle(dir.path(), &["validate", "site.yaml"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", text(&o.stdout), text(&o.stderr));
    let o = meshbundle(dir.path(), &["init", "--example", "lab", "-o", "lab.yaml"]);
    assert!(o.status.success());
    let o = meshbundle(dir.path(), &["validate", "lab.yaml"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));
    // Both examples are valid and quiet: a newcomer's first validate warns of nothing.
    assert_eq!(text(&o.stdout), "", "no diagnostic");
    assert_eq!(text(&o.stderr).trim(), "lab.yaml: valid");
    // A warning is printed, and does not fail validation.
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../core/tests/diagnostics/replicas.single.yaml"
    );
    std::fs::copy(fixture, dir.path().join("one-gateway-pod.yaml")).unwrap();
    let o = meshbundle(dir.path(), &["validate", "one-gateway-pod.yaml"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stdout));
    assert!(
        text(&o.stdout).contains("warning: one gateway pod"),
        "{}",
        text(&o.stdout)
    );
}

#[test]
fn init_refuses_to_overwrite_without_force() {
    let dir = tmp();
    assert!(meshbundle(dir.path(), &["init"]).status.success());
    assert!(dir.path().join("meshbundle.yaml").exists());
    let o = meshbundle(dir.path(), &["init"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("--force"));
    assert!(meshbundle(dir.path(), &["init", "--force"]).status.success());
}

#[test]
fn init_to_stdout_and_unknown_example() {
    let dir = tmp();
    let o = meshbundle(dir.path(), &["init", "-o", "-", "--example", "lab"]);
    assert!(o.status.success());
    assert!(text(&o.stdout).contains("kind: Site"));
    let o = meshbundle(dir.path(), &["init", "--example", "nope"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("production, lab"), "{}", text(&o.stderr));
}

#[test]
fn usage_errors_exit_2() {
    let dir = tmp();
    for args in [
        &["validate"][..],
        &["--bogus"],
        &["validate", "a", "--format", "xml"],
        &["nosuchcommand"],
    ] {
        let o = meshbundle(dir.path(), args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o.stderr));
    }
}

const FOUR_PROBLEMS: &str = include_str!("../../tests/fixtures/four-problems.yaml");

#[test]
fn four_problems_print_four_diagnostics_and_exit_1() {
    let dir = tmp();
    std::fs::write(dir.path().join("broken.yaml"), FOUR_PROBLEMS).unwrap();
    let o = meshbundle(dir.path(), &["validate", "broken.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    let out = text(&o.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    for (needle, path) in [
        ("broken.yaml:8:5: spec.kubernetes.podSubnet: ", "overlap"),
        ("broken.yaml:20:7: spec.nodes[2].address: ", "duplicate"),
        ("broken.yaml:29:5: spec.istio.ingresGateway: ", "typo"),
        ("broken.yaml:35:11: spec.security.jwt.issuers[0].jwksUri: ", "jwksUri"),
    ] {
        let line = lines
            .iter()
            .find(|l| l.starts_with(needle))
            .unwrap_or_else(|| panic!("{path}: {out}"));
        assert!(line.ends_with(')'), "every diagnostic ends with its hint: {line}");
    }
    assert!(out.contains("did you mean `ingressGateway`?"), "{out}");
    assert!(text(&o.stderr).contains("4 errors"), "{}", text(&o.stderr));
}

#[test]
fn json_format_is_machine_readable() {
    let dir = tmp();
    std::fs::write(dir.path().join("broken.yaml"), FOUR_PROBLEMS).unwrap();
    let o = meshbundle(dir.path(), &["validate", "--format", "json", "broken.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["errors"], 4);
    let d = &v["diagnostics"][0];
    for k in ["severity", "code", "path", "message", "hint", "line", "column"] {
        assert!(d.get(k).is_some(), "{k} in {d}");
    }
}

/// The diagnostic code `read`, which no spec can make (the file is not
/// there to hold one): `core/tests/diagnostic_codes.rs` names this test as
/// its coverage.
#[test]
fn validate_json_reports_a_file_it_cannot_read() {
    let dir = tmp();
    std::fs::create_dir(dir.path().join("a-directory.yaml")).unwrap();
    for (name, says) in [("missing.yaml", "missing.yaml"), ("a-directory.yaml", "is a directory")] {
        let o = meshbundle(dir.path(), &["validate", "--format", "json", name]);
        no_panic(&o);
        assert_eq!(o.status.code(), Some(1), "{name}: {}", text(&o.stderr));
        // One JSON document on standard output, nothing after it.
        let docs: Vec<serde_json::Value> = serde_json::Deserializer::from_slice(&o.stdout)
            .into_iter()
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{name}: {e}: {}", text(&o.stdout)));
        assert_eq!(docs.len(), 1, "{name}: {}", text(&o.stdout));
        let v = &docs[0];
        assert_eq!(v["file"], name, "{v}");
        assert_eq!(
            (&v["valid"], &v["errors"], &v["warnings"]),
            (&false.into(), &1.into(), &0.into()),
            "{v}"
        );
        let diags = v["diagnostics"].as_array().unwrap();
        assert_eq!(diags.len(), 1, "{v}");
        let d = &diags[0];
        assert_eq!(d["code"], "read", "{d}");
        assert_eq!(d["severity"], "error", "{d}");
        assert_eq!(d["path"], "", "{d}");
        assert!(d["message"].as_str().unwrap().contains(says), "{name}: {d}");
        assert!(!d["hint"].as_str().unwrap().is_empty(), "{name}: {d}");
        // The same fields as a diagnostic of a spec that could be read.
        let keys: Vec<&str> = d.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 7, "{d}");
        for k in ["severity", "code", "path", "message", "hint", "line", "column"] {
            assert!(d.get(k).is_some(), "{k} in {d}");
        }
    }
}

#[test]
fn junk_inputs_give_one_error_and_no_panic() {
    let dir = tmp();
    let big: Vec<u8> = b"# padding\n".iter().copied().cycle().take(50 * 1024 * 1024).collect();
    let binary: Vec<u8> = (0..65536u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty.yaml", vec![]),
        (
            "malformed.yaml",
            b"apiVersion: meshbundle.dev/v1alpha1\nkind: [Site\nspec:\n  nodes: {\n".to_vec(),
        ),
        ("tabs.yaml", b"spec:\n\tnodes: []\n".to_vec()),
        ("big.yaml", big),
        ("junk.bin", binary),
    ];
    for (name, bytes) in cases {
        std::fs::write(dir.path().join(name), bytes).unwrap();
        let o = meshbundle(dir.path(), &["validate", name]);
        no_panic(&o);
        assert_eq!(o.status.code(), Some(1), "{name}");
        let out = text(&o.stdout);
        assert_eq!(out.lines().count(), 1, "{name}: {out}");
        assert!(out.starts_with(name), "{name}: {out}");
    }
    let o = meshbundle(dir.path(), &["validate", "missing.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("missing.yaml"), "{}", text(&o.stderr));
}

#[test]
fn schema_is_a_valid_json_schema_and_init_output_validates_against_it() {
    let dir = tmp();
    let o = meshbundle(dir.path(), &["schema"]);
    assert!(o.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    jsonschema::meta::validate(&schema).expect("the schema is a valid JSON Schema");
    let validator = jsonschema::validator_for(&schema).unwrap();
    for example in ["production", "lab"] {
        let file = format!("{example}.yaml");
        assert!(
            meshbundle(dir.path(), &["init", "--example", example, "-o", &file])
                .status
                .success()
        );
        let yaml = std::fs::read_to_string(dir.path().join(&file)).unwrap();
        let instance: serde_json::Value = serde_saphyr::from_str(&yaml).unwrap();
        let errors: Vec<String> = validator.iter_errors(&instance).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{example}: {errors:?}");
    }
    // Parts written in part take their defaults, in the schema as in the
    // loader: an editor using the schema flags nothing that validate accepts.
    let lab = std::fs::read_to_string(dir.path().join("lab.yaml")).unwrap();
    let mut partial: serde_json::Value = serde_saphyr::from_str(&lab).unwrap();
    let service = partial["spec"]["istio"]["ingressGateway"]["service"].clone();
    partial["spec"]["istio"]["ingressGateway"] = serde_json::json!({"hosts": ["app.example.com"], "service": service});
    partial["spec"]["istio"]["egressGateway"] =
        serde_json::json!({"replicas": 2, "hpa": {"enabled": false}, "service": {"type": "ClusterIP"}});
    let errors: Vec<String> = validator.iter_errors(&partial).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "partial gateways: {errors:?}");
    std::fs::write(
        dir.path().join("partial.yaml"),
        serde_json::to_string(&partial).unwrap(),
    )
    .unwrap();
    let o = meshbundle(dir.path(), &["validate", "partial.yaml"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    // So does any part written in part, istiod's HPA too: the schema and
    // validate both accept it.
    let mut istiod = partial.clone();
    istiod["spec"]["istio"]["istiod"]["hpa"] = serde_json::json!({"enabled": true});
    assert!(validator.is_valid(&istiod));
    std::fs::write(dir.path().join("istiod.yaml"), serde_json::to_string(&istiod).unwrap()).unwrap();
    let o = meshbundle(dir.path(), &["validate", "istiod.yaml"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    // And it rejects a misspelt field, as validate does.
    let bad: serde_json::Value = serde_json::json!({"apiVersion": "meshbundle.dev/v1alpha1", "kind": "Site", "metadata": {"name": "a"}, "spec": {"nodes": [], "registry": "a:1", "tunning": {}}});
    assert!(!validator.is_valid(&bad));
}

/// Strings that a YAML 1.1 reader would take for something else survive as
/// strings when meshbundle writes them: PyYAML reads them back unchanged.
#[test]
fn yaml_1_1_ambiguous_strings_survive_pyyaml() {
    const TRICKY: [&str; 10] = ["yes", "on", "off", "no", "y", "0755", "1e3", "null", "~", "12:30"];
    let dir = tmp();
    let mut site = meshbundle_core::spec::load::load(meshbundle_core::examples::example("lab").unwrap())
        .site
        .unwrap();
    site.metadata.description = Some("yes".into());
    for (i, s) in TRICKY.iter().enumerate() {
        site.spec.istio.istiod.env.insert(format!("VAR_{i}"), s.to_string());
        site.spec.nodes[0]
            .labels
            .insert(format!("example.com/k{i}"), s.to_string());
    }
    let yaml = meshbundle_core::yaml::to_string(&site).unwrap();
    let path = dir.path().join("written.yaml");
    std::fs::write(&path, &yaml).unwrap();
    let script = r#"
import json, sys, yaml
d = yaml.safe_load(open(sys.argv[1]))
print(json.dumps({"env": d["spec"]["istio"]["istiod"]["env"], "labels": d["spec"]["nodes"][0]["labels"], "description": d["metadata"]["description"]}))
"#;
    let o = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&path)
        .output()
        .expect("python3 with PyYAML");
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for (i, s) in TRICKY.iter().enumerate() {
        assert_eq!(v["env"][format!("VAR_{i}")], serde_json::json!(s), "{s} in\n{yaml}");
        assert_eq!(v["labels"][format!("example.com/k{i}")], serde_json::json!(s), "{s}");
    }
    assert_eq!(v["description"], "yes");
    // And meshbundle reads its own output back to the same site.
    let back = meshbundle_core::spec::load::load(&yaml).site.unwrap();
    assert_eq!(back, site);
}
