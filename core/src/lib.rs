//! meshbundle-core: the pure logic of meshbundle. A site spec goes in; a
//! validated model, diagnostics, and the sorted tree of every file the install
//! needs come out. No I/O, no clock, no threads: the same code runs in the CLI
//! and, compiled to WebAssembly, in the browser configurator.

#![forbid(unsafe_code)]

pub mod archive;
pub mod catalog;
pub mod diag;
pub mod digest;
pub mod examples;
pub mod image;
pub mod layout;
pub mod lock;
pub mod pki;
pub mod render;
pub mod schema;
pub mod seal;
pub mod spec;
pub mod tree;
pub mod upgrade;
pub mod upgrade_from;
pub mod validate;
pub(crate) mod value_de;
pub mod yaml;

/// The version of meshbundle, written into every generated file.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
