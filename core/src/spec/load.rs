//! Reading a spec from YAML text: every problem at once, each with its field
//! path and its line and column.
//!
//! The text is parsed once into a tree that remembers where every key and item
//! was (serde-saphyr's `Spanned`), turned into a JSON value, and then read into
//! the typed [`Site`]. Unknown fields and wrongly typed values are collected one
//! by one: each is reported, removed, and the read tried again, so a spec with
//! three misspelt fields gets three diagnostics, not one.

use std::collections::HashMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use serde_saphyr::{Spanned, Tagged};

use super::structure::{self, Found, Issue};
use super::{API_VERSION, KIND, Site};
use crate::diag::{self, Code, Diagnostic};

/// Largest spec accepted. A real site spec is a few kilobytes.
pub const MAX_SPEC_BYTES: usize = 1024 * 1024;

/// Give up collecting structural problems after this many.
const MAX_STRUCTURAL: usize = 100;

/// Where each field path is in the source text (1-based line and column).
#[derive(Debug, Default, Clone)]
pub struct Positions {
    at: HashMap<String, (u32, u32)>,
    /// The source text of scalars that YAML read as numbers or booleans.
    raw: HashMap<String, String>,
}

impl Positions {
    /// The position of `path`, or of its nearest ancestor that has one.
    pub fn find(&self, path: &str) -> Option<(u32, u32)> {
        let mut p = path.to_string();
        loop {
            if let Some(pos) = self.at.get(&p) {
                return Some(*pos);
            }
            if p.is_empty() {
                return None;
            }
            p = parent(&p);
        }
    }

    /// Fills in line and column of diagnostics that have none.
    pub fn locate(&self, diags: &mut [Diagnostic]) {
        for d in diags.iter_mut().filter(|d| d.line == 0) {
            if let Some((l, c)) = self.find(&d.path) {
                d.line = l;
                d.column = c;
            }
        }
    }
}

fn parent(path: &str) -> String {
    // Strip the last `.key`, `[3]` or `["key"]` segment.
    if path.ends_with(']') {
        let mut depth_quote = false;
        for (i, ch) in path.char_indices().rev().skip(1) {
            if ch == '"' {
                depth_quote = !depth_quote;
            }
            if ch == '[' && !depth_quote {
                return path[..i].to_string();
            }
        }
        return String::new();
    }
    match path.rfind(['.', '[']) {
        Some(i) => path[..i].to_string(),
        None => String::new(),
    }
}

/// The outcome of reading a spec: the typed site when it could be read, and
/// every diagnostic (parse, structure, and semantic validation).
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub site: Option<Site>,
    pub diagnostics: Vec<Diagnostic>,
    pub positions: Positions,
    /// The values as written at the fields the structure check refused and
    /// read as their default or a stand-in (`replicas: lots` read as 2), by
    /// field path: a form shows what was written there, not the default.
    pub as_written: Vec<(String, Value)>,
}

impl Loaded {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// The site, when it was read and has no errors.
    pub fn valid_site(&self) -> Option<&Site> {
        if self.has_errors() { None } else { self.site.as_ref() }
    }
}

/// Reads and validates a spec from bytes (checks size and encoding first).
pub fn load_bytes(bytes: &[u8]) -> Loaded {
    match text_of(bytes) {
        Ok(text) => load(text),
        Err(d) => Loaded {
            diagnostics: vec![d],
            ..Loaded::default()
        },
    }
}

fn text_of(bytes: &[u8]) -> Result<&str, Diagnostic> {
    if bytes.len() > MAX_SPEC_BYTES {
        return Err(Diagnostic::error(
            Code::TooLarge,
            "",
            // A reader may stop after the limit: the size is not known.
            format!("the file is larger than {MAX_SPEC_BYTES} bytes (1 MiB), the most a site spec may be"),
            "check that this is the right file: a site spec is a few kilobytes of YAML",
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        Diagnostic::error(
            Code::NotText,
            "",
            format!(
                "the file is not UTF-8 text (invalid byte at offset {})",
                e.valid_up_to()
            ),
            "a site spec is a YAML text file; save it as UTF-8",
        )
    })?;
    // A NUL byte is refused as the YAML is read (`parse_yaml`), with its line.
    Ok(text)
}

/// Reads and validates a spec from YAML text.
///
/// A spec is first read straight into JSON (`super::direct` for plain
/// YAML, else serde's reader of `yaml_to_value` when it holds no tag; both
/// mean what the strict one does), and validated without positions: when that finds nothing to say, it is the
/// outcome. Otherwise the spec is read again the strict way, which keeps
/// every field's line and column for the diagnostics (`load_strict`). A
/// valid spec, what the configurator reads at every keystroke, loads in
/// about two thirds of the time.
pub fn load(text: &str) -> Loaded {
    if let Some(early) = unreadable(text) {
        return early;
    }
    if let Some(value) = super::direct::read(text).or_else(|| {
        (!may_hold_tag(text))
            .then(|| serde_saphyr::from_str_with_options::<Plain>(text, reader_options()).ok())
            .flatten()
            .map(|Plain(v)| v)
    }) {
        let quick = validate_value(value, Positions::default(), None, true);
        if quick.diagnostics.is_empty() {
            return quick;
        }
    }
    load_strict(text)
}

/// The outcome when `text` cannot be a spec at all (too large, not text,
/// empty), before YAML is read.
fn unreadable(text: &str) -> Option<Loaded> {
    let out = |d: Diagnostic| Loaded {
        diagnostics: vec![d],
        ..Loaded::default()
    };
    if let Err(d) = text_of(text.as_bytes()) {
        return Some(out(d));
    }
    if text.trim().is_empty()
        || text
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Some(out(Diagnostic::error(
            Code::Empty,
            "",
            if text.trim().is_empty() {
                "the file is empty"
            } else {
                "the file holds only comments: no spec is written in it"
            },
            "start from `meshbundle init`, which writes a complete, commented spec",
        )));
    }
    None
}

/// [`load`] the strict way: the YAML read with the line and column of
/// every field, which the diagnostics carry.
fn load_strict(text: &str) -> Loaded {
    if let Some(early) = unreadable(text) {
        return early;
    }
    let raw = match parse_yaml(text) {
        Ok(raw) => raw,
        Err(d) => {
            return Loaded {
                diagnostics: vec![d],
                ..Loaded::default()
            };
        }
    };
    let mut positions = Positions::default();
    let value = to_json(&raw, "", text, Some(&mut positions));
    let at = (raw.referenced.line() as u32, raw.referenced.column() as u32);
    validate_value(value, positions, Some(at), false)
}

/// Validates the spec as read (`value`); `positions` places the
/// diagnostics, and `at` is where the document starts (for a document that
/// is not a mapping). `quick`: stop at the first stage that finds a problem
/// (the caller reads the spec again the strict way then).
fn validate_value(mut value: Value, positions: Positions, at: Option<(u32, u32)>, quick: bool) -> Loaded {
    let mut out = Loaded {
        positions,
        ..Loaded::default()
    };
    let Value::Object(top) = &value else {
        let (l, c) = at.unwrap_or((0, 0));
        out.diagnostics.push(
            Diagnostic::error(
                Code::NotAMapping,
                "",
                format!("the document is {}, not a mapping", kind_of(&value)),
                "a site spec is a YAML mapping that starts with `apiVersion: meshbundle.dev/v1alpha1` and `kind: Site`",
            )
            .at(l, c),
        );
        return out;
    };
    check_header(top, &mut out.diagnostics);
    // A secrets file or a lock given as the spec: that is the one problem
    // (what the spec's checks would say of its fields is beside the point).
    if out
        .diagnostics
        .iter()
        .any(|d| d.code == Code::Kind && d.message.starts_with("this is a"))
    {
        out.positions.locate(&mut out.diagnostics);
        return out;
    }

    fill_defaults(&mut value);
    if quick && !out.diagnostics.is_empty() {
        return out;
    }
    let (site, structural, fixed) = read_typed(&mut value, &out.positions, &mut out.as_written);
    out.diagnostics.extend(structural);
    if quick && !out.diagnostics.is_empty() {
        return out;
    }
    if let Some(site) = &site {
        // A field the structural check removed reads as its default (or a
        // stand-in), so what
        // the semantic checks say about it, or about what holds it, would be
        // about a spec the user did not write (an invalid `role` counted as a
        // control-plane node): those wait until the field is fixed.
        let semantic = crate::validate::check(site);
        out.diagnostics.extend(
            semantic
                .into_iter()
                .filter(|d| !fixed.iter().any(|f| related(&d.path, f))),
        );
    }
    out.site = site;
    out.positions.locate(&mut out.diagnostics);
    tidy(&mut out.diagnostics);
    out
}

/// Whether one field path lies inside the other (or is the same).
fn related(a: &str, b: &str) -> bool {
    let inside = |inner: &str, outer: &str| {
        outer.is_empty()
            || inner == outer
            || (inner.starts_with(outer) && matches!(inner.as_bytes().get(outer.len()), Some(b'.' | b'[')))
    };
    inside(a, b) || inside(b, a)
}

/// One message per problem, in the order of the file: drops a "quote it"
/// when the quoted text is wrong too (the other error says why), and "`X` is
/// required" when an unknown field next to it is a misspelt `X`; then sorts
/// by line (document-wide problems, with no line, first).
fn tidy(diags: &mut Vec<Diagnostic>) {
    let quote_fix = |d: &Diagnostic| d.code == Code::InvalidType && d.hint.starts_with("quote it");
    let parent = |p: &str| p.rfind(['.', '[']).map(|i| p[..i].to_string()).unwrap_or_default();
    let last = |p: &str| p.rsplit('.').next().unwrap_or(p).to_string();
    let keep: Vec<bool> = diags
        .iter()
        .map(|d| {
            if quote_fix(d) && diags.iter().any(|o| o.is_error() && !quote_fix(o) && o.path == d.path) {
                return false;
            }
            if d.code == Code::MissingField {
                let misspelt = format!("did you mean `{}`", last(&d.path));
                return !diags.iter().any(|o| {
                    o.code == Code::UnknownField && parent(&o.path) == parent(&d.path) && o.hint.contains(&misspelt)
                });
            }
            true
        })
        .collect();
    let mut k = keep.into_iter();
    diags.retain(|_| k.next().unwrap_or(true));
    diags.sort_by_key(|d| (d.line, d.column));
}

fn check_header(top: &Map<String, Value>, diags: &mut Vec<Diagnostic>) {
    match top.get("apiVersion") {
        Some(Value::String(v)) if v == API_VERSION => {}
        Some(Value::String(v)) => diags.push(Diagnostic::error(
            Code::ApiVersion,
            "apiVersion",
            format!("`{v}` is not an apiVersion this meshbundle reads"),
            format!("use `apiVersion: {API_VERSION}`"),
        )),
        _ => {}
    }
    match top.get("kind") {
        Some(Value::String(k)) if k == KIND => {}
        Some(Value::String(k)) if k == crate::pki::secrets::SECRETS_KIND => diags.push(Diagnostic::error(
            Code::Kind,
            "kind",
            "this is a site secrets file, not a spec",
            "give it as the secrets file (`--secrets FILE`; in the configurator, Secrets file…), and keep it private",
        )),
        Some(Value::String(k)) if k == crate::lock::LOCK_KIND => diags.push(Diagnostic::error(
            Code::Kind,
            "kind",
            "this is a lock, not a spec",
            "give it as the lock (`--lock FILE`; in the configurator, Lock file…)",
        )),
        Some(Value::String(k)) => diags.push(Diagnostic::error(
            Code::Kind,
            "kind",
            format!("`{k}` is not a kind this meshbundle reads"),
            format!("use `kind: {KIND}`"),
        )),
        _ => {}
    }
}

/// Reads the typed site. The structural check against the schema finds every
/// unknown field, wrong type and invalid choice at once; each is reported,
/// then removed (or, for text written as a number, replaced by its text) so
/// the site can still be read and semantic validation can still run.
fn read_typed(
    value: &mut Value,
    pos: &Positions,
    as_written: &mut Vec<(String, Value)>,
) -> (Option<Site>, Vec<Diagnostic>, Vec<String>) {
    let root = structure::site_schema();
    let mut found = Vec::new();
    structure::check(root, root, value, "", &mut found);
    found.truncate(MAX_STRUCTURAL);
    let mut diags = Vec::new();
    let mut fixed = Vec::new();
    let mut readable = true;
    for f in found {
        // The header check says these better.
        if (f.path == "apiVersion" || f.path == "kind") && matches!(f.issue, Issue::NotAChoice { .. }) {
            continue;
        }
        let fix = structural_diagnostic(f, value, pos);
        diags.push(fix.diagnostic);
        if let Action::Remove(p) | Action::StandIn(p, _) = &fix.action
            && let Some(v) = value_at(value, p)
        {
            as_written.push((p.clone(), v.clone()));
        }
        match fix.action {
            Action::Remove(p) => {
                readable &= remove_at(value, &p);
                fixed.push(p);
            }
            // Text written as a number is read as the text it means: the
            // semantic checks of it stand.
            Action::Replace(p, v) => readable &= replace_at(value, &p, v),
            Action::StandIn(p, v) => {
                readable &= replace_at(value, &p, v);
                fixed.push(p);
            }
            Action::Stop => readable = false,
        }
    }
    if !readable {
        return (None, diags, fixed);
    }
    // Typed values (digests) check themselves as they are read; the first
    // that fails is reported at its field.
    match crate::value_de::from_value::<Site>(value.clone()) {
        Ok(site) => (Some(site), diags, fixed),
        Err(e) => {
            let path = e.path;
            let path = if path == "." { String::new() } else { path };
            // A field removed above may leave its parent without a required
            // field: that is the same problem, said already.
            if !diags.iter().any(|d| related(&d.path, &path)) {
                let hint = if path.ends_with("sha256") {
                    "write the 64 lower-case hex digits the publisher's checksum file gives"
                } else {
                    "see `meshbundle schema` for the allowed values"
                };
                diags.push(Diagnostic::error(
                    Code::InvalidValue,
                    path,
                    crate::yaml::plain(&e.error.to_string()),
                    hint,
                ));
            }
            (None, diags, fixed)
        }
    }
}

enum Action {
    Remove(String),
    /// Text written as a number, read as the text it means.
    Replace(String, Value),
    /// A valid value standing in for an invalid one, so the rest is checked.
    StandIn(String, Value),
    Stop,
}

struct Fix {
    diagnostic: Diagnostic,
    action: Action,
}

fn structural_diagnostic(f: Found, value: &Value, pos: &Positions) -> Fix {
    let path = f.path;
    match f.issue {
        Issue::UnknownField { name, known } => {
            let hint = match did_you_mean(&name, &known) {
                Some(s) => format!("did you mean `{s}`?"),
                None if known.is_empty() => "remove it".to_string(),
                None => format!("remove it; the fields here are {}", list(&known)),
            };
            let diagnostic = Diagnostic::error(
                Code::UnknownField,
                path.clone(),
                format!("unknown field `{name}`"),
                hint,
            );
            Fix {
                diagnostic,
                action: Action::Remove(path),
            }
        }
        Issue::Missing { name } => {
            let field_path = diag::join(&path, &name);
            let hint = match name.as_str() {
                "nodes" => "list the machines of the site under `spec.nodes` (see `meshbundle init`)".to_string(),
                "registry" => "set `spec.registry` to the site registry as `host:port`".to_string(),
                _ => format!("add `{name}`"),
            };
            let diagnostic = Diagnostic::error(Code::MissingField, field_path, format!("`{name}` is required"), hint);
            Fix {
                diagnostic,
                action: Action::Stop,
            }
        }
        Issue::NotAChoice { found, choices } => {
            let hint = if found == "master" {
                "the `master` role was renamed `control-plane` (Kubernetes 1.24 removed the old label)".to_string()
            } else {
                match did_you_mean(&found, &choices) {
                    Some(s) => format!("did you mean `{s}`? The choices are {}", list(&choices)),
                    None => format!("the choices are {}", list(&choices)),
                }
            };
            let diagnostic = Diagnostic::error(
                Code::InvalidValue,
                path.clone(),
                format!("`{found}` is not a valid value"),
                hint,
            );
            // Stand in the first choice so the rest of the spec is still checked.
            let action = match choices.first() {
                Some(first) => Action::StandIn(path, Value::String(first.clone())),
                None => Action::Remove(path),
            };
            Fix { diagnostic, action }
        }
        Issue::WrongType { expected, found } => {
            let current = lookup(value, &path);
            if expected.contains("text")
                && let (Some(text), Some(Value::Number(_) | Value::Bool(_))) = (pos.raw.get(&path), current)
            {
                let diagnostic = Diagnostic::error(
                    Code::InvalidType,
                    path.clone(),
                    format!("`{text}` is read as {}, not as text", with_article(found)),
                    format!("quote it: \"{text}\""),
                );
                return Fix {
                    diagnostic,
                    action: Action::Replace(path, Value::String(text.clone())),
                };
            }
            let hint = match (expected.as_str(), found) {
                ("true or false", "string") => "write true or false, without quotes".to_string(),
                _ => format!("write {expected}"),
            };
            let shown = match current {
                Some(Value::String(s)) => format!("`{s}`"),
                Some(v @ (Value::Number(_) | Value::Bool(_))) => format!("`{v}`"),
                _ => with_article(found),
            };
            let diagnostic = Diagnostic::error(
                Code::InvalidType,
                path.clone(),
                format!("expected {expected}, found {shown}"),
                hint,
            );
            Fix {
                diagnostic,
                action: Action::Remove(path),
            }
        }
        Issue::OutOfRange { found, range } => {
            let (message, hint) = match range.split_once(" to ") {
                Some(("0", _)) if found.starts_with('-') => {
                    (format!("{found} is negative"), "use 0 or more".to_string())
                }
                Some((_, max)) if max.len() >= 10 => (format!("{found} is too large"), format!("use at most {max}")),
                _ => (format!("{found} is out of range"), format!("use a value from {range}")),
            };
            let diagnostic = Diagnostic::error(Code::InvalidValue, path.clone(), message, hint);
            Fix {
                diagnostic,
                action: Action::Remove(path),
            }
        }
    }
}

/// `a list`, `an integer`: a kind of value as a sentence names it.
fn with_article(kind: &str) -> String {
    let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {kind}")
}

fn list(names: &[String]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

/// The closest known name, when one is close enough to be a likely typo.
pub fn did_you_mean(name: &str, candidates: &[String]) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(&lower, &c.to_ascii_lowercase()), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c.clone())
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "empty",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

// ------------------------------------------------------------ path access

enum Seg {
    Key(String),
    Index(usize),
}

fn segments(path: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    let b = path.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'.' => i += 1,
            b'[' => {
                if b.get(i + 1) == Some(&b'"') {
                    // A JSON string up to the closing `"]`.
                    let rest = &path[i + 1..];
                    let mut de = serde_json::Deserializer::from_str(rest).into_iter::<String>();
                    if let Some(Ok(k)) = de.next() {
                        let used = de.byte_offset();
                        out.push(Seg::Key(k));
                        i += 1 + used + 1;
                    } else {
                        break;
                    }
                } else {
                    let end = path[i..].find(']').map(|e| i + e).unwrap_or(b.len());
                    out.push(Seg::Index(path[i + 1..end].parse().unwrap_or(usize::MAX)));
                    i = end + 1;
                }
            }
            _ => {
                let end = path[i..].find(['.', '[']).map(|e| i + e).unwrap_or(b.len());
                out.push(Seg::Key(path[i..end].to_string()));
                i = end;
            }
        }
    }
    out
}

fn lookup<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    let mut v = value;
    for seg in segments(path) {
        v = match (seg, v) {
            (Seg::Key(k), Value::Object(m)) => m.get(&k)?,
            (Seg::Index(i), Value::Array(a)) => a.get(i)?,
            _ => return None,
        };
    }
    Some(v)
}

fn remove_at(value: &mut Value, path: &str) -> bool {
    let mut segs = segments(path);
    let Some(last) = segs.pop() else { return false };
    let mut v = value;
    for seg in segs {
        v = match (seg, v) {
            (Seg::Key(k), Value::Object(m)) => match m.get_mut(&k) {
                Some(x) => x,
                None => return false,
            },
            (Seg::Index(i), Value::Array(a)) => match a.get_mut(i) {
                Some(x) => x,
                None => return false,
            },
            _ => return false,
        };
    }
    match (last, v) {
        (Seg::Key(k), Value::Object(m)) => m.shift_remove(&k).is_some(),
        // An item can't be dropped without renumbering its siblings; blank it
        // to null so the next read reports its own problem, or stop.
        (Seg::Index(i), Value::Array(a)) if i < a.len() => {
            if a[i].is_null() {
                false
            } else {
                a[i] = Value::Null;
                true
            }
        }
        _ => false,
    }
}

fn value_at<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    let mut v = value;
    for seg in segments(path) {
        v = match (seg, v) {
            (Seg::Key(k), Value::Object(m)) => m.get(&k)?,
            (Seg::Index(i), Value::Array(a)) => a.get(i)?,
            _ => return None,
        };
    }
    Some(v)
}

fn replace_at(value: &mut Value, path: &str, new: Value) -> bool {
    let mut v = value;
    for seg in segments(path) {
        v = match (seg, v) {
            (Seg::Key(k), Value::Object(m)) => match m.get_mut(&k) {
                Some(x) => x,
                None => return false,
            },
            (Seg::Index(i), Value::Array(a)) => match a.get_mut(i) {
                Some(x) => x,
                None => return false,
            },
            _ => return false,
        };
    }
    if *v == new {
        return false;
    }
    *v = new;
    true
}

// ------------------------------------------------------------ YAML with positions

/// A YAML node with the positions of its keys and items.
#[derive(Debug)]
enum Raw {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// A YAML node: its value, the tag written on it (if any), and where it is.
type Node = Spanned<Tagged<Raw>>;

/// The one explicit tag meshbundle's files may carry: `!!str`, which makes a
/// scalar text (`version: !!str 1.30`). Every other tag is refused rather
/// than dropped, since a reader that ignores a tag may mean something else
/// than the writer did.
const STR_TAG: &str = "tag:yaml.org,2002:str";

const TAG_HINT: &str =
    "remove the tag: meshbundle files are plain YAML; quote a value, or write `!!str` before it, to make it text";

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_none<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
        Raw::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Raw, E> {
        Ok(Raw::UInt(v))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Raw, E> {
        Ok(Raw::Float(v as f64))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Raw, E> {
        Ok(Raw::Float(v as f64))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Raw, E> {
        Ok(Raw::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Raw, E> {
        Ok(Raw::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Raw, E> {
        Err(E::custom("binary values are not allowed in a site spec"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Raw::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut entries = Vec::new();
        while let Some(k) = map.next_key::<Node>()? {
            let v = map.next_value::<Node>()?;
            entries.push((k, v));
        }
        Ok(Raw::Map(entries))
    }
}

/// Parses one YAML document into a JSON value and the positions of its
/// fields. Used by every YAML reader of the crate, so the YAML parser is
/// compiled once.
pub(crate) fn yaml_to_json(text: &str) -> Result<(Value, Positions), Diagnostic> {
    let raw = parse_yaml(text)?;
    let mut pos = Positions::default();
    let value = to_json(&raw, "", text, Some(&mut pos));
    Ok((value, pos))
}

/// [`yaml_to_json`] without the positions, for a reader that needs them
/// only to report a problem (and can read the text again then).
///
/// Plain YAML is read by [`super::direct`], the parser's events straight
/// into JSON. Other text that holds no tag ([`may_hold_tag`]) is read
/// through serde ([`Plain`], with [`to_json`]'s meaning of every scalar and key): the
/// positions and tags the strict reader keeps cost 40 % of the time, and
/// most upstream manifests a render reads are of this kind. Text that may
/// hold a tag, and text the direct reader refuses, is read the strict way,
/// which refuses every tag but `!!str` and gives the error with its place.
pub(crate) fn yaml_to_value(text: &str) -> Result<Value, Diagnostic> {
    match super::direct::read(text) {
        Some(v) => Ok(v),
        None => full_value(text),
    }
}

/// [`yaml_to_value`] without [`super::direct`]'s quick reader.
pub(crate) fn full_value(text: &str) -> Result<Value, Diagnostic> {
    if !may_hold_tag(text)
        && let Ok(Plain(v)) = serde_saphyr::from_str_with_options::<Plain>(text, reader_options())
    {
        return Ok(v);
    }
    let raw = parse_yaml(text)?;
    Ok(to_json(&raw, "", text, None))
}

/// Whether `text` may hold a tag: a `!` after anything but a letter, a
/// digit or `_` (a tag starts a node, so it stands at the start of a line or
/// after a space, a tab, an indicator or a byte order mark). A `!` inside a
/// word is text: the addon Grafana's dashboards hold about 90, in queries
/// such as `response_code!~"5.."`.
fn may_hold_tag(text: &str) -> bool {
    let b = text.as_bytes();
    (0..b.len()).any(|i| b[i] == b'!' && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')))
}

/// A YAML value read straight into JSON, meaning what [`to_json`] makes of
/// the same value read as a [`Node`] (which keeps the positions and tags).
struct Plain(Value);

impl<'de> Deserialize<'de> for Plain {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(PlainVisitor).map(Plain)
    }
}

/// [`RawVisitor`] and [`to_json`] in one step.
struct PlainVisitor;

/// A float as [`to_json`] writes it: `null` where JSON has no number.
fn json_float(f: f64) -> Value {
    serde_json::Number::from_f64(f)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

impl<'de> Visitor<'de> for PlainVisitor {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Plain::deserialize(d).map(|p| p.0)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        Ok(json_float(v as f64))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        Ok(json_float(v as f64))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(json_float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Value, E> {
        Err(E::custom("binary values are not allowed in a site spec"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Plain(item)) = seq.next_element::<Plain>()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut m = Map::new();
        while let Some(key) = map.next_key::<Raw>()? {
            // A key that is not text (`1.0:`, `~:`) is taken as written,
            // which only the full reader sees (`key_text`).
            let Raw::Str(key) = key else {
                return Err(de::Error::custom("a key that is not text"));
            };
            let Plain(v) = map.next_value::<Plain>()?;
            m.insert(key, v);
        }
        Ok(Value::Object(m))
    }
}

/// Parses one document and refuses every tag but `!!str` (see [`STR_TAG`]),
/// naming the first one found.
fn parse_yaml(text: &str) -> Result<Node, Diagnostic> {
    // A NUL byte makes any file (a secrets file, a lock) not text, said so
    // rather than as the parser's escaped character.
    if let Some(at) = text.find('\0') {
        let line = text[..at].matches('\n').count() + 1;
        let column = at - text[..at].rfind('\n').map_or(0, |n| n + 1) + 1;
        return Err(Diagnostic::error(
            Code::NotText,
            "",
            format!("the file contains a NUL byte at line {line}, column {column}, so it is not a text file"),
            "give the YAML text file itself, not a binary or a copy that was damaged",
        )
        .at(line as u32, column as u32));
    }
    let node = parse_untagged(text).map_err(|d| with_tag_path(d, text))?;
    match first_tag(&node, "").or_else(|| first_repeated_key(&node, text)) {
        Some(d) => Err(d),
        None => Ok(node),
    }
}

/// The first key of a mapping that names a key before it, as the spec
/// takes keys ([`key_text`]): `"1"` and `1`, `"null"` and `null`, which the
/// parser takes for two keys (text and a number), are one key here, and
/// the later would replace the earlier unsaid.
fn first_repeated_key(node: &Node, text: &str) -> Option<Diagnostic> {
    match &node.value.0 {
        Raw::Seq(items) => items.iter().find_map(|i| first_repeated_key(i, text)),
        Raw::Map(entries) => {
            let mut seen = std::collections::BTreeSet::new();
            entries.iter().find_map(|(k, v)| {
                let key = key_text(k, text);
                if seen.insert(key.clone()) {
                    first_repeated_key(k, text).or_else(|| first_repeated_key(v, text))
                } else {
                    Some(
                        Diagnostic::error(
                            Code::Yaml,
                            "",
                            format!(
                                "invalid YAML: the key `{}` is written twice in this mapping, once in quotes",
                                key.chars().take(80).flat_map(char::escape_debug).collect::<String>()
                            ),
                            "each key may appear once in a mapping; remove or merge the repeated one",
                        )
                        .at(k.referenced.line() as u32, k.referenced.column() as u32),
                    )
                }
            })
        }
        _ => None,
    }
}

/// A tag the parser itself failed on (`!!binary` that is not text) is
/// reported without a field: find it by reading the text again without that
/// tag, and taking the field that starts last on its line before it.
fn with_tag_path(mut d: Diagnostic, text: &str) -> Diagnostic {
    if d.code != Code::YamlTag || !d.path.is_empty() || d.line == 0 {
        return d;
    }
    let line = d.line as usize - 1;
    let mut lines: Vec<&str> = text.split('\n').collect();
    let Some(l) = lines.get(line) else { return d };
    let Some(start) = l.find('!') else { return d };
    let end = l[start..].find(' ').map_or(l.len(), |e| start + e);
    let stripped = format!("{}{}", &l[..start], &l[end..]);
    lines[line] = &stripped;
    let again = lines.join("\n");
    let Ok(node) = parse_untagged(&again) else { return d };
    let mut pos = Positions::default();
    to_json(&node, "", &again, Some(&mut pos));
    if let Some((path, _)) = pos
        .at
        .iter()
        .filter(|(_, (l, c))| *l == d.line && *c as usize <= start + 1)
        .max_by_key(|(_, (_, c))| *c)
    {
        d.path = path.clone();
    }
    d
}

/// The first node (key or value, in document order) with a tag other than `!!str` on text.
fn first_tag(node: &Node, path: &str) -> Option<Diagnostic> {
    if let Some(tag) = &node.value.1
        && !(tag == STR_TAG && matches!(node.value.0, Raw::Str(_)))
    {
        let written = match tag.strip_prefix("tag:yaml.org,2002:") {
            Some(core) => format!("!!{core}"),
            None => tag.clone(),
        };
        let shown: String = written.chars().take(80).flat_map(char::escape_debug).collect();
        return Some(
            Diagnostic::error(
                Code::YamlTag,
                path,
                format!("the YAML tag `{shown}` is not allowed"),
                TAG_HINT,
            )
            .at(node.referenced.line() as u32, node.referenced.column() as u32),
        );
    }
    match &node.value.0 {
        Raw::Seq(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| first_tag(item, &format!("{path}[{i}]"))),
        Raw::Map(entries) => entries.iter().find_map(|(k, v)| {
            let p = diag::join(path, &scalar_key(&k.value.0));
            first_tag(k, &p).or_else(|| first_tag(v, &p))
        }),
        _ => None,
    }
}

/// How every YAML text is read: one document, within limits, YAML 1.2.
fn reader_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! { max_depth: 128, max_documents: 1, max_aliases: 1000 },
        // YAML 1.2: `yes`, `on`, `y` are strings, and `0755` stays as written.
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
    }
}

fn parse_untagged(text: &str) -> Result<Node, Diagnostic> {
    serde_saphyr::from_str_with_options::<Node>(text, reader_options()).map_err(|e| {
        let (line, col) = e.location().map(|l| (l.line() as u32, l.column() as u32)).unwrap_or((0, 0));
        // The message without a rendered snippet (we give line and column ourselves).
        use serde_saphyr::MessageFormatter;
        let message = serde_saphyr::DefaultMessageFormatter.format_message(&e);
        let message: String = message.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        let message = message.split(" at line ").next().unwrap_or(&message).trim();
        let message = message.split(", set DuplicateKeyPolicy").next().unwrap_or(message).to_string();
        if let Some(breach) = message.strip_prefix("budget breached: ") {
            let (what, hint) = budget_sentence(breach);
            // A second document is a shape error, not a size limit.
            let d = if breach.starts_with("Documents") {
                Diagnostic::error(Code::Yaml, "", what, hint)
            } else {
                Diagnostic::error(Code::YamlBudget, "", what, hint)
            };
            return d.at(line, col);
        }
        // serde-saphyr decodes a few core tags itself and fails on what they
        // cannot hold: say it is the tag that is not allowed.
        // A tag the reader took at its word (`!!int` on text that is not
        // one) fails as the value it names: the tag on that line is the cause.
        let tag_on_line = line > 0
            && text.lines().nth(line as usize - 1).is_some_and(may_hold_tag)
            && message.starts_with("invalid ");
        if let Some(tag) = ["!!binary", "!!timestamp", "!!set", "!!omap", "!!pairs"]
            .into_iter()
            .find(|t| message.contains(t))
            .or_else(|| (message.contains("tagged scalar") || tag_on_line).then_some("on this value"))
        {
            let what =
                if tag.starts_with('!') { format!("the YAML tag `{tag}` is not allowed") } else { "a YAML tag is not allowed here".into() };
            return Diagnostic::error(Code::YamlTag, "", what, TAG_HINT).at(line, col);
        }
        // The parser names the flow collection when the text ends inside it.
        // A `[` left open above a later `key: value` line fails there instead
        // (`illegal placement of ':'`): it is the cause when it opens a value
        // and is still open at the end of the text.
        let names_flow = message.contains("flow sequence") || message.contains("flow mapping");
        let cause = |found: &(char, u32, u32)| {
            names_flow
                || (found.1 < line
                    && opens_value(text, found.1, found.2)
                    && unclosed_flow(text, u32::MAX, u32::MAX) == Some(*found))
        };
        if let Some((open, l, c)) = unclosed_flow(text, line, col).filter(cause) {
            let close = if open == '[' { ']' } else { '}' };
            return Diagnostic::error(
                Code::Yaml,
                "",
                format!("invalid YAML: the `{open}` here is never closed ({message})"),
                format!("close it with `{close}` on the same line, or quote the value if it is text that starts with `{open}`"),
            )
            .at(l, c);
        }
        let hint = if message.contains("duplicate") {
            "each key may appear once in a mapping; remove or merge the repeated one"
        } else if message.contains("multiple documents") || message.contains("documents") {
            "a site spec is one YAML document; remove the `---` separators"
        } else {
            "fix the YAML syntax at that place (indentation, a missing `:` or an unclosed quote)"
        };
        Diagnostic::error(Code::Yaml, "", format!("invalid YAML: {message}"), hint).at(line, col)
    })
}

/// A part of the spec written in part takes, for each field left out, the
/// value it has when the whole part is left out: `ingressGateway: {hosts:
/// [...]}` keeps the ingress gateway's TLS, HTTPS redirect, Service and
/// resources; `istiod: {resources: {requests: {cpu: 1}}}` keeps istiod's
/// memory request and its limits. So writing a field down never changes
/// another (the configurator's form writes only the field it edits). A
/// field written as `null` stays null (an optional part turned off); maps
/// (`sysctl`, `labels`, ...) and lists written replace their defaults whole.
fn fill_defaults(value: &mut Value) {
    let root = structure::site_schema();
    // The document's own parts (`metadata`, `spec`) are required: one left
    // out is reported, not filled in.
    let (Value::Object(top), Value::Object(defaults), Some((props, _))) =
        (value, defaults_document(), record(root, root))
    else {
        return;
    };
    for (key, d) in defaults {
        if let (Some(w @ Value::Object(_)), Some(field)) = (top.get_mut(key), props.get(key)) {
            fill_from(w, d, field, root);
        }
    }
}

/// The spec every part of which is left out (only what has no default
/// written), as JSON: each part's value when left out.
fn defaults_document() -> &'static Value {
    static DEFAULTS: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    DEFAULTS.get_or_init(|| {
        let bare = serde_json::json!({
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {"name": "defaults"},
            "spec": {"nodes": [], "registry": ""},
        });
        let site: Site = crate::value_de::from_value(bare).expect("a spec of only its required fields reads");
        // Through text: the module already carries this serializer (the
        // configurator's validation), not `to_value`'s.
        let mut all: Value = serde_json::from_str(&serde_json::to_string(&site).expect("a site serializes"))
            .expect("a serialized site reads back");
        // What has no default stays out: its absence is reported.
        for (at, key) in [
            ("", "apiVersion"),
            ("", "kind"),
            ("/metadata", "name"),
            ("/spec", "nodes"),
            ("/spec", "registry"),
        ] {
            if let Some(Value::Object(m)) = all.pointer_mut(at) {
                m.remove(key);
            }
        }
        all
    })
}

/// Adds to `value` what `defaults` has and it lacks, where the schema
/// `node` describes a record of named fields (not a map), and goes on into
/// the fields both hold as records.
fn fill_from(value: &mut Value, defaults: &Value, node: &Value, root: &Value) {
    let (Value::Object(written), Value::Object(defaults)) = (value, defaults) else {
        return;
    };
    let Some((props, _)) = record(node, root) else {
        return;
    };
    for (key, d) in defaults {
        let Some(field) = props.get(key) else { continue };
        match written.get_mut(key) {
            None => {
                written.insert(key.clone(), d.clone());
            }
            Some(w @ Value::Object(_)) => fill_from(w, d, field, root),
            Some(_) => {}
        }
    }
}

/// The named fields of the schema `node` (after `$ref`, and the record of an
/// optional `anyOf: [record, null]`) and the names of those it requires, or
/// `None` when it is not a record.
fn record<'a>(node: &'a Value, root: &'a Value) -> Option<(&'a Map<String, Value>, &'a [Value])> {
    let mut n = node;
    for _ in 0..32 {
        if let Some(r) = n.get("$ref").and_then(Value::as_str) {
            n = root.pointer(r.strip_prefix('#')?)?;
            continue;
        }
        if let Some(props) = n.get("properties").and_then(Value::as_object) {
            let required = n
                .get("required")
                .and_then(Value::as_array)
                .map_or(&[][..], Vec::as_slice);
            return Some((props, required));
        }
        let alts = n.get("anyOf").or_else(|| n.get("oneOf"))?.as_array()?;
        let real: Vec<&Value> = alts
            .iter()
            .filter(|a| a.get("type").and_then(Value::as_str) != Some("null"))
            .collect();
        if real.len() != 1 {
            return None;
        }
        n = real[0];
    }
    None
}

/// A reader limit the text broke, in a sentence: serde-saphyr names it as
/// Rust debug text (`Nodes { nodes: 250001 }`), which says nothing to a user.
fn budget_sentence(breach: &str) -> (String, &'static str) {
    let kind = breach.split([' ', '{']).next().unwrap_or("");
    let n: String = breach.chars().filter(char::is_ascii_digit).collect();
    let alias_hint = "write the values out instead of repeating anchors (`&name`) through aliases (`*name`): a site spec is a few kilobytes of plain YAML";
    match kind {
        "Nodes" | "Events" | "RecordedAnchorEvents" | "RecordedAnchorBytes" | "ScalarBytes" => (
            format!(
                "the YAML expands to more than a site spec can hold (over {n} values or bytes once its aliases are expanded), so it is not read"
            ),
            alias_hint,
        ),
        "Aliases" => (
            format!("the YAML uses {n} aliases (`*name`); a site spec may use at most 1000"),
            alias_hint,
        ),
        "Anchors" => (
            format!("the YAML defines {n} anchors (`&name`), more than a site spec may"),
            alias_hint,
        ),
        "Depth" => (
            format!("the YAML nests {n} levels deep; a site spec may nest at most 128"),
            "flatten the nesting: a site spec is a few levels deep",
        ),
        "Documents" => (
            "the file holds more than one YAML document".into(),
            "a site spec is one YAML document; remove the `---` separators",
        ),
        _ => (
            "the YAML is larger or more deeply repeated than a site spec can be, so it is not read".into(),
            alias_hint,
        ),
    }
}

/// The outermost `[` or `{` still open at (line, col) of `text` (1-based),
/// with its own line and column: where a flow collection that the parser
/// gave up on began. Quoted text and comments are skipped.
fn unclosed_flow(text: &str, line: u32, col: u32) -> Option<(char, u32, u32)> {
    let mut open: Vec<(char, u32, u32)> = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let ln = i as u32 + 1;
        if ln > line {
            break;
        }
        let mut quote: Option<char> = None;
        let mut prev = ' ';
        for (j, ch) in l.chars().enumerate() {
            let cn = j as u32 + 1;
            if ln == line && cn >= col {
                break;
            }
            match (quote, ch) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(ch),
                (None, '#') if prev.is_whitespace() => break,
                (None, '[' | '{') => open.push((ch, ln, cn)),
                (None, ']' | '}') => {
                    open.pop();
                }
                _ => {}
            }
            prev = ch;
        }
    }
    open.first().copied()
}

/// Whether the `[` or `{` at (line, col) of `text` (1-based) starts a value
/// (after `key:`, `- `, `,` or another opening) rather than sitting inside
/// plain text such as `lab [west]`.
fn opens_value(text: &str, line: u32, col: u32) -> bool {
    let Some(l) = text.lines().nth((line as usize).saturating_sub(1)) else {
        return false;
    };
    let before: String = l.chars().take((col as usize).saturating_sub(1)).collect();
    matches!(
        before.trim_end().chars().last(),
        None | Some(':' | '-' | ',' | '[' | '{')
    )
}

fn scalar_key(raw: &Raw) -> String {
    match raw {
        Raw::Str(s) => s.clone(),
        Raw::Null => "null".into(),
        Raw::Bool(b) => b.to_string(),
        Raw::Int(i) => i.to_string(),
        Raw::UInt(u) => u.to_string(),
        Raw::Float(f) => f.to_string(),
        Raw::Seq(_) | Raw::Map(_) => "<complex key>".into(),
    }
}

/// A mapping key as the spec's maps take it: text, and a key YAML reads as
/// a number, a boolean or null (`1.0:`, `+1:`, `0x10:`, `~:`) as it is
/// written, as Kubernetes' own reader takes keys of text (read as its value,
/// `1.0` and `1` were one key `1`, and one of them was lost unsaid).
fn key_text(key: &Node, text: &str) -> String {
    match &key.value.0 {
        // (An empty key, `: x`, is the empty text.)
        Raw::Null | Raw::Bool(_) | Raw::Int(_) | Raw::UInt(_) | Raw::Float(_) => source_text(key, text)
            .map(|t| t.trim().to_string())
            .unwrap_or_else(|| scalar_key(&key.value.0)),
        raw => scalar_key(raw),
    }
}

fn source_text<'a>(node: &Node, text: &'a str) -> Option<&'a str> {
    let span = node.referenced.span();
    let start = span.byte_offset()? as usize;
    let len = span.byte_len()? as usize;
    text.get(start..start + len)
}

/// The JSON value of a node and, when `pos` is given, the position (and
/// the source text of numbers and booleans) of each of its fields.
fn to_json(node: &Node, path: &str, text: &str, mut pos: Option<&mut Positions>) -> Value {
    if let Some(pos) = pos.as_deref_mut()
        && matches!(node.value.0, Raw::Int(_) | Raw::UInt(_) | Raw::Float(_) | Raw::Bool(_))
        && let Some(src) = source_text(node, text)
    {
        pos.raw.insert(path.to_string(), src.trim().to_string());
    }
    match &node.value.0 {
        Raw::Null => Value::Null,
        Raw::Bool(b) => Value::Bool(*b),
        Raw::Int(i) => Value::from(*i),
        Raw::UInt(u) => Value::from(*u),
        Raw::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        Raw::Str(s) => Value::String(s.clone()),
        Raw::Seq(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| match pos.as_deref_mut() {
                    Some(pos) => {
                        let p = format!("{path}[{i}]");
                        pos.at.insert(
                            p.clone(),
                            (item.referenced.line() as u32, item.referenced.column() as u32),
                        );
                        to_json(item, &p, text, Some(pos))
                    }
                    None => to_json(item, "", text, None),
                })
                .collect(),
        ),
        Raw::Map(entries) => {
            let mut m = Map::new();
            for (k, v) in entries {
                let key = key_text(k, text);
                let value = match pos.as_deref_mut() {
                    Some(pos) => {
                        let p = diag::join(path, &key);
                        pos.at
                            .insert(p.clone(), (k.referenced.line() as u32, k.referenced.column() as u32));
                        to_json(v, &p, text, Some(pos))
                    }
                    None => to_json(v, "", text, None),
                };
                m.insert(key, value);
            }
            Value::Object(m)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::Strategy as _;

    /// A secrets file or a lock given as the spec gets one problem that
    /// says what it is, not the spec's checks of every field.
    #[test]
    fn a_secrets_file_or_lock_is_not_taken_for_a_spec() {
        let secrets = "apiVersion: meshbundle.dev/v1alpha1\nkind: SiteSecrets\nsite: prod\nca:\n  key: x\n";
        let d = load(secrets).diagnostics;
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].message, "this is a site secrets file, not a spec");
        assert_eq!((d[0].path.as_str(), d[0].line), ("kind", 2));
        let d = load("apiVersion: meshbundle.dev/v1alpha1\nkind: Lock\nimages: []\n").diagnostics;
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].message, "this is a lock, not a spec");
    }

    #[test]
    fn a_gateway_written_in_part_takes_its_defaults() {
        let lab = crate::examples::example("production").unwrap();
        let base = load(lab);
        assert!(!base.has_errors(), "{:?}", base.diagnostics);
        let site = base.site.unwrap();
        // Every gateway section replaced by one with only hosts (ingress) or only a replica count (egress).
        let mut v: Value = crate::yaml::value_from_str(lab).unwrap();
        let host = site
            .spec
            .istio
            .ingress_gateway
            .hosts
            .first()
            .cloned()
            .unwrap_or_else(|| "shop.example.internal".into());
        v["spec"]["istio"]["ingressGateway"] = serde_json::json!({"hosts": [host]});
        v["spec"]["istio"]["egressGateway"] =
            serde_json::json!({"replicas": 1, "hpa": {"enabled": false}, "service": {"type": "ClusterIP"}});
        let text = crate::yaml::to_string(&v).unwrap();
        let loaded = load(&text);
        let errors: Vec<_> = loaded.diagnostics.iter().filter(|d| d.is_error()).collect();
        assert!(errors.is_empty(), "{errors:?}");
        let got = loaded.site.unwrap();
        let ingress = &got.spec.istio.ingress_gateway;
        let d = super::super::d_ingress_gateway();
        assert_eq!(
            (&ingress.name, &ingress.namespace, ingress.replicas),
            (&d.name, &d.namespace, d.replicas)
        );
        assert_eq!(
            (&ingress.hpa, &ingress.resources, &ingress.service),
            (&d.hpa, &d.resources, &d.service)
        );
        assert_eq!(ingress.hosts, vec![host]);
        // The rest keeps the ingress gateway's defaults too: TLS and the redirect.
        assert_eq!((&ingress.tls, ingress.https_redirect), (&d.tls, d.https_redirect));
        // Turned off in writing, they stay off.
        v["spec"]["istio"]["ingressGateway"] =
            serde_json::json!({"hosts": ["a.example.internal"], "tls": null, "httpsRedirect": false});
        let off = load(&crate::yaml::to_string(&v).unwrap()).site.unwrap();
        assert_eq!(
            (
                &off.spec.istio.ingress_gateway.tls,
                off.spec.istio.ingress_gateway.https_redirect
            ),
            (&None, false)
        );
        let egress = &got.spec.istio.egress_gateway;
        let e = super::super::d_egress_gateway();
        assert_eq!(
            (egress.replicas, egress.hpa.enabled, egress.hpa.min_replicas),
            (1, false, e.hpa.min_replicas)
        );
        assert_eq!(egress.service.ports, e.service.ports);
    }

    /// Every part of the spec written as `{}` reads as the part left out:
    /// writing one field of a part (as the configurator's form does) never
    /// changes the others.
    #[test]
    fn a_part_written_empty_is_the_part_left_out() {
        let bare = serde_json::json!({
            "apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": "site"},
            "spec": {"nodes": [{"name": "cp-1", "address": "10.0.0.11", "role": "control-plane"}], "registry": "10.0.0.5:5000"},
        });
        let read = |v: &Value| {
            let l = load(&crate::yaml::to_string(v).unwrap());
            l.site
                .unwrap_or_else(|| panic!("{v} does not read: {:?}", l.diagnostics))
        };
        let want = read(&bare);
        let root = structure::site_schema();
        // The paths of every record the defaults hold.
        fn records(v: &Value, node: &Value, root: &Value, at: Vec<String>, out: &mut Vec<Vec<String>>) {
            let (Value::Object(m), Some((props, _))) = (v, record(node, root)) else {
                return;
            };
            for (k, d) in m {
                if let (Value::Object(_), Some(field)) = (d, props.get(k))
                    && let Some((_, required)) = record(field, root)
                {
                    // The schema (for editors) agrees: nothing of a part
                    // inside the spec is required.
                    assert!(
                        at.is_empty() || required.is_empty(),
                        "{at:?}.{k}: the schema requires {required:?}"
                    );
                    let mut p = at.clone();
                    p.push(k.clone());
                    out.push(p.clone());
                    records(d, field, root, p, out);
                }
            }
        }
        let mut paths = Vec::new();
        records(defaults_document(), root, root, Vec::new(), &mut paths);
        assert!(paths.len() > 20, "{paths:?}");
        for p in &paths {
            if p.first().map(String::as_str) != Some("spec") || p.len() < 2 {
                continue;
            }
            let mut doc = bare.clone();
            let mut at = &mut doc;
            for (i, k) in p.iter().enumerate() {
                let obj = at.as_object_mut().unwrap();
                if i + 1 == p.len() {
                    obj.insert(k.clone(), serde_json::json!({}));
                }
                at = obj.entry(k.clone()).or_insert_with(|| serde_json::json!({}));
            }
            assert_eq!(read(&doc), want, "{} written as {{}}", p.join("."));
        }
    }

    #[test]
    fn budget_errors_are_sentences() {
        // An alias bomb: each level doubles the values.
        let mut text = String::from("a: &a [x, x]\n");
        for i in 1..22 {
            text.push_str(&format!(
                "a{i}: &a{i} [*{p}, *{p}]\n",
                p = if i == 1 { "a".to_string() } else { format!("a{}", i - 1) }
            ));
        }
        let d = parse_yaml(&text).unwrap_err();
        assert_eq!(d.code, Code::YamlBudget);
        assert!(
            !d.message.contains('{') && !d.message.contains("budget") && !d.message.contains("Nodes"),
            "{}",
            d.message
        );
        assert!(d.message.starts_with("the YAML "), "{}", d.message);
        assert!(d.hint.contains("aliases"), "{}", d.hint);
        let (m, _) = budget_sentence("Nodes { nodes: 250001 }");
        assert!(m.contains("250001") && !m.contains('{'), "{m}");
    }

    #[test]
    fn parent_paths() {
        assert_eq!(parent("spec.nodes[2].address"), "spec.nodes[2]");
        assert_eq!(parent("spec.nodes[2]"), "spec.nodes");
        assert_eq!(
            parent("spec.tuning.sysctl[\"net.core.somaxconn\"]"),
            "spec.tuning.sysctl"
        );
        assert_eq!(parent("spec"), "");
    }

    #[test]
    fn segments_roundtrip() {
        let v: Value = serde_json::json!({"spec": {"tuning": {"sysctl": {"a.b": "1"}}, "nodes": [{"x": 1}]}});
        assert_eq!(lookup(&v, "spec.tuning.sysctl[\"a.b\"]"), Some(&Value::from("1")));
        assert_eq!(lookup(&v, "spec.nodes[0].x"), Some(&Value::from(1)));
    }

    /// The strict reader's value of a text, through positions and tags.
    fn strict(text: &str) -> Result<Value, Diagnostic> {
        parse_yaml(text).map(|raw| to_json(&raw, "", text, None))
    }

    /// Every document of every upstream manifest carried, both examples and
    /// every diagnostic fixture read the same through the direct reader as
    /// through the strict one (a manifest pinned by a lock instead is read
    /// the same way).
    #[test]
    fn the_direct_reader_means_what_the_strict_one_does() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut texts = Vec::new();
        let mut dirs = vec![root.join("../images/upstream"), root.join("tests/diagnostics")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml")
                    && let Ok(text) = String::from_utf8(std::fs::read(&path).unwrap())
                {
                    texts.push(text);
                }
            }
        }
        texts.push(crate::examples::example("production").unwrap().to_string());
        texts.push(crate::examples::example("lab").unwrap().to_string());
        let mut direct = 0;
        for text in &texts {
            for doc in text.split("\n---\n") {
                let Ok(Plain(fast)) = serde_saphyr::from_str_with_options::<Plain>(doc, reader_options()) else {
                    continue;
                };
                if may_hold_tag(doc) {
                    continue;
                }
                assert_eq!(Ok(fast), strict(doc), "{doc}");
                direct += 1;
            }
        }
        assert!(direct > 100, "{direct} documents read directly");
    }

    /// What a load says, to compare: the site as JSON and every diagnostic.
    fn outcome(l: &Loaded) -> (Option<Value>, Vec<Diagnostic>) {
        (
            l.site.as_ref().map(|s| serde_json::to_value(s).unwrap()),
            l.diagnostics.clone(),
        )
    }

    /// Every diagnostic fixture and both examples load the same through
    /// [`load`] (read directly first) as through [`load_strict`], valid
    /// or not.
    #[test]
    fn a_spec_loads_the_same_read_directly_or_strictly() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut texts: Vec<String> = std::fs::read_dir(root.join("tests/diagnostics"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .filter_map(|p| String::from_utf8(std::fs::read(p).unwrap()).ok())
            .collect();
        texts.push(crate::examples::example("production").unwrap().to_string());
        texts.push(crate::examples::example("lab").unwrap().to_string());
        let mut valid = 0;
        for text in &texts {
            let (quick, strict) = (load(text), load_strict(text));
            assert_eq!(outcome(&quick), outcome(&strict), "{text}");
            valid += usize::from(strict.diagnostics.is_empty());
        }
        assert!(valid >= 2 && valid < texts.len(), "{valid} of {} valid", texts.len());
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(512))]
        /// An example with one line deleted, doubled or cut short, or with
        /// text YAML gives meaning to inserted in it: the same outcome both
        /// ways (and never a panic).
        #[test]
        fn a_damaged_spec_loads_the_same_both_ways(
            lab in proptest::bool::ANY,
            line in 0usize..400,
            at in 0usize..80,
            edit in 0u8..4,
            with in proptest::sample::select(vec![
                ":", " ", "-", "\"", "'", "#", "&a", "*a", "<<: ", "[", "]", "{", "}", ",", "?", "|", ">",
                "0", "1e3", "yes", "~", "\t", "\n", "  ", "x", "\u{e9}",
            ]),
        ) {
            let text = crate::examples::example(if lab { "lab" } else { "production" }).unwrap();
            let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
            let i = line % lines.len();
            match edit {
                0 => {
                    lines.remove(i);
                }
                1 => lines.insert(i, lines[i].clone()),
                2 => {
                    let cut = lines[i].char_indices().nth(at).map_or(lines[i].len(), |(b, _)| b);
                    lines[i].truncate(cut);
                }
                _ => {
                    let cut = lines[i].char_indices().nth(at).map_or(lines[i].len(), |(b, _)| b);
                    lines[i].insert_str(cut, with);
                }
            }
            let damaged = lines.join("\n") + "\n";
            proptest::prop_assert_eq!(outcome(&load(&damaged)), outcome(&load_strict(&damaged)), "{}", damaged);
        }
    }

    /// A tag wherever YAML allows one is seen; a `!` inside a word is not one.
    #[test]
    fn every_place_a_tag_can_stand_is_seen() {
        for tagged in [
            "!x a\n",
            "a: !x b\n",
            "a:\t!x b\n",
            "- !x a\n",
            "[!x a]\n",
            "[a,!x b]\n",
            "{\"a\":!x b}\n",
            "{a: !!str 1}\n",
            "--- !x\na: 1\n",
            "&a !x b\n",
            "? !x a\n: b\n",
            "a: |\n  x\n!x b\n",
            "\u{feff}!x a\n",
            "a: \"!x\"\n",
        ] {
            assert!(may_hold_tag(tagged), "{tagged:?}");
        }
        for text in ["a: b!=c\n", "q: 'rate(x{code!~\"5..\"}[5m])'\n", "a: x_!y\n", "a: b\n"] {
            assert!(!may_hold_tag(text), "{text:?}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(2048))]
        /// Text made of YAML's indicators, `!` among them: wherever the
        /// strict reader finds a tag, [`may_hold_tag`] says there may be one;
        /// where it says there is none, the direct reader means what the
        /// strict one does.
        #[test]
        fn a_tag_is_never_read_directly(text in "([a-z0-9_ :,\\[\\]{}&*?|>'\"#-]|!|!!|\n|\t){0,40}") {
            let strict = strict(&text);
            if let Err(d) = &strict {
                proptest::prop_assert!(d.code != Code::YamlTag || may_hold_tag(&text), "{:?}", text);
            }
            if !may_hold_tag(&text)
                && let (Ok(Plain(fast)), Ok(strict)) =
                    (serde_saphyr::from_str_with_options::<Plain>(&text, reader_options()), &strict)
            {
                proptest::prop_assert_eq!(&fast, strict, "{:?}", text);
            }
        }
    }

    /// Tags are refused, or kept to `!!str`, as before.
    #[test]
    fn a_tag_still_goes_the_strict_way() {
        assert_eq!(yaml_to_value("a: !!str 1\n").unwrap(), serde_json::json!({"a": "1"}));
        assert!(yaml_to_value("a: !!binary aGk=\n").is_err());
        assert!(yaml_to_value("a: !custom x\n").is_err());
        assert!(yaml_to_value("a: !!set {x}\n").is_err());
    }

    proptest::proptest! {
        /// Scalars of every kind YAML resolves, as keys and values, in
        /// block and flow style: the same value both ways.
        #[test]
        fn plain_scalars_resolve_the_same_both_ways(
            items in proptest::collection::vec(
                (
                    proptest::prop_oneof![
                        proptest::sample::select(vec![
                            "yes", "no", "on", "off", "y", "n", "true", "False", "TRUE", "null", "Null", "~", "",
                            "0755", "0o17", "0x1F", "1_000", "+1", "-0", "1e3", "1.5e-3", ".inf", "-.inf", ".nan",
                            "12:30", "2001-12-14", "1.30", "1.0", "9223372036854775808", "-9223372036854775809",
                            "340282366920938463463374607431768211456", "'quoted'", "\"dq\"", "a b", "#x", "- a",
                        ]).prop_map(str::to_string),
                        "[a-z0-9.:_+-]{0,12}",
                    ],
                    proptest::sample::select(vec![
                        "yes", "0755", "1", "1.5", "null", "x", "true", "0x10", "-1", "1e9",
                    ]),
                ),
                1..8,
            ),
            flow in proptest::bool::ANY,
        ) {
            let mut text = String::new();
            if flow {
                let body: Vec<String> = items.iter().map(|(v, k)| format!("{k}: [{v}]")).collect();
                text = format!("{{{}}}\n", body.join(", "));
            } else {
                for (v, k) in &items {
                    text.push_str(&format!("{k}:\n  v: {v}\n  l:\n  - {v}\n"));
                }
            }
            if let Ok(Plain(fast)) = serde_saphyr::from_str_with_options::<Plain>(&text, reader_options()) {
                proptest::prop_assert_eq!(Ok(fast), strict(&text), "{}", text);
            } else if let Ok(v) = strict(&text) {
                // The quick way gives up on a key that is not text, which
                // the full way takes as written.
                let keys: Vec<String> = v.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
                let written: Vec<String> = items.iter().map(|(_, k)| k.to_string()).collect();
                proptest::prop_assert!(keys == written || text.contains('!'), "{}: {:?}", text, keys);
            }
        }
    }
}
