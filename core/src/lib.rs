//! meshbundle-core: the pure logic of meshbundle. A site spec goes in; a
//! validated model, diagnostics, and the sorted tree of every file the install
//! needs come out. No I/O, no clock, no threads: the same code runs in the CLI
//! and, compiled to WebAssembly, in the browser configurator.

#![forbid(unsafe_code)]

pub mod archive;
pub mod catalog;
pub mod diag;
pub mod digest;
pub mod examples;
pub mod image;
pub mod layout;
pub mod lock;
pub mod pki;
pub mod render;
pub mod schema;
pub mod seal;
pub mod spec;
pub mod tree;
pub mod upgrade;
pub mod upgrade_from;
pub mod validate;
pub(crate) mod value_de;
pub mod yaml;

/// The version of meshbundle, written into every generated file.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The text of an error and of each error in its `source` chain that says
/// something new: empty texts, and texts already part of a line before them
/// (a wrapper that writes `"{path}: {source}"`), are left out.
pub fn error_lines(top: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut next = Some(top);
    while let Some(e) = next {
        let text = e.to_string();
        // The system's error number (`No such file or directory (os error
        // 2)`) says nothing more to a user than its words.
        let text = match text.rfind(" (os error ") {
            Some(i) if text.ends_with(')') && text[i + 11..text.len() - 1].bytes().all(|b| b.is_ascii_digit()) => {
                text[..i].to_string()
            }
            _ => text,
        };
        let text = text.trim();
        if !text.is_empty() && !lines.iter().any(|l| l.contains(text)) {
            lines.push(text.to_string());
        }
        next = e.source();
    }
    lines
}

/// [`error_lines`] on one line, joined with `: `, for a message that must be
/// one line (a diagnostic, a line of JSON).
pub fn error_text(e: &(dyn std::error::Error + 'static)) -> String {
    error_lines(e).join(": ")
}
