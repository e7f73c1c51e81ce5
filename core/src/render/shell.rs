//! Writing bash: quoting values so a script means exactly what it says.
//!
//! [`quote`] is the one way a value enters a generated script: every value
//! from the spec, the lock or the secrets is assigned to a variable (or put in
//! an array) as `NAME=<quote(value)>` and used as `"$NAME"` from then on, never
//! pasted into a double-quoted string, a command or a heredoc. Values that
//! are checked types (digests, tokens) are quoted all the same. Text that
//! only goes into a `#` comment passes through [`comment`], which keeps it on
//! one line.

/// Quotes a value for bash: bare when it only has safe characters, in single
/// quotes otherwise (a `'` inside becomes `'\''`). Nothing in a single-quoted
/// word is expanded, so `$(...)`, backticks, `;`, `"`, `\` and newlines are
/// inert.
pub fn quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':' | '=' | '@' | ',' | '+'));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Text for a `#` comment: control characters (a newline would end the
/// comment and start a command) become `?`.
pub fn comment(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

/// A bash array literal: `(a b 'c d')`.
pub fn array<S: AsRef<str>>(items: &[S]) -> String {
    let inner: Vec<String> = items.iter().map(|s| quote(s.as_ref())).collect();
    format!("({})", inner.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("10.0.0.5:5000"), "10.0.0.5:5000");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("$(rm -rf /)"), "'$(rm -rf /)'");
        assert_eq!(array(&["a", "b c"]), "(a 'b c')");
        assert_eq!(quote("a\nb"), "'a\nb'");
        assert_eq!(quote("`id`;\\\""), "'`id`;\\\"'");
        assert_eq!(comment("a\nrm -rf /\r"), "a?rm -rf /?");
    }
}
