//! A whole site's upstream, served on 127.0.0.1: every image the site needs
//! pushed (small, made here) to a real `docker-registry`, and every file
//! with its publisher's checksum file on a static file server, so `lock`,
//! `build` and `import` run against real servers with `--mirror` flags.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use meshbundle_core::catalog::needs;
use meshbundle_core::spec::Site;

use super::registry::{FileServer, TestRegistry, layer, multiarch_layout, push};

pub struct SiteUpstream {
    pub registry: TestRegistry,
    pub files: FileServer,
    /// `--mirror` and `--insecure` flags that send lock and build here.
    pub flags: Vec<String>,
    pub dir: tempfile::TempDir,
}

fn single_layout(layout: &Path, tag: &str, seed: &str) {
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    std::fs::write(layout.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let put = |bytes: &[u8]| {
        let d = format!("sha256:{}", hex::encode(<sha2::Sha256 as sha2::Digest>::digest(bytes)));
        std::fs::write(layout.join("blobs/sha256").join(d.trim_start_matches("sha256:")), bytes).unwrap();
        (d, bytes.len())
    };
    // A layer shared by every image, and one of its own.
    let (shared, shared_diff) = layer("etc/meshbundle-fixture", b"shared base layer of the fixture images\n");
    let (own, own_diff) = layer("etc/image", seed.as_bytes());
    let (sd, ss) = put(&shared);
    let (od, os) = put(&own);
    let config = serde_json::json!({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": [shared_diff, own_diff]}});
    let (cd, cs) = put(&serde_json::to_vec(&config).unwrap());
    let manifest = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
        "layers": [
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sd, "size": ss},
            {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": od, "size": os}]});
    let (md, ms) = put(&serde_json::to_vec(&manifest).unwrap());
    let index = serde_json::json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": md, "size": ms, "annotations": {"org.opencontainers.image.ref.name": tag}}]});
    std::fs::write(layout.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

/// Serves everything `site` needs. Istio's proxyv2 is multi-platform, the rest single.
pub fn serve(site: &Site) -> SiteUpstream {
    let registry = TestRegistry::start(None);
    let dir = tempfile::tempdir().unwrap();
    let n = needs(site).unwrap();
    let mut upstream_registries = std::collections::BTreeSet::new();
    for img in &n.images {
        let r = &img.upstream;
        upstream_registries.insert(r.registry.clone());
        let layout = dir.path().join("layouts").join(r.repository.replace('/', "_"));
        let tag = r.tag.clone().unwrap();
        if r.repository.ends_with("proxyv2") {
            multiarch_layout(&layout, &tag, &r.tagged());
        } else {
            single_layout(&layout, &tag, &r.tagged());
        }
        push(
            &layout,
            &tag,
            &format!("{}/{}:{tag}", registry.host, r.repository),
            None,
        );
    }
    let root = dir.path().join("www");
    let mut url_hosts = std::collections::BTreeSet::new();
    for f in &n.files {
        let local = |url: &str| -> PathBuf {
            let rest = url.split_once("://").map(|x| x.1).unwrap_or(url);
            root.join(rest)
        };
        let host = f
            .url
            .split("://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .unwrap_or_default();
        url_hosts.insert(format!("https://{host}"));
        let content: Vec<u8> = match f.copy {
            Some(bytes) if !bytes.is_empty() => bytes.to_vec(),
            // Of its URL too: another release of a file is another file.
            _ => format!("fixture content of {} from {}\n", f.name, f.url).into_bytes(),
        };
        let p = local(&f.url);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, &content).unwrap();
        if let Some(sum) = &f.checksum_url {
            let hex = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&content));
            let fname = f.url.rsplit('/').next().unwrap();
            let p = local(sum);
            // Bare hashes for .sha256, `hash  name` lines for .sha256sum (runc's lists every architecture).
            let mut text = if sum.ends_with(".sha256") {
                format!("{hex}\n")
            } else {
                format!("{hex}  {fname}\n")
            };
            if fname.starts_with("runc.") && p.exists() {
                text = format!("{}{text}", std::fs::read_to_string(&p).unwrap());
            }
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
    }
    let files = FileServer::start(&root);
    let mut flags = Vec::new();
    for r in upstream_registries {
        flags.push(format!("--mirror={r}={}", registry.host));
    }
    for h in url_hosts {
        let bare = h.trim_start_matches("https://");
        flags.push(format!("--mirror={h}={}/{bare}", files.url));
    }
    flags.push(format!("--insecure={}", registry.host));
    SiteUpstream {
        registry,
        files,
        flags,
        dir,
    }
}
