//! The JSON Schemas of meshbundle's documents, generated from their types and
//! committed under `core/schema/`: the site spec (`meshbundle.yaml`, for
//! editors through yaml-language-server and for the configurator's forms), the
//! lock (`meshbundle.lock`), the site secrets (`site.secrets.yaml`) and the
//! seal of a bundle (`SEAL.json`). A test keeps each committed file equal to
//! what the types give; `meshbundle schema [spec|lock|secrets|seal]` prints
//! them. Only that test generates them (the `schema` feature, which this
//! crate's tests turn on): the binary and the browser's module carry the
//! committed files, not the code that derives them.
//!
//! Each schema is as strict as the type it comes from: an object whose type
//! refuses unknown fields has `additionalProperties: false`, and every
//! checked value (digest, image reference, path, mode, token) carries the
//! pattern of the rule its parser applies.

#[cfg(feature = "schema")]
use crate::spec::Site;

/// A document meshbundle reads or writes, each with its own schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Document {
    /// `meshbundle.yaml`.
    Spec,
    /// `meshbundle.lock`.
    Lock,
    /// `site.secrets.yaml`.
    Secrets,
    /// `SEAL.json`, inside a bundle.
    Seal,
}

impl Document {
    pub const ALL: [Document; 4] = [Document::Spec, Document::Lock, Document::Secrets, Document::Seal];

    /// The name `meshbundle schema` takes.
    pub fn name(self) -> &'static str {
        match self {
            Document::Spec => "spec",
            Document::Lock => "lock",
            Document::Secrets => "secrets",
            Document::Seal => "seal",
        }
    }

    /// The committed file under `core/schema/`.
    pub fn file_name(self) -> &'static str {
        match self {
            Document::Spec => "site.schema.json",
            Document::Lock => "lock.schema.json",
            Document::Secrets => "secrets.schema.json",
            Document::Seal => "seal.schema.json",
        }
    }

    #[cfg(feature = "schema")]
    fn id(self) -> &'static str {
        match self {
            Document::Spec => "https://meshbundle.dev/schemas/site-v1alpha1.json",
            Document::Lock => "https://meshbundle.dev/schemas/lock-v1alpha1.json",
            Document::Secrets => "https://meshbundle.dev/schemas/secrets-v1alpha1.json",
            Document::Seal => "https://meshbundle.dev/schemas/seal-v1.json",
        }
    }

    /// The schema, generated from the types (with the `schema` feature).
    #[cfg(feature = "schema")]
    pub fn generate(self) -> serde_json::Value {
        let schema = match self {
            Document::Spec => schemars::schema_for!(Site),
            Document::Lock => schemars::schema_for!(crate::lock::Lock),
            Document::Secrets => schemars::schema_for!(crate::pki::secrets::SiteSecrets),
            Document::Seal => schemars::schema_for!(crate::seal::Seal),
        };
        let mut schema = serde_json::to_value(schema).unwrap_or_default();
        if let Some(obj) = schema.as_object_mut() {
            obj.insert("$id".into(), self.id().into());
        }
        schema
    }

    /// The committed schema, as `meshbundle schema` prints it.
    pub fn committed(self) -> &'static str {
        match self {
            Document::Spec => include_str!("../schema/site.schema.json"),
            Document::Lock => include_str!("../schema/lock.schema.json"),
            Document::Secrets => include_str!("../schema/secrets.schema.json"),
            Document::Seal => include_str!("../schema/seal.schema.json"),
        }
    }
}

impl std::str::FromStr for Document {
    type Err = String;
    fn from_str(s: &str) -> Result<Document, String> {
        Document::ALL.into_iter().find(|d| d.name() == s).ok_or_else(|| {
            format!(
                "`{}` is not a document meshbundle has a schema for (spec, lock, secrets or seal)",
                s.escape_debug()
            )
        })
    }
}

/// The JSON Schema (draft 2020-12) of `meshbundle.yaml`, generated from the types.
#[cfg(feature = "schema")]
pub fn generate_site_schema() -> serde_json::Value {
    Document::Spec.generate()
}

/// The schema as one line of JSON: `meshbundle schema` prints the same
/// tokens laid out, two spaces an indent (the configurator lays it out so
/// for its download).
pub fn site_schema_json() -> &'static str {
    crate::spec::structure::SITE_SCHEMA_JSON
}

/// The schema as a value.
pub fn site_schema() -> serde_json::Value {
    crate::spec::structure::site_schema().clone()
}

#[cfg(all(test, feature = "schema"))]
mod tests {
    use super::Document;

    #[test]
    fn the_one_line_schema_is_the_committed_one() {
        // Validation and the browser's module read the one-line text; laid
        // out as `meshbundle schema` prints it, it is the committed file.
        let one_line = super::site_schema_json();
        assert!(!one_line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(one_line).unwrap();
        assert_eq!(
            format!("{}\n", serde_json::to_string_pretty(&v).unwrap()),
            Document::Spec.committed()
        );
    }

    #[test]
    fn committed_schema_matches_the_types() {
        let mut stale = Vec::new();
        for doc in Document::ALL {
            let generated = format!("{}\n", serde_json::to_string_pretty(&doc.generate()).unwrap());
            let path = format!("{}/schema/{}", env!("CARGO_MANIFEST_DIR"), doc.file_name());
            if std::env::var_os("UPDATE_SCHEMA").is_some() {
                std::fs::write(&path, &generated).unwrap();
            } else if doc.committed() != generated {
                stale.push(doc.file_name());
            }
        }
        assert!(
            stale.is_empty(),
            "core/schema/{stale:?} stale: run UPDATE_SCHEMA=1 cargo test -p meshbundle-core committed_schema"
        );
    }
}
