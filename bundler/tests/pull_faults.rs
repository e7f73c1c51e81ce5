//! Registry pulls against a hostile or flaky network: Debian's
//! docker-registry on 127.0.0.1 behind `tests/tools/fault_proxy.py`, which
//! throttles (429 or 503 with Retry-After), cuts blob bodies partway, ignores
//! ranges, and logs every request with the time it came in and its Range
//! header. Timing is read from the proxy's log, never from the test's clock.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::registry::*;
use common::*;

fn pull(dir: &Path, args: &[&str]) -> std::process::Output {
    meshbundle(dir, &[&["image", "pull", "--quiet"][..], args].concat())
}

/// Bytes that do not compress, the same each run.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// An image in the registry with one large layer (about 3 MiB) and a small
/// one: its name, digest, and the large layer's digest and size.
struct Fixture {
    name: String,
    digest: String,
    layer: String,
    layer_size: u64,
    /// Every blob of the image (config and layers).
    blobs: Vec<String>,
}

fn fixture(reg: &TestRegistry, d: &Path) -> Fixture {
    umoci_image(
        &d.join("src"),
        "app",
        &[vec![("big.bin", noise(3 << 20, 42))], vec![("hello", b"hi".to_vec())]],
    );
    let name = format!("{}/fixtures/app:1", reg.host);
    push(&d.join("src"), "app", &name, None);
    let digest = skopeo_digest(&name, None);
    let m = run(Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci:{}:app", d.join("src").display())));
    let m: serde_json::Value = serde_json::from_str(&m).unwrap();
    let big = m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .max_by_key(|l| l["size"].as_u64().unwrap())
        .unwrap();
    let mut blobs: Vec<String> = m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect();
    blobs.push(m["config"]["digest"].as_str().unwrap().to_string());
    Fixture {
        name,
        digest,
        layer: big["digest"].as_str().unwrap().into(),
        layer_size: big["size"].as_u64().unwrap(),
        blobs,
    }
}

/// The same image seen through the proxy.
fn via(proxy: &FaultProxy, f: &Fixture) -> String {
    f.name.replacen(f.name.split('/').next().unwrap(), &proxy.host, 1)
}

fn blob_gets(proxy: &FaultProxy, digest: &str) -> Vec<ProxyRequest> {
    proxy
        .entries()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.ends_with(&format!("/blobs/{digest}")))
        .collect()
}

fn partial_path(cache: &Path, digest: &str) -> PathBuf {
    cache
        .join("partial")
        .join(format!("{}.partial", digest.trim_start_matches("sha256:")))
}

/// Every file under a directory, relative.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).into_iter().flatten().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path().strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

fn sha256_hex(p: &Path) -> String {
    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(std::fs::read(p).unwrap()))
}

/// The layout holds the image the registry holds, and every blob hashes to its name.
fn assert_pulled(layout: &Path, name: &str, want: &str) {
    let got = run(Command::new("skopeo")
        .args(["inspect", "--format", "{{.Digest}}"])
        .arg(format!("oci:{}:{name}", layout.display())));
    assert_eq!(got.trim(), want);
    for e in std::fs::read_dir(layout.join("blobs/sha256")).unwrap() {
        let e = e.unwrap();
        assert_eq!(
            sha256_hex(&e.path()),
            e.file_name().to_string_lossy(),
            "{}",
            e.path().display()
        );
    }
}

/// An HTTP date as seconds since the epoch.
fn http_date(s: &str) -> f64 {
    let o = run(Command::new("python3").args([
        "-c",
        "import sys,email.utils;print(email.utils.parsedate_to_datetime(sys.argv[1]).timestamp())",
        s,
    ]));
    o.trim().parse().unwrap()
}

#[test]
fn retry_after_in_seconds_is_waited_for() {
    let reg = TestRegistry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let f = fixture(&reg, d);
    let proxy = FaultProxy::start(&reg.host, &["--throttle", "2", "--retry-after", "2"]);
    let name = via(&proxy, &f);
    let o = pull(
        d,
        &[&name, "--insecure", &proxy.host, "-o", "layout", "--cache", "cache"],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let log = proxy.entries();
    assert_eq!(
        (log[0].status, log[1].status, log[2].status),
        (429, 429, 200),
        "{log:#?}"
    );
    assert_eq!(
        (&log[0].path, &log[1].path),
        (&log[2].path, &log[2].path),
        "the same request, retried"
    );
    for w in log[..3].windows(2) {
        assert!(
            w[1].time - w[0].time >= 2.0,
            "retried {:.3} s after a 429 that asked for 2 s: {log:#?}",
            w[1].time - w[0].time
        );
    }
    let err = text(&o.stderr);
    assert!(
        err.contains("waiting 2 s") && err.contains("Retry-After") && err.contains(&name),
        "{err}"
    );
    assert_pulled(&d.join("layout"), &name, &f.digest);
}

#[test]
fn retry_after_as_an_http_date_on_a_503_is_waited_for() {
    let reg = TestRegistry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let f = fixture(&reg, d);
    let proxy = FaultProxy::start(
        &reg.host,
        &["--throttle", "1", "--throttle-status", "503", "--retry-after", "date+2"],
    );
    let name = via(&proxy, &f);
    let o = pull(
        d,
        &[&name, "--insecure", &proxy.host, "-o", "layout", "--cache", "cache"],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let log = proxy.entries();
    assert_eq!((log[0].status, log[1].status), (503, 200), "{log:#?}");
    let until = http_date(log[0].retry_after.as_deref().unwrap());
    assert!(
        log[1].time >= until,
        "retried at {} before the date asked, {until}: {log:#?}",
        log[1].time
    );
    assert_pulled(&d.join("layout"), &name, &f.digest);
}

#[test]
fn throttling_that_does_not_end_is_given_up_on_and_named() {
    let reg = TestRegistry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let f = fixture(&reg, d);
    // Always 429 with a short wait: a bounded number of tries, then a clear error.
    let proxy = FaultProxy::start(&reg.host, &["--throttle", "1000", "--retry-after", "1"]);
    let name = via(&proxy, &f);
    let o = pull(
        d,
        &[&name, "--insecure", &proxy.host, "-o", "layout", "--cache", "cache"],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    let tries = proxy.entries().len();
    assert!((2..=8).contains(&tries), "{tries} tries: {:#?}", proxy.entries());
    assert!(
        err.contains(&name) && err.contains("429") && err.contains(&format!("{tries} tries")),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
    assert!(
        !d.join("layout").exists(),
        "no output skeleton is left: {:?}",
        files_under(&d.join("layout"))
    );
    // A wait longer than meshbundle's bound is not waited for at all.
    let proxy = FaultProxy::start(&reg.host, &["--throttle", "1000", "--retry-after", "3600"]);
    let name = via(&proxy, &f);
    let o = pull(
        d,
        &[&name, "--insecure", &proxy.host, "-o", "layout", "--cache", "cache"],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert_eq!(proxy.entries().len(), 1, "{:#?}", proxy.entries());
    assert!(err.contains(&name) && err.contains("3600"), "{err}");
}

#[test]
fn a_blob_cut_at_90_percent_is_resumed_with_a_range_request() {
    let reg = TestRegistry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let f = fixture(&reg, d);
    let proxy = FaultProxy::start(&reg.host, &["--cut", &f.layer, "--cut-at", "0.9", "--cut-times", "1"]);
    let name = via(&proxy, &f);
    let o = pull(
        d,
        &[&name, "--insecure", &proxy.host, "-o", "layout", "--cache", "cache"],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let gets = blob_gets(&proxy, &f.layer);
    assert_eq!(gets.len(), 2, "{gets:#?}");
    let cut = gets[0].sent;
    assert_eq!(cut, f.layer_size * 9 / 10, "{gets:#?}");
    assert_eq!(gets[0].range, None);
    assert_eq!(
        gets[1].range.as_deref(),
        Some(format!("bytes={cut}-").as_str()),
        "the retry asks for the rest: {gets:#?}"
    );
    assert_eq!((gets[1].status, gets[1].sent), (206, f.layer_size - cut), "{gets:#?}");
    assert_pulled(&d.join("layout"), &name, &f.digest);
    assert_eq!(
        files_under(&d.join("cache/partial")),
        Vec::<String>::new(),
        "the partial became the blob"
    );
}

#[test]
fn a_blob_cut_every_time_is_named_kept_and_resumed_by_the_next_run() {
    let reg = TestRegistry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let f = fixture(&reg, d);
    let proxy = FaultProxy::start(&reg.host, &["--cut", &f.layer, "--cut-at", "0.5", "--cut-times", "-1"]);
    let name = via(&proxy, &f);
    let o = pull(
        d,
        &[&name, "--insecure", &proxy.host, "-o", "layout", "--cache", "cache"],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.contains(&name) && err.contains(&f.layer) && err.contains("layout"),
        "names the image, the blob and the output: {err}"
    );
    assert!(err.contains("hint:") && err.contains("resume"), "{err}");
    // Each try asked for the rest of what the one before got.
    let gets = blob_gets(&proxy, &f.layer);
    let mut have = 0;
    for g in &gets {
        let want = (have > 0).then(|| format!("bytes={have}-"));
        assert_eq!(g.range, want, "{gets:#?}");
        have += g.sent;
    }
    // What came is kept, recognisably partial, and nothing else is left.
    let partial = partial_path(&d.join("cache"), &f.layer);
    assert_eq!(std::fs::metadata(&partial).unwrap().len(), have);
    assert!(!d.join("layout").exists(), "no output skeleton is left");
    let leftovers: Vec<String> = files_under(&d.join("cache"))
        .into_iter()
        .filter(|p| !p.starts_with("blobs/sha256/"))
        .collect();
    assert_eq!(
        leftovers,
        [format!("partial/{}.partial", f.layer.trim_start_matches("sha256:"))]
    );
    // The next run, over a sound network, asks only for the rest.
    let good = FaultProxy::start(&reg.host, &[]);
    let name = via(&good, &f);
    let o = pull(
        d,
        &[&name, "--insecure", &good.host, "-o", "layout", "--cache", "cache"],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let gets = blob_gets(&good, &f.layer);
    assert_eq!(gets.len(), 1, "{gets:#?}");
    assert_eq!(gets[0].range.as_deref(), Some(format!("bytes={have}-").as_str()));
    assert_eq!(gets[0].sent, f.layer_size - have);
    assert_pulled(&d.join("layout"), &name, &f.digest);
    assert!(!partial.exists());
}

#[test]
fn a_registry_that_ignores_ranges_gets_a_whole_download() {
    let reg = TestRegistry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let f = fixture(&reg, d);
    let proxy = FaultProxy::start(&reg.host, &["--cut", &f.layer, "--cut-at", "0.9", "--ignore-range"]);
    let name = via(&proxy, &f);
    let o = pull(
        d,
        &[&name, "--insecure", &proxy.host, "-o", "layout", "--cache", "cache"],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let gets = blob_gets(&proxy, &f.layer);
    assert_eq!(gets.len(), 2, "{gets:#?}");
    assert!(gets[1].range.is_some(), "a range was asked for: {gets:#?}");
    assert_eq!(
        (gets[1].status, gets[1].sent),
        (200, f.layer_size),
        "and the whole blob came: {gets:#?}"
    );
    assert_pulled(&d.join("layout"), &name, &f.digest);
}

#[test]
fn a_partial_blob_that_proves_wrong_is_fetched_again_whole() {
    let reg = TestRegistry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let f = fixture(&reg, d);
    // A partial left by an earlier run, holding the wrong bytes.
    let partial = partial_path(&d.join("cache"), &f.layer);
    std::fs::create_dir_all(partial.parent().unwrap()).unwrap();
    std::fs::write(&partial, vec![0u8; 100_000]).unwrap();
    let proxy = FaultProxy::start(&reg.host, &[]);
    let name = via(&proxy, &f);
    let o = pull(
        d,
        &[&name, "--insecure", &proxy.host, "-o", "layout", "--cache", "cache"],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let gets = blob_gets(&proxy, &f.layer);
    assert_eq!(gets.len(), 2, "{gets:#?}");
    assert_eq!(gets[0].range.as_deref(), Some("bytes=100000-"));
    assert_eq!(
        (gets[1].range.as_deref(), gets[1].sent),
        (None, f.layer_size),
        "then the whole blob: {gets:#?}"
    );
    assert_pulled(&d.join("layout"), &name, &f.digest);
    assert!(!partial.exists());
}

/// A small tmpfs mounted here for the life of the value.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(bytes: u64) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let o = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "this test mounts a tmpfs (run it as root): {}",
            text(&o.stderr)
        );
        SmallDisk { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

#[test]
fn a_full_disk_is_reported_with_the_output_and_the_blob_and_leaves_nothing() {
    let reg = TestRegistry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let f = fixture(&reg, d);
    let proxy = FaultProxy::start(&reg.host, &[]);
    let name = via(&proxy, &f);

    // The output's disk is full: the layout cannot take the large layer.
    let disk = SmallDisk::mount(1 << 20);
    let out = disk.path().join("new/layout");
    let o = pull(
        d,
        &[
            &name,
            "--insecure",
            &proxy.host,
            "-o",
            out.to_str().unwrap(),
            "--cache",
            "cache",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    // Blobs download concurrently: whichever one found the disk full is named.
    let names_a_blob = |err: &str| f.blobs.iter().any(|b| err.contains(&format!("blob {b}")));
    assert!(
        err.contains(out.to_str().unwrap()) && names_a_blob(&err) && err.contains(&name),
        "{err}"
    );
    assert!(err.contains("No space left") && err.contains("hint:"), "{err}");
    assert_eq!(
        std::fs::read_dir(disk.path()).unwrap().count(),
        0,
        "the output it started is gone: {:?}",
        files_under(disk.path())
    );

    // An output that existed before stays, without a partial blob in it.
    std::fs::create_dir_all(&out).unwrap();
    let o = pull(
        d,
        &[
            &name,
            "--insecure",
            &proxy.host,
            "-o",
            out.to_str().unwrap(),
            "--cache",
            "cache",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(out.is_dir());
    let tmp: Vec<String> = files_under(&out).into_iter().filter(|p| p.ends_with(".tmp")).collect();
    assert_eq!(tmp, Vec::<String>::new());

    // The cache's disk is full: the error names the output and the blob, and
    // the cache keeps only what it verified.
    let disk2 = SmallDisk::mount(1 << 20);
    let cache = disk2.path().join("cache");
    let o = pull(
        d,
        &[
            &name,
            "--insecure",
            &proxy.host,
            "-o",
            "layout2",
            "--cache",
            cache.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(
        err.contains("layout2") && names_a_blob(&err) && err.contains(&name) && err.contains("No space left"),
        "{err}"
    );
    assert!(!d.join("layout2").exists());
    let tmp: Vec<String> = files_under(&cache)
        .into_iter()
        .filter(|p| p.ends_with(".tmp") || p.starts_with("tmp/"))
        .collect();
    assert_eq!(tmp, Vec::<String>::new());
}

#[test]
fn a_registry_that_hands_out_bearer_tokens_is_pulled_from_and_resumed() {
    let reg = TestRegistry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let f = fixture(&reg, d);
    let proxy = FaultProxy::start(&reg.host, &["--bearer", "t0ken", "--cut", &f.layer, "--cut-at", "0.5"]);
    let name = via(&proxy, &f);
    let o = pull(
        d,
        &[&name, "--insecure", &proxy.host, "-o", "layout", "--cache", "cache"],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let log = proxy.entries();
    assert_eq!(
        log.iter().filter(|r| r.path.starts_with("/token")).count(),
        1,
        "one token, kept: {log:#?}"
    );
    assert_eq!(
        log.iter().filter(|r| r.status == 401).count(),
        2,
        "the first request and oci-client's /v2/ check: {log:#?}"
    );
    let gets = blob_gets(&proxy, &f.layer);
    assert_eq!(
        gets.iter().map(|g| g.status).collect::<Vec<_>>(),
        [200, 206],
        "{gets:#?}"
    );
    assert_pulled(&d.join("layout"), &name, &f.digest);
}

#[test]
fn two_pulls_into_one_cache_share_a_blob_download() {
    let reg = TestRegistry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let f = fixture(&reg, d);
    let proxy = FaultProxy::start(&reg.host, &["--delay-blobs", "500"]);
    let name = via(&proxy, &f);
    let start = |out: &str| {
        Command::new(bin())
            .args([
                "image",
                "pull",
                "--quiet",
                &name,
                "--insecure",
                &proxy.host,
                "-o",
                out,
                "--cache",
                "cache",
            ])
            .current_dir(d)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (start("one"), start("two"));
    for c in [a, b] {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    assert_eq!(
        blob_gets(&proxy, &f.layer).len(),
        1,
        "fetched once: {:#?}",
        proxy.entries()
    );
    assert_pulled(&d.join("one"), &name, &f.digest);
    assert_pulled(&d.join("two"), &name, &f.digest);
    assert_eq!(files_under(&d.join("cache/partial")), Vec::<String>::new());
}
