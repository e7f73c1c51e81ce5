//! The generated PKI, checked with openssl: chains verify, extensions are the
//! ones consumers need, keys match their certificates, the discovery hash is
//! kubeadm's, and the gateway certificate is valid for each host.

use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;

use meshbundle_core::pki::secrets::{GenerateOptions, ProvidedTls, check_provided_tls};
use meshbundle_core::pki::{self, cert, files};
use meshbundle_core::spec::{KeyType, Site};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn site(key_type: KeyType) -> Site {
    let mut s = meshbundle_core::spec::load::load(meshbundle_core::examples::example("production").unwrap())
        .site
        .unwrap();
    s.spec.pki.key_type = key_type;
    s.spec.istio.ingress_gateway.hosts = vec!["shop.example.internal".into(), "*.apps.example.internal".into()];
    s.spec.istio.ingress_gateway.routes.clear();
    s
}

fn openssl(args: &[&str], dir: &Path) -> String {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        o.status.success(),
        "openssl {args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn sh(script: &str, dir: &Path) -> String {
    let o = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{script}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn check_with_openssl(key_type: KeyType, seed: u64) {
    let site = site(key_type);
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let s = pki::generate(
        &site,
        &GenerateOptions {
            now: now(),
            mesh_root: None,
            provided_tls: None,
        },
        &mut rng,
    )
    .unwrap();
    assert!(s.check(&site, now()).is_empty(), "{:#?}", s.check(&site, now()));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // kubeadm PKI layout.
    std::fs::create_dir_all(d.join("pki/etcd")).unwrap();
    for (path, content, _) in files::kubeadm_pki(&s) {
        std::fs::write(d.join("pki").join(path), content).unwrap();
    }
    for ca in ["pki/ca", "pki/front-proxy-ca", "pki/etcd/ca"] {
        let text = openssl(&["x509", "-noout", "-text", "-in", &format!("{ca}.crt")], d);
        assert!(text.contains("CA:TRUE"), "{ca}: {text}");
        assert!(text.contains("Certificate Sign"), "{ca}: {text}");
        let a = sh(&format!("openssl x509 -noout -pubkey -in {ca}.crt"), d);
        let b = sh(&format!("openssl pkey -pubout -in {ca}.key"), d);
        assert_eq!(a, b, "{ca}: the key matches the certificate");
        openssl(&["verify", "-CAfile", &format!("{ca}.crt"), &format!("{ca}.crt")], d);
    }
    let a = sh("openssl pkey -pubout -in pki/sa.key", d);
    assert_eq!(a, std::fs::read_to_string(d.join("pki/sa.pub")).unwrap());

    // The discovery hash is kubeadm's.
    let want = sh(
        "openssl x509 -pubkey -in pki/ca.crt | openssl pkey -pubin -outform der | openssl dgst -sha256 -r",
        d,
    );
    let want = format!("sha256:{}", want.split_whitespace().next().unwrap());
    assert_eq!(s.discovery_hash().unwrap(), want);
    let t = &s.kubeadm.token;
    assert!(
        t.len() == 23
            && &t[6..7] == "."
            && t.chars()
                .all(|c| c == '.' || c.is_ascii_lowercase() || c.is_ascii_digit())
    );
    assert_eq!(s.kubeadm.certificate_key.len(), 64);

    // Istio plug-in CA: the four files of the cacerts Secret meshbundle
    // writes, as istiod reads them.
    let i = s.intermediate(&site.istio_cluster_name()).unwrap();
    let secret = files::cacerts_secret(&site, &s).unwrap();
    assert_eq!(secret["metadata"]["name"], "cacerts");
    assert_eq!(secret["metadata"]["namespace"], "istio-system");
    let keys: Vec<&str> = secret["data"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem"]);
    for k in keys {
        let b64 = secret["data"][k].as_str().unwrap();
        let bytes = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
        std::fs::write(d.join(k), bytes).unwrap();
    }
    // They are the secrets file's root and this cluster's intermediate:
    // the same certificates (fingerprints) and the intermediate's own key.
    let fingerprint = |f: &str| openssl(&["x509", "-noout", "-fingerprint", "-sha256", "-in", f], d);
    let pem_fingerprint = |pem: &str, f: &str| {
        std::fs::write(d.join(f), pem).unwrap();
        fingerprint(f)
    };
    assert_eq!(
        fingerprint("root-cert.pem"),
        pem_fingerprint(&s.istio.root.cert, "want-root.pem")
    );
    assert_eq!(fingerprint("ca-cert.pem"), pem_fingerprint(&i.cert, "want-ca.pem"));
    assert_ne!(fingerprint("root-cert.pem"), fingerprint("ca-cert.pem"));
    assert_eq!(
        sh("openssl x509 -noout -pubkey -in ca-cert.pem", d),
        sh("openssl pkey -pubout -in ca-key.pem", d),
        "ca-key.pem is the key of ca-cert.pem"
    );
    // The root is a self-signed CA; the intermediate a CA the root signed,
    // which may sign no further CA (pathlen 0).
    openssl(&["verify", "-CAfile", "root-cert.pem", "root-cert.pem"], d);
    let out = openssl(&["verify", "-CAfile", "root-cert.pem", "ca-cert.pem"], d);
    assert!(out.contains("ca-cert.pem: OK"), "{out}");
    let text = openssl(&["x509", "-noout", "-text", "-in", "ca-cert.pem"], d);
    assert!(text.contains("CA:TRUE, pathlen:0"), "{text}");
    assert!(text.contains("Certificate Sign"), "{text}");
    // Both valid now and for a month yet, the intermediate no longer than its root.
    for f in ["root-cert.pem", "ca-cert.pem"] {
        openssl(
            &["x509", "-noout", "-checkend", &(30 * 86_400).to_string(), "-in", f],
            d,
        );
    }
    let not_after = |f: &str| cert::not_after(&cert::from_pem(&std::fs::read_to_string(d.join(f)).unwrap()).unwrap());
    assert!(not_after("ca-cert.pem") <= not_after("root-cert.pem"));

    // The chain file: the intermediate first, then each certificate's
    // issuer, ending at the root, as openssl reads it.
    let chain_text = std::fs::read_to_string(d.join("cert-chain.pem")).unwrap();
    let blocks: Vec<String> = chain_text
        .split_inclusive("-----END CERTIFICATE-----\n")
        .map(str::to_string)
        .collect();
    assert_eq!(blocks.concat(), chain_text, "the chain is PEM certificates only");
    assert_eq!(blocks.len(), 2, "intermediate and root");
    let listed = sh(
        "openssl crl2pkcs7 -nocrl -certfile cert-chain.pem | openssl pkcs7 -print_certs -noout",
        d,
    );
    let subjects: Vec<&str> = listed.lines().filter_map(|l| l.strip_prefix("subject=")).collect();
    let issuers: Vec<&str> = listed.lines().filter_map(|l| l.strip_prefix("issuer=")).collect();
    let subject_of = |f: &str| openssl(&["x509", "-noout", "-subject", "-in", f], d);
    assert_eq!(
        subjects,
        [
            subject_of("ca-cert.pem").trim().trim_start_matches("subject="),
            subject_of("root-cert.pem").trim().trim_start_matches("subject=")
        ],
        "cert-chain.pem is the intermediate, then the root:\n{listed}"
    );
    assert_eq!(issuers[0], subjects[1], "{listed}");
    assert_eq!(issuers[1], subjects[1], "{listed}");
    for (n, b) in blocks.iter().enumerate() {
        std::fs::write(d.join(format!("chain-{n}.pem")), b).unwrap();
    }
    assert_eq!(fingerprint("chain-0.pem"), fingerprint("ca-cert.pem"));
    assert_eq!(fingerprint("chain-1.pem"), fingerprint("root-cert.pem"));
    // Each certificate of the file is signed by the next one.
    for n in 0..blocks.len() - 1 {
        let issuer = format!("chain-{}.pem", n + 1);
        let cert = format!("chain-{n}.pem");
        openssl(&["verify", "-partial_chain", "-CAfile", &issuer, &cert], d);
    }
    // The file as istiod's verifier takes it: its first certificate checks
    // out against the root with the rest of the file as the chain.
    let out = openssl(
        &[
            "verify",
            "-CAfile",
            "root-cert.pem",
            "-untrusted",
            "cert-chain.pem",
            "-show_chain",
            "cert-chain.pem",
        ],
        d,
    );
    assert!(out.starts_with("cert-chain.pem: OK"), "{out}");
    assert!(
        out.lines()
            .any(|l| l == format!("depth=0: {} (untrusted)", subjects[0])),
        "the file starts at the intermediate: {out}"
    );

    // Ingress certificate: valid for each host, against its CA.
    let ingress = s.ingress.as_ref().unwrap();
    let ca = ingress.ca.as_ref().unwrap();
    std::fs::write(d.join("ingress-ca.pem"), &ca.cert).unwrap();
    std::fs::write(d.join("ingress.pem"), &ingress.cert).unwrap();
    std::fs::write(d.join("ingress.key"), &ingress.key).unwrap();
    for host in ["shop.example.internal", "x.apps.example.internal"] {
        let out = openssl(
            &[
                "verify",
                "-CAfile",
                "ingress-ca.pem",
                "-verify_hostname",
                host,
                "-purpose",
                "sslserver",
                "ingress.pem",
            ],
            d,
        );
        assert!(out.contains("OK"), "{host}: {out}");
    }
    let bad = Command::new("openssl")
        .args([
            "verify",
            "-CAfile",
            "ingress-ca.pem",
            "-verify_hostname",
            "other.example.internal",
            "ingress.pem",
        ])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(!bad.status.success(), "a host not in the certificate is refused");
    assert_eq!(
        sh("openssl x509 -noout -pubkey -in ingress.pem", d),
        sh("openssl pkey -pubout -in ingress.key", d)
    );
}

#[test]
fn ecdsa_pki_checks_out_with_openssl() {
    check_with_openssl(KeyType::EcdsaP256, 1);
}

#[test]
fn rsa_pki_checks_out_with_openssl() {
    check_with_openssl(KeyType::Rsa2048, 2);
}

#[test]
fn rotation_keeps_roots_and_renews_the_rest() {
    let site = site(KeyType::EcdsaP256);
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let s = pki::generate(
        &site,
        &GenerateOptions {
            now: now(),
            mesh_root: None,
            provided_tls: None,
        },
        &mut rng,
    )
    .unwrap();
    let r = pki::rotate(&site, &s, now() + 86_400, &mut rng).unwrap();
    assert_eq!(r.istio.root, s.istio.root);
    assert_eq!(r.kubeadm.ca, s.kubeadm.ca);
    assert_eq!(r.kubeadm.token, s.kubeadm.token);
    let cluster = site.istio_cluster_name();
    assert_ne!(r.istio.intermediates[&cluster], s.istio.intermediates[&cluster]);
    assert_ne!(r.ingress.as_ref().unwrap().cert, s.ingress.as_ref().unwrap().cert);
    assert!(r.check(&site, now()).is_empty());
    let new_after = cert::not_after(&cert::from_pem(&r.istio.intermediates[&cluster].cert).unwrap());
    let old_after = cert::not_after(&cert::from_pem(&s.istio.intermediates[&cluster].cert).unwrap());
    assert!(new_after > old_after);
}

#[test]
fn mesh_root_is_shared_between_clusters() {
    let a = site(KeyType::EcdsaP256);
    let mut b = a.clone();
    b.metadata.name = "second".into();
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let sa = pki::generate(
        &a,
        &GenerateOptions {
            now: now(),
            mesh_root: None,
            provided_tls: None,
        },
        &mut rng,
    )
    .unwrap();
    let sb = pki::generate(
        &b,
        &GenerateOptions {
            now: now(),
            mesh_root: Some(&sa.istio.root),
            provided_tls: None,
        },
        &mut rng,
    )
    .unwrap();
    assert_eq!(sa.istio.root, sb.istio.root);
    assert_ne!(sa.kubeadm.ca, sb.kubeadm.ca);
}

#[test]
fn problems_are_reported() {
    let site = site(KeyType::EcdsaP256);
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let t = now();
    let s = pki::generate(
        &site,
        &GenerateOptions {
            now: t,
            mesh_root: None,
            provided_tls: None,
        },
        &mut rng,
    )
    .unwrap();

    // A key that belongs to another certificate.
    let mut swapped = s.clone();
    swapped.kubeadm.ca.key = s.kubeadm.etcd_ca.key.clone();
    let d = swapped.check(&site, t);
    assert!(
        d.iter()
            .any(|d| d.path == "kubeadm.ca.key" && d.message.contains("does not belong")),
        "{d:#?}"
    );

    // A damaged PEM.
    let mut damaged = s.clone();
    damaged.istio.root.cert = damaged.istio.root.cert.replace('A', "B").replacen("MII", "!!!", 1);
    let d = damaged.check(&site, t);
    assert!(d.iter().any(|d| d.path == "istio.root.cert"), "{d:#?}");

    // An expired CA: check ten years and a day later.
    let d = s.check(&site, t + 3651 * 86_400);
    assert!(
        d.iter()
            .any(|d| d.path == "kubeadm.ca.cert" && d.message.contains("expired")),
        "{d:#?}"
    );

    // Secrets of another site.
    let mut other = site.clone();
    other.metadata.name = "elsewhere".into();
    assert!(s.check(&other, t).iter().any(|d| d.path == "site"));

    // The file round-trips.
    let text = pki::write_secrets(&s).unwrap();
    assert_eq!(pki::parse_secrets(&text).unwrap(), s);
    assert!(pki::parse_secrets("kind: nope").is_err());
}

#[test]
fn provided_ingress_certificates_are_checked() {
    let site = site(KeyType::EcdsaP256);
    let mut rng = ChaCha20Rng::seed_from_u64(6);
    let t = now();
    let s = pki::generate(
        &site,
        &GenerateOptions {
            now: t,
            mesh_root: None,
            provided_tls: None,
        },
        &mut rng,
    )
    .unwrap();
    let i = s.ingress.as_ref().unwrap();
    let ok = check_provided_tls(
        &site,
        &ProvidedTls {
            cert_pem: &i.cert,
            key_pem: &i.key,
        },
        t,
    );
    assert!(ok.is_ok());
    let wrong_key = check_provided_tls(
        &site,
        &ProvidedTls {
            cert_pem: &i.cert,
            key_pem: &s.kubeadm.ca.key,
        },
        t,
    );
    assert!(wrong_key.unwrap_err().to_string().contains("does not belong"));
    let expired = check_provided_tls(
        &site,
        &ProvidedTls {
            cert_pem: &i.cert,
            key_pem: &i.key,
        },
        t + 400 * 86_400,
    );
    assert!(expired.unwrap_err().to_string().contains("expired"));
    let mut more = site.clone();
    more.spec.istio.ingress_gateway.hosts.push("api.other.internal".into());
    let missing = check_provided_tls(
        &more,
        &ProvidedTls {
            cert_pem: &i.cert,
            key_pem: &i.key,
        },
        t,
    );
    assert!(missing.unwrap_err().to_string().contains("api.other.internal"));
}
