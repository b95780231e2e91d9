//! JSON reading shared by the decoders: located errors, lenient scalars and strict field readers.
//!
//! Two styles share one vocabulary of messages (`<path>: <subject> must be <kind>`):
//! - the series decoders stream through `serde` visitors (bodies of up to 62 MiB, never held as a tree)
//!   and read leaves as [`Scalar`]s;
//! - the small bodies (check runs, events, host metadata) are parsed into a `serde_json::Value` and
//!   read with [`Object`], which knows its path.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::{Location, WireError};

/// Turns a `serde_json` error into a [`WireError`], keeping the position and dropping serde's own suffix.
pub(crate) fn error(err: &serde_json::Error) -> WireError {
    let location = (err.line() > 0).then(|| Location {
        line: err.line(),
        column: err.column(),
    });
    let text = err.to_string();
    let text = location
        .and_then(|l| text.strip_suffix(&l.to_string()))
        .unwrap_or(&text)
        .to_owned();
    let message = match err.classify() {
        serde_json::error::Category::Data => text,
        _ => format!("invalid JSON: {text}"),
    };
    WireError::Invalid { message, location }
}

/// Parses a whole body into a tree, for the small payloads.
pub(crate) fn parse(body: &[u8]) -> Result<Value, WireError> {
    serde_json::from_slice(body).map_err(|err| error(&err))
}

/// `prefix: message`, or just the message at the root.
pub(crate) fn at(path: &str, message: impl fmt::Display) -> String {
    if path.is_empty() {
        message.to_string()
    } else {
        format!("{path}: {message}")
    }
}

/// `parent.key`, or `key` at the root.
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Implements the listed `visit_*` methods of a visitor as failures, each with the message `$message`
/// builds from the visitor. `serde_json` reaches them through `deserialize_any` when a body has the
/// wrong shape, so every shape error names its path instead of serde's generic "invalid type".
macro_rules! reject_other_types {
    (|$this:ident| $message:expr; $($kind:ident),+) => {
        $( reject_other_types!(@$kind $this $message); )+
    };
    (@bool $this:ident $message:expr) => {
        fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Self::Value, E> {
            #[allow(unused_variables)]
            let $this = self;
            Err(E::custom($message))
        }
    };
    (@number $this:ident $message:expr) => {
        fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Self::Value, E> {
            #[allow(unused_variables)]
            let $this = self;
            Err(E::custom($message))
        }
        fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Self::Value, E> {
            #[allow(unused_variables)]
            let $this = self;
            Err(E::custom($message))
        }
        fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Self::Value, E> {
            #[allow(unused_variables)]
            let $this = self;
            Err(E::custom($message))
        }
    };
    (@str $this:ident $message:expr) => {
        fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
            #[allow(unused_variables)]
            let $this = self;
            Err(E::custom($message))
        }
    };
    (@unit $this:ident $message:expr) => {
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            #[allow(unused_variables)]
            let $this = self;
            Err(E::custom($message))
        }
    };
    (@seq $this:ident $message:expr) => {
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            #[allow(unused_variables)]
            let $this = self;
            Err(serde::de::Error::custom($message))
        }
    };
    (@map $this:ident $message:expr) => {
        fn visit_map<A: serde::de::MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            #[allow(unused_variables)]
            let $this = self;
            Err(serde::de::Error::custom($message))
        }
    };
}
pub(crate) use reject_other_types;

/// A JSON leaf read without committing to a type, so the caller can say which type it wanted.
/// Lists and objects are skipped, not kept.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(String),
    List,
    Object,
}

/// Why a leaf is not a timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadTimestamp {
    NotANumber,
    OutOfRange,
}

/// A borrowed view of a leaf: the conversion rules live here once, for streamed and parsed bodies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Lit<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(&'a str),
    List,
    Object,
}

impl Scalar {
    pub(crate) fn lit(&self) -> Lit<'_> {
        match self {
            Scalar::Null => Lit::Null,
            Scalar::Bool(b) => Lit::Bool(*b),
            Scalar::Int(i) => Lit::Int(*i),
            Scalar::Uint(u) => Lit::Uint(*u),
            Scalar::Float(f) => Lit::Float(*f),
            Scalar::Str(s) => Lit::Str(s),
            Scalar::List => Lit::List,
            Scalar::Object => Lit::Object,
        }
    }

    /// The string itself, without copying, when the leaf is one.
    pub(crate) fn into_string(self, subject: &str, path: &str) -> Result<Option<String>, String> {
        match self {
            Scalar::Str(s) => Ok(Some(s)),
            Scalar::Null => Ok(None),
            _ => Err(at(path, format!("{subject} must be a string"))),
        }
    }
}

impl<'a> Lit<'a> {
    pub(crate) fn of(value: &'a Value) -> Self {
        match value {
            Value::Null => Lit::Null,
            Value::Bool(b) => Lit::Bool(*b),
            Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => Lit::Int(i),
                (None, Some(u), _) => Lit::Uint(u),
                (None, None, Some(f)) => Lit::Float(f),
                (None, None, None) => Lit::Null,
            },
            Value::String(s) => Lit::Str(s),
            Value::Array(_) => Lit::List,
            Value::Object(_) => Lit::Object,
        }
    }

    /// Epoch seconds from an integer, a float (truncated) or a numeric string, as old clients send them.
    pub(crate) fn timestamp(self) -> Result<Option<i64>, BadTimestamp> {
        let from_float = |f: f64| {
            // i64::MAX is not exactly representable; the bound below is the largest float under it.
            if f.is_finite() && f > -9.2e18 && f < 9.2e18 {
                Ok(f.trunc() as i64)
            } else {
                Err(BadTimestamp::OutOfRange)
            }
        };
        match self {
            Lit::Null => Ok(None),
            Lit::Int(i) => Ok(Some(i)),
            Lit::Uint(u) => i64::try_from(u).map(Some).map_err(|_| BadTimestamp::OutOfRange),
            Lit::Float(f) => from_float(f).map(Some),
            Lit::Str(s) => {
                let s = s.trim();
                match (s.parse::<i64>(), s.parse::<f64>()) {
                    (Ok(i), _) => Ok(Some(i)),
                    (Err(_), Ok(f)) => from_float(f).map(Some),
                    (Err(_), Err(_)) => Err(BadTimestamp::NotANumber),
                }
            }
            Lit::Bool(_) | Lit::List | Lit::Object => Err(BadTimestamp::NotANumber),
        }
    }

    /// A metric value: any JSON number; `null` means "no value".
    pub(crate) fn number(self) -> Result<Option<f64>, &'static str> {
        match self {
            Lit::Null => Ok(None),
            Lit::Int(i) => Ok(Some(i as f64)),
            Lit::Uint(u) => Ok(Some(u as f64)),
            Lit::Float(f) => Ok(Some(f)),
            _ => Err("a number"),
        }
    }

    /// An integer; a float with no fractional part counts (`10.0`), as JSON encoders differ on that.
    pub(crate) fn integer(self) -> Result<Option<i64>, &'static str> {
        match self {
            Lit::Null => Ok(None),
            Lit::Int(i) => Ok(Some(i)),
            Lit::Uint(u) => i64::try_from(u).map(Some).map_err(|_| "an integer"),
            Lit::Float(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Ok(Some(f as i64)),
            _ => Err("an integer"),
        }
    }

    /// An integer written as an integer: the events API insists on "no quotes" and no fraction.
    pub(crate) fn strict_integer(self) -> Result<Option<i64>, &'static str> {
        match self {
            Lit::Null => Ok(None),
            Lit::Int(i) => Ok(Some(i)),
            _ => Err("an integer"),
        }
    }

    pub(crate) fn string(self) -> Result<Option<&'a str>, &'static str> {
        match self {
            Lit::Null => Ok(None),
            Lit::Str(s) => Ok(Some(s)),
            _ => Err("a string"),
        }
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl<'de> Visitor<'de> for ScalarVisitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar::Null)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(i64::try_from(v).map_or(Scalar::Uint(v), Scalar::Int))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar::Float(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Str(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
                Ok(Scalar::Str(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::List)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::Object)
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

/// A list of strings streamed from a body (`tags`): `null` is an empty list, anything else is an error
/// naming the path.
pub(crate) struct StringList<'p> {
    /// The object holding the list, e.g. `series[0]`.
    pub(crate) parent: &'p str,
    pub(crate) key: &'static str,
}

impl<'de> de::DeserializeSeed<'de> for StringList<'_> {
    type Value = Vec<String>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<String>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StringList<'_> {
    type Value = Vec<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of strings")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Vec<String>, E> {
        Ok(Vec::new())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element::<Scalar>()? {
            match item {
                Scalar::Str(s) => out.push(s),
                _ => {
                    let path = join(self.parent, self.key);
                    return Err(de::Error::custom(format!(
                        "{path}[{}]: must be a string",
                        out.len()
                    )));
                }
            }
        }
        Ok(out)
    }

    reject_other_types!(
        |this| at(this.parent, format!("{:?} must be a list of strings", this.key));
        bool, number, str, map
    );
}

/// A JSON object of a parsed body, with the path that locates it in error messages.
#[derive(Debug, Clone)]
pub(crate) struct Object<'a> {
    pub(crate) path: String,
    pub(crate) map: &'a Map<String, Value>,
}

impl<'a> Object<'a> {
    /// `value` as an object, or an error saying what `path` should have been.
    pub(crate) fn new(path: impl Into<String>, value: &'a Value, what: &str) -> Result<Self, WireError> {
        let path = path.into();
        match value {
            Value::Object(map) => Ok(Object { path, map }),
            _ => Err(WireError::invalid(at(
                &path,
                format!("{what} must be a JSON object"),
            ))),
        }
    }

    /// A nested object field, `None` when absent or `null`.
    pub(crate) fn child(&self, key: &str) -> Result<Option<Object<'a>>, WireError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Object {
                path: join(&self.path, key),
                map,
            })),
            Some(_) => Err(self.wrong(key, "a JSON object")),
        }
    }

    pub(crate) fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    fn lit(&self, key: &str) -> Lit<'a> {
        self.map.get(key).map_or(Lit::Null, Lit::of)
    }

    fn wrong(&self, key: &str, kind: &str) -> WireError {
        WireError::invalid(at(&self.path, format!("{key:?} must be {kind}")))
    }

    pub(crate) fn missing(&self, key: &str) -> WireError {
        WireError::invalid(at(&self.path, format!("missing {key:?}")))
    }

    /// A string field; absent and `null` are `None`.
    pub(crate) fn string(&self, key: &str) -> Result<Option<String>, WireError> {
        self.lit(key)
            .string()
            .map(|s| s.map(str::to_owned))
            .map_err(|kind| self.wrong(key, kind))
    }

    /// A string field that must be present (it may be empty).
    pub(crate) fn required_string(&self, key: &str) -> Result<String, WireError> {
        self.string(key)?.ok_or_else(|| self.missing(key))
    }

    /// A string field where `""` means absent, as Go's encoders write unset strings.
    pub(crate) fn non_empty_string(&self, key: &str) -> Result<Option<String>, WireError> {
        Ok(self.string(key)?.filter(|s| !s.is_empty()))
    }

    pub(crate) fn integer(&self, key: &str) -> Result<Option<i64>, WireError> {
        self.lit(key).integer().map_err(|kind| self.wrong(key, kind))
    }

    pub(crate) fn strict_integer(&self, key: &str) -> Result<Option<i64>, WireError> {
        self.lit(key)
            .strict_integer()
            .map_err(|kind| self.wrong(key, kind))
    }

    pub(crate) fn timestamp(&self, key: &str) -> Result<Option<i64>, WireError> {
        self.lit(key).timestamp().map_err(|bad| match bad {
            BadTimestamp::OutOfRange => {
                WireError::invalid(at(&self.path, format!("{key:?} is out of range")))
            }
            BadTimestamp::NotANumber => self.wrong(key, "a number"),
        })
    }

    /// A list of strings; absent and `null` are empty.
    pub(crate) fn strings(&self, key: &str) -> Result<Vec<String>, WireError> {
        match self.map.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(index, item)| match item {
                    Value::String(s) => Ok(s.clone()),
                    _ => Err(WireError::invalid(format!(
                        "{}[{index}]: must be a string",
                        join(&self.path, key)
                    ))),
                })
                .collect(),
            Some(_) => Err(self.wrong(key, "a list of strings")),
        }
    }

    /// The raw value of a field, for readers that accept several shapes.
    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }
}
