//! Event tests: the v1 body, Datadog's validation, the time window and the recorded answer's shape.

use expect_test::{Expect, expect};

use super::*;

fn check(body: &str, expect: Expect) {
    let shown = match decode(body.as_bytes()) {
        Ok(event) => format!("{event:#?}"),
        Err(err) => format!("error: {err}"),
    };
    expect.assert_eq(&shown);
}

#[test]
fn the_reference_body() {
    check(
        r#"{"title":"Deploy v42","text":"%%% \n**rolled out** \n %%%","tags":["env:dev"],
            "alert_type":"info","priority":"normal","host":"web-1","aggregation_key":"deploy",
            "source_type_name":"my_apps","date_happened":1700000000}"#,
        expect![[r#"
            Event {
                title: "Deploy v42",
                text: "%%% \n**rolled out** \n %%%",
                date_happened: Some(
                    1700000000,
                ),
                priority: Normal,
                host: Some(
                    "web-1",
                ),
                tags: [
                    "env:dev",
                ],
                alert_type: Info,
                aggregation_key: Some(
                    "deploy",
                ),
                source_type_name: Some(
                    "my_apps",
                ),
                related_event_id: None,
                device_name: None,
                event_type: None,
            }"#]],
    );
}

#[test]
fn minimal_and_optional_fields() {
    check(
        r#"{"title":"t","text":"","priority":null,"alert_type":null,"tags":null,"host":null,
            "related_event_id":6327818702635911562,"device_name":"sda","alert_type":"user_update"}"#,
        expect![[r#"
            Event {
                title: "t",
                text: "",
                date_happened: None,
                priority: Normal,
                host: None,
                tags: [],
                alert_type: UserUpdate,
                aggregation_key: None,
                source_type_name: None,
                related_event_id: Some(
                    6327818702635911562,
                ),
                device_name: Some(
                    "sda",
                ),
                event_type: None,
            }"#]],
    );
    check(
        r#"{"title":"t","text":"x","priority":"low","alert_type":"snapshot","device_name":["sdb","sdc"]}"#,
        expect![[r#"
            Event {
                title: "t",
                text: "x",
                date_happened: None,
                priority: Low,
                host: None,
                tags: [],
                alert_type: Snapshot,
                aggregation_key: None,
                source_type_name: None,
                related_event_id: None,
                device_name: Some(
                    "sdb",
                ),
                event_type: None,
            }"#]],
    );
}

#[test]
fn errors() {
    let long_text = format!(r#"{{"title":"t","text":"{}"}}"#, "x".repeat(MAX_TEXT + 1));
    let long_key = format!(
        r#"{{"title":"t","text":"x","aggregation_key":"{}"}}"#,
        "k".repeat(101)
    );
    let cases = [
        ("[]".to_owned(), expect!["error: the body must be a JSON object"]),
        (
            r#"{"text":"x"}"#.to_owned(),
            expect![[r#"error: missing "title""#]],
        ),
        (
            r#"{"title":"t"}"#.to_owned(),
            expect![[r#"error: missing "text""#]],
        ),
        (
            r#"{"title":5,"text":"x"}"#.to_owned(),
            expect![[r#"error: "title" must be a string"#]],
        ),
        (
            r#"{"title":"t","text":"x","alert_type":"critical"}"#.to_owned(),
            expect![[
                r#"error: "alert_type" must be one of error, warning, info, success, user_update, recommendation, snapshot"#
            ]],
        ),
        (
            r#"{"title":"t","text":"x","priority":"high"}"#.to_owned(),
            expect![[r#"error: "priority" must be normal or low"#]],
        ),
        (
            r#"{"title":"t","text":"x","date_happened":"1700000000"}"#.to_owned(),
            expect![[r#"error: "date_happened" must be an integer"#]],
        ),
        (
            r#"{"title":"t","text":"x","date_happened":1700000000.5}"#.to_owned(),
            expect![[r#"error: "date_happened" must be an integer"#]],
        ),
        (
            r#"{"title":"t","text":"x","related_event_id":"442259632191669779"}"#.to_owned(),
            expect![[r#"error: "related_event_id" must be an integer"#]],
        ),
        (
            r#"{"title":"t","text":"x","tags":"env:dev"}"#.to_owned(),
            expect![[r#"error: "tags" must be a list of strings"#]],
        ),
        (
            r#"{"title":"t","text":"x","tags":[3735928559]}"#.to_owned(),
            expect!["error: tags[0]: must be a string"],
        ),
        (
            r#"{"title":"t","text":"x","device_name":[1]}"#.to_owned(),
            expect!["error: device_name[0]: must be a string"],
        ),
        (
            long_text,
            expect![[r#"error: "text" must be at most 4000 characters"#]],
        ),
        (
            long_key,
            expect![[r#"error: "aggregation_key" must be at most 100 characters"#]],
        ),
    ];
    for (body, expect) in cases {
        check(&body, expect);
    }
}

#[test]
fn the_time_window() {
    let now = 1_700_000_000;
    let show = |date: i64| match check_date(date, now) {
        Ok(()) => "ok".to_owned(),
        Err(err) => err.to_string(),
    };
    let shown: Vec<String> = [
        now,
        now - MAX_AGE_SECONDS,
        now - MAX_AGE_SECONDS - 1,
        now + MAX_AHEAD_SECONDS,
        now + MAX_AHEAD_SECONDS + 1,
        i64::MIN,
        i64::MAX,
    ]
    .into_iter()
    .map(show)
    .collect();
    expect![[r#"
        ok
        ok
        Event too far in the past
        ok
        Event too far in the future
        Event too far in the past
        Event too far in the future"#]]
    .assert_eq(&shown.join("\n"));
}

#[test]
fn the_answer_has_the_recorded_shape() {
    let event =
        decode(br#"{"title":"Deploy v42","text":"rolled out","priority":"low","tags":["env:dev"]}"#).unwrap();
    let answer = created(
        6_327_818_702_635_911_562,
        &event,
        1_700_000_000,
        "https://app.datadoghq.com/",
    );
    expect![[r#"{"status":"ok","event":{"id":6327818702635911562,"id_str":"6327818702635911562","title":"Deploy v42","text":"rolled out","date_happened":1700000000,"handle":null,"priority":null,"related_event_id":null,"tags":["env:dev"],"url":"https://app.datadoghq.com/event/event?id=6327818702635911562"}}"#]]
        .assert_eq(&serde_json::to_string(&answer).unwrap());

    let untagged = decode(br#"{"title":"t","text":"x","related_event_id":7}"#).unwrap();
    let answer = created(8, &untagged, 1_700_000_001, "http://127.0.0.1:8126");
    expect![[r#"{"status":"ok","event":{"id":8,"id_str":"8","title":"t","text":"x","date_happened":1700000001,"handle":null,"priority":null,"related_event_id":7,"tags":null,"url":"http://127.0.0.1:8126/event/event?id=8"}}"#]]
        .assert_eq(&serde_json::to_string(&answer).unwrap());
}

#[test]
fn names_round_trip() {
    for alert_type in AlertType::ALL {
        assert_eq!(AlertType::from_name(alert_type.name()), Some(alert_type));
    }
    for priority in [Priority::Normal, Priority::Low] {
        assert_eq!(Priority::from_name(priority.name()), Some(priority));
    }
}
