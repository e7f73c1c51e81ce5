//! What lands on disk, and what is left behind: the real binary under umask
//! 000 and 077 (every directory and file mode of what render, secrets,
//! build, import and image pull make); sealed files of the whole tree opened
//! at import, as a stream; key files others can read refused; the cache of
//! sealed files keyed with a secret of its own; every failed extraction
//! removing what it wrote; and runs killed with SIGKILL at a chosen point
//! (the test pause `MESHBUNDLE_TEST_PAUSE`) whose leftovers the next run
//! removes, leaving a running one's alone.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};

use common::*;
use meshbundle_core::tree::FileTree;
use sha2::{Digest, Sha256};

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

fn chmod(p: &Path, m: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
}

fn run(c: &mut Command) -> String {
    let o = c.output().unwrap();
    assert!(o.status.success(), "{c:?}: {}", text(&o.stderr));
    text(&o.stdout)
}

/// Runs meshbundle in `dir` under the given umask (`sh -c 'umask U; exec ...'`).
fn under_umask(dir: &Path, umask: &str, args: &[&str]) -> std::process::Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!("umask {umask}; exec \"$0\" \"$@\""))
        .arg(bin())
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn ok(o: &std::process::Output) -> String {
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    text(&o.stderr)
}

/// The names in `dir` that start with `prefix`.
fn named(dir: &Path, prefix: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// A directory with the lab site, its secrets (0600), an age identity and
/// its recipient.
struct Site {
    dir: tempfile::TempDir,
    recipient: String,
}

impl Site {
    fn new() -> Site {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("site.yaml"), meshbundle_core::examples::example("lab").unwrap()).unwrap();
        ok(&meshbundle(d, &["secrets", "generate", "site.yaml", "-o", "s.yaml"]));
        run(Command::new("age-keygen").arg("-o").arg(d.join("operator.age")));
        chmod(&d.join("operator.age"), 0o600);
        let recipient = run(Command::new("age-keygen").arg("-y").arg(d.join("operator.age")))
            .trim()
            .to_string();
        Site { dir, recipient }
    }

    fn d(&self) -> &Path {
        self.dir.path()
    }

    /// Builds the lab example, private keys sealed to the operator.
    fn build(&self, out: &str) {
        ok(&meshbundle(
            self.d(),
            &[
                "build",
                "--example",
                "lab",
                "-o",
                out,
                "--quiet",
                "--cache",
                "cache",
                "--secrets",
                "s.yaml",
                "--recipient",
                &self.recipient,
            ],
        ));
    }

    /// The tree render makes of this site with its secrets (for the modes).
    fn tree(&self) -> FileTree {
        let site = example("lab");
        let secrets =
            meshbundle_core::pki::parse_secrets(&std::fs::read_to_string(self.d().join("s.yaml")).unwrap()).unwrap();
        meshbundle_core::render::render(
            &site,
            &meshbundle_core::render::Inputs {
                secrets: Some(&secrets),
                ..Default::default()
            },
        )
        .unwrap()
    }
}

/// Checks every directory and file under `root`: a file has the mode
/// `file_mode` gives for its relative path; a directory is 0700 when it is
/// `secrets/` or below, or holds a 0600 file, 0755 otherwise.
fn check_modes(root: &Path, file_mode: &dyn Fn(&str) -> u32) {
    fn walk(root: &Path, at: &Path, out: &mut Vec<(String, bool, u32)>) {
        for e in std::fs::read_dir(at).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let is_dir = p.is_dir();
            out.push((rel, is_dir, mode(&p)));
            if is_dir {
                walk(root, &p, out);
            }
        }
    }
    let mut all = Vec::new();
    walk(root, root, &mut all);
    assert!(!all.is_empty());
    let private_dirs: Vec<String> = all
        .iter()
        .filter(|(_, d, m)| !d && *m == 0o600)
        .filter_map(|(p, _, _)| p.rsplit_once('/').map(|x| x.0.to_string()))
        .collect();
    assert_eq!(mode(root), 0o755, "{}", root.display());
    for (rel, is_dir, m) in &all {
        let want = if *is_dir {
            if rel == "secrets" || rel.starts_with("secrets/") || private_dirs.contains(rel) {
                0o700
            } else {
                0o755
            }
        } else {
            file_mode(rel)
        };
        assert_eq!(*m, want, "{}/{rel}: mode {m:o}, expected {want:o}", root.display());
    }
}

#[test]
fn every_directory_and_file_gets_its_mode_whatever_the_umask() {
    for umask in ["000", "077"] {
        let s = Site::new();
        let d = s.d();
        // secrets: the file 0600, a directory it makes 0700.
        ok(&under_umask(
            d,
            umask,
            &["secrets", "generate", "site.yaml", "-o", "keys/site.secrets.yaml"],
        ));
        assert_eq!(mode(&d.join("keys")), 0o700, "umask {umask}");
        assert_eq!(mode(&d.join("keys/site.secrets.yaml")), 0o600, "umask {umask}");
        let tree = s.tree();
        let of_tree = |rel: &str| tree.get(rel).unwrap_or_else(|| panic!("{rel} is not in the tree")).mode;
        // render: every directory and file, and the directories above the output.
        ok(&under_umask(
            d,
            umask,
            &["render", "site.yaml", "--secrets", "s.yaml", "-o", "r/out"],
        ));
        assert_eq!(mode(&d.join("r")), 0o755, "umask {umask}");
        check_modes(&d.join("r/out"), &of_tree);
        // build: the output directory and the bundle.
        ok(&under_umask(
            d,
            umask,
            &[
                "build",
                "--example",
                "lab",
                "-o",
                "b/x.mbundle",
                "--quiet",
                "--cache",
                "c",
                "--secrets",
                "s.yaml",
                "--recipient",
                &s.recipient,
            ],
        ));
        assert_eq!(mode(&d.join("b")), 0o755, "umask {umask}");
        assert_eq!(mode(&d.join("b/x.mbundle")), 0o644, "umask {umask}");
        assert_eq!(mode(&d.join("c/sealed")), 0o700, "umask {umask}");
        // import --extract, opened and still sealed.
        let laid = |rel: &str| match rel {
            ".meshbundle" => 0o644,
            r if r.starts_with("files/") => 0o644,
            // The static binary, when one was built for the bundle to carry.
            "bin/meshbundle" => 0o755,
            r if r.ends_with(".age") => 0o600,
            r => of_tree(r),
        };
        ok(&under_umask(
            d,
            umask,
            &[
                "import",
                "b/x.mbundle",
                "--quiet",
                "--extract",
                "x/site",
                "--identity",
                "operator.age",
            ],
        ));
        assert_eq!(mode(&d.join("x")), 0o755, "umask {umask}");
        assert!(d.join("x/site/secrets/kubernetes-pki/ca.key").exists());
        check_modes(&d.join("x/site"), &laid);
        ok(&under_umask(
            d,
            umask,
            &["import", "b/x.mbundle", "--quiet", "--extract", "sealed"],
        ));
        assert!(d.join("sealed/secrets/kubernetes-pki/ca.key.age").exists());
        check_modes(&d.join("sealed"), &laid);
        // image pull: the layout's directories.
        let src = d.join("src");
        small_layout(&src, "1.0");
        ok(&under_umask(
            d,
            umask,
            &[
                "image",
                "pull",
                &format!("registry.example.internal/app:1.0=oci:{}", src.display()),
                "-o",
                "p/layout",
                "--quiet",
                "--cache",
                "c",
            ],
        ));
        for sub in ["p", "p/layout", "p/layout/blobs", "p/layout/blobs/sha256"] {
            assert_eq!(mode(&d.join(sub)), 0o755, "umask {umask}: {sub}");
        }
        for file in ["p/layout/oci-layout", "p/layout/index.json"] {
            assert_eq!(mode(&d.join(file)), 0o644, "umask {umask}: {file}");
        }
    }
}

/// A one-image OCI layout with a random layer of `layer_bytes` bytes.
fn layout_with(dir: &Path, tag: &str, layer: &[u8]) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let put = |bytes: &[u8]| {
        let hex = hex::encode(Sha256::digest(bytes));
        std::fs::write(blobs.join(&hex), bytes).unwrap();
        (format!("sha256:{hex}"), bytes.len())
    };
    let (ld, ls) = put(layer);
    let config =
        serde_json::json!({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [ld]}});
    let (cd, cs) = put(&serde_json::to_vec(&config).unwrap());
    let manifest = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": ls}]});
    let (md, ms) = put(&serde_json::to_vec(&manifest).unwrap());
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": md, "size": ms, "annotations": {"org.opencontainers.image.ref.name": tag}}]});
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

fn small_layout(dir: &Path, tag: &str) {
    layout_with(dir, tag, format!("layer of {tag}\n").as_bytes());
}

/// Pseudo-random bytes (xorshift), incompressible.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut s = seed | 1;
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        v.extend_from_slice(&s.to_le_bytes());
    }
    v.truncate(n);
    v
}

/// The entries of a bundle, in order, as (path, mode, data).
fn entries(path: &Path) -> Vec<(String, u32, Vec<u8>)> {
    let mut a = tar::Archive::new(std::fs::File::open(path).unwrap());
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let p = String::from_utf8(e.path_bytes().into_owned()).unwrap();
            let m = e.header().mode().unwrap();
            let mut v = Vec::new();
            e.read_to_end(&mut v).unwrap();
            (p, m, v)
        })
        .collect()
}

/// Re-seals `from` into `to` with `add` as more entries (path, mode, data):
/// a new seal listing them, its checksum, no signature.
fn reseal(from: &Path, to: &Path, add: Vec<(String, u32, Vec<u8>)>) {
    let mut list = entries(from);
    let mut seal: serde_json::Value = serde_json::from_slice(&list[0].2).unwrap();
    list.retain(|(p, _, _)| !p.starts_with("SEAL."));
    for (p, m, data) in add {
        seal["entries"].as_array_mut().unwrap().push(serde_json::json!({
            "path": p, "size": data.len(), "mode": m, "sha256": hex::encode(Sha256::digest(&data))}));
        list.push((p, m, data));
    }
    seal["entries"]
        .as_array_mut()
        .unwrap()
        .sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
    list.sort_by(|a, b| a.0.cmp(&b.0));
    let seal_bytes = serde_json::to_vec(&seal).unwrap();
    let id = format!("sha256:{}\n", hex::encode(Sha256::digest(&seal_bytes)));
    let mut b = tar::Builder::new(std::fs::File::create(to).unwrap());
    let mut put = |p: &str, m: u32, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(data.len() as u64);
        h.set_mode(m);
        h.set_mtime(0);
        b.append_data(&mut h, p, data).unwrap();
    };
    put("SEAL.json", 0o644, &seal_bytes);
    put("SEAL.sha256", 0o644, id.as_bytes());
    for (p, m, data) in &list {
        put(p, *m, data);
    }
    b.into_inner().unwrap().sync_all().unwrap();
}

/// `data` encrypted by the real age to `recipient`.
fn age_encrypt(dir: &Path, recipient: &str, data: &[u8]) -> Vec<u8> {
    let plain = dir.join("plain.tmp-for-age");
    std::fs::write(&plain, data).unwrap();
    let out = dir.join("sealed.tmp-for-age");
    run(Command::new("age").args(["-r", recipient, "-o"]).arg(&out).arg(&plain));
    let v = std::fs::read(&out).unwrap();
    std::fs::remove_file(plain).unwrap();
    std::fs::remove_file(out).unwrap();
    v
}

#[test]
fn import_opens_every_sealed_file_of_the_tree_as_a_stream() {
    let s = Site::new();
    let d = s.d();
    s.build("plain.mbundle");
    // A join configuration sealed outside secrets/, and a large sealed file
    // (many age chunks, not a whole number of them).
    let join =
        b"apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\n# token abcdef.0123456789abcdef\n".to_vec();
    let large = noise(9 * (1 << 20) + 12345, 7);
    let add = vec![
        (
            "tree/nodes/cp-9/kubeadm.yaml.age".to_string(),
            0o600,
            age_encrypt(d, &s.recipient, &join),
        ),
        (
            "tree/data/large.bin.age".to_string(),
            0o600,
            age_encrypt(d, &s.recipient, &large),
        ),
        // Not sealed by meshbundle (mode 0644): laid out as it is.
        (
            "tree/docs/example.age".to_string(),
            0o644,
            b"not a private file\n".to_vec(),
        ),
    ];
    reseal(&d.join("plain.mbundle"), &d.join("x.mbundle"), add);
    let o = meshbundle(d, &["verify", "x.mbundle"]);
    assert!(o.status.success(), "{}", text(&o.stdout));

    let o = meshbundle(
        d,
        &[
            "import",
            "x.mbundle",
            "--quiet",
            "--extract",
            "site",
            "--identity",
            "operator.age",
            "--format",
            "json",
        ],
    );
    ok(&o);
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let site = d.join("site");
    assert_eq!(std::fs::read(site.join("nodes/cp-9/kubeadm.yaml")).unwrap(), join);
    assert_eq!(mode(&site.join("nodes/cp-9/kubeadm.yaml")), 0o600);
    assert_eq!(mode(&site.join("nodes/cp-9")), 0o700);
    assert!(!site.join("nodes/cp-9/kubeadm.yaml.age").exists());
    let got = std::fs::read(site.join("data/large.bin")).unwrap();
    assert!(
        got == large,
        "the large sealed file comes back byte for byte ({} bytes, {} expected)",
        got.len(),
        large.len()
    );
    assert_eq!(mode(&site.join("data/large.bin")), 0o600);
    assert_eq!(
        std::fs::read(site.join("docs/example.age")).unwrap(),
        b"not a private file\n"
    );
    assert_eq!(mode(&site.join("docs/example.age")), 0o644);
    assert_eq!(summary["extract"]["stillSealed"], 0);
    let sealed_in_bundle = entries(&d.join("x.mbundle"))
        .iter()
        .filter(|(p, m, _)| p.ends_with(".age") && *m == 0o600)
        .count();
    assert_eq!(summary["extract"]["decrypted"], sealed_in_bundle);

    // Without an identity they stay sealed, 0600, and the summary says so.
    let o = meshbundle(d, &["import", "x.mbundle", "--quiet", "--extract", "closed"]);
    let err = ok(&o);
    assert!(
        err.contains(&format!("{sealed_in_bundle} private file(s) stay sealed")),
        "{err}"
    );
    assert_eq!(mode(&d.join("closed/nodes/cp-9/kubeadm.yaml.age")), 0o600);
    assert_eq!(mode(&d.join("closed/nodes/cp-9")), 0o700);
    assert!(!d.join("closed/nodes/cp-9/kubeadm.yaml").exists());
}

#[test]
fn key_files_others_can_read_are_refused() {
    let s = Site::new();
    let d = s.d();
    std::fs::write(d.join("pass"), "correct horse battery staple\n").unwrap();
    ok(&meshbundle(d, &["keygen", "-o", "release"]));
    run(Command::new("sh").arg("-c").arg("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout tls.key -out tls.crt -days 30 -subj /CN=demo.lab.internal -addext subjectAltName=DNS:demo.lab.internal 2>/dev/null").current_dir(d));
    s.build("x.mbundle");
    let refused = |file: &str, m: u32, args: &[&str]| {
        chmod(&d.join(file), m);
        let o = meshbundle(d, args);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{file} {m:o}: {err}");
        assert!(
            err.contains(&format!("its mode is {m:04o}")) && err.contains(&format!("chmod 600 {file}")),
            "{file} {m:o}: {err}"
        );
        chmod(&d.join(file), 0o600);
    };
    for m in [0o644, 0o640, 0o604, 0o620, 0o660] {
        refused(
            "pass",
            m,
            &[
                "build",
                "--example",
                "lab",
                "-o",
                "p.mbundle",
                "--secrets",
                "s.yaml",
                "--passphrase-file",
                "pass",
            ],
        );
        assert!(!d.join("p.mbundle").exists());
        refused(
            "release.key",
            m,
            &[
                "build",
                "--example",
                "lab",
                "-o",
                "k.mbundle",
                "--no-private-keys",
                "--sign",
                "release.key",
            ],
        );
        assert!(!d.join("k.mbundle").exists());
        refused(
            "operator.age",
            m,
            &[
                "import",
                "x.mbundle",
                "--quiet",
                "--extract",
                "out",
                "--identity",
                "operator.age",
            ],
        );
        refused(
            "pass",
            m,
            &[
                "import",
                "x.mbundle",
                "--quiet",
                "--extract",
                "out",
                "--passphrase-file",
                "pass",
            ],
        );
        assert!(!d.join("out").exists());
        refused(
            "tls.key",
            m,
            &[
                "secrets",
                "generate",
                "site.yaml",
                "-o",
                "t.yaml",
                "--ingress-cert",
                "tls.crt",
                "--ingress-key",
                "tls.key",
            ],
        );
        assert!(!d.join("t.yaml").exists());
        refused("s.yaml", m, &["secrets", "show", "s.yaml"]);
    }
    // 0600 (and 0400) are fine.
    chmod(&d.join("pass"), 0o400);
    ok(&meshbundle(
        d,
        &[
            "build",
            "--example",
            "lab",
            "-o",
            "p.mbundle",
            "--secrets",
            "s.yaml",
            "--passphrase-file",
            "pass",
        ],
    ));
    ok(&meshbundle(
        d,
        &[
            "build",
            "--example",
            "lab",
            "-o",
            "k.mbundle",
            "--no-private-keys",
            "--sign",
            "release.key",
        ],
    ));
    ok(&meshbundle(
        d,
        &[
            "secrets",
            "generate",
            "site.yaml",
            "-o",
            "t.yaml",
            "--ingress-cert",
            "tls.crt",
            "--ingress-key",
            "tls.key",
        ],
    ));
}

#[test]
fn the_cache_of_sealed_files_is_keyed_with_a_secret_of_its_own() {
    let s = Site::new();
    let d = s.d();
    std::fs::write(d.join("pass"), "correct horse battery staple\n").unwrap();
    chmod(&d.join("pass"), 0o600);
    let build = |out: &str, cache: &str| {
        ok(&meshbundle(
            d,
            &[
                "build",
                "--example",
                "lab",
                "-o",
                out,
                "--quiet",
                "--secrets",
                "s.yaml",
                "--passphrase-file",
                "pass",
                "--cache",
                cache,
            ],
        ))
    };
    // A cache of an earlier version: ciphertexts named by the unsalted hash.
    let stale = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    std::fs::create_dir_all(d.join("c1/sealed")).unwrap();
    std::fs::write(d.join("c1/sealed").join(stale), "old ciphertext").unwrap();
    build("a1.mbundle", "c1");
    assert!(
        !d.join("c1/sealed").join(stale).exists(),
        "names that tell too much are removed"
    );
    build("a2.mbundle", "c1");
    build("b.mbundle", "c2");
    // Rebuilds with the same cache are the same bytes.
    assert_eq!(
        std::fs::read(d.join("a1.mbundle")).unwrap(),
        std::fs::read(d.join("a2.mbundle")).unwrap()
    );
    let names = |cache: &str| -> Vec<String> {
        named(&d.join(cache).join("sealed"), "")
            .into_iter()
            .filter(|n| n != "key")
            .collect()
    };
    let (n1, n2) = (names("c1"), names("c2"));
    assert!(!n1.is_empty());
    // The same inputs get other names in another cache: the names depend
    // on each cache's own key, not only on the passphrase and the content.
    assert!(n1.iter().all(|n| !n2.contains(n)), "{n1:?} {n2:?}");
    for c in ["c1", "c2"] {
        let sealed = d.join(c).join("sealed");
        assert_eq!(mode(&sealed), 0o700);
        assert_eq!(mode(&sealed.join("key")), 0o600);
        assert_eq!(std::fs::read(sealed.join("key")).unwrap().len(), 32);
        assert_ne!(std::fs::read(sealed.join("key")).unwrap(), vec![0u8; 32]);
    }
    assert_ne!(
        std::fs::read(d.join("c1/sealed/key")).unwrap(),
        std::fs::read(d.join("c2/sealed/key")).unwrap()
    );
    // No name is the old unsalted hash that covered the passphrase.
    let secrets = meshbundle_core::pki::parse_secrets(&std::fs::read_to_string(d.join("s.yaml")).unwrap()).unwrap();
    let mut old = Sha256::new();
    old.update(b"meshbundle age v1\n");
    old.update(Sha256::digest(b"correct horse battery staple"));
    old.update(Sha256::digest(secrets.kubeadm.ca.key.as_bytes()));
    let old = hex::encode(old.finalize());
    assert!(!n1.contains(&old));
}

/// A run of meshbundle paused at `point` (the test pause), with its stdin
/// (a line lets it go on) and stderr.
struct Paused {
    child: Child,
    stderr: BufReader<ChildStderr>,
    seen: String,
}

impl Paused {
    fn start(dir: &Path, point: &str, args: &[&str]) -> Paused {
        let mut child = Command::new(bin())
            .args(args)
            .current_dir(dir)
            .env("MESHBUNDLE_TEST_PAUSE", point)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut seen = String::new();
        loop {
            let mut line = String::new();
            if stderr.read_line(&mut line).unwrap() == 0 {
                let status = child.wait().unwrap();
                panic!("meshbundle {args:?} ended ({status}) without pausing at {point}:\n{seen}");
            }
            seen.push_str(&line);
            if line.contains(&format!("paused at {point}")) {
                break;
            }
        }
        Paused { child, stderr, seen }
    }

    /// Kills it with SIGKILL; what it said before.
    fn kill(mut self) -> String {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.seen
    }

    /// Lets it go on; its exit status and the rest of its stderr.
    fn resume(mut self) -> (std::process::ExitStatus, String) {
        self.child.stdin.as_mut().unwrap().write_all(b"\n").unwrap();
        drop(self.child.stdin.take());
        let mut rest = String::new();
        self.stderr.read_to_string(&mut rest).unwrap();
        (self.child.wait().unwrap(), format!("{}{rest}", self.seen))
    }
}

/// Whether a staged extraction holds a decrypted private file: a key under
/// `secrets/`, or a node's kubeadm configuration (it holds the join
/// credentials), without `.age`.
fn holds_decrypted(stage: &Path) -> bool {
    walk(stage).iter().any(|p| {
        let rel = p.strip_prefix(stage).unwrap().to_string_lossy().into_owned();
        let private = rel.starts_with("secrets/") || (rel.starts_with("nodes/") && rel.ends_with("/kubeadm.yaml"));
        private && !rel.ends_with(".age")
    })
}

#[test]
fn a_failed_extraction_removes_what_it_wrote() {
    let s = Site::new();
    let d = s.d();
    s.build("x.mbundle");
    let import = |target: &str| {
        meshbundle(
            d,
            &[
                "import",
                "x.mbundle",
                "--quiet",
                "--extract",
                target,
                "--identity",
                "operator.age",
            ],
        )
    };
    let clean = |why: &str| {
        assert_eq!(
            named(d, ".meshbundle"),
            Vec::<String>::new(),
            "{why}: nothing left beside the target"
        );
    };

    // The target is a dangling symbolic link, or a file.
    std::os::unix::fs::symlink("nowhere", d.join("dangling")).unwrap();
    let o = import("dangling");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("dangling is a symbolic link"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(
        std::fs::read_link(d.join("dangling")).unwrap(),
        PathBuf::from("nowhere")
    );
    clean("dangling link");
    std::fs::write(d.join("afile"), "x").unwrap();
    let o = import("afile");
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("afile is a file"), "{}", text(&o.stderr));
    assert_eq!(std::fs::read(d.join("afile")).unwrap(), b"x");
    clean("file");

    // A full disk (a file size limit; SIGXFSZ ignored so the write fails).
    let o = Command::new("sh")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 16; exec \"$0\" \"$@\"")
        .arg(bin())
        .args([
            "import",
            "x.mbundle",
            "--quiet",
            "--extract",
            "full",
            "--identity",
            "operator.age",
        ])
        .current_dir(d)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("nothing was laid out in full"),
        "{}",
        text(&o.stderr)
    );
    assert!(!d.join("full").exists());
    clean("full disk");

    // An entry damaged after verify, found once decrypted keys are written
    // (the last entry, large enough to be read after the pause).
    reseal(
        &d.join("x.mbundle"),
        &d.join("late.mbundle"),
        vec![("tree/zz/large.bin".into(), 0o644, noise(4 << 20, 5))],
    );
    let p = Paused::start(
        d,
        "extract",
        &[
            "import",
            "late.mbundle",
            "--quiet",
            "--extract",
            "late",
            "--identity",
            "operator.age",
        ],
    );
    let staged = named(d, ".meshbundle-extract-");
    assert_eq!(staged.len(), 1);
    assert!(
        holds_decrypted(&d.join(&staged[0])),
        "a decrypted key is written before the damage is found"
    );
    let list = entries(&d.join("late.mbundle"));
    let (last, _, data) = list.last().unwrap();
    assert_eq!(last, "tree/zz/large.bin");
    let mut a = tar::Archive::new(std::fs::File::open(d.join("late.mbundle")).unwrap());
    let at = a
        .entries()
        .unwrap()
        .map(|e| e.unwrap())
        .find(|e| e.path_bytes().as_ref() == last.as_bytes())
        .unwrap()
        .raw_file_position();
    let mut bytes = std::fs::read(d.join("late.mbundle")).unwrap();
    bytes[at as usize + data.len() / 2] ^= 0x20;
    std::fs::write(d.join("late.mbundle"), &bytes).unwrap();
    let (status, err) = p.resume();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains(last.as_str()) && err.contains("everything written was removed"),
        "{err}"
    );
    assert!(!d.join("late").exists());
    clean("damaged late");
}

#[test]
fn extraction_into_an_existing_empty_directory_or_a_mount_point() {
    let s = Site::new();
    let d = s.d();
    s.build("x.mbundle");
    std::fs::create_dir(d.join("empty")).unwrap();
    ok(&meshbundle(
        d,
        &[
            "import",
            "x.mbundle",
            "--quiet",
            "--extract",
            "empty",
            "--identity",
            "operator.age",
        ],
    ));
    assert!(d.join("empty/secrets/kubernetes-pki/ca.key").exists());
    assert_eq!(named(&d.join("empty"), ".meshbundle-"), Vec::<String>::new());
    // Again, over what it laid out.
    ok(&meshbundle(
        d,
        &[
            "import",
            "x.mbundle",
            "--quiet",
            "--extract",
            "empty",
            "--identity",
            "operator.age",
        ],
    ));
    assert!(d.join("empty/secrets/kubernetes-pki/ca.key").exists());
    assert_eq!(named(&d.join("empty"), ".meshbundle-"), Vec::<String>::new());
    assert_eq!(named(d, ".meshbundle"), Vec::<String>::new());

    // A mount point cannot be renamed over: the install goes into it.
    std::fs::create_dir(d.join("mnt")).unwrap();
    let o = Command::new("unshare")
        .args(["-m", "sh", "-c"])
        .arg(
            "mount -t tmpfs -o mode=755 none mnt && \"$0\" import x.mbundle --quiet --extract mnt --identity operator.age && \
             test -f mnt/secrets/kubernetes-pki/ca.key && mountpoint -q mnt && ls -A mnt && stat -c %a mnt",
        )
        .arg(bin())
        .current_dir(d)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    let listing = text(&o.stdout);
    assert!(
        listing.contains("install.sh") && !listing.contains(".meshbundle-"),
        "{listing}"
    );
    assert!(listing.trim_end().ends_with("755"), "{listing}");
    assert_eq!(
        named(d, ".meshbundle"),
        Vec::<String>::new(),
        "nothing left beside the mount point"
    );
}

#[test]
fn killed_runs_leave_leftovers_the_next_run_removes() {
    let s = Site::new();
    let d = s.d();
    s.build("x.mbundle");
    fn extract(target: &str) -> Vec<&str> {
        vec![
            "import",
            "x.mbundle",
            "--quiet",
            "--extract",
            target,
            "--identity",
            "operator.age",
        ]
    }

    // Extract: one run killed with a decrypted key staged, one still running.
    let running = Paused::start(d, "extract", &extract("t1"));
    let first = named(d, ".meshbundle-extract-");
    Paused::start(d, "extract", &extract("t1")).kill();
    let both = named(d, ".meshbundle-extract-");
    assert_eq!(both.len(), 2);
    let killed: Vec<&String> = both.iter().filter(|n| !first.contains(n)).collect();
    assert!(
        holds_decrypted(&d.join(killed[0])),
        "the killed run left a decrypted key"
    );
    let err = ok(&meshbundle(d, &extract("t2")));
    assert!(
        err.contains(&format!("removed {}", d.join(killed[0]).display()))
            || err.contains(&format!("removed ./{}", killed[0])),
        "{err}"
    );
    assert_eq!(
        named(d, ".meshbundle-extract-"),
        first,
        "the running run's directory stays"
    );
    running.kill();
    let err = ok(&meshbundle(d, &extract("t2")));
    assert!(err.contains(&first[0]), "{err}");
    assert_eq!(named(d, ".meshbundle-extract-"), Vec::<String>::new());
    // Into an existing directory: staged inside it, and found there.
    std::fs::create_dir(d.join("t3")).unwrap();
    Paused::start(d, "extract", &extract("t3")).kill();
    assert_eq!(named(&d.join("t3"), ".meshbundle-extract-").len(), 1);
    let err = ok(&meshbundle(d, &extract("t3")));
    assert!(err.contains("removed") && err.contains(".meshbundle-extract-"), "{err}");
    assert_eq!(named(&d.join("t3"), ".meshbundle-"), Vec::<String>::new());
    assert!(d.join("t3/install.sh").exists());

    // Render: the staged tree, with the private keys.
    let render = ["render", "site.yaml", "--secrets", "s.yaml", "-o", "r/out"];
    Paused::start(d, "render", &render).kill();
    let left = named(&d.join("r"), ".meshbundle-render-");
    assert_eq!(left.len(), 1);
    assert!(
        d.join("r")
            .join(&left[0])
            .join("secrets/kubernetes-pki/ca.key")
            .exists()
    );
    let err = ok(&meshbundle(d, &render));
    assert!(err.contains(&left[0]), "{err}");
    assert_eq!(named(&d.join("r"), ".meshbundle-"), Vec::<String>::new());

    // Build: the temporary bundle.
    let build = [
        "build",
        "--example",
        "lab",
        "-o",
        "out/y.mbundle",
        "--quiet",
        "--cache",
        "cache",
        "--no-private-keys",
    ];
    Paused::start(d, "build", &build).kill();
    let left = named(&d.join("out"), ".meshbundle-build-");
    assert_eq!(left.len(), 1);
    let err = ok(&meshbundle(d, &build));
    assert!(err.contains(&left[0]), "{err}");
    assert_eq!(named(&d.join("out"), ".meshbundle-build-"), Vec::<String>::new());
    assert!(d.join("out/y.mbundle").exists());

    // Pull: a partial file in the cache, and a `*.tmp` blob in the layout.
    let src = d.join("src");
    layout_with(&src, "1.0", &noise(1 << 20, 3));
    let source = format!("registry.example.internal/app:1.0=oci:{}", src.display());
    let pull = [
        "image",
        "pull",
        source.as_str(),
        "-o",
        "pulled",
        "--quiet",
        "--cache",
        "pc",
    ];
    Paused::start(d, "cache-temp", &pull).kill();
    let partial = named(&d.join("pc/tmp"), "partial-");
    assert_eq!(partial.len(), 1);
    let err = Paused::start(d, "layout-tmp", &pull).kill();
    assert!(err.contains(&format!("removed pc/tmp/{}", partial[0])), "{err}");
    assert_eq!(named(&d.join("pc/tmp"), "partial-"), Vec::<String>::new());
    let tmp: Vec<String> = named(&d.join("pulled/blobs/sha256"), "")
        .into_iter()
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert_eq!(tmp.len(), 1);
    let err = ok(&meshbundle(d, &pull));
    assert!(err.contains(&tmp[0]), "{err}");
    assert_eq!(named(&d.join("pc/tmp"), "partial-"), Vec::<String>::new());
    let names: BTreeMap<String, ()> = named(&d.join("pulled/blobs/sha256"), "")
        .into_iter()
        .map(|n| (n, ()))
        .collect();
    assert!(names.keys().all(|n| !n.ends_with(".tmp")), "{names:?}");
}

fn extract_args(target: &str) -> Vec<&str> {
    vec![
        "import",
        "x.mbundle",
        "--quiet",
        "--extract",
        target,
        "--identity",
        "operator.age",
    ]
}

fn chown_nobody(p: &Path) {
    std::os::unix::fs::chown(p, Some(65534), Some(65534)).unwrap();
}

#[test]
fn import_refuses_a_target_another_user_could_change() {
    let s = Site::new();
    let d = s.d();
    s.build("x.mbundle");
    // An existing target owned by another user, or writable by group or others.
    for (name, m, nobody, why) in [
        ("theirs", 0o755, true, "chown"),
        ("theirs-open", 0o777, true, "chown"),
        ("open", 0o777, false, "chmod 755"),
        ("group", 0o775, false, "chmod 755"),
    ] {
        let t = d.join(name);
        std::fs::create_dir(&t).unwrap();
        chmod(&t, m);
        if nobody {
            chown_nobody(&t);
        }
        let o = meshbundle(d, &extract_args(name));
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{name}: {err}");
        assert!(
            err.contains("error: ") && err.contains(name) && err.contains(why),
            "{name}: {err}"
        );
        assert_eq!(named(&t, ""), Vec::<String>::new(), "{name}: nothing written");
    }
    // A new target whose nearest existing parent another user could change.
    for (name, m, nobody) in [("open-parent", 0o777, false), ("their-parent", 0o755, true)] {
        let p = d.join(name);
        std::fs::create_dir(&p).unwrap();
        chmod(&p, m);
        if nobody {
            chown_nobody(&p);
        }
        let target = format!("{name}/a/new");
        let o = meshbundle(d, &extract_args(&target));
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{name}: {err}");
        assert!(err.contains("error: ") && err.contains(name), "{name}: {err}");
        assert_eq!(named(&p, ""), Vec::<String>::new(), "{name}: nothing written");
    }
    // A sticky parent (like /tmp) is fine for a new target, and so is a target put right.
    let sticky = d.join("sticky");
    std::fs::create_dir(&sticky).unwrap();
    chmod(&sticky, 0o1777);
    ok(&meshbundle(d, &extract_args("sticky/new")));
    assert!(d.join("sticky/new/install.sh").exists());
    chmod(&d.join("open"), 0o755);
    ok(&meshbundle(d, &extract_args("open")));
    assert!(d.join("open/install.sh").exists());
}

#[test]
fn a_symlink_planted_among_the_base_files_is_refused() {
    let s = Site::new();
    let d = s.d();
    let b = |out: &str, extra: &[&str]| {
        let mut a = vec![
            "build",
            "--example",
            "lab",
            "-o",
            out,
            "--quiet",
            "--cache",
            "cache",
            "--no-private-keys",
        ];
        a.extend(extra);
        ok(&meshbundle(d, &a));
    };
    b("x.mbundle", &[]);
    b("delta.mbundle", &["--since", "x.mbundle"]);
    let imp = |bundle: &str| meshbundle(d, &["import", bundle, "--quiet", "--extract", "dd"]);
    ok(&imp("x.mbundle"));
    let flannel = d.join("dd/files/manifest/flannel");
    assert!(flannel.is_file());
    let elsewhere = tempfile::tempdir().unwrap();
    let moved = elsewhere.path().join("elsewhere-flannel");
    std::fs::rename(&flannel, &moved).unwrap();
    std::os::unix::fs::symlink(&moved, &flannel).unwrap();
    let o = imp("delta.mbundle");
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("files/manifest/flannel") && err.contains("symbolic link"),
        "{err}"
    );
    assert!(
        std::fs::symlink_metadata(&flannel).unwrap().file_type().is_symlink(),
        "dd left as it was"
    );

    // A symlink higher up, inside the target, is refused the same way.
    std::fs::remove_file(&flannel).unwrap();
    let manifest = d.join("dd/files/manifest");
    let moved_dir = elsewhere.path().join("manifest");
    std::fs::rename(&manifest, &moved_dir).unwrap();
    std::fs::rename(&moved, moved_dir.join("flannel")).unwrap();
    std::os::unix::fs::symlink(&moved_dir, &manifest).unwrap();
    let o = imp("delta.mbundle");
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("files/manifest") && err.contains("symbolic link"), "{err}");

    // Put back as a real file, the base file is taken, as a regular file of the new tree.
    std::fs::remove_file(&manifest).unwrap();
    std::fs::rename(&moved_dir, &manifest).unwrap();
    let want = std::fs::read(&flannel).unwrap();
    ok(&imp("delta.mbundle"));
    let meta = std::fs::symlink_metadata(&flannel).unwrap();
    assert!(meta.file_type().is_file());
    assert_eq!(std::fs::read(&flannel).unwrap(), want);
}

#[test]
fn two_imports_into_one_new_target_the_loser_says_so_plainly() {
    let s = Site::new();
    let d = s.d();
    s.build("x.mbundle");
    let first = Paused::start(d, "extract", &extract_args("cc"));
    ok(&meshbundle(d, &extract_args("cc")));
    let (status, err) = first.resume();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains("another import into cc finished first") && err.contains("hint: "),
        "{err}"
    );
    assert!(!err.contains("os error"), "{err}");
    assert!(err.lines().all(|l| l.trim() != "hint:"), "an empty hint: {err}");
    assert!(d.join("cc/install.sh").exists());
    assert_eq!(named(d, ".meshbundle"), Vec::<String>::new());
}

#[test]
fn an_import_that_meets_an_existing_file_gives_a_hint_that_fits_import() {
    let s = Site::new();
    let d = s.d();
    s.build("plain.mbundle");
    // A sealed file and a plain one that land on the same path once opened.
    let add = vec![
        ("tree/docs/clash".to_string(), 0o644, b"plain\n".to_vec()),
        (
            "tree/docs/clash.age".to_string(),
            0o600,
            age_encrypt(d, &s.recipient, b"sealed\n"),
        ),
    ];
    reseal(&d.join("plain.mbundle"), &d.join("x.mbundle"), add);
    let o = meshbundle(d, &extract_args("site"));
    let err = format!("{}{}", text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(1), "{err}");
    // verify finds the clash from the seal alone, before anything is written.
    assert!(err.contains("both land on `docs/clash`"), "{err}");
    assert!(!err.contains("--force"), "import has no --force: {err}");
    assert!(err.lines().all(|l| l.trim() != "hint:"), "an empty hint: {err}");
    assert!(!d.join("site").exists());
    assert_eq!(named(d, ".meshbundle"), Vec::<String>::new());
}
