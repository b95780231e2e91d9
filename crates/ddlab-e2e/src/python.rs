//! Reading a candidate's Python without running it: which parts are code, which are strings and comments.

/// Python source with comments removed and every string literal (docstrings included) emptied, so that
/// only code is searched. Lines are kept, so line numbers still match.
pub fn code_only(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(c) = rest.chars().next() {
        if c == '#' {
            let end = rest.find('\n').unwrap_or(rest.len());
            rest = &rest[end..];
            continue;
        }
        if c == '\'' || c == '"' {
            let quote = if rest.starts_with("\"\"\"") || rest.starts_with("\'\'\'") {
                &rest[..3]
            } else {
                &rest[..1]
            };
            let body = &rest[quote.len()..];
            let mut end = body.len();
            let mut escaped = false;
            for (i, ch) in body.char_indices() {
                if escaped {
                    escaped = false;
                } else if ch == '\\' {
                    escaped = true;
                } else if body[i..].starts_with(quote) {
                    end = i;
                    break;
                }
            }
            out.push_str(quote);
            out.extend(body[..end].chars().filter(|ch| *ch == '\n'));
            out.push_str(quote);
            rest = body.get(end + quote.len()..).unwrap_or_default();
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_comments_are_emptied() {
        let source = "\"\"\"Doc: uses sleep(1)\nand more\"\"\"\nx = 'sleep(2)'  # sleep(3)\ntime.sleep(4)\ny = \"a\\\"b\"\n";
        assert_eq!(
            code_only(source),
            "\"\"\"\n\"\"\"\nx = ''  \ntime.sleep(4)\ny = \"\"\n"
        );
    }

    #[test]
    fn unterminated_strings_do_not_panic() {
        assert_eq!(code_only("x = 'abc"), "x = ''");
        assert_eq!(code_only("\"\"\""), "\"\"\"\"\"\"");
    }
}
