//! `meshbundle init`: write a commented example spec.

use std::io::Write;
use std::process::ExitCode;

use meshbundle_core::examples;

use crate::cli::InitArgs;
use crate::error::{Error, Result};
use crate::fsutil;

pub fn run(a: InitArgs) -> Result<ExitCode> {
    let text = examples::example(&a.example).ok_or_else(|| {
        Error::Usage(format!(
            "there is no example `{}`; the examples are: {}",
            a.example,
            examples::names().join(", ")
        ))
    })?;
    if a.output.as_os_str() == "-" {
        std::io::stdout()
            .write_all(text.as_bytes())
            .map_err(|e| Error::io("<stdout>", e))?;
        return Ok(ExitCode::SUCCESS);
    }
    fsutil::check_overwrite(&a.output, a.force)?;
    fsutil::write_atomic(&a.output, text.as_bytes(), 0o644)?;
    eprintln!("wrote {} (example `{}`)", a.output.display(), a.example);
    eprintln!("next: edit it, then run `meshbundle validate {}`", a.output.display());
    Ok(ExitCode::SUCCESS)
}
