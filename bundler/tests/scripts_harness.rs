//! The generated scripts, run for real under bash against a scratch root,
//! with the system commands they call (kubeadm, kubectl, istioctl,
//! systemctl, sysctl, modprobe, swapoff, crictl, ...) replaced by stubs that
//! record their arguments. tar, install, sha256sum, cmp, sed and find are the
//! real ones.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use meshbundle_core::lock::{Lock, LockedFile, LockedImage};
use meshbundle_core::render::{Inputs, render};
use sha2::{Digest, Sha256};

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

const STUB: &str = r#"#!/bin/sh
name=$(basename "$0")
echo "$name $*" >>"$MB_LOG"
# The mode of every kubeadm configuration at the moment kubeadm is handed it.
if [ "$name" = kubeadm ]; then
  prev=
  for a in "$@"; do
    if [ "$prev" = --config ]; then echo "$(stat -L -c %a "$a") $a" >>"$MB_LOG.modes"; fi
    prev=$a
  done
fi
# Answers a test sets: lines `GLOB|EXIT|OUTPUT` in $MB_LOG.answers; the first
# whose glob matches the call prints OUTPUT and exits with EXIT.
if [ -f "$MB_LOG.answers" ]; then
  while IFS='|' read -r pattern code out; do
    # shellcheck disable=SC2254
    case "$name $*" in $pattern) if [ "$code" = 0 ]; then echo "$out"; else echo "$out" >&2; fi; exit "$code" ;; esac
  done <"$MB_LOG.answers"
fi
case "$name $1 $2" in
  "ip -o -4") echo "2: eth0    inet $MB_ADDRESS/24 brd 10.0.0.255 scope global eth0" ;;
  "uname -m "*) echo x86_64 ;;
  "crictl inspecti "*) exit 1 ;;
  "istioctl version "*) cat "$MB_LOG.istioctl-version" 2>/dev/null || echo "client version: 1.30.3" ;;
  # Proxies connected to a revision, when the test says there are some.
  "istioctl proxy-status "*) cat "$MB_LOG.proxies" 2>/dev/null ;;
  # chrony synchronised: cp-1 (the production example's time source) on its own clock, the others to cp-1.
  "chronyc -n -c")
    if [ "$MB_ADDRESS" = 10.0.0.11 ]; then echo "7F7F0101,127.127.1.1,10,1764547200.000000000,0.000000000,0.000000000,0.000000000,0.000,0.000,0.000,0.000000000,0.000000000,0.0,Normal"
    else echo "0A00000B,10.0.0.11,11,1764547200.000000000,-0.000012000,0.000001000,0.000010000,-1.234,0.001,0.010,0.000200000,0.000100000,64.0,Normal"; fi ;;
  # containerd's images as `ctr images ls` lists them: what `ctr images tag` made.
  "ctr -n k8s.io")
    case "$3 $4" in
      "images ls") echo "REF TYPE DIGEST SIZE PLATFORMS LABELS"; cat "$MB_LOG.images" 2>/dev/null ;;
      "images tag")
        # --force replaces the name.
        { grep -v "^$7 " "$MB_LOG.images" 2>/dev/null; echo "$7 application/vnd.oci.image.index.v1+json ${6##*@} 1.0 KiB linux/amd64 -"; } >"$MB_LOG.images.new"
        mv "$MB_LOG.images.new" "$MB_LOG.images" ;;
    esac ;;
  "kubeadm init --config")
    mkdir -p "$MESHBUNDLE_SYSROOT/etc/kubernetes/manifests" && echo admin >"$MESHBUNDLE_SYSROOT/etc/kubernetes/admin.conf"
    echo apiserver >"$MESHBUNDLE_SYSROOT/etc/kubernetes/manifests/kube-apiserver.yaml" ;;
  "kubeadm join "*)
    mkdir -p "$MESHBUNDLE_SYSROOT/etc/kubernetes" && echo kubelet >"$MESHBUNDLE_SYSROOT/etc/kubernetes/kubelet.conf"
    # Joining the control plane also writes admin.conf, as kubeadm does.
    if grep -q '^controlPlane:' "$3"; then
      echo admin >"$MESHBUNDLE_SYSROOT/etc/kubernetes/admin.conf"
      mkdir -p "$MESHBUNDLE_SYSROOT/etc/kubernetes/manifests" && echo etcd >"$MESHBUNDLE_SYSROOT/etc/kubernetes/manifests/etcd.yaml"
    fi ;;
esac
case "$*" in
  *"-n shop get deployments,statefulsets,daemonsets -o name"*) printf 'deployment.apps/web\nstatefulset.apps/cache\n' ;;
  *"get peerauthentication"*) printf STRICT ;;
  *"get deployments -l app=istiod"*) printf '1-29-2\n1-30-3\n' ;;
  *"get secret"*) printf '%s' "$MB_CERT_B64" ;;
  # Resource metrics of every node of the production example.
  # A control-plane node's labels, as kubeadm leaves them.
  *"get node "*"-o jsonpath={.metadata.labels}"*) printf '{"kubernetes.io/hostname":"x","node-role.kubernetes.io/control-plane":""}' ;;
esac
exit 0
"#;

struct Harness {
    _dir: tempfile::TempDir,
    bundle: PathBuf,
    sysroot: PathBuf,
    stubs: PathBuf,
    log: PathBuf,
}

fn tarball(dir: &Path, name: &str, members: &[&str]) -> Vec<u8> {
    let src = dir.join(format!("src-{name}"));
    for m in members {
        let p = src.join(m);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, format!("#!/bin/sh\necho {m}\n")).unwrap();
    }
    let out = dir.join(format!("{name}.tgz"));
    let o = Command::new("tar")
        .arg("-czf")
        .arg(&out)
        .arg("-C")
        .arg(&src)
        .args(members)
        .output()
        .unwrap();
    assert!(o.status.success());
    std::fs::read(out).unwrap()
}

impl Harness {
    fn new() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("bundle");
        let sysroot = dir.path().join("root");
        let stubs = dir.path().join("stubs");
        std::fs::create_dir_all(sysroot.join("etc")).unwrap();
        std::fs::write(
            sysroot.join("etc/fstab"),
            "UUID=1 / ext4 defaults 0 1\n/swap.img none swap sw 0 0\n# /old-swap none swap sw 0 0\n",
        )
        .unwrap();
        std::fs::create_dir_all(&stubs).unwrap();
        for s in STUBS {
            let p = stubs.join(s);
            std::fs::write(&p, cluster::with_healthy_cluster(STUB, &example("production"))).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }

        // The files a bundle carries, as small but real archives and binaries.
        let files: Vec<(&str, Vec<u8>)> = vec![
            (
                "containerd-amd64",
                tarball(
                    dir.path(),
                    "containerd",
                    &["bin/containerd", "bin/ctr", "bin/containerd-shim-runc-v2"],
                ),
            ),
            ("runc-amd64", b"#!/bin/sh\necho runc\n".to_vec()),
            (
                "cni-plugins-amd64",
                tarball(dir.path(), "cni", &["bridge", "loopback", "portmap", "host-local"]),
            ),
            ("crictl-amd64", tarball(dir.path(), "crictl", &["crictl"])),
            ("istioctl-amd64", tarball(dir.path(), "istioctl", &["istioctl"])),
            ("kubeadm-amd64", b"#!/bin/sh\necho kubeadm\n".to_vec()),
            ("kubelet-amd64", b"#!/bin/sh\necho kubelet\n".to_vec()),
            ("kubectl-amd64", b"#!/bin/sh\necho kubectl\n".to_vec()),
        ];
        let site = example("production");
        let needs = meshbundle_core::catalog::needs(&site).unwrap();
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
            let sha = match files.iter().find(|(n, _)| *n == f.name) {
                Some((_, b)) => meshbundle_core::digest::Digest::from_hex(&hex::encode(Sha256::digest(b))).unwrap(),
                None => f.sha256.clone().unwrap(),
            };
            lock.files.push(LockedFile {
                name: f.name.clone(),
                url: f.url.clone(),
                sha256: sha,
                size: 0,
            });
        }
        let secrets = meshbundle_core::pki::parse_secrets(
            &std::fs::read_to_string(repo().join("tests/fixtures/production.secrets.yaml")).unwrap(),
        )
        .unwrap();
        let tree = render(
            &site,
            &Inputs {
                lock: Some(&lock),
                secrets: Some(&secrets),
                ..Default::default()
            },
        )
        .unwrap();
        write_tree(&tree, &bundle);
        std::fs::create_dir_all(bundle.join("files")).unwrap();
        for (name, bytes) in &files {
            std::fs::write(bundle.join("files").join(name), bytes).unwrap();
        }
        let log = dir.path().join("calls.log");
        Harness {
            _dir: dir,
            bundle,
            sysroot,
            stubs,
            log,
        }
    }

    fn run(&self, address: &str, args: &[&str]) -> Output {
        let path = format!("{}:/usr/bin:/bin:/usr/sbin:/sbin", self.stubs.display());
        let cert = std::fs::read_to_string(repo().join("tests/fixtures/production.secrets.yaml")).unwrap();
        let s = meshbundle_core::pki::parse_secrets(&cert).unwrap();
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(s.istio.root.cert.as_bytes());
        Command::new("bash")
            .args(args)
            .current_dir(&self.bundle)
            .env_clear()
            .env("PATH", path)
            .env("HOME", self.sysroot.join("root"))
            .env("MESHBUNDLE_SYSROOT", &self.sysroot)
            .env("MB_LOG", &self.log)
            .env("MB_ADDRESS", address)
            .env("MB_CERT_B64", b64)
            .env("TIMEOUT", "1s")
            .output()
            .unwrap()
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn reset_log(&self) {
        let _ = std::fs::remove_file(&self.log);
        let _ = std::fs::remove_file(self.modes_log());
    }

    fn modes_log(&self) -> PathBuf {
        PathBuf::from(format!("{}.modes", self.log.display()))
    }

    /// `MODE PATH` of each configuration kubeadm was handed, as it was then.
    fn config_modes(&self) -> Vec<String> {
        std::fs::read_to_string(self.modes_log())
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn sys(&self, p: &str) -> PathBuf {
        self.sysroot.join(p.trim_start_matches('/'))
    }
}

fn ok(o: &Output) {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        text(&o.stdout),
        text(&o.stderr)
    );
}

fn has(calls: &[String], prefix: &str) -> bool {
    calls.iter().any(|c| c.starts_with(prefix))
}

fn position(calls: &[String], prefix: &str) -> usize {
    calls
        .iter()
        .position(|c| c.starts_with(prefix))
        .unwrap_or_else(|| panic!("no call {prefix}: {calls:#?}"))
}

#[test]
fn first_control_plane_node_bootstrap() {
    let h = Harness::new();
    let b = h.bundle.display().to_string();
    let o = h.run("10.0.0.11", &["nodes/cp-1/bootstrap.sh"]);
    ok(&o);
    let calls = h.calls();
    for expected in [
        "swapoff -a",
        "modprobe overlay",
        "modprobe br_netfilter",
        "sysctl --system",
        "timedatectl set-timezone Etc/UTC",
        "systemctl daemon-reload",
        "systemctl enable --now containerd",
        "systemctl restart containerd",
        "systemctl enable kubelet",
    ] {
        assert!(has(&calls, expected), "missing `{expected}` in {calls:#?}");
    }
    let pull = format!(
        "ctr -n k8s.io images pull --hosts-dir {}/etc/containerd/certs.d ",
        h.sysroot.display()
    );
    for image in [
        "10.0.0.5:5000/kube-apiserver@sha256:",
        "10.0.0.5:5000/pause@sha256:",
        "10.0.0.5:5000/istio/proxyv2@sha256:",
    ] {
        assert!(
            has(&calls, &format!("{pull}{image}")),
            "missing pull of {image} in {calls:#?}"
        );
    }
    let tag = "ctr -n k8s.io images tag --force 10.0.0.5:5000/kube-apiserver@sha256:";
    assert!(
        position(&calls, &pull) < position(&calls, tag) && position(&calls, tag) < position(&calls, "kubeadm init")
    );
    let init = format!(
        "kubeadm init --config {b}/nodes/cp-1/kubeadm.yaml --upload-certs --skip-token-print --skip-certificate-key-print"
    );
    assert!(calls.contains(&init), "{calls:#?}");
    let cni = format!("kubectl apply --server-side --force-conflicts -f {b}/manifests/cni/calico.yaml");
    assert!(position(&calls, &init) < position(&calls, &cni));
    assert!(position(&calls, "swapoff -a") < position(&calls, "kubeadm init"));
    assert!(position(&calls, "systemctl enable --now containerd") < position(&calls, &pull));

    // What landed on the node.
    let config = std::fs::read_to_string(h.sys("/etc/containerd/config.toml")).unwrap();
    assert!(config.contains("SystemdCgroup = true"));
    assert!(h.sys("/etc/containerd/certs.d/10.0.0.5:5000/hosts.toml").exists());
    assert!(
        std::fs::read_to_string(h.sys("/etc/sysctl.d/90-meshbundle.conf"))
            .unwrap()
            .contains("net.ipv4.ip_forward = 1")
    );
    assert!(
        std::fs::read_to_string(h.sys("/etc/modules-load.d/meshbundle.conf"))
            .unwrap()
            .contains("br_netfilter")
    );
    for bin in [
        "usr/local/bin/kubeadm",
        "usr/local/bin/kubelet",
        "usr/local/bin/kubectl",
        "usr/local/bin/crictl",
        "usr/local/bin/istioctl",
        "usr/local/bin/containerd",
        "usr/local/sbin/runc",
        "opt/cni/bin/bridge",
    ] {
        assert!(h.sysroot.join(bin).exists(), "{bin}");
    }
    let key_mode = std::fs::metadata(h.sys("/etc/kubernetes/pki/ca.key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(key_mode, 0o600);
    assert!(h.sys("/etc/kubernetes/pki/etcd/ca.crt").exists());
    assert!(h.sys("/root/.kube/config").exists());
    let fstab = std::fs::read_to_string(h.sys("/etc/fstab")).unwrap();
    assert!(
        fstab.contains("# disabled by meshbundle: /swap.img none swap"),
        "{fstab}"
    );
    assert!(fstab.contains("UUID=1 / ext4"));

    // Run again: nothing is redone that must not be.
    h.reset_log();
    let o = h.run("10.0.0.11", &["nodes/cp-1/bootstrap.sh"]);
    ok(&o);
    let calls = h.calls();
    assert!(!has(&calls, "kubeadm init --config"), "init ran twice: {calls:#?}");
    assert!(
        !has(&calls, "systemctl restart containerd"),
        "containerd restarted with an unchanged config"
    );
    assert!(text(&o.stderr).contains("already initialised"));
    let fstab2 = std::fs::read_to_string(h.sys("/etc/fstab")).unwrap();
    assert_eq!(fstab, fstab2, "fstab edited twice");
}

#[test]
fn other_nodes_join() {
    let h = Harness::new();
    let b = h.bundle.display().to_string();
    ok(&h.run("10.0.0.12", &["nodes/cp-2/bootstrap.sh"]));
    let calls = h.calls();
    assert!(
        calls.contains(&format!("kubeadm join --config {b}/nodes/cp-2/kubeadm.yaml")),
        "{calls:#?}"
    );
    assert!(
        has(&calls, "ctr -n k8s.io images tag --force 10.0.0.5:5000/etcd@"),
        "control-plane images on a control-plane node"
    );
    // A worker is another machine: a fresh root.
    let h = Harness::new();
    let b = h.bundle.display().to_string();
    ok(&h.run("10.0.0.21", &["install.sh", "node"]));
    let calls = h.calls();
    assert!(
        calls.contains(&format!("kubeadm join --config {b}/nodes/worker-1/kubeadm.yaml")),
        "{calls:#?}"
    );
    assert!(
        !has(&calls, "ctr -n k8s.io images tag --force 10.0.0.5:5000/etcd@"),
        "no control-plane images on a worker"
    );
    assert!(
        !h.sysroot.join("usr/local/bin/istioctl").exists(),
        "istioctl only on control-plane nodes"
    );
}

#[test]
fn scripts_refuse_the_wrong_machine_and_damaged_files() {
    let h = Harness::new();
    let o = h.run("10.0.0.99", &["nodes/cp-1/bootstrap.sh"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("does not have the address 10.0.0.11"),
        "{}",
        text(&o.stderr)
    );
    assert!(!has(&h.calls(), "swapoff"), "nothing changed on the wrong machine");

    let o = h.run("10.0.0.99", &["install.sh", "node"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("name the node"), "{}", text(&o.stderr));

    std::fs::write(h.bundle.join("files/kubeadm-amd64"), b"tampered").unwrap();
    let o = h.run("10.0.0.21", &["nodes/worker-1/bootstrap.sh"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("kubeadm-amd64 has sha256"),
        "{}",
        text(&o.stderr)
    );
    assert!(!h.sysroot.join("usr/local/bin/kubeadm").exists());
}

#[test]
fn cluster_step_installs_istio_and_applies_in_order() {
    let h = Harness::new();
    let b = h.bundle.display().to_string();
    let o = h.run("10.0.0.11", &["install.sh", "cluster"]);
    ok(&o);
    let calls = h.calls();
    let apply = |f: &str| format!("kubectl apply --server-side --force-conflicts -f {b}/{f}");
    let order = [
        apply("manifests/namespaces.yaml"),
        "kubectl wait --for=condition=Ready nodes --all".into(),
        apply("secrets/istio-cacerts.yaml"),
        format!("istioctl install -y -f {b}/manifests/istio/istio-operator.yaml"),
        apply("secrets/ingress-tls.yaml"),
        apply("manifests/security/authorization-policies.yaml"),
        apply("manifests/traffic/ingress.yaml"),
        apply("manifests/observability/prometheus.yaml"),
        "istioctl analyze --all-namespaces --revision 1-30-3".into(),
        "istioctl proxy-status --revision 1-30-3".into(),
    ];
    let mut last = 0;
    for step in order {
        let at = position(&calls, &step);
        assert!(at >= last, "`{step}` out of order in {calls:#?}");
        last = at;
    }
}

#[test]
fn operations_scripts() {
    let h = Harness::new();
    let b = h.bundle.display().to_string();

    ok(&h.run("10.0.0.11", &["ops/verify.sh"]));
    let calls = h.calls();
    assert!(has(
        &calls,
        "kubectl -n istio-system rollout status deployment/istiod-1-30-3"
    ));
    assert!(has(
        &calls,
        "kubectl -n istio-ingress rollout status deployment/istio-ingressgateway"
    ));
    assert!(has(&calls, "kubectl -n istio-system rollout status deployment/kiali"));
    assert!(
        !calls.iter().any(|c| c.contains("verify-install")),
        "verify-install no longer exists"
    );

    h.reset_log();
    // Another version's istioctl would install this revision with its own
    // charts: the bundle's is installed first, and nothing goes on while the
    // one on PATH is not this bundle's version.
    let version = PathBuf::from(format!("{}.istioctl-version", h.log.display()));
    std::fs::write(&version, "client version: 1.29.2\n").unwrap();
    let o = h.run("10.0.0.11", &["ops/upgrade-canary.sh"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("installing this bundle's istioctl 1.30.3"),
        "{}",
        text(&o.stderr)
    );
    assert!(
        h.sys("/usr/local/bin/istioctl").exists(),
        "the bundle's istioctl is unpacked"
    );
    assert!(
        !h.calls().iter().any(|c| c.starts_with("istioctl install")),
        "{:#?}",
        h.calls()
    );
    std::fs::remove_file(&version).unwrap();
    h.reset_log();
    // The healthy cluster runs this revision already (tags, gateways): a second
    // run installs with the gateways and restarts each workload, then waits
    // for it, one at a time (bundler/tests/semantics_istio_canary.rs follows
    // whole upgrades through a cluster that keeps its state).
    let o = h.run("10.0.0.11", &["ops/upgrade-canary.sh"]);
    ok(&o);
    let calls = h.calls();
    let precheck = position(&calls, "istioctl x precheck");
    let install = position(
        &calls,
        &format!("istioctl install -y -f {b}/manifests/istio/istio-operator.yaml"),
    );
    let label = position(
        &calls,
        "kubectl label namespace shop istio.io/rev=prod-stable --overwrite",
    );
    let restart = position(&calls, "kubectl -n shop rollout restart deployment.apps/web");
    let status = position(
        &calls,
        "kubectl -n shop rollout status deployment.apps/web --timeout=1s",
    );
    let restart_sts = position(&calls, "kubectl -n shop rollout restart statefulset.apps/cache");
    let status_sts = position(
        &calls,
        "kubectl -n shop rollout status statefulset.apps/cache --timeout=1s",
    );
    assert!(precheck < install && install < label && label < restart, "{calls:#?}");
    assert!(
        restart < status && status < restart_sts && restart_sts < status_sts,
        "{calls:#?}"
    );
    assert!(
        !calls.iter().any(|c| c.contains("enabled=false")),
        "the gateways this revision owns are never left out: {calls:#?}"
    );
    assert!(
        !calls
            .iter()
            .any(|c| c.ends_with("rollout status deployment --timeout=1s")),
        "{calls:#?}"
    );
    assert!(
        text(&o.stdout).contains("remove-revision.sh 1-29-2"),
        "{}",
        text(&o.stdout)
    );

    h.reset_log();
    // A proxy still on the old revision: nothing is removed.
    let proxies = PathBuf::from(format!("{}.proxies", h.log.display()));
    std::fs::write(&proxies, "NAME CLUSTER CDS LDS EDS RDS ECDS ISTIOD VERSION\ncache-0.shop Kubernetes SYNCED SYNCED SYNCED SYNCED IGNORED istiod-1-29-2-7d4 1.29.2\n").unwrap();
    let o = h.run("10.0.0.11", &["ops/remove-revision.sh", "1-29-2"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("still run on 1-29-2") && text(&o.stderr).contains("cache-0.shop"),
        "{}",
        text(&o.stderr)
    );
    assert!(
        !h.calls().iter().any(|c| c.starts_with("istioctl uninstall")),
        "{:#?}",
        h.calls()
    );
    std::fs::remove_file(&proxies).unwrap();
    h.reset_log();
    ok(&h.run("10.0.0.11", &["ops/remove-revision.sh", "1-29-2"]));
    assert!(
        h.calls()
            .contains(&"istioctl uninstall -y --revision 1-29-2".to_string())
    );
    let o = h.run("10.0.0.11", &["ops/remove-revision.sh", "1-30-3"]);
    assert_eq!(o.status.code(), Some(1), "refuses to remove its own revision");

    h.reset_log();
    // A control-plane node: it has admin.conf, through which the script reads the cluster's certificates.
    std::fs::create_dir_all(h.sys("/etc/kubernetes")).unwrap();
    std::fs::write(h.sys("/etc/kubernetes/admin.conf"), "admin\n").unwrap();
    let o = h.run("10.0.0.11", &["ops/cert-expiry.sh", "30"]);
    ok(&o);
    assert!(text(&o.stdout).contains("ok: Istio root CA"), "{}", text(&o.stdout));
    let o = h.run("10.0.0.11", &["ops/cert-expiry.sh", "4000"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "a root that expires within 4000 days is reported"
    );

    h.reset_log();
    ok(&h.run("10.0.0.11", &["ops/renew-join-credentials.sh"]));
    let calls = h.calls();
    let s = meshbundle_core::pki::parse_secrets(
        &std::fs::read_to_string(repo().join("tests/fixtures/production.secrets.yaml")).unwrap(),
    )
    .unwrap();
    let (id, _) = s.kubeadm.token.as_str().split_once('.').unwrap();
    assert!(calls.contains(&format!("kubeadm token delete {id}")), "{calls:#?}");
    assert!(
        calls.contains(&format!("kubeadm token create --config {b}/nodes/cp-1/kubeadm.yaml")),
        "{calls:#?}"
    );
    assert!(has(
        &calls,
        "kubeadm init phase upload-certs --upload-certs --skip-certificate-key-print --config"
    ));

    h.reset_log();
    let out = h.sysroot.join("diag");
    ok(&h.run("10.0.0.11", &["ops/diagnose.sh", out.to_str().unwrap(), "shop/web-1"]));
    let calls = h.calls();
    assert!(has(&calls, "istioctl proxy-status --revision 1-30-3"));
    assert!(has(&calls, "istioctl proxy-config all web-1.shop -o json"));
    assert!(h.sysroot.join("diag.tar.gz").exists());

    h.reset_log();
    let out = h.sysroot.join("backup");
    // The etcdctl stub writes no snapshot: the backup says so and leaves no archive
    // (bundler/tests/etcd_backup.rs runs it against a real etcd).
    let o = h.run("10.0.0.11", &["ops/backup.sh", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("etcdctl wrote no snapshot"),
        "{}",
        text(&o.stderr)
    );
    let calls = h.calls();
    assert!(has(&calls, "kubectl -n kube-system exec etcd-cp-1 -- etcdctl"));
    assert!(has(
        &calls,
        "kubectl get authorizationpolicies.security.istio.io -A -o yaml"
    ));
    assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o700);
    assert!(!h.sysroot.join("backup.tar.gz").exists());
}

fn fixture_secrets() -> meshbundle_core::pki::SiteSecrets {
    meshbundle_core::pki::parse_secrets(
        &std::fs::read_to_string(repo().join("tests/fixtures/production.secrets.yaml")).unwrap(),
    )
    .unwrap()
}

/// The token, its secret half and the certificate key: none may be printed
/// or put on a command line (where `ps` shows it).
fn credentials(s: &meshbundle_core::pki::SiteSecrets) -> [String; 3] {
    let (_, secret) = s.kubeadm.token.as_str().split_once('.').unwrap();
    [
        s.kubeadm.token.as_str().to_string(),
        secret.to_string(),
        s.kubeadm.certificate_key.as_str().to_string(),
    ]
}

fn assert_nothing_shown(what: &str, h: &Harness, o: &Output, s: &meshbundle_core::pki::SiteSecrets) {
    for v in credentials(s) {
        assert!(
            !text(&o.stdout).contains(&v) && !text(&o.stderr).contains(&v),
            "{what} printed a join credential"
        );
        assert!(
            !h.calls().iter().any(|c| c.contains(&v)),
            "{what} put a join credential on a command line: {:#?}",
            h.calls()
        );
    }
}

/// The one document of `kind` in a YAML file.
fn document(path: &Path, kind: &str) -> serde_json::Value {
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut of_kind = docs.into_iter().filter(|d| d["kind"] == kind);
    let d = of_kind
        .next()
        .unwrap_or_else(|| panic!("no {kind} in {}", path.display()));
    assert!(of_kind.next().is_none(), "two {kind} in {}", path.display());
    d
}

#[test]
fn each_node_hands_kubeadm_the_credentials_it_needs_from_its_private_file() {
    let site = example("production");
    let s = fixture_secrets();
    let hash = s.discovery_hash().unwrap();
    let first = site.first_control_plane().unwrap().name.clone();
    let endpoint = site.spec.kubernetes.control_plane_endpoint.clone().unwrap();
    for node in &site.spec.nodes {
        // Each node is its own machine: a fresh root.
        let h = Harness::new();
        let b = h.bundle.display().to_string();
        let config = h.bundle.join(format!("nodes/{}/kubeadm.yaml", node.name));
        let o = h.run(&node.address, &["install.sh", "node"]);
        ok(&o);
        let calls = h.calls();
        let kubeadm: Vec<&String> = calls.iter().filter(|c| c.starts_with("kubeadm ")).collect();
        assert_eq!(kubeadm.len(), 1, "{}: one kubeadm step: {kubeadm:#?}", node.name);
        assert_eq!(
            h.config_modes(),
            vec![format!("600 {}", config.display())],
            "{}: kubeadm got a private file",
            node.name
        );
        assert_nothing_shown(&node.name, &h, &o, &s);
        let is_cp = node.role == meshbundle_core::spec::Role::ControlPlane;
        if node.name == first {
            // kubeadm init creates the token and uploads the CA keys encrypted with the certificate key.
            assert_eq!(
                kubeadm[0],
                &format!(
                    "kubeadm init --config {b}/nodes/{}/kubeadm.yaml --upload-certs --skip-token-print --skip-certificate-key-print",
                    node.name
                )
            );
            let init = document(&config, "InitConfiguration");
            assert_eq!(init["bootstrapTokens"][0]["token"], s.kubeadm.token.as_str());
            assert_eq!(init["certificateKey"], s.kubeadm.certificate_key.as_str());
            assert_eq!(init["nodeRegistration"]["name"], node.name.as_str());
            // The CA it runs with is the one every join pins.
            let ca = std::fs::read_to_string(h.sys("/etc/kubernetes/pki/ca.crt")).unwrap();
            let placed =
                meshbundle_core::pki::cert::spki_sha256(&meshbundle_core::pki::cert::from_pem(&ca).unwrap()).unwrap();
            assert_eq!(placed, hash);
        } else {
            assert_eq!(
                kubeadm[0],
                &format!("kubeadm join --config {b}/nodes/{}/kubeadm.yaml", node.name)
            );
            let join = document(&config, "JoinConfiguration");
            let bt = &join["discovery"]["bootstrapToken"];
            assert_eq!(bt["token"], s.kubeadm.token.as_str(), "{}", node.name);
            assert_eq!(bt["caCertHashes"], serde_json::json!([hash]), "{}", node.name);
            assert_eq!(bt["apiServerEndpoint"], endpoint.as_str(), "{}", node.name);
            assert_eq!(join["nodeRegistration"]["name"], node.name.as_str());
            let raw = std::fs::read_to_string(&config).unwrap();
            if is_cp {
                assert_eq!(
                    join["controlPlane"]["certificateKey"],
                    s.kubeadm.certificate_key.as_str(),
                    "{}",
                    node.name
                );
            } else {
                assert!(
                    join.get("controlPlane").is_none(),
                    "{}: a worker joins as a worker",
                    node.name
                );
                assert!(
                    !raw.contains(s.kubeadm.certificate_key.as_str()),
                    "{}: a worker never gets the certificate key",
                    node.name
                );
            }
        }
        assert_eq!(
            h.sysroot.join("root/.kube/config").exists(),
            is_cp,
            "{}: admin kubeconfig on control-plane nodes only",
            node.name
        );
    }
}

#[test]
fn node_scripts_refuse_a_missing_or_unprotected_kubeadm_configuration() {
    let h = Harness::new();
    let config = h.bundle.join("nodes/worker-1/kubeadm.yaml");
    for mode in [0o644, 0o640, 0o604] {
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(mode)).unwrap();
        h.reset_log();
        let o = h.run("10.0.0.21", &["nodes/worker-1/bootstrap.sh"]);
        assert_eq!(o.status.code(), Some(1), "mode {mode:o}");
        let err = text(&o.stderr);
        assert!(
            err.contains("nodes/worker-1/kubeadm.yaml")
                && err.contains("others can read it")
                && err.contains("chmod 600"),
            "{err}"
        );
        assert!(
            h.calls()
                .iter()
                .all(|c| !c.starts_with("kubeadm") && !c.starts_with("swapoff")),
            "nothing ran: {:#?}",
            h.calls()
        );
    }
    std::fs::remove_file(&config).unwrap();
    h.reset_log();
    let o = h.run("10.0.0.21", &["nodes/worker-1/bootstrap.sh"]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.contains("is missing") && err.contains("--no-private-keys") && err.contains("README.md"),
        "{err}"
    );
    assert!(!has(&h.calls(), "swapoff"));
    let o = h.run("10.0.0.21", &["install.sh", "node"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("--no-private-keys"), "{}", text(&o.stderr));
}

#[test]
fn renew_reads_the_join_credentials_from_the_protected_file_and_refuses_an_unprotected_one() {
    let h = Harness::new();
    let b = h.bundle.display().to_string();
    let s = fixture_secrets();
    let (id, _) = s.kubeadm.token.as_str().split_once('.').unwrap();
    let config = h.bundle.join("nodes/cp-1/kubeadm.yaml");
    let script = std::fs::read_to_string(h.bundle.join("ops/renew-join-credentials.sh")).unwrap();
    for v in credentials(&s) {
        assert!(!script.contains(&v), "the script itself holds no credential");
    }

    let o = h.run("10.0.0.11", &["ops/renew-join-credentials.sh"]);
    ok(&o);
    let calls = h.calls();
    let delete = position(&calls, &format!("kubeadm token delete {id}"));
    let create = position(
        &calls,
        &format!("kubeadm token create --config {b}/nodes/cp-1/kubeadm.yaml"),
    );
    let upload = position(
        &calls,
        &format!(
            "kubeadm init phase upload-certs --upload-certs --skip-certificate-key-print --config {b}/nodes/cp-1/kubeadm.yaml"
        ),
    );
    assert!(delete < create && create < upload, "{calls:#?}");
    // The file kubeadm reads holds the token (with the 24-hour TTL) and the certificate key.
    let init = document(&config, "InitConfiguration");
    assert_eq!(init["bootstrapTokens"][0]["token"], s.kubeadm.token.as_str());
    assert_eq!(init["bootstrapTokens"][0]["ttl"], "24h0m0s");
    assert_eq!(init["certificateKey"], s.kubeadm.certificate_key.as_str());
    assert!(
        h.config_modes()
            .iter()
            .all(|m| m == &format!("600 {}", config.display())),
        "{:#?}",
        h.config_modes()
    );
    assert_eq!(h.config_modes().len(), 2);
    assert_nothing_shown("renew", &h, &o, &s);

    for mode in [0o644, 0o640, 0o660, 0o604] {
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(mode)).unwrap();
        h.reset_log();
        let o = h.run("10.0.0.11", &["ops/renew-join-credentials.sh"]);
        assert_eq!(o.status.code(), Some(1), "mode {mode:o}");
        let err = text(&o.stderr);
        assert!(
            err.contains("nodes/cp-1/kubeadm.yaml") && err.contains("others can read it") && err.contains("chmod 600"),
            "{err}"
        );
        assert!(
            !has(&h.calls(), "kubeadm"),
            "mode {mode:o}: kubeadm ran: {:#?}",
            h.calls()
        );
    }
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o400)).unwrap();
    h.reset_log();
    ok(&h.run("10.0.0.11", &["ops/renew-join-credentials.sh"]));

    std::fs::remove_file(&config).unwrap();
    h.reset_log();
    let o = h.run("10.0.0.11", &["ops/renew-join-credentials.sh"]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.contains("nodes/cp-1/kubeadm.yaml is missing") && err.contains("--no-private-keys"),
        "{err}"
    );
    assert!(!has(&h.calls(), "kubeadm"));
}

// ---- a re-run after kubeadm stopped halfway ----

const HALFWAY: &str = "a previous kubeadm run stopped halfway: run `kubeadm reset -f`, then this script again";

impl Harness {
    /// Makes calls matching `glob` answer `output` with `code`.
    fn answer(&self, glob: &str, code: i32, output: &str) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(format!("{}.answers", self.log.display()))
            .unwrap();
        writeln!(f, "{glob}|{code}|{output}").unwrap();
    }

    fn place(&self, path: &str) {
        let p = self.sys(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "left by kubeadm\n").unwrap();
    }
}

/// The script stopped before any kubeadm init or join, with the message, and
/// went no further.
fn refused_halfway(h: &Harness, o: &Output) {
    assert!(
        !o.status.success(),
        "a half-done kubeadm run was taken as done:\n{}",
        text(&o.stderr)
    );
    assert!(text(&o.stderr).contains(HALFWAY), "{}", text(&o.stderr));
    let calls = h.calls();
    assert!(
        !has(&calls, "kubeadm init") && !has(&calls, "kubeadm join"),
        "{calls:#?}"
    );
    assert!(
        !calls.iter().any(|c| c.contains("manifests/cni/calico.yaml")),
        "went on after the refusal: {calls:#?}"
    );
    assert!(
        !text(&o.stderr).contains("node cp-1 is done") && !text(&o.stderr).contains("is done"),
        "{}",
        text(&o.stderr)
    );
}

const NOT_FOUND_CM: &str = r#"Error from server (NotFound): configmaps "kubeadm-config" not found"#;

#[test]
fn init_rerun_after_a_stop_before_the_control_plane_refuses() {
    // kubeadm stopped after its kubeconfig phase: admin.conf, no API server.
    let h = Harness::new();
    h.place("/etc/kubernetes/admin.conf");
    let o = h.run("10.0.0.11", &["nodes/cp-1/bootstrap.sh"]);
    refused_halfway(&h, &o);
}

#[test]
fn init_rerun_without_kubeadm_config_refuses() {
    // The API server runs, but kubeadm never uploaded its configuration.
    let h = Harness::new();
    h.place("/etc/kubernetes/admin.conf");
    h.place("/etc/kubernetes/manifests/kube-apiserver.yaml");
    h.answer("kubectl *get configmap kubeadm-config*", 1, NOT_FOUND_CM);
    let o = h.run("10.0.0.11", &["nodes/cp-1/bootstrap.sh"]);
    refused_halfway(&h, &o);
    // It asked this node's own API server.
    let calls = h.calls();
    let b = h.sys("/etc/kubernetes/admin.conf").display().to_string();
    let asked =
        format!("kubectl --kubeconfig {b} --server https://10.0.0.11:6443 -n kube-system get configmap kubeadm-config");
    assert!(has(&calls, &asked), "{calls:#?}");
}

#[test]
fn init_rerun_where_admin_conf_has_no_rights_yet_refuses() {
    // kubeadm stopped before it bound admin.conf's group to cluster-admin.
    let h = Harness::new();
    h.place("/etc/kubernetes/admin.conf");
    h.place("/etc/kubernetes/manifests/kube-apiserver.yaml");
    h.answer(
        "kubectl *get configmap kubeadm-config*",
        1,
        r#"Error from server (Forbidden): configmaps "kubeadm-config" is forbidden: User "kubernetes-admin" cannot get resource "configmaps""#,
    );
    let o = h.run("10.0.0.11", &["nodes/cp-1/bootstrap.sh"]);
    refused_halfway(&h, &o);
}

#[test]
fn init_rerun_with_no_api_answer_waits_rather_than_skips_or_resets() {
    let h = Harness::new();
    h.place("/etc/kubernetes/admin.conf");
    h.place("/etc/kubernetes/manifests/kube-apiserver.yaml");
    h.answer(
        "kubectl *get configmap kubeadm-config*",
        1,
        "The connection to the server 10.0.0.11:6443 was refused",
    );
    let o = h.run("10.0.0.11", &["nodes/cp-1/bootstrap.sh"]);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("does not answer"), "{}", text(&o.stderr));
    assert!(!text(&o.stderr).contains("kubeadm reset"), "{}", text(&o.stderr));
    assert!(!has(&h.calls(), "kubeadm init"), "{:#?}", h.calls());
}

#[test]
fn init_rerun_after_a_finished_init_skips_it_and_redoes_the_last_phases() {
    let h = Harness::new();
    let b = h.bundle.display().to_string();
    ok(&h.run("10.0.0.11", &["nodes/cp-1/bootstrap.sh"]));
    h.reset_log();
    let o = h.run("10.0.0.11", &["nodes/cp-1/bootstrap.sh"]);
    ok(&o);
    let calls = h.calls();
    assert!(!has(&calls, "kubeadm init --config"), "{calls:#?}");
    let config = format!("{b}/nodes/cp-1/kubeadm.yaml");
    // kubeadm's phases after upload-config, in its order, each create-or-update.
    let phases = [
        format!("kubeadm init phase upload-certs --config {config} --upload-certs --skip-certificate-key-print"),
        format!("kubeadm init phase mark-control-plane --config {config}"),
        format!("kubeadm init phase bootstrap-token --config {config} --skip-token-print"),
        format!("kubeadm init phase kubelet-finalize all --config {config}"),
        format!("kubeadm init phase addon all --config {config}"),
    ];
    let at: Vec<usize> = phases
        .iter()
        .map(|p| {
            calls
                .iter()
                .position(|c| c == p)
                .unwrap_or_else(|| panic!("no `{p}` in {calls:#?}"))
        })
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{calls:#?}");
    assert!(position(&calls, "kubectl --kubeconfig") < at[0]);
    assert!(
        at[4]
            < position(
                &calls,
                &format!("kubectl apply --server-side --force-conflicts -f {b}/manifests/cni/calico.yaml")
            )
    );
}

#[test]
fn control_plane_join_rerun_refuses_until_etcd_and_the_label_are_there() {
    // kubelet.conf from the kubelet-start phase, no etcd member yet.
    let h = Harness::new();
    h.place("/etc/kubernetes/kubelet.conf");
    let o = h.run("10.0.0.12", &["nodes/cp-2/bootstrap.sh"]);
    refused_halfway(&h, &o);

    // etcd joined, but the control-plane-join phase never marked the node.
    let h = Harness::new();
    h.place("/etc/kubernetes/kubelet.conf");
    h.place("/etc/kubernetes/manifests/etcd.yaml");
    h.answer(
        "kubectl *get node cp-2 -o jsonpath=*",
        0,
        r#"{"kubernetes.io/hostname":"cp-2"}"#,
    );
    let o = h.run("10.0.0.12", &["nodes/cp-2/bootstrap.sh"]);
    refused_halfway(&h, &o);

    // The node never registered.
    let h = Harness::new();
    h.place("/etc/kubernetes/kubelet.conf");
    h.place("/etc/kubernetes/manifests/etcd.yaml");
    h.answer(
        "kubectl *get node cp-2*",
        1,
        r#"Error from server (NotFound): nodes "cp-2" not found"#,
    );
    let o = h.run("10.0.0.12", &["nodes/cp-2/bootstrap.sh"]);
    refused_halfway(&h, &o);
}

#[test]
fn control_plane_join_rerun_after_a_finished_join_skips_it() {
    let h = Harness::new();
    ok(&h.run("10.0.0.12", &["nodes/cp-2/bootstrap.sh"]));
    h.reset_log();
    let o = h.run("10.0.0.12", &["nodes/cp-2/bootstrap.sh"]);
    ok(&o);
    let calls = h.calls();
    assert!(!has(&calls, "kubeadm join"), "{calls:#?}");
    assert!(text(&o.stderr).contains("already joined"), "{}", text(&o.stderr));
    let kubelet = h.sys("/etc/kubernetes/kubelet.conf").display().to_string();
    assert!(
        has(
            &calls,
            &format!("kubectl --kubeconfig {kubelet} get node cp-2 -o jsonpath={{.metadata.labels}}")
        ),
        "{calls:#?}"
    );
}

#[test]
fn worker_join_rerun_needs_the_node_registered() {
    let h = Harness::new();
    h.place("/etc/kubernetes/kubelet.conf");
    h.answer(
        "kubectl *get node worker-1*",
        1,
        r#"Error from server (NotFound): nodes "worker-1" not found"#,
    );
    let o = h.run("10.0.0.21", &["nodes/worker-1/bootstrap.sh"]);
    refused_halfway(&h, &o);

    let h = Harness::new();
    ok(&h.run("10.0.0.21", &["nodes/worker-1/bootstrap.sh"]));
    h.reset_log();
    let o = h.run("10.0.0.21", &["nodes/worker-1/bootstrap.sh"]);
    ok(&o);
    assert!(!has(&h.calls(), "kubeadm join"), "{:#?}", h.calls());
    assert!(text(&o.stderr).contains("already joined"));
}

#[test]
fn verify_checks_that_alertmanager_clusters_and_that_prometheus_sends_to_every_pod() {
    let h = Harness::new();
    ok(&h.run("10.0.0.11", &["ops/verify.sh"]));
    let calls = h.calls();
    assert!(
        has(
            &calls,
            "kubectl -n istio-system rollout status statefulset/alertmanager"
        ),
        "{calls:#?}"
    );
    assert!(has(
        &calls,
        "kubectl get --raw /api/v1/namespaces/istio-system/pods/alertmanager-0:9093/proxy/api/v2/status"
    ));
    assert!(has(
        &calls,
        "kubectl get --raw /api/v1/namespaces/istio-system/services/prometheus:9090/proxy/api/v1/alertmanagers"
    ));

    // Prometheus knows one of the two pods (the other one dropped): a failure that says so.
    h.reset_log();
    h.answer(
        "kubectl *services/prometheus:9090/proxy*",
        0,
        r#"{"status":"success","data":{"activeAlertmanagers":[{"url":"http://10.244.1.7:9093/api/v2/alerts"}],"droppedAlertmanagers":[{"url":"http://10.244.2.9:9093/api/v2/alerts"}]}}"#,
    );
    let o = h.run("10.0.0.11", &["ops/verify.sh"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("Prometheus sends alerts to 1 Alertmanager(s), expected 2"),
        "{}",
        text(&o.stderr)
    );

    // The pods do not see each other: each would notify on its own.
    let _ = std::fs::remove_file(format!("{}.answers", h.log.display()));
    h.answer(
        "kubectl *pods/alertmanager-0:9093/proxy*",
        0,
        r#"{"cluster":{"name":"01J","peers":[{"address":"10.244.1.7:9094","name":"01A"}],"status":"ready"}}"#,
    );
    let o = h.run("10.0.0.11", &["ops/verify.sh"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("the Alertmanager cluster has 1 peer(s), expected 2"),
        "{}",
        text(&o.stderr)
    );

    // Not rolled out.
    let _ = std::fs::remove_file(format!("{}.answers", h.log.display()));
    h.answer(
        "kubectl *rollout status statefulset/alertmanager*",
        1,
        "error: timed out waiting for the condition",
    );
    let o = h.run("10.0.0.11", &["ops/verify.sh"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("alertmanager is not ready"),
        "{}",
        text(&o.stderr)
    );
}
