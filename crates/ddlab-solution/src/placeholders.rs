//! `$NAME` / `${NAME}` placeholders in a solution's API payloads (the rules are in `fixtures/README.md`).

use std::collections::BTreeMap;

/// Values for placeholders, by name (`HOST`, `EMAIL`, `MONITOR_ID`, …).
pub type Variables = BTreeMap<String, String>;

/// Why a text could not be filled in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaceholderError {
    #[error("unknown placeholder ${0}")]
    Unknown(String),
    #[error("malformed placeholder at byte {0}: expected ${{NAME}} with NAME like HOST or MONITOR_ID")]
    Malformed(usize),
}

/// Fills in the placeholders of one text; the inserted values are not scanned again.
pub fn substitute_text(text: &str, vars: &Variables) -> Result<String, PlaceholderError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut offset = 0;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        let consumed = match token(after) {
            Token::Dollar => {
                out.push('$');
                1
            }
            Token::Braced(name) => {
                out.push_str(lookup(name, vars)?);
                name.len() + 2
            }
            Token::Bare(name) => {
                out.push_str(lookup(name, vars)?);
                name.len()
            }
            Token::Malformed => return Err(PlaceholderError::Malformed(offset + dollar)),
            Token::Literal => {
                out.push('$');
                0
            }
        };
        offset += dollar + 1 + consumed;
        rest = &after[consumed..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Fills in a JSON payload: strings and object keys textually, except that a string made of exactly one
/// placeholder with a numeric value becomes a JSON number.
pub fn substitute_json(
    value: &serde_json::Value,
    vars: &Variables,
) -> Result<serde_json::Value, PlaceholderError> {
    use serde_json::Value;
    Ok(match value {
        Value::String(text) => {
            if let Some(name) = sole_placeholder(text) {
                let filled = lookup(name, vars)?;
                match filled.parse::<serde_json::Number>() {
                    Ok(number) if is_json_number(filled) => Value::Number(number),
                    _ => Value::String(filled.to_owned()),
                }
            } else {
                Value::String(substitute_text(text, vars)?)
            }
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| substitute_json(item, vars))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (key, item) in map {
                out.insert(substitute_text(key, vars)?, substitute_json(item, vars)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

/// Every placeholder name a text uses, in order of appearance (duplicates kept out).
pub fn names_in(text: &str) -> Result<Vec<String>, PlaceholderError> {
    let mut names: Vec<String> = Vec::new();
    let mut rest = text;
    let mut offset = 0;
    while let Some(dollar) = rest.find('$') {
        let after = &rest[dollar + 1..];
        let (name, consumed) = match token(after) {
            Token::Dollar => (None, 1),
            Token::Braced(name) => (Some(name), name.len() + 2),
            Token::Bare(name) => (Some(name), name.len()),
            Token::Malformed => return Err(PlaceholderError::Malformed(offset + dollar)),
            Token::Literal => (None, 0),
        };
        if let Some(name) = name.filter(|name| !names.iter().any(|n| n == name)) {
            names.push(name.to_owned());
        }
        offset += dollar + 1 + consumed;
        rest = &after[consumed..];
    }
    Ok(names)
}

enum Token<'a> {
    /// `$$`: one literal dollar.
    Dollar,
    /// `${NAME}`.
    Braced(&'a str),
    /// `$NAME`, longest match.
    Bare(&'a str),
    /// `${` without a well-formed name and closing brace.
    Malformed,
    /// `$` followed by anything else (Datadog's own `$host`, `$env.value`): kept as it is.
    Literal,
}

/// Classifies what follows a `$`.
fn token(after: &str) -> Token<'_> {
    if after.starts_with('$') {
        return Token::Dollar;
    }
    if let Some(inner) = after.strip_prefix('{') {
        return match inner.find('}') {
            Some(end) if is_name(&inner[..end]) => Token::Braced(&inner[..end]),
            _ => Token::Malformed,
        };
    }
    let len = name_len(after);
    if len == 0 {
        Token::Literal
    } else {
        Token::Bare(&after[..len])
    }
}

/// Length of the longest `[A-Z][A-Z0-9_]*` prefix.
fn name_len(text: &str) -> usize {
    let bytes = text.as_bytes();
    if !bytes.first().is_some_and(u8::is_ascii_uppercase) {
        return 0;
    }
    bytes
        .iter()
        .take_while(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || **b == b'_')
        .count()
}

fn is_name(text: &str) -> bool {
    !text.is_empty() && name_len(text) == text.len()
}

fn sole_placeholder(text: &str) -> Option<&str> {
    let after = text.strip_prefix('$')?;
    match token(after) {
        Token::Braced(name) if name.len() + 2 == after.len() => Some(name),
        Token::Bare(name) if name.len() == after.len() => Some(name),
        _ => None,
    }
}

fn lookup<'v>(name: &str, vars: &'v Variables) -> Result<&'v str, PlaceholderError> {
    vars.get(name)
        .map(String::as_str)
        .ok_or_else(|| PlaceholderError::Unknown(name.to_owned()))
}

/// The JSON number grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
fn is_json_number(text: &str) -> bool {
    let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
    let s = text.strip_prefix('-').unwrap_or(text);
    let int = digits(s);
    if int == 0 || (int > 1 && s.starts_with('0')) {
        return false;
    }
    let mut s = &s[int..];
    if let Some(frac) = s.strip_prefix('.') {
        let n = digits(frac);
        if n == 0 {
            return false;
        }
        s = &frac[n..];
    }
    if let Some(exp) = s.strip_prefix(['e', 'E']) {
        let exp = exp.strip_prefix(['+', '-']).unwrap_or(exp);
        let n = digits(exp);
        if n == 0 {
            return false;
        }
        s = &exp[n..];
    }
    s.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars() -> Variables {
        [
            ("HOST", "lab-host"),
            ("MONITOR_ID", "1234"),
            ("NEXT_MONDAY", "2026-11-30"),
            ("EMAIL", "me@x.test"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    fn check(input: &str, expected: Result<&str, PlaceholderError>) {
        assert_eq!(
            substitute_text(input, &vars()).as_deref().map_err(Clone::clone),
            expected,
            "{input}"
        );
    }

    #[test]
    fn text_rules() {
        check("avg:my_metric{host:$HOST}", Ok("avg:my_metric{host:lab-host}"));
        check("${NEXT_MONDAY}T19:00", Ok("2026-11-30T19:00"));
        check("@$EMAIL please", Ok("@me@x.test please"));
        check("costs $$5", Ok("costs $5"));
        check("avg:m{$host} and $env.value", Ok("avg:m{$host} and $env.value"));
        check("trailing $", Ok("trailing $"));
        check("$HOSTNAME", Err(PlaceholderError::Unknown("HOSTNAME".to_owned())));
        check("${NEXT_MONDAY", Err(PlaceholderError::Malformed(0)));
        check("x ${}", Err(PlaceholderError::Malformed(2)));
        check("x ${host}", Err(PlaceholderError::Malformed(2)));
    }

    #[test]
    fn values_are_not_rescanned() {
        let mut vars = vars();
        vars.insert("EMAIL".to_owned(), "$HOST".to_owned());
        assert_eq!(substitute_text("@$EMAIL", &vars).unwrap(), "@$HOST");
    }

    #[test]
    fn json_rules() {
        let payload = json!({
            "monitor_id": "$MONITOR_ID",
            "braced": "${MONITOR_ID}",
            "scope": "host:$HOST",
            "only_host": "$HOST",
            "n": 5,
            "list": ["$EMAIL", {"k_$HOST": null}],
        });
        assert_eq!(
            substitute_json(&payload, &vars()).unwrap(),
            json!({
                "monitor_id": 1234,
                "braced": 1234,
                "scope": "host:lab-host",
                "only_host": "lab-host",
                "n": 5,
                "list": ["me@x.test", {"k_lab-host": null}],
            })
        );
    }

    #[test]
    fn json_number_grammar() {
        for yes in ["0", "12", "-3", "1.5", "1e9", "2.5E-3"] {
            assert!(is_json_number(yes), "{yes}");
        }
        for no in ["", "01", "1.", ".5", "1e", "12a", "0x10", "-"] {
            assert!(!is_json_number(no), "{no}");
        }
    }

    #[test]
    fn names_are_listed_once_in_order() {
        assert_eq!(
            names_in("$HOST ${EMAIL} $HOST $$X $x").unwrap(),
            ["HOST", "EMAIL"]
        );
    }
}
