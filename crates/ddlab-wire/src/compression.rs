//! Content-Encoding: parsing the header, bounded decompression for the backend, compression for the agent.
//!
//! Datadog's intakes accept `deflate` (zlib-wrapped, as the Agent and datadogpy send it), `gzip` and zstd
//! (the Agent's default since 7.x, sent as `zstd`; the v2 series API documents the literal `zstd1`).
//!
//! **Invariant:** [`decompress`] never holds more than `limit + 1` decompressed bytes (plus `Vec` growth
//! slack) whatever the body claims, and zstd frames may not ask for a window larger than
//! [`ZSTD_WINDOW_LOG_MAX`], so a small body cannot make the backend allocate much.

use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

use flate2::Compression;
use flate2::read::{DeflateDecoder, MultiGzDecoder, ZlibDecoder};
use flate2::write::{GzEncoder, ZlibEncoder};

use crate::WireError;

/// The zstd level the Agent uses by default (`serializer_zstd_compressor_level: 1`).
pub const ZSTD_LEVEL: i32 = 1;

/// The largest zstd window (2^24 = 16 MiB) a body may ask the decoder to allocate. Datadog's clients
/// compress bodies of at most a few MiB at low levels, which need windows of 2^19..2^22.
pub const ZSTD_WINDOW_LOG_MAX: u32 = 24;

/// A body's `Content-Encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Encoding {
    /// No compression (no header, empty, or `identity`).
    #[default]
    Identity,
    /// `gzip` (or the legacy alias `x-gzip`); concatenated members are read in turn.
    Gzip,
    /// `deflate`: a zlib stream as the Agent sends it, or a raw deflate stream when the zlib header is absent.
    Deflate,
    /// `zstd` (or `zstd1`, the value the v2 series API documents).
    Zstd,
}

impl Encoding {
    /// The encoding named by an optional `Content-Encoding` header; no header means identity.
    pub fn from_header(value: Option<&str>) -> Result<Self, WireError> {
        value.map_or(Ok(Encoding::Identity), str::parse)
    }

    /// The header value the agent sends for this encoding; identity sends no header.
    pub fn header_value(self) -> Option<&'static str> {
        match self {
            Encoding::Identity => None,
            Encoding::Gzip => Some("gzip"),
            Encoding::Deflate => Some("deflate"),
            Encoding::Zstd => Some("zstd"),
        }
    }
}

impl FromStr for Encoding {
    type Err = WireError;

    /// Parses a header value, ignoring case and surrounding whitespace.
    fn from_str(value: &str) -> Result<Self, WireError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "identity" => Ok(Encoding::Identity),
            "gzip" | "x-gzip" => Ok(Encoding::Gzip),
            "deflate" => Ok(Encoding::Deflate),
            "zstd" | "zstd1" => Ok(Encoding::Zstd),
            _ => Err(WireError::UnknownEncoding(value.to_owned())),
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.header_value().unwrap_or("identity"))
    }
}

/// Decodes `body`, failing with [`WireError::TooLarge`] as soon as the output would exceed `limit` bytes.
pub fn decompress(encoding: Encoding, body: &[u8], limit: usize) -> Result<Vec<u8>, WireError> {
    match encoding {
        Encoding::Identity if body.len() > limit => Err(WireError::TooLarge { limit }),
        Encoding::Identity => Ok(body.to_vec()),
        Encoding::Gzip => read_bounded(encoding, MultiGzDecoder::new(body), limit),
        Encoding::Deflate if has_zlib_header(body) => read_bounded(encoding, ZlibDecoder::new(body), limit),
        Encoding::Deflate => read_bounded(encoding, DeflateDecoder::new(body), limit),
        Encoding::Zstd => {
            let mut decoder = zstd::stream::read::Decoder::with_buffer(body)
                .map_err(|err| decompress_error(encoding, &err))?;
            decoder
                .window_log_max(ZSTD_WINDOW_LOG_MAX)
                .map_err(|err| decompress_error(encoding, &err))?;
            read_bounded(encoding, decoder, limit)
        }
    }
}

/// Encodes `body` the way the Agent does: default levels for gzip and zlib, level [`ZSTD_LEVEL`] for zstd.
pub fn compress(encoding: Encoding, body: &[u8]) -> Result<Vec<u8>, WireError> {
    let failed = |err: io::Error| WireError::Compress {
        encoding,
        reason: err.to_string(),
    };
    match encoding {
        Encoding::Identity => Ok(body.to_vec()),
        Encoding::Gzip => {
            let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
            encoder.write_all(body).map_err(failed)?;
            encoder.finish().map_err(failed)
        }
        Encoding::Deflate => {
            let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
            encoder.write_all(body).map_err(failed)?;
            encoder.finish().map_err(failed)
        }
        Encoding::Zstd => zstd::stream::encode_all(body, ZSTD_LEVEL).map_err(failed),
    }
}

/// Gzip at the fastest level, as the trace-agent's trace and stats writers compress their payloads
/// (`gzip.BestSpeed`): they are large, frequent, and sent once.
pub fn gzip_fast(body: &[u8]) -> Result<Vec<u8>, WireError> {
    let failed = |err: io::Error| WireError::Compress {
        encoding: Encoding::Gzip,
        reason: err.to_string(),
    };
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(body).map_err(failed)?;
    encoder.finish().map_err(failed)
}

/// The fastest-level compression state of [`GzipPiece::compress`], kept between pieces: making a new one
/// costs more than compressing a small piece.
pub struct PieceCompressor(flate2::Compress);

impl Default for PieceCompressor {
    fn default() -> Self {
        // Raw deflate: the pieces share the one gzip header and trailer that `gzip_join` writes.
        PieceCompressor(flate2::Compress::new(Compression::fast(), false))
    }
}

impl fmt::Debug for PieceCompressor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PieceCompressor")
    }
}

/// A part of a gzip body compressed on its own, as pigz compresses in parallel: deflate blocks that end
/// on a full flush (byte-aligned, referring to no earlier data), with the CRC-32 and length of what
/// they hold. [`gzip_join`] puts pieces behind one gzip header, then a final empty block and the
/// trailer of the whole, which makes one ordinary single-member gzip body. So the parts of a payload
/// can be compressed by many threads as they arrive, and kept compressed until they are sent.
#[derive(Clone)]
pub struct GzipPiece {
    deflated: Vec<u8>,
    crc: crc32fast::Hasher,
    len: u64,
}

impl fmt::Debug for GzipPiece {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GzipPiece")
            .field("compressed", &self.deflated.len())
            .field("len", &self.len)
            .finish()
    }
}

impl GzipPiece {
    /// Compresses `parts`, one after the other, into a piece.
    pub fn compress(compressor: &mut PieceCompressor, parts: &[&[u8]]) -> Result<Self, WireError> {
        let failed = |reason: String| WireError::Compress {
            encoding: Encoding::Gzip,
            reason,
        };
        let compress = &mut compressor.0;
        compress.reset();
        let len: usize = parts.iter().map(|part| part.len()).sum();
        let mut crc = crc32fast::Hasher::new();
        // Fast deflate of span data shrinks it several times; the loop below grows the buffer if not.
        let mut deflated = Vec::with_capacity(len / 4 + 64);
        for (index, part) in parts.iter().enumerate() {
            crc.update(part);
            let flush = if index + 1 == parts.len() {
                flate2::FlushCompress::Full
            } else {
                flate2::FlushCompress::None
            };
            let start = compress.total_in();
            loop {
                if deflated.capacity() - deflated.len() < 64 {
                    deflated.reserve(deflated.capacity().max(1024));
                }
                let read = usize::try_from(compress.total_in() - start).unwrap_or(usize::MAX);
                let rest = part.get(read..).unwrap_or_default();
                compress
                    .compress_vec(rest, &mut deflated, flush)
                    .map_err(|err| failed(err.to_string()))?;
                let consumed =
                    usize::try_from(compress.total_in() - start).unwrap_or(usize::MAX) >= part.len();
                // A flush is complete when it left room in the output.
                if consumed && (flush == flate2::FlushCompress::None || deflated.len() < deflated.capacity())
                {
                    break;
                }
            }
        }
        if parts.is_empty() {
            // Nothing to compress: no blocks at all, which joins like an empty piece.
            deflated.clear();
        }
        Ok(GzipPiece {
            deflated,
            crc,
            len: len as u64,
        })
    }

    /// Bytes compressed.
    pub fn compressed_len(&self) -> usize {
        self.deflated.len()
    }

    /// Bytes before compression.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The gzip header of joined pieces: no name, no time, fastest compression (XFL 4), unknown OS.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 255];
/// A final, empty, fixed-Huffman deflate block: it ends the stream after byte-aligned pieces.
const DEFLATE_LAST_EMPTY_BLOCK: [u8; 2] = [0x03, 0x00];

/// One gzip body holding the pieces' data in their order (see [`GzipPiece`]).
pub fn gzip_join(pieces: &[&GzipPiece]) -> Vec<u8> {
    let compressed: usize = pieces.iter().map(|piece| piece.compressed_len()).sum();
    let mut out = Vec::with_capacity(GZIP_HEADER.len() + compressed + DEFLATE_LAST_EMPTY_BLOCK.len() + 8);
    out.extend_from_slice(&GZIP_HEADER);
    let mut crc = crc32fast::Hasher::new();
    let mut len = 0u64;
    for piece in pieces {
        out.extend_from_slice(&piece.deflated);
        crc.combine(&piece.crc);
        len += piece.len;
    }
    out.extend_from_slice(&DEFLATE_LAST_EMPTY_BLOCK);
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    // ISIZE is the length modulo 2^32 (RFC 1952).
    out.extend_from_slice(&(len as u32).to_le_bytes());
    out
}

/// Reads at most `limit + 1` bytes: one byte past the limit proves the body is too large without
/// inflating the rest of it.
fn read_bounded(encoding: Encoding, reader: impl Read, limit: usize) -> Result<Vec<u8>, WireError> {
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let mut out = Vec::new();
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|err| decompress_error(encoding, &err))?;
    if out.len() > limit {
        return Err(WireError::TooLarge { limit });
    }
    Ok(out)
}

fn decompress_error(encoding: Encoding, err: &io::Error) -> WireError {
    WireError::Decompress {
        encoding,
        reason: err.to_string(),
    }
}

/// Whether `body` starts with a zlib header (RFC 1950): deflate method, window ≤ 32 KiB, and the
/// two header bytes a multiple of 31. A raw deflate stream passes this check only by accident.
fn has_zlib_header(body: &[u8]) -> bool {
    match body {
        [cmf, flg, ..] => {
            cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(*cmf) << 8 | u16::from(*flg)) % 31 == 0
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests;
