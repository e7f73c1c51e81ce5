//! Shell completions and man pages, as a user installs them.

mod common;

use std::process::Command;

use common::*;

#[test]
fn bash_completion_loads_and_completes_commands_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = meshbundle(d, &["completions", "bash"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    std::fs::write(d.join("meshbundle.bash"), &o.stdout).unwrap();
    // Loaded into bash, it completes `meshbundle bu` to build and offers build's flags.
    let script = r#"
source ./meshbundle.bash
complete -p meshbundle >/dev/null || exit 3
COMP_WORDS=(meshbundle bu); COMP_CWORD=1; COMP_LINE="meshbundle bu"; COMP_POINT=${#COMP_LINE}
_meshbundle meshbundle bu meshbundle; printf '%s\n' "${COMPREPLY[@]}"
echo ---
COMP_WORDS=(meshbundle build --sin); COMP_CWORD=2; COMP_LINE="meshbundle build --sin"; COMP_POINT=${#COMP_LINE}
_meshbundle meshbundle --sin build; printf '%s\n' "${COMPREPLY[@]}"
"#;
    let o = Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(d)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    let out = text(&o.stdout);
    let (cmds, flags) = out.split_once("---\n").unwrap();
    assert_eq!(cmds.trim(), "build", "{out}");
    assert_eq!(flags.trim(), "--since", "{out}");
    for shell in ["zsh", "fish"] {
        let o = meshbundle(d, &["completions", shell]);
        assert!(
            o.status.success() && o.stdout.len() > 1000,
            "{shell}: {}",
            text(&o.stderr)
        );
    }
    let o = meshbundle(d, &["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn man_pages_cover_every_command_and_read_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = meshbundle(d, &["man", "-o", "man1"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let mut pages: Vec<String> = std::fs::read_dir(d.join("man1"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    for want in [
        "meshbundle.1",
        "meshbundle-build.1",
        "meshbundle-secrets-rotate.1",
        "meshbundle-image-pull.1",
        "meshbundle-verify.1",
    ] {
        assert!(pages.contains(&want.to_string()), "{pages:?}");
    }
    for p in &pages {
        let path = d.join("man1").join(p);
        // groff reads each page without a warning.
        let o = Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(&path)
            .output()
            .expect("groff");
        assert!(o.status.success() && o.stderr.is_empty(), "{p}: {}", text(&o.stderr));
    }
    let o = Command::new("groff")
        .args(["-man", "-Tutf8", "-P-cbou"])
        .arg(d.join("man1/meshbundle-build.1"))
        .output()
        .unwrap();
    let shown = text(&o.stdout);
    assert!(shown.contains("--since") && shown.contains("--no-binary"), "{shown}");
    // `-o -` prints the main page.
    let o = meshbundle(d, &["man", "-o", "-"]);
    assert!(
        o.status.success() && text(&o.stdout).starts_with(".ie"),
        "{}",
        text(&o.stdout).chars().take(80).collect::<String>()
    );
}
