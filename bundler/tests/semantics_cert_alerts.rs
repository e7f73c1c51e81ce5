//! The certificate alerts on what no Kubernetes or Istio metric measures, judged
//! by meaning with the real programs:
//!
//! - the rendered blackbox exporter configuration, run by the real exporter
//!   (Debian's `prometheus-blackbox-exporter`) against `openssl s_server` on
//!   127.0.0.1 serving certificates of the site's own PKI, reports the
//!   `notAfter` of the certificate the site serves for each ingress host (the
//!   probe's SNI picks it) and of an API server certificate from the site's
//!   Kubernetes CA, and refuses one from another CA;
//! - the rendered scrape jobs, run by a real Prometheus (Debian's), label each
//!   measurement with its host or node (only the addresses are moved to
//!   127.0.0.1);
//! - `promtool test rules`: each new alert fires below its threshold, at the
//!   right severity, stays quiet above it and on 24-hour workload
//!   certificates, and a failed probe alerts;
//! - the exporter's image is in what the site needs (so `lock` and `build`
//!   carry it) exactly when the addon Prometheus that scrapes it is on.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::registry::free_port;
use common::*;
use meshbundle_core::catalog::needs;
use meshbundle_core::pki::SiteSecrets;
use meshbundle_core::render::{Inputs, render};
use meshbundle_core::spec::{Role, Site};
use meshbundle_core::tree::FileTree;
use serde_json::Value;

const EXPORTER: &str = "manifests/observability/blackbox-exporter.yaml";
const PROMETHEUS: &str = "manifests/observability/prometheus.yaml";
const WILDCARD: &str = "*.apps.example.internal";

/// The production example with a wildcard ingress host as well.
fn site() -> Site {
    let mut s = example("production");
    s.spec.istio.ingress_gateway.hosts.push(WILDCARD.into());
    s
}

fn docs(tree: &FileTree, path: &str) -> Vec<Value> {
    let f = tree.get(path).unwrap_or_else(|| panic!("{path} is not in the tree"));
    serde_saphyr::from_multiple(&String::from_utf8(f.bytes.clone()).unwrap()).unwrap()
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

/// The exporter's configuration, as rendered.
fn exporter_config(tree: &FileTree) -> Value {
    let d = docs(tree, EXPORTER);
    serde_saphyr::from_str(
        find(&d, "ConfigMap", "blackbox-exporter")["data"]["blackbox.yml"]
            .as_str()
            .unwrap(),
    )
    .unwrap()
}

/// The addon Prometheus's configuration, as rendered.
fn prometheus_config(tree: &FileTree) -> Value {
    let d = docs(tree, PROMETHEUS);
    serde_saphyr::from_str(
        find(&d, "ConfigMap", "prometheus")["data"]["prometheus.yml"]
            .as_str()
            .unwrap(),
    )
    .unwrap()
}

fn alert_rules(tree: &FileTree) -> Value {
    let d = docs(tree, PROMETHEUS);
    serde_saphyr::from_str(
        find(&d, "ConfigMap", "prometheus")["data"]["alerting_rules.yml"]
            .as_str()
            .unwrap(),
    )
    .unwrap()
}

fn job<'a>(config: &'a Value, name: &str) -> &'a Value {
    config["scrape_configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job_name"] == name)
        .unwrap_or_else(|| panic!("no job {name}"))
}

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(cmd: &mut Command, what: &str) -> Proc {
    Proc(
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{what}: {e}")),
    )
}

fn run(cmd: &mut Command) -> Output {
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{cmd:?}: {}{}", text(&o.stdout), text(&o.stderr));
    o
}

fn openssl(dir: &Path, args: &[&str]) -> Output {
    run(Command::new("openssl").args(args).current_dir(dir))
}

/// A certificate's notAfter, Unix seconds, as openssl reads it.
fn not_after(dir: &Path, cert: &str) -> i64 {
    let end = text(&openssl(dir, &["x509", "-in", cert, "-noout", "-enddate"]).stdout);
    let date = end.trim().strip_prefix("notAfter=").unwrap().to_string();
    text(&run(Command::new("date").args(["-u", "-d", &date, "+%s"])).stdout)
        .trim()
        .parse()
        .unwrap()
}

/// GET a URL; None until the server answers 2xx.
fn get(url: &str) -> Option<String> {
    let o = Command::new("curl")
        .args(["-sf", "--max-time", "10", url])
        .output()
        .unwrap();
    o.status.success().then(|| text(&o.stdout))
}

/// Waits for a server to answer (it is starting); no assertion depends on time.
fn wait_up(url: &str, what: &str) {
    for _ in 0..200 {
        if get(url).is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what} did not start ({url})");
}

/// A sample of an unlabelled metric in the exposition format.
fn sample(body: &str, name: &str) -> Option<f64> {
    body.lines().find_map(|l| {
        l.strip_prefix(name)
            .and_then(|r| r.strip_prefix(' '))
            .map(|v| v.trim().parse().unwrap())
    })
}

/// The site's PKI written out, and certificates issued from it.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new(dir: &Path, s: &SiteSecrets) -> Pki {
        let w = |name: &str, body: &str| std::fs::write(dir.join(name), body).unwrap();
        w("k8s-ca.crt", &s.kubeadm.ca.cert);
        w("k8s-ca.key", &s.kubeadm.ca.key);
        let ingress = s.ingress.as_ref().expect("the production example serves TLS");
        w("ingress-chain.pem", &ingress.cert);
        w("ingress.key", &ingress.key);
        // The leaf alone: s_server sends the first certificate of the file.
        let leaf_end = ingress.cert.find("-----END CERTIFICATE-----").unwrap() + "-----END CERTIFICATE-----\n".len();
        w("ingress.crt", &ingress.cert[..leaf_end]);
        Pki { dir: dir.to_path_buf() }
    }

    /// A certificate for 127.0.0.1 from a CA (`ca` = a stem of `ca.crt`/`ca.key`
    /// files here, or None for a new self-signed CA), valid `days` days.
    fn issue(&self, name: &str, ca: Option<&str>, days: u32) -> String {
        let d = &self.dir;
        let ca = match ca {
            Some(c) => c.to_string(),
            None => {
                let c = format!("{name}-other-ca");
                openssl(
                    d,
                    &[
                        "req",
                        "-x509",
                        "-newkey",
                        "ec",
                        "-pkeyopt",
                        "ec_paramgen_curve:P-256",
                        "-nodes",
                        "-keyout",
                        &format!("{c}.key"),
                        "-out",
                        &format!("{c}.crt"),
                        "-days",
                        "30",
                        "-subj",
                        "/CN=another CA",
                    ],
                );
                c
            }
        };
        openssl(
            d,
            &[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                "/CN=kube-apiserver",
            ],
        );
        std::fs::write(
            d.join(format!("{name}.ext")),
            "subjectAltName=IP:127.0.0.1,DNS:kubernetes\n",
        )
        .unwrap();
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                &format!("{ca}.crt"),
                "-CAkey",
                &format!("{ca}.key"),
                "-CAcreateserial",
                "-days",
                &days.to_string(),
                "-extfile",
                &format!("{name}.ext"),
                "-out",
                &format!("{name}.crt"),
            ],
        );
        format!("{name}.crt")
    }

    /// `openssl s_server` on 127.0.0.1: `cert` by default, and `sni_cert` to
    /// a client that asks for `sni` (the gateway serves its certificate by SNI).
    fn serve(&self, cert: &str, sni: Option<(&str, &str, &str)>) -> (Proc, u16) {
        let port = free_port();
        let key = cert.replace(".crt", ".key");
        let mut cmd = Command::new("openssl");
        cmd.current_dir(&self.dir).args([
            "s_server",
            "-quiet",
            "-www",
            "-accept",
            &format!("127.0.0.1:{port}"),
            "-cert",
            cert,
            "-key",
            &key,
        ]);
        if let Some((name, c, k)) = sni {
            cmd.args(["-servername", name, "-cert2", c, "-key2", k]);
        }
        let p = spawn(&mut cmd, "openssl s_server");
        // Up once it completes a handshake.
        for _ in 0..200 {
            let ok = Command::new("openssl")
                .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
                .stdin(Stdio::null())
                .output()
                .is_ok_and(|o| o.status.success());
            if ok {
                return (p, port);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("openssl s_server on {port} did not start");
    }
}

/// The rendered exporter configuration, run by the real exporter. Its CA
/// file is the one the Deployment mounts from `kube-root-ca.crt` (the
/// cluster CA); here the site's Kubernetes CA in the same role.
fn start_exporter(tree: &FileTree, dir: &Path) -> (Proc, u16) {
    let d = docs(tree, EXPORTER);
    let deploy = find(&d, "Deployment", "blackbox-exporter");
    let pod = &deploy["spec"]["template"]["spec"];
    let mounts = pod["containers"][0]["volumeMounts"].as_array().unwrap();
    let ca_volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["configMap"]["name"] == "kube-root-ca.crt")
        .unwrap();
    let ca_mount = mounts.iter().find(|m| m["name"] == ca_volume["name"]).unwrap()["mountPath"]
        .as_str()
        .unwrap();
    let ca_file = format!(
        "{ca_mount}/{}",
        ca_volume["configMap"]["items"][0]["path"].as_str().unwrap()
    );
    assert_eq!(ca_volume["configMap"]["items"][0]["key"], "ca.crt");
    let config_mount = mounts.iter().find(|m| m["name"] == "config").unwrap()["mountPath"]
        .as_str()
        .unwrap();
    let args = pod["containers"][0]["args"].as_array().unwrap();
    assert_eq!(
        args[0],
        format!("--config.file={config_mount}/blackbox.yml"),
        "the exporter reads the rendered file"
    );
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert_eq!(
        deploy["spec"]["template"]["metadata"]["labels"]["sidecar.istio.io/inject"],
        "false"
    );

    let config = find(&d, "ConfigMap", "blackbox-exporter")["data"]["blackbox.yml"]
        .as_str()
        .unwrap();
    assert!(
        config.contains(&ca_file),
        "the API server module trusts the mounted cluster CA:\n{config}"
    );
    let config = config.replace(&ca_file, dir.join("k8s-ca.crt").to_str().unwrap());
    std::fs::write(dir.join("blackbox.yml"), config).unwrap();
    let port = free_port();
    let p = spawn(
        Command::new("prometheus-blackbox-exporter").args([
            "--config.file",
            dir.join("blackbox.yml").to_str().unwrap(),
            "--web.listen-address",
            &format!("127.0.0.1:{port}"),
        ]),
        "prometheus-blackbox-exporter (apt-get install prometheus-blackbox-exporter)",
    );
    wait_up(&format!("http://127.0.0.1:{port}/-/healthy"), "blackbox exporter");
    (p, port)
}

fn probe(port: u16, module: &str, target: &str) -> String {
    get(&format!(
        "http://127.0.0.1:{port}/probe?module={module}&target={target}"
    ))
    .expect("the exporter answers a probe")
}

#[test]
fn the_exporter_reports_the_expiry_of_the_certificates_the_site_serves() {
    let s = site();
    let sec = secrets(&s);
    let tree = render(
        &s,
        &Inputs {
            secrets: Some(&sec),
            ..Default::default()
        },
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pki = Pki::new(d, &sec);
    let (_exporter, port) = start_exporter(&tree, d);
    let config = exporter_config(&tree);
    let modules = config["modules"].as_object().unwrap();

    // Ingress: one module per host, each asking for its host by SNI. The
    // server sends a decoy by default and the site's ingress certificate only
    // to a client that asks for the host.
    let decoy = pki.issue("decoy", None, 400);
    let ingress_end = not_after(d, "ingress.crt");
    assert_ne!(ingress_end, not_after(d, &decoy));
    let prom = prometheus_config(&tree);
    let ingress_job = job(&prom, "ingress-certificates");
    let groups = ingress_job["static_configs"].as_array().unwrap();
    let mut hosts: Vec<&str> = groups.iter().map(|g| g["labels"]["host"].as_str().unwrap()).collect();
    hosts.sort();
    assert_eq!(
        hosts,
        ["*.apps.example.internal", "shop.example.internal"],
        "one probe per ingress host"
    );
    for g in groups {
        let host = g["labels"]["host"].as_str().unwrap();
        let module = g["labels"]["__param_module"].as_str().unwrap();
        let sni = modules[module]["tcp"]["tls_config"]["server_name"].as_str().unwrap();
        // The name the probe asks for is one the certificate covers (for a
        // wildcard host, a name under it, which the wildcard server matches).
        let o = Command::new("openssl")
            .current_dir(d)
            .args(["x509", "-in", "ingress.crt", "-noout", "-checkhost", sni])
            .output()
            .unwrap();
        assert!(
            text(&o.stdout).contains("does match"),
            "{host}: {sni} is not covered by the ingress certificate"
        );
        let (_server, p) = pki.serve(&decoy, Some((sni, "ingress.crt", "ingress.key")));
        let body = probe(port, module, &format!("127.0.0.1:{p}"));
        assert_eq!(sample(&body, "probe_success"), Some(1.0), "{host}:\n{body}");
        assert_eq!(
            sample(&body, "probe_ssl_earliest_cert_expiry"),
            Some(ingress_end as f64),
            "{host}: the site's certificate, by SNI\n{body}"
        );
    }

    // API server: a short-lived certificate from the site's Kubernetes CA
    // for the node address: verified, and its notAfter to the second.
    let api = job(&prom, "apiserver-certificates");
    let module = api["params"]["module"][0].as_str().unwrap();
    let short = pki.issue("apiserver", Some("k8s-ca"), 2);
    let short_end = not_after(d, &short);
    assert!(short_end - now() as i64 <= 2 * 86400 + 60);
    let (_api, p) = pki.serve(&short, None);
    let body = probe(port, module, &format!("127.0.0.1:{p}"));
    assert_eq!(sample(&body, "probe_success"), Some(1.0), "{body}");
    assert_eq!(
        sample(&body, "probe_ssl_earliest_cert_expiry"),
        Some(short_end as f64),
        "{body}"
    );

    // A certificate the cluster CA did not issue is not reported as the API
    // server's: the probe fails, and that alerts on its own.
    let stranger = pki.issue("stranger", None, 300);
    let (_bad, p) = pki.serve(&stranger, None);
    let body = probe(port, module, &format!("127.0.0.1:{p}"));
    assert_eq!(sample(&body, "probe_success"), Some(0.0), "{body}");
    assert_eq!(sample(&body, "probe_ssl_earliest_cert_expiry"), None, "{body}");
}

#[test]
fn prometheus_labels_each_measurement_with_its_host_or_node() {
    let s = site();
    let sec = secrets(&s);
    let tree = render(
        &s,
        &Inputs {
            secrets: Some(&sec),
            ..Default::default()
        },
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pki = Pki::new(d, &sec);
    let (_exporter, exporter_port) = start_exporter(&tree, d);
    let prom = prometheus_config(&tree);
    let domain = &s.spec.kubernetes.cluster_domain;
    let ig = &s.spec.istio.ingress_gateway;

    // What the jobs say, in the cluster's terms.
    let exporter = format!("blackbox-exporter.istio-system.svc.{domain}:9115");
    let gateway = format!("{}.{}.svc.{domain}:443", ig.name, ig.namespace);
    let cps: Vec<(&str, &str)> = s
        .spec
        .nodes
        .iter()
        .filter(|n| n.role == Role::ControlPlane)
        .map(|n| (n.name.as_str(), n.address.as_str()))
        .collect();
    let mut ingress = job(&prom, "ingress-certificates").clone();
    let mut api = job(&prom, "apiserver-certificates").clone();
    for g in ingress["static_configs"].as_array().unwrap() {
        assert_eq!(
            g["targets"],
            serde_json::json!([gateway]),
            "the gateway's Service, on its HTTPS port"
        );
    }
    let api_targets: Vec<(String, String)> = api["static_configs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["labels"]["node"].as_str().unwrap().to_string(),
                g["targets"][0].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = cps.iter().map(|(n, a)| (n.to_string(), format!("{a}:6443"))).collect();
    assert_eq!(api_targets, want, "each control-plane node's API server");

    // Here: the exporter and the servers are on 127.0.0.1. The first
    // control-plane node serves a certificate from the site's CA, the second
    // one from another CA, the third nothing at all.
    let decoy = pki.issue("decoy", None, 400);
    let short = pki.issue("apiserver", Some("k8s-ca"), 2);
    let stranger = pki.issue("stranger", None, 300);
    let mut servers = Vec::new();
    let modules = exporter_config(&tree)["modules"].clone();
    let mut ingress_ports = Vec::new();
    for g in ingress["static_configs"].as_array_mut().unwrap() {
        let sni = modules[g["labels"]["__param_module"].as_str().unwrap()]["tcp"]["tls_config"]["server_name"]
            .as_str()
            .unwrap()
            .to_string();
        let (p, port) = pki.serve(&decoy, Some((&sni, "ingress.crt", "ingress.key")));
        servers.push(p);
        ingress_ports.push((g["labels"]["host"].as_str().unwrap().to_string(), port));
        g["targets"] = serde_json::json!([format!("127.0.0.1:{port}")]);
    }
    let (p1, api_ok) = pki.serve(&short, None);
    let (p2, api_bad) = pki.serve(&stranger, None);
    servers.extend([p1, p2]);
    let closed = free_port();
    for (g, port) in api["static_configs"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .zip([api_ok, api_bad, closed])
    {
        g["targets"] = serde_json::json!([format!("127.0.0.1:{port}")]);
    }
    for j in [&mut ingress, &mut api] {
        j["scrape_interval"] = "1s".into();
        j["scrape_timeout"] = "1s".into();
        let relabel = j["relabel_configs"].as_array_mut().unwrap();
        let to_exporter = relabel.iter_mut().find(|r| r["target_label"] == "__address__").unwrap();
        assert_eq!(to_exporter["replacement"], exporter.as_str());
        to_exporter["replacement"] = format!("127.0.0.1:{exporter_port}").into();
    }
    let config = serde_json::json!({"global": {"scrape_interval": "1s"}, "scrape_configs": [ingress, api]});
    std::fs::write(d.join("prometheus.yml"), serde_saphyr::to_string(&config).unwrap()).unwrap();
    let port = free_port();
    let _prometheus = spawn(
        Command::new("prometheus").current_dir(d).args([
            "--config.file=prometheus.yml",
            "--storage.tsdb.path=data",
            &format!("--web.listen-address=127.0.0.1:{port}"),
        ]),
        "prometheus (apt-get install prometheus)",
    );
    wait_up(&format!("http://127.0.0.1:{port}/-/ready"), "prometheus");

    let query = |q: &str, n: usize| -> Vec<Value> {
        let url = format!("http://127.0.0.1:{port}/api/v1/query?query={q}");
        for _ in 0..300 {
            if let Some(body) = get(&url) {
                let v: Value = serde_json::from_str(&body).unwrap();
                let r = v["data"]["result"].as_array().unwrap().clone();
                if r.len() >= n {
                    return r;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{q}: fewer than {n} series");
    };
    let value = |r: &Value| -> f64 { r["value"][1].as_str().unwrap().parse().unwrap() };

    let ingress_end = not_after(d, "ingress.crt") as f64;
    let expiry = query("probe_ssl_earliest_cert_expiry", 3);
    for (host, p) in &ingress_ports {
        let r = expiry
            .iter()
            .find(|r| r["metric"]["host"] == host.as_str())
            .unwrap_or_else(|| panic!("{host}: {expiry:?}"));
        assert_eq!(r["metric"]["job"], "ingress-certificates");
        assert_eq!(
            r["metric"]["instance"],
            format!("127.0.0.1:{p}"),
            "the probed address is the instance"
        );
        assert_eq!(value(r), ingress_end, "{host}: the site's ingress certificate");
    }
    let cp1: Vec<&Value> = expiry
        .iter()
        .filter(|r| r["metric"]["job"] == "apiserver-certificates")
        .collect();
    assert_eq!(
        cp1.len(),
        1,
        "only the API server with a certificate from the cluster CA: {expiry:?}"
    );
    assert_eq!(cp1[0]["metric"]["node"], cps[0].0);
    assert_eq!(value(cp1[0]), not_after(d, &short) as f64);

    let success = query("probe_success", 5);
    // Prometheus returns the series in no set order.
    let mut failed: Vec<&str> = success
        .iter()
        .filter(|r| value(r) == 0.0)
        .map(|r| r["metric"]["node"].as_str().unwrap_or("(no node)"))
        .collect();
    failed.sort();
    let mut expected = [cps[1].0, cps[2].0];
    expected.sort();
    assert_eq!(
        failed, expected,
        "the untrusted and the silent API server fail their probes: {success:?}"
    );
}

// ------------------------------------------------------------------ alert rules

fn promtool_test(rules: &Value, test: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), serde_saphyr::to_string(rules).unwrap()).unwrap();
    std::fs::write(dir.path().join("test.yml"), test).unwrap();
    Command::new("promtool")
        .args(["test", "rules", "test.yml"])
        .current_dir(dir.path())
        .output()
        .expect("promtool (apt-get install prometheus) is needed")
}

fn names(rules: &Value) -> Vec<String> {
    let mut v: Vec<String> = rules["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| {
            g["rules"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["alert"].as_str().unwrap().to_string())
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

const GATEWAY: &str = "istio-ingressgateway.istio-ingress.svc.cluster.local:443";

fn probe_series(job: &str, labels: &str, expiry: Option<i64>, success: u8) -> String {
    let l = format!("job=\"{job}\", {labels}");
    let mut out = format!(
        "      - series: 'probe_success{{{l}}}'\n        values: '{success}x300'\n      - series: 'up{{{l}}}'\n        values: '1x300'\n"
    );
    if let Some(e) = expiry {
        out.push_str(&format!(
            "      - series: 'probe_ssl_earliest_cert_expiry{{{l}}}'\n        values: '{e}x300'\n"
        ));
    }
    out
}

#[test]
fn certificate_alerts_fire_below_their_thresholds_at_their_severity() {
    let s = example("production");
    let days = i64::from(s.spec.observability.alerts.cert_expiry_days);
    assert_eq!(days, 30, "the thresholds below follow the production example");
    let site_name = s.metadata.name.clone();
    let tree = render(&s, &Inputs::default()).unwrap();
    let rules = alert_rules(&tree);
    // Evaluated at 3h: time() is 10800.
    let now = 3 * 3600;
    let day = 86400;
    let ing = |host: &str| format!("instance=\"{GATEWAY}\", host=\"{host}\"");
    let api = |node: &str, addr: &str| format!("instance=\"{addr}:6443\", node=\"{node}\"");
    let mut series = String::new();
    // Between the warning (30 days) and the critical (10 days) threshold, below both, far above.
    series += &probe_series(
        "ingress-certificates",
        &ing("a.example.internal"),
        Some(now + 20 * day),
        1,
    );
    series += &probe_series(
        "ingress-certificates",
        &ing("b.example.internal"),
        Some(now + 5 * day),
        1,
    );
    series += &probe_series(
        "ingress-certificates",
        &ing("c.example.internal"),
        Some(now + 300 * day),
        1,
    );
    series += &probe_series(
        "apiserver-certificates",
        &api("cp-1", "10.0.0.11"),
        Some(now + 20 * day),
        1,
    );
    series += &probe_series(
        "apiserver-certificates",
        &api("cp-2", "10.0.0.12"),
        Some(now + 5 * day),
        1,
    );
    // cp-3's probe fails: no expiry, but an alert that it is unknown.
    series += &probe_series("apiserver-certificates", &api("cp-3", "10.0.0.13"), None, 0);
    // Every proxy's 24-hour workload certificate: nothing fires on it.
    series += "      - series: 'envoy_server_days_until_first_cert_expiring{namespace=\"istio-ingress\", pod=\"istio-ingressgateway-5c9d-xyz\", job=\"kubernetes-pods\"}'\n        values: '0x300'\n";

    let ingress_summary = |host: &str, d: i64| {
        format!(
            "the TLS certificate the ingress gateway serves for {host} expires within {d} days: run meshbundle secrets rotate, then meshbundle build, import and sudo ./install.sh cluster"
        )
    };
    let api_summary = |node: &str, addr: &str, d: i64| {
        format!(
            "the API server certificate of {node} ({addr}:6443) expires within {d} days, and kubeadm's other certificates of that node with it: run sudo ops/renew-kubeadm-certs.sh on {node}"
        )
    };
    let alert = |name: &str, severity: &str, labels: &str, summary: &str| {
        format!(
            "          - exp_labels: {{alertname: {name}, severity: {severity}, site: {site_name}, {labels}}}\n            exp_annotations: {{summary: \"{summary}\"}}\n"
        )
    };
    let ing_l = |host: &str| format!("job: ingress-certificates, instance: \"{GATEWAY}\", host: {host}");
    let api_l =
        |node: &str, addr: &str| format!("job: apiserver-certificates, instance: \"{addr}:6443\", node: {node}");
    let mut test = format!(
        "rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n{series}    alert_rule_test:\n"
    );
    test += "      - eval_time: 3h\n        alertname: IngressCertificateExpiring\n        exp_alerts:\n";
    test += &alert(
        "IngressCertificateExpiring",
        "warning",
        &ing_l("a.example.internal"),
        &ingress_summary("a.example.internal", 30),
    );
    test += &alert(
        "IngressCertificateExpiring",
        "warning",
        &ing_l("b.example.internal"),
        &ingress_summary("b.example.internal", 30),
    );
    test += &alert(
        "IngressCertificateExpiring",
        "critical",
        &ing_l("b.example.internal"),
        &ingress_summary("b.example.internal", 10),
    );
    test += "      - eval_time: 3h\n        alertname: KubernetesAPIServerCertificateExpiring\n        exp_alerts:\n";
    test += &alert(
        "KubernetesAPIServerCertificateExpiring",
        "warning",
        &api_l("cp-1", "10.0.0.11"),
        &api_summary("cp-1", "10.0.0.11", 30),
    );
    test += &alert(
        "KubernetesAPIServerCertificateExpiring",
        "warning",
        &api_l("cp-2", "10.0.0.12"),
        &api_summary("cp-2", "10.0.0.12", 30),
    );
    test += &alert(
        "KubernetesAPIServerCertificateExpiring",
        "critical",
        &api_l("cp-2", "10.0.0.12"),
        &api_summary("cp-2", "10.0.0.12", 10),
    );
    test += "      - eval_time: 3h\n        alertname: CertificateProbeFailing\n        exp_alerts:\n";
    test += &alert(
        "CertificateProbeFailing",
        "warning",
        &api_l("cp-3", "10.0.0.13"),
        "the certificate probe apiserver-certificates of 10.0.0.13:6443 fails, so that certificate's expiry is unknown: check that the target answers TLS and the logs of deployment/blackbox-exporter in istio-system",
    );
    // Not yet: every alert waits 15 minutes.
    for a in [
        "IngressCertificateExpiring",
        "KubernetesAPIServerCertificateExpiring",
        "CertificateProbeFailing",
    ] {
        test += &format!("      - eval_time: 10m\n        alertname: {a}\n        exp_alerts: []\n");
    }
    // Nothing else fires, on the workload certificates least of all.
    for a in names(&rules) {
        if ![
            "IngressCertificateExpiring",
            "KubernetesAPIServerCertificateExpiring",
            "CertificateProbeFailing",
        ]
        .contains(&a.as_str())
        {
            test += &format!("      - eval_time: 3h\n        alertname: {a}\n        exp_alerts: []\n");
        }
    }
    let o = promtool_test(&rules, &test);
    assert!(o.status.success(), "{}{}\n{test}", text(&o.stdout), text(&o.stderr));
}

#[test]
fn an_unreachable_exporter_alerts_and_healthy_certificates_do_not() {
    let s = example("production");
    let tree = render(&s, &Inputs::default()).unwrap();
    let rules = alert_rules(&tree);
    let site_name = &s.metadata.name;
    let now = 3 * 3600;
    let far = now + 300 * 86400;
    let mut series = String::new();
    series += &probe_series(
        "ingress-certificates",
        &format!("instance=\"{GATEWAY}\", host=\"shop.example.internal\""),
        Some(far),
        1,
    );
    for (n, a) in [("cp-1", "10.0.0.11"), ("cp-2", "10.0.0.12")] {
        series += &probe_series(
            "apiserver-certificates",
            &format!("instance=\"{a}:6443\", node=\"{n}\""),
            Some(far),
            1,
        );
    }
    // The exporter itself cannot be scraped for cp-3: up is 0 and no probe series exist.
    series += "      - series: 'up{job=\"apiserver-certificates\", instance=\"10.0.0.13:6443\", node=\"cp-3\"}'\n        values: '0x300'\n";
    let mut test = format!(
        "rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n{series}    alert_rule_test:\n"
    );
    test += &format!(
        "      - eval_time: 3h\n        alertname: CertificateProbeFailing\n        exp_alerts:\n          - exp_labels: {{alertname: CertificateProbeFailing, severity: warning, site: {site_name}, job: apiserver-certificates, instance: \"10.0.0.13:6443\", node: cp-3}}\n            exp_annotations: {{summary: \"the certificate probe apiserver-certificates of 10.0.0.13:6443 fails, so that certificate's expiry is unknown: check that the target answers TLS and the logs of deployment/blackbox-exporter in istio-system\"}}\n"
    );
    for a in ["IngressCertificateExpiring", "KubernetesAPIServerCertificateExpiring"] {
        test += &format!("      - eval_time: 3h\n        alertname: {a}\n        exp_alerts: []\n");
    }
    let o = promtool_test(&rules, &test);
    assert!(o.status.success(), "{}{}\n{test}", text(&o.stdout), text(&o.stderr));
}

#[test]
fn thresholds_follow_the_spec() {
    // A 60-day threshold: warning at 60, critical at 20. A 5-day one: only a
    // critical, at 5. Each probed certificate alerts exactly where it should.
    for (threshold, levels) in [
        (60u32, vec![("warning", 60i64), ("critical", 20)]),
        (5, vec![("critical", 5)]),
        (14, vec![("warning", 14), ("critical", 7)]),
    ] {
        let mut s = example("production");
        s.spec.observability.alerts.cert_expiry_days = threshold;
        let tree = render(&s, &Inputs::default()).unwrap();
        let rules = alert_rules(&tree);
        let ingress: Vec<&Value> = rules["groups"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["rules"].as_array().unwrap())
            .filter(|r| r["alert"] == "IngressCertificateExpiring")
            .collect();
        let got: Vec<(String, i64)> = ingress
            .iter()
            .map(|r| {
                let expr = r["expr"].as_str().unwrap();
                (
                    r["labels"]["severity"].as_str().unwrap().to_string(),
                    expr.rsplit("< ").next().unwrap().parse::<i64>().unwrap() / 86400,
                )
            })
            .collect();
        let want: Vec<(String, i64)> = levels.iter().map(|(s, d)| (s.to_string(), *d)).collect();
        assert_eq!(got, want, "certExpiryDays {threshold}");
        // And promtool agrees: a certificate a day inside each threshold fires
        // every severity whose threshold it is inside.
        let now = 3 * 3600;
        let site_name = &s.metadata.name;
        for (_, d) in &levels {
            let inside = now + (d - 1) * 86400;
            let series = probe_series(
                "ingress-certificates",
                &format!("instance=\"{GATEWAY}\", host=\"x.example.internal\""),
                Some(inside),
                1,
            );
            let mut test = format!(
                "rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n{series}    alert_rule_test:\n      - eval_time: 3h\n        alertname: IngressCertificateExpiring\n        exp_alerts:\n"
            );
            for (severity, t) in levels.iter().filter(|(_, t)| t >= d) {
                test += &format!(
                    "          - exp_labels: {{alertname: IngressCertificateExpiring, severity: {severity}, site: {site_name}, job: ingress-certificates, instance: \"{GATEWAY}\", host: x.example.internal}}\n            exp_annotations: {{summary: \"the TLS certificate the ingress gateway serves for x.example.internal expires within {t} days: run meshbundle secrets rotate, then meshbundle build, import and sudo ./install.sh cluster\"}}\n"
                );
            }
            let o = promtool_test(&rules, &test);
            assert!(
                o.status.success(),
                "certExpiryDays {threshold}, {d} days: {}{}",
                text(&o.stdout),
                text(&o.stderr)
            );
        }
        let outside = now + (levels[0].1 + 1) * 86400;
        let series = probe_series(
            "ingress-certificates",
            &format!("instance=\"{GATEWAY}\", host=\"x.example.internal\""),
            Some(outside),
            1,
        );
        let test = format!(
            "rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n{series}    alert_rule_test:\n      - eval_time: 3h\n        alertname: IngressCertificateExpiring\n        exp_alerts: []\n"
        );
        let o = promtool_test(&rules, &test);
        assert!(
            o.status.success(),
            "certExpiryDays {threshold}: {}{}",
            text(&o.stdout),
            text(&o.stderr)
        );
    }
}

#[test]
fn the_exporter_runs_and_is_carried_exactly_when_prometheus_scrapes_it() {
    let image = "quay.io/prometheus/blackbox-exporter:v0.28.0";
    for prometheus in [true, false] {
        let mut s = example("production");
        s.spec.observability.addons.prometheus = prometheus;
        // Alertmanager is fed by the addon Prometheus: it goes with it.
        s.spec.observability.alertmanager.enabled = prometheus;
        let n = needs(&s).unwrap();
        let carried = n.images.iter().any(|i| i.upstream.to_string() == image);
        assert_eq!(
            carried, prometheus,
            "prometheus={prometheus}: the lock and the bundle carry the exporter"
        );
        let tree = render(&s, &Inputs::default()).unwrap();
        assert_eq!(tree.contains(EXPORTER), prometheus);
        let install = String::from_utf8(tree.get("install.sh").unwrap().bytes.clone()).unwrap();
        assert_eq!(install.contains(EXPORTER), prometheus, "install.sh cluster applies it");
        let verify = String::from_utf8(tree.get("ops/verify.sh").unwrap().bytes.clone()).unwrap();
        assert_eq!(
            verify.contains("blackbox-exporter"),
            prometheus,
            "ops/verify.sh waits for it"
        );
        if prometheus {
            let d = docs(&tree, EXPORTER);
            let c = &find(&d, "Deployment", "blackbox-exporter")["spec"]["template"]["spec"]["containers"][0];
            assert_eq!(
                c["image"],
                format!("{}/prometheus/blackbox-exporter:v0.28.0", s.spec.registry),
                "from the site registry"
            );
            assert_eq!(c["imagePullPolicy"], "IfNotPresent");
        } else {
            let rules = String::from_utf8(tree.get("README.md").unwrap().bytes.clone()).unwrap();
            assert!(
                rules.contains("ops/cert-expiry.sh` checks those"),
                "the README says what covers them then"
            );
        }
    }
}

#[test]
fn no_ingress_tls_no_ingress_probe() {
    let mut s = example("production");
    s.spec.istio.ingress_gateway.tls = None;
    s.spec.istio.ingress_gateway.https_redirect = false;
    let tree = render(&s, &Inputs::default()).unwrap();
    let prom = prometheus_config(&tree);
    let jobs: Vec<&str> = prom["scrape_configs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_name"].as_str().unwrap())
        .collect();
    assert!(
        !jobs.contains(&"ingress-certificates") && jobs.contains(&"apiserver-certificates"),
        "{jobs:?}"
    );
    let rules = alert_rules(&tree);
    let n = names(&rules);
    assert!(
        !n.contains(&"IngressCertificateExpiring".to_string())
            && n.contains(&"KubernetesAPIServerCertificateExpiring".to_string())
    );
    let probe_failing = rules["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .find(|r| r["alert"] == "CertificateProbeFailing")
        .unwrap();
    assert_eq!(
        probe_failing["expr"],
        "probe_success{job=~\"apiserver-certificates\"} == 0 or up{job=~\"apiserver-certificates\"} == 0"
    );
    assert!(
        exporter_config(&tree)["modules"]
            .as_object()
            .unwrap()
            .keys()
            .all(|k| !k.starts_with("ingress-"))
    );
}

#[test]
fn a_locked_build_of_the_production_spec_carries_the_exporter_it_runs() {
    let s = example("production");
    let up = site::serve(&s);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::copy(repo().join("core/examples/production.yaml"), d.join("site.yaml")).unwrap();
    let net: Vec<&str> = up.flags.iter().map(String::as_str).collect();
    let with_net = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(&net);
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
    ]);
    let o = meshbundle(d, &["inspect", "site.mbundle", "--format", "json"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let carried = v["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| {
            i["name"]
                .as_str()
                .unwrap()
                .contains("prometheus/blackbox-exporter:v0.28.0")
        })
        .unwrap_or_else(|| panic!("the bundle does not carry the blackbox exporter: {}", v["images"]));
    let site_ref = carried["site"].as_str().unwrap();
    // The manifest in the bundle runs exactly that image, by digest.
    let lock = meshbundle_core::lock::parse(&std::fs::read_to_string(d.join("meshbundle.lock")).unwrap()).unwrap();
    let tree = render(
        &s,
        &Inputs {
            lock: Some(&lock),
            ..Default::default()
        },
    )
    .unwrap();
    let dd = docs(&tree, EXPORTER);
    let image = find(&dd, "Deployment", "blackbox-exporter")["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        image.split_once('@').map(|x| x.1),
        site_ref.split_once('@').map(|x| x.1),
        "{image} vs {site_ref}"
    );
    assert!(image.contains("@sha256:"), "{image}");
}

#[test]
fn each_host_is_probed_with_its_own_name() {
    // Host names that one naming scheme or another folds together.
    let mut s = example("production");
    let hosts = [
        "a-b.example.internal",
        "a.b-example.internal",
        "*.example.internal",
        "wildcard.example.internal",
    ];
    s.spec.istio.ingress_gateway.hosts = hosts.iter().map(|h| h.to_string()).collect();
    let tree = render(&s, &Inputs::default()).unwrap();
    let modules = exporter_config(&tree)["modules"].clone();
    let prom = prometheus_config(&tree);
    let groups = job(&prom, "ingress-certificates")["static_configs"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(groups.len(), hosts.len());
    for g in &groups {
        let host = g["labels"]["host"].as_str().unwrap();
        let sni = modules[g["labels"]["__param_module"].as_str().unwrap()]["tcp"]["tls_config"]["server_name"]
            .as_str()
            .unwrap();
        let want = host
            .strip_prefix("*.")
            .map(|r| format!("meshbundle-probe.{r}"))
            .unwrap_or_else(|| host.to_string());
        assert_eq!(sni, want, "{host}");
    }
}
