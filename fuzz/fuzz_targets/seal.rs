//! The seal (`SEAL.json`) as the reader parses it, then a bundle made around
//! it. Whatever parses must write back to a seal that parses to the same
//! value. The bundle holds the seal (with each entry's sha256 set to that of
//! the content written, so the content checks pass), its correct
//! `SEAL.sha256`, a signature by the harness key for inputs of odd length,
//! and each listed entry with the path, mode and size the seal gives it:
//! `verify` then judges the seal's own paths, modes, order and sizes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meshbundle::bundle::seal::Seal;
use meshbundle::bundle::{SEAL, SEAL_SIG, SEAL_SUM};
use meshbundle_fuzz::{append, finish, id_of, read_all, scratch, signing_key};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Entries larger than this are listed but not written (the bundle is then truncated).
const MAX_ENTRY: u64 = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let Ok(seal) = serde_json::from_slice::<Seal>(data) else { return };
    let written = seal.to_bytes();
    let again: Seal = serde_json::from_slice(&written)
        .unwrap_or_else(|e| panic!("a seal that was read does not read back after writing: {e}\n{}", String::from_utf8_lossy(&written)));
    assert_eq!(seal, again, "a seal changed on writing and reading back");

    let Ok(mut value) = serde_json::from_slice::<Value>(data) else { return };
    let mut files: Vec<(Vec<u8>, u32, u64)> = Vec::new();
    if let Some(entries) = value.get_mut("entries").and_then(Value::as_array_mut) {
        for e in entries.iter_mut().take(64) {
            let path = e.get("path").and_then(Value::as_str).unwrap_or_default().as_bytes().to_vec();
            let mode = e.get("mode").and_then(Value::as_u64).unwrap_or(0o644) as u32;
            let size = e.get("size").and_then(Value::as_u64).unwrap_or(0);
            if size <= MAX_ENTRY {
                let digest = hex::encode(Sha256::digest(vec![0u8; size as usize]));
                e["sha256"] = Value::String(digest);
            }
            files.push((path, mode, size));
        }
    }
    let Ok(seal_bytes) = serde_json::to_vec(&value) else { return };

    let mut bundle = Vec::new();
    append(&mut bundle, SEAL.as_bytes(), 0o644, &seal_bytes);
    append(&mut bundle, SEAL_SUM.as_bytes(), 0o644, format!("{}\n", id_of(&seal_bytes)).as_bytes());
    if data.len() % 2 == 1 {
        let sig = meshbundle::bundle::sign::sign(signing_key(), &seal_bytes);
        append(&mut bundle, SEAL_SIG.as_bytes(), 0o644, &sig);
    }
    for (path, mode, size) in &files {
        if *size <= MAX_ENTRY {
            append(&mut bundle, path, *mode, &vec![0u8; *size as usize]);
        }
    }
    finish(&mut bundle);
    read_all(&scratch(&bundle));
});
