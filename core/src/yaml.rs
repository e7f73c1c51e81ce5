//! Writing YAML that every reader agrees on: strings that a YAML 1.1 reader
//! (Kubernetes, PyYAML) would take for booleans, numbers, nulls or times
//! (`yes`, `on`, `0755`, `1e3`, `~`, `12:30`) are always quoted.

use serde::Serialize;

#[derive(Debug, thiserror::Error)]
#[error("cannot write YAML: {0}")]
pub struct YamlError(String);

/// One YAML document, without a leading `---`.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, YamlError> {
    serde_saphyr::to_string(value).map_err(|e| YamlError(e.to_string()))
}

/// Several documents separated by `---` lines.
pub fn documents<T: Serialize>(values: &[T]) -> Result<String, YamlError> {
    let mut out = String::new();
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&to_string(v)?);
    }
    Ok(out)
}
