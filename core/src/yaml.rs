//! Reading and writing YAML. Writing quotes every string that a YAML 1.1
//! reader (Kubernetes, PyYAML) would take for a boolean, number, null or time
//! (`yes`, `on`, `0755`, `1e3`, `~`, `12:30`). Both directions go through
//! `serde_json::Value`, so the YAML code is compiled once rather than once per
//! type: the browser build stays small.

use serde::Serialize;
use serde::de::DeserializeOwned;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct YamlError(String);

/// One YAML document, without a leading `---`.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, YamlError> {
    let v = serde_json::to_value(value).map_err(|e| YamlError(format!("cannot write YAML: {e}")))?;
    serde_saphyr::to_string(&v).map_err(|e| YamlError(format!("cannot write YAML: {e}")))
}

/// Reads one YAML document (YAML 1.2: `yes` and `on` are strings) into `T`.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    let v = crate::spec::load::yaml_to_json(text)
        .map_err(|d| if d.line > 0 { YamlError(format!("line {}:{}: {}", d.line, d.column, d.message)) } else { YamlError(d.message) })?;
    serde_json::from_value(v).map_err(|e| YamlError(e.to_string()))
}
