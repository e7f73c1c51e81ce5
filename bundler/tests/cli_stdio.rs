//! `-` for standard input and output, and answers in the format asked for,
//! whatever goes wrong.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::*;

fn with_stdin(d: &std::path::Path, args: &[&str], input: &[u8]) -> std::process::Output {
    let mut c =
        Command::new(bin()).args(args).current_dir(d).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    c.stdin.take().unwrap().write_all(input).unwrap();
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
    let o = with_stdin(d, &["validate", "-", "--format", "json"], b"apiVersion: meshbundle.dev/v1alpha1\nkind: Site\n");
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["valid"], false);
    // render - gives the same tree as render FILE.
    std::fs::write(d.join("lab.yaml"), &lab.stdout).unwrap();
    let o = with_stdin(d, &["render", "-", "--tar", "stdin.tar.gz"], &lab.stdout);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(meshbundle(d, &["render", "lab.yaml", "--tar", "file.tar.gz"]).status.success());
    assert_eq!(std::fs::read(d.join("stdin.tar.gz")).unwrap(), std::fs::read(d.join("file.tar.gz")).unwrap());
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
