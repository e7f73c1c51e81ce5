//! Writes the catalog (`images/catalog.yaml`) as JSON into `OUT_DIR`, where
//! `catalog.rs` includes it: reading JSON at run time takes a fraction of
//! reading YAML, and in the browser the catalog is read before the first
//! check of a spec. The YAML stays the file people edit; a test in
//! `catalog.rs` checks that both read to the same catalog.

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
}
