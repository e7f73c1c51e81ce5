//! `meshbundle schema [spec|lock|secrets|seal]`: the JSON Schema of one of
//! meshbundle's documents on standard output (the site spec by default), as
//! committed under `core/schema/`.

use std::io::Write;
use std::process::ExitCode;

use meshbundle_core::schema::Document;

use crate::error::{Error, Result};

/// Which document's schema to print.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Which {
    /// The site spec, `meshbundle.yaml`.
    #[default]
    Spec,
    /// The lock, `meshbundle.lock`.
    Lock,
    /// The site secrets, `site.secrets.yaml`.
    Secrets,
    /// The seal of a bundle, `SEAL.json`.
    Seal,
}

#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// The document whose schema to print.
    #[arg(value_enum, default_value_t = Which::Spec)]
    pub document: Which,
}

impl From<Which> for Document {
    fn from(w: Which) -> Document {
        match w {
            Which::Spec => Document::Spec,
            Which::Lock => Document::Lock,
            Which::Secrets => Document::Secrets,
            Which::Seal => Document::Seal,
        }
    }
}

pub fn run(a: SchemaArgs) -> Result<ExitCode> {
    let text = Document::from(a.document).committed();
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(|e| Error::io("<stdout>", e))?;
    Ok(ExitCode::SUCCESS)
}
