//! Load balancing for the gateways (`spec.loadBalancer`), by what the output
//! means: MetalLB's pool holds exactly the spec's addresses and its
//! L2Advertisement announces that pool; the ingress gateway's Service asks
//! MetalLB for an address of the pool; kube-proxy in IPVS mode answers no ARP
//! for it; MetalLB is applied and ready, and its pool accepted, before Istio
//! creates the gateways (install.sh run against recording stubs of kubectl
//! and istioctl); `ops/verify.sh` fails while a gateway is `<pending>`, on an
//! address outside the pool or other than the one asked for, and on node
//! ports other than the stated ones, and passes otherwise; and a `build` of
//! the production example carries MetalLB's images and manifest.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use meshbundle_core::render::{Inputs, render};
use meshbundle_core::spec::{LoadBalancer, LoadBalancerProvider, ProxyMode, ServiceType, Site};
use meshbundle_core::tree::FileTree;
use serde_json::Value;

fn tree(site: &Site) -> FileTree {
    render(site, &Inputs::default()).unwrap()
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

fn docs(text: &str) -> Vec<Value> {
    text.split("\n---\n")
        .skip(1)
        .map(|d| meshbundle_core::yaml::from_str::<Value>(d).unwrap())
        .collect()
}

fn kind<'a>(docs: &'a [Value], k: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == k).collect()
}

fn ip(s: &str) -> u32 {
    u32::from(s.parse::<std::net::Ipv4Addr>().unwrap())
}

/// Whether MetalLB's pool entries (CIDR or range, as the IPAddressPool holds them) contain `a`.
fn pool_contains(entries: &[String], a: &str) -> bool {
    let a = ip(a);
    entries.iter().any(|e| match e.split_once('-') {
        Some((f, l)) => ip(f) <= a && a <= ip(l),
        None => {
            let (net, len) = e.split_once('/').unwrap();
            let len: u32 = len.parse().unwrap();
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            a & mask == ip(net)
        }
    })
}

fn metallb_site(addresses: &[&str], fixed: Option<&str>) -> Site {
    let mut site = example("production");
    site.spec.load_balancer = Some(LoadBalancer {
        provider: LoadBalancerProvider::Metallb,
        addresses: addresses.iter().map(|s| s.to_string()).collect(),
    });
    site.spec.istio.ingress_gateway.service.load_balancer_ip = fixed.map(str::to_string);
    site
}

/// The ingress gateway's Service as the IstioOperator asks istioctl for it.
fn ingress_service(tree: &FileTree) -> (Value, Value) {
    let iop = docs(&file(tree, "manifests/istio/istio-operator.yaml"));
    let gw = iop[0]["spec"]["components"]["ingressGateways"].as_array().unwrap()[0].clone();
    (gw["k8s"]["service"].clone(), gw["k8s"]["serviceAnnotations"].clone())
}

#[test]
fn the_pool_is_exactly_the_specs_addresses_and_is_announced_in_l2() {
    for (addresses, fixed) in [
        (vec!["10.0.0.100-10.0.0.109"], Some("10.0.0.100")),
        (vec!["10.0.0.120/29", "10.0.0.200-10.0.0.201"], Some("10.0.0.201")),
    ] {
        let t = tree(&metallb_site(&addresses, fixed));
        let d = docs(&file(&t, "manifests/metallb/address-pool.yaml"));
        assert_eq!(d.len(), 2, "one pool, one advertisement");
        let pools = kind(&d, "IPAddressPool");
        let ads = kind(&d, "L2Advertisement");
        assert_eq!((pools.len(), ads.len(), kind(&d, "BGPAdvertisement").len()), (1, 1, 0));
        let pool = pools[0];
        assert_eq!(pool["apiVersion"], "metallb.io/v1beta1");
        assert_eq!(pool["metadata"]["namespace"], "metallb-system");
        let entries: Vec<String> = pool["spec"]["addresses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        assert_eq!(entries, addresses, "exactly the spec's ranges, in order");
        assert_ne!(pool["spec"]["autoAssign"], false);
        // The advertisement announces this pool and no other, from every node.
        let ad = ads[0];
        assert_eq!(ad["metadata"]["namespace"], "metallb-system");
        assert_eq!(
            ad["spec"]["ipAddressPools"],
            serde_json::json!([pool["metadata"]["name"]])
        );
        assert!(ad["spec"].get("nodeSelectors").is_none() && ad["spec"].get("ipAddressPoolSelectors").is_none());

        // The gateway asks MetalLB for its address, and it is in the pool.
        let (svc, annotations) = ingress_service(&t);
        assert_eq!(svc["type"], "LoadBalancer");
        let asked = annotations["metallb.io/loadBalancerIPs"]
            .as_str()
            .expect("MetalLB's address annotation");
        assert_eq!(Some(asked), fixed);
        assert!(pool_contains(&entries, asked), "{asked} in {entries:?}");
        assert!(
            svc.get("loadBalancerIP").is_none(),
            "the deprecated field is not used with MetalLB: {svc}"
        );
    }
}

#[test]
fn metallbs_manifest_is_upstreams_with_the_site_images() {
    let site = metallb_site(&["10.0.0.100-10.0.0.109"], None);
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
    let used: Vec<String> = needs
        .images
        .iter()
        .filter(|i| i.used_by.contains("metallb"))
        .map(|i| i.upstream.tagged())
        .collect();
    assert_eq!(
        used,
        ["quay.io/metallb/controller:v0.16.1", "quay.io/metallb/speaker:v0.16.1"]
    );
    assert!(needs.files.iter().any(|f| f.name == "manifest/metallb"));
    let t = render(
        &site,
        &Inputs {
            lock: Some(&lock),
            ..Default::default()
        },
    )
    .unwrap();
    let d = docs(&file(&t, "manifests/metallb/metallb-native.yaml"));
    let mut containers = Vec::new();
    for w in d
        .iter()
        .filter(|d| d["kind"] == "Deployment" || d["kind"] == "DaemonSet")
    {
        for c in w["spec"]["template"]["spec"]["containers"].as_array().unwrap() {
            containers.push((w["kind"].as_str().unwrap().to_string(), c.clone()));
        }
    }
    assert_eq!(containers.len(), 2, "the controller and the speaker");
    for (k, c) in &containers {
        let image = c["image"].as_str().unwrap();
        assert!(
            image.starts_with("10.0.0.5:5000/metallb/") && image.contains("@sha256:"),
            "{k}: {image}"
        );
        let r = meshbundle_core::image::ImageRef::parse(image).unwrap();
        let pinned = lock
            .images
            .iter()
            .find(|i| i.name.to_string().ends_with(&format!("{}:v0.16.1", r.repository)))
            .unwrap();
        assert_eq!(
            r.digest.as_ref().unwrap().to_string(),
            pinned.digest.as_str().to_string(),
            "{k}"
        );
        assert_eq!(c["imagePullPolicy"], "IfNotPresent", "{k}");
    }
    // The speaker keeps kubeadm's exclusion of control-plane nodes when there are workers.
    let speaker = &containers.iter().find(|(k, _)| k == "DaemonSet").unwrap().1;
    assert!(
        !speaker["args"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "--ignore-exclude-lb")
    );
    // The controller makes the memberlist Secret the speakers mount.
    let controller = &containers.iter().find(|(k, _)| k == "Deployment").unwrap().1;
    assert!(
        controller["env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "METALLB_ML_SECRET_NAME" && e["value"] == "memberlist")
    );

    // A site without workers runs its gateways on control-plane nodes, which
    // kubeadm labels exclude-from-external-load-balancers: the speaker must announce there.
    let mut one = site.clone();
    one.spec
        .nodes
        .retain(|n| n.role == meshbundle_core::spec::Role::ControlPlane);
    let d = docs(&file(&tree(&one), "manifests/metallb/metallb-native.yaml"));
    let ds = kind(&d, "DaemonSet")[0];
    assert!(
        ds["spec"]["template"]["spec"]["containers"][0]["args"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "--ignore-exclude-lb")
    );
}

#[test]
fn without_metallb_nothing_of_it_is_rendered_or_carried() {
    // The lab: NodePort, no spec.loadBalancer.
    let lab = example("lab");
    let t = tree(&lab);
    assert!(!t.paths().any(|p| p.starts_with("manifests/metallb/")));
    assert!(!file(&t, "install.sh").contains("metallb"));
    let needs = meshbundle_core::catalog::needs(&lab).unwrap();
    assert!(!needs.images.iter().any(|i| i.upstream.repository.contains("metallb")));
    assert!(!needs.files.iter().any(|f| f.name.contains("metallb")));
    // An existing implementation: the address asked for goes in the Service's own field.
    let mut site = example("production");
    site.spec.load_balancer = Some(LoadBalancer {
        provider: LoadBalancerProvider::Existing,
        addresses: vec![],
    });
    let t = tree(&site);
    assert!(!t.paths().any(|p| p.starts_with("manifests/metallb/")));
    let (svc, annotations) = ingress_service(&t);
    assert_eq!(svc["loadBalancerIP"], "10.0.0.100");
    assert!(annotations.get("metallb.io/loadBalancerIPs").is_none());
    assert!(
        meshbundle_core::catalog::needs(&site)
            .unwrap()
            .images
            .iter()
            .all(|i| !i.upstream.repository.contains("metallb"))
    );
}

/// The KubeProxyConfiguration of the first control-plane node's kubeadm configuration.
fn kube_proxy(site: &Site) -> Value {
    let t = tree(site);
    let d = docs(&file(&t, "nodes/cp-1/kubeadm.yaml"));
    kind(&d, "KubeProxyConfiguration")[0].clone()
}

#[test]
fn ipvs_answers_no_arp_for_metallbs_addresses() {
    let mut site = metallb_site(&["10.0.0.100-10.0.0.109"], Some("10.0.0.100"));
    site.spec.kubernetes.proxy_mode = ProxyMode::Ipvs;
    let kp = kube_proxy(&site);
    assert_eq!(kp["mode"], "ipvs");
    assert_eq!(kp["ipvs"]["strictARP"], true);
    // iptables and nftables answer no ARP for Service addresses: nothing to set.
    for mode in [ProxyMode::Iptables, ProxyMode::Nftables] {
        site.spec.kubernetes.proxy_mode = mode;
        assert!(kube_proxy(&site).get("ipvs").is_none());
    }
    // IPVS without MetalLB: kube-proxy's own default stays.
    let mut existing = site.clone();
    existing.spec.kubernetes.proxy_mode = ProxyMode::Ipvs;
    existing.spec.load_balancer = Some(LoadBalancer {
        provider: LoadBalancerProvider::Existing,
        addresses: vec![],
    });
    assert!(kube_proxy(&existing).get("ipvs").is_none());
}

// ---- the scripts, against recording stubs ----

const STUB: &str = r#"#!/bin/sh
name=$(basename "$0")
echo "$name $*" >>"$MB_LOG"
# Answers a test sets: lines `GLOB|EXIT|OUTPUT`; the first whose glob matches the call wins.
if [ -f "$MB_LOG.answers" ]; then
  while IFS='|' read -r pattern code out; do
    # shellcheck disable=SC2254
    case "$name $*" in $pattern) if [ "$code" = 0 ]; then printf '%s' "$out"; else echo "$out" >&2; fi; exit "$code" ;; esac
  done <"$MB_LOG.answers"
fi
exit 0
"#;

struct Scripts {
    _dir: tempfile::TempDir,
    bundle: PathBuf,
    sysroot: PathBuf,
    stubs: PathBuf,
    log: PathBuf,
}

impl Scripts {
    fn new(site: &Site) -> Scripts {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("bundle");
        let sysroot = dir.path().join("root");
        let stubs = dir.path().join("stubs");
        std::fs::create_dir_all(&sysroot).unwrap();
        std::fs::create_dir_all(&stubs).unwrap();
        for s in ["kubectl", "istioctl"] {
            let p = stubs.join(s);
            std::fs::write(&p, cluster::with_healthy_cluster(STUB, site)).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let t = render(
            site,
            &Inputs {
                secrets: Some(&secrets(site)),
                ..Default::default()
            },
        )
        .unwrap();
        write_tree(&t, &bundle);
        let s = Scripts {
            log: dir.path().join("calls.log"),
            _dir: dir,
            bundle,
            sysroot,
            stubs,
        };
        // A healthy mesh, so that only what a test changes can fail.
        s.answer("kubectl * get peerauthentication default *", 0, "STRICT");
        s
    }

    fn answer(&self, glob: &str, code: i32, output: &str) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(format!("{}.answers", self.log.display()))
            .unwrap();
        writeln!(f, "{glob}|{code}|{output}").unwrap();
    }

    fn run(&self, args: &[&str]) -> Output {
        let _ = std::fs::remove_file(&self.log);
        Command::new("bash")
            .args(args)
            .current_dir(&self.bundle)
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", self.stubs.display()))
            .env("HOME", &self.sysroot)
            .env("MESHBUNDLE_SYSROOT", &self.sysroot)
            .env("MB_LOG", &self.log)
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

fn position(calls: &[String], prefix: &str) -> usize {
    calls
        .iter()
        .position(|c| c.starts_with(prefix))
        .unwrap_or_else(|| panic!("no call {prefix}: {calls:#?}"))
}

const INGRESS_ADDRESS: &str = "kubectl -n istio-ingress get service istio-ingressgateway -o jsonpath=*loadBalancer*";
const INGRESS_PORTS: &str = "kubectl -n istio-ingress get service istio-ingressgateway -o jsonpath=*nodePort*";

#[test]
fn metallb_is_ready_and_its_pool_accepted_before_istio_creates_the_gateways() {
    let s = Scripts::new(&example("production"));
    s.answer(INGRESS_ADDRESS, 0, "10.0.0.100 ");
    let o = s.run(&["install.sh", "cluster"]);
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    let calls = s.calls();
    let b = s.bundle.display().to_string();
    let apply = |f: &str| format!("kubectl apply --server-side --force-conflicts -f {b}/{f}");
    let order = [
        "kubectl wait --for=condition=Ready nodes --all".to_string(),
        apply("manifests/metallb/metallb-native.yaml"),
        "kubectl -n metallb-system rollout status deployment/controller".into(),
        "kubectl -n metallb-system rollout status daemonset/speaker".into(),
        apply("manifests/metallb/address-pool.yaml"),
        format!("istioctl install -y -f {b}/manifests/istio/istio-operator.yaml"),
        "kubectl -n istio-ingress get service istio-ingressgateway -o jsonpath=".into(),
    ];
    let at: Vec<usize> = order.iter().map(|c| position(&calls, c)).collect();
    assert!(
        at.windows(2).all(|w| w[0] < w[1]),
        "out of order: {order:#?}\nin {calls:#?}"
    );

    // The webhook refusing the pool at first (no certificate yet): the step
    // tries again rather than going on to Istio without a pool.
    let s = Scripts::new(&example("production"));
    s.answer(INGRESS_ADDRESS, 0, "10.0.0.100 ");
    std::fs::write(s.stubs.join("sleep"), "#!/bin/sh\necho \"sleep $*\" >>\"$MB_LOG\"\n").unwrap();
    std::fs::set_permissions(s.stubs.join("sleep"), std::fs::Permissions::from_mode(0o755)).unwrap();
    // Refused once: a counter file makes the second apply succeed.
    let pool_apply = "kubectl apply --server-side --force-conflicts -f */manifests/metallb/address-pool.yaml";
    let flag = s.log.with_extension("refused");
    let kubectl = format!(
        "#!/bin/sh\ncase \"$*\" in *metallb/address-pool.yaml) if [ ! -f {f} ]; then : >{f}; echo \"kubectl $*\" >>\"$MB_LOG\"; echo 'failed calling webhook' >&2; exit 1; fi ;; esac\nexec {real} \"$@\"\n",
        f = flag.display(),
        real = s.stubs.with_file_name("real").join("kubectl").display()
    );
    // The recording stub moves aside, under its own name (it records by it).
    std::fs::create_dir_all(s.stubs.with_file_name("real")).unwrap();
    std::fs::rename(s.stubs.join("kubectl"), s.stubs.with_file_name("real").join("kubectl")).unwrap();
    std::fs::write(s.stubs.join("kubectl"), kubectl).unwrap();
    std::fs::set_permissions(s.stubs.join("kubectl"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let o = s.run(&["install.sh", "cluster"]);
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    let calls = s.calls();
    let tries: Vec<usize> = calls
        .iter()
        .enumerate()
        .filter(|(_, c)| glob_like(c, pool_apply))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(tries.len(), 2, "{calls:#?}");
    let sleep = position(&calls, "sleep 10");
    let istio = position(&calls, "istioctl install");
    assert!(tries[0] < sleep && sleep < tries[1] && tries[1] < istio, "{calls:#?}");
}

/// `*` in `pattern` matches anything (the calls' bundle path differs per run).
fn glob_like(s: &str, pattern: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = s;
    for (i, p) in parts.iter().enumerate() {
        match rest.find(p) {
            Some(at) if i > 0 || at == 0 => rest = &rest[at + p.len()..],
            _ => return false,
        }
    }
    true
}

fn fails(o: &Output) -> String {
    assert!(
        !o.status.success(),
        "verify.sh passed:\n{}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stderr)
}

fn passes(o: &Output) -> String {
    assert!(
        o.status.success(),
        "verify.sh failed:\n{}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stdout)
}

#[test]
fn verify_checks_the_gateways_address_against_the_pool_and_the_address_asked_for() {
    // Production: MetalLB with 10.0.0.100-10.0.0.109, the ingress asks for 10.0.0.100.
    // No address yet (kubectl prints nothing for an empty ingress list).
    let s = Scripts::new(&example("production"));
    s.answer(INGRESS_ADDRESS, 0, " ");
    let err = fails(&s.run(&["ops/verify.sh"]));
    assert!(
        err.contains("FAIL: gateway service istio-ingress/istio-ingressgateway has no external address (<pending>)"),
        "{err}"
    );
    assert_eq!(err.matches("FAIL:").count(), 1, "{err}");

    let answered = |address: &str| {
        let s = Scripts::new(&example("production"));
        s.answer(INGRESS_ADDRESS, 0, address);
        s.run(&["ops/verify.sh"])
    };
    let out = passes(&answered("10.0.0.100 "));
    assert!(out.contains("istio-ingress/istio-ingressgateway: 10.0.0.100"), "{out}");
    let err = fails(&answered("10.0.0.101 "));
    assert!(err.contains("has the address 10.0.0.101, not 10.0.0.100"), "{err}");
    // kubectl's own placeholder, should a column ever be read.
    fails(&answered("<pending>"));

    // No address asked for: any address of the pool passes, one outside fails.
    let site = metallb_site(&["10.0.0.100-10.0.0.103", "10.0.0.112/30"], None);
    let with = |address: &str| {
        let s = Scripts::new(&site);
        s.answer(INGRESS_ADDRESS, 0, address);
        s.run(&["ops/verify.sh"])
    };
    passes(&with("10.0.0.103 "));
    passes(&with("10.0.0.114 "));
    for outside in ["10.0.0.104 ", "10.0.0.99 ", "10.0.0.116 ", "192.168.1.1 "] {
        let err = fails(&with(outside));
        assert!(err.contains("outside MetalLB's pool"), "{outside}: {err}");
    }

    // An existing implementation: any address it gives passes, none fails.
    let mut site = example("production");
    site.spec.load_balancer = Some(LoadBalancer {
        provider: LoadBalancerProvider::Existing,
        addresses: vec![],
    });
    site.spec.istio.ingress_gateway.service.load_balancer_ip = None;
    let s = Scripts::new(&site);
    s.answer(INGRESS_ADDRESS, 0, " ");
    let err = fails(&s.run(&["ops/verify.sh"]));
    assert!(err.contains("spec.loadBalancer.provider: existing"), "{err}");
    let s = Scripts::new(&site);
    s.answer(INGRESS_ADDRESS, 0, "172.16.5.5 ");
    passes(&s.run(&["ops/verify.sh"]));
}

#[test]
fn verify_checks_the_stated_node_ports() {
    let lab = example("lab");
    assert_eq!(lab.spec.istio.ingress_gateway.service.kind, ServiceType::NodePort);
    let with = |ports: &str| {
        let s = Scripts::new(&lab);
        s.answer(INGRESS_PORTS, 0, ports);
        s.run(&["ops/verify.sh"])
    };
    let out = passes(&with("status-port=31577 http2=30080 https=30443 "));
    assert!(out.contains("port https on node port 30443"), "{out}");
    let err = fails(&with("status-port=31577 http2=30080 https=31443 "));
    assert!(err.contains("port https is not on node port 30443"), "{err}");
    assert!(!err.contains("port http2 is not"), "{err}");
    let err = fails(&with(""));
    assert_eq!(
        err.matches("FAIL: gateway service istio-ingress/istio-ingressgateway: port")
            .count(),
        2,
        "{err}"
    );
    // A NodePort gateway has no external address to wait for.
    let s = Scripts::new(&lab);
    s.answer(INGRESS_PORTS, 0, "http2=30080 https=30443 ");
    s.run(&["ops/verify.sh"]);
    assert!(
        !s.calls().iter().any(|c| c.contains("loadBalancer.ingress")),
        "{:#?}",
        s.calls()
    );
}

#[test]
fn the_readme_says_where_dns_points() {
    let t = tree(&example("production"));
    let readme = file(&t, "README.md");
    let section = readme
        .split("## Load balancing")
        .nth(1)
        .unwrap()
        .split("\n## ")
        .next()
        .unwrap();
    assert!(
        section.contains("MetalLB 0.16.1 in L2 mode") && section.contains("`10.0.0.100-10.0.0.109`"),
        "{section}"
    );
    assert!(
        section.contains("Point DNS for the ingress host(s) `shop.example.internal` at **10.0.0.100**"),
        "{section}"
    );
    let t = tree(&example("lab"));
    let readme = file(&t, "README.md");
    let section = readme
        .split("## Load balancing")
        .nth(1)
        .unwrap()
        .split("\n## ")
        .next()
        .unwrap();
    assert!(
        section.contains("`demo.lab.internal` at the site's own load balancer"),
        "{section}"
    );
    assert!(
        section.contains("TCP 80 to node port 30080") && section.contains("TCP 443 to node port 30443"),
        "{section}"
    );
}

/// The production example, locked against a local registry and file server
/// that serve exactly what it needs, built into a bundle: MetalLB's images
/// and manifest are in it, and the rendered tree inside names them by the
/// digests the lock pinned.
#[test]
fn a_build_of_the_production_example_carries_metallb() {
    let site = example("production");
    let up = site::serve(&site);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::copy(repo().join("core/examples/production.yaml"), d.join("site.yaml")).unwrap();
    let o = meshbundle(d, &["secrets", "generate", "site.yaml", "-o", "site.secrets.yaml"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let with_net = |args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(up.flags.iter().map(String::as_str));
        meshbundle(d, &all)
    };
    let o = with_net(&["lock", "site.yaml", "--quiet", "--cache", "cache"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = with_net(&[
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
        "--no-private-keys",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let lock = meshbundle_core::lock::parse(&std::fs::read_to_string(d.join("meshbundle.lock")).unwrap()).unwrap();
    let o = meshbundle(d, &["inspect", "site.mbundle", "--format", "json"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let seal = text(&o.stdout);
    for name in ["quay.io/metallb/controller:v0.16.1", "quay.io/metallb/speaker:v0.16.1"] {
        let pinned = lock
            .image(&name.parse().unwrap())
            .unwrap_or_else(|| panic!("{name} is not locked"));
        assert!(
            seal.contains(pinned.digest.as_str()),
            "{name} ({}) is not carried",
            pinned.digest.as_str()
        );
    }
    assert_eq!(
        lock.file("manifest/metallb").unwrap().sha256.hex(),
        "bf25feebb7582ca7df845efd52ffbc2960d6cbf4cfc972f47fded9f788b67f0b"
    );
    // The rendered tree in the bundle: MetalLB's manifest names the carried images by digest.
    let out = d.join("out");
    let o = meshbundle(d, &["import", "site.mbundle", "--extract", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let manifest = std::fs::read_to_string(find(&out, "manifests/metallb/metallb-native.yaml")).unwrap();
    for name in ["controller", "speaker"] {
        let pinned = lock
            .image(&format!("quay.io/metallb/{name}:v0.16.1").parse().unwrap())
            .unwrap();
        assert!(
            manifest.contains(&format!(
                "image: 10.0.0.5:5000/metallb/{name}:v0.16.1@{}",
                pinned.digest.as_str()
            )),
            "{name}"
        );
    }
}

fn find(root: &Path, rel: &str) -> PathBuf {
    walk(root)
        .into_iter()
        .find(|p| p.ends_with(rel))
        .unwrap_or_else(|| panic!("{rel} is not in the extracted bundle"))
}

#[test]
fn a_stated_readiness_port_is_the_one_rendered_checked_and_probed() {
    let mut lab = example("lab");
    lab.spec
        .istio
        .ingress_gateway
        .service
        .ports
        .push(meshbundle_core::spec::ServicePort {
            name: "status-port".into(),
            port: 15021,
            target_port: 15021,
            node_port: Some(31021),
        });
    let t = tree(&lab);
    let (svc, _) = ingress_service(&t);
    let status: Vec<&Value> = svc["ports"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["port"] == 15021)
        .collect();
    assert_eq!(status.len(), 1, "one readiness port: {svc}");
    assert_eq!(
        (&status[0]["name"], &status[0]["targetPort"], &status[0]["nodePort"]),
        (&"status-port".into(), &15021.into(), &31021.into())
    );
    let readme = file(&t, "README.md");
    assert!(readme.contains("HTTP `/healthz/ready` on node port 31021"), "{readme}");
    let s = Scripts::new(&lab);
    s.answer(INGRESS_PORTS, 0, "status-port=31577 http2=30080 https=30443 ");
    let err = fails(&s.run(&["ops/verify.sh"]));
    assert!(err.contains("port status-port is not on node port 31021"), "{err}");
    let s = Scripts::new(&lab);
    s.answer(INGRESS_PORTS, 0, "status-port=31021 http2=30080 https=30443 ");
    passes(&s.run(&["ops/verify.sh"]));
}

#[test]
fn verify_checks_metallb_itself_not_only_the_address_it_gave() {
    // An address already given stays on the Service when the speakers are down:
    // verify must look at MetalLB's controller, speakers and pool as well.
    for (call, said) in [
        (
            "kubectl -n metallb-system rollout status deployment/controller*",
            "MetalLB's controller is not ready",
        ),
        (
            "kubectl -n metallb-system rollout status daemonset/speaker*",
            "MetalLB's speaker is not ready on every node",
        ),
        (
            "kubectl -n metallb-system get ipaddresspool gateways*",
            "MetalLB's address pool gateways is missing",
        ),
    ] {
        let s = Scripts::new(&example("production"));
        s.answer(call, 1, "error: timed out waiting for the condition");
        let err = fails(&s.run(&["ops/verify.sh"]));
        assert!(err.contains(said), "{call}: {err}");
        assert_eq!(err.matches("FAIL:").count(), 1, "{call}: {err}");
    }
    // With an existing implementation there is no MetalLB to check.
    let mut site = example("production");
    site.spec.load_balancer = Some(LoadBalancer {
        provider: LoadBalancerProvider::Existing,
        addresses: vec![],
    });
    site.spec.istio.ingress_gateway.service.load_balancer_ip = None;
    let s = Scripts::new(&site);
    s.answer(INGRESS_ADDRESS, 0, "172.16.5.5 ");
    s.answer("kubectl -n metallb-system *", 1, "not found");
    passes(&s.run(&["ops/verify.sh"]));
}
