//! Property tests: monitor queries and message templates answer any text with a value or a located
//! error, never a panic.

use ddlab_monitor::query::MonitorQuery;
use ddlab_monitor::template::Template;
use proptest::prelude::*;

fn template_like() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "{{",
        "}}",
        "#is_alert",
        "^is_alert",
        "/is_alert",
        "#is_warning",
        "/is_warning",
        "else",
        "value",
        "host.name",
        "host.ip",
        "#is_match",
        "\"host.name\"",
        "\"x\"",
        "@a@b.c",
        " text ",
        "{",
        "}",
        "\n",
    ]);
    prop::collection::vec(pieces, 0..20).prop_map(|p| p.concat())
}

fn monitor_like() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "avg(",
        "last_5m",
        "last_1h",
        "):",
        "change(",
        "pct_change(",
        ",last_5m)",
        "avg:my_metric{*}",
        "{host:a}",
        " by {host}",
        " > ",
        " >= ",
        " < ",
        "800",
        "-1",
        "1e3",
        " ",
        ")",
        "(",
        "cumsum",
    ]);
    prop::collection::vec(pieces, 0..14).prop_map(|p| p.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn templates_never_panic(text in template_like()) {
        let _ = Template::parse(&text);
    }

    #[test]
    fn monitor_queries_never_panic(text in monitor_like()) {
        let _ = MonitorQuery::parse(&text);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,80}") {
        let _ = Template::parse(&text);
        let _ = MonitorQuery::parse(&text);
    }
}
