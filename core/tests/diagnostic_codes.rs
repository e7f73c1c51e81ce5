//! Every diagnostic code is a variant of `diag::Code`, emitted somewhere, and
//! made by a fixture whose diagnostics are snapshotted.
//!
//! - The compiler sees that every emitted code is a variant. This test sees
//!   the rest: each variant is written as the string it always was (the CLI's
//!   JSON, the web page and scripts match on them: [`STRINGS`] pins them),
//!   each is emitted by a diagnostic constructor somewhere in the sources (a
//!   `Code::Variant` first argument of `.error(`, `.warning(`,
//!   `Diagnostic::error(` or `Diagnostic::warning(`), and no code string is
//!   made outside the enum.
//! - Each code has a fixture in `core/tests/diagnostics/`, named `CODE.yaml`
//!   or `CODE.CASE.yaml`, that makes it when read the way the CLI reads it;
//!   no fixture names a code that is not a variant. A code no file can make
//!   (`read`: the file is not there to hold it) is made by a named CLI test
//!   instead ([`CLI_COVERED`]), and one no input can make by none
//!   ([`NO_INPUT_MAKES`]).
//! - The full list of diagnostics of each fixture (severity, code, path,
//!   line:column, message, hint) is a snapshot in `core/tests/snapshots/`.
//!
//! A fixture is a site spec unless its first lines say otherwise:
//! - `# fixture: secrets for example NAME`: a secrets file, read as
//!   `meshbundle render --secrets` reads it and checked against that example
//!   spec, one day after the file's `created` time;
//! - `# fixture: padded past the size limit`: a site spec padded with comment
//!   lines to one byte more than a spec may have.
//!
//! A spec fixture is [`BASE`] (the lab example cut to what it must state) with
//! the one change its first line names. It is read as `meshbundle validate`
//! reads it (`load_bytes`); when that finds no error, it is also made a
//! validated site, as `render` and `build` do. Review a changed snapshot as a
//! diagnostic a user reads: its place, its message and its hint.
//! `INSTA_UPDATE=always cargo test -p meshbundle-core --test diagnostic_codes`
//! writes the snapshots anew (and `git diff` shows what changed); a snapshot
//! whose fixture is gone fails the test.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use meshbundle_core::diag::{Code, Diagnostic, Severity};
use meshbundle_core::spec::load::{MAX_SPEC_BYTES, load, load_bytes};

/// The spec every spec fixture changes one thing of: the lab example without
/// what takes its default, and with the load balancer the site provides.
const BASE: &str = "\
apiVersion: meshbundle.dev/v1alpha1
kind: Site
metadata:
  name: lab
spec:
  kubernetes:
    version: 1.36.5
  nodes:
    - name: lab-1
      address: 192.168.56.10
      role: control-plane
      zone: lab
  registry: 192.168.56.10:5000
  time:
    sourceNode: lab-1
  loadBalancer:
    provider: existing
  istio:
    version: 1.30.3
";

/// Every code as it is written, in order. A changed or removed string
/// breaks the scripts and the web page that match on it: change this list
/// only to add a code.
#[rustfmt::skip]
const STRINGS: &[&str] = &[
    "addons", "address", "alertmanager", "alerts", "api-version", "architectures", "authorization",
    "calico-scale", "catalog", "control-plane", "deprecated", "duplicate", "duration", "egress",
    "empty", "endpoint", "env", "file", "host", "hpa", "image", "invalid-type", "invalid-value",
    "jwks-uri", "jwt", "kind", "kubeadm-api", "labels", "load-balancer", "metrics-server",
    "missing-field", "mtls", "name", "namespace", "network", "network-overlap", "nodes",
    "not-a-mapping", "not-text", "outlier", "path", "percent", "pki", "pool", "port", "ports",
    "principal", "prometheus", "proxy", "quantity", "read", "registry", "replicas", "resources",
    "revision", "revision-tag", "secrets", "service", "support-policy", "sysctl", "time",
    "timezone", "tls", "too-large", "trace-sampling", "unknown-field", "unsupported-version",
    "version", "version-matrix", "workers", "yaml", "yaml-budget", "yaml-tag", "zones",
];

/// Codes no input can make: they report a broken invariant of meshbundle itself.
const NO_INPUT_MAKES: &[Code] = &[Code::Catalog];

/// Codes no fixture can make, each with the CLI test that makes it and
/// checks it: the test's file (from the workspace root) and its function,
/// whose text must name the code's string.
const CLI_COVERED: &[(Code, &str, &str)] = &[(
    Code::Read,
    "bundler/tests/cli_spec.rs",
    "validate_json_reports_a_file_it_cannot_read",
)];

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn workspace_dir() -> PathBuf {
    manifest_dir().parent().unwrap().to_path_buf()
}

fn fixture_dir() -> PathBuf {
    manifest_dir().join("tests/diagnostics")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The variant's name as the sources write it: `Code::NetworkOverlap`.
fn variant(code: Code) -> String {
    format!("Code::{code:?}")
}

/// Where each code is emitted: every call of `.error(`, `.warning(`,
/// `Diagnostic::error(` or `Diagnostic::warning(` whose first argument is a
/// `Code::Variant`, in `core/src` and in the bundler's and the web build's
/// sources. Returned as problems, since the emitted codes could not be
/// checked against them: in `core/src`, a call whose code is not written as
/// a variant; anywhere, a `Diagnostic::` call whose code is not, a struct
/// literal of `Diagnostic` or an assignment to `.code` (outside `diag.rs`),
/// and a JSON `"code":` written by hand (a code string outside the enum).
fn emitted_codes() -> (BTreeMap<String, Vec<String>>, Vec<String>) {
    let root = workspace_dir();
    let mut files = Vec::new();
    for dir in ["core/src", "bundler/src", "wasm/src"] {
        rust_files(&root.join(dir), &mut files);
    }
    let mut codes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut problems = Vec::new();
    for file in files {
        let rel = file.strip_prefix(&root).unwrap().display().to_string();
        let text = fs::read_to_string(&file).unwrap();
        let in_diag = rel == "core/src/diag.rs";
        let in_core = rel.starts_with("core/");
        let line_of = |at: usize| text[..at].matches('\n').count() + 1;
        for call in [".error(", ".warning(", "Diagnostic::error(", "Diagnostic::warning("] {
            // (`Diagnostic::error(` does not contain `.error(`: no call is found twice.)
            for (at, _) in text.match_indices(call) {
                let args = text[at + call.len()..].trim_start();
                let place = format!("{rel}:{}", line_of(at));
                let name: String = args
                    .strip_prefix("Code::")
                    .map(|a| a.chars().take_while(|c| c.is_ascii_alphanumeric()).collect())
                    .unwrap_or_default();
                if !name.is_empty() {
                    codes.entry(format!("Code::{name}")).or_default().push(place);
                } else if !in_diag && (in_core || call.starts_with("Diagnostic::")) {
                    problems.push(format!(
                        "{place}: the code of `{call}` is not written as `Code::Variant`"
                    ));
                }
            }
        }
        if !in_diag {
            // A struct literal (not a function's return type), or an assignment (not `==`).
            let literals = text
                .match_indices("Diagnostic {")
                .filter(|(at, _)| !text[..*at].ends_with("-> "));
            let assignments = text
                .match_indices(".code =")
                .filter(|(at, m)| !text[at + m.len()..].starts_with('='));
            let by_hand = text.match_indices("\"code\":");
            for (at, pattern) in literals.chain(assignments).chain(by_hand) {
                problems.push(format!(
                    "{rel}:{}: `{pattern}` sets a code this test cannot see",
                    line_of(at)
                ));
            }
        }
    }
    (codes, problems)
}

#[test]
fn every_code_is_written_as_its_committed_string() {
    let written: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(
        written, STRINGS,
        "Code::ALL, as written, differs from the committed list"
    );
    let mut sorted = written.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(written, sorted, "Code::ALL must be sorted by string, each code once");
    for &code in Code::ALL {
        let s = code.as_str();
        assert!(
            !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
            "`{s}`: a code is lowercase words joined by `-`"
        );
        // The variant is the string in UpperCamelCase, so a reader (and the
        // scan below) finds one from the other.
        let camel: String = s.split('-').map(|w| w[..1].to_ascii_uppercase() + &w[1..]).collect();
        assert_eq!(format!("{code:?}"), camel, "`{s}`");
        assert!(!code.about().is_empty(), "`{s}` says nothing about itself");
        assert_eq!(code.to_string(), s);
        assert_eq!(serde_json::to_value(code).unwrap(), serde_json::json!(s));
        assert_eq!(Code::parse(s), Some(code));
    }
    assert_eq!(Code::parse("no-such-code"), None);
}

#[test]
fn the_sources_emit_every_code() {
    let (emitted, problems) = emitted_codes();
    assert!(
        problems.is_empty(),
        "diagnostics this test cannot check:\n{}",
        problems.join("\n")
    );
    let known: BTreeSet<String> = Code::ALL.iter().map(|c| variant(*c)).collect();
    // A name the compiler accepted is a variant; this guards the scan itself.
    let strays: Vec<&String> = emitted.keys().filter(|v| !known.contains(*v)).collect();
    assert!(
        strays.is_empty(),
        "the scan read calls with codes that are not variants: {strays:?}"
    );
    let unused: Vec<&str> = Code::ALL
        .iter()
        .filter(|c| !emitted.contains_key(&variant(**c)))
        .map(|c| c.as_str())
        .collect();
    assert!(unused.is_empty(), "codes nothing emits: {unused:?}");
}

#[test]
fn the_web_page_matches_only_codes() {
    let dir = workspace_dir().join("web/src");
    let mut matched = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "js") {
            continue;
        }
        let text = fs::read_to_string(&path).unwrap();
        for op in ["code === \"", "code !== \"", "code == \"", "code != \""] {
            for (at, m) in text.match_indices(op) {
                let s = text[at + m.len()..].split('"').next().unwrap();
                assert!(
                    Code::parse(s).is_some(),
                    "{}: matches `{s}`, which is no diagnostic code",
                    path.display()
                );
                matched += 1;
            }
        }
    }
    assert!(
        matched > 0,
        "found no code the page matches on: has the page changed how it does?"
    );
}

#[test]
fn the_base_spec_is_valid_and_quiet() {
    let loaded = load(BASE);
    assert!(loaded.diagnostics.is_empty(), "{:#?}", loaded.diagnostics);
    assert!(loaded.into_validated().is_ok());
}

/// A fixture's name, which is its snapshot's: its file name without `.yaml`.
fn name_of(fixture: &Path) -> String {
    let name = fixture.file_name().unwrap().to_str().unwrap();
    name.trim_end_matches(".yaml").to_string()
}

/// The code a fixture is for: its file name up to the first `.`.
fn code_of(fixture: &Path) -> String {
    let name = fixture.file_name().unwrap().to_str().unwrap();
    name.split('.').next().unwrap().to_string()
}

fn fixtures() -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = fs::read_dir(fixture_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    all.sort();
    for p in &all {
        assert!(
            p.extension().is_some_and(|e| e == "yaml"),
            "{}: fixtures are CODE.yaml or CODE.CASE.yaml",
            p.display()
        );
    }
    all
}

#[test]
fn every_code_has_a_fixture_and_every_fixture_a_code() {
    let fixtures = fixtures();
    let strays: Vec<String> = fixtures
        .iter()
        .map(|p| code_of(p))
        .filter(|c| Code::parse(c).is_none())
        .collect();
    assert!(
        strays.is_empty(),
        "fixtures for codes that are not variants of diag::Code: {strays:?}"
    );
    let with_fixture: BTreeSet<Code> = fixtures.iter().filter_map(|p| Code::parse(&code_of(p))).collect();
    let cli: BTreeSet<Code> = CLI_COVERED.iter().map(|(c, _, _)| *c).collect();
    let without: Vec<&str> = Code::ALL
        .iter()
        .filter(|c| !with_fixture.contains(c) && !cli.contains(c) && !NO_INPUT_MAKES.contains(c))
        .map(|c| c.as_str())
        .collect();
    assert!(
        without.is_empty(),
        "codes without a fixture in core/tests/diagnostics/: {without:?}"
    );
    for c in NO_INPUT_MAKES.iter().chain(&cli) {
        assert!(
            !with_fixture.contains(c),
            "`{c}` has a fixture: take it off NO_INPUT_MAKES or CLI_COVERED"
        );
    }
    assert!(
        NO_INPUT_MAKES.iter().all(|c| !cli.contains(c)),
        "a code no input makes has no CLI test either"
    );
}

/// Each code of [`CLI_COVERED`] has its test: the file holds the function,
/// and the function's text names the code's string.
#[test]
fn every_code_without_a_fixture_has_its_cli_test() {
    for (code, file, function) in CLI_COVERED {
        let path = workspace_dir().join(file);
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("`{code}`: {file}: {e}"));
        let start = text
            .find(&format!("#[test]\nfn {function}() {{\n"))
            .unwrap_or_else(|| panic!("`{code}`: {file} has no test `{function}`"));
        // The function runs to the first line that closes an item.
        let body = &text[start..];
        let body = &body[..body.find("\n}\n").map_or(body.len(), |e| e + 3)];
        assert!(
            body.contains(&format!("\"{}\"", code.as_str())),
            "`{code}`: {file}: `{function}` does not check the code `\"{code}\"`"
        );
    }
}

#[test]
fn every_snapshot_has_its_fixture() {
    let names: BTreeSet<String> = fixtures().iter().map(|p| name_of(p)).collect();
    let dir = manifest_dir().join("tests/snapshots");
    let orphans: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|f| {
            let name = f.strip_prefix("diagnostic_codes__")?.strip_suffix(".snap")?.to_string();
            (!names.contains(&name)).then_some(f)
        })
        .collect();
    assert!(
        orphans.is_empty(),
        "snapshots in {} with no fixture: {orphans:?}",
        dir.display()
    );
}

/// What a fixture is, from its first comment lines.
enum Kind {
    Spec,
    Padded,
    Secrets { example: String },
}

fn kind_of(text: &str) -> Kind {
    let directive = text
        .lines()
        .take_while(|l| l.starts_with('#'))
        .find_map(|l| l.strip_prefix("# fixture: "));
    match directive {
        None => Kind::Spec,
        Some("padded past the size limit") => Kind::Padded,
        Some(d) => match d.strip_prefix("secrets for example ") {
            Some(name) => Kind::Secrets {
                example: name.trim().to_string(),
            },
            None => panic!("unknown fixture directive `{d}`"),
        },
    }
}

fn render(diags: &[Diagnostic], out: &mut String) {
    if diags.is_empty() {
        out.push_str("(none)\n");
    }
    for d in diags {
        let severity = match d.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let path = if d.path.is_empty() { "(document)" } else { &d.path };
        writeln!(out, "{severity}[{}] {path} at {}:{}", d.code, d.line, d.column).unwrap();
        writeln!(out, "  message: {}", d.message).unwrap();
        writeln!(out, "  hint: {}", d.hint).unwrap();
    }
}

/// The diagnostics of a fixture, read as the CLI reads it, and their report.
fn run(fixture: &Path) -> (Vec<Diagnostic>, String) {
    let bytes = fs::read(fixture).unwrap();
    let name = fixture.file_name().unwrap().to_str().unwrap();
    let mut report = format!("fixture: {name}\n");
    let kind = kind_of(&String::from_utf8_lossy(&bytes));
    match kind {
        Kind::Spec | Kind::Padded => {
            let mut bytes = bytes;
            if matches!(kind, Kind::Padded) {
                let line = format!("#{}\n", "-".repeat(78));
                while bytes.len() <= MAX_SPEC_BYTES {
                    bytes.extend_from_slice(line.as_bytes());
                }
                bytes.truncate(MAX_SPEC_BYTES + 1);
                report.push_str("read: as `meshbundle validate` reads a spec, padded to one byte past the limit\n");
            } else {
                report.push_str("read: as `meshbundle validate` reads a spec\n");
            }
            let loaded = load_bytes(&bytes);
            let mut diags = loaded.diagnostics.clone();
            render(&loaded.diagnostics, &mut report);
            if !loaded.has_errors() {
                let after = match loaded.into_validated() {
                    Ok(_) => Vec::new(),
                    Err(l) => l.diagnostics,
                };
                report.push_str("then: made a validated site, as `render` and `build` do\n");
                render(&after, &mut report);
                diags.extend(after);
            }
            (diags, report)
        }
        Kind::Secrets { example } => {
            let spec = meshbundle_core::examples::example(&example)
                .unwrap_or_else(|| panic!("{name}: there is no example `{example}`"));
            let site = load(spec)
                .into_validated()
                .unwrap_or_else(|_| panic!("the example `{example}` is valid"));
            let text = String::from_utf8(bytes).expect("a secrets fixture is text");
            let secrets = meshbundle_core::pki::SecretsFile::parse(&text)
                .unwrap_or_else(|e| panic!("{name}: the secrets file does not parse: {e}"));
            let now = secrets.secrets.created + 24 * 3600;
            writeln!(
                report,
                "read: as `meshbundle render --secrets` reads secrets, for the example `{example}`, at created + 1 day"
            )
            .unwrap();
            let diags = secrets.check(&site, now);
            render(&diags, &mut report);
            (diags, report)
        }
    }
}

#[test]
fn every_fixture_makes_its_code() {
    let mut failed = Vec::new();
    for fixture in fixtures() {
        let code = code_of(&fixture);
        let name = name_of(&fixture);
        let (diags, report) = run(&fixture);
        if !diags.iter().any(|d| d.code.as_str() == code) {
            failed.push(format!("{name}: no `{code}` diagnostic; it gave:\n{report}"));
        }
        // Every snapshot is compared, and all the differences shown, before failing.
        let snapshot = catch_unwind(AssertUnwindSafe(|| {
            insta::with_settings!({ omit_expression => true }, {
                insta::assert_snapshot!(name.clone(), report);
            });
        }));
        if snapshot.is_err() {
            failed.push(format!("{name}: the diagnostics differ from the snapshot"));
        }
    }
    assert!(failed.is_empty(), "{} problem(s):\n{}", failed.len(), failed.join("\n"));
}
