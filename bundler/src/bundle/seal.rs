//! The seal: what a bundle holds, and the digests that prove it. The
//! document and every check that needs only the document live in
//! [`meshbundle_core::seal`] (so the configurator and the schema share them);
//! reading a bundle, checking its signature and laying it out stay in
//! `read.rs`, `sign.rs` and `import.rs`.

pub use meshbundle_core::seal::*;
