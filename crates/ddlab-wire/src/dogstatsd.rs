//! DogStatsD datagrams (protocol v1.0–v1.3): metrics, events and service checks parsed into typed values,
//! and the encoder a client uses to write them.
//!
//! ```text
//! <name>:<value>[:<value>...]|<type>[|@<rate>][|#<tag>,<tag>][|c:<container>][|T<unix ts>]
//! _e{<title bytes>,<text bytes>}:<title>|<text>[|d:<ts>][|h:<host>][|k:<key>][|p:<priority>][|s:<source>][|t:<alert>][|#<tags>]
//! _sc|<name>|<0|1|2|3>[|d:<ts>][|h:<host>][|#<tags>][|m:<message>]
//! ```
//!
//! A datagram holds one message per line (`\n`, an optional `\r` before it); empty lines are skipped.
//! Each line parses on its own: a bad line gives a [`ParseError`] naming the line and the `|`-separated
//! field, and the other lines still parse.
//!
//! The rules are the Agent's (`comp/dogstatsd/server`): unknown fields are ignored; metric fields are
//! strict (a bad value, sample rate or timestamp refuses the line); an event or service check keeps its
//! defaults where an optional field holds a bad value, and the line reports the field in
//! [`Line::ignored`]. Bytes that are not UTF-8 are replaced with U+FFFD, as the Agent's JSON encoding ends
//! up doing. Where the Agent accepts something nonsensical we are stricter, and the error says why: a
//! sample rate must lie in (0, 1], values must be finite, a service check must start with `_sc|`, and the
//! title of an event must be followed by `|` where its declared length ends.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use crate::check_run::{CheckRun, CheckStatus};
use crate::events::{AlertType, Event, Priority};

/// One parsed line: a message, plus the optional fields that were ignored because their value was bad.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub message: Message,
    /// Only events and service checks ignore a field; metric lines are refused instead.
    pub ignored: Vec<ParseError>,
}

/// What one line says.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Metric(Metric),
    Event(Event),
    ServiceCheck(ServiceCheck),
}

/// A metric line: one or more values of one type for one context.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// Never empty; otherwise as sent (the backend normalises names).
    pub name: String,
    pub sample: Sample,
    /// `@<rate>`: the fraction of events the client sent, in (0, 1]; 1 when absent.
    pub sample_rate: f64,
    /// `#a,b:c`, in the order sent, empty tags dropped. `host:` and `dd.internal.*` tags are kept here:
    /// reading them is the receiver's business.
    pub tags: Vec<String>,
    /// `c:<container>`: the client's container (origin detection), as sent.
    pub container: Option<String>,
    /// `T<unix seconds>` (protocol v1.3): a client-side timestamp, always positive.
    pub timestamp: Option<i64>,
}

/// The values of a metric line, by type. Numeric variants hold at least one finite value (v1.1 packs
/// several, `name:1:2:3|h`); a set holds the raw member, colons included, as the Agent does.
#[derive(Debug, Clone, PartialEq)]
pub enum Sample {
    /// `g`
    Gauge(Vec<f64>),
    /// `c`
    Count(Vec<f64>),
    /// `h`
    Histogram(Vec<f64>),
    /// `ms`
    Timer(Vec<f64>),
    /// `d`
    Distribution(Vec<f64>),
    /// `s`
    Set(String),
}

/// The six metric types and their symbols on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MetricType {
    Gauge,
    Count,
    Histogram,
    Timer,
    Distribution,
    Set,
}

/// A `_sc` line. It becomes a [`CheckRun`] once the receiver knows its own hostname
/// ([`ServiceCheck::into_check_run`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCheck {
    pub name: String,
    pub status: CheckStatus,
    /// `d:`; `None` means "now" to the receiver.
    pub timestamp: Option<i64>,
    /// `h:`; `None` means the receiver's hostname.
    pub hostname: Option<String>,
    /// `m:`, as sent: the Agent does not undo datadogpy's `m\:` escape, and neither do we.
    pub message: Option<String>,
    pub tags: Vec<String>,
}

/// Why a line, or one field of it, could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}{}: {reason}", field_suffix(*field))]
pub struct ParseError {
    /// 1-based line of the datagram.
    pub line: usize,
    /// 1-based `|`-separated field of the line; `None` when the line as a whole is wrong.
    pub field: Option<usize>,
    /// What is wrong, quoting the offending text.
    pub reason: String,
}

/// Parses every non-empty line of a datagram, in order.
pub fn parse(datagram: &[u8]) -> impl Iterator<Item = Result<Line, ParseError>> + '_ {
    datagram
        .split(|b| *b == b'\n')
        .enumerate()
        .filter_map(|(index, line)| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            (!line.is_empty()).then(|| parse_line(index + 1, line))
        })
}

/// Parses one line (without its newline); `line` is its 1-based number, for errors.
pub fn parse_line(line: usize, bytes: &[u8]) -> Result<Line, ParseError> {
    let mut ignored = Vec::new();
    let message = if bytes.starts_with(b"_e{") {
        event(bytes, &mut ignored).map(Message::Event)
    } else if bytes.starts_with(b"_sc") {
        service_check(bytes, &mut ignored).map(Message::ServiceCheck)
    } else {
        metric(bytes).map(Message::Metric)
    }
    .map_err(|problem| problem.at(line))?;
    let ignored = ignored.into_iter().map(|problem| problem.at(line)).collect();
    Ok(Line { message, ignored })
}

/// Writes a message as one line, without a newline; [`parse_line`] reads it back.
pub fn encode(message: &Message) -> String {
    match message {
        Message::Metric(metric) => encode_metric(metric),
        Message::Event(event) => encode_event(event),
        Message::ServiceCheck(check) => encode_service_check(check),
    }
}

impl MetricType {
    pub const ALL: [MetricType; 6] = [
        MetricType::Gauge,
        MetricType::Count,
        MetricType::Histogram,
        MetricType::Timer,
        MetricType::Distribution,
        MetricType::Set,
    ];

    /// The type field on the wire: `g c h ms d s`.
    pub fn symbol(self) -> &'static str {
        match self {
            MetricType::Gauge => "g",
            MetricType::Count => "c",
            MetricType::Histogram => "h",
            MetricType::Timer => "ms",
            MetricType::Distribution => "d",
            MetricType::Set => "s",
        }
    }

    pub fn from_symbol(symbol: &[u8]) -> Option<Self> {
        MetricType::ALL
            .into_iter()
            .find(|t| t.symbol().as_bytes() == symbol)
    }
}

impl Sample {
    pub fn metric_type(&self) -> MetricType {
        match self {
            Sample::Gauge(_) => MetricType::Gauge,
            Sample::Count(_) => MetricType::Count,
            Sample::Histogram(_) => MetricType::Histogram,
            Sample::Timer(_) => MetricType::Timer,
            Sample::Distribution(_) => MetricType::Distribution,
            Sample::Set(_) => MetricType::Set,
        }
    }

    /// The numeric values; empty for a set.
    pub fn values(&self) -> &[f64] {
        match self {
            Sample::Gauge(values)
            | Sample::Count(values)
            | Sample::Histogram(values)
            | Sample::Timer(values)
            | Sample::Distribution(values) => values,
            Sample::Set(_) => &[],
        }
    }

    /// How many samples the line carries: one per value, one for a set member.
    pub fn count(&self) -> usize {
        match self {
            Sample::Set(_) => 1,
            numeric => numeric.values().len(),
        }
    }
}

impl ServiceCheck {
    /// The check run to forward: a missing host becomes `default_host`, a missing timestamp `now`.
    pub fn into_check_run(self, default_host: &str, now: i64) -> CheckRun {
        CheckRun {
            check: self.name,
            host_name: self.hostname.unwrap_or_else(|| default_host.to_owned()),
            status: self.status,
            timestamp: Some(self.timestamp.unwrap_or(now)),
            message: self.message,
            tags: self.tags,
        }
    }
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

fn field_suffix(field: Option<usize>) -> String {
    field.map(|f| format!(", field {f}")).unwrap_or_default()
}

/// A problem found before the line number is known.
struct Problem {
    field: Option<usize>,
    reason: String,
}

impl Problem {
    fn line(reason: impl Into<String>) -> Self {
        Problem {
            field: None,
            reason: reason.into(),
        }
    }

    fn field(field: usize, reason: impl Into<String>) -> Self {
        Problem {
            field: Some(field),
            reason: reason.into(),
        }
    }

    fn at(self, line: usize) -> ParseError {
        ParseError {
            line,
            field: self.field,
            reason: self.reason,
        }
    }
}

const METRIC_FORMAT: &str = "expected <name>:<value>|<type>, an event (_e{...}) or a service check (_sc|...)";

fn metric(line: &[u8]) -> Result<Metric, Problem> {
    let mut fields = split_fields(line);
    let first = fields.next().unwrap_or_default();
    let Some(symbol) = fields.next() else {
        return Err(Problem::line(format!(
            "{} has no '|': {METRIC_FORMAT}",
            quote(line)
        )));
    };
    let Some(colon) = first.iter().position(|b| *b == b':') else {
        return Err(Problem::field(
            1,
            format!(
                "{} has no ':' between the metric name and its value",
                quote(first)
            ),
        ));
    };
    let (name, raw_value) = (&first[..colon], &first[colon + 1..]);
    if name.is_empty() {
        return Err(Problem::field(1, "the metric name is empty"));
    }
    if raw_value.is_empty() {
        return Err(Problem::field(1, format!("metric {} has no value", quote(name))));
    }
    let kind = MetricType::from_symbol(symbol).ok_or_else(|| {
        Problem::field(
            2,
            format!(
                "unknown metric type {}: expected g, c, ms, h, s or d",
                quote(symbol)
            ),
        )
    })?;
    let numbers = || values(raw_value).map_err(|reason| Problem::field(1, reason));
    let sample = match kind {
        MetricType::Gauge => Sample::Gauge(numbers()?),
        MetricType::Count => Sample::Count(numbers()?),
        MetricType::Histogram => Sample::Histogram(numbers()?),
        MetricType::Timer => Sample::Timer(numbers()?),
        MetricType::Distribution => Sample::Distribution(numbers()?),
        MetricType::Set => Sample::Set(text(raw_value).into_owned()),
    };
    let mut metric = Metric {
        name: text(name).into_owned(),
        sample,
        sample_rate: 1.0,
        tags: Vec::new(),
        container: None,
        timestamp: None,
    };
    for (index, field) in fields.enumerate() {
        let number = index + 3;
        if let Some(tags) = field.strip_prefix(b"#") {
            metric.tags = parse_tags(tags);
        } else if let Some(rate) = field.strip_prefix(b"@") {
            metric.sample_rate = sample_rate(rate).map_err(|r| Problem::field(number, r))?;
        } else if let Some(timestamp) = field.strip_prefix(b"T") {
            metric.timestamp = Some(metric_timestamp(timestamp).map_err(|r| Problem::field(number, r))?);
        } else if let Some(container) = field.strip_prefix(b"c:") {
            metric.container = (!container.is_empty()).then(|| text(container).into_owned());
        }
        // Anything else (`e:` external data, `card:` cardinality, future fields) is ignored, as the
        // protocol asks.
    }
    Ok(metric)
}

/// Reads `1`, or packed values `1:2::3` where empty values are skipped, as the Agent does.
fn values(raw: &[u8]) -> Result<Vec<f64>, String> {
    let values: Vec<f64> = raw
        .split(|b| *b == b':')
        .filter(|v| !v.is_empty())
        .map(number)
        .collect::<Result<_, _>>()?;
    if values.is_empty() {
        return Err(format!("{} holds no value", quote(raw)));
    }
    Ok(values)
}

fn number(raw: &[u8]) -> Result<f64, String> {
    let parsed = std::str::from_utf8(raw).ok().and_then(|s| s.parse::<f64>().ok());
    match parsed {
        Some(value) if value.is_finite() => Ok(value),
        Some(_) => Err(format!("value {} is not a finite number", quote(raw))),
        None => Err(format!("value {} is not a number", quote(raw))),
    }
}

fn sample_rate(raw: &[u8]) -> Result<f64, String> {
    let rate = std::str::from_utf8(raw).ok().and_then(|s| s.parse::<f64>().ok());
    match rate {
        Some(rate) if rate > 0.0 && rate <= 1.0 => Ok(rate),
        Some(_) => Err(format!(
            "sample rate {} must be greater than 0 and at most 1",
            quote(raw)
        )),
        None => Err(format!("sample rate {} is not a number", quote(raw))),
    }
}

fn metric_timestamp(raw: &[u8]) -> Result<i64, String> {
    match integer(raw) {
        Some(ts) if ts > 0 => Ok(ts),
        Some(_) => Err(format!("timestamp {} must be greater than 0", quote(raw))),
        None => Err(format!(
            "timestamp {} is not an integer number of seconds",
            quote(raw)
        )),
    }
}

/// `_e{<title length>,<text length>}:<title>|<text>|<optional fields>`; lengths count UTF-8 bytes as sent
/// (after the client turned newlines into `\n`).
fn event(line: &[u8], ignored: &mut Vec<Problem>) -> Result<Event, Problem> {
    let Some(colon) = line.iter().position(|b| *b == b':') else {
        return Err(Problem::line(
            "an event must start with _e{<title length>,<text length>}:",
        ));
    };
    let (header, body) = (&line[..colon], &line[colon + 1..]);
    let (title_len, text_len) = event_header(header).ok_or_else(|| {
        Problem::field(
            1,
            format!(
                "event header {} is not _e{{<title length>,<text length>}}",
                quote(header)
            ),
        )
    })?;
    if title_len == 0 {
        return Err(Problem::field(1, "the event title is empty"));
    }
    // Lengths come from the sender: add them without overflowing.
    let text_start = title_len.saturating_add(1);
    let content_len = text_start
        .checked_add(text_len)
        .filter(|len| *len <= body.len())
        .ok_or_else(|| {
            Problem::field(
                1,
                format!(
                    "the header declares a {title_len}-byte title and a {text_len}-byte text, \
                     but only {} bytes follow it",
                    body.len()
                ),
            )
        })?;
    if body[title_len] != b'|' {
        return Err(Problem::field(
            1,
            format!(
                "the title is not {title_len} bytes long: expected '|' after {}",
                quote(&body[..title_len])
            ),
        ));
    }
    let mut event = Event {
        title: unescape(&body[..title_len]),
        text: unescape(&body[text_start..content_len]),
        date_happened: None,
        priority: Priority::Normal,
        host: None,
        tags: Vec::new(),
        alert_type: AlertType::Info,
        aggregation_key: None,
        source_type_name: None,
        related_event_id: None,
        device_name: None,
        event_type: None,
    };
    let rest = &body[content_len..];
    if rest.is_empty() {
        return Ok(event);
    }
    let mut fields = split_fields(rest);
    let overrun = fields.next().unwrap_or_default();
    if !overrun.is_empty() {
        ignored.push(Problem::field(
            2,
            format!(
                "the text runs past its declared {text_len} bytes; {} is ignored",
                quote(overrun)
            ),
        ));
    }
    for (index, field) in fields.enumerate() {
        let number = index + 3;
        if let Some(raw) = field.strip_prefix(b"d:") {
            match integer(raw) {
                Some(ts) => event.date_happened = Some(ts),
                None => ignored.push(Problem::field(
                    number,
                    format!("event timestamp {} is not an integer; ignored", quote(raw)),
                )),
            }
        } else if let Some(raw) = field.strip_prefix(b"h:") {
            event.host = non_empty(raw);
        } else if let Some(raw) = field.strip_prefix(b"k:") {
            event.aggregation_key = non_empty(raw);
        } else if let Some(raw) = field.strip_prefix(b"p:") {
            match Priority::from_name(&text(raw)) {
                Some(priority) => event.priority = priority,
                None => ignored.push(Problem::field(
                    number,
                    format!("priority {} is not normal or low; ignored", quote(raw)),
                )),
            }
        } else if let Some(raw) = field.strip_prefix(b"s:") {
            event.source_type_name = non_empty(raw);
        } else if let Some(raw) = field.strip_prefix(b"t:") {
            match dogstatsd_alert_type(raw) {
                Some(alert_type) => event.alert_type = alert_type,
                None => ignored.push(Problem::field(
                    number,
                    format!(
                        "alert type {} is not error, warning, info or success; ignored",
                        quote(raw)
                    ),
                )),
            }
        } else if let Some(raw) = field.strip_prefix(b"#") {
            event.tags = parse_tags(raw);
        }
    }
    Ok(event)
}

fn event_header(header: &[u8]) -> Option<(usize, usize)> {
    let lengths = header.strip_prefix(b"_e{")?.strip_suffix(b"}")?;
    let comma = lengths.iter().position(|b| *b == b',')?;
    Some((length(&lengths[..comma])?, length(&lengths[comma + 1..])?))
}

fn length(raw: &[u8]) -> Option<usize> {
    if raw.is_empty() || !raw.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(raw).ok()?.parse().ok()
}

/// DogStatsD knows four of the API's alert types.
fn dogstatsd_alert_type(raw: &[u8]) -> Option<AlertType> {
    match raw {
        b"error" => Some(AlertType::Error),
        b"warning" => Some(AlertType::Warning),
        b"info" => Some(AlertType::Info),
        b"success" => Some(AlertType::Success),
        _ => None,
    }
}

/// `_sc|<name>|<status>|<optional fields>`.
fn service_check(line: &[u8], ignored: &mut Vec<Problem>) -> Result<ServiceCheck, Problem> {
    let Some(rest) = line.strip_prefix(b"_sc|") else {
        return Err(Problem::field(
            1,
            format!(
                "{} is not a service check: expected _sc|<name>|<status>",
                quote(line)
            ),
        ));
    };
    let mut fields = split_fields(rest);
    let name = fields.next().unwrap_or_default();
    if name.is_empty() {
        return Err(Problem::field(2, "the service check name is empty"));
    }
    let raw_status = fields.next().unwrap_or_default();
    let status = match raw_status {
        b"0" => CheckStatus::Ok,
        b"1" => CheckStatus::Warning,
        b"2" => CheckStatus::Critical,
        b"3" => CheckStatus::Unknown,
        _ => {
            return Err(Problem::field(
                3,
                format!(
                    "service check status {} is not 0 (ok), 1 (warning), 2 (critical) or 3 (unknown)",
                    quote(raw_status)
                ),
            ));
        }
    };
    let mut check = ServiceCheck {
        name: text(name).into_owned(),
        status,
        timestamp: None,
        hostname: None,
        message: None,
        tags: Vec::new(),
    };
    for (index, field) in fields.enumerate() {
        let number = index + 4;
        if let Some(raw) = field.strip_prefix(b"d:") {
            match integer(raw) {
                Some(ts) => check.timestamp = Some(ts),
                None => ignored.push(Problem::field(
                    number,
                    format!(
                        "service check timestamp {} is not an integer; ignored",
                        quote(raw)
                    ),
                )),
            }
        } else if let Some(raw) = field.strip_prefix(b"h:") {
            check.hostname = non_empty(raw);
        } else if let Some(raw) = field.strip_prefix(b"#") {
            check.tags = parse_tags(raw);
        } else if let Some(raw) = field.strip_prefix(b"m:") {
            check.message = non_empty(raw);
        }
    }
    Ok(check)
}

fn split_fields(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes.split(|b| *b == b'|')
}

fn parse_tags(raw: &[u8]) -> Vec<String> {
    raw.split(|b| *b == b',')
        .filter(|tag| !tag.is_empty())
        .map(|tag| text(tag).into_owned())
        .collect()
}

fn integer(raw: &[u8]) -> Option<i64> {
    std::str::from_utf8(raw).ok()?.parse().ok()
}

fn non_empty(raw: &[u8]) -> Option<String> {
    (!raw.is_empty()).then(|| text(raw).into_owned())
}

fn text(raw: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(raw)
}

/// Event titles and texts carry newlines as the two characters `\n`.
fn unescape(raw: &[u8]) -> String {
    text(raw).replace("\\n", "\n")
}

fn escape(text: &str) -> String {
    text.replace('\n', "\\n")
}

/// Quotes a piece of input for an error message, cut to a readable length.
fn quote(raw: &[u8]) -> String {
    const MAX: usize = 64;
    let text = text(raw);
    if text.chars().count() > MAX {
        let cut: String = text.chars().take(MAX).collect();
        format!("{:?}…", cut)
    } else {
        format!("{text:?}")
    }
}

fn encode_metric(metric: &Metric) -> String {
    let mut line = metric.name.clone();
    match &metric.sample {
        Sample::Set(member) => {
            line.push(':');
            line.push_str(member);
        }
        numeric => {
            for value in numeric.values() {
                let _ = write!(line, ":{value}");
            }
        }
    }
    let _ = write!(line, "|{}", metric.sample.metric_type());
    if metric.sample_rate != 1.0 {
        let _ = write!(line, "|@{}", metric.sample_rate);
    }
    push_tags(&mut line, &metric.tags);
    if let Some(container) = &metric.container {
        let _ = write!(line, "|c:{container}");
    }
    if let Some(timestamp) = metric.timestamp {
        let _ = write!(line, "|T{timestamp}");
    }
    line
}

fn encode_event(event: &Event) -> String {
    let (title, text) = (escape(&event.title), escape(&event.text));
    let mut line = format!("_e{{{},{}}}:{title}|{text}", title.len(), text.len());
    if let Some(date) = event.date_happened {
        let _ = write!(line, "|d:{date}");
    }
    let fields = [
        ("h", event.host.as_deref()),
        ("k", event.aggregation_key.as_deref()),
        (
            "p",
            (event.priority != Priority::Normal).then(|| event.priority.name()),
        ),
        ("s", event.source_type_name.as_deref()),
        (
            "t",
            (event.alert_type != AlertType::Info).then(|| event.alert_type.name()),
        ),
    ];
    for (prefix, value) in fields {
        if let Some(value) = value {
            let _ = write!(line, "|{prefix}:{value}");
        }
    }
    push_tags(&mut line, &event.tags);
    line
}

fn encode_service_check(check: &ServiceCheck) -> String {
    let mut line = format!("_sc|{}|{}", check.name, check.status.code());
    if let Some(timestamp) = check.timestamp {
        let _ = write!(line, "|d:{timestamp}");
    }
    if let Some(host) = &check.hostname {
        let _ = write!(line, "|h:{host}");
    }
    push_tags(&mut line, &check.tags);
    // The message goes last: it is the one field a client may fill with free text.
    if let Some(message) = &check.message {
        let _ = write!(line, "|m:{message}");
    }
    line
}

fn push_tags(line: &mut String, tags: &[String]) {
    if !tags.is_empty() {
        line.push_str("|#");
        line.push_str(&tags.join(","));
    }
}

#[cfg(test)]
mod tests;
