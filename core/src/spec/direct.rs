//! The quick way to read YAML into JSON: the parser's events straight into
//! a [`Value`], for text whose every node means one obvious thing.
//!
//! Most texts a render reads (a spec, Istio's addon manifests, Prometheus's
//! configuration) are plain block YAML: mappings of text keys, lists, text,
//! whole numbers, `true`/`false`/`null`. Read through serde this way or the
//! strict way ([`super::load`]), each value passes many layers, and in the
//! configurator the code of those layers is compiled the first time it runs:
//! read directly, the production example takes about a third of the time
//! there, and Istio's addon manifests about two thirds.
//!
//! This reader gives up (`None`) on anything whose meaning it does not
//! settle itself, and the caller reads that text the full way, which is the
//! one that reports problems: a tag, an anchor or an alias, a merge key
//! (`<<`), a `%YAML` directive, a key that is not text, a repeated key, a
//! second document, and every plain scalar that could be read as something
//! other than what it decides (`yes`, `0x1F`, `1e3`, `.inf`, `007`, `+1`).
//! What it does return is what the full reader returns for the same text:
//! the tests compare the two on the examples, every upstream manifest of the
//! catalog, and texts made to probe each rule.

use granit_parser::{Event, Parser, ScalarStyle};
use serde_json::{Map, Number, Value};

/// Deeper than this, the full reader decides (its limit is 128).
const MAX_DEPTH: usize = 100;
/// More nodes than this, the full reader decides (its budget is 250,000).
const MAX_NODES: usize = 200_000;
/// A longer key, the full reader decides (its scanner's lookahead for a
/// simple key is 1,024 characters).
const MAX_KEY: usize = 1_000;

/// `text` as JSON, or `None` when the full reader must read it.
pub(crate) fn read(text: &str) -> Option<Value> {
    // The full reader says where a NUL byte is.
    if text.contains('\0') {
        return None;
    }
    enum Frame {
        Seq(Vec<Value>),
        Map(Map<String, Value>, Option<String>),
    }
    let mut stack: Vec<Frame> = Vec::new();
    let mut out: Option<Value> = None;
    let mut documents = 0;
    let mut nodes = 0usize;
    for event in Parser::new_from_str(text) {
        let (event, _) = event.ok()?;
        let value = match event {
            Event::DocumentStart(_, version) => {
                documents += 1;
                if documents > 1 || version.is_some() {
                    return None;
                }
                continue;
            }
            Event::Scalar(text, style, anchor, tag) => {
                if anchor != 0 || tag.is_some() {
                    return None;
                }
                // A key: text, as the full reader writes it.
                if let Some(Frame::Map(_, pending @ None)) = stack.last_mut() {
                    *pending = Some(key(&text, style)?);
                    continue;
                }
                scalar(text.into_owned(), style)?
            }
            Event::SequenceStart(_, anchor, tag) | Event::MappingStart(_, anchor, tag)
                if anchor != 0 || tag.is_some() =>
            {
                return None;
            }
            Event::SequenceStart(..) | Event::MappingStart(..) => {
                // A collection as a key.
                if matches!(stack.last(), Some(Frame::Map(_, None))) || stack.len() >= MAX_DEPTH {
                    return None;
                }
                stack.push(if matches!(event, Event::SequenceStart(..)) {
                    Frame::Seq(Vec::new())
                } else {
                    Frame::Map(Map::new(), None)
                });
                continue;
            }
            Event::SequenceEnd => match stack.pop()? {
                Frame::Seq(items) => Value::Array(items),
                Frame::Map(..) => return None,
            },
            Event::MappingEnd => match stack.pop()? {
                Frame::Map(entries, None) => Value::Object(entries),
                _ => return None,
            },
            Event::Alias(_) | Event::Anchor(..) | Event::UnresolvedAlias(_) => return None,
            // The stream's and documents' bounds, and what is not a node:
            // comments, when the parser is built to tell them.
            _ => continue,
        };
        nodes += 1;
        if nodes > MAX_NODES {
            return None;
        }
        match stack.last_mut() {
            None => {
                if out.is_some() {
                    return None;
                }
                out = Some(value);
            }
            Some(Frame::Seq(items)) => items.push(value),
            Some(Frame::Map(entries, pending)) => {
                let key = pending.take()?;
                if entries.insert(key, value).is_some() {
                    return None;
                }
            }
        }
    }
    if !stack.is_empty() {
        return None;
    }
    out
}

/// A key's text, when the full reader would take it as that text: not
/// `<<` (a merge key), and not a scalar it reads as a number, a boolean or
/// null (which it takes as written, after checking the key is not repeated
/// as the same value: `1` and `+1`).
fn key(text: &str, style: ScalarStyle) -> Option<String> {
    if text.chars().count() > MAX_KEY {
        return None;
    }
    match scalar(text.to_string(), style)? {
        Value::String(s) if !(style == ScalarStyle::Plain && s == "<<") => Some(s),
        _ => None,
    }
}

/// A scalar's value. A quoted or block scalar is text. A plain one is
/// null, a boolean, a whole number or a decimal fraction written the one
/// way YAML 1.2 reads it so, or text when it cannot be any of these;
/// `None` for every other spelling.
fn scalar(text: String, style: ScalarStyle) -> Option<Value> {
    if style != ScalarStyle::Plain {
        return Some(Value::String(text));
    }
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Some(Value::Null),
        "true" | "True" | "TRUE" => return Some(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Some(Value::Bool(false)),
        _ => {}
    }
    let first = text.as_bytes()[0];
    if first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.') {
        return number(&text)
            .map(Value::Number)
            .or_else(|| (!numeric(&text)).then_some(Value::String(text)));
    }
    // Words other readers take for booleans, nulls or numbers: the full
    // reader decides (YAML 1.2 makes them text).
    const WORDS: &[&str] = &["yes", "no", "on", "off", "y", "n", "inf", "infinity", "nan"];
    if WORDS.iter().any(|w| text.eq_ignore_ascii_case(w))
        || text.starts_with([' ', '\t'])
        || text.ends_with([' ', '\t'])
    {
        return None;
    }
    Some(Value::String(text))
}

/// A whole number (`0`, `42`, `-7`; no sign `+`, no leading zero, at most 18
/// digits) or a decimal fraction (`0.5`, `-12.25`) as JSON.
fn number(text: &str) -> Option<Number> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let whole = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    match digits.split_once('.') {
        None if whole(digits) && digits.len() <= 18 => {
            if text.starts_with('-') {
                if digits == "0" {
                    return None;
                }
                text.parse::<i64>().ok().map(Number::from)
            } else {
                text.parse::<u64>().ok().map(Number::from)
            }
        }
        Some((int, frac))
            if whole(int)
                && !frac.is_empty()
                && frac.len() <= 17
                && int.len() <= 17
                && frac.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Number::from_f64(text.parse::<f64>().ok()?)
        }
        _ => None,
    }
}

/// Whether the full reader may read a plain scalar that starts with a
/// digit, a sign or a dot as a number (then it decides): any spelling of a
/// number Rust reads (`1e3`, `.5`, `007`, `+1`), an integer in a radix or
/// with `_` (`0x1F`, `0o17`, `1_000`), and `.inf` and `.nan` however signed
/// and cased. `10.0.0.1`, `1.30.3`, `10.0.0.5:5000`, `15d` and `100m` are
/// text.
fn numeric(text: &str) -> bool {
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let lower = unsigned.to_ascii_lowercase();
    let integer = match ["0x", "0o", "0b"].iter().find_map(|p| lower.strip_prefix(p)) {
        Some(digits) => digits.bytes().all(|b| b.is_ascii_hexdigit() || b == b'_'),
        None => !lower.is_empty() && lower.bytes().all(|b| b.is_ascii_digit() || b == b'_'),
    };
    integer || text.parse::<f64>().is_ok() || lower.starts_with(".inf") || lower.starts_with(".nan")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the full reader makes of `text` (the serde way the quick path
    /// of `load` takes).
    fn full(text: &str) -> Option<Value> {
        super::super::load::full_value(text).ok()
    }

    fn same(text: &str) {
        if let Some(quick) = read(text) {
            assert_eq!(Some(quick), full(text), "the quick reader differs on {text:?}");
        }
    }

    #[test]
    fn reads_what_the_full_reader_reads() {
        for text in [
            "a: 1\nb: -2\nc: 0\nd: 0.5\ne: -12.25\nf: text\ng: 'quoted'\nh: \"q\"\n",
            "a: true\nb: True\nc: FALSE\nd: null\ne: ~\nf:\ng: Null\n",
            "l:\n  - 1\n  - x\n  - [a, b, {c: d}]\nm: {x: 1, z: [2]}\n",
            "s: |\n  line 1\n  line 2\nt: >\n  folded\n  text\nu: |-\n  kept\n",
            "ports: [\"80:8080\", 443]\ncpu: 100m\nmemory: 128Mi\nsubnet: 10.0.0.0/24\nv: v1\n",
            "num: 123456789012345678\nneg: -123456789012345678\n",
            "f: 3.14159265358979\ng: 0.1\nh: 100.0\n",
            "key with spaces: value with spaces\n'quoted key': 1\n\"1\": one\n",
            "a: b # comment\n# only a comment\nc: d\n",
            "---\na: 1\n...\n",
            "[1, 2, 3]\n",
            "just text\n",
            "42\n",
            "a:\n- b\n- c\n",
            "empty: {}\nnone: []\n",
            "unicode: héllo ✓\n",
            "tab:\t\"x\"\n",
            "address: 10.0.0.11\nversion: 1.30.3\nregistry: 10.0.0.5:5000\nretention: 15d\nrc: 1.31.0-rc.0\n",
            "time: 1:30\nplus: +\ndot: .\nword: .git\nminus: -x\n",
        ] {
            assert!(read(text).is_some(), "the quick reader gave up on {text:?}");
            same(text);
        }
    }

    #[test]
    fn leaves_to_the_full_reader_what_it_does_not_settle() {
        for text in [
            "a: !!str 1\n",
            "a: &x 1\nb: *x\n",
            "a: &x {b: 1}\n",
            "<<: {a: 1}\nb: 2\n",
            "%YAML 1.1\n---\na: yes\n",
            "a: 1\n---\nb: 2\n",
            "a: 1\na: 2\n",
            "1: a\n",
            "~: a\n",
            "true: a\n",
            "? [a]\n: b\n",
            "a: yes\n",
            "a: No\n",
            "a: on\n",
            "a: 0x1F\n",
            "a: 0o17\n",
            "a: 1e3\n",
            "a: .inf\n",
            "a: -.inf\n",
            "a: .NaN\n",
            "a: 007\n",
            "a: +1\n",
            "a: 1_000\n",
            "a: 1.\n",
            "a: .5\n",
            "a: -0\n",
            "a: 12345678901234567890\n",
            "a: inf\n",
            "a: NaN\n",
            "a: [1, 2\n",
            "a: b: c\n",
            "",
            "a: \"x\0y\"\n",
        ] {
            assert_eq!(read(text), None, "the quick reader read {text:?}");
        }
    }

    #[test]
    fn reads_the_examples_and_every_upstream_manifest_as_the_full_reader_does() {
        // The examples (what the configurator opens with) all the quick way.
        for (name, _, text) in crate::examples::EXAMPLES {
            assert!(read(text).is_some(), "the quick reader gave up on the example {name}");
        }
        let mut texts: Vec<String> = crate::examples::EXAMPLES.iter().map(|e| e.2.to_string()).collect();
        let upstream = concat!(env!("CARGO_MANIFEST_DIR"), "/../images/upstream");
        let mut stack = vec![std::path::PathBuf::from(upstream)];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    texts.extend(text.split("\n---").map(str::to_string));
                }
            }
        }
        let mut quick = 0;
        for text in &texts {
            if read(text).is_some() {
                quick += 1;
            }
            same(text);
        }
        // Nearly every document is read the quick way.
        assert!(
            quick * 10 >= texts.len() * 9,
            "{quick} of {} read the quick way",
            texts.len()
        );
    }

    /// A flow collection of random scalars and collections, nested.
    fn flow() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let scalar = prop_oneof![
            "[-+.0-9a-zA-Z_~/]{1,8}",
            "[-+.0-9a-z ]{0,6}".prop_map(|s| format!("'{s}'")),
            "[-+.0-9a-z ]{0,6}".prop_map(|s| format!("\"{s}\"")),
        ];
        scalar.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(|v| format!("[{}]", v.join(", "))),
                proptest::collection::vec(("[a-z0-9]{1,4}", inner), 0..5).prop_map(|v| {
                    let entries: Vec<String> = v.into_iter().map(|(k, v)| format!("{k}: {v}")).collect();
                    format!("{{{}}}", entries.join(", "))
                }),
            ]
        })
    }

    proptest::proptest! {
        /// Nested flow collections: read as the full reader reads them, or left.
        #[test]
        fn flow_collections(f in flow(), g in flow()) {
            same(&format!("a: {f}\nb:\n  - {g}\n  - x\n"));
            same(&format!("{f}\n"));
        }

        /// Any plain scalar, as a value and as a key: the quick reader
        /// reads it as the full reader does, or leaves it.
        #[test]
        fn plain_scalars(s in "[-+.0-9a-zA-Z_:~/ ]{1,12}") {
            same(&format!("a: {s}\n"));
            same(&format!("{s}: a\n"));
            same(&format!("- {s}\n- x\n"));
        }
    }
}
