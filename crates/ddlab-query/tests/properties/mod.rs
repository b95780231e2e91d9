//! What the fuzzer checks of the query parser, on any input: shared by the `query` fuzz target
//! (`fuzz/src/lib.rs` compiles this file) and `tests/fuzz_inputs.rs`, which runs every committed input.
//!
//! A property that does not hold panics with the input and what went wrong; otherwise the function
//! returns a one-line summary of the outcome, which the regression test compares with its snapshot.

use ddlab_query::ParseError;

/// The names a formula may refer to, as a v2 request with two queries names them.
const FORMULA_NAMES: &[&str] = &["a", "query1"];

/// `parse` and `parse_formula` answer with a value or an error located inside the text; a value's
/// canonical form (`Display`) parses back to the same tree.
pub fn query(bytes: &[u8]) -> String {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return "not UTF-8".to_owned();
    };
    let classic = match ddlab_query::parse(text) {
        Ok(list) => {
            let canonical = list.to_string();
            match ddlab_query::parse(&canonical) {
                Ok(again) => assert_eq!(
                    again, list,
                    "{text:?} and its canonical form {canonical:?} parse to different queries"
                ),
                Err(err) => panic!("{text:?} parses, but its canonical form {canonical:?} does not: {err}"),
            }
            format!("ok {canonical}")
        }
        Err(err) => {
            check_located(text, &err);
            format!("error {err}")
        }
    };
    let formula = match ddlab_query::parse_formula(text, FORMULA_NAMES) {
        Ok(expr) => {
            let canonical = expr.to_string();
            match ddlab_query::parse_formula(&canonical, FORMULA_NAMES) {
                Ok(again) => assert_eq!(
                    again, expr,
                    "formula {text:?} and its canonical form {canonical:?} parse to different trees"
                ),
                Err(err) => {
                    panic!("formula {text:?} parses, but its canonical form {canonical:?} does not: {err}")
                }
            }
            format!("ok {canonical}")
        }
        Err(err) => {
            check_located(text, &err);
            format!("error at {}:{}", err.line, err.column)
        }
    };
    format!("{classic}; formula {formula}")
}

/// The error's offset lies inside the text, on a character, and its line and column are that offset's.
fn check_located(text: &str, err: &ParseError) {
    assert!(
        err.offset <= text.len() && text.is_char_boundary(err.offset),
        "error offset {} is not a character position of {text:?}: {err}",
        err.offset
    );
    let before = &text[..err.offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |at| at + 1);
    let column = before[line_start..].chars().count() + 1;
    assert_eq!(
        (err.line, err.column),
        (line, column),
        "error of {text:?} at offset {} reports the wrong line and column: {err}",
        err.offset
    );
    assert!(!err.message.is_empty(), "empty error message for {text:?}");
}
