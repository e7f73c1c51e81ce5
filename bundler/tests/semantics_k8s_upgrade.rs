//! `ops/upgrade-kubernetes.sh` and `nodes/NAME/upgrade.sh`, run for real
//! under bash against a small model of a cluster: each node a scratch root
//! holding the binaries, containerd configuration and units the old bundle
//! installed; the commands that cannot run here (kubeadm, kubectl, systemctl,
//! ctr, crictl) are stubs that record every call, per node, and keep the
//! cluster's state the way the real ones would: a kubelet reports the version
//! of the binary installed when it was last started, `kubeadm upgrade apply`
//! moves kubeadm-config and kube-proxy to its version, a containerd binary
//! refuses a configuration of the other major's format, `kubectl drain`
//! cordons. When the orchestrator waits for a node it told the operator to
//! upgrade, the stub runs that node's `upgrade.sh` in the node's own root,
//! as the operator would.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use meshbundle_core::lock::{Lock, LockedFile, LockedImage};
use meshbundle_core::render::{Inputs, render};
use meshbundle_core::spec::{Role, Site};
use sha2::{Digest, Sha256};

const STUBS: &[&str] = &[
    "kubeadm",
    "kubectl",
    "systemctl",
    "ctr",
    "crictl",
    "ip",
    "uname",
    "istioctl",
];

const STUB: &str = r#"#!/bin/bash
name=$(basename "$0")
C=$MB_CLUSTER
N=$MB_NODE
R=$MESHBUNDLE_SYSROOT
line="$N: $name $*"
# kubeadm on PATH is the one installed on the node: which version it is when called.
if [ "$name" = kubeadm ]; then line="$line [kubeadm $("$R/usr/local/bin/kubeadm" version -o short)]"; fi
echo "$line" >>"$MB_LOG"
# Failures a test injects: lines `NODE|GLOB|EXIT|OUTPUT` in $C/answers.
if [ -f "$C/answers" ]; then
  while IFS='|' read -r node pattern code out; do
    [ "$node" = "$N" ] || continue
    # shellcheck disable=SC2254
    case "$name $*" in $pattern) if [ "$code" = 0 ]; then echo "$out"; else echo "$out" >&2; fi; exit "$code" ;; esac
  done <"$C/answers"
fi
word_after() {
  local key=$1 prev= a
  shift
  for a in "$@"; do
    if [ "$prev" = "$key" ]; then echo "$a"; return; fi
    prev=$a
  done
}
case "$name" in
  ip) echo "2: eth0    inet $MB_ADDRESS/24 brd 10.0.0.255 scope global eth0" ;;
  uname) echo x86_64 ;;
  kubeadm)
    case "$1 $2" in
      "upgrade apply") echo "$3" >"$C/version"; echo "$3" >"$C/kube-proxy"; echo "$3" >"$C/nodes/$N/static" ;;
      "upgrade node") if [ -f "$C/nodes/$N/control-plane" ]; then cp "$C/version" "$C/nodes/$N/static"; fi ;;
    esac ;;
  systemctl)
    case "$1" in
      is-active) [ -f "$R/.running-${*: -1}" ]; exit $? ;;
      start | restart)
        case "$2" in
          containerd)
            ver=$("$R/usr/local/bin/containerd" --version | awk '{print $3}')
            conf=$(sed -n 's/^version = //p' "$R/etc/containerd/config.toml")
            echo "$N: containerd started: binary $ver, config version $conf" >>"$MB_LOG"
            case "$ver/$conf" in
              v1.*/2 | v2.*/3 | v2.*/2) ;;
              *) rm -f "$R/.running-containerd"; echo "containerd $ver: unsupported config version $conf" >&2; exit 1 ;;
            esac
            echo "${ver#v}" >"$R/.containerd-version"
            touch "$R/.running-containerd" ;;
          kubelet)
            "$R/usr/local/bin/kubelet" --version | awk '{print $2}' >"$C/nodes/$N/version"
            touch "$R/.running-kubelet"
            if [ -f "$R/.running-containerd" ]; then touch "$C/nodes/$N/ready"; fi ;;
        esac ;;
      stop)
        rm -f "$R/.running-$2"
        if [ "$2" = kubelet ] || [ "$2" = containerd ]; then rm -f "$C/nodes/$N/ready"; fi ;;
    esac ;;
  ctr)
    case "$1" in
      version)
        [ -f "$R/.running-containerd" ] || exit 1
        printf 'Client:\n  Version:  v0\n\nServer:\n  Version:  v%s\n  UUID: x\n' "$(cat "$R/.containerd-version")" ;;
      -n)
        case "$3 $4" in
          "images ls") echo "REF TYPE DIGEST SIZE PLATFORMS LABELS"; cat "$R/.images" 2>/dev/null ;;
          "images tag")
            { grep -v "^$7 " "$R/.images" 2>/dev/null; echo "$7 application/vnd.oci.image.index.v1+json ${6##*@} 1.0 KiB linux/amd64 -"; } >"$R/.images.new"
            mv "$R/.images.new" "$R/.images" ;;
        esac ;;
    esac ;;
  crictl)
    case "$1" in
      info) [ -f "$R/.running-containerd" ] || exit 1; echo "RuntimeReady=true NetworkReady=true " ;;
    esac ;;
  kubectl)
    case "$*" in
      "get nodes -o jsonpath="*)
        for d in "$C"/nodes/*/; do
          n=$(basename "$d")
          r=False
          if [ -f "$d/ready" ]; then r=True; fi
          printf '%s|%s|%s|%s\n' "$n" "$(cat "$d/version")" "$(cat "$d/mark" 2>/dev/null)" "$r"
        done ;;
      *"get configmap kubeadm-config"*) printf 'apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: %s\n' "$(cat "$C/version")" ;;
      *"get daemonset kube-proxy"*) printf '10.0.0.5:5000/kube-proxy:%s' "$(cat "$C/kube-proxy")" ;;
      *" exec etcd-"*"endpoint health --cluster"*)
        for a in $(cat "$C/etcd-members"); do echo "https://$a:2379 is healthy: successfully committed proposal: took = 2.1ms"; done ;;
      *" exec etcd-"*"snapshot save "*) f=${*: -1}; mkdir -p "$R/var/lib/etcd"; echo "etcd at $(cat "$C/version")" >"$R$f"; echo "$N: snapshot of $(cat "$C/version")" >>"$MB_LOG" ;;
      *" exec etcd-"*"snapshot status"*) printf '| HASH | REVISION | TOTAL KEYS | TOTAL SIZE |\n| 1a2b3c4d | 4711 | 1024 | 4.1 MB |\n' ;;
      "drain "*) touch "$C/nodes/$2/cordoned" ;;
      "uncordon "*) rm -f "$C/nodes/$2/cordoned" ;;
      "annotate node "*)
        case "$4" in
          *-) rm -f "$C/nodes/$3/mark" ;;
          *=*) echo "${4#*=}" >"$C/nodes/$3/mark" ;;
        esac ;;
      *"get node "*"{.spec.unschedulable}"*)
        n=$(word_after node "$@")
        u=""
        if [ -f "$C/nodes/$n/cordoned" ]; then u=true; fi
        printf '%s/%s' "$u" "$(cat "$C/nodes/$n/mark" 2>/dev/null)" ;;
      "wait --for=jsonpath="*)
        n=${3#node/}
        want=${2##*=}
        if [ "$(cat "$C/nodes/$n/version")" != "$want" ] && [ "$n" != "$N" ] && [ -f "$C/nodes/$n/mark" ]; then
          # The operator runs that node's upgrade on it, as told.
          MB_NODE=$n MESHBUNDLE_SYSROOT="$MB_ROOTS/$n" MB_ADDRESS=$(cat "$C/nodes/$n/address") \
            bash "$MB_BUNDLE/nodes/$n/upgrade.sh" >>"$MB_LOG.remote" 2>&1
          echo "$n: upgrade.sh exited $?" >>"$MB_LOG"
        fi
        if [ "$(cat "$C/nodes/$n/version")" != "$want" ]; then echo "error: timed out waiting for the condition on nodes/$n" >&2; exit 1; fi ;;
      "wait --for=condition=Ready node/"*) [ -f "$C/nodes/${3#node/}/ready" ] || exit 1 ;;
      "get node "*"{.status.nodeInfo.kubeletVersion}") cat "$C/nodes/$3/version" ;;
      "-n kube-system get pod "*)
        for c in kube-apiserver kube-controller-manager kube-scheduler; do
          case "$5" in "$c-"*) printf '10.0.0.5:5000/%s:%s' "$c" "$(cat "$C/nodes/${5#"$c-"}/static")" ;; esac
        done ;;
    esac ;;
esac
exit 0
"#;

/// A carried release file as a small script that reports its version.
fn reporting(what: &str) -> Vec<u8> {
    format!("#!/bin/sh\necho \"{what}\"\n").into_bytes()
}

fn kubeadm_binary(version: &str) -> Vec<u8> {
    format!("#!/bin/sh\ncase \"$1\" in version) echo v{version} ;; esac\n").into_bytes()
}

fn tarball(dir: &Path, name: &str, members: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let src = dir.join(format!("src-{name}"));
    for (m, bytes) in members {
        let p = src.join(m);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = dir.join(format!("{name}.tgz"));
    let names: Vec<&str> = members.iter().map(|(m, _)| *m).collect();
    let o = Command::new("tar")
        .arg("-czf")
        .arg(&out)
        .arg("-C")
        .arg(&src)
        .args(&names)
        .output()
        .unwrap();
    assert!(o.status.success());
    std::fs::read(out).unwrap()
}

fn containerd_binary(version: &str) -> Vec<u8> {
    let module = if version.starts_with('1') {
        "github.com/containerd/containerd"
    } else {
        "github.com/containerd/containerd/v2"
    };
    reporting(&format!("containerd {module} v{version} 0123abcd"))
}

/// The release files of a Kubernetes and containerd version, as the bundle
/// carries them (names without the architecture).
fn release(dir: &Path, k8s: &str, containerd: &str) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "containerd",
            tarball(
                dir,
                &format!("containerd-{containerd}"),
                &[
                    ("bin/containerd", containerd_binary(containerd)),
                    ("bin/ctr", reporting("ctr")),
                    ("bin/containerd-shim-runc-v2", reporting("shim")),
                ],
            ),
        ),
        ("runc", reporting(&format!("runc for containerd {containerd}"))),
        ("cni-plugins", tarball(dir, "cni", &[("bridge", reporting("bridge"))])),
        (
            "crictl",
            tarball(
                dir,
                &format!("crictl-{k8s}"),
                &[("crictl", reporting(&format!("crictl v{k8s}")))],
            ),
        ),
        (
            "istioctl",
            tarball(dir, "istioctl", &[("istioctl", reporting("istioctl"))]),
        ),
        ("kubeadm", kubeadm_binary(k8s)),
        ("kubelet", reporting(&format!("Kubernetes v{k8s}"))),
        ("kubectl", reporting(&format!("kubectl v{k8s}"))),
    ]
}

fn lock_for(site: &Site, files: &[(&str, Vec<u8>)]) -> Lock {
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
        let sha = match files.iter().find(|(n, _)| format!("{n}-amd64") == f.name) {
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
    lock
}

struct Cluster {
    _dir: tempfile::TempDir,
    site: Site,
    bundle: PathBuf,
    roots: PathBuf,
    state: PathBuf,
    stubs: PathBuf,
    log: PathBuf,
    /// The containerd configuration the old bundle installed.
    old_config: Vec<u8>,
}

fn site_at(k8s: &str, containerd: &str) -> Site {
    let mut s = example("production");
    s.spec.kubernetes.version = k8s.into();
    s.spec.containerd.version = containerd.into();
    s
}

impl Cluster {
    /// A cluster the bundle of `old` installed, and the extracted bundle of `new`.
    fn new(old: &Site, new: &Site) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("bundle");
        let roots = dir.path().join("roots");
        let state = dir.path().join("cluster");
        let stubs = dir.path().join("stubs");
        std::fs::create_dir_all(&stubs).unwrap();
        for s in STUBS {
            let p = stubs.join(s);
            std::fs::write(&p, STUB).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let secrets = meshbundle_core::pki::parse_secrets(
            &std::fs::read_to_string(repo().join("tests/fixtures/production.secrets.yaml")).unwrap(),
        )
        .unwrap();

        let new_files = release(dir.path(), &new.spec.kubernetes.version, &new.spec.containerd.version);
        let lock = lock_for(new, &new_files);
        let tree = render(
            new,
            &Inputs {
                lock: Some(&lock),
                secrets: Some(&secrets),
                ..Default::default()
            },
        )
        .unwrap();
        write_tree(&tree, &bundle);
        std::fs::create_dir_all(bundle.join("files")).unwrap();
        for (name, bytes) in &new_files {
            std::fs::write(bundle.join("files").join(format!("{name}-amd64")), bytes).unwrap();
        }

        // What the old bundle left on every node.
        let old_tree = render(
            old,
            &Inputs {
                secrets: Some(&secrets),
                ..Default::default()
            },
        )
        .unwrap();
        let old_config = old_tree.get("common/etc/containerd/config.toml").unwrap().bytes.clone();
        let old_files = release(dir.path(), &old.spec.kubernetes.version, &old.spec.containerd.version);
        let old_v = format!("v{}", old.spec.kubernetes.version);
        std::fs::create_dir_all(state.join("nodes")).unwrap();
        std::fs::write(state.join("version"), format!("{old_v}\n")).unwrap();
        std::fs::write(state.join("kube-proxy"), format!("{old_v}\n")).unwrap();
        let members: Vec<&str> = new
            .spec
            .nodes
            .iter()
            .filter(|n| n.role == Role::ControlPlane)
            .map(|n| n.address.as_str())
            .collect();
        std::fs::write(state.join("etcd-members"), members.join(" ")).unwrap();
        for node in &new.spec.nodes {
            let root = roots.join(&node.name);
            let put = |path: &str, bytes: &[u8], mode: u32| {
                let p = root.join(path);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(&p, bytes).unwrap();
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            };
            let file = |n: &str| old_files.iter().find(|(f, _)| *f == n).unwrap().1.clone();
            put("usr/local/bin/kubeadm", &file("kubeadm"), 0o755);
            put("usr/local/bin/kubelet", &file("kubelet"), 0o755);
            put("usr/local/bin/kubectl", &file("kubectl"), 0o755);
            put(
                "usr/local/bin/containerd",
                &containerd_binary(&old.spec.containerd.version),
                0o755,
            );
            put("usr/local/bin/ctr", &reporting("ctr"), 0o755);
            put("usr/local/bin/containerd-shim-runc-v2", &reporting("shim"), 0o755);
            put("usr/local/sbin/runc", &file("runc"), 0o755);
            for p in [
                "common/etc/containerd/config.toml",
                "common/etc/systemd/system/containerd.service",
                "common/etc/systemd/system/kubelet.service",
                "common/etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
            ] {
                put(p.trim_start_matches("common/"), &old_tree.get(p).unwrap().bytes, 0o644);
            }
            put("etc/kubernetes/kubelet.conf", b"kubelet\n", 0o600);
            if node.role == Role::ControlPlane {
                put("etc/kubernetes/admin.conf", b"admin\n", 0o600);
            }
            put(".running-containerd", b"", 0o644);
            put(".running-kubelet", b"", 0o644);
            put(".containerd-version", old.spec.containerd.version.as_bytes(), 0o644);
            let n = state.join("nodes").join(&node.name);
            std::fs::create_dir_all(&n).unwrap();
            std::fs::write(n.join("version"), &old_v).unwrap();
            std::fs::write(n.join("address"), &node.address).unwrap();
            std::fs::write(n.join("ready"), "").unwrap();
            if node.role == Role::ControlPlane {
                std::fs::write(n.join("control-plane"), "").unwrap();
                std::fs::write(n.join("static"), &old_v).unwrap();
            }
        }
        let log = dir.path().join("calls.log");
        Cluster {
            _dir: dir,
            site: new.clone(),
            bundle,
            roots,
            state,
            stubs,
            log,
            old_config,
        }
    }

    fn address(&self, node: &str) -> String {
        self.site
            .spec
            .nodes
            .iter()
            .find(|n| n.name == node)
            .unwrap()
            .address
            .clone()
    }

    /// Runs a script of the bundle as root on `node`.
    fn run(&self, node: &str, script: &str) -> Output {
        let path = format!("{}:/usr/bin:/bin:/usr/sbin:/sbin", self.stubs.display());
        Command::new("bash")
            .arg(script)
            .current_dir(&self.bundle)
            .env_clear()
            .env("PATH", path)
            .env("HOME", self.roots.join(node).join("root"))
            .env("MESHBUNDLE_SYSROOT", self.roots.join(node))
            .env("MB_LOG", &self.log)
            .env("MB_NODE", node)
            .env("MB_ADDRESS", self.address(node))
            .env("MB_CLUSTER", &self.state)
            .env("MB_ROOTS", &self.roots)
            .env("MB_BUNDLE", &self.bundle)
            .output()
            .unwrap()
    }

    fn upgrade(&self) -> Output {
        self.run("cp-1", "ops/upgrade-kubernetes.sh")
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn remote_output(&self) -> String {
        std::fs::read_to_string(format!("{}.remote", self.log.display())).unwrap_or_default()
    }

    fn reset_log(&self) {
        let _ = std::fs::remove_file(&self.log);
    }

    fn fail(&self, node: &str, glob: &str, output: &str) {
        std::fs::write(self.state.join("answers"), format!("{node}|{glob}|1|{output}\n")).unwrap();
    }

    fn heal(&self) {
        let _ = std::fs::remove_file(self.state.join("answers"));
    }

    fn node_state(&self, node: &str, what: &str) -> Option<String> {
        std::fs::read_to_string(self.state.join("nodes").join(node).join(what))
            .ok()
            .map(|s| s.trim().to_string())
    }

    fn names(&self, role: Role) -> Vec<String> {
        self.site
            .spec
            .nodes
            .iter()
            .filter(|n| n.role == role)
            .map(|n| n.name.clone())
            .collect()
    }

    fn order(&self) -> Vec<String> {
        let mut v = self.names(Role::ControlPlane);
        v.extend(self.names(Role::Worker));
        v
    }
}

fn ok(o: &Output, c: &Cluster) {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}\nremote:\n{}",
        o.status.code(),
        text(&o.stdout),
        text(&o.stderr),
        c.remote_output()
    );
}

fn at(calls: &[String], line: &str) -> usize {
    calls
        .iter()
        .position(|c| c.starts_with(line))
        .unwrap_or_else(|| panic!("no `{line}` in {calls:#?}"))
}

fn last_at(calls: &[String], line: &str) -> usize {
    calls
        .iter()
        .rposition(|c| c.starts_with(line))
        .unwrap_or_else(|| panic!("no `{line}` in {calls:#?}"))
}

fn count(calls: &[String], needle: &str) -> usize {
    calls.iter().filter(|c| c.contains(needle)).count()
}

/// The orchestrator's call on node `n`.
fn drain(n: &str) -> String {
    format!("cp-1: kubectl drain {n} --ignore-daemonsets --delete-emptydir-data --timeout=")
}

fn uncordon(n: &str) -> String {
    format!("cp-1: kubectl uncordon {n}")
}

/// What every run that upgrades every node must show: the order of the
/// whole, and of each node.
fn assert_upgraded_in_order(c: &Cluster, calls: &[String], target: &str, ctrd: &str) {
    let first = "cp-1";
    // Preflight before anything changes: etcd healthy, then a snapshot, then the first drain.
    let health = at(calls, "cp-1: kubectl -n kube-system exec etcd-cp-1 -- etcdctl");
    assert!(
        calls[health].ends_with("endpoint health --cluster"),
        "{}",
        calls[health]
    );
    let snapshot = at(calls, "cp-1: snapshot of v");
    assert!(health < snapshot && snapshot < at(calls, &drain(first)), "{calls:#?}");
    // kubeadm upgrade apply once, on the first control-plane node, with the new kubeadm, after plan and the snapshot.
    let apply = format!("{first}: kubeadm upgrade apply {target} --yes [kubeadm {target}]");
    assert_eq!(count(calls, "kubeadm upgrade apply"), 1, "{calls:#?}");
    let apply_at = at(calls, &apply);
    assert!(
        snapshot
            < at(
                calls,
                &format!("{first}: kubeadm upgrade plan {target} [kubeadm {target}]")
            )
    );
    assert!(at(calls, &format!("{first}: kubeadm upgrade plan")) < apply_at);
    assert_eq!(
        count(calls, ": kubeadm upgrade node"),
        c.site.spec.nodes.len() - 1,
        "{calls:#?}"
    );

    let order = c.order();
    let mut previous_uncordon = 0;
    for n in &order {
        let d = at(calls, &drain(n));
        let mark = at(
            calls,
            &format!("cp-1: kubectl annotate node {n} meshbundle.dev/kubernetes-upgrade={target} --overwrite"),
        );
        let kubeadm = if n == first {
            apply_at
        } else {
            at(calls, &format!("{n}: kubeadm upgrade node [kubeadm {target}]"))
        };
        let restart = at(calls, &format!("{n}: systemctl restart kubelet"));
        let wait = at(
            calls,
            &format!("cp-1: kubectl wait --for=jsonpath={{.status.nodeInfo.kubeletVersion}}={target} node/{n}"),
        );
        let check = last_at(
            calls,
            &format!("cp-1: kubectl get node {n} -o jsonpath={{.status.nodeInfo.kubeletVersion}}"),
        );
        let u = at(calls, &uncordon(n));
        assert!(
            previous_uncordon < d,
            "{n} drained before the node before it was given back: {calls:#?}"
        );
        assert!(
            d < mark && mark < kubeadm && kubeadm < restart && restart < check && wait < check && check < u,
            "{n}: {calls:#?}"
        );
        // systemd reads the kubelet's units again between kubeadm and the restart.
        let reload = calls[..restart]
            .iter()
            .rposition(|l| l == &format!("{n}: systemctl daemon-reload"))
            .unwrap();
        assert!(kubeadm < reload, "{n}: {calls:#?}");
        // containerd: kubelet stopped, containerd replaced and checked, kubelet started; all before kubeadm.
        let stop_kubelet = at(calls, &format!("{n}: systemctl stop kubelet"));
        let stop = at(calls, &format!("{n}: systemctl stop containerd"));
        let start = at(
            calls,
            &format!("{n}: containerd started: binary v{ctrd}, config version 3"),
        );
        let version = at(calls, &format!("{n}: ctr version"));
        let info = at(calls, &format!("{n}: crictl info"));
        let start_kubelet = at(calls, &format!("{n}: systemctl start kubelet"));
        assert!(
            mark < stop_kubelet && stop_kubelet < stop && stop < start && start < version && version < info,
            "{n}: {calls:#?}"
        );
        assert!(info < start_kubelet && start_kubelet < kubeadm, "{n}: {calls:#?}");
        assert_eq!(count(calls, &format!("{n}: systemctl stop containerd")), 1, "{n}");
        previous_uncordon = u;

        assert_eq!(c.node_state(n, "version").as_deref(), Some(target), "{n}");
        assert_eq!(c.node_state(n, "cordoned"), None, "{n} left cordoned");
        assert_eq!(c.node_state(n, "mark"), None, "{n} left marked");
        if c.names(Role::ControlPlane).contains(n) {
            assert_eq!(
                c.node_state(n, "static").as_deref(),
                Some(target),
                "{n}'s control plane"
            );
        }
        // What runs on the node is the bundle's, checked against the lock.
        let root = c.roots.join(n);
        for bin in ["kubeadm", "kubelet", "kubectl"] {
            assert_eq!(
                std::fs::read(root.join("usr/local/bin").join(bin)).unwrap(),
                std::fs::read(c.bundle.join(format!("files/{bin}-amd64"))).unwrap(),
                "{n}: {bin}"
            );
        }
        assert_eq!(
            std::fs::read(root.join("etc/containerd/config.toml")).unwrap(),
            std::fs::read(c.bundle.join("common/etc/containerd/config.toml")).unwrap(),
            "{n}: containerd's configuration"
        );
    }
    // No worker before every control-plane node is done.
    let last_cp = c
        .names(Role::ControlPlane)
        .iter()
        .map(|n| at(calls, &uncordon(n)))
        .max()
        .unwrap();
    let first_worker = c
        .names(Role::Worker)
        .iter()
        .map(|n| at(calls, &drain(n)))
        .min()
        .unwrap();
    assert!(last_cp < first_worker, "{calls:#?}");
    // A containerd is never started on a configuration of the other major.
    for l in calls.iter().filter(|l| l.contains("containerd started:")) {
        assert!(l.contains("binary v1.") == l.ends_with("config version 2"), "{l}");
    }
    assert_eq!(std::fs::read_to_string(c.state.join("version")).unwrap().trim(), target);
    assert_eq!(
        std::fs::read_to_string(c.state.join("kube-proxy")).unwrap().trim(),
        target
    );
}

#[test]
fn kubernetes_1_33_to_1_34_goes_node_by_node_control_plane_first() {
    let old = site_at("1.33.13", "2.2.3");
    let new = site_at("1.34.12", "2.2.3");
    let c = Cluster::new(&old, &new);
    let o = c.upgrade();
    ok(&o, &c);
    let calls = c.calls();
    assert_upgraded_in_order(&c, &calls, "v1.34.12", "2.2.3");
    assert!(
        text(&o.stderr).contains("upgrading from v1.33.13 to v1.34.12")
            || text(&o.stdout).contains("upgrading from v1.33.13 to v1.34.12")
    );
    // The snapshot is in a private backup with its checked sha256.
    let backups = c.roots.join("cp-1/var/lib/meshbundle/backups");
    assert_eq!(std::fs::metadata(&backups).unwrap().permissions().mode() & 0o777, 0o700);
    let taken: Vec<_> = std::fs::read_dir(&backups)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(taken.len(), 1, "{taken:?}");
    assert!(
        taken[0]
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("before-kubernetes-v1.34.12-")
    );
    assert_eq!(
        std::fs::read_to_string(taken[0].join("etcd-snapshot.db"))
            .unwrap()
            .trim(),
        "etcd at v1.33.13"
    );

    // Run again: everything is done, nothing is drained or applied.
    c.reset_log();
    ok(&c.upgrade(), &c);
    let calls = c.calls();
    assert!(
        !calls
            .iter()
            .any(|l| l.contains("kubectl drain") || l.contains("kubeadm upgrade") || l.contains("snapshot save")),
        "{calls:#?}"
    );
}

#[test]
fn kubernetes_1_35_to_1_36_migrates_containerd_1_7_to_2() {
    let old = site_at("1.35.9", "1.7.27");
    let new = site_at("1.36.5", "2.2.3");
    let c = Cluster::new(&old, &new);
    assert!(String::from_utf8_lossy(&c.old_config).contains("version = 2"));
    ok(&c.upgrade(), &c);
    let calls = c.calls();
    assert_upgraded_in_order(&c, &calls, "v1.36.5", "2.2.3");
    for n in c.order() {
        let root = c.roots.join(&n);
        assert_eq!(
            std::fs::read_to_string(root.join(".containerd-version"))
                .unwrap()
                .trim(),
            "2.2.3",
            "{n}"
        );
        // The old containerd is kept: its configuration, unit and binaries, privately.
        let saved = root.join("var/lib/meshbundle/containerd-1.7.27");
        assert_eq!(std::fs::metadata(&saved).unwrap().permissions().mode() & 0o777, 0o700);
        assert_eq!(std::fs::read(saved.join("config.toml")).unwrap(), c.old_config, "{n}");
        let listing = Command::new("tar")
            .arg("-tzf")
            .arg(saved.join("binaries.tar.gz"))
            .output()
            .unwrap();
        let listing = text(&listing.stdout);
        for member in ["bin/containerd", "bin/ctr", "bin/containerd-shim-runc-v2", "sbin/runc"] {
            assert!(
                listing.lines().any(|l| l == member),
                "{n}: {member} not saved: {listing}"
            );
        }
    }
    // The saved configuration is one containerd 1.x reads (the real containerd here).
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("config.toml");
    std::fs::write(&saved, &c.old_config).unwrap();
    let o = Command::new("containerd")
        .arg("--config")
        .arg(&saved)
        .args(["config", "dump"])
        .output()
        .expect("containerd");
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("SystemdCgroup = true"));
}

#[test]
fn a_failure_at_the_second_worker_stops_and_the_next_run_resumes_there() {
    let old = site_at("1.33.13", "2.2.3");
    let new = site_at("1.34.12", "2.2.3");
    let c = Cluster::new(&old, &new);
    c.fail(
        "worker-2",
        "kubeadm upgrade node*",
        "error execution phase kubelet-config: timed out",
    );
    let o = c.upgrade();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains("worker-2's kubelet does not report v1.34.12") && err.contains("worker-2 stays drained"),
        "{err}"
    );
    let calls = c.calls();
    assert!(calls.iter().any(|l| l == "worker-2: upgrade.sh exited 1"), "{calls:#?}");
    assert!(
        !calls.iter().any(|l| l.contains("kubectl drain worker-3")),
        "went on after the failure: {calls:#?}"
    );
    assert!(
        !calls.iter().any(|l| l.contains("worker-2: systemctl restart kubelet")),
        "{calls:#?}"
    );
    assert_eq!(c.node_state("worker-1", "version").as_deref(), Some("v1.34.12"));
    assert_eq!(c.node_state("worker-1", "cordoned"), None);
    assert_eq!(c.node_state("worker-2", "version").as_deref(), Some("v1.33.13"));
    assert!(
        c.node_state("worker-2", "cordoned").is_some(),
        "the failed node stays drained"
    );
    assert_eq!(c.node_state("worker-3", "version").as_deref(), Some("v1.33.13"));

    c.heal();
    c.reset_log();
    ok(&c.upgrade(), &c);
    let calls = c.calls();
    assert_eq!(count(&calls, "kubeadm upgrade apply"), 0, "apply ran again: {calls:#?}");
    assert_eq!(count(&calls, "snapshot save"), 0, "{calls:#?}");
    for done in ["cp-1", "cp-2", "cp-3", "worker-1"] {
        assert!(
            !calls.iter().any(|l| l.starts_with(&drain(done))),
            "{done} drained again: {calls:#?}"
        );
        let on_it = |l: &&String| {
            l.starts_with(&format!("{done}: "))
                && (l.contains(": kubeadm ") || l.contains(": systemctl ") || l.contains(": ctr "))
        };
        assert!(!calls.iter().any(|l| on_it(&l)), "{done} touched again: {calls:#?}");
    }
    let w2 = at(&calls, &drain("worker-2"));
    assert!(w2 < at(&calls, "worker-2: kubeadm upgrade node [kubeadm v1.34.12]"));
    assert!(at(&calls, &uncordon("worker-2")) < at(&calls, &drain("worker-3")));
    for n in c.order() {
        assert_eq!(c.node_state(&n, "version").as_deref(), Some("v1.34.12"), "{n}");
        assert_eq!(c.node_state(&n, "cordoned"), None, "{n}");
    }
}

#[test]
fn a_skip_of_two_minor_versions_is_refused_before_anything_changes() {
    let old = site_at("1.32.13", "2.2.3");
    let new = site_at("1.34.12", "2.2.3");
    let c = Cluster::new(&old, &new);
    let o = c.upgrade();
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.contains("one minor version at a time") && err.contains("upgrade to v1.33.x first"),
        "{err}"
    );
    let calls = c.calls();
    assert!(
        !calls.iter().any(|l| l.contains("drain")
            || l.contains(": kubeadm ")
            || l.contains("snapshot")
            || l.contains(": systemctl ")),
        "{calls:#?}"
    );

    // Nodes on two versions, or a downgrade: refused too.
    let c = Cluster::new(&site_at("1.33.13", "2.2.3"), &new);
    std::fs::write(c.state.join("nodes/worker-3/version"), "v1.32.13").unwrap();
    let o = c.upgrade();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("every node must run one version"),
        "{}",
        text(&o.stderr)
    );
    assert!(!c.calls().iter().any(|l| l.contains("drain")));
    let c = Cluster::new(&site_at("1.35.9", "2.2.3"), &new);
    let o = c.upgrade();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("kubeadm does not downgrade"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn a_containerd_that_does_not_come_up_is_put_back_with_its_own_configuration() {
    let old = site_at("1.35.9", "1.7.27");
    let new = site_at("1.36.5", "2.2.3");
    let c = Cluster::new(&old, &new);
    c.fail("cp-2", "crictl info*", "connect: connection refused");
    let o = c.upgrade();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let calls = c.calls();
    let root = c.roots.join("cp-2");
    assert_eq!(
        std::fs::read(root.join("etc/containerd/config.toml")).unwrap(),
        c.old_config,
        "the 1.7 configuration is back"
    );
    let version = Command::new(root.join("usr/local/bin/containerd"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(text(&version.stdout).contains(" v1.7.27 "), "{}", text(&version.stdout));
    let restarted = last_at(&calls, "cp-2: containerd started:");
    assert!(
        calls[restarted].ends_with("binary v1.7.27, config version 2"),
        "{}",
        calls[restarted]
    );
    assert!(
        restarted < last_at(&calls, "cp-2: systemctl start kubelet"),
        "the kubelet runs again: {calls:#?}"
    );
    assert!(
        !calls.iter().any(|l| l.starts_with("cp-2: kubeadm upgrade node")),
        "{calls:#?}"
    );
    assert!(!calls.iter().any(|l| l.contains("kubectl drain cp-3")), "{calls:#?}");
    assert!(
        c.remote_output()
            .contains("the previous containerd runs again with its own configuration"),
        "{}",
        c.remote_output()
    );
}

#[test]
fn a_node_that_is_not_drained_is_left_alone() {
    let c = Cluster::new(&site_at("1.33.13", "2.2.3"), &site_at("1.34.12", "2.2.3"));
    let o = c.run("worker-1", "nodes/worker-1/upgrade.sh");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("node worker-1 is not drained for the upgrade to v1.34.12"),
        "{}",
        text(&o.stderr)
    );
    let calls = c.calls();
    assert!(
        !calls
            .iter()
            .any(|l| l.contains(": kubeadm ") || l.contains(": systemctl ")),
        "{calls:#?}"
    );
    assert_eq!(
        std::fs::read(c.roots.join("worker-1/usr/local/bin/kubelet")).unwrap(),
        reporting("Kubernetes v1.33.13"),
        "the kubelet was not touched"
    );
}
