//! The structural check of a spec against its JSON Schema, before it is read
//! into the typed [`Site`](super::Site): every unknown field, wrong type,
//! invalid choice and missing field at once, each with its path. Only the
//! parts of JSON Schema that the spec's schema uses are understood (`$ref`,
//! `type`, `properties`, `additionalProperties`, `required`, `items`, `enum`,
//! `const`, `anyOf`, integer bounds); the schema itself is checked against
//! the types by a test.

use std::sync::OnceLock;

use serde_json::Value;

use crate::diag;

/// The schema of `meshbundle.yaml` (`schema/site.schema.json`) without the
/// spaces between its tokens (build.rs); `meshbundle schema` prints it laid
/// out ([`crate::schema::Document::committed`]).
pub static SITE_SCHEMA_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/site.schema.min.json"));

pub(crate) fn site_schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        serde_json::from_str(SITE_SCHEMA_JSON).expect("schema/site.schema.json is checked by the tests")
    })
}

/// What is wrong at one place.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Issue {
    UnknownField { name: String, known: Vec<String> },
    Missing { name: String },
    WrongType { expected: String, found: &'static str },
    NotAChoice { found: String, choices: Vec<String> },
    OutOfRange { found: String, range: String },
}

#[derive(Debug, Clone)]
pub(crate) struct Found {
    /// Path of the value concerned (for a missing field, its parent).
    pub path: String,
    pub issue: Issue,
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "mapping",
    }
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "integer" => v.as_i64().is_some() || v.as_u64().is_some(),
        "number" => v.is_number(),
        "string" => v.is_string(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => true,
    }
}

fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    match schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/$defs/"))
    {
        Some(name) => root.get("$defs").and_then(|d| d.get(name)).unwrap_or(schema),
        None => schema,
    }
}

fn describe_types(schema: &Value) -> String {
    let names = |t: &str| match t {
        "object" => "a mapping".to_string(),
        "array" => "a list".to_string(),
        "integer" => "a whole number".to_string(),
        "number" => "a number".to_string(),
        "boolean" => "true or false".to_string(),
        "string" => "text".to_string(),
        other => other.to_string(),
    };
    match schema.get("type") {
        Some(Value::String(t)) => names(t),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| *t != "null")
            .map(names)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "another type".into(),
    }
}

/// Checks `value` at `path` against `schema`, collecting every issue.
pub(crate) fn check(root: &Value, schema: &Value, value: &Value, path: &str, out: &mut Vec<Found>) {
    let schema = resolve(root, schema);
    if let Some(branches) = schema
        .get("anyOf")
        .or_else(|| schema.get("oneOf"))
        .and_then(Value::as_array)
    {
        // Option<T> is `anyOf: [T, null]`: null is fine, anything else is checked as T.
        if value.is_null()
            && branches
                .iter()
                .any(|b| resolve(root, b).get("type") == Some(&Value::from("null")))
        {
            return;
        }
        let mut best: Option<Vec<Found>> = None;
        for b in branches
            .iter()
            .filter(|b| resolve(root, b).get("type") != Some(&Value::from("null")))
        {
            let mut found = Vec::new();
            check(root, b, value, path, &mut found);
            if found.is_empty() {
                return;
            }
            if best.as_ref().is_none_or(|f| found.len() < f.len()) {
                best = Some(found);
            }
        }
        out.extend(best.unwrap_or_default());
        return;
    }
    if let Some(t) = schema.get("type") {
        let ok = match t {
            Value::String(t) => type_matches(t, value),
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).any(|t| type_matches(t, value)),
            _ => true,
        };
        if !ok {
            out.push(Found {
                path: path.to_string(),
                issue: Issue::WrongType {
                    expected: describe_types(schema),
                    found: kind(value),
                },
            });
            return;
        }
    }
    if let Some(choices) = schema.get("enum").and_then(Value::as_array)
        && !choices.contains(value)
    {
        out.push(Found {
            path: path.to_string(),
            issue: Issue::NotAChoice {
                found: value.as_str().map(str::to_string).unwrap_or_else(|| value.to_string()),
                choices: choices
                    .iter()
                    .map(|c| c.as_str().map(str::to_string).unwrap_or_else(|| c.to_string()))
                    .collect(),
            },
        });
        return;
    }
    if let Some(c) = schema.get("const")
        && c != value
    {
        out.push(Found {
            path: path.to_string(),
            issue: Issue::NotAChoice {
                found: value.to_string(),
                choices: vec![c.as_str().unwrap_or_default().to_string()],
            },
        });
        return;
    }
    if let Some(n) = value.as_f64() {
        let min = schema.get("minimum").and_then(Value::as_f64);
        let max =
            schema
                .get("maximum")
                .and_then(Value::as_f64)
                .or(match schema.get("format").and_then(Value::as_str) {
                    Some("uint32") => Some(u32::MAX as f64),
                    Some("uint8") => Some(u8::MAX as f64),
                    Some("uint64") | Some("uint") => Some(u64::MAX as f64),
                    _ => None,
                });
        if min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m) {
            out.push(Found {
                path: path.to_string(),
                issue: Issue::OutOfRange {
                    found: value.to_string(),
                    range: format!(
                        "{} to {}",
                        min.map(|m| m.to_string()).unwrap_or("-".into()),
                        max.map(|m| m.to_string()).unwrap_or("-".into())
                    ),
                },
            });
            return;
        }
    }
    match value {
        Value::Object(map) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            for (k, v) in map {
                let p = diag::join(path, k);
                match props.and_then(|ps| ps.get(k)) {
                    Some(s) => check(root, s, v, &p, out),
                    None => match additional {
                        Some(Value::Bool(false)) => out.push(Found {
                            path: p,
                            issue: Issue::UnknownField {
                                name: k.clone(),
                                known: props.map(|ps| ps.keys().cloned().collect()).unwrap_or_default(),
                            },
                        }),
                        Some(s @ Value::Object(_)) => check(root, s, v, &p, out),
                        _ => {}
                    },
                }
            }
            for r in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !map.contains_key(r) {
                    out.push(Found {
                        path: path.to_string(),
                        issue: Issue::Missing { name: r.to_string() },
                    });
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    check(root, s, v, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}
