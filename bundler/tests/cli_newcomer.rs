//! A newcomer's first hour, as the CLI answers it: what a bundle can and
//! cannot do, said the same way by build, verify, inspect and import; the
//! rendered README naming the spec file that was used; progress on a
//! terminal only.

mod common;

use std::path::Path;
use std::process::Command;

use common::registry::run;
use common::*;

/// The lines of `out` that start with `prefix`.
fn lines_with<'a>(out: &'a str, prefix: &str) -> Vec<&'a str> {
    out.lines().filter(|l| l.starts_with(prefix)).collect()
}

#[test]
fn every_bundle_command_says_what_the_example_bundle_carries_and_that_it_cannot_install() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let b = meshbundle(d, &["build", "--example", "production", "-o", "p.mbundle", "--quiet"]);
    assert!(b.status.success(), "{}", text(&b.stderr));
    let built = text(&b.stderr);
    let verified = text(&meshbundle(d, &["verify", "p.mbundle"]).stdout);
    let inspected = text(&meshbundle(d, &["inspect", "p.mbundle"]).stdout);
    let imported = meshbundle(d, &["import", "p.mbundle", "--extract", "site", "--quiet"]);
    assert!(imported.status.success(), "{}", text(&imported.stderr));
    let imported = text(&imported.stderr);

    // What was carried, counted from the bundle itself.
    let seal = common::forge::seal_of(&d.join("p.mbundle"));
    let tree = seal["entries"].as_array().unwrap().iter().filter(|e| e["path"].as_str().unwrap().starts_with("tree/")).count();
    assert!(d.join("site/install.sh").exists() && tree > 40);
    let files = seal["files"].as_array().unwrap().len();
    let carried = lines_with(&inspected, "carried: ");
    assert_eq!(carried.len(), 1, "{inspected}");
    let carried = carried[0];
    assert!(carried.contains(&format!("the rendered install ({tree} files)")), "{carried} ({tree} tree entries)");
    assert!(carried.contains(&format!("{files} files (manifest/")), "{carried}");
    assert!(carried.contains("0 images") && carried.contains("no static meshbundle"), "{carried}");
    assert_eq!(lines_with(&verified, "carried: "), vec![carried], "verify says it as inspect does");
    assert_eq!(lines_with(&built, "carried: "), vec![carried], "build says it as inspect does");

    // What it cannot do, and why: the same words from every command.
    let why = lines_with(&inspected, "cannot install a site: ");
    assert_eq!(why.len(), 1, "{inspected}");
    let why = why[0];
    let images = seal["notCarried"]["images"].as_array().unwrap().len();
    assert!(why.contains(&format!("{images} images it needs are not carried")), "{why}");
    assert!(why.contains("without --secrets"), "{why}");
    assert_eq!(lines_with(&verified, "cannot install a site: "), vec![why]);
    assert!(built.contains(why), "{built}");
    assert!(imported.contains(why), "{imported}");
    // No command suggests installing from it.
    for out in [&built, &verified, &inspected, &imported] {
        assert!(!out.contains("install.sh") && !out.contains("can install site"), "{out}");
    }
    // JSON says it too.
    let v: serde_json::Value = serde_json::from_slice(&meshbundle(d, &["inspect", "p.mbundle", "--format", "json"]).stdout).unwrap();
    assert_eq!(v["canInstall"], false);
    assert!(v["cannotInstall"].as_array().unwrap().iter().any(|r| r.as_str().unwrap().contains("without --secrets")), "{v}");
}

#[test]
fn a_locked_bundle_with_secrets_says_it_can_install_everywhere() {
    let site = example("lab");
    let up = common::site::serve(&site);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::copy(repo().join("core/examples/lab.yaml"), d.join("site.yaml")).unwrap();
    assert!(meshbundle(d, &["secrets", "generate", "site.yaml", "-o", "site.secrets.yaml"]).status.success());
    run(Command::new("age-keygen").arg("-o").arg(d.join("operator.age")));
    let recipient = run(Command::new("age-keygen").arg("-y").arg(d.join("operator.age"))).trim().to_string();
    let with_net = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(up.flags.iter().map(String::as_str));
        meshbundle(d, &all)
    };
    let o = with_net(&["lock", "site.yaml", "--quiet", "--cache", "cache"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = with_net(&[
        "build",
        "site.yaml",
        "-o",
        "site.mbundle",
        "--locked",
        "--quiet",
        "--cache",
        "cache",
        "--secrets",
        "site.secrets.yaml",
        "--recipient",
        &recipient,
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let built = text(&o.stderr);
    let verified = text(&meshbundle(d, &["verify", "site.mbundle"]).stdout);
    let inspected = text(&meshbundle(d, &["inspect", "site.mbundle"]).stdout);
    let seal = common::forge::seal_of(&d.join("site.mbundle"));
    let images = seal["images"].as_array().unwrap().len();
    assert!(images > 0);
    for out in [&built, &verified, &inspected] {
        assert!(lines_with(out, "can install site lab").len() == 1, "{out}");
        assert!(!out.contains("cannot install"), "{out}");
        let carried = lines_with(out, "carried: ");
        assert!(carried.len() == 1 && carried[0].contains(&format!("{images} images")), "{out}");
    }
    let v: serde_json::Value = serde_json::from_slice(&meshbundle(d, &["inspect", "site.mbundle", "--format", "json"]).stdout).unwrap();
    assert_eq!(v["canInstall"], true);
    // The rendered README inside names the spec that was built.
    let o = meshbundle(d, &["import", "site.mbundle", "--extract", "x", "--identity", "operator.age", "--quiet"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let readme = std::fs::read_to_string(d.join("x/README.md")).unwrap();
    assert!(readme.contains("comes from `site.yaml`") && !readme.contains("meshbundle.yaml"), "{readme}");
}

/// Renders `spec_text` saved as `name` in `dir` into `out`.
fn render_as(dir: &Path, name: &str, spec_text: &[u8], out: &str) -> std::process::Output {
    std::fs::write(dir.join(name), spec_text).unwrap();
    meshbundle(dir, &["render", name, "-o", out])
}

#[test]
fn the_rendered_readme_names_the_spec_file_that_was_used() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let lab = meshbundle(d, &["init", "--example", "lab", "-o", "-"]).stdout;
    let o = render_as(d, "other-name.yaml", &lab, "out");
    assert!(o.status.success(), "{}", text(&o.stderr));
    let readme = std::fs::read_to_string(d.join("out/README.md")).unwrap();
    assert!(readme.contains("Every file here comes from `other-name.yaml`"), "{readme}");
    assert!(readme.contains("meshbundle secrets generate other-name.yaml -o site.secrets.yaml"), "{readme}");
    assert!(readme.contains("meshbundle lock other-name.yaml"), "{readme}");
    assert!(!readme.contains("meshbundle.yaml"), "the README never names a spec the user does not have");
    // Every generated file's header says which file to change.
    for f in walk(&d.join("out")) {
        let t = std::fs::read_to_string(&f).unwrap_or_default();
        assert!(!t.contains("change meshbundle.yaml"), "{}", f.display());
    }
    let script = std::fs::read_to_string(d.join("out/install.sh")).unwrap();
    assert!(script.lines().take(4).any(|l| l == "# Do not edit: change other-name.yaml and render again."), "{script}");

    // The name only, not where it lies: the same spec renders the same bytes from any directory.
    std::fs::create_dir(d.join("sub")).unwrap();
    std::fs::write(d.join("sub/other-name.yaml"), &lab).unwrap();
    assert!(meshbundle(d, &["render", "sub/other-name.yaml", "-o", "out2"]).status.success());
    for f in walk(&d.join("out")) {
        let rel = f.strip_prefix(d.join("out")).unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), std::fs::read(d.join("out2").join(rel)).unwrap(), "{}", rel.display());
    }

    // A name that is not a plain shell word is quoted where a command shows
    // it, and one that holds a newline cannot end a comment: every script parses.
    let o = render_as(d, "my site.yaml", &lab, "spaced");
    assert!(o.status.success(), "{}", text(&o.stderr));
    let readme = std::fs::read_to_string(d.join("spaced/README.md")).unwrap();
    assert!(readme.contains("meshbundle lock 'my site.yaml'"), "{readme}");
    let o = render_as(d, "x\ntouch pwned\n.yaml", &lab, "newline");
    assert!(o.status.success(), "{}", text(&o.stderr));
    for f in walk(&d.join("newline")).into_iter().filter(|f| f.extension().is_some_and(|e| e == "sh")) {
        let t = std::fs::read_to_string(&f).unwrap();
        assert!(!t.lines().any(|l| l == "touch pwned"), "{}", f.display());
        let o = Command::new("bash").arg("-n").arg(&f).output().unwrap();
        assert!(o.status.success(), "{}: {}", f.display(), text(&o.stderr));
    }
}
