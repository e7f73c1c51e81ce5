//! A file tree as a reproducible `.tar.gz`: entries in path order, each
//! directory before its files, modes from the tree, mtime 0, uid and gid 0, no
//! user or host names. The same tree gives the same bytes in the CLI and in
//! the browser (one pure-Rust compressor, at a fixed level).

use std::collections::BTreeSet;
use std::io::Write;

use crate::tree::FileTree;

#[derive(Debug, thiserror::Error)]
#[error("cannot build the archive")]
pub struct ArchiveError(#[source] std::io::Error);

/// The tar formats meshbundle writes: GNU headers for bundles and
/// configuration archives, ustar for image layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderFormat {
    Gnu,
    Ustar,
}

/// A reproducible tar header, the one helper every archive meshbundle
/// writes uses: the given type, size, mode and mtime, uid and gid 0, no user
/// or group name. The path is set by whoever appends the entry.
pub fn header(format: HeaderFormat, kind: tar::EntryType, size: u64, mode: u32, mtime: u64) -> tar::Header {
    let mut h = match format {
        HeaderFormat::Gnu => tar::Header::new_gnu(),
        HeaderFormat::Ustar => tar::Header::new_ustar(),
    };
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(mtime);
    h.set_uid(0);
    h.set_gid(0);
    if format == HeaderFormat::Ustar {
        let _ = h.set_username("");
        let _ = h.set_groupname("");
    }
    h
}

/// `data` gzipped the one way meshbundle gzips: level 6 of the pure-Rust
/// compressor, mtime 0, no file name, operating system "unknown" (255), so
/// the CLI and the browser give the same bytes.
pub fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::with_capacity(data.len() / 2), flate2::Compression::new(6));
    gz.write_all(data)?;
    gz.finish()
}

/// The tree as an uncompressed tar, under `prefix/` when given.
pub fn tar(tree: &FileTree, prefix: &str) -> Result<Vec<u8>, ArchiveError> {
    let err = ArchiveError;
    let mut b = tar::Builder::new(Vec::new());
    let join = |p: &str| {
        if prefix.is_empty() {
            p.to_string()
        } else {
            format!("{prefix}/{p}")
        }
    };
    let mut dirs = BTreeSet::new();
    if !prefix.is_empty() {
        dirs.insert(prefix.to_string());
    }
    for path in tree.paths() {
        let full = join(path);
        let mut acc = String::new();
        for comp in full
            .split('/')
            .collect::<Vec<_>>()
            .split_last()
            .map(|x| x.1)
            .unwrap_or_default()
        {
            if !acc.is_empty() {
                acc.push('/');
            }
            acc.push_str(comp);
            dirs.insert(acc.clone());
        }
    }
    // Directories first (sorted, so parents come before children), then files.
    for d in &dirs {
        let mut h = header(HeaderFormat::Gnu, tar::EntryType::Directory, 0, 0o755, 0);
        b.append_data(&mut h, format!("{d}/"), std::io::empty()).map_err(err)?;
    }
    for (path, f) in tree.iter() {
        let mut h = header(
            HeaderFormat::Gnu,
            tar::EntryType::Regular,
            f.bytes.len() as u64,
            f.mode,
            0,
        );
        b.append_data(&mut h, join(path), f.bytes.as_slice()).map_err(err)?;
    }
    b.into_inner().map_err(err)
}

/// The tree as a `.tar.gz`.
pub fn tar_gz(tree: &FileTree, prefix: &str) -> Result<Vec<u8>, ArchiveError> {
    let raw = tar(tree, prefix)?;
    gzip(&raw).map_err(ArchiveError)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use crate::render::{Inputs, render};
    use crate::tree::{MODE_FILE, MODE_SECRET};

    /// What `meshbundle render --tar` writes and the browser offers for
    /// download: every file keeps its tree mode, so the join configurations
    /// and keys stay 0600.
    #[test]
    fn the_archive_keeps_private_files_private() {
        let site = crate::spec::load::load(crate::examples::example("production").unwrap())
            .site
            .unwrap();
        let secrets = crate::pki::parse_secrets(include_str!("../../tests/fixtures/production.secrets.yaml")).unwrap();
        let tree = render(
            &site,
            &Inputs {
                secrets: Some(&secrets),
                ..Default::default()
            },
        )
        .unwrap();
        let gz = tar_gz(&tree, "prod-site").unwrap();
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(gz.as_slice())
            .read_to_end(&mut raw)
            .unwrap();
        let mut archive = tar::Archive::new(raw.as_slice());
        let mut private = Vec::new();
        for e in archive.entries().unwrap() {
            let e = e.unwrap();
            let h = e.header();
            let path = e.path().unwrap().to_string_lossy().into_owned();
            let mode = h.mode().unwrap();
            if h.entry_type().is_dir() {
                assert_eq!(mode, 0o755, "{path}");
                continue;
            }
            let rel = path.strip_prefix("prod-site/").unwrap();
            assert_eq!(mode, tree.get(rel).unwrap().mode, "{rel}");
            if mode == MODE_SECRET {
                private.push(rel.to_string());
            }
        }
        for n in &site.spec.nodes {
            assert!(
                private.contains(&format!("nodes/{}/kubeadm.yaml", n.name)),
                "{private:?}"
            );
        }
        assert!(
            private.contains(&"secrets/kubernetes-pki/ca.key".to_string()),
            "{private:?}"
        );
        assert!(tree.iter().any(|(_, f)| f.mode == MODE_FILE));
    }
}
