//! Alertmanager, judged by meaning: the rendered alertmanager.yml passes
//! `amtool check-config` and routes every shipped alert to the receivers the
//! spec states; the addon Prometheus sends to every Alertmanager pod by the
//! names the StatefulSet and its headless Service give them (and the pods
//! cluster with each other under the same names); a real Alertmanager, run
//! with the rendered configuration, mutes exactly the duplicates it should;
//! credentials come only from the secrets file and reach only a 0600 Secret
//! mounted where the configuration reads them; and validation refuses an
//! Alertmanager with no stated receiver, with the field path.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use common::*;
use meshbundle_core::diag::Severity;
use meshbundle_core::render::{Inputs, RenderError, render};
use meshbundle_core::spec::{AlertReceivers, EmailReceiver, Site, WebhookReceiver};
use meshbundle_core::tree::FileTree;
use serde_json::{Value, json};

fn docs(tree: &FileTree, path: &str) -> Vec<Value> {
    let f = tree.get(path).unwrap_or_else(|| panic!("{path} is not in the tree"));
    serde_saphyr::from_multiple(&String::from_utf8(f.bytes.clone()).unwrap()).unwrap()
}

fn find<'a>(ds: &'a [Value], kind: &str, name: &str) -> &'a Value {
    ds.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn webhook(url: &str, bearer: bool) -> WebhookReceiver {
    WebhookReceiver {
        url: url.into(),
        bearer_token: bearer,
        ca_certificate: None,
    }
}

fn email(auth: Option<&str>) -> EmailReceiver {
    EmailReceiver {
        smarthost: "mail.corp.example:25".into(),
        from: "am@corp.example".into(),
        to: vec!["ops@corp.example".into(), "noc@corp.example".into()],
        require_tls: true,
        auth_username: auth.map(str::to_string),
        ca_certificate: None,
    }
}

fn with(receivers: AlertReceivers, replicas: u32) -> Site {
    let mut s = example("production");
    let am = &mut s.spec.observability.alertmanager;
    am.enabled = true;
    am.replicas = replicas;
    am.receivers = receivers;
    s
}

/// The Alertmanager objects: manifest documents and the parsed alertmanager.yml.
struct Rendered {
    docs: Vec<Value>,
    config: Value,
    config_text: String,
}

fn alertmanager(tree: &FileTree) -> Rendered {
    let docs = docs(tree, "manifests/observability/alertmanager.yaml");
    let sts = find(&docs, "StatefulSet", "alertmanager");
    // The configuration file the container is told to read, from the volume mounted there.
    let c = &sts["spec"]["template"]["spec"]["containers"][0];
    let file = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|a| a.as_str().unwrap().strip_prefix("--config.file="))
        .unwrap();
    let (dir, key) = file.rsplit_once('/').unwrap();
    let mount = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == dir)
        .expect("the config directory is mounted");
    let vol = sts["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap();
    let cm = find(&docs, "ConfigMap", vol["configMap"]["name"].as_str().unwrap());
    let config_text = cm["data"][key].as_str().unwrap().to_string();
    let config = serde_saphyr::from_str(&config_text).unwrap();
    let docs = docs.clone();
    Rendered {
        docs,
        config,
        config_text,
    }
}

fn amtool(args: &[&str], dir: &Path) -> Output {
    Command::new("amtool")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("amtool (apt-get install prometheus-alertmanager) is needed")
}

fn shipped_alerts(tree: &FileTree) -> Vec<(String, String)> {
    let d = docs(tree, "manifests/observability/prometheus.yaml");
    let cm = find(&d, "ConfigMap", "prometheus");
    let rules: Value = serde_saphyr::from_str(cm["data"]["alerting_rules.yml"].as_str().unwrap()).unwrap();
    rules["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().iter())
        .filter_map(|r| {
            Some((
                r["alert"].as_str()?.to_string(),
                r["labels"]["severity"].as_str().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

#[test]
fn the_configuration_passes_amtool_and_every_alert_reaches_the_stated_receivers() {
    let cases: Vec<(&str, AlertReceivers)> = vec![
        (
            "email",
            AlertReceivers {
                email: Some(email(None)),
                ..Default::default()
            },
        ),
        (
            "email with login",
            AlertReceivers {
                email: Some(email(Some("alertmanager"))),
                ..Default::default()
            },
        ),
        (
            "webhook",
            AlertReceivers {
                webhook: Some(webhook("http://10.0.0.40:9000/alerts", false)),
                ..Default::default()
            },
        ),
        (
            "webhook with token",
            AlertReceivers {
                webhook: Some(webhook("https://hooks.corp.example/am", true)),
                ..Default::default()
            },
        ),
        (
            "both",
            AlertReceivers {
                webhook: Some(webhook("https://hooks.corp.example/am", false)),
                email: Some(email(None)),
                none: false,
            },
        ),
        (
            "none",
            AlertReceivers {
                none: true,
                ..Default::default()
            },
        ),
    ];
    for (name, receivers) in cases {
        let s = with(receivers.clone(), 2);
        let tree = render(&s, &Inputs::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let r = alertmanager(&tree);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("alertmanager.yml"), &r.config_text).unwrap();
        let o = amtool(&["check-config", "alertmanager.yml"], dir.path());
        assert!(o.status.success(), "{name}: {}{}", text(&o.stdout), text(&o.stderr));

        // Every shipped alert, at its severity, goes to the one receiver.
        let root = r.config["route"]["receiver"].as_str().unwrap().to_string();
        for (alert, severity) in shipped_alerts(&tree) {
            let o = amtool(
                &[
                    "config",
                    "routes",
                    "test",
                    "--config.file=alertmanager.yml",
                    &format!("alertname={alert}"),
                    &format!("severity={severity}"),
                ],
                dir.path(),
            );
            assert!(o.status.success(), "{name} {alert}: {}", text(&o.stderr));
            assert_eq!(text(&o.stdout).trim(), root, "{name}: {alert} is routed elsewhere");
        }
        let receiver = r.config["receivers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == root.as_str())
            .unwrap();
        // What the receiver delivers to is what the spec says, and nothing else.
        let hooks: Vec<&str> = receiver["webhook_configs"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|w| w["url"].as_str().unwrap())
            .collect();
        assert_eq!(
            hooks,
            receivers.webhook.iter().map(|w| w.url.as_str()).collect::<Vec<_>>(),
            "{name}"
        );
        let mails: Vec<&Value> = receiver["email_configs"].as_array().into_iter().flatten().collect();
        assert_eq!(mails.len(), usize::from(receivers.email.is_some()), "{name}");
        if let Some(e) = &receivers.email {
            let m = mails[0];
            assert_eq!(m["to"], e.to.join(", "), "{name}");
            assert_eq!(m["from"], e.from.as_str());
            assert_eq!(m["smarthost"], e.smarthost.as_str());
            assert_eq!(m["require_tls"], true);
            assert_eq!(m["send_resolved"], true);
        }
        for key in ["slack_configs", "pagerduty_configs", "opsgenie_configs"] {
            assert!(receiver.get(key).is_none(), "{name}: {key}");
        }
        if receivers.none {
            assert!(
                receiver.get("webhook_configs").is_none() && receiver.get("email_configs").is_none(),
                "{name}"
            );
        }
        // No credential is ever in the configuration: only paths to files.
        for w in receiver["webhook_configs"].as_array().into_iter().flatten() {
            let auth = &w["http_config"]["authorization"];
            assert_eq!(auth.get("credentials"), None);
            assert_eq!(
                auth.is_null(),
                !receivers.webhook.as_ref().unwrap().bearer_token,
                "{name}"
            );
        }
        for m in &mails {
            assert_eq!(m.get("auth_password"), None);
        }
    }
}

/// Files a Secret volume puts in the container: path -> (secret name, key).
fn secret_files(sts: &Value) -> Vec<(String, String, String)> {
    let pod = &sts["spec"]["template"]["spec"];
    let mut out = Vec::new();
    for m in pod["containers"][0]["volumeMounts"].as_array().unwrap() {
        let v = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == m["name"])
            .unwrap();
        if let Some(s) = v.get("secret") {
            for item in s["items"].as_array().unwrap() {
                out.push((
                    format!(
                        "{}/{}",
                        m["mountPath"].as_str().unwrap(),
                        item["path"].as_str().unwrap()
                    ),
                    s["secretName"].as_str().unwrap().to_string(),
                    item["key"].as_str().unwrap().to_string(),
                ));
            }
        }
    }
    out
}

#[test]
fn credentials_come_from_the_secrets_file_and_reach_only_a_private_secret_read_where_the_config_says() {
    let s = with(
        AlertReceivers {
            webhook: Some(webhook("https://hooks.corp.example/am", true)),
            email: Some(email(Some("alertmanager"))),
            none: false,
        },
        2,
    );
    let mut secrets = secrets(&s);
    // Without them, render refuses with the secrets' field paths.
    match render(
        &s,
        &Inputs {
            secrets: Some(&secrets),
            ..Default::default()
        },
    ) {
        Err(RenderError::Secrets(m)) => {
            assert!(
                m.contains("alertmanager.smtpPassword") && m.contains("alertmanager.webhookBearerToken"),
                "{m}"
            );
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
    // A credential that is not one is refused when the file is read.
    let text = meshbundle_core::pki::write_secrets(&secrets).unwrap();
    let bad = format!("{text}alertmanager:\n  smtpPassword: \"pass\\nword\"\n");
    assert!(meshbundle_core::pki::parse_secrets(&bad).is_err());

    let password = "s3cret-Relay-Pa55";
    let token = "tok.abcdef0123456789";
    let good = format!("{text}alertmanager:\n  smtpPassword: {password}\n  webhookBearerToken: {token}\n");
    secrets = meshbundle_core::pki::parse_secrets(&good).unwrap();
    assert!(!format!("{secrets:?}").contains(password));
    let tree = render(
        &s,
        &Inputs {
            secrets: Some(&secrets),
            ..Default::default()
        },
    )
    .unwrap();

    let f = tree.get("secrets/alertmanager-credentials.yaml").unwrap();
    assert_eq!(f.mode, 0o600);
    let secret = &docs(&tree, "secrets/alertmanager-credentials.yaml")[0];
    let r = alertmanager(&tree);
    let sts = find(&r.docs, "StatefulSet", "alertmanager");
    let files = secret_files(sts);
    let value_at = |path: &str| -> String {
        let (_, name, key) = files
            .iter()
            .find(|(p, _, _)| p == path)
            .unwrap_or_else(|| panic!("{path} is not a mounted secret: {files:?}"));
        assert_eq!(secret["metadata"]["name"], name.as_str());
        assert_eq!(secret["metadata"]["namespace"], sts["metadata"]["namespace"]);
        use base64::Engine;
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(secret["data"][key].as_str().unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    let receiver = &r.config["receivers"][0];
    assert_eq!(
        value_at(receiver["email_configs"][0]["auth_password_file"].as_str().unwrap()),
        password
    );
    assert_eq!(receiver["email_configs"][0]["auth_username"], "alertmanager");
    let auth = &receiver["webhook_configs"][0]["http_config"]["authorization"];
    assert_eq!(auth["type"], "Bearer");
    assert_eq!(value_at(auth["credentials_file"].as_str().unwrap()), token);

    // Nowhere else: not in a manifest, the README or a script.
    for (path, f) in tree.iter() {
        if path == "secrets/alertmanager-credentials.yaml" {
            continue;
        }
        let t = String::from_utf8_lossy(&f.bytes);
        assert!(!t.contains(password) && !t.contains(token), "{path} shows a credential");
    }
    // install.sh cluster applies the Secret before Alertmanager.
    let install = String::from_utf8(tree.get("install.sh").unwrap().bytes.clone()).unwrap();
    let secret_at = install
        .find("\"$HERE\"/secrets/alertmanager-credentials.yaml")
        .or_else(|| install.find("$HERE/secrets/alertmanager-credentials.yaml\"\n"));
    let manifest_at = install.find("manifests/observability/alertmanager.yaml").unwrap();
    assert!(secret_at.unwrap() < manifest_at);
}

#[test]
fn prometheus_sends_to_every_alertmanager_pod_and_the_pods_cluster_under_the_same_names() {
    for (replicas, domain) in [(2u32, "cluster.local"), (3, "corp.internal"), (1, "cluster.local")] {
        let mut s = with(
            AlertReceivers {
                email: Some(email(None)),
                ..Default::default()
            },
            replicas,
        );
        s.spec.kubernetes.cluster_domain = domain.into();
        let tree = render(&s, &Inputs::default()).unwrap();
        let r = alertmanager(&tree);
        let sts = find(&r.docs, "StatefulSet", "alertmanager");
        let ns = sts["metadata"]["namespace"].as_str().unwrap();
        let headless = find(&r.docs, "Service", sts["spec"]["serviceName"].as_str().unwrap());
        assert_eq!(headless["spec"]["clusterIP"], "None");
        assert_eq!(
            headless["spec"]["publishNotReadyAddresses"], true,
            "peers must find each other before they are ready"
        );
        let pod_labels = &sts["spec"]["template"]["metadata"]["labels"];
        for (k, v) in headless["spec"]["selector"].as_object().unwrap() {
            assert_eq!(&pod_labels[k], v);
        }
        assert_eq!(sts["spec"]["replicas"], replicas);
        // The pods' DNS names: POD.SERVICE.NAMESPACE.svc.DOMAIN.
        let names: Vec<String> = (0..replicas)
            .map(|i| {
                format!(
                    "{}-{i}.{}.{ns}.svc.{domain}",
                    sts["metadata"]["name"].as_str().unwrap(),
                    headless["metadata"]["name"].as_str().unwrap()
                )
            })
            .collect();
        let container = &sts["spec"]["template"]["spec"]["containers"][0];
        let web = container["ports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "http-web")
            .unwrap()["containerPort"]
            .as_u64()
            .unwrap();

        let prom = docs(&tree, "manifests/observability/prometheus.yaml");
        let cm = find(&prom, "ConfigMap", "prometheus");
        let config: Value = serde_saphyr::from_str(cm["data"]["prometheus.yml"].as_str().unwrap()).unwrap();
        let ams = config["alerting"]["alertmanagers"].as_array().unwrap();
        assert_eq!(ams.len(), 1);
        let mut targets: Vec<String> = ams[0]["static_configs"][0]["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect();
        targets.sort();
        let want: Vec<String> = names.iter().map(|n| format!("{n}:{web}")).collect();
        assert_eq!(
            targets, want,
            "Prometheus must send to every pod, not through a load-balanced Service"
        );
        assert!(
            headless["spec"]["ports"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["port"].as_u64() == Some(web))
        );

        let args: Vec<&str> = container["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let peers: Vec<&str> = args.iter().filter_map(|a| a.strip_prefix("--cluster.peer=")).collect();
        if replicas > 1 {
            let want: Vec<String> = names.iter().map(|n| format!("{n}:9094")).collect();
            assert_eq!(peers, want);
            assert!(args.contains(&"--cluster.listen-address=0.0.0.0:9094"));
            for proto in ["TCP", "UDP"] {
                assert!(
                    headless["spec"]["ports"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|p| p["port"] == 9094 && p["protocol"] == proto),
                    "{proto}"
                );
            }
            let pdb = find(&r.docs, "PodDisruptionBudget", "alertmanager");
            assert_eq!(pdb["spec"]["maxUnavailable"], 1);
        } else {
            assert!(peers.is_empty());
            assert!(args.contains(&"--cluster.listen-address="), "one pod: clustering off");
            assert!(!r.docs.iter().any(|d| d["kind"] == "PodDisruptionBudget"));
        }

        // promtool accepts the alerting section (Debian's promtool is built
        // without Kubernetes service discovery, so the scrape jobs are left out).
        let dir = tempfile::tempdir().unwrap();
        let section = json!({"global": config["global"].clone(), "alerting": config["alerting"].clone()});
        std::fs::write(
            dir.path().join("prometheus.yml"),
            serde_saphyr::to_string(&section).unwrap(),
        )
        .unwrap();
        let o = Command::new("promtool")
            .args(["check", "config", "--syntax-only", "prometheus.yml"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    }
}

#[test]
fn the_pods_run_pinned_non_root_with_their_storage() {
    let mut s = with(
        AlertReceivers {
            email: Some(email(None)),
            ..Default::default()
        },
        2,
    );
    let tree = render(&s, &Inputs::default()).unwrap();
    let r = alertmanager(&tree);
    let sts = find(&r.docs, "StatefulSet", "alertmanager");
    let pod = &sts["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert!(
        c["image"]
            .as_str()
            .unwrap()
            .starts_with("10.0.0.5:5000/prometheus/alertmanager:v"),
        "{}",
        c["image"]
    );
    assert_eq!(c["imagePullPolicy"], "IfNotPresent");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(
        sts["spec"]["template"]["metadata"]["labels"]["sidecar.istio.io/inject"],
        "false"
    );
    assert!(c["resources"]["requests"]["memory"].is_string() && c["resources"]["limits"]["memory"].is_string());
    let storage = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "storage")
        .unwrap();
    assert_eq!(storage["emptyDir"]["sizeLimit"], "1Gi");
    assert!(sts["spec"].get("volumeClaimTemplates").is_none());

    s.spec.observability.alertmanager.storage.storage_class_name = Some("local-storage".into());
    s.spec.observability.alertmanager.storage.size = "2Gi".into();
    let tree = render(&s, &Inputs::default()).unwrap();
    let r = alertmanager(&tree);
    let sts = find(&r.docs, "StatefulSet", "alertmanager");
    assert!(
        !sts["spec"]["template"]["spec"]["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["name"] == "storage")
    );
    let claim = &sts["spec"]["volumeClaimTemplates"][0];
    assert_eq!(claim["metadata"]["name"], "storage");
    assert_eq!(claim["spec"]["storageClassName"], "local-storage");
    assert_eq!(claim["spec"]["resources"]["requests"]["storage"], "2Gi");

    // A change of configuration changes the pod template, so the pods restart with it.
    let a =
        find(&r.docs, "StatefulSet", "alertmanager")["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
            .clone();
    s.spec
        .observability
        .alertmanager
        .receivers
        .email
        .as_mut()
        .unwrap()
        .to
        .push("dba@corp.example".into());
    let r2 = alertmanager(&render(&s, &Inputs::default()).unwrap());
    assert_ne!(
        find(&r2.docs, "StatefulSet", "alertmanager")["spec"]["template"]["metadata"]["annotations"]["checksum/config"],
        a
    );

    // Off: no Alertmanager, no alerting section, no image needed.
    s.spec.observability.alertmanager.enabled = false;
    let tree = render(&s, &Inputs::default()).unwrap();
    assert!(tree.get("manifests/observability/alertmanager.yaml").is_none());
    let prom = docs(&tree, "manifests/observability/prometheus.yaml");
    let config: Value = serde_saphyr::from_str(
        find(&prom, "ConfigMap", "prometheus")["data"]["prometheus.yml"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert!(config.get("alerting").is_none());
    let needs = meshbundle_core::catalog::needs(&s).unwrap();
    assert!(!needs.images.iter().any(|i| i.used_by == "alertmanager"));
    s.spec.observability.alertmanager.enabled = true;
    let needs = meshbundle_core::catalog::needs(&s).unwrap();
    let am: Vec<String> = needs
        .images
        .iter()
        .filter(|i| i.used_by == "alertmanager")
        .map(|i| i.upstream.to_string())
        .collect();
    assert_eq!(am.len(), 1);
    assert!(am[0].starts_with("quay.io/prometheus/alertmanager:v"), "{am:?}");
}

// ------------------------------------------------------------------ validation

fn diagnostics(s: &Site) -> Vec<(Severity, String, String)> {
    meshbundle_core::validate::check(s)
        .into_iter()
        .map(|d| (d.severity, d.path, format!("{} ({})", d.message, d.hint)))
        .collect()
}

fn has_error(s: &Site, path: &str) -> bool {
    diagnostics(s)
        .iter()
        .any(|(sev, p, _)| *sev == Severity::Error && p == path)
}

#[test]
fn validation_wants_a_stated_receiver_and_strict_values() {
    let base = with(AlertReceivers::default(), 2);
    assert!(
        has_error(&base, "spec.observability.alertmanager.receivers"),
        "{:?}",
        diagnostics(&base)
    );
    let d = diagnostics(&base);
    let hint = &d
        .iter()
        .find(|(_, p, _)| p == "spec.observability.alertmanager.receivers")
        .unwrap()
        .2;
    assert!(
        hint.contains("none: true") && hint.contains("webhook") && hint.contains("email"),
        "{hint}"
    );

    let none = with(
        AlertReceivers {
            none: true,
            ..Default::default()
        },
        2,
    );
    let d = diagnostics(&none);
    assert!(
        d.iter()
            .any(|(sev, p, _)| *sev == Severity::Warning && p == "spec.observability.alertmanager.receivers.none"),
        "{d:?}"
    );
    assert!(
        !d.iter()
            .any(|(sev, p, _)| *sev == Severity::Error && p.starts_with("spec.observability.alertmanager")),
        "{d:?}"
    );

    let both = with(
        AlertReceivers {
            none: true,
            email: Some(email(None)),
            ..Default::default()
        },
        2,
    );
    assert!(has_error(&both, "spec.observability.alertmanager.receivers.none"));

    let mut off = with(
        AlertReceivers {
            email: Some(email(None)),
            ..Default::default()
        },
        2,
    );
    off.spec.observability.addons.prometheus = false;
    assert!(has_error(&off, "spec.observability.alertmanager.enabled"));

    for bad in [
        "hooks.corp.example/am",
        "ftp://h/x",
        "https://u:p@h/x",
        "https://h/x?token=abc",
        "https://h/a b",
        "https://h/$(id)",
    ] {
        let s = with(
            AlertReceivers {
                webhook: Some(webhook(bad, false)),
                ..Default::default()
            },
            2,
        );
        assert!(
            has_error(&s, "spec.observability.alertmanager.receivers.webhook.url"),
            "{bad}"
        );
    }
    let s = with(
        AlertReceivers {
            webhook: Some(webhook("http://10.0.0.40/am", true)),
            ..Default::default()
        },
        2,
    );
    assert!(
        has_error(&s, "spec.observability.alertmanager.receivers.webhook.bearerToken"),
        "a token over http"
    );

    let mut e = email(None);
    e.smarthost = "mail.corp.example".into();
    e.from = "alertmanager".into();
    e.to = vec!["ops@corp.example".into(), "ops@corp.example\nBcc: x@y".into()];
    let s = with(
        AlertReceivers {
            email: Some(e),
            ..Default::default()
        },
        2,
    );
    for path in ["smarthost", "from", "to[1]"] {
        assert!(
            has_error(&s, &format!("spec.observability.alertmanager.receivers.email.{path}")),
            "{path}: {:?}",
            diagnostics(&s)
        );
    }
    let mut e = email(None);
    e.to.clear();
    e.ca_certificate = Some("-----BEGIN CERTIFICATE-----\nnot one\n-----END CERTIFICATE-----\n".into());
    let s = with(
        AlertReceivers {
            email: Some(e),
            ..Default::default()
        },
        2,
    );
    assert!(has_error(&s, "spec.observability.alertmanager.receivers.email.to"));
    assert!(has_error(
        &s,
        "spec.observability.alertmanager.receivers.email.caCertificate"
    ));

    let s = with(
        AlertReceivers {
            email: Some(email(None)),
            ..Default::default()
        },
        0,
    );
    assert!(has_error(&s, "spec.observability.alertmanager.replicas"));
    let mut s = with(
        AlertReceivers {
            email: Some(email(None)),
            ..Default::default()
        },
        2,
    );
    s.spec.observability.alertmanager.storage.size = "lots".into();
    s.spec.observability.alertmanager.storage.storage_class_name = Some("Fast SSD".into());
    assert!(has_error(&s, "spec.observability.alertmanager.storage.size"));
    assert!(has_error(
        &s,
        "spec.observability.alertmanager.storage.storageClassName"
    ));

    // The production example states a receiver: no Alertmanager diagnostic.
    let p = example("production");
    assert!(p.spec.observability.alertmanager.enabled);
    assert!(
        !diagnostics(&p)
            .iter()
            .any(|(_, path, _)| path.starts_with("spec.observability.alertmanager"))
    );
    assert!(
        p.spec.observability.alertmanager.receivers.email.is_some()
            && !p.spec.observability.alertmanager.receivers.none
    );
}

// ------------------------------------------------------------------ inhibition, with a real Alertmanager

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn http(port: u16, method: &str, path: &str, body: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    head.split_whitespace()
        .nth(1)
        .is_some_and(|c| c.starts_with('2'))
        .then(|| body.to_string())
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls until `f` gives a value (the process starts, the alerts are taken
/// in), for at most a minute; what is asserted is the value, never the time.
fn poll<T>(mut f: impl FnMut() -> Option<T>) -> Option<T> {
    for _ in 0..600 {
        if let Some(v) = f() {
            return Some(v);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    None
}

#[test]
fn a_real_alertmanager_mutes_exactly_the_duplicates() {
    let s = example("production");
    let tree = render(&s, &Inputs::default()).unwrap();
    let r = alertmanager(&tree);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("alertmanager.yml"), &r.config_text).unwrap();
    let port = free_port();
    let child = Command::new("prometheus-alertmanager")
        .arg(format!(
            "--config.file={}",
            dir.path().join("alertmanager.yml").display()
        ))
        .arg(format!("--storage.path={}", dir.path().display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus-alertmanager (apt-get install prometheus-alertmanager) is needed");
    let _running = Running(child);
    poll(|| http(port, "GET", "/-/ready", "")).expect("Alertmanager starts");

    let site = s.metadata.name.as_str();
    // Alerts as the shipped rules label them.
    let alert = |name: &str, severity: &str, extra: Value| {
        let mut labels = json!({"alertname": name, "severity": severity, "site": site});
        for (k, v) in extra.as_object().unwrap() {
            labels[k] = v.clone();
        }
        labels
    };
    let istiod = json!({"namespace": "istio-system", "pod": "istiod-1-30-3-abc"});
    let other_istiod = json!({"namespace": "istio-system", "pod": "istiod-1-30-3-xyz"});
    let c = |pod: &str| json!({"namespace": "shop", "pod": pod, "container": "web"});
    let ingress = |host: &str| json!({"job": "ingress-certificates", "instance": "istio-ingressgateway.istio-ingress.svc.cluster.local:443", "host": host});
    let cases: Vec<(Value, bool)> = vec![
        // The same alert at both severities about the same container: the warning is muted.
        (alert("ContainerMemoryNearLimit", "critical", c("web-1")), false),
        (alert("ContainerMemoryNearLimit", "warning", c("web-1")), true),
        // ... but not about another container, nor another alert about the same one.
        (alert("ContainerMemoryNearLimit", "warning", c("web-2")), false),
        (alert("ContainerCPUNearLimit", "warning", c("web-1")), false),
        // A service failing with 5xx mutes its latency alert, not another service's.
        (
            alert(
                "MeshServiceHighErrorRate",
                "critical",
                json!({"destination_service": "web.shop.svc.cluster.local"}),
            ),
            false,
        ),
        (
            alert(
                "MeshServiceHighP99Latency",
                "warning",
                json!({"destination_service": "web.shop.svc.cluster.local"}),
            ),
            true,
        ),
        (
            alert(
                "MeshServiceHighP99Latency",
                "warning",
                json!({"destination_service": "cart.shop.svc.cluster.local"}),
            ),
            false,
        ),
        // The root expiring mutes the intermediate of the same istiod only.
        (alert("MeshRootCertificateExpiring", "critical", istiod.clone()), false),
        (
            alert("MeshIntermediateCertificateExpiring", "critical", istiod.clone()),
            true,
        ),
        (
            alert("MeshIntermediateCertificateExpiring", "critical", other_istiod),
            false,
        ),
        // One ingress host's certificate critical mutes its own warning, not
        // another host's (every host is probed through the same gateway
        // address, so `instance` alone does not tell them apart).
        (
            alert(
                "IngressCertificateExpiring",
                "critical",
                ingress("shop.example.internal"),
            ),
            false,
        ),
        (
            alert(
                "IngressCertificateExpiring",
                "warning",
                ingress("shop.example.internal"),
            ),
            true,
        ),
        (
            alert("IngressCertificateExpiring", "warning", ingress("api.example.internal")),
            false,
        ),
        // Certificates of Kubernetes: nothing mutes them.
        (
            alert(
                "KubernetesClientCertificateExpiring",
                "critical",
                json!({"job": "kubernetes-apiservers", "instance": "10.0.0.11:6443"}),
            ),
            false,
        ),
        (
            alert(
                "KubeletClientCertificateExpiring",
                "warning",
                json!({"job": "kubernetes-nodes", "instance": "worker-1"}),
            ),
            false,
        ),
    ];
    let body = serde_json::to_string(
        &cases
            .iter()
            .map(|(l, _)| json!({"labels": l, "annotations": {"summary": "test"}}))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    http(port, "POST", "/api/v2/alerts", &body).expect("Alertmanager takes the alerts");
    let expected: Vec<(String, bool)> = cases.iter().map(|(l, m)| (l.to_string(), *m)).collect();
    let mut last = Vec::new();
    // The inhibitor takes alerts in asynchronously: poll until its view is
    // the expected one, and show the last view if it never is.
    let settled = poll(|| {
        let listed: Vec<Value> = serde_json::from_str(&http(port, "GET", "/api/v2/alerts", "")?).ok()?;
        let mut got: Vec<(String, bool)> = Vec::new();
        for (labels, _) in &cases {
            let a = listed.iter().find(|a| &a["labels"] == labels)?;
            got.push((labels.to_string(), !a["status"]["inhibitedBy"].as_array()?.is_empty()));
        }
        last = got.clone();
        (got == expected).then_some(())
    });
    let wrong: Vec<String> = last
        .iter()
        .zip(&expected)
        .filter(|(g, e)| g != e)
        .map(|(g, _)| format!("{} muted: {}", g.0, g.1))
        .collect();
    assert!(settled.is_some(), "wrong: {wrong:#?} (all: {last:?})");
}

#[test]
fn every_alertmanager_variant_passes_the_strict_schemas() {
    let mut one = with(
        AlertReceivers {
            webhook: Some(webhook("https://hooks.corp.example/am", true)),
            ..Default::default()
        },
        1,
    );
    one.spec.observability.alertmanager.storage.storage_class_name = Some("local-storage".into());
    let three = with(
        AlertReceivers {
            email: Some(email(Some("alertmanager"))),
            ..Default::default()
        },
        3,
    );
    for s in [one, three] {
        let written = meshbundle_core::pki::write_secrets(&secrets(&s)).unwrap();
        let with_credentials =
            format!("{written}alertmanager:\n  smtpPassword: relay-password\n  webhookBearerToken: hook-token\n");
        let secrets = meshbundle_core::pki::parse_secrets(&with_credentials).unwrap();
        let tree = render(
            &s,
            &Inputs {
                secrets: Some(&secrets),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(tree.contains("secrets/alertmanager-credentials.yaml"));
        let dir = tempfile::tempdir().unwrap();
        write_tree(&tree, dir.path());
        let minor: String = s
            .spec
            .kubernetes
            .version
            .split('.')
            .take(2)
            .collect::<Vec<_>>()
            .join(".");
        let o = Command::new("python3")
            .arg(repo().join("tests/tools/validate_tree.py"))
            .args(["--kubernetes", &minor, "--istio", &s.spec.istio.version])
            .arg(dir.path())
            .output()
            .expect("python3 tests/tools/validate_tree.py (pip install -r tests/requirements.txt)");
        assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    }
}

#[test]
fn a_locked_production_build_carries_alertmanager_and_points_the_statefulset_at_it_by_digest() {
    let site = example("production");
    let up = site::serve(&site);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("site.yaml"),
        meshbundle_core::examples::example("production").unwrap(),
    )
    .unwrap();
    let o = meshbundle(d, &["secrets", "generate", "site.yaml", "-o", "site.secrets.yaml"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let with_flags = |args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(up.flags.iter().map(String::as_str));
        meshbundle(d, &all)
    };
    let o = with_flags(&["lock", "site.yaml", "--quiet", "--cache", "cache"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = with_flags(&[
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
    let upstream = meshbundle_core::catalog::catalog().alertmanager.images[0].clone();
    let locked = lock
        .image(&upstream.parse().unwrap())
        .unwrap_or_else(|| panic!("the lock pins {upstream}"));
    let o = meshbundle(d, &["inspect", "site.mbundle", "--format", "json"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        v["notCarried"]["images"].as_array().is_none_or(|a| a.is_empty()),
        "{}",
        v["notCarried"]
    );
    let carried = v["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"].as_str().unwrap().contains("prometheus/alertmanager"))
        .expect("the bundle carries Alertmanager");
    assert_eq!(carried["digest"], locked.site_digest().as_str());

    // The StatefulSet in the bundle names exactly that image, by digest, in the site registry.
    let o = meshbundle(d, &["import", "site.mbundle", "--extract", "out"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let text_manifest = std::fs::read_to_string(d.join("out/manifests/observability/alertmanager.yaml")).unwrap();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text_manifest).unwrap();
    let image = find(&docs, "StatefulSet", "alertmanager")["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap()
        .to_string();
    let (name, digest) = image.split_once('@').unwrap();
    assert_eq!(digest, locked.site_digest().as_str());
    assert!(name.starts_with("10.0.0.5:5000/prometheus/alertmanager"), "{image}");
}

#[test]
fn a_site_ca_reaches_the_file_the_receiver_trusts() {
    let probe = example("production");
    let ca = secrets(&probe).kubeadm.ca.cert.clone();
    let mut hook = webhook("https://hooks.corp.example/am", false);
    hook.ca_certificate = Some(ca.clone());
    let mut mail = email(None);
    mail.ca_certificate = Some(ca.clone());
    let s = with(
        AlertReceivers {
            webhook: Some(hook),
            email: Some(mail),
            none: false,
        },
        2,
    );
    let tree = render(&s, &Inputs::default()).unwrap();
    let r = alertmanager(&tree);
    let sts = find(&r.docs, "StatefulSet", "alertmanager");
    let c = &sts["spec"]["template"]["spec"]["containers"][0];
    // The file a path names in the container: a ConfigMap key under its mount.
    let content = |path: &str| -> String {
        let (dir, key) = path.rsplit_once('/').unwrap();
        let m = c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["mountPath"] == dir)
            .unwrap_or_else(|| panic!("{dir} is not mounted"));
        let v = sts["spec"]["template"]["spec"]["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == m["name"])
            .unwrap();
        let cm = find(&r.docs, "ConfigMap", v["configMap"]["name"].as_str().unwrap());
        cm["data"][key]
            .as_str()
            .unwrap_or_else(|| panic!("no {key}"))
            .to_string()
    };
    let receiver = &r.config["receivers"][0];
    assert_eq!(
        content(
            receiver["webhook_configs"][0]["http_config"]["tls_config"]["ca_file"]
                .as_str()
                .unwrap()
        ),
        ca
    );
    assert_eq!(
        content(receiver["email_configs"][0]["tls_config"]["ca_file"].as_str().unwrap()),
        ca
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("alertmanager.yml"), &r.config_text).unwrap();
    let o = amtool(&["check-config", "alertmanager.yml"], dir.path());
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
}

/// The manifest's header names the credentials file exactly when the render
/// wrote it: with receivers that log in and the secrets to do so, and never
/// for receivers that need nothing.
#[test]
fn the_header_names_the_credentials_file_only_when_it_is_rendered() {
    let cases: Vec<(&str, AlertReceivers, bool)> = vec![
        (
            "none",
            AlertReceivers {
                none: true,
                ..Default::default()
            },
            false,
        ),
        (
            "plain webhook",
            AlertReceivers {
                webhook: Some(webhook("http://10.0.0.40:9000/alerts", false)),
                ..Default::default()
            },
            false,
        ),
        (
            "email without login",
            AlertReceivers {
                email: Some(email(None)),
                ..Default::default()
            },
            false,
        ),
        (
            "webhook with token",
            AlertReceivers {
                webhook: Some(webhook("https://hooks.corp.example/am", true)),
                ..Default::default()
            },
            true,
        ),
        (
            "email with login",
            AlertReceivers {
                email: Some(email(Some("alertmanager"))),
                ..Default::default()
            },
            true,
        ),
    ];
    let file = "secrets/alertmanager-credentials.yaml";
    for (name, receivers, needs) in cases {
        let s = with(receivers, 2);
        let text = meshbundle_core::pki::write_secrets(&secrets(&s)).unwrap();
        let with_credentials = format!(
            "{text}alertmanager:\n  smtpPassword: s3cret-Relay-Pa55\n  webhookBearerToken: tok.abcdef0123456789\n"
        );
        let secrets = meshbundle_core::pki::parse_secrets(&with_credentials).unwrap();
        for inputs in [
            Inputs {
                secrets: Some(&secrets),
                ..Default::default()
            },
            Inputs::default(),
        ] {
            let tree = render(&s, &inputs).unwrap_or_else(|e| panic!("{name}: {e}"));
            let manifest = String::from_utf8(
                tree.get("manifests/observability/alertmanager.yaml")
                    .unwrap()
                    .bytes
                    .clone(),
            )
            .unwrap();
            let header: String = manifest
                .lines()
                .take_while(|l| l.starts_with('#'))
                .collect::<Vec<_>>()
                .join("\n");
            let rendered = tree.get(file).is_some();
            assert_eq!(rendered, needs && inputs.secrets.is_some(), "{name}");
            assert_eq!(header.contains(file), rendered, "{name}: the header says\n{header}");
        }
    }
}
