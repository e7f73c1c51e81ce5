//! File helpers: read with a size limit, and write atomically (a temporary
//! file in the same directory, then a rename), so nothing is left half-written.

use std::fs;
use std::io::{Read, Write};
use std::path::Path;

use crate::error::{Error, Result};

/// Reads a file, refusing more than `limit` bytes without reading them all.
pub fn read_limited(path: &Path, limit: usize) -> Result<Vec<u8>> {
    let f = fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let meta = f.metadata().map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return Err(Error::failed(format!("{} is a directory", path.display()), "give the path of a file"));
    }
    let mut buf = Vec::new();
    f.take(limit as u64 + 1).read_to_end(&mut buf).map_err(|e| Error::io(path, e))?;
    Ok(buf)
}

/// Writes `bytes` to `path` atomically with the given Unix mode.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut tmp = tempfile::Builder::new().prefix(".meshbundle-").tempfile_in(dir).map_err(|e| Error::io(dir, e))?;
    set_mode(tmp.path(), mode)?;
    tmp.write_all(bytes).map_err(|e| Error::io(tmp.path(), e))?;
    tmp.as_file().sync_all().map_err(|e| Error::io(tmp.path(), e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

#[cfg(unix)]
pub fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(|e| Error::io(path, e))
}

#[cfg(not(unix))]
pub fn set_mode(_path: &Path, _mode: u32) -> Result<()> {
    Ok(())
}

/// Refuses to overwrite an existing file unless `force`.
pub fn check_overwrite(path: &Path, force: bool) -> Result<()> {
    if !force && path.exists() {
        return Err(Error::failed(
            format!("{} already exists", path.display()),
            "pass --force to overwrite it, or choose another path with -o",
        ));
    }
    Ok(())
}
