//! The JSON Schema of the site spec, for editors (yaml-language-server) and
//! for the configurator's forms. It is generated from the spec's types and
//! kept in `core/schema/site.schema.json`; a test keeps the two equal.

use crate::spec::Site;

/// The JSON Schema (draft 2020-12) of `meshbundle.yaml`, generated from the types.
pub fn generate_site_schema() -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(Site)).unwrap_or_default();
    if let Some(obj) = schema.as_object_mut() {
        obj.insert("$id".into(), "https://meshbundle.dev/schemas/site-v1alpha1.json".into());
    }
    schema
}

/// The schema as `meshbundle schema` prints it.
pub fn site_schema_json() -> &'static str {
    crate::spec::structure::SITE_SCHEMA_JSON
}

/// The schema as a value.
pub fn site_schema() -> serde_json::Value {
    crate::spec::structure::site_schema().clone()
}

#[cfg(test)]
mod tests {
    #[test]
    fn committed_schema_matches_the_types() {
        let generated = format!("{}\n", serde_json::to_string_pretty(&super::generate_site_schema()).unwrap());
        if std::env::var_os("UPDATE_SCHEMA").is_some() {
            std::fs::write(concat!(env!("CARGO_MANIFEST_DIR"), "/schema/site.schema.json"), &generated).unwrap();
        }
        assert_eq!(
            super::site_schema_json(),
            generated,
            "core/schema/site.schema.json is stale: run UPDATE_SCHEMA=1 cargo test -p meshbundle-core committed_schema"
        );
    }
}
