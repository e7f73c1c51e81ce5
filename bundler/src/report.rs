//! Everything the CLI says to people: errors, diagnostics and summaries.

use std::path::Path;

use meshbundle_core::diag::{Diagnostic, Severity};

use crate::error::Error;

/// Prints an error and its hint to stderr.
pub fn print_error(e: &Error) {
    eprintln!("error: {e}");
    if let Some(h) = e.hint() {
        eprintln!("  hint: {h}");
    }
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
