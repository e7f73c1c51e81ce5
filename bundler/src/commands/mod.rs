//! One module per command.

mod image;
mod init;
mod lock;
pub mod net;
mod render;
mod schema;
mod secrets;
mod validate;

use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::error::Result;

pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Init(a) => init::run(a),
        Command::Validate(a) => validate::run(a),
        Command::Schema => schema::run(),
        Command::Render(a) => render::run(a),
        Command::Secrets(c) => secrets::run(c),
        Command::Lock(a) => lock::run(a),
        Command::Image(c) => image::run(c),
    }
}
