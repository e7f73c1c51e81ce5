//! A rendered file tree: sorted paths, each with its bytes and Unix mode.
//! Its digest is the same wherever it is computed (CLI or browser).

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

/// Regular file, readable by everyone.
pub const MODE_FILE: u32 = 0o644;
/// Executable script.
pub const MODE_EXEC: u32 = 0o755;
/// Private key or other secret.
pub const MODE_SECRET: u32 = 0o600;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct File {
    #[serde(skip)]
    pub bytes: Vec<u8>,
    pub mode: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileTree {
    files: BTreeMap<String, File>,
}

impl FileTree {
    pub fn new() -> Self {
        FileTree::default()
    }

    /// Adds a file. Paths are relative, `/`-separated, without `.` or `..`.
    pub fn add(&mut self, path: impl Into<String>, bytes: impl Into<Vec<u8>>, mode: u32) {
        let path = path.into();
        debug_assert!(
            !path.starts_with('/') && !path.split('/').any(|c| c.is_empty() || c == "." || c == ".."),
            "bad tree path {path}"
        );
        self.files.insert(
            path,
            File {
                bytes: bytes.into(),
                mode,
            },
        );
    }

    pub fn get(&self, path: &str) -> Option<&File> {
        self.files.get(path)
    }

    pub fn contains(&self, path: &str) -> bool {
        self.files.contains_key(path)
    }

    /// Files in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &File)> {
        self.files.iter().map(|(p, f)| (p.as_str(), f))
    }

    /// The files, owned, in path order.
    pub fn into_files(self) -> impl Iterator<Item = (String, File)> {
        self.files.into_iter()
    }

    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    pub fn total_bytes(&self) -> u64 {
        self.files.values().map(|f| f.bytes.len() as u64).sum()
    }

    /// `sha256:` digest over every path, mode, size and content digest, in
    /// path order: two trees have the same digest exactly when they are equal.
    pub fn digest(&self) -> String {
        self.digest_with(|_, bytes| crate::digest::sha256(bytes))
    }

    /// [`FileTree::digest`], with `content(path, bytes)` giving the sha256 of
    /// each file's bytes (a caller may know it already).
    pub fn digest_with(&self, mut content: impl FnMut(&str, &[u8]) -> [u8; 32]) -> String {
        digest_of(
            self.files
                .iter()
                .map(|(path, f)| (path.as_str(), f.mode, f.bytes.len() as u64, content(path, &f.bytes))),
        )
    }
}

/// [`FileTree::digest`] from what it covers of each file, in path order:
/// `(path, mode, size, sha256 of the bytes)`. For a caller that has hashed
/// the files itself (the browser, with its own SHA-256).
pub fn digest_of<'a>(files: impl IntoIterator<Item = (&'a str, u32, u64, [u8; 32])>) -> String {
    let mut h = Sha256::new();
    for (path, mode, size, content) in files {
        h.update(format!("{} {mode:o} {size} {path}\n", hex::encode(content)).as_bytes());
    }
    crate::digest::Digest::from_raw(&h.finalize().into()).to_string()
}
