//! The serializer: one aggregator flush into the forwarder's payloads, in the Agent's formats.
//!
//! | what | route | body |
//! | --- | --- | --- |
//! | series | `/api/v2/series` | protobuf `MetricPayload` (default), or JSON `/api/v1/series` with `use_v2_api.series: false` |
//! | service checks | `/api/v1/check_run` | JSON array |
//! | events | `/intake/` | `{"apiKey", "internalHostname", "events": {<source>: [...]}}` |
//!
//! Every body is compressed with `serializer_compressor_kind` (zstd by default, `deflate` for zlib). A
//! series payload over the intake's limits (v2: 512 kB compressed, 5 MiB uncompressed) is split in
//! halves until every part fits, as the Agent splits its payloads.

use ddlab_wire::series::{self, MetricBatch, Series};
use ddlab_wire::{Encoding, check_run, compression, intake};

use crate::aggregator::Flush;
use crate::config::Compressor;
use crate::forwarder::{Endpoint, Transaction};

/// How payloads are built.
#[derive(Debug, Clone)]
pub struct SerializerOptions {
    /// `use_v2_api.series`; default true.
    pub use_v2_series: bool,
    /// `serializer_compressor_kind`; default zstd.
    pub compressor: Compressor,
    /// The `apiKey` field of `/intake/` payloads (the header carries it too).
    pub api_key: String,
    /// The agent's hostname: `internalHostname` of `/intake/` payloads.
    pub hostname: String,
}

impl SerializerOptions {
    /// The `Content-Encoding` payloads are sent with.
    pub fn encoding(&self) -> Encoding {
        match self.compressor {
            Compressor::Zstd => Encoding::Zstd,
            Compressor::Zlib => Encoding::Deflate,
        }
    }

    /// Compresses `body` into a transaction for `endpoint`.
    pub fn transaction(&self, endpoint: Endpoint, body: &[u8]) -> Option<Transaction> {
        let encoding = self.encoding();
        match compression::compress(encoding, body) {
            Ok(body) => Some(Transaction::new(endpoint, body, encoding)),
            Err(err) => {
                tracing::error!(error = %err, endpoint = endpoint.name(), "cannot compress a payload; it is dropped");
                None
            }
        }
    }
}

/// The payloads of one flush: series first, then service checks, then events.
pub fn serialize(flush: &Flush, options: &SerializerOptions) -> Vec<Transaction> {
    let mut transactions = Vec::new();
    if !flush.series.series.is_empty() {
        series_payloads(&flush.series.series, options, &mut transactions);
    }
    if !flush.service_checks.is_empty() {
        transactions
            .extend(options.transaction(Endpoint::CheckRun, &check_run::encode(&flush.service_checks)));
    }
    if !flush.events.is_empty() {
        let body = intake::encode_events(&options.api_key, &options.hostname, &flush.events);
        transactions.extend(options.transaction(Endpoint::Intake, &body));
    }
    transactions
}

fn series_payloads(series: &[Series], options: &SerializerOptions, out: &mut Vec<Transaction>) {
    let batch = MetricBatch {
        series: series.to_vec(),
    };
    let (endpoint, body, body_limit, raw_limit) = if options.use_v2_series {
        (
            Endpoint::SeriesV2,
            series::encode_v2_protobuf(&batch),
            series::V2_BODY_LIMIT,
            series::V2_DECOMPRESSED_LIMIT,
        )
    } else {
        (
            Endpoint::SeriesV1,
            series::encode_v1_json(&batch),
            series::V1_BODY_LIMIT,
            series::V1_DECOMPRESSED_LIMIT,
        )
    };
    let Some(transaction) = options.transaction(endpoint, &body) else {
        return;
    };
    let fits = body.len() < raw_limit && transaction.size() <= body_limit;
    if fits || series.len() == 1 {
        if !fits {
            tracing::error!(
                metric = %series[0].metric,
                bytes = transaction.size(),
                "one series is larger than the intake accepts; it is sent anyway and will be refused"
            );
        }
        out.push(transaction);
        return;
    }
    let (first, second) = series.split_at(series.len() / 2);
    series_payloads(first, options, out);
    series_payloads(second, options, out);
}

#[cfg(test)]
mod tests {
    use ddlab_wire::check_run::{CheckRun, CheckStatus};
    use ddlab_wire::events::Event;
    use ddlab_wire::series::{MetricKind, Point};

    use super::*;

    fn options(use_v2_series: bool, compressor: Compressor) -> SerializerOptions {
        SerializerOptions {
            use_v2_series,
            compressor,
            api_key: "k".into(),
            hostname: "lab-host".into(),
        }
    }

    fn gauge(name: &str, points: usize) -> Series {
        Series {
            host: Some("lab-host".into()),
            tags: vec!["env:lab".into()],
            points: (0..points)
                .map(|i| Point {
                    timestamp: 1_700_000_000 + i as i64,
                    value: i as f64,
                })
                .collect(),
            ..Series::new(name, MetricKind::Gauge)
        }
    }

    fn decode(transaction: &Transaction) -> Vec<u8> {
        compression::decompress(transaction.encoding, &transaction.body, usize::MAX).unwrap()
    }

    #[test]
    fn a_flush_becomes_series_check_runs_and_events() {
        let flush = Flush {
            series: MetricBatch {
                series: vec![gauge("my_metric", 1)],
            },
            service_checks: vec![CheckRun {
                check: "datadog.agent.up".into(),
                host_name: "lab-host".into(),
                status: CheckStatus::Ok,
                timestamp: Some(1_700_000_000),
                message: None,
                tags: vec![],
            }],
            events: vec![Event {
                title: "t".into(),
                text: "x".into(),
                date_happened: Some(1_700_000_000),
                priority: Default::default(),
                host: None,
                tags: vec![],
                alert_type: Default::default(),
                aggregation_key: None,
                source_type_name: None,
                related_event_id: None,
                device_name: None,
                event_type: None,
            }],
        };
        let transactions = serialize(&flush, &options(true, Compressor::Zstd));
        let endpoints: Vec<Endpoint> = transactions.iter().map(|t| t.endpoint).collect();
        assert_eq!(
            endpoints,
            [Endpoint::SeriesV2, Endpoint::CheckRun, Endpoint::Intake]
        );
        assert!(transactions.iter().all(|t| t.encoding == Encoding::Zstd));
        let series = series::decode_v2_protobuf(&decode(&transactions[0])).unwrap();
        assert_eq!(series, flush.series);
        let runs = check_run::decode(&decode(&transactions[1])).unwrap();
        assert_eq!(runs, flush.service_checks);
        let events = intake::decode(&decode(&transactions[2])).unwrap().events;
        assert_eq!(events[0].host.as_deref(), Some("lab-host"));
    }

    #[test]
    fn v1_json_with_zlib_when_configured() {
        let flush = Flush {
            series: MetricBatch {
                series: vec![gauge("my_metric", 2)],
            },
            ..Flush::default()
        };
        let transactions = serialize(&flush, &options(false, Compressor::Zlib));
        assert_eq!(transactions.len(), 1);
        assert_eq!(
            (transactions[0].endpoint, transactions[0].encoding),
            (Endpoint::SeriesV1, Encoding::Deflate)
        );
        let series = series::decode_v1_json(&decode(&transactions[0])).unwrap();
        assert_eq!(series, flush.series);
    }

    #[test]
    fn large_flushes_are_split_under_the_limits() {
        // ~400 000 points of distinct values: well over 5 MiB of protobuf.
        let flush = Flush {
            series: MetricBatch {
                series: (0..400).map(|i| gauge(&format!("m{i}"), 1_000)).collect(),
            },
            ..Flush::default()
        };
        let transactions = serialize(&flush, &options(true, Compressor::Zstd));
        assert!(transactions.len() > 1, "{}", transactions.len());
        let mut names = Vec::new();
        for transaction in &transactions {
            let raw = decode(transaction);
            assert!(raw.len() < series::V2_DECOMPRESSED_LIMIT);
            assert!(transaction.size() <= series::V2_BODY_LIMIT);
            names.extend(
                series::decode_v2_protobuf(&raw)
                    .unwrap()
                    .series
                    .into_iter()
                    .map(|s| s.metric),
            );
        }
        let expected: Vec<String> = (0..400).map(|i| format!("m{i}")).collect();
        assert_eq!(names, expected);
    }

    #[test]
    fn an_empty_flush_sends_nothing() {
        assert!(serialize(&Flush::default(), &options(true, Compressor::Zstd)).is_empty());
    }
}
