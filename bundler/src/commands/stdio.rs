//! `-` on the command line: standard input where a file is read, standard
//! output where a file is written, decided here once for every command
//! before it runs.
//!
//! Reads: a spec or a lock given as `-` is read from standard input as it
//! is (and named `-` in diagnostics). A secrets file, key, identity,
//! passphrase, recipe or binary given as `-` is read through `/dev/stdin`,
//! so the checks a file gets (a private file's mode) apply to what standard
//! input is. A bundle is read with random access (hashed in parallel, then
//! read again for each target), so `-` takes a bundle redirected from a file
//! (`< site.mbundle`) and refuses a pipe with one plain line. Standard input
//! is read once: only one argument may be `-`.
//!
//! Writes: a spec, a lock, the JSON schema, a man page and the rendered
//! `--tar` go to standard output with `-o -`. Nothing that holds a secret is
//! ever written there (a secrets file, a signing key, a tar rendered with
//! `--secrets`), a bundle is written whole to a file before it is named,
//! and a directory output has no `-`: each says so and what to give instead.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use crate::cli::{Cli, Command, ImageCommand, SecretsCommand, UpgradeCommand};
use crate::error::{Error, Result};

/// Where standard input is read through when a file's checks must apply.
const STDIN: &str = "/dev/stdin";

fn dash(p: &Path) -> bool {
    p.as_os_str() == "-"
}

/// Checks every `-` of the command line and rewrites those read through
/// `/dev/stdin`; a usage error (exit 2) for a `-` that cannot mean anything.
pub fn prepare(cli: &mut Cli) -> Result<()> {
    let mut inputs = Inputs::default();
    match &mut cli.command {
        Command::Validate(a) => inputs.plain("the spec", &a.file),
        Command::Render(a) => {
            inputs.plain("the spec", &a.file);
            if let Some(l) = &a.lock {
                inputs.plain("--lock", l);
            }
            inputs.through("--secrets", &mut a.secrets);
            if a.output.as_deref().is_some_and(dash) {
                return Err(usage(
                    "render -o takes a directory; --tar - writes the .tar.gz to standard output",
                ));
            }
            if a.tar.as_deref().is_some_and(dash) {
                if a.secrets.is_some() {
                    return Err(usage(
                        "a tar rendered with --secrets holds private keys and is never written to standard output: give --tar FILE (written 0600)",
                    ));
                }
                if std::io::stdout().is_terminal() {
                    return Err(usage(
                        "--tar - writes a binary .tar.gz: send standard output to a file or a pipe",
                    ));
                }
            }
        }
        Command::Secrets(SecretsCommand::Generate(a)) => {
            inputs.plain("the spec", &a.spec);
            inputs.through("--mesh-root", &mut a.mesh_root);
            inputs.through("--ingress-cert", &mut a.ingress_cert);
            inputs.through("--ingress-key", &mut a.ingress_key);
            no_secret_out(&a.output)?;
        }
        Command::Secrets(SecretsCommand::Show(a)) => inputs.through_one("the secrets file", &mut a.file),
        Command::Secrets(SecretsCommand::Rotate(a)) => {
            inputs.plain("the spec", &a.spec);
            inputs.through_one("--secrets", &mut a.secrets);
            if let Some(o) = &a.output {
                no_secret_out(o)?;
            }
        }
        Command::Lock(a) => {
            inputs.plain("the spec", &a.spec);
            net(
                &mut inputs,
                &mut a.net.registry_access.authfile,
                &mut a.net.registry_access.registry_ca,
                &a.net.cache,
            )?;
        }
        Command::Image(ImageCommand::Pull(a)) => {
            no_dir("-o", &a.output)?;
            net(
                &mut inputs,
                &mut a.net.registry_access.authfile,
                &mut a.net.registry_access.registry_ca,
                &a.net.cache,
            )?;
        }
        Command::Image(ImageCommand::Build(a)) => {
            inputs.through_one("the recipe", &mut a.recipe);
            no_dir("-o", &a.output)?;
        }
        Command::Build(a) => {
            if let Some(s) = &a.spec {
                inputs.plain("the spec", s);
            }
            // The lock is read twice (parsed, then carried in the seal as it is).
            inputs.through("--lock", &mut a.lock);
            inputs.through("--secrets", &mut a.secrets);
            for r in &mut a.recipients_file {
                inputs.through_one("--recipients-file", r);
            }
            inputs.through("--passphrase-file", &mut a.passphrase_file);
            inputs.through("--sign", &mut a.sign);
            inputs.through("--binary", &mut a.binary);
            if let Some(s) = &mut a.since {
                inputs.bundle("--since", s);
            }
            net(
                &mut inputs,
                &mut a.net.registry_access.authfile,
                &mut a.net.registry_access.registry_ca,
                &a.net.cache,
            )?;
            if dash(&a.output) {
                return Err(usage(
                    "a bundle is written to a file, sealed and renamed into place only when whole: give -o FILE, and send that file on",
                ));
            }
        }
        Command::Verify(a) => {
            inputs.bundle("the bundle", &mut a.file);
            keys(&mut inputs, &mut a.key);
        }
        Command::Inspect(a) => inputs.bundle("the bundle", &mut a.file),
        Command::Import(a) => {
            inputs.bundle("the bundle", &mut a.file);
            keys(&mut inputs, &mut a.key);
            inputs.through("--identity", &mut a.identity);
            inputs.through("--passphrase-file", &mut a.passphrase_file);
            inputs.through("--authfile", &mut a.registry_access.authfile);
            for c in &mut a.registry_access.registry_ca {
                inputs.through_one("--registry-ca", c);
            }
            if let Some(d) = &a.extract {
                no_dir("--extract", d)?;
            }
            if a.containerd.as_deref().is_some_and(dash) {
                return Err(usage(
                    "--containerd takes containerd's socket, e.g. /run/containerd/containerd.sock",
                ));
            }
        }
        Command::Upgrade(UpgradeCommand::Plan(a)) => {
            inputs.plain("the spec", &a.spec);
            if let Some(f) = &mut a.from {
                inputs.bundle("--from", f);
            }
            if let Some(f) = &a.from_spec {
                inputs.plain("--from-spec", f);
            }
            if let Some(f) = &a.from_lock {
                inputs.plain("--from-lock", f);
            }
            if let Some(f) = &a.lock {
                inputs.plain("--lock", f);
            }
            keys(&mut inputs, &mut a.key);
            if let Some(c) = &a.cache {
                no_dir("--cache", c)?;
            }
        }
        Command::Keygen(a) => {
            if dash(&a.output) {
                return Err(usage(
                    "keygen writes two files, PREFIX.key (private, 0600) and PREFIX.pub, and never prints the private key: give a prefix, e.g. -o release",
                ));
            }
        }
        // `init -o -` and `man -o -` print; `schema` and `completions` always do.
        // `spec set|insert|remove|rename -f -` edits standard input to standard output itself.
        Command::Init(_)
        | Command::Schema(_)
        | Command::Completions(_)
        | Command::Man(_)
        | Command::Ui(_)
        | Command::Spec(_) => {}
    }
    inputs.finish()
}

#[derive(Default)]
struct Inputs {
    /// The arguments that read standard input.
    from_stdin: Vec<&'static str>,
    /// A bundle was given as `-` while standard input is not a file.
    pipe: Option<&'static str>,
}

impl Inputs {
    /// A file its command reads itself, `-` included.
    fn plain(&mut self, what: &'static str, p: &Path) {
        if dash(p) {
            self.from_stdin.push(what);
        }
    }

    /// A file read through `/dev/stdin` when given as `-`.
    fn through(&mut self, what: &'static str, p: &mut Option<PathBuf>) {
        if let Some(p) = p {
            self.through_one(what, p);
        }
    }

    fn through_one(&mut self, what: &'static str, p: &mut PathBuf) {
        if dash(p) {
            self.from_stdin.push(what);
            *p = PathBuf::from(STDIN);
        }
    }

    /// A bundle: `-` only when standard input is a regular file.
    fn bundle(&mut self, what: &'static str, p: &mut PathBuf) {
        if dash(p) {
            self.from_stdin.push(what);
            let is_file = std::fs::metadata(STDIN).is_ok_and(|m| m.is_file());
            if is_file {
                *p = PathBuf::from(STDIN);
            } else {
                self.pipe = Some(what);
            }
        }
    }

    fn finish(self) -> Result<()> {
        if self.from_stdin.len() > 1 {
            return Err(usage(format!(
                "standard input is read once, but {} are all given as `-`: give all but one as files",
                self.from_stdin.join(", ")
            )));
        }
        if let Some(what) = self.pipe {
            return Err(usage(format!(
                "{what} is `-`, but standard input is not a file: a bundle is read with random access (hashed in parallel, then read again to import), so redirect it from its file (`< site.mbundle`) or give the path"
            )));
        }
        Ok(())
    }
}

fn keys(inputs: &mut Inputs, keys: &mut [PathBuf]) {
    for k in keys {
        inputs.through_one("--key", k);
    }
}

fn net(
    inputs: &mut Inputs,
    authfile: &mut Option<PathBuf>,
    cas: &mut [PathBuf],
    cache: &Option<PathBuf>,
) -> Result<()> {
    inputs.through("--authfile", authfile);
    for c in cas {
        inputs.through_one("--registry-ca", c);
    }
    match cache {
        Some(c) => no_dir("--cache", c),
        None => Ok(()),
    }
}

fn no_secret_out(p: &Path) -> Result<()> {
    if dash(p) {
        return Err(usage(
            "a secrets file holds the site's CAs and keys and is never written to standard output: give a file, e.g. -o site.secrets.yaml (written 0600)",
        ));
    }
    Ok(())
}

fn no_dir(flag: &str, p: &Path) -> Result<()> {
    if dash(p) {
        return Err(usage(format!(
            "{flag} takes a directory, and `-` (standard output) is no directory: give its path"
        )));
    }
    Ok(())
}

fn usage(message: impl Into<String>) -> Error {
    Error::Usage(message.into())
}
