//! The JSON bodies of `/api/v1/series` and `/api/v2/series`, streamed through serde visitors so a
//! 62 MiB body is never held as a tree; every error names the series and point it is about.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::{
    INTERVAL_RANGE, MetricBatch, MetricKind, Point, Series, interval, tag_device, tags_without_device,
};
use crate::WireError;
use crate::json::{self as wire_json, BadTimestamp, Scalar, StringList, at, reject_other_types};

/// The two JSON dialects: they share most fields and differ in `type`, `points`, host and device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Version {
    V1,
    V2,
}

pub(super) fn decode(version: Version, body: &[u8]) -> Result<MetricBatch, WireError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let series = Payload { version }
        .deserialize(&mut deserializer)
        .map_err(|err| wire_json::error(&err))?;
    deserializer.end().map_err(|err| wire_json::error(&err))?;
    Ok(MetricBatch { series })
}

pub(super) fn encode_v1(batch: &MetricBatch) -> Vec<u8> {
    let series = batch.series.iter().map(|series| {
        let mut object = Map::new();
        object.insert("metric".into(), series.metric.clone().into());
        let points = series
            .points
            .iter()
            .map(|p| Value::Array(vec![p.timestamp.into(), p.value.into()]));
        object.insert("points".into(), Value::Array(points.collect()));
        let tags = tags_without_device(series).cloned().map(Value::String);
        object.insert("tags".into(), Value::Array(tags.collect()));
        let optional = [
            ("host", series.host.clone().map(Value::from)),
            ("device", series.device.clone().map(Value::from)),
            ("type", series.kind.v1_name().map(Value::from)),
            ("interval", series.interval.map(Value::from)),
            (
                "source_type_name",
                series.source_type_name.clone().map(Value::from),
            ),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                object.insert(key.into(), value);
            }
        }
        Value::Object(object)
    });
    let mut payload = Map::new();
    payload.insert("series".into(), Value::Array(series.collect()));
    Value::Object(payload).to_string().into_bytes()
}

/// The top-level object: only `series` is read.
struct Payload {
    version: Version,
}

impl<'de> DeserializeSeed<'de> for Payload {
    type Value = Vec<Series>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<Series>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Payload {
    type Value = Vec<Series>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"a JSON object with a "series" list"#)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<Series>, A::Error> {
        let mut series = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "series" {
                series = Some(map.next_value_seed(SeriesList {
                    version: self.version,
                })?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        series.ok_or_else(|| de::Error::custom(r#"missing "series""#))
    }

    reject_other_types!(
        |this| r#"the body must be a JSON object with a "series" list"#;
        bool, number, str, unit, seq
    );
}

struct SeriesList {
    version: Version,
}

impl<'de> DeserializeSeed<'de> for SeriesList {
    type Value = Vec<Series>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<Series>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for SeriesList {
    type Value = Vec<Series>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of series")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Series>, A::Error> {
        let mut out = Vec::new();
        while let Some(series) = seq.next_element_seed(SeriesSeed {
            version: self.version,
            index: out.len(),
        })? {
            out.push(series);
        }
        Ok(out)
    }

    reject_other_types!(|this| r#""series" must be a list"#; bool, number, str, unit, map);
}

/// One element of `series`.
struct SeriesSeed {
    version: Version,
    index: usize,
}

impl<'de> DeserializeSeed<'de> for SeriesSeed {
    type Value = Series;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Series, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for SeriesSeed {
    type Value = Series;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a series object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Series, A::Error> {
        let path = format!("series[{}]", self.index);
        let fail = |message: &str| <A::Error as de::Error>::custom(at(&path, message));
        let mut metric = None;
        let mut kind = MetricKind::Unspecified;
        let (mut host, mut device, mut device_name) = (None, None, None);
        let mut tags = Vec::new();
        let mut every = None;
        let (mut unit, mut source_type_name) = (None, None);
        let mut points = None;
        while let Some(key) = map.next_key::<String>()? {
            match (key.as_str(), self.version) {
                ("metric", _) => metric = string(&mut map, &path, "metric")?,
                ("type", Version::V1) => {
                    kind = match string(&mut map, &path, "type")? {
                        None => MetricKind::Unspecified,
                        Some(name) => MetricKind::from_v1_name(&name)
                            .ok_or_else(|| fail(r#""type" must be gauge, count or rate"#))?,
                    }
                }
                ("type", Version::V2) => {
                    let code = map.next_value::<Scalar>()?.lit().integer();
                    kind = match code {
                        Ok(None) => Some(MetricKind::Unspecified),
                        Ok(Some(code)) => MetricKind::from_v2_code(code),
                        Err(_) => None,
                    }
                    .ok_or_else(|| {
                        fail(r#""type" must be 0 (unspecified), 1 (count), 2 (rate) or 3 (gauge)"#)
                    })?;
                }
                ("points", version) => {
                    points = Some(map.next_value_seed(Points {
                        version,
                        series: self.index,
                    })?);
                }
                ("host", Version::V1) => host = string(&mut map, &path, "host")?,
                ("device", Version::V1) => device = string(&mut map, &path, "device")?,
                ("device_name", Version::V1) => device_name = string(&mut map, &path, "device_name")?,
                ("resources", Version::V2) => {
                    let resources = map.next_value_seed(Resources { series: self.index })?;
                    (host, device) = (resources.host, resources.device);
                }
                ("tags", _) => {
                    tags = map.next_value_seed(StringList {
                        parent: &path,
                        key: "tags",
                    })?;
                }
                ("interval", _) => {
                    let range = || fail(&format!(r#""interval" must be {INTERVAL_RANGE}"#));
                    every = match map.next_value::<Scalar>()?.lit().integer() {
                        Ok(None) => None,
                        Ok(Some(seconds)) => interval(seconds).map_err(|_| range())?,
                        Err(_) => return Err(range()),
                    };
                }
                ("unit", Version::V2) => unit = string(&mut map, &path, "unit")?,
                ("source_type_name", _) => source_type_name = string(&mut map, &path, "source_type_name")?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let metric = metric.ok_or_else(|| fail(r#"missing "metric""#))?;
        if metric.is_empty() {
            return Err(fail(r#""metric" must not be empty"#));
        }
        let points = points.ok_or_else(|| fail(r#"missing "points""#))?;
        let device = device.or(device_name).filter(|d| !d.is_empty());
        tag_device(&mut tags, device.as_deref());
        Ok(Series {
            metric,
            kind,
            host: host.filter(|h| !h.is_empty()),
            tags,
            interval: every,
            unit: unit.filter(|u| !u.is_empty()),
            source_type_name: source_type_name.filter(|s| !s.is_empty()),
            device,
            points,
        })
    }

    reject_other_types!(|this| format!("series[{}]: must be an object", this.index); bool, number, str, unit, seq);
}

/// Reads the next value as an optional string field of `path`.
fn string<'de, A: MapAccess<'de>>(map: &mut A, path: &str, key: &str) -> Result<Option<String>, A::Error> {
    map.next_value::<Scalar>()?
        .into_string(&format!("{key:?}"), path)
        .map_err(de::Error::custom)
}

struct Points {
    version: Version,
    series: usize,
}

impl<'de> DeserializeSeed<'de> for Points {
    type Value = Vec<Point>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<Point>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Points {
    type Value = Vec<Point>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of points")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Point>, A::Error> {
        let mut out = Vec::new();
        let mut index = 0;
        while let Some(point) = seq.next_element_seed(PointSeed {
            version: self.version,
            series: self.series,
            index,
        })? {
            out.extend(point);
            index += 1;
        }
        Ok(out)
    }

    reject_other_types!(
        |this| format!(r#"series[{}]: "points" must be a list"#, this.series);
        bool, number, str, unit, map
    );
}

/// One element of `points`: `[timestamp, value]` in v1, `{"timestamp", "value"}` in v2. A point without a
/// value (`null`, `[ts, null]`, no `value`) is skipped, as Datadog skips it.
struct PointSeed {
    version: Version,
    series: usize,
    index: usize,
}

impl PointSeed {
    fn path(&self) -> String {
        format!("series[{}].points[{}]", self.series, self.index)
    }

    fn shape(&self) -> String {
        let shape = match self.version {
            Version::V1 => "a point must be [timestamp, value]",
            Version::V2 => r#"a point must be an object with "timestamp" and "value""#,
        };
        at(&self.path(), shape)
    }

    /// The point from its two leaves; `quoted` names them as object keys (v2) rather than positions (v1).
    fn point(&self, timestamp: &Scalar, value: &Scalar, quoted: bool) -> Result<Option<Point>, String> {
        let name = |field: &str| {
            if quoted {
                format!("{field:?}")
            } else {
                field.to_owned()
            }
        };
        let timestamp = match timestamp.lit().timestamp() {
            Ok(Some(timestamp)) => timestamp,
            Ok(None) | Err(BadTimestamp::NotANumber) => {
                return Err(at(
                    &self.path(),
                    format!("{} must be a number", name("timestamp")),
                ));
            }
            Err(BadTimestamp::OutOfRange) => {
                return Err(at(&self.path(), format!("{} is out of range", name("timestamp"))));
            }
        };
        let value = value
            .lit()
            .number()
            .map_err(|_| at(&self.path(), format!("{} must be a number", name("value"))))?;
        Ok(value.map(|value| Point { timestamp, value }))
    }
}

impl<'de> DeserializeSeed<'de> for PointSeed {
    type Value = Option<Point>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<Point>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PointSeed {
    type Value = Option<Point>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a point")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<Point>, E> {
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<Point>, A::Error> {
        if self.version != Version::V1 {
            return Err(de::Error::custom(self.shape()));
        }
        let timestamp = seq.next_element::<Scalar>()?;
        let value = seq.next_element::<Scalar>()?;
        let extra = seq.next_element::<IgnoredAny>()?;
        match (timestamp, value, extra) {
            (Some(timestamp), Some(value), None) => {
                self.point(&timestamp, &value, false).map_err(de::Error::custom)
            }
            _ => Err(de::Error::custom(self.shape())),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Point>, A::Error> {
        if self.version != Version::V2 {
            // Drain nothing: the error ends the decode.
            return Err(de::Error::custom(self.shape()));
        }
        let (mut timestamp, mut value) = (None, Scalar::Null);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "timestamp" => timestamp = Some(map.next_value::<Scalar>()?),
                "value" => value = map.next_value::<Scalar>()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let timestamp =
            timestamp.ok_or_else(|| de::Error::custom(at(&self.path(), r#"missing "timestamp""#)))?;
        self.point(&timestamp, &value, true).map_err(de::Error::custom)
    }

    reject_other_types!(|this| this.shape(); bool, number, str);
}

/// The v2 `resources`: the host and device a series belongs to. Other resource types are read (they
/// must be well-formed) and ignored.
struct Resources {
    series: usize,
}

#[derive(Default)]
struct Found {
    host: Option<String>,
    device: Option<String>,
}

impl<'de> DeserializeSeed<'de> for Resources {
    type Value = Found;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Found, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Resources {
    type Value = Found;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of resources")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Found, E> {
        Ok(Found::default())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Found, A::Error> {
        let mut found = Found::default();
        let mut index = 0;
        while let Some((kind, name)) = seq.next_element_seed(Resource {
            series: self.series,
            index,
        })? {
            let slot = if kind.eq_ignore_ascii_case("host") {
                &mut found.host
            } else if kind.eq_ignore_ascii_case("device") {
                &mut found.device
            } else {
                index += 1;
                continue;
            };
            if slot.is_none() && !name.is_empty() {
                *slot = Some(name);
            }
            index += 1;
        }
        Ok(found)
    }

    reject_other_types!(
        |this| format!(r#"series[{}]: "resources" must be a list"#, this.series);
        bool, number, str, map
    );
}

struct Resource {
    series: usize,
    index: usize,
}

impl<'de> DeserializeSeed<'de> for Resource {
    type Value = (String, String);

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(String, String), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Resource {
    type Value = (String, String);

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a resource")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(String, String), A::Error> {
        let path = format!("series[{}].resources[{}]", self.series, self.index);
        let (mut kind, mut name) = (None, None);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "type" => kind = string(&mut map, &path, "type")?,
                "name" => name = string(&mut map, &path, "name")?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let missing = |key: &str| de::Error::custom(at(&path, format!("missing {key:?}")));
        Ok((
            kind.ok_or_else(|| missing("type"))?,
            name.ok_or_else(|| missing("name"))?,
        ))
    }

    reject_other_types!(
        |this| format!(
            r#"series[{}].resources[{}]: a resource must be an object with "type" and "name""#,
            this.series, this.index
        );
        bool, number, str, unit, seq
    );
}
