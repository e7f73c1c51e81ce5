//! `meshbundle`: turns a site spec into a sealed, reproducible bundle for an
//! air-gapped Istio-on-kubeadm install, and verifies and imports it at the site.

mod bundle;
mod cli;
mod commands;
mod error;
mod files;
mod fsutil;
mod imagebuild;
mod lockfile;
mod oci;
mod progress;
mod report;
mod sitefile;
mod treeio;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            report::print_error(&e);
            ExitCode::from(e.exit_code())
        }
    }
}
