//! The secrets file parser and its checks (the material alone, and against
//! the lab example's site) on arbitrary text: diagnostics, never a panic. A
//! file that parses must write to one that parses back to the same secrets.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use meshbundle_core::pki::{parse_secrets, write_secrets};
use meshbundle_core::spec::Site;

/// A fixed "now" (2027-01-15), so runs are repeatable.
const NOW: u64 = 1_800_000_000;

fn site() -> &'static Site {
    static SITE: OnceLock<Site> = OnceLock::new();
    SITE.get_or_init(|| {
        let text = meshbundle_core::examples::example("lab").expect("the lab example");
        meshbundle_core::spec::load::load(text).valid_site().expect("the lab example is valid").clone()
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(secrets) = parse_secrets(text) else { return };
    let _ = secrets.check_material(NOW);
    let _ = secrets.check(site(), NOW);
    let _ = secrets.summary();
    let written = write_secrets(&secrets).unwrap_or_else(|e| panic!("secrets that were read cannot be written: {e}"));
    match parse_secrets(&written) {
        Ok(again) => assert!(again == secrets, "secrets changed on writing and reading back:\n{written}"),
        Err(e) => panic!("secrets that were read do not read back after writing: {e}\n{written}"),
    }
});
