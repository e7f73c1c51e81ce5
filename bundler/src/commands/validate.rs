//! `meshbundle validate`: every diagnostic of a spec, as text or JSON.

use std::process::ExitCode;

use meshbundle_core::diag::{Code, Diagnostic};
use meshbundle_core::spec::load::{MAX_SPEC_BYTES, load_bytes};
use serde_json::json;

use crate::cli::{Format, ValidateArgs};
use crate::error::Result;
use crate::{fsutil, report};

pub fn run(a: ValidateArgs) -> Result<ExitCode> {
    let bytes = match fsutil::read_limited(&a.file, MAX_SPEC_BYTES) {
        Ok(b) => b,
        // A program that asked for JSON gets JSON, even when there is no spec
        // to read: one diagnostic, of the same shape as the spec's.
        Err(e) if matches!(a.print.format, Format::Json) => {
            let read = Diagnostic::error(Code::Read, "", e.full_message(), e.hint().unwrap_or_default());
            let out = json!({
                "file": a.file.display().to_string(),
                "valid": false,
                "errors": 1,
                "warnings": 0,
                "diagnostics": [read],
            });
            println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e),
    };
    let loaded = load_bytes(&bytes);
    let errors = loaded.diagnostics.iter().filter(|d| d.is_error()).count();
    match a.print.format {
        Format::Json => {
            let out = json!({
                "file": a.file.display().to_string(),
                "valid": errors == 0,
                "errors": errors,
                "warnings": loaded.diagnostics.len() - errors,
                "diagnostics": loaded.diagnostics,
            });
            println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        }
        Format::Text => {
            for d in &loaded.diagnostics {
                println!("{}", report::diagnostic_line(&a.file, d));
            }
            eprintln!("{}: {}", a.file.display(), report::count_summary(&loaded.diagnostics));
        }
    }
    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
