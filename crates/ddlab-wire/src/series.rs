//! Metric series: every body the metrics intake accepts, decoded into one [`MetricBatch`], and the
//! agent's encoders.
//!
//! | route | body | decoder |
//! | --- | --- | --- |
//! | `POST /api/v1/series` | JSON, `points: [[ts, value]]`, `type: "gauge"` | [`decode_v1_json`] |
//! | `POST /api/v2/series` | JSON, `points: [{timestamp, value}]`, `type: 3`, `resources` | [`decode_v2_json`] |
//! | `POST /api/v2/series` | protobuf `MetricPayload` (`Content-Type: application/x-protobuf`) | [`decode_v2_protobuf`] |
//!
//! Decoding checks types and shapes only; Datadog's renaming rules are a separate step
//! ([`crate::normalize::series`]), so the backend can report what it changed.

mod json;
mod proto;

use crate::WireError;

pub use proto::{decode_v2_protobuf, encode_v2_protobuf};

/// `POST /api/v1/series`: the largest body accepted (3.2 MB).
pub const V1_BODY_LIMIT: usize = 3_200_000;
/// `POST /api/v1/series`: a compressed body must inflate to less than 62 MiB.
pub const V1_DECOMPRESSED_LIMIT: usize = 62_914_560;
/// `POST /api/v2/series`: the largest body accepted (500 KB).
pub const V2_BODY_LIMIT: usize = 512_000;
/// `POST /api/v2/series`: a compressed body must inflate to less than 5 MiB.
pub const V2_DECOMPRESSED_LIMIT: usize = 5_242_880;

/// The series of one intake request, in the order they were sent.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricBatch {
    pub series: Vec<Series>,
}

/// One metric context (name, host, tags) with its points.
///
/// **Invariant:** when `device` is set, `tags` also holds `device:<device>`, because queries filter on the
/// device as a tag; the encoders send it once, the way the Agent does.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub metric: String,
    pub kind: MetricKind,
    /// From v1 `host`, or the v2 resource of type `host`. Never empty.
    pub host: Option<String>,
    pub tags: Vec<String>,
    /// Seconds between samples, meaningful for counts and rates. A wire value of 0 is `None`.
    pub interval: Option<u32>,
    pub unit: Option<String>,
    pub source_type_name: Option<String>,
    /// From v1 `device` (or `device_name`), or the v2 resource of type `device`. Never empty.
    pub device: Option<String>,
    pub points: Vec<Point>,
}

/// The metric type a series was submitted with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MetricKind {
    /// v1 `""` or no type, v2 `0`: Datadog treats it as a gauge.
    #[default]
    Unspecified,
    Count,
    Rate,
    Gauge,
}

/// One sample: epoch seconds and a finite value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub timestamp: i64,
    pub value: f64,
}

/// Which of the three series bodies a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeriesFormat {
    V1Json,
    V2Json,
    V2Protobuf,
}

impl MetricKind {
    /// The v1 `type` string; `None` for unspecified, which v1 writes by omitting the field.
    pub fn v1_name(self) -> Option<&'static str> {
        match self {
            MetricKind::Unspecified => None,
            MetricKind::Count => Some("count"),
            MetricKind::Rate => Some("rate"),
            MetricKind::Gauge => Some("gauge"),
        }
    }

    /// Reads a v1 `type`; the empty string is unspecified.
    pub fn from_v1_name(name: &str) -> Option<Self> {
        match name {
            "" => Some(MetricKind::Unspecified),
            "count" => Some(MetricKind::Count),
            "rate" => Some(MetricKind::Rate),
            "gauge" => Some(MetricKind::Gauge),
            _ => None,
        }
    }

    /// The v2 `type` code (`MetricIntakeType`, protobuf `MetricType`).
    pub fn v2_code(self) -> i32 {
        match self {
            MetricKind::Unspecified => 0,
            MetricKind::Count => 1,
            MetricKind::Rate => 2,
            MetricKind::Gauge => 3,
        }
    }

    /// Reads a v2 `type` code.
    pub fn from_v2_code(code: i64) -> Option<Self> {
        match code {
            0 => Some(MetricKind::Unspecified),
            1 => Some(MetricKind::Count),
            2 => Some(MetricKind::Rate),
            3 => Some(MetricKind::Gauge),
            _ => None,
        }
    }
}

impl SeriesFormat {
    /// The format of a `POST /api/v2/series` body, told by its `Content-Type`: the Agent sends
    /// `application/x-protobuf`, the API clients `application/json`.
    pub fn v2(content_type: Option<&str>) -> Self {
        let protobuf = content_type.is_some_and(|ct| ct.to_ascii_lowercase().contains("protobuf"));
        if protobuf {
            SeriesFormat::V2Protobuf
        } else {
            SeriesFormat::V2Json
        }
    }

    /// The largest (compressed) body this route accepts.
    pub fn body_limit(self) -> usize {
        match self {
            SeriesFormat::V1Json => V1_BODY_LIMIT,
            SeriesFormat::V2Json | SeriesFormat::V2Protobuf => V2_BODY_LIMIT,
        }
    }

    /// The limit to pass to [`crate::compression::decompress`] for this route.
    pub fn decompressed_limit(self) -> usize {
        match self {
            SeriesFormat::V1Json => V1_DECOMPRESSED_LIMIT,
            SeriesFormat::V2Json | SeriesFormat::V2Protobuf => V2_DECOMPRESSED_LIMIT,
        }
    }
}

/// Decodes a (decompressed) body of the given format.
pub fn decode(format: SeriesFormat, body: &[u8]) -> Result<MetricBatch, WireError> {
    match format {
        SeriesFormat::V1Json => decode_v1_json(body),
        SeriesFormat::V2Json => decode_v2_json(body),
        SeriesFormat::V2Protobuf => decode_v2_protobuf(body),
    }
}

/// Decodes a `POST /api/v1/series` JSON body.
pub fn decode_v1_json(body: &[u8]) -> Result<MetricBatch, WireError> {
    json::decode(json::Version::V1, body)
}

/// Decodes a `POST /api/v2/series` JSON body.
pub fn decode_v2_json(body: &[u8]) -> Result<MetricBatch, WireError> {
    json::decode(json::Version::V2, body)
}

/// Encodes a batch as a `POST /api/v1/series` JSON body, for agents configured with
/// `use_v2_api.series: false`.
pub fn encode_v1_json(batch: &MetricBatch) -> Vec<u8> {
    json::encode_v1(batch)
}

impl Series {
    /// A series with no tags, host or points, for building batches in code.
    pub fn new(metric: impl Into<String>, kind: MetricKind) -> Self {
        Series {
            metric: metric.into(),
            kind,
            host: None,
            tags: Vec::new(),
            interval: None,
            unit: None,
            source_type_name: None,
            device: None,
            points: Vec::new(),
        }
    }
}

/// Reads a wire interval: 0 (the protobuf default, and what the Agent sends for gauges) is no interval.
fn interval(seconds: i64) -> Result<Option<u32>, &'static str> {
    match u32::try_from(seconds) {
        Ok(0) => Ok(None),
        Ok(s) => Ok(Some(s)),
        Err(_) => Err(INTERVAL_RANGE),
    }
}

/// Keeps the [`Series`] invariant: the device is also a `device:` tag.
fn tag_device(tags: &mut Vec<String>, device: Option<&str>) {
    if let Some(device) = device {
        let tag = format!("device:{device}");
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
}

/// The tags to send beside a device that travels on its own (v1 `device`, v2 resource).
fn tags_without_device<'a>(series: &'a Series) -> impl Iterator<Item = &'a String> + 'a {
    let device_tag = series.device.as_ref().map(|d| format!("device:{d}"));
    series
        .tags
        .iter()
        .filter(move |tag| Some(*tag) != device_tag.as_ref())
}

const INTERVAL_RANGE: &str = "an integer between 0 and 4294967295";

#[cfg(test)]
mod tests;
