//! YAML reading shared by `datadog.yaml` and `conf.d`: located errors and the Agent's lenient scalar types.

use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};

/// Something wrong (or worth a warning) in a configuration file, located as precisely as known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: PathBuf,
    pub line: Option<u64>,
    pub column: Option<u64>,
    pub severity: Severity,
    pub message: String,
}

/// Whether a problem stops a file from loading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The file (or instance) was not loaded.
    Error,
    /// Loaded, but something in it does not do what its author probably wanted.
    Warning,
}

impl Problem {
    pub fn error(path: &Path, line: Option<u64>, message: impl Into<String>) -> Self {
        Self {
            path: path.to_owned(),
            line,
            column: None,
            severity: Severity::Error,
            message: message.into(),
        }
    }

    pub fn warning(path: &Path, line: Option<u64>, message: impl Into<String>) -> Self {
        Self {
            path: path.to_owned(),
            line,
            column: None,
            severity: Severity::Warning,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        match self.severity {
            Severity::Error => write!(f, ": {}", self.message),
            Severity::Warning => write!(f, ": warning: {}", self.message),
        }
    }
}

/// Deserializes `text` (the contents of `path`), turning a failure into a located [`Problem`].
pub(crate) fn parse<T: DeserializeOwned + Default>(path: &Path, text: &str) -> Result<T, Problem> {
    // An empty or comment-only file is an empty mapping, as it is for the Agent.
    if text
        .lines()
        .all(|line| line.trim().is_empty() || line.trim_start().starts_with('#'))
    {
        return Ok(T::default());
    }
    serde_saphyr::from_str(text).map_err(|err| {
        let location = err.location();
        let message = err.to_string();
        let mut message = explanation(message.lines().next().unwrap_or_default()).to_owned();
        if let Some(key) = location.and_then(|l| key_before(text, l.line(), l.column())) {
            message = format!("'{key}': {message}");
        }
        Problem {
            path: path.to_owned(),
            line: location.map(|l| l.line()),
            column: location.map(|l| l.column()),
            severity: Severity::Error,
            message,
        }
    })
}

/// The library's message without its own `error: line N column M:` prefix, which `Problem` prints itself.
fn explanation(message: &str) -> &str {
    let message = message.strip_prefix("error: ").unwrap_or(message);
    match message
        .strip_prefix("line ")
        .and_then(|rest| rest.split_once(": "))
    {
        Some((location, rest)) if location.split(" column ").all(|n| n.parse::<u64>().is_ok()) => rest,
        _ => message,
    }
}

/// The key of the `key: value` mapping entry written on `line` (1-based) when `column` (1-based) falls
/// on it: the key an error at that place is about.
fn key_before(text: &str, line: u64, column: u64) -> Option<&str> {
    let text = text.lines().nth(usize::try_from(line.checked_sub(1)?).ok()?)?;
    let indent = text.len() - text.trim_start().len();
    let entry = &text[indent..];
    let entry_start = indent + if entry.starts_with("- ") { 2 } else { 0 };
    let entry = &text[entry_start..];
    let colon = entry
        .find(": ")
        .or_else(|| entry.strip_suffix(':').map(str::len))?;
    let key = entry[..colon].trim();
    // The parser places a bad value's error at its key, or at the value itself.
    let key_at = u64::try_from(entry_start + 1).ok()?;
    (column >= key_at && !key.is_empty() && !key.starts_with(['"', '\'', '#', '{', '['])).then_some(key)
}

/// The 1-based line where `key:` is written (first occurrence), for problems found after parsing.
pub(crate) fn line_of_key(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .position(|line| {
            let trimmed = line.trim_start().trim_start_matches("- ");
            trimmed
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
        .and_then(|index| u64::try_from(index + 1).ok())
}

/// A tag list written as a YAML list, or leniently as one scalar split on commas and whitespace.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Tags(pub Vec<String>);

/// A boolean the way the Agent reads one: `true`, `"true"`, `1`, `"yes"`, …
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bool(pub bool);

/// A number that may also be written as a string, as the Agent's readers allow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Number<T>(pub T);

impl<'de> Deserialize<'de> for Tags {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            List(Vec<Scalar>),
            One(Scalar),
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Scalar {
            Text(String),
            Int(i64),
            Float(f64),
            Bool(bool),
        }
        let text = |s: Scalar| match s {
            Scalar::Text(t) => t,
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Bool(b) => b.to_string(),
        };
        Ok(match Option::<Form>::deserialize(deserializer)? {
            None => Tags(Vec::new()),
            Some(Form::List(items)) => Tags(
                items
                    .into_iter()
                    .map(text)
                    .map(|t| t.trim().to_owned())
                    .filter(|t| !t.is_empty())
                    .collect(),
            ),
            Some(Form::One(one)) => Tags(super::split_tags(&text(one))),
        })
    }
}

impl<'de> Deserialize<'de> for Bool {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BoolVisitor;
        impl Visitor<'_> for BoolVisitor {
            type Value = Bool;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true or false")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Bool, E> {
                Ok(Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Bool, E> {
                Ok(Bool(v != 0))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Bool, E> {
                Ok(Bool(v != 0))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Bool, E> {
                super::parse_bool(v)
                    .map(Bool)
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        deserializer.deserialize_any(BoolVisitor)
    }
}

impl<'de, T: FromStr + NumCast> Deserialize<'de> for Number<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NumberVisitor<T>(PhantomData<T>);
        impl<T: FromStr + NumCast> Visitor<'_> for NumberVisitor<T> {
            type Value = Number<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number in range")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Number<T>, E> {
                T::from_i64(v)
                    .map(Number)
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Signed(v), &self))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Number<T>, E> {
                T::from_u64(v)
                    .map(Number)
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Number<T>, E> {
                T::from_f64(v)
                    .map(Number)
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Float(v), &self))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Number<T>, E> {
                v.trim()
                    .parse()
                    .map(Number)
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        deserializer.deserialize_any(NumberVisitor(PhantomData))
    }
}

/// Exact conversions into the numeric types configuration keys use.
pub(crate) trait NumCast: Sized {
    fn from_i64(v: i64) -> Option<Self>;
    fn from_u64(v: u64) -> Option<Self>;
    fn from_f64(v: f64) -> Option<Self>;
}

macro_rules! int_cast {
    ($($t:ty),*) => {$(
        impl NumCast for $t {
            fn from_i64(v: i64) -> Option<Self> { <$t>::try_from(v).ok() }
            fn from_u64(v: u64) -> Option<Self> { <$t>::try_from(v).ok() }
            fn from_f64(v: f64) -> Option<Self> {
                // Only whole numbers convert: `45.0` is 45, `45.5` is an error.
                (v.fract() == 0.0 && v >= 0.0 && v <= u64::MAX as f64).then(|| v as u64).and_then(|u| <$t>::try_from(u).ok())
            }
        }
    )*};
}
int_cast!(u16, u32, u64, usize);

impl NumCast for f64 {
    fn from_i64(v: i64) -> Option<Self> {
        Some(v as f64)
    }
    fn from_u64(v: u64) -> Option<Self> {
        Some(v as f64)
    }
    fn from_f64(v: f64) -> Option<Self> {
        Some(v)
    }
}
