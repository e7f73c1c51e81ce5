//! Images and files against real parts: Debian's docker-registry on
//! 127.0.0.1, fixtures made with umoci and pushed with skopeo, a proxy that
//! fails, corrupts and stalls on purpose, and a containerd started here.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::registry::*;
use common::*;

fn pull(dir: &Path, args: &[&str]) -> std::process::Output {
    meshbundle(dir, &[&["image", "pull", "--quiet"][..], args].concat())
}

#[test]
fn pulled_image_is_a_valid_oci_layout() {
    let reg = TestRegistry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    umoci_image(
        &d.join("src"),
        "app",
        &[
            vec![("app/data.bin", vec![7u8; 300_000])],
            vec![("app/hello", b"hi".to_vec())],
        ],
    );
    let name = format!("{}/fixtures/app:1", reg.host);
    push(&d.join("src"), "app", &name, None);
    let want = skopeo_digest(&name, None);

    let o = pull(d, &[&name, "--insecure", &reg.host, "-o", "layout", "--cache", "cache"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains(&want));
    let inspect = run(Command::new("skopeo")
        .args(["inspect", "--format", "{{.Digest}}"])
        .arg(format!("oci:{}:{name}", d.join("layout").display())));
    assert_eq!(inspect.trim(), want);
    run(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:{name}", d.join("layout").display()))
        .arg(d.join("unpacked")));
    assert_eq!(std::fs::read(d.join("unpacked/rootfs/app/hello")).unwrap(), b"hi");
    // Every blob hashes to its name.
    let mut n = 0;
    for e in std::fs::read_dir(d.join("layout/blobs/sha256")).unwrap() {
        let e = e.unwrap();
        let bytes = std::fs::read(e.path()).unwrap();
        assert_eq!(
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)),
            e.file_name().to_string_lossy()
        );
        n += 1;
    }
    assert!(n >= 4, "manifest, config and two layers");
}

#[test]
fn multi_platform_images_keep_the_asked_platforms() {
    let reg = TestRegistry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    multiarch_layout(&d.join("src"), "multi", "seed");
    let name = format!("{}/fixtures/multi:1", reg.host);
    push(&d.join("src"), "multi", &name, None);
    let index_digest = skopeo_digest(&name, None);
    let o = pull(
        d,
        &[
            &name,
            "--insecure",
            &reg.host,
            "-o",
            "layout",
            "--cache",
            "cache",
            "--platform",
            "linux/arm64",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    // The layout holds an index of just arm64, and skopeo reads it.
    let out = run(Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci:{}:{name}", d.join("layout").display())));
    let idx: serde_json::Value = serde_json::from_str(&out).unwrap();
    let plats: Vec<&str> = idx["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(plats, ["arm64"]);
    // The digest pull reports is the filtered index's own, the one the
    // layout names the image by, and its blob is the index skopeo read.
    let err = text(&o.stderr);
    let printed = err
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} -> ")))
        .unwrap_or_else(|| panic!("no `{name} -> DIGEST` line: {err}"));
    assert_ne!(printed, index_digest, "a filtered index has a digest of its own");
    let layout: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("layout/index.json")).unwrap()).unwrap();
    let entry = layout["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == name.as_str())
        .unwrap_or_else(|| panic!("{name} is not in the layout: {layout}"));
    assert_eq!(entry["digest"], printed, "{layout}");
    let printed_hex = printed.strip_prefix("sha256:").unwrap();
    let blob = std::fs::read(d.join("layout/blobs/sha256").join(printed_hex)).unwrap();
    assert_eq!(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&blob)), printed_hex);
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&blob).unwrap(), idx);
    let o = pull(
        d,
        &[
            &name,
            "--insecure",
            &reg.host,
            "-o",
            "layout2",
            "--cache",
            "cache",
            "--platform",
            "linux/s390x",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("has no linux/s390x image (it has linux/amd64, linux/arm64)"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn survives_a_registry_that_fails_twice() {
    let reg = TestRegistry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    umoci_image(&d.join("src"), "app", &[vec![("a", vec![1u8; 1000])]]);
    push(&d.join("src"), "app", &format!("{}/fixtures/app:1", reg.host), None);
    let proxy = FaultProxy::start(&reg.host, &["--fail-first", "2"]);
    let name = format!("{}/fixtures/app:1", proxy.host);
    let o = pull(
        d,
        &[&name, "--insecure", &proxy.host, "-o", "layout", "--cache", "cache"],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let failures = proxy.requests().iter().filter(|r| r.ends_with(" 500")).count();
    assert_eq!(failures, 2, "{:#?}", proxy.requests());
}

#[test]
fn refuses_a_blob_that_does_not_match_its_digest() {
    let reg = TestRegistry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    umoci_image(&d.join("src"), "app", &[vec![("a", vec![2u8; 5000])]]);
    push(&d.join("src"), "app", &format!("{}/fixtures/app:1", reg.host), None);
    // The one layer of the image.
    let m = run(Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci:{}:app", d.join("src").display())));
    let m: serde_json::Value = serde_json::from_str(&m).unwrap();
    let layer = m["layers"][0]["digest"].as_str().unwrap().to_string();
    let proxy = FaultProxy::start(&reg.host, &["--corrupt", &layer]);
    let name = format!("{}/fixtures/app:1", proxy.host);
    let o = pull(
        d,
        &[&name, "--insecure", &proxy.host, "-o", "layout", "--cache", "cache"],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.contains(&name) && err.contains(&layer) && err.contains("damaged"),
        "{err}"
    );
    assert!(
        !d.join("cache/blobs/sha256")
            .join(layer.trim_start_matches("sha256:"))
            .exists(),
        "nothing damaged is cached"
    );
}

#[test]
fn an_interrupted_pull_resumes_without_fetching_finished_blobs() {
    let reg = TestRegistry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let layers: Vec<Vec<(&str, Vec<u8>)>> = (0..5u8).map(|i| vec![("f", vec![i; 40_000 + i as usize])]).collect();
    umoci_image(&d.join("src"), "app", &layers);
    push(&d.join("src"), "app", &format!("{}/fixtures/app:1", reg.host), None);
    let proxy = FaultProxy::start(&reg.host, &["--delay-blobs", "800"]);
    let name = format!("{}/fixtures/app:1", proxy.host);
    let cache = d.join("cache");
    let mut child = Command::new(bin())
        .args([
            "image",
            "pull",
            "--quiet",
            "-j",
            "1",
            &name,
            "--insecure",
            &proxy.host,
            "-o",
        ])
        .arg(d.join("layout"))
        .arg("--cache")
        .arg(&cache)
        .spawn()
        .unwrap();
    let cached = |c: &Path| -> Vec<String> {
        std::fs::read_dir(c.join("blobs/sha256"))
            .map(|r| {
                r.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while cached(&cache).len() < 3 {
        assert!(Instant::now() < deadline, "the pull did not progress");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let done = cached(&cache);
    assert!(done.len() < 7, "killed before it finished: {done:?}");
    let before = proxy.requests().len();
    let o = pull(
        d,
        &[
            &name,
            "--insecure",
            &proxy.host,
            "-o",
            "layout",
            "--cache",
            cache.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let second: Vec<String> = proxy.requests()[before..].to_vec();
    for hex in &done {
        assert!(
            !second.iter().any(|r| r.starts_with("GET ") && r.contains(hex.as_str())),
            "{hex} fetched again: {second:#?}"
        );
    }
    assert!(
        second.iter().any(|r| r.starts_with("GET ") && r.contains("/blobs/")),
        "the rest was fetched"
    );
}

#[test]
fn basic_auth_with_credentials_from_an_auth_file() {
    let reg = TestRegistry::start(Some(("alice", "s3cret")));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    umoci_image(&d.join("src"), "app", &[vec![("a", b"private".to_vec())]]);
    let name = format!("{}/private/app:1", reg.host);
    push(&d.join("src"), "app", &name, Some(("alice", "s3cret")));
    // Without credentials (an auth file with none): refused, with a hint.
    std::fs::write(d.join("empty.json"), r#"{"auths": {}}"#).unwrap();
    let o = pull(
        d,
        &[
            &name,
            "--insecure",
            &reg.host,
            "-o",
            "l1",
            "--cache",
            "cache",
            "--authfile",
            "empty.json",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.contains("error: cannot pull into l1") && err.contains("the registry wants credentials"),
        "{err}"
    );
    assert!(
        err.contains("\n  hint: log in with `docker login` or `podman login`, or pass --authfile"),
        "{err}"
    );
    assert!(!d.join("l1").exists(), "nothing written");
    // An auth file that is not there is an error of its own, naming it.
    let o = pull(
        d,
        &[
            &name,
            "--insecure",
            &reg.host,
            "-o",
            "l1",
            "--cache",
            "cache",
            "--authfile",
            "/dev/null/none",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("/dev/null/none") && !text(&o.stderr).contains("wants credentials"),
        "{}",
        text(&o.stderr)
    );
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
    std::fs::write(
        d.join("config.json"),
        format!(r#"{{"auths": {{"{}": {{"auth": "{auth}"}}}}}}"#, reg.host),
    )
    .unwrap();
    let o = pull(
        d,
        &[
            &name,
            "--insecure",
            &reg.host,
            "-o",
            "l2",
            "--cache",
            "cache",
            "--authfile",
            "config.json",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains(&skopeo_digest(&name, Some(("alice", "s3cret")))));
    // Wrong password: a clear error.
    std::fs::write(
        d.join("bad.json"),
        format!(
            r#"{{"auths": {{"{}": {{"username": "alice", "password": "nope"}}}}}}"#,
            reg.host
        ),
    )
    .unwrap();
    let o = pull(
        d,
        &[
            &name,
            "--insecure",
            &reg.host,
            "-o",
            "l3",
            "--cache",
            "cache",
            "--authfile",
            "bad.json",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("refused the credentials"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn archives_written_by_skopeo_are_accepted() {
    let reg = TestRegistry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    umoci_image(
        &d.join("src"),
        "app",
        &[vec![("a", vec![3u8; 2000])], vec![("b", b"two".to_vec())]],
    );
    let name = format!("{}/fixtures/app:1", reg.host);
    push(&d.join("src"), "app", &name, None);
    let registry_digest = skopeo_digest(&name, None);
    run(Command::new("skopeo")
        .args(["copy", "--quiet", "--src-tls-verify=false"])
        .arg(format!("docker://{name}"))
        .arg(format!("oci-archive:{}:app:1", d.join("oci.tar").display())));
    run(Command::new("skopeo")
        .args(["copy", "--quiet", "--src-tls-verify=false"])
        .arg(format!("docker://{name}"))
        .arg(format!(
            "docker-archive:{}:example.com/app:1",
            d.join("docker.tar").display()
        )));

    let o = pull(
        d,
        &[
            &format!("example.com/app:1=oci-archive:{}", d.join("oci.tar").display()),
            "-o",
            "l1",
            "--cache",
            "cache",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains(&registry_digest),
        "an OCI archive keeps the manifest digest"
    );
    let o = pull(
        d,
        &[
            &format!("example.com/app:1=docker-archive:{}", d.join("docker.tar").display()),
            "-o",
            "l2",
            "--cache",
            "cache",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    // The docker archive's config digest is kept.
    let docker_cfg = run(Command::new("skopeo")
        .args(["inspect", "--config", "--raw"])
        .arg(format!("docker-archive:{}", d.join("docker.tar").display())));
    let want = format!(
        "sha256:{}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(docker_cfg.as_bytes()))
    );
    let ours = run(Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci:{}:example.com/app:1", d.join("l2").display())));
    let m: serde_json::Value = serde_json::from_str(&ours).unwrap();
    assert_eq!(m["config"]["digest"], want);
    run(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:example.com/app:1", d.join("l2").display()))
        .arg(d.join("u")));
    assert_eq!(std::fs::read(d.join("u/rootfs/b")).unwrap(), b"two");
}

#[test]
fn recipe_builds_reproducibly_and_runs_in_containerd() {
    let musl = repo().join("target/x86_64-unknown-linux-musl/release/meshbundle");
    assert!(
        musl.exists(),
        "build it first: cargo build --release --target x86_64-unknown-linux-musl -p meshbundle"
    );
    assert!(
        repo().join("web/dist/index.html").exists(),
        "build it first: web/build.sh"
    );
    let recipe = repo().join("images/meshbundle/recipe.yaml");
    let text_recipe = std::fs::read_to_string(&recipe).unwrap();
    assert!(
        text_recipe.contains(&format!("tag: \"{}\"", env!("CARGO_PKG_VERSION"))),
        "the recipe's tag is the version"
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let a = meshbundle(
        &repo(),
        &[
            "image",
            "build",
            recipe.to_str().unwrap(),
            "-o",
            d.join("a").to_str().unwrap(),
        ],
    );
    assert!(a.status.success(), "{}", text(&a.stderr));
    std::fs::create_dir_all(d.join("elsewhere")).unwrap();
    let b = meshbundle(
        &d.join("elsewhere"),
        &["image", "build", recipe.to_str().unwrap(), "-o", "../b"],
    );
    assert!(b.status.success(), "{}", text(&b.stderr));
    assert_eq!(
        text(&a.stdout),
        text(&b.stdout),
        "the same digest from another directory"
    );
    let c = meshbundle(
        d,
        &[
            "image",
            "build",
            recipe.to_str().unwrap(),
            "-o",
            "c",
            "--source-date-epoch",
            "1700000000",
        ],
    );
    assert!(c.status.success(), "{}", text(&c.stderr));
    assert_ne!(text(&a.stdout), text(&c.stdout), "the timestamp is part of the image");
    let digest = text(&a.stdout).trim().to_string();
    let inspect = run(Command::new("skopeo")
        .args(["inspect", "--format", "{{.Digest}}"])
        .arg(format!(
            "oci:{}:meshbundle/meshbundle:{}",
            d.join("a").display(),
            env!("CARGO_PKG_VERSION")
        )));
    assert_eq!(inspect.trim(), digest);

    let ctd = Containerd::start(false);
    run(Command::new("tar")
        .arg("-C")
        .arg(d.join("a"))
        .arg("-cf")
        .arg(d.join("a.tar"))
        .arg("."));
    let o = ctd.ctr(&["-n", "k8s.io", "images", "import", d.join("a.tar").to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = ctd.ctr(&["-n", "k8s.io", "images", "ls"]);
    assert!(text(&o.stdout).contains(&digest), "{}", text(&o.stdout));
    let image = format!("meshbundle/meshbundle:{}", env!("CARGO_PKG_VERSION"));
    let o = ctd.ctr(&[
        "-n",
        "k8s.io",
        "run",
        "--rm",
        &image,
        "meshbundle-test",
        "/usr/local/bin/meshbundle",
        "--version",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(
        text(&o.stdout).starts_with(&format!("meshbundle {} (source ", env!("CARGO_PKG_VERSION"))),
        "{}",
        text(&o.stdout)
    );
}

#[test]
fn lock_pins_what_skopeo_reports_and_keeps_pins() {
    let site = example("lab");
    let up = site::serve(&site);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // An application image from a docker archive, beside the catalog's.
    umoci_image(&d.join("app"), "app", &[vec![("srv/app", b"application".to_vec())]]);
    run(Command::new("skopeo")
        .args(["copy", "--quiet"])
        .arg(format!("oci:{}:app", d.join("app").display()))
        .arg(format!("docker-archive:{}:shop/web:1.4.2", d.join("web.tar").display())));
    let mut spec = std::fs::read_to_string(repo().join("core/examples/lab.yaml")).unwrap();
    spec.push_str(&format!(
        "  images:\n    - name: registry.example.internal/shop/web:1.4.2\n      source: docker-archive:{}\n",
        d.join("web.tar").display()
    ));
    std::fs::write(d.join("site.yaml"), &spec).unwrap();
    let mut args = vec!["lock", "site.yaml", "--quiet", "--cache", "cache"];
    args.extend(up.flags.iter().map(String::as_str));
    let o = meshbundle(d, &args);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let lock = meshbundle_core::lock::parse(&std::fs::read_to_string(d.join("meshbundle.lock")).unwrap()).unwrap();
    let needs = meshbundle_core::catalog::needs(&meshbundle_core::spec::load::load(&spec).site.unwrap()).unwrap();
    assert_eq!(lock.images.len(), needs.images.len());
    assert_eq!(lock.files.len(), needs.files.len());
    for img in &lock.images {
        let r = &img.name;
        if img.source.is_some() {
            continue;
        }
        let at_mirror = format!("{}/{}:{}", up.registry.host, r.repository, r.tag.clone().unwrap());
        assert_eq!(img.digest.as_str(), skopeo_digest(&at_mirror, None), "{}", img.name);
        if r.repository.ends_with("proxyv2") {
            assert_eq!(img.platforms.len(), 1, "only linux/amd64 of a two-platform index");
            assert!(img.carried_digest.is_some());
        }
    }
    let web = lock
        .image(&"registry.example.internal/shop/web:1.4.2".parse().unwrap())
        .unwrap();
    assert!(web.source.as_deref().unwrap().starts_with("docker-archive:"));
    // Files carry the sha256 their publisher's checksum file gives.
    let kubeadm = lock.file("kubeadm-amd64").unwrap();
    let served = format!("fixture content of kubeadm-amd64 from {}\n", kubeadm.url);
    assert_eq!(
        kubeadm.sha256.hex(),
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(served.as_bytes()))
    );
    let flannel = lock.file("manifest/flannel").unwrap();
    assert_eq!(
        flannel.sha256.hex(),
        "f17c57f82ffef1d53dbf558ac30755241980563044622778a15df339e4346c57"
    );
    // Sorted and stable: a second lock changes nothing.
    let first = std::fs::read_to_string(d.join("meshbundle.lock")).unwrap();
    let o = meshbundle(d, &args);
    assert!(o.status.success());
    assert!(text(&o.stderr).contains("0 resolved now"), "{}", text(&o.stderr));
    assert_eq!(std::fs::read_to_string(d.join("meshbundle.lock")).unwrap(), first);
    // --update re-resolves one entry: push a new pause image, update just it.
    let pause = lock
        .images
        .iter()
        .find(|i| i.name.to_string().contains("/pause:"))
        .unwrap()
        .clone();
    let r = pause.name.clone();
    umoci_image(&d.join("newpause"), "p", &[vec![("pause", b"new".to_vec())]]);
    push(
        &d.join("newpause"),
        "p",
        &format!("{}/{}:{}", up.registry.host, r.repository, r.tag.clone().unwrap()),
        None,
    );
    let o = meshbundle(d, &args);
    assert!(o.status.success());
    let same = meshbundle_core::lock::parse(&std::fs::read_to_string(d.join("meshbundle.lock")).unwrap()).unwrap();
    assert_eq!(
        same.image(&pause.name).unwrap().digest,
        pause.digest,
        "pins are kept without --update"
    );
    let mut upd = args.clone();
    let pause_name = pause.name.to_string();
    upd.extend(["--update", pause_name.as_str()]);
    let o = meshbundle(d, &upd);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("1 resolved now"), "{}", text(&o.stderr));
    let new = meshbundle_core::lock::parse(&std::fs::read_to_string(d.join("meshbundle.lock")).unwrap()).unwrap();
    assert_ne!(new.image(&pause.name).unwrap().digest, pause.digest);
    let o = meshbundle(d, &[&args[..], &["--update", "no/such:image"]].concat());
    assert_eq!(o.status.code(), Some(2));
}

/// A pull from an OCI layout, an oci-archive or a docker-archive moves a
/// progress bar (bytes, rate) on a terminal, and shows none in a pipe or
/// with `--quiet`.
#[test]
fn local_sources_show_progress_on_a_terminal_only() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 12 MiB that no compression shrinks.
    let noise: Vec<u8> = (0u32..(12 << 20) / 32)
        .flat_map(|i| <sha2::Sha256 as sha2::Digest>::digest(i.to_le_bytes()))
        .collect();
    umoci_image(&d.join("src"), "app", &[vec![("noise", noise)]]);
    run(Command::new("skopeo")
        .arg("copy")
        .arg(format!("oci:{}:app", d.join("src").display()))
        .arg(format!("oci-archive:{}", d.join("app.tar").display())));
    run(Command::new("skopeo")
        .arg("copy")
        .arg(format!("oci:{}:app", d.join("src").display()))
        .arg(format!(
            "docker-archive:{}:example.com/app:1",
            d.join("docker.tar").display()
        )));
    let sources = [
        format!("oci:{}", d.join("src").display()),
        format!("oci-archive:{}", d.join("app.tar").display()),
        format!("docker-archive:{}", d.join("docker.tar").display()),
    ];
    for (i, src) in sources.iter().enumerate() {
        let image = format!("example.com/app:1={src}");
        // On a terminal (`script` gives the command one), with an empty cache.
        let on_tty = |extra: &str, n: &str| {
            let cmd = format!("{} image pull {image} -o out-{n} --cache cache-{n} {extra}", bin());
            let o = Command::new("script")
                .args(["-qfec", &cmd, "/dev/null"])
                .current_dir(d)
                .output()
                .unwrap();
            assert!(o.status.success(), "{src}: {}", text(&o.stdout));
            text(&o.stdout)
        };
        let tty = on_tty("", &format!("tty{i}"));
        assert!(
            tty.contains("pull [") && tty.contains("MiB/"),
            "{src}: no progress on a terminal:\n{tty}"
        );
        let quiet = on_tty("--quiet", &format!("quiet{i}"));
        assert!(!quiet.contains("pull ["), "{src}: --quiet shows a bar:\n{quiet}");
        // In a pipe.
        let o = meshbundle(
            d,
            &[
                "image",
                "pull",
                &image,
                "-o",
                &format!("out-pipe{i}"),
                "--cache",
                &format!("cache-pipe{i}"),
            ],
        );
        assert!(o.status.success(), "{src}: {}", text(&o.stderr));
        assert!(!text(&o.stderr).contains("pull ["), "{src}: a bar in a pipe");
    }
}
