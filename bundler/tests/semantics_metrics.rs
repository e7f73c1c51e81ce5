//! Resource metrics: metrics-server and the kubelet serving certificates it
//! checks. The approval script is run for real under bash with real
//! openssl-made certificate requests (kubectl is a stub that serves them and
//! records what is approved); install.sh cluster and ops/verify.sh run
//! against recording stubs; a build against the local registry carries the
//! image.

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use meshbundle_core::diag::Diagnostic;
use meshbundle_core::lock::{Lock, LockedFile, LockedImage};
use meshbundle_core::render::{Inputs, render};
use meshbundle_core::spec::Site;
use meshbundle_core::tree::FileTree;
use serde_json::Value;

const SIGNER: &str = "kubernetes.io/kubelet-serving";

/// A lock for everything the site needs, with made-up digests.
fn lock_for(site: &Site) -> Lock {
    let needs = meshbundle_core::catalog::needs(site).unwrap();
    let mut lock = Lock::new();
    for (i, img) in needs.images.iter().enumerate() {
        lock.images.push(LockedImage {
            name: img.upstream.without_digest(),
            digest: meshbundle_core::digest::Digest::parse(&format!("sha256:{:064x}", i + 1)).unwrap(),
            media_type: Default::default(),
            platforms: vec![],
            carried_digest: None,
            source: None,
        });
    }
    for f in &needs.files {
        let sha = f
            .sha256
            .clone()
            .unwrap_or_else(|| meshbundle_core::digest::Digest::from_hex(&"ab".repeat(32)).unwrap());
        lock.files.push(LockedFile {
            name: f.name.clone(),
            url: f.url.clone(),
            sha256: sha,
            size: 0,
        });
    }
    lock
}

fn tree_of(site: &Site) -> FileTree {
    let lock = lock_for(site);
    render(
        site,
        &Inputs {
            lock: Some(&lock),
            ..Default::default()
        },
    )
    .unwrap()
}

fn file(tree: &FileTree, path: &str) -> String {
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
    text.split("\n---\n")
        .filter(|d| {
            d.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#') && l.trim() != "---")
        })
        .map(|d| serde_saphyr::from_str::<Value>(d.trim_start_matches("---\n")).unwrap_or_else(|e| panic!("{e}\n{d}")))
        .collect()
}

fn kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn errors_and_warnings(site: &Site) -> Vec<Diagnostic> {
    meshbundle_core::validate::check(site)
}

fn at<'a>(diags: &'a [Diagnostic], path: &str) -> Vec<&'a Diagnostic> {
    diags.iter().filter(|d| d.path == path).collect()
}

// ------------------------------------------------------------------ the kubelet and metrics-server

#[test]
fn every_kubelet_asks_for_a_serving_certificate_from_the_cluster() {
    for (name, site) in matrix() {
        let tree = tree_of(&site);
        let first = site.first_control_plane().unwrap();
        let init = docs(&file(&tree, &format!("nodes/{}/kubeadm.yaml", first.name)));
        let kubelet = kind(&init, "KubeletConfiguration");
        assert_eq!(kubelet.len(), 1, "{name}");
        // kubeadm uploads this KubeletConfiguration for every node that joins.
        assert_eq!(kubelet[0]["serverTLSBootstrap"], true, "{name}");
        assert_eq!(kubelet[0]["rotateCertificates"], true, "{name}");
    }
}

#[test]
fn metrics_server_reads_kubelets_over_verified_tls_from_the_pinned_image() {
    for (name, site) in matrix() {
        let lock = lock_for(&site);
        let tree = tree_of(&site);
        let d = docs(&file(&tree, "manifests/metrics-server/metrics-server.yaml"));
        let deploy = kind(&d, "Deployment");
        assert_eq!(deploy.len(), 1, "{name}");
        let deploy = deploy[0];
        assert_eq!(deploy["metadata"]["namespace"], "kube-system");
        let c = &deploy["spec"]["template"]["spec"]["containers"][0];
        let args: Vec<&str> = c["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert!(!args.iter().any(|a| a.contains("insecure")), "{name}: {args:?}");
        for want in [
            "--kubelet-preferred-address-types=InternalIP",
            "--kubelet-use-node-status-port",
            "--metric-resolution=15s",
            "--secure-port=10250",
        ] {
            assert!(args.contains(&want), "{name}: {want} not in {args:?}");
        }
        // No CA flag: it checks the kubelets against the cluster CA of its service account.
        assert!(
            !args.iter().any(|a| a.starts_with("--kubelet-certificate-authority")),
            "{name}"
        );
        // The image: the catalog's release for this Kubernetes version, from the site registry by its locked digest.
        let minor: u32 = site.spec.kubernetes.version.split('.').nth(1).unwrap().parse().unwrap();
        let tag = if minor >= 31 { "v0.8.1" } else { "v0.7.2" };
        let upstream = format!("registry.k8s.io/metrics-server/metrics-server:{tag}");
        let locked = lock
            .image(&upstream.parse().unwrap())
            .unwrap_or_else(|| panic!("{name}: {upstream} is not locked"));
        assert_eq!(
            c["image"].as_str().unwrap(),
            format!(
                "{}/metrics-server/metrics-server:{tag}@{}",
                site.spec.registry,
                locked.digest.as_str()
            ),
            "{name}"
        );
        assert_eq!(c["imagePullPolicy"], "IfNotPresent", "{name}");
        // Selectors and the Service select the pods.
        assert_eq!(
            deploy["spec"]["selector"]["matchLabels"], deploy["spec"]["template"]["metadata"]["labels"],
            "{name}"
        );
        let svc = kind(&d, "Service")[0];
        assert_eq!(
            svc["spec"]["selector"], deploy["spec"]["selector"]["matchLabels"],
            "{name}"
        );
        let api = kind(&d, "APIService")[0];
        assert_eq!(api["metadata"]["name"], "v1beta1.metrics.k8s.io");
        assert_eq!(api["spec"]["service"]["name"], svc["metadata"]["name"]);
        // The APIService comes after what it serves.
        let names: Vec<&str> = d.iter().map(|x| x["kind"].as_str().unwrap()).collect();
        assert_eq!(names.last(), Some(&"APIService"), "{name}");
    }
}

#[test]
fn replicas_spread_one_per_node_with_a_budget_only_where_two_nodes_run_workloads() {
    // The production example: three workers, two replicas, each on its own node.
    let prod = example("production");
    let d = docs(&file(&tree_of(&prod), "manifests/metrics-server/metrics-server.yaml"));
    let deploy = kind(&d, "Deployment")[0];
    assert_eq!(deploy["spec"]["replicas"], 2);
    let anti = &deploy["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        [0];
    assert_eq!(anti["topologyKey"], "kubernetes.io/hostname");
    assert_eq!(
        anti["labelSelector"]["matchLabels"],
        deploy["spec"]["selector"]["matchLabels"]
    );
    let pdb = kind(&d, "PodDisruptionBudget");
    assert_eq!(pdb.len(), 1);
    assert_eq!(pdb[0]["apiVersion"], "policy/v1");
    assert_eq!(pdb[0]["spec"]["minAvailable"], 1);
    assert_eq!(pdb[0]["spec"]["selector"], deploy["spec"]["selector"]);

    // The lab: one node, one replica, no budget (it would block the drain).
    let lab = example("lab");
    assert!(lab.spec.observability.metrics_server.replicas.is_none());
    let d = docs(&file(&tree_of(&lab), "manifests/metrics-server/metrics-server.yaml"));
    let deploy = kind(&d, "Deployment")[0];
    assert_eq!(deploy["spec"]["replicas"], 1);
    assert!(deploy["spec"]["template"]["spec"].get("affinity").is_none());
    assert!(kind(&d, "PodDisruptionBudget").is_empty());

    // Three control-plane nodes and no workers: every node runs workloads, two replicas by default.
    let mut cps = prod.clone();
    cps.spec
        .nodes
        .retain(|n| n.role == meshbundle_core::spec::Role::ControlPlane);
    cps.spec.observability.metrics_server.replicas = None;
    let d = docs(&file(&tree_of(&cps), "manifests/metrics-server/metrics-server.yaml"));
    assert_eq!(kind(&d, "Deployment")[0]["spec"]["replicas"], 2);
    assert_eq!(kind(&d, "PodDisruptionBudget").len(), 1);
}

#[test]
fn validation_warns_of_hpas_without_metrics_and_refuses_replicas_with_no_node_of_their_own() {
    let mut off = example("production");
    off.spec.observability.metrics_server.enabled = false;
    let diags = errors_and_warnings(&off);
    let w = at(&diags, "spec.observability.metricsServer.enabled");
    assert_eq!(w.len(), 1, "{diags:#?}");
    assert!(!w[0].is_error());
    for hpa in [
        "spec.istio.istiod.hpa",
        "spec.istio.ingressGateway.hpa",
        "spec.istio.egressGateway.hpa",
    ] {
        assert!(w[0].message.contains(hpa), "{}", w[0].message);
    }
    // Off with no HPA on: nothing to say.
    let mut lab = example("lab");
    lab.spec.observability.metrics_server.enabled = false;
    assert!(at(&errors_and_warnings(&lab), "spec.observability.metricsServer.enabled").is_empty());

    // Off: no manifest, no image in the lock, no install step; the approver stays (the kubelets still ask).
    let tree = tree_of(&off);
    assert!(tree.get("manifests/metrics-server/metrics-server.yaml").is_none());
    assert!(
        !meshbundle_core::catalog::needs(&off)
            .unwrap()
            .images
            .iter()
            .any(|i| i.upstream.to_string().contains("metrics-server"))
    );
    assert!(!file(&tree, "install.sh").contains("metrics-server.yaml"));
    assert!(file(&tree, "install.sh").contains("ops/approve-kubelet-csrs.sh"));
    assert!(tree.get("ops/approve-kubelet-csrs.sh").is_some());

    // More replicas than nodes that run workloads.
    let mut lab = example("lab");
    lab.spec.observability.metrics_server.replicas = Some(2);
    let diags = errors_and_warnings(&lab);
    let e = at(&diags, "spec.observability.metricsServer.replicas");
    assert!(
        e.len() == 1 && e[0].is_error() && e[0].message.contains("only 1 node"),
        "{diags:#?}"
    );
    let mut prod = example("production");
    prod.spec.observability.metrics_server.replicas = Some(4);
    assert_eq!(
        at(&errors_and_warnings(&prod), "spec.observability.metricsServer.replicas").len(),
        1
    );
    prod.spec.observability.metrics_server.replicas = Some(3);
    assert!(at(&errors_and_warnings(&prod), "spec.observability.metricsServer.replicas").is_empty());
    prod.spec.observability.metrics_server.replicas = Some(0);
    assert_eq!(
        at(&errors_and_warnings(&prod), "spec.observability.metricsServer.replicas").len(),
        1
    );

    // The spec text is checked with its field path.
    let text = std::fs::read_to_string(repo().join("core/examples/lab.yaml")).unwrap()
        + "  observability:\n    metricsServer:\n      replicas: 0\n      insecure: true\n";
    let loaded = meshbundle_core::spec::load::load(&text);
    let paths: Vec<String> = loaded.diagnostics.iter().map(|d| d.path.clone()).collect();
    assert!(
        paths.iter().any(|p| p == "spec.observability.metricsServer.insecure"),
        "{paths:?}"
    );
    assert!(
        paths.iter().any(|p| p == "spec.observability.metricsServer.replicas"),
        "{paths:?}"
    );
}

// ------------------------------------------------------------------ the approval script

struct Csr {
    name: String,
    signer: String,
    user: String,
    groups: String,
    usages: String,
    /// The PEM request, base64 as the API holds it.
    request: String,
}

fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(o.status.success(), "openssl {args:?}: {}", text(&o.stderr));
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A certificate request made by openssl with a new P-256 key: the subject
/// and the subjectAltName entries as an openssl configuration writes them
/// (one `KEY = value` line each under `[alt]`).
fn make_request(dir: &Path, id: &str, subject: &[(&str, &str)], alt: &[(&str, &str)]) -> Vec<u8> {
    let key = format!("{id}.key");
    openssl(
        dir,
        &["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", &key],
    );
    let mut conf = String::from("[req]\ndistinguished_name = dn\nreq_extensions = ext\nprompt = no\n[dn]\n");
    for (k, v) in subject {
        conf.push_str(&format!("{k} = {v}\n"));
    }
    conf.push_str("[ext]\n");
    if !alt.is_empty() {
        conf.push_str("subjectAltName = @alt\n[alt]\n");
        for (k, v) in alt {
            conf.push_str(&format!("{k} = {v}\n"));
        }
    }
    std::fs::write(dir.join(format!("{id}.cnf")), conf).unwrap();
    let out = format!("{id}.csr");
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            &key,
            "-config",
            &format!("{id}.cnf"),
            "-out",
            &out,
        ],
    );
    std::fs::read(dir.join(out)).unwrap()
}

fn node_request(dir: &Path, id: &str, node: &str, address: &str) -> Vec<u8> {
    let cn = format!("system:node:{node}");
    make_request(
        dir,
        id,
        &[("O", "system:nodes"), ("CN", &cn)],
        &[("DNS.1", node), ("IP.1", address)],
    )
}

fn kubelet_csr(name: &str, node: &str, request: &[u8]) -> Csr {
    Csr {
        name: name.into(),
        signer: SIGNER.into(),
        user: format!("system:node:{node}"),
        groups: "system:nodes,system:authenticated,".into(),
        usages: "digital signature,server auth,".into(),
        request: b64(request),
    }
}

/// Go's `%q` for the strings of these tests: quotes, and backslash escapes
/// for quotes, backslashes and control characters.
fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

const KUBECTL_STUB: &str = r#"#!/bin/sh
printf 'kubectl %s\n' "$*" >>"$MB_DIR/calls"
case "$*" in
  "get csr -o go-template="*)
    # The pending requests, as the script's template lists them.
    cat "$MB_DIR/csrs" ;;
  "certificate approve "*) echo "$3" >>"$MB_DIR/approved" ;;
  *"top nodes"*)
    cat "$MB_DIR/top" 2>/dev/null
    exit "$(cat "$MB_DIR/top.rc" 2>/dev/null || echo 0)" ;;
  *"get hpa"*) cat "$MB_DIR/hpa" 2>/dev/null ;;
  *"get peerauthentication"*) printf STRICT ;;
esac
exit 0
"#;

const RECORDING_STUB: &str = "#!/bin/sh\nprintf '%s %s\\n' \"$(basename \"$0\")\" \"$*\" >>\"$MB_DIR/calls\"\nexit 0\n";

/// A rendered tree on disk with stubs for kubectl, istioctl and the like.
struct Scripts {
    dir: tempfile::TempDir,
    bundle: PathBuf,
}

impl Scripts {
    fn new(site: &Site) -> Scripts {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("bundle");
        let lock = lock_for(site);
        let s = secrets(site);
        let tree = render(
            site,
            &Inputs {
                lock: Some(&lock),
                secrets: Some(&s),
                ..Default::default()
            },
        )
        .unwrap();
        write_tree(&tree, &bundle);
        let stubs = dir.path().join("stubs");
        std::fs::create_dir_all(&stubs).unwrap();
        let put = |name: &str, body: &str| {
            let p = stubs.join(name);
            std::fs::write(&p, body).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        put("kubectl", &cluster::with_healthy_cluster(KUBECTL_STUB, site));
        for name in ["istioctl", "systemctl", "sleep"] {
            put(name, RECORDING_STUB);
        }
        std::fs::create_dir_all(dir.path().join("root")).unwrap();
        Scripts { dir, bundle }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn set(&self, name: &str, content: &str) {
        std::fs::write(self.path(name), content).unwrap();
    }

    fn run(&self, args: &[&str]) -> Output {
        let _ = std::fs::remove_file(self.path("calls"));
        Command::new("bash")
            .args(args)
            .current_dir(&self.bundle)
            .env_clear()
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin:/usr/sbin:/sbin", self.path("stubs").display()),
            )
            .env("HOME", self.path("root"))
            .env("MESHBUNDLE_SYSROOT", self.path("root"))
            .env("MB_DIR", self.dir.path())
            .env("TIMEOUT", "1s")
            .output()
            .unwrap()
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.path("calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn approved(&self) -> BTreeSet<String> {
        std::fs::read_to_string(self.path("approved"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn serve_csrs(&self, csrs: &[Csr]) {
        let mut list = String::new();
        for c in csrs {
            // As kubectl prints them: the user name and each group Go-quoted (`printf "%q"`).
            let groups: String = c
                .groups
                .split(',')
                .filter(|g| !g.is_empty())
                .map(|g| format!("{},", go_quote(g)))
                .collect();
            list.push_str(
                &[
                    c.name.as_str(),
                    &c.signer,
                    &go_quote(&c.user),
                    &groups,
                    &c.usages,
                    &c.request,
                ]
                .join("\x1f"),
            );
            list.push('\n');
        }
        self.set("csrs", &list);
        let _ = std::fs::remove_file(self.path("approved"));
    }
}

#[test]
fn the_approval_script_approves_exactly_the_serving_requests_of_the_sites_own_nodes() {
    let site = example("production");
    let s = Scripts::new(&site);
    let work = tempfile::tempdir().unwrap();
    let w = work.path();

    let mut csrs = Vec::new();
    let mut good = BTreeSet::new();
    // One request per node, as its kubelet sends it.
    for n in &site.spec.nodes {
        let name = format!("csr-good-{}", n.name);
        csrs.push(kubelet_csr(
            &name,
            &n.name,
            &node_request(w, &name, &n.name, &n.address),
        ));
        good.insert(name);
    }
    // RSA keys add key encipherment: still a kubelet's request.
    let cn = "system:node:worker-2";
    let key = "rsa.key";
    openssl(w, &["genrsa", "-out", key, "2048"]);
    std::fs::write(
        w.join("rsa.cnf"),
        format!("[req]\ndistinguished_name = dn\nreq_extensions = ext\nprompt = no\n[dn]\nO = system:nodes\nCN = {cn}\n[ext]\nsubjectAltName = @alt\n[alt]\nDNS.1 = worker-2\nIP.1 = 10.0.0.22\n"),
    )
    .unwrap();
    openssl(
        w,
        &["req", "-new", "-key", key, "-config", "rsa.cnf", "-out", "rsa.csr"],
    );
    let mut rsa = kubelet_csr(
        "csr-good-rsa-worker-2",
        "worker-2",
        &std::fs::read(w.join("rsa.csr")).unwrap(),
    );
    rsa.usages = "digital signature,key encipherment,server auth,".into();
    csrs.push(rsa);
    good.insert("csr-good-rsa-worker-2".to_string());

    let mut bad: Vec<(Csr, &str)> = Vec::new();
    // A SAN too many: another address.
    let r = make_request(
        w,
        "extra-san",
        &[("O", "system:nodes"), ("CN", "system:node:worker-1")],
        &[("DNS.1", "worker-1"), ("IP.1", "10.0.0.21"), ("IP.2", "10.0.0.99")],
    );
    bad.push((
        kubelet_csr("csr-extra-san", "worker-1", &r),
        "subject alternative names",
    ));
    // A SAN too many: a name.
    let r = make_request(
        w,
        "extra-dns",
        &[("O", "system:nodes"), ("CN", "system:node:worker-1")],
        &[
            ("DNS.1", "worker-1"),
            ("DNS.2", "api.example.internal"),
            ("IP.1", "10.0.0.21"),
        ],
    );
    bad.push((
        kubelet_csr("csr-extra-dns", "worker-1", &r),
        "subject alternative names",
    ));
    // Another node's address.
    let r = make_request(
        w,
        "other-ip",
        &[("O", "system:nodes"), ("CN", "system:node:worker-1")],
        &[("DNS.1", "worker-1"), ("IP.1", "10.0.0.11")],
    );
    bad.push((
        kubelet_csr("csr-other-address", "worker-1", &r),
        "subject alternative names",
    ));
    // The name only, or the address only.
    let r = make_request(
        w,
        "ip-only",
        &[("O", "system:nodes"), ("CN", "system:node:worker-1")],
        &[("IP.1", "10.0.0.21")],
    );
    bad.push((
        kubelet_csr("csr-address-only", "worker-1", &r),
        "subject alternative names",
    ));
    let r = make_request(
        w,
        "no-san",
        &[("O", "system:nodes"), ("CN", "system:node:worker-1")],
        &[],
    );
    bad.push((kubelet_csr("csr-no-san", "worker-1", &r), "subject alternative names"));
    // A single DNS name that openssl prints exactly like the node's name and address.
    let r = make_request(
        w,
        "look-alike",
        &[("O", "system:nodes"), ("CN", "system:node:cp-2")],
        &[("DNS.1", "cp-2, IP Address:10.0.0.12")],
    );
    let printed = Command::new("openssl")
        .args(["req", "-noout", "-text", "-in"])
        .arg(w.join("look-alike.csr"))
        .output()
        .unwrap();
    assert!(
        text(&printed.stdout).contains("DNS:cp-2, IP Address:10.0.0.12"),
        "the look-alike prints as the real one"
    );
    bad.push((kubelet_csr("csr-look-alike", "cp-2", &r), "subject alternative names"));
    // From a machine that is not a node of the site.
    let r = node_request(w, "intruder", "intruder", "10.0.0.99");
    bad.push((
        kubelet_csr("csr-unknown-node", "intruder", &r),
        "not a node of this site",
    ));
    // A good request for another signer.
    let r = node_request(w, "signer", "worker-2", "10.0.0.22");
    let mut c = kubelet_csr("csr-wrong-signer", "worker-2", &r);
    c.signer = "kubernetes.io/kube-apiserver-client".into();
    bad.push((c, ""));
    // Sent by worker-3 for cp-1's certificate.
    let r = node_request(w, "mismatch", "cp-1", "10.0.0.11");
    bad.push((kubelet_csr("csr-user-is-not-cn", "worker-3", &r), "its subject is"));
    // worker-3's name, cp-1's names.
    let r = make_request(
        w,
        "cn-vs-san",
        &[("O", "system:nodes"), ("CN", "system:node:worker-3")],
        &[("DNS.1", "cp-1"), ("IP.1", "10.0.0.11")],
    );
    bad.push((
        kubelet_csr("csr-other-nodes-names", "worker-3", &r),
        "subject alternative names",
    ));
    // Asking for the masters group in the subject.
    let r = make_request(
        w,
        "masters",
        &[("O", "system:masters"), ("CN", "system:node:worker-3")],
        &[("DNS.1", "worker-3"), ("IP.1", "10.0.0.23")],
    );
    bad.push((kubelet_csr("csr-masters", "worker-3", &r), "its subject is"));
    // Two organisations.
    let r = make_request(
        w,
        "two-orgs",
        &[
            ("O", "system:nodes"),
            ("1.O", "system:masters"),
            ("CN", "system:node:worker-3"),
        ],
        &[("DNS.1", "worker-3"), ("IP.1", "10.0.0.23")],
    );
    bad.push((kubelet_csr("csr-two-orgs", "worker-3", &r), "its subject is"));
    // A sender outside system:nodes.
    let r = node_request(w, "group", "cp-3", "10.0.0.13");
    let mut c = kubelet_csr("csr-not-in-nodes-group", "cp-3", &r);
    c.groups = "system:authenticated,".into();
    bad.push((c, "system:nodes"));
    // A user whose name only starts like a node's.
    let r = node_request(w, "prefix", "cp-3", "10.0.0.13");
    let mut c = kubelet_csr("csr-user-prefix", "cp-3", &r);
    c.user = "system:node:cp-3x".into();
    bad.push((c, "not a node of this site"));
    // Client auth on a serving certificate.
    let r = node_request(w, "client", "cp-3", "10.0.0.13");
    let mut c = kubelet_csr("csr-client-auth", "cp-3", &r);
    c.usages = "digital signature,server auth,client auth,".into();
    bad.push((c, "usage client auth"));
    // No server auth at all.
    let r = node_request(w, "noserver", "cp-3", "10.0.0.13");
    let mut c = kubelet_csr("csr-no-server-auth", "cp-3", &r);
    c.usages = "digital signature,".into();
    bad.push((c, "server auth"));
    // A broken self-signature: the last byte of the signature changed.
    let pem = String::from_utf8(node_request(w, "forged", "cp-3", "10.0.0.13")).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    use base64::Engine;
    let mut der = base64::engine::general_purpose::STANDARD.decode(body).unwrap();
    let last = der.len() - 1;
    der[last] ^= 0x01;
    let forged = format!(
        "-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n",
        b64(&der)
    );
    bad.push((
        kubelet_csr("csr-bad-signature", "cp-3", forged.as_bytes()),
        "self-signature",
    ));
    // A user name that would end the field and start a forged listing, were it not quoted.
    let r = node_request(w, "newline", "cp-1", "10.0.0.11");
    let mut c = kubelet_csr("csr-user-newline", "cp-1", &r);
    c.user = format!("system:node:cp-1\ncsr-good-cp-1\x1f{SIGNER}\x1fsystem:node:cp-1");
    bad.push((c, "which no node's name is"));
    // A group whose name holds the quoted group system:nodes.
    let r = node_request(w, "groupname", "cp-3", "10.0.0.13");
    let mut c = kubelet_csr("csr-group-name", "cp-3", &r);
    c.groups = "x\",\"system:nodes".into();
    bad.push((c, "system:nodes"));
    // Not base64 at all.
    let mut c = kubelet_csr("csr-not-base64", "cp-3", b"x");
    c.request = "%%%".into();
    bad.push((c, "not"));

    let bad_names: Vec<String> = bad.iter().map(|(c, _)| c.name.clone()).collect();
    let reasons: Vec<(String, &str)> = bad.iter().map(|(c, r)| (c.name.clone(), *r)).collect();
    csrs.extend(bad.into_iter().map(|(c, _)| c));
    s.serve_csrs(&csrs);

    let o = s.run(&["ops/approve-kubelet-csrs.sh"]);
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    assert_eq!(
        s.approved(),
        good,
        "exactly the good requests are approved\n{}",
        text(&o.stdout)
    );
    let out = text(&o.stdout);
    for (name, reason) in reasons {
        let line = out.lines().find(|l| l.starts_with(&format!("left pending: {name}:")));
        if reason.is_empty() {
            // Another signer's requests are not this script's business.
            assert!(line.is_none(), "{out}");
        } else {
            let line = line.unwrap_or_else(|| panic!("{name} is not reported\n{out}"));
            assert!(line.contains(reason), "{line}");
        }
    }
    assert!(bad_names.iter().all(|n| !s.approved().contains(n)));
    // It approves by name, and changes nothing else.
    for c in s.calls() {
        assert!(
            c.starts_with("kubectl get csr -o go-template=") || c.starts_with("kubectl certificate approve csr-good-"),
            "{c}"
        );
    }
    // The template lists the pending requests, with the fields in the order the script reads them.
    let call = s
        .calls()
        .into_iter()
        .find(|c| c.starts_with("kubectl get csr"))
        .unwrap();
    let fields: Vec<usize> = [
        "{{if not .status.conditions}}",
        "{{.metadata.name}}",
        "{{.spec.signerName}}",
        "{{printf \"%q\" .spec.username}}",
        "{{range .spec.groups}}{{printf \"%q\" .}},{{end}}",
        "{{range .spec.usages}}",
        "{{.spec.request}}",
    ]
    .iter()
    .map(|f| call.find(f).unwrap_or_else(|| panic!("{f} not in {call}")))
    .collect();
    assert!(fields.windows(2).all(|p| p[0] < p[1]), "{call}");

    // --check lists the pending serving requests of the site's nodes and approves nothing.
    let o = s.run(&["ops/approve-kubelet-csrs.sh", "--check"]);
    assert_eq!(o.status.code(), Some(1));
    let out = text(&o.stdout);
    for n in &site.spec.nodes {
        assert!(
            out.contains(&format!(
                "pending: csr-good-{}, the kubelet serving certificate of {}",
                n.name, n.name
            )),
            "{out}"
        );
    }
    assert!(
        !out.contains("csr-unknown-node") && !out.contains("csr-wrong-signer"),
        "{out}"
    );
    assert!(!s.calls().iter().any(|c| c.contains("certificate approve")));
    // Nothing pending of the site's nodes: --check passes.
    s.serve_csrs(
        &csrs
            .into_iter()
            .filter(|c| c.name == "csr-unknown-node" || c.name == "csr-wrong-signer")
            .collect::<Vec<_>>(),
    );
    let o = s.run(&["ops/approve-kubelet-csrs.sh", "--check"]);
    assert!(o.status.success(), "{}", text(&o.stdout));
    // A request the API refuses to approve makes the run fail (the timer's unit shows it).
    let r = node_request(w, "again", "cp-1", "10.0.0.11");
    s.serve_csrs(&[kubelet_csr("csr-again", "cp-1", &r)]);
    std::fs::write(
        s.path("stubs/kubectl"),
        cluster::with_healthy_cluster(
            &KUBECTL_STUB.replace(
                r#""certificate approve "*) echo "$3" >>"$MB_DIR/approved" ;;"#,
                r#""certificate approve "*) exit 1 ;;"#,
            ),
            &site,
        ),
    )
    .unwrap();
    let o = s.run(&["ops/approve-kubelet-csrs.sh"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("could not approve csr-again"));
}

#[test]
fn the_approver_knows_every_node_of_another_site() {
    // Not the example: a large site, other names and addresses.
    let (_, site) = matrix().into_iter().find(|(n, _)| *n == "large-5cp-20w").unwrap();
    let s = Scripts::new(&site);
    let work = tempfile::tempdir().unwrap();
    let mut csrs = Vec::new();
    for n in &site.spec.nodes {
        csrs.push(kubelet_csr(
            &format!("csr-{}", n.name),
            &n.name,
            &node_request(work.path(), &n.name, &n.name, &n.address),
        ));
    }
    // worker-20's name with worker-19's address.
    let r = node_request(work.path(), "swap", "worker-20", "10.0.0.119");
    csrs.push(kubelet_csr("csr-swapped", "worker-20", &r));
    s.serve_csrs(&csrs);
    let o = s.run(&["ops/approve-kubelet-csrs.sh"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let want: BTreeSet<String> = site.spec.nodes.iter().map(|n| format!("csr-{}", n.name)).collect();
    assert_eq!(s.approved(), want);
}

#[test]
fn every_control_plane_node_installs_and_starts_the_approver_timer() {
    let site = example("production");
    let tree = tree_of(&site);
    for n in &site.spec.nodes {
        let script = file(&tree, &format!("nodes/{}/bootstrap.sh", n.name));
        let approver = script.find("mb_csr_approver \"$ROOT/ops\"");
        let tools = script.lines().find(|l| l.starts_with("OS_TOOLS=(")).unwrap();
        let needs_openssl = n.role == meshbundle_core::spec::Role::ControlPlane;
        assert_eq!(
            tools.contains(" openssl ") && tools.contains(" base64 ") && tools.contains(" awk"),
            needs_openssl,
            "{}: {tools}",
            n.name
        );
        match n.role {
            meshbundle_core::spec::Role::ControlPlane => {
                let at = approver.unwrap_or_else(|| panic!("{}: no approver", n.name));
                // After kubeadm made admin.conf, which the unit reads.
                assert!(at > script.find("mb_admin_kubeconfig").unwrap(), "{}", n.name);
            }
            meshbundle_core::spec::Role::Worker => assert!(approver.is_none(), "{}", n.name),
        }
    }
    // What the step does, run from lib.sh in a scratch root.
    let s = Scripts::new(&site);
    let o = Command::new("bash")
        .arg("-c")
        .arg("set -euo pipefail; source common/lib.sh; mb_csr_approver \"$PWD/ops\"")
        .current_dir(&s.bundle)
        .env("PATH", format!("{}:/usr/bin:/bin", s.path("stubs").display()))
        .env("MESHBUNDLE_SYSROOT", s.path("root"))
        .env("MB_DIR", s.dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let root = s.path("root");
    let installed = root.join("usr/local/sbin/meshbundle-kubelet-csr-approver");
    assert_eq!(
        std::fs::read(&installed).unwrap(),
        std::fs::read(s.bundle.join("ops/approve-kubelet-csrs.sh")).unwrap()
    );
    assert_eq!(
        std::fs::metadata(&installed).unwrap().permissions().mode() & 0o777,
        0o755
    );
    let service =
        std::fs::read_to_string(root.join("etc/systemd/system/meshbundle-kubelet-csr-approver.service")).unwrap();
    assert!(
        service.contains("ExecStart=/usr/local/sbin/meshbundle-kubelet-csr-approver\n"),
        "{service}"
    );
    assert!(service.contains("Environment=KUBECONFIG=/etc/kubernetes/admin.conf\n"));
    let timer = std::fs::read_to_string(root.join("etc/systemd/system/meshbundle-kubelet-csr-approver.timer")).unwrap();
    assert!(
        timer.contains("OnUnitActiveSec=2min\n") && timer.contains("WantedBy=timers.target\n"),
        "{timer}"
    );
    let calls = s.calls();
    assert_eq!(
        calls,
        [
            "systemctl daemon-reload",
            "systemctl enable --now meshbundle-kubelet-csr-approver.timer"
        ]
    );
}

// ------------------------------------------------------------------ install order and verify

fn position(calls: &[String], prefix: &str) -> usize {
    calls
        .iter()
        .position(|c| c.starts_with(prefix))
        .unwrap_or_else(|| panic!("`{prefix}` not called in {calls:#?}"))
}

fn top_of(site: &Site) -> String {
    site.spec
        .nodes
        .iter()
        .map(|n| format!("{}   250m   6%   1800Mi   23%\n", n.name))
        .collect()
}

#[test]
fn the_cluster_step_approves_then_installs_metrics_server_and_waits_for_every_node_before_istio() {
    let site = example("production");
    let s = Scripts::new(&site);
    s.serve_csrs(&[]);
    s.set("top", &top_of(&site));
    let b = s.bundle.display().to_string();
    let o = s.run(&["install.sh", "cluster"]);
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    let calls = s.calls();
    let order = [
        "kubectl wait --for=condition=Ready nodes --all".to_string(),
        "kubectl get csr -o go-template=".into(),
        format!("kubectl apply --server-side --force-conflicts -f {b}/manifests/metrics-server/metrics-server.yaml"),
        "kubectl -n kube-system rollout status deployment/metrics-server".into(),
        "kubectl top nodes".into(),
        format!("istioctl install -y -f {b}/manifests/istio/istio-operator.yaml"),
    ];
    let mut last = 0;
    for step in order {
        let at = position(&calls, &step);
        assert!(at >= last, "`{step}` out of order in {calls:#?}");
        last = at;
    }
    // Every node had metrics at once: no wait.
    assert!(!calls.iter().any(|c| c.starts_with("sleep")), "{calls:#?}");
}

#[test]
fn verify_fails_on_kubectl_top_errors_missing_nodes_unknown_hpa_targets_and_pending_requests() {
    let site = example("production");
    let s = Scripts::new(&site);
    s.serve_csrs(&[]);
    let healthy_hpa = "istio-system   istiod-1-30-3   Deployment/istiod-1-30-3   cpu: 4%/80%   2   5   2   3h\n\
                       istio-ingress  istio-ingressgateway   Deployment/istio-ingressgateway   cpu: 1%/80%   3   10   3   3h\n";
    s.set("top", &top_of(&site));
    s.set("hpa", healthy_hpa);
    let o = s.run(&["ops/verify.sh"]);
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    let calls = s.calls();
    assert!(calls.iter().any(|c| c.starts_with("kubectl top nodes")));
    assert!(calls.iter().any(|c| c.starts_with("kubectl get hpa --all-namespaces")));
    assert!(
        calls
            .iter()
            .any(|c| c.starts_with("kubectl -n kube-system rollout status deployment/metrics-server"))
    );

    // An HPA with no metrics.
    s.set(
        "hpa",
        &format!(
            "{healthy_hpa}istio-egress   istio-egressgateway   Deployment/istio-egressgateway   cpu: <unknown>/80%   2   5   2   3h\n"
        ),
    );
    let o = s.run(&["ops/verify.sh"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("no current metrics"), "{}", text(&o.stderr));
    s.set("hpa", healthy_hpa);

    // The metrics API does not answer.
    s.set("top", "error: Metrics API not available\n");
    s.set("top.rc", "1");
    let o = s.run(&["ops/verify.sh"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("kubectl top nodes fails"),
        "{}",
        text(&o.stderr)
    );
    s.set("top.rc", "0");

    // A node without metrics (its kubelet has no serving certificate yet), and one missing.
    let top = top_of(&site).replace(
        "worker-2   250m   6%   1800Mi   23%",
        "worker-2   <unknown>   <unknown>   <unknown>   <unknown>",
    );
    let top: String = top
        .lines()
        .filter(|l| !l.starts_with("cp-3 "))
        .map(|l| format!("{l}\n"))
        .collect();
    s.set("top", &top);
    let o = s.run(&["ops/verify.sh"]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.contains("no metrics for node worker-2") && err.contains("no metrics for node cp-3"),
        "{err}"
    );
    assert!(!err.contains("node worker-1"), "{err}");
    s.set("top", &top_of(&site));

    // A pending serving request of a site node.
    let work = tempfile::tempdir().unwrap();
    let r = node_request(work.path(), "w1", "worker-1", "10.0.0.21");
    s.serve_csrs(&[kubelet_csr("csr-w1", "worker-1", &r)]);
    let o = s.run(&["ops/verify.sh"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("kubelet serving certificate requests"),
        "{}",
        text(&o.stderr)
    );
    assert!(s.approved().is_empty(), "verify approves nothing");
}

#[test]
fn the_readme_explains_resource_metrics_and_the_approvals() {
    let site = example("production");
    let readme = file(&tree_of(&site), "README.md");
    let section = readme
        .split("## Resource metrics")
        .nth(1)
        .expect("a Resource metrics section");
    let section = section
        .split("\n## ")
        .next()
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for want in [
        "metrics-server 0.8.1",
        "serverTLSBootstrap: true",
        "kubernetes.io/kubelet-serving",
        "meshbundle-kubelet-csr-approver.timer",
        "no `--kubelet-insecure-tls`",
        "cp-1 (10.0.0.11), cp-2 (10.0.0.12), cp-3 (10.0.0.13), worker-1 (10.0.0.21), worker-2 (10.0.0.22), worker-3 (10.0.0.23):",
        "2 replicas",
    ] {
        assert!(section.contains(want), "{want} not in {section}");
    }
    let mut off = site.clone();
    off.spec.observability.metrics_server.enabled = false;
    let readme = file(&tree_of(&off), "README.md");
    let section = readme
        .split("## Resource metrics")
        .nth(1)
        .unwrap()
        .split("\n## ")
        .next()
        .unwrap();
    assert!(section.contains("metrics-server is off"), "{section}");
    assert!(
        section.contains("meshbundle-kubelet-csr-approver.timer"),
        "the approvals go on: {section}"
    );
    assert!(!readme.contains("installs metrics-server"));
}

// ------------------------------------------------------------------ a real build

#[test]
fn a_build_carries_the_metrics_server_image_the_manifest_names() {
    let site = example("lab");
    let up = site::serve(&site);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::copy(repo().join("core/examples/lab.yaml"), d.join("site.yaml")).unwrap();
    let run = |args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(up.flags.iter().map(String::as_str));
        let o = meshbundle(d, &all);
        assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
    };
    run(&["lock", "site.yaml", "--quiet", "--cache", "cache"]);
    run(&[
        "build",
        "site.yaml",
        "-o",
        "site.mbundle",
        "--locked",
        "--quiet",
        "--cache",
        "cache",
    ]);
    let lock = meshbundle_core::lock::parse(&std::fs::read_to_string(d.join("meshbundle.lock")).unwrap()).unwrap();
    let locked = lock
        .image(&"registry.k8s.io/metrics-server/metrics-server:v0.8.1".parse().unwrap())
        .expect("the lock pins metrics-server");

    let mut archive = tar::Archive::new(std::fs::File::open(d.join("site.mbundle")).unwrap());
    let mut seal: Option<Value> = None;
    let mut manifest: Option<String> = None;
    let mut blobs = BTreeSet::new();
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().display().to_string();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        if name == "SEAL.json" {
            seal = Some(serde_json::from_slice(&data).unwrap());
        } else if name.ends_with("manifests/metrics-server/metrics-server.yaml") {
            manifest = Some(String::from_utf8(data).unwrap());
        }
        if let Some(h) = name.rsplit('/').next() {
            blobs.insert(h.to_string());
        }
    }
    let seal = seal.expect("a seal");
    let image = seal["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "registry.k8s.io/metrics-server/metrics-server:v0.8.1")
        .unwrap_or_else(|| panic!("metrics-server is not carried: {}", seal["images"]));
    assert_eq!(image["digest"], locked.digest.as_str());
    for m in image["manifests"].as_array().unwrap() {
        assert!(
            blobs.contains(m.as_str().unwrap().trim_start_matches("sha256:")),
            "manifest {m} of metrics-server is in the bundle"
        );
    }
    let manifest = manifest.expect("the bundle carries the metrics-server manifest");
    let site_ref = image["site"].as_str().unwrap();
    assert!(
        site_ref.ends_with(&format!("@{}", locked.site_digest().as_str())),
        "{site_ref}"
    );
    let d = docs(&manifest);
    let deploy = kind(&d, "Deployment")[0];
    assert_eq!(
        deploy["spec"]["template"]["spec"]["containers"][0]["image"], site_ref,
        "the manifest runs the carried image"
    );
}

#[test]
fn verify_checks_requests_with_the_callers_kubeconfig_and_tells_a_listing_failure_from_a_pending_request() {
    let site = example("production");
    let s = Scripts::new(&site);
    s.serve_csrs(&[]);
    s.set("top", &top_of(&site));
    // kubectl records the kubeconfig it was given, and cannot list requests while csr.fail exists.
    let stub = KUBECTL_STUB.replace(
        "  \"get csr -o go-template=\"*)\n",
        "  \"get csr -o go-template=\"*)\n    echo \"KUBECONFIG=${KUBECONFIG:-}\" >>\"$MB_DIR/kubeconfig\"\n    if [ -f \"$MB_DIR/csr.fail\" ]; then echo 'Error from server (Forbidden)' >&2; exit 1; fi\n",
    );
    assert_ne!(stub, KUBECTL_STUB);
    std::fs::write(s.path("stubs/kubectl"), cluster::with_healthy_cluster(&stub, &site)).unwrap();

    // ops/verify.sh runs as the operator: the check uses the operator's kubeconfig, not admin.conf.
    let o = s.run(&["ops/verify.sh"]);
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    let seen = std::fs::read_to_string(s.path("kubeconfig")).unwrap();
    assert!(!seen.is_empty() && !seen.contains("admin.conf"), "{seen}");
    // The approver itself (the timer, or root by hand) uses admin.conf.
    let o = s.run(&["ops/approve-kubelet-csrs.sh"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let seen = std::fs::read_to_string(s.path("kubeconfig")).unwrap();
    assert!(
        seen.lines().last().unwrap().contains("/etc/kubernetes/admin.conf"),
        "{seen}"
    );

    // A kubeconfig that cannot list requests is not "requests are pending".
    s.set("csr.fail", "");
    let o = s.run(&["ops/approve-kubelet-csrs.sh", "--check"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    let o = s.run(&["ops/verify.sh"]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.contains("could not list the kubelet serving certificate requests"),
        "{err}"
    );
    assert!(!err.contains("are pending"), "{err}");
}
