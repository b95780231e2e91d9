//! Check run tests: the three body shapes clients send, malformed bodies, and the agent's encoding.

use expect_test::{Expect, expect};

use super::*;

fn check(body: &str, expect: Expect) {
    let shown = match decode(body.as_bytes()) {
        Ok(runs) => runs
            .iter()
            .map(|r| {
                format!(
                    "{} {} {} ts={:?} message={:?} tags=[{}]",
                    r.status.name(),
                    r.check,
                    r.host_name,
                    r.timestamp,
                    r.message,
                    r.tags.join(",")
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Err(err) => format!("error: {err}"),
    };
    expect.assert_eq(&shown);
}

#[test]
fn bodies() {
    // The Agent and the API clients: an array.
    check(
        r#"[{"check":"mysql.can_connect","host_name":"h1","timestamp":1700000000,"status":0,"message":"","tags":["port:3306"]},
            {"check":"app.ok","host_name":"web-1","status":2,"tags":["env:dev"],"message":"down"}]"#,
        expect![[r#"
            OK mysql.can_connect h1 ts=Some(1700000000) message=None tags=[port:3306]
            CRITICAL app.ok web-1 ts=None message=Some("down") tags=[env:dev]"#]],
    );
    // datadogpy: one object; dogshell: explicit nulls; float and string timestamps.
    check(
        r#"{"check":"app.ok","host_name":"laptop","status":1,"timestamp":1700000000.5,"tags":null,"message":null}"#,
        expect![[r#"WARNING app.ok laptop ts=Some(1700000000) message=None tags=[]"#]],
    );
    check(
        r#"[{"check":"c","host_name":"h","status":3,"timestamp":"1700000000","extra":{}}]"#,
        expect![[r#"UNKNOWN c h ts=Some(1700000000) message=None tags=[]"#]],
    );
    check("[]", expect![""]);
}

#[test]
fn errors() {
    let cases = [
        (
            "",
            expect!["error: invalid JSON: EOF while parsing a value at line 1 column 0"],
        ),
        (
            "5",
            expect!["error: the body must be a JSON array of check runs, or one check run object"],
        ),
        ("[5]", expect!["error: [0]: a check run must be a JSON object"]),
        (
            r#"[{"host_name":"h","status":0}]"#,
            expect![[r#"error: [0]: missing "check""#]],
        ),
        (
            r#"[{"check":"c","status":0}]"#,
            expect![[r#"error: [0]: missing "host_name""#]],
        ),
        (
            r#"[{"check":"c","host_name":"h"}]"#,
            expect![[r#"error: [0]: missing "status""#]],
        ),
        (
            r#"[{"check":"c","host_name":"h","status":4}]"#,
            expect![[r#"error: [0]: "status" must be 0 (ok), 1 (warning), 2 (critical) or 3 (unknown)"#]],
        ),
        (
            r#"[{"check":"c","host_name":"h","status":"0"}]"#,
            expect![[r#"error: [0]: "status" must be 0 (ok), 1 (warning), 2 (critical) or 3 (unknown)"#]],
        ),
        (
            r#"[{"check":"c","host_name":"h","status":null}]"#,
            expect![[r#"error: [0]: "status" must be 0 (ok), 1 (warning), 2 (critical) or 3 (unknown)"#]],
        ),
        (
            r#"{"check":1,"host_name":"h","status":0}"#,
            expect![[r#"error: "check" must be a string"#]],
        ),
        (
            r#"[{"check":"c","host_name":"h","status":0,"tags":"a"}]"#,
            expect![[r#"error: [0]: "tags" must be a list of strings"#]],
        ),
        (
            r#"[{"check":"c","host_name":"h","status":0},{"check":"c","host_name":"h","status":0,"tags":[1]}]"#,
            expect!["error: [1].tags[0]: must be a string"],
        ),
        (
            r#"[{"check":"c","host_name":"h","status":0,"timestamp":"later"}]"#,
            expect![[r#"error: [0]: "timestamp" must be a number"#]],
        ),
        (
            r#"[{"check":"c","host_name":"h","status":0,"message":false}]"#,
            expect![[r#"error: [0]: "message" must be a string"#]],
        ),
    ];
    for (body, expect) in cases {
        check(body, expect);
    }
}

#[test]
fn the_agents_encoding_round_trips() {
    let runs = vec![
        CheckRun {
            check: "mysql.can_connect".into(),
            host_name: "h1".into(),
            status: CheckStatus::Critical,
            timestamp: Some(1_700_000_000),
            message: Some("Access denied for user 'datadog'@'localhost'".into()),
            tags: vec!["port:3306".into()],
        },
        CheckRun {
            check: "app.ok".into(),
            host_name: "h1".into(),
            status: CheckStatus::Ok,
            timestamp: None,
            message: None,
            tags: Vec::new(),
        },
    ];
    let body = encode(&runs);
    expect![[r#"[{"check":"mysql.can_connect","host_name":"h1","message":"Access denied for user 'datadog'@'localhost'","status":2,"tags":["port:3306"],"timestamp":1700000000},{"check":"app.ok","host_name":"h1","message":"","status":0,"tags":[]}]"#]]
        .assert_eq(&String::from_utf8_lossy(&body));
    assert_eq!(decode(&body), Ok(runs));
    for status in [
        CheckStatus::Ok,
        CheckStatus::Warning,
        CheckStatus::Critical,
        CheckStatus::Unknown,
    ] {
        assert_eq!(CheckStatus::from_code(i64::from(status.code())), Some(status));
    }
}
