//! Real parts for the image tests: Debian's `docker-registry` on 127.0.0.1,
//! fixture images made with umoci and pushed with skopeo, a misbehaving proxy,
//! a static file server, and a private containerd.
#![allow(dead_code)]

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_for(url: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let o = Command::new("python3")
            .args([
                "-c",
                "import sys,urllib.request\ntry:\n urllib.request.urlopen(sys.argv[1], timeout=1)\nexcept urllib.error.HTTPError: pass\n",
            ])
            .arg(url)
            .output()
            .unwrap();
        if o.status.success() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what} did not start ({url})");
}

pub fn run(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        o.status.success(),
        "{cmd:?}:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `docker-registry serve` with a config of its own on 127.0.0.1.
pub struct TestRegistry {
    pub host: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl TestRegistry {
    pub fn start(basic_auth: Option<(&str, &str)>) -> TestRegistry {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        if let Some((user, pass)) = basic_auth {
            let htpasswd = dir.path().join("htpasswd");
            let out = run(Command::new("htpasswd").args(["-Bbn", user, pass]));
            std::fs::write(&htpasswd, out).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        let cfg = dir.path().join("config.yml");
        std::fs::write(&cfg, config).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry (apt-get install docker-registry)");
        let host = format!("127.0.0.1:{port}");
        wait_for(&format!("http://{host}/v2/"), "docker-registry");
        TestRegistry { host, child, _dir: dir }
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The misbehaving proxy of `tests/tools/fault_proxy.py`.
pub struct FaultProxy {
    pub host: String,
    pub log: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl FaultProxy {
    pub fn start(upstream: &str, args: &[&str]) -> FaultProxy {
        let dir = tempfile::tempdir().unwrap();
        let port_file = dir.path().join("port");
        let log = dir.path().join("requests.log");
        let child = Command::new("python3")
            .arg(crate::common::repo().join("tests/tools/fault_proxy.py"))
            .args(["--upstream", &format!("http://{upstream}"), "--port-file"])
            .arg(&port_file)
            .arg("--log")
            .arg(&log)
            .args(args)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !port_file.exists() {
            assert!(Instant::now() < deadline, "the proxy did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let port = std::fs::read_to_string(&port_file).unwrap();
        FaultProxy {
            host: format!("127.0.0.1:{}", port.trim()),
            log,
            child,
            _dir: dir,
        }
    }

    /// Every request as `METHOD PATH STATUS`, in order.
    pub fn requests(&self) -> Vec<String> {
        self.entries()
            .iter()
            .map(|r| format!("{} {} {}", r.method, r.path, r.status))
            .collect()
    }

    /// Every request with what the proxy noted of it, in order.
    pub fn entries(&self) -> Vec<ProxyRequest> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(ProxyRequest::parse)
            .collect()
    }
}

/// One line of the proxy's log.
#[derive(Debug, Clone)]
pub struct ProxyRequest {
    /// When the request came in, in seconds since the epoch (the proxy's clock).
    pub time: f64,
    pub method: String,
    pub path: String,
    pub status: u16,
    /// The Range header the client sent.
    pub range: Option<String>,
    /// Body bytes the proxy sent.
    pub sent: u64,
    /// The Retry-After header the proxy sent.
    pub retry_after: Option<String>,
}

impl ProxyRequest {
    fn parse(line: &str) -> ProxyRequest {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 7, "a proxy log line: {line:?}");
        let opt = |s: &str| (s != "-").then(|| s.to_string());
        ProxyRequest {
            time: f[0].parse().unwrap(),
            method: f[1].into(),
            path: f[2].into(),
            status: f[3].parse().unwrap(),
            range: opt(f[4]),
            sent: f[5].parse().unwrap(),
            retry_after: opt(f[6]),
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `python3 -m http.server` over a directory, on 127.0.0.1.
pub struct FileServer {
    pub url: String,
    child: Child,
}

impl FileServer {
    pub fn start(dir: &Path) -> FileServer {
        let port = free_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
                "--directory",
            ])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        wait_for(&format!("{url}/"), "the file server");
        FileServer { url, child }
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Makes a one-manifest image with umoci: each file goes in its own layer.
pub fn umoci_image(layout: &Path, tag: &str, layers: &[Vec<(&str, Vec<u8>)>]) {
    if !layout.join("oci-layout").exists() {
        run(Command::new("umoci").args(["init", "--layout"]).arg(layout));
    }
    let image = format!("{}:{tag}", layout.display());
    run(Command::new("umoci").args(["new", "--image", &image]));
    for files in layers {
        let bundle = tempfile::tempdir().unwrap();
        let b = bundle.path().join("b");
        run(Command::new("umoci").args(["unpack", "--image", &image]).arg(&b));
        for (path, content) in files {
            let p = b.join("rootfs").join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, content).unwrap();
        }
        run(Command::new("umoci").args(["repack", "--image", &image]).arg(&b));
    }
    run(Command::new("umoci").args(["config", "--image", &image, "--config.cmd", "/bin/true"]));
}

/// `skopeo copy` from an OCI layout to a registry.
pub fn push(layout: &Path, tag: &str, dest: &str, creds: Option<(&str, &str)>) {
    let mut cmd = Command::new("skopeo");
    cmd.args(["copy", "--quiet", "--all", "--dest-tls-verify=false"]);
    if let Some((u, p)) = creds {
        cmd.arg(format!("--dest-creds={u}:{p}"));
    }
    cmd.arg(format!("oci:{}:{tag}", layout.display()))
        .arg(format!("docker://{dest}"));
    run(&mut cmd);
}

/// The digest `skopeo inspect` reports for a reference.
pub fn skopeo_digest(reference: &str, creds: Option<(&str, &str)>) -> String {
    let mut cmd = Command::new("skopeo");
    cmd.args(["inspect", "--tls-verify=false", "--raw"]);
    if let Some((u, p)) = creds {
        cmd.arg(format!("--creds={u}:{p}"));
    }
    cmd.arg(format!("docker://{reference}"));
    let raw = cmd.output().unwrap();
    assert!(
        raw.status.success(),
        "skopeo inspect {reference}: {}",
        String::from_utf8_lossy(&raw.stderr)
    );
    let mut cmd = Command::new("skopeo");
    cmd.args(["inspect", "--tls-verify=false", "--format", "{{.Digest}}"]);
    if let Some((u, p)) = creds {
        cmd.arg(format!("--creds={u}:{p}"));
    }
    cmd.arg(format!("docker://{reference}"));
    run(&mut cmd).trim().to_string()
}

/// A tar.gz layer holding one file, built in process.
pub fn layer(path: &str, content: &[u8]) -> (Vec<u8>, String) {
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_size(content.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut h, path, content).unwrap();
    let raw = tar.into_inner().unwrap();
    let diff_id = format!("sha256:{}", hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&raw)));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw).unwrap();
    (gz.finish().unwrap(), diff_id)
}

fn put_blob(layout: &Path, bytes: &[u8]) -> (String, usize) {
    let digest = format!("sha256:{}", hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes)));
    let p = layout.join("blobs/sha256").join(digest.trim_start_matches("sha256:"));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
    (digest, bytes.len())
}

/// An OCI layout holding one multi-platform image (linux/amd64 and
/// linux/arm64) under `tag`, each platform with its own small layer.
pub fn multiarch_layout(layout: &Path, tag: &str, seed: &str) {
    std::fs::create_dir_all(layout).unwrap();
    std::fs::write(layout.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let mut entries = Vec::new();
    for arch in ["amd64", "arm64"] {
        let (gz, diff_id) = layer(&format!("etc/{arch}"), format!("{seed} {arch}").as_bytes());
        let (ld, ls) = put_blob(layout, &gz);
        let config = serde_json::json!({"architecture": arch, "os": "linux", "config": {}, "rootfs": {"type": "layers", "diff_ids": [diff_id]}});
        let (cd, cs) = put_blob(layout, &serde_json::to_vec(&config).unwrap());
        let manifest = serde_json::json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ld, "size": ls}],
        });
        let (md, ms) = put_blob(layout, &serde_json::to_vec(&manifest).unwrap());
        entries.push(
            serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms,
            "platform": {"os": "linux", "architecture": arch}}),
        );
    }
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries});
    let (idx, is) = put_blob(layout, &serde_json::to_vec(&index).unwrap());
    let top = serde_json::json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json",
        "digest": idx, "size": is, "annotations": {"org.opencontainers.image.ref.name": tag}}]});
    std::fs::write(layout.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
}

/// A containerd of its own (config, root, state and socket under a temp dir).
pub struct Containerd {
    pub socket: PathBuf,
    child: Child,
    pub dir: tempfile::TempDir,
}

impl Containerd {
    /// Starts containerd, inside `netns` (`unshare -n`) when asked.
    pub fn start(no_network: bool) -> Containerd {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let socket = d.join("containerd.sock");
        let config = format!(
            "version = 2\nroot = \"{root}\"\nstate = \"{state}\"\n[grpc]\n  address = \"{sock}\"\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  disable_tcp_service = true\n",
            root = d.join("root").display(),
            state = d.join("state").display(),
            sock = socket.display()
        );
        std::fs::write(d.join("config.toml"), config).unwrap();
        let mut cmd = if no_network {
            let mut c = Command::new("unshare");
            c.args(["-n", "containerd"]);
            c
        } else {
            Command::new("containerd")
        };
        let child = cmd
            .arg("--config")
            .arg(d.join("config.toml"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("containerd.log")).unwrap())
            .spawn()
            .expect("containerd (apt-get install containerd)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !socket.exists() {
            assert!(
                Instant::now() < deadline,
                "containerd did not start: {}",
                std::fs::read_to_string(d.join("containerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Containerd { socket, child, dir }
    }

    pub fn ctr(&self, args: &[&str]) -> std::process::Output {
        Command::new("ctr")
            .arg("-a")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap()
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Unmount whatever the snapshotter left, so the temp dir can go.
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "grep -o ' {}[^ ]*' /proc/mounts | xargs -r -n1 umount -l",
                self.dir.path().display()
            ))
            .status();
    }
}
