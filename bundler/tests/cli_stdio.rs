//! `-` for standard input and output, and answers in the format asked for,
//! whatever goes wrong.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::*;

fn with_stdin(d: &std::path::Path, args: &[&str], input: &[u8]) -> std::process::Output {
    let mut c = Command::new(bin())
        .args(args)
        .current_dir(d)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command that refuses its input before reading it closes the pipe: not an error here.
    let _ = c.stdin.take().unwrap().write_all(input);
    c.wait_with_output().unwrap()
}

#[test]
fn a_spec_is_read_from_standard_input_with_dash() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let lab = meshbundle(d, &["init", "--example", "lab", "-o", "-"]);
    assert!(lab.status.success());
    let o = with_stdin(d, &["validate", "-"], &lab.stdout);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = with_stdin(
        d,
        &["validate", "-", "--format", "json"],
        b"apiVersion: meshbundle.dev/v1alpha1\nkind: Site\n",
    );
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["valid"], false);
    // render - gives the same tree as render meshbundle.yaml (the name the
    // rendered README gives a spec read from standard input).
    std::fs::write(d.join("meshbundle.yaml"), &lab.stdout).unwrap();
    let o = with_stdin(d, &["render", "-", "--tar", "stdin.tar.gz"], &lab.stdout);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        meshbundle(d, &["render", "meshbundle.yaml", "--tar", "file.tar.gz"])
            .status
            .success()
    );
    assert_eq!(
        std::fs::read(d.join("stdin.tar.gz")).unwrap(),
        std::fs::read(d.join("file.tar.gz")).unwrap()
    );
}

#[test]
fn validate_as_json_answers_in_json_when_the_file_cannot_be_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = meshbundle(d, &["validate", "--format", "json", "missing.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON on standard output");
    assert_eq!(v["valid"], false);
    assert_eq!(v["file"], "missing.yaml");
    let d0 = &v["diagnostics"][0];
    assert_eq!(d0["severity"], "error");
    assert!(d0["message"].as_str().unwrap().contains("No such file"), "{v}");
}

#[test]
fn render_without_an_output_names_both_choices() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(meshbundle(d, &["init", "--example", "lab"]).status.success());
    let o = meshbundle(d, &["render", "meshbundle.yaml"]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(err.contains("--output <DIR>") && err.contains("--tar <FILE>"), "{err}");
}

/// Runs meshbundle with standard input read from a file (a redirect, `< FILE`).
fn with_stdin_file(d: &std::path::Path, args: &[&str], file: &str) -> std::process::Output {
    let f = std::fs::File::open(d.join(file)).unwrap();
    Command::new(bin()).args(args).current_dir(d).stdin(f).output().unwrap()
}

/// What each command does with `-`: every file a command reads or writes is
/// listed here, with what `-` does for it. A `-` that cannot mean standard
/// input or output is a usage error (exit 2) that says what to give, and
/// never a file named `-`.
#[test]
fn dash_means_standard_input_or_output_for_every_command_or_says_why_not() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let lab = meshbundle(d, &["init", "--example", "lab", "-o", "-"]);
    assert!(lab.status.success());
    std::fs::write(d.join("lab.yaml"), &lab.stdout).unwrap();
    assert!(
        meshbundle(d, &["secrets", "generate", "lab.yaml", "-o", "lab.secrets.yaml"])
            .status
            .success()
    );
    let secrets_text = std::fs::read(d.join("lab.secrets.yaml")).unwrap();
    assert!(
        meshbundle(d, &["build", "--example", "lab", "-o", "lab.mbundle", "--quiet"])
            .status
            .success()
    );
    let bundle = std::fs::read(d.join("lab.mbundle")).unwrap();
    let ok = |o: &std::process::Output| assert!(o.status.success(), "{}", text(&o.stderr));
    let usage = |o: &std::process::Output, says: &str| {
        assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
        assert!(text(&o.stderr).contains(says), "{}", text(&o.stderr));
        assert!(o.stdout.is_empty(), "nothing on standard output");
    };

    // render --tar -: the .tar.gz on standard output, the same bytes as --tar FILE.
    let o = meshbundle(d, &["render", "lab.yaml", "--tar", "-"]);
    ok(&o);
    assert!(
        meshbundle(d, &["render", "lab.yaml", "--tar", "lab.tar.gz"])
            .status
            .success()
    );
    assert_eq!(o.stdout, std::fs::read(d.join("lab.tar.gz")).unwrap());
    // ... but never with the private keys in it.
    let o = meshbundle(
        d,
        &["render", "lab.yaml", "--secrets", "lab.secrets.yaml", "--tar", "-"],
    );
    usage(&o, "never written to standard output");
    // render --secrets -: the secrets from standard input give the same tree as the file.
    let o = with_stdin(
        d,
        &["render", "lab.yaml", "--secrets", "-", "--tar", "in.tar.gz"],
        &secrets_text,
    );
    ok(&o);
    assert!(
        meshbundle(
            d,
            &[
                "render",
                "lab.yaml",
                "--secrets",
                "lab.secrets.yaml",
                "--tar",
                "file.tar.gz"
            ]
        )
        .status
        .success()
    );
    assert_eq!(
        std::fs::read(d.join("in.tar.gz")).unwrap(),
        std::fs::read(d.join("file.tar.gz")).unwrap()
    );
    usage(&meshbundle(d, &["render", "lab.yaml", "-o", "-"]), "--tar -");

    // Standard input is read once.
    let o = with_stdin(d, &["render", "-", "--secrets", "-", "-o", "out"], &lab.stdout);
    usage(&o, "standard input is read once");
    assert!(!d.join("out").exists());

    // secrets show -: from a pipe, as from the file.
    let o = with_stdin(d, &["secrets", "show", "-"], &secrets_text);
    ok(&o);
    assert_eq!(o.stdout, meshbundle(d, &["secrets", "show", "lab.secrets.yaml"]).stdout);
    // secrets generate - (the spec from standard input) writes a file; -o - is refused.
    ok(&with_stdin(
        d,
        &["secrets", "generate", "-", "-o", "stdin.secrets.yaml"],
        &lab.stdout,
    ));
    assert!(d.join("stdin.secrets.yaml").exists());
    usage(
        &meshbundle(d, &["secrets", "generate", "lab.yaml", "-o", "-"]),
        "never written to standard output",
    );
    // secrets rotate --secrets -: rotated into a file; -o - refused.
    ok(&with_stdin(
        d,
        &["secrets", "rotate", "lab.yaml", "--secrets", "-", "-o", "rotated.yaml"],
        &secrets_text,
    ));
    assert!(meshbundle(d, &["secrets", "show", "rotated.yaml"]).status.success());
    usage(
        &meshbundle(
            d,
            &[
                "secrets",
                "rotate",
                "lab.yaml",
                "--secrets",
                "lab.secrets.yaml",
                "-o",
                "-",
            ],
        ),
        "never written",
    );

    // verify, inspect and import -: a bundle redirected from its file, the same answer as the file.
    let o = with_stdin_file(d, &["verify", "-", "--format", "json"], "lab.mbundle");
    ok(&o);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let f: serde_json::Value =
        serde_json::from_slice(&meshbundle(d, &["verify", "lab.mbundle", "--format", "json"]).stdout).unwrap();
    assert_eq!(v["id"], f["id"]);
    let o = with_stdin_file(d, &["inspect", "-", "--format", "json"], "lab.mbundle");
    ok(&o);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["id"], f["id"]);
    let o = with_stdin_file(d, &["import", "-", "--extract", "site", "--quiet"], "lab.mbundle");
    ok(&o);
    assert!(d.join("site/install.sh").exists());
    // ... and a pipe is refused in one line, before anything is read or written.
    for args in [
        &["verify", "-"][..],
        &["inspect", "-"],
        &["import", "-", "--extract", "piped"],
    ] {
        usage(&with_stdin(d, args, &bundle), "standard input is not a file");
    }
    assert!(!d.join("piped").exists());
    usage(
        &meshbundle(d, &["import", "lab.mbundle", "--extract", "-"]),
        "takes a directory",
    );

    // build: the spec from standard input; -o - refused, and no file named `-`.
    let o = with_stdin(
        d,
        &["build", "-", "-o", "stdin.mbundle", "--quiet"],
        b"apiVersion: meshbundle.dev/v1alpha1\nkind: Site\n",
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("-: 1 error") || text(&o.stderr).contains("-: "),
        "the spec was read from standard input: {}",
        text(&o.stderr)
    );
    usage(
        &meshbundle(d, &["build", "--example", "lab", "-o", "-"]),
        "give -o FILE",
    );
    let o = with_stdin_file(
        d,
        &[
            "build",
            "lab.yaml",
            "--since",
            "-",
            "-o",
            "since.mbundle",
            "--quiet",
            "--cache",
            "cache",
        ],
        "lab.mbundle",
    );
    assert_ne!(
        o.status.code(),
        Some(2),
        "--since - reads the redirected bundle: {}",
        text(&o.stderr)
    );
    // keygen -o -: refused (two files, one private).
    usage(&meshbundle(d, &["keygen", "-o", "-"]), "give a prefix");
    // image build -: the recipe from standard input is read; -o - refused.
    usage(
        &meshbundle(d, &["image", "pull", "a/b:1", "-o", "-"]),
        "takes a directory",
    );
    usage(
        &meshbundle(d, &["image", "build", "recipe.yaml", "-o", "-"]),
        "takes a directory",
    );
    // upgrade plan: the new spec from standard input, --from - a redirected bundle.
    let o = with_stdin_file(d, &["upgrade", "plan", "--from", "-", "lab.yaml"], "lab.mbundle");
    assert_ne!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("verified") || text(&o.stdout).contains("verified"),
        "{}",
        text(&o.stderr)
    );
    let o = with_stdin(d, &["upgrade", "plan", "--from", "lab.mbundle", "-"], &lab.stdout);
    assert_ne!(o.status.code(), Some(2), "{}", text(&o.stderr));
    // man -o - and init -o - print; schema prints.
    assert!(text(&meshbundle(d, &["man", "-o", "-"]).stdout).starts_with(".ie"));
    assert!(meshbundle(d, &["schema"]).stdout.starts_with(b"{"));

    assert!(
        !d.join("-").exists() && !d.join("-.key").exists(),
        "no file named after `-`"
    );
}

/// `lock - -o -`: the spec from standard input, the lock to standard output,
/// the same lock as from and to files (against a real registry and file server).
#[test]
fn lock_reads_the_spec_from_standard_input_and_writes_the_lock_to_standard_output() {
    let site = example("lab");
    let up = site::serve(&site);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let spec = std::fs::read(repo().join("core/examples/lab.yaml")).unwrap();
    std::fs::write(d.join("lab.yaml"), &spec).unwrap();
    let mut args = vec!["lock", "-", "-o", "-", "--quiet", "--cache", "cache"];
    args.extend(up.flags.iter().map(String::as_str));
    let o = with_stdin(d, &args, &spec);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let mut args = vec!["lock", "lab.yaml", "--quiet", "--cache", "cache"];
    args.extend(up.flags.iter().map(String::as_str));
    let f = meshbundle(d, &args);
    assert!(f.status.success(), "{}", text(&f.stderr));
    assert_eq!(
        text(&o.stdout),
        std::fs::read_to_string(d.join("meshbundle.lock")).unwrap()
    );
    assert!(!d.join("-").exists());
}
