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
    let seal = forge::seal_of(&d.join("p.mbundle"));
    let tree = seal["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["path"].as_str().unwrap().starts_with("tree/"))
        .count();
    assert!(d.join("site/install.sh").exists() && tree > 40);
    let files = seal["files"].as_array().unwrap().len();
    let carried = lines_with(&inspected, "carried: ");
    assert_eq!(carried.len(), 1, "{inspected}");
    let carried = carried[0];
    assert!(
        carried.contains(&format!("the rendered install ({tree} files)")),
        "{carried} ({tree} tree entries)"
    );
    assert!(carried.contains(&format!("{files} files (manifest/")), "{carried}");
    assert!(
        carried.contains("0 images") && carried.contains("no static meshbundle"),
        "{carried}"
    );
    assert_eq!(
        lines_with(&verified, "carried: "),
        vec![carried],
        "verify says it as inspect does"
    );
    assert_eq!(
        lines_with(&built, "carried: "),
        vec![carried],
        "build says it as inspect does"
    );

    // What it cannot do, and why: the same words from every command.
    let why = lines_with(&inspected, "cannot install a site: ");
    assert_eq!(why.len(), 1, "{inspected}");
    let why = why[0];
    let images = seal["notCarried"]["images"].as_array().unwrap().len();
    assert!(
        why.contains(&format!("{images} images it needs are not carried")),
        "{why}"
    );
    assert!(why.contains("without --secrets"), "{why}");
    assert_eq!(lines_with(&verified, "cannot install a site: "), vec![why]);
    assert!(built.contains(why), "{built}");
    assert!(imported.contains(why), "{imported}");
    // No command suggests installing from it.
    for out in [&built, &verified, &inspected, &imported] {
        assert!(
            !out.contains("install.sh") && !out.contains("can install site"),
            "{out}"
        );
    }
    // JSON says it too.
    let v: serde_json::Value =
        serde_json::from_slice(&meshbundle(d, &["inspect", "p.mbundle", "--format", "json"]).stdout).unwrap();
    assert_eq!(v["canInstall"], false);
    assert!(
        v["cannotInstall"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains("without --secrets")),
        "{v}"
    );
}

#[test]
fn a_locked_bundle_with_secrets_says_it_can_install_everywhere() {
    let site = example("lab");
    let up = site::serve(&site);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::copy(repo().join("core/examples/lab.yaml"), d.join("site.yaml")).unwrap();
    assert!(
        meshbundle(d, &["secrets", "generate", "site.yaml", "-o", "site.secrets.yaml"])
            .status
            .success()
    );
    run(Command::new("age-keygen").arg("-o").arg(d.join("operator.age")));
    let recipient = run(Command::new("age-keygen").arg("-y").arg(d.join("operator.age")))
        .trim()
        .to_string();
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
    let seal = forge::seal_of(&d.join("site.mbundle"));
    let images = seal["images"].as_array().unwrap().len();
    assert!(images > 0);
    for out in [&built, &verified, &inspected] {
        assert!(lines_with(out, "can install site lab").len() == 1, "{out}");
        assert!(!out.contains("cannot install"), "{out}");
        let carried = lines_with(out, "carried: ");
        assert!(
            carried.len() == 1 && carried[0].contains(&format!("{images} images")),
            "{out}"
        );
    }
    let v: serde_json::Value =
        serde_json::from_slice(&meshbundle(d, &["inspect", "site.mbundle", "--format", "json"]).stdout).unwrap();
    assert_eq!(v["canInstall"], true);
    // The rendered README inside names the spec that was built.
    let o = meshbundle(
        d,
        &[
            "import",
            "site.mbundle",
            "--extract",
            "x",
            "--identity",
            "operator.age",
            "--quiet",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let readme = std::fs::read_to_string(d.join("x/README.md")).unwrap();
    assert!(
        readme.contains("comes from `site.yaml`") && !readme.contains("meshbundle.yaml"),
        "{readme}"
    );
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
    assert!(
        readme.contains("Every file here comes from `other-name.yaml`"),
        "{readme}"
    );
    assert!(
        readme.contains("meshbundle secrets generate other-name.yaml -o site.secrets.yaml"),
        "{readme}"
    );
    assert!(readme.contains("meshbundle lock other-name.yaml"), "{readme}");
    assert!(
        !readme.contains("meshbundle.yaml"),
        "the README never names a spec the user does not have"
    );
    // Every generated file's header says which file to change.
    for f in walk(&d.join("out")) {
        let t = std::fs::read_to_string(&f).unwrap_or_default();
        assert!(!t.contains("meshbundle.yaml"), "{}", f.display());
    }
    let script = std::fs::read_to_string(d.join("out/install.sh")).unwrap();
    assert!(
        script
            .lines()
            .take(4)
            .any(|l| l == "# Do not edit: change other-name.yaml and render again."),
        "{script}"
    );

    // The name only, not where it lies: the same spec renders the same bytes from any directory.
    std::fs::create_dir(d.join("sub")).unwrap();
    std::fs::write(d.join("sub/other-name.yaml"), &lab).unwrap();
    assert!(
        meshbundle(d, &["render", "sub/other-name.yaml", "-o", "out2"])
            .status
            .success()
    );
    for f in walk(&d.join("out")) {
        let rel = f.strip_prefix(d.join("out")).unwrap();
        assert_eq!(
            std::fs::read(&f).unwrap(),
            std::fs::read(d.join("out2").join(rel)).unwrap(),
            "{}",
            rel.display()
        );
    }

    // A name that is not a plain shell word is quoted where a command shows
    // it, and one that holds a newline cannot end a comment: every script parses.
    let o = render_as(d, "my site.yaml", &lab, "spaced");
    assert!(o.status.success(), "{}", text(&o.stderr));
    let readme = std::fs::read_to_string(d.join("spaced/README.md")).unwrap();
    assert!(readme.contains("meshbundle lock 'my site.yaml'"), "{readme}");
    let o = render_as(d, "x\ntouch pwned\n.yaml", &lab, "newline");
    assert!(o.status.success(), "{}", text(&o.stderr));
    for f in walk(&d.join("newline"))
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "sh"))
    {
        let t = std::fs::read_to_string(&f).unwrap();
        assert!(!t.lines().any(|l| l == "touch pwned"), "{}", f.display());
        let o = Command::new("bash").arg("-n").arg(&f).output().unwrap();
        assert!(o.status.success(), "{}: {}", f.display(), text(&o.stderr));
    }

    // A message that names the spec prints the name as it is and runs nothing in it.
    let name = "x\"$(touch pwned)`touch pwned` 'it's'.yaml";
    let o = render_as(d, name, &lab, "hostile");
    assert!(o.status.success(), "{}", text(&o.stderr));
    let script = std::fs::read_to_string(d.join("hostile/ops/upgrade-kubernetes.sh")).unwrap();
    let line = script
        .lines()
        .find(|l| l.contains("in_site \"$name\" || mb_die"))
        .expect("the message for a node outside the site");
    let line = line.replacen("in_site \"$name\" || mb_die", "printf '%s\\n'", 1);
    let assignment = script
        .lines()
        .find(|l| l.starts_with("SPEC_FILE="))
        .expect("the spec file's name, set once");
    let o = Command::new("bash")
        .arg("-c")
        .arg(format!("{assignment}\nname=n; ORDER=(a); {line}"))
        .current_dir(d)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).contains(&format!("add it to {name} and build again")),
        "{}",
        text(&o.stdout)
    );
    assert!(!d.join("pwned").exists(), "nothing in the name ran");
}

/// One HTTP/1.0 request: the status line, the headers (lower-case names) and the body.
fn http(addr: &str, method: &str, path: &str) -> (String, Vec<(String, String)>, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "{method} {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let split = all.windows(4).position(|w| w == b"\r\n\r\n").expect("a header block");
    let head = String::from_utf8(all[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, all[split + 4..].to_vec())
}

struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn ui_serves_the_embedded_configurator_byte_for_byte_on_loopback() {
    use std::io::BufRead;
    let dist = repo().join("web/dist");
    let dir = tempfile::tempdir().unwrap();
    if !dist.join("index.html").exists() {
        // Built without the page: ui says how to get it, and serves nothing.
        let o = meshbundle(dir.path(), &["ui", "--listen", "127.0.0.1:0"]);
        assert_eq!(o.status.code(), Some(1));
        assert!(text(&o.stderr).contains("web/build.sh"), "{}", text(&o.stderr));
        return;
    }
    let mut child = Command::new(bin())
        .args(["ui", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let _guard = Killed(child);
    let url = first.trim();
    let addr = url
        .strip_prefix("http://")
        .and_then(|u| u.strip_suffix('/'))
        .unwrap_or_else(|| panic!("printed {url}"));
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");

    // The page, and every file of web/dist, byte for byte with its type.
    let (status, headers, body) = http(addr, "GET", "/");
    assert!(status.contains(" 200 "), "{status}");
    assert_eq!(body, std::fs::read(dist.join("index.html")).unwrap());
    assert!(
        headers.contains(&("content-type".into(), "text/html; charset=utf-8".into())),
        "{headers:?}"
    );
    let files = walk(&dist);
    assert!(files.len() > 2);
    for f in files {
        let rel = f.strip_prefix(&dist).unwrap().to_str().unwrap().to_string();
        let (status, headers, body) = http(addr, "GET", &format!("/{rel}"));
        assert!(status.contains(" 200 "), "{rel}: {status}");
        let want_body = std::fs::read(&f).unwrap();
        // (Not assert_eq: the bytes of a 600 KB file would fill the log.)
        assert!(
            body == want_body,
            "{rel}: {} bytes served, {} in web/dist: was meshbundle built before web/build.sh last ran?",
            body.len(),
            want_body.len()
        );
        let want = match rel.rsplit_once('.').unwrap().1 {
            "html" => "text/html; charset=utf-8",
            "js" => "text/javascript; charset=utf-8",
            "css" => "text/css; charset=utf-8",
            "wasm" => "application/wasm",
            other => panic!("a file type the test does not know: {other}"),
        };
        assert!(
            headers.iter().any(|(k, v)| k == "content-type" && v == want),
            "{rel}: {headers:?}"
        );
    }
    // Only GETs of the embedded files: nothing from the disk, nothing written.
    assert!(http(addr, "GET", "/../Cargo.toml").0.contains(" 404 "));
    assert!(http(addr, "GET", "/%2e%2e/Cargo.toml").0.contains(" 404 "));
    assert!(http(addr, "GET", "/nothing.html").0.contains(" 404 "));
    let (status, headers, _) = http(addr, "POST", "/");
    assert!(status.contains(" 405 "), "{status}");
    assert!(headers.contains(&("allow".into(), "GET, HEAD".into())));
    assert!(http(addr, "PUT", "/index.html").0.contains(" 405 "));
}

/// Runs `cmd` (a shell command line) under a pseudo-terminal with `script`,
/// returning what it wrote to the terminal.
fn under_a_terminal(dir: &Path, cmd: &str) -> String {
    let o = Command::new("script")
        .args(["-qec", cmd, "/dev/null"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stdout));
    text(&o.stdout)
}

#[test]
fn progress_shows_bytes_and_rate_on_a_terminal_only() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let b = bin();
    let o = meshbundle(d, &["build", "--example", "production", "-o", "p.mbundle"]);
    assert!(o.status.success());
    assert!(
        !text(&o.stderr).contains("B/s"),
        "no bar when standard error is a pipe: {}",
        text(&o.stderr)
    );
    let size = std::fs::metadata(d.join("p.mbundle")).unwrap().len();
    let mib = format!("{:.2} MiB", size as f64 / 1048576.0);
    // On a terminal: the bar names the step, counts bytes against the total, and gives a rate.
    for (cmd, step) in [
        (format!("{b} build --example production -o again.mbundle"), "write ["),
        (format!("{b} verify p.mbundle"), "verify ["),
        (format!("{b} import p.mbundle --extract site"), "extract ["),
    ] {
        let out = under_a_terminal(d, &cmd);
        let bar: Vec<&str> = out.split(['\r', '\n']).filter(|l| l.contains(step)).collect();
        assert!(!bar.is_empty(), "{cmd}: no progress line in {out:?}");
        assert!(bar.iter().any(|l| l.contains("B/s")), "{cmd}: {bar:?}");
        assert!(
            !bar.iter().any(|l| l.contains("0 B/0 B")),
            "a bar is drawn only against a known total: {bar:?}"
        );
        if step == "verify [" {
            assert!(
                bar.iter().any(|l| l.contains(&format!("/{mib}"))),
                "{cmd}: counted against the file's {mib}: {bar:?}"
            );
        }
    }
    // --quiet: none, even on a terminal.
    for cmd in [
        format!("{b} build --example production -o quiet.mbundle --quiet"),
        format!("{b} verify p.mbundle --quiet"),
        format!("{b} import p.mbundle --extract quiet --quiet"),
    ] {
        let out = under_a_terminal(d, &cmd);
        assert!(!out.contains("B/s") && !out.contains("=>"), "{cmd}: {out:?}");
    }
    // A pipe: none.
    let o = meshbundle(d, &["verify", "p.mbundle"]);
    assert!(!text(&o.stderr).contains("B/s") && !text(&o.stdout).contains("B/s"));
}
