//! Importing a bundle at the site, with no network besides the site
//! registry: laying out the tree, loading images into containerd, and
//! pushing them to the site registry. The seal is checked first
//! (`read::check`); then each target is asked what it lacks (a registry by
//! `HEAD`s, containerd by `ctr`, an extraction lays out every file it gets),
//! the caller verifies every entry that will be written, and only those, and
//! each pass reads only those entries, checking each against the seal again
//! as it streams; nothing is written where a check fails.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use meshbundle_core::layout::{NODE_MARKER, NodeLayout};

use super::crypt::Opener;
use super::read::Checked;
use super::seal::{Base, Seal, SealEntry};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::oci::registry::Registries;
use crate::progress::Progress;

/// What `--extract` laid out.
#[derive(Debug, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Extracted {
    pub files: usize,
    pub decrypted: usize,
    pub still_sealed: usize,
}

fn dest_of(path: &str) -> Option<String> {
    if let Some(p) = path.strip_prefix("tree/") {
        Some(p.to_string())
    } else if path.starts_with("files/") || path.starts_with("bin/") {
        Some(path.to_string())
    } else {
        None
    }
}

/// The prefix of the directory an extraction is staged in (see
/// `fsutil::remove_leftovers`).
pub const EXTRACT_PREFIX: &str = ".meshbundle-extract-";

/// The marker of a directory meshbundle laid out: the bundle id.
const MARKER: &str = ".meshbundle";

/// Whether an entry is a sealed (age-encrypted) private file of the tree.
fn is_sealed(path: &str, mode: u32) -> bool {
    path.starts_with("tree/") && path.ends_with(".age") && mode == 0o600
}

/// Whether `node` (every entry when there is none) gets the bundle entry
/// `path`: asked of the path the file has once opened, so a sealed file is
/// judged the same whether or not it is decrypted.
fn wanted(node: Option<&NodeLayout>, path: &str, mode: u32) -> bool {
    let Some(node) = node else {
        return true;
    };
    let Some(rel) = dest_of(path) else {
        return false;
    };
    let plain = if is_sealed(path, mode) {
        rel.strip_suffix(".age").unwrap_or(&rel)
    } else {
        &rel
    };
    node.gets(plain, mode == 0o600)
}

/// Whether `--extract` (for `node`, or every node) lays out, and so reads,
/// this entry of the bundle.
pub fn extracted(node: Option<&NodeLayout>, e: &SealEntry) -> bool {
    dest_of(&e.path).is_some() && wanted(node, &e.path, e.mode.bits())
}

/// Lays out the scripts, manifests, certificates, files and the binary under
/// `dir`. A new `dir` is staged beside it and renamed into place; an existing
/// one (empty, a mount point, or laid out by meshbundle before) is staged
/// inside it and its contents replaced once everything checked out. Every
/// sealed private file (`tree/**.age`, mode 0600) is decrypted, as a stream,
/// when an opener is given; private files are 0600 and the directories
/// holding them 0700, the rest 0644 or 0755 and 0755, whatever the umask. On
/// any error, everything written is removed and `dir` is left as it was.
///
/// With a `node`, only what that node gets (see `meshbundle_core::layout`)
/// is laid out, and only those of its files are decrypted, and `NODE_MARKER`
/// names the node, for `install.sh` to check. Only the entries laid out are
/// read, each checked against the seal again as it streams.
pub fn extract(
    checked: &Checked,
    dir: &Path,
    opener: Option<&Opener>,
    node: Option<&NodeLayout>,
    progress: &Progress,
) -> Result<Extracted> {
    let head = &checked.head;
    let seal = &head.seal;
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let existing = match std::fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => {
            let to = std::fs::read_link(dir)
                .map(|t| t.display().to_string())
                .unwrap_or_default();
            return Err(Error::failed(
                format!("{} is a symbolic link (to `{to}`); nothing was written", dir.display()),
                "give the directory itself, or a new path",
            ));
        }
        Ok(m) if !m.is_dir() => {
            return Err(Error::failed(
                format!("{} is a file, not a directory; nothing was written", dir.display()),
                "give an empty or new directory",
            ));
        }
        Ok(m) => {
            // Whoever could change the target could later change install.sh, which root runs.
            if let Some(why) = fsutil::others_could_change(&m) {
                let hint = if why.starts_with("owned") {
                    let me = match fsutil::euid() {
                        0 => "root".to_string(),
                        uid => uid.to_string(),
                    };
                    format!(
                        "chown {me} {0} && chmod 755 {0}, or give a new directory",
                        dir.display()
                    )
                } else {
                    format!("chmod 755 {}, or give a new directory", dir.display())
                };
                return Err(Error::failed(
                    format!(
                        "{} is {why}, so another user could change what is laid out there; nothing was written",
                        dir.display()
                    ),
                    hint,
                ));
            }
            true
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            check_new_target_parent(dir, parent)?;
            false
        }
        Err(e) => return Err(Error::io(dir, e)),
    };
    // What a killed extraction left: beside a new target, or inside an existing one.
    let mut removed = fsutil::remove_leftovers(parent, EXTRACT_PREFIX);
    if existing {
        removed.extend(fsutil::remove_leftovers(dir, EXTRACT_PREFIX));
    }
    fsutil::report_leftovers(&removed);
    if existing && !dir.join(MARKER).exists() && std::fs::read_dir(dir).map(|mut r| r.next().is_some()).unwrap_or(false)
    {
        return Err(Error::failed(
            format!("{} exists and was not laid out by meshbundle", dir.display()),
            "give an empty or new directory",
        ));
    }
    fsutil::create_dir_all(parent, 0o755)?;
    // A differential bundle needs its base's files in place already.
    // Each is opened without following a symbolic link anywhere inside `dir`,
    // hashed, and that same open file is later copied into the new tree.
    let mut keep: Vec<Kept> = Vec::new();
    if let Some(base) = &seal.base {
        for name in &base.files {
            if !wanted(node, &format!("files/{name}"), 0o644) {
                continue;
            }
            let f = seal.files.iter().find(|f| &f.name == name).ok_or_else(|| {
                Error::failed(
                    format!("the seal lists base file {name} without its sha256"),
                    "the bundle is damaged",
                )
            })?;
            let rel = format!("files/{name}");
            let lacks = || {
                Error::failed(
                    format!(
                        "this differential bundle needs {rel} from bundle {}, and {} lacks it",
                        base.id,
                        dir.display()
                    ),
                    "import the base bundle into the same directory first",
                )
            };
            let Some(mut file) = open_base_file(dir, &rel, base.id.as_str())? else {
                return Err(lacks());
            };
            let (digest, _) = hash_copy(&mut file, &mut std::io::sink()).map_err(|e| Error::io(dir.join(&rel), e))?;
            if digest != f.sha256 {
                return Err(lacks());
            }
            use std::os::unix::fs::MetadataExt;
            let mode = if file.metadata().map_err(|e| Error::io(dir.join(&rel), e))?.mode() & 0o111 != 0 {
                0o755
            } else {
                0o644
            };
            keep.push(Kept {
                rel,
                file,
                mode,
                sha256: f.sha256.clone(),
            });
        }
    }
    // Staged on the target's own file system, so it moves into place by renames.
    let (tmp, _lock) = fsutil::temp_dir_in(if existing { dir } else { parent }, EXTRACT_PREFIX)?;
    let laid = lay_out(checked, tmp.path(), opener, node, progress, &head.id, &mut keep).and_then(|out| {
        if existing {
            swap_into(tmp.path(), dir)
        } else {
            std::fs::rename(tmp.path(), dir).map_err(|e| match e.kind() {
                // Renaming over a directory that is not empty: another run laid it out meanwhile.
                std::io::ErrorKind::DirectoryNotEmpty | std::io::ErrorKind::AlreadyExists => Error::failed(
                    format!("another import into {} finished first", dir.display()),
                    format!(
                        "run the import again: it replaces what the other laid out in {}",
                        dir.display()
                    ),
                ),
                _ => Error::io(dir, e),
            })
        }?;
        Ok(out)
    });
    match laid {
        Ok(out) => {
            if !existing {
                // Renamed into place: nothing left to remove.
                let _ = tmp.keep();
            }
            Ok(out)
        }
        Err(e) => {
            let staged = tmp.path().to_path_buf();
            let cleaned = tmp.close().is_ok() && !staged.exists();
            let what = if cleaned {
                "everything written was removed".to_string()
            } else {
                format!("remove {} by hand: it may hold decrypted keys", staged.display())
            };
            let hint = match &e {
                Error::Io { source, .. }
                    if matches!(
                        source.kind(),
                        std::io::ErrorKind::AlreadyExists | std::io::ErrorKind::DirectoryNotEmpty
                    ) =>
                {
                    Some("give a new or empty directory, or one meshbundle laid out before".to_string())
                }
                _ => e.hint(),
            };
            Err(Error::Caused {
                message: format!("nothing was laid out in {}; {what}", dir.display()),
                hint,
                source: Box::new(e),
            })
        }
    }
}

/// Writes every entry of the bundle that lands in the tree under `root`
/// (for `node`, those it gets).
#[allow(clippy::too_many_arguments)]
fn lay_out(
    checked: &Checked,
    root: &Path,
    opener: Option<&Opener>,
    node: Option<&NodeLayout>,
    progress: &Progress,
    id: &meshbundle_core::digest::Digest,
    keep: &mut [Kept],
) -> Result<Extracted> {
    use std::os::unix::fs::OpenOptionsExt;
    let seal = &checked.head.seal;
    let final_rel = |path: &str, mode: u32| -> Option<String> {
        if !wanted(node, path, mode) {
            return None;
        }
        let rel = dest_of(path)?;
        match rel.strip_suffix(".age") {
            Some(plain) if is_sealed(path, mode) && opener.is_some() && !plain.is_empty() && !plain.ends_with('/') => {
                Some(plain.to_string())
            }
            _ => Some(rel),
        }
    };
    let mut finals: Vec<(String, u32)> = seal
        .entries
        .iter()
        .filter_map(|e| Some((final_rel(&e.path, e.mode.bits())?, e.mode.bits())))
        .collect();
    if node.is_some() {
        finals.push((NODE_MARKER.to_string(), 0o644));
    }
    let dirs = fsutil::DirModes::of(finals.iter().map(|(p, m)| (p.as_str(), *m)));
    let create = |rel: &str, mode: u32| -> Result<(PathBuf, std::fs::File)> {
        dirs.create_parents(root, rel)?;
        let dest = root.join(rel);
        // Created with its final mode (the umask can only narrow it, and the
        // mode is then set exactly), so a private file is never readable by others.
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&dest)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    // The stage is new: only the bundle itself can have put something there.
                    Error::failed(
                        format!("{rel}: two entries of the bundle land on this path"),
                        "the bundle is damaged or was not made by meshbundle",
                    )
                } else {
                    Error::io(&dest, e)
                }
            })?;
        f.set_permissions(fsutil::permissions(mode))
            .map_err(|e| Error::io(&dest, e))?;
        Ok((dest, f))
    };
    let mut out = Extracted::default();
    let mut paused = false;
    // Only the entries laid out are read (the images are not).
    let laid = |e: &SealEntry| final_rel(&e.path, e.mode.bits()).is_some();
    checked.each(laid, |entry, r| {
        let Some(rel) = final_rel(&entry.path, entry.mode.bits()) else {
            return Ok(());
        };
        if ![0o644, 0o755, 0o600].contains(&entry.mode.bits()) {
            return Err(Error::failed(
                format!(
                    "{}: mode {:o} is not one meshbundle writes (0644, 0755 or 0600)",
                    entry.path,
                    entry.mode.bits()
                ),
                "the bundle is damaged or was not made by meshbundle",
            ));
        }
        let (dest, mut f) = create(&rel, entry.mode.bits())?;
        if is_sealed(&entry.path, entry.mode.bits()) {
            match opener {
                Some(o) if Some(&rel) != dest_of(&entry.path).as_ref() => {
                    // Decrypted as it streams: memory stays small whatever the size.
                    o.open_to(r, &mut f, &dest, &entry.path)?;
                    out.decrypted += 1;
                }
                _ => {
                    std::io::copy(r, &mut f).map_err(|e| Error::io(&dest, e))?;
                    out.still_sealed += 1;
                }
            }
            progress.inc(entry.size);
            if !paused {
                paused = true;
                fsutil::test_pause("extract");
            }
        } else {
            // Streamed straight to disk, whatever the size.
            let n = std::io::copy(r, &mut f).map_err(|e| Error::io(&dest, e))?;
            progress.inc(n);
        }
        out.files += 1;
        Ok(())
    })?;
    for k in keep.iter_mut() {
        // The very file checked before, copied and hashed again as it is copied.
        use std::io::Seek;
        let (dest, mut f) = create(&k.rel, k.mode)?;
        k.file.rewind().map_err(|e| Error::io(&dest, e))?;
        let (digest, _) = hash_copy(&mut k.file, &mut f).map_err(|e| Error::io(&dest, e))?;
        if digest != k.sha256 {
            return Err(Error::failed(
                format!("the base file {} changed while it was being imported", k.rel),
                "run the import again, with nothing else writing to the directory",
            ));
        }
    }
    // The id `verify` printed: that of the seal bytes verified.
    if let Some(node) = node {
        let (marker, mut f) = create(NODE_MARKER, 0o644)?;
        f.write_all(format!("{}\n", node.name()).as_bytes())
            .map_err(|e| Error::io(&marker, e))?;
    }
    let (marker, mut f) = create(MARKER, 0o644)?;
    f.write_all(format!("{id}\n").as_bytes())
        .map_err(|e| Error::io(&marker, e))?;
    fsutil::set_mode(root, 0o755)?;
    Ok(out)
}

/// A base file of a differential bundle, open, to be copied into the new tree.
struct Kept {
    rel: String,
    file: std::fs::File,
    mode: u32,
    sha256: meshbundle_core::digest::Digest,
}

/// Copies `r` to `w`, returning its digest and size.
fn hash_copy(r: &mut impl Read, w: &mut impl Write) -> std::io::Result<(meshbundle_core::digest::Digest, u64)> {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        w.write_all(&buf[..n])?;
        total += n as u64;
    }
    Ok((meshbundle_core::digest::Digest::from_raw(&h.finalize().into()), total))
}

/// Opens `dir/rel` (a base file) for reading without following a symbolic
/// link at any component below `dir`, and requires a regular file. `None`
/// when it is missing.
fn open_base_file(dir: &Path, rel: &str, base_id: &str) -> Result<Option<std::fs::File>> {
    use std::ffi::CString;
    use std::os::fd::FromRawFd;
    use std::os::unix::ffi::OsStrExt;
    let parts: Vec<&str> = rel.split('/').collect();
    if parts.iter().any(|p| p.is_empty() || *p == "." || *p == "..") {
        return Err(Error::failed(
            format!(
                "the seal names base file `{}`, which is no plain path",
                rel.escape_debug()
            ),
            "the bundle is damaged",
        ));
    }
    let open_at = |at: libc::c_int, name: &[u8], flags: libc::c_int| -> std::io::Result<std::fs::File> {
        let c = CString::new(name).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        // SAFETY: a plain system call on a NUL-terminated name; the descriptor returned is owned by the File.
        let fd = unsafe { libc::openat(at, c.as_ptr(), flags | libc::O_NOFOLLOW | libc::O_CLOEXEC) };
        if fd < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(unsafe { std::fs::File::from_raw_fd(fd) })
        }
    };
    let refused = |upto: usize| -> Error {
        let shown = parts[..=upto].join("/");
        let p = dir.join(&shown);
        let mut cause = None;
        let what = match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let to = std::fs::read_link(&p)
                    .map(|t| t.display().to_string())
                    .unwrap_or_default();
                format!("is a symbolic link (to `{to}`)")
            }
            Ok(m) if upto + 1 < parts.len() => format!("is no directory ({:?})", m.file_type()),
            Ok(_) => "is not a regular file".to_string(),
            Err(e) => {
                cause = Some(e);
                "cannot be read".to_string()
            }
        };
        let e = Error::failed(
            format!(
                "{shown} in {} {what}: a base file must be a regular file, reached through no link; nothing was written",
                dir.display()
            ),
            format!(
                "import the base bundle ({base_id}) into {} again, then this one",
                dir.display()
            ),
        );
        match cause {
            Some(c) => e.because(c),
            None => e,
        }
    };
    let mut at = match open_at(
        libc::AT_FDCWD,
        dir.as_os_str().as_bytes(),
        libc::O_RDONLY | libc::O_DIRECTORY,
    ) {
        Ok(f) => f,
        // A new target holds no base file.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(dir, e)),
    };
    for (i, part) in parts.iter().enumerate() {
        use std::os::fd::AsRawFd;
        let last = i + 1 == parts.len();
        let flags = if last {
            libc::O_RDONLY | libc::O_NONBLOCK
        } else {
            libc::O_RDONLY | libc::O_DIRECTORY
        };
        match open_at(at.as_raw_fd(), part.as_bytes(), flags) {
            Ok(f) => at = f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP) | Some(libc::ENOTDIR)) => return Err(refused(i)),
            Err(e) => return Err(Error::io(dir.join(parts[..=i].join("/")), e)),
        }
    }
    let meta = at.metadata().map_err(|e| Error::io(dir.join(rel), e))?;
    if !meta.is_file() {
        return Err(refused(parts.len() - 1));
    }
    Ok(Some(at))
}

/// A new target is made in the nearest directory above it that exists: one
/// another user could change (owned by them, or writable by others and not
/// sticky) would let them swap the tree for their own.
fn check_new_target_parent(dir: &Path, parent: &Path) -> Result<()> {
    let mut at = parent.to_path_buf();
    let meta = loop {
        match std::fs::metadata(&at) {
            Ok(m) => break m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && at != Path::new(".") => match at.parent() {
                Some(up) if !up.as_os_str().is_empty() => at = up.to_path_buf(),
                _ => at = PathBuf::from("."),
            },
            Err(e) => return Err(Error::io(&at, e)),
        }
    };
    match fsutil::others_could_change(&meta) {
        Some(why) if why.starts_with("owned") || !fsutil::is_sticky(&meta) => Err(Error::failed(
            format!(
                "{}, where {} would be made, is {why}, so another user could replace what is laid out; nothing was written",
                at.display(),
                dir.display()
            ),
            format!(
                "give a new directory under one only root or you can change (e.g. chmod 755 {}), or a sticky one like /tmp",
                at.display()
            ),
        )),
        _ => Ok(()),
    }
}

/// Replaces the contents of the existing directory `dir` with those of
/// `stage` (a directory inside it): the old contents move into the stage, to
/// be removed with it, and the marker is replaced last, so an interrupted
/// swap still leaves a directory meshbundle recognises as its own. A failed
/// swap puts back what it moved.
fn swap_into(stage: &Path, dir: &Path) -> Result<()> {
    let stage_name = stage.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    let old = stage.join(".meshbundle-old");
    fsutil::create_dir(&old, 0o700)?;
    let names = |d: &Path| -> Result<Vec<std::ffi::OsString>> {
        let mut v = Vec::new();
        for e in std::fs::read_dir(d).map_err(|e| Error::io(d, e))? {
            let n = e.map_err(|e| Error::io(d, e))?.file_name();
            // Another run's stage is not part of the old contents.
            if n != stage_name
                && n != MARKER
                && n != ".meshbundle-old"
                && !n.to_string_lossy().starts_with(EXTRACT_PREFIX)
            {
                v.push(n);
            }
        }
        Ok(v)
    };
    let mut moved_out = Vec::new();
    let mut moved_in = Vec::new();
    let result = (|| -> Result<()> {
        for n in names(dir)? {
            std::fs::rename(dir.join(&n), old.join(&n)).map_err(|e| Error::io(dir.join(&n), e))?;
            moved_out.push(n);
        }
        for n in names(stage)? {
            std::fs::rename(stage.join(&n), dir.join(&n)).map_err(|e| Error::io(dir.join(&n), e))?;
            moved_in.push(n);
        }
        std::fs::rename(stage.join(MARKER), dir.join(MARKER)).map_err(|e| Error::io(dir.join(MARKER), e))?;
        fsutil::set_mode(dir, 0o755)
    })();
    if result.is_err() {
        for n in &moved_in {
            let _ = std::fs::rename(dir.join(n), stage.join(n));
        }
        for n in &moved_out {
            let _ = std::fs::rename(old.join(n), dir.join(n));
        }
    }
    result
}

/// The bundle's OCI layout as spans of the checked bundle file: each
/// `images/blobs/sha256/<hex>` entry by digest (the seal lists it with
/// that sha256), the layout's other files by path.
pub fn source_of(checked: &Checked) -> crate::oci::push::Source {
    use crate::oci::push::{Source, Span};
    let mut spans = std::collections::BTreeMap::new();
    let mut others = std::collections::BTreeMap::new();
    for (i, e) in checked.head.seal.entries.iter().enumerate() {
        let p = e.path.as_str();
        let Some((offset, size)) = checked.span(i) else {
            continue;
        };
        let span = Span { offset, size };
        match p.strip_prefix("images/blobs/sha256/") {
            Some(hex) if hex == e.sha256.hex() => {
                spans.insert(format!("sha256:{hex}"), span);
            }
            Some(_) => {}
            None if p.starts_with("images/") => {
                others.insert(p.to_string(), span);
            }
            None => {}
        }
    }
    Source {
        file: checked.file().clone(),
        spans,
        others,
    }
}

/// What containerd holds of the bundle's images, asked before anything is
/// loaded (`ctr content ls`, `ctr images ls`, `ctr images check`): no byte
/// of the bundle is read to find it.
#[derive(Debug, Clone, Default)]
pub struct CtrPlan {
    /// Images whose name names their digest, with every blob the seal lists
    /// for them in the content store, and unpacked.
    pub images_there: usize,
    pub images: usize,
    /// Blobs of the bundle's layout that the content store lacks.
    pub lacking: BTreeSet<String>,
}

impl CtrPlan {
    /// Whether nothing is to be loaded.
    pub fn all_there(&self) -> bool {
        self.images_there == self.images
    }

    /// Whether the load reads this entry of the bundle: when some image is
    /// not there, the layout's own files and every blob the content store lacks.
    pub fn reads(&self, e: &SealEntry) -> bool {
        if self.all_there() {
            return false;
        }
        let p = e.path.as_str();
        match p.strip_prefix("images/blobs/sha256/") {
            Some(hex) => self.lacking.contains(&format!("sha256:{hex}")),
            None => p.starts_with("images/"),
        }
    }
}

/// The lines `ctr … ARGS` prints.
fn ctr_lines(socket: &Path, namespace: &str, args: &[&str]) -> Result<Vec<String>> {
    let o = Command::new("ctr")
        .arg("-a")
        .arg(socket)
        .args(["-n", namespace])
        .args(args)
        .output()
        .map_err(|e| Error::failed_with("cannot run ctr", e, "ctr comes with containerd; put it on PATH"))?;
    if !o.status.success() {
        return Err(Error::failed(
            format!(
                "ctr {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            "check the containerd socket and namespace",
        ));
    }
    Ok(String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect())
}

/// Asks containerd what it lacks of the bundle's images (an upgrade
/// bundle's base is checked first): an image is there when its name
/// (`REGISTRY/REPOSITORY:TAG`, as `ctr images import` names it) names its
/// digest, every manifest and blob the seal lists for it is in the content
/// store, and `ctr images check` finds it ready (complete and unpacked).
pub fn containerd_lacks(seal: &Seal, socket: &Path, namespace: &str) -> Result<CtrPlan> {
    if seal.images.is_empty() {
        return Ok(CtrPlan::default());
    }
    check_containerd_base(seal, socket, namespace)?;
    let content: BTreeSet<String> = ctr_lines(socket, namespace, &["content", "ls", "-q"])?
        .into_iter()
        .collect();
    let named: std::collections::BTreeMap<String, String> = ctr_lines(socket, namespace, &["images", "ls"])?
        .iter()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let name = f.next()?;
            let digest = f.nth(1)?;
            Some((name.to_string(), digest.to_string()))
        })
        .collect();
    let ready: BTreeSet<String> = ctr_lines(socket, namespace, &["images", "check", "-q"])?
        .into_iter()
        .collect();
    let mut plan = CtrPlan {
        images: seal.images.len(),
        ..CtrPlan::default()
    };
    for img in &seal.images {
        let name = img.site.tagged();
        let name = name.as_str();
        let whole = img
            .manifests
            .iter()
            .chain(&img.blobs)
            .all(|d| content.contains(d.as_str()));
        if whole && named.get(name).map(String::as_str) == Some(img.digest.as_str()) && ready.contains(name) {
            plan.images_there += 1;
        }
    }
    for e in &seal.entries {
        if let Some(hex) = e.path.as_str().strip_prefix("images/blobs/sha256/") {
            let d = format!("sha256:{hex}");
            if !content.contains(&d) {
                plan.lacking.insert(d);
            }
        }
    }
    Ok(plan)
}

/// What `--containerd` did.
#[derive(Debug, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Loaded {
    pub images: usize,
    /// Images containerd held whole and unpacked: nothing was loaded for them.
    pub images_already_there: usize,
    /// Blobs streamed to `ctr images import` (the content store lacked them).
    pub blobs_sent: usize,
    pub bytes_sent: u64,
}

/// Loads the images into containerd with `ctr images import`, unless
/// `plan` found every one there. It streams the layout's own files
/// (`index.json`, `oci-layout`) and the blobs the content store lacks, each
/// read from where it lies in the bundle, 1 MiB at a time, straight into
/// ctr's stdin; the blobs containerd has are left out (`ctr images import`
/// finds them in its content store). containerd checks every blob against
/// its digest as it commits it (and every layer against its diff id as it
/// unpacks), so blobs, verified before, are not hashed a second time here;
/// the layout's own files are hashed again as they go.
///
/// With `jobs` above 1 (at most one per core) and more than one image, the load is done in two
/// steps: one stream puts every blob in the content store (`--no-unpack`),
/// then up to `jobs` `ctr images import` run side by side, each given only
/// an index of its share of the images, and unpack them (one `ctr` unpacks
/// its images one layer after another). Images that share layers go to the
/// same share, so a shared layer is unpacked once. Needs no network.
pub fn containerd(
    checked: &Checked,
    plan: &CtrPlan,
    socket: &Path,
    namespace: &str,
    jobs: usize,
    progress: &Progress,
) -> Result<Loaded> {
    let seal = &checked.head.seal;
    let mut out = Loaded {
        images: seal.images.len(),
        images_already_there: plan.images_there,
        ..Loaded::default()
    };
    if plan.all_there() {
        return Ok(out);
    }
    let mut layout = Vec::new();
    for (i, e) in seal.entries.iter().enumerate() {
        let p = e.path.as_str();
        if !p.starts_with("images/") || !plan.reads(e) {
            continue;
        }
        let (offset, size) = checked.span(i).ok_or_else(|| {
            Error::failed(
                format!("{p}: not where the bundle's headers said"),
                "the bundle changed since it was checked",
            )
        })?;
        layout.push((
            p.strip_prefix("images/").unwrap_or(p).to_string(),
            crate::oci::push::Span { offset, size },
            e,
        ));
    }
    progress.add_total(layout.iter().map(|l| l.1.size).sum());
    let jobs = jobs.min(std::thread::available_parallelism().map_or(1, std::num::NonZero::get));
    let split = jobs > 1 && seal.images.len() > 1;
    let small = ctr_stream(checked, &layout, socket, namespace, !split, &mut out, progress)?;
    if split {
        let index = small
            .get("index.json")
            .ok_or_else(|| Error::failed("the bundle's layout has no index.json", "the bundle is damaged"))?;
        let layout_file = small
            .get("oci-layout")
            .ok_or_else(|| Error::failed("the bundle's layout has no oci-layout", "the bundle is damaged"))?;
        progress.phase("unpack");
        unpack_side_by_side(seal, index, layout_file, socket, namespace, jobs)?;
    }
    Ok(out)
}

/// `ctr … images import -` with `--no-unpack` unless `unpack`.
fn ctr_import(socket: &Path, namespace: &str, unpack: bool) -> Result<std::process::Child> {
    Command::new("ctr")
        .arg("-a")
        .arg(socket)
        .args(["-n", namespace, "images", "import"])
        .arg(if unpack {
            "--no-unpack=false"
        } else {
            "--no-unpack=true"
        })
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::failed_with("cannot run ctr", e, "ctr comes with containerd; put it on PATH"))
}

/// Waits for a `ctr images import` and says what it said when it failed.
fn ctr_done(child: std::process::Child) -> Result<()> {
    let o = child
        .wait_with_output()
        .map_err(|e| Error::failed_with("cannot wait for ctr images import", e, "ctr failed"))?;
    if !o.status.success() {
        return Err(Error::failed(
            format!(
                "ctr images import failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            "check the containerd socket and namespace",
        ));
    }
    Ok(())
}

/// Streams `layout` to one `ctr images import` as a tar; gives back the
/// layout's own (small) files as streamed, each checked against the seal.
fn ctr_stream(
    checked: &Checked,
    layout: &[(String, crate::oci::push::Span, &SealEntry)],
    socket: &Path,
    namespace: &str,
    unpack: bool,
    out: &mut Loaded,
    progress: &Progress,
) -> Result<std::collections::BTreeMap<String, Vec<u8>>> {
    use std::os::unix::fs::FileExt;
    let mut child = ctr_import(socket, namespace, unpack)?;
    let stdin = child
        .stdin
        .take()
        .ok_or_else(|| Error::failed("ctr has no stdin", "report this as a bug"))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, stdin);
    let file = checked.file();
    let mut small_files = std::collections::BTreeMap::new();
    let streamed = (|| -> Result<()> {
        let mut buf = vec![0u8; 1 << 20];
        for (rel, span, entry) in layout {
            let mut h = super::header(span.size, 0o644);
            h.set_path(rel)
                .map_err(|e| Error::failed_with(entry.path.to_string(), e, "the bundle is damaged"))?;
            h.set_cksum();
            w.write_all(h.as_bytes()).map_err(|e| {
                Error::failed_with(format!("streaming {} to ctr", entry.path), e, "see ctr's error below")
            })?;
            let small = !rel.starts_with("blobs/");
            let mut hash = small.then(<sha2::Sha256 as sha2::Digest>::new);
            let mut kept = Vec::new();
            let mut pos = 0u64;
            while pos < span.size {
                let n = (span.size - pos).min(buf.len() as u64) as usize;
                file.read_exact_at(&mut buf[..n], span.offset + pos)
                    .map_err(|e| Error::io(entry.path.as_str(), e))?;
                if let Some(h) = hash.as_mut() {
                    sha2::Digest::update(h, &buf[..n]);
                    kept.extend_from_slice(&buf[..n]);
                }
                w.write_all(&buf[..n]).map_err(|e| {
                    Error::failed_with(format!("streaming {} to ctr", entry.path), e, "see ctr's error below")
                })?;
                progress.inc(n as u64);
                pos += n as u64;
            }
            if let Some(h) = hash {
                if hex::encode(sha2::Digest::finalize(h)) != entry.sha256.hex() {
                    return Err(Error::failed(
                        format!("{}: content changed", entry.path),
                        "the bundle changed since it was checked",
                    ));
                }
                small_files.insert(rel.clone(), kept);
            } else {
                out.blobs_sent += 1;
                out.bytes_sent += span.size;
            }
            let pad = (512 - span.size % 512) % 512;
            w.write_all(&vec![0u8; pad as usize]).map_err(|e| {
                Error::failed_with(format!("streaming {} to ctr", entry.path), e, "see ctr's error below")
            })?;
        }
        // The end of the archive.
        w.write_all(&[0u8; 1024])
            .and_then(|()| w.flush())
            .map_err(|e| Error::failed_with("streaming to ctr", e, "see ctr's error below"))
    })();
    // A changed layout file ends the stream without its end-of-archive, and ctr is stopped: it imports nothing.
    if streamed.is_err() {
        let _ = child.kill();
    }
    drop(w);
    let done = ctr_done(child);
    streamed?;
    done?;
    Ok(small_files)
}

/// Splits the images into at most `jobs` shares of about equal bytes,
/// putting each image where the bytes it adds (the blobs that share lacks)
/// are fewest, so images with common layers go together.
fn shares(seal: &Seal, digests: &[String], jobs: usize) -> Vec<Vec<usize>> {
    let sizes: std::collections::HashMap<String, u64> = seal
        .entries
        .iter()
        .filter_map(|e| {
            e.path
                .as_str()
                .strip_prefix("images/blobs/sha256/")
                .map(|hex| (format!("sha256:{hex}"), e.size))
        })
        .collect();
    let blobs_of = |d: &str| -> Vec<String> {
        seal.images
            .iter()
            .find(|i| i.digest.as_str() == d)
            .map(|i| {
                i.manifests
                    .iter()
                    .chain(&i.blobs)
                    .map(|b| b.as_str().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut order: Vec<(usize, Vec<String>, u64)> = digests
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let b = blobs_of(d);
            let bytes = b.iter().map(|x| sizes.get(x).copied().unwrap_or(0)).sum();
            (i, b, bytes)
        })
        .collect();
    order.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
    let n = jobs.min(digests.len()).max(1);
    let mut held: Vec<(BTreeSet<String>, u64, Vec<usize>)> = vec![(BTreeSet::new(), 0, Vec::new()); n];
    for (i, blobs, _) in order {
        let adds = |h: &BTreeSet<String>| -> u64 {
            blobs
                .iter()
                .filter(|b| !h.contains(*b))
                .map(|b| sizes.get(b).copied().unwrap_or(0))
                .sum()
        };
        let Some(best) = (0..n).min_by_key(|&g| (held[g].1 + adds(&held[g].0), g)) else {
            continue;
        };
        let added = adds(&held[best].0);
        let share = &mut held[best];
        share.1 += added;
        share.0.extend(blobs);
        share.2.push(i);
    }
    held.into_iter()
        .map(|h| {
            let mut v = h.2;
            v.sort_unstable();
            v
        })
        .filter(|v| !v.is_empty())
        .collect()
}

/// Runs one `ctr images import` per share of the images, side by side, each
/// given the layout's `oci-layout` and an index of its share (every blob is
/// in the content store already), and waits for all: each unpacks its share.
fn unpack_side_by_side(
    seal: &Seal,
    index: &[u8],
    layout_file: &[u8],
    socket: &Path,
    namespace: &str,
    jobs: usize,
) -> Result<()> {
    let whole = oci_spec::image::ImageIndex::from_reader(index)
        .map_err(|e| Error::failed_with("images/index.json", e, "the bundle is damaged"))?;
    let manifests = whole.manifests().clone();
    let digests: Vec<String> = manifests.iter().map(|m| m.digest().to_string()).collect();
    let mut children = Vec::new();
    for share in shares(seal, &digests, jobs) {
        let mut part = whole.clone();
        part.set_manifests(share.iter().map(|&i| manifests[i].clone()).collect());
        let json = serde_json::to_vec(&part).map_err(|e| Error::from_source(e, "report this as a bug"))?;
        let mut tar = tar::Builder::new(Vec::new());
        for (name, bytes) in [("oci-layout", layout_file), ("index.json", json.as_slice())] {
            let mut h = super::header(bytes.len() as u64, 0o644);
            tar.append_data(&mut h, name, bytes)
                .map_err(|e| Error::from_source(e, "report this as a bug"))?;
        }
        let tar = tar
            .into_inner()
            .map_err(|e| Error::from_source(e, "report this as a bug"))?;
        let mut child = ctr_import(socket, namespace, true)?;
        let mut stdin = child
            .stdin
            .take()
            .ok_or_else(|| Error::failed("ctr has no stdin", "report this as a bug"))?;
        let fed = stdin.write_all(&tar);
        drop(stdin);
        children.push((child, fed));
    }
    let mut first = None;
    for (child, fed) in children {
        let done = fed
            .map_err(|e| Error::failed_with("streaming an index to ctr", e, "see ctr's error below"))
            .and(ctr_done(child));
        if first.is_none() {
            first = done.err();
        }
    }
    first.map_or(Ok(()), Err)
}

#[derive(Debug, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pushed {
    pub images: usize,
    /// Images whose tag already named their digest: nothing was sent for them.
    pub images_already_there: usize,
    /// Images whose manifest was there by digest: only the tag was put.
    pub images_only_tagged: usize,
    pub blobs_pushed: usize,
    /// Blobs the registry had under another repository, mounted rather than sent.
    pub blobs_mounted: usize,
    pub blobs_skipped: usize,
    pub bytes_pushed: u64,
}

/// What the site registry lacks of the bundle's images, and where in the
/// bundle it lies: found by asking the registry (an upgrade bundle's base
/// is checked first), before anything is pushed and with no byte of the
/// bundle read.
pub struct RegistryPlan {
    source: crate::oci::push::Source,
    images: Vec<crate::oci::push::PushImage>,
    plan: crate::oci::push::Plan,
    /// The digests the push reads.
    reads: BTreeSet<String>,
}

impl RegistryPlan {
    /// Whether the push reads this entry of the bundle.
    pub fn reads(&self, e: &SealEntry) -> bool {
        e.path
            .as_str()
            .strip_prefix("images/blobs/sha256/")
            .is_some_and(|hex| self.reads.contains(&format!("sha256:{hex}")))
    }

    /// Images the registry holds whole already.
    pub fn images_there(&self) -> usize {
        self.plan.whole()
    }
}

/// Asks the site registry what it lacks (see `crate::oci::push::ask`).
pub fn registry_plan(
    checked: &Checked,
    host: &str,
    regs: &Registries,
    rt: &tokio::runtime::Runtime,
) -> Result<RegistryPlan> {
    use crate::oci::push;
    let seal = &checked.head.seal;
    check_registry_base(seal, host, regs, rt)?;
    let source = source_of(checked);
    let in_base = |d: &str| seal.base.as_ref().is_some_and(|b| b.blobs.iter().any(|x| x == d));
    let mut images = Vec::new();
    for img in &seal.images {
        if !source.spans.contains_key(img.digest.as_str()) && in_base(img.digest.as_str()) {
            // Carried, and pushed, by the base bundle, which was imported already.
            continue;
        }
        for d in img.manifests.iter().chain(&img.blobs) {
            if !source.spans.contains_key(d.as_str()) && !in_base(d.as_str()) {
                return Err(Error::failed(
                    format!(
                        "{}: {d} is neither in this bundle nor in its base; nothing was pushed",
                        img.name
                    ),
                    "the bundle is damaged or was not made by meshbundle",
                ));
            }
        }
        images.push(push::PushImage {
            name: img.name.to_string(),
            site: img.site.clone(),
            digest: img.digest.to_string(),
            media_type: img.media_type.clone(),
            manifests: img.manifests.iter().map(|d| d.to_string()).collect(),
            blobs: img.blobs.iter().map(|d| d.to_string()).collect(),
        });
    }
    let plan = rt.block_on(push::ask(regs, host, &source, &images)).map_err(|e| {
        let hint = e
            .hint()
            .unwrap_or_else(|| "check --registry, --insecure and --authfile".into());
        Error::failed_with(format!("nothing was pushed to {host}"), e, hint)
    })?;
    let reads = plan.reads(&images);
    Ok(RegistryPlan {
        source,
        images,
        plan,
        reads,
    })
}

/// Pushes what `plan` found lacking to the site registry under the names
/// the manifests use (see `crate::oci::push`): blobs read from where they
/// lie in the bundle and hashed again as they go, several at a time; what
/// the registry has is skipped or mounted; manifests after every blob, tags
/// last. A second run of the same bundle asks one question per image and
/// reads nothing.
pub fn registry(
    plan: &RegistryPlan,
    host: &str,
    regs: &Registries,
    rt: &tokio::runtime::Runtime,
    progress: &Progress,
) -> Result<Pushed> {
    use crate::oci::push;
    let stats = rt
        .block_on(push::send(regs, host, &plan.source, &plan.images, &plan.plan, progress))
        .map_err(|e| {
            let hint = e
                .hint()
                .unwrap_or_else(|| "check --registry, --insecure and --authfile".into());
            Error::failed_with(
                format!("cannot push to {host}: no tag was pushed for an image that is not whole"),
                e,
                hint,
            )
        })?;
    Ok(Pushed {
        images: stats.images,
        images_already_there: stats.images_already_there,
        images_only_tagged: stats.images_only_tagged,
        blobs_pushed: stats.blobs_pushed,
        blobs_mounted: stats.blobs_mounted,
        blobs_skipped: stats.blobs_skipped,
        bytes_pushed: stats.bytes_pushed,
    })
}

/// What an upgrade bundle's refusal says: what the target lacks of which
/// base, and what to import first. Nothing has been written when it is made.
fn lacks_base(base: &Base, target: &str, what: &str) -> Error {
    let versions = match &base.from {
        Some(f) => format!(
            " (Kubernetes {}, containerd {}, Istio {} revision {})",
            f.kubernetes, f.containerd, f.istio, f.revision
        ),
        None => String::new(),
    };
    Error::failed(
        format!(
            "this is a differential (upgrade) bundle: it needs {what} from bundle {}{versions}, and {target} lacks it; nothing was imported",
            base.id
        ),
        format!("import the base bundle {} into {target} first, then this one", base.id),
    )
}

/// For an upgrade bundle, before anything is written: whether `dir` holds
/// its base, that is, was laid out from the base bundle (or from this one,
/// by an earlier run) and holds, unchanged, every base file that `node`
/// gets. A plain bundle needs nothing.
pub fn check_extract_base(
    seal: &Seal,
    own_id: &meshbundle_core::digest::Digest,
    dir: &Path,
    node: Option<&NodeLayout>,
) -> Result<()> {
    let Some(base) = &seal.base else { return Ok(()) };
    let target = dir.display().to_string();
    let marker = dir.join(MARKER);
    let laid_from = match std::fs::symlink_metadata(&marker) {
        Ok(m) if m.is_file() => std::fs::read_to_string(&marker)
            .map(|t| t.trim().to_string())
            .unwrap_or_default(),
        _ => String::new(),
    };
    if laid_from.is_empty() {
        return Err(lacks_base(base, &target, "the layout of the previous bundle"));
    }
    if laid_from != base.id.as_str() && laid_from != own_id.as_str() {
        let shown = super::read::shown(&laid_from);
        return Err(lacks_base(
            base,
            &target,
            &format!("the layout of the previous bundle (it holds bundle {shown})"),
        ));
    }
    for name in &base.files {
        let rel = format!("files/{name}");
        if !wanted(node, &rel, 0o644) {
            continue;
        }
        let f = seal.files.iter().find(|f| &f.name == name).ok_or_else(|| {
            Error::failed(
                format!("the seal lists base file {name} without its sha256"),
                "the bundle is damaged",
            )
        })?;
        let Some(mut file) = open_base_file(dir, &rel, base.id.as_str())? else {
            return Err(lacks_base(base, &target, &rel));
        };
        let (digest, _) = hash_copy(&mut file, &mut std::io::sink()).map_err(|e| Error::io(dir.join(&rel), e))?;
        if digest != f.sha256 {
            return Err(lacks_base(
                base,
                &target,
                &format!("{rel} (the file there has another sha256)"),
            ));
        }
    }
    Ok(())
}

/// For an upgrade bundle, before anything is loaded: containerd holds every
/// blob it needs from the base.
pub fn check_containerd_base(seal: &Seal, socket: &Path, namespace: &str) -> Result<()> {
    let Some(base) = &seal.base else { return Ok(()) };
    if base.blobs.is_empty() || seal.images.is_empty() {
        return Ok(());
    }
    let o = Command::new("ctr")
        .arg("-a")
        .arg(socket)
        .args(["-n", namespace, "content", "ls", "-q"])
        .output()
        .map_err(|e| Error::failed_with("cannot run ctr", e, "ctr comes with containerd; put it on PATH"))?;
    if !o.status.success() {
        return Err(Error::failed(
            format!("ctr content ls failed: {}", String::from_utf8_lossy(&o.stderr).trim()),
            "check the containerd socket and namespace",
        ));
    }
    let have: BTreeSet<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .collect();
    let missing: Vec<&meshbundle_core::digest::Digest> =
        base.blobs.iter().filter(|b| !have.contains(b.as_str())).collect();
    if let Some(first) = missing.first() {
        return Err(lacks_base(
            base,
            &format!("containerd ({}, namespace {namespace})", socket.display()),
            &format!("{} blob(s), e.g. {first},", missing.len()),
        ));
    }
    Ok(())
}

/// For an upgrade bundle, before anything is pushed: the registry holds
/// every blob it needs from the base in each repository that needs it, and
/// every image whose manifests the bundle does not carry.
pub fn check_registry_base(seal: &Seal, host: &str, regs: &Registries, rt: &tokio::runtime::Runtime) -> Result<()> {
    let Some(base) = &seal.base else { return Ok(()) };
    let in_base: BTreeSet<&str> = base.blobs.iter().map(|d| d.as_str()).collect();
    let net = |e: crate::oci::registry::RegistryError| {
        Error::failed_with(
            format!("cannot ask {host} for the base's blobs; nothing was imported"),
            e,
            "check --registry, --insecure and --authfile",
        )
    };
    for img in &seal.images {
        let r = &img.site;
        for b in img.blobs.iter().filter(|b| in_base.contains(b.as_str())) {
            let there = rt
                .block_on(regs.blob_exists(
                    &Registries::target(host, &r.repository, None, Some(b.as_str())),
                    b.as_str(),
                ))
                .map_err(net)?;
            if !there {
                return Err(lacks_base(base, host, &format!("blob {b} of {}", r.repository)));
            }
        }
        if in_base.contains(img.digest.as_str()) {
            // Pushed by the base's import, not by this one: it must be there.
            let at = meshbundle_core::image::ImageRef {
                registry: host.to_string(),
                repository: r.repository.clone(),
                tag: None,
                digest: Some(img.digest.clone()),
            };
            if let Err(e) = rt.block_on(regs.resolve(&at, &[])) {
                return Err(lacks_base(base, host, &format!("the image {}@{}", r.repository, img.digest)).because(e));
            }
        }
    }
    Ok(())
}
