//! Import at the site, side by side with the tools an operator would
//! otherwise use, in one run on this machine:
//!
//! - `import --registry` of a multi-GiB bundle into Debian's `docker-registry`
//!   on 127.0.0.1, against `skopeo copy --all oci:… docker://…` of the same
//!   images from the bundle's own OCI layout, one image after another (goal:
//!   at least 1.5 times as fast), and against `skopeo sync` of the same images
//!   (goal: never slower); a second import of the same bundle, which asks
//!   the registry what it lacks and reads no image (goal: under a second per
//!   hundred images); the peak memory of import (goal: < 64 MiB);
//! - `import --containerd` into a containerd of its own (own config, root,
//!   state and socket, no network), against `ctr -n k8s.io images import` of
//!   an oci-archive of the same images (goal: faster), `import -j 1` (one
//!   ctr streams and unpacks, no unpacking side by side), a second import into
//!   the same containerd (which reads no image), and `ctr run` of an
//!   imported image afterwards, with no network;
//! - `lock` of the production spec against a local registry and file server,
//!   each behind a proxy that waits a network round trip (`LOCK_RTT_MS`,
//!   default 20) before every answer, with the default concurrency against
//!   `-j 1` (one at a time), and the two locks compared byte for byte.
//!
//! The images are generated here: random, incompressible, uncompressed tar
//! layers; a tiny layer (a static `/true`) shared by every image, base
//! layers shared by groups of images, a layer of its own per image, and a
//! few large layers. Each run starts from an empty registry or containerd;
//! the bundle and the layout are read once before, so the page cache is warm
//! for every tool alike, and a `sync` precedes each timed command.
//!
//!   bench/import.sh
//!   IMPORT_GIB=1 RUNS=1 cargo bench -p meshbundle --bench import   (quicker)
//!   BENCH_ONLY=registry|containerd|lock                              (one part)
//!   BEFORE=/path/to/an/earlier/meshbundle bench/import.sh            (its figures beside)

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use common::registry::{Containerd, FaultProxy, TestRegistry, run};
use sha2::{Digest, Sha256};

const MIB: u64 = 1 << 20;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Fast pseudo-random bytes (xorshift), incompressible.
fn fill(state: &mut u64, out: &mut [u8]) {
    for chunk in out.chunks_mut(8) {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
    }
}

/// A static x86-64 ELF that exits 0: what `ctr run` runs, with no libc needed.
fn tiny_true() -> Vec<u8> {
    let mut e = Vec::new();
    e.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    e.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    e.extend_from_slice(&0x3eu16.to_le_bytes()); // x86-64
    e.extend_from_slice(&1u32.to_le_bytes());
    e.extend_from_slice(&0x400078u64.to_le_bytes()); // entry
    e.extend_from_slice(&64u64.to_le_bytes()); // program headers
    e.extend_from_slice(&0u64.to_le_bytes());
    e.extend_from_slice(&0u32.to_le_bytes());
    for v in [64u16, 56, 1, 0, 0, 0] {
        e.extend_from_slice(&v.to_le_bytes());
    }
    let code = [0xb8, 0x3c, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05]; // exit(0)
    let total = 120 + code.len() as u64;
    e.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    e.extend_from_slice(&5u32.to_le_bytes()); // R+X
    e.extend_from_slice(&0u64.to_le_bytes());
    e.extend_from_slice(&0x400000u64.to_le_bytes());
    e.extend_from_slice(&0x400000u64.to_le_bytes());
    e.extend_from_slice(&total.to_le_bytes());
    e.extend_from_slice(&total.to_le_bytes());
    e.extend_from_slice(&0x1000u64.to_le_bytes());
    e.extend_from_slice(&code);
    e
}

/// Writes an uncompressed tar layer holding one file into the layout; returns its digest and size.
fn put_layer(blobs: &Path, path: &str, mode: u32, size: u64, content: &mut dyn FnMut(&mut [u8])) -> (String, u64) {
    let tmp = blobs.join("layer.tmp");
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&tmp).unwrap());
    let mut h = Sha256::new();
    let mut w = |b: &[u8]| {
        h.update(b);
        f.write_all(b).unwrap();
    };
    let mut header = tar::Header::new_ustar();
    header.set_path(path).unwrap();
    header.set_size(size);
    header.set_mode(mode);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    w(header.as_bytes());
    let mut buf = vec![0u8; MIB as usize];
    let mut left = size;
    while left > 0 {
        let n = left.min(MIB) as usize;
        content(&mut buf[..n]);
        w(&buf[..n]);
        left -= n as u64;
    }
    let pad = (512 - size % 512) % 512;
    w(&vec![0u8; pad as usize + 1024]);
    f.flush().unwrap();
    drop(f);
    let total = 512 + size + pad + 1024;
    let hex = hex::encode(h.finalize());
    std::fs::rename(&tmp, blobs.join(&hex)).unwrap();
    (format!("sha256:{hex}"), total)
}

fn put_json(blobs: &Path, v: &serde_json::Value) -> (String, u64) {
    let bytes = serde_json::to_vec(v).unwrap();
    let hex = hex::encode(Sha256::digest(&bytes));
    std::fs::write(blobs.join(&hex), &bytes).unwrap();
    (format!("sha256:{hex}"), bytes.len() as u64)
}

/// One OCI layout holding `images` images named `registry.example.internal/bench/img-N:1`,
/// about `gib` GiB of distinct layers in all. Returns the names.
fn make_images(dir: &Path, gib: u64, images: u64) -> Vec<String> {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let elf = tiny_true();
    let tiny = put_layer(&blobs, "true", 0o755, elf.len() as u64, &mut |b| {
        b.copy_from_slice(&elf[..b.len()])
    });
    // A quarter of the bytes in 4 shared bases, a quarter in large layers
    // (one image in 8), the rest one layer per image.
    let total = gib * 1024;
    let base_mib = total / 16;
    let large_mib = total / 4 / images.div_ceil(8);
    let own_mib = total / 2 / images;
    let bases: Vec<(String, u64)> = (0..4)
        .map(|i| {
            put_layer(&blobs, &format!("base/{i}.bin"), 0o644, base_mib * MIB, &mut |b| {
                fill(&mut state, b)
            })
        })
        .collect();
    let mut names = Vec::new();
    let mut index = Vec::new();
    for i in 0..images {
        let mut layers = vec![tiny.clone(), bases[(i % 4) as usize].clone()];
        layers.push(put_layer(
            &blobs,
            &format!("own/{i}.bin"),
            0o644,
            own_mib * MIB,
            &mut |b| fill(&mut state, b),
        ));
        if i % 8 == 0 {
            layers.push(put_layer(
                &blobs,
                &format!("large/{i}.bin"),
                0o644,
                large_mib * MIB,
                &mut |b| fill(&mut state, b),
            ));
        }
        // Uncompressed layers: the diff ids are the layer digests.
        let config = serde_json::json!({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/true"]},
            "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.0.clone()).collect::<Vec<_>>()}});
        let (cd, cs) = put_json(&blobs, &config);
        let manifest = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
            "layers": layers.iter().map(|(d, s)| serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": s})).collect::<Vec<_>>()});
        let (md, ms) = put_json(&blobs, &manifest);
        let name = format!("registry.example.internal/bench/img-{i}:1");
        index.push(
            serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms,
            "annotations": {"org.opencontainers.image.ref.name": name}}),
        );
        names.push(name);
    }
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": index})).unwrap(),
    )
    .unwrap();
    names
}

struct Run {
    seconds: f64,
    max_rss_kib: u64,
}

/// Runs a shell command under `/usr/bin/time` after a `sync`; fails loudly.
fn timed(dir: &Path, script: &str) -> Run {
    let stats = dir.join("time.out");
    Command::new("sync").status().expect("sync");
    let start = Instant::now();
    let o = Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(&stats)
        .args(["sh", "-c", script])
        .current_dir(dir)
        .output()
        .expect("/usr/bin/time (apt-get install time)");
    let seconds = start.elapsed().as_secs_f64();
    assert!(
        o.status.success(),
        "{script}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let rss: u64 = std::fs::read_to_string(&stats)
        .unwrap()
        .trim()
        .lines()
        .last()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    Run {
        seconds,
        max_rss_kib: rss,
    }
}

fn best(runs: &[Run]) -> Run {
    Run {
        seconds: runs.iter().map(|r| r.seconds).fold(f64::MAX, f64::min),
        max_rss_kib: runs.iter().map(|r| r.max_rss_kib).max().unwrap_or(0),
    }
}

fn gib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 30) as f64
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|r| r.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let nproc = run(&mut Command::new("nproc")).trim().to_string();
    format!("{cpu}, {nproc} cores (nproc)")
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The refs of the bundle's layout: (ref name, repository:tag without the registry).
fn layout_refs(layout: &Path) -> Vec<(String, String)> {
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let name = m["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
                .to_string();
            let path = name.split_once('/').unwrap().1.to_string();
            (name, path)
        })
        .collect()
}

fn dir_size(p: &Path) -> u64 {
    run(Command::new("du").args(["-sb"]).arg(p))
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// Runs the shell command `cmd` in `dir` on a terminal of its own
/// (`script`), as an operator at a terminal runs it, and gives back how many
/// progress frames it drew and the last one that moved (escape codes
/// removed): proof that long steps show bytes, rate and time left there.
fn on_terminal(dir: &Path, cmd: &str) -> (usize, String) {
    let o = Command::new("script")
        .args(["-qfec", cmd, "/dev/null"])
        .current_dir(dir)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{cmd}:\n{out}");
    let mut plain = String::new();
    let mut chars = out.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            continue;
        }
        plain.push(c);
    }
    let frames: Vec<&str> = plain
        .split(['\r', '\n'])
        .map(str::trim)
        .filter(|l| l.contains('[') && l.contains("/s"))
        .collect();
    let last = frames
        .iter()
        .rev()
        .find(|l| !l.contains("[=============================="))
        .or(frames.last())
        .map_or_else(String::new, |l| l.to_string());
    (frames.len(), last)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // MESHBUNDLE names another build to time (e.g. a copy of this one, kept while the sources change).
    let own = std::env::var("MESHBUNDLE").ok().filter(|b| !b.is_empty());
    let bin = own.as_deref().unwrap_or(env!("CARGO_BIN_EXE_meshbundle"));
    // Another meshbundle (an earlier build) timed beside this one: the before of a change.
    let before = std::env::var("BEFORE").ok().filter(|b| !b.is_empty());
    let runs = env_u64("RUNS", 3);
    let import_gib = env_u64("IMPORT_GIB", 2);
    let images = env_u64("IMAGES", 32);
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let part = |name: &str| only.is_empty() || only.split(',').any(|p| p == name);
    let load_before = loadavg();
    let mut report = Vec::new();

    if part("registry") || part("containerd") {
        let up = common::site::serve(&common::example("lab"));
        let dir = tempfile::tempdir_in(
            std::env::var_os("BENCH_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(std::env::temp_dir),
        )
        .unwrap();
        let d = dir.path();
        let names = make_images(&d.join("src"), import_gib, images);
        let mut spec = std::fs::read_to_string(common::repo().join("core/examples/lab.yaml")).unwrap();
        spec.push_str("  images:\n");
        for n in &names {
            spec.push_str(&format!(
                "    - name: {n}\n      source: oci:{}\n",
                d.join("src").display()
            ));
        }
        std::fs::write(d.join("site.yaml"), spec).unwrap();
        let mut args = vec!["lock", "site.yaml", "--quiet", "--cache", "cache"];
        args.extend(up.flags.iter().map(String::as_str));
        let o = common::meshbundle(d, &args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        // Built on a terminal: its progress is part of the report.
        let flags: String = up.flags.iter().map(|f| format!(" '{f}'")).collect();
        let (frames, last) = on_terminal(
            d,
            &format!("{bin} build site.yaml --locked --cache cache -o site.mbundle{flags}"),
        );
        let mut shown = vec![format!("progress  build on a terminal: {frames} frames, e.g. `{last}`")];
        drop(up);
        std::fs::remove_dir_all(d.join("src")).unwrap();
        std::fs::remove_dir_all(d.join("cache")).unwrap();
        let bundle_size = std::fs::metadata(d.join("site.mbundle")).unwrap().len();
        // The bundle's own OCI layout, for skopeo and ctr.
        run(Command::new("tar")
            .arg("-C")
            .arg(d)
            .arg("-xf")
            .arg(d.join("site.mbundle"))
            .arg("images"));
        let refs = layout_refs(&d.join("images"));
        let n_images = refs.len();
        report.push(format!(
            "bundle    {:.2} GiB, {n_images} images ({images} generated: shared base layers, {} large), layout {:.2} GiB",
            gib(bundle_size),
            images.div_ceil(8),
            gib(dir_size(&d.join("images")))
        ));
        let (frames, last) = on_terminal(d, &format!("{bin} verify site.mbundle"));
        shown.push(format!(
            "progress  verify on a terminal: {frames} frames, e.g. `{last}`"
        ));
        {
            let reg = TestRegistry::start(None);
            let h = &reg.host;
            let (frames, last) = on_terminal(d, &format!("{bin} import site.mbundle --registry {h} --insecure {h}"));
            shown.push(format!(
                "progress  import --registry on a terminal: {frames} frames, e.g. `{last}`"
            ));
        }
        {
            let c = Containerd::start(true);
            let sock = c.socket.display().to_string();
            let (frames, last) = on_terminal(d, &format!("{bin} import site.mbundle --containerd {sock}"));
            shown.push(format!(
                "progress  import --containerd on a terminal: {frames} frames, e.g. `{last}`"
            ));
        }
        report.extend(shown);
        // Read once, so every tool starts from the same warm page cache.
        run(Command::new("cat").arg(d.join("site.mbundle")).stdout(Stdio::null()));
        run(Command::new("sh")
            .arg("-c")
            .arg("find images -type f -exec cat {} + >/dev/null")
            .current_dir(d));

        if part("registry") {
            // skopeo sync reads `dir:` copies of the images (made untimed).
            for (name, path) in &refs {
                let to = d.join("sync").join(path.replace(':', "_"));
                std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                run(Command::new("skopeo")
                    .args(["copy", "--quiet", "--all"])
                    .arg(format!("oci:{}:{name}", d.join("images").display()))
                    .arg(format!("dir:{}", d.join("sync").join(path.replace(':', "_")).display())));
            }
            let (mut mb, mut again, mut copy, mut sync) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            let (mut old, mut old_again) = (Vec::new(), Vec::new());
            for _ in 0..runs.max(1) {
                if let Some(b) = &before {
                    let reg = TestRegistry::start(None);
                    let h = &reg.host;
                    old.push(timed(
                        d,
                        &format!("{b} import site.mbundle --quiet --registry {h} --insecure {h}"),
                    ));
                    old_again.push(timed(
                        d,
                        &format!("{b} import site.mbundle --quiet --registry {h} --insecure {h}"),
                    ));
                }
                {
                    let reg = TestRegistry::start(None);
                    let h = &reg.host;
                    mb.push(timed(
                        d,
                        &format!("{bin} import site.mbundle --quiet --registry {h} --insecure {h}"),
                    ));
                    again.push(timed(
                        d,
                        &format!("{bin} import site.mbundle --quiet --registry {h} --insecure {h}"),
                    ));
                }
                {
                    let reg = TestRegistry::start(None);
                    let h = &reg.host;
                    let script: String = refs
                        .iter()
                        .map(|(name, path)| {
                            format!("skopeo copy --quiet --all --dest-tls-verify=false 'oci:images:{name}' 'docker://{h}/{path}' && ")
                        })
                        .chain(std::iter::once("true".to_string()))
                        .collect();
                    copy.push(timed(d, &script));
                }
                {
                    let reg = TestRegistry::start(None);
                    let h = &reg.host;
                    sync.push(timed(
                        d,
                        &format!("skopeo sync --all --src dir --dest docker --dest-tls-verify=false sync {h}/sync"),
                    ));
                }
            }
            let (mb, again, copy, sync) = (best(&mb), best(&again), best(&copy), best(&sync));
            let mib = bundle_size as f64 / MIB as f64;
            report.push(format!(
                "registry  import --registry: {:.2} s ({:.0} MiB/s, every entry written verified); skopeo copy one by one: {:.2} s; ratio {:.2} (goal >= 1.5)",
                mb.seconds,
                mib / mb.seconds,
                copy.seconds,
                copy.seconds / mb.seconds
            ));
            report.push(format!(
                "registry  skopeo sync: {:.2} s; ratio sync/import {:.2} (goal >= 1)",
                sync.seconds,
                sync.seconds / mb.seconds
            ));
            report.push(format!(
                "registry  second import of the same bundle: {:.2} s for {n_images} images, {:.2} s per hundred (goal < 1)",
                again.seconds,
                again.seconds * 100.0 / n_images as f64
            ));
            report.push(format!(
                "memory    import --registry {:.1} MiB peak RSS (goal < 64 MiB); skopeo copy {:.1} MiB",
                mb.max_rss_kib as f64 / 1024.0,
                copy.max_rss_kib as f64 / 1024.0
            ));
            if before.is_some() {
                let (old, old_again) = (best(&old), best(&old_again));
                report.push(format!(
                    "before    import --registry: {:.2} s, ratio to skopeo copy {:.2}; second import {:.2} s; peak RSS {:.1} MiB",
                    old.seconds,
                    copy.seconds / old.seconds,
                    old_again.seconds,
                    old.max_rss_kib as f64 / 1024.0
                ));
            }
            std::fs::remove_dir_all(d.join("sync")).unwrap();
        }

        if part("containerd") {
            run(Command::new("tar")
                .arg("-C")
                .arg(d.join("images"))
                .args(["-cf"])
                .arg(d.join("oci.tar"))
                .arg("."));
            std::fs::remove_dir_all(d.join("images")).unwrap();
            run(Command::new("cat").arg(d.join("oci.tar")).stdout(Stdio::null()));
            let (mut mb, mut ctr, mut again, mut one) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            let image = refs[0].0.clone();
            for _ in 0..runs.max(1) {
                // -j 1 first: one ctr streams and unpacks, as before unpacking went side by side.
                {
                    let c = Containerd::start(true);
                    let sock = c.socket.display().to_string();
                    one.push(timed(
                        d,
                        &format!("{bin} import site.mbundle --quiet -j 1 --containerd {sock}"),
                    ));
                    let o = c.ctr(&["-n", "k8s.io", "run", "--rm", &image, "bench-run", "/true"]);
                    assert!(
                        o.status.success(),
                        "ctr run after import -j 1: {}",
                        String::from_utf8_lossy(&o.stderr)
                    );
                }
                for ours in [true, false] {
                    let c = Containerd::start(true);
                    let sock = c.socket.display().to_string();
                    let r = if ours {
                        let r = timed(d, &format!("{bin} import site.mbundle --quiet --containerd {sock}"));
                        // Again, into the containerd that has every image now.
                        again.push(timed(
                            d,
                            &format!("{bin} import site.mbundle --quiet --containerd {sock}"),
                        ));
                        r
                    } else {
                        timed(d, &format!("ctr -a {sock} -n k8s.io images import oci.tar >/dev/null"))
                    };
                    // Usable afterwards, with no network: containerd runs in a namespace of its own.
                    let o = c.ctr(&["-n", "k8s.io", "run", "--rm", &image, "bench-run", "/true"]);
                    assert!(
                        o.status.success(),
                        "ctr run after {}: {}",
                        if ours { "import" } else { "ctr import" },
                        String::from_utf8_lossy(&o.stderr)
                    );
                    if ours { mb.push(r) } else { ctr.push(r) }
                }
            }
            let (mb, ctr) = (best(&mb), best(&ctr));
            report.push(format!(
                "containerd import --containerd: {:.2} s (every entry written verified); ctr images import of an oci-archive: {:.2} s; ratio {:.2} (goal > 1); ctr run works after both",
                mb.seconds,
                ctr.seconds,
                ctr.seconds / mb.seconds
            ));
            let one = best(&one);
            report.push(format!(
                "containerd import -j 1 (one ctr streams and unpacks): {:.2} s; ratio to ctr {:.2}",
                one.seconds,
                ctr.seconds / one.seconds
            ));
            let again = best(&again);
            report.push(format!(
                "containerd second import of the same bundle: {:.2} s for {n_images} images, {:.2} s per hundred",
                again.seconds,
                again.seconds * 100.0 / n_images as f64
            ));
            report.push(format!(
                "memory    import --containerd {:.1} MiB peak RSS",
                mb.max_rss_kib as f64 / 1024.0
            ));
        }
    }

    if part("lock") {
        let site = common::example("production");
        let up = common::site::serve(&site);
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::copy(
            common::repo().join("core/examples/production.yaml"),
            d.join("site.yaml"),
        )
        .unwrap();
        // The registry and the file server a network round trip away
        // (LOCK_RTT_MS, default 20), each behind a proxy that waits that long
        // before every answer: on 127.0.0.1 they answer in about a
        // millisecond, which leaves concurrency nothing to hide.
        let rtt = env_u64("LOCK_RTT_MS", 20).to_string();
        let files_host = up.files.url.trim_start_matches("http://").to_string();
        let reg_proxy = FaultProxy::start(&up.registry.host, &["--delay", &rtt]);
        let files_proxy = FaultProxy::start(&files_host, &["--delay", &rtt]);
        let flags = up
            .flags
            .iter()
            .map(|f| {
                f.replace(&up.registry.host, &reg_proxy.host)
                    .replace(&files_host, &files_proxy.host)
            })
            .collect::<Vec<_>>()
            .join(" ");
        let (mut par, mut seq, mut old) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..runs.max(1) {
            if let Some(b) = &before {
                old.push(timed(
                    d,
                    &format!("rm -rf cache-b && {b} lock site.yaml --quiet --cache cache-b -o old-{i}.lock {flags}"),
                ));
            }
            // An empty cache each time: every file is fetched.
            par.push(timed(
                d,
                &format!("rm -rf cache-p && {bin} lock site.yaml --quiet --cache cache-p -o par-{i}.lock {flags}"),
            ));
            seq.push(timed(
                d,
                &format!("rm -rf cache-s && {bin} lock site.yaml --quiet --cache cache-s -j 1 -o seq-{i}.lock {flags}"),
            ));
        }
        let first = std::fs::read(d.join("par-0.lock")).unwrap();
        for i in 0..runs.max(1) {
            assert_eq!(
                std::fs::read(d.join(format!("par-{i}.lock"))).unwrap(),
                first,
                "the same lock bytes every time"
            );
            assert_eq!(
                std::fs::read(d.join(format!("seq-{i}.lock"))).unwrap(),
                first,
                "the same lock bytes one at a time"
            );
        }
        if before.is_some() {
            report.push(format!("before    lock: {:.2} s", best(&old).seconds));
        }
        let needs = meshbundle_core::catalog::needs(&site).unwrap();
        let (par, seq) = (best(&par), best(&seq));
        report.push(format!(
            "lock      production spec ({} images, {} files), {rtt} ms from the registry and file server: {:.2} s (-j 8); one at a time (-j 1): {:.2} s; ratio {:.2}; same lock bytes",
            needs.images.len(),
            needs.files.len(),
            par.seconds,
            seq.seconds,
            seq.seconds / par.seconds
        ));
    }

    println!("\nmeshbundle import benchmark on {}", machine());
    println!(
        "  load average before {load_before}, after {}; page cache warm (inputs read once before), sync before each timed command, best of {runs}",
        loadavg()
    );
    for line in report {
        println!("  {line}");
    }
}
