//! Property tests: every intake decoder answers arbitrary bytes, and mutations of real payloads, with a
//! value or an error, never a panic.

use ddlab_wire::series::{self, MetricBatch, MetricKind, Point, Series, SeriesFormat};
use proptest::prelude::*;

fn sample_batch() -> MetricBatch {
    let mut s = Series::new("my_metric", MetricKind::Gauge);
    s.host = Some("lab".to_owned());
    s.tags = vec!["env:lab".to_owned()];
    s.points = vec![Point {
        timestamp: 1_700_000_000,
        value: 512.0,
    }];
    MetricBatch { series: vec![s] }
}

fn all_decoders(bytes: &[u8]) {
    for format in [
        SeriesFormat::V1Json,
        SeriesFormat::V2Json,
        SeriesFormat::V2Protobuf,
    ] {
        let _ = series::decode(format, bytes);
    }
    let _ = ddlab_wire::check_run::decode(bytes);
    let _ = ddlab_wire::events::decode(bytes);
    let _ = ddlab_wire::intake::decode(bytes);
    for encoding in [
        ddlab_wire::Encoding::Gzip,
        ddlab_wire::Encoding::Deflate,
        ddlab_wire::Encoding::Zstd,
    ] {
        let _ = ddlab_wire::compression::decompress(encoding, bytes, 1 << 20);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        all_decoders(&bytes);
    }

    #[test]
    fn mutated_real_payloads_never_panic(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let batch = sample_batch();
        for mut payload in [series::encode_v1_json(&batch), series::encode_v2_protobuf(&batch)] {
            for (index, byte) in &flips {
                let at = index.index(payload.len());
                payload[at] = *byte;
            }
            all_decoders(&payload);
        }
    }
}

#[test]
fn the_unmutated_payloads_decode() {
    let batch = sample_batch();
    assert_eq!(
        series::decode(SeriesFormat::V1Json, &series::encode_v1_json(&batch))
            .unwrap()
            .series
            .len(),
        1
    );
    assert_eq!(
        series::decode(SeriesFormat::V2Protobuf, &series::encode_v2_protobuf(&batch)).unwrap(),
        batch
    );
}
