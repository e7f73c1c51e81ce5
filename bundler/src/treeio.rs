//! Writing a rendered file tree to a directory: everything goes into a
//! temporary directory beside the target, which then replaces it in one rename.

use std::fs;
use std::io::Write;
use std::path::Path;

use meshbundle_core::tree::FileTree;

use crate::error::{Error, Result};
use crate::fsutil;

pub fn write_tree(tree: &FileTree, dir: &Path, force: bool) -> Result<()> {
    if dir.exists() {
        let empty = fs::read_dir(dir).map_err(|e| Error::io(dir, e))?.next().is_none();
        if !empty && !force {
            return Err(Error::failed(
                format!("{} exists and is not empty", dir.display()),
                "pass --force to replace it, or choose another directory with -o",
            ));
        }
    }
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    let tmp = tempfile::Builder::new().prefix(".meshbundle-render-").tempdir_in(parent).map_err(|e| Error::io(parent, e))?;
    for (path, file) in tree.iter() {
        let dest = tmp.path().join(path);
        if let Some(p) = dest.parent() {
            fs::create_dir_all(p).map_err(|e| Error::io(p, e))?;
        }
        let mut f = fs::File::create(&dest).map_err(|e| Error::io(&dest, e))?;
        fsutil::set_mode(&dest, file.mode)?;
        f.write_all(&file.bytes).map_err(|e| Error::io(&dest, e))?;
    }
    fsutil::set_mode(tmp.path(), 0o755)?;
    let staged = tmp.keep();
    if dir.exists() {
        let old = parent.join(format!(".meshbundle-old-{}", std::process::id()));
        fs::rename(dir, &old).map_err(|e| Error::io(dir, e))?;
        fs::rename(&staged, dir).map_err(|e| Error::io(dir, e))?;
        fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
    } else {
        fs::rename(&staged, dir).map_err(|e| Error::io(dir, e))?;
    }
    Ok(())
}
