//! Writes the catalog (`images/catalog.yaml`) as JSON into `OUT_DIR`, where
//! `catalog.rs` includes it: reading JSON at run time takes a fraction of
//! reading YAML, and in the browser the catalog is read before the first
//! check of a spec. The YAML stays the file people edit; a test in
//! `catalog.rs` checks that both read to the same catalog.
//!
//! Also writes the site spec's schema (`schema/site.schema.json`) without
//! the spaces between its tokens, which validation reads and the browser's
//! module carries (22 KB smaller; the page lays it out again as
//! `meshbundle schema` prints it).

use std::path::Path;

fn main() {
    let source = Path::new("../images/catalog.yaml");
    println!("cargo::rerun-if-changed={}", source.display());
    let text = std::fs::read_to_string(source).unwrap_or_else(|e| panic!("{}: {e}", source.display()));
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! { max_documents: 1 },
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
    };
    let value: serde_json::Value =
        serde_saphyr::from_str_with_options(&text, options).unwrap_or_else(|e| panic!("{}: {e}", source.display()));
    let out = Path::new(&std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("catalog.json");
    std::fs::write(&out, serde_json::to_string(&value).expect("a JSON value writes"))
        .unwrap_or_else(|e| panic!("{}: {e}", out.display()));

    let schema = Path::new("schema/site.schema.json");
    println!("cargo::rerun-if-changed={}", schema.display());
    let text = std::fs::read_to_string(schema).unwrap_or_else(|e| panic!("{}: {e}", schema.display()));
    let out = Path::new(&std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("site.schema.min.json");
    std::fs::write(&out, without_spaces(&text)).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
}

/// JSON text without the blanks and line breaks between its tokens (those
/// inside strings stay); the tokens themselves as written.
fn without_spaces(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if !matches!(c, ' ' | '\n' | '\r' | '\t') {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}
