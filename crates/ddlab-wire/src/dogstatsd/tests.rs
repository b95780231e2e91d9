//! DogStatsD parser tests: the protocol's documented examples, each error with its line and field, and
//! property tests (no panic on any bytes; encode → parse gives back every well-formed message).

use expect_test::{Expect, expect};
use proptest::prelude::*;

use super::*;

/// Parses a datagram and shows one line per message: the message, its ignored fields, or the error.
fn check(datagram: &str, expect: Expect) {
    let shown: Vec<String> = parse(datagram.as_bytes())
        .map(|line| match line {
            Ok(Line { message, ignored }) => {
                let mut shown = format!("{message:?}");
                for problem in ignored {
                    shown.push_str(&format!("\n  ignored: {problem}"));
                }
                shown
            }
            Err(err) => format!("error: {err}"),
        })
        .collect();
    expect.assert_eq(&shown.join("\n"));
}

#[test]
fn the_documented_metric_examples() {
    check(
        "page.views:1|c\nfuel.level:0.5|g\nsong.length:240|h|@0.5\nusers.uniques:1234|s\n\
         users.online:1|c|@0.5|#country:china\npage.views:1:2:32|d\nrequest.time:12.5|ms",
        expect![[r#"
            Metric(Metric { name: "page.views", sample: Count([1.0]), sample_rate: 1.0, tags: [], container: None, timestamp: None })
            Metric(Metric { name: "fuel.level", sample: Gauge([0.5]), sample_rate: 1.0, tags: [], container: None, timestamp: None })
            Metric(Metric { name: "song.length", sample: Histogram([240.0]), sample_rate: 0.5, tags: [], container: None, timestamp: None })
            Metric(Metric { name: "users.uniques", sample: Set("1234"), sample_rate: 1.0, tags: [], container: None, timestamp: None })
            Metric(Metric { name: "users.online", sample: Count([1.0]), sample_rate: 0.5, tags: ["country:china"], container: None, timestamp: None })
            Metric(Metric { name: "page.views", sample: Distribution([1.0, 2.0, 32.0]), sample_rate: 1.0, tags: [], container: None, timestamp: None })
            Metric(Metric { name: "request.time", sample: Timer([12.5]), sample_rate: 1.0, tags: [], container: None, timestamp: None })"#]],
    );
}

#[test]
fn optional_metric_fields_in_any_order_and_unknown_ones_ignored() {
    check(
        "page.views:15|c|#env:dev,,role:web|T1656581400\n\
         cpu:-1.5e2|g|card:high|c:ci-0123|e:it-false|@1|#a\n\
         visitors:a:b|s|@0.1",
        expect![[r#"
            Metric(Metric { name: "page.views", sample: Count([15.0]), sample_rate: 1.0, tags: ["env:dev", "role:web"], container: None, timestamp: Some(1656581400) })
            Metric(Metric { name: "cpu", sample: Gauge([-150.0]), sample_rate: 1.0, tags: ["a"], container: Some("ci-0123"), timestamp: None })
            Metric(Metric { name: "visitors", sample: Set("a:b"), sample_rate: 0.1, tags: [], container: None, timestamp: None })"#]],
    );
}

#[test]
fn lines_end_with_lf_or_crlf_and_empty_lines_are_skipped() {
    check(
        "a:1|c\r\n\n\r\nb:2:3::4|h\n",
        expect![[r#"
            Metric(Metric { name: "a", sample: Count([1.0]), sample_rate: 1.0, tags: [], container: None, timestamp: None })
            Metric(Metric { name: "b", sample: Histogram([2.0, 3.0, 4.0]), sample_rate: 1.0, tags: [], container: None, timestamp: None })"#]],
    );
}

#[test]
fn metric_errors_name_the_line_and_field() {
    check(
        "ok:1|c\nno type at all\nname.only|c\n:1|c\nempty.value:|g\nx:1|q\nx:abc|g\nx:1e999|g\n\
         x:::|h\nx:1|c|@0\nx:1|c|@1.5\nx:1|c|@half\nx:1|g|T0\nx:1|g|Tsoon",
        expect![[r#"
            Metric(Metric { name: "ok", sample: Count([1.0]), sample_rate: 1.0, tags: [], container: None, timestamp: None })
            error: line 2: "no type at all" has no '|': expected <name>:<value>|<type>, an event (_e{...}) or a service check (_sc|...)
            error: line 3, field 1: "name.only" has no ':' between the metric name and its value
            error: line 4, field 1: the metric name is empty
            error: line 5, field 1: metric "empty.value" has no value
            error: line 6, field 2: unknown metric type "q": expected g, c, ms, h, s or d
            error: line 7, field 1: value "abc" is not a number
            error: line 8, field 1: value "1e999" is not a finite number
            error: line 9, field 1: "::" holds no value
            error: line 10, field 3: sample rate "0" must be greater than 0 and at most 1
            error: line 11, field 3: sample rate "1.5" must be greater than 0 and at most 1
            error: line 12, field 3: sample rate "half" is not a number
            error: line 13, field 3: timestamp "0" must be greater than 0
            error: line 14, field 3: timestamp "soon" is not an integer number of seconds"#]],
    );
}

#[test]
fn the_documented_event_examples() {
    check(
        "_e{21,36}:An exception occurred|Cannot parse CSV file from 10.0.0.17|t:warning|#err_type:bad_file\n\
         _e{5,13}:Title|line1\\nline 2|d:1700000000|h:web-1|k:deploy|p:low|s:my_apps|t:success|#env:dev,a\n\
         _e{3,0}:a|b||x:unknown",
        expect![[r#"
            Event(Event { title: "An exception occurred", text: "Cannot parse CSV file from 10.0.0.17", date_happened: None, priority: Normal, host: None, tags: ["err_type:bad_file"], alert_type: Warning, aggregation_key: None, source_type_name: None, related_event_id: None, device_name: None, event_type: None })
            Event(Event { title: "Title", text: "line1\nline 2", date_happened: Some(1700000000), priority: Low, host: Some("web-1"), tags: ["env:dev", "a"], alert_type: Success, aggregation_key: Some("deploy"), source_type_name: Some("my_apps"), related_event_id: None, device_name: None, event_type: None })
            Event(Event { title: "a|b", text: "", date_happened: None, priority: Normal, host: None, tags: [], alert_type: Info, aggregation_key: None, source_type_name: None, related_event_id: None, device_name: None, event_type: None })"#]],
    );
}

#[test]
fn an_event_keeps_its_defaults_where_an_optional_field_is_bad() {
    check(
        "_e{2,5}:hi|there and more|p:urgent|t:user_update|d:yesterday|#ok",
        expect![[r#"
            Event(Event { title: "hi", text: "there", date_happened: None, priority: Normal, host: None, tags: ["ok"], alert_type: Info, aggregation_key: None, source_type_name: None, related_event_id: None, device_name: None, event_type: None })
              ignored: line 1, field 2: the text runs past its declared 5 bytes; " and more" is ignored
              ignored: line 1, field 3: priority "urgent" is not normal or low; ignored
              ignored: line 1, field 4: alert type "user_update" is not error, warning, info or success; ignored
              ignored: line 1, field 5: event timestamp "yesterday" is not an integer; ignored"#]],
    );
}

#[test]
fn event_errors() {
    check(
        "_e{5,4}\n_e{5}:title|text\n_e{a,4}:title|text\n_e{0,4}:|text\n_e{5,40}:title|text\n\
         _e{3,4}:title|text\n_e{99999999999999999999,1}:x|y\n_e{18446744073709551615,1}:x|y",
        expect![[r#"
            error: line 1: an event must start with _e{<title length>,<text length>}:
            error: line 2, field 1: event header "_e{5}" is not _e{<title length>,<text length>}
            error: line 3, field 1: event header "_e{a,4}" is not _e{<title length>,<text length>}
            error: line 4, field 1: the event title is empty
            error: line 5, field 1: the header declares a 5-byte title and a 40-byte text, but only 10 bytes follow it
            error: line 6, field 1: the title is not 3 bytes long: expected '|' after "tit"
            error: line 7, field 1: event header "_e{99999999999999999999,1}" is not _e{<title length>,<text length>}
            error: line 8, field 1: the header declares a 18446744073709551615-byte title and a 1-byte text, but only 3 bytes follow it"#]],
    );
}

#[test]
fn the_documented_service_check_examples() {
    check(
        "_sc|Redis connection|2|#env:dev|m:Redis connection timed out after 10s\n\
         _sc|mysql.can_connect|0|d:1700000000|h:db-1|#port:3306,env:dev\n\
         _sc|app.up|3|m:m\\: escaped stays escaped|d:soon",
        expect![[r#"
            ServiceCheck(ServiceCheck { name: "Redis connection", status: Critical, timestamp: None, hostname: None, message: Some("Redis connection timed out after 10s"), tags: ["env:dev"] })
            ServiceCheck(ServiceCheck { name: "mysql.can_connect", status: Ok, timestamp: Some(1700000000), hostname: Some("db-1"), message: None, tags: ["port:3306", "env:dev"] })
            ServiceCheck(ServiceCheck { name: "app.up", status: Unknown, timestamp: None, hostname: None, message: Some("m\\: escaped stays escaped"), tags: [] })
              ignored: line 3, field 5: service check timestamp "soon" is not an integer; ignored"#]],
    );
}

#[test]
fn service_check_errors() {
    check(
        "_sc\n_sc||0\n_sc|name\n_sc|name|4\n_sc|name|ok\n_scx|name|0",
        expect![[r#"
            error: line 1, field 1: "_sc" is not a service check: expected _sc|<name>|<status>
            error: line 2, field 2: the service check name is empty
            error: line 3, field 3: service check status "" is not 0 (ok), 1 (warning), 2 (critical) or 3 (unknown)
            error: line 4, field 3: service check status "4" is not 0 (ok), 1 (warning), 2 (critical) or 3 (unknown)
            error: line 5, field 3: service check status "ok" is not 0 (ok), 1 (warning), 2 (critical) or 3 (unknown)
            error: line 6, field 1: "_scx|name|0" is not a service check: expected _sc|<name>|<status>"#]],
    );
}

#[test]
fn a_bad_line_does_not_stop_the_others() {
    let results: Vec<bool> = parse(b"a:1|c\nbroken\nb:2|g\n_sc|x|9\n_e{1,1}:a|b")
        .map(|line| line.is_ok())
        .collect();
    assert_eq!(results, [true, false, true, false, true]);
}

#[test]
fn invalid_utf8_is_replaced_not_refused() {
    let line = parse(b"na\xffme:1|c|#t\xfe")
        .next()
        .expect("one line")
        .expect("parses");
    let Message::Metric(metric) = line.message else {
        panic!("expected a metric, got {:?}", line.message);
    };
    assert_eq!(metric.name, "na\u{fffd}me");
    assert_eq!(metric.tags, ["t\u{fffd}"]);
}

#[test]
fn long_input_is_quoted_shortened() {
    let name = "n".repeat(100);
    let err = parse_line(7, name.as_bytes()).expect_err("no type");
    assert_eq!(
        err.to_string(),
        format!("line 7: \"{}\"… has no '|': {METRIC_FORMAT}", "n".repeat(64))
    );
}

#[test]
fn service_check_becomes_a_check_run() {
    let line = parse_line(1, b"_sc|app.up|1|#a:b|m:slow").expect("parses");
    let Message::ServiceCheck(check) = line.message else {
        panic!("expected a service check, got {:?}", line.message);
    };
    assert_eq!(
        check.into_check_run("agent-host", 1_700_000_000),
        CheckRun {
            check: "app.up".into(),
            host_name: "agent-host".into(),
            status: CheckStatus::Warning,
            timestamp: Some(1_700_000_000),
            message: Some("slow".into()),
            tags: vec!["a:b".into()],
        }
    );
}

#[test]
fn encoding_matches_what_datadogpy_sends() {
    let lines = [
        "page.views:1|c|@0.5|#env:dev,role:web",
        "page.views:1:2:32|d|c:ci-1|T1656581400",
        "_e{5,13}:Title|line1\\nline 2|d:1700000000|h:web-1|k:deploy|p:low|s:my_apps|t:error|#env:dev",
        "_sc|mysql.can_connect|2|d:1700000000|h:db-1|#port:3306|m:Access denied",
    ];
    for line in lines {
        let parsed = parse_line(1, line.as_bytes()).expect("parses");
        assert_eq!(encode(&parsed.message), line);
    }
}

// ---- properties ----

fn finite() -> impl Strategy<Value = f64> + Clone {
    prop_oneof![
        prop::num::f64::NORMAL | prop::num::f64::SUBNORMAL | prop::num::f64::ZERO,
        -1e6f64..1e6,
        (-1000i64..1000).prop_map(|v| v as f64),
    ]
}

fn tags() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec("[a-z0-9_.:/-]{1,16}", 0..5)
}

fn word() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.-]{1,16}"
}

fn metric_strategy() -> impl Strategy<Value = Metric> {
    let values = prop::collection::vec(finite(), 1..5);
    let sample = prop_oneof![
        values.clone().prop_map(Sample::Gauge),
        values.clone().prop_map(Sample::Count),
        values.clone().prop_map(Sample::Histogram),
        values.clone().prop_map(Sample::Timer),
        values.prop_map(Sample::Distribution),
        "[A-Za-z0-9_.:-]{1,16}".prop_map(Sample::Set),
    ];
    let rate = prop_oneof![Just(1.0), 0.0001f64..=1.0];
    (
        "[A-Za-z][A-Za-z0-9_.]{0,30}",
        sample,
        rate,
        tags(),
        prop::option::of("[a-z0-9-]{1,20}"),
        prop::option::of(1i64..=i64::MAX),
    )
        .prop_map(|(name, sample, sample_rate, tags, container, timestamp)| Metric {
            name,
            sample,
            sample_rate,
            tags,
            container,
            timestamp,
        })
}

fn event_strategy() -> impl Strategy<Value = Event> {
    let priority = prop_oneof![Just(Priority::Normal), Just(Priority::Low)];
    let alert_type = prop_oneof![
        Just(AlertType::Error),
        Just(AlertType::Warning),
        Just(AlertType::Info),
        Just(AlertType::Success),
    ];
    (
        // Any text but a backslash (`\n` spelled out would unescape) or a carriage return (stripped at the
        // end of a line); newlines and pipes are fine.
        "[^\\\\\r]{1,30}",
        "[^\\\\\r]{0,60}",
        prop::option::of(any::<i64>()),
        priority,
        prop::option::of(word()),
        tags(),
        alert_type,
        prop::option::of(word()),
        prop::option::of(word()),
    )
        .prop_map(
            |(title, text, date, priority, host, tags, alert_type, key, source)| Event {
                title,
                text,
                date_happened: date,
                priority,
                host,
                tags,
                alert_type,
                aggregation_key: key,
                source_type_name: source,
                related_event_id: None,
                device_name: None,
                event_type: None,
            },
        )
}

fn service_check_strategy() -> impl Strategy<Value = ServiceCheck> {
    let status = prop_oneof![
        Just(CheckStatus::Ok),
        Just(CheckStatus::Warning),
        Just(CheckStatus::Critical),
        Just(CheckStatus::Unknown),
    ];
    (
        "[A-Za-z0-9_. ]{1,24}",
        status,
        prop::option::of(any::<i64>()),
        prop::option::of(word()),
        prop::option::of("[^|\n\r]{1,40}"),
        tags(),
    )
        .prop_map(
            |(name, status, timestamp, hostname, message, tags)| ServiceCheck {
                name,
                status,
                timestamp,
                hostname,
                message,
                tags,
            },
        )
}

fn message_strategy() -> impl Strategy<Value = Message> {
    prop_oneof![
        metric_strategy().prop_map(Message::Metric),
        event_strategy().prop_map(Message::Event),
        service_check_strategy().prop_map(Message::ServiceCheck),
    ]
}

/// Pieces of the grammar, for inputs that get further into the parser than random bytes do.
const PIECES: &[&str] = &[
    "_e{",
    "_sc|",
    "_sc",
    "}",
    ":",
    "|",
    "#",
    "@",
    "T",
    "c:",
    "d:",
    "h:",
    "m:",
    "p:",
    "t:",
    ",",
    "\n",
    "\r",
    "\\n",
    "0",
    "1",
    "5",
    "-1",
    "0.5",
    "1e999",
    "nan",
    "18446744073709551615",
    "18446744073709551616",
    "g",
    "c",
    "ms",
    "h",
    "s",
    "d",
    "x",
    "é",
    "\u{fffd}",
    " ",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_parse_without_panicking(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let lines = bytes.split(|b| *b == b'\n').count();
        for result in parse(&bytes) {
            let line = match result {
                Ok(_) => continue,
                Err(err) => err.line,
            };
            prop_assert!(line >= 1 && line <= lines, "line {line} of {lines}");
        }
    }

    #[test]
    fn grammar_shaped_input_parses_without_panicking(
        pieces in prop::collection::vec(prop::sample::select(PIECES), 0..40),
    ) {
        let datagram = pieces.concat();
        for result in parse(datagram.as_bytes()) {
            match result {
                Ok(line) => { let _ = encode(&line.message); }
                Err(err) => prop_assert!(!err.reason.is_empty()),
            }
        }
    }

    #[test]
    fn well_formed_messages_round_trip(message in message_strategy()) {
        let line = encode(&message);
        let parsed = parse_line(1, line.as_bytes());
        prop_assert_eq!(parsed, Ok(Line { message, ignored: Vec::new() }), "line: {:?}", line);
    }

    #[test]
    fn a_datagram_of_many_lines_round_trips(messages in prop::collection::vec(message_strategy(), 1..8)) {
        let datagram = messages.iter().map(encode).collect::<Vec<_>>().join("\n");
        let parsed: Vec<Message> = parse(datagram.as_bytes())
            .map(|line| line.map(|line| line.message))
            .collect::<Result<_, _>>()
            .map_err(|err| TestCaseError::fail(format!("{err} in {datagram:?}")))?;
        prop_assert_eq!(parsed, messages);
    }
}
