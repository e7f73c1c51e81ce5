//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod cluster;
pub mod forge;
pub mod registry;
pub mod site;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use meshbundle_core::pki::{self, SiteSecrets, secrets::GenerateOptions};
use meshbundle_core::spec::{Node, Role, Site};
use meshbundle_core::tree::FileTree;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_meshbundle")
}

pub fn meshbundle(dir: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run meshbundle")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

pub fn example(name: &str) -> Site {
    meshbundle_core::spec::load::load(meshbundle_core::examples::example(name).unwrap())
        .site
        .unwrap()
}

pub fn secrets(site: &Site) -> SiteSecrets {
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    pki::generate(
        site,
        &GenerateOptions {
            now: now(),
            mesh_root: None,
            provided_tls: None,
        },
        &mut rng,
    )
    .unwrap()
}

/// Writes a tree to a directory with its modes.
pub fn write_tree(tree: &FileTree, dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for (path, f) in tree.iter() {
        let dest = dir.join(path);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::write(&dest, &f.bytes).unwrap();
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(f.mode)).unwrap();
    }
}

fn node(name: &str, address: &str, role: Role, zone: &str) -> Node {
    Node {
        name: name.into(),
        address: address.into(),
        role,
        zone: zone.into(),
        labels: Default::default(),
    }
}

/// A named set of sites covering the version matrix and the shapes of site.
pub fn matrix() -> Vec<(&'static str, Site)> {
    let prod = example("production");
    let mut out = vec![("lab", example("lab")), ("production", prod.clone())];

    let mut large = prod.clone();
    large.metadata.name = "large".into();
    large.spec.nodes.clear();
    let zones = ["zone-a", "zone-b", "zone-c"];
    for i in 0..5 {
        large.spec.nodes.push(node(
            &format!("cp-{}", i + 1),
            &format!("10.0.0.{}", 11 + i),
            Role::ControlPlane,
            zones[i % 3],
        ));
    }
    for i in 0..20 {
        large.spec.nodes.push(node(
            &format!("worker-{}", i + 1),
            &format!("10.0.0.{}", 101 + i),
            Role::Worker,
            zones[i % 3],
        ));
    }
    large.spec.kubernetes.proxy_mode = meshbundle_core::spec::ProxyMode::Ipvs;
    // Workers take 10.0.0.101-120: MetalLB's pool keeps the ingress address and moves the rest above them.
    large.spec.load_balancer.as_mut().unwrap().addresses = vec!["10.0.0.100/32".into(), "10.0.0.224/28".into()];
    large.spec.istio.egress_gateway.hosts =
        vec!["ldap.corp.example.internal".into(), "db.corp.example.internal".into()];
    large.spec.istio.namespaces = vec!["payments".into()];
    large
        .spec
        .istio
        .ingress_gateway
        .hosts
        .push("*.apps.example.internal".into());
    large
        .spec
        .istio
        .ingress_gateway
        .routes
        .push(meshbundle_core::spec::Route {
            host: "api.apps.example.internal".into(),
            path_prefix: "/v1".into(),
            service: "api".into(),
            namespace: "payments".into(),
            port: 8443,
        });
    large.spec.security.jwt = meshbundle_core::spec::Jwt {
        issuers: vec![meshbundle_core::spec::JwtIssuer {
            issuer: "https://idp.example.internal".into(),
            audiences: vec!["shop".into()],
            jwks: Some(std::fs::read_to_string(repo().join("tests/fixtures/jwks.json")).unwrap()),
            jwks_uri: None,
            forward_original_token: true,
        }],
        required: true,
    };
    large
        .spec
        .security
        .authorization
        .allow
        .push(meshbundle_core::spec::AllowRule {
            name: "web-to-api".into(),
            namespace: "payments".into(),
            selector: [("app".to_string(), "api".to_string())].into_iter().collect(),
            from_namespaces: vec![],
            from_service_accounts: vec!["shop/web".into()],
            ports: vec![8443],
            methods: vec!["GET".into(), "POST".into()],
            paths: vec!["/v1/*".into()],
        });
    large.spec.observability.prometheus_operator = true;
    large.spec.containerd.registry_ca =
        Some(pki::cert::to_pem(&pki::cert::from_pem(&secrets(&prod).kubeadm.ca.cert).unwrap()).unwrap());
    out.push(("large-5cp-20w", large));

    let mut old = prod.clone();
    old.metadata.name = "k129-istio128".into();
    old.spec.kubernetes.version = "1.29.15".into();
    old.spec.istio.version = "1.28.10".into();
    old.spec.containerd.version = "1.7.27".into();
    out.push(("k8s-1.29-istio-1.28-containerd-1.7", old));

    let mut mid = prod.clone();
    mid.metadata.name = "k131".into();
    mid.spec.kubernetes.version = "1.31.4".into();
    mid.spec.istio.version = "1.29.6".into();
    mid.spec.containerd.version = "1.7.27".into();
    mid.spec.kubernetes.proxy_mode = meshbundle_core::spec::ProxyMode::Nftables;
    mid.spec.load_balancer = Some(meshbundle_core::spec::LoadBalancer {
        provider: meshbundle_core::spec::LoadBalancerProvider::Existing,
        addresses: vec![],
    });
    out.push(("k8s-1.31-istio-1.29-containerd-1.7", mid));

    let mut mixed = prod.clone();
    mixed.metadata.name = "k133-istio128".into();
    mixed.spec.kubernetes.version = "1.33.13".into();
    mixed.spec.istio.version = "1.28.10".into();
    mixed.spec.pki.key_type = meshbundle_core::spec::KeyType::Rsa2048;
    out.push(("k8s-1.33-istio-1.28-containerd-2.x", mixed));
    out
}

/// Every file under `dir`, depth first.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
