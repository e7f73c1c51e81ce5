//! `meshbundle schema`: the JSON Schema of the site spec on standard output.

use std::io::Write;
use std::process::ExitCode;

use crate::error::{Error, Result};

pub fn run() -> Result<ExitCode> {
    let text = meshbundle_core::schema::site_schema_json();
    std::io::stdout().write_all(text.as_bytes()).map_err(|e| Error::io("<stdout>", e))?;
    Ok(ExitCode::SUCCESS)
}
