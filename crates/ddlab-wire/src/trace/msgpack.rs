//! A msgpack reader over a byte slice with the trace-agent's leniency, for the trace decoders.
//!
//! The rules are those of the agent's `decoder_bytes.go`: `nil` reads as the zero value of any scalar;
//! strings may come as `str` or `bin` and invalid UTF-8 is repaired with U+FFFD; integers may come in any
//! width and signedness and are converted (`uint64` fields take negative integers bit for bit, `int64`
//! fields refuse unsigned values above `i64::MAX`); floats take integers. Everything else is a type error
//! naming the path being read.
//!
//! **Invariant:** no read panics or allocates more than the body can hold: every declared length is
//! checked against the bytes left before anything is reserved, and skipping unknown values is iterative.

use std::borrow::Cow;
use std::fmt;

use rmp::Marker;

use super::borrowed::{same_bytes, text_signature};
use crate::WireError;

/// One step of the path to the value being read, for error messages.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Segment {
    Index(usize),
    Field(&'static str),
}

/// `err` as seen from one level up: `segment` put in front of its path (`traces[3]` + `meta` reads
/// `traces[3].meta`; an empty path is the top level).
#[cold]
fn within(segment: Segment, mut err: WireError) -> WireError {
    if let WireError::Msgpack { path, .. } = &mut err {
        let mut outer = match segment {
            Segment::Index(index) => format!("[{index}]"),
            Segment::Field(name) => name.to_owned(),
        };
        if !path.is_empty() && !path.starts_with('[') {
            outer.push('.');
        }
        outer.push_str(path);
        *path = outer;
    }
    err
}

/// The slot of [`Reader::text`]'s table for `bytes`: their signature, spread over the slots.
#[inline]
fn recent_slot(bytes: &[u8]) -> usize {
    (text_signature(bytes).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as usize % RECENT
}

/// A numeric (or nil) value as read, before conversion to the field's type.
#[derive(Debug, Clone, Copy)]
enum Number {
    Nil,
    Int(i64),
    Uint(u64),
    Float(f64),
}

pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    message: &'static str,
    /// Strings already checked as UTF-8, by a hash of their bytes: see [`Reader::text`].
    recent: [&'a str; RECENT],
}

/// Slots of [`Reader::text`]'s table of checked strings.
const RECENT: usize = 64;
/// Strings longer than this are checked every time (SIMD makes that cheap; comparing would not be).
const RECENT_LONGEST: usize = 64;

impl fmt::Debug for Reader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reader")
            .field("len", &self.buf.len())
            .field("pos", &self.pos)
            .field("message", &self.message)
            .finish()
    }
}

impl<'a> Reader<'a> {
    /// A reader of `buf`, which holds the msgpack form of `message` (named in errors).
    pub(crate) fn new(buf: &'a [u8], message: &'static str) -> Self {
        Reader {
            buf,
            pos: 0,
            message,
            recent: [""; RECENT],
        }
    }

    /// Runs `read` with `segment` appended to the path that errors name. The path is only written when
    /// an error passes back out through it (`within`): reading a valid body never builds one.
    #[inline]
    pub(crate) fn at<T>(
        &mut self,
        segment: Segment,
        read: impl FnOnce(&mut Self) -> Result<T, WireError>,
    ) -> Result<T, WireError> {
        read(self).map_err(|err| within(segment, err))
    }

    /// Bytes not read yet.
    #[inline]
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// A capacity to reserve for `declared` elements: never more than the bytes left, since every
    /// element takes at least one.
    #[inline]
    pub(crate) fn capacity(&self, declared: usize) -> usize {
        declared.min(self.remaining())
    }

    pub(crate) fn error(&self, reason: impl Into<String>) -> WireError {
        self.failure(reason.into(), false)
    }

    /// The offset of the next byte to read.
    #[inline]
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// An error about the value that started at `offset`.
    pub(crate) fn error_at(&self, offset: usize, reason: impl Into<String>) -> WireError {
        match self.failure(reason.into(), false) {
            WireError::Msgpack {
                message,
                path,
                reason,
                truncated,
                ..
            } => WireError::Msgpack {
                message,
                path,
                offset: Some(offset),
                reason,
                truncated,
            },
            other => other,
        }
    }

    #[cold]
    fn eof(&self) -> WireError {
        self.failure("unexpected end of the body".to_owned(), true)
    }

    /// An error at the reader's position; its path is filled in on the way out ([`Reader::at`]).
    #[cold]
    fn failure(&self, reason: String, truncated: bool) -> WireError {
        WireError::Msgpack {
            message: self.message,
            path: String::new(),
            offset: Some(self.pos),
            reason,
            truncated,
        }
    }

    #[inline]
    fn take(&mut self, len: usize) -> Result<&'a [u8], WireError> {
        let end = self.pos.checked_add(len).ok_or_else(|| self.eof())?;
        let bytes = self.buf.get(self.pos..end).ok_or_else(|| self.eof())?;
        self.pos = end;
        Ok(bytes)
    }

    #[inline]
    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let bytes = self.take(N)?;
        let mut out = [0; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    #[inline]
    fn be_u8(&mut self) -> Result<u8, WireError> {
        Ok(self.array::<1>()?[0])
    }

    #[inline]
    fn be_u16(&mut self) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    #[inline]
    fn be_u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    #[inline]
    fn be_u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    #[inline]
    fn peek(&self) -> Result<Marker, WireError> {
        self.buf
            .get(self.pos)
            .map(|&byte| Marker::from_u8(byte))
            .ok_or_else(|| self.eof())
    }

    #[inline]
    fn next_marker(&mut self) -> Result<Marker, WireError> {
        let marker = self.peek()?;
        self.pos += 1;
        Ok(marker)
    }

    /// A type error for the value at the current position, which is left unread.
    #[cold]
    fn unexpected(&self, expected: &str) -> WireError {
        let found = self.peek().map(describe).unwrap_or("nothing");
        self.error(format!("expected {expected}, found {found}"))
    }

    /// Consumes a `nil` if one comes next.
    #[inline]
    pub(crate) fn try_nil(&mut self) -> Result<bool, WireError> {
        if matches!(self.peek()?, Marker::Null) {
            self.pos += 1;
            return Ok(true);
        }
        Ok(false)
    }

    /// An array header's length.
    #[inline]
    pub(crate) fn array_len(&mut self) -> Result<usize, WireError> {
        let len = match self.peek()? {
            Marker::FixArray(len) => {
                self.pos += 1;
                u32::from(len)
            }
            Marker::Array16 => {
                self.pos += 1;
                u32::from(self.be_u16()?)
            }
            Marker::Array32 => {
                self.pos += 1;
                self.be_u32()?
            }
            _ => return Err(self.unexpected("an array")),
        };
        Ok(usize::try_from(len).unwrap_or(usize::MAX))
    }

    /// A map header's number of entries.
    #[inline]
    pub(crate) fn map_len(&mut self) -> Result<usize, WireError> {
        let len = match self.peek()? {
            Marker::FixMap(len) => {
                self.pos += 1;
                u32::from(len)
            }
            Marker::Map16 => {
                self.pos += 1;
                u32::from(self.be_u16()?)
            }
            Marker::Map32 => {
                self.pos += 1;
                self.be_u32()?
            }
            _ => return Err(self.unexpected("a map")),
        };
        Ok(usize::try_from(len).unwrap_or(usize::MAX))
    }

    /// The bytes of a `str` or `bin` value, or `None` for `nil`.
    #[inline]
    fn raw_text(&mut self) -> Result<Option<&'a [u8]>, WireError> {
        // Most strings of a span (keys, names, short values) are fixstr, their length in the marker.
        if let Some(&marker) = self.buf.get(self.pos)
            && marker & 0xe0 == 0xa0
        {
            let start = self.pos + 1;
            let end = start + usize::from(marker & 0x1f);
            if let Some(bytes) = self.buf.get(start..end) {
                self.pos = end;
                return Ok(Some(bytes));
            }
        }
        let len = match self.peek()? {
            Marker::Null => {
                self.pos += 1;
                return Ok(None);
            }
            Marker::FixStr(len) => {
                self.pos += 1;
                usize::from(len)
            }
            Marker::Str8 | Marker::Bin8 => {
                self.pos += 1;
                usize::from(self.be_u8()?)
            }
            Marker::Str16 | Marker::Bin16 => {
                self.pos += 1;
                usize::from(self.be_u16()?)
            }
            Marker::Str32 | Marker::Bin32 => {
                self.pos += 1;
                usize::try_from(self.be_u32()?).unwrap_or(usize::MAX)
            }
            _ => return Err(self.unexpected("a string")),
        };
        self.take(len).map(Some)
    }

    /// A string field: `str` or `bin`, `nil` as empty, invalid UTF-8 repaired.
    pub(crate) fn string(&mut self) -> Result<String, WireError> {
        Ok(self.text()?.into_owned())
    }

    /// A string field borrowed from the body (owned only when invalid UTF-8 had to be repaired).
    ///
    /// A v0.4 body repeats the same short strings in every span (service, keys, common values). A
    /// string equal to one already checked is not checked again: the earlier one is returned, the same
    /// text borrowed from an earlier place in the body (which also lets `same_text` see equal strings
    /// as the same bytes).
    #[inline]
    pub(crate) fn text(&mut self) -> Result<Cow<'a, str>, WireError> {
        Ok(match self.raw_text()? {
            None => Cow::Borrowed(""),
            Some(bytes) if !bytes.is_empty() && bytes.len() <= RECENT_LONGEST => {
                let slot = recent_slot(bytes);
                let seen = self.recent[slot];
                if same_bytes(seen.as_bytes(), bytes) {
                    Cow::Borrowed(seen)
                } else {
                    match simdutf8::basic::from_utf8(bytes) {
                        Ok(text) => {
                            self.recent[slot] = text;
                            Cow::Borrowed(text)
                        }
                        Err(_) => String::from_utf8_lossy(bytes),
                    }
                }
            }
            // Checking is much faster than the lossy conversion, and almost every string is valid.
            Some(bytes) => match simdutf8::basic::from_utf8(bytes) {
                Ok(text) => Cow::Borrowed(text),
                Err(_) => String::from_utf8_lossy(bytes),
            },
        })
    }

    /// A `bin` (or `str`) value's bytes, borrowed; `nil` is empty.
    #[inline]
    pub(crate) fn byte_slice(&mut self) -> Result<&'a [u8], WireError> {
        Ok(self.raw_text()?.unwrap_or_default())
    }

    /// A map key as raw bytes (`str`, `bin`, or `nil` as empty), for matching field names.
    #[inline]
    pub(crate) fn key(&mut self) -> Result<&'a [u8], WireError> {
        Ok(self.raw_text()?.unwrap_or_default())
    }

    #[inline]
    fn number(&mut self, expected: &str) -> Result<Number, WireError> {
        let number = match self.peek()? {
            Marker::Null => Number::Nil,
            Marker::FixPos(n) => Number::Uint(u64::from(n)),
            Marker::FixNeg(n) => Number::Int(i64::from(n)),
            Marker::U8 | Marker::U16 | Marker::U32 | Marker::U64 => {
                let marker = self.next_marker()?;
                let value = match marker {
                    Marker::U8 => u64::from(self.be_u8()?),
                    Marker::U16 => u64::from(self.be_u16()?),
                    Marker::U32 => u64::from(self.be_u32()?),
                    _ => self.be_u64()?,
                };
                return Ok(Number::Uint(value));
            }
            Marker::I8 | Marker::I16 | Marker::I32 | Marker::I64 => {
                let marker = self.next_marker()?;
                let value = match marker {
                    Marker::I8 => i64::from(i8::from_be_bytes(self.array()?)),
                    Marker::I16 => i64::from(i16::from_be_bytes(self.array()?)),
                    Marker::I32 => i64::from(i32::from_be_bytes(self.array()?)),
                    _ => i64::from_be_bytes(self.array()?),
                };
                return Ok(Number::Int(value));
            }
            Marker::F32 => {
                self.pos += 1;
                return Ok(Number::Float(f64::from(f32::from_be_bytes(self.array()?))));
            }
            Marker::F64 => {
                self.pos += 1;
                return Ok(Number::Float(f64::from_be_bytes(self.array()?)));
            }
            _ => return Err(self.unexpected(expected)),
        };
        self.pos += 1;
        Ok(number)
    }

    /// Reads a number, rewinding to the value's start when `convert` refuses it, so the error points there.
    #[inline]
    fn converted<T>(
        &mut self,
        expected: &str,
        convert: impl FnOnce(Number) -> Option<T>,
    ) -> Result<T, WireError> {
        let start = self.pos;
        let number = self.number(expected)?;
        match convert(number) {
            Some(value) => Ok(value),
            None => {
                self.pos = start;
                Err(self.unexpected(expected))
            }
        }
    }

    /// An unsigned 64-bit field (ids): negative integers are taken bit for bit, as languages without
    /// unsigned types send them.
    #[inline]
    pub(crate) fn u64(&mut self) -> Result<u64, WireError> {
        self.converted("an integer", |n| match n {
            Number::Nil => Some(0),
            Number::Uint(u) => Some(u),
            Number::Int(i) => Some(i as u64),
            Number::Float(_) => None,
        })
    }

    /// A signed 64-bit field (times, durations).
    #[inline]
    pub(crate) fn i64(&mut self) -> Result<i64, WireError> {
        self.converted("an integer that fits in int64", |n| match n {
            Number::Nil => Some(0),
            Number::Uint(u) => i64::try_from(u).ok(),
            Number::Int(i) => Some(i),
            Number::Float(_) => None,
        })
    }

    /// A signed 32-bit field (`error`, chunk priority).
    #[inline]
    pub(crate) fn i32(&mut self) -> Result<i32, WireError> {
        self.converted("an integer that fits in int32", |n| match n {
            Number::Nil => Some(0),
            Number::Uint(u) => i32::try_from(u).ok(),
            Number::Int(i) => i32::try_from(i).ok(),
            Number::Float(_) => None,
        })
    }

    /// An unsigned 32-bit field (string table indexes, link flags).
    #[inline]
    pub(crate) fn u32(&mut self) -> Result<u32, WireError> {
        self.converted("an integer that fits in uint32", |n| match n {
            Number::Nil => Some(0),
            Number::Uint(u) => u32::try_from(u).ok(),
            Number::Int(i) => u32::try_from(i).ok(),
            Number::Float(_) => None,
        })
    }

    /// A float field (span metrics): integers are converted.
    #[inline]
    pub(crate) fn f64(&mut self) -> Result<f64, WireError> {
        self.converted("a number", |n| match n {
            Number::Nil => Some(0.0),
            Number::Uint(u) => Some(u as f64),
            Number::Int(i) => Some(i as f64),
            Number::Float(f) => Some(f),
        })
    }

    /// A boolean field: `true`/`false`, `nil` as false, and 0/1 as some encoders write them.
    pub(crate) fn bool(&mut self) -> Result<bool, WireError> {
        match self.peek()? {
            Marker::True => {
                self.pos += 1;
                Ok(true)
            }
            Marker::False | Marker::Null => {
                self.pos += 1;
                Ok(false)
            }
            _ => self.converted("a boolean", |n| match n {
                Number::Uint(u) => Some(u != 0),
                Number::Int(i) => Some(i != 0),
                Number::Nil | Number::Float(_) => None,
            }),
        }
    }

    /// Skips one value of any type, nested values included, without recursion.
    pub(crate) fn skip(&mut self) -> Result<(), WireError> {
        let mut pending: u64 = 1;
        while pending > 0 {
            pending -= 1;
            let marker = self.next_marker()?;
            let data = match marker {
                Marker::FixPos(_) | Marker::FixNeg(_) | Marker::Null | Marker::True | Marker::False => 0,
                Marker::Reserved => {
                    self.pos -= 1;
                    return Err(self.error("reserved byte 0xc1 is not msgpack"));
                }
                Marker::U8 | Marker::I8 => 1,
                Marker::U16 | Marker::I16 => 2,
                Marker::U32 | Marker::I32 | Marker::F32 => 4,
                Marker::U64 | Marker::I64 | Marker::F64 => 8,
                Marker::FixStr(len) => usize::from(len),
                Marker::Str8 | Marker::Bin8 => usize::from(self.be_u8()?),
                Marker::Str16 | Marker::Bin16 => usize::from(self.be_u16()?),
                Marker::Str32 | Marker::Bin32 => usize::try_from(self.be_u32()?).unwrap_or(usize::MAX),
                Marker::FixExt1 => 2,
                Marker::FixExt2 => 3,
                Marker::FixExt4 => 5,
                Marker::FixExt8 => 9,
                Marker::FixExt16 => 17,
                Marker::Ext8 => usize::from(self.be_u8()?).saturating_add(1),
                Marker::Ext16 => usize::from(self.be_u16()?).saturating_add(1),
                Marker::Ext32 => usize::try_from(self.be_u32()?)
                    .unwrap_or(usize::MAX)
                    .saturating_add(1),
                Marker::FixArray(len) => {
                    pending += u64::from(len);
                    0
                }
                Marker::Array16 => {
                    pending += u64::from(self.be_u16()?);
                    0
                }
                Marker::Array32 => {
                    pending += u64::from(self.be_u32()?);
                    0
                }
                Marker::FixMap(len) => {
                    pending += 2 * u64::from(len);
                    0
                }
                Marker::Map16 => {
                    pending += 2 * u64::from(self.be_u16()?);
                    0
                }
                Marker::Map32 => {
                    pending += 2 * u64::from(self.be_u32()?);
                    0
                }
            };
            self.take(data)?;
        }
        Ok(())
    }
}

/// What a marker announces, for type errors.
fn describe(marker: Marker) -> &'static str {
    match marker {
        Marker::Null => "nil",
        Marker::True | Marker::False => "a boolean",
        Marker::FixPos(_)
        | Marker::FixNeg(_)
        | Marker::U8
        | Marker::U16
        | Marker::U32
        | Marker::U64
        | Marker::I8
        | Marker::I16
        | Marker::I32
        | Marker::I64 => "an integer",
        Marker::F32 | Marker::F64 => "a float",
        Marker::FixStr(_) | Marker::Str8 | Marker::Str16 | Marker::Str32 => "a string",
        Marker::Bin8 | Marker::Bin16 | Marker::Bin32 => "binary data",
        Marker::FixArray(_) | Marker::Array16 | Marker::Array32 => "an array",
        Marker::FixMap(_) | Marker::Map16 | Marker::Map32 => "a map",
        Marker::FixExt1
        | Marker::FixExt2
        | Marker::FixExt4
        | Marker::FixExt8
        | Marker::FixExt16
        | Marker::Ext8
        | Marker::Ext16
        | Marker::Ext32 => "an extension value",
        Marker::Reserved => "the reserved byte 0xc1",
    }
}
