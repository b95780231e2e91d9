//! The crate's one error type: every way a body can fail to decode, worded for the sender.

use std::fmt;

use crate::compression::Encoding;

/// Why a body was refused. A refused body is refused whole: no decoder returns part of a payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// A `Content-Encoding` this crate cannot undo.
    #[error("unsupported Content-Encoding {0:?}: send identity, gzip, deflate or zstd")]
    UnknownEncoding(String),
    /// The body inflates past the caller's limit; decompression stopped at the limit.
    #[error("the body inflates to more than {limit} bytes")]
    TooLarge { limit: usize },
    /// The compressed stream is corrupt, truncated or needs more memory than allowed.
    #[error("cannot decompress the {encoding} body: {reason}")]
    Decompress { encoding: Encoding, reason: String },
    /// The compressor failed (only a broken zstd context can make this happen).
    #[error("cannot compress with {encoding}: {reason}")]
    Compress { encoding: Encoding, reason: String },
    /// The bytes are not the protobuf message they claim to be.
    #[error("invalid protobuf {message}: {reason}")]
    Protobuf { message: &'static str, reason: String },
    /// The bytes are not the msgpack message they claim to be. `path` names the value being read
    /// (`traces[0][3].meta`; empty for the top level), `offset` the byte where reading stopped when known; `truncated` says the
    /// body ended in the middle of a value (the trace-agent answers that case with `unexpected-eof`).
    #[error(
        "invalid msgpack {message} ({}{}): {reason}",
        if path.is_empty() { "top level" } else { path },
        offset.map(|o| format!(", byte {o}")).unwrap_or_default()
    )]
    Msgpack {
        message: &'static str,
        path: String,
        offset: Option<usize>,
        reason: String,
        truncated: bool,
    },
    /// The body parses but says something invalid, or is not JSON at all. The message names the field
    /// path (`series[3].points[1]: timestamp must be a number`); the location is where the JSON parser was.
    #[error("{message}{}", Location::suffix(*location))]
    Invalid {
        message: String,
        location: Option<Location>,
    },
}

/// A 1-based position in a JSON body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

impl Location {
    fn suffix(location: Option<Location>) -> String {
        location.map(|l| l.to_string()).unwrap_or_default()
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, " at line {} column {}", self.line, self.column)
    }
}

impl WireError {
    /// A semantic error found after parsing, where no JSON position is known.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        WireError::Invalid {
            message: message.into(),
            location: None,
        }
    }

    /// Whether the body ended in the middle of a value.
    pub fn is_truncated(&self) -> bool {
        matches!(self, WireError::Msgpack { truncated: true, .. })
    }

    /// The error's message without its location, for callers that print the location themselves.
    pub fn message(&self) -> String {
        match self {
            WireError::Invalid { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }
}
