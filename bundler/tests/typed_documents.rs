//! Each document meshbundle writes has a committed JSON Schema
//! (`core/schema/`), printed by `meshbundle schema [spec|lock|secrets|seal]`.
//! Here the documents of a real site (locked against a real docker-registry,
//! secrets generated, a bundle built from both) are validated against those
//! schemas by Python's `jsonschema`, an implementation other than the one
//! that made them; and hostile copies, which meshbundle itself refuses, must
//! be refused by the schema too, at the field that is wrong.

mod common;

use std::path::Path;
use std::process::Command;

use common::registry::run;
use common::*;
use serde_json::Value;

/// Validates `instance` (JSON) against `schema` with Python's jsonschema
/// (draft 2020-12, as the schema says); the error messages, empty when valid.
fn python_errors(dir: &Path, schema: &Value, instance: &Value) -> Vec<String> {
    let s = dir.join("schema.json");
    let i = dir.join("instance.json");
    std::fs::write(&s, serde_json::to_vec(schema).unwrap()).unwrap();
    std::fs::write(&i, serde_json::to_vec(instance).unwrap()).unwrap();
    let script = r#"
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
instance = json.load(open(sys.argv[2]))
cls = jsonschema.validators.validator_for(schema)
cls.check_schema(schema)
def show(e):
    print("/".join(str(p) for p in e.absolute_path) + ": " + e.message[:300])
    # An optional value fails `anyOf` as a whole: its branches say where.
    for c in e.context or []:
        show(c)
for e in cls(schema).iter_errors(instance):
    show(e)
"#;
    let o = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&s)
        .arg(&i)
        .output()
        .expect("python3 with jsonschema (tests/requirements.txt)");
    assert!(o.status.success(), "jsonschema failed: {}", text(&o.stderr));
    text(&o.stdout).lines().map(str::to_string).collect()
}

fn schema(dir: &Path, which: &str) -> Value {
    let o = meshbundle(dir, &["schema", which]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let printed: Value = serde_json::from_slice(&o.stdout).unwrap();
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join(format!(
            "core/schema/{}.schema.json",
            if which == "spec" { "site" } else { which }
        )))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        printed, committed,
        "`meshbundle schema {which}` prints the committed schema"
    );
    printed
}

fn yaml(path: &Path) -> Value {
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every object of a schema that lists its properties refuses others.
fn assert_strict(name: &str, node: &Value, at: &str) {
    match node {
        Value::Object(m) => {
            if m.get("type") == Some(&Value::from("object")) && m.contains_key("properties") {
                assert_eq!(
                    m.get("additionalProperties"),
                    Some(&Value::Bool(false)),
                    "{name}: {at} allows unknown fields"
                );
            }
            for (k, v) in m {
                assert_strict(name, v, &format!("{at}/{k}"));
            }
        }
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, v)| assert_strict(name, v, &format!("{at}/{i}"))),
        _ => {}
    }
}

/// A copy of `doc` with the value at the JSON pointer `at` replaced (or
/// added, for a new key of an object).
fn with(doc: &Value, at: &str, value: Value) -> Value {
    let mut d = doc.clone();
    let (parent, key) = at.rsplit_once('/').unwrap();
    match d.pointer_mut(parent).unwrap_or_else(|| panic!("{parent}")) {
        Value::Object(m) => {
            m.insert(key.to_string(), value);
        }
        Value::Array(a) => a[key.parse::<usize>().unwrap()] = value,
        other => panic!("{at}: {other}"),
    }
    d
}

#[test]
fn real_documents_validate_against_their_schemas_and_hostile_ones_do_not() {
    let site = example("lab");
    let up = site::serve(&site);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::copy(repo().join("core/examples/lab.yaml"), d.join("site.yaml")).unwrap();
    let net: Vec<&str> = up.flags.iter().map(String::as_str).collect();
    let mb = |args: &[&str], with_net: bool| {
        let mut all = args.to_vec();
        if with_net {
            all.extend(&net);
        }
        let o = meshbundle(d, &all);
        assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
        o
    };
    mb(&["secrets", "generate", "site.yaml", "-o", "site.secrets.yaml"], false);
    mb(&["lock", "site.yaml", "--quiet", "--cache", "cache"], true);
    run(Command::new("age-keygen").arg("-o").arg(d.join("operator.age")));
    let recipient = run(Command::new("age-keygen").arg("-y").arg(d.join("operator.age")))
        .trim()
        .to_string();
    mb(
        &[
            "build",
            "site.yaml",
            "-o",
            "site.mbundle",
            "--locked",
            "--quiet",
            "--cache",
            "cache",
            "--secrets",
            "site.secrets.yaml",
            "--recipient",
            &recipient,
        ],
        true,
    );

    let lock = yaml(&d.join("meshbundle.lock"));
    let secrets = yaml(&d.join("site.secrets.yaml"));
    let seal = forge::seal_of(&d.join("site.mbundle"));
    assert!(
        !lock["images"].as_array().unwrap().is_empty() && !lock["files"].as_array().unwrap().is_empty(),
        "{lock}"
    );
    assert!(
        !seal["images"].as_array().unwrap().is_empty(),
        "the bundle carries the images"
    );
    let spec = yaml(&d.join("site.yaml"));

    let h = "f".repeat(64);
    // (document, hostile copy, the field the schema must name, the command that must refuse it too)
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "lock",
            with(
                &lock,
                "/images/0/digest",
                format!("sha256:{}$(reboot)", &h[..50]).into(),
            ),
            "images/0/digest",
        ),
        (
            "lock",
            with(&lock, "/images/0/digest", h.clone().into()),
            "images/0/digest",
        ),
        (
            "lock",
            with(&lock, "/images/0/name", "registry.k8s.io/pause:3.10 ; id".into()),
            "images/0/name",
        ),
        (
            "lock",
            with(
                &lock,
                "/images/0/carriedDigest",
                format!("sha256:{}", h.to_uppercase()).into(),
            ),
            "images/0/carriedDigest",
        ),
        (
            "lock",
            with(&lock, "/files/0/name", "../../etc/cron.d/x".into()),
            "files/0/name",
        ),
        (
            "lock",
            with(&lock, "/files/0/sha256", format!("sha256:{h}").into()),
            "files/0/sha256",
        ),
        ("lock", with(&lock, "/files/0/checksum", "md5".into()), "files/0"),
        ("lock", with(&lock, "/kind", "Seal".into()), "kind"),
        (
            "secrets",
            with(&secrets, "/kubeadm/token", "abcdef.0123456789abcdef;id".into()),
            "kubeadm/token",
        ),
        (
            "secrets",
            with(&secrets, "/kubeadm/certificateKey", h.to_uppercase().into()),
            "kubeadm/certificateKey",
        ),
        (
            "secrets",
            with(&secrets, "/addons/grafana/adminUser", "admin$(id)".into()),
            "addons/grafana/adminUser",
        ),
        (
            "secrets",
            with(&secrets, "/addons/grafana/adminPassword", "short".into()),
            "addons/grafana/adminPassword",
        ),
        ("secrets", with(&secrets, "/kubeadm/backdoor", "x".into()), "kubeadm"),
        ("seal", with(&seal, "/entries/0/mode", 0o4755.into()), "entries/0/mode"),
        (
            "seal",
            with(&seal, "/entries/0/path", "tree/../../etc/passwd".into()),
            "entries/0/path",
        ),
        (
            "seal",
            with(&seal, "/entries/0/path", "/etc/passwd".into()),
            "entries/0/path",
        ),
        (
            "seal",
            with(&seal, "/entries/0/sha256", format!("sha256:{h}").into()),
            "entries/0/sha256",
        ),
        (
            "seal",
            with(&seal, "/images/0/manifests/0", "sha256:../../x".into()),
            "images/0/manifests/0",
        ),
        (
            "seal",
            with(&seal, "/images/0/digest", format!("sha512:{h}").into()),
            "images/0/digest",
        ),
        ("seal", with(&seal, "/files/0/name", "files/./x".into()), "files/0/name"),
        (
            "seal",
            with(&seal, "/format", "meshbundle.dev/bundle/v0".into()),
            "format",
        ),
        (
            "seal",
            with(&seal, "/secrets/privateKeys", "sealed".into()),
            "secrets/privateKeys",
        ),
        (
            "seal",
            with(&seal, "/images/0/site", "not a reference".into()),
            "images/0/site",
        ),
        ("seal", with(&seal, "/hooks", Value::Array(vec![])), ""),
        (
            "spec",
            with(&spec, "/spec/kubernetes/podSubnets", "10.0.0.0/8".into()),
            "spec/kubernetes",
        ),
    ];

    let mut schemas = std::collections::BTreeMap::new();
    for (name, real) in [("lock", &lock), ("secrets", &secrets), ("seal", &seal), ("spec", &spec)] {
        let s = schema(d, name);
        assert_strict(name, &s, "");
        let errors = python_errors(d, &s, real);
        assert!(
            errors.is_empty(),
            "the real {name} does not validate against its schema: {errors:#?}"
        );
        schemas.insert(name, s);
    }
    for (name, hostile, field) in &cases {
        let errors = python_errors(d, &schemas[name], hostile);
        assert!(
            errors
                .iter()
                .any(|e| e.split_once(": ").is_some_and(|(at, _)| at == *field)),
            "{name}: the schema does not refuse the hostile value at `{field}`: {errors:#?}"
        );
    }

    // meshbundle refuses the same hostile documents the schemas refuse: a
    // schema that is stricter than the reader would only mislead.
    let refused = |args: &[&str], what: &str| {
        let o = meshbundle(d, args);
        assert!(!o.status.success(), "{what}: meshbundle accepted it");
    };
    for (i, (name, hostile, _)) in cases.iter().enumerate() {
        match *name {
            "lock" => {
                let sub = d.join(format!("lock{i}"));
                std::fs::create_dir_all(&sub).unwrap();
                std::fs::copy(d.join("site.yaml"), sub.join("site.yaml")).unwrap();
                std::fs::write(sub.join("meshbundle.lock"), serde_json::to_string(hostile).unwrap()).unwrap();
                let o = meshbundle(
                    &sub,
                    &[
                        "render",
                        "site.yaml",
                        "--secrets",
                        "../site.secrets.yaml",
                        "--lock",
                        "meshbundle.lock",
                        "-o",
                        "out",
                    ],
                );
                assert!(!o.status.success(), "lock case {i}: render accepted the lock");
                assert!(
                    text(&o.stderr).contains("meshbundle.lock"),
                    "lock case {i}: {}",
                    text(&o.stderr)
                );
            }
            "secrets" => {
                std::fs::write(d.join("hostile.secrets.yaml"), serde_json::to_string(hostile).unwrap()).unwrap();
                refused(
                    &["secrets", "show", "hostile.secrets.yaml"],
                    &format!("secrets case {i}"),
                );
            }
            _ => {}
        }
    }
}

#[test]
fn schema_names_each_document_and_refuses_others() {
    let dir = tempfile::tempdir().unwrap();
    let spec = meshbundle(dir.path(), &["schema"]);
    assert_eq!(
        spec.stdout,
        meshbundle(dir.path(), &["schema", "spec"]).stdout,
        "the site spec stays the default"
    );
    let mut ids = std::collections::BTreeSet::new();
    for which in ["spec", "lock", "secrets", "seal"] {
        let s = schema(dir.path(), which);
        jsonschema::meta::validate(&s).unwrap_or_else(|e| panic!("{which}: not a valid JSON Schema: {e}"));
        assert!(
            ids.insert(s["$id"].as_str().unwrap().to_string()),
            "{which}: the $id is another document's"
        );
    }
    let o = meshbundle(dir.path(), &["schema", "bundle"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("lock") && text(&o.stderr).contains("seal"),
        "{}",
        text(&o.stderr)
    );
}

/// Writes a recipe that uses every config field, two layers (a file with a
/// pinned sha256 and a directory), and its inputs.
fn golden_recipe(d: &Path) -> std::path::PathBuf {
    std::fs::create_dir_all(d.join("web/css")).unwrap();
    std::fs::write(d.join("tool"), b"#!/bin/sh\necho golden\n").unwrap();
    std::fs::write(d.join("web/index.html"), b"<!doctype html><title>golden</title>\n").unwrap();
    std::fs::write(d.join("web/css/site.css"), b"body{margin:0}\n").unwrap();
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"#!/bin/sh\necho golden\n"));
    let recipe = format!(
        r#"apiVersion: meshbundle.dev/v1alpha1
kind: ImageRecipe
name: example.com/golden
tag: "1.0"
platform: linux/arm64
config:
  entrypoint: ["/usr/local/bin/tool"]
  cmd: ["--help"]
  env: ["PATH=/usr/local/bin", "LANG=C.UTF-8"]
  workingDir: /
  user: "65534:65534"
  labels:
    org.opencontainers.image.title: golden
    org.opencontainers.image.licenses: Apache-2.0
    a.first: "1"
layers:
  - comment: the tool
    files:
      - path: usr/local/bin/tool
        source: tool
        sha256: {sha}
        mode: "0755"
  - comment: the pages
    files:
      - path: usr/share/golden/web
        source: web
"#
    );
    let p = d.join("recipe.yaml");
    std::fs::write(&p, recipe).unwrap();
    p
}

fn sha256_hex_of(p: &Path) -> String {
    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(std::fs::read(p).unwrap()))
}

/// The bytes of what `image build` writes are a contract: the image digest
/// a release publishes must come out of its recipe again, byte for byte.
/// These digests were taken from the `json!`-built documents and must not
/// change when the documents are built otherwise; a change here is a change
/// of every image meshbundle has built, to be made on purpose and reviewed.
#[test]
fn image_build_and_layout_bytes_are_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let recipe = golden_recipe(d);
    let mut got = Vec::new();
    for epoch in [0u64, 1_700_000_000] {
        let out = d.join(format!("layout-{epoch}"));
        let (digest, ref_name) = meshbundle::imagebuild::build(&recipe, &out, epoch).unwrap();
        assert_eq!(ref_name, "example.com/golden:1.0");
        got.push(format!("epoch {epoch} manifest {digest}"));
        got.push(format!(
            "epoch {epoch} index.json {}",
            sha256_hex_of(&out.join("index.json"))
        ));
        got.push(format!(
            "epoch {epoch} oci-layout {}",
            sha256_hex_of(&out.join("oci-layout"))
        ));
        let m: Value =
            serde_json::from_slice(&std::fs::read(out.join("blobs/sha256").join(digest.hex())).unwrap()).unwrap();
        got.push(format!(
            "epoch {epoch} config {}",
            m["config"]["digest"].as_str().unwrap()
        ));
        // A real reader agrees with what was written.
        let inspect = run(Command::new("skopeo")
            .args(["inspect", "--format", "{{.Digest}} {{.Architecture}} {{.Os}}"])
            .arg(format!("oci:{}:example.com/golden:1.0", out.display())));
        assert_eq!(inspect.trim(), format!("{digest} arm64 linux"));
    }
    // An image written into a layout from a cache, as `image pull` and the
    // layout import do.
    let cache = meshbundle::oci::cache::BlobCache::open(Some(&d.join("cache"))).unwrap();
    let layout_dir = d.join("layout-0");
    let (digest, _) = meshbundle::imagebuild::build(&recipe, &layout_dir, 0).unwrap();
    let raw = std::fs::read(layout_dir.join("blobs/sha256").join(digest.hex())).unwrap();
    let m: Value = serde_json::from_slice(&raw).unwrap();
    let mut blobs = Vec::new();
    for b in std::iter::once(&m["config"]).chain(m["layers"].as_array().unwrap()) {
        let bd = meshbundle_core::digest::Digest::parse(b["digest"].as_str().unwrap()).unwrap();
        cache
            .put_bytes(&std::fs::read(layout_dir.join("blobs/sha256").join(bd.hex())).unwrap())
            .unwrap();
        blobs.push(meshbundle::oci::Blob {
            digest: bd,
            size: b["size"].as_u64().unwrap(),
            media_type: b["mediaType"].as_str().unwrap().into(),
        });
    }
    blobs.sort();
    let image = meshbundle::oci::Image {
        name: "example.com/golden:1.0".parse().unwrap(),
        digest: digest.clone(),
        media_type: "application/vnd.oci.image.manifest.v1+json".parse().unwrap(),
        size: raw.len() as u64,
        manifests: vec![(
            digest.clone(),
            "application/vnd.oci.image.manifest.v1+json".into(),
            raw.clone(),
        )],
        blobs,
    };
    let second = d.join("second");
    let layout = meshbundle::oci::layout::Layout::create(&second).unwrap();
    let a = layout.add_image(&cache, &image, "example.com/golden:1.0").unwrap();
    let b = layout.add_image(&cache, &image, "example.com/golden:latest").unwrap();
    layout.write_index(vec![b, a]).unwrap();
    got.push(format!(
        "layout index.json {}",
        sha256_hex_of(&second.join("index.json"))
    ));
    let inspect = run(Command::new("skopeo")
        .args(["inspect", "--format", "{{.Digest}}"])
        .arg(format!("oci:{}:example.com/golden:latest", second.display())));
    assert_eq!(inspect.trim(), digest.as_str());

    let want = GOLDEN.trim().lines().map(str::trim).collect::<Vec<_>>();
    assert_eq!(got, want, "the bytes of built images changed:\n{}", got.join("\n"));
}

const GOLDEN: &str = "
epoch 0 manifest sha256:b11b6de9c744ccb4fc75a52ea280f7efeb0c9432938ad70b92cd20e82d601387
epoch 0 index.json 582a09666bb5e830c0aa3f5478aa0da683ac70f5757e30d2538cf9afd2e94bd9
epoch 0 oci-layout 18f0797eab35a4597c1e9624aa4f15fd91f6254e5538c1e0d193b2a95dd4acc6
epoch 0 config sha256:dc1895db4970cf18067d6bccc4e092d324d450c0b9bae0e9cd6069167c041163
epoch 1700000000 manifest sha256:8e8c462a4d2328ddb65bf114ee5770c5223d49c58ea5c5ab24440b586fd7442f
epoch 1700000000 index.json b9e451285db98006aa0c1b25d7df761f9fdc11dc5a676600957240650fa5f712
epoch 1700000000 oci-layout 18f0797eab35a4597c1e9624aa4f15fd91f6254e5538c1e0d193b2a95dd4acc6
epoch 1700000000 config sha256:2d4a386ac3dc7e63d90e6021fc8fe330aedb670cb166c78aaeafb83d8659a9a5
layout index.json e27145d085f0a4903bdeb9be4819363ba56d0b02298c20ae7767eb7d5c0d25eb
";
