//! Command-line flags. Every command's `--help` ends with examples.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "meshbundle",
    version,
    about = "Turn an air-gapped Istio-on-kubeadm site into one sealed, reproducible bundle",
    long_about = "meshbundle turns a site spec (meshbundle.yaml) into every file a production \
Istio-on-kubeadm install needs, pins every image and file in a lock, and seals it all into one \
bundle that is verified and imported at the site with no network.",
    after_help = "Examples:\n  meshbundle init -o meshbundle.yaml\n  meshbundle validate meshbundle.yaml\n  meshbundle schema > meshbundle.schema.json",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write a commented site spec to start from.
    #[command(after_help = "Examples:\n  meshbundle init                       # production site -> meshbundle.yaml\n  meshbundle init --example lab -o lab.yaml\n  meshbundle init -o -                  # print it")]
    Init(InitArgs),

    /// Check a site spec and print every problem with its line and field path.
    #[command(after_help = "Exit status: 0 when the spec is valid (warnings are printed), 1 when it has errors.\n\nExamples:\n  meshbundle validate meshbundle.yaml\n  meshbundle validate --format json meshbundle.yaml | jq '.diagnostics[]'")]
    Validate(ValidateArgs),

    /// Print the JSON Schema of the site spec, for editors.
    #[command(after_help = "Examples:\n  meshbundle schema > meshbundle.schema.json\n  # then, at the top of meshbundle.yaml:\n  # yaml-language-server: $schema=meshbundle.schema.json")]
    Schema,
}

#[derive(clap::Args, Debug)]
pub struct InitArgs {
    /// Where to write the spec (`-` for standard output).
    #[arg(short, long, default_value = "meshbundle.yaml")]
    pub output: PathBuf,
    /// Which example to start from: `production` (3 + 3 nodes across zones) or `lab` (one node).
    #[arg(long, default_value = "production", value_name = "NAME")]
    pub example: String,
    /// Overwrite the output file if it exists.
    #[arg(long)]
    pub force: bool,
}

#[derive(clap::Args, Debug)]
pub struct ValidateArgs {
    /// The site spec to check.
    pub file: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}
