//! Bundles the fuzz targets (`fuzz/`, run by `bench/fuzz.sh`) found, kept as
//! tests so each stays fixed. The name of each test's target is in its comment.

use std::path::Path;

use meshbundle::bundle::read::{each_entry, verify};
use meshbundle::progress::Progress;
use sha2::{Digest, Sha256};

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// A small valid bundle holding `entries` (path, mode, content), in path order.
fn small_bundle(entries: &[(&str, u32, &[u8])]) -> Vec<u8> {
    let listed: Vec<serde_json::Value> = entries
        .iter()
        .map(|(p, m, c)| serde_json::json!({"path": p, "size": c.len(), "mode": m, "sha256": sha256_hex(c)}))
        .collect();
    let seal = serde_json::json!({
        "format": meshbundle::bundle::FORMAT,
        "meshbundle": "0.1.0",
        "site": "lab",
        "spec": "apiVersion: meshbundle.dev/v1alpha1\n",
        "treeDigest": format!("sha256:{}", sha256_hex(b"tree")),
        "secrets": {"privateKeys": "none"},
        "images": [],
        "files": [],
        "certificates": [],
        "entries": listed,
    });
    let seal = serde_json::to_vec(&seal).unwrap_or_else(|e| panic!("{e}"));
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, mode: u32, content: &[u8]| {
        let mut h = meshbundle::bundle::header(content.len() as u64, mode);
        b.append_data(&mut h, path, content).unwrap_or_else(|e| panic!("{e}"));
    };
    add(meshbundle::bundle::SEAL, 0o644, &seal);
    add(
        meshbundle::bundle::SEAL_SUM,
        0o644,
        format!("sha256:{}\n", sha256_hex(&seal)).as_bytes(),
    );
    for (p, m, c) in entries {
        add(p, *m, c);
    }
    b.into_inner().unwrap_or_else(|e| panic!("{e}"))
}

/// What `verify` and `import`'s streaming reader each say of a bundle file.
fn judge(path: &Path) -> (Result<(), String>, Result<(), String>) {
    let verified = verify(path, None, 2, &Progress::bytes("verify", true));
    // import streams against the seal verify checked; without one, the head the file holds.
    let seal = match &verified {
        Ok(report) => report.head.seal.clone(),
        Err(_) => match meshbundle::bundle::read::head(path) {
            Ok(h) => h.seal,
            Err(e) => return (Err(e.to_string()), Err(e.to_string())),
        },
    };
    let verified = verified.map(|_| ()).map_err(|e| e.to_string());
    let streamed = each_entry(path, &seal, |_, r| {
        std::io::copy(r, &mut std::io::sink()).map_err(|e| meshbundle::error::Error::io(path, e))?;
        Ok(())
    })
    .map(|_| ())
    .map_err(|e| e.to_string());
    (verified, streamed)
}

/// The whole bundle passes both readers: the cut one below differs from it only by the cut.
#[test]
fn the_uncut_bundle_passes_verify_and_import() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("whole.mbundle");
    std::fs::write(&path, small_bundle(&[("tree/a", 0o644, &[b'x'; 50])])).unwrap_or_else(|e| panic!("{e}"));
    let (verified, streamed) = judge(&path);
    assert_eq!(verified, Ok(()));
    assert_eq!(streamed, Ok(()));
}

/// Found by `bundle_verify` (verify accepted what the streaming reader of
/// `import` refused): a bundle cut right after the last entry's content,
/// losing that entry's padding and the end-of-archive blocks, passes `verify`
/// (the entry's content is all there, and seeking past the end of the file
/// reads as the end of the archive), then `import` fails on it with
/// "tree/a: the bundle is damaged or truncated after this entry (unexpected
/// EOF during skip)". `verify` must refuse a truncated bundle, naming it so.
#[test]
fn a_bundle_cut_after_its_last_entry_is_refused_by_verify() {
    let whole = small_bundle(&[("tree/a", 0o644, &[b'x'; 50])]);
    // The last entry's content ends 1024 (end of archive) + 462 (padding) bytes before the end.
    let cut = &whole[..whole.len() - 1024 - (512 - 50)];
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("cut.mbundle");
    std::fs::write(&path, cut).unwrap_or_else(|e| panic!("{e}"));
    let (verified, streamed) = judge(&path);
    assert!(streamed.is_err(), "import's reader accepts the cut bundle");
    let message = verified.expect_err("verify accepts a bundle cut after its last entry");
    assert!(message.contains("truncated") || message.contains("end"), "{message}");
}
