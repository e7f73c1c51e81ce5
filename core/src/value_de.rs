//! Reading a typed document (a site spec, a lock, a secrets file) from the
//! JSON value its YAML reads as, naming the field where a value does not fit:
//! `images[0].digest`, `spec.nodes[2].role`.
//!
//! The value is read as `serde_json` reads a [`Value`] (the same errors, word
//! for word), but for a struct, which must be a mapping (`serde_json` also
//! takes a list of the fields' values in order); around it, each map entry, list item and enum variant entered
//! is remembered, and the first error that leaves one is placed there, the
//! innermost. Paths are written as `serde_path_to_error` writes them: keys
//! joined by `.`, list items as `[i]`, `.` for the document itself. Unlike
//! that crate, which wraps any deserializer and so every visitor of every
//! type, this reads only a `Value`, and the module stays small: with
//! `serde_path_to_error` instead, the module is 86 KB larger and what the
//! configurator's page loads 3.3 KB larger gzipped, over its 700 KB budget
//! (`bench/web.mjs`).

use std::cell::Cell;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Error, Map, Value};

/// A value that does not fit its type: the path of the field, and why.
#[derive(Debug)]
pub struct PathError {
    /// `.` for the document itself.
    pub path: String,
    pub error: Error,
}

/// Reads `T` from `value`.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, PathError> {
    let track = Track::default();
    T::deserialize(De {
        value,
        chain: &Chain::Root,
        track: &track,
    })
    .map_err(|error| PathError {
        path: track.0.take().unwrap_or_else(|| ".".to_string()),
        error,
    })
}

/// Where the value being read is: a list of steps from the document.
enum Chain<'a> {
    Root,
    Seq { parent: &'a Chain<'a>, index: usize },
    Map { parent: &'a Chain<'a>, key: &'a str },
    Enum { parent: &'a Chain<'a>, variant: &'a str },
}

impl Chain<'_> {
    fn path(&self) -> String {
        let mut steps = Vec::new();
        let mut at = self;
        loop {
            match at {
                Chain::Root => break,
                Chain::Seq { parent, index } => {
                    steps.push((true, index.to_string()));
                    at = parent;
                }
                Chain::Map { parent, key: name } | Chain::Enum { parent, variant: name } => {
                    steps.push((false, name.to_string()));
                    at = parent;
                }
            }
        }
        if steps.is_empty() {
            return ".".to_string();
        }
        let mut out = String::new();
        for (i, (index, name)) in steps.iter().rev().enumerate() {
            if *index {
                out.push('[');
                out.push_str(name);
                out.push(']');
            } else {
                if i > 0 {
                    out.push('.');
                }
                out.push_str(name);
            }
        }
        out
    }
}

/// The path of the first error placed (the innermost: errors are placed on
/// their way out).
#[derive(Default)]
struct Track(Cell<Option<String>>);

impl Track {
    fn place(&self, chain: &Chain, error: Error) -> Error {
        let path = self.0.take().unwrap_or_else(|| chain.path());
        self.0.set(Some(path));
        error
    }
}

struct De<'a> {
    value: Value,
    chain: &'a Chain<'a>,
    track: &'a Track,
}

impl De<'_> {
    fn array<'de, V: Visitor<'de>>(self, array: Vec<Value>, visitor: V) -> Result<V::Value, Error> {
        let len = array.len();
        let mut seq = SeqAccess {
            iter: array.into_iter(),
            index: 0,
            chain: self.chain,
            track: self.track,
        };
        let out = visitor.visit_seq(&mut seq)?;
        if seq.iter.len() == 0 {
            Ok(out)
        } else {
            Err(de::Error::invalid_length(len, &"fewer elements in array"))
        }
    }

    fn object<'de, V: Visitor<'de>>(self, object: Map<String, Value>, visitor: V) -> Result<V::Value, Error> {
        let len = object.len();
        let mut map = MapAccess {
            iter: object.into_iter(),
            pending: None,
            chain: self.chain,
            track: self.track,
        };
        let out = visitor.visit_map(&mut map)?;
        if map.iter.len() == 0 {
            Ok(out)
        } else {
            Err(de::Error::invalid_length(len, &"fewer elements in map"))
        }
    }
}

/// Read as `serde_json` reads the value (a scalar, or an error naming the
/// type found): nothing inside to track.
macro_rules! as_json {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            let (chain, track) = (self.chain, self.track);
            self.value.$method(visitor).map_err(|e| track.place(chain, e))
        }
    )*};
}

impl<'de> Deserializer<'de> for De<'_> {
    type Error = Error;

    as_json! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128 deserialize_f32
        deserialize_f64 deserialize_char deserialize_str deserialize_string deserialize_unit
        deserialize_identifier deserialize_ignored_any
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let (chain, track) = (self.chain, self.track);
        match self.value {
            Value::Array(a) => De {
                value: Value::Null,
                ..self
            }
            .array(a, visitor),
            Value::Object(o) => De {
                value: Value::Null,
                ..self
            }
            .object(o, visitor),
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(b),
            Value::Number(n) => n.deserialize_any(visitor),
            Value::String(s) => visitor.visit_string(s),
        }
        .map_err(|e| track.place(chain, e))
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_byte_buf(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let (chain, track) = (self.chain, self.track);
        match self.value {
            Value::Array(a) => De {
                value: Value::Null,
                ..self
            }
            .array(a, visitor),
            Value::String(s) => visitor.visit_string(s),
            other => Err(invalid_type(&other, &visitor)),
        }
        .map_err(|e| track.place(chain, e))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let (chain, track) = (self.chain, self.track);
        match self.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
        .map_err(|e| track.place(chain, e))
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Error> {
        let (chain, track) = (self.chain, self.track);
        visitor.visit_newtype_struct(self).map_err(|e| track.place(chain, e))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let (chain, track) = (self.chain, self.track);
        match self.value {
            Value::Array(a) => De {
                value: Value::Null,
                ..self
            }
            .array(a, visitor),
            other => Err(invalid_type(&other, &visitor)),
        }
        .map_err(|e| track.place(chain, e))
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let (chain, track) = (self.chain, self.track);
        match self.value {
            Value::Object(o) => De {
                value: Value::Null,
                ..self
            }
            .object(o, visitor),
            other => Err(invalid_type(&other, &visitor)),
        }
        .map_err(|e| track.place(chain, e))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let (chain, track) = (self.chain, self.track);
        // A mapping only: serde_json would also take a list of the fields'
        // values in order, which no YAML document here means (`- a` as a
        // lock read as `apiVersion: a`).
        match self.value {
            Value::Object(o) => De {
                value: Value::Null,
                ..self
            }
            .object(o, visitor),
            other => Err(invalid_type(&other, &visitor)),
        }
        .map_err(|e| track.place(chain, e))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let (chain, track) = (self.chain, self.track);
        let (variant, value) = match self.value {
            Value::Object(o) => {
                let mut iter = o.into_iter();
                match (iter.next(), iter.next()) {
                    (Some((variant, value)), None) => (variant, Some(value)),
                    _ => {
                        return Err(track.place(
                            chain,
                            de::Error::invalid_value(de::Unexpected::Map, &"map with a single key"),
                        ));
                    }
                }
            }
            Value::String(variant) => (variant, None),
            other => return Err(track.place(chain, invalid_type(&other, &"string or map"))),
        };
        visitor
            .visit_enum(EnumAccess {
                variant,
                value,
                chain,
                track,
            })
            .map_err(|e| track.place(chain, e))
    }
}

struct SeqAccess<'a> {
    iter: std::vec::IntoIter<Value>,
    index: usize,
    chain: &'a Chain<'a>,
    track: &'a Track,
}

impl<'de> de::SeqAccess<'de> for SeqAccess<'_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        let Some(value) = self.iter.next() else {
            return Ok(None);
        };
        let chain = Chain::Seq {
            parent: self.chain,
            index: self.index,
        };
        self.index += 1;
        let track = self.track;
        seed.deserialize(De {
            value,
            chain: &chain,
            track,
        })
        .map(Some)
        .map_err(|e| track.place(&chain, e))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

struct MapAccess<'a> {
    iter: serde_json::map::IntoIter,
    /// The entry whose key was read, and whose value is next.
    pending: Option<(String, Value)>,
    chain: &'a Chain<'a>,
    track: &'a Track,
}

impl<'de> de::MapAccess<'de> for MapAccess<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        let Some((key, value)) = self.iter.next() else {
            return Ok(None);
        };
        // Read as serde_json reads a key (as a string); a key refused is
        // placed at its own entry.
        let read = seed.deserialize(Value::String(key.clone())).map_err(|e| {
            let chain = Chain::Map {
                parent: self.chain,
                key: &key,
            };
            self.track.place(&chain, e)
        })?;
        self.pending = Some((key, value));
        Ok(Some(read))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let Some((key, value)) = self.pending.take() else {
            return Err(de::Error::custom("value is missing"));
        };
        let chain = Chain::Map {
            parent: self.chain,
            key: &key,
        };
        let track = self.track;
        seed.deserialize(De {
            value,
            chain: &chain,
            track,
        })
        .map_err(|e| track.place(&chain, e))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

struct EnumAccess<'a> {
    variant: String,
    value: Option<Value>,
    chain: &'a Chain<'a>,
    track: &'a Track,
}

impl<'de, 'a> de::EnumAccess<'de> for EnumAccess<'a> {
    type Error = Error;
    type Variant = VariantAccess<'a>;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, VariantAccess<'a>), Error> {
        let read = seed.deserialize(IntoDeserializer::<Error>::into_deserializer(self.variant.clone()))?;
        Ok((
            read,
            VariantAccess {
                variant: self.variant,
                value: self.value,
                chain: self.chain,
                track: self.track,
            },
        ))
    }
}

struct VariantAccess<'a> {
    variant: String,
    value: Option<Value>,
    chain: &'a Chain<'a>,
    track: &'a Track,
}

impl<'de> de::VariantAccess<'de> for VariantAccess<'_> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        let chain = Chain::Enum {
            parent: self.chain,
            variant: &self.variant,
        };
        match self.value {
            Some(value) => <()>::deserialize(value).map_err(|e| self.track.place(&chain, e)),
            None => Ok(()),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        let chain = Chain::Enum {
            parent: self.chain,
            variant: &self.variant,
        };
        let track = self.track;
        match self.value {
            Some(value) => seed.deserialize(De {
                value,
                chain: &chain,
                track,
            }),
            None => Err(de::Error::invalid_type(de::Unexpected::UnitVariant, &"newtype variant")),
        }
        .map_err(|e| track.place(&chain, e))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        let chain = Chain::Enum {
            parent: self.chain,
            variant: &self.variant,
        };
        let track = self.track;
        let de = |value| De {
            value,
            chain: &chain,
            track,
        };
        match self.value {
            Some(Value::Array(v)) if v.is_empty() => visitor.visit_unit(),
            Some(Value::Array(v)) => de(Value::Null).array(v, visitor),
            Some(other) => Err(invalid_type(&other, &"tuple variant")),
            None => Err(de::Error::invalid_type(de::Unexpected::UnitVariant, &"tuple variant")),
        }
        .map_err(|e| track.place(&chain, e))
    }

    fn struct_variant<V: Visitor<'de>>(self, _fields: &'static [&'static str], visitor: V) -> Result<V::Value, Error> {
        let chain = Chain::Enum {
            parent: self.chain,
            variant: &self.variant,
        };
        let track = self.track;
        match self.value {
            Some(Value::Object(o)) => De {
                value: Value::Null,
                chain: &chain,
                track,
            }
            .object(o, visitor),
            Some(other) => Err(invalid_type(&other, &"struct variant")),
            None => Err(de::Error::invalid_type(de::Unexpected::UnitVariant, &"struct variant")),
        }
        .map_err(|e| track.place(&chain, e))
    }
}

/// The error serde_json gives for a value of the wrong type.
fn invalid_type(v: &Value, expected: &dyn de::Expected) -> Error {
    de::Error::invalid_type(unexpected(v), expected)
}

/// What serde_json calls a value in an error (`Value::unexpected`).
fn unexpected(v: &Value) -> de::Unexpected<'_> {
    match v {
        Value::Null => de::Unexpected::Unit,
        Value::Bool(b) => de::Unexpected::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => de::Unexpected::Unsigned(u),
            (_, Some(i), _) => de::Unexpected::Signed(i),
            (_, _, Some(f)) => de::Unexpected::Float(f),
            _ => de::Unexpected::Other("number"),
        },
        Value::String(s) => de::Unexpected::Str(s),
        Value::Array(_) => de::Unexpected::Seq,
        Value::Object(_) => de::Unexpected::Map,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;
    use serde_json::json;

    use super::from_value;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Doc {
        name: String,
        #[serde(default)]
        items: Vec<Item>,
        #[serde(default)]
        by_name: BTreeMap<String, Item>,
        #[serde(default)]
        kind: Option<Kind>,
        #[serde(default)]
        pair: Option<(u8, u8)>,
    }

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        port: u16,
        #[serde(default)]
        digest: Option<crate::digest::Digest>,
    }

    #[derive(Deserialize, Debug)]
    #[serde(rename_all = "lowercase")]
    #[allow(dead_code)]
    enum Kind {
        Plain,
        Wrapped(Item),
    }

    /// The path and message of every error are those serde_path_to_error
    /// gives reading the same value with serde_json.
    #[test]
    fn paths_and_messages_are_those_of_serde_path_to_error() {
        let cases = [
            json!({"name": "a"}),
            json!({"name": 1}),
            json!({}),
            json!({"name": "a", "extra": 1}),
            json!({"name": "a", "items": [{"port": 1}, {"port": "x"}]}),
            json!({"name": "a", "items": [{"port": 1}, {"port": 70000}]}),
            json!({"name": "a", "items": [{"port": 1}, {}]}),
            json!({"name": "a", "items": [{"port": 1, "digest": "sha256:0"}]}),
            json!({"name": "a", "items": {"port": 1}}),
            json!({"name": "a", "byName": {"x": {"port": 1}, "y": {"port": -1}}}),
            json!({"name": "a", "byName": {"x": {"port": 1, "other": 2}}}),
            json!({"name": "a", "kind": "plain"}),
            json!({"name": "a", "kind": "other"}),
            json!({"name": "a", "kind": 3}),
            json!({"name": "a", "kind": {"plain": 1}}),
            json!({"name": "a", "kind": {"wrapped": {"port": "p"}}}),
            json!({"name": "a", "kind": {"wrapped": {"port": 1}, "plain": null}}),
            json!({"name": "a", "pair": [1, 2]}),
            json!({"name": "a", "pair": [1, 2, 3]}),
            json!({"name": "a", "pair": [1]}),
            json!({"name": "a", "items": [{"port": 1.5}]}),
            json!({"name": "a", "items": [{"port": 1, "digest": 5}]}),
            json!({"name": "a", "items": null}),
            json!({"name": null}),
            json!({"name": "a", "kind": {}}),
            json!({"name": "a", "kind": {"wrapped": null}}),
            json!({"name": "a", "pair": "x"}),
            json!("text"),
            json!(null),
        ];
        // A struct is a mapping, never a list of its fields' values (which
        // serde_json takes).
        for v in [
            json!([1, 2]),
            json!(["a"]),
            json!({"name": "a", "items": [[8080]]}),
            json!({"name": "a", "byName": {"x": [1]}}),
            json!({"name": "a", "kind": {"wrapped": [1]}}),
        ] {
            let e = from_value::<Doc>(v.clone());
            assert!(e.is_err(), "{v}");
        }
        assert_eq!(
            from_value::<Doc>(json!(["a"]))
                .map_err(|e| (e.path, e.error.to_string()))
                .unwrap_err(),
            (
                ".".to_string(),
                "invalid type: sequence, expected struct Doc".to_string()
            )
        );
        for v in cases {
            let ours = from_value::<Doc>(v.clone()).map_err(|e| (e.path, e.error.to_string()));
            let theirs = serde_path_to_error::deserialize::<_, Doc>(v.clone()).map_err(|e| {
                let path = e.path().to_string();
                (path, e.into_inner().to_string())
            });
            match (ours, theirs) {
                (Ok(_), Ok(_)) => {}
                (Err(a), Err(b)) => assert_eq!(a, b, "{v}"),
                (a, b) => panic!("{v}: {a:?} against {b:?}"),
            }
        }
    }
}
