//! One payload to send: its endpoint, its compressed body and its `Content-Encoding`.

use ddlab_wire::Encoding;
use serde::{Deserialize, Serialize};

/// A payload ready for the intake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    pub endpoint: Endpoint,
    /// Compressed with `encoding`.
    pub body: Vec<u8>,
    pub encoding: Encoding,
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
}

impl Transaction {
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
        }
    }

    /// The Agent's name for the endpoint, as `status` lists successes by endpoint.
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::SeriesV1 => "series_v1",
            Endpoint::SeriesV2 => "series_v2",
            Endpoint::CheckRun => "check_run_v1",
            Endpoint::Intake => "intake",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Endpoint::SeriesV2 => "application/x-protobuf",
            Endpoint::SeriesV1 | Endpoint::CheckRun | Endpoint::Intake => "application/json",
        }
    }
}
