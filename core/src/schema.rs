//! The JSON Schema of the site spec, for editors (yaml-language-server) and
//! for the configurator's forms.

use crate::spec::Site;

/// The JSON Schema (draft 2020-12) of `meshbundle.yaml`.
pub fn site_schema() -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(Site)).unwrap_or_default();
    if let Some(obj) = schema.as_object_mut() {
        obj.insert("$id".into(), "https://meshbundle.dev/schemas/site-v1alpha1.json".into());
    }
    schema
}

/// The schema as pretty JSON text, ending with a newline.
pub fn site_schema_json() -> String {
    let mut s = serde_json::to_string_pretty(&site_schema()).unwrap_or_default();
    s.push('\n');
    s
}
