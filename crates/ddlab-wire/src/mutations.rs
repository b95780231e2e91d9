//! Mutation tests: every decoder meets thousands of truncated, bit-flipped, spliced and scrambled
//! variants of valid bodies, deterministically, and must answer each with a value or an error, never a
//! panic. Whatever still decodes must survive an encode/decode round trip.

use std::collections::BTreeMap;

use crate::compression::{Encoding, compress, decompress};
use crate::series::{self, MetricBatch, SeriesFormat};
use crate::{check_run, events, intake};

/// A small deterministic generator (xorshift64*), so failures reproduce without a crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n.max(1) as u64).unwrap_or(0)
    }
}

/// Bytes worth inserting: JSON punctuation, protobuf tags and lengths, extreme values.
const INTERESTING: &[u8] = b"{}[]\",:0-.e\\nul\x00\x01\x7f\x80\xff\x0a\x12\x22\x08";

/// The variants of one body: every truncation and suffix, single-bit flips, deletions, insertions, and
/// random multi-byte corruption.
fn mutations(seed: &[u8], rng: &mut Rng) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for cut in 0..=seed.len() {
        out.push(seed[..cut].to_vec());
        out.push(seed[cut..].to_vec());
    }
    for index in 0..seed.len() {
        for bit in 0..8 {
            let mut flipped = seed.to_vec();
            flipped[index] ^= 1 << bit;
            out.push(flipped);
        }
        let mut removed = seed.to_vec();
        removed.remove(index);
        out.push(removed);
        let mut inserted = seed.to_vec();
        inserted.insert(index, INTERESTING[index % INTERESTING.len()]);
        out.push(inserted);
    }
    for _ in 0..500 {
        let mut scrambled = seed.to_vec();
        for _ in 0..=rng.below(4) {
            let index = rng.below(scrambled.len());
            if let Some(byte) = scrambled.get_mut(index) {
                *byte = INTERESTING[rng.below(INTERESTING.len())] ^ (rng.next() as u8 & 0x03);
            }
        }
        // Duplicating a slice in place stresses nesting and length prefixes.
        if !scrambled.is_empty() {
            let start = rng.below(scrambled.len());
            let end = (start + rng.below(16)).min(scrambled.len());
            let copy = scrambled[start..end].to_vec();
            scrambled.splice(start..start, copy);
        }
        out.push(scrambled);
    }
    out
}

/// What happened to the variants of one seed, to prove they exercised both outcomes.
#[derive(Debug, Default)]
struct Tally {
    decoded: usize,
    refused: usize,
}

impl Tally {
    fn count<T, E>(&mut self, result: &Result<T, E>) {
        match result {
            Ok(_) => self.decoded += 1,
            Err(_) => self.refused += 1,
        }
    }
}

/// Tags are a set to Datadog; the encoders move the device tag, so compare with sorted, unique tags.
fn canonical(mut batch: MetricBatch) -> MetricBatch {
    for series in &mut batch.series {
        series.tags.sort();
        series.tags.dedup();
    }
    batch
}

fn series_round_trip(batch: &MetricBatch, origin: &str) {
    let again = series::decode_v2_protobuf(&series::encode_v2_protobuf(batch));
    assert_eq!(
        again.map(canonical),
        Ok(canonical(batch.clone())),
        "protobuf round trip of a batch decoded from {origin}"
    );
}

fn decode_everything(body: &[u8], tally: &mut Tally, kind: &str) {
    for format in [
        SeriesFormat::V1Json,
        SeriesFormat::V2Json,
        SeriesFormat::V2Protobuf,
    ] {
        let result = series::decode(format, body);
        if let Ok(batch) = &result {
            series_round_trip(batch, kind);
        }
        if format_matches(kind, format) {
            tally.count(&result);
        }
    }
    let check_runs = check_run::decode(body);
    if let Ok(runs) = &check_runs {
        assert_eq!(check_run::decode(&check_run::encode(runs)).as_ref(), Ok(runs));
    }
    let event = events::decode(body);
    let intake = intake::decode(body);
    match kind {
        "check_run" => tally.count(&check_runs),
        "event" => tally.count(&event),
        "intake" => tally.count(&intake),
        _ => {}
    }
}

fn format_matches(kind: &str, format: SeriesFormat) -> bool {
    matches!(
        (kind, format),
        ("v1", SeriesFormat::V1Json) | ("v2", SeriesFormat::V2Json) | ("protobuf", SeriesFormat::V2Protobuf)
    )
}

fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let v1 = br#"{"series":[{"metric":"app.queue.depth","points":[[1700000000,12.5],["1700000010",null]],"type":"gauge","host":"web-1","tags":["env:dev"],"device":"sda","interval":10},{"metric":"b","points":[],"type":"count"}]}"#.to_vec();
    let v2 = br#"{"series":[{"metric":"m","type":3,"points":[{"timestamp":1700000000,"value":1.5}],"resources":[{"type":"host","name":"h"},{"type":"device","name":"d"}],"tags":["a:b"],"unit":"byte","interval":0,"metadata":{"origin":{"product":1}}}]}"#.to_vec();
    let protobuf = series::decode_v1_json(&v1)
        .map(|batch| series::encode_v2_protobuf(&batch))
        .unwrap_or_default();
    let check_run = br#"[{"check":"mysql.can_connect","host_name":"h1","timestamp":1700000000,"status":2,"message":"denied","tags":["port:3306"]}]"#.to_vec();
    let event = br#"{"title":"Deploy","text":"done","tags":["env:dev"],"alert_type":"info","priority":"low","date_happened":1700000000,"related_event_id":1}"#.to_vec();
    let intake = br#"{"internalHostname":"h","host-tags":{"system":["env:dev"]},"meta":{"host_aliases":["a"]},"systemStats":{"cpuCores":2},"gohai":"{\"network\":{\"ipaddress\":\"10.0.0.1\"},\"platform\":{\"os\":\"GNU/Linux\"}}","events":{"api":[{"msg_title":"t","msg_text":"x","timestamp":1}]},"service_checks":[{"check":"c","host_name":"h","status":0}]}"#.to_vec();
    vec![
        ("v1", v1),
        ("v2", v2),
        ("protobuf", protobuf),
        ("check_run", check_run),
        ("event", event),
        ("intake", intake),
    ]
}

#[test]
fn mutated_bodies_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut tallies = BTreeMap::new();
    for (kind, seed) in seeds() {
        assert!(!seed.is_empty(), "{kind} seed");
        let tally: &mut Tally = tallies.entry(kind).or_default();
        for body in mutations(&seed, &mut rng) {
            decode_everything(&body, tally, kind);
        }
    }
    for (kind, tally) in &tallies {
        assert!(
            tally.decoded >= 10 && tally.refused >= 100,
            "{kind}: the mutations should both decode and fail often: {tally:?}"
        );
    }
}

#[test]
fn mutated_compressed_bodies_never_panic() {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let (_, v1) = &seeds()[0];
    for encoding in [Encoding::Gzip, Encoding::Deflate, Encoding::Zstd] {
        let compressed = compress(encoding, v1).unwrap_or_default();
        let mut tally = Tally::default();
        for body in mutations(&compressed, &mut rng) {
            let inflated = decompress(encoding, &body, 4096);
            tally.count(&inflated);
            if let Ok(inflated) = inflated {
                assert!(inflated.len() <= 4096);
                decode_everything(&inflated, &mut Tally::default(), "compressed");
            }
        }
        assert!(
            tally.decoded >= 1 && tally.refused >= 100,
            "{encoding}: the mutations should both decode and fail: {tally:?}"
        );
    }
}

/// Nesting a hundred thousand levels deep must neither overflow the stack nor be mistaken for data:
/// ignored values are skipped iteratively, and parsed bodies hit serde_json's recursion limit.
#[test]
fn deeply_nested_bodies_are_handled() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let ignored = format!(r#"{{"series":[{{"metric":"m","points":[],"extra":{deep}}}]}}"#);
    assert_eq!(
        series::decode_v1_json(ignored.as_bytes()).map(|batch| batch.series.len()),
        Ok(1)
    );
    let misplaced = format!(r#"{{"series":[{{"metric":{deep},"points":[]}}]}}"#);
    assert_eq!(
        series::decode_v2_json(misplaced.as_bytes()).map_err(|err| err.message()),
        Err(r#"series[0]: "metric" must be a string"#.to_owned())
    );
    let parsed = format!(r#"{{"events":{{"api":{deep}}}}}"#);
    assert_eq!(
        intake::decode(parsed.as_bytes()).map_err(|err| err.message()),
        Err("invalid JSON: recursion limit exceeded".to_owned())
    );
    let recursion = "invalid JSON: recursion limit exceeded at line 1 column 128";
    assert_eq!(
        check_run::decode(deep.as_bytes())
            .map(drop)
            .map_err(|e| e.to_string()),
        Err(recursion.into())
    );
    assert_eq!(
        events::decode(deep.as_bytes())
            .map(drop)
            .map_err(|e| e.to_string()),
        Err(recursion.into())
    );
    // An unknown field skipped by prost: groups (field 15, wire type 3) opened a hundred thousand deep.
    let protobuf = vec![0x7b; 100_000];
    expect_test::expect![
        "invalid protobuf MetricPayload: failed to decode Protobuf message: recursion limit reached"
    ]
    .assert_eq(
        &series::decode_v2_protobuf(&protobuf)
            .map(drop)
            .unwrap_err()
            .to_string(),
    );
}
