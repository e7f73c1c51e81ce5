//! The pod network on the nodes and in the checks: what a node's bootstrap
//! does with Calico that it does not with flannel (NetworkManager told to
//! leave Calico's interfaces alone before the kubelet starts, Calico's
//! images pulled ahead, Calico's manifest applied after `kubeadm init`), what
//! the rendered Calico manifest configures (typed, from its documents), and
//! that `ops/verify.sh` fails when calico-node is not ready on a node or a
//! mesh namespace lost its default-deny policy. The scripts run under bash
//! against a scratch root with stubs for systemctl, kubeadm, kubectl and the
//! other system commands; tar, install and cmp are real.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use meshbundle_core::render::{Inputs, render};
use meshbundle_core::spec::{Cni, ProxyMode, Site};
use meshbundle_core::tree::FileTree;
use serde_json::Value;

const STUBS: &[&str] = &[
    "kubeadm",
    "kubectl",
    "istioctl",
    "systemctl",
    "sysctl",
    "modprobe",
    "swapoff",
    "crictl",
    "ctr",
    "timedatectl",
    "ip",
    "conntrack",
    "socat",
    "ethtool",
    "iptables",
    "nsenter",
    "uname",
    "chronyc",
    "chronyd",
];

/// Records every call. NetworkManager runs unless MB_NM_INACTIVE is set;
/// calico-node is Ready except on the nodes in MB_CALICO_NOT_READY; every
/// namespace has its default-deny policy except MB_NO_POLICY.
const STUB: &str = r#"#!/bin/sh
name=$(basename "$0")
echo "$name $*" >>"$MB_LOG"
case "$name $1 $2" in
  "ip -o -4") echo "2: eth0    inet $MB_ADDRESS/24 brd 10.0.0.255 scope global eth0" ;;
  "uname -m "*) echo x86_64 ;;
  "crictl inspecti "*) exit 1 ;;
  "systemctl is-active "*) if [ -n "$MB_NM_INACTIVE" ]; then exit 3; fi ;;
  "chronyc -n -c")
    if [ "$MB_ADDRESS" = 10.0.0.11 ]; then echo "7F7F0101,127.127.1.1,10,1764547200.000000000,0.000000000,0.000000000,0.000000000,0.000,0.000,0.000,0.000000000,0.000000000,0.0,Normal"
    else echo "0A00000B,10.0.0.11,11,1764547200.000000000,-0.000012000,0.000001000,0.000010000,-1.234,0.001,0.010,0.000200000,0.000100000,64.0,Normal"; fi ;;
  "kubeadm init "*)
    mkdir -p "$MESHBUNDLE_SYSROOT/etc/kubernetes/manifests" && echo admin >"$MESHBUNDLE_SYSROOT/etc/kubernetes/admin.conf"
    echo apiserver >"$MESHBUNDLE_SYSROOT/etc/kubernetes/manifests/kube-apiserver.yaml" ;;
  "kubeadm join "*) mkdir -p "$MESHBUNDLE_SYSROOT/etc/kubernetes" && echo kubelet >"$MESHBUNDLE_SYSROOT/etc/kubernetes/kubelet.conf" ;;
esac
case "$*" in
  *"-l k8s-app=calico-node --field-selector spec.nodeName="*)
    node=${*##*spec.nodeName=}; node=${node%% *}
    case " $MB_CALICO_NOT_READY " in *" $node "*) printf False ;; *) printf True ;; esac ;;
  *"get networkpolicy default-deny-ingress"*)
    if [ "$2" = "$MB_NO_POLICY" ]; then echo "Error from server (NotFound)" >&2; exit 1; fi ;;
  *"get peerauthentication"*) printf STRICT ;;
esac
exit 0
"#;

fn tarball(dir: &Path, name: &str, members: &[&str]) -> Vec<u8> {
    let src = dir.join(format!("src-{name}"));
    for m in members {
        let p = src.join(m);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
    }
    let out = dir.join(format!("{name}.tgz"));
    assert!(
        Command::new("tar")
            .arg("-czf")
            .arg(&out)
            .arg("-C")
            .arg(&src)
            .args(members)
            .status()
            .unwrap()
            .success()
    );
    std::fs::read(out).unwrap()
}

fn tree(site: &Site) -> FileTree {
    render(
        site,
        &Inputs {
            secrets: Some(&secrets(site)),
            ..Default::default()
        },
    )
    .unwrap()
}

fn with_cni(cni: Cni) -> Site {
    let mut site = example("production");
    site.spec.kubernetes.cni = cni;
    site
}

struct Machine {
    _dir: tempfile::TempDir,
    bundle: PathBuf,
    sysroot: PathBuf,
    stubs: PathBuf,
    log: PathBuf,
}

impl Machine {
    fn new(site: &Site) -> Machine {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("bundle");
        let sysroot = dir.path().join("root");
        let stubs = dir.path().join("stubs");
        write_tree(&tree(site), &bundle);
        let files = bundle.join("files");
        std::fs::create_dir_all(&files).unwrap();
        for (name, bytes) in [
            (
                "containerd-amd64",
                tarball(dir.path(), "containerd", &["bin/containerd"]),
            ),
            (
                "cni-plugins-amd64",
                tarball(dir.path(), "cni", &["bridge", "loopback", "portmap"]),
            ),
            ("crictl-amd64", tarball(dir.path(), "crictl", &["crictl"])),
            ("istioctl-amd64", tarball(dir.path(), "istioctl", &["istioctl"])),
        ] {
            std::fs::write(files.join(name), bytes).unwrap();
        }
        for name in ["runc-amd64", "kubeadm-amd64", "kubelet-amd64", "kubectl-amd64"] {
            std::fs::write(files.join(name), "#!/bin/sh\n").unwrap();
        }
        std::fs::create_dir_all(sysroot.join("etc")).unwrap();
        std::fs::create_dir_all(&stubs).unwrap();
        for s in STUBS {
            std::fs::write(stubs.join(s), cluster::with_healthy_cluster(STUB, site)).unwrap();
            std::fs::set_permissions(stubs.join(s), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let log = dir.path().join("calls.log");
        Machine {
            _dir: dir,
            bundle,
            sysroot,
            stubs,
            log,
        }
    }

    fn run(&self, script: &str, address: &str, env: &[(&str, &str)]) -> Output {
        let _ = std::fs::remove_file(&self.log);
        let mut c = Command::new("bash");
        c.arg(script)
            .current_dir(&self.bundle)
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", self.stubs.display()))
            .env("MESHBUNDLE_SYSROOT", &self.sysroot)
            .env("MB_LOG", &self.log)
            .env("MB_ADDRESS", address)
            .env("TIMEOUT", "1s");
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

fn position(calls: &[String], prefix: &str) -> usize {
    calls
        .iter()
        .position(|c| c.starts_with(prefix))
        .unwrap_or_else(|| panic!("no call {prefix}: {calls:#?}"))
}

fn has(calls: &[String], part: &str) -> bool {
    calls.iter().any(|c| c.contains(part))
}

fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "exit {:?}\n{}\n{}",
        o.status.code(),
        text(&o.stdout),
        text(&o.stderr)
    );
}

const NM_CONF: &str = "etc/NetworkManager/conf.d/calico.conf";

#[test]
fn with_calico_the_bootstrap_hands_calico_its_interfaces_and_installs_calico() {
    let m = Machine::new(&with_cni(Cni::Calico));
    let b = m.bundle.display().to_string();
    let o = m.run("nodes/cp-1/bootstrap.sh", "10.0.0.11", &[]);
    ok(&o);
    let calls = m.calls();
    // NetworkManager leaves Calico's interfaces alone, and is told so before the kubelet starts.
    let conf = std::fs::read_to_string(m.sysroot.join(NM_CONF)).unwrap();
    let unmanaged: Vec<&str> = conf
        .lines()
        .find_map(|l| l.strip_prefix("unmanaged-devices="))
        .expect("unmanaged-devices")
        .split(';')
        .collect();
    for dev in [
        "interface-name:cali*",
        "interface-name:vxlan.calico",
        "interface-name:tunl*",
    ] {
        assert!(unmanaged.contains(&dev), "{dev} in {conf}");
    }
    assert!(conf.lines().any(|l| l == "[keyfile]"), "{conf}");
    let reload = position(&calls, "systemctl reload NetworkManager");
    assert!(position(&calls, "systemctl is-active --quiet NetworkManager") < reload);
    assert!(
        reload < position(&calls, "systemctl enable kubelet") && reload < position(&calls, "kubeadm init"),
        "{calls:#?}"
    );
    // Calico's node images are pulled ahead; flannel's are not; the controllers are one Deployment.
    let pulls: Vec<&String> = calls
        .iter()
        .filter(|c| c.starts_with("ctr -n k8s.io images pull"))
        .collect();
    for image in ["10.0.0.5:5000/calico/node:v3.31.7", "10.0.0.5:5000/calico/cni:v3.31.7"] {
        assert!(pulls.iter().any(|c| c.ends_with(image)), "pull of {image}: {pulls:#?}");
    }
    assert!(
        !pulls
            .iter()
            .any(|c| c.contains("flannel") || c.contains("kube-controllers")),
        "{pulls:#?}"
    );
    // Calico's manifest after kubeadm init; never flannel's.
    let apply = position(
        &calls,
        &format!("kubectl apply --server-side --force-conflicts -f {b}/manifests/cni/calico.yaml"),
    );
    assert!(position(&calls, "kubeadm init") < apply);
    assert!(!has(&calls, "flannel"), "{calls:#?}");

    // Again: the drop-in is unchanged, so NetworkManager is not reloaded.
    ok(&m.run("nodes/cp-1/bootstrap.sh", "10.0.0.11", &[]));
    assert!(!has(&m.calls(), "reload NetworkManager"), "{:#?}", m.calls());

    // A worker without NetworkManager running gets the file and no reload.
    let m = Machine::new(&with_cni(Cni::Calico));
    ok(&m.run("nodes/worker-1/bootstrap.sh", "10.0.0.21", &[("MB_NM_INACTIVE", "1")]));
    assert!(m.sysroot.join(NM_CONF).exists());
    let calls = m.calls();
    assert!(
        has(&calls, "systemctl is-active --quiet NetworkManager") && !has(&calls, "reload NetworkManager"),
        "{calls:#?}"
    );
    assert!(
        !has(&calls, "kubectl apply"),
        "a worker applies no manifest: {calls:#?}"
    );
}

#[test]
fn with_flannel_the_bootstrap_leaves_networkmanager_alone_and_installs_flannel() {
    let m = Machine::new(&with_cni(Cni::Flannel));
    let b = m.bundle.display().to_string();
    ok(&m.run("nodes/cp-1/bootstrap.sh", "10.0.0.11", &[]));
    let calls = m.calls();
    assert!(!m.sysroot.join(NM_CONF).exists());
    assert!(!has(&calls, "NetworkManager"), "{calls:#?}");
    assert!(has(&calls, &format!("-f {b}/manifests/cni/flannel.yaml")));
    assert!(!has(&calls, "calico"), "{calls:#?}");
}

fn documents(tree: &FileTree, path: &str) -> Vec<Value> {
    let text = String::from_utf8(tree.get(path).unwrap().bytes.clone()).unwrap();
    text.split("\n---\n")
        .skip(1)
        .filter_map(|d| meshbundle_core::yaml::from_str::<Value>(d).ok())
        .filter(|v| !v.is_null())
        .collect()
}

/// calico-node's container environment, by name (value, or the fieldRef path).
fn calico_node_env(tree: &FileTree) -> (Vec<(String, String)>, Value) {
    let docs = documents(tree, "manifests/cni/calico.yaml");
    let ds = docs
        .iter()
        .find(|d| d["kind"] == "DaemonSet" && d["metadata"]["name"] == "calico-node")
        .expect("calico-node")
        .clone();
    let c = ds["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "calico-node")
        .unwrap();
    let env = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let v = e
                .get("value")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| {
                    e.pointer("/valueFrom/fieldRef/fieldPath")
                        .or_else(|| e.pointer("/valueFrom/configMapKeyRef/key"))
                        .and_then(Value::as_str)
                        .map(|p| format!("<{p}>"))
                        .unwrap_or_default()
                });
            (e["name"].as_str().unwrap().to_string(), v)
        })
        .collect();
    let config = docs
        .iter()
        .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["name"] == "calico-config")
        .unwrap()
        .clone();
    (env, config)
}

fn get<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let found: Vec<&(String, String)> = env.iter().filter(|(n, _)| n == name).collect();
    assert!(found.len() <= 1, "{name} set twice");
    found.first().map(|(_, v)| v.as_str())
}

#[test]
fn the_calico_manifest_says_what_the_spec_says() {
    let mut site = with_cni(Cni::Calico);
    site.spec.kubernetes.pod_subnet = "172.20.0.0/16".into();
    site.spec.kubernetes.node_subnet = Some("10.0.0.0/24".into());
    let t = tree(&site);
    let (env, config) = calico_node_env(&t);
    assert_eq!(get(&env, "CALICO_IPV4POOL_CIDR"), Some("172.20.0.0/16"));
    assert_eq!(get(&env, "CALICO_IPV4POOL_BLOCK_SIZE"), Some("26"));
    assert_eq!(get(&env, "IP_AUTODETECTION_METHOD"), Some("cidr=10.0.0.0/24"));
    assert_eq!(get(&env, "FELIX_DEVICEROUTESOURCEADDRESS"), Some("<status.hostIP>"));
    assert_eq!(get(&env, "CALICO_IPV4POOL_VXLAN"), Some("CrossSubnet"));
    assert_eq!(get(&env, "CALICO_IPV4POOL_IPIP"), Some("Never"));
    assert_eq!(get(&env, "FELIX_NFTABLESMODE"), None);
    assert_eq!(config["data"]["calico_backend"], "vxlan", "no BGP");
    assert_eq!(config["data"]["veth_mtu"], "0", "MTU auto-detected");
    // Every image from the site registry.
    let text = String::from_utf8(t.get("manifests/cni/calico.yaml").unwrap().bytes.clone()).unwrap();
    let mut images = meshbundle_core::image::images_in_manifest(&text);
    images.dedup();
    assert_eq!(images.len(), 3, "{images:?}");
    assert!(
        images.iter().all(|i| i.starts_with("10.0.0.5:5000/calico/")),
        "{images:?}"
    );

    // Without a node network, the node's InternalIP; with nftables kube-proxy, Felix's nftables.
    site.spec.kubernetes.node_subnet = None;
    site.spec.kubernetes.proxy_mode = ProxyMode::Nftables;
    site.spec.kubernetes.version = "1.33.13".into();
    let (env, _) = calico_node_env(&tree(&site));
    assert_eq!(get(&env, "IP_AUTODETECTION_METHOD"), Some("kubernetes-internal-ip"));
    assert_eq!(get(&env, "FELIX_NFTABLESMODE"), Some("Enabled"));
}

#[test]
fn verify_fails_when_calico_node_is_not_ready_or_a_namespace_lost_its_policy() {
    let m = Machine::new(&with_cni(Cni::Calico));
    let o = m.run("ops/verify.sh", "10.0.0.11", &[]);
    ok(&o);
    let calls = m.calls();
    for node in ["cp-1", "cp-2", "cp-3", "worker-1", "worker-2", "worker-3"] {
        assert!(
            has(&calls, &format!("--field-selector spec.nodeName={node} ")),
            "calico-node on {node}: {calls:#?}"
        );
    }
    assert!(has(&calls, "rollout status daemonset/calico-node"));
    assert!(has(&calls, "rollout status deployment/calico-kube-controllers"));
    for ns in ["istio-system", "istio-ingress", "istio-egress", "shop"] {
        assert!(
            has(
                &calls,
                &format!("kubectl -n {ns} get networkpolicy default-deny-ingress")
            ),
            "{ns}: {calls:#?}"
        );
    }

    let o = m.run("ops/verify.sh", "10.0.0.11", &[("MB_CALICO_NOT_READY", "worker-2")]);
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(err.contains("FAIL: calico-node is not ready on node worker-2"), "{err}");
    assert!(!err.contains("node worker-1"), "{err}");

    let o = m.run("ops/verify.sh", "10.0.0.11", &[("MB_NO_POLICY", "shop")]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("FAIL: namespace shop has no default-deny-ingress NetworkPolicy"),
        "{}",
        text(&o.stderr)
    );

    // flannel: nothing of the kind is checked.
    let m = Machine::new(&with_cni(Cni::Flannel));
    ok(&m.run("ops/verify.sh", "10.0.0.11", &[]));
    assert!(!has(&m.calls(), "calico") && !has(&m.calls(), "networkpolicy"));
}

#[test]
fn the_lock_and_the_bundle_carry_the_chosen_cni_only() {
    let names = |site: &Site| {
        let n = meshbundle_core::catalog::needs(site).unwrap();
        let images: Vec<String> = n.images.iter().map(|i| i.upstream.tagged()).collect();
        let files: Vec<String> = n.files.iter().map(|f| f.name.clone()).collect();
        (images, files)
    };
    let (images, files) = names(&with_cni(Cni::Calico));
    for i in [
        "quay.io/calico/cni:v3.31.7",
        "quay.io/calico/node:v3.31.7",
        "quay.io/calico/kube-controllers:v3.31.7",
    ] {
        assert!(images.contains(&i.to_string()), "{i}: {images:#?}");
    }
    assert!(
        files.contains(&"manifest/calico".to_string()) && !files.contains(&"manifest/flannel".to_string()),
        "{files:#?}"
    );
    assert!(!images.iter().any(|i| i.contains("flannel")), "{images:#?}");
    let calico = meshbundle_core::catalog::needs(&with_cni(Cni::Calico)).unwrap();
    let manifest = calico.files.iter().find(|f| f.name == "manifest/calico").unwrap();
    assert_eq!(
        manifest.url,
        "https://raw.githubusercontent.com/projectcalico/calico/v3.31.7/manifests/calico-vxlan.yaml"
    );
    assert_eq!(
        manifest.sha256.as_ref().unwrap().hex(),
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
            std::fs::read(repo().join("images/upstream/calico/calico-vxlan-v3.31.7.yaml")).unwrap()
        ))
    );

    let (images, files) = names(&with_cni(Cni::Flannel));
    assert!(files.contains(&"manifest/flannel".to_string()) && !files.contains(&"manifest/calico".to_string()));
    assert!(!images.iter().any(|i| i.contains("calico")), "{images:#?}");
}
