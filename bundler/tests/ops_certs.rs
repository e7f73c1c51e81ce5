//! kubeadm certificate renewal and the certificate expiry check, judged by
//! what they do: `ops/renew-kubeadm-certs.sh` runs under bash against a
//! scratch root with recording stubs for kubeadm, kubectl and crictl (the
//! crictl stub reports a static pod running exactly while its manifest is in
//! /etc/kubernetes/manifests, as the kubelet would), and `ops/cert-expiry.sh`
//! runs with the real openssl against certificates made here.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use meshbundle_core::render::{Inputs, render};

const STUB: &str = r#"#!/bin/bash
name=$(basename "$0")
echo "$name $*" >>"$MB_LOG"
# MB_FAIL, a pattern of calls that fail: what is unhealthy.
# shellcheck disable=SC2053
if [[ -n "${MB_FAIL:-}" && "$name $*" == $MB_FAIL ]]; then
  exit 1
fi
case "$name $*" in
  "ip -o -4"*) echo "2: eth0    inet $MB_ADDRESS/24 brd 10.0.0.255 scope global eth0" ;;
  "kubeadm certs renew all")
    # What kubeadm does: new certificates, new kubeconfigs.
    echo renewed >"$MESHBUNDLE_SYSROOT/renewed"
    echo "renewed admin" >"$MESHBUNDLE_SYSROOT/etc/kubernetes/admin.conf" ;;
  "crictl ps --name "*)
    # A static pod runs while its manifest is in the kubelet's directory;
    # each start is a new container ID.
    c=${3#^}
    c=${c%\$}
    if [[ -f "$MESHBUNDLE_SYSROOT/etc/kubernetes/manifests/$c.yaml" ]]; then
      if [[ ! -f "$MB_STATE/$c.id" ]]; then
        n=$(($(cat "$MB_STATE/counter" 2>/dev/null || echo 0) + 1))
        echo "$n" >"$MB_STATE/counter"
        echo "$c-$n" >"$MB_STATE/$c.id"
        echo "START $c renewed=$([[ -f $MESHBUNDLE_SYSROOT/renewed ]] && echo yes || echo no)" >>"$MB_LOG"
      fi
      cat "$MB_STATE/$c.id"
    elif [[ -f "$MB_STATE/$c.id" ]]; then
      rm "$MB_STATE/$c.id"
      echo "STOP $c renewed=$([[ -f $MESHBUNDLE_SYSROOT/renewed ]] && echo yes || echo no)" >>"$MB_LOG"
    fi ;;
  "kubectl -n "*" get secret "*)
    # kubectl -n NS get secret NAME -o jsonpath={.data.KEY}
    key=${7#jsonpath=\{.data.}
    key=${key%\}}
    key=${key//\\/}
    f="$MB_SECRETS/$5/$key"
    [[ -f "$f" ]] || exit 1
    base64 -w0 <"$f" ;;
esac
exit 0
"#;

const COMPONENTS: [&str; 4] = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"];

struct Node {
    dir: tempfile::TempDir,
}

impl Node {
    fn new() -> Node {
        let site = example("production");
        let secrets = meshbundle_core::pki::parse_secrets(
            &std::fs::read_to_string(repo().join("tests/fixtures/production.secrets.yaml")).unwrap(),
        )
        .unwrap();
        let tree = render(
            &site,
            &Inputs {
                secrets: Some(&secrets),
                ..Default::default()
            },
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        write_tree(&tree, &dir.path().join("bundle"));
        let stubs = dir.path().join("stubs");
        std::fs::create_dir_all(&stubs).unwrap();
        for s in ["kubeadm", "kubectl", "crictl", "ip", "systemctl"] {
            let p = stubs.join(s);
            std::fs::write(&p, STUB).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        for d in ["root/etc/kubernetes/manifests", "state", "secrets"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        Node { dir }
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn sys(&self, rel: &str) -> PathBuf {
        self.p("root").join(rel.trim_start_matches('/'))
    }

    fn run(&self, address: &str, args: &[&str]) -> Output {
        self.run_env(address, args, &[])
    }

    fn run_env(&self, address: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new("bash")
            .args(args)
            .current_dir(self.p("bundle"))
            .env_clear()
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin:/usr/sbin:/sbin", self.p("stubs").display()),
            )
            .env("MESHBUNDLE_SYSROOT", self.p("root"))
            .env("HOME", self.p("root/root"))
            .env("MB_LOG", self.p("calls.log"))
            .env("MB_STATE", self.p("state"))
            .env("MB_SECRETS", self.p("secrets"))
            .env("MB_ADDRESS", address)
            .envs(env.iter().copied())
            .output()
            .unwrap()
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.p("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

fn pos(calls: &[String], line: &str) -> usize {
    calls
        .iter()
        .position(|c| c == line)
        .unwrap_or_else(|| panic!("no `{line}` in {calls:#?}"))
}

#[test]
fn renewal_renews_then_restarts_each_static_pod_and_refreshes_root_kubeconfig() {
    let n = Node::new();
    for c in COMPONENTS {
        std::fs::write(
            n.sys(&format!("etc/kubernetes/manifests/{c}.yaml")),
            format!("kind: Pod # {c}\n"),
        )
        .unwrap();
    }
    std::fs::write(n.sys("etc/kubernetes/admin.conf"), "old admin\n").unwrap();
    // The kubelet has the static pods running.
    for c in COMPONENTS {
        Command::new(n.p("stubs/crictl"))
            .args(["ps", "--name", &format!("^{c}$"), "--state", "running", "-q"])
            .env("MESHBUNDLE_SYSROOT", n.p("root"))
            .env("MB_STATE", n.p("state"))
            .env("MB_LOG", n.p("boot.log"))
            .output()
            .unwrap();
    }

    // cp-2 (10.0.0.12) is a control-plane node.
    let o = n.run("10.0.0.12", &["ops/renew-kubeadm-certs.sh"]);
    assert!(o.status.success(), "{}\n{}", text(&o.stdout), text(&o.stderr));
    let calls = n.calls();
    let renew = pos(&calls, "kubeadm certs renew all");
    for c in COMPONENTS {
        // Each static pod stops and starts again after the renewal, one after the other.
        let stop = pos(&calls, &format!("STOP {c} renewed=yes"));
        let start = pos(&calls, &format!("START {c} renewed=yes"));
        assert!(renew < stop && stop < start, "{c}: {calls:#?}");
        // Its manifest is back, unchanged, and nothing is left held outside.
        let m = std::fs::read_to_string(n.sys(&format!("etc/kubernetes/manifests/{c}.yaml"))).unwrap();
        assert_eq!(m, format!("kind: Pod # {c}\n"));
    }
    for w in COMPONENTS.windows(2) {
        assert!(
            pos(&calls, &format!("START {} renewed=yes", w[0])) < pos(&calls, &format!("STOP {} renewed=yes", w[1])),
            "one at a time"
        );
    }
    assert!(!n.sys("etc/kubernetes/manifests-held-by-meshbundle").exists());
    assert_eq!(std::fs::read_dir(n.sys("etc/kubernetes/manifests")).unwrap().count(), 4);
    // The API server answered before the script went on, and root's kubeconfig is the renewed admin.conf.
    // The API server checked is cp-2's own (10.0.0.12), not the load balancer of controlPlaneEndpoint.
    let ready = |c: &String| c.starts_with("kubectl --kubeconfig") && c.ends_with("get --raw=/readyz");
    assert!(
        calls
            .iter()
            .filter(|c| ready(c))
            .all(|c| c.contains(" --server https://10.0.0.12:6443 ")),
        "{calls:#?}"
    );
    // After each restart, before the next component stops: this node's etcd
    // member (through its own container, with the healthcheck client) and its API server.
    let health = |c: &String| {
        c.starts_with("crictl exec etcd-")
            && c.contains(" etcdctl --endpoints=https://127.0.0.1:2379 ")
            && c.contains("--cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt")
            && c.ends_with(" endpoint health")
    };
    for (i, c) in COMPONENTS.iter().enumerate() {
        let start = pos(&calls, &format!("START {c} renewed=yes"));
        let next = COMPONENTS
            .get(i + 1)
            .map(|n| pos(&calls, &format!("STOP {n} renewed=yes")))
            .unwrap_or(calls.len());
        assert!(
            calls[start..next].iter().any(health),
            "{c}: etcd checked before going on: {calls:#?}"
        );
        assert!(
            calls[start..next].iter().any(ready),
            "{c}: API server checked before going on: {calls:#?}"
        );
    }
    let kubeconfig = n.sys("root/.kube/config");
    assert_eq!(std::fs::read_to_string(&kubeconfig).unwrap(), "renewed admin\n");
    assert_eq!(
        std::fs::metadata(&kubeconfig).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let out = text(&o.stdout);
    assert!(
        out.contains("run ops/renew-kubeadm-certs.sh on cp-1 cp-3, one node at a time"),
        "{out}"
    );
}

#[test]
fn renewal_puts_every_manifest_back_when_a_pod_does_not_return() {
    let n = Node::new();
    for c in COMPONENTS {
        std::fs::write(
            n.sys(&format!("etc/kubernetes/manifests/{c}.yaml")),
            format!("kind: Pod # {c}\n"),
        )
        .unwrap();
    }
    std::fs::write(n.sys("etc/kubernetes/admin.conf"), "old admin\n").unwrap();
    // etcd never stops: the kubelet is not watching.
    std::fs::write(
        n.p("stubs/crictl"),
        "#!/bin/sh\necho \"crictl $*\" >>\"$MB_LOG\"\necho stuck\n",
    )
    .unwrap();
    let o = Command::new("bash")
        .args(["ops/renew-kubeadm-certs.sh", "cp-1"])
        .current_dir(n.p("bundle"))
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", n.p("stubs").display()))
        .env("MESHBUNDLE_SYSROOT", n.p("root"))
        .env("MB_LOG", n.p("calls.log"))
        .env("MB_STATE", n.p("state"))
        .env("MB_ADDRESS", "10.0.0.99")
        .env("TIMEOUT", "0")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("etcd did not stop"), "{}", text(&o.stderr));
    for c in COMPONENTS {
        assert!(
            n.sys(&format!("etc/kubernetes/manifests/{c}.yaml")).exists(),
            "{c} is back"
        );
    }
    assert!(!n.sys("etc/kubernetes/manifests-held-by-meshbundle").exists());
}

/// The static pods of a control-plane node, running.
fn running_control_plane(n: &Node) {
    for c in COMPONENTS {
        std::fs::write(
            n.sys(&format!("etc/kubernetes/manifests/{c}.yaml")),
            format!("kind: Pod # {c}\n"),
        )
        .unwrap();
        Command::new(n.p("stubs/crictl"))
            .args(["ps", "--name", &format!("^{c}$"), "--state", "running", "-q"])
            .env("MESHBUNDLE_SYSROOT", n.p("root"))
            .env("MB_STATE", n.p("state"))
            .env("MB_LOG", n.p("boot.log"))
            .output()
            .unwrap();
    }
    std::fs::write(n.sys("etc/kubernetes/admin.conf"), "old admin\n").unwrap();
}

/// Renewal on cp-2 where the calls matching `fail` fail: it must stop with
/// every manifest back and never say to go on to the next node.
fn renewal_stops_when(fail: &str) -> (Vec<String>, String) {
    let n = Node::new();
    running_control_plane(&n);
    let o = n.run_env(
        "10.0.0.12",
        &["ops/renew-kubeadm-certs.sh"],
        &[("MB_FAIL", fail), ("TIMEOUT", "2")],
    );
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    assert!(!out.contains("now run ops/renew-kubeadm-certs.sh on"), "{out}");
    assert!(
        err.contains("is not healthy") && err.contains("Do not go on to another node"),
        "{err}"
    );
    for c in COMPONENTS {
        assert_eq!(
            std::fs::read_to_string(n.sys(&format!("etc/kubernetes/manifests/{c}.yaml"))).unwrap(),
            format!("kind: Pod # {c}\n")
        );
    }
    assert!(!n.sys("etc/kubernetes/manifests-held-by-meshbundle").exists());
    (n.calls(), err)
}

#[test]
fn renewal_stops_when_this_nodes_api_server_is_not_ready_though_the_load_balancer_answers() {
    // The load balancer (any other server) answers; cp-2's own API server, crashlooping on its renewed certificate, does not.
    let (calls, err) = renewal_stops_when("kubectl --kubeconfig * --server https://10.0.0.12:6443 get --raw=/readyz");
    assert!(err.contains("https://10.0.0.12:6443"), "{err}");
    // It stops at the first check, after etcd's restart: the API server is never restarted.
    assert!(
        !calls.iter().any(|c| c == "STOP kube-apiserver renewed=yes"),
        "{calls:#?}"
    );
}

#[test]
fn renewal_stops_when_this_nodes_etcd_is_not_healthy() {
    let (calls, err) = renewal_stops_when("crictl exec * endpoint health");
    assert!(err.contains("etcd (https://127.0.0.1:2379)"), "{err}");
    assert!(calls.iter().any(|c| c == "START etcd renewed=yes"), "{calls:#?}");
    assert!(
        !calls.iter().any(|c| c == "STOP kube-apiserver renewed=yes"),
        "{calls:#?}"
    );
}

#[test]
fn renewal_refuses_a_worker() {
    let n = Node::new();
    for (address, args) in [
        ("10.0.0.21", vec!["ops/renew-kubeadm-certs.sh"]),
        ("10.0.0.11", vec!["ops/renew-kubeadm-certs.sh", "worker-1"]),
    ] {
        let o = n.run(address, &args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(text(&o.stderr).contains("is a worker"), "{}", text(&o.stderr));
        assert!(!n.calls().iter().any(|c| c.starts_with("kubeadm")), "{:#?}", n.calls());
    }
    // A machine that is no node of the site is refused too.
    let o = n.run("192.168.7.7", &["ops/renew-kubeadm-certs.sh"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!n.calls().iter().any(|c| c.starts_with("kubeadm")));
}

// ---- cert-expiry.sh against real certificates ----

fn openssl(args: &[&str]) {
    let o = Command::new("openssl").args(args).output().unwrap();
    assert!(o.status.success(), "openssl {args:?}: {}", text(&o.stderr));
}

/// A self-signed certificate valid for `days`, a CA or not, PEM.
fn cert(dir: &Path, cn: &str, days: u32, ca: bool) -> String {
    let key = dir.join("key.pem");
    let out = dir.join("cert.pem");
    let days = days.to_string();
    let bc = if ca {
        "basicConstraints=critical,CA:TRUE"
    } else {
        "basicConstraints=critical,CA:FALSE"
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        key.to_str().unwrap(),
        "-out",
        out.to_str().unwrap(),
        "-subj",
        &format!("/CN={}", cn.replace('/', "-")),
        "-days",
        &days,
        "-addext",
        bc,
    ]);
    let pem = std::fs::read_to_string(&out).unwrap();
    let key = std::fs::read_to_string(&key).unwrap();
    std::fs::remove_file(dir.join("key.pem")).unwrap();
    format!("{pem}{key}")
}

/// Where each certificate the check covers lives, and whether it is a CA.
#[derive(Clone, Copy)]
enum Place {
    Pki(&'static str, bool),
    Kubeconfig(&'static str),
    KubeletClient,
    Secret(&'static str, &'static str, &'static str),
}

const PLACES: &[Place] = &[
    Place::Pki("ca.crt", true),
    Place::Pki("apiserver.crt", false),
    Place::Pki("apiserver-kubelet-client.crt", false),
    Place::Pki("apiserver-etcd-client.crt", false),
    Place::Pki("front-proxy-ca.crt", true),
    Place::Pki("front-proxy-client.crt", false),
    Place::Pki("etcd/ca.crt", true),
    Place::Pki("etcd/server.crt", false),
    Place::Pki("etcd/peer.crt", false),
    Place::Pki("etcd/healthcheck-client.crt", false),
    Place::Kubeconfig("admin.conf"),
    Place::Kubeconfig("super-admin.conf"),
    Place::Kubeconfig("controller-manager.conf"),
    Place::Kubeconfig("scheduler.conf"),
    Place::KubeletClient,
    Place::Secret("cacerts", "root-cert.pem", "Istio root CA"),
    Place::Secret("cacerts", "ca-cert.pem", "Istio intermediate CA"),
    Place::Secret("ingress-tls", "tls.crt", "ingress certificate"),
];

impl Place {
    /// What the report names, and the renewal it must point to.
    fn expect(self) -> (String, &'static str) {
        match self {
            Place::Pki(p, true) => (format!("/etc/kubernetes/pki/{p}"), "Replacing a root CA"),
            Place::Pki(p, false) => (
                format!("/etc/kubernetes/pki/{p}"),
                "ops/renew-kubeadm-certs.sh on each control-plane node",
            ),
            Place::Kubeconfig(c) => (
                format!("client certificate in /etc/kubernetes/{c}"),
                "ops/renew-kubeadm-certs.sh on each control-plane node",
            ),
            Place::KubeletClient => (
                "/var/lib/kubelet/pki/kubelet-client-current.pem".into(),
                "the kubelet renews it itself",
            ),
            Place::Secret(_, "root-cert.pem", what) => (what.into(), "Replacing a root CA"),
            Place::Secret(_, _, what) => (what.into(), "meshbundle secrets rotate, then meshbundle build, import"),
        }
    }

    fn write(self, n: &Node, days: u32) {
        let tmp = n.p("state");
        match self {
            Place::Pki(p, ca) => {
                let f = n.sys(&format!("etc/kubernetes/pki/{p}"));
                std::fs::create_dir_all(f.parent().unwrap()).unwrap();
                let pem = cert(&tmp, p, days, ca);
                std::fs::write(f, pem.split("-----BEGIN PRIVATE KEY").next().unwrap()).unwrap();
            }
            Place::Kubeconfig(c) => {
                use base64::Engine;
                let pem = cert(&tmp, c, days, false);
                let crt = pem.split("-----BEGIN PRIVATE KEY").next().unwrap();
                let b64 = base64::engine::general_purpose::STANDARD.encode(crt);
                let conf = format!(
                    "apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n    client-certificate-data: {b64}\n    client-key-data: AAAA\n"
                );
                std::fs::write(n.sys(&format!("etc/kubernetes/{c}")), conf).unwrap();
            }
            Place::KubeletClient => {
                let f = n.sys("var/lib/kubelet/pki/kubelet-client-current.pem");
                std::fs::create_dir_all(f.parent().unwrap()).unwrap();
                std::fs::write(f, cert(&tmp, "system:node:cp-1", days, false)).unwrap();
                // kubelet.conf points at that file, as kubeadm writes it.
                std::fs::write(
                    n.sys("etc/kubernetes/kubelet.conf"),
                    "users:\n- name: default-auth\n  user:\n    client-certificate: /var/lib/kubelet/pki/kubelet-client-current.pem\n",
                )
                .unwrap();
            }
            Place::Secret(secret, key, _) => {
                let f = n.p(&format!("secrets/{secret}/{key}"));
                std::fs::create_dir_all(f.parent().unwrap()).unwrap();
                let pem = cert(&tmp, key, days, key != "tls.crt");
                std::fs::write(f, pem.split("-----BEGIN PRIVATE KEY").next().unwrap()).unwrap();
            }
        }
    }
}

fn problems(o: &Output) -> Vec<String> {
    text(&o.stderr)
        .lines()
        .filter(|l| l.starts_with("EXPIRING") || l.starts_with("UNREADABLE"))
        .map(str::to_string)
        .collect()
}

#[test]
fn cert_expiry_reports_exactly_the_expiring_certificate_and_its_renewal() {
    let n = Node::new();
    let long = |p: &Place| match p {
        Place::Pki(_, true) | Place::Secret(_, "root-cert.pem", _) => 3650,
        _ => 365,
    };
    for p in PLACES {
        p.write(&n, long(p));
    }
    let script = std::fs::read_to_string(n.p("bundle/ops/cert-expiry.sh")).unwrap();
    assert!(
        script.contains("INGRESS_SECRET=istio-ingress/ingress-tls"),
        "the ingress certificate is read from the gateway's namespace"
    );
    let o = n.run("10.0.0.11", &["ops/cert-expiry.sh"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "all fine:\n{}\n{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    assert!(problems(&o).is_empty());
    let out = text(&o.stdout);
    for p in PLACES {
        assert!(
            out.contains(&format!("ok: {}", p.expect().0)),
            "{} checked:\n{out}",
            p.expect().0
        );
    }

    for p in PLACES {
        p.write(&n, 10);
        let o = n.run("10.0.0.11", &["ops/cert-expiry.sh"]);
        let (what, renewal) = p.expect();
        let found = problems(&o);
        assert_eq!(
            found.len(),
            1,
            "{what}: exactly one problem, got {found:#?}\n{}",
            text(&o.stderr)
        );
        assert!(
            found[0].starts_with("EXPIRING within 30 days: ") && found[0].contains(&what),
            "{what}: {found:#?}"
        );
        let err = text(&o.stderr);
        let line = err
            .lines()
            .skip_while(|l| !l.starts_with("EXPIRING"))
            .nth(1)
            .unwrap_or_default();
        assert!(
            line.contains("renew: ") && line.contains(renewal),
            "{what} names `{renewal}`: {line}"
        );
        assert_eq!(o.status.code(), Some(1), "{what}");
        p.write(&n, long(p));
    }
}

#[test]
fn cert_expiry_counts_an_unreadable_certificate() {
    let n = Node::new();
    for p in PLACES {
        p.write(&n, 3650);
    }
    std::fs::remove_file(n.p("secrets/cacerts/ca-cert.pem")).unwrap();
    let o = n.run("10.0.0.11", &["ops/cert-expiry.sh"]);
    assert_eq!(o.status.code(), Some(1));
    let found = problems(&o);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(found[0].contains("UNREADABLE: Istio intermediate CA"), "{found:#?}");
}

#[test]
fn readme_states_how_long_kubeadm_certificates_last_for_the_kubeadm_version() {
    // v1beta4 (Kubernetes 1.31 and later): the spec's leaf validity, which kubeadm is given.
    let mut site = example("production");
    site.spec.pki.leaf_validity_days = 200;
    let tree = render(&site, &Inputs::default()).unwrap();
    let readme = String::from_utf8(tree.get("README.md").unwrap().bytes.clone()).unwrap();
    let row = readme
        .lines()
        .find(|l| l.starts_with("| kubeadm's certificates"))
        .expect("a row for kubeadm's certificates");
    assert!(
        row.contains("200 days") && row.contains("ops/renew-kubeadm-certs.sh") && row.contains("every 170 days"),
        "{row}"
    );
    let kubeadm = String::from_utf8(tree.get("nodes/cp-1/kubeadm.yaml").unwrap().bytes.clone()).unwrap();
    assert!(
        kubeadm.contains("certificateValidityPeriod: 4800h0m0s"),
        "kubeadm is given the same validity"
    );
    assert!(
        readme.contains("| `ops/renew-kubeadm-certs.sh` |"),
        "in the operations table"
    );

    // v1beta3 (Kubernetes 1.29): kubeadm's own year, whatever the spec says.
    site.spec.kubernetes.version = "1.29.15".into();
    site.spec.istio.version = "1.28.10".into();
    site.spec.containerd.version = "1.7.27".into();
    let tree = render(&site, &Inputs::default()).unwrap();
    let readme = String::from_utf8(tree.get("README.md").unwrap().bytes.clone()).unwrap();
    let row = readme
        .lines()
        .find(|l| l.starts_with("| kubeadm's certificates"))
        .unwrap();
    assert!(
        row.contains("365 days (kubeadm's default") && row.contains("every 335 days"),
        "{row}"
    );
}

#[test]
fn cert_expiry_on_a_worker_checks_the_kubelet_and_leaves_the_cluster_to_the_control_plane() {
    let n = Node::new();
    Place::KubeletClient.write(&n, 365);
    let o = n.run("10.0.0.21", &["ops/cert-expiry.sh"]);
    assert_eq!(o.status.code(), Some(0), "{}\n{}", text(&o.stdout), text(&o.stderr));
    let out = text(&o.stdout);
    assert!(
        out.contains("ok: /var/lib/kubelet/pki/kubelet-client-current.pem"),
        "{out}"
    );
    assert!(out.contains("check them on a control-plane node"), "{out}");
    assert!(
        !n.calls().iter().any(|c| c.starts_with("kubectl")),
        "no kubectl without a kubeconfig"
    );
    Place::KubeletClient.write(&n, 10);
    let o = n.run("10.0.0.21", &["ops/cert-expiry.sh"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(problems(&o).len(), 1, "{}", text(&o.stderr));
}
