//! The meshbundle library behind the `meshbundle` command: bundles (build,
//! read, verify, import), images, the lock and file fetchers, and the
//! commands themselves. The binary in `main.rs` only parses the command line
//! and prints errors; the fuzz targets and benchmarks use this library.

pub mod bundle;
pub mod cli;
pub mod commands;
pub mod error;
pub mod files;
pub mod fsutil;
pub mod imagebuild;
pub mod lockfile;
pub mod oci;
pub mod progress;
pub mod report;
pub mod sitefile;
pub mod tls;
pub mod treeio;
