//! Every diagnostic code is listed once, in `diag::CODES`: the sources emit
//! exactly the codes of the table, and every call of a diagnostic
//! constructor in `core/src` names its code as a string literal, so the
//! table can be checked against them.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use meshbundle_core::diag::CODES;

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
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
