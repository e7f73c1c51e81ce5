//! The spec loader and validation on arbitrary bytes (most of them UTF-8):
//! every problem is a diagnostic, never a panic. A spec that loads without
//! errors is written back as YAML, and that must load without errors too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meshbundle_core::spec::load::{load, load_bytes};
use meshbundle_core::spec::to_yaml;

fuzz_target!(|data: &[u8]| {
    let loaded = load_bytes(data);
    let Some(site) = loaded.valid_site() else { return };
    let text = to_yaml(site).unwrap_or_else(|e| panic!("a valid site cannot be written as YAML: {e}"));
    let again = load(&text);
    if again.has_errors() {
        panic!("a valid spec, written back, no longer loads: {:?}\n{text}", again.diagnostics);
    }
});
