//! The seal: what a bundle holds, and the digests that prove it.
//!
//! Every value of the seal that becomes a path, a mode or a digest has a type
//! that checks it when SEAL.json is read: [`EntryPath`] for entry paths and
//! for every name import turns into a path (`files[].name`, `base.files`),
//! [`Mode`] for entry modes, and `Digest` for every digest and sha256 (image
//! manifests and blobs are digests, so they are safe path components too).
//! What needs the whole seal (entries in order, no entry inside another,
//! every base file listed) is checked by [`Seal::check`], which the reader
//! runs before anything is written.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use crate::digest::Digest;
use crate::image::{ImageRef, MediaType};
use crate::upgrade_from::UpgradeFrom;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Shortens what is quoted back in an error, so a hostile megabyte is not printed.
fn shown(s: &str) -> String {
    let mut out: String = s.chars().take(80).flat_map(char::escape_debug).collect();
    if s.chars().count() > 80 {
        out.push('…');
    }
    out
}

/// The format of the bundles this meshbundle writes and reads.
pub const FORMAT: &str = "meshbundle.dev/bundle/v1";

/// The longest one-line text a seal may hold (a site name, a URL, a reason).
pub const MAX_TEXT: usize = 4096;

/// A character a terminal acts on or that hides or reorders text: control
/// characters, and Unicode's format, bidirectional and line-separating ones.
pub fn invisible(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{00ad}' | '\u{061c}' | '\u{180e}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{206f}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}')
}

/// Where an entry lands under `import --extract DIR` (before a sealed file
/// loses `.age`): `tree/X` at `X`, `files/…` and `bin/…` as they are;
/// `images/…` is not laid out.
pub fn lands_at(path: &str) -> Option<&str> {
    if let Some(p) = path.strip_prefix("tree/") {
        Some(p)
    } else if path.starts_with("files/") || path.starts_with("bin/") {
        Some(path)
    } else {
        None
    }
}

/// The longest path a bundle may hold, and the longest part of one.
pub const MAX_PATH: usize = 1024;
pub const MAX_PART: usize = 255;

/// A path inside a bundle, or a name from the seal that becomes part of one:
/// relative, `/`-separated, no empty, `.` or `..` part, no backslash, only
/// printable ASCII (no space, control, bidirectional or other invisible
/// character), at most [`MAX_PATH`] bytes and [`MAX_PART`] per part. Joined
/// under a directory it stays inside it, and it prints as what it is.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryPath(String);

impl EntryPath {
    pub fn parse(s: &str) -> Result<EntryPath, String> {
        let why = if s.is_empty() {
            "it is empty"
        } else if s.len() > MAX_PATH {
            "it is longer than 1024 bytes"
        } else if s.starts_with('/') {
            "it is absolute"
        } else if s.contains('\\') {
            "it holds a backslash"
        } else if s.chars().any(char::is_control) {
            "it holds a NUL or another control character"
        } else if !s.bytes().all(|b| b.is_ascii_graphic()) {
            "it holds a space or a character outside printable ASCII (bundle paths are plain ASCII, so none can hide or reorder text)"
        } else if s.split('/').any(|c| c == "..") {
            "it has a `..` part"
        } else if s.split('/').any(|c| c.is_empty() || c == ".") {
            "it has an empty or `.` part"
        } else if s.split('/').any(|c| c.len() > MAX_PART) {
            "a part of it is longer than 255 bytes"
        } else {
            return Ok(EntryPath(s.to_string()));
        };
        Err(format!("`{}` is not a safe path in a bundle: {why}", shown(s)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `other` lies inside this path taken as a directory.
    pub fn contains(&self, other: &EntryPath) -> bool {
        other.0.len() > self.0.len() && other.0.starts_with(&self.0) && other.0.as_bytes()[self.0.len()] == b'/'
    }

    /// Every directory above this path (`a`, `a/b` for `a/b/c`).
    pub fn parents(&self) -> impl Iterator<Item = &str> {
        self.0.match_indices('/').map(|(i, _)| &self.0[..i])
    }
}

impl std::ops::Deref for EntryPath {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for EntryPath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl AsRef<Path> for EntryPath {
    fn as_ref(&self) -> &Path {
        Path::new(&self.0)
    }
}

impl std::borrow::Borrow<str> for EntryPath {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EntryPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EntryPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl PartialEq<str> for EntryPath {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for EntryPath {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for EntryPath {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl TryFrom<String> for EntryPath {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        EntryPath::parse(&s)
    }
}

impl Serialize for EntryPath {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for EntryPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        EntryPath::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Printable ASCII but `/` and `\`; and the same without `.`.
const PART: &str = "[!-.0-\\[\\]-~]";
const PART_NOT_DOT: &str = "[!--0-\\[\\]-~]";

impl JsonSchema for EntryPath {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "EntryPath".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        // A part holds a character other than `.`, or is three dots or more.
        let part = format!("(?:{PART}*{PART_NOT_DOT}{PART}*|\\.{{3,}})");
        schemars::json_schema!({
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_PATH,
            "pattern": format!("^{part}(?:/{part})*$"),
            "description": "A relative path inside a bundle: printable ASCII parts joined by `/`, none empty, `.` or `..`, no backslash, each at most 255 bytes."
        })
    }
}

impl JsonSchema for Mode {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Mode".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "integer",
            "enum": Mode::ALLOWED,
            "description": "The mode of a bundle entry, in decimal: 420 (0644), 493 (0755) or 384 (0600)."
        })
    }
}

/// The mode of a bundle entry: only those meshbundle itself writes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mode(u32);

impl Mode {
    pub const FILE: Mode = Mode(0o644);
    pub const EXEC: Mode = Mode(0o755);
    pub const SECRET: Mode = Mode(0o600);
    /// The modes a bundle entry (always a file) may have; directories made
    /// when it is laid out are 0755, or 0700 when they hold a 0600 file.
    pub const ALLOWED: [u32; 3] = [0o644, 0o755, 0o600];

    pub fn new(mode: u32) -> Result<Mode, String> {
        if Self::ALLOWED.contains(&mode) {
            return Ok(Mode(mode));
        }
        if mode == 0o700 {
            return Err("mode 0700 is a directory's: a bundle entry is a file, 0644, 0755 or 0600".into());
        }
        let what = if mode & 0o7000 != 0 {
            " (setuid, setgid or sticky)"
        } else if mode & 0o002 != 0 {
            " (writable by anyone)"
        } else if mode & 0o020 != 0 {
            " (writable by its group)"
        } else {
            ""
        };
        Err(format!(
            "mode {mode:04o}{what} is not one meshbundle writes (0644, 0755 or 0600)"
        ))
    }

    pub fn bits(self) -> u32 {
        self.0
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

impl fmt::Debug for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mode({:04o})", self.0)
    }
}

impl PartialEq<u32> for Mode {
    fn eq(&self, other: &u32) -> bool {
        self.0 == *other
    }
}

impl Serialize for Mode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.0)
    }
}

impl<'de> Deserialize<'de> for Mode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Mode::new(u32::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Seal {
    #[schemars(extend("const" = FORMAT))]
    pub format: String,
    /// The meshbundle version that built it.
    pub meshbundle: String,
    pub site: String,
    /// The site spec, as written.
    pub spec: String,
    /// The lock, as written; absent for a bundle built without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<String>,
    /// Digest of the rendered tree, as `meshbundle render` prints it.
    pub tree_digest: Digest,
    pub secrets: SecretsInfo,
    pub images: Vec<SealImage>,
    pub files: Vec<SealFile>,
    pub certificates: Vec<SealCert>,
    /// What the bundle needs but does not carry.
    #[serde(default, skip_serializing_if = "NotCarried::is_empty")]
    pub not_carried: NotCarried,
    /// For a differential bundle: the bundle or lock it completes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<Base>,
    pub entries: Vec<SealEntry>,
}

/// What a bundle says of its private keys.
pub const PRIVATE_KEYS: [&str; 3] = ["none", "encrypted", "withheld"];

fn private_keys<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if PRIVATE_KEYS.contains(&s.as_str()) {
        Ok(s)
    } else {
        Err(serde::de::Error::custom(format!(
            "`{}` is not none, encrypted or withheld",
            shown(&s)
        )))
    }
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretsInfo {
    /// `none` (rendered without secrets), `encrypted` (private keys sealed
    /// with age), or `withheld` (certificates only, no private key);
    /// checked when read.
    #[serde(deserialize_with = "private_keys")]
    #[schemars(extend("enum" = PRIVATE_KEYS))]
    pub private_keys: String,
    /// The age recipients the private keys are encrypted to (`passphrase` for a passphrase).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<String>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SealImage {
    /// The upstream reference it was locked from (checked when read: an
    /// image reference, normalised as meshbundle writes it).
    #[serde(deserialize_with = "crate::image::as_written")]
    pub name: ImageRef,
    /// The reference the site uses: site registry, repository, tag and
    /// digest (checked when read: a normalised image reference, pinned to
    /// `digest`).
    #[serde(deserialize_with = "crate::image::as_written")]
    pub site: ImageRef,
    pub digest: Digest,
    /// Media type of what `digest` names (checked when read: type/subtype).
    pub media_type: MediaType,
    /// Every manifest of the image (top first).
    pub manifests: Vec<Digest>,
    /// Configs and layers.
    pub blobs: Vec<Digest>,
    /// Bytes of manifests and blobs.
    pub size: u64,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SealFile {
    /// Carried as `files/NAME`.
    pub name: EntryPath,
    #[serde(with = "crate::digest::bare")]
    #[schemars(schema_with = "crate::digest::bare::schema")]
    pub sha256: Digest,
    pub size: u64,
    pub url: String,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SealCert {
    pub name: String,
    pub subject: String,
    /// Unix seconds.
    pub not_after: u64,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NotCarried {
    /// Image references (checked when read, normalised as meshbundle writes them).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::image::as_written_list"
    )]
    pub images: Vec<ImageRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
}

impl NotCarried {
    pub fn is_empty(&self) -> bool {
        self.images.is_empty() && self.files.is_empty()
    }
}

/// `not carried: 3 images, 1 file (why)`.
impl fmt::Display for NotCarried {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = |n: usize, one: &str| {
            if n == 1 {
                format!("1 {one}")
            } else {
                format!("{n} {one}s")
            }
        };
        write!(
            f,
            "not carried: {}, {} ({})",
            count(self.images.len(), "image"),
            count(self.files.len(), "file"),
            self.reason
        )
    }
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Base {
    /// The bundle id (or lock sha256) this one completes.
    pub id: Digest,
    /// Blobs the images need that the base carries, not this bundle.
    pub blobs: Vec<Digest>,
    /// Files (by name) the base carries.
    pub files: Vec<EntryPath>,
    /// For an upgrade from a bundle: the versions its site runs, read from
    /// that bundle's verified seal (`from.bundle` is `id`). Absent when the
    /// base is a lock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<UpgradeFrom>,
}

#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase", try_from = "RawEntry")]
pub struct SealEntry {
    pub path: EntryPath,
    pub size: u64,
    pub mode: Mode,
    /// Hex sha256 of the content.
    #[serde(with = "crate::digest::bare")]
    #[schemars(schema_with = "crate::digest::bare::schema")]
    pub sha256: Digest,
}

/// An entry as written, checked into a [`SealEntry`] so that a bad mode or
/// sha256 is reported with the entry's path.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(description = "A file of the bundle: its path, size in bytes, mode and sha256.")]
struct RawEntry {
    path: EntryPath,
    size: u64,
    #[schemars(with = "Mode")]
    mode: u32,
    #[schemars(schema_with = "crate::digest::bare::schema")]
    sha256: String,
}

impl SealEntry {
    /// An entry, checked as a reader of the seal checks it.
    pub fn new(path: String, size: u64, mode: u32, sha256_hex: &str) -> Result<SealEntry, String> {
        let path = EntryPath::parse(&path)?;
        SealEntry::try_from(RawEntry {
            path,
            size,
            mode,
            sha256: sha256_hex.to_string(),
        })
    }
}

impl TryFrom<RawEntry> for SealEntry {
    type Error = String;
    fn try_from(r: RawEntry) -> Result<SealEntry, String> {
        let mode = Mode::new(r.mode).map_err(|e| format!("{}: {e}", r.path))?;
        let sha256 = Digest::from_hex(&r.sha256).map_err(|e| format!("{}: sha256: {e}", r.path))?;
        Ok(SealEntry {
            path: r.path,
            size: r.size,
            mode,
            sha256,
        })
    }
}

impl Seal {
    /// Why this bundle cannot install its site, one reason each; empty when
    /// it can. Images or files not carried (the static meshbundle aside: the
    /// site runs one already to import) and a tree without the join
    /// configurations and CA keys (built without `--secrets`, or with
    /// `--no-private-keys`) each stop an install.
    pub fn cannot_install(&self) -> Vec<String> {
        let mut why = Vec::new();
        let plural = |n: usize, one: &str| {
            if n == 1 {
                format!("1 {one}")
            } else {
                format!("{n} {one}s")
            }
        };
        if !self.not_carried.images.is_empty() {
            why.push(format!(
                "{} it needs are not carried",
                plural(self.not_carried.images.len(), "image")
            ));
        }
        let files: Vec<&str> = self
            .not_carried
            .files
            .iter()
            .map(String::as_str)
            .filter(|f| *f != "bin/meshbundle")
            .collect();
        if !files.is_empty() {
            let shown: Vec<&str> = files.iter().take(3).copied().collect();
            let more = if files.len() > 3 { ", ..." } else { "" };
            why.push(format!(
                "{} it needs are not carried ({}{more})",
                plural(files.len(), "file"),
                shown.join(", ")
            ));
        }
        match self.secrets.private_keys.as_str() {
            "none" => {
                why.push("it was built without --secrets: no join configuration for the other nodes, no CA".into())
            }
            "withheld" => why.push("it was built with --no-private-keys: no join configuration, no CA key".into()),
            _ => {}
        }
        why
    }

    /// The canonical bytes: compact JSON in the field order above, entries sorted.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// `sha256:` of the canonical seal: the bundle id.
    pub fn id_of(bytes: &[u8]) -> Digest {
        Digest::of(bytes)
    }

    /// Reads a seal, checking every path, mode and digest as it goes, then
    /// what needs the whole seal ([`Seal::check`]). The error names the field
    /// (`entries[3]: tree/x.sh: mode 04755 ...`).
    pub fn parse(bytes: &[u8]) -> Result<Seal, String> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let seal: Seal = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            // serde_json's position is of no use to anyone reading the message.
            let mut msg = inner.to_string();
            if let Some(i) = msg.rfind(" at line ") {
                msg.truncate(i);
            }
            match inner.classify() {
                serde_json::error::Category::Data if path != "." => format!("{path}: {msg}"),
                serde_json::error::Category::Data => msg,
                _ => format!("not valid JSON ({msg})"),
            }
        })?;
        de.end().map_err(|_| "data after the JSON document".to_string())?;
        seal.check()?;
        // One seal, one id: the bytes must be the canonical form meshbundle
        // writes, so nobody can give the same content another bundle id.
        if seal.to_bytes() != bytes {
            return Err(
                "not in canonical form (compact JSON, fields in meshbundle's order, no escapes it would not write): \
                        the seal was rewritten after it was built"
                    .into(),
            );
        }
        Ok(seal)
    }

    /// The checks that need the whole seal: entries in strict path order,
    /// under `bin/`, `files/`, `images/` or `tree/`; no entry inside another
    /// (`tree/a` and `tree/a/b`); file names unique; every base file among
    /// the files; every image with its manifests.
    pub fn check(&self) -> Result<(), String> {
        for w in self.entries.windows(2) {
            if w[0].path >= w[1].path {
                return Err(format!(
                    "entries: `{}` and `{}` are not in strict path order (a duplicate?)",
                    w[0].path, w[1].path
                ));
            }
        }
        let paths: BTreeSet<&str> = self.entries.iter().map(|e| e.path.as_str()).collect();
        for e in &self.entries {
            if !["bin/", "files/", "images/", "tree/"]
                .iter()
                .any(|p| e.path.starts_with(p))
            {
                return Err(format!("entries: {}: not under bin/, files/, images/ or tree/", e.path));
            }
            if let Some(dir) = e.path.parents().find(|p| paths.contains(p)) {
                return Err(format!(
                    "entries: {}: lies inside the entry `{dir}`, which is a file",
                    e.path
                ));
            }
        }
        let mut names = BTreeSet::new();
        for f in &self.files {
            if !names.insert(f.name.as_str()) {
                return Err(format!("files: {}: listed twice", f.name));
            }
        }
        if let Some(b) = &self.base {
            if let Some(from) = &b.from
                && from.bundle != b.id
            {
                return Err(format!(
                    "base.from.bundle: {} is not the base's id {}",
                    from.bundle, b.id
                ));
            }
            for name in &b.files {
                if !names.contains(name.as_str()) {
                    return Err(format!(
                        "base.files: {name}: not among the seal's files, so its sha256 is unknown"
                    ));
                }
            }
        }
        for i in &self.images {
            if i.manifests.is_empty() {
                return Err(format!("images: {}: lists no manifest", i.name));
            }
            // The site pulls by this reference: it must name the digest the seal vouches for.
            if i.site.digest.as_ref() != Some(&i.digest) {
                return Err(format!(
                    "images: {}: the site reference `{}` is not pinned to the image's digest {}",
                    i.name, i.site, i.digest
                ));
            }
        }
        self.check_text()?;
        self.check_landing()
    }

    /// Every one-line text of the seal that `verify`, `inspect` or `import`
    /// print holds no control, bidirectional or other invisible character,
    /// so a seal cannot rewrite what the terminal shows (say, a fake
    /// "verified" line). Image references and media types need no check
    /// here: their types admit only short printable ASCII.
    fn check_text(&self) -> Result<(), String> {
        let mut fields: Vec<(String, &str)> = vec![
            ("format".into(), &self.format),
            ("meshbundle".into(), &self.meshbundle),
            ("site".into(), &self.site),
            ("secrets.privateKeys".into(), &self.secrets.private_keys),
            ("notCarried.reason".into(), &self.not_carried.reason),
        ];
        for (i, r) in self.secrets.recipients.iter().enumerate() {
            fields.push((format!("secrets.recipients[{i}]"), r));
        }
        for (i, f) in self.files.iter().enumerate() {
            fields.push((format!("files[{i}].url"), &f.url));
        }
        for (i, c) in self.certificates.iter().enumerate() {
            fields.push((format!("certificates[{i}].name"), &c.name));
            fields.push((format!("certificates[{i}].subject"), &c.subject));
        }
        for (i, n) in self.not_carried.files.iter().enumerate() {
            fields.push((format!("notCarried.files[{i}]"), n));
        }
        for (field, text) in fields {
            if text.len() > MAX_TEXT {
                return Err(format!("{field}: longer than {MAX_TEXT} bytes"));
            }
            if let Some(c) = text.chars().find(|c| invisible(*c)) {
                return Err(format!(
                    "{field}: `{}` holds the character {:?}, which a terminal would act on or hide",
                    shown(text),
                    c
                ));
            }
        }
        Ok(())
    }

    /// What `import --extract` writes must be as unambiguous as the entries:
    /// `tree/` is dropped and a sealed `.age` file may lose its suffix, so two
    /// entries must not land on one path, or one inside the other, either
    /// way; and nothing may take a name meshbundle keeps for itself
    /// (`.meshbundle`, `.meshbundle-*`) at the top of the tree.
    fn check_landing(&self) -> Result<(), String> {
        let mut landing: BTreeMap<String, &str> = BTreeMap::new();
        for e in &self.entries {
            let Some(rel) = lands_at(e.path.as_str()) else { continue };
            let mut forms = vec![rel.to_string()];
            if e.mode == Mode::SECRET
                && e.path.starts_with("tree/")
                && let Some(plain) = rel.strip_suffix(".age")
                && !plain.is_empty()
                && !plain.ends_with('/')
            {
                forms.push(plain.to_string());
            }
            for form in forms {
                let top = form.split('/').next().unwrap_or_default();
                if top == ".meshbundle" || top.starts_with(".meshbundle-") {
                    return Err(format!(
                        "entries: {}: lands on `{top}`, a name meshbundle keeps for itself",
                        e.path
                    ));
                }
                if let Some(other) = landing.insert(form.clone(), e.path.as_str())
                    && other != e.path.as_str()
                {
                    return Err(format!(
                        "entries: {} and {} both land on `{form}` when laid out",
                        other, e.path
                    ));
                }
            }
        }
        for (form, path) in &landing {
            let mut parent = form.as_str();
            while let Some((p, _)) = parent.rsplit_once('/') {
                if let Some(other) = landing.get(p) {
                    return Err(format!(
                        "entries: {path} lands inside `{p}`, where {other} lands as a file"
                    ));
                }
                parent = p;
            }
        }
        Ok(())
    }

    pub fn total_size(&self) -> u64 {
        self.entries.iter().map(|e| e.size).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_paths_stay_inside() {
        for ok in [
            "tree/install.sh",
            "files/manifest/flannel",
            "a",
            "tree/common/etc/containerd/certs.d/192.168.56.10:5000/hosts.toml",
        ] {
            assert!(EntryPath::parse(ok).is_ok(), "{ok}");
        }
        let long_part = format!("tree/{}", "x".repeat(256));
        let long = "a/".repeat(600);
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "tree/../../x",
            "tree/..",
            "tree//x",
            "tree/./x",
            "./tree",
            "tree/",
            "tree\\x",
            "tree/\0x",
            "tree/x\ny",
            &long_part,
            &long,
        ] {
            assert!(EntryPath::parse(bad).is_err(), "{bad:?}");
            assert!(
                serde_json::from_str::<EntryPath>(&serde_json::to_string(bad).unwrap()).is_err(),
                "{bad:?}"
            );
        }
        let a = EntryPath::parse("tree/a").unwrap();
        assert!(a.contains(&EntryPath::parse("tree/a/b").unwrap()));
        assert!(!a.contains(&EntryPath::parse("tree/ab").unwrap()));
        assert_eq!(
            EntryPath::parse("a/b/c").unwrap().parents().collect::<Vec<_>>(),
            ["a", "a/b"]
        );
    }

    #[test]
    fn only_the_modes_meshbundle_writes() {
        for m in [0o644, 0o755, 0o600] {
            assert_eq!(Mode::new(m).unwrap().bits(), m);
        }
        // A directory's mode: no entry of a bundle is a directory.
        assert!(Mode::new(0o700).unwrap_err().contains("directory"));
        for (m, why) in [
            (0o4755, "setuid"),
            (0o2755, "setuid, setgid"),
            (0o666, "anyone"),
            (0o777, "anyone"),
            (0o664, "group"),
            (0o444, ""),
        ] {
            let e = Mode::new(m).unwrap_err();
            assert!(e.contains(why) && e.contains(&format!("{m:04o}")), "{e}");
        }
        assert!(serde_json::from_str::<Mode>("2541").is_err(), "0o4755");
        assert_eq!(serde_json::to_string(&Mode::EXEC).unwrap(), "493");
    }

    fn seal_json(entries: &str, extra: &str) -> String {
        let d = format!("sha256:{}", "a".repeat(64));
        format!(
            r#"{{"format":"meshbundle.dev/bundle/v1","meshbundle":"x","site":"s","spec":"","treeDigest":"{d}","secrets":{{"privateKeys":"none"}},"images":[],"files":[],"certificates":[],{extra}"entries":[{entries}]}}"#
        )
    }

    #[test]
    fn a_bad_seal_names_the_field() {
        let h = "b".repeat(64);
        let ok = seal_json(
            &format!(r#"{{"path":"tree/a","size":1,"mode":420,"sha256":"{h}"}}"#),
            "",
        );
        let seal = Seal::parse(ok.as_bytes()).unwrap();
        assert_eq!(seal.to_bytes(), ok.as_bytes(), "the bytes of a valid seal are kept");
        let cases = [
            (
                seal_json(
                    &format!(r#"{{"path":"tree/a","size":1,"mode":2541,"sha256":"{h}"}}"#),
                    "",
                ),
                "entries[0]: tree/a: mode 4755",
            ),
            (
                seal_json(
                    &format!(
                        r#"{{"path":"tree/a","size":1,"mode":420,"sha256":"{}"}}"#,
                        h.to_uppercase()
                    ),
                    "",
                ),
                "entries[0]: tree/a: sha256",
            ),
            (
                seal_json(
                    &format!(r#"{{"path":"tree/../a","size":1,"mode":420,"sha256":"{h}"}}"#),
                    "",
                ),
                "entries[0].path",
            ),
            (
                seal_json(
                    &format!(
                        r#"{{"path":"tree/a","size":1,"mode":420,"sha256":"{h}"}},{{"path":"tree/a/b","size":1,"mode":420,"sha256":"{h}"}}"#
                    ),
                    "",
                ),
                "tree/a/b: lies inside the entry `tree/a`",
            ),
            (
                seal_json(
                    &format!(
                        r#"{{"path":"tree/b","size":1,"mode":420,"sha256":"{h}"}},{{"path":"tree/a","size":1,"mode":420,"sha256":"{h}"}}"#
                    ),
                    "",
                ),
                "not in strict path order",
            ),
            (
                seal_json(&format!(r#"{{"path":"etc/a","size":1,"mode":420,"sha256":"{h}"}}"#), ""),
                "not under bin/",
            ),
            (
                seal_json("", r#""base":{"id":"$(id)","blobs":[],"files":[]},"#),
                "base.id",
            ),
            (
                seal_json(
                    "",
                    &format!(r#""base":{{"id":"sha256:{h}","blobs":[],"files":["../x"]}},"#),
                ),
                "base.files[0]",
            ),
            (
                seal_json(
                    "",
                    &format!(r#""base":{{"id":"sha256:{h}","blobs":[],"files":["k"]}},"#),
                ),
                "base.files: k",
            ),
            (
                seal_json(
                    "",
                    &format!(
                        r#""base":{{"id":"sha256:{h}","blobs":[],"files":[],"from":{{"bundle":"sha256:{h}","kubernetes":"1.36.3","containerd":"2.2.3","istio":"1.30.3;id","revision":"1-30-3"}}}},"#
                    ),
                ),
                "base.from.istio",
            ),
            (
                seal_json(
                    "",
                    &format!(
                        r#""base":{{"id":"sha256:{h}","blobs":[],"files":[],"from":{{"bundle":"sha256:{}","kubernetes":"1.36.3","containerd":"2.2.3","istio":"1.30.3","revision":"1-30-3"}}}},"#,
                        "c".repeat(64)
                    ),
                ),
                "base.from.bundle",
            ),
            (ok[..ok.len() / 2].to_string(), "not valid JSON"),
        ];
        for (json, want) in cases {
            let e = Seal::parse(json.as_bytes()).unwrap_err();
            assert!(e.contains(want), "expected `{want}` in: {e}");
            assert!(!e.contains(" at line "), "{e}");
        }
    }
}
