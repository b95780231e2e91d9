//! What the fuzzer checks of monitor queries and message templates, on any input: shared by the
//! `monitor_query` and `monitor_template` fuzz targets (`fuzz/src/lib.rs` compiles this file) and
//! `tests/fuzz_inputs.rs`, which runs every committed input.
//!
//! A property that does not hold panics with the input and what went wrong; otherwise the function
//! returns a one-line summary of the outcome, which the regression test compares with its snapshot.

use ddlab_monitor::query::MonitorQuery;
use ddlab_monitor::template::{Context, Node, Position, Template};

/// A monitor query parses to a value whose parts, written back canonically, parse to the same value;
/// or to an error whose offset lies inside the text.
pub fn monitor_query(bytes: &[u8]) -> String {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return "not UTF-8".to_owned();
    };
    match MonitorQuery::parse(text) {
        Ok(query) => {
            assert!(
                query.threshold.is_finite() && !query.window.is_zero(),
                "{text:?} parsed to a non-finite threshold or an empty window: {query:?}"
            );
            assert!(
                text.contains(&query.expression_text) && text.contains(&query.window_text),
                "{text:?}: the expression and window texts must be pieces of the query: {query:?}"
            );
            let canonical = canonical_monitor_query(&query);
            match MonitorQuery::parse(&canonical) {
                Ok(again) => assert!(
                    again.time_aggregation == query.time_aggregation
                        && again.change == query.change
                        && again.window == query.window
                        && again.cumulative == query.cumulative
                        && again.expression == query.expression
                        && again.comparator == query.comparator
                        && again.threshold == query.threshold,
                    "{text:?} and its canonical form {canonical:?} parse differently:\n{query:?}\n{again:?}"
                ),
                Err(err) => panic!("{text:?} parses, but its canonical form {canonical:?} does not: {err}"),
            }
            format!("ok {canonical}")
        }
        Err(err) => {
            assert!(
                err.offset <= text.len() && text.is_char_boundary(err.offset),
                "error offset {} is not a character position of {text:?}: {err}",
                err.offset
            );
            format!("error {err}")
        }
    }
}

/// `avg(last_5m):<expression> > 800`, from the parts of a parsed query.
fn canonical_monitor_query(query: &MonitorQuery) -> String {
    let aggregation = format!("{}({})", query.time_aggregation, query.window_text);
    let head = match &query.change {
        // Every shift a query can name is a whole number of minutes within `last_10080m`.
        Some(change) => format!(
            "{}({aggregation},last_{}m)",
            if change.percent { "pct_change" } else { "change" },
            change.shift.as_secs() / 60
        ),
        None => aggregation,
    };
    format!(
        "{head}:{} {} {}",
        query.expression, query.comparator, query.threshold
    )
}

/// A template parses to nodes whose positions are their tags', and renders as a walk of the branches
/// its conditions choose; or to an error located inside the text.
pub fn monitor_template(bytes: &[u8]) -> String {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return "not UTF-8".to_owned();
    };
    match Template::parse(text) {
        Ok(template) => {
            check_nodes(text, template.nodes());
            for truth in [false, true] {
                let context = Fixed { truth };
                let rendered = template.render(&context);
                let mut expected = String::new();
                expected_render(template.nodes(), truth, &mut expected);
                assert_eq!(
                    rendered.text, expected,
                    "{text:?} renders differently from its nodes with every condition {truth}"
                );
            }
            format!("ok {} nodes", template.nodes().len())
        }
        Err(err) => {
            check_position(text, err.at);
            format!("error {err}")
        }
    }
}

/// Every condition has the same truth; every variable is its own path in brackets.
struct Fixed {
    truth: bool,
}

impl Context for Fixed {
    fn condition(&self, _name: &str, _args: &[String]) -> Option<bool> {
        Some(self.truth)
    }

    fn variable(&self, path: &str, _args: &[String]) -> Option<String> {
        Some(format!("[{path}]"))
    }
}

/// What [`Fixed`] must render, written independently of the crate's renderer.
fn expected_render(nodes: &[Node], truth: bool, out: &mut String) {
    for node in nodes {
        match node {
            Node::Text(text) => out.push_str(text),
            Node::Variable { path, escape, .. } => {
                let value = format!("[{path}]");
                if *escape {
                    for c in value.chars() {
                        match c {
                            '&' => out.push_str("&amp;"),
                            '<' => out.push_str("&lt;"),
                            '>' => out.push_str("&gt;"),
                            '"' => out.push_str("&quot;"),
                            '\'' => out.push_str("&#39;"),
                            c => out.push(c),
                        }
                    }
                } else {
                    out.push_str(&value);
                }
            }
            Node::Section {
                inverted,
                then,
                otherwise,
                ..
            } => expected_render(if truth != *inverted { then } else { otherwise }, truth, out),
        }
    }
}

/// Text nodes hold no tag, and every tag's position points at its `{{`.
fn check_nodes(text: &str, nodes: &[Node]) {
    for node in nodes {
        match node {
            Node::Text(piece) => assert!(
                !piece.contains("{{") && !piece.is_empty(),
                "{text:?}: a text node is empty or holds a tag: {piece:?}"
            ),
            Node::Variable { at, .. } => {
                check_position(text, *at);
                assert!(
                    text[at.offset..].starts_with("{{"),
                    "{text:?}: {at:?} is not a tag"
                );
            }
            Node::Section {
                at, then, otherwise, ..
            } => {
                check_position(text, *at);
                assert!(
                    text[at.offset..].starts_with("{{"),
                    "{text:?}: {at:?} is not a tag"
                );
                check_nodes(text, then);
                check_nodes(text, otherwise);
            }
        }
    }
}

/// The position lies inside the text, on a character, with that offset's line and column.
fn check_position(text: &str, at: Position) {
    assert!(
        at.offset <= text.len() && text.is_char_boundary(at.offset),
        "{at:?} is not a character position of {text:?}"
    );
    let before = &text[..at.offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    assert_eq!(
        (at.line, at.column),
        (line, column),
        "{text:?}: {at:?} has the wrong line or column"
    );
}
