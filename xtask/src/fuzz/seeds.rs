//! The fuzzers' seed inputs, made from what the repository already holds: the queries, messages and YAML
//! of `fixtures/`, the string literals of each parser's unit tests, and binary bodies made from those
//! with `ddlab-wire`'s own encoders (series JSON to protobuf, v0.4 JSON traces to msgpack v0.4 and v0.5).
//!
//! Seeds are written under `target/fuzz/seeds/<target>/`, one file per distinct input, and never
//! committed: libFuzzer's merge (`cargo xtask fuzz --merge`) keeps the ones that add coverage in the
//! committed corpus.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use anyhow::Context as _;
use ddlab_monitor::query::MonitorQuery;
use ddlab_wire::series::{self, MetricBatch};
use ddlab_wire::trace::{self, pb};
use serde_json::Value;

use crate::rust_literals;

/// Source files whose string literals seed a target (the unit tests of its parser, mostly).
const LITERALS: &[(&str, &[&str])] = &[
    (
        "query",
        &[
            "crates/ddlab-query/src/parse/tests.rs",
            "crates/ddlab-query/src/ast.rs",
            "crates/ddlab-query/src/eval/tests.rs",
            "crates/ddlab-query/src/scope.rs",
        ],
    ),
    (
        "monitor_query",
        &[
            "crates/ddlab-monitor/src/query.rs",
            "crates/ddlab-monitor/src/definition.rs",
            "crates/ddlab-monitor/src/state/tests.rs",
        ],
    ),
    (
        "monitor_template",
        &[
            "crates/ddlab-monitor/src/template.rs",
            "crates/ddlab-monitor/src/notify.rs",
            "crates/ddlab-monitor/src/definition.rs",
        ],
    ),
    ("series_v1_json", &["crates/ddlab-wire/src/series/tests.rs"]),
    ("series_v2_json", &["crates/ddlab-wire/src/series/tests.rs"]),
    (
        "dogstatsd",
        &[
            "crates/ddlab-wire/src/dogstatsd/tests.rs",
            "crates/ddlab-agent/src/dogstatsd/tests.rs",
        ],
    ),
    (
        "agent_config",
        &[
            "crates/ddlab-agent/src/config/mod.rs",
            "crates/ddlab-agent/src/config/checks.rs",
        ],
    ),
];

/// Writes every target's seeds into `dir/<target>/`, replacing what was there; returns how many.
pub(crate) fn write_all(root: &Path, dir: &Path) -> anyhow::Result<usize> {
    let mut seeds: BTreeMap<&str, BTreeSet<Vec<u8>>> = BTreeMap::new();
    for (target, files) in LITERALS {
        for file in *files {
            let path = root.join(file);
            let source = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {} for the {target} seeds", path.display()))?;
            seeds.entry(target).or_default().extend(
                rust_literals::string_literals(&source)
                    .into_iter()
                    .filter(|l| !l.is_empty()),
            );
        }
    }
    fixtures(root, &mut seeds)?;
    derived(root, &mut seeds)?;

    let mut total = 0;
    for (target, _) in super::TARGETS {
        let target_dir = dir.join(target);
        if target_dir.exists() {
            std::fs::remove_dir_all(&target_dir)
                .with_context(|| format!("cannot clear {}", target_dir.display()))?;
        }
        std::fs::create_dir_all(&target_dir)?;
        for seed in seeds.get(target).into_iter().flatten() {
            let path = target_dir.join(format!("{:016x}", fnv1a(seed)));
            std::fs::write(&path, seed).with_context(|| format!("cannot write {}", path.display()))?;
            total += 1;
        }
    }
    Ok(total)
}

/// Queries, monitor queries and messages of the fixtures' API payloads; their YAML as agent config.
fn fixtures(root: &Path, seeds: &mut BTreeMap<&str, BTreeSet<Vec<u8>>>) -> anyhow::Result<()> {
    for path in crate::files_under(&root.join("fixtures")) {
        let extension = path.extension().and_then(|e| e.to_str()).unwrap_or_default();
        match extension {
            "yaml" | "yml" => {
                let text = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
                seeds.entry("agent_config").or_default().insert(text);
            }
            "json" => {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                // A fixture that is not JSON is tidy's business (`every_fixture_parses`), not the seeder's.
                let Ok(value) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                let mut strings = Vec::new();
                keyed_strings(&value, &mut strings);
                for (key, text) in strings {
                    match key.as_str() {
                        "q" | "query" | "formula" => match MonitorQuery::parse(&text) {
                            Ok(monitor) => {
                                seeds
                                    .entry("monitor_query")
                                    .or_default()
                                    .insert(text.clone().into());
                                let expression = monitor.expression_text.into_bytes();
                                seeds.entry("query").or_default().insert(expression);
                            }
                            Err(_) => {
                                seeds.entry("query").or_default().insert(text.into());
                            }
                        },
                        "message" => {
                            seeds.entry("monitor_template").or_default().insert(text.into());
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Binary bodies made with the crate's encoders from the text seeds, and a trace as ddtrace sends one.
fn derived(root: &Path, seeds: &mut BTreeMap<&str, BTreeSet<Vec<u8>>>) -> anyhow::Result<()> {
    let json_bodies: Vec<Vec<u8>> = seeds
        .get("series_v1_json")
        .into_iter()
        .chain(seeds.get("series_v2_json"))
        .flatten()
        .cloned()
        .collect();
    let batches: Vec<MetricBatch> = json_bodies
        .iter()
        .flat_map(|body| [series::decode_v1_json(body), series::decode_v2_json(body)])
        .filter_map(Result::ok)
        .filter(|batch| !batch.series.is_empty())
        .collect();
    let protobuf = seeds.entry("series_v2_protobuf").or_default();
    for batch in &batches {
        protobuf.insert(series::encode_v2_protobuf(batch));
    }

    let trace_tests = root.join("crates/ddlab-wire/src/trace/tests.rs");
    let source = std::fs::read_to_string(&trace_tests)
        .with_context(|| format!("cannot read {}", trace_tests.display()))?;
    let mut traces: Vec<Vec<Vec<pb::Span>>> = rust_literals::string_literals(&source)
        .iter()
        .filter_map(|body| trace::decode_v04_json(body).ok())
        .filter(|traces| !traces.is_empty())
        .collect();
    traces.push(flask_request());
    for trace in &traces {
        seeds
            .entry("trace_v04")
            .or_default()
            .insert(trace::encode_v04(trace));
        seeds
            .entry("trace_v05")
            .or_default()
            .insert(trace::encode_v05(trace));
    }
    Ok(())
}

/// One Flask request with a MySQL query under it, with the tags and metrics ddtrace sets.
fn flask_request() -> Vec<Vec<pb::Span>> {
    let strings = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    let numbers = |pairs: &[(&str, f64)]| -> HashMap<String, f64> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    };
    let request = pb::Span {
        service: "flask".to_owned(),
        name: "flask.request".to_owned(),
        resource: "GET /api/trace".to_owned(),
        trace_id: 0x5f3c_9a1b_2d4e_6f70,
        span_id: 0x1122_3344_5566_7788,
        parent_id: 0,
        start: 1_700_000_000_123_456_789,
        duration: 3_250_000,
        error: 0,
        meta: strings(&[
            ("env", "lab"),
            ("http.method", "GET"),
            ("http.route", "/api/trace"),
            ("http.status_code", "200"),
            ("http.url", "http://127.0.0.1:5050/api/trace"),
            ("language", "python"),
            ("runtime-id", "8c2a4f0e5b1d4c3a9e7f6a5b4c3d2e1f"),
            ("_dd.p.dm", "-0"),
            ("_dd.p.tid", "65a1b2c300000000"),
        ]),
        metrics: numbers(&[
            ("_dd.top_level", 1.0),
            ("_dd.measured", 1.0),
            ("_sampling_priority_v1", 1.0),
            ("_dd.agent_psr", 1.0),
            ("process_id", 4242.0),
        ]),
        r#type: "web".to_owned(),
        ..pb::Span::default()
    };
    let query = pb::Span {
        service: "mysql".to_owned(),
        name: "mysql.query".to_owned(),
        resource: "SELECT * FROM demo WHERE id = ?".to_owned(),
        span_id: 0x99aa_bbcc_ddee_ff00,
        parent_id: request.span_id,
        start: request.start + 250_000,
        duration: 1_100_000,
        meta: strings(&[
            ("component", "mysql"),
            ("db.system", "mysql"),
            ("db.name", "demo"),
            ("out.host", "127.0.0.1"),
            ("span.kind", "client"),
        ]),
        metrics: numbers(&[("network.destination.port", 3306.0), ("db.row_count", 1.0)]),
        r#type: "sql".to_owned(),
        ..request.clone()
    };
    // A span with the v0.4-only fields (span links, meta_struct), as recent tracers send them.
    let linked = pb::Span {
        name: "flask.process".to_owned(),
        span_id: 0x0102_0304_0506_0708,
        parent_id: request.span_id,
        span_links: vec![pb::SpanLink {
            trace_id: 0x0a0b_0c0d_0e0f_1011,
            trace_id_high: 0x65a1_b2c3_0000_0000,
            span_id: 0x2122_2324_2526_2728,
            attributes: strings(&[("link.kind", "follows_from")]),
            tracestate: "dd=s:1;t.dm:-0".to_owned(),
            flags: 0x8000_0001,
        }],
        meta_struct: [("appsec".to_owned(), vec![0x81, 0xa1, b'a', 0x01])].into(),
        ..request.clone()
    };
    vec![vec![request, query, linked]]
}

/// Every string value in `value` with the key it is under, at any depth.
fn keyed_strings(value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                if let Value::String(text) = value {
                    out.push((key.clone(), text.clone()));
                } else {
                    keyed_strings(value, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| keyed_strings(item, out)),
        _ => {}
    }
}

/// A stable file name for a seed: the same input always lands in the same file.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn the_repository_seeds_every_target() {
        let dir = tempfile_dir();
        let count = write_all(&crate::project_root(), &dir).expect("seeds are written");
        for (target, _) in super::super::TARGETS {
            let seeds = std::fs::read_dir(dir.join(target)).map_or(0, |d| d.count());
            assert!(seeds >= 1, "no seed for the {target} target");
        }
        assert!(count >= 100, "only {count} seeds");
        std::fs::remove_dir_all(&dir).expect("the seeds folder is removed");
    }

    /// A folder of this test's own under the build directory (xtask has no tempfile dependency).
    fn tempfile_dir() -> PathBuf {
        crate::target_dir(&crate::project_root())
            .join("fuzz")
            .join(format!("seeds-test-{}", std::process::id()))
    }
}
