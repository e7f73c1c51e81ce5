//! YAML tags in specs, locks and secrets files: `!!str` is the only tag
//! accepted; every other one (an application tag such as `!custom`, a core
//! tag such as `!!binary` or `!!map`, a tag on a mapping, on a sequence or on
//! a key) is refused at its line and column instead of being dropped.

use meshbundle_core::diag::Code;
use meshbundle_core::examples::example;
use meshbundle_core::spec::load::load;

fn production() -> &'static str {
    example("production").unwrap()
}

fn secrets_fixture() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/production.secrets.yaml"
    ))
    .unwrap()
}

/// A small, valid lock.
const LOCK: &str = "apiVersion: meshbundle.dev/v1alpha1
kind: Lock
images:
- name: registry.k8s.io/pause:3.10
  digest: sha256:0000000000000000000000000000000000000000000000000000000000000001
files:
- name: kubeadm-amd64
  url: https://dl.k8s.io/release/v1.36.5/bin/linux/amd64/kubeadm
  sha256: 0000000000000000000000000000000000000000000000000000000000000002
  size: 1
";

fn replace(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "`{from}` not in the text");
    text.replacen(from, to, 1)
}

/// The line (1-based) of the first occurrence of `needle`.
fn line_of(text: &str, needle: &str) -> u32 {
    text.lines().position(|l| l.contains(needle)).unwrap() as u32 + 1
}

#[test]
fn spec_tags_are_refused_with_line_column_and_path() {
    let cases = [
        // (replace, with, path, the line the tag is on or its node starts)
        (
            "  registry: 10.0.0.5:5000",
            "  registry: !custom 10.0.0.5:5000",
            "spec.registry",
            "registry: !custom",
        ),
        (
            "  registry: 10.0.0.5:5000",
            "  registry: !!binary MTAuMC4wLjU6NTAwMA==",
            "spec.registry",
            "registry: !!binary",
        ),
        (
            "  registry: 10.0.0.5:5000",
            "  registry: !!int 10",
            "spec.registry",
            "registry: !!int",
        ),
        (
            "  timezone: Etc/UTC",
            "  !custom timezone: Etc/UTC",
            "spec.timezone",
            "!custom timezone",
        ),
        (
            "  timezone: Etc/UTC",
            "  timezone: !<tag:example.com,2024:tz> Etc/UTC",
            "spec.timezone",
            "timezone: !<",
        ),
    ];
    for (from, to, path, at) in cases {
        let text = replace(production(), from, to);
        let l = load(&text);
        let d = l
            .diagnostics
            .iter()
            .find(|d| d.code == Code::YamlTag)
            .unwrap_or_else(|| panic!("{to}: not refused: {:#?}", l.diagnostics));
        assert!(d.is_error());
        assert_eq!(d.path, path, "{to}");
        assert_eq!(d.line, line_of(&text, at), "{to}: {d:?}");
        assert!(d.column > 0, "{to}");
        assert!(l.site.is_none(), "{to}: a spec with a tag is not read");
    }
    // A tag on a mapping: reported at the mapping.
    let text = replace(production(), "  kubernetes:\n", "  kubernetes: !custom\n");
    let l = load(&text);
    let d = l
        .diagnostics
        .iter()
        .find(|d| d.code == Code::YamlTag)
        .expect("a tag on a mapping is refused");
    assert_eq!(d.path, "spec.kubernetes");
    assert!(d.line >= line_of(&text, "kubernetes: !custom"), "{d:?}");
    assert!(d.message.contains("!custom"), "{d:?}");
    // On a sequence, and a core tag on the whole document.
    let text = replace(production(), "  nodes:\n", "  nodes: !!seq\n");
    assert!(
        load(&text)
            .diagnostics
            .iter()
            .any(|d| d.code == Code::YamlTag && d.path == "spec.nodes" && d.message.contains("!!seq"))
    );
    let text = format!("--- !!map\n{}", production());
    assert!(
        load(&text)
            .diagnostics
            .iter()
            .any(|d| d.code == Code::YamlTag && d.path.is_empty())
    );
}

#[test]
fn str_tags_and_plain_scalars_still_work() {
    let text = replace(
        production(),
        "  registry: 10.0.0.5:5000",
        "  registry: !!str 10.0.0.5:5000",
    );
    let l = load(&text);
    assert!(!l.has_errors(), "{:#?}", l.diagnostics);
    assert_eq!(l.site.unwrap().spec.registry, "10.0.0.5:5000");
    // A YAML 1.1 boolean word stays text, with or without `!!str`.
    for desc in ["yes", "!!str on", "off", "!!str no", "y"] {
        let text = replace(
            production(),
            "  description: Production cluster, three zones",
            &format!("  description: {desc}"),
        );
        let l = load(&text);
        assert!(!l.has_errors(), "{desc}: {:#?}", l.diagnostics);
        assert_eq!(
            l.site.unwrap().metadata.description.as_deref(),
            Some(desc.trim_start_matches("!!str "))
        );
    }
}

#[test]
fn lock_tags_are_refused_with_line_column_and_field() {
    assert!(meshbundle_core::lock::parse(LOCK).is_ok());
    for (from, to, field) in [
        ("  digest: sha256:", "  digest: !custom sha256:", "images[0].digest"),
        ("  size: 1", "  size: !!int 1", "files[0].size"),
        ("  sha256: 0000", "  sha256: !!binary 0000", "files[0].sha256"),
        (
            "- name: kubeadm-amd64",
            "- !custom name: kubeadm-amd64",
            "files[0].name",
        ),
        ("files:\n", "files: !custom\n", "files"),
    ] {
        let text = replace(LOCK, from, to);
        let e = meshbundle_core::lock::parse(&text).expect_err(to).to_string();
        let line = line_of(&text, to.lines().next().unwrap().trim());
        assert!(e.contains("tag"), "{to}: {e}");
        assert!(e.contains(&format!(": {field}: ")), "{to}: {e}");
        let (at, _) = e.split_once(": ").unwrap();
        let (l, c) = at
            .split_once(':')
            .unwrap_or_else(|| panic!("{to}: no line and column in {e}"));
        let l: u32 = l.parse().unwrap();
        assert!(l == line || l == line + 1, "{to}: line {l}, expected {line}: {e}");
        assert!(c.parse::<u32>().unwrap() > 0);
    }
    let text = replace(LOCK, "  url: https", "  url: !!str https");
    assert!(meshbundle_core::lock::parse(&text).is_ok(), "!!str is accepted");
}

#[test]
fn secrets_tags_are_refused_with_line_column_and_field() {
    let good = secrets_fixture();
    assert!(meshbundle_core::pki::parse_secrets(&good).is_ok());
    for (from, to, field) in [
        ("  token: ", "  token: !custom ", "kubeadm.token"),
        (
            "  certificateKey: ",
            "  certificateKey: !!binary ",
            "kubeadm.certificateKey",
        ),
        ("kubeadm:\n", "kubeadm: !custom\n", "kubeadm"),
    ] {
        let text = replace(&good, from, to);
        let e = meshbundle_core::pki::parse_secrets(&text)
            .map(|_| ())
            .expect_err(to)
            .to_string();
        assert!(e.contains("tag") || e.contains("binary"), "{to}: {e}");
        assert!(
            e.contains(&format!(": {field}: ")) || e.contains(&format!(" {field}: ")),
            "{to}: {e}"
        );
        let (at, _) = e.split_once(": ").unwrap();
        assert!(
            at.split_once(':')
                .is_some_and(|(l, c)| l.parse::<u32>().is_ok() && c.parse::<u32>().is_ok()),
            "{to}: {e}"
        );
    }
}
