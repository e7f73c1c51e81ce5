//! What the rendered observability addons mean, read as a Kubernetes
//! engineer reads them: every addon document is parsed (with a YAML reader
//! of its own, not meshbundle's), and so are the configurations inside their
//! ConfigMaps (Grafana's grafana.ini with its environment overrides, Kiali's
//! config.yaml). Asserts who can log in, with what, what Kiali may change,
//! which Istio components it looks for, where Prometheus keeps its data, and
//! what every container pulls.

mod common;

use std::collections::BTreeMap;

use base64::Engine;
use common::{example, matrix, secrets};
use meshbundle_core::render::{Inputs, render};
use meshbundle_core::spec::Site;
use meshbundle_core::tree::FileTree;
use serde_json::Value;

const WORKLOADS: &[(&str, &str)] = &[
    ("Pod", "/spec"),
    ("Deployment", "/spec/template/spec"),
    ("StatefulSet", "/spec/template/spec"),
    ("DaemonSet", "/spec/template/spec"),
    ("ReplicaSet", "/spec/template/spec"),
    ("Job", "/spec/template/spec"),
    ("CronJob", "/spec/jobTemplate/spec/template/spec"),
];

fn text(tree: &FileTree, path: &str) -> String {
    String::from_utf8(
        tree.get(path)
            .unwrap_or_else(|| panic!("{path} is not rendered"))
            .bytes
            .clone(),
    )
    .unwrap()
}

/// Every YAML document of a file.
fn docs(text: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut push = |cur: &mut String| {
        if cur
            .lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        {
            let v: Value = serde_saphyr::from_str(cur).unwrap_or_else(|e| panic!("{e}\n{cur}"));
            if !v.is_null() {
                out.push(v);
            }
        }
        cur.clear();
    };
    for line in text.lines() {
        if line == "---" || line == "..." {
            push(&mut cur);
        } else {
            cur.push_str(line);
            cur.push('\n');
        }
    }
    push(&mut cur);
    out
}

fn addon_docs(tree: &FileTree, name: &str) -> Vec<Value> {
    docs(&text(tree, &format!("manifests/observability/{name}.yaml")))
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn pod_spec(doc: &Value) -> Option<&Value> {
    let kind = doc["kind"].as_str()?;
    WORKLOADS
        .iter()
        .find(|(k, _)| *k == kind)
        .and_then(|(_, p)| doc.pointer(p))
}

fn containers(pod: &Value) -> Vec<&Value> {
    ["initContainers", "containers", "ephemeralContainers"]
        .iter()
        .flat_map(|k| pod[*k].as_array().into_iter().flatten())
        .collect()
}

fn container<'a>(pod: &'a Value, name: &str) -> &'a Value {
    containers(pod)
        .into_iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

fn with_secrets(site: &Site) -> (FileTree, meshbundle_core::pki::SiteSecrets) {
    let s = secrets(site);
    let tree = render(
        site,
        &Inputs {
            secrets: Some(&s),
            ..Default::default()
        },
    )
    .unwrap();
    (tree, s)
}

fn locked(site: &Site) -> meshbundle_core::lock::Lock {
    let needs = meshbundle_core::catalog::needs(site).unwrap();
    let mut lock = meshbundle_core::lock::Lock::new();
    for (n, img) in needs.images.iter().enumerate() {
        lock.images.push(meshbundle_core::lock::LockedImage {
            name: img.upstream.without_digest(),
            digest: meshbundle_core::digest::Digest::parse(&format!("sha256:{:064x}", n + 1)).unwrap(),
            media_type: Default::default(),
            platforms: vec![],
            carried_digest: None,
            source: None,
        });
    }
    for f in &needs.files {
        lock.files.push(meshbundle_core::lock::LockedFile {
            name: f.name.clone(),
            url: f.url.clone(),
            sha256: f
                .sha256
                .clone()
                .unwrap_or_else(|| meshbundle_core::digest::Digest::from_hex(&"ab".repeat(32)).unwrap()),
            size: 1,
        });
    }
    lock
}

fn istio_128(mut site: Site) -> Site {
    site.metadata.name = "old-istio".into();
    site.spec.kubernetes.version = "1.29.15".into();
    site.spec.istio.version = "1.28.10".into();
    site.spec.containerd.version = "1.7.27".into();
    site
}

/// Every string anywhere in a value, with the strings of YAML held in
/// ConfigMaps parsed again.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => {
            out.push(s.clone());
            if s.contains('\n')
                && let Ok(inner) = serde_saphyr::from_str::<Value>(s)
                && !inner.is_string()
            {
                strings(&inner, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(m) => m.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

#[test]
fn every_addon_container_pulls_if_not_present_from_the_site_registry_pinned() {
    let mut sites: Vec<(String, Site, bool)> = matrix().into_iter().map(|(n, s)| (n.to_string(), s, false)).collect();
    sites.push(("production, locked".into(), example("production"), true));
    sites.push(("istio 1.28, locked".into(), istio_128(example("production")), true));
    for (name, site, lock) in sites {
        let lock = lock.then(|| locked(&site));
        let s = secrets(&site);
        let tree = render(
            &site,
            &Inputs {
                secrets: Some(&s),
                lock: lock.as_ref(),
                ..Default::default()
            },
        )
        .unwrap();
        let registry = format!("{}/", site.spec.registry);
        let mut workloads = 0;
        for (path, _) in tree.iter().filter(|(p, _)| p.starts_with("manifests/observability/")) {
            let path = path.to_string();
            for doc in docs(&text(&tree, &path)) {
                if let Some(pod) = pod_spec(&doc) {
                    workloads += 1;
                    for c in containers(pod) {
                        let what = format!(
                            "{name}: {path}: {} {} container {}",
                            doc["kind"], doc["metadata"]["name"], c["name"]
                        );
                        assert_eq!(c["imagePullPolicy"], "IfNotPresent", "{what}");
                        let image = c["image"].as_str().unwrap();
                        assert!(image.starts_with(&registry), "{what}: {image}");
                        if lock.is_some() {
                            assert!(image.contains("@sha256:"), "{what}: not pinned: {image}");
                        }
                    }
                }
                // No image of an upstream registry anywhere, ConfigMaps included.
                let mut all = Vec::new();
                strings(&doc, &mut all);
                for s in all {
                    for upstream in ["quay.io/", "docker.io/", "ghcr.io/", "gcr.io/", "registry.k8s.io/"] {
                        assert!(
                            !s.contains(upstream),
                            "{name}: {path}: {} names {upstream}: {s:.200}",
                            doc["metadata"]["name"]
                        );
                    }
                }
            }
        }
        if site.spec.observability.addons.prometheus {
            assert!(workloads >= 3, "{name}: {workloads} workloads");
        }
        // Kiali's own idea of its image is the image the Deployment runs.
        if site.spec.observability.addons.kiali {
            let k = addon_docs(&tree, "kiali");
            let config: Value =
                serde_saphyr::from_str(find(&k, "ConfigMap", "kiali")["data"]["config.yaml"].as_str().unwrap())
                    .unwrap();
            let d = &config["deployment"];
            let runs = container(pod_spec(find(&k, "Deployment", "kiali")).unwrap(), "kiali")["image"]
                .as_str()
                .unwrap()
                .to_string();
            let named = d["image_name"].as_str().unwrap();
            assert!(named.starts_with(&registry), "{name}: {named}");
            assert_eq!(d["image_pull_policy"], "IfNotPresent", "{name}");
            assert!(
                runs.starts_with(&format!("{named}:{}", d["image_version"].as_str().unwrap())),
                "{name}: {runs} vs {d}"
            );
            let digest = d["image_digest"].as_str().unwrap();
            if lock.is_some() {
                assert!(
                    digest.starts_with("sha256:") && runs.ends_with(&format!("@{digest}")),
                    "{name}: {runs} vs {digest}"
                );
            }
        }
    }
}

/// grafana.ini, then the GF_SECTION_KEY environment overrides Grafana applies on top.
fn grafana_effective(ini: &str, env: &[Value]) -> (BTreeMap<(String, String), String>, BTreeMap<String, Value>) {
    let mut out = BTreeMap::new();
    let mut section = String::new();
    for line in ini.lines().map(str::trim) {
        if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.to_string();
        } else if let Some((k, v)) = line.split_once('=') {
            out.insert((section.clone(), k.trim().to_string()), v.trim().to_string());
        }
    }
    let mut from_elsewhere = BTreeMap::new();
    for e in env {
        let name = e["name"].as_str().unwrap();
        let Some(rest) = name.strip_prefix("GF_") else { continue };
        if let Some(v) = e["value"].as_str() {
            // GF_AUTH_ANONYMOUS_ENABLED overrides [auth.anonymous] enabled, and so on.
            // The longest section whose name, upper-cased with `.` and `-` as `_`, starts the variable.
            let mut sections: Vec<String> = out.keys().map(|(s, _)| s.clone()).collect();
            sections.extend(
                [
                    "auth.anonymous",
                    "auth.basic",
                    "auth.proxy",
                    "auth",
                    "security",
                    "users",
                    "server",
                    "analytics",
                ]
                .map(String::from),
            );
            sections.sort_by_key(|s| std::cmp::Reverse(s.len()));
            let key = sections
                .iter()
                .find_map(|s| {
                    rest.strip_prefix(&format!("{}_", s.replace(['.', '-'], "_").to_uppercase()))
                        .map(|k| (s.clone(), k.to_lowercase()))
                })
                .unwrap_or_else(|| (String::from("?"), rest.to_lowercase()));
            out.insert(key, v.to_string());
        } else {
            from_elsewhere.insert(name.to_string(), e["valueFrom"].clone());
        }
    }
    (out, from_elsewhere)
}

fn secret_data(tree: &FileTree, path: &str) -> (String, BTreeMap<String, String>) {
    let d = &docs(&text(tree, path))[0];
    assert_eq!(d["kind"], "Secret");
    let data = d["data"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let b = base64::engine::general_purpose::STANDARD
                .decode(v.as_str().unwrap())
                .unwrap();
            (k.clone(), String::from_utf8(b).unwrap())
        })
        .collect();
    (d["metadata"]["name"].as_str().unwrap().to_string(), data)
}

#[test]
fn grafana_has_no_anonymous_access_and_its_admin_comes_from_the_secret() {
    for site in [example("production"), istio_128(example("production"))] {
        let (tree, s) = with_secrets(&site);
        let g = addon_docs(&tree, "grafana");
        let ini = find(&g, "ConfigMap", "grafana")["data"]["grafana.ini"]
            .as_str()
            .unwrap();
        let pod = pod_spec(find(&g, "Deployment", "grafana")).unwrap();
        let env = container(pod, "grafana")["env"].as_array().unwrap().clone();
        let (eff, refs) = grafana_effective(ini, &env);
        let get = |s: &str, k: &str| eff.get(&(s.to_string(), k.to_string())).map(String::as_str);
        assert_eq!(get("auth.anonymous", "enabled"), Some("false"), "{eff:?}");
        assert_eq!(get("auth.anonymous", "org_role"), None, "{eff:?}");
        assert_ne!(get("auth", "disable_login_form"), Some("true"), "{eff:?}");
        assert_eq!(get("users", "allow_sign_up"), Some("false"), "{eff:?}");
        assert!(
            !eff.keys().any(|(s, k)| s == "security" && k.starts_with("admin_")),
            "an administrator set in plain text: {eff:?}"
        );
        // The administrator comes from the rendered Secret, 0600, with the site's values.
        let file = "secrets/addon-credentials.yaml";
        assert_eq!(tree.get(file).unwrap().mode, 0o600);
        let (secret, data) = secret_data(&tree, file);
        let a = s.addons.as_ref().unwrap();
        for (var, want) in [
            ("GF_SECURITY_ADMIN_USER", a.grafana.admin_user.as_str()),
            ("GF_SECURITY_ADMIN_PASSWORD", a.grafana.admin_password.as_str()),
        ] {
            let r = &refs
                .get(var)
                .unwrap_or_else(|| panic!("{var} is not set from a Secret: {env:?}"))["secretKeyRef"];
            assert_eq!(r["name"], secret.as_str());
            assert_eq!(
                data.get(r["key"].as_str().unwrap()).map(String::as_str),
                Some(want),
                "{var}"
            );
        }
        // Never inline: no manifest outside secrets/ holds the password or the signing key.
        for (path, f) in tree.iter().filter(|(p, _)| !p.starts_with("secrets/")) {
            let t = String::from_utf8_lossy(&f.bytes);
            assert!(
                !t.contains(a.grafana.admin_password.as_str()) && !t.contains(a.kiali.signing_key.as_str()),
                "{path} holds a credential"
            );
        }
        // install.sh applies the Secret before the addons.
        let install = text(&tree, "install.sh");
        let secret_at = install
            .find(&format!("mb_apply \"$HERE/{file}\""))
            .expect("install.sh applies the addon credentials");
        let addons_at = install
            .find("\"$HERE\"/manifests/observability/")
            .expect("install.sh applies the addons");
        assert!(secret_at < addons_at);
    }
}

fn kiali_config(tree: &FileTree) -> Value {
    let k = addon_docs(tree, "kiali");
    serde_saphyr::from_str(find(&k, "ConfigMap", "kiali")["data"]["config.yaml"].as_str().unwrap()).unwrap()
}

/// `(api group, resource, verb)` the Kiali service account may use, cluster-wide or in a namespace.
fn kiali_grants(tree: &FileTree) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for d in addon_docs(tree, "kiali")
        .iter()
        .filter(|d| d["kind"] == "ClusterRole" || d["kind"] == "Role")
    {
        for r in d["rules"].as_array().into_iter().flatten() {
            for g in r["apiGroups"].as_array().into_iter().flatten() {
                for res in r["resources"].as_array().into_iter().flatten() {
                    for v in r["verbs"].as_array().into_iter().flatten() {
                        out.push((
                            g.as_str().unwrap().into(),
                            res.as_str().unwrap().into(),
                            v.as_str().unwrap().into(),
                        ));
                    }
                }
            }
        }
    }
    out
}

#[test]
fn kiali_logs_in_with_a_kubernetes_token_and_is_view_only_unless_told() {
    for site in [example("production"), istio_128(example("production"))] {
        let (tree, s) = with_secrets(&site);
        let config = kiali_config(&tree);
        assert_eq!(config["auth"]["strategy"], "token", "{}", site.spec.istio.version);
        assert_eq!(config["deployment"]["view_only_mode"], true);
        let writes: Vec<_> = kiali_grants(&tree)
            .into_iter()
            .filter(|(_, r, v)| {
                !(matches!(v.as_str(), "get" | "list" | "watch")
                    || r == "tokenreviews"
                    || r == "pods/portforward"
                    || r.ends_with("subjectaccessreviews"))
            })
            .collect();
        assert!(
            writes.is_empty(),
            "a view-only Kiali's service account can write: {writes:?}"
        );
        // Sessions are signed with the site's key, read from the Secret, not the sample's CHANGEME.
        assert!(
            config["login_token"].get("signing_key").is_none_or(Value::is_null),
            "{}",
            config["login_token"]
        );
        let k = addon_docs(&tree, "kiali");
        let pod = pod_spec(find(&k, "Deployment", "kiali")).unwrap();
        let mount = container(pod, "kiali")["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["mountPath"] == "/kiali-override-secrets/login-token-signing-key")
            .expect("the signing key is mounted where Kiali reads it");
        let volume = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == mount["name"])
            .unwrap();
        let (secret, data) = secret_data(&tree, "secrets/addon-credentials.yaml");
        assert_eq!(volume["secret"]["secretName"], secret.as_str());
        assert_ne!(volume["secret"]["optional"], true);
        let item = volume["secret"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["path"] == "value.txt")
            .unwrap();
        let key = data.get(item["key"].as_str().unwrap()).unwrap();
        assert_eq!(key, s.addons.as_ref().unwrap().kiali.signing_key.as_str());
        assert!(
            [16, 24, 32].contains(&key.len()),
            "Kiali takes signing keys of 16, 24 or 32 bytes"
        );
    }
    // viewOnly: false gives Kiali back its writes.
    let mut site = example("production");
    site.spec.observability.kiali.view_only = false;
    let (tree, _) = with_secrets(&site);
    assert_eq!(kiali_config(&tree)["deployment"]["view_only_mode"], false);
    assert!(
        kiali_grants(&tree)
            .iter()
            .any(|(g, _, v)| g == "networking.istio.io" && v == "patch")
    );
}

fn operator_revision(tree: &FileTree) -> String {
    let iop = &docs(&text(tree, "manifests/istio/istio-operator.yaml"))[0];
    iop["spec"]["revision"]
        .as_str()
        .expect("the IstioOperator names its revision")
        .to_string()
}

#[test]
fn kiali_finds_the_revisioned_control_plane() {
    // Every catalogued Istio ships Kiali 2.x (1.28: v2.17, 1.29: v2.21, 1.30:
    // v2.26), which has no name settings for the control plane (kiali/kiali
    // v2.26.0 config/config.go): it finds every istiod by its app=istiod and
    // istio.io/rev labels, which the revisioned install sets, and derives the
    // config map names from the revision. So the config names none.
    for istio_version in meshbundle_core::catalog::catalog().istio_versions() {
        for revision in [None, Some("canary-7")] {
            let mut site = istio_128(example("production"));
            site.spec.istio.version = istio_version.to_string();
            site.spec.kubernetes.version = "1.33.13".into();
            site.spec.containerd.version = "2.2.3".into();
            site.spec.istio.revision = revision.map(str::to_string);
            let (tree, _) = with_secrets(&site);
            let rev = operator_revision(&tree);
            assert!(!rev.is_empty());
            let config = kiali_config(&tree);
            let image = config["deployment"]["image_version"].as_str().unwrap();
            assert!(image.starts_with("v2."), "Istio {istio_version}: Kiali {image}");
            let istio = &config["external_services"]["istio"];
            for stale in [
                "istiod_deployment_name",
                "config_map_name",
                "istio_sidecar_injector_config_map_name",
                "component_status",
            ] {
                assert!(
                    istio.get(stale).is_none(),
                    "Istio {istio_version}: Kiali 2 ignores {stale}: {istio}"
                );
            }
            assert_eq!(istio["root_namespace"], "istio-system");
        }
    }
    // Identities are in the cluster's own domain.
    let mut site = istio_128(example("production"));
    site.spec.kubernetes.cluster_domain = "corp.local".into();
    let (tree, _) = with_secrets(&site);
    assert_eq!(
        kiali_config(&tree)["external_services"]["istio"]["istio_identity_domain"],
        "svc.corp.local"
    );
    // Kiali 2.x has no such settings (kiali/kiali v2.26.0 config/config.go): it
    // finds every istiod by its app=istiod and istio.io/rev labels, which the
    // revisioned install sets, and derives the config map names from the revision.
    let (tree, _) = with_secrets(&example("production"));
    let istio = &kiali_config(&tree)["external_services"]["istio"];
    for stale in [
        "istiod_deployment_name",
        "config_map_name",
        "istio_sidecar_injector_config_map_name",
    ] {
        assert!(istio.get(stale).is_none(), "Kiali 2 ignores {stale}: {istio}");
    }
}

fn prometheus_deployment(docs: &[Value]) -> &Value {
    find(docs, "Deployment", "prometheus")
}

fn data_volume(pod: &Value) -> Value {
    let server = containers(pod)
        .into_iter()
        .find(|c| {
            c["args"].as_array().is_some_and(|a| {
                a.iter()
                    .any(|x| x.as_str().unwrap_or("").starts_with("--storage.tsdb.path"))
            })
        })
        .unwrap();
    let path = server["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .find_map(|a| a.strip_prefix("--storage.tsdb.path="))
        .unwrap();
    let mount = server["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == path)
        .unwrap();
    pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap()
        .clone()
}

fn arg(pod: &Value, prefix: &str) -> Vec<String> {
    containers(pod)
        .into_iter()
        .flat_map(|c| c["args"].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .filter_map(|a| a.strip_prefix(prefix).map(str::to_string))
        .collect()
}

fn mib(q: &str) -> f64 {
    let (n, unit) = q.split_at(q.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(q.len()));
    let n: f64 = n.parse().unwrap();
    n * match unit {
        "Gi" => 1024.0,
        "Ti" => 1024.0 * 1024.0,
        "Mi" | "MB" => 1.0,
        "GB" => 1024.0,
        other => panic!("unit {other}"),
    }
}

#[test]
fn prometheus_keeps_its_data_where_and_as_long_as_the_spec_says() {
    for site in [example("production"), istio_128(example("production"))] {
        let mut site = site;
        site.spec.observability.prometheus.retention = "30d".into();
        site.spec.observability.prometheus.storage.storage_class_name = Some("fast-ssd".into());
        site.spec.observability.prometheus.storage.size = "200Gi".into();
        let (tree, _) = with_secrets(&site);
        let p = addon_docs(&tree, "prometheus");
        let d = prometheus_deployment(&p);
        let pod = pod_spec(d).unwrap();
        assert_eq!(arg(pod, "--storage.tsdb.retention.time="), ["30d"]);
        let cap = arg(pod, "--storage.tsdb.retention.size=");
        assert_eq!(cap.len(), 1);
        assert!(
            mib(&cap[0]) < mib("200Gi"),
            "Prometheus must stop before the volume is full: {cap:?}"
        );
        let volume = data_volume(pod);
        let claim_name = volume["persistentVolumeClaim"]["claimName"]
            .as_str()
            .expect("the data is on a claim");
        let claim = find(&p, "PersistentVolumeClaim", claim_name);
        assert_eq!(claim["metadata"]["namespace"], d["metadata"]["namespace"]);
        assert_eq!(claim["spec"]["storageClassName"], "fast-ssd");
        assert_eq!(claim["spec"]["resources"]["requests"]["storage"], "200Gi");
        assert_eq!(claim["spec"]["accessModes"], serde_json::json!(["ReadWriteOnce"]));
        // A ReadWriteOnce claim cannot be held by the old and the new pod at once.
        assert_eq!(d["spec"]["strategy"]["type"], "Recreate");
        assert!(d["spec"]["replicas"].as_u64().unwrap_or(1) <= 1);
        // The image runs as nobody: it must be able to write the new volume.
        assert_eq!(pod["securityContext"]["fsGroup"], 65534);
    }
    // No storage class: a size-limited emptyDir, and the file says so.
    let (tree, _) = with_secrets(&example("production"));
    let p = addon_docs(&tree, "prometheus");
    let pod = pod_spec(prometheus_deployment(&p)).unwrap();
    assert_eq!(arg(pod, "--storage.tsdb.retention.time="), ["15d"]);
    let volume = data_volume(pod);
    assert_eq!(volume["emptyDir"]["sizeLimit"], "50Gi");
    assert!(mib(&arg(pod, "--storage.tsdb.retention.size=")[0]) < mib("50Gi"));
    assert!(!p.iter().any(|d| d["kind"] == "PersistentVolumeClaim"));
    assert!(text(&tree, "manifests/observability/prometheus.yaml").contains("# WARNING: no storage class"));
}

#[test]
fn bad_prometheus_settings_are_refused_with_their_field_paths() {
    let base = std::fs::read_to_string(common::repo().join("core/examples/production.yaml")).unwrap();
    let spec = base
        .replace("      retention: 15d\n", "      retention: 15 days\n")
        .replace(
            "        # storageClassName: local-storage\n        size: 50Gi\n",
            "        storageClassName: Fast_SSD\n        size: lots\n",
        );
    assert_ne!(spec, base);
    let loaded = meshbundle_core::spec::load::load(&spec);
    let mut errors: Vec<String> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.path.clone())
        .collect();
    if let Some(site) = &loaded.site {
        errors.extend(
            meshbundle_core::validate::check(site)
                .into_iter()
                .filter(|d| d.is_error())
                .map(|d| d.path),
        );
    }
    for path in [
        "spec.observability.prometheus.retention",
        "spec.observability.prometheus.storage.storageClassName",
        "spec.observability.prometheus.storage.size",
    ] {
        assert!(errors.iter().any(|p| p == path), "{path} not reported: {errors:?}");
    }
}

#[test]
fn secrets_without_addon_credentials_are_refused_and_rotate_adds_them() {
    let site = example("production");
    let mut old = secrets(&site);
    old.addons = None;
    let problems = old.check(&site, old.created);
    let p = problems
        .iter()
        .find(|d| d.path == "addons")
        .expect("missing credentials are reported");
    assert!(p.hint.contains("meshbundle secrets rotate"), "{}", p.hint);
    let err = render(
        &site,
        &Inputs {
            secrets: Some(&old),
            ..Default::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("addons"), "{err}");
    // An old file reads (the block is optional) ...
    let written = meshbundle_core::pki::write_secrets(&old).unwrap();
    let read = meshbundle_core::pki::parse_secrets(&written).unwrap();
    assert!(read.addons.is_none());
    // ... and rotate adds the credentials, keeping them once there.
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let rotated = meshbundle_core::pki::rotate(&site, &read, common::now(), &mut rng).unwrap();
    let added = rotated.addons.clone().expect("rotate adds the addon credentials");
    assert!(rotated.check(&site, rotated.created).iter().all(|d| !d.is_error()));
    let again = meshbundle_core::pki::rotate(&site, &rotated, common::now(), &mut rng).unwrap();
    assert!(again.addons == Some(added), "rotate keeps existing addon credentials");
    // A site without Grafana and Kiali does not need them.
    let mut bare = site.clone();
    bare.spec.observability.addons.grafana = false;
    bare.spec.observability.addons.kiali = false;
    assert!(old.check(&bare, old.created).iter().all(|d| d.path != "addons"));
    // A damaged value is refused when read, naming the field.
    let bad = written.clone()
        + "addons:\n  grafana:\n    adminUser: admin\n    adminPassword: short\n  kiali:\n    signingKey: CHANGEME00000000\n";
    let e = meshbundle_core::pki::parse_secrets(&bad).unwrap_err().to_string();
    assert!(e.contains("addons.grafana.adminPassword"), "{e}");
}

#[test]
fn addons_with_a_claim_and_a_writable_kiali_pass_the_strict_schemas() {
    for site in [example("production"), istio_128(example("production"))] {
        let mut site = site;
        site.spec.observability.prometheus.storage.storage_class_name = Some("fast-ssd".into());
        site.spec.observability.kiali.view_only = false;
        let (tree, _) = with_secrets(&site);
        let dir = tempfile::tempdir().unwrap();
        common::write_tree(&tree, dir.path());
        let minor = site
            .spec
            .kubernetes
            .version
            .split('.')
            .take(2)
            .collect::<Vec<_>>()
            .join(".");
        let o = std::process::Command::new("python3")
            .arg(common::repo().join("tests/tools/validate_tree.py"))
            .args(["--kubernetes", &minor, "--istio", &site.spec.istio.version])
            .arg(dir.path())
            .output()
            .expect("python3 tests/tools/validate_tree.py");
        assert!(
            o.status.success(),
            "{}\n{}",
            common::text(&o.stdout),
            common::text(&o.stderr)
        );
    }
}

/// The upgrade path of a secrets file written before the addon credentials,
/// as a user meets it on the command line.
#[test]
fn an_older_secrets_file_is_refused_by_render_and_upgraded_by_rotate() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(common::meshbundle(d, &["init", "-o", "site.yaml"]).status.success());
    let o = common::meshbundle(d, &["secrets", "generate", "site.yaml", "-o", "site.secrets.yaml"]);
    assert!(o.status.success(), "{}", common::text(&o.stderr));
    // What an older meshbundle wrote: the same file without the addons block.
    let mut old =
        meshbundle_core::pki::parse_secrets(&std::fs::read_to_string(d.join("site.secrets.yaml")).unwrap()).unwrap();
    old.addons = None;
    std::fs::write(
        d.join("site.secrets.yaml"),
        meshbundle_core::pki::write_secrets(&old).unwrap(),
    )
    .unwrap();
    std::fs::set_permissions(d.join("site.secrets.yaml"), std::fs::Permissions::from_mode(0o600)).unwrap();

    let o = common::meshbundle(
        d,
        &["render", "site.yaml", "--secrets", "site.secrets.yaml", "-o", "out"],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = common::text(&o.stderr);
    assert!(
        err.contains("addons") && err.contains("meshbundle secrets rotate"),
        "{err}"
    );

    let o = common::meshbundle(d, &["secrets", "rotate", "site.yaml", "--secrets", "site.secrets.yaml"]);
    assert!(o.status.success(), "{}", common::text(&o.stderr));
    assert!(common::text(&o.stderr).contains("added the Grafana and Kiali credentials"));
    let new =
        meshbundle_core::pki::parse_secrets(&std::fs::read_to_string(d.join("site.secrets.yaml")).unwrap()).unwrap();
    assert_eq!(new.kubeadm.ca, old.kubeadm.ca);
    assert_eq!(new.istio.root, old.istio.root);
    let a = new.addons.expect("rotate added them");
    let o = common::meshbundle(
        d,
        &["render", "site.yaml", "--secrets", "site.secrets.yaml", "-o", "out"],
    );
    assert!(o.status.success(), "{}", common::text(&o.stderr));
    let secret = d.join("out/secrets/addon-credentials.yaml");
    assert_eq!(std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777, 0o600);
    let t = std::fs::read_to_string(&secret).unwrap();
    let data: Vec<String> = docs(&t)[0]["data"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| {
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(v.as_str().unwrap())
                    .unwrap(),
            )
            .unwrap()
        })
        .collect();
    assert!(data.iter().any(|v| v == a.grafana.admin_password.as_str()));
    assert!(data.iter().any(|v| v == a.kiali.signing_key.as_str()));
}
