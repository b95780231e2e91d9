//! Compression tests: header parsing, round trips, the deflate variants, corrupt bodies and bombs.

use std::io::Write;

use expect_test::{Expect, expect};
use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};

use super::*;

/// Parses a header value and shows the encoding or the error.
fn check(header: &str, expect: Expect) {
    let shown = match header.parse::<Encoding>() {
        Ok(encoding) => format!("{encoding:?}"),
        Err(err) => format!("error: {err}"),
    };
    expect.assert_eq(&shown);
}

/// Decompresses and shows the text or the error.
fn check_decompress(encoding: Encoding, body: &[u8], limit: usize, expect: Expect) {
    let shown = match decompress(encoding, body, limit) {
        Ok(bytes) => format!("ok: {}", String::from_utf8_lossy(&bytes)),
        Err(err) => format!("error: {err}"),
    };
    expect.assert_eq(&shown);
}

const BODY: &[u8] = br#"{"series":[{"metric":"app.queue.depth","points":[[1700000000,12]]}]}"#;

#[test]
fn header_values() {
    check("gzip", expect!["Gzip"]);
    check("GZIP", expect!["Gzip"]);
    check("x-gzip", expect!["Gzip"]);
    check(" Deflate ", expect!["Deflate"]);
    check("zstd", expect!["Zstd"]);
    check("zstd1", expect!["Zstd"]);
    check("ZSTD", expect!["Zstd"]);
    check("identity", expect!["Identity"]);
    check("", expect!["Identity"]);
    check(
        "br",
        expect![[r#"error: unsupported Content-Encoding "br": send identity, gzip, deflate or zstd"#]],
    );
    check(
        "gzip, deflate",
        expect![[
            r#"error: unsupported Content-Encoding "gzip, deflate": send identity, gzip, deflate or zstd"#
        ]],
    );
    assert_eq!(Encoding::from_header(None), Ok(Encoding::Identity));
    assert_eq!(Encoding::from_header(Some("Gzip")), Ok(Encoding::Gzip));
}

#[test]
fn header_values_the_agent_sends_parse_back() {
    for encoding in [
        Encoding::Identity,
        Encoding::Gzip,
        Encoding::Deflate,
        Encoding::Zstd,
    ] {
        assert_eq!(Encoding::from_header(encoding.header_value()), Ok(encoding));
        assert_eq!(encoding.to_string().parse::<Encoding>(), Ok(encoding));
    }
}

#[test]
fn round_trips() {
    for encoding in [
        Encoding::Identity,
        Encoding::Gzip,
        Encoding::Deflate,
        Encoding::Zstd,
    ] {
        let compressed = compress(encoding, BODY).unwrap();
        assert_eq!(
            decompress(encoding, &compressed, BODY.len()).as_deref(),
            Ok(BODY),
            "{encoding}"
        );
        let empty = compress(encoding, b"").unwrap();
        assert_eq!(
            decompress(encoding, &empty, 0),
            Ok(Vec::new()),
            "{encoding}: empty body"
        );
    }
}

#[test]
fn the_agents_zlib_and_a_raw_deflate_stream_are_both_deflate() {
    // datadogpy's `zlib.compress` and the Agent's zlib writer both produce a zlib stream (78 9c ...).
    let mut zlib = ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    zlib.write_all(BODY).unwrap();
    let zlib = zlib.finish().unwrap();
    assert_eq!(&zlib[..2], &[0x78, 0x9c]);
    assert_eq!(decompress(Encoding::Deflate, &zlib, 1000).as_deref(), Ok(BODY));

    // Some HTTP clients send raw deflate (RFC 1951) under the same header.
    let mut raw = DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    raw.write_all(BODY).unwrap();
    let raw = raw.finish().unwrap();
    assert!(!has_zlib_header(&raw));
    assert_eq!(decompress(Encoding::Deflate, &raw, 1000).as_deref(), Ok(BODY));
}

#[test]
fn concatenated_gzip_members_are_read_in_turn() {
    let mut body = compress(Encoding::Gzip, b"hello ").unwrap();
    body.extend(compress(Encoding::Gzip, b"world").unwrap());
    check_decompress(Encoding::Gzip, &body, 100, expect!["ok: hello world"]);
}

#[test]
fn the_limit_is_inclusive() {
    for encoding in [
        Encoding::Identity,
        Encoding::Gzip,
        Encoding::Deflate,
        Encoding::Zstd,
    ] {
        let compressed = compress(encoding, BODY).unwrap();
        assert_eq!(decompress(encoding, &compressed, BODY.len()).as_deref(), Ok(BODY));
        assert_eq!(
            decompress(encoding, &compressed, BODY.len() - 1),
            Err(WireError::TooLarge {
                limit: BODY.len() - 1
            }),
            "{encoding}"
        );
    }
    check_decompress(
        Encoding::Identity,
        b"0123456789",
        9,
        expect!["error: the body inflates to more than 9 bytes"],
    );
}

#[test]
fn corrupt_and_truncated_bodies() {
    let gzip = compress(Encoding::Gzip, BODY).unwrap();
    let zlib = compress(Encoding::Deflate, BODY).unwrap();
    let zstd = compress(Encoding::Zstd, BODY).unwrap();
    check_decompress(
        Encoding::Gzip,
        b"not gzip at all",
        1000,
        expect!["error: cannot decompress the gzip body: invalid gzip header"],
    );
    check_decompress(
        Encoding::Gzip,
        &gzip[..gzip.len() / 2],
        1000,
        expect!["error: cannot decompress the gzip body: incomplete deflate stream"],
    );
    check_decompress(
        Encoding::Deflate,
        &zlib[..zlib.len() / 2],
        1000,
        expect!["error: cannot decompress the deflate body: incomplete deflate stream"],
    );
    let mut bad_checksum = zlib.clone();
    let last = bad_checksum.len() - 1;
    bad_checksum[last] ^= 0xff;
    check_decompress(
        Encoding::Deflate,
        &bad_checksum,
        1000,
        expect!["error: cannot decompress the deflate body: corrupt deflate stream"],
    );
    check_decompress(
        Encoding::Zstd,
        b"not zstd at all",
        1000,
        expect!["error: cannot decompress the zstd body: Unknown frame descriptor"],
    );
    check_decompress(
        Encoding::Zstd,
        &zstd[..zstd.len() / 2],
        1000,
        expect!["error: cannot decompress the zstd body: incomplete frame"],
    );
}

/// A zstd frame whose header asks for a 2 GiB window: the decoder must refuse it before allocating.
#[test]
fn a_zstd_frame_asking_for_a_huge_window_is_refused() {
    #[rustfmt::skip]
    let frame = [
        0x28, 0xb5, 0x2f, 0xfd, // magic number
        0x00,                   // frame header descriptor: no content size, no checksum, not single-segment
        21 << 3,                // window descriptor: exponent 21, window log 10 + 21 = 31
        0x53, 0x00, 0x00,       // block header: last block, RLE, 10 bytes
        b'x',                   // the byte to repeat
    ];
    check_decompress(
        Encoding::Zstd,
        &frame,
        1000,
        expect!["error: cannot decompress the zstd body: Frame requires too much memory for decoding"],
    );
    // The same frame with a 1 KiB window decodes: the frame itself is well-formed.
    let mut small = frame;
    small[5] = 0;
    check_decompress(Encoding::Zstd, &small, 1000, expect!["ok: xxxxxxxxxx"]);
}

/// Bodies of a few KiB that inflate to hundreds of MiB stop at the limit. Decompression reads through
/// `Read::take(limit + 1)`, so at most ~2 MiB is ever allocated here; if a decoder inflated the whole
/// body this test would need 256 MiB and seconds of work.
#[test]
fn bombs_stop_at_the_limit() {
    const LIMIT: usize = 1 << 20;
    let zeros = vec![0u8; 1 << 20];

    let mut zstd = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
    for _ in 0..256 {
        zstd.write_all(&zeros).unwrap();
    }
    let zstd = zstd.finish().unwrap();

    let mut gzip = GzEncoder::new(Vec::new(), flate2::Compression::best());
    let mut zlib = ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    for _ in 0..64 {
        gzip.write_all(&zeros).unwrap();
        zlib.write_all(&zeros).unwrap();
    }
    let (gzip, zlib) = (gzip.finish().unwrap(), zlib.finish().unwrap());

    for (encoding, body) in [
        (Encoding::Zstd, &zstd),
        (Encoding::Gzip, &gzip),
        (Encoding::Deflate, &zlib),
    ] {
        assert!(body.len() < 200_000, "{encoding} bomb is {} bytes", body.len());
        assert_eq!(
            decompress(encoding, body, LIMIT),
            Err(WireError::TooLarge { limit: LIMIT }),
            "{encoding}"
        );
    }
}

#[test]
fn fast_gzip_round_trips() {
    let body =
        b"the trace writer's payload, the trace writer's payload, the trace writer's payload".repeat(50);
    let compressed = gzip_fast(&body).unwrap();
    assert!(compressed.len() < body.len() / 4, "{}", compressed.len());
    assert_eq!(decompress(Encoding::Gzip, &compressed, body.len()).unwrap(), body);
}

/// Bytes that deflate cannot shrink (a linear congruential sequence), so a piece outgrows its first
/// output buffer.
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_u32;
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 24) as u8
        })
        .collect()
}

#[test]
fn pieces_compressed_apart_join_into_one_gzip_member() {
    let text = BODY.repeat(2_000);
    let random = noise(300_000);
    let cases: Vec<Vec<&[u8]>> = vec![
        vec![BODY],
        vec![],
        vec![b"", BODY, b""],
        vec![&text, &random, BODY],
        vec![&random],
    ];
    let mut compressor = PieceCompressor::default();
    let pieces: Vec<GzipPiece> = cases
        .iter()
        .map(|parts| GzipPiece::compress(&mut compressor, parts).unwrap())
        .collect();
    let expected: Vec<u8> = cases
        .iter()
        .flatten()
        .flat_map(|part| part.iter().copied())
        .collect();
    assert_eq!(
        pieces.iter().map(GzipPiece::len).sum::<u64>(),
        expected.len() as u64
    );
    assert!(pieces[3].compressed_len() < text.len() + random.len());
    let joined = gzip_join(&pieces.iter().collect::<Vec<_>>());
    // A reader that stops after the first gzip member still sees everything: the body is one member.
    let mut single = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&joined[..]), &mut single).unwrap();
    assert_eq!(single, expected);
    assert_eq!(decompress(Encoding::Gzip, &joined, 1 << 22).unwrap(), expected);
    // The same pieces in another order hold the same parts in that order.
    let reversed = gzip_join(&pieces.iter().rev().collect::<Vec<_>>());
    let expected_reversed: Vec<u8> = cases
        .iter()
        .rev()
        .flatten()
        .flat_map(|part| part.iter().copied())
        .collect();
    assert_eq!(
        decompress(Encoding::Gzip, &reversed, 1 << 22).unwrap(),
        expected_reversed
    );
}

#[test]
fn no_pieces_join_into_an_empty_gzip_body() {
    let joined = gzip_join(&[]);
    assert_eq!(decompress(Encoding::Gzip, &joined, 16).unwrap(), b"");
}
