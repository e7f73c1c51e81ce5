//! Everything the CLI says to people: errors, diagnostics and summaries.

use std::path::Path;

use meshbundle_core::diag::{Diagnostic, Severity};

use crate::error::Error;

/// Prints an error, each of its causes once, and its hint to stderr:
///
/// ```text
/// error: cannot build out.bundle
///   caused by: registry.example/app:1.0: manifest 1.0: server error 500
///   hint: check the network ...
/// ```
pub fn print_error(e: &Error) {
    eprint!("{}", error_text(e));
}

/// What [`print_error`] prints.
pub fn error_text(e: &Error) -> String {
    let mut out = String::new();
    let mut lines = e.causes().into_iter();
    out.push_str(&format!("error: {}\n", lines.next().unwrap_or_default()));
    for cause in lines {
        out.push_str(&format!("  caused by: {cause}\n"));
    }
    if let Some(h) = e.hint() {
        out.push_str(&format!("  hint: {h}\n"));
    }
    out
}

/// One diagnostic as `FILE:LINE:COL: PATH: MESSAGE (HINT)`. Warnings say
/// `warning:` after the path.
pub fn diagnostic_line(file: &Path, d: &Diagnostic) -> String {
    let mut s = file.display().to_string();
    if d.line > 0 {
        s.push_str(&format!(":{}:{}", d.line, d.column));
    }
    s.push_str(": ");
    if !d.path.is_empty() {
        s.push_str(&d.path);
        s.push_str(": ");
    }
    if d.severity == Severity::Warning {
        s.push_str("warning: ");
    }
    s.push_str(&d.message);
    if !d.hint.is_empty() {
        s.push_str(&format!(" ({})", d.hint));
    }
    s
}

pub fn count_summary(diags: &[Diagnostic]) -> String {
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let warnings = diags.len() - errors;
    let plural = |n: usize, w: &str| if n == 1 { format!("1 {w}") } else { format!("{n} {w}s") };
    match (errors, warnings) {
        (0, 0) => "valid".into(),
        (0, w) => format!("valid, {}", plural(w, "warning")),
        (e, 0) => plural(e, "error"),
        (e, w) => format!("{}, {}", plural(e, "error"), plural(w, "warning")),
    }
}

/// What a bundle carries, in one line, from its seal: the rendered install,
/// the pinned files, the images and whether the static meshbundle is there.
/// `build`, `verify`, `inspect` and `import` all say it this way.
pub fn carried_line(seal: &crate::bundle::seal::Seal) -> String {
    let count = |n: usize, one: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {one}s")
        }
    };
    let tree = seal
        .entries
        .iter()
        .filter(|e| e.path.as_str().starts_with("tree/"))
        .count();
    let binary = seal
        .entries
        .iter()
        .any(|e| e.path.as_str() == meshbundle_core::seal::STATIC_BINARY);
    let mut names: Vec<&str> = seal.files.iter().map(|f| f.name.as_str()).take(4).collect();
    if seal.files.len() > 4 {
        names.push("...");
    }
    let files = if seal.files.is_empty() {
        "no files".to_string()
    } else {
        format!("{} ({})", count(seal.files.len(), "file"), names.join(", "))
    };
    format!(
        "carried: the rendered install ({}), {files}, {}, {}",
        count(tree, "file"),
        count(seal.images.len(), "image"),
        if binary {
            "the static meshbundle (bin/meshbundle)"
        } else {
            "no static meshbundle"
        }
    )
}

/// Whether a bundle can install its site, in one line: `cannot install a
/// site: REASONS` from [`crate::bundle::seal::Seal::cannot_install`], or
/// `can install site NAME`. The one wording of every command that reads or
/// writes a bundle.
pub fn install_line(seal: &crate::bundle::seal::Seal) -> String {
    let why = seal.cannot_install();
    if why.is_empty() {
        let base = if seal.base.is_some() {
            " (as an upgrade, where the bundle it completes is imported)"
        } else {
            ""
        };
        format!(
            "can install site {}{base}: every image and file it needs is carried, with the join configurations",
            crate::bundle::read::shown(&seal.site)
        )
    } else {
        format!("cannot install a site: {}", why.join("; "))
    }
}

#[cfg(test)]
mod error_text_tests {
    use super::*;

    #[test]
    fn each_cause_once() {
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "Permission denied (os error 13)");
        let inner = Error::io("/site/meshbundle.lock", io);
        let e = Error::failed_with("cannot read the lock", inner, "check the file's permissions");
        assert_eq!(
            error_text(&e),
            "error: cannot read the lock\n  caused by: /site/meshbundle.lock: Permission denied\n  hint: check the file's permissions\n"
        );
    }

    #[test]
    fn a_source_that_leads_is_not_repeated() {
        let e = Error::from_source(std::io::Error::other("disk on fire"), "call someone");
        assert_eq!(error_text(&e), "error: disk on fire\n  hint: call someone\n");
    }

    #[test]
    fn plain_errors_print_as_before() {
        let e = Error::failed("no spec", "write one");
        assert_eq!(error_text(&e), "error: no spec\n  hint: write one\n");
        let e = Error::Failed {
            message: "x".into(),
            hint: Some("  ".into()),
        };
        assert_eq!(error_text(&e), "error: x\n");
    }

    #[test]
    fn a_three_deep_chain_prints_every_new_cause() {
        #[derive(Debug, thiserror::Error)]
        #[error("level two")]
        struct Two(#[source] std::io::Error);
        let e = Error::failed_with("level one", Two(std::io::Error::other("level three")), "h");
        assert_eq!(
            error_text(&e),
            "error: level one\n  caused by: level two\n  caused by: level three\n  hint: h\n"
        );
    }
}
