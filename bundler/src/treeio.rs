//! Writing a rendered file tree to a directory: everything goes into a
//! temporary directory beside the target, which then replaces it in one
//! rename. Every directory and file gets its mode explicitly, whatever the
//! umask: 0700 for `secrets/` and directories holding private files, 0755 for
//! the rest; files are created with their final mode.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use meshbundle_core::tree::FileTree;

use crate::error::{Error, Result};
use crate::fsutil;

const STAGE_PREFIX: &str = ".meshbundle-render-";
const OLD_PREFIX: &str = ".meshbundle-old-";

pub fn write_tree(tree: &FileTree, dir: &Path, force: bool) -> Result<()> {
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut removed = fsutil::remove_leftovers(parent, STAGE_PREFIX);
    removed.extend(fsutil::remove_leftovers(parent, OLD_PREFIX));
    fsutil::report_leftovers(&removed);
    if dir.exists() {
        let empty = fs::read_dir(dir).map_err(|e| Error::io(dir, e))?.next().is_none();
        if !empty && !force {
            return Err(Error::failed(
                format!("{} exists and is not empty", dir.display()),
                "pass --force to replace it, or choose another directory with -o",
            ));
        }
    }
    fsutil::create_dir_all(parent, 0o755)?;
    let (tmp, _lock) = fsutil::temp_dir_in(parent, STAGE_PREFIX)?;
    let dirs = fsutil::DirModes::of(tree.iter().map(|(path, f)| (path, f.mode)));
    for (path, file) in tree.iter() {
        dirs.create_parents(tmp.path(), path)?;
        let dest = tmp.path().join(path);
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(file.mode)
            .open(&dest)
            .map_err(|e| Error::io(&dest, e))?;
        f.set_permissions(fsutil::permissions(file.mode))
            .map_err(|e| Error::io(&dest, e))?;
        f.write_all(&file.bytes).map_err(|e| Error::io(&dest, e))?;
    }
    fsutil::set_mode(tmp.path(), 0o755)?;
    fsutil::test_pause("render");
    if dir.exists() {
        let old = parent.join(format!("{}render", fsutil::run_prefix(OLD_PREFIX)));
        fs::rename(dir, &old).map_err(|e| Error::io(dir, e))?;
        if let Err(e) = fs::rename(tmp.path(), dir) {
            let _ = fs::rename(&old, dir);
            return Err(Error::io(dir, e));
        }
        let _ = tmp.keep();
        fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
    } else {
        fs::rename(tmp.path(), dir).map_err(|e| Error::io(dir, e))?;
        let _ = tmp.keep();
    }
    Ok(())
}
