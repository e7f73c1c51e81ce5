//! `meshbundle spec set|insert|remove|rename`: edit one field of a spec file in
//! place. The change is made on the text (core's `spec::edit`, the function
//! the configurator's form uses), so comments, key order, quoting and the
//! defaults left out stay as they were; the file is replaced atomically,
//! keeping its mode and owner. A symbolic link is followed (the file it
//! names is edited); a file that is not a regular file, or that this user
//! may not write, is refused before anything is written.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use meshbundle_core::spec::edit::{EditOp, edit_spec, wants_text};
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
    /// Remove a key or a list item. Removing a list's last item also removes
    /// the mappings it leaves holding nothing, when the site reads the same
    /// without them and no comment is written in them (`jwt:` holding only
    /// `issuers: []`).
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
    use serde_json::Value;
    if a.string {
        return Ok(Value::String(a.value.clone()));
    }
    let v = meshbundle_core::yaml::from_str::<Value>(&a.value).map_err(|e| {
        // (The reader's own hint is about a file; this one fits a value.)
        Error::Usage(format!(
            "the value `{}` does not read as YAML: {}; quote it, or give --string to take it as text",
            a.value,
            e.message.split(" (").next().unwrap_or(&e.message)
        ))
    })?;
    Ok(match v {
        // Text of several lines (a PEM certificate) is the text as given:
        // YAML would fold its lines into one.
        Value::String(_) if a.value.contains('\n') => Value::String(a.value.clone()),
        // A field that takes text gets `1.30` as the text 1.30, not the
        // number 1.3 (the schema says which fields take text).
        Value::Number(_) | Value::Bool(_) if wants_text(&a.path) => Value::String(a.value.trim().to_string()),
        v => v,
    })
}

fn apply(file: &Path, path: &str, op: &EditOp) -> Result<ExitCode> {
    let stdio = file.as_os_str() == "-";
    let shown = if stdio {
        "<stdin>".to_string()
    } else {
        file.display().to_string()
    };
    // The file edited: the one a symbolic link names, a regular file this
    // user may write, in a directory it may write (the new text replaces it
    // there).
    let target = if stdio { None } else { Some(editable(file, &shown)?) };
    let bytes = if stdio {
        let mut b = Vec::new();
        std::io::stdin()
            .take(MAX_SPEC_BYTES as u64 + 1)
            .read_to_end(&mut b)
            .map_err(|e| Error::io("<stdin>", e))?;
        b
    } else {
        let target = target.as_ref().map_or(file, |(p, _)| p.as_path());
        std::fs::read(target).map_err(|e| Error::io(file, e))?
    };
    if bytes.len() > MAX_SPEC_BYTES {
        return Err(Error::failed(
            format!("{shown}: larger than {MAX_SPEC_BYTES} bytes; a site spec is a few kilobytes"),
            "check that this is the right file",
        ));
    }
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        let at = e.valid_up_to();
        let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        Error::failed(
            format!("{shown}:{line}: not UTF-8 text (byte {} is not)", at + 1),
            "save the spec as UTF-8",
        )
    })?;
    let out = edit_spec(text, path, op).map_err(|e| {
        // A text that does not parse: the place in the file, as `validate`
        // gives it; else the field.
        if let Some((line, column)) = e.at {
            return Error::failed(format!("{shown}:{line}:{column}: {}", e.message), e.hint);
        }
        let at = if e.path.is_empty() {
            String::new()
        } else {
            format!("{}: ", e.path)
        };
        Error::failed(format!("{shown}: {at}{}", e.message), e.hint)
    })?;
    if out.len() > MAX_SPEC_BYTES {
        return Err(Error::failed(
            format!(
                "{shown}: the edited spec would be {} bytes, more than the {MAX_SPEC_BYTES} a spec may be: nothing was changed",
                out.len()
            ),
            "a site spec is a few kilobytes: check the value",
        ));
    }
    if stdio {
        std::io::stdout()
            .write_all(out.as_bytes())
            .map_err(|e| Error::io("<stdout>", e))?;
    } else if out != text
        && let Some((target, meta)) = &target
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        fsutil::write_atomic(target, out.as_bytes(), meta.permissions().mode() & 0o7777)?;
        // The owner stays (root editing another user's spec); a change of
        // group this user may not make is left.
        let _ = std::os::unix::fs::chown(target, Some(meta.uid()), Some(meta.gid()));
    }
    let what = match op {
        EditOp::Set(_) => "set",
        EditOp::Insert(_) => "inserted",
        EditOp::Remove => "removed",
        EditOp::Rename(_) => "renamed",
    };
    if out == text && matches!(op, EditOp::Remove) {
        eprintln!("{shown}: {path} is not in the file: nothing was removed");
    } else if out == text {
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

/// The file to edit for `file` (a symbolic link followed) and its
/// metadata, or why it cannot be edited in place.
fn editable(file: &Path, shown: &str) -> Result<(PathBuf, std::fs::Metadata)> {
    let target = std::fs::canonicalize(file).map_err(|e| Error::io(file, e))?;
    let meta = std::fs::metadata(&target).map_err(|e| Error::io(file, e))?;
    if meta.is_dir() {
        return Err(Error::failed(
            format!("{shown} is a directory"),
            "give the path of a spec file",
        ));
    }
    if !meta.is_file() {
        return Err(Error::failed(
            format!("{shown} is not a regular file (a device, a pipe or a socket): it cannot be edited in place"),
            "use `-f -` to read the spec from standard input and write the result to standard output",
        ));
    }
    let may_write = |p: &Path| {
        use std::os::unix::ffi::OsStrExt;
        std::ffi::CString::new(p.as_os_str().as_bytes())
            // SAFETY: access reads the NUL-terminated path and nothing else.
            .is_ok_and(|c| unsafe { libc::access(c.as_ptr(), libc::W_OK) } == 0)
    };
    if meta.permissions().readonly() || !may_write(&target) {
        use std::os::unix::fs::PermissionsExt;
        return Err(Error::failed(
            format!(
                "{shown} is not writable (mode {:04o}{}): nothing was changed",
                meta.permissions().mode() & 0o7777,
                if meta.permissions().readonly() {
                    ", read-only"
                } else {
                    ", and this user may not write it"
                }
            ),
            "make it writable if you mean to edit it (chmod u+w), or edit a copy",
        ));
    }
    let dir = target.parent().unwrap_or(Path::new("/"));
    if !may_write(dir) {
        return Err(Error::failed(
            format!(
                "{shown}: its directory {} is not writable, and the spec is replaced there: nothing was changed",
                dir.display()
            ),
            "run as the directory's owner, or edit a copy elsewhere",
        ));
    }
    Ok((target, meta))
}
