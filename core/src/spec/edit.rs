//! Editing a spec's YAML text in place: one field set, one list item inserted,
//! or one key or item removed, with every other byte of the document kept
//! (comments, key order, quoting, blank lines, and the defaults the user left
//! out stay left out).
//!
//! The text is read with granit-parser, the YAML parser under serde-saphyr,
//! whose events carry the byte span of every scalar and flow collection. From
//! those spans the edit works out the bytes of the one node it changes and
//! splices new text there; everything outside that range is copied as it was.
//! New values are written so that they read back as the same value (a string
//! that YAML would take for a boolean, number, null or time is quoted), new
//! keys go at the end of their mapping with the mapping's indentation, and a
//! flow collection (`[a, b]`) stays in flow style.
//!
//! Each edit checks itself before returning: the new text, read as the spec
//! reader reads it, must equal the old document with exactly that change
//! applied. An edit that cannot be made that way (an alias, an anchored value
//! other fields share, a complex key) is refused with the field path rather
//! than made approximately.
//!
//! The configurator's form and `meshbundle spec` both use [`edit_spec`]:
//! [`edit`], and after the removal of a list's last item, the mappings it
//! leaves holding nothing (when the site reads the same without them, and
//! no comment is written in them).

use granit_parser::{Event, Parser, ScalarStyle, StructureStyle};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What to do at a field path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EditOp {
    /// Set the field to this value, creating missing mappings on the way.
    Set(Value),
    /// Insert this item into a list: the path ends with the index the new
    /// item gets (the list's length appends).
    Insert(Value),
    /// Remove a key from its mapping, or an item from its list. Removing a
    /// key that is not there changes nothing.
    Remove,
    /// Give a key of a mapping this name: its value, its comments and its
    /// place stay.
    Rename(String),
}

/// An edit that cannot be made: which field, what is wrong, what to do;
/// `at`: the line and column (1-based) in the text, when the problem is
/// there (the text does not parse) rather than in the field path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}{}{}", if path.is_empty() { String::new() } else { format!("{path}: ") }, at.map(|(l, c)| format!(" at line {l}, column {c}")).unwrap_or_default(), if hint.is_empty() { String::new() } else { format!(" ({hint})") })]
pub struct EditError {
    pub path: String,
    pub message: String,
    pub hint: String,
    pub at: Option<(u32, u32)>,
}

fn err(path: &str, message: impl Into<String>, hint: impl Into<String>) -> EditError {
    EditError {
        path: path.to_string(),
        message: crate::diag::no_empty_quote(message.into()),
        hint: hint.into(),
        at: None,
    }
}

/// Returns `text` with `op` applied at `path` (a field path as diagnostics
/// write it: `spec.nodes[2].address`, `spec.tuning.sysctl["net.core.somaxconn"]`).
/// Only the bytes of the node edited change.
pub fn edit(text: &str, path: &str, op: &EditOp) -> Result<String, EditError> {
    let segs = segments(path).map_err(|m| err(path, m, "write a field path such as spec.nodes[0].address"))?;
    if segs.is_empty() {
        return Err(err(
            path,
            "the whole document cannot be replaced by an edit",
            "name a field inside it",
        ));
    }
    let (before, _) = super::load::yaml_to_json(text).map_err(|d| EditError {
        at: (d.line > 0).then_some((d.line, d.column)),
        ..err(
            path,
            format!("the YAML does not parse: {}", d.message),
            "fix the YAML first; the edit is made on the text as it is",
        )
    })?;
    let mut expected = before.clone();
    if !apply(&mut expected, &segs, op, path)? {
        return Ok(text.to_string());
    }
    let mut doc = Doc::parse(text).map_err(|m| err(path, m, ""))?;
    // A text of several lines goes in a literal block (`|`) where one can
    // stand; should that not read back as the same document, in quotes.
    for literal in [true, false] {
        doc.literal = literal;
        let out = doc.edit(&segs, op, path)?;
        if matches!(super::load::yaml_to_json(&out), Ok((after, _)) if after == expected) {
            return Ok(out);
        }
    }
    Err(err(
        path,
        "this field cannot be edited without changing other parts of the document (it is an alias, shares an anchored value, or is written in a form the editor does not rewrite)",
        "edit the YAML text by hand",
    ))
}

// ------------------------------------------------------------ paths

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Key(String),
    Index(usize),
}

fn segments(path: &str) -> Result<Vec<Seg>, String> {
    let mut out = Vec::new();
    let b = path.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'.' if i > 0 => {
                if matches!(b.get(i + 1), None | Some(b'.' | b'[')) {
                    return Err("empty key in the field path (a `.` with no key after it)".into());
                }
                i += 1;
                let end = path[i..].find(['.', '[']).map(|e| i + e).unwrap_or(b.len());
                out.push(Seg::Key(bare_key(&path[i..end])?));
                i = end;
                continue;
            }
            b'[' if b.get(i + 1) == Some(&b'"') => {
                let rest = &path[i + 1..];
                let mut de = serde_json::Deserializer::from_str(rest).into_iter::<String>();
                match de.next() {
                    Some(Ok(k)) if rest.as_bytes().get(de.byte_offset()) == Some(&b']') => {
                        i += 1 + de.byte_offset() + 1;
                        out.push(Seg::Key(k));
                    }
                    _ => return Err(format!("a quoted key at byte {} is not closed by `\"]`", i + 1)),
                }
            }
            b'[' => {
                let end = path[i..].find(']').map(|e| i + e).ok_or("a `[` is not closed by `]`")?;
                let digits = &path[i + 1..end];
                // Digits only, as the index is printed: no sign, no leading zero.
                let n = (!digits.is_empty()
                    && digits.bytes().all(|d| d.is_ascii_digit())
                    && (digits == "0" || !digits.starts_with('0')))
                .then(|| digits.parse().ok())
                .flatten()
                .ok_or_else(|| format!("`{digits}` is not a list index (write it as 0, 1, 2, ...)"))?;
                out.push(Seg::Index(n));
                i = end + 1;
            }
            b'.' => return Err("a field path does not start with `.`".into()),
            _ if i == 0 => {
                let end = path.find(['.', '[']).unwrap_or(b.len());
                out.push(Seg::Key(bare_key(&path[..end])?));
                i = end;
                continue;
            }
            c => {
                return Err(format!(
                    "`{}` at byte {} follows a `]` (after an index or a quoted key comes `.`, `[` or the end)",
                    c as char,
                    i + 1
                ));
            }
        }
    }
    Ok(out)
}

/// A key written bare in a field path (between dots): not empty, and no `]`
/// or `"` (a key holding them is written `["..."]`).
fn bare_key(key: &str) -> Result<String, String> {
    if key.is_empty() {
        return Err("empty key in the field path".into());
    }
    if key.contains([']', '"']) {
        return Err(format!(
            "`{key}` is not a key of a field path: `]` closes an index, and a key holding `]` or `\"` is written [\"...\"]"
        ));
    }
    Ok(key.to_string())
}

/// Whether the spec's schema takes the field at `path` as text only (a
/// string, or a choice among strings): a value for it that YAML reads as a
/// number or a boolean (`1.30`, `4096`, `yes`) is meant as that text, and is
/// written quoted. False for a path the schema does not know.
pub fn wants_text(path: &str) -> bool {
    let Ok(segs) = segments(path) else {
        return false;
    };
    let root = crate::spec::structure::site_schema();
    // `$ref`s followed, and an optional value's `null` alternative dropped.
    let resolve = |mut n: &'static Value| -> &'static Value {
        for _ in 0..16 {
            if let Some(r) = n.get("$ref").and_then(Value::as_str) {
                match r
                    .strip_prefix("#/$defs/")
                    .and_then(|d| root.get("$defs").and_then(|ds| ds.get(d)))
                {
                    Some(t) => n = t,
                    None => return n,
                }
                continue;
            }
            let alts = n.get("anyOf").or_else(|| n.get("oneOf")).and_then(Value::as_array);
            let real: Vec<&Value> = alts
                .map(|a| {
                    a.iter()
                        .filter(|x| x.get("type").and_then(Value::as_str) != Some("null"))
                        .collect()
                })
                .unwrap_or_default();
            match real.as_slice() {
                [one] if one.get("const").is_none() => n = one,
                _ => return n,
            }
        }
        n
    };
    let mut node = resolve(root);
    for seg in &segs {
        let next = match seg {
            Seg::Key(k) => node
                .get("properties")
                .and_then(|p| p.get(k))
                .or_else(|| node.get("additionalProperties").filter(|a| a.is_object())),
            Seg::Index(_) => node.get("items"),
        };
        match next {
            Some(n) => node = resolve(n),
            None => return false,
        }
    }
    let is_text = |n: &Value| match n.get("type") {
        Some(Value::String(t)) => t == "string",
        Some(Value::Array(ts)) => ts.iter().all(|t| t == "string" || t == "null"),
        _ => n.get("const").is_some_and(Value::is_string),
    };
    if is_text(node) {
        return true;
    }
    node.get("anyOf")
        .or_else(|| node.get("oneOf"))
        .and_then(Value::as_array)
        .is_some_and(|alts| {
            alts.iter()
                .all(|a| is_text(a) || a.get("type").and_then(Value::as_str) == Some("null"))
        })
}

fn show(segs: &[Seg]) -> String {
    let mut p = String::new();
    for s in segs {
        match s {
            Seg::Key(k) => p = crate::diag::join(&p, k),
            Seg::Index(i) => p.push_str(&format!("[{i}]")),
        }
    }
    p
}

// ------------------------------------------------------------ what a removal leaves

/// [`edit`], then, when it removed a list item, [`tidy_emptied`] on that
/// list: what the configurator's form and `meshbundle spec` do, so that
/// adding an item and removing it again gives back the text from before.
pub fn edit_spec(text: &str, path: &str, op: &EditOp) -> Result<String, EditError> {
    let out = edit(text, path, op)?;
    if matches!(op, EditOp::Remove)
        && let Ok(segs) = segments(path)
        && let Some((Seg::Index(_), list)) = segs.split_last()
        && out != text
    {
        return Ok(tidy_emptied(&out, &show(list)));
    }
    Ok(out)
}

/// After an item was removed from the list at `list`: when the list is now
/// empty and the mappings above it hold nothing else (`jwt:` holding only
/// `issuers: []`, left when the form removes the one issuer it added), the
/// outermost of them is removed too, if the spec then reads as the same
/// site. A list beside other keys stays as written (`issuers: []` next to
/// `required: true`), and so does a mapping whose presence means something
/// (`time:` with no servers is not the same as no `time:`) or that holds a
/// comment (written by hand, it stays). The text as it
/// was in every other case, and when that removal cannot be made.
pub fn tidy_emptied(text: &str, list: &str) -> String {
    let Ok(segs) = segments(list) else {
        return text.to_string();
    };
    let Ok(doc) = crate::spec::load::yaml_to_value(text) else {
        return text.to_string();
    };
    let at = |n: usize| -> Option<&Value> {
        segs[..n].iter().try_fold(&doc, |v, s| match (s, v) {
            (Seg::Key(k), Value::Object(m)) => m.get(k),
            (Seg::Index(i), Value::Array(a)) => a.get(*i),
            _ => None,
        })
    };
    if !matches!(at(segs.len()), Some(Value::Array(a)) if a.is_empty()) {
        return text.to_string();
    }
    // The outermost mapping that holds only the way down to the list, below
    // the document's own parts (`spec`, `metadata`).
    let mut top = segs.len();
    while top > 2 && matches!(at(top - 1), Some(Value::Object(m)) if m.len() == 1) {
        top -= 1;
    }
    if top == segs.len() {
        return text.to_string();
    }
    let Ok(tidied) = edit(text, &show(&segs[..top]), &EditOp::Remove) else {
        return text.to_string();
    };
    // Nothing written by hand goes with it: a comment in what would be
    // removed keeps the mapping (and its empty list) as it is.
    if removes_a_comment(text, &tidied) {
        return text.to_string();
    }
    let before = crate::spec::load::load(text);
    let after = crate::spec::load::load(&tidied);
    if before.site.is_some() && before.site == after.site {
        tidied
    } else {
        text.to_string()
    }
}

/// Whether `after` is `before` with one stretch of text removed that holds a
/// comment (a `#` that starts a line's text or follows a space or a tab).
fn removes_a_comment(before: &str, after: &str) -> bool {
    let (a, b) = (before.as_bytes(), after.as_bytes());
    let pre = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suf = a[pre..]
        .iter()
        .rev()
        .zip(b[pre..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    (pre..a.len() - suf).any(|i| a[i] == b'#' && (i == 0 || matches!(a[i - 1], b' ' | b'\t' | b'\n' | b'\r')))
}

// ------------------------------------------------------------ the change on the value

/// Applies `op` to the JSON value of the document; false when it changes
/// nothing (removing what is not there).
fn apply(root: &mut Value, segs: &[Seg], op: &EditOp, path: &str) -> Result<bool, EditError> {
    let (last, parents) = segs.split_last().expect("non-empty path");
    let mut v = root;
    for (n, seg) in parents.iter().enumerate() {
        if matches!(op, EditOp::Remove | EditOp::Rename(_)) {
            let next = match (seg, &mut *v) {
                (Seg::Key(k), Value::Object(m)) => m.get_mut(k),
                (Seg::Index(i), Value::Array(a)) => a.get_mut(*i),
                _ => None,
            };
            match next {
                Some(x) => v = x,
                None if matches!((last, op), (Seg::Key(_), EditOp::Remove)) => return Ok(false),
                None => return Err(err(path, format!("{} does not exist", show(&segs[..=n])), "")),
            }
            continue;
        }
        if v.is_null() && matches!(seg, Seg::Key(_)) {
            *v = Value::Object(Default::default());
        }
        // `sysctl.vm.max_map_count` where the mapping has the key
        // `vm.max_map_count`: the dots were meant as part of the key.
        if let (Seg::Key(k), Value::Object(m)) = (seg, &*v)
            && !m.contains_key(k)
        {
            let rest: Option<Vec<&str>> = segs[n..]
                .iter()
                .map(|s| match s {
                    Seg::Key(k) => Some(k.as_str()),
                    Seg::Index(_) => None,
                })
                .collect();
            if let Some(joined) = rest.map(|r| r.join(".")).filter(|j| m.contains_key(j)) {
                let at = show(&segs[..n]);
                return Err(err(
                    path,
                    format!("{at} has the key `{joined}`: a key with dots in it is written in quotes"),
                    format!("write the path as {at}[{}]", Value::String(joined.clone())),
                ));
            }
        }
        v = match (seg, v) {
            (Seg::Key(k), Value::Object(m)) => m.entry(k.clone()).or_insert(Value::Null),
            (Seg::Index(i), Value::Array(a)) => {
                let len = a.len();
                a.get_mut(*i).ok_or_else(|| no_item(path, &segs[..n], *i, len))?
            }
            (Seg::Index(_), other) => return Err(not_a(path, &segs[..n], other, "a list")),
            (Seg::Key(_), other) => return Err(not_a(path, &segs[..n], other, "a mapping")),
        };
    }
    match op {
        EditOp::Set(new) => {
            if v.is_null() && matches!(last, Seg::Key(_)) {
                *v = Value::Object(Default::default());
            }
            match (last, v) {
                (Seg::Key(k), Value::Object(m)) => {
                    m.insert(k.clone(), new.clone());
                }
                (Seg::Index(i), Value::Array(a)) => {
                    let len = a.len();
                    *a.get_mut(*i).ok_or_else(|| no_item(path, parents, *i, len))? = new.clone();
                }
                (Seg::Index(_), other) => return Err(not_a(path, parents, other, "a list")),
                (Seg::Key(_), other) => return Err(not_a(path, parents, other, "a mapping")),
            }
        }
        EditOp::Insert(new) => {
            let Seg::Index(i) = last else {
                return Err(err(
                    path,
                    "an insert names the index of the new list item",
                    "end the path with [N]",
                ));
            };
            if v.is_null() {
                *v = Value::Array(Vec::new());
            }
            let Value::Array(a) = v else {
                return Err(not_a(path, parents, v, "a list"));
            };
            if *i > a.len() {
                return Err(err(
                    path,
                    format!(
                        "{} has {}; a new item goes at an index from 0 to {}",
                        show(parents),
                        count_items(a.len()),
                        a.len()
                    ),
                    "",
                ));
            }
            a.insert(*i, new.clone());
        }
        EditOp::Remove => match (last, v) {
            (Seg::Key(k), Value::Object(m)) => return Ok(m.shift_remove(k).is_some()),
            (Seg::Key(_), Value::Null) => return Ok(false),
            (Seg::Index(i), Value::Array(a)) if *i < a.len() => {
                a.remove(*i);
            }
            (Seg::Index(i), Value::Array(a)) => return Err(no_item(path, parents, *i, a.len())),
            (Seg::Index(_), other) => return Err(not_a(path, parents, other, "a list")),
            (Seg::Key(_), other) => return Err(not_a(path, parents, other, "a mapping")),
        },
        EditOp::Rename(to) => {
            let (Seg::Key(k), Value::Object(m)) = (last, v) else {
                return Err(err(path, "only a key of a mapping can be renamed", ""));
            };
            if k == to {
                return Ok(false);
            }
            if m.contains_key(to) {
                return Err(err(
                    path,
                    format!("`{to}` is already a key of {}", show(parents)),
                    "remove it first, or choose another name",
                ));
            }
            let Some(x) = m.shift_remove(k) else {
                return Err(err(path, format!("{path} does not exist"), ""));
            };
            m.insert(to.clone(), x);
        }
    }
    Ok(true)
}

/// "1 item", "3 items".
/// The node at `at` is not what the path goes through (`want`: "a mapping",
/// "a list"): what it is, and what to do.
fn not_a(path: &str, at: &[Seg], v: &Value, want: &str) -> EditError {
    let kind = match v {
        Value::Null => "empty",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    };
    if at.is_empty() {
        return err(
            path,
            format!("the document is {kind}, not {want}"),
            "a site spec is a YAML mapping that starts with `apiVersion: meshbundle.dev/v1alpha1` and `kind: Site`",
        );
    }
    let at = show(at);
    let hint = if want == "a list" {
        "only a list's items are named with [N]: check the path against `meshbundle schema`".to_string()
    } else if v.is_array() {
        format!("name an item of the list, as in `{at}[0]`")
    } else {
        format!("`{at}` has no fields: set `{at}` itself, or check the path against `meshbundle schema`")
    };
    err(path, format!("{at} is {kind}, not {want}"), hint)
}

fn count_items(n: usize) -> String {
    if n == 1 { "1 item".into() } else { format!("{n} items") }
}

fn no_item(path: &str, list: &[Seg], i: usize, len: usize) -> EditError {
    err(
        path,
        format!("{} has {}, so there is no item {i}", show(list), count_items(len)),
        "insert an item to add one",
    )
}

// ------------------------------------------------------------ the document's nodes

#[derive(Debug)]
struct Node {
    /// Byte range of the node's text (for a block collection: from its first
    /// key or item to the end of its last; a block scalar: to its last
    /// character, without the line breaks after it).
    start: usize,
    end: usize,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Scalar { value: String, style: ScalarStyle },
    Alias,
    Map { flow: bool, entries: Vec<(Node, Node)> },
    Seq { flow: bool, items: Vec<Node> },
}

impl Node {
    fn is_empty_scalar(&self) -> bool {
        matches!(
            self.kind,
            Kind::Scalar {
                style: ScalarStyle::Plain,
                ..
            }
        ) && self.start == self.end
    }
    fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar { value, style: ScalarStyle::Plain } if matches!(value.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }
    fn is_block_scalar(&self) -> bool {
        matches!(
            self.kind,
            Kind::Scalar {
                style: ScalarStyle::Literal | ScalarStyle::Folded,
                ..
            }
        )
    }
    fn flow(&self) -> bool {
        match &self.kind {
            Kind::Map { flow, .. } | Kind::Seq { flow, .. } => *flow,
            _ => false,
        }
    }
}

/// Where a node sits: under a key (whose `:` is at `colon`), as a list item
/// (whose `-` is at `dash`, for a block list), or at the top.
#[derive(Clone, Copy, Debug)]
enum Place {
    Root,
    Value { colon: usize, key_start: usize },
    Item { dash: Option<usize> },
}

struct Doc<'a> {
    text: &'a str,
    root: Node,
    /// Indentation of a nested mapping, and of a list under a key.
    step: usize,
    seq_step: usize,
    /// The spaces between a block list item's `-` and what it holds (`-   name: x`).
    dash_gap: usize,
    nl: &'static str,
    /// Whether a text of several lines may be written as a literal block.
    literal: bool,
    /// Whether the document is written as JSON (a flow mapping whose keys
    /// are in double quotes): what is written into it is JSON too, so the
    /// file stays one that a JSON reader takes.
    json: bool,
}

impl<'a> Doc<'a> {
    fn parse(text: &'a str) -> Result<Doc<'a>, String> {
        let mut events = Vec::new();
        for ev in Parser::new_from_str(text) {
            let (e, span) = ev.map_err(|e| format!("the YAML does not parse: {e}"))?;
            // Comments (and any other presentation event) are not nodes:
            // they stay in the text, untouched.
            if !matches!(
                e,
                Event::DocumentStart(..)
                    | Event::DocumentEnd
                    | Event::Alias(_)
                    | Event::Scalar(..)
                    | Event::SequenceStart(..)
                    | Event::SequenceEnd
                    | Event::MappingStart(..)
                    | Event::MappingEnd
            ) {
                continue;
            }
            let s = span.start.byte_offset().ok_or("the YAML parser gave no byte offsets")?;
            let t = span.end.byte_offset().ok_or("the YAML parser gave no byte offsets")?;
            events.push((e, s, t));
        }
        let mut it = events
            .into_iter()
            .skip_while(|(e, _, _)| !matches!(e, Event::DocumentStart(..)))
            .skip(1)
            .peekable();
        let root = build(text, &mut it)?;
        let mut doc = Doc {
            text,
            root,
            step: 2,
            seq_step: 2,
            dash_gap: 1,
            // The line ends most of the text has (a stray "\r\n" in a file
            // of "\n" does not decide).
            nl: if text.matches("\r\n").count() * 2 > text.matches('\n').count() {
                "\r\n"
            } else {
                "\n"
            },
            literal: true,
            json: false,
        };
        doc.json = matches!(&doc.root.kind, Kind::Map { flow: true, entries }
            if entries.iter().all(|(k, _)| matches!(k.kind, Kind::Scalar { style: ScalarStyle::DoubleQuoted, .. })))
            && text.trim_start_matches('\u{feff}').trim_start().starts_with('{');
        let (step, seq_step) = doc.indents();
        doc.step = step.unwrap_or(2);
        doc.seq_step = seq_step.unwrap_or(doc.step);
        doc.dash_gap = doc.dash_gap().unwrap_or(1);
        Ok(doc)
    }

    /// The spaces after the `-` of the document's first block list item that
    /// holds something on the dash's line.
    fn dash_gap(&self) -> Option<usize> {
        fn walk(d: &Doc, n: &Node) -> Option<usize> {
            match &n.kind {
                Kind::Seq { flow: false, items } => items
                    .iter()
                    .find_map(|i| {
                        let (dash, b) = d.prev_char(i.start)?;
                        let gap = &d.text[dash + 1..i.start];
                        (b == b'-' && !gap.is_empty() && gap.bytes().all(|c| c == b' ')).then_some(gap.len())
                    })
                    .or_else(|| items.iter().find_map(|i| walk(d, i))),
                Kind::Map { entries, .. } => entries.iter().find_map(|(_, v)| walk(d, v)),
                Kind::Seq { items, .. } => items.iter().find_map(|i| walk(d, i)),
                _ => None,
            }
        }
        walk(self, &self.root)
    }

    fn col(&self, pos: usize) -> usize {
        pos - self.line_start(pos)
    }
    fn line_start(&self, pos: usize) -> usize {
        self.text[..pos].rfind('\n').map_or(0, |i| i + 1)
    }
    /// The position of the line break (`\n`, or the `\r` of `\r\n`) that
    /// ends the line holding `pos`, or the text's end.
    fn eol(&self, pos: usize) -> usize {
        match self.text[pos..].find('\n') {
            Some(i) if self.text[..pos + i].ends_with('\r') => pos + i - 1,
            Some(i) => pos + i,
            None => self.text.len(),
        }
    }
    /// The position after the line break that ends the line holding `pos`.
    fn line_end(&self, pos: usize) -> usize {
        self.text[pos..].find('\n').map_or(self.text.len(), |i| pos + i + 1)
    }
    /// The start of the comment lines right above the line starting at `ls`
    /// (no blank line between), written at column `col`: the comment of the
    /// key or item on that line, which goes with it. `ls` when there is none.
    fn comment_above(&self, ls: usize, col: usize) -> usize {
        let mut top = ls;
        while top > 0 {
            let above = self.line_start(top - 1);
            let line = self.text[above..top].trim_end_matches(['\n', '\r']);
            let body = line.trim_start_matches(' ');
            if !body.starts_with('#') || line.len() - body.len() != col {
                break;
            }
            top = above;
        }
        top
    }
    fn starts_line(&self, pos: usize) -> bool {
        self.text[self.line_start(pos)..pos].bytes().all(|b| b == b' ')
    }
    /// The first non-blank byte before `pos` and its position.
    fn prev_char(&self, pos: usize) -> Option<(usize, u8)> {
        self.text[..pos]
            .bytes()
            .enumerate()
            .rev()
            .find(|(_, b)| !b" \t\r\n".contains(b))
    }
    /// An alias node as written (`` `*base` ``) and its anchor
    /// (`` `&base` ``), for messages.
    fn alias_names(&self, node: &Node) -> (String, String) {
        let written = self.text.get(node.start..node.end).unwrap_or("").trim();
        let name = written.strip_prefix('*').unwrap_or(written);
        if name.is_empty() {
            ("an alias".to_string(), "its anchor".to_string())
        } else {
            (format!("an alias (`*{name}`)"), format!("`&{name}`"))
        }
    }

    fn colon_after(&self, key: &Node) -> Option<usize> {
        let rest = &self.text[key.end..];
        let off = rest.bytes().position(|b| b != b' ' && b != b'\t')?;
        (rest.as_bytes()[off] == b':').then_some(key.end + off)
    }

    /// The indentation the document uses for a mapping nested in a mapping,
    /// and for a block list under a key.
    fn indents(&self) -> (Option<usize>, Option<usize>) {
        fn walk(d: &Doc, n: &Node, step: &mut Option<usize>, seq: &mut Option<usize>) {
            match &n.kind {
                Kind::Map { flow: false, entries } => {
                    for (k, v) in entries {
                        match &v.kind {
                            Kind::Map {
                                flow: false,
                                entries: e,
                            } if step.is_none() && !e.is_empty() => {
                                let c = d.col(e[0].0.start);
                                if c > d.col(k.start) {
                                    *step = Some(c - d.col(k.start));
                                }
                            }
                            Kind::Seq { flow: false, items } if seq.is_none() && !items.is_empty() => {
                                if let Some((dash, b'-')) = d.prev_char(items[0].start) {
                                    *seq = Some(d.col(dash).saturating_sub(d.col(k.start)));
                                }
                            }
                            _ => {}
                        }
                        walk(d, v, step, seq);
                    }
                }
                Kind::Map { entries, .. } => entries.iter().for_each(|(_, v)| walk(d, v, step, seq)),
                Kind::Seq { items, .. } => items.iter().for_each(|i| walk(d, i, step, seq)),
                _ => {}
            }
        }
        let (mut step, mut seq) = (None, None);
        walk(self, &self.root, &mut step, &mut seq);
        (step, seq)
    }

    fn edit(&self, segs: &[Seg], op: &EditOp, path: &str) -> Result<String, EditError> {
        // Walk as far as the document goes: chain[d] is the node at depth d,
        // where it sits, and whether it is inside a flow collection.
        let mut chain: Vec<(&Node, Place, bool)> = vec![(&self.root, Place::Root, false)];
        while chain.len() <= segs.len() {
            let depth = chain.len() - 1;
            let (node, _, in_flow) = chain[depth];
            let next = match (&segs[depth], &node.kind) {
                (Seg::Key(k), Kind::Map { flow, entries }) => entries.iter().find_map(|(key, v)| match &key.kind {
                    Kind::Scalar { value, .. } if value == k => Some((
                        v,
                        Place::Value {
                            colon: self.colon_after(key).unwrap_or(key.end),
                            key_start: key.start,
                        },
                        in_flow || *flow,
                    )),
                    _ => None,
                }),
                (Seg::Index(i), Kind::Seq { flow, items }) => items.get(*i).map(|it| {
                    let dash = if *flow {
                        None
                    } else {
                        self.prev_code_char(it.start)
                            .filter(|(_, b)| *b == b'-')
                            .map(|(p, _)| p)
                    };
                    (it, Place::Item { dash }, in_flow || *flow)
                }),
                (_, Kind::Alias) => {
                    let (alias, anchor) = self.alias_names(node);
                    return Err(err(
                        path,
                        format!(
                            "`{}` is {alias}, the value anchored as {anchor} elsewhere",
                            show(&segs[..depth])
                        ),
                        format!("edit it where {anchor} is, or write this value out in the YAML"),
                    ));
                }
                _ => None,
            };
            match next {
                Some(n) => chain.push(n),
                None => break,
            }
        }
        let depth = chain.len() - 1;
        let n = segs.len();
        let (node, place, in_flow) = chain[depth];
        match op {
            EditOp::Set(v) if depth == n => self.replace(node, place, in_flow, v, path),
            EditOp::Set(v) => self.add_under(node, place, in_flow, &segs[depth..], v.clone(), path),
            EditOp::Insert(v) => {
                let Some(Seg::Index(i)) = segs.last() else {
                    return Err(err(path, "an insert ends with a list index", ""));
                };
                if depth >= n - 1 {
                    let (list, place, in_flow) = chain[n - 1];
                    match &list.kind {
                        // `key: []` in a block mapping (as the last item's
                        // removal leaves it): a first item that is a mapping
                        // makes it a block list again, as a list of
                        // mappings is written (a scalar stays `[x]`).
                        Kind::Seq { flow: true, items } if items.is_empty() && !in_flow && v.is_object() => match place
                        {
                            Place::Value { colon, key_start }
                                if self.text[list.end..self.line_end(list.end)].trim().is_empty() =>
                            {
                                let block = self.after_colon(&Value::Array(vec![v.clone()]), self.col(key_start), None);
                                Ok(self.splice(colon + 1, list.end, &block))
                            }
                            _ => self.insert_item(list, true, items, *i, v, path),
                        },
                        Kind::Seq { flow, items } => self.insert_item(list, *flow, items, *i, v, path),
                        _ if list.is_null() => self.replace(list, place, in_flow, &Value::Array(vec![v.clone()]), path),
                        _ => Err(err(path, format!("{} is not a list", show(&segs[..n - 1])), "")),
                    }
                } else {
                    self.add_under(
                        node,
                        place,
                        in_flow,
                        &segs[depth..n - 1],
                        Value::Array(vec![v.clone()]),
                        path,
                    )
                }
            }
            EditOp::Remove => {
                if depth < n - 1 {
                    return Err(err(path, format!("{} does not exist", show(&segs[..=depth])), ""));
                }
                self.remove(chain[n - 1].0, &segs[n - 1], path)
            }
            EditOp::Rename(to) => {
                if depth < n {
                    return Err(err(path, format!("{path} does not exist"), ""));
                }
                let (parent, _, in_flow) = chain[n - 1];
                let key = match (&parent.kind, &segs[n - 1]) {
                    (Kind::Map { entries, .. }, Seg::Key(k)) => entries.iter().find_map(|(key, _)| match &key.kind {
                        Kind::Scalar { value, style } if value == k => Some((key, *style)),
                        _ => None,
                    }),
                    _ => None,
                };
                let Some((key, style)) = key else {
                    return Err(err(path, format!("{path} does not exist"), ""));
                };
                Ok(self.splice(
                    key.start,
                    key.end,
                    &scalar_text(to, Some(style), in_flow || parent.flow()),
                ))
            }
        }
    }

    fn splice(&self, start: usize, end: usize, with: &str) -> String {
        let mut out = String::with_capacity(self.text.len() + with.len());
        out.push_str(&self.text[..start]);
        out.push_str(with);
        out.push_str(&self.text[end..]);
        out
    }

    /// The value of a key written after its `:` at indentation `indent`:
    /// ` scalar`, ` {flow}`, or a block on the following lines.
    fn after_colon(&self, v: &Value, indent: usize, style: Option<ScalarStyle>) -> String {
        if let Some(block) = self.literal_of(v, style, indent + self.step) {
            return format!(" {block}");
        }
        if is_block(v) {
            let ind = if v.is_array() {
                indent + self.seq_step
            } else {
                indent + self.step
            };
            format!("{}{}", self.nl, self.block(v, ind).join(self.nl))
        } else {
            format!(" {}", self.flow_text(v, style, false))
        }
    }

    /// `v` as a literal block scalar whose lines are indented by `indent`:
    /// its header (`|`, `|-` or `|+`) and its lines, each after a line
    /// break. Only for a text of several lines, when the value it replaces
    /// was not in quotes (those are kept), and when the block reads back as
    /// exactly that text: no control character but the line breaks, no line
    /// ending in a space, and a first line that does not start with one.
    fn literal_of(&self, v: &Value, style: Option<ScalarStyle>, indent: usize) -> Option<String> {
        let Value::String(s) = v else { return None };
        let body = s.trim_end_matches('\n');
        let first = body.split('\n').find(|l| !l.is_empty())?;
        if !self.literal
            || !s.contains('\n')
            || matches!(style, Some(ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted))
            || first.starts_with(' ')
            || body.split('\n').any(|l| l.ends_with(' '))
            || s.chars()
                .any(|c| c != '\n' && (c.is_control() || matches!(c, '\u{feff}' | '\u{2028}' | '\u{2029}')))
        {
            return None;
        }
        let breaks = s.len() - body.len();
        let mut out = String::from(["|-", "|", "|+"][breaks.min(2)]);
        for l in body.split('\n') {
            out.push_str(self.nl);
            if !l.is_empty() {
                out.extend(std::iter::repeat_n(' ', indent));
                out.push_str(l);
            }
        }
        // Kept (`|+`): each line break after the first is an empty line.
        for _ in 1..breaks {
            out.push_str(self.nl);
        }
        Some(out)
    }

    /// Lines of a non-empty mapping or list written as a block at `ind`.
    fn block(&self, v: &Value, ind: usize) -> Vec<String> {
        let pad = " ".repeat(ind);
        let mut out = Vec::new();
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    let key = scalar_text(k, None, false);
                    if is_block(x) {
                        out.push(format!("{pad}{key}:"));
                        let sub = if x.is_array() {
                            ind + self.seq_step
                        } else {
                            ind + self.step
                        };
                        out.extend(self.block(x, sub));
                    } else if let Some(block) = self.literal_of(x, None, ind + self.step) {
                        out.push(format!("{pad}{key}: {block}"));
                    } else {
                        out.push(format!("{pad}{key}: {}", flow(x, None, false)));
                    }
                }
            }
            Value::Array(a) => {
                // `- ` as the document writes it (`-   `).
                let dash = format!("-{}", " ".repeat(self.dash_gap));
                let inner = ind + dash.len();
                for x in a {
                    if is_block(x) {
                        let lines = self.block(x, inner);
                        for (n, l) in lines.into_iter().enumerate() {
                            out.push(if n == 0 {
                                format!("{pad}{dash}{}", &l[inner..])
                            } else {
                                l
                            });
                        }
                    } else {
                        out.push(format!("{pad}{dash}{}", flow(x, None, false)));
                    }
                }
            }
            _ => out.push(format!("{pad}{}", flow(v, None, false))),
        }
        out
    }

    /// `v` in flow form, as this document writes it: JSON in a JSON
    /// document, else [`flow`].
    fn flow_text(&self, v: &Value, style: Option<ScalarStyle>, in_flow: bool) -> String {
        if self.json {
            json_text(v)
        } else {
            flow(v, style, in_flow)
        }
    }

    /// Replaces an existing node with `v`.
    fn replace(&self, node: &Node, place: Place, in_flow: bool, v: &Value, path: &str) -> Result<String, EditError> {
        let style = match &node.kind {
            // An empty text is quoted because it must be (`""`): its quotes
            // say nothing of how the value put in its place is written.
            Kind::Scalar { value, .. } if value.is_empty() => None,
            Kind::Scalar { style, .. } => Some(*style),
            _ => None,
        };
        let value_end = match place {
            Place::Value { colon, .. } if node.is_empty_scalar() => Some(colon + 1),
            Place::Value { .. } => Some(node.end),
            _ => None,
        };
        // A literal block replaces the value only where nothing (no comment)
        // follows it on its line.
        let as_literal = !in_flow
            && !node.flow()
            && value_end.is_some_and(|end| self.text[end..self.line_end(end)].trim().is_empty())
            && self.literal_of(v, style, 0).is_some();
        if in_flow
            || node.flow()
            || (matches!(node.kind, Kind::Scalar { .. })
                && !node.is_block_scalar()
                && !node.is_empty_scalar()
                && !is_block(v)
                && !as_literal)
        {
            // In place, in flow form.
            if matches!(node.kind, Kind::Alias) {
                let (alias, anchor) = self.alias_names(node);
                return Err(err(
                    path,
                    format!("this value is {alias}, the value anchored as {anchor} elsewhere"),
                    format!("edit it where {anchor} is, or write this value out in the YAML"),
                ));
            }
            return Ok(self.splice(node.start, node.end, &self.flow_text(v, style, in_flow || node.flow())));
        }
        match place {
            Place::Value { colon, key_start } => {
                let with = self.after_colon(v, self.col(key_start), style);
                if !with.starts_with(self.nl) {
                    if !node.is_empty_scalar() && node.end > self.eol(colon) {
                        // A block (`time:   # c` over its entries, `x: |   # c`
                        // over its text) goes for a value on the key's line:
                        // the key's comment stays; the old value's go with it.
                        let key_comment = self.comment_in(colon + 1, self.eol(colon));
                        let end = self.past_comment(node.end);
                        return Ok(self.splice(colon + 1, end, &format!("{with}{key_comment}")));
                    }
                    let end = if node.is_empty_scalar() { colon + 1 } else { node.end };
                    return Ok(self.splice(colon + 1, end, &with));
                }
                // A block in place of the value. The key's comment stays on
                // the key's line: after an empty value (`time:   # c`), or
                // after a scalar (`sourceNode: x   # c`, moved up before the
                // block), or before a block value's first line. A comment
                // after the old value's last line goes with the old value.
                let key_eol = self.eol(colon);
                let comment_after = |end: usize| self.text[end..self.eol(end)].trim_start().starts_with('#');
                if node.is_empty_scalar() {
                    return Ok(self.splice(key_eol, key_eol, &with));
                }
                let end = if comment_after(node.end) {
                    self.eol(node.end)
                } else {
                    node.end
                };
                if node.start > key_eol {
                    return Ok(self.splice(key_eol, end, &with));
                }
                let keep = if comment_after(node.end) {
                    &self.text[node.end..end]
                } else {
                    ""
                };
                Ok(self.splice(colon + 1, end, &format!("{keep}{with}")))
            }
            Place::Item { dash: Some(dash) } => {
                let end = if node.is_empty_scalar() { dash + 1 } else { node.end };
                // The spaces after this item's dash stay (`-   x`).
                let gap = match &self.text[dash + 1..node.start.max(dash + 1)] {
                    g if !node.is_empty_scalar() && !g.is_empty() && g.bytes().all(|c| c == b' ') => g.len(),
                    _ => self.dash_gap,
                };
                let pad = " ".repeat(gap);
                let with = if is_block(v) {
                    let lines = self.block(v, self.col(dash) + 1 + gap);
                    format!("{pad}{}", lines.join(self.nl).trim_start_matches(' '))
                } else {
                    format!("{pad}{}", self.flow_text(v, style, false))
                };
                // A comment on the dash's line above the item's content
                // (`-   # c` over `name: a`) stays there, after the new value's
                // first line; the old content's own comments go with it.
                if !node.is_empty_scalar() && node.start > self.eol(dash) {
                    let dash_comment = self.comment_in(dash + 1, self.eol(dash));
                    if !dash_comment.is_empty() {
                        let end = self.past_comment(node.end);
                        let with = match with.split_once(self.nl) {
                            Some((first, more)) => format!("{first}{dash_comment}{}{more}", self.nl),
                            None => format!("{with}{dash_comment}"),
                        };
                        return Ok(self.splice(dash + 1, end, &with));
                    }
                }
                // A comment after the item (`- x   # c`, `-   # c`) stays on
                // the item's first line.
                let rest = &self.text[end..self.eol(end)];
                if let Some((first, more)) = with.split_once(self.nl)
                    && rest.trim_start().starts_with('#')
                {
                    return Ok(self.splice(dash + 1, self.eol(end), &format!("{first}{rest}{}{more}", self.nl)));
                }
                Ok(self.splice(dash + 1, end, &with))
            }
            Place::Item { dash: None } | Place::Root => Err(err(
                path,
                "this value is written in a form the editor does not rewrite",
                "edit the YAML text by hand",
            )),
        }
    }

    /// Adds the missing keys `rest` (then `v`) under `node`.
    fn add_under(
        &self,
        node: &Node,
        place: Place,
        in_flow: bool,
        rest: &[Seg],
        v: Value,
        path: &str,
    ) -> Result<String, EditError> {
        let Some((Seg::Key(first), deeper)) = rest.split_first() else {
            return Err(err(
                path,
                "a list item that does not exist cannot be set",
                "insert it instead",
            ));
        };
        let mut value = v;
        for s in deeper.iter().rev() {
            let Seg::Key(k) = s else {
                return Err(err(
                    path,
                    "a list item that does not exist cannot be set",
                    "insert it instead",
                ));
            };
            value = Value::Object([(k.clone(), value)].into_iter().collect());
        }
        match &node.kind {
            Kind::Map { flow: true, entries } => {
                let key = if self.json {
                    double_quoted(first)
                } else {
                    scalar_text(first, None, true)
                };
                let item = format!("{key}: {}", self.flow_text(&value, None, true));
                // A flow mapping written an entry a line: the new entry gets
                // a line of its own, at the column of the keys.
                let line_of = |pos: usize| self.line_start(pos);
                let own_lines = match entries.as_slice() {
                    [.., (a, _), (b, _)] => line_of(a.start) != line_of(b.start),
                    [(a, _)] => line_of(a.start) != line_of(node.start),
                    [] => false,
                };
                match entries.last() {
                    Some((k, last)) if own_lines => {
                        Ok(self.splice(last.end, last.end, &format!(",{}{}{item}", self.nl, self.lead(k.start))))
                    }
                    Some((_, last)) => Ok(self.splice(last.end, last.end, &format!(", {item}"))),
                    None => Ok(self.splice(node.start, node.end, &format!("{{{item}}}"))),
                }
            }
            Kind::Map { flow: false, entries } => {
                let ind = self.col(entries[0].0.start);
                let key = scalar_text(first, None, false);
                let (last_k, last_v) = entries.last().expect("a block mapping has an entry");
                let end = if last_v.is_empty_scalar() {
                    self.colon_after(last_k).unwrap_or(last_k.end)
                } else {
                    last_v.end
                };
                let at = self.line_end(end);
                let lead = if at == self.text.len() && !self.text.ends_with('\n') {
                    self.nl
                } else {
                    ""
                };
                let line = format!(
                    "{lead}{}{key}:{}{}",
                    " ".repeat(ind),
                    self.after_colon(&value, ind, None),
                    self.nl
                );
                Ok(self.splice(at, at, &line))
            }
            _ if node.is_null() => {
                let whole = Value::Object([(first.clone(), value)].into_iter().collect());
                self.replace(node, place, in_flow, &whole, path)
            }
            _ => Err(err(
                path,
                format!("`{first}` cannot be added: its parent is not a mapping"),
                "",
            )),
        }
    }

    fn insert_item(
        &self,
        node: &Node,
        is_flow: bool,
        items: &[Node],
        i: usize,
        v: &Value,
        path: &str,
    ) -> Result<String, EditError> {
        if is_flow {
            let item = self.flow_text(v, None, true);
            // A flow list written an item a line: the new item gets a line
            // of its own, at the column of the items.
            let line_of = |pos: usize| self.line_start(pos);
            let own_lines = match items {
                [.., a, b] => line_of(a.start) != line_of(b.start),
                [a] => line_of(a.start) != line_of(node.start),
                [] => false,
            };
            let pad = |n: &Node| self.lead(n.start);
            return Ok(match (items.get(i), items.last()) {
                (Some(at), _) if own_lines => {
                    self.splice(at.start, at.start, &format!("{item},{}{}", self.nl, pad(at)))
                }
                (None, Some(last)) if own_lines => {
                    self.splice(last.end, last.end, &format!(",{}{}{item}", self.nl, pad(last)))
                }
                (Some(at), _) => self.splice(at.start, at.start, &format!("{item}, ")),
                (None, Some(last)) => self.splice(last.end, last.end, &format!(", {item}")),
                (None, None) => self.splice(node.start, node.end, &format!("[{item}]")),
            });
        }
        let dash_of = |n: &Node| {
            self.prev_code_char(n.start)
                .filter(|(p, b)| *b == b'-' && self.starts_line(*p))
                .map(|(p, _)| p)
        };
        let first = dash_of(&items[0]).ok_or_else(|| {
            err(
                path,
                "this list is written in a form the editor does not extend",
                "edit the YAML text by hand",
            )
        })?;
        let lines = self.block(&Value::Array(vec![v.clone()]), self.col(first));
        let text = format!("{}{}", lines.join(self.nl), self.nl);
        match items.get(i) {
            Some(at) => {
                let dash = dash_of(at).ok_or_else(|| {
                    err(
                        path,
                        "this list is written in a form the editor does not extend",
                        "edit the YAML text by hand",
                    )
                })?;
                // Before the comment above the item, which stays with it.
                let ls = self.comment_above(self.line_start(dash), self.col(dash));
                Ok(self.splice(ls, ls, &text))
            }
            None => {
                let end = items.last().expect("non-empty").end;
                let end = end.max(dash_of(items.last().expect("non-empty")).unwrap_or(0) + 1);
                let at = self.line_end(end);
                let lead = if at == self.text.len() && !self.text.ends_with('\n') {
                    self.nl
                } else {
                    ""
                };
                Ok(self.splice(at, at, &format!("{lead}{text}")))
            }
        }
    }

    /// Removes key or item `last` of `node` (the mapping or list holding it).
    fn remove(&self, node: &Node, last: &Seg, path: &str) -> Result<String, EditError> {
        let cannot = || {
            err(
                path,
                "this value is written in a form the editor does not rewrite",
                "edit the YAML text by hand",
            )
        };
        match (&node.kind, last) {
            (Kind::Map { flow, entries }, Seg::Key(k)) => {
                let idx = entries
                    .iter()
                    .position(|(key, _)| matches!(&key.kind, Kind::Scalar { value, .. } if value == k))
                    .ok_or_else(cannot)?;
                let (key, val) = &entries[idx];
                let val_end = if val.is_empty_scalar() {
                    self.colon_after(key).ok_or_else(cannot)? + 1
                } else {
                    val.end
                };
                if entries.len() == 1 {
                    return Ok(self.empty_collection(node, "{}"));
                }
                if *flow {
                    return Ok(match entries.get(idx + 1) {
                        Some((next, _)) => self.splice(key.start, next.start, ""),
                        None => self.splice(entries[idx - 1].1.end.max(entries[idx - 1].0.end), val_end, ""),
                    });
                }
                if self.starts_line(key.start) {
                    // With the comment above it.
                    let from = self.comment_above(self.line_start(key.start), self.col(key.start));
                    Ok(self.splice(from, self.line_end(val_end), ""))
                } else if self.prev_code_char(key.start).is_some_and(|(_, b)| b == b'-') {
                    // The first key of a list item (`- name: x`): the next key moves up.
                    let (next, _) = entries.get(idx + 1).ok_or_else(cannot)?;
                    Ok(self.splice(key.start, next.start, ""))
                } else {
                    // `&a key:`, `!!str key:`, `? key`: what comes before the
                    // key on its line is not the key's, nor a dash.
                    Err(err(
                        path,
                        "this key has an anchor, a tag or `?` written before it, which the editor does not rewrite",
                        "edit the YAML text by hand",
                    ))
                }
            }
            (Kind::Seq { flow, items }, Seg::Index(i)) => {
                let item = items.get(*i).ok_or_else(cannot)?;
                if items.len() == 1 {
                    return Ok(self.empty_collection(node, "[]"));
                }
                if *flow {
                    return Ok(match items.get(i + 1) {
                        Some(next) => self.splice(item.start, next.start, ""),
                        None => self.splice(items[i - 1].end, item.end, ""),
                    });
                }
                let (dash, _) = self
                    .prev_code_char(item.start)
                    .filter(|(p, b)| *b == b'-' && self.starts_line(*p))
                    .ok_or_else(cannot)?;
                // With the comment above it.
                let from = self.comment_above(self.line_start(dash), self.col(dash));
                Ok(self.splice(from, self.line_end(item.end.max(dash + 1)), ""))
            }
            _ => Err(cannot()),
        }
    }

    /// `node`, a collection whose last entry goes, written as `{}` or `[]`
    /// after the `:` or `-` that introduces it. What was inside goes (the
    /// comments of the entry too); a comment on the introducing line stays.
    fn empty_collection(&self, node: &Node, empty: &str) -> String {
        if node.flow() {
            return self.splice(node.start, node.end, empty);
        }
        let (start, end) = match &node.kind {
            Kind::Seq { items, .. } => (self.prev_char(items[0].start).map_or(node.start, |(p, _)| p), node.end),
            // A last key with no value ends at its `:`.
            Kind::Map { entries, .. } => {
                let end = match entries.last() {
                    Some((k, v)) if v.is_empty_scalar() => self.colon_after(k).map_or(node.end, |c| c + 1),
                    _ => node.end,
                };
                (node.start, end.max(node.end))
            }
            _ => (node.start, node.end),
        };
        // A block that ends the document ends after its last line break,
        // which stays.
        let end = if end > start && self.text[..end].ends_with('\n') {
            self.eol(end - 1)
        } else {
            end
        };
        // The comment after the last entry or item goes with it.
        let end = self.past_comment(end);
        // Back to the `:` or `-` that introduces the block, past comments
        // (whose own text may end in `:`).
        match self.prev_code_char(start) {
            Some((p, b':' | b'-')) => {
                let rest = &self.text[p + 1..self.eol(p + 1)];
                let comment = if rest.trim_start().starts_with('#') { rest } else { "" };
                self.splice(p + 1, end, &format!(" {empty}{comment}"))
            }
            _ => self.splice(start, end, empty),
        }
    }

    /// What comes before `pos` on its line when it is blanks only (spaces,
    /// or the tabs a file indents with), else as many spaces as its column:
    /// what a line of its own starts with to begin where `pos` does.
    fn lead(&self, pos: usize) -> String {
        let before = &self.text[self.line_start(pos)..pos];
        if before.bytes().all(|b| b == b' ' || b == b'\t') {
            before.to_string()
        } else {
            " ".repeat(self.col(pos))
        }
    }

    /// `pos`, or the end of its line's comment when one follows `pos` on
    /// its line (`pos` not at a line's start).
    fn past_comment(&self, pos: usize) -> usize {
        if pos == 0 || self.text[..pos].ends_with('\n') || self.comment_in(pos, self.eol(pos)).is_empty() {
            pos
        } else {
            self.eol(pos)
        }
    }

    /// The comment that ends the text from `from` to `to` (one line's
    /// part), with the blanks before it: `"   # c"` of `|   # c` or of
    /// `  # c`; empty when there is none.
    fn comment_in(&self, from: usize, to: usize) -> &'a str {
        let part = &self.text[from..to];
        let hash = if part.trim_start_matches([' ', '\t']).starts_with('#') {
            part.find('#')
        } else {
            part.find(" #").or_else(|| part.find("\t#")).map(|i| i + 1)
        };
        match hash {
            Some(h) => {
                let blanks = part[..h].len() - part[..h].trim_end_matches([' ', '\t']).len();
                &part[h - blanks..]
            }
            None => "",
        }
    }

    /// The last byte before `pos` that is not blank and not in a comment,
    /// and its position.
    fn prev_code_char(&self, pos: usize) -> Option<(usize, u8)> {
        let mut to = pos;
        loop {
            let from = self.line_start(to);
            let line = &self.text[from..to];
            // A comment starts the line or follows a space or a tab.
            let code = match line.trim_start_matches([' ', '\t']).starts_with('#') {
                true => "",
                false => line
                    .find(" #")
                    .or_else(|| line.find("\t#"))
                    .map_or(line, |c| &line[..c]),
            };
            let code = code.trim_end_matches([' ', '\t', '\r', '\n']);
            if let Some(b) = code.bytes().last() {
                return Some((from + code.len() - 1, b));
            }
            if from == 0 {
                return None;
            }
            to = from - 1;
        }
    }
}

fn build<'i, I: Iterator<Item = (Event<'i>, usize, usize)>>(
    text: &str,
    it: &mut std::iter::Peekable<I>,
) -> Result<Node, String> {
    let (e, s, t) = it.next().ok_or("the YAML document ends early")?;
    match e {
        Event::Scalar(value, style, _, _) => {
            let (mut start, mut end) = (s, t);
            if matches!(style, ScalarStyle::Literal | ScalarStyle::Folded) {
                end = s + text[s..t].trim_end_matches(['\n', '\r', ' ']).len();
                // The parser's span starts at the first line of the text; the
                // node starts at its header (`|`, `>-`), where a list item's
                // dash is found before it.
                start = block_header(text, s).unwrap_or(s);
                // A block that keeps its final line breaks (`|+`, `>+`): its
                // blank lines are its text, so the node ends on the last of
                // them (a key added after it goes after them).
                let header = text[start..].split(['\n', '#']).next().unwrap_or("");
                if start != s && header.contains('+') && text[..t].ends_with('\n') {
                    end = t - if text[..t].ends_with("\r\n") { 2 } else { 1 };
                }
            }
            Ok(Node {
                start,
                end,
                kind: Kind::Scalar {
                    value: value.into_owned(),
                    style,
                },
            })
        }
        Event::Alias(_) => Ok(Node {
            start: s,
            end: t,
            kind: Kind::Alias,
        }),
        Event::MappingStart(style, _, _) => {
            let flow = style == StructureStyle::Flow;
            let mut entries = Vec::new();
            loop {
                if matches!(it.peek(), Some((Event::MappingEnd, _, _))) {
                    let (_, _, end) = it.next().expect("peeked");
                    let (start, end) = if flow {
                        (s, end)
                    } else {
                        match (entries.first(), entries.last()) {
                            (Some((k, _)), Some((_, v))) => (k_start(k), node_end(v, k_end(&entries))),
                            _ => (s, s),
                        }
                    };
                    return Ok(Node {
                        start,
                        end,
                        kind: Kind::Map { flow, entries },
                    });
                }
                let k = build(text, it)?;
                if !matches!(k.kind, Kind::Scalar { .. }) {
                    return Err("a mapping key that is not text cannot be edited".into());
                }
                let v = build(text, it)?;
                entries.push((k, v));
            }
        }
        Event::SequenceStart(style, _, _) => {
            let flow = style == StructureStyle::Flow;
            let mut items: Vec<Node> = Vec::new();
            loop {
                if matches!(it.peek(), Some((Event::SequenceEnd, _, _))) {
                    let (_, _, end) = it.next().expect("peeked");
                    let (start, end) = if flow {
                        (s, end)
                    } else {
                        match (items.first(), items.last()) {
                            (Some(f), Some(l)) => (f.start, l.end.max(f.start)),
                            _ => (s, s),
                        }
                    };
                    return Ok(Node {
                        start,
                        end,
                        kind: Kind::Seq { flow, items },
                    });
                }
                items.push(build(text, it)?);
            }
        }
        other => Err(format!("unexpected YAML event {other:?}")),
    }
}

/// Where the header (`|`, `>`, with its indicators) of the block scalar
/// whose text starts at `content` is: on the last line before it that is not
/// blank, the rightmost `|` or `>` that only indicators, spaces and a
/// comment follow.
fn block_header(text: &str, content: usize) -> Option<usize> {
    let before = text[..content.min(text.len())].trim_end_matches([' ', '\t', '\r', '\n']);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = &before[line_start..];
    line.char_indices()
        .rev()
        .filter(|(_, c)| matches!(c, '|' | '>'))
        .map(|(i, _)| i)
        .find(|&i| {
            let rest = line[i + 1..].trim_start_matches(|c: char| matches!(c, '+' | '-') || c.is_ascii_digit());
            let rest = rest.trim_start_matches([' ', '\t']);
            rest.is_empty() || (rest.starts_with('#') && rest.len() < line[i + 1..].len())
        })
        .map(|i| line_start + i)
}

fn k_start(k: &Node) -> usize {
    k.start
}
fn k_end(entries: &[(Node, Node)]) -> usize {
    entries.last().map_or(0, |(k, _)| k.end)
}
/// The end of a block mapping's last value; an empty value ends at its key.
fn node_end(v: &Node, key_end: usize) -> usize {
    v.end.max(key_end)
}

// ------------------------------------------------------------ writing values

fn is_block(v: &Value) -> bool {
    match v {
        Value::Object(m) => !m.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => false,
    }
}

/// A number as written in the spec: in decimals, never with an exponent
/// (`1e-7` is text to a YAML 1.1 reader, and `1e+23` loses nothing only in
/// decimals), with a `.0` when a fraction has no fractional digits.
fn number_text(n: &serde_json::Number) -> String {
    match n.as_f64() {
        Some(f) if !n.is_i64() && !n.is_u64() && f.is_finite() => {
            let t = f.to_string();
            if t.contains(['.', 'e', 'E']) {
                t
            } else {
                format!("{t}.0")
            }
        }
        _ => n.to_string(),
    }
}

/// `v` as JSON (which YAML reads as the same value): every text in double
/// quotes, escaped as both read them.
fn json_text(v: &Value) -> String {
    match v {
        Value::String(s) => double_quoted(s),
        Value::Array(a) => format!("[{}]", a.iter().map(json_text).collect::<Vec<_>>().join(", ")),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, x)| format!("{}: {}", double_quoted(k), json_text(x)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => flow(v, None, true),
    }
}

/// A value on one line: a scalar, or `{k: v}` / `[a, b]`.
fn flow(v: &Value, style: Option<ScalarStyle>, in_flow: bool) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number_text(n),
        Value::String(s) => scalar_text(s, style, in_flow),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(|x| flow(x, None, true)).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, x)| format!("{}: {}", scalar_text(k, None, true), flow(x, None, true)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A string written so that any YAML reader (1.1 or 1.2) reads it back as
/// this same string: plain when that is safe, else in the quotes it had
/// (`style`), else double-quoted.
pub fn scalar_text(s: &str, style: Option<ScalarStyle>, in_flow: bool) -> String {
    match style {
        Some(ScalarStyle::SingleQuoted) if s.chars().all(|c| c == ' ' || (!c.is_control() && c != '\u{feff}')) => {
            format!("'{}'", s.replace('\'', "''"))
        }
        Some(ScalarStyle::DoubleQuoted) => double_quoted(s),
        _ if plain_ok(s, in_flow) => s.to_string(),
        _ => double_quoted(s),
    }
}

fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20
                || c == '\u{7f}'
                || ('\u{80}'..='\u{9f}').contains(&c)
                || c == '\u{feff}'
                || c == '\u{2028}'
                || c == '\u{2029}' =>
            {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether `s` can be written without quotes and still read as this string
/// by YAML 1.2 and 1.1 readers alike.
fn plain_ok(s: &str, in_flow: bool) -> bool {
    let Some(first) = s.chars().next() else { return false };
    if !(first.is_ascii_alphanumeric() || first == '/' || first == '_') {
        return false;
    }
    if s.ends_with([' ', ':']) || s.contains(": ") || s.contains(" #") || s.contains("  ") {
        return false;
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._/-:@+=%".contains(c) || c == ' ' || (c == ',' && !in_flow);
    if !s.chars().all(allowed) {
        return false;
    }
    !reads_as_other_type(s)
}

/// Whether a plain scalar `s` would be read by some YAML reader as a
/// boolean, null, number or time rather than as text.
fn reads_as_other_type(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null" | "~"
    ) {
        return true;
    }
    let digits = lower.replace('_', "");
    let body = digits.trim_start_matches(['+', '-']);
    if body.parse::<f64>().is_ok() || matches!(body, "inf" | "nan" | "infinity" | ".inf" | ".nan") {
        return true;
    }
    // 0x1f, 0o17, 0b101
    if body.len() > 2
        && ["0x", "0o", "0b"].iter().any(|p| body.starts_with(p))
        && body[2..].bytes().all(|b| b.is_ascii_hexdigit())
    {
        return true;
    }
    // YAML 1.1 sexagesimal: 12:30, 190:20:30.15
    let parts: Vec<&str> = body.split(':').collect();
    if parts.len() > 1
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        && parts[parts.len() - 1]
            .split_once('.')
            .map_or(parts[parts.len() - 1], |(a, _)| a)
            .bytes()
            .all(|b| b.is_ascii_digit())
    {
        return true;
    }
    // YAML 1.1 timestamps: 2001-12-14, 2001-12-14t21:59:43.10-05:00
    let b = s.as_bytes();
    b.len() >= 8 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-'
}

#[cfg(test)]
#[path = "edit_tests.rs"]
mod tests;
