//! Every diagnostic code is listed once, in `diag::CODES`, and made by a
//! fixture whose diagnostics are snapshotted.
//!
//! - The sources emit exactly the codes of the table: every call of a
//!   diagnostic constructor in `core/src` names its code as a string literal,
//!   and the set of those literals is the table.
//! - Each code has a fixture in `core/tests/diagnostics/`, named `CODE.yaml`
//!   or `CODE.CASE.yaml`, that makes it when read the way the CLI reads it;
//!   no fixture names a code outside the table.
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

use meshbundle_core::diag::{CODES, Diagnostic, Severity};
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

/// Codes no input can make: they report a broken invariant of meshbundle itself.
const NO_INPUT_MAKES: &[&str] = &["catalog"];

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
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

/// Where each code is emitted in `core/src`: every call of `.error(`,
/// `.warning(`, `Diagnostic::error(` or `Diagnostic::warning(`, by the string
/// literal it starts with. A call whose code is not a literal, a struct
/// literal of `Diagnostic` or an assignment to `.code` outside `diag.rs`
/// is returned as a problem: the table could not be checked against it.
fn emitted_codes() -> (BTreeMap<String, Vec<String>>, Vec<String>) {
    let src = manifest_dir().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut codes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut problems = Vec::new();
    for file in files {
        let rel = file.strip_prefix(manifest_dir()).unwrap().display().to_string();
        let text = fs::read_to_string(&file).unwrap();
        let in_diag = rel == "src/diag.rs";
        let line_of = |at: usize| text[..at].matches('\n').count() + 1;
        for call in [".error(", ".warning(", "Diagnostic::error(", "Diagnostic::warning("] {
            // (`Diagnostic::error(` does not contain `.error(`: no call is found twice.)
            for (at, _) in text.match_indices(call) {
                let args = text[at + call.len()..].trim_start();
                let place = format!("{rel}:{}", line_of(at));
                match args.strip_prefix('"').and_then(|a| a.split_once('"')) {
                    Some((code, _)) => codes.entry(code.to_string()).or_default().push(place),
                    None if in_diag => {}
                    None => problems.push(format!("{place}: the code of `{call}` is not a string literal")),
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
            for (at, pattern) in literals.chain(assignments) {
                problems.push(format!(
                    "{rel}:{}: `{pattern}` sets a code the table cannot see",
                    line_of(at)
                ));
            }
        }
    }
    (codes, problems)
}

#[test]
fn the_table_is_sorted_and_says_what_each_code_is() {
    let names: Vec<&str> = CODES.iter().map(|(c, _)| *c).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(names, sorted, "diag::CODES must be sorted, each code once");
    for (code, about) in CODES {
        assert!(
            !code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
            "`{code}`: a code is lowercase words joined by `-`"
        );
        assert!(!about.is_empty(), "`{code}` says nothing about itself");
        assert_eq!(meshbundle_core::diag::about(code), Some(*about));
    }
    assert_eq!(meshbundle_core::diag::about("no-such-code"), None);
}

#[test]
fn the_sources_emit_exactly_the_codes_of_the_table() {
    let (emitted, problems) = emitted_codes();
    assert!(
        problems.is_empty(),
        "diagnostics the table cannot be checked against:\n{}",
        problems.join("\n")
    );
    let table: BTreeSet<&str> = CODES.iter().map(|(c, _)| *c).collect();
    let missing: Vec<String> = emitted
        .iter()
        .filter(|(c, _)| !table.contains(c.as_str()))
        .map(|(c, at)| format!("`{c}` (at {})", at.join(", ")))
        .collect();
    let unused: Vec<&&str> = table.iter().filter(|c| !emitted.contains_key(**c)).collect();
    assert!(
        missing.is_empty(),
        "codes emitted but not in diag::CODES: {}",
        missing.join("; ")
    );
    assert!(unused.is_empty(), "codes in diag::CODES that nothing emits: {unused:?}");
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
    let table: BTreeSet<&str> = CODES.iter().map(|(c, _)| *c).collect();
    let with_fixture: BTreeSet<String> = fixtures().iter().map(|p| code_of(p)).collect();
    let strays: Vec<&String> = with_fixture.iter().filter(|c| !table.contains(c.as_str())).collect();
    assert!(
        strays.is_empty(),
        "fixtures for codes that are not in diag::CODES: {strays:?}"
    );
    let without: Vec<&&str> = table
        .iter()
        .filter(|c| !with_fixture.contains(**c) && !NO_INPUT_MAKES.contains(c))
        .collect();
    assert!(
        without.is_empty(),
        "codes without a fixture in core/tests/diagnostics/: {without:?}"
    );
    for c in NO_INPUT_MAKES {
        assert!(
            table.contains(c),
            "`{c}` is listed as made by no input but is not in diag::CODES"
        );
        assert!(
            !with_fixture.contains(*c),
            "`{c}` has a fixture: take it off NO_INPUT_MAKES"
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
            let secrets = meshbundle_core::pki::parse_secrets(&text)
                .unwrap_or_else(|e| panic!("{name}: the secrets file does not parse: {e}"));
            let now = secrets.created + 24 * 3600;
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
    let table: BTreeSet<&str> = CODES.iter().map(|(c, _)| *c).collect();
    let mut failed = Vec::new();
    for fixture in fixtures() {
        let code = code_of(&fixture);
        let name = name_of(&fixture);
        let (diags, report) = run(&fixture);
        if !diags.iter().any(|d| d.code == code) {
            failed.push(format!("{name}: no `{code}` diagnostic; it gave:\n{report}"));
        }
        for d in &diags {
            if !table.contains(d.code) {
                failed.push(format!("{name}: `{}` is not in diag::CODES", d.code));
            }
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
