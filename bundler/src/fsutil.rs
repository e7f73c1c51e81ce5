//! File helpers: read with a size limit, read a private key file (refused when
//! others can read it), write atomically (a temporary file in the same
//! directory, then a rename), make directories with an explicit mode whatever
//! the umask, and find and remove what a killed run left behind.
//!
//! Temporary files and directories of a run are named
//! `PREFIX<pid>-<random>` and held under an exclusive `flock` for as long as
//! the run uses them. A later run removes one only when both say its owner is
//! gone: no process has that pid, and the lock can be taken.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Whether a path names standard input or output (`-`).
pub fn is_stdio(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Reads a file (`-`: standard input), refusing more than `limit` bytes
/// without reading them all.
pub fn read_limited(path: &Path, limit: usize) -> Result<Vec<u8>> {
    if is_stdio(path) {
        let mut buf = Vec::new();
        std::io::stdin()
            .lock()
            .take(limit as u64 + 1)
            .read_to_end(&mut buf)
            .map_err(|e| Error::io("standard input", e))?;
        return Ok(buf);
    }
    let f = fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let meta = f.metadata().map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return Err(Error::failed(
            format!("{} is a directory", path.display()),
            "give the path of a file",
        ));
    }
    let mut buf = Vec::new();
    f.take(limit as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io(path, e))?;
    Ok(buf)
}

/// Reads a file that holds a secret (`what`: "private keys", "a passphrase",
/// ...), refusing it when its group or others may read or write it. The mode
/// is checked on the opened file, so the file read is the file checked.
pub fn read_private(path: &Path, limit: usize, what: &str) -> Result<Vec<u8>> {
    let f = fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let meta = f.metadata().map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return Err(Error::failed(
            format!("{} is a directory", path.display()),
            "give the path of a file",
        ));
    }
    check_private_mode(path, &meta, what)?;
    let mut buf = Vec::new();
    f.take(limit as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io(path, e))?;
    if buf.len() > limit {
        return Err(Error::failed(
            format!("{} is larger than {limit} bytes", path.display()),
            format!("give the file that holds {what}"),
        ));
    }
    Ok(buf)
}

/// Reads a private file as text (see `read_private`).
pub fn read_private_text(path: &Path, limit: usize, what: &str) -> Result<String> {
    String::from_utf8(read_private(path, limit, what)?).map_err(|_| {
        Error::failed(
            format!("{} is not a text file", path.display()),
            format!("give the file that holds {what}"),
        )
    })
}

#[cfg(unix)]
fn check_private_mode(path: &Path, meta: &fs::Metadata, what: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Error::failed(
            format!(
                "{} holds {what} but its mode is {mode:04o}: {}",
                path.display(),
                if mode & 0o044 != 0 {
                    "others can read it"
                } else {
                    "others can change it"
                }
            ),
            format!("chmod 600 {}", path.display()),
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private_mode(_path: &Path, _meta: &fs::Metadata, _what: &str) -> Result<()> {
    Ok(())
}

/// The effective user id of this process: "the caller" of the ownership rules.
pub fn euid() -> u32 {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}

/// Why a file or directory another user could change is not to be relied
/// on: owned by a user other than root or the caller, or writable by its
/// group or others. `None` when it is sound.
pub fn others_could_change(meta: &fs::Metadata) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let uid = meta.uid();
    if uid != 0 && uid != euid() {
        return Some(format!("owned by user {uid}, not root or you"));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o002 != 0 {
        return Some(format!("writable by anyone (mode {mode:04o})"));
    }
    if mode & 0o020 != 0 {
        return Some(format!("writable by its group (mode {mode:04o})"));
    }
    None
}

/// Whether a directory is sticky (`chmod +t`, like /tmp): others may add
/// entries to it but not rename or remove the ones they do not own.
pub fn is_sticky(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    meta.mode() & 0o1000 != 0
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// The prefix of `write_atomic`'s temporary files.
pub const WRITE_PREFIX: &str = ".meshbundle-write-";

/// Writes `bytes` to `path` atomically with the given Unix mode. Directories
/// it has to make are 0755, or 0700 for a private (0600) file.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    // `-`: standard output, for what holds no secret (commands::stdio refuses the rest first).
    if is_stdio(path) {
        if mode & 0o077 == 0 {
            return Err(Error::Usage(
                "a private file is never written to standard output: give a file".into(),
            ));
        }
        let mut out = std::io::stdout().lock();
        return out
            .write_all(bytes)
            .and_then(|()| out.flush())
            .map_err(|e| Error::io("standard output", e));
    }
    let dir = parent_of(path);
    create_dir_all(dir, if mode & 0o077 == 0 { 0o700 } else { 0o755 })?;
    report_leftovers(&remove_leftovers(dir, WRITE_PREFIX));
    let mut tmp = temp_file_in(dir, WRITE_PREFIX)?;
    tmp.as_file()
        .set_permissions(permissions(mode))
        .map_err(|e| Error::io(tmp.path(), e))?;
    tmp.write_all(bytes).map_err(|e| Error::io(tmp.path(), e))?;
    tmp.as_file().sync_all().map_err(|e| Error::io(tmp.path(), e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

#[cfg(unix)]
pub fn permissions(mode: u32) -> fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    fs::Permissions::from_mode(mode)
}

#[cfg(unix)]
pub fn set_mode(path: &Path, mode: u32) -> Result<()> {
    fs::set_permissions(path, permissions(mode)).map_err(|e| Error::io(path, e))
}

#[cfg(not(unix))]
pub fn set_mode(_path: &Path, _mode: u32) -> Result<()> {
    Ok(())
}

/// Creates (or truncates) a file with exactly `mode`, whatever the umask:
/// opened with it (the umask can only narrow it), then set on the open file.
pub fn create_file(path: &Path, mode: u32) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)?;
    f.set_permissions(permissions(mode))?;
    Ok(f)
}

/// Makes one directory, with exactly `mode` whatever the umask: created 0700
/// (never wider than meant), then set to `mode`.
pub fn create_dir(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .mode(0o700)
        .create(path)
        .map_err(|e| Error::io(path, e))?;
    set_mode(path, mode)
}

/// Makes `path` and the directories above it that are missing, each with
/// exactly `mode` whatever the umask; existing directories are left alone.
pub fn create_dir_all(path: &Path, mode: u32) -> Result<()> {
    let mut missing = Vec::new();
    let mut p = path;
    loop {
        match fs::symlink_metadata(p) {
            Ok(m) if m.is_dir() => break,
            Ok(_) => match fs::metadata(p) {
                Ok(m) if m.is_dir() => break,
                _ => {
                    return Err(Error::failed(
                        format!("{} is not a directory", p.display()),
                        "give a path under a directory",
                    ));
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => missing.push(p.to_path_buf()),
            Err(e) => return Err(Error::io(p, e)),
        }
        match p.parent() {
            Some(up) if !up.as_os_str().is_empty() => p = up,
            _ => break,
        }
    }
    for dir in missing.iter().rev() {
        match create_dir(dir, mode) {
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => {}
            other => other?,
        }
    }
    Ok(())
}

/// The modes of the directories of a laid-out tree: 0700 for `secrets/` and
/// everything under it, and for any directory holding a private (0600) file;
/// 0755 for the rest.
#[derive(Debug, Default)]
pub struct DirModes {
    private: std::collections::BTreeSet<String>,
}

impl DirModes {
    /// From the files of the tree, as (relative path, mode).
    pub fn of<'a>(files: impl IntoIterator<Item = (&'a str, u32)>) -> DirModes {
        let mut private = std::collections::BTreeSet::new();
        for (path, mode) in files {
            if mode & 0o077 == 0
                && let Some((dir, _)) = path.rsplit_once('/')
            {
                private.insert(dir.to_string());
            }
        }
        DirModes { private }
    }

    /// The mode of the directory at `rel` (relative, `/`-separated).
    pub fn mode(&self, rel: &str) -> u32 {
        if rel == "secrets" || rel.starts_with("secrets/") || self.private.contains(rel) {
            0o700
        } else {
            0o755
        }
    }

    /// Makes the directories of `rel_file` (a file's relative path) under
    /// `root`, each with its mode.
    pub fn create_parents(&self, root: &Path, rel_file: &str) -> Result<()> {
        let Some((dir, _)) = rel_file.rsplit_once('/') else {
            return Ok(());
        };
        let mut at = String::new();
        for part in dir.split('/') {
            if !at.is_empty() {
                at.push('/');
            }
            at.push_str(part);
            let p = root.join(&at);
            match fs::symlink_metadata(&p) {
                Ok(m) if m.is_dir() => continue,
                Ok(_) => {
                    return Err(Error::failed(
                        format!("{} is in the way of a directory", p.display()),
                        "the bundle is damaged",
                    ));
                }
                Err(_) => create_dir(&p, self.mode(&at))?,
            }
        }
        Ok(())
    }
}

/// Refuses to overwrite an existing file unless `force`.
pub fn check_overwrite(path: &Path, force: bool) -> Result<()> {
    if !force && !is_stdio(path) && path.exists() {
        return Err(Error::failed(
            format!("{} already exists", path.display()),
            "pass --force to overwrite it, or choose another path with -o",
        ));
    }
    Ok(())
}

/// Takes an exclusive `flock` on an open file or directory without waiting;
/// false when another holds it.
pub fn try_lock(f: &fs::File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: a plain system call on a file descriptor `f` owns.
    unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

/// The prefix of a run's temporary names: `PREFIX<pid>-`.
pub fn run_prefix(prefix: &str) -> String {
    format!("{prefix}{}-", std::process::id())
}

/// A temporary file in `dir` named `PREFIX<pid>-…`, locked while it lives.
pub fn temp_file_in(dir: &Path, prefix: &str) -> Result<tempfile::NamedTempFile> {
    let tmp = tempfile::Builder::new()
        .prefix(&run_prefix(prefix))
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    try_lock(tmp.as_file());
    Ok(tmp)
}

/// A temporary directory in `dir` named `PREFIX<pid>-…`, and the open
/// directory holding its lock (keep it as long as the directory is in use).
pub fn temp_dir_in(dir: &Path, prefix: &str) -> Result<(tempfile::TempDir, fs::File)> {
    let tmp = tempfile::Builder::new()
        .prefix(&run_prefix(prefix))
        .tempdir_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    let lock = fs::File::open(tmp.path()).map_err(|e| Error::io(tmp.path(), e))?;
    try_lock(&lock);
    Ok((tmp, lock))
}

fn alive(pid: i32) -> bool {
    if pid <= 0 || pid as u32 == std::process::id() {
        return false;
    }
    // SAFETY: signal 0 only asks whether the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Removes from `dir` the files and directories named `PREFIX<pid>-…` that a
/// run which is gone left behind (see the module comment); returns what was
/// removed. Ones of a run still going are left alone.
pub fn remove_leftovers(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let Ok(list) = fs::read_dir(dir) else {
        return removed;
    };
    for e in list.flatten() {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(prefix)) else {
            continue;
        };
        let Some(pid) = rest.split_once('-').and_then(|(p, _)| p.parse::<i32>().ok()) else {
            continue;
        };
        if alive(pid) {
            continue;
        }
        let path = e.path();
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.file_type().is_symlink() {
            continue;
        }
        let Ok(f) = fs::File::open(&path) else {
            continue;
        };
        if !try_lock(&f) {
            continue;
        }
        let gone = if meta.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        if gone.is_ok() {
            removed.push(path);
        }
    }
    removed
}

/// Says what `remove_leftovers` removed.
pub fn report_leftovers(removed: &[PathBuf]) {
    for p in removed {
        eprintln!(
            "note: removed {}, left behind by an interrupted meshbundle run",
            p.display()
        );
    }
}

/// A pause for tests: when `MESHBUNDLE_TEST_PAUSE` names `point`, says so on
/// stderr and waits for a line on stdin, so a test can kill the process at
/// exactly this point (or change a file and let it go on).
pub fn test_pause(point: &str) {
    if std::env::var_os("MESHBUNDLE_TEST_PAUSE").is_some_and(|p| p == point) {
        eprintln!("meshbundle: paused at {point}");
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
    }
}
