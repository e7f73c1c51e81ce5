//! The generated scripts, as text: each is valid bash, and every heredoc
//! has a quoted delimiter (`<<'EOF'`), so nothing written into one (YAML,
//! JSON, a message) is expanded by the shell.

use std::process::Command;

use meshbundle_core::examples::example;
use meshbundle_core::render::{Inputs, render};
use meshbundle_core::spec::load::load;

fn lock_for(site: &meshbundle_core::spec::Site) -> meshbundle_core::lock::Lock {
    let needs = meshbundle_core::catalog::needs(site).unwrap();
    let mut text = String::from("apiVersion: meshbundle.dev/v1alpha1\nkind: Lock\nimages:\n");
    for (i, img) in needs.images.iter().enumerate() {
        text.push_str(&format!(
            "- name: {}\n  digest: sha256:{:064x}\n",
            img.upstream.tagged(),
            i + 1
        ));
    }
    text.push_str("files:\n");
    for (i, f) in needs.files.iter().enumerate() {
        text.push_str(&format!(
            "- name: {}\n  url: \"{}\"\n  sha256: \"{:064x}\"\n  size: 1\n",
            f.name,
            f.url,
            100 + i
        ));
    }
    meshbundle_core::lock::parse(&text).unwrap()
}

/// Heredoc starts (`<<WORD`, `<<-WORD`) whose delimiter is not quoted.
fn unquoted_heredocs(script: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in script.lines() {
        let mut rest = line;
        while let Some(i) = rest.find("<<") {
            let after = &rest[i + 2..];
            if let Some(here_string) = after.strip_prefix('<') {
                rest = here_string;
                continue;
            }
            let word = after.trim_start_matches('-').trim_start();
            if !(word.starts_with('\'') || word.starts_with('"')) {
                found.push(line.to_string());
            }
            rest = after;
        }
    }
    found
}

#[test]
fn scripts_are_valid_bash_and_heredocs_expand_nothing() {
    let secrets = meshbundle_core::pki::parse_secrets(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/production.secrets.yaml"
        ))
        .unwrap(),
    )
    .unwrap();
    for name in ["production", "lab"] {
        let site = load(example(name).unwrap()).site.unwrap();
        let lock = lock_for(&site);
        let with_secrets = name == "production";
        let inputs = Inputs {
            lock: Some(&lock),
            secrets: with_secrets.then_some(&secrets),
            ..Default::default()
        };
        let tree = render(&site, &inputs).unwrap();
        let scripts: Vec<_> = tree.iter().filter(|(p, _)| p.ends_with(".sh")).collect();
        assert!(scripts.len() > 5);
        let dir = tempfile::tempdir().unwrap();
        for (path, f) in scripts {
            let text = String::from_utf8(f.bytes.clone()).unwrap();
            assert_eq!(
                unquoted_heredocs(&text),
                Vec::<String>::new(),
                "{name}: {path} has a heredoc whose delimiter is not quoted"
            );
            let file = dir.path().join("script.sh");
            std::fs::write(&file, &text).unwrap();
            let o = Command::new("bash").arg("-n").arg(&file).output().unwrap();
            assert!(
                o.status.success(),
                "{name}: {path}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }
}

#[test]
fn the_heredoc_check_finds_unquoted_ones() {
    assert_eq!(unquoted_heredocs("cat <<EOF\nx\nEOF\n"), vec!["cat <<EOF"]);
    assert_eq!(unquoted_heredocs("cat <<-EOF\n"), vec!["cat <<-EOF"]);
    assert!(unquoted_heredocs("cat <<'EOF'\nx\nEOF\ncat <<-\"X\"\ngrep a <<<\"$b\"\n").is_empty());
}
