//! `meshbundle completions` and `meshbundle man`: shell completions and man
//! pages, generated from the same clap definitions as `--help`.

use std::io::Write;
use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::{Cli, CompletionShell, CompletionsArgs, ManArgs};
use crate::error::{Error, Result};
use crate::fsutil;

pub fn completions(a: CompletionsArgs) -> Result<ExitCode> {
    let shell = match a.shell {
        CompletionShell::Bash => clap_complete::Shell::Bash,
        CompletionShell::Zsh => clap_complete::Shell::Zsh,
        CompletionShell::Fish => clap_complete::Shell::Fish,
    };
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "meshbundle", &mut out);
    std::io::stdout()
        .write_all(&out)
        .map_err(|e| Error::failed_with("cannot write to standard output", e, "check the pipe"))?;
    Ok(ExitCode::SUCCESS)
}

/// One man page: roff text of `cmd`.
fn page(cmd: clap::Command) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut out)
        .map_err(|e| Error::failed_with("cannot render a man page", e, "report this as a bug"))?;
    Ok(out)
}

/// Every command and subcommand of a built command, with the name its page
/// has (`meshbundle-secrets-rotate`, clap's display name).
fn commands(cmd: &clap::Command, out: &mut Vec<(String, clap::Command)>) {
    out.push((
        cmd.get_display_name().unwrap_or(cmd.get_name()).to_string(),
        cmd.clone(),
    ));
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        commands(sub, out);
    }
}

pub fn man(a: ManArgs) -> Result<ExitCode> {
    let mut cmd = Cli::command();
    cmd.build();
    if a.output.as_os_str() == "-" {
        let text = page(cmd)?;
        std::io::stdout()
            .write_all(&text)
            .map_err(|e| Error::failed_with("cannot write to standard output", e, "check the pipe"))?;
        return Ok(ExitCode::SUCCESS);
    }
    fsutil::create_dir_all(&a.output, 0o755)?;
    let mut pages = Vec::new();
    commands(&cmd, &mut pages);
    for (name, c) in &pages {
        let path = a.output.join(format!("{name}.1"));
        fsutil::write_atomic(&path, &page(c.clone())?, 0o644)?;
    }
    eprintln!(
        "wrote {} man pages into {} (read one with: man -l {}/meshbundle.1)",
        pages.len(),
        a.output.display(),
        a.output.display()
    );
    Ok(ExitCode::SUCCESS)
}
