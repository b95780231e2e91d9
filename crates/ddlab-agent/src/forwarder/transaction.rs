//! One payload to send: its endpoint, its compressed body, its `Content-Encoding` and any header of its
//! own (the trace writer's `X-Datadog-Reported-Languages`).

use ddlab_wire::Encoding;
use serde::{Deserialize, Serialize};

use crate::trace::{ApmPayload, ApmPayloadKind};

/// A payload ready for the intake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    pub endpoint: Endpoint,
    /// Compressed with `encoding`.
    pub body: Vec<u8>,
    pub encoding: Encoding,
    /// Headers sent besides the ones every request carries and the endpoint's `Content-Type`.
    pub headers: Vec<(&'static str, String)>,
}

/// Which intake a route belongs to: `dd_url`, or the trace intake at `apm_config.apm_dd_url`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intake {
    Metrics,
    Apm,
}

/// The intake routes the core forwarder posts to (`comp/forwarder/defaultforwarder/endpoints`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Endpoint {
    /// `POST /api/v1/series`, JSON (`use_v2_api.series: false`).
    SeriesV1,
    /// `POST /api/v2/series`, protobuf `MetricPayload`.
    SeriesV2,
    /// `POST /api/v1/check_run`, JSON.
    CheckRun,
    /// `POST /intake/`: host metadata and events, JSON.
    Intake,
    /// `POST /api/v0.2/traces` under `apm_dd_url`: protobuf `AgentPayload`.
    ApmTraces,
    /// `POST /api/v0.2/stats` under `apm_dd_url`: msgpack `StatsPayload`.
    ApmStats,
}

impl Transaction {
    /// A payload without headers of its own.
    pub fn new(endpoint: Endpoint, body: Vec<u8>, encoding: Encoding) -> Self {
        Transaction {
            endpoint,
            body,
            encoding,
            headers: Vec::new(),
        }
    }

    /// The trace receiver's payload as a transaction for the trace intake: its `Content-Encoding` read
    /// into `encoding` (a payload naming no known encoding is sent as it says, uncompressed), its other
    /// headers kept, its `Content-Type` the endpoint's.
    pub fn apm(payload: ApmPayload) -> Self {
        let encoding =
            Encoding::from_header(payload.header("Content-Encoding")).unwrap_or(Encoding::Identity);
        let endpoint = match payload.kind {
            ApmPayloadKind::Traces => Endpoint::ApmTraces,
            ApmPayloadKind::Stats => Endpoint::ApmStats,
        };
        let headers = payload
            .headers
            .into_iter()
            .filter(|(name, _)| {
                !name.eq_ignore_ascii_case("Content-Encoding") && !name.eq_ignore_ascii_case("Content-Type")
            })
            .collect();
        Transaction {
            endpoint,
            body: payload.body,
            encoding,
            headers,
        }
    }

    /// The size the retry queue counts: the body as sent.
    pub fn size(&self) -> usize {
        self.body.len()
    }
}

impl Endpoint {
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::SeriesV1 => "/api/v1/series",
            Endpoint::SeriesV2 => "/api/v2/series",
            Endpoint::CheckRun => "/api/v1/check_run",
            Endpoint::Intake => "/intake/",
            Endpoint::ApmTraces => "/api/v0.2/traces",
            Endpoint::ApmStats => "/api/v0.2/stats",
        }
    }

    /// The intake whose base URL the path goes under.
    pub fn intake(self) -> Intake {
        match self {
            Endpoint::ApmTraces | Endpoint::ApmStats => Intake::Apm,
            Endpoint::SeriesV1 | Endpoint::SeriesV2 | Endpoint::CheckRun | Endpoint::Intake => {
                Intake::Metrics
            }
        }
    }

    /// The Agent's name for the endpoint, as `status` lists successes by endpoint.
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::SeriesV1 => "series_v1",
            Endpoint::SeriesV2 => "series_v2",
            Endpoint::CheckRun => "check_run_v1",
            Endpoint::Intake => "intake",
            Endpoint::ApmTraces => "apm_traces",
            Endpoint::ApmStats => "apm_stats",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Endpoint::SeriesV2 | Endpoint::ApmTraces => "application/x-protobuf",
            Endpoint::ApmStats => "application/msgpack",
            Endpoint::SeriesV1 | Endpoint::CheckRun | Endpoint::Intake => "application/json",
        }
    }
}
