//! `ops/backup.sh` and `ops/restore-etcd.sh` against a real etcd (Debian's
//! etcd-server 3.4) serving TLS with client certificate authentication,
//! with certificates issued here by openssl from the site's own etcd CA.
//!
//! etcd runs in a network namespace of its own (so 127.0.0.1:2379 is free
//! and nothing leaves it). The kubectl stub runs what `kubectl exec` would
//! run in the etcd pod: the real etcdctl, in that network namespace and in a
//! mount namespace where /etc/kubernetes/pki and /var/lib/etcd are the
//! scratch node's. The crictl stub plays the kubelet: a static pod whose
//! manifest leaves /etc/kubernetes/manifests stops (for etcd, the real
//! process is killed). The ctr stub mounts "the etcd image" as a directory
//! whose etcdctl is the real one. Tests run as root.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};

use common::*;
use meshbundle_core::render::{Inputs, render};

const KUBECTL: &str = r#"#!/bin/bash
echo "kubectl $*" >>"$MB_LOG"
if [[ "$1 $2 $3" == "-n kube-system exec" ]]; then
  [[ "$4" == "etcd-$MB_NODE" ]] || { echo "no pod $4 on this node" >&2; exit 1; }
  shift 5
  pid=$(cat "$MB_ETCD_PID")
  up=$(mktemp -d "$MB_TMP/overlay.XXXXXX")
  mkdir "$up/u" "$up/w"
  # The pod's view: this node's /etc/kubernetes/pki and /var/lib/etcd.
  exec nsenter --net="/proc/$pid/ns/net" -- unshare -m -- /bin/sh -c '
    mount --make-rprivate / &&
    mount -t overlay overlay -o "lowerdir=/etc,upperdir=$0/u,workdir=$0/w" /etc &&
    mkdir -p /etc/kubernetes/pki /var/lib/etcd &&
    mount --bind "$MESHBUNDLE_SYSROOT/etc/kubernetes/pki" /etc/kubernetes/pki &&
    mount --bind "$MESHBUNDLE_SYSROOT/var/lib/etcd" /var/lib/etcd &&
    exec "$@"' "$up" "$@"
fi
exit 0
"#;

const CRICTL: &str = r#"#!/bin/bash
echo "crictl $*" >>"$MB_LOG"
[[ "$1 $2" == "ps --name" ]] || exit 0
c=${3#^}
c=${c%\$}
if [[ -f "$MESHBUNDLE_SYSROOT/etc/kubernetes/manifests/$c.yaml" ]]; then
  echo "$c-running"
  exit 0
fi
# The kubelet stops a static pod whose manifest is gone.
if [[ "$c" == etcd && -s "$MB_ETCD_PID" ]]; then
  pid=$(cat "$MB_ETCD_PID")
  kill "$pid" 2>/dev/null
  while [[ -e "/proc/$pid" && "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]]; do sleep 0.1; done
  : >"$MB_ETCD_PID"
  echo "STOPPED etcd" >>"$MB_LOG"
fi
exit 0
"#;

const CTR: &str = r#"#!/bin/bash
echo "ctr $*" >>"$MB_LOG"
case "$3 $4" in
  "images mount")
    mkdir -p "$6/usr/local/bin"
    # The cluster's etcd images (3.5, 3.6) restore with etcdutl, which knows
    # --bump-revision and --mark-compacted from 3.5.10 on. The etcd here is
    # Debian's 3.4.23, whose etcdctl restores the same snapshot but lacks
    # those two flags (etcdctl has them from 3.4.26): this etcdutl records
    # its whole call, then has the real etcdctl restore without them, so the
    # real etcd proves the data and the cluster, the record proves the bump.
    # MB_OLD_ETCDUTL plays an etcdutl older than 3.5.10.
    cat >"$6/usr/local/bin/etcdutl" <<'TOOL'
#!/bin/bash
echo "etcdutl $*" >>"$MB_LOG"
if [[ " $* " == *" --help "* ]]; then
  /usr/bin/etcdctl "$@"
  [[ -n "${MB_OLD_ETCDUTL:-}" ]] || printf '%s\n' \
    "      --bump-revision uint   How much to increase the latest revision after restore" \
    "      --mark-compacted       Mark the latest revision after restore as the point of scheduled compaction"
  exit 0
fi
args=()
while (($#)); do
  case "$1" in
    --bump-revision) shift 2 ;;
    --mark-compacted) shift ;;
    *) args+=("$1"); shift ;;
  esac
done
exec /usr/bin/etcdctl "${args[@]}"
TOOL
    chmod 755 "$6/usr/local/bin/etcdutl" ;;
  "images unmount") rm -rf "${@: -1}/usr" ;;
esac
exit 0
"#;

const OTHER: &str = "#!/bin/sh\necho \"$(basename \"$0\") $*\" >>\"$MB_LOG\"\ncase \"$(basename \"$0\") $1\" in \"ip -o\") echo \"2: eth0    inet $MB_ADDRESS/24 scope global eth0\" ;; esac\nexit 0\n";

const COMPONENTS: [&str; 4] = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"];

struct Node {
    dir: PathBuf,
    root: PathBuf,
    bundle: PathBuf,
    name: String,
    address: String,
}

fn sh(cmd: &mut Command) -> Output {
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{cmd:?}: {}{}", text(&o.stdout), text(&o.stderr));
    o
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

impl Node {
    /// A control-plane node of `site` with its etcd PKI issued from the site's etcd CA.
    fn new(parent: &Path, site: &meshbundle_core::spec::Site, name: &str) -> Node {
        let secrets = meshbundle_core::pki::parse_secrets(
            &std::fs::read_to_string(repo().join("tests/fixtures/production.secrets.yaml")).unwrap(),
        )
        .unwrap();
        let tree = render(
            site,
            &Inputs {
                secrets: Some(&secrets),
                ..Default::default()
            },
        )
        .unwrap();
        let dir = parent.join(name);
        let bundle = dir.join("bundle");
        write_tree(&tree, &bundle);
        let root = dir.join("root");
        let address = site.spec.nodes.iter().find(|n| n.name == name).unwrap().address.clone();
        for d in [
            "etc/kubernetes/manifests",
            "etc/kubernetes/pki/etcd",
            "var/lib/etcd",
            "stubs",
            "tmp",
        ] {
            let p = if d == "stubs" || d == "tmp" {
                dir.join(d)
            } else {
                root.join(d)
            };
            std::fs::create_dir_all(p).unwrap();
        }
        std::fs::set_permissions(root.join("var/lib/etcd"), std::fs::Permissions::from_mode(0o700)).unwrap();
        for c in COMPONENTS {
            std::fs::write(
                root.join(format!("etc/kubernetes/manifests/{c}.yaml")),
                format!("kind: Pod # {c}\n"),
            )
            .unwrap();
        }
        for (stub, body) in [
            ("kubectl", KUBECTL),
            ("crictl", CRICTL),
            ("ctr", CTR),
            ("ip", OTHER),
            ("istioctl", OTHER),
            ("systemctl", OTHER),
        ] {
            let p = dir.join("stubs").join(stub);
            std::fs::write(&p, body).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let n = Node {
            dir,
            root,
            bundle,
            name: name.into(),
            address,
        };
        n.issue_etcd_certificates();
        n
    }

    fn pki(&self, f: &str) -> PathBuf {
        self.root.join("etc/kubernetes/pki/etcd").join(f)
    }

    /// As kubeadm issues them: the etcd server certificate for localhost,
    /// 127.0.0.1 and the node, and the healthcheck client's.
    fn issue_etcd_certificates(&self) {
        let site_ca = self.bundle.join("secrets/kubernetes-pki/etcd");
        std::fs::copy(site_ca.join("ca.crt"), self.pki("ca.crt")).unwrap();
        std::fs::copy(site_ca.join("ca.key"), self.pki("ca.key")).unwrap();
        self.issue(
            "server",
            &self.name,
            format!(
                "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:localhost,DNS:{},IP:127.0.0.1,IP:{}\n",
                self.name, self.address
            ),
        );
        self.issue(
            "healthcheck-client",
            "kube-etcd-healthcheck-client",
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n".into(),
        );
    }

    fn issue(&self, name: &str, cn: &str, ext: String) {
        let key = self.pki(&format!("{name}.key"));
        let csr = self.dir.join("tmp").join(format!("{name}.csr"));
        let extfile = self.dir.join("tmp").join(format!("{name}.ext"));
        std::fs::write(&extfile, ext).unwrap();
        sh(Command::new("openssl")
            .args([
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
            ])
            .args([
                "-keyout".as_ref(),
                key.as_os_str(),
                "-out".as_ref(),
                csr.as_os_str(),
                "-subj".as_ref(),
                format!("/CN={cn}").as_ref(),
            ]));
        sh(Command::new("openssl").args(["x509", "-req", "-days", "365"]).args([
            "-in".as_ref(),
            csr.as_os_str(),
            "-CA".as_ref(),
            self.pki("ca.crt").as_os_str(),
            "-CAkey".as_ref(),
            self.pki("ca.key").as_os_str(),
            "-CAcreateserial".as_ref(),
            "-extfile".as_ref(),
            extfile.as_os_str(),
            "-out".as_ref(),
            self.pki(&format!("{name}.crt")).as_os_str(),
        ]));
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    /// A peer certificate for every member's address: the members of the
    /// test share one network namespace, where a connection to another
    /// member leaves from that member's own address, which etcd checks.
    fn issue_peer(&self, addresses: &[String]) {
        let ips: Vec<String> = addresses.iter().map(|a| format!("IP:{a}")).collect();
        self.issue(
            "peer",
            &self.name,
            format!(
                "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:localhost,DNS:{},IP:127.0.0.1,{}\n",
                self.name,
                ips.join(",")
            ),
        );
    }

    fn pid_file(&self) -> PathBuf {
        self.dir.join("etcd.pid")
    }

    /// The real etcd on this node's data directory, in a network namespace
    /// of its own, serving TLS to clients with certificates from the etcd CA.
    fn start_etcd(&self) -> Child {
        let pki = |f: &str| self.pki(f).display().to_string();
        let script = format!(
            "/usr/sbin/ip link set lo up && exec etcd --name {name} --data-dir {data} \
             --listen-client-urls https://127.0.0.1:2379 --advertise-client-urls https://127.0.0.1:2379 \
             --cert-file {cert} --key-file {key} --client-cert-auth --trusted-ca-file {ca} \
             --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
             --initial-cluster {name}=http://127.0.0.1:2380",
            name = self.name,
            data = self.root.join("var/lib/etcd").display(),
            cert = pki("server.crt"),
            key = pki("server.key"),
            ca = pki("ca.crt"),
        );
        let log = std::fs::File::create(self.dir.join("etcd.log")).unwrap();
        // The caller owns the child and stops it; a panic below leaves it to
        // the test's cleanup, which kills it by its pid file.
        #[allow(clippy::zombie_processes)]
        let child = Command::new("unshare")
            .args(["--net", "--", "/bin/sh", "-c", &script])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        std::fs::write(self.pid_file(), child.id().to_string()).unwrap();
        // Poll until it answers (bounded; no assertion on time).
        for _ in 0..600 {
            if self.etcdctl(&["endpoint", "health"]).status.success() {
                return child;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!(
            "etcd did not come up: {}",
            std::fs::read_to_string(self.dir.join("etcd.log")).unwrap_or_default()
        );
    }

    /// The real etcdctl, in etcd's network namespace, with the healthcheck client's certificate.
    fn etcdctl(&self, args: &[&str]) -> Output {
        let pid = std::fs::read_to_string(self.pid_file()).unwrap();
        Command::new("nsenter")
            .arg(format!("--net=/proc/{}/ns/net", pid.trim()))
            .args(["--", "etcdctl", "--endpoints=https://127.0.0.1:2379"])
            .arg(format!("--cacert={}", self.pki("ca.crt").display()))
            .arg(format!("--cert={}", self.pki("healthcheck-client.crt").display()))
            .arg(format!("--key={}", self.pki("healthcheck-client.key").display()))
            .args(args)
            .output()
            .unwrap()
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = Command::new("bash");
        c.args(args)
            .current_dir(&self.bundle)
            .env_clear()
            .env(
                "PATH",
                format!(
                    "{}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
                    self.dir.join("stubs").display()
                ),
            )
            .env("MESHBUNDLE_SYSROOT", &self.root)
            .env("MB_LOG", self.dir.join("calls.log"))
            .env("MB_TMP", self.dir.join("tmp"))
            .env("MB_ETCD_PID", self.pid_file())
            .env("MB_NODE", &self.name)
            .env("MB_ADDRESS", &self.address)
            .env("TMPDIR", self.dir.join("tmp"));
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn single_control_plane() -> meshbundle_core::spec::Site {
    let mut site = example("production");
    site.spec.nodes.retain(|n| n.name != "cp-2" && n.name != "cp-3");
    site
}

#[test]
fn backup_snapshots_a_real_etcd_and_the_documented_restore_brings_the_data_back() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::new(tmp.path(), &single_control_plane(), "cp-1");
    let etcd = node.start_etcd();
    let put = node.etcdctl(&["put", "/registry/meshbundle/probe", "before-backup"]);
    assert!(put.status.success(), "{}", text(&put.stderr));

    // The backup, as root on cp-1.
    let out = tmp.path().join("backups/b1");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let o = node.run(&["ops/backup.sh", out.to_str().unwrap()], &[]);
    assert!(o.status.success(), "{}\n{}", text(&o.stdout), text(&o.stderr));
    let calls = node.calls();
    assert!(
        calls
            .iter()
            .any(|c| c.starts_with("kubectl -n kube-system exec etcd-cp-1 -- etcdctl") && c.contains("snapshot save")),
        "{calls:#?}"
    );

    // Secrets: a 0700 directory of 0600 files, a 0600 archive, no copy left in etcd's directory.
    assert_eq!(mode(&out), 0o700);
    for e in std::fs::read_dir(&out).unwrap() {
        let p = e.unwrap().path();
        assert_eq!(mode(&p), 0o600, "{}", p.display());
    }
    assert_eq!(mode(&tmp.path().join("backups/b1.tar.gz")), 0o600);
    let left: Vec<_> = std::fs::read_dir(node.root.join("var/lib/etcd"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "member")
        .collect();
    assert!(left.is_empty(), "left in /var/lib/etcd: {left:?}");

    // The snapshot is whole, by etcdctl's own reading, and its checksum is recorded.
    let snapshot = out.join("etcd-snapshot.db");
    let status = sh(Command::new("etcdctl")
        .args(["--write-out=json", "snapshot", "status"])
        .arg(&snapshot));
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert!(status["totalKey"].as_u64().unwrap() >= 1, "{status}");
    assert!(
        std::fs::read_to_string(out.join("etcd-snapshot.status"))
            .unwrap()
            .contains("TOTAL KEYS")
    );
    let sum = sh(Command::new("sha256sum").arg("etcd-snapshot.db").current_dir(&out));
    assert_eq!(
        std::fs::read_to_string(out.join("etcd-snapshot.db.sha256")).unwrap(),
        text(&sum.stdout)
    );

    // A write after the backup, which the restore must undo.
    assert!(
        node.etcdctl(&["put", "/registry/meshbundle/probe", "after-backup"])
            .status
            .success()
    );
    assert!(
        node.etcdctl(&["put", "/registry/meshbundle/later", "x"])
            .status
            .success()
    );

    // The documented restore, on the only control-plane node: it stops the
    // control plane (the stub kubelet stops the real etcd), restores, swaps
    // the data directory and starts again.
    let before = node.calls().len();
    let o = node.run(&["ops/restore-etcd.sh", snapshot.to_str().unwrap()], &[]);
    assert!(o.status.success(), "{}\n{}", text(&o.stdout), text(&o.stderr));
    let calls: Vec<String> = node.calls()[before..].to_vec();
    let at = |prefix: &str| {
        calls
            .iter()
            .position(|c| c.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix}: {calls:#?}"))
    };
    assert!(
        at("STOPPED etcd") < at("etcdutl snapshot restore /"),
        "etcd stops before its data changes"
    );
    assert!(at("etcdutl snapshot restore /") < at("systemctl restart kubelet"));
    let restore = &calls[at("etcdutl snapshot restore /")];
    assert!(
        restore.contains("--name cp-1 --initial-cluster cp-1=https://10.0.0.11:2380"),
        "{restore}"
    );
    assert!(
        restore.contains("--initial-advertise-peer-urls https://10.0.0.11:2380"),
        "{restore}"
    );
    // The revision moves forward and the older ones count as compacted, so no watch sees it go back.
    assert!(
        restore.ends_with(" --bump-revision 1000000000 --mark-compacted"),
        "{restore}"
    );
    // The single control-plane node starts at once and says what else to restart.
    let out = text(&o.stdout);
    assert!(
        out.contains("systemctl restart kubelet on worker-1 worker-2 worker-3"),
        "{out}"
    );
    assert!(
        out.contains("kubectl -n istio-system rollout restart deployment/istiod-"),
        "{out}"
    );
    for c in COMPONENTS {
        assert!(
            node.root.join(format!("etc/kubernetes/manifests/{c}.yaml")).exists(),
            "{c} started again"
        );
    }
    assert!(!node.root.join("etc/kubernetes/manifests-stopped-for-restore").exists());
    let kept: Vec<_> = std::fs::read_dir(node.root.join("var/lib"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("etcd.before-restore-"))
        .collect();
    assert_eq!(kept.len(), 1, "the previous data is kept aside");
    assert_eq!(mode(&node.root.join("var/lib/etcd")), 0o700);
    assert!(
        !tmp.path()
            .join("cp-1/tmp")
            .read_dir()
            .unwrap()
            .any(|e| e.unwrap().path().join("usr").exists()),
        "image unmounted"
    );
    stop(etcd);

    // The real etcd on the restored data, with TLS: the key as it was at the backup.
    let etcd = node.start_etcd();
    let get = node.etcdctl(&["get", "--print-value-only", "/registry/meshbundle/probe"]);
    assert_eq!(text(&get.stdout).trim(), "before-backup", "{}", text(&get.stderr));
    let later = node.etcdctl(&["get", "--print-value-only", "/registry/meshbundle/later"]);
    assert_eq!(text(&later.stdout).trim(), "", "a key written after the backup is gone");
    let members = node.etcdctl(&["member", "list"]);
    assert!(text(&members.stdout).contains("cp-1"), "{}", text(&members.stdout));
    stop(etcd);

    // With three control-plane nodes, each member restores the same snapshot
    // as itself in the same new cluster, and the control plane stays stopped
    // until `start`.
    let prod = example("production");
    let cp2 = Node::new(tmp.path(), &prod, "cp-2");
    std::fs::write(cp2.pid_file(), "").unwrap();
    let o = cp2.run(&["ops/restore-etcd.sh", snapshot.to_str().unwrap()], &[]);
    assert!(o.status.success(), "{}\n{}", text(&o.stdout), text(&o.stderr));
    let calls = cp2.calls();
    let restore = calls
        .iter()
        .find(|c| c.starts_with("etcdutl snapshot restore /"))
        .expect("restored");
    assert!(
        restore
            .contains("--name cp-2 --initial-cluster cp-1=https://10.0.0.11:2380,cp-2=https://10.0.0.12:2380,cp-3=https://10.0.0.13:2380")
            && restore.contains("--initial-advertise-peer-urls https://10.0.0.12:2380"),
        "{restore}"
    );
    let token = restore
        .split("--initial-cluster-token ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap();
    assert!(token.starts_with("meshbundle-restore-"), "{restore}");
    for c in COMPONENTS {
        assert!(
            !cp2.root.join(format!("etc/kubernetes/manifests/{c}.yaml")).exists(),
            "{c} stays stopped"
        );
    }
    assert!(!calls.iter().any(|c| c.starts_with("systemctl restart kubelet")));
    assert!(
        text(&o.stdout).contains("then ops/restore-etcd.sh start on each"),
        "{}",
        text(&o.stdout)
    );
    let o = cp2.run(&["ops/restore-etcd.sh", "start"], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    for c in COMPONENTS {
        assert!(
            cp2.root.join(format!("etc/kubernetes/manifests/{c}.yaml")).exists(),
            "{c} started"
        );
    }
    // The same snapshot gives every member the same cluster token.
    let cp3 = Node::new(tmp.path(), &prod, "cp-3");
    std::fs::write(cp3.pid_file(), "").unwrap();
    let o = cp3.run(&["ops/restore-etcd.sh", snapshot.to_str().unwrap()], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let calls = cp3.calls();
    let restore = calls
        .iter()
        .find(|c| c.starts_with("etcdutl snapshot restore /"))
        .unwrap();
    assert!(
        restore.contains(&format!("--initial-cluster-token {token} ")) && restore.contains("--name cp-3"),
        "{restore}"
    );
    // Every member bumps by the same amount.
    let bump = |r: &str| r.split("--bump-revision ").nth(1).map(str::to_string);
    assert_eq!(
        bump(restore),
        bump(
            cp2.calls()
                .iter()
                .find(|c| c.starts_with("etcdutl snapshot restore /"))
                .unwrap()
        )
    );
    assert_eq!(bump(restore).as_deref(), Some("1000000000 --mark-compacted"));
    // start names every worker whose kubelet must restart too, and istiod.
    let o = cp3.run(&["ops/restore-etcd.sh", "start"], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    let workers: Vec<&str> = prod
        .spec
        .nodes
        .iter()
        .filter(|n| n.role == meshbundle_core::spec::Role::Worker)
        .map(|n| n.name.as_str())
        .collect();
    assert!(!workers.is_empty());
    assert!(
        out.contains(&format!("systemctl restart kubelet on {}", workers.join(" "))),
        "{out}"
    );
    assert!(
        out.contains(&format!("rollout restart deployment/istiod-{}", prod.istio_revision())),
        "{out}"
    );
}

#[test]
fn backup_and_restore_refuse_a_worker_and_a_damaged_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let prod = example("production");
    let node = Node::new(tmp.path(), &prod, "cp-1");
    for script in [vec!["ops/backup.sh"], vec!["ops/restore-etcd.sh", "/nonexistent"]] {
        let o = node.run(&script, &[("NODE", "worker-1")]);
        assert_eq!(o.status.code(), Some(1), "{script:?}");
        assert!(text(&o.stderr).contains("worker-1 is a worker"), "{}", text(&o.stderr));
    }
    // A snapshot whose recorded checksum does not match is refused before anything stops.
    let snap = tmp.path().join("etcd-snapshot.db");
    std::fs::write(&snap, "not a snapshot").unwrap();
    std::fs::write(
        tmp.path().join("etcd-snapshot.db.sha256"),
        format!("{}  etcd-snapshot.db\n", "0".repeat(64)),
    )
    .unwrap();
    let o = node.run(&["ops/restore-etcd.sh", snap.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("the snapshot is damaged"),
        "{}",
        text(&o.stderr)
    );
    for c in COMPONENTS {
        assert!(node.root.join(format!("etc/kubernetes/manifests/{c}.yaml")).exists());
    }
    // An etcdutl that cannot bump the revision (before 3.5.10) restores nothing.
    std::fs::write(node.pid_file(), "").unwrap();
    std::fs::write(node.root.join("var/lib/etcd/data-before"), "x").unwrap();
    let snap = tmp.path().join("other-snapshot.db");
    std::fs::write(&snap, "a snapshot").unwrap();
    let o = node.run(
        &["ops/restore-etcd.sh", snap.to_str().unwrap()],
        &[("MB_OLD_ETCDUTL", "1")],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("cannot bump the revision"),
        "{}",
        text(&o.stderr)
    );
    assert!(
        !node
            .calls()
            .iter()
            .any(|c| c.starts_with("etcdutl snapshot restore /") && !c.contains("--help")),
        "{:#?}",
        node.calls()
    );
    assert!(
        node.root.join("var/lib/etcd/data-before").exists(),
        "the data directory is untouched"
    );
}

/// The real etcdctl in the network namespace of process `pid`.
fn etcdctl_at(pid: u32, node: &Node, endpoint: &str, args: &[&str]) -> Output {
    Command::new("nsenter")
        .arg(format!("--net=/proc/{pid}/ns/net"))
        .args(["--", "etcdctl"])
        .arg(format!("--endpoints={endpoint}"))
        .arg(format!("--cacert={}", node.pki("ca.crt").display()))
        .arg(format!("--cert={}", node.pki("healthcheck-client.crt").display()))
        .arg(format!("--key={}", node.pki("healthcheck-client.key").display()))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn three_control_plane_nodes_restore_one_snapshot_into_one_working_etcd_cluster() {
    let tmp = tempfile::tempdir().unwrap();
    // A snapshot of a real etcd, by ops/backup.sh.
    let first = Node::new(tmp.path(), &single_control_plane(), "cp-1");
    let etcd = first.start_etcd();
    assert!(
        first
            .etcdctl(&["put", "/registry/meshbundle/probe", "in-the-snapshot"])
            .status
            .success()
    );
    let out = tmp.path().join("b");
    let o = first.run(&["ops/backup.sh", out.to_str().unwrap()], &[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    stop(etcd);
    let snapshot = out.join("etcd-snapshot.db");

    // Each of production's three control-plane nodes restores it, then starts.
    let prod = example("production");
    let parent = tmp.path().join("prod");
    let nodes: Vec<Node> = ["cp-1", "cp-2", "cp-3"]
        .iter()
        .map(|n| Node::new(&parent, &prod, n))
        .collect();
    let addresses: Vec<String> = nodes.iter().map(|n| n.address.clone()).collect();
    for n in &nodes {
        n.issue_peer(&addresses);
        std::fs::write(n.pid_file(), "").unwrap();
        let o = n.run(&["ops/restore-etcd.sh", snapshot.to_str().unwrap()], &[]);
        assert!(o.status.success(), "{}: {}", n.name, text(&o.stderr));
    }
    for n in &nodes {
        let o = n.run(&["ops/restore-etcd.sh", "start"], &[]);
        assert!(o.status.success(), "{}: {}", n.name, text(&o.stderr));
    }

    // The three restored members, each on its node's address in one network
    // namespace, peers over TLS with certificates from the site's etcd CA.
    let mut setup = String::from("/usr/sbin/ip link set lo up");
    for n in &nodes {
        setup.push_str(&format!(" && /usr/sbin/ip addr add {}/32 dev lo", n.address));
    }
    let mut holder = Command::new("unshare")
        .args(["--net", "--", "/bin/sh", "-c", &format!("{setup} && exec sleep 600")])
        .spawn()
        .unwrap();
    let ns = holder.id();
    for _ in 0..100 {
        let o = Command::new("nsenter")
            .arg(format!("--net=/proc/{ns}/ns/net"))
            .args(["--", "/usr/sbin/ip", "-o", "-4", "addr", "show", "lo"])
            .output()
            .unwrap();
        if text(&o.stdout).contains(&nodes[2].address) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let mut members = Vec::new();
    for n in &nodes {
        let pki = |f: &str| n.pki(f).display().to_string();
        let log = std::fs::File::create(n.dir.join("etcd.log")).unwrap();
        let child = Command::new("nsenter")
            .arg(format!("--net=/proc/{ns}/ns/net"))
            .args(["--", "etcd", "--name", &n.name, "--data-dir"])
            .arg(n.root.join("var/lib/etcd"))
            .arg(format!("--listen-client-urls=https://{}:2379", n.address))
            .arg(format!("--advertise-client-urls=https://{}:2379", n.address))
            .arg(format!("--listen-peer-urls=https://{}:2380", n.address))
            .args([
                "--cert-file",
                &pki("server.crt"),
                "--key-file",
                &pki("server.key"),
                "--client-cert-auth",
                "--trusted-ca-file",
                &pki("ca.crt"),
            ])
            .args([
                "--peer-cert-file",
                &pki("peer.crt"),
                "--peer-key-file",
                &pki("peer.key"),
                "--peer-client-cert-auth",
            ])
            .args(["--peer-trusted-ca-file", &pki("ca.crt")])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        members.push(child);
    }
    let endpoint = format!("https://{}:2379", nodes[1].address);
    let mut healthy = false;
    for _ in 0..600 {
        if etcdctl_at(ns, &nodes[1], &endpoint, &["endpoint", "health"])
            .status
            .success()
        {
            healthy = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let logs = || {
        nodes
            .iter()
            .map(|n| std::fs::read_to_string(n.dir.join("etcd.log")).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n----\n")
    };
    if !healthy {
        for m in members {
            stop(m);
        }
        stop(holder);
        panic!("the restored cluster has no quorum:\n{}", logs());
    }
    let get = etcdctl_at(
        ns,
        &nodes[1],
        &endpoint,
        &["get", "--print-value-only", "/registry/meshbundle/probe"],
    );
    let list = etcdctl_at(ns, &nodes[1], &endpoint, &["member", "list"]);
    // A write through one member is read from another: one cluster.
    let put = etcdctl_at(
        ns,
        &nodes[0],
        &format!("https://{}:2379", nodes[0].address),
        &["put", "/registry/meshbundle/after", "y"],
    );
    let read = etcdctl_at(
        ns,
        &nodes[2],
        &format!("https://{}:2379", nodes[2].address),
        &["get", "--print-value-only", "/registry/meshbundle/after"],
    );
    for m in members {
        stop(m);
    }
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(text(&get.stdout).trim(), "in-the-snapshot", "{}", text(&get.stderr));
    let list = text(&list.stdout);
    for n in &nodes {
        assert!(
            list.contains(&format!("started, {}, https://{}:2380", n.name, n.address)),
            "{list}"
        );
    }
    assert!(put.status.success(), "{}", text(&put.stderr));
    assert_eq!(text(&read.stdout).trim(), "y", "{}", text(&read.stderr));
}
