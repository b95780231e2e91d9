//! `/intake/` tests: an Agent 7 host metadata payload, event and service check payloads, the payloads
//! that are not host metadata, and malformed fields.

use expect_test::{Expect, expect};
use serde_json::json;

use super::*;

fn check(body: &str, expect: Expect) {
    let shown = match decode(body.as_bytes()) {
        Ok(intake) => format!("{intake:#?}"),
        Err(err) => format!("error: {err}"),
    };
    expect.assert_eq(&shown);
}

/// A host metadata payload shaped like the Agent 7's (`comp/metadata/host`), trimmed: `gohai` is a
/// JSON document inside a string.
fn agent_host_payload() -> serde_json::Value {
    let gohai = json!({
        "cpu": {"cpu_cores": "2", "model_name": "Intel(R) Xeon(R)"},
        "filesystem": [{"kb_size": "41152736", "mounted_on": "/", "name": "/dev/sda1"}],
        "memory": {"swap_total": "0kB", "total": "4030836kB"},
        "network": {
            "interfaces": [{"ipv4": ["10.0.2.15"], "ipv6": ["fe80::1"], "macaddress": "08:00:27:aa:bb:cc", "name": "eth0"}],
            "ipaddress": "10.0.2.15",
            "ipaddressv6": "fe80::a00:27ff:feaa:bbcc",
            "macaddress": "08:00:27:aa:bb:cc"
        },
        "platform": {"GOOS": "linux", "hostname": "precise64", "kernel_release": "5.15.0-91-generic", "os": "GNU/Linux"}
    });
    json!({
        "apiKey": "redacted",
        "agentVersion": "7.52.0",
        "uuid": "a5c1b3a6-5f3c-5b8e-9b9c-0c7d6e4f3a2b",
        "internalHostname": "precise64",
        "os": "linux",
        "agent-flavor": "agent",
        "python": "3.11.8 (main, Feb  6 2024, 09:09:28) [GCC 11.4.0]",
        "systemStats": {"cpuCores": 2, "machine": "amd64", "platform": "linux", "pythonV": "3.11.8",
                        "processor": "Intel(R) Xeon(R)", "macV": ["", "", ""], "nixV": ["ubuntu", "22.04", ""],
                        "fbsdV": ["", "", ""], "winV": ["", "", ""]},
        "meta": {"socket-hostname": "precise64", "timezones": ["UTC"], "socket-fqdn": "precise64.local",
                 "ec2-hostname": "", "hostname": "precise64", "host_aliases": ["i-0abc"], "instance-id": "",
                 "hostname-resolution-version": "1.0"},
        "host-tags": {"system": ["env:dev", "role:database", "owner:candidate"],
                      "google cloud platform": ["zone:europe-west1-b"]},
        "network": {"network-id": "", "public-ipv4": "203.0.113.7"},
        "logs": {"transport": "", "auto_multi_line_detection_enabled": false},
        "install-method": {"tool": null, "tool_version": "undefined", "installer_version": null},
        "proxy-info": {"no-proxy-nonexact-match": false},
        "otlp": {"enabled": false},
        "resources": {"processes": {"snaps": []}},
        "gohai": gohai.to_string()
    })
}

#[test]
fn agent_host_metadata() {
    check(
        &agent_host_payload().to_string(),
        expect![[r#"
        Intake {
            host: Some(
                HostMetadata {
                    hostname: "precise64",
                    host_aliases: [
                        "i-0abc",
                    ],
                    socket_hostname: Some(
                        "precise64",
                    ),
                    socket_fqdn: Some(
                        "precise64.local",
                    ),
                    host_tags: {
                        "google cloud platform": [
                            "zone:europe-west1-b",
                        ],
                        "system": [
                            "env:dev",
                            "role:database",
                            "owner:candidate",
                        ],
                    },
                    ip: Some(
                        "10.0.2.15",
                    ),
                    ipv6: Some(
                        "fe80::a00:27ff:feaa:bbcc",
                    ),
                    mac_address: Some(
                        "08:00:27:aa:bb:cc",
                    ),
                    public_ip: Some(
                        "203.0.113.7",
                    ),
                    agent_version: Some(
                        "7.52.0",
                    ),
                    agent_flavor: Some(
                        "agent",
                    ),
                    os: Some(
                        "linux",
                    ),
                    platform: Some(
                        "GNU/Linux",
                    ),
                    kernel_release: Some(
                        "5.15.0-91-generic",
                    ),
                    cpu_cores: Some(
                        2,
                    ),
                    python_version: Some(
                        "3.11.8 (main, Feb  6 2024, 09:09:28) [GCC 11.4.0]",
                    ),
                    uuid: Some(
                        "a5c1b3a6-5f3c-5b8e-9b9c-0c7d6e4f3a2b",
                    ),
                    timezones: [
                        "UTC",
                    ],
                },
            ),
            events: [],
            service_checks: [],
        }"#]],
    );
}

#[test]
fn host_metadata_variants() {
    // gohai disabled (`""`), `system` tags unset (Go's nil slice), hostname only in `meta`.
    let mut payload = agent_host_payload();
    payload["gohai"] = json!("");
    payload["host-tags"] = json!({"system": null});
    payload["internalHostname"] = json!("");
    payload["network"] = json!(null);
    let intake = decode(payload.to_string().as_bytes()).unwrap();
    let host = intake.host.unwrap();
    assert_eq!(host.hostname, "precise64");
    assert_eq!(host.ip, None);
    assert_eq!(host.public_ip, None);
    assert_eq!(
        host.host_tags,
        BTreeMap::from([("system".to_owned(), Vec::new())])
    );

    // gohai as an object, as some senders write it.
    let mut payload = agent_host_payload();
    payload["gohai"] = json!({"network": {"ipaddress": "192.168.1.20"}});
    let host = decode(payload.to_string().as_bytes()).unwrap().host.unwrap();
    assert_eq!(host.ip.as_deref(), Some("192.168.1.20"));
    assert_eq!(host.platform, None);
}

#[test]
fn events_and_service_checks() {
    check(
        r#"{"apiKey":"","internalHostname":"precise64","events":{
            "api":[{"msg_title":"Agent started","msg_text":"","timestamp":1700000000,"host":"",
                    "alert_type":"info"}],
            "mysql":[{"msg_title":"Slow query","msg_text":"SELECT 1","timestamp":1700000001,"priority":"low",
                      "host":"db-1","tags":["env:dev"],"alert_type":"warning","aggregation_key":"slow",
                      "event_type":"mysql.slow"}],
            "nothing":null},
            "service_checks":[{"check":"ntp.in_sync","host_name":"precise64","status":0,"timestamp":1700000000}]}"#,
        expect![[r#"
            Intake {
                host: None,
                events: [
                    Event {
                        title: "Agent started",
                        text: "",
                        date_happened: Some(
                            1700000000,
                        ),
                        priority: Normal,
                        host: Some(
                            "precise64",
                        ),
                        tags: [],
                        alert_type: Info,
                        aggregation_key: None,
                        source_type_name: None,
                        related_event_id: None,
                        device_name: None,
                        event_type: None,
                    },
                    Event {
                        title: "Slow query",
                        text: "SELECT 1",
                        date_happened: Some(
                            1700000001,
                        ),
                        priority: Low,
                        host: Some(
                            "db-1",
                        ),
                        tags: [
                            "env:dev",
                        ],
                        alert_type: Warning,
                        aggregation_key: Some(
                            "slow",
                        ),
                        source_type_name: Some(
                            "mysql",
                        ),
                        related_event_id: None,
                        device_name: None,
                        event_type: Some(
                            "mysql.slow",
                        ),
                    },
                ],
                service_checks: [
                    CheckRun {
                        check: "ntp.in_sync",
                        host_name: "precise64",
                        status: Ok,
                        timestamp: Some(
                            1700000000,
                        ),
                        message: None,
                        tags: [],
                    },
                ],
            }"#]],
    );
}

#[test]
fn payloads_that_are_not_host_metadata() {
    // `agent_checks` metadata carries `meta` but no host tags: it must not overwrite the host's.
    let intake = decode(
        br#"{"agent_checks":[["mysql","mysql:abc","OK","",{}]],"apiKey":"","agentVersion":"7.52.0",
            "internalHostname":"precise64","meta":{"hostname":"precise64"},"uuid":"x"}"#,
    )
    .unwrap();
    assert_eq!(intake, Intake::default());
    assert_eq!(decode(b"{}").unwrap(), Intake::default());
}

#[test]
fn errors() {
    let with = |key: &str, value: serde_json::Value| {
        let mut payload = agent_host_payload();
        payload[key] = value;
        payload.to_string()
    };
    let mut nameless = agent_host_payload();
    nameless["internalHostname"] = json!(null);
    nameless["meta"]["hostname"] = json!("");
    let nameless = nameless.to_string();
    let cases = [
        ("[]".to_owned(), expect!["error: the body must be a JSON object"]),
        (
            "{".to_owned(),
            expect!["error: invalid JSON: EOF while parsing an object at line 1 column 1"],
        ),
        (
            with("gohai", json!("{not json")),
            expect!["error: gohai: invalid JSON: key must be a string at line 1 column 2"],
        ),
        (
            with("gohai", json!(5)),
            expect![[r#"error: "gohai" must be a string holding a JSON document"#]],
        ),
        (
            with("gohai", json!(r#"{"network":{"ipaddress":10}}"#)),
            expect![[r#"error: gohai.network: "ipaddress" must be a string"#]],
        ),
        (
            with("gohai", json!(r#"{"network":"eth0"}"#)),
            expect![[r#"error: gohai: "network" must be a JSON object"#]],
        ),
        (
            with("host-tags", json!(["env:dev"])),
            expect![[r#"error: "host-tags" must be a JSON object"#]],
        ),
        (
            with("host-tags", json!({"system": "env:dev"})),
            expect![[r#"error: host-tags: "system" must be a list of strings"#]],
        ),
        (
            with("host-tags", json!({"system": ["env:dev", 5]})),
            expect!["error: host-tags.system[1]: must be a string"],
        ),
        (
            with("meta", json!({"host_aliases": "a"})),
            expect![[r#"error: meta: "host_aliases" must be a list of strings"#]],
        ),
        (
            with("systemStats", json!({"cpuCores": -2})),
            expect![[r#"error: systemStats: "cpuCores" must be a positive integer"#]],
        ),
        (
            with("systemStats", json!({"cpuCores": "2"})),
            expect![[r#"error: systemStats: "cpuCores" must be an integer"#]],
        ),
        (
            with("agentVersion", json!(7)),
            expect![[r#"error: "agentVersion" must be a string"#]],
        ),
        (nameless, expect![[r#"error: missing "internalHostname""#]]),
        (
            r#"{"events":[]}"#.to_owned(),
            expect![[r#"error: "events" must be a JSON object"#]],
        ),
        (
            r#"{"events":{"api":{}}}"#.to_owned(),
            expect![[r#"error: events: "api" must be a list of events"#]],
        ),
        (
            r#"{"events":{"api":[5]}}"#.to_owned(),
            expect!["error: events.api[0]: an event must be a JSON object"],
        ),
        (
            r#"{"events":{"api":[{"msg_title":1}]}}"#.to_owned(),
            expect![[r#"error: events.api[0]: "msg_title" must be a string"#]],
        ),
        (
            r#"{"events":{"api":[{"msg_title":"t","alert_type":"fatal"}]}}"#.to_owned(),
            expect![[
                r#"error: events.api[0]: "alert_type" must be one of error, warning, info, success, user_update, recommendation, snapshot"#
            ]],
        ),
        (
            r#"{"service_checks":{}}"#.to_owned(),
            expect![[r#"error: "service_checks" must be a list of check runs"#]],
        ),
        (
            r#"{"service_checks":[{"check":"c","host_name":"h","status":9}]}"#.to_owned(),
            expect![[
                r#"error: service_checks[0]: "status" must be 0 (ok), 1 (warning), 2 (critical) or 3 (unknown)"#
            ]],
        ),
    ];
    for (body, expect) in cases {
        check(&body, expect);
    }
}

fn full_host() -> HostMetadata {
    HostMetadata {
        hostname: "lab-host".into(),
        host_aliases: vec!["alias-1".into()],
        socket_hostname: Some("lab-host".into()),
        socket_fqdn: Some("lab-host.example".into()),
        host_tags: BTreeMap::from([(
            "system".to_owned(),
            vec!["env:lab".to_owned(), "role:database".to_owned()],
        )]),
        ip: Some("10.0.2.15".into()),
        ipv6: Some("fe80::1".into()),
        mac_address: Some("08:00:27:aa:bb:cc".into()),
        public_ip: Some("203.0.113.7".into()),
        agent_version: Some("7.71.0".into()),
        agent_flavor: Some("agent".into()),
        os: Some("linux".into()),
        platform: Some("GNU/Linux".into()),
        kernel_release: Some("6.1.0".into()),
        cpu_cores: Some(2),
        python_version: Some("3.11.2".into()),
        uuid: Some("0f4c6f5e-1d2b-5c3a-8e7f-112233445566".into()),
        timezones: vec!["UTC".into()],
    }
}

#[test]
fn host_metadata_round_trips() {
    let host = full_host();
    let body = encode_host_metadata("key-1", &host);
    let decoded = decode(&body).unwrap();
    assert_eq!(decoded.host, Some(host));
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(value["apiKey"], "key-1");
    // gohai is a JSON document inside a string, as the Agent sends it.
    assert!(value["gohai"].is_string(), "{value}");
}

#[test]
fn sparse_host_metadata_round_trips() {
    let host = HostMetadata {
        hostname: "bare".into(),
        ..HostMetadata::default()
    };
    let decoded = decode(&encode_host_metadata("k", &host)).unwrap();
    assert_eq!(decoded.host, Some(host));
}

#[test]
fn events_round_trip_filed_by_source() {
    let event = |title: &str, source: Option<&str>| Event {
        title: title.into(),
        text: "body".into(),
        date_happened: Some(1_700_000_000),
        priority: events::Priority::Low,
        host: Some("lab-host".into()),
        tags: vec!["a:b".into()],
        alert_type: events::AlertType::Warning,
        aggregation_key: Some("agg".into()),
        source_type_name: source.map(str::to_owned),
        related_event_id: None,
        device_name: None,
        event_type: Some("my_check".into()),
    };
    let sent = vec![event("from api", None), event("from mysql", Some("mysql"))];
    let body = encode_events("k", "lab-host", &sent);
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(value["events"]["mysql"][0]["msg_title"], "from mysql");
    assert_eq!(value["events"]["api"][0]["msg_title"], "from api");
    let decoded = decode(&body).unwrap();
    assert_eq!(decoded.host, None, "an events payload is not host metadata");
    // Sources are written in name order: `api` before `mysql`.
    assert_eq!(decoded.events, sent);
}

#[test]
fn events_without_host_get_the_internal_hostname() {
    let sent = Event {
        title: "t".into(),
        text: String::new(),
        date_happened: None,
        priority: events::Priority::Normal,
        host: None,
        tags: Vec::new(),
        alert_type: events::AlertType::Info,
        aggregation_key: None,
        source_type_name: None,
        related_event_id: None,
        device_name: None,
        event_type: None,
    };
    let decoded = decode(&encode_events("k", "agent-host", std::slice::from_ref(&sent))).unwrap();
    assert_eq!(
        decoded.events,
        [Event {
            host: Some("agent-host".into()),
            ..sent
        }]
    );
}
