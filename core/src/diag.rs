//! Diagnostics: what validation says about a spec, each with the field path it
//! concerns, where that field is in the file, a message and a hint.

use serde::Serialize;

#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The spec cannot be used as it is.
    Error,
    /// Allowed, but risky; said once so the user decides.
    Warning,
}

#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Stable identifier of the check, e.g. `network-overlap`.
    pub code: &'static str,
    /// Field path, e.g. `spec.nodes[2].address`; empty for the whole document.
    pub path: String,
    pub message: String,
    /// What to do about it.
    pub hint: String,
    /// 1-based line in the source; 0 when not known.
    pub line: u32,
    /// 1-based column in the source; 0 when not known.
    pub column: u32,
}

impl Diagnostic {
    pub fn error(
        code: &'static str,
        path: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Error,
            code,
            path: path.into(),
            message: message.into(),
            hint: hint.into(),
            line: 0,
            column: 0,
        }
    }

    pub fn warning(
        code: &'static str,
        path: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, path, message, hint)
        }
    }

    pub fn at(mut self, line: u32, column: u32) -> Self {
        self.line = line;
        self.column = column;
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Collects diagnostics during a validation pass.
#[derive(Default, Debug)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn error(
        &mut self,
        code: &'static str,
        path: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.0.push(Diagnostic::error(code, path, message, hint));
    }

    pub fn warning(
        &mut self,
        code: &'static str,
        path: impl Into<String>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.0.push(Diagnostic::warning(code, path, message, hint));
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }
}

/// One segment of a field path: `.name` for a plain key, `["net.core.somaxconn"]`
/// for a key that is not an identifier.
pub fn key_segment(key: &str) -> String {
    let plain = !key.is_empty()
        && key.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        format!(".{key}")
    } else {
        format!("[{}]", serde_json::to_string(key).unwrap_or_default())
    }
}

/// Appends a key to a path.
pub fn join(path: &str, key: &str) -> String {
    let seg = key_segment(key);
    if path.is_empty() {
        seg.trim_start_matches('.').to_string()
    } else {
        format!("{path}{seg}")
    }
}
