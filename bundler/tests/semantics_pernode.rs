//! `meshbundle import --extract DIR --node NAME` on a real bundle (the
//! production site, locked against real servers, its private files sealed
//! to an age recipient): each node's extraction holds exactly what
//! `meshbundle_core::layout` gives that node, no CA key, Istio or ingress key
//! or other node's join configuration reaches a worker or a joining
//! control-plane node, only the node's own private files are decrypted, the
//! whole bundle is still verified, and each node's `install.sh` runs to the
//! end from its own extraction (kubeadm, kubectl, istioctl and the system
//! tools are recording stubs; tar, install, sha256sum are real), and refuses
//! to run for another node.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine;
use common::registry::run;
use common::*;
use meshbundle_core::layout::{NODE_MARKER, NodeLayout, Part};
use meshbundle_core::pki::SiteSecrets;
use meshbundle_core::spec::Role;
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

/// Records each call; answers what the scripts ask as a working node would.
const STUB: &str = r#"#!/bin/sh
name=$(basename "$0")
echo "$name $*" >>"$MB_LOG"
case "$name $1 $2" in
  "ip -o -4") echo "2: eth0    inet $MB_ADDRESS/24 brd 10.0.0.255 scope global eth0" ;;
  "uname -m "*) echo x86_64 ;;
  "crictl inspecti "*) exit 1 ;;
  # chrony synchronised: cp-1 (the production example's time source) on its own clock, the others to cp-1.
  "chronyc -n -c")
    if [ "$MB_ADDRESS" = 10.0.0.11 ]; then echo "7F7F0101,127.127.1.1,10,1764547200.000000000,0.000000000,0.000000000,0.000000000,0.000,0.000,0.000,0.000000000,0.000000000,0.0,Normal"
    else echo "0A00000B,10.0.0.11,11,1764547200.000000000,-0.000012000,0.000001000,0.000010000,-1.234,0.001,0.010,0.000200000,0.000100000,64.0,Normal"; fi ;;
  # containerd's images as `ctr images ls` lists them: what `ctr images tag` made.
  "ctr -n k8s.io")
    case "$3 $4" in
      "images ls") echo "REF TYPE DIGEST SIZE PLATFORMS LABELS"; cat "$MB_LOG.images" 2>/dev/null ;;
      "images tag")
        { grep -v "^$7 " "$MB_LOG.images" 2>/dev/null; echo "$7 application/vnd.oci.image.index.v1+json ${6##*@} 1.0 KiB linux/amd64 -"; } >"$MB_LOG.images.new"
        mv "$MB_LOG.images.new" "$MB_LOG.images" ;;
    esac ;;
  "kubeadm init "*) mkdir -p "$MESHBUNDLE_SYSROOT/etc/kubernetes" && echo admin >"$MESHBUNDLE_SYSROOT/etc/kubernetes/admin.conf" ;;
  "kubeadm join "*)
    mkdir -p "$MESHBUNDLE_SYSROOT/etc/kubernetes" && echo kubelet >"$MESHBUNDLE_SYSROOT/etc/kubernetes/kubelet.conf"
    if grep -q '^controlPlane:' "$3"; then echo admin >"$MESHBUNDLE_SYSROOT/etc/kubernetes/admin.conf"; fi ;;
esac
case "$*" in
  *"get peerauthentication"*) printf STRICT ;;
  # Resource metrics of every node of the production example.
  *"get deployments -l app=istiod"*) printf '1-30-3\n' ;;
  *"get secret"*) printf '%s' "$MB_CERT_B64" ;;
esac
exit 0
"#;

/// A gzip tarball of small scripts, as the release archives are.
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

/// Serves real archives for the files the bootstraps unpack, with their
/// publishers' checksum files rewritten to match.
fn real_release_files(up: &site::SiteUpstream, site: &meshbundle_core::spec::Site) {
    let d = up.dir.path();
    let content: BTreeMap<&str, Vec<u8>> = [
        (
            "containerd-amd64",
            tarball(
                d,
                "containerd",
                &["bin/containerd", "bin/ctr", "bin/containerd-shim-runc-v2"],
            ),
        ),
        ("runc-amd64", b"#!/bin/sh\necho runc\n".to_vec()),
        (
            "cni-plugins-amd64",
            tarball(d, "cni", &["bridge", "loopback", "portmap", "host-local"]),
        ),
        ("crictl-amd64", tarball(d, "crictl", &["crictl"])),
        ("istioctl-amd64", tarball(d, "istioctl", &["istioctl"])),
        ("kubeadm-amd64", b"#!/bin/sh\necho kubeadm\n".to_vec()),
        ("kubelet-amd64", b"#!/bin/sh\necho kubelet\n".to_vec()),
        ("kubectl-amd64", b"#!/bin/sh\necho kubectl\n".to_vec()),
    ]
    .into_iter()
    .collect();
    let local = |url: &str| d.join("www").join(url.split_once("://").unwrap().1);
    let mut sums: BTreeMap<String, String> = BTreeMap::new();
    for f in meshbundle_core::catalog::needs(site).unwrap().files {
        let Some(bytes) = content.get(f.name.as_str()) else {
            continue;
        };
        std::fs::write(local(&f.url), bytes).unwrap();
        let sum = f.checksum_url.clone().expect("a release file has a checksum file");
        let hex = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes));
        let line = if sum.ends_with(".sha256") {
            format!("{hex}\n")
        } else {
            format!("{hex}  {}\n", f.url.rsplit('/').next().unwrap())
        };
        sums.entry(sum).or_default().push_str(&line);
    }
    assert_eq!(
        sums.len(),
        content.len(),
        "every release file the bootstraps unpack is carried"
    );
    for (sum, text) in sums {
        std::fs::write(local(&sum), text).unwrap();
    }
}

struct Fixture {
    dir: tempfile::TempDir,
    site: meshbundle_core::spec::Site,
    secrets: SiteSecrets,
}

impl Fixture {
    fn d(&self) -> &Path {
        self.dir.path()
    }

    fn import(&self, args: &[&str]) -> Output {
        let mut all = vec!["import", "site.mbundle", "--quiet"];
        all.extend(args);
        meshbundle(self.d(), &all)
    }
}

/// The production site, locked against real servers and built with its
/// secrets sealed to an age recipient; the servers are gone afterwards.
fn fixture() -> Fixture {
    let site = example("production");
    let up = site::serve(&site);
    real_release_files(&up, &site);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("site.yaml"),
        meshbundle_core::examples::example("production").unwrap(),
    )
    .unwrap();
    let o = meshbundle(d, &["secrets", "generate", "site.yaml", "-o", "site.secrets.yaml"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    run(Command::new("age-keygen").arg("-o").arg(d.join("operator.age")));
    let recipient = run(Command::new("age-keygen").arg("-y").arg(d.join("operator.age")))
        .trim()
        .to_string();
    let with_net = |args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(up.flags.iter().map(String::as_str));
        let o = meshbundle(d, &all);
        assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
    };
    with_net(&["lock", "site.yaml", "--quiet", "--cache", "cache"]);
    with_net(&[
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
    ]);
    // The next release, differential: nothing new, every file from the base.
    with_net(&[
        "build",
        "site.yaml",
        "-o",
        "delta.mbundle",
        "--locked",
        "--quiet",
        "--cache",
        "cache",
        "--secrets",
        "site.secrets.yaml",
        "--recipient",
        &recipient,
        "--since",
        "site.mbundle",
    ]);
    drop(up);
    let secrets =
        meshbundle_core::pki::parse_secrets(&std::fs::read_to_string(d.join("site.secrets.yaml")).unwrap()).unwrap();
    Fixture { dir, site, secrets }
}

/// Every file under `dir`, relative, with its mode.
fn listing(dir: &Path) -> BTreeMap<String, u32> {
    walk(dir)
        .into_iter()
        .map(|p| {
            let mode = std::fs::symlink_metadata(&p).unwrap().permissions().mode() & 0o7777;
            (p.strip_prefix(dir).unwrap().to_string_lossy().into_owned(), mode)
        })
        .collect()
}

/// Fragments of every private key of the site, as a PEM file (whitespace
/// removed) or a Kubernetes Secret (base64) holds them, by name.
fn key_needles(s: &SiteSecrets) -> Vec<(String, [String; 2])> {
    let mut keys: Vec<(String, &str)> = vec![
        ("the Kubernetes CA key".into(), &s.kubeadm.ca.key),
        ("the front-proxy CA key".into(), &s.kubeadm.front_proxy_ca.key),
        ("the etcd CA key".into(), &s.kubeadm.etcd_ca.key),
        (
            "the service-account signing key".into(),
            &s.kubeadm.service_account.private_key,
        ),
        ("the Istio root CA key".into(), &s.istio.root.key),
    ];
    for (cluster, ca) in &s.istio.intermediates {
        keys.push((format!("the Istio CA key of {cluster}"), &ca.key));
    }
    if let Some(i) = &s.ingress {
        keys.push(("the ingress key".into(), &i.key));
        if let Some(ca) = &i.ca {
            keys.push(("the ingress CA key".into(), &ca.key));
        }
    }
    keys.into_iter()
        .map(|(what, pem)| {
            let stripped: String = pem.chars().filter(|c| !c.is_whitespace()).collect();
            let b64 = base64::engine::general_purpose::STANDARD.encode(pem.as_bytes());
            (what, [stripped[60..120].to_string(), b64[120..180].to_string()])
        })
        .collect()
}

/// Which private keys the files under `dir` hold.
fn keys_held(dir: &Path, s: &SiteSecrets) -> Vec<String> {
    let needles = key_needles(s);
    let mut held = Vec::new();
    for p in walk(dir) {
        let text: String = String::from_utf8_lossy(&std::fs::read(&p).unwrap())
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        for (what, frags) in &needles {
            if frags.iter().any(|f| text.contains(f.as_str())) {
                held.push(format!("{} holds {what}", p.strip_prefix(dir).unwrap().display()));
            }
        }
    }
    held
}

/// A machine: a scratch root and recording stubs, with the node's address.
struct Machine {
    _dir: tempfile::TempDir,
    root: PathBuf,
    stubs: PathBuf,
    log: PathBuf,
    address: String,
    cert_b64: String,
}

impl Machine {
    fn new(address: &str, s: &SiteSecrets) -> Machine {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let stubs = dir.path().join("stubs");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(&stubs).unwrap();
        for name in STUBS {
            let p = stubs.join(name);
            std::fs::write(&p, cluster::with_healthy_cluster(STUB, &example("production"))).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let log = dir.path().join("calls.log");
        let cert_b64 = base64::engine::general_purpose::STANDARD.encode(s.istio.root.cert.as_bytes());
        Machine {
            _dir: dir,
            root,
            stubs,
            log,
            address: address.to_string(),
            cert_b64,
        }
    }

    fn run(&self, dir: &Path, args: &[&str]) -> Output {
        Command::new("bash")
            .args(args)
            .current_dir(dir)
            .env_clear()
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin:/usr/sbin:/sbin", self.stubs.display()),
            )
            .env("HOME", self.root.join("root"))
            .env("MESHBUNDLE_SYSROOT", &self.root)
            .env("MB_LOG", &self.log)
            .env("MB_ADDRESS", &self.address)
            .env("MB_CERT_B64", &self.cert_b64)
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
}

fn ok(what: &str, o: &Output) {
    assert!(
        o.status.success(),
        "{what}: exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        text(&o.stdout),
        text(&o.stderr)
    );
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o.stdout)))
}

/// One bundle (a locked build of every image and file is slow), judged twice.
#[test]
fn per_node_extraction() {
    let f = fixture();
    each_node_gets_only_what_it_needs_and_installs_from_it(&f);
    node_extraction_keeps_every_guarantee_of_extract(&f);
}

fn each_node_gets_only_what_it_needs_and_installs_from_it(f: &Fixture) {
    let d = f.d();
    let full = d.join("full");
    ok(
        "full extraction",
        &f.import(&["--extract", "full", "--identity", "operator.age"]),
    );
    let everything = listing(&full);
    assert!(!everything.contains_key(NODE_MARKER), "a full extraction names no node");
    assert!(everything.contains_key("nodes/worker-2/kubeadm.yaml") && everything.contains_key("files/kubeadm-amd64"));
    let first = f.site.first_control_plane().unwrap().name.clone();

    for n in &f.site.spec.nodes {
        let name = n.name.as_str();
        let out = d.join(format!("on-{name}"));
        let o = f.import(&[
            "--extract",
            out.to_str().unwrap(),
            "--node",
            name,
            "--identity",
            "operator.age",
            "--format",
            "json",
        ]);
        ok(name, &o);
        let summary = json(&o);
        assert_eq!(summary["node"], name);

        // Exactly what the core layout gives the node, modes as in the full extraction.
        let layout = NodeLayout::new(&f.site, name).unwrap();
        let got = listing(&out);
        let mut want: BTreeMap<String, u32> = everything
            .iter()
            .filter(|(p, m)| p.as_str() == ".meshbundle" || layout.gets(p, **m == 0o600))
            .map(|(p, m)| (p.clone(), *m))
            .collect();
        want.insert(NODE_MARKER.into(), 0o644);
        assert_eq!(got, want, "{name}: the extraction is not the node's layout");
        assert_eq!(
            std::fs::read_to_string(out.join(NODE_MARKER)).unwrap(),
            format!("{name}\n")
        );
        let private: Vec<&String> = got.iter().filter(|(_, m)| **m == 0o600).map(|(p, _)| p).collect();
        assert_eq!(
            summary["extract"]["decrypted"],
            private.len(),
            "{name}: decrypts only its own private files"
        );
        assert_eq!(summary["extract"]["stillSealed"], 0);

        // What the files mean: who holds which key and join configuration.
        let held = keys_held(&out, &f.secrets);
        let others: Vec<&String> = got
            .keys()
            .filter(|p| p.starts_with("nodes/") && !p.starts_with(&format!("nodes/{name}/")))
            .collect();
        assert!(others.is_empty(), "{name} got {others:?}");
        let kubeadm = std::fs::read_to_string(out.join(format!("nodes/{name}/kubeadm.yaml"))).unwrap();
        assert!(
            kubeadm.contains(f.secrets.kubeadm.token.as_str()),
            "{name}: its own configuration, decrypted, with the token"
        );
        if name == first {
            for what in [
                "Kubernetes CA",
                "front-proxy CA",
                "etcd CA",
                "service-account",
                "Istio CA key of",
                "ingress key",
            ] {
                assert!(held.iter().any(|h| h.contains(what)), "{name} lacks {what}: {held:?}");
            }
            assert!(got.contains_key("secrets/istio-cacerts.yaml") && got.contains_key("secrets/ingress-tls.yaml"));
        } else {
            assert!(held.is_empty(), "{name}: {held:?}");
            assert_eq!(private, vec![&format!("nodes/{name}/kubeadm.yaml")], "{name}");
            assert!(!got.keys().any(|p| p.starts_with("secrets/")), "{name}");
            assert_eq!(
                got.contains_key("files/istioctl-amd64"),
                n.role == Role::ControlPlane,
                "{name}: istioctl"
            );
        }

        // The node installs from its own extraction, to the end.
        let m = Machine::new(&n.address, &f.secrets);
        let o = m.run(&out, &["install.sh", "node"]);
        ok(&format!("install.sh node on {name}"), &o);
        let calls = m.calls();
        let config = format!("--config {}/nodes/{name}/kubeadm.yaml", out.display());
        let kubeadm_call = calls
            .iter()
            .find(|c| c.starts_with("kubeadm init") || c.starts_with("kubeadm join"))
            .unwrap_or_else(|| panic!("{calls:#?}"));
        assert!(kubeadm_call.contains(&config), "{name}: {kubeadm_call}");
        assert_eq!(
            kubeadm_call.starts_with("kubeadm init"),
            layout.part() == Part::FirstControlPlane,
            "{name}: {kubeadm_call}"
        );
        assert!(
            text(&o.stderr).contains(&format!("node {name} is done")),
            "{}",
            text(&o.stderr)
        );
        assert_eq!(
            m.root.join("usr/local/bin/istioctl").exists(),
            n.role == Role::ControlPlane,
            "{name}"
        );
        if name == first {
            assert!(
                m.root.join("etc/kubernetes/pki/ca.key").exists(),
                "the site's CA placed before kubeadm init"
            );
            let o = m.run(&out, &["install.sh", "cluster"]);
            ok("install.sh cluster on the first control-plane node", &o);
            let calls = m.calls();
            assert!(
                calls.iter().any(|c| c.starts_with("istioctl install -y -f")),
                "{calls:#?}"
            );
            assert!(
                calls
                    .iter()
                    .any(|c| c.ends_with(&format!("-f {}/secrets/istio-cacerts.yaml", out.display()))),
                "{calls:#?}"
            );
        } else {
            assert!(!m.root.join("etc/kubernetes/pki").exists(), "{name}: no CA placed");
            let before = m.calls().len();
            let o = m.run(&out, &["install.sh", "cluster"]);
            assert_eq!(o.status.code(), Some(1), "{name}: install.sh cluster must refuse");
            let err = text(&o.stderr);
            assert!(
                err.contains(&format!("laid out for node {name}")) && err.contains(&format!("on {first}")),
                "{err}"
            );
            assert_eq!(m.calls().len(), before, "{name}: nothing run");
        }
    }

    // On the wrong machine, or named for another node, install.sh says so and changes nothing.
    let w1 = d.join("on-worker-1");
    let m = Machine::new("10.0.0.22", &f.secrets);
    for args in [vec!["install.sh", "node"], vec!["install.sh", "node", "worker-2"]] {
        let o = m.run(&w1, &args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        let err = text(&o.stderr);
        assert!(
            err.contains("laid out for node worker-1") && err.contains("--node worker-2"),
            "{err}"
        );
        assert!(
            m.calls().iter().all(|c| c.starts_with("ip ")),
            "nothing but the address lookup ran: {:#?}",
            m.calls()
        );
    }
}

fn node_extraction_keeps_every_guarantee_of_extract(f: &Fixture) {
    let d = f.d();

    // Without an identity, a worker's extraction holds one sealed file: its own configuration.
    let o = f.import(&["--extract", "sealed", "--node", "worker-1", "--format", "json"]);
    ok("sealed", &o);
    assert_eq!(json(&o)["extract"]["stillSealed"], 1);
    let sealed: Vec<String> = listing(&d.join("sealed"))
        .into_iter()
        .filter(|(_, m)| *m == 0o600)
        .map(|(p, _)| p)
        .collect();
    assert_eq!(sealed, vec!["nodes/worker-1/kubeadm.yaml.age".to_string()]);

    // An unknown node: refused, naming the site's nodes, nothing written.
    let o = f.import(&["--extract", "nine", "--node", "worker-9", "--identity", "operator.age"]);
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(
        err.contains("worker-9") && err.contains("cp-1, cp-2, cp-3, worker-1, worker-2, worker-3"),
        "{err}"
    );
    assert!(!d.join("nine").exists());
    let help = text(&meshbundle(d, &["import", "--help"]).stdout);
    assert!(
        help.contains("--node <NAME>") && help.contains("--extract /opt/site --node worker-1"),
        "{help}"
    );
    // --node says which node to lay out for: it needs --extract.
    let o = f.import(&["--node", "worker-1", "--registry", "127.0.0.1:1"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));

    // import reads every entry it writes and no other: a damaged entry the
    // node does not get is not read (verify names it); a damaged one it gets
    // stops the import with nothing written.
    let damage = |entry: &str, out: &str| {
        let mut damaged = std::fs::read(d.join("site.mbundle")).unwrap();
        let mut a = tar::Archive::new(std::fs::File::open(d.join("site.mbundle")).unwrap());
        let at = a
            .entries()
            .unwrap()
            .map(|e| e.unwrap())
            .find(|e| e.path().unwrap().to_string_lossy() == entry)
            .unwrap()
            .raw_file_position() as usize;
        damaged[at + 40] ^= 1;
        std::fs::write(d.join(out), damaged).unwrap();
    };
    let extract = |bundle: &str, dir: &str| {
        meshbundle(
            d,
            &[
                "import",
                bundle,
                "--extract",
                dir,
                "--node",
                "worker-1",
                "--identity",
                "operator.age",
            ],
        )
    };
    damage("tree/secrets/kubernetes-pki/ca.key.age", "other.mbundle");
    let o = extract("other.mbundle", "fine");
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    assert!(!d.join("fine/secrets/kubernetes-pki/ca.key").exists());
    let o = meshbundle(d, &["verify", "other.mbundle"]);
    assert!(
        text(&o.stdout).contains("BAD: tree/secrets/kubernetes-pki/ca.key.age"),
        "{}",
        text(&o.stdout)
    );
    damage("tree/install.sh", "damaged.mbundle");
    let o = extract("damaged.mbundle", "bad");
    assert!(!o.status.success());
    assert!(
        text(&o.stdout).contains("BAD: tree/install.sh"),
        "{}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    assert!(!d.join("bad").exists(), "nothing written from a damaged bundle");

    // An identity that opens nothing: the node's own configuration cannot be
    // decrypted, and nothing is left behind.
    run(Command::new("age-keygen").arg("-o").arg(d.join("stranger.age")));
    let o = f.import(&[
        "--extract",
        "strange",
        "--node",
        "worker-1",
        "--identity",
        "stranger.age",
    ]);
    assert!(!o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("everything written was removed"),
        "{}",
        text(&o.stderr)
    );
    assert!(!d.join("strange").exists());
    assert!(!std::fs::read_dir(d).unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".meshbundle-extract-")
    }));

    // A directory meshbundle did not lay out is refused.
    std::fs::create_dir(d.join("theirs")).unwrap();
    std::fs::write(d.join("theirs/notes"), "x").unwrap();
    let o = f.import(&[
        "--extract",
        "theirs",
        "--node",
        "worker-1",
        "--identity",
        "operator.age",
    ]);
    assert!(
        !o.status.success() && text(&o.stderr).contains("not laid out by meshbundle"),
        "{}",
        text(&o.stderr)
    );

    // Laid out again for another node: nothing of the first is left.
    ok(
        "worker-1",
        &f.import(&[
            "--extract",
            "reused",
            "--node",
            "worker-1",
            "--identity",
            "operator.age",
        ]),
    );
    ok(
        "worker-2",
        &f.import(&[
            "--extract",
            "reused",
            "--node",
            "worker-2",
            "--identity",
            "operator.age",
        ]),
    );
    let got = listing(&d.join("reused"));
    assert!(
        got.contains_key("nodes/worker-2/kubeadm.yaml") && !got.keys().any(|p| p.contains("worker-1")),
        "{got:?}"
    );
    assert_eq!(
        std::fs::read_to_string(d.join("reused").join(NODE_MARKER)).unwrap(),
        "worker-2\n"
    );
    assert_eq!(got["nodes/worker-2/kubeadm.yaml"], 0o600);
    assert_eq!(
        std::fs::metadata(d.join("reused/nodes/worker-2"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
    // And in full: no node named any more.
    ok(
        "full",
        &f.import(&["--extract", "reused", "--identity", "operator.age"]),
    );
    assert!(!d.join("reused").join(NODE_MARKER).exists());
    assert!(d.join("reused/secrets/kubernetes-pki/ca.key").exists());

    // A differential bundle (built with the fixture) completes a node's
    // extraction with the base files that node has (a worker has no
    // istioctl), and a new directory lacks them.
    let before = listing(&d.join("sealed"));
    let o = meshbundle(
        d,
        &[
            "import",
            "delta.mbundle",
            "--quiet",
            "--extract",
            "sealed",
            "--node",
            "worker-1",
        ],
    );
    ok("delta into worker-1's extraction", &o);
    let after = listing(&d.join("sealed"));
    assert_eq!(after, before, "the same files for worker-1, base files kept");
    assert!(!after.contains_key("files/istioctl-amd64"));
    let o = meshbundle(
        d,
        &[
            "import",
            "delta.mbundle",
            "--quiet",
            "--extract",
            "fresh",
            "--node",
            "worker-1",
        ],
    );
    assert!(
        !o.status.success() && text(&o.stderr).contains("from bundle"),
        "{}",
        text(&o.stderr)
    );
    assert!(!d.join("fresh").exists());
}
