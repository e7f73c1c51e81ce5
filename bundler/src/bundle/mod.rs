//! The sealed bundle: one uncompressed tar that carries a whole site across
//! the air gap, and proves its own integrity.
//!
//! Layout, in this order:
//! - `SEAL.json`: the spec, the lock, the meshbundle version, and every
//!   following entry's path, size, mode and sha256 (canonical JSON; its
//!   sha256 is the bundle id);
//! - `SEAL.sha256`: the bundle id again, so a damaged seal is caught even
//!   without a signature;
//! - `SEAL.json.sig` (optional): an ed25519 signature over `SEAL.json`;
//! - every entry of the seal, in path order: `bin/meshbundle`, `files/…`,
//!   `images/…` (one OCI image layout, each blob once and as it was pulled),
//!   `tree/…` (the rendered install; private keys encrypted with age).
//!
//! Entries are regular files only, with mtime 0, uid and gid 0 and no names,
//! so two builds from the same inputs give the same bytes.

pub mod build;
pub mod crypt;
pub mod import;
pub mod read;
pub mod seal;
pub mod sign;

pub const SEAL: &str = "SEAL.json";
pub const SEAL_SUM: &str = "SEAL.sha256";
pub const SEAL_SIG: &str = "SEAL.json.sig";
pub use meshbundle_core::seal::FORMAT;

/// A tar header for a regular file of the bundle (GNU, mtime 0, uid and gid 0).
pub fn header(size: u64, mode: u32) -> tar::Header {
    meshbundle_core::archive::header(
        meshbundle_core::archive::HeaderFormat::Gnu,
        tar::EntryType::Regular,
        size,
        mode,
        0,
    )
}
