//! Forging bundles as an attacker without the signing key would: read the
//! entries, change them, recompute the seal's entry list and SEAL.sha256,
//! and write the archive again with no signature.

use std::io::Read;
use std::path::Path;

use serde_json::Value;
use sha2::Digest as _;

pub type Entries = Vec<(tar::Header, Vec<u8>)>;

pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(b))
}

/// Every entry of a bundle, head included, with its header and bytes.
pub fn entries(path: &Path) -> Entries {
    let mut a = tar::Archive::new(std::fs::File::open(path).unwrap());
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let h = e.header().clone();
            let mut v = Vec::new();
            e.read_to_end(&mut v).unwrap();
            (h, v)
        })
        .collect()
}

pub fn name_of(h: &tar::Header) -> String {
    String::from_utf8_lossy(&h.path_bytes()).into_owned()
}

/// A regular-file header whose name (at most 100 bytes) is written as given, unchecked.
pub fn raw_header(name: &[u8], size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(0);
    h.set_cksum();
    h
}

pub fn set_data(e: &mut (tar::Header, Vec<u8>), data: Vec<u8>) {
    e.0.set_size(data.len() as u64);
    e.0.set_cksum();
    e.1 = data;
}

/// The entries after the head.
pub fn body(path: &Path) -> Entries {
    entries(path)
        .into_iter()
        .filter(|(h, _)| !name_of(h).starts_with("SEAL."))
        .collect()
}

/// The seal as JSON (field order kept).
pub fn seal_of(path: &Path) -> Value {
    serde_json::from_slice(&entries(path)[0].1).unwrap()
}

/// Writes a bundle from a seal's bytes and the entries after the head, with
/// SEAL.sha256 computed from those bytes as given and no signature.
pub fn write(to: &Path, seal_bytes: Vec<u8>, body: &Entries) {
    let mut b = tar::Builder::new(std::fs::File::create(to).unwrap());
    let head = raw_header(b"SEAL.json", seal_bytes.len() as u64, 0o644);
    b.append(&head, seal_bytes.as_slice()).unwrap();
    let sum = format!("sha256:{}\n", sha256_hex(&seal_bytes)).into_bytes();
    b.append(&raw_header(b"SEAL.sha256", sum.len() as u64, 0o644), sum.as_slice())
        .unwrap();
    for (h, d) in body {
        b.append(h, d.as_slice()).unwrap();
    }
    b.finish().unwrap();
}

/// Re-seals a bundle: the body as given (sorted by name), the seal's
/// `entries` recomputed from it, then `change` applied to the seal. The
/// result is as consistent as an attacker without the signing key can make it.
pub fn reseal(from: &Path, to: &Path, mut body: Entries, change: impl FnOnce(&mut Value)) {
    let mut seal = seal_of(from);
    body.sort_by_key(|(h, _)| name_of(h));
    seal["entries"] = body
        .iter()
        .map(|(h, d)| serde_json::json!({"path": name_of(h), "size": d.len(), "mode": h.mode().unwrap() & 0o7777, "sha256": sha256_hex(d)}))
        .collect();
    change(&mut seal);
    write(to, serde_json::to_vec(&seal).unwrap(), &body);
}
