//! Writing bash: quoting values so a script means exactly what it says.

/// Quotes a value for bash: bare when it only has safe characters, in single
/// quotes otherwise.
pub fn quote(s: &str) -> String {
    let safe =
        !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':' | '=' | '@' | ',' | '+'));
    if safe { s.to_string() } else { format!("'{}'", s.replace('\'', r"'\''")) }
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
    }
}
