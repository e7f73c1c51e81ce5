//! The build's stages each do their work once and pass it on: the seal
//! records exactly the spec and lock bytes that were parsed, even when the
//! files change on disk while the build runs.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use common::*;

/// Runs `meshbundle build` paused once its inputs are read, swaps the spec
/// and the lock on disk, lets it finish, and returns the seal it wrote.
#[test]
fn seal_records_the_bytes_parsed_even_if_the_files_change_during_the_build() {
    let site = example("lab");
    let up = site::serve(&site);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let spec = std::fs::read_to_string(repo().join("core/examples/lab.yaml")).unwrap();
    std::fs::write(d.join("site.yaml"), &spec).unwrap();
    let mut args: Vec<String> = ["lock", "site.yaml", "--quiet", "--cache", "cache"]
        .map(String::from)
        .to_vec();
    args.extend(up.flags.iter().cloned());
    let o = Command::new(bin()).args(&args).current_dir(d).output().unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let lock = std::fs::read_to_string(d.join("meshbundle.lock")).unwrap();

    let mut args: Vec<String> = [
        "build",
        "site.yaml",
        "-o",
        "site.mbundle",
        "--locked",
        "--quiet",
        "--cache",
        "cache",
        "--no-binary",
    ]
    .map(String::from)
    .to_vec();
    args.extend(up.flags.iter().cloned());
    let mut child = Command::new(bin())
        .args(&args)
        .current_dir(d)
        .env("MESHBUNDLE_TEST_PAUSE", "inputs-read")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "the build ended before its pause"
        );
        if line.contains("paused at inputs-read") {
            break;
        }
    }
    // Another writer changes both files while the build runs: still valid
    // YAML, but other bytes.
    std::fs::write(d.join("site.yaml"), format!("{spec}# edited while the build ran\n")).unwrap();
    std::fs::write(
        d.join("meshbundle.lock"),
        format!("{lock}# edited while the build ran\n"),
    )
    .unwrap();
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{rest}");

    let head = meshbundle::bundle::read::head(&d.join("site.mbundle")).unwrap();
    assert_eq!(head.seal.spec, spec, "the seal records the spec text that was parsed");
    assert_eq!(
        head.seal.lock.as_deref(),
        Some(lock.as_str()),
        "the seal records the lock text that was parsed"
    );
}
