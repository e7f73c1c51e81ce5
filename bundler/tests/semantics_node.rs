//! What the node preparation means, checked on what it does rather than on
//! its shape: the image tags kubeadm asks for resolve, in a real containerd,
//! to the digests the lock pins; the conntrack table a node ends up with is
//! the one the spec asks for, in every proxy mode; flanneld uses the
//! interface of the node's address; containerd's sandbox image is the one
//! kubeadm expects.
//!
//! The pull test runs a node's whole bootstrap script under bash against a
//! scratch root, with containerd 1.6 and ctr for real (started here, as root,
//! with its own config, root, state and socket) and a docker-registry on
//! 127.0.0.1 holding the site's images; what cannot run here (kubeadm,
//! kubectl, systemctl, sysctl, modprobe, ...) is a recording stub.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use common::registry::{Containerd, run, skopeo_digest};
use common::site::serve;
use common::*;
use meshbundle_core::catalog::{catalog, needs};
use meshbundle_core::diag::Severity;
use meshbundle_core::lock::{Lock, LockedFile, LockedImage};
use meshbundle_core::render::{Inputs, render};
use meshbundle_core::spec::{ProxyMode, Role, Site};
use meshbundle_core::tree::FileTree;
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------------------
// Point 7: the tags kubeadm asks for resolve locally to the pinned digests.

/// Everything the node script calls that cannot run here. ctr is not among them.
const STUBS: &[&str] = &[
    "kubeadm",
    "kubectl",
    "istioctl",
    "systemctl",
    "sysctl",
    "modprobe",
    "swapoff",
    "crictl",
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
echo "$(basename "$0") $*" >>"$MB_LOG"
case "$(basename "$0") $1 $2" in
  "ip -o -4") echo "2: eth0    inet $MB_ADDRESS/24 brd 10.0.0.255 scope global eth0" ;;
  "uname -m "*) echo x86_64 ;;
  # chrony synchronised: cp-1 (the production example's time source) on its own clock, the others to cp-1.
  "chronyc -n -c")
    if [ "$MB_ADDRESS" = 10.0.0.11 ]; then echo "7F7F0101,127.127.1.1,10,1764547200.000000000,0.000000000,0.000000000,0.000000000,0.000,0.000,0.000,0.000000000,0.000000000,0.0,Normal"
    else echo "0A00000B,10.0.0.11,11,1764547200.000000000,-0.000012000,0.000001000,0.000010000,-1.234,0.001,0.010,0.000200000,0.000100000,64.0,Normal"; fi ;;
  # kubeadm init writes admin.conf and the API server's static pod manifest.
  "kubeadm init --config") mkdir -p "$MESHBUNDLE_SYSROOT/etc/kubernetes/manifests" && echo admin >"$MESHBUNDLE_SYSROOT/etc/kubernetes/admin.conf" &&
    echo apiserver >"$MESHBUNDLE_SYSROOT/etc/kubernetes/manifests/kube-apiserver.yaml" ;;
  "kubeadm join "*) mkdir -p "$MESHBUNDLE_SYSROOT/etc/kubernetes" && echo kubelet >"$MESHBUNDLE_SYSROOT/etc/kubernetes/kubelet.conf" ;;
esac
exit 0
"#;

fn tarball(dir: &Path, name: &str, members: &[&str]) -> Vec<u8> {
    let src = dir.join(format!("src-{name}"));
    for m in members {
        let p = src.join(m);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, format!("#!/bin/sh\necho {m}\n")).unwrap();
    }
    let out = dir.join(format!("{name}.tgz"));
    run(Command::new("tar")
        .arg("-czf")
        .arg(&out)
        .arg("-C")
        .arg(&src)
        .args(members));
    std::fs::read(out).unwrap()
}

/// What `kubeadm config images list` prints for a configuration with this
/// `imageRepository` (and `dns.imageRepository` = `imageRepository/coredns`):
/// written out here from kubeadm's naming rules and the catalog, not from
/// the renderer.
fn kubeadm_images_list(site: &Site) -> BTreeSet<String> {
    let k = catalog().kubernetes(&site.spec.kubernetes.version).unwrap();
    let repo = &site.spec.registry;
    let v = &site.spec.kubernetes.version;
    let mut s: BTreeSet<String> = [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kube-proxy",
    ]
    .iter()
    .map(|c| format!("{repo}/{c}:v{v}"))
    .collect();
    s.insert(format!("{repo}/coredns/coredns:{}", k.coredns));
    s.insert(format!("{repo}/pause:{}", k.pause));
    s.insert(format!("{repo}/etcd:{}", k.etcd));
    s
}

/// Of those, what runs on a worker: the sandbox, kube-proxy (a DaemonSet) and
/// CoreDNS (a Deployment the scheduler may put on any node).
fn worker_images(site: &Site) -> BTreeSet<String> {
    kubeadm_images_list(site)
        .into_iter()
        .filter(|i| {
            ["/pause:", "/kube-proxy:", "/coredns/coredns:"]
                .iter()
                .any(|n| i.contains(n))
        })
        .collect()
}

/// `ctr -n k8s.io images ls`, as name → digest.
fn containerd_images(ctd: &Containerd) -> BTreeMap<String, String> {
    let o = ctd.ctr(&["-n", "k8s.io", "images", "ls"]);
    assert!(o.status.success(), "ctr images ls: {}", text(&o.stderr));
    text(&o.stdout)
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3).then(|| (f[0].to_string(), f[2].to_string()))
        })
        .collect()
}

struct Node<'a> {
    dir: &'a Path,
    bundle: &'a Path,
}

impl Node<'_> {
    /// Runs `nodes/NAME/bootstrap.sh` against a fresh scratch root, with ctr
    /// talking to `ctd`.
    fn bootstrap(&self, name: &str, address: &str, ctd: &Containerd) -> Output {
        let root = self.dir.join(format!("root-{name}"));
        let stubs = self.dir.join("stubs");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(&stubs).unwrap();
        for s in STUBS {
            let p = stubs.join(s);
            std::fs::write(&p, STUB).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        Command::new("bash")
            .arg(format!("nodes/{name}/bootstrap.sh"))
            .current_dir(self.bundle)
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin:/usr/sbin:/sbin", stubs.display()))
            .env("HOME", root.join("root"))
            .env("MESHBUNDLE_SYSROOT", &root)
            .env("MB_LOG", self.dir.join(format!("calls-{name}.log")))
            .env("MB_ADDRESS", address)
            .env("CONTAINERD_ADDRESS", &ctd.socket)
            .output()
            .unwrap()
    }

    fn calls(&self, name: &str) -> Vec<String> {
        std::fs::read_to_string(self.dir.join(format!("calls-{name}.log")))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
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

#[test]
fn kubeadm_tags_resolve_to_the_locked_digests_in_containerd() {
    // The production site with its registry here, over plain HTTP.
    // (serve pushes every image under its upstream repository path, which
    // is where the site registry keeps it.)
    let mut site = example("production");
    let upstream = serve(&site);
    let reg = upstream.registry.host.clone();
    site.spec.registry = reg.clone();
    site.spec.containerd.registry_plain_http = true;
    let d = tempfile::tempdir().unwrap();

    // The lock: what the registry serves now, as skopeo reports it.
    let files: Vec<(&str, Vec<u8>)> = vec![
        (
            "containerd-amd64",
            tarball(
                d.path(),
                "containerd",
                &["bin/containerd", "bin/ctr", "bin/containerd-shim-runc-v2"],
            ),
        ),
        ("runc-amd64", b"#!/bin/sh\necho runc\n".to_vec()),
        (
            "cni-plugins-amd64",
            tarball(d.path(), "cni", &["bridge", "loopback", "portmap", "host-local"]),
        ),
        ("crictl-amd64", tarball(d.path(), "crictl", &["crictl"])),
        ("istioctl-amd64", tarball(d.path(), "istioctl", &["istioctl"])),
        ("kubeadm-amd64", b"#!/bin/sh\necho kubeadm\n".to_vec()),
        ("kubelet-amd64", b"#!/bin/sh\necho kubelet\n".to_vec()),
        ("kubectl-amd64", b"#!/bin/sh\necho kubectl\n".to_vec()),
    ];
    let n = needs(&site).unwrap();
    let mut lock = Lock::new();
    let mut pinned: BTreeMap<String, String> = BTreeMap::new();
    for img in &n.images {
        let r = &img.upstream;
        let at_site = format!("{reg}/{}:{}", r.repository, r.tag.clone().unwrap());
        let digest = skopeo_digest(&at_site, None);
        pinned.insert(at_site, digest.clone());
        lock.images.push(LockedImage {
            name: r.without_digest(),
            digest: meshbundle_core::digest::Digest::parse(&digest).unwrap(),
            media_type: Default::default(),
            platforms: vec![],
            carried_digest: None,
            source: None,
        });
    }
    for f in &n.files {
        let sha = match files.iter().find(|(name, _)| *name == f.name) {
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

    // After the lock, the registry's kube-proxy tag moves to another image:
    // the node must still run what the lock pinned.
    let kv = &site.spec.kubernetes.version;
    let pause = catalog().kubernetes(kv).unwrap().pause.clone();
    run(Command::new("skopeo")
        .args([
            "copy",
            "--quiet",
            "--all",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
        ])
        .args([
            format!("docker://{reg}/pause:{pause}"),
            format!("docker://{reg}/kube-proxy:v{kv}"),
        ]));
    let moved = skopeo_digest(&format!("{reg}/kube-proxy:v{kv}"), None);
    assert_ne!(
        &moved,
        &pinned[&format!("{reg}/kube-proxy:v{kv}")],
        "the registry's tag moved"
    );

    let tree = render(
        &site,
        &Inputs {
            lock: Some(&lock),
            ..Default::default()
        },
    )
    .unwrap();
    let bundle = d.path().join("bundle");
    write_tree(&tree, &bundle);
    std::fs::create_dir_all(bundle.join("files")).unwrap();
    for (name, bytes) in &files {
        std::fs::write(bundle.join("files").join(name), bytes).unwrap();
    }
    let node = Node {
        dir: d.path(),
        bundle: &bundle,
    };

    for (name, want) in [("cp-1", kubeadm_images_list(&site)), ("worker-1", worker_images(&site))] {
        let address = site.spec.nodes.iter().find(|x| x.name == name).unwrap().address.clone();
        let ctd = Containerd::start(false);
        let o = node.bootstrap(name, &address, &ctd);
        ok(&o);
        let images = containerd_images(&ctd);
        // Every tag reference containerd holds is one kubeadm asks for, and
        // every one kubeadm asks for on this node is there...
        // (CRI also names each image by its ID, `sha256:<config digest>`.)
        let tags: BTreeSet<String> = images
            .keys()
            .filter(|k| !k.contains('@') && !k.starts_with("sha256:"))
            .cloned()
            .collect();
        let ids = images.keys().filter(|k| k.starts_with("sha256:")).count();
        assert!(ids > 0, "{name}: containerd's CRI plugin saw no image: {images:#?}");
        assert_eq!(tags, want, "{name}: the tags containerd resolves locally");
        // ...with the digest the lock pins, not what the registry says now.
        for t in &tags {
            assert_eq!(
                images[t], pinned[t],
                "{name}: {t} resolves to {} here, the lock pins {}",
                images[t], pinned[t]
            );
        }
        // kubeadm runs after the tags are in place.
        let calls = node.calls(name);
        let kubeadm = calls
            .iter()
            .position(|c| c.starts_with("kubeadm "))
            .unwrap_or_else(|| panic!("{name}: no kubeadm: {calls:#?}"));
        assert!(
            calls[..kubeadm]
                .iter()
                .any(|c| c.starts_with("systemctl enable --now containerd"))
        );
        let log = text(&o.stderr);
        let tagged_at = log.find("image tags kubeadm asks for").expect("the tag step ran");
        assert!(tagged_at < log.find("meshbundle: == kubeadm").expect("the kubeadm step ran"));

        // Run again: still the pinned digests, nothing pulled twice.
        ok(&node.bootstrap(name, &address, &ctd));
        let again = containerd_images(&ctd);
        for t in &tags {
            assert_eq!(again[t], pinned[t], "{name}: {t} after a second run");
        }
    }
    // The tag the registry moved really is different there.
    assert_eq!(skopeo_digest(&format!("{reg}/kube-proxy:v{kv}"), None), moved);
}

#[test]
fn a_tag_that_cannot_resolve_to_the_pinned_digest_stops_the_node() {
    // A lock that pins a digest the registry does not hold: the pull by
    // digest fails and the script stops before kubeadm.
    let mut site = example("production");
    let upstream = serve(&site);
    site.spec.registry = upstream.registry.host.clone();
    site.spec.containerd.registry_plain_http = true;
    let n = needs(&site).unwrap();
    let mut lock = Lock::new();
    for (i, img) in n.images.iter().enumerate() {
        lock.images.push(LockedImage {
            name: img.upstream.without_digest(),
            digest: meshbundle_core::digest::Digest::parse(&format!("sha256:{:064x}", i + 1)).unwrap(),
            media_type: Default::default(),
            platforms: vec![],
            carried_digest: None,
            source: None,
        });
    }
    for f in &n.files {
        let sha = f
            .sha256
            .clone()
            .unwrap_or_else(|| meshbundle_core::digest::Digest::from_hex(&"0".repeat(64)).unwrap());
        lock.files.push(LockedFile {
            name: f.name.clone(),
            url: f.url.clone(),
            sha256: sha,
            size: 0,
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
    let script = text(&tree.get("nodes/worker-1/bootstrap.sh").unwrap().bytes);
    // Only the pull and tag steps, against the real containerd.
    let lib = text(&tree.get("common/lib.sh").unwrap().bytes);
    let images = script.lines().find(|l| l.starts_with("IMAGES=")).unwrap();
    let pinned = script.lines().find(|l| l.starts_with("PINNED_TAGS=")).unwrap();
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("etc/containerd")).unwrap();
    let reg = &site.spec.registry;
    let hosts = d.path().join(format!("etc/containerd/certs.d/{reg}"));
    std::fs::create_dir_all(&hosts).unwrap();
    std::fs::write(
        hosts.join("hosts.toml"),
        &tree
            .get(&format!("common/etc/containerd/certs.d/{reg}/hosts.toml"))
            .unwrap()
            .bytes,
    )
    .unwrap();
    let ctd = Containerd::start(false);
    let o = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -euo pipefail\n{lib}\n{images}\n{pinned}\nmb_pull \"${{IMAGES[@]}}\"\nmb_pin_tags \"${{PINNED_TAGS[@]}}\"\necho done\n"
        ))
        .env("MESHBUNDLE_SYSROOT", d.path())
        .env("CONTAINERD_ADDRESS", &ctd.socket)
        .output()
        .unwrap();
    assert!(
        !o.status.success() && !text(&o.stdout).contains("done"),
        "{}",
        text(&o.stderr)
    );
    assert!(text(&o.stderr).contains("cannot pull"), "{}", text(&o.stderr));
    assert!(
        containerd_images(&ctd).keys().all(|k| k.contains('@')),
        "no tag made without its pinned image"
    );
}

// ---------------------------------------------------------------------------
// Cosmetic: containerd's sandbox image is the reference kubeadm compares.

fn locked(site: &Site) -> Lock {
    let n = needs(site).unwrap();
    let mut lock = Lock::new();
    for (i, img) in n.images.iter().enumerate() {
        lock.images.push(LockedImage {
            name: img.upstream.without_digest(),
            digest: meshbundle_core::digest::Digest::parse(&format!("sha256:{:064x}", i + 1)).unwrap(),
            media_type: Default::default(),
            platforms: vec![],
            carried_digest: None,
            source: None,
        });
    }
    for f in &n.files {
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

fn file(tree: &FileTree, path: &str) -> String {
    text(&tree.get(path).unwrap_or_else(|| panic!("no {path}")).bytes)
}

fn docs(yaml: &str) -> Vec<serde_json::Value> {
    serde_saphyr::from_multiple(yaml).unwrap()
}

fn doc(yaml: &str, kind: &str) -> serde_json::Value {
    docs(yaml)
        .into_iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind}"))
}

#[test]
fn sandbox_image_is_the_one_kubeadm_expects() {
    for (name, site) in matrix() {
        let lock = locked(&site);
        let tree = render(
            &site,
            &Inputs {
                lock: Some(&lock),
                ..Default::default()
            },
        )
        .unwrap();
        // kubeadm's preflight compares the runtime's sandbox image, as a
        // string, with imageRepository + "/pause:" + its pause version.
        let cluster = doc(
            &file(
                &tree,
                &format!("nodes/{}/kubeadm.yaml", site.first_control_plane().unwrap().name),
            ),
            "ClusterConfiguration",
        );
        let pause = &catalog().kubernetes(&site.spec.kubernetes.version).unwrap().pause;
        let expected = format!("{}/pause:{pause}", cluster["imageRepository"].as_str().unwrap());
        // `sandbox_image` (containerd 1.x) or `pinned_images.sandbox` (2.x).
        let config = file(&tree, "common/etc/containerd/config.toml");
        let sandboxes: Vec<&str> = config
            .lines()
            .filter_map(|l| {
                l.trim()
                    .strip_prefix("sandbox_image = ")
                    .or_else(|| l.trim().strip_prefix("sandbox = "))
            })
            .map(|v| v.trim_matches('"'))
            .collect();
        assert_eq!(sandboxes.len(), 1, "{name}: {config}");
        let sandbox = sandboxes[0];
        assert_eq!(sandbox, expected, "{name}");
        // And that tag is one the node script pins to the locked digest.
        let last = &site.spec.nodes.last().unwrap().name;
        let script = file(&tree, &format!("nodes/{last}/bootstrap.sh"));
        let pinned = script.lines().find(|l| l.starts_with("PINNED_TAGS=")).unwrap();
        let digest = lock
            .images
            .iter()
            .find(|i| i.name.to_string().ends_with(&format!("/pause:{pause}")))
            .unwrap()
            .digest
            .to_string();
        assert!(pinned.contains(&format!("{expected}@{digest}")), "{name}: {pinned}");
    }
}

// ---------------------------------------------------------------------------
// Point 8: the conntrack table is the size the spec asks for.

const KUBE_PROXY_DEFAULT_MAX_PER_CORE: u64 = 32768;
const KUBE_PROXY_DEFAULT_MIN: u64 = 131072;

/// Which module a sysctl key needs before it exists (independent of the renderer).
fn module_of(key: &str) -> Option<&'static str> {
    [
        ("net.netfilter.nf_conntrack", "nf_conntrack"),
        ("net.bridge.", "br_netfilter"),
        ("net.ipv4.vs.", "ip_vs"),
    ]
    .iter()
    .find(|(p, _)| key.starts_with(p))
    .map(|(_, m)| *m)
}

/// The active `key = value` lines of a sysctl.d file.
fn sysctl_lines(conf: &str) -> BTreeMap<String, String> {
    conf.lines()
        .filter(|l| !l.trim_start().starts_with('#') && l.contains('='))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect()
}

/// A node's value of a conntrack parameter once booted and kube-proxy has
/// started on it with `cpus` CPUs: kube-proxy writes it (getConntrackMax and
/// the timeouts in cmd/kube-proxy), else the sysctl file does if the module
/// that holds it is loaded, else the kernel default (None).
fn effective(
    key: &str,
    cpus: u64,
    conntrack: &serde_json::Value,
    sysctl: &BTreeMap<String, String>,
    modules: &[String],
) -> Option<u64> {
    let from_file = || {
        let m = module_of(key);
        if m.is_some_and(|m| !modules.iter().any(|x| x == m)) {
            return None;
        }
        sysctl.get(key).and_then(|v| v.parse().ok())
    };
    let seconds = |field: &str, default: u64| -> u64 {
        conntrack[field]
            .as_str()
            .map(|s| s.trim_end_matches('s').parse::<u64>().unwrap())
            .unwrap_or(default)
    };
    match key {
        "net.netfilter.nf_conntrack_max" => {
            let per_core = conntrack["maxPerCore"]
                .as_u64()
                .unwrap_or(KUBE_PROXY_DEFAULT_MAX_PER_CORE);
            let min = conntrack["min"].as_u64().unwrap_or(KUBE_PROXY_DEFAULT_MIN);
            if per_core > 0 {
                Some((per_core * cpus).max(min))
            } else {
                from_file()
            }
        }
        "net.netfilter.nf_conntrack_tcp_timeout_established" => {
            let s = seconds("tcpEstablishedTimeout", 86400);
            if s > 0 { Some(s) } else { from_file() }
        }
        "net.netfilter.nf_conntrack_tcp_timeout_close_wait" => {
            let s = seconds("tcpCloseWaitTimeout", 3600);
            if s > 0 { Some(s) } else { from_file() }
        }
        _ => from_file(),
    }
}

#[test]
fn the_node_gets_the_conntrack_settings_the_spec_asks_for_in_every_proxy_mode() {
    let asked: &[(&str, u64)] = &[
        ("net.netfilter.nf_conntrack_max", 1_048_576),
        ("net.netfilter.nf_conntrack_tcp_timeout_established", 7200),
        ("net.netfilter.nf_conntrack_tcp_timeout_close_wait", 120),
        ("net.netfilter.nf_conntrack_udp_timeout", 45),
        ("net.ipv4.vs.conn_reuse_mode", 0),
    ];
    for mode in [ProxyMode::Iptables, ProxyMode::Ipvs, ProxyMode::Nftables] {
        for base in ["production", "lab"] {
            let mut site = example(base);
            site.spec.kubernetes.proxy_mode = mode;
            site.spec.tuning.sysctl.retain(|k, _| !k.starts_with("net.netfilter."));
            for (k, v) in asked {
                site.spec.tuning.sysctl.insert((*k).to_string(), v.to_string());
            }
            let tree = render(&site, &Inputs::default()).unwrap();
            let cp = site.first_control_plane().unwrap().name.clone();
            let proxy = doc(
                &file(&tree, &format!("nodes/{cp}/kubeadm.yaml")),
                "KubeProxyConfiguration",
            );
            assert_eq!(proxy["mode"], mode.as_str());
            let conntrack = proxy["conntrack"].clone();
            let sysctl = sysctl_lines(&file(&tree, "common/etc/sysctl.d/90-meshbundle.conf"));
            let boot: Vec<String> = file(&tree, "common/etc/modules-load.d/meshbundle.conf")
                .lines()
                .filter(|l| !l.starts_with('#') && !l.is_empty())
                .map(str::to_string)
                .collect();
            for node in &site.spec.nodes {
                // The modules the bootstrap script loads are the boot ones.
                let script = file(&tree, &format!("nodes/{}/bootstrap.sh", node.name));
                let line = script.lines().find(|l| l.starts_with("KERNEL_MODULES=(")).unwrap();
                let now: Vec<String> = line
                    .trim_start_matches("KERNEL_MODULES=(")
                    .trim_end_matches(')')
                    .split_whitespace()
                    .map(str::to_string)
                    .collect();
                assert_eq!(now, boot, "{base}/{mode:?}/{}", node.name);
            }
            for cpus in [1, 2, 8, 64, 256] {
                for (k, v) in asked {
                    assert_eq!(
                        effective(k, cpus, &conntrack, &sysctl, &boot),
                        Some(*v),
                        "{base}/{mode:?} with {cpus} CPUs: {k} (kube-proxy conntrack {conntrack}, sysctl {sysctl:?}, modules {boot:?})"
                    );
                }
            }
            // conntrack is used by every proxy mode's rules.
            assert!(
                boot.iter().any(|m| m == "nf_conntrack"),
                "{base}/{mode:?}: nf_conntrack not loaded: {boot:?}"
            );
            // Nothing in the sysctl file is something kube-proxy rewrites.
            for k in sysctl.keys() {
                assert!(
                    ![
                        "nf_conntrack_max",
                        "nf_conntrack_tcp_timeout_established",
                        "nf_conntrack_tcp_timeout_close_wait"
                    ]
                    .iter()
                    .any(|x| k.ends_with(x)),
                    "{base}/{mode:?}: {k} in the sysctl file is reset by kube-proxy"
                );
                if let Some(m) = module_of(k) {
                    assert!(
                        boot.iter().any(|x| x == m),
                        "{base}/{mode:?}: {k} needs {m}, not loaded"
                    );
                }
            }
        }
    }
}

#[test]
fn validation_names_sysctls_kube_proxy_would_reset_or_cannot_take() {
    let warned = |site: &Site, key: &str, severity: Severity| {
        let path = format!("spec.tuning.sysctl[\"{key}\"]");
        meshbundle_core::validate::check(site)
            .into_iter()
            .any(|d| d.path == path && d.severity == severity)
    };
    let mut site = example("production");
    site.spec.kubernetes.proxy_mode = ProxyMode::Iptables;
    site.spec
        .tuning
        .sysctl
        .insert("net.ipv4.conf.all.route_localnet".into(), "0".into());
    assert!(
        warned(&site, "net.ipv4.conf.all.route_localnet", Severity::Warning),
        "iptables mode sets route_localnet = 1"
    );
    site.spec.kubernetes.proxy_mode = ProxyMode::Nftables;
    assert!(
        !warned(&site, "net.ipv4.conf.all.route_localnet", Severity::Warning),
        "nftables mode leaves it"
    );

    let mut site = example("production");
    site.spec.kubernetes.proxy_mode = ProxyMode::Ipvs;
    site.spec
        .tuning
        .sysctl
        .insert("net.ipv4.vs.expire_nodest_conn".into(), "0".into());
    assert!(
        warned(&site, "net.ipv4.vs.expire_nodest_conn", Severity::Warning),
        "ipvs mode sets expire_nodest_conn = 1"
    );
    // ... and the sysctl file does not claim a value kube-proxy replaces.
    let tree = render(&site, &Inputs::default()).unwrap();
    let sysctl = sysctl_lines(&file(&tree, "common/etc/sysctl.d/90-meshbundle.conf"));
    assert_eq!(sysctl.get("net.ipv4.vs.expire_nodest_conn"), None, "{sysctl:?}");
    assert!(
        file(&tree, "common/etc/modules-load.d/meshbundle.conf")
            .lines()
            .any(|l| l == "ip_vs")
    );

    // A hash size below what kube-proxy raises it to.
    let mut site = example("production");
    site.spec
        .tuning
        .sysctl
        .insert("net.netfilter.nf_conntrack_max".into(), "1048576".into());
    site.spec
        .tuning
        .sysctl
        .insert("net.netfilter.nf_conntrack_buckets".into(), "65536".into());
    assert!(warned(&site, "net.netfilter.nf_conntrack_buckets", Severity::Warning));
    site.spec
        .tuning
        .sysctl
        .insert("net.netfilter.nf_conntrack_buckets".into(), "262144".into());
    assert!(!warned(&site, "net.netfilter.nf_conntrack_buckets", Severity::Warning));

    // kube-proxy's configuration takes whole numbers that fit an int32.
    for bad in ["lots", "-1", "0", "4294967296", "1.5"] {
        let mut site = example("production");
        site.spec
            .tuning
            .sysctl
            .insert("net.netfilter.nf_conntrack_max".into(), bad.into());
        assert!(
            warned(&site, "net.netfilter.nf_conntrack_max", Severity::Error),
            "{bad} accepted"
        );
        assert!(render(&site, &Inputs::default()).is_err(), "{bad} rendered");
    }
}

// ---------------------------------------------------------------------------
// Point 9: flanneld uses the interface that holds the node's address.

#[test]
fn flanneld_uses_the_interface_of_the_node_address() {
    let mut sites: Vec<(String, Site)> = matrix().into_iter().map(|(n, s)| (n.to_string(), s)).collect();
    // Nodes on a second network, away from any default route.
    let mut multi = example("production");
    multi.spec.kubernetes.node_subnet = Some("192.168.50.0/24".into());
    for (i, n) in multi.spec.nodes.iter_mut().enumerate() {
        n.address = format!("192.168.50.{}", 11 + i);
    }
    multi.spec.kubernetes.control_plane_endpoint = Some("192.168.50.10:6443".into());
    // MetalLB's pool lives on the node network too.
    multi.spec.load_balancer.as_mut().unwrap().addresses = vec!["192.168.50.100-192.168.50.109".into()];
    multi.spec.istio.ingress_gateway.service.load_balancer_ip = Some("192.168.50.100".into());
    sites.push(("multi-nic".into(), multi));
    let upstream_text = std::fs::read_to_string(repo().join("images/upstream/flannel/kube-flannel-v0.27.4.yml"))
        .expect("flannel's upstream manifest");
    for (name, mut site) in sites {
        // Every site of the matrix, with flannel as its pod network.
        site.spec.kubernetes.cni = meshbundle_core::spec::Cni::Flannel;
        let secrets = secrets(&site);
        let tree = render(
            &site,
            &Inputs {
                secrets: Some(&secrets),
                ..Default::default()
            },
        )
        .unwrap();
        let manifest = file(&tree, "manifests/cni/flannel.yaml");
        let ds = docs(&manifest).into_iter().find(|d| d["kind"] == "DaemonSet").unwrap();
        let containers = ds["spec"]["template"]["spec"]["containers"].as_array().unwrap();
        let flanneld = containers
            .iter()
            .find(|c| c["command"][0] == "/opt/bin/flanneld")
            .unwrap();
        assert_eq!(
            ds["spec"]["template"]["spec"]["hostNetwork"], true,
            "{name}: status.hostIP is the node's own address"
        );
        // flanneld reads FLANNELD_IFACE as --iface unless the flag is given.
        let args: Vec<&str> = flanneld["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert!(
            !args
                .iter()
                .any(|a| a.starts_with("--iface") || a.starts_with("--public-ip")),
            "{name}: {args:?}"
        );
        let env = flanneld["env"].as_array().unwrap();
        let iface: Vec<&serde_json::Value> = env.iter().filter(|e| e["name"] == "FLANNELD_IFACE").collect();
        assert_eq!(iface.len(), 1, "{name}: {env:?}");
        assert_eq!(
            iface[0]["valueFrom"]["fieldRef"]["fieldPath"], "status.hostIP",
            "{name}"
        );
        // status.hostIP is the node's InternalIP, which the kubelet takes from
        // --node-ip: the node's spec address, on every node.
        for node in &site.spec.nodes {
            let kubeadm = file(&tree, &format!("nodes/{}/kubeadm.yaml", node.name));
            let d = docs(&kubeadm)
                .into_iter()
                .find(|d| d["kind"] == "InitConfiguration" || d["kind"] == "JoinConfiguration")
                .unwrap();
            let extra = &d["nodeRegistration"]["kubeletExtraArgs"];
            let node_ip = match extra {
                serde_json::Value::Array(a) => a.iter().find(|x| x["name"] == "node-ip").map(|x| x["value"].clone()),
                _ => Some(extra["node-ip"].clone()),
            };
            assert_eq!(node_ip, Some(serde_json::json!(node.address)), "{name}/{}", node.name);
            if node.role == Role::ControlPlane && d["kind"] == "InitConfiguration" {
                assert_eq!(d["localAPIEndpoint"]["advertiseAddress"], node.address.as_str());
            }
        }
        // Every other byte is upstream's, but for the documented replacements.
        let pod = &site.spec.kubernetes.pod_subnet;
        let nft = site.spec.kubernetes.proxy_mode == ProxyMode::Nftables;
        let reg = &site.spec.registry;
        let expected_body = upstream_text
            .replacen("\"Network\": \"10.244.0.0/16\"", &format!("\"Network\": \"{pod}\""), 1)
            .replacen("\"EnableNFTables\": false", &format!("\"EnableNFTables\": {nft}"), 1)
            .replacen(
                "        env:\n        - name: POD_NAME\n",
                "        env:\n        - name: FLANNELD_IFACE\n          valueFrom:\n            fieldRef:\n              fieldPath: status.hostIP\n        - name: POD_NAME\n",
                1,
            )
            .replace("image: ghcr.io/flannel-io/", &format!("image: {reg}/flannel-io/"));
        let body = manifest.split_once("\n---\n").map(|(_, b)| b).unwrap();
        assert_eq!(
            body, expected_body,
            "{name}: the manifest differs from upstream beyond the documented replacements"
        );
    }
}
