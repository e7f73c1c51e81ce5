//! One module per command.

mod bundle;
mod docs;
mod image;
mod init;
mod lock;
pub mod net;
mod render;
pub mod schema;
mod secrets;
pub mod spec_edit;
mod stdio;
pub mod ui;
mod upgrade;
mod validate;

use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::error::Result;

pub fn run(mut cli: Cli) -> Result<ExitCode> {
    stdio::prepare(&mut cli)?;
    match cli.command {
        Command::Init(a) => init::run(a),
        Command::Validate(a) => validate::run(a),
        Command::Schema(a) => schema::run(a),
        Command::Render(a) => render::run(a),
        Command::Secrets(c) => secrets::run(c),
        Command::Lock(a) => lock::run(a),
        Command::Image(c) => image::run(c),
        Command::Build(a) => bundle::build(a),
        Command::Verify(a) => bundle::verify(a),
        Command::Inspect(a) => bundle::inspect(a),
        Command::Import(a) => bundle::import(a),
        Command::Keygen(a) => bundle::keygen(a),
        Command::Completions(a) => docs::completions(a),
        Command::Man(a) => docs::man(a),
        Command::Upgrade(c) => upgrade::run(c),
        Command::Ui(a) => ui::run(a),
        Command::Spec(c) => spec_edit::run(c),
    }
}
