//! The protobuf `MetricPayload` of `/api/v2/series`, as the Agent (7.x) sends it, and its encoder.
//!
//! The messages are written by hand from the public schema (DataDog/agent-payload,
//! `proto/metrics/agent_payload.proto`, package `datadog.agentpayload`): no build script, no protoc.
//! The Agent also writes `Origin` fields 3 and 9, which the public schema marks reserved; prost skips
//! fields it does not know, so they decode fine and are dropped.

use prost::Message;

use super::{
    INTERVAL_RANGE, MetricBatch, MetricKind, Point, Series, interval, tag_device, tags_without_device,
};
use crate::WireError;

/// Decodes a protobuf `MetricPayload`; every series must be valid or the payload is refused.
pub fn decode_v2_protobuf(body: &[u8]) -> Result<MetricBatch, WireError> {
    let payload = MetricPayload::decode(body).map_err(|err| WireError::Protobuf {
        message: "MetricPayload",
        reason: err.to_string(),
    })?;
    let series = payload
        .series
        .into_iter()
        .enumerate()
        .map(|(index, series)| from_wire(index, series))
        .collect::<Result<_, _>>()?;
    Ok(MetricBatch { series })
}

/// Encodes a batch as the Agent does: the host and device as resources, the device tag left out.
pub fn encode_v2_protobuf(batch: &MetricBatch) -> Vec<u8> {
    MetricPayload {
        series: batch.series.iter().map(to_wire).collect(),
    }
    .encode_to_vec()
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct MetricPayload {
    #[prost(message, repeated, tag = "1")]
    pub(crate) series: Vec<MetricSeries>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct MetricSeries {
    /// At least `{type: "host", name: <hostname>}`; the Agent adds `{type: "device"}` for a device.
    #[prost(message, repeated, tag = "1")]
    pub(crate) resources: Vec<Resource>,
    #[prost(string, tag = "2")]
    pub(crate) metric: String,
    #[prost(string, repeated, tag = "3")]
    pub(crate) tags: Vec<String>,
    #[prost(message, repeated, tag = "4")]
    pub(crate) points: Vec<MetricPoint>,
    #[prost(enumeration = "MetricType", tag = "5")]
    pub(crate) r#type: i32,
    #[prost(string, tag = "6")]
    pub(crate) unit: String,
    #[prost(string, tag = "7")]
    pub(crate) source_type_name: String,
    /// Seconds.
    #[prost(int64, tag = "8")]
    pub(crate) interval: i64,
    #[prost(message, optional, tag = "9")]
    pub(crate) metadata: Option<Metadata>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct MetricPoint {
    #[prost(double, tag = "1")]
    pub(crate) value: f64,
    /// Epoch seconds.
    #[prost(int64, tag = "2")]
    pub(crate) timestamp: i64,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct Resource {
    #[prost(string, tag = "1")]
    pub(crate) r#type: String,
    #[prost(string, tag = "2")]
    pub(crate) name: String,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct Metadata {
    #[prost(message, optional, tag = "1")]
    pub(crate) origin: Option<Origin>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct Origin {
    #[prost(uint32, tag = "4")]
    pub(crate) origin_product: u32,
    #[prost(uint32, tag = "5")]
    pub(crate) origin_category: u32,
    #[prost(uint32, tag = "6")]
    pub(crate) origin_service: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub(crate) enum MetricType {
    Unspecified = 0,
    Count = 1,
    Rate = 2,
    Gauge = 3,
}

fn from_wire(index: usize, wire: MetricSeries) -> Result<Series, WireError> {
    let fail = |message: &str| WireError::invalid(format!("series[{index}]: {message}"));
    if wire.metric.is_empty() {
        return Err(fail(r#"missing "metric""#));
    }
    let kind = MetricKind::from_v2_code(i64::from(wire.r#type))
        .ok_or_else(|| fail(r#""type" must be 0 (unspecified), 1 (count), 2 (rate) or 3 (gauge)"#))?;
    let every =
        interval(wire.interval).map_err(|_| fail(&format!(r#""interval" must be {INTERVAL_RANGE}"#)))?;
    let (mut host, mut device) = (None, None);
    for resource in wire.resources {
        let slot = if resource.r#type.eq_ignore_ascii_case("host") {
            &mut host
        } else if resource.r#type.eq_ignore_ascii_case("device") {
            &mut device
        } else {
            continue;
        };
        if slot.is_none() && !resource.name.is_empty() {
            *slot = Some(resource.name);
        }
    }
    let mut tags = wire.tags;
    tag_device(&mut tags, device.as_deref());
    // JSON cannot carry NaN or infinities; a protobuf body can. Such a point has no usable value and is
    // skipped like a JSON `null` point, rather than refusing the whole payload.
    let points = wire
        .points
        .into_iter()
        .filter(|p| p.value.is_finite())
        .map(|p| Point {
            timestamp: p.timestamp,
            value: p.value,
        })
        .collect();
    let non_empty = |s: String| (!s.is_empty()).then_some(s);
    Ok(Series {
        metric: wire.metric,
        kind,
        host,
        tags,
        interval: every,
        unit: non_empty(wire.unit),
        source_type_name: non_empty(wire.source_type_name),
        device,
        points,
    })
}

fn to_wire(series: &Series) -> MetricSeries {
    let resource = |kind: &str, name: &Option<String>| {
        name.as_ref().map(|name| Resource {
            r#type: kind.to_owned(),
            name: name.clone(),
        })
    };
    MetricSeries {
        resources: [resource("host", &series.host), resource("device", &series.device)]
            .into_iter()
            .flatten()
            .collect(),
        metric: series.metric.clone(),
        tags: tags_without_device(series).cloned().collect(),
        points: series
            .points
            .iter()
            .map(|p| MetricPoint {
                value: p.value,
                timestamp: p.timestamp,
            })
            .collect(),
        r#type: series.kind.v2_code(),
        unit: series.unit.clone().unwrap_or_default(),
        source_type_name: series.source_type_name.clone().unwrap_or_default(),
        interval: series.interval.map_or(0, i64::from),
        metadata: None,
    }
}
