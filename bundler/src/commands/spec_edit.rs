//! `meshbundle spec set|insert|remove|rename`: edit one field of a spec file in
//! place. The change is made on the text (core's `spec::edit`, the function
//! the configurator's form uses), so comments, key order, quoting and the
//! defaults left out stay as they were; the file is replaced atomically,
//! keeping its mode.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use meshbundle_core::spec::edit::{EditOp, edit};
use meshbundle_core::spec::load::{MAX_SPEC_BYTES, load};

use crate::cli::examples;
use crate::error::{Error, Result};
use crate::fsutil;

#[derive(clap::Subcommand, Debug)]
pub enum SpecCommand {
    /// Set one field (creating the mappings above it when missing).
    #[command(
        after_help = "VALUE is read as a YAML value: 3 is a number, true a boolean, \"1.30\" or --string text, [a, b] a list, {k: v} a mapping. It is written back so that it reads the same (text that YAML would take for another type is quoted).",
        help_template = examples!("  meshbundle spec set spec.nodes[2].address 10.0.0.14\n  meshbundle spec set spec.istio.ingressGateway.replicas 3 -f site.yaml\n  meshbundle spec set metadata.description --string yes\n  cat meshbundle.yaml | meshbundle spec set spec.kubernetes.podSubnet 10.244.0.0/16 -f - > new.yaml")
    )]
    Set(SetArgs),
    /// Insert an item into a list; PATH ends with the new item's index (the list's length appends).
    #[command(
        help_template = examples!("  meshbundle spec insert spec.istio.ingressGateway.hosts[1] api.example.internal\n  meshbundle spec insert spec.nodes[6] '{name: worker-4, address: 10.0.0.24, role: worker}'")
    )]
    Insert(SetArgs),
    /// Remove a key or a list item.
    #[command(help_template = examples!("  meshbundle spec remove spec.nodes[5]\n  meshbundle spec remove spec.istio.ingressGateway.hpa -f site.yaml"))]
    Remove(RemoveArgs),
    /// Give a key of a mapping another name; its value, comments and place stay.
    #[command(
        help_template = examples!("  meshbundle spec rename 'spec.tuning.sysctl[\"net.core.somaxconn\"]' net.ipv4.tcp_fin_timeout\n  meshbundle spec rename spec.nodes[0].labels.rack row -f site.yaml")
    )]
    Rename(RenameArgs),
}

#[derive(clap::Args, Debug)]
pub struct SetArgs {
    /// The field path, as validate prints it: spec.nodes[2].address, spec.tuning.sysctl["vm.max_map_count"].
    pub path: String,
    /// The new value, read as YAML (see --string). It may start with `-`
    /// (a negative number, a PEM certificate).
    #[arg(allow_hyphen_values = true)]
    pub value: String,
    /// Take VALUE as text, whatever it looks like.
    #[arg(long)]
    pub string: bool,
    /// The spec file to edit in place; `-` reads standard input and writes the result to standard output.
    #[arg(short = 'f', long = "file", default_value = "meshbundle.yaml")]
    pub file: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct RemoveArgs {
    /// The field path of the key or item to remove.
    pub path: String,
    /// The spec file to edit in place; `-` reads standard input and writes the result to standard output.
    #[arg(short = 'f', long = "file", default_value = "meshbundle.yaml")]
    pub file: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct RenameArgs {
    /// The field path of the key to rename.
    pub path: String,
    /// Its new name.
    pub to: String,
    /// The spec file to edit in place; `-` reads standard input and writes the result to standard output.
    #[arg(short = 'f', long = "file", default_value = "meshbundle.yaml")]
    pub file: PathBuf,
}

pub fn run(c: SpecCommand) -> Result<ExitCode> {
    match c {
        SpecCommand::Set(a) => {
            let v = value_of(&a)?;
            apply(&a.file, &a.path, &EditOp::Set(v))
        }
        SpecCommand::Insert(a) => {
            let v = value_of(&a)?;
            apply(&a.file, &a.path, &EditOp::Insert(v))
        }
        SpecCommand::Remove(a) => apply(&a.file, &a.path, &EditOp::Remove),
        SpecCommand::Rename(a) => apply(&a.file, &a.path, &EditOp::Rename(a.to)),
    }
}

fn value_of(a: &SetArgs) -> Result<serde_json::Value> {
    if a.string {
        return Ok(serde_json::Value::String(a.value.clone()));
    }
    meshbundle_core::yaml::from_str::<serde_json::Value>(&a.value).map_err(|e| {
        Error::Usage(format!(
            "the value `{}` does not read as YAML: {}; quote it, or give --string to take it as text",
            a.value, e.message
        ))
    })
}

fn apply(file: &Path, path: &str, op: &EditOp) -> Result<ExitCode> {
    let stdio = file.as_os_str() == "-";
    let shown = if stdio {
        "<stdin>".to_string()
    } else {
        file.display().to_string()
    };
    let bytes = if stdio {
        let mut b = Vec::new();
        std::io::stdin()
            .take(MAX_SPEC_BYTES as u64 + 1)
            .read_to_end(&mut b)
            .map_err(|e| Error::io("<stdin>", e))?;
        b
    } else {
        std::fs::read(file).map_err(|e| Error::io(file, e))?
    };
    if bytes.len() > MAX_SPEC_BYTES {
        return Err(Error::failed(
            format!("{shown}: larger than {MAX_SPEC_BYTES} bytes; a site spec is a few kilobytes"),
            "check that this is the right file",
        ));
    }
    let text = std::str::from_utf8(&bytes)
        .map_err(|e| Error::failed_with(format!("{shown}: not UTF-8 text"), e, "save the spec as UTF-8"))?;
    let out = edit(text, path, op).map_err(|e| Error::failed(format!("{shown}: {}: {}", e.path, e.message), e.hint))?;
    if stdio {
        std::io::stdout()
            .write_all(out.as_bytes())
            .map_err(|e| Error::io("<stdout>", e))?;
    } else if out != text {
        fsutil::write_atomic(file, out.as_bytes(), mode_of(file))?;
    }
    let what = match op {
        EditOp::Set(_) => "set",
        EditOp::Insert(_) => "inserted",
        EditOp::Remove => "removed",
        EditOp::Rename(_) => "renamed",
    };
    if out == text {
        eprintln!("{shown}: {path} unchanged");
    } else {
        eprintln!("{shown}: {what} {path}");
    }
    let errors = load(&out).diagnostics.iter().filter(|d| d.is_error()).count();
    if errors > 0 {
        let s = if errors == 1 { "" } else { "s" };
        eprintln!("note: the spec has {errors} error{s}; `meshbundle validate {shown}` lists them");
    }
    Ok(ExitCode::SUCCESS)
}

/// The file's permission bits, kept when it is replaced.
fn mode_of(file: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(file)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o644)
}
