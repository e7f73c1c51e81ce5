//! Computes the source id: a sha256 over every source file that goes into
//! the `meshbundle` binary (core, bundler, the image catalog and the locked
//! dependency set). `meshbundle --version` prints it, and `build` carries a
//! static binary only when it was built from the same sources.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = manifest.parent().map(Path::to_path_buf).unwrap_or_default();
    let inputs = [
        "Cargo.toml",
        "Cargo.lock",
        "core",
        "images",
        "bundler/src",
        "bundler/Cargo.toml",
        "bundler/build.rs",
    ];
    let mut files = Vec::new();
    for i in inputs {
        let p = root.join(i);
        println!("cargo:rerun-if-changed={}", p.display());
        if p.is_dir() {
            walk(&p, &mut files);
        } else {
            files.push(p);
        }
    }
    files.sort();
    let mut h = Sha256::new();
    for f in &files {
        let rel = f.strip_prefix(&root).unwrap_or(f);
        let bytes = std::fs::read(f).unwrap_or_default();
        h.update(rel.to_string_lossy().as_bytes());
        h.update([0]);
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    let id = hex::encode(h.finalize());
    println!("cargo:rustc-env=MESHBUNDLE_SOURCE_ID={}", &id[..16]);
    web_dist(&root);
}

/// `meshbundle ui` serves the configurator from the binary: every file of
/// `web/dist/` (which `web/build.sh` makes) is embedded, in path order, when
/// `web/dist/index.html` exists at build time; otherwise none is, and `ui`
/// says how to build it. The rule depends on that directory alone.
fn web_dist(root: &Path) {
    let dist = root.join("web/dist");
    // A path that does not exist would rerun this script on every build:
    // without web/dist, watch web/ for it to appear.
    let watched = if dist.is_dir() { dist.clone() } else { root.join("web") };
    println!("cargo:rerun-if-changed={}", watched.display());
    let mut files = Vec::new();
    if dist.join("index.html").is_file() {
        walk(&dist, &mut files);
    }
    files.sort();
    let mut out = String::from("&[\n");
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let rel = f.strip_prefix(&dist).unwrap_or(f).to_string_lossy().replace('\\', "/");
        out.push_str(&format!(
            "    ({rel:?}, include_bytes!({:?})),\n",
            f.display().to_string()
        ));
    }
    out.push(']');
    let dest = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("web_dist.rs");
    std::fs::write(dest, out).unwrap_or_else(|e| panic!("writing web_dist.rs: {e}"));
}
