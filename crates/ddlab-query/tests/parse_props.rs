//! Property tests: the parsers answer every input with a result or a located error, never a panic, and an
//! error's position always lies inside the text.

use proptest::prelude::*;

/// Text built from the query language's own pieces, so the parser gets deep before it fails.
fn query_like() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "avg:",
        "sum:",
        "max:",
        "p95:",
        "system.load.1",
        "my_metric",
        "{",
        "}",
        "*",
        "host:a",
        ",",
        "!",
        "env:*",
        " by ",
        "{host}",
        ".rollup(",
        "avg",
        "sum",
        "3600",
        ")",
        "(",
        ".as_count()",
        ".fill(zero)",
        " + ",
        " * ",
        " / ",
        "-",
        "2",
        "anomalies(",
        "'basic'",
        "basic",
        "top(",
        "'mean'",
        "10",
        " AND ",
        " OR ",
        "NOT ",
        " IN ",
        "(a,b)",
        "timeshift(",
        "ewma_3(",
        "abs(",
        "'",
        "\"",
        " ",
        "in",
        ":",
    ]);
    prop::collection::vec(pieces, 0..24).prop_map(|p| p.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn queries_never_panic(text in query_like()) {
        if let Err(err) = ddlab_query::parse(&text) {
            let message = err.to_string();
            prop_assert!(!message.is_empty());
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,80}") {
        let _ = ddlab_query::parse(&text);
        let _ = ddlab_query::parse_formula(&text, &["a", "b"]);
    }
}
