//! What the fuzz targets share: a scratch file for inputs that must be read
//! from disk, tar framing helpers that let mutated seals get past the
//! checksum, and one run of every bundle reader on a file.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ed25519_dalek::{SigningKey, VerifyingKey};
use meshbundle::bundle::read;
use meshbundle::progress::Progress;
use sha2::{Digest, Sha256};

/// A fixed test key: seals the harness signs itself, so the verified path is reached.
pub fn signing_key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::from_bytes(&[7u8; 32]))
}

pub fn verifying_key() -> VerifyingKey {
    signing_key().verifying_key()
}

/// One scratch file per fuzzing process, rewritten for every input.
pub fn scratch(bytes: &[u8]) -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    let path = PATH.get_or_init(|| std::env::temp_dir().join(format!("meshbundle-fuzz-{}.mbundle", std::process::id())));
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("cannot write the scratch file {}: {e}", path.display()));
    path.clone()
}

/// `sha256:` and the hex digest: the bundle id of seal bytes.
pub fn id_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn round_up(n: u64) -> u64 {
    n.div_ceil(512).saturating_mul(512)
}

/// Sets a tar header's checksum field from its other bytes.
fn set_checksum(block: &mut [u8]) {
    block[148..156].fill(b' ');
    let sum: u32 = block.iter().map(|&b| u32::from(b)).sum();
    let field = format!("{sum:06o}\0 ");
    block[148..156].copy_from_slice(field.as_bytes());
}

/// Repairs what a mutation breaks but an attacker can always repair: every
/// header's checksum, and `SEAL.sha256` (when it directly follows `SEAL.json`
/// and has room) set to the digest of the seal. Without this almost every
/// mutated input would stop at the first checksum.
pub fn repair(bytes: &mut [u8]) {
    let mut off = 0usize;
    let mut seal: Option<(usize, usize)> = None;
    while off + 512 <= bytes.len() {
        let block = &mut bytes[off..off + 512];
        if block.iter().all(|&b| b == 0) {
            break;
        }
        set_checksum(block);
        let header = tar::Header::from_byte_slice(block);
        let Ok(size) = header.entry_size() else { break };
        let name = header.path_bytes().into_owned();
        let start = off + 512;
        let end = match usize::try_from(size).ok().and_then(|s| start.checked_add(s)) {
            Some(end) if end <= bytes.len() => end,
            _ => break,
        };
        match (name.as_slice(), seal) {
            (b"SEAL.json", _) if off == 0 => seal = Some((start, end)),
            (b"SEAL.sha256", Some((s, e))) => {
                let id = id_of(&bytes[s..e]);
                let content = &mut bytes[start..end];
                if content.len() >= id.len() {
                    content[..id.len()].copy_from_slice(id.as_bytes());
                    content[id.len()..].fill(b'\n');
                }
                seal = None;
            }
            _ => seal = None,
        }
        match usize::try_from(round_up(size)).ok().and_then(|s| start.checked_add(s)) {
            Some(next) => off = next,
            None => break,
        }
    }
}

/// Appends one tar entry with `name` written as is (no path checks, so the
/// reader sees `..`, absolute and empty names too); names over 100 bytes get a
/// GNU long-name entry first.
pub fn append(out: &mut Vec<u8>, name: &[u8], mode: u32, content: &[u8]) {
    let mut put = |h: &mut tar::Header, name: &[u8], content: &[u8]| {
        let n = name.len().min(100);
        h.as_old_mut().name[..n].copy_from_slice(&name[..n]);
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(content);
        out.resize(round_up(out.len() as u64) as usize, 0);
    };
    if name.len() > 100 {
        let mut long = tar::Header::new_gnu();
        long.set_entry_type(tar::EntryType::GNULongName);
        long.set_size(name.len() as u64 + 1);
        let mut with_nul = name.to_vec();
        with_nul.push(0);
        put(&mut long, b"././@LongLink", &with_nul);
    }
    let mut h = meshbundle::bundle::header(content.len() as u64, mode);
    put(&mut h, name, content);
}

/// Ends an archive: two zero blocks.
pub fn finish(out: &mut Vec<u8>) {
    out.extend_from_slice(&[0u8; 1024]);
}

/// Runs every reader of bundles on the file: `head` (inspect), `verify`
/// without a key and, when signed, with the harness key, and the streaming
/// reader `import` uses. None may panic; and what `verify` accepts the
/// streaming reader must accept too.
pub fn read_all(path: &Path) {
    let _ = read::head(path);
    let progress = Progress::bytes("fuzz", true);
    let verified = read::verify(path, None, 2, &progress);
    if let Ok(report) = &verified
        && report.head.signature.is_some()
    {
        let key = verifying_key();
        let policy = meshbundle::bundle::sign::TrustPolicy {
            source: "the fuzz harness".into(),
            keys: vec![meshbundle::bundle::sign::TrustedKey {
                fingerprint: meshbundle::bundle::sign::fingerprint(&key),
                key,
                file: "harness.pub".into(),
            }],
        };
        let _ = read::verify(path, Some(&policy), 1, &progress);
    }
    let mut buf = vec![0u8; 64 * 1024];
    let Ok(report) = &verified else { return };
    let streamed = read::each_entry(path, &report.head.seal, |_, r| {
        while r.read(&mut buf).map_err(|e| meshbundle::error::Error::io(path, e))? > 0 {}
        Ok(())
    });
    if let Err(e) = &streamed {
        panic!("verify accepted the bundle but the streaming reader refused it: {e}");
    }
}
