//! The lock parser on arbitrary text: errors, never panics. A lock that
//! parses must write to a file that parses back to the same lock.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meshbundle_core::lock;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(parsed) = lock::parse(text) else { return };
    let written = lock::write(&parsed).unwrap_or_else(|e| panic!("a lock that was read cannot be written: {e}"));
    let mut sorted = parsed.clone();
    sorted.sort();
    match lock::parse(&written) {
        Ok(again) => assert_eq!(sorted, again, "a lock changed on writing and reading back:\n{written}"),
        Err(e) => panic!("a lock that was read does not read back after writing: {e}\n{written}"),
    }
});
