//! What each catalogued Istio release is given, in its own terms:
//!
//! - the install and the addons are that release's (images of its tag, its
//!   own sample addons), from the site registry;
//! - Istio 1.28's IstioOperator takes 22 `values` fields in the protobuf form
//!   of their Kubernetes types (istioctl 1.28 decodes them with the
//!   Kubernetes protobuf messages, so a volume nests its source under
//!   `volumeSource`); from 1.29 the same fields are plain Kubernetes JSON.
//!   The list comes from the field references the strict schemas were made
//!   from (`tests/reference/istio/istiooperator/iop-fields-<release>.json`).
//!   Every such field the render writes for 1.28 must be in the 1.28 form,
//!   and the strict 1.28 schema, which `render_real` runs over every release
//!   and Kubernetes minor, refuses the other form.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::*;
use meshbundle_core::catalog::catalog;
use meshbundle_core::render::{Inputs, render};
use meshbundle_core::spec::Site;
use meshbundle_core::tree::FileTree;
use serde_json::{Value, json};

fn at(site: &Site, kubernetes: &str, containerd: &str, istio: &str) -> Site {
    let mut s = site.clone();
    s.spec.kubernetes.version = kubernetes.into();
    s.spec.containerd.version = containerd.into();
    s.spec.istio.version = istio.into();
    let errors: Vec<_> = meshbundle_core::validate::check(&s)
        .into_iter()
        .filter(|d| d.is_error())
        .collect();
    assert!(errors.is_empty(), "{istio} on {kubernetes}: {errors:?}");
    s
}

fn docs(tree: &FileTree, path: &str) -> Vec<Value> {
    let t = String::from_utf8(tree.get(path).unwrap_or_else(|| panic!("{path}")).bytes.clone()).unwrap();
    t.split("\n---\n")
        .filter_map(|d| meshbundle_core::yaml::from_str::<Value>(d).ok())
        .filter(|v| v.is_object())
        .collect()
}

fn operator(tree: &FileTree) -> Value {
    docs(tree, "manifests/istio/istio-operator.yaml")
        .into_iter()
        .find(|d| d["kind"] == "IstioOperator")
        .unwrap()
}

fn fields(release: &str) -> Value {
    let p = repo().join(format!("tests/reference/istio/istiooperator/iop-fields-{release}.json"));
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// The `values` paths (`pilot.volumes`, `gateways.istio-ingressgateway.tolerations`)
/// whose type is a Kubernetes protobuf message, with that message.
fn protobuf_typed(release: &str) -> Vec<(String, String)> {
    let f = fields(release);
    let msgs = f["values_messages"].as_object().unwrap();
    let mut out = Vec::new();
    fn walk(
        msgs: &serde_json::Map<String, Value>,
        msg: &str,
        path: &str,
        seen: &mut Vec<String>,
        out: &mut Vec<(String, String)>,
    ) {
        for fld in msgs.get(msg).and_then(Value::as_array).into_iter().flatten() {
            let name = fld["json_name"].as_str().or(fld["name"].as_str()).unwrap();
            // The gateway keys are the chart names (`istio-ingressgateway`).
            let name = name
                .replace("istio_ingressgateway", "istio-ingressgateway")
                .replace("istio_egressgateway", "istio-egressgateway");
            let t = fld["type"].as_str().unwrap();
            let p = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            if t.starts_with("k8s.io.") {
                out.push((p, t.to_string()));
            } else if msgs.contains_key(t) && !seen.iter().any(|s| s == t) {
                seen.push(t.to_string());
                walk(msgs, t, &p, seen, out);
                seen.pop();
            }
        }
    }
    walk(msgs, "Values", "", &mut Vec::new(), &mut out);
    out.sort();
    out
}

fn lookup<'a>(v: &'a Value, dotted: &str) -> Option<&'a Value> {
    dotted.split('.').try_fold(v, |v, k| v.get(k))
}

/// The keys of a Kubernetes `VolumeSource` that sit directly in a Volume in
/// JSON, and under `volumeSource` in the protobuf form.
const VOLUME_SOURCES: &[&str] = &[
    "hostPath",
    "emptyDir",
    "secret",
    "configMap",
    "persistentVolumeClaim",
    "projected",
    "downwardAPI",
    "csi",
    "ephemeral",
    "nfs",
    "image",
];

/// The 1.28 form of one written field: a volume's source under
/// `volumeSource`; the other messages have the same JSON names in both forms.
fn assert_protobuf_form(path: &str, message: &str, v: &Value) {
    if message == "k8s.io.api.core.v1.Volume" {
        for vol in v.as_array().unwrap_or_else(|| panic!("{path} is a list")) {
            assert!(vol.get("volumeSource").is_some(), "{path}: {vol}");
            for k in VOLUME_SOURCES {
                assert!(
                    vol.get(*k).is_none(),
                    "{path}: `{k}` belongs under volumeSource for istioctl 1.28: {vol}"
                );
            }
        }
    }
}

#[test]
fn istio_1_28_takes_22_values_fields_in_protobuf_form_and_1_29_takes_none() {
    let old = protobuf_typed("1.28.10");
    assert_eq!(old.len(), 22, "{old:?}");
    for p in [
        "pilot.volumes",
        "pilot.volumeMounts",
        "pilot.tolerations",
        "global.proxy.lifecycle",
        "gateways.istio-ingressgateway.tolerations",
    ] {
        assert!(old.iter().any(|(q, _)| q == p), "{p}: {old:?}");
    }
    assert!(protobuf_typed("1.29.6").is_empty());
    assert!(protobuf_typed("1.30.3").is_empty());
}

/// Every spec of the matrix rendered for Istio 1.28: each protobuf-typed
/// values field it writes is in the 1.28 form, and the others are absent.
#[test]
fn the_1_28_install_writes_protobuf_typed_values_in_their_1_28_form() {
    let typed = protobuf_typed("1.28.10");
    let mut written = BTreeSet::new();
    for (name, site) in matrix() {
        let site = at(&site, "1.34.12", "2.2.3", "1.28.10");
        let s = secrets(&site);
        let tree = render(
            &site,
            &Inputs {
                secrets: Some(&s),
                ..Default::default()
            },
        )
        .unwrap();
        let op = operator(&tree);
        assert_eq!(op["spec"]["tag"], "1.28.10", "{name}");
        for section in ["values", "unvalidatedValues"] {
            for (path, message) in &typed {
                if let Some(v) = lookup(&op["spec"][section], path) {
                    assert_protobuf_form(&format!("{name}: spec.{section}.{path}"), message, v);
                    written.insert(path.clone());
                }
            }
        }
    }
    // Today the render writes none of them; each one added must be given its
    // form check above (and `render_real` judges it by the 1.28 schema).
    assert!(
        written.is_empty(),
        "protobuf-typed values written for 1.28: {written:?}"
    );
}

/// The strict 1.28 schema tells the two forms apart, so the schema matrix in
/// `render_real` refuses a 1.28 render that writes the Kubernetes form.
#[test]
fn the_1_28_schema_refuses_the_kubernetes_form_that_1_29_takes() {
    let site = at(&example("production"), "1.34.12", "2.2.3", "1.28.10");
    let tree = render(&site, &Inputs::default()).unwrap();
    let with_volumes = |volume: Value| {
        let mut op = operator(&tree);
        op["spec"]["values"]["pilot"]["volumes"] = json!([volume]);
        op["spec"]["values"]["pilot"]["volumeMounts"] = json!([{"name": "extra", "mountPath": "/etc/extra"}]);
        op
    };
    let kube_form = with_volumes(json!({"name": "extra", "configMap": {"name": "extra"}}));
    let proto_form = with_volumes(
        json!({"name": "extra", "volumeSource": {"configMap": {"localObjectReference": {"name": "extra"}}}}),
    );
    let judge = |release: &str, op: &Value| -> (bool, String) {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("iop.yaml");
        std::fs::write(&f, serde_json::to_string(op).unwrap()).unwrap();
        let o = Command::new("python3")
            .arg(repo().join("tests/tools/validate.py"))
            .arg("--schemas")
            .arg(repo().join(format!("tests/reference/istio/schemas-{release}")))
            .arg(&f)
            .output()
            .expect("python3 tests/tools/validate.py");
        (o.status.success(), format!("{}{}", text(&o.stdout), text(&o.stderr)))
    };
    let (ok, out) = judge("1.28.10", &operator(&tree));
    assert!(ok, "the 1.28 render as it is: {out}");
    let (ok, out) = judge("1.28.10", &kube_form);
    assert!(
        !ok && out.contains("volumes"),
        "1.28 refuses a volume in Kubernetes form: {out}"
    );
    let (ok, out) = judge("1.28.10", &proto_form);
    assert!(ok, "1.28 takes the protobuf form: {out}");
    let (ok, out) = judge("1.29.6", &kube_form);
    assert!(ok, "1.29 takes the Kubernetes form: {out}");
    assert_protobuf_form(
        "pilot.volumes",
        "k8s.io.api.core.v1.Volume",
        &proto_form["spec"]["values"]["pilot"]["volumes"],
    );
}

/// Each release installs its own images and its own tag's addons, every one
/// from the site registry, and the bundle is asked to carry exactly those.
#[test]
fn each_istio_release_installs_its_own_images_and_addons() {
    let cat = catalog();
    for istio in cat.istio_versions() {
        let rel = cat.istio(istio).unwrap();
        // The newest catalogued Kubernetes this release supports.
        let kube = cat
            .kubernetes_versions()
            .into_iter()
            .find(|k| minor(k) <= minor(&rel.kubernetes.max))
            .unwrap();
        let site = at(&example("production"), kube, "2.2.3", istio);
        let tree = render(&site, &Inputs::default()).unwrap();
        let op = operator(&tree);
        assert_eq!(op["spec"]["tag"], istio);
        assert_eq!(op["spec"]["hub"], format!("{}/istio", site.spec.registry));

        let needs = meshbundle_core::catalog::needs(&site).unwrap();
        let needed: BTreeSet<String> = needs.images.iter().map(|i| i.upstream.to_string()).collect();
        for i in &rel.images {
            assert!(
                needed.iter().any(|n| n.ends_with(i.trim_start_matches("docker.io/"))),
                "{istio}: {i} carried: {needed:?}"
            );
        }
        let mut in_addons = BTreeSet::new();
        for (name, f) in &rel.addons {
            assert!(
                needs
                    .files
                    .iter()
                    .any(|n| n.name == format!("manifest/addon-{name}") && n.url == f.url),
                "{istio}: {name}"
            );
            for i in &f.images {
                let r = meshbundle_core::image::ImageRef::parse(i).unwrap();
                in_addons.insert(format!(
                    "{}/{}:{}",
                    site.spec.registry,
                    r.repository,
                    r.tag.clone().unwrap()
                ));
            }
        }
        // The addon workloads run exactly this release's addon images.
        let mut running = BTreeSet::new();
        for (path, _) in tree.iter() {
            let addon = ["prometheus", "grafana", "jaeger", "kiali"]
                .iter()
                .any(|a| path == format!("manifests/observability/{a}.yaml"));
            if addon {
                for d in docs(&tree, path) {
                    collect_images(&d, &mut running);
                }
            }
        }
        assert_eq!(running, in_addons, "{istio}");
        for other in cat.istio_versions().into_iter().filter(|o| *o != istio) {
            let text: String = tree
                .iter()
                .map(|(_, f)| String::from_utf8_lossy(&f.bytes).into_owned())
                .collect();
            assert!(
                !text.contains(&format!("istio/pilot:{other}")) && !text.contains(&format!("istio/proxyv2:{other}")),
                "{istio}: {other}"
            );
        }
    }
}

fn minor(v: &str) -> (u64, u64) {
    let mut p = v.split('.').map(|x| x.parse::<u64>().unwrap());
    (p.next().unwrap(), p.next().unwrap())
}

fn collect_images(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "image"
                    && let Some(s) = x.as_str()
                {
                    out.insert(s.to_string());
                } else {
                    collect_images(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_images(x, out)),
        _ => {}
    }
}
