//! Rendered files judged by the programs that consume them: strict
//! Kubernetes, Istio, kubeadm, kubelet and PrometheusRule schemas, shellcheck,
//! containerd and promtool; plus the rules every output follows (no
//! placeholders, no downloads, every image from the site registry), and
//! determinism.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::*;
use meshbundle_core::image::ImageRef;
use meshbundle_core::render::{Inputs, render};
use meshbundle_core::tree::FileTree;

fn render_with_secrets(site: &meshbundle_core::spec::Site) -> FileTree {
    let s = secrets(site);
    render(
        site,
        &Inputs {
            secrets: Some(&s),
            ..Default::default()
        },
    )
    .unwrap()
}

fn kube_minor(v: &str) -> String {
    v.split('.').take(2).collect::<Vec<_>>().join(".")
}

#[test]
fn every_yaml_document_passes_the_strict_schemas_across_the_matrix() {
    for (name, site) in matrix() {
        let tree = render_with_secrets(&site);
        let dir = tempfile::tempdir().unwrap();
        write_tree(&tree, dir.path());
        let o = Command::new("python3")
            .arg(repo().join("tests/tools/validate_tree.py"))
            .args([
                "--kubernetes",
                &kube_minor(&site.spec.kubernetes.version),
                "--istio",
                &site.spec.istio.version,
            ])
            .arg(dir.path())
            .output()
            .expect("python3 tests/tools/validate_tree.py (pip install -r tests/requirements.txt)");
        let out = text(&o.stdout);
        assert!(o.status.success(), "{name}:\n{out}{}", text(&o.stderr));
        let count: usize = out
            .lines()
            .last()
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        assert!(count > 30, "{name}: only {count} documents validated");
    }
}

/// The newest catalogued patch of each Kubernetes minor an Istio release
/// supports (the catalog's range), with a containerd that supports it too.
fn supported_kubernetes(istio: &str) -> Vec<(String, &'static str)> {
    let cat = meshbundle_core::catalog::catalog();
    let minor = |v: &str| -> (u64, u64) {
        let mut p = v.split('.').map(|x| x.parse::<u64>().unwrap());
        (p.next().unwrap(), p.next().unwrap())
    };
    let range = &cat.istio(istio).unwrap().kubernetes;
    let mut out: Vec<(String, &'static str)> = Vec::new();
    for k in cat.kubernetes_versions() {
        let m = minor(k);
        if m < minor(&range.min) || m > minor(&range.max) || out.iter().any(|(o, _)| minor(o) == m) {
            continue;
        }
        let ctrd = cat
            .containerd
            .iter()
            .find(|c| m >= minor(&c.kubernetes.min) && m <= minor(&c.kubernetes.max))
            .unwrap();
        out.push((k.to_string(), ctrd.version.as_str()));
    }
    out
}

/// Every catalogued Istio release, on every Kubernetes minor it supports: the
/// production spec (and, at the newest of those minors, every spec of the
/// matrix) rendered for it is judged by that release's own schemas and that
/// Kubernetes minor's built-in schemas. Each combination is valid as a spec.
#[test]
fn each_istio_release_passes_its_own_schemas_across_its_kubernetes_range() {
    let cat = meshbundle_core::catalog::catalog();
    let mut combinations = 0;
    for istio in cat.istio_versions() {
        let kubes = supported_kubernetes(istio);
        assert!(kubes.len() >= 5, "Istio {istio}: {kubes:?}");
        for (i, (kube, ctrd)) in kubes.iter().enumerate() {
            let newest = i == 0;
            let sites: Vec<(String, meshbundle_core::spec::Site)> = if newest {
                matrix()
            } else {
                vec![("production", example("production"))]
            }
            .into_iter()
            .filter_map(|(name, mut site)| {
                site.spec.kubernetes.version = kube.clone();
                site.spec.containerd.version = ctrd.to_string();
                site.spec.istio.version = istio.to_string();
                let invalid = meshbundle_core::validate::check(&site)
                    .into_iter()
                    .filter(|d| d.is_error())
                    .collect::<Vec<_>>();
                if name == "production" {
                    assert!(
                        invalid.is_empty(),
                        "production at Kubernetes {kube}, Istio {istio}: {invalid:?}"
                    );
                }
                invalid.is_empty().then(|| (name.to_string(), site))
            })
            .collect();
            let root = tempfile::tempdir().unwrap();
            for (name, site) in &sites {
                write_tree(&render_with_secrets(site), &root.path().join(name));
            }
            let o = Command::new("python3")
                .arg(repo().join("tests/tools/validate_tree.py"))
                .args(["--kubernetes", &kube_minor(kube), "--istio", istio])
                .arg(root.path())
                .output()
                .expect("python3 tests/tools/validate_tree.py (pip install -r tests/requirements.txt)");
            let out = text(&o.stdout);
            let names: Vec<&str> = sites.iter().map(|(n, _)| n.as_str()).collect();
            assert!(
                o.status.success(),
                "Kubernetes {kube}, Istio {istio}, {names:?}:\n{out}{}",
                text(&o.stderr)
            );
            let count: usize = out
                .lines()
                .last()
                .unwrap()
                .split_whitespace()
                .nth(1)
                .unwrap()
                .parse()
                .unwrap();
            assert!(
                count > 30 * sites.len(),
                "Kubernetes {kube}, Istio {istio}: only {count} documents validated"
            );
            combinations += 1;
        }
    }
    assert!(combinations >= 15, "{combinations}");
}

#[test]
fn kubeadm_api_follows_the_kubernetes_version() {
    for (name, site) in matrix() {
        let tree = render_with_secrets(&site);
        let first = site.first_control_plane().unwrap();
        let init = String::from_utf8(
            tree.get(&format!("nodes/{}/kubeadm.yaml", first.name))
                .unwrap()
                .bytes
                .clone(),
        )
        .unwrap();
        let minor: u32 = site.spec.kubernetes.version.split('.').nth(1).unwrap().parse().unwrap();
        let want = if minor >= 31 {
            "kubeadm.k8s.io/v1beta4"
        } else {
            "kubeadm.k8s.io/v1beta3"
        };
        assert!(init.contains(&format!("apiVersion: {want}")), "{name}");
        if minor >= 31 {
            assert!(init.contains("- name: node-ip"), "{name}: v1beta4 list-style extraArgs");
        } else {
            assert!(init.contains("node-ip: "), "{name}: v1beta3 map-style extraArgs");
        }
        assert!(init.contains("cgroupDriver: systemd"), "{name}");
    }
}

#[test]
fn every_script_passes_shellcheck() {
    for (name, site) in matrix().into_iter().take(3) {
        let tree = render_with_secrets(&site);
        let dir = tempfile::tempdir().unwrap();
        write_tree(&tree, dir.path());
        let scripts: Vec<String> = tree
            .paths()
            .filter(|p| p.ends_with(".sh"))
            .map(str::to_string)
            .collect();
        assert!(scripts.len() >= 10, "{name}");
        let o = Command::new("shellcheck")
            .args(["-x", "-P", "SCRIPTDIR", "--severity=style"])
            .args(&scripts)
            .current_dir(dir.path())
            .output()
            .expect("shellcheck (apt-get install shellcheck)");
        assert!(o.status.success(), "{name}:\n{}{}", text(&o.stdout), text(&o.stderr));
    }
}

#[test]
fn containerd_1x_config_is_accepted_by_containerd() {
    let (_, site) = matrix()
        .into_iter()
        .find(|(n, _)| n.contains("containerd-1.7"))
        .unwrap();
    let tree = render(&site, &Inputs::default()).unwrap();
    let config = &tree.get("common/etc/containerd/config.toml").unwrap().bytes;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, config).unwrap();
    let o = Command::new("containerd")
        .arg("--config")
        .arg(&path)
        .args(["config", "dump"])
        .output()
        .expect("containerd (apt-get install containerd)");
    let out = text(&o.stdout);
    assert!(o.status.success(), "{}{}", out, text(&o.stderr));
    assert!(out.contains("SystemdCgroup = true"), "{out}");
    assert!(
        out.contains(&format!("sandbox_image = \"{}/pause:", site.spec.registry)),
        "{out}"
    );
    assert!(out.contains("config_path = \"/etc/containerd/certs.d\""), "{out}");
    let text = String::from_utf8(config.clone()).unwrap();
    assert!(text.contains("version = 2"));
    let (_, site2) = matrix().into_iter().find(|(n, _)| *n == "production").unwrap();
    let tree2 = render(&site2, &Inputs::default()).unwrap();
    let v3 = String::from_utf8(tree2.get("common/etc/containerd/config.toml").unwrap().bytes.clone()).unwrap();
    assert!(
        v3.contains("version = 3")
            && v3.contains("io.containerd.cri.v1.runtime")
            && v3.contains("SystemdCgroup = true")
    );
}

#[test]
fn alert_rules_pass_promtool() {
    let Ok(o) = Command::new("promtool").arg("--version").output() else {
        panic!("promtool (apt-get install prometheus) is needed");
    };
    assert!(o.status.success());
    let site = example("production");
    let tree = render(&site, &Inputs::default()).unwrap();
    let prom = String::from_utf8(
        tree.get("manifests/observability/prometheus.yaml")
            .unwrap()
            .bytes
            .clone(),
    )
    .unwrap();
    // The rules file is the `alerting_rules.yml` key of the Prometheus ConfigMap.
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&prom).unwrap();
    let cm = docs
        .iter()
        .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == "prometheus")
        .unwrap();
    let rules = cm["data"]["alerting_rules.yml"].as_str().unwrap();
    // The mesh's 5xx rule is there, on Istio's request metric, counting 5xx answers.
    let groups: serde_json::Value = serde_saphyr::from_str(rules).unwrap();
    let error_rate = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .find(|r| r["alert"] == "MeshServiceHighErrorRate")
        .unwrap_or_else(|| panic!("no MeshServiceHighErrorRate rule:\n{rules}"));
    let expr = error_rate["expr"].as_str().unwrap();
    assert!(
        expr.contains("istio_requests_total{") && expr.contains("response_code=~\"5..\""),
        "{expr}"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), rules).unwrap();
    let o = Command::new("promtool")
        .args(["check", "rules"])
        .arg(dir.path().join("rules.yml"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    // promtool finds every rule of the file.
    let n: usize = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["rules"].as_array().unwrap().len())
        .sum();
    assert!(
        n >= 8 && text(&o.stdout).contains(&format!("{n} rules found")),
        "{}",
        text(&o.stdout)
    );
    // The prometheus-operator form carries the same groups.
    let (_, large) = matrix().into_iter().find(|(n, _)| n.starts_with("large")).unwrap();
    let tree = render(&large, &Inputs::default()).unwrap();
    let pr = String::from_utf8(
        tree.get("manifests/observability/prometheus-rule.yaml")
            .unwrap()
            .bytes
            .clone(),
    )
    .unwrap();
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&pr).unwrap();
    let spec = &docs.iter().find(|d| d["kind"] == "PrometheusRule").unwrap()["spec"];
    std::fs::write(dir.path().join("op.yml"), serde_saphyr::to_string(spec).unwrap()).unwrap();
    let o = Command::new("promtool")
        .args(["check", "rules"])
        .arg(dir.path().join("op.yml"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
}

/// Every image field in every YAML document, and the images the node
/// scripts pull.
fn images_of(tree: &FileTree) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    if k == "image"
                        && let Some(s) = x.as_str()
                    {
                        out.push(s.to_string());
                    }
                    walk(x, out);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    for (path, f) in tree.iter() {
        let text = String::from_utf8_lossy(&f.bytes);
        if path.ends_with(".yaml") {
            let docs: Vec<serde_json::Value> =
                serde_saphyr::from_multiple(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
            for d in &docs {
                walk(d, &mut out);
                if d["kind"] == "IstioOperator" {
                    out.push(format!(
                        "{}/pilot:{}",
                        d["spec"]["hub"].as_str().unwrap(),
                        d["spec"]["tag"].as_str().unwrap()
                    ));
                }
            }
        }
        if path.ends_with("bootstrap.sh") {
            let line = text.lines().find(|l| l.starts_with("IMAGES=(")).unwrap();
            out.extend(
                line.trim_start_matches("IMAGES=(")
                    .trim_end_matches(')')
                    .split(' ')
                    .map(str::to_string),
            );
        }
    }
    out
}

#[test]
fn every_image_comes_from_the_site_registry_and_is_pinned_when_locked() {
    for (name, site) in matrix() {
        let tree = render_with_secrets(&site);
        let images = images_of(&tree);
        assert!(images.len() > 10, "{name}");
        for i in &images {
            assert!(i.starts_with(&format!("{}/", site.spec.registry)), "{name}: {i}");
            ImageRef::parse(i).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
    // With a lock, every image reference the cluster pulls carries its digest.
    let site = example("production");
    let needs = meshbundle_core::catalog::needs(&site).unwrap();
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
    let tree = render(
        &site,
        &Inputs {
            lock: Some(&lock),
            ..Default::default()
        },
    )
    .unwrap();
    // Each image, by its name in the site registry, and the reference that
    // pins it to its own entry of the lock (every entry has a digest of its own).
    let pinned: BTreeMap<String, String> = needs
        .images
        .iter()
        .map(|img| {
            let in_site = img.upstream.in_registry(&site.spec.registry);
            let locked = lock.image(&img.upstream.without_digest()).unwrap();
            (in_site.tagged(), in_site.with_digest(locked.site_digest()).to_string())
        })
        .collect();
    let images = images_of(&tree);
    let mut checked = 0;
    for i in &images {
        let r = ImageRef::parse(i).unwrap_or_else(|e| panic!("{e}"));
        if r.digest.is_none() && r.repository == "istio/pilot" && r.tag.as_deref() == Some(&site.spec.istio.version) {
            continue; // hub and tag; the pinned values.pilot.image is checked below
        }
        if r.tag.is_some() {
            let want = pinned
                .get(&r.tagged())
                .unwrap_or_else(|| panic!("{i} is no image of the lock"));
            assert_eq!(i, want, "not pinned to its lock entry");
        } else {
            // By digest alone (the node scripts' pulls): the digest of an
            // entry of the lock for that repository.
            let digest = r.digest.as_ref().unwrap_or_else(|| panic!("not pinned: {i}"));
            let of_repository: Vec<&String> = pinned
                .iter()
                .filter(|(tagged, _)| ImageRef::parse(tagged).unwrap().name() == r.name())
                .map(|(_, p)| p)
                .collect();
            assert!(
                of_repository.iter().any(|p| p.ends_with(&format!("@{digest}"))),
                "{i} is not pinned to a lock entry of its repository: {of_repository:?}"
            );
        }
        checked += 1;
    }
    assert!(checked > 10, "{checked} image references checked");
    // The IstioOperator pins istiod and the sidecars through its values.
    let iop_text = String::from_utf8(tree.get("manifests/istio/istio-operator.yaml").unwrap().bytes.clone()).unwrap();
    let iop: Vec<serde_json::Value> = serde_saphyr::from_multiple(&iop_text).unwrap();
    let values = &iop.iter().find(|d| d["kind"] == "IstioOperator").unwrap()["spec"]["values"];
    let istio = &site.spec.istio.version;
    let site_ref = |repo: &str| pinned[&format!("{}/{repo}:{istio}", site.spec.registry)].as_str();
    for (at, value, repo) in [
        ("values.pilot.image", &values["pilot"]["image"], "istio/pilot"),
        (
            "values.global.proxy.image",
            &values["global"]["proxy"]["image"],
            "istio/proxyv2",
        ),
        (
            "values.global.proxy_init.image",
            &values["global"]["proxy_init"]["image"],
            "istio/proxyv2",
        ),
    ] {
        assert_eq!(value, site_ref(repo), "IstioOperator {at}");
    }
    let boot = String::from_utf8(tree.get("nodes/worker-1/bootstrap.sh").unwrap().bytes.clone()).unwrap();
    assert!(
        boot.contains("declare -A FILE_SHA256=("),
        "locked renders check the carried files"
    );
}

#[test]
fn no_placeholders_and_no_downloads() {
    let placeholder = |s: &str| {
        let b = s.as_bytes();
        let mut i = 0;
        while let Some(start) = s[i..].find('<').map(|x| x + i) {
            let end = s[start + 1..].find('>').map(|x| x + start + 1);
            if let Some(end) = end {
                let inner = &s[start + 1..end];
                if !inner.is_empty() && inner.bytes().all(|c| c.is_ascii_uppercase() || c == b'_') {
                    return Some(inner.to_string());
                }
            }
            i = start + 1;
            let _ = b;
        }
        None
    };
    for (name, site) in matrix() {
        let tree = render_with_secrets(&site);
        for (path, f) in tree.iter() {
            let text = String::from_utf8_lossy(&f.bytes);
            if let Some(p) = placeholder(&text) {
                // MetalLB's BGPPeer CRD documentation quotes FRR's syntax
                // (`neighbor <peer> local-as <ASN> ...`): upstream text, not a value to fill in.
                let upstream_doc =
                    path == "manifests/metallb/metallb-native.yaml" && p == "ASN" && text.matches("<ASN>").count() == 1;
                assert!(upstream_doc, "{name}: {path} has the placeholder <{p}>");
            }
            if path.ends_with(".sh") {
                for bad in ["curl ", "wget ", "apt-get", "apt ", "yum ", "dnf ", "pip ", "git clone"] {
                    assert!(!text.contains(bad), "{name}: {path} downloads ({bad})");
                }
                for (i, _) in text.match_indices("://") {
                    let after = &text[i + 3..];
                    // The site's own nodes (etcd peer URLs) are not outside.
                    // `$address` in lib.sh is the node's own address, which
                    // the node scripts pass in (mb_kubeadm_init).
                    let node = site
                        .spec
                        .nodes
                        .iter()
                        .any(|n| after.starts_with(&format!("{}:", n.address)))
                        || (path == "common/lib.sh" && after.starts_with("$address:6443"));
                    let local = after.starts_with("127.0.0.1")
                        || after.starts_with("localhost")
                        || after.starts_with('/')
                        || node;
                    assert!(
                        local,
                        "{name}: {path} reaches out: {}",
                        &text[i.saturating_sub(8)..(i + 40).min(text.len())]
                    );
                }
            }
        }
    }
}

/// In one process, twice: the same tree (across processes, see below).
#[test]
fn rendering_is_deterministic() {
    for (name, site) in matrix() {
        let s = secrets(&site);
        let inputs = Inputs {
            secrets: Some(&s),
            ..Default::default()
        };
        let a = render(&site, &inputs).unwrap();
        let b = render(&site, &inputs).unwrap();
        assert_eq!(a, b, "{name}");
        assert_eq!(a.digest(), b.digest());
    }
}

/// Every file and directory under `dir`: its mode, and its bytes for a file.
fn snapshot(dir: &std::path::Path) -> BTreeMap<String, (u32, Option<Vec<u8>>)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            let mode = meta.permissions().mode() & 0o7777;
            if meta.is_dir() {
                stack.push(p);
                out.insert(rel, (mode, None));
            } else {
                assert!(meta.is_file(), "{rel} is not a regular file");
                out.insert(rel, (mode, Some(std::fs::read(&p).unwrap())));
            }
        }
    }
    out
}

/// The CLI renders the same bytes and modes in two processes that share
/// nothing but their inputs: other working directories, the spec given by a
/// relative and by an absolute path, other time zones, umasks, locales,
/// homes, users and `SOURCE_DATE_EPOCH`.
#[test]
fn rendering_is_deterministic_across_processes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for name in ["lab", "production"] {
        let inputs = d.join(name);
        std::fs::create_dir_all(&inputs).unwrap();
        std::fs::copy(
            repo().join(format!("core/examples/{name}.yaml")),
            inputs.join("site.yaml"),
        )
        .unwrap();
        let o = meshbundle(
            &inputs,
            &["secrets", "generate", "site.yaml", "-o", "site.secrets.yaml"],
        );
        assert!(o.status.success(), "{}", text(&o.stderr));
        let secrets = inputs.join("site.secrets.yaml");
        let runs = [
            // (working directory, spec as given, umask, environment)
            (
                inputs.clone(),
                "site.yaml".to_string(),
                "022",
                vec![
                    ("TZ", "UTC"),
                    ("LC_ALL", "C"),
                    ("HOME", "/nonexistent"),
                    ("USER", "root"),
                ],
            ),
            (
                d.join(format!("{name}-elsewhere/deeper")),
                inputs.join("site.yaml").display().to_string(),
                "077",
                vec![
                    ("TZ", "Pacific/Chatham"),
                    ("LC_ALL", "de_DE.UTF-8"),
                    ("LANG", "tr_TR.UTF-8"),
                    ("HOME", "/tmp"),
                    ("USER", "nobody"),
                    ("SOURCE_DATE_EPOCH", "1700000000"),
                ],
            ),
        ];
        let mut outputs = Vec::new();
        for (cwd, spec, umask, env) in &runs {
            std::fs::create_dir_all(cwd).unwrap();
            let o = Command::new("/bin/sh")
                .arg("-c")
                .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
                .arg(bin())
                .args(["render", spec, "--secrets"])
                .arg(&secrets)
                .args(["-o", "out", "--tar", "out.tar.gz"])
                .current_dir(cwd)
                .env_clear()
                .envs(env.iter().copied())
                .output()
                .unwrap();
            assert!(o.status.success(), "{name} in {}: {}", cwd.display(), text(&o.stderr));
            let digest = text(&o.stderr)
                .lines()
                .find_map(|l| l.strip_prefix("tree digest ").map(str::to_string))
                .unwrap();
            outputs.push((
                digest,
                std::fs::read(cwd.join("out.tar.gz")).unwrap(),
                snapshot(&cwd.join("out")),
            ));
        }
        let (a, b) = (&outputs[0], &outputs[1]);
        assert_eq!(a.0, b.0, "{name}: the tree digests differ");
        assert!(a.1 == b.1, "{name}: the .tar.gz files differ");
        assert_eq!(
            a.2.keys().collect::<Vec<_>>(),
            b.2.keys().collect::<Vec<_>>(),
            "{name}: other files"
        );
        for (path, (mode, bytes)) in &a.2 {
            let (other_mode, other_bytes) = &b.2[path];
            assert_eq!(
                mode, other_mode,
                "{name}: {path}: mode {mode:04o} against {other_mode:04o}"
            );
            assert!(bytes == other_bytes, "{name}: {path}: other bytes");
        }
        assert!(a.2.len() > 30, "{name}: {} entries", a.2.len());
    }
}

#[test]
fn secrets_and_join_configurations_agree() {
    let site = example("production");
    let s = secrets(&site);
    let tree = render(
        &site,
        &Inputs {
            secrets: Some(&s),
            ..Default::default()
        },
    )
    .unwrap();
    let hash = s.discovery_hash().unwrap();
    for n in &site.spec.nodes {
        let y = String::from_utf8(
            tree.get(&format!("nodes/{}/kubeadm.yaml", n.name))
                .unwrap()
                .bytes
                .clone(),
        )
        .unwrap();
        assert!(y.contains(s.kubeadm.token.as_str()), "{}: token", n.name);
        if n.name != "cp-1" {
            assert!(y.contains(&hash), "{}: CA hash", n.name);
        }
        if n.role == meshbundle_core::spec::Role::ControlPlane {
            assert!(
                y.contains(s.kubeadm.certificate_key.as_str()),
                "{}: certificate key",
                n.name
            );
        }
    }
    // The renew script reads the token and certificate key from the first
    // node's configuration; it carries only the token's public ID.
    let renew = String::from_utf8(tree.get("ops/renew-join-credentials.sh").unwrap().bytes.clone()).unwrap();
    let (id, secret) = s.kubeadm.token.as_str().split_once('.').unwrap();
    assert!(!renew.contains(secret) && !renew.contains(s.kubeadm.certificate_key.as_str()));
    assert!(
        renew.contains(&format!("TOKEN_ID={id}")) && renew.contains("CONFIG=\"$ROOT/nodes/$FIRST_NODE/kubeadm.yaml\""),
        "{renew}"
    );
    // Private keys and the join configurations are 0600.
    for (path, f) in tree.iter() {
        if path.ends_with(".key")
            || path.starts_with("secrets/") && path.ends_with(".yaml")
            || path.ends_with("/kubeadm.yaml")
        {
            assert_eq!(f.mode, 0o600, "{path}");
        }
    }
    // Without secrets, the files that need them are left out, and the README says so.
    let bare = render(&site, &Inputs::default()).unwrap();
    assert!(!bare.contains("nodes/worker-1/kubeadm.yaml") && !bare.paths().any(|p| p.starts_with("secrets/")));
    let readme = String::from_utf8(bare.get("README.md").unwrap().bytes.clone()).unwrap();
    assert!(readme.contains("No site secrets"));
}

/// Renders an example with its fixed secrets
/// (`tests/fixtures/NAME.secrets.yaml`) and compares every file, its bytes
/// with `tests/golden/NAME/` and its mode with `tests/golden/NAME.modes` (git
/// keeps only the executable bit, so the modes are listed there, one
/// `MODE PATH` a line). `UPDATE_GOLDEN=1` writes both again.
fn golden(name: &str) {
    let site = example(name);
    let secrets_text = std::fs::read_to_string(repo().join(format!("tests/fixtures/{name}.secrets.yaml"))).unwrap();
    let s = meshbundle_core::pki::parse_secrets(&secrets_text).unwrap();
    let tree = render(
        &site,
        &Inputs {
            secrets: Some(&s),
            ..Default::default()
        },
    )
    .unwrap();
    let golden = repo().join("tests/golden").join(name);
    let modes_file = repo().join(format!("tests/golden/{name}.modes"));
    let rendered_modes: String = tree.iter().map(|(p, f)| format!("{:04o} {p}\n", f.mode)).collect();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        let _ = std::fs::remove_dir_all(&golden);
        write_tree(&tree, &golden);
        std::fs::write(&modes_file, &rendered_modes).unwrap();
    }
    let mut on_disk = BTreeMap::new();
    for entry in walk(&golden) {
        let rel = entry.strip_prefix(&golden).unwrap().to_string_lossy().into_owned();
        on_disk.insert(rel, std::fs::read(&entry).unwrap());
    }
    let golden_modes: BTreeMap<String, u32> = std::fs::read_to_string(&modes_file)
        .unwrap_or_else(|e| panic!("{}: {e}", modes_file.display()))
        .lines()
        .map(|l| {
            let (mode, path) = l
                .split_once(' ')
                .unwrap_or_else(|| panic!("{}: `{l}`", modes_file.display()));
            (path.to_string(), u32::from_str_radix(mode, 8).unwrap())
        })
        .collect();
    let mut diffs = Vec::new();
    for (p, f) in tree.iter() {
        match on_disk.get(p) {
            None => diffs.push(format!("new file {p}")),
            Some(g) if *g != f.bytes => diffs.push(format!("changed {p}")),
            _ => {}
        }
        match golden_modes.get(p) {
            None => diffs.push(format!("no mode listed for {p}")),
            Some(m) if *m != f.mode => diffs.push(format!("mode of {p}: {:04o}, golden {m:04o}", f.mode)),
            _ => {}
        }
    }
    for p in on_disk.keys().filter(|p| !tree.contains(p)) {
        diffs.push(format!("removed {p}"));
    }
    for p in golden_modes.keys().filter(|p| !tree.contains(p)) {
        if !on_disk.contains_key(p) {
            diffs.push(format!("mode listed for a removed file {p}"));
        }
    }
    assert!(
        diffs.is_empty(),
        "rendered output differs from tests/golden/{name} and {name}.modes (review, then UPDATE_GOLDEN=1 cargo test -p meshbundle --test render_real golden):\n{}",
        diffs.join("\n")
    );
}

#[test]
fn golden_files_for_the_default_spec() {
    golden("production");
}

#[test]
fn golden_files_for_the_lab_example() {
    golden("lab");
}
