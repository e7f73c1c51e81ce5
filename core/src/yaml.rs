//! Reading and writing YAML. Writing quotes every string that a YAML 1.1
//! reader (Kubernetes, PyYAML) would take for a boolean, number, null or time
//! (`yes`, `on`, `0755`, `1e3`, `~`, `12:30`). Both directions go through
//! `serde_json::Value`, so the YAML code is compiled once rather than once per
//! type: the browser build stays small.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::spec::load::Positions;

/// A problem reading or writing YAML: where it is (1-based line and column,
/// 0 when unknown), which field, and what is wrong. Shown as
/// `LINE:COL: FIELD: MESSAGE`, so a caller that puts the file name and a `:`
/// in front gives `FILE:LINE:COL: FIELD: MESSAGE`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct YamlError {
    pub line: u32,
    pub column: u32,
    /// The field path, e.g. `images[0].digest`; empty for the whole document.
    pub path: String,
    pub message: String,
}

impl YamlError {
    fn plain(message: String) -> YamlError {
        YamlError {
            line: 0,
            column: 0,
            path: String::new(),
            message,
        }
    }
}

impl std::fmt::Display for YamlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: ", self.line, self.column)?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// One YAML document, without a leading `---`.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, YamlError> {
    let v = serde_json::to_value(value).map_err(|e| YamlError::plain(format!("cannot write YAML: {e}")))?;
    value_to_string(&v)
}

/// [`to_string`] of a JSON value, which it writes as it is (rather than a
/// copy of it).
pub fn value_to_string(value: &serde_json::Value) -> Result<String, YamlError> {
    serde_saphyr::to_string(value).map_err(|e| YamlError::plain(format!("cannot write YAML: {e}")))
}

/// Reads one YAML document (YAML 1.2: `yes` and `on` are strings; no tags
/// but `!!str`) into `T`. An error names the line, column and field.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    let v = value_from_str(text)?;
    // The positions are found only for a problem to report: most texts read
    // are upstream manifests, large and without problems.
    typed(v, |path| {
        crate::spec::load::yaml_to_json(text)
            .ok()
            .and_then(|(_, positions)| positions.find(path))
    })
}

/// [`from_str`], with where each field is in the text, for what is said
/// later about the value read (see [`Positions::locate`]).
pub fn from_str_located<T: DeserializeOwned>(text: &str) -> Result<(T, Positions), YamlError> {
    let (v, positions) = crate::spec::load::yaml_to_json(text).map_err(located)?;
    let value = typed(v, |path| positions.find(path))?;
    Ok((value, positions))
}

/// [`from_str`] into a JSON value: the value as read (reading a value into
/// a value would only copy it).
pub fn value_from_str(text: &str) -> Result<serde_json::Value, YamlError> {
    crate::spec::load::yaml_to_value(text).map_err(located)
}

fn located(d: crate::diag::Diagnostic) -> YamlError {
    let message = if d.hint.is_empty() {
        d.message
    } else {
        format!("{} ({})", d.message, d.hint)
    };
    YamlError {
        line: d.line,
        column: d.column,
        path: d.path,
        message,
    }
}

/// `T` read from its JSON value; `find` places an error at its field.
fn typed<T: DeserializeOwned>(
    v: serde_json::Value,
    find: impl FnOnce(&str) -> Option<(u32, u32)>,
) -> Result<T, YamlError> {
    crate::value_de::from_value(v).map_err(|e| {
        let path = match e.path {
            p if p == "." => String::new(),
            p => p,
        };
        let (line, column) = find(&path).unwrap_or((0, 0));
        let mut message = plain(&e.error.to_string());
        if path.is_empty() && message.contains(" belongs") {
            message = format!("the file holds {message}");
        }
        YamlError {
            line,
            column,
            path,
            message,
        }
    })
}

/// serde's words for a value that does not fit its type, in the words of a
/// YAML file: `invalid type: string "hello", expected struct Lock` becomes
/// `the text "hello" where a mapping of fields belongs`. The names of the
/// program's own types (`struct Lock`, `u32`) mean nothing to whoever wrote
/// the file. Other messages are kept as they are.
/// `message` without the texts it quotes from the file (`the text "…"`
/// becomes `a text`): for a file of secrets, whose values must not reach a
/// terminal, a log or a page.
pub(crate) fn without_values(message: &str) -> String {
    const QUOTED: &str = "the text \"";
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find(QUOTED) {
        out.push_str(&rest[..at]);
        out.push_str("a text");
        let after = &rest[at + QUOTED.len()..];
        // To the closing quote (a quote inside is escaped with `\`).
        let mut escaped = false;
        let end = after.char_indices().find(|&(_, c)| {
            let close = c == '"' && !escaped;
            escaped = c == '\\' && !escaped;
            close
        });
        rest = end.map_or("", |(i, _)| &after[i + 1..]);
    }
    out.push_str(rest);
    out
}

pub(crate) fn plain(message: &str) -> String {
    let message = message.split(" at line ").next().unwrap_or(message);
    let Some((head, expected)) = message.split_once(", expected ") else {
        return message.to_string();
    };
    let wanted = if expected.starts_with("struct ") || expected.starts_with("tuple struct ") {
        "a mapping of fields"
    } else if expected.starts_with("enum ") {
        "one of the allowed values"
    } else {
        match expected {
            "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a whole number of 0 or more",
            "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number",
            "f32" | "f64" => "a number",
            "a sequence" => "a list",
            "a map" => "a mapping",
            other => other,
        }
    };
    let found = |unexpected: &str| -> String {
        if let Some(text) = unexpected.strip_prefix("string ") {
            format!("the text {text}")
        } else if let Some(n) = unexpected
            .strip_prefix("integer ")
            .or_else(|| unexpected.strip_prefix("floating point "))
        {
            format!("the number {}", n.trim_matches('`'))
        } else if let Some(b) = unexpected.strip_prefix("boolean ") {
            format!("the boolean {}", b.trim_matches('`'))
        } else {
            match unexpected {
                "sequence" => "a list".to_string(),
                "map" => "a mapping".to_string(),
                "unit value" | "null" => "nothing (null)".to_string(),
                other => other.to_string(),
            }
        }
    };
    if let Some(unexpected) = head.strip_prefix("invalid type: ") {
        format!("{} where {wanted} belongs", found(unexpected))
    } else if let Some(unexpected) = head.strip_prefix("invalid value: ") {
        format!("{} where {wanted} belongs", found(unexpected))
    } else if head.starts_with("invalid length ") {
        format!("a list where {wanted} belongs")
    } else if wanted != expected {
        format!("{head}, expected {wanted}")
    } else {
        message.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::without_values;

    #[test]
    fn values_are_left_out_of_messages_about_secrets() {
        assert_eq!(
            without_values(r#"addons.grafana: the text "J3YgxB4j" where a mapping of fields belongs"#),
            "addons.grafana: a text where a mapping of fields belongs"
        );
        assert_eq!(
            without_values(r#"the text "a \"b\" c" and the text "d" here"#),
            "a text and a text here"
        );
        assert_eq!(without_values("nothing quoted"), "nothing quoted");
    }

    #[test]
    fn a_secrets_file_of_the_wrong_shape_names_no_value() {
        let text = "apiVersion: meshbundle.dev/v1alpha1\nkind: SiteSecrets\nsite: x\naddons: hunter2-not-shown\n";
        let e = crate::pki::SecretsFile::parse(text).unwrap_err().to_string();
        assert!(!e.contains("hunter2"), "{e}");
        assert!(e.contains("a text where"), "{e}");
    }
}
