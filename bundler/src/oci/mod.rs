//! Images: a content-addressed blob cache, OCI image layouts, a registry
//! client (over oci-client), and the other sources an image can come from.

pub mod archive;
pub mod cache;
pub mod credentials;
pub mod layout;
pub mod media;
pub mod push;
pub mod registry;

pub use meshbundle_core::digest::Digest;
use meshbundle_core::image::{ImageRef, MediaType};

/// The digest of some bytes.
pub fn digest_of(bytes: &[u8]) -> Digest {
    Digest::of(bytes)
}

/// One blob an image needs: its digest, size and media type.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Blob {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
}

/// An image as carried: its top manifest (or index) and everything below it.
#[derive(Debug, Clone)]
pub struct Image {
    /// The reference it is known by, e.g. `registry.k8s.io/pause:3.10`.
    pub name: ImageRef,
    /// Digest of the top manifest or index as carried.
    pub digest: Digest,
    /// Media type of the top manifest or index.
    pub media_type: MediaType,
    /// Size of the top manifest or index.
    pub size: u64,
    /// Every manifest (the top one first, then children of an index), as raw
    /// bytes: they are stored exactly as fetched, so their digests hold.
    pub manifests: Vec<(Digest, String, Vec<u8>)>,
    /// Configs and layers, sorted and without duplicates.
    pub blobs: Vec<Blob>,
}
