//! Time (`spec.time`): what the validation refuses, what the rendered chrony
//! configurations mean (who serves time, who follows whom, in which order),
//! that a real chronyd accepts them (`chronyd -p` parses and prints a
//! configuration without running), and that each node's bootstrap installs
//! its configuration, restarts chrony and waits for the clock before kubeadm,
//! failing clearly when the clock never comes (stubs for systemctl, chronyc
//! and kubeadm; never a real chronyd, which would set this machine's clock).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use meshbundle_core::diag::{Code, Diagnostic, Severity};
use meshbundle_core::render::{Inputs, render};
use meshbundle_core::spec::{Node, Role, Site, Time};
use meshbundle_core::tree::FileTree;

fn with_time(time: Option<Time>) -> Site {
    let mut site = example("production");
    site.spec.time = time;
    site
}

fn servers(list: &[&str]) -> Time {
    Time {
        servers: list.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn source(name: &str, list: &[&str]) -> Time {
    Time {
        source_node: Some(name.into()),
        ..servers(list)
    }
}

fn errors(site: &Site) -> Vec<Diagnostic> {
    meshbundle_core::validate::check(site)
        .into_iter()
        .filter(|d| d.severity == Severity::Error)
        .collect()
}

fn error_at(site: &Site, path: &str) -> Diagnostic {
    let e = errors(site);
    let found = e
        .iter()
        .find(|d| d.path == path)
        .unwrap_or_else(|| panic!("no error at {path}: {e:#?}"));
    assert!(!found.hint.is_empty(), "{found:?}");
    assert_eq!(e.len(), 1, "one problem, one error: {e:#?}");
    found.clone()
}

fn tree(site: &Site) -> FileTree {
    render(site, &Inputs::default()).unwrap()
}

fn file(tree: &FileTree, path: &str) -> String {
    let f = tree
        .iter()
        .find(|(p, _)| *p == path)
        .unwrap_or_else(|| panic!("{path} is not rendered"));
    String::from_utf8(f.1.bytes.clone()).unwrap()
}

/// The directives of a chrony configuration, comments and blank lines left out.
fn directives(conf: &str) -> Vec<Vec<String>> {
    conf.lines()
        .map(|l| l.split('#').next().unwrap().trim())
        .filter(|l| !l.is_empty())
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

fn values<'a>(d: &'a [Vec<String>], name: &str) -> Vec<&'a [String]> {
    d.iter().filter(|l| l[0] == name).map(|l| &l[1..]).collect()
}

/// The servers a configuration follows, in order.
fn followed(d: &[Vec<String>]) -> Vec<String> {
    values(d, "server")
        .iter()
        .chain(values(d, "pool").iter())
        .map(|v| v[0].clone())
        .collect()
}

/// The configuration a node's bootstrap installs, and the mode it waits in,
/// read from the `mb_time_sync` line of its script.
fn node_time(tree: &FileTree, node: &str) -> Option<(String, String)> {
    let script = file(tree, &format!("nodes/{node}/bootstrap.sh"));
    let line = script.lines().find(|l| l.trim_start().starts_with("mb_time_sync "))?;
    let mut words = line.split_whitespace().skip(1);
    let path = words.next().unwrap().trim_start_matches("\"$ROOT\"/").to_string();
    let mode = words.next().unwrap().to_string();
    Some((file(tree, &path), mode))
}

fn allowed(d: &[Vec<String>], address: &str) -> bool {
    let a: std::net::Ipv4Addr = address.parse().unwrap();
    values(d, "allow").iter().any(|v| {
        let (net, len) = v[0].split_once('/').unwrap_or((&v[0], "32"));
        let (net, len): (std::net::Ipv4Addr, u32) = (net.parse().unwrap(), len.parse().unwrap());
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        u32::from(a) & mask == u32::from(net) & mask
    })
}

// ---------------------------------------------------------------- validation

#[test]
fn a_spec_without_a_time_source_is_refused_unless_waived() {
    let e = error_at(&with_time(None), "spec.time");
    assert!(
        e.hint.contains("servers") && e.hint.contains("sourceNode") && e.hint.contains("waived"),
        "{e:?}"
    );
    error_at(&with_time(Some(Time::default())), "spec.time");

    let waived = with_time(Some(Time {
        waived: true,
        ..Default::default()
    }));
    assert!(errors(&waived).is_empty());
    let all = meshbundle_core::validate::check(&waived);
    assert!(
        all.iter()
            .any(|d| d.severity == Severity::Warning && d.path == "spec.time.waived"),
        "{all:#?}"
    );

    error_at(
        &with_time(Some(Time {
            waived: true,
            ..servers(&["10.0.0.5"])
        })),
        "spec.time.waived",
    );

    // The examples choose a real source and validate.
    for name in ["production", "lab"] {
        let site = example(name);
        let time = site.spec.time.as_ref().unwrap();
        assert!(
            !time.waived && (time.source_node.is_some() || !time.servers.is_empty()),
            "{name}"
        );
        assert!(errors(&site).is_empty(), "{name}: {:#?}", errors(&site));
    }
}

#[test]
fn the_source_node_is_the_first_control_plane_node() {
    for (name, why) in [
        ("ntp", "not a node"),
        ("worker-1", "worker"),
        ("cp-2", "not the first control-plane node"),
    ] {
        let e = error_at(&with_time(Some(source(name, &[]))), "spec.time.sourceNode");
        assert!(e.message.contains(why), "{name}: {e:?}");
        assert!(e.hint.contains("`cp-1`"), "{name}: {e:?}");
    }
    assert!(errors(&with_time(Some(source("cp-1", &[])))).is_empty());
    assert!(errors(&with_time(Some(source("cp-1", &["10.0.0.5", "ntp.example.internal"])))).is_empty());
}

#[test]
fn every_server_is_an_address_or_a_host_name_listed_once() {
    for good in ["10.0.0.5", "fd00::5", "ntp1.example.internal", "ntp"] {
        assert!(errors(&with_time(Some(servers(&[good])))).is_empty(), "{good}");
    }
    for bad in [
        "",
        "10.0.0.5 iburst",
        "10.0.0.5\nallow 0.0.0.0/0",
        "'ntp'",
        "\"ntp\"",
        "ntp;reboot",
        "10.0.0",
        "10.0.0.256",
        "10.0.0.5:123",
        "NTP.example.internal ",
        "-ntp",
        "ntp..example",
        "http://ntp.example.internal",
    ] {
        let e = error_at(&with_time(Some(servers(&["10.0.0.4", bad]))), "spec.time.servers[1]");
        assert_eq!(e.code, Code::Time, "{bad:?}: {e:?}");
    }
    let e = error_at(
        &with_time(Some(servers(&["10.0.0.5", "10.0.0.6", "10.0.0.5"]))),
        "spec.time.servers[2]",
    );
    assert_eq!(e.code, Code::Duplicate);
    // A bad server never reaches a configuration.
    assert!(
        render(
            &with_time(Some(servers(&["10.0.0.5\nallow 0.0.0.0/0"]))),
            &Inputs::default()
        )
        .is_err()
    );
}

#[test]
fn the_spec_text_is_checked_with_its_field_paths() {
    let text = meshbundle_core::examples::example("production")
        .unwrap()
        .replace("    sourceNode: cp-1\n", "    sourceNod: cp-1\n");
    let l = meshbundle_core::spec::load::load(&text);
    assert!(
        l.diagnostics
            .iter()
            .any(|d| d.path == "spec.time.sourceNod" && d.severity == Severity::Error),
        "{:#?}",
        l.diagnostics
    );
}

// --------------------------------------------------------- what it renders

#[test]
fn the_source_node_serves_the_node_network_and_every_other_node_follows_it_alone() {
    for list in [vec![], vec!["10.0.0.5", "ntp2.example.internal"]] {
        let site = with_time(Some(source("cp-1", &list)));
        let t = tree(&site);
        let (conf, mode) = node_time(&t, "cp-1").unwrap();
        let d = directives(&conf);
        assert_eq!(followed(&d), list, "the source follows the listed servers, in order");
        assert_eq!(
            values(&d, "local"),
            vec![&["stratum".to_string(), "10".to_string()][..]]
        );
        assert_eq!(
            mode,
            if list.is_empty() { "local" } else { "sync" },
            "it waits for the servers only when it has some"
        );
        for n in &site.spec.nodes {
            if n.name == "cp-1" {
                continue;
            }
            assert!(allowed(&d, &n.address), "cp-1 does not serve {}: {conf}", n.name);
            let (conf, mode) = node_time(&t, &n.name).unwrap();
            let d = directives(&conf);
            assert_eq!(
                followed(&d),
                vec!["10.0.0.11".to_string()],
                "{} follows cp-1 alone",
                n.name
            );
            assert!(
                values(&d, "allow").is_empty() && values(&d, "local").is_empty(),
                "{} serves no one: {conf}",
                n.name
            );
            assert_eq!(mode, "sync");
        }
    }
}

#[test]
fn without_a_node_network_the_source_node_serves_exactly_the_other_nodes() {
    let mut site = with_time(Some(source("cp-1", &[])));
    site.spec.kubernetes.node_subnet = None;
    site.spec.nodes.push(Node {
        name: "worker-4".into(),
        address: "10.1.7.9".into(),
        role: Role::Worker,
        zone: "zone-a".into(),
        labels: Default::default(),
    });
    let t = tree(&site);
    let d = directives(&node_time(&t, "cp-1").unwrap().0);
    for n in &site.spec.nodes {
        assert_eq!(allowed(&d, &n.address), n.name != "cp-1", "{}", n.name);
    }
    assert!(!allowed(&d, "10.0.0.99"), "no one else: {d:?}");
}

#[test]
fn with_servers_only_every_node_follows_them_in_order() {
    let list = ["ntp1.example.internal", "10.0.0.6", "fd00::7"];
    let site = with_time(Some(servers(&list)));
    let t = tree(&site);
    for n in &site.spec.nodes {
        let (conf, mode) = node_time(&t, &n.name).unwrap();
        let d = directives(&conf);
        assert_eq!(followed(&d), list.to_vec(), "{}", n.name);
        assert!(
            values(&d, "allow").is_empty() && values(&d, "local").is_empty(),
            "{}: {conf}",
            n.name
        );
        assert_eq!(mode, "sync");
    }
    assert!(
        !t.iter()
            .any(|(p, _)| p.starts_with("nodes/") && p.contains("/etc/chrony/"))
    );
}

#[test]
fn a_waived_site_gets_no_time_setup() {
    let site = with_time(Some(Time {
        waived: true,
        ..Default::default()
    }));
    let t = tree(&site);
    assert!(
        !t.iter()
            .any(|(p, _)| p.contains("chrony") || p.ends_with("check-time.sh"))
    );
    for n in &site.spec.nodes {
        let script = file(&t, &format!("nodes/{}/bootstrap.sh", n.name));
        assert!(
            !script.contains("mb_time_sync \"") && !script.contains("chronyd"),
            "{}",
            n.name
        );
        assert!(script.contains("waived in spec.time"));
    }
    assert!(file(&t, "README.md").contains("## Time\n\nTime sync is waived"));
}

#[test]
fn chronyd_accepts_every_rendered_configuration() {
    let mut sites = vec![
        with_time(Some(source("cp-1", &[]))),
        with_time(Some(source("cp-1", &["10.0.0.5", "ntp2.example.internal", "fd00::5"]))),
        with_time(Some(servers(&["ntp1.example.internal", "10.0.0.6"]))),
        example("lab"),
    ];
    let mut no_subnet = with_time(Some(source("cp-1", &[])));
    no_subnet.spec.kubernetes.node_subnet = None;
    sites.push(no_subnet);
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for site in &sites {
        let t = tree(site);
        for (path, f) in t.iter().filter(|(p, _)| p.ends_with("/etc/chrony/meshbundle.conf")) {
            let conf = dir.path().join("chrony.conf");
            std::fs::write(&conf, &f.bytes).unwrap();
            // -p: print the configuration as parsed and exit; -f: this file.
            let o = Command::new("chronyd")
                .arg("-p")
                .arg("-f")
                .arg(&conf)
                .output()
                .expect("chronyd (Debian's chrony) is installed");
            assert!(
                o.status.success(),
                "{path}: chronyd refuses it: {}{}",
                text(&o.stderr),
                text(&o.stdout)
            );
            // What chronyd read is what the file says.
            let parsed = directives(&text(&o.stdout));
            assert_eq!(
                parsed,
                directives(&String::from_utf8(f.bytes.clone()).unwrap()),
                "{path}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 8, "{checked}");
    // And chronyd does refuse a broken one, so the check means something.
    std::fs::write(dir.path().join("bad.conf"), "server 10.0.0.5 iburst bogus\n").unwrap();
    let o = Command::new("chronyd")
        .arg("-p")
        .arg("-f")
        .arg(dir.path().join("bad.conf"))
        .output()
        .unwrap();
    assert!(!o.status.success());
}

#[test]
fn the_readme_and_verify_say_how_node_clocks_are_checked() {
    let t = tree(&example("production"));
    let readme = file(&t, "README.md");
    let time = &readme[readme.find("## Time\n").expect("a Time section")..];
    let time = &time[..time[1..].find("\n## ").map(|i| i + 1).unwrap_or(time.len())];
    for needle in [
        "**cp-1** (10.0.0.11)",
        "chrony",
        "systemd-timesyncd",
        "common/check-time.sh",
        "MESHBUNDLE_TIME_SYNC_TIMEOUT",
        "UDP",
    ] {
        assert!(time.contains(needle), "{needle} missing from {time}");
    }
    let verify = file(&t, "ops/verify.sh");
    assert!(
        verify.contains("== node clocks") && verify.contains("run common/check-time.sh on every node"),
        "{verify}"
    );
}

// ------------------------------------------------------------ the bootstrap

const STUBS: &[&str] = &[
    "kubeadm",
    "kubectl",
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

/// Records every call; chronyc answers as MB_TRACKING says and waitsync
/// exits with MB_WAITSYNC (0 by default).
const STUB: &str = r#"#!/bin/sh
name=$(basename "$0")
echo "$name $*" >>"$MB_LOG"
case "$name $1 $2" in
  "ip -o -4") echo "2: eth0    inet $MB_ADDRESS/24 brd 10.0.0.255 scope global eth0" ;;
  "uname -m "*) echo x86_64 ;;
  "crictl inspecti "*) exit 1 ;;
  "chronyc -n -c") echo "$MB_TRACKING" ;;
  "chronyc waitsync "*) exit "${MB_WAITSYNC:-0}" ;;
  "kubeadm init "*) mkdir -p "$MESHBUNDLE_SYSROOT/etc/kubernetes" && echo admin >"$MESHBUNDLE_SYSROOT/etc/kubernetes/admin.conf" ;;
  "kubeadm join "*) mkdir -p "$MESHBUNDLE_SYSROOT/etc/kubernetes" && echo kubelet >"$MESHBUNDLE_SYSROOT/etc/kubernetes/kubelet.conf" ;;
esac
exit 0
"#;

const SYNCED_TO_CP1: &str = "0A00000B,10.0.0.11,11,1764547200.000000000,-0.000012000,0.000001000,0.000010000,-1.234,0.001,0.010,0.000200000,0.000100000,64.0,Normal";
const LOCAL_CLOCK: &str = "7F7F0101,127.127.1.1,10,1764547200.000000000,0.000000000,0.000000000,0.000000000,0.000,0.000,0.000,0.000000000,0.000000000,0.0,Normal";

struct Node1 {
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

impl Node1 {
    /// The rendered install of `site` (no lock, no secrets: the time step
    /// does not depend on them) with the carried files, and a scratch root
    /// where the OS's chrony keeps its configuration at `os_conf`.
    fn new(site: &Site, os_conf: &str) -> Node1 {
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
            ("cni-plugins-amd64", tarball(dir.path(), "cni", &["bridge"])),
            ("crictl-amd64", tarball(dir.path(), "crictl", &["crictl"])),
            ("istioctl-amd64", tarball(dir.path(), "istioctl", &["istioctl"])),
        ] {
            std::fs::write(files.join(name), bytes).unwrap();
        }
        for name in ["runc-amd64", "kubeadm-amd64", "kubelet-amd64", "kubectl-amd64"] {
            std::fs::write(files.join(name), "#!/bin/sh\n").unwrap();
        }
        let os = sysroot.join(os_conf.trim_start_matches('/'));
        std::fs::create_dir_all(os.parent().unwrap()).unwrap();
        std::fs::write(&os, "pool 2.debian.pool.ntp.org iburst\n").unwrap();
        std::fs::create_dir_all(&stubs).unwrap();
        for s in STUBS {
            std::fs::write(stubs.join(s), STUB).unwrap();
            std::fs::set_permissions(stubs.join(s), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let log = dir.path().join("calls.log");
        Node1 {
            _dir: dir,
            bundle,
            sysroot,
            stubs,
            log,
        }
    }

    fn bootstrap(&self, node: &str, address: &str, env: &[(&str, &str)]) -> Output {
        let mut c = Command::new("bash");
        c.arg(format!("nodes/{node}/bootstrap.sh"))
            .current_dir(&self.bundle)
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", self.stubs.display()))
            .env("MESHBUNDLE_SYSROOT", &self.sysroot)
            .env("MB_LOG", &self.log)
            .env("MB_ADDRESS", address);
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

    fn sys(&self, p: &str) -> String {
        std::fs::read_to_string(self.sysroot.join(p.trim_start_matches('/'))).unwrap_or_else(|e| panic!("{p}: {e}"))
    }
}

fn position(calls: &[String], prefix: &str) -> usize {
    calls
        .iter()
        .position(|c| c.starts_with(prefix))
        .unwrap_or_else(|| panic!("no call {prefix}: {calls:#?}"))
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

#[test]
fn a_following_node_installs_chrony_restarts_it_and_waits_for_the_clock_before_kubeadm() {
    let site = example("production");
    let n = Node1::new(&site, "/etc/chrony/chrony.conf");
    let o = n.bootstrap("worker-1", "10.0.0.21", &[("MB_TRACKING", SYNCED_TO_CP1)]);
    ok(&o);
    // chrony's own configuration is the rendered one; the OS's is kept.
    assert_eq!(
        n.sys("/etc/chrony/chrony.conf"),
        std::fs::read_to_string(n.bundle.join("common/etc/chrony/meshbundle.conf")).unwrap()
    );
    assert_eq!(
        n.sys("/etc/chrony/chrony.conf.meshbundle-orig"),
        "pool 2.debian.pool.ntp.org iburst\n"
    );
    let calls = n.calls();
    let restart = position(&calls, "systemctl restart chrony");
    let wait = position(&calls, "chronyc waitsync 600 0.1 0 1");
    let check = position(&calls, "chronyc -n -c tracking");
    let join = position(&calls, "kubeadm join");
    assert!(position(&calls, "systemctl enable chrony") < restart, "{calls:#?}");
    assert!(restart < wait && wait < check && check < join, "{calls:#?}");
    assert!(position(&calls, "systemctl disable --now systemd-timesyncd") < restart);
    assert!(
        text(&o.stderr).contains("synchronise with cp-1 (10.0.0.11)"),
        "{}",
        text(&o.stderr)
    );
    assert!(
        text(&o.stdout).contains("OK: this node's clock follows 10.0.0.11"),
        "{}",
        text(&o.stdout)
    );
}

#[test]
fn the_source_node_serves_its_own_clock_without_waiting_and_before_kubeadm_init() {
    let site = example("production");
    let n = Node1::new(&site, "/etc/chrony.conf");
    let o = n.bootstrap("cp-1", "10.0.0.11", &[("MB_TRACKING", LOCAL_CLOCK)]);
    ok(&o);
    // A RHEL-like OS keeps chrony's configuration at /etc/chrony.conf.
    assert_eq!(
        n.sys("/etc/chrony.conf"),
        std::fs::read_to_string(n.bundle.join("nodes/cp-1/etc/chrony/meshbundle.conf")).unwrap()
    );
    let calls = n.calls();
    assert!(
        !calls.iter().any(|c| c.starts_with("chronyc waitsync")),
        "nothing to wait for: {calls:#?}"
    );
    assert!(position(&calls, "systemctl restart chrony") < position(&calls, "kubeadm init"));
    assert!(
        text(&o.stdout).contains("OK: this node (cp-1) is the site's time source"),
        "{}",
        text(&o.stdout)
    );
}

#[test]
fn the_bootstrap_stops_before_kubeadm_when_the_clock_never_synchronises() {
    let site = example("production");
    let n = Node1::new(&site, "/etc/chrony/chrony.conf");
    let o = n.bootstrap(
        "cp-2",
        "10.0.0.12",
        &[
            ("MB_TRACKING", SYNCED_TO_CP1),
            ("MB_WAITSYNC", "1"),
            ("MESHBUNDLE_TIME_SYNC_TIMEOUT", "3"),
        ],
    );
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(
        err.contains("the clock did not synchronise with cp-1 (10.0.0.11) within 3s"),
        "{err}"
    );
    let calls = n.calls();
    assert!(
        calls.contains(&"chronyc waitsync 3 0.1 0 1".to_string()),
        "the wait is bounded by the timeout: {calls:#?}"
    );
    assert!(!calls.iter().any(|c| c.starts_with("kubeadm")), "{calls:#?}");

    // A bad timeout is refused rather than waiting forever.
    let o = n.bootstrap(
        "cp-2",
        "10.0.0.12",
        &[("MB_TRACKING", SYNCED_TO_CP1), ("MESHBUNDLE_TIME_SYNC_TIMEOUT", "0")],
    );
    assert!(!o.status.success() && text(&o.stderr).contains("MESHBUNDLE_TIME_SYNC_TIMEOUT"));
}

#[test]
fn check_time_refuses_a_clock_that_is_off_unsynchronised_or_on_its_own() {
    let site = example("production");
    let n = Node1::new(&site, "/etc/chrony/chrony.conf");
    let check = |address: &str, tracking: &str, max: Option<&str>| {
        let mut c = Command::new("bash");
        c.arg("common/check-time.sh")
            .current_dir(&n.bundle)
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", n.stubs.display()))
            .env("MB_LOG", &n.log)
            .env("MB_ADDRESS", address)
            .env("MB_TRACKING", tracking);
        if let Some(m) = max {
            c.env("MAX_OFFSET", m);
        }
        c.output().unwrap()
    };
    ok(&check("10.0.0.21", SYNCED_TO_CP1, None));
    let off = SYNCED_TO_CP1.replace("-0.000012000", "-0.250000000");
    let o = check("10.0.0.21", &off, None);
    assert!(
        !o.status.success() && text(&o.stderr).contains("-0.250000000 s off 10.0.0.11"),
        "{}",
        text(&o.stderr)
    );
    ok(&check("10.0.0.21", &off, Some("0.5")));
    let unsynced = SYNCED_TO_CP1.replace(",Normal", ",Not synchronised");
    assert!(!check("10.0.0.21", &unsynced, None).status.success());
    // Only the source node may run on its own clock.
    let o = check("10.0.0.21", LOCAL_CLOCK, None);
    assert!(
        !o.status.success() && text(&o.stderr).contains("instead of following cp-1 (10.0.0.11)"),
        "{}",
        text(&o.stderr)
    );
    ok(&check("10.0.0.11", LOCAL_CLOCK, None));
    assert_eq!(
        check("10.0.0.21", SYNCED_TO_CP1, Some("1; reboot")).status.code(),
        Some(2)
    );

    // A source node that should follow the site's servers fails when it is on its own clock.
    let n = Node1::new(
        &with_time(Some(source("cp-1", &["10.0.0.5"]))),
        "/etc/chrony/chrony.conf",
    );
    let run = |address: &str, tracking: &str| {
        Command::new("bash")
            .arg("common/check-time.sh")
            .current_dir(&n.bundle)
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", n.stubs.display()))
            .env("MB_LOG", &n.log)
            .env("MB_ADDRESS", address)
            .env("MB_TRACKING", tracking)
            .output()
            .unwrap()
    };
    let o = run("10.0.0.11", LOCAL_CLOCK);
    assert!(
        !o.status.success() && text(&o.stderr).contains("instead of following 10.0.0.5"),
        "{}",
        text(&o.stderr)
    );
    ok(&run(
        "10.0.0.11",
        &SYNCED_TO_CP1.replace("0A00000B,10.0.0.11", "0A000005,10.0.0.5"),
    ));
    let o = run("10.0.0.22", LOCAL_CLOCK);
    assert!(
        !o.status.success() && text(&o.stderr).contains("instead of following cp-1 (10.0.0.11)"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn with_servers_the_bootstrap_waits_for_them() {
    let site = with_time(Some(servers(&["10.0.0.5", "ntp2.example.internal"])));
    let n = Node1::new(&site, "/etc/chrony/chrony.conf");
    let tracking = SYNCED_TO_CP1.replace("0A00000B,10.0.0.11", "0A000005,10.0.0.5");
    for (node, address) in [("cp-1", "10.0.0.11"), ("worker-3", "10.0.0.23")] {
        let o = n.bootstrap(node, address, &[("MB_TRACKING", &tracking)]);
        ok(&o);
        assert!(
            text(&o.stderr).contains("synchronise with 10.0.0.5, ntp2.example.internal"),
            "{}",
            text(&o.stderr)
        );
    }
    let calls = n.calls();
    assert!(position(&calls, "chronyc waitsync") < position(&calls, "kubeadm init"));
    // A node on its own clock is not what these nodes should be.
    let o = n.bootstrap("worker-2", "10.0.0.22", &[("MB_TRACKING", LOCAL_CLOCK)]);
    assert!(!o.status.success());
}

#[test]
fn the_bootstrap_requires_chrony_from_the_os() {
    let t = tree(&example("production"));
    for n in ["cp-1", "worker-1"] {
        let script = file(&t, &format!("nodes/{n}/bootstrap.sh"));
        let tools = script.lines().find(|l| l.starts_with("OS_TOOLS=(")).unwrap();
        assert!(tools.contains(" chronyd ") && tools.contains(" chronyc"), "{tools}");
    }
}
