//! `status` rendering: a sample status in the Agent's text layout, the JSON round trip the CLI relies on,
//! and the dates.

use std::collections::BTreeMap;
use std::path::PathBuf;

use expect_test::expect;

use super::*;
use crate::collector::{
    CheckStats, CollectorStatus, ConfigProblem, ErrorReport, Loader, LoadingError, PythonStatus, RunCounts,
};
use crate::forwarder::{ApiKeyStatus, RetryQueueStats, TransactionStats};
use crate::trace::{EndpointStats, ReceiverStats, TracerKey, TracerStats};

/// A status with one check of each outcome, a loading error and some traffic.
pub(crate) fn sample() -> AgentStatus {
    let ok = CheckStats {
        state: RunState::Ok,
        total_runs: 12,
        metric_samples: RunCounts {
            last_run: 1,
            total: 12,
        },
        average_execution_ms: 3,
        last_run_at_ms: Some(1_715_420_141_000),
        last_successful_run_at_ms: Some(1_715_420_141_000),
        ..CheckStats::new(
            "my_metric",
            "my_metric:5ba864f3937b5bad",
            Some("1.0.0".into()),
            Loader::Python,
            "file:/etc/datadog-agent/conf.d/my_metric.yaml".into(),
            std::time::Duration::from_secs(45),
        )
    };
    let warned = CheckStats {
        state: RunState::Warning,
        total_runs: 2,
        total_warnings: 2,
        metric_samples: RunCounts {
            last_run: 80,
            total: 160,
        },
        service_checks: RunCounts {
            last_run: 1,
            total: 2,
        },
        warnings: vec!["Privileges error getting replication status (must grant REPLICATION CLIENT)".into()],
        metadata: BTreeMap::from([("flavor".to_owned(), "MariaDB".to_owned())]),
        last_run_at_ms: Some(1_715_420_141_000),
        last_successful_run_at_ms: Some(1_715_420_141_000),
        ..CheckStats::new(
            "mysql",
            "mysql:505a0dd620ccaa2a",
            None,
            Loader::Native,
            "file:/etc/datadog-agent/conf.d/mysql.d/conf.yaml".into(),
            std::time::Duration::from_secs(15),
        )
    };
    let failed = CheckStats {
        state: RunState::Error,
        total_runs: 3,
        total_errors: 3,
        total_timeouts: 1,
        total_crashes: 1,
        last_error: Some(ErrorReport {
            message: "boom".into(),
            traceback: "Traceback (most recent call last):\n  File \"raises.py\", line 7\nException: boom"
                .into(),
        }),
        last_run_at_ms: Some(1_715_420_141_000),
        ..CheckStats::new(
            "raises",
            "raises:0011223344556677",
            None,
            Loader::Python,
            "file:/etc/datadog-agent/conf.d/raises.yaml".into(),
            std::time::Duration::from_secs(15),
        )
    };
    AgentStatus {
        version: "7.71.0".into(),
        ddlab_version: "0.1.0".into(),
        pid: 4242,
        started_at: 1_715_420_000,
        now_ms: 1_715_420_150_000,
        hostname: "lab-host".into(),
        host_tags: vec!["env:lab".into(), "role:database".into()],
        log_level: "info".into(),
        python_version: Some("3.11.2".into()),
        paths: Paths {
            config_file: PathBuf::from("/etc/datadog-agent/datadog.yaml"),
            confd_path: PathBuf::from("/etc/datadog-agent/conf.d"),
            additional_checksd: PathBuf::from("/etc/datadog-agent/checks.d"),
            run_path: PathBuf::from("/etc/datadog-agent/run"),
            auth_token_file: PathBuf::from("/etc/datadog-agent/run/auth_token"),
            log_file: None,
        },
        config_warnings: vec!["/etc/datadog-agent/datadog.yaml:9: warning: unknown key 'colour' is ignored by ddlab-agent".into()],
        collector: CollectorStatus {
            running_checks: vec![ok, warned, failed],
            loading_errors: vec![LoadingError {
                check: "missing".into(),
                source: "file:/etc/datadog-agent/conf.d/missing.yaml".into(),
                check_id: "missing:8899aabbccddeeff".into(),
                error: "no check named 'missing': there is no installed integration datadog_checks.missing and no missing.py in checks.d (/etc/datadog-agent/checks.d)".into(),
                traceback: String::new(),
            }],
            config_errors: vec![ConfigProblem {
                path: PathBuf::from("/etc/datadog-agent/conf.d/broken.d/conf.yaml"),
                line: Some(3),
                column: Some(2),
                message: "did not find expected key".into(),
            }],
            config_warnings: Vec::new(),
            python: Some(PythonStatus {
                executable: PathBuf::from("/opt/lab/venv/bin/python"),
                version: "3.11.2".into(),
                base_version: Some("38.7.0".into()),
                base_error: None,
                pid: 4243,
                restarts: 1,
                isolated: vec![crate::python::IsolatedCheck {
                    check_id: "hangs:00112233aabbccdd".into(),
                    reason: "check hangs:00112233aabbccdd did not finish within 30 s".into(),
                }],
            }),
            runners: 4,
        },
        aggregator: AggregatorSection {
            checks_metric_samples: 172,
            dogstatsd_metric_samples: 30,
            series_flushed: 400,
            service_checks_flushed: 40,
            flushes: 10,
            last_flush_at: Some(1_715_420_145),
            check_contexts: 90,
            dogstatsd_contexts: 3,
            ..AggregatorSection::default()
        },
        forwarder: ForwarderStats {
            endpoint: "http://127.0.0.1:8480".into(),
            apm_endpoint: "http://127.0.0.1:8480".into(),
            api_key: ApiKeyStatus {
                state: ApiKeyState::Valid,
                message: None,
                ending: Some("bcdef".into()),
            },
            transactions: TransactionStats {
                success: 30,
                success_by_endpoint: BTreeMap::from([
                    ("check_run_v1".to_owned(), 10),
                    ("intake".to_owned(), 10),
                    ("series_v2".to_owned(), 10),
                ]),
                success_bytes: 12_345,
                errors: 2,
                http_errors_by_code: BTreeMap::from([(503, 2)]),
                retried: 2,
                dropped_retry_queue_full: 1,
                dropped_retry_queue_full_bytes: 900,
                dropped_by_endpoint: BTreeMap::from([("series_v2".to_owned(), 1)]),
                ..TransactionStats::default()
            },
            retry_queue: RetryQueueStats {
                payloads: 0,
                bytes: 0,
                max_bytes: 15_728_640,
            },
            last_error: Some("http://127.0.0.1:8480/api/v2/series answered 503: busy".into()),
        },
        host_metadata: HostMetadataSection {
            sent: 1,
            last_sent_at: Some(1_715_420_001),
            ip: Some("10.0.2.15".into()),
        },
        dogstatsd: DogStatsdSection {
            enabled: true,
            udp: Some("127.0.0.1:8125".into()),
            packets: 25,
            bytes: 900,
            metric_samples: 30,
            parse_errors: 1,
            last_parse_error: Some("line 1: no type".into()),
            udp_kernel_drops: 7,
            ..DogStatsdSection::default()
        },
        apm: apm_sample(),
    }
}

/// A running receiver that took ddtrace's traffic and refused one malformed payload.
fn apm_sample() -> ApmSection {
    let mut stats = ReceiverStats::default();
    stats.tracers.insert(
        TracerKey {
            lang: "python".into(),
            lang_version: "3.11.7".into(),
            interpreter: "CPython".into(),
            tracer_version: "4.16.0".into(),
            endpoint: "/v0.5/traces".into(),
        },
        TracerStats {
            payloads: 3,
            traces: 11,
            spans: 33,
            bytes: 4096,
            services: BTreeMap::from([(
                "flask".to_owned(),
                crate::trace::ServiceCounts {
                    traces: 11,
                    spans: 33,
                },
            )]),
        },
    );
    stats.endpoints.insert(
        "/v0.5/traces".into(),
        EndpointStats {
            requests: 4,
            payloads_accepted: 3,
            bytes: 4096,
            traces: 11,
            spans: 33,
            decoding_errors: 1,
            traces_dropped: 2,
            ..EndpointStats::default()
        },
    );
    stats.traces_received = 11;
    stats.spans_received = 33;
    stats.spans_kept = 33;
    stats.trace_payloads_sent = 2;
    stats.traces_sent = 11;
    stats.spans_sent = 33;
    stats.trace_bytes_sent = 1500;
    stats.stats_payloads_sent = 1;
    stats.stats_buckets_sent = 2;
    stats.stats_bytes_sent = 300;
    stats.last_error = Some("/v0.5/traces: unexpected end of input".into());
    ApmSection {
        enabled: true,
        running: true,
        receiver: Some("127.0.0.1:8126".into()),
        endpoint: "http://127.0.0.1:8480".into(),
        default_env: "lab".into(),
        rate_by_service: crate::trace::rate_by_service(),
        ..ApmSection::default()
    }
    .with_stats(&stats)
}

#[test]
fn apm_when_not_running_says_why() {
    let mut out = String::new();
    apm(
        &mut out,
        &ApmSection {
            enabled: true,
            error: Some("apm_config.apm_dd_url is https://trace.agent.datadoghq.com, but ...".into()),
            ..ApmSection::default()
        },
    );
    expect![[r#"
        =========
        APM Agent
        =========

          Status: Not running
          Error: apm_config.apm_dd_url is https://trace.agent.datadoghq.com, but ...

    "#]]
    .assert_eq(&out);
    let mut out = String::new();
    apm(&mut out, &ApmSection::default());
    expect![[r#"
        =========
        APM Agent
        =========

          Not enabled (apm_config.enabled: false, or receiver_port: 0 without receiver_socket)

    "#]]
    .assert_eq(&out);
}

#[test]
fn text_follows_the_agents_layout() {
    expect![[r#"
        ===============
        Agent (v7.71.0)
        ===============

          Status date: 2024-05-11 09:35:50 UTC (1715420150000)
          Agent start: 2024-05-11 09:33:20 UTC (1715420000000)
          Pid: 4242
          Python Version: 3.11.2
          Agent flavor: agent (ddlab-agent 0.1.0)
          Log Level: info

          Paths
          =====
            Config File: /etc/datadog-agent/datadog.yaml
            conf.d: /etc/datadog-agent/conf.d
            checks.d: /etc/datadog-agent/checks.d
            Run Path: /etc/datadog-agent/run
            Auth Token: /etc/datadog-agent/run/auth_token

          Hostnames
          =========
            hostname: lab-host
            host tags: env:lab, role:database

          Config Warnings
          ===============
            /etc/datadog-agent/datadog.yaml:9: warning: unknown key 'colour' is ignored by ddlab-agent

        =========
        Collector
        =========

          Running Checks
          ==============

            my_metric (1.0.0)
            -----------------
              Instance ID: my_metric:5ba864f3937b5bad [OK]
              Configuration Source: file:/etc/datadog-agent/conf.d/my_metric.yaml
              Total Runs: 12
              Metric Samples: Last Run: 1, Total: 12
              Events: Last Run: 0, Total: 0
              Service Checks: Last Run: 0, Total: 0
              Average Execution Time : 3ms
              Last Execution Date : 2024-05-11 09:35:41 UTC (1715420141000)
              Last Successful Execution Date : 2024-05-11 09:35:41 UTC (1715420141000)

            mysql
            -----
              Instance ID: mysql:505a0dd620ccaa2a [WARNING]
              Configuration Source: file:/etc/datadog-agent/conf.d/mysql.d/conf.yaml
              Total Runs: 2
              Metric Samples: Last Run: 80, Total: 160
              Events: Last Run: 0, Total: 0
              Service Checks: Last Run: 1, Total: 2
              Average Execution Time : 0ms
              Last Execution Date : 2024-05-11 09:35:41 UTC (1715420141000)
              Last Successful Execution Date : 2024-05-11 09:35:41 UTC (1715420141000)
              metadata:
                flavor: MariaDB
              Warning: Privileges error getting replication status (must grant REPLICATION CLIENT)

            raises
            ------
              Instance ID: raises:0011223344556677 [ERROR]
              Configuration Source: file:/etc/datadog-agent/conf.d/raises.yaml
              Total Runs: 3
              Metric Samples: Last Run: 0, Total: 0
              Events: Last Run: 0, Total: 0
              Service Checks: Last Run: 0, Total: 0
              Average Execution Time : 0ms
              Last Execution Date : 2024-05-11 09:35:41 UTC (1715420141000)
              Last Successful Execution Date : never
              Timeouts: 1, Crashes (process restarted): 1
              Error: boom
              Traceback (most recent call last):
                File "raises.py", line 7
              Exception: boom

          Config Errors
          =============
            /etc/datadog-agent/conf.d/broken.d/conf.yaml:3:2: did not find expected key

          Loading Errors
          ==============
            missing
            -------
              Instance ID: missing:8899aabbccddeeff
              Configuration Source: file:/etc/datadog-agent/conf.d/missing.yaml
              Error: no check named 'missing': there is no installed integration datadog_checks.missing and no missing.py in checks.d (/etc/datadog-agent/checks.d)

          Python Check Host
          =================
            Interpreter: /opt/lab/venv/bin/python (3.11.2)
            datadog-checks-base: 38.7.0
            Pid: 4243, Restarts: 1
            Isolated in a process of its own: hangs:00112233aabbccdd (check hangs:00112233aabbccdd did not finish within 30 s)

        =========
        Forwarder
        =========

          Transactions
          ============
            Endpoint: http://127.0.0.1:8480
            check_run_v1: 10
            intake: 10
            series_v2: 10
            Success: 30 (12345 bytes)
            Errors (retried): 2
            Retried: 2
            Dropped (HTTP 4xx): 0
            Dropped (retry queue full): 1 (900 bytes)
            Dropped (on shutdown): 0
            Dropped by endpoint: series_v2: 1
            HTTP Errors: 503: 2
            Retry Queue: 0 payloads, 0 of 15728640 bytes
            Last Error: http://127.0.0.1:8480/api/v2/series answered 503: busy

          API Keys status
          ===============
            API key ending with bcdef: API Key valid

          Host Metadata
          =============
            Payloads Sent: 1
            Last Sent: 2024-05-11 09:33:21 UTC (1715420001000)
            IP Address: 10.0.2.15

        ==========
        Aggregator
        ==========

          Checks Metric Sample: 172
          Dogstatsd Metric Sample: 30
          Events Flushed: 0
          Number Of Flushes: 10
          Series Flushed: 400
          Service Checks Flushed: 40
          Contexts: 90 checks, 3 DogStatsD
          Last Flush: 2024-05-11 09:35:45 UTC (1715420145000)

        =========
        DogStatsD
        =========

          Listening on UDP 127.0.0.1:8125
          Packets: 25
          Bytes: 900
          Metric Samples: 30
          Event Packets: 0
          Service Check Packets: 0
          Parse Errors: 1
          Last Parse Error: line 1: no type
          Ignored Fields: 0
          Receive Errors: 0
          UDP Packets Dropped By The Kernel (receive buffer full): 7

        =========
        APM Agent
        =========

          Status: Running
          Receiver: 127.0.0.1:8126
          Endpoint: http://127.0.0.1:8480
          Default env: lab

          Receiver (since start)
          ======================
            From python 3.11.7 (CPython), client 4.16.0, on /v0.5/traces
              Traces received: 11 (4096 bytes, 3 payloads)
              Spans received: 33
              Service 'flask': 11 traces, 33 spans
            WARNING: payloads refused on /v0.5/traces: 1 malformed (400), 0 too large (413), 0 refused (429), 2 traces dropped
            Traces after normalisation: 11 (33 spans), 33 spans kept
            Traces dropped: 0 sampled out, 0 empty, 0 trace id 0, 0 span id 0, 0 foreign span
            Spans repaired: 0
            Default priority sampling rate: 100.0%

          Writer (since start)
          ====================
            Traces: 2 payloads, 11 traces, 33 spans, 1500 bytes
            Stats: 1 payloads, 2 stats buckets, 300 bytes
            Last Error: /v0.5/traces: unexpected end of input

    "#]].assert_eq(&render(&sample()));
}

#[test]
fn json_round_trips() {
    let status = sample();
    let json = serde_json::to_string(&status).unwrap();
    let back: AgentStatus = serde_json::from_str(&json).unwrap();
    assert_eq!(back, status);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["collector"]["running_checks"][1]["state"], "WARNING");
    assert_eq!(value["collector"]["running_checks"][0]["loader"], "python");
    assert_eq!(value["forwarder"]["api_key"]["state"], "valid");
    assert_eq!(value["apm"]["tracers"][0]["lang"], "python");
    assert_eq!(value["apm"]["tracers"][0]["services"]["flask"]["spans"], 33);
    assert_eq!(value["apm"]["rate_by_service"]["service:,env:"], 1.0);
}

#[test]
fn health_output() {
    let health = Health {
        healthy: vec!["aggregator".into(), "collector-queue".into()],
        unhealthy: vec!["forwarder: API key invalid".into()],
    };
    assert_eq!(
        health.render(),
        "Agent health: FAIL\n=== 2 healthy components ===\naggregator, collector-queue\n\
         === 1 unhealthy components ===\nforwarder: API key invalid\n"
    );
    assert!(!health.is_healthy());
}

#[test]
fn dates_like_the_agent() {
    assert_eq!(
        date_ms(1_715_420_141_000),
        "2024-05-11 09:35:41 UTC (1715420141000)"
    );
    assert_eq!(date_ms(0), "1970-01-01 00:00:00 UTC (0)");
    assert_eq!(date_ms(951_825_600_000), "2000-02-29 12:00:00 UTC (951825600000)");
}
