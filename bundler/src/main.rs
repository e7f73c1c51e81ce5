//! `meshbundle`: turns a site spec into a sealed, reproducible bundle for an
//! air-gapped Istio-on-kubeadm install, and verifies and imports it at the site.

use std::process::ExitCode;

use clap::Parser;
use meshbundle::{cli, commands, report};

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
