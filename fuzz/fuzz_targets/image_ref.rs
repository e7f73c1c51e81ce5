//! Image references: parsing never panics, and whatever parses prints to a
//! reference that parses back to the same value (so a normalised reference
//! written into a manifest or the lock names the same image).
#![no_main]

use libfuzzer_sys::fuzz_target;
use meshbundle_core::image::ImageRef;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(r) = ImageRef::parse(text) else { return };
    let printed = r.to_string();
    match ImageRef::parse(&printed) {
        Ok(again) => assert_eq!(r, again, "`{text}` prints as `{printed}`, which parses to another reference"),
        Err(e) => panic!("`{text}` parses, but its printed form does not: {e}"),
    }
    let tagged = r.tagged();
    let t = ImageRef::parse(&tagged).unwrap_or_else(|e| panic!("`{text}` without its digest does not parse: {e}"));
    assert_eq!(t.name(), r.name(), "`{text}` names another image without its digest");
    let from_json: ImageRef = serde_json::from_value(serde_json::Value::String(text.to_string())).expect("serde agrees with parse");
    assert_eq!(from_json, r);
});
