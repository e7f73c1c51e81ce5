//! Errors from deep layers reach the user whole: what failed, then each cause
//! of it once, then what to do. Each test makes a real failure (a registry
//! answering 500 through `tests/tools/fault_proxy.py`, a blob whose bytes are
//! not its digest, a lock only its owner may read) and reads the binary's
//! standard error.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::registry::*;
use common::*;

/// The lines of an error report: `error: MESSAGE`, `  caused by: CAUSE`…,
/// then `  hint: HINT`. Checks the shape, and that no line repeats what an
/// earlier line already says.
struct Report {
    message: String,
    causes: Vec<String>,
    hint: Option<String>,
}

fn report(stderr: &str) -> Report {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no `error:` line: {stderr}"));
    let message = lines[start].trim_start_matches("error: ").to_string();
    let mut causes = Vec::new();
    let mut hint = None;
    for l in &lines[start + 1..] {
        if let Some(c) = l.strip_prefix("  caused by: ") {
            assert!(hint.is_none(), "a cause after the hint: {stderr}");
            causes.push(c.to_string());
        } else if let Some(h) = l.strip_prefix("  hint: ") {
            hint = Some(h.to_string());
        } else {
            panic!("a line that is neither a cause nor the hint: {l:?} in {stderr}");
        }
    }
    let said: Vec<&String> = std::iter::once(&message).chain(&causes).collect();
    for (i, later) in said.iter().enumerate() {
        for earlier in &said[..i] {
            assert!(
                !earlier.contains(later.as_str()),
                "{later:?} is said twice (already in {earlier:?}): {stderr}"
            );
        }
    }
    Report { message, causes, hint }
}

/// An image `fixtures/app:1` in the registry: its name and the digest of its layer.
fn image(reg: &TestRegistry, d: &Path) -> (String, String) {
    umoci_image(&d.join("src"), "app", &[vec![("hello", b"hello, chains".to_vec())]]);
    let name = format!("{}/fixtures/app:1", reg.host);
    push(&d.join("src"), "app", &name, None);
    let m = run(Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci:{}:app", d.join("src").display())));
    let m: serde_json::Value = serde_json::from_str(&m).unwrap();
    (name, m["layers"][0]["digest"].as_str().unwrap().to_string())
}

fn via(proxy: &FaultProxy, name: &str) -> String {
    name.replacen(name.split('/').next().unwrap(), &proxy.host, 1)
}

#[test]
fn a_registry_that_answers_500_is_reported_as_what_failed_then_why() {
    let reg = TestRegistry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (name, _) = image(&reg, d);
    let proxy = FaultProxy::start(&reg.host, &["--fail-path", "/manifests/"]);
    let name = via(&proxy, &name);
    let o = meshbundle(
        d,
        &[
            "image",
            "pull",
            "--quiet",
            &name,
            "--insecure",
            &proxy.host,
            "-o",
            "layout",
            "--cache",
            "cache",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    let r = report(&err);
    assert_eq!(r.message, "cannot pull into layout", "{err}");
    assert_eq!(r.causes.len(), 1, "{err}");
    assert!(r.causes[0].starts_with(&name) && r.causes[0].contains("500"), "{err}");
    assert!(r.hint.is_some_and(|h| h.contains("registry")), "{err}");
    // Each try is told as it fails; the report after them says the status once.
    let tail = &err[err.find("error: ").unwrap()..];
    assert_eq!(tail.matches("500").count(), 1, "the status is said once: {err}");
}

#[test]
fn a_blob_whose_bytes_are_not_its_digest_is_named_under_what_failed() {
    let reg = TestRegistry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (name, layer) = image(&reg, d);
    let proxy = FaultProxy::start(&reg.host, &["--corrupt", &layer]);
    let name = via(&proxy, &name);
    let o = meshbundle(
        d,
        &[
            "image",
            "pull",
            "--quiet",
            &name,
            "--insecure",
            &proxy.host,
            "-o",
            "layout",
            "--cache",
            "cache",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    let r = report(&err);
    assert_eq!(r.message, "cannot pull into layout", "{err}");
    assert_eq!(r.causes.len(), 1, "{err}");
    assert!(r.causes[0].contains(&layer) && r.causes[0].contains("damaged"), "{err}");
    assert!(r.hint.is_some_and(|h| h.contains("do not use them")), "{err}");
    let tail = &err[err.find("error: ").unwrap()..];
    assert_eq!(tail.matches(&layer).count(), 1, "the blob is named once: {err}");
}

#[test]
fn a_lock_only_its_owner_may_read_is_named_with_the_system_error_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::copy(repo().join("core/examples/lab.yaml"), d.join("site.yaml")).unwrap();
    std::fs::set_permissions(d.join("site.yaml"), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(d.join("meshbundle.lock"), "version: 1\n").unwrap();
    std::fs::set_permissions(d.join("meshbundle.lock"), std::fs::Permissions::from_mode(0o600)).unwrap();
    // The tests run as root, who may read anything: run the binary as nobody.
    let o = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(bin())
        .args(["render", "site.yaml", "--lock", "meshbundle.lock", "--tar", "/dev/null"])
        .current_dir(d)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    let r = report(&err);
    assert!(
        r.message.contains("meshbundle.lock") && r.message.contains("Permission denied"),
        "{err}"
    );
    assert!(r.causes.is_empty(), "{err}");
    assert_eq!(err.matches("Permission denied").count(), 1, "{err}");
    assert!(r.hint.is_some_and(|h| h.contains("permissions")), "{err}");
}

#[test]
fn a_registry_that_does_not_answer_is_reported_with_each_cause_once() {
    // A port on 127.0.0.1 that nothing listens on: every try is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let host = format!("127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let name = format!("{host}/fixtures/app:1");
    let o = meshbundle(
        d,
        &[
            "image",
            "pull",
            "--quiet",
            &name,
            "--insecure",
            &host,
            "-o",
            "layout",
            "--cache",
            "cache",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    let r = report(&err);
    assert_eq!(r.message, "cannot pull into layout", "{err}");
    // What failed (the image, the manifest, no answer after every try),
    // then the HTTP client's own chain down to the system's refusal.
    assert!(r.causes.len() >= 3, "a chain of causes: {err}");
    assert!(
        r.causes[0].starts_with(&format!("{name}: manifest 1: no answer from {host} (6 tries)")),
        "{err}"
    );
    assert!(
        r.causes.last().unwrap().contains("Connection refused"),
        "the system's refusal ends the chain: {err}"
    );
    assert!(r.hint.is_some_and(|h| h.contains("network")), "{err}");
    // The report after the tries (which say `tcp connect error: ` themselves).
    let tail = &err[err.find("\nerror: ").unwrap()..];
    for once in ["Connection refused", "error sending request", "6 tries", "no answer"] {
        assert_eq!(tail.matches(once).count(), 1, "`{once}` is said once: {err}");
    }
    // Each try that is retried says why on its own line, cause and all.
    let waits: Vec<&str> = err.lines().filter(|l| l.contains("waiting")).collect();
    assert_eq!(waits.len(), 5, "{err}");
    assert!(
        waits
            .iter()
            .all(|l| l.contains("no answer from") && l.contains("Connection refused")),
        "{err}"
    );
}
